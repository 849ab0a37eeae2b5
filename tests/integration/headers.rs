//! What reaches a provider of the client's headers: an allow-list per dialect. A header the
//! list does not name never arrives (so a client cannot steer the gateway's credential, nor
//! make the provider refuse the shared key), operators add names per provider, and a 401 that
//! one request provoked does not eject a key other requests are using.

use crate::common::*;
use serde_json::{json, Value};

fn config(openai: &Mock, anthropic: &Mock, forward: &str) -> String {
    format!(
        r#"
providers:
  primary:
    kind: openai
    endpoints: [{{url: "{openai}"}}]
    api_keys: ["{UPSTREAM_KEY}"]
    {forward}
  claude:
    kind: anthropic
    endpoints: [{{url: "{anthropic}"}}]
    api_keys: ["{UPSTREAM_KEY}"]
models:
  - name: fast
    targets: [{{provider: primary, model: gpt-4o-mini}}]
  - name: sonnet
    targets: [{{provider: claude, model: claude-sonnet-4-5}}]
keys:
  - {{name: one, key: "{CLIENT_KEY}"}}
  - {{name: two, key: "{OTHER_KEY}"}}
"#,
        openai = openai.url(),
        anthropic = anthropic.url(),
    )
}

fn headers_of(request: &Value) -> serde_json::Map<String, Value> {
    request["headers"].as_object().cloned().unwrap_or_default()
}

#[tokio::test]
async fn only_allowed_client_headers_reach_the_provider() {
    let openai = Mock::start("primary", &[]);
    let anthropic = Mock::start("claude", &["--kind", "anthropic"]);
    let gw = Gateway::start(&config(&openai, &anthropic, ""));

    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .header("x-evil", "1")
        .header("openai-organization", "org-attacker")
        .header("openai-project", "proj-attacker")
        .header("x-mock-status", "401")
        .header("anthropic-beta", "files-api-2025-04-14")
        .header("cookie", "session=1")
        .header("baggage", "tenant=a")
        .header("user-agent", "OpenAI/Python 2.0")
        .header("x-stainless-lang", "python")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .header("idempotency-key", "abc-123")
        .json(&chat_body("fast"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "x-mock-status did not reach the mock");
    let seen = headers_of(&openai.last_request().await);
    for refused in [
        "x-evil",
        "openai-organization",
        "openai-project",
        "x-mock-status",
        "anthropic-beta",
        "cookie",
        "baggage",
    ] {
        assert!(
            !seen.contains_key(refused),
            "{refused} reached the provider: {seen:?}"
        );
    }
    assert_eq!(seen["user-agent"], "OpenAI/Python 2.0");
    assert_eq!(seen["x-stainless-lang"], "python");
    assert!(seen.contains_key("traceparent"));
    assert_eq!(seen["authorization"], format!("Bearer {UPSTREAM_KEY}"));
    // Idempotency keys are scoped to the virtual key, so tenants never share one.
    let scoped = seen["idempotency-key"].as_str().unwrap().to_owned();
    assert!(
        scoped.ends_with("-abc-123") && scoped.starts_with("sluice-"),
        "{scoped}"
    );
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(OTHER_KEY)
        .header("idempotency-key", "abc-123")
        .json(&chat_body("fast"))
        .send()
        .await
        .unwrap();
    let other = headers_of(&openai.last_request().await)["idempotency-key"].clone();
    assert_ne!(
        other, scoped,
        "another tenant's same key is another key upstream"
    );

    // Anthropic clients to an Anthropic provider keep their betas, their API version and
    // Claude Code's headers.
    let resp = client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", CLIENT_KEY)
        .header("anthropic-version", "2023-01-01")
        .header("anthropic-beta", "interleaved-thinking-2025-05-14")
        .header("x-app", "cli")
        .header("anthropic-workspace-id", "wrk-attacker")
        .json(&json!({"model": "sonnet", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = headers_of(&anthropic.last_request().await);
    assert_eq!(seen["anthropic-beta"], "interleaved-thinking-2025-05-14");
    assert_eq!(seen["x-app"], "cli");
    assert_eq!(seen["anthropic-version"], "2023-01-01");
    assert!(!seen.contains_key("anthropic-workspace-id"), "{seen:?}");
    assert_eq!(seen["x-api-key"], UPSTREAM_KEY);
    // Something that is not a version date: the provider's configured version.
    let resp = client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", CLIENT_KEY)
        .header("anthropic-version", "latest")
        .json(&json!({"model": "sonnet", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = headers_of(&anthropic.last_request().await);
    assert_eq!(seen["anthropic-version"], "2023-06-01");
}

#[tokio::test]
async fn operators_allow_more_headers_per_provider() {
    let openai = Mock::start("primary", &[]);
    let anthropic = Mock::start("claude", &["--kind", "anthropic"]);
    let gw = Gateway::start(&config(
        &openai,
        &anthropic,
        r#"forward_headers: ["x-tenant", "x-mock-*"]"#,
    ));
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .header("x-tenant", "blue")
        .header("x-mock-delay-ms", "1")
        .header("x-other", "no")
        .json(&chat_body("fast"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = headers_of(&openai.last_request().await);
    assert_eq!(seen["x-tenant"], "blue");
    assert_eq!(seen["x-mock-delay-ms"], "1");
    assert!(!seen.contains_key("x-other"));
}

/// A 401 provoked by one request (here a forwarded mock switch; in production, anything in a
/// request the provider refuses with 401/403) does not eject a key other requests are using:
/// the next client's request is served.
#[tokio::test]
async fn a_refusal_one_request_provoked_does_not_eject_a_working_key() {
    let openai = Mock::start("primary", &[]);
    let anthropic = Mock::start("claude", &["--kind", "anthropic"]);
    let gw = Gateway::start(&config(
        &openai,
        &anthropic,
        r#"forward_headers: ["x-mock-*"]"#,
    ));
    assert_eq!(gw.chat("fast").await.status(), 200, "the key works");
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(OTHER_KEY)
        .header("x-mock-status", "401")
        .json(&chat_body("fast"))
        .send()
        .await
        .unwrap();
    expect_openai_error(resp, 502, "upstream_auth_failed").await;
    let before = openai.count().await;
    let resp = gw.chat("fast").await;
    assert_eq!(resp.status(), 200, "another client is still served");
    assert_eq!(openai.count().await, before + 1);
}
