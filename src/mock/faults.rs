//! The mock's behaviour switches: set at start (`sluice mock --chunks ...`), changed at run time
//! (`POST /__mock/faults` with JSON), or overridden per request with `x-mock-*` headers, which
//! the gateway forwards like any client header.

use pingora::http::RequestHeader;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Answer every request with this status and an error body in the provider's dialect.
    pub status: Option<u16>,
    /// `retry-after` seconds sent with an error status.
    pub retry_after: Option<u64>,
    /// Wait this long before sending the response head (a slow or stalled provider).
    pub delay_ms: u64,
    /// Content chunks in a streamed answer.
    pub chunks: usize,
    /// Pause between streamed chunks.
    pub chunk_delay_ms: u64,
    /// Drop the connection after this many content chunks (a stream cut mid-way).
    pub cut_after: Option<usize>,
    /// Send the dialect's in-stream error event after this many content chunks, then end the
    /// stream cleanly (what providers do when they fail after HTTP 200).
    pub stream_error_after: Option<usize>,
    /// Hold the answer until `POST /__mock/release`: a stream after its head and this many
    /// content chunks, a whole answer (or an error) before it is written. A test reads what
    /// was sent so far while the provider is still holding the rest.
    pub hold_after: Option<usize>,
    /// The assistant's reply text (default: a sentence naming the mock and the model).
    pub reply: Option<String>,
    /// Apply `status` only to requests whose credential contains this (one bad key of several).
    pub only_key: Option<String>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            status: None,
            retry_after: None,
            delay_ms: 0,
            chunks: 5,
            chunk_delay_ms: 20,
            cut_after: None,
            stream_error_after: None,
            hold_after: None,
            reply: None,
            only_key: None,
        }
    }
}

impl Faults {
    /// These faults with any `x-mock-*` request headers applied on top.
    pub fn with_overrides(&self, req: &RequestHeader) -> Faults {
        let mut f = self.clone();
        let num = |name: &str| -> Option<u64> {
            req.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
        };
        if let Some(v) = num("x-mock-status") {
            f.status = u16::try_from(v).ok().filter(|s| *s >= 100);
        }
        if let Some(v) = num("x-mock-retry-after") {
            f.retry_after = Some(v);
        }
        if let Some(v) = num("x-mock-delay-ms") {
            f.delay_ms = v;
        }
        if let Some(v) = num("x-mock-chunks") {
            f.chunks = v as usize;
        }
        if let Some(v) = num("x-mock-chunk-delay-ms") {
            f.chunk_delay_ms = v;
        }
        if let Some(v) = num("x-mock-cut-after") {
            f.cut_after = Some(v as usize);
        }
        if let Some(v) = num("x-mock-stream-error-after") {
            f.stream_error_after = Some(v as usize);
        }
        if let Some(v) = num("x-mock-hold-after") {
            f.hold_after = Some(v as usize);
        }
        f
    }
}
