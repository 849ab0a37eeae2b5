//! A governed scope (a virtual key, a team, a model): its limits and budget, and the local
//! counters the embedded backend keeps for it.

use sluice_filters::governance::{Period, SlidingWindow};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Mutex;

pub const MINUTE_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone, Copy)]
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

#[derive(Debug)]
pub struct Scope {
    pub kind: ScopeKind,
    pub name: String,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub concurrency: Option<u64>,
    pub budget: Option<Budget>,
    // Embedded backend state.
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
            requests: Mutex::new(SlidingWindow::new(rpm.unwrap_or(u64::MAX), MINUTE_MS)),
            tokens: Mutex::new(SlidingWindow::new(tpm.unwrap_or(u64::MAX), MINUTE_MS)),
            inflight: AtomicU64::new(0),
            spend: Mutex::new(Spend::default()),
            dirty: AtomicBool::new(false),
            requests_blocked_until: AtomicU64::new(0),
        }
    }

    /// Records that the requests window cannot admit anything before `until_ms`.
    pub fn block_requests_until(&self, until_ms: u64) {
        self.requests_blocked_until
            .fetch_max(until_ms, std::sync::atomic::Ordering::Relaxed);
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
