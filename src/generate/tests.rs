//! Unit tests for the generator: determinism, the calendar, plausible pupils and marks.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Datelike;

use super::calendar::*;
use super::marks::*;
use super::pupils::*;
use super::school::*;
use super::*;
use crate::register::mark::resolve;
use crate::register::pupil::Upn;

fn d(s: &str) -> NaiveDate {
    s.parse().expect("test date")
}

fn calendar(year: i32) -> Calendar {
    let (terms, holidays) = england_calendar(year);
    Calendar::new(terms, holidays)
}

/// Rows of a CSV file as header → value maps.
fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).expect("open csv");
    let headers = reader.headers().expect("headers").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn generate_into(pupils: usize, seed: u64, dir: &Path) -> GenerateSummary {
    generate(&GenerateOptions::new(pupils, seed, 2025), dir).expect("generate")
}

#[test]
fn every_year_has_exactly_190_school_days_ending_in_july() {
    for year in 2024..=2030 {
        let cal = calendar(year);
        assert_eq!(cal.school_days().len(), 190, "{year}");
        let summer = &cal.terms()[2];
        assert_eq!(summer.end.month(), 7, "{year}: summer ends {}", summer.end);
        assert_eq!(summer.end.year(), year + 1);
    }
    // The rules must hold whatever day of the week dates and Easter fall on.
    for year in 1990..=2150 {
        let cal = calendar(year);
        assert_eq!(cal.school_days().len(), 190, "{year}");
        let end = cal.terms()[2].end;
        assert!(
            end <= ymd(year + 1, 7, 31) && end >= ymd(year + 1, 7, 1),
            "{year}: {end}"
        );
    }
}

