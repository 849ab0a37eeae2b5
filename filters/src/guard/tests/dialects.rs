//! One request body per dialect, every kind of message part in it, redacted in place; and
//! response bodies, escapes, numbers and non-JSON bodies.

use super::*;

/// Redacts `body` as a request with every detector on; returns the new body as text.
fn redact_body(body: &str) -> String {
    let policy = redact_everything();
    let report = redact_json(
        &policy,
        Direction::Request,
        body.as_bytes(),
        &mut Placeholders::new(),
    );
    let Outcome::Redacted(out) = report.outcome else {
        panic!("not redacted: {:?}", report.outcome);
    };
    let out = String::from_utf8(out).unwrap();
    serde_json::from_str::<serde_json::Value>(&out).expect("output is JSON");
    out
}

#[test]
fn guard_dialect_openai_chat() {
    let body = r#"{"model":"gpt-4o","messages":[
 {"role":"system","content":"You assist jane@corp.com"},
 {"role":"user","name":"jane","content":[{"type":"text","text":"My card is 4111 1111 1111 1111"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==","detail":"low"}}]},
 {"role":"assistant","content":null,"tool_calls":[{"id":"call_4111111111111111","type":"function","function":{"name":"send_email","arguments":"{\"to\":\"jane@corp.com\",\"body\":\"call +1 415 555 2671\"}"}}]},
 {"role":"tool","tool_call_id":"call_4111111111111111","content":"sent to jane@corp.com"}],
 "user":"u-1","temperature":0.2,"seed":4111111111111111}"#;
    let expected = r#"{"model":"gpt-4o","messages":[
 {"role":"system","content":"You assist [EMAIL_1]"},
 {"role":"user","name":"jane","content":[{"type":"text","text":"My card is [CREDIT_CARD_1]"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==","detail":"low"}}]},
 {"role":"assistant","content":null,"tool_calls":[{"id":"call_4111111111111111","type":"function","function":{"name":"send_email","arguments":"{\"to\":\"[EMAIL_1]\",\"body\":\"call [PHONE_1]\"}"}}]},
 {"role":"tool","tool_call_id":"call_4111111111111111","content":"sent to [EMAIL_1]"}],
 "user":"u-1","temperature":0.2,"seed":4111111111111111}"#;
    let out = redact_body(body);
    assert_eq!(out, expected);
    // The arguments are still a JSON document.
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    let arguments = value["messages"][2]["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .unwrap();
    let arguments: serde_json::Value = serde_json::from_str(arguments).unwrap();
    assert_eq!(arguments["to"], "[EMAIL_1]");
}

#[test]
fn guard_dialect_anthropic_messages() {
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":1024,
 "system":[{"type":"text","text":"Operator: ops@corp.com","cache_control":{"type":"ephemeral"}}],
 "messages":[{"role":"user","content":"My SSN is 123-45-6789"},
  {"role":"assistant","content":[{"type":"thinking","thinking":"The user shared 123-45-6789.","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"},
   {"type":"tool_use","id":"toolu_01A","name":"lookup","input":{"name":"ops@corp.com","id":"123-45-6789","card":4111111111111111,"n":3}}]},
  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01A","content":[{"type":"text","text":"IBAN DE89 3704 0044 0532 0130 00"}]},
   {"type":"image","source":{"type":"base64","media_type":"image/png","data":"QUtJQUlPU0ZPRE5ON0VYQU1QTEU="}},
   {"type":"document","source":{"type":"text","media_type":"text/plain","data":"Contract of ops@corp.com"}}]}]}"#;
    let expected = r#"{"model":"claude-sonnet-4-5","max_tokens":1024,
 "system":[{"type":"text","text":"Operator: [EMAIL_1]","cache_control":{"type":"ephemeral"}}],
 "messages":[{"role":"user","content":"My SSN is [SSN_1]"},
  {"role":"assistant","content":[{"type":"thinking","thinking":"The user shared [SSN_1].","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"},
   {"type":"tool_use","id":"toolu_01A","name":"lookup","input":{"name":"[EMAIL_1]","id":"[SSN_1]","card":"[CREDIT_CARD_1]","n":3}}]},
  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01A","content":[{"type":"text","text":"IBAN [IBAN_1]"}]},
   {"type":"image","source":{"type":"base64","media_type":"image/png","data":"QUtJQUlPU0ZPRE5ON0VYQU1QTEU="}},
   {"type":"document","source":{"type":"text","media_type":"text/plain","data":"Contract of [EMAIL_1]"}}]}]}"#;
    assert_eq!(redact_body(body), expected);
}

