//! The memory scenarios of the load harness: thousands of concurrent open streams (RSS with
//! them open, per stream, after they closed, and the proxy's CPU while they trickle), and a
//! soak (RSS every minute under steady load).
//!
//! Open streams: a mock of its own streams one chunk a second for over a day
//! (`--chunks 100000 --chunk-delay-ms 1000`), and each proxy gets fresh instances pointed at
//! it. The client is one tokio task per stream on a plain socket with a 2 KiB read buffer, so
//! the harness holds 10,000 connections for a few tens of MiB. A proxy holds two descriptors
//! per stream (client and upstream) under the same `RLIMIT_NOFILE` as everything here, so the
//! count measured is the one asked (`--streams`) or, if the limit does not allow it, the
//! largest that fits next to the proxy's own descriptors; the per-stream figure extrapolates
//! to 10,000 and both are printed.

use super::*;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Descriptors kept free in a proxy beyond its idle set and two per stream.
const FD_MARGIN: u64 = 64;
/// How many streams are being opened at once: each waits for its response head before the
/// next one starts, so the proxies' accept queues never overflow.
const OPENING: usize = 200;

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit, which the children (mocks,
/// proxies) inherit; returns the limit now in force.
pub fn raise_nofile() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return hard;
    }
    soft
}

/// Open descriptors of `pid` and its descendants.
fn open_fds(pid: u32) -> u64 {
    fds_per_process(pid).sum()
}

/// The most descriptors one process of `pid`'s tree has open (nginx's worker, not its master,
/// is the one that holds the streams).
fn max_fds_per_process(pid: u32) -> u64 {
    fds_per_process(pid).max().unwrap_or(0)
}

/// Open descriptors of each process of `pid`'s tree.
fn fds_per_process(pid: u32) -> impl Iterator<Item = u64> {
    process_tree(pid).into_iter().map(|p| {
        std::fs::read_dir(format!("/proc/{p}/fd"))
            .map(|d| d.count() as u64)
            .unwrap_or(0)
    })
}

/// What the stream clients saw.
#[derive(Default)]
struct Tally {
    /// Response heads with status 200.
    opened: AtomicU64,
    /// Anything else before the stream was open: a status, a refused or reset connection.
    failed: AtomicU64,
    /// Open streams that ended before they were told to.
    ended_early: AtomicU64,
    /// Body bytes received.
    bytes: AtomicU64,
    /// The first failure, for the report.
    first_failure: Mutex<Option<String>>,
}

impl Tally {
    fn fail(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_failure.lock().unwrap();
        first.get_or_insert(why);
    }
}

/// One client stream: sends `request`, reads the response head (releasing its opening
/// permit), then reads and counts the body until `stop` is set.
async fn hold_stream(
    addr: SocketAddr,
    request: Arc<[u8]>,
    tally: Arc<Tally>,
    permit: tokio::sync::OwnedSemaphorePermit,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut socket = match tokio::net::TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return tally.fail(format!("connect: {e}")),
    };
    if let Err(e) = socket.write_all(&request).await {
        return tally.fail(format!("write: {e}"));
    }
    let mut buf = vec![0u8; 2048];
    let mut head = Vec::new();
    let body_start = loop {
        match socket.read(&mut buf).await {
            Ok(0) => return tally.fail("closed before the response head".to_owned()),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return tally.fail(format!("read: {e}")),
        }
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    if !head.starts_with(b"HTTP/1.1 200") {
        let text = String::from_utf8_lossy(&head);
        let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        return tally.fail(one_line.chars().take(400).collect());
    }
    tally.opened.fetch_add(1, Ordering::Relaxed);
    tally
        .bytes
        .fetch_add((head.len() - body_start) as u64, Ordering::Relaxed);
    drop(head);
    drop(permit);
    loop {
        tokio::select! {
            read = socket.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    tally.ended_early.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(n) => {
                    tally.bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
            },
            _ = stop.changed() => return,
        }
    }
}

