//! The governed scopes of one config: every key, team and model by name, and which team each
//! key belongs to. A reload builds the next table from the current one, carrying the counters
//! of every scope whose name it keeps.

use super::scope::{Budget, Scope, ScopeKind};
use super::{RateInfo, Refusal, RefusalKind};
use crate::config::{BudgetConfig, Config, LimitsConfig};
use sluice_filters::governance::Period;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Default)]
pub struct ScopeTable {
    pub keys: HashMap<String, Arc<Scope>>,
    pub teams: HashMap<String, Arc<Scope>>,
    pub models: HashMap<String, Arc<Scope>>,
    /// Which team each key belongs to.
    pub key_team: HashMap<String, String>,
}

pub fn budget_of(b: Option<&BudgetConfig>) -> Option<Budget> {
    let b = b?;
    Some(Budget {
        limit_micros: (b.usd * 1_000_000.0).round() as u64,
        period: Period::parse(&b.period)?,
    })
}

impl ScopeTable {
    /// The scopes `config` defines; with `previous`, each keeps the counters of the scope of
    /// the same kind and name there (an unchanged one is the very same scope).
    pub fn build(config: &Config, previous: Option<&ScopeTable>) -> ScopeTable {
        let scope = |kind, name: &str, limits: Option<&LimitsConfig>, budget| {
            let fresh = Scope::new(kind, name, limits, budget);
            let before = previous.and_then(|p| p.of(kind).get(name));
            match before {
                Some(before) if before.same_limits(&fresh) => before.clone(),
                Some(before) => Arc::new(fresh.carried(before)),
                None => Arc::new(fresh),
            }
        };
        let mut table = ScopeTable::default();
        for k in &config.keys {
            let s = scope(
                ScopeKind::Key,
                &k.name,
                k.limits.as_ref(),
                budget_of(k.budget.as_ref()),
            );
            table.keys.insert(k.name.clone(), s);
            if let Some(team) = &k.team {
                table.key_team.insert(k.name.clone(), team.clone());
            }
        }
        for t in &config.teams {
            let s = scope(
                ScopeKind::Team,
                &t.name,
                t.limits.as_ref(),
                budget_of(t.budget.as_ref()),
            );
            table.teams.insert(t.name.clone(), s);
        }
        for m in &config.models {
            let s = scope(ScopeKind::Model, &m.name, m.limits.as_ref(), None);
            table.models.insert(m.name.clone(), s);
        }
        table
    }

    pub fn of(&self, kind: ScopeKind) -> &HashMap<String, Arc<Scope>> {
        match kind {
            ScopeKind::Key => &self.keys,
            ScopeKind::Team => &self.teams,
            ScopeKind::Model => &self.models,
        }
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Scope>> {
        self.keys
            .values()
            .chain(self.teams.values())
            .chain(self.models.values())
    }

    /// A key's scope and its team's.
    fn key_and_team(&self, key: &str) -> [Option<&Arc<Scope>>; 2] {
        let team = self.key_team.get(key).and_then(|t| self.teams.get(t));
        [self.keys.get(key), team]
    }

    /// The governed scopes a request by `key` for `model` counts against: key, team, model.
    pub fn scopes_for(&self, key: &str, model: &str) -> Vec<Arc<Scope>> {
        let [key_scope, team] = self.key_and_team(key);
        [key_scope, team, self.models.get(model)]
            .into_iter()
            .flatten()
            .filter(|s| s.is_governed())
            .cloned()
            .collect()
    }

    /// A refusal that needs no body: the key's or its team's requests window is known to be
    /// full until a later time (a previous request was refused). Checked before the body is
    /// read, so a client over its limit cannot make the gateway read and parse its bodies.
    pub fn refuse_early(&self, key: &str, now_ms: u64) -> Option<Box<Refusal>> {
        self.key_and_team(key)
            .into_iter()
            .flatten()
            .find_map(|scope| {
                let until = scope
                    .counters
                    .requests_blocked_until
                    .load(Ordering::Relaxed);
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

    /// The scopes of `self` that `next` no longer uses (removed, or rebuilt with new limits).
    pub fn replaced_by(&self, next: &ScopeTable) -> Vec<Arc<Scope>> {
        self.all()
            .filter(|old| {
                next.of(old.kind)
                    .get(&old.name)
                    .is_none_or(|new| !Arc::ptr_eq(old, new))
            })
            .cloned()
            .collect()
    }

    pub fn has_budgets(&self) -> bool {
        self.all().any(|s| s.budget.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(yaml_keys: &str, previous: Option<&ScopeTable>) -> ScopeTable {
        let text = format!(
            "providers: {{p: {{kind: openai, endpoints: [{{url: 'http://127.0.0.1:1'}}]}}}}\n\
             models: [{{name: m, targets: [{{provider: p, model: x}}]}}]\n{yaml_keys}"
        );
        let config = Config::parse(&text, &|_| None).unwrap();
        ScopeTable::build(&config, previous)
    }

    #[test]
    fn a_reload_keeps_the_counters_of_every_name_it_keeps() {
        let one = table(
            "keys: [{name: a, key: secret-ka, limits: {rpm: 3}}, {name: b, key: secret-kb, limits: {rpm: 3}}]",
            None,
        );
        for scope in one.keys.values() {
            scope.counters.inflight.store(2, Ordering::Relaxed);
            scope
                .counters
                .requests
                .lock()
                .unwrap()
                .try_admit(0, 1, 1)
                .unwrap();
        }
        let two = table(
            "keys: [{name: a, key: secret-ka, limits: {rpm: 3}}, {name: b, key: secret-kb2, limits: {rpm: 1}}, {name: c, key: secret-kc}]",
            Some(&one),
        );
        assert!(
            Arc::ptr_eq(&one.keys["a"], &two.keys["a"]),
            "unchanged: the same scope"
        );
        assert!(
            !Arc::ptr_eq(&one.keys["b"], &two.keys["b"]),
            "new limit: a new scope"
        );
        assert!(Arc::ptr_eq(
            &one.keys["b"].counters,
            &two.keys["b"].counters
        ));
        assert_eq!(two.keys["b"].rpm, Some(1));
        let mut window = two.keys["b"].counters.requests.lock().unwrap();
        assert_eq!(window.limit(), 1);
        assert!(
            window.try_admit(1, 2, 1).is_err(),
            "the request before counts"
        );
        drop(window);
        assert_eq!(two.keys["c"].counters.inflight.load(Ordering::Relaxed), 0);
        let replaced: Vec<String> = one.replaced_by(&two).iter().map(|s| s.label()).collect();
        assert_eq!(replaced, vec!["key 'b'".to_owned()]);
        let three = table(
            "keys: [{name: a, key: secret-ka, limits: {rpm: 3}}]",
            Some(&two),
        );
        let mut gone: Vec<String> = two.replaced_by(&three).iter().map(|s| s.label()).collect();
        gone.sort();
        assert_eq!(gone, vec!["key 'b'".to_owned(), "key 'c'".to_owned()]);
    }
}
