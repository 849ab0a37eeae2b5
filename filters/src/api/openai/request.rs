//! Views of OpenAI request bodies: the few top-level fields the gateway reads (model, stream),
//! validated, with the rest left as the client's bytes. See `json::TopLevelObject` for why.

use crate::api::RequestError;
use crate::json::{Field, TopLevelObject};
use std::borrow::Cow;
use std::ops::Range;

/// `POST /v1/chat/completions`.
#[derive(Debug)]
pub struct ChatRequest<'a> {
    object: TopLevelObject<'a>,
    pub model: Cow<'a, str>,
    model_span: Range<usize>,
    pub stream: bool,
}

impl<'a> ChatRequest<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, RequestError> {
        Self::from_object(TopLevelObject::parse(body)?)
    }

    /// `parse` for a body whose shape `api::shape::check` checks next (the request phase):
    /// the top level is found by `TopLevelObject::scan`, whose syntax the check's full decode
    /// refuses if broken inside a value.
    pub fn scan(body: &'a [u8]) -> Result<Self, RequestError> {
        Self::from_object(TopLevelObject::scan(body)?)
    }

    fn from_object(object: TopLevelObject<'a>) -> Result<Self, RequestError> {
        let (model, model_span) = required_model(&object)?;
        match object.get("messages") {
            None => {
                return Err(RequestError::invalid(
                    "you must provide a 'messages' parameter",
                    "messages",
                ))
            }
            Some(f) if !is_non_empty_array(f.value) => {
                return Err(RequestError::invalid(
                    "'messages' must be a non-empty array",
                    "messages",
                ))
            }
            Some(_) => {}
        }
        let stream = optional_bool(&object, "stream")?;
        Ok(ChatRequest {
            object,
            model,
            model_span,
            stream,
        })
    }

    /// The body with `model` replaced, or `None` when the target's model name is the same.
    pub fn with_model(&self, upstream_model: &str) -> Option<Vec<u8>> {
        replace_model(&self.object, &self.model, &self.model_span, upstream_model)
    }

    /// The scanned top-level fields, for edits beyond the model name.
    pub fn object(&self) -> &TopLevelObject<'a> {
        &self.object
    }

    pub fn model_span(&self) -> Range<usize> {
        self.model_span.clone()
    }
}

/// `POST /v1/responses`: the model, and an input to answer.
#[derive(Debug)]
pub struct ResponsesRequest<'a> {
    pub model: Cow<'a, str>,
}

impl<'a> ResponsesRequest<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, RequestError> {
        let object = TopLevelObject::parse(body)?;
        let (model, _) = required_model(&object)?;
        match object.get("input").map(|f| f.value) {
            None => Err(RequestError::invalid(
                "you must provide an 'input' parameter",
                "input",
            )),
            Some(v) if v.starts_with('"') || is_non_empty_array(v) => {
                Ok(ResponsesRequest { model })
            }
            Some(_) => Err(RequestError::invalid(
                "'input' must be a string or a non-empty array of items",
                "input",
            )),
        }
    }
}

/// `POST /v1/embeddings`.
#[derive(Debug)]
pub struct EmbeddingsRequest<'a> {
    object: TopLevelObject<'a>,
    pub model: Cow<'a, str>,
    model_span: Range<usize>,
}

impl<'a> EmbeddingsRequest<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, RequestError> {
        let object = TopLevelObject::parse(body)?;
        let (model, model_span) = required_model(&object)?;
        match object.get("input") {
            None => {
                return Err(RequestError::invalid(
                    "you must provide an 'input' parameter",
                    "input",
                ))
            }
            Some(f) if f.value == "null" => {
                return Err(RequestError::invalid("'input' must not be null", "input"))
            }
            Some(_) => {}
        }
        Ok(EmbeddingsRequest {
            object,
            model,
            model_span,
        })
    }

    pub fn with_model(&self, upstream_model: &str) -> Option<Vec<u8>> {
        replace_model(&self.object, &self.model, &self.model_span, upstream_model)
    }
}

