//! `request_filter`: match the route, authenticate the virtual key, read and validate the body,
//! authorize the model and pick its target. Everything the client did wrong is answered here,
//! before a provider is contacted.

use super::body::{self, BodyError};
use super::body_budget::BodyReservation;
use super::ctx::RequestCtx;
use super::errors::{reject, respond_error, store_unavailable, write_json};
use super::failover;
use super::governance;
use crate::routing::{Gateway, VirtualKey};
use bytes::Bytes;
use pingora::proxy::Session;
use sluice_filters::api::openai::{
    model_list_body, model_object_body, ChatRequest, EmbeddingsRequest, ResponsesRequest,
};
use sluice_filters::api::route::{match_route, Route, RouteMatch};
use sluice_filters::api::shape::{self, BodyKind};
use sluice_filters::api::RequestError;
use sluice_filters::translate::{estimate_input_tokens, UpstreamDialect};
use sluice_filters::ErrorType;
use std::sync::Arc;

/// Longest client-sent model name echoed back in an error message.
const MAX_ECHOED_NAME: usize = 200;

pub async fn request_filter(
    gateway: Arc<Gateway>,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> pingora::Result<bool> {
    ctx.gateway = Some(gateway.clone());
    ctx.request_id = new_request_id();

    let header = session.req_header();
    let (route, model_id) = match match_route(header.method.as_str(), header.uri.path()) {
        RouteMatch::Found(route) => (route, None),
        RouteMatch::Model(id) => (Route::GetModel, Some(id.to_owned())),
        RouteMatch::StoredResponse(route, id) => (route, Some(id.to_owned())),
        RouteMatch::MethodNotAllowed(allow) => {
            let message = format!("this endpoint only accepts {allow}");
            return respond_error(
                session,
                ctx,
                ErrorType::MethodNotAllowed,
                &message,
                None,
                &[("allow", allow)],
                true,
            )
            .await;
        }
        RouteMatch::NotFound => {
            let message = format!(
                "unknown route {} {}; sluice serves /v1/chat/completions, /v1/messages, /v1/embeddings and /v1/models",
                header.method,
                truncate(header.uri.path())
            );
            return respond_error(
                session,
                ctx,
                ErrorType::RouteNotFound,
                &message,
                None,
                &[],
                true,
            )
            .await;
        }
    };
    ctx.route = Some(route);
    ctx.client = route.client_dialect();
    if route == Route::Root {
        // A reachability probe: answered without a key, and saying nothing about the config.
        let body = Bytes::from_static(b"{\"status\":\"ok\",\"service\":\"sluice\"}");
        write_json(session, 200, body, &[], false).await?;
        return Ok(true);
    }

    let key = match authenticate(session, &gateway) {
        Ok(key) => key,
        Err((error_type, message)) => {
            let close = route.is_proxied();
            return respond_error(session, ctx, error_type, message, None, &[], close).await;
        }
    };
    ctx.key = Some(key.clone());

    match route {
        Route::ListModels => {
            let body = model_list_body(gateway.models_for(&key), gateway.created);
            write_json(session, 200, Bytes::from(body), &[], false).await?;
            Ok(true)
        }
        Route::GetModel => {
            let id = model_id.unwrap_or_default();
            if gateway.models.contains_key(&id) && key.may_use(&id) {
                let body = model_object_body(&id, gateway.created);
                write_json(session, 200, Bytes::from(body), &[], false).await?;
                Ok(true)
            } else {
                let message = format!("The model '{}' does not exist", truncate(&id));
                reject(
                    session,
                    ctx,
                    ErrorType::ModelNotFound,
                    &message,
                    Some("model"),
                )
                .await
            }
        }
        Route::GetResponse | Route::DeleteResponse | Route::ResponseInputItems => {
            let id = model_id.unwrap_or_default();
            super::stored_responses::serve(session, ctx, route, &id).await
        }
        _ => proxied_request(gateway, key, route, session, ctx).await,
    }
}

async fn proxied_request(
    gateway: Arc<Gateway>,
    key: Arc<VirtualKey>,
    route: Route,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> pingora::Result<bool> {
    if governance::refuse_early(session, ctx).await? {
        return Ok(true);
    }
    let limit = gateway.max_request_body;
    let read = match body::precheck(session, limit) {
        Ok(content_length) => {
            // A body without a length is at most the retry buffer (larger ones get 411).
            let size = content_length.unwrap_or(body::RETRY_BUFFER_LIMIT);
            match BodyReservation::try_reserve(size, gateway.max_bodies_in_flight) {
                Some(reservation) => ctx.body_reservation = Some(reservation),
                None => return refuse_body(session, ctx, BodyError::Busy).await,
            }
            if expects_continue(session) {
                session.write_continue_response().await?;
            }
            let gap = gateway.client_timeouts.body.0;
            body::read_whole_body(session, content_length, limit, gap).await
        }
        Err(e) => Err(e),
    };
    let body = match read {
        Ok(body) => body,
        Err(e) => return refuse_body(session, ctx, e).await,
    };

    // The fields every dialect shares (model, messages or input, stream), then the shape of
    // the whole body, checked before a target is chosen; the full decode for another dialect
    // happens per attempt.
    // A chat body's top-level scan is kept for the first candidate's plan: scanned once, by
    // the byte walk, since the shape check below decodes the whole body anyway.
    let mut chat = None;
    let model_name = match route {
        Route::Embeddings => EmbeddingsRequest::parse(&body).map(|r| r.model.into_owned()),
        Route::Responses => ResponsesRequest::parse(&body).map(|r| r.model.into_owned()),
        _ => ChatRequest::scan(&body).map(|r| {
            let name = r.model.to_string();
            chat = Some(r);
            name
        }),
    };
    let shape = match route {
        Route::Embeddings => BodyKind::Embeddings,
        Route::Responses => BodyKind::Responses,
        Route::CountTokens => BodyKind::AnthropicCountTokens,
        Route::Messages => BodyKind::AnthropicMessages,
        _ => BodyKind::OpenAiChat,
    };
    let (model_name, checked) =
        match model_name.and_then(|name| Ok((name, shape::check(shape, &body)?))) {
            Ok(parsed) => parsed,
            Err(e) => return refuse_request(session, ctx, e).await,
        };

    let Some(model) = gateway.models.get(&model_name).cloned() else {
        let message = format!(
            "The model '{}' does not exist or is not served by this gateway",
            truncate(&model_name)
        );
        return reject(
            session,
            ctx,
            ErrorType::ModelNotFound,
            &message,
            Some("model"),
        )
        .await;
    };
    ctx.model = Some(model.clone());
    if !key.may_use(&model.name) {
        let message = format!("this API key may not use the model '{}'", model.name);
        return reject(
            session,
            ctx,
            ErrorType::ModelNotAllowed,
            &message,
            Some("model"),
        )
        .await;
    }

    if let Some(asked) = checked
        .max_output_tokens
        .filter(|n| *n > model.max_output_tokens)
    {
        let message = format!(
            "{} is {asked}, more than the {} tokens the model '{}' may generate",
            checked.output_param, model.max_output_tokens, model.name
        );
        return reject(
            session,
            ctx,
            ErrorType::InvalidRequest,
            &message,
            Some(checked.output_param),
        )
        .await;
    }

    // As received: a flight fetch sends it on, to be screened (and its findings logged) there.
    let received = body.clone();
    let body = match super::guard::screen_request(ctx, &gateway, &model, &key, body.clone()) {
        Ok(body) => body,
        Err(blocked) => {
            let message = format!(
                "the request was blocked by guardrail rule '{}'",
                blocked.rule
            );
            return reject(session, ctx, ErrorType::PolicyBlocked, &message, None).await;
        }
    };

    let now = crate::clock::now_ms();
    if !ctx.flight_fetch {
        // A flight fetch is its first client's request, already counted.
        ctx.runtime.retry_budget.deposit(now);
    }
    let first = model.first_target(now, |t| {
        model.targets[t]
            .provider
            .usable_within(now, std::time::Duration::ZERO, &[], &[])
    });
    if route == Route::CountTokens
        && model.targets[first].provider.dialect != UpstreamDialect::Anthropic
    {
        return count_tokens_locally(session, ctx, &body).await;
    }
    if route == Route::Messages {
        if let Err(e) = super::threads::prepare(ctx, &body).await {
            return refuse_thread(session, ctx, e).await;
        }
    }
    if route == Route::Responses {
        if let Err(e) = super::stored_responses::prepare(ctx, &body).await {
            return refuse_stored(session, ctx, e).await;
        }
    }
    let (candidates, plan) = failover::plan(&gateway, &model, first, &key);
    ctx.candidates = candidates;
    ctx.failover = plan;
    ctx.client_body = body;
    // The first candidate's encoding also validates the request in full: a client error is
    // answered here, before any provider is contacted.
    match failover::prepare_plan(ctx, 0, chat.as_ref()) {
        Ok(plan) => ctx.plan = Some(plan),
        Err(e) => return refuse_request(session, ctx, e).await,
    }
    if super::cache::lookup(session, ctx, &model, received).await? {
        return Ok(true);
    }
    let demand = governance::demand(ctx, checked.max_output_tokens);
    governance::admit(session, ctx, &model, demand).await
}

/// A Responses request whose stored conversation cannot be continued.
async fn refuse_stored(
    session: &mut Session,
    ctx: &mut RequestCtx,
    e: super::stored_responses::StoredError,
) -> pingora::Result<bool> {
    use super::stored_responses::StoredError;
    match e {
        StoredError::Invalid(e) => refuse_request(session, ctx, e).await,
        StoredError::NotFound(id) => {
            let message = format!("Previous response with id '{}' not found.", truncate(&id));
            reject(
                session,
                ctx,
                ErrorType::ResponseNotFound,
                &message,
                Some("previous_response_id"),
            )
            .await
        }
        StoredError::Store(message) => store_unavailable(session, ctx, &message).await,
    }
}

/// A threaded request that cannot be served. An unknown message gets Anthropic's
/// `thread_not_found` (in `error.details.error_code`), from which the SDKs recover by sending
/// the whole conversation again as a new thread.
async fn refuse_thread(
    session: &mut Session,
    ctx: &mut RequestCtx,
    e: super::threads::ThreadError,
) -> pingora::Result<bool> {
    use super::threads::ThreadError;
    match e {
        ThreadError::Invalid(e) => refuse_request(session, ctx, e).await,
        ThreadError::NotFound(id) => {
            ctx.error_type = Some(ErrorType::InvalidRequest);
            let body = serde_json::json!({
                "type": "error",
                "error": {
                    "type": "not_found_error",
                    "message": format!("thread message '{}' was not found", truncate(&id)),
                    "details": {"error_code": "thread_not_found"},
                },
                "request_id": ctx.request_id,
            });
            write_json(session, 404, Bytes::from(body.to_string()), &[], false).await?;
            Ok(true)
        }
        ThreadError::Store(message) => store_unavailable(session, ctx, &message).await,
    }
}

async fn refuse_request(
    session: &mut Session,
    ctx: &mut RequestCtx,
    e: RequestError,
) -> pingora::Result<bool> {
    reject(session, ctx, e.error_type, &e.message, e.param.as_deref()).await
}

/// `/v1/messages/count_tokens` for a provider without a counting API: an estimate, marked so.
async fn count_tokens_locally(
    session: &mut Session,
    ctx: &mut RequestCtx,
    body: &[u8],
) -> pingora::Result<bool> {
    match estimate_input_tokens(ctx.client, body) {
        Ok(tokens) => {
            let body = Bytes::from(format!("{{\"input_tokens\":{tokens}}}"));
            write_json(session, 200, body, &[("x-sluice-estimated", "true")], false).await?;
            Ok(true)
        }
        Err(e) => refuse_request(session, ctx, e).await,
    }
}

/// Finds the virtual key in `Authorization: Bearer` (OpenAI SDKs) or `x-api-key` (Anthropic's).
fn authenticate(
    session: &Session,
    gateway: &Gateway,
) -> Result<Arc<VirtualKey>, (ErrorType, &'static str)> {
    let headers = &session.req_header().headers;
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        })
        .filter(|k| !k.is_empty());
    let Some(secret) = presented else {
        return Err((
            ErrorType::MissingApiKey,
            "missing API key: send 'Authorization: Bearer <your sluice key>'",
        ));
    };
    gateway
        .keys
        .lookup(secret)
        .cloned()
        .ok_or((ErrorType::InvalidApiKey, "invalid API key"))
}

