//! Charts for reports, drawn as inline SVG with plotters' SVG backend.
//!
//! The layout is done here in pixels rather than by plotters' chart builder: there is no font
//! backend (plotters only guesses text sizes), so axis labels, value labels and the target's
//! label are placed by rule, with room kept for the widest of them. The SVG has a `viewBox`
//! and `width="100%"`, so it scales to its container; plotters escapes every label.
//!
//! The y axis is attendance in percent, from a lower bound chosen so that 90% and 97% look
//! different (the axis says where it starts) up to 100%.

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::document::{Chart, ChartSpan};

const WIDTH: u32 = 680;
const HEIGHT: u32 = 260;
const FONT: &str = "Arial, Helvetica, sans-serif";

const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const MUTED: RGBColor = RGBColor(0x5f, 0x5f, 0x5f);
const GRID: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);
const AXIS: RGBColor = RGBColor(0x77, 0x77, 0x77);
/// Bars: a mid blue, a mid-light grey when printed in greyscale, so the dark dashed target
/// shows where it crosses them; their values are printed above them in black.
const BAR: RGBColor = RGBColor(0x6b, 0x9a, 0xc4);
/// The trend line: darker than the bars, solid, with round markers.
const LINE: RGBColor = RGBColor(0x1f, 0x4e, 0x79);
/// The target: dark and dashed, so it differs from the trend line in greyscale too.
const TARGET: RGBColor = RGBColor(0x8b, 0x1a, 0x10);
/// A holiday's band: a light grey behind the grid, its label in the muted grey.
const HOLIDAY: RGBColor = RGBColor(0xee, 0xee, 0xee);

/// Room above the plot for the axis caption and for value labels on 100% bars.
const TOP: i32 = 40;
/// Room left of the plot for "100%".
const LEFT: i32 = 48;
/// Text sizes in CSS pixels.
const LABEL_PX: f64 = 11.0;
const CAPTION_PX: f64 = 11.0;

/// Weekly attendance as a line with markers; `None` (a week with no sessions) leaves a gap.
/// `reference` is the target, drawn as a dashed line labelled with its text.
pub fn line_chart(
    title: &str,
    description: &str,
    points: Vec<(String, Option<f64>)>,
    reference: Option<(String, f64)>,
) -> Result<Chart> {
    chart(
        Kind::Line,
        title,
        description,
        points,
        reference,
        Vec::new(),
    )
}

/// A line chart with stretches of its x axis shaded and labelled (the holidays a term's
/// weekly chart spans: their weeks have no value, so the line breaks there).
pub fn line_chart_with_spans(
    title: &str,
    description: &str,
    points: Vec<(String, Option<f64>)>,
    reference: Option<(String, f64)>,
    spans: Vec<ChartSpan>,
) -> Result<Chart> {
    chart(Kind::Line, title, description, points, reference, spans)
}

/// Attendance by category (day of the week, class) as bars, each labelled with its value.
/// `None` draws no bar, and "no data" (or "–" where that does not fit) in its place.
pub fn bar_chart(
    title: &str,
    description: &str,
    points: Vec<(String, Option<f64>)>,
    reference: Option<(String, f64)>,
) -> Result<Chart> {
    chart(Kind::Bar, title, description, points, reference, Vec::new())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Line,
    Bar,
}

