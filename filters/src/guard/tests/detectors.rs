//! Each built-in detector alone, on true positives and near misses.

use super::*;

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

/// `(input, expected)` pairs for one detector; `expected == input` is a near miss.
fn check(detector: &str, cases: &[(&str, &str)]) {
    let policy = policy(&[("r", &[detector], Action::Redact)]);
    for (input, expected) in cases {
        assert_eq!(&redacted(&policy, input), expected, "{detector}: {input:?}");
    }
}

#[test]
fn guard_detect_email() {
    check(
        "email",
        &[
            (
                "write to jane.doe@example.com today",
                "write to [EMAIL_1] today",
            ),
            ("a+tag@sub.example.co.uk.", "[EMAIL_1]."),
            ("<john_smith@mail-server.org>", "<[EMAIL_1]>"),
            ("Jane@Example.COM", "[EMAIL_1]"),
            ("user@localhost", "user@localhost"),
            ("@handle and a@b.c", "@handle and a@b.c"),
            ("pin numpy@1.26 please", "pin numpy@1.26 please"),
        ],
    );
}

#[test]
fn guard_detect_phone() {
    check(
        "phone",
        &[
            ("call +1 415 555 2671 now", "call [PHONE_1] now"),
            ("+14155552671", "[PHONE_1]"),
            ("+44 20 7946 0958", "[PHONE_1]"),
            ("+33 6 12 34 56 78", "[PHONE_1]"),
            ("+1 (415) 555-2671", "[PHONE_1]"),
            ("(415) 555-2671", "[PHONE_1]"),
            ("415-555-2671 or 415.555.2671", "[PHONE_1] or [PHONE_2]"),
            ("1-800-555-0199", "[PHONE_1]"),
            ("020 7946 0958", "[PHONE_1]"),
            ("07700 900123", "[PHONE_1]"),
            ("06 12 34 56 78", "[PHONE_1]"),
            ("030 1234567", "[PHONE_1]"),
            // Dates, order numbers, times, ISBNs, arithmetic.
            ("on 2024-01-15 at 10:30:45", "on 2024-01-15 at 10:30:45"),
            (
                "on 01.02.2024 and 05-12-2024",
                "on 01.02.2024 and 05-12-2024",
            ),
            (
                "order 123456789 and 5551234567",
                "order 123456789 and 5551234567",
            ),
            ("ISBN 978-3-16-148410-0", "ISBN 978-3-16-148410-0"),
            ("3+4155552671", "3+4155552671"),
            ("+12 34", "+12 34"),
        ],
    );
}

#[test]
fn guard_detect_credit_card() {
    check(
        "credit_card",
        &[
            ("card 4111 1111 1111 1111 exp", "card [CREDIT_CARD_1] exp"),
            ("4111111111111111", "[CREDIT_CARD_1]"),
            ("5500-0000-0000-0004", "[CREDIT_CARD_1]"),
            ("amex 378282246310005", "amex [CREDIT_CARD_1]"),
            ("6011111111111117", "[CREDIT_CARD_1]"),
            // Starts inside a longer run of groups.
            ("5234 4111 1111 1111 1111", "5234 [CREDIT_CARD_1]"),
            // Followed by more digits in a group.
            ("4111 1111 1111 1111 12", "[CREDIT_CARD_1] 12"),
            // Luhn-invalid, too short, wrong leading digit.
            ("4111111111111112", "4111111111111112"),
            ("4111 1111 1111", "4111 1111 1111"),
            ("1234567812345670", "1234567812345670"),
        ],
    );
}

#[test]
fn guard_detect_ssn() {
    check(
        "ssn",
        &[
            ("SSN 123-45-6789.", "SSN [SSN_1]."),
            ("000-12-3456", "000-12-3456"),
            ("666-12-3456 912-12-3456", "666-12-3456 912-12-3456"),
            ("123-45-67890", "123-45-67890"),
            ("123-456-789", "123-456-789"),
        ],
    );
}

#[test]
fn guard_detect_iban() {
    check(
        "iban",
        &[
            (
                "IBAN DE89 3704 0044 0532 0130 00, thanks",
                "IBAN [IBAN_1], thanks",
            ),
            ("GB82WEST12345698765432", "[IBAN_1]"),
            ("FR1420041010050500013M02606", "[IBAN_1]"),
            ("DE89 3704 0044 0532 0130 00 AB12", "[IBAN_1] AB12"),
            ("DE89 3704 0044 0532 0130 01", "DE89 3704 0044 0532 0130 01"),
            ("GB00WEST12345698765432", "GB00WEST12345698765432"),
            ("de89370400440532013000", "de89370400440532013000"),
        ],
    );
}

#[test]
fn guard_detect_ip_address() {
    check(
        "ip_address",
        &[
            ("server 192.168.1.10 down", "server [IP_ADDRESS_1] down"),
            ("10.0.0.1:8080", "[IP_ADDRESS_1]:8080"),
            ("10.0.0.0/8.", "[IP_ADDRESS_1]/8."),
            ("2001:db8::8a2e:370:7334", "[IP_ADDRESS_1]"),
            ("2001:0db8:0000:0000:0000:ff00:0042:8329", "[IP_ADDRESS_1]"),
            ("localhost is ::1", "localhost is [IP_ADDRESS_1]"),
            ("::ffff:10.0.0.1", "[IP_ADDRESS_1]"),
            ("fe80::1%eth0", "[IP_ADDRESS_1]%eth0"),
            // A four-part version in prose is an address: documented.
            ("upgrade to 1.2.3.4 now", "upgrade to [IP_ADDRESS_1] now"),
            (
                "version 1.2.3, v1.2.3.4, 1.2.3.4.5",
                "version 1.2.3, v1.2.3.4, 1.2.3.4.5",
            ),
            (
                "1.2.3.4.5.6.7.8.9.10 and 1::2::3",
                "1.2.3.4.5.6.7.8.9.10 and 1::2::3",
            ),
            ("999.1.1.1 and 01.2.3.4", "999.1.1.1 and 01.2.3.4"),
            (
                "at 12:30:45, mac 00:1a:2b:3c:4d:5e",
                "at 12:30:45, mac 00:1a:2b:3c:4d:5e",
            ),
            (
                "std::vector, <T as Tr>::abc, add::dec",
                "std::vector, <T as Tr>::abc, add::dec",
            ),
        ],
    );
}

