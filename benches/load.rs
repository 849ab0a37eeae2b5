//! Load harness: the same requests sent directly to a mock provider, through nginx
//! `proxy_pass` (when nginx is installed), through a bare Pingora proxy and through sluice, in
//! one run, so every figure can be quoted as a ratio to baselines measured alongside it on a
//! shared, noisy machine.
//!
//!     cargo bench --bench load -- [--seconds 3] [--rounds 5] [--concurrency 64] [--pgo]
//!
//! Systems:
//! - `direct`: the OpenAI mock itself, the baseline of added latency;
//! - `nginx`: `proxy_pass`, 1 worker, upstream keepalive 64, access log with `buffer=64k`;
//! - `bare-pingora`: a `ProxyHttp` that only sets the peer, run by this binary in a child
//!   process: the floor of our own stack, which tells Pingora's cost from ours;
//! - `sluice-pass`: sluice passthrough, a key check, access and audit logs on;
//! - `sluice-full`: a key with rpm/tpm/concurrency limits and a budget (never reached), audit
//!   on, an OpenAI request translated to the Anthropic mock;
//! - `direct-anthropic`: the Anthropic mock in its own dialect, `sluice-full`'s baseline;
//! - with `--pgo`, `sluice-pgo-pass` and `sluice-pgo-full`: the same two gateways from the
//!   profile-guided build `deploy/pgo-build` leaves in `target/pgo/release/sluice`.
//!
//! Scenarios, each `--rounds` rounds of `--seconds` per system with the order of systems
//! reversed every other round, medians reported: a chat at c=1 (added p50/p99/p99.9), a chat at
//! `--concurrency` (req/s, CPU per request), a streamed chat at c=1 (added time to first byte)
//! paced like a model's tokens and again sent in one burst, the burst at `--concurrency`; then
//! idle RSS before and after load. Every figure is printed as a ratio to nginx and to bare
//! Pingora; the tables are Markdown, ready for the README. Sections on translation, governance
//! and guardrails follow with fewer rounds.
//!
//! Then the memory scenarios (`load/streams.rs`): `--streams` (10,000) concurrent open streams
//! through nginx, bare Pingora and sluice (RSS open, per stream, after; CPU while open) and a
//! soak of `--soak-seconds` (600) on sluice-full (RSS every minute). `--only` picks parts:
//! `latency` (the four scenarios and idle RSS), `sections`, `streams`, `soak`, comma-separated.
//!
//! Every server runs one worker thread, like sluice's `server: {threads: 1}`; the load
//! generator shares the machine's cores with them.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "load/streams.rs"]
mod streams;

/// The bare Pingora child runs with the allocator sluice runs with, so an allocator difference
/// is not counted as the cost of our code.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const BIN: &str = env!("CARGO_BIN_EXE_sluice");
const KEY: &str = "sk-load-harness-key";
/// A key with every limit and a budget (and a team with a budget), none of them reached.
const GOVERNED_KEY: &str = "sk-load-governed-key";
/// Set to `listen,upstream` in a child process of this binary, which then serves the bare
/// Pingora proxy instead of running the harness.
const BARE_ENV: &str = "SLUICE_BENCH_BARE";

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in five words."}],"temperature":0.2}"#;
const STREAM: &str = r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello in five words."}]}"#;
const ANTHROPIC_CHAT: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":256,"system":"You are terse.","messages":[{"role":"user","content":"Say hello in five words."}]}"#;
const ANTHROPIC_STREAM: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"Say hello in five words."}]}"#;
const OPENAI_TO_CLAUDE: &str = r#"{"model":"claude","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in five words."}],"max_tokens":256}"#;
const OPENAI_TO_CLAUDE_STREAM: &str = r#"{"model":"claude","stream":true,"messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":256}"#;
const ANTHROPIC_HEADERS: &[(&str, &str)] =
    &[("x-api-key", "sk-ant"), ("anthropic-version", "2023-06-01")];

/// The floor of a Pingora proxy: no context, no filters, one peer. Anything sluice spends
/// above it is ours.
mod bare {
    use async_trait::async_trait;
    use pingora::proxy::{http_proxy_service, ProxyHttp, Session};
    use pingora::server::configuration::{Opt, ServerConf};
    use pingora::server::Server;
    use pingora::upstreams::peer::HttpPeer;
    use std::net::SocketAddr;

    struct Bare {
        upstream: SocketAddr,
    }

    #[async_trait]
    impl ProxyHttp for Bare {
        type CTX = ();
        fn new_ctx(&self) {}

        async fn upstream_peer(
            &self,
            _session: &mut Session,
            _ctx: &mut (),
        ) -> pingora::Result<Box<HttpPeer>> {
            Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
        }
    }

