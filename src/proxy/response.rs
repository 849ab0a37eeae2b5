//! The response phases. When the provider's header arrives, decide how its body is handled
//! (`ResponseMode`): passed through, translated as a stream, translated whole, translated as an
//! error, or replaced. Then label the response and run the body through that mode, chunk by
//! chunk, never holding a stream back.

use super::ctx::{RequestCtx, ResponseMode};
use super::failover;
use super::headers::{
    edit_response, header_value, X_SLUICE_ATTEMPTS, X_SLUICE_MODEL, X_SLUICE_PROVIDER,
    X_SLUICE_REQUEST_ID,
};
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::{Error, ErrorType as PingoraErrorType};
use sluice_filters::canonical::FailureKind;
use sluice_filters::guard::GuardChain;
use sluice_filters::resilience::AttemptFailure;
use sluice_filters::translate::{
    gateway_error_body, response_usage, translate_error, translate_response, ClientDialect,
    ResponseSpec, StreamSpec, StreamTranslator,
};
use sluice_filters::ErrorType;
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

/// A whole (non-streamed) body larger than this is not buffered for translation.
const MAX_TRANSLATED_BODY: usize = 64 << 20;

pub fn upstream_response_filter(
    upstream: &ResponseHeader,
    ctx: &mut RequestCtx,
) -> pingora::Result<()> {
    let status = upstream.status.as_u16();
    ctx.response.upstream_status = Some(status);
    if status >= 400 {
        let failure = AttemptFailure::Status {
            status,
            retry_after: retry_after(upstream),
        };
        if failover::attempt_failed(ctx, failure) {
            // Nothing reached the client yet: end this attempt, the next goes elsewhere.
            ctx.retry_pending = true;
            return Error::e_explain(
                PingoraErrorType::HTTPStatus(status),
                "retryable upstream status; trying elsewhere",
            );
        }
    } else {
        failover::attempt_succeeded(ctx);
    }
    let Some(plan) = ctx.plan.as_ref() else {
        return Ok(());
    };
    let passthrough = plan.passthrough(ctx.client);
    let mode = if status == 401 || status == 403 {
        // The provider refused sluice's own credentials. Passing that on would tell the client
        // its (valid) virtual key is wrong, and providers echo fragments of the rejected key.
        let message = format!(
            "the upstream provider '{}' rejected the gateway's credentials (status {status}); check the provider's api_keys",
            plan.provider.name
        );
        ctx.error_type = Some(ErrorType::UpstreamAuthFailed);
        ResponseMode::Replace {
            body: Some(Bytes::from(gateway_error_body(
                ctx.client,
                ErrorType::UpstreamAuthFailed,
                &message,
                None,
            ))),
        }
    } else if status >= 400 {
        if passthrough {
            ResponseMode::Passthrough { kept: None }
        } else {
            ResponseMode::TranslateError {
                buffer: Vec::new(),
                status,
            }
        }
    } else if plan.stream {
        let guard = super::guard::screens_answers(ctx)
            .then(|| ctx.guard.take())
            .flatten()
            .map(GuardChain::into_stream);
        ResponseMode::Stream(Box::new(StreamTranslator::guarded(
            StreamSpec {
                client: ctx.client,
                upstream: plan.wire,
                id: &ctx.request_id,
                model: plan.upstream_model(),
                created: unix_now(),
                client_wants_usage: plan.client_wants_usage,
                json_tool: plan.json_tool,
                price: Some(plan.model.price_of(plan.target)),
                request: &ctx.client_body,
            },
            guard,
        )))
    } else if passthrough && !super::guard::screens_answers(ctx) {
        ResponseMode::Passthrough {
            kept: Some(Vec::new()),
        }
    } else {
        ResponseMode::Translate {
            buffer: Vec::new(),
            passthrough,
        }
    };
    ctx.response.mode = Some(mode);
    super::cache::open_tape(ctx, status);
    if status < 300 && ctx.plan.as_ref().is_some_and(|p| p.stream) && !ctx.counted_as_stream {
        ctx.counted_as_stream = true;
        ctx.runtime.in_flight.stream_started();
    }
    Ok(())
}

