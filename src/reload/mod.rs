//! Hot reload: the config file is read again on SIGHUP, when it changes on disk, or on
//! `POST /admin/reload`. The new text goes through the same load and validation as
//! `sluice check`; a valid one is swapped in whole (a request in flight finishes on the
//! snapshot it started with, the next one uses the new), an invalid one changes nothing and
//! is reported with its field, in the log, in `sluice_config_reloads_total{result}` and on
//! `GET /admin/config`.
//!
//! State follows by name: keys, teams and models that stay keep their windows, requests in
//! flight and spend; providers and models whose entries did not change are kept whole
//! (endpoint health, breakers, balancer state); removed ones are dropped and their health
//! checks stopped.

pub mod signal;
pub mod watch;

use crate::config::{needs_restart, Config, ConfigError};
use crate::routing::upkeep::UpkeepHandle;
use crate::routing::Gateway;
use crate::runtime::Runtime;
use crate::state::ScopeTable;
use crate::telemetry::metrics::{CONFIG_LAST_RELOAD_SUCCESSFUL, CONFIG_RELOADS, CONFIG_VERSION};
use arc_swap::ArcSwap;
use serde_json::{json, Value};
use sluice_filters::auth::sha256_hex;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What asked for a reload (shown on `GET /admin/config` and in the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Signal,
    FileChange,
    Admin,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "SIGHUP",
            Trigger::FileChange => "file change",
            Trigger::Admin => "admin API",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The new config is in force under this version.
    Applied { version: u64 },
    /// The file is the one in force.
    Unchanged { version: u64 },
    /// Nothing changed: the reason, with the field it is about.
    Rejected(ConfigError),
}

/// The config in force and what reloads did, for `GET /admin/config`.
struct Status {
    version: u64,
    sha256: String,
    loaded_at: u64,
    last_error: Option<Value>,
    applied: u64,
    rejected: u64,
}

/// The config in force, replaced only under the reload lock.
struct Current {
    config: Config,
    sha256: String,
}

pub struct Reloader {
    /// The file the gateway was started from (none: the built-in demo).
    path: Option<PathBuf>,
    gateway: Arc<ArcSwap<Gateway>>,
    runtime: Arc<Runtime>,
    upkeep: UpkeepHandle,
    /// Pingora's cap on attempts per request, fixed at start.
    attempt_ceiling: usize,
    current: tokio::sync::Mutex<Current>,
    status: Mutex<Status>,
}

impl Reloader {
    pub fn new(
        path: Option<PathBuf>,
        config: &Config,
        sha256: String,
        gateway: Arc<ArcSwap<Gateway>>,
        runtime: Arc<Runtime>,
        upkeep: UpkeepHandle,
    ) -> Reloader {
        Reloader {
            path,
            gateway,
            runtime,
            upkeep,
            attempt_ceiling: config.attempt_ceiling(),
            status: Mutex::new(Status {
                version: 1,
                sha256: sha256.clone(),
                loaded_at: crate::state::unix_now().as_secs(),
                last_error: None,
                applied: 0,
                rejected: 0,
            }),
            current: tokio::sync::Mutex::new(Current {
                config: config.clone(),
                sha256,
            }),
        }
    }

