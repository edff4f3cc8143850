//! Reports and certificates as PDF, drawn directly (no browser) with printpdf.
//!
//! Like the letters ([`crate::delivery::channel::letter`]), only the PDF standard fonts Helvetica and
//! Helvetica-Bold are used, so no font files are needed; text goes through
//! `printable` first, which keeps every WinAnsi character ("Zoë", "–", "·") and maps the
//! rest as well as it can ("Łukasz" → "Lukasz", "Nguyễn" → "Nguyên", anything else → "?",
//! never dropped), and is measured with the same Helvetica metrics the viewer uses, so
//! nothing is placed by guesswork.
//!
//! Everything is first laid out as `Page`s of measured text runs and shapes, in
//! millimetres from the top-left corner, and only then written as PDF; the tests check the
//! layout (nothing past the margins) as well as the PDF's text.
//!
//! # Reports ([`document_pdf`]), A4 portrait
//!
//! 18 mm margins (174 mm of text width). Page one opens with the school, the title, the
//! subtitle and the meta lines; then each section: a heading (kept with what follows it),
//! paragraphs, charts drawn as horizontal bars on the same scale as the HTML's charts
//! ([`super::chart::lower_bound`] up to 100 %), and tables. A table's columns are as wide
//! as their content; a table too wide for the page is set smaller (9 pt down to 7 pt), then
//! its row labels are shortened with "…", and as a last resort its columns are split into
//! parts, each repeating the row labels. A table that runs off a page continues on the
//! next, with its heading row repeated. Every page has the footer
//! "school · title · page N of M".
//!
//! Short tables (up to ten rows) are kept whole on one page, longer ones start with at
//! least three rows; a paragraph never leaves a lone line at the foot or head of a page.
//!
//! # Certificates ([`certificates_pdf`]), A4 landscape, one per page
//!
//! A double border; "Certificate of Attendance"; the pupil's name centred, as large as
//! fits on one line (40 pt down to 18 pt, then wrapped); the group, the achievement
//! (wrapped, shrunk from 13 pt to 9 pt if long), the period and the school, centred
//! between the heading and the signature line (signatory and role) and the date.

use printpdf::{
    BuiltinFont, Color, Line, LineDashPattern, LinePoint, Mm, Op, PaintMode, PdfDocument,
    PdfFontHandle, PdfPage, Point, Pt, Rect, Rgb, TextItem, TextMatrix,
};

use super::document::{Cell, Certificate, Chart, Document, Section, Table};
use crate::delivery::channel::letter::{
    self, Face, elide, metrics, mm_to_pt, pt_to_mm, text_width_mm,
};

/// Why a PDF could not be made. No names are included: these messages end up in logs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PdfError {
    #[error("no certificates to render: the list is empty, so there is nothing to print")]
    NoCertificates,
    #[error("certificate {index}: the pupil's name is empty, so there is no one to award it to")]
    NoPupilName { index: usize },
    #[error("the PDF writer reported an error: {0}")]
    Pdf(String),
}

/// A report as an A4 portrait PDF. The PDF's title (document metadata) is the report's
/// title only.
pub fn document_pdf(doc: &Document) -> Result<Vec<u8>, PdfError> {
    save(&doc.title, &lay_out_document(doc))
}

/// Attendance certificates as an A4 landscape PDF, one certificate per page, in the order
/// given. An empty list is an error rather than an empty PDF.
pub fn certificates_pdf(certificates: &[Certificate]) -> Result<Vec<u8>, PdfError> {
    if certificates.is_empty() {
        return Err(PdfError::NoCertificates);
    }
    let mut pages = Vec::with_capacity(certificates.len());
    for (index, certificate) in certificates.iter().enumerate() {
        if certificate.pupil.trim().is_empty() {
            return Err(PdfError::NoPupilName { index });
        }
        pages.push(lay_out_certificate(certificate));
    }
    // Metadata anyone can read in a viewer: no names in it.
    save("Certificates of Attendance", &pages)
}

fn save(title: &str, pages: &[Page]) -> Result<Vec<u8>, PdfError> {
    let mut doc = PdfDocument::new(title);
    doc.with_pages(pages.iter().map(Page::to_pdf_page).collect());
    letter::save(&doc).map_err(PdfError::Pdf)
}

// ---------------------------------------------------------------------------------------
// Text.

/// Every piece of text in this file goes through [`letter::printable`], so that what is
/// measured is what is printed.
fn printable(text: &str) -> String {
    letter::printable(text)
}

/// [`letter::wrap`] of [`printable`] text.
fn wrap(text: &str, face: Face, size: f32, max_mm: f32) -> Vec<String> {
    letter::wrap(&printable(text), face, size, max_mm)
}

// ---------------------------------------------------------------------------------------
// The page model: measured runs and shapes in top-left millimetres.

const A4_SHORT_MM: f32 = 210.0;
const A4_LONG_MM: f32 = 297.0;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Colour(f32, f32, f32);

const BLACK: Colour = Colour(0.0, 0.0, 0.0);
const WHITE: Colour = Colour(1.0, 1.0, 1.0);
/// Secondary text: mid-dark grey, still readable when photocopied.
const MUTED: Colour = Colour(0.35, 0.35, 0.35);
/// Headings and the certificate border: the charts' dark blue.
const ACCENT: Colour = Colour(0.122, 0.306, 0.475);
/// Bars, as in the HTML charts (#3d6fa3).
const BAR: Colour = Colour(0.239, 0.435, 0.639);
/// The target line, as in the HTML charts (#a3321f).
const TARGET: Colour = Colour(0.639, 0.196, 0.122);
const RULE: Colour = Colour(0.55, 0.55, 0.55);
const GRID: Colour = Colour(0.85, 0.85, 0.85);
/// Every other table row.
const BAND: Colour = Colour(0.945, 0.945, 0.945);

impl Colour {
    fn pdf(self) -> Color {
        Color::Rgb(Rgb::new(self.0, self.1, self.2, None))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Align {
    Left,
    Right,
    Centre,
}

/// How a piece of text is set.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Style {
    face: Face,
    size: f32,
    colour: Colour,
}

impl Style {
    const fn new(face: Face, size: f32, colour: Colour) -> Style {
        Style { face, size, colour }
    }

    fn width(self, text: &str) -> f32 {
        text_width_mm(text, self.face, self.size)
    }

    /// Height of Helvetica's capitals, in mm.
    fn cap(self) -> f32 {
        pt_to_mm(self.size * metrics::CAP_HEIGHT)
    }
}

/// One line of text, measured and placed: it occupies `x_mm..x_mm + width_mm`.
#[derive(Debug, Clone)]
// `width_mm` is what the tests check the margins with.
#[cfg_attr(not(test), allow(dead_code))]
struct Run {
    x_mm: f32,
    baseline_mm: f32,
    width_mm: f32,
    style: Style,
    text: String,
}

#[derive(Debug, Clone)]
enum Shape {
    Line {
        from: (f32, f32),
        to: (f32, f32),
        width_pt: f32,
        colour: Colour,
        dashed: bool,
    },
    /// `x`, `y` is the top-left corner.
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Option<Colour>,
        stroke: Option<(Colour, f32)>,
    },
}

#[derive(Debug, Clone)]
struct Page {
    width_mm: f32,
    height_mm: f32,
    runs: Vec<Run>,
    shapes: Vec<Shape>,
}

impl Page {
    fn new(width_mm: f32, height_mm: f32) -> Page {
        Page {
            width_mm,
            height_mm,
            runs: Vec::new(),
            shapes: Vec::new(),
        }
    }

    /// Places one line of text; `anchor_x` is its left end, right end or centre. Returns
    /// the width used (0 when there is nothing visible to print).
    fn text(
        &mut self,
        text: &str,
        anchor_x: f32,
        baseline: f32,
        style: Style,
        align: Align,
    ) -> f32 {
        let text = printable(text);
        if text.trim().is_empty() {
            return 0.0;
        }
        let width = style.width(&text);
        let x_mm = match align {
            Align::Left => anchor_x,
            Align::Right => anchor_x - width,
            Align::Centre => anchor_x - width / 2.0,
        };
        self.runs.push(Run {
            x_mm,
            baseline_mm: baseline,
            width_mm: width,
            style,
            text,
        });
        width
    }

    fn line(&mut self, from: (f32, f32), to: (f32, f32), width_pt: f32, colour: Colour) {
        self.shapes.push(Shape::Line {
            from,
            to,
            width_pt,
            colour,
            dashed: false,
        });
    }

    fn dashed(&mut self, from: (f32, f32), to: (f32, f32), width_pt: f32, colour: Colour) {
        self.shapes.push(Shape::Line {
            from,
            to,
            width_pt,
            colour,
            dashed: true,
        });
    }

