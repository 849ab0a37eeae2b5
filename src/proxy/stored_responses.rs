//! The Responses API's state: `store` keeps each answer and its input in the conversation store
//! (owned by the virtual key), `previous_response_id` continues one (sluice writes the earlier
//! turns into the request itself, for whichever provider serves it, and never forwards the id),
//! and `GET`/`DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items` read and
//! delete what was kept. Another key's id is unknown, as in OpenAI's API.

use super::ctx::RequestCtx;
use super::errors::{respond_error, store_unavailable, write_json};
use crate::state::conversations::Turn;
use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::{json, Value};
use sluice_filters::api::route::Route;
use sluice_filters::api::RequestError;
use sluice_filters::conversation::{
    expand_input, final_response, input_items, listed_items, read_responses_state,
};
use sluice_filters::ErrorType;

/// A Responses request's place in a stored conversation.
pub struct StoredState {
    previous: Option<String>,
    store: bool,
    /// The request's own input items, stored with its answer.
    own_items: Vec<Value>,
    /// The whole conversation, when it continues one.
    expanded: Option<Bytes>,
}

impl StoredState {
    pub fn body(&self) -> Option<&Bytes> {
        self.expanded.as_ref()
    }
}

pub enum StoredError {
    Invalid(RequestError),
    /// `previous_response_id` is unknown to this key.
    NotFound(String),
    Store(String),
}

/// Reads `store` and `previous_response_id`, and writes the earlier turns into the request.
pub async fn prepare(ctx: &mut RequestCtx, body: &Bytes) -> Result<(), StoredError> {
    let state = read_responses_state(body).map_err(StoredError::Invalid)?;
    let own_items = input_items(body).map_err(StoredError::Invalid)?;
    let expanded = match &state.previous {
        None => None,
        Some(id) => {
            let owner = ctx.key_name().unwrap_or_default().to_owned();
            let chain = ctx
                .runtime
                .conversations
                .chain(id, &owner)
                .await
                .map_err(StoredError::Store)?
                .ok_or_else(|| StoredError::NotFound(id.clone()))?;
            let history: Vec<Value> = chain
                .into_iter()
                .flat_map(|turn| turn.messages.into_iter().chain(turn.output))
                .collect();
            Some(Bytes::from(
                expand_input(body, &history).map_err(StoredError::Invalid)?,
            ))
        }
    };
    if state.store {
        ctx.response.capture = Some(Vec::new());
    }
    ctx.stored = Some(StoredState {
        previous: state.previous,
        store: state.store,
        own_items,
        expanded,
    });
    Ok(())
}

/// At the answer's last byte: the response is held in the store, readable at once.
pub fn hold(ctx: &mut RequestCtx, stream: bool) -> Option<String> {
    let stored = ctx.stored.as_ref().filter(|s| s.store)?;
    let capture = ctx.response.capture.take()?;
    let response = final_response(&capture, stream)?;
    let id = response["id"].as_str()?.to_owned();
    let turn = Turn {
        owner: ctx.key_name().unwrap_or_default().to_owned(),
        previous: stored.previous.clone(),
        messages: stored.own_items.clone(),
        output: response["output"].as_array().cloned().unwrap_or_default(),
        provider: String::new(),
        settings: json!({ "response": response }),
    };
    ctx.runtime.conversations.hold(&id, turn);
    Some(id)
}

/// Answers `GET`/`DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`.
pub async fn serve(
    session: &mut Session,
    ctx: &mut RequestCtx,
    route: Route,
    id: &str,
) -> pingora::Result<bool> {
    let owner = ctx.key_name().unwrap_or_default().to_owned();
    let conversations = &ctx.runtime.conversations;
    let found = match route {
        Route::DeleteResponse => conversations.delete(id, &owner).await.map(|deleted| {
            deleted.then(|| json!({"id": id, "object": "response", "deleted": true}))
        }),
        _ => conversations.get(id, &owner).await.map(|turn| {
            turn.map(|turn| match route {
                Route::ResponseInputItems => items_page(session, &turn, id),
                _ => turn.settings["response"].clone(),
            })
        }),
    };
    match found {
        Ok(Some(body)) => {
            write_json(session, 200, Bytes::from(body.to_string()), &[], false).await?;
            Ok(true)
        }
        Ok(None) => {
            let message = format!("Response with id '{}' not found.", short(id));
            respond_error(
                session,
                ctx,
                ErrorType::ResponseNotFound,
                &message,
                None,
                &[],
                false,
            )
            .await
        }
        Err(e) => store_unavailable(session, ctx, &e).await,
    }
}

/// One page of a stored response's input items (`limit`, `order`, `after`).
fn items_page(session: &Session, turn: &Turn, id: &str) -> Value {
    let query = session.req_header().uri.query().unwrap_or_default();
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
    };
    let limit = param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let mut items = listed_items(&turn.messages, id);
    if param("order") != Some("asc") {
        items.reverse();
    }
    if let Some(after) = param("after") {
        if let Some(at) = items.iter().position(|i| i["id"] == after) {
            items.drain(..=at);
        }
    }
    let has_more = items.len() > limit;
    items.truncate(limit);
    json!({
        "object": "list",
        "first_id": items.first().map(|i| i["id"].clone()),
        "last_id": items.last().map(|i| i["id"].clone()),
        "has_more": has_more,
        "data": items,
    })
}

fn short(id: &str) -> &str {
    match id.char_indices().nth(100) {
        Some((at, _)) => &id[..at],
        None => id,
    }
}
