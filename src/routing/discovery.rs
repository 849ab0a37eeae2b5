//! Service discovery that resolves endpoint hostnames on every refresh.
//!
//! Pingora's `Static` discovery resolves once, at construction, with blocking DNS; a provider
//! behind a CDN changes addresses under a long-running gateway. This discovery resolves
//! asynchronously each `update_frequency`, keeps an endpoint's last good address when a lookup
//! fails (a DNS blip must not empty the pool), and publishes which address belongs to which
//! configured endpoint so the proxy can build the right `Host`, SNI and path.

use arc_swap::ArcSwap;
use async_trait::async_trait;
use log::warn;
use pingora::lb::discovery::ServiceDiscovery;
use pingora::lb::Backend;
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

/// Address -> endpoint index, as last resolved. Cheap to clone; shared with the provider.
#[derive(Clone, Default)]
pub struct ResolvedEndpoints(Arc<ArcSwap<Vec<(SocketAddr, usize)>>>);

impl ResolvedEndpoints {
    pub fn index_of(&self, addr: &SocketAddr) -> Option<usize> {
        self.0
            .load()
            .iter()
            .find(|(a, _)| a == addr)
            .map(|(_, i)| *i)
    }

    pub fn count(&self) -> usize {
        self.0.load().len()
    }
}

pub struct DnsDiscovery {
    endpoints: Vec<(String, u16, u32)>,
    resolved: ResolvedEndpoints,
}

impl DnsDiscovery {
    pub fn new(endpoints: Vec<(String, u16, u32)>, resolved: ResolvedEndpoints) -> Self {
        DnsDiscovery {
            endpoints,
            resolved,
        }
    }
}

#[async_trait]
impl ServiceDiscovery for DnsDiscovery {
    async fn discover(&self) -> pingora::Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        let previous = self.resolved.0.load_full();
        let mut table = Vec::with_capacity(self.endpoints.len());
        let mut backends = BTreeSet::new();
        for (index, (host, port, weight)) in self.endpoints.iter().enumerate() {
            let addr = match resolve(host, *port).await {
                Some(addr) => Some(addr),
                None => {
                    let last = previous.iter().find(|(_, i)| *i == index).map(|(a, _)| *a);
                    warn!(
                        "could not resolve endpoint {host}:{port}{}",
                        if last.is_some() {
                            "; keeping its last address"
                        } else {
                            ""
                        }
                    );
                    last
                }
            };
            let Some(addr) = addr else { continue };
            if *weight == 0 {
                continue;
            }
            table.push((addr, index));
            backends.insert(Backend {
                addr: PingoraAddr::Inet(addr),
                weight: *weight as usize,
                ext: Default::default(),
            });
        }
        self.resolved.0.store(Arc::new(table));
        Ok((backends, HashMap::new()))
    }
}

async fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
        return Some(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await.ok()?.collect();
    // Prefer IPv4: many hosts publish AAAA records that the machine cannot route.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
}
