//! Guardrails: find personal data and secrets in what goes to a provider and what comes back,
//! and redact, block or report them as the rules say. Pure functions over bytes and text; the
//! shell merges the rule lists (global, per model, per key), keeps one `Placeholders` table
//! per request, and calls:
//!
//! - `Policy::compile(&rules)` once per rule list (config load); errors name the rule.
//! - `policy.applies(direction)`: false means nothing to do (the scan functions also return
//!   `Outcome::Unchanged` at once then).
//! - `redact_json(&policy, Direction::Request, body, &mut table)` on every request body, and
//!   with `Direction::Response` on whole response bodies: every string value of every message
//!   part in every dialect (OpenAI chat, Anthropic messages, OpenAI Responses, Gemini) is
//!   scanned, structural values (ids, roles, base64 data, signatures; `structural.rs`) are not.
//! - `StreamRedactor::new(policy, Direction::Response)` per stream channel (content block,
//!   tool-call argument stream), `push` each text delta and send what it returns, `finish`
//!   at the channel's end.
//! - `redact_text` for any other single text.
//!
//! Detectors: `email`, `phone`, `credit_card` (Luhn), `ssn`, `iban` (mod-97), `ip_address`
//! (v4, v6), `private_key` (PEM), `api_key` (OpenAI, Anthropic, AWS, GitHub, JWT, Slack), and
//! custom `{name, regex}` detectors with bounded matches. Redacted values become typed,
//! numbered placeholders (`[EMAIL_1]`, `[CREDIT_CARD_1]`, `[TICKET_1]`), the same value the
//! same number within a request, request and response alike. A refusal names the rule, and
//! findings (rule, detector, count) never carry the matched text.
//!
//! Cost: one `RegexSet` pass per text decides which patterns occur; only those are searched,
//! and checksums run on candidates only. See `scan.rs`.

mod chain;
mod checksum;
mod class;
mod detector;
mod json_body;
mod json_string;
mod json_walk;
mod outcome;
mod placeholder;
mod policy;
mod replace;
mod rule;
mod scan;
mod stream;
mod structural;
mod tail;
mod text;
mod validate;

#[cfg(test)]
mod tests;

pub use chain::{Channel, GuardChain, StreamGuard};
pub use detector::{Builtin, MAX_PATTERN_LEN};
pub use json_body::redact_json;
pub use outcome::{Blocked, Finding, Findings, Outcome, Report};
pub use placeholder::Placeholders;
pub use policy::Policy;
pub use rule::{Action, CustomDetector, DetectorSpec, Direction, RuleError, RuleSpec};
pub use stream::StreamRedactor;
pub use structural::{DATA_KEY, FREE_FORM_KEYS, SKIPPED_KEYS};
pub use tail::MAX_TAIL_LEN;
pub use text::redact_text;
