//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the process answers),
//! `/readyz` (every provider has at least one resolved endpoint) and `/status` (each endpoint's
//! active health and circuit-breaker state, each key's ejection, by index, never the key).
//! Keep it on a private address.

use crate::routing::Gateway;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use pingora_prometheus::prometheus::{self, Encoder, TextEncoder};
use std::sync::Arc;

pub struct AdminApp {
    gateway: Arc<ArcSwap<Gateway>>,
}

impl AdminApp {
    pub fn new(gateway: Arc<ArcSwap<Gateway>>) -> Self {
        AdminApp { gateway }
    }

    fn readiness(&self) -> (u16, String) {
        let gateway = self.gateway.load();
        let unresolved: Vec<&str> = gateway
            .providers
            .iter()
            .filter(|p| p.resolved_count() == 0)
            .map(|p| p.name.as_str())
            .collect();
        if unresolved.is_empty() {
            (200, "{\"status\":\"ready\"}".into())
        } else {
            let body = serde_json::json!({
                "status": "not_ready",
                "providers_without_endpoints": unresolved,
            });
            (503, body.to_string())
        }
    }
}

impl AdminApp {
    fn status(&self) -> String {
        let gateway = self.gateway.load();
        let now = gateway.now_ms();
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
        serde_json::json!({ "providers": providers }).to_string()
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_owned();
        let (status, content_type, body) = match path.as_str() {
            "/metrics" => {
                let encoder = TextEncoder::new();
                let mut buffer = Vec::with_capacity(16 * 1024);
                match encoder.encode(&prometheus::gather(), &mut buffer) {
                    Ok(()) => (200, encoder.format_type().to_owned(), buffer),
                    Err(e) => (500, "text/plain".into(), e.to_string().into_bytes()),
                }
            }
            "/healthz" => (
                200,
                "application/json".into(),
                b"{\"status\":\"ok\"}".to_vec(),
            ),
            "/readyz" => {
                let (status, body) = self.readiness();
                (status, "application/json".into(), body.into_bytes())
            }
            "/status" => (200, "application/json".into(), self.status().into_bytes()),
            _ => (
                404,
                "application/json".into(),
                b"{\"error\":\"not found: try /metrics, /healthz, /readyz or /status\"}".to_vec(),
            ),
        };
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(body)
            .unwrap_or_default()
    }
}
