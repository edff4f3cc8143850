//! End-to-end: `rollcall check`, `evaluate`, `escalate`, `pending`, `approve`, `reject` and
//! `case`, run as a school administrator would, against a school built in a temp folder.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const CONFIG: &str = r#"
[database]
url = "sqlite://rollcall.db"

[school]
name = "Test Primary"
urn = "100002"
la_code = "886"
policy = "POLICY"

[[calendar.terms]]
name = "Autumn 2025"
start = "2025-09-01"
end = "2025-12-19"

[[calendar.holidays]]
name = "Autumn half term"
start = "2025-10-27"
end = "2025-10-31"
"#;

const PUPILS: &str = "\
upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date
B801200005001,Ada,Lovelace,2018-03-01,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,
A886200024062,Grace,Hopper,2018-06-23,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,
";

const CONTACTS: &str = "\
upn,name,relationship,priority,email,mobile,parental_responsibility,address_line_1,address_line_2,town,postcode
B801200005001,Anne Lovelace,Mother,1,anne@example.com,07700 900001,Y,1 Test Street,,Testtown,TT1 1AA
A886200024062,Mary Hopper,Mother,1,,07700900003,Y,3 Test Street,,Testtown,TT1 1AC
";

fn rollcall(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--config")
        .arg(dir.join("rollcall.toml"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run rollcall")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

/// Ada is absent (O) from Mon 3 Nov for ten school days; Grace is present throughout.
/// Both were present every day from 1 Sep.
fn school(policy: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    std::fs::write(p.join("rollcall.toml"), CONFIG.replace("POLICY", policy)).expect("config");
    std::fs::write(p.join("pupils.csv"), PUPILS).expect("pupils");
    std::fs::write(p.join("contacts.csv"), CONTACTS).expect("contacts");
    let mut marks = String::from("upn,date,session,mark\n");
    let mut day = chrono::NaiveDate::from_ymd_opt(2025, 9, 1).expect("date");
    let absent_from = chrono::NaiveDate::from_ymd_opt(2025, 11, 3).expect("date");
    let mut absent_days = 0;
    while absent_days < 10 {
        let school_day = chrono::Datelike::weekday(&day).number_from_monday() <= 5
            && !(day >= chrono::NaiveDate::from_ymd_opt(2025, 10, 27).expect("date")
                && day <= chrono::NaiveDate::from_ymd_opt(2025, 10, 31).expect("date"));
        if school_day {
            let ada = if day >= absent_from {
                absent_days += 1;
                "O"
            } else {
                "/"
            };
            marks.push_str(&format!(
                "B801200005001,{day},AM,{ada}\nB801200005001,{day},PM,{ada}\n"
            ));
            marks.push_str(&format!(
                "A886200024062,{day},AM,/\nA886200024062,{day},PM,/\n"
            ));
        }
        day = day.succ_opt().expect("date");
    }
    std::fs::write(p.join("marks.csv"), marks).expect("marks");
    for (what, file) in [
        ("pupils", "pupils.csv"),
        ("contacts", "contacts.csv"),
        ("marks", "marks.csv"),
    ] {
        ok(rollcall(
            p,
            &["import", what, p.join(file).to_str().expect("path")],
        ));
    }
    dir
}

#[test]
fn check_names_the_file_stage_key_and_what_is_allowed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = dir.path().join("ours.toml");
    std::fs::write(
        &policy,
        r#"name = "ours"
title = "Ours"

[[stage]]
id = "day_three"
title = "Day three"
trigger = { consecutive_absent_days = { days = 3 } }
actions = [{ channel = "sms", to = "headteacher", template = "day_three" }]

[[stage]]
id = "review"
title = "Penalty review"
trigger = { penalty_threshold = {} }
actions = [{ channel = "task", to = "attendance_officer", task = "penalty_notice_review", template = "pn" }]
"#,
    )
    .expect("policy");
    std::fs::write(
        dir.path().join("rollcall.toml"),
        CONFIG.replace("POLICY", policy.to_str().expect("path")),
    )
    .expect("config");
    let out = rollcall(dir.path(), &["check"]);
    assert!(!out.status.success(), "a bad policy fails the check");
    let text = stdout(&out);
    assert!(text.contains("2 problem(s)"), "{text}");
    assert!(
        text.contains("ours.toml: stage \"day_three\": actions[0].to: SMS goes to contacts only"),
        "{text}"
    );
    assert!(
        text.contains("stage \"review\": approval:") && text.contains("approval = \"required\""),
        "{text}"
    );

    // A misspelt trigger: the line and column, and the words that are allowed.
    let text_before = std::fs::read_to_string(&policy).expect("policy");
    std::fs::write(
        &policy,
        text_before.replace("consecutive_absent_days", "absent_in_a_row"),
    )
    .expect("policy");
    let text = stdout(&rollcall(dir.path(), &["check"]));
    assert!(text.contains("ours.toml:7:"), "{text}");
    assert!(
        text.contains("absent_in_a_row") && text.contains("`consecutive_absent_days`"),
        "{text}"
    );
}

#[test]
fn the_shipped_baseline_checks_clean() {
    let dir = school("dfe-baseline");
    let text = ok(rollcall(dir.path(), &["check"]));
    assert!(text.contains("runs policy \"dfe-baseline\""), "{text}");
    assert!(text.contains("checks clean"), "{text}");
}

#[test]
fn evaluate_explains_every_action_and_stores_nothing() {
    let dir = school("dfe-baseline");
    let out = ok(rollcall(
        dir.path(),
        &[
            "evaluate",
            "--as-of",
            "2025-11-14T18:00",
            "--format",
            "json",
        ],
    ));
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    for line in &lines {
        for key in [
            "upn",
            "stage",
            "trigger",
            "channel",
            "recipient",
            "template",
            "requires_approval",
            "reason",
        ] {
            assert!(line.get(key).is_some(), "{key} missing from {line}");
        }
        assert_eq!(line["upn"], "B801200005001", "only Ada was absent");
    }
    // Ten school days of O from Mon 3 Nov to Fri 14 Nov: the LA return.
    let la = lines
        .iter()
        .find(|l| l["stage"] == "la_10_day_notice" && l["channel"] == "la_return")
        .expect("LA return planned");
    assert_eq!(la["trigger"], "consecutive_absent_days");
    assert_eq!(la["recipient"], "la");
    assert_eq!(la["requires_approval"], true);
    assert_eq!(
        la["reason"],
        "10 consecutive school days with every session G/N/O/U since 2025-11-03 (O×20)"
    );
    // The first run comes ten days into the absence, so it catches up: the case climbs to
    // day three and on to persistent absence in one run, each step with its reason, and the
    // family hears only from the last step (one letter, not a day-three email as well).
    let day_three: Vec<&Value> = lines.iter().filter(|l| l["stage"] == "day_three").collect();
    assert!(!day_three.is_empty(), "the day-three call task stays");
    assert!(
        day_three.iter().all(|l| l["channel"] == "task"),
        "{day_three:?}"
    );
    assert!(
        day_three[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("the family hears only from the last one")),
        "{}",
        day_three[0]
    );
    let letter = lines
        .iter()
        .find(|l| l["stage"] == "persistent_absence" && l["channel"] == "letter")
        .expect("the persistent-absence letter");
    assert_eq!(letter["recipient"], "contact 1: Anne Lovelace (Mother)");
    // One of the school's two families contacted in one run is over the 20 % mass-send
    // brake, so even this routine letter waits for a person.
    assert_eq!(letter["requires_approval"], true);
    assert!(
        letter["held"]
            .as_str()
            .is_some_and(|h| h
                .contains("mass-send brake: this run would contact the families of 1 of 2 pupils")),
        "{letter}"
    );
    // A dry run: nothing was stored, so `pending` is empty.
    assert!(ok(rollcall(dir.path(), &["pending"])).contains("nothing is awaiting approval"));
}

#[test]
fn escalate_twice_then_approve_and_reject() {
    let dir = school("dfe-baseline");
    let first = ok(rollcall(
        dir.path(),
        &["escalate", "--as-of", "2025-11-14T18:00"],
    ));
    assert!(!first.contains(" 0 new decisions"), "{first}");
    let second = ok(rollcall(
        dir.path(),
        &["escalate", "--as-of", "2025-11-14T18:00"],
    ));
    assert!(second.contains(": 0 new decisions"), "{second}");
    assert!(
        second.contains("0 messages queued, 0 awaiting approval"),
        "{second}"
    );

    let pending = ok(rollcall(dir.path(), &["pending"]));
    // Ada's LA return and her penalty-notice review wait for a person.
    let ids: Vec<String> = pending
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| l.split_whitespace().next().expect("id").to_owned())
        .collect();
    assert!(pending.contains("la_return to la"), "{pending}");
    assert!(
        pending.contains("B801200005001 la_10_day_notice: 10 consecutive school days"),
        "{pending}"
    );
    assert!(ids.len() >= 2, "{pending}");

    let no_role = rollcall(dir.path(), &["approve", &ids[0], "--by", "Jo Bloggs"]);
    assert!(!no_role.status.success());
    assert!(String::from_utf8_lossy(&no_role.stderr).contains("Jo Bloggs (Attendance Officer)"));
    ok(rollcall(
        dir.path(),
        &["approve", &ids[0], "--by", "Jo Bloggs (Attendance Officer)"],
    ));
    ok(rollcall(
        dir.path(),
        &[
            "reject",
            &ids[1],
            "--by",
            "Sam Head (Headteacher)",
            "--reason",
            "support plan agreed instead",
        ],
    ));
    let after = ok(rollcall(dir.path(), &["pending"]));
    for id in &ids[..2] {
        assert!(
            !after.contains(&format!("#{id} ")),
            "{id} still pending: {after}"
        );
    }
    let again = rollcall(
        dir.path(),
        &["approve", &ids[1], "--by", "Jo Bloggs (Attendance Officer)"],
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("is cancelled, not awaiting approval"));

    // The case history names each step with its reason.
    let case = ok(rollcall(dir.path(), &["case", "--upn", "B801200005001"]));
    assert!(case.contains("(opened) → day_three"), "{case}");
    // The first run came after ten days, so the case climbed two steps at once, each
    // recorded with its own reason. The LA return and the penalty review wait for a person and
    // move the case only when approved; by then it was already further up the ladder.
    assert!(case.contains("(opened) → day_three: 10 consecutive school days with every session an absence since 2025-11-03 (O×20)"), "{case}");
    assert!(
        case.contains(
            "day_three → persistent_absence: persistent absence: 20 of 100 sessions missed (20.0%)"
        ),
        "{case}"
    );
    assert!(!case.contains("→ la_10_day_notice"), "{case}");
}

/// Issue 11, defect 9: `preview --as-of` shows the decision as it stood then, never a later
/// one; `deliver --as-of` replays the outbox at a past time through the file sink (and only
/// there), so a first-day text is delivered on its morning instead of expiring.
#[test]
fn preview_and_deliver_as_of_show_the_school_as_it_was_then() {
    // The baseline with no rest between penalty-notice reviews, so Ada has two in a fortnight.
    let policies = tempfile::tempdir().expect("temp dir");
    let policy = policies.path().join("no-rest.toml");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/policies/dfe-baseline.toml"),
    )
    .expect("the shipped baseline");
    assert!(text.contains("rest_school_weeks = 6"));
    std::fs::write(
        &policy,
        text.replace("rest_school_weeks = 6", "rest_school_weeks = 0"),
    )
    .expect("policy");
    let dir = school(policy.to_str().expect("utf-8 path"));
    // A school run each evening: Ada's penalty reviews on 7 November (10 O sessions) and on
    // 14 November (10 more, none counted by the first).
    for day in ["2025-11-05", "2025-11-07", "2025-11-10", "2025-11-14"] {
        ok(rollcall(
            dir.path(),
            &["escalate", "--as-of", &format!("{day}T18:00")],
        ));
    }
    let preview = |template: &str, as_of: &str| {
        ok(rollcall(
            dir.path(),
            &[
                "preview",
                template,
                "--upn",
                "B801200005001",
                "--as-of",
                as_of,
            ],
        ))
    };
    let first = preview("penalty_notice_review", "2025-11-12T12:00");
    assert!(
        first.contains("showing the decision recorded at 2025-11-07T18:00:00"),
        "{first}"
    );
    assert!(!first.contains("none of them counted"), "{first}");
    let second = preview("penalty_notice_review", "2025-11-17T12:00");
    assert!(
        second.contains("showing the decision recorded at 2025-11-14T18:00:00"),
        "{second}"
    );
    assert!(
        second.contains("none of them counted by the review of 2025-11-07 18:00"),
        "{second}"
    );
    let day_three = preview("day_three", "2025-11-06T10:00");
    assert!(
        day_three.contains("recorded at 2025-11-05T18:00:00"),
        "{day_three}"
    );

    // Grace has no reason on Monday 17 November: a first-day text at 09:50, which expires at
    // noon. Delivered as of 10:00 that morning, it goes into that day's file sink.
    let marks = dir.path().join("grace.csv");
    std::fs::write(
        &marks,
        "upn,date,session,mark\nA886200024062,2025-11-17,AM,N\n",
    )
    .expect("marks");
    ok(rollcall(
        dir.path(),
        &["import", "marks", marks.to_str().expect("path")],
    ));
    ok(rollcall(
        dir.path(),
        &["escalate", "--as-of", "2025-11-17T09:50"],
    ));
    // One of two families in one run is over the mass-send brake: the text waits for a person,
    // who approves it at 09:55 that morning (now, it would be refused: it expired at noon).
    let pending = ok(rollcall(dir.path(), &["pending"]));
    let text_id = pending
        .lines()
        .find(|l| l.contains("sms") && l.starts_with('#'))
        .and_then(|l| l.strip_prefix('#'))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("the held text: {pending}"))
        .to_owned();
    let by = "Jo Bloggs (Attendance Officer)";
    let late = rollcall(dir.path(), &["approve", &text_id, "--by", by]);
    assert!(!late.status.success());
    assert!(String::from_utf8_lossy(&late.stderr).contains("expired at 2025-11-17T12:00"));
    ok(rollcall(
        dir.path(),
        &[
            "approve",
            &text_id,
            "--by",
            by,
            "--as-of",
            "2025-11-17T09:55",
        ],
    ));
    let delivered = ok(rollcall(
        dir.path(),
        &["deliver", "--as-of", "2025-11-17T10:00"],
    ));
    assert!(delivered.contains("\"delivered\":"), "{delivered}");
    let sms = std::fs::read_to_string(
        dir.path()
            .join("rollcall-outbox/100002/2025-11-17/sms.jsonl"),
    )
    .expect("the text in 17 November's file sink");
    assert!(sms.contains("\"to\":\"+447700900003\""), "{sms}");

    // A live channel never sends on an invented clock.
    let live = dir.path().join("live.toml");
    let text = std::fs::read_to_string(dir.path().join("rollcall.toml")).expect("config")
        + "\n[delivery]\nmode = \"live\"\n";
    std::fs::write(&live, text).expect("live config");
    let refused = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--config")
        .arg(&live)
        .args(["deliver", "--as-of", "2025-11-17T10:00"])
        .output()
        .expect("run rollcall");
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("file sink only"), "{err}");
    let refused = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--config")
        .arg(&live)
        .args(["approve", "1", "--by", by, "--as-of", "2025-11-17T09:55"])
        .output()
        .expect("run rollcall");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("file sink only"));
}
