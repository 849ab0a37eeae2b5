//! A request's way through its candidates, as a state machine the shell drives: `next` says
//! where the next attempt goes (or how long to wait first, or that the request is over), and
//! `on_failure` takes what happened to an attempt and says whether another one follows. No
//! Pingora, no I/O, no clock reads: the shell passes the elapsed time and a view of which
//! endpoints and keys are usable (`Availability`), and applies the verdicts to its breakers.
//!
//! The rules:
//! - The candidates are the model's targets (the weighted pick first), then each fallback
//!   model's targets, in order. A candidate the client's key may not use, or the request
//!   cannot be encoded for, is skipped (and the shell logs why).
//! - Every candidate gets at least one attempt, bounded only by the deadline and the retry
//!   budget: listing a fallback means it is tried. `retries.attempts` bounds the *repeats*:
//!   attempts on a candidate that already had one (another endpoint or key of it, another round
//!   of the plan). With `attempts: 2`, one repeat; with `attempts: 1`, none.
//! - A failed attempt is only abandoned for somewhere to go (another endpoint or key of the
//!   candidate, a later candidate, or another round after a wait within `retry_after_cap`);
//!   otherwise the client gets that provider's own answer.
//! - A round that could not make a single attempt is not repeated: the request fails fast.

use super::policy::{classify, AttemptFailure, Next};
use crate::ErrorType;
use std::time::Duration;

/// What the shell knows about candidate `c`'s endpoints and keys right now.
pub trait Availability<E> {
    /// An endpoint not in `tried_endpoints` and a key not in `tried_keys` are usable now.
    fn usable_now(&self, c: usize, tried_endpoints: &[E], tried_keys: &[usize]) -> bool;
    /// An endpoint and a key will be usable within `wait` (ejections ending).
    fn usable_within(&self, c: usize, wait: Duration) -> bool;
    /// Why nothing of candidate `c` is usable (every key throttled or refused, every endpoint
    /// ejected), as the status behind it and how long it lasts.
    fn unavailable(&self, c: usize) -> Option<(u16, Duration)>;
}

/// The retry settings a plan follows.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanSettings {
    /// Attempts on a candidate that already had one (`retries.attempts` - 1).
    pub repeats: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// A provider's `retry-after` up to this is waited out before another round.
    pub retry_after_cap: Duration,
    /// No attempt starts after this much time.
    pub deadline: Duration,
}

/// Why a candidate is never attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The client's key may not use the candidate's model.
    NotAllowed,
    /// The request cannot be encoded for the candidate's provider.
    Unsupported,
}

impl Skip {
    /// The bounded label of the access log.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::NotAllowed => "not_allowed",
            Skip::Unsupported => "unsupported",
        }
    }
}

/// Where the request goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// An attempt on this candidate (the shell picks an endpoint and key not yet tried).
    Attempt(usize),
    /// Wait this long, then ask again (a backoff, or the provider's `retry-after`).
    Wait(Duration),
    /// No attempt is left: the request ends with this error and `retry-after`.
    GiveUp(ErrorType, Option<Duration>),
}

/// What a failed attempt means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Another attempt follows (if the retry budget has room: the shell's call).
    pub retry: bool,
    /// Counts against the endpoint's circuit breaker.
    pub endpoint_failure: bool,
    /// Eject the key (for at least `retry_after`).
    pub key_failure: bool,
    pub retry_after: Option<Duration>,
    /// What the failure is, for the client's error when nothing follows.
    pub error_type: ErrorType,
    /// The attempt's outcome, a bounded label (`http_5xx`, `timeout`, ...).
    pub outcome: &'static str,
    /// The provider answered with a final status the client should see (a 400).
    pub provider_answered: bool,
}

#[derive(Debug, Clone)]
pub struct Plan<E> {
    settings: PlanSettings,
    skipped: Vec<Option<Skip>>,
    attempted: Vec<bool>,
    cursor: usize,
    tried_endpoints: Vec<E>,
    tried_keys: Vec<usize>,
    attempts: u32,
    repeats: u32,
    rounds: u32,
    round_start_attempts: u32,
    stale_retried: bool,
    last_failure: Option<(ErrorType, Option<Duration>)>,
}

impl<E: PartialEq + Copy> Default for Plan<E> {
    /// A plan over no candidates (a request that is answered without one).
    fn default() -> Self {
        Plan::new(PlanSettings::default(), Vec::new())
    }
}

