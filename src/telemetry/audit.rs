//! The audit log: one JSON line per request, written in batches by a thread of its own
//! (`BatchWriter`) so the request path only serializes into a reused buffer and appends it. Rotates by size (`audit.jsonl` -> `.1` -> ... -> `.keep`); at
//! shutdown every queued line is written and flushed.

use super::batch::BatchWriter;
use crate::config::AuditConfig;
use sluice_filters::log_line::JsonObject;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One request, as written to the audit log.
#[cfg_attr(test, derive(serde::Serialize))]
pub struct AuditRecord<'a> {
    /// RFC 3339, UTC, milliseconds.
    pub time: &'a str,
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
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    pub request_body: Option<std::borrow::Cow<'a, str>>,
}

impl AuditRecord<'_> {
    /// The record as one JSON object, field by field (what a serde derive wrote, at a third of
    /// its cost).
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut object = JsonObject::new(out);
        object
            .str("time", self.time)
            .str("request_id", self.request_id)
            .opt_str("key", self.key)
            .opt_str("team", self.team)
            .str("route", self.route)
            .opt_str("model", self.model)
            .opt_str("provider", self.provider)
            .opt_str("upstream_model", self.upstream_model)
            .u64("status", u64::from(self.status))
            .str("error_type", self.error_type)
            .u64("attempts", self.attempts as u64)
            .bool("stream", self.stream)
            .u64("tokens_in", self.tokens_in)
            .u64("tokens_out", self.tokens_out)
            .u64("tokens_cached", self.tokens_cached)
            .bool("usage_estimated", self.usage_estimated)
            .f64("cost_usd", self.cost_usd)
            .f64("latency_ms", self.latency_ms)
            .opt_f64("ttft_ms", self.ttft_ms)
            .str("cache", self.cache)
            .str("guardrails", self.guardrails);
        if let Some(body) = &self.request_body {
            object.str("request_body", body);
        }
        object.finish();
    }
}

pub struct AuditLog {
    writer: BatchWriter,
    pub bodies: bool,
}

/// How often queued records are written (and the file checked for a rotation by others).
const WRITE_INTERVAL: Duration = Duration::from_millis(100);

thread_local! {
    /// Each worker thread's serialization buffer, reused for every record.
    static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl AuditLog {
    pub fn open(config: &AuditConfig) -> Result<AuditLog, String> {
        let path = PathBuf::from(&config.path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let file = open_append(&path)?;
        let mut sink = AuditFile::new(file, path, config.max_size.0, config.keep);
        let writer = BatchWriter::spawn("sluice-audit", WRITE_INTERVAL, move |batch| {
            sink.write(batch)
        })
        .map_err(|e| e.to_string())?;
        Ok(AuditLog {
            writer,
            bodies: config.bodies,
        })
    }

    /// Queues one request's record.
    pub fn write(&self, record: &AuditRecord<'_>) {
        LINE.with(|line| {
            let mut line = line.borrow_mut();
            line.clear();
            record.write_json(&mut line);
            line.push(b'\n');
            self.writer.append(&line);
        });
    }

    /// Queues one record (a JSON object; the newline is added here).
    #[cfg(test)]
    pub fn record(&self, mut line: Vec<u8>) {
        line.push(b'\n');
        self.writer.append(&line);
    }

    /// Writes everything queued and stops the writer.
    pub fn close(&self) {
        self.writer.close();
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

/// The audit file as the writer thread holds it: rotated by size (whole lines), reopened when
/// logrotate moved or removed it.
struct AuditFile {
    file: File,
    path: PathBuf,
    size: u64,
    open_as: Option<(u64, u64)>,
    max_size: u64,
    keep: u32,
    checked: Instant,
}

impl AuditFile {
    fn new(file: File, path: PathBuf, max_size: u64, keep: u32) -> AuditFile {
        let metadata = file.metadata().ok();
        AuditFile {
            size: metadata.as_ref().map_or(0, |m| m.len()),
            open_as: metadata.as_ref().map(identity),
            file,
            path,
            max_size,
            keep,
            checked: Instant::now(),
        }
    }

    fn write(&mut self, batch: &[u8]) {
        if self.checked.elapsed() >= REOPEN_CHECK {
            self.checked = Instant::now();
            let now_names = std::fs::metadata(&self.path).ok().map(|m| identity(&m));
            if now_names.is_none() || now_names != self.open_as {
                // Moved away (logrotate) or removed: the next lines go to a new file.
                self.reopen();
            }
        }
        if self.size.saturating_add(batch.len() as u64) <= self.max_size {
            // The common case: the whole batch fits, no line needs finding.
            self.put(batch);
            return;
        }
        // Whole lines, in runs that fit the current file.
        let mut run_start = 0;
        let mut at = 0;
        while at < batch.len() {
            let end = batch[at..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(batch.len(), |p| at + p + 1);
            let run = (at - run_start) as u64;
            let line = (end - at) as u64;
            if self.size + run + line > self.max_size && self.size + run > 0 {
                self.put(&batch[run_start..at]);
                rotate(&self.path, self.keep);
                self.reopen();
                run_start = at;
            }
            at = end;
        }
        self.put(&batch[run_start..]);
    }

    fn put(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Err(e) = self.file.write_all(bytes) {
            log::error!("audit log write failed: {e}");
        }
        self.size += bytes.len() as u64;
    }

    fn reopen(&mut self) {
        match open_append(&self.path) {
            Ok(f) => {
                let metadata = f.metadata().ok();
                self.size = metadata.as_ref().map_or(0, |m| m.len());
                self.open_as = metadata.as_ref().map(identity);
                self.file = f;
            }
            Err(e) => log::error!("audit log: {e}"),
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

    fn record<'a>(body: Option<&'a str>, name: &'a str) -> AuditRecord<'a> {
        AuditRecord {
            time: "2026-11-29T19:34:36.123Z",
            request_id: "req_1",
            key: Some(name),
            team: None,
            route: "/v1/chat/completions",
            model: Some("gpt-4o-mini"),
            provider: None,
            upstream_model: Some(name),
            status: 200,
            error_type: "none",
            attempts: 2,
            stream: true,
            tokens_in: 12,
            tokens_out: u64::MAX,
            tokens_cached: 0,
            usage_estimated: false,
            cost_usd: 0.000123,
            latency_ms: 12.345,
            ttft_ms: None,
            cache: "miss",
            guardrails: "-",
            request_body: body.map(std::borrow::Cow::Borrowed),
        }
    }

    #[test]
    fn a_record_is_written_as_its_serde_derive_would_write_it() {
        let cases = [
            record(None, "plain"),
            record(
                Some("{\"messages\":[\"a\\nb\"]}"),
                "quote\" and \\ and \u{1}",
            ),
            AuditRecord {
                ttft_ms: Some(3.0),
                team: Some("t"),
                latency_ms: f64::NAN,
                ..record(Some(""), "é")
            },
        ];
        for record in cases {
            let mut ours = Vec::new();
            record.write_json(&mut ours);
            let want = serde_json::to_vec(&record).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&want)
            );
        }
    }

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
