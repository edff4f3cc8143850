//! Printable letters as PDF, positioned for a window envelope, batched one PDF per day.
//!
//! The office prints the day's batch in one go, folds each letter and puts it in a window
//! envelope, so the layout is fixed rather than flowing: the recipient's address must land
//! inside the window whatever the letter says, and nothing else may show through it.
//!
//! Only the PDF standard fonts Helvetica and Helvetica-Bold are used. They need no font
//! files (every PDF viewer and printer has them), which keeps the daemon free of system
//! font dependencies, at the price of the `WinAnsiEncoding` character set; see
//! [`printable`] for what happens to characters outside it.
//!
//! # Page geometry (A4 portrait, 210 mm × 297 mm, measured from the top-left corner)
//!
//! | Area | Position | Why |
//! |---|---|---|
//! | Letterhead | centred, school name baseline 18 mm, ends above 41 mm | clear of the window |
//! | Envelope window | left 20 mm, top 45 mm, 90 mm × 35 mm | standard UK DL/C5 window envelope |
//! | Address block | inset 5 mm left/right, 4 mm top/bottom: x 25–105 mm, y 49–76 mm, centred vertically | a folded A4 sheet slides a few mm inside a DL envelope; the inset keeps every line visible |
//! | Date, reference | right-aligned at 190 mm, baselines from 51 mm, never left of 115 mm | outside the window, so it does not show through |
//! | Heading (bold) | first baseline 92 mm | below the window (ends at 80 mm) and below the top fold of a DL tri-fold (99 mm is the first fold, so the heading shows when the letter is unfolded) |
//! | Body | 20–190 mm (170 mm wide), baselines down to 270 mm | 20 mm margins fit every office printer |
//! | Continuation pages | small header at 15 mm, body from 28 mm | no address block: only page one goes in the window |
//!
//! The address block shrinks from 10 pt to 8 pt before giving up: an address that cannot
//! fit the window is an error ([`LetterError::AddressDoesNotFit`]), never a clipped line,
//! because a half-visible address is a misdelivered letter about someone's child.

use chrono::NaiveDate;
use printpdf::{
    BuiltinFont, Color, Greyscale, Line, LinePoint, Mm, Op, PdfDocument, PdfFontHandle, PdfPage,
    PdfParseErrorSeverity, PdfSaveOptions, Point, Pt, TextItem, TextMatrix,
};

/// One letter to one household.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Letter {
    pub school_name: String,
    /// Letterhead lines, printed joined with ", " under the school name.
    pub school_address: Vec<String>,
    /// Printed under the address, e.g. "01227 000000 · office@school.sch.uk".
    pub school_contact: String,
    /// Printed as "23 November 2026".
    pub date: NaiveDate,
    /// First line of the window address: "Mr and Mrs Lovelace".
    pub recipient_name: String,
    /// Postal lines, postcode last, as Royal Mail wants them.
    pub recipient_address: Vec<String>,
    /// An opaque reference so a parent can quote it when they phone; printed small, with
    /// "Ref: " in front unless it already starts with "Ref".
    pub reference: String,
    /// Bold subject line: "Re: Ada Lovelace, Year 4".
    pub heading: String,
    /// Body text, including the salutation if there is one. A `\n` inside a paragraph is a
    /// hard line break. Long bodies continue on further pages.
    pub paragraphs: Vec<String>,
    /// "Yours sincerely".
    pub sign_off: String,
    pub signatory: String,
    /// "Attendance Officer".
    pub signatory_role: String,
}

/// Why a batch could not be rendered. `index` is the letter's position in the slice given
/// to [`render`], so the caller can set that one letter aside and print the rest; no
/// names or addresses are included, because these messages end up in logs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LetterError {
    #[error("no letters to render: the batch is empty, so there is nothing to print")]
    NoLetters,
    #[error("letter {index}: the recipient name is empty, so the envelope would have no addressee")]
    NoRecipientName { index: usize },
    #[error("letter {index}: the recipient address has no lines, so it cannot be posted")]
    NoRecipientAddress { index: usize },
    #[error(
        "letter {index}: the recipient address does not fit the envelope window even at 8 pt \
         ({lines} lines, the widest {widest_mm:.0} mm; at most {max_lines} lines of at most \
         {max_width_mm:.0} mm fit)"
    )]
    AddressDoesNotFit {
        index: usize,
        lines: usize,
        widest_mm: f32,
        max_lines: usize,
        max_width_mm: f32,
    },
    #[error(
        "letter {index}: the school letterhead (name, address, contact) needs {needed_mm:.0} mm \
         and would reach into the envelope window, which starts at {limit_mm:.0} mm; shorten \
         the school address or contact line"
    )]
    LetterheadTooLong {
        index: usize,
        needed_mm: f32,
        limit_mm: f32,
    },
    #[error("the PDF writer reported an error: {0}")]
    Pdf(String),
}

