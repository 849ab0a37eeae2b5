//! The request's plan and how attempts move through it: the model's targets by weight, then its
//! fallbacks' targets; within a target, its endpoints (healthy, not ejected, not yet failed) and
//! API keys (not throttled). Each failed attempt is classified by `filters::resilience`; this
//! file applies the verdict to the circuit breakers, the retry budget and the plan.

use super::ctx::{AttemptRecord, Candidate, LastFailure, RequestCtx, UpstreamPlan};
use crate::routing::{Gateway, Model};
use crate::telemetry::metrics::{ATTEMPTS, FALLBACKS};
use bytes::Bytes;
use rand::Rng;
use sluice_filters::api::route::Route;
use sluice_filters::api::RequestError;
use sluice_filters::resilience::{backoff_delay, classify, AttemptFailure, Next, RetryDecision};
use sluice_filters::translate::{prepare_request, upstream_path, Target};
use sluice_filters::ErrorType;
use std::sync::Arc;
use std::time::Duration;

/// The request's candidates in order: `first` and the model's other targets, then each
/// fallback model's targets (its own weighted pick first).
pub fn candidates(gateway: &Gateway, model: &Arc<Model>, first: usize) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = model
        .target_order(first)
        .into_iter()
        .map(|target| Candidate {
            model: model.clone(),
            target,
        })
        .collect();
    for name in &model.fallbacks {
        if let Some(fallback) = gateway.models.get(name) {
            let pick = fallback.pick();
            out.extend(
                fallback
                    .target_order(pick)
                    .into_iter()
                    .map(|target| Candidate {
                        model: fallback.clone(),
                        target,
                    }),
            );
        }
    }
    out
}

/// Encodes the client's body for candidate `index` (its provider's dialect and model name).
pub fn prepare_plan(ctx: &RequestCtx, index: usize) -> Result<UpstreamPlan, RequestError> {
    let candidate = &ctx.candidates[index];
    let target = &candidate.model.targets[candidate.target];
    let provider = target.provider.clone();
    let api = ctx.route.map_or(Route::ChatCompletions, |r| r).api();
    let prepared = prepare_request(
        ctx.client,
        &ctx.client_body,
        &Target {
            dialect: provider.dialect,
            model: &target.model,
            default_max_tokens: provider.default_max_tokens,
            api,
        },
    )?;
    let path = upstream_path(
        provider.dialect,
        api,
        &target.model,
        prepared.stream,
        &provider.api_version,
    )
    .ok_or_else(|| {
        RequestError::unsupported(
            format!(
                "a {} provider does not offer this API",
                provider.dialect.as_str()
            ),
            "model",
        )
    })?;
    Ok(UpstreamPlan {
        body: prepared
            .body
            .map_or_else(|| ctx.client_body.clone(), Bytes::from),
        path,
        stream: prepared.stream,
        client_wants_usage: prepared.client_wants_usage,
        json_tool: prepared.json_tool,
        provider,
        target: candidate.target,
        model: candidate.model.clone(),
    })
}

/// Moves to the next candidate that can take the request; false when none is left.
pub fn advance(ctx: &mut RequestCtx) -> bool {
    while ctx.cursor + 1 < ctx.candidates.len() {
        ctx.cursor += 1;
        // A candidate the client's request cannot be encoded for (a feature its dialect lacks)
        // is skipped, not failed.
        let Ok(plan) = prepare_plan(ctx, ctx.cursor) else {
            continue;
        };
        if let Some(previous) = ctx.plan.as_ref() {
            if !Arc::ptr_eq(&previous.model, &plan.model) {
                let reason = ctx
                    .last_failure
                    .map_or("unavailable", |f| f.error_type.as_str());
                FALLBACKS
                    .with_label_values(&[&previous.model.name, &plan.model.name, reason])
                    .inc();
            }
        }
        ctx.plan = Some(plan);
        ctx.tried.clear();
        ctx.tried_keys.clear();
        return true;
    }
    false
}

