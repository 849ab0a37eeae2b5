//! The exact cache in the request and response phases. A request that can be cached (its
//! model serves from the cache, it does not sample unless the model allows it, it continues
//! no message thread) is looked up by a key of everything that can change its answer, scoped
//! to its team (or key); a hit is answered here, whole or streamed in the client's dialect,
//! counted against the key's requests per minute and billed nothing. A miss goes upstream and
//! its answer is stored once complete: never an error, a cut or refused stream, or an answer a
//! guardrail blocked. `cache-control: no-cache` skips the lookup (the answer is stored),
//! `no-store` skips storing.
//!
//! With `dedup`, identical requests in flight share one upstream call: the first leads, the
//! others follow it (`crate::cache::flights`). A whole follower, or a streamed one whose leader
//! asked for a whole answer, replays the landed answer; a streamed follower of a streamed
//! leader is served live from the flight's tape (`super::follow`). A streamed leader itself
//! asks through a flight fetch (`super::fetch`), so that its client leaving ends nobody else's
//! answer.

use super::ctx::RequestCtx;
use super::follow::Followed;
use crate::cache::flights::{wait, Landing, LeaderGuard, Role};
use crate::cache::tape::TapeHead;
use crate::routing::Model;
use crate::state::Demand;
use crate::telemetry::metrics::{CACHE_FOLLOWERS, CACHE_REQUESTS};
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use sluice_filters::cache::semantic::{split_request, ContextKey, Split};
use sluice_filters::cache::{cache_key, temperature_allows_caching, CachedAnswer, ReplaySpec};
use sluice_filters::guard::{Direction, Finding};
use sluice_filters::translate::StreamOutcome;

/// What the cache did for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    /// `cache-control: no-cache`: not looked up.
    Bypass,
    /// Answered by an identical request in flight.
    Coalesced,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Bypass => "bypass",
            CacheStatus::Coalesced => "coalesced",
        }
    }
}

/// A cacheable request's place in the cache.
pub struct CacheState {
    key: String,
    pub status: CacheStatus,
    /// Whether the answer may be stored (`no-store` says no).
    store: bool,
    /// The complete answer to store, once the response ended well.
    entry: Option<Bytes>,
    /// The flight this request leads: its answer goes to the requests waiting for it.
    leader: Option<LeaderGuard>,
    /// Where the answer goes in the semantic index: the prompt's context and embedding.
    semantic: Option<(ContextKey, Vec<f32>)>,
    /// A semantic hit's cosine similarity.
    similarity: Option<f32>,
    /// What the guardrails found in a live follower's stream (its translator is its own, not
    /// the response mode's), for the access log and the audit record.
    pub followed_findings: Option<Vec<(Direction, Finding)>>,
}

enum SemanticOutcome {
    Hit(CachedAnswer, f32),
    /// Embedded, not found: stored under these once answered.
    Miss(ContextKey, Vec<f32>),
    /// Not semantically cacheable, or no embedding (a miss, never an error).
    Skip,
}

/// Embeds the last user turn and looks it up among the answers of the same context.
async fn semantic_lookup(
    ctx: &RequestCtx,
    model: &Model,
    scope: &str,
    body: &[u8],
    no_cache: bool,
) -> SemanticOutcome {
    let (Some(semantic), Some(gateway)) = (ctx.runtime.semantic.as_ref(), ctx.gateway.as_ref())
    else {
        return SemanticOutcome::Skip;
    };
    let Some(query) = split_request(ctx.client, &model.name, scope, body)
        .ok()
        .and_then(Split::query)
    else {
        return SemanticOutcome::Skip;
    };
    let config = &semantic.config;
    let Some(vector) = super::embed::embed(
        gateway,
        &config.embedding_model,
        config.dimensions,
        &query.prompt,
        config.timeout.0,
    )
    .await
    else {
        return SemanticOutcome::Skip;
    };
    if !no_cache {
        if let Some(hit) = semantic.lookup(&query.context, &vector) {
            if let Some(answer) = CachedAnswer::from_bytes(&hit.value) {
                return SemanticOutcome::Hit(answer, hit.similarity);
            }
        }
    }
    SemanticOutcome::Miss(query.context, vector)
}

