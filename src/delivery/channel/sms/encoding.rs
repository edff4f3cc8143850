//! GSM-7/UCS-2 segment counting, so length and cost are known before a text is sent.

use std::fmt;

use crate::delivery::channel::SendError;

// ---------------------------------------------------------------------------------------------
// Segments
// ---------------------------------------------------------------------------------------------

/// The alphabet a text goes out in: one character outside GSM 03.38 turns the whole message
/// into UCS-2, which more than halves what fits in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        })
    }
}

/// How a text will be billed: providers charge per segment, so the office wants to see this
/// before a template goes out to every family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    /// What the network counts: GSM-7 septets (2 for extension characters such as €) or UTF-16
    /// code units for UCS-2 (2 for an emoji).
    pub units: usize,
    pub segments: usize,
}

impl fmt::Display for Segments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.segments == 1 { "" } else { "s" };
        write!(
            f,
            "{} segment{plural} ({}, {} characters)",
            self.segments, self.encoding, self.units
        )
    }
}

/// Septets a character takes in GSM 03.38: the basic set is 1, the extension table is 2 (an
/// escape plus the character), anything else cannot be sent in GSM-7.
pub(super) fn gsm7_units(c: char) -> Option<usize> {
    match c {
        '@'
        | '£'
        | '$'
        | '¥'
        | 'è'
        | 'é'
        | 'ù'
        | 'ì'
        | 'ò'
        | 'Ç'
        | '\n'
        | 'Ø'
        | 'ø'
        | '\r'
        | 'Å'
        | 'å'
        | 'Δ'
        | '_'
        | 'Φ'
        | 'Γ'
        | 'Λ'
        | 'Ω'
        | 'Π'
        | 'Ψ'
        | 'Σ'
        | 'Θ'
        | 'Ξ'
        | 'Æ'
        | 'æ'
        | 'ß'
        | 'É'
        | ' '
        | '!'
        | '"'
        | '#'
        | '¤'
        | '%'
        | '&'
        | '\''
        | '('
        | ')'
        | '*'
        | '+'
        | ','
        | '-'
        | '.'
        | '/'
        | '0'..='9'
        | ':'
        | ';'
        | '<'
        | '='
        | '>'
        | '?'
        | '¡'
        | 'A'..='Z'
        | 'Ä'
        | 'Ö'
        | 'Ñ'
        | 'Ü'
        | '§'
        | '¿'
        | 'a'..='z'
        | 'ä'
        | 'ö'
        | 'ñ'
        | 'ü'
        | 'à' => Some(1),
        '\u{0C}' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€' => Some(2),
        _ => None,
    }
}

/// The longest text rollcall sends: 6 segments (918 GSM-7 characters, GOV.UK Notify's own
/// limit, or 402 UCS-2). A first-day text is one or two; anything near this is a template or
/// a register field gone wrong, and sending it would cost the school dozens of segments per
/// family (a 1 MB forename once made a 6,855-segment preview).
pub const MAX_SEGMENTS: usize = 6;

/// Refuses a text longer than [`MAX_SEGMENTS`], saying how long it is; an error here is
/// permanent (the same text would be refused again) and the attendance officer is told.
pub fn check_length(text: &str) -> Result<Segments, SendError> {
    let counted = segments(text);
    if counted.segments > MAX_SEGMENTS {
        return Err(SendError::Permanent(format!(
            "the text is {counted}; rollcall sends at most {MAX_SEGMENTS} segments: shorten the \
             template, or check the register for an over-long name"
        )));
    }
    Ok(counted)
}

/// Counts segments as handsets and providers do. A multipart message loses room to the
/// concatenation header (160 → 153, 70 → 67), and an escape pair or a surrogate pair is never
/// split across two segments, so a segment can hold one unit less than the nominal size.
pub fn segments(text: &str) -> Segments {
    let gsm: Option<Vec<usize>> = text.chars().map(gsm7_units).collect();
    let (encoding, widths, single, multi) = match gsm {
        Some(widths) => (Encoding::Gsm7, widths, 160, 153),
        None => (
            Encoding::Ucs2,
            text.chars().map(char::len_utf16).collect(),
            70,
            67,
        ),
    };
    let units: usize = widths.iter().sum();
    let segments = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        let mut count = 1;
        let mut used = 0;
        for w in widths {
            if used + w > multi {
                count += 1;
                used = 0;
            }
            used += w;
        }
        count
    };
    Segments {
        encoding,
        units,
        segments,
    }
}
