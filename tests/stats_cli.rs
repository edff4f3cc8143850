//! End-to-end tests of `rollcall import` and `rollcall stats`: each test builds a school in a
//! temporary folder (config, pupils.csv, marks.csv), runs the real binary and checks the
//! JSON-lines contract of `stats --format json`.
//!
//! Every expected number is worked out by hand from the definitions (DOMAIN.md and the stats
//! contract) in a comment next to it; none is copied from the program's output.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// UPNs
// ---------------------------------------------------------------------------------------------

const CHECK_LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRTUVWXYZ";

/// A valid UPN from 12 digits: weights 2..=13 on characters 2..=13, sum mod 23, letter.
fn upn_from_digits(digits: &str) -> String {
    assert_eq!(
        digits.len(),
        12,
        "a UPN has 12 digits after its check letter"
    );
    let sum: u32 = digits
        .chars()
        .enumerate()
        .map(|(i, c)| c.to_digit(10).expect("digit") * (i as u32 + 2))
        .sum();
    let letter = CHECK_LETTERS[(sum % 23) as usize] as char;
    format!("{letter}{digits}")
}

/// The n-th test pupil's UPN (LA 886, establishment 2001, year 25, serial n).
fn upn(n: u32) -> String {
    upn_from_digits(&format!("886200125{n:03}"))
}

#[test]
fn upn_helper_matches_the_domain_examples() {
    // B801200005001: 8·2 + 0·3 + 1·4 + 2·5 + 0·6 + 0·7 + 0·8 + 0·9 + 5·10 + 0·11 + 0·12 + 1·13
    //              = 16 + 4 + 10 + 50 + 13 = 93; 93 mod 23 = 1 → "B".
    assert_eq!(upn_from_digits("801200005001"), "B801200005001");
    // DOMAIN.md and the brief also call Q207000016049 valid, but the rule they give says P:
    // 2·2 + 0·3 + 7·4 + 0·5 + 0·6 + 0·7 + 0·8 + 1·9 + 6·10 + 0·11 + 4·12 + 9·13
    //   = 4 + 28 + 9 + 60 + 48 + 117 = 266; 266 mod 23 = 13 → "P" (A0 … N12 P13 Q14).
    // The example appears to come from a help page that mis-added the sum as 267 and then
    // still read 13 as Q. The rule (DfE data standard) wins; the helper follows the rule.
    assert_eq!(upn_from_digits("207000016049"), "P207000016049");
    assert_eq!(upn(1).len(), 13);
}

// ---------------------------------------------------------------------------------------------
// Calendar (the test's own idea of school days, independent of the program's)
// ---------------------------------------------------------------------------------------------

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

#[derive(Clone)]
struct Calendar {
    terms: Vec<(&'static str, &'static str, &'static str)>,
    holidays: Vec<(&'static str, &'static str, &'static str)>,
}

impl Calendar {
    /// Autumn 2025 (1 Sep – 19 Dec) with the October half term (27 – 31 Oct).
    fn autumn() -> Calendar {
        Calendar {
            terms: vec![("Autumn 2025", "2025-09-01", "2025-12-19")],
            holidays: vec![("Autumn half term", "2025-10-27", "2025-10-31")],
        }
    }

    /// Autumn 2025 and Spring 2026 (5 Jan – 27 Mar, half term 16 – 20 Feb). The Christmas
    /// holiday (20 Dec – 4 Jan) is outside both terms, so it has no school days.
    fn autumn_and_spring() -> Calendar {
        let mut c = Calendar::autumn();
        c.terms.push(("Spring 2026", "2026-01-05", "2026-03-27"));
        c.holidays
            .push(("Spring half term", "2026-02-16", "2026-02-20"));
        c
    }

    fn toml(&self) -> String {
        let mut out = String::from(
            "[database]\nurl = \"sqlite://rollcall.db\"\n\n\
             [school]\nname = \"Test School\"\nurn = \"100001\"\nla_code = \"886\"\n",
        );
        for (name, start, end) in &self.terms {
            out.push_str(&format!(
                "\n[[calendar.terms]]\nname = \"{name}\"\nstart = \"{start}\"\nend = \"{end}\"\n"
            ));
        }
        for (name, start, end) in &self.holidays {
            out.push_str(&format!(
                "\n[[calendar.holidays]]\nname = \"{name}\"\nstart = \"{start}\"\nend = \"{end}\"\n"
            ));
        }
        out
    }

    fn is_school_day(&self, day: NaiveDate) -> bool {
        let weekday = !matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        let in_term = self
            .terms
            .iter()
            .any(|(_, s, e)| d(s) <= day && day <= d(e));
        let in_holiday = self
            .holidays
            .iter()
            .any(|(_, s, e)| d(s) <= day && day <= d(e));
        weekday && in_term && !in_holiday
    }

    /// School days from `from` to `to` inclusive.
    fn school_days(&self, from: &str, to: &str) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut day = d(from);
        while day <= d(to) {
            if self.is_school_day(day) {
                out.push(day);
            }
            day += Duration::days(1);
        }
        out
    }
}

#[test]
fn test_calendar_counts_school_days_as_expected() {
    let c = Calendar::autumn_and_spring();
    // 20 Oct – 4 Nov: Mon 20 – Fri 24 Oct (5) + half term (0) + Mon 3, Tue 4 Nov (2) = 7.
    assert_eq!(c.school_days("2025-10-20", "2025-11-04").len(), 7);
    // Christmas: Sat 20 Dec 2025 – Sun 4 Jan 2026 has none.
    assert!(c.school_days("2025-12-20", "2026-01-04").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Pupils and marks files
// ---------------------------------------------------------------------------------------------

const PUPIL_HEADER: &str = "upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date";

struct Pupil {
    upn: String,
    admission: &'static str,
    leaving: &'static str,
}

/// A Year 3 pupil on roll since September 2023.
fn pupil(upn: &str) -> Pupil {
    Pupil {
        upn: upn.to_owned(),
        admission: "2023-09-01",
        leaving: "",
    }
}

fn joiner(upn: &str, admission: &'static str) -> Pupil {
    Pupil {
        upn: upn.to_owned(),
        admission,
        leaving: "",
    }
}

/// Marks keyed by (UPN, date, session); later `set`s replace earlier ones, so a filled
/// background of present marks can have individual sessions overridden.
#[derive(Default)]
struct Marks {
    map: BTreeMap<(String, NaiveDate, u8), String>,
}

impl Marks {
    fn set(&mut self, upn: &str, date: &str, session: &str, code: &str) -> &mut Self {
        let s = match session {
            "AM" => 0,
            "PM" => 1,
            other => panic!("bad session {other}"),
        };
        self.map
            .insert((upn.to_owned(), d(date), s), code.to_owned());
        self
    }

    /// Both sessions of one day.
    fn day(&mut self, upn: &str, date: &str, am: &str, pm: &str) -> &mut Self {
        self.set(upn, date, "AM", am).set(upn, date, "PM", pm)
    }

    /// The same AM and PM marks on every school day from `from` to `to`.
    fn fill(
        &mut self,
        cal: &Calendar,
        upn: &str,
        from: &str,
        to: &str,
        am: &str,
        pm: &str,
    ) -> &mut Self {
        for day in cal.school_days(from, to) {
            let date = day.format("%Y-%m-%d").to_string();
            self.day(upn, &date, am, pm);
        }
        self
    }

    fn csv(&self) -> String {
        let mut out = String::from("upn,date,session,mark\n");
        for ((upn, date, s), code) in &self.map {
            let session = if *s == 0 { "AM" } else { "PM" };
            out.push_str(&format!("{upn},{date},{session},{code}\n"));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// A school in a temporary folder, driven through the real binary
// ---------------------------------------------------------------------------------------------

struct School {
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "rollcall {}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

impl School {
    fn new(cal: &Calendar) -> School {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("rollcall.toml");
        std::fs::write(&config, cal.toml()).expect("write config");
        School { dir, config }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write test file");
        path
    }

    /// Runs `rollcall --config DIR/rollcall.toml ARGS…` with no ROLLCALL_* environment leaking in.
    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollcall"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ROLLCALL") {
                cmd.env_remove(key);
            }
        }
        cmd.arg("--config").arg(&self.config).args(args);
        cmd.current_dir(self.dir.path());
        cmd.output().expect("run rollcall")
    }

    fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "expected success:\n{}",
            describe(args, &out)
        );
        out
    }

    fn import_pupils(&self, pupils: &[Pupil]) {
        let mut csv = format!("{PUPIL_HEADER}\n");
        for (i, p) in pupils.iter().enumerate() {
            csv.push_str(&format!(
                "{},Pupil,Number{i},2018-03-04,3,3A,F,N,N,N,WBRI,N,N,N,N,{},{}\n",
                p.upn, p.admission, p.leaving
            ));
        }
        let path = self.write("pupils.csv", &csv);
        self.run_ok(&["import", "pupils", path.to_str().expect("utf-8 path")]);
    }

    /// Writes `name` and imports it; returns the import's stdout.
    fn import_marks_as(&self, name: &str, marks: &Marks) -> String {
        let path = self.write(name, &marks.csv());
        text(
            &self
                .run_ok(&["import", "marks", path.to_str().expect("utf-8 path")])
                .stdout,
        )
    }

    fn import_marks(&self, marks: &Marks) -> String {
        self.import_marks_as("marks.csv", marks)
    }

    /// `stats --format json` lines, parsed; asserts a zero exit.
    fn stats(&self, from: &str, as_of: &str, upn: Option<&str>) -> Vec<Value> {
        let out = self.stats_raw(from, as_of, upn);
        parse_lines(&text(&out.stdout))
    }

    fn stats_raw(&self, from: &str, as_of: &str, upn: Option<&str>) -> Output {
        let mut args = vec![
            "stats", "--from", from, "--as-of", as_of, "--format", "json",
        ];
        if let Some(u) = upn {
            args.extend(["--upn", u]);
        }
        self.run_ok(&args)
    }
}

fn parse_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

/// The one line for `upn`; fails if there is none or more than one.
fn line_for<'a>(lines: &'a [Value], upn: &str) -> &'a Value {
    let found: Vec<&Value> = lines.iter().filter(|l| l["upn"] == upn).collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one stats line for {upn}, got: {lines:#?}"
    );
    found[0]
}

