//! The guardrails of one request: the compiled policies that apply to it (the global rules
//! merged with its model's, then its key's), applied in that order with one numbering table,
//! and everything they found, on both sides.
//!
//! A policy is compiled per rule list at config load, so a request meets at most two: two
//! passes over its text when both the model and the key add rules, one otherwise.

use super::json_body::redact_json;
use super::outcome::{Blocked, Finding, Outcome};
use super::placeholder::Placeholders;
use super::policy::Policy;
use super::rule::Direction;
use super::stream::StreamRedactor;
use std::sync::Arc;

/// One request's guardrails.
#[derive(Debug)]
pub struct GuardChain {
    policies: Vec<Arc<Policy>>,
    table: Placeholders,
    findings: Vec<(Direction, Finding)>,
}

impl GuardChain {
    /// The chain of `policies` (in order), or `None` when none of them applies to anything.
    pub fn new(policies: impl IntoIterator<Item = Arc<Policy>>) -> Option<GuardChain> {
        let policies: Vec<Arc<Policy>> = policies
            .into_iter()
            .filter(|p| p.applies(Direction::Request) || p.applies(Direction::Response))
            .collect();
        (!policies.is_empty()).then(|| GuardChain {
            policies,
            table: Placeholders::new(),
            findings: Vec::new(),
        })
    }

    pub fn applies(&self, direction: Direction) -> bool {
        self.policies.iter().any(|p| p.applies(direction))
    }

    /// Scans a whole body (JSON, or text) on `direction`: `Ok(None)` to send it as it is,
    /// `Ok(Some(bytes))` to send these instead, `Err` when a blocking rule matched.
    pub fn redact_body(
        &mut self,
        direction: Direction,
        body: &[u8],
    ) -> Result<Option<Vec<u8>>, Blocked> {
        let mut changed: Option<Vec<u8>> = None;
        for policy in &self.policies {
            let input = changed.as_deref().unwrap_or(body);
            let report = redact_json(policy, direction, input, &mut self.table);
            self.findings
                .extend(report.findings.iter().map(|f| (direction, f.clone())));
            match report.outcome {
                Outcome::Unchanged => {}
                Outcome::Redacted(bytes) => changed = Some(bytes),
                Outcome::Blocked(blocked) => return Err(blocked),
            }
        }
        Ok(changed)
    }

    /// What the rules found so far (a stream's findings once it was handed to `stream`).
    pub fn findings(&self) -> &[(Direction, Finding)] {
        &self.findings
    }

    /// The response stream's guard, with this request's numbering.
    pub fn into_stream(self) -> StreamGuard {
        StreamGuard {
            chain: self,
            channels: Vec::new(),
            current: None,
            blocked: None,
        }
    }
}

/// A stream channel: the text of the answer, its thinking, or one tool call's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Text,
    Thinking,
    Tool(u32),
}

/// The response guard of a stream: one chain of redactors per channel, each holding back only
/// what could still be part of a match. Text leaves in the order it came: when another
/// channel speaks, the one before is flushed first.
#[derive(Debug)]
pub struct StreamGuard {
    chain: GuardChain,
    channels: Vec<(Channel, Vec<StreamRedactor>)>,
    current: Option<Channel>,
    blocked: Option<Blocked>,
}

impl StreamGuard {
    /// Whether any rule scans responses (false: events can pass untouched).
    pub fn active(&self) -> bool {
        self.chain.applies(Direction::Response)
    }

    /// Feeds a piece of `channel`'s text; `emit` receives what may be sent now (the flushed
    /// rest of the previous channel first).
    pub fn push(
        &mut self,
        channel: Channel,
        piece: &str,
        emit: &mut dyn FnMut(Channel, String),
    ) -> Result<(), Blocked> {
        if let Some(blocked) = &self.blocked {
            return Err(blocked.clone());
        }
        if self.current.is_some_and(|c| c != channel) {
            self.flush(emit)?;
        }
        self.current = Some(channel);
        let result = self.run(channel, piece, false);
        self.settle(channel, result, emit)
    }

    /// Ends every open channel (before a tool call opens, the answer finishes or the stream
    /// ends), sending what they held.
    pub fn flush(&mut self, emit: &mut dyn FnMut(Channel, String)) -> Result<(), Blocked> {
        if let Some(blocked) = &self.blocked {
            return Err(blocked.clone());
        }
        if let Some(channel) = self.current.take() {
            let result = self.run(channel, "", true);
            self.settle(channel, result, emit)?;
        }
        Ok(())
    }

    /// The refusal, once a blocking rule matched.
    pub fn blocked(&self) -> Option<&Blocked> {
        self.blocked.as_ref()
    }

    /// Every finding: the request's, then the stream's.
    pub fn findings(&self) -> Vec<(Direction, Finding)> {
        let mut all = self.chain.findings.clone();
        for (_, redactors) in &self.channels {
            for r in redactors {
                all.extend(
                    r.findings()
                        .iter()
                        .map(|f| (Direction::Response, f.clone())),
                );
            }
        }
        all
    }

