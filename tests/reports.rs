//! Reports through the real binary, on the demo school after its simulated autumn term.
//!
//! Every expected figure is worked out here from `rollcall stats --format json` (and the
//! demo's own pupils.csv for cohort fields), never copied from a report: the reports must say
//! exactly what `stats` says for the same window.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use chrono::{Days, NaiveDate};
use serde_json::Value;

fn rollcall(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(args)
        .output()
        .expect("run rollcall");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One demo run shared by every test here (a term of the daemon takes a while).
struct Demo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    config: String,
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("demo");
        let (ok, stdout, stderr) = rollcall(&[
            "demo",
            "--dir",
            dir.to_str().expect("utf-8"),
            "--pupils",
            "90",
        ]);
        assert!(ok, "demo failed: {stderr}\n{stdout}");
        let config = dir.join("rollcall.toml").display().to_string();
        Demo {
            _tmp: tmp,
            dir,
            config,
        }
    })
}

fn run_ok(args: &[&str]) -> String {
    let (ok, stdout, stderr) = rollcall(args);
    assert!(ok, "rollcall {args:?} failed: {stderr}\n{stdout}");
    stdout
}

/// `stats --format json` for a window, by UPN.
fn stats(demo: &Demo, from: &str, to: &str) -> BTreeMap<String, Value> {
    let out = run_ok(&[
        "--config",
        &demo.config,
        "stats",
        "--from",
        from,
        "--as-of",
        to,
        "--format",
        "json",
    ]);
    out.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json line");
            (v["upn"].as_str().expect("upn").to_owned(), v)
        })
        .collect()
}

/// pupils.csv as written by the generator: UPN → column → value.
fn pupils(demo: &Demo) -> HashMap<String, HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(demo.dir.join("pupils.csv")).expect("pupils.csv");
    let headers = reader.headers().expect("headers").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            let row: HashMap<String, String> = headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect();
            (row["upn"].clone(), row)
        })
        .collect()
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// Sums the way the DfE does: sessions over sessions, never an average of pupils' rates.
#[derive(Default, Debug, Clone, Copy)]
struct Sums {
    pupils: u64,
    possible: u64,
    attended: u64,
    authorised: u64,
    unauthorised: u64,
    persistent: u64,
    severe: u64,
}

impl Sums {
    fn add(&mut self, v: &Value) {
        self.pupils += 1;
        self.possible += n(v, "possible_sessions");
        self.attended += n(v, "attended_sessions");
        self.authorised += n(v, "authorised_absence_sessions");
        self.unauthorised += n(v, "unauthorised_absence_sessions");
        // PA: absence ≥ 10 % of possible; SA: ≥ 50 % (DOMAIN.md), in integers.
        let absent = n(v, "authorised_absence_sessions") + n(v, "unauthorised_absence_sessions");
        let possible = n(v, "possible_sessions");
        self.persistent += u64::from(10 * absent >= possible);
        self.severe += u64::from(2 * absent >= possible);
    }
    fn pct(part: u64, whole: u64) -> String {
        format!("{:.1}", 100.0 * part as f64 / whole as f64)
    }
}

/// Whether a count of pupils could point at a child (DfE practice): 1 or 2 of the group, or
/// all but 1 or 2 of it.
fn discloses(count: u64, of: u64) -> bool {
    count > 0 && (count <= 2 || of - count <= 2)
}

/// The governor report's CSV: (section, table, row, column) → value.
fn read_figures(path: &Path) -> HashMap<(String, String, String, String), String> {
    let mut reader = csv::Reader::from_path(path).expect("figures csv");
    assert_eq!(
        reader
            .headers()
            .expect("headers")
            .iter()
            .collect::<Vec<_>>(),
        vec!["section", "table", "row", "column", "value"]
    );
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            (
                (
                    r[0].to_owned(),
                    r[1].to_owned(),
                    r[2].to_owned(),
                    r[3].to_owned(),
                ),
                r[4].to_owned(),
            )
        })
        .collect()
}

fn get<'a>(
    figures: &'a HashMap<(String, String, String, String), String>,
    section: &str,
    table: &str,
    row: &str,
    column: &str,
) -> &'a str {
    figures
        .get(&(
            section.to_owned(),
            table.to_owned(),
            row.to_owned(),
            column.to_owned(),
        ))
        .unwrap_or_else(|| panic!("no figure {section}/{table}/{row}/{column}"))
}

