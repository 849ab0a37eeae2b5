//! A graceful shutdown (SIGTERM, or SIGQUIT once a new process took the sockets): no new
//! connections, every request in flight finishes (streams included) within
//! `server.grace_period`, kept-alive connections are served for a lame-duck period, and the log
//! says what the gateway waits for. Once nothing is left the state is written out and the
//! process exits, instead of sleeping out the rest of Pingora's fixed grace period.

pub mod in_flight;
pub mod lame_duck;

pub use in_flight::InFlight;
pub use lame_duck::LameDuck;

use crate::server::Durables;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use std::time::Duration;

/// How often the wait is reported while requests are in flight.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// How often the counts are looked at.
const POLL: Duration = Duration::from_millis(50);

pub struct Drain {
    durables: Arc<Durables>,
    grace_period: Duration,
    lame_duck: Duration,
}

impl Drain {
    pub fn new(durables: Arc<Durables>, grace_period: Duration, lame_duck: Duration) -> Drain {
        Drain {
            durables,
            grace_period,
            lame_duck,
        }
    }
}

#[async_trait]
impl BackgroundService for Drain {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                return;
            }
        }
        let in_flight = &self.durables.runtime.in_flight;
        let began = tokio::time::Instant::now();
        let (requests, streams) = in_flight.now();
        log::info!(
            "shutting down: waiting up to {}s for {requests} request(s) in flight ({streams} streaming)",
            self.grace_period.as_secs()
        );
        let mut reported = began;
        loop {
            let (requests, streams) = in_flight.now();
            if requests == 0 && began.elapsed() >= self.lame_duck {
                break;
            }
            if reported.elapsed() >= REPORT_EVERY && requests > 0 {
                reported = tokio::time::Instant::now();
                log::info!(
                    "shutting down: still waiting for {requests} request(s) ({streams} streaming), {}s left",
                    self.grace_period.saturating_sub(began.elapsed()).as_secs()
                );
            }
            tokio::time::sleep(POLL).await;
        }
        log::info!(
            "shutting down: every request finished after {:.1}s; writing state and exiting",
            began.elapsed().as_secs_f64()
        );
        // Blocking, on purpose: this runtime runs nothing else, and a task handed elsewhere
        // could be cancelled by the runtimes' own shutdown before it wrote anything.
        self.durables.close();
        std::process::exit(0);
    }
}
