//! In-flight deduplication: identical cacheable requests that arrive while the first is still
//! being answered wait for it instead of asking the provider again. The first is the leader;
//! when its answer is complete it is published to every follower, which replays it in its own
//! form (whole or streamed). If the leader fails, or its client leaves, its followers are told
//! and the next of them becomes the leader: no follower inherits an error it did not cause.

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

#[derive(Default)]
pub struct Flights {
    by_key: Mutex<HashMap<String, watch::Receiver<Landing>>>,
}

/// A request's part in a flight.
pub enum Role {
    Leader(LeaderGuard),
    Follower(watch::Receiver<Landing>),
}

/// The leader's handle: publishes the answer, or, dropped without one, tells the followers
/// the flight failed.
pub struct LeaderGuard {
    flights: Arc<Flights>,
    key: String,
    sender: watch::Sender<Landing>,
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
                landed: true,
            });
        };
        if let Some(receiver) = by_key.get(key) {
            if *receiver.borrow() == Landing::Pending {
                return Role::Follower(receiver.clone());
            }
        }
        let (sender, receiver) = watch::channel(Landing::Pending);
        by_key.insert(key.to_owned(), receiver);
        Role::Leader(LeaderGuard {
            flights: self.clone(),
            key: key.to_owned(),
            sender,
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
                .is_some_and(|r| r.same_channel(&self.sender.subscribe()))
            {
                by_key.remove(&self.key);
            }
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
                Role::Follower(r) => tokio::spawn(wait(r)),
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
        let Role::Follower(receiver) = flights.join("k") else {
            panic!("a follower")
        };
        drop(leader);
        assert_eq!(wait(receiver).await, Landing::Failed);
        assert!(matches!(flights.join("k"), Role::Leader(_)));
    }
}
