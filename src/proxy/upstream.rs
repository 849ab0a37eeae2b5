//! The upstream phases: pick an endpoint of the planned provider (`upstream_peer`), address the
//! provider (`upstream_request_filter`), and send the body read in `request_filter`
//! (`request_body_filter`). All three run again on every retry.

use super::ctx::{Attempt, RequestCtx};
use super::failover;
use super::headers::{edit_request, header_value, ANTHROPIC_VERSION, IDEMPOTENCY_KEY};
use crate::routing::Provider;
use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;
use pingora::ErrorSource;
use pingora::{Error, ErrorType as PingoraErrorType};
use sluice_filters::resilience::{AttemptFailure, Step};
use sluice_filters::translate::UpstreamDialect;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long an idle pooled upstream connection is kept.
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn upstream_peer(ctx: &mut RequestCtx) -> pingora::Result<Box<HttpPeer>> {
    loop {
        let now = crate::clock::now_ms();
        let live = failover::Live {
            candidates: &ctx.candidates,
            now_ms: now,
        };
        let jitter: f64 = rand::random();
        let candidate = match ctx.failover.next(ctx.started.elapsed(), jitter, &live) {
            Step::Attempt(c) => c,
            Step::Wait(wait) => {
                tokio::time::sleep(wait).await;
                continue;
            }
            Step::GiveUp(error_type, retry_after) => {
                ctx.error_type = Some(error_type);
                ctx.retry_after = retry_after;
                return Error::e_explain(
                    PingoraErrorType::ConnectNoRoute,
                    "no endpoint left to try for this request",
                );
            }
        };
        if !failover::switch_to(ctx, candidate) {
            continue;
        }
        let Some(plan) = ctx.plan.as_ref() else {
            return Error::e_explain(PingoraErrorType::InternalError, "no upstream plan");
        };
        let provider = plan.provider.clone();
        let (tried, tried_keys) = ctx.failover.tried();
        let adaptive = plan.model.adaptive.as_ref();
        let endpoint = provider.select_endpoint(now, tried, adaptive.is_some());
        let key = if provider.needs_key() {
            provider.pick_key(now, tried_keys).map(|(i, _)| Some(i))
        } else {
            Some(None)
        };
        let (Some((addr, endpoint, endpoint_load)), Some(key)) = (endpoint, key) else {
            // What the plan saw as usable was taken meanwhile (a breaker's one probe).
            ctx.failover.pass_over();
            continue;
        };
        let peer = build_peer(&provider, addr, endpoint, plan.stream);
        ctx.failover.attempt_started();
        let target_load = adaptive.and_then(|a| a.start(plan.target));
        ctx.attempt = Some(Attempt {
            addr,
            endpoint,
            key,
            started: Instant::now(),
            endpoint_load,
            target_load,
        });
        return Ok(Box::new(peer));
    }
}

pub fn build_peer(
    provider: &Provider,
    addr: SocketAddr,
    endpoint: usize,
    stream: bool,
) -> HttpPeer {
    let endpoint = &provider.endpoints[endpoint];
    let sni = if endpoint.tls {
        endpoint.host.clone()
    } else {
        String::new()
    };
    let mut peer = HttpPeer::new(addr, endpoint.tls, sni);
    let timeouts = &provider.timeouts;
    // One read timeout per connection: a stream's chunks should flow, a whole answer arrives
    // when the model is done.
    let read = if stream {
        timeouts.idle.0
    } else {
        timeouts.first_byte.0
    };
    peer.options.connection_timeout = Some(timeouts.connect.0);
    peer.options.total_connection_timeout = Some(timeouts.connect.0);
    peer.options.read_timeout = Some(read);
    peer.options.write_timeout = Some(read);
    peer.options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);
    peer
}

/// A connect failure is always safe to retry: nothing reached the provider.
pub fn fail_to_connect(ctx: &mut RequestCtx, mut e: Box<Error>) -> Box<Error> {
    if crate::open_files::exhausted(&e) {
        // The gateway's own shortage: not the endpoint's failure, and no other attempt would
        // fare better.
        crate::open_files::log_shortage(crate::clock::now_ms());
        ctx.attempt = None;
        ctx.error_type = Some(sluice_filters::ErrorType::GatewayBusy);
        ctx.retry_after = Some(std::time::Duration::from_secs(1));
        e.set_retry(false);
        return e;
    }
    let retry = failover::attempt_failed(ctx, AttemptFailure::Connect);
    e.set_retry(retry);
    e
}

