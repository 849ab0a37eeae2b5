//! The exact cache's answers: captured from what a client received (whole or streamed, in
//! each client dialect), stored, and replayed whole or as a stream that the dialect's own
//! decoder reads back to the same answer. Payloads are the golden ones.

/// Named so that `cargo test -p sluice-filters cache` runs every test here.
mod cache {
    use sluice_filters::cache::{CachedAnswer, CachedBlock, CachedStop, CachedUsage, ReplaySpec};
    use sluice_filters::translate::ClientDialect;
    use std::path::PathBuf;

    const ALL: [ClientDialect; 3] = [
        ClientDialect::OpenAi,
        ClientDialect::Anthropic,
        ClientDialect::Responses,
    ];

    fn golden(path: &str) -> Vec<u8> {
        let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(path);
        std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
    }

    fn spec(request: &[u8]) -> ReplaySpec<'_> {
        ReplaySpec {
            id: "req_hit42",
            model: "configured-model",
            created: 1_770_000_000,
            client_wants_usage: true,
            request,
        }
    }

    /// Whole client bodies of each dialect (translated outputs and native provider bodies).
    fn whole_answers() -> Vec<(ClientDialect, &'static str)> {
        vec![
            (
                ClientDialect::OpenAi,
                "responses/expected/anthropic_tool_use.openai.json",
            ),
            (ClientDialect::OpenAi, "responses/openai_tool_calls.json"),
            (
                ClientDialect::OpenAi,
                "responses/expected/responses_parallel_calls.openai.json",
            ),
            (
                ClientDialect::Anthropic,
                "responses/expected/openai_tool_calls.anthropic.json",
            ),
            (
                ClientDialect::Anthropic,
                "responses/anthropic_tool_use.json",
            ),
            (
                ClientDialect::Anthropic,
                "responses/expected/responses_reasoning_encrypted.anthropic.json",
            ),
            (
                ClientDialect::Anthropic,
                "responses/expected/responses_incomplete_max_tokens.anthropic.json",
            ),
            (
                ClientDialect::Responses,
                "responses/expected/anthropic_tool_use.responses.json",
            ),
            (
                ClientDialect::Responses,
                "responses/expected/openai_tool_calls.responses.json",
            ),
            (
                ClientDialect::Responses,
                "responses/responses_reasoning_encrypted.json",
            ),
            (
                ClientDialect::Responses,
                "responses/responses_parallel_calls.json",
            ),
            (ClientDialect::Responses, "responses/responses_text.json"),
        ]
    }

    /// Complete client streams of each dialect.
    fn stream_answers() -> Vec<(ClientDialect, &'static str)> {
        vec![
            (ClientDialect::OpenAi, "streams/openai_parallel_tools.sse"),
            (
                ClientDialect::OpenAi,
                "streams/expected/anthropic_text_and_tools.openai.sse",
            ),
            (
                ClientDialect::OpenAi,
                "streams/expected/responses_parallel_calls.openai.sse",
            ),
            (
                ClientDialect::Anthropic,
                "streams/anthropic_text_and_tools.sse",
            ),
            (
                ClientDialect::Anthropic,
                "streams/expected/openai_parallel_tools.anthropic.sse",
            ),
            (
                ClientDialect::Anthropic,
                "streams/expected/responses_incomplete_max_tokens.anthropic.sse",
            ),
            (
                ClientDialect::Responses,
                "streams/expected/anthropic_text_and_tools.responses.sse",
            ),
            (
                ClientDialect::Responses,
                "streams/expected/openai_parallel_tools.responses.sse",
            ),
            (
                ClientDialect::Responses,
                "streams/responses_parallel_calls.sse",
            ),
            (
                ClientDialect::Responses,
                "streams/responses_reasoning_encrypted.sse",
            ),
            (ClientDialect::Responses, "streams/responses_text.sse"),
        ]
    }

    fn whole(client: ClientDialect, path: &str) -> CachedAnswer {
        CachedAnswer::from_whole(client, &golden(path))
            .unwrap_or_else(|| panic!("{path}: a complete answer"))
    }

    fn streamed(client: ClientDialect, path: &str) -> CachedAnswer {
        CachedAnswer::from_stream(client, &golden(path))
            .unwrap_or_else(|| panic!("{path}: a complete stream"))
    }

    /// What a dialect can carry of an answer: OpenAI chat has no thinking signatures, and joins
    /// the text of a message into one string.
    fn as_dialect_carries(client: ClientDialect, answer: &CachedAnswer) -> CachedAnswer {
        let mut answer = answer.clone();
        if client == ClientDialect::OpenAi {
            answer
                .blocks
                .retain(|b| !matches!(b, CachedBlock::RedactedThinking { .. }));
            for block in &mut answer.blocks {
                if let CachedBlock::Thinking { signature, .. } = block {
                    *signature = None;
                }
            }
        }
        answer
    }

    #[test]
    fn whole_answers_read_as_expected() {
        let a = whole(
            ClientDialect::OpenAi,
            "responses/expected/anthropic_tool_use.openai.json",
        );
        assert_eq!(a.model, "claude-sonnet-4-5-20250929");
        assert_eq!(a.stop_reason, CachedStop::ToolUse);
        assert_eq!(
            a.usage,
            CachedUsage {
                input: 12,
                cache_read: 2048,
                cache_write: 0,
                output: 41,
                reasoning: 0
            }
        );
        assert!(matches!(&a.blocks[..], [
        CachedBlock::Thinking { text: t, .. },
        CachedBlock::Text { text },
        CachedBlock::ToolUse { id, name, input, .. },
    ] if t == "The user wants Oslo weather." && text == "Checking."
        && id == "toolu_01A09q90qw90lq917835lq9" && name == "get_weather"
        && input == r#"{"city":"Oslo","unit":"c"}"#));

        let a = whole(
            ClientDialect::Anthropic,
            "responses/expected/openai_tool_calls.anthropic.json",
        );
        assert_eq!(a.stop_reason, CachedStop::ToolUse);
        assert!(matches!(&a.blocks[..], [
        CachedBlock::Text { .. },
        CachedBlock::ToolUse { name: n1, .. },
        CachedBlock::ToolUse { name: n2, input, .. },
    ] if n1 == "get_weather" && n2 == "get_time" && input == "{}"));

        let a = whole(
            ClientDialect::Responses,
            "responses/expected/anthropic_tool_use.responses.json",
        );
        assert!(
            matches!(&a.blocks[0], CachedBlock::Thinking { signature: Some(s), .. }
        if s == "EqQBCgIYAhIM1gbcDa9GJwZA2b3h")
        );
    }

    #[test]
    fn a_whole_answer_replays_whole_to_the_same_content_in_every_dialect() {
        for (client, path) in whole_answers() {
            let answer = whole(client, path);
            let request = b"{\"model\":\"m\",\"temperature\":0}";
            let body = answer.replay_whole(client, &spec(request));
            assert!(
                serde_json::from_slice::<serde_json::Value>(&body).is_ok(),
                "{path}"
            );
            let again = CachedAnswer::from_whole(client, &body);
            assert_eq!(
                again.as_ref(),
                Some(&answer),
                "{path}: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn a_whole_answer_replays_as_a_stream_its_dialect_decodes_to_the_same_content() {
        for (client, path) in whole_answers() {
            let answer = whole(client, path);
            let sse = answer.replay_stream(client, &spec(b"{}"));
            let again = CachedAnswer::from_stream(client, &sse);
            let expected = without_redacted_thinking(&answer);
            assert_eq!(
                again.as_ref(),
                Some(&expected),
                "{path}: {}",
                String::from_utf8_lossy(&sse)
            );
        }
    }

    /// Streams carry no redacted thinking (no canonical stream event has it).
    fn without_redacted_thinking(answer: &CachedAnswer) -> CachedAnswer {
        let mut answer = answer.clone();
        answer
            .blocks
            .retain(|b| !matches!(b, CachedBlock::RedactedThinking { .. }));
        answer
    }

    #[test]
    fn a_streamed_answer_replays_whole_and_streamed_in_its_own_and_other_dialects() {
        for (client, path) in stream_answers() {
            let answer = streamed(client, path);
            for to in ALL {
                let expected = as_dialect_carries(to, &answer);
                let body = answer.replay_whole(to, &spec(b"{}"));
                let whole_again =
                    CachedAnswer::from_whole(to, &body).map(|a| as_dialect_carries(to, &a));
                let sse = answer.replay_stream(to, &spec(b"{}"));
                let stream_again =
                    CachedAnswer::from_stream(to, &sse).map(|a| as_dialect_carries(to, &a));
                if to == client {
                    assert_eq!(
                        whole_again.as_ref(),
                        Some(&expected),
                        "{path} -> {to:?} whole"
                    );
                    assert_eq!(
                        stream_again.as_ref(),
                        Some(&expected),
                        "{path} -> {to:?} stream"
                    );
                } else {
                    // Across dialects the content survives; usage conventions may round.
                    for again in [whole_again, stream_again] {
                        let again = again.unwrap_or_else(|| panic!("{path} -> {to:?}"));
                        assert_eq!(again.stop_reason, expected.stop_reason, "{path} -> {to:?}");
                        assert_eq!(
                            text_and_tools(&again),
                            text_and_tools(&expected),
                            "{path} -> {to:?}"
                        );
                    }
                }
            }
        }
    }

    fn text_and_tools(answer: &CachedAnswer) -> Vec<String> {
        answer
            .blocks
            .iter()
            .filter_map(|b| match b {
                CachedBlock::Text { text } => Some(format!("text:{text}")),
                CachedBlock::ToolUse {
                    id, name, input, ..
                } => Some(format!("tool:{id}:{name}:{input}")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_replayed_responses_stream_numbers_its_events_from_zero_and_names_them_by_type() {
        for (client, path) in whole_answers().into_iter().chain(stream_answers()) {
            let answer = match path.ends_with(".sse") {
                true => streamed(client, path),
                false => whole(client, path),
            };
            let sse = answer.replay_stream(ClientDialect::Responses, &spec(b"{\"temperature\":0}"));
            let text = String::from_utf8(sse).unwrap_or_default();
            let frames = text.split("\n\n").filter(|f| !f.is_empty());
            for (n, frame) in frames.enumerate() {
                let (event, data) = frame
                    .split_once('\n')
                    .unwrap_or_else(|| panic!("{path}: frame {frame}"));
                let name = event
                    .strip_prefix("event: ")
                    .unwrap_or_else(|| panic!("{frame}"));
                let data: serde_json::Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap_or("")).unwrap();
                assert_eq!(data["type"], name, "{path}");
                assert_eq!(data["sequence_number"], n, "{path}");
            }
            assert!(text.ends_with("\n\n"));
            assert!(
                text.contains("event: response.completed")
                    || text.contains("event: response.incomplete"),
                "{path}"
            );
            assert!(
                text.contains("\"id\":\"resp_reqhit42\""),
                "{path}: the hit's own id"
            );
        }
    }

    #[test]
    fn replays_carry_the_hits_id_and_the_original_usage() {
        let answer = whole(
            ClientDialect::OpenAi,
            "responses/expected/anthropic_tool_use.openai.json",
        );
        let body = answer.replay_whole(ClientDialect::OpenAi, &spec(b"{}"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], "req_hit42");
        assert_eq!(v["created"], 1_770_000_000);
        assert_eq!(v["model"], "claude-sonnet-4-5-20250929");
        assert_eq!(v["usage"]["prompt_tokens"], 2060);
        assert_eq!(v["usage"]["completion_tokens"], 41);

        let body = answer.replay_whole(ClientDialect::Anthropic, &spec(b"{}"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], "req_hit42");

        // Without `stream_options.include_usage`, no usage chunk.
        let sse = answer.replay_stream(
            ClientDialect::OpenAi,
            &ReplaySpec {
                client_wants_usage: false,
                ..spec(b"{}")
            },
        );
        let text = String::from_utf8(sse).unwrap_or_default();
        assert!(!text.contains("prompt_tokens"), "{text}");
        assert!(text.contains("\"id\":\"req_hit42\""));
        assert!(text.ends_with("data: [DONE]\n\n"));
    }

    #[test]
    fn an_answer_without_a_model_shows_the_configured_one() {
        let mut answer = whole(
            ClientDialect::Anthropic,
            "responses/anthropic_tool_use.json",
        );
        answer.model.clear();
        for client in ALL {
            let body = answer.replay_whole(client, &spec(b"{}"));
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["model"], "configured-model", "{client:?}");
        }
    }

    #[test]
    fn redacted_thinking_is_replayed_whole() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
        "content":[{"type":"redacted_thinking","data":"EmwKAhgB"},{"type":"text","text":"Hi."}],
        "stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":2}}"#;
        let answer = CachedAnswer::from_whole(ClientDialect::Anthropic, body).unwrap();
        let out = answer.replay_whole(ClientDialect::Anthropic, &spec(b"{}"));
        assert_eq!(
            CachedAnswer::from_whole(ClientDialect::Anthropic, &out).as_ref(),
            Some(&answer)
        );
        let sse = answer.replay_stream(ClientDialect::Anthropic, &spec(b"{}"));
        let again = CachedAnswer::from_stream(ClientDialect::Anthropic, &sse).unwrap();
        assert_eq!(again.blocks, vec![CachedBlock::Text { text: "Hi.".into() }]);
    }

    #[test]
    fn error_bodies_and_empty_answers_are_not_cached() {
        let cases: &[(ClientDialect, &[u8])] = &[
        (ClientDialect::OpenAi, br#"{"error":{"message":"Overloaded","type":"api_error","param":null,"code":"overloaded"}}"#),
        (ClientDialect::Anthropic, br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
        (ClientDialect::Responses, br#"{"id":"resp_1","object":"response","status":"failed","error":{"code":"server_error","message":"x"},"output":[]}"#),
        (ClientDialect::Responses, br#"{"id":"resp_1","object":"response","status":"in_progress","output":[]}"#),
        (
            ClientDialect::Anthropic,
            br#"{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"Hi"}],"stop_reason":null,"usage":{"input_tokens":1,"output_tokens":1}}"#,
        ),
        (ClientDialect::OpenAi, b"not json"),
        (ClientDialect::Anthropic, b"[]"),
    ];
        for (client, body) in cases {
            assert!(
                CachedAnswer::from_whole(*client, body).is_none(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        for (client, path) in [
            (ClientDialect::Responses, "responses/responses_failed.json"),
            (
                ClientDialect::OpenAi,
                "responses/expected/gemini_prompt_blocked.openai.json",
            ),
        ] {
            assert!(
                CachedAnswer::from_whole(client, &golden(path)).is_none(),
                "{path}"
            );
        }
    }

    #[test]
    fn failed_and_cut_streams_are_not_cached() {
        for (client, path) in [
            (ClientDialect::OpenAi, "streams/openai_cut.sse"),
            (
                ClientDialect::OpenAi,
                "streams/expected/openai_cut.openai.sse",
            ),
            (
                ClientDialect::OpenAi,
                "streams/expected/anthropic_overloaded_mid_stream.openai.sse",
            ),
            (
                ClientDialect::Anthropic,
                "streams/anthropic_overloaded_mid_stream.sse",
            ),
            (
                ClientDialect::Anthropic,
                "streams/expected/openai_cut.anthropic.sse",
            ),
            (ClientDialect::Responses, "streams/responses_cut.sse"),
            (ClientDialect::Responses, "streams/responses_failed.sse"),
            (
                ClientDialect::Responses,
                "streams/responses_rate_limited.sse",
            ),
            (
                ClientDialect::Responses,
                "streams/expected/openai_cut.responses.sse",
            ),
            (
                ClientDialect::Responses,
                "streams/expected/anthropic_overloaded_mid_stream.responses.sse",
            ),
        ] {
            assert!(
                CachedAnswer::from_stream(client, &golden(path)).is_none(),
                "{path}"
            );
        }
    }

    #[test]
    fn a_stream_cut_before_its_end_event_is_never_cached() {
        for (client, path) in stream_answers() {
            let sse = golden(path);
            let frames: Vec<usize> = sse
                .windows(2)
                .enumerate()
                .filter(|(_, w)| w == b"\n\n")
                .map(|(i, _)| i + 2)
                .collect();
            // Every cut at an event boundary before the last event, and mid-way through it.
            let last = frames.len().saturating_sub(1);
            let mut cuts: Vec<usize> = frames[..last].to_vec();
            if let Some(&end) = frames.last() {
                cuts.push(end - 3);
            }
            for cut in cuts {
                assert!(
                    CachedAnswer::from_stream(client, &sse[..cut]).is_none(),
                    "{path} cut at {cut}: {}",
                    String::from_utf8_lossy(&sse[cut.saturating_sub(200)..cut])
                );
            }
        }
    }

    #[test]
    fn stored_bytes_read_back_and_other_versions_are_misses() {
        for (client, path) in whole_answers() {
            let answer = whole(client, path);
            let bytes = answer.to_bytes();
            assert_eq!(
                CachedAnswer::from_bytes(&bytes).as_ref(),
                Some(&answer),
                "{path}"
            );
            let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            v["version"] = serde_json::json!(2);
            assert!(CachedAnswer::from_bytes(v.to_string().as_bytes()).is_none());
        }
        assert!(CachedAnswer::from_bytes(b"").is_none());
        assert!(CachedAnswer::from_bytes(b"{\"version\":1}").is_none());
        assert!(CachedAnswer::from_bytes(
        br#"{"version":1,"answer":{"model":"m","blocks":[{"type":"tool_use","id":"c","name":"f","input":"[1]"}],"stop_reason":"tool_use","usage":{"input":1,"cache_read":0,"cache_write":0,"output":1,"reasoning":0}}}"#
    ).is_none(), "a tool input that is not an object");
    }
}
