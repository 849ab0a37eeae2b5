//! Every error the gateway makes is OpenAI-shaped JSON with the right status; provider errors
//! pass through with theirs.

use crate::common::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn client_errors_are_openai_json() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&basic_config(&mock));
    let http = client();
    let chat = gw.url("/v1/chat/completions");

    // 401: no key, unknown key.
    let resp = http
        .post(&chat)
        .json(&chat_body("fast"))
        .send()
        .await
        .unwrap();
    expect_openai_error(resp, 401, "missing_api_key").await;
    let resp = http
        .post(&chat)
        .bearer_auth("sk-not-a-key")
        .json(&chat_body("fast"))
        .send()
        .await
        .unwrap();
    let body = expect_openai_error(resp, 401, "invalid_api_key").await;
    assert_eq!(body["error"]["type"], "authentication_error");

    // 403: the limited key may not use secret-model.
    let resp = http
        .post(&chat)
        .bearer_auth(OTHER_KEY)
        .json(&chat_body("secret-model"))
        .send()
        .await
        .unwrap();
    let body = expect_openai_error(resp, 403, "model_not_allowed").await;
    assert_eq!(body["error"]["param"], "model");

    // 404: unknown model, unknown route.
    let resp = gw.chat("no-such-model").await;
    let body = expect_openai_error(resp, 404, "model_not_found").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no-such-model"));
    let resp = http
        .post(gw.url("/v1/nothing"))
        .bearer_auth(CLIENT_KEY)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_openai_error(resp, 404, "route_not_found").await;

    // 405: the right path with the wrong method, with Allow.
    let resp = http
        .get(&chat)
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["allow"], "POST");
    expect_openai_error(resp, 405, "method_not_allowed").await;

    // 400: invalid JSON, missing model, missing messages.
    let resp = http
        .post(&chat)
        .bearer_auth(CLIENT_KEY)
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    expect_openai_error(resp, 400, "invalid_json").await;
    let resp = gw
        .post(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    let body = expect_openai_error(resp, 400, "invalid_request").await;
    assert_eq!(body["error"]["param"], "model");
    let resp = gw
        .post("/v1/chat/completions", &json!({"model": "fast"}))
        .await;
    let body = expect_openai_error(resp, 400, "invalid_request").await;
    assert_eq!(body["error"]["param"], "messages");
    let resp = gw.post("/v1/embeddings", &json!({"model": "embed"})).await;
    let body = expect_openai_error(resp, 400, "invalid_request").await;
    assert_eq!(body["error"]["param"], "input");

    // None of these reached the provider.
    assert_eq!(mock.count().await, 0);
}

#[tokio::test]
async fn oversized_bodies_get_413_before_reaching_the_provider() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&format!("max_request_body: 4KiB\n{}", basic_config(&mock)));
    let mut body = chat_body("fast");
    body["messages"][0]["content"] = json!("x".repeat(8 * 1024));
    let resp = gw.post("/v1/chat/completions", &body).await;
    let err = expect_openai_error(resp, 413, "request_too_large").await;
    assert!(err["error"]["message"].as_str().unwrap().contains("4096"));

    // A chunked upload that grows past the limit is refused too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"{\"model\":\"fast\",\"messages\":[{\"role\":\"user\",\"content\":\"".to_vec()),
        Ok(vec![b'y'; 6000]),
        Ok(b"\"}]}".to_vec()),
    ];
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    expect_openai_error(resp, 413, "request_too_large").await;
    assert_eq!(mock.count().await, 0);
}

#[tokio::test]
async fn unreachable_provider_is_502() {
    let dead_port = free_port();
    let gw = Gateway::start(&format!(
        r#"
providers:
  gone: {{kind: openai, endpoints: [{{url: "http://127.0.0.1:{dead_port}"}}], timeouts: {{connect: 1s}}}}
models:
  - {{name: fast, targets: [{{provider: gone, model: m}}]}}
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#
    ));
    let resp = gw.chat("fast").await;
    let body = expect_openai_error(resp, 502, "upstream_unreachable").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("'gone'"), "{message}");
    assert!(
        !message.contains("127.0.0.1"),
        "addresses stay internal: {message}"
    );
}

#[tokio::test]
async fn slow_provider_is_504_at_the_read_timeout() {
    let mock = Mock::start("slow", &["--delay-ms", "5000"]);
    let gw = Gateway::start(&format!(
        r#"
providers:
  slow: {{kind: openai, endpoints: [{{url: "{}"}}], timeouts: {{first_byte: 500ms}}}}
retries: {{attempts: 1}}
models:
  - {{name: fast, targets: [{{provider: slow, model: m}}]}}
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#,
        mock.url()
    ));
    let started = Instant::now();
    let resp = gw.chat("fast").await;
    let waited = started.elapsed();
    expect_openai_error(resp, 504, "upstream_timeout").await;
    assert!(
        waited >= Duration::from_millis(450) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

#[tokio::test]
async fn provider_errors_pass_through_with_their_status() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&format!(
        "retries: {{attempts: 1}}\n{}",
        basic_config(&mock)
    ));
    // (A 429 ejects the only key, so it comes last.)
    for status in [400u16, 404, 500, 503, 429] {
        let resp = client()
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(CLIENT_KEY)
            .header("x-mock-status", status.to_string())
            .json(&chat_body("fast"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status);
        if status == 429 || status == 503 {
            assert_eq!(resp.headers()["retry-after"], "1");
        }
        assert_eq!(resp.headers()["x-sluice-provider"], "primary");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mock primary fault"));
    }
}

#[tokio::test]
async fn provider_rejecting_our_credentials_is_a_gateway_error() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&basic_config(&mock));
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .header("x-mock-status", "401")
        .json(&chat_body("fast"))
        .send()
        .await
        .unwrap();
    let body = expect_openai_error(resp, 502, "upstream_auth_failed").await;
    let text = body.to_string();
    assert!(!text.contains(UPSTREAM_KEY));
    // The refused key is ejected: the next request fails fast, without bothering the provider.
    let before = mock.count().await;
    let resp = gw.chat("fast").await;
    expect_openai_error(resp, 502, "upstream_auth_failed").await;
    assert_eq!(mock.count().await, before);
}