// ---------------------------------------------------------------------------------------------
// Expected figures
// ---------------------------------------------------------------------------------------------

/// Every figure of the stats contract for one pupil.
struct Facts {
    possible: u64,
    attended: u64,
    authorised: u64,
    unauthorised: u64,
    pct: f64,
    pa: bool,
    sa: bool,
    late: u64,
    late_after_close: u64,
    illness: u64,
    absent_run: u64,
    unauthorised_run: u64,
    rolling: u64,
}

enum Want {
    N(u64),
    B(bool),
    Pct(f64),
}

impl Facts {
    fn fields(&self) -> Vec<(&'static str, Want)> {
        vec![
            ("possible_sessions", Want::N(self.possible)),
            ("attended_sessions", Want::N(self.attended)),
            ("authorised_absence_sessions", Want::N(self.authorised)),
            ("unauthorised_absence_sessions", Want::N(self.unauthorised)),
            ("attendance_pct", Want::Pct(self.pct)),
            ("persistent_absence", Want::B(self.pa)),
            ("severe_absence", Want::B(self.sa)),
            ("late_sessions", Want::N(self.late)),
            ("late_after_close_sessions", Want::N(self.late_after_close)),
            ("illness_sessions", Want::N(self.illness)),
            ("consecutive_absent_days", Want::N(self.absent_run)),
            (
                "consecutive_unauthorised_days",
                Want::N(self.unauthorised_run),
            ),
            (
                "unauthorised_sessions_rolling_10_weeks",
                Want::N(self.rolling),
            ),
        ]
    }
}

