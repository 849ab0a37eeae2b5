//! What an Anthropic client's messages body goes through: the passthrough view (the same
//! top-level scan as OpenAI's) and the decoder into the canonical model. No panic on any bytes;
//! a decoded request that encodes for Anthropic again decodes again (unless it had
//! only blank messages, which the encoder drops).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_filters::api::openai::ChatRequest;
use sluice_filters::providers::anthropic;

fuzz_target!(|data: &[u8]| {
    if let Ok(view) = ChatRequest::parse(data) {
        let _ = view.with_model("claude-fuzz");
        let _ = sluice_filters::api::shape::check(
            sluice_filters::api::shape::BodyKind::AnthropicMessages,
            data,
        );
    }
    if let Ok(request) = anthropic::decode_request(data) {
        let options = anthropic::EncodeOptions {
            model: "claude-fuzz",
            default_max_tokens: 1024,
        };
        if let Ok(encoded) = anthropic::encode_request(&request, options) {
            // Blank text is dropped (Anthropic refuses it), so a conversation of blank
            // messages encodes as none; every other encoded request must decode.
            if let Err(e) = anthropic::decode_request(&encoded.body) {
                assert_eq!(e.param.as_deref(), Some("messages"), "{e:?}");
            }
        }
    }
});
