//! Unit tests for PDF layout: page breaks, charts, table fitting and certificates.

use super::certificate::*;
use super::charts::*;
use super::layout::*;
use super::page::*;
use super::tables::*;
use super::*;
use crate::delivery::channel::letter::{Face, metrics, text_width_mm};
use crate::report::document::{Cell, Chart, Section, Table};

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
            let value = crate::report::document::thousands(100_000 + i * 100 + j);
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
    let chart = crate::report::chart::line_chart_with_spans(
        "Attendance each week",
        "",
        vec![
            ("20 Oct".into(), Some(95.0)),
            ("27 Oct".into(), None),
            ("3 Nov".into(), Some(96.0)),
            ("10 Nov".into(), None),
        ],
        None,
        vec![crate::report::ChartSpan {
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
