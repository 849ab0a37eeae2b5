//! Anthropic message threads (`thread: {type: "create" | "continue", previous_message_id}`,
//! beta `message-threads-2026-08-12`): the client sends only its new messages and names the
//! message it continues. For a provider that does not hold the thread, sluice writes the whole
//! conversation into the request instead, and leaves `thread` out.

use crate::api::RequestError;
use crate::json::TopLevelObject;
use serde_json::Value;

/// A request's place in a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    /// The message this request continues (`None`: it starts the thread).
    pub previous: Option<String>,
}

/// The request's `thread`, if it has one.
pub fn read_thread(body: &[u8]) -> Result<Option<Thread>, RequestError> {
    #[derive(serde::Deserialize)]
    struct Wire {
        #[serde(rename = "type")]
        kind: String,
        previous_message_id: Option<String>,
    }
    let object = TopLevelObject::parse(body)?;
    let Some(field) = object.get("thread") else {
        return Ok(None);
    };
    if field.value == "null" {
        return Ok(None);
    }
    let wire: Wire = serde_json::from_str(field.value).map_err(|_| {
        RequestError::invalid(
            "thread must be {\"type\": \"create\"} or {\"type\": \"continue\", \"previous_message_id\": ...}",
            "thread",
        )
    })?;
    match (wire.kind.as_str(), wire.previous_message_id) {
        ("create", _) => Ok(Some(Thread { previous: None })),
        ("continue", Some(id)) if !id.is_empty() => Ok(Some(Thread { previous: Some(id) })),
        ("continue", _) => Err(RequestError::invalid(
            "thread.previous_message_id is required to continue a thread",
            "thread.previous_message_id",
        )),
        (other, _) => Err(RequestError::invalid(
            format!("unknown thread type '{other}'"),
            "thread.type",
        )),
    }
}

/// What a thread's first request sets for the whole conversation: the SDKs send these once,
/// on `create`, and leave them out when they continue.
pub const THREAD_SETTINGS: &[&str] = &["system", "tools"];

/// The settings a request sets for its thread (`THREAD_SETTINGS` it carries), as an object.
pub fn thread_settings(body: &[u8]) -> Value {
    let Ok(request) = serde_json::from_slice::<serde_json::Map<String, Value>>(body) else {
        return Value::Object(serde_json::Map::new());
    };
    Value::Object(
        request
            .into_iter()
            .filter(|(k, _)| THREAD_SETTINGS.contains(&k.as_str()))
            .collect(),
    )
}

/// The request with `history` (earlier turns, oldest first) before its own messages, the
/// thread's `settings` where it sets none of its own, and without `thread`. Also returns the
/// request's own messages, to store with its answer.
pub fn expand_thread(
    body: &[u8],
    history: &[Value],
    settings: &Value,
) -> Result<(Vec<u8>, Vec<Value>), RequestError> {
    let mut request: serde_json::Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| RequestError::schema(&e))?;
    request.remove("thread");
    if let Some(settings) = settings.as_object() {
        for (key, value) in settings {
            request.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    let own = match request.remove("messages") {
        Some(Value::Array(messages)) => messages,
        _ => {
            return Err(RequestError::invalid(
                "messages must be an array",
                "messages",
            ))
        }
    };
    let mut messages = Vec::with_capacity(history.len() + own.len());
    messages.extend_from_slice(history);
    messages.extend(own.iter().cloned());
    request.insert("messages".into(), Value::Array(messages));
    let body = serde_json::to_vec(&request).map_err(|e| RequestError::schema(&e))?;
    Ok((body, own))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn threads_are_read() {
        let read = |b: &str| read_thread(b.as_bytes());
        assert_eq!(read(r#"{"messages":[]}"#).unwrap(), None);
        assert_eq!(
            read(r#"{"thread":{"type":"create"}}"#).unwrap(),
            Some(Thread { previous: None })
        );
        assert_eq!(
            read(r#"{"thread":{"type":"continue","previous_message_id":"msg_1"}}"#).unwrap(),
            Some(Thread {
                previous: Some("msg_1".into())
            })
        );
        for bad in [
            r#"{"thread":{"type":"continue"}}"#,
            r#"{"thread":{"type":"fork"}}"#,
            r#"{"thread":"x"}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn history_goes_first_and_thread_goes() {
        let body = br#"{"model":"m","max_tokens":5,"thread":{"type":"continue","previous_message_id":"a"},"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"ok"}]}]}"#;
        let history = [
            json!({"role":"user","content":"weather?"}),
            json!({"role":"assistant","content":[{"type":"tool_use","id":"t","name":"w","input":{}}]}),
        ];
        let settings = json!({"system": "be brief", "tools": [{"name": "w"}]});
        let (expanded, own) = expand_thread(body, &history, &settings).unwrap();
        let v: Value = serde_json::from_slice(&expanded).unwrap();
        assert!(v.get("thread").is_none());
        assert_eq!(v["system"], "be brief");
        assert_eq!(v["tools"][0]["name"], "w");
        assert_eq!(v["messages"].as_array().unwrap().len(), 3);
        assert_eq!(v["messages"][0]["content"], "weather?");
        assert_eq!(v["messages"][2]["content"][0]["type"], "tool_result");
        assert_eq!(v["max_tokens"], 5);
        assert_eq!(own.len(), 1);
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn a_threads_settings_are_its_system_and_tools() {
        let settings = thread_settings(br#"{"model":"m","system":"s","tools":[],"messages":[]}"#);
        assert_eq!(settings, serde_json::json!({"system": "s", "tools": []}));
    }
}