/// An error after connecting, before anything reached the client, is retried when the
/// provider is to blame (the 0.9.1 default never retries a POST).
pub fn error_while_proxy(
    ctx: &mut RequestCtx,
    mut e: Box<Error>,
    response_started: bool,
    client_reused: bool,
) -> Box<Error> {
    if std::mem::take(&mut ctx.retry_pending) {
        e.set_retry(true);
        return e;
    }
    if response_started || ctx.attempt.is_none() || e.esource() == &ErrorSource::Downstream {
        e.set_retry(false);
        return e;
    }
    let failure = match e.etype() {
        PingoraErrorType::ReadTimedout | PingoraErrorType::WriteTimedout => {
            AttemptFailure::FirstByteTimeout
        }
        _ => AttemptFailure::ConnectionLost {
            reused: client_reused,
        },
    };
    let retry = failover::attempt_failed(ctx, failure);
    e.set_retry(retry);
    e
}

/// Addresses the provider: its path, only the client headers it may see, and the gateway's own
/// host, credential, version and framing.
pub fn upstream_request_filter(
    upstream: &mut RequestHeader,
    ctx: &mut RequestCtx,
) -> pingora::Result<()> {
    let (Some(plan), Some(attempt)) = (ctx.plan.as_ref(), ctx.attempt.as_ref()) else {
        return Error::e_explain(PingoraErrorType::InternalError, "no upstream attempt");
    };
    let provider = &plan.provider;
    let endpoint = &provider.endpoints[attempt.endpoint];

    let mut path = String::with_capacity(endpoint.base_path.len() + plan.path.len());
    path.push_str(&endpoint.base_path);
    path.push_str(&plan.path);
    let uri = http::Uri::try_from(path)
        .map_err(|e| Error::because(PingoraErrorType::InternalError, "upstream path", e))?;
    let same_dialect = plan.passthrough(ctx.client);
    let credential = match attempt.key {
        Some(k) => match provider.auth_value(k) {
            Some(credential) => Some(credential),
            None => {
                return Error::e_explain(
                    PingoraErrorType::InternalError,
                    "provider key is not a valid header value",
                )
            }
        },
        None => None,
    };
    // Host, credential, version, idempotency key, length, type.
    edit_request(upstream, 6, |parts| {
        parts.uri = uri;
        let headers = &mut parts.headers;
        // An Anthropic client speaking to an Anthropic provider chose its API version for the
        // body it sent (newer features need newer versions): it is kept when it looks like one.
        let client_version = headers
            .get(ANTHROPIC_VERSION)
            .filter(|v| same_dialect && is_api_version(v.as_bytes()))
            .cloned();
        forward_only_allowed_headers(headers, provider, same_dialect);
        scope_idempotency_key(headers, ctx)?;
        headers.insert(http::header::HOST, header_value(&endpoint.host_header)?);
        if let Some((name, value)) = credential {
            headers.insert(name.clone(), value.clone());
        }
        if provider.dialect == UpstreamDialect::Anthropic {
            let version = match client_version {
                Some(version) => version,
                None => header_value(&provider.anthropic_version)?,
            };
            headers.insert(ANTHROPIC_VERSION, version);
        }
        headers.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(plan.body.len()),
        );
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        Ok(())
    })
}

/// An API version date, `YYYY-MM-DD`.
fn is_api_version(b: &[u8]) -> bool {
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// Keeps only the client headers the provider's allow-list names (see `ForwardHeaders` for why
/// an allow-list and not a strip list): the kept ones move into a fresh map, none is copied.
fn forward_only_allowed_headers(headers: &mut http::HeaderMap, provider: &Provider, same: bool) {
    let client = std::mem::take(headers);
    headers.reserve(client.len() + 6);
    let mut keep = false;
    let mut current: Option<http::HeaderName> = None;
    for (name, value) in client {
        // `None`: another value of the name before it.
        if let Some(name) = name {
            keep = provider
                .forward_headers
                .allows(provider.dialect, name.as_str(), same);
            current = Some(name);
        }
        if let (true, Some(name)) = (keep, current.as_ref()) {
            headers.append(name.clone(), value);
        }
    }
}

/// A client's `Idempotency-Key` is scoped to its virtual key before it reaches the provider:
/// every tenant shares the gateway's provider account, so two tenants' keys must never meet.
fn scope_idempotency_key(headers: &mut http::HeaderMap, ctx: &RequestCtx) -> pingora::Result<()> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(());
    };
    let scoped = match (value.to_str(), ctx.key.as_ref()) {
        (Ok(value), Some(key)) => format!("{}-{value}", key.idempotency_scope),
        _ => {
            headers.remove(IDEMPOTENCY_KEY);
            return Ok(());
        }
    };
    headers.insert(IDEMPOTENCY_KEY, header_value(&scoped)?);
    Ok(())
}

/// Emits the planned body exactly once per attempt, when Pingora replays the retry buffer's
/// tail (`end_of_stream`); every other chunk was already read into the plan and is swallowed.
/// `Some(empty)` and not `None`: `None` would end the upstream body early.
pub fn request_body_filter(body: &mut Option<Bytes>, end_of_stream: bool, ctx: &RequestCtx) {
    if end_of_stream {
        *body = ctx.plan.as_ref().map(|p| p.body.clone());
    } else {
        *body = Some(Bytes::new());
    }
}
