//! In-flight deduplication: identical cacheable requests that arrive while the first is still
//! being answered wait for it instead of asking the provider again. The first is the leader;
//! when its answer is complete it is published to every follower, which replays it in its own
//! form (whole or streamed). If the leader fails, its followers are told and the next of them
//! becomes the leader: no follower inherits an error it did not cause. (The leader's client
//! leaving does not fail the flight: the proxy's leader is a flight fetch, `proxy::fetch`.)
//! The next flight is made when the leader fails and handed to its followers with the news
//! (`Handover`): the first to take it leads, the others follow it, however late they wake
//! (even after it landed), so a failure costs one more provider call, not one per follower.
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
#[derive(Clone)]
pub enum Landing {
    /// Still in the air.
    Pending,
    /// The complete answer (a stored `CachedAnswer`).
    Answer(Bytes),
    /// The leader got no complete answer: its followers go on with the next flight, when
    /// there is one (none when the map could not be used).
    Failed(Option<Handover>),
}

impl Landing {
    pub fn is_pending(&self) -> bool {
        matches!(self, Landing::Pending)
    }
}

/// The flight after a failed one, for the failed one's followers.
#[derive(Clone)]
pub struct Handover {
    /// Declared first so it is dropped first: when the last handover goes with the baton
    /// untaken, the guard it drops counts only real followers of the next flight, not this.
    next: Follower,
    /// Its leadership, for the first follower to take.
    baton: Arc<Mutex<Option<LeaderGuard>>>,
}

impl Handover {
    /// Leads the next flight if no other follower did first, else follows it.
    pub fn take(self) -> Role {
        let guard = self.baton.lock().ok().and_then(|mut baton| baton.take());
        match guard {
            Some(guard) => Role::Leader(guard),
            None => Role::Follower(self.next),
        }
    }
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
#[derive(Clone)]
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
            if flight.landing.borrow().is_pending() {
                let Airborne { landing, tape } = flight.clone();
                return Role::Follower(Follower { landing, tape });
            }
        }
        let (guard, _) = self.launch(&mut by_key, key);
        Role::Leader(guard)
    }

    /// A new flight of `key` in the map: its leader's guard, and how to follow it.
    fn launch(
        self: &Arc<Self>,
        by_key: &mut HashMap<String, Airborne>,
        key: &str,
    ) -> (LeaderGuard, Follower) {
        let (sender, landing) = watch::channel(Landing::Pending);
        let tape = Recorder::new();
        let follower = Follower {
            landing,
            tape: tape.player(),
        };
        by_key.insert(
            key.to_owned(),
            Airborne {
                landing: follower.landing.clone(),
                tape: follower.tape.clone(),
            },
        );
        let guard = LeaderGuard {
            flights: self.clone(),
            key: key.to_owned(),
            sender,
            tape,
            landed: false,
        };
        (guard, follower)
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
        self.finish(Some(answer));
    }

    /// Publishes the answer, or the failure with the next flight for the followers.
    fn finish(&mut self, answer: Option<Bytes>) {
        if self.landed {
            return;
        }
        self.landed = true;
        let mut handover = None;
        if let Ok(mut by_key) = self.flights.by_key.lock() {
            // Only this flight's entry (a later one may have replaced it).
            let ours = by_key
                .get(&self.key)
                .is_some_and(|f| f.landing.same_channel(&self.sender.subscribe()));
            if ours {
                by_key.remove(&self.key);
                // The receivers left are the followers waiting for this flight.
                if answer.is_none() && self.sender.receiver_count() > 0 {
                    let (guard, next) = self.flights.launch(&mut by_key, &self.key);
                    handover = Some(Handover {
                        next,
                        baton: Arc::new(Mutex::new(Some(guard))),
                    });
                }
            }
        }
        let landing = match answer {
            Some(answer) => Landing::Answer(answer),
            None => {
                self.tape.cut();
                Landing::Failed(handover)
            }
        };
        let _ = self.sender.send(landing);
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// Waits for the flight to land.
pub async fn wait(mut receiver: watch::Receiver<Landing>) -> Landing {
    match receiver.wait_for(|l| !l.is_pending()).await {
        Ok(landing) => landing.clone(),
        Err(_) => Landing::Failed(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> Bytes {
        Bytes::from_static(b"answer")
    }

    fn answered(landing: &Landing) -> bool {
        matches!(landing, Landing::Answer(a) if *a == answer())
    }

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
        leader.land(answer());
        for f in followers {
            assert!(f.await.is_ok_and(|l| answered(&l)));
        }
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.join("k"), Role::Leader(_)));
    }

    #[tokio::test]
    async fn a_leader_that_fails_alone_leaves_no_flight() {
        let flights = Arc::new(Flights::default());
        drop(flights.join("k"));
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.join("k"), Role::Leader(_)));
    }

    #[tokio::test]
    async fn a_failed_flight_is_handed_to_one_follower_however_late_the_others_wake() {
        let flights = Arc::new(Flights::default());
        let leader = flights.join("k");
        let (Role::Follower(first), Role::Follower(late)) = (flights.join("k"), flights.join("k"))
        else {
            panic!("followers")
        };
        drop(leader);
        let Landing::Failed(Some(handover)) = wait(first.landing).await else {
            panic!("the failure hands the next flight over")
        };
        let Role::Leader(next) = handover.take() else {
            panic!("the first to take the next flight leads it")
        };
        // A request arriving now follows the next flight too.
        let Role::Follower(arrival) = flights.join("k") else {
            panic!("the next flight is in the air")
        };
        next.land(answer());
        // The late follower wakes after the next flight landed: it still gets its answer.
        let Landing::Failed(Some(handover)) = wait(late.landing).await else {
            panic!("the failure hands the next flight over")
        };
        let Role::Follower(late) = handover.take() else {
            panic!("the next flight has its leader")
        };
        assert!(answered(&wait(late.landing).await));
        assert!(answered(&wait(arrival.landing).await));
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn a_next_flight_nobody_took_fails_for_its_own_followers() {
        let flights = Arc::new(Flights::default());
        let leader = flights.join("k");
        let Role::Follower(gone) = flights.join("k") else {
            panic!("a follower")
        };
        drop(leader);
        let Role::Follower(arrival) = flights.join("k") else {
            panic!("the next flight is in the air")
        };
        // The failed flight's only follower leaves without taking the next flight.
        drop(gone);
        let Landing::Failed(Some(handover)) = wait(arrival.landing).await else {
            panic!("the arrival is handed the flight after")
        };
        assert!(matches!(handover.take(), Role::Leader(_)));
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
        assert!(matches!(
            wait(follower.landing).await,
            Landing::Failed(Some(_))
        ));
    }
}
