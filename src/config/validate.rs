//! Checks that serde cannot express: references between sections, duplicates, URL shapes,
//! weights. Each error carries the path of the field to fix.

use super::{Config, ConfigError, EndpointConfig, ProviderKind, ResponsesApi, WireApi};
use sluice_filters::auth::{glob_match, KeyDigest};
use sluice_filters::balance::WeightedSchedule;
use std::collections::HashSet;

const MAX_REQUEST_BODY_CEILING: u64 = 1 << 30;

pub fn validate(config: &Config) -> Result<(), ConfigError> {
    if config.max_request_body.0 == 0 || config.max_request_body.0 > MAX_REQUEST_BODY_CEILING {
        return Err(ConfigError::new(
            "max_request_body",
            "must be between 1 byte and 1GiB",
        ));
    }
    if config.max_bodies_in_flight.0 < config.max_request_body.0 {
        return Err(ConfigError::new(
            "max_bodies_in_flight",
            "must be at least max_request_body (one largest body must fit)",
        ));
    }
    if config.admin_listen == Some(config.listen) {
        return Err(ConfigError::new(
            "admin_listen",
            format!("must differ from listen ({})", config.listen),
        ));
    }
    if config.server.threads == Some(0) {
        return Err(ConfigError::new("server.threads", "must be at least 1"));
    }
    if config.providers.is_empty() {
        return Err(ConfigError::new(
            "providers",
            "at least one provider is required",
        ));
    }
    for (name, provider) in &config.providers {
        let path = format!("providers.{name}");
        check_name(&path, name)?;
        if provider.endpoints.is_empty() {
            return Err(ConfigError::new(
                format!("{path}.endpoints"),
                "at least one endpoint is required (azure has no default endpoint)",
            ));
        }
        if provider.default_max_tokens == 0 {
            return Err(ConfigError::new(
                format!("{path}.default_max_tokens"),
                "must be at least 1",
            ));
        }
        let openai_like = matches!(provider.kind, ProviderKind::Openai | ProviderKind::Azure);
        for (field, set) in [
            ("responses", provider.responses.is_some()),
            ("dialect", provider.dialect.is_some()),
        ] {
            if set && !openai_like {
                return Err(ConfigError::new(
                    format!("{path}.{field}"),
                    format!(
                        "only for kinds openai and azure (this provider is {}: it speaks its own API)",
                        provider.kind
                    ),
                ));
            }
        }
        if provider.dialect == Some(WireApi::Responses)
            && provider.responses == Some(ResponsesApi::Chat)
        {
            return Err(ConfigError::new(
                format!("{path}.responses"),
                "cannot be chat when dialect is responses (the provider speaks only the Responses API)",
            ));
        }
        // Settings of one kind are refused on the others: set by mistake, they would be
        // silently ignored.
        let only_for = [
            (
                "api_version",
                provider.api_version.as_ref(),
                ProviderKind::Azure,
            ),
            (
                "anthropic_version",
                provider.anthropic_version.as_ref(),
                ProviderKind::Anthropic,
            ),
        ];
        for (field, value, kind) in only_for {
            match value {
                Some(_) if provider.kind != kind => {
                    return Err(ConfigError::new(
                        format!("{path}.{field}"),
                        format!("only for kind {kind} (this provider is {})", provider.kind),
                    ))
                }
                Some(v) if v.trim().is_empty() => {
                    return Err(ConfigError::new(
                        format!("{path}.{field}"),
                        "must not be empty",
                    ))
                }
                _ => {}
            }
        }
        let mut seen = HashSet::new();
        for (i, endpoint) in provider.endpoints.iter().enumerate() {
            let at = format!("{path}.endpoints[{i}].url");
            check_endpoint_url(&at, endpoint)?;
            let authority = (
                endpoint
                    .url
                    .host_str()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                endpoint.url.port_or_known_default(),
            );
            if !seen.insert(authority) {
                return Err(ConfigError::new(
                    at,
                    "duplicates another endpoint's host and port; raise its weight instead",
                ));
            }
        }
        weighted_schedule(
            &format!("{path}.endpoints"),
            provider.endpoints.iter().map(|e| e.weight),
        )?;
        for (i, key) in provider.api_keys.iter().enumerate() {
            if key.key().trim().is_empty() {
                return Err(ConfigError::new(
                    format!("{path}.api_keys[{i}]"),
                    "is empty (is its environment variable set to an empty value?)",
                ));
            }
        }
        if !provider.api_keys.is_empty() {
            weighted_schedule(
                &format!("{path}.api_keys"),
                provider.api_keys.iter().map(|k| k.weight()),
            )?;
        }
        if let Some(hc) = &provider.health_check {
            if !hc.path.starts_with('/') {
                return Err(ConfigError::new(
                    format!("{path}.health_check.path"),
                    "must start with /",
                ));
            }
            if hc.interval.0.is_zero() || hc.timeout.0.is_zero() {
                return Err(ConfigError::new(
                    format!("{path}.health_check"),
                    "interval and timeout must be greater than zero",
                ));
            }
            if hc.healthy_after == 0 || hc.unhealthy_after == 0 {
                return Err(ConfigError::new(
                    format!("{path}.health_check"),
                    "healthy_after and unhealthy_after must be at least 1",
                ));
            }
        }
        let t = &provider.timeouts;
        if t.connect.0.is_zero() || t.first_byte.0.is_zero() || t.idle.0.is_zero() {
            return Err(ConfigError::new(
                format!("{path}.timeouts"),
                "timeouts must be greater than zero",
            ));
        }
    }

    let mut model_names = HashSet::new();
    for (i, model) in config.models.iter().enumerate() {
        let path = format!("models[{i}]");
        if model.name.trim().is_empty() {
            return Err(ConfigError::new(
                format!("{path}.name"),
                "must not be empty",
            ));
        }
        if !model_names.insert(model.name.as_str()) {
            return Err(ConfigError::new(
                format!("{path}.name"),
                format!("duplicate model name '{}'", model.name),
            ));
        }
        if model.targets.is_empty() {
            return Err(ConfigError::new(
                format!("{path}.targets"),
                "at least one target is required",
            ));
        }
        for (j, target) in model.targets.iter().enumerate() {
            let at = format!("{path}.targets[{j}]");
            if !config.providers.contains_key(&target.provider) {
                let known: Vec<&str> = config.providers.keys().map(String::as_str).collect();
                return Err(ConfigError::new(
                    format!("{at}.provider"),
                    format!(
                        "unknown provider '{}' (configured: {})",
                        target.provider,
                        known.join(", ")
                    ),
                ));
            }
            if target.model.trim().is_empty() {
                return Err(ConfigError::new(format!("{at}.model"), "must not be empty"));
            }
        }
        weighted_schedule(
            &format!("{path}.targets"),
            model.targets.iter().map(|t| t.weight),
        )?;
    }

    for (i, model) in config.models.iter().enumerate() {
        for (j, fallback) in model.fallbacks.iter().enumerate() {
            let at = format!("models[{i}].fallbacks[{j}]");
            if fallback == &model.name {
                return Err(ConfigError::new(at, "a model cannot fall back to itself"));
            }
            if !model_names.contains(fallback.as_str()) {
                return Err(ConfigError::new(at, format!("unknown model '{fallback}'")));
            }
        }
    }
    let r = &config.retries;
    if r.attempts == 0 {
        return Err(ConfigError::new("retries.attempts", "must be at least 1"));
    }
    if !(0.0..=10.0).contains(&r.budget) {
        return Err(ConfigError::new(
            "retries.budget",
            "must be between 0 and 10",
        ));
    }
    if config.circuit_breaker.failures == 0 {
        return Err(ConfigError::new(
            "circuit_breaker.failures",
            "must be at least 1",
        ));
    }

    let mut team_names = HashSet::new();
    for (i, team) in config.teams.iter().enumerate() {
        let path = format!("teams[{i}]");
        check_name(&format!("{path}.name"), &team.name)?;
        if !team_names.insert(team.name.as_str()) {
            return Err(ConfigError::new(
                format!("{path}.name"),
                format!("duplicate team '{}'", team.name),
            ));
        }
        check_limits(&format!("{path}.limits"), team.limits.as_ref())?;
        check_budget(&format!("{path}.budget"), team.budget.as_ref())?;
    }
    for (i, model) in config.models.iter().enumerate() {
        check_limits(&format!("models[{i}].limits"), model.limits.as_ref())?;
        if model.max_output_tokens == Some(0) {
            return Err(ConfigError::new(
                format!("models[{i}].max_output_tokens"),
                "must be at least 1",
            ));
        }
        if let Some(p) = &model.price {
            let prices = [
                Some(p.input_per_mtok),
                Some(p.output_per_mtok),
                p.cached_input_per_mtok,
                p.cache_write_per_mtok,
            ];
            if prices.iter().flatten().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(ConfigError::new(
                    format!("models[{i}].price"),
                    "prices must be zero or positive",
                ));
            }
        }
    }
    if config.state.backend == super::StateBackendKind::Redis && config.state.url.is_none() {
        return Err(ConfigError::new(
            "state.url",
            "the redis backend needs a url (redis://host:port)",
        ));
    }
    if config.state.flush_interval.0.is_zero() {
        return Err(ConfigError::new(
            "state.flush_interval",
            "must be greater than zero",
        ));
    }
    if let Some(token) = &config.admin.token {
        if token.len() < 16 {
            return Err(ConfigError::new(
                "admin.token",
                "must be at least 16 characters",
            ));
        }
    }
    if config.admin.token.is_none() && config.admin.protect.as_ref().is_some_and(|p| !p.is_empty())
    {
        return Err(ConfigError::new(
            "admin.protect",
            "protected pages need admin.token (the token that opens them)",
        ));
    }

    let mut key_names = HashSet::new();
    let mut digests = HashSet::new();
    for (i, key) in config.keys.iter().enumerate() {
        let path = format!("keys[{i}]");
        check_name(&format!("{path}.name"), &key.name)?;
        if !key_names.insert(key.name.as_str()) {
            return Err(ConfigError::new(
                format!("{path}.name"),
                format!("duplicate key name '{}'", key.name),
            ));
        }
        let digest = match (&key.key, &key.key_sha256) {
            (Some(secret), None) => {
                if secret.len() < 8 {
                    return Err(ConfigError::new(
                        format!("{path}.key"),
                        "must be at least 8 characters",
                    ));
                }
                KeyDigest::of(secret)
            }
            (None, Some(hex)) => KeyDigest::from_hex(hex).ok_or_else(|| {
                ConfigError::new(
                    format!("{path}.key_sha256"),
                    "must be 64 hex digits (the SHA-256 of the key)",
                )
            })?,
            _ => {
                return Err(ConfigError::new(
                    path,
                    "set exactly one of 'key' or 'key_sha256'",
                ))
            }
        };
        if !digests.insert(digest) {
            return Err(ConfigError::new(
                path,
                "uses the same secret as an earlier key",
            ));
        }
        if let Some(team) = &key.team {
            if !team_names.contains(team.as_str()) {
                return Err(ConfigError::new(
                    format!("{path}.team"),
                    format!("unknown team '{team}'"),
                ));
            }
        }
        check_limits(&format!("{path}.limits"), key.limits.as_ref())?;
        check_budget(&format!("{path}.budget"), key.budget.as_ref())?;
        for (j, pattern) in key.models.iter().flatten().enumerate() {
            let matches_any = model_names.iter().any(|m| glob_match(pattern, m));
            if !matches_any {
                return Err(ConfigError::new(
                    format!("{path}.models[{j}]"),
                    format!("'{pattern}' matches no configured model"),
                ));
            }
        }
    }
    if let Some(semantic) = &config.cache.semantic {
        if !config
            .models
            .iter()
            .any(|m| m.name == semantic.embedding_model)
        {
            return Err(ConfigError::new(
                "cache.semantic.embedding_model",
                format!("'{}' is not a configured model", semantic.embedding_model),
            ));
        }
        if !(semantic.threshold > 0.0 && semantic.threshold <= 1.0) {
            return Err(ConfigError::new(
                "cache.semantic.threshold",
                "must be above 0 and at most 1",
            ));
        }
    }
    super::guard::check(config)
}

