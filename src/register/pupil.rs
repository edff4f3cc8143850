//! Pupils and their contacts: the UPN, cohort fields and how to reach a family.

use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

const CHECK_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPQRTUVWXYZ";

/// A validated unique pupil number: a check letter then 12 digits, the last of which may be
/// a letter for a temporary UPN (DOMAIN.md, "Identifiers").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Upn(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpnError {
    #[error("a UPN has 13 characters, this has {0}")]
    Length(usize),
    #[error("characters 2 to 12 of a UPN must be digits")]
    NotDigits,
    #[error("the last character must be a digit, or a letter for a temporary UPN")]
    BadLast,
    #[error("the check letter should be {expected}, not {found}")]
    CheckLetter { expected: char, found: char },
}

impl Upn {
    pub fn parse(text: &str) -> Result<Upn, UpnError> {
        let bytes = text.as_bytes();
        if bytes.len() != 13 {
            return Err(UpnError::Length(text.chars().count()));
        }
        if !bytes[1..12].iter().all(u8::is_ascii_digit) {
            return Err(UpnError::NotDigits);
        }
        let last = bytes[12];
        if !(last.is_ascii_digit() || CHECK_LETTERS.contains(&last)) {
            return Err(UpnError::BadLast);
        }
        let expected = check_letter(&bytes[1..]);
        if bytes[0] != expected {
            return Err(UpnError::CheckLetter {
                expected: char::from(expected),
                found: char::from(bytes[0]),
            });
        }
        Ok(Upn(text.to_owned()))
    }

    /// Builds a permanent UPN from its 12 digits, computing the check letter.
    pub fn from_digits(digits: &[u8; 12]) -> Upn {
        let mut text = String::with_capacity(13);
        text.push(char::from(check_letter(digits)));
        text.extend(digits.iter().map(|&d| char::from(d)));
        Upn(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Upn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Characters 2..13 weighted 2..13; a final letter counts as its index in the check alphabet.
fn check_letter(rest: &[u8]) -> u8 {
    let sum: usize = rest
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let value = if c.is_ascii_digit() {
                usize::from(c - b'0')
            } else {
                CHECK_LETTERS.iter().position(|&l| l == c).unwrap_or(0)
            };
            value * (i + 2)
        })
        .sum();
    CHECK_LETTERS[sum % 23]
}

/// Special educational needs provision (DOMAIN.md: none / SEN support `K` / EHC plan `E`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub enum Sen {
    #[serde(rename = "N")]
    None,
    #[serde(rename = "K")]
    Support,
    #[serde(rename = "E")]
    EhcPlan,
}

impl Sen {
    pub fn parse(text: &str) -> Option<Sen> {
        match text.trim() {
            "" | "N" | "n" => Some(Sen::None),
            "K" | "k" => Some(Sen::Support),
            "E" | "e" => Some(Sen::EhcPlan),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Sen::None => "N",
            Sen::Support => "K",
            Sen::EhcPlan => "E",
        }
    }
}

/// One pupil as the register and the reports need them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pupil {
    pub upn: Upn,
    pub forename: String,
    pub surname: String,
    pub date_of_birth: NaiveDate,
    pub year_group: String,
    pub reg_group: String,
    pub gender: String,
    pub fsm: bool,
    pub sen: Sen,
    pub eal: bool,
    pub ethnicity: String,
    pub lac: bool,
    pub social_worker: bool,
    pub young_carer: bool,
    pub concern: bool,
    pub admission_date: NaiveDate,
    pub leaving_date: Option<NaiveDate>,
}

/// Someone to contact about a pupil, in priority order (1 first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contact {
    pub upn: Upn,
    pub priority: i64,
    pub name: String,
    pub relationship: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub parental_responsibility: bool,
    pub address_line_1: String,
    pub address_line_2: String,
    pub town: String,
    pub postcode: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_examples_follow_the_check_letter_rule() {
        assert!(Upn::parse("B801200005001").is_ok());
        // DOMAIN.md also lists Q207000016049 as valid, but its own rule gives P: digits
        // 2,0,7,0,0,0,0,1,6,0,4,9 weighted 2..13 sum to 4+28+9+60+48+117 = 266, and
        // 266 mod 23 = 13, which is P. The rule wins; the error says which letter is right.
        assert!(Upn::parse("P207000016049").is_ok());
        assert_eq!(
            Upn::parse("Q207000016049"),
            Err(UpnError::CheckLetter {
                expected: 'P',
                found: 'Q'
            })
        );
    }

    #[test]
    fn wrong_check_letter_names_the_right_one() {
        assert_eq!(
            Upn::parse("A801200005001"),
            Err(UpnError::CheckLetter {
                expected: 'B',
                found: 'A'
            })
        );
    }

    #[test]
    fn malformed_upns_are_rejected() {
        assert_eq!(Upn::parse("B80120000500"), Err(UpnError::Length(12)));
        assert_eq!(Upn::parse("B8012000050X1"), Err(UpnError::NotDigits));
        assert_eq!(Upn::parse("B80120000500I"), Err(UpnError::BadLast));
    }

    #[test]
    fn temporary_upn_letter_counts_by_alphabet_index() {
        // Last character 'A' is index 0, 'B' index 1: weight 13 on the last position.
        let digits = b"80120000500";
        let sum: usize = digits
            .iter()
            .enumerate()
            .map(|(i, d)| usize::from(d - b'0') * (i + 2))
            .sum();
        let with_b = sum + 13;
        let letter = char::from(CHECK_LETTERS[with_b % 23]);
        let text = format!("{letter}80120000500B");
        assert!(Upn::parse(&text).is_ok(), "{text}");
    }

    #[test]
    fn from_digits_round_trips() {
        let upn = Upn::from_digits(b"801200005001");
        assert_eq!(upn.as_str(), "B801200005001");
    }
}
