//! The admin listener: one router, a JSON answer for every path (404/405 for the unknown and
//! the malformed, 400 for what the HTTP parser refuses), the admin API and the pages listed in
//! `admin.protect` behind the token, health probes always open.

use crate::common::*;
use serde_json::Value;
use std::io::{Read, Write};

const TOKEN: &str = "admin-token-0123456789";

fn config(mock: &Mock, protect: &str) -> String {
    format!(
        "{}admin: {{token: \"{TOKEN}\"{protect}}}\n",
        basic_config(mock)
    )
}

async fn get(gw: &Gateway, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = client().get(gw.admin_url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    answer(req.send().await.unwrap()).await
}

async fn post(gw: &Gateway, path: &str) -> (u16, Value) {
    answer(
        client()
            .post(gw.admin_url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Sends raw bytes to the admin port and returns what came back.
async fn raw(gw: &Gateway, request: Vec<u8>) -> String {
    let addr = gw.admin;
    tokio::task::spawn_blocking(move || {
        let mut socket = std::net::TcpStream::connect(addr).unwrap();
        socket.write_all(&request).unwrap();
        let mut out = Vec::new();
        let _ = socket.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn every_admin_route_and_its_malformed_forms() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&config(&mock, ""));

    assert_eq!(get(&gw, "/healthz", None).await.0, 200);
    assert_eq!(get(&gw, "/readyz", None).await.0, 200);
    // Default protection with a token: /status (upstream addresses) needs it, /metrics not.
    assert_eq!(get(&gw, "/metrics", None).await.0, 200);
    let (status, body) = get(&gw, "/status", None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = get(&gw, "/status", Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(body["providers"].is_array(), "{body}");
    assert_eq!(
        get(&gw, "/status", Some("wrong-token-0000000000")).await.0,
        401
    );

    assert_eq!(get(&gw, "/admin/usage", None).await.0, 401);
    assert_eq!(get(&gw, "/admin/usage", Some(TOKEN)).await.0, 200);

    // The reset route and its malformed forms: an empty name used to panic the admin thread.
    for path in [
        "/admin/keys/reset",
        "/admin/keys//reset",
        "/admin/keys/a/b/reset",
        "/admin/keys/full",
    ] {
        let (status, body) = post(&gw, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let (status, body) = post(&gw, "/admin/keys/nobody/reset").await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("nobody"), "{body}");
    assert_eq!(post(&gw, "/admin/keys/full/reset").await.0, 200);

    let resp = client()
        .get(gw.admin_url("/admin/keys/full/reset"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["allow"], "POST");
    assert_eq!(answer(resp).await.0, 405);
    let (status, body) = post(&gw, "/metrics").await;
    assert_eq!(status, 405, "{body}");
    let (status, body) = get(&gw, "/nothing", None).await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string(), "{body}");

    // What the HTTP parser refuses is a JSON 400, and the path is not logged.
    let long = "a".repeat(100_000);
    let answer = raw(
        &gw,
        format!("GET /{long} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    assert!(answer.contains("{\"error\":"), "{answer}");
    let answer = raw(
        &gw,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n".to_vec(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        !gw.proc.log().contains(&long[..1000]),
        "the path is not logged"
    );

    // And the admin thread still serves.
    assert_eq!(get(&gw, "/healthz", None).await.0, 200);
}

#[tokio::test]
async fn metrics_can_be_put_behind_the_token() {
    let mock = Mock::start("primary", &[]);
    let gw = Gateway::start(&config(&mock, ", protect: [metrics]"));
    assert_eq!(get(&gw, "/metrics", None).await.0, 401);
    let resp = client()
        .get(gw.admin_url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("# TYPE"));
    // Only what is listed: /status is open when the list leaves it out.
    assert_eq!(get(&gw, "/status", None).await.0, 200);
    assert_eq!(get(&gw, "/healthz", None).await.0, 200);
}
