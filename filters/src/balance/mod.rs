//! Weighted choice without locks: a precomputed schedule indexed by an atomic counter.

mod weighted;

pub use weighted::{ScheduleError, WeightedSchedule};
