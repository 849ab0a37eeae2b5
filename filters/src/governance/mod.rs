//! Limits and money as arithmetic: the sliding-window log behind RPM and TPM limits, budget
//! periods on the UTC calendar, the price table and cost. The shell keeps the state (in memory
//! or Redis) and the clock; this module only computes.

mod admission;
mod period;
mod pricing;
mod reported_cost;
mod reset;
mod window;

pub use admission::{demand_tokens, fits, MAX_EXACT};
pub use period::{rfc3339_millis, Period, Rfc3339Millis};
pub use pricing::{builtin_price, Price};
pub use reported_cost::{cost_usd, pass_with_cost, WithCost};
pub use reset::{format_reset, push_reset};
pub use window::{Admitted, Refused, SlidingWindow};
