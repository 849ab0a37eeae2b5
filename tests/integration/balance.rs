//! Adaptive balancing (`balance: adaptive`): traffic goes where answers come faster and
//! failures are fewer, comes back when a slow endpoint recovers, and leaves a failing one
//! before its circuit breaker trips.

use crate::common::*;
use serde_json::json;

fn config(fast: &Mock, slow: &Mock, breaker_failures: u32) -> String {
    format!(
        r#"
circuit_breaker: {{failures: {breaker_failures}, cooldown: 30s}}
providers:
  pool: {{kind: openai, endpoints: [{{url: "{}"}}, {{url: "{}"}}], api_keys: ["k"]}}
models:
  - name: smart
    balance: adaptive
    targets: [{{provider: pool, model: m}}]
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
"#,
        fast.url(),
        slow.url()
    )
}

async fn posts(mock: &Mock) -> u64 {
    mock.received().await["posts"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn the_faster_endpoint_gets_the_traffic_and_a_recovered_one_gets_it_back() {
    let fast = Mock::start("fast", &["--chunk-delay-ms", "0"]);
    let slow = Mock::start("slow", &["--chunk-delay-ms", "0", "--delay-ms", "150"]);
    let gw = Gateway::start(&config(&fast, &slow, 5));
    for _ in 0..500 {
        assert_eq!(gw.chat("smart").await.status(), 200);
    }
    let (to_fast, to_slow) = (posts(&fast).await, posts(&slow).await);
    eprintln!("one endpoint 150 ms slower: {to_fast} fast, {to_slow} slow of 500");
    assert_eq!(to_fast + to_slow, 500);
    assert!(to_fast >= 450, "{to_fast} of 500 to the fast endpoint");

    // The slow one becomes as fast: it is probed again and gets its share back.
    slow.set_faults(json!({"delay_ms": 0, "chunk_delay_ms": 0}))
        .await;
    let started = std::time::Instant::now();
    let mut sent = 0;
    // Rounds of 50 until it gets a fair part of one (the safety net only turns a regression
    // into a failure instead of a hang).
    let shared = loop {
        let before = posts(&slow).await;
        for _ in 0..50 {
            assert_eq!(gw.chat("smart").await.status(), 200);
        }
        sent += 50;
        let got = posts(&slow).await - before;
        if got >= 15 {
            break got;
        }
        assert!(
            sent < 100_000,
            "the recovered endpoint never got traffic back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    eprintln!(
        "after it recovered: {shared} of 50 to it, {:.1} s and {sent} requests later",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn a_failing_endpoint_loses_its_traffic_before_its_breaker_trips() {
    let good = Mock::start("good", &["--chunk-delay-ms", "0"]);
    let failing = Mock::start("failing", &["--chunk-delay-ms", "0"]);
    let gw = Gateway::start(&config(&good, &failing, 5));
    for _ in 0..40 {
        assert_eq!(gw.chat("smart").await.status(), 200);
    }
    assert!(posts(&failing).await > 0, "both endpoints served");
    failing.set_faults(json!({"status": 503})).await;
    let before = posts(&failing).await;
    for _ in 0..200 {
        assert_eq!(
            gw.chat("smart").await.status(),
            200,
            "retried on the good one"
        );
    }
    let failures = posts(&failing).await - before;
    eprintln!("a failing endpoint got {failures} of the next 200 requests");
    assert!(
        failures < 5,
        "{failures} failures: the breaker (5) never had to trip"
    );
    let ejected = metric(
        &gw,
        &format!(
            "sluice_endpoint_ejected{{endpoint=\"{}\",provider=\"pool\"}}",
            failing.addr
        ),
    )
    .await;
    assert_eq!(ejected, 0.0);
}