/// Looks the request up, and joins its flight when identical requests share one. `Ok(true)`:
/// answered (a hit, a follower served, or refused by a rate limit).
pub async fn lookup(
    session: &mut Session,
    ctx: &mut RequestCtx,
    model: &Model,
    received: Bytes,
) -> pingora::Result<bool> {
    if ctx.flight_fetch {
        // The gateway's own request for a flight's first client: it takes the place the
        // client parked (and leads the flight), or is not cached at all.
        if let Some(state) = super::fetch::claim(session, ctx) {
            ctx.cache = Some(state);
            ctx.response.capture.get_or_insert_with(Vec::new);
        }
        return Ok(false);
    }
    let exact = model.cache.exact;
    let store = exact && ctx.runtime.cache.is_some();
    let flights = ctx.runtime.flights.clone().filter(|_| exact);
    let semantic_on = model.cache.semantic && ctx.runtime.semantic.is_some();
    if (!store && flights.is_none() && !semantic_on) || ctx.thread.is_some() {
        return Ok(false);
    }
    let body = match ctx.stored.as_ref().and_then(|s| s.body()) {
        Some(expanded) => expanded.clone(),
        None => ctx.client_body.clone(),
    };
    if !model.cache.sampled && !temperature_allows_caching(&body) {
        return Ok(false);
    }
    let directives = cache_control(session);
    let scope = match ctx.key.as_ref() {
        Some(key) => match &key.team {
            Some(team) => format!("team:{team}"),
            None => format!("key:{}", key.name),
        },
        None => return Ok(false),
    };
    let Ok(key) = cache_key(ctx.client, &model.name, &scope, &body) else {
        return Ok(false);
    };
    let key = key.as_str().to_owned();
    let found = match ctx.runtime.cache.as_ref() {
        Some(cache) if store && !directives.no_cache => cache
            .get(&key)
            .await
            .and_then(|b| CachedAnswer::from_bytes(&b)),
        _ => None,
    };
    // The rare branches (the embedding call, a served answer, a follower's stream) are boxed
    // where they are awaited: their futures would otherwise size every request's
    // `request_filter` future, 12 KiB allocated and copied per request.
    let mut semantic = None;
    let hit = match found {
        Some(answer) => Some((answer, None)),
        None if semantic_on => {
            let lookup = semantic_lookup(ctx, model, &scope, &body, directives.no_cache);
            match Box::pin(lookup).await {
                SemanticOutcome::Hit(answer, similarity) => Some((answer, Some(similarity))),
                SemanticOutcome::Miss(context, vector) => {
                    semantic = (!directives.no_store).then_some((context, vector));
                    None
                }
                SemanticOutcome::Skip => None,
            }
        }
        None => None,
    };
    if let Some((answer, similarity)) = hit {
        let status = CacheStatus::Hit;
        return Box::pin(serve(session, ctx, model, key, status, &answer, similarity)).await;
    }
    let status = if directives.no_cache {
        CacheStatus::Bypass
    } else {
        CacheStatus::Miss
    };
    let mut leader = None;
    if let Some(flights) = flights.filter(|_| !directives.no_cache) {
        // A follower whose leader failed goes on with the next flight, led by one of them.
        let mut role = flights.join(&key);
        loop {
            let follower = match role {
                Role::Leader(guard) => {
                    leader = Some(guard);
                    break;
                }
                Role::Follower(follower) => follower,
            };
            let _following = Following::start();
            let landing = if ctx.plan.as_ref().is_some_and(|p| p.stream) {
                match Box::pin(super::follow::follow(session, ctx, model, &key, follower)).await? {
                    Followed::Answered => return Ok(true),
                    Followed::Landed(landing) => landing,
                }
            } else {
                wait(follower.landing).await
            };
            role = match landing {
                Landing::Answer(bytes) => match CachedAnswer::from_bytes(&bytes) {
                    Some(answer) => {
                        let status = CacheStatus::Coalesced;
                        return Box::pin(serve(session, ctx, model, key, status, &answer, None))
                            .await;
                    }
                    None => flights.join(&key),
                },
                Landing::Failed(Some(handover)) => handover.take(),
                Landing::Failed(None) | Landing::Pending => flights.join(&key),
            };
        }
    }
    CACHE_REQUESTS
        .with_label_values(&[&model.name, status.as_str()])
        .inc();
    let state = CacheState {
        key,
        status,
        store: store && !directives.no_store,
        entry: None,
        leader,
        semantic,
        similarity: None,
        followed_findings: None,
    };
    // A streamed flight's leader asks through a flight fetch, so that followers already
    // served live do not depend on its client staying. A whole leader asks itself (the hop
    // costs about a fifth of a small request's throughput): if its client leaves, its
    // followers have received nothing yet and one of them leads the next flight.
    let streamed_leader = state.leader.is_some() && ctx.plan.as_ref().is_some_and(|p| p.stream);
    if let Some(fetch) = ctx.runtime.fetch.get().filter(|_| streamed_leader).cloned() {
        return super::fetch::lead(session, ctx, &fetch, state, received).await;
    }
    ctx.cache = Some(state);
    ctx.response.capture.get_or_insert_with(Vec::new);
    Ok(false)
}

