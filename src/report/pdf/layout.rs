//! Report flow (title block, sections, breaks, footers) that charts and tables draw into.

use super::charts::{chart_start_height, lay_out_chart};
use super::page::{
    A4_LONG_MM, A4_SHORT_MM, ACCENT, Align, BLACK, MUTED, Page, RULE, Style, printable, wrap,
};
use super::tables::{lay_out_table, table_start_height};
use crate::delivery::channel::letter::{Face, elide, pt_to_mm};
use crate::report::document::{Document, Section};

// ---------------------------------------------------------------------------------------
// Reports.

pub(super) const MARGIN_MM: f32 = 18.0;
pub(super) const TOP_MM: f32 = 18.0;
pub(super) const RIGHT_MM: f32 = A4_SHORT_MM - MARGIN_MM;
pub(super) const TEXT_WIDTH_MM: f32 = RIGHT_MM - MARGIN_MM;
/// Nothing of the body reaches below this line.
pub(super) const BODY_BOTTOM_MM: f32 = 278.0;
pub(super) const FOOTER_BASELINE_MM: f32 = 288.0;

pub(super) const SCHOOL: Style = Style::new(Face::Bold, 11.0, ACCENT);
pub(super) const TITLE: Style = Style::new(Face::Bold, 20.0, BLACK);
pub(super) const SUBTITLE: Style = Style::new(Face::Regular, 12.0, BLACK);
pub(super) const META: Style = Style::new(Face::Regular, 8.5, MUTED);
pub(super) const HEADING: Style = Style::new(Face::Bold, 13.0, ACCENT);
pub(super) const BODY: Style = Style::new(Face::Regular, 10.0, BLACK);
pub(super) const CAPTION: Style = Style::new(Face::Bold, 10.0, BLACK);
pub(super) const CAPTION_CONTINUED: Style = Style::new(Face::Bold, 9.0, MUTED);
pub(super) const NOTE: Style = Style::new(Face::Regular, 7.5, MUTED);
pub(super) const FOOTER: Style = Style::new(Face::Regular, 7.5, MUTED);

/// The height of a line of `style` set with `factor` × its size, in mm.
pub(super) fn leading(style: Style, factor: f32) -> f32 {
    pt_to_mm(style.size * factor)
}

/// `text` shortened with "…" until it fits `max_mm` (a hair of tolerance, so text measured
/// to be exactly as wide as its column is never shortened by rounding).
pub(super) fn fit_width(text: &str, style: Style, max_mm: f32) -> String {
    elide(text, style.face, style.size, max_mm + 0.01)
}

/// The first `n` of `lines`, the last of them ending in "…" if any were left out.
pub(super) fn at_most(mut lines: Vec<String>, n: usize, style: Style, width: f32) -> Vec<String> {
    if lines.len() > n {
        lines.truncate(n);
        if let Some(last) = lines.last_mut() {
            *last = fit_width(&format!("{last}\u{2026}"), style, width);
        }
    }
    lines
}

/// The body flowing down the pages; `y` is the top of the next line's box.
pub(super) struct Flow {
    pages: Vec<Page>,
    pub(super) y: f32,
    /// Nothing has been placed on the current page yet (breaking again is pointless).
    pub(super) fresh: bool,
}

impl Flow {
    fn new() -> Flow {
        Flow {
            pages: vec![Page::new(A4_SHORT_MM, A4_LONG_MM)],
            y: TOP_MM,
            fresh: true,
        }
    }

    pub(super) fn page(&mut self) -> &mut Page {
        if self.pages.is_empty() {
            self.pages.push(Page::new(A4_SHORT_MM, A4_LONG_MM));
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    pub(super) fn room(&self) -> f32 {
        BODY_BOTTOM_MM - self.y
    }

    pub(super) fn new_page(&mut self) {
        self.pages.push(Page::new(A4_SHORT_MM, A4_LONG_MM));
        self.y = TOP_MM;
        self.fresh = true;
    }

    /// Starts a new page unless `height` fits on this one (or this one is still empty).
    pub(super) fn keep(&mut self, height: f32) {
        if height > self.room() + 1e-3 && !self.fresh {
            self.new_page();
        }
    }

    /// Vertical space between blocks; none at the top of a page.
    pub(super) fn gap(&mut self, mm: f32) {
        if !self.fresh {
            self.y += mm;
        }
    }

    /// Places lines of one paragraph, each `line_height` tall, breaking pages so that no
    /// page ends with a paragraph's lone first line or starts with its lone last line.
    pub(super) fn lines(&mut self, lines: &[String], style: Style, line_height: f32) {
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

pub(super) fn lay_out_document(doc: &Document) -> Vec<Page> {
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
pub(super) fn footer(page: &mut Page, doc: &Document, number: usize, total: usize) {
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

pub(super) fn paragraph_lines(paragraph: &str) -> Vec<String> {
    paragraph
        .split('\n')
        .flat_map(|line| wrap(line, BODY.face, BODY.size, TEXT_WIDTH_MM))
        .collect()
}

pub(super) fn lay_out_section(flow: &mut Flow, section: &Section) {
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