fn chart(
    kind: Kind,
    title: &str,
    description: &str,
    points: Vec<(String, Option<f64>)>,
    reference: Option<(String, f64)>,
    spans: Vec<ChartSpan>,
) -> Result<Chart> {
    // Spans outside the points are dropped rather than drawn off the plot.
    let spans: Vec<ChartSpan> = spans
        .into_iter()
        .filter(|s| s.from <= s.to && s.to < points.len())
        .collect();
    let values: Vec<Option<f64>> = points.iter().map(|(_, v)| percent(*v)).collect();
    let target = reference
        .as_ref()
        .and_then(|(label, v)| percent(Some(*v)).map(|v| (label.as_str(), v)));
    let labels: Vec<&str> = points.iter().map(|(l, _)| l.as_str()).collect();
    let mut raw = String::new();
    {
        let root = SVGBackend::with_string(&mut raw, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        if values.iter().all(Option::is_none) {
            no_data(&root)?;
        } else {
            plot(&root, kind, &labels, &values, target, &spans)?;
        }
        root.present().map_err(drawing)?;
    }
    Ok(Chart {
        title: title.to_owned(),
        svg: finish(&raw, title, description),
        description: description.to_owned(),
        points,
        reference,
        spans,
    })
}

fn drawing(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing a chart: {e}")
}

/// A plottable percentage: finite, within 0–100.
fn percent(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite()).map(|v| v.clamp(0.0, 100.0))
}

/// Floor of (lowest value − 2) to a multiple of 5, at least 0; the target counts as a value
/// so its line is always on the chart.
pub fn lower_bound(values: impl IntoIterator<Item = f64>) -> f64 {
    let min = values.into_iter().fold(100.0_f64, f64::min);
    (((min - 2.0) / 5.0).floor() * 5.0).clamp(0.0, 95.0)
}

/// Grid step for a y range of `span` percentage points.
fn step(span: f64) -> f64 {
    match span {
        s if s <= 5.0 => 1.0,
        s if s <= 10.0 => 2.0,
        s if s <= 30.0 => 5.0,
        s if s <= 60.0 => 10.0,
        _ => 20.0,
    }
}

/// A rough width of `text` at `px` in a sans-serif font (there is no font backend to ask).
fn text_width(text: &str, px: f64) -> f64 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | 't' | 'f' | 'r' | 'I' | '.' | ',' | ':' | ';' | '\'' | ' ' => 0.3,
            'm' | 'w' | 'M' | 'W' | '%' => 0.85,
            c if c.is_uppercase() => 0.68,
            _ => 0.56,
        })
        .sum::<f64>()
        * px
}

/// A text style of `px` CSS pixels (the SVG backend writes `font-size` as size ÷ 1.24).
fn style(px: f64, color: &'static RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from(FontDesc::new(
        FontFamily::Name(FONT),
        px * 1.24,
        FontStyle::Normal,
    ))
    .color(color)
    .pos(Pos::new(h, v))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn no_data(root: &Area) -> Result<()> {
    let (w, h) = (WIDTH as i32, HEIGHT as i32);
    root.draw(&Rectangle::new(
        [(LEFT, TOP), (w - 16, h - 30)],
        GRID.stroke_width(1),
    ))
    .map_err(drawing)?;
    root.draw(&Text::new(
        "No data for this period",
        ((LEFT + w - 16) / 2, (TOP + h - 30) / 2),
        style(14.0, &MUTED, HPos::Center, VPos::Center),
    ))
    .map_err(drawing)?;
    Ok(())
}

/// The plot's pixel frame and its value scale.
struct Frame {
    left: i32,
    right: i32,
    top: i32,
    bottom: i32,
    lo: f64,
    n: usize,
}

impl Frame {
    fn slot(&self) -> f64 {
        f64::from(self.right - self.left) / self.n as f64
    }
    /// The centre of category `i`.
    fn x(&self, i: usize) -> i32 {
        self.left + ((i as f64 + 0.5) * self.slot()).round() as i32
    }
    fn y(&self, v: f64) -> i32 {
        let t = (v - self.lo) / (100.0 - self.lo);
        self.bottom - (t * f64::from(self.bottom - self.top)).round() as i32
    }
}

