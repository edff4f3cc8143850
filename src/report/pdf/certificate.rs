//! Attendance certificates: A4 landscape, a page format of their own.

use super::layout::{at_most, fit_width};
use super::page::{
    A4_LONG_MM, A4_SHORT_MM, ACCENT, Align, BLACK, MUTED, Page, Style, printable, wrap,
};
use crate::delivery::channel::letter::{Face, metrics, pt_to_mm, text_width_mm};
use crate::report::document::Certificate;

// ---------------------------------------------------------------------------------------
// Certificates: A4 landscape.

pub(super) const CERT_WIDTH_MM: f32 = A4_LONG_MM;
pub(super) const CERT_HEIGHT_MM: f32 = A4_SHORT_MM;
pub(super) const CERT_CENTRE_MM: f32 = CERT_WIDTH_MM / 2.0;
/// Text stays inside 30 mm of the page's edges, well clear of the border.
pub(super) const CERT_TEXT_WIDTH_MM: f32 = CERT_WIDTH_MM - 60.0;
pub(super) const CERT_HEADING_BASELINE_MM: f32 = 42.0;
/// The lowest baseline of the centred text; the signature block is below it.
pub(super) const CERT_TEXT_BOTTOM_MM: f32 = 158.0;
pub(super) const CERT_SIGNATURE_LINE_MM: f32 = 176.0;
pub(super) const CERT_NAME_SIZES: [f32; 9] = [40.0, 36.0, 32.0, 28.0, 26.0, 24.0, 22.0, 20.0, 18.0];
pub(super) const CERT_ACHIEVEMENT_SIZES: [f32; 5] = [13.0, 12.0, 11.0, 10.0, 9.0];

