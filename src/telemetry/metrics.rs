//! The gateway's Prometheus metrics, registered in the default registry that
//! `pingora-prometheus` re-exports (a different `prometheus` version would register into a
//! different registry and the series would silently not appear).
//!
//! Labels are bounded: route templates, configured model and provider names, status codes and
//! the closed `error_type` vocabulary. Never raw paths, client-sent model names or key secrets.

use once_cell::sync::Lazy;
use pingora_prometheus::prometheus::{
    register_gauge_vec, register_histogram_vec, register_int_counter_vec, register_int_gauge,
    register_int_gauge_vec, GaugeVec, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
};

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

/// Requests by route, client-facing model, final status and error type (`none` on success).
pub static REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "sluice_requests_total",
        "Client requests by route, model, status and error type",
        &["route", "model", "status", "error_type"]
    )
    .expect("metric definition is valid and registered once")
});

/// Whole-request latency as the client sees it, streams until their last byte.
pub static REQUEST_DURATION: Lazy<HistogramVec> = Lazy::new(|| {
    register_histogram_vec!(
        "sluice_request_duration_seconds",
        "Time from request arrival to the end of the response",
        &["route", "model"],
        LATENCY_BUCKETS.to_vec()
    )
    .expect("metric definition is valid and registered once")
});

/// Upstream latency: from choosing the endpoint to the end of the provider's response.
pub static UPSTREAM_DURATION: Lazy<HistogramVec> = Lazy::new(|| {
    register_histogram_vec!(
        "sluice_upstream_duration_seconds",
        "Time from connecting to the provider to the end of its response",
        &["provider", "status"],
        LATENCY_BUCKETS.to_vec()
    )
    .expect("metric definition is valid and registered once")
});

/// Tokens by provider, client-facing model and bucket (`input` is uncached input; `reasoning`
/// is the part of `output` spent thinking), from the provider's usage report, streams included.
pub static TOKENS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "sluice_tokens_total",
        "Tokens reported by providers, by provider, model and type",
        &["provider", "model", "type"]
    )
    .expect("metric definition is valid and registered once")
});

/// Upstream attempts by provider and outcome (`success`, `connect_error`, `timeout`,
/// `connection_lost`, `http_429`, `http_5xx`, `http_4xx`, `http_auth`).
pub static ATTEMPTS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "sluice_upstream_attempts_total",
        "Upstream attempts by provider and outcome",
        &["provider", "outcome"]
    )
    .expect("metric definition is valid and registered once")
});

/// Cacheable requests by model and what the exact cache did (hit, miss, bypass).
pub static CACHE_REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "sluice_cache_requests_total",
        "Cacheable requests, by model and result (hit, miss, bypass)",
        &["model", "result"]
    )
    .expect("metric definition is valid and registered once")
});

/// Requests following an identical one in flight right now (waiting for it, or served live
/// from its stream).
pub static CACHE_FOLLOWERS: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "sluice_cache_followers",
        "Requests following an identical request in flight (waiting or served live)"
    )
    .expect("metric definition is valid and registered once")
});

/// Guardrail matches, by rule, detector, action and side (never the matched text).
pub static GUARDRAIL_FINDINGS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "sluice_guardrail_findings_total",
        "Guardrail matches, by rule, detector, action and side of the exchange",
        &["rule", "detector", "action", "side"]
    )
    .expect("metric definition is valid and registered once")
});

/// Requests that moved from one model to another of its fallbacks, and why.
pub static FALLBACKS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "sluice_fallbacks_total",
        "Moves to a fallback model, by from and to model and the reason",
        &["from_model", "to_model", "reason"]
    )
    .expect("metric definition is valid and registered once")
});

/// 1 while an endpoint passes its active health checks (always 1 without checks).
pub static ENDPOINT_HEALTHY: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "sluice_endpoint_healthy",
        "Whether an endpoint passes its active health checks",
        &["provider", "endpoint"]
    )
    .expect("metric definition is valid and registered once")
});

