//! What the school records about a pupil beside the MIS export (issue 14), through the real
//! binary: `rollcall pupil extend-integration`, `rollcall evidence add` and `rollcall import
//! pupils --full`, their precise errors on bad input, and `rollcall case --upn` showing what
//! was recorded.

use std::path::PathBuf;
use std::process::{Command, Output};

const CONFIG: &str = r#"
[database]
url = "sqlite://rollcall.db"

[school]
name = "Example Academy"
urn = "100001"
la_code = "886"
policy = "james-marks-academy"

[[calendar.terms]]
name = "Autumn 2025"
start = "2025-09-01"
end = "2025-12-19"
"#;

const HEADER: &str = "upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date";
const ADA: &str = "B801200005001,Ada,Lovelace,2014-03-01,7,7B,F,N,N,N,WBRI,N,N,N,N,2025-09-15,";
const ALAN: &str = "P207000016049,Alan,Turing,2014-06-23,7,7B,M,N,N,N,WBRI,N,N,N,N,2025-09-01,";

struct School {
    dir: tempfile::TempDir,
}

impl School {
    fn new() -> School {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("rollcall.toml"), CONFIG).expect("config");
        std::fs::write(
            dir.path().join("pupils.csv"),
            format!("{HEADER}\n{ADA}\n{ALAN}\n"),
        )
        .expect("pupils");
        let school = School { dir };
        let out = school.run(&["import", "pupils", "pupils.csv"]);
        assert!(out.status.success(), "{}", describe(&out));
        school
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollcall"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ROLLCALL") {
                cmd.env_remove(key);
            }
        }
        cmd.arg("--config")
            .arg(self.path("rollcall.toml"))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run rollcall")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Fails with a message containing `want`, and no panic.
fn refused(out: &Output, want: &str) {
    assert!(!out.status.success(), "{}", describe(out));
    let err = text(&out.stderr);
    assert!(err.contains(want), "wanted {want:?}\n{}", describe(out));
    assert!(!err.contains("panicked"), "{}", describe(out));
}

#[test]
fn an_integration_period_is_extended_with_who_and_why_and_shown_with_the_case() {
    let s = School::new();
    let extend = |upn: &str, until: &str, by: &str, reason: &str| {
        s.run(&[
            "pupil",
            "extend-integration",
            "--upn",
            upn,
            "--until",
            until,
            "--by",
            by,
            "--reason",
            reason,
        ])
    };
    let out = extend(
        "B801200005001",
        "2025-11-21",
        "Scott Martin",
        "still building up to full days",
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("B801200005001: integration period extended to 2025-11-21"),
        "{}",
        describe(&out)
    );
    let out = s.run(&["case", "--upn", "B801200005001"]);
    assert!(out.status.success(), "{}", describe(&out));
    let shown = text(&out.stdout);
    assert!(
        shown.contains(
            "integration period extended to 2025-11-21 by Scott Martin: still building up to full days"
        ),
        "{shown}"
    );
    // The other pupil's case says nothing of it.
    let out = s.run(&["case", "--upn", "P207000016049"]);
    assert!(
        !text(&out.stdout).contains("integration"),
        "{}",
        describe(&out)
    );

    refused(
        &extend("B801200005001", "2025-09-10", "Scott Martin", "x"),
        "--until 2025-09-10 is not after the pupil's admission date 2025-09-15",
    );
    refused(
        &extend("B801200005002", "2025-11-21", "Scott Martin", "x"),
        "--upn \"B801200005002\": the check letter should be Q, not B",
    );
    refused(
        &extend("Q801200005001", "2025-11-21", "Scott Martin", "x"),
        "the check letter should be B, not Q",
    );
    refused(
        &extend("B886200000005", "2025-11-21", "Scott Martin", "x"),
        "no pupil with UPN B886200000005",
    );
    refused(
        &extend("B801200005001", "2025-21-11", "Scott Martin", "x"),
        "--until",
    );
    refused(
        &extend("B801200005001", "2025-11-21", "  ", "x"),
        "--by must not be empty",
    );
    refused(
        &extend("B801200005001", "2025-11-21", "Scott Martin", "two\nlines"),
        "--reason must be one line",
    );
    refused(
        &extend("B801200005001", "2099-11-21", "Scott Martin", "x"),
        "more than a year ahead",
    );
}

#[test]
fn medical_evidence_is_recorded_and_shown_and_bad_dates_are_refused() {
    let s = School::new();
    let out = s.run(&[
        "evidence",
        "add",
        "--upn",
        "P207000016049",
        "--from",
        "2025-11-03",
        "--to",
        "2025-11-07",
        "--by",
        "Jo Bloggs",
        "--note",
        "GP letter",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = s.run(&["case", "--upn", "P207000016049"]);
    assert!(
        text(&out.stdout).contains(
            "medical evidence for 2025-11-03 to 2025-11-07 recorded by Jo Bloggs: GP letter"
        ),
        "{}",
        describe(&out)
    );
    refused(
        &s.run(&[
            "evidence",
            "add",
            "--upn",
            "P207000016049",
            "--from",
            "2025-11-07",
            "--to",
            "2025-11-03",
            "--by",
            "Jo Bloggs",
        ]),
        "--to 2025-11-03 is before --from 2025-11-07",
    );
    refused(
        &s.run(&[
            "evidence",
            "add",
            "--upn",
            "P207000016049",
            "--from",
            "yesterday",
            "--by",
            "Jo Bloggs",
        ]),
        "--from",
    );
}

#[test]
fn only_a_full_export_marks_a_pupil_it_leaves_out_and_nothing_is_deleted() {
    let s = School::new();
    std::fs::write(s.path("some.csv"), format!("{HEADER}\n{ADA}\n")).expect("file");
    let out = s.run(&["import", "pupils", "some.csv"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        !text(&out.stdout).contains("full export"),
        "{}",
        describe(&out)
    );
    let out = s.run(&["case", "--upn", "P207000016049"]);
    assert!(
        !text(&out.stdout).contains("full MIS export"),
        "{}",
        describe(&out)
    );

    let out = s.run(&["import", "pupils", "some.csv", "--full"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains(
            "1 pupil on the roll with no leaving date not in this full export (a deletion notice waits for approval; nothing deleted)"
        ),
        "{}",
        describe(&out)
    );
    let out = s.run(&["case", "--upn", "P207000016049"]);
    assert!(
        text(&out.stdout).contains("not in the full MIS export, with no leaving date"),
        "{}",
        describe(&out)
    );
    // Still on the roll: stats and the case know the pupil.
    let out = s.run(&[
        "stats",
        "--from",
        "2025-09-01",
        "--as-of",
        "2025-11-03",
        "--upn",
        "P207000016049",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
}