    /// The file reloads read, if the gateway was started from one.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    /// Reads the file again and puts it in force if it is valid. One reload at a time.
    pub async fn reload(&self, trigger: Trigger) -> Outcome {
        let Some(path) = self.path.as_deref() else {
            let error = ConfigError::new(
                "",
                "this gateway runs the built-in demo, not a config file: nothing to reload",
            );
            return self.rejected(trigger, error);
        };
        let mut current = self.current.lock().await;
        let text = match Config::read(path) {
            Ok(text) => text,
            Err(e) => return self.rejected(trigger, e),
        };
        let sha256 = sha256_hex(&text);
        if sha256 == current.sha256 {
            CONFIG_RELOADS.with_label_values(&["unchanged"]).inc();
            let version = self.status.lock().map_or(0, |s| s.version);
            log::info!(
                "config reload ({}): {} is unchanged (version {version})",
                trigger.as_str(),
                path.display()
            );
            return Outcome::Unchanged { version };
        }
        let next = match self.prepare(&current.config, &text) {
            Ok(next) => next,
            Err(e) => return self.rejected(trigger, e),
        };
        let Prepared {
            config,
            gateway,
            scopes,
        } = next;
        let previous = self.gateway.load_full();
        let summary = summarize(&previous, &gateway);
        // Providers the new snapshot adds are resolved before it routes to them.
        let mut both = previous.providers.clone();
        both.extend(gateway.providers.iter().cloned());
        self.upkeep.keep_only(both).await;
        let kept = gateway.providers.clone();
        self.runtime.governor.install(scopes);
        self.gateway.store(Arc::new(gateway));
        self.upkeep.keep_only(kept).await;
        current.config = config;
        current.sha256 = sha256.clone();
        let version = match self.status.lock() {
            Ok(mut status) => {
                status.version += 1;
                status.sha256 = sha256.clone();
                status.loaded_at = crate::state::unix_now().as_secs();
                status.applied += 1;
                status.version
            }
            Err(_) => 0,
        };
        CONFIG_RELOADS.with_label_values(&["applied"]).inc();
        CONFIG_LAST_RELOAD_SUCCESSFUL.set(1);
        CONFIG_VERSION.set(i64::try_from(version).unwrap_or(i64::MAX));
        log::info!(
            "config reloaded ({}): version {version}, sha256 {}, {summary}",
            trigger.as_str(),
            &sha256[..12]
        );
        Outcome::Applied { version }
    }

    /// Everything a reload can fail on, before anything changes.
    fn prepare(&self, running: &Config, text: &str) -> Result<Prepared, ConfigError> {
        let config = Config::parse(text, &|name| std::env::var(name).ok())?;
        if let Some(e) = needs_restart(running, &config, self.attempt_ceiling) {
            return Err(e);
        }
        let scopes = Arc::new(self.runtime.governor.prepare(&config)?);
        let gateway = Gateway::build_next(&config, Some(&self.gateway.load()), scopes.clone())?;
        Ok(Prepared {
            config,
            gateway,
            scopes,
        })
    }

    fn rejected(&self, trigger: Trigger, error: ConfigError) -> Outcome {
        CONFIG_RELOADS.with_label_values(&["rejected"]).inc();
        CONFIG_LAST_RELOAD_SUCCESSFUL.set(0);
        log::error!(
            "config reload ({}) rejected, the config in force keeps serving: {error}",
            trigger.as_str()
        );
        if let Ok(mut status) = self.status.lock() {
            status.rejected += 1;
            status.last_error = Some(json!({
                "at": crate::state::unix_now().as_secs(),
                "trigger": trigger.as_str(),
                "field": error.path,
                "message": error.message,
            }));
        }
        Outcome::Rejected(error)
    }

    /// `GET /admin/config`.
    pub fn report(&self) -> Value {
        let Ok(status) = self.status.lock() else {
            return json!({});
        };
        json!({
            "path": self.path.as_ref().map(|p| p.display().to_string()),
            "version": status.version,
            "sha256": status.sha256,
            "loaded_at": status.loaded_at,
            "reloads": {"applied": status.applied, "rejected": status.rejected},
            "last_error": status.last_error,
        })
    }
}

struct Prepared {
    config: Config,
    gateway: Gateway,
    scopes: Arc<ScopeTable>,
}

/// What a reload changes, for the log: `models +1 -0, keys +2 -1, providers 3 kept 1 rebuilt`.
fn summarize(previous: &Gateway, next: &Gateway) -> String {
    let added = |old: &[String], new: &[String]| new.iter().filter(|n| !old.contains(n)).count();
    let old_models = &previous.model_names;
    let new_models = &next.model_names;
    let names = |g: &Gateway| g.scopes.keys.keys().cloned().collect::<Vec<String>>();
    let (old_keys, new_keys) = (names(previous), names(next));
    let kept = next
        .providers
        .iter()
        .filter(|p| previous.providers.iter().any(|old| Arc::ptr_eq(old, p)))
        .count();
    format!(
        "models +{} -{}, keys +{} -{}, providers {kept} kept {} new or rebuilt",
        added(old_models, new_models),
        added(new_models, old_models),
        added(&old_keys, &new_keys),
        added(&new_keys, &old_keys),
        next.providers.len() - kept,
    )
}
