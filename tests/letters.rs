//! What the office sees: the day's letters as one printable PDF, each address in the
//! envelope window, and the call list in calling order.
//!
//! The PDF is read back with lopdf and its text positions are recovered from the content
//! streams, so these tests check where things land on paper, not how the code works.

use chrono::{NaiveDate, NaiveDateTime};
use rollcall::delivery::channel::call_list::{self, CallContact, CallEntry};
use rollcall::delivery::channel::letter::{self, Letter, LetterError};

// The documented window: 20 mm from the left edge, 45 mm from the top, 90 mm × 35 mm.
const WINDOW_LEFT: f32 = 20.0;
const WINDOW_RIGHT: f32 = 20.0 + 90.0;
const WINDOW_TOP: f32 = 45.0;
const WINDOW_BOTTOM: f32 = 45.0 + 35.0;
const MM_PER_PT: f32 = 25.4 / 72.0;
const A4_HEIGHT_PT: f32 = 297.0 / MM_PER_PT;

fn letter_to(recipient: &str, address: &[&str], paragraphs: Vec<String>) -> Letter {
    Letter {
        school_name: "St Mary's C of E Primary School".into(),
        school_address: vec![
            "Church Lane".into(),
            "Canterbury".into(),
            "Kent CT1 2AA".into(),
        ],
        school_contact: "01227 000000 \u{b7} office@stmarys.kent.sch.uk".into(),
        date: NaiveDate::from_ymd_opt(2026, 11, 23).expect("valid date"),
        recipient_name: recipient.into(),
        recipient_address: address.iter().map(|s| s.to_string()).collect(),
        reference: "ATT-2026-0412".into(),
        heading: "Re: Ada Lovelace, Year 4".into(),
        paragraphs,
        sign_off: "Yours sincerely".into(),
        signatory: "Mrs J Okafor".into(),
        signatory_role: "Attendance Officer".into(),
    }
}

fn short_paragraphs() -> Vec<String> {
    vec![
        "Dear Mr and Mrs Lovelace,".into(),
        "Ada has been absent from school for three days this term without a reason being \
         given. Every day in school counts, and we would like to help."
            .into(),
        "Please contact the school office on 01227 000000 so that we can talk about any \
         support Ada may need."
            .into(),
    ]
}

fn lovelace() -> Letter {
    letter_to(
        "Mr and Mrs Lovelace",
        &["12 Ashford Road", "Thanington", "Canterbury", "CT1 3AB"],
        short_paragraphs(),
    )
}

/// 40 paragraphs of about 70 words each: far more than one page can hold.
fn long_letter() -> Letter {
    let paragraph = "Attendance matters because children who are in school every day learn \
        more, keep up with their friends and feel part of the school community. When a child \
        misses a day, the lessons they miss are not repeated, and small gaps can grow over \
        the year. We know that there are sometimes good reasons for absence and we want to \
        work with you to make sure Ada gets the most from her time at school.";
    let mut letter = lovelace();
    letter.paragraphs = (0..40).map(|i| format!("{}. {paragraph}", i + 1)).collect();
    letter
}

/// A line of text as printed: where it starts, in mm from the page's top-left corner.
#[derive(Debug, Clone)]
struct Printed {
    x_mm: f32,
    baseline_mm: f32,
    size_pt: f32,
    text: String,
}

struct Pdf {
    pages: Vec<Vec<Printed>>,
    /// Raw (decompressed) content streams, one per page.
    streams: Vec<Vec<u8>>,
    doc: lopdf::Document,
}

impl Pdf {
    fn read(bytes: &[u8]) -> Pdf {
        assert!(
            bytes.starts_with(b"%PDF-"),
            "not a PDF: {:?}",
            &bytes[..8.min(bytes.len())]
        );
        let doc = lopdf::Document::load_mem(bytes).expect("the PDF parses");
        let mut pages = Vec::new();
        let mut streams = Vec::new();
        for (_, id) in doc.get_pages() {
            let raw = doc.get_page_content(id);
            let content = lopdf::content::Content::decode(&raw).expect("content stream decodes");
            pages.push(printed_text(&content.operations));
            streams.push(raw);
        }
        Pdf {
            pages,
            streams,
            doc,
        }
    }

    fn page_count(&self) -> usize {
        self.pages.len()
    }

