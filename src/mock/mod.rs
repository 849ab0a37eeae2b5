//! Built-in mock providers for the demo, the tests and the load harness: each speaks one
//! provider's API (OpenAI, Azure, Anthropic, Gemini) on a loopback port with realistic payloads,
//! and its faults (error status, stall, slow or cut streams) are switched per instance or per
//! request. No network, no keys.

mod anthropic;
mod faults;
mod gemini;
mod openai;
mod openai_responses;
mod scenario;
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

/// Bodies up to this size are kept whole in the mock's request log.
const KEPT_BODY: usize = 256 * 1024;

/// Which provider API a mock speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MockKind {
    Openai,
    Azure,
    Anthropic,
    Gemini,
}

pub struct MockProvider {
    name: String,
    kind: MockKind,
    faults: RwLock<Faults>,
    stats: Mutex<Stats>,
    /// Anthropic message threads: each answered message's id, with the conversation it ends.
    threads: anthropic::Threads,
    /// Whether held answers (`hold_after`) may go on: opened by `POST /__mock/release`,
    /// closed again when faults are set or reset.
    released: tokio::sync::watch::Sender<bool>,
}

/// A listening service running one mock provider on `addr`.
pub fn mock_service(
    name: &str,
    kind: MockKind,
    addr: &str,
    faults: Faults,
) -> Service<MockProvider> {
    let mut service = Service::new(
        format!("mock {kind:?} provider {name}"),
        MockProvider {
            name: name.to_owned(),
            kind,
            faults: RwLock::new(faults),
            stats: Mutex::new(Stats::default()),
            threads: anthropic::Threads::default(),
            released: tokio::sync::watch::Sender::new(false),
        },
    );
    service.add_tcp(addr);
    service
}

/// A request as the dialect modules see it.
pub struct MockRequest {
    pub method: String,
    /// Path and query.
    pub path: String,
    headers: Vec<(String, String)>,
    pub json: Option<Value>,
}

impl MockRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One response, decided before anything is written.
pub enum Answer {
    Json {
        status: u16,
        body: Vec<u8>,
        headers: Vec<(String, String)>,
    },
    /// SSE events; the flag marks content events, which `cut_after` counts.
    Stream {
        events: Events,
        headers: Vec<(String, String)>,
    },
}

/// The events of a stream, each with how many times it is sent in a row: a long stream
/// (`--chunks 100000`, the harness's open streams) repeats one empty content event, which is
/// built once instead of once per chunk (that took ~0.2 s and ~36 MiB per stream).
#[derive(Default)]
pub struct Events(Vec<(String, bool, usize)>);

impl Events {
    pub fn push(&mut self, (text, content): (String, bool)) {
        self.0.push((text, content, 1));
    }

    /// `event` sent `times` times in a row.
    pub fn push_times(&mut self, (text, content): (String, bool), times: usize) {
        if times > 0 {
            self.0.push((text, content, times));
        }
    }

    /// Every event in the order sent, repeats expanded.
    fn into_iter(self) -> impl Iterator<Item = (String, bool)> {
        self.0
            .into_iter()
            .flat_map(|(text, content, times)| std::iter::repeat_n((text, content), times))
    }
}

impl From<Vec<(String, bool)>> for Events {
    fn from(events: Vec<(String, bool)>) -> Self {
        Events(events.into_iter().map(|(t, c)| (t, c, 1)).collect())
    }
}

impl Answer {
    pub fn json(status: u16, body: Vec<u8>) -> Answer {
        Answer::Json {
            status,
            body,
            headers: Vec::new(),
        }
    }
}

impl MockProvider {
    fn faults(&self) -> Faults {
        self.faults.read().map(|f| f.clone()).unwrap_or_default()
    }

