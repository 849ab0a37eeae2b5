//! Hot reload: `POST /admin/reload`, SIGHUP and file changes put a valid file in force at once
//! and leave an invalid one without effect; the state of what stays survives.

use crate::common::*;
use serde_json::{json, Value};

const ADMIN_TOKEN: &str = "admin-token-for-reload-tests";
const NEW_KEY: &str = "sk-test-added-by-reload";

/// A provider entry `name` on `mock`, with `extra` fields.
fn provider(name: &str, mock: &Mock, extra: &str) -> String {
    format!(
        "  {name}: {{kind: openai, endpoints: [{{url: \"{}\"}}], api_keys: [\"{UPSTREAM_KEY}\"]{extra}}}\n",
        mock.url()
    )
}

/// A config body: the admin token, `providers`, models as (name, provider) and keys as
/// (name, secret, extra fields).
fn config(providers: &[String], models: &[(&str, &str)], keys: &[(&str, &str, &str)]) -> String {
    let mut text = format!(
        "admin: {{token: {ADMIN_TOKEN}}}\nproviders:\n{}models:\n",
        providers.concat()
    );
    for (model, provider) in models {
        text.push_str(&format!(
            "  - {{name: {model}, targets: [{{provider: {provider}, model: up-{model}}}], price: {{input_per_mtok: 1, output_per_mtok: 1}}}}\n"
        ));
    }
    text.push_str("keys:\n");
    for (name, secret, extra) in keys {
        text.push_str(&format!("  - {{name: {name}, key: \"{secret}\"{extra}}}\n"));
    }
    text
}

/// One provider `p` on `mock` serving `models`.
fn body(mock: &Mock, models: &[&str], keys: &[(&str, &str, &str)]) -> String {
    let models: Vec<(&str, &str)> = models.iter().map(|m| (*m, "p")).collect();
    config(&[provider("p", mock, "")], &models, keys)
}

async fn admin(gw: &Gateway, method: reqwest::Method, path: &str) -> (u16, Value) {
    let resp = client()
        .request(method, gw.admin_url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn reload(gw: &Gateway) -> (u16, Value) {
    admin(gw, reqwest::Method::POST, "/admin/reload").await
}

async fn chat_as(gw: &Gateway, key: &str, model: &str) -> u16 {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&chat_body(model))
        .send()
        .await
        .expect("request to the gateway")
        .status()
        .as_u16()
}

async fn config_version(gw: &Gateway) -> u64 {
    let (_, config) = admin(gw, reqwest::Method::GET, "/admin/config").await;
    config["version"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn the_admin_api_reloads_keys_and_models_and_an_invalid_file_changes_nothing() {
    let mock = Mock::start("up", &[]);
    let one = [("one", CLIENT_KEY, "")];
    let gw = Gateway::start_with_server("  watch_config: false\n", &body(&mock, &["m1"], &one));
    assert_eq!(chat_as(&gw, CLIENT_KEY, "m1").await, 200);

    let (status, answer) = reload(&gw).await;
    assert_eq!(
        (status, &answer["result"]),
        (200, &json!("unchanged")),
        "{answer}"
    );

    // A key and a model added: usable as soon as the reload answers.
    let two = [("one", CLIENT_KEY, ""), ("two", NEW_KEY, "")];
    gw.write_config(&body(&mock, &["m1", "m2"], &two));
    let (status, answer) = reload(&gw).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"result": "applied", "version": 2}));
    assert_eq!(chat_as(&gw, NEW_KEY, "m2").await, 200);
    assert_eq!(mock.last_request().await["model"], "up-m2");

    // An invalid file: refused with its field, and everything keeps serving as before.
    let invalid = body(&mock, &["m1", "m2"], &two)
        .replace("provider: p, model: up-m2", "provider: nope, model: up-m2");
    gw.write_config(&invalid);
    let (status, answer) = reload(&gw).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["result"], "rejected");
    assert_eq!(
        answer["error"]["field"], "models[1].targets[0].provider",
        "{answer}"
    );
    assert_eq!(chat_as(&gw, NEW_KEY, "m2").await, 200);
    assert_eq!(chat_as(&gw, CLIENT_KEY, "m1").await, 200);
    let (_, config) = admin(&gw, reqwest::Method::GET, "/admin/config").await;
    assert_eq!(config["version"], 2, "{config}");
    assert_eq!(
        config["last_error"]["field"],
        "models[1].targets[0].provider"
    );
    assert_eq!(config["reloads"], json!({"applied": 1, "rejected": 1}));
    assert_eq!(
        metric(&gw, "sluice_config_reloads_total{result=\"rejected\"}").await,
        1.0
    );
    assert_eq!(
        metric(&gw, "sluice_config_last_reload_successful").await,
        0.0
    );

    // A change that needs a restart is refused as well, naming the setting.
    let moved = gw
        .config_header()
        .replace(&gw.addr.to_string(), "127.0.0.1:1");
    gw.write_config_text(&format!("{moved}{}", body(&mock, &["m1"], &one)));
    let (status, answer) = reload(&gw).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["field"], "listen", "{answer}");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("restart"));

    // A key and a model removed: refused as soon as the reload answers.
    gw.write_config(&body(&mock, &["m2"], &[("two", NEW_KEY, "")]));
    let (status, answer) = reload(&gw).await;
    assert_eq!((status, &answer["version"]), (200, &json!(3)), "{answer}");
    assert_eq!(chat_as(&gw, CLIENT_KEY, "m2").await, 401);
    assert_eq!(chat_as(&gw, NEW_KEY, "m1").await, 404);
    assert_eq!(chat_as(&gw, NEW_KEY, "m2").await, 200);
    assert_eq!(
        metric(&gw, "sluice_config_last_reload_successful").await,
        1.0
    );
    assert_eq!(metric(&gw, "sluice_config_version").await, 3.0);
    let log = gw.proc.log();
    assert!(log.contains("models +1 -0, keys +1 -0"), "{log}");
    assert!(!log.contains(NEW_KEY), "a key secret reached the log");
}

