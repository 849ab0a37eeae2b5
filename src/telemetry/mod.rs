//! Metrics and the access log.

pub mod metrics;
