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
mod scopes;

pub use scope::Scope;

use crate::config::{Config, ConfigError, StateBackendKind, StateFailure};
use arc_swap::ArcSwap;
use embedded::Embedded;
use redis_backend::RedisState;
pub use scopes::ScopeTable;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
    /// The scopes of the config in force, replaced whole by a reload.
    table: ArcSwap<ScopeTable>,
    /// Scopes a reload replaced that requests admitted before it may still settle on: flushed
    /// with the others until nothing holds them.
    retired: Mutex<Vec<Arc<Scope>>>,
    backend: Backend,
    on_error: StateFailure,
    next_id: AtomicU64,
}

pub fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
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
        let table = ScopeTable::build(config, None);
        let backend = match config.state.backend {
            StateBackendKind::Embedded => {
                let embedded = Embedded::open(
                    std::path::Path::new(&config.state.path),
                    table.has_budgets(),
                )
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
        if let Backend::Embedded(e) = &backend {
            e.load_spend(table.all(), unix_now().as_secs());
        }
        Ok(Governor {
            table: ArcSwap::from_pointee(table),
            retired: Mutex::default(),
            backend,
            on_error: config.state.on_error,
            // Request ids name reservations in Redis, shared by every gateway process: start
            // each process at a random point so theirs never collide.
            next_id: AtomicU64::new(rand::random::<u64>() >> 2),
        })
    }

    /// The scopes of a reloaded `config`, carrying the counters of the current ones; nothing
    /// changes until `install`. Fails only if the spend ledger a first budget needs cannot be
    /// opened.
    pub fn prepare(&self, config: &Config) -> Result<ScopeTable, ConfigError> {
        let next = ScopeTable::build(config, Some(&self.table.load()));
        if let (Backend::Embedded(e), true) = (&self.backend, next.has_budgets()) {
            e.open_ledger()
                .map_err(|e| ConfigError::new("state.path", e))?;
        }
        Ok(next)
    }

    /// The scopes in force (the routing snapshot carries them to each request).
    pub fn scopes(&self) -> Arc<ScopeTable> {
        self.table.load_full()
    }

    /// Puts a prepared table in force for flushing, reports and resets; requests take theirs
    /// from the routing snapshot it is installed with.
    pub fn install(&self, next: Arc<ScopeTable>) {
        let previous = self.table.swap(next);
        let replaced = previous.replaced_by(&self.table.load());
        if let Ok(mut retired) = self.retired.lock() {
            retired.extend(replaced);
        }
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
        let Backend::Embedded(e) = &self.backend else {
            return;
        };
        let table = self.table.load();
        let Ok(mut retired) = self.retired.lock() else {
            return;
        };
        e.flush(table.all().chain(retired.iter()), unix_now().as_secs());
        // A retired scope no request holds any more has nothing left to write.
        retired.retain(|s| Arc::strong_count(s) > 1 || s.counters.dirty.load(Ordering::Acquire));
    }

    /// Expires the embedded rate windows and gives back the room of a burst that has left
    /// them (the flusher's tick): a window is otherwise trimmed only by its next admission.
    pub fn trim_windows(&self) {
        if !matches!(self.backend, Backend::Embedded(_)) {
            return;
        }
        let now_ms = unix_now().as_millis() as u64;
        for scope in self.table.load().all() {
            for window in [&scope.counters.requests, &scope.counters.tokens] {
                if let Ok(mut window) = window.lock() {
                    window.trim(now_ms);
                }
            }
        }
    }

    /// Usage and spend of every key and team with limits or a budget, for the admin API.
    pub async fn report(&self) -> serde_json::Value {
        let now = unix_now();
        let mut out = serde_json::Map::new();
        let table = self.table.load_full();
        for (kind, scopes) in [
            ("keys", &table.keys),
            ("teams", &table.teams),
            ("models", &table.models),
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
        let Some(scope) = self.table.load().keys.get(name).cloned() else {
            return Ok(false);
        };
        scope
            .counters
            .requests_blocked_until
            .store(0, Ordering::Relaxed);
        match &self.backend {
            Backend::Embedded(e) => e.reset(&scope, unix_now().as_secs())?,
            Backend::Redis(r) => r.reset(&scope, unix_now()).await?,
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
                    Some(g) => {
                        g.flush();
                        g.trim_windows();
                    }
                    None => return,
                }
            })
            .ok();
    }
}
