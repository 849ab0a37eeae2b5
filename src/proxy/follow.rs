//! A streamed follower served live: it waits for its leader's upstream to answer, then plays
//! the flight's tape (the leader's raw upstream chunks) through its own translator, in its own
//! client dialect, with its own request id, usage options and guardrails, writing each piece
//! as it is translated: first everything the leader has received so far, then every new chunk
//! as the leader receives it. Counted against the requests per minute, billed nothing.
//!
//! When the flight fails:
//! - a follower that has written nothing yet (the tape never opened, or had no chunk) goes on
//!   with the next flight, as a whole follower does: one of them leads it, the others follow;
//! - a follower caught mid-stream (the provider's stream broke, or the tape outgrew its
//!   bound) ends its stream with the in-band error of its dialect, as a stream the gateway's
//!   own upstream cut does, logged as `coalesced_stream_cut`. It cannot do better: its
//!   response has begun, and the rest of that answer will never come.
//!
//! The leader's client leaving is not such a failure: the flight's upstream call is the
//! gateway's own (`super::fetch`), and reads on to the end without it.

use super::cache::{admit_served, served_head, CacheStatus};
use super::ctx::{RequestCtx, MAX_CAPTURE};
use crate::cache::flights::{Follower, Landing};
use crate::cache::tape::{Player, TapeEnd, TapeHead};
use crate::routing::Model;
use bytes::Bytes;
use pingora::proxy::Session;
use sluice_filters::guard::GuardChain;
use sluice_filters::translate::{StreamOutcome, StreamSpec, StreamTranslator};
use sluice_filters::ErrorType;
use std::sync::Arc;

/// How following ended.
pub enum Followed {
    /// Answered here: served live, or refused by a limit.
    Answered,
    /// The flight landed before its tape could be played: an answer to replay, or a failure
    /// (this request goes on with the next flight, as its leader or a follower).
    Landed(Landing),
}

/// Follows a streamed flight: live once its tape plays, else until it lands.
pub async fn follow(
    session: &mut Session,
    ctx: &mut RequestCtx,
    model: &Model,
    key: &str,
    follower: Follower,
) -> pingora::Result<Followed> {
    let Follower { landing, mut tape } = follower;
    let head = match until_live(landing, &mut tape).await {
        Ok(head) => head,
        Err(landing) => return Ok(Followed::Landed(landing)),
    };
    if admit_served(
        session,
        ctx,
        model,
        key.to_owned(),
        CacheStatus::Coalesced,
        None,
    )
    .await?
    {
        return Ok(Followed::Answered);
    }
    play(session, ctx, &head, tape).await?;
    Ok(Followed::Answered)
}

/// Waits until the tape can be played (its head), or the flight lands first.
async fn until_live(
    mut landing: tokio::sync::watch::Receiver<Landing>,
    tape: &mut Player,
) -> Result<Arc<TapeHead>, Landing> {
    let mut recording = true;
    loop {
        let landed = landing.borrow_and_update().clone();
        if !landed.is_pending() {
            return Err(landed);
        }
        if let Some(head) = tape.live() {
            return Ok(head);
        }
        tokio::select! {
            changed = landing.changed() => {
                if changed.is_err() {
                    return Err(Landing::Failed(None));
                }
            }
            more = tape.changed(), if recording => recording = more,
        }
    }
}

/// Writes the follower's own head, then every chunk of the tape translated, as it comes.
async fn play(
    session: &mut Session,
    ctx: &mut RequestCtx,
    head: &TapeHead,
    mut tape: Player,
) -> pingora::Result<()> {
    // The plan stays, for the logs (the provider that answered the flight, `stream`); the
    // request is billed nothing all the same, since it has no usage of its own.
    let client_wants_usage = ctx.plan.as_ref().is_some_and(|p| p.client_wants_usage);
    let guard = super::guard::screens_answers(ctx)
        .then(|| ctx.guard.take())
        .flatten()
        .map(GuardChain::into_stream);
    let mut translator = StreamTranslator::guarded(
        StreamSpec {
            client: ctx.client,
            upstream: head.wire,
            id: &ctx.request_id,
            model: &head.model,
            created: crate::state::unix_now().as_secs(),
            client_wants_usage,
            json_tool: head.json_tool,
            price: Some(head.price),
            request: &ctx.client_body,
        },
        guard,
    );
    let mut response = served_head(
        ctx,
        CacheStatus::Coalesced,
        "text/event-stream; charset=utf-8",
        None,
    )?;
    response.insert_header(http::header::CACHE_CONTROL, "no-cache")?;
    super::connection::close_delimit_for_old_clients(session, &mut response);
    session
        .write_response_header(Box::new(response), false)
        .await?;
    ctx.response.upstream_status = Some(200);
    let mut capture = Some(Vec::new());
    let mut out = Vec::new();
    let end = loop {
        // Everything new at once: the lock is released before anything is written.
        let played = tape.take();
        for chunk in &played.chunks {
            translator.push(chunk, &mut out);
        }
        if let Some(end) = played.end {
            break end;
        }
        write(session, ctx, &mut capture, &mut out, false).await?;
        if !tape.changed().await {
            // The recorder is gone without an end on the tape: nothing more will come.
            break TapeEnd::Cut;
        }
    };
    // A cut stream ends with the in-band error of the client's dialect, never a clean end.
    translator.finish(&mut out);
    write(session, ctx, &mut capture, &mut out, true).await?;
    if end == TapeEnd::Cut {
        ctx.error_type = Some(ErrorType::CoalescedStreamCut);
    } else if translator.guard().is_some_and(|g| g.blocked().is_some()) {
        ctx.error_type = Some(ErrorType::PolicyBlocked);
    }
    if let Some(cache) = ctx.cache.as_mut() {
        cache.followed_findings = translator.guard().map(|g| g.findings());
    }
    // A Responses answer with `store` is kept, as a replayed one is.
    if translator.outcome() == StreamOutcome::Completed {
        ctx.response.capture = capture;
        ctx.held_turn = super::stored_responses::hold(ctx, true);
    }
    Ok(())
}

/// Sends what was translated (an empty piece only when it is the last), and keeps it while it
/// may still become a stored turn.
async fn write(
    session: &mut Session,
    ctx: &mut RequestCtx,
    capture: &mut Option<Vec<u8>>,
    out: &mut Vec<u8>,
    last: bool,
) -> pingora::Result<()> {
    if out.is_empty() && !last {
        return Ok(());
    }
    let piece = Bytes::from(std::mem::take(out));
    if let Some(kept) = capture.as_mut() {
        if kept.len() + piece.len() <= MAX_CAPTURE {
            kept.extend_from_slice(&piece);
        } else {
            *capture = None;
        }
    }
    if ctx.response.first_byte.is_none() && !piece.is_empty() {
        ctx.response.first_byte = Some(std::time::Instant::now());
    }
    session.write_response_body(Some(piece), last).await?;
    Ok(())
}
