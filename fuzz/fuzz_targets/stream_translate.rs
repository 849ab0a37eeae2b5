//! Arbitrary bytes as an upstream stream, through every `StreamTranslator` pairing (passthrough
//! and translated, with and without the JSON-mode tool unwrap): no panic, and the client gets
//! the same bytes, usage and outcome whether the stream came whole or in reads.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_filters::canonical::Usage;
use sluice_filters::governance::Price;
use sluice_filters::translate::{
    ClientDialect, StreamOutcome, StreamSpec, StreamTranslator, UpstreamDialect,
};

fn run<'a>(
    spec: StreamSpec<'_>,
    pieces: impl Iterator<Item = &'a [u8]>,
) -> (Vec<u8>, Usage, StreamOutcome, (Usage, bool)) {
    let mut t = StreamTranslator::new(spec);
    let mut out = Vec::new();
    for piece in pieces {
        t.push(piece, &mut out);
    }
    t.finish(&mut out);
    (out, t.usage(), t.outcome(), t.billable_usage(100))
}

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
            let spec = StreamSpec {
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
                request: b"{}",
            };
            let whole = run(spec, std::iter::once(stream));
            let pieces = run(spec, stream.chunks(read));
            assert!(
                whole == pieces,
                "{client:?} <- {upstream:?} in reads of {read}:\n{}\n---\n{}",
                String::from_utf8_lossy(&whole.0),
                String::from_utf8_lossy(&pieces.0)
            );
        }
    }
});
