//! Governance state: rate limits (RPM, TPM, concurrency) and budgets per virtual key, team and
//! model, enforced when a request arrives and settled when it ends, so concurrency cannot
//! overspend. Two backends with one interface and one test suite: `embedded` (counters in
//! memory, spend in SQLite) and `redis` (everything in Redis, updated by Lua scripts, for
//! several gateway processes).

pub mod conversations;
mod embedded;
mod ledger;
mod redis_backend;
mod scope;

pub use scope::{Budget, Scope, ScopeKind};

use crate::config::{Config, ConfigError, StateBackendKind, StateFailure};
use embedded::Embedded;
use redis_backend::RedisState;
use sluice_filters::governance::Period;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a request is expected to take, estimated before it runs.
#[derive(Debug, Clone, Copy)]
pub struct Demand {
    /// Input estimate plus the most it may generate.
    pub tokens: u64,
    /// Its worst-case cost, in micro-dollars.
    pub cost_micros: u64,
}

/// The `x-ratelimit-*` figures of the tightest limit a request counted against.
#[derive(Debug, Clone, Copy, Default)]
pub struct RateInfo {
    pub requests: Option<(u64, u64, u64)>,
    pub tokens: Option<(u64, u64, u64)>,
}

impl RateInfo {
    /// Keeps the tighter of two (limit, remaining, reset ms) figures.
    pub fn note(slot: &mut Option<(u64, u64, u64)>, limit: u64, remaining: u64, reset_ms: u64) {
        if slot.is_none_or(|(_, r, _)| remaining < r) {
            *slot = Some((limit, remaining, reset_ms));
        }
    }
}

/// An admitted request's share of the limits, returned at settlement.
#[derive(Debug)]
pub struct Grant {
    pub id: u64,
    pub scopes: Vec<Arc<Scope>>,
    pub demand: Demand,
    pub rate: RateInfo,
    /// The budget periods reserved in, by scope index.
    pub periods: Vec<Option<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    Requests,
    Tokens,
    Concurrency,
    Budget,
    /// The state store is unreachable and the policy is fail_closed.
    Unavailable,
}

impl RefusalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalKind::Requests => "requests",
            RefusalKind::Tokens => "tokens",
            RefusalKind::Concurrency => "concurrency",
            RefusalKind::Budget => "budget",
            RefusalKind::Unavailable => "unavailable",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Refusal {
    pub kind: RefusalKind,
    /// Which scope refused: `key 'web-app'`.
    pub scope: String,
    /// `key`, `team`, `model`, or `state` when the store is unreachable (a metric label).
    pub scope_kind: &'static str,
    pub retry_after_secs: Option<u64>,
    pub rate: RateInfo,
    /// The demand is larger than this whole limit (tokens, or micro-dollars for a budget): no
    /// wait can make it fit.
    pub exceeds_limit: Option<u64>,
}

enum Backend {
    Embedded(Embedded),
    Redis(Box<RedisState>),
}

pub struct Governor {
    keys: HashMap<String, Arc<Scope>>,
    teams: HashMap<String, Arc<Scope>>,
    models: HashMap<String, Arc<Scope>>,
    /// Which team each key belongs to.
    key_team: HashMap<String, String>,
    backend: Backend,
    on_error: StateFailure,
    next_id: AtomicU64,
}

pub fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn budget_of(b: Option<&crate::config::BudgetConfig>) -> Option<Budget> {
    let b = b?;
    Some(Budget {
        limit_micros: (b.usd * 1_000_000.0).round() as u64,
        period: Period::parse(&b.period)?,
    })
}

/// A demand larger than a whole limit can never be admitted: it is refused at once, without a
/// `retry-after` (no wait helps) and without asking the store, so no amount the store cannot
/// hold exactly ever reaches it.
fn never_fits(scopes: &[Arc<Scope>], demand: Demand) -> Option<Box<Refusal>> {
    scopes.iter().find_map(|scope| {
        let budget = scope.budget.map(|b| b.limit_micros);
        let (kind, limit) = match (scope.tpm, budget) {
            (Some(tpm), _) if demand.tokens > tpm => (RefusalKind::Tokens, tpm),
            (_, Some(budget)) if demand.cost_micros > budget => (RefusalKind::Budget, budget),
            _ => return None,
        };
        Some(Box::new(Refusal {
            kind,
            scope: scope.label(),
            scope_kind: scope.kind.as_str(),
            retry_after_secs: None,
            rate: RateInfo::default(),
            exceeds_limit: Some(limit),
        }))
    })
}

