//! Failover that never quietly gives up: a burst of failures does not use up retries for the
//! quiet that follows, every listed fallback is tried whatever `retries.attempts` says, and a
//! fallback is only reached by a key allowed to use it.

use crate::common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};

/// Sends `body` for `model`; returns the status, the provider that answered and the attempts.
async fn ask(gw: &Gateway, model: &str) -> (u16, String, u64) {
    let resp = gw.chat(model).await;
    let provider = header(&resp, "x-sluice-provider");
    let attempts = header(&resp, "x-sluice-attempts").parse().unwrap_or(0);
    (resp.status().as_u16(), provider, attempts)
}

const GOOD_SERVED: &str = "sluice_upstream_attempts_total{outcome=\"success\",provider=\"good\"}";

/// A burst of 60 requests at once, then 40 one at a time, to a model whose primary fails:
/// every one is served by the secondary, and every failed attempt was retried.
async fn burst_then_quiet(gw: &std::sync::Arc<Gateway>, model: &'static str, primary: &str) {
    let before = metric(gw, GOOD_SERVED).await;
    let failed_before = failed_attempts(gw, primary).await;
    let mut answers = Vec::new();
    let burst: Vec<_> = (0..60)
        .map(|_| {
            let gw = gw.clone();
            tokio::spawn(async move { ask(&gw, model).await })
        })
        .collect();
    for task in burst {
        answers.push(task.await.unwrap());
    }
    for _ in 0..40 {
        answers.push(ask(gw, model).await);
    }
    let errors: Vec<_> = answers.iter().filter(|(s, _, _)| *s != 200).collect();
    assert!(
        errors.is_empty(),
        "{model}: {} client errors: {errors:?}",
        errors.len()
    );
    assert!(
        answers.iter().all(|(_, p, _)| p == "good"),
        "{model}: every answer from the secondary"
    );
    // Every failed attempt on the primary is one retry of a request that then succeeded.
    let retries: u64 = answers.iter().map(|(_, _, a)| a - 1).sum();
    assert!(retries > 0, "{model}: the primary was tried");
    assert_eq!(
        failed_attempts(gw, primary).await - failed_before,
        retries as f64,
        "{model}"
    );
    let served = metric(gw, GOOD_SERVED).await;
    assert_eq!(served - before, 100.0, "{model}");
}

