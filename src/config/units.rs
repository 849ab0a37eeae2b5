//! Human units in config: durations (`500ms`, `10s`, `2m`, `1h`) and sizes (`64KiB`, `32MiB`).
//! A bare number is seconds or bytes.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::time::Duration;

/// A duration written as `250ms`, `10s`, `5m`, `1h` or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

/// A byte size written as `512`, `64KiB`, `32MiB`, `1GiB` (or `KB`/`MB`/`GB`, powers of 1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

/// As written in a config: `250ms`, `10s`, `5m`, `1h`.
impl std::fmt::Display for Dur {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.as_millis();
        match ms {
            _ if ms % 1000 != 0 => write!(f, "{ms}ms"),
            _ if ms > 0 && ms % 3_600_000 == 0 => write!(f, "{}h", ms / 3_600_000),
            _ if ms > 0 && ms % 60_000 == 0 => write!(f, "{}m", ms / 60_000),
            _ => write!(f, "{}s", ms / 1000),
        }
    }
}

impl schemars::JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration: `250ms`, `10s`, `5m`, `1h`, or a number of seconds.",
            "anyOf": [
                {"type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*(ms|s|m|h)?\\s*$"},
                {"type": "number", "minimum": 0}
            ]
        })
    }
}

impl schemars::JsonSchema for ByteSize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ByteSize".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A size: `512`, `64KiB`, `32MiB`, `1GiB` (or `KB`, `MB`, `GB`: powers of 1000).",
            "anyOf": [
                {"type": "string", "pattern": "^\\s*[0-9]+\\s*(B|KiB|MiB|GiB|KB|kB|MB|GB)?\\s*$"},
                {"type": "integer", "minimum": 0}
            ]
        })
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(u64),
    Float(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::Number(n) => Ok(Dur(Duration::from_secs(n))),
            NumberOrText::Float(f) if f.is_finite() && f >= 0.0 => {
                Ok(Dur(Duration::from_secs_f64(f)))
            }
            NumberOrText::Float(f) => Err(de::Error::custom(format!("invalid duration {f}"))),
            NumberOrText::Text(s) => parse_duration(&s).map(Dur).map_err(de::Error::custom),
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::Number(n) => Ok(ByteSize(n)),
            NumberOrText::Float(f) => Err(de::Error::custom(format!(
                "invalid size {f}: use a whole number of bytes or a unit like 32MiB"
            ))),
            NumberOrText::Text(s) => parse_size(&s).map(ByteSize).map_err(de::Error::custom),
        }
    }
}

fn split_unit(s: &str) -> (&str, &str) {
    let s = s.trim();
    let at = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    (s[..at].trim(), s[at..].trim())
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = split_unit(s);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration '{s}': expected e.g. 500ms, 10s, 5m"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("invalid duration unit in '{s}': use ms, s, m or h")),
    };
    Ok(Duration::from_secs_f64(secs))
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    let (number, unit) = split_unit(s);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("invalid size '{s}': expected e.g. 64KiB or 32MiB"))?;
    let factor: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => {
            return Err(format!(
                "invalid size unit in '{s}': use B, KiB, MiB, GiB, KB, MB or GB"
            ))
        }
    };
    value
        .checked_mul(factor)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32MiB").unwrap(), 32 << 20);
        assert_eq!(parse_size("64 KiB").unwrap(), 64 << 10);
        assert_eq!(parse_size("1MB").unwrap(), 1_000_000);
        assert_eq!(parse_size("123").unwrap(), 123);
        assert!(parse_size("1.5MiB").is_err());
        assert!(parse_size("3 bananas").is_err());
    }
}
