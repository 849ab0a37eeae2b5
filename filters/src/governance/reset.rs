//! The `x-ratelimit-reset-*` value in OpenAI's format (a Go duration: `850ms`, `12s`, `1.5s`,
//! `6m0s`), which the official SDKs and tools such as `openai-ratelimit` parsers already read.

use crate::log_line::{push_u64, push_zero_padded};

pub fn format_reset(ms: u64) -> String {
    let mut out = String::with_capacity(12);
    push_reset(&mut out, ms);
    out
}

/// Appends what `format_reset` returns, digits placed by hand (the rate headers go on every
/// governed answer).
pub fn push_reset(out: &mut String, ms: u64) {
    if ms < 1000 {
        push_u64(out, ms);
        out.push_str("ms");
        return;
    }
    let minutes = ms / 60_000;
    let rest = ms % 60_000;
    if minutes > 0 {
        push_u64(out, minutes);
        out.push('m');
    }
    let (secs, millis) = (rest / 1000, rest % 1000);
    push_u64(out, secs);
    if millis != 0 {
        // Three digits, the trailing zeros dropped: 40 ms is ".04".
        out.push('.');
        push_zero_padded(out, millis, 3);
        while out.ends_with('0') {
            out.pop();
        }
    }
    out.push('s');
}

#[cfg(test)]
mod tests {
    use super::format_reset;

    #[test]
    fn formats_like_openai() {
        assert_eq!(format_reset(0), "0ms");
        assert_eq!(format_reset(850), "850ms");
        assert_eq!(format_reset(1000), "1s");
        assert_eq!(format_reset(1500), "1.5s");
        assert_eq!(format_reset(12_040), "12.04s");
        assert_eq!(format_reset(60_000), "1m0s");
        assert_eq!(format_reset(65_000), "1m5s");
        assert_eq!(format_reset(360_000), "6m0s");
        assert_eq!(format_reset(61_001), "1m1.001s");
    }

    proptest::proptest! {
        /// What `format!` wrote before the digits were placed by hand.
        #[test]
        fn reads_as_format_wrote(ms in proptest::prop_oneof![0u64..200_000, proptest::num::u64::ANY]) {
            let want = if ms < 1000 {
                format!("{ms}ms")
            } else {
                let (minutes, rest) = (ms / 60_000, ms % 60_000);
                let minutes = if minutes > 0 { format!("{minutes}m") } else { String::new() };
                let (secs, millis) = (rest / 1000, rest % 1000);
                if millis == 0 {
                    format!("{minutes}{secs}s")
                } else {
                    let fraction = format!("{millis:03}");
                    format!("{minutes}{secs}.{}s", fraction.trim_end_matches('0'))
                }
            };
            proptest::prop_assert_eq!(format_reset(ms), want);
        }
    }
}
