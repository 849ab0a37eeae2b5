//! The `logging` phase: one access-log line, one audit record and the request metrics, for
//! every request, whatever way it ended.

use super::ctx::RequestCtx;
use super::errors::classify;
use super::governance::Charge;
use crate::telemetry::audit::AuditRecord;
use crate::telemetry::metrics::{REQUESTS, REQUEST_DURATION, TOKENS, UPSTREAM_DURATION};
use pingora::proxy::Session;
use pingora::Error;
use sluice_filters::canonical::Usage;
use sluice_filters::governance::{rfc3339_millis, Rfc3339Millis};
use sluice_filters::log_line::{push_millionths, push_tenths, push_u64};
use std::fmt::Write as _;

pub fn log_request(session: &Session, e: Option<&Error>, ctx: &mut RequestCtx, charge: &Charge) {
    if ctx.error_type.is_none() {
        ctx.error_type = e.and_then(classify);
    }
    let status = session.response_written().map(|r| r.status);
    let status_label = status.as_ref().map_or("0", |s| s.as_str());
    let error_type = match ctx.error_type {
        Some(t) => t.as_str(),
        None if ctx.response.upstream_status.is_some_and(|s| s >= 400) => "upstream_error",
        None => "none",
    };
    let route = ctx.route_label();
    let model = ctx.model_label();
    let elapsed = ctx.started.elapsed();
    // The model's own handles when it has them; the labelled vectors otherwise.
    let handles = match (ctx.model.as_ref(), ctx.route) {
        (Some(m), Some(r)) => m.metrics.route(r, &m.name),
        _ => None,
    };
    match handles {
        Some(h) => {
            if status_label == "200" && error_type == "none" {
                h.ok.inc();
            } else {
                REQUESTS
                    .with_label_values(&[route, model, status_label, error_type])
                    .inc();
            }
            h.duration.observe(elapsed.as_secs_f64());
        }
        None => {
            REQUESTS
                .with_label_values(&[route, model, status_label, error_type])
                .inc();
            REQUEST_DURATION
                .with_label_values(&[route, model])
                .observe(elapsed.as_secs_f64());
        }
    }

    let provider = ctx.plan.as_ref().map_or("-", |p| p.provider.name.as_str());
    let stream = ctx.plan.as_ref().is_some_and(|p| p.stream);
    let mut upstream_ms = -1.0;
    if let Some(attempt) = ctx.attempt.as_ref() {
        let upstream = attempt.started.elapsed();
        upstream_ms = upstream.as_secs_f64() * 1000.0;
        let upstream_status = ctx
            .response
            .upstream_status
            .and_then(|s| http::StatusCode::from_u16(s).ok());
        match (ctx.plan.as_ref(), ctx.response.upstream_status) {
            (Some(plan), Some(200)) => plan
                .provider
                .metrics
                .ok_duration(&plan.provider.name)
                .observe(upstream.as_secs_f64()),
            _ => UPSTREAM_DURATION
                .with_label_values(&[
                    provider,
                    upstream_status.as_ref().map_or("0", |s| s.as_str()),
                ])
                .observe(upstream.as_secs_f64()),
        }
    }
    let guardrails = super::guard::report(ctx);
    let usage = charge.usage;
    if !usage.is_empty() {
        count_tokens(ctx, provider, model, &usage);
    }
    let time = rfc3339_millis(crate::state::unix_now().as_millis() as u64);
    if crate::telemetry::access::enabled() {
        let line = AccessLine {
            method: session.req_header().method.as_str(),
            route,
            status: status_label,
            model,
            provider,
            stream,
            error_type,
            guardrails: &guardrails,
            upstream_ms,
            total_ms: elapsed.as_secs_f64() * 1000.0,
        };
        write_access_line(ctx, &time, &line, charge);
    }
    audit(
        ctx,
        &time,
        status.map_or(0, |s| s.as_u16()),
        error_type,
        stream,
        charge,
        &guardrails,
    );
}

/// The token counters: the handles of the client's model's target when the plan is one of
/// its own targets (a fallback model's target is counted through the labelled vector).
fn count_tokens(ctx: &RequestCtx, provider: &str, model: &str, usage: &Usage) {
    let own = ctx.plan.as_ref().and_then(|plan| {
        let client_model = ctx.model.as_ref()?;
        std::sync::Arc::ptr_eq(client_model, &plan.model)
            .then(|| client_model.token_handles(plan.target))
            .flatten()
    });
    let counts = [
        ("input", usage.input, own.map(|h| &h.input)),
        ("cache_read", usage.cache_read, own.map(|h| &h.cache_read)),
        (
            "cache_write",
            usage.cache_write,
            own.map(|h| &h.cache_write),
        ),
        ("output", usage.output, own.map(|h| &h.output)),
        ("reasoning", usage.reasoning, own.map(|h| &h.reasoning)),
    ];
    for (kind, count, handle) in counts {
        match handle {
            _ if count == 0 => {}
            Some(handle) => handle.inc_by(count),
            None => TOKENS
                .with_label_values(&[provider, model, kind])
                .inc_by(count),
        }
    }
}

