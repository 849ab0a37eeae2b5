//! The semantic cache's promises: what is cacheable per dialect, which changes separate
//! contexts and which do not, and the index's hits, misses, expiry and bounds, with a
//! property test against a plain reference model.

use super::*;
use crate::translate::ClientDialect;
use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{json, Value};

fn split(client: ClientDialect, body: &Value) -> Split {
    split_request(client, "model-a", "team-a", body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn query(client: ClientDialect, body: &Value) -> SemanticQuery {
    match split(client, body) {
        Split::Query(q) => q,
        Split::Skip(s) => panic!("skipped: {s:?} for {body}"),
    }
}

fn skip(client: ClientDialect, body: &Value) -> Skip {
    match split(client, body) {
        Split::Query(q) => panic!("cacheable: {q:?} for {body}"),
        Split::Skip(s) => s,
    }
}

// ---- Chat Completions ----

fn chat(system: &str, prompt: Value) -> Value {
    json!({
        "model": "alias", "temperature": 0, "stream": true, "user": "u1",
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": prompt},
        ],
    })
}

#[test]
fn chat_prompt_is_the_last_user_turn_and_the_rest_is_context() {
    let a = query(
        ClientDialect::OpenAi,
        &chat("be brief", json!("What is Rust?")),
    );
    assert_eq!(a.prompt, "What is Rust?");
    assert_eq!(a.context.as_str().len(), 64);

    let b = query(
        ClientDialect::OpenAi,
        &chat("be brief", json!("Tell me about Rust")),
    );
    assert_eq!(a.context, b.context, "only the prompt differs");

    let c = query(
        ClientDialect::OpenAi,
        &chat("be verbose", json!("What is Rust?")),
    );
    assert_ne!(a.context, c.context, "another system prompt");
}

#[test]
fn chat_text_parts_are_joined_and_their_shape_stays_in_the_context() {
    let parts = json!([{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]);
    let q = query(ClientDialect::OpenAi, &chat("s", parts));
    assert_eq!(q.prompt, "one\ntwo");
    let string = query(ClientDialect::OpenAi, &chat("s", json!("one\ntwo")));
    assert_ne!(q.context, string.context);
    let other = json!([{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]);
    assert_eq!(
        q.context,
        query(ClientDialect::OpenAi, &chat("s", other)).context
    );
}

#[test]
fn chat_what_is_not_cacheable() {
    let image = json!([{"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]);
    assert_eq!(
        skip(ClientDialect::OpenAi, &chat("s", image)),
        Skip::NotText
    );
    assert_eq!(
        skip(ClientDialect::OpenAi, &chat("s", json!("   "))),
        Skip::BlankPrompt
    );
    assert_eq!(
        skip(ClientDialect::OpenAi, &chat("s", Value::Null)),
        Skip::NotText
    );
    assert_eq!(
        skip(ClientDialect::OpenAi, &chat("s", json!([]))),
        Skip::NotText
    );
    let tool_last = json!({"messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "w", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]});
    assert_eq!(skip(ClientDialect::OpenAi, &tool_last), Skip::NotLastTurn);
    let no_user = json!({"messages": [{"role": "system", "content": "s"}]});
    assert_eq!(skip(ClientDialect::OpenAi, &no_user), Skip::NoUserTurn);
    assert_eq!(
        skip(ClientDialect::OpenAi, &json!({"model": "m"})),
        Skip::NoUserTurn
    );
}

#[test]
fn every_other_field_separates_contexts_and_ignored_ones_do_not() {
    let base = query(ClientDialect::OpenAi, &chat("s", json!("hi")));
    for (field, value) in [
        ("temperature", json!(0.5)),
        (
            "tools",
            json!([{"type": "function", "function": {"name": "f"}}]),
        ),
        ("max_tokens", json!(10)),
        ("unknown_field", json!(1)),
    ] {
        let mut body = chat("s", json!("hi"));
        body[field] = value;
        assert_ne!(
            base.context,
            query(ClientDialect::OpenAi, &body).context,
            "{field}"
        );
    }
    let mut body = chat("s", json!("hi"));
    body["stream"] = json!(false);
    body["user"] = json!("someone-else");
    body["metadata"] = json!({"k": "v"});
    body["model"] = json!("another-alias");
    assert_eq!(base.context, query(ClientDialect::OpenAi, &body).context);

    let mut earlier = chat("s", json!("hi"));
    earlier["messages"][1]["content"] = json!("a different earlier turn");
    assert_ne!(base.context, query(ClientDialect::OpenAi, &earlier).context);
    let mut named = chat("s", json!("hi"));
    named["messages"][3]["name"] = json!("alice");
    assert_ne!(base.context, query(ClientDialect::OpenAi, &named).context);
}

#[test]
fn scope_model_and_dialect_separate_contexts() {
    let body = chat("s", json!("hi")).to_string();
    let ctx = |client, model, scope| match split_request(client, model, scope, body.as_bytes()) {
        Ok(Split::Query(q)) => q.context,
        other => panic!("{other:?}"),
    };
    let base = ctx(ClientDialect::OpenAi, "m", "t");
    assert_ne!(base, ctx(ClientDialect::OpenAi, "m2", "t"));
    assert_ne!(base, ctx(ClientDialect::OpenAi, "m", "t2"));
    assert_ne!(base, ctx(ClientDialect::Anthropic, "m", "t"));
}

#[test]
fn key_order_does_not_matter() {
    let a = br#"{"model":"x","temperature":0,"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}]}"#;
    let b = br#"{"messages":[{"content":"s","role":"system"},{"content":"hi","role":"user"}],"temperature":0,"model":"x"}"#;
    for client in [ClientDialect::OpenAi, ClientDialect::Anthropic] {
        let qa = split_request(client, "m", "t", a).map(Split::query);
        let qb = split_request(client, "m", "t", b).map(Split::query);
        assert!(matches!(&qa, Ok(Some(_))));
        assert_eq!(qa, qb);
    }
}

#[test]
fn a_body_that_is_not_a_json_object_is_an_error() {
    for body in [&b"{"[..], b"[]", b"\"x\""] {
        assert!(split_request(ClientDialect::OpenAi, "m", "t", body).is_err());
    }
}

// ---- Anthropic Messages ----

fn messages(system: &str, prompt: Value) -> Value {
    json!({
        "model": "claude", "max_tokens": 100, "system": system,
        "messages": [
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": [{"type": "text", "text": "reply"}]},
            {"role": "user", "content": prompt},
        ],
    })
}

#[test]
fn anthropic_prompt_and_context() {
    let blocks =
        json!([{"type": "text", "text": "What is Rust?", "cache_control": {"type": "ephemeral"}}]);
    let a = query(ClientDialect::Anthropic, &messages("be brief", blocks));
    assert_eq!(a.prompt, "What is Rust?");
    let other =
        json!([{"type": "text", "text": "Explain Rust", "cache_control": {"type": "ephemeral"}}]);
    let b = query(ClientDialect::Anthropic, &messages("be brief", other));
    assert_eq!(a.context, b.context);
    let no_cache_control = json!([{"type": "text", "text": "What is Rust?"}]);
    let c = query(
        ClientDialect::Anthropic,
        &messages("be brief", no_cache_control),
    );
    assert_ne!(
        a.context, c.context,
        "the block's other fields stay in the context"
    );
    let blocks =
        json!([{"type": "text", "text": "What is Rust?", "cache_control": {"type": "ephemeral"}}]);
    let d = query(ClientDialect::Anthropic, &messages("be verbose", blocks));
    assert_ne!(a.context, d.context);
    assert_eq!(
        query(ClientDialect::Anthropic, &messages("s", json!("plain"))).prompt,
        "plain"
    );
}

#[test]
fn anthropic_tool_results_images_and_prefill_are_not_cacheable() {
    let tool_result = json!([{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]);
    assert_eq!(
        skip(ClientDialect::Anthropic, &messages("s", tool_result)),
        Skip::NotText
    );
    let image = json!([{"type": "text", "text": "what is it"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]);
    assert_eq!(
        skip(ClientDialect::Anthropic, &messages("s", image)),
        Skip::NotText
    );
    let mut prefill = messages("s", json!("give JSON"));
    if let Some(list) = prefill["messages"].as_array_mut() {
        list.push(json!({"role": "assistant", "content": "{"}));
    }
    assert_eq!(skip(ClientDialect::Anthropic, &prefill), Skip::NotLastTurn);
}

// ---- Responses ----

#[test]
fn responses_string_input_and_item_lists() {
    let a = query(
        ClientDialect::Responses,
        &json!({"model": "m", "instructions": "be brief", "input": "What is Rust?"}),
    );
    assert_eq!(a.prompt, "What is Rust?");
    let b = query(
        ClientDialect::Responses,
        &json!({"model": "m", "instructions": "be brief", "input": "Explain Rust"}),
    );
    assert_eq!(a.context, b.context);
    let c = query(
        ClientDialect::Responses,
        &json!({"model": "m", "instructions": "be verbose", "input": "What is Rust?"}),
    );
    assert_ne!(a.context, c.context);

    let items = |text: &str, earlier: &str| {
        json!({"model": "m", "input": [
            {"role": "user", "content": earlier},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
        ]})
    };
    let d = query(ClientDialect::Responses, &items("What is Rust?", "hi"));
    assert_eq!(d.prompt, "What is Rust?");
    let e = query(ClientDialect::Responses, &items("Explain Rust", "hi"));
    assert_eq!(d.context, e.context);
    let f = query(ClientDialect::Responses, &items("What is Rust?", "hello"));
    assert_ne!(d.context, f.context);
}

#[test]
fn responses_what_is_not_cacheable() {
    let image = json!({"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "what"}, {"type": "input_image", "image_url": "https://x.test/a.png"}]}]});
    assert_eq!(skip(ClientDialect::Responses, &image), Skip::NotText);
    let tool_output = json!({"model": "m", "input": [
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"}]});
    assert_eq!(
        skip(ClientDialect::Responses, &tool_output),
        Skip::NotLastTurn
    );
    assert_eq!(
        skip(ClientDialect::Responses, &json!({"model": "m"})),
        Skip::NoUserTurn
    );
    assert_eq!(
        skip(
            ClientDialect::Responses,
            &json!({"model": "m", "input": ""})
        ),
        Skip::BlankPrompt
    );
}

proptest! {
    /// Whatever the prompt, it never changes the context, and it comes back unchanged.
    #[test]
    fn the_prompt_never_reaches_the_context(a in "\\PC{1,40}", b in "\\PC{1,40}", system in "[a-z ]{0,10}") {
        prop_assume!(!a.trim().is_empty() && !b.trim().is_empty());
        for (client, make) in [
            (ClientDialect::OpenAi, chat as fn(&str, Value) -> Value),
            (ClientDialect::Anthropic, messages as fn(&str, Value) -> Value),
        ] {
            let qa = query(client, &make(&system, json!(a)));
            let qb = query(client, &make(&system, json!(b)));
            prop_assert_eq!(&qa.prompt, &a);
            prop_assert_eq!(qa.context, qb.context);
        }
    }
}

// ---- the index ----

fn ctx(name: &str) -> ContextKey {
    let body = json!({"messages": [{"role": "system", "content": name}, {"role": "user", "content": "q"}]});
    query(ClientDialect::OpenAi, &body).context
}

fn unit(dim: usize, axis: usize) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    v[axis] = 1.0;
    v
}

const NOW: u64 = 1_000;
const LATER: u64 = 1_000_000;

#[test]
fn identical_vector_hits_with_similarity_one_and_orthogonal_misses() {
    let mut index = SemanticIndex::new(10, 1 << 20);
    let a = ctx("a");
    let v = vec![3.0, 4.0, 0.0];
    index
        .insert(&a, v.clone(), Bytes::from_static(b"answer"), LATER, NOW)
        .unwrap();
    let hit = index.lookup(&a, &[0.6, 0.8, 0.0], 0.99, NOW).unwrap();
    assert!((hit.similarity - 1.0).abs() < 1e-6, "{}", hit.similarity);
    assert_eq!(&hit.value[..], b"answer");
    assert!(index.lookup(&a, &v, 1.0, NOW).is_some(), "clamped to 1");
    assert!(index.lookup(&a, &[0.0, 0.0, 1.0], 0.5, NOW).is_none());
    assert!(index.lookup(&a, &[0.0, 0.0, 1.0], 0.01, NOW).is_none());
    let hit = index.lookup(&a, &[0.0, 0.0, 1.0], 0.0, NOW).unwrap();
    assert!(hit.similarity.abs() < 1e-6, "orthogonal is similarity 0");
    assert_eq!(index.len(), 1);
    assert_eq!(index.bytes(), 3 * 4 + 6);
    index.assert_consistent();
}

#[test]
fn the_nearest_entry_wins_and_the_threshold_is_respected() {
    let mut index = SemanticIndex::new(10, 1 << 20);
    let a = ctx("a");
    index
        .insert(&a, vec![1.0, 0.0], Bytes::from_static(b"x"), LATER, NOW)
        .unwrap();
    index
        .insert(&a, vec![0.0, 1.0], Bytes::from_static(b"y"), LATER, NOW)
        .unwrap();
    // cos = 0.8 to y, 0.6 to x.
    let q = [0.6, 0.8];
    let hit = index.lookup(&a, &q, 0.79, NOW).unwrap();
    assert_eq!(&hit.value[..], b"y");
    assert!((hit.similarity - 0.8).abs() < 1e-6);
    assert!(index.lookup(&a, &q, 0.81, NOW).is_none());
    assert!(index.lookup(&a, &q, f32::NAN, NOW).is_none());
}

#[test]
fn another_context_never_hits() {
    let mut index = SemanticIndex::new(10, 1 << 20);
    index
        .insert(
            &ctx("a"),
            vec![1.0, 0.0],
            Bytes::from_static(b"x"),
            LATER,
            NOW,
        )
        .unwrap();
    assert!(index.lookup(&ctx("b"), &[1.0, 0.0], -1.0, NOW).is_none());
    assert_eq!(index.contexts(), 1);
}

#[test]
fn entries_expire_and_are_swept() {
    let mut index = SemanticIndex::new(10, 1 << 20);
    let a = ctx("a");
    index
        .insert(&a, vec![1.0], Bytes::from_static(b"x"), 2_000, NOW)
        .unwrap();
    index
        .insert(&ctx("b"), vec![1.0], Bytes::from_static(b"y"), 5_000, NOW)
        .unwrap();
    assert!(index.lookup(&a, &[1.0], 0.9, 1_999).is_some());
    assert!(index.lookup(&a, &[1.0], 0.9, 2_000).is_none());
    assert_eq!(index.len(), 1, "swept by the lookup");
    assert_eq!(index.contexts(), 1);
    index.sweep(5_000);
    assert!(index.is_empty());
    assert_eq!(index.bytes(), 0);
    assert_eq!(
        index.insert(&a, vec![1.0], Bytes::new(), 5_000, 5_000),
        Err(InsertError::Expired)
    );
    index.assert_consistent();
}

#[test]
fn eviction_by_count_keeps_the_most_recently_used() {
    let mut index = SemanticIndex::new(3, 1 << 20);
    let (a, b) = (ctx("a"), ctx("b"));
    for (i, c) in [&a, &b, &a].into_iter().enumerate() {
        index
            .insert(c, unit(4, i), Bytes::from(vec![i as u8]), LATER, NOW)
            .unwrap();
    }
    // Use the oldest (a, axis 0): now b's entry (axis 1) is the least recently used.
    assert!(index.lookup(&a, &unit(4, 0), 0.99, NOW).is_some());
    index
        .insert(&a, unit(4, 3), Bytes::from_static(b"new"), LATER, NOW)
        .unwrap();
    assert_eq!(index.len(), 3);
    assert!(index.lookup(&b, &unit(4, 1), 0.99, NOW).is_none());
    assert_eq!(index.contexts(), 1);
    for axis in [0, 2, 3] {
        assert!(
            index.lookup(&a, &unit(4, axis), 0.99, NOW).is_some(),
            "{axis}"
        );
    }
    index.assert_consistent();
}

#[test]
fn eviction_by_bytes_keeps_the_most_recently_used() {
    // Each entry: 2 dims * 4 + 92 value bytes = 100 bytes.
    let mut index = SemanticIndex::new(100, 250);
    let a = ctx("a");
    let value = Bytes::from(vec![0u8; 92]);
    index
        .insert(&a, unit(2, 0), value.clone(), LATER, NOW)
        .unwrap();
    index
        .insert(&a, unit(2, 1), value.clone(), LATER, NOW)
        .unwrap();
    assert!(index.lookup(&a, &unit(2, 0), 0.99, NOW).is_some());
    index
        .insert(&a, vec![1.0, 1.0], value.clone(), LATER, NOW)
        .unwrap();
    assert_eq!(index.len(), 2);
    assert_eq!(index.bytes(), 200);
    assert!(
        index.lookup(&a, &unit(2, 1), 0.99, NOW).is_none(),
        "evicted"
    );
    assert!(index.lookup(&a, &unit(2, 0), 0.99, NOW).is_some());
    assert_eq!(
        index.insert(&a, unit(2, 0), Bytes::from(vec![0u8; 300]), LATER, NOW),
        Err(InsertError::TooLarge)
    );
    index.assert_consistent();
}

#[test]
fn bad_vectors_and_dimension_mismatches_are_refused_or_missed_never_a_panic() {
    let mut index = SemanticIndex::new(10, 1 << 20);
    let a = ctx("a");
    for bad in [
        vec![],
        vec![0.0, 0.0],
        vec![f32::NAN, 1.0],
        vec![f32::INFINITY, 1.0],
    ] {
        assert_eq!(
            index.insert(&a, bad.clone(), Bytes::new(), LATER, NOW),
            Err(InsertError::BadVector)
        );
        assert!(index.lookup(&a, &bad, -1.0, NOW).is_none());
    }
    index
        .insert(&a, vec![1.0, 0.0], Bytes::new(), LATER, NOW)
        .unwrap();
    assert_eq!(
        index.insert(&a, vec![1.0, 0.0, 0.0], Bytes::new(), LATER, NOW),
        Err(InsertError::DimensionMismatch {
            expected: 2,
            got: 3
        })
    );
    assert!(index.lookup(&a, &[1.0, 0.0, 0.0], -1.0, NOW).is_none());
    assert!(index.lookup(&a, &[1.0], -1.0, NOW).is_none());
    assert!(index.lookup(&a, &[0.0, 0.0], -1.0, NOW).is_none());
    assert_eq!(index.len(), 1);
    let mut none = SemanticIndex::new(0, 1 << 20);
    assert_eq!(
        none.insert(&a, vec![1.0], Bytes::new(), LATER, NOW),
        Err(InsertError::TooLarge)
    );
}

/// The reference: a list scanned in full for everything.
#[derive(Default)]
struct Model {
    entries: Vec<ModelEntry>,
    stamp: u64,
}

struct ModelEntry {
    context: usize,
    vector: Vec<f32>,
    value: u8,
    bytes: usize,
    expires: u64,
    stamp: u64,
}

#[derive(Debug, Clone)]
enum Op {
    Insert {
        context: usize,
        vector: Vec<f32>,
        value_len: usize,
        ttl: u64,
    },
    Lookup {
        context: usize,
        vector: Vec<f32>,
        threshold: f32,
    },
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    // Small integer coordinates: exact ties are possible, and sums are exact in f32.
    let vector = prop::collection::vec(-2i8..=2, 3)
        .prop_map(|v| v.into_iter().map(f32::from).collect::<Vec<f32>>());
    prop_oneof![
        (0..3usize, vector.clone(), 0..40usize, 1..50u64).prop_map(
            |(context, vector, value_len, ttl)| Op::Insert {
                context,
                vector,
                value_len,
                ttl
            }
        ),
        (0..3usize, vector, -0.5f32..1.0).prop_map(|(context, vector, threshold)| Op::Lookup {
            context,
            vector,
            threshold
        }),
        (0..20u64).prop_map(Op::Wait),
    ]
}

fn normalized(v: &[f32]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm > 0.0).then(|| v.iter().map(|x| x / norm).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Against the reference: the same answers (up to ties between equally similar entries),
    /// the same entries kept, the bounds held, the maps consistent after every step.
    #[test]
    fn the_index_behaves_like_the_reference(ops in prop::collection::vec(op(), 1..80), max_entries in 1..8usize, max_bytes in 12..150usize) {
        let contexts = [ctx("p"), ctx("q"), ctx("r")];
        let mut index = SemanticIndex::new(max_entries, max_bytes);
        let mut model = Model::default();
        let mut now = 0u64;
        let mut next_value = 0u8;
        for op in ops {
            // Sweep the reference as the index does.
            model.entries.retain(|e| e.expires > now);
            match op {
                Op::Wait(ms) => now += ms,
                Op::Insert { context, vector, value_len, ttl } => {
                    next_value = next_value.wrapping_add(1);
                    let mut value = vec![0u8; value_len.max(1)];
                    value[0] = next_value;
                    let bytes = 12 + value.len();
                    let result = index.insert(&contexts[context], vector.clone(), Bytes::from(value), now + ttl, now);
                    let Some(unit) = normalized(&vector) else {
                        prop_assert_eq!(result, Err(InsertError::BadVector));
                        continue;
                    };
                    if bytes > max_bytes {
                        prop_assert_eq!(result, Err(InsertError::TooLarge));
                        continue;
                    }
                    prop_assert_eq!(result, Ok(()));
                    while model.entries.len() >= max_entries || model.entries.iter().map(|e| e.bytes).sum::<usize>() + bytes > max_bytes {
                        let oldest = model.entries.iter().enumerate().min_by_key(|(_, e)| e.stamp).map(|(i, _)| i).unwrap();
                        model.entries.remove(oldest);
                    }
                    model.stamp += 1;
                    model.entries.push(ModelEntry { context, vector: unit, value: next_value, bytes, expires: now + ttl, stamp: model.stamp });
                }
                Op::Lookup { context, vector, threshold } => {
                    let got = index.lookup(&contexts[context], &vector, threshold, now);
                    let best = normalized(&vector).and_then(|q| {
                        model.entries.iter().enumerate().filter(|(_, e)| e.context == context)
                            .map(|(i, e)| (i, e.vector.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>()))
                            .fold(None, |best: Option<(usize, f32)>, (i, s)| match best { Some((_, b)) if b >= s => best, _ => Some((i, s)) })
                    });
                    match (got, best) {
                        (None, None) => {}
                        (None, Some((_, s))) => prop_assert!(s < threshold + 1e-5, "missed at {s} >= {threshold}"),
                        (Some(hit), Some((i, s))) => {
                            prop_assert!((hit.similarity - s.min(1.0)).abs() < 1e-5);
                            prop_assert!(hit.similarity >= threshold);
                            // Ties: touch whichever entry the index returned.
                            let j = model.entries.iter().position(|e| e.value == hit.value[0] && e.context == context).unwrap_or(i);
                            model.stamp += 1;
                            model.entries[j].stamp = model.stamp;
                        }
                        (Some(hit), None) => prop_assert!(false, "hit {hit:?} with nothing to find"),
                    }
                }
            }
            index.sweep(now);
            model.entries.retain(|e| e.expires > now);
            index.assert_consistent();
            prop_assert_eq!(index.len(), model.entries.len());
            prop_assert_eq!(index.bytes(), model.entries.iter().map(|e| e.bytes).sum::<usize>());
        }
    }
}
