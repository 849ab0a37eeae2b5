//! `sluice demo` answers the README's curl line with a completion and a stream, offline.

use crate::common::*;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn demo_serves_completions_and_streams() {
    let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--listen",
            &api.to_string(),
            "--admin-listen",
            &admin.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let http = client();
    while http
        .get(format!("http://{admin}/readyz"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "demo did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let chat = format!("http://{api}/v1/chat/completions");
    let body =
        serde_json::json!({"model": "fast", "messages": [{"role": "user", "content": "Hello!"}]});
    let resp = http
        .post(&chat)
        .bearer_auth("sk-sluice-demo")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(answer["object"], "chat.completion");

    let mut body = body;
    body["stream"] = serde_json::json!(true);
    let text = http
        .post(&chat)
        .bearer_auth("sk-sluice-demo")
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("data: {"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    let _ = child.kill();
    let banner = {
        use std::io::Read;
        let mut s = String::new();
        child.stdout.take().unwrap().read_to_string(&mut s).unwrap();
        s
    };
    let _ = child.wait();
    assert!(banner.contains("curl -s http://"), "{banner}");
    assert!(banner.contains("Authorization: Bearer sk-sluice-demo"));
}
