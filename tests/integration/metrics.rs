//! The admin listener: Prometheus metrics, liveness and readiness.

use crate::common::*;

#[tokio::test]
async fn metrics_count_requests_by_route_model_and_status() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&basic_config(&mock));
    for _ in 0..3 {
        assert_eq!(gw.chat("fast").await.status(), 200);
    }
    assert_eq!(gw.chat("nope").await.status(), 404);

    // Requests are counted in the logging phase, just after their response: wait for the last.
    let done = r#"sluice_requests_total{error_type="model_not_found",model="-",route="/v1/chat/completions",status="404"}"#;
    let text = eventually("the last request is counted", || async {
        let text = client()
            .get(gw.admin_url("/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains(done).then_some(text)
    })
    .await;
    let line = |needle: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no series {needle} in\n{text}"))
    };
    assert_eq!(
        line(
            r#"sluice_requests_total{error_type="none",model="fast",route="/v1/chat/completions",status="200"}"#
        ),
        3.0
    );
    assert_eq!(
        line(
            r#"sluice_requests_total{error_type="model_not_found",model="-",route="/v1/chat/completions",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        line(r#"sluice_request_duration_seconds_count{model="fast",route="/v1/chat/completions"}"#),
        3.0
    );
    assert_eq!(
        line(r#"sluice_upstream_duration_seconds_count{provider="primary",status="200"}"#),
        3.0
    );
    assert!(!text.contains(CLIENT_KEY) && !text.contains(UPSTREAM_KEY));
}

#[tokio::test]
async fn health_and_readiness() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&basic_config(&mock));
    let health = client().get(gw.admin_url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = client().get(gw.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    // A provider whose hostname does not resolve leaves the gateway not ready.
    let gw = Gateway::start(&format!(
        r#"
providers:
  nowhere: {{kind: openai, endpoints: [{{url: "http://does-not-exist.invalid"}}]}}
models:
  - {{name: fast, targets: [{{provider: nowhere, model: m}}]}}
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#
    ));
    let ready = client().get(gw.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["providers_without_endpoints"][0], "nowhere");
    let resp = gw.chat("fast").await;
    expect_openai_error(resp, 502, "upstream_unreachable").await;
}
