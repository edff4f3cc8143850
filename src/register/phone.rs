//! UK mobile numbers as families write them on forms: read once, at import, into the E.164
//! form every SMS provider takes.

use std::fmt;
use std::str::FromStr;

/// A UK mobile number in E.164 form (`+447700900123`).
///
/// Only [`parse_uk_mobile`] makes one, so holding a `PhoneNumber` means the number was checked
/// once, at the edge, and every provider sees the same spelling of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_uk_mobile(s)
    }
}

/// Why a number cannot be texted. The messages are written for the school office, which has
/// to correct the contact record: each says what was given and what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("no mobile number given: a text message needs a UK mobile number such as 07700 900123")]
    Empty,
    #[error(
        "'{given}' contains letters: a mobile number is digits only, such as 07700 900123 or \
         +44 7700 900123"
    )]
    Letters { given: String },
    #[error(
        "'{given}' contains '{character}': only digits, spaces, dashes, brackets and a leading + \
         are allowed, as in 07700 900123 or +44 7700 900123"
    )]
    InvalidCharacter { given: String, character: char },
    #[error(
        "'{given}' is not a UK number: only UK mobile numbers (07… or +44 7…) can be sent text \
         messages"
    )]
    NotUk { given: String },
    #[error(
        "'{given}' is a {kind} (starts {prefix}): text messages need a UK mobile number starting \
         07, such as 07700 900123"
    )]
    NotMobile {
        given: String,
        prefix: String,
        kind: &'static str,
    },
    #[error(
        "'{given}' is too short: it has {after} digits after the 07, a UK mobile number has 9 \
         (such as 07700 900123)"
    )]
    TooShort { given: String, after: usize },
    #[error(
        "'{given}' is too long: it has {after} digits after the 07, a UK mobile number has 9 \
         (such as 07700 900123)"
    )]
    TooLong { given: String, after: usize },
}

/// Reads a UK mobile number the way people write them on forms and in spreadsheets.
///
/// Besides the usual national and international spellings this accepts ten digits starting
/// with 7, because spreadsheets drop the leading zero of `07700900123` and MIS exports carry
/// that damage into the contact record. Numbers starting 070 (personal numbering) and 076
/// (pagers, except 07624 on the Isle of Man) look like mobiles but are not, so they are refused.
pub fn parse_uk_mobile(text: &str) -> Result<PhoneNumber, PhoneError> {
    let given = text.trim();
    let owned = || given.to_owned();
    if given.is_empty() {
        return Err(PhoneError::Empty);
    }
    let mut digits = String::with_capacity(given.len());
    let mut plus = false;
    for (i, c) in given.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => plus = true,
            ' ' | '-' | '.' | '(' | ')' | '\t' | '\u{a0}' => {}
            c if c.is_alphabetic() => return Err(PhoneError::Letters { given: owned() }),
            c => {
                return Err(PhoneError::InvalidCharacter {
                    given: owned(),
                    character: c,
                });
            }
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::Empty);
    }

    // The national significant number: what follows the 0 trunk prefix or the 44 country code.
    let national: &str = if plus {
        match digits.strip_prefix("44") {
            Some(rest) => drop_trunk_zero(rest),
            None => return Err(PhoneError::NotUk { given: owned() }),
        }
    } else if let Some(rest) = digits.strip_prefix("0044") {
        drop_trunk_zero(rest)
    } else if digits.starts_with("00") {
        return Err(PhoneError::NotUk { given: owned() });
    } else if let Some(rest) = digits.strip_prefix('0') {
        rest
    } else if let Some(rest) = digits.strip_prefix("44") {
        drop_trunk_zero(rest)
    } else {
        &digits
    };

    let mut chars = national.chars();
    let first = chars.next();
    let second = chars.next();
    let not_mobile = |kind: &'static str, prefix_len: usize| PhoneError::NotMobile {
        given: owned(),
        prefix: format!("0{}", &national[..prefix_len.min(national.len())]),
        kind,
    };
    match (first, second) {
        (None, _) => {
            return Err(PhoneError::TooShort {
                given: owned(),
                after: 0,
            });
        }
        (Some('7'), Some('0')) => return Err(not_mobile("personal number, not a mobile", 2)),
        (Some('7'), Some('6')) if !national.starts_with("7624") => {
            return Err(not_mobile("pager number, not a mobile", 2));
        }
        (Some('7'), _) => {}
        (Some('1' | '2'), _) => return Err(not_mobile("landline number", 2)),
        (Some('3'), _) => return Err(not_mobile("landline-rate non-geographic number", 2)),
        (Some('5'), _) => return Err(not_mobile("corporate or internet (VoIP) number", 2)),
        (Some('8'), _) => return Err(not_mobile("freephone or business-rate number", 2)),
        (Some('9'), _) => return Err(not_mobile("premium-rate number", 2)),
        (Some(_), _) => return Err(not_mobile("number that is not a UK mobile", 1)),
    }
    let after = national.len() - 1;
    if after < 9 {
        return Err(PhoneError::TooShort {
            given: owned(),
            after,
        });
    }
    if after > 9 {
        return Err(PhoneError::TooLong {
            given: owned(),
            after,
        });
    }
    Ok(PhoneNumber(format!("+44{national}")))
}

