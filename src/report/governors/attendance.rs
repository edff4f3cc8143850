//! The attendance sections (headline, trends, codes, punctuality) from one window of figures.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{Days, NaiveDate, Weekday};

use super::Inputs;
use super::breakdowns::{SMALL_COUNT_WORDS, discloses, shown};
use crate::delivery::message::long_date;
use crate::register::session::{Calendar, monday_of};
use crate::report::document::{Cell, ChartSpan, Section, Table};
use crate::report::{Figures, Window, chart, code_meaning};

pub(super) fn headline(inputs: &Inputs<'_>, figures: &Figures) -> Section {
    let national = inputs.national.for_phase(inputs.school.phase);
    let target = inputs.policy.settings.target_percent;
    let mut section = Section::new("headline", "Whole-school attendance");
    let attendance = figures.attendance_pct();
    let verdict = match attendance {
        Some(a) if a >= target => format!(
            "Attendance this term is {a:.1}%, at or above the school's target of {target:.1}%."
        ),
        Some(a) => format!(
            "Attendance this term is {a:.1}%, {:.1} points below the school's target of {target:.1}%.",
            target - a
        ),
        None => "No sessions have been recorded this term.".to_owned(),
    };
    section.paragraphs.push(verdict);
    let pa = "persistently absent (10% or more of their sessions missed)";
    let sa = "severely absent (50% or more)";
    let status = match (
        discloses(figures.persistent, figures.pupils),
        discloses(figures.severe, figures.pupils),
    ) {
        (false, false) => format!(
            "{} are {pa} and {} {sa}",
            figures.persistent, figures.severe
        ),
        (false, true) => format!(
            "{} are {pa}; the number {sa} is too small to show",
            figures.persistent
        ),
        (true, false) => format!(
            "{} are {sa}; the number {pa} is too small to show",
            figures.severe
        ),
        (true, true) => format!("the numbers {pa} and {sa} are too small to show"),
    };
    section.paragraphs.push(format!(
        "{} pupils were on roll with at least one possible session; {status}.",
        figures.pupils
    ));
    let other = |f: Option<&(String, Figures)>, pick: &dyn Fn(&Figures) -> Cell| {
        f.map_or(Cell::Percent(None), |(_, f)| pick(f))
    };
    let last = inputs.last_term.as_ref();
    let year = inputs.last_year.as_ref();
    let row = |label: &str,
               pick: &dyn Fn(&Figures) -> Cell,
               target: Option<f64>,
               national: Option<f64>| {
        vec![
            Cell::text(label),
            pick(figures),
            Cell::Percent(target),
            other(last, pick),
            other(year, pick),
            Cell::Published(national.map(|n| (n * 100.0).round() / 100.0)),
        ]
    };
    let title_of = |f: Option<&(String, Figures)>, fallback: &str| {
        f.map_or_else(|| fallback.to_owned(), |(n, _)| n.clone())
    };
    section.tables.push(Table {
        id: "headline".into(),
        title: "This term compared".into(),
        columns: vec![
            "Measure".into(),
            "This term".into(),
            "Target".into(),
            format!("Last term ({})", title_of(last, "no data")),
            format!("Same term last year ({})", title_of(year, "no data")),
            format!("National {}", inputs.national.year),
        ],
        rows: vec![
            row(
                "Attendance",
                &|f| Cell::Percent(f.attendance_pct()),
                Some(target),
                national.attendance(),
            ),
            row(
                "Overall absence",
                &|f| Cell::Percent(f.absence_pct()),
                Some(100.0 - target),
                national.overall_absence,
            ),
            row(
                "Authorised absence",
                &|f| Cell::Percent(f.authorised_pct()),
                None,
                national.authorised,
            ),
            row(
                "Unauthorised absence",
                &|f| Cell::Percent(f.unauthorised_pct()),
                None,
                national.unauthorised,
            ),
            row(
                "Persistent absence (share of pupils)",
                &|f| pupil_share(f, f.persistent),
                None,
                national.persistent_absence,
            ),
            row(
                "Severe absence (share of pupils)",
                &|f| pupil_share(f, f.severe),
                None,
                national.severe_absence,
            ),
        ],
        note: Some(format!(
            "National: {}, {} ({}). Absence and attendance are percentages of possible sessions; persistent and severe absence are percentages of pupils. – means no figure; c means not shown because {SMALL_COUNT_WORDS}.",
            national.label, inputs.national.year, inputs.national.source
        )),
    });
    section.tables.push(Table {
        id: "counts".into(),
        title: "Sessions and pupils this term".into(),
        columns: vec!["Measure".into(), "Count".into()],
        rows: [
            ("Pupils", u64::from(figures.pupils)),
            ("Possible sessions", figures.possible),
            ("Sessions attended", figures.attended),
            ("Authorised absence sessions", figures.authorised),
            ("Unauthorised absence sessions", figures.unauthorised),
        ]
        .into_iter()
        .map(|(label, n)| vec![Cell::text(label), Cell::Count(n)])
        .chain(
            [
                ("Persistently absent pupils", figures.persistent),
                ("Severely absent pupils", figures.severe),
            ]
            .into_iter()
            .map(|(label, n)| vec![Cell::text(label), pupil_count(figures, n)]),
        )
        .collect(),
        note: [figures.persistent, figures.severe]
            .iter()
            .any(|n| discloses(*n, figures.pupils))
            .then(|| format!("c: not shown because {SMALL_COUNT_WORDS}.")),
    });
    section
}