    fn find(&self, page: usize, text: &str) -> Option<&Printed> {
        self.pages[page].iter().find(|p| p.text == text)
    }

    fn page_text(&self, page: usize) -> String {
        self.pages[page]
            .iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Follows the text matrix through BT/Tm/Td/Tf and collects every Tj/TJ string with its
/// position. Enough of PDF's text model for what the letter writer emits.
fn printed_text(ops: &[lopdf::content::Operation]) -> Vec<Printed> {
    let num = |o: &lopdf::Object| o.as_float().expect("numeric operand");
    let (mut x, mut y, mut line_x, mut line_y, mut size) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut out = Vec::new();
    for op in ops {
        match op.operator.as_str() {
            "BT" => (x, y, line_x, line_y) = (0.0, 0.0, 0.0, 0.0),
            "Tm" => {
                (x, y) = (num(&op.operands[4]), num(&op.operands[5]));
                (line_x, line_y) = (x, y);
            }
            "Td" => {
                line_x += num(&op.operands[0]);
                line_y += num(&op.operands[1]);
                (x, y) = (line_x, line_y);
            }
            "Tf" => size = num(&op.operands[1]),
            "Tj" | "TJ" => {
                let mut bytes = Vec::new();
                match &op.operands[0] {
                    lopdf::Object::Array(items) => {
                        for item in items {
                            if let Ok(s) = item.as_str() {
                                bytes.extend_from_slice(s);
                            }
                        }
                    }
                    other => bytes.extend_from_slice(other.as_str().expect("string operand")),
                }
                out.push(Printed {
                    x_mm: x * MM_PER_PT,
                    baseline_mm: (A4_HEIGHT_PT - y) * MM_PER_PT,
                    size_pt: size,
                    text: bytes.iter().map(|&b| win_ansi(b)).collect(),
                });
            }
            _ => {}
        }
    }
    out
}

/// WinAnsiEncoding (PDF 32000-1 Annex D): Latin-1 except 0x80–0x9F.
fn win_ansi(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '?', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '?', 'Ž', '?', '?', '‘',
        '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '?', 'ž', 'Ÿ',
    ];
    match byte {
        0x80..=0x9F => HIGH[usize::from(byte - 0x80)],
        _ => char::from(byte),
    }
}

/// Helvetica's cap height and descender (AFM: 718 and 207 per 1000 em), in mm.
fn cap_mm(size_pt: f32) -> f32 {
    0.718 * size_pt * MM_PER_PT
}
fn descent_mm(size_pt: f32) -> f32 {
    0.207 * size_pt * MM_PER_PT
}

fn overlaps_window_vertically(p: &Printed) -> bool {
    p.baseline_mm - cap_mm(p.size_pt) < WINDOW_BOTTOM
        && p.baseline_mm + descent_mm(p.size_pt) > WINDOW_TOP
}

#[test]
fn an_empty_batch_is_an_error_not_an_empty_pdf() {
    let error = letter::render(&[]).expect_err("nothing to print");
    assert_eq!(error, LetterError::NoLetters);
    assert!(error.to_string().contains("empty"), "{error}");
}

#[test]
fn a_short_letter_is_one_page_with_the_address_in_the_window() {
    let bytes = letter::render_one(&lovelace()).expect("renders");
    let pdf = Pdf::read(&bytes);
    assert_eq!(pdf.page_count(), 1);

    let address = [
        "Mr and Mrs Lovelace",
        "12 Ashford Road",
        "Thanington",
        "Canterbury",
        "CT1 3AB",
    ];
    let mut previous_baseline = 0.0;
    for line in address {
        let p = pdf
            .find(0, line)
            .unwrap_or_else(|| panic!("{line:?} not printed"));
        // Inside the window with room to spare: starts right of its left edge, whole
        // glyphs (capital tops to descenders) between its top and bottom edges.
        assert!(
            p.x_mm >= WINDOW_LEFT + 3.0 && p.x_mm < WINDOW_RIGHT - 40.0,
            "{line}: x = {} mm",
            p.x_mm
        );
        assert!(
            p.baseline_mm - cap_mm(p.size_pt) >= WINDOW_TOP + 2.0,
            "{line}: {p:?}"
        );
        assert!(
            p.baseline_mm + descent_mm(p.size_pt) <= WINDOW_BOTTOM - 2.0,
            "{line}: {p:?}"
        );
        // In order, name first and postcode last, at a readable size.
        assert!(p.baseline_mm > previous_baseline);
        assert!(p.size_pt >= 8.0);
        previous_baseline = p.baseline_mm;
    }

    // Nothing else shows through the window: every other line at the window's height
    // starts right of it (the date and reference).
    for p in &pdf.pages[0] {
        if address.contains(&p.text.as_str()) || !overlaps_window_vertically(p) {
            continue;
        }
        assert!(
            p.x_mm >= WINDOW_RIGHT,
            "{p:?} would show through the window"
        );
    }

    // The rest of a letter a parent would expect, in reading order.
    let text = pdf.page_text(0);
    for expected in [
        "St Mary's C of E Primary School",
        "Church Lane, Canterbury, Kent CT1 2AA",
        "01227 000000 \u{b7} office@stmarys.kent.sch.uk",
        "23 November 2026",
        "Ref: ATT-2026-0412",
        "Re: Ada Lovelace, Year 4",
        "Dear Mr and Mrs Lovelace,",
        "Yours sincerely",
        "Mrs J Okafor",
        "Attendance Officer",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from\n{text}");
    }
    let heading = pdf.find(0, "Re: Ada Lovelace, Year 4").expect("heading");
    assert!(heading.baseline_mm > WINDOW_BOTTOM);
    let signatory = pdf.find(0, "Mrs J Okafor").expect("signatory");
    assert!(signatory.baseline_mm > heading.baseline_mm && signatory.baseline_mm < 297.0 - 20.0);
    assert!(
        !text.contains("continued"),
        "a one-page letter says nothing about continuing"
    );
}

#[test]
fn a_batch_prints_each_letter_from_a_new_page() {
    let mut second = lovelace();
    second.recipient_name = "Ms G Hopper".into();
    second.recipient_address = vec![
        "3 Mill Street".into(),
        "Whitstable".into(),
        "CT5 1AA".into(),
    ];
    let mut third = lovelace();
    third.recipient_name = "Mr A Turing".into();

    let long_pages = Pdf::read(&letter::render_one(&long_letter()).expect("renders")).page_count();
    let batch = [lovelace(), long_letter(), second, third];
    let pdf = Pdf::read(&letter::render(&batch).expect("renders"));

    // One page for each short letter plus however many the long one needs.
    assert_eq!(pdf.page_count(), 3 + long_pages);
    // Each letter's address is on its own first page.
    let first_pages = [
        (0, "Mr and Mrs Lovelace"),
        (1, "Mr and Mrs Lovelace"),
        (1 + long_pages, "Ms G Hopper"),
        (2 + long_pages, "Mr A Turing"),
    ];
    for (page, name) in first_pages {
        let p = pdf
            .find(page, name)
            .unwrap_or_else(|| panic!("{name} not on page {page}"));
        assert!(p.baseline_mm > WINDOW_TOP && p.baseline_mm < WINDOW_BOTTOM);
        assert!(
            pdf.page_text(page)
                .contains("St Mary's C of E Primary School")
        );
    }
}

#[test]
fn a_long_letter_continues_without_a_second_address_block() {
    let pdf = Pdf::read(&letter::render_one(&long_letter()).expect("renders"));
    // 40 paragraphs of five or six lines each cannot fit on one or two pages.
    let pages = pdf.page_count();
    assert!(pages >= 3, "{pages} pages");

    // Page one says it continues; the last page ends with the signature.
    assert!(pdf.page_text(0).contains("continued"));
    assert!(pdf.find(pages - 1, "Mrs J Okafor").is_some());
    assert!(pdf.find(0, "Mrs J Okafor").is_none());

    for page in 1..pages {
        let text = pdf.page_text(page);
        // A small header naming the school and the page ...
        assert!(
            text.contains("St Mary's C of E Primary School (continued)"),
            "{text}"
        );
        assert!(
            text.contains(&format!("page {} of {pages}", page + 1)),
            "{text}"
        );
        let header = pdf.pages[page]
            .iter()
            .find(|p| p.text.ends_with("(continued)"))
            .expect("continuation header");
        assert!(
            header.baseline_mm < 20.0 && header.size_pt < 10.0,
            "{header:?}"
        );
        let top_of_body = pdf.pages[page]
            .iter()
            .filter(|p| p.size_pt == 11.0)
            .map(|p| p.baseline_mm)
            .fold(f32::MAX, f32::min);
        assert!(
            top_of_body > header.baseline_mm + 5.0,
            "body clear of the header"
        );
        // ... and no address block, letterhead or date block.
        for line in [
            "12 Ashford Road",
            "Thanington",
            "CT1 3AB",
            "Church Lane, Canterbury, Kent CT1 2AA",
            "Ref: ATT-2026-0412",
        ] {
            assert!(!text.contains(line), "page {} repeats {line:?}", page + 1);
        }
        assert!(
            pdf.pages[page]
                .iter()
                .all(|p| p.text != "Mr and Mrs Lovelace"),
            "no address block on page {}",
            page + 1
        );
    }

    // No paragraph is lost or duplicated across the page breaks.
    let all: String = (0..pages)
        .map(|p| pdf.page_text(p))
        .collect::<Vec<_>>()
        .join("\n");
    for n in 1..=40 {
        assert_eq!(
            all.matches(&format!("\n{n}. Attendance matters")).count(),
            1,
            "paragraph {n}"
        );
    }
    // Body lines stay inside the 20 mm side margins and above the bottom margin.
    for page in &pdf.pages {
        for p in page {
            assert!(p.x_mm >= 19.9, "{p:?}");
            assert!(p.baseline_mm <= 297.0 - 12.0, "{p:?}");
        }
    }
}

#[test]
fn non_ascii_names_print_in_win_ansi() {
    let mut letter = lovelace();
    letter.recipient_name = "Ms Zoë Siân Brontë".into();
    letter.recipient_address = vec![
        "Tŷ Gwyn".into(),
        "Łukasz Street".into(),
        "李 Road".into(),
        "CT1 3AB".into(),
    ];
    let pdf = Pdf::read(&letter::render_one(&letter).expect("renders"));

    assert!(
        pdf.find(0, "Ms Zoë Siân Brontë").is_some(),
        "{}",
        pdf.page_text(0)
    );
    // Accented letters WinAnsi lacks keep their base letter; other scripts become '?'.
    assert!(pdf.find(0, "Ty Gwyn").is_some());
    assert!(pdf.find(0, "Lukasz Street").is_some());
    assert!(pdf.find(0, "? Road").is_some());

    // The bytes really are WinAnsi (ë = 0xEB), not UTF-8 (C3 AB) the viewer would show
    // as "Ã«", and the font says so.
    let stream = &pdf.streams[0];
    assert!(stream.windows(3).any(|w| w == b"Zo\xEB") || contains_hex(stream, "5A6FEB"));
    assert!(!stream.windows(2).any(|w| w == b"\xC3\xAB"));
    let fonts: Vec<String> = pdf
        .doc
        .objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .filter(|d| d.get(b"Type").and_then(|t| t.as_name()).ok() == Some(b"Font"))
        .map(|d| {
            let name = |k: &[u8]| {
                d.get(k)
                    .and_then(|v| v.as_name())
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .unwrap_or_default()
            };
            format!("{} {}", name(b"BaseFont"), name(b"Encoding"))
        })
        .collect();
    assert!(
        fonts.contains(&"Helvetica WinAnsiEncoding".to_string()),
        "{fonts:?}"
    );
    assert!(
        fonts.contains(&"Helvetica-Bold WinAnsiEncoding".to_string()),
        "{fonts:?}"
    );
}

fn contains_hex(stream: &[u8], hex: &str) -> bool {
    String::from_utf8_lossy(stream).to_uppercase().contains(hex)
}

#[test]
fn an_address_too_long_for_the_window_is_refused_with_its_index() {
    let mut bad = lovelace();
    bad.recipient_address = (1..=12).map(|n| format!("Line {n}")).collect();
    let error = letter::render(&[lovelace(), bad]).expect_err("cannot fit");
    match error {
        LetterError::AddressDoesNotFit {
            index,
            lines,
            max_lines,
            ..
        } => {
            assert_eq!(index, 1);
            assert_eq!(lines, 13);
            assert!(max_lines < 13);
        }
        other => panic!("unexpected {other:?}"),
    }

    // The window leaves 90 - 2 × 5 = 80 mm = 226.8 pt for a line. Helvetica's W is 944/1000
    // em, 7.552 pt at 8 pt: 30 W = 226.56 pt fits at 8 pt, 31 W = 234.1 pt does not.
    let mut wide = lovelace();
    wide.recipient_address[0] = "W".repeat(30);
    let pdf = Pdf::read(&letter::render_one(&wide).expect("30 W fit at 8 pt"));
    let line = pdf.find(0, &"W".repeat(30)).expect("printed");
    assert_eq!(line.size_pt, 8.0);
    wide.recipient_address[0] = "W".repeat(31);
    assert!(matches!(
        letter::render_one(&wide),
        Err(LetterError::AddressDoesNotFit { index: 0, .. })
    ));

    let mut nowhere = lovelace();
    nowhere.recipient_address = vec![" ".into()];
    assert_eq!(
        letter::render_one(&nowhere),
        Err(LetterError::NoRecipientAddress { index: 0 })
    );
}

#[test]
fn a_long_address_shrinks_to_fit_rather_than_overflowing() {
    let mut letter = lovelace();
    letter.recipient_address = vec![
        "Flat 3".into(),
        "Rosemary House".into(),
        "14 Longport".into(),
        "Northgate".into(),
        "Canterbury".into(),
        "CT1 1XY".into(),
    ];
    let pdf = Pdf::read(&letter::render_one(&letter).expect("seven lines fit"));
    let name = pdf.find(0, "Mr and Mrs Lovelace").expect("name");
    let postcode = pdf.find(0, "CT1 1XY").expect("postcode");
    assert!(
        name.size_pt < 10.0,
        "seven lines need a smaller size than 10 pt"
    );
    assert!(name.baseline_mm - cap_mm(name.size_pt) >= WINDOW_TOP);
    assert!(postcode.baseline_mm + descent_mm(postcode.size_pt) <= WINDOW_BOTTOM);
}

fn pupil(name: &str, year: &str, reg: &str, family: &str, safeguarding: bool) -> CallEntry {
    CallEntry {
        pupil_name: name.into(),
        upn: format!("A{:012}", name.len()),
        year_group: year.into(),
        reg_group: reg.into(),
        family: family.into(),
        safeguarding,
        stage_title: "First day of absence: call home".into(),
        reason: "No reason given by 09:30".into(),
        contacts: vec![CallContact {
            name: format!("Parent of {name}"),
            relationship: "Mother".into(),
            phone: if family.is_empty() {
                "01227 111111".into()
            } else {
                family.into()
            },
        }],
    }
}

fn todays_entries() -> Vec<CallEntry> {
    let mut script = pupil("<script>alert(1)</script>", "Year 3", "3B", "", false);
    script.reason = "Ill, says mum \"probably back Thursday\"".into();
    vec![
        pupil("Cara Brown", "Year 6", "6A", "07700 900001", false),
        script,
        pupil("Abe Smith", "Year 5", "5C", "07700 900002", true),
        pupil("Dan Brown", "Year 2", "2A", "07700 900001", false),
        pupil("Eve Jones", "Year 10", "10X", "", false),
    ]
}

#[test]
fn call_order_puts_safeguarding_first_and_siblings_together() {
    let mut list = todays_entries();
    call_list::order(&mut list);
    let names: Vec<&str> = list.iter().map(|e| e.pupil_name.as_str()).collect();
    // Abe (safeguarding) first; then by year group: the Browns file under Dan (Year 2)
    // with Cara (Year 6) straight after him; then Year 3; Year 10 after Year 3, not
    // between Year 1 and Year 2 as plain string order would put it.
    assert_eq!(
        names,
        [
            "Abe Smith",
            "Dan Brown",
            "Cara Brown",
            "<script>alert(1)</script>",
            "Eve Jones"
        ]
    );
}

#[test]
fn call_list_csv_has_one_row_per_pupil_and_one_call_number_per_family() {
    let date = NaiveDate::from_ymd_opt(2026, 11, 23).expect("valid date");
    let csv_text = call_list::render_csv(date, &todays_entries()).expect("renders");

    // Marked as UTF-8 for Excel.
    assert!(csv_text.starts_with("\u{FEFF}Date,Call no.,"), "{csv_text}");
    // The comma in the reason is quoted, and the quotes inside it are doubled.
    assert!(
        csv_text.contains("\"Ill, says mum \"\"probably back Thursday\"\"\""),
        "{csv_text}"
    );

    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().expect("header row").clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name:?} column in {headers:?}"))
    };
    let (call, pupil_col, safeguarding, reason, phone) = (
        column("Call no."),
        column("Pupil"),
        column("Safeguarding"),
        column("Reason"),
        column("Phone 1"),
    );
    column("Outcome");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 5, "one row per pupil");
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (&r[call], &r[pupil_col], &r[safeguarding]))
        .collect();
    assert_eq!(
        got,
        [
            ("1", "Abe Smith", "Yes"),
            ("2", "Dan Brown", ""),
            ("2", "Cara Brown", ""),
            ("3", "<script>alert(1)</script>", ""),
            ("4", "Eve Jones", ""),
        ]
    );
    assert_eq!(&rows[3][reason], "Ill, says mum \"probably back Thursday\"");
    assert_eq!(&rows[0][phone], "07700 900002");
    assert!(rows.iter().all(|r| &r[0] == "2026-11-23"));
}

