//! Reads the whole request body in `request_filter`, before the upstream is chosen, in a way
//! that lets Pingora still forward a body afterwards.
//!
//! Pingora 0.9.1 consumes the body when a filter reads it; it re-sends a body only from its retry
//! buffer, which is private and capped at 64 KiB (`BODY_BUF_LIMIT`). Past that it is marked
//! truncated and nothing at all is forwarded: the upstream waits for bytes that never come.
//! The way through: read with retry buffering off until at most 64 KiB remain, then switch it
//! on, so the buffer holds exactly the tail and is never truncated. Pingora then replays it once
//! per attempt through `request_body_filter(end_of_stream = true)`, where the proxy substitutes
//! the whole (rewritten) body. This depends on Pingora internals: `pingora = "=0.9.1"` is pinned
//! and `tests/request_body.rs` covers bodies below, at and far above the limit.
//!
//! A chunked upload has no length to count down from, so the buffer is on from the first byte:
//! up to 64 KiB works; larger chunked uploads are refused with 411 (send `Content-Length`;
//! every official SDK does).

use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;
use std::time::Duration;

/// Pingora's private retry-buffer capacity (`BODY_BUF_LIMIT` in pingora-core 0.9.1).
pub const RETRY_BUFFER_LIMIT: usize = 64 * 1024;

#[derive(Debug)]
pub enum BodyError {
    /// Declared or actual size above the limit.
    TooLarge { limit: usize },
    /// A chunked (or length-less HTTP/2) body too large to be replayed.
    LengthRequired,
    /// A `Content-Length` that is not a number.
    InvalidLength,
    /// `Content-Encoding` other than identity.
    Encoded(String),
    /// Every request body the gateway may hold is held (`max_bodies_in_flight`).
    Busy,
    /// The client paused longer than the body read timeout between two reads.
    Timeout,
    /// The body's framing is broken (a malformed chunk, a body shorter than its length).
    Invalid,
    /// The client went away mid-body; there is no one to answer.
    Disconnected,
}

/// Checks what can be refused before a byte is read: encoding and declared size.
pub fn precheck(session: &Session, limit: usize) -> Result<Option<usize>, BodyError> {
    let headers = &session.req_header().headers;
    if let Some(enc) = headers.get(http::header::CONTENT_ENCODING) {
        let enc = enc.to_str().unwrap_or("?").trim();
        if !enc.eq_ignore_ascii_case("identity") {
            return Err(BodyError::Encoded(enc.to_owned()));
        }
    }
    // HTTP/2 has no chunked coding (a `transfer-encoding` header there is noise): DATA frames
    // carry the body and `content-length`, when present, is authoritative.
    let chunked = !session.is_http2()
        && headers
            .get(http::header::TRANSFER_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    if chunked {
        return Ok(None);
    }
    match headers.get(http::header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => {
            let len: usize = v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or(BodyError::InvalidLength)?;
            if len > limit {
                Err(BodyError::TooLarge { limit })
            } else {
                Ok(Some(len))
            }
        }
    }
}

/// Reads the whole body (see the module docs for why it is read this way).
pub async fn read_whole_body(
    session: &mut Session,
    content_length: Option<usize>,
    limit: usize,
    gap: Duration,
) -> Result<Bytes, BodyError> {
    if content_length.is_none_or(|len| len <= RETRY_BUFFER_LIMIT) {
        session.enable_retry_buffering();
    }
    let mut body = BytesMut::with_capacity(content_length.unwrap_or(16 * 1024));
    loop {
        if let Some(len) = content_length {
            if len.saturating_sub(body.len()) <= RETRY_BUFFER_LIMIT {
                session.enable_retry_buffering();
            }
        }
        // Pingora times out HTTP/1 body reads itself, but not HTTP/2 ones: one deadline here
        // covers both.
        let read = tokio::time::timeout(gap, session.read_request_body())
            .await
            .map_err(|_| BodyError::Timeout)?;
        match read {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge { limit });
                }
                body.extend_from_slice(&chunk);
                if content_length.is_none() && body.len() > RETRY_BUFFER_LIMIT {
                    // Refuse now rather than read megabytes we cannot forward.
                    return Err(BodyError::LengthRequired);
                }
            }
            Ok(None) => break,
            Err(e) => return Err(client_fault(&e)),
        }
    }
    if session.retry_buffer_truncated() {
        return Err(BodyError::LengthRequired);
    }
    Ok(body.freeze())
}

/// What a failed body read says about the client. Pingora reports these without a source, so
/// left alone they would be blamed on a provider (a 502 or 504 for the client's own mistake).
fn client_fault(e: &pingora::Error) -> BodyError {
    use pingora::ErrorType as E;
    match e.etype() {
        E::ReadTimedout => BodyError::Timeout,
        // "Peer prematurely closed connection with N bytes of body remaining", an h2 stream
        // reset or a broken socket: the client is gone.
        E::ConnectionClosed | E::ReadError => BodyError::Disconnected,
        // Malformed chunk sizes and extensions ("InvalidChunk"), and anything else the framing
        // refuses.
        _ => BodyError::Invalid,
    }
}
