//! Failures reach each client in its own dialect: provider errors translated with mapped
//! status and retry-after, errors after HTTP 200 and cut streams as in-band error events (never
//! a clean end), gateway errors on `/v1/messages` Anthropic-shaped, usage metered even when the
//! client walks away mid-stream.

use crate::common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;

struct Setup {
    gateway: Gateway,
    _mocks: Vec<Mock>,
}

fn setup(extra: &[&str]) -> Setup {
    let kinds = ["openai", "anthropic", "gemini"];
    let mut args = vec!["--chunks", "6"];
    args.extend_from_slice(extra);
    let mocks: Vec<Mock> = kinds
        .iter()
        .map(|k| {
            let mut a = vec!["--kind", *k];
            a.extend_from_slice(&args);
            Mock::start(k, &a)
        })
        .collect();
    let mut config = String::from("providers:\n");
    for (kind, mock) in kinds.iter().zip(&mocks) {
        config.push_str(&format!("  {kind}-up: {{kind: {kind}, endpoints: [{{url: \"{}\"}}], api_keys: [\"k-{kind}\"], forward_headers: [\"x-mock-*\"]}}\n", mock.url()));
    }
    config.push_str("models:\n");
    for kind in kinds {
        config.push_str(&format!(
            "  - {{name: via-{kind}, targets: [{{provider: {kind}-up, model: m-{kind}}}]}}\n"
        ));
    }
    config.push_str(&format!(
        "keys:\n  - {{name: full, key: \"{CLIENT_KEY}\"}}\n"
    ));
    // One attempt: these tests are about what a single provider failure looks like.
    config.push_str("retries: {attempts: 1}\n");
    Setup {
        gateway: Gateway::start(&config),
        _mocks: mocks,
    }
}

fn openai_req(gw: &Gateway, model: &str, stream: bool) -> reqwest::RequestBuilder {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .json(&json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "Say hello"}]}))
}

fn anthropic_req(gw: &Gateway, model: &str, stream: bool) -> reqwest::RequestBuilder {
    client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", CLIENT_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": model, "max_tokens": 100, "stream": stream, "messages": [{"role": "user", "content": "Say hello"}]}))
}

async fn anthropic_error(resp: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    body
}

#[tokio::test]
async fn provider_errors_are_translated_with_status_and_retry_after() {
    let s = setup(&[]);
    let gw = &s.gateway;

    // Streams fail the same way before the first byte.
    let resp = anthropic_req(gw, "via-gemini", true)
        .header("x-mock-status", "503")
        .send()
        .await
        .unwrap();
    anthropic_error(resp, 529, "overloaded_error").await;

    // Anthropic's 529 overload: OpenAI clients know 503 and retry it.
    let resp = openai_req(gw, "via-anthropic", false)
        .header("x-mock-status", "529")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["retry-after"], "1");
    let body = expect_openai_error(resp, 503, "overloaded").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("mock anthropic fault"));

    // An OpenAI-dialect 503 reaches Anthropic clients as 529 overloaded_error, which their
    // SDKs retry; a 429 as rate_limit_error, retry-after kept. (A 429 ejects the key it was
    // sent with, so each provider's 429 comes last.)
    let resp = anthropic_req(gw, "via-openai", false)
        .header("x-mock-status", "503")
        .send()
        .await
        .unwrap();
    anthropic_error(resp, 529, "overloaded_error").await;
    let resp = anthropic_req(gw, "via-openai", false)
        .header("x-mock-status", "429")
        .header("x-mock-retry-after", "9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["retry-after"], "9");
    anthropic_error(resp, 429, "rate_limit_error").await;

    // Gemini says when to retry only in its body (RetryInfo).
    let resp = anthropic_req(gw, "via-gemini", false)
        .header("x-mock-status", "400")
        .send()
        .await
        .unwrap();
    anthropic_error(resp, 400, "invalid_request_error").await;
    let resp = openai_req(gw, "via-gemini", false)
        .header("x-mock-status", "429")
        .header("x-mock-retry-after", "7")
        .send()
        .await
        .unwrap();
    let body = expect_openai_error(resp, 429, "rate_limit_exceeded").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retry after 7s"),
        "{body}"
    );
}

async fn read_all(resp: reqwest::Response) -> String {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => out.extend_from_slice(&c),
            Err(_) => break,
        }
    }
    String::from_utf8(out).unwrap()
}

fn assert_openai_in_band_error(text: &str, cell: &str) {
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    let last = events.last().unwrap();
    assert!(!text.contains("[DONE]"), "{cell}: no clean end: {text}");
    let error: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
    assert!(error["error"]["message"].is_string(), "{cell}: {text}");
    let content_chunks = events
        .iter()
        .filter(|e| e.contains("\"content\":\"") && !e.contains("\"content\":\"\""))
        .count();
    assert_eq!(
        content_chunks, 2,
        "{cell}: the chunks sent before the failure arrive: {text}"
    );
}

