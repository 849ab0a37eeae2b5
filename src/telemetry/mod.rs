//! Metrics and the access log.

pub mod access;
pub mod audit;
pub mod batch;
pub mod handles;
pub mod metrics;
