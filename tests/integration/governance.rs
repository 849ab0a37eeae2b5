//! Governance end to end: budgets that concurrency cannot overspend, on one gateway (embedded
//! state) and on two gateways sharing a real `redis-server`; rate limits that hold over a steady
//! over-limit load, with the `x-ratelimit-*` headers counting down; spend that survives a
//! restart; streams billed when the client walks away; the admin API; the state-store outage
//! policy.

use crate::common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const CAPPED_KEY: &str = "sk-test-capped-0003";
const RPM_KEY: &str = "sk-test-rpm-0004";
const TPM_KEY: &str = "sk-test-tpm-0005";
const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The model's price: $1000 per million output tokens is 1000 micro-dollars a token, so every
/// cost is a whole number of micro-dollars and sums compare exactly. Input is free, so the
/// worst case of a request with `max_tokens` = its real output is its real cost.
const MICROS_PER_OUTPUT_TOKEN: u64 = 1000;

/// Where a gateway keeps its state, as a YAML flow mapping.
enum State<'a> {
    Embedded(&'a Path),
    Redis { url: &'a str, prefix: &'a str },
}

impl State<'_> {
    fn yaml(&self) -> String {
        match self {
            State::Embedded(dir) => format!("{{path: \"{}\", flush_interval: 1s}}", dir.display()),
            State::Redis { url, prefix } => {
                format!("{{backend: redis, url: \"{url}\", prefix: \"{prefix}\"}}")
            }
        }
    }
}

/// Model `fast` on the mock, the admin token, an audit log, the state and `keys` (YAML list
/// items).
fn config(mock: &Mock, state: &State<'_>, audit: &Path, keys: &str) -> String {
    format!(
        r#"
providers:
  primary:
    kind: openai
    endpoints: [{{url: "{url}"}}]
    api_keys: ["{UPSTREAM_KEY}"]
    forward_headers: ["x-mock-*"]
models:
  - name: fast
    targets: [{{provider: primary, model: gpt-4o-mini}}]
    price: {{input_per_mtok: 0, output_per_mtok: 1000}}
admin:
  token: "{ADMIN_TOKEN}"
audit:
  path: "{audit}"
state: {state}
keys:
{keys}
"#,
        url = mock.url(),
        audit = audit.display(),
        state = state.yaml(),
    )
}

/// How many output tokens the mock answers `chat_body` with (asked of the mock directly).
async fn mock_output_tokens(mock: &Mock) -> u64 {
    let resp = client()
        .post(format!("{}/v1/chat/completions", mock.url()))
        .bearer_auth(UPSTREAM_KEY)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}))
        .send()
        .await
        .expect("mock answers");
    let usage = resp.headers()["x-mock-usage"].to_str().unwrap().to_owned();
    usage
        .split(',')
        .find_map(|p| p.strip_prefix("output="))
        .and_then(|v| v.parse().ok())
        .expect("x-mock-usage has output=")
}

fn capped_chat(max_tokens: u64) -> Value {
    let mut body = chat_body("fast");
    body["max_tokens"] = json!(max_tokens);
    body
}

async fn send(
    gateway: &Gateway,
    key: &str,
    body: &Value,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = client()
        .post(gateway.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body);
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    req.send().await.expect("request to the gateway")
}