impl Governor {
    pub fn build(config: &Config) -> Result<Governor, ConfigError> {
        let mut keys = HashMap::new();
        let mut key_team = HashMap::new();
        for k in &config.keys {
            let scope = Scope::new(
                ScopeKind::Key,
                &k.name,
                k.limits.as_ref(),
                budget_of(k.budget.as_ref()),
            );
            keys.insert(k.name.clone(), Arc::new(scope));
            if let Some(team) = &k.team {
                key_team.insert(k.name.clone(), team.clone());
            }
        }
        let teams = config
            .teams
            .iter()
            .map(|t| {
                let scope = Scope::new(
                    ScopeKind::Team,
                    &t.name,
                    t.limits.as_ref(),
                    budget_of(t.budget.as_ref()),
                );
                (t.name.clone(), Arc::new(scope))
            })
            .collect();
        let models = config
            .models
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    Arc::new(Scope::new(
                        ScopeKind::Model,
                        &m.name,
                        m.limits.as_ref(),
                        None,
                    )),
                )
            })
            .collect();
        let backend = match config.state.backend {
            StateBackendKind::Embedded => {
                let budgets = config.keys.iter().any(|k| k.budget.is_some())
                    || config.teams.iter().any(|t| t.budget.is_some());
                let embedded = Embedded::open(std::path::Path::new(&config.state.path), budgets)
                    .map_err(|e| ConfigError::new("state.path", e))?;
                Backend::Embedded(embedded)
            }
            StateBackendKind::Redis => {
                let url = config.state.url.clone().unwrap_or_default();
                let redis = RedisState::new(&url, &config.state.prefix)
                    .map_err(|e| ConfigError::new("state.url", e))?;
                Backend::Redis(Box::new(redis))
            }
        };
        let governor = Governor {
            keys,
            teams,
            models,
            key_team,
            backend,
            on_error: config.state.on_error,
            // Request ids name reservations in Redis, shared by every gateway process: start
            // each process at a random point so theirs never collide.
            next_id: AtomicU64::new(rand::random::<u64>() >> 2),
        };
        if let Backend::Embedded(e) = &governor.backend {
            e.load_spend(governor.all_scopes(), unix_now().as_secs());
        }
        Ok(governor)
    }

    fn all_scopes(&self) -> impl Iterator<Item = &Arc<Scope>> {
        self.keys
            .values()
            .chain(self.teams.values())
            .chain(self.models.values())
    }

    /// The governed scopes a request by `key` for `model` counts against: key, team, model.
    pub fn scopes_for(&self, key: &str, model: &str) -> Vec<Arc<Scope>> {
        let team = self.key_team.get(key).and_then(|t| self.teams.get(t));
        [self.keys.get(key), team, self.models.get(model)]
            .into_iter()
            .flatten()
            .filter(|s| s.is_governed())
            .cloned()
            .collect()
    }

    /// A refusal that needs no body: the key's or its team's requests window is known to be
    /// full until a later time (a previous request was refused). Checked before the body is
    /// read, so a client over its limit cannot make the gateway read and parse its bodies.
    pub fn refuse_early(&self, key: &str) -> Option<Box<Refusal>> {
        let now_ms = u64::try_from(unix_now().as_millis()).unwrap_or(u64::MAX);
        let team = self.key_team.get(key).and_then(|t| self.teams.get(t));
        [self.keys.get(key), team]
            .into_iter()
            .flatten()
            .find_map(|scope| {
                let until = scope.requests_blocked_until.load(Ordering::Relaxed);
                let wait_ms = until.checked_sub(now_ms).filter(|w| *w > 0)?;
                let mut rate = RateInfo::default();
                RateInfo::note(&mut rate.requests, scope.rpm.unwrap_or(0), 0, wait_ms);
                Some(Box::new(Refusal {
                    kind: RefusalKind::Requests,
                    scope: scope.label(),
                    scope_kind: scope.kind.as_str(),
                    retry_after_secs: Some(wait_ms.div_ceil(1000).max(1)),
                    rate,
                    exceeds_limit: None,
                }))
            })
    }

    /// Reserves the demand against every scope, or none of them.
    pub async fn admit(
        &self,
        scopes: Vec<Arc<Scope>>,
        demand: Demand,
    ) -> Result<Grant, Box<Refusal>> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if scopes.is_empty() {
            return Ok(Grant {
                id,
                scopes,
                demand,
                rate: RateInfo::default(),
                periods: Vec::new(),
            });
        }
        if let Some(refusal) = never_fits(&scopes, demand) {
            return Err(refusal);
        }
        let now = unix_now();
        let result = match &self.backend {
            Backend::Embedded(e) => Ok(e.admit(&scopes, id, demand, now)),
            Backend::Redis(r) => r.admit(&scopes, id, demand, now).await,
        };
        match result {
            Ok(Ok(grant)) => Ok(Grant { scopes, ..grant }),
            Ok(Err(refusal)) => Err(refusal),
            Err(e) => {
                crate::telemetry::metrics::STATE_ERRORS
                    .with_label_values(&[self.on_error_label()])
                    .inc();
                log::error!("state backend unavailable: {e}");
                match self.on_error {
                    StateFailure::FailOpen => Ok(Grant {
                        id,
                        scopes: Vec::new(),
                        demand,
                        rate: RateInfo::default(),
                        periods: Vec::new(),
                    }),
                    StateFailure::FailClosed => Err(Box::new(Refusal {
                        kind: RefusalKind::Unavailable,
                        scope: "state".into(),
                        scope_kind: "state",
                        retry_after_secs: Some(1),
                        rate: RateInfo::default(),
                        exceeds_limit: None,
                    })),
                }
            }
        }
    }

    fn on_error_label(&self) -> &'static str {
        match self.on_error {
            StateFailure::FailOpen => "fail_open",
            StateFailure::FailClosed => "fail_closed",
        }
    }

    /// Returns the grant with what the request really used.
    pub async fn settle(&self, grant: Grant, tokens: u64, cost_micros: u64) {
        if grant.scopes.is_empty() {
            return;
        }
        match &self.backend {
            Backend::Embedded(e) => e.settle(&grant, tokens, cost_micros),
            Backend::Redis(r) => {
                if let Err(e) = r.settle(&grant, tokens, cost_micros).await {
                    crate::telemetry::metrics::STATE_ERRORS
                        .with_label_values(&[self.on_error_label()])
                        .inc();
                    log::error!("state backend: settling request {} failed: {e}", grant.id);
                }
            }
        }
    }

    /// Writes embedded spend to the ledger (the flusher's tick, and once more at shutdown).
    pub fn flush(&self) {
        if let Backend::Embedded(e) = &self.backend {
            e.flush(self.all_scopes(), unix_now().as_secs());
        }
    }

    /// Usage and spend of every key and team with limits or a budget, for the admin API.
    pub async fn report(&self) -> serde_json::Value {
        let now = unix_now();
        let mut out = serde_json::Map::new();
        for (kind, scopes) in [
            ("keys", &self.keys),
            ("teams", &self.teams),
            ("models", &self.models),
        ] {
            let mut entries = serde_json::Map::new();
            let mut names: Vec<&String> = scopes.keys().collect();
            names.sort();
            for name in names {
                let scope = &scopes[name];
                let entry = match &self.backend {
                    Backend::Embedded(e) => e.report(scope, now),
                    Backend::Redis(r) => r
                        .report(scope, now)
                        .await
                        .unwrap_or_else(|e| serde_json::json!({"error": e})),
                };
                entries.insert(name.clone(), entry);
            }
            out.insert(kind.into(), serde_json::Value::Object(entries));
        }
        serde_json::Value::Object(out)
    }

    /// Zeroes a key's spend for the current period and clears its windows; false if unknown.
    pub async fn reset_key(&self, name: &str) -> Result<bool, String> {
        let Some(scope) = self.keys.get(name) else {
            return Ok(false);
        };
        scope.requests_blocked_until.store(0, Ordering::Relaxed);
        match &self.backend {
            Backend::Embedded(e) => e.reset(scope, unix_now().as_secs())?,
            Backend::Redis(r) => r.reset(scope, unix_now()).await?,
        }
        Ok(true)
    }

    /// Starts the background ledger writer (embedded backend).
    pub fn spawn_flusher(self: &Arc<Self>, every: Duration) {
        if !matches!(self.backend, Backend::Embedded(_)) {
            return;
        }
        let governor = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("sluice-ledger".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                match governor.upgrade() {
                    Some(g) => g.flush(),
                    None => return,
                }
            })
            .ok();
    }
}
