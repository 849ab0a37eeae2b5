//! A provider at run time: its endpoints behind a Pingora `LoadBalancer`, its API keys in a
//! weighted schedule, its timeouts.

use super::discovery::{DnsDiscovery, ResolvedEndpoints};
use crate::config::{weighted_schedule, ConfigError, ProviderConfig, Timeouts};
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backends, LoadBalancer};
use sluice_filters::balance::WeightedSchedule;
use sluice_filters::translate::UpstreamDialect;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub type ProviderLb = LoadBalancer<RoundRobin>;

/// One configured endpoint: where to connect and how to address the server.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// The URL's path without a trailing slash; API paths are appended to it.
    pub base_path: String,
    /// `Host` header value: the host, plus the port when it is not the scheme's default.
    pub host_header: String,
    pub weight: u32,
}

pub struct Provider {
    pub name: String,
    pub dialect: UpstreamDialect,
    /// Azure's `api-version` (or `v1`).
    pub api_version: String,
    /// Anthropic's `anthropic-version` header.
    pub anthropic_version: String,
    pub default_max_tokens: u64,
    pub endpoints: Vec<Endpoint>,
    pub lb: Arc<ProviderLb>,
    resolved: ResolvedEndpoints,
    api_keys: Vec<String>,
    key_schedule: Option<WeightedSchedule>,
    next_key: AtomicUsize,
    pub timeouts: Timeouts,
}

impl Provider {
    pub(super) fn build(
        name: &str,
        config: &ProviderConfig,
        dns_refresh: Duration,
    ) -> Result<Provider, ConfigError> {
        let endpoints: Vec<Endpoint> = config
            .endpoints
            .iter()
            .map(|e| {
                let url = &e.url;
                let tls = url.scheme() == "https";
                let host = url.host_str().unwrap_or_default().to_owned();
                let port = url
                    .port_or_known_default()
                    .unwrap_or(if tls { 443 } else { 80 });
                let host_header = match url.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host.clone(),
                };
                Endpoint {
                    host,
                    port,
                    tls,
                    base_path: url.path().trim_end_matches('/').to_owned(),
                    host_header,
                    weight: e.weight,
                }
            })
            .collect();

        let resolved = ResolvedEndpoints::default();
        let discovery = DnsDiscovery::new(
            endpoints
                .iter()
                .map(|e| (e.host.clone(), e.port, e.weight))
                .collect(),
            resolved.clone(),
        );
        let mut lb = LoadBalancer::from_backends(Backends::new(Box::new(discovery)));
        lb.update_frequency = Some(dns_refresh);

        let api_keys: Vec<String> = config.api_keys.iter().map(|k| k.key().to_owned()).collect();
        let key_schedule = if api_keys.is_empty() {
            None
        } else {
            Some(weighted_schedule(
                &format!("providers.{name}.api_keys"),
                config.api_keys.iter().map(|k| k.weight()),
            )?)
        };

        Ok(Provider {
            name: name.to_owned(),
            dialect: config.kind.dialect(),
            api_version: config.api_version.clone(),
            anthropic_version: config.anthropic_version.clone(),
            default_max_tokens: config.default_max_tokens,
            endpoints,
            lb: Arc::new(lb),
            resolved,
            api_keys,
            key_schedule,
            next_key: AtomicUsize::new(0),
            timeouts: config.timeouts.clone(),
        })
    }

    /// The index of the configured endpoint a backend address was resolved from.
    pub fn resolved_index(&self, addr: &SocketAddr) -> Option<usize> {
        self.resolved
            .index_of(addr)
            .filter(|i| *i < self.endpoints.len())
    }

    /// How many endpoints currently have an address.
    pub fn resolved_count(&self) -> usize {
        self.resolved.count()
    }

    /// The provider credential for the next request, by weight; `None` if it needs none.
    pub fn next_api_key(&self) -> Option<&str> {
        let schedule = self.key_schedule.as_ref()?;
        let n = self.next_key.fetch_add(1, Ordering::Relaxed);
        self.api_keys.get(schedule.pick(n)).map(String::as_str)
    }
}
