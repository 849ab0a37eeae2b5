//! What the gateway does with the client connection before a request is looked at
//! (`early_request_filter`): how long it waits on the client, and how it serves pipelined
//! HTTP/1.1 requests.

use crate::config::ClientTimeouts;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

/// Applies the client timeouts and pipelining to this request's connection.
///
/// - Keep-alive: Pingora 0.9.1 keeps an idle HTTP/1.1 connection open forever between
///   requests; `idle` bounds that wait, and each read of the next request's header. Only a
///   connection the client keeps alive is touched (setting a keep-alive on an HTTP/1.0 client
///   that did not ask for one would turn it on).
/// - Body reads: `body` bounds each gap in an HTTP/1 body (Pingora's default is 60 s and is
///   reset with each request; HTTP/2 bodies are bounded in `body::read_whole_body`).
/// - Pipelining: requests sent back to back on one connection are served in order. Without
///   this Pingora 0.9.1 answers the first and drops the rest, or fails the first when the
///   next arrives while it is proxied.
pub fn apply_client_policy(session: &mut Session, timeouts: &ClientTimeouts) {
    if session.is_http2() {
        return;
    }
    if session.get_keepalive().is_some() {
        session.set_keepalive(Some(timeouts.idle.0.as_secs().max(1)));
    }
    session.set_read_timeout(Some(timeouts.body.0));
    session.set_pipelining_enabled(true);
}

/// An HTTP/1.0 client cannot read `Transfer-Encoding: chunked` (RFC 9112 forbids sending it
/// one): a response whose length is not known up front (a stream, a translated body) is sent
/// as is and ended by closing the connection.
pub fn close_delimit_for_old_clients(session: &mut Session, response: &mut ResponseHeader) {
    let old = !session.is_http2() && session.req_header().version < http::Version::HTTP_11;
    if old
        && response
            .headers
            .contains_key(http::header::TRANSFER_ENCODING)
    {
        response.remove_header(&http::header::TRANSFER_ENCODING);
        session.set_keepalive(None);
    }
}