/// Checks the listed fields of one stats line and reports every mismatch at once.
fn assert_fields(line: &Value, wanted: &[(&str, Want)]) {
    let mut wrong = Vec::new();
    for (key, want) in wanted {
        let got = &line[*key];
        let ok = match want {
            Want::N(n) => got.as_u64() == Some(*n),
            Want::B(b) => got.as_bool() == Some(*b),
            // Accepts the exact quotient or one rounded to 2 decimal places.
            Want::Pct(p) => got.as_f64().is_some_and(|g| (g - p).abs() <= 0.005 + 1e-9),
        };
        if !ok {
            let want = match want {
                Want::N(n) => n.to_string(),
                Want::B(b) => b.to_string(),
                Want::Pct(p) => format!("{p:.4}"),
            };
            wrong.push(format!("  {key}: expected {want}, got {got}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "stats for {} differ from the hand-worked figures:\n{}\nwhole line: {line}",
        line["upn"],
        wrong.join("\n")
    );
}

fn assert_facts(line: &Value, facts: &Facts) {
    assert_fields(line, &facts.fields());
}

/// True when stderr points at `file` line `line`, as `file:line` or "line N".
fn names_line(stderr: &str, file: &str, line: u64) -> bool {
    stderr.lines().any(|l| {
        (l.contains(file) && l.contains(&format!(":{line}:")))
            || l.contains(&format!("{file}:{line}"))
            || l.contains(&format!("line {line}"))
    })
}

// ---------------------------------------------------------------------------------------------
// (1) a simple week
// ---------------------------------------------------------------------------------------------

/// An import ends with its write-ahead log folded into the database: a school's disk does not
/// keep a second copy of every mark imported (500 MB at 100,000 pupils), and the first
/// `stats` after an import does not read through one.
#[test]
fn an_import_leaves_no_write_ahead_log_behind() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let a = upn(1);
    school.import_pupils(&[pupil(&a)]);
    let mut marks = Marks::default();
    marks.fill(&cal, &a, "2025-09-03", "2025-12-19", "/", "\\");
    school.import_marks(&marks);
    let wal = school.path("rollcall.db-wal");
    let left = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(
        left,
        0,
        "{} is {left} bytes after the import",
        wal.display()
    );
}

#[test]
fn simple_week_with_an_illness_day_and_a_late_mark() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let a = upn(1);
    school.import_pupils(&[pupil(&a)]);
    let mut marks = Marks::default();
    marks
        .day(&a, "2025-09-08", "/", "\\") // Mon: present, present
        .day(&a, "2025-09-09", "I", "I") // Tue: ill all day (authorised)
        .day(&a, "2025-09-10", "L", "\\") // Wed: late before close (present), present
        .day(&a, "2025-09-11", "/", "\\") // Thu
        .day(&a, "2025-09-12", "/", "\\"); // Fri
    school.import_marks(&marks);

    let lines = school.stats("2025-09-08", "2025-09-12", None);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_facts(
        line_for(&lines, &a),
        &Facts {
            possible: 10,    // 5 days × 2 sessions, none "not counted"
            attended: 8,     // Mon 2 + Wed 2 (L counts as present) + Thu 2 + Fri 2
            authorised: 2,   // Tue I, I
            unauthorised: 0, //
            pct: 80.0,       // 100 × 8 ÷ 10
            pa: true,        // absence 2 ÷ 10 = 20 % ≥ 10 %
            sa: false,       // 20 % < 50 %
            late: 1,         // Wed AM L
            late_after_close: 0,
            illness: 2,    // Tue I, I
            absent_run: 0, // Fri 12 Sep (as-of) attended
            unauthorised_run: 0,
            rolling: 0, // no G/N/O/U at all
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Every code lands in its category
// ---------------------------------------------------------------------------------------------

#[test]
fn every_2024_code_counts_in_its_category() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let a = upn(2);
    school.import_pupils(&[pupil(&a)]);
    let mut marks = Marks::default();
    marks
        .day(&a, "2025-09-01", "D", "X") // not counted ×2
        .day(&a, "2025-09-02", "Q", "Y1") // not counted ×2
        .day(&a, "2025-09-03", "Y2", "Y3") // not counted ×2
        .day(&a, "2025-09-04", "Y4", "Y5") // not counted ×2
        .day(&a, "2025-09-05", "Y6", "Y7") // not counted ×2
        .day(&a, "2025-09-08", "Z", "#") // not counted ×2 (12 in all)
        .day(&a, "2025-09-09", "C", "C1") // authorised
        .day(&a, "2025-09-10", "C2", "E") // authorised
        .day(&a, "2025-09-11", "I", "J1") // authorised
        .day(&a, "2025-09-12", "M", "R") // authorised
        .day(&a, "2025-09-15", "S", "T") // authorised (10 in all)
        .day(&a, "2025-09-16", "G", "N") // unauthorised
        .day(&a, "2025-09-17", "O", "U") // unauthorised (4 in all)
        .day(&a, "2025-09-18", "B", "K") // approved educational activity: attended
        .day(&a, "2025-09-19", "P", "V") // attended
        .day(&a, "2025-09-22", "W", "L") // attended ×2 (W approved, L present)
        .day(&a, "2025-09-23", "/", "\\"); // present ×2
    school.import_marks(&marks);

    let lines = school.stats("2025-09-01", "2025-09-23", None);
    assert_facts(
        line_for(&lines, &a),
        &Facts {
            possible: 22,            // 17 days × 2 = 34 sessions − 12 not counted
            attended: 8,             // B K P V W (5) + L / \ (3)
            authorised: 10,          // C C1 C2 E I J1 M R S T
            unauthorised: 4,         // G N O U
            pct: 100.0 * 8.0 / 22.0, // 36.36…
            pa: true,                // absence 14 ÷ 22 = 63.6 % ≥ 10 %
            sa: true,                // 63.6 % ≥ 50 %
            late: 1,                 // L on Mon 22 PM
            late_after_close: 1,     // U on Wed 17 PM
            illness: 1,              // I on Thu 11 AM
            absent_run: 0,           // Tue 23 Sep (as-of) present
            unauthorised_run: 0,
            rolling: 4, // G N O U, all in the 4 school weeks 1 – 23 Sep
        },
    );
}

// ---------------------------------------------------------------------------------------------
// (2) closures are not possible sessions and do not break a run
// ---------------------------------------------------------------------------------------------

#[test]
fn closure_days_are_not_possible_and_do_not_break_an_absence_run() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let (a, b, c) = (upn(3), upn(4), upn(5));
    school.import_pupils(&[pupil(&a), pupil(&b), pupil(&c)]);
    let mut marks = Marks::default();
    // Pupil a: a whole-day planned closure (#) and an unexpected closure (Y4) inside a run of N.
    marks
        .day(&a, "2025-09-15", "/", "\\") // Mon present
        .day(&a, "2025-09-16", "N", "N") // Tue absent
        .day(&a, "2025-09-17", "#", "#") // Wed planned closure
        .day(&a, "2025-09-18", "Y4", "Y4") // Thu school unexpectedly closed
        .day(&a, "2025-09-19", "N", "N"); // Fri absent
    // Pupil b: a half day not counted (Y1 AM), the other half absent: still an absent day.
    marks
        .day(&b, "2025-09-15", "/", "\\")
        .day(&b, "2025-09-16", "N", "N")
        .day(&b, "2025-09-17", "Y1", "N")
        .day(&b, "2025-09-18", "N", "N")
        .day(&b, "2025-09-19", "O", "O");
    // Pupil c: a school day with no marks at all is skipped too.
    marks
        .day(&c, "2025-09-15", "/", "\\")
        .day(&c, "2025-09-16", "N", "N")
        .day(&c, "2025-09-17", "N", "N")
        // Thu 18: no marks
        .day(&c, "2025-09-19", "N", "N");
    school.import_marks(&marks);

    let lines = school.stats("2025-09-15", "2025-09-19", None);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_facts(
        line_for(&lines, &a),
        &Facts {
            possible: 6, // Mon 2 + Tue 2 + Fri 2; Wed (#) and Thu (Y4) are not counted
            attended: 2, // Mon
            authorised: 0,
            unauthorised: 4,        // Tue N N, Fri N N
            pct: 100.0 * 2.0 / 6.0, // 33.33…
            pa: true,               // 4 ÷ 6 = 66.7 %
            sa: true,               // ≥ 50 %
            late: 0,
            late_after_close: 0,
            illness: 0,
            absent_run: 2, // Fri absent (1), Thu Y4 skipped, Wed # skipped, Tue absent (2), Mon present: stop
            unauthorised_run: 2, // same days, all N
            rolling: 4,    // the 4 N sessions in this school week
        },
    );
    assert_facts(
        line_for(&lines, &b),
        &Facts {
            possible: 9, // 10 sessions − Wed AM Y1
            attended: 2, // Mon
            authorised: 0,
            unauthorised: 7,        // Tue 2 + Wed PM 1 + Thu 2 + Fri 2
            pct: 100.0 * 2.0 / 9.0, // 22.22…
            pa: true,
            sa: true, // 7 ÷ 9 = 77.8 %
            late: 0,
            late_after_close: 0,
            illness: 0,
            absent_run: 4, // Fri, Thu, Wed (its only possible session is N), Tue; Mon present
            unauthorised_run: 4, // all of those sessions are N or O
            rolling: 7,
        },
    );
    assert_facts(
        line_for(&lines, &c),
        &Facts {
            possible: 8, // Mon, Tue, Wed, Fri × 2; Thu unmarked
            attended: 2,
            authorised: 0,
            unauthorised: 6,
            pct: 25.0, // 100 × 2 ÷ 8
            pa: true,
            sa: true, // 6 ÷ 8 = 75 %
            late: 0,
            late_after_close: 0,
            illness: 0,
            absent_run: 3, // Fri, (Thu no possible session: skipped), Wed, Tue; Mon present
            unauthorised_run: 3,
            rolling: 6,
        },
    );
}

// ---------------------------------------------------------------------------------------------
// (3) a joiner: Z before admission, figures start at admission
// ---------------------------------------------------------------------------------------------

#[test]
fn joiner_mid_term_counts_from_admission() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let (a, b) = (upn(6), upn(7));
    // Both admitted on Wed 17 Sep 2025.
    school.import_pupils(&[joiner(&a, "2025-09-17"), joiner(&b, "2025-09-17")]);
    let mut marks = Marks::default();
    marks
        .day(&a, "2025-09-15", "Z", "Z") // not yet on roll
        .day(&a, "2025-09-16", "Z", "Z")
        .day(&a, "2025-09-17", "/", "\\")
        .day(&a, "2025-09-18", "/", "N")
        .day(&a, "2025-09-19", "/", "\\");
    // Pupil b's file (wrongly) carries absences before admission: they must not count either.
    marks
        .day(&b, "2025-09-15", "O", "O")
        .day(&b, "2025-09-16", "O", "O")
        .fill(&cal, &b, "2025-09-17", "2025-09-19", "/", "\\");
    school.import_marks(&marks);

    let lines = school.stats("2025-09-15", "2025-09-19", None);
    assert_facts(
        line_for(&lines, &a),
        &Facts {
            possible: 6, // Wed – Fri × 2; the four Z sessions are not counted
            attended: 5, // 6 − Thu PM N
            authorised: 0,
            unauthorised: 1,        // Thu PM N
            pct: 100.0 * 5.0 / 6.0, // 83.33…
            pa: true,               // 1 ÷ 6 = 16.7 % ≥ 10 %
            sa: false,
            late: 0,
            late_after_close: 0,
            illness: 0,
            absent_run: 0, // Fri present
            unauthorised_run: 0,
            rolling: 1, // Thu PM N
        },
    );
    // "Sessions before a pupil's admission_date … do not count": only Wed – Fri.
    assert_fields(
        line_for(&lines, &b),
        &[
            ("possible_sessions", Want::N(6)),
            ("attended_sessions", Want::N(6)),
            ("authorised_absence_sessions", Want::N(0)),
            ("unauthorised_absence_sessions", Want::N(0)),
            ("attendance_pct", Want::Pct(100.0)),
            ("persistent_absence", Want::B(false)),
            ("severe_absence", Want::B(false)),
            ("consecutive_absent_days", Want::N(0)),
        ],
    );
}

#[test]
fn leaver_sessions_after_leaving_do_not_count() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let a = upn(8);
    school.import_pupils(&[Pupil {
        upn: a.clone(),
        admission: "2023-09-01",
        leaving: "2025-09-16", // Tue
    }]);
    let mut marks = Marks::default();
    marks
        .day(&a, "2025-09-15", "/", "\\") // Mon, on roll
        // Tue 16 (leaving day) and Wed 17 unmarked
        .day(&a, "2025-09-18", "N", "N") // after leaving: must not count
        .day(&a, "2025-09-19", "N", "N");
    school.import_marks(&marks);

    let lines = school.stats("2025-09-15", "2025-09-19", None);
    assert_fields(
        line_for(&lines, &a),
        &[
            ("possible_sessions", Want::N(2)), // Mon only
            ("attended_sessions", Want::N(2)),
            ("unauthorised_absence_sessions", Want::N(0)),
            ("attendance_pct", Want::Pct(100.0)),
            ("persistent_absence", Want::B(false)),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// (4) dual registration
// ---------------------------------------------------------------------------------------------

#[test]
fn dual_registration_sessions_are_not_counted() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let (a, b) = (upn(9), upn(10));
    school.import_pupils(&[pupil(&a), pupil(&b)]);
    let mut marks = Marks::default();
    marks
        .day(&a, "2025-09-22", "/", "\\") // Mon
        .day(&a, "2025-09-23", "D", "D") // Tue at the other school
        .day(&a, "2025-09-24", "/", "D") // Wed
        .day(&a, "2025-09-25", "D", "N") // Thu
        .day(&a, "2025-09-26", "/", "\\"); // Fri
    // Pupil b is at the other school for the whole window: no possible session, not printed.
    marks.fill(&cal, &b, "2025-09-22", "2025-09-26", "D", "D");
    school.import_marks(&marks);

    let lines = school.stats("2025-09-22", "2025-09-26", None);
    assert_eq!(
        lines.len(),
        1,
        "only pupil a has possible sessions: {lines:#?}"
    );
    assert_facts(
        line_for(&lines, &a),
        &Facts {
            possible: 6, // Mon 2 + Wed AM + Thu PM + Fri 2
            attended: 5, // Mon 2 + Wed AM + Fri 2
            authorised: 0,
            unauthorised: 1, // Thu PM N
            pct: 100.0 * 5.0 / 6.0,
            pa: true, // 1 ÷ 6 = 16.7 %
            sa: false,
            late: 0,
            late_after_close: 0,
            illness: 0,
            absent_run: 0,
            unauthorised_run: 0,
            rolling: 1,
        },
    );
}

// ---------------------------------------------------------------------------------------------
// (5) part-time timetable
// ---------------------------------------------------------------------------------------------

#[test]
fn part_time_c2_afternoons_are_authorised_absence() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let a = upn(11);
    school.import_pupils(&[pupil(&a)]);
    let mut marks = Marks::default();
    marks.fill(&cal, &a, "2025-09-29", "2025-10-03", "/", "C2");
    school.import_marks(&marks);

    let lines = school.stats("2025-09-29", "2025-10-03", None);
    assert_facts(
        line_for(&lines, &a),
        &Facts {
            possible: 10,  // C2 is a possible session
            attended: 5,   // the five mornings
            authorised: 5, // the five C2 afternoons
            unauthorised: 0,
            pct: 50.0, // 100 × 5 ÷ 10
            pa: true,  // absence 50 % ≥ 10 %
            sa: true,  // absence 50 % ≥ 50 %
            late: 0,
            late_after_close: 0,
            illness: 0,
            absent_run: 0, // Fri AM present
            unauthorised_run: 0,
            rolling: 0,
        },
    );
}

// ---------------------------------------------------------------------------------------------
// (6) an absence run across the October half term
// ---------------------------------------------------------------------------------------------

#[test]
fn absence_run_straddles_october_half_term() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let (a, b) = (upn(12), upn(13));
    school.import_pupils(&[pupil(&a), pupil(&b)]);
    let mut marks = Marks::default();
    marks
        .fill(&cal, &a, "2025-10-20", "2025-10-22", "/", "\\") // Mon – Wed present
        .day(&a, "2025-10-23", "N", "N") // Thu
        .day(&a, "2025-10-24", "N", "N") // Fri
        // half term 27 – 31 Oct
        .day(&a, "2025-11-03", "N", "N") // Mon
        .day(&a, "2025-11-04", "O", "O"); // Tue (as-of)
    marks
        .fill(&cal, &b, "2025-10-20", "2025-10-22", "/", "\\")
        .day(&b, "2025-10-23", "N", "N")
        .day(&b, "2025-10-24", "I", "I") // ill: absent, but authorised
        .day(&b, "2025-11-03", "N", "N")
        .day(&b, "2025-11-04", "N", "N");
    school.import_marks(&marks);

    let lines = school.stats("2025-10-20", "2025-11-04", None);
    // School days 20 – 24 Oct (5) + 3, 4 Nov (2) = 7 days = 14 sessions.
    assert_facts(
        line_for(&lines, &a),
        &Facts {
            possible: 14,
            attended: 6, // Mon – Wed 20 – 22 Oct
            authorised: 0,
            unauthorised: 8,         // Thu, Fri, Mon, Tue × 2
            pct: 100.0 * 6.0 / 14.0, // 42.86
            pa: true,
            sa: true, // 8 ÷ 14 = 57.1 %
            late: 0,
            late_after_close: 0,
            illness: 0,
            absent_run: 4, // Tue 4, Mon 3 Nov, (half term and weekends skipped), Fri 24, Thu 23 Oct
            unauthorised_run: 4, // all N/O
            rolling: 8,    // weeks of 3 Nov and 20 Oct are the two newest school weeks
        },
    );
    assert_facts(
        line_for(&lines, &b),
        &Facts {
            possible: 14,
            attended: 6,
            authorised: 2,   // Fri I I
            unauthorised: 6, // Thu, Mon, Tue × 2
            pct: 100.0 * 6.0 / 14.0,
            pa: true,
            sa: true, // (2 + 6) ÷ 14 = 57.1 %
            late: 0,
            late_after_close: 0,
            illness: 2,
            absent_run: 4,       // Tue, Mon, Fri (I is absence), Thu
            unauthorised_run: 2, // Tue, Mon; Fri 24 Oct is authorised: ends the run
            rolling: 6,
        },
    );
}