/// Renders a batch of letters into one PDF, each letter starting on a new page, in the
/// order given, so the office prints the day's letters in one go.
///
/// Print single-sided: a one-page letter followed by another letter would otherwise put
/// the next family's letter on its back.
pub fn render(letters: &[Letter]) -> Result<Vec<u8>, LetterError> {
    if letters.is_empty() {
        return Err(LetterError::NoLetters);
    }
    let mut pages = Vec::new();
    for (index, letter) in letters.iter().enumerate() {
        pages.extend(lay_out(letter, index)?.iter().map(Sheet::to_pdf_page));
    }
    // The title is document metadata anyone can read in a viewer: no names in it.
    let mut doc = PdfDocument::new("Letters");
    doc.with_pages(pages);
    save(&doc).map_err(LetterError::Pdf)
}

/// Writes a PDF, turning the writer's errors (not its warnings) into an error message.
pub(crate) fn save(doc: &PdfDocument) -> Result<Vec<u8>, String> {
    let mut warnings = Vec::new();
    let bytes = doc.save(&PdfSaveOptions::default(), &mut warnings);
    match warnings
        .iter()
        .find(|w| w.severity == PdfParseErrorSeverity::Error)
    {
        Some(error) => Err(error.msg.clone()),
        None => Ok(bytes),
    }
}

/// One letter as its own PDF, e.g. to attach to an email or reprint a single letter.
pub fn render_one(letter: &Letter) -> Result<Vec<u8>, LetterError> {
    render(std::slice::from_ref(letter))
}

/// Where things go on the page, in millimetres from the top-left corner (the way a ruler
/// on the printed sheet reads), converted to PDF's bottom-left points only when drawing.
pub mod geometry {
    pub const PAGE_WIDTH_MM: f32 = 210.0;
    pub const PAGE_HEIGHT_MM: f32 = 297.0;
    pub const MARGIN_LEFT_MM: f32 = 20.0;
    pub const MARGIN_RIGHT_MM: f32 = 20.0;
    /// The envelope window as it falls on the unfolded first page.
    pub const WINDOW_LEFT_MM: f32 = 20.0;
    pub const WINDOW_TOP_MM: f32 = 45.0;
    pub const WINDOW_WIDTH_MM: f32 = 90.0;
    pub const WINDOW_HEIGHT_MM: f32 = 35.0;
    /// Kept clear inside the window's left and right edges: the sheet slides sideways.
    pub const WINDOW_INSET_X_MM: f32 = 5.0;
    /// Kept clear inside the window's top and bottom edges: the sheet slides up and down.
    pub const WINDOW_INSET_Y_MM: f32 = 4.0;
    /// Date and reference stay right of this, so they never show through the window.
    pub const RIGHT_COLUMN_LEFT_MM: f32 = 115.0;
    pub const DATE_BASELINE_MM: f32 = 51.0;
    pub const HEADING_BASELINE_MM: f32 = 92.0;
    /// The lowest baseline body text may use.
    pub const BODY_BOTTOM_MM: f32 = 270.0;
    pub const CONTINUATION_HEADER_BASELINE_MM: f32 = 15.0;
    pub const CONTINUATION_BODY_TOP_MM: f32 = 28.0;
    pub const FOOTER_BASELINE_MM: f32 = 283.0;
}

use geometry::*;

const BODY_SIZE: f32 = 11.0;
const BODY_LEADING_PT: f32 = 14.5;
const PARAGRAPH_GAP_MM: f32 = 3.5;
/// Room for a handwritten signature between the sign-off and the printed name.
const SIGNATURE_SPACE_MM: f32 = 16.0;
const SMALL_SIZE: f32 = 8.5;
/// Letterhead must end this far above the window so none of it shows through.
const LETTERHEAD_LIMIT_MM: f32 = WINDOW_TOP_MM - 4.0;
const ADDRESS_SIZES: [f32; 5] = [10.0, 9.5, 9.0, 8.5, 8.0];
const GREY: f32 = 0.35;

pub(crate) const PT_PER_MM: f32 = 72.0 / 25.4;

pub(crate) fn mm_to_pt(mm: f32) -> f32 {
    mm * PT_PER_MM
}

pub(crate) fn pt_to_mm(pt: f32) -> f32 {
    pt / PT_PER_MM
}

