//! Limits and budgets on the request path: admission at the end of `request_filter` (after the
//! request is known valid, so a client's mistake costs it nothing), the `x-ratelimit-*` headers
//! on the response, and settlement with the real usage in the `logging` phase, which Pingora runs
//! for every request however it ended (a stream the client abandoned included).

use super::ctx::RequestCtx;
use super::errors::respond_error;
use crate::routing::Model;
use crate::state::{Demand, RateInfo, Refusal, RefusalKind};
use crate::telemetry::metrics::{LIMIT_REJECTIONS, SPEND};
use http::HeaderName;
use pingora::proxy::Session;
use sluice_filters::canonical::Usage;
use sluice_filters::governance::{demand_tokens, format_reset, push_reset};
use sluice_filters::log_line::push_u64;
use sluice_filters::ErrorType;

/// What a request may take at most, over every target its plan may reach: the prompt's
/// estimate (4 bytes a token, an overestimate for JSON) plus its output cap, or the provider's
/// default cap when the client set none.
pub fn demand(ctx: &RequestCtx, max_output: Option<u64>) -> Demand {
    let input = ctx
        .plan
        .as_ref()
        .map_or(ctx.client_body.len(), |p| p.body.len()) as u64
        / 4;
    let mut tokens = input;
    let mut cost_micros = 0;
    for c in &ctx.candidates {
        let provider = &c.model.targets[c.target].provider;
        let output = max_output.unwrap_or(provider.default_max_tokens);
        tokens = tokens.max(demand_tokens(input, output));
        cost_micros = cost_micros.max(c.model.price_of(c.target).worst_case_micros(input, output));
    }
    Demand {
        tokens,
        cost_micros,
    }
}

/// Reserves the request's demand against its key's, team's and model's limits and budgets.
/// `Ok(true)` means it was refused and already answered.
pub async fn admit(
    session: &mut Session,
    ctx: &mut RequestCtx,
    model: &Model,
    demand: Demand,
) -> pingora::Result<bool> {
    let scopes = match &ctx.gateway {
        Some(gateway) => gateway
            .scopes
            .scopes_for(ctx.key_name().unwrap_or_default(), &model.name),
        None => Vec::new(),
    };
    let governor = ctx.runtime.governor.clone();
    match governor.admit(scopes, demand).await {
        Ok(grant) => {
            ctx.grant = Some(grant);
            Ok(false)
        }
        Err(refusal) => refuse(session, ctx, &refusal, demand, false).await,
    }
}

