//! A report [`Document`] and term certificates as self-contained HTML pages, rendered with the
//! `report.html` and `certificates.html` templates.
//!
//! The templates see a view model built here (the `*View` structs), not the document itself:
//! cells arrive already printed (`Cell::display`) with flags for alignment and suppression,
//! so a school's own template needs no logic. Every field is always present (strict mode);
//! an absent note is `null`. Everything is escaped by handlebars except each chart's `svg`,
//! which we drew ourselves and which the template inserts with `{{{svg}}}`.

use anyhow::Result;
use serde::Serialize;

use super::document::{Cell, Certificate, Chart, Document, Section, Table};
use crate::delivery::template::Templates;

/// Said under a table with suppressed cells when the table has no note of its own.
const SUPPRESSION_NOTE: &str =
    "c: suppressed, because the group is too small to publish without identifying a child.";

/// Tables with up to this many rows are kept on one printed page.
const SMALL_TABLE_ROWS: usize = 16;

/// What `report.html` is given.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentView<'a> {
    pub title: &'a str,
    pub school: &'a str,
    pub subtitle: &'a str,
    pub meta: &'a [String],
    /// A list of contents is worth printing once there are a few sections.
    pub contents: bool,
    pub sections: Vec<SectionView<'a>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionView<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub paragraphs: &'a [String],
    pub charts: Vec<ChartView<'a>>,
    pub tables: Vec<TableView<'a>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChartView<'a> {
    pub title: &'a str,
    /// Trusted SVG markup, inserted unescaped.
    pub svg: &'a str,
    pub description: &'a str,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableView<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub columns: Vec<ColumnView<'a>>,
    pub rows: Vec<RowView>,
    /// The table's own note; else, when a cell is suppressed, what `c` means; else `null`.
    pub note: Option<&'a str>,
    pub suppressed: bool,
    /// Short enough to keep on one page.
    pub small: bool,
    /// Few columns: the table need not span the page.
    pub narrow: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnView<'a> {
    pub text: &'a str,
    /// The column holds numbers (its heading is right-aligned above them).
    pub numeric: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowView {
    /// The first cell, a row heading.
    pub label: CellView,
    pub cells: Vec<CellView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CellView {
    /// As printed: "95.3%", "1,204", "c", "–".
    pub text: String,
    pub numeric: bool,
    pub suppressed: bool,
}

/// What `certificates.html` is given.
#[derive(Debug, Clone, Serialize)]
pub struct CertificatesView<'a> {
    pub certificates: &'a [Certificate],
    /// No certificates: the page says so.
    pub empty: bool,
    /// The page's `<title>`.
    pub title: String,
}

impl<'a> DocumentView<'a> {
    pub fn of(doc: &'a Document) -> DocumentView<'a> {
        DocumentView {
            title: &doc.title,
            school: &doc.school,
            subtitle: &doc.subtitle,
            meta: &doc.meta,
            contents: doc.sections.len() >= 3,
            sections: doc.sections.iter().map(SectionView::of).collect(),
        }
    }
}

impl<'a> SectionView<'a> {
    fn of(section: &'a Section) -> SectionView<'a> {
        SectionView {
            id: &section.id,
            title: &section.title,
            paragraphs: &section.paragraphs,
            charts: section.charts.iter().map(ChartView::of).collect(),
            tables: section.tables.iter().map(TableView::of).collect(),
        }
    }
}

impl<'a> ChartView<'a> {
    fn of(chart: &'a Chart) -> ChartView<'a> {
        ChartView {
            title: &chart.title,
            svg: &chart.svg,
            description: &chart.description,
        }
    }
}

impl<'a> TableView<'a> {
    fn of(table: &'a Table) -> TableView<'a> {
        let suppressed = table.rows.iter().flatten().any(|c| *c == Cell::Suppressed);
        // A column is numeric when its cells are (headings of label columns stay left).
        let numeric = |i: usize| {
            i > 0
                && table
                    .rows
                    .iter()
                    .filter_map(|row| row.get(i))
                    .any(Cell::numeric)
        };
        TableView {
            id: &table.id,
            title: &table.title,
            columns: table
                .columns
                .iter()
                .enumerate()
                .map(|(i, text)| ColumnView {
                    text,
                    numeric: numeric(i),
                })
                .collect(),
            rows: table
                .rows
                .iter()
                .map(|row| match row.split_first() {
                    Some((label, cells)) => RowView {
                        label: CellView::of(label),
                        cells: cells.iter().map(CellView::of).collect(),
                    },
                    None => RowView {
                        label: CellView::of(&Cell::text("")),
                        cells: Vec::new(),
                    },
                })
                .collect(),
            note: table
                .note
                .as_deref()
                .or(suppressed.then_some(SUPPRESSION_NOTE)),
            suppressed,
            small: table.rows.len() <= SMALL_TABLE_ROWS,
            narrow: table.columns.len() <= 3,
        }
    }
}

impl CellView {
    fn of(cell: &Cell) -> CellView {
        CellView {
            text: cell.display(),
            numeric: cell.numeric(),
            suppressed: *cell == Cell::Suppressed,
        }
    }
}

/// The report as one self-contained HTML page (inline CSS and SVG; prints to A4 portrait).
pub fn document_html(templates: &Templates, doc: &Document) -> Result<String> {
    Ok(templates.render_html("report.html", &DocumentView::of(doc))?)
}

/// Certificates as one HTML page, one certificate per printed A4 landscape page; with none,
/// a page that says there are none this term.
pub fn certificates_html(templates: &Templates, certificates: &[Certificate]) -> Result<String> {
    let title = match certificates.first() {
        Some(c) => format!("{} attendance certificates, {}", c.school, c.period),
        None => "Attendance certificates".to_owned(),
    };
    let view = CertificatesView {
        certificates,
        empty: certificates.is_empty(),
        title,
    };
    Ok(templates.render_html("certificates.html", &view)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::chart;

    pub(crate) fn sample() -> Document {
        let weeks: Vec<(String, Option<f64>)> = [
            ("8 Sep", Some(96.4)),
            ("15 Sep", Some(95.1)),
            ("22 Sep", Some(93.8)),
            ("29 Sep", None),
            ("6 Oct", Some(94.7)),
        ]
        .into_iter()
        .map(|(l, v)| (l.to_owned(), v))
        .collect();
        let trend = chart::line_chart(
            "Attendance each week",
            "Whole-school attendance each week, with the target.",
            weeks,
            Some(("Target 96.0%".into(), 96.0)),
        )
        .expect("chart");
        Document {
            title: "Attendance report for governors".into(),
            school: "Oak Primary & Nursery".into(),
            subtitle: "Autumn 2025: 3 September to 19 December 2025".into(),
            meta: vec!["Made on 19 December 2025.".into()],
            sections: vec![
                Section {
                    paragraphs: vec!["Attendance was 95.1% this term.".into()],
                    charts: vec![trend],
                    ..Section::new("summary", "Summary")
                },
                Section {
                    tables: vec![Table {
                        id: "years".into(),
                        title: "By year group".into(),
                        columns: vec!["Year".into(), "Pupils".into(), "Attendance".into()],
                        rows: vec![
                            vec![
                                Cell::text("Year 1"),
                                Cell::Count(1204),
                                Cell::Percent(Some(96.04)),
                            ],
                            vec![
                                Cell::text("<script>alert(1)</script>"),
                                Cell::Suppressed,
                                Cell::Percent(None),
                            ],
                        ],
                        note: None,
                    }],
                    ..Section::new("cohorts", "Year groups")
                },
            ],
        }
    }

    #[test]
    fn a_report_is_a_self_contained_escaped_page() {
        let templates = Templates::load(None).expect("templates");
        let html = document_html(&templates, &sample()).expect("renders");
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.contains("Oak Primary &amp; Nursery"), "{html}");
        assert!(html.contains("Autumn 2025: 3 September"), "{html}");
        assert!(html.contains("96.0%"), "{html}");
        assert!(html.contains("1,204"), "{html}");
        assert!(html.contains(r#"<section id="cohorts""#), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("<svg "), "the chart is inserted as markup");
        assert!(html.contains("<figcaption"), "{html}");
        assert!(html.contains("Whole-school attendance each week"), "{html}");
        assert!(html.contains("@page"), "{html}");
        assert!(html.contains("size: A4"), "{html}");
        assert!(html.contains(r#"lang="en-GB""#), "{html}");
        // The suppressed cell is marked, and what `c` means is said under the table.
        assert!(html.contains(r#"class="num suppressed""#), "{html}");
        assert!(html.contains(SUPPRESSION_NOTE), "{html}");
        let without_namespace = html.replace("http://www.w3.org/2000/svg", "");
        assert!(!without_namespace.contains("http://"), "{html}");
        assert!(!without_namespace.contains("https://"), "{html}");
        assert!(!html.contains("<link"), "{html}");
        assert!(!html.contains("<script"), "{html}");
    }

    #[test]
    fn a_tables_own_note_is_printed() {
        let mut doc = sample();
        doc.sections[1].tables[0].note = Some("Source: the register.".into());
        let templates = Templates::load(None).expect("templates");
        let html = document_html(&templates, &doc).expect("renders");
        assert!(html.contains("Source: the register."), "{html}");
        assert!(!html.contains(SUPPRESSION_NOTE), "{html}");
    }

    #[test]
    fn the_view_flags_cells_and_columns() {
        let doc = sample();
        let view = DocumentView::of(&doc);
        let table = &view.sections[1].tables[0];
        assert!(table.suppressed);
        assert!(!table.columns[0].numeric);
        assert!(table.columns[1].numeric && table.columns[2].numeric);
        let row = &table.rows[1];
        assert!(!row.label.numeric);
        assert!(row.cells[0].suppressed && row.cells[0].numeric);
        assert_eq!(row.cells[0].text, "c");
        assert_eq!(row.cells[1].text, "–");
        assert_eq!(table.rows[0].cells[1].text, "96.0%");
    }

    fn certificate(pupil: &str) -> Certificate {
        Certificate {
            school: "Oak Primary & Nursery".into(),
            pupil: pupil.into(),
            group: "Year 4, class 4B".into(),
            period: "Autumn 2025".into(),
            achievement: "for 100% attendance: present for every one of the 142 sessions this term"
                .into(),
            signatory: "Jane Smith".into(),
            signatory_role: "Headteacher".into(),
            date: "19 December 2025".into(),
        }
    }

    #[test]
    fn certificates_one_per_page() {
        let templates = Templates::load(None).expect("templates");
        let html = certificates_html(
            &templates,
            &[certificate("Ada Lovelace"), certificate("<b>Bob</b>")],
        )
        .expect("renders");
        assert!(html.contains("Ada Lovelace"), "{html}");
        assert!(html.contains("&lt;b&gt;Bob&lt;/b&gt;"), "{html}");
        assert!(html.contains("size: A4 landscape"), "{html}");
        assert!(html.contains("break-after: page"), "{html}");
        assert_eq!(html.matches(r#"<article class="certificate""#).count(), 2);
        assert!(html.contains("Jane Smith"), "{html}");
        assert!(html.contains("Headteacher"), "{html}");
        assert!(html.contains("19 December 2025"), "{html}");
        assert!(!html.contains("http"), "{html}");
    }

    #[test]
    fn no_certificates_is_a_page_saying_so() {
        let templates = Templates::load(None).expect("templates");
        let html = certificates_html(&templates, &[]).expect("renders");
        assert!(html.contains("no certificates"), "{html}");
        assert_eq!(html.matches(r#"<article class="certificate""#).count(), 0);
    }

    /// Writes a larger sample report and certificates to the temp folder, to look at in a
    /// browser: `cargo test --lib report::html::tests::write_samples -- --ignored`.
    #[test]
    #[ignore = "writes files to look at"]
    fn write_samples() {
        let mut doc = sample();
        let classes: Vec<(String, Option<f64>)> = [
            ("R Oak", Some(94.2)),
            ("1 Ash", Some(95.9)),
            ("2 Elm", Some(96.8)),
            ("3 Yew", Some(93.1)),
            ("4<B & C>", Some(97.4)),
            ("5 Fir", None),
            ("6 Lime", Some(100.0)),
        ]
        .into_iter()
        .map(|(l, v)| (l.to_owned(), v))
        .collect();
        let days: Vec<(String, Option<f64>)> = [
            ("Mon", Some(95.3)),
            ("Tue", Some(96.1)),
            ("Wed", Some(96.0)),
            ("Thu", Some(95.7)),
            ("Fri", Some(93.9)),
        ]
        .into_iter()
        .map(|(l, v)| (l.to_owned(), v))
        .collect();
        let weeks: Vec<(String, Option<f64>)> = (0..39)
            .map(|i| {
                let date = chrono::NaiveDate::from_ymd_opt(2025, 9, 8).expect("date")
                    + chrono::Duration::weeks(i);
                let value = (i % 13 != 7).then(|| 92.0 + f64::from((i * 7 % 11) as i32) * 0.5);
                (date.format("%-d %b").to_string(), value)
            })
            .collect();
        let target = Some(("Target 96.0%".to_owned(), 96.0));
        doc.sections[0].charts.push(
            chart::bar_chart(
                "Attendance by day of the week",
                "Whole-school attendance on each weekday over the term.",
                days,
                target.clone(),
            )
            .expect("chart"),
        );
        let mut classes_section = Section::new("classes", "Classes");
        classes_section.paragraphs.push(
            "Each class's attendance over the term. Class 5 Fir had no sessions recorded.".into(),
        );
        classes_section.charts.push(
            chart::bar_chart(
                "Attendance by class",
                "Attendance of each class over the term, with the target.",
                classes,
                target.clone(),
            )
            .expect("chart"),
        );
        classes_section.charts.push(
            chart::line_chart(
                "Attendance each week, whole year",
                "39 weeks, with half terms as gaps.",
                weeks,
                target,
            )
            .expect("chart"),
        );
        classes_section.tables.push(Table {
            id: "pupils".into(),
            title: "Pupils below 90% (long table)".into(),
            columns: [
                "Pupil",
                "Class",
                "Possible sessions",
                "Attended",
                "Authorised absence",
                "Unauthorised absence",
                "Attendance",
                "Persistent absence",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows: (0..45)
                .map(|i| {
                    vec![
                        Cell::text(format!(
                            "Pupil number {i} with a rather long double-barrelled surname"
                        )),
                        Cell::text(format!("{}B", i % 6 + 1)),
                        Cell::Count(142),
                        Cell::Count(120 + i % 10),
                        Cell::Count(10),
                        if i % 9 == 0 {
                            Cell::Suppressed
                        } else {
                            Cell::Count(12 - i % 10)
                        },
                        Cell::Percent(Some(80.0 + f64::from(i as u32 % 10))),
                        Cell::text(if i % 3 == 0 { "Yes" } else { "No" }),
                    ]
                })
                .collect(),
            note: Some("Pupils on roll for the whole term. c: fewer than 3 pupils.".into()),
        });
        doc.sections.push(classes_section);
        let templates = Templates::load(None).expect("templates");
        let dir = std::env::temp_dir();
        std::fs::write(
            dir.join("report-sample.html"),
            document_html(&templates, &doc).expect("renders"),
        )
        .expect("write");
        let mut long = certificate("Maximilian Alexander Montgomery-Fotheringham");
        long.group = "Year 6, class 6 Lime".into();
        std::fs::write(
            dir.join("certificates-sample.html"),
            certificates_html(&templates, &[certificate("Ada Lovelace"), long]).expect("renders"),
        )
        .expect("write");
        std::fs::write(
            dir.join("certificates-empty.html"),
            certificates_html(&templates, &[]).expect("renders"),
        )
        .expect("write");
    }
}
