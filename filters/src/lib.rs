//! sluice-filters: everything sluice understands about LLM traffic, as plain synchronous Rust.
//!
//! No sockets, no Pingora, no clocks or randomness it was not handed: the shell (`src/`) does
//! I/O and calls into these functions, and each is tested with bytes in, bytes out.

pub mod api;
pub mod auth;
pub mod balance;
pub mod cache;
pub mod canonical;
pub mod conversation;
pub mod error_type;
pub mod governance;
pub mod guard;
pub mod json;
pub mod log_line;
pub mod providers;
pub mod resilience;
pub mod stream;
pub mod translate;

pub use error_type::ErrorType;
