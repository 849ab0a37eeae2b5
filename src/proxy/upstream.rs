//! The upstream phases: pick an endpoint of the planned provider (`upstream_peer`), address the
//! provider (`upstream_request_filter`), and send the body read in `request_filter`
//! (`request_body_filter`). All three run again on every retry.

use super::ctx::{Attempt, RequestCtx};
use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType as PingoraErrorType};
use sluice_filters::translate::UpstreamDialect;
use sluice_filters::ErrorType;
use std::time::{Duration, Instant};

/// How long an idle pooled upstream connection is kept.
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Client headers never forwarded: the client's credentials (the provider gets its own),
/// headers that bind to the provider account, and framing the gateway sets itself.
const STRIPPED_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "openai-organization",
    "openai-project",
    "cookie",
    "accept-encoding",
    "expect",
    "content-length",
    "transfer-encoding",
    "proxy-authorization",
    "anthropic-version",
];

pub fn upstream_peer(ctx: &mut RequestCtx) -> pingora::Result<Box<HttpPeer>> {
    let Some(plan) = ctx.plan.as_ref() else {
        return Error::e_explain(PingoraErrorType::InternalError, "no upstream plan");
    };
    let provider = plan.provider.clone();
    let tried = &ctx.tried;
    let backend = provider.lb.select_with(b"", 256, |backend, healthy| {
        healthy && backend.addr.as_inet().is_some_and(|a| !tried.contains(a))
    });
    let Some((addr, endpoint_index)) = backend.and_then(|b| {
        let addr = *b.addr.as_inet()?;
        let index = provider.resolved_index(&addr)?;
        Some((addr, index))
    }) else {
        ctx.error_type = Some(ErrorType::UpstreamUnreachable);
        return Error::e_explain(
            PingoraErrorType::ConnectNoRoute,
            "no reachable endpoint left for this provider",
        );
    };
    let endpoint = &provider.endpoints[endpoint_index];
    let sni = if endpoint.tls {
        endpoint.host.clone()
    } else {
        String::new()
    };
    let mut peer = HttpPeer::new(addr, endpoint.tls, sni);
    let timeouts = &provider.timeouts;
    peer.options.connection_timeout = Some(timeouts.connect.0);
    peer.options.total_connection_timeout = Some(timeouts.connect.0);
    peer.options.read_timeout = Some(timeouts.read.0);
    peer.options.write_timeout = Some(timeouts.read.0);
    peer.options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);

    ctx.tried.push(addr);
    ctx.attempt = Some(Attempt {
        addr,
        endpoint: endpoint_index,
        started: Instant::now(),
    });
    Ok(Box::new(peer))
}

/// A connect failure is safe to retry (nothing reached the provider): try another endpoint
/// of the same provider while there is one.
pub fn fail_to_connect(ctx: &mut RequestCtx, mut e: Box<Error>) -> Box<Error> {
    let untried_left = ctx
        .plan
        .as_ref()
        .is_some_and(|p| p.provider.resolved_count() > ctx.tried.len());
    if untried_left {
        e.set_retry(true);
    }
    e
}

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
    upstream.set_uri(uri);

    for name in STRIPPED_REQUEST_HEADERS {
        upstream.remove_header(*name);
    }
    let passthrough = plan.passthrough(ctx.client);
    if !passthrough || provider.dialect != UpstreamDialect::Anthropic {
        // Anthropic's beta flags mean nothing to (and may upset) other providers.
        upstream.remove_header("anthropic-beta");
    }
    upstream.insert_header(http::header::HOST, endpoint.host_header.as_str())?;
    if let Some(api_key) = provider.next_api_key() {
        let (name, value) = match provider.dialect {
            UpstreamDialect::OpenAi => (
                http::header::AUTHORIZATION.as_str(),
                format!("Bearer {api_key}"),
            ),
            UpstreamDialect::Azure => ("api-key", api_key.to_owned()),
            UpstreamDialect::Anthropic => ("x-api-key", api_key.to_owned()),
            UpstreamDialect::Gemini => ("x-goog-api-key", api_key.to_owned()),
        };
        let mut value = http::HeaderValue::try_from(value)
            .map_err(|e| Error::because(PingoraErrorType::InternalError, "provider key", e))?;
        value.set_sensitive(true);
        upstream.insert_header(name, value)?;
    }
    if provider.dialect == UpstreamDialect::Anthropic {
        upstream.insert_header("anthropic-version", provider.anthropic_version.as_str())?;
    }
    upstream.insert_header(http::header::CONTENT_LENGTH, plan.body.len().to_string())?;
    upstream.insert_header(http::header::CONTENT_TYPE, "application/json")?;
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
