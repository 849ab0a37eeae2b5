use super::*;
use crate::error_type::ErrorType;

fn refused(kind: BodyKind, body: &str) -> RequestError {
    match check(kind, body.as_bytes()) {
        Ok(c) => panic!("accepted {body}: {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn mistyped_openai_fields_are_refused_naming_the_field() {
    let base = |extra: &str| {
        format!(r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}]{extra}}}"#)
    };
    let cases = [
        (r#","max_tokens":-5"#, "max_tokens"),
        (r#","max_tokens":"10""#, "max_tokens"),
        (r#","max_tokens":1.5"#, "max_tokens"),
        (r#","max_tokens":0"#, "max_tokens"),
        (r#","max_completion_tokens":true"#, "max_completion_tokens"),
        (r#","temperature":"abc""#, "temperature"),
        (r#","top_p":[1]"#, "top_p"),
        (r#","tools":"x""#, "tools"),
        (
            r#","tools":[{"type":"function","function":{"name":5}}]"#,
            "tools[0].function.name",
        ),
        (r#","tool_choice":5"#, "tool_choice"),
        (r#","stream":"yes""#, "stream"),
        (r#","stop":[1]"#, "stop[0]"),
        (r#","n":-1"#, "n"),
        (r#","response_format":{"type":1}"#, "response_format.type"),
        (r#","stream_options":true"#, "stream_options"),
    ];
    for (extra, param) in cases {
        let e = refused(BodyKind::OpenAiChat, &base(extra));
        assert_eq!(e.param.as_deref(), Some(param), "{extra}: {}", e.message);
        assert_eq!(e.error_type, ErrorType::InvalidRequest, "{extra}");
        assert!(e.message.contains(param), "{}", e.message);
    }
}

#[test]
fn malformed_openai_messages_are_refused() {
    let cases = [
        (
            r#"{"model":"m","messages":[{"role":"user","content":5}]}"#,
            "messages[0].content",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[5]}]}"#,
            "messages[0].content[0]",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}"#,
            "messages[0].content[0]",
        ),
        (
            r#"{"model":"m","messages":[{"content":"x"}]}"#,
            "messages[0]",
        ),
        (
            r#"{"model":"m","messages":[{"role":7,"content":"x"}]}"#,
            "messages[0].role",
        ),
        (r#"{"model":"m","messages":["hi"]}"#, "messages[0]"),
        (r#"{"model":"m","messages":{}}"#, "messages"),
        (
            r#"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":{}}}]}]}"#,
            "messages[0].tool_calls[0].function.arguments",
        ),
    ];
    for (body, param) in cases {
        let e = refused(BodyKind::OpenAiChat, body);
        assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
    }
    let e = refused(BodyKind::OpenAiChat, r#"{"model":"m","messages":[]}"#);
    assert_eq!(e.param.as_deref(), Some("messages"));
}

#[test]
fn well_formed_requests_pass_with_their_output_cap() {
    let cap = |kind, body: &str| check(kind, body.as_bytes()).unwrap().max_output_tokens;
    let chat = |extra: &str| {
        format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":[{{"type":"text","text":"hi"}}]}},{{"role":"assistant","content":null,"tool_calls":[{{"id":"c","type":"function","function":{{"name":"f","arguments":"{{}}"}}}}]}}],"unknown_field":{{"anything":[1]}}{extra}}}"#
        )
    };
    assert_eq!(cap(BodyKind::OpenAiChat, &chat("")), None);
    assert_eq!(
        cap(BodyKind::OpenAiChat, &chat(r#","max_tokens":300"#)),
        Some(300)
    );
    assert_eq!(
        cap(
            BodyKind::OpenAiChat,
            &chat(r#","max_tokens":300,"max_completion_tokens":50"#)
        ),
        Some(50)
    );
    assert_eq!(
        cap(BodyKind::OpenAiChat, &chat(r#","max_tokens":null"#)),
        None
    );
    assert_eq!(
        cap(
            BodyKind::OpenAiChat,
            &chat(r#","max_tokens":18446744073709551615"#)
        ),
        Some(u64::MAX)
    );
    assert_eq!(
        cap(
            BodyKind::AnthropicMessages,
            r#"{"model":"m","max_tokens":32000,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":"hi"},{"role":"system","content":[{"type":"text","text":"mid"}]}],"thinking":{"type":"adaptive"},"context_management":{"edits":[]}}"#
        ),
        Some(32000)
    );
    assert_eq!(
        cap(
            BodyKind::AnthropicCountTokens,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#
        ),
        Some(0)
    );
    for input in [r#""a""#, r#"["a","b"]"#, "[1,2]", "[[1],[2,3]]"] {
        let body = format!(r#"{{"model":"e","input":{input}}}"#);
        assert_eq!(cap(BodyKind::Embeddings, &body), Some(0), "{input}");
    }
}

#[test]
fn mistyped_anthropic_and_embeddings_fields_are_refused() {
    let cases = [
        (
            BodyKind::AnthropicMessages,
            r#"{"model":"m","max_tokens":-1,"messages":[{"role":"user","content":"x"}]}"#,
            "max_tokens",
        ),
        (
            BodyKind::AnthropicMessages,
            r#"{"model":"m","max_tokens":"9","messages":[{"role":"user","content":"x"}]}"#,
            "max_tokens",
        ),
        (
            BodyKind::AnthropicMessages,
            r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":5}]}"#,
            "messages[0].content",
        ),
        (
            BodyKind::AnthropicMessages,
            r#"{"model":"m","max_tokens":9,"system":7,"messages":[{"role":"user","content":"x"}]}"#,
            "system",
        ),
        (
            BodyKind::AnthropicMessages,
            r#"{"model":"m","max_tokens":9,"tools":"x","messages":[{"role":"user","content":"x"}]}"#,
            "tools",
        ),
        (
            BodyKind::AnthropicMessages,
            r#"{"model":"m","max_tokens":9,"temperature":"hot","messages":[{"role":"user","content":"x"}]}"#,
            "temperature",
        ),
        (BodyKind::Embeddings, r#"{"model":"e","input":5}"#, "input"),
        (BodyKind::Embeddings, r#"{"model":"e","input":[]}"#, "input"),
        (
            BodyKind::Embeddings,
            r#"{"model":"e","input":[{"a":1}]}"#,
            "input[0]",
        ),
        (
            BodyKind::Embeddings,
            r#"{"model":"e","input":"x","dimensions":0}"#,
            "dimensions",
        ),
    ];
    for (kind, body, param) in cases {
        let e = refused(kind, body);
        assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
    }
}

#[test]
fn invalid_json_stays_its_own_error() {
    let e = refused(BodyKind::OpenAiChat, "{not json");
    assert_eq!(e.error_type, ErrorType::InvalidJson);
}