    fn fill(&mut self, x: f32, y: f32, w: f32, h: f32, colour: Colour) {
        self.shapes.push(Shape::Rect {
            x,
            y,
            w,
            h,
            fill: Some(colour),
            stroke: None,
        });
    }

    fn frame(&mut self, x: f32, y: f32, w: f32, h: f32, colour: Colour, width_pt: f32) {
        self.shapes.push(Shape::Rect {
            x,
            y,
            w,
            h,
            fill: None,
            stroke: Some((colour, width_pt)),
        });
    }

    /// Shapes first, then the text on top of them.
    fn to_pdf_page(&self) -> PdfPage {
        let point = |x: f32, y: f32| LinePoint {
            p: Point::new(Mm(x), Mm(self.height_mm - y)),
            bezier: false,
        };
        let mut ops = vec![Op::SaveGraphicsState];
        for shape in &self.shapes {
            match *shape {
                Shape::Line {
                    from,
                    to,
                    width_pt,
                    colour,
                    dashed,
                } => {
                    ops.push(Op::SetOutlineColor { col: colour.pdf() });
                    ops.push(Op::SetOutlineThickness { pt: Pt(width_pt) });
                    ops.push(Op::SetLineDashPattern {
                        dash: if dashed {
                            LineDashPattern::new(0.0, &[3.0, 2.0])
                        } else {
                            LineDashPattern::solid()
                        },
                    });
                    ops.push(Op::DrawLine {
                        line: Line {
                            points: vec![point(from.0, from.1), point(to.0, to.1)],
                            is_closed: false,
                        },
                    });
                }
                Shape::Rect {
                    x,
                    y,
                    w,
                    h,
                    fill,
                    stroke,
                } => {
                    if let Some(colour) = fill {
                        ops.push(Op::SetFillColor { col: colour.pdf() });
                    }
                    if let Some((colour, width_pt)) = stroke {
                        ops.push(Op::SetOutlineColor { col: colour.pdf() });
                        ops.push(Op::SetOutlineThickness { pt: Pt(width_pt) });
                        ops.push(Op::SetLineDashPattern {
                            dash: LineDashPattern::solid(),
                        });
                    }
                    let mode = match (fill.is_some(), stroke.is_some()) {
                        (true, true) => PaintMode::FillStroke,
                        (false, true) => PaintMode::Stroke,
                        _ => PaintMode::Fill,
                    };
                    ops.push(Op::DrawRectangle {
                        rectangle: Rect {
                            x: Pt(mm_to_pt(x)),
                            y: Pt(mm_to_pt(self.height_mm - y - h)),
                            width: Pt(mm_to_pt(w)),
                            height: Pt(mm_to_pt(h)),
                            mode: Some(mode),
                            winding_order: None,
                        },
                    });
                }
            }
        }
        ops.push(Op::StartTextSection);
        for run in &self.runs {
            let font = match run.style.face {
                Face::Regular => BuiltinFont::Helvetica,
                Face::Bold => BuiltinFont::HelveticaBold,
            };
            ops.push(Op::SetFont {
                font: PdfFontHandle::Builtin(font),
                size: Pt(run.style.size),
            });
            ops.push(Op::SetFillColor {
                col: run.style.colour.pdf(),
            });
            ops.push(Op::SetTextMatrix {
                matrix: TextMatrix::Translate(
                    Pt(mm_to_pt(run.x_mm)),
                    Pt(mm_to_pt(self.height_mm - run.baseline_mm)),
                ),
            });
            ops.push(Op::ShowText {
                items: vec![TextItem::Text(run.text.clone())],
            });
        }
        ops.push(Op::EndTextSection);
        ops.push(Op::RestoreGraphicsState);
        PdfPage::new(Mm(self.width_mm), Mm(self.height_mm), ops)
    }
}

// ---------------------------------------------------------------------------------------
// Reports.

const MARGIN_MM: f32 = 18.0;
const TOP_MM: f32 = 18.0;
const RIGHT_MM: f32 = A4_SHORT_MM - MARGIN_MM;
const TEXT_WIDTH_MM: f32 = RIGHT_MM - MARGIN_MM;
/// Nothing of the body reaches below this line.
const BODY_BOTTOM_MM: f32 = 278.0;
const FOOTER_BASELINE_MM: f32 = 288.0;

const SCHOOL: Style = Style::new(Face::Bold, 11.0, ACCENT);
const TITLE: Style = Style::new(Face::Bold, 20.0, BLACK);
const SUBTITLE: Style = Style::new(Face::Regular, 12.0, BLACK);
const META: Style = Style::new(Face::Regular, 8.5, MUTED);
const HEADING: Style = Style::new(Face::Bold, 13.0, ACCENT);
const BODY: Style = Style::new(Face::Regular, 10.0, BLACK);
const CAPTION: Style = Style::new(Face::Bold, 10.0, BLACK);
const CAPTION_CONTINUED: Style = Style::new(Face::Bold, 9.0, MUTED);
const NOTE: Style = Style::new(Face::Regular, 7.5, MUTED);
const FOOTER: Style = Style::new(Face::Regular, 7.5, MUTED);

/// The height of a line of `style` set with `factor` × its size, in mm.
fn leading(style: Style, factor: f32) -> f32 {
    pt_to_mm(style.size * factor)
}

/// `text` shortened with "…" until it fits `max_mm` (a hair of tolerance, so text measured
/// to be exactly as wide as its column is never shortened by rounding).
fn fit_width(text: &str, style: Style, max_mm: f32) -> String {
    elide(text, style.face, style.size, max_mm + 0.01)
}

/// The first `n` of `lines`, the last of them ending in "…" if any were left out.
fn at_most(mut lines: Vec<String>, n: usize, style: Style, width: f32) -> Vec<String> {
    if lines.len() > n {
        lines.truncate(n);
        if let Some(last) = lines.last_mut() {
            *last = fit_width(&format!("{last}\u{2026}"), style, width);
        }
    }
    lines
}

/// The body flowing down the pages; `y` is the top of the next line's box.
struct Flow {
    pages: Vec<Page>,
    y: f32,
    /// Nothing has been placed on the current page yet (breaking again is pointless).
    fresh: bool,
}

impl Flow {
    fn new() -> Flow {
        Flow {
            pages: vec![Page::new(A4_SHORT_MM, A4_LONG_MM)],
            y: TOP_MM,
            fresh: true,
        }
    }

