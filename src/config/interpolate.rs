//! `${VAR}` substitution in every string of the parsed YAML, before typed decoding, so a missing
//! variable is reported with the field that needed it. `${VAR:-default}` gives a fallback and
//! `$${` writes a literal `${`. Substituted values are strings.

use super::error::ConfigError;
use serde_yaml_ng::Value;

pub fn interpolate(
    value: &mut Value,
    path: &mut String,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    match value {
        Value::String(s) if s.contains('$') => {
            *s = substitute(s, lookup).map_err(|m| ConfigError::new(path.clone(), m))?;
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                interpolate(item, path, lookup)?;
                path.truncate(len);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let len = path.len();
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml_ng::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key);
                interpolate(v, path, lookup)?;
                path.truncate(len);
            }
        }
        Value::Tagged(tagged) => interpolate(&mut tagged.value, path, lookup)?,
        _ => {}
    }
    Ok(())
}

fn substitute(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or_else(|| "unterminated '${' (write '$${' for a literal)".to_owned())?;
            let expr = &after[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid environment variable name '{name}'"));
            }
            match (lookup(name), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(format!("environment variable {name} is not set")),
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "KEY").then(|| "secret".to_owned())
    }

    #[test]
    fn substitutes_defaults_and_literals() {
        assert_eq!(substitute("a ${KEY} b", &env).unwrap(), "a secret b");
        assert_eq!(substitute("${NOPE:-x}", &env).unwrap(), "x");
        assert_eq!(substitute("$${KEY} $5", &env).unwrap(), "${KEY} $5");
        assert!(substitute("${NOPE}", &env)
            .unwrap_err()
            .contains("NOPE is not set"));
        assert!(substitute("${KEY", &env).is_err());
    }

    #[test]
    fn error_names_the_field() {
        let mut v: Value =
            serde_yaml_ng::from_str("providers:\n  openai:\n    api_keys: [\"${MISSING}\"]\n")
                .unwrap();
        let err = interpolate(&mut v, &mut String::new(), &env).unwrap_err();
        assert_eq!(err.path, "providers.openai.api_keys[0]");
        assert!(err.message.contains("MISSING"));
    }
}