pub(super) fn lay_out_certificate(c: &Certificate) -> Page {
    let mut page = Page::new(CERT_WIDTH_MM, CERT_HEIGHT_MM);
    let centre = CERT_CENTRE_MM;

    // A double border: heavy outside, hairline inside.
    page.frame(
        9.0,
        9.0,
        CERT_WIDTH_MM - 18.0,
        CERT_HEIGHT_MM - 18.0,
        ACCENT,
        2.5,
    );
    page.frame(
        12.5,
        12.5,
        CERT_WIDTH_MM - 25.0,
        CERT_HEIGHT_MM - 25.0,
        ACCENT,
        0.6,
    );

    let heading = Style::new(Face::Bold, 30.0, ACCENT);
    page.text(
        "Certificate of Attendance",
        centre,
        CERT_HEADING_BASELINE_MM,
        heading,
        Align::Centre,
    );
    let rule_y = CERT_HEADING_BASELINE_MM + 6.5;
    page.line(
        (centre - 30.0, rule_y),
        (centre + 30.0, rule_y),
        0.8,
        ACCENT,
    );

    // The centred text, as (text, style, distance from the previous baseline); the first
    // line's distance is its cap height, so the stack's height is the sum of distances.
    let mut stack: Vec<(String, Style, f32)> = Vec::new();
    let intro = Style::new(Face::Regular, 12.0, MUTED);
    stack.push((
        "This certificate is presented to".to_owned(),
        intro,
        intro.cap(),
    ));

    // The name: as large as fits on one line, else wrapped at the smallest size.
    let name = printable(c.pupil.trim());
    let name_size = CERT_NAME_SIZES
        .into_iter()
        .find(|&size| text_width_mm(&name, Face::Bold, size) <= CERT_TEXT_WIDTH_MM)
        .unwrap_or(CERT_NAME_SIZES[CERT_NAME_SIZES.len() - 1]);
    let name_style = Style::new(Face::Bold, name_size, BLACK);
    push_lines(
        &mut stack,
        &at_most(
            wrap(&name, Face::Bold, name_size, CERT_TEXT_WIDTH_MM),
            3,
            name_style,
            CERT_TEXT_WIDTH_MM,
        ),
        name_style,
        7.0 + name_style.cap(),
        1.15,
    );
    let group = Style::new(Face::Regular, 14.0, BLACK);
    push_lines(
        &mut stack,
        &lines_of(&c.group, group, CERT_TEXT_WIDTH_MM),
        group,
        // Clear of the name's descenders, however large the name is set.
        5.0 + group.cap() + pt_to_mm(name_size * metrics::DESCENT),
        1.25,
    );
    let period = Style::new(Face::Bold, 14.0, BLACK);
    let school = Style::new(Face::Regular, 12.5, MUTED);
    let mut tail = Vec::new();
    push_lines(
        &mut tail,
        &lines_of(&c.period, period, CERT_TEXT_WIDTH_MM),
        period,
        12.0,
        1.25,
    );
    push_lines(
        &mut tail,
        &lines_of(&c.school, school, CERT_TEXT_WIDTH_MM),
        school,
        7.0,
        1.25,
    );

    // The achievement, wrapped and shrunk (then shortened) to fit the space left.
    let region = CERT_TEXT_BOTTOM_MM - (rule_y + 8.0);
    let achievement = c.achievement.trim();
    if !achievement.is_empty() {
        let fixed: f32 = stack.iter().chain(&tail).map(|l| l.2).sum::<f32>() + 11.0;
        let room = region - fixed;
        let width = CERT_TEXT_WIDTH_MM - 30.0;
        let smallest = CERT_ACHIEVEMENT_SIZES[CERT_ACHIEVEMENT_SIZES.len() - 1];
        let size = CERT_ACHIEVEMENT_SIZES
            .into_iter()
            .find(|&size| {
                let lines = wrap(achievement, Face::Regular, size, width).len();
                pt_to_mm(size * 1.4) * (lines - 1) as f32 <= room
            })
            .unwrap_or(smallest);
        let style = Style::new(Face::Regular, size, BLACK);
        let keep = (room / pt_to_mm(size * 1.4)).floor().max(0.0) as usize + 1;
        let lines = at_most(
            wrap(achievement, style.face, size, width),
            keep,
            style,
            width,
        );
        push_lines(&mut stack, &lines, style, 11.0, 1.4);
    }
    stack.extend(tail);

    // Centred vertically between the heading's rule and the signatures.
    let height: f32 = stack.iter().map(|l| l.2).sum();
    let mut y = rule_y + 8.0 + ((region - height) / 2.0).max(0.0);
    for (line, style, space) in stack {
        y += space;
        page.text(&line, centre, y, style, Align::Centre);
    }

    // Signature on the left, date on the right, both on lines.
    let block = 72.0;
    let sign_centre = 95.0;
    let date_centre = CERT_WIDTH_MM - 95.0;
    let line_y = CERT_SIGNATURE_LINE_MM;
    for x in [sign_centre, date_centre] {
        page.line(
            (x - block / 2.0, line_y),
            (x + block / 2.0, line_y),
            0.6,
            BLACK,
        );
    }
    let signatory = Style::new(Face::Bold, 11.0, BLACK);
    let role = Style::new(Face::Regular, 10.0, MUTED);
    let date = Style::new(Face::Regular, 12.0, BLACK);
    let fit = |text: &str, style: Style| fit_width(&printable(text.trim()), style, block + 20.0);
    let placed = [
        (
            fit(&c.signatory, signatory),
            sign_centre,
            line_y + 5.5,
            signatory,
        ),
        (
            fit(&c.signatory_role, role),
            sign_centre,
            line_y + 10.5,
            role,
        ),
        (fit(&c.date, date), date_centre, line_y - 2.5, date),
        ("Date".to_owned(), date_centre, line_y + 5.5, role),
    ];
    for (text, x, baseline, style) in placed {
        page.text(&text, x, baseline, style, Align::Centre);
    }
    page
}

/// Non-empty wrapped lines of `text`.
pub(super) fn lines_of(text: &str, style: Style, width: f32) -> Vec<String> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    at_most(
        wrap(text.trim(), style.face, style.size, width),
        2,
        style,
        width,
    )
}

/// Adds `lines` to a centred stack: the first `first` below the previous baseline, the
/// rest `factor` × the size apart.
pub(super) fn push_lines(
    stack: &mut Vec<(String, Style, f32)>,
    lines: &[String],
    style: Style,
    first: f32,
    factor: f32,
) {
    for (i, line) in lines.iter().enumerate() {
        let space = if i == 0 {
            first
        } else {
            pt_to_mm(style.size * factor)
        };
        stack.push((line.clone(), style, space));
    }
}
