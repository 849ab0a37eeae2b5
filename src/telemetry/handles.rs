//! Metric handles resolved once and kept where the request path finds them (on its model and
//! its provider), instead of `with_label_values` per request: that hashes every label and
//! takes the vector's lock each time. Each handle is resolved on first use, so a model only
//! exports series for the routes it was asked on, as before.

use super::metrics::{REQUESTS, REQUEST_DURATION, TOKENS, UPSTREAM_DURATION};
use pingora_prometheus::prometheus::{Histogram, IntCounter};
use sluice_filters::api::route::Route;
use std::sync::OnceLock;

/// More than there are routes (a route past it resolves per request, as before).
const ROUTE_SLOTS: usize = 16;

/// A route's handles for one model.
pub struct RouteHandles {
    /// `sluice_requests_total{status="200", error_type="none"}`: the common outcome.
    pub ok: IntCounter,
    pub duration: Histogram,
}

/// The handles a model's requests use, by route.
#[derive(Default)]
pub struct ModelHandles {
    by_route: [OnceLock<RouteHandles>; ROUTE_SLOTS],
}

impl ModelHandles {
    /// The handles for `route` on the model named `model`.
    pub fn route(&self, route: Route, model: &str) -> Option<&RouteHandles> {
        let slot = self.by_route.get(route as usize)?;
        Some(slot.get_or_init(|| {
            let template = route.template();
            RouteHandles {
                ok: REQUESTS.with_label_values(&[template, model, "200", "none"]),
                duration: REQUEST_DURATION.with_label_values(&[template, model]),
            }
        }))
    }
}

/// Token counters of one (provider, model) pair, by kind.
pub struct TokenHandles {
    pub input: IntCounter,
    pub cache_read: IntCounter,
    pub cache_write: IntCounter,
    pub output: IntCounter,
    pub reasoning: IntCounter,
}

impl TokenHandles {
    pub fn resolve(provider: &str, model: &str) -> Self {
        let kind = |k: &str| TOKENS.with_label_values(&[provider, model, k]);
        TokenHandles {
            input: kind("input"),
            cache_read: kind("cache_read"),
            cache_write: kind("cache_write"),
            output: kind("output"),
            reasoning: kind("reasoning"),
        }
    }
}

/// The upstream latency histogram of a provider's successful answers.
#[derive(Default)]
pub struct ProviderHandles {
    ok_duration: OnceLock<Histogram>,
}

impl ProviderHandles {
    pub fn ok_duration(&self, provider: &str) -> &Histogram {
        self.ok_duration
            .get_or_init(|| UPSTREAM_DURATION.with_label_values(&[provider, "200"]))
    }
}
