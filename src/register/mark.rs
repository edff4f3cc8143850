//! Marks: the DfE attendance codes, their categories and the legacy/MIS mappings.
//!
//! Every code rollcall knows is a row of [`CODES`]; a mark is stored as its one-byte
//! [`MarkCode`] (the row's index + 1, so 0 means "no mark recorded"). Categories are
//! looked up from the table, never from scattered `match` arms.

use serde::Serialize;

/// How a mark counts (DOMAIN.md, "Codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Present,
    ApprovedEducationalActivity,
    AuthorisedAbsence,
    UnauthorisedAbsence,
    NotCounted,
}

impl Category {
    pub fn is_possible(self) -> bool {
        self != Category::NotCounted
    }
    pub fn is_attended(self) -> bool {
        matches!(
            self,
            Category::Present | Category::ApprovedEducationalActivity
        )
    }
    pub fn is_absence(self) -> bool {
        matches!(
            self,
            Category::AuthorisedAbsence | Category::UnauthorisedAbsence
        )
    }
    pub fn label(self) -> &'static str {
        match self {
            Category::Present => "present",
            Category::ApprovedEducationalActivity => "approved educational activity",
            Category::AuthorisedAbsence => "authorised absence",
            Category::UnauthorisedAbsence => "unauthorised absence",
            Category::NotCounted => "not counted",
        }
    }
}

/// One row of the code table.
#[derive(Debug, Clone, Copy)]
pub struct CodeInfo {
    pub code: &'static str,
    pub category: Category,
    pub meaning: &'static str,
    /// Removed from the 2024 table but still found in historic registers; kept as itself.
    pub legacy: bool,
}

use Category::*;

const fn code(code: &'static str, category: Category, meaning: &'static str) -> CodeInfo {
    CodeInfo {
        code,
        category,
        meaning,
        legacy: false,
    }
}

const fn legacy(code: &'static str, category: Category, meaning: &'static str) -> CodeInfo {
    CodeInfo {
        code,
        category,
        meaning,
        legacy: true,
    }
}

/// The School Attendance (Pupil Registration) (England) Regulations 2024 code table, plus the
/// two historic codes that have no 2024 equivalent and are therefore kept as themselves.
pub const CODES: &[CodeInfo] = &[
    code("/", Present, "present (AM)"),
    code("\\", Present, "present (PM)"),
    code("L", Present, "late, arrived before the register closed"),
    code(
        "B",
        ApprovedEducationalActivity,
        "other approved educational activity",
    ),
    code(
        "K",
        ApprovedEducationalActivity,
        "attending education provision arranged by the local authority",
    ),
    code(
        "P",
        ApprovedEducationalActivity,
        "approved sporting activity",
    ),
    code(
        "V",
        ApprovedEducationalActivity,
        "educational visit or trip",
    ),
    code("W", ApprovedEducationalActivity, "work experience"),
    code(
        "C",
        AuthorisedAbsence,
        "leave of absence for exceptional circumstances",
    ),
    code(
        "C1",
        AuthorisedAbsence,
        "leave for a regulated performance or regulated employment abroad",
    ),
    code("C2", AuthorisedAbsence, "leave for a part-time timetable"),
    code(
        "E",
        AuthorisedAbsence,
        "suspended or permanently excluded, no alternative provision",
    ),
    code("I", AuthorisedAbsence, "illness"),
    code("J1", AuthorisedAbsence, "leave to attend an interview"),
    code("M", AuthorisedAbsence, "medical or dental appointment"),
    code("R", AuthorisedAbsence, "religious observance"),
    code("S", AuthorisedAbsence, "study leave"),
    code(
        "T",
        AuthorisedAbsence,
        "parent travelling for occupational purposes",
    ),
    code("G", UnauthorisedAbsence, "holiday not agreed by the school"),
    code(
        "N",
        UnauthorisedAbsence,
        "no reason yet provided for absence",
    ),
    code(
        "O",
        UnauthorisedAbsence,
        "absent in other or unknown circumstances",
    ),
    code(
        "U",
        UnauthorisedAbsence,
        "arrived in school after the register closed",
    ),
    code("D", NotCounted, "dual registered, attending another school"),
    code(
        "X",
        NotCounted,
        "non-compulsory school age pupil not required to attend",
    ),
    code(
        "Q",
        NotCounted,
        "unable to attend because of a lack of access arrangements",
    ),
    code(
        "Y1",
        NotCounted,
        "transport normally provided not available",
    ),
    code("Y2", NotCounted, "widespread disruption to travel"),
    code("Y3", NotCounted, "part of the school premises closed"),
    code("Y4", NotCounted, "whole school site unexpectedly closed"),
    code("Y5", NotCounted, "in criminal justice detention"),
    code("Y6", NotCounted, "public health guidance or law"),
    code("Y7", NotCounted, "any other unavoidable cause"),
    code(
        "Z",
        NotCounted,
        "prospective pupil not on admission register",
    ),
    code("#", NotCounted, "planned whole or partial school closure"),
    legacy(
        "H",
        AuthorisedAbsence,
        "holiday agreed by the school (removed in 2024)",
    ),
    legacy(
        "Y",
        NotCounted,
        "unable to attend due to exceptional circumstances (pre-2024)",
    ),
];