    fn record(&self, req: &MockRequest, body: &[u8]) {
        let header = |name: &str| req.header(name).map(str::to_owned);
        let received = ReceivedRequest {
            method: req.method.clone(),
            path: req.path.clone(),
            content_length: header("content-length"),
            transfer_encoding: header("transfer-encoding"),
            body_bytes: body.len(),
            body_sha256: Sha256::digest(body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            authorization: header("authorization"),
            api_key: header("x-api-key")
                .or_else(|| header("api-key"))
                .or_else(|| header("x-goog-api-key")),
            anthropic_version: header("anthropic-version"),
            host: header("host"),
            headers: req.headers.iter().cloned().collect(),
            model: req
                .json
                .as_ref()
                .and_then(|v| v["model"].as_str())
                .map(str::to_owned),
            stream: req.json.as_ref().is_some_and(|v| v["stream"] == true)
                || req.path.contains("streamGenerateContent"),
            body: req.json.clone().filter(|_| body.len() <= KEPT_BODY),
        };
        if let Ok(mut stats) = self.stats.lock() {
            stats.record(received);
        }
    }

    /// Waits until held answers are released.
    async fn hold(&self) {
        let mut released = self.released.subscribe();
        let _ = released.wait_for(|open| *open).await;
    }

    /// `/__mock/*`: inspect what was received, change faults, release held answers, reset.
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
                    self.released.send_replace(false);
                    Answer::json(200, b"{\"ok\":true}".to_vec())
                }
                Err(e) => Answer::json(400, openai::error(400, &e.to_string())),
            },
            ("POST", "/__mock/release") => {
                self.released.send_replace(true);
                Answer::json(200, b"{\"ok\":true}".to_vec())
            }
            ("POST", "/__mock/reset") => {
                self.released.send_replace(false);
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

    /// The provider's error body for a fault status, in the mock's dialect.
    fn fault_answer(&self, status: u16, retry_after: Option<u64>) -> Answer {
        let message = format!("mock {} fault: status {status}", self.name);
        let body = match self.kind {
            MockKind::Openai | MockKind::Azure => openai::error(status, &message),
            MockKind::Anthropic => anthropic::error(status, &message),
            MockKind::Gemini => gemini::error(status, &message, retry_after),
        };
        let mut headers = Vec::new();
        // Gemini says when to retry in the body only (RetryInfo), never in a header.
        if matches!(status, 429 | 503 | 529) && self.kind != MockKind::Gemini {
            headers.push((
                "retry-after".to_owned(),
                retry_after.unwrap_or(1).to_string(),
            ));
        }
        Answer::Json {
            status,
            body,
            headers,
        }
    }

    /// The event a provider of this kind sends when it fails after HTTP 200.
    fn stream_error_event(&self) -> String {
        match self.kind {
            MockKind::Openai | MockKind::Azure => format!(
                "data: {}\n\n",
                String::from_utf8_lossy(&openai::error(
                    500,
                    "The server had an error while processing your request."
                ))
            ),
            MockKind::Anthropic => format!(
                "event: error\ndata: {}\n\n",
                String::from_utf8_lossy(&anthropic::error(529, "Overloaded"))
            ),
            MockKind::Gemini => format!(
                "data: {}\r\n\r\n",
                String::from_utf8_lossy(&gemini::error(503, "The model is overloaded.", None))
            ),
        }
    }

    fn answer(&self, req: &MockRequest, faults: &Faults) -> Answer {
        match self.kind {
            MockKind::Openai => openai::handle(req, &self.name, faults, openai::Flavor::OpenAi),
            MockKind::Azure => openai::handle(req, &self.name, faults, openai::Flavor::Azure),
            MockKind::Anthropic => anthropic::handle(req, &self.name, faults, &self.threads),
            MockKind::Gemini => gemini::handle(req, &self.name, faults),
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
        let header = session.req_header();
        let request = MockRequest {
            method: header.method.to_string(),
            path: header
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned(),
            headers: header
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            json: serde_json::from_slice(&body).ok(),
        };

        let (answer, faults) = if request.path.starts_with("/__mock/") {
            let path = request.path.split('?').next().unwrap_or_default();
            (
                self.control(&request.method, path, &body),
                Faults::default(),
            )
        } else {
            self.record(&request, &body);
            let faults = self.faults().with_overrides(session.req_header());
            if faults.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
            }
            let credential = request
                .header("authorization")
                .or_else(|| request.header("x-api-key"))
                .or_else(|| request.header("api-key"))
                .or_else(|| request.header("x-goog-api-key"))
                .unwrap_or_default();
            let faulty = faults
                .only_key
                .as_deref()
                .is_none_or(|k| credential.contains(k));
            let answer = match faults.status.filter(|_| faulty) {
                Some(status) => self.fault_answer(status, faults.retry_after),
                None => self.answer(&request, &faults),
            };
            (answer, faults)
        };
        match answer {
            Answer::Json {
                status,
                body,
                headers,
            } => {
                if faults.hold_after.is_some() {
                    self.hold().await;
                }
                write_json(session, status, body, headers).await
            }
            Answer::Stream { events, headers } => {
                let error_event = self.stream_error_event();
                let stream = Stream {
                    faults: &faults,
                    error_event: &error_event,
                    mock: self,
                };
                write_stream(session, events, headers, stream).await
            }
        }
    }
}

