//! Normalized token usage. Providers disagree on what "input" includes (OpenAI and Gemini count
//! cached tokens inside the prompt, Anthropic and Bedrock do not) and on whether reasoning is
//! inside output (OpenAI yes, Gemini no). Here every bucket is separate and the conversions to
//! each dialect's convention live in one place.

/// Token counts of one response. `output` includes `reasoning`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens that were neither read from nor written to a prompt cache.
    pub input: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    /// Generated tokens, reasoning included.
    pub output: u64,
    /// The part of `output` spent on reasoning.
    pub reasoning: u64,
}

impl Usage {
    /// OpenAI's `prompt_tokens`: every input token, cached or not.
    pub fn prompt_total(&self) -> u64 {
        self.input + self.cache_read + self.cache_write
    }

    pub fn total(&self) -> u64 {
        self.prompt_total() + self.output
    }

    /// Combines a later report with this one. Streams report usage in pieces (Anthropic: input
    /// at the start, output at the end) and cumulatively, so each bucket keeps the larger value.
    pub fn merge(&mut self, later: &Usage) {
        self.input = self.input.max(later.input);
        self.cache_read = self.cache_read.max(later.cache_read);
        self.cache_write = self.cache_write.max(later.cache_write);
        self.output = self.output.max(later.output);
        self.reasoning = self.reasoning.max(later.reasoning);
    }

    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_the_latest_cumulative_counts() {
        let mut u = Usage {
            input: 12,
            cache_read: 2048,
            output: 1,
            ..Usage::default()
        };
        u.merge(&Usage {
            output: 41,
            ..Usage::default()
        });
        assert_eq!(u.prompt_total(), 2060);
        assert_eq!(u.output, 41);
        assert_eq!(u.total(), 2101);
    }
}
