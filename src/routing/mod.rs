//! The routing table built from config: client model names to weighted targets, targets to
//! providers, providers to their endpoints in Pingora `LoadBalancer`s, and the virtual keys.
//! One immutable snapshot per config; the request path reads it without locks.

mod discovery;
mod guard;
mod health;
mod model;
mod provider;
pub mod upkeep;

pub use guard::Guards;
pub use model::Model;
pub use provider::Provider;

use crate::config::{Config, ConfigError, RetrySettings};
use crate::state::ScopeTable;
use sluice_filters::auth::{glob_match, KeyDigest, KeyTable};
use sluice_filters::resilience::BreakerConfig;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A client's virtual key, as the request path needs it (the secret is not kept).
#[derive(Debug)]
pub struct VirtualKey {
    pub name: String,
    pub team: Option<String>,
    /// Prefixes the client's `Idempotency-Key` upstream (a digest of the key's name), so keys
    /// of different tenants on one provider account never collide.
    pub idempotency_scope: String,
    allowed_models: Option<Vec<String>>,
    /// The key's own guardrails (besides the global and its model's).
    pub guard: Option<Arc<sluice_filters::guard::Policy>>,
}

/// `sluice-` and the first 16 hex digits of the SHA-256 of a key's name: stable across
/// restarts and gateways, and it does not show the name to the provider.
fn idempotency_scope(name: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    format!("sluice-{}", hex::encode(&digest[..8]))
}

impl VirtualKey {
    pub fn may_use(&self, model: &str) -> bool {
        match &self.allowed_models {
            None => true,
            Some(patterns) => patterns.iter().any(|p| glob_match(p, model)),
        }
    }
}

/// Everything the proxy needs to route a request, built once from a validated config.
pub struct Gateway {
    pub models: HashMap<String, Arc<Model>>,
    /// Model names in config order, for `/v1/models`.
    pub model_names: Vec<String>,
    pub providers: Vec<Arc<Provider>>,
    pub keys: KeyTable<Arc<VirtualKey>>,
    pub max_request_body: usize,
    pub max_bodies_in_flight: usize,
    /// How long the gateway waits on its clients.
    pub client_timeouts: crate::config::ClientTimeouts,
    /// Reported as `created` in `/v1/models`.
    pub created: u64,
    pub retries: RetrySettings,
    pub breaker: BreakerConfig,
    /// Bearer token of the admin API (none: the admin API is off).
    pub admin_token: Option<String>,
    /// Admin pages behind the token besides the admin API.
    pub admin_protected: Vec<crate::config::ProtectedPage>,
    /// The governed scopes (limits and budgets) of the same config, so a request is governed
    /// by the config it was routed by.
    pub scopes: Arc<ScopeTable>,
    /// Guardrail policies by model (the global rules included).
    pub guards: Guards,
}

impl Gateway {
    /// Builds the routing snapshot from a validated config.
    pub fn build(config: &Config, scopes: Arc<ScopeTable>) -> Result<Gateway, ConfigError> {
        Gateway::build_next(config, None, scopes)
    }

    /// Builds the snapshot of a reloaded config: the providers and models of `previous` that
    /// it leaves unchanged are kept as they are (endpoint health, breakers, balancer state);
    /// the others are built anew.
    pub fn build_next(
        config: &Config,
        previous: Option<&Gateway>,
        scopes: Arc<ScopeTable>,
    ) -> Result<Gateway, ConfigError> {
        let dns_refresh = config.server.dns_refresh.0;
        let mut providers: HashMap<&str, Arc<Provider>> = HashMap::new();
        for (name, p) in &config.providers {
            let kept = previous
                .and_then(|g| g.providers.iter().find(|old| old.name == *name))
                .filter(|old| old.built_from(p, dns_refresh));
            let provider = match kept {
                Some(old) => old.clone(),
                None => Arc::new(Provider::build(name, p, dns_refresh)?),
            };
            providers.insert(name.as_str(), provider);
        }
        let mut models = HashMap::new();
        for (i, m) in config.models.iter().enumerate() {
            let kept = previous
                .and_then(|g| g.models.get(&m.name))
                .filter(|old| old.built_from(m, &providers));
            let model = match kept {
                Some(old) => old.clone(),
                None => Arc::new(Model::build(m, &format!("models[{i}]"), &providers)?),
            };
            models.insert(m.name.clone(), model);
        }
        let mut keys = KeyTable::default();
        for k in &config.keys {
            let digest = match (&k.key, &k.key_sha256) {
                (Some(secret), _) => KeyDigest::of(secret),
                (None, Some(hex)) => KeyDigest::from_hex(hex).ok_or_else(|| {
                    ConfigError::new(format!("keys.{}.key_sha256", k.name), "not 64 hex digits")
                })?,
                (None, None) => {
                    return Err(ConfigError::new(
                        format!("keys.{}", k.name),
                        "set one of 'key' or 'key_sha256'",
                    ))
                }
            };
            keys.insert(
                digest,
                Arc::new(VirtualKey {
                    name: k.name.clone(),
                    team: k.team.clone(),
                    idempotency_scope: idempotency_scope(&k.name),
                    allowed_models: k.models.clone(),
                    guard: match k.guardrails.is_empty() {
                        true => None,
                        false => Some(crate::config::compile_guardrails(
                            &format!("keys.{}.guardrails", k.name),
                            &[],
                            &k.guardrails,
                        )?),
                    },
                }),
            );
        }
        let mut provider_list: Vec<Arc<Provider>> = providers.into_values().collect();
        provider_list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Gateway {
            models,
            model_names: config.models.iter().map(|m| m.name.clone()).collect(),
            providers: provider_list,
            keys,
            max_request_body: config.max_request_body.0 as usize,
            max_bodies_in_flight: usize::try_from(config.max_bodies_in_flight.0)
                .unwrap_or(usize::MAX),
            client_timeouts: config.server.client_timeouts.clone(),
            created: previous.map_or_else(
                || {
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or_default()
                },
                |g| g.created,
            ),
            retries: config.retries.clone(),
            breaker: BreakerConfig {
                failures: config.circuit_breaker.failures,
                cooldown: config.circuit_breaker.cooldown.0,
                max_cooldown: config.circuit_breaker.max_cooldown.0,
            },
            admin_token: config.admin.token.clone(),
            admin_protected: config.admin.protected(),
            scopes,
            guards: Guards::build(config)?,
        })
    }

    /// The model names `key` may use, in config order.
    pub fn models_for<'a>(&'a self, key: &'a VirtualKey) -> impl Iterator<Item = &'a str> + 'a {
        self.model_names
            .iter()
            .map(String::as_str)
            .filter(|m| key.may_use(m))
    }
}
