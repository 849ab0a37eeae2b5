//! JSON helpers that work on the raw request bytes: find top-level fields without building a
//! tree, and splice a new value into the original text. The proxy forwards what the client sent
//! byte for byte except for the fields it owns, so these helpers never re-serialize a body.

mod field_value;
mod top_level;

pub(crate) use field_value::string_end;
pub use field_value::TopLevelField;
pub use top_level::{Field, ObjectScanError, TopLevelObject};