// ---------------------------------------------------------------------------------------------
// (7) rolling 10 school weeks across Christmas
// ---------------------------------------------------------------------------------------------

#[test]
fn rolling_ten_school_weeks_skip_the_christmas_holiday() {
    let cal = Calendar::autumn_and_spring();
    let school = School::new(&cal);
    let a = upn(14);
    school.import_pupils(&[pupil(&a)]);
    // As-of Wed 28 Jan 2026. School weeks (Mon–Sun with ≥ 1 school day), newest first:
    //   1: 26 Jan (as-of week)   2: 19 Jan   3: 12 Jan   4: 5 Jan
    //   (29 Dec and 22 Dec weeks: Christmas, no school days, skipped)
    //   5: 15 Dec   6: 8 Dec   7: 1 Dec   8: 24 Nov   9: 17 Nov   10: 10 Nov
    //   11: 3 Nov ← outside.
    // So the window is Mon 10 Nov 2025 – Wed 28 Jan 2026. (Ten calendar weeks back would
    // only reach 19 Nov, so the 10 Nov marks tell the two apart.)
    let mut marks = Marks::default();
    marks
        .fill(&cal, &a, "2025-11-03", "2026-01-30", "/", "\\")
        .day(&a, "2025-11-07", "N", "N") // Fri, week 11: outside (0)
        .set(&a, "2025-11-10", "AM", "O") // Mon, first day of week 10: inside (1)
        .day(&a, "2025-12-19", "G", "G") // Fri, last day of autumn term, week 5: inside (2)
        .set(&a, "2026-01-05", "AM", "U") // Mon, first day of spring term: inside (1)
        .set(&a, "2026-01-28", "PM", "N") // as-of day: inside (1)
        .day(&a, "2026-01-29", "N", "N"); // Thu after as-of: outside (0)
    school.import_marks(&marks);

    let lines = school.stats("2026-01-05", "2026-01-28", None);
    // Window 5 – 28 Jan 2026: 5 + 5 + 5 + 3 = 18 school days = 36 sessions.
    assert_facts(
        line_for(&lines, &a),
        &Facts {
            possible: 36,
            attended: 34, // 36 − Mon 5 Jan AM U − Wed 28 Jan PM N
            authorised: 0,
            unauthorised: 2,
            pct: 100.0 * 34.0 / 36.0, // 94.44
            pa: false,                // 2 ÷ 36 = 5.6 %
            sa: false,
            late: 0,
            late_after_close: 1, // Mon 5 Jan AM U
            illness: 0,
            absent_run: 0, // as-of day has AM present
            unauthorised_run: 0,
            rolling: 5, // 1 (10 Nov) + 2 (19 Dec) + 1 (5 Jan) + 1 (28 Jan)
        },
    );
}

