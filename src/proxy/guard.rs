//! Guardrails in the request and response phases: the request body is scanned once, after it
//! is read and before anything is stored or sent (so the audit log, the conversation store and
//! every provider see only the redacted text); answers are scanned whole or, streamed, event
//! by event (`StreamTranslator::guarded`). Findings are counted by rule, detector, action and
//! side, never with the matched text.

use super::ctx::RequestCtx;
use crate::routing::{Gateway, Model, VirtualKey};
use crate::telemetry::metrics::GUARDRAIL_FINDINGS;
use bytes::Bytes;
use sluice_filters::guard::{Action, Blocked, Direction, Finding, GuardChain};
use std::borrow::Cow;

/// Scans the request body with the model's and the key's rules: the body to send on, or the
/// rule that refuses it. Keeps the request's guardrails in `ctx` for the answer.
pub fn screen_request(
    ctx: &mut RequestCtx,
    gateway: &Gateway,
    model: &Model,
    key: &VirtualKey,
    body: Bytes,
) -> Result<Bytes, Blocked> {
    let policies =
        std::iter::once(gateway.guards.for_model(&model.name).clone()).chain(key.guard.clone());
    let Some(mut chain) = GuardChain::new(policies) else {
        return Ok(body);
    };
    let screened = chain.redact_body(Direction::Request, &body);
    ctx.guard = Some(chain);
    Ok(screened?.map_or(body, Bytes::from))
}

/// Scans a whole answer (already in the client's dialect): the bytes to send instead, if any.
pub fn screen_answer(ctx: &mut RequestCtx, body: &[u8]) -> Result<Option<Vec<u8>>, Blocked> {
    match ctx.guard.as_mut() {
        Some(chain) if chain.applies(Direction::Response) => {
            chain.redact_body(Direction::Response, body)
        }
        _ => Ok(None),
    }
}

/// Whether answers of this request are scanned.
pub fn screens_answers(ctx: &RequestCtx) -> bool {
    ctx.guard
        .as_ref()
        .is_some_and(|c| c.applies(Direction::Response))
}

/// Counts what the rules found, and says it for the access log and the audit record
/// (`rule/detector:action:side xN`, comma-separated; `-` when nothing).
pub fn report(ctx: &RequestCtx) -> Cow<'static, str> {
    let stream_guard = match &ctx.response.mode {
        Some(super::ctx::ResponseMode::Stream(t)) => t.guard(),
        _ => None,
    };
    // A live follower's stream is translated (and screened) outside the response mode.
    let followed = ctx
        .cache
        .as_ref()
        .and_then(|c| c.followed_findings.as_ref());
    if ctx.guard.is_none() && stream_guard.is_none() && followed.is_none() {
        return Cow::Borrowed("-");
    }
    let findings: Vec<(Direction, Finding)> = match (stream_guard, followed) {
        (Some(guard), _) => guard.findings(),
        (None, Some(followed)) => followed.clone(),
        (None, None) => own_findings(ctx),
    };
    let mut line = String::new();
    for (direction, f) in &findings {
        let side = match direction {
            Direction::Request => "request",
            Direction::Response => "response",
        };
        let action = match f.action {
            Action::Log => "log",
            Action::Redact => "redact",
            Action::Block => "block",
        };
        GUARDRAIL_FINDINGS
            .with_label_values(&[&f.rule, &f.detector, action, side])
            .inc_by(u64::from(f.count));
        if !line.is_empty() {
            line.push(',');
        }
        line.push_str(&format!(
            "{}/{}:{action}:{side}x{}",
            f.rule, f.detector, f.count
        ));
    }
    if line.is_empty() {
        line.push('-');
    }
    Cow::Owned(line)
}

fn own_findings(ctx: &RequestCtx) -> Vec<(Direction, Finding)> {
    ctx.guard
        .as_ref()
        .map(|c| c.findings().to_vec())
        .unwrap_or_default()
}
