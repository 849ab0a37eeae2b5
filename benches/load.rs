//! Load harness: the same requests sent directly to a mock provider, through nginx
//! `proxy_pass` (when nginx is installed) and through sluice, in one run, so the figures can be
//! quoted as ratios to the direct baseline on a shared, noisy machine.
//!
//!     cargo bench --bench load -- [--seconds 10] [--concurrency 32]
//!
//! Each path gets the same warm-up, then `--seconds` of closed-loop load at `--concurrency`;
//! the report gives requests per second and latency percentiles for a small non-streamed chat
//! completion and for a streamed one (time to the last byte).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sluice");
const KEY: &str = "sk-load-harness-key";
/// A key with every limit and a budget (and a team with a budget), none of them reached.
const GOVERNED_KEY: &str = "sk-load-governed-key";

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn wait_for(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nothing listening on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Report {
    requests: usize,
    errors: usize,
    seconds: f64,
    latencies: Vec<Duration>,
}

impl Report {
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
    /// One line of a results table: group, path, req/s, p50, p90, p99, errors.
    fn print_row(&self, group: &str, name: &str) {
        println!(
            "{group:<8} {name:<16} {:>9.0} {:>9.2?} {:>9.2?} {:>9.2?} {:>7}",
            self.rps(),
            self.percentile(0.5),
            self.percentile(0.9),
            self.percentile(0.99),
            self.errors
        );
    }
}

async fn run_load(url: String, body: &'static str, seconds: u64, concurrency: usize) -> Report {
    run_load_with(url, body, seconds, concurrency, KEY, &[]).await
}

async fn run_load_with(
    url: String,
    body: &'static str,
    seconds: u64,
    concurrency: usize,
    key: &'static str,
    headers: &'static [(&'static str, &'static str)],
) -> Report {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..concurrency {
        let (client, url, stop) = (client.clone(), url.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let mut request = client
                    .post(&url)
                    .bearer_auth(key)
                    .header("content-type", "application/json");
                for (name, value) in headers {
                    request = request.header(*name, *value);
                }
                let ok = match request.body(body).send().await {
                    Ok(resp) => resp.status() == 200 && resp.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut report = Report {
        requests: 0,
        errors: 0,
        seconds: 0.0,
        latencies: Vec::new(),
    };
    for task in tasks {
        let (latencies, errors) = task.await.unwrap();
        report.errors += errors;
        report.latencies.extend(latencies);
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.requests = report.latencies.len();
    report.latencies.sort();
    report
}

fn start_nginx(dir: &std::path::Path, listen: SocketAddr, upstream: SocketAddr) -> Option<Killed> {
    let nginx = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1; daemon off; error_log stderr error; pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
  uwsgi_temp_path {dir}; scgi_temp_path {dir};
  upstream mock {{ server {upstream}; keepalive 128; }}
  server {{
    listen {listen};
    location / {{
      proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection \"\";
      proxy_buffering off;
    }}
  }}
}}
",
            dir = dir.display()
        ),
    )
    .ok()?;
    let child = Command::new(nginx)
        .args([
            "-p",
            &dir.display().to_string(),
            "-c",
            &conf.display().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    wait_for(listen);
    Some(Killed(child))
}

/// The governed key's limits, high enough never to refuse, so the figures are the cost of
/// checking and settling them on every request.
const GOVERNED: &str = "  - {name: governed, key: sk-load-governed-key, team: loadteam, limits: {rpm: 1000000000, tpm: 100000000000, concurrency: 100000}, budget: {usd: 1000000000, period: monthly}}\nteams:\n  - {name: loadteam, limits: {rpm: 1000000000}, budget: {usd: 1000000000, period: monthly}}\n";

fn start_gateway(config: &std::path::Path) -> Killed {
    Killed(
        Command::new(BIN)
            .args(["serve", "-c", &config.display().to_string()])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The same gateway with its state in a fresh `redis-server`, when one is installed.
fn start_redis_gateway(
    dir: &std::path::Path,
    config: &std::path::Path,
) -> Option<(Killed, Killed, SocketAddr)> {
    let port = free_addr().port();
    let redis = Killed(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?,
    );
    wait_for(SocketAddr::from(([127, 0, 0, 1], port)));
    let addr = free_addr();
    let text = std::fs::read_to_string(config).ok()?;
    let listen = text.lines().next()?.to_owned();
    let text = text
        .replace(&listen, &format!("listen: {addr}"))
        .replace("s.pid", "r.pid")
        .replace("s.sock", "r.sock");
    let state_line = text.lines().find(|l| l.starts_with("state:"))?.to_owned();
    let text = text.replace(
        &state_line,
        &format!("state: {{backend: redis, url: \"redis://127.0.0.1:{port}/0\"}}"),
    );
    let path = dir.join("redis.yaml");
    std::fs::write(&path, text).ok()?;
    let gateway = start_gateway(&path);
    wait_for(addr);
    Some((redis, gateway, addr))
}

fn main() {
    // `cargo bench` passes `--bench`; only run when invoked as a bench.
    let seconds = arg("--seconds", 10);
    let concurrency = arg("--concurrency", 32) as usize;
    let dir = tempfile::tempdir().unwrap();

    let anthropic_addr = free_addr();
    let _anthropic_mock = Killed(
        Command::new(BIN)
            .args([
                "mock",
                "--kind",
                "anthropic",
                "--listen",
                &anthropic_addr.to_string(),
                "--chunks",
                "8",
                "--chunk-delay-ms",
                "0",
                "--threads",
                "1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(anthropic_addr);
    let mock_addr = free_addr();
    let _mock = Killed(
        Command::new(BIN)
            .args([
                "mock",
                "--listen",
                &mock_addr.to_string(),
                "--chunks",
                "8",
                "--chunk-delay-ms",
                "0",
                "--threads",
                "1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(mock_addr);

    let gw_addr = free_addr();
    let config = dir.path().join("sluice.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {gw_addr}\nserver: {{threads: 1, pid_file: {d}/s.pid, upgrade_sock: {d}/s.sock}}\nproviders:\n  mock: {{kind: openai, endpoints: [{{url: \"http://{mock_addr}\"}}], api_keys: [sk-upstream]}}\n  claude: {{kind: anthropic, endpoints: [{{url: \"http://{anthropic_addr}\"}}], api_keys: [sk-ant]}}\nmodels:\n  - {{name: gpt-4o-mini, targets: [{{provider: mock, model: gpt-4o-mini}}]}}\n  - {{name: claude, targets: [{{provider: claude, model: claude-sonnet-4-5}}]}}\n  - {{name: guarded, targets: [{{provider: mock, model: gpt-4o-mini}}], guardrails: [{{name: pii, detect: [email, phone, credit_card, ssn, iban, ip_address, private_key, api_key], action: redact}}]}}\nkeys:\n  - {{name: load, key: {KEY}}}\n{GOVERNED}state: {{path: {d}/state}}\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let _gateway = start_gateway(&config);
    wait_for(gw_addr);
    // The same gateway as operators run it: the access log on (to a discarded stderr) and an
    // audit log, what the request path pays per request for its records.
    let logged_addr = free_addr();
    let logged_config = dir.path().join("logged.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &logged_config,
        text.replace(&gw_addr.to_string(), &logged_addr.to_string())
            .replace("s.pid", "l.pid")
            .replace("s.sock", "l.sock")
            .replace("/state}", "/logged-state}")
            + &format!("audit: {{path: {}/audit.jsonl}}\n", dir.path().display()),
    )
    .unwrap();
    let _logged = Killed(
        Command::new(BIN)
            .args(["serve", "-c", &logged_config.display().to_string()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(logged_addr);

    let nginx_addr = free_addr();
    let nginx = start_nginx(dir.path(), nginx_addr, mock_addr);

    let mut paths = vec![("direct", mock_addr)];
    if nginx.is_some() {
        paths.push(("nginx", nginx_addr));
    }
    paths.push(("sluice", gw_addr));
    paths.push(("sluice+logs", logged_addr));

    const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in five words."}],"temperature":0.2}"#;
    const STREAM: &str = r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello in five words."}]}"#;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("load: {seconds}s per path, concurrency {concurrency}, one worker thread per server");
    for (label, body) in [("chat", CHAT), ("stream", STREAM)] {
        println!(
            "\n{label:<8} {:<16} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "path", "req/s", "p50", "p90", "p99", "errors"
        );
        let mut baseline: Option<(f64, Duration)> = None;
        for (name, addr) in &paths {
            let url = format!("http://{addr}/v1/chat/completions");
            runtime.block_on(run_load(url.clone(), body, 1, concurrency));
            let r = runtime.block_on(run_load(url, body, seconds, concurrency));
            let p50 = r.percentile(0.5);
            r.print_row(label, name);
            match baseline {
                None => baseline = Some((r.rps(), p50)),
                Some((rps0, p50_0)) => println!(
                    "{:<17} throughput {:.2}x direct, p50 {:.2}x direct (+{:.0?})",
                    "",
                    r.rps() / rps0,
                    p50.as_secs_f64() / p50_0.as_secs_f64(),
                    p50.saturating_sub(p50_0)
                ),
            }
        }
    }

    // Translation: an OpenAI client through sluice to an Anthropic provider, against the same
    // Anthropic mock spoken to directly in its own dialect.
    const ANTHROPIC_DIRECT: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":256,"system":"You are terse.","messages":[{"role":"user","content":"Say hello in five words."}]}"#;
    const OPENAI_TO_CLAUDE: &str = r#"{"model":"claude","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in five words."}],"max_tokens":256}"#;
    println!(
        "\n{:<8} {:<16} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "translate", "path", "req/s", "p50", "p90", "p99", "errors"
    );
    let direct_url = format!("http://{anthropic_addr}/v1/messages");
    let sluice_url = format!("http://{gw_addr}/v1/chat/completions");
    const ANTHROPIC_HEADERS: &[(&str, &str)] =
        &[("x-api-key", "sk-ant"), ("anthropic-version", "2023-06-01")];
    runtime.block_on(run_load_with(
        direct_url.clone(),
        ANTHROPIC_DIRECT,
        1,
        concurrency,
        KEY,
        ANTHROPIC_HEADERS,
    ));
    let direct = runtime.block_on(run_load_with(
        direct_url,
        ANTHROPIC_DIRECT,
        seconds,
        concurrency,
        KEY,
        ANTHROPIC_HEADERS,
    ));
    runtime.block_on(run_load(
        sluice_url.clone(),
        OPENAI_TO_CLAUDE,
        1,
        concurrency,
    ));
    let translated = runtime.block_on(run_load(sluice_url, OPENAI_TO_CLAUDE, seconds, concurrency));
    for (name, r) in [
        ("direct-anthropic", &direct),
        ("sluice-openai->anthropic", &translated),
    ] {
        r.print_row("", name);
    }
    println!(
        "{:<25} throughput {:.2}x direct, p50 +{:.0?}",
        "",
        translated.rps() / direct.rps(),
        translated
            .percentile(0.5)
            .saturating_sub(direct.percentile(0.5))
    );

    // Governance: the same chat with a key that has every limit and a budget (never reached),
    // against the ungoverned key, on the embedded state and on Redis.
    println!(
        "\n{:<8} {:<16} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "govern", "path", "req/s", "p50", "p90", "p99", "errors"
    );
    let redis = start_redis_gateway(dir.path(), &config);
    let mut runs = vec![
        ("ungoverned", gw_addr, KEY),
        ("embedded", gw_addr, GOVERNED_KEY),
    ];
    if let Some((_, _, addr)) = &redis {
        runs.push(("redis", *addr, GOVERNED_KEY));
    }
    let mut baseline: Option<f64> = None;
    for (name, addr, key) in runs {
        let url = format!("http://{addr}/v1/chat/completions");
        runtime.block_on(run_load_with(url.clone(), CHAT, 1, concurrency, key, &[]));
        let r = runtime.block_on(run_load_with(url, CHAT, seconds, concurrency, key, &[]));
        r.print_row("", name);
        match baseline {
            None => baseline = Some(r.rps()),
            Some(rps0) => println!("{:<25} throughput {:.2}x ungoverned", "", r.rps() / rps0),
        }
    }
    drop(redis);

    // Guardrails: the same chat, whole and streamed, to a model with every detector redacting
    // on both sides (request body scanned, answer scanned; the stream decoded, guarded and
    // re-encoded), against the same model without rules.
    println!(
        "\n{:<8} {:<16} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "guard", "path", "req/s", "p50", "p90", "p99", "errors"
    );
    let guarded = |body: &str| -> &'static str {
        Box::leak(body.replacen("gpt-4o-mini", "guarded", 1).into_boxed_str())
    };
    let (chat_on, stream_on) = (guarded(CHAT), guarded(STREAM));
    let url = format!("http://{gw_addr}/v1/chat/completions");
    for (kind, off, on) in [("chat", CHAT, chat_on), ("stream", STREAM, stream_on)] {
        let mut rates = Vec::new();
        for (name, body) in [("off", off), ("on", on)] {
            runtime.block_on(run_load(url.clone(), body, 1, concurrency));
            let r = runtime.block_on(run_load(url.clone(), body, seconds, concurrency));
            r.print_row(kind, name);
            rates.push(r.rps());
        }
        println!(
            "{:<25} throughput {:.2}x without guardrails",
            "",
            rates[1] / rates[0]
        );
    }
}
