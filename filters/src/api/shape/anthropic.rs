//! The shape of Anthropic Messages requests (and token counts), as far as sluice reads, prices
//! or translates them. Roles and block types are not limited to the ones sluice translates:
//! an Anthropic provider accepts more under its betas, and those requests pass through. The
//! fields are only type-checked, never read, hence `dead_code`.

use super::primitives::{AnyObject, AnyStr, Content, PositiveInt, TypedObject};
use super::{parse, Checked};
use crate::api::RequestError;
use serde::Deserialize;

#[derive(Deserialize)]
#[allow(dead_code)]
struct Messages {
    model: AnyStr,
    messages: Vec<Message>,
    max_tokens: Option<PositiveInt>,
    system: Option<Content>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<PositiveInt>,
    stop_sequences: Option<Vec<AnyStr>>,
    stream: Option<bool>,
    tools: Option<Vec<AnyObject>>,
    tool_choice: Option<TypedObject>,
    metadata: Option<AnyObject>,
    thinking: Option<TypedObject>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Message {
    role: AnyStr,
    content: Content,
}

/// `with_output`: a message generates up to `max_tokens` (when it is missing, a translated
/// request gets the provider's default and Anthropic refuses a passed-through one); a token
/// count generates nothing.
pub fn check_messages(body: &[u8], with_output: bool) -> Result<Checked, RequestError> {
    let messages: Messages = parse(body)?;
    if messages.messages.is_empty() {
        return Err(RequestError::invalid(
            "messages: at least one message is required",
            "messages",
        ));
    }
    Ok(Checked {
        max_output_tokens: if with_output {
            messages.max_tokens.map(|n| n.0)
        } else {
            Some(0)
        },
        output_param: "max_tokens",
    })
}
