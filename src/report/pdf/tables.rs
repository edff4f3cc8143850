//! Table fitting (smaller type, then split columns) so every report table fits A4 portrait.

use super::layout::{
    CAPTION, CAPTION_CONTINUED, Flow, MARGIN_MM, NOTE, TEXT_WIDTH_MM, at_most, fit_width, leading,
};
use super::page::{Align, BAND, BLACK, MUTED, RULE, Style, printable, wrap};
use crate::delivery::channel::letter::{Face, pt_to_mm, text_width_mm};
use crate::report::document::{Cell, Table};

// --- Tables. -----------------------------------------------------------------------------

pub(super) const TABLE_SIZES: [f32; 5] = [9.0, 8.5, 8.0, 7.5, 7.0];
/// The narrowest the row labels are squeezed to (with "…") before columns are split.
pub(super) const LABEL_MIN_MM: f32 = 28.0;
/// Numeric columns are at least this wide, so a table's figures do not huddle together.
pub(super) const NUMERIC_MIN_MM: f32 = 16.0;

pub(super) fn column_gap(size: f32) -> f32 {
    pt_to_mm(size) * 1.4
}

pub(super) fn row_height(size: f32) -> f32 {
    pt_to_mm(size * 1.65)
}

pub(super) fn header_leading(size: f32) -> f32 {
    pt_to_mm(size * 1.15)
}

/// A table's text, printable, one entry per column (rows padded to the widest).
pub(super) struct TableText {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Right-aligned: every column but the first, unless it holds only text.
    right: Vec<bool>,
}

impl TableText {
    pub(super) fn of(table: &Table) -> TableText {
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
pub(super) struct TableFit {
    pub(super) size: f32,
    /// Indices into the table's columns; the first is always column 0.
    pub(super) columns: Vec<usize>,
    widths: Vec<f32>,
}

impl TableFit {
    pub(super) fn width(&self) -> f32 {
        self.widths.iter().sum::<f32>()
            + column_gap(self.size) * self.widths.len().saturating_sub(1) as f32
    }
}

/// Natural (headers on one line) and least (headers wrapped at spaces) widths of `columns`.
pub(super) fn column_widths(
    text: &TableText,
    columns: &[usize],
    size: f32,
) -> (Vec<f32>, Vec<f32>) {
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
pub(super) fn fit_columns(text: &TableText, columns: &[usize]) -> Option<TableFit> {
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
pub(super) fn width_for_lines(
    header: &str,
    size: f32,
    lines: usize,
    least: f32,
    natural: f32,
) -> f32 {
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
pub(super) fn fit_table(text: &TableText) -> Vec<TableFit> {
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

pub(super) fn table_title_lines(title: &str) -> Vec<String> {
    if title.trim().is_empty() {
        return Vec::new();
    }
    wrap(title, CAPTION.face, CAPTION.size, TEXT_WIDTH_MM)
}

pub(super) fn header_lines(text: &TableText, fit: &TableFit) -> Vec<Vec<String>> {
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

pub(super) fn header_height(lines: &[Vec<String>], size: f32) -> f32 {
    let most = lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
    row_height(size) + header_leading(size) * (most - 1) as f32
}

pub(super) fn note_lines(table: &Table) -> Vec<String> {
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
pub(super) fn table_start_height(table: &Table) -> f32 {
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
pub(super) const WHOLE_TABLE_ROWS: usize = 10;

/// How many rows must fit under a table's heading row for it to start on this page: all
/// of a short table, else three.
pub(super) fn start_rows(rows: usize) -> usize {
    if rows <= WHOLE_TABLE_ROWS {
        rows.max(1)
    } else {
        3
    }
}

pub(super) fn note_height(table: &Table) -> f32 {
    let lines = note_lines(table).len();
    if lines == 0 {
        0.0
    } else {
        1.5 + leading(NOTE, 1.35) * lines as f32
    }
}

pub(super) fn lay_out_table(flow: &mut Flow, table: &Table) {
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

pub(super) fn lay_out_table_part(
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

pub(super) fn table_header(
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

pub(super) fn table_row(
    flow: &mut Flow,
    text: &TableText,
    fit: &TableFit,
    index: usize,
    height: f32,
) {
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
