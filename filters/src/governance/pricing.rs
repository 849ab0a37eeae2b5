//! Prices per million tokens and the cost of a usage, in micro-dollars (integers: sums of
//! money must not drift). The built-in table covers common models as published at the time of
//! writing; a model's `price` in config overrides it, and an unknown model costs 0 (a local
//! model) with a warning at startup.

use crate::canonical::Usage;

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Cache reads; defaults to `input` when a provider gives no discount.
    pub cached_input: f64,
    /// Cache writes; defaults to `input`.
    pub cache_write: f64,
}

impl Price {
    pub const FREE: Price = Price {
        input: 0.0,
        output: 0.0,
        cached_input: 0.0,
        cache_write: 0.0,
    };

    /// The cost of `usage`, in micro-dollars, rounded up.
    pub fn cost_micros(&self, usage: &Usage) -> u64 {
        // tokens x USD-per-million = micro-dollars.
        let micros = usage.input as f64 * self.input
            + usage.cache_read as f64 * self.cached_input
            + usage.cache_write as f64 * self.cache_write
            + usage.output as f64 * self.output;
        micros.ceil().max(0.0) as u64
    }

    /// The most a request can cost: its input estimate uncached, and every token it may
    /// generate.
    pub fn worst_case_micros(&self, input_tokens: u64, max_output_tokens: u64) -> u64 {
        let cache = self.input.max(self.cache_write);
        (input_tokens as f64 * cache + max_output_tokens as f64 * self.output).ceil() as u64
    }
}

/// Published list prices (USD / 1M tokens: input, output, cached input, cache write), matched by
/// model-name prefix, longest first.
const TABLE: &[(&str, f64, f64, f64, f64)] = &[
    ("gpt-4o-mini", 0.15, 0.60, 0.075, 0.15),
    ("gpt-4o", 2.50, 10.00, 1.25, 2.50),
    ("gpt-4.1-nano", 0.10, 0.40, 0.025, 0.10),
    ("gpt-4.1-mini", 0.40, 1.60, 0.10, 0.40),
    ("gpt-4.1", 2.00, 8.00, 0.50, 2.00),
    ("gpt-5-nano", 0.05, 0.40, 0.005, 0.05),
    ("gpt-5-mini", 0.25, 2.00, 0.025, 0.25),
    ("gpt-5", 1.25, 10.00, 0.125, 1.25),
    ("o4-mini", 1.10, 4.40, 0.275, 1.10),
    ("o3", 2.00, 8.00, 0.50, 2.00),
    ("text-embedding-3-small", 0.02, 0.0, 0.02, 0.02),
    ("text-embedding-3-large", 0.13, 0.0, 0.13, 0.13),
    ("claude-opus-4", 15.00, 75.00, 1.50, 18.75),
    ("claude-sonnet-4", 3.00, 15.00, 0.30, 3.75),
    ("claude-3-7-sonnet", 3.00, 15.00, 0.30, 3.75),
    ("claude-3-5-haiku", 0.80, 4.00, 0.08, 1.00),
    ("claude-haiku-4", 1.00, 5.00, 0.10, 1.25),
    ("gemini-2.5-pro", 1.25, 10.00, 0.31, 1.25),
    ("gemini-2.5-flash-lite", 0.10, 0.40, 0.025, 0.10),
    ("gemini-2.5-flash", 0.30, 2.50, 0.075, 0.30),
    ("gemini-2.0-flash", 0.10, 0.40, 0.025, 0.10),
];

/// The list price of a provider model name, if the table knows it.
pub fn builtin_price(model: &str) -> Option<Price> {
    let model = model.rsplit('/').next().unwrap_or(model);
    TABLE
        .iter()
        .filter(|(prefix, ..)| model.starts_with(prefix))
        .max_by_key(|(prefix, ..)| prefix.len())
        .map(|&(_, input, output, cached_input, cache_write)| Price {
            input,
            output,
            cached_input,
            cache_write,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        assert_eq!(builtin_price("gpt-4o-mini-2024-07-18").unwrap().input, 0.15);
        assert_eq!(builtin_price("gpt-4o-2024-08-06").unwrap().input, 2.50);
        assert_eq!(
            builtin_price("models/gemini-2.5-flash").unwrap().output,
            2.50
        );
        assert!(builtin_price("llama-3.1-8b").is_none());
    }

    #[test]
    fn cost_counts_every_bucket_in_micro_dollars() {
        let price = builtin_price("claude-sonnet-4-5").unwrap();
        let usage = Usage {
            input: 1_000,
            cache_read: 10_000,
            cache_write: 0,
            output: 500,
            reasoning: 0,
        };
        // 1000 x 3 + 10000 x 0.3 + 500 x 15 = 3000 + 3000 + 7500
        assert_eq!(price.cost_micros(&usage), 13_500);
        assert_eq!(price.worst_case_micros(1_000, 500), 3_750 + 7_500);
    }
}
