//! What a Responses object repeats of its request (`instructions`, `tools`, `tool_choice`,
//! `temperature`, ...): the official SDKs read these fields back, some are required in their
//! models, so every response carries them, taken from the client's own request.

use serde_json::{json, Value};

/// The request fields a response repeats, owned (a stream encoder keeps them for its life).
#[derive(Debug, Clone, PartialEq)]
pub struct Echo {
    fields: serde_json::Map<String, Value>,
}

/// Repeated as sent, or `null` when the request had none.
const AS_SENT: &[&str] = &[
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "previous_response_id",
    "temperature",
    "top_p",
    "user",
    "safety_identifier",
    "prompt_cache_key",
];

impl Echo {
    /// From the client's request body (a malformed one was refused before this).
    pub fn from_request(body: &[u8]) -> Echo {
        let request: serde_json::Map<String, Value> =
            serde_json::from_slice(body).unwrap_or_default();
        let get = |k: &str| request.get(k).cloned().unwrap_or(Value::Null);
        let or = |k: &str, default: Value| match request.get(k) {
            Some(Value::Null) | None => default,
            Some(v) => v.clone(),
        };
        let mut fields = serde_json::Map::new();
        for key in AS_SENT {
            fields.insert((*key).to_owned(), get(key));
        }
        fields.insert("tools".into(), or("tools", json!([])));
        fields.insert("tool_choice".into(), or("tool_choice", json!("auto")));
        fields.insert(
            "parallel_tool_calls".into(),
            or("parallel_tool_calls", json!(true)),
        );
        fields.insert("metadata".into(), or("metadata", json!({})));
        fields.insert(
            "text".into(),
            or("text", json!({"format": {"type": "text"}})),
        );
        fields.insert(
            "reasoning".into(),
            or("reasoning", json!({"effort": null, "summary": null})),
        );
        fields.insert("truncation".into(), or("truncation", json!("disabled")));
        fields.insert("store".into(), or("store", json!(true)));
        fields.insert("background".into(), json!(false));
        fields.insert("service_tier".into(), json!("default"));
        Echo { fields }
    }

    /// The repeated fields, to merge into a response object.
    pub fn fields(&self) -> &serde_json::Map<String, Value> {
        &self.fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_sdks_require_is_always_there() {
        let echo = Echo::from_request(br#"{"model":"m","input":"hi","tools":[{"type":"function","name":"f"}],"temperature":0.2}"#);
        let f = echo.fields();
        assert_eq!(f["tools"][0]["name"], "f");
        assert_eq!(f["tool_choice"], "auto");
        assert_eq!(f["parallel_tool_calls"], true);
        assert_eq!(f["temperature"], 0.2);
        assert_eq!(f["instructions"], Value::Null);
        assert_eq!(f["text"]["format"]["type"], "text");
    }
}
