//! Pingora's signals plus SIGHUP. Pingora 0.9.1 watches SIGTERM (drain), SIGQUIT (hand the
//! sockets to a new process) and SIGINT (stop now); SIGHUP keeps its default action, which
//! kills the process on the spot, and SIGHUP is what `systemctl reload`, logrotate's usual
//! postrotate and operators send. Here it reloads the config instead.

use super::{Reloader, Trigger};
use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};

/// Takes SIGHUP away from its default action at once, before the server runs: until the
/// watch below listens, a SIGHUP is ignored instead of killing the gateway. (Tokio installs
/// its handler for the life of the process.)
pub fn survive_hangups() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(async {
            if let Err(e) = signal(SignalKind::hangup()) {
                log::warn!("cannot handle SIGHUP: {e}");
            }
        }),
        Err(e) => log::warn!("cannot handle SIGHUP: {e}"),
    }
}

pub struct SignalWatch {
    reloader: Arc<Reloader>,
}

impl SignalWatch {
    pub fn new(reloader: Arc<Reloader>) -> SignalWatch {
        SignalWatch { reloader }
    }
}

#[async_trait]
impl ShutdownSignalWatch for SignalWatch {
    async fn recv(&self) -> ShutdownSignal {
        let streams = (
            signal(SignalKind::quit()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        );
        let (Ok(mut quit), Ok(mut terminate), Ok(mut interrupt), Ok(mut hangup)) = streams else {
            log::error!("cannot listen for signals: stopping");
            return ShutdownSignal::FastShutdown;
        };
        loop {
            tokio::select! {
                _ = quit.recv() => return ShutdownSignal::GracefulUpgrade,
                _ = terminate.recv() => return ShutdownSignal::GracefulTerminate,
                _ = interrupt.recv() => return ShutdownSignal::FastShutdown,
                _ = hangup.recv() => {
                    // In its own task, so a slow reload never delays a shutdown signal.
                    let reloader = self.reloader.clone();
                    tokio::spawn(async move { reloader.reload(Trigger::Signal).await });
                }
            }
        }
    }
}