async fn refuse_body(
    session: &mut Session,
    ctx: &mut RequestCtx,
    error: BodyError,
) -> pingora::Result<bool> {
    let (error_type, message) = match error {
        BodyError::TooLarge { limit } => (
            ErrorType::RequestTooLarge,
            format!("request body is larger than this gateway's limit of {limit} bytes"),
        ),
        BodyError::LengthRequired => (
            ErrorType::LengthRequired,
            format!(
                "chunked request bodies larger than {} bytes are not supported; send the body with a Content-Length header",
                body::RETRY_BUFFER_LIMIT
            ),
        ),
        BodyError::InvalidLength => (
            ErrorType::InvalidRequest,
            "the Content-Length header is not a valid number".to_owned(),
        ),
        BodyError::Encoded(encoding) => (
            ErrorType::UnsupportedContentEncoding,
            format!("request bodies with Content-Encoding '{}' are not supported; send plain JSON", truncate(&encoding)),
        ),
        BodyError::Busy => {
            let message = "the gateway is holding as many request bodies as it may; retry shortly";
            let headers = [("retry-after", "1")];
            return respond_error(session, ctx, ErrorType::GatewayBusy, message, None, &headers, true)
                .await;
        }
        BodyError::Timeout => (
            ErrorType::ClientTimeout,
            format!(
                "the request body did not arrive in time: nothing came for {} seconds",
                ctx.gateway.as_ref().map_or(0, |g| g.client_timeouts.body.0.as_secs())
            ),
        ),
        BodyError::Invalid => (
            ErrorType::ClientInvalidBody,
            "the request body's framing is broken (a malformed chunk, or fewer bytes than its Content-Length)".to_owned(),
        ),
        BodyError::Disconnected => {
            // Nobody to answer: the error only names the request in the logs.
            ctx.error_type = Some(ErrorType::ClientDisconnected);
            return pingora::Error::e_explain(
                pingora::ErrorType::ConnectionClosed,
                "the client went away while sending its body",
            )
            .map_err(|e| e.into_down());
        }
    };
    respond_error(session, ctx, error_type, &message, None, &[], true).await
}

