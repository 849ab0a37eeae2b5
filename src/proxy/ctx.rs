//! Per-request state carried across Pingora's phases.
//!
//! Pingora calls `upstream_peer`, `upstream_request_filter` and `request_body_filter` again on
//! every retry. A request carries its candidates (the model's targets, then its fallbacks') and
//! the failover plan over them (`failover`, which decides every next step); the current
//! candidate's encoded body is `plan`; what an attempt writes (`attempt`) is overwritten by the
//! next, and the attempt log only grows.

use super::body_budget::BodyReservation;
use crate::routing::{Gateway, Model, Provider, VirtualKey};
use crate::runtime::Runtime;
use crate::state::Grant;
use bytes::Bytes;
use sluice_filters::api::route::Route;
use sluice_filters::balance::InFlight;
use sluice_filters::canonical::Usage;
use sluice_filters::resilience::Plan;
use sluice_filters::translate::{ClientDialect, StreamTranslator, UpstreamDialect};
use sluice_filters::ErrorType;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `request_filter` decided to send upstream.
pub struct UpstreamPlan {
    pub model: Arc<Model>,
    pub provider: Arc<Provider>,
    /// The dialect spoken on the wire: the provider's, or the Responses API when a Responses
    /// request goes to a provider that speaks it natively.
    pub wire: UpstreamDialect,
    /// Index of this candidate in the request's `candidates`.
    pub candidate: usize,
    /// Index of the chosen target in `model.targets`.
    pub target: usize,
    /// The body to send, already encoded for the provider's dialect.
    pub body: Bytes,
    /// Path and query to append to the endpoint's base path.
    pub path: String,
    pub stream: bool,
    pub client_wants_usage: bool,
    /// JSON mode became a forced tool call whose input is the answer (Anthropic).
    pub json_tool: bool,
    /// Client fields left out of this translation because they cannot change the answer.
    pub dropped: Vec<String>,
}

impl UpstreamPlan {
    pub fn upstream_model(&self) -> &str {
        &self.model.targets[self.target].model
    }

    /// Whether the response passes through untranslated.
    pub fn passthrough(&self, client: ClientDialect) -> bool {
        sluice_filters::translate::is_passthrough(client, self.wire)
    }
}

/// One target of the request's plan.
pub struct Candidate {
    pub model: Arc<Model>,
    pub target: usize,
}

/// The endpoint and key of the current attempt.
pub struct Attempt {
    pub addr: SocketAddr,
    pub endpoint: usize,
    pub key: Option<usize>,
    pub started: Instant,
    /// The attempt counted on its endpoint's and (adaptive models) its target's load tracker,
    /// until it is reported as a latency or a failure, or dropped.
    pub endpoint_load: Option<InFlight>,
    pub target_load: Option<InFlight>,
}

impl Attempt {
    /// Reports the attempt's latency (to its response head) to the load trackers.
    pub fn answered(&mut self, now_ms: u64) {
        let latency = self.started.elapsed();
        for load in [self.endpoint_load.take(), self.target_load.take()]
            .into_iter()
            .flatten()
        {
            load.on_success(latency, now_ms);
        }
    }

    /// Reports the attempt as failed by its provider to the load trackers.
    pub fn failed(&mut self, now_ms: u64) {
        for load in [self.endpoint_load.take(), self.target_load.take()]
            .into_iter()
            .flatten()
        {
            load.on_failure(now_ms);
        }
    }
}

/// A finished attempt, for the access log and the attempt metric.
pub struct AttemptRecord {
    pub provider: String,
    pub endpoint: String,
    pub outcome: &'static str,
    pub millis: f64,
}

/// How the response body is handled, decided when its header arrives.
pub enum ResponseMode {
    /// Bytes go through as they come; whole success bodies are kept (by reference) to read
    /// their usage at the end.
    Passthrough { kept: Option<Vec<Bytes>> },
    /// A stream, translated or passed through chunk by chunk.
    Stream(Box<StreamTranslator>),
    /// A whole success body in another dialect, translated at its end; or, `passthrough`, in
    /// the client's own, held to its end for the response guardrails.
    Translate { buffer: Vec<u8>, passthrough: bool },
    /// A provider error in another dialect, translated at its end.
    TranslateError { buffer: Vec<u8>, status: u16 },
    /// The provider's body is replaced by this gateway error.
    Replace { body: Option<Bytes> },
}

/// What the response phases keep: how the body is handled, the usage it reported, when its
/// first byte reached the client. Written by the last attempt only (earlier ones failed before
/// a body was handled).
#[derive(Default)]
pub struct ResponseState {
    /// The provider's status.
    pub upstream_status: Option<u16>,
    pub mode: Option<ResponseMode>,
    /// Reused for each chunk a stream translator writes.
    pub scratch: Vec<u8>,
    pub usage: Option<Usage>,
    /// When the first response byte went to the client (time to first token, for streams).
    pub first_byte: Option<Instant>,
    /// What the client received, kept when the answer becomes a stored conversation turn.
    pub capture: Option<Vec<u8>>,
}

/// The longest answer kept to store as a conversation turn; a longer one is not stored.
pub const MAX_CAPTURE: usize = 32 << 20;

impl ResponseState {
    /// Keeps what the client received of a successful answer, when a turn is to be stored.
    pub fn keep(&mut self, out: Option<&Bytes>) {
        let ok = self.upstream_status.is_some_and(|s| s < 300);
        if let (Some(capture), Some(out), true) = (self.capture.as_mut(), out, ok) {
            if capture.len() + out.len() <= MAX_CAPTURE {
                capture.extend_from_slice(out);
            } else {
                self.capture = None;
            }
        }
    }
}

