//! The answer a client received in Anthropic's dialect, put back together: its id and its
//! content blocks (text, tool calls with their whole input, thinking with its signature), as
//! the next turn of the conversation must carry them. From a whole message, or from the
//! events of a stream (what the SDKs' accumulators do).

use serde_json::{json, Value};

/// An assembled answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub id: String,
    pub content: Vec<Value>,
}

/// From a whole Messages response.
pub fn assemble_anthropic_message(body: &[u8]) -> Option<Answer> {
    let message: Value = serde_json::from_slice(body).ok()?;
    if message["type"] != "message" {
        return None;
    }
    Some(Answer {
        id: message["id"].as_str()?.to_owned(),
        content: message["content"].as_array()?.clone(),
    })
}

/// From the bytes of a complete Messages stream (`None` unless it reached `message_stop`).
pub fn assemble_anthropic_stream(bytes: &[u8]) -> Option<Answer> {
    let mut framer = crate::stream::SseFramer::new();
    let mut events: Vec<Value> = Vec::new();
    let mut collect = |e: crate::stream::SseEvent<'_>| {
        if let Ok(v) = serde_json::from_str::<Value>(&e.data) {
            events.push(v);
        }
    };
    framer.feed(bytes, &mut collect).ok()?;
    framer.finish(&mut collect);
    let mut id = None;
    let mut blocks: Vec<Value> = Vec::new();
    let mut partial_json: Vec<String> = Vec::new();
    let mut stopped = false;
    for event in events {
        match event["type"].as_str().unwrap_or_default() {
            "message_start" => id = event["message"]["id"].as_str().map(str::to_owned),
            "content_block_start" => {
                blocks.push(event["content_block"].clone());
                partial_json.push(String::new());
            }
            "content_block_delta" => {
                let i = event["index"]
                    .as_u64()
                    .and_then(|i| usize::try_from(i).ok())?;
                let block = blocks.get_mut(i)?;
                let delta = &event["delta"];
                let append = |block: &mut Value, field: &str, piece: &Value| {
                    let text = block[field].as_str().unwrap_or_default().to_owned()
                        + piece.as_str().unwrap_or_default();
                    block[field] = json!(text);
                };
                match delta["type"].as_str().unwrap_or_default() {
                    "text_delta" => append(block, "text", &delta["text"]),
                    "thinking_delta" => append(block, "thinking", &delta["thinking"]),
                    "signature_delta" => append(block, "signature", &delta["signature"]),
                    "input_json_delta" => partial_json
                        .get_mut(i)?
                        .push_str(delta["partial_json"].as_str().unwrap_or_default()),
                    _ => {}
                }
            }
            "content_block_stop" => {
                let i = event["index"]
                    .as_u64()
                    .and_then(|i| usize::try_from(i).ok())?;
                let json_text = partial_json.get(i)?;
                if !json_text.is_empty() {
                    blocks.get_mut(i)?["input"] = serde_json::from_str(json_text).ok()?;
                }
            }
            "message_stop" => stopped = true,
            _ => {}
        }
    }
    stopped
        .then(|| Answer {
            id: id.unwrap_or_default(),
            content: blocks,
        })
        .filter(|a| !a.id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_becomes_the_message_it_streamed() {
        let stream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_9\",\"content\":[]}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"w\",\"input\":{}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Oslo\\\"}\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        let answer = assemble_anthropic_stream(stream.as_bytes()).unwrap();
        assert_eq!(answer.id, "msg_9");
        assert_eq!(answer.content[0]["thinking"], "hm");
        assert_eq!(answer.content[0]["signature"], "sig");
        assert_eq!(answer.content[1]["input"]["city"], "Oslo");
        // A stream that did not end is no answer to store.
        let cut = &stream[..stream.find("event: message_stop").unwrap()];
        assert!(assemble_anthropic_stream(cut.as_bytes()).is_none());
    }

    #[test]
    fn a_whole_message_is_read() {
        let answer = assemble_anthropic_message(
            br#"{"id":"msg_1","type":"message","content":[{"type":"text","text":"hi"}]}"#,
        )
        .unwrap();
        assert_eq!(answer.id, "msg_1");
        assert_eq!(answer.content.len(), 1);
        assert!(assemble_anthropic_message(br#"{"type":"error"}"#).is_none());
    }
}
