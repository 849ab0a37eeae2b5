//! The semantic cache's embedding call: the last user turn embedded by a model of this gateway
//! (`cache.semantic.embedding_model`), sent straight to one of its providers' endpoints with
//! the provider's own credentials. Bounded by a timeout; any failure is `None` (the request
//! is then a cache miss, never an error).

use super::upstream::build_peer;
use crate::routing::Gateway;
use bytes::Bytes;
use once_cell::sync::Lazy;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use serde::Deserialize;
use sluice_filters::translate::{upstream_path, Api, UpstreamDialect};
use std::time::Duration;

static CONNECTOR: Lazy<Connector> = Lazy::new(|| Connector::new(None));

/// Answers larger than this are not read (a vector of a few thousand floats is far smaller).
const MAX_EMBEDDING_BODY: usize = 4 << 20;

#[derive(Deserialize)]
struct EmbeddingsWire {
    data: Vec<EmbeddingWire>,
}

#[derive(Deserialize)]
struct EmbeddingWire {
    embedding: Vec<f32>,
}

/// The embedding of `text` by `model`, or `None` within `timeout`.
pub async fn embed(
    gateway: &Gateway,
    model: &str,
    dimensions: Option<u32>,
    text: &str,
    timeout: Duration,
) -> Option<Vec<f32>> {
    match tokio::time::timeout(timeout, call(gateway, model, dimensions, text)).await {
        Ok(Ok(vector)) => Some(vector),
        Ok(Err(why)) => {
            log::warn!("semantic cache: embedding with model '{model}' failed: {why}");
            None
        }
        Err(_) => {
            log::warn!("semantic cache: embedding with model '{model}' timed out");
            None
        }
    }
}

async fn call(
    gateway: &Gateway,
    model: &str,
    dimensions: Option<u32>,
    text: &str,
) -> Result<Vec<f32>, String> {
    let model = gateway
        .models
        .get(model)
        .ok_or("the embedding model is not configured")?;
    let target = &model.targets[model.pick()];
    let provider = &target.provider;
    if !matches!(
        provider.dialect,
        UpstreamDialect::OpenAi | UpstreamDialect::Azure
    ) {
        return Err(format!(
            "a {} provider has no embeddings",
            provider.dialect.as_str()
        ));
    }
    let now = crate::clock::now_ms();
    let (addr, endpoint, _load) = provider
        .select_endpoint(now, &[], false)
        .ok_or("no usable endpoint")?;
    let path = upstream_path(
        provider.dialect,
        Api::Embeddings,
        &target.model,
        false,
        &provider.api_version,
    )
    .ok_or("no embeddings path")?;
    let base = &provider.endpoints[endpoint];
    let mut request = serde_json::json!({"model": target.model, "input": text});
    if let Some(dimensions) = dimensions {
        request["dimensions"] = dimensions.into();
    }
    let body = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
    let mut head =
        RequestHeader::build("POST", format!("{}{path}", base.base_path).as_bytes(), None)
            .map_err(|e| e.to_string())?;
    let header = |e: pingora::BError| e.to_string();
    head.insert_header("host", base.host_header.as_str())
        .map_err(header)?;
    head.insert_header("content-type", "application/json")
        .map_err(header)?;
    head.insert_header("content-length", body.len().to_string())
        .map_err(header)?;
    if provider.needs_key() {
        let (_, key) = provider.pick_key(now, &[]).ok_or("no usable api key")?;
        let (name, value) = provider.auth_header(key);
        head.insert_header(name, value).map_err(header)?;
    }
    let peer = build_peer(provider, addr, endpoint, false);
    let (mut session, _) = CONNECTOR
        .get_http_session(&peer)
        .await
        .map_err(|e| e.to_string())?;
    session
        .write_request_header(Box::new(head))
        .await
        .map_err(|e| e.to_string())?;
    session
        .write_request_body(Bytes::from(body), true)
        .await
        .map_err(|e| e.to_string())?;
    session
        .finish_request_body()
        .await
        .map_err(|e| e.to_string())?;
    session
        .read_response_header()
        .await
        .map_err(|e| e.to_string())?;
    let status = session.response_header().map_or(0, |h| h.status.as_u16());
    let mut answer = Vec::new();
    while let Some(chunk) = session
        .read_response_body()
        .await
        .map_err(|e| e.to_string())?
    {
        answer.extend_from_slice(&chunk);
        if answer.len() > MAX_EMBEDDING_BODY {
            return Err("the embedding answer is too large".into());
        }
    }
    if status != 200 {
        return Err(format!("status {status}"));
    }
    CONNECTOR
        .release_http_session(session, &peer, Some(Duration::from_secs(60)))
        .await;
    let wire: EmbeddingsWire = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
    wire.data
        .into_iter()
        .next()
        .map(|d| d.embedding)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| "no embedding in the answer".into())
}
