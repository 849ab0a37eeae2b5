//! `prepare_request`, what the proxy calls to make the upstream body from a client's, for every
//! client dialect, upstream dialect and API: it must answer `Ok` or a `RequestError`, never
//! panic, and any body it makes must be JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_filters::translate::{prepare_request, Api, ClientDialect, Target, UpstreamDialect};

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
                    }
                }
            }
        }
    }
});
