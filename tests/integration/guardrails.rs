//! Guardrails as a client and a provider see them: personal data redacted before it leaves
//! (every dialect, translated or passed through), secrets refused before any provider is
//! asked, and answers, streamed ones included, scanned before the client gets them, however
//! the provider splits a value over its chunks.

use crate::common::*;
use serde_json::{json, Value};

struct Setup {
    gw: Gateway,
    openai: Mock,
    anthropic: Mock,
    audit: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let openai = Mock::start("openai", &["--kind", "openai", "--chunks", "12"]);
    let anthropic = Mock::start("anthropic", &["--kind", "anthropic", "--chunks", "12"]);
    let dir = temp_dir();
    let audit = dir.path().join("audit.jsonl");
    let config = format!(
        "providers:
  openai-up: {{kind: openai, endpoints: [{{url: \"{}\"}}], api_keys: [k-openai], responses: native}}
  anthropic-up: {{kind: anthropic, endpoints: [{{url: \"{}\"}}], api_keys: [k-anthropic]}}
models:
  - {{name: via-openai, targets: [{{provider: openai-up, model: gpt-4o}}]}}
  - {{name: via-anthropic, targets: [{{provider: anthropic-up, model: claude-x}}]}}
guardrails:
  - {{name: pii, detect: [email, credit_card], action: redact}}
  - {{name: secrets, detect: [private_key, api_key], action: block, on: [request]}}
  - {{name: addresses, detect: [ip_address], action: log}}
  - {{name: leaks, detect: [{{name: canary, regex: \"CANARY-[0-9]{{6}}\"}}], action: block, on: [response]}}
keys:
  - {{name: r, key: \"{CLIENT_KEY}\"}}
audit: {{path: \"{}\"}}
",
        openai.url(),
        anthropic.url(),
        audit.display(),
    );
    Setup {
        gw: Gateway::start(&config),
        openai,
        anthropic,
        audit,
        _dir: dir,
    }
}

#[derive(Clone, Copy, Debug)]
enum Client {
    Chat,
    Messages,
    Responses,
}

const CLIENTS: [Client; 3] = [Client::Chat, Client::Messages, Client::Responses];

async fn send(
    gw: &Gateway,
    client: Client,
    model: &str,
    text: &str,
    stream: bool,
) -> reqwest::Response {
    let http = crate::common::client();
    match client {
        Client::Chat => {
            http.post(gw.url("/v1/chat/completions"))
                .bearer_auth(CLIENT_KEY)
                .json(&json!({"model": model, "stream": stream,
                    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]}))
        }
        Client::Messages => http
            .post(gw.url("/v1/messages"))
            .header("x-api-key", CLIENT_KEY)
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": model, "max_tokens": 200, "stream": stream,
                "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]})),
        Client::Responses => http
            .post(gw.url("/v1/responses"))
            .bearer_auth(CLIENT_KEY)
            .json(&json!({"model": model, "input": text, "stream": stream, "store": false})),
    }
    .send()
    .await
    .expect("request to the gateway")
}

fn mock_of<'a>(s: &'a Setup, model: &str) -> &'a Mock {
    if model == "via-openai" {
        &s.openai
    } else {
        &s.anthropic
    }
}

#[tokio::test]
async fn personal_data_reaches_providers_as_placeholders_in_every_dialect() {
    let s = setup();
    let text = "Mail jane.doe@example.com, card 4111 1111 1111 1111 (not 4111 1111 1111 1112), from 10.1.2.3; again jane.doe@example.com";
    for client in CLIENTS {
        for model in ["via-openai", "via-anthropic"] {
            let cell = format!("{client:?} -> {model}");
            let resp = send(&s.gw, client, model, text, false).await;
            assert_eq!(resp.status(), 200, "{cell}: {}", resp.text().await.unwrap());
            let sent = mock_of(&s, model).last_request().await["body"].to_string();
            assert!(!sent.contains("jane.doe"), "{cell}: {sent}");
            assert!(!sent.contains("4111 1111 1111 1111"), "{cell}: {sent}");
            assert!(
                sent.contains("Mail [EMAIL_1], card [CREDIT_CARD_1]"),
                "{cell}: {sent}"
            );
            assert!(
                sent.contains("again [EMAIL_1]"),
                "{cell}: the same value, the same number"
            );
            // A number that fails the Luhn check is no card; a logged address passes.
            assert!(sent.contains("4111 1111 1111 1112"), "{cell}: {sent}");
            assert!(sent.contains("10.1.2.3"), "{cell}: {sent}");
        }
    }
    // Counted and audited by rule, never with the text.
    let metrics = metrics_text(&s.gw).await;
    for series in [
        "sluice_guardrail_findings_total{action=\"redact\",detector=\"email\",rule=\"pii\",side=\"request\"} 12",
        "sluice_guardrail_findings_total{action=\"log\",detector=\"ip_address\",rule=\"addresses\",side=\"request\"} 6",
    ] {
        assert!(metrics.contains(series), "{series}\n{metrics}");
    }
    let records = eventually("six audit records", || async {
        let r = audit_records(&s.audit);
        (r.len() >= 6).then_some(r)
    })
    .await;
    let record = records.last().unwrap();
    let guardrails = record["guardrails"].as_str().unwrap();
    assert!(
        guardrails.contains("pii/email:redact:requestx2"),
        "{guardrails}"
    );
    assert!(!record.to_string().contains("jane.doe"), "{record}");
}

#[tokio::test]
async fn a_private_key_is_refused_naming_the_rule_and_no_provider_sees_it() {
    let s = setup();
    let text = "Deploy with -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----";
    for client in CLIENTS {
        for model in ["via-openai", "via-anthropic"] {
            let cell = format!("{client:?} -> {model}");
            let resp = send(&s.gw, client, model, text, true).await;
            assert_eq!(resp.status(), 400, "{cell}");
            let body: Value = resp.json().await.unwrap();
            let error = &body["error"];
            let message = error["message"].as_str().unwrap();
            assert!(
                message.contains("guardrail rule 'secrets'"),
                "{cell}: {body}"
            );
            assert!(!body.to_string().contains("MIIE"), "{cell}: {body}");
            match client {
                Client::Messages => assert_eq!(error["type"], "invalid_request_error", "{cell}"),
                _ => assert_eq!(error["code"], "policy_blocked", "{cell}"),
            }
        }
    }
    assert_eq!(s.openai.count().await, 0);
    assert_eq!(s.anthropic.count().await, 0);
}

/// The text a client saw, whole or streamed, in its dialect.
fn answer_text(client: Client, stream: bool, body: &str) -> String {
    if !stream {
        let v: Value = serde_json::from_str(body).unwrap();
        return match client {
            Client::Chat => v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_owned(),
            Client::Messages => v["content"][0]["text"].as_str().unwrap().to_owned(),
            Client::Responses => v["output"][0]["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned(),
        };
    }
    let mut text = String::new();
    for data in body.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        let piece = match client {
            Client::Chat => v["choices"][0]["delta"]["content"].as_str(),
            Client::Messages => v["delta"]["text"].as_str(),
            Client::Responses if v["type"] == "response.output_text.delta" => v["delta"].as_str(),
            Client::Responses => None,
        };
        text.push_str(piece.unwrap_or_default());
    }
    text
}

#[tokio::test]
async fn an_email_split_over_streamed_chunks_never_reaches_the_client() {
    let s = setup();
    let reply = "Sure. Write to support.team@example.org or call; support.team@example.org answers within a day.";
    for mock in [&s.openai, &s.anthropic] {
        mock.set_faults(json!({"reply": reply, "chunks": 40, "chunk_delay_ms": 0}))
            .await;
    }
    for client in CLIENTS {
        for model in ["via-openai", "via-anthropic"] {
            for stream in [false, true] {
                let cell = format!("{client:?} -> {model} stream={stream}");
                let resp = send(&s.gw, client, model, "Who do I write to?", stream).await;
                assert_eq!(resp.status(), 200, "{cell}");
                let body = resp.text().await.unwrap();
                assert!(!body.contains("support.team"), "{cell}: {body}");
                assert!(!body.contains("example.org"), "{cell}: {body}");
                let text = answer_text(client, stream, &body);
                assert_eq!(
                    text, "Sure. Write to [EMAIL_1] or call; [EMAIL_1] answers within a day.",
                    "{cell}"
                );
            }
        }
    }
}

#[tokio::test]
async fn an_answer_that_matches_a_blocking_rule_ends_with_an_error_naming_it() {
    let s = setup();
    for mock in [&s.openai, &s.anthropic] {
        mock.set_faults(json!({"reply": "The build token is CANARY-123456, keep it safe.", "chunks": 30, "chunk_delay_ms": 0}))
            .await;
    }
    for client in CLIENTS {
        for model in ["via-openai", "via-anthropic"] {
            for stream in [false, true] {
                let cell = format!("{client:?} -> {model} stream={stream}");
                let resp = send(&s.gw, client, model, "The token?", stream).await;
                let body = resp.text().await.unwrap();
                assert!(!body.contains("CANARY"), "{cell}: {body}");
                assert!(!body.contains("123456"), "{cell}: {body}");
                assert!(body.contains("guardrail rule 'leaks'"), "{cell}: {body}");
                if stream {
                    // Ended in-band, never as a clean end.
                    assert!(!body.contains("[DONE]"), "{cell}: {body}");
                    assert!(!body.contains("message_stop"), "{cell}: {body}");
                    assert!(!body.contains("response.completed"), "{cell}: {body}");
                }
            }
        }
    }
    let records = eventually("twelve audit records", || async {
        let r = audit_records(&s.audit);
        (r.len() >= 12).then_some(r)
    })
    .await;
    assert!(
        records.iter().all(|r| r["error_type"] == "policy_blocked"),
        "{records:?}"
    );
}

#[tokio::test]
async fn without_rules_nothing_is_scanned() {
    let mock = Mock::start("openai", &["--kind", "openai"]);
    let gw = Gateway::start(&basic_config(&mock));
    let resp = gw
        .post(
            "/v1/chat/completions",
            &json!({"model": "fast", "messages": [{"role": "user", "content": "I am jane.doe@example.com"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let sent = mock.last_request().await["body"].to_string();
    assert!(sent.contains("jane.doe@example.com"), "{sent}");
    let metrics = metrics_text(&gw).await;
    assert!(
        !metrics.contains("sluice_guardrail_findings_total{"),
        "{metrics}"
    );
}