#[tokio::test]
async fn sighup_reloads_instead_of_killing_the_gateway() {
    let mock = Mock::start("up", &[]);
    let mut gw = Gateway::start_with_server(
        "  watch_config: false\n",
        &body(&mock, &["m1"], &[("one", CLIENT_KEY, "")]),
    );
    gw.write_config(&body(
        &mock,
        &["m1"],
        &[("one", CLIENT_KEY, ""), ("two", NEW_KEY, "")],
    ));
    gw.proc.signal("HUP");
    eventually("the SIGHUP reload", || async {
        (config_version(&gw).await == 2).then_some(())
    })
    .await;
    assert!(gw.proc.alive());
    assert_eq!(chat_as(&gw, NEW_KEY, "m1").await, 200);
    // A SIGHUP with nothing changed is harmless too.
    gw.proc.signal("HUP");
    eventually("the unchanged reload", || async {
        (metric(&gw, "sluice_config_reloads_total{result=\"unchanged\"}").await == 1.0)
            .then_some(())
    })
    .await;
    assert!(gw.proc.alive());
    assert!(gw.proc.log().contains("config reload (SIGHUP)"));
}

#[tokio::test]
async fn a_changed_file_is_reloaded_without_a_signal() {
    let mock = Mock::start("up", &[]);
    let gw = Gateway::start(&body(&mock, &["m1"], &[("one", CLIENT_KEY, "")]));
    gw.write_config(&body(
        &mock,
        &["m1"],
        &[("one", CLIENT_KEY, ""), ("two", NEW_KEY, "")],
    ));
    eventually("the new key after the file changed", || async {
        (chat_as(&gw, NEW_KEY, "m1").await == 200).then_some(())
    })
    .await;
    assert!(gw.proc.log().contains("config reloaded (file change)"));
    // A broken edit is reported once and changes nothing.
    gw.write_config("providers: [this is not a map\n");
    eventually("the rejected edit", || async {
        (metric(&gw, "sluice_config_reloads_total{result=\"rejected\"}").await == 1.0).then_some(())
    })
    .await;
    assert_eq!(chat_as(&gw, NEW_KEY, "m1").await, 200);
}

