//! A local token estimate for `/v1/messages/count_tokens` when the target provider has no
//! counting endpoint. About four characters a token for text, a flat cost per image and per
//! message; the response says it is an estimate.

use super::ClientDialect;
use crate::api::RequestError;
use crate::canonical::{Block, Request};
use crate::providers::{anthropic, openai};

/// Tokens an image costs when its size is unknown (a mid-sized image on most models).
const IMAGE_TOKENS: u64 = 1_000;
const PER_MESSAGE: u64 = 4;

pub fn estimate_input_tokens(client: ClientDialect, body: &[u8]) -> Result<u64, RequestError> {
    let request: Request<'_> = match client {
        ClientDialect::OpenAi => openai::decode_request(body)?,
        ClientDialect::Anthropic => anthropic::decode_request(body)?,
        ClientDialect::Responses => crate::providers::responses::decode_request(body)?,
    };
    let mut chars: u64 = request.system.iter().map(|s| s.len() as u64).sum();
    let mut extra = 0;
    for tool in &request.tools {
        chars += tool.name.len() as u64;
        chars += tool.description.as_ref().map_or(0, |d| d.len() as u64);
        chars += tool.parameters.as_ref().map_or(0, |p| p.get().len() as u64);
    }
    for message in &request.messages {
        extra += PER_MESSAGE;
        for block in &message.content {
            let (c, e) = block_cost(block);
            chars += c;
            extra += e;
        }
    }
    Ok(chars.div_ceil(4) + extra)
}

fn block_cost(block: &Block<'_>) -> (u64, u64) {
    match block {
        Block::Text(t) => (t.len() as u64, 0),
        Block::Image(_) => (0, IMAGE_TOKENS),
        Block::ToolUse { name, input, .. } => ((name.len() + input.get().len()) as u64, 0),
        Block::ToolResult { content, .. } => content
            .iter()
            .map(block_cost)
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        Block::Thinking { text, .. } => (text.len() as u64, 0),
        Block::RedactedThinking(data) => (data.len() as u64, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_text_images_and_messages() {
        let body = br#"{"model":"m","max_tokens":10,"system":"12345678","messages":[{"role":"user","content":[{"type":"text","text":"abcd"},{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]}"#;
        assert_eq!(
            estimate_input_tokens(ClientDialect::Anthropic, body).unwrap(),
            3 + 4 + 1000
        );
    }
}