    fn page(&mut self) -> &mut Page {
        if self.pages.is_empty() {
            self.pages.push(Page::new(A4_SHORT_MM, A4_LONG_MM));
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn room(&self) -> f32 {
        BODY_BOTTOM_MM - self.y
    }

    fn new_page(&mut self) {
        self.pages.push(Page::new(A4_SHORT_MM, A4_LONG_MM));
        self.y = TOP_MM;
        self.fresh = true;
    }

    /// Starts a new page unless `height` fits on this one (or this one is still empty).
    fn keep(&mut self, height: f32) {
        if height > self.room() + 1e-3 && !self.fresh {
            self.new_page();
        }
    }

    /// Vertical space between blocks; none at the top of a page.
    fn gap(&mut self, mm: f32) {
        if !self.fresh {
            self.y += mm;
        }
    }

    /// Places lines of one paragraph, each `line_height` tall, breaking pages so that no
    /// page ends with a paragraph's lone first line or starts with its lone last line.
    fn lines(&mut self, lines: &[String], style: Style, line_height: f32) {
        let mut rest = lines;
        while !rest.is_empty() {
            let fit = (self.room() / line_height + 1e-3).floor().max(0.0) as usize;
            let take = if fit >= rest.len() {
                rest.len()
            } else if self.fresh {
                fit.max(1)
            } else if fit < 2 {
                0
            } else if rest.len() - fit == 1 && fit >= 3 {
                fit - 1
            } else {
                fit
            };
            let (now, later) = rest.split_at(take.min(rest.len()));
            for line in now {
                let baseline = self.y + line_height - pt_to_mm(style.size * 0.25);
                self.page()
                    .text(line, MARGIN_MM, baseline, style, Align::Left);
                self.y += line_height;
                self.fresh = false;
            }
            rest = later;
            if !rest.is_empty() {
                self.new_page();
            }
        }
    }
}

fn lay_out_document(doc: &Document) -> Vec<Page> {
    let mut flow = Flow::new();

    // The masthead.
    let masthead: [(&str, Style, f32); 3] = [
        (doc.school.as_str(), SCHOOL, 1.35),
        (doc.title.as_str(), TITLE, 1.2),
        (doc.subtitle.as_str(), SUBTITLE, 1.35),
    ];
    for (i, (text, style, factor)) in masthead.into_iter().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        if i > 0 {
            flow.gap(1.5);
        }
        flow.lines(
            &wrap(text, style.face, style.size, TEXT_WIDTH_MM),
            style,
            leading(style, factor),
        );
    }
    if doc.meta.iter().any(|m| !m.trim().is_empty()) {
        flow.gap(2.0);
        for meta in doc.meta.iter().filter(|m| !m.trim().is_empty()) {
            flow.lines(
                &wrap(meta, META.face, META.size, TEXT_WIDTH_MM),
                META,
                leading(META, 1.35),
            );
        }
    }
    if !flow.fresh {
        let y = flow.y + 2.5;
        flow.page().line((MARGIN_MM, y), (RIGHT_MM, y), 0.6, RULE);
        flow.y = y + 3.0;
    }

    for section in &doc.sections {
        lay_out_section(&mut flow, section);
    }

    let mut pages = flow.pages;
    let total = pages.len();
    for (i, page) in pages.iter_mut().enumerate() {
        footer(page, doc, i + 1, total);
    }
    pages
}

/// "school · title · page N of M", centred; the school and title are shortened with "…"
/// if they would not fit, never the page number.
fn footer(page: &mut Page, doc: &Document, number: usize, total: usize) {
    let suffix = format!("page {number} of {total}");
    let mut front: Vec<String> = [doc.school.trim(), doc.title.trim()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(printable)
        .collect();
    front.push(String::new());
    let front = front.join(" \u{b7} ");
    let room = TEXT_WIDTH_MM - FOOTER.width(&suffix);
    let front = fit_width(&front, FOOTER, room);
    page.text(
        &format!("{front}{suffix}"),
        A4_SHORT_MM / 2.0,
        FOOTER_BASELINE_MM,
        FOOTER,
        Align::Centre,
    );
}

fn paragraph_lines(paragraph: &str) -> Vec<String> {
    paragraph
        .split('\n')
        .flat_map(|line| wrap(line, BODY.face, BODY.size, TEXT_WIDTH_MM))
        .collect()
}

fn lay_out_section(flow: &mut Flow, section: &Section) {
    let body_leading = leading(BODY, 1.4);
    let paragraphs: Vec<Vec<String>> = section
        .paragraphs
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| paragraph_lines(p))
        .collect();

    flow.gap(7.0);
    if !section.title.trim().is_empty() {
        let heading = wrap(&section.title, HEADING.face, HEADING.size, TEXT_WIDTH_MM);
        let heading_leading = leading(HEADING, 1.3);
        // A heading never ends a page: keep it with the start of what follows.
        let block = if let Some(chart) = section.charts.first() {
            chart_start_height(chart) + 4.0
        } else if let Some(table) = section.tables.first() {
            table_start_height(table) + 5.0
        } else {
            0.0
        };
        // A short introduction (three lines or fewer) stays with the chart or table it
        // introduces, so the page does not end "…, with the target." and nothing under it.
        let intro: usize = paragraphs.iter().map(Vec::len).sum();
        let next = match paragraphs.first() {
            Some(_) if intro <= 3 => {
                body_leading * intro as f32 + 2.5 * (paragraphs.len() - 1) as f32 + block
            }
            Some(first) => body_leading * first.len().min(3) as f32,
            None => block,
        };
        flow.keep(heading_leading * heading.len() as f32 + 2.0 + next);
        flow.lines(&heading, HEADING, heading_leading);
        flow.y += 2.0;
    }

    for (i, lines) in paragraphs.iter().enumerate() {
        if i > 0 {
            flow.gap(2.5);
        }
        flow.lines(lines, BODY, body_leading);
    }
    for chart in &section.charts {
        flow.gap(4.0);
        lay_out_chart(flow, chart);
    }
    for table in &section.tables {
        flow.gap(5.0);
        lay_out_table(flow, table);
    }
}

// --- Charts: horizontal bars, one row per point, values printed at the bars. -------------

const CHART_TITLE: Style = Style::new(Face::Bold, 9.5, BLACK);
const CHART_LABEL: Style = Style::new(Face::Regular, 8.5, BLACK);
const CHART_VALUE: Style = Style::new(Face::Regular, 8.5, BLACK);
const CHART_TICK: Style = Style::new(Face::Regular, 7.0, MUTED);
const CHART_TARGET: Style = Style::new(Face::Regular, 7.5, TARGET);
const BAR_ROW_MM: f32 = 5.5;
const BAR_MM: f32 = 3.6;
/// Room above the bars for the target's label (or a little air without one).
const TARGET_LABEL_MM: f32 = 4.5;
/// Room under the bars for the scale's labels.
const AXIS_MM: f32 = 5.5;
const NO_DATA: &str = "\u{2013} no data";

/// A plottable percentage, as the HTML charts have it: finite, within 0–100.
fn plottable(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite()).map(|v| v.clamp(0.0, 100.0))
}

fn chart_title_lines(chart: &Chart) -> Vec<String> {
    if chart.title.trim().is_empty() {
        return Vec::new();
    }
    wrap(
        &chart.title,
        CHART_TITLE.face,
        CHART_TITLE.size,
        TEXT_WIDTH_MM,
    )
}

fn chart_has_data(chart: &Chart) -> bool {
    chart.points.iter().any(|(_, v)| plottable(*v).is_some())
}

/// Title, target label, `rows` bars and the scale.
fn chart_height(chart: &Chart, rows: usize) -> f32 {
    let title = chart_title_lines(chart).len() as f32 * leading(CHART_TITLE, 1.3);
    if !chart_has_data(chart) {
        return title + leading(CHART_LABEL, 1.6);
    }
    title + TARGET_LABEL_MM + rows as f32 * BAR_ROW_MM + AXIS_MM
}

/// What must fit under a heading: the whole chart if it fits on a page, else its start.
fn chart_start_height(chart: &Chart) -> f32 {
    let whole = chart_height(chart, chart.points.len());
    if whole <= BODY_BOTTOM_MM - TOP_MM {
        whole
    } else {
        chart_height(chart, 3)
    }
}

/// Where the bars go, and their scale.
struct ChartScale {
    /// Right edge of the labels.
    labels_right: f32,
    /// The scale's low end (`lo`) and 100 %.
    x0: f32,
    x1: f32,
    lo: f64,
}

impl ChartScale {
    fn of(chart: &Chart) -> ChartScale {
        let widest_label = chart
            .points
            .iter()
            .map(|(l, _)| CHART_LABEL.width(&printable(l)))
            .fold(0.0_f32, f32::max);
        let labels_width = widest_label.clamp(8.0, TEXT_WIDTH_MM * 0.35);
        let labels_right = MARGIN_MM + labels_width;
        // Room right of a full bar for its value.
        let value_room = chart
            .points
            .iter()
            .filter_map(|(_, v)| v.filter(|v| v.is_finite()))
            .map(|v| CHART_VALUE.width(&Cell::Percent(Some(v)).display()))
            .fold(CHART_VALUE.width("100.0%"), f32::max)
            .min(TEXT_WIDTH_MM * 0.25)
            + 2.5;
        let reference = chart
            .reference
            .as_ref()
            .and_then(|(_, v)| plottable(Some(*v)));
        let lo = super::chart::lower_bound(
            chart
                .points
                .iter()
                .filter_map(|(_, v)| plottable(*v))
                .chain(reference),
        );
        ChartScale {
            labels_right,
            x0: labels_right + 2.5,
            x1: RIGHT_MM - value_room,
            lo,
        }
    }

    fn x(&self, v: f64) -> f32 {
        let t = ((v - self.lo) / (100.0 - self.lo)).clamp(0.0, 1.0) as f32;
        self.x0 + t * (self.x1 - self.x0)
    }

    /// Grid step, as the HTML charts choose it.
    fn step(&self) -> f64 {
        match 100.0 - self.lo {
            s if s <= 5.0 => 1.0,
            s if s <= 10.0 => 2.0,
            s if s <= 30.0 => 5.0,
            s if s <= 60.0 => 10.0,
            _ => 20.0,
        }
    }
}

