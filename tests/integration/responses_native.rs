//! The Responses API passed to providers that speak it (`responses: native`, the default for
//! OpenAI's own endpoint and Azure's v1 API): the request goes to their `/v1/responses` with
//! only the model renamed and `store: false`, the answer comes back byte for byte with its
//! usage metered, built-in tools work there, and a conversation still moves between native
//! and translated providers because sluice keeps it. The mock refuses what OpenAI refuses
//! without a store (`previous_response_id`, items by id, reasoning without its encrypted
//! content), so these requests passing proves what sluice sends.

use crate::common::*;
use crate::responses::{mock_usage, read_response};
use serde_json::{json, Value};

struct Setup {
    gw: Gateway,
    openai: Mock,
    azure: Mock,
    anthropic: Mock,
    audit: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn setup(extra: &str) -> Setup {
    let openai = Mock::start("openai", &["--kind", "openai", "--chunks", "4"]);
    let azure = Mock::start("azure", &["--kind", "azure", "--chunks", "4"]);
    let anthropic = Mock::start("anthropic", &["--kind", "anthropic", "--chunks", "4"]);
    let dir = temp_dir();
    let audit = dir.path().join("audit.jsonl");
    let config = format!(
        "providers:
  openai-up: {{kind: openai, endpoints: [{{url: \"{}\"}}], api_keys: [k-openai], responses: native}}
  azure-up: {{kind: azure, endpoints: [{{url: \"{}\"}}], api_keys: [k-azure], api_version: v1}}
  anthropic-up: {{kind: anthropic, endpoints: [{{url: \"{}\"}}], api_keys: [k-anthropic]}}
models:
  - {{name: via-openai, targets: [{{provider: openai-up, model: gpt-5-mock}}]}}
  - {{name: via-azure, targets: [{{provider: azure-up, model: gpt5-deployment}}]}}
  - {{name: via-anthropic, targets: [{{provider: anthropic-up, model: m-anthropic}}]}}
  - {{name: native-first, targets: [{{provider: openai-up, model: gpt-5-mock}}], fallbacks: [via-anthropic]}}
keys:
  - {{name: r, key: \"{CLIENT_KEY}\"}}
state: {{path: \"{}\"}}
audit: {{path: \"{}\"}}
{extra}",
        openai.url(),
        azure.url(),
        anthropic.url(),
        dir.path().display(),
        audit.display(),
    );
    Setup {
        gw: Gateway::start(&config),
        openai,
        azure,
        anthropic,
        audit,
        _dir: dir,
    }
}

#[tokio::test]
async fn responses_pass_through_to_openai_and_azure_whole_and_streamed_with_usage() {
    let s = setup("");
    for (model, mock, path, upstream) in [
        ("via-openai", &s.openai, "/v1/responses", "gpt-5-mock"),
        (
            "via-azure",
            &s.azure,
            "/openai/v1/responses",
            "gpt5-deployment",
        ),
    ] {
        for stream in [false, true] {
            let cell = format!("{model} stream={stream}");
            let body = json!({"model": model, "input": "Say hello", "stream": stream,
                "reasoning": {"effort": "low", "summary": "auto"}, "store": true});
            let resp = s.gw.post("/v1/responses", &body).await;
            assert_eq!(resp.status(), 200, "{cell}");
            let (prompt, output) = mock_usage(&resp);
            let text = resp.text().await.unwrap();
            let response = read_response(&cell, &text, stream);
            // The provider's own answer: its ids, its reasoning item, its usage.
            assert_eq!(response["model"], upstream, "{cell}");
            assert_eq!(response["output"][0]["type"], "reasoning", "{cell}");
            assert!(
                response["output"][0]["summary"][0]["text"].is_string(),
                "{cell}"
            );
            assert_eq!(response["usage"]["input_tokens"], prompt, "{cell}");
            assert_eq!(response["usage"]["output_tokens"], output, "{cell}");
            assert_eq!(
                response["usage"]["output_tokens_details"]["reasoning_tokens"], 8,
                "{cell}"
            );
            let sent = mock.last_request().await;
            assert_eq!(sent["path"], path, "{cell}");
            assert_eq!(sent["body"]["model"], upstream, "{cell}");
            assert_eq!(
                sent["body"]["store"], false,
                "{cell}: sluice keeps the state"
            );
            assert_eq!(sent["body"]["reasoning"]["effort"], "low", "{cell}");
            // Metered from the provider's report, streams included.
            let audit = wait_for_audit(&s.audit, model, stream).await;
            assert_eq!(audit["tokens_in"], prompt, "{cell}");
            assert_eq!(audit["tokens_out"], output, "{cell}");
            assert_eq!(audit["usage_estimated"], false, "{cell}");
        }
    }
}

async fn wait_for_audit(path: &std::path::Path, model: &str, stream: bool) -> Value {
    eventually("the request's audit record", || async {
        audit_records(path)
            .into_iter()
            .rev()
            .find(|r| r["model"] == model && r["stream"] == stream)
    })
    .await
}

#[tokio::test]
async fn built_in_tools_run_on_native_providers_and_are_refused_elsewhere() {
    let s = setup("");
    let body = |model: &str| json!({"model": model, "input": "Please search for sluice gates", "tools": [{"type": "web_search"}]});
    let answer: Value =
        s.gw.post("/v1/responses", &body("via-openai"))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(answer["output"][0]["type"], "web_search_call", "{answer}");
    assert!(answer["output"][1]["content"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("Searched the web"));
    let resp = s.gw.post("/v1/responses", &body("via-anthropic")).await;
    let error = expect_openai_error(resp, 400, "unsupported_by_provider").await;
    assert!(error["error"]["param"].is_string(), "{error}");
    assert_eq!(s.anthropic.count().await, 0);
}

#[tokio::test]
async fn a_conversation_moves_between_native_and_translated_providers() {
    let s = setup("");
    let create = |body: Value| {
        let gw = &s.gw;
        async move {
            let resp = gw.post("/v1/responses", &body).await;
            let status = resp.status();
            let text = resp.text().await.unwrap();
            assert_eq!(status, 200, "{text}");
            read_response("turn", &text, body["stream"] == true)
        }
    };
    // Turn 1 natively, with reasoning (no encrypted content asked for) and a tool call.
    let tools = json!([{"type": "function", "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let first = create(
        json!({"model": "via-openai", "input": "What is the weather in Oslo?",
        "tools": tools, "reasoning": {"effort": "low"}}),
    )
    .await;
    let call = first["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "function_call")
        .cloned()
        .unwrap();
    // Turn 2 on Anthropic, with only the call's output: Anthropic sees the whole exchange.
    let second = create(json!({"model": "via-anthropic", "tools": tools, "previous_response_id": first["id"],
        "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "4°C and clear"}]}))
    .await;
    let anthropic = s.anthropic.last_request().await["body"].to_string();
    assert!(
        anthropic.contains("Oslo") && anthropic.contains("4°C and clear"),
        "{anthropic}"
    );
    // Turn 3 natively again: every item whole (the mock refuses ids and reasoning it cannot
    // resolve without a store), the earlier turns in `input`, nothing stored upstream.
    let third = create(json!({"model": "via-openai", "input": "And tomorrow?",
        "previous_response_id": second["id"], "stream": true}))
    .await;
    assert_eq!(third["status"], "completed");
    let sent = s.openai.last_request().await["body"].clone();
    let text = sent.to_string();
    for word in ["Oslo", "4°C and clear", "And tomorrow?", "Tool results"] {
        assert!(text.contains(word), "{word}: {text}");
    }
    assert!(sent.get("previous_response_id").is_none(), "{text}");
    assert_eq!(sent["store"], false);
    let items = sent["input"].as_array().unwrap();
    assert!(items.iter().all(|i| i.get("id").is_none()), "{text}");
    assert!(items.iter().all(|i| i["type"] != "reasoning"), "{text}");
}

#[tokio::test]
async fn a_failing_native_provider_falls_back_to_a_translated_one() {
    let s = setup("");
    s.openai.set_faults(json!({"status": 503})).await;
    for stream in [false, true] {
        let resp =
            s.gw.post(
                "/v1/responses",
                &json!({"model": "native-first", "input": "Say hello", "stream": stream}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-sluice-provider"], "anthropic-up");
        let text = resp.text().await.unwrap();
        let response = read_response("fallback", &text, stream);
        assert!(response["output"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Say hello"));
    }
    assert_eq!(s.openai.last_request().await["path"], "/v1/responses");
}

#[tokio::test]
async fn a_native_stream_cut_by_the_provider_ends_with_response_failed() {
    let s = setup("");
    s.openai.set_faults(json!({"cut_after": 2})).await;
    let text =
        s.gw.post(
            "/v1/responses",
            &json!({"model": "via-openai", "input": "Say hello", "stream": true}),
        )
        .await
        .text()
        .await
        .unwrap();
    let events: Vec<Value> = text
        .split("\n\n")
        .filter_map(|f| f.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.failed", "{text}");
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(
        last["sequence_number"].as_u64().unwrap(),
        events[events.len() - 2]["sequence_number"]
            .as_u64()
            .unwrap()
            + 1
    );
    assert_eq!(last["response"]["id"], events[0]["response"]["id"]);
}
