//! Budget periods on the UTC calendar: a daily budget resets at 00:00 UTC, a weekly one on
//! Monday 00:00 UTC, a monthly one on the 1st. The period id names the bucket spend is kept in.

/// How often a budget resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
    Total,
}

impl Period {
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "daily" => Some(Period::Daily),
            "weekly" => Some(Period::Weekly),
            "monthly" => Some(Period::Monthly),
            "total" => Some(Period::Total),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Total => "total",
        }
    }

    /// The id of the period containing `unix_secs` (`2026-11-24`, `2026-W48`, `2026-11`, `total`).
    pub fn id(self, unix_secs: u64) -> String {
        let days = (unix_secs / 86_400) as i64;
        let (y, m, d) = civil_from_days(days);
        match self {
            Period::Daily => format!("{y:04}-{m:02}-{d:02}"),
            Period::Weekly => {
                // ISO week: the week belongs to the year of its Thursday.
                let weekday = (days + 3).rem_euclid(7); // 0 = Monday
                let thursday = days - weekday + 3;
                let (ty, _, _) = civil_from_days(thursday);
                let jan1 = days_from_civil(ty, 1, 1);
                let week = (thursday - jan1) / 7 + 1;
                format!("{ty:04}-W{week:02}")
            }
            Period::Monthly => format!("{y:04}-{m:02}"),
            Period::Total => "total".to_owned(),
        }
    }

    /// Seconds from `unix_secs` until the period ends (`None` for `total`).
    pub fn seconds_left(self, unix_secs: u64) -> Option<u64> {
        let days = (unix_secs / 86_400) as i64;
        let next_start_day = match self {
            Period::Daily => days + 1,
            Period::Weekly => days - (days + 3).rem_euclid(7) + 7,
            Period::Monthly => {
                let (y, m, _) = civil_from_days(days);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(ny, nm, 1)
            }
            Period::Total => return None,
        };
        Some((next_start_day as u64) * 86_400 - unix_secs)
    }
}

/// An RFC 3339 UTC time with milliseconds, `2026-11-24T09:30:05.123Z`, on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339Millis([u8; 24]);

impl Rfc3339Millis {
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever placed.
        std::str::from_utf8(&self.0).unwrap_or("1970-01-01T00:00:00.000Z")
    }
}

impl std::fmt::Debug for Rfc3339Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The time of a Unix time in milliseconds (audit records and access log lines: written once
/// per request each, so digits are placed by hand, not through `format!`, and nothing is
/// allocated).
pub fn rfc3339_millis(unix_ms: u64) -> Rfc3339Millis {
    let secs = unix_ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut n: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, y.clamp(0, 9999) as u64);
    put(5, 2, u64::from(m));
    put(8, 2, u64::from(d));
    put(11, 2, rem / 3600);
    put(14, 2, rem / 60 % 60);
    put(17, 2, rem % 60);
    put(20, 3, unix_ms % 1000);
    Rfc3339Millis(out)
}

/// Howard Hinnant's days-from-civil algorithm (proleptic Gregorian, days since 1970-01-01).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_rfc3339() {
        assert_eq!(
            super::rfc3339_millis(0).as_str(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            super::rfc3339_millis(1_795_512_605_123).as_str(),
            "2026-11-24T09:30:05.123Z"
        );
    }

    proptest::proptest! {
        /// The hand-placed digits read as `format!` would write them, to the year 9999.
        #[test]
        fn formats_as_format_would(ms in 0u64..253_402_300_800_000) {
            let secs = ms / 1000;
            let (y, m, d) = super::civil_from_days((secs / 86_400) as i64);
            let rem = secs % 86_400;
            let want = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
                rem / 3600,
                rem / 60 % 60,
                rem % 60,
                ms % 1000
            );
            let ours = super::rfc3339_millis(ms);
            proptest::prop_assert_eq!(ours.as_str(), want);
        }
    }

    use super::*;

    // 2026-11-24T13:00:00Z, a Tuesday.
    const NOW: u64 = 1_795_525_200;

    #[test]
    fn ids_follow_the_utc_calendar() {
        assert_eq!(Period::Daily.id(NOW), "2026-11-24");
        assert_eq!(Period::Monthly.id(NOW), "2026-11");
        assert_eq!(Period::Weekly.id(NOW), "2026-W48");
        assert_eq!(Period::Total.id(NOW), "total");
        // 2027-01-01 is a Friday: it belongs to ISO week 53 of 2026.
        assert_eq!(Period::Weekly.id(1_798_761_600), "2026-W53");
    }

    #[test]
    fn periods_end_at_midnight_utc() {
        assert_eq!(Period::Daily.seconds_left(NOW), Some(11 * 3600));
        // Next Monday is 2026-11-30: 5 days and 11 hours away.
        assert_eq!(
            Period::Weekly.seconds_left(NOW),
            Some(5 * 86_400 + 11 * 3600)
        );
        assert_eq!(
            Period::Monthly.seconds_left(NOW),
            Some(6 * 86_400 + 11 * 3600)
        );
        assert_eq!(Period::Total.seconds_left(NOW), None);
    }

    #[test]
    fn civil_round_trip() {
        for days in [-1000, 0, 59, 60, 365, 11_000, 20_781, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
