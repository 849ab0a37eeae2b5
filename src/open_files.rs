//! The process's open-files limit, the one limit on how many streams the gateway holds: each
//! proxied request takes two descriptors (the client's connection and the provider's). At
//! start the soft limit is raised to the hard one (as nginx's `worker_rlimit_nofile` and Go's
//! runtime do); when it runs out anyway, a failed upstream connect is the gateway's own
//! shortage, never the provider's: it must not eject a healthy endpoint (that turned one
//! full gateway into 503s blaming the provider for everyone), and the client is told what
//! happened.

use std::sync::atomic::{AtomicU64, Ordering};

/// The soft limit in force, after `raise`.
static LIMIT: AtomicU64 = AtomicU64::new(0);
/// When the shortage was last logged (ms since the epoch): at most once a second.
static LAST_LOGGED_MS: AtomicU64 = AtomicU64::new(0);
/// Descriptors the process keeps besides its connections: listeners, logs, state, epoll.
pub const RESERVED: u64 = 64;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns (before, after).
pub fn raise() -> (u64, u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((before, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return (0, 0);
    };
    let after = if before < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        before
    };
    LIMIT.store(after, Ordering::Relaxed);
    (before, after)
}

/// The soft limit in force (0 before `raise`).
pub fn limit() -> u64 {
    LIMIT.load(Ordering::Relaxed)
}

/// How many requests can be proxied at once under `limit` descriptors.
pub fn streams_allowed(limit: u64) -> u64 {
    limit.saturating_sub(RESERVED) / 2
}

/// Whether `e` (or an error it was caused by) is the process out of descriptors: EMFILE for
/// this process, ENFILE for the whole system.
pub fn exhausted(e: &pingora::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e
        .cause
        .as_deref()
        .map(|c| c as &(dyn std::error::Error + 'static));
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return matches!(io.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
        }
        // Pingora boxes a `Box<Error>` cause once more, so both shapes occur.
        let inner = c
            .downcast_ref::<pingora::Error>()
            .or_else(|| c.downcast_ref::<Box<pingora::Error>>().map(|b| &**b));
        cause = match inner {
            Some(inner) => inner
                .cause
                .as_deref()
                .map(|c| c as &(dyn std::error::Error + 'static)),
            None => c.source(),
        };
    }
    false
}

/// The client-facing sentence for a request refused for want of descriptors.
pub fn message() -> String {
    let limit = limit();
    format!(
        "the gateway is at its limit of open connections (open-files limit {limit}, two per \
         proxied request: about {} at once); retry shortly",
        streams_allowed(limit)
    )
}

/// Logs the shortage, at most once a second.
pub fn log_shortage(now_ms: u64) {
    let last = LAST_LOGGED_MS.load(Ordering::Relaxed);
    if now_ms.saturating_sub(last) >= 1000
        && LAST_LOGGED_MS
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        log::error!(
            "out of file descriptors (RLIMIT_NOFILE {}): requests are answered 503 \
             gateway_busy; raise the limit (ulimit -n, systemd LimitNOFILE) to hold more \
             streams",
            limit()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::{Error, ErrorType};

    #[test]
    fn emfile_in_the_cause_chain_is_a_shortage() {
        let io = std::io::Error::from_raw_os_error(libc::EMFILE);
        let socket = Error::because(ErrorType::SocketError, "failed to create socket", io);
        let connect = Error::because(ErrorType::ConnectError, "fail to connect", socket);
        assert!(exhausted(&connect));
    }

    #[test]
    fn a_refused_connection_is_not() {
        let io = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        let e = Error::because(ErrorType::ConnectRefused, "connect", io);
        assert!(!exhausted(&e));
        assert!(!exhausted(&Error::new(ErrorType::ConnectTimedout)));
    }

    #[test]
    fn two_descriptors_per_stream() {
        assert_eq!(streams_allowed(20_000), 9_968);
        assert_eq!(streams_allowed(10), 0);
    }
}
