//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the process answers),
//! `/readyz` (every provider has at least one resolved endpoint), `/status` (each endpoint's
//! active health and circuit-breaker state, each key's ejection, by index, never the key), and
//! with `admin.token` set the admin API: `GET /admin/usage`, `POST /admin/keys/{name}/reset`,
//! `GET /admin/config` and `POST /admin/reload`.
//! The admin API, and the pages listed in `admin.protect` (default: `/status` once a token is
//! set), need `Authorization: Bearer <token>`. Keep the listener on a private address all the
//! same.
//!
//! It is its own `HttpServerApp` (not Pingora's `ServeHttp` blanket) so that a request Pingora's
//! parser refuses (a 100 KB path, bad header bytes) gets a JSON 400 instead of a closed socket,
//! and is not logged with the client's request line in it.

mod pages;
mod router;

use crate::config::ProtectedPage;
use crate::reload::Reloader;
use crate::routing::Gateway;
use crate::runtime::Runtime;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use pages::Page;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use router::{match_admin, AdminMatch, AdminRoute};
use sha2::Digest;
use std::sync::Arc;
use std::time::Duration;

/// How long an idle admin connection (or a slow request on it) is kept.
const ADMIN_KEEPALIVE_SECS: u64 = 30;
const ADMIN_READ_TIMEOUT: Duration = Duration::from_secs(10);

pub struct AdminApp {
    gateway: Arc<ArcSwap<Gateway>>,
    runtime: Arc<Runtime>,
    reloader: Arc<Reloader>,
}

impl AdminApp {
    pub fn new(
        gateway: Arc<ArcSwap<Gateway>>,
        runtime: Arc<Runtime>,
        reloader: Arc<Reloader>,
    ) -> Self {
        AdminApp {
            gateway,
            runtime,
            reloader,
        }
    }

    async fn page(&self, session: &ServerSession) -> (Page, Option<&'static str>) {
        let header = session.req_header();
        let route = match match_admin(header.method.as_str(), header.uri.path()) {
            AdminMatch::Found(route) => route,
            AdminMatch::MethodNotAllowed(allow) => {
                let page = Page::error(405, &format!("this page only accepts {allow}"));
                return (page, Some(allow));
            }
            AdminMatch::NotFound => {
                let page = Page::error(
                    404,
                    "not found: try /metrics, /healthz, /readyz, /status, GET /admin/usage, GET /admin/config, POST /admin/reload or POST /admin/keys/{name}/reset",
                );
                return (page, None);
            }
        };
        let gateway = self.gateway.load_full();
        let protected = match route {
            AdminRoute::Healthz | AdminRoute::Readyz => false,
            AdminRoute::Metrics => gateway.admin_protected.contains(&ProtectedPage::Metrics),
            AdminRoute::Status => gateway.admin_protected.contains(&ProtectedPage::Status),
            AdminRoute::Usage
            | AdminRoute::ResetKey(_)
            | AdminRoute::Config
            | AdminRoute::Reload => {
                if gateway.admin_token.is_none() {
                    return (
                        Page::error(404, "the admin API is off: set admin.token"),
                        None,
                    );
                }
                true
            }
        };
        if protected && !authorized(session, &gateway) {
            return (Page::error(401, "missing or wrong admin token"), None);
        }
        let page = match route {
            AdminRoute::Metrics => pages::metrics(&self.runtime).await,
            AdminRoute::Healthz => pages::healthz(),
            AdminRoute::Readyz => pages::readyz(&gateway),
            AdminRoute::Status => pages::status(&gateway),
            AdminRoute::Usage => pages::usage(&self.runtime).await,
            AdminRoute::ResetKey(name) => pages::reset_key(&self.runtime, name).await,
            AdminRoute::Config => pages::config(&self.reloader),
            AdminRoute::Reload => pages::reload(&self.reloader).await,
        };
        (page, None)
    }
}

/// Whether the request carries the admin token (compared in constant time, by digest, so
/// neither its content nor its length leaks through timing).
fn authorized(session: &ServerSession, gateway: &Gateway) -> bool {
    let Some(token) = gateway.admin_token.as_deref() else {
        return false;
    };
    let presented = session
        .req_header()
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    subtle::ConstantTimeEq::ct_eq(
        sha2::Sha256::digest(presented.as_bytes()).as_slice(),
        sha2::Sha256::digest(token.as_bytes()).as_slice(),
    )
    .into()
}

fn response_header(
    page: &Page,
    allow: Option<&'static str>,
) -> pingora::Result<Box<ResponseHeader>> {
    let mut header = ResponseHeader::build(page.status, Some(4))?;
    header.insert_header(http::header::CONTENT_TYPE, page.content_type)?;
    header.insert_header(http::header::CONTENT_LENGTH, page.body.len())?;
    if let Some(allow) = allow {
        header.insert_header(http::header::ALLOW, allow)?;
    }
    Ok(Box::new(header))
}

#[async_trait]
impl HttpServerApp for AdminApp {
    async fn process_new_http(
        self: &Arc<Self>,
        mut http: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        http.set_read_timeout(Some(ADMIN_READ_TIMEOUT));
        match http.read_request().await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                // Never the error's context: it quotes the client's request line.
                log::debug!("admin listener refused a request: {}", e.etype().as_str());
                if matches!(e.etype(), pingora::ErrorType::InvalidHTTPHeader) {
                    let page = Page::error(400, "the request is not valid HTTP/1.1");
                    if let Ok(header) = response_header(&page, None) {
                        let body = Bytes::from(page.body);
                        let _ = http.write_error_response(*header, body).await;
                    }
                }
                return None;
            }
        }
        let closing = *shutdown.borrow();
        http.set_keepalive((!closing).then_some(ADMIN_KEEPALIVE_SECS));
        let (page, allow) = self.page(&http).await;
        let head = http.req_header().method == http::Method::HEAD;
        let header = response_header(&page, allow).ok()?;
        if let Err(e) = http.write_response_header(header).await {
            log::debug!("admin listener could not answer: {e}");
            return None;
        }
        if !page.body.is_empty() && !head {
            if let Err(e) = http.write_response_body(page.body.into(), true).await {
                log::debug!("admin listener could not answer: {e}");
                return None;
            }
        }
        let settings = HttpPersistentSettings::for_session(&http);
        match http.finish().await {
            Ok(reusable) => reusable.map(|s| ReusedHttpStream::from_reusable_stream(s, settings)),
            Err(_) => None,
        }
    }
}