#[test]
fn calendar_2025_matches_the_rules() {
    let (terms, holidays) = england_calendar(2025);
    let names: Vec<&str> = terms.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Autumn 2025", "Spring 2026", "Summer 2026"]);
    assert_eq!(
        (terms[0].start, terms[0].end),
        (d("2025-09-03"), d("2025-12-19"))
    );
    assert_eq!(
        (terms[1].start, terms[1].end),
        (d("2026-01-05"), d("2026-03-27"))
    );
    assert_eq!(terms[2].start, d("2026-04-13"));
    let find = |name: &str| {
        holidays
            .iter()
            .find(|h| h.name == name)
            .map(|h| (h.start, h.end))
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(find("Autumn half term"), (d("2025-10-27"), d("2025-10-31")));
    assert_eq!(find("INSET day"), (d("2026-01-05"), d("2026-01-05")));
    assert_eq!(find("Spring half term"), (d("2026-02-16"), d("2026-02-20")));
    assert_eq!(
        find("Early May bank holiday"),
        (d("2026-05-04"), d("2026-05-04"))
    );
    assert_eq!(find("Summer half term"), (d("2026-05-25"), d("2026-05-29")));
    // Easter 2026 (5 April) falls in the Easter holiday, so no Easter bank holidays in term.
    assert_eq!(holidays.len(), 5);
    for h in &holidays {
        assert!(
            terms
                .iter()
                .any(|t| t.contains(h.start) && t.contains(h.end)),
            "{h:?}"
        );
    }
}

#[test]
fn easter_in_term_is_a_holiday() {
    assert_eq!(easter_sunday(2024), d("2024-03-31"));
    assert_eq!(easter_sunday(2025), d("2025-04-20"));
    assert_eq!(easter_sunday(2026), d("2026-04-05"));
    assert_eq!(easter_sunday(2038), d("2038-04-25"));
    // Academic year 2024: summer starts 14 April 2025, Good Friday is the 18th.
    let cal = calendar(2024);
    assert!(!cal.is_school_day(d("2025-04-18")));
    assert!(!cal.is_school_day(d("2025-04-21")));
    assert!(cal.is_school_day(d("2025-04-17")));
}

#[test]
fn upns_are_valid_and_unique_for_200k_pupils() {
    let mut seen = HashSet::with_capacity(200_000);
    for i in 0..200_000 {
        let upn = upn_for("886", i, 2020 - (i % 12) as i32);
        assert!(Upn::parse(upn.as_str()).is_ok(), "{upn}");
        assert!(seen.insert(upn.as_str().to_owned()), "duplicate {upn}");
    }
}

#[test]
fn class_names_are_unique() {
    let names: HashSet<String> = (0..2000).map(class_letters).collect();
    assert_eq!(names.len(), 2000);
    assert_eq!(class_letters(0), "A");
    assert_eq!(class_letters(25), "Z");
    assert_eq!(class_letters(26), "AA");
    assert_eq!(class_letters(27), "AB");
    assert_eq!(class_letters(26 + 26 * 26), "AAA");
}

#[test]
fn generator_codes_match_the_dfe_table() {
    let all = [
        Code::Present,
        Code::Late,
        Code::LateAfterClose,
        Code::Illness,
        Code::Medical,
        Code::Other,
        Code::NoReason,
        Code::Holiday,
        Code::PartTime,
        Code::Dual,
        Code::Visit,
        Code::Excluded,
        Code::Closed,
        Code::PlannedClosure,
        Code::NotOnRoll,
    ];
    for code in all {
        for pm in [false, true] {
            let text = std::str::from_utf8(code.text(pm)).expect("ascii");
            let category = resolve(text)
                .and_then(|r| r.code().category())
                .unwrap_or_else(|| panic!("{text} does not resolve"));
            assert_eq!(category.is_absence(), code.is_absence(), "{text}");
            assert_eq!(category.is_possible(), code.is_possible(), "{text}");
        }
    }
}

#[test]
fn same_seed_same_bytes_different_seed_different_marks() {
    let (a, b, c) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let sa = generate_into(60, 7, a.path());
    let sb = generate_into(60, 7, b.path());
    generate_into(60, 8, c.path());
    assert_eq!(sa, sb);
    for name in ["pupils.csv", "contacts.csv", "marks.csv", "rollcall.toml"] {
        let x = fs::read(a.path().join(name)).expect("read");
        let y = fs::read(b.path().join(name)).expect("read");
        assert!(x == y, "{name} differs between runs with the same seed");
    }
    let x = fs::read(a.path().join("marks.csv")).expect("read");
    let z = fs::read(c.path().join("marks.csv")).expect("read");
    assert_ne!(x, z);
}

#[test]
fn files_are_consistent_and_complete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = generate_into(60, 42, dir.path());
    let cal = calendar(2025);
    assert_eq!(summary.school_days, 190);
    assert_eq!(summary.first_school_day, cal.school_days()[0]);
    assert_eq!(summary.last_school_day, cal.school_days()[189]);

    let pupils = rows(&dir.path().join("pupils.csv"));
    assert_eq!(pupils.len(), 60);
    let mut upns = HashSet::new();
    let mut spans: HashMap<String, (NaiveDate, NaiveDate, NaiveDate)> = HashMap::new();
    for p in &pupils {
        let upn = &p["upn"];
        assert!(Upn::parse(upn).is_ok(), "{upn}");
        assert!(upns.insert(upn.clone()), "duplicate {upn}");
        assert!(upn.starts_with(&format!("{}886", &upn[..1])), "{upn}");
        let g = match p["year_group"].as_str() {
            "R" => 0,
            other => other.parse::<i32>().expect("year group"),
        };
        assert!((0..=6).contains(&g));
        assert!(p["reg_group"].starts_with(&p["year_group"]));
        let dob = d(&p["date_of_birth"]);
        assert!(
            dob >= ymd(2025 - 5 - g, 9, 1) && dob <= ymd(2025 - 4 - g, 8, 31),
            "{p:?}"
        );
        for flag in [
            "fsm",
            "eal",
            "lac",
            "social_worker",
            "young_carer",
            "concern",
        ] {
            assert!(matches!(p[flag].as_str(), "Y" | "N"), "{flag}: {p:?}");
        }
        assert!(matches!(p["sen"].as_str(), "N" | "K" | "E"));
        assert!(matches!(p["gender"].as_str(), "M" | "F"));
        let admission = d(&p["admission_date"]);
        let first = admission.max(summary.first_school_day);
        let last = if p["leaving_date"].is_empty() {
            summary.last_school_day
        } else {
            let leaving = d(&p["leaving_date"]);
            assert!(cal.is_school_day(leaving) && leaving > admission, "{p:?}");
            leaving
        };
        if admission > summary.first_school_day {
            assert!(cal.is_school_day(admission), "{p:?}");
        }
        spans.insert(upn.clone(), (admission, first, last));
    }

    // Two marks per school day from the start of the year (Z before a mid-year admission)
    // to leaving, each date once per session, and no rows after leaving.
    let marks = rows(&dir.path().join("marks.csv"));
    assert_eq!(marks.len() as u64, summary.marks);
    let mut seen: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for m in &marks {
        let date = d(&m["date"]);
        assert!(cal.is_school_day(date), "{m:?}");
        assert!(matches!(m["session"].as_str(), "AM" | "PM"));
        assert!(resolve(&m["mark"]).is_some(), "{m:?}");
        let (admission, _, last) = spans[&m["upn"]];
        assert!(date <= last, "{m:?} after leaving");
        assert_eq!(m["mark"] == "Z", date < admission, "{m:?}");
        let key = (m["upn"].clone(), m["date"].clone(), m["session"].clone());
        assert!(seen.insert(key, m["mark"].clone()).is_none(), "{m:?} twice");
    }
    for (upn, (admission, first, last)) in &spans {
        let on_roll = cal.school_days_between(*first, *last).len();
        let all = cal
            .school_days_between(summary.first_school_day, *last)
            .len();
        let rows_for = marks.iter().filter(|m| &m["upn"] == upn).count();
        assert_eq!(rows_for, 2 * all, "{upn}");
        let not_z = marks
            .iter()
            .filter(|m| &m["upn"] == upn && m["mark"] != "Z")
            .count();
        assert_eq!(not_z, 2 * on_roll, "{upn} admitted {admission}");
    }

    let contacts = rows(&dir.path().join("contacts.csv"));
    assert_eq!(contacts.len(), summary.contacts);
    let mut per_pupil: HashMap<&str, Vec<usize>> = HashMap::new();
    for c in &contacts {
        assert!(upns.contains(&c["upn"]), "{c:?}");
        per_pupil
            .entry(c["upn"].as_str())
            .or_default()
            .push(c["priority"].parse().expect("priority"));
        let mobile = &c["mobile"];
        assert!(mobile.is_empty() || (mobile.len() == 11 && mobile.starts_with("07700900")));
        let email = &c["email"];
        assert!(
            email.is_empty()
                || email.ends_with("@example.com")
                || email.ends_with("@example.org")
                || email.ends_with("@example.net"),
            "{email}"
        );
        assert!(matches!(c["parental_responsibility"].as_str(), "Y" | "N"));
    }
    assert_eq!(per_pupil.len(), 60);
    for priorities in per_pupil.values() {
        let expected: Vec<usize> = (1..=priorities.len()).collect();
        assert_eq!(priorities, &expected);
        assert!((1..=3).contains(&priorities.len()));
    }
}

