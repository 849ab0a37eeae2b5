//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the process answers),
//! `/readyz` (every provider has at least one resolved endpoint) and `/status` (each endpoint's
//! active health and circuit-breaker state, each key's ejection, by index, never the key).
//! With `admin.token` set, the admin API: `GET /admin/usage` (usage and spend per key, team and
//! model in the current period) and `POST /admin/keys/{name}/reset`, behind
//! `Authorization: Bearer <token>`. Keep the listener on a private address all the same.

use crate::routing::Gateway;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use pingora_prometheus::prometheus::{self, Encoder, TextEncoder};
use sha2::Digest;
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

fn json_response(status: u16, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)
        .unwrap_or_default()
}

impl AdminApp {
    async fn admin_api(&self, session: &ServerSession, path: &str) -> (u16, serde_json::Value) {
        let gateway = self.gateway.load_full();
        let Some(token) = gateway.admin_token.as_deref() else {
            return (
                404,
                serde_json::json!({"error": "the admin API is off: set admin.token"}),
            );
        };
        let presented = session
            .req_header()
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let matches: bool = subtle::ConstantTimeEq::ct_eq(
            sha2::Sha256::digest(presented.as_bytes()).as_slice(),
            sha2::Sha256::digest(token.as_bytes()).as_slice(),
        )
        .into();
        if !matches {
            return (
                401,
                serde_json::json!({"error": "missing or wrong admin token"}),
            );
        }
        let method = session.req_header().method.as_str();
        match (method, path) {
            ("GET", "/admin/usage") => (200, gateway.governor.report().await),
            ("POST", p) if p.starts_with("/admin/keys/") && p.ends_with("/reset") => {
                let name = &p["/admin/keys/".len()..p.len() - "/reset".len()];
                match gateway.governor.reset_key(name).await {
                    Ok(true) => (200, serde_json::json!({"reset": name})),
                    Ok(false) => (
                        404,
                        serde_json::json!({"error": format!("no key named '{name}'")}),
                    ),
                    Err(e) => (503, serde_json::json!({"error": e})),
                }
            }
            _ => (
                404,
                serde_json::json!({"error": "try GET /admin/usage or POST /admin/keys/{name}/reset"}),
            ),
        }
    }

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
        if path.starts_with("/admin/") {
            let (status, body) = self.admin_api(session, &path).await;
            return json_response(status, body.to_string().into_bytes());
        }
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
