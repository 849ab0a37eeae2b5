//! Gemini's `parameters` take an OpenAPI 3.0 subset, and one unknown key (`additionalProperties`,
//! `$schema`, `$ref`...) fails the whole request (edge case 7). This rewrites a JSON Schema into
//! that subset: an allowlist of keys, `$ref`s resolved from `$defs`/`definitions`, `const` as a
//! one-value `enum`, and `type: [T, "null"]` as `nullable`.

use serde_json::{Map, Value};

const KEPT: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// How deep `$ref`s are followed (recursive schemas cannot be expressed).
const MAX_DEPTH: usize = 16;

/// How many times its own size a schema may grow by resolving `$ref`s, on top of what one
/// request may add in all (`SHARED_ALLOWANCE`). Without a bound, a kilobyte of definitions
/// that each refer to the next several times expands exponentially (each level multiplies),
/// and a client could make the gateway build gigabytes; a bound per schema alone still lets
/// many small tools each take it. Past the bound, further `$ref`s become a plain object, as
/// too deep ones do.
const MAX_GROWTH: usize = 2;

/// JSON values one request's schemas may add by resolving `$ref`s beyond `MAX_GROWTH` times
/// their size: far more than a real schema's shared definitions use, and built in about a
/// millisecond.
const SHARED_ALLOWANCE: usize = 10_000;

/// What resolving `$ref`s may still build for one request's schemas, counted in JSON values.
#[derive(Debug)]
pub struct RefBudget {
    left: usize,
}

impl Default for RefBudget {
    fn default() -> Self {
        RefBudget {
            left: SHARED_ALLOWANCE,
        }
    }
}

/// `schema` in Gemini's subset; what its `$ref`s build is paid from `budget`, shared by the
/// request's schemas.
pub fn clean_schema(schema: &Value, budget: &mut RefBudget) -> Value {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .unwrap_or(&Value::Null);
    budget.left = budget
        .left
        .saturating_add(MAX_GROWTH.saturating_mul(nodes(schema)));
    clean(schema, defs, 0, &mut budget.left)
}

/// The values in a JSON tree, the unit of the expansion budget.
fn nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(nodes).sum(),
        Value::Object(map) => map.values().map(nodes).sum(),
        _ => 0,
    }
}

/// A copy of `value`, paid for from the budget.
fn copy(value: &Value, budget: &mut usize) -> Value {
    *budget = budget.saturating_sub(nodes(value));
    value.clone()
}

