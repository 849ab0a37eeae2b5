//! The Pingora glue of failover: the request's candidates (the model's targets by weight, then
//! its fallbacks' targets, each checked against the key's allow-list), the view of endpoints
//! and keys the plan decides on, and the verdicts applied to the circuit breakers, the retry
//! budget and the access log. Every decision is `filters::resilience::Plan`'s.

use super::ctx::{AttemptRecord, Candidate, RequestCtx, UpstreamPlan};
use crate::routing::{Gateway, Model, Provider, VirtualKey};
use crate::telemetry::metrics::{ATTEMPTS, FALLBACKS};
use bytes::Bytes;
use sluice_filters::api::openai::ChatRequest;
use sluice_filters::api::route::Route;
use sluice_filters::api::RequestError;
use sluice_filters::resilience::{AttemptFailure, Availability, Plan, PlanSettings, Skip};
use sluice_filters::translate::{
    prepare_scanned_request, upstream_path, Api, ClientDialect, Target, UpstreamDialect,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The request's candidates in order: `first` and the model's other targets, then each
/// fallback model's targets (its own weighted pick first), and the plan over them. A fallback
/// the key may not use is a candidate that is skipped (and logged), never attempted.
pub fn plan(
    gateway: &Gateway,
    model: &Arc<Model>,
    first: usize,
    key: &VirtualKey,
) -> (Vec<Candidate>, Plan<SocketAddr>) {
    let mut candidates: Vec<Candidate> = model
        .target_order(first)
        .into_iter()
        .map(|target| Candidate {
            model: model.clone(),
            target,
        })
        .collect();
    let mut skipped = vec![None; candidates.len()];
    for name in &model.fallbacks {
        if let Some(fallback) = gateway.models.get(name) {
            let allowed = key.may_use(&fallback.name);
            let pick = fallback.pick();
            for target in fallback.target_order(pick) {
                candidates.push(Candidate {
                    model: fallback.clone(),
                    target,
                });
                skipped.push((!allowed).then_some(Skip::NotAllowed));
            }
        }
    }
    let retries = &gateway.retries;
    let settings = PlanSettings {
        repeats: retries.attempts.saturating_sub(1),
        backoff: retries.backoff.0,
        max_backoff: retries.max_backoff.0,
        retry_after_cap: retries.retry_after_cap.0,
        deadline: retries.deadline.0,
    };
    (candidates, Plan::new(settings, skipped))
}

/// Encodes the client's body for candidate `index` (its provider's dialect and model name).
/// `scan`: the request phase's view of a chat body (used only if the candidate is sent exactly
/// those bytes).
pub fn prepare_plan(
    ctx: &RequestCtx,
    index: usize,
    scan: Option<&ChatRequest<'_>>,
) -> Result<UpstreamPlan, RequestError> {
    let candidate = &ctx.candidates[index];
    let target = &candidate.model.targets[candidate.target];
    let provider = target.provider.clone();
    let mut api = ctx.route.map_or(Route::ChatCompletions, |r| r).api();
    let mut wire = provider.dialect;
    let responses_client = ctx.client == ClientDialect::Responses && provider.native_responses;
    if api == Api::Chat && (responses_client || provider.responses_only) {
        (api, wire) = (Api::Responses, UpstreamDialect::Responses);
    }
    let prepared = prepare_scanned_request(
        ctx.client,
        ctx.body_for(&provider.name, provider.dialect),
        scan,
        &Target {
            dialect: wire,
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
        body: prepared.body.map_or_else(
            || ctx.body_for(&provider.name, provider.dialect).clone(),
            Bytes::from,
        ),
        path,
        stream: prepared.stream,
        client_wants_usage: prepared.client_wants_usage,
        json_tool: prepared.json_tool,
        dropped: prepared.dropped,
        provider,
        wire,
        candidate: index,
        target: candidate.target,
        model: candidate.model.clone(),
    })
}

/// Makes candidate `c` the current one, encoding the body for it unless it already is. False
/// when the request cannot be encoded for it (a feature its dialect lacks): it is skipped.
pub fn switch_to(ctx: &mut RequestCtx, c: usize) -> bool {
    if ctx.plan.as_ref().is_some_and(|p| p.candidate == c) {
        return true;
    }
    let Ok(plan) = prepare_plan(ctx, c, None) else {
        ctx.failover.skip(c, Skip::Unsupported);
        return false;
    };
    if let Some(previous) = ctx.plan.as_ref() {
        if !Arc::ptr_eq(&previous.model, &plan.model) {
            let reason = ctx
                .failover
                .last_failure()
                .map_or("unavailable", |(error, _)| error.as_str());
            FALLBACKS
                .with_label_values(&[&previous.model.name, &plan.model.name, reason])
                .inc();
        }
    }
    ctx.plan = Some(plan);
    true
}

/// What the plan sees of the candidates' providers right now.
pub struct Live<'a> {
    pub candidates: &'a [Candidate],
    pub now_ms: u64,
}

