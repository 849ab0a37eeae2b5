//! The one model every dialect decodes into and encodes out of (DESIGN.md, principle 2).
//!
//! Messages are ordered typed blocks, as in Anthropic's and Bedrock's APIs: converting blocks to
//! OpenAI's strings is lossless in that direction only. Text and image data borrow from the
//! request body (`Cow<'a, str>`), so a megabyte of base64 is not copied to be translated.
//! Tool call inputs are kept as raw JSON text, validated to be an object.

mod error;
mod request;
mod response;
mod stream;
mod usage;

pub use error::{FailureKind, UpstreamFailure};
pub use request::{
    Block, Effort, Image, Message, Reasoning, Request, ResponseFormat, Role, Tool, ToolChoice,
    Verbosity,
};
pub use response::{Response, StopReason};
pub use stream::StreamEvent;
pub use usage::Usage;
