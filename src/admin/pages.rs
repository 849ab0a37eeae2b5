//! What each admin page answers: Prometheus text, health, readiness, endpoint status, and the
//! admin API (usage, key reset). Each returns a status and a body; `mod.rs` writes them.

use crate::reload::{Outcome, Reloader, Trigger};
use crate::routing::Gateway;
use crate::runtime::Runtime;
use crate::telemetry::metrics::BUDGET_USED;
use pingora_prometheus::prometheus::{self, Encoder, TextEncoder};

/// A page's answer.
pub struct Page {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Page {
    pub fn json(status: u16, body: serde_json::Value) -> Page {
        Page {
            status,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
        }
    }

    pub fn error(status: u16, message: &str) -> Page {
        Page::json(status, serde_json::json!({ "error": message }))
    }
}

pub async fn metrics(runtime: &Runtime) -> Page {
    refresh_budget_gauges(runtime).await;
    let encoder = TextEncoder::new();
    let mut body = Vec::with_capacity(16 * 1024);
    match encoder.encode(&prometheus::gather(), &mut body) {
        Ok(()) => Page {
            status: 200,
            content_type: "text/plain; version=0.0.4",
            body,
        },
        Err(e) => Page::error(500, &e.to_string()),
    }
}

/// Sets `sluice_budget_used_ratio` from the governor's report (the store's figures, Redis
/// included), for every key and team with a budget.
async fn refresh_budget_gauges(runtime: &Runtime) {
    let report = runtime.governor.report().await;
    BUDGET_USED.reset();
    for (kind, field) in [("key", "keys"), ("team", "teams")] {
        let Some(scopes) = report[field].as_object() else {
            continue;
        };
        for (name, entry) in scopes {
            let budget = &entry["budget"];
            let (Some(spent), Some(limit)) =
                (budget["spent_usd"].as_f64(), budget["limit_usd"].as_f64())
            else {
                continue;
            };
            let ratio = if limit > 0.0 { spent / limit } else { 1.0 };
            BUDGET_USED.with_label_values(&[kind, name]).set(ratio);
        }
    }
}

pub fn healthz() -> Page {
    Page::json(200, serde_json::json!({"status": "ok"}))
}

/// Ready when every provider has at least one resolved endpoint.
pub fn readyz(gateway: &Gateway) -> Page {
    let unresolved: Vec<&str> = gateway
        .providers
        .iter()
        .filter(|p| p.resolved_count() == 0)
        .map(|p| p.name.as_str())
        .collect();
    if unresolved.is_empty() {
        Page::json(200, serde_json::json!({"status": "ready"}))
    } else {
        Page::json(
            503,
            serde_json::json!({"status": "not_ready", "providers_without_endpoints": unresolved}),
        )
    }
}

/// Each provider's endpoints with their active health and breaker state, and which API keys
/// are ejected (by index: key material never appears).
pub fn status(gateway: &Gateway) -> Page {
    let now = crate::clock::now_ms();
    let providers: Vec<serde_json::Value> = gateway
        .providers
        .iter()
        .map(|p| {
            let endpoints: Vec<serde_json::Value> = p
                .endpoint_states(now)
                .into_iter()
                .map(|(endpoint, healthy, ejected)| {
                    serde_json::json!({"endpoint": endpoint, "healthy": healthy, "ejected": ejected})
                })
                .collect();
            serde_json::json!({
                "name": p.name,
                "kind": p.dialect.as_str(),
                "health_checked": p.health_checked,
                "endpoints": endpoints,
                "keys_ejected": p.key_states(now),
            })
        })
        .collect();
    Page::json(200, serde_json::json!({ "providers": providers }))
}

pub async fn usage(runtime: &Runtime) -> Page {
    Page::json(200, runtime.governor.report().await)
}

pub async fn reset_key(runtime: &Runtime, name: &str) -> Page {
    match runtime.governor.reset_key(name).await {
        Ok(true) => Page::json(200, serde_json::json!({"reset": name})),
        Ok(false) => Page::error(404, &format!("no key named '{}'", shorten(name))),
        Err(e) => Page::error(503, &e),
    }
}

/// A client-sent name, cut short for echoing back.
fn shorten(name: &str) -> &str {
    match name.char_indices().nth(100) {
        Some((at, _)) => &name[..at],
        None => name,
    }
}

/// `GET /admin/config`.
pub fn config(reloader: &Reloader) -> Page {
    Page::json(200, reloader.report())
}

/// `POST /admin/reload`: 200 when the file is in force (applied or unchanged), 422 with the
/// field and the reason when it was rejected (the config in force keeps serving).
pub async fn reload(reloader: &Reloader) -> Page {
    match reloader.reload(Trigger::Admin).await {
        Outcome::Applied { version } => Page::json(
            200,
            serde_json::json!({"result": "applied", "version": version}),
        ),
        Outcome::Unchanged { version } => Page::json(
            200,
            serde_json::json!({"result": "unchanged", "version": version}),
        ),
        Outcome::Rejected(error) => Page::json(
            422,
            serde_json::json!({
                "result": "rejected",
                "error": {"field": error.path, "message": error.message},
            }),
        ),
    }
}
