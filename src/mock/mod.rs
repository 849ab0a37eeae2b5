//! A built-in mock provider for the demo, the tests and the load harness: it speaks the
//! provider's API on a loopback port with realistic payloads, and its faults (error status,
//! stall, slow or cut streams) are switched per instance or per request. No network, no keys.

mod faults;
mod openai;
mod stats;

pub use faults::Faults;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use pingora::services::listening::Service;
use serde_json::Value;
use sha2::{Digest, Sha256};
use stats::{ReceivedRequest, Stats};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

pub struct MockProvider {
    name: String,
    faults: RwLock<Faults>,
    stats: Mutex<Stats>,
}

/// A listening service running one mock provider on `addr`.
pub fn mock_service(name: &str, addr: &str, faults: Faults) -> Service<MockProvider> {
    let mut service = Service::new(
        format!("mock provider {name}"),
        MockProvider {
            name: name.to_owned(),
            faults: RwLock::new(faults),
            stats: Mutex::new(Stats::default()),
        },
    );
    service.add_tcp(addr);
    service
}

/// One response, decided before anything is written.
enum Answer {
    /// Status, body, `retry-after` seconds.
    Json(u16, Vec<u8>, Option<u64>),
    Stream(Vec<String>),
}

impl Answer {
    fn json(status: u16, body: Vec<u8>) -> Answer {
        Answer::Json(status, body, None)
    }
}

impl MockProvider {
    fn faults(&self) -> Faults {
        self.faults.read().map(|f| f.clone()).unwrap_or_default()
    }

    fn record(&self, session: &ServerSession, body: &[u8], parsed: Option<&Value>) {
        let req = session.req_header();
        let header = |name: &str| {
            req.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let received = ReceivedRequest {
            method: req.method.to_string(),
            path: req.uri.to_string(),
            content_length: header("content-length"),
            transfer_encoding: header("transfer-encoding"),
            body_bytes: body.len(),
            body_sha256: Sha256::digest(body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            authorization: header("authorization"),
            host: header("host"),
            model: parsed.and_then(|v| v["model"].as_str()).map(str::to_owned),
            stream: parsed.is_some_and(|v| v["stream"] == true),
        };
        if let Ok(mut stats) = self.stats.lock() {
            stats.record(received);
        }
    }

    /// `/__mock/*`: inspect what was received, change faults, reset.
    fn control(&self, method: &str, path: &str, body: &[u8]) -> Answer {
        match (method, path) {
            ("GET", "/__mock/requests") => {
                let json = self
                    .stats
                    .lock()
                    .map(|s| serde_json::to_vec(&*s).unwrap_or_default())
                    .unwrap_or_default();
                Answer::json(200, json)
            }
            ("POST", "/__mock/faults") => match serde_json::from_slice::<Faults>(body) {
                Ok(faults) => {
                    if let Ok(mut current) = self.faults.write() {
                        *current = faults;
                    }
                    Answer::json(200, b"{\"ok\":true}".to_vec())
                }
                Err(e) => Answer::json(400, openai::error(400, &e.to_string())),
            },
            ("POST", "/__mock/reset") => {
                if let Ok(mut stats) = self.stats.lock() {
                    *stats = Stats::default();
                }
                if let Ok(mut faults) = self.faults.write() {
                    *faults = Faults::default();
                }
                Answer::json(200, b"{\"ok\":true}".to_vec())
            }
            _ => Answer::json(404, openai::error(404, "unknown mock control path")),
        }
    }

    fn answer(&self, path: &str, request: Option<&Value>, faults: &Faults) -> Answer {
        let path = path.split('?').next().unwrap_or(path);
        if path.ends_with("/models") {
            return Answer::json(200, openai::model_list(&["mock-gpt", "mock-embed"]));
        }
        let Some(request) = request else {
            return Answer::json(
                400,
                openai::error(400, "We could not parse the JSON body of your request."),
            );
        };
        if path.ends_with("/chat/completions") {
            if request["messages"].as_array().is_none_or(|m| m.is_empty()) {
                return Answer::json(
                    400,
                    openai::error(400, "'messages' must be a non-empty array"),
                );
            }
            let reply = openai::reply_text(request, &self.name, faults.reply.as_deref());
            if request["stream"] == true {
                Answer::Stream(openai::chat_stream(request, &reply, faults.chunks))
            } else {
                Answer::json(200, openai::chat_completion(request, &reply))
            }
        } else if path.ends_with("/embeddings") {
            match openai::embeddings(request) {
                Ok(body) => Answer::json(200, body),
                Err(message) => Answer::json(400, openai::error(400, &message)),
            }
        } else {
            Answer::json(
                404,
                openai::error(404, &format!("Invalid URL (POST {path})")),
            )
        }
    }
}

#[async_trait]
impl HttpServerApp for MockProvider {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        _shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        if !session.read_request().await.ok()? {
            return None;
        }
        session.set_keepalive(Some(60));
        let mut body = Vec::new();
        while let Some(chunk) = session.read_request_body().await.ok()? {
            body.extend_from_slice(&chunk);
        }
        let method = session.req_header().method.to_string();
        let path = session.req_header().uri.path().to_owned();

        let (answer, faults) = if path.starts_with("/__mock/") {
            (self.control(&method, &path, &body), Faults::default())
        } else {
            let parsed: Option<Value> = serde_json::from_slice(&body).ok();
            self.record(&session, &body, parsed.as_ref());
            let faults = self.faults().with_overrides(session.req_header());
            if faults.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
            }
            let answer = match faults.status {
                Some(status) => {
                    let message = format!("mock {} fault: status {status}", self.name);
                    let retry_after = matches!(status, 429 | 503 | 529)
                        .then_some(faults.retry_after.unwrap_or(1));
                    Answer::Json(status, openai::error(status, &message), retry_after)
                }
                None => self.answer(&path, parsed.as_ref(), &faults),
            };
            (answer, faults)
        };
        match answer {
            Answer::Json(status, json, retry_after) => {
                write_json(session, status, json, retry_after).await
            }
            Answer::Stream(events) => write_stream(session, events, &faults).await,
        }
    }
}