/// Every candidate was tried: starts over from the first after a backoff (or the provider's
/// `retry-after`, when it is short enough to wait out). Err when the request should end.
pub fn start_next_round(ctx: &mut RequestCtx, gateway: &Gateway) -> Result<(), ()> {
    let settings = &gateway.retries;
    if ctx.attempts.len() as u32 >= settings.attempts {
        return Err(());
    }
    // A round that could not make a single attempt (every key or endpoint ejected) is not
    // repeated: the request fails fast instead of spinning until its deadline.
    if ctx.rounds > 0 && ctx.attempts.len() == ctx.round_start_attempts {
        return Err(());
    }
    let retry_after = ctx.last_failure.and_then(|f| f.retry_after);
    if retry_after.is_some_and(|r| r > settings.retry_after_cap.0) {
        return Err(());
    }
    let jitter: f64 = rand::thread_rng().gen();
    let backoff = backoff_delay(
        settings.backoff.0,
        settings.max_backoff.0,
        ctx.rounds,
        jitter,
    );
    let wait = backoff.max(retry_after.unwrap_or_default());
    if ctx.started.elapsed() + wait >= settings.deadline.0 {
        return Err(());
    }
    let plan = prepare_plan(ctx, 0).map_err(|_| ())?;
    ctx.rounds += 1;
    ctx.round_start_attempts = ctx.attempts.len();
    ctx.cursor = 0;
    ctx.plan = Some(plan);
    ctx.tried.clear();
    ctx.tried_keys.clear();
    ctx.wait = wait;
    Ok(())
}

fn outcome(failure: AttemptFailure) -> &'static str {
    match failure {
        AttemptFailure::Connect => "connect_error",
        AttemptFailure::FirstByteTimeout => "timeout",
        AttemptFailure::ConnectionLost { .. } => "connection_lost",
        AttemptFailure::Status { status: 429, .. } => "http_429",
        AttemptFailure::Status {
            status: 401 | 403, ..
        } => "http_auth",
        AttemptFailure::Status { status, .. } if status >= 500 => "http_5xx",
        AttemptFailure::Status { .. } => "http_4xx",
    }
}

fn error_type(failure: AttemptFailure) -> ErrorType {
    match failure {
        AttemptFailure::Connect | AttemptFailure::ConnectionLost { .. } => {
            ErrorType::UpstreamUnreachable
        }
        AttemptFailure::FirstByteTimeout => ErrorType::UpstreamTimeout,
        AttemptFailure::Status { status: 429, .. } => ErrorType::UpstreamRateLimited,
        AttemptFailure::Status {
            status: 401 | 403, ..
        } => ErrorType::UpstreamAuthFailed,
        AttemptFailure::Status {
            status: 503 | 529, ..
        } => ErrorType::UpstreamOverloaded,
        AttemptFailure::Status { .. } => ErrorType::UpstreamError,
    }
}

fn record(ctx: &mut RequestCtx, outcome: &'static str) {
    let (Some(plan), Some(attempt)) = (ctx.plan.as_ref(), ctx.attempt.as_ref()) else {
        return;
    };
    let provider = &plan.provider;
    ATTEMPTS.with_label_values(&[&provider.name, outcome]).inc();
    ctx.attempts.push(AttemptRecord {
        provider: provider.name.clone(),
        endpoint: provider.endpoint_labels[attempt.endpoint].clone(),
        outcome,
        millis: attempt.started.elapsed().as_secs_f64() * 1000.0,
    });
}

/// The attempt got a response the client will see: its endpoint and key are fine.
pub fn attempt_succeeded(ctx: &mut RequestCtx) {
    if let (Some(plan), Some(attempt)) = (ctx.plan.as_ref(), ctx.attempt.as_ref()) {
        plan.provider.endpoint_succeeded(attempt.endpoint);
        if let Some(key) = attempt.key {
            plan.provider
                .key_succeeded(key, ctx.gateway.as_ref().map_or(0, |g| g.now_ms()));
        }
    }
    record(ctx, "success");
}

