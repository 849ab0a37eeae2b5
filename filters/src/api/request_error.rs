//! Why a client's request body was refused: a 400 in the client's dialect, naming the field.

use crate::error_type::ErrorType;
use crate::json::ObjectScanError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub error_type: ErrorType,
    pub message: String,
    /// The offending field, as OpenAI's `param` names it (`messages[2].content`).
    pub param: Option<String>,
}

impl RequestError {
    pub fn invalid(message: impl Into<String>, param: impl Into<String>) -> Self {
        RequestError {
            error_type: ErrorType::InvalidRequest,
            message: message.into(),
            param: Some(param.into()),
        }
    }

    /// A request that is valid but asks for something the target provider cannot do.
    pub fn unsupported(message: impl Into<String>, param: impl Into<String>) -> Self {
        RequestError {
            error_type: ErrorType::UnsupportedByProvider,
            message: message.into(),
            param: Some(param.into()),
        }
    }

    /// A body that does not match the dialect's schema (serde's message, with its position).
    pub fn schema(e: &serde_json::Error) -> Self {
        RequestError {
            error_type: if e.is_syntax() || e.is_eof() {
                ErrorType::InvalidJson
            } else {
                ErrorType::InvalidRequest
            },
            message: format!("invalid request body: {e}"),
            param: None,
        }
    }
}

impl From<ObjectScanError> for RequestError {
    fn from(e: ObjectScanError) -> Self {
        RequestError {
            error_type: ErrorType::InvalidJson,
            message: e.to_string(),
            param: None,
        }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