pub struct RequestCtx {
    pub started: Instant,
    /// Names the response when the provider gives no id (also `x-sluice-request-id`).
    pub request_id: String,
    /// The routing snapshot this request uses from start to end, even across a config reload.
    pub gateway: Option<Arc<Gateway>>,
    /// Governance, audit and the retry budget: the process's, whatever the snapshot.
    pub runtime: Arc<Runtime>,
    pub route: Option<Route>,
    pub client: ClientDialect,
    /// The authenticated virtual key (its name and team label logs, metrics and limits).
    pub key: Option<Arc<VirtualKey>>,
    /// The configured model the client named, as soon as it is known (refusals are logged and
    /// counted under it too).
    pub model: Option<Arc<Model>>,
    /// The limits and budget reserved at admission, returned when the request ends.
    pub grant: Option<Grant>,
    /// This request's share of the memory all bodies may take, held until it ends.
    pub body_reservation: Option<BodyReservation>,
    /// The client's body as received, re-encoded for each candidate's dialect.
    pub client_body: Bytes,
    pub candidates: Vec<Candidate>,
    /// Where each attempt goes (see `filters::resilience::Plan`).
    pub failover: Plan<SocketAddr>,
    /// The current candidate, encoded.
    pub plan: Option<UpstreamPlan>,
    pub attempt: Option<Attempt>,
    pub attempts: Vec<AttemptRecord>,
    /// `upstream_response_filter` failed the attempt on a status that is worth retrying.
    pub retry_pending: bool,
    /// The `retry-after` to give the client when the plan gave up.
    pub retry_after: Option<Duration>,
    /// The classified failure, when the gateway (not the provider) failed the request.
    pub error_type: Option<ErrorType>,
    /// The response, once its head arrived.
    pub response: ResponseState,
    /// An Anthropic message thread this request continues or starts.
    pub thread: Option<super::threads::ThreadState>,
    /// A Responses request's stored conversation.
    pub stored: Option<super::stored_responses::StoredState>,
    /// The request's guardrails (none when no rule applies); a guarded stream takes them.
    pub guard: Option<sluice_filters::guard::GuardChain>,
    /// The request's place in the exact cache (none when it is not cacheable).
    pub cache: Option<super::cache::CacheState>,
    /// The id of the turn this request's answer completed, held in the conversation store
    /// until the logging phase writes it.
    pub held_turn: Option<String>,
    /// Counted among the streams in flight (a shutdown reports them).
    pub counted_as_stream: bool,
    /// Sent by the gateway itself on behalf of a flight's first client (`super::fetch`).
    pub flight_fetch: bool,
    /// Answered by relaying a flight fetch, which logs, meters and bills the request.
    pub relayed: bool,
}

impl Drop for RequestCtx {
    fn drop(&mut self) {
        self.runtime.in_flight.request_ended(self.counted_as_stream);
    }
}

impl RequestCtx {
    pub fn new(runtime: Arc<Runtime>) -> Self {
        runtime.in_flight.request_started();
        RequestCtx {
            started: Instant::now(),
            request_id: String::new(),
            gateway: None,
            runtime,
            route: None,
            client: ClientDialect::OpenAi,
            key: None,
            model: None,
            grant: None,
            body_reservation: None,
            client_body: Bytes::new(),
            candidates: Vec::new(),
            failover: Plan::default(),
            plan: None,
            attempt: None,
            attempts: Vec::new(),
            retry_pending: false,
            retry_after: None,
            error_type: None,
            response: ResponseState::default(),
            thread: None,
            stored: None,
            guard: None,
            cache: None,
            held_turn: None,
            counted_as_stream: false,
            flight_fetch: false,
            relayed: false,
        }
    }

    /// The body to encode for a provider: the client's own, or the whole conversation when a
    /// conversation this request continues is not held by that provider.
    pub fn body_for(&self, provider: &str, dialect: UpstreamDialect) -> &Bytes {
        if self.thread.is_some() {
            return super::threads::body_for(self, provider, dialect);
        }
        match &self.stored {
            Some(stored) => stored.body().unwrap_or(&self.client_body),
            None => &self.client_body,
        }
    }

    /// The configured model the client named, for labels, or `-` before one is known.
    pub fn model_label(&self) -> &str {
        self.model.as_ref().map_or("-", |m| m.name.as_str())
    }

    pub fn key_name(&self) -> Option<&str> {
        self.key.as_ref().map(|k| k.name.as_str())
    }

    pub fn route_label(&self) -> &'static str {
        self.route.map_or("unmatched", Route::template)
    }

    /// The usage to bill, and whether any of it is estimated: the provider's report when the
    /// response ended normally; for a stream that ended early (cut, failed, abandoned by the
    /// client) what was seen, with the input estimated from the request if the provider had
    /// not reported it yet.
    pub fn billable_usage(&self) -> Option<(Usage, bool)> {
        match &self.response.mode {
            Some(ResponseMode::Stream(t)) => {
                let input_estimate = self.plan.as_ref().map_or(0, |p| p.body.len() as u64 / 4);
                Some(t.billable_usage(input_estimate))
            }
            _ => self.response.usage.map(|u| (u, false)),
        }
    }
}
