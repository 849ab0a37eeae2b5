//! The SSE framer, differentially: the same bytes fed whole, split at a chosen point, and one
//! byte at a time must give the same events (network reads split a stream anywhere).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_filters::stream::{SseEvent, SseFramer};

type Event = (Option<String>, String, Vec<u8>);

fn owned(e: SseEvent<'_>) -> Event {
    (
        e.event.map(str::to_owned),
        e.data.into_owned(),
        e.raw.to_vec(),
    )
}

fn run(pieces: &mut dyn Iterator<Item = &[u8]>) -> (Vec<Event>, bool, bool) {
    let mut framer = SseFramer::new();
    let mut events = Vec::new();
    let mut overflow = false;
    for piece in pieces {
        overflow |= framer.feed(piece, &mut |e| events.push(owned(e))).is_err();
    }
    let leftover = framer.finish(&mut |e| events.push(owned(e)));
    (events, leftover, overflow)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let whole = run(&mut std::iter::once(stream));
    let at = (split as usize * stream.len()) / 255;
    let (head, tail) = stream.split_at(at);
    assert_eq!(run(&mut [head, tail].into_iter()), whole, "split at {at}");
    assert_eq!(run(&mut stream.chunks(1)), whole, "byte by byte");
    let read = split as usize % 7 + 2;
    assert_eq!(run(&mut stream.chunks(read)), whole, "reads of {read}");
    // Each event's raw bytes are a piece of the input, after the previous event's.
    let mut at = 0;
    for (_, _, raw) in &whole.0 {
        let found = stream[at..]
            .windows(raw.len().max(1))
            .position(|w| w == raw.as_slice())
            .expect("an event's raw bytes are in the input");
        at += found + raw.len();
    }
});
