//! What `sluice check` prints for a valid file: one screen saying what it defines (providers,
//! models with their targets and fallbacks, keys and teams with their limits and budgets) and
//! what looks like a mistake though it is valid. Never a secret: keys appear by name.

use super::{Config, LimitsConfig, StateBackendKind};
use sluice_filters::governance::builtin_price;
use std::fmt::Write;

/// The summary, ending with the warnings (if any).
pub fn summary(config: &Config) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "providers ({}):", config.providers.len());
    for (name, p) in &config.providers {
        let checks = p.health_check.as_ref().map_or(String::new(), |h| {
            format!(", health check every {}", h.interval)
        });
        let _ = writeln!(
            out,
            "  {name}: {}, {} endpoint(s), {} API key(s){checks}",
            p.kind,
            p.endpoints.len(),
            p.api_keys.len()
        );
    }
    let _ = writeln!(out, "models ({}):", config.models.len());
    for m in &config.models {
        let targets: Vec<String> = m
            .targets
            .iter()
            .map(|t| format!("{}/{} (weight {})", t.provider, t.model, t.weight))
            .collect();
        let mut line = format!("  {} -> {}", m.name, targets.join(", "));
        if !m.fallbacks.is_empty() {
            let _ = write!(line, "; then {}", m.fallbacks.join(", "));
        }
        if let Some(limits) = m.limits.as_ref().and_then(describe_limits) {
            let _ = write!(line, "; {limits}");
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "keys ({}):", config.keys.len());
    for k in &config.keys {
        let mut parts = Vec::new();
        if let Some(team) = &k.team {
            parts.push(format!("team {team}"));
        }
        if let Some(models) = &k.models {
            parts.push(format!("models {}", models.join(", ")));
        }
        if let Some(limits) = k.limits.as_ref().and_then(describe_limits) {
            parts.push(limits);
        }
        if let Some(b) = &k.budget {
            parts.push(format!("budget ${} {}", b.usd, b.period));
        }
        let rest = if parts.is_empty() {
            "no limits".to_owned()
        } else {
            parts.join("; ")
        };
        let _ = writeln!(out, "  {}: {rest}", k.name);
    }
    if !config.teams.is_empty() {
        let _ = writeln!(out, "teams ({}):", config.teams.len());
        for t in &config.teams {
            let mut parts: Vec<String> = t
                .limits
                .as_ref()
                .and_then(describe_limits)
                .into_iter()
                .collect();
            if let Some(b) = &t.budget {
                parts.push(format!("budget ${} {}", b.usd, b.period));
            }
            let _ = writeln!(out, "  {}: {}", t.name, parts.join("; "));
        }
    }
    let state = match config.state.backend {
        StateBackendKind::Embedded => format!("embedded in {}", config.state.path),
        StateBackendKind::Redis => "redis".to_owned(),
    };
    let audit = config
        .audit
        .as_ref()
        .map_or("off".to_owned(), |a| a.path.clone());
    let _ = writeln!(out, "state: {state}; audit log: {audit}");
    let _ = writeln!(out, "{}", guardrails_line(config));
    let _ = writeln!(out, "{}", cache_line(config));
    let warnings = warnings(config);
    if !warnings.is_empty() {
        let _ = writeln!(out, "warnings ({}):", warnings.len());
        for w in warnings {
            let _ = writeln!(out, "  - {w}");
        }
    }
    out
}

/// The guardrail rules: global, and how many models and keys add their own.
fn guardrails_line(config: &Config) -> String {
    let global: Vec<String> = config
        .guardrails
        .iter()
        .map(|r| format!("{} ({:?})", r.name, r.action).to_lowercase())
        .collect();
    let models = config
        .models
        .iter()
        .filter(|m| !m.guardrails.is_empty())
        .count();
    let keys = config
        .keys
        .iter()
        .filter(|k| !k.guardrails.is_empty())
        .count();
    if global.is_empty() && models == 0 && keys == 0 {
        return "guardrails: none".to_owned();
    }
    let global = if global.is_empty() {
        "none".to_owned()
    } else {
        global.join(", ")
    };
    format!("guardrails: {global}; own rules on {models} model(s), {keys} key(s)")
}

