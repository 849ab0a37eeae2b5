//! Assembles the Pingora server from a validated config: one background service per provider
//! (endpoint discovery), the API proxy (which waits for the first discovery), the admin
//! listener, and any extra services (the demo's mock providers).

use crate::admin::AdminApp;
use crate::config::{Config, ConfigError, StateBackendKind};
use crate::drain::lame_duck::MAX_LAME_DUCK;
use crate::drain::{Drain, InFlight, LameDuck};
use crate::listener::FirstBytesDeadline;
use crate::proxy::{FlightFetch, SluiceProxy};
use crate::reload::watch::ConfigWatch;
use crate::reload::Reloader;
use crate::routing::upkeep::ProviderUpkeep;
use crate::routing::Gateway;
use crate::runtime::Runtime;
use crate::state::conversations::Conversations;
use crate::state::Governor;
use crate::telemetry::audit::AuditLog;
use arc_swap::ArcSwap;
use log::info;
use pingora::apps::HttpServerOptions;
use pingora::listeners::{L4BufferSettings, ListenerConfig, DEFAULT_L4_WRITE_BUFFER_SIZE};
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::background::GenBackgroundService;
use pingora::services::listening::Service;
use pingora::services::ServiceWithDependents;
use sluice_filters::resilience::RetryBudget;
use std::path::PathBuf;
use std::sync::Arc;

/// The read buffer in front of each API connection's socket. Pingora's default is 64 KiB,
/// zero-filled, for each connection's whole life: with 10,000 open streams that alone is
/// 640 MiB. It saves syscalls under TLS (16 KiB records); on plain HTTP Pingora already reads
/// request heads into a 4 KiB buffer and bodies into its own, so sluice reads straight from
/// the socket.
const API_READ_BUFFER: usize = 0;

/// How the process was started: Pingora's own switches.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunMode {
    /// Take over the listening sockets of a running sluice (graceful upgrade).
    pub upgrade: bool,
    pub daemon: bool,
}

/// What must be flushed when the server has stopped, and the reloader its signal watch
/// drives.
pub struct Durables {
    pub governor: Arc<Governor>,
    pub audit: Option<Arc<AuditLog>>,
    pub runtime: Arc<Runtime>,
    pub reloader: Arc<Reloader>,
    closed: std::sync::Once,
}

impl Durables {
    /// Writes the spend ledger, the held conversation turns and the audit log out (after a
    /// SIGTERM, nothing is lost). Once: the drain and the end of `main` may both ask, and the
    /// second waits for the first to finish.
    pub fn close(&self) {
        self.closed.call_once(|| {
            self.governor.flush();
            self.runtime.conversations.flush_held();
            if let Some(audit) = &self.audit {
                audit.close();
            }
            crate::telemetry::access::close();
        });
    }
}

/// Where the config came from: the file reloads read again (none for the demo) and the
/// SHA-256 of the text in force.
pub struct ConfigSource {
    pub path: Option<PathBuf>,
    pub sha256: String,
}

