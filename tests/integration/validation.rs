//! Request bodies are type-checked on every route before anything is admitted or forwarded:
//! same-dialect requests, which pass through as the client's bytes, included. A refusal is a
//! 400 in the client's dialect naming the field, and the provider never sees the request.

use crate::common::*;
use serde_json::{json, Value};

fn config(openai: &Mock, anthropic: &Mock) -> String {
    format!(
        r#"
providers:
  primary:
    kind: openai
    endpoints: [{{url: "{openai}"}}]
    api_keys: ["{UPSTREAM_KEY}"]
  claude:
    kind: anthropic
    endpoints: [{{url: "{anthropic}"}}]
    api_keys: ["{UPSTREAM_KEY}"]
models:
  - name: fast
    targets: [{{provider: primary, model: gpt-4o-mini}}]
  - name: embed
    targets: [{{provider: primary, model: text-embedding-3-small}}]
  - name: sonnet
    targets: [{{provider: claude, model: claude-sonnet-4-5}}]
  - name: short
    targets: [{{provider: primary, model: gpt-4o-mini}}]
    max_output_tokens: 100
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#,
        openai = openai.url(),
        anthropic = anthropic.url(),
    )
}

fn chat_with(extra: Value) -> Value {
    let mut body = chat_body("fast");
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn mistyped_fields_are_refused_on_every_route_before_the_provider_sees_them() {
    let openai = Mock::start("primary", &[]);
    let anthropic = Mock::start("claude", &["--kind", "anthropic"]);
    let gw = Gateway::start(&config(&openai, &anthropic));

    let chat_cases = [
        (json!({"max_tokens": -5}), "max_tokens"),
        (json!({"max_tokens": "10"}), "max_tokens"),
        (json!({"max_tokens": 1.5}), "max_tokens"),
        (json!({"max_completion_tokens": 0}), "max_completion_tokens"),
        (json!({"temperature": "abc"}), "temperature"),
        (json!({"tools": "x"}), "tools"),
        (
            json!({"messages": [{"role": "user", "content": 5}]}),
            "messages[0].content",
        ),
        (json!({"stream": "yes"}), "stream"),
    ];
    for (extra, param) in chat_cases {
        let resp = gw
            .post("/v1/chat/completions", &chat_with(extra.clone()))
            .await;
        let body = expect_openai_error(resp, 400, "invalid_request").await;
        assert_eq!(body["error"]["param"], param, "{extra}: {body}");
    }

    let resp = gw
        .post("/v1/embeddings", &json!({"model": "embed", "input": 5}))
        .await;
    let body = expect_openai_error(resp, 400, "invalid_request").await;
    assert_eq!(body["error"]["param"], "input", "{body}");

    let messages_cases = [
        (
            json!({"model": "sonnet", "max_tokens": -1, "messages": [{"role": "user", "content": "hi"}]}),
            "max_tokens",
        ),
        (
            json!({"model": "sonnet", "max_tokens": 10, "messages": [{"role": "user", "content": 5}]}),
            "messages[0].content",
        ),
        (
            json!({"model": "fast", "max_tokens": "10", "messages": [{"role": "user", "content": "hi"}]}),
            "max_tokens",
        ),
    ];
    for (body, param) in messages_cases {
        let resp = client()
            .post(gw.url("/v1/messages"))
            .header("x-api-key", CLIENT_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let error: Value = resp.json().await.unwrap();
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["error"]["type"], "invalid_request_error", "{error}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(param),
            "{body}: {error}"
        );
    }

    assert_eq!(openai.count().await, 0, "the OpenAI provider saw nothing");
    assert_eq!(
        anthropic.count().await,
        0,
        "the Anthropic provider saw nothing"
    );

    // Well-formed requests still pass, byte for byte in the same dialect.
    let resp = gw
        .post(
            "/v1/chat/completions",
            &chat_with(json!({"max_tokens": 10, "temperature": 0.5})),
        )
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn output_caps_above_the_models_ceiling_are_refused() {
    let openai = Mock::start("primary", &[]);
    let anthropic = Mock::start("claude", &["--kind", "anthropic"]);
    let gw = Gateway::start(&config(&openai, &anthropic));

    let mut body = chat_body("short");
    body["max_completion_tokens"] = json!(101);
    let resp = gw.post("/v1/chat/completions", &body).await;
    let error = expect_openai_error(resp, 400, "invalid_request").await;
    assert_eq!(error["error"]["param"], "max_completion_tokens", "{error}");
    assert!(
        error["error"]["message"].as_str().unwrap().contains("100"),
        "{error}"
    );
    body["max_completion_tokens"] = json!(100);
    assert_eq!(gw.post("/v1/chat/completions", &body).await.status(), 200);

    // The default ceiling (a million tokens) refuses 2^64 - 1 without any limit configured.
    let mut body = chat_body("fast");
    body["max_tokens"] = json!(u64::MAX);
    let resp = gw.post("/v1/chat/completions", &body).await;
    let error = expect_openai_error(resp, 400, "invalid_request").await;
    assert_eq!(error["error"]["param"], "max_tokens", "{error}");
    assert_eq!(openai.count().await, 1);
}
