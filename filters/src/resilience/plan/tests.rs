//! Plans walked through sequences of failures with a fake view of endpoints and keys.

use super::*;

const SEC: Duration = Duration::from_secs(1);

fn settings(repeats: u32) -> PlanSettings {
    PlanSettings {
        repeats,
        backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(2),
        retry_after_cap: Duration::from_secs(5),
        deadline: Duration::from_secs(120),
    }
}

/// Each candidate's usable endpoints and keys (`None`: the provider needs no key), and what
/// `unavailable` reports.
#[derive(Clone, Default)]
struct Fake {
    endpoints: Vec<Vec<u32>>,
    keys: Vec<Option<Vec<usize>>>,
    unavailable: Vec<Option<(u16, Duration)>>,
}

impl Fake {
    /// `n` candidates with one endpoint each (ids 10, 20, ...) and no keys.
    fn simple(n: usize) -> Fake {
        Fake {
            endpoints: (0..n).map(|c| vec![10 * (c as u32 + 1)]).collect(),
            keys: vec![None; n],
            unavailable: vec![None; n],
        }
    }
}

impl Availability<u32> for Fake {
    fn usable_now(&self, c: usize, tried_endpoints: &[u32], tried_keys: &[usize]) -> bool {
        let endpoint = self.endpoints[c]
            .iter()
            .any(|e| !tried_endpoints.contains(e));
        let key = match &self.keys[c] {
            None => true,
            Some(keys) => keys.iter().any(|k| !tried_keys.contains(k)),
        };
        endpoint && key
    }

    fn usable_within(&self, c: usize, _wait: Duration) -> bool {
        !self.endpoints[c].is_empty()
    }

