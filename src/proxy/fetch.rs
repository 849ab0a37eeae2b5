//! The flight fetch: the upstream call of a deduplicated request, made by the gateway itself
//! so that it outlives the client that asked first.
//!
//! Why: in Pingora 0.9.1 a request's upstream read belongs to its client's session
//! (`proxy_h1`/`proxy_h2` join both halves with `try_join!`), so when the first client of a
//! flight left mid-stream, the followers already being served live from its tape were cut
//! with it. Now the first client does not call the provider at all: it parks its place in the
//! cache (the flight's `LeaderGuard`) here and sends its request, as it received it, over an
//! in-memory connection to a second instance of the proxy that no listener reaches. That
//! request goes through every phase as any other (key, limits, budget, guardrails, failover,
//! translation, the access log and the audit record), takes the parked place by its id,
//! records the tape and lands the flight. The first client is relayed its answer, byte for
//! byte, as it arrives; if it leaves, only the relay stops: the fetch reads on to the end, so
//! the followers and the cache get the whole answer.
//!
//! It costs one in-memory hop (about a fifth of a small request's throughput), only on
//! streamed requests that lead a flight (`cache.dedup`). A whole leader asks itself: if its
//! client leaves, its followers have received nothing yet, and one of them leads the next
//! flight.

use super::cache::CacheState;
use super::ctx::RequestCtx;
use super::SluiceProxy;
use bytes::Bytes;
use pingora::apps::ServerApp;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::v1::client::HttpSession;
use pingora::proxy::{HttpProxy, Session};
use pingora::server::ShutdownWatch;
use sluice_filters::ErrorType;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};

/// Names the parked place a fetch takes. Only the fetch instance reads it: a client that
/// sends it to the gateway's listener sends an unknown header.
pub const FLIGHT_HEADER: &str = "x-sluice-flight";

/// The most answer bytes held for a first client that reads slower than the provider sends
/// (the same bound as a flight's tape); past it, that client's relay ends, the fetch does not.
const MAX_RELAY_BYTES: usize = 32 << 20;

/// The in-memory connection's buffer, each way, beyond the request body (the request is
/// written whole before the answer is read, so it must never wait for the other side).
const PIPE_BYTES: usize = 64 << 10;

/// Headers of one hop, not of the request: the fetch's own connection sets its framing.
const HOP_HEADERS: [&str; 8] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "expect",
    "te",
    "upgrade",
    "proxy-connection",
];

/// The proxy instance flight fetches are sent to, and the places they take.
pub struct FlightFetch {
    app: Arc<HttpProxy<SluiceProxy>>,
    shutdown: ShutdownWatch,
    /// Keeps `shutdown` from ever firing: a fetch ends with its answer, not with the server.
    _never: watch::Sender<bool>,
    parked: Mutex<HashMap<u64, CacheState>>,
    next_id: AtomicU64,
}

impl FlightFetch {
    pub fn new(app: HttpProxy<SluiceProxy>) -> FlightFetch {
        let (never, shutdown) = watch::channel(false);
        FlightFetch {
            app: Arc::new(app),
            shutdown,
            _never: never,
            parked: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        }
    }

    fn park(&self, id: u64, state: CacheState) {
        if let Ok(mut parked) = self.parked.lock() {
            parked.insert(id, state);
        }
    }

    /// The parked place of the fetch that names it (once).
    fn claim(&self, id: u64) -> Option<CacheState> {
        self.parked.lock().ok()?.remove(&id)
    }
}

/// In the fetch instance: the place the first client parked, taken by the request the
/// gateway sent on its behalf. `None` for any other request.
pub fn claim(session: &Session, ctx: &RequestCtx) -> Option<CacheState> {
    if !ctx.flight_fetch {
        return None;
    }
    let id = session
        .req_header()
        .headers
        .get(FLIGHT_HEADER)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    ctx.runtime.fetch.get()?.claim(id)
}

/// One piece of the answer, for the first client.
enum Piece {
    Chunk(Bytes),
    End,
}

/// The first client's side: sends its request as a flight fetch with `state` parked for it,
/// and relays the answer. `Ok(true)`: answered here (what Pingora's `request_filter` returns).
pub async fn lead(
    session: &mut Session,
    ctx: &mut RequestCtx,
    fetch: &Arc<FlightFetch>,
    state: CacheState,
    received: Bytes,
) -> pingora::Result<bool> {
    let id = fetch.next_id.fetch_add(1, Ordering::Relaxed);
    let request = fetch_request(session.req_header(), id, received.len())?;
    fetch.park(id, state);
    let (head_sender, head) = oneshot::channel();
    let (piece_sender, mut pieces) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let relay = Relay {
        head: Some(head_sender),
        pieces: Some(piece_sender),
        queued: queued.clone(),
    };
    tokio::spawn(run(fetch.clone(), id, request, received, relay));
    // The fetch holds its own share of the bodies' memory.
    ctx.body_reservation = None;

    let Ok(mut head) = head.await else {
        let message = "the gateway could not send this request to its provider";
        return super::errors::respond_error(
            session,
            ctx,
            ErrorType::Internal,
            message,
            None,
            &[],
            true,
        )
        .await;
    };
    // From here the fetch logs this request: this side only relays it.
    ctx.relayed = true;
    for name in ["connection", "keep-alive"] {
        head.remove_header(name);
    }
    if head.headers.get(http::header::CONTENT_LENGTH).is_none() {
        head.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
        head.set_version(http::Version::HTTP_11);
    }
    super::connection::close_delimit_for_old_clients(session, &mut head);
    session.write_response_header(head, false).await?;
    loop {
        match pieces.recv().await {
            Some(Piece::Chunk(chunk)) => {
                queued.fetch_sub(chunk.len(), Ordering::Relaxed);
                session.write_response_body(Some(chunk), false).await?;
            }
            Some(Piece::End) => {
                session
                    .write_response_body(Some(Bytes::new()), true)
                    .await?;
                return Ok(true);
            }
            None => {
                return pingora::Error::e_explain(
                    pingora::ErrorType::ConnectionClosed,
                    "the relay of a flight fetch's answer ended early",
                );
            }
        }
    }
}