/// `retry-after` (seconds or an HTTP date) or `retry-after-ms`, as a duration.
fn retry_after(response: &ResponseHeader) -> Option<Duration> {
    let header = |name: &str| response.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    let value = header("retry-after")?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return Some(Duration::from_secs_f64(secs.max(0.0)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// The sluice headers every answer from upstream gets, and its framing when its body changes.
pub fn response_filter(response: &mut ResponseHeader, ctx: &RequestCtx) -> pingora::Result<()> {
    // Ours (4), the cache's (1), the rate windows' (6), the framing's (3).
    edit_response(response, 14, |parts| label_response(parts, ctx))
}

fn label_response(parts: &mut http::response::Parts, ctx: &RequestCtx) -> pingora::Result<()> {
    let headers = &mut parts.headers;
    if let Some(plan) = ctx.plan.as_ref() {
        // Header values validated at load, not per response.
        let provider = match &plan.provider.name_value {
            Some(value) => value.clone(),
            None => header_value(&plan.provider.name)?,
        };
        headers.insert(X_SLUICE_PROVIDER, provider);
        let model = match &plan.model.targets[plan.target].model_value {
            Some(value) => value.clone(),
            None => header_value(plan.upstream_model())?,
        };
        headers.insert(X_SLUICE_MODEL, model);
    }
    headers.insert(X_SLUICE_REQUEST_ID, header_value(&ctx.request_id)?);
    headers.insert(
        X_SLUICE_ATTEMPTS,
        http::HeaderValue::from(ctx.attempts.len()),
    );
    super::cache::label(headers, ctx);
    super::governance::add_rate_headers(headers, ctx);
    let content_type = match &ctx.response.mode {
        None | Some(ResponseMode::Passthrough { .. }) => return Ok(()),
        Some(ResponseMode::Replace { body }) => {
            parts.status = status_code(ErrorType::UpstreamAuthFailed.status())?;
            headers.remove(http::header::TRANSFER_ENCODING);
            let len = body.as_ref().map_or(0, Bytes::len);
            headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
            headers.insert(http::header::CONTENT_TYPE, APPLICATION_JSON);
            return Ok(());
        }
        Some(ResponseMode::TranslateError { status, .. }) => {
            let kind = FailureKind::from_status(*status);
            let mapped = match ctx.client {
                ClientDialect::OpenAi | ClientDialect::Responses => kind.openai_status(*status),
                ClientDialect::Anthropic => kind.anthropic_status(*status),
            };
            parts.status = status_code(mapped)?;
            APPLICATION_JSON
        }
        Some(ResponseMode::Translate { .. }) => APPLICATION_JSON,
        Some(ResponseMode::Stream(_)) => {
            headers.insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-cache"),
            );
            http::HeaderValue::from_static("text/event-stream; charset=utf-8")
        }
    };
    // The body changes length: send it chunked (pingora needs HTTP/1.1 for that).
    headers.remove(http::header::CONTENT_LENGTH);
    headers.insert(
        http::header::TRANSFER_ENCODING,
        http::HeaderValue::from_static("chunked"),
    );
    headers.insert(http::header::CONTENT_TYPE, content_type);
    parts.version = http::Version::HTTP_11;
    Ok(())
}

const APPLICATION_JSON: http::HeaderValue = http::HeaderValue::from_static("application/json");

fn status_code(status: u16) -> pingora::Result<http::StatusCode> {
    http::StatusCode::from_u16(status)
        .map_err(|e| Error::because(PingoraErrorType::InternalError, "response status", e))
}

pub fn response_body_filter(body: &mut Option<Bytes>, end_of_stream: bool, ctx: &mut RequestCtx) {
    let stream = matches!(ctx.response.mode, Some(ResponseMode::Stream(_)));
    // The raw chunk, for the followers of this request's flight, each in its own dialect.
    super::cache::record(ctx, body.as_ref(), end_of_stream);
    translate_body(body, end_of_stream, ctx);
    if ctx.response.capture.is_some() {
        ctx.response.keep(body.as_ref());
        if end_of_stream {
            let outcome = match &ctx.response.mode {
                Some(ResponseMode::Stream(t)) => Some(t.outcome()),
                _ => None,
            };
            super::cache::collect(ctx, stream, outcome);
            // The turn is readable the moment its last byte goes out.
            ctx.held_turn = if ctx.thread.is_some() {
                super::threads::hold(ctx, stream)
            } else {
                super::stored_responses::hold(ctx, stream)
            };
        }
    }
}

/// Runs the body through the response's mode.
fn translate_body(body: &mut Option<Bytes>, end_of_stream: bool, ctx: &mut RequestCtx) {
    let Some(mode) = ctx.response.mode.as_mut() else {
        return;
    };
    match mode {
        ResponseMode::Passthrough { kept } => {
            let Some(kept) = kept else { return };
            if let Some(chunk) = body.as_ref() {
                kept.push(chunk.clone());
            }
            if end_of_stream {
                let whole = concat(kept);
                if let Some(plan) = ctx.plan.as_ref() {
                    ctx.response.usage = response_usage(plan.wire, &whole);
                }
                kept.clear();
            }
        }
        ResponseMode::Stream(translator) => {
            ctx.response.scratch.clear();
            if let Some(chunk) = body.as_ref() {
                translator.push(chunk, &mut ctx.response.scratch);
            }
            if end_of_stream {
                translator.finish(&mut ctx.response.scratch);
                ctx.response.usage = Some(translator.usage());
                if translator.guard().is_some_and(|g| g.blocked().is_some()) {
                    ctx.error_type = Some(ErrorType::PolicyBlocked);
                }
            }
            *body = Some(Bytes::copy_from_slice(&ctx.response.scratch));
        }
        ResponseMode::Translate {
            buffer,
            passthrough,
        } => {
            let overflow = take_into(buffer, body);
            if !end_of_stream && !overflow {
                return;
            }
            let Some(plan) = ctx.plan.as_ref() else {
                return;
            };
            let buffer = std::mem::take(buffer);
            if *passthrough && !overflow {
                ctx.response.usage = response_usage(plan.wire, &buffer);
                let out = screened(ctx, buffer);
                *body = Some(Bytes::from(out));
                ctx.response.mode = Some(ResponseMode::Replace { body: None });
                return;
            }
            let spec = ResponseSpec {
                client: ctx.client,
                upstream: plan.wire,
                id: &ctx.request_id,
                model: plan.upstream_model(),
                created: unix_now(),
                json_tool: plan.json_tool,
                request: &ctx.client_body,
            };
            let out = if overflow {
                Err("the upstream response is too large to translate".to_owned())
            } else {
                translate_response(&spec, &buffer)
            };
            let out = match out {
                Ok((translated, usage)) => {
                    ctx.response.usage = Some(usage);
                    screened(ctx, translated)
                }
                Err(message) => {
                    // The status is already on its way; the body says what went wrong.
                    ctx.error_type = Some(ErrorType::UpstreamError);
                    gateway_error_body(ctx.client, ErrorType::UpstreamError, &message, None)
                }
            };
            *body = Some(Bytes::from(out));
            ctx.response.mode = Some(ResponseMode::Replace { body: None });
        }
        ResponseMode::TranslateError { buffer, status } => {
            let overflow = take_into(buffer, body);
            if !end_of_stream && !overflow {
                return;
            }
            let Some(plan) = ctx.plan.as_ref() else {
                return;
            };
            let reply = translate_error(ctx.client, plan.wire, *status, buffer, None);
            *body = Some(Bytes::from(reply.body));
            ctx.response.mode = Some(ResponseMode::Replace { body: None });
        }
        ResponseMode::Replace { body: replacement } => {
            // Emitted once, on the first call; the provider's own bytes are swallowed.
            *body = Some(replacement.take().unwrap_or_default());
        }
    }
}

/// A whole answer after the response guardrails: redacted, or, when a blocking rule matched,
/// an error naming the rule in the client's dialect (the status is already on its way).
fn screened(ctx: &mut RequestCtx, answer: Vec<u8>) -> Vec<u8> {
    match super::guard::screen_answer(ctx, &answer) {
        Ok(None) => answer,
        Ok(Some(redacted)) => redacted,
        Err(blocked) => {
            ctx.error_type = Some(ErrorType::PolicyBlocked);
            let message = format!(
                "the response was blocked by guardrail rule '{}'",
                blocked.rule
            );
            gateway_error_body(ctx.client, ErrorType::PolicyBlocked, &message, None)
        }
    }
}

/// Moves a chunk into the buffer (the client gets nothing yet); true once it is too large.
fn take_into(buffer: &mut Vec<u8>, body: &mut Option<Bytes>) -> bool {
    if let Some(chunk) = body.take() {
        buffer.extend_from_slice(&chunk);
    }
    *body = Some(Bytes::new());
    buffer.len() > MAX_TRANSLATED_BODY
}

fn concat(chunks: &[Bytes]) -> Bytes {
    match chunks {
        [] => Bytes::new(),
        [one] => one.clone(),
        many => {
            let mut all = Vec::with_capacity(many.iter().map(Bytes::len).sum());
            for c in many {
                all.extend_from_slice(c);
            }
            Bytes::from(all)
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