pub(crate) fn text_width_mm(text: &str, face: Face, size: f32) -> f32 {
    pt_to_mm(metrics::width_pt(text, face, size))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Face {
    Regular,
    Bold,
}

#[derive(Debug, Clone, Copy)]
enum Align {
    Left,
    Right,
    Centre,
}

/// A single line of text already measured and placed; `x_mm` is where it starts.
#[derive(Debug, Clone)]
struct Run {
    x_mm: f32,
    baseline_mm: f32,
    face: Face,
    size: f32,
    grey: bool,
    text: String,
}

/// One page being laid out, in top-left millimetres.
#[derive(Debug, Default)]
struct Sheet {
    runs: Vec<Run>,
    /// Horizontal hairlines: (left, right, y), all in mm.
    rules: Vec<(f32, f32, f32)>,
}

impl Sheet {
    #[allow(clippy::too_many_arguments)]
    fn text(
        &mut self,
        text: &str,
        anchor_x_mm: f32,
        baseline_mm: f32,
        face: Face,
        size: f32,
        align: Align,
        grey: bool,
    ) {
        let text = printable(text);
        if text.trim().is_empty() {
            return;
        }
        let width = text_width_mm(&text, face, size);
        let x_mm = match align {
            Align::Left => anchor_x_mm,
            Align::Right => anchor_x_mm - width,
            Align::Centre => anchor_x_mm - width / 2.0,
        };
        self.runs.push(Run {
            x_mm,
            baseline_mm,
            face,
            size,
            grey,
            text,
        });
    }

    fn to_pdf_page(&self) -> PdfPage {
        let mut ops = vec![Op::SaveGraphicsState, Op::StartTextSection];
        for run in &self.runs {
            let font = match run.face {
                Face::Regular => BuiltinFont::Helvetica,
                Face::Bold => BuiltinFont::HelveticaBold,
            };
            ops.push(Op::SetFont {
                font: PdfFontHandle::Builtin(font),
                size: Pt(run.size),
            });
            ops.push(Op::SetFillColor {
                col: grey(if run.grey { GREY } else { 0.0 }),
            });
            // An absolute text matrix per line (not relative moves), so every line's
            // position is exactly where the layout put it, whatever came before.
            ops.push(Op::SetTextMatrix {
                matrix: TextMatrix::Translate(
                    Pt(mm_to_pt(run.x_mm)),
                    Pt(mm_to_pt(PAGE_HEIGHT_MM - run.baseline_mm)),
                ),
            });
            ops.push(Op::ShowText {
                items: vec![TextItem::Text(run.text.clone())],
            });
        }
        ops.push(Op::EndTextSection);
        if !self.rules.is_empty() {
            ops.push(Op::SetOutlineColor { col: grey(0.6) });
            ops.push(Op::SetOutlineThickness { pt: Pt(0.5) });
            for &(left, right, y) in &self.rules {
                let y = Mm(PAGE_HEIGHT_MM - y);
                ops.push(Op::DrawLine {
                    line: Line {
                        points: vec![
                            LinePoint {
                                p: Point::new(Mm(left), y),
                                bezier: false,
                            },
                            LinePoint {
                                p: Point::new(Mm(right), y),
                                bezier: false,
                            },
                        ],
                        is_closed: false,
                    },
                });
            }
        }
        ops.push(Op::RestoreGraphicsState);
        PdfPage::new(Mm(PAGE_WIDTH_MM), Mm(PAGE_HEIGHT_MM), ops)
    }
}

fn grey(level: f32) -> Color {
    Color::Greyscale(Greyscale::new(level, None))
}

fn format_date(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

/// Lays one letter out on as many pages as it needs.
fn lay_out(letter: &Letter, index: usize) -> Result<Vec<Sheet>, LetterError> {
    let text_right = PAGE_WIDTH_MM - MARGIN_RIGHT_MM;
    let text_width = text_right - MARGIN_LEFT_MM;
    let mut first = Sheet::default();

    lay_out_letterhead(letter, index, &mut first)?;
    lay_out_address(letter, index, &mut first)?;

    // Date and reference, right-aligned and kept out of the window's columns.
    let right_width = text_right - RIGHT_COLUMN_LEFT_MM;
    first.text(
        &format_date(letter.date),
        text_right,
        DATE_BASELINE_MM,
        Face::Regular,
        10.0,
        Align::Right,
        false,
    );
    let mut right_bottom = DATE_BASELINE_MM;
    let reference = letter.reference.trim();
    if !reference.is_empty() {
        let labelled = if reference
            .get(..3)
            .is_some_and(|start| start.eq_ignore_ascii_case("ref"))
        {
            reference.to_string()
        } else {
            format!("Ref: {reference}")
        };
        for line in wrap(&labelled, Face::Regular, SMALL_SIZE, right_width) {
            right_bottom += 4.0;
            first.text(
                &line,
                text_right,
                right_bottom,
                Face::Regular,
                SMALL_SIZE,
                Align::Right,
                true,
            );
        }
    }

    let mut flow = Flow {
        sheets: vec![first],
        y: HEADING_BASELINE_MM.max(right_bottom + 8.0),
        fresh: false,
    };
    let leading = pt_to_mm(BODY_LEADING_PT);

    let heading = wrap(&letter.heading, Face::Bold, BODY_SIZE, text_width);
    if !letter.heading.trim().is_empty() {
        flow.place(&heading, Face::Bold, leading);
        flow.y += PARAGRAPH_GAP_MM + 1.5;
    }

    for paragraph in &letter.paragraphs {
        if paragraph.trim().is_empty() {
            // An empty paragraph is a deliberate gap, not a line of nothing.
            flow.y += PARAGRAPH_GAP_MM;
            continue;
        }
        let lines: Vec<String> = paragraph
            .split('\n')
            .flat_map(|hard_line| wrap(hard_line, Face::Regular, BODY_SIZE, text_width))
            .collect();
        flow.place(&lines, Face::Regular, leading);
        flow.y += PARAGRAPH_GAP_MM;
    }

    // The sign-off block stays together: a signature on a page of its own, detached from
    // the words it signs, looks like a page from a different letter.
    let sign_off_height = 3.0 + SIGNATURE_SPACE_MM + leading;
    if flow.y + sign_off_height > BODY_BOTTOM_MM {
        flow.new_page();
    } else {
        flow.y += 3.0;
    }
    let y = flow.y;
    let sheet = flow.current();
    sheet.text(
        &letter.sign_off,
        MARGIN_LEFT_MM,
        y,
        Face::Regular,
        BODY_SIZE,
        Align::Left,
        false,
    );
    let name_y = y + SIGNATURE_SPACE_MM;
    sheet.text(
        &letter.signatory,
        MARGIN_LEFT_MM,
        name_y,
        Face::Bold,
        BODY_SIZE,
        Align::Left,
        false,
    );
    sheet.text(
        &letter.signatory_role,
        MARGIN_LEFT_MM,
        name_y + leading,
        Face::Regular,
        BODY_SIZE,
        Align::Left,
        false,
    );

    let mut sheets = flow.sheets;
    let total = sheets.len();
    if total > 1 {
        let date = format_date(letter.date);
        for (number, sheet) in sheets.iter_mut().enumerate().map(|(i, s)| (i + 1, s)) {
            if number < total {
                sheet.text(
                    "continued \u{2026}",
                    text_right,
                    FOOTER_BASELINE_MM,
                    Face::Regular,
                    SMALL_SIZE,
                    Align::Right,
                    true,
                );
            }
            if number > 1 {
                continuation_header(letter, &date, number, total, sheet);
            }
        }
    }
    Ok(sheets)
}

/// Centred letterhead: school name, address on as few lines as fit, contact line, rule.
fn lay_out_letterhead(letter: &Letter, index: usize, sheet: &mut Sheet) -> Result<(), LetterError> {
    let centre = PAGE_WIDTH_MM / 2.0;
    let width = PAGE_WIDTH_MM - MARGIN_LEFT_MM - MARGIN_RIGHT_MM;
    // Shrink a long school name rather than wrap it: a two-line name eats the space the
    // address and contact lines need above the window.
    let name = printable(&letter.school_name);
    let name_size = [16.0, 15.0, 14.0, 13.0, 12.0]
        .into_iter()
        .find(|&size| text_width_mm(&name, Face::Bold, size) <= width)
        .unwrap_or(12.0);
    let mut lines: Vec<(String, Face, f32)> = wrap(&name, Face::Bold, name_size, width)
        .into_iter()
        .map(|l| (l, Face::Bold, name_size))
        .collect();
    let address = letter
        .school_address
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    for text in [address.as_str(), letter.school_contact.trim()] {
        if !text.is_empty() {
            lines.extend(
                wrap(text, Face::Regular, 9.0, width)
                    .into_iter()
                    .map(|l| (l, Face::Regular, 9.0)),
            );
        }
    }
    let mut baseline = 18.0;
    let mut last = baseline;
    for (i, (text, face, size)) in lines.iter().enumerate() {
        if i > 0 {
            baseline += if i == 1 { 6.0 } else { 4.0 };
        }
        sheet.text(text, centre, baseline, *face, *size, Align::Centre, i > 0);
        last = baseline;
    }
    let rule = last + 3.5;
    if rule > LETTERHEAD_LIMIT_MM {
        return Err(LetterError::LetterheadTooLong {
            index,
            needed_mm: rule,
            limit_mm: LETTERHEAD_LIMIT_MM,
        });
    }
    sheet
        .rules
        .push((MARGIN_LEFT_MM, PAGE_WIDTH_MM - MARGIN_RIGHT_MM, rule));
    Ok(())
}

/// Name and postal lines inside the window, at the largest size from 10 pt down to 8 pt
/// that fits, centred vertically so the sheet can slide either way in the envelope.
fn lay_out_address(letter: &Letter, index: usize, sheet: &mut Sheet) -> Result<(), LetterError> {
    let name = letter.recipient_name.trim();
    if name.is_empty() {
        return Err(LetterError::NoRecipientName { index });
    }
    let postal: Vec<String> = letter
        .recipient_address
        .iter()
        .map(|l| printable(l.trim()))
        .filter(|l| !l.trim().is_empty())
        .collect();
    if postal.is_empty() {
        return Err(LetterError::NoRecipientAddress { index });
    }
    let lines: Vec<String> = std::iter::once(printable(name)).chain(postal).collect();

    let left = WINDOW_LEFT_MM + WINDOW_INSET_X_MM;
    let max_width = WINDOW_WIDTH_MM - 2.0 * WINDOW_INSET_X_MM;
    let max_height = WINDOW_HEIGHT_MM - 2.0 * WINDOW_INSET_Y_MM;
    let widest_at = |size: f32| {
        lines
            .iter()
            .map(|l| text_width_mm(l, Face::Regular, size))
            .fold(0.0_f32, f32::max)
    };
    let fitting = ADDRESS_SIZES.into_iter().find(|&size| {
        widest_at(size) <= max_width && address_block_height_mm(lines.len(), size) <= max_height
    });
    let Some(size) = fitting else {
        let smallest = ADDRESS_SIZES[ADDRESS_SIZES.len() - 1];
        let max_lines = (1..=20)
            .take_while(|&n| address_block_height_mm(n, smallest) <= max_height)
            .last()
            .unwrap_or(0);
        return Err(LetterError::AddressDoesNotFit {
            index,
            lines: lines.len(),
            widest_mm: widest_at(smallest),
            max_lines,
            max_width_mm: max_width,
        });
    };
    let height = address_block_height_mm(lines.len(), size);
    let top = WINDOW_TOP_MM + (WINDOW_HEIGHT_MM - height) / 2.0;
    let leading = pt_to_mm(size * 1.2);
    let mut baseline = top + pt_to_mm(size * metrics::CAP_HEIGHT);
    for line in &lines {
        sheet.text(
            line,
            left,
            baseline,
            Face::Regular,
            size,
            Align::Left,
            false,
        );
        baseline += leading;
    }
    Ok(())
}

/// From the top of the first line's capitals to the bottom of the last line's descenders.
fn address_block_height_mm(lines: usize, size: f32) -> f32 {
    let leading = pt_to_mm(size * 1.2);
    pt_to_mm(size * (metrics::CAP_HEIGHT + metrics::DESCENT))
        + leading * lines.saturating_sub(1) as f32
}

/// "School name (continued)" on the left, "recipient · date · page n of N" on the right,
/// so a page that comes loose in the post room can be put back with its letter.
fn continuation_header(
    letter: &Letter,
    date: &str,
    number: usize,
    total: usize,
    sheet: &mut Sheet,
) {
    let right_edge = PAGE_WIDTH_MM - MARGIN_RIGHT_MM;
    let y = CONTINUATION_HEADER_BASELINE_MM;
    let right = format!(
        "{} \u{b7} {date} \u{b7} page {number} of {total}",
        printable(letter.recipient_name.trim())
    );
    let right_width = text_width_mm(&right, Face::Regular, SMALL_SIZE);
    let room = right_edge - MARGIN_LEFT_MM - right_width - 6.0;
    let left = elide(
        &format!("{} (continued)", printable(letter.school_name.trim())),
        Face::Bold,
        SMALL_SIZE,
        room,
    );
    sheet.text(
        &left,
        MARGIN_LEFT_MM,
        y,
        Face::Bold,
        SMALL_SIZE,
        Align::Left,
        false,
    );
    sheet.text(
        &right,
        right_edge,
        y,
        Face::Regular,
        SMALL_SIZE,
        Align::Right,
        true,
    );
    sheet.rules.push((MARGIN_LEFT_MM, right_edge, y + 3.0));
}

/// Shortens `text` with an ellipsis until it fits `max_mm`.
pub(crate) fn elide(text: &str, face: Face, size: f32, max_mm: f32) -> String {
    if text_width_mm(text, face, size) <= max_mm {
        return text.to_string();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let candidate: String =
            chars.iter().collect::<String>().trim_end().to_string() + "\u{2026}";
        if text_width_mm(&candidate, face, size) <= max_mm {
            return candidate;
        }
    }
    String::new()
}

/// Body text flowing down the pages of one letter.
struct Flow {
    sheets: Vec<Sheet>,
    /// Baseline of the next line, in mm from the top.
    y: f32,
    /// Nothing has been placed on the current page yet (so breaking again is pointless).
    fresh: bool,
}

impl Flow {
    fn current(&mut self) -> &mut Sheet {
        if self.sheets.is_empty() {
            self.sheets.push(Sheet::default());
        }
        let last = self.sheets.len() - 1;
        &mut self.sheets[last]
    }

    fn new_page(&mut self) {
        self.sheets.push(Sheet::default());
        self.y = CONTINUATION_BODY_TOP_MM;
        self.fresh = true;
    }

    fn lines_that_fit(&self, leading: f32) -> usize {
        if self.y > BODY_BOTTOM_MM {
            0
        } else {
            ((BODY_BOTTOM_MM - self.y) / leading).floor() as usize + 1
        }
    }

    /// Places a paragraph's lines, breaking pages so that no page ends with a paragraph's
    /// lone first line or starts with its lone last line (both read as mistakes).
    fn place(&mut self, lines: &[String], face: Face, leading: f32) {
        let mut rest = lines;
        while !rest.is_empty() {
            let fit = self.lines_that_fit(leading);
            let take = if fit >= rest.len() {
                rest.len()
            } else if self.fresh {
                fit.max(1)
            } else if fit <= 1 {
                0
            } else if rest.len() - fit == 1 && fit >= 3 {
                fit - 1
            } else {
                fit
            };
            let (now, later) = rest.split_at(take.min(rest.len()));
            for line in now {
                let y = self.y;
                self.current()
                    .text(line, MARGIN_LEFT_MM, y, face, BODY_SIZE, Align::Left, false);
                self.y += leading;
                self.fresh = false;
            }
            rest = later;
            if !rest.is_empty() {
                self.new_page();
            }
        }
    }
}

/// Greedy word wrap to `max_mm` using Helvetica's real advance widths. A word longer than
/// a whole line (a URL, a reference) is broken between characters rather than overflowing
/// the margin. Always returns at least one line.
pub(crate) fn wrap(text: &str, face: Face, size: f32, max_mm: f32) -> Vec<String> {
    let text = printable(text);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if text_width_mm(&candidate, face, size) <= max_mm {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if text_width_mm(word, face, size) <= max_mm {
            line = word.to_string();
            continue;
        }
        for c in word.chars() {
            let mut candidate = line.clone();
            candidate.push(c);
            if !line.is_empty() && text_width_mm(&candidate, face, size) > max_mm {
                lines.push(std::mem::take(&mut line));
                line.push(c);
            } else {
                line = candidate;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Text as the builtin fonts can print it.
///
/// The standard fonts are written with `WinAnsiEncoding` (Windows-1252), which printpdf
/// encodes correctly (so "Zoë", "Siân", "Séan", "Œ", "€", "–" all print), but anything
/// outside it would silently become `?`. To lose less, this:
/// - composes a letter followed by a combining accent ("e\u{308}" from a decomposed
///   export) into the single WinAnsi letter "ë";
/// - drops the accent from Latin letters WinAnsi lacks ("Łukasz" → "Lukasz",
///   "Dafydd ap Gwŷn" → "Dafydd ap Gwyn", "Ștefan" → "Stefan");
/// - maps typographic variants to their WinAnsi twins (non-breaking hyphen → "-", odd
///   spaces → " ") and control characters (tabs, stray newlines) to spaces;
/// - and only then turns what is left (other scripts, emoji) into `?`.
///
/// It runs before measuring, so the word wrap measures exactly what is printed.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        // A soft hyphen is WinAnsi but prints as a visible hyphen mid-word: drop it.
        if c == '\u{AD}' {
            continue;
        }
        if metrics::win_ansi_byte(c).is_some() {
            out.push(c);
            continue;
        }
        if let Some(mark) = combining_mark(c) {
            if let Some(composed) = out
                .pop()
                .and_then(|base| compose(base, mark).or(Some(base)))
            {
                out.push(composed);
            }
            continue;
        }
        match c {
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => {}
            c if c.is_control() => out.push(' '),
            '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => out.push(' '),
            '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2043}' | '\u{2212}' => out.push('-'),
            '\u{2015}' => out.push('\u{2014}'),
            '\u{2032}' | '\u{02BC}' | '\u{201B}' => out.push('\u{2019}'),
            '\u{2033}' | '\u{201F}' => out.push('\u{201D}'),
            '\u{2044}' | '\u{2215}' => out.push('/'),
            c => out.push(fold_extended(c).or_else(|| strip_accent(c)).unwrap_or('?')),
        }
    }
    out
}

/// U+1EA0..=U+1EF9, one WinAnsi letter per code point, in order: a circumflex is kept
/// over a tone mark ("ế" → "ê"), a tone mark over a breve or horn ("ắ" → "á", "ớ" → "ó"),
/// and a dot below or hook above is dropped ("ạ" → "a").
const VIETNAMESE: &str = concat!(
    "AaAaÂâÂâÂâÂâÂâÁáÀàAaÃãAa",
    "EeEeEeÊêÊêÊêÊêÊê",
    "IiIi",
    "OoOoÔôÔôÔôÔôÔôÓóÒòOoÕõOo",
    "UuUuÚúÙùUuUuUu",
    "YyYyYyYy",
);

/// `upper`, or its lower case when `c` (an even/odd pair's odd half) is lower case.
fn dotted(upper: char, c: char) -> char {
    if (c as u32) % 2 == 1 {
        upper.to_ascii_lowercase()
    } else {
        upper
    }
}

/// Vietnamese letters (Latin Extended Additional, also used by Yoruba) and dotted letters
/// folded to the nearest WinAnsi letter, so "Nguyễn" prints as "Nguyên", not "Nguy?n".
fn fold_extended(c: char) -> Option<char> {
    Some(match c as u32 {
        0x1A0 => 'O',
        0x1A1 => 'o',
        0x1AF => 'U',
        0x1B0 => 'u',
        // Dots below in Yoruba ("Ọ̀ṣun") and transliterations ("Ḥasan", "Ṭāriq").
        0x1E0C | 0x1E0D => dotted('D', c),
        0x1E24 | 0x1E25 => dotted('H', c),
        0x1E36 | 0x1E37 => dotted('L', c),
        0x1E42 | 0x1E43 => dotted('M', c),
        0x1E46 | 0x1E47 => dotted('N', c),
        0x1E5A | 0x1E5B => dotted('R', c),
        0x1E62 | 0x1E63 => dotted('S', c),
        0x1E6C | 0x1E6D => dotted('T', c),
        0x1E92 | 0x1E93 => dotted('Z', c),
        code @ 0x1EA0..=0x1EF9 => VIETNAMESE
            .chars()
            .nth((code - 0x1EA0) as usize)
            .unwrap_or(c),
        _ => return None,
    })
}

/// Which accent a combining character adds, named by the spacing accent WinAnsi has.
fn combining_mark(c: char) -> Option<char> {
    Some(match c {
        '\u{300}' => '`',
        '\u{301}' => '\u{B4}',
        '\u{302}' => '^',
        '\u{303}' => '~',
        '\u{308}' => '\u{A8}',
        '\u{30A}' => '\u{B0}',
        '\u{327}' => '\u{B8}',
        '\u{30C}' => 'v',
        // Other combining marks (U+0300–U+036F) are dropped, keeping the base letter.
        '\u{300}'..='\u{36F}' => '\0',
        _ => return None,
    })
}

/// The precomposed WinAnsi letter for `base` + `mark`, if there is one.
fn compose(base: char, mark: char) -> Option<char> {
    let (bases, composed) = match mark {
        '`' => ("AEIOUaeiou", "ÀÈÌÒÙàèìòù"),
        '\u{B4}' => ("AEIOUYaeiouy", "ÁÉÍÓÚÝáéíóúý"),
        '^' => ("AEIOUaeiou", "ÂÊÎÔÛâêîôû"),
        '~' => ("ANOano", "ÃÑÕãñõ"),
        '\u{A8}' => ("AEIOUYaeiouy", "ÄËÏÖÜŸäëïöüÿ"),
        '\u{B0}' => ("Aa", "Åå"),
        '\u{B8}' => ("Cc", "Çç"),
        'v' => ("SZsz", "ŠŽšž"),
        _ => return None,
    };
    let at = bases.chars().position(|b| b == base)?;
    composed.chars().nth(at)
}

/// Base letters for U+0100..=U+017F (Latin Extended-A), one per code point, in order.
/// Letters WinAnsi already has (Œ œ Š š Ÿ Ž ž) never get here; Hungarian ő/ű become ö/ü,
/// the nearest WinAnsi letters.
const EXTENDED_A: &str = concat!(
    "AaAaAaCcCcCcCcDd",
    "DdEeEeEeEeEeGgGg",
    "GgGgHhHhIiIiIiIi",
    "IiIiJjKkkLlLlLlL",
    "lLlNnNnNnnNnOoOo",
    "ÖöOoRrRrRrSsSsSs",
    "SsTtTtTtUuUuUuUu",
    "ÜüUuWwYyYZzZzZzs",
);

/// The base letter of an accented Latin letter that WinAnsi does not have.
fn strip_accent(c: char) -> Option<char> {
    let code = c as u32;
    match code {
        0x100..=0x17F => EXTENDED_A.chars().nth((code - 0x100) as usize),
        0x218 => Some('S'),
        0x219 => Some('s'),
        0x21A => Some('T'),
        0x21B => Some('t'),
        // Welsh ẁ ẃ ẅ and ỳ, which Welsh names use.
        0x1E80 | 0x1E82 | 0x1E84 => Some('W'),
        0x1E81 | 0x1E83 | 0x1E85 => Some('w'),
        0x1EF2 => Some('Y'),
        0x1EF3 => Some('y'),
        _ => None,
    }
}

/// Helvetica and Helvetica-Bold advance widths and the WinAnsi code table.
///
/// The widths are the Adobe Core 14 AFM metrics (`Helvetica.afm`, `Helvetica-Bold.afm`,
/// in 1/1000 em) for every WinAnsi code from 0x20 to 0xFF, transcribed here because the
/// standard fonts are not embedded: the viewer uses these same metrics, so a line
/// measured here is exactly as wide as it prints. Kerning is ignored (printpdf does not
/// kern builtin fonts either).
pub(crate) mod metrics {
    use super::Face;

    /// Capital height and descender depth, from the AFM, in em.
    pub const CAP_HEIGHT: f32 = 0.718;
    pub const DESCENT: f32 = 0.207;

    #[rustfmt::skip]
    const REGULAR: [u16; 224] = [
        // 0x20
        278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
        // 0x30
        556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
        // 0x40
        1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
        // 0x50
        667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
        // 0x60
        333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
        // 0x70
        556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 0,
        // 0x80
        556, 0, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0,
        // 0x90
        0, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 0, 500, 667,
        // 0xA0
        278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
        // 0xB0
        400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611,
        // 0xC0
        667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
        // 0xD0
        722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
        // 0xE0
        556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278,
        // 0xF0
        556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
    ];

    #[rustfmt::skip]
    const BOLD: [u16; 224] = [
        // 0x20
        278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
        // 0x30
        556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
        // 0x40
        975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
        // 0x50
        667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
        // 0x60
        333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
        // 0x70
        611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 0,
        // 0x80
        556, 0, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0,
        // 0x90
        0, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 0, 500, 667,
        // 0xA0
        278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333,
        // 0xB0
        400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611,
        // 0xC0
        722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
        // 0xD0
        722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
        // 0xE0
        556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278,
        // 0xF0
        611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556,
    ];

    /// Width of `text` in points; characters outside WinAnsi are measured as the `?`
    /// they will print as.
    pub fn width_pt(text: &str, face: Face, size: f32) -> f32 {
        let table = match face {
            Face::Regular => &REGULAR,
            Face::Bold => &BOLD,
        };
        let units: u32 = text
            .chars()
            .map(|c| {
                let byte = win_ansi_byte(c).unwrap_or(b'?');
                u32::from(table[usize::from(byte.saturating_sub(0x20))])
            })
            .sum();
        units as f32 * size / 1000.0
    }

    /// The WinAnsi (Windows-1252) byte for `c`, as PDF 32000-1 Annex D defines it; the
    /// same table printpdf encodes builtin-font text with.
    pub fn win_ansi_byte(c: char) -> Option<u8> {
        if let cp @ (0x20..=0x7E | 0xA0..=0xFF) = c as u32 {
            return u8::try_from(cp).ok();
        }
        Some(match c {
            '\u{20AC}' => 0x80,
            '\u{201A}' => 0x82,
            '\u{0192}' => 0x83,
            '\u{201E}' => 0x84,
            '\u{2026}' => 0x85,
            '\u{2020}' => 0x86,
            '\u{2021}' => 0x87,
            '\u{02C6}' => 0x88,
            '\u{2030}' => 0x89,
            '\u{0160}' => 0x8A,
            '\u{2039}' => 0x8B,
            '\u{0152}' => 0x8C,
            '\u{017D}' => 0x8E,
            '\u{2018}' => 0x91,
            '\u{2019}' => 0x92,
            '\u{201C}' => 0x93,
            '\u{201D}' => 0x94,
            '\u{2022}' => 0x95,
            '\u{2013}' => 0x96,
            '\u{2014}' => 0x97,
            '\u{02DC}' => 0x98,
            '\u{2122}' => 0x99,
            '\u{0161}' => 0x9A,
            '\u{203A}' => 0x9B,
            '\u{0153}' => 0x9C,
            '\u{017E}' => 0x9E,
            '\u{0178}' => 0x9F,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_letters_fold_to_the_nearest_win_ansi_letter() {
        assert_eq!(VIETNAMESE.chars().count(), 0x1EF9 - 0x1EA0 + 1);
        assert_eq!(printable("Nguyễn Thị Ánh Tuyết"), "Nguyên Thi Ánh Tuyêt");
        assert_eq!(printable("Trương Ngọc Phượng"), "Truong Ngoc Phuong");
        assert_eq!(printable("Đặng Hồng Nhung"), "Dang Hông Nhung");
        assert_eq!(printable("Ọ̀ṣun Zoë 李"), "Òsun Zoë ?");
        assert_eq!(printable("Ḥasan Ṭāriq"), "Hasan Tariq");
        assert_eq!(
            wrap("Ắ ỹ", Face::Regular, 10.0, 100.0),
            vec!["Á y".to_owned()]
        );
    }

    #[test]
    fn widths_match_the_afm_for_known_words() {
        // "Hello": H 722 + e 556 + l 222 + l 222 + o 556 = 2278 units; at 10 pt = 22.78 pt.
        assert!((metrics::width_pt("Hello", Face::Regular, 10.0) - 22.78).abs() < 1e-3);
        // Bold "Re:": R 722 + e 556 + : 333 = 1611 units; at 11 pt = 17.721 pt.
        assert!((metrics::width_pt("Re:", Face::Bold, 11.0) - 17.721).abs() < 1e-3);
        // ë is e-width (556) like e; ? for unknowns is 556 too.
        assert_eq!(
            metrics::width_pt("Zoë", Face::Regular, 1.0),
            metrics::width_pt("Zoe", Face::Regular, 1.0)
        );
    }

    #[test]
    fn printable_keeps_win_ansi_and_rescues_what_it_can() {
        assert_eq!(printable("Zoë Siân Łukasz"), "Zoë Siân Lukasz");
        assert_eq!(printable("Zoe\u{308}"), "Zoë");
        assert_eq!(printable("Gwŷn ap Ŵyn"), "Gwyn ap Wyn");
        assert_eq!(printable("Ștefan Țurcanu"), "Stefan Turcanu");
        assert_eq!(printable("Ő ű"), "Ö ü");
        assert_eq!(printable("李 🙂"), "? ?");
        assert_eq!(printable("a\tb\u{2011}c"), "a b-c");
        assert_eq!(printable("£5 – €5 “ok” …"), "£5 – €5 “ok” …");
    }

    #[test]
    fn extended_a_table_covers_the_block() {
        assert_eq!(EXTENDED_A.chars().count(), 128);
        assert_eq!(strip_accent('\u{17F}'), Some('s'));
        assert_eq!(strip_accent('\u{141}'), Some('L'));
        assert_eq!(strip_accent('\u{175}'), Some('w'));
        assert_eq!(strip_accent('\u{177}'), Some('y'));
        assert_eq!(strip_accent('\u{15F}'), Some('s'));
        assert_eq!(strip_accent('\u{11F}'), Some('g'));
    }

    #[test]
    fn wrap_respects_the_width_and_breaks_long_words() {
        let text = "The quick brown fox jumps over the lazy dog ".repeat(10);
        let lines = wrap(&text, Face::Regular, 11.0, 170.0);
        assert!(lines.len() > 1);
        for line in &lines {
            assert!(text_width_mm(line, Face::Regular, 11.0) <= 170.0, "{line}");
        }
        // Re-joined, nothing is lost.
        assert_eq!(lines.join(" "), text.trim_end());
        let long = "x".repeat(400);
        let lines = wrap(&long, Face::Regular, 11.0, 50.0);
        assert!(lines.len() > 1);
        assert_eq!(lines.concat(), long);
        assert_eq!(wrap("", Face::Regular, 11.0, 50.0), vec![String::new()]);
    }

    #[test]
    fn seven_address_lines_fit_and_twelve_do_not() {
        let max = WINDOW_HEIGHT_MM - 2.0 * WINDOW_INSET_Y_MM;
        assert!(address_block_height_mm(7, 9.0) <= max);
        assert!(address_block_height_mm(12, 8.0) > max);
    }
}
