//! The exact response cache's pure half: which requests are the same question (`cache_key`,
//! `temperature_allows_caching`), what of an answer is kept (`CachedAnswer`, captured from
//! what the client received), and how a hit is served again (`replay_whole`,
//! `replay_stream`). Storage, time to live and billing are the shell's: nothing here reads a
//! clock or touches a store. `semantic` is the semantic cache's pure half (prompt and context
//! split, nearest-neighbour index).

mod accumulate;
mod answer;
mod canonical_json;
mod capture;
mod key;
#[cfg(test)]
mod key_tests;
mod replay;
pub mod semantic;

pub use answer::{CachedAnswer, CachedBlock, CachedStop, CachedUsage};
pub use key::{cache_key, temperature_allows_caching, CacheKey, IGNORED_FIELDS};
pub use replay::ReplaySpec;