    /// Serves `listen,upstream` (the value of `BARE_ENV`) until killed, with the server
    /// settings sluice uses that bear on cost: one worker thread, no daemon.
    pub fn serve(spec: &str) -> ! {
        let (listen, upstream) = spec.split_once(',').expect("listen,upstream");
        let run = std::env::temp_dir().join(format!("sluice-bare-{}", std::process::id()));
        let mut conf = ServerConf {
            threads: 1,
            pid_file: format!("{}.pid", run.display()),
            upgrade_sock: format!("{}.sock", run.display()),
            ..ServerConf::default()
        };
        conf.version = 1;
        let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
        server.bootstrap();
        let bare = Bare {
            upstream: upstream.parse().expect("upstream address"),
        };
        let mut proxy = http_proxy_service(&server.configuration, bare);
        proxy.add_tcp(listen);
        server.add_service(proxy);
        server.run_forever()
    }
}

struct Killed(Child);
impl Killed {
    fn id(&self) -> u32 {
        self.0.id()
    }
}
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

/// Whether `--only` (a comma-separated list of parts) includes `part`; all parts without it.
fn part(part: &str) -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .is_none_or(|parts| parts.split(',').any(|p| p == part))
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `pid` and its descendants: nginx's master forks the worker that does the work.
fn process_tree(pid: u32) -> Vec<u32> {
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        let children = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&p| stat_fields(p).and_then(|f| f.get(1)?.parse().ok()) == Some(parent));
        tree.extend(children);
        i += 1;
    }
    tree
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces), so index
/// 0 is field 3 (`state`), 1 is `ppid`, 11 and 12 are `utime` and `stime`.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// User plus system CPU time of `pid` and its descendants, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    process_tree(pid)
        .into_iter()
        .filter_map(stat_fields)
        .map(|f| {
            let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            field(11) + field(12)
        })
        .sum()
}

/// Microseconds per clock tick, from `getconf CLK_TCK` (100 on Linux; assumed if getconf is
/// missing).
fn tick_us() -> f64 {
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    1e6 / hz
}

/// Resident memory of `pid` and its descendants, in MiB (`VmRSS` of `/proc/<pid>/status`).
fn rss_mib(pid: u32) -> f64 {
    process_tree(pid)
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
            text.lines()
                .find_map(|l| l.strip_prefix("VmRSS:")?.trim().strip_suffix("kB"))
                .and_then(|kb| kb.trim().parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        })
        .sum()
}

/// One request as a client sends it.
#[derive(Clone)]
struct Target {
    url: String,
    body: &'static str,
    key: &'static str,
    headers: &'static [(&'static str, &'static str)],
}

impl Target {
    fn openai(addr: SocketAddr, body: &'static str, key: &'static str) -> Self {
        Target {
            url: format!("http://{addr}/v1/chat/completions"),
            body,
            key,
            headers: &[],
        }
    }
    fn anthropic(addr: SocketAddr, body: &'static str) -> Self {
        Target {
            url: format!("http://{addr}/v1/messages"),
            body,
            key: KEY,
            headers: ANTHROPIC_HEADERS,
        }
    }
}

