//! Anthropic message threads on any provider. A client that threads its conversation sends
//! only its new messages and the id of the answer it continues; sluice keeps every turn in the
//! conversation store and writes the whole conversation into the request for a provider that
//! does not hold the thread (every provider but the Anthropic one that served the thread's
//! last turn as the client's own dialect, which gets the client's body as it is). The answer
//! is put together from what the client received and held in the store before the next
//! request can ask for it.

use super::ctx::RequestCtx;
use crate::state::conversations::Turn;
use bytes::Bytes;
use serde_json::Value;
use sluice_filters::api::RequestError;
use sluice_filters::conversation::{
    assemble_anthropic_message, assemble_anthropic_stream, expand_thread, read_thread,
    thread_settings,
};
use sluice_filters::translate::UpstreamDialect;

/// A threaded request's state.
pub struct ThreadState {
    /// The answer it continues (`None`: it starts the thread).
    previous: Option<String>,
    /// Its own messages, stored with its answer.
    own_messages: Vec<Value>,
    /// What it sets for the whole thread (on `create`).
    settings: Value,
    /// The whole conversation, without `thread`, for a provider that does not hold it.
    expanded: Bytes,
    /// The provider that holds the thread, if one does.
    holder: Option<String>,
}

/// Why a threaded request cannot be served.
pub enum ThreadError {
    Invalid(RequestError),
    /// The answer it continues is unknown (or another key's).
    NotFound(String),
    Store(String),
}

/// Reads the request's thread and, to continue one, fetches its history. Only Anthropic's
/// Messages route has threads.
pub async fn prepare(ctx: &mut RequestCtx, body: &Bytes) -> Result<(), ThreadError> {
    let Some(thread) = read_thread(body).map_err(ThreadError::Invalid)? else {
        return Ok(());
    };
    let owner = ctx.key_name().unwrap_or_default().to_owned();
    let (history, settings, holder) = match &thread.previous {
        None => (Vec::new(), Value::Object(Default::default()), None),
        Some(id) => {
            let history = ctx
                .runtime
                .conversations
                .history(id, &owner)
                .await
                .map_err(ThreadError::Store)?
                .ok_or_else(|| ThreadError::NotFound(id.clone()))?;
            let holder = Some(history.provider).filter(|p| !p.is_empty());
            (history.messages, history.settings, holder)
        }
    };
    let (expanded, own_messages) =
        expand_thread(body, &history, &settings).map_err(ThreadError::Invalid)?;
    let settings = match thread.previous {
        None => thread_settings(body),
        Some(_) => Value::Object(Default::default()),
    };
    ctx.thread = Some(ThreadState {
        previous: thread.previous,
        own_messages,
        settings,
        expanded: Bytes::from(expanded),
        holder,
    });
    ctx.response.capture = Some(Vec::new());
    Ok(())
}

/// The body to encode for a provider: the client's own (thread and all) for the provider that
/// holds the thread, or a new thread's Anthropic provider; the whole conversation otherwise.
pub fn body_for<'a>(ctx: &'a RequestCtx, provider: &str, dialect: UpstreamDialect) -> &'a Bytes {
    match &ctx.thread {
        Some(t) => {
            let holds = match &t.holder {
                Some(holder) => holder == provider,
                None => t.previous.is_none(),
            };
            if holds && dialect == UpstreamDialect::Anthropic {
                &ctx.client_body
            } else {
                &t.expanded
            }
        }
        None => &ctx.client_body,
    }
}

/// At the answer's last byte: the turn it completes is held in the store, readable at once.
/// Returns its id, for `store` to write after the response.
pub fn hold(ctx: &mut RequestCtx, stream: bool) -> Option<String> {
    let plan = ctx.plan.as_ref()?;
    if ctx.thread.is_none() || ctx.response.upstream_status.is_none_or(|s| s >= 300) {
        return None;
    }
    let capture = ctx.response.capture.take()?;
    let answer = if stream {
        assemble_anthropic_stream(&capture)
    } else {
        assemble_anthropic_message(&capture)
    }?;
    // A provider served the client's body as is: it holds the thread itself from now on.
    let holds = plan.provider.dialect == UpstreamDialect::Anthropic
        && std::ptr::eq(
            body_for(ctx, &plan.provider.name, plan.provider.dialect),
            &ctx.client_body,
        );
    let t = ctx.thread.as_ref()?;
    let turn = Turn {
        owner: ctx.key_name().unwrap_or_default().to_owned(),
        previous: t.previous.clone(),
        messages: t.own_messages.clone(),
        output: answer.content,
        provider: if holds {
            plan.provider.name.clone()
        } else {
            String::new()
        },
        settings: t.settings.clone(),
    };
    ctx.runtime.conversations.hold(&answer.id, turn);
    Some(answer.id)
}
