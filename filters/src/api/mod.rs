//! Wire types and views of the APIs sluice speaks to clients.

pub mod openai;
pub mod route;