async fn failed_attempts(gw: &Gateway, provider: &str) -> f64 {
    metrics_text(gw)
        .await
        .lines()
        .filter(|l| l.starts_with("sluice_upstream_attempts_total{"))
        .filter(|l| l.contains(&format!("provider=\"{provider}\"")) && !l.contains("success"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_burst_of_failures_leaves_retries_for_the_quiet_after_it() {
    let bad = Mock::start("bad", &["--status", "503"]);
    let stall = Mock::start("stall", &["--delay-ms", "10000"]);
    let good = Mock::start("good", &[]);
    let gw = std::sync::Arc::new(Gateway::start(&format!(
        r#"
retries: {{attempts: 2, backoff: 100ms}}
providers:
  bad: {{kind: openai, endpoints: [{{url: "{bad}"}}], api_keys: ["k"]}}
  stall: {{kind: openai, endpoints: [{{url: "{stall}"}}], api_keys: ["k"], timeouts: {{first_byte: 300ms}}}}
  good: {{kind: openai, endpoints: [{{url: "{good}"}}], api_keys: ["k"]}}
models:
  - name: broken
    targets: [{{provider: bad, model: m, weight: 100}}, {{provider: good, model: m, weight: 1}}]
  - name: stalled
    targets: [{{provider: stall, model: m, weight: 100}}, {{provider: good, model: m, weight: 1}}]
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#,
        bad = bad.url(),
        stall = stall.url(),
        good = good.url(),
    )));
    burst_then_quiet(&gw, "broken", "bad").await;
    burst_then_quiet(&gw, "stalled", "stall").await;
}

fn fallback_config(down1: &Mock, down2: &Mock, up: &Mock) -> String {
    format!(
        r#"
retries: {{attempts: 2, backoff: 100ms}}
providers:
  down1: {{kind: openai, endpoints: [{{url: "{}"}}], api_keys: ["k"]}}
  down2: {{kind: anthropic, endpoints: [{{url: "{}"}}], api_keys: ["k"]}}
  up: {{kind: openai, endpoints: [{{url: "{}"}}], api_keys: ["k"]}}
models:
  - name: primary
    targets: [{{provider: down1, model: m1}}, {{provider: down2, model: m2}}]
    fallbacks: [backup]
  - name: backup
    targets: [{{provider: up, model: m3}}]
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
  - {{name: narrow, key: "{OTHER_KEY}", models: [primary]}}
"#,
        down1.url(),
        down2.url(),
        up.url()
    )
}

#[tokio::test]
async fn every_fallback_is_tried_whatever_the_attempts() {
    let down1 = Mock::start("down1", &["--status", "503"]);
    let down2 = Mock::start("down2", &["--kind", "anthropic", "--status", "529"]);
    let up = Mock::start("up", &[]);
    let gw = Gateway::start(&fallback_config(&down1, &down2, &up));
    for stream in [false, true] {
        // OpenAI's dialect.
        let mut body = chat_body("primary");
        body["stream"] = json!(stream);
        let resp = gw.post("/v1/chat/completions", &body).await;
        assert_eq!(resp.status(), 200, "stream={stream}");
        assert_eq!(header(&resp, "x-sluice-provider"), "up");
        assert_eq!(header(&resp, "x-sluice-attempts"), "3");
        let text = resp.text().await.unwrap();
        if stream {
            assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
        } else {
            let answer: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(answer["object"], "chat.completion");
        }
        // Anthropic's dialect.
        let resp = client()
            .post(gw.url("/v1/messages"))
            .header("x-api-key", CLIENT_KEY)
            .json(&json!({"model": "primary", "max_tokens": 50, "stream": stream, "messages": [{"role": "user", "content": "Hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "messages stream={stream}");
        assert_eq!(header(&resp, "x-sluice-provider"), "up");
        if stream {
            let mut events = String::new();
            let mut body = resp.bytes_stream();
            while let Some(chunk) = body.next().await {
                events.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
            }
            assert!(events.contains("event: message_stop"), "{events}");
        } else {
            let answer: Value = resp.json().await.unwrap();
            assert_eq!(answer["type"], "message");
        }
    }
    assert_eq!(up.received().await["posts"], 4);
}

#[tokio::test]
async fn a_fallback_outside_the_keys_allow_list_is_never_reached() {
    let down1 = Mock::start("down1", &["--status", "503"]);
    let down2 = Mock::start("down2", &["--kind", "anthropic", "--status", "529"]);
    let up = Mock::start("up", &[]);
    let gw = Gateway::start(&fallback_config(&down1, &down2, &up));
    // Asked for directly: 403.
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(OTHER_KEY)
        .json(&chat_body("backup"))
        .send()
        .await
        .unwrap();
    expect_openai_error(resp, 403, "model_not_allowed").await;
    // Through the fallback: the primary's last answer reaches the client; backup is skipped.
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(OTHER_KEY)
        .json(&chat_body("primary"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    // Both targets, then the one repeat `attempts: 2` allows; never the fallback.
    assert_eq!(header(&resp, "x-sluice-attempts"), "3");
    assert_eq!(up.count().await, 0, "the fallback was never reached");
    // The access line is written just after the response: wait for it.
    eventually("the access log names the skipped fallback", || async {
        gw.proc
            .log()
            .lines()
            .any(|l| l.contains("key=narrow") && l.contains("skipped=backup:not_allowed"))
            .then_some(())
    })
    .await;
}