fn clean(node: &Value, defs: &Value, depth: usize, budget: &mut usize) -> Value {
    let Value::Object(map) = node else {
        return copy(node, budget);
    };
    if depth > MAX_DEPTH || *budget == 0 {
        return serde_json::json!({"type": "object"});
    }
    *budget -= 1;
    if let Some(Value::String(reference)) = map.get("$ref") {
        let name = reference.rsplit('/').next().unwrap_or_default();
        if let Some(target) = defs.get(name) {
            return clean(target, defs, depth + 1, budget);
        }
        return serde_json::json!({"type": "object"});
    }
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "type" => match value {
                Value::Array(types) => {
                    let non_null: Vec<&Value> = types
                        .iter()
                        .filter(|t| t.as_str() != Some("null"))
                        .collect();
                    if non_null.len() < types.len() {
                        out.insert("nullable".into(), Value::Bool(true));
                    }
                    if let Some(first) = non_null.first() {
                        out.insert("type".into(), copy(first, budget));
                    }
                }
                other => {
                    out.insert("type".into(), copy(other, budget));
                }
            },
            "const" => {
                out.insert("enum".into(), Value::Array(vec![copy(value, budget)]));
            }
            "properties" => {
                // Gemini refuses an empty `properties` ("should be non-empty for OBJECT type").
                if let Some(props) = value.as_object().filter(|p| !p.is_empty()) {
                    let cleaned: Map<String, Value> = props
                        .iter()
                        .map(|(k, v)| (k.clone(), clean(v, defs, depth + 1, budget)))
                        .collect();
                    out.insert("properties".into(), Value::Object(cleaned));
                }
            }
            "items" => {
                out.insert("items".into(), clean(value, defs, depth + 1, budget));
            }
            "anyOf" | "oneOf" => {
                if let Value::Array(options) = value {
                    let cleaned = options
                        .iter()
                        .map(|o| clean(o, defs, depth + 1, budget))
                        .collect();
                    out.insert("anyOf".into(), Value::Array(cleaned));
                }
            }
            "allOf" => {
                // Merge the parts: the subset has no intersection.
                if let Value::Array(parts) = value {
                    for part in parts {
                        if let Value::Object(m) = clean(part, defs, depth + 1, budget) {
                            for (k, v) in m {
                                out.entry(k).or_insert(v);
                            }
                        }
                    }
                }
            }
            k if KEPT.contains(&k) => {
                out.insert(key.clone(), copy(value, budget));
            }
            _ => {}
        }
    }
    // Gemini's enum values must be strings.
    if let Some(Value::Array(values)) = out.get_mut("enum") {
        for v in values.iter_mut() {
            if !v.is_string() {
                *v = Value::String(v.to_string());
            }
        }
        out.entry("type").or_insert(Value::String("string".into()));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_unknown_keys_and_resolves_refs() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "city": {"type": "string", "examples": ["Oslo"], "title": "City"},
                "unit": {"$ref": "#/$defs/Unit"},
                "days": {"type": ["integer", "null"], "exclusiveMinimum": 0},
                "mode": {"const": "fast"}
            },
            "required": ["city"],
            "$defs": {"Unit": {"type": "string", "enum": ["c", "f"], "additionalProperties": false}}
        });
        let cleaned = clean_schema(&schema, &mut RefBudget::default());
        assert_eq!(
            cleaned,
            json!({
                "type": "object",
                "properties": {
                    "city": {"type": "string", "title": "City"},
                    "unit": {"type": "string", "enum": ["c", "f"]},
                    "days": {"type": "integer", "nullable": true},
                    "mode": {"enum": ["fast"], "type": "string"}
                },
                "required": ["city"]
            })
        );
    }

    #[test]
    fn recursive_refs_stop() {
        let schema = json!({"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"});
        let cleaned = clean_schema(&schema, &mut RefBudget::default());
        assert_eq!(cleaned["type"], "object");
    }

    #[test]
    fn refs_that_multiply_are_bounded_by_the_schema_size() {
        // Ten definitions, each referring to the next six times: 6^10 nodes if all expanded.
        let mut defs = serde_json::Map::new();
        for level in 0..10 {
            let next = json!({"$ref": format!("#/$defs/L{}", level + 1)});
            let props: serde_json::Map<String, Value> =
                (0..6).map(|k| (format!("p{k}"), next.clone())).collect();
            defs.insert(
                format!("L{level}"),
                json!({"type": "object", "properties": props}),
            );
        }
        defs.insert("L10".into(), json!({"type": "string"}));
        let schema = json!({"$defs": defs, "$ref": "#/$defs/L0"});
        let cleaned = clean_schema(&schema, &mut RefBudget::default());
        assert_eq!(cleaned["type"], "object");
        // The budget counts the objects built and the values copied; the maps holding them
        // and the plain objects that stand in for cut refs come on top, within a factor of two.
        // Expanded in full it would be millions.
        assert!(
            nodes(&cleaned) <= 2 * (MAX_GROWTH * nodes(&schema) + SHARED_ALLOWANCE),
            "{} nodes from {}",
            nodes(&cleaned),
            nodes(&schema)
        );
    }

    #[test]
    fn the_budget_is_shared_by_the_schemas_of_a_request() {
        let schema = json!({
            "$defs": {"A": {"type": "object", "properties": {
                "x": {"$ref": "#/$defs/A"}, "y": {"$ref": "#/$defs/A"}, "z": {"$ref": "#/$defs/A"}
            }}},
            "$ref": "#/$defs/A"
        });
        let mut budget = RefBudget::default();
        let built: usize = (0..100)
            .map(|_| nodes(&clean_schema(&schema, &mut budget)))
            .sum();
        assert!(
            built <= 2 * (100 * MAX_GROWTH * nodes(&schema) + SHARED_ALLOWANCE),
            "{built} nodes for 100 tools"
        );
    }

    #[test]
    fn schemas_without_refs_are_never_cut() {
        let props: serde_json::Map<String, Value> = (0..2000)
            .map(|k| {
                (
                    format!("p{k}"),
                    json!({"type": "string", "enum": ["a", "b"]}),
                )
            })
            .collect();
        let schema = json!({"type": "object", "properties": props});
        assert_eq!(clean_schema(&schema, &mut RefBudget::default()), schema);
    }
}