impl Live<'_> {
    fn provider(&self, c: usize) -> Option<&Provider> {
        let candidate = self.candidates.get(c)?;
        Some(&candidate.model.targets[candidate.target].provider)
    }
}

impl Availability<SocketAddr> for Live<'_> {
    fn usable_now(&self, c: usize, tried_endpoints: &[SocketAddr], tried_keys: &[usize]) -> bool {
        self.provider(c).is_some_and(|p| {
            p.usable_within(self.now_ms, Duration::ZERO, tried_endpoints, tried_keys)
        })
    }

    fn usable_within(&self, c: usize, wait: Duration) -> bool {
        self.provider(c)
            .is_some_and(|p| p.usable_within(self.now_ms, wait, &[], &[]))
    }

    fn unavailable(&self, c: usize) -> Option<(u16, Duration)> {
        self.provider(c)?.unavailable(self.now_ms)
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
    let now = crate::clock::now_ms();
    if let (Some(plan), Some(attempt)) = (ctx.plan.as_ref(), ctx.attempt.as_mut()) {
        plan.provider.endpoint_succeeded(attempt.endpoint);
        if let Some(key) = attempt.key {
            plan.provider.key_succeeded(key, now);
        }
        attempt.answered(now);
    }
    record(ctx, "success");
}

/// Records a failed attempt, applies the plan's verdict to the breakers, and says whether
/// another attempt follows (the plan found somewhere to go and the retry budget has room).
pub fn attempt_failed(ctx: &mut RequestCtx, failure: AttemptFailure) -> bool {
    let Some(gateway) = ctx.gateway.clone() else {
        return false;
    };
    let Some((addr, endpoint, key)) = ctx.attempt.as_ref().map(|a| (a.addr, a.endpoint, a.key))
    else {
        return false;
    };
    let now = crate::clock::now_ms();
    let live = Live {
        candidates: &ctx.candidates,
        now_ms: now,
    };
    let verdict = ctx
        .failover
        .on_failure(failure, addr, key, ctx.started.elapsed(), &live);
    if let Some(plan) = ctx.plan.as_ref() {
        let provider = &plan.provider;
        if verdict.endpoint_failure {
            provider.endpoint_failed(endpoint, now, &gateway.breaker);
        } else if verdict.provider_answered {
            provider.endpoint_succeeded(endpoint);
        }
        if let (true, Some(k), AttemptFailure::Status { status, .. }) =
            (verdict.key_failure, key, failure)
        {
            provider.key_failed(k, status, now, &gateway.breaker, verdict.retry_after);
        }
    }
    if let Some(attempt) = ctx.attempt.as_mut() {
        if verdict.endpoint_failure {
            attempt.failed(now);
        } else if verdict.provider_answered {
            attempt.answered(now);
        }
    }
    record(ctx, verdict.outcome);
    ctx.attempt = None;
    if !verdict.retry {
        return false;
    }
    // A stale pooled connection costs the provider nothing: no retry token for it.
    if matches!(failure, AttemptFailure::ConnectionLost { reused: true }) {
        return true;
    }
    ctx.runtime.retry_budget.try_withdraw(now)
}

/// The `retry-after` seconds to give the client when no attempt is left.
pub fn retry_after_secs(ctx: &RequestCtx) -> Option<u64> {
    ctx.retry_after
        .or_else(|| ctx.failover.last_failure().and_then(|(_, r)| r))
        .map(|d| d.as_secs().max(1))
}