    fn unavailable(&self, c: usize) -> Option<(u16, Duration)> {
        self.unavailable[c]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// An attempt on candidate, endpoint, key.
    Attempt(usize, u32, Option<usize>),
    Wait,
    Served(usize),
    /// The failed attempt's answer goes to the client.
    Final(ErrorType),
    GiveUp(ErrorType, Option<Duration>),
}

use Event::*;

fn status(s: u16) -> Option<AttemptFailure> {
    Some(AttemptFailure::Status {
        status: s,
        retry_after: None,
    })
}

fn throttled(retry_after: Duration) -> Option<AttemptFailure> {
    Some(AttemptFailure::Status {
        status: 429,
        retry_after: Some(retry_after),
    })
}

/// Drives a plan as the shell does: each attempt takes the next outcome of `script` (`None` is
/// a success); `step` is the time each attempt takes.
fn walk(
    mut plan: Plan<u32>,
    avail: &Fake,
    script: &[Option<AttemptFailure>],
    step: Duration,
) -> Vec<Event> {
    let mut events = Vec::new();
    let mut elapsed = Duration::ZERO;
    let mut outcomes = script.iter();
    for _ in 0..50 {
        match plan.next(elapsed, 0.5, avail) {
            Step::Attempt(c) => {
                let (tried_e, tried_k) = plan.tried();
                let endpoint = *avail.endpoints[c]
                    .iter()
                    .find(|e| !tried_e.contains(e))
                    .expect("usable_now promised an endpoint");
                let key = avail.keys[c]
                    .as_ref()
                    .map(|keys| *keys.iter().find(|k| !tried_k.contains(k)).unwrap());
                plan.attempt_started();
                events.push(Attempt(c, endpoint, key));
                elapsed += step;
                match outcomes.next().copied().flatten() {
                    None => {
                        events.push(Served(c));
                        return events;
                    }
                    Some(failure) => {
                        let verdict = plan.on_failure(failure, endpoint, key, elapsed, avail);
                        if !verdict.retry {
                            events.push(Final(verdict.error_type));
                            return events;
                        }
                    }
                }
            }
            Step::Wait(d) => {
                elapsed += d;
                events.push(Wait);
            }
            Step::GiveUp(e, retry_after) => {
                events.push(GiveUp(e, retry_after));
                return events;
            }
        }
    }
    panic!("the plan did not end: {events:?}");
}

fn candidates(n: usize) -> Vec<Option<Skip>> {
    vec![None; n]
}

#[test]
fn every_candidate_gets_an_attempt_whatever_the_repeats() {
    // Two targets and a fallback, `attempts: 2`: both targets fail, the fallback serves.
    for repeats in [0, 1, 3] {
        let events = walk(
            Plan::new(settings(repeats), candidates(3)),
            &Fake::simple(3),
            &[status(503), status(503), None],
            SEC,
        );
        assert_eq!(
            events,
            [
                Attempt(0, 10, None),
                Attempt(1, 20, None),
                Attempt(2, 30, None),
                Served(2)
            ],
            "repeats {repeats}"
        );
    }
}

#[test]
fn repeats_are_bounded_by_attempts() {
    // Everything fails: one attempt each, then one repeat (another round), then the last
    // provider's answer.
    let events = walk(
        Plan::new(settings(1), candidates(3)),
        &Fake::simple(3),
        &[status(503); 10],
        SEC,
    );
    assert_eq!(
        events,
        [
            Attempt(0, 10, None),
            Attempt(1, 20, None),
            Attempt(2, 30, None),
            Wait,
            Attempt(0, 10, None),
            Final(ErrorType::UpstreamOverloaded),
        ]
    );
    // No repeats: one attempt each, no second round.
    let events = walk(
        Plan::new(settings(0), candidates(2)),
        &Fake::simple(2),
        &[status(500); 10],
        SEC,
    );
    assert_eq!(
        events,
        [
            Attempt(0, 10, None),
            Attempt(1, 20, None),
            Final(ErrorType::UpstreamError)
        ]
    );
}

#[test]
fn another_endpoint_of_a_candidate_is_a_repeat() {
    let mut avail = Fake::simple(2);
    avail.endpoints[0] = vec![1, 2];
    let events = walk(
        Plan::new(settings(1), candidates(2)),
        &avail,
        &[status(502), status(502), None],
        SEC,
    );
    assert_eq!(
        events,
        [
            Attempt(0, 1, None),
            Attempt(0, 2, None),
            Attempt(1, 20, None),
            Served(1)
        ]
    );
    // Without repeats the second endpoint is passed over for the next candidate.
    let events = walk(
        Plan::new(settings(0), candidates(2)),
        &avail,
        &[status(502), None],
        SEC,
    );
    assert_eq!(
        events,
        [Attempt(0, 1, None), Attempt(1, 20, None), Served(1)]
    );
}

#[test]
fn a_retry_after_within_the_cap_is_waited_out_and_one_over_it_is_not() {
    let events = walk(
        Plan::new(settings(2), candidates(1)),
        &Fake::simple(1),
        &[throttled(SEC), None],
        Duration::from_millis(10),
    );
    assert_eq!(
        events,
        [Attempt(0, 10, None), Wait, Attempt(0, 10, None), Served(0)]
    );
    let events = walk(
        Plan::new(settings(2), candidates(1)),
        &Fake::simple(1),
        &[throttled(30 * SEC), None],
        Duration::from_millis(10),
    );
    assert_eq!(
        events,
        [Attempt(0, 10, None), Final(ErrorType::UpstreamRateLimited)]
    );
}

#[test]
fn a_throttled_key_moves_to_the_next_key_then_the_answer_stands() {
    let mut avail = Fake::simple(1);
    avail.keys[0] = Some(vec![0, 1]);
    let events = walk(
        Plan::new(settings(3), candidates(1)),
        &avail,
        &[status(429), status(429)],
        SEC,
    );
    // Refused without a retry hint: the keys stay ejected, not worth another round.
    assert_eq!(
        events,
        [
            Attempt(0, 10, Some(0)),
            Attempt(0, 10, Some(1)),
            Final(ErrorType::UpstreamRateLimited)
        ]
    );
}

#[test]
fn nothing_usable_fails_fast_with_the_reason() {
    let mut avail = Fake::simple(2);
    avail.endpoints = vec![vec![], vec![]];
    avail.unavailable[0] = Some((503, 2 * SEC));
    let events = walk(Plan::new(settings(3), candidates(2)), &avail, &[], SEC);
    assert_eq!(
        events,
        [GiveUp(ErrorType::UpstreamOverloaded, Some(2 * SEC))]
    );
    avail.unavailable[0] = Some((429, SEC));
    let events = walk(Plan::new(settings(3), candidates(2)), &avail, &[], SEC);
    assert_eq!(events, [GiveUp(ErrorType::UpstreamRateLimited, Some(SEC))]);
    avail.unavailable[0] = None;
    let events = walk(Plan::new(settings(3), candidates(2)), &avail, &[], SEC);
    assert_eq!(events, [GiveUp(ErrorType::UpstreamUnreachable, None)]);
    // An ejected first target: the second serves.
    let mut avail = Fake::simple(2);
    avail.endpoints[0].clear();
    let events = walk(Plan::new(settings(0), candidates(2)), &avail, &[None], SEC);
    assert_eq!(events, [Attempt(1, 20, None), Served(1)]);
}

#[test]
fn a_request_error_is_never_retried() {
    for s in [400, 404, 413, 422] {
        let mut plan = Plan::new(settings(3), candidates(2));
        let avail = Fake::simple(2);
        assert_eq!(plan.next(Duration::ZERO, 0.5, &avail), Step::Attempt(0));
        plan.attempt_started();
        let failure = status(s).unwrap();
        let verdict = plan.on_failure(failure, 10, None, SEC, &avail);
        assert!(!verdict.retry && verdict.provider_answered, "{s}");
        assert!(!verdict.endpoint_failure, "{s}");
    }
}

#[test]
fn the_deadline_ends_the_plan() {
    let mut s = settings(3);
    s.deadline = Duration::from_secs(10);
    let events = walk(
        Plan::new(s, candidates(3)),
        &Fake::simple(3),
        &[status(503), status(503), None],
        Duration::from_secs(6),
    );
    // The first failure at 6 s leaves time; the second, at 12 s, does not.
    assert_eq!(
        events,
        [
            Attempt(0, 10, None),
            Attempt(1, 20, None),
            Final(ErrorType::UpstreamOverloaded)
        ]
    );
}

#[test]
fn a_stale_pooled_connection_is_retried_once_in_place() {
    let lost = Some(AttemptFailure::ConnectionLost { reused: true });
    let events = walk(
        Plan::new(settings(0), candidates(1)),
        &Fake::simple(1),
        &[lost, None],
        SEC,
    );
    assert_eq!(
        events,
        [Attempt(0, 10, None), Attempt(0, 10, None), Served(0)]
    );
    let events = walk(
        Plan::new(settings(0), candidates(1)),
        &Fake::simple(1),
        &[lost, lost],
        SEC,
    );
    assert_eq!(
        events,
        [
            Attempt(0, 10, None),
            Attempt(0, 10, None),
            Final(ErrorType::UpstreamUnreachable)
        ]
    );
}

#[test]
fn skipped_candidates_are_never_attempted() {
    let skipped = vec![None, Some(Skip::NotAllowed), None];
    let events = walk(
        Plan::new(settings(0), skipped),
        &Fake::simple(3),
        &[status(503), None],
        SEC,
    );
    assert_eq!(
        events,
        [Attempt(0, 10, None), Attempt(2, 30, None), Served(2)]
    );
    let events = walk(
        Plan::new(settings(0), vec![None, Some(Skip::NotAllowed)]),
        &Fake::simple(2),
        &[status(503)],
        SEC,
    );
    assert_eq!(
        events,
        [Attempt(0, 10, None), Final(ErrorType::UpstreamOverloaded)]
    );
}

#[test]
fn a_round_that_makes_no_attempt_is_not_repeated() {
    // One target whose only endpoint fails and is then ejected (no longer usable): no spin.
    struct Ejecting(std::cell::Cell<bool>);
    impl Availability<u32> for Ejecting {
        fn usable_now(&self, _: usize, tried: &[u32], _: &[usize]) -> bool {
            !self.0.get() && !tried.contains(&1)
        }
        fn usable_within(&self, _: usize, _: Duration) -> bool {
            true
        }
        fn unavailable(&self, _: usize) -> Option<(u16, Duration)> {
            Some((503, SEC))
        }
    }
    let avail = Ejecting(std::cell::Cell::new(false));
    let mut plan = Plan::new(settings(5), candidates(1));
    assert_eq!(plan.next(Duration::ZERO, 0.5, &avail), Step::Attempt(0));
    plan.attempt_started();
    let verdict = plan.on_failure(status(503).unwrap(), 1, None, SEC, &avail);
    assert!(verdict.retry, "another round may serve");
    avail.0.set(true);
    assert!(matches!(plan.next(SEC, 0.5, &avail), Step::Wait(_)));
    assert_eq!(
        plan.next(2 * SEC, 0.5, &avail),
        Step::GiveUp(ErrorType::UpstreamOverloaded, None)
    );
}