/// A count of the school's (or a group's) pupils with some status, or `c`.
pub(super) fn pupil_count(f: &Figures, count: u32) -> Cell {
    shown(discloses(count, f.pupils), Cell::Count(u64::from(count)))
}

/// The share of pupils with some status, or `c` when it would give a small count away.
pub(super) fn pupil_share(f: &Figures, count: u32) -> Cell {
    shown(
        discloses(count, f.pupils),
        Cell::Percent(crate::report::pct(u64::from(count), u64::from(f.pupils))),
    )
}

pub(super) fn short_date(d: NaiveDate) -> String {
    d.format("%-d %b").to_string()
}

pub(super) fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// The weeks (by Monday) between `from` and `to` with no school day that a holiday of the
/// calendar covers, with the holiday's name.
pub(super) fn holiday_weeks(
    calendar: &Calendar,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<(NaiveDate, String)> {
    let mut out = Vec::new();
    let mut monday = monday_of(from);
    while monday <= to {
        let sunday = monday + Days::new(6);
        if calendar.school_days_between(monday, sunday).is_empty()
            && let Some(holiday) = calendar
                .holidays()
                .iter()
                .find(|h| h.start <= sunday && h.end >= monday)
        {
            out.push((monday, holiday.name.clone()));
        }
        monday = monday + Days::new(7);
    }
    out
}

pub(super) fn trends(window: &Window, calendar: &Calendar, target: f64) -> Result<Section> {
    let mut section = Section::new("trends", "Week by week and day by day");
    let weeks = window.weeks();
    let reference = Some((format!("Target {target:.1}%"), target));
    // Holiday weeks are points without a value (the line breaks there), shaded and named.
    let holidays = holiday_weeks(calendar, window.from, window.to);
    let mut points: Vec<(NaiveDate, Option<f64>, Option<&str>)> = weeks
        .iter()
        .map(|(monday, t)| (*monday, t.attendance_pct(), None))
        .chain(
            holidays
                .iter()
                .filter(|(monday, _)| !weeks.contains_key(monday))
                .map(|(monday, name)| (*monday, None, Some(name.as_str()))),
        )
        .collect();
    points.sort_by_key(|(monday, _, _)| *monday);
    let mut spans: Vec<ChartSpan> = Vec::new();
    for (i, (_, _, holiday)) in points.iter().enumerate() {
        let Some(name) = holiday else {
            continue;
        };
        match spans.last_mut() {
            Some(span) if span.to + 1 == i && span.label == *name => span.to = i,
            _ => spans.push(ChartSpan {
                from: i,
                to: i,
                label: (*name).to_owned(),
            }),
        }
    }
    let described: Vec<String> = spans
        .iter()
        .map(|s| {
            let weeks = s.to - s.from + 1;
            format!(
                "{} ({} week{} from {})",
                s.label,
                weeks,
                if weeks == 1 { "" } else { "s" },
                long_date(points[s.from].0)
            )
        })
        .collect();
    let description = if described.is_empty() {
        "Whole-school attendance for each school week of the term, with the target.".to_owned()
    } else {
        format!(
            "Whole-school attendance for each school week of the term, with the target. Shaded, with no school: {}.",
            described.join("; ")
        )
    };
    section.charts.push(chart::line_chart_with_spans(
        "Attendance each week",
        &description,
        points
            .iter()
            .map(|(monday, rate, _)| (short_date(*monday), *rate))
            .collect(),
        reference.clone(),
        spans,
    )?);
    section.tables.push(Table {
        id: "weekly".into(),
        title: "Each week".into(),
        columns: [
            "Week commencing",
            "Possible sessions",
            "Attendance",
            "Unauthorised absence",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: weeks
            .iter()
            .map(|(monday, t)| {
                vec![
                    Cell::text(long_date(*monday)),
                    Cell::Count(t.possible),
                    Cell::Percent(t.attendance_pct()),
                    Cell::Percent(crate::report::pct(t.unauthorised, t.possible)),
                ]
            })
            .collect(),
        note: (!described.is_empty()).then(|| format!("No school: {}.", described.join("; "))),
    });
    let days = window.weekdays();
    section.charts.push(chart::bar_chart(
        "Attendance by day of the week",
        "Whole-school attendance on each weekday over the term.",
        days.iter()
            .map(|(d, t)| (weekday_name(*d)[..3].to_owned(), t.attendance_pct()))
            .collect(),
        reference,
    )?);
    section.tables.push(Table {
        id: "weekday".into(),
        title: "Each day of the week".into(),
        columns: [
            "Day",
            "Possible sessions",
            "Attendance",
            "Unauthorised absence",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: days
            .iter()
            .map(|(d, t)| {
                vec![
                    Cell::text(weekday_name(*d)),
                    Cell::Count(t.possible),
                    Cell::Percent(t.attendance_pct()),
                    Cell::Percent(crate::report::pct(t.unauthorised, t.possible)),
                ]
            })
            .collect(),
        note: None,
    });
    // A weekday well below the rest is a pattern governors ask about (long weekends).
    let rates: Vec<(Weekday, f64)> = days
        .iter()
        .filter_map(|(d, t)| t.attendance_pct().map(|p| (*d, p)))
        .collect();
    for (day, rate) in &rates {
        let others: Vec<f64> = rates
            .iter()
            .filter(|(d, _)| d != day)
            .map(|(_, r)| *r)
            .collect();
        if others.is_empty() {
            continue;
        }
        let mean = others.iter().sum::<f64>() / others.len() as f64;
        if mean - rate >= 1.0 {
            section.paragraphs.push(format!(
                "{}s stand out: attendance was {rate:.1}%, against {mean:.1}% on the other days.",
                weekday_name(*day)
            ));
        }
    }
    Ok(section)
}

pub(super) fn codes(window: &Window, figures: &Figures) -> Section {
    let mut section = Section::new("codes", "How sessions were recorded");
    let mut used: BTreeMap<&'static str, u64> = BTreeMap::new();
    for p in &window.pupils {
        for (code, n) in p.facts.codes_used() {
            *used.entry(code).or_default() += u64::from(n);
        }
    }
    let total: u64 = used.values().sum();
    let mut rows: Vec<(&str, u64)> = used.iter().map(|(c, n)| (*c, *n)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    section.tables.push(Table {
        id: "codes".into(),
        title: "Codes used this term".into(),
        columns: ["Code", "Meaning", "Sessions", "Share of all marks"]
            .map(str::to_owned)
            .to_vec(),
        rows: rows
            .iter()
            .map(|(code, n)| {
                vec![
                    Cell::text(*code),
                    Cell::text(code_meaning(code)),
                    Cell::Count(*n),
                    Cell::Percent(crate::report::pct(*n, total)),
                ]
            })
            .collect(),
        note: Some("Every mark recorded this term for pupils on roll, including codes that are not possible sessions (such as # for a planned closure).".into()),
    });
    let absences = figures.authorised + figures.unauthorised;
    let count = |c: &str| used.get(c).copied().unwrap_or(0);
    let n = count("N");
    let o = count("O");
    if n > 0 && crate::report::pct(n, absences).is_some_and(|s| s >= 5.0) {
        section.paragraphs.push(format!(
            "Unusual: {n} sessions are still coded N (no reason yet), {:.1}% of all absence. N must be resolved within 5 school days; these need following up.",
            crate::report::pct(n, absences).unwrap_or(0.0)
        ));
    }
    if o > 0 && crate::report::pct(o, figures.unauthorised).is_some_and(|s| s >= 25.0) {
        section.paragraphs.push(format!(
            "Unusual: {o} sessions are coded O (other unauthorised), {:.1}% of unauthorised absence. A high share of O can mean reasons are not being recorded.",
            crate::report::pct(o, figures.unauthorised).unwrap_or(0.0)
        ));
    }
    let g = count("G");
    if g > 0 {
        section.paragraphs.push(format!(
            "{g} sessions were holidays in term time that the school did not agree (G)."
        ));
    }
    if section.paragraphs.is_empty() {
        section
            .paragraphs
            .push("No unusual patterns in the codes used this term.".into());
    }
    section
}

pub(super) fn punctuality(window: &Window, figures: &Figures) -> Section {
    let mut section = Section::new("punctuality", "Punctuality");
    let often_late = window
        .pupils
        .iter()
        .filter(|p| p.facts.late_sessions + p.facts.late_after_close_sessions >= 10)
        .count() as u32;
    section.paragraphs.push(match figures.punctuality_pct() {
        Some(p) => format!("Pupils arrived on time for {p:.1}% of the sessions they came in for."),
        None => "No sessions were attended this term.".into(),
    });
    section.tables.push(Table {
        id: "punctuality".into(),
        title: "Arriving on time".into(),
        columns: vec!["Measure".into(), "Value".into()],
        rows: vec![
            vec![
                Cell::text("On time (share of sessions arrived for)"),
                Cell::Percent(figures.punctuality_pct()),
            ],
            vec![
                Cell::text("Late before the register closed (L)"),
                Cell::Count(figures.late),
            ],
            vec![
                Cell::text("Late after the register closed (U)"),
                Cell::Count(figures.late_after_close),
            ],
            vec![
                Cell::text("Pupils late 10 or more times"),
                pupil_count(figures, often_late),
            ],
        ],
        note: discloses(often_late, figures.pupils)
            .then(|| format!("c: not shown because {SMALL_COUNT_WORDS}.")),
    });
    section
}