#[test]
fn rolling_window_when_as_of_is_in_the_christmas_holiday_skips_half_term() {
    let cal = Calendar::autumn_and_spring();
    let school = School::new(&cal);
    let a = upn(15);
    school.import_pupils(&[pupil(&a)]);
    // As-of Wed 31 Dec 2025: its week (29 Dec) has no school day, nor has 22 Dec's, so the
    // newest school week is 15 Dec. Newest first:
    //   1: 15 Dec  2: 8 Dec  3: 1 Dec  4: 24 Nov  5: 17 Nov  6: 10 Nov  7: 3 Nov
    //   (27 Oct: half term, skipped)  8: 20 Oct  9: 13 Oct  10: 6 Oct
    //   11: 29 Sep ← outside.
    let mut marks = Marks::default();
    marks
        .fill(&cal, &a, "2025-09-29", "2025-12-19", "/", "\\")
        .day(&a, "2025-10-03", "N", "N") // Fri, week 11: outside
        .set(&a, "2025-10-06", "AM", "N") // Mon, week 10: inside (1)
        .day(&a, "2025-11-10", "O", "O") // week 6: inside (2)
        .set(&a, "2025-12-19", "PM", "G"); // last school day before as-of: inside (1)
    school.import_marks(&marks);

    let lines = school.stats("2025-12-01", "2025-12-31", None);
    // Window 1 – 19 Dec: 15 school days = 30 sessions, one of them (19 Dec PM) G.
    assert_facts(
        line_for(&lines, &a),
        &Facts {
            possible: 30,
            attended: 29,
            authorised: 0,
            unauthorised: 1,
            pct: 100.0 * 29.0 / 30.0, // 96.67
            pa: false,
            sa: false,
            late: 0,
            late_after_close: 0,
            illness: 0,
            absent_run: 0, // last school day (19 Dec) has AM present
            unauthorised_run: 0,
            rolling: 4, // 1 (6 Oct) + 2 (10 Nov) + 1 (19 Dec)
        },
    );
}