fn plot(
    root: &Area,
    kind: Kind,
    labels: &[&str],
    values: &[Option<f64>],
    target: Option<(&str, f64)>,
    spans: &[ChartSpan],
) -> Result<()> {
    let lo = lower_bound(values.iter().flatten().copied().chain(target.map(|t| t.1)));
    let right_margin = target.map_or(16, |(label, _)| {
        (text_width(label, LABEL_PX) + 16.0).ceil() as i32
    });
    let n = labels.len().max(1);
    let mut frame = Frame {
        left: LEFT,
        right: WIDTH as i32 - right_margin,
        top: TOP,
        bottom: HEIGHT as i32 - 26,
        lo,
        n,
    };

    // The x labels decide how much room they need below the plot.
    let x_labels = x_label_layout(kind, labels, frame.slot());
    if x_labels.rows > 1 {
        frame.bottom = HEIGHT as i32 - 38;
    }

    // The caption says what the axis is and where it starts.
    let caption = if lo > 0.0 {
        format!("Attendance, % (axis starts at {lo:.0}%, not 0)")
    } else {
        "Attendance, %".to_owned()
    };
    root.draw(&Text::new(
        caption,
        (4, 6),
        style(CAPTION_PX, &MUTED, HPos::Left, VPos::Top),
    ))
    .map_err(drawing)?;

    // Behind the grid, so the scale still reads across a holiday.
    span_bands(root, &frame, spans)?;

    // Grid and y labels.
    let step = step(100.0 - lo);
    let mut tick = (lo / step).ceil() * step;
    while tick <= 100.0 + 1e-9 {
        let y = frame.y(tick);
        if tick > lo {
            root.draw(&PathElement::new(
                vec![(frame.left, y), (frame.right, y)],
                GRID.stroke_width(1),
            ))
            .map_err(drawing)?;
        }
        root.draw(&Text::new(
            format!("{tick:.0}%"),
            (frame.left - 6, y),
            style(LABEL_PX, &MUTED, HPos::Right, VPos::Center),
        ))
        .map_err(drawing)?;
        tick += step;
    }
    root.draw(&PathElement::new(
        vec![
            (frame.left, frame.top),
            (frame.left, frame.bottom),
            (frame.right, frame.bottom),
        ],
        AXIS.stroke_width(1),
    ))
    .map_err(drawing)?;

    match kind {
        Kind::Bar => bars(root, &frame, values, target)?,
        Kind::Line => {
            // The target under the line: the line is what is read against it.
            target_line(root, &frame, target)?;
            line(root, &frame, values)?;
        }
    }
    span_labels(root, &frame, spans)?;

    // X labels.
    for (i, label) in labels.iter().enumerate() {
        if i % x_labels.every != 0 {
            continue;
        }
        let row = (i / x_labels.every) % x_labels.rows;
        let y = frame.bottom + 6 + row as i32 * 13;
        root.draw(&Text::new(
            fit(label, x_labels.max_width, x_labels.px),
            (frame.x(i), y),
            style(x_labels.px, &INK, HPos::Center, VPos::Top),
        ))
        .map_err(drawing)?;
    }
    Ok(())
}

struct XLabels {
    /// Font size.
    px: f64,
    /// Draw every n-th label (lines thin their labels; bars label every bar).
    every: usize,
    /// 1, or 2 when bar labels alternate between two rows to fit.
    rows: usize,
    /// Longer labels are shortened with "…" to this width.
    max_width: f64,
}

fn x_label_layout(kind: Kind, labels: &[&str], slot: f64) -> XLabels {
    let widest = |px: f64| {
        labels
            .iter()
            .map(|l| text_width(l, px))
            .fold(0.0_f64, f64::max)
    };
    match kind {
        Kind::Line => {
            let every = ((widest(LABEL_PX) + 8.0) / slot).ceil().max(1.0) as usize;
            XLabels {
                px: LABEL_PX,
                every,
                rows: 1,
                max_width: f64::INFINITY,
            }
        }
        Kind::Bar => {
            let mut px = LABEL_PX;
            while px > 8.0 && widest(px) > slot - 4.0 {
                px -= 0.5;
            }
            let rows = if widest(px) > slot - 4.0 { 2 } else { 1 };
            XLabels {
                px,
                every: 1,
                rows,
                max_width: if rows == 1 {
                    f64::INFINITY
                } else {
                    2.0 * slot - 6.0
                },
            }
        }
    }
}