#[test]
fn generated_config_loads_with_the_same_calendar() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = GenerateOptions::new(10, 1, 2025);
    opts.school_name = "St \"Quoted\" C of E \\ Primary".to_owned();
    generate(&opts, dir.path()).expect("generate");
    let text = fs::read_to_string(dir.path().join("rollcall.toml")).expect("read");
    let config = crate::config::Config::from_toml(&text, "rollcall.toml").expect("valid config");
    let school = config.school(None).expect("one school");
    assert_eq!(school.name, opts.school_name);
    assert_eq!(school.urn, "100001");
    assert_eq!(school.la_code, "886");
    assert_eq!(school.phase, crate::config::Phase::Primary);
    assert_eq!(school.calendar.school_days().len(), 190);
    assert_eq!(school.calendar.school_days(), calendar(2025).school_days());
}

#[test]
fn bad_options_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = GenerateOptions::new(10, 1, 2025);
    opts.urn = "12345".to_owned();
    assert!(generate(&opts, dir.path()).is_err());
    let mut opts = GenerateOptions::new(10, 1, 2025);
    opts.la_code = "88a".to_owned();
    assert!(generate(&opts, dir.path()).is_err());
    assert!(generate(&GenerateOptions::new(MAX_PUPILS + 1, 1, 2025), dir.path()).is_err());
}

