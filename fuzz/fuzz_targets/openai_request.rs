//! What an OpenAI client's chat body goes through: the passthrough view (`ChatRequest`, and
//! `EmbeddingsRequest`) and the decoder into the canonical model. No panic on any bytes; a model
//! rename keeps the body valid; a decoded request re-encodes as OpenAI and decodes again
//! (unless it had only blank messages, which the encoder drops).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_filters::api::openai::{ChatRequest, EmbeddingsRequest};
use sluice_filters::providers::openai;

fuzz_target!(|data: &[u8]| {
    if let Ok(view) = ChatRequest::parse(data) {
        let _ = sluice_filters::api::shape::check(
            sluice_filters::api::shape::BodyKind::OpenAiChat,
            data,
        );
        if let Some(renamed) = view.with_model("fuzz-\"model\"\u{7}") {
            let again = ChatRequest::parse(&renamed).expect("a renamed body stays valid");
            assert_eq!(again.model, "fuzz-\"model\"\u{7}");
            assert_eq!(again.stream, view.stream);
        }
    }
    if let Ok(view) = EmbeddingsRequest::parse(data) {
        let _ = view.with_model("fuzz");
    }
    if let Ok(request) = openai::decode_request(data) {
        let encoded = openai::encode_request(&request, openai::EncodeOptions::for_model("m"));
        // The encoder drops blank text (providers refuse it), so a conversation of blank
        // messages encodes as none; every other encoded request must decode.
        if let Err(e) = openai::decode_request(&encoded) {
            assert_eq!(e.param.as_deref(), Some("messages"), "{e:?}");
        }
    }
});
