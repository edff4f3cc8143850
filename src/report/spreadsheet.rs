//! Cells of a CSV a person opens in a spreadsheet. Excel, LibreOffice and Google Sheets run a
//! cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return before one) as a
//! formula, so a surname like `=HYPERLINK("http://evil","Click")` in a call list, an LA return
//! or a governor CSV becomes a live link or a data leak on the office PC (CSV injection,
//! OWASP). Such a cell gets a leading `'`, which spreadsheets show as text.
//!
//! Plain numbers are left alone, so `-1.5` and `-3` stay numbers a governor can sum. A phone
//! number written `+44…` is not left alone: unquoted, Excel would turn it into the number
//! 447700900123 (and show 4.477E+11); with the `'` it stays readable as written.

use std::borrow::Cow;

/// `text` as a cell that a spreadsheet shows and never runs.
pub fn safe_cell(text: &str) -> Cow<'_, str> {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(text) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// `-12`, `-0.5`: a negative figure, not a formula.
fn is_plain_number(text: &str) -> bool {
    let Some(digits) = text.strip_prefix('-') else {
        return false;
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_shown_as_text_and_figures_stay_figures() {
        assert_eq!(safe_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(safe_cell("+44 7700 900123"), "'+44 7700 900123");
        assert_eq!(safe_cell("-2+3"), "'-2+3");
        assert_eq!(safe_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(safe_cell("\t=1"), "'\t=1");
        assert_eq!(safe_cell("\r=1"), "'\r=1");
        assert_eq!(safe_cell("-1.5"), "-1.5");
        assert_eq!(safe_cell("-3"), "-3");
        assert_eq!(safe_cell("Ada"), "Ada");
        assert_eq!(safe_cell("95.3"), "95.3");
        assert_eq!(safe_cell(""), "");
    }
}