/// Records a failed attempt and decides whether another one follows. Updates the circuit
/// breakers whatever the answer: a failure counts against an endpoint even on a last attempt.
pub fn attempt_failed(ctx: &mut RequestCtx, failure: AttemptFailure) -> bool {
    let Some(gateway) = ctx.gateway.clone() else {
        return false;
    };
    let decision = classify(failure);
    let now = gateway.now_ms();
    let (addr, endpoint, key) = match ctx.attempt.as_ref() {
        Some(a) => (a.addr, a.endpoint, a.key),
        None => return false,
    };
    if let Some(plan) = ctx.plan.as_ref() {
        let provider = &plan.provider;
        if decision.endpoint_failure {
            provider.endpoint_failed(endpoint, now, &gateway.breaker);
        } else if !decision.key_failure && !decision.retryable {
            // The provider answered (a 400 is the request's fault): the endpoint is fine.
            provider.endpoint_succeeded(endpoint);
        }
        if let (true, Some(k), AttemptFailure::Status { status, .. }) =
            (decision.key_failure, key, failure)
        {
            provider.key_failed(k, status, now, &gateway.breaker, decision.retry_after);
        }
    }
    record(ctx, outcome(failure));
    ctx.last_failure = Some(LastFailure {
        error_type: error_type(failure),
        retry_after: decision.retry_after,
    });
    ctx.attempt = None;

    if !decision.retryable
        || ctx.attempts.len() as u32 >= gateway.retries.attempts
        || ctx.started.elapsed() >= gateway.retries.deadline.0
    {
        return false;
    }
    match decision.next {
        // A stale pooled connection: not the provider's fault, and not worth a retry token.
        Next::SameEndpoint => return true,
        Next::OtherKey => {
            if let Some(k) = key {
                ctx.tried_keys.push(k);
            }
            let other_key = ctx
                .plan
                .as_ref()
                .is_some_and(|p| p.provider.pick_key(now, &ctx.tried_keys).is_some());
            if !other_key {
                ctx.tried.push(addr);
            }
        }
        Next::Elsewhere => ctx.tried.push(addr),
    }
    // Abandon this response only for somewhere to go; else the client gets it, in its own
    // words (and with its own retry hints), rather than a gateway summary.
    let somewhere = alternative_now(ctx, now) || next_round_possible(ctx, &gateway, now, &decision);
    somewhere && gateway.retry_budget.try_withdraw()
}

/// Another endpoint or key of this candidate, or a later candidate, can take the request now.
fn alternative_now(ctx: &RequestCtx, now: u64) -> bool {
    let current = ctx.plan.as_ref().is_some_and(|p| {
        p.provider
            .usable_within(now, Duration::ZERO, &ctx.tried, &ctx.tried_keys)
    });
    current
        || ctx.candidates[ctx.cursor + 1..].iter().any(|c| {
            c.model.targets[c.target]
                .provider
                .usable_within(now, Duration::ZERO, &[], &[])
        })
}

/// Going round the plan again is worth it: attempts left, and a wait the provider asked for
/// (or a backoff) short enough, after which some candidate will take the request.
fn next_round_possible(
    ctx: &RequestCtx,
    gateway: &Gateway,
    now: u64,
    decision: &RetryDecision,
) -> bool {
    let settings = &gateway.retries;
    // A key refused without a retry hint stays ejected for its cooldown: not worth waiting.
    if decision.key_failure && decision.retry_after.is_none() {
        return false;
    }
    let wait = decision.retry_after.unwrap_or(settings.max_backoff.0);
    (ctx.attempts.len() as u32) < settings.attempts
        && wait <= settings.retry_after_cap.0
        && ctx.started.elapsed() + wait < settings.deadline.0
        && ctx.candidates.iter().any(|c| {
            c.model.targets[c.target].provider.usable_within(
                now,
                wait.max(settings.max_backoff.0),
                &[],
                &[],
            )
        })
}

/// The `retry-after` seconds to give the client when no attempt is left.
pub fn retry_after_secs(ctx: &RequestCtx) -> Option<u64> {
    ctx.last_failure
        .and_then(|f| f.retry_after)
        .map(|d| d.as_secs().max(1))
}

/// Records why no attempt could be made when the request had not failed one yet: the first
/// candidate's provider has every key or endpoint ejected (so the client learns the cause and
/// when to come back), or no healthy endpoint at all.
pub fn no_route(ctx: &mut RequestCtx) -> ErrorType {
    if let Some(f) = ctx.last_failure {
        return f.error_type;
    }
    let unavailable = match (ctx.gateway.as_ref(), ctx.candidates.first()) {
        (Some(gateway), Some(c)) => c.model.targets[c.target]
            .provider
            .unavailable(gateway.now_ms()),
        _ => None,
    };
    let Some((status, remaining)) = unavailable else {
        return ErrorType::UpstreamUnreachable;
    };
    let error_type = match status {
        429 => ErrorType::UpstreamRateLimited,
        401 | 403 => ErrorType::UpstreamAuthFailed,
        _ => ErrorType::UpstreamOverloaded,
    };
    ctx.last_failure = Some(LastFailure {
        error_type,
        retry_after: (!remaining.is_zero()).then_some(remaining),
    });
    error_type
}