async fn admin_usage(gateway: &Gateway) -> Value {
    let resp = client()
        .get(gateway.admin_url("/admin/usage"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin api");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("usage json")
}

/// The admin usage once `key`'s spend reached `expected`: a request settles when the gateway
/// logs it, just after its last byte went to the client, so a client can be a moment ahead.
async fn usage_once_spent(gateway: &Gateway, key: &str, expected: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let usage = admin_usage(gateway).await;
        if spent_micros(&usage, key) == expected || Instant::now() > deadline {
            assert_eq!(spent_micros(&usage, key), expected, "{usage}");
            return usage;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn spent_micros(usage: &Value, key: &str) -> u64 {
    let usd = usage["keys"][key]["budget"]["spent_usd"]
        .as_f64()
        .unwrap_or_else(|| panic!("no budget for {key} in {usage}"));
    (usd * 1e6).round() as u64
}

async fn redis_spend(url: &str, prefix: &str, key: &str) -> u64 {
    let client = redis::Client::open(url).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let spent: Option<i64> = redis::cmd("HGET")
        .arg(format!("{prefix}:key:{key}:bd:total"))
        .arg("spent")
        .query_async(&mut conn)
        .await
        .expect("HGET");
    spent.unwrap_or(0) as u64
}

/// Fires `total` requests at once (spread over `gateways`), each held 300 ms by the provider so
/// all are in flight together, against a budget that fits `fit` of them. Exactly `fit` must
/// succeed; the rest are refused with `budget_exceeded`.
async fn only_what_fits_succeeds(
    gateways: &[&Gateway],
    output_tokens: u64,
    total: usize,
    fit: usize,
) {
    let body = capped_chat(output_tokens);
    let mut tasks = Vec::new();
    for i in 0..total {
        let gateway_url = gateways[i % gateways.len()].url("/v1/chat/completions");
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let resp = client()
                .post(gateway_url)
                .bearer_auth(CAPPED_KEY)
                .header("x-mock-delay-ms", "300")
                .json(&body)
                .send()
                .await
                .expect("request");
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, body)
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            200 => ok += 1,
            429 => {
                assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
                assert_eq!(body["error"]["type"], "insufficient_quota", "{body}");
                refused += 1;
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert_eq!(ok, fit, "exactly the requests that fit succeed");
    assert_eq!(refused, total - fit);
}

fn capped_key(budget_micros: u64) -> String {
    format!(
        "  - {{name: capped, key: \"{CAPPED_KEY}\", budget: {{usd: {}, period: total}}}}",
        budget_micros as f64 / 1e6
    )
}

#[tokio::test]
async fn concurrent_requests_cannot_overspend_a_budget() {
    let mock = Mock::start("primary", &[]);
    let dir = temp_dir();
    let state = dir.path().join("state");
    let audit = dir.path().join("audit.jsonl");
    let n = mock_output_tokens(&mock).await;
    let cost = n * MICROS_PER_OUTPUT_TOKEN;
    let budget = 50 * cost;
    let mut gateway = Gateway::start(&config(
        &mock,
        &State::Embedded(&state),
        &audit,
        &capped_key(budget),
    ));

    only_what_fits_succeeds(&[&gateway], n, 200, 50).await;
    let usage = usage_once_spent(&gateway, "capped", budget).await;
    assert_eq!(
        usage["keys"]["capped"]["budget"]["reserved_usd"], 0.0,
        "{usage}"
    );
    let used = "sluice_budget_used_ratio{scope=\"capped\",scope_kind=\"key\"}";
    assert_eq!(
        metric(&gateway, used).await,
        1.0,
        "the whole budget is spent"
    );

    // A graceful stop writes the ledger and the audit log out; they agree to the micro-dollar.
    gateway.proc.signal_and_wait("TERM");
    let records = audit_records(&audit);
    assert_eq!(records.len(), 200, "one audit line per request");
    assert_eq!(audit_spend(&records, "capped"), budget);
    assert_eq!(ledger_spend(&state, "capped"), budget);
    let refused = records
        .iter()
        .filter(|r| r["error_type"] == "budget_exceeded")
        .count();
    assert_eq!(refused, 150);
}

#[tokio::test]
async fn two_gateways_on_one_redis_share_a_budget() {
    let redis = Redis::start();
    let mock = Mock::start("primary", &[]);
    let dir = temp_dir();
    let n = mock_output_tokens(&mock).await;
    let cost = n * MICROS_PER_OUTPUT_TOKEN;
    let budget = 50 * cost;
    let url = redis.url();
    let state = State::Redis {
        url: &url,
        prefix: "shared",
    };
    let audits = [dir.path().join("a.jsonl"), dir.path().join("b.jsonl")];
    let mut a = Gateway::start(&config(&mock, &state, &audits[0], &capped_key(budget)));
    let mut b = Gateway::start(&config(&mock, &state, &audits[1], &capped_key(budget)));

    only_what_fits_succeeds(&[&a, &b], n, 200, 50).await;
    for gateway in [&a, &b] {
        usage_once_spent(gateway, "capped", budget).await;
    }
    a.proc.signal_and_wait("TERM");
    b.proc.signal_and_wait("TERM");
    let records: Vec<Value> = audits.iter().flat_map(|p| audit_records(p)).collect();
    assert_eq!(records.len(), 200);
    assert_eq!(audit_spend(&records, "capped"), budget);
    assert_eq!(redis_spend(&url, "shared", "capped").await, budget);
    // Each gateway saw 100 requests, any 50 of which its own budget would have admitted:
    // only one shared budget explains 50 successes in all.
    for path in &audits {
        assert_eq!(audit_records(path).len(), 100, "{}", path.display());
    }
}

#[tokio::test]
async fn spend_survives_sigterm_exactly_and_sigkill_within_the_flush_interval() {
    let mock = Mock::start("primary", &[]);
    let dir = temp_dir();
    let state = dir.path().join("state");
    let audit = dir.path().join("audit.jsonl");
    let n = mock_output_tokens(&mock).await;
    let cost = n * MICROS_PER_OUTPUT_TOKEN;
    let config = config(
        &mock,
        &State::Embedded(&state),
        &audit,
        &capped_key(1_000 * cost),
    );
    let body = capped_chat(n);

    let mut gateway = Gateway::start(&config);
    for _ in 0..7 {
        assert_eq!(send(&gateway, CAPPED_KEY, &body, &[]).await.status(), 200);
    }
    usage_once_spent(&gateway, "capped", 7 * cost).await;
    gateway.proc.signal_and_wait("TERM");
    let mut gateway = Gateway::start(&config);
    assert_eq!(
        spent_micros(&admin_usage(&gateway).await, "capped"),
        7 * cost
    );

    // Spend older than the flush interval (1 s) is on disk; a SIGKILL loses at most what came
    // after the last flush.
    for _ in 0..3 {
        assert_eq!(send(&gateway, CAPPED_KEY, &body, &[]).await.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for _ in 0..4 {
        assert_eq!(send(&gateway, CAPPED_KEY, &body, &[]).await.status(), 200);
    }
    gateway.proc.signal_and_wait("KILL");
    let gateway = Gateway::start(&config);
    let spent = spent_micros(&admin_usage(&gateway).await, "capped");
    assert!(
        (10 * cost..=14 * cost).contains(&spent),
        "after SIGKILL: {spent} micro-dollars, expected between {} and {}",
        10 * cost,
        14 * cost
    );
}

#[tokio::test]
async fn an_abandoned_stream_is_billed_for_what_was_generated() {
    let mock = Mock::start("primary", &[]);
    let dir = temp_dir();
    let audit = dir.path().join("audit.jsonl");
    let gateway = Gateway::start(&config(
        &mock,
        &State::Embedded(&dir.path().join("state")),
        &audit,
        &capped_key(10_000_000),
    ));
    let mut body = chat_body("fast");
    body["stream"] = json!(true);
    let mut resp = send(
        &gateway,
        CAPPED_KEY,
        &body,
        &[("x-mock-chunks", "30"), ("x-mock-chunk-delay-ms", "100")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut seen = Vec::new();
    while seen.iter().filter(|b| **b == b'\n').count() < 4 {
        let chunk = resp.chunk().await.unwrap().expect("stream has 2 chunks");
        seen.extend_from_slice(&chunk);
    }
    drop(resp);

    let deadline = Instant::now() + Duration::from_secs(10);
    let spent = loop {
        let spent = spent_micros(&admin_usage(&gateway).await, "capped");
        if spent > 0 || Instant::now() > deadline {
            break spent;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(spent > 0, "the abandoned stream was billed");
    assert_eq!(spent % MICROS_PER_OUTPUT_TOKEN, 0);
    // It was billed for what was generated before the client left, not the whole answer.
    let tokens_billed = spent / MICROS_PER_OUTPUT_TOKEN;
    let deadline = Instant::now() + Duration::from_secs(5);
    let record = loop {
        if let Some(r) = audit_records(&audit)
            .into_iter()
            .find(|r| r["key"] == "capped")
        {
            break r;
        }
        assert!(Instant::now() < deadline, "no audit record");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(record["tokens_out"], tokens_billed, "{record}");
    assert_eq!(record["usage_estimated"], true, "{record}");
    assert_eq!(record["stream"], true, "{record}");
    assert!(record["ttft_ms"].as_f64().is_some(), "{record}");
    let full_answer = {
        let resp = send(&gateway, CAPPED_KEY, &chat_body("fast"), &[]).await;
        resp.json::<Value>().await.unwrap()["usage"]["completion_tokens"]
            .as_u64()
            .unwrap()
    };
    assert!(
        tokens_billed < full_answer || full_answer <= 2,
        "{tokens_billed} vs {full_answer}"
    );
}

/// Keys with small limits for the header checks.
fn limited_keys() -> String {
    format!(
        "  - {{name: rpm, key: \"{RPM_KEY}\", limits: {{rpm: 5}}}}\n  - {{name: tpm, key: \"{TPM_KEY}\", limits: {{tpm: 400}}}}"
    )
}

async fn headers_count_down_and_refusals_speak_the_clients_dialect(gateway: &Gateway) {
    let body = chat_body("fast");
    for expected_left in (0..5).rev() {
        let resp = send(gateway, RPM_KEY, &body, &[]).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-ratelimit-limit-requests"), "5");
        assert_eq!(
            header(&resp, "x-ratelimit-remaining-requests"),
            expected_left.to_string()
        );
        let reset = header(&resp, "x-ratelimit-reset-requests");
        assert!(reset.ends_with('s') && reset.len() >= 2, "{reset}");
    }
    let resp = send(gateway, RPM_KEY, &body, &[]).await;
    assert_eq!(header(&resp, "x-ratelimit-remaining-requests"), "0");
    let retry: u64 = header(&resp, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let error = expect_openai_error(resp, 429, "rate_limited").await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("key 'rpm'"),
        "{error}"
    );

    // Every route that reaches a provider is governed: Anthropic's Messages API too, refused in
    // Anthropic's own error shape.
    let resp = client()
        .post(gateway.url("/v1/messages"))
        .header("x-api-key", RPM_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "fast", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");

    // Tokens: each response reports what is left after its own reservation; the next one sees
    // the previous reservation reconciled to the real usage.
    let mut capped = chat_body("fast");
    capped["max_tokens"] = json!(20);
    let mut last = u64::MAX;
    for _ in 0..3 {
        let resp = send(gateway, TPM_KEY, &capped, &[]).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-ratelimit-limit-tokens"), "400");
        let left: u64 = header(&resp, "x-ratelimit-remaining-tokens")
            .parse()
            .unwrap();
        assert!(left < last, "{left} after {last}");
        last = left;
    }
    let big = {
        let mut b = chat_body("fast");
        b["max_tokens"] = json!(1000);
        b
    };
    let resp = send(gateway, TPM_KEY, &big, &[]).await;
    let error = expect_openai_error(resp, 429, "rate_limited").await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tokens per minute"),
        "{error}"
    );
}

#[tokio::test]
async fn rate_limit_headers_count_down_on_both_backends() {
    let redis = Redis::start();
    let mock = Mock::start("primary", &[]);
    let dir = temp_dir();
    let embedded = Gateway::start(&config(
        &mock,
        &State::Embedded(&dir.path().join("state")),
        &dir.path().join("a.jsonl"),
        &limited_keys(),
    ));
    headers_count_down_and_refusals_speak_the_clients_dialect(&embedded).await;
    let url = redis.url();
    let shared = Gateway::start(&config(
        &mock,
        &State::Redis {
            url: &url,
            prefix: "headers",
        },
        &dir.path().join("b.jsonl"),
        &limited_keys(),
    ));
    headers_count_down_and_refusals_speak_the_clients_dialect(&shared).await;
}

/// One request of a steady load: when it was sent, whether it was admitted, its real tokens.
struct Sample {
    at: Duration,
    ok: bool,
    tokens: u64,
}

/// Sends `rps` requests a second for `secs`, open loop, spread over `gateways`.
async fn steady_load(gateways: Vec<String>, key: &'static str, rps: u64, secs: u64) -> Vec<Sample> {
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rps));
    let mut tasks = Vec::new();
    for i in 0..rps * secs {
        ticker.tick().await;
        let url = gateways[i as usize % gateways.len()].clone();
        let at = start.elapsed();
        tasks.push(tokio::spawn(async move {
            let resp = client()
                .post(url)
                .bearer_auth(key)
                .json(&capped_chat(20))
                .send()
                .await
                .expect("request");
            let ok = match resp.status().as_u16() {
                200 => true,
                429 => false,
                other => panic!("unexpected status {other}"),
            };
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let tokens = body["usage"]["total_tokens"].as_u64().unwrap_or(0);
            Sample { at, ok, tokens }
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.push(t.await.unwrap());
    }
    samples
}

/// The most `measure` summed over admitted samples in any 60 s window (by send time).
fn busiest_minute(samples: &[Sample], measure: impl Fn(&Sample) -> u64) -> u64 {
    let ok: Vec<&Sample> = samples.iter().filter(|s| s.ok).collect();
    let mut best = 0;
    let mut sum = 0;
    let mut lo = 0;
    for hi in 0..ok.len() {
        sum += measure(ok[hi]);
        while ok[hi].at - ok[lo].at >= Duration::from_secs(60) {
            sum -= measure(ok[lo]);
            lo += 1;
        }
        best = best.max(sum);
    }
    best
}

fn check_limit_held(
    what: &str,
    samples: &[Sample],
    limit: u64,
    secs: u64,
    measure: impl Fn(&Sample) -> u64 + Copy,
) {
    let admitted: u64 = samples.iter().filter(|s| s.ok).map(measure).sum();
    let refused = samples.iter().filter(|s| !s.ok).count();
    let expected = limit * secs / 60;
    let busiest = busiest_minute(samples, measure);
    eprintln!("{what}: admitted {admitted} (expected {expected}), busiest minute {busiest} of {limit}, refused {refused} requests");
    assert!(refused > 0, "{what}: the load was over the limit");
    assert!(
        busiest as f64 <= limit as f64 * 1.01,
        "{what}: busiest minute {busiest} > {limit}"
    );
    // The limit holds exactly (above); that it admits what it should is checked with room
    // for a load generator that a busy machine slowed down.
    assert!(
        admitted as f64 >= expected as f64 * 0.95,
        "{what}: admitted {admitted}, expected at least 95% of {expected}"
    );
}

/// A steady load at twice the limits for two minutes (`SLUICE_TEST_LOAD_SECS` changes it; it
/// must stay over a minute so the window slides), RPM and TPM, on one embedded gateway and on
/// two gateways sharing Redis, all at once.
#[tokio::test]
async fn rpm_and_tpm_hold_within_one_percent_under_steady_over_limit_load() {
    let secs: u64 = std::env::var("SLUICE_TEST_LOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let redis = Redis::start();
    let mock = Mock::start("primary", &[]);
    let dir = temp_dir();
    // The real tokens of one request of the load: the mock's prompt count and its answer.
    let (prompt, output) = send_direct_usage(&mock).await;
    let per_request = prompt + output;
    let rps = 10;
    let rpm = 300; // half the offered 600 a minute
    let tpm = per_request * 300; // also about half
    let keys = format!(
        "  - {{name: rpm, key: \"{RPM_KEY}\", limits: {{rpm: {rpm}}}}}\n  - {{name: tpm, key: \"{TPM_KEY}\", limits: {{tpm: {tpm}}}}}"
    );
    let url = redis.url();
    let embedded = Gateway::start(&config(
        &mock,
        &State::Embedded(&dir.path().join("s")),
        &dir.path().join("e.jsonl"),
        &keys,
    ));
    let shared = State::Redis {
        url: &url,
        prefix: "load",
    };
    let a = Gateway::start(&config(&mock, &shared, &dir.path().join("a.jsonl"), &keys));
    let b = Gateway::start(&config(&mock, &shared, &dir.path().join("b.jsonl"), &keys));
    let one = vec![embedded.url("/v1/chat/completions")];
    let two = vec![a.url("/v1/chat/completions"), b.url("/v1/chat/completions")];
    let (e_rpm, e_tpm, r_rpm, r_tpm) = tokio::join!(
        steady_load(one.clone(), RPM_KEY, rps, secs),
        steady_load(one, TPM_KEY, rps, secs),
        steady_load(two.clone(), RPM_KEY, rps, secs),
        steady_load(two, TPM_KEY, rps, secs),
    );
    check_limit_held("embedded rpm", &e_rpm, rpm, secs, |_| 1);
    check_limit_held("embedded tpm", &e_tpm, tpm, secs, |s| s.tokens);
    check_limit_held("redis rpm (2 gateways)", &r_rpm, rpm, secs, |_| 1);
    check_limit_held("redis tpm (2 gateways)", &r_tpm, tpm, secs, |s| s.tokens);
}

/// The mock's (prompt, output) usage for `capped_chat(20)`.
async fn send_direct_usage(mock: &Mock) -> (u64, u64) {
    let resp = client()
        .post(format!("{}/v1/chat/completions", mock.url()))
        .bearer_auth(UPSTREAM_KEY)
        .json(&json!({"model": "gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "Say hello"}]}))
        .send()
        .await
        .expect("mock answers");
    let body: Value = resp.json().await.unwrap();
    (
        body["usage"]["prompt_tokens"].as_u64().unwrap(),
        body["usage"]["completion_tokens"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn the_admin_api_needs_its_token_reports_usage_and_resets_a_key() {
    let mock = Mock::start("primary", &[]);
    let dir = temp_dir();
    let n = mock_output_tokens(&mock).await;
    let cost = n * MICROS_PER_OUTPUT_TOKEN;
    let gateway = Gateway::start(&config(
        &mock,
        &State::Embedded(&dir.path().join("state")),
        &dir.path().join("audit.jsonl"),
        &format!(
            "{}\n  - {{name: rpm, key: \"{RPM_KEY}\", limits: {{rpm: 5}}}}",
            capped_key(2 * cost)
        ),
    ));
    for token in [None, Some("wrong-token-0123456789")] {
        let mut req = client().get(gateway.admin_url("/admin/usage"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains(ADMIN_TOKEN) && !text.contains("capped"),
            "{text}"
        );
    }
    let body = capped_chat(n);
    for _ in 0..2 {
        assert_eq!(send(&gateway, CAPPED_KEY, &body, &[]).await.status(), 200);
    }
    expect_openai_error(
        send(&gateway, CAPPED_KEY, &body, &[]).await,
        429,
        "budget_exceeded",
    )
    .await;
    // An Anthropic client is refused in Anthropic's shape.
    let resp = client()
        .post(gateway.url("/v1/messages"))
        .header("x-api-key", CAPPED_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "fast", "max_tokens": n, "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let refused: Value = resp.json().await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["error"]["type"], "rate_limit_error", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget exceeded for key 'capped'"),
        "{refused}"
    );
    assert_eq!(send(&gateway, RPM_KEY, &body, &[]).await.status(), 200);

    let usage = usage_once_spent(&gateway, "capped", 2 * cost).await;
    assert_eq!(usage["keys"]["capped"]["budget"]["period"], "total");
    assert_eq!(
        usage["keys"]["rpm"]["requests_last_minute"]["used"], 1,
        "{usage}"
    );
    assert!(
        !usage.to_string().contains(CAPPED_KEY),
        "secrets never appear: {usage}"
    );

    let reset = |name: &str| {
        client()
            .post(gateway.admin_url(&format!("/admin/keys/{name}/reset")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    assert_eq!(reset("nobody").await.unwrap().status(), 404);
    assert_eq!(reset("capped").await.unwrap().status(), 200);
    assert_eq!(spent_micros(&admin_usage(&gateway).await, "capped"), 0);
    assert_eq!(send(&gateway, CAPPED_KEY, &body, &[]).await.status(), 200);
}

#[tokio::test]
async fn an_unreachable_redis_fails_closed_by_default_and_open_when_configured() {
    let mock = Mock::start("primary", &[]);
    let dir = temp_dir();
    let dead = format!("redis://127.0.0.1:{}/0", free_port());
    let keys = format!("  - {{name: rpm, key: \"{RPM_KEY}\", limits: {{rpm: 100}}}}\n  - {{name: free, key: \"{CLIENT_KEY}\"}}");
    let closed = Gateway::start(&config(
        &mock,
        &State::Redis {
            url: &dead,
            prefix: "x",
        },
        &dir.path().join("a.jsonl"),
        &keys,
    ));
    let resp = send(&closed, RPM_KEY, &chat_body("fast"), &[]).await;
    expect_openai_error(resp, 503, "state_unavailable").await;
    // A key without limits or budget needs no state and is served.
    assert_eq!(
        send(&closed, CLIENT_KEY, &chat_body("fast"), &[])
            .await
            .status(),
        200
    );
    assert_eq!(
        metric(&closed, "sluice_state_errors_total{policy=\"fail_closed\"}").await,
        1.0
    );

    let open_config = config(
        &mock,
        &State::Redis {
            url: &dead,
            prefix: "x",
        },
        &dir.path().join("b.jsonl"),
        &keys,
    )
    .replace("prefix: \"x\"}", "prefix: \"x\", on_error: fail_open}");
    let open = Gateway::start(&open_config);
    assert_eq!(
        send(&open, RPM_KEY, &chat_body("fast"), &[]).await.status(),
        200
    );
    assert_eq!(
        metric(&open, "sluice_state_errors_total{policy=\"fail_open\"}").await,
        1.0
    );
}

#[tokio::test]
async fn a_stream_reports_its_cost_in_the_usage_chunk_the_client_asked_for() {
    let mock = Mock::start("primary", &[]);
    let dir = temp_dir();
    let gateway = Gateway::start(&config(
        &mock,
        &State::Embedded(&dir.path().join("state")),
        &dir.path().join("audit.jsonl"),
        &capped_key(10_000_000),
    ));
    let mut body = chat_body("fast");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = send(&gateway, CAPPED_KEY, &body, &[]).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let usage_chunk: Value = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|c| c["usage"].is_object())
        .expect("a usage chunk");
    let output = usage_chunk["usage"]["completion_tokens"].as_u64().unwrap();
    let cost = usage_chunk["usage"]["cost_usd"].as_f64().expect("cost_usd");
    assert_eq!(
        (cost * 1e6).round() as u64,
        output * MICROS_PER_OUTPUT_TOKEN
    );
    usage_once_spent(&gateway, "capped", output * MICROS_PER_OUTPUT_TOKEN).await;
}

/// Two keys of one team: the team's budget and concurrency limit are shared by both.
async fn team_limits_are_shared(gateway: &Gateway, cost: u64, n: u64) {
    // Concurrency 2 for the team: of 6 requests held 500 ms by the provider, 2 run.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let url = gateway.url("/v1/chat/completions");
        let key = if i % 2 == 0 { RPM_KEY } else { TPM_KEY };
        tasks.push(tokio::spawn(async move {
            client()
                .post(url)
                .bearer_auth(key)
                .header("x-mock-delay-ms", "500")
                .json(&capped_chat(n))
                .send()
                .await
                .unwrap()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        let resp = t.await.unwrap();
        let status = resp.status().as_u16();
        if status == 429 {
            let body = expect_openai_error(resp, 429, "rate_limited").await;
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("team 'research'"), "{message}");
        }
        statuses.push(status);
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 429, 429, 429, 429]);

    // The two settle (and leave the in-flight count) as the gateway logs them, just after
    // their responses went out.
    let deadline = Instant::now() + Duration::from_secs(5);
    while admin_usage(gateway).await["teams"]["research"]["in_flight"] != 0 {
        assert!(Instant::now() < deadline, "requests still in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The team budget fits 3 more requests (2 were spent above), whichever key sends them.
    let body = capped_chat(n);
    for key in [RPM_KEY, TPM_KEY, RPM_KEY] {
        assert_eq!(send(gateway, key, &body, &[]).await.status(), 200);
    }
    let resp = send(gateway, TPM_KEY, &body, &[]).await;
    let error = expect_openai_error(resp, 429, "budget_exceeded").await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("team 'research'"),
        "{error}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let usage = admin_usage(gateway).await;
        let team = &usage["teams"]["research"]["budget"]["spent_usd"];
        if (team.as_f64().unwrap_or(0.0) * 1e6).round() as u64 == 5 * cost {
            break;
        }
        assert!(Instant::now() < deadline, "{usage}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_team_shares_its_budget_and_concurrency_among_its_keys_on_both_backends() {
    let redis = Redis::start();
    let mock = Mock::start("primary", &[]);
    let dir = temp_dir();
    let n = mock_output_tokens(&mock).await;
    let cost = n * MICROS_PER_OUTPUT_TOKEN;
    let keys = format!(
        "  - {{name: alice, key: \"{RPM_KEY}\", team: research}}\n  - {{name: bob, key: \"{TPM_KEY}\", team: research}}\nteams:\n  - {{name: research, limits: {{concurrency: 2}}, budget: {{usd: {}, period: monthly}}}}",
        (5 * cost) as f64 / 1e6
    );
    let embedded = Gateway::start(&config(
        &mock,
        &State::Embedded(&dir.path().join("state")),
        &dir.path().join("a.jsonl"),
        &keys,
    ));
    team_limits_are_shared(&embedded, cost, n).await;
    let url = redis.url();
    let shared = Gateway::start(&config(
        &mock,
        &State::Redis {
            url: &url,
            prefix: "team",
        },
        &dir.path().join("b.jsonl"),
        &keys,
    ));
    team_limits_are_shared(&shared, cost, n).await;
}

/// A request may not wrap the arithmetic of a budget or a token limit: `max_tokens` of
/// 2^64 - 1 once spend or tokens are above zero is refused (it used to overflow the sum and be
/// admitted, then zero the other requests' reservations at settlement). Afterwards the
/// budget still admits exactly what fits, under concurrency.
async fn huge_demands_cannot_wrap_the_limits(gateway: &Gateway, n: u64, budget: u64) {
    let huge = u64::MAX;
    // Spend above zero first.
    let resp = send(gateway, CAPPED_KEY, &capped_chat(n), &[]).await;
    assert_eq!(resp.status(), 200);
    usage_once_spent(gateway, "capped", n * MICROS_PER_OUTPUT_TOKEN).await;

    let resp = client()
        .post(gateway.url("/v1/messages"))
        .header("x-api-key", CAPPED_KEY)
        .json(&json!({"model": "fast", "max_tokens": huge, "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_none(), "no wait helps");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than the whole budget"),
        "{body}"
    );
    let resp = send(gateway, CAPPED_KEY, &capped_chat(huge), &[]).await;
    expect_openai_error(resp, 429, "budget_exceeded").await;

    // Nothing is left reserved, and what is left of the budget is spent exactly.
    let usage = admin_usage(gateway).await;
    if let Some(reserved) = usage["keys"]["capped"]["budget"]["reserved_usd"].as_f64() {
        assert_eq!(reserved, 0.0, "{usage}");
    }
    let cost = n * MICROS_PER_OUTPUT_TOKEN;
    let left = (budget - cost) / cost;
    only_what_fits_succeeds(&[gateway], n, 2 * left as usize, left as usize).await;
    usage_once_spent(gateway, "capped", budget).await;

    // Tokens: one small request, then the largest possible demand.
    let mut small = chat_body("fast");
    small["max_tokens"] = json!(20);
    let resp = send(gateway, TPM_KEY, &small, &[]).await;
    assert_eq!(resp.status(), 200);
    let left: u64 = header(&resp, "x-ratelimit-remaining-tokens")
        .parse()
        .unwrap();
    assert!(left < 2000, "{left}");
    let resp = send(gateway, TPM_KEY, &capped_chat(huge), &[]).await;
    let error = expect_openai_error(resp, 429, "rate_limited").await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2000 tokens per minute"),
        "{error}"
    );
    // The window is intact: the next small request is admitted and counted below the last.
    let resp = send(gateway, TPM_KEY, &small, &[]).await;
    assert_eq!(resp.status(), 200);
    let after: u64 = header(&resp, "x-ratelimit-remaining-tokens")
        .parse()
        .unwrap();
    assert!(after < left, "{after} after {left}");
}

#[tokio::test]
async fn huge_max_tokens_cannot_wrap_a_budget_or_a_token_limit_on_both_backends() {
    let redis = Redis::start();
    let mock = Mock::start("primary", &[]);
    let dir = temp_dir();
    let n = mock_output_tokens(&mock).await;
    let budget = 10 * n * MICROS_PER_OUTPUT_TOKEN;
    let keys = format!(
        "{}\n  - {{name: tpm, key: \"{TPM_KEY}\", limits: {{tpm: 2000}}}}",
        capped_key(budget)
    );
    // No output ceiling, so the governance arithmetic itself is what holds.
    let uncapped = |config: String| {
        config.replace(
            "output_per_mtok: 1000}",
            "output_per_mtok: 1000}\n    max_output_tokens: 18446744073709551615",
        )
    };
    let embedded = Gateway::start(&uncapped(config(
        &mock,
        &State::Embedded(&dir.path().join("state")),
        &dir.path().join("a.jsonl"),
        &keys,
    )));
    huge_demands_cannot_wrap_the_limits(&embedded, n, budget).await;
    let url = redis.url();
    let shared = Gateway::start(&uncapped(config(
        &mock,
        &State::Redis {
            url: &url,
            prefix: "huge",
        },
        &dir.path().join("b.jsonl"),
        &keys,
    )));
    huge_demands_cannot_wrap_the_limits(&shared, n, budget).await;
}

/// A refused request names the configured model it asked for in the audit log, the access log
/// and the metrics: a 403 for a model the key may not use, and a 429.
#[tokio::test]
async fn refusals_are_recorded_under_the_model_they_named() {
    let mock = Mock::start("primary", &[]);
    let dir = temp_dir();
    let audit = dir.path().join("audit.jsonl");
    let keys = format!(
        "  - {{name: rpm, key: \"{RPM_KEY}\", limits: {{rpm: 1}}}}\n  - {{name: narrow, key: \"{CAPPED_KEY}\", models: [\"other\"]}}"
    );
    let config = config(
        &mock,
        &State::Embedded(&dir.path().join("state")),
        &audit,
        &keys,
    )
    .replace(
        "models:\n",
        "models:\n  - name: other\n    targets: [{provider: primary, model: gpt-4o}]\n",
    );
    let mut gateway = Gateway::start(&config);
    let resp = send(&gateway, CAPPED_KEY, &chat_body("fast"), &[]).await;
    expect_openai_error(resp, 403, "model_not_allowed").await;
    assert_eq!(
        send(&gateway, RPM_KEY, &chat_body("fast"), &[])
            .await
            .status(),
        200
    );
    let resp = send(&gateway, RPM_KEY, &chat_body("fast"), &[]).await;
    expect_openai_error(resp, 429, "rate_limited").await;
    // A name that is not configured is not a bounded value: it is not recorded.
    let resp = send(&gateway, CAPPED_KEY, &chat_body("no-such-model"), &[]).await;
    assert_eq!(resp.status(), 404);

    for (status, error_type) in [("403", "model_not_allowed"), ("429", "rate_limited")] {
        let series = format!(
            "sluice_requests_total{{error_type=\"{error_type}\",model=\"fast\",route=\"/v1/chat/completions\",status=\"{status}\"}}"
        );
        // Counted in the logging phase, just after the response.
        let counted = eventually(&series, || async {
            let n = metric(&gateway, &series).await;
            (n > 0.0).then_some(n)
        })
        .await;
        assert_eq!(counted, 1.0, "{series}");
    }
    gateway.proc.signal_and_wait("TERM");
    let records = audit_records(&audit);
    let by_error = |e: &str| {
        records
            .iter()
            .find(|r| r["error_type"] == e)
            .unwrap_or_else(|| panic!("no {e} record in {records:?}"))
            .clone()
    };
    assert_eq!(by_error("model_not_allowed")["model"], "fast");
    assert_eq!(by_error("rate_limited")["model"], "fast");
    assert_eq!(by_error("model_not_found")["model"], Value::Null);
    let log = gateway.proc.log();
    assert!(
        log.lines()
            .any(|l| l.contains("status=403") && l.contains("model=fast")),
        "{log}"
    );
}

/// Once a key's requests window is full, its next request is refused before its body is read:
/// the gateway answers a request whose body never comes.
#[tokio::test]
async fn a_key_over_its_request_limit_is_refused_before_its_body_is_read() {
    use std::io::{Read, Write};
    let mock = Mock::start("primary", &[]);
    let dir = temp_dir();
    let keys = format!("  - {{name: rpm, key: \"{RPM_KEY}\", limits: {{rpm: 1}}}}");
    let gateway = Gateway::start(&config(
        &mock,
        &State::Embedded(&dir.path().join("state")),
        &dir.path().join("audit.jsonl"),
        &keys,
    ));
    assert_eq!(
        send(&gateway, RPM_KEY, &chat_body("fast"), &[])
            .await
            .status(),
        200
    );
    let resp = send(&gateway, RPM_KEY, &chat_body("fast"), &[]).await;
    expect_openai_error(resp, 429, "rate_limited").await;

    let addr = gateway.addr;
    let (head, body) = tokio::task::spawn_blocking(move || {
        let mut socket = std::net::TcpStream::connect(addr).unwrap();
        write!(
            socket,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {RPM_KEY}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{{\"model\":"
        )
        .unwrap();
        let mut answer = String::new();
        socket.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        (head.to_owned(), body.to_owned())
    })
    .await
    .unwrap();
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], "rate_limited", "{error}");
    assert_eq!(mock.count().await, 1);
}
