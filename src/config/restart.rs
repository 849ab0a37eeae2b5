//! What a running gateway cannot take from a reload: the sockets it listens on, the settings
//! Pingora's server was built with, the state backend, the audit log and the gateway-wide
//! retry budget. A reload that changes one of them is refused with the field named, so the
//! file on disk never silently differs from what serves.

use super::{Config, ConfigError};

const RESTART: &str = "changes only with a restart or an upgrade (`sluice serve -u`)";

/// The first setting `next` changes that needs a restart, if any. `ceiling` is the most
/// attempts per request the running process allows.
pub fn needs_restart(running: &Config, next: &Config, ceiling: usize) -> Option<ConfigError> {
    let (a, b) = (&running.server, &next.server);
    let changed = [
        ("listen", running.listen != next.listen),
        ("admin_listen", running.admin_listen != next.admin_listen),
        ("server.threads", a.threads != b.threads),
        ("server.grace_period", a.grace_period != b.grace_period),
        ("server.pid_file", a.pid_file != b.pid_file),
        ("server.upgrade_sock", a.upgrade_sock != b.upgrade_sock),
        ("server.watch_config", a.watch_config != b.watch_config),
        (
            "server.client_timeouts.header",
            a.client_timeouts.header != b.client_timeouts.header,
        ),
        ("state", running.state != next.state),
        ("audit", running.audit != next.audit),
        ("cache", running.cache != next.cache),
        (
            "retries.budget",
            running.retries.budget != next.retries.budget,
        ),
        (
            "retries.budget_floor",
            running.retries.budget_floor != next.retries.budget_floor,
        ),
    ];
    if let Some((path, _)) = changed.iter().find(|(_, changed)| *changed) {
        return Some(ConfigError::new(*path, RESTART));
    }
    let needed = next.attempt_ceiling();
    (needed > ceiling).then(|| {
        ConfigError::new(
            "models",
            format!(
                "a request may now need {needed} attempts (targets, fallbacks and retries.attempts) \
                 and this process allows {ceiling}: {RESTART}"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "providers: {p: {kind: openai, endpoints: [{url: 'http://127.0.0.1:1'}]}}\n\
                        models: [{name: m, targets: [{provider: p, model: x}]}]\n";

    fn config(extra: &str) -> Config {
        Config::parse(&format!("{BASE}{extra}"), &|_| None).unwrap()
    }

    #[test]
    fn each_restart_only_setting_is_named() {
        let running = config("listen: 127.0.0.1:8080\nserver: {dns_refresh: 60s}\n");
        let cases = [
            ("listen: 127.0.0.1:8081\n", Some("listen")),
            ("listen: 127.0.0.1:8080\nadmin_listen: 127.0.0.1:9\n", Some("admin_listen")),
            ("listen: 127.0.0.1:8080\nserver: {threads: 3}\n", Some("server.threads")),
            ("listen: 127.0.0.1:8080\nserver: {grace_period: 1s}\n", Some("server.grace_period")),
            (
                "listen: 127.0.0.1:8080\nserver: {client_timeouts: {header: 1s}}\n",
                Some("server.client_timeouts.header"),
            ),
            ("listen: 127.0.0.1:8080\nstate: {path: /elsewhere}\n", Some("state")),
            ("listen: 127.0.0.1:8080\naudit: {path: /tmp/a.jsonl}\n", Some("audit")),
            ("listen: 127.0.0.1:8080\nretries: {budget: 0.5}\n", Some("retries.budget")),
            // Reloadable: DNS refresh, client idle timeouts, retries, keys, models.
            ("listen: 127.0.0.1:8080\nserver: {dns_refresh: 5s}\n", None),
            (
                "listen: 127.0.0.1:8080\nserver: {client_timeouts: {idle: 5s}}\nretries: {attempts: 2}\n",
                None,
            ),
            ("listen: 127.0.0.1:8080\nkeys: [{name: a, key: secret-key-a}]\n", None),
        ];
        for (extra, want) in cases {
            let got = needs_restart(&running, &config(extra), running.attempt_ceiling());
            assert_eq!(got.map(|e| e.path), want.map(str::to_owned), "{extra}");
        }
    }

    #[test]
    fn a_plan_longer_than_the_process_allows_is_refused() {
        let running = config("");
        let mut targets = String::new();
        for i in 0..40 {
            targets.push_str(&format!("{{provider: p, model: x{i}}},"));
        }
        let next = config("retries: {attempts: 2}\n");
        assert!(needs_restart(&running, &next, running.attempt_ceiling()).is_none());
        let long = Config::parse(
            &format!(
                "providers: {{p: {{kind: openai, endpoints: [{{url: 'http://127.0.0.1:1'}}]}}}}\n\
                 models: [{{name: m, targets: [{targets}]}}]\n"
            ),
            &|_| None,
        )
        .unwrap();
        let refused = needs_restart(&running, &long, running.attempt_ceiling()).unwrap();
        assert_eq!(refused.path, "models");
        assert!(refused.message.contains("restart"), "{}", refused.message);
    }
}