/// The request's audit record, when an audit log is configured.
fn audit(
    ctx: &RequestCtx,
    time: &Rfc3339Millis,
    status: u16,
    error_type: &str,
    stream: bool,
    charge: &Charge,
    guardrails: &str,
) {
    let Some(audit) = ctx.runtime.audit.as_ref() else {
        return;
    };
    let plan = ctx.plan.as_ref();
    let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    let record = AuditRecord {
        time: time.as_str(),
        request_id: &ctx.request_id,
        key: ctx.key_name(),
        team: ctx.key.as_ref().and_then(|k| k.team.as_deref()),
        route: ctx.route_label(),
        model: ctx.model.as_ref().map(|m| m.name.as_str()),
        provider: plan.map(|p| p.provider.name.as_str()),
        upstream_model: plan.map(|p| p.upstream_model()),
        status,
        error_type,
        attempts: ctx.attempts.len(),
        stream,
        tokens_in: charge.usage.prompt_total(),
        tokens_out: charge.usage.output,
        tokens_cached: charge.usage.cache_read,
        usage_estimated: charge.estimated,
        cost_usd: charge.cost_micros as f64 / 1e6,
        latency_ms: ms(ctx.started.elapsed()),
        ttft_ms: ctx
            .response
            .first_byte
            .map(|t| ms(t.duration_since(ctx.started))),
        cache: super::cache::audit_label(ctx),
        guardrails,
        request_body: audit
            .bodies
            .then(|| String::from_utf8_lossy(&ctx.client_body)),
    };
    audit.write(&record);
}

/// The parts of an access line already worked out for the metrics.
struct AccessLine<'a> {
    method: &'a str,
    route: &'a str,
    status: &'a str,
    model: &'a str,
    provider: &'a str,
    stream: bool,
    error_type: &'a str,
    guardrails: &'a str,
    upstream_ms: f64,
    total_ms: f64,
}

/// The access log line: built only when the access log is on, field by field into the access
/// log's own buffer.
fn write_access_line(
    ctx: &RequestCtx,
    time: &Rfc3339Millis,
    line: &AccessLine<'_>,
    charge: &Charge,
) {
    crate::telemetry::access::write(time, |out| {
        let key = |out: &mut String, name: &str| {
            out.push(' ');
            out.push_str(name);
            out.push('=');
        };
        let field = |out: &mut String, name: &str, value: &str| {
            key(out, name);
            out.push_str(value);
        };
        let number = |out: &mut String, name: &str, value: u64| {
            key(out, name);
            push_u64(out, value);
        };
        out.push_str(line.method);
        out.push(' ');
        out.push_str(line.route);
        field(out, "status", line.status);
        field(out, "model", line.model);
        field(out, "provider", line.provider);
        field(out, "stream", if line.stream { "true" } else { "false" });
        field(out, "key", ctx.key_name().unwrap_or("-"));
        field(out, "error_type", line.error_type);
        field(out, "cache", super::cache::audit_label(ctx));
        number(out, "attempts", ctx.attempts.len() as u64);
        // Every attempt: provider@endpoint:outcome:milliseconds.
        key(out, "trail");
        for (i, a) in ctx.attempts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{}@{}:{}:{:.0}",
                a.provider, a.endpoint, a.outcome, a.millis
            );
        }
        if ctx.attempts.is_empty() {
            out.push('-');
        }
        // Candidates passed over: a fallback the key may not use, a provider the request
        // cannot be encoded for.
        key(out, "skipped");
        let start = out.len();
        for (c, why) in ctx.failover.skipped().iter().enumerate() {
            let (Some(why), Some(candidate)) = (why, ctx.candidates.get(c)) else {
                continue;
            };
            let entry = format!("{}:{}", candidate.model.name, why.as_str());
            if !out[start..].split(',').any(|e| e == entry) {
                if out.len() > start {
                    out.push(',');
                }
                out.push_str(&entry);
            }
        }
        if out.len() == start {
            out.push('-');
        }
        key(out, "dropped");
        match ctx.plan.as_ref().filter(|p| !p.dropped.is_empty()) {
            Some(plan) => out.push_str(&plan.dropped.join(",")),
            None => out.push('-'),
        }
        field(out, "guardrails", line.guardrails);
        let usage = charge.usage;
        number(out, "tokens_in", usage.prompt_total());
        number(out, "tokens_cached", usage.cache_read);
        number(out, "tokens_out", usage.output);
        field(
            out,
            "usage_estimated",
            if charge.estimated { "true" } else { "false" },
        );
        key(out, "cost_usd");
        push_millionths(out, charge.cost_micros);
        key(out, "upstream_ms");
        push_tenths(out, line.upstream_ms);
        key(out, "total_ms");
        push_tenths(out, line.total_ms);
    });
}
