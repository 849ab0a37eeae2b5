//! The cost a stream reports to its client in its final usage (`usage.cost_usd`, USD), when the
//! client asked for usage. Official SDKs keep unknown usage fields (`usage.model_extra` in
//! Python), so clients can read it and nothing else changes. A whole (non-streamed) response
//! cannot carry it in a header: Pingora sends the response head before the body with the usage.

use super::Price;
use crate::canonical::Usage;
use crate::json::TopLevelObject;
use crate::stream::SseEvent;
use serde::Serialize;

/// The field added to the usage object.
const COST_FIELD: &str = "cost_usd";

/// The cost of `usage` in USD, for a JSON number.
pub fn cost_usd(price: Option<&Price>, usage: &Usage) -> Option<f64> {
    price.map(|p| p.cost_micros(usage) as f64 / 1e6)
}

/// A usage object as a provider writes it, with the cost beside it.
#[derive(Serialize)]
pub struct WithCost<U: Serialize> {
    #[serde(flatten)]
    pub usage: U,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// Passes an event on with `usage.cost_usd` added when a price is known and the event has a
/// usage object, else byte for byte as it came.
pub fn pass_with_cost(
    event: &SseEvent<'_>,
    price: Option<&Price>,
    usage: &Usage,
    out: &mut Vec<u8>,
) {
    let Some(data) = cost_usd(price, usage).and_then(|usd| add_cost_to_usage(&event.data, usd))
    else {
        out.extend_from_slice(event.raw);
        return;
    };
    if let Some(name) = event.event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\n\n");
}

/// An event's JSON with `cost_usd` added to its top-level `usage` object; `None` when it has
/// no usage object.
fn add_cost_to_usage(data: &str, usd: f64) -> Option<Vec<u8>> {
    let object = TopLevelObject::parse(data.as_bytes()).ok()?;
    let field = object.get("usage")?;
    let value = field.value.trim();
    if !value.starts_with('{') || !value.ends_with('}') {
        return None;
    }
    let close = field.span.start + field.value.rfind('}')?;
    let empty = value[1..value.len() - 1].trim().is_empty();
    let comma = if empty { "" } else { "," };
    let insert = format!("{comma}\"{COST_FIELD}\":{usd}");
    Some(object.splice(close..close, insert.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_cost_inside_usage_and_keeps_every_other_byte() {
        let data =
            r#"{"id":"c","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3} ,"x":1}"#;
        let out = add_cost_to_usage(data, 0.000125).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":"c","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"cost_usd":0.000125} ,"x":1}"#
        );
        let out = add_cost_to_usage(r#"{"usage":{ }}"#, 1.5).unwrap();
        assert_eq!(out, br#"{"usage":{ "cost_usd":1.5}}"#.to_vec());
        assert!(add_cost_to_usage(r#"{"usage":null}"#, 1.0).is_none());
        assert!(add_cost_to_usage(r#"{"choices":[]}"#, 1.0).is_none());
        assert!(add_cost_to_usage("not json", 1.0).is_none());
    }

    #[test]
    fn small_costs_are_plain_decimals() {
        let out = add_cost_to_usage(r#"{"usage":{"a":1}}"#, 0.000001).unwrap();
        assert_eq!(out, br#"{"usage":{"a":1,"cost_usd":0.000001}}"#.to_vec());
        let with = WithCost {
            usage: serde_json::json!({"a": 1}),
            cost_usd: Some(0.25),
        };
        assert_eq!(
            serde_json::to_string(&with).unwrap(),
            r#"{"a":1,"cost_usd":0.25}"#
        );
    }
}