/// Refuses a request of a key (or team) whose requests window is known to be full, before its
/// body is read; the connection is closed, since the body was not read. `Ok(true)` means it
/// was refused and answered.
pub async fn refuse_early(session: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<bool> {
    let now_ms = u64::try_from(crate::state::unix_now().as_millis()).unwrap_or(u64::MAX);
    let refusal = ctx.gateway.as_ref().and_then(|gateway| {
        gateway
            .scopes
            .refuse_early(ctx.key_name().unwrap_or_default(), now_ms)
    });
    match refusal {
        Some(refusal) => {
            let demand = Demand {
                tokens: 0,
                cost_micros: 0,
            };
            refuse(session, ctx, &refusal, demand, true).await
        }
        None => Ok(false),
    }
}

async fn refuse(
    session: &mut Session,
    ctx: &mut RequestCtx,
    refusal: &Refusal,
    demand: Demand,
    close: bool,
) -> pingora::Result<bool> {
    LIMIT_REJECTIONS
        .with_label_values(&[refusal.scope_kind, refusal.kind.as_str()])
        .inc();
    let scope = &refusal.scope;
    let (error_type, message) = match refusal.kind {
        RefusalKind::Tokens if refusal.exceeds_limit.is_some() => (
            ErrorType::RateLimited,
            format!(
                "this request reserves {} tokens (its prompt and max_tokens), more than the {} tokens per minute of {scope} allow at all: lower max_tokens",
                demand.tokens,
                refusal.exceeds_limit.unwrap_or_default(),
            ),
        ),
        RefusalKind::Budget if refusal.exceeds_limit.is_some() => (
            ErrorType::BudgetExceeded,
            format!(
                "this request may cost up to ${:.6}, more than the whole budget of {scope} (${:.6}): lower max_tokens",
                demand.cost_micros as f64 / 1e6,
                refusal.exceeds_limit.unwrap_or_default() as f64 / 1e6
            ),
        ),
        RefusalKind::Requests => (
            ErrorType::RateLimited,
            format!(
                "rate limit reached for {scope}: {} requests per minute",
                refusal.rate.requests.map_or(0, |r| r.0)
            ),
        ),
        RefusalKind::Tokens => (
            ErrorType::RateLimited,
            format!(
                "rate limit reached for {scope}: {} tokens per minute (this request reserves {} tokens: its prompt and max_tokens)",
                refusal.rate.tokens.map_or(0, |r| r.0),
                demand.tokens
            ),
        ),
        RefusalKind::Concurrency => (
            ErrorType::RateLimited,
            format!("too many requests in flight for {scope}"),
        ),
        RefusalKind::Budget => (
            ErrorType::BudgetExceeded,
            format!(
                "budget exceeded for {scope}: this request may cost up to ${:.6}, more than is left for the period",
                demand.cost_micros as f64 / 1e6
            ),
        ),
        RefusalKind::Unavailable => (
            ErrorType::StateUnavailable,
            "the gateway cannot reach its limits store and refuses governed requests until it can".to_owned(),
        ),
    };
    let mut values = rate_headers(&refusal.rate);
    if let Some(secs) = refusal.retry_after_secs {
        values.push(("retry-after", secs.to_string()));
    }
    let headers: Vec<(&'static str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
    respond_error(session, ctx, error_type, &message, None, &headers, close).await
}

/// The `x-ratelimit-*` headers OpenAI clients read, from the tightest limit counted against.
pub fn rate_headers(rate: &RateInfo) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(6);
    for (window, [limit_name, remaining_name, reset_name]) in rate_windows(rate) {
        if let Some((limit, remaining, reset_ms)) = window {
            out.push((limit_name.as_str(), limit.to_string()));
            out.push((remaining_name.as_str(), remaining.to_string()));
            out.push((reset_name.as_str(), format_reset(reset_ms)));
        }
    }
    out
}

/// The three header names of the requests window and of the tokens window.
static RATE_HEADERS: [[HeaderName; 3]; 2] = [
    [
        HeaderName::from_static("x-ratelimit-limit-requests"),
        HeaderName::from_static("x-ratelimit-remaining-requests"),
        HeaderName::from_static("x-ratelimit-reset-requests"),
    ],
    [
        HeaderName::from_static("x-ratelimit-limit-tokens"),
        HeaderName::from_static("x-ratelimit-remaining-tokens"),
        HeaderName::from_static("x-ratelimit-reset-tokens"),
    ],
];

/// A rate window (limit, remaining, milliseconds to reset) and its three header names.
type RateWindow = (Option<(u64, u64, u64)>, &'static [HeaderName; 3]);

/// The requests and tokens windows of a rate, each with its three header names.
fn rate_windows(rate: &RateInfo) -> [RateWindow; 2] {
    [
        (rate.requests, &RATE_HEADERS[0]),
        (rate.tokens, &RATE_HEADERS[1]),
    ]
}

/// The `x-ratelimit-*` headers of an admitted request. The values are written into one buffer
/// that the six header values share (one allocation, not one per number and two strings).
pub fn add_rate_headers(headers: &mut http::HeaderMap, ctx: &RequestCtx) {
    let Some(grant) = ctx.grant.as_ref() else {
        return;
    };
    let mut text = String::with_capacity(64);
    let mut spans: [Option<(&HeaderName, std::ops::Range<usize>)>; 6] = Default::default();
    let mut next = spans.iter_mut();
    for (window, names) in rate_windows(&grant.rate) {
        let Some((limit, remaining, reset_ms)) = window else {
            continue;
        };
        for (i, name) in names.iter().enumerate() {
            let start = text.len();
            match i {
                0 => push_u64(&mut text, limit),
                1 => push_u64(&mut text, remaining),
                _ => push_reset(&mut text, reset_ms),
            }
            if let Some(span) = next.next() {
                *span = Some((name, start..text.len()));
            }
        }
    }
    let shared = bytes::Bytes::from(text);
    for (name, range) in spans.into_iter().flatten() {
        if let Ok(value) = http::HeaderValue::from_maybe_shared(shared.slice(range)) {
            headers.insert(name.clone(), value);
        }
    }
}

/// What a finished request is billed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Charge {
    pub usage: Usage,
    /// Part of the usage is an estimate (a stream that ended before the provider reported it).
    pub estimated: bool,
    pub cost_micros: u64,
}

/// Bills the request for what it used and returns its reservation: in the logging phase, once.
pub async fn settle(ctx: &mut RequestCtx) -> Charge {
    let (usage, estimated) = ctx.billable_usage().unwrap_or_default();
    let cost_micros = ctx
        .plan
        .as_ref()
        .map_or(0, |p| p.model.price_of(p.target).cost_micros(&usage));
    if let Some(grant) = ctx.grant.take() {
        ctx.runtime
            .governor
            .settle(grant, usage.total(), cost_micros)
            .await;
    }
    if cost_micros > 0 {
        SPEND
            .with_label_values(&[ctx.key_name().unwrap_or("-"), ctx.model_label()])
            .inc_by(cost_micros);
    }
    Charge {
        usage,
        estimated,
        cost_micros,
    }
}