/// What the load generator saw in one run: sorted latencies to the last byte and to the first
/// byte of the body (for a stream, the first event).
struct Report {
    errors: usize,
    seconds: f64,
    latencies: Vec<Duration>,
    first_bytes: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Reads a response to its end; the time of its first body chunk, `None` on an error.
async fn drain(mut resp: reqwest::Response, started: Instant) -> Option<Duration> {
    if resp.status() != 200 {
        return None;
    }
    let mut first = None;
    loop {
        match resp.chunk().await {
            Ok(Some(_)) => {
                first.get_or_insert_with(|| started.elapsed());
            }
            Ok(None) => return Some(first.unwrap_or_else(|| started.elapsed())),
            Err(_) => return None,
        }
    }
}

/// Closed-loop load: `concurrency` clients each sending `target` back to back for `seconds`.
async fn run_load(target: Target, seconds: f64, concurrency: usize) -> Report {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let target = Arc::new(target);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..concurrency {
        let (client, target, stop) = (client.clone(), target.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut first_bytes, mut errors) = (Vec::new(), Vec::new(), 0);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let mut request = client
                    .post(&target.url)
                    .bearer_auth(target.key)
                    .header("content-type", "application/json");
                for (name, value) in target.headers {
                    request = request.header(*name, *value);
                }
                let first = match request.body(target.body).send().await {
                    Ok(resp) => drain(resp, t).await,
                    Err(_) => None,
                };
                match first {
                    Some(first) => {
                        latencies.push(t.elapsed());
                        first_bytes.push(first);
                    }
                    None => errors += 1,
                }
            }
            (latencies, first_bytes, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut report = Report {
        errors: 0,
        seconds: 0.0,
        latencies: Vec::new(),
        first_bytes: Vec::new(),
    };
    for task in tasks {
        let (latencies, first_bytes, errors) = task.await.unwrap();
        report.errors += errors;
        report.latencies.extend(latencies);
        report.first_bytes.extend(first_bytes);
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.latencies.sort();
    report.first_bytes.sort();
    report
}

/// A system under test: what it is sent and which processes its costs are read from.
#[derive(Clone)]
struct System {
    name: &'static str,
    chat: Target,
    stream: Target,
    /// The proxy's process (with its descendants); `None` when the client talks to a mock.
    proxy: Option<u32>,
    /// The mock behind it: its CPU per request should be the same whoever sends to it.
    upstream: u32,
    /// Index of the `direct*` system whose latency this one adds to.
    baseline: usize,
}

struct Scenario {
    title: &'static str,
    stream: bool,
    concurrency: usize,
    /// Streams paced like a model's tokens (`PACED`) instead of sent all at once.
    paced: bool,
}

/// The mocks' streams while a paced scenario runs (`POST /__mock/faults`): the first event at
/// once, the rest `chunk_delay_ms` apart, as a model streams its tokens. Each event then reaches
/// the proxy on its own, so time to first byte is the cost of the request and its first
/// event, not of translating and metering a whole answer that arrived in one read. 16 chunks
/// 20 ms apart (a real model's pace) would isolate it the same way but last 300 ms a request;
/// one content chunk (five events) 5 ms apart lasts 20 ms, so a round holds about 150.
const PACED: &str = r#"{"chunks":1,"chunk_delay_ms":5}"#;
/// Content chunks of the mocks' streams otherwise, all sent at once (as `start_mock` starts them).
const BURST_CHUNKS: u32 = 8;

/// The figures of one measured run of one system.
struct Sample {
    rps: f64,
    errors: usize,
    /// Proxy CPU (utime + stime) per request, in µs; `None` for a direct system.
    proxy_cpu_us: Option<f64>,
    upstream_cpu_us: f64,
    /// p50, p99, p99.9 to the last byte, in µs.
    latency: [f64; 3],
    /// The same to the first byte of the body.
    first_byte: [f64; 3],
}

const PERCENTILES: [f64; 3] = [0.5, 0.99, 0.999];

struct Bench {
    runtime: tokio::runtime::Runtime,
    /// The mock providers, whose stream pacing a scenario may change.
    mocks: Vec<SocketAddr>,
    seconds: f64,
    concurrency: usize,
    tick_us: f64,
}

impl Bench {
    /// One run of `system` under `scenario`, with CPU read before and after it.
    fn measure(&self, system: &System, scenario: &Scenario, warm_up: bool) -> Sample {
        let target = if scenario.stream {
            &system.stream
        } else {
            &system.chat
        };
        if warm_up {
            self.runtime
                .block_on(run_load(target.clone(), 1.0, scenario.concurrency));
        }
        let proxy_before = system.proxy.map(cpu_ticks);
        let upstream_before = cpu_ticks(system.upstream);
        let r = self
            .runtime
            .block_on(run_load(target.clone(), self.seconds, scenario.concurrency));
        let requests = r.latencies.len().max(1) as f64;
        let per_request = |ticks: u64| ticks as f64 * self.tick_us / requests;
        let micros =
            |sorted: &[Duration]| PERCENTILES.map(|p| percentile(sorted, p).as_secs_f64() * 1e6);
        Sample {
            rps: r.latencies.len() as f64 / r.seconds,
            errors: r.errors,
            proxy_cpu_us: system
                .proxy
                .zip(proxy_before)
                .map(|(pid, before)| per_request(cpu_ticks(pid) - before)),
            upstream_cpu_us: per_request(cpu_ticks(system.upstream) - upstream_before),
            latency: micros(&r.latencies),
            first_byte: micros(&r.first_bytes),
        }
    }

    /// `rounds` runs of every system, the order reversed every other round so that no system
    /// always follows the same neighbour; `samples[system][round]`. A paced scenario paces the
    /// mocks' streams while it runs.
    fn rounds(&self, systems: &[System], scenario: &Scenario, rounds: usize) -> Vec<Vec<Sample>> {
        if scenario.paced {
            self.set_mock_faults(PACED);
        }
        let samples = self.alternating_rounds(systems, scenario, rounds);
        if scenario.paced {
            self.set_mock_faults(&format!(
                r#"{{"chunks":{BURST_CHUNKS},"chunk_delay_ms":0}}"#
            ));
        }
        samples
    }

    fn alternating_rounds(
        &self,
        systems: &[System],
        scenario: &Scenario,
        rounds: usize,
    ) -> Vec<Vec<Sample>> {
        let mut samples: Vec<Vec<Sample>> = systems.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            let mut order: Vec<usize> = (0..systems.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for i in order {
                samples[i].push(self.measure(&systems[i], scenario, round == 0));
            }
        }
        samples
    }

    /// Replaces every mock's faults (`POST /__mock/faults`), which set how its streams are paced.
    fn set_mock_faults(&self, faults: &str) {
        self.runtime.block_on(async {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            for mock in &self.mocks {
                let resp = client
                    .post(format!("http://{mock}/__mock/faults"))
                    .body(faults.to_owned())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200, "mock {mock} refused faults {faults}");
            }
        });
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Per system, the median over rounds of a figure (`None` when no round has it).
fn medians(samples: &[Vec<Sample>], figure: fn(&Sample) -> Option<f64>) -> Vec<Option<f64>> {
    samples
        .iter()
        .map(|rounds| {
            let values: Vec<f64> = rounds.iter().filter_map(figure).collect();
            (!values.is_empty()).then(|| median(values))
        })
        .collect()
}

/// The reference systems every figure is divided by, when present.
struct Refs {
    nginx: Option<usize>,
    bare: Option<usize>,
}

/// One column of figures, one per system, with the ratio columns that follow it.
struct Column {
    title: String,
    values: Vec<Option<f64>>,
    /// The title of a ratio to each row's baseline system, if the column has one.
    to_baseline: Option<&'static str>,
}

fn ratio(value: Option<f64>, base: Option<f64>) -> String {
    match (value, base) {
        (Some(v), Some(b)) if b.abs() > f64::EPSILON => format!("{:.2}", v / b),
        _ => "-".to_owned(),
    }
}

fn cell(value: Option<f64>) -> String {
    match value {
        None => "-".to_owned(),
        Some(v) if v.abs() < 100.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.0}"),
    }
}

/// Prints a Markdown table: a row per system, each column followed by its ratios to the
/// system's direct baseline (when asked), to nginx and to bare Pingora.
fn print_table(systems: &[System], refs: &Refs, columns: &[Column]) {
    let mut header = vec!["system".to_owned()];
    for c in columns {
        header.push(c.title.clone());
        header.extend(c.to_baseline.map(str::to_owned));
        header.extend(refs.nginx.map(|_| "×nginx".to_owned()));
        header.extend(refs.bare.map(|_| "×bare".to_owned()));
    }
    println!("| {} |", header.join(" | "));
    println!("|{}", "---|".repeat(header.len()));
    for (i, system) in systems.iter().enumerate() {
        let mut row = vec![system.name.to_owned()];
        for c in columns {
            let at = |j: Option<usize>| j.and_then(|j| c.values[j]);
            row.push(cell(c.values[i]));
            if c.to_baseline.is_some() {
                row.push(ratio(c.values[i], c.values[system.baseline]));
            }
            if refs.nginx.is_some() {
                row.push(ratio(c.values[i], at(refs.nginx)));
            }
            if refs.bare.is_some() {
                row.push(ratio(c.values[i], at(refs.bare)));
            }
        }
        println!("| {} |", row.join(" | "));
    }
}

/// Throughput and CPU per request: medians over rounds.
fn throughput_table(systems: &[System], refs: &Refs, samples: &[Vec<Sample>]) {
    let columns = [
        Column {
            title: "req/s".to_owned(),
            values: medians(samples, |s| Some(s.rps)),
            to_baseline: Some("×direct"),
        },
        Column {
            title: "proxy CPU µs/req".to_owned(),
            values: medians(samples, |s| s.proxy_cpu_us),
            to_baseline: None,
        },
    ];
    print_table(systems, refs, &columns);
    let errors: usize = samples.iter().flatten().map(|s| s.errors).sum();
    let mock: Vec<String> = systems
        .iter()
        .zip(medians(samples, |s| Some(s.upstream_cpu_us)))
        .map(|(sys, v)| format!("{} {}", sys.name, cell(v)))
        .collect();
    println!(
        "\nmock CPU µs/req (should not depend on the sender): {}; errors: {errors}",
        mock.join(", ")
    );
}

/// Latency added to the direct baseline, per round, then the median over rounds.
fn added_latency_table(
    systems: &[System],
    refs: &Refs,
    samples: &[Vec<Sample>],
    what: &str,
    pick: fn(&Sample) -> [f64; 3],
) {
    let columns: Vec<Column> = ["p50", "p99", "p99.9"]
        .iter()
        .enumerate()
        .map(|(k, name)| Column {
            title: format!("added {what} {name} µs"),
            values: systems
                .iter()
                .enumerate()
                .map(|(i, sys)| {
                    let rounds = samples[i].iter().zip(&samples[sys.baseline]);
                    (i != sys.baseline)
                        .then(|| median(rounds.map(|(s, b)| pick(s)[k] - pick(b)[k]).collect()))
                })
                .collect(),
            to_baseline: None,
        })
        .collect();
    print_table(systems, refs, &columns);
    for (i, sys) in systems.iter().enumerate().filter(|(i, s)| s.baseline == *i) {
        let abs = |k: usize| median(samples[i].iter().map(|s| pick(s)[k]).collect());
        println!(
            "\n{} itself: {what} p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs",
            sys.name,
            abs(0),
            abs(1),
            abs(2)
        );
    }
}

/// Resident memory of each system's process (a direct system: the mock's).
fn rss_column(systems: &[System], title: &str) -> Column {
    Column {
        title: title.to_owned(),
        values: systems
            .iter()
            .map(|s| Some(rss_mib(s.proxy.unwrap_or(s.upstream))))
            .collect(),
        to_baseline: None,
    }
}

/// A single-number comparison for the sections that follow: req/s, p50 and gateway CPU per
/// request, each as a ratio to the first row.
fn section(bench: &Bench, title: &'static str, systems: &[System], rounds: usize, stream: bool) {
    let scenario = Scenario {
        title,
        stream,
        concurrency: bench.concurrency,
        paced: false,
    };
    println!(
        "\n### {} (c={}, median of {rounds})\n",
        scenario.title, scenario.concurrency
    );
    let samples = bench.rounds(systems, &scenario, rounds);
    let systems: Vec<System> = systems
        .iter()
        .map(|s| System {
            baseline: 0,
            ..s.clone()
        })
        .collect();
    let refs = Refs {
        nginx: None,
        bare: None,
    };
    let columns = [
        Column {
            title: "req/s".to_owned(),
            values: medians(&samples, |s| Some(s.rps)),
            to_baseline: Some("×first"),
        },
        Column {
            title: "p50 µs".to_owned(),
            values: medians(&samples, |s| Some(s.latency[0])),
            to_baseline: Some("×first"),
        },
        Column {
            title: "gateway CPU µs/req".to_owned(),
            values: medians(&samples, |s| s.proxy_cpu_us),
            to_baseline: Some("×first"),
        },
    ];
    print_table(&systems, &refs, &columns);
}

/// nginx on `listen` in front of `upstream`, its worker allowed `connections` connections
/// (client and upstream sides both count).
fn start_nginx(
    dir: &std::path::Path,
    listen: SocketAddr,
    upstream: SocketAddr,
    connections: u64,
) -> Option<Killed> {
    let nginx = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let conf = dir.join(format!("nginx-{}.conf", listen.port()));
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1; daemon off; error_log stderr error; pid {dir}/nginx-{port}.pid;
worker_rlimit_nofile {files};
events {{ worker_connections {connections}; }}
http {{
  access_log {dir}/nginx-{port}-access.log combined buffer=64k;
  client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
  uwsgi_temp_path {dir}; scgi_temp_path {dir};
  upstream mock {{ server {upstream}; keepalive 64; }}
  server {{
    listen {listen};
    location / {{
      proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection \"\";
      proxy_buffering off;
    }}
  }}
}}
",
            dir = dir.display(),
            port = listen.port(),
            files = connections + 64,
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

/// This binary again, serving the bare Pingora proxy (see `bare::serve`).
fn start_bare(listen: SocketAddr, upstream: SocketAddr) -> Killed {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env(BARE_ENV, format!("{listen},{upstream}"))
        .env("RUST_LOG", "error");
    spawn_listening(&mut command, listen)
}

/// A mock provider of `kind` with one worker thread, streaming `BURST_CHUNKS` chunks without
/// delay.
fn start_mock(kind: &str, listen: SocketAddr) -> Killed {
    start_mock_with(kind, listen, BURST_CHUNKS, 0)
}

/// A mock provider of `kind` with one worker thread, streaming `chunks` chunks `delay_ms` apart.
fn start_mock_with(kind: &str, listen: SocketAddr, chunks: u32, delay_ms: u64) -> Killed {
    let mut command = Command::new(BIN);
    command
        .args(["mock", "--kind", kind, "--listen", &listen.to_string()])
        .args(["--chunks", &chunks.to_string()])
        .args(["--chunk-delay-ms", &delay_ms.to_string(), "--threads", "1"]);
    spawn_listening(&mut command, listen)
}

/// Starts `command` with its output discarded and waits until it listens on `listen`.
fn spawn_listening(command: &mut Command, listen: SocketAddr) -> Killed {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(listen);
    Killed(child)
}

/// The governed key's limits, high enough never to refuse, so the figures are the cost of
/// checking and settling them on every request.
const GOVERNED: &str = "  - {name: governed, key: sk-load-governed-key, team: loadteam, limits: {rpm: 1000000000, tpm: 100000000000, concurrency: 100000}, budget: {usd: 1000000000, period: monthly}}\nteams:\n  - {name: loadteam, limits: {rpm: 1000000000}, budget: {usd: 1000000000, period: monthly}}\n";

/// `sluice serve`; `rust_log` at `info` turns the access log on (to a discarded stderr, so
/// the gateway pays for formatting and writing its lines).
fn start_gateway(config: &std::path::Path, listen: SocketAddr, rust_log: &str) -> Killed {
    start_gateway_from(BIN, config, listen, rust_log)
}

/// Where `deploy/pgo-build` leaves the profile-guided build, which `--pgo` adds to the run.
const PGO_BIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/pgo/release/sluice");

/// `sluice serve` from the binary at `bin`.
fn start_gateway_from(
    bin: &str,
    config: &std::path::Path,
    listen: SocketAddr,
    rust_log: &str,
) -> Killed {
    let child = Command::new(bin)
        .args(["serve", "-c", &config.display().to_string()])
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(listen);
    Killed(child)
}

/// The base gateway config: the OpenAI and Anthropic mocks, a plain and a governed key, a
/// model with every guardrail detector redacting.
fn base_config(
    dir: &std::path::Path,
    listen: SocketAddr,
    mock: SocketAddr,
    anthropic: SocketAddr,
) -> String {
    format!(
        "listen: {listen}\nserver: {{threads: 1, pid_file: {d}/s.pid, upgrade_sock: {d}/s.sock}}\nproviders:\n  mock: {{kind: openai, endpoints: [{{url: \"http://{mock}\"}}], api_keys: [sk-upstream]}}\n  claude: {{kind: anthropic, endpoints: [{{url: \"http://{anthropic}\"}}], api_keys: [sk-ant]}}\nmodels:\n  - {{name: gpt-4o-mini, targets: [{{provider: mock, model: gpt-4o-mini}}]}}\n  - {{name: claude, targets: [{{provider: claude, model: claude-sonnet-4-5}}]}}\n  - {{name: guarded, targets: [{{provider: mock, model: gpt-4o-mini}}], guardrails: [{{name: pii, detect: [email, phone, credit_card, ssn, iban, ip_address, private_key, api_key], action: redact}}]}}\nkeys:\n  - {{name: load, key: {KEY}}}\n{GOVERNED}state: {{path: {d}/state}}\n",
        d = dir.display()
    )
}

/// The base config on another address with its own pid file, upgrade socket and state, and
/// an audit log when `audit`.
fn variant(
    dir: &std::path::Path,
    base: &str,
    from: SocketAddr,
    tag: &str,
    audit: bool,
) -> (std::path::PathBuf, SocketAddr) {
    let addr = free_addr();
    let mut text = base
        .replace(&from.to_string(), &addr.to_string())
        .replace("s.pid", &format!("{tag}.pid"))
        .replace("s.sock", &format!("{tag}.sock"))
        .replace("/state}", &format!("/{tag}-state}}"));
    if audit {
        text += &format!("audit: {{path: {}/{tag}-audit.jsonl}}\n", dir.display());
    }
    let path = dir.join(format!("{tag}.yaml"));
    std::fs::write(&path, text).unwrap();
    (path, addr)
}

/// The same gateway with its state in a fresh `redis-server`, when one is installed.
fn start_redis_gateway(
    dir: &std::path::Path,
    base: &str,
    from: SocketAddr,
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
    let (path, addr) = variant(dir, base, from, "r", false);
    let text = std::fs::read_to_string(&path).ok()?;
    let state_line = text.lines().find(|l| l.starts_with("state:"))?.to_owned();
    let text = text.replace(
        &state_line,
        &format!("state: {{backend: redis, url: \"redis://127.0.0.1:{port}/0\"}}"),
    );
    std::fs::write(&path, text).ok()?;
    let gateway = start_gateway(&path, addr, "error");
    Some((redis, gateway, addr))
}

fn main() {
    // Checked first: in the bare Pingora child this binary is a proxy, not the harness.
    if let Ok(spec) = std::env::var(BARE_ENV) {
        bare::serve(&spec);
    }
    // Before any child starts: they inherit it.
    let nofile = streams::raise_nofile();
    let rounds = arg("--rounds", 5).max(1) as usize;
    let (anthropic_addr, mock_addr) = (free_addr(), free_addr());
    let bench = Bench {
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        mocks: vec![mock_addr, anthropic_addr],
        seconds: arg("--seconds", 3) as f64,
        concurrency: arg("--concurrency", 64) as usize,
        tick_us: tick_us(),
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let anthropic_mock = start_mock("anthropic", anthropic_addr);
    let mock = start_mock("openai", mock_addr);

    let gw_addr = free_addr();
    let base = base_config(d, gw_addr, mock_addr, anthropic_addr);
    let config = d.join("sluice.yaml");
    std::fs::write(&config, &base).unwrap();
    let gateway = start_gateway(&config, gw_addr, "error");
    // As operators run it: the access log on and an audit log.
    let (logged_config, logged_addr) = variant(d, &base, gw_addr, "l", true);
    let logged = start_gateway(&logged_config, logged_addr, "info");
    let (full_config, full_addr) = variant(d, &base, gw_addr, "f", true);
    let full = start_gateway(&full_config, full_addr, "info");
    let nginx_addr = free_addr();
    let nginx = start_nginx(d, nginx_addr, mock_addr, 4096);
    let bare_addr = free_addr();
    let bare = start_bare(bare_addr, mock_addr);

    let openai = |name, addr, proxy: Option<&Killed>| System {
        name,
        chat: Target::openai(addr, CHAT, KEY),
        stream: Target::openai(addr, STREAM, KEY),
        proxy: proxy.map(Killed::id),
        upstream: mock.id(),
        baseline: 0,
    };
    let mut systems = vec![openai("direct", mock_addr, None)];
    systems.extend(nginx.as_ref().map(|n| openai("nginx", nginx_addr, Some(n))));
    systems.push(openai("bare-pingora", bare_addr, Some(&bare)));
    systems.push(openai("sluice-nolog", gw_addr, Some(&gateway)));
    systems.push(openai("sluice-pass", logged_addr, Some(&logged)));
    let direct_anthropic = systems.len() + 1;
    // A governed OpenAI client translated to the Anthropic mock.
    let translated = |name, addr, proxy: &Killed| System {
        name,
        chat: Target::openai(addr, OPENAI_TO_CLAUDE, GOVERNED_KEY),
        stream: Target::openai(addr, OPENAI_TO_CLAUDE_STREAM, GOVERNED_KEY),
        proxy: Some(proxy.id()),
        upstream: anthropic_mock.id(),
        baseline: direct_anthropic,
    };
    systems.push(translated("sluice-full", full_addr, &full));
    systems.push(System {
        name: "direct-anthropic",
        chat: Target::anthropic(anthropic_addr, ANTHROPIC_CHAT),
        stream: Target::anthropic(anthropic_addr, ANTHROPIC_STREAM),
        proxy: None,
        upstream: anthropic_mock.id(),
        baseline: direct_anthropic,
    });
    // The same gateways from the profile-guided build, same configs on their own addresses.
    let mut pgo_gateways = Vec::new();
    if std::env::args().any(|a| a == "--pgo") {
        assert!(
            std::path::Path::new(PGO_BIN).exists(),
            "--pgo: no {PGO_BIN}; build it with deploy/pgo-build"
        );
        let (pass_config, pass_addr) = variant(d, &base, gw_addr, "pgo-l", true);
        let pass = start_gateway_from(PGO_BIN, &pass_config, pass_addr, "info");
        let (full_config, full_addr) = variant(d, &base, gw_addr, "pgo-f", true);
        let full = start_gateway_from(PGO_BIN, &full_config, full_addr, "info");
        systems.push(openai("sluice-pgo-pass", pass_addr, Some(&pass)));
        systems.push(translated("sluice-pgo-full", full_addr, &full));
        pgo_gateways.extend([pass, full]);
    }
    let position = |name: &str| systems.iter().position(|s| s.name == name);
    let refs = Refs {
        nginx: position("nginx"),
        bare: position("bare-pingora"),
    };

    std::thread::sleep(Duration::from_secs(1));
    println!(
        "load: {rounds} rounds of {}s per system and scenario, one worker thread per server, \
         medians; nginx {}",
        bench.seconds,
        if nginx.is_some() {
            "installed"
        } else {
            "missing"
        }
    );
    if part("latency") {
        latency(&bench, &systems, &refs, rounds);
    }
    if part("sections") {
        sections(
            &bench,
            &systems,
            direct_anthropic,
            rounds,
            d,
            &base,
            gw_addr,
            &gateway,
        );
    }
    if part("streams") {
        streams::run(&bench, d, nofile);
    }
    if part("soak") {
        let full = &systems[position("sluice-full").unwrap()];
        let seconds = arg("--soak-seconds", 600);
        streams::soak(
            &bench,
            full,
            seconds,
            arg("--soak-concurrency", 16) as usize,
        );
    }
}

/// The four scenarios every system runs (chat and stream, at c=1 and at `--concurrency`) and
/// the proxies' RSS before and after them.
fn latency(bench: &Bench, systems: &[System], refs: &Refs, rounds: usize) {
    let idle_rss = rss_column(systems, "idle RSS MiB");
    let c = bench.concurrency;
    for scenario in [
        Scenario {
            title: "chat",
            stream: false,
            concurrency: 1,
            paced: false,
        },
        Scenario {
            title: "chat",
            stream: false,
            concurrency: c,
            paced: false,
        },
        Scenario {
            title: "stream, paced",
            stream: true,
            concurrency: 1,
            paced: true,
        },
        Scenario {
            title: "stream, burst",
            stream: true,
            concurrency: 1,
            paced: false,
        },
        Scenario {
            title: "stream, burst",
            stream: true,
            concurrency: c,
            paced: false,
        },
    ] {
        println!("\n### {} (c={})\n", scenario.title, scenario.concurrency);
        let samples = bench.rounds(systems, &scenario, rounds);
        match (scenario.concurrency, scenario.stream) {
            (1, false) => added_latency_table(systems, refs, &samples, "latency", |s| s.latency),
            (1, true) => added_latency_table(systems, refs, &samples, "TTFT", |s| s.first_byte),
            _ => throughput_table(systems, refs, &samples),
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let after = rss_column(systems, "RSS after load MiB");
    // jemalloc gives freed pages back after its decay time (10 s).
    std::thread::sleep(Duration::from_secs(15));
    let rested = rss_column(systems, "16 s after MiB");
    println!("\n### memory (RSS of the proxy; for direct, the mock's)\n");
    print_table(systems, refs, &[idle_rss, after, rested]);
}

/// Single tables on translation, governance (embedded and Redis state) and guardrails.
#[allow(clippy::too_many_arguments)]
fn sections(
    bench: &Bench,
    systems: &[System],
    direct_anthropic: usize,
    rounds: usize,
    d: &std::path::Path,
    base: &str,
    gw_addr: SocketAddr,
    gateway: &Killed,
) {
    let few = rounds.div_ceil(2);
    // Translation alone: an OpenAI client through sluice (no logs, plain key) to the Anthropic
    // mock, against that mock spoken to in its own dialect.
    let translate = [
        systems[direct_anthropic].clone(),
        System {
            name: "sluice openai->anthropic",
            chat: Target::openai(gw_addr, OPENAI_TO_CLAUDE, KEY),
            proxy: Some(gateway.id()),
            ..systems[direct_anthropic].clone()
        },
    ];
    section(bench, "translation", &translate, few, false);

    // Governance: the same chat with a key that has every limit and a budget (never reached),
    // against the ungoverned key, on the embedded state and on Redis.
    let redis = start_redis_gateway(d, base, gw_addr);
    let governed = |name, addr, key, pid: u32| System {
        name,
        chat: Target::openai(addr, CHAT, key),
        proxy: Some(pid),
        ..systems[0].clone()
    };
    let mut govern = vec![
        governed("ungoverned", gw_addr, KEY, gateway.id()),
        governed("embedded", gw_addr, GOVERNED_KEY, gateway.id()),
    ];
    if let Some((_, gw, addr)) = &redis {
        govern.push(governed("redis", *addr, GOVERNED_KEY, gw.id()));
    }
    section(bench, "governance", &govern, few, false);
    drop(redis);

    // Guardrails: the same chat, whole and streamed, to a model with every detector redacting
    // on both sides (request body scanned, answer scanned; the stream decoded, guarded and
    // re-encoded), against the same model without rules.
    let guarded = |body: &str| -> &'static str {
        Box::leak(body.replacen("gpt-4o-mini", "guarded", 1).into_boxed_str())
    };
    let guard = |name, chat, stream| System {
        name,
        chat: Target::openai(gw_addr, chat, KEY),
        stream: Target::openai(gw_addr, stream, KEY),
        proxy: Some(gateway.id()),
        ..systems[0].clone()
    };
    let guards = [
        guard("guardrails off", CHAT, STREAM),
        guard("guardrails on", guarded(CHAT), guarded(STREAM)),
    ];
    section(bench, "guardrails, chat", &guards, few, false);
    section(bench, "guardrails, stream", &guards, few, true);
}
