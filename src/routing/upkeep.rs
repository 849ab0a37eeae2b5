//! Keeps the providers of the routing snapshot resolved and health-checked. One Pingora
//! background service runs every provider's discovery and active health checks, so a reload
//! can start them for the providers it adds (their first resolution done before any request
//! is routed to them) and stop them for the providers it removes.

use super::Provider;
use crate::telemetry::metrics::{ENDPOINT_EJECTED, ENDPOINT_HEALTHY};
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingora::services::ServiceReadyNotifier;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};

/// Providers whose upkeep runs, by identity (a rebuilt provider of the same name is another).
#[derive(Default)]
struct Running {
    tasks: HashMap<usize, (Arc<Provider>, watch::Sender<bool>)>,
}

fn identity(provider: &Arc<Provider>) -> usize {
    Arc::as_ptr(provider) as usize
}

impl Running {
    /// Starts the upkeep of every listed provider not yet kept (after its first resolution)
    /// and stops it for every kept provider not listed.
    async fn keep_only(&mut self, providers: &[Arc<Provider>]) {
        let mut first_resolutions = tokio::task::JoinSet::new();
        for provider in providers {
            if !self.tasks.contains_key(&identity(provider)) {
                let provider = provider.clone();
                first_resolutions.spawn(async move {
                    if let Err(e) = provider.lb.update().await {
                        log::warn!(
                            "provider {}: resolving its endpoints failed: {e}",
                            provider.name
                        );
                    }
                    provider
                });
            }
        }
        while let Some(Ok(provider)) = first_resolutions.join_next().await {
            let (stop, stopped) = watch::channel(false);
            let lb = provider.lb.clone();
            tokio::spawn(async move { lb.run(stopped, None).await });
            self.tasks.insert(identity(&provider), (provider, stop));
        }
        let listed: Vec<usize> = providers.iter().map(identity).collect();
        let gone: Vec<usize> = self
            .tasks
            .keys()
            .filter(|id| !listed.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some((provider, stop)) = self.tasks.remove(&id) {
                let _ = stop.send(true);
                if !providers.iter().any(|p| p.name == provider.name) {
                    forget_metrics(&provider);
                }
            }
        }
    }

    fn stop_all(&mut self) {
        for (_, (_, stop)) in self.tasks.drain() {
            let _ = stop.send(true);
        }
    }
}

/// A removed provider's endpoints leave the exported gauges.
fn forget_metrics(provider: &Provider) {
    for label in &provider.endpoint_labels {
        let _ = ENDPOINT_HEALTHY.remove_label_values(&[&provider.name, label]);
        let _ = ENDPOINT_EJECTED.remove_label_values(&[&provider.name, label]);
    }
}

struct KeepOnly {
    providers: Vec<Arc<Provider>>,
    done: oneshot::Sender<()>,
}

/// The background service.
pub struct ProviderUpkeep {
    initial: Vec<Arc<Provider>>,
    requests: Mutex<Option<mpsc::UnboundedReceiver<KeepOnly>>>,
}

/// What a reload holds to change the set of kept providers.
#[derive(Clone)]
pub struct UpkeepHandle {
    sender: mpsc::UnboundedSender<KeepOnly>,
}

impl ProviderUpkeep {
    pub fn new(initial: Vec<Arc<Provider>>) -> (ProviderUpkeep, UpkeepHandle) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let upkeep = ProviderUpkeep {
            initial,
            requests: Mutex::new(Some(receiver)),
        };
        (upkeep, UpkeepHandle { sender })
    }
}

impl UpkeepHandle {
    /// Keeps exactly `providers` resolved and checked; returns once the new ones have their
    /// first resolution (or the service has stopped).
    pub async fn keep_only(&self, providers: Vec<Arc<Provider>>) {
        let (done, finished) = oneshot::channel();
        if self.sender.send(KeepOnly { providers, done }).is_ok() {
            let _ = finished.await;
        }
    }
}

#[async_trait]
impl BackgroundService for ProviderUpkeep {
    async fn start_with_ready_notifier(
        &self,
        mut shutdown: ShutdownWatch,
        ready: ServiceReadyNotifier,
    ) {
        let mut running = Running::default();
        running.keep_only(&self.initial).await;
        // The API listener waits for this: every provider has been resolved once.
        ready.notify_ready();
        let requests = self.requests.lock().ok().and_then(|mut r| r.take());
        let Some(mut requests) = requests else {
            return;
        };
        loop {
            tokio::select! {
                request = requests.recv() => {
                    let Some(request) = request else { break };
                    running.keep_only(&request.providers).await;
                    let _ = request.done.send(());
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
        running.stop_all();
    }
}
