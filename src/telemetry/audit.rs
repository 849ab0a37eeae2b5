//! The audit log: one JSON line per request, written by a thread of its own so the request path
//! only hands over a buffer. Rotates by size (`audit.jsonl` -> `.1` -> ... -> `.keep`); at
//! shutdown every queued line is written and flushed.

use crate::config::AuditConfig;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request, as written to the audit log.
#[derive(serde::Serialize)]
pub struct AuditRecord<'a> {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    pub request_id: &'a str,
    pub key: Option<&'a str>,
    pub team: Option<&'a str>,
    pub route: &'a str,
    pub model: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub upstream_model: Option<&'a str>,
    pub status: u16,
    pub error_type: &'a str,
    pub attempts: usize,
    pub stream: bool,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub tokens_cached: u64,
    pub usage_estimated: bool,
    pub cost_usd: f64,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub cache: &'a str,
    /// Guardrail findings: `rule/detector:action:side xN`, comma-separated, or `-`.
    pub guardrails: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<std::borrow::Cow<'a, str>>,
}

pub struct AuditLog {
    sender: Mutex<Option<Sender<Vec<u8>>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    pub bodies: bool,
}

impl AuditLog {
    pub fn open(config: &AuditConfig) -> Result<AuditLog, String> {
        let path = PathBuf::from(&config.path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let file = open_append(&path)?;
        let (sender, receiver) = channel();
        let max_size = config.max_size.0;
        let keep = config.keep;
        let writer = std::thread::Builder::new()
            .name("sluice-audit".into())
            .spawn(move || write_lines(receiver, file, path, max_size, keep))
            .map_err(|e| e.to_string())?;
        Ok(AuditLog {
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            bodies: config.bodies,
        })
    }

    /// Queues one request's record.
    pub fn write(&self, record: &AuditRecord<'_>) {
        match serde_json::to_vec(record) {
            Ok(line) => self.record(line),
            Err(e) => log::error!("audit record not serializable: {e}"),
        }
    }

    /// Queues one record (a JSON object; the newline is added here).
    pub fn record(&self, mut line: Vec<u8>) {
        line.push(b'\n');
        if let Ok(guard) = self.sender.lock() {
            if let Some(sender) = guard.as_ref() {
                let _ = sender.send(line);
            }
        }
    }

    /// Writes everything queued and stops the writer.
    pub fn close(&self) {
        if let Ok(mut guard) = self.sender.lock() {
            guard.take();
        }
        if let Some(handle) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = handle.join();
        }
    }
}

fn open_append(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

/// How often the writer checks that `path` still names the file it writes.
const REOPEN_CHECK: Duration = Duration::from_secs(1);

/// The identity of an open file or of what a path names: a rename (logrotate) or a removal of
/// the log makes the path name another file, or none.
fn identity(metadata: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

fn write_lines(receiver: Receiver<Vec<u8>>, file: File, path: PathBuf, max_size: u64, keep: u32) {
    let mut size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut open_as = file.metadata().ok().map(|m| identity(&m));
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    let mut checked = Instant::now();
    loop {
        let received = receiver.recv_timeout(Duration::from_millis(500));
        if checked.elapsed() >= REOPEN_CHECK {
            checked = Instant::now();
            let now_names = std::fs::metadata(&path).ok().map(|m| identity(&m));
            if now_names.is_none() || now_names != open_as {
                // Moved away (logrotate) or removed: what is buffered goes to the old file,
                // the next lines to a new one at `path`.
                let _ = out.flush();
                match open_append(&path) {
                    Ok(f) => {
                        size = f.metadata().map(|m| m.len()).unwrap_or(0);
                        open_as = f.metadata().ok().map(|m| identity(&m));
                        out = BufWriter::with_capacity(64 * 1024, f);
                    }
                    Err(e) => log::error!("audit log: {e}"),
                }
            }
        }
        match received {
            Ok(line) => {
                if size + line.len() as u64 > max_size && size > 0 {
                    let _ = out.flush();
                    rotate(&path, keep);
                    match open_append(&path) {
                        Ok(f) => {
                            open_as = f.metadata().ok().map(|m| identity(&m));
                            out = BufWriter::with_capacity(64 * 1024, f);
                            size = 0;
                        }
                        Err(e) => log::error!("audit log: {e}"),
                    }
                }
                if let Err(e) = out.write_all(&line) {
                    log::error!("audit log write failed: {e}");
                }
                size += line.len() as u64;
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = out.flush();
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = out.flush();
                return;
            }
        }
    }
}

/// `audit.jsonl.{keep-1}` -> `.{keep}`, ..., `audit.jsonl` -> `.1`; the oldest falls off.
fn rotate(path: &Path, keep: u32) {
    let name = |i: u32| PathBuf::from(format!("{}.{i}", path.display()));
    if keep == 0 {
        let _ = std::fs::remove_file(path);
        return;
    }
    let _ = std::fs::remove_file(name(keep));
    for i in (1..keep).rev() {
        let _ = std::fs::rename(name(i), name(i + 1));
    }
    let _ = std::fs::rename(path, name(1));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ByteSize;

    #[test]
    fn rotates_by_size_and_keeps_n_files() {
        let dir = std::env::temp_dir().join(format!("sluice-audit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("audit.jsonl");
        let log = AuditLog::open(&AuditConfig {
            path: path.display().to_string(),
            bodies: false,
            max_size: ByteSize(100),
            keep: 2,
        })
        .unwrap();
        for i in 0..20 {
            log.record(format!("{{\"n\":{i},\"pad\":\"xxxxxxxxxxxxxxxx\"}}").into_bytes());
        }
        log.close();
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.contains("\"n\":19"));
        assert!(dir.join("audit.jsonl.1").exists());
        assert!(dir.join("audit.jsonl.2").exists());
        assert!(!dir.join("audit.jsonl.3").exists());
        for file in [path.clone(), dir.join("audit.jsonl.1")] {
            for line in std::fs::read_to_string(file).unwrap().lines() {
                serde_json::from_str::<serde_json::Value>(line).unwrap();
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_log_moved_away_by_logrotate_is_reopened_and_nothing_is_lost() {
        let dir = std::env::temp_dir().join(format!("sluice-audit-mv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("audit.jsonl");
        let log = AuditLog::open(&AuditConfig {
            path: path.display().to_string(),
            bodies: false,
            max_size: ByteSize(u64::MAX),
            keep: 0,
        })
        .unwrap();
        log.record(b"{\"n\":0}".to_vec());
        std::fs::rename(&path, dir.join("audit.jsonl.1")).unwrap();
        // Keep writing until the writer opened a new file at the old path (it looks once a
        // second); 30 s at most.
        let mut sent = 1;
        for _ in 0..600 {
            log.record(format!("{{\"n\":{sent}}}").into_bytes());
            sent += 1;
            std::thread::sleep(Duration::from_millis(50));
            if path.exists() {
                break;
            }
        }
        log.close();
        let lines = |p: &Path| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .count()
        };
        assert!(lines(&path) > 0, "never reopened");
        assert_eq!(lines(&dir.join("audit.jsonl.1")) + lines(&path), sent);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
