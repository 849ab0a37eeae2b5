//! Streams pass through unbuffered: each chunk reaches the client when the provider sends it.

use crate::common::*;
use futures_util::StreamExt;
use serde_json::json;

/// The events of a stream, as they complete, with what had arrived when each did.
async fn events_of(resp: reqwest::Response, mut until: impl FnMut(&str) -> bool) -> Vec<String> {
    let mut events = Vec::new();
    let mut pending = String::new();
    let mut bytes = resp.bytes_stream();
    while let Some(chunk) = bytes.next().await {
        pending.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            let stop = until(&event);
            events.push(event);
            if stop {
                return events;
            }
        }
    }
    events
}

fn content_of(event: &str) -> Option<String> {
    let data = event.strip_prefix("data: ")?;
    let v: serde_json::Value = serde_json::from_str(data.trim()).ok()?;
    v["choices"][0]["delta"]["content"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test]
async fn stream_chunks_arrive_as_they_are_produced() {
    // Each content chunk 3 s after the last: a gateway that buffered would show none of them
    // before the provider finished. The client sees the first while the provider is still
    // generating, and leaves.
    let mock = Mock::start("primary", &["--chunks", "4", "--chunk-delay-ms", "3000"]);
    let gw = Gateway::start(&basic_config(&mock));
    let mut body = chat_body("fast");
    body["stream"] = json!(true);
    let resp = gw.post("/v1/chat/completions", &body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(resp.headers().get("content-length").is_none());
    let events = events_of(resp, |e| content_of(e).is_some_and(|c| !c.is_empty())).await;
    let last = events.last().unwrap();
    assert!(
        content_of(last).is_some_and(|c| !c.is_empty()),
        "{events:?}"
    );
    assert!(
        events.iter().all(|e| !e.contains("[DONE]")),
        "content arrived before the end: {events:?}"
    );

    // A whole stream: role, every content chunk, finish, [DONE], in order.
    let fast = Mock::start("primary", &["--chunks", "6", "--chunk-delay-ms", "0"]);
    let gw = Gateway::start(&basic_config(&fast));
    let resp = gw.post("/v1/chat/completions", &body).await;
    let events = events_of(resp, |_| false).await;
    // role + 6 content + finish + [DONE]
    assert_eq!(events.len(), 9, "{events:?}");
    assert_eq!(events.last().unwrap(), "data: [DONE]\n\n");
    let text: String = events.iter().filter_map(|e| content_of(e)).collect();
    assert!(text.starts_with("Hello from primary"), "{text}");
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