    /// Runs `piece` through the channel's redactors in order (each one's output is the next
    /// one's input); `end` finishes them.
    fn run(&mut self, channel: Channel, piece: &str, end: bool) -> Result<String, Blocked> {
        let at = match self.channels.iter().position(|(c, _)| *c == channel) {
            Some(at) => at,
            None => {
                let redactors = self
                    .chain
                    .policies
                    .iter()
                    .filter(|p| p.applies(Direction::Response))
                    .map(|p| StreamRedactor::new(p.clone(), Direction::Response))
                    .collect();
                self.channels.push((channel, redactors));
                self.channels.len() - 1
            }
        };
        let table = &mut self.chain.table;
        let mut text = piece.to_owned();
        for redactor in &mut self.channels[at].1 {
            let mut out = redactor.push(&text, table)?;
            if end {
                out.push_str(&redactor.finish(table)?);
            }
            text = out;
        }
        Ok(text)
    }

    fn settle(
        &mut self,
        channel: Channel,
        result: Result<String, Blocked>,
        emit: &mut dyn FnMut(Channel, String),
    ) -> Result<(), Blocked> {
        match result {
            Ok(text) => {
                if !text.is_empty() {
                    emit(channel, text);
                }
                Ok(())
            }
            Err(blocked) => {
                self.blocked = Some(blocked.clone());
                Err(blocked)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::{Action, DetectorSpec, RuleSpec};

    fn policy(name: &str, detect: &str, action: Action) -> Arc<Policy> {
        let rule = RuleSpec {
            name: name.into(),
            detect: vec![DetectorSpec::Builtin(detect.into())],
            action,
            on: vec![Direction::Request, Direction::Response],
        };
        Arc::new(Policy::compile(&[rule]).unwrap_or_default())
    }

    #[test]
    fn nothing_to_apply_is_no_chain() {
        assert!(GuardChain::new([Arc::new(Policy::empty())]).is_none());
        assert!(GuardChain::new(Vec::new()).is_none());
    }

    #[test]
    fn policies_apply_in_order_with_one_numbering() {
        let mut chain = GuardChain::new([
            policy("pii", "email", Action::Redact),
            policy("cards", "credit_card", Action::Redact),
        ])
        .unwrap_or_else(|| unreachable!());
        let body = br#"{"messages":[{"role":"user","content":"a@b.example pays 4111 1111 1111 1111, a@b.example"}]}"#;
        let out = chain.redact_body(Direction::Request, body);
        let out = String::from_utf8(out.ok().flatten().unwrap_or_default()).unwrap_or_default();
        assert!(
            out.contains("[EMAIL_1] pays [CREDIT_CARD_1], [EMAIL_1]"),
            "{out}"
        );
        assert_eq!(chain.findings().len(), 2);
        // The response numbers the same value the same way, split anywhere.
        let mut stream = chain.into_stream();
        let mut got = String::new();
        for piece in ["Write to a@", "b.exam", "ple or c@d.example."] {
            let pushed = stream.push(Channel::Text, piece, &mut |_, t| got.push_str(&t));
            assert!(pushed.is_ok());
        }
        assert!(stream.flush(&mut |_, t| got.push_str(&t)).is_ok());
        assert_eq!(got, "Write to [EMAIL_1] or [EMAIL_2].");
    }

    #[test]
    fn a_channel_change_flushes_the_one_before_in_order() {
        let chain = GuardChain::new([policy("pii", "email", Action::Redact)]);
        let mut stream = chain.unwrap_or_else(|| unreachable!()).into_stream();
        let mut got: Vec<(Channel, String)> = Vec::new();
        let mut emit = |c: Channel, t: String| got.push((c, t));
        assert!(stream
            .push(Channel::Text, "mail x@y.example", &mut emit)
            .is_ok());
        assert!(stream.push(Channel::Tool(0), "{\"to\":", &mut emit).is_ok());
        assert!(stream.flush(&mut emit).is_ok());
        let text: String = got
            .iter()
            .filter(|(c, _)| *c == Channel::Text)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(text, "mail [EMAIL_1]");
        assert_eq!(got.last(), Some(&(Channel::Tool(0), "{\"to\":".to_owned())));
    }

    #[test]
    fn a_block_stops_the_stream_for_good() {
        let chain = GuardChain::new([policy("keys", "private_key", Action::Block)]);
        let mut stream = chain.unwrap_or_else(|| unreachable!()).into_stream();
        let mut got = String::new();
        let pem = "here: -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA";
        let result = stream
            .push(Channel::Text, pem, &mut |_, t| got.push_str(&t))
            .and_then(|()| stream.flush(&mut |_, t| got.push_str(&t)));
        assert_eq!(
            result.err().map(|b| b.rule.to_string()),
            Some("keys".into())
        );
        assert!(!got.contains("BEGIN"), "{got}");
        assert!(stream.push(Channel::Text, "more", &mut |_, _| {}).is_err());
        assert!(stream.blocked().is_some());
    }
}