#[test]
fn call_list_html_escapes_names_and_groups_siblings_under_one_call() {
    let date = NaiveDate::from_ymd_opt(2026, 11, 23).expect("valid date");
    let generated: NaiveDateTime = date.and_hms_opt(7, 45, 0).expect("valid time");
    let html = call_list::render_html("St Mary's <Primary>", date, generated, &todays_entries())
        .expect("renders");

    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "name not escaped"
    );
    assert!(
        !html.contains("<script"),
        "markup from data must never reach the page"
    );
    assert!(html.contains("St Mary&#x27;s &lt;Primary&gt;"));
    assert!(html.contains("Monday 23 November 2026"));
    assert!(html.contains("23 November 2026 at 07:45"));

    // Four calls for five pupils; the first is the safeguarding one, the Browns share
    // the second.
    let calls: Vec<&str> = html.split("<tbody class=\"call").skip(1).collect();
    assert_eq!(calls.len(), 4);
    assert!(calls[0].starts_with(" safeguarding"));
    assert!(calls[0].contains("Abe Smith") && calls[0].contains("SAFEGUARDING"));
    assert!(calls[1].contains("Dan Brown") && calls[1].contains("Cara Brown"));
    assert!(calls[1].contains("2 children"));
    assert_eq!(
        calls[1].matches("07700 900001").count(),
        1,
        "one number to dial"
    );
    assert!(calls[2..].iter().all(|c| !c.starts_with(" safeguarding")));

    // Printable on A4, with somewhere to write, and nothing fetched from outside.
    assert!(html.contains("@media print") && html.contains("size: A4"));
    assert!(html.contains("Outcome") && html.contains("class=\"box\""));
    for external in ["http://", "https://", "<link", "@import", "src="] {
        assert!(!html.contains(external), "{external}");
    }

    let empty = call_list::render_html("St Mary's", date, generated, &[]).expect("renders");
    assert!(empty.contains("No calls to make today."));
}

/// Not a check: writes a sample letter batch and call list for a person to look at, when
/// `ROLLCALL_SAMPLES` names a directory.
#[test]
fn write_samples_when_asked() {
    let Some(dir) = std::env::var_os("ROLLCALL_SAMPLES") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let mut zoe = lovelace();
    zoe.recipient_name = "Ms Zoë Siân Brontë".into();
    let pdf = letter::render(&[lovelace(), long_letter(), zoe]).expect("renders");
    std::fs::write(dir.join("letters.pdf"), pdf).expect("write pdf");
    let date = NaiveDate::from_ymd_opt(2026, 11, 23).expect("valid date");
    let generated = date.and_hms_opt(7, 45, 0).expect("valid time");
    let html = call_list::render_html(
        "St Mary's C of E Primary School",
        date,
        generated,
        &todays_entries(),
    )
    .expect("renders");
    std::fs::write(dir.join("call_list.html"), html).expect("write html");
    let csv_text = call_list::render_csv(date, &todays_entries()).expect("renders");
    std::fs::write(dir.join("call_list.csv"), csv_text).expect("write csv");
}