/// A proxy under the open-streams scenario.
pub struct StreamSystem {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub pid: u32,
}

/// The figures of one system with the streams open and after.
struct StreamSample {
    streams: u64,
    failed: u64,
    ended_early: u64,
    idle_mib: f64,
    open_mib: f64,
    closed_mib: f64,
    settled_mib: f64,
    /// Share of one core while the streams were open, in percent.
    cpu_percent: f64,
    /// Body bytes the clients received a second while open.
    bytes_per_sec: f64,
    open_secs: f64,
}

impl StreamSample {
    fn per_stream_kib(&self) -> f64 {
        (self.open_mib - self.idle_mib) * 1024.0 / self.streams.max(1) as f64
    }
    fn at_10k_mib(&self) -> f64 {
        self.idle_mib + self.per_stream_kib() * 10_000.0 / 1024.0
    }
}

/// Opens `count` streams through `system`, holds them `hold` seconds, closes them, and reads
/// RSS and CPU along the way.
fn measure_streams(
    runtime: &tokio::runtime::Runtime,
    system: &StreamSystem,
    count: u64,
    hold: f64,
    tick_us: f64,
) -> StreamSample {
    let idle_mib = rss_mib(system.pid);
    let idle_fds = open_fds(system.pid);
    let body = STREAM;
    let request: Arc<[u8]> = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        system.addr,
        body.len()
    )
    .into_bytes()
    .into();
    let tally = Arc::new(Tally::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let opening = Arc::new(tokio::sync::Semaphore::new(OPENING));
    let started = Instant::now();
    let tasks = runtime.block_on(async {
        let mut tasks = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let permit = opening.clone().acquire_owned().await.unwrap();
            tasks.push(tokio::spawn(hold_stream(
                system.addr,
                request.clone(),
                tally.clone(),
                permit,
                stop_rx.clone(),
            )));
        }
        // Every stream has its head (or failed) once all permits are back.
        let _all = opening.acquire_many(OPENING as u32).await.unwrap();
        tasks
    });
    let open_secs = started.elapsed().as_secs_f64();
    // Let the first chunks of the last streams through, then measure a steady window.
    runtime.block_on(async { tokio::time::sleep(Duration::from_secs(2)).await });
    let cpu_before = cpu_ticks(system.pid);
    let bytes_before = tally.bytes.load(Ordering::Relaxed);
    let window = Instant::now();
    runtime.block_on(async { tokio::time::sleep(Duration::from_secs_f64(hold)).await });
    let cpu = (cpu_ticks(system.pid) - cpu_before) as f64 * tick_us;
    let window = window.elapsed().as_secs_f64();
    let bytes = tally.bytes.load(Ordering::Relaxed) - bytes_before;
    let open_mib = rss_mib(system.pid);
    stop_tx.send_replace(true);
    runtime.block_on(async {
        for task in tasks {
            let _ = task.await;
        }
    });
    // The proxy sees each client gone at its next write (within a chunk, a second): wait
    // until its descriptors are back to where they were, at most 30 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    while open_fds(system.pid) > idle_fds + 8 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let closed_mib = rss_mib(system.pid);
    std::thread::sleep(Duration::from_secs(15));
    let settled_mib = rss_mib(system.pid);
    let first_failure = tally.first_failure.lock().unwrap().take();
    if let Some(why) = first_failure {
        println!(
            "{}: {} of {count} streams failed to open; the first: {why}",
            system.name,
            tally.failed.load(Ordering::Relaxed)
        );
    }
    StreamSample {
        streams: tally.opened.load(Ordering::Relaxed),
        failed: tally.failed.load(Ordering::Relaxed),
        ended_early: tally.ended_early.load(Ordering::Relaxed),
        idle_mib,
        open_mib,
        closed_mib,
        settled_mib,
        cpu_percent: cpu / (window * 1e6) * 100.0,
        bytes_per_sec: bytes as f64 / window,
        open_secs,
    }
}

/// A mock provider that streams one chunk a second for more than a day.
pub fn start_trickle_mock(listen: SocketAddr) -> Killed {
    start_mock_with("openai", listen, 100_000, 1000)
}