/// 1 while an endpoint is ejected by its circuit breaker (until a probe succeeds).
pub static ENDPOINT_EJECTED: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "sluice_endpoint_ejected",
        "Whether an endpoint is ejected by its circuit breaker",
        &["provider", "endpoint"]
    )
    .expect("metric definition is valid and registered once")
});

/// Failures of the state backend (Redis unreachable), by the policy that was applied.
pub static STATE_ERRORS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "sluice_state_errors_total",
        "State backend failures, by the policy applied (fail_open or fail_closed)",
        &["policy"]
    )
    .expect("metric definition is valid and registered once")
});

/// Requests refused by a limit or budget, by scope kind and what refused them.
pub static LIMIT_REJECTIONS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "sluice_limit_rejections_total",
        "Requests refused by rate limits or budgets",
        &["scope", "limit"]
    )
    .expect("metric definition is valid and registered once")
});

/// Spend settled, by key (the configured name) and model, in micro-dollars.
pub static SPEND: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "sluice_spend_micro_usd_total",
        "Settled spend in micro-dollars, by key and model",
        &["key", "model"]
    )
    .expect("metric definition is valid and registered once")
});

/// Request body bytes held in memory right now (reserved when a body is admitted).
pub static BODY_BYTES_IN_FLIGHT: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "sluice_request_body_bytes_in_flight",
        "Request body bytes reserved by requests in progress"
    )
    .expect("metric definition is valid and registered once")
});

/// Config reloads by result: `applied`, `unchanged` (the file did not change) or `rejected`
/// (invalid, or a change that needs a restart; the config in force keeps serving).
pub static CONFIG_RELOADS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "sluice_config_reloads_total",
        "Config reloads by result",
        &["result"]
    )
    .expect("metric definition is valid and registered once")
});

/// 1 if the last reload was applied (or none was tried), 0 if it was rejected.
pub static CONFIG_LAST_RELOAD_SUCCESSFUL: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "sluice_config_last_reload_successful",
        "Whether the last config reload was applied (1) or rejected (0)"
    )
    .expect("metric definition is valid and registered once")
});

/// The version of the config in force: 1 at start, one more for each applied reload.
pub static CONFIG_VERSION: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "sluice_config_version",
        "Version of the config in force (1 at start, +1 per applied reload)"
    )
    .expect("metric definition is valid and registered once")
});

/// Spent / limit of the current budget period, per key and team with a budget (refreshed when
/// `/metrics` is scraped; a removed key's series goes with it).
pub static BUDGET_USED: Lazy<GaugeVec> = Lazy::new(|| {
    register_gauge_vec!(
        "sluice_budget_used_ratio",
        "Share of the current budget period spent, per key and team with a budget",
        &["scope_kind", "scope"]
    )
    .expect("metric definition is valid and registered once")
});

/// Registers every metric up front, at startup, so a bad definition fails there and never on
/// the request path, and so every series family is visible on `/metrics` from the start.
pub fn init() {
    Lazy::force(&REQUESTS);
    Lazy::force(&REQUEST_DURATION);
    Lazy::force(&UPSTREAM_DURATION);
    Lazy::force(&TOKENS);
    Lazy::force(&ATTEMPTS);
    Lazy::force(&FALLBACKS);
    Lazy::force(&ENDPOINT_HEALTHY);
    Lazy::force(&ENDPOINT_EJECTED);
    Lazy::force(&STATE_ERRORS);
    Lazy::force(&LIMIT_REJECTIONS);
    Lazy::force(&SPEND);
    Lazy::force(&BODY_BYTES_IN_FLIGHT);
    Lazy::force(&CACHE_FOLLOWERS);
    Lazy::force(&CONFIG_RELOADS);
    Lazy::force(&BUDGET_USED);
    CONFIG_LAST_RELOAD_SUCCESSFUL.set(1);
    CONFIG_VERSION.set(1);
}
