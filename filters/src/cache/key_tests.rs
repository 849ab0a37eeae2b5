//! The cache key's promises, as properties: key order never matters, every field that can
//! change the answer does, and the ignored ones never do.

use super::key::{cache_key, temperature_allows_caching, IGNORED_FIELDS};
use crate::translate::ClientDialect;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn key(body: &[u8]) -> String {
    cache_key(ClientDialect::OpenAi, "gpt-4o", "team-a", body)
        .map(|k| k.as_str().to_owned())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        "[a-z é\"\\\\\n]{0,6}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-e]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A request body: the usual fields plus unknown ones (keys no ignored field can match).
fn body() -> impl Strategy<Value = Map<String, Value>> {
    (
        value(),
        prop::collection::btree_map("[a-e]{1,3}", value(), 0..4),
    )
        .prop_map(|(messages, extra)| {
            let mut body: Map<String, Value> = extra.into_iter().collect();
            body.insert("model".into(), json!("alias"));
            body.insert("messages".into(), messages);
            body.insert("temperature".into(), json!(0));
            body
        })
}

/// Writes `value` with the keys of every object in an order picked by `seed`.
fn shuffled(value: &Value, seed: u64, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by_key(|(k, _)| {
                k.bytes().fold(seed, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                })
            });
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                shuffled(v, seed.rotate_left(7), out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                shuffled(v, seed ^ i as u64, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn text(value: &Value, seed: u64) -> Vec<u8> {
    let mut out = String::new();
    shuffled(value, seed, &mut out);
    out.into_bytes()
}

/// Every leaf's place in `value`, as a list of steps.
fn leaves(value: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                at.push(k.clone());
                leaves(v, at, out);
                at.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                at.push(i.to_string());
                leaves(v, at, out);
                at.pop();
            }
        }
        _ => out.push(at.clone()),
    }
}

fn leaf_mut<'v>(value: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |v, step| match v {
        Value::Object(map) => map.get_mut(step),
        Value::Array(items) => step.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        _ => None,
    })
}

proptest! {
    #[test]
    fn the_order_of_keys_never_changes_the_key(body in body(), a in any::<u64>(), b in any::<u64>()) {
        let body = Value::Object(body);
        prop_assert_eq!(key(&text(&body, a)), key(&text(&body, b)));
    }

    #[test]
    fn changing_any_field_that_counts_changes_the_key(body in body(), pick in any::<prop::sample::Index>()) {
        let body = Value::Object(body);
        let before = key(&text(&body, 1));
        let mut paths = Vec::new();
        leaves(&body, &mut Vec::new(), &mut paths);
        // The body's `model` is replaced by the configured one: it is the one leaf that may not count.
        paths.retain(|p| p.first().map(String::as_str) != Some("model"));
        let path = pick.get(&paths).clone();
        let mut changed = body.clone();
        if let Some(leaf) = leaf_mut(&mut changed, &path) {
            *leaf = match leaf {
                Value::String(s) if s == "changed" => json!("changed again"),
                _ => json!("changed"),
            };
        }
        prop_assert_ne!(&before, &key(&text(&changed, 2)), "changed at {:?}", path);

        let mut added = body.clone();
        if let Value::Object(map) = &mut added {
            map.insert("zz_unknown_option".into(), json!(true));
        }
        prop_assert_ne!(&before, &key(&text(&added, 3)));
    }

    #[test]
    fn the_ignored_fields_never_change_the_key(body in body(), values in prop::collection::vec(value(), IGNORED_FIELDS.len())) {
        let before = key(&text(&Value::Object(body.clone()), 1));
        let mut with = body;
        for (name, v) in IGNORED_FIELDS.iter().zip(values) {
            with.insert((*name).to_owned(), v);
        }
        prop_assert_eq!(before, key(&text(&Value::Object(with), 4)));
    }
}

#[test]
fn stream_and_the_bodys_model_do_not_count_but_dialect_scope_and_model_do() {
    let base = br#"{"model":"alias","messages":[{"role":"user","content":"Hi"}],"temperature":0}"#;
    let streamed = br#"{"stream":true,"stream_options":{"include_usage":true},"model":"other-alias","temperature":0,"messages":[{"content":"Hi","role":"user"}]}"#;
    assert_eq!(key(base), key(streamed));

    let k = |client, model, scope| {
        cache_key(client, model, scope, base)
            .map(|k| k.as_str().to_owned())
            .unwrap_or_default()
    };
    let reference = k(ClientDialect::OpenAi, "gpt-4o", "team-a");
    assert_eq!(reference, key(base));
    assert_eq!(reference.len(), 64);
    assert!(reference.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(reference, k(ClientDialect::Responses, "gpt-4o", "team-a"));
    assert_ne!(reference, k(ClientDialect::Anthropic, "gpt-4o", "team-a"));
    assert_ne!(reference, k(ClientDialect::OpenAi, "gpt-4o-mini", "team-a"));
    assert_ne!(reference, k(ClientDialect::OpenAi, "gpt-4o", "team-b"));
    // Length prefixes: moving a character from scope to model is another key.
    assert_ne!(
        k(ClientDialect::OpenAi, "ab", "c"),
        k(ClientDialect::OpenAi, "a", "bc")
    );
}

#[test]
fn a_tools_schema_counts() {
    let tool = |kind: &str| {
        json!({"model": "m", "temperature": 0, "messages": [{"role": "user", "content": "Weather?"}],
            "tools": [{"type": "function", "function": {"name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": kind}}}}}]})
        .to_string()
    };
    assert_ne!(
        key(tool("string").as_bytes()),
        key(tool("number").as_bytes())
    );
}

#[test]
fn bodies_that_are_not_json_objects_are_refused() {
    for body in [&b"not json"[..], b"[1,2]", b"\"s\"", b""] {
        assert!(cache_key(ClientDialect::OpenAi, "m", "s", body).is_err());
    }
}

#[test]
fn only_a_temperature_of_exactly_zero_allows_caching() {
    for (body, allowed) in [
        (&br#"{"temperature":0}"#[..], true),
        (br#"{"temperature":0.0,"top_p":0.5}"#, true),
        (br#"{"temperature":-0.0}"#, true),
        (br#"{"messages":[]}"#, false),
        (br#"{"temperature":null}"#, false),
        (br#"{"temperature":0.01}"#, false),
        (br#"{"temperature":1}"#, false),
        (br#"{"temperature":"0"}"#, false),
        (b"not json", false),
    ] {
        assert_eq!(
            temperature_allows_caching(body),
            allowed,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}
