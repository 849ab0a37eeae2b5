//! Guardrail rules as written in `sluice.yaml` (`guardrails:` globally, and under a model or a
//! key), turned into the filter crate's rule specs, which compile them.

use super::{Config, ConfigError};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_filters::guard::{Action, CustomDetector, DetectorSpec, Direction, Policy, RuleSpec};
use std::sync::Arc;

/// One rule: what to look for, what to do with a match, on which side.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardrailConfig {
    /// Named in refusals, logs, metrics and audit records (never the matched text).
    pub name: String,
    /// Built-in detectors (`email`, `phone`, `credit_card`, `ssn`, `iban`, `ip_address`,
    /// `private_key`, `api_key`) or custom ones `{name, regex}` (a bounded Rust regex).
    pub detect: Vec<DetectConfig>,
    pub action: GuardAction,
    /// The sides scanned: what clients send (`request`), what providers answer (`response`).
    /// Both when omitted.
    #[serde(default = "both_sides")]
    pub on: Vec<GuardSide>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DetectConfig {
    Builtin(String),
    Custom {
        /// Letters, digits, `_` and `-`: the placeholder's type (`[NAME_1]`).
        name: String,
        regex: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GuardAction {
    /// Count and audit the finding; the text passes.
    Log,
    /// Replace each match with a numbered placeholder (`[EMAIL_1]`).
    Redact,
    /// Refuse with 400 `policy_blocked` naming the rule (a stream ends with an in-band error).
    Block,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GuardSide {
    Request,
    Response,
}

fn both_sides() -> Vec<GuardSide> {
    vec![GuardSide::Request, GuardSide::Response]
}

/// The filter crate's specs of `rules`.
pub fn rule_specs(rules: &[GuardrailConfig]) -> Vec<RuleSpec> {
    rules
        .iter()
        .map(|rule| RuleSpec {
            name: rule.name.clone(),
            detect: rule
                .detect
                .iter()
                .map(|d| match d {
                    DetectConfig::Builtin(name) => DetectorSpec::Builtin(name.clone()),
                    DetectConfig::Custom { name, regex } => DetectorSpec::Custom(CustomDetector {
                        name: name.clone(),
                        regex: regex.clone(),
                    }),
                })
                .collect(),
            action: match rule.action {
                GuardAction::Log => Action::Log,
                GuardAction::Redact => Action::Redact,
                GuardAction::Block => Action::Block,
            },
            on: rule
                .on
                .iter()
                .map(|side| match side {
                    GuardSide::Request => Direction::Request,
                    GuardSide::Response => Direction::Response,
                })
                .collect(),
        })
        .collect()
}

/// Compiles `base` and `own` as one rule list; an error names the rule, at `path`.
pub fn compile_guardrails(
    path: &str,
    base: &[GuardrailConfig],
    own: &[GuardrailConfig],
) -> Result<Arc<Policy>, ConfigError> {
    let mut rules = rule_specs(base);
    rules.extend(rule_specs(own));
    Policy::compile(&rules)
        .map(Arc::new)
        .map_err(|e| ConfigError::new(path, e.to_string()))
}

/// Every rule list of the config compiles (what `sluice check` and a reload verify).
pub fn check(config: &Config) -> Result<(), ConfigError> {
    compile_guardrails("guardrails", &config.guardrails, &[])?;
    for (i, model) in config.models.iter().enumerate() {
        if !model.guardrails.is_empty() {
            let path = format!("models[{i}].guardrails");
            compile_guardrails(&path, &config.guardrails, &model.guardrails)?;
        }
    }
    for (i, key) in config.keys.iter().enumerate() {
        if !key.guardrails.is_empty() {
            compile_guardrails(&format!("keys[{i}].guardrails"), &[], &key.guardrails)?;
        }
    }
    Ok(())
}