// ---------------------------------------------------------------------------------------------
// (8) the 10 % and 50 % thresholds are inclusive
// ---------------------------------------------------------------------------------------------

#[test]
fn persistent_and_severe_absence_thresholds_are_inclusive() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let (p10, p5, p50, p45) = (upn(16), upn(17), upn(18), upn(19));
    school.import_pupils(&[pupil(&p10), pupil(&p5), pupil(&p50), pupil(&p45)]);
    // Two full weeks, Mon 6 – Fri 17 Oct: 10 days = 20 possible sessions each.
    let mut marks = Marks::default();
    for p in [&p10, &p5, &p50, &p45] {
        marks.fill(&cal, p, "2025-10-06", "2025-10-17", "/", "\\");
    }
    // p10: 2 absent of 20 = exactly 10 %.
    marks
        .set(&p10, "2025-10-06", "AM", "N")
        .set(&p10, "2025-10-07", "AM", "I");
    // p5: 1 absent of 20 = 5 %.
    marks.set(&p5, "2025-10-06", "AM", "N");
    // p50: 10 absent of 20 = exactly 50 % (Mon 6 – Fri 10 Oct, both sessions, authorised).
    marks.fill(&cal, &p50, "2025-10-06", "2025-10-10", "M", "M");
    // p45: 9 absent of 20 = 45 %.
    marks
        .fill(&cal, &p45, "2025-10-06", "2025-10-09", "O", "O")
        .set(&p45, "2025-10-10", "AM", "O");
    school.import_marks(&marks);

    let lines = school.stats("2025-10-06", "2025-10-17", None);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let check = |upn: &str, attended: u64, pct: f64, pa: bool, sa: bool| {
        assert_fields(
            line_for(&lines, upn),
            &[
                ("possible_sessions", Want::N(20)),
                ("attended_sessions", Want::N(attended)),
                ("attendance_pct", Want::Pct(pct)),
                ("persistent_absence", Want::B(pa)),
                ("severe_absence", Want::B(sa)),
            ],
        );
    };
    check(&p10, 18, 90.0, true, false); // 2 ÷ 20 = 10 % ≥ 10 % → PA; < 50 %
    check(&p5, 19, 95.0, false, false); // 1 ÷ 20 = 5 % < 10 %
    check(&p50, 10, 50.0, true, true); // 10 ÷ 20 = 50 % ≥ 50 % → SA (and PA)
    check(&p45, 11, 55.0, true, false); // 9 ÷ 20 = 45 % < 50 %
    assert_fields(
        line_for(&lines, &p10),
        &[
            ("authorised_absence_sessions", Want::N(1)),   // I
            ("unauthorised_absence_sessions", Want::N(1)), // N
            ("illness_sessions", Want::N(1)),
        ],
    );
    assert_fields(
        line_for(&lines, &p50),
        &[
            ("authorised_absence_sessions", Want::N(10)),
            ("consecutive_absent_days", Want::N(0)), // Fri 17 present
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// (9) what ends a run
// ---------------------------------------------------------------------------------------------

#[test]
fn an_attended_session_ends_both_runs_an_authorised_one_ends_only_the_unauthorised_run() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let (a, b) = (upn(20), upn(21));
    school.import_pupils(&[pupil(&a), pupil(&b)]);
    let mut marks = Marks::default();
    marks
        .day(&a, "2025-10-06", "N", "N") // Mon
        .day(&a, "2025-10-07", "N", "\\") // Tue: AM N, PM present → ends both runs
        .day(&a, "2025-10-08", "N", "N") // Wed
        .day(&a, "2025-10-09", "N", "N"); // Thu (as-of)
    marks
        .day(&b, "2025-10-06", "/", "\\") // Mon present
        .day(&b, "2025-10-07", "N", "N") // Tue
        .day(&b, "2025-10-08", "I", "O") // Wed: all absent, one authorised
        .day(&b, "2025-10-09", "N", "N"); // Thu (as-of)
    school.import_marks(&marks);

    let lines = school.stats("2025-10-06", "2025-10-09", None);
    assert_facts(
        line_for(&lines, &a),
        &Facts {
            possible: 8,
            attended: 1, // Tue PM
            authorised: 0,
            unauthorised: 7,
            pct: 12.5, // 100 × 1 ÷ 8
            pa: true,
            sa: true,
            late: 0,
            late_after_close: 0,
            illness: 0,
            absent_run: 2, // Thu, Wed; Tue has an attended session: stop (Mon not reached)
            unauthorised_run: 2, // same
            rolling: 7,
        },
    );
    assert_facts(
        line_for(&lines, &b),
        &Facts {
            possible: 8,
            attended: 2,     // Mon
            authorised: 1,   // Wed AM I
            unauthorised: 5, // Tue 2 + Wed PM O + Thu 2
            pct: 25.0,       // 100 × 2 ÷ 8
            pa: true,
            sa: true, // 6 ÷ 8 = 75 %
            late: 0,
            late_after_close: 0,
            illness: 1,
            absent_run: 3, // Thu, Wed (I + O: every possible session absent), Tue; Mon present
            unauthorised_run: 1, // Thu; Wed has an authorised session: stop
            rolling: 5,
        },
    );
}

// ---------------------------------------------------------------------------------------------
// (10) --upn, and pupils with no possible session
// ---------------------------------------------------------------------------------------------

#[test]
fn upn_filter_and_pupils_without_possible_sessions() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let (a, b, c) = (upn(22), upn(23), upn(24));
    // c joins on Mon 22 Sep; the week before carries only Z.
    school.import_pupils(&[pupil(&a), pupil(&b), joiner(&c, "2025-09-22")]);
    let mut marks = Marks::default();
    marks
        .fill(&cal, &a, "2025-09-15", "2025-09-19", "/", "\\")
        .fill(&cal, &b, "2025-09-15", "2025-09-19", "/", "\\")
        .set(&b, "2025-09-19", "PM", "N")
        .fill(&cal, &c, "2025-09-15", "2025-09-19", "Z", "Z")
        .fill(&cal, &c, "2025-09-22", "2025-09-26", "/", "\\");
    school.import_marks(&marks);

    let all = school.stats("2025-09-15", "2025-09-19", None);
    let upns: Vec<&str> = all.iter().filter_map(|l| l["upn"].as_str()).collect();
    assert_eq!(
        upns.len(),
        2,
        "a and b only (c has only Z in the window): {all:#?}"
    );
    assert!(
        upns.contains(&a.as_str()) && upns.contains(&b.as_str()),
        "{upns:?}"
    );

    let only_b = school.stats("2025-09-15", "2025-09-19", Some(&b));
    assert_eq!(only_b.len(), 1, "{only_b:#?}");
    assert_fields(
        line_for(&only_b, &b),
        &[
            ("possible_sessions", Want::N(10)),
            ("attended_sessions", Want::N(9)), // Fri PM N
            ("unauthorised_absence_sessions", Want::N(1)),
            ("attendance_pct", Want::Pct(90.0)),
            ("persistent_absence", Want::B(true)), // 1 ÷ 10 = 10 %
        ],
    );
    // The filtered line is the same as the unfiltered one.
    assert_eq!(&only_b[0], line_for(&all, &b));

    let only_c = school.run(&[
        "stats",
        "--from",
        "2025-09-15",
        "--as-of",
        "2025-09-19",
        "--format",
        "json",
        "--upn",
        &c,
    ]);
    assert!(
        parse_lines(&text(&only_c.stdout)).is_empty(),
        "c has no possible session in the window: {}",
        describe(&["stats", "--upn", &c], &only_c)
    );
}

