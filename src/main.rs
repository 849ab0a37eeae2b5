//! The `sluice` command: serve a config, check one, run a mock provider, or run the demo.

mod admin;
mod cache;
mod clock;
mod config;
mod demo;
mod drain;
mod listener;
mod mock;
mod open_files;
mod proxy;
mod reload;
mod routing;
mod runtime;
mod server;
mod state;
mod telemetry;

use clap::{Parser, Subcommand};
use config::Config;
use server::{build_server, ConfigSource, RunMode};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// jemalloc returns the memory of a burst of large bodies (glibc's malloc kept 436 MiB of it
/// after 30 s idle, jemalloc 17 MiB); the measurements are in the README's Memory section and
/// `benches/memory.rs` repeats them.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc gives freed pages back after `dirty_decay_ms` (10 s) on a thread of its own;
/// without it they are purged only when the process allocates again, so an idle gateway kept
/// the memory of its last burst for good (2,000 closed streams: 160 MiB 16 s later, 26.7 MiB
/// with it). One such thread is enough (the default starts one per CPU). Set through
/// jemalloc's control API at start (`_RJEM_MALLOC_CONF` still sets anything else).
#[cfg(feature = "jemalloc")]
fn return_freed_memory_in_background() {
    let set = tikv_jemalloc_ctl::max_background_threads::write(1)
        .and_then(|()| tikv_jemalloc_ctl::background_thread::write(true));
    if let Err(e) = set {
        log::warn!("jemalloc's background purging could not be turned on: {e}");
    }
}

#[cfg(all(test, feature = "jemalloc"))]
mod allocator_tests {
    /// `.cargo/config.toml` compiles `tcache_max` into jemalloc: without it, Pingora's 64 KiB
    /// body buffer leaves the thread cache on every request.
    #[test]
    fn the_thread_cache_keeps_pingoras_body_buffers() {
        let tcache_max = tikv_jemalloc_ctl::opt::tcache_max::read().unwrap_or(0);
        assert!(
            tcache_max >= 64 * 1024,
            "jemalloc caches allocations up to {tcache_max} bytes per thread: was sluice built \
             without .cargo/config.toml's JEMALLOC_SYS_WITH_MALLOC_CONF?"
        );
    }
}

/// Exit status for an invalid configuration (as `nginx -t` and friends).
const EXIT_CONFIG: u8 = 2;