fn required_model<'a>(
    object: &TopLevelObject<'a>,
) -> Result<(Cow<'a, str>, Range<usize>), RequestError> {
    let Some(field) = object.get("model") else {
        return Err(RequestError::invalid(
            "you must provide a 'model' parameter",
            "model",
        ));
    };
    let model = string_value(field)
        .ok_or_else(|| RequestError::invalid("'model' must be a string", "model"))?;
    if model.trim().is_empty() {
        return Err(RequestError::invalid("'model' must not be empty", "model"));
    }
    Ok((model, field.span.clone()))
}

fn string_value<'a>(field: &Field<'a>) -> Option<Cow<'a, str>> {
    if !field.value.starts_with('"') {
        return None;
    }
    let inner = &field.value[1..field.value.len() - 1];
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(field.value)
        .ok()
        .map(Cow::Owned)
}

fn optional_bool(object: &TopLevelObject<'_>, key: &'static str) -> Result<bool, RequestError> {
    match object.get(key).map(|f| f.value) {
        None | Some("null") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(RequestError::invalid(
            format!("'{key}' must be a boolean"),
            key,
        )),
    }
}

fn is_non_empty_array(raw: &str) -> bool {
    raw.starts_with('[') && raw[1..].trim_start() != "]"
}

fn replace_model(
    object: &TopLevelObject<'_>,
    current: &str,
    span: &Range<usize>,
    upstream_model: &str,
) -> Option<Vec<u8>> {
    if current == upstream_model {
        return None;
    }
    let encoded = serde_json::to_vec(upstream_model).unwrap_or_default();
    Some(object.splice(span.clone(), &encoded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_type::ErrorType;

    const CHAT: &[u8] = br#"{"messages":[{"role":"user","content":"Hello"}],"model":"fast","stream":true,"temperature":0.2}"#;

    #[test]
    fn reads_model_and_stream() {
        let req = ChatRequest::parse(CHAT).unwrap();
        assert_eq!(req.model, "fast");
        assert!(req.stream);
    }

    #[test]
    fn rewrites_model_and_keeps_everything_else() {
        let req = ChatRequest::parse(CHAT).unwrap();
        let out = req.with_model("gpt-4o-mini").unwrap();
        assert_eq!(
            out,
            br#"{"messages":[{"role":"user","content":"Hello"}],"model":"gpt-4o-mini","stream":true,"temperature":0.2}"#
        );
        assert!(req.with_model("fast").is_none());
    }

    #[test]
    fn escaped_model_names_are_decoded() {
        let req = ChatRequest::parse(br#"{"model":"a\/b","messages":[{}]}"#).unwrap();
        assert_eq!(req.model, "a/b");
    }

    #[test]
    fn missing_or_bad_fields_name_the_param() {
        let cases: &[(&[u8], &str, ErrorType)] = &[
            (br#"{"messages":[{}]}"#, "model", ErrorType::InvalidRequest),
            (
                br#"{"model":3,"messages":[{}]}"#,
                "model",
                ErrorType::InvalidRequest,
            ),
            (
                br#"{"model":" ","messages":[{}]}"#,
                "model",
                ErrorType::InvalidRequest,
            ),
            (br#"{"model":"m"}"#, "messages", ErrorType::InvalidRequest),
            (
                br#"{"model":"m","messages":[ ]}"#,
                "messages",
                ErrorType::InvalidRequest,
            ),
            (
                br#"{"model":"m","messages":{}}"#,
                "messages",
                ErrorType::InvalidRequest,
            ),
            (
                br#"{"model":"m","messages":[{}],"stream":"yes"}"#,
                "stream",
                ErrorType::InvalidRequest,
            ),
        ];
        for (body, param, kind) in cases {
            let err = ChatRequest::parse(body).unwrap_err();
            assert_eq!(
                err.param.as_deref(),
                Some(*param),
                "{}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(err.error_type, *kind);
        }
    }

    #[test]
    fn invalid_json_is_its_own_error() {
        let err = ChatRequest::parse(b"{not json").unwrap_err();
        assert_eq!(err.error_type, ErrorType::InvalidJson);
        assert_eq!(err.param, None);
    }

    #[test]
    fn embeddings_need_input() {
        let ok = EmbeddingsRequest::parse(br#"{"model":"e","input":"hi"}"#).unwrap();
        assert_eq!(ok.model, "e");
        let err = EmbeddingsRequest::parse(br#"{"model":"e"}"#).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("input"));
    }
}