/// How many streams every system can hold: `wanted`, or fewer if a proxy's descriptors
/// (its idle set plus two per stream) would pass `nofile`.
pub fn stream_count(wanted: u64, nofile: u64, systems: &[StreamSystem]) -> u64 {
    let idle = systems
        .iter()
        .map(|s| max_fds_per_process(s.pid))
        .max()
        .unwrap_or(0);
    let fits = nofile.saturating_sub(idle + FD_MARGIN) / 2;
    wanted.min(fits)
}

/// The open-streams scenario over `systems`, one after another, and its tables.
pub fn open_streams(bench: &Bench, systems: &[StreamSystem], wanted: u64, nofile: u64, hold: f64) {
    let count = stream_count(wanted, nofile, systems);
    println!(
        "\n### {count} concurrent open streams (OpenAI passthrough, 1 chunk/s, held {hold:.0} s)\n"
    );
    if count < wanted {
        println!(
            "{wanted} asked for, {count} measured: every process here may open {nofile} files \
             (RLIMIT_NOFILE, hard limit), a proxy needs two per stream (client and upstream) \
             plus its own; the 10k column extrapolates idle + 10,000 x per stream.\n"
        );
    }
    let samples: Vec<StreamSample> = systems
        .iter()
        .map(|s| measure_streams(&bench.runtime, s, count, hold, bench.tick_us))
        .collect();
    let rows: Vec<System> = systems
        .iter()
        .map(|s| System {
            name: s.name,
            chat: Target::openai(s.addr, CHAT, KEY),
            stream: Target::openai(s.addr, STREAM, KEY),
            proxy: Some(s.pid),
            upstream: s.pid,
            baseline: 0,
        })
        .collect();
    let position = |name: &str| systems.iter().position(|s| s.name == name);
    let refs = Refs {
        nginx: position("nginx"),
        bare: position("bare-pingora"),
    };
    let column = |title: &str, f: fn(&StreamSample) -> f64| Column {
        title: title.to_owned(),
        values: samples.iter().map(|s| Some(f(s))).collect(),
        to_baseline: None,
    };
    print_table(
        &rows,
        &refs,
        &[
            column("idle MiB", |s| s.idle_mib),
            column("streams open MiB", |s| s.open_mib),
            column("KiB/stream", |s| s.per_stream_kib()),
            column("at 10k MiB (extrapolated)", |s| s.at_10k_mib()),
        ],
    );
    println!();
    print_table(
        &rows,
        &refs,
        &[
            column("CPU % of a core, open", |s| s.cpu_percent),
            column("closed +1 s MiB", |s| s.closed_mib),
            column("closed +16 s MiB", |s| s.settled_mib),
        ],
    );
    println!();
    for (system, s) in systems.iter().zip(&samples) {
        println!(
            "{}: {} open ({} failed, {} ended early), opened in {:.1} s, {:.0} KiB/s of body \
             received while open",
            system.name,
            s.streams,
            s.failed,
            s.ended_early,
            s.open_secs,
            s.bytes_per_sec / 1024.0
        );
    }
}