/// Answers from a stored or a coalesced answer: a request (counted against the requests per
/// minute) that costs no tokens and no money.
async fn serve(
    session: &mut Session,
    ctx: &mut RequestCtx,
    model: &Model,
    key: String,
    status: CacheStatus,
    answer: &CachedAnswer,
    similarity: Option<f32>,
) -> pingora::Result<bool> {
    if admit_served(session, ctx, model, key, status, similarity).await? {
        return Ok(true);
    }
    replay(session, ctx, answer, status).await?;
    Ok(true)
}

/// Marks a request answered without the provider (a hit, a follower) and admits it: counted
/// against the requests per minute, costing no tokens and no money. `Ok(true)`: refused by a
/// limit, and already answered.
pub(super) async fn admit_served(
    session: &mut Session,
    ctx: &mut RequestCtx,
    model: &Model,
    key: String,
    status: CacheStatus,
    similarity: Option<f32>,
) -> pingora::Result<bool> {
    CACHE_REQUESTS
        .with_label_values(&[&model.name, status.as_str()])
        .inc();
    ctx.cache = Some(CacheState {
        key,
        status,
        store: false,
        entry: None,
        leader: None,
        semantic: None,
        similarity,
        followed_findings: None,
    });
    let free = Demand {
        tokens: 0,
        cost_micros: 0,
    };
    super::governance::admit(session, ctx, model, free).await
}

/// Answers from the cache, whole or streamed as the request asked.
async fn replay(
    session: &mut Session,
    ctx: &mut RequestCtx,
    answer: &CachedAnswer,
    status: CacheStatus,
) -> pingora::Result<()> {
    let Some(plan) = ctx.plan.take() else {
        return Ok(());
    };
    let spec = ReplaySpec {
        id: &ctx.request_id,
        model: plan.upstream_model(),
        created: unix_now(),
        client_wants_usage: plan.client_wants_usage,
        request: &ctx.client_body,
    };
    let (body, content_type) = if plan.stream {
        (
            answer.replay_stream(ctx.client, &spec),
            "text/event-stream; charset=utf-8",
        )
    } else {
        (answer.replay_whole(ctx.client, &spec), "application/json")
    };
    let head = served_head(ctx, status, content_type, Some(body.len()))?;
    session.write_response_header(Box::new(head), false).await?;
    ctx.response.first_byte = Some(std::time::Instant::now());
    // A Responses answer with `store` is kept, as if a provider had given it.
    ctx.response.upstream_status = Some(200);
    ctx.response.capture = Some(body.clone());
    ctx.held_turn = super::stored_responses::hold(ctx, plan.stream);
    session
        .write_response_body(Some(Bytes::from(body)), true)
        .await?;
    Ok(())
}

/// The head of an answer served without the provider: its length when known, else chunked.
pub(super) fn served_head(
    ctx: &RequestCtx,
    status: CacheStatus,
    content_type: &str,
    length: Option<usize>,
) -> pingora::Result<ResponseHeader> {
    use super::headers::{header_value, X_SLUICE_CACHE, X_SLUICE_REQUEST_ID};
    use http::{header, HeaderName, HeaderValue};
    let mut parts = http::Response::new(()).into_parts().0;
    let headers = &mut parts.headers;
    headers.reserve(12);
    headers.insert(header::CONTENT_TYPE, header_value(content_type)?);
    match length {
        Some(len) => headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len)),
        None => headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        ),
    };
    headers.insert(X_SLUICE_CACHE, HeaderValue::from_static(status.as_str()));
    if let Some(similarity) = ctx.cache.as_ref().and_then(|c| c.similarity) {
        let similarity = header_value(&format!("{similarity:.4}"))?;
        headers.insert(
            HeaderName::from_static("x-sluice-cache-similarity"),
            similarity,
        );
    }
    headers.insert(X_SLUICE_REQUEST_ID, header_value(&ctx.request_id)?);
    super::governance::add_rate_headers(headers, ctx);
    // Chunked framing needs HTTP/1.1 (the parts' default).
    parts.version = http::Version::HTTP_11;
    Ok(ResponseHeader::from(parts))
}

