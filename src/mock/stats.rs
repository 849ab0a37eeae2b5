//! What the mock received, for tests to assert on (`GET /__mock/requests`).

use serde::Serialize;
use std::collections::VecDeque;

/// Requests kept in memory; older ones are dropped (the count keeps going).
const KEPT: usize = 200;

#[derive(Debug, Clone, Serialize)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    /// The `Content-Length` header as received, if any.
    pub content_length: Option<String>,
    pub transfer_encoding: Option<String>,
    pub body_bytes: usize,
    pub body_sha256: String,
    pub authorization: Option<String>,
    /// `x-api-key`, `api-key` or `x-goog-api-key`, whichever the dialect uses.
    pub api_key: Option<String>,
    pub anthropic_version: Option<String>,
    pub host: Option<String>,
    /// Every header as received (names lowercase), for tests of what reaches a provider.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The `model` field of a JSON body.
    pub model: Option<String>,
    pub stream: bool,
    /// The JSON body, when it is small enough to keep.
    pub body: Option<serde_json::Value>,
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub count: u64,
    /// POST requests (API calls, not health checks).
    pub posts: u64,
    pub requests: VecDeque<ReceivedRequest>,
}

impl Stats {
    pub fn record(&mut self, request: ReceivedRequest) {
        self.count += 1;
        if request.method == "POST" {
            self.posts += 1;
        }
        if self.requests.len() == KEPT {
            self.requests.pop_front();
        }
        self.requests.push_back(request);
    }
}
