//! The shapes of OpenAI chat and embeddings requests, as far as sluice reads, prices or
//! translates them. The fields are only type-checked, never read, hence `dead_code`.

use super::primitives::{
    AnyObject, AnyStr, Content, PositiveInt, StrOrObject, StrOrStrs, TypedObject,
};
use super::{parse, Checked};
use crate::api::RequestError;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

#[derive(Deserialize)]
#[allow(dead_code)]
struct Chat {
    model: AnyStr,
    messages: Vec<Message>,
    max_tokens: Option<PositiveInt>,
    max_completion_tokens: Option<PositiveInt>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    presence_penalty: Option<f64>,
    frequency_penalty: Option<f64>,
    n: Option<PositiveInt>,
    seed: Option<i64>,
    stream: Option<bool>,
    stream_options: Option<AnyObject>,
    tools: Option<Vec<Tool>>,
    tool_choice: Option<StrOrObject>,
    parallel_tool_calls: Option<bool>,
    stop: Option<StrOrStrs>,
    response_format: Option<TypedObject>,
    user: Option<AnyStr>,
    logprobs: Option<bool>,
    top_logprobs: Option<u64>,
    logit_bias: Option<AnyObject>,
    metadata: Option<AnyObject>,
    store: Option<bool>,
    reasoning_effort: Option<AnyStr>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Message {
    role: AnyStr,
    content: Option<Content>,
    name: Option<AnyStr>,
    tool_calls: Option<Vec<ToolCall>>,
    tool_call_id: Option<AnyStr>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct ToolCall {
    function: FunctionCall,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FunctionCall {
    name: AnyStr,
    arguments: Option<AnyStr>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Tool {
    #[serde(rename = "type")]
    kind: AnyStr,
    function: Option<FunctionDef>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FunctionDef {
    name: AnyStr,
    description: Option<AnyStr>,
    parameters: Option<AnyObject>,
}

pub fn check_chat(body: &[u8]) -> Result<Checked, RequestError> {
    let chat: Chat = parse(body)?;
    if chat.messages.is_empty() {
        return Err(RequestError::invalid(
            "'messages' must be a non-empty array",
            "messages",
        ));
    }
    let (max_output_tokens, output_param) = match chat.max_completion_tokens {
        Some(n) => (Some(n.0), "max_completion_tokens"),
        None => (chat.max_tokens.map(|n| n.0), "max_tokens"),
    };
    Ok(Checked {
        max_output_tokens,
        output_param,
    })
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Embeddings {
    model: AnyStr,
    input: EmbeddingInput,
    dimensions: Option<PositiveInt>,
    encoding_format: Option<AnyStr>,
    user: Option<AnyStr>,
}

/// A string, or a non-empty array of strings, of token ids, or of arrays of token ids.
struct EmbeddingInput;

impl<'de> Deserialize<'de> for EmbeddingInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EmbeddingInput;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a non-empty array of strings or token ids")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<EmbeddingInput, E> {
                Ok(EmbeddingInput)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EmbeddingInput, A::Error> {
                let mut count = 0usize;
                while seq.next_element::<EmbeddingItem>()?.is_some() {
                    count += 1;
                }
                if count == 0 {
                    return Err(de::Error::invalid_length(0, &self));
                }
                Ok(EmbeddingInput)
            }
        }
        d.deserialize_any(V)
    }
}

/// One element of an embeddings input array: a string, a token id or an array of token ids.
struct EmbeddingItem;

impl<'de> Deserialize<'de> for EmbeddingItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EmbeddingItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a token id or an array of token ids")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<EmbeddingItem, E> {
                Ok(EmbeddingItem)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<EmbeddingItem, E> {
                Ok(EmbeddingItem)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EmbeddingItem, A::Error> {
                while seq.next_element::<u64>()?.is_some() {}
                Ok(EmbeddingItem)
            }
        }
        d.deserialize_any(V)
    }
}

pub fn check_embeddings(body: &[u8]) -> Result<Checked, RequestError> {
    let _: Embeddings = parse(body)?;
    Ok(Checked {
        max_output_tokens: Some(0),
        output_param: "max_tokens",
    })
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Responses {
    model: AnyStr,
    input: ResponsesInput,
    instructions: Option<AnyStr>,
    max_output_tokens: Option<PositiveInt>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    tools: Option<Vec<TypedObject>>,
    tool_choice: Option<StrOrObject>,
    parallel_tool_calls: Option<bool>,
    stream: Option<bool>,
    store: Option<bool>,
    text: Option<AnyObject>,
    reasoning: Option<AnyObject>,
    metadata: Option<AnyObject>,
    user: Option<AnyStr>,
    previous_response_id: Option<AnyStr>,
    include: Option<Vec<AnyStr>>,
}

/// A Responses `input`: a string, or items (objects; each dialect item checked when decoded).
struct ResponsesInput;

impl<'de> Deserialize<'de> for ResponsesInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ResponsesInput;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of input items")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<ResponsesInput, E> {
                Ok(ResponsesInput)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ResponsesInput, A::Error> {
                while seq.next_element::<AnyObject>()?.is_some() {}
                Ok(ResponsesInput)
            }
        }
        d.deserialize_any(V)
    }
}

pub fn check_responses(body: &[u8]) -> Result<Checked, RequestError> {
    let responses: Responses = parse(body)?;
    Ok(Checked {
        max_output_tokens: responses.max_output_tokens.map(|n| n.0),
        output_param: "max_output_tokens",
    })
}
