//! Streams that open many tool calls and interleave their argument fragments: each fragment
//! must reach its own call. The decoders and encoders look calls up by index on every
//! fragment (in maps, so a stream of thousands of calls stays linear; see the
//! `worst_case` bench's `many_tools`).

use serde_json::Value;
use sluice_filters::translate::{ClientDialect, StreamSpec, StreamTranslator, UpstreamDialect};

const CALLS: u32 = 2_000;

fn translate(client: ClientDialect, upstream: UpstreamDialect, stream: &str) -> Vec<Value> {
    let mut t = StreamTranslator::new(StreamSpec {
        client,
        upstream,
        id: "req",
        model: "m",
        created: 1,
        client_wants_usage: true,
        json_tool: false,
        price: None,
        request: b"{}",
    });
    let mut out = Vec::new();
    t.push(stream.as_bytes(), &mut out);
    t.finish(&mut out);
    String::from_utf8(out)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

/// The calls in order, then their fragments from the last call to the first.
fn interleaved(open: impl Fn(u32) -> String, fragment: impl Fn(u32) -> String) -> String {
    (0..CALLS)
        .map(open)
        .chain((0..CALLS).rev().map(fragment))
        .collect()
}

#[test]
fn openai_fragments_reach_their_anthropic_blocks() {
    let chunk = |delta: String| {
        format!("data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{delta}]}},\"finish_reason\":null}}]}}\n\n")
    };
    let mut stream = interleaved(
        |i| {
            chunk(format!("{{\"index\":{i},\"id\":\"call_{i}\",\"type\":\"function\",\"function\":{{\"name\":\"f\",\"arguments\":\"\"}}}}"))
        },
        |i| {
            chunk(format!(
                "{{\"index\":{i},\"function\":{{\"arguments\":\"{{\\\"n\\\":{i}}}\"}}}}"
            ))
        },
    );
    stream.push_str("data: [DONE]\n\n");
    let events = translate(ClientDialect::Anthropic, UpstreamDialect::OpenAi, &stream);
    let mut block_of_call = std::collections::HashMap::new();
    let mut fragments = 0;
    for e in &events {
        match e["type"].as_str() {
            Some("content_block_start") => {
                let id = e["content_block"]["id"].as_str().unwrap().to_owned();
                block_of_call.insert(e["index"].as_u64().unwrap(), id);
            }
            Some("content_block_delta") => {
                let json = e["delta"]["partial_json"].as_str().unwrap();
                let n: Value = serde_json::from_str(json).unwrap();
                let block = e["index"].as_u64().unwrap();
                assert_eq!(block_of_call[&block], format!("call_{}", n["n"]));
                fragments += 1;
            }
            _ => {}
        }
    }
    assert_eq!(block_of_call.len(), CALLS as usize);
    assert_eq!(fragments, CALLS);
}

#[test]
fn anthropic_fragments_reach_their_openai_calls() {
    let mut stream = String::from("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n");
    stream.push_str(&interleaved(
        // Block numbers start at 1: block 0 is text, so block and call numbers differ.
        |i| format!("event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":{},\"content_block\":{{\"type\":\"tool_use\",\"id\":\"toolu_{i}\",\"name\":\"f\",\"input\":{{}}}}}}\n\n", i + 1),
        |i| format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{},\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"{{\\\"n\\\":{i}}}\"}}}}\n\n", i + 1),
    ));
    stream.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":5}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    let events = translate(ClientDialect::OpenAi, UpstreamDialect::Anthropic, &stream);
    let mut id_of_call = std::collections::HashMap::new();
    let mut fragments = 0;
    for e in &events {
        for call in e["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = call["index"].as_u64().unwrap();
            if let Some(id) = call["id"].as_str() {
                id_of_call.insert(index, id.to_owned());
            }
            let args = call["function"]["arguments"].as_str().unwrap_or_default();
            if !args.is_empty() {
                let n: Value = serde_json::from_str(args).unwrap();
                assert_eq!(id_of_call[&index], format!("toolu_{}", n["n"]));
                fragments += 1;
            }
        }
    }
    assert_eq!(id_of_call.len(), CALLS as usize);
    assert_eq!(fragments, CALLS);
}
