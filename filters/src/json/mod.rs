//! JSON helpers that work on the raw request bytes: find top-level fields without building a
//! tree, and splice a new value into the original text. The proxy forwards what the client sent
//! byte for byte except for the fields it owns, so these helpers never re-serialize a body.

pub mod counts;
mod field_value;
mod top_level;
pub mod write;

pub(crate) use field_value::string_end;
pub use field_value::TopLevelField;
pub use top_level::{Field, ObjectScanError, TopLevelObject};

/// Arbitrary JSON for the property tests of this module's scanners.
#[cfg(test)]
pub(crate) mod arbitrary {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// Any JSON value nested up to four levels, its strings full of JSON's own punctuation
    /// (and a non-ASCII letter), its object keys drawn from the regex `keys`.
    pub fn json_value(keys: &'static str) -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z\"\\\\{}\\[\\],:ué ]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(keys, inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
