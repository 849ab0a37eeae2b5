//! Every error the gateway itself produces reaches the client as JSON in the client's dialect
//! (OpenAI or Anthropic) with the status of its `ErrorType`; this file writes them, and
//! classifies Pingora's proxy errors.

use super::ctx::RequestCtx;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorSource};
use sluice_filters::translate::gateway_error_body;
use sluice_filters::ErrorType;

/// Answers the request with a gateway error and records it in `ctx`. `close` drops the
/// connection afterwards, for when the request body was not (fully) read.
pub async fn respond_error(
    session: &mut Session,
    ctx: &mut RequestCtx,
    error_type: ErrorType,
    message: &str,
    param: Option<&str>,
    extra_headers: &[(&'static str, &str)],
    close: bool,
) -> pingora::Result<bool> {
    ctx.error_type = Some(error_type);
    let body = Bytes::from(gateway_error_body(ctx.client, error_type, message, param));
    write_json(session, error_type.status(), body, extra_headers, close).await?;
    Ok(true)
}

/// Answers with a client error once the request was read whole (the connection stays usable).
pub async fn reject(
    session: &mut Session,
    ctx: &mut RequestCtx,
    error_type: ErrorType,
    message: &str,
    param: Option<&str>,
) -> pingora::Result<bool> {
    respond_error(session, ctx, error_type, message, param, &[], false).await
}

/// The conversation store (threads, stored responses) could not be reached: 503, logged with
/// the cause (which the client does not see).
pub async fn store_unavailable(
    session: &mut Session,
    ctx: &mut RequestCtx,
    cause: &str,
) -> pingora::Result<bool> {
    log::error!("conversation store unavailable: {cause}");
    respond_error(
        session,
        ctx,
        ErrorType::StateUnavailable,
        "the gateway cannot reach its conversation store",
        None,
        &[("retry-after", "1")],
        false,
    )
    .await
}

/// Writes a complete JSON response.
pub async fn write_json(
    session: &mut Session,
    status: u16,
    body: Bytes,
    extra_headers: &[(&'static str, &str)],
    close: bool,
) -> pingora::Result<()> {
    let mut resp = ResponseHeader::build(status, Some(3 + extra_headers.len()))?;
    resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    resp.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
    for (name, value) in extra_headers {
        resp.insert_header(*name, *value)?;
    }
    if close {
        session.set_keepalive(None);
    }
    session.write_response_header(Box::new(resp), false).await?;
    session.write_response_body(Some(body), true).await?;
    Ok(())
}

/// What a proxy error means for the client; `None` when the client itself is gone.
pub fn classify(e: &Error) -> Option<ErrorType> {
    use pingora::ErrorType as E;
    match e.esource() {
        ErrorSource::Downstream => return None,
        ErrorSource::Internal => return Some(ErrorType::Internal),
        _ => {}
    }
    Some(match e.etype() {
        E::ConnectTimedout | E::ReadTimedout | E::WriteTimedout | E::TLSHandshakeTimedout => {
            ErrorType::UpstreamTimeout
        }
        E::InternalError => ErrorType::Internal,
        _ => ErrorType::UpstreamUnreachable,
    })
}

/// The client-facing sentence for a request no attempt could serve: how many attempts, the
/// last provider, the last cause; never addresses or keys.
pub fn upstream_message(error_type: ErrorType, ctx: &RequestCtx) -> String {
    if error_type == ErrorType::GatewayBusy {
        return crate::open_files::message();
    }
    let provider = ctx
        .attempts
        .last()
        .map(|a| a.provider.as_str())
        .or_else(|| ctx.plan.as_ref().map(|p| p.provider.name.as_str()))
        .unwrap_or("");
    let cause = match error_type {
        ErrorType::UpstreamTimeout => "did not answer in time",
        ErrorType::UpstreamUnreachable => "could not be reached",
        ErrorType::UpstreamRateLimited => "is rate limiting the gateway",
        ErrorType::UpstreamOverloaded => "is overloaded",
        ErrorType::UpstreamAuthFailed => "rejected the gateway's credentials",
        _ => "failed",
    };
    match ctx.attempts.len() {
        0 => format!("the upstream provider '{provider}' {cause}"),
        1 => format!("the upstream provider '{provider}' {cause}"),
        n => format!("all {n} attempts failed; the last provider tried, '{provider}', {cause}"),
    }
}
