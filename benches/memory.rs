//! Memory harness: what the gateway's resident set does under large request bodies and many
//! idle connections, and whether it gives the memory back. Used to choose the allocator
//! (the default jemalloc against the system's, `--no-default-features`).
//!
//!     cargo bench --bench memory -- [--bursts 3] [--concurrency 16] [--mib 30] [--idle 30]
//!
//! It starts a mock provider and `sluice serve` (one worker thread), then: RSS at rest;
//! `--bursts` bursts of `--concurrency` concurrent chat requests with a body of `--mib` MiB
//! each, RSS after each and the peak (VmHWM); RSS after `--idle` seconds of rest; 2,000 idle
//! connections opened and closed, and RSS after.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sluice");
const KEY: &str = "sk-memory-harness-key";

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

/// A field of `/proc/<pid>/status` in MiB (`VmRSS`, `VmHWM`).
fn status_mib(pid: u32, field: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One chat request with a body of about `bytes`; returns the status code.
fn post(addr: SocketAddr, bytes: usize) -> u16 {
    let head = r#"{"model":"m","messages":[{"role":"user","content":""#;
    let tail = r#""}]}"#;
    let filler = bytes.saturating_sub(head.len() + tail.len());
    let mut socket = TcpStream::connect(addr).unwrap();
    write!(
        socket,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{head}",
        head.len() + filler + tail.len()
    )
    .unwrap();
    let block = vec![b'a'; 64 * 1024];
    let mut left = filler;
    while left > 0 {
        let n = left.min(block.len());
        socket.write_all(&block[..n]).unwrap();
        left -= n;
    }
    socket.write_all(tail.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer);
    std::str::from_utf8(&answer[..answer.len().min(12)])
        .ok()
        .and_then(|l| l.get(9..12))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let bursts = arg("--bursts", 3);
    let concurrency = arg("--concurrency", 16) as usize;
    let mib = arg("--mib", 30) as usize;
    let idle = arg("--idle", 30);
    let dir = std::env::temp_dir().join(format!("sluice-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let mock_addr = free_addr();
    let _mock = Killed(
        Command::new(BIN)
            .args(["mock", "--listen", &mock_addr.to_string(), "--threads", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(mock_addr);
    let gw_addr = free_addr();
    let config = dir.join("sluice.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {gw_addr}\nmax_request_body: 32MiB\nmax_bodies_in_flight: 1GiB\nserver: {{threads: 1, pid_file: {d}/s.pid, upgrade_sock: {d}/s.sock}}\nproviders:\n  mock: {{kind: openai, endpoints: [{{url: \"http://{mock_addr}\"}}], api_keys: [sk-upstream]}}\nmodels:\n  - {{name: m, targets: [{{provider: mock, model: gpt-4o-mini}}]}}\nkeys:\n  - {{name: memory, key: {KEY}}}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let gateway = Killed(
        Command::new(BIN)
            .args(["serve", "-c", &config.display().to_string()])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(gw_addr);
    let pid = gateway.0.id();
    let allocator = if cfg!(feature = "jemalloc") {
        "jemalloc"
    } else {
        "system"
    };
    println!("allocator {allocator}: {bursts} bursts of {concurrency} x {mib} MiB bodies");
    println!(
        "rss at rest            {:>8.1} MiB",
        status_mib(pid, "VmRSS:")
    );

    let started = Instant::now();
    for burst in 1..=bursts {
        let threads: Vec<_> = (0..concurrency)
            .map(|_| std::thread::spawn(move || post(gw_addr, mib << 20)))
            .collect();
        let ok = threads
            .into_iter()
            .map(|t| t.join().unwrap_or(0))
            .filter(|s| *s == 200)
            .count();
        println!(
            "after burst {burst}          {:>8.1} MiB  ({ok}/{concurrency} answered 200)",
            status_mib(pid, "VmRSS:")
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let moved = (bursts as usize * concurrency * mib) as f64;
    println!(
        "peak (VmHWM)           {:>8.1} MiB",
        status_mib(pid, "VmHWM:")
    );
    println!("upload throughput      {:>8.1} MiB/s", moved / seconds);
    std::thread::sleep(Duration::from_secs(idle));
    println!(
        "after {idle:>3} s idle       {:>8.1} MiB",
        status_mib(pid, "VmRSS:")
    );

    let before = status_mib(pid, "VmRSS:");
    let mut idle_connections = Vec::with_capacity(2000);
    for _ in 0..2000 {
        if let Ok(mut socket) = TcpStream::connect(gw_addr) {
            // A request head so each connection is past the first-bytes deadline and held.
            let _ = write!(
                socket,
                "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n"
            );
            idle_connections.push(socket);
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let with = status_mib(pid, "VmRSS:");
    drop(idle_connections);
    std::thread::sleep(Duration::from_secs(5));
    let after = status_mib(pid, "VmRSS:");
    println!(
        "2000 idle connections  {before:>8.1} -> {with:.1} -> {after:.1} MiB after they closed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
