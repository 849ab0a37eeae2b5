//! `prepare_request`, what the proxy calls to make the upstream body from a client's, for every
//! client dialect, upstream dialect and API: it must answer `Ok` or a `RequestError`, never
//! panic, and any body it makes must be JSON; a translated body must be one sluice's own
//! decoder of that dialect accepts (a conversation of only blank messages aside: the encoders
//! drop blank text, so it becomes no messages).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_filters::api::RequestError;
use sluice_filters::providers::{anthropic, openai};
use sluice_filters::translate::{
    is_passthrough, prepare_request, Api, ClientDialect, Target, UpstreamDialect,
};

/// Whether the upstream body decodes in its own dialect, where sluice has a decoder for it.
fn decodes(dialect: UpstreamDialect, body: &[u8]) -> Result<(), RequestError> {
    match dialect {
        UpstreamDialect::OpenAi | UpstreamDialect::Azure => openai::decode_request(body).map(drop),
        UpstreamDialect::Anthropic => anthropic::decode_request(body).map(drop),
        UpstreamDialect::Gemini => Ok(()),
    }
}

fuzz_target!(|data: &[u8]| {
    for client in [
        ClientDialect::OpenAi,
        ClientDialect::Anthropic,
        ClientDialect::Responses,
    ] {
        for dialect in [
            UpstreamDialect::OpenAi,
            UpstreamDialect::Azure,
            UpstreamDialect::Anthropic,
            UpstreamDialect::Gemini,
        ] {
            for api in [Api::Chat, Api::Embeddings, Api::CountTokens] {
                let target = Target {
                    dialect,
                    model: "fuzz-model",
                    default_max_tokens: 4096,
                    api,
                };
                if let Ok(prepared) = prepare_request(client, data, &target) {
                    if let Some(body) = prepared.body {
                        serde_json::from_slice::<serde::de::IgnoredAny>(&body).unwrap_or_else(
                            |e| panic!("{client:?} -> {dialect:?} {api:?} made invalid JSON: {e}"),
                        );
                        if api == Api::Chat && !is_passthrough(client, dialect) {
                            if let Err(e) = decodes(dialect, &body) {
                                assert_eq!(
                                    e.param.as_deref(),
                                    Some("messages"),
                                    "{client:?} -> {dialect:?} made a body it refuses: {e:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
});