/// Steady load on one system for `seconds`: `concurrency` clients, half of them sending
/// chats and half streams, back to back; RSS printed at the start and every minute.
pub fn soak(bench: &Bench, system: &System, seconds: u64, concurrency: usize) {
    let pid = system.proxy.expect("a proxy to soak");
    println!(
        "\n### soak: {} for {seconds} s at c={concurrency} (half chats, half streams)\n",
        system.name
    );
    let start = rss_mib(pid);
    println!("| minute | RSS MiB | requests | errors |");
    println!("|---|---|---|---|");
    println!("| 0 | {start:.1} | 0 | 0 |");
    let mut readings = Vec::new();
    let mut done = 0;
    let mut minute = 0;
    while done < seconds {
        let slice = (seconds - done).min(60);
        let (chats, streams) = bench.runtime.block_on(async {
            tokio::join!(
                run_load(system.chat.clone(), slice as f64, concurrency.div_ceil(2)),
                run_load(system.stream.clone(), slice as f64, concurrency / 2),
            )
        });
        done += slice;
        minute += 1;
        let rss = rss_mib(pid);
        readings.push(rss);
        println!(
            "| {minute} | {rss:.1} | {} | {} |",
            chats.latencies.len() + streams.latencies.len(),
            chats.errors + streams.errors
        );
    }
    std::thread::sleep(Duration::from_secs(15));
    let rested = rss_mib(pid);
    // The rate windows hold the last minute's admissions; the flusher trims them after.
    std::thread::sleep(Duration::from_secs(60));
    let window_gone = rss_mib(pid);
    let first = readings.first().copied().unwrap_or(start);
    let last = readings.last().copied().unwrap_or(start);
    // The second half, once the working set is warm: the growth that would go on.
    let half = readings.len() / 2;
    let middle = readings
        .get(half.saturating_sub(1))
        .copied()
        .unwrap_or(first);
    let steady_minutes = (readings.len() - half).max(1) as f64;
    println!(
        "\nsoak growth: {:+.1} MiB over the second half (minute {half} to {}, {:+.2} MiB/min); \
         {:+.1} MiB from the end of minute 1; {:+.1} MiB from the start; after the load \
         {rested:.1} MiB at 15 s, {window_gone:.1} MiB at 75 s",
        last - middle,
        readings.len(),
        (last - middle) / steady_minutes,
        last - first,
        last - start
    );
}

/// Starts the trickling mock and, in front of it, nginx, bare Pingora, sluice with logs off
/// and sluice with access and audit logs on (fresh processes, their idle RSS their own), then
/// runs the open-streams scenario through each.
pub fn run(bench: &Bench, dir: &std::path::Path, nofile: u64) {
    let wanted = arg("--streams", 10_000);
    let hold = arg("--hold-seconds", 10) as f64;
    let d = dir.join("streams");
    std::fs::create_dir_all(&d).unwrap();
    let mock_addr = free_addr();
    let _mock = start_trickle_mock(mock_addr);
    let nginx_addr = free_addr();
    // nginx's worker may not open more than the limit either (nor set a higher one).
    let connections = (2 * wanted + FD_MARGIN).min(nofile.saturating_sub(64));
    let nginx = start_nginx(&d, nginx_addr, mock_addr, connections);
    let bare_addr = free_addr();
    let bare = start_bare(bare_addr, mock_addr);
    let gw_addr = free_addr();
    let base = base_config(&d, gw_addr, mock_addr, mock_addr);
    let config = d.join("sluice.yaml");
    std::fs::write(&config, &base).unwrap();
    let gateway = start_gateway(&config, gw_addr, "error");
    let (logged_config, logged_addr) = variant(&d, &base, gw_addr, "l", true);
    let logged = start_gateway(&logged_config, logged_addr, "info");
    std::thread::sleep(Duration::from_secs(1));

    let mut systems = Vec::new();
    if let Some(n) = &nginx {
        systems.push(StreamSystem {
            name: "nginx",
            addr: nginx_addr,
            pid: n.id(),
        });
    }
    systems.push(StreamSystem {
        name: "bare-pingora",
        addr: bare_addr,
        pid: bare.id(),
    });
    systems.push(StreamSystem {
        name: "sluice-nolog",
        addr: gw_addr,
        pid: gateway.id(),
    });
    systems.push(StreamSystem {
        name: "sluice-pass",
        addr: logged_addr,
        pid: logged.id(),
    });
    // `--systems a,b` keeps only those (a quicker run while tuning one of them).
    let args: Vec<String> = std::env::args().collect();
    if let Some(keep) = args
        .iter()
        .position(|a| a == "--systems")
        .and_then(|i| args.get(i + 1))
    {
        systems.retain(|s| keep.split(',').any(|k| k == s.name));
    }
    open_streams(bench, &systems, wanted, nofile, hold);
}