/// A historic or vendor spelling that import rewrites to a code of [`CODES`], and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyMapping {
    pub from: &'static str,
    pub to: &'static str,
    pub why: &'static str,
}

pub const LEGACY_MAPPINGS: &[LegacyMapping] = &[
    LegacyMapping {
        from: "J",
        to: "J1",
        why: "pre-2024 interview code",
    },
    LegacyMapping {
        from: "I01",
        to: "I",
        why: "SIMS illness sub-code",
    },
    LegacyMapping {
        from: "I02",
        to: "I",
        why: "SIMS illness sub-code",
    },
    LegacyMapping {
        from: "X01",
        to: "X",
        why: "SIMS not-required sub-code",
    },
    LegacyMapping {
        from: "X02",
        to: "X",
        why: "SIMS not-required sub-code",
    },
    LegacyMapping {
        from: "X03",
        to: "X",
        why: "SIMS not-required sub-code",
    },
    LegacyMapping {
        from: "X04",
        to: "X",
        why: "SIMS not-required sub-code",
    },
    LegacyMapping {
        from: "X05",
        to: "X",
        why: "SIMS not-required sub-code",
    },
    LegacyMapping {
        from: "X06",
        to: "X",
        why: "SIMS not-required sub-code",
    },
    LegacyMapping {
        from: "X07",
        to: "X",
        why: "SIMS not-required sub-code",
    },
    LegacyMapping {
        from: "u",
        to: "U",
        why: "lowercase late-after-close",
    },
];

/// A stored mark: index into [`CODES`] plus one; 0 is "no mark".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MarkCode(u8);

impl MarkCode {
    pub const NONE: MarkCode = MarkCode(0);

    pub fn from_byte(byte: u8) -> Option<MarkCode> {
        if usize::from(byte) <= CODES.len() {
            Some(MarkCode(byte))
        } else {
            None
        }
    }
    pub fn byte(self) -> u8 {
        self.0
    }
    pub fn is_none(self) -> bool {
        self.0 == 0
    }
    pub fn info(self) -> Option<&'static CodeInfo> {
        usize::from(self.0)
            .checked_sub(1)
            .and_then(|i| CODES.get(i))
    }
    pub fn as_str(self) -> &'static str {
        self.info().map_or("", |i| i.code)
    }
    pub fn category(self) -> Option<Category> {
        self.info().map(|i| i.category)
    }

    /// Looks up a code exactly as written in the 2024 table (or a kept legacy code).
    pub fn parse_exact(text: &str) -> Option<MarkCode> {
        CODES
            .iter()
            .position(|c| c.code == text)
            .map(|i| MarkCode(i as u8 + 1))
    }
}

/// What a code found in a file resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    Exact(MarkCode),
    Kept(MarkCode),
    Mapped(MarkCode, &'static LegacyMapping),
}

impl Resolved {
    pub fn code(self) -> MarkCode {
        match self {
            Resolved::Exact(c) | Resolved::Kept(c) | Resolved::Mapped(c, _) => c,
        }
    }
}

