//! sluice's one `ProxyHttp` implementation. Each method is a thin call into the file for its
//! phase group, in the order Pingora runs them: `request` (route, auth, body, plan), `upstream`
//! (peer, headers, body, failed attempts), `response` (status, headers, body), `logging`;
//! `failover` moves a request through its plan, `errors` writes the gateway's own errors.

mod body;
mod body_budget;
mod cache;
mod connection;
mod ctx;
mod embed;
mod errors;
mod failover;
mod fetch;
mod follow;
mod governance;
mod guard;
mod headers;
mod logging;
mod request;
mod response;
mod stored_responses;
mod threads;
mod upstream;

pub use ctx::RequestCtx;
pub use fetch::FlightFetch;

use crate::routing::Gateway;
use crate::runtime::Runtime;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use ctx::ResponseMode;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::Error;
use sluice_filters::translate::gateway_error_body;
use sluice_filters::ErrorType;
use std::sync::Arc;
use std::time::Duration;

pub struct SluiceProxy {
    gateway: Arc<ArcSwap<Gateway>>,
    runtime: Arc<Runtime>,
    /// The instance that serves flight fetches (no listener reaches it).
    fetches: bool,
}

impl SluiceProxy {
    pub fn new(gateway: Arc<ArcSwap<Gateway>>, runtime: Arc<Runtime>) -> Self {
        SluiceProxy {
            gateway,
            runtime,
            fetches: false,
        }
    }

    /// The instance the gateway sends its flight fetches to (`fetch`).
    pub fn for_flight_fetches(gateway: Arc<ArcSwap<Gateway>>, runtime: Arc<Runtime>) -> Self {
        SluiceProxy {
            gateway,
            runtime,
            fetches: true,
        }
    }
}

#[async_trait]
impl ProxyHttp for SluiceProxy {
    /// Boxed: Pingora's per-request future holds its context twice (as the argument of
    /// `process_request` and as its local), and that future is moved whole into its own box on
    /// every request and kept for as long as a stream is open. A box keeps 16 bytes there
    /// instead of 1.5 KiB twice.
    type CTX = Box<RequestCtx>;

    fn new_ctx(&self) -> Box<RequestCtx> {
        let mut ctx = Box::new(RequestCtx::new(self.runtime.clone()));
        ctx.flight_fetch = self.fetches;
        ctx
    }

    /// None. Pingora's default adds a response-compression module at level 0 (off), which
    /// still builds a context and runs its header and body hooks on every request; sluice
    /// never compresses (a provider's body is passed on as it came).
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    async fn early_request_filter(
        &self,
        session: &mut Session,
        _ctx: &mut Self::CTX,
    ) -> pingora::Result<()> {
        connection::apply_client_policy(session, &self.gateway.load().client_timeouts);
        Ok(())
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<bool> {
        request::request_filter(self.gateway.load_full(), session, ctx).await
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<Box<HttpPeer>> {
        upstream::upstream_peer(ctx).await
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Self::CTX,
        e: Box<Error>,
    ) -> Box<Error> {
        upstream::fail_to_connect(ctx, e)
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Self::CTX,
        client_reused: bool,
    ) -> Box<Error> {
        let e = e.more_context(format!("Peer: {peer}"));
        let started = session.response_written().is_some();
        upstream::error_while_proxy(ctx, e, started, client_reused)
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<()> {
        upstream::upstream_request_filter(upstream, ctx)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<()> {
        upstream::request_body_filter(body, end_of_stream, ctx);
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream: &mut ResponseHeader,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<()> {
        response::upstream_response_filter(upstream, ctx)
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<()> {
        response::response_filter(response, ctx)?;
        connection::close_delimit_for_old_clients(session, response);
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<Option<Duration>> {
        response::response_body_filter(body, end_of_stream, ctx);
        if ctx.response.first_byte.is_none() && body.as_ref().is_some_and(|b| !b.is_empty()) {
            ctx.response.first_byte = Some(std::time::Instant::now());
        }
        Ok(None)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut Self::CTX,
    ) -> FailToProxy {
        if ctx.relayed {
            // The relay broke (its client left): the fetch answers and logs the request.
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        let classified = ctx.error_type.or_else(|| errors::classify(e));
        ctx.error_type = classified;
        let answerable = classified.filter(|t| *t != ErrorType::ClientDisconnected);
        let Some(error_type) = answerable else {
            // The client is gone: there is no one to answer.
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        };
        let status = error_type.status();
        if session.response_written().is_none() {
            let message = errors::upstream_message(error_type, ctx);
            let body = Bytes::from(gateway_error_body(ctx.client, error_type, &message, None));
            let retry_after = failover::retry_after_secs(ctx).map(|s| s.to_string());
            let attempts = ctx.attempts.len().to_string();
            let mut headers: Vec<(&'static str, &str)> = vec![("x-sluice-attempts", &attempts)];
            if let Some(secs) = retry_after.as_deref() {
                headers.push(("retry-after", secs));
            }
            if let Err(write_error) =
                errors::write_json(session, status, body, &headers, true).await
            {
                log::debug!("could not write the error response: {write_error}");
            }
        } else if let Some(ResponseMode::Stream(translator)) = ctx.response.mode.as_mut() {
            // The stream broke after bytes reached the client: end it with an in-band error in
            // the client's dialect, never a clean end.
            ctx.response.scratch.clear();
            translator.finish(&mut ctx.response.scratch);
            let tail = Bytes::copy_from_slice(&ctx.response.scratch);
            if let Err(write_error) = session.write_response_body(Some(tail), true).await {
                log::debug!("could not end the broken stream: {write_error}");
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Self::CTX) {
        if ctx.relayed {
            // Logged, metered and billed once, by the flight fetch it relayed.
            return;
        }
        if let Some(id) = ctx.held_turn.take() {
            if let Err(e) = ctx.runtime.conversations.store(&id).await {
                log::error!("storing the thread turn {id} failed: {e}");
            }
        }
        cache::store(ctx).await;
        let charge = governance::settle(ctx).await;
        logging::log_request(session, e, ctx, &charge);
    }
}
