//! The body of a Responses request sent to a provider that speaks the Responses API natively
//! (OpenAI, Azure's v1 API): the client's bytes with the model renamed and `store: false`,
//! because sluice keeps the conversation itself (a fallback on another provider must be able to
//! continue it, and `previous_response_id` was already expanded into `input`).
//!
//! With `store: false` the upstream keeps no items, so an input item that refers to one by its
//! `id` is refused there ("Items are not persisted when `store` is set to false"). Every item
//! sluice sends is therefore whole: ids are left out (the content and `call_id` carry the
//! meaning), and a reasoning item without `encrypted_content`, which only the upstream's store
//! could resolve, is left out as the API allows for reasoning from earlier turns. Requests
//! whose items need neither change pass through byte for byte but for the two fields.

use crate::api::RequestError;
use crate::json::TopLevelObject;
use serde_json::Value;

/// A Responses request as it goes upstream.
#[derive(Debug)]
pub struct NativeRequest {
    pub body: Vec<u8>,
    /// The client asked for a stream.
    pub stream: bool,
}

/// The upstream body for `model`.
pub fn native_request(body: &[u8], model: &str) -> Result<NativeRequest, RequestError> {
    let object = TopLevelObject::parse(body)?;
    let stream = object
        .get("stream")
        .is_some_and(|f| f.value.trim() == "true");
    let mut edits = Vec::with_capacity(3);
    let mut appends: Vec<(&str, &[u8])> = Vec::new();
    if let Some(field) = object.get("model") {
        edits.push((
            field.span.clone(),
            serde_json::to_vec(model).unwrap_or_default(),
        ));
    }
    match object.get("store") {
        Some(field) => edits.push((field.span.clone(), b"false".to_vec())),
        None => appends.push(("store", b"false")),
    }
    if let Some(field) = object.get("previous_response_id") {
        if field.value != "null" {
            return Err(RequestError::invalid(
                "previous_response_id must be expanded before the request is sent upstream",
                "previous_response_id",
            ));
        }
    }
    if let Some(field) = object.get("input") {
        if field.value.starts_with('[') {
            let mut items: Vec<Value> =
                serde_json::from_str(field.value).map_err(|e| RequestError::schema(&e))?;
            if make_whole(&mut items) {
                edits.push((
                    field.span.clone(),
                    serde_json::to_vec(&items).unwrap_or_default(),
                ));
            }
        }
    }
    Ok(NativeRequest {
        body: object.rewrite(&mut edits, &appends),
        stream,
    })
}

/// Leaves out item ids and unresolvable reasoning items; true if anything changed.
fn make_whole(items: &mut Vec<Value>) -> bool {
    let before = items.len();
    items.retain(|item| {
        item["type"] != "reasoning"
            || item
                .get("encrypted_content")
                .is_some_and(|c| c.as_str().is_some_and(|c| !c.is_empty()))
    });
    let mut changed = items.len() != before;
    for item in items.iter_mut() {
        if let Some(object) = item.as_object_mut() {
            changed |= object.remove("id").is_some();
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native(body: &str) -> Value {
        let out = native_request(body.as_bytes(), "gpt-5-2025-08-07").map(|n| n.body);
        serde_json::from_slice(&out.unwrap_or_default()).unwrap_or_default()
    }

    #[test]
    fn the_model_is_renamed_and_nothing_is_stored_upstream() {
        let body = r#"{"model":"smart","input":"hi","store":true,"metadata":{"a":"b"},"tools":[{"type":"web_search"}]}"#;
        let out = native_request(body.as_bytes(), "gpt-5").map(|n| n.body);
        assert_eq!(
            String::from_utf8(out.unwrap_or_default()).unwrap_or_default(),
            r#"{"model":"gpt-5","input":"hi","store":false,"metadata":{"a":"b"},"tools":[{"type":"web_search"}]}"#
        );
        let out = native(r#"{"model":"smart","input":"hi"}"#);
        assert_eq!(out["store"], false);
        assert_eq!(out["model"], "gpt-5-2025-08-07");
    }

    #[test]
    fn items_go_whole_without_ids() {
        let out = native(
            r#"{"model":"m","input":[
                {"role":"user","content":"weather?"},
                {"type":"reasoning","id":"rs_1","summary":[]},
                {"type":"reasoning","id":"rs_2","summary":[],"encrypted_content":"gAAA"},
                {"type":"function_call","id":"fc_1","call_id":"call_1","name":"w","arguments":"{}"},
                {"type":"function_call_output","call_id":"call_1","output":"sunny"},
                {"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"ok"}]}
            ]}"#,
        );
        let items = out["input"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 5);
        assert!(items.iter().all(|i| i.get("id").is_none()));
        assert_eq!(items[1]["encrypted_content"], "gAAA");
        assert_eq!(items[2]["call_id"], "call_1");
    }

    #[test]
    fn items_that_need_no_change_pass_byte_for_byte() {
        let body = r#"{"model":"gpt-5","input":[{"role":"user","content":[{"type":"input_text","text":"x"}]}],"store":false}"#;
        let out = native_request(body.as_bytes(), "gpt-5").map(|n| n.body);
        assert_eq!(out.unwrap_or_default(), body.as_bytes());
    }

    #[test]
    fn the_stream_flag_is_read_from_the_body() {
        let stream = |body: &str| native_request(body.as_bytes(), "m").map(|n| n.stream).ok();
        assert_eq!(
            stream(r#"{"model":"m","input":"x","stream":true}"#),
            Some(true)
        );
        assert_eq!(
            stream(r#"{"model":"m","input":"x","stream":false}"#),
            Some(false)
        );
        assert_eq!(stream(r#"{"model":"m","input":"x"}"#), Some(false));
    }

    #[test]
    fn an_unexpanded_previous_response_id_is_refused() {
        let body = br#"{"model":"m","input":"x","previous_response_id":"resp_1"}"#;
        assert!(native_request(body, "m").is_err());
    }
}