/// `label`, shortened with "…" to fit `width` at `px`.
fn fit(label: &str, width: f64, px: f64) -> String {
    if text_width(label, px) <= width {
        return label.to_owned();
    }
    let mut out: String = label.to_owned();
    while !out.is_empty() && text_width(&out, px) + text_width("…", px) > width {
        out.pop();
    }
    out.push('…');
    out
}

/// The left and right pixel edges of points `from..=to`.
fn span_edges(frame: &Frame, span: &ChartSpan) -> (i32, i32) {
    let slot = frame.slot();
    let edge = |i: usize| frame.left + (i as f64 * slot).round() as i32;
    (edge(span.from), edge(span.to + 1))
}

fn span_bands(root: &Area, frame: &Frame, spans: &[ChartSpan]) -> Result<()> {
    for span in spans {
        let (left, right) = span_edges(frame, span);
        root.draw(&Rectangle::new(
            [(left, frame.top), (right, frame.bottom)],
            HOLIDAY.filled(),
        ))
        .map_err(drawing)?;
    }
    Ok(())
}

/// Each span's label: across the top of its band when it fits, else up its middle (a
/// one-week half term is narrower than its name).
fn span_labels(root: &Area, frame: &Frame, spans: &[ChartSpan]) -> Result<()> {
    for span in spans {
        let (left, right) = span_edges(frame, span);
        let centre = (left + right) / 2;
        let across = f64::from(right - left) - 6.0;
        if text_width(&span.label, LABEL_PX) <= across {
            root.draw(&Text::new(
                span.label.clone(),
                (centre, frame.top + 4),
                style(LABEL_PX, &MUTED, HPos::Center, VPos::Top),
            ))
            .map_err(drawing)?;
        } else {
            let up = f64::from(frame.bottom - frame.top) - 8.0;
            let px = LABEL_PX.min((f64::from(right - left) - 2.0).max(7.0));
            root.draw(&Text::new(
                fit(&span.label, up, px),
                (centre, frame.bottom - 4),
                style(px, &MUTED, HPos::Left, VPos::Center).transform(FontTransform::Rotate270),
            ))
            .map_err(drawing)?;
        }
    }
    Ok(())
}

/// The target as a dashed line across the plot, labelled in the right margin.
fn target_line(root: &Area, frame: &Frame, target: Option<(&str, f64)>) -> Result<()> {
    let Some((label, value)) = target else {
        return Ok(());
    };
    let y = frame.y(value);
    let across = vec![(frame.left, y), (frame.right, y)];
    root.draw(&DashedPathElement::new(
        across,
        7,
        4,
        TARGET.stroke_width(2),
    ))
    .map_err(drawing)?;
    root.draw(&Text::new(
        label.to_owned(),
        (frame.right + 6, y),
        style(LABEL_PX, &TARGET, HPos::Left, VPos::Center),
    ))
    .map_err(drawing)?;
    Ok(())
}

