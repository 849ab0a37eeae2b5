//! The unbounded end of a long secret, consumed one byte at a time.
//!
//! Why tails exist: the stream redactor can only hold back a bounded window, so every pattern
//! has a bounded length (at most `MAX_PATTERN_LEN`). Some secrets are longer: a PEM private key
//! is kilobytes, a JWT hundreds of characters, an `sk-proj-` key 160. For those the pattern
//! matches a recognisable head (the `-----BEGIN ... PRIVATE KEY-----` line, `eyJ….eyJ`,
//! `sk-` and twenty random characters) and a tail machine then extends the match over the
//! rest, byte by byte, with no look-back and no buffer. The whole-text and the stream scanner
//! run the same machine, so both agree on where the secret ends; the stream never needs to
//! keep the secret itself (it only hashes it for numbering).

/// A tail is at most this long: a PEM block of an 8192-bit RSA key is about 6.5 KiB, a large
/// JWT a few KiB. Past it the match ends, so a run that never ends cannot stall a stream.
pub const MAX_TAIL_LEN: usize = 64 << 10;

/// How a pattern's match continues after its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Any run of the given ASCII bytes (a bitmap) continues the match.
    Run(u128),
    /// The rest of a JWT: base64url characters with one more `.` (before the signature).
    Jwt,
    /// The rest of a PEM block: base64 lines and headers up to and including the
    /// `-----END ... -----` line.
    Pem,
}

/// Letters and digits.
pub(crate) const ALNUM: u128 = range(b'0', b'9') | range(b'A', b'Z') | range(b'a', b'z');
/// What API keys are made of: letters, digits, `_` and `-`.
pub(crate) const KEY_CHARS: u128 = ALNUM | bit(b'_') | bit(b'-');

/// What may appear between a PEM header and its end line: base64, whitespace, the
/// `Proc-Type: 4,ENCRYPTED` header characters, and `\` for a key whose newlines are escaped
/// (a PEM inside a JSON string inside a tool call's arguments reads `...\nMIIE...`).
const PEM_BODY: u128 = ALNUM
    | bit(b'+')
    | bit(b'/')
    | bit(b'=')
    | bit(b' ')
    | bit(b'\t')
    | bit(b'\r')
    | bit(b'\n')
    | bit(b'\\')
    | bit(b':')
    | bit(b',')
    | bit(b'-');

const PEM_END: &[u8] = b"-----END ";

pub(crate) const fn bit(b: u8) -> u128 {
    1u128 << b
}

pub(crate) const fn range(from: u8, to: u8) -> u128 {
    let mut set = 0u128;
    let mut b = from;
    while b <= to {
        set |= 1u128 << b;
        b += 1;
    }
    set
}

fn in_set(set: u128, b: u8) -> bool {
    b < 128 && set & (1u128 << b) != 0
}

/// A tail being consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TailRun {
    state: State,
    len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Run(u128),
    Jwt {
        dots: u8,
    },
    /// Inside the body; `matched` bytes of `-----END ` seen so far.
    PemBody {
        matched: usize,
    },
    /// In the end line's label (`RSA PRIVATE KEY`).
    PemLabel,
    /// In the end line's closing dashes.
    PemClosing {
        dashes: u8,
    },
}

/// What one byte does to the match.
enum Step {
    /// Part of the match; more may follow.
    Take,
    /// Part of the match, and its last byte.
    TakeLast,
    /// Not part of the match: it ended before this byte.
    Stop,
}

impl TailRun {
    pub(crate) fn new(tail: Tail) -> TailRun {
        let state = match tail {
            Tail::Run(set) => State::Run(set),
            Tail::Jwt => State::Jwt { dots: 0 },
            Tail::Pem => State::PemBody { matched: 0 },
        };
        TailRun { state, len: 0 }
    }