// ---------------------------------------------------------------------------------------------
// (11) --from limits the window counts, not the runs or the rolling count
// ---------------------------------------------------------------------------------------------

#[test]
fn from_limits_window_counts_but_not_runs_or_rolling_count() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let a = upn(25);
    school.import_pupils(&[pupil(&a)]);
    let mut marks = Marks::default();
    marks
        .day(&a, "2025-10-06", "G", "G") // Mon: holiday not agreed
        .fill(&cal, &a, "2025-10-07", "2025-10-10", "/", "\\") // Tue – Fri present
        .fill(&cal, &a, "2025-10-13", "2025-10-16", "N", "N"); // Mon 13 – Thu 16 absent
    school.import_marks(&marks);

    let lines = school.stats("2025-10-15", "2025-10-16", None);
    assert_facts(
        line_for(&lines, &a),
        &Facts {
            possible: 4, // Wed 15, Thu 16 only
            attended: 0,
            authorised: 0,
            unauthorised: 4,
            pct: 0.0,
            pa: true,
            sa: true,
            late: 0,
            late_after_close: 0,
            illness: 0,
            absent_run: 4, // Thu, Wed, Tue 14, Mon 13 (before --from); Fri 10 present
            unauthorised_run: 4,
            rolling: 10, // 8 N (13 – 16 Oct) + 2 G (6 Oct), both weeks inside 10 school weeks
        },
    );
}

// ---------------------------------------------------------------------------------------------
// (12) table format
// ---------------------------------------------------------------------------------------------

#[test]
fn table_format_names_the_school_and_dates() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let a = upn(26);
    school.import_pupils(&[pupil(&a)]);
    let mut marks = Marks::default();
    marks.fill(&cal, &a, "2025-09-08", "2025-09-12", "/", "\\");
    school.import_marks(&marks);

    let args = [
        "stats",
        "--from",
        "2025-09-08",
        "--as-of",
        "2025-09-12",
        "--format",
        "table",
    ];
    let out = school.run_ok(&args);
    let stdout = text(&out.stdout);
    for want in ["Test School", "2025-09-08", "2025-09-12", a.as_str()] {
        assert!(
            stdout.contains(want),
            "table lacks {want:?}:\n{}",
            describe(&args, &out)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Import errors and re-imports
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_code_fails_the_whole_import_naming_file_line_and_code() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let a = upn(27);
    school.import_pupils(&[pupil(&a)]);
    // Line 1 header; lines 2 – 3 good; line 4 has the unknown code XX.
    let csv = format!(
        "upn,date,session,mark\n{a},2025-09-08,AM,/\n{a},2025-09-08,PM,\\\n{a},2025-09-09,AM,XX\n"
    );
    let path = school.write("bad-marks.csv", &csv);
    let args = ["import", "marks", path.to_str().expect("utf-8")];
    let out = school.run(&args);
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "an unknown code must fail:\n{}",
        describe(&args, &out)
    );
    assert!(
        stderr.contains("bad-marks.csv"),
        "names the file:\n{stderr}"
    );
    assert!(
        names_line(&stderr, "bad-marks.csv", 4),
        "names line 4:\n{stderr}"
    );
    assert!(stderr.contains("XX"), "names the code:\n{stderr}");
    assert!(
        !names_line(&stderr, "bad-marks.csv", 2),
        "line 2 is fine:\n{stderr}"
    );

    // All or nothing: the two good rows before the bad one were not imported.
    let lines = school.stats("2025-09-08", "2025-09-09", None);
    assert!(
        lines.is_empty(),
        "nothing should have been imported: {lines:#?}"
    );
}