fn bars(
    root: &Area,
    frame: &Frame,
    values: &[Option<f64>],
    target: Option<(&str, f64)>,
) -> Result<()> {
    let slot = frame.slot();
    let half = ((slot * 0.62).min(64.0) / 2.0).round().max(1.0) as i32;
    let no_data = if text_width("no data", LABEL_PX) <= slot - 4.0 {
        "no data"
    } else {
        "–"
    };
    let texts: Vec<String> = values
        .iter()
        .map(|v| v.map_or(no_data.to_owned(), |v| format!("{v:.1}%")))
        .collect();
    let widest = texts
        .iter()
        .map(|t| text_width(t, LABEL_PX))
        .fold(0.0_f64, f64::max);
    let px = if widest > slot - 2.0 {
        (LABEL_PX * (slot - 2.0) / widest).max(7.0)
    } else {
        LABEL_PX
    };
    let tops: Vec<i32> = values
        .iter()
        .map(|v| v.map_or(frame.bottom, |v| frame.y(v)))
        .collect();
    for (i, (value, top)) in values.iter().zip(&tops).enumerate() {
        if value.is_some() {
            let x = frame.x(i);
            root.draw(&Rectangle::new(
                [(x - half, *top), (x + half, frame.bottom)],
                BAR.filled(),
            ))
            .map_err(drawing)?;
        }
    }
    // Over the bars, so a bar's height reads against it.
    target_line(root, frame, target)?;
    for (i, ((value, text), top)) in values.iter().zip(&texts).zip(&tops).enumerate() {
        let x = frame.x(i);
        // A white ground under the value, so the target line does not run through it.
        let w = (text_width(text, px) / 2.0).ceil() as i32 + 2;
        let h = px.ceil() as i32 + 2;
        root.draw(&Rectangle::new(
            [(x - w, top - 3 - h), (x + w, top - 2)],
            WHITE.filled(),
        ))
        .map_err(drawing)?;
        root.draw(&Text::new(
            text.clone(),
            (x, top - 4),
            style(
                px,
                if value.is_some() { &INK } else { &MUTED },
                HPos::Center,
                VPos::Bottom,
            ),
        ))
        .map_err(drawing)?;
    }
    Ok(())
}

fn line(root: &Area, frame: &Frame, values: &[Option<f64>]) -> Result<()> {
    // One polyline per run of weeks with data: a week without any leaves a gap.
    let mut run: Vec<(i32, i32)> = Vec::new();
    let mut runs: Vec<Vec<(i32, i32)>> = Vec::new();
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => run.push((frame.x(i), frame.y(*v))),
            None => runs.push(std::mem::take(&mut run)),
        }
    }
    runs.push(run);
    for run in runs.iter().filter(|r| r.len() > 1) {
        root.draw(&PathElement::new(run.clone(), LINE.stroke_width(2)))
            .map_err(drawing)?;
    }
    let radius = if frame.slot() < 10.0 { 2 } else { 3 };
    for point in runs.iter().flatten() {
        root.draw(&Circle::new(*point, radius, LINE.filled()))
            .map_err(drawing)?;
    }
    Ok(())
}

