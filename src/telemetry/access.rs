//! The access log: one line per request, formatted into a reused buffer and written in batches
//! to stderr (where the other logs go) by a thread of its own, in env_logger's line shape. A
//! request pays the formatting and a memcpy; no write(2) and no logger machinery per line.
//! Off when `RUST_LOG` leaves the `access` target below `info`.

use super::batch::BatchWriter;
use sluice_filters::governance::Rfc3339Millis;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

/// How often queued lines are written.
const WRITE_INTERVAL: Duration = Duration::from_millis(100);

static WRITER: OnceLock<Option<BatchWriter>> = OnceLock::new();

thread_local! {
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Whether the access log is on: a request builds the parts of its line only then.
pub fn enabled() -> bool {
    log::log_enabled!(target: "access", log::Level::Info)
}

/// Writes one access line, if the access log is on: the prefix with `time`, what `fill`
/// appends, and the newline.
pub fn write(time: &Rfc3339Millis, fill: impl FnOnce(&mut String)) {
    if !enabled() {
        return;
    }
    let writer = WRITER.get_or_init(|| {
        BatchWriter::spawn("sluice-access", WRITE_INTERVAL, |batch| {
            let _ = std::io::stderr().lock().write_all(batch);
        })
        .ok()
    });
    let Some(writer) = writer else {
        return;
    };
    LINE.with(|line| {
        let mut line = line.borrow_mut();
        line.clear();
        line.push('[');
        line.push_str(time.as_str());
        line.push_str(" INFO  access] ");
        fill(&mut line);
        line.push('\n');
        writer.append(line.as_bytes());
    });
}

/// Writes what is queued (at shutdown).
pub fn close() {
    if let Some(Some(writer)) = WRITER.get() {
        writer.close();
    }
}
