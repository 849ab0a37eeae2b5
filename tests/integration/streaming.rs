//! Streams pass through unbuffered: each chunk reaches the client when the provider sends it.

use crate::common::*;
use futures_util::StreamExt;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn stream_chunks_arrive_as_they_are_produced() {
    let mock = Mock::start("primary", &["--chunks", "6", "--chunk-delay-ms", "150"]);
    let gw = Gateway::start(&basic_config(&mock));
    let mut body = chat_body("fast");
    body["stream"] = json!(true);
    let started = Instant::now();
    let resp = gw.post("/v1/chat/completions", &body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(resp.headers().get("content-length").is_none());

    let mut arrivals: Vec<(Duration, String)> = Vec::new();
    let mut pending = String::new();
    let mut bytes = resp.bytes_stream();
    while let Some(chunk) = bytes.next().await {
        pending.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            arrivals.push((started.elapsed(), event));
        }
    }
    // role + 6 content + finish + [DONE]
    assert_eq!(arrivals.len(), 9, "{arrivals:?}");
    assert_eq!(arrivals.last().unwrap().1, "data: [DONE]\n\n");
    let text: String = arrivals
        .iter()
        .filter_map(|(_, e)| e.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(text.starts_with("Hello from primary"), "{text}");

    // Spread over time like the provider sent them (150 ms apart), not bunched at the end.
    let first_content = arrivals[1].0;
    let last_content = arrivals[6].0;
    assert!(
        last_content - first_content >= Duration::from_millis(600),
        "{arrivals:?}"
    );
    for pair in arrivals[1..7].windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_millis(80),
            "chunks bunched: {arrivals:?}"
        );
    }
}

#[tokio::test]
async fn stream_usage_chunk_only_when_asked() {
    let mock = Mock::start("primary", &["--chunk-delay-ms", "0"]);
    let gw = Gateway::start(&basic_config(&mock));
    let mut body = chat_body("fast");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let text = gw
        .post("/v1/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    let usage_event: serde_json::Value =
        serde_json::from_str(events[events.len() - 2].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(usage_event["choices"], json!([]));
    assert!(usage_event["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(*events.last().unwrap(), "data: [DONE]");
}
