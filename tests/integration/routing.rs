//! Model names route to weighted targets; the provider sees its own key and model name.

use crate::common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn provider_gets_its_key_and_model_name_not_the_clients() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&basic_config(&mock));
    let resp = gw.chat("fast").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-sluice-model"], "gpt-4o-mini");
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["role"], "assistant");
    assert!(answer["usage"]["total_tokens"].as_u64().unwrap() > 0);

    let seen = mock.last_request().await;
    assert_eq!(seen["authorization"], format!("Bearer {UPSTREAM_KEY}"));
    assert_eq!(seen["model"], "gpt-4o-mini");
    assert_eq!(seen["path"], "/v1/chat/completions");
    assert_eq!(seen["host"], mock.addr.to_string());
    assert!(
        !seen.to_string().contains(CLIENT_KEY),
        "client key leaked upstream"
    );
}

#[tokio::test]
async fn embeddings_are_proxied() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&basic_config(&mock));
    let resp = gw
        .post(
            "/v1/embeddings",
            &json!({"model": "embed", "input": ["one", "two"]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["data"].as_array().unwrap().len(), 2);
    assert_eq!(mock.last_request().await["model"], "text-embedding-3-small");
    assert_eq!(mock.last_request().await["path"], "/v1/embeddings");
}

#[tokio::test]
async fn weighted_targets_split_traffic_exactly() {
    let heavy = Mock::start("heavy", &[]);
    let light = Mock::start("light", &[]);
    let gw = Gateway::start(&format!(
        r#"
providers:
  heavy: {{kind: openai, endpoints: [{{url: "{}"}}]}}
  light: {{kind: openai, endpoints: [{{url: "{}"}}]}}
models:
  - name: split
    targets:
      - {{provider: heavy, model: big, weight: 3}}
      - {{provider: light, model: small, weight: 1}}
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#,
        heavy.url(),
        light.url()
    ));
    for _ in 0..40 {
        let resp = gw.chat("split").await;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(heavy.count().await, 30);
    assert_eq!(light.count().await, 10);
    assert_eq!(light.last_request().await["model"], "small");
}

#[tokio::test]
async fn endpoints_share_load_and_a_dead_one_is_skipped() {
    let a = Mock::start("a", &[]);
    let b = Mock::start("b", &[]);
    let dead = free_port();
    let gw = Gateway::start(&format!(
        r#"
providers:
  pool:
    kind: openai
    endpoints: [{{url: "{}"}}, {{url: "{}"}}, {{url: "http://127.0.0.1:{dead}"}}]
models:
  - {{name: fast, targets: [{{provider: pool, model: m}}]}}
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#,
        a.url(),
        b.url()
    ));
    for _ in 0..30 {
        let resp = gw.chat("fast").await;
        assert_eq!(
            resp.status(),
            200,
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }
    let (na, nb) = (a.count().await, b.count().await);
    assert_eq!(na + nb, 30);
    assert!(na >= 5 && nb >= 5, "a={na} b={nb}");
}

#[tokio::test]
async fn endpoint_base_paths_are_kept() {
    let mock = Mock::start("prefixed", &[]);
    let gw = Gateway::start(&format!(
        r#"
providers:
  groq-like: {{kind: openai, endpoints: [{{url: "{}/openai/"}}]}}
models:
  - {{name: fast, targets: [{{provider: groq-like, model: m}}]}}
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#,
        mock.url()
    ));
    assert_eq!(gw.chat("fast").await.status(), 200);
    assert_eq!(
        mock.last_request().await["path"],
        "/openai/v1/chat/completions"
    );
}

#[tokio::test]
async fn model_list_is_filtered_by_key() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&basic_config(&mock));
    let ids = |v: Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all: Value = client()
        .get(gw.url("/v1/models"))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["object"], "list");
    assert_eq!(ids(all), vec!["fast", "embed", "secret-model"]);
    let limited: Value = client()
        .get(gw.url("/v1/models"))
        .bearer_auth(OTHER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ids(limited), vec!["fast", "embed"]);

    let one: Value = client()
        .get(gw.url("/v1/models/fast"))
        .bearer_auth(OTHER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], "fast");
    assert_eq!(one["object"], "model");
    let hidden = client()
        .get(gw.url("/v1/models/secret-model"))
        .bearer_auth(OTHER_KEY)
        .send()
        .await
        .unwrap();
    expect_openai_error(hidden, 404, "model_not_found").await;
    let anonymous = client().get(gw.url("/v1/models")).send().await.unwrap();
    expect_openai_error(anonymous, 401, "missing_api_key").await;
    assert_eq!(mock.count().await, 0);
}