fn expects_continue(session: &Session) -> bool {
    session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// A random id for the request, also used as the response id when a provider gives none:
/// `sluice-` and 22 letters and digits (about 131 bits).
fn new_request_id() -> String {
    request_id_from(&mut rand::thread_rng())
}

/// Six random bits a character, ten from each `u64`, the two values past the alphabet
/// skipped so every character is equally likely. Sampling `Alphanumeric` drew a 32-bit number
/// a character (about 1k instructions a request).
fn request_id_from(rng: &mut impl rand::RngCore) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const PREFIX: &str = "sluice-";
    const LEN: usize = PREFIX.len() + 22;
    let mut id = String::with_capacity(LEN);
    id.push_str(PREFIX);
    let (mut bits, mut left) = (0u64, 0);
    while id.len() < LEN {
        if left == 0 {
            bits = rng.next_u64();
            left = 10;
        }
        if let Some(&c) = ALPHABET.get((bits & 63) as usize) {
            id.push(char::from(c));
        }
        bits >>= 6;
        left -= 1;
    }
    id
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(MAX_ECHOED_NAME) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::request_id_from;
    use rand::{rngs::StdRng, SeedableRng};
    use std::collections::{HashMap, HashSet};

    #[test]
    fn ids_are_the_prefix_and_22_letters_or_digits_each_equally_likely() {
        let mut rng = StdRng::seed_from_u64(7);
        let ids: Vec<String> = (0..20_000).map(|_| request_id_from(&mut rng)).collect();
        let mut counts: HashMap<char, usize> = HashMap::new();
        for id in &ids {
            let tail = id.strip_prefix("sluice-").unwrap_or_default();
            assert_eq!(tail.len(), 22, "{id}");
            assert!(tail.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
            for c in tail.chars() {
                *counts.entry(c).or_default() += 1;
            }
        }
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
        // 440,000 characters over 62 symbols: about 7,097 each; a fixed seed, so no flakes.
        assert_eq!(counts.len(), 62);
        let expected = 20_000 * 22 / 62;
        for (c, n) in counts {
            assert!(n.abs_diff(expected) < expected / 20, "{c}: {n}");
        }
    }
}