/// The weighted schedule of a list of weights, or an error naming the list.
pub fn weighted_schedule(
    path: &str,
    weights: impl Iterator<Item = u32>,
) -> Result<WeightedSchedule, ConfigError> {
    let weights: Vec<u32> = weights.collect();
    WeightedSchedule::new(&weights).map_err(|e| ConfigError::new(path, format!("weights: {e}")))
}

fn check_limits(path: &str, limits: Option<&super::LimitsConfig>) -> Result<(), ConfigError> {
    let Some(l) = limits else { return Ok(()) };
    for (field, value) in [
        ("rpm", l.rpm),
        ("tpm", l.tpm),
        ("concurrency", l.concurrency),
    ] {
        if value == Some(0) {
            return Err(ConfigError::new(
                format!("{path}.{field}"),
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        if value.is_some_and(|v| v > sluice_filters::governance::MAX_EXACT) {
            return Err(ConfigError::new(
                format!("{path}.{field}"),
                format!(
                    "must be at most {} (leave it out for no limit)",
                    sluice_filters::governance::MAX_EXACT
                ),
            ));
        }
    }
    Ok(())
}

/// The largest budget: a billion dollars is 10^15 micro-dollars, within the range every state
/// backend holds exactly (Redis' Lua numbers are doubles).
const MAX_BUDGET_USD: f64 = 1e9;

fn check_budget(path: &str, budget: Option<&super::BudgetConfig>) -> Result<(), ConfigError> {
    let Some(b) = budget else { return Ok(()) };
    if !b.usd.is_finite() || b.usd < 0.0 {
        return Err(ConfigError::new(
            format!("{path}.usd"),
            "must be zero or positive",
        ));
    }
    if b.usd > MAX_BUDGET_USD {
        return Err(ConfigError::new(
            format!("{path}.usd"),
            format!("must be at most {MAX_BUDGET_USD} (leave the budget out for none)"),
        ));
    }
    if sluice_filters::governance::Period::parse(&b.period).is_none() {
        return Err(ConfigError::new(
            format!("{path}.period"),
            format!(
                "unknown period '{}': use daily, weekly, monthly or total",
                b.period
            ),
        ));
    }
    Ok(())
}

fn check_name(path: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            path,
            format!("invalid name '{name}': use letters, digits, '-', '_' or '.'"),
        ))
    }
}

