//! The semantic cache's pure half: which part of a request is compared by meaning and which
//! must match exactly (`split_request`), and the in-memory nearest-neighbour index of
//! embeddings and answers (`SemanticIndex`). Embedding calls, timeouts, configuration and the
//! lock around the index are the shell's: nothing here does I/O or reads a clock.

mod index;
mod split;
#[cfg(test)]
mod tests;

pub use index::{InsertError, SemanticHit, SemanticIndex};
pub use split::{split_request, ContextKey, SemanticQuery, Skip, Split};