impl<E: PartialEq + Copy> Plan<E> {
    /// A plan over candidates `0..skipped.len()`; `skipped[c]` says why `c` is never tried.
    pub fn new(settings: PlanSettings, skipped: Vec<Option<Skip>>) -> Self {
        let n = skipped.len();
        let cursor = skipped.iter().position(Option::is_none).unwrap_or(n);
        Plan {
            settings,
            skipped,
            attempted: vec![false; n],
            cursor,
            tried_endpoints: Vec::new(),
            tried_keys: Vec::new(),
            attempts: 0,
            repeats: 0,
            rounds: 0,
            round_start_attempts: 0,
            stale_retried: false,
            last_failure: None,
        }
    }

    /// The candidate of the current (or last) attempt.
    pub fn current(&self) -> usize {
        self.cursor
    }

    /// Endpoints and keys of the current candidate that failed this request.
    pub fn tried(&self) -> (&[E], &[usize]) {
        (&self.tried_endpoints, &self.tried_keys)
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn skipped(&self) -> &[Option<Skip>] {
        &self.skipped
    }

    /// Where the next attempt goes. `elapsed`: time since the request started; `jitter`: a
    /// random number in [0, 1) for the backoff.
    pub fn next(&mut self, elapsed: Duration, jitter: f64, avail: &impl Availability<E>) -> Step {
        let started = self.attempts > 0;
        if started && elapsed >= self.settings.deadline {
            return self.give_up(avail);
        }
        while self.cursor < self.skipped.len() {
            let c = self.cursor;
            let open = self.skipped[c].is_none()
                && (!self.attempted[c] || self.repeats < self.settings.repeats);
            if open && avail.usable_now(c, &self.tried_endpoints, &self.tried_keys) {
                return Step::Attempt(c);
            }
            self.move_to(c + 1);
        }
        match self.next_round(elapsed, jitter) {
            Some(wait) => Step::Wait(wait),
            None => self.give_up(avail),
        }
    }

    /// Candidate `c` turned out unusable for this request (its body cannot be encoded for it):
    /// it is passed over from now on.
    pub fn skip(&mut self, c: usize, why: Skip) {
        if let Some(slot) = self.skipped.get_mut(c) {
            *slot = Some(why);
        }
    }

    /// The current candidate had nothing to offer after all (what `usable_now` promised was
    /// taken meanwhile, e.g. a breaker's single probe): the next `next` moves on.
    pub fn pass_over(&mut self) {
        self.move_to(self.cursor + 1);
    }

    /// The last failure's error and `retry-after`, if an attempt failed.
    pub fn last_failure(&self) -> Option<(ErrorType, Option<Duration>)> {
        self.last_failure
    }

    /// The shell started an attempt on the current candidate.
    pub fn attempt_started(&mut self) {
        let c = self.cursor;
        if self.attempted[c] {
            self.repeats += 1;
        }
        self.attempted[c] = true;
        self.attempts += 1;
    }

    /// What a failed attempt (on `endpoint` with `key`) means, and whether another follows.
    pub fn on_failure(
        &mut self,
        failure: AttemptFailure,
        endpoint: E,
        key: Option<usize>,
        elapsed: Duration,
        avail: &impl Availability<E>,
    ) -> Verdict {
        let decision = classify(failure);
        let mut verdict = Verdict {
            retry: false,
            endpoint_failure: decision.endpoint_failure,
            key_failure: decision.key_failure,
            retry_after: decision.retry_after,
            error_type: failure.error_type(),
            outcome: failure.outcome(),
            provider_answered: !decision.retryable
                && matches!(failure, AttemptFailure::Status { .. }),
        };
        self.last_failure = Some((verdict.error_type, decision.retry_after));
        if !decision.retryable || elapsed >= self.settings.deadline {
            return verdict;
        }
        match decision.next {
            // A stale pooled connection: not the provider's fault; once, on a fresh one.
            Next::SameEndpoint if !self.stale_retried => {
                self.stale_retried = true;
                verdict.retry = true;
                // It is the same attempt again: not a repeat.
                self.attempted[self.cursor] = false;
                self.attempts = self.attempts.saturating_sub(1);
                return verdict;
            }
            // Throttled or refused: another key of the provider, else (no key left, or a
            // provider without keys) another endpoint.
            Next::OtherKey => match key {
                Some(k) => {
                    self.tried_keys.push(k);
                    if !avail.usable_now(self.cursor, &[], &self.tried_keys) {
                        self.tried_endpoints.push(endpoint);
                    }
                }
                None => self.tried_endpoints.push(endpoint),
            },
            Next::SameEndpoint | Next::Elsewhere => self.tried_endpoints.push(endpoint),
        }
        let wait = round_wait(
            decision.key_failure,
            decision.retry_after,
            self.settings.max_backoff,
        );
        verdict.retry = self.somewhere_now(avail) || self.round_possible(elapsed, wait, avail);
        verdict
    }

    /// Another attempt can start now: on the current candidate (a repeat) or a later one.
    fn somewhere_now(&self, avail: &impl Availability<E>) -> bool {
        let repeat_left = self.repeats < self.settings.repeats;
        let here =
            repeat_left && avail.usable_now(self.cursor, &self.tried_endpoints, &self.tried_keys);
        here || (self.cursor + 1..self.skipped.len()).any(|c| {
            self.skipped[c].is_none()
                && (!self.attempted[c] || repeat_left)
                && avail.usable_now(c, &[], &[])
        })
    }

    /// Another round is worth starting after `wait`: repeats and time left, the wait within
    /// the cap, and some candidate usable by then.
    fn round_possible(
        &self,
        elapsed: Duration,
        wait: Option<Duration>,
        avail: &impl Availability<E>,
    ) -> bool {
        let Some(wait) = wait else { return false };
        self.repeats < self.settings.repeats
            && wait <= self.settings.retry_after_cap
            && elapsed + wait < self.settings.deadline
            && (0..self.skipped.len()).any(|c| {
                self.skipped[c].is_none()
                    && avail.usable_within(c, wait.max(self.settings.max_backoff))
            })
    }

    fn move_to(&mut self, c: usize) {
        self.cursor = c;
        self.tried_endpoints.clear();
        self.tried_keys.clear();
    }

    /// Starts another round from the first candidate, returning the wait before it; `None`
    /// when the request should end.
    fn next_round(&mut self, elapsed: Duration, jitter: f64) -> Option<Duration> {
        let (_, retry_after) = self.last_failure?;
        if self.repeats >= self.settings.repeats {
            return None;
        }
        if self.rounds > 0 && self.attempts == self.round_start_attempts {
            return None;
        }
        if retry_after.is_some_and(|r| r > self.settings.retry_after_cap) {
            return None;
        }
        let backoff = super::backoff_delay(
            self.settings.backoff,
            self.settings.max_backoff,
            self.rounds,
            jitter,
        );
        let wait = backoff.max(retry_after.unwrap_or_default());
        if elapsed + wait >= self.settings.deadline {
            return None;
        }
        let first = self.skipped.iter().position(Option::is_none)?;
        self.rounds += 1;
        self.round_start_attempts = self.attempts;
        self.move_to(first);
        // A zero wait would spin: always at least a millisecond between rounds.
        Some(wait.max(Duration::from_millis(1)))
    }

    fn give_up(&self, avail: &impl Availability<E>) -> Step {
        if let Some((error_type, retry_after)) = self.last_failure {
            return Step::GiveUp(error_type, retry_after);
        }
        // No attempt was possible: say why, from the first candidate that could have served.
        let first = self.skipped.iter().position(Option::is_none);
        let Some((status, remaining)) = first.and_then(|c| avail.unavailable(c)) else {
            let error = if first.is_none() {
                ErrorType::ModelNotAllowed
            } else {
                ErrorType::UpstreamUnreachable
            };
            return Step::GiveUp(error, None);
        };
        let error_type = AttemptFailure::Status {
            status,
            retry_after: None,
        }
        .error_type();
        Step::GiveUp(error_type, (!remaining.is_zero()).then_some(remaining))
    }
}

/// The wait before another round could help: the provider's `retry-after`, else the longest
/// backoff; none for a key refused without a hint (it stays ejected for its cooldown).
fn round_wait(
    key_failure: bool,
    retry_after: Option<Duration>,
    max_backoff: Duration,
) -> Option<Duration> {
    if key_failure && retry_after.is_none() {
        return None;
    }
    Some(retry_after.unwrap_or(max_backoff))
}

#[cfg(test)]
mod tests;
