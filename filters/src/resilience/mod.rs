//! Failure handling as pure decisions: which failures are worth another attempt and where,
//! how long to wait, when an endpoint or key is ejected and let back, and how many retries the
//! whole gateway may spend. The shell feeds in what happened and the time; nothing here sleeps.

mod backoff;
mod breaker;
mod budget;
mod plan;
mod policy;

pub use backoff::backoff_delay;
pub use breaker::{BreakerConfig, CircuitBreaker};
pub use budget::RetryBudget;
pub use plan::{Availability, Plan, PlanSettings, Skip, Step, Verdict};
pub use policy::{auth_failure_ejects_key, classify, AttemptFailure, Next, RetryDecision};