fn lay_out_chart(flow: &mut Flow, chart: &Chart) {
    let title = chart_title_lines(chart);
    let title_leading = leading(CHART_TITLE, 1.3);
    if !chart_has_data(chart) {
        flow.keep(chart_height(chart, 0));
        flow.lines(&title, CHART_TITLE, title_leading);
        let line = leading(CHART_LABEL, 1.6);
        let baseline = flow.y + line - pt_to_mm(CHART_LABEL.size * 0.25);
        flow.page().text(
            "No data for this period",
            MARGIN_MM,
            baseline,
            Style {
                colour: MUTED,
                ..CHART_LABEL
            },
            Align::Left,
        );
        flow.y += line;
        return;
    }
    flow.keep(chart_start_height(chart));
    let scale = ChartScale::of(chart);
    let mut rest: &[(String, Option<f64>)] = &chart.points;
    let mut offset = 0;
    let mut first = true;
    while !rest.is_empty() {
        let fixed = chart_height(chart, 0);
        let fit = ((flow.room() - fixed) / BAR_ROW_MM + 1e-3).floor().max(0.0) as usize;
        if fit < rest.len().min(3) && !flow.fresh {
            flow.new_page();
            continue;
        }
        let take = fit.clamp(1, rest.len());
        let (now, later) = rest.split_at(take);
        if first {
            flow.lines(&title, CHART_TITLE, title_leading);
        } else {
            let continued: Vec<String> = title
                .iter()
                .take(1)
                .map(|t| {
                    let line = format!("{t} (continued)");
                    fit_width(&line, CHART_TITLE, TEXT_WIDTH_MM)
                })
                .collect();
            flow.lines(&continued, CHART_TITLE, title_leading);
        }
        chart_rows(flow, chart, &scale, now, offset);
        offset += now.len();
        rest = later;
        first = false;
        if !rest.is_empty() {
            flow.new_page();
        }
    }
}

/// Draws bars for `points` (from point `offset` of the chart) from `flow.y` (which is where
/// the target's label goes).
fn chart_rows(
    flow: &mut Flow,
    chart: &Chart,
    scale: &ChartScale,
    points: &[(String, Option<f64>)],
    offset: usize,
) {
    let top = flow.y + TARGET_LABEL_MM;
    let bottom = top + points.len() as f32 * BAR_ROW_MM;
    let page = flow.page();
    // A marked span (a holiday week) is shaded across the plot and named where a bar would be.
    let span_of = |i: usize| {
        chart
            .spans
            .iter()
            .find(|s| (s.from..=s.to).contains(&(offset + i)))
    };
    for i in (0..points.len()).filter(|i| span_of(*i).is_some()) {
        let row_top = top + i as f32 * BAR_ROW_MM;
        page.fill(scale.x0, row_top, scale.x1 - scale.x0, BAR_ROW_MM, BAND);
    }

    // Grid and scale labels.
    let step = scale.step();
    let mut tick = (scale.lo / step).ceil() * step;
    while tick <= 100.0 + 1e-9 {
        let x = scale.x(tick);
        if tick > scale.lo + 1e-9 {
            page.line((x, top), (x, bottom), 0.3, GRID);
        }
        page.text(
            &format!("{tick:.0}%"),
            x,
            bottom + 3.5,
            CHART_TICK,
            Align::Centre,
        );
        tick += step;
    }
    page.line((scale.x0, top - 0.5), (scale.x0, bottom), 0.6, RULE);

    // Behind each value's text, so the target line never runs through a figure.
    let mut clear: Vec<(f32, f32, f32)> = Vec::new();
    for (i, (label, value)) in points.iter().enumerate() {
        let row_top = top + i as f32 * BAR_ROW_MM;
        let bar_top = row_top + (BAR_ROW_MM - BAR_MM) / 2.0;
        let baseline = row_top + (BAR_ROW_MM + CHART_LABEL.cap()) / 2.0;
        let label = fit_width(
            &printable(label),
            CHART_LABEL,
            scale.labels_right - MARGIN_MM,
        );
        page.text(
            &label,
            scale.labels_right,
            baseline,
            CHART_LABEL,
            Align::Right,
        );
        let shown = value.filter(|v| v.is_finite());
        match (plottable(*value), shown) {
            (Some(v), Some(raw)) => {
                let end = scale.x(v);
                if end > scale.x0 {
                    page.fill(scale.x0, bar_top, end - scale.x0, BAR_MM, BAR);
                }
                let width = page.text(
                    &Cell::Percent(Some(raw)).display(),
                    end + 1.2,
                    baseline,
                    CHART_VALUE,
                    Align::Left,
                );
                clear.push((end + 0.6, bar_top, width + 1.2));
            }
            _ => {
                let what = span_of(i).map_or_else(
                    || NO_DATA.to_owned(),
                    |s| format!("\u{2013} {}", printable(&s.label)),
                );
                let what = fit_width(&what, CHART_VALUE, scale.x1 - scale.x0 - 3.0);
                let width = page.text(
                    &what,
                    scale.x0 + 1.5,
                    baseline,
                    Style {
                        colour: MUTED,
                        ..CHART_VALUE
                    },
                    Align::Left,
                );
                clear.push((scale.x0 + 0.9, bar_top, width + 1.2));
            }
        }
    }

    if let Some((label, v)) = &chart.reference
        && let Some(v) = plottable(Some(*v))
    {
        let x = scale.x(v);
        page.dashed((x, top - 1.0), (x, bottom), 0.9, TARGET);
        for (x, y, w) in clear {
            page.fill(x, y, w, BAR_MM, WHITE);
        }
        let label = fit_width(&printable(label), CHART_TARGET, TEXT_WIDTH_MM / 2.0);
        let width = CHART_TARGET.width(&label);
        let centre = x.clamp(scale.x0 + width / 2.0, RIGHT_MM - width / 2.0);
        page.text(&label, centre, top - 1.6, CHART_TARGET, Align::Centre);
    }
    flow.y = bottom + AXIS_MM;
    flow.fresh = false;
}

// --- Tables. -----------------------------------------------------------------------------

const TABLE_SIZES: [f32; 5] = [9.0, 8.5, 8.0, 7.5, 7.0];
/// The narrowest the row labels are squeezed to (with "…") before columns are split.
const LABEL_MIN_MM: f32 = 28.0;
/// Numeric columns are at least this wide, so a table's figures do not huddle together.
const NUMERIC_MIN_MM: f32 = 16.0;

fn column_gap(size: f32) -> f32 {
    pt_to_mm(size) * 1.4
}

fn row_height(size: f32) -> f32 {
    pt_to_mm(size * 1.65)
}

fn header_leading(size: f32) -> f32 {
    pt_to_mm(size * 1.15)
}

/// A table's text, printable, one entry per column (rows padded to the widest).
struct TableText {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Right-aligned: every column but the first, unless it holds only text.
    right: Vec<bool>,
}