#[test]
fn guard_detect_private_key() {
    let rsa = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\naFDrBz9vFqU4yB6nM+3kXhN2EJKpxXJLmzOZBCUJpLEgNTWSjUSqPQ==\n-----END RSA PRIVATE KEY-----";
    let openssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----";
    let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F17F5316E2BAC89\n\nMIIE\n-----END ENCRYPTED PRIVATE KEY-----";
    let public = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----";
    let cases = [
        (
            format!("key:\n{rsa}\nthanks"),
            "key:\n[PRIVATE_KEY_1]\nthanks".to_owned(),
        ),
        (openssh.to_owned(), "[PRIVATE_KEY_1]".to_owned()),
        (encrypted.to_owned(), "[PRIVATE_KEY_1]".to_owned()),
        // Without its end line the key runs to the first character a PEM body cannot hold.
        (
            "-----BEGIN PRIVATE KEY-----\nMIIE\nAAAA\nwhat is this?".to_owned(),
            "[PRIVATE_KEY_1]?".to_owned(),
        ),
        (public.to_owned(), public.to_owned()),
        (
            "-----BEGIN CERTIFICATE-----".to_owned(),
            "-----BEGIN CERTIFICATE-----".to_owned(),
        ),
    ];
    let policy = policy(&[("r", &["private_key"], Action::Redact)]);
    for (input, expected) in cases {
        assert_eq!(redacted(&policy, &input), expected, "{input:?}");
    }
}

#[test]
fn guard_detect_api_key() {
    let proj = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9oPq2rSt5uVw8xYz1aBc4dEf7gHi0jKl3mNo6pQr9sTu2vWx5yZa8bCd1eFg4hIj7kLm0nOp3qRs6tUv9wXy2zAb5cDe8fGh1iJk4lMn7oPq0rSt3uVw6xY";
    let ant = "sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9oPq2rSt5uVw8xYz1aBc4dEf7gHi0jKl3mNo6pQr9sTu2vWx5yZa8bCd1eFg4hIj7-AA";
    let owned = |s: &str| s.to_owned();
    let cases = [
        (owned("key sk-abcdefghij0123456789ABCD."), owned("key [API_KEY_1].")),
        (format!("OPENAI_API_KEY={proj}\n"), owned("OPENAI_API_KEY=[API_KEY_1]\n")),
        (format!("\"{ant}\""), owned("\"[API_KEY_1]\"")),
        (owned("AKIAIOSFODNN7EXAMPLE and ASIAY34FZKBOKMUTVV7A"), owned("[API_KEY_1] and [API_KEY_2]")),
        (
            owned("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 gho_16C7e42F292c6912E7710c838347Ae178B4a"),
            owned("[API_KEY_1] [API_KEY_2]"),
        ),
        (
            owned("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghij"),
            owned("[API_KEY_1]"),
        ),
        (format!("Bearer {JWT}."), owned("Bearer [API_KEY_1].")),
        (owned("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"), owned("[API_KEY_1]")),
        (owned("xoxp-1234567890-abc"), owned("[API_KEY_1]")),
        // Near misses.
        (owned("pip install scikit-learn sk-learn"), owned("pip install scikit-learn sk-learn")),
        (owned("sk-this-is-not-a-key-at-all"), owned("sk-this-is-not-a-key-at-all")),
        (owned("ghp_short AKIA1234 xoxb-abcdefghijk"), owned("ghp_short AKIA1234 xoxb-abcdefghijk")),
        (owned("eyJhbGciOiJIUzI1NiJ9 alone"), owned("eyJhbGciOiJIUzI1NiJ9 alone")),
    ];
    let policy = policy(&[("r", &["api_key"], Action::Redact)]);
    for (input, expected) in cases {
        assert_eq!(redacted(&policy, &input), expected, "{input:?}");
    }
}

#[test]
fn guard_detect_custom_rules() {
    let rule = RuleSpec {
        name: "internal".to_owned(),
        detect: vec![
            custom("ticket", r"(?-u:\b)TCK-[0-9]{6}(?-u:\b)"),
            custom("order-id", r"ORD[0-9]{4}"),
        ],
        action: Action::Redact,
        on: vec![Direction::Request],
    };
    let policy = Policy::compile(&[rule]).unwrap();
    assert_eq!(
        redacted(&policy, "see TCK-123456 and ORD0042, not TCK-1234567"),
        "see [TICKET_1] and [ORDER_ID_1], not TCK-1234567"
    );
}

#[test]
fn guard_overlapping_detectors_pick_the_first_then_longest() {
    let policy = redact_everything();
    // The card, not the phone hiding in its groups; the email, not the IP in its domain.
    assert_eq!(
        redacted(&policy, "4111 1111 1111 1111 / ops@host-10.0.0.1.io"),
        "[CREDIT_CARD_1] / [EMAIL_1]"
    );
}
