//! Placeholder numbering, refusals and findings through the public API.

use super::*;

#[test]
fn guard_same_value_same_number_within_a_request() {
    let policy = redact_everything();
    let mut table = Placeholders::new();
    let text = "a@x.io, b@x.io, a@x.io, +1 415 555 2671, b@x.io";
    let report = redact_text(&policy, Direction::Request, text, &mut table);
    assert_eq!(
        report.outcome,
        Outcome::Redacted("[EMAIL_1], [EMAIL_2], [EMAIL_1], [PHONE_1], [EMAIL_2]".to_owned())
    );
    let finding = report.findings.iter().next().unwrap();
    assert_eq!(
        (
            &*finding.rule,
            &*finding.detector,
            finding.action,
            finding.count
        ),
        ("pii", "email", Action::Redact, 4)
    );
    assert_eq!(report.findings.total(), 5);
}

#[test]
fn guard_numbering_is_shared_by_request_and_response() {
    let policy = redact_everything();
    let mut table = Placeholders::new();
    let body = br#"{"messages":[{"role":"user","content":"mail a@x.io or b@x.io"}]}"#;
    let request = redact_json(&policy, Direction::Request, body, &mut table);
    assert_eq!(
        request.outcome,
        Outcome::Redacted(
            br#"{"messages":[{"role":"user","content":"mail [EMAIL_1] or [EMAIL_2]"}]}"#.to_vec()
        )
    );
    // The model answers with one of the real addresses (say, from a tool): it gets the
    // number the request gave it, in a body and in a stream alike.
    let response = redact_text(
        &policy,
        Direction::Response,
        "wrote b@x.io and c@x.io",
        &mut table,
    );
    assert_eq!(
        response.outcome,
        Outcome::Redacted("wrote [EMAIL_2] and [EMAIL_3]".to_owned())
    );
    let mut stream = StreamRedactor::new(Arc::clone(&policy), Direction::Response);
    let mut out = stream.push("cc a@x", &mut table).unwrap();
    out += &stream.push(".io", &mut table).unwrap();
    out += &stream.finish(&mut table).unwrap();
    assert_eq!(out, "cc [EMAIL_1]");
}

#[test]
fn guard_block_names_the_rule_not_the_text() {
    let policy = policy(&[
        ("pii", &["email"], Action::Redact),
        ("no-keys", &["api_key"], Action::Block),
    ]);
    let text = "from a@x.io: AKIAIOSFODNN7EXAMPLE";
    let report = redact_text(&policy, Direction::Request, text, &mut Placeholders::new());
    let Outcome::Blocked(blocked) = &report.outcome else {
        panic!("not blocked: {:?}", report.outcome);
    };
    assert_eq!(&*blocked.rule, "no-keys");
    assert_eq!(blocked.to_string(), "blocked by guardrail rule 'no-keys'");
    assert!(!format!("{report:?}").contains("AKIA"));
    let counted: Vec<_> = report
        .findings
        .iter()
        .map(|f| (&*f.rule, f.count))
        .collect();
    assert_eq!(counted, vec![("pii", 1), ("no-keys", 1)]);
}

#[test]
fn guard_log_reports_without_changing() {
    let policy = policy(&[("audit", &["email", "phone"], Action::Log)]);
    let text = "a@x.io and b@x.io, +1 415 555 2671";
    let report = redact_text(&policy, Direction::Response, text, &mut Placeholders::new());
    assert_eq!(report.outcome, Outcome::Unchanged);
    let counted: Vec<_> = report
        .findings
        .iter()
        .map(|f| (&*f.detector, f.action, f.count))
        .collect();
    assert_eq!(
        counted,
        vec![("email", Action::Log, 2), ("phone", Action::Log, 1)]
    );
}

#[test]
fn guard_log_matches_never_hide_redactions() {
    let rules = [
        RuleSpec {
            name: "audit".to_owned(),
            detect: vec![custom("card-mention", r"card [0-9]{4}")],
            action: Action::Log,
            on: vec![Direction::Request],
        },
        RuleSpec {
            name: "pci".to_owned(),
            detect: vec![DetectorSpec::Builtin("credit_card".to_owned())],
            action: Action::Redact,
            on: vec![Direction::Request],
        },
    ];
    let policy = Policy::compile(&rules).unwrap();
    let report = redact_text(
        &policy,
        Direction::Request,
        "my card 4111 1111 1111 1111",
        &mut Placeholders::new(),
    );
    assert_eq!(
        report.outcome,
        Outcome::Redacted("my card [CREDIT_CARD_1]".to_owned())
    );
    assert_eq!(report.findings.total(), 2);
}

#[test]
fn guard_nothing_applies_is_unchanged_and_cheap() {
    let policy = policy(&[("r", &["email"], Action::Redact)]);
    let only_response = Policy::compile(&[RuleSpec {
        name: "r".to_owned(),
        detect: vec![DetectorSpec::Builtin("email".to_owned())],
        action: Action::Redact,
        on: vec![Direction::Response],
    }])
    .unwrap();
    let mut table = Placeholders::new();
    let body = br#"{"messages":[{"role":"user","content":"a@x.io"}]}"#;
    assert_eq!(
        redact_json(&only_response, Direction::Request, body, &mut table).outcome,
        Outcome::Unchanged
    );
    assert_eq!(
        redact_json(&Policy::empty(), Direction::Request, body, &mut table).outcome,
        Outcome::Unchanged
    );
    let clean = br#"{"messages":[{"role":"user","content":"hello there"}]}"#;
    let report = redact_json(&policy, Direction::Request, clean, &mut table);
    assert_eq!(report.outcome, Outcome::Unchanged);
    assert!(report.findings.is_empty() && table.is_empty());
}

#[test]
fn guard_types_cross_threads() {
    fn shared<T: Send + Sync>() {}
    fn moved<T: Send>() {}
    // One policy for every worker; a table and redactors in each request's context.
    shared::<Policy>();
    moved::<Placeholders>();
    moved::<StreamRedactor>();
}
