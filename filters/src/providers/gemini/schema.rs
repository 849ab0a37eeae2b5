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

pub fn clean_schema(schema: &Value) -> Value {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .cloned()
        .unwrap_or(Value::Null);
    clean(schema, &defs, 0)
}

fn clean(node: &Value, defs: &Value, depth: usize) -> Value {
    let Value::Object(map) = node else {
        return node.clone();
    };
    if depth > MAX_DEPTH {
        return serde_json::json!({"type": "object"});
    }
    if let Some(Value::String(reference)) = map.get("$ref") {
        let name = reference.rsplit('/').next().unwrap_or_default();
        if let Some(target) = defs.get(name) {
            return clean(target, defs, depth + 1);
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
                        out.insert("type".into(), (*first).clone());
                    }
                }
                other => {
                    out.insert("type".into(), other.clone());
                }
            },
            "const" => {
                out.insert("enum".into(), Value::Array(vec![value.clone()]));
            }
            "properties" => {
                // Gemini refuses an empty `properties` ("should be non-empty for OBJECT type").
                if let Some(props) = value.as_object().filter(|p| !p.is_empty()) {
                    let cleaned: Map<String, Value> = props
                        .iter()
                        .map(|(k, v)| (k.clone(), clean(v, defs, depth + 1)))
                        .collect();
                    out.insert("properties".into(), Value::Object(cleaned));
                }
            }
            "items" => {
                out.insert("items".into(), clean(value, defs, depth + 1));
            }
            "anyOf" | "oneOf" => {
                if let Value::Array(options) = value {
                    let cleaned = options.iter().map(|o| clean(o, defs, depth + 1)).collect();
                    out.insert("anyOf".into(), Value::Array(cleaned));
                }
            }
            "allOf" => {
                // Merge the parts: the subset has no intersection.
                if let Value::Array(parts) = value {
                    for part in parts {
                        if let Value::Object(m) = clean(part, defs, depth + 1) {
                            for (k, v) in m {
                                out.entry(k).or_insert(v);
                            }
                        }
                    }
                }
            }
            k if KEPT.contains(&k) => {
                out.insert(key.clone(), value.clone());
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
        let cleaned = clean_schema(&schema);
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
        let cleaned = clean_schema(&schema);
        assert_eq!(cleaned["type"], "object");
    }
}