fn check_endpoint_url(path: &str, endpoint: &EndpointConfig) -> Result<(), ConfigError> {
    let url = &endpoint.url;
    let fail = |m: &str| Err(ConfigError::new(path, format!("'{url}' {m}")));
    match url.scheme() {
        "http" | "https" => {}
        _ => return fail("must use http or https"),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return fail("has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return fail("must not carry credentials; use api_keys");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return fail("must not have a query or fragment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const GOOD: &str = r#"
listen: 127.0.0.1:8080
admin_listen: 127.0.0.1:9091
providers:
  local: {kind: openai, endpoints: [{url: "http://127.0.0.1:9001"}], api_keys: ["${UP_KEY}"]}
models:
  - name: fast
    targets: [{provider: local, model: gpt-4o-mini}]
keys:
  - {name: app, key: "${APP_KEY}", models: ["fa*"]}
"#;

    fn env(name: &str) -> Option<String> {
        match name {
            "UP_KEY" => Some("sk-upstream".into()),
            "APP_KEY" => Some("sk-app-123456".into()),
            _ => None,
        }
    }

    fn error_of(text: &str) -> String {
        Config::parse(text, &env).unwrap_err().to_string()
    }

    #[test]
    fn good_config_loads() {
        let c = Config::parse(GOOD, &env).unwrap();
        assert_eq!(c.providers["local"].api_keys[0].key(), "sk-upstream");
        assert_eq!(c.max_request_body.0, 32 << 20);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                GOOD.replace("local, model", "nope, model"),
                "models[0].targets[0].provider: unknown provider 'nope'",
            ),
            (
                GOOD.replace("http://127.0.0.1:9001", "ftp://x"),
                "providers.local.endpoints[0].url: 'ftp://x/' must use http or https",
            ),
            (
                GOOD.replace("http://127.0.0.1:9001", "not a url"),
                "providers.local.endpoints[0].url: relative URL without a base",
            ),
            (
                GOOD.replace("${APP_KEY}", "${NOT_SET}"),
                "keys[0].key: environment variable NOT_SET is not set",
            ),
            (
                GOOD.replace("fa*", "slow"),
                "keys[0].models[0]: 'slow' matches no configured model",
            ),
            (
                GOOD.replace("kind: openai", "kind: cohere"),
                "providers.local.kind: unknown variant `cohere`",
            ),
            (
                GOOD.replace("listen: 127.0.0.1:8080", "listen: nowhere"),
                "listen: invalid socket address syntax",
            ),
            (
                format!("{GOOD}  - {{name: fast, targets: [{{provider: local, model: x}}]}}\n")
                    .replace(
                        "keys:\n  - {name: app, key: \"${APP_KEY}\", models: [\"fa*\"]}\n",
                        "",
                    ),
                "models[1].name: duplicate model name 'fast'",
            ),
            (
                format!("{GOOD}admin: {{protect: [metrics]}}\n"),
                "admin.protect: protected pages need admin.token",
            ),
            (
                format!("{GOOD}admin: {{token: 0123456789abcdef, protect: [keys]}}\n"),
                "admin.protect[0]: unknown variant `keys`",
            ),
            (
                GOOD.replace(
                    "model: gpt-4o-mini}]",
                    "model: gpt-4o-mini}]\n    max_output_tokens: 0",
                ),
                "models[0].max_output_tokens: must be at least 1",
            ),
            (
                format!("{GOOD}teams: [{{name: t, budget: {{usd: 1e12, period: daily}}}}]\n"),
                "teams[0].budget.usd: must be at most",
            ),
            (
                format!("{GOOD}teams: [{{name: t, limits: {{tpm: 9007199254740992}}}}]\n"),
                "teams[0].limits.tpm: must be at most 9007199254740991",
            ),
        ];
        for (text, expected) in cases {
            let err = error_of(&text);
            assert!(err.starts_with(expected), "got: {err}\nwanted: {expected}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = error_of(&GOOD.replace("listen: 127", "lisen: 127"));
        assert!(err.contains("unknown field `lisen`"), "{err}");
    }

    #[test]
    fn responses_go_natively_to_openai_and_azure_v1_by_default() {
        let native = |provider: &str| {
            let text = GOOD.replace(
                r#"local: {kind: openai, endpoints: [{url: "http://127.0.0.1:9001"}], api_keys: ["${UP_KEY}"]}"#,
                &format!("local: {provider}"),
            );
            let c = Config::parse(&text, &env).unwrap();
            c.providers["local"].native_responses()
        };
        let cases = [
            ("{kind: openai}", true),
            (
                "{kind: openai, endpoints: [{url: https://api.openai.com/}]}",
                true,
            ),
            (
                "{kind: openai, endpoints: [{url: http://127.0.0.1:9001}]}",
                false,
            ),
            (
                "{kind: openai, endpoints: [{url: http://127.0.0.1:9001}], responses: native}",
                true,
            ),
            ("{kind: openai, responses: chat}", false),
            (
                "{kind: azure, endpoints: [{url: https://x.openai.azure.com}]}",
                false,
            ),
            (
                "{kind: azure, endpoints: [{url: https://x.openai.azure.com}], api_version: v1}",
                true,
            ),
            ("{kind: anthropic}", false),
        ];
        for (provider, expected) in cases {
            assert_eq!(native(provider), expected, "{provider}");
        }
        let text = GOOD.replace("kind: openai,", "kind: anthropic, responses: native,");
        assert_eq!(
            error_of(&text),
            "providers.local.responses: only for kinds openai and azure (this provider is anthropic: it speaks its own API)"
        );
    }

    #[test]
    fn guardrail_errors_name_the_rule_and_the_list() {
        let text = format!(
            "{GOOD}guardrails:\n  - {{name: pii, detect: [email, emial], action: redact}}\n"
        );
        let err = error_of(&text);
        assert!(
            err.starts_with("guardrails: guardrail rule 'pii': unknown detector 'emial'"),
            "{err}"
        );
        let text = GOOD.replace(
            "{name: app, key: \"${APP_KEY}\", models: [\"fa*\"]}",
            "{name: app, key: \"${APP_KEY}\", guardrails: [{name: t, detect: [{name: ticket, regex: \"TK-[0-9]+\"}], action: block}]}",
        );
        let err = error_of(&text);
        assert!(
            err.starts_with("keys[0].guardrails: guardrail rule 't'"),
            "{err}"
        );
        let ok = GOOD.replace(
            "{name: app, key: \"${APP_KEY}\", models: [\"fa*\"]}",
            "{name: app, key: \"${APP_KEY}\", guardrails: [{name: t, detect: [{name: ticket, regex: \"TK-[0-9]{4,8}\"}], action: block, on: [request]}]}",
        );
        assert!(Config::parse(&ok, &env).is_ok());
    }
}
