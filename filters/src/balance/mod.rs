//! Choosing among a provider's endpoints or a model's targets without locks: a precomputed
//! weighted schedule indexed by an atomic counter, or adaptive picks by latency and load.

mod adaptive;
mod weighted;

pub use adaptive::{AdaptiveBalancer, AdaptiveConfig, InFlight, LoadTracker};
pub use weighted::{ScheduleError, WeightedSchedule};
