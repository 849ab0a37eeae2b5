//! OpenAI-shaped error bodies: `{"error":{"message","type","param","code"}}`.

use crate::error_type::ErrorType;
use crate::providers::openai::encode_error;

/// The JSON body an OpenAI client expects for a gateway error. `param` names the offending
/// request field when there is one, as OpenAI does.
pub fn error_body(error_type: ErrorType, message: &str, param: Option<&str>) -> Vec<u8> {
    encode_error(
        error_type.openai_type(),
        error_type.as_str(),
        message,
        param,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_openai_shape() {
        let body = error_body(
            ErrorType::ModelNotFound,
            "The model 'x' does not exist",
            Some("model"),
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["message"], "The model 'x' does not exist");
        assert_eq!(v["error"]["type"], "not_found_error");
        assert_eq!(v["error"]["param"], "model");
        assert_eq!(v["error"]["code"], "model_not_found");
    }

    #[test]
    fn messages_are_escaped() {
        let body = error_body(ErrorType::InvalidJson, "bad \"quote\"\n", None);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["message"], "bad \"quote\"\n");
        assert!(v["error"]["param"].is_null());
    }
}
