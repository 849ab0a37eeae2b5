//! Per-request state carried across Pingora's phases.
//!
//! Pingora calls `upstream_peer`, `upstream_request_filter` and `request_body_filter` again on
//! every retry, so what those phases read (the chosen target, the encoded body) is set once in
//! `request_filter`, and what they write (the endpoint of this attempt) is overwritten, never
//! appended to, except the list of endpoints already tried.

use crate::routing::{Gateway, Model, Provider};
use bytes::Bytes;
use sluice_filters::api::route::Route;
use sluice_filters::ErrorType;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// What `request_filter` decided to send upstream.
pub struct UpstreamPlan {
    pub model: Arc<Model>,
    pub provider: Arc<Provider>,
    /// Index of the chosen target in `model.targets`.
    pub target: usize,
    /// The body to send, already encoded for the provider.
    pub body: Bytes,
    pub stream: bool,
}

impl UpstreamPlan {
    pub fn upstream_model(&self) -> &str {
        &self.model.targets[self.target].model
    }
}

/// The endpoint of the current attempt.
pub struct Attempt {
    pub addr: SocketAddr,
    pub endpoint: usize,
    pub started: Instant,
}

pub struct RequestCtx {
    pub started: Instant,
    /// The routing snapshot this request uses from start to end, even across a config reload.
    pub gateway: Option<Arc<Gateway>>,
    pub route: Option<Route>,
    pub key_name: Option<String>,
    pub plan: Option<UpstreamPlan>,
    pub attempt: Option<Attempt>,
    /// Endpoints already tried by this request, so a retry goes elsewhere.
    pub tried: Vec<SocketAddr>,
    pub upstream_status: Option<u16>,
    /// The classified failure, when the gateway (not the provider) failed the request.
    pub error_type: Option<ErrorType>,
    /// Set when the provider's error body is replaced by the gateway's own.
    pub replacement_body: Option<Bytes>,
    pub replacement_sent: bool,
}

impl RequestCtx {
    pub fn new() -> Self {
        RequestCtx {
            started: Instant::now(),
            gateway: None,
            route: None,
            key_name: None,
            plan: None,
            attempt: None,
            tried: Vec::new(),
            upstream_status: None,
            error_type: None,
            replacement_body: None,
            replacement_sent: false,
        }
    }

    /// The client-facing model name for labels, or `-` before one is known.
    pub fn model_label(&self) -> &str {
        self.plan.as_ref().map_or("-", |p| p.model.name.as_str())
    }

    pub fn route_label(&self) -> &'static str {
        self.route.map_or("unmatched", Route::template)
    }
}

impl Default for RequestCtx {
    fn default() -> Self {
        RequestCtx::new()
    }
}