    /// Consumes the bytes that continue the match. Returns how many belong to it and whether
    /// the match has ended (if not, all of `bytes` was taken and more may follow).
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> (usize, bool) {
        for (i, &b) in bytes.iter().enumerate() {
            if self.len >= MAX_TAIL_LEN {
                return (i, true);
            }
            match self.step(b) {
                Step::Take => self.len += 1,
                Step::TakeLast => {
                    self.len += 1;
                    return (i + 1, true);
                }
                Step::Stop => return (i, true),
            }
        }
        (bytes.len(), false)
    }

    fn step(&mut self, b: u8) -> Step {
        match self.state {
            State::Run(set) => {
                if in_set(set, b) {
                    Step::Take
                } else {
                    Step::Stop
                }
            }
            State::Jwt { dots } => {
                if in_set(KEY_CHARS, b) {
                    Step::Take
                } else if b == b'.' && dots == 0 {
                    self.state = State::Jwt { dots: 1 };
                    Step::Take
                } else {
                    Step::Stop
                }
            }
            State::PemBody { matched } => self.pem_body(matched, b),
            State::PemLabel => {
                if b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' {
                    Step::Take
                } else if b == b'-' {
                    self.state = State::PemClosing { dashes: 1 };
                    Step::Take
                } else {
                    Step::Stop
                }
            }
            State::PemClosing { dashes } => {
                if b != b'-' {
                    Step::Stop
                } else if dashes >= 4 {
                    Step::TakeLast
                } else {
                    self.state = State::PemClosing { dashes: dashes + 1 };
                    Step::Take
                }
            }
        }
    }

    fn pem_body(&mut self, matched: usize, b: u8) -> Step {
        if PEM_END.get(matched) == Some(&b) {
            self.state = if matched + 1 == PEM_END.len() {
                State::PemLabel
            } else {
                State::PemBody {
                    matched: matched + 1,
                }
            };
            return Step::Take;
        }
        if !in_set(PEM_BODY, b) {
            return Step::Stop;
        }
        // A mismatch restarts the search for `-----END `; a dash may begin it again, and a
        // sixth dash keeps the five before it.
        let matched = match (b, matched) {
            (b'-', 5) => 5,
            (b'-', _) => 1,
            _ => 0,
        };
        self.state = State::PemBody { matched };
        Step::Take
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tail: Tail, text: &str) -> (usize, bool) {
        TailRun::new(tail).feed(text.as_bytes())
    }

    #[test]
    fn guard_tail_run_stops_at_first_other_byte() {
        assert_eq!(run(Tail::Run(KEY_CHARS), "abc_-9. rest"), (6, true));
        assert_eq!(run(Tail::Run(KEY_CHARS), "abc"), (3, false));
    }

    #[test]
    fn guard_tail_jwt_takes_one_more_dot() {
        assert_eq!(run(Tail::Jwt, "payload.sig. Next"), (11, true));
    }

    #[test]
    fn guard_tail_pem_ends_after_end_line() {
        let body =
            "\nMIIEow+/IBAAK==\nProc-Type: 4,ENCRYPTED\n-----END RSA PRIVATE KEY-----\nthanks";
        let end = body.find("thanks").unwrap() - 1;
        assert_eq!(run(Tail::Pem, body), (end, true));
        let escaped = "\\nMIIE\\n------END PRIVATE KEY-----\"}";
        assert_eq!(run(Tail::Pem, escaped), (escaped.len() - 2, true));
    }

    #[test]
    fn guard_tail_pem_split_anywhere_is_the_same() {
        let body = "\nMIIEow\n-----END EC PRIVATE KEY-----rest";
        let whole = run(Tail::Pem, body);
        for cut in 0..body.len() {
            let mut tail = TailRun::new(Tail::Pem);
            let (a, done) = tail.feed(&body.as_bytes()[..cut]);
            let total = if done {
                a
            } else {
                a + tail.feed(&body.as_bytes()[cut..]).0
            };
            assert_eq!(total, whole.0, "cut at {cut}");
        }
    }

    #[test]
    fn guard_tail_is_capped() {
        let long = "a".repeat(MAX_TAIL_LEN + 10);
        assert_eq!(run(Tail::Run(ALNUM), &long), (MAX_TAIL_LEN, true));
    }
}