fn assert_anthropic_in_band_error(text: &str, cell: &str) {
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert!(
        events.last().unwrap().starts_with("event: error\n"),
        "{cell}: {text}"
    );
    assert!(
        !text.contains("message_stop"),
        "{cell}: no clean end: {text}"
    );
    assert_eq!(text.matches("text_delta").count(), 2, "{cell}: {text}");
}

#[tokio::test]
async fn errors_after_200_and_cut_streams_end_in_band() {
    let s = setup(&["--chunk-delay-ms", "5"]);
    let gw = &s.gateway;
    for fault in ["x-mock-stream-error-after", "x-mock-cut-after"] {
        for model in ["via-openai", "via-anthropic", "via-gemini"] {
            let cell = format!("{fault} {model}");
            let resp = openai_req(gw, model, true)
                .header(fault, "2")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{cell}");
            assert_openai_in_band_error(&read_all(resp).await, &format!("openai client, {cell}"));
            let resp = anthropic_req(gw, model, true)
                .header(fault, "2")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{cell}");
            assert_anthropic_in_band_error(
                &read_all(resp).await,
                &format!("anthropic client, {cell}"),
            );
        }
    }
}

#[tokio::test]
async fn gateway_errors_on_the_messages_route_are_anthropic_shaped() {
    let s = setup(&[]);
    let gw = &s.gateway;
    let url = gw.url("/v1/messages");
    let body = json!({"model": "via-openai", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
    let resp = client().post(&url).json(&body).send().await.unwrap();
    anthropic_error(resp, 401, "authentication_error").await;
    let resp = client().post(&url).header("x-api-key", CLIENT_KEY).json(&json!({"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})).send().await.unwrap();
    anthropic_error(resp, 404, "not_found_error").await;
    let resp = client()
        .post(&url)
        .header("x-api-key", CLIENT_KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    anthropic_error(resp, 400, "invalid_request_error").await;
    let resp = client().post(&url).header("x-api-key", CLIENT_KEY).json(&json!({"model": "via-openai", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="}}]}]})).send().await.unwrap();
    let err = anthropic_error(resp, 400, "invalid_request_error").await;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("document"),
        "{err}"
    );

    // Embeddings from a provider that has none, and token counting.
    let resp = gw
        .post(
            "/v1/embeddings",
            &json!({"model": "via-anthropic", "input": "x"}),
        )
        .await;
    expect_openai_error(resp, 400, "unsupported_by_provider").await;
    let count = |model: &str| {
        client()
            .post(gw.url("/v1/messages/count_tokens"))
            .header("x-api-key", CLIENT_KEY)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "Hello, how are you today?"}]}))
            .send()
    };
    let resp = count("via-anthropic").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers().get("x-sluice-estimated").is_none(),
        "Anthropic counts itself"
    );
    let counted: Value = resp.json().await.unwrap();
    assert!(counted["input_tokens"].as_u64().unwrap() > 0);
    let resp = count("via-gemini").await.unwrap();
    assert_eq!(resp.headers()["x-sluice-estimated"], "true");
    let estimated: Value = resp.json().await.unwrap();
    assert!(estimated["input_tokens"].as_u64().unwrap() > 0);
}

async fn tokens(gw: &Gateway, provider: &str, kind: &str) -> f64 {
    let series = format!("sluice_tokens_total{{model=\"via-{provider}\",provider=\"{provider}-up\",type=\"{kind}\"}}");
    metric(gw, &series).await
}

#[tokio::test]
async fn usage_is_metered_when_the_client_leaves_mid_stream() {
    let s = setup(&["--chunk-delay-ms", "150"]);
    let gw = &s.gateway;
    for provider in ["anthropic", "openai", "gemini"] {
        let resp = openai_req(gw, &format!("via-{provider}"), true)
            .send()
            .await
            .unwrap();
        let mut stream = resp.bytes_stream();
        let mut seen = String::new();
        while seen.matches("\"content\":\"").count() < 3 {
            let chunk = stream.next().await.unwrap().unwrap();
            seen.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        drop(stream);
        let mut waited = 0;
        while tokens(gw, provider, "output").await == 0.0 && waited < 40 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        assert!(
            tokens(gw, provider, "output").await > 0.0,
            "{provider}: output metered"
        );
        assert!(
            tokens(gw, provider, "input").await > 0.0,
            "{provider}: input metered"
        );
    }
    // Every dialect bills an abandoned stream the same way: an estimate, even where the
    // provider had reported a provisional count (Anthropic's `message_start`).
    for provider in ["anthropic", "openai", "gemini"] {
        let model = format!("model=via-{provider} ");
        let line = eventually("the abandoned stream's access line", || async {
            s.gateway
                .proc
                .log()
                .lines()
                .find(|l| l.contains(&model) && l.contains("stream=true"))
                .map(str::to_owned)
        })
        .await;
        assert!(
            line.contains("usage_estimated=true"),
            "{provider}: abandoned streams are marked estimated: {line}"
        );
    }
}
