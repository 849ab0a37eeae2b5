//! Virtual-key authentication and model authorization, as pure lookups.

mod glob;
mod key_table;

pub use glob::glob_match;
pub use key_table::{sha256_hex, KeyDigest, KeyTable};