pub fn build_server(
    config: &Config,
    source: ConfigSource,
    mode: RunMode,
    extra_services: Vec<Box<dyn ServiceWithDependents>>,
) -> Result<(Server, Arc<Durables>), ConfigError> {
    let governor = Arc::new(Governor::build(config)?);
    governor.spawn_flusher(config.state.flush_interval.0);
    let audit = match &config.audit {
        Some(a) => Some(Arc::new(
            AuditLog::open(a).map_err(|e| ConfigError::new("audit.path", e))?,
        )),
        None => None,
    };
    let gateway = Arc::new(ArcSwap::from_pointee(Gateway::build(
        config,
        governor.scopes(),
    )?));
    let runtime = Arc::new(Runtime {
        governor: governor.clone(),
        audit: audit.clone(),
        retry_budget: RetryBudget::new(config.retries.budget, config.retries.budget_floor),
        conversations: conversation_store(config)?,
        in_flight: InFlight::default(),
        cache: exact_cache(config)?,
        flights: config.cache.dedup.then(Default::default),
        semantic: config
            .cache
            .semantic
            .as_ref()
            .map(crate::cache::semantic::SemanticCache::new),
        fetch: std::sync::OnceLock::new(),
    });

    let mut conf = ServerConf {
        threads: config.server.threads.unwrap_or_else(default_threads),
        grace_period_seconds: Some(config.server.grace_period.0.as_secs()),
        graceful_shutdown_timeout_seconds: Some(5),
        pid_file: config.server.pid_file.clone(),
        upgrade_sock: config.server.upgrade_sock.clone(),
        // Pingora's own cap on attempts per request; the failover plan decides, so this only
        // has to be above what any plan can make.
        max_retries: config.attempt_ceiling(),
        // Every timeout of a second or more on tokio's timer wheel, not Pingora's fast timers.
        // A request's timeouts (the client's keep-alive wait, each upstream read) are nearly
        // always cancelled long before they fire. A fast timer stays in a map of 10 ms slots
        // until its deadline (5 minutes for a first byte), so under steady load that map
        // holds tens of thousands of slots and every registration searches it; tokio drops a
        // cancelled timer from its wheel at once. 148.9k → 146.6k instructions a passthrough
        // request (callgrind, `wrk -c8`, 12 s: a short run, where the map stays small).
        fast_timeout_to_tokio_threshold_seconds: Some(0),
        ..ServerConf::default()
    };
    conf.version = 1;
    let opt = Opt {
        upgrade: mode.upgrade,
        daemon: mode.daemon,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    for (name, provider) in &config.providers {
        info!(
            "provider {name}: kind {}, {} endpoint(s), {} API key(s)",
            provider.kind,
            provider.endpoints.len(),
            provider.api_keys.len()
        );
    }
    let (upkeep, upkeep_handle) = ProviderUpkeep::new(gateway.load().providers.clone());
    let upkeep = server.add_service(GenBackgroundService::new(
        "provider endpoints".to_owned(),
        Arc::new(upkeep),
    ));
    let reloader = Arc::new(Reloader::new(
        source.path,
        config,
        source.sha256,
        gateway.clone(),
        runtime.clone(),
        upkeep_handle,
    ));
    if config.server.watch_config && reloader.path().is_some() {
        server.add_service(GenBackgroundService::new(
            "config watch".to_owned(),
            Arc::new(ConfigWatch::new(reloader.clone())),
        ));
    }

    if runtime.flights.is_some() {
        let fetches = pingora::proxy::http_proxy(
            &server.configuration,
            SluiceProxy::for_flight_fetches(gateway.clone(), runtime.clone()),
        );
        let _ = runtime.fetch.set(Arc::new(FlightFetch::new(fetches)));
    }
    let timeouts = &config.server.client_timeouts;
    let mut app = pingora::proxy::http_proxy(
        &server.configuration,
        SluiceProxy::new(gateway.clone(), runtime.clone()),
    );
    let mut options = HttpServerOptions::default();
    options.h2c = true;
    // An HTTP/2 connection with no stream open is closed after the same idle time as an
    // HTTP/1.1 keep-alive connection.
    options.h2_idle_timeout = Some(timeouts.idle.0);
    app.server_options = Some(options);
    let grace_period = config.server.grace_period.0;
    let mut proxy = Service::new(
        "sluice api".to_owned(),
        LameDuck::new(
            FirstBytesDeadline::new(app, timeouts.header.0),
            grace_period,
        ),
    );
    proxy.add_listener(ListenerConfig::tcp(config.listen.to_string()).l4_buffer(
        L4BufferSettings::new(API_READ_BUFFER, DEFAULT_L4_WRITE_BUFFER_SIZE),
    ));
    let proxy_handle = server.add_service(proxy);
    proxy_handle.add_dependency(&upkeep);

    if let Some(admin_listen) = config.admin_listen {
        let mut admin = Service::new(
            "sluice admin".to_owned(),
            AdminApp::new(gateway.clone(), runtime.clone(), reloader.clone()),
        );
        admin.threads = Some(1);
        admin.add_tcp(&admin_listen.to_string());
        server.add_service(admin);
    }
    for service in extra_services {
        server.add_boxed_service(service);
    }
    let durables = Arc::new(Durables {
        governor,
        audit,
        runtime,
        reloader,
        closed: std::sync::Once::new(),
    });
    server.add_service(GenBackgroundService::new(
        "drain".to_owned(),
        Arc::new(Drain::new(
            durables.clone(),
            grace_period,
            grace_period.min(MAX_LAME_DUCK),
        )),
    ));
    Ok((server, durables))
}

/// Where conversation turns are kept: beside the spend ledger, or in the shared Redis.
fn conversation_store(config: &Config) -> Result<Conversations, ConfigError> {
    let retention = config.state.conversation_retention.0;
    match config.state.backend {
        StateBackendKind::Embedded => Ok(Conversations::embedded(
            std::path::Path::new(&config.state.path),
            retention,
        )),
        StateBackendKind::Redis => Conversations::redis(
            config.state.url.as_deref().unwrap_or_default(),
            &config.state.prefix,
            retention,
        )
        .map_err(|e| ConfigError::new("state.url", e)),
    }
}

/// The exact cache, when configured: in Redis with the Redis state backend (every node
/// shares it), else in this process's memory.
fn exact_cache(config: &Config) -> Result<Option<crate::cache::ExactCache>, ConfigError> {
    let Some(exact) = &config.cache.exact else {
        return Ok(None);
    };
    match config.state.backend {
        StateBackendKind::Embedded => Ok(Some(crate::cache::ExactCache::memory(exact))),
        StateBackendKind::Redis => crate::cache::ExactCache::redis(
            exact,
            config.state.url.as_deref().unwrap_or_default(),
            &config.state.prefix,
        )
        .map(Some)
        .map_err(|e| ConfigError::new("state.url", e)),
    }
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
