//! A governed scope (a virtual key, a team, a model): its limits and budget, and the counters
//! the embedded backend keeps for it. The limits belong to one config; the counters belong to
//! the scope's name and outlive a reload that keeps the name (`Scope::carried`).

use sluice_filters::governance::{Period, SlidingWindow};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub const MINUTE_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    Key,
    Team,
    Model,
}

impl ScopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Key => "key",
            ScopeKind::Team => "team",
            ScopeKind::Model => "model",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub limit_micros: u64,
    pub period: Period,
}

/// Spend in the current period (embedded backend).
#[derive(Debug, Default)]
pub struct Spend {
    pub period_id: String,
    /// Unix seconds when `period_id` ends: the calendar is only consulted again then.
    pub period_ends: u64,
    pub spent: u64,
    pub reserved: u64,
    /// Spent since the last ledger flush (what the next flush adds).
    pub unflushed: u64,
}

/// What a scope has used: windows, requests in flight, spend. Shared by every `Scope` built for
/// the same name, so requests admitted under an old config settle on the same counters.
#[derive(Debug)]
pub struct ScopeCounters {
    pub requests: Mutex<SlidingWindow>,
    pub tokens: Mutex<SlidingWindow>,
    pub inflight: AtomicU64,
    pub spend: Mutex<Spend>,
    /// Spend changed since the last ledger flush (saves the flusher a lock per idle scope).
    pub dirty: AtomicBool,
    /// Unix milliseconds until which the requests window is known to be full (learned from a
    /// refusal): a request of this key or team is refused before its body is read.
    pub requests_blocked_until: AtomicU64,
}

#[derive(Debug)]
pub struct Scope {
    pub kind: ScopeKind,
    pub name: String,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub concurrency: Option<u64>,
    pub budget: Option<Budget>,
    pub counters: Arc<ScopeCounters>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Scope {
    pub fn new(
        kind: ScopeKind,
        name: &str,
        limits: Option<&crate::config::LimitsConfig>,
        budget: Option<Budget>,
    ) -> Scope {
        let rpm = limits.and_then(|l| l.rpm);
        let tpm = limits.and_then(|l| l.tpm);
        Scope {
            kind,
            name: name.to_owned(),
            rpm,
            tpm,
            concurrency: limits.and_then(|l| l.concurrency),
            budget,
            counters: Arc::new(ScopeCounters {
                requests: Mutex::new(SlidingWindow::new(rpm.unwrap_or(u64::MAX), MINUTE_MS)),
                tokens: Mutex::new(SlidingWindow::new(tpm.unwrap_or(u64::MAX), MINUTE_MS)),
                inflight: AtomicU64::new(0),
                spend: Mutex::new(Spend::default()),
                dirty: AtomicBool::new(false),
                requests_blocked_until: AtomicU64::new(0),
            }),
        }
    }

    /// The scope under a reloaded config: new limits over `previous`'s counters, so a reload
    /// resets no window and forgets no spend; a changed limit applies from the next request.
    pub fn carried(self, previous: &Scope) -> Scope {
        let counters = previous.counters.clone();
        lock(&counters.requests).set_limit(self.rpm.unwrap_or(u64::MAX));
        lock(&counters.tokens).set_limit(self.tpm.unwrap_or(u64::MAX));
        if self.rpm != previous.rpm {
            // Learned under the old limit: the next request asks the window again.
            counters.requests_blocked_until.store(0, Ordering::Relaxed);
        }
        if self.budget.map(|b| b.period) != previous.budget.map(|b| b.period) {
            // The next admission finds the period the new calendar says and loads its spend.
            lock(&counters.spend).period_ends = 0;
        }
        Scope { counters, ..self }
    }

    /// Whether a reload changed nothing this scope enforces.
    pub fn same_limits(&self, other: &Scope) -> bool {
        self.rpm == other.rpm
            && self.tpm == other.tpm
            && self.concurrency == other.concurrency
            && self.budget == other.budget
    }

    /// Records that the requests window cannot admit anything before `until_ms`.
    pub fn block_requests_until(&self, until_ms: u64) {
        self.counters
            .requests_blocked_until
            .fetch_max(until_ms, Ordering::Relaxed);
    }

    pub fn is_governed(&self) -> bool {
        self.rpm.is_some()
            || self.tpm.is_some()
            || self.concurrency.is_some()
            || self.budget.is_some()
    }

    /// The label for logs and errors: `key 'web-app'`.
    pub fn label(&self) -> String {
        format!("{} '{}'", self.kind.as_str(), self.name)
    }
}
