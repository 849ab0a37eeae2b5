//! The check digits that tell a payment card number or an IBAN from any other run of digits.
//!
//! Only candidates the patterns found are checked: a Luhn-invalid 16-digit order number is not
//! a card, an IBAN-shaped reference with a wrong checksum is not an account.

/// The Luhn check over the ASCII digits of `digits` (anything else is ignored).
pub(crate) fn luhn_valid(digits: &str) -> bool {
    let mut sum: u32 = 0;
    let mut count: u32 = 0;
    for d in digits.bytes().rev().filter(u8::is_ascii_digit) {
        let value = u32::from(d - b'0');
        let doubled = if count % 2 == 1 { value * 2 } else { value };
        sum += if doubled > 9 { doubled - 9 } else { doubled };
        count += 1;
    }
    // Written out rather than `is_multiple_of`, which is newer than the workspace's MSRV.
    let remainder = sum % 10;
    count > 0 && remainder == 0
}

/// ISO 13616 mod-97 over an IBAN without spaces: the first four characters moved to the end,
/// letters as 10..35, the number taken modulo 97 must be 1. `None` for a character that has no
/// place in an IBAN.
pub(crate) fn iban_mod97(compact: &str) -> Option<u32> {
    let (head, rest) = (compact.get(..4)?, compact.get(4..)?);
    let mut remainder: u32 = 0;
    for c in rest.chars().chain(head.chars()) {
        let value = c.to_digit(36)?;
        // Letters are two decimal digits, digits one; the remainder stays below 97, so the
        // intermediate stays below 9,700 + 99.
        remainder = if value > 9 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    Some(remainder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_luhn_table() {
        let cases = [
            ("4111111111111111", true),
            ("4111 1111 1111 1111", true),
            ("5500-0000-0000-0004", true),
            ("378282246310005", true),
            ("4111111111111112", false),
            ("1234567812345678", false),
            ("", false),
        ];
        for (input, valid) in cases {
            assert_eq!(luhn_valid(input), valid, "{input}");
        }
    }

    #[test]
    fn guard_iban_table() {
        let cases = [
            ("DE89370400440532013000", Some(1)),
            ("GB82WEST12345698765432", Some(1)),
            ("FR1420041010050500013M02606", Some(1)),
            ("DE89370400440532013001", Some(28)),
            ("GB82WEST1234569876543!", None),
            ("DE8", None),
        ];
        for (input, remainder) in cases {
            assert_eq!(iban_mod97(input), remainder, "{input}");
        }
    }
}