async fn write_json(
    mut session: ServerSession,
    status: u16,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
) -> Option<ReusedHttpStream> {
    let mut resp = ResponseHeader::build(status, Some(4 + headers.len())).ok()?;
    resp.insert_header("content-type", "application/json")
        .ok()?;
    resp.insert_header("content-length", body.len().to_string())
        .ok()?;
    resp.insert_header("x-request-id", openai::random_id("req_", 24))
        .ok()?;
    for (name, value) in headers {
        resp.insert_header(name, value).ok()?;
    }
    session.write_response_header(Box::new(resp)).await.ok()?;
    session
        .write_response_body(Bytes::from(body), true)
        .await
        .ok()?;
    finish(session).await
}

/// How a stream is written: its faults, the dialect's error event, the gate of held answers.
struct Stream<'a> {
    faults: &'a Faults,
    error_event: &'a str,
    mock: &'a MockProvider,
}

async fn write_stream(
    mut session: ServerSession,
    events: Events,
    headers: Vec<(String, String)>,
    stream: Stream<'_>,
) -> Option<ReusedHttpStream> {
    let Stream {
        faults,
        error_event,
        mock,
    } = stream;
    let mut resp = ResponseHeader::build(200, Some(4 + headers.len())).ok()?;
    resp.insert_header("content-type", "text/event-stream; charset=utf-8")
        .ok()?;
    resp.insert_header("cache-control", "no-cache").ok()?;
    resp.insert_header("transfer-encoding", "chunked").ok()?;
    resp.insert_header("x-request-id", openai::random_id("req_", 24))
        .ok()?;
    for (name, value) in headers {
        resp.insert_header(name, value).ok()?;
    }
    session.write_response_header(Box::new(resp)).await.ok()?;
    let delay = Duration::from_millis(faults.chunk_delay_ms);
    let mut content_sent = 0;
    let mut held = false;
    for (i, (event, is_content)) in events.into_iter().enumerate() {
        if is_content && faults.cut_after.is_some_and(|n| content_sent >= n) {
            // Drop the connection without the chunked terminator: a cut stream.
            return None;
        }
        if is_content && faults.stream_error_after.is_some_and(|n| content_sent >= n) {
            session
                .write_response_body(Bytes::from(error_event.to_owned()), false)
                .await
                .ok()?;
            break;
        }
        if is_content && faults.hold_after == Some(content_sent) && !held {
            held = true;
            mock.hold().await;
        }
        if i > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        session
            .write_response_body(Bytes::from(event), false)
            .await
            .ok()?;
        content_sent += usize::from(is_content);
    }
    session.write_response_body(Bytes::new(), true).await.ok()?;
    finish(session).await
}

async fn finish(session: ServerSession) -> Option<ReusedHttpStream> {
    let settings = HttpPersistentSettings::for_session(&session);
    let stream = session.finish().await.ok()??;
    Some(ReusedHttpStream::from_reusable_stream(stream, settings))
}