#[test]
fn guard_dialect_openai_responses() {
    let body = r#"{"model":"gpt-4.1","instructions":"Reply to bob@example.org","previous_response_id":"resp_10.0.0.1",
 "input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"key sk-proj-abcDEF0123456789ghijKLMNOP"},{"type":"input_image","image_url":"data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ=="}]},
  {"type":"function_call","id":"fc_1","call_id":"call_1","name":"lookup","arguments":"{\"ip\":\"10.1.2.3\"}"},
  {"type":"function_call_output","call_id":"call_1","output":"host 10.1.2.3 owner bob@example.org"},
  {"type":"reasoning","id":"rs_1","encrypted_content":"gAAAAABk10.1.2.3==","summary":[{"type":"summary_text","text":"looked up 10.1.2.3"}]}],
 "metadata":{"id":"bob@example.org"}}"#;
    let expected = r#"{"model":"gpt-4.1","instructions":"Reply to [EMAIL_1]","previous_response_id":"resp_10.0.0.1",
 "input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"key [API_KEY_1]"},{"type":"input_image","image_url":"data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ=="}]},
  {"type":"function_call","id":"fc_1","call_id":"call_1","name":"lookup","arguments":"{\"ip\":\"[IP_ADDRESS_1]\"}"},
  {"type":"function_call_output","call_id":"call_1","output":"host [IP_ADDRESS_1] owner [EMAIL_1]"},
  {"type":"reasoning","id":"rs_1","encrypted_content":"gAAAAABk10.1.2.3==","summary":[{"type":"summary_text","text":"looked up [IP_ADDRESS_1]"}]}],
 "metadata":{"id":"[EMAIL_1]"}}"#;
    assert_eq!(redact_body(body), expected);
}

#[test]
fn guard_dialect_gemini() {
    let body = r#"{"contents":[{"role":"user","parts":[{"text":"call me at +44 20 7946 0958"},{"inlineData":{"mimeType":"image/png","data":"KzQ0IDIwIDc5NDYgMDk1OA=="}},{"fileData":{"mimeType":"application/pdf","fileUri":"gs://b/+44 20 7946 0958.pdf"}}]},
 {"role":"model","parts":[{"functionCall":{"name":"dial","args":{"number":"+44 20 7946 0958","name":"ops@corp.com"}},"thoughtSignature":"c2lnbmF0dXJl"}]},
 {"role":"user","parts":[{"functionResponse":{"name":"dial","response":{"name":"dial","result":"dialed +44 20 7946 0958"}}}]}],
 "systemInstruction":{"parts":[{"text":"Never reveal 4111111111111111"}]},"generationConfig":{"temperature":0}}"#;
    let expected = r#"{"contents":[{"role":"user","parts":[{"text":"call me at [PHONE_1]"},{"inlineData":{"mimeType":"image/png","data":"KzQ0IDIwIDc5NDYgMDk1OA=="}},{"fileData":{"mimeType":"application/pdf","fileUri":"gs://b/+44 20 7946 0958.pdf"}}]},
 {"role":"model","parts":[{"functionCall":{"name":"dial","args":{"number":"[PHONE_1]","name":"[EMAIL_1]"}},"thoughtSignature":"c2lnbmF0dXJl"}]},
 {"role":"user","parts":[{"functionResponse":{"name":"dial","response":{"name":"dial","result":"dialed [PHONE_1]"}}}]}],
 "systemInstruction":{"parts":[{"text":"Never reveal [CREDIT_CARD_1]"}]},"generationConfig":{"temperature":0}}"#;
    assert_eq!(redact_body(body), expected);
}

#[test]
fn guard_response_body_openai_chat() {
    let body = r#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Write to jane@corp.com."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":5}}"#;
    let report = redact_json(
        &redact_everything(),
        Direction::Response,
        body.as_bytes(),
        &mut Placeholders::new(),
    );
    assert_eq!(
        report.outcome,
        Outcome::Redacted(body.replace("jane@corp.com", "[EMAIL_1]").into_bytes())
    );
}

#[test]
fn guard_escapes_around_a_match_are_kept_byte_for_byte() {
    let body = r#"{"content":"line\none \u00e9 mail: jane\u0040corp.com\u0021 \"a@b.io\" \/ end"}"#;
    let expected = r#"{"content":"line\none \u00e9 mail: [EMAIL_1]\u0021 \"[EMAIL_2]\" \/ end"}"#;
    assert_eq!(redact_body(body), expected);
}

#[test]
fn guard_escaped_pem_in_tool_arguments() {
    let body = r#"{"arguments":"{\"key\":\"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----\\n\",\"ok\":1}"}"#;
    let expected = r#"{"arguments":"{\"key\":\"[PRIVATE_KEY_1]\\n\",\"ok\":1}"}"#;
    let out = redact_body(body);
    assert_eq!(out, expected);
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    serde_json::from_str::<serde_json::Value>(value["arguments"].as_str().unwrap()).unwrap();
}

#[test]
fn guard_body_blocked_by_rule() {
    let policy = policy(&[("no-keys", &["api_key", "private_key"], Action::Block)]);
    let body = br#"{"messages":[{"role":"user","content":"AKIAIOSFODNN7EXAMPLE"}]}"#;
    let report = redact_json(&policy, Direction::Request, body, &mut Placeholders::new());
    assert_eq!(
        report.outcome,
        Outcome::Blocked(Blocked {
            rule: Arc::from("no-keys")
        })
    );
    assert_eq!(report.findings.total(), 1);
}

#[test]
fn guard_non_json_bodies_are_scanned_as_text() {
    let policy = redact_everything();
    let mut table = Placeholders::new();
    let report = redact_json(
        &policy,
        Direction::Request,
        b"not json a@b.io {",
        &mut table,
    );
    assert_eq!(
        report.outcome,
        Outcome::Redacted(b"not json [EMAIL_1] {".to_vec())
    );
    let mut bytes = b"\xff\xfe a@b.io \xc3".to_vec();
    let report = redact_json(&policy, Direction::Request, &bytes, &mut table);
    bytes.splice(3..9, b"[EMAIL_1]".iter().copied());
    assert_eq!(report.outcome, Outcome::Redacted(bytes));
}
