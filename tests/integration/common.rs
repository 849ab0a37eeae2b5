//! Test harness: start real `sluice` processes (gateway and mock providers) on loopback ports
//! and talk HTTP to them. Every process is killed when its handle drops.
#![allow(dead_code)] // each test module uses a different subset of these helpers

use serde_json::Value;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sluice");
pub const CLIENT_KEY: &str = "sk-test-client-0001";
pub const OTHER_KEY: &str = "sk-test-limited-0002";
pub const UPSTREAM_KEY: &str = "sk-upstream-secret-key";

/// A loopback port nothing listens on, never handed out before in this test process: the OS
/// may give the same free port to two binds in a row, and two servers of one test (or of two
/// tests running at once) must not be given the same one.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A child process that is killed on drop.
pub struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    pub fn spawn(args: &[&str], log: PathBuf) -> Proc {
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(BIN)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(file.try_clone().expect("log file")))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("start sluice");
        Proc { child, log }
    }

    /// Sends a signal (`HUP`, `TERM`) with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal (`TERM`, `KILL`) with `kill(1)` and waits for the process to exit.
    pub fn signal_and_wait(&mut self, signal: &str) {
        self.signal(signal);
        self.wait_exit(&format!("SIG{signal}"));
    }

    /// Waits for the process to exit (60 s at most, so a hang fails instead of blocking).
    pub fn wait_exit(&mut self, after: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("process did not exit after {after}:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_port(addr: SocketAddr, proc: &mut Proc) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!(
                "process exited with {status} before listening:\n{}",
                proc.log()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listening on {addr}:\n{}", proc.log());
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// A real `redis-server` on a loopback port, without persistence, killed on drop.
pub struct Redis {
    pub port: u16,
    child: Child,
}

impl Redis {
    pub fn start() -> Redis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { port, child }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A mock provider process.
pub struct Mock {
    pub addr: SocketAddr,
    pub proc: Proc,
    _dir: tempfile::TempDir,
}

impl Mock {
    pub fn start(name: &str, extra: &[&str]) -> Mock {
        let dir = temp_dir();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let listen = addr.to_string();
        let mut args = vec!["mock", "--listen", &listen, "--name", name];
        args.extend_from_slice(extra);
        let mut proc = Proc::spawn(&args, dir.path().join("mock.log"));
        wait_for_port(addr, &mut proc);
        Mock {
            addr,
            proc,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the mock has received (`GET /__mock/requests`).
    pub async fn received(&self) -> Value {
        client()
            .get(format!("{}/__mock/requests", self.url()))
            .send()
            .await
            .expect("mock stats")
            .json()
            .await
            .expect("mock stats json")
    }

    pub async fn count(&self) -> u64 {
        self.received().await["count"].as_u64().unwrap_or(0)
    }

    pub async fn last_request(&self) -> Value {
        let stats = self.received().await;
        stats["requests"]
            .as_array()
            .and_then(|r| r.last().cloned())
            .expect("the mock received a request")
    }

    /// Lets answers held by the `hold_after` fault go on (`POST /__mock/release`).
    pub async fn release(&self) {
        let resp = client()
            .post(format!("{}/__mock/release", self.url()))
            .send()
            .await
            .expect("release held answers");
        assert_eq!(resp.status(), 200);
    }

    pub async fn set_faults(&self, faults: Value) {
        let resp = client()
            .post(format!("{}/__mock/faults", self.url()))
            .json(&faults)
            .send()
            .await
            .expect("set faults");
        assert_eq!(resp.status(), 200);
    }
}

/// A gateway process serving a config.
pub struct Gateway {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub proc: Proc,
    /// The config file it serves.
    pub config_path: PathBuf,
    /// The `listen` ... `server` lines every version of the file starts with.
    header: String,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// Starts `sluice serve` on `config_body` (everything after `listen`/`admin_listen`/`server`).
    pub fn start(config_body: &str) -> Gateway {
        Gateway::start_with_server("", config_body)
    }

    /// Like `start`, with `server_lines` (indented YAML) added to the `server` section.
    pub fn start_with_server(server_lines: &str, config_body: &str) -> Gateway {
        let dir = temp_dir();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        // Tests stop at once unless they ask for a grace period.
        let grace = if server_lines.contains("grace_period:") {
            ""
        } else {
            "  grace_period: 0s\n"
        };
        let header = format!(
            "listen: {addr}\nadmin_listen: {admin}\nserver:\n  threads: 2\n{grace}  pid_file: {pid}\n  upgrade_sock: {sock}\n{server_lines}",
            pid = dir.path().join("sluice.pid").display(),
            sock = dir.path().join("upgrade.sock").display(),
        );
        let config_path = dir.path().join("sluice.yaml");
        std::fs::write(&config_path, format!("{header}{config_body}")).expect("write config");
        let path = config_path.to_string_lossy().into_owned();
        let mut proc = Proc::spawn(&["serve", "-c", &path], dir.path().join("gateway.log"));
        wait_for_port(admin, &mut proc);
        wait_for_port(addr, &mut proc);
        Gateway {
            addr,
            admin,
            proc,
            config_path,
            header,
            _dir: dir,
        }
    }

    /// Replaces the config file (by rename, as deploy tools do) with the same listeners and
    /// server section and a new body.
    pub fn write_config(&self, config_body: &str) {
        self.write_config_text(&format!("{}{config_body}", self.header));
    }

    /// Replaces the config file with `text` as it is.
    pub fn write_config_text(&self, text: &str) {
        let next = self.config_path.with_extension("yaml.next");
        std::fs::write(&next, text).expect("write config");
        std::fs::rename(&next, &self.config_path).expect("replace config");
    }

    /// The first lines of the config file (listeners and server section).
    pub fn config_header(&self) -> &str {
        &self.header
    }

    pub fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    /// A graceful upgrade: starts `serve -u` on the same file, waits until it listens on the
    /// upgrade socket, and sends SIGQUIT to the running process, which hands its sockets over
    /// and drains. The new process serves from then on; the old one is returned, draining.
    pub fn upgrade(&mut self) -> Proc {
        let path = self.config_path.to_string_lossy().into_owned();
        let sock = self._dir.path().join("upgrade.sock");
        let _ = std::fs::remove_file(&sock);
        let log = self
            ._dir
            .path()
            .join(format!("gateway-{}.log", free_port()));
        let mut next = Proc::spawn(&["serve", "-u", "-c", &path], log);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !sock.exists() {
            assert!(
                Instant::now() < deadline && next.alive(),
                "the new process never waited for the sockets:\n{}",
                next.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.proc.signal("QUIT");
        std::mem::swap(&mut self.proc, &mut next);
        next
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// POSTs JSON to `path` with the test client's key.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        client()
            .post(self.url(path))
            .bearer_auth(CLIENT_KEY)
            .json(body)
            .send()
            .await
            .expect("request to the gateway")
    }

    pub async fn chat(&self, model: &str) -> reqwest::Response {
        self.post("/v1/chat/completions", &chat_body(model)).await
    }
}

/// Every line of a JSON-lines audit log.
/// A response header's value (empty when it is missing).
pub fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub fn audit_records(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
        .collect()
}

/// What the audit records say `key` spent, in micro-dollars.
pub fn audit_spend(records: &[Value], key: &str) -> u64 {
    records
        .iter()
        .filter(|r| r["key"] == key)
        .map(|r| (r["cost_usd"].as_f64().unwrap_or(0.0) * 1e6).round() as u64)
        .sum()
}

/// What the embedded spend ledger in `state_dir` holds for `key`, all periods.
pub fn ledger_spend(state_dir: &std::path::Path, key: &str) -> u64 {
    let conn = rusqlite::Connection::open(state_dir.join("ledger.sqlite3")).expect("ledger");
    conn.query_row(
        "SELECT COALESCE(SUM(spent_micros), 0) FROM spend WHERE scope = 'key' AND name = ?1",
        [key],
        |row| row.get::<_, i64>(0),
    )
    .expect("ledger query")
    .max(0) as u64
}

/// The gateway's `/metrics` page.
pub async fn metrics_text(gw: &Gateway) -> String {
    client()
        .get(gw.admin_url("/metrics"))
        .send()
        .await
        .expect("metrics page")
        .text()
        .await
        .expect("metrics text")
}

/// The sum of the gateway's metric series whose line starts with `prefix` (a name, or a name
/// with its labels).
pub async fn metric(gw: &Gateway, prefix: &str) -> f64 {
    metrics_text(gw)
        .await
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

pub fn chat_body(model: &str) -> Value {
    serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": "Say hello"}]
    })
}

/// The provider, model and key sections shared by most tests: one mock provider with its own
/// key, a model `fast` routed to it as `gpt-4o-mini`, a full-access and a limited virtual key.
pub fn basic_config(mock: &Mock) -> String {
    format!(
        r#"
providers:
  primary:
    kind: openai
    endpoints: [{{url: "{url}"}}]
    api_keys: ["{UPSTREAM_KEY}"]
    forward_headers: ["x-mock-*"]
models:
  - name: fast
    targets: [{{provider: primary, model: gpt-4o-mini}}]
  - name: embed
    targets: [{{provider: primary, model: text-embedding-3-small}}]
  - name: secret-model
    targets: [{{provider: primary, model: gpt-4o}}]
keys:
  - {{name: full, key: "{CLIENT_KEY}"}}
  - {{name: limited, key: "{OTHER_KEY}", models: ["fast", "emb*"]}}
"#,
        url = mock.url()
    )
}

/// Asserts an OpenAI-shaped error body and returns it.
pub async fn expect_openai_error(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = resp.json().await.expect("error body is JSON");
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["type"].is_string(), "{body}");
    assert_eq!(error["code"], code, "{body}");
    body
}

/// A response body read as it arrives, to see what a client has received so far.
pub struct Incremental {
    resp: reqwest::Response,
    /// Everything received so far.
    pub received: String,
    pub ended: bool,
}

impl Incremental {
    pub fn new(resp: reqwest::Response) -> Incremental {
        Incremental {
            resp,
            received: String::new(),
            ended: false,
        }
    }

    /// Reads until `done` says what was received is enough; false if the body ended first.
    pub async fn until(&mut self, done: impl Fn(&str) -> bool) -> bool {
        while !done(&self.received) {
            if !self.read_more().await {
                return false;
            }
        }
        true
    }

    /// Reads to the end of the body (a broken connection ends it too) and returns all of it.
    pub async fn rest(mut self) -> String {
        while self.read_more().await {}
        self.received
    }

    async fn read_more(&mut self) -> bool {
        if self.ended {
            return false;
        }
        match self.resp.chunk().await {
            Ok(Some(chunk)) => {
                self.received.push_str(&String::from_utf8_lossy(&chunk));
                true
            }
            Ok(None) | Err(_) => {
                self.ended = true;
                false
            }
        }
    }
}

/// Polls `check` until it gives a value (an event: a log line, a counter, a state), and
/// returns it. The 60 s limit only turns a regression into a failure instead of a hang.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Providers `{kind}-up` (one per mock, of that kind) and models `via-{kind}` routed to them
/// as `m-{kind}`, then `tail` (keys, state, ...): the setup of the tests that run one request
/// through every provider kind.
pub fn kinds_config(kinds: &[&str], mocks: &[Mock], tail: &str) -> String {
    let mut config = String::from("providers:\n");
    for (kind, mock) in kinds.iter().zip(mocks) {
        config.push_str(&format!(
            "  {kind}-up: {{kind: {kind}, endpoints: [{{url: \"{}\"}}], api_keys: [\"k-{kind}\"]}}\n",
            mock.url()
        ));
    }
    config.push_str("models:\n");
    for kind in kinds {
        config.push_str(&format!(
            "  - {{name: via-{kind}, targets: [{{provider: {kind}-up, model: m-{kind}}}]}}\n"
        ));
    }
    config.push_str(tail);
    config
}
