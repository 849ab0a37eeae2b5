//! Failover that fires: dead endpoints, throttled keys, overloaded providers, stalls and health
//! checks, each with exact counts; and failures that must not be retried.

use crate::common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn posts(mock: &Mock) -> u64 {
    mock.received().await["posts"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_dead_endpoint_costs_no_client_errors() {
    let a = Mock::start("a", &["--chunk-delay-ms", "0"]);
    let mut b = Some(Mock::start("b", &["--chunk-delay-ms", "0"]));
    let b_url = b.as_ref().unwrap().url();
    let gw = Gateway::start(&format!(
        r#"
providers:
  pool: {{kind: openai, endpoints: [{{url: "{}"}}, {{url: "{b_url}"}}], api_keys: ["k"]}}
models:
  - {{name: fast, targets: [{{provider: pool, model: m}}]}}
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#,
        a.url()
    ));
    let gw = std::sync::Arc::new(gw);
    let mut failures = Vec::new();
    let mut done = 0;
    for batch in 0..50 {
        if batch == 15 {
            b.take(); // kill endpoint b mid-run, with pooled connections to it
        }
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let gw = gw.clone();
            tasks.push(tokio::spawn(async move {
                let stream = rand_bool();
                let mut body = chat_body("fast");
                body["stream"] = json!(stream);
                let resp = gw.post("/v1/chat/completions", &body).await;
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                (status, stream, text)
            }));
        }
        for t in tasks {
            let (status, stream, text) = t.await.unwrap();
            done += 1;
            let ok = status == 200 && (!stream || text.ends_with("data: [DONE]\n\n"));
            if !ok {
                failures.push(format!("{status} {text}"));
            }
        }
    }
    assert_eq!(done, 500);
    assert!(
        failures.is_empty(),
        "{} client errors: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert!(posts(&a).await >= 250, "a carried the load after b died");
}

fn rand_bool() -> bool {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        % 2
        == 0
}

#[tokio::test]
async fn a_throttled_key_moves_to_the_next_key_and_target() {
    let mock = Mock::start("keys", &[]);
    mock.set_faults(json!({"status": 429, "retry_after": 1, "only_key": "key-one", "chunks": 3, "chunk_delay_ms": 0})).await;
    let gw = Gateway::start(&format!(
        r#"
providers:
  two-keys: {{kind: openai, endpoints: [{{url: "{}"}}], api_keys: ["key-one", "key-two"]}}
models:
  - {{name: fast, targets: [{{provider: two-keys, model: m}}]}}
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#,
        mock.url()
    ));
    for _ in 0..20 {
        let resp = gw.chat("fast").await;
        assert_eq!(resp.status(), 200);
    }
    let seen = mock.received().await;
    let with = |key: &str| {
        seen["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["authorization"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(key)
            })
            .count()
    };
    assert_eq!(
        with("key-two"),
        20,
        "every request was served with the second key"
    );
    assert!(
        with("key-one") >= 1 && with("key-one") <= 3,
        "the throttled key was tried, then left alone for its retry-after"
    );
}

#[tokio::test]
async fn throttled_targets_fall_through_and_the_last_cause_reaches_the_client() {
    let busy = Mock::start("busy", &["--status", "429"]);
    let free = Mock::start("free", &[]);
    let config = |free_url: &str| {
        format!(
            r#"
providers:
  busy: {{kind: openai, endpoints: [{{url: "{}"}}], api_keys: ["kb"]}}
  free: {{kind: openai, endpoints: [{{url: "{free_url}"}}], api_keys: ["kf"]}}
models:
  - name: fast
    targets: [{{provider: busy, model: m, weight: 9}}, {{provider: free, model: m, weight: 1}}]
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#,
            busy.url()
        )
    };
    let gw = Gateway::start(&config(&free.url()));
    for _ in 0..10 {
        let resp = gw.chat("fast").await;
        assert_eq!(
            resp.status(),
            200,
            "another target is healthy: no request fails"
        );
        assert_eq!(resp.headers()["x-sluice-provider"], "free");
    }
    // Every target throttled: one clean error, the provider's own, with its retry-after.
    free.set_faults(json!({"status": 429, "retry_after": 1}))
        .await;
    let resp = gw.chat("fast").await;
    assert_eq!(resp.headers()["retry-after"], "1");
    let attempts: u32 = resp.headers()["x-sluice-attempts"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(attempts >= 2, "{attempts}");
    let body = expect_openai_error(resp, 429, "rate_limit_exceeded").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fault: status 429"),
        "{body}"
    );
}

#[tokio::test]
async fn an_overloaded_anthropic_target_falls_back_to_an_openai_model() {
    let claude = Mock::start("claude", &["--kind", "anthropic", "--status", "529"]);
    let gpt = Mock::start("gpt", &["--chunk-delay-ms", "0"]);
    let gw = Gateway::start(&format!(
        r#"
providers:
  anthropic: {{kind: anthropic, endpoints: [{{url: "{}"}}], api_keys: ["ka"]}}
  openai: {{kind: openai, endpoints: [{{url: "{}"}}], api_keys: ["ko"]}}
models:
  - {{name: smart, targets: [{{provider: anthropic, model: claude-sonnet-4-5}}], fallbacks: [backup]}}
  - {{name: backup, targets: [{{provider: openai, model: gpt-4o}}]}}
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#,
        claude.url(),
        gpt.url()
    ));
    for stream in [false, true] {
        let mut body = chat_body("smart");
        body["stream"] = json!(stream);
        let resp = gw.post("/v1/chat/completions", &body).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-sluice-provider"], "openai");
        assert_eq!(resp.headers()["x-sluice-model"], "gpt-4o");
        let text = resp.text().await.unwrap();
        assert!(
            text.contains("Hello from ") && text.contains("gpt (gpt-4o)"),
            "{text}"
        );
        if stream {
            assert!(text.ends_with("data: [DONE]\n\n"));
        }
    }
    // Each attempt was encoded for its own dialect.
    let to_claude = claude.last_request().await;
    assert_eq!(to_claude["path"], "/v1/messages");
    assert!(to_claude["body"]["max_tokens"].is_u64());
    assert_eq!(gpt.last_request().await["body"]["model"], "gpt-4o");
    assert_eq!(metric(&gw, "sluice_fallbacks_total{from_model=\"smart\",reason=\"upstream_overloaded\",to_model=\"backup\"}").await, 2.0);
    assert!(
        metric(
            &gw,
            "sluice_upstream_attempts_total{outcome=\"http_5xx\",provider=\"anthropic\"}"
        )
        .await
            >= 2.0
    );
}

#[tokio::test]
async fn a_stalled_upstream_times_out_and_fails_over() {
    let stalled = Mock::start("stalled", &["--delay-ms", "10000"]);
    let live = Mock::start("live", &["--chunk-delay-ms", "0"]);
    let gw = Gateway::start(&format!(
        r#"
providers:
  stalled: {{kind: openai, endpoints: [{{url: "{}"}}], timeouts: {{first_byte: 400ms, idle: 400ms}}}}
  live: {{kind: openai, endpoints: [{{url: "{}"}}]}}
models:
  - name: fast
    targets: [{{provider: stalled, model: m, weight: 1}}, {{provider: live, model: m, weight: 0}}]
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#,
        stalled.url(),
        live.url()
    ));
    for stream in [false, true] {
        let mut body = chat_body("fast");
        body["stream"] = json!(stream);
        let started = Instant::now();
        let resp = gw.post("/v1/chat/completions", &body).await;
        let waited = started.elapsed();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-sluice-provider"], "live");
        // It waited for the stalled provider's first-byte timeout, then went elsewhere.
        assert!(waited >= Duration::from_millis(380), "{waited:?}");
        let _ = resp.text().await;
    }
    assert!(
        metric(
            &gw,
            "sluice_upstream_attempts_total{outcome=\"timeout\",provider=\"stalled\"}"
        )
        .await
            >= 2.0
    );
}

#[tokio::test]
async fn a_stream_cut_after_three_chunks_ends_with_an_error_event() {
    let mock = Mock::start(
        "cut",
        &["--chunks", "8", "--chunk-delay-ms", "5", "--cut-after", "3"],
    );
    let gw = Gateway::start(&basic_config(&mock));
    let mut body = chat_body("fast");
    body["stream"] = json!(true);
    let resp = gw.post("/v1/chat/completions", &body).await;
    assert_eq!(resp.status(), 200);
    let mut text = String::new();
    let mut s = resp.bytes_stream();
    while let Some(Ok(c)) = s.next().await {
        text.push_str(std::str::from_utf8(&c).unwrap());
    }
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert!(!text.contains("[DONE]"));
    let last: Value =
        serde_json::from_str(events.last().unwrap().strip_prefix("data: ").unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{text}");
    assert_eq!(
        text.matches("\"content\":\"").count() - 1,
        3,
        "role chunk + 3 content chunks: {text}"
    );
    assert_eq!(posts(&mock).await, 1, "bytes reached the client: no retry");
}

#[tokio::test]
async fn request_errors_are_not_retried() {
    let mock = Mock::start("strict", &["--status", "400"]);
    let gw = Gateway::start(&basic_config(&mock));
    let resp = gw.chat("fast").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-sluice-attempts"], "1");
    assert_eq!(posts(&mock).await, 1);
}

async fn status_of(gw: &Gateway, endpoint: &str) -> Value {
    let status: Value = client()
        .get(gw.admin_url("/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    status["providers"][0]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == endpoint)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn health_checks_take_an_endpoint_out_and_bring_it_back() {
    let a = Mock::start("a", &["--chunk-delay-ms", "0"]);
    let b = Mock::start("b", &["--chunk-delay-ms", "0"]);
    let gw = Gateway::start(&format!(
        r#"
providers:
  pool:
    kind: openai
    endpoints: [{{url: "{}"}}, {{url: "{}"}}]
    api_keys: ["k"]
    health_check: {{path: /v1/models, interval: 200ms, timeout: 500ms, healthy_after: 2, unhealthy_after: 2}}
models:
  - {{name: fast, targets: [{{provider: pool, model: m}}]}}
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#,
        a.url(),
        b.url()
    ));
    let b_label = b.addr.to_string();
    // The check carries the provider's key.
    let check = eventually("a health check reaches b", || async {
        b.received().await["requests"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["method"] == "GET").cloned())
    })
    .await;
    assert_eq!(check["authorization"], "Bearer k");
    assert_eq!(check["path"], "/v1/models");

    b.set_faults(json!({"status": 503})).await;
    eventually("b is marked down", || async {
        (status_of(&gw, &b_label).await["healthy"] == false).then_some(())
    })
    .await;
    assert_eq!(
        metric(
            &gw,
            &format!("sluice_endpoint_healthy{{endpoint=\"{b_label}\",provider=\"pool\"}}")
        )
        .await,
        0.0
    );
    let before = posts(&b).await;
    for _ in 0..20 {
        assert_eq!(gw.chat("fast").await.status(), 200);
    }
    assert_eq!(
        posts(&b).await,
        before,
        "no request goes to an endpoint that is down"
    );

    b.set_faults(json!({"chunk_delay_ms": 0})).await;
    eventually("b is marked up again", || async {
        (status_of(&gw, &b_label).await["healthy"] == true).then_some(())
    })
    .await;
    for _ in 0..20 {
        assert_eq!(gw.chat("fast").await.status(), 200);
    }
    assert!(
        posts(&b).await >= before + 8,
        "traffic returns once it is healthy"
    );
}

#[tokio::test]
async fn a_failing_endpoint_is_ejected_and_probed_back() {
    let good = Mock::start("good", &["--chunk-delay-ms", "0"]);
    let bad = Mock::start("bad", &["--status", "503"]);
    let gw = Gateway::start(&format!(
        r#"
providers:
  pool: {{kind: openai, endpoints: [{{url: "{}"}}, {{url: "{}"}}]}}
models:
  - {{name: fast, targets: [{{provider: pool, model: m}}]}}
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
circuit_breaker: {{failures: 3, cooldown: 1s}}
"#,
        good.url(),
        bad.url()
    ));
    for _ in 0..30 {
        assert_eq!(gw.chat("fast").await.status(), 200);
    }
    assert_eq!(posts(&bad).await, 3, "ejected after 3 consecutive failures");
    assert_eq!(status_of(&gw, &bad.addr.to_string()).await["ejected"], true);
    // After the cooldown one probe goes through; it fails, so the ejection doubles.
    eventually("the cooldown ends", || async {
        (status_of(&gw, &bad.addr.to_string()).await["ejected"] == false).then_some(())
    })
    .await;
    for _ in 0..10 {
        assert_eq!(gw.chat("fast").await.status(), 200);
    }
    assert_eq!(posts(&bad).await, 4, "exactly one probe");
    assert_eq!(
        metric(
            &gw,
            &format!(
                "sluice_endpoint_ejected{{endpoint=\"{}\",provider=\"pool\"}}",
                bad.addr
            )
        )
        .await,
        1.0
    );
}

#[tokio::test]
async fn a_stream_stalling_mid_way_ends_at_the_idle_timeout() {
    let mock = Mock::start("slowpoke", &["--chunks", "4", "--chunk-delay-ms", "2000"]);
    let gw = Gateway::start(&format!(
        r#"
providers:
  slow: {{kind: openai, endpoints: [{{url: "{}"}}], timeouts: {{idle: 300ms}}}}
models:
  - {{name: fast, targets: [{{provider: slow, model: m}}]}}
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#,
        mock.url()
    ));
    let mut body = chat_body("fast");
    body["stream"] = json!(true);
    let resp = gw.post("/v1/chat/completions", &body).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap_or_default();
    // The provider would finish after 8 s with [DONE]; the idle timeout ended it first.
    assert!(!text.contains("[DONE]"), "{text}");
    let last = text.split("\n\n").filter(|e| !e.is_empty()).last().unwrap();
    assert!(last.contains("\"error\""), "{text}");
    assert_eq!(posts(&mock).await, 1, "bytes reached the client: no retry");
}