/// `+44 (0)7700 900123` writes the trunk zero that must not be dialled after the country code.
fn drop_trunk_zero(rest: &str) -> &str {
    rest.strip_prefix('0').unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_spellings() {
        for text in [
            "07700 900123",
            "07700-900-123",
            "07700900123",
            "+44 7700 900123",
            "+44 (0)7700 900123",
            "+447700900123",
            "0044 7700 900123",
            "447700900123",
            "(07700) 900 123",
            "7700900123",
            " 07700 900123 ",
        ] {
            assert_eq!(
                parse_uk_mobile(text).map(|p| p.to_string()),
                Ok("+447700900123".to_owned()),
                "{text}"
            );
        }
        assert_eq!(
            parse_uk_mobile("07624 123456").map(|p| p.to_string()),
            Ok("+447624123456".to_owned())
        );
    }

    #[test]
    fn rejects_with_reasons() {
        assert_eq!(parse_uk_mobile(""), Err(PhoneError::Empty));
        assert_eq!(parse_uk_mobile("   "), Err(PhoneError::Empty));
        assert!(matches!(
            parse_uk_mobile("01632 960123"),
            Err(PhoneError::NotMobile { ref prefix, kind: "landline number", .. }) if prefix == "016"
        ));
        assert!(matches!(
            parse_uk_mobile("020 7946 0123"),
            Err(PhoneError::NotMobile {
                kind: "landline number",
                ..
            })
        ));
        assert!(matches!(
            parse_uk_mobile("0300 123 4567"),
            Err(PhoneError::NotMobile { .. })
        ));
        assert!(matches!(
            parse_uk_mobile("0800 123 4567"),
            Err(PhoneError::NotMobile { .. })
        ));
        assert!(matches!(
            parse_uk_mobile("07000 123456"),
            Err(PhoneError::NotMobile { .. })
        ));
        assert!(matches!(
            parse_uk_mobile("07600 123456"),
            Err(PhoneError::NotMobile { .. })
        ));
        assert_eq!(
            parse_uk_mobile("07700 90012"),
            Err(PhoneError::TooShort {
                given: "07700 90012".into(),
                after: 8
            })
        );
        assert_eq!(
            parse_uk_mobile("+44 7700 9001234"),
            Err(PhoneError::TooLong {
                given: "+44 7700 9001234".into(),
                after: 10
            })
        );
        assert!(matches!(
            parse_uk_mobile("07700 9OO123"),
            Err(PhoneError::Letters { .. })
        ));
        assert!(matches!(
            parse_uk_mobile("07700/900123"),
            Err(PhoneError::InvalidCharacter { character: '/', .. })
        ));
        assert!(matches!(
            parse_uk_mobile("0770+0900123"),
            Err(PhoneError::InvalidCharacter { character: '+', .. })
        ));
        assert!(matches!(
            parse_uk_mobile("+33 6 12 34 56 78"),
            Err(PhoneError::NotUk { .. })
        ));
        assert!(matches!(
            parse_uk_mobile("0033 6 12 34 56 78"),
            Err(PhoneError::NotUk { .. })
        ));
    }

    #[test]
    fn messages_name_the_number_and_the_rule() {
        let e = parse_uk_mobile("01632 960123").unwrap_err().to_string();
        assert!(e.contains("'01632 960123'"), "{e}");
        assert!(e.contains("landline"), "{e}");
        assert!(e.contains("07"), "{e}");
    }
}