/// Makes plotters' fixed-size SVG scale to its container, and gives it an accessible name.
fn finish(raw: &str, title: &str, description: &str) -> String {
    let fixed = format!(r#"<svg width="{WIDTH}" height="{HEIGHT}" "#);
    let body = raw.trim().strip_prefix(&fixed).unwrap_or(raw.trim());
    let body = body.strip_prefix("<svg ").unwrap_or(body);
    let (open, rest) = body.split_once('>').unwrap_or((body, ""));
    format!(
        "<svg width=\"100%\" {open} role=\"img\" font-family=\"{FONT}\">\n<title>{}</title>\n<desc>{}</desc>{}",
        xml_escape(title),
        xml_escape(description),
        rest.trim_end()
    )
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar_fill() -> String {
        format!(r##"fill="#{:02X}{:02X}{:02X}""##, BAR.0, BAR.1, BAR.2)
    }

    /// Every tag closes in order and text has no stray `<` or `&`: enough of XML to know a
    /// browser will not choke.
    fn assert_well_formed(svg: &str) {
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
        assert!(svg.contains(r#"viewBox="0 0 680 260""#), "{svg}");
        let mut stack: Vec<&str> = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let text = &rest[..start];
            assert_entities(text);
            let end = rest[start..].find('>').expect("tag closes") + start;
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "a < inside a tag: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop(), Some(name.trim()), "closing {name}");
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().expect("tag name");
                stack.push(name);
            }
            for attr in tag.split('"').skip(1).step_by(2) {
                assert_entities(attr);
            }
            rest = &rest[end + 1..];
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
    }

    fn assert_entities(text: &str) {
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..];
            assert!(
                ["&lt;", "&gt;", "&amp;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "bare & in {text}"
            );
        }
    }

    fn weeks() -> Vec<(String, Option<f64>)> {
        [
            ("8 Sep", Some(96.4)),
            ("15 Sep", Some(95.1)),
            ("22 Sep", Some(93.8)),
            ("29 Sep", None),
            ("6 Oct", Some(94.7)),
            ("13 Oct", Some(92.2)),
        ]
        .into_iter()
        .map(|(l, v)| (l.to_owned(), v))
        .collect()
    }

    fn target() -> Option<(String, f64)> {
        Some(("Target 96.0%".to_owned(), 96.0))
    }

    #[test]
    fn a_line_chart_is_scalable_svg_with_the_target() {
        let chart = line_chart("Weekly", "Each week", weeks(), target()).expect("draws");
        assert_well_formed(&chart.svg);
        assert!(chart.svg.contains(r#"width="100%""#), "{}", chart.svg);
        let open = chart.svg.lines().next().expect("the svg tag");
        assert!(!open.contains("height="), "{open}");
        assert!(chart.svg.contains("Target 96.0%"), "{}", chart.svg);
        assert!(chart.svg.contains("<title>Weekly</title>"), "{}", chart.svg);
        assert!(chart.svg.contains("8 Sep"), "{}", chart.svg);
        // 92.2 − 2 floored to a multiple of 5.
        assert!(chart.svg.contains("axis starts at 90%"), "{}", chart.svg);
        assert_eq!(chart.points, weeks());
        assert_eq!(chart.reference, target());
        assert_eq!(chart.title, "Weekly");
        assert_eq!(chart.description, "Each week");
    }

    #[test]
    fn a_holiday_is_shaded_and_named_and_a_span_off_the_chart_is_dropped() {
        let holiday = |from, to, label: &str| ChartSpan {
            from,
            to,
            label: label.into(),
        };
        let chart = line_chart_with_spans(
            "Weekly",
            "Each week",
            weeks(),
            target(),
            vec![holiday(3, 3, "Half <term>"), holiday(4, 9, "Off the end")],
        )
        .expect("draws");
        assert_eq!(chart.spans, vec![holiday(3, 3, "Half <term>")]);
        let band = format!(
            r##"fill="#{:02X}{:02X}{:02X}""##,
            HOLIDAY.0, HOLIDAY.1, HOLIDAY.2
        );
        assert_eq!(chart.svg.matches(&band).count(), 1, "one shaded band");
        assert!(chart.svg.contains("Half &lt;term&gt;"), "named, escaped");
        assert!(!chart.svg.contains("Off the end"));
        assert_well_formed(&chart.svg);
    }

    #[test]
    fn a_week_without_data_breaks_the_line() {
        let chart = line_chart("Weekly", "Each week", weeks(), None).expect("draws");
        // Two runs (3 weeks, then 2), five markers.
        assert_eq!(chart.svg.matches("<polyline").count() - axis_lines(), 2);
        assert_eq!(chart.svg.matches("<circle").count(), 5);
    }

    /// Polylines that are not data: the axes and the grid lines.
    fn axis_lines() -> usize {
        let empty = line_chart("", "", vec![("a".into(), Some(100.0))], None).expect("draws");
        // One point: no data polyline, only axes and grid.
        empty.svg.matches("<polyline").count()
    }

    #[test]
    fn one_bar_per_value_each_labelled() {
        let days: Vec<(String, Option<f64>)> = [
            ("Mon", Some(95.3)),
            ("Tue", Some(96.1)),
            ("Wed", None),
            ("Thu", Some(94.0)),
            ("Fri", Some(91.25)),
        ]
        .into_iter()
        .map(|(l, v)| (l.to_owned(), v))
        .collect();
        let chart = bar_chart("Days", "By day", days, target()).expect("draws");
        assert_well_formed(&chart.svg);
        assert_eq!(chart.svg.matches(&bar_fill()).count(), 4, "{}", chart.svg);
        for label in ["95.3%", "96.1%", "94.0%", "91.2%", "Target 96.0%", "Wed"] {
            assert!(chart.svg.contains(label), "{label} in {}", chart.svg);
        }
    }

    #[test]
    fn labels_are_escaped() {
        let points = vec![
            ("4<B & C>".to_owned(), Some(97.0)),
            ("\"Oak\" 'class'".to_owned(), Some(93.0)),
        ];
        let chart = bar_chart(
            "Classes <&>",
            "By class & group",
            points,
            Some(("Target <96%>".into(), 96.0)),
        )
        .expect("draws");
        assert_well_formed(&chart.svg);
        assert!(chart.svg.contains("4&lt;B &amp; C&gt;"), "{}", chart.svg);
        assert!(chart.svg.contains("Target &lt;96%&gt;"), "{}", chart.svg);
        assert!(chart.svg.contains("Classes &lt;&amp;&gt;"), "{}", chart.svg);
        assert!(!chart.svg.contains("4<B"), "{}", chart.svg);
    }

    #[test]
    fn no_data_is_said_not_panicked_over() {
        for points in [
            vec![],
            vec![("Mon".to_owned(), None), ("Tue".to_owned(), None)],
        ] {
            for chart in [
                line_chart("t", "d", points.clone(), target()).expect("draws"),
                bar_chart("t", "d", points.clone(), None).expect("draws"),
            ] {
                assert_well_formed(&chart.svg);
                assert!(chart.svg.contains("No data"), "{}", chart.svg);
                assert_eq!(chart.svg.matches(&bar_fill()).count(), 0);
            }
        }
        let nan = bar_chart("t", "d", vec![("x".into(), Some(f64::NAN))], None).expect("draws");
        assert!(nan.svg.contains("No data"), "{}", nan.svg);
    }

    fn attr(tag: &str, name: &str) -> f64 {
        let key = format!(" {name}=\"");
        let start = tag.find(&key).expect("attribute") + key.len();
        let end = tag[start..].find('"').expect("closes") + start;
        tag[start..end].parse().expect("number")
    }

    #[test]
    fn a_full_bar_and_its_label_fit() {
        let points = vec![
            ("All".to_owned(), Some(100.0)),
            ("Some".to_owned(), Some(88.0)),
        ];
        let chart = bar_chart("t", "d", points, None).expect("draws");
        let bar = chart
            .svg
            .lines()
            .find(|l| l.contains(&bar_fill()))
            .expect("a bar");
        let top = attr(bar, "y");
        assert!(top >= 20.0, "{bar}");
        assert!(top + attr(bar, "height") <= 260.0, "{bar}");
        let label = chart
            .svg
            .split("<text")
            .find(|t| t.contains("100.0%"))
            .expect("the label");
        // Anchored at its bottom, ~11px tall: its top must be inside the picture.
        assert!(attr(label, "y") >= 14.0, "{label}");
        assert!(chart.svg.contains("axis starts at 85%"), "{}", chart.svg);
    }

    #[test]
    fn the_axis_starts_low_enough() {
        assert_eq!(lower_bound([96.4, 92.2]), 90.0);
        assert_eq!(lower_bound([97.0, 92.0]), 90.0);
        assert_eq!(lower_bound([91.9]), 85.0);
        assert_eq!(lower_bound([100.0]), 95.0);
        assert_eq!(lower_bound([1.0]), 0.0);
        assert_eq!(lower_bound([]), 95.0);
    }

    #[test]
    fn many_weeks_thin_their_labels() {
        let points: Vec<(String, Option<f64>)> = (0..39)
            .map(|i| (format!("{} Sep", i % 28 + 1), Some(90.0 + f64::from(i % 7))))
            .collect();
        let chart = line_chart("t", "d", points, target()).expect("draws");
        let shown = chart.svg.matches(" Sep\n").count();
        assert!((5..39).contains(&shown), "{shown} labels");
        let bars: Vec<(String, Option<f64>)> = (0..20)
            .map(|i| (format!("Reception class {i}"), Some(93.5)))
            .collect();
        let chart = bar_chart("t", "d", bars, target()).expect("draws");
        assert_well_formed(&chart.svg);
        assert_eq!(chart.svg.matches(&bar_fill()).count(), 20);
    }
}
