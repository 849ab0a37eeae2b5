//! The response phases: note the provider's status, label the response with where it went,
//! and pass the body through untouched (streams chunk by chunk, as they arrive). The one
//! rewrite: a provider rejecting sluice's own credentials becomes a gateway error, because
//! forwarding a 401 would tell the client its (valid) virtual key is wrong, and providers echo
//! fragments of the rejected key in that body.

use super::ctx::RequestCtx;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use sluice_filters::api::openai::error_body;
use sluice_filters::ErrorType;

pub fn upstream_response_filter(upstream: &ResponseHeader, ctx: &mut RequestCtx) {
    let status = upstream.status.as_u16();
    ctx.upstream_status = Some(status);
    if status == 401 || status == 403 {
        let provider = ctx.plan.as_ref().map_or("", |p| p.provider.name.as_str());
        let message = format!(
            "the upstream provider '{provider}' rejected the gateway's credentials (status {status}); check the provider's api_keys"
        );
        ctx.error_type = Some(ErrorType::UpstreamAuthFailed);
        ctx.replacement_body = Some(Bytes::from(error_body(
            ErrorType::UpstreamAuthFailed,
            &message,
            None,
        )));
    }
}

pub fn response_filter(response: &mut ResponseHeader, ctx: &RequestCtx) -> pingora::Result<()> {
    if let Some(plan) = ctx.plan.as_ref() {
        response.insert_header("x-sluice-provider", plan.provider.name.as_str())?;
        response.insert_header("x-sluice-model", plan.upstream_model())?;
    }
    if let Some(body) = ctx.replacement_body.as_ref() {
        response.set_status(ErrorType::UpstreamAuthFailed.status())?;
        response.remove_header(&http::header::TRANSFER_ENCODING);
        response.insert_header(http::header::CONTENT_TYPE, "application/json")?;
        response.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
    }
    Ok(())
}

pub fn response_body_filter(body: &mut Option<Bytes>, ctx: &mut RequestCtx) {
    if ctx.replacement_body.is_some() {
        // Emit the replacement once (on the first call), then swallow the provider's bytes.
        *body = Some(ctx.replacement_body.take().unwrap_or_default());
        ctx.replacement_sent = true;
    } else if ctx.replacement_sent {
        *body = Some(Bytes::new());
    }
}