#[test]
fn a_school_looks_like_a_school() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pupils_n = 2000;
    generate_into(pupils_n, 3, dir.path());
    let pupils = rows(&dir.path().join("pupils.csv"));
    let share = |field: &str, value: &str| {
        pupils.iter().filter(|p| p[field] == value).count() as f64 / pupils_n as f64
    };
    let near = |name: &str, got: f64, want: f64, tolerance: f64| {
        assert!(
            (got - want).abs() <= tolerance,
            "{name}: {got:.3}, expected about {want}"
        );
    };
    near("fsm", share("fsm", "Y"), 0.24, 0.04);
    near("sen K", share("sen", "K"), 0.13, 0.03);
    near("sen E", share("sen", "E"), 0.04, 0.015);
    near("eal", share("eal", "Y"), 0.20, 0.04);
    near("social worker", share("social_worker", "Y"), 0.03, 0.015);
    near("young carer", share("young_carer", "Y"), 0.02, 0.01);
    near("concern", share("concern", "Y"), 0.04, 0.02);
    near("WBRI", share("ethnicity", "WBRI"), 0.61, 0.05);
    near(
        "leavers",
        pupils
            .iter()
            .filter(|p| !p["leaving_date"].is_empty())
            .count() as f64
            / pupils_n as f64,
        0.02,
        0.012,
    );
    let groups: HashSet<&str> = pupils.iter().map(|p| p["reg_group"].as_str()).collect();
    assert!(groups.contains("3A") && groups.contains("3B"), "{groups:?}");

    let contacts = rows(&dir.path().join("contacts.csv"));
    // Siblings share their first contact's name, address and phone number.
    let mut families: HashMap<(String, String, String), usize> = HashMap::new();
    for c in contacts.iter().filter(|c| c["priority"] == "1") {
        let key = (
            c["name"].clone(),
            c["address_line_1"].clone(),
            c["postcode"].clone(),
        );
        *families.entry(key).or_default() += 1;
    }
    let with_sibling: usize = families.values().filter(|&&n| n > 1).sum();
    near(
        "siblings",
        with_sibling as f64 / pupils_n as f64,
        0.15,
        0.05,
    );

    let table = crate::register::mark::category_table();
    let mut per_pupil: HashMap<String, (usize, usize)> = HashMap::new();
    let mut codes: HashMap<String, usize> = HashMap::new();
    let mut late_n = 0;
    let last_fortnight = calendar(2025).school_days()[180];
    let mut closures: HashMap<String, HashSet<String>> = HashMap::new();
    for m in rows(&dir.path().join("marks.csv")) {
        let code = resolve(&m["mark"]).expect("code").code();
        *codes.entry(m["mark"].clone()).or_default() += 1;
        if matches!(m["mark"].as_str(), "Y4" | "#") {
            closures
                .entry(m["mark"].clone())
                .or_default()
                .insert(m["date"].clone());
        }
        if m["mark"] == "N" && d(&m["date"]) >= last_fortnight {
            late_n += 1;
        }
        let category = table[usize::from(code.byte())].expect("category");
        let entry = per_pupil.entry(m["upn"].clone()).or_default();
        if category.is_possible() {
            entry.1 += 1;
            if category.is_attended() {
                entry.0 += 1;
            }
        }
    }
    for code in [
        "/", "\\", "L", "U", "I", "M", "O", "N", "G", "V", "E", "Y4", "#", "Z",
    ] {
        assert!(codes.contains_key(code), "no {code} marks: {codes:?}");
    }
    assert_eq!(closures["Y4"].len(), 1);
    assert_eq!(closures["#"].len(), 1);
    assert!(late_n > 0);
    let (attended, possible) = per_pupil
        .values()
        .fold((0, 0), |(a, p), (x, y)| (a + x, p + y));
    let overall = attended as f64 / possible as f64;
    assert!(
        (0.92..=0.97).contains(&overall),
        "overall attendance {overall:.3}"
    );
    let rate = |(a, p): &(usize, usize)| *a as f64 / (*p).max(1) as f64;
    let pa = per_pupil.values().filter(|v| rate(v) < 0.9).count() as f64 / pupils_n as f64;
    let sa = per_pupil.values().filter(|v| rate(v) <= 0.5).count() as f64 / pupils_n as f64;
    let good = per_pupil.values().filter(|v| rate(v) >= 0.97).count() as f64 / pupils_n as f64;
    near("persistent absence", pa, 0.10, 0.04);
    near("severe absence", sa, 0.015, 0.01);
    assert!(good > 0.5, "good attenders {good:.3}");
}
