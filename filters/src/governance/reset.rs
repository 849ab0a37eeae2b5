//! The `x-ratelimit-reset-*` value in OpenAI's format (a Go duration: `850ms`, `12s`, `1.5s`,
//! `6m0s`), which the official SDKs and tools such as `openai-ratelimit` parsers already read.

use std::fmt::Write;

pub fn format_reset(ms: u64) -> String {
    let mut out = String::with_capacity(8);
    if ms < 1000 {
        let _ = write!(out, "{ms}ms");
        return out;
    }
    let minutes = ms / 60_000;
    let rest = ms % 60_000;
    if minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    let (secs, millis) = (rest / 1000, rest % 1000);
    if millis == 0 {
        let _ = write!(out, "{secs}s");
    } else {
        let fraction = format!("{millis:03}");
        let _ = write!(out, "{secs}.{}s", fraction.trim_end_matches('0'));
    }
    out
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
    }
}
