//! The compiled guardrail policies of a config: the global rules merged with each model's
//! (one policy per model), and each key's own. A request meets at most two: its model's and
//! its key's.

use crate::config::{compile_guardrails as compile, Config, ConfigError};
use sluice_filters::guard::Policy;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct Guards {
    global: Arc<Policy>,
    /// Models with rules of their own: the global rules, then theirs.
    by_model: HashMap<String, Arc<Policy>>,
}

impl Guards {
    pub fn build(config: &Config) -> Result<Guards, ConfigError> {
        let global = compile("guardrails", &config.guardrails, &[])?;
        let mut by_model = HashMap::new();
        for (i, model) in config.models.iter().enumerate() {
            if !model.guardrails.is_empty() {
                let path = format!("models[{i}].guardrails");
                by_model.insert(
                    model.name.clone(),
                    compile(&path, &config.guardrails, &model.guardrails)?,
                );
            }
        }
        Ok(Guards { global, by_model })
    }

    /// The policy of a model's traffic.
    pub fn for_model(&self, model: &str) -> &Arc<Policy> {
        self.by_model.get(model).unwrap_or(&self.global)
    }
}
