//! Unit tests for the governors' report: suppression, group labels and the weekly chart.

use super::attendance::*;
use super::breakdowns::*;
use super::*;
use crate::register::session::Calendar;
use crate::report::document::{Cell, ChartSpan};

fn f(pupils: u32) -> Figures {
    Figures {
        pupils,
        ..Figures::default()
    }
}

#[test]
fn small_groups_are_suppressed_and_one_hidden_group_takes_another_with_it() {
    let groups = vec![
        ("A".to_owned(), f(30)),
        ("B".to_owned(), f(3)),
        ("C".to_owned(), f(12)),
    ];
    // B alone hidden would be the total minus A and C: C (the smallest shown) goes too.
    assert_eq!(suppression(&groups, 5), vec![false, true, true]);
    let two_small = vec![
        ("A".to_owned(), f(30)),
        ("B".to_owned(), f(3)),
        ("C".to_owned(), f(4)),
    ];
    assert_eq!(suppression(&two_small, 5), vec![false, true, true]);
    assert_eq!(suppression(&two_small, 3), vec![false, false, false]);
    let none = vec![("A".to_owned(), f(5))];
    assert_eq!(suppression(&none, 5), vec![false]);
}

#[test]
fn ethnicity_codes_are_named() {
    assert_eq!(ethnicity_label("AIND"), "Indian (AIND)");
    assert_eq!(ethnicity_label("wbri"), "White British (WBRI)");
    assert_eq!(ethnicity_label("XYZ1"), "XYZ1");
    assert_eq!(ethnicity_label(" "), "Not recorded");
}

#[test]
fn year_groups_are_named() {
    assert_eq!(year_label("R"), "Reception");
    assert_eq!(year_label("4"), "Year 4");
    assert_eq!(year_label("Year 11"), "Year 11");
    // The census's two nursery years are two groups.
    assert_eq!(year_label("N1"), "Nursery 1");
    assert_eq!(year_label("N2"), "Nursery 2");
    assert_eq!(year_label("X"), "No national curriculum year (X)");
    // Two codes that still read the same keep their codes, so rows and CSV keys differ.
    let named = distinct_labels(vec![
        ("Nursery".into(), "Nursery".into(), f(10)),
        ("Nursery".into(), "NUR".into(), f(12)),
        ("Year 1".into(), "1".into(), f(30)),
    ]);
    let labels: Vec<&str> = named.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, vec!["Nursery", "Nursery (NUR)", "Year 1"]);
}

#[test]
fn genders_are_named() {
    assert_eq!(gender_label("F"), "Female");
    assert_eq!(gender_label("m"), "Male");
    assert_eq!(gender_label("U"), "Unknown");
    assert_eq!(gender_label(""), "Not recorded");
    assert_eq!(gender_label("Q"), "Code Q");
}

fn pa(pupils: u32, persistent: u32) -> Figures {
    Figures {
        pupils,
        persistent,
        ..Figures::default()
    }
}

#[test]
fn counts_of_one_or_two_pupils_are_suppressed_and_cannot_be_worked_back() {
    // 1 or 2 of a group, or all but 1 or 2 of it, could point at a child; 0 and 3 of 13
    // could not.
    assert!(discloses(1, 13) && discloses(2, 13));
    assert!(discloses(11, 13) && discloses(13, 13));
    assert!(!discloses(0, 13) && !discloses(3, 13) && !discloses(10, 13));
    let groups = vec![
        ("3A".to_owned(), pa(13, 1)),
        ("3B".to_owned(), pa(20, 4)),
        ("3C".to_owned(), pa(25, 6)),
    ];
    // 3A's 1 would be the school's 11 minus 4 and 6: the smallest other count goes too.
    assert_eq!(
        count_suppression(&groups, &[false, false, false], |f| f.persistent),
        vec![true, true, false]
    );
    // The table shows c for 3A's and 3B's count and rate, and says why.
    let table = cohort_table("reg_group", "By class", "Class", groups, 5);
    assert_eq!(table.rows[0][5], Cell::Suppressed);
    assert_eq!(table.rows[0][6], Cell::Suppressed);
    assert_eq!(
        table.rows[0][1],
        Cell::Count(13),
        "the group's size is shown"
    );
    assert_eq!(table.rows[2][5], Cell::Count(6));
    assert!(
        table
            .note
            .as_deref()
            .is_some_and(|n| n.contains("1 or 2 pupils")),
        "{:?}",
        table.note
    );
}

#[test]
fn the_weekly_chart_marks_the_holidays_it_spans() {
    let d = |s: &str| s.parse::<NaiveDate>().expect("date");
    let calendar = Calendar::new(
        vec![DateRange {
            name: "Autumn 2025".into(),
            start: d("2025-09-01"),
            end: d("2025-12-19"),
        }],
        vec![DateRange {
            name: "Autumn half term".into(),
            start: d("2025-10-27"),
            end: d("2025-10-31"),
        }],
    );
    let tally = crate::report::Tally {
        possible: 10,
        attended: 9,
        unauthorised: 0,
    };
    let days: BTreeMap<NaiveDate, crate::report::Tally> = calendar
        .school_days_between(d("2025-10-20"), d("2025-11-07"))
        .iter()
        .map(|day| (*day, tally))
        .collect();
    let window = Window {
        from: d("2025-10-20"),
        to: d("2025-11-07"),
        pupils: Vec::new(),
        days,
    };
    let section = trends(&window, &calendar, 96.0).expect("trends");
    let chart = &section.charts[0];
    let labels: Vec<(&str, Option<f64>)> =
        chart.points.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    assert_eq!(
        labels,
        vec![
            ("20 Oct", Some(90.0)),
            ("27 Oct", None),
            ("3 Nov", Some(90.0))
        ]
    );
    assert_eq!(
        chart.spans,
        vec![ChartSpan {
            from: 1,
            to: 1,
            label: "Autumn half term".into()
        }]
    );
    assert!(chart.svg.contains("Autumn half term"), "named on the chart");
    assert!(
        chart
            .description
            .contains("Autumn half term (1 week from Monday 27 October 2025)")
    );
    let weekly = section
        .tables
        .iter()
        .find(|t| t.id == "weekly")
        .expect("weekly");
    assert_eq!(weekly.rows.len(), 2, "the table lists school weeks");
    assert!(
        weekly
            .note
            .as_deref()
            .is_some_and(|n| n.contains("Autumn half term"))
    );
}
