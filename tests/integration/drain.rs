//! Graceful shutdown and upgrade: SIGTERM lets every request finish and says what it waits for;
//! `serve -u` + SIGQUIT under load loses no request and cuts no stream, and the spend both
//! processes wrote adds up to what the audit log says.

use crate::common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const BUDGET_KEY: &str = "sk-test-budgeted-0004";

/// Model `steady` on `mock` (priced), a key with a large budget, an audit log and the state in
/// `dir`.
fn config(mock: &Mock, dir: &std::path::Path) -> String {
    format!(
        "providers:\n  p: {{kind: openai, endpoints: [{{url: \"{url}\"}}], api_keys: [\"{UPSTREAM_KEY}\"]}}\n\
         models:\n  - {{name: steady, targets: [{{provider: p, model: up}}], price: {{input_per_mtok: 3, output_per_mtok: 15}}}}\n\
         keys:\n  - {{name: budgeted, key: \"{BUDGET_KEY}\", budget: {{usd: 1000, period: total}}}}\n\
         state: {{path: \"{state}\"}}\naudit: {{path: \"{audit}\"}}\n",
        url = mock.url(),
        state = dir.join("state").display(),
        audit = dir.join("audit.jsonl").display(),
    )
}

/// A raw HTTP/1.1 request on `stream`; the response head and body as text (read up to the
/// end of the body `Content-Length` announces).
fn raw_chat(stream: &mut std::net::TcpStream) -> String {
    let body = chat_body("steady").to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {BUDGET_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|n| rest.len() >= n) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn sigterm_finishes_streams_serves_kept_alive_connections_and_says_what_it_waits_for() {
    let mock = Mock::start("slow", &["--chunks", "20", "--chunk-delay-ms", "100"]);
    let dir = temp_dir();
    let mut gw = Gateway::start_with_server("  grace_period: 30s\n", &config(&mock, dir.path()));
    let mut kept_alive = std::net::TcpStream::connect(gw.addr).expect("connect");
    let first = raw_chat(&mut kept_alive);
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");

    let url = gw.url("/v1/chat/completions");
    let stream = tokio::spawn(async move {
        let mut body = chat_body("steady");
        body["stream"] = json!(true);
        let resp = client()
            .post(url)
            .bearer_auth(BUDGET_KEY)
            .json(&body)
            .send()
            .await
            .expect("stream starts");
        resp.text().await.expect("the whole stream")
    });
    eventually("the stream under way", || async {
        (mock.count().await >= 2).then_some(())
    })
    .await;
    gw.proc.signal("TERM");
    let log = eventually("the drain report", || async {
        let log = gw.proc.log();
        log.contains("shutting down: waiting").then_some(log)
    })
    .await;
    assert!(
        log.contains("waiting up to 30s for 1 request(s) in flight (1 streaming)"),
        "{log}"
    );
    // A request on a kept-alive connection is still served, and told to close.
    let second = raw_chat(&mut kept_alive);
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    assert!(
        second.to_ascii_lowercase().contains("connection: close"),
        "{second}"
    );

    let streamed = stream.await.expect("stream task");
    assert!(streamed.trim_end().ends_with("data: [DONE]"), "{streamed}");
    gw.proc.wait_exit("SIGTERM");
    let log = gw.proc.log();
    assert!(log.contains("every request finished"), "{log}");
    let records = audit_records(&dir.path().join("audit.jsonl"));
    assert_eq!(records.len(), 3, "one audit line per request");
    assert_eq!(
        ledger_spend(&dir.path().join("state"), "budgeted"),
        audit_spend(&records, "budgeted")
    );
}

/// A client of the load: one kept-alive connection pool, requests back to back, every other
/// one streamed, until `stop`.
async fn client_loop(
    url: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
) {
    let http = client();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let stream = n % 2 == 0;
        let mut body = chat_body("steady");
        body["stream"] = json!(stream);
        let outcome = match http
            .post(&url)
            .bearer_auth(BUDGET_KEY)
            .json(&body)
            .send()
            .await
        {
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.text().await {
                    Ok(text)
                        if status == 200 && stream && text.trim_end().ends_with("data: [DONE]") =>
                    {
                        Ok(())
                    }
                    Ok(text) if status == 200 && !stream && text.contains("\"choices\"") => Ok(()),
                    Ok(text) => Err(format!(
                        "{status} stream={stream}: {}",
                        &text[..text.len().min(200)]
                    )),
                    Err(e) => Err(format!("{status} stream={stream}: body cut: {e}")),
                }
            }
            Err(e) => Err(format!("stream={stream}: {e:?}")),
        };
        match outcome {
            Ok(()) => {
                ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => failures.lock().unwrap().push(e),
        }
    }
}

// Several threads: the clients keep going while the test waits on processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upgrade_under_load_loses_no_request_and_the_ledger_matches_the_audit_log() {
    let mock = Mock::start("up", &[]);
    let dir = temp_dir();
    let mut gw = Gateway::start_with_server("  grace_period: 30s\n", &config(&mock, dir.path()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            tokio::spawn(client_loop(
                gw.url("/v1/chat/completions"),
                stop.clone(),
                ok.clone(),
                failures.clone(),
            ))
        })
        .collect();
    let count = |n: u64| {
        let ok = ok.clone();
        async move { (ok.load(Ordering::Relaxed) >= n).then_some(()) }
    };
    eventually("the load under way", || count(300)).await;

    let old = tokio::task::block_in_place(|| {
        let mut old = gw.upgrade();
        old.wait_exit("SIGQUIT");
        old
    });
    let old_log = old.log();
    assert!(old_log.contains("every request finished"), "{old_log}");
    let after = ok.load(Ordering::Relaxed);
    eventually("the new process serving", || count(after + 300)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client task");
    }
    let failures = failures.lock().unwrap().clone();
    let total = ok.load(Ordering::Relaxed);
    eprintln!(
        "upgrade under load: {total} requests, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} requests failed across the upgrade, first: {:?}",
        failures.len(),
        total + failures.len() as u64,
        &failures[..failures.len().min(5)]
    );

    gw.proc.signal_and_wait("TERM");
    let records = audit_records(&dir.path().join("audit.jsonl"));
    assert_eq!(
        records.len() as u64,
        total,
        "one audit line per request, both processes"
    );
    let spent = audit_spend(&records, "budgeted");
    assert!(spent > 0);
    assert_eq!(ledger_spend(&dir.path().join("state"), "budgeted"), spent);
}
