//! In-flight deduplication: identical cacheable requests that arrive while the first is still
//! being answered wait for it instead of asking the provider again. The first is the leader;
//! when its answer is complete it is published to every follower, which replays it in its own
//! form (whole or streamed). If the leader fails, or its client leaves, its followers are told
//! and the next of them becomes the leader: no follower inherits an error it did not cause.
//!
//! A streamed leader also records its raw upstream chunks on the flight's tape (`tape`), so
//! that streamed followers are served live instead of at the end. The tape and the landing
//! are the same flight: a leader dropped without landing cuts its tape too.

use super::tape::{Player, Recorder};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// How a flight ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Landing {
    /// Still in the air.
    Pending,
    /// The complete answer (a stored `CachedAnswer`).
    Answer(Bytes),
    /// The leader got no complete answer: followers go on their own.
    Failed,
}

/// A flight as the map keeps it: how to follow it.
#[derive(Clone)]
struct Airborne {
    landing: watch::Receiver<Landing>,
    tape: Player,
}

#[derive(Default)]
pub struct Flights {
    by_key: Mutex<HashMap<String, Airborne>>,
}

/// A request's part in a flight.
pub enum Role {
    Leader(LeaderGuard),
    Follower(Follower),
}

/// A follower's view of its flight: the landing, and the tape of a streamed leader.
pub struct Follower {
    pub landing: watch::Receiver<Landing>,
    pub tape: Player,
}

/// The leader's handle: records its stream on the tape, publishes the answer, or, dropped
/// without one, tells the followers the flight failed.
pub struct LeaderGuard {
    flights: Arc<Flights>,
    key: String,
    sender: watch::Sender<Landing>,
    tape: Recorder,
    landed: bool,
}

impl Flights {
    /// Joins the flight of `key`: its leader when there is none.
    pub fn join(self: &Arc<Self>, key: &str) -> Role {
        let Ok(mut by_key) = self.by_key.lock() else {
            // A poisoned map: no deduplication, every request goes on its own.
            let (sender, _) = watch::channel(Landing::Pending);
            return Role::Leader(LeaderGuard {
                flights: self.clone(),
                key: String::new(),
                sender,
                tape: Recorder::new(),
                landed: true,
            });
        };
        if let Some(flight) = by_key.get(key) {
            if *flight.landing.borrow() == Landing::Pending {
                let Airborne { landing, tape } = flight.clone();
                return Role::Follower(Follower { landing, tape });
            }
        }
        let (sender, landing) = watch::channel(Landing::Pending);
        let tape = Recorder::new();
        by_key.insert(
            key.to_owned(),
            Airborne {
                landing,
                tape: tape.player(),
            },
        );
        Role::Leader(LeaderGuard {
            flights: self.clone(),
            key: key.to_owned(),
            sender,
            tape,
            landed: false,
        })
    }

    /// Flights in the air.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_key.lock().map(|m| m.len()).unwrap_or_default()
    }
}

impl LeaderGuard {
    /// Where a streamed leader records its raw upstream chunks for its followers.
    pub fn tape(&self) -> &Recorder {
        &self.tape
    }

    /// The complete answer: every follower gets it.
    pub fn land(mut self, answer: Bytes) {
        self.finish(Landing::Answer(answer));
    }

    fn finish(&mut self, landing: Landing) {
        if self.landed {
            return;
        }
        self.landed = true;
        if let Ok(mut by_key) = self.flights.by_key.lock() {
            // Only this flight's entry (a later one may have replaced it).
            if by_key
                .get(&self.key)
                .is_some_and(|f| f.landing.same_channel(&self.sender.subscribe()))
            {
                by_key.remove(&self.key);
            }
        }
        if landing == Landing::Failed {
            self.tape.cut();
        }
        let _ = self.sender.send(landing);
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        self.finish(Landing::Failed);
    }
}

/// Waits for the flight to land.
pub async fn wait(mut receiver: watch::Receiver<Landing>) -> Landing {
    match receiver.wait_for(|l| *l != Landing::Pending).await {
        Ok(landing) => landing.clone(),
        Err(_) => Landing::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_get_the_leaders_answer() {
        let flights = Arc::new(Flights::default());
        let Role::Leader(leader) = flights.join("k") else {
            panic!("the first is the leader")
        };
        let followers: Vec<_> = (0..3)
            .map(|_| match flights.join("k") {
                Role::Follower(f) => tokio::spawn(wait(f.landing)),
                Role::Leader(_) => panic!("a flight is in the air"),
            })
            .collect();
        leader.land(Bytes::from_static(b"answer"));
        for f in followers {
            assert_eq!(
                f.await.ok(),
                Some(Landing::Answer(Bytes::from_static(b"answer")))
            );
        }
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.join("k"), Role::Leader(_)));
    }

    #[tokio::test]
    async fn a_leader_that_fails_lets_the_next_one_lead() {
        let flights = Arc::new(Flights::default());
        let leader = flights.join("k");
        let Role::Follower(follower) = flights.join("k") else {
            panic!("a follower")
        };
        drop(leader);
        assert_eq!(wait(follower.landing).await, Landing::Failed);
        assert!(matches!(flights.join("k"), Role::Leader(_)));
    }

    #[tokio::test]
    async fn a_streamed_leader_is_followed_live_and_a_failure_cuts_its_tape() {
        use crate::cache::tape::TapeHead;
        use sluice_filters::governance::Price;
        use sluice_filters::translate::UpstreamDialect;
        let flights = Arc::new(Flights::default());
        let Role::Leader(leader) = flights.join("k") else {
            panic!("the first is the leader")
        };
        leader.tape().open(TapeHead {
            wire: UpstreamDialect::Anthropic,
            model: "claude-x".to_owned(),
            json_tool: false,
            price: Price::FREE,
        });
        leader
            .tape()
            .record(&Bytes::from_static(b"event: message_start"));
        let Role::Follower(mut follower) = flights.join("k") else {
            panic!("a follower")
        };
        assert!(follower.tape.live().is_some());
        drop(leader);
        assert!(follower.tape.is_cut());
        assert_eq!(wait(follower.landing).await, Landing::Failed);
    }
}
