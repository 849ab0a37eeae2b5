//! Arbitrary bytes as an upstream stream, through every `StreamTranslator` pairing (passthrough
//! and translated, with and without the JSON-mode tool unwrap): no panic, whole or in reads.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_filters::governance::Price;
use sluice_filters::translate::{ClientDialect, StreamSpec, StreamTranslator, UpstreamDialect};

fuzz_target!(|data: &[u8]| {
    let Some((&shape, stream)) = data.split_first() else {
        return;
    };
    let read = usize::from(shape >> 2).max(1);
    for client in [
        ClientDialect::OpenAi,
        ClientDialect::Anthropic,
        ClientDialect::Responses,
    ] {
        for upstream in [
            UpstreamDialect::OpenAi,
            UpstreamDialect::Azure,
            UpstreamDialect::Anthropic,
            UpstreamDialect::Gemini,
        ] {
            let mut t = StreamTranslator::new(StreamSpec {
                client,
                upstream,
                id: "fuzz-id",
                model: "fuzz-model",
                created: 1_760_000_000,
                client_wants_usage: shape & 1 == 1,
                json_tool: shape & 2 == 2,
                price: Some(Price {
                    input: 1.0,
                    output: 2.0,
                    cached_input: 0.5,
                    cache_write: 1.25,
                }),
            });
            let mut out = Vec::new();
            for chunk in stream.chunks(read) {
                t.push(chunk, &mut out);
            }
            t.finish(&mut out);
            let _ = t.billable_usage(100);
            let _ = t.outcome();
        }
    }
});
