//! The embedded backend: sliding windows and in-flight counters in memory, budgets in memory
//! with their spend written to the SQLite ledger in the background. One gateway process.

use super::ledger::Ledger;
use super::scope::{Scope, Spend};
use super::{Demand, Grant, RateInfo, Refusal, RefusalKind};
use sluice_filters::governance::fits;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub struct Embedded {
    /// Opened only once some scope has a budget: a gateway without budgets writes no files.
    ledger: OnceLock<Ledger>,
    dir: PathBuf,
    /// Held while a flush moves spend from memory to the ledger.
    flushing: std::sync::Mutex<()>,
}

/// What an admission took, to give back if a later scope refuses.
enum Taken<'a> {
    Inflight(&'a Scope),
    Requests(&'a Scope),
    Tokens(&'a Scope),
    Budget(&'a Scope, u64),
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the counters half-updated in a way
    // worse than losing one request's accounting; keep serving.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// When the period containing `unix_secs` ends (never, for `total`).
fn period_end(period: sluice_filters::governance::Period, unix_secs: u64) -> u64 {
    period
        .seconds_left(unix_secs)
        .map_or(u64::MAX, |left| unix_secs.saturating_add(left))
}

fn secs(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

impl Embedded {
    pub fn open(dir: &Path, with_ledger: bool) -> Result<Embedded, String> {
        let embedded = Embedded {
            ledger: OnceLock::new(),
            dir: dir.to_owned(),
            flushing: std::sync::Mutex::new(()),
        };
        if with_ledger {
            embedded.open_ledger()?;
        }
        Ok(embedded)
    }

    /// Opens the ledger if it is not open yet (a reload gave a scope its first budget).
    pub fn open_ledger(&self) -> Result<(), String> {
        if self.ledger.get().is_none() {
            let ledger = Ledger::open(&self.dir)?;
            // Reloads are serialized; should two race, the second ledger is simply dropped.
            let _ = self.ledger.set(ledger);
        }
        Ok(())
    }

    fn load(&self, scope: &Scope, period: &str) -> u64 {
        self.ledger
            .get()
            .map_or(0, |l| l.load(scope.kind.as_str(), &scope.name, period))
    }

    /// Loads each budget's spend for its current period.
    pub fn load_spend<'a>(&self, scopes: impl Iterator<Item = &'a Arc<Scope>>, unix_secs: u64) {
        for scope in scopes {
            if let Some(budget) = scope.budget {
                let period = budget.period.id(unix_secs);
                let spent = self.load(scope, &period);
                *lock(&scope.counters.spend) = Spend {
                    period_id: period,
                    period_ends: period_end(budget.period, unix_secs),
                    spent,
                    reserved: 0,
                    unflushed: 0,
                };
            }
        }
    }

    /// Moves a budget to the current period when the calendar has turned.
    fn roll(&self, scope: &Scope, spend: &mut Spend, unix_secs: u64) {
        let Some(budget) = scope.budget else { return };
        if unix_secs < spend.period_ends {
            return;
        }
        spend.period_ends = period_end(budget.period, unix_secs);
        let period = budget.period.id(unix_secs);
        if spend.period_id != period {
            // What the old period spent since the last flush stays in the old period.
            self.write_unflushed(scope, spend, unix_secs);
            spend.spent = self.load(scope, &period);
            spend.period_id = period;
            spend.reserved = 0;
        }
    }

    pub fn admit(
        &self,
        scopes: &[Arc<Scope>],
        id: u64,
        demand: Demand,
        now: Duration,
    ) -> Result<Grant, Box<Refusal>> {
        let now_ms = now.as_millis() as u64;
        let unix_secs = now.as_secs();
        let mut taken: Vec<Taken<'_>> = Vec::with_capacity(scopes.len() * 3);
        let mut rate = RateInfo::default();
        let mut periods = Vec::with_capacity(scopes.len());
        let refuse = |taken: Vec<Taken<'_>>, kind, scope: &Scope, retry: Option<u64>, rate| {
            self.give_back(taken, id);
            Err(Box::new(Refusal {
                kind,
                scope: scope.label(),
                scope_kind: scope.kind.as_str(),
                retry_after_secs: retry,
                rate,
                exceeds_limit: None,
            }))
        };
        for scope in scopes {
            if let Some(limit) = scope.concurrency {
                if scope.counters.inflight.fetch_add(1, Ordering::AcqRel) >= limit {
                    scope.counters.inflight.fetch_sub(1, Ordering::AcqRel);
                    return refuse(taken, RefusalKind::Concurrency, scope, Some(1), rate);
                }
                taken.push(Taken::Inflight(scope));
            }
            if let Some(limit) = scope.rpm {
                match lock(&scope.counters.requests).try_admit(now_ms, id, 1) {
                    Ok(a) => {
                        RateInfo::note(&mut rate.requests, limit, a.remaining, a.reset_ms);
                        taken.push(Taken::Requests(scope));
                    }
                    Err(r) => {
                        RateInfo::note(&mut rate.requests, limit, r.remaining, r.retry_after_ms);
                        scope.block_requests_until(now_ms.saturating_add(r.retry_after_ms));
                        return refuse(
                            taken,
                            RefusalKind::Requests,
                            scope,
                            Some(secs(r.retry_after_ms)),
                            rate,
                        );
                    }
                }
            }
            if let Some(limit) = scope.tpm {
                match lock(&scope.counters.tokens).try_admit(now_ms, id, demand.tokens) {
                    Ok(a) => {
                        RateInfo::note(&mut rate.tokens, limit, a.remaining, a.reset_ms);
                        taken.push(Taken::Tokens(scope));
                    }
                    Err(r) => {
                        RateInfo::note(&mut rate.tokens, limit, r.remaining, r.retry_after_ms);
                        return refuse(
                            taken,
                            RefusalKind::Tokens,
                            scope,
                            Some(secs(r.retry_after_ms)),
                            rate,
                        );
                    }
                }
            }
            if let Some(budget) = scope.budget {
                let mut spend = lock(&scope.counters.spend);
                self.roll(scope, &mut spend, unix_secs);
                if !fits(
                    spend.spent,
                    spend.reserved,
                    demand.cost_micros,
                    budget.limit_micros,
                ) {
                    drop(spend);
                    let retry = budget.period.seconds_left(unix_secs);
                    return refuse(taken, RefusalKind::Budget, scope, retry, rate);
                }
                spend.reserved = spend.reserved.saturating_add(demand.cost_micros);
                periods.push(Some(spend.period_id.clone()));
                taken.push(Taken::Budget(scope, demand.cost_micros));
            } else {
                periods.push(None);
            }
        }
        Ok(Grant {
            id,
            scopes: Vec::new(),
            demand,
            rate,
            periods,
        })
    }

    fn give_back(&self, taken: Vec<Taken<'_>>, id: u64) {
        for t in taken {
            match t {
                Taken::Inflight(s) => {
                    s.counters.inflight.fetch_sub(1, Ordering::AcqRel);
                }
                Taken::Requests(s) => lock(&s.counters.requests).release(id),
                Taken::Tokens(s) => lock(&s.counters.tokens).release(id),
                Taken::Budget(s, cost) => {
                    let mut spend = lock(&s.counters.spend);
                    spend.reserved = spend.reserved.saturating_sub(cost);
                }
            }
        }
    }

    pub fn settle(&self, grant: &Grant, tokens: u64, cost_micros: u64) {
        for (i, scope) in grant.scopes.iter().enumerate() {
            if scope.concurrency.is_some() {
                scope.counters.inflight.fetch_sub(1, Ordering::AcqRel);
            }
            if scope.tpm.is_some() {
                lock(&scope.counters.tokens).adjust(grant.id, tokens);
            }
            if scope.budget.is_some() {
                let mut spend = lock(&scope.counters.spend);
                if grant.periods.get(i).and_then(|p| p.as_deref()) == Some(spend.period_id.as_str())
                {
                    spend.reserved = spend.reserved.saturating_sub(grant.demand.cost_micros);
                }
                spend.spent = spend.spent.saturating_add(cost_micros);
                spend.unflushed = spend.unflushed.saturating_add(cost_micros);
                scope.counters.dirty.store(true, Ordering::Release);
            }
        }
    }

    /// Adds what every budget spent since the last flush to the ledger. One flush at a time,
    /// so the last one at shutdown also waits for the flusher thread's.
    pub fn flush<'a>(&self, scopes: impl Iterator<Item = &'a Arc<Scope>>, unix_secs: u64) {
        let Some(ledger) = self.ledger.get() else {
            return;
        };
        let _one_at_a_time = lock(&self.flushing);
        let mut taken = Vec::new();
        for scope in
            scopes.filter(|s| s.budget.is_some() && s.counters.dirty.swap(false, Ordering::AcqRel))
        {
            let mut spend = lock(&scope.counters.spend);
            let delta = std::mem::take(&mut spend.unflushed);
            if delta > 0 {
                taken.push((scope, spend.period_id.clone(), delta));
            }
        }
        let rows: Vec<(String, String, String, u64)> = taken
            .iter()
            .map(|(s, period, delta)| {
                (
                    s.kind.as_str().to_owned(),
                    s.name.clone(),
                    period.clone(),
                    *delta,
                )
            })
            .collect();
        if let Err(e) = ledger.add(&rows, unix_secs) {
            log::error!("writing the spend ledger failed (kept for the next flush): {e}");
            for (scope, period, delta) in taken {
                let mut spend = lock(&scope.counters.spend);
                if spend.period_id == period {
                    spend.unflushed = spend.unflushed.saturating_add(delta);
                    scope.counters.dirty.store(true, Ordering::Release);
                }
            }
        }
    }

    /// Writes a scope's unflushed spend now (its period is ending).
    fn write_unflushed(&self, scope: &Scope, spend: &mut Spend, unix_secs: u64) {
        let delta = std::mem::take(&mut spend.unflushed);
        let Some(ledger) = self.ledger.get().filter(|_| delta > 0) else {
            return;
        };
        let row = (
            scope.kind.as_str().to_owned(),
            scope.name.clone(),
            spend.period_id.clone(),
            delta,
        );
        if let Err(e) = ledger.add(&[row], unix_secs) {
            log::error!("writing the spend ledger failed: {e}");
        }
    }

    pub fn report(&self, scope: &Scope, now: Duration) -> serde_json::Value {
        let now_ms = now.as_millis() as u64;
        let mut entry = serde_json::json!({
            "in_flight": scope.counters.inflight.load(Ordering::Acquire),
        });
        if let Some(limit) = scope.rpm {
            let used = limit - lock(&scope.counters.requests).peek(now_ms).remaining;
            entry["requests_last_minute"] = serde_json::json!({"used": used, "limit": limit});
        }
        if let Some(limit) = scope.tpm {
            let used = limit - lock(&scope.counters.tokens).peek(now_ms).remaining;
            entry["tokens_last_minute"] = serde_json::json!({"used": used, "limit": limit});
        }
        if let Some(budget) = scope.budget {
            let mut spend = lock(&scope.counters.spend);
            self.roll(scope, &mut spend, now.as_secs());
            entry["budget"] = serde_json::json!({
                "period": budget.period.as_str(),
                "period_id": spend.period_id,
                "spent_usd": spend.spent as f64 / 1e6,
                "reserved_usd": spend.reserved as f64 / 1e6,
                "limit_usd": budget.limit_micros as f64 / 1e6,
            });
        }
        entry
    }

    pub fn reset(&self, scope: &Scope, unix_secs: u64) -> Result<(), String> {
        if scope.budget.is_some() {
            let _no_flush_meanwhile = lock(&self.flushing);
            let mut spend = lock(&scope.counters.spend);
            self.roll(scope, &mut spend, unix_secs);
            spend.spent = 0;
            spend.unflushed = 0;
            if let Some(ledger) = self.ledger.get() {
                ledger.clear(
                    scope.kind.as_str(),
                    &scope.name,
                    &spend.period_id,
                    unix_secs,
                )?;
            }
        }
        if let Some(limit) = scope.rpm {
            *lock(&scope.counters.requests) =
                sluice_filters::governance::SlidingWindow::new(limit, super::scope::MINUTE_MS);
        }
        if let Some(limit) = scope.tpm {
            *lock(&scope.counters.tokens) =
                sluice_filters::governance::SlidingWindow::new(limit, super::scope::MINUTE_MS);
        }
        Ok(())
    }
}