#[test]
fn saturday_and_unknown_pupil_are_errors_on_their_lines() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let a = upn(28);
    let stranger = upn(999); // a valid UPN that is not on roll
    school.import_pupils(&[pupil(&a)]);
    let csv = format!(
        "upn,date,session,mark\n\
         {a},2025-09-12,AM,/\n\
         {a},2025-09-13,AM,/\n\
         {stranger},2025-09-12,AM,/\n\
         {a},2025-09-15,AM,/\n"
    );
    // Line 3: Sat 13 Sep 2025. Line 4: unknown pupil.
    let path = school.write("marks.csv", &csv);
    let args = ["import", "marks", path.to_str().expect("utf-8")];
    let out = school.run(&args);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{}", describe(&args, &out));
    assert!(
        names_line(&stderr, "marks.csv", 3),
        "Saturday on line 3:\n{stderr}"
    );
    assert!(
        names_line(&stderr, "marks.csv", 4),
        "unknown UPN on line 4:\n{stderr}"
    );
    assert!(
        stderr.contains(&stranger),
        "names the unknown UPN:\n{stderr}"
    );
    assert!(
        !names_line(&stderr, "marks.csv", 2),
        "line 2 is fine:\n{stderr}"
    );
    assert!(
        !names_line(&stderr, "marks.csv", 5),
        "line 5 is fine:\n{stderr}"
    );

    let lines = school.stats("2025-09-12", "2025-09-15", None);
    assert!(
        lines.is_empty(),
        "nothing should have been imported: {lines:#?}"
    );
}

#[test]
fn reimporting_the_same_file_changes_nothing() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let (a, b) = (upn(29), upn(30));
    school.import_pupils(&[pupil(&a), pupil(&b)]);
    let mut marks = Marks::default();
    marks
        .fill(&cal, &a, "2025-09-08", "2025-09-19", "/", "\\")
        .day(&a, "2025-09-10", "N", "I")
        .fill(&cal, &b, "2025-09-08", "2025-09-19", "L", "\\")
        .day(&b, "2025-09-19", "G", "G");
    let first = school.import_marks(&marks);
    assert!(
        !first.contains("nothing changed"),
        "the first import changes things: {first}"
    );
    let before = text(&school.stats_raw("2025-09-08", "2025-09-19", None).stdout);

    let second = school.import_marks(&marks);
    assert!(
        second.contains("nothing changed"),
        "second import should say so: {second}"
    );
    let after = text(&school.stats_raw("2025-09-08", "2025-09-19", None).stdout);
    assert_eq!(before, after);
    assert_eq!(parse_lines(&after).len(), 2);

    let amendments = text(&school.run_ok(&["amendments"]).stdout);
    assert!(
        !amendments.contains(&a) && !amendments.contains(&b),
        "a re-import records no amendment:\n{amendments}"
    );
}

#[test]
fn changing_one_mark_is_one_amendment_with_original_and_new_code() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let a = upn(31);
    school.import_pupils(&[pupil(&a)]);
    let mut marks = Marks::default();
    marks
        .fill(&cal, &a, "2025-09-08", "2025-09-12", "/", "\\")
        .set(&a, "2025-09-10", "AM", "N");
    school.import_marks_as("marks-1.csv", &marks);

    // The parent rang: Wed 10 Sep AM was illness.
    marks.set(&a, "2025-09-10", "AM", "I");
    let summary = school.import_marks_as("marks-2.csv", &marks);
    assert!(summary.contains("1 amended"), "summary: {summary}");
    assert!(!summary.contains("nothing changed"), "summary: {summary}");

    let out = text(&school.run_ok(&["amendments"]).stdout);
    let rows: Vec<&str> = out.lines().filter(|l| l.contains(&a)).collect();
    assert_eq!(rows.len(), 1, "exactly one amendment:\n{out}");
    let row = rows[0];
    assert!(row.contains("2025-09-10"), "{row}");
    // The original code N appears, then the new code I, as standalone tokens.
    let tokens: Vec<&str> = row
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    let n = tokens.iter().position(|t| *t == "N");
    let i = tokens.iter().position(|t| *t == "I");
    assert!(
        matches!((n, i), (Some(n), Some(i)) if n < i),
        "amendment should show N then I: {row}"
    );

    // The figures follow the new mark.
    let lines = school.stats("2025-09-08", "2025-09-12", None);
    assert_fields(
        line_for(&lines, &a),
        &[
            ("possible_sessions", Want::N(10)),
            ("authorised_absence_sessions", Want::N(1)), // now I
            ("unauthorised_absence_sessions", Want::N(0)),
            ("illness_sessions", Want::N(1)),
            ("unauthorised_sessions_rolling_10_weeks", Want::N(0)),
        ],
    );
}

#[test]
fn legacy_j_is_accepted_as_j1_and_reported() {
    let cal = Calendar::autumn();
    let school = School::new(&cal);
    let a = upn(32);
    school.import_pupils(&[pupil(&a)]);
    let mut marks = Marks::default();
    marks
        .fill(&cal, &a, "2025-09-08", "2025-09-12", "/", "\\")
        .set(&a, "2025-09-11", "PM", "J");
    let summary = school.import_marks(&marks);
    assert!(
        summary.contains("J→J1"),
        "summary should report the mapping: {summary}"
    );

    let lines = school.stats("2025-09-08", "2025-09-12", None);
    assert_fields(
        line_for(&lines, &a),
        &[
            ("possible_sessions", Want::N(10)),
            ("attended_sessions", Want::N(9)),
            ("authorised_absence_sessions", Want::N(1)), // J1 interview: authorised
            ("unauthorised_absence_sessions", Want::N(0)),
            ("attendance_pct", Want::Pct(90.0)),
        ],
    );
}