async fn write_json(
    mut session: ServerSession,
    status: u16,
    body: Vec<u8>,
    retry_after: Option<u64>,
) -> Option<ReusedHttpStream> {
    let mut resp = ResponseHeader::build(status, Some(4)).ok()?;
    resp.insert_header("content-type", "application/json")
        .ok()?;
    resp.insert_header("content-length", body.len().to_string())
        .ok()?;
    resp.insert_header("x-request-id", openai::random_id("req_", 24))
        .ok()?;
    if let Some(secs) = retry_after {
        resp.insert_header("retry-after", secs.to_string()).ok()?;
    }
    session.write_response_header(Box::new(resp)).await.ok()?;
    session
        .write_response_body(Bytes::from(body), true)
        .await
        .ok()?;
    finish(session).await
}

async fn write_stream(
    mut session: ServerSession,
    events: Vec<String>,
    faults: &Faults,
) -> Option<ReusedHttpStream> {
    let mut resp = ResponseHeader::build(200, Some(4)).ok()?;
    resp.insert_header("content-type", "text/event-stream; charset=utf-8")
        .ok()?;
    resp.insert_header("cache-control", "no-cache").ok()?;
    resp.insert_header("transfer-encoding", "chunked").ok()?;
    resp.insert_header("x-request-id", openai::random_id("req_", 24))
        .ok()?;
    session.write_response_header(Box::new(resp)).await.ok()?;
    let delay = Duration::from_millis(faults.chunk_delay_ms);
    for (i, event) in events.into_iter().enumerate() {
        // Event 0 carries the role; content chunks are 1..=chunks.
        if faults.cut_after.is_some_and(|n| i > n) {
            // Drop the connection without the chunked terminator: a cut stream.
            return None;
        }
        if i > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        session
            .write_response_body(Bytes::from(event), false)
            .await
            .ok()?;
    }
    session.write_response_body(Bytes::new(), true).await.ok()?;
    finish(session).await
}

async fn finish(session: ServerSession) -> Option<ReusedHttpStream> {
    let settings = HttpPersistentSettings::for_session(&session);
    let stream = session.finish().await.ok()??;
    Some(ReusedHttpStream::from_reusable_stream(stream, settings))
}