#[test]
fn the_governor_report_says_what_stats_says() {
    let demo = demo();
    let out = demo.dir.join("reports");
    let stdout = run_ok(&[
        "--config",
        &demo.config,
        "report",
        "governors",
        "--term",
        "autumn-2025",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(stdout.contains("governors-autumn-2025.html"), "{stdout}");
    let figures = read_figures(&out.join("governors-autumn-2025.csv"));
    let term = stats(demo, "2025-09-03", "2025-12-19");
    let pupils = pupils(demo);

    let mut all = Sums::default();
    for v in term.values() {
        all.add(v);
    }
    assert!(all.pupils > 50, "the demo has a school's worth of pupils");
    let counts = |row: &str| get(&figures, "headline", "counts", row, "Count");
    assert_eq!(counts("Pupils"), all.pupils.to_string());
    assert_eq!(counts("Possible sessions"), all.possible.to_string());
    assert_eq!(counts("Sessions attended"), all.attended.to_string());
    assert_eq!(
        counts("Authorised absence sessions"),
        all.authorised.to_string()
    );
    assert_eq!(
        counts("Unauthorised absence sessions"),
        all.unauthorised.to_string()
    );
    let count_or_c = |count: u64| {
        if discloses(count, all.pupils) {
            "c".to_owned()
        } else {
            count.to_string()
        }
    };
    assert_eq!(
        counts("Persistently absent pupils"),
        count_or_c(all.persistent)
    );
    assert_eq!(counts("Severely absent pupils"), count_or_c(all.severe));
    let headline = |row: &str| get(&figures, "headline", "headline", row, "This term");
    assert_eq!(
        headline("Attendance"),
        Sums::pct(all.attended, all.possible)
    );
    assert_eq!(
        headline("Unauthorised absence"),
        Sums::pct(all.unauthorised, all.possible)
    );
    if !discloses(all.persistent, all.pupils) {
        assert_eq!(
            headline("Persistent absence (share of pupils)"),
            Sums::pct(all.persistent, all.pupils)
        );
    }
    // The demo school is primary: national figures are the primary ones from DOMAIN.md.
    assert_eq!(
        get(
            &figures,
            "headline",
            "headline",
            "Attendance",
            "National 2023/24"
        ),
        "94.5"
    );
    assert_eq!(
        get(
            &figures,
            "headline",
            "headline",
            "Persistent absence (share of pupils)",
            "National 2023/24"
        ),
        "14.6"
    );

    // Registration groups: each group's figures, or c for a group under 5 pupils.
    let mut by_class: BTreeMap<String, Sums> = BTreeMap::new();
    let mut by_fsm: BTreeMap<String, Sums> = BTreeMap::new();
    for (upn, v) in &term {
        by_class
            .entry(v["reg_group"].as_str().expect("reg_group").to_owned())
            .or_default()
            .add(v);
        let fsm = if pupils[upn]["fsm"] == "Y" {
            "Yes"
        } else {
            "No"
        };
        by_fsm.entry(fsm.to_owned()).or_default().add(v);
    }
    let small = by_class.values().filter(|s| s.pupils < 5).count();
    assert_eq!(
        small, 0,
        "the 90-pupil demo has no class under 5: every class is compared"
    );
    for (class, s) in &by_class {
        let shown = get(&figures, "cohorts", "reg_group", class, "Attendance");
        if s.pupils < 5 {
            assert_eq!(shown, "c", "{class} has {} pupils", s.pupils);
        } else if small == 0 {
            assert_eq!(shown, Sums::pct(s.attended, s.possible), "{class}");
            assert_eq!(
                get(&figures, "cohorts", "reg_group", class, "Pupils"),
                s.pupils.to_string()
            );
            // A count of 1 or 2 pupils (or all but 1 or 2 of the class) is c, as DfE
            // publications do; so is the smallest other count if that one alone would be
            // hidden (checked below).
            let shown_pa = get(
                &figures,
                "cohorts",
                "reg_group",
                class,
                "Persistently absent",
            );
            if discloses(s.persistent, s.pupils) {
                assert_eq!(shown_pa, "c", "{class}: {} of {}", s.persistent, s.pupils);
            } else if shown_pa != "c" {
                assert_eq!(shown_pa, s.persistent.to_string(), "{class}");
            }
        }
    }
    let pa_hidden: Vec<&String> = by_class
        .keys()
        .filter(|c| get(&figures, "cohorts", "reg_group", c, "Persistently absent") == "c")
        .collect();
    let disclosing = by_class
        .values()
        .filter(|s| discloses(s.persistent, s.pupils))
        .count();
    // Exactly one small count hidden would be the school's total minus the others: one more
    // goes, the smallest non-zero count among the rest; otherwise only the small ones.
    let expected_hidden = if disclosing == 1 { 2 } else { disclosing };
    assert_eq!(pa_hidden.len(), expected_hidden, "{pa_hidden:?}");
    for (value, s) in &by_fsm {
        let shown = get(&figures, "cohorts", "fsm", value, "Attendance");
        let other_small = by_fsm.values().any(|o| o.pupils < 5);
        if other_small {
            // One side of a yes/no split hidden means both are (the other is the total minus it).
            assert_eq!(shown, "c");
        } else {
            assert_eq!(shown, Sums::pct(s.attended, s.possible), "FSM {value}");
        }
    }

    // The weeks add up to the term.
    let weekly_possible: u64 = figures
        .iter()
        .filter(|((sec, table, _, col), _)| {
            sec == "trends" && table == "weekly" && col == "Possible sessions"
        })
        .map(|(_, v)| v.parse::<u64>().expect("count"))
        .sum();
    assert_eq!(weekly_possible, all.possible);
    let weekday_possible: u64 = figures
        .iter()
        .filter(|((sec, table, _, col), _)| {
            sec == "trends" && table == "weekday" && col == "Possible sessions"
        })
        .map(|(_, v)| v.parse::<u64>().expect("count"))
        .sum();
    assert_eq!(weekday_possible, all.possible);

    // The HTML shows the same headline and names no pupil; the PDF is a PDF.
    let html = std::fs::read_to_string(out.join("governors-autumn-2025.html")).expect("html");
    assert!(html.contains(&format!("{}%", headline("Attendance"))));
    assert!(html.contains("<svg"), "charts are inline SVG");
    for p in pupils.values() {
        let name = format!("{} {}", p["forename"], p["surname"]);
        assert!(!html.contains(&name), "the governor report names {name}");
    }
    let pdf = std::fs::read(out.join("governors-autumn-2025.pdf")).expect("pdf");
    assert!(pdf.starts_with(b"%PDF-"));
}

#[test]
fn the_newsletter_says_what_stats_says_and_names_nobody() {
    let demo = demo();
    let out = demo.dir.join("newsletter");
    run_ok(&[
        "--config",
        &demo.config,
        "report",
        "newsletter",
        "--week",
        "2025-10-08",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    // 8 October 2025 is a Wednesday: the week is Monday 6 to Friday 10 October (ISO week 41).
    let text = std::fs::read_to_string(out.join("newsletter-2025-W41.txt")).expect("text");
    let html = std::fs::read_to_string(out.join("newsletter-2025-W41.html")).expect("html");
    let week = stats(demo, "2025-10-06", "2025-10-10");
    let year = stats(demo, "2025-08-01", "2025-10-10");
    let mut all = Sums::default();
    let mut classes: BTreeMap<String, (Sums, Sums)> = BTreeMap::new();
    for v in week.values() {
        all.add(v);
        classes
            .entry(v["reg_group"].as_str().expect("group").to_owned())
            .or_default()
            .0
            .add(v);
    }
    for v in year.values() {
        classes
            .entry(v["reg_group"].as_str().expect("group").to_owned())
            .or_default()
            .1
            .add(v);
    }
    assert!(
        text.contains(&format!(
            "This week: {}%",
            Sums::pct(all.attended, all.possible)
        )),
        "{text}"
    );
    let mut best = (String::new(), -1.0f64);
    for (class, (w, y)) in &classes {
        if w.pupils < 5 {
            continue;
        }
        let line = format!(
            "  {class}: {}% / {}%",
            Sums::pct(w.attended, w.possible),
            Sums::pct(y.attended, y.possible)
        );
        assert!(text.contains(&line), "missing {line:?} in\n{text}");
        let rate: f64 = Sums::pct(w.attended, w.possible).parse().expect("rate");
        if rate > best.1 {
            best = (class.clone(), rate);
        }
    }
    // Class names appear in the table anyway: check the "Best this week" line itself.
    let best_line = text
        .lines()
        .find(|l| l.starts_with("Best this week: "))
        .unwrap_or_else(|| panic!("no best-class line in\n{text}"));
    assert!(
        best_line.contains(&best.0) && best_line.contains(&format!("({:.1}%)", best.1)),
        "best class {best:?}: {best_line}"
    );
    for p in pupils(demo).values() {
        for name in [
            format!("{} {}", p["forename"], p["surname"]),
            p["upn"].clone(),
        ] {
            assert!(
                !text.contains(&name) && !html.contains(&name),
                "names {name}"
            );
        }
    }
}

#[test]
fn the_la_returns_list_the_right_pupils_once_per_episode() {
    let demo = demo();
    let out = demo.dir.join("returns");
    let stdout = run_ok(&[
        "--config",
        &demo.config,
        "report",
        "la-returns",
        "--as-of",
        "2025-12-19",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let read = |name: &str| -> Vec<HashMap<String, String>> {
        let mut reader = csv::Reader::from_path(out.join(name)).expect(name);
        let headers = reader.headers().expect("headers").clone();
        reader
            .records()
            .map(|r| {
                let r = r.expect("row");
                headers
                    .iter()
                    .zip(r.iter())
                    .map(|(h, v)| (h.to_owned(), v.to_owned()))
                    .collect()
            })
            .collect()
    };
    // Regular return: attendance below 90 % this school year, or 10 days (20 sessions) or
    // more of unauthorised absence (the demo config's thresholds).
    let year = stats(demo, "2025-08-01", "2025-12-19");
    let expected: HashSet<String> = year
        .iter()
        .filter(|(_, v)| {
            let possible = n(v, "possible_sessions");
            10 * n(v, "attended_sessions") < 9 * possible
                || n(v, "unauthorised_absence_sessions") >= 20
        })
        .map(|(upn, _)| upn.clone())
        .collect();
    assert!(
        !expected.is_empty(),
        "the demo has pupils for the regular return"
    );
    let regular: HashSet<String> = read("la-returns-2025-12-19-regular-attendance.csv")
        .into_iter()
        .map(|r| r["upn"].clone())
        .collect();
    assert_eq!(regular, expected);

    // Continuous absence: each line an episode of 10+ school days of only G/N/O/U, once.
    let lines = read("la-returns-2025-12-19-continuous-absence.csv");
    assert!(
        !lines.is_empty(),
        "the demo has a 10-day episode by 19 December"
    );
    let mut seen = HashSet::new();
    for line in &lines {
        assert!(
            seen.insert((line["upn"].clone(), line["start"].clone())),
            "twice: {line:?}"
        );
        let days: u32 = line["school_days"].parse().expect("days");
        assert!(days >= 10, "{line:?}");
        for day in line["marks"].split("; ") {
            let (_, codes) = day.split_once(' ').expect("date codes");
            for code in codes.split('/') {
                assert!(matches!(code, "G" | "N" | "O" | "U"), "{code} in {line:?}");
            }
        }
        assert!(!line["parent_carer"].is_empty() && !line["date_of_birth"].is_empty());
    }
    // Sickness: 30 or more sessions of I this school year, as stats counts them.
    let sickness = read("la-returns-2025-12-19-sickness.csv");
    assert!(
        !sickness.is_empty(),
        "the demo has a sickness return by 19 December"
    );
    // The command counts episodes and pupils apart.
    let pupils_of = |lines: &[HashMap<String, String>]| {
        lines
            .iter()
            .map(|l| l["upn"].clone())
            .collect::<HashSet<_>>()
            .len()
    };
    let counted = |lines: &[HashMap<String, String>]| {
        let (e, p) = (lines.len(), pupils_of(lines));
        format!(
            "{e} episode{} of {p} pupil{}",
            if e == 1 { "" } else { "s" },
            if p == 1 { "" } else { "s" }
        )
    };
    assert!(
        stdout.contains(&format!(
            "10-day continuous absence return: {}\n",
            counted(&lines)
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("15-day sickness return: {}\n", counted(&sickness))),
        "{stdout}"
    );
    for line in sickness {
        let v = &year[&line["upn"]];
        assert!(n(v, "illness_sessions") >= 30, "{line:?}");
        // Every line is an episode of 30 illness sessions or more: the year's total up to the
        // day it reached 30, or an unbroken run of its own.
        let sessions: u32 = line["sessions"].parse().expect("sessions");
        assert!(sessions >= 30, "{line:?}");
        assert_eq!(
            line["codes"],
            format!("I×{sessions}"),
            "only illness in a sickness episode: {line:?}"
        );
        assert_eq!(
            line["illness_sessions_ytd"],
            n(v, "illness_sessions").to_string()
        );
    }
    let cover = std::fs::read(out.join("la-returns-2025-12-19-cover.pdf")).expect("cover");
    assert!(cover.starts_with(b"%PDF-"));
}

fn emails(dir: &Path) -> Vec<(PathBuf, mailparse::ParsedMail<'static>)> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "eml") {
                found.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(dir, &mut paths);
    paths
        .into_iter()
        .map(|p| {
            let bytes: &'static [u8] =
                Box::leak(std::fs::read(&p).expect("eml").into_boxed_slice());
            (p, mailparse::parse_mail(bytes).expect("parse eml"))
        })
        .collect()
}

fn header(mail: &mailparse::ParsedMail<'_>, name: &str) -> String {
    use mailparse::MailHeaderMap;
    mail.headers.get_first_value(name).unwrap_or_default()
}

fn attachment_names(mail: &mailparse::ParsedMail<'_>) -> Vec<String> {
    mail.parts()
        .filter_map(|p| p.get_content_disposition().params.get("filename").cloned())
        .collect()
}

#[test]
fn the_daemon_sent_a_newsletter_each_week_and_the_governor_report_at_term_end() {
    let demo = demo();
    let mail = emails(&demo.dir.join("outbox"));
    // School weeks of the autumn term 2025 in the demo calendar: Monday 1 September (term
    // from Wednesday 3rd) to Friday 19 December, less the half-term week of 27 October.
    let first = NaiveDate::from_ymd_opt(2025, 9, 1).expect("date");
    let mut weeks = Vec::new();
    let mut monday = first;
    while monday <= NaiveDate::from_ymd_opt(2025, 12, 15).expect("date") {
        if monday != NaiveDate::from_ymd_opt(2025, 10, 27).expect("date") {
            weeks.push(monday);
        }
        monday = monday + Days::new(7);
    }
    let newsletters: Vec<_> = mail
        .iter()
        .filter(|(_, m)| header(m, "To").contains("parents@lists.demo-school.example"))
        .collect();
    assert_eq!(
        newsletters.len(),
        weeks.len(),
        "one newsletter per school week"
    );
    let mut dates: Vec<NaiveDate> = newsletters
        .iter()
        .map(|(p, _)| {
            let day = p
                .ancestors()
                .nth(2)
                .and_then(|d| d.file_name())
                .and_then(|d| d.to_str())
                .expect("day folder");
            NaiveDate::parse_from_str(day, "%Y-%m-%d").expect("day")
        })
        .collect();
    dates.sort();
    for (sent, monday) in dates.iter().zip(&weeks) {
        assert_eq!(
            rollcall::register::session::monday_of(*sent),
            *monday,
            "sent in its own week"
        );
    }

    let governors: Vec<_> = mail
        .iter()
        .filter(|(_, m)| header(m, "To").contains("governors@demo-school.example"))
        .collect();
    assert_eq!(governors.len(), 1, "one governor report for the term");
    let (path, report) = governors[0];
    assert!(
        path.to_string_lossy().contains("2025-12-19"),
        "{}",
        path.display()
    );
    let mut names = attachment_names(report);
    names.sort();
    assert_eq!(
        names,
        vec![
            "governors-autumn-2025.csv",
            "governors-autumn-2025.html",
            "governors-autumn-2025.pdf"
        ]
    );

    // LA returns carry the return as CSV with a PDF cover; no episode is returned twice. The
    // LA also gets notices (a new entry to the register, a child missing education, …) as
    // plain emails: those are not returns and carry no files.
    let mut episodes: HashSet<(String, String, String)> = HashSet::new();
    for (_, m) in mail.iter().filter(|(_, m)| {
        header(m, "To").contains("attendance-team@la.example")
            && header(m, "Subject").to_lowercase().contains("return")
    }) {
        let names = attachment_names(m);
        assert!(names.iter().any(|n| n.ends_with(".pdf")), "{names:?}");
        for part in m.parts() {
            let is_csv = part
                .get_content_disposition()
                .params
                .get("filename")
                .is_some_and(|f| f.ends_with(".csv"));
            if !is_csv {
                continue;
            }
            let body = part.get_body_raw().expect("csv body");
            let mut reader = csv::Reader::from_reader(body.as_slice());
            for r in reader.records() {
                let r = r.expect("row");
                if &r[0] == "regular-attendance" {
                    continue;
                }
                assert!(
                    episodes.insert((r[0].to_owned(), r[1].to_owned(), r[12].to_owned())),
                    "episode returned twice: {r:?}"
                );
            }
        }
    }
    assert!(
        !episodes.is_empty(),
        "the demo sent at least one 10-day or sickness return"
    );
}