#[derive(Parser)]
#[command(name = "sluice", version, about = "An AI gateway on Pingora")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway from a config file.
    Serve {
        #[arg(short, long, default_value = "conf/sluice.yaml")]
        config: PathBuf,
        /// Take over the listening sockets of a running sluice (graceful upgrade).
        #[arg(short, long)]
        upgrade: bool,
        /// Run in the background.
        #[arg(short, long)]
        daemon: bool,
    },
    /// Validate a config file and exit: 0 if it is valid (with a summary of what it defines
    /// and warnings), 2 with the reason if not.
    Check {
        #[arg(short, long, default_value = "conf/sluice.yaml")]
        config: PathBuf,
    },
    /// Run a mock OpenAI-compatible provider (for tests and load runs).
    Mock {
        #[arg(long, default_value = "127.0.0.1:18101")]
        listen: SocketAddr,
        #[arg(long, default_value = "mock")]
        name: String,
        /// The provider API to speak.
        #[arg(long, value_enum, default_value = "openai")]
        kind: mock::MockKind,
        /// Answer every request with this status.
        #[arg(long)]
        status: Option<u16>,
        /// Wait this long before answering.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// Content chunks per streamed answer.
        #[arg(long, default_value_t = 5)]
        chunks: usize,
        /// Pause between streamed chunks.
        #[arg(long, default_value_t = 20)]
        chunk_delay_ms: u64,
        /// Cut streams after this many content chunks.
        #[arg(long)]
        cut_after: Option<usize>,
        /// Worker threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Run the gateway with mock providers on loopback: no API keys, no network.
    Demo {
        #[arg(long)]
        listen: Option<SocketAddr>,
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
    },
    /// Print the SHA-256 of a virtual key, for `key_sha256` in the config.
    HashKey { secret: String },
    /// Print the JSON Schema of the config file (as `conf/sluice.schema.json`), for editors
    /// and CI.
    Schema,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    #[cfg(feature = "jemalloc")]
    return_freed_memory_in_background();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            upgrade,
            daemon,
        } => {
            let loaded = Config::read(&config).and_then(|text| {
                let parsed = Config::parse(&text, &|name| std::env::var(name).ok())?;
                Ok((parsed, sluice_filters::auth::sha256_hex(&text)))
            });
            let (parsed, sha256) = match loaded {
                Ok(loaded) => loaded,
                Err(e) => return config_error(&e),
            };
            let source = ConfigSource {
                path: Some(config),
                sha256,
            };
            run(&parsed, source, RunMode { upgrade, daemon }, Vec::new())
        }
        Command::Check { config: path } => match Config::load(&path) {
            Ok(config) => {
                println!(
                    "{}: ok ({} providers, {} models, {} keys)",
                    path.display(),
                    config.providers.len(),
                    config.models.len(),
                    config.keys.len()
                );
                print!("{}", config::summary(&config));
                ExitCode::SUCCESS
            }
            Err(e) => config_error(&e),
        },
        Command::Mock {
            listen,
            name,
            kind,
            status,
            delay_ms,
            chunks,
            chunk_delay_ms,
            cut_after,
            threads,
        } => {
            let faults = mock::Faults {
                status,
                delay_ms,
                chunks,
                chunk_delay_ms,
                cut_after,
                ..mock::Faults::default()
            };
            let mut server = pingora::server::Server::new_with_opt_and_conf(
                None,
                pingora::server::configuration::ServerConf {
                    threads,
                    grace_period_seconds: Some(0),
                    graceful_shutdown_timeout_seconds: Some(1),
                    ..Default::default()
                },
            );
            server.bootstrap();
            server.add_service(mock::mock_service(&name, kind, &listen.to_string(), faults));
            server.run_forever()
        }
        Command::Demo {
            listen,
            admin_listen,
        } => {
            let config = match demo::demo_config(listen, admin_listen) {
                Ok(c) => c,
                Err(e) => return config_error(&e),
            };
            println!("{}", demo::banner(&config));
            let mocks = demo::mock_services(&config);
            let source = ConfigSource {
                path: None,
                sha256: String::new(),
            };
            run(&config, source, RunMode::default(), mocks)
        }
        Command::Schema => {
            print!("{}", config::json_schema());
            ExitCode::SUCCESS
        }
        Command::HashKey { secret } => {
            println!("{}", sluice_filters::auth::sha256_hex(&secret));
            ExitCode::SUCCESS
        }
    }
}

fn run(
    config: &Config,
    source: ConfigSource,
    mode: RunMode,
    extra: Vec<Box<dyn pingora::services::ServiceWithDependents>>,
) -> ExitCode {
    telemetry::metrics::init();
    reload::signal::survive_hangups();
    let (before, after) = open_files::raise();
    log::info!(
        "open files: limit {after} (was {before}): about {} requests proxied at once",
        open_files::streams_allowed(after)
    );
    match build_server(config, source, mode, extra) {
        Ok((server, durables)) => {
            // `run` returns once a graceful shutdown (SIGTERM) has drained the requests; only
            // then is the spend ledger flushed and the audit log closed, so nothing is lost.
            let signals = reload::signal::SignalWatch::new(durables.reloader.clone());
            server.run(pingora::server::RunArgs {
                shutdown_signal: Box::new(signals),
            });
            durables.close();
            ExitCode::SUCCESS
        }
        Err(e) => config_error(&e),
    }
}

fn config_error(e: &config::ConfigError) -> ExitCode {
    eprintln!("sluice: invalid configuration: {e}");
    ExitCode::from(EXIT_CONFIG)
}
