//! Unit tests for LA returns: CSV header, cover counts, stage rules and periods.

use super::output::*;
use super::regular::*;
use super::*;
use crate::config::ReturnInterval;

fn line() -> ReturnLine {
    ReturnLine {
        kind: ReturnKind::ContinuousAbsence.slug(),
        upn: "B801200005001".into(),
        surname: "Lovelace".into(),
        forename: "Ada".into(),
        date_of_birth: "2018-03-01".into(),
        year_group: "3".into(),
        reg_group: "3B".into(),
        address: "1 Test Street, Testtown".into(),
        postcode: "TT1 1AA".into(),
        parent_carer: "Anne Lovelace (Mother)".into(),
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
        school_actions: String::new(),
        status: String::new(),
        episode: "continuous".into(),
    }
}

#[test]
fn an_empty_return_has_the_same_header_as_a_full_one() {
    let full = String::from_utf8(csv_of(&[line()]).expect("csv")).expect("utf8");
    let empty = String::from_utf8(csv_of(&[]).expect("csv")).expect("utf8");
    assert_eq!(
        empty.lines().collect::<Vec<_>>(),
        vec![full.lines().next().expect("header")]
    );
    assert!(empty.starts_with("return,upn,surname,forename,date_of_birth,"));
}

#[test]
fn the_cover_counts_episodes_and_pupils_apart_and_says_who_it_is_from() {
    let school = crate::config::Config::from_toml(
        "[school]\nname = \"Held-out Academy\"\nurn = \"100001\"\nla_code = \"886\"\n[[calendar.terms]]\nname = \"Autumn 2025\"\nstart = \"2025-09-03\"\nend = \"2025-12-19\"\n",
        "t.toml",
    )
    .expect("config")
    .schools
    .remove(0);
    // Ten lines about three pupils: four, three and three episodes.
    let lines: Vec<ReturnLine> = (0..10)
        .map(|i| ReturnLine {
            upn: ["B801200005001", "P207000016049", "V886200000001"][i % 3].into(),
            start: format!("2025-10-{:02}", i + 1),
            ..line()
        })
        .collect();
    let returns = Returns {
        as_of: Some("2025-12-19".parse().expect("date")),
        lines: [(ReturnKind::ContinuousAbsence, lines)].into(),
        ..Returns::default()
    };
    let cover = returns.cover(&school);
    let paragraphs = &cover.sections[0].paragraphs;
    assert!(
        paragraphs
            .iter()
            .any(|p| p.starts_with("10 episodes of 3 pupils. ")),
        "{paragraphs:?}"
    );
    // No contact details and no attendance officer configured: just the school's name.
    assert_eq!(
        cover.meta.last().map(String::as_str),
        Some("From Held-out Academy.")
    );
    let one = [line()];
    assert_eq!(
        count_text(ReturnKind::Sickness, &one),
        "1 episode of 1 pupil"
    );
    assert_eq!(count_text(ReturnKind::Regular, &one), "1 pupil");
}

#[test]
fn a_stage_returns_what_its_trigger_counts() {
    let policy = crate::escalation::policy::parse(
        r#"
name = "t"
title = "t"
[[stage]]
id = "ten_days"
title = "Ten days"
trigger = { all = [ { cohort = { social_worker = false } }, { consecutive_absent_days = { days = 10, unauthorised_only = true, include_ended = true } } ] }
approval = "required"
actions = [ { channel = "la_return", to = "la", template = "la_10_day_return" } ]
[[stage]]
id = "sick"
title = "Sick"
trigger = { illness = { sessions = 30, consecutive = true } }
approval = "required"
case = "none"
actions = [ { channel = "la_return", to = "la", template = "la_sickness_return" } ]
[[stage]]
id = "own"
title = "Own rule"
trigger = { attendance_below = { percent = 50.0 } }
approval = "required"
case = "none"
actions = [ { channel = "la_return", to = "la", template = "la_10_day_return" } ]
[[stage]]
id = "letter"
title = "Letter"
trigger = { consecutive_absent_days = { days = 3 } }
actions = [ { channel = "letter", to = "contacts", template = "day_three" } ]
"#,
        "t.toml",
    )
    .expect("policy");
    let rule = |id: &str| rule_of(policy.stages.iter().find(|s| s.id == id).expect(id));
    assert_eq!(
        rule("ten_days"),
        Some(ReturnRule::Runs {
            days: 10,
            unauthorised_only: true,
            include_ended: true
        })
    );
    assert_eq!(
        rule("sick"),
        Some(ReturnRule::Illness {
            sessions: 30,
            consecutive: true
        })
    );
    // A rule of the policy's own returns the pupil's year, as the regular return does.
    assert_eq!(rule("own"), None);
    let kind = |id: &str| kind_of(policy.stages.iter().find(|s| s.id == id).expect(id));
    assert_eq!(kind("own"), Some(ReturnKind::Regular));
    assert_eq!(kind("letter"), None, "no LA return");
}

#[test]
fn periods_follow_the_las_interval() {
    let school = crate::config::Config::from_toml(
        "[school]\nname = \"S\"\nurn = \"100001\"\nla_code = \"886\"\n[[calendar.terms]]\nname = \"Autumn 2025\"\nstart = \"2025-09-03\"\nend = \"2025-12-19\"\n",
        "t.toml",
    )
    .expect("config")
    .schools
    .remove(0);
    let d = |s: &str| s.parse::<NaiveDate>().expect("date");
    let month = period_of(ReturnInterval::Monthly, &school, d("2025-02-14"));
    assert_eq!(
        (month.label.as_str(), month.start, month.end),
        ("2025-02", d("2025-02-01"), d("2025-02-28"))
    );
    let week = period_of(ReturnInterval::Weekly, &school, d("2025-10-08"));
    assert_eq!(
        (week.label.as_str(), week.start, week.end),
        ("2025-W41", d("2025-10-06"), d("2025-10-12"))
    );
    let term = period_of(ReturnInterval::Termly, &school, d("2025-11-01"));
    assert_eq!(term.label, "autumn-2025");
}
