//! The `logging` phase: one access-log line and the request metrics, for every request,
//! whatever way it ended.

use super::ctx::RequestCtx;
use super::errors::classify;
use crate::telemetry::metrics::{REQUESTS, REQUEST_DURATION, TOKENS, UPSTREAM_DURATION};
use log::info;
use pingora::proxy::Session;
use pingora::Error;

pub fn log_request(session: &Session, e: Option<&Error>, ctx: &mut RequestCtx) {
    if ctx.error_type.is_none() {
        ctx.error_type = e.and_then(classify);
    }
    let status = session.response_written().map(|r| r.status);
    let status_label = status.as_ref().map_or("0", |s| s.as_str());
    let error_type = match ctx.error_type {
        Some(t) => t.as_str(),
        None if ctx.upstream_status.is_some_and(|s| s >= 400) => "upstream_error",
        None => "none",
    };
    let route = ctx.route_label();
    let model = ctx.model_label();
    REQUESTS
        .with_label_values(&[route, model, status_label, error_type])
        .inc();
    let elapsed = ctx.started.elapsed();
    REQUEST_DURATION
        .with_label_values(&[route, model])
        .observe(elapsed.as_secs_f64());

    let provider = ctx.plan.as_ref().map_or("-", |p| p.provider.name.as_str());
    let stream = ctx.plan.as_ref().is_some_and(|p| p.stream);
    // Every attempt: provider@endpoint:outcome:milliseconds.
    let mut trail = String::new();
    for (i, a) in ctx.attempts.iter().enumerate() {
        if i > 0 {
            trail.push(',');
        }
        trail.push_str(&format!(
            "{}@{}:{}:{:.0}",
            a.provider, a.endpoint, a.outcome, a.millis
        ));
    }
    if trail.is_empty() {
        trail.push('-');
    }
    let mut upstream_ms = -1.0;
    if let Some(attempt) = ctx.attempt.as_ref() {
        let upstream = attempt.started.elapsed();
        upstream_ms = upstream.as_secs_f64() * 1000.0;
        let upstream_status = ctx
            .upstream_status
            .and_then(|s| http::StatusCode::from_u16(s).ok());
        UPSTREAM_DURATION
            .with_label_values(&[
                provider,
                upstream_status.as_ref().map_or("0", |s| s.as_str()),
            ])
            .observe(upstream.as_secs_f64());
    }
    let (usage, estimated) = ctx.billable_usage().unwrap_or_default();
    if !usage.is_empty() {
        for (kind, count) in [
            ("input", usage.input),
            ("cache_read", usage.cache_read),
            ("cache_write", usage.cache_write),
            ("output", usage.output),
            ("reasoning", usage.reasoning),
        ] {
            if count > 0 {
                TOKENS
                    .with_label_values(&[provider, model, kind])
                    .inc_by(count);
            }
        }
    }
    info!(
        target: "access",
        "{} {} status={} model={} provider={} stream={} key={} error_type={} attempts={} trail={} tokens_in={} tokens_cached={} tokens_out={} usage_estimated={} upstream_ms={:.1} total_ms={:.1}",
        session.req_header().method,
        route,
        status_label,
        model,
        provider,
        stream,
        ctx.key_name.as_deref().unwrap_or("-"),
        error_type,
        ctx.attempts.len(),
        trail,
        usage.prompt_total(),
        usage.cache_read,
        usage.output,
        estimated,
        upstream_ms,
        elapsed.as_secs_f64() * 1000.0,
    );
}