#[tokio::test]
async fn a_reload_keeps_the_windows_and_spend_of_what_stays_and_applies_new_limits_next() {
    let mock = Mock::start("up", &[]);
    let limited = |rpm: u32| {
        [
            (
                "one",
                CLIENT_KEY,
                ", budget: {usd: 100, period: monthly}".to_owned(),
            ),
            ("limited", OTHER_KEY, format!(", limits: {{rpm: {rpm}}}")),
        ]
    };
    let write = |gw: &Gateway, rpm: u32, extra_key: bool| {
        let keys = limited(rpm);
        let mut list: Vec<(&str, &str, &str)> =
            keys.iter().map(|(n, k, e)| (*n, *k, e.as_str())).collect();
        if extra_key {
            list.push(("two", NEW_KEY, ""));
        }
        gw.write_config(&body(&mock, &["m1"], &list));
    };
    let keys = limited(3);
    let list: Vec<(&str, &str, &str)> = keys.iter().map(|(n, k, e)| (*n, *k, e.as_str())).collect();
    let gw = Gateway::start_with_server("  watch_config: false\n", &body(&mock, &["m1"], &list));
    for _ in 0..3 {
        assert_eq!(chat_as(&gw, OTHER_KEY, "m1").await, 200);
    }
    assert_eq!(chat_as(&gw, OTHER_KEY, "m1").await, 429);
    assert_eq!(chat_as(&gw, CLIENT_KEY, "m1").await, 200);
    let (_, usage) = admin(&gw, reqwest::Method::GET, "/admin/usage").await;
    let spent = usage["keys"]["one"]["budget"]["spent_usd"]
        .as_f64()
        .unwrap();
    assert!(spent > 0.0, "{usage}");

    // A reload that changes something else resets no window and forgets no spend.
    write(&gw, 3, true);
    assert_eq!(reload(&gw).await.0, 200);
    assert_eq!(
        chat_as(&gw, OTHER_KEY, "m1").await,
        429,
        "the window was reset"
    );
    let (_, usage) = admin(&gw, reqwest::Method::GET, "/admin/usage").await;
    assert_eq!(
        usage["keys"]["one"]["budget"]["spent_usd"],
        json!(spent),
        "{usage}"
    );
    assert_eq!(
        usage["keys"]["limited"]["requests_last_minute"]["used"], 3,
        "{usage}"
    );

    // A raised limit applies from the next request, counting what the window holds.
    write(&gw, 5, true);
    assert_eq!(reload(&gw).await.0, 200);
    assert_eq!(chat_as(&gw, OTHER_KEY, "m1").await, 200);
    assert_eq!(chat_as(&gw, OTHER_KEY, "m1").await, 200);
    assert_eq!(chat_as(&gw, OTHER_KEY, "m1").await, 429);
}

#[tokio::test]
async fn health_checks_start_and_stop_with_the_providers_a_reload_adds_and_removes() {
    let mock = Mock::start("up", &[]);
    let checked = Mock::start("checked", &[]);
    let one = [("one", CLIENT_KEY, "")];
    let gw = Gateway::start_with_server("  watch_config: false\n", &body(&mock, &["m1"], &one));
    let with_checked = config(
        &[
            provider("p", &mock, ""),
            provider(
                "q",
                &checked,
                ", health_check: {path: /v1/models, interval: 100ms}",
            ),
        ],
        &[("m1", "p"), ("m2", "q")],
        &one,
    );
    gw.write_config(&with_checked);
    let (status, answer) = reload(&gw).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(chat_as(&gw, CLIENT_KEY, "m2").await, 200);
    eventually("health checks of the added provider", || async {
        let stats = checked.received().await;
        let checks = stats["requests"]
            .as_array()
            .map_or(0, |r| r.iter().filter(|r| r["method"] == "GET").count());
        (checks >= 2).then_some(())
    })
    .await;
    let healthy = format!(
        "sluice_endpoint_healthy{{endpoint=\"{}\",provider=\"q\"}}",
        checked.addr
    );
    assert_eq!(metric(&gw, &healthy).await, 1.0);

    gw.write_config(&body(&mock, &["m1"], &one));
    assert_eq!(reload(&gw).await.0, 200);
    assert_eq!(chat_as(&gw, CLIENT_KEY, "m2").await, 404);
    let text = metrics_text(&gw).await;
    assert!(
        !text.contains(&healthy),
        "a removed provider's gauges stay:\n{text}"
    );
}

/// What the load saw: requests answered as expected, and every other outcome by kind.
#[derive(Default)]
struct LoadTally {
    ok: u64,
    failures: Vec<String>,
}

/// One request of the load: the steady key on the steady model, streamed or not; a stream
/// counts only if it ends with its `[DONE]`.
async fn one_request(http: reqwest::Client, url: String, stream: bool) -> Result<(), String> {
    let mut body = chat_body("steady");
    body["stream"] = json!(stream);
    let resp = http
        .post(&url)
        .bearer_auth(CLIENT_KEY)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .await
        .map_err(|e| format!("body after {status}: {e}"))?;
    match (status, stream) {
        (200, true) if text.trim_end().ends_with("data: [DONE]") => Ok(()),
        (200, false) if text.contains("\"choices\"") => Ok(()),
        _ => Err(format!(
            "{status} stream={stream}: {}",
            &text[..text.len().min(200)]
        )),
    }
}

/// Steady load (`rps` a second, half streamed) until `stop` turns true.
async fn load(url: String, rps: u64, stop: tokio::sync::watch::Receiver<bool>) -> LoadTally {
    let http = client();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(10));
    let per_tick = rps / 100;
    let mut tasks = tokio::task::JoinSet::new();
    let mut n = 0u64;
    while !*stop.borrow() {
        tick.tick().await;
        for _ in 0..per_tick {
            n += 1;
            tasks.spawn(one_request(http.clone(), url.clone(), n % 2 == 0));
        }
    }
    let mut tally = LoadTally::default();
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(())) => tally.ok += 1,
            Ok(Err(e)) => tally.failures.push(e),
            Err(e) => tally.failures.push(format!("task: {e}")),
        }
    }
    tally
}

