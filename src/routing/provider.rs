//! A provider at run time: its endpoints behind a Pingora `LoadBalancer` (active health
//! checks there), a circuit breaker per endpoint and per API key (passive health), its keys in a
//! weighted schedule, its timeouts.

use super::discovery::{DnsDiscovery, ResolvedEndpoints};
use super::health::ProviderHealthCheck;
use crate::config::{weighted_schedule, ConfigError, ProviderConfig, Timeouts};
use crate::telemetry::metrics::{ENDPOINT_EJECTED, ENDPOINT_HEALTHY};
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backend, Backends, LoadBalancer};
use sluice_filters::balance::WeightedSchedule;
use sluice_filters::balance::{AdaptiveBalancer, AdaptiveConfig, InFlight};
use sluice_filters::providers::ForwardHeaders;
use sluice_filters::resilience::auth_failure_ejects_key;
use sluice_filters::resilience::{BreakerConfig, CircuitBreaker};
use sluice_filters::translate::UpstreamDialect;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    /// Responses API requests go to the provider's own `/v1/responses`.
    pub native_responses: bool,
    /// Every chat request goes through the provider's Responses API (`dialect: responses`).
    pub responses_only: bool,
    pub default_max_tokens: u64,
    pub endpoints: Vec<Endpoint>,
    /// `host:port` of each endpoint: a bounded metric label and what the status page shows.
    pub endpoint_labels: Vec<String>,
    pub lb: Arc<ProviderLb>,
    resolved: ResolvedEndpoints,
    endpoint_breakers: Vec<CircuitBreaker>,
    api_keys: Vec<String>,
    /// Each key's auth header, built once (marked sensitive: never printed by `http`).
    /// `None` for a key that is not a valid header value (a request that picks it fails).
    auth_values: Vec<Option<(http::HeaderName, http::HeaderValue)>>,
    key_breakers: Vec<CircuitBreaker>,
    key_schedule: Option<WeightedSchedule>,
    next_key: AtomicUsize,
    pub timeouts: Timeouts,
    pub health_checked: bool,
    /// The client headers this provider receives.
    pub forward_headers: ForwardHeaders,
    /// Each endpoint's latency and requests in flight (every attempt is counted; adaptive
    /// models pick endpoints by them).
    pub endpoint_load: AdaptiveBalancer,
    /// When each API key last got an answer (unix ms): a 401/403 on a key that works for
    /// other requests is blamed on the request, not the key.
    key_last_success: Vec<AtomicU64>,
    /// The config entry and DNS refresh this provider was built from: a reload that leaves
    /// both alone keeps this provider, its health and its breakers.
    built_from: (ProviderConfig, Duration),
    /// `name` as a response header value (`x-sluice-provider`), validated once at load.
    pub name_value: Option<http::HeaderValue>,
    /// Metric handles of its answers.
    pub metrics: crate::telemetry::handles::ProviderHandles,
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
        let endpoint_labels: Vec<String> = endpoints
            .iter()
            .map(|e| format!("{}:{}", e.host, e.port))
            .collect();
        let mut lb = LoadBalancer::from_backends(Backends::new(Box::new(discovery)));
        lb.update_frequency = Some(dns_refresh);
        for label in &endpoint_labels {
            ENDPOINT_HEALTHY.with_label_values(&[name, label]).set(1);
            ENDPOINT_EJECTED.with_label_values(&[name, label]).set(0);
        }
        if let Some(hc) = &config.health_check {
            let check = ProviderHealthCheck::build(
                name,
                config.kind.dialect(),
                &endpoints,
                &endpoint_labels,
                resolved.clone(),
                hc,
                config.api_keys.first().map(|k| k.key()),
                config.anthropic_version(),
            )?;
            lb.set_health_check(Box::new(check));
            lb.health_check_frequency = Some(hc.interval.0);
            lb.parallel_health_check = true;
        }

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
            metrics: Default::default(),
            name_value: http::HeaderValue::try_from(name).ok(),
            name: name.to_owned(),
            dialect: config.kind.dialect(),
            api_version: config.api_version().to_owned(),
            anthropic_version: config.anthropic_version().to_owned(),
            native_responses: config.native_responses(),
            responses_only: config.responses_only(),
            default_max_tokens: config.default_max_tokens,
            endpoint_breakers: endpoints
                .iter()
                .map(|_| CircuitBreaker::default())
                .collect(),
            endpoints,
            endpoint_labels,
            lb: Arc::new(lb),
            resolved,
            key_breakers: api_keys.iter().map(|_| CircuitBreaker::default()).collect(),
            key_last_success: api_keys.iter().map(|_| AtomicU64::new(0)).collect(),
            auth_values: api_keys
                .iter()
                .map(|k| {
                    let (name, value) = auth_header(config.kind.dialect(), k);
                    let mut value = http::HeaderValue::try_from(value).ok()?;
                    value.set_sensitive(true);
                    let name = http::HeaderName::from_bytes(name.as_bytes()).ok()?;
                    Some((name, value))
                })
                .collect(),
            api_keys,
            key_schedule,
            next_key: AtomicUsize::new(0),
            timeouts: config.timeouts.clone(),
            health_checked: config.health_check.is_some(),
            endpoint_load: AdaptiveBalancer::new(
                &config
                    .endpoints
                    .iter()
                    .map(|e| e.weight)
                    .collect::<Vec<_>>(),
                AdaptiveConfig::default(),
            ),
            forward_headers: ForwardHeaders::new(&config.forward_headers)
                .map_err(|e| ConfigError::new(format!("providers.{name}.forward_headers"), e))?,
            built_from: (config.clone(), dns_refresh),
        })
    }

    /// Whether this provider is what `config` would build.
    pub(super) fn built_from(&self, config: &ProviderConfig, dns_refresh: Duration) -> bool {
        self.built_from.0 == *config && self.built_from.1 == dns_refresh
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

    /// An endpoint for the next attempt: healthy by the active checks, not yet tried by this
    /// request, and let through by its circuit breaker (which may make this the probe); by
    /// Pingora's round robin, or (`adaptive`) by latency and load. The guard counts the
    /// attempt on the endpoint until it is reported or dropped.
    pub fn select_endpoint(
        &self,
        now_ms: u64,
        tried: &[SocketAddr],
        adaptive: bool,
    ) -> Option<(SocketAddr, usize, Option<InFlight>)> {
        if adaptive {
            return self.select_adaptive(now_ms, tried);
        }
        let accept = |backend: &Backend, healthy: bool| {
            let Some(addr) = backend.addr.as_inet() else {
                return false;
            };
            if !healthy || tried.contains(addr) {
                return false;
            }
            self.resolved_index(addr)
                .and_then(|i| self.endpoint_breakers.get(i))
                .is_some_and(|b| b.allow(now_ms))
        };
        let backends = self.lb.backends().get_backend();
        let backend = match backends.first() {
            // One endpoint, the common case: it is the only one round robin could pick, so
            // accept it or none (`select_with` would build its iterator and a set of the
            // backends seen to learn the same).
            Some(only) if backends.len() == 1 => {
                accept(only, self.lb.backends().ready(only)).then(|| only.clone())?
            }
            _ => self.lb.select_with(b"", 256, accept)?,
        };
        let addr = *backend.addr.as_inet()?;
        let index = self.resolved_index(&addr)?;
        Some((addr, index, self.endpoint_load.start(index)))
    }

    /// The address of endpoint `index` this request may use: resolved, healthy, not tried.
    fn usable_addr(&self, index: usize, tried: &[SocketAddr]) -> Option<SocketAddr> {
        self.lb.backends().get_backend().iter().find_map(|b| {
            let addr = b.addr.as_inet()?;
            (self.resolved_index(addr) == Some(index)
                && !tried.contains(addr)
                && self.lb.backends().ready(b))
            .then_some(*addr)
        })
    }

    fn select_adaptive(
        &self,
        now_ms: u64,
        tried: &[SocketAddr],
    ) -> Option<(SocketAddr, usize, Option<InFlight>)> {
        let mut lost_probe: Vec<usize> = Vec::new();
        // Each round either returns or adds an endpoint to `lost_probe`: it ends.
        for _ in 0..=self.endpoints.len() {
            let eligible = |i: usize| {
                !lost_probe.contains(&i)
                    && self
                        .endpoint_breakers
                        .get(i)
                        .is_some_and(|b| !b.is_open(now_ms))
                    && self.usable_addr(i, tried).is_some()
            };
            let pick = self.endpoint_load.pick(eligible, rand::random(), now_ms)?;
            let index = pick.index();
            let allowed = self
                .endpoint_breakers
                .get(index)
                .is_some_and(|b| b.allow(now_ms));
            match (allowed, self.usable_addr(index, tried)) {
                (true, Some(addr)) => return Some((addr, index, Some(pick))),
                // Another request took the breaker's one probe: pick again without it.
                _ => lost_probe.push(index),
            }
        }
        None
    }

    /// Whether this provider authenticates with an API key.
    pub fn needs_key(&self) -> bool {
        !self.api_keys.is_empty()
    }

    /// The credential for the next attempt, by weight, skipping keys this request already
    /// tried and keys ejected for throttling or refusal. `None` when no key is usable.
    pub fn pick_key(&self, now_ms: u64, exclude: &[usize]) -> Option<(usize, &str)> {
        let schedule = self.key_schedule.as_ref()?;
        let start = self.next_key.fetch_add(1, Ordering::Relaxed);
        (0..schedule.len())
            .map(|i| schedule.pick(start + i))
            .find(|i| !exclude.contains(i) && self.key_breakers[*i].allow(now_ms))
            .map(|i| (i, self.api_keys[i].as_str()))
    }

    /// The auth header of key `index`, ready to send.
    pub fn auth_value(&self, index: usize) -> Option<&(http::HeaderName, http::HeaderValue)> {
        self.auth_values.get(index)?.as_ref()
    }

    /// The header carrying a key in this provider's dialect.
    pub fn auth_header(&self, key: &str) -> (&'static str, String) {
        auth_header(self.dialect, key)
    }

    pub fn endpoint_succeeded(&self, endpoint: usize) {
        if let Some(b) = self.endpoint_breakers.get(endpoint) {
            if b.is_open(0) {
                ENDPOINT_EJECTED
                    .with_label_values(&[&self.name, &self.endpoint_labels[endpoint]])
                    .set(0);
            }
            b.on_success();
        }
    }

    /// Records a failure; ejects the endpoint when the breaker says so.
    pub fn endpoint_failed(&self, endpoint: usize, now_ms: u64, config: &BreakerConfig) {
        let Some(b) = self.endpoint_breakers.get(endpoint) else {
            return;
        };
        if let Some(cooldown) = b.on_failure(now_ms, config) {
            let label = &self.endpoint_labels[endpoint];
            ENDPOINT_EJECTED
                .with_label_values(&[&self.name, label])
                .set(1);
            log::warn!(
                "provider {} endpoint {label} ejected for {cooldown:?} after repeated failures",
                self.name
            );
        }
    }

    pub fn key_succeeded(&self, key: usize, now_ms: u64) {
        if let Some(b) = self.key_breakers.get(key) {
            b.on_success();
        }
        if let Some(at) = self.key_last_success.get(key) {
            // 0 means never.
            at.store(now_ms.max(1), Ordering::Relaxed);
        }
    }

    /// Ejects a key (throttled or refused: `status`) for at least the provider's `retry-after`.
    pub fn key_failed(
        &self,
        key: usize,
        status: u16,
        now_ms: u64,
        config: &BreakerConfig,
        at_least: Option<Duration>,
    ) {
        if matches!(status, 401 | 403) {
            let last = self
                .key_last_success
                .get(key)
                .map(|t| t.load(Ordering::Relaxed));
            if !auth_failure_ejects_key(last.filter(|t| *t > 0), now_ms) {
                log::info!(
                    "provider {} refused API key #{key} (status {status}) for one request while it serves others: not ejected",
                    self.name
                );
                return;
            }
        }
        if let Some(b) = self.key_breakers.get(key) {
            b.set_reason(u32::from(status));
            let cooldown = b.eject(now_ms, config, at_least);
            log::warn!(
                "provider {} API key #{key} ejected for {cooldown:?} (status {status})",
                self.name
            );
        }
    }

    /// Whether an attempt could be made within `within`: an endpoint that is resolved, healthy,
    /// not in `tried` and not ejected for longer, and (if the provider uses keys) a key not in
    /// `tried_keys` and not ejected for longer. Does not claim a probe.
    pub fn usable_within(
        &self,
        now_ms: u64,
        within: Duration,
        tried: &[SocketAddr],
        tried_keys: &[usize],
    ) -> bool {
        let backends = self.lb.backends().get_backend();
        let endpoint = backends.iter().any(|b| {
            let Some(addr) = b.addr.as_inet() else {
                return false;
            };
            !tried.contains(addr)
                && self.lb.backends().ready(b)
                && self
                    .resolved_index(addr)
                    .and_then(|i| self.endpoint_breakers.get(i))
                    .is_some_and(|br| br.remaining(now_ms) <= within)
        });
        let key = !self.needs_key()
            || self
                .key_breakers
                .iter()
                .enumerate()
                .any(|(i, br)| !tried_keys.contains(&i) && br.remaining(now_ms) <= within);
        endpoint && key
    }

    /// When no attempt can be made: why (every key throttled or refused, every endpoint
    /// ejected) and for how long, so the client gets a meaningful error and `retry-after`.
    pub fn unavailable(&self, now_ms: u64) -> Option<(u16, Duration)> {
        if self.needs_key() && self.key_breakers.iter().all(|b| b.is_open(now_ms)) {
            let soonest = self
                .key_breakers
                .iter()
                .min_by_key(|b| b.remaining(now_ms))?;
            return Some((soonest.reason() as u16, soonest.remaining(now_ms)));
        }
        if self.endpoint_breakers.iter().all(|b| b.is_open(now_ms)) {
            let soonest = self
                .endpoint_breakers
                .iter()
                .map(|b| b.remaining(now_ms))
                .min()?;
            return Some((503, soonest));
        }
        None
    }

    /// Endpoint state for the status page: (label, healthy by active checks, ejected).
    pub fn endpoint_states(&self, now_ms: u64) -> Vec<(String, bool, bool)> {
        let backends = self.lb.backends().get_backend();
        self.endpoint_labels
            .iter()
            .enumerate()
            .map(|(i, label)| {
                let healthy = backends.iter().any(|b| {
                    b.addr.as_inet().and_then(|a| self.resolved_index(a)) == Some(i)
                        && self.lb.backends().ready(b)
                });
                (
                    label.clone(),
                    healthy,
                    self.endpoint_breakers[i].is_open(now_ms),
                )
            })
            .collect()
    }

    /// Which keys are ejected, by index (never the keys themselves).
    pub fn key_states(&self, now_ms: u64) -> Vec<bool> {
        self.key_breakers
            .iter()
            .map(|b| b.is_open(now_ms))
            .collect()
    }
}

/// The header carrying a provider key in each dialect.
pub fn auth_header(dialect: UpstreamDialect, key: &str) -> (&'static str, String) {
    match dialect {
        UpstreamDialect::OpenAi | UpstreamDialect::Responses => {
            ("authorization", format!("Bearer {key}"))
        }
        UpstreamDialect::Azure => ("api-key", key.to_owned()),
        UpstreamDialect::Anthropic => ("x-api-key", key.to_owned()),
        UpstreamDialect::Gemini => ("x-goog-api-key", key.to_owned()),
    }
}
