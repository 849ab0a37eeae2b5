//! Metrics and the access log.

pub mod audit;
pub mod metrics;