/// The fetch's request: the first client's method, path and headers, framed for one request
/// on its own connection.
fn fetch_request(
    client: &RequestHeader,
    id: u64,
    body_len: usize,
) -> pingora::Result<RequestHeader> {
    let path = client
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .as_bytes();
    let mut request =
        RequestHeader::build(client.method.clone(), path, Some(client.headers.len() + 3))?;
    for (name, value) in client.headers.iter() {
        if !HOP_HEADERS.contains(&name.as_str()) {
            request.append_header(name.clone(), value.clone())?;
        }
    }
    if request.headers.get(http::header::HOST).is_none() {
        request.insert_header(http::header::HOST, "sluice")?;
    }
    request.insert_header(http::header::CONTENT_LENGTH, body_len.to_string())?;
    request.insert_header(http::header::CONNECTION, "close")?;
    request.insert_header(FLIGHT_HEADER, id.to_string())?;
    Ok(request)
}

/// Where the fetch sends the answer for the first client, while it is there to take it.
struct Relay {
    head: Option<oneshot::Sender<Box<ResponseHeader>>>,
    pieces: Option<mpsc::UnboundedSender<Piece>>,
    queued: Arc<AtomicUsize>,
}

impl Relay {
    fn head(&mut self, head: &ResponseHeader) {
        if let Some(sender) = self.head.take() {
            let _ = sender.send(Box::new(head.clone()));
        }
    }

    /// Passes a chunk on, unless the first client is gone or too far behind (then it is
    /// dropped from the relay, and the fetch reads on).
    fn chunk(&mut self, chunk: Bytes) {
        let Some(pieces) = self.pieces.as_ref() else {
            return;
        };
        let queued = self.queued.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len();
        if queued > MAX_RELAY_BYTES || pieces.send(Piece::Chunk(chunk)).is_err() {
            self.pieces = None;
        }
    }

    fn end(&mut self) {
        if let Some(pieces) = self.pieces.take() {
            let _ = pieces.send(Piece::End);
        }
    }
}

/// Serves the fetch on the fetch instance and reads its answer to the end. A place nobody
/// claimed (the request was refused before its cache lookup) is dropped at the end, which
/// tells the flight's followers it failed.
async fn run(
    fetch: Arc<FlightFetch>,
    id: u64,
    request: RequestHeader,
    body: Bytes,
    mut relay: Relay,
) {
    let (near, far) = tokio::io::duplex(PIPE_BYTES.saturating_add(body.len()));
    let app = fetch.app.clone();
    let shutdown = fetch.shutdown.clone();
    tokio::spawn(async move {
        app.process_new(Box::new(far), &shutdown).await;
    });
    let mut client = HttpSession::new(Box::new(near));
    if let Err(e) = exchange(&mut client, request, &body, &mut relay).await {
        log::warn!("a flight fetch ended early: {e}");
    }
    drop(fetch.claim(id));
}

async fn exchange(
    client: &mut HttpSession,
    request: RequestHeader,
    body: &[u8],
    relay: &mut Relay,
) -> pingora::Result<()> {
    // A request refused before its body was read is answered all the same: the answer is
    // read even when the body could not be written.
    let sent = send(client, request, body).await;
    if let Err(e) = &sent {
        log::debug!("a flight fetch's request was not read whole: {e}");
    }
    loop {
        if let Err(e) = client.read_response().await {
            return Err(sent.err().unwrap_or(e));
        }
        match client.resp_header() {
            Some(head) if head.status.is_informational() => continue,
            Some(head) => {
                relay.head(head);
                break;
            }
            None => {
                return pingora::Error::e_explain(
                    pingora::ErrorType::InvalidHTTPHeader,
                    "no response head",
                )
            }
        }
    }
    while let Some(chunk) = client.read_body_bytes().await? {
        relay.chunk(chunk);
    }
    relay.end();
    Ok(())
}

async fn send(
    client: &mut HttpSession,
    request: RequestHeader,
    body: &[u8],
) -> pingora::Result<()> {
    client.write_request_header(Box::new(request)).await?;
    client.write_body(body).await?;
    client.finish_body().await?;
    Ok(())
}
