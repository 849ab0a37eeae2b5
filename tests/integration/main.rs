//! End-to-end tests: real gateway and mock-provider processes on loopback, spoken to over HTTP.

mod common;

mod admin;
mod balance;
mod cache;
mod check;
mod claude_code;
mod client_conduct;
mod demo;
mod dialect_errors;
mod drain;
mod errors;
mod failover;
mod failover_plan;
mod governance;
mod guardrails;
mod headers;
mod matrix;
mod metrics;
mod reload;
mod request_body;
mod responses;
mod responses_native;
mod routing;
mod streaming;
mod threads;
mod validation;
