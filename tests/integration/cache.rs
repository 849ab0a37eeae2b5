//! The exact cache as clients see it: a repeat is answered without the provider, whole or
//! streamed whatever the first answer was, in the client's dialect; what can change an answer
//! changes the key (an unknown parameter too), what cannot does not (key order, `stream`);
//! teams never share entries; errors and sampled requests are not cached; `no-cache` and
//! `no-store` are honoured; a hit is billed nothing but counts as a request. In memory and in
//! Redis.

use crate::common::*;
use serde_json::{json, Value};

const TEAM_KEY: &str = "sk-sluice-test-team-b-0000000000000000";
const SMALL_KEY: &str = "sk-sluice-test-small-tpm-000000000000";

fn config(openai: &Mock, anthropic: &Mock, state: &str, dir: &std::path::Path) -> String {
    format!(
        "providers:
  openai-up: {{kind: openai, endpoints: [{{url: \"{}\"}}], api_keys: [k-openai]}}
  anthropic-up: {{kind: anthropic, endpoints: [{{url: \"{}\"}}], api_keys: [k-anthropic]}}
models:
  - {{name: via-openai, targets: [{{provider: openai-up, model: gpt-4o}}]}}
  - {{name: via-anthropic, targets: [{{provider: anthropic-up, model: claude-x}}]}}
  - {{name: sampled, targets: [{{provider: openai-up, model: gpt-4o}}], cache: {{sampled: true}}}}
teams:
  - {{name: a}}
  - {{name: b}}
keys:
  - {{name: one, key: \"{CLIENT_KEY}\", team: a, limits: {{rpm: 1000}}}}
  - {{name: two, key: \"{OTHER_KEY}\", team: a}}
  - {{name: three, key: \"{TEAM_KEY}\", team: b}}
cache:
  exact: {{ttl: 10m}}
state: {state}
audit: {{path: \"{}\"}}
",
        openai.url(),
        anthropic.url(),
        dir.join("audit.jsonl").display(),
    )
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Client {
    Chat,
    Messages,
}

fn body(client: Client, model: &str, text: &str, stream: bool) -> Value {
    match client {
        Client::Chat => json!({"model": model, "temperature": 0, "stream": stream,
            "messages": [{"role": "user", "content": text}]}),
        Client::Messages => {
            json!({"model": model, "temperature": 0, "max_tokens": 100, "stream": stream,
            "messages": [{"role": "user", "content": text}]})
        }
    }
}

/// Sends a request and reads its answer. A miss (or a bypass) is stored in the gateway's
/// logging phase, just after the client has its last byte: this returns once the gateway is
/// done with the request (it is counted), so that a repeat sent next finds the entry.
async fn send(
    gw: &Gateway,
    client: Client,
    key: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    let done_before = metric(gw, "sluice_requests_total").await;
    let resp = open(gw, client, key, body, headers).await;
    let status = resp.status().as_u16();
    let cache = cache_header(&resp);
    let answer = resp.text().await.unwrap();
    if matches!(cache.as_deref(), Some("miss" | "bypass")) {
        eventually("the gateway is done with the request", || async {
            (metric(gw, "sluice_requests_total").await > done_before).then_some(())
        })
        .await;
    }
    (status, cache, answer)
}

/// Sends a request and returns the response as soon as its head arrived.
async fn open(
    gw: &Gateway,
    client: Client,
    key: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let http = crate::common::client();
    let mut req = match client {
        Client::Chat => http.post(gw.url("/v1/chat/completions")).bearer_auth(key),
        Client::Messages => http
            .post(gw.url("/v1/messages"))
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01"),
    };
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.json(body).send().await.expect("request to the gateway")
}

fn cache_header(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("x-sluice-cache")
        .map(|v| v.to_str().unwrap().to_owned())
}

/// The answer's text, whole or streamed.
fn text_of(client: Client, stream: bool, body: &str) -> String {
    if !stream {
        let v: Value = serde_json::from_str(body).unwrap();
        return match client {
            Client::Chat => v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_owned(),
            Client::Messages => v["content"][0]["text"].as_str().unwrap().to_owned(),
        };
    }
    let (text, ended) = stream_text(client, body);
    assert!(ended, "the stream ends cleanly: {body}");
    text
}

/// The text of the complete events of a stream so far, and whether it ended cleanly.
fn stream_text(client: Client, body: &str) -> (String, bool) {
    let mut text = String::new();
    let mut ended = false;
    let complete = &body[..body.rfind("\n\n").map_or(0, |i| i + 2)];
    for data in complete.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if data == "[DONE]" {
            ended = true;
            continue;
        }
        let v: Value = serde_json::from_str(data).unwrap();
        if v["type"] == "message_stop" {
            ended = true;
        }
        let piece = match client {
            Client::Chat => v["choices"][0]["delta"]["content"].as_str(),
            Client::Messages => v["delta"]["text"].as_str(),
        };
        text.push_str(piece.unwrap_or_default());
    }
    (text, ended)
}

async fn the_cache_serves_repeats(gw: &Gateway, openai: &Mock, anthropic: &Mock) {
    for client in [Client::Chat, Client::Messages] {
        for (model, mock) in [("via-openai", openai), ("via-anthropic", anthropic)] {
            for first_stream in [false, true] {
                let cell = format!("{client:?} {model} first stream={first_stream}");
                let question = format!("Cache me {client:?} {model} {first_stream}");
                let before = mock.count().await;
                let (status, cache, first) = send(
                    gw,
                    client,
                    CLIENT_KEY,
                    &body(client, model, &question, first_stream),
                    &[],
                )
                .await;
                assert_eq!(
                    (status, cache.as_deref()),
                    (200, Some("miss")),
                    "{cell}: {first}"
                );
                let answer = text_of(client, first_stream, &first);
                assert!(answer.contains(&question), "{cell}: {answer}");
                // The same question, whole and streamed, by another key of the same team.
                for stream in [false, true] {
                    let (status, cache, again) = send(
                        gw,
                        client,
                        OTHER_KEY,
                        &body(client, model, &question, stream),
                        &[],
                    )
                    .await;
                    assert_eq!(
                        (status, cache.as_deref()),
                        (200, Some("hit")),
                        "{cell} stream={stream}"
                    );
                    assert_eq!(
                        text_of(client, stream, &again),
                        answer,
                        "{cell} stream={stream}"
                    );
                }
                assert_eq!(
                    mock.count().await,
                    before + 1,
                    "{cell}: the provider answered once"
                );
                // Another team never shares the entry.
                let (_, cache, _) = send(
                    gw,
                    client,
                    TEAM_KEY,
                    &body(client, model, &question, false),
                    &[],
                )
                .await;
                assert_eq!(cache.as_deref(), Some("miss"), "{cell}: team b");
            }
        }
    }
}

#[tokio::test]
async fn repeats_are_answered_from_the_cache_in_memory_and_in_redis() {
    let openai = Mock::start("openai", &["--kind", "openai"]);
    let anthropic = Mock::start("anthropic", &["--kind", "anthropic"]);
    let dir = temp_dir();
    let memory = Gateway::start(&config(
        &openai,
        &anthropic,
        &format!("{{path: \"{}\"}}", dir.path().display()),
        dir.path(),
    ));
    the_cache_serves_repeats(&memory, &openai, &anthropic).await;
    let redis = Redis::start();
    let dir = temp_dir();
    let shared = Gateway::start(&config(
        &openai,
        &anthropic,
        &format!(
            "{{backend: redis, url: \"{}\", prefix: cache}}",
            redis.url()
        ),
        dir.path(),
    ));
    the_cache_serves_repeats(&shared, &openai, &anthropic).await;
    // A second node on the same Redis answers from what the first stored.
    let dir2 = temp_dir();
    let other_node = Gateway::start(&config(
        &openai,
        &anthropic,
        &format!(
            "{{backend: redis, url: \"{}\", prefix: cache}}",
            redis.url()
        ),
        dir2.path(),
    ));
    let question = "Cache me Chat via-openai false";
    let (_, cache, _) = send(
        &other_node,
        Client::Chat,
        CLIENT_KEY,
        &body(Client::Chat, "via-openai", question, false),
        &[],
    )
    .await;
    assert_eq!(cache.as_deref(), Some("hit"));
}

#[tokio::test]
async fn the_key_follows_what_can_change_the_answer() {
    let openai = Mock::start("openai", &["--kind", "openai"]);
    let anthropic = Mock::start("anthropic", &["--kind", "anthropic"]);
    let dir = temp_dir();
    let gw = Gateway::start(&config(
        &openai,
        &anthropic,
        &format!("{{path: \"{}\"}}", dir.path().display()),
        dir.path(),
    ));
    let base = r#"{"model":"via-openai","temperature":0,"messages":[{"role":"user","content":"key order"}],"user":"u1"}"#;
    let reordered = r#"{"messages":[{"content":"key order","role":"user"}],"user":"u2","temperature":0,"model":"via-openai"}"#;
    let unknown = r#"{"model":"via-openai","temperature":0,"messages":[{"role":"user","content":"key order"}],"vendor_knob":1}"#;
    let raw = |text: &'static str| serde_json::from_str::<Value>(text).unwrap();
    let (_, cache, _) = send(&gw, Client::Chat, CLIENT_KEY, &raw(base), &[]).await;
    assert_eq!(cache.as_deref(), Some("miss"));
    let (_, cache, _) = send(&gw, Client::Chat, CLIENT_KEY, &raw(reordered), &[]).await;
    assert_eq!(
        cache.as_deref(),
        Some("hit"),
        "key order and `user` change nothing"
    );
    let (_, cache, _) = send(&gw, Client::Chat, CLIENT_KEY, &raw(unknown), &[]).await;
    assert_eq!(
        cache.as_deref(),
        Some("miss"),
        "an unknown provider parameter counts"
    );

    // no-cache skips the lookup but stores; no-store looks up but stores nothing.
    let fresh = body(Client::Chat, "via-openai", "directives", false);
    let (_, cache, _) = send(
        &gw,
        Client::Chat,
        CLIENT_KEY,
        &fresh,
        &[("cache-control", "no-store")],
    )
    .await;
    assert_eq!(cache.as_deref(), Some("miss"));
    let (_, cache, _) = send(
        &gw,
        Client::Chat,
        CLIENT_KEY,
        &fresh,
        &[("cache-control", "no-cache")],
    )
    .await;
    assert_eq!(
        cache.as_deref(),
        Some("bypass"),
        "no-store stored nothing, no-cache looked nothing up"
    );
    let (_, cache, _) = send(&gw, Client::Chat, CLIENT_KEY, &fresh, &[]).await;
    assert_eq!(cache.as_deref(), Some("hit"), "no-cache stored its answer");

    // Sampling requests are not cached unless the model says so.
    let sampling =
        json!({"model": "via-openai", "messages": [{"role": "user", "content": "sample"}]});
    let before = openai.count().await;
    for _ in 0..2 {
        let (status, cache, _) = send(&gw, Client::Chat, CLIENT_KEY, &sampling, &[]).await;
        assert_eq!((status, cache), (200, None));
    }
    assert_eq!(openai.count().await, before + 2);
    let opted = json!({"model": "sampled", "messages": [{"role": "user", "content": "sample"}]});
    let (_, first, _) = send(&gw, Client::Chat, CLIENT_KEY, &opted, &[]).await;
    let (_, second, _) = send(&gw, Client::Chat, CLIENT_KEY, &opted, &[]).await;
    assert_eq!(
        (first.as_deref(), second.as_deref()),
        (Some("miss"), Some("hit"))
    );

    // An error is never stored: the next identical request goes upstream.
    let failing = body(Client::Chat, "via-openai", "fails first", false);
    openai.set_faults(json!({"status": 500})).await;
    let (status, _, _) = send(&gw, Client::Chat, CLIENT_KEY, &failing, &[]).await;
    assert!(status >= 500);
    openai.set_faults(json!({})).await;
    let (status, cache, _) = send(&gw, Client::Chat, CLIENT_KEY, &failing, &[]).await;
    assert_eq!((status, cache.as_deref()), (200, Some("miss")));

    // Hits are audited as hits and cost nothing.
    let records = eventually("audit records", || async {
        let r = audit_records(&dir.path().join("audit.jsonl"));
        r.iter().any(|r| r["cache"] == "hit").then_some(r)
    })
    .await;
    for hit in records.iter().filter(|r| r["cache"] == "hit") {
        assert_eq!(hit["cost_usd"], 0.0, "{hit}");
        assert_eq!(hit["tokens_in"], 0, "{hit}");
    }
}

#[tokio::test]
async fn twenty_identical_requests_in_flight_make_one_provider_call() {
    let openai = Mock::start("openai", &["--kind", "openai"]);
    let anthropic = Mock::start("anthropic", &["--kind", "anthropic"]);
    let gw = Gateway::start(&format!(
        "providers:
  openai-up: {{kind: openai, endpoints: [{{url: \"{}\"}}], api_keys: [k-openai]}}
  anthropic-up: {{kind: anthropic, endpoints: [{{url: \"{}\"}}], api_keys: [k-anthropic]}}
models:
  - {{name: via-openai, targets: [{{provider: openai-up, model: gpt-4o}}]}}
  - {{name: via-anthropic, targets: [{{provider: anthropic-up, model: claude-x}}]}}
keys:
  - {{name: one, key: \"{CLIENT_KEY}\"}}
cache: {{dedup: true}}
",
        openai.url(),
        anthropic.url(),
    ));
    for mock in [&openai, &anthropic] {
        mock.set_faults(json!({"delay_ms": 500})).await;
    }
    for client in [Client::Chat, Client::Messages] {
        for (model, mock) in [("via-openai", &openai), ("via-anthropic", &anthropic)] {
            let before = mock.count().await;
            let question = format!("Together {client:?} {model}");
            let request = |i: usize| {
                let gw = &gw;
                let question = question.clone();
                async move {
                    // Half of them streamed: each gets the answer in its own form.
                    let stream = i % 2 == 1;
                    let (status, cache, body) = send(
                        gw,
                        client,
                        CLIENT_KEY,
                        &body(client, model, &question, stream),
                        &[],
                    )
                    .await;
                    (stream, status, cache, body)
                }
            };
            // The first is in flight (the provider has it and holds it 500 ms), then 19 more.
            let (first, mut answers) = tokio::join!(request(0), async {
                eventually("the first request reaches the provider", || async {
                    (mock.count().await > before).then_some(())
                })
                .await;
                futures_util::future::join_all((1..20).map(request)).await
            });
            answers.push(first);
            let cell = format!("{client:?} {model}");
            assert_eq!(mock.count().await, before + 1, "{cell}: one provider call");
            let mut coalesced = 0;
            for (stream, status, cache, body) in answers {
                assert_eq!(status, 200, "{cell}: {body}");
                assert!(
                    text_of(client, stream, &body).contains(&question),
                    "{cell}: {body}"
                );
                coalesced += usize::from(cache.as_deref() == Some("coalesced"));
            }
            assert_eq!(coalesced, 19, "{cell}");
        }
    }
}

#[tokio::test]
async fn a_paraphrase_is_a_semantic_hit_and_another_question_is_not() {
    let openai = Mock::start("openai", &["--kind", "openai"]);
    let gw = Gateway::start(&format!(
        "providers:
  openai-up: {{kind: openai, endpoints: [{{url: \"{}\"}}], api_keys: [k-openai]}}
models:
  - {{name: chat, targets: [{{provider: openai-up, model: gpt-4o}}], cache: {{semantic: true}}}}
  - {{name: embed, targets: [{{provider: openai-up, model: text-embedding-3-small}}]}}
keys:
  - {{name: one, key: \"{CLIENT_KEY}\"}}
cache:
  semantic: {{embedding_model: embed, dimensions: 256, threshold: 0.8}}
",
        openai.url(),
    ));
    let chat_calls = || async {
        openai.received().await["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["path"] == "/v1/chat/completions")
            .count()
    };
    let ask = |system: &'static str, question: &'static str| {
        let gw = &gw;
        async move {
            let resp = gw
                .post(
                    "/v1/chat/completions",
                    &json!({"model": "chat", "temperature": 0, "messages": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": question}]}),
                )
                .await;
            assert_eq!(resp.status(), 200);
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
            };
            let (cache, similarity) = (
                header("x-sluice-cache"),
                header("x-sluice-cache-similarity"),
            );
            let body: Value = resp.json().await.unwrap();
            let text = body["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_owned();
            (cache, similarity, text)
        }
    };
    let (cache, _, first) = ask("Be brief.", "What is the capital of France?").await;
    assert_eq!(cache.as_deref(), Some("miss"));
    assert_eq!(chat_calls().await, 1);
    let (cache, similarity, again) = ask("Be brief.", "Tell me the capital of France").await;
    assert_eq!(cache.as_deref(), Some("hit"), "a paraphrase");
    assert_eq!(again, first, "the stored answer");
    let similarity: f32 = similarity.unwrap().parse().unwrap();
    assert!((0.8..1.0).contains(&similarity), "{similarity}");
    assert_eq!(chat_calls().await, 1, "the provider was not asked");
    let (cache, similarity, _) = ask("Be brief.", "How do I bake sourdough bread at home?").await;
    assert_eq!(
        (cache.as_deref(), similarity),
        (Some("miss"), None),
        "another question"
    );
    let (cache, _, _) = ask("Answer in French.", "What is the capital of France?").await;
    assert_eq!(
        cache.as_deref(),
        Some("miss"),
        "another context never collides"
    );
    assert_eq!(chat_calls().await, 3);
}

#[tokio::test]
async fn an_embedding_that_fails_or_is_slow_is_a_miss_never_an_error() {
    let openai = Mock::start("openai", &["--kind", "openai"]);
    let slow = Mock::start(
        "slow-embeddings",
        &["--kind", "openai", "--delay-ms", "5000"],
    );
    for (embedder, url) in [
        ("down", format!("http://127.0.0.1:{}", free_port())),
        ("slow", slow.url()),
    ] {
        let gw = Gateway::start(&format!(
            "providers:
  openai-up: {{kind: openai, endpoints: [{{url: \"{}\"}}], api_keys: [k-openai]}}
  embedder: {{kind: openai, endpoints: [{{url: \"{url}\"}}], api_keys: [k-embed]}}
models:
  - {{name: chat, targets: [{{provider: openai-up, model: gpt-4o}}], cache: {{semantic: true}}}}
  - {{name: embed, targets: [{{provider: embedder, model: text-embedding-3-small}}]}}
keys:
  - {{name: one, key: \"{CLIENT_KEY}\"}}
cache:
  semantic: {{embedding_model: embed, timeout: 200ms}}
",
            openai.url(),
        ));
        for _ in 0..2 {
            let resp = gw
                .post(
                    "/v1/chat/completions",
                    &json!({"model": "chat", "temperature": 0, "messages": [{"role": "user", "content": "hello"}]}),
                )
                .await;
            assert_eq!(resp.status(), 200, "{embedder}");
            assert_eq!(resp.headers()["x-sluice-cache"], "miss", "{embedder}");
        }
    }
}

/// Two mocks, `via-openai` and `via-anthropic`, two keys of one team (they share flights),
/// deduplication only, an audit log; `x-mock-*` headers reach the mocks, so one request (the
/// leader) can carry a fault its followers do not.
struct Dedup {
    openai: Mock,
    anthropic: Mock,
    dir: tempfile::TempDir,
    gw: Gateway,
}

impl Dedup {
    fn start() -> Dedup {
        let openai = Mock::start("openai", &["--kind", "openai"]);
        let anthropic = Mock::start("anthropic", &["--kind", "anthropic"]);
        let dir = temp_dir();
        let gw = Gateway::start(&Dedup::config(&openai, &anthropic, dir.path()));
        Dedup {
            openai,
            anthropic,
            dir,
            gw,
        }
    }

    fn config(openai: &Mock, anthropic: &Mock, dir: &std::path::Path) -> String {
        format!(
            "providers:
  openai-up: {{kind: openai, endpoints: [{{url: \"{}\"}}], api_keys: [k-openai], forward_headers: [\"x-mock-*\"]}}
  anthropic-up: {{kind: anthropic, endpoints: [{{url: \"{}\"}}], api_keys: [k-anthropic], forward_headers: [\"x-mock-*\"]}}
models:
  - {{name: via-openai, targets: [{{provider: openai-up, model: gpt-4o}}]}}
  - {{name: via-anthropic, targets: [{{provider: anthropic-up, model: claude-x}}]}}
teams:
  - {{name: a}}
keys:
  - {{name: one, key: \"{CLIENT_KEY}\", team: a}}
  - {{name: two, key: \"{OTHER_KEY}\", team: a}}
  - {{name: counted, key: \"{TEAM_KEY}\", limits: {{rpm: 2}}}}
  - {{name: small, key: \"{SMALL_KEY}\", limits: {{tpm: 50}}}}
cache: {{dedup: true}}
audit: {{path: \"{}\"}}
",
            openai.url(),
            anthropic.url(),
            dir.join("audit.jsonl").display(),
        )
    }

    /// Each client dialect, answered by a provider of its own dialect and of the other.
    fn cells(&self) -> [(Client, &'static str, &Mock); 4] {
        [
            (Client::Chat, "via-openai", &self.openai),
            (Client::Chat, "via-anthropic", &self.anthropic),
            (Client::Messages, "via-anthropic", &self.anthropic),
            (Client::Messages, "via-openai", &self.openai),
        ]
    }
}

/// Waits until `n` requests follow a flight on the gateway.
async fn followers(gw: &Gateway, n: usize) {
    eventually(&format!("{n} requests follow the flight"), || async {
        (metric(gw, "sluice_cache_followers").await == n as f64).then_some(())
    })
    .await;
}

/// A streamed leader (its request carrying `leader_headers`) and a streamed follower, each
/// read until its first text arrived: the follower's came live from the leader's flight.
async fn live_pair(
    gw: &Gateway,
    client: Client,
    streamed: &Value,
    leader_headers: &[(&str, &str)],
    cell: &str,
) -> (Incremental, Incremental) {
    let has_text = |received: &str| !stream_text(client, received).0.is_empty();
    let leader = open(gw, client, CLIENT_KEY, streamed, leader_headers).await;
    assert_eq!(cache_header(&leader).as_deref(), Some("miss"), "{cell}");
    let mut leader = Incremental::new(leader);
    assert!(leader.until(has_text).await, "{cell}: the leader's text");
    let follower = open(gw, client, OTHER_KEY, streamed, &[]).await;
    assert_eq!(follower.status(), 200, "{cell}");
    let cache = cache_header(&follower);
    assert_eq!(cache.as_deref(), Some("coalesced"), "{cell}");
    let mut follower = Incremental::new(follower);
    assert!(
        follower.until(has_text).await,
        "{cell}: the follower's text"
    );
    (leader, follower)
}

/// A stream that ended with an in-band error in the client's dialect, never a clean end.
fn assert_in_band_error(client: Client, body: &str, cell: &str) {
    let (_, ended) = stream_text(client, body);
    assert!(!ended, "{cell}: no clean end: {body}");
    let last = body
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .last()
        .unwrap_or_default();
    match client {
        Client::Chat => {
            let data = last.strip_prefix("data: ").unwrap_or_default();
            let error: Value = serde_json::from_str(data).unwrap_or_default();
            assert!(error["error"]["message"].is_string(), "{cell}: {body}");
        }
        Client::Messages => assert!(last.starts_with("event: error\n"), "{cell}: {body}"),
    }
}

#[tokio::test]
async fn a_streamed_follower_is_served_live_while_the_provider_holds_the_rest() {
    a_held_flight_is_released(false).await;
}

/// The leader's client leaves mid-stream: the flight's upstream call is the gateway's own, so
/// its followers, live and waiting, get the whole answer from the one provider call.
#[tokio::test]
async fn a_leader_whose_client_leaves_mid_stream_is_not_missed_by_its_followers() {
    a_held_flight_is_released(true).await;
}

/// A streamed leader whose provider holds the rest of its answer, a live follower and a whole
/// one; then the provider sends the rest (once the leader's client hung up, with `leave`).
async fn a_held_flight_is_released(leave: bool) {
    let dedup = Dedup::start();
    let gw = &dedup.gw;
    for (client, model, mock) in dedup.cells() {
        let cell = format!("{client:?} {model} leave={leave}");
        mock.set_faults(json!({})).await;
        let before = mock.count().await;
        let question = format!("Held {client:?} {model} {leave}");
        let streamed = body(client, model, &question, true);
        // The provider sends two chunks of text, then holds the rest until released: the
        // follower's first text reached it live.
        let hold = [("x-mock-hold-after", "2")];
        let (leader, follower) = live_pair(gw, client, &streamed, &hold, &cell).await;
        let early = stream_text(client, &follower.received).0;
        let mut leader = Some(leader);

        // A whole request joins the same flight and gets the answer when it lands.
        let whole = body(client, model, &question, false);
        let (whole, ()) = tokio::join!(send(gw, client, OTHER_KEY, &whole, &[]), async {
            followers(gw, 2).await;
            assert_eq!(mock.count().await, before + 1, "{cell}: one call so far");
            if leave {
                // The leader's client hangs up while the provider still holds the rest.
                leader = None;
            }
            mock.release().await;
        });

        let (text, ended) = stream_text(client, &follower.rest().await);
        assert!(ended, "{cell}: the follower's stream ends cleanly");
        assert!(text.contains(&question), "{cell}: {text}");
        assert!(text.starts_with(&early), "{cell}");
        if let Some(leader) = leader {
            assert_eq!(text_of(client, true, &leader.rest().await), text, "{cell}");
        }
        let (status, cache, whole) = whole;
        assert_eq!(
            (status, cache.as_deref()),
            (200, Some("coalesced")),
            "{cell}: {whole}"
        );
        assert_eq!(text_of(client, false, &whole), text, "{cell}");
        assert_eq!(mock.count().await, before + 1, "{cell}: one provider call");

        // The leader's request is logged once, complete, and billed what the provider made;
        // its followers are billed nothing.
        let record = audit_record(&dedup, "one", "miss", true).await;
        assert_eq!(record["status"], 200, "{cell}: {record}");
        assert_eq!(record["error_type"], "none", "{cell}: {record}");
        assert!(record["tokens_out"].as_u64() > Some(0), "{cell}: {record}");
        let follower = audit_record(&dedup, "two", "coalesced", true).await;
        assert_eq!(follower["error_type"], "none", "{cell}: {follower}");
        assert_eq!(follower["cost_usd"], 0.0, "{cell}: {follower}");
        clear_audit(&dedup);
    }
}

#[tokio::test]
async fn a_leader_whose_provider_fails_before_any_byte_hands_over_to_a_follower() {
    let dedup = Dedup::start();
    let gw = &dedup.gw;
    for (client, model, mock) in dedup.cells() {
        let cell = format!("{client:?} {model}");
        mock.set_faults(json!({})).await;
        let before = mock.count().await;
        let question = format!("Fails first {client:?} {model}");
        // Only the leader's request fails (500), held by the provider until its followers,
        // streamed and whole, have joined.
        let fault = [("x-mock-status", "500"), ("x-mock-hold-after", "0")];
        let streamed = body(client, model, &question, true);
        let leader = send(gw, client, CLIENT_KEY, &streamed, &fault);
        let (leader, answers) = tokio::join!(leader, async {
            eventually("the leader reaches the provider", || async {
                (mock.count().await > before).then_some(())
            })
            .await;
            let answers = futures_util::future::join_all((0..4).map(|i| {
                let request = body(client, model, &question, i % 2 == 0);
                async move {
                    let answer = send(gw, client, OTHER_KEY, &request, &[]).await;
                    (i % 2 == 0, answer)
                }
            }));
            let (answers, ()) = tokio::join!(answers, async {
                followers(gw, 4).await;
                mock.release().await;
            });
            answers
        });
        assert_ne!(leader.0, 200, "{cell}: the leader gets its own error");
        let mut new_leaders = 0;
        for (stream, (status, cache, answer)) in answers {
            assert_eq!(
                status, 200,
                "{cell}: no follower inherits the error: {answer}"
            );
            assert!(
                text_of(client, stream, &answer).contains(&question),
                "{cell}"
            );
            new_leaders += usize::from(cache.as_deref() == Some("miss"));
        }
        assert_eq!(new_leaders, 1, "{cell}: one follower led the next flight");
    }
}

/// A whole leader's client hangs up while the provider holds the answer: its follower has
/// received nothing yet, so it gets the answer all the same (the flight lands, or the follower
/// leads the next one), never an error it did not cause.
#[tokio::test]
async fn a_whole_leader_whose_client_leaves_leaves_its_follower_its_answer() {
    let dedup = Dedup::start();
    let gw = &dedup.gw;
    for (client, model, mock) in dedup.cells() {
        let cell = format!("{client:?} {model}");
        mock.set_faults(json!({})).await;
        let before = mock.count().await;
        let question = format!("Whole leaves {client:?} {model}");
        let whole = body(client, model, &question, false);
        let hold = [("x-mock-hold-after", "0")];
        let leader_in_flight = tokio::sync::Notify::new();
        let follower = async {
            leader_in_flight.notified().await;
            send(gw, client, OTHER_KEY, &whole, &[]).await
        };
        let leader = async {
            tokio::select! {
                _ = open(gw, client, CLIENT_KEY, &whole, &hold) => {
                    panic!("{cell}: the provider holds the leader's answer")
                }
                () = async {
                    eventually("the provider holds the leader's request", || async {
                        (mock.count().await > before).then_some(())
                    })
                    .await;
                    leader_in_flight.notify_one();
                    followers(gw, 1).await;
                } => {}
            }
            // The leader's request is dropped here: its client hung up.
            mock.release().await;
        };
        let ((status, cache, answer), ()) = tokio::join!(follower, leader);
        assert_eq!(status, 200, "{cell}: {answer}");
        assert!(
            matches!(cache.as_deref(), Some("coalesced" | "miss")),
            "{cell}: {cache:?}"
        );
        assert!(
            text_of(client, false, &answer).contains(&question),
            "{cell}"
        );
        assert!(mock.count().await <= before + 2, "{cell}");
    }
}

/// A streamed flight's leader asks through the gateway's own fetch: it is counted once against
/// its key's limits, and gets the refusals of its own request in its own dialect.
#[tokio::test]
async fn a_flight_leader_is_counted_once_and_refused_in_its_own_dialect() {
    let dedup = Dedup::start();
    let gw = &dedup.gw;
    let mut remaining = Vec::new();
    for client in [Client::Chat, Client::Messages] {
        let request = body(client, "via-openai", &format!("Counted {client:?}"), true);
        let resp = open(gw, client, TEAM_KEY, &request, &[]).await;
        assert_eq!(resp.status(), 200, "{client:?}");
        assert_eq!(cache_header(&resp).as_deref(), Some("miss"), "{client:?}");
        remaining.push(header(&resp, "x-ratelimit-remaining-requests"));
        let (text, ended) = stream_text(client, &resp.text().await.unwrap());
        assert!(ended && text.contains("Counted"), "{client:?}: {text}");
    }
    assert_eq!(remaining, ["1", "0"], "two requests, each counted once");

    let calls = dedup.openai.count().await;
    for client in [Client::Chat, Client::Messages] {
        let mut request = body(client, "via-openai", "More than the key may use", true);
        request["max_tokens"] = json!(1000);
        let (status, cache, answer) = send(gw, client, SMALL_KEY, &request, &[]).await;
        assert_eq!(
            (status, cache.as_deref()),
            (429, None),
            "{client:?}: {answer}"
        );
        let error: Value = serde_json::from_str(&answer).unwrap();
        let message = match client {
            Client::Chat => &error["error"]["message"],
            Client::Messages => {
                assert_eq!(error["type"], "error", "{answer}");
                &error["error"]["message"]
            }
        };
        assert!(
            message.as_str().unwrap().contains("tokens per minute"),
            "{client:?}: {answer}"
        );
    }
    assert_eq!(
        dedup.openai.count().await,
        calls,
        "refused before the provider"
    );
}

/// The leader's provider cuts its stream mid-way.
#[tokio::test]
async fn a_stream_cut_mid_way_ends_live_followers_in_band_and_hands_over_the_others() {
    let dedup = Dedup::start();
    let gw = &dedup.gw;
    for (client, model, mock) in dedup.cells() {
        let cell = format!("{client:?} {model}");
        mock.set_faults(json!({})).await;
        let before = mock.count().await;
        let question = format!("Stops {client:?} {model}");
        let cut = [("x-mock-hold-after", "2"), ("x-mock-cut-after", "3")];
        let streamed = body(client, model, &question, true);
        let (leader, follower) = live_pair(gw, client, &streamed, &cut, &cell).await;

        // A whole follower has received nothing when the flight fails: it goes on its own.
        let whole = body(client, model, &question, false);
        let (whole, ()) = tokio::join!(send(gw, client, OTHER_KEY, &whole, &[]), async {
            followers(gw, 2).await;
            mock.release().await;
        });
        assert_in_band_error(client, &leader.rest().await, &cell);
        assert_in_band_error(client, &follower.rest().await, &cell);
        let (status, cache, whole) = whole;
        assert_eq!(
            (status, cache.as_deref()),
            (200, Some("miss")),
            "{cell}: {whole}"
        );
        assert!(text_of(client, false, &whole).contains(&question), "{cell}");
        assert_eq!(mock.count().await, before + 2, "{cell}");

        // The live follower says why it failed, and is billed nothing.
        let record = audit_record(&dedup, "two", "coalesced", true).await;
        assert_eq!(record["status"], 200, "{cell}: {record}");
        assert_eq!(
            record["error_type"], "coalesced_stream_cut",
            "{cell}: {record}"
        );
        assert_eq!(record["cost_usd"], 0.0, "{cell}: {record}");
        assert_eq!(record["tokens_out"], 0, "{cell}: {record}");
        clear_audit(&dedup);
    }
}

/// The audit record of `key`'s request with this cache label, once written.
async fn audit_record(dedup: &Dedup, key: &str, cache: &str, stream: bool) -> Value {
    let audit = dedup.dir.path().join("audit.jsonl");
    eventually(&format!("the audit record of key {key}"), || async {
        audit_records(&audit)
            .into_iter()
            .find(|r| r["key"] == key && r["cache"] == cache && r["stream"] == stream)
    })
    .await
}

/// Clears the audit log, so that the next cell finds its own records.
fn clear_audit(dedup: &Dedup) {
    std::fs::write(dedup.dir.path().join("audit.jsonl"), "").unwrap();
}