/// A streamed leader's upstream answered 2xx: its followers can be served live from here on.
/// Only an attempt that will be the answer gets here (a retried status returns earlier).
pub fn open_tape(ctx: &RequestCtx, status: u16) {
    let (Some(leader), Some(plan)) = (leader(ctx), ctx.plan.as_ref()) else {
        return;
    };
    if plan.stream && (200..300).contains(&status) {
        leader.tape().open(TapeHead {
            wire: plan.wire,
            model: plan.upstream_model().to_owned(),
            json_tool: plan.json_tool,
            price: plan.model.price_of(plan.target),
        });
    }
}

/// Records a streamed leader's raw upstream chunk, before it is translated for its own client.
pub fn record(ctx: &RequestCtx, chunk: Option<&Bytes>, end_of_stream: bool) {
    let Some(leader) = leader(ctx) else {
        return;
    };
    if let Some(chunk) = chunk {
        leader.tape().record(chunk);
    }
    if end_of_stream {
        leader.tape().end();
    }
}

fn leader(ctx: &RequestCtx) -> Option<&LeaderGuard> {
    ctx.cache.as_ref().and_then(|c| c.leader.as_ref())
}

/// The `x-sluice-cache` header of an answer from upstream.
pub fn label(headers: &mut http::HeaderMap, ctx: &RequestCtx) {
    if let Some(state) = &ctx.cache {
        headers.insert(
            super::headers::X_SLUICE_CACHE,
            http::HeaderValue::from_static(state.status.as_str()),
        );
    }
}

/// At the answer's last byte: the entry to store, if the answer is complete and successful.
pub fn collect(ctx: &mut RequestCtx, stream: bool, outcome: Option<StreamOutcome>) {
    let Some(state) = ctx.cache.as_mut() else {
        return;
    };
    let whole_ok = ctx
        .response
        .upstream_status
        .is_some_and(|s| (200..300).contains(&s))
        && ctx.error_type.is_none()
        && outcome.is_none_or(|o| o == StreamOutcome::Completed);
    let wanted = state.store || state.leader.is_some() || state.semantic.is_some();
    let Some(capture) = ctx
        .response
        .capture
        .as_deref()
        .filter(|_| whole_ok && wanted)
    else {
        // A leader dropped without an answer tells its followers to go on their own.
        state.leader = None;
        return;
    };
    let answer = if stream {
        CachedAnswer::from_stream(ctx.client, capture)
    } else {
        CachedAnswer::from_whole(ctx.client, capture)
    };
    let entry = answer.map(|a| Bytes::from(a.to_bytes()));
    match (state.leader.take(), &entry) {
        (Some(leader), Some(entry)) => leader.land(entry.clone()),
        (leader, _) => drop(leader),
    }
    if state.store || state.semantic.is_some() {
        state.entry = entry;
    }
}

/// In the logging phase: stores the collected entry.
pub async fn store(ctx: &mut RequestCtx) {
    let Some(state) = ctx.cache.as_mut() else {
        return;
    };
    let Some(entry) = state.entry.take() else {
        return;
    };
    if let (Some(semantic), Some((context, vector))) =
        (ctx.runtime.semantic.as_ref(), state.semantic.take())
    {
        semantic.insert(&context, vector, entry.clone());
    }
    if let (true, Some(cache)) = (state.store, ctx.runtime.cache.as_ref()) {
        cache.put(&state.key, entry).await;
    }
}

/// The audit record's and access log's word for the cache.
pub fn audit_label(ctx: &RequestCtx) -> &'static str {
    ctx.cache.as_ref().map_or("none", |s| s.status.as_str())
}

/// Counts a request among the followers while it follows a flight.
struct Following;

impl Following {
    fn start() -> Following {
        CACHE_FOLLOWERS.inc();
        Following
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        CACHE_FOLLOWERS.dec();
    }
}

#[derive(Default)]
struct Directives {
    no_cache: bool,
    no_store: bool,
}

fn cache_control(session: &Session) -> Directives {
    let mut d = Directives::default();
    for value in session
        .req_header()
        .headers
        .get_all(http::header::CACHE_CONTROL)
    {
        for directive in value.to_str().unwrap_or_default().split(',') {
            match directive.trim().to_ascii_lowercase().as_str() {
                "no-cache" => d.no_cache = true,
                "no-store" => d.no_store = true,
                _ => {}
            }
        }
    }
    d
}

fn unix_now() -> u64 {
    crate::state::unix_now().as_secs()
}
