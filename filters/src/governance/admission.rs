//! The arithmetic every admission decision rests on, in one place so that no caller adds money
//! or tokens with a plain `+`. A client chooses `max_tokens`, so a request's demand can be any
//! `u64`: a sum that wraps would let the largest possible request through the smallest limit.
//! Sums here are checked (a sum that does not fit in a `u64` is over every limit) or saturating
//! (counters that only report), never wrapping.

/// Whether `demand` more fits under `limit` next to what is `used` and `reserved` already.
pub fn fits(used: u64, reserved: u64, demand: u64, limit: u64) -> bool {
    used.checked_add(reserved)
        .and_then(|sum| sum.checked_add(demand))
        .is_some_and(|total| total <= limit)
}

/// A request's token demand: its prompt estimate plus the most it may generate.
pub fn demand_tokens(input: u64, max_output: u64) -> u64 {
    input.saturating_add(max_output)
}

/// The largest number a limit or amount may have to pass exactly through Redis' Lua, whose
/// numbers are doubles: 2^53 - 1. Limits are validated against it; demands above a limit are
/// refused before the store is asked, so nothing larger ever reaches a script.
pub const MAX_EXACT: u64 = (1 << 53) - 1;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fits_at_the_edges() {
        let cases: &[(u64, u64, u64, u64, bool)] = &[
            (0, 0, 0, 0, true),
            (0, 0, 1, 0, false),
            (10, 5, 35, 50, true),
            (10, 5, 36, 50, false),
            (1, 0, u64::MAX, 50_000, false),
            (0, 0, u64::MAX, u64::MAX, true),
            (1, 0, u64::MAX, u64::MAX, false),
            (u64::MAX, u64::MAX, u64::MAX, u64::MAX, false),
            (u64::MAX / 2, u64::MAX / 2 + 1, 1, u64::MAX, false),
            (u64::MAX / 2, u64::MAX / 2, 1, u64::MAX, true),
        ];
        for &(used, reserved, demand, limit, want) in cases {
            assert_eq!(
                fits(used, reserved, demand, limit),
                want,
                "{used} + {reserved} + {demand} <= {limit}"
            );
        }
    }

    #[test]
    fn demand_saturates() {
        assert_eq!(demand_tokens(100, 200), 300);
        assert_eq!(demand_tokens(1, u64::MAX), u64::MAX);
    }

    proptest! {
        /// Exactly the arithmetic of unbounded integers, whatever the values.
        #[test]
        fn fits_agrees_with_wide_arithmetic(used: u64, reserved: u64, demand: u64, limit: u64) {
            let wide = used as u128 + reserved as u128 + demand as u128 <= limit as u128;
            prop_assert_eq!(fits(used, reserved, demand, limit), wide);
        }

        /// Near the top of the range, where wrapping would admit.
        #[test]
        fn huge_demands_never_fit_a_used_limit(
            used in 1u64..1000,
            demand in (u64::MAX - 1000)..=u64::MAX,
            limit in 0u64..u64::MAX,
        ) {
            prop_assert!(!fits(used, 0, demand, limit));
        }
    }
}
