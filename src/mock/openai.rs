//! OpenAI-dialect answers of the mock: chat completions (whole and streamed), embeddings, the
//! model list and errors, shaped like the real API's (ids, `created`, usage, chunk sequence).

use base64::Engine;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

pub fn random_id(prefix: &str, len: usize) -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    format!("{prefix}{tail}")
}

/// What the mock says: the configured reply, or a sentence naming the mock, model and prompt.
pub fn reply_text(request: &Value, mock_name: &str, configured: Option<&str>) -> String {
    if let Some(reply) = configured {
        return reply.to_owned();
    }
    let model = request["model"].as_str().unwrap_or("unknown");
    let last_user = request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default();
    let echoed: String = last_user.chars().take(80).collect();
    format!("Hello from {mock_name} ({model}). You said: {echoed}")
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// A deterministic token estimate (about 4 characters a token), like a tokenizer would give.
pub fn prompt_tokens(request: &Value) -> u64 {
    let messages = request["messages"]
        .as_array()
        .map_or(&[][..], |m| m.as_slice());
    messages
        .iter()
        .map(|m| 3 + (text_of(&m["content"]).len() as u64).div_ceil(4))
        .sum::<u64>()
        + 3
}

pub fn completion_tokens(reply: &str) -> u64 {
    (reply.len() as u64).div_ceil(4).max(1)
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    })
}

pub fn chat_completion(request: &Value, reply: &str) -> Vec<u8> {
    let body = json!({
        "id": random_id("chatcmpl-", 29),
        "object": "chat.completion",
        "created": now(),
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply, "refusal": null, "annotations": []},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": usage(prompt_tokens(request), completion_tokens(reply)),
        "service_tier": "default",
        "system_fingerprint": "fp_sluice_mock"
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The SSE events of a streamed answer, each a complete `data: ...\n\n` frame: a role chunk,
/// `chunks` content chunks, the finish chunk, the usage chunk when asked, and `[DONE]`.
pub fn chat_stream(request: &Value, reply: &str, chunks: usize) -> Vec<String> {
    let id = random_id("chatcmpl-", 29);
    let created = now();
    let model = request["model"].clone();
    let include_usage = request["stream_options"]["include_usage"] == true;
    let frame = |choices: Value, usage: Value| {
        let mut chunk = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "service_tier": "default", "system_fingerprint": "fp_sluice_mock", "choices": choices,
        });
        if include_usage {
            chunk["usage"] = usage;
        }
        format!("data: {chunk}\n\n")
    };
    let mut events = Vec::with_capacity(chunks + 4);
    events.push(frame(
        json!([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": null}, "logprobs": null, "finish_reason": null}]),
        Value::Null,
    ));
    for piece in split_pieces(reply, chunks) {
        events.push(frame(
            json!([{"index": 0, "delta": {"content": piece}, "logprobs": null, "finish_reason": null}]),
            Value::Null,
        ));
    }
    events.push(frame(
        json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "stop"}]),
        Value::Null,
    ));
    if include_usage {
        events.push(frame(
            json!([]),
            usage(prompt_tokens(request), completion_tokens(reply)),
        ));
    }
    events.push("data: [DONE]\n\n".to_owned());
    events
}

/// Splits text into `n` consecutive pieces (at word boundaries when there are enough words)
/// that concatenate back to the text.
pub fn split_pieces(text: &str, n: usize) -> Vec<String> {
    let n = n.max(1);
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    if words.len() >= n {
        let per = words.len().div_ceil(n);
        let mut pieces: Vec<String> = words.chunks(per).map(|c| c.concat()).collect();
        while pieces.len() < n {
            pieces.push(String::new());
        }
        pieces
    } else {
        let chars: Vec<char> = text.chars().collect();
        let per = chars.len().div_ceil(n).max(1);
        let mut pieces: Vec<String> = chars.chunks(per).map(|c| c.iter().collect()).collect();
        while pieces.len() < n {
            pieces.push(String::new());
        }
        pieces
    }
}

pub fn embeddings(request: &Value) -> Result<Vec<u8>, String> {
    let inputs: Vec<String> = match &request["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        _ => return Err("'input' must be a string or an array".into()),
    };
    let dims = request["dimensions"].as_u64().unwrap_or(16).clamp(1, 4096) as usize;
    let base64 = request["encoding_format"] == "base64";
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = embed(text, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens: u64 = inputs
        .iter()
        .map(|t| (t.len() as u64).div_ceil(4).max(1))
        .sum();
    let body = json!({
        "object": "list",
        "data": data,
        "model": request["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    });
    Ok(serde_json::to_vec(&body).unwrap_or_default())
}

/// A unit vector derived from the text, so equal inputs embed equally.
fn embed(text: &str, dims: usize) -> Vec<f32> {
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        state = (state ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 2000) as f32 / 1000.0 - 1.0
        })
        .collect();
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

pub fn model_list(names: &[&str]) -> Vec<u8> {
    let data: Vec<Value> = names
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_715_367_049u64, "owned_by": "system"}))
        .collect();
    serde_json::to_vec(&json!({"object": "list", "data": data})).unwrap_or_default()
}

pub fn error(status: u16, message: &str) -> Vec<u8> {
    let (kind, code) = match status {
        400 => ("invalid_request_error", Value::Null),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        404 => ("invalid_request_error", json!("model_not_found")),
        429 => ("requests", json!("rate_limit_exceeded")),
        _ => ("server_error", Value::Null),
    };
    serde_json::to_vec(
        &json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
    )
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_rejoin() {
        let text = "one two three four five six seven";
        for n in 1..10 {
            let p = split_pieces(text, n);
            assert_eq!(p.len(), n);
            assert_eq!(p.concat(), text);
        }
        assert_eq!(split_pieces("ab", 4).concat(), "ab");
    }

    #[test]
    fn stream_has_usage_only_when_asked() {
        let req = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let events = chat_stream(&req, "a b c", 3);
        assert_eq!(events.len(), 3 + 3);
        assert!(!events.iter().any(|e| e.contains("\"usage\"")));
        let req = json!({"model": "m", "messages": [], "stream_options": {"include_usage": true}});
        let events = chat_stream(&req, "a b c", 3);
        assert!(events[events.len() - 2].contains("\"total_tokens\""));
        assert_eq!(events.last().unwrap(), "data: [DONE]\n\n");
    }
}