/// Resolves a code as it appears in an import file: 2024 codes, kept legacy codes, then the
/// legacy/MIS mappings. Surrounding whitespace is ignored; case matters (`u` is a mapping,
/// `n` is not a code).
pub fn resolve(text: &str) -> Option<Resolved> {
    let text = text.trim();
    if let Some(code) = MarkCode::parse_exact(text) {
        let legacy = code.info().is_some_and(|i| i.legacy);
        return Some(if legacy {
            Resolved::Kept(code)
        } else {
            Resolved::Exact(code)
        });
    }
    LEGACY_MAPPINGS
        .iter()
        .find(|m| m.from == text)
        .and_then(|m| MarkCode::parse_exact(m.to).map(|c| Resolved::Mapped(c, m)))
}

/// Category of every possible stored byte, for the statistics hot loop.
pub fn category_table() -> [Option<Category>; 256] {
    let mut table = [None; 256];
    for (i, info) in CODES.iter().enumerate() {
        table[i + 1] = Some(info.category);
    }
    table
}

/// Every allowed spelling, for error messages.
/// The codes that count for nothing (not a possible session), as written in a register.
pub fn not_counted_codes() -> Vec<&'static str> {
    CODES
        .iter()
        .filter(|c| c.category == Category::NotCounted && !c.legacy)
        .map(|c| c.code)
        .collect()
}

pub fn allowed_codes_sentence() -> String {
    let current: Vec<&str> = CODES.iter().filter(|c| !c.legacy).map(|c| c.code).collect();
    let historic: Vec<&str> = CODES
        .iter()
        .filter(|c| c.legacy)
        .map(|c| c.code)
        .chain(LEGACY_MAPPINGS.iter().map(|m| m.from))
        .collect();
    format!(
        "allowed: {} (historic: {})",
        current.join(" "),
        historic.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_fits_in_a_byte_and_is_unique() {
        assert!(CODES.len() < 255);
        for (i, a) in CODES.iter().enumerate() {
            for b in &CODES[i + 1..] {
                assert_ne!(a.code, b.code);
            }
        }
    }

    #[test]
    fn categories_match_the_2024_table() {
        let cat = |s: &str| MarkCode::parse_exact(s).and_then(|c| c.category());
        for c in ["/", "\\", "L"] {
            assert_eq!(cat(c), Some(Present), "{c}");
        }
        for c in ["B", "K", "P", "V", "W"] {
            assert_eq!(cat(c), Some(ApprovedEducationalActivity), "{c}");
        }
        for c in ["C", "C1", "C2", "E", "I", "J1", "M", "R", "S", "T"] {
            assert_eq!(cat(c), Some(AuthorisedAbsence), "{c}");
        }
        for c in ["G", "N", "O", "U"] {
            assert_eq!(cat(c), Some(UnauthorisedAbsence), "{c}");
        }
        for c in [
            "D", "X", "Q", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7", "Z", "#",
        ] {
            assert_eq!(cat(c), Some(NotCounted), "{c}");
        }
        // 3 + 5 + 10 + 4 + 12 codes in 2024, plus H and Y kept from before.
        assert_eq!(CODES.len(), 34 + 2);
    }

    #[test]
    fn legacy_codes_resolve_as_domain_says() {
        let to = |s: &str| resolve(s).map(|r| r.code().as_str());
        assert_eq!(to("J"), Some("J1"));
        assert_eq!(to("I01"), Some("I"));
        assert_eq!(to("I02"), Some("I"));
        assert_eq!(to("X05"), Some("X"));
        assert_eq!(to("u"), Some("U"));
        assert!(matches!(resolve("H"), Some(Resolved::Kept(_))));
        assert_eq!(
            resolve("H").and_then(|r| r.code().category()),
            Some(AuthorisedAbsence)
        );
        assert_eq!(
            resolve("Y").and_then(|r| r.code().category()),
            Some(NotCounted)
        );
        assert!(resolve("n").is_none());
        assert!(resolve("X08").is_none());
        assert!(resolve("").is_none());
    }
}
