//! What the proxy keeps for the life of the process, apart from the routing snapshot: the
//! governance state, the audit writer, the retry budget and the conversation store. Built once in `src/server.rs`;
//! the routing snapshot (`routing::Gateway`: routes, models, providers, keys) can be replaced
//! without touching any of this.

use crate::drain::InFlight;
use crate::state::conversations::Conversations;
use crate::state::Governor;
use crate::telemetry::audit::AuditLog;
use sluice_filters::resilience::RetryBudget;
use std::sync::Arc;

pub struct Runtime {
    pub governor: Arc<Governor>,
    pub audit: Option<Arc<AuditLog>>,
    /// Gateway-wide: retries may be at most a share of requests.
    pub retry_budget: RetryBudget,
    /// The turns of conversations sluice continues (message threads).
    pub conversations: Conversations,
    /// Requests and streams being served (what a shutdown waits for).
    pub in_flight: InFlight,
    /// The exact response cache, when configured.
    pub cache: Option<crate::cache::ExactCache>,
    /// Identical requests in flight, when `cache.dedup` is on.
    pub flights: Option<std::sync::Arc<crate::cache::flights::Flights>>,
    /// The semantic cache, when configured.
    pub semantic: Option<crate::cache::semantic::SemanticCache>,
    /// Where a flight's first client sends its request so that the upstream call outlives
    /// it (set once the proxy is built; without it, the first client calls the provider).
    pub fetch: std::sync::OnceLock<Arc<crate::proxy::FlightFetch>>,
}
