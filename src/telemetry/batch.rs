//! A batched writer for the per-request records (access log, audit log): a request appends its
//! line to a shared buffer under an uncontended lock; one background thread takes the whole
//! buffer every `interval` (sooner once it passes `SOON`) and writes it at once. The request
//! path pays a memcpy, not a channel send, a thread wake-up and a write(2) per record.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Past this many buffered bytes the writer is woken instead of waiting for its interval.
const SOON: usize = 256 * 1024;

struct Shared {
    buffer: Mutex<Vec<u8>>,
    wake: Condvar,
    stop: AtomicBool,
}

pub struct BatchWriter {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl BatchWriter {
    /// Starts the writer thread. `sink` receives each batch (complete lines), and an empty
    /// batch on every idle interval (for periodic work such as noticing a rotated file).
    pub fn spawn(
        name: &str,
        interval: Duration,
        mut sink: impl FnMut(&[u8]) + Send + 'static,
    ) -> std::io::Result<BatchWriter> {
        let shared = Arc::new(Shared {
            buffer: Mutex::new(Vec::with_capacity(64 * 1024)),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut batch = Vec::with_capacity(64 * 1024);
                loop {
                    let stopping = {
                        let Ok(mut buffer) = worker.buffer.lock() else {
                            return;
                        };
                        if buffer.len() < SOON && !worker.stop.load(Ordering::Acquire) {
                            buffer = match worker.wake.wait_timeout(buffer, interval) {
                                Ok((b, _)) => b,
                                Err(_) => return,
                            };
                        }
                        std::mem::swap(&mut *buffer, &mut batch);
                        worker.stop.load(Ordering::Acquire)
                    };
                    sink(&batch);
                    batch.clear();
                    if stopping {
                        // A last look: lines appended while the batch was written.
                        if let Ok(mut buffer) = worker.buffer.lock() {
                            std::mem::swap(&mut *buffer, &mut batch);
                        }
                        if !batch.is_empty() {
                            sink(&batch);
                        }
                        return;
                    }
                }
            })?;
        Ok(BatchWriter {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Appends complete lines to the next batch.
    pub fn append(&self, line: &[u8]) {
        if self.shared.stop.load(Ordering::Relaxed) {
            return;
        }
        if let Ok(mut buffer) = self.shared.buffer.lock() {
            buffer.extend_from_slice(line);
            if buffer.len() >= SOON {
                self.shared.wake.notify_one();
            }
        }
    }

    /// Writes what is buffered and stops the thread (later lines are dropped).
    pub fn close(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        if let Some(handle) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_written_once_in_order_and_close_flushes() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = written.clone();
        let writer = BatchWriter::spawn("test-batch", Duration::from_secs(3600), move |b| {
            if let Ok(mut w) = sink.lock() {
                w.extend_from_slice(b);
            }
        })
        .unwrap();
        std::thread::scope(|scope| {
            for t in 0..4 {
                let writer = &writer;
                scope.spawn(move || {
                    for i in 0..1000 {
                        writer.append(format!("{t}:{i}\n").as_bytes());
                    }
                });
            }
        });
        writer.close();
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 4000);
        for t in 0..4 {
            let mine: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("{t}:")))
                .collect();
            let expected: Vec<String> = (0..1000).map(|i| format!("{t}:{i}")).collect();
            assert_eq!(mine, expected);
        }
        writer.append(b"after close\n");
        assert!(!String::from_utf8(written.lock().unwrap().clone())
            .unwrap()
            .contains("after"));
    }
}
