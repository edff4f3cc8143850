//! Bar charts as shapes, apart so their scale and rows change without touching tables.

use super::layout::{
    BODY_BOTTOM_MM, Flow, MARGIN_MM, RIGHT_MM, TEXT_WIDTH_MM, TOP_MM, fit_width, leading,
};
use super::page::{
    Align, BAND, BAR, BLACK, GRID, MUTED, RULE, Style, TARGET, WHITE, printable, wrap,
};
use crate::delivery::channel::letter::{Face, pt_to_mm};
use crate::report::document::{Cell, Chart};

// --- Charts: horizontal bars, one row per point, values printed at the bars. -------------

pub(super) const CHART_TITLE: Style = Style::new(Face::Bold, 9.5, BLACK);
pub(super) const CHART_LABEL: Style = Style::new(Face::Regular, 8.5, BLACK);
pub(super) const CHART_VALUE: Style = Style::new(Face::Regular, 8.5, BLACK);
pub(super) const CHART_TICK: Style = Style::new(Face::Regular, 7.0, MUTED);
pub(super) const CHART_TARGET: Style = Style::new(Face::Regular, 7.5, TARGET);
pub(super) const BAR_ROW_MM: f32 = 5.5;
pub(super) const BAR_MM: f32 = 3.6;
/// Room above the bars for the target's label (or a little air without one).
pub(super) const TARGET_LABEL_MM: f32 = 4.5;
/// Room under the bars for the scale's labels.
pub(super) const AXIS_MM: f32 = 5.5;
pub(super) const NO_DATA: &str = "\u{2013} no data";

/// A plottable percentage, as the HTML charts have it: finite, within 0–100.
pub(super) fn plottable(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite()).map(|v| v.clamp(0.0, 100.0))
}

pub(super) fn chart_title_lines(chart: &Chart) -> Vec<String> {
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

pub(super) fn chart_has_data(chart: &Chart) -> bool {
    chart.points.iter().any(|(_, v)| plottable(*v).is_some())
}

/// Title, target label, `rows` bars and the scale.
pub(super) fn chart_height(chart: &Chart, rows: usize) -> f32 {
    let title = chart_title_lines(chart).len() as f32 * leading(CHART_TITLE, 1.3);
    if !chart_has_data(chart) {
        return title + leading(CHART_LABEL, 1.6);
    }
    title + TARGET_LABEL_MM + rows as f32 * BAR_ROW_MM + AXIS_MM
}

/// What must fit under a heading: the whole chart if it fits on a page, else its start.
pub(super) fn chart_start_height(chart: &Chart) -> f32 {
    let whole = chart_height(chart, chart.points.len());
    if whole <= BODY_BOTTOM_MM - TOP_MM {
        whole
    } else {
        chart_height(chart, 3)
    }
}

/// Where the bars go, and their scale.
pub(super) struct ChartScale {
    /// Right edge of the labels.
    labels_right: f32,
    /// The scale's low end (`lo`) and 100 %.
    pub(super) x0: f32,
    pub(super) x1: f32,
    pub(super) lo: f64,
}

impl ChartScale {
    pub(super) fn of(chart: &Chart) -> ChartScale {
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
        let lo = crate::report::chart::lower_bound(
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

    pub(super) fn x(&self, v: f64) -> f32 {
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

pub(super) fn lay_out_chart(flow: &mut Flow, chart: &Chart) {
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
pub(super) fn chart_rows(
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