/// Which caches are on.
fn cache_line(config: &Config) -> String {
    let mut parts = Vec::new();
    if let Some(exact) = &config.cache.exact {
        let place = match config.state.backend {
            StateBackendKind::Embedded => "in memory",
            StateBackendKind::Redis => "in redis",
        };
        parts.push(format!("exact ({place}, ttl {})", exact.ttl));
    }
    if config.cache.dedup {
        parts.push("dedup".to_owned());
    }
    if let Some(semantic) = &config.cache.semantic {
        let models = config.models.iter().filter(|m| m.cache.semantic).count();
        parts.push(format!(
            "semantic (embeddings by {}, threshold {}, {models} model(s))",
            semantic.embedding_model, semantic.threshold
        ));
    }
    if parts.is_empty() {
        "cache: off".to_owned()
    } else {
        format!("cache: {}", parts.join(", "))
    }
}

fn describe_limits(l: &LimitsConfig) -> Option<String> {
    let parts: Vec<String> = [
        ("rpm", l.rpm),
        ("tpm", l.tpm),
        ("concurrency", l.concurrency),
    ]
    .iter()
    .filter_map(|(name, v)| v.map(|v| format!("{name} {v}")))
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Valid, but probably not what was meant.
pub fn warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let budgets = config.keys.iter().any(|k| k.budget.is_some())
        || config.teams.iter().any(|t| t.budget.is_some());
    for m in &config.models {
        let unpriced: Vec<&str> = m
            .targets
            .iter()
            .filter(|t| m.price.is_none() && builtin_price(&t.model).is_none())
            .map(|t| t.model.as_str())
            .collect();
        if !unpriced.is_empty() {
            let consequence = if budgets {
                "its requests cost $0 against budgets"
            } else {
                "its spend is reported as $0"
            };
            out.push(format!(
                "model '{}' has no price and no built-in price for {}: {consequence} (set models[].price)",
                m.name,
                unpriced.join(", ")
            ));
        }
    }
    for name in config.providers.keys() {
        let used = config
            .models
            .iter()
            .any(|m| m.targets.iter().any(|t| &t.provider == name));
        if !used {
            out.push(format!("provider '{name}' is not a target of any model"));
        }
    }
    if config.keys.is_empty() {
        out.push("no keys: every request is refused with 401".to_owned());
    }
    if config.admin_listen.is_some() && config.admin.token.is_none() {
        out.push(
            "admin.token is not set: the admin API (usage, reload, key reset) is off".to_owned(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_names_what_the_file_defines_and_what_looks_wrong() {
        let config = Config::parse(
            "admin_listen: 127.0.0.1:9091\n\
             providers:\n  oa: {kind: openai, api_keys: [\"${K}\"], health_check: {path: /v1/models, interval: 10s}}\n  spare: {kind: anthropic}\n\
             models:\n  - {name: smart, targets: [{provider: oa, model: gpt-4o}], fallbacks: [local]}\n  - {name: local, targets: [{provider: oa, model: my-llama, weight: 2}], limits: {rpm: 10}}\n\
             keys:\n  - {name: web, key: \"${K}\", team: t, budget: {usd: 5, period: daily}, limits: {rpm: 60}}\n\
             teams: [{name: t, budget: {usd: 50}}]\n",
            &|_| Some("sk-secret-value-1".to_owned()),
        )
        .unwrap();
        let text = summary(&config);
        for expected in [
            "  oa: openai, 1 endpoint(s), 1 API key(s), health check every 10s",
            "  smart -> oa/gpt-4o (weight 1); then local",
            "  local -> oa/my-llama (weight 2); rpm 10",
            "  web: team t; rpm 60; budget $5 daily",
            "  t: budget $50 monthly",
            "model 'local' has no price and no built-in price for my-llama: its requests cost $0 against budgets",
            "provider 'spare' is not a target of any model",
            "admin.token is not set",
        ] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }
        assert!(!text.contains("sk-secret-value-1"));
        assert!(!text.contains("model 'smart' has no price"));
    }
}