impl TableText {
    fn of(table: &Table) -> TableText {
        let n = table
            .rows
            .iter()
            .map(Vec::len)
            .chain(std::iter::once(table.columns.len()))
            .max()
            .unwrap_or(0);
        let headers = (0..n)
            .map(|j| {
                table
                    .columns
                    .get(j)
                    .map(|h| printable(h.trim()))
                    .unwrap_or_default()
            })
            .collect();
        let rows = table
            .rows
            .iter()
            .map(|row| {
                (0..n)
                    .map(|j| {
                        row.get(j)
                            .map(|c| printable(&c.display()))
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .collect();
        let right = (0..n)
            .map(|j| {
                j > 0
                    && (table.rows.is_empty()
                        || table
                            .rows
                            .iter()
                            .any(|row| row.get(j).is_some_and(Cell::numeric)))
            })
            .collect();
        TableText {
            headers,
            rows,
            right,
        }
    }

    fn columns(&self) -> usize {
        self.headers.len()
    }
}

/// How one part of a table (some of its columns) is set.
#[derive(Debug, Clone)]
struct TableFit {
    size: f32,
    /// Indices into the table's columns; the first is always column 0.
    columns: Vec<usize>,
    widths: Vec<f32>,
}

impl TableFit {
    fn width(&self) -> f32 {
        self.widths.iter().sum::<f32>()
            + column_gap(self.size) * self.widths.len().saturating_sub(1) as f32
    }
}

/// Natural (headers on one line) and least (headers wrapped at spaces) widths of `columns`.
fn column_widths(text: &TableText, columns: &[usize], size: f32) -> (Vec<f32>, Vec<f32>) {
    let head = |h: &str| text_width_mm(h, Face::Bold, size);
    let mut natural = Vec::with_capacity(columns.len());
    let mut least = Vec::with_capacity(columns.len());
    for &j in columns {
        let cells = text
            .rows
            .iter()
            .map(|r| text_width_mm(&r[j], Face::Regular, size))
            .fold(0.0_f32, f32::max);
        let header = &text.headers[j];
        let word = header.split(' ').map(head).fold(0.0_f32, f32::max);
        let floor = if text.right[j] {
            NUMERIC_MIN_MM * size / 9.0
        } else {
            0.0
        };
        natural.push(cells.max(head(header)).max(floor));
        least.push(cells.max(word));
    }
    (natural, least)
}

/// The largest size at which `columns` fit the text width, widening columns towards
/// their natural widths with what room there is; at 7 pt, the row labels are shortened
/// (down to [`LABEL_MIN_MM`]) and any other column wider than the page allows is capped.
/// `None` if even that does not fit: the columns must be split.
fn fit_columns(text: &TableText, columns: &[usize]) -> Option<TableFit> {
    for size in TABLE_SIZES {
        let (natural, least) = column_widths(text, columns, size);
        let gaps = column_gap(size) * columns.len().saturating_sub(1) as f32;
        let natural_total: f32 = natural.iter().sum::<f32>() + gaps;
        let least_total: f32 = least.iter().sum::<f32>() + gaps;
        if natural_total <= TEXT_WIDTH_MM {
            return Some(TableFit {
                size,
                columns: columns.to_vec(),
                widths: natural,
            });
        }
        if least_total <= TEXT_WIDTH_MM {
            // The fewest heading lines that fit: for 2, 3, … lines, each column as narrow
            // as its heading allows in that many lines; then the room left is shared out.
            let most_words = columns
                .iter()
                .map(|&j| text.headers[j].split(' ').count())
                .max()
                .unwrap_or(1);
            let mut widths = least.clone();
            for lines in 2..most_words {
                let trial: Vec<f32> = columns
                    .iter()
                    .enumerate()
                    .map(|(k, &j)| {
                        width_for_lines(&text.headers[j], size, lines, least[k], natural[k])
                    })
                    .collect();
                if trial.iter().sum::<f32>() + gaps <= TEXT_WIDTH_MM {
                    widths = trial;
                    break;
                }
            }
            let spare = TEXT_WIDTH_MM - widths.iter().sum::<f32>() - gaps;
            let wanted: f32 = natural.iter().zip(&widths).map(|(n, w)| n - w).sum();
            if wanted > 0.0 && spare > 0.0 {
                let share = (spare / wanted).min(1.0);
                for (w, n) in widths.iter_mut().zip(&natural) {
                    *w += (n - *w) * share;
                }
            }
            return Some(TableFit {
                size,
                columns: columns.to_vec(),
                widths,
            });
        }
    }
    let size = TABLE_SIZES[TABLE_SIZES.len() - 1];
    let (_, least) = column_widths(text, columns, size);
    let gap = column_gap(size);
    let cap = TEXT_WIDTH_MM - LABEL_MIN_MM - gap;
    let others: Vec<f32> = least.iter().skip(1).map(|w| w.min(cap)).collect();
    let others_total: f32 = others.iter().map(|w| w + gap).sum();
    let label = TEXT_WIDTH_MM - others_total;
    if label + 1e-3 < LABEL_MIN_MM.min(least[0]) {
        return None;
    }
    let mut widths = vec![label.min(least[0])];
    widths.extend(others);
    Some(TableFit {
        size,
        columns: columns.to_vec(),
        widths,
    })
}

/// The narrowest width in `least..=natural` at which `header` (bold, `size`) wraps into at
/// most `lines` lines.
fn width_for_lines(header: &str, size: f32, lines: usize, least: f32, natural: f32) -> f32 {
    let count = |w: f32| wrap(header, Face::Bold, size, w).len();
    if header.is_empty() || count(least) <= lines {
        return least;
    }
    let (mut lo, mut hi) = (least, natural.max(least));
    for _ in 0..24 {
        let mid = (lo + hi) / 2.0;
        if count(mid) <= lines {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The table's parts: usually one; several, each repeating the row labels, when its
/// columns cannot fit across the page even at 7 pt.
fn fit_table(text: &TableText) -> Vec<TableFit> {
    let n = text.columns();
    if n == 0 {
        return Vec::new();
    }
    let all: Vec<usize> = (0..n).collect();
    if let Some(fit) = fit_columns(text, &all) {
        return vec![fit];
    }
    let size = TABLE_SIZES[TABLE_SIZES.len() - 1];
    let gap = column_gap(size);
    let (_, least) = column_widths(text, &all, size);
    let capacity = TEXT_WIDTH_MM - LABEL_MIN_MM;
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut used = f32::INFINITY;
    for (j, least) in least.iter().enumerate().skip(1) {
        let w = least.min(capacity - gap) + gap;
        if used + w > capacity {
            groups.push(vec![0]);
            used = 0.0;
        }
        if let Some(group) = groups.last_mut() {
            group.push(j);
        }
        used += w;
    }
    groups
        .iter()
        .map(|columns| {
            fit_columns(text, columns).unwrap_or_else(|| TableFit {
                // Unreachable by construction (each group leaves LABEL_MIN_MM for the
                // labels); kept total so a mistake shows as a cramped table, not a panic.
                size,
                columns: columns.clone(),
                widths: columns
                    .iter()
                    .map(|_| TEXT_WIDTH_MM / columns.len() as f32 - gap)
                    .collect(),
            })
        })
        .collect()
}

fn table_title_lines(title: &str) -> Vec<String> {
    if title.trim().is_empty() {
        return Vec::new();
    }
    wrap(title, CAPTION.face, CAPTION.size, TEXT_WIDTH_MM)
}

fn header_lines(text: &TableText, fit: &TableFit) -> Vec<Vec<String>> {
    fit.columns
        .iter()
        .zip(&fit.widths)
        .map(|(&j, &w)| {
            let header = &text.headers[j];
            if header.is_empty() {
                Vec::new()
            } else {
                let style = Style::new(Face::Bold, fit.size, BLACK);
                at_most(wrap(header, style.face, style.size, w), 4, style, w)
            }
        })
        .collect()
}

fn header_height(lines: &[Vec<String>], size: f32) -> f32 {
    let most = lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
    row_height(size) + header_leading(size) * (most - 1) as f32
}

fn note_lines(table: &Table) -> Vec<String> {
    table
        .note
        .iter()
        .filter(|n| !n.trim().is_empty())
        .flat_map(|n| {
            n.split('\n')
                .flat_map(|l| wrap(l, NOTE.face, NOTE.size, TEXT_WIDTH_MM))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What must fit under a heading: the table's title, heading row and first rows.
fn table_start_height(table: &Table) -> f32 {
    let text = TableText::of(table);
    let title = table_title_lines(&table.title).len() as f32 * leading(CAPTION, 1.3) + 1.5;
    match fit_table(&text).first() {
        Some(fit) => {
            let rows = text.rows.len();
            let note = if rows <= WHOLE_TABLE_ROWS {
                note_height(table)
            } else {
                0.0
            };
            title
                + header_height(&header_lines(&text, fit), fit.size)
                + row_height(fit.size) * start_rows(rows) as f32
                + note
        }
        None => title,
    }
}

/// Tables of up to this many rows are kept whole on one page, with their note.
const WHOLE_TABLE_ROWS: usize = 10;

/// How many rows must fit under a table's heading row for it to start on this page: all
/// of a short table, else three.
fn start_rows(rows: usize) -> usize {
    if rows <= WHOLE_TABLE_ROWS {
        rows.max(1)
    } else {
        3
    }
}

fn note_height(table: &Table) -> f32 {
    let lines = note_lines(table).len();
    if lines == 0 {
        0.0
    } else {
        1.5 + leading(NOTE, 1.35) * lines as f32
    }
}

fn lay_out_table(flow: &mut Flow, table: &Table) {
    let text = TableText::of(table);
    let fits = fit_table(&text);
    let title = table_title_lines(&table.title);
    let title_leading = leading(CAPTION, 1.3);
    let notes = note_lines(table);
    let note_leading = leading(NOTE, 1.35);
    let note_height = if notes.is_empty() {
        0.0
    } else {
        1.5 + note_leading * notes.len() as f32
    };

    if fits.is_empty() {
        flow.keep(title_leading * title.len() as f32 + note_height);
        flow.lines(&title, CAPTION, title_leading);
    }
    let parts = fits.len();
    for (part, fit) in fits.iter().enumerate() {
        if part > 0 {
            flow.gap(5.0);
        }
        let caption: Vec<String> = if parts > 1 {
            let label = format!(
                "{} (part {} of {parts})",
                printable(table.title.trim()),
                part + 1
            );
            wrap(label.trim(), CAPTION.face, CAPTION.size, TEXT_WIDTH_MM)
        } else {
            title.clone()
        };
        lay_out_table_part(flow, &text, fit, &caption, note_height);
    }
    if !notes.is_empty() {
        flow.gap(1.5);
        flow.lines(&notes, NOTE, note_leading);
    }
}

fn lay_out_table_part(
    flow: &mut Flow,
    text: &TableText,
    fit: &TableFit,
    caption: &[String],
    note_height: f32,
) {
    let title_leading = leading(CAPTION, 1.3);
    let headers = header_lines(text, fit);
    let head_h = header_height(&headers, fit.size);
    let row_h = row_height(fit.size);
    let caption_h = title_leading * caption.len() as f32 + 1.5;
    let total = text.rows.len();

    // The title, heading row and at least three rows (all of a short table, with its
    // note) start together.
    let note = if total <= WHOLE_TABLE_ROWS {
        note_height
    } else {
        0.0
    };
    let start = caption_h + head_h + row_h * start_rows(total) as f32 + note;
    flow.keep(start);

    let mut done = 0;
    let mut continued = false;
    loop {
        if continued {
            let line = format!("{} (continued)", caption.first().map_or("", String::as_str));
            let line = fit_width(line.trim(), CAPTION_CONTINUED, TEXT_WIDTH_MM);
            flow.lines(&[line], CAPTION_CONTINUED, title_leading);
            flow.y += 1.5;
        } else {
            flow.lines(caption, CAPTION, title_leading);
            flow.y += 1.5;
        }
        table_header(flow, text, fit, &headers, head_h);
        let left = total - done;
        let fit_rows = (flow.room() / row_h + 1e-3).floor().max(0.0) as usize;
        let with_note = ((flow.room() - note_height) / row_h + 1e-3)
            .floor()
            .max(0.0) as usize;
        let take = if with_note >= left {
            left
        } else if fit_rows >= left {
            // The rows fit but the note does not: carry the last two rows over with it,
            // so the note does not start a page on its own.
            if left > 3 { left - 2 } else { left }
        } else if left - fit_rows == 1 && fit_rows >= 4 {
            // Never leave a lone last row for the next page.
            fit_rows - 1
        } else {
            fit_rows.max(1)
        };
        let take = take.min(left);
        for i in done..done + take {
            table_row(flow, text, fit, i, row_h);
        }
        done += take;
        let y = flow.y;
        flow.page()
            .line((MARGIN_MM, y), (MARGIN_MM + fit.width(), y), 0.4, RULE);
        if total == 0 {
            let baseline = flow.y + row_h - pt_to_mm(fit.size * 0.4);
            flow.page().text(
                "No rows",
                MARGIN_MM,
                baseline,
                Style::new(Face::Regular, fit.size, MUTED),
                Align::Left,
            );
            flow.y += row_h;
        }
        if done >= total {
            break;
        }
        flow.new_page();
        continued = true;
    }
}

fn table_header(
    flow: &mut Flow,
    text: &TableText,
    fit: &TableFit,
    headers: &[Vec<String>],
    height: f32,
) {
    let style = Style::new(Face::Bold, fit.size, BLACK);
    let top = flow.y;
    let last_baseline = top + height - (row_height(fit.size) - style.cap()) / 2.0;
    let gap = column_gap(fit.size);
    let page = flow.page();
    let mut x = MARGIN_MM;
    for ((&j, &w), lines) in fit.columns.iter().zip(&fit.widths).zip(headers) {
        let right = text.right[j];
        let count = lines.len();
        for (k, line) in lines.iter().enumerate() {
            let baseline = last_baseline - header_leading(fit.size) * (count - 1 - k) as f32;
            let line = fit_width(line, style, w);
            if right {
                page.text(&line, x + w, baseline, style, Align::Right);
            } else {
                page.text(&line, x, baseline, style, Align::Left);
            }
        }
        x += w + gap;
    }
    let y = top + height;
    page.line((MARGIN_MM, y), (MARGIN_MM + fit.width(), y), 0.8, BLACK);
    flow.y = y + 0.4;
    flow.fresh = false;
}

fn table_row(flow: &mut Flow, text: &TableText, fit: &TableFit, index: usize, height: f32) {
    let style = Style::new(Face::Regular, fit.size, BLACK);
    let top = flow.y;
    let baseline = top + (height + style.cap()) / 2.0;
    let gap = column_gap(fit.size);
    let page = flow.page();
    if index % 2 == 1 {
        page.fill(MARGIN_MM, top, fit.width(), height, BAND);
    }
    let mut x = MARGIN_MM;
    for (&j, &w) in fit.columns.iter().zip(&fit.widths) {
        let cell = fit_width(&text.rows[index][j], style, w);
        if text.right[j] {
            page.text(&cell, x + w, baseline, style, Align::Right);
        } else {
            page.text(&cell, x, baseline, style, Align::Left);
        }
        x += w + gap;
    }
    flow.y = top + height;
    flow.fresh = false;
}

// ---------------------------------------------------------------------------------------
// Certificates: A4 landscape.

const CERT_WIDTH_MM: f32 = A4_LONG_MM;
const CERT_HEIGHT_MM: f32 = A4_SHORT_MM;
const CERT_CENTRE_MM: f32 = CERT_WIDTH_MM / 2.0;
/// Text stays inside 30 mm of the page's edges, well clear of the border.
const CERT_TEXT_WIDTH_MM: f32 = CERT_WIDTH_MM - 60.0;
const CERT_HEADING_BASELINE_MM: f32 = 42.0;
/// The lowest baseline of the centred text; the signature block is below it.
const CERT_TEXT_BOTTOM_MM: f32 = 158.0;
const CERT_SIGNATURE_LINE_MM: f32 = 176.0;
const CERT_NAME_SIZES: [f32; 9] = [40.0, 36.0, 32.0, 28.0, 26.0, 24.0, 22.0, 20.0, 18.0];
const CERT_ACHIEVEMENT_SIZES: [f32; 5] = [13.0, 12.0, 11.0, 10.0, 9.0];

fn lay_out_certificate(c: &Certificate) -> Page {
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
fn lines_of(text: &str, style: Style, width: f32) -> Vec<String> {
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
fn push_lines(
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

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE_RIGHT_LIMIT: f32 = A4_SHORT_MM - MARGIN_MM + 0.01;

    fn table(id: &str, columns: &[&str], rows: Vec<Vec<Cell>>) -> Table {
        Table {
            id: id.into(),
            title: format!("Table {id}"),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows,
            note: None,
        }
    }

    fn doc(sections: Vec<Section>) -> Document {
        Document {
            title: "Governors' report".into(),
            school: "Riverside Primary School".into(),
            subtitle: "Autumn 2025: 3 September to 19 December 2025".into(),
            meta: vec!["Made on 19 December 2025 from the register as of 18 December.".into()],
            sections,
        }
    }

    fn long_table_doc(rows: usize) -> Document {
        let rows = (1..=rows)
            .map(|i| {
                vec![
                    Cell::text(format!("Pupil group {i:03}")),
                    Cell::Count(i as u64 * 7),
                    Cell::Percent(Some(90.0 + (i % 10) as f64 / 2.0)),
                    if i % 9 == 0 {
                        Cell::Suppressed
                    } else {
                        Cell::Percent(None)
                    },
                ]
            })
            .collect();
        let mut t = table(
            "groups",
            &[
                "Group",
                "Possible sessions",
                "Attendance",
                "Unauthorised absence",
            ],
            rows,
        );
        t.note = Some("Source: the register. c = suppressed (fewer than 5 pupils).".into());
        doc(vec![Section {
            paragraphs: vec!["Every group, one row each.".into()],
            tables: vec![t],
            ..Section::new("groups", "All groups")
        }])
    }

    /// Every run ends before the right margin and starts after the left one.
    fn assert_within_margins(pages: &[Page]) {
        for (p, page) in pages.iter().enumerate() {
            for run in &page.runs {
                assert!(
                    run.x_mm >= MARGIN_MM - 0.01 && run.x_mm + run.width_mm <= PAGE_RIGHT_LIMIT,
                    "page {}: {:?} runs from {} to {} mm",
                    p + 1,
                    run.text,
                    run.x_mm,
                    run.x_mm + run.width_mm
                );
                assert!(
                    run.baseline_mm <= A4_LONG_MM - 8.0 && run.baseline_mm >= TOP_MM,
                    "page {}: {:?} at {} mm",
                    p + 1,
                    run.text,
                    run.baseline_mm
                );
                // The measured width is the printed text's.
                let expected = text_width_mm(&run.text, run.style.face, run.style.size);
                assert!((run.width_mm - expected).abs() < 1e-3);
            }
            for run in page.runs.iter().filter(|r| r.text.contains("page ")) {
                assert!(run.baseline_mm > BODY_BOTTOM_MM);
            }
            for run in page.runs.iter().filter(|r| !r.text.contains(" of ")) {
                assert!(
                    run.baseline_mm <= BODY_BOTTOM_MM,
                    "{:?} below the body",
                    run.text
                );
            }
        }
    }

    /// Text shown on each page of a PDF, one entry per text-showing operator.
    fn pdf_text(bytes: &[u8]) -> Vec<Vec<String>> {
        let doc = lopdf::Document::load_mem(bytes).expect("the PDF parses");
        let mut decode = [char::REPLACEMENT_CHARACTER; 256];
        for c in (0..0x2200).filter_map(char::from_u32) {
            if let Some(b) = metrics::win_ansi_byte(c) {
                decode[usize::from(b)] = c;
            }
        }
        doc.get_pages()
            .values()
            .map(|&id| {
                let raw = doc.get_page_content(id);
                let content = lopdf::content::Content::decode(&raw).expect("content decodes");
                content
                    .operations
                    .iter()
                    .filter(|op| op.operator == "Tj" || op.operator == "TJ")
                    .map(|op| {
                        let mut bytes = Vec::new();
                        match &op.operands[0] {
                            lopdf::Object::Array(items) => {
                                for item in items {
                                    if let Ok(s) = item.as_str() {
                                        bytes.extend_from_slice(s);
                                    }
                                }
                            }
                            other => bytes.extend_from_slice(other.as_str().expect("string")),
                        }
                        bytes.iter().map(|&b| decode[usize::from(b)]).collect()
                    })
                    .collect()
            })
            .collect()
    }

    fn media_boxes(bytes: &[u8]) -> Vec<Vec<f32>> {
        let doc = lopdf::Document::load_mem(bytes).expect("the PDF parses");
        doc.get_pages()
            .values()
            .map(|&id| {
                let page = doc.get_dictionary(id).expect("page dictionary");
                page.get(b"MediaBox")
                    .and_then(lopdf::Object::as_array)
                    .expect("MediaBox")
                    .iter()
                    .map(|o| o.as_float().expect("number"))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_long_table_spans_pages_with_every_row_once_and_the_header_on_each_page() {
        let doc = long_table_doc(120);
        let pages = lay_out_document(&doc);
        assert_within_margins(&pages);
        let bytes = document_pdf(&doc).expect("renders");
        let text = pdf_text(&bytes);
        assert_eq!(text.len(), pages.len());
        assert!(text.len() >= 3, "120 rows on {} pages", text.len());
        for i in 1..=120 {
            let label = format!("Pupil group {i:03}");
            let found = text.iter().flatten().filter(|t| **t == label).count();
            assert_eq!(found, 1, "{label} printed {found} times");
        }
        // The figures are there too: "c" for suppressed, "–" for no data.
        let all: Vec<&String> = text.iter().flatten().collect();
        assert_eq!(all.iter().filter(|t| t.as_str() == "c").count(), 120 / 9);
        assert_eq!(
            all.iter().filter(|t| t.as_str() == "\u{2013}").count(),
            120 - 120 / 9
        );
        assert!(all.iter().any(|t| t.as_str() == "840"));
        for (p, page) in text.iter().enumerate() {
            assert_eq!(
                page.iter().filter(|t| t.as_str() == "Group").count(),
                1,
                "page {} has the header row once",
                p + 1
            );
            assert!(page.iter().any(|t| t == "Attendance"), "page {}", p + 1);
            if p > 0 {
                assert!(page.iter().any(|t| t == "Table groups (continued)"));
            }
        }
        // The note is printed once, after the last row.
        let note = "Source: the register. c = suppressed (fewer than 5 pupils).";
        assert_eq!(all.iter().filter(|t| t.as_str() == note).count(), 1);
        let last = pages.last().expect("pages");
        let note_y = last
            .runs
            .iter()
            .find(|r| r.text == note)
            .expect("note")
            .baseline_mm;
        let row_y = last
            .runs
            .iter()
            .find(|r| r.text == "Pupil group 120")
            .expect("last row on the last page")
            .baseline_mm;
        assert!(note_y > row_y);
        // No page is cut short: rows fill each page down to the bottom margin.
        for page in &pages[..pages.len() - 1] {
            let lowest = page
                .runs
                .iter()
                .filter(|r| r.text.starts_with("Pupil group"))
                .map(|r| r.baseline_mm)
                .fold(0.0_f32, f32::max);
            assert!(lowest > BODY_BOTTOM_MM - 12.0, "a page ends at {lowest} mm");
        }
    }

    #[test]
    fn footers_number_every_page() {
        let doc = long_table_doc(120);
        let bytes = document_pdf(&doc).expect("renders");
        let text = pdf_text(&bytes);
        let n = text.len();
        assert!(n > 1);
        for (p, page) in text.iter().enumerate() {
            let expected = format!(
                "Riverside Primary School \u{b7} Governors' report \u{b7} page {} of {n}",
                p + 1
            );
            assert!(page.contains(&expected), "page {}: {page:?}", p + 1);
        }
    }

    #[test]
    fn the_pdf_title_is_the_report_title() {
        let bytes = document_pdf(&long_table_doc(3)).expect("renders");
        let pdf = lopdf::Document::load_mem(&bytes).expect("parses");
        let info = pdf
            .trailer
            .get(b"Info")
            .and_then(lopdf::Object::as_reference)
            .and_then(|id| pdf.get_dictionary(id))
            .expect("an Info dictionary");
        let title = info
            .get(b"Title")
            .and_then(lopdf::Object::as_str)
            .expect("a Title");
        let title = if let Some(utf16) = title.strip_prefix(&[0xFE, 0xFF]) {
            let units: Vec<u16> = utf16
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).expect("utf-16")
        } else {
            String::from_utf8(title.to_vec()).expect("utf-8")
        };
        assert_eq!(title, "Governors' report");
    }

    #[test]
    fn a_very_wide_table_shrinks_shortens_and_splits_but_stays_on_the_page() {
        let columns: Vec<String> = std::iter::once("Class and teacher".to_owned())
            .chain((1..=24).map(|j| format!("Week {j} attendance")))
            .collect();
        let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
        let rows = (0..12)
            .map(|i| {
                std::iter::once(Cell::text(format!(
                    "Class {i} with a very long teacher's name, Mrs Featherstonehaugh-Smythe"
                )))
                .chain((1..=24).map(|j| Cell::Count(100_000 + i * 100 + j)))
                .collect()
            })
            .collect();
        let doc = doc(vec![Section {
            tables: vec![table("wide", &columns, rows)],
            ..Section::new("wide", "A very wide table")
        }]);
        let pages = lay_out_document(&doc);
        assert_within_margins(&pages);
        let text = pdf_text(&document_pdf(&doc).expect("renders"));
        // Every figure is printed exactly once, whatever the split.
        for i in 0..12_u64 {
            for j in 1..=24_u64 {
                let value = super::super::document::thousands(100_000 + i * 100 + j);
                let found = text.iter().flatten().filter(|t| **t == value).count();
                assert_eq!(found, 1, "{value}");
            }
        }
        // The parts say so, and the labels were shortened with an ellipsis.
        let all: Vec<&String> = text.iter().flatten().collect();
        assert!(all.iter().any(|t| t.starts_with("Table wide (part 1 of ")));
        assert!(
            all.iter()
                .any(|t| t.starts_with("Class 3") && t.ends_with('\u{2026}'))
        );

        // A table a little too wide shrinks its type instead.
        let t = table(
            "medium",
            &[
                "Year group",
                "Pupils",
                "Possible sessions",
                "Attended",
                "Authorised absence",
                "Unauthorised absence",
                "Late before close",
                "Late after close",
                "Persistent absence",
            ],
            vec![vec![
                Cell::text("Year 4"),
                Cell::Count(1_204),
                Cell::Count(1_234_567),
                Cell::Count(1_234_567),
                Cell::Count(1_234_567),
                Cell::Count(1_234_567),
                Cell::Count(1_234_567),
                Cell::Count(1_234_567),
                Cell::Percent(Some(12.5)),
            ]],
        );
        let text = TableText::of(&t);
        let fits = fit_table(&text);
        assert_eq!(fits.len(), 1);
        assert!(fits[0].width() <= TEXT_WIDTH_MM + 1e-3);
        let natural_at_9: f32 = column_widths(&text, &fits[0].columns, 9.0).0.iter().sum();
        assert!(natural_at_9 > TEXT_WIDTH_MM || fits[0].size == 9.0);
    }

    #[test]
    fn a_narrow_table_keeps_nine_point_and_aligns_figures_right() {
        let doc = long_table_doc(5);
        let pages = lay_out_document(&doc);
        assert_eq!(pages.len(), 1);
        let page = &pages[0];
        let label = page
            .runs
            .iter()
            .find(|r| r.text == "Pupil group 001")
            .expect("label");
        assert_eq!(label.style.size, 9.0);
        assert!((label.x_mm - MARGIN_MM).abs() < 1e-3);
        // Figures in a column end at the same x.
        let ends: Vec<f32> = page
            .runs
            .iter()
            .filter(|r| r.text.ends_with('%') && r.baseline_mm > label.baseline_mm - 1.0)
            .map(|r| r.x_mm + r.width_mm)
            .collect();
        assert!(ends.len() >= 5);
        assert!(ends.iter().all(|e| (e - ends[0]).abs() < 1e-3), "{ends:?}");
        let header = page
            .runs
            .iter()
            .find(|r| r.text == "Attendance")
            .expect("header");
        assert!((header.x_mm + header.width_mm - ends[0]).abs() < 1e-3);
        assert_eq!(header.style.face, Face::Bold);
    }

    #[test]
    fn a_heading_is_never_left_at_the_bottom_of_a_page() {
        for filler in 1..70 {
            let doc = doc(vec![
                Section {
                    paragraphs: (0..filler)
                        .map(|i| format!("Filler paragraph number {i}, one line."))
                        .collect(),
                    ..Section::new("a", "First section")
                },
                Section {
                    paragraphs: vec!["The second section's text. ".repeat(20)],
                    ..Section::new("b", "Second section")
                },
            ]);
            let pages = lay_out_document(&doc);
            assert_within_margins(&pages);
            for page in &pages {
                if let Some(heading) = page.runs.iter().find(|r| r.text == "Second section") {
                    let below = page
                        .runs
                        .iter()
                        .filter(|r| r.baseline_mm > heading.baseline_mm && r.style == BODY)
                        .count();
                    assert!(
                        below >= 2,
                        "filler {filler}: the heading has {below} lines under it"
                    );
                }
            }
        }
        // A heading followed by a long table keeps the table's title, heading row and
        // first rows with it.
        for filler in 1..70 {
            let mut long = long_table_doc(40);
            long.sections.insert(
                0,
                Section {
                    paragraphs: (0..filler).map(|i| format!("Filler {i}.")).collect(),
                    ..Section::new("a", "First section")
                },
            );
            let pages = lay_out_document(&long);
            assert_within_margins(&pages);
            let page = pages
                .iter()
                .find(|p| p.runs.iter().any(|r| r.text == "All groups"))
                .expect("the heading is printed");
            let rows = page
                .runs
                .iter()
                .filter(|r| r.text.starts_with("Pupil group"))
                .count();
            assert!(rows >= 3, "filler {filler}: {rows} rows under the heading");
        }
    }

    #[test]
    fn charts_draw_bars_values_no_data_and_the_target() {
        let chart = Chart {
            title: "Attendance each day".into(),
            svg: String::new(),
            description: String::new(),
            points: vec![
                ("Mon".into(), Some(96.0)),
                ("Tue".into(), Some(100.0)),
                ("Wed".into(), None),
                ("Thu".into(), Some(91.25)),
                ("Fri".into(), Some(f64::NAN)),
            ],
            reference: Some(("Target 95.0%".into(), 95.0)),
            spans: Vec::new(),
        };
        let doc = doc(vec![Section {
            charts: vec![chart],
            ..Section::new("days", "Day by day")
        }]);
        let pages = lay_out_document(&doc);
        assert_within_margins(&pages);
        let page = &pages[0];
        let texts: Vec<&str> = page.runs.iter().map(|r| r.text.as_str()).collect();
        for expected in [
            "Attendance each day",
            "96.0%",
            "100.0%",
            "91.2%",
            "Target 95.0%",
            "Mon",
        ] {
            assert!(
                texts.contains(&expected),
                "{expected} missing from {texts:?}"
            );
        }
        assert_eq!(texts.iter().filter(|t| **t == NO_DATA).count(), 2);
        let bars: Vec<(f32, f32)> = page
            .shapes
            .iter()
            .filter_map(|s| match s {
                Shape::Rect {
                    x,
                    w,
                    fill: Some(c),
                    ..
                } if *c == BAR => Some((*x, *w)),
                _ => None,
            })
            .collect();
        assert_eq!(bars.len(), 3);
        let scale = ChartScale::of(&doc.sections[0].charts[0]);
        // lower_bound(91.25, 95 …) = 85: bars start there and 100% reaches the end.
        assert_eq!(scale.lo, 85.0);
        assert!((bars[1].0 + bars[1].1 - scale.x1).abs() < 1e-3);
        assert!(bars[0].1 > bars[2].1);
        let expected = (96.0 - 85.0) / 15.0 * (scale.x1 - scale.x0);
        assert!((bars[0].1 - expected).abs() < 1e-3);
        let target = page.shapes.iter().find_map(|s| match s {
            Shape::Line {
                from, dashed: true, ..
            } => Some(from.0),
            _ => None,
        });
        assert!((target.expect("a target line") - scale.x(95.0)).abs() < 1e-3);
        assert!(document_pdf(&doc).is_ok());
    }

    #[test]
    fn a_holiday_on_a_weekly_chart_is_named_in_its_shaded_row() {
        let chart = super::super::chart::line_chart_with_spans(
            "Attendance each week",
            "",
            vec![
                ("20 Oct".into(), Some(95.0)),
                ("27 Oct".into(), None),
                ("3 Nov".into(), Some(96.0)),
                ("10 Nov".into(), None),
            ],
            None,
            vec![super::super::ChartSpan {
                from: 1,
                to: 1,
                label: "Autumn half term".into(),
            }],
        )
        .expect("chart");
        let doc = doc(vec![Section {
            charts: vec![chart],
            ..Section::new("trends", "Week by week")
        }]);
        let pages = lay_out_document(&doc);
        assert_within_margins(&pages);
        let texts: Vec<&str> = pages[0].runs.iter().map(|r| r.text.as_str()).collect();
        // The holiday week says which holiday; a week without data that is no holiday still
        // says "no data".
        assert!(texts.contains(&"\u{2013} Autumn half term"), "{texts:?}");
        assert_eq!(texts.iter().filter(|t| **t == NO_DATA).count(), 1);
        let shaded = pages[0]
            .shapes
            .iter()
            .filter(|s| matches!(s, Shape::Rect { fill: Some(c), .. } if *c == BAND))
            .count();
        assert_eq!(shaded, 1, "one shaded row");
    }

    fn certificate(pupil: &str) -> Certificate {
        Certificate {
            school: "Riverside Primary School".into(),
            pupil: pupil.into(),
            group: "Year 4, class 4B".into(),
            period: "Autumn 2025".into(),
            achievement: "for 100% attendance: present for every one of the 142 sessions this term"
                .into(),
            signatory: "Mrs A. Head".into(),
            signatory_role: "Headteacher".into(),
            date: "19 December 2025".into(),
        }
    }

    #[test]
    fn certificates_are_one_landscape_page_each_and_keep_accented_names() {
        let certificates = vec![
            certificate("Zoë Ngozi Adébáyọ̀"),
            certificate("Łukasz Nguyễn"),
            certificate(&"Maximilian-Alexander Featherstonehaugh-Worthington ".repeat(3)),
        ];
        let bytes = certificates_pdf(&certificates).expect("renders");
        let boxes = media_boxes(&bytes);
        assert_eq!(boxes.len(), 3);
        for b in &boxes {
            assert!((b[2] - b[0] - 841.89).abs() < 1.0, "{b:?}");
            assert!((b[3] - b[1] - 595.28).abs() < 1.0, "{b:?}");
        }
        let text = pdf_text(&bytes);
        assert!(
            text[0].iter().any(|t| t == "Zoë Ngozi Adébáyò"),
            "{:?}",
            text[0]
        );
        assert!(
            text[1].iter().any(|t| t == "Lukasz Nguyên"),
            "{:?}",
            text[1]
        );
        for page in &text {
            assert!(page.iter().any(|t| t == "Certificate of Attendance"));
            assert!(page.iter().any(|t| t == "Riverside Primary School"));
            assert!(page.iter().any(|t| t == "Mrs A. Head"));
            assert!(page.iter().any(|t| t == "19 December 2025"));
        }
        // Everything sits inside the border, and a long name shrinks to fit.
        for c in &certificates {
            let page = lay_out_certificate(c);
            for run in &page.runs {
                assert!(run.x_mm >= 25.0 && run.x_mm + run.width_mm <= CERT_WIDTH_MM - 25.0);
                assert!(run.baseline_mm > 20.0 && run.baseline_mm < CERT_HEIGHT_MM - 20.0);
            }
        }
        let short = lay_out_certificate(&certificates[0]);
        let long = lay_out_certificate(&certificates[2]);
        let biggest = |p: &Page| p.runs.iter().map(|r| r.style.size).fold(0.0_f32, f32::max);
        assert_eq!(biggest(&short), 40.0);
        let long_name = long
            .runs
            .iter()
            .filter(|r| r.style.size < 30.0 && r.style.size >= 18.0 && r.style.face == Face::Bold)
            .count();
        assert!(long_name >= 1);
    }

    #[test]
    fn no_certificates_is_an_error() {
        assert_eq!(certificates_pdf(&[]), Err(PdfError::NoCertificates));
        assert_eq!(
            certificates_pdf(&[certificate("Ada"), certificate("  ")]),
            Err(PdfError::NoPupilName { index: 1 })
        );
    }
}