/// The soak of the issue: 300 requests a second for 60 s (`SLUICE_TEST_RELOAD_SECS` changes
/// it), half streamed, while the file is reloaded 20 times, valid and invalid versions
/// alternating. No request of the steady key fails; each added key works and each removed
/// key is refused right after its reload; a limited key's window is never reset.
#[tokio::test]
async fn twenty_reloads_under_load_fail_no_request() {
    let secs: u64 = std::env::var("SLUICE_TEST_RELOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mock = Mock::start("up", &[]);
    let windowed_key = "sk-test-windowed-key-0003";
    // Version `v`: the steady key and model; key `k{v}` with model `extra{v}` (the previous
    // version's are gone); a tuned key whose rpm changes each time.
    let version = |v: u32| {
        let rotating_key = format!("sk-test-rotating-key-{v:04}");
        let (key_name, model) = (format!("k{v}"), format!("extra{v}"));
        let tuned = format!(", limits: {{rpm: {}}}", 1000 + v);
        let keys = [
            ("steady", CLIENT_KEY, ""),
            ("windowed", windowed_key, ", limits: {rpm: 5}"),
            ("tuned", OTHER_KEY, tuned.as_str()),
            (key_name.as_str(), rotating_key.as_str(), ""),
        ];
        let text = body(&mock, &["steady", &model], &keys);
        (text, rotating_key, model)
    };
    let (first, _, _) = version(0);
    let gw = Gateway::start_with_server("  watch_config: false\n", &first);
    let filled = std::time::Instant::now();
    for _ in 0..5 {
        assert_eq!(chat_as(&gw, windowed_key, "steady").await, 200);
    }
    assert_eq!(chat_as(&gw, windowed_key, "steady").await, 429);

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let load = tokio::spawn(load(gw.url("/v1/chat/completions"), 300, stopped));
    let pause = std::time::Duration::from_millis(secs * 1000 / 20);
    let mut applied = 0u32;
    for round in 1..=20u32 {
        tokio::time::sleep(pause).await;
        if round % 2 == 1 {
            applied += 1;
            let (text, key, model) = version(applied);
            gw.write_config(&text);
            let (status, answer) = reload(&gw).await;
            assert_eq!(status, 200, "round {round}: {answer}");
            assert_eq!(
                chat_as(&gw, &key, &model).await,
                200,
                "round {round}: new key"
            );
            let (_, old_key, old_model) = version(applied - 1);
            assert_eq!(chat_as(&gw, &old_key, "steady").await, 401, "round {round}");
            assert_eq!(chat_as(&gw, &key, &old_model).await, 404, "round {round}");
        } else {
            // Invalid in turn by syntax, by reference and by a restart-only change.
            let (valid, key, model) = version(applied + 1);
            let header = gw.config_header();
            let invalid = match round % 6 {
                0 => format!("{header}{}", valid.replace("models:", "models: [oops")),
                2 => format!(
                    "{header}{}",
                    valid.replace("provider: p, model: up-steady", "provider: gone, model: x")
                ),
                _ => format!("{}{valid}", header.replace("threads: 2", "threads: 7")),
            };
            gw.write_config_text(&invalid);
            let (status, answer) = reload(&gw).await;
            assert_eq!(status, 422, "round {round}: {answer}");
            assert_eq!(
                chat_as(&gw, &key, &model).await,
                401,
                "round {round}: invalid applied"
            );
        }
        // The limited key's five requests fill its window until a minute after they ran.
        if filled.elapsed() < std::time::Duration::from_secs(50) {
            assert_eq!(
                chat_as(&gw, windowed_key, "steady").await,
                429,
                "round {round}"
            );
        }
    }
    let _ = stop.send(true);
    let tally = load.await.expect("load task");
    assert!(
        tally.failures.is_empty(),
        "{} of {} requests failed, first: {:?}",
        tally.failures.len(),
        tally.ok + tally.failures.len() as u64,
        &tally.failures[..tally.failures.len().min(5)]
    );
    eprintln!(
        "reload soak: {} requests in {secs} s, {} failed, 20 reloads",
        tally.ok,
        tally.failures.len()
    );
    assert!(
        tally.ok >= secs * 100,
        "the load ran: {} requests",
        tally.ok
    );
    assert_eq!(config_version(&gw).await, 11);
}
