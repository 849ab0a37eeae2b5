//! The Responses API's stored conversations: a request names the response it continues
//! (`previous_response_id`); sluice writes every earlier turn's input and output items into its
//! `input` and never forwards the id (any provider, and any fallback, can continue any
//! conversation). The stored `instructions` are not carried over: each request brings its own,
//! as the API says. Also what a stored turn is made of: the request's own input items and the
//! final response object, from a whole answer or from the stream's last event.

use crate::api::RequestError;
use crate::json::TopLevelObject;
use serde_json::{json, Value};

/// What a Responses request says about state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsesState {
    /// The response it continues.
    pub previous: Option<String>,
    /// Whether its answer is kept (`store`, true unless false).
    pub store: bool,
}

pub fn read_responses_state(body: &[u8]) -> Result<ResponsesState, RequestError> {
    let object = TopLevelObject::parse(body)?;
    let previous = match object.get("previous_response_id").map(|f| f.value) {
        None | Some("null") => None,
        Some(raw) => Some(serde_json::from_str::<String>(raw).map_err(|_| {
            RequestError::invalid(
                "previous_response_id must be a string",
                "previous_response_id",
            )
        })?),
    };
    let store = object.get("store").map(|f| f.value) != Some("false");
    Ok(ResponsesState { previous, store })
}

/// The request's `input` as a list of items (a string is one user message).
pub fn input_items(body: &[u8]) -> Result<Vec<Value>, RequestError> {
    let request: serde_json::Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| RequestError::schema(&e))?;
    Ok(match request.get("input") {
        Some(Value::String(text)) => vec![json!({
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": text}],
        })],
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    })
}

/// The request with `history` (earlier turns' items, oldest first) before its own input, and
/// without `previous_response_id`.
pub fn expand_input(body: &[u8], history: &[Value]) -> Result<Vec<u8>, RequestError> {
    let own = input_items(body)?;
    let mut request: serde_json::Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| RequestError::schema(&e))?;
    request.remove("previous_response_id");
    let mut input = Vec::with_capacity(history.len() + own.len());
    input.extend_from_slice(history);
    input.extend(own);
    request.insert("input".into(), Value::Array(input));
    serde_json::to_vec(&request).map_err(|e| RequestError::schema(&e))
}

/// The final response object a client received: the whole body, or the `response` of a
/// stream's last event (`response.completed` or `response.incomplete`); `None` for a failed
/// or unfinished one.
pub fn final_response(bytes: &[u8], stream: bool) -> Option<Value> {
    if !stream {
        let response: Value = serde_json::from_slice(bytes).ok()?;
        return (response["object"] == "response").then_some(response);
    }
    let mut last = None;
    let mut framer = crate::stream::SseFramer::new();
    let mut keep = |e: crate::stream::SseEvent<'_>| {
        if let Ok(v) = serde_json::from_str::<Value>(&e.data) {
            if matches!(
                v["type"].as_str(),
                Some("response.completed" | "response.incomplete")
            ) {
                last = Some(v["response"].clone());
            }
        }
    };
    framer.feed(bytes, &mut keep).ok()?;
    framer.finish(&mut keep);
    last
}

/// Input items as `GET /v1/responses/{id}/input_items` lists them: each with an id (ones the
/// client sent without get `{kind}_{response}_{n}`).
pub fn listed_items(items: &[Value], response_id: &str) -> Vec<Value> {
    let seed = response_id.trim_start_matches("resp_");
    items
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let mut item = item.clone();
            if item.get("id").and_then(Value::as_str).is_none() {
                let prefix = match item["type"].as_str() {
                    Some("function_call") => "fc",
                    Some("function_call_output") => "fco",
                    Some("reasoning") => "rs",
                    _ => "msg",
                };
                item["id"] = json!(format!("{prefix}_{seed}_{n}"));
                if item.get("type").is_none() {
                    item["type"] = json!("message");
                }
            }
            item
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_read_and_history_goes_first() {
        let body = br#"{"model":"m","previous_response_id":"resp_1","store":false,"input":"and tomorrow?"}"#;
        assert_eq!(
            read_responses_state(body).unwrap(),
            ResponsesState {
                previous: Some("resp_1".into()),
                store: false
            }
        );
        assert!(read_responses_state(br#"{"input":"x"}"#).unwrap().store);
        let history = [
            json!({"role": "user", "content": "weather?"}),
            json!({"type": "function_call", "call_id": "c", "name": "w", "arguments": "{}"}),
        ];
        let v: Value = serde_json::from_slice(&expand_input(body, &history).unwrap()).unwrap();
        assert!(v.get("previous_response_id").is_none());
        assert_eq!(v["input"].as_array().unwrap().len(), 3);
        assert_eq!(v["input"][2]["content"][0]["text"], "and tomorrow?");
    }

    #[test]
    fn the_final_response_comes_from_the_last_event() {
        let stream = concat!(
            "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"output\":[]}}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"output\":[{\"type\":\"message\"}]}}\n\n",
        );
        let r = final_response(stream.as_bytes(), true).unwrap();
        assert_eq!(r["output"][0]["type"], "message");
        let failed =
            "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{}}\n\n";
        assert!(final_response(failed.as_bytes(), true).is_none());
    }

    #[test]
    fn listed_items_have_ids() {
        let items = listed_items(
            &[
                json!({"role": "user", "content": "hi"}),
                json!({"type": "function_call_output", "call_id": "c", "output": "x"}),
            ],
            "resp_ab",
        );
        assert_eq!(items[0]["id"], "msg_ab_0");
        assert_eq!(items[0]["type"], "message");
        assert_eq!(items[1]["id"], "fco_ab_1");
    }
}
