//! The school lease and the alert settings as a school's administrator meets them: `deliver`
//! says (and exits 75) when another daemon holds a school, the lease and the alerts' fallback
//! are configured and checked, and `rollcall run` knows itself by host and systemd unit.

use std::path::Path;
use std::process::Command;

use rollcall::config::{AlertsFallback, Config};
use rollcall::daemon::{lease_identity, unit_from_cgroup};

const SCHOOL: &str = r#"
[database]
url = "sqlite://rollcall.db"

[school]
id = "oak"
name = "Oak Primary"
urn = "100001"
la_code = "886"
[school.staff]
attendance_officer = "attendance@oak.example"

[[calendar.terms]]
name = "Autumn 2025"
start = "2025-09-01"
end = "2025-12-19"
"#;

fn rollcall(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--config")
        .arg(dir.join("rollcall.toml"))
        .args(args)
        .current_dir(dir)
        .env_remove("ROLLCALL_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run rollcall");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sql(db: &Path, statement: &'static str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store =
            rollcall::register::store::Store::connect(&format!("sqlite://{}", db.display()))
                .await
                .expect("open the database");
        sqlx::query(statement)
            .execute(store.pool())
            .await
            .expect("statement");
    });
}

/// Right after a crash (or while another daemon runs) `deliver` cannot send for the school.
/// It says who holds it and until when, and exits 75 ("try again later"), not 0: a person or
/// a cron job must not read "done" while the school's messages wait.
#[test]
fn deliver_says_who_holds_a_school_and_does_not_claim_success() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::write(
        dir.join("rollcall.toml"),
        format!("{SCHOOL}\n[delivery]\noutbox_dir = \"outbox\"\n"),
    )
    .expect("config");
    std::fs::write(
        dir.join("pupils.csv"),
        "upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date\n\
         B801200005001,Ada,Lovelace,2018-03-01,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,\n",
    )
    .expect("pupils");
    let (code, _, stderr) = rollcall(dir, &["import", "pupils", "pupils.csv"]);
    assert_eq!(code, Some(0), "{stderr}");
    let db = dir.join("rollcall.db");
    sql(
        &db,
        "INSERT INTO school_leases (school_id, holder, process, acquired_at, expires_at)
         SELECT id, 'standby-server/rollcall.service', 'standby-server:4242:00000001',
                '2026-01-01T00:00:00Z', '2999-01-01T00:00:00Z' FROM schools WHERE key = 'oak'",
    );

    let (code, stdout, stderr) = rollcall(dir, &["deliver"]);
    assert_eq!(code, Some(75), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stderr.contains("school oak: nothing delivered")
            && stderr.contains("standby-server/rollcall.service")
            && stderr.contains("until 2999-01-01T00:00:00Z"),
        "{stderr}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.trim()).expect("the summary is still printed");
    assert_eq!(summary["sent"], 0);

    // Once that lease has run out, `deliver` takes the school and succeeds.
    sql(
        &db,
        "UPDATE school_leases SET expires_at = '2000-01-01T00:00:00Z'",
    );
    let (code, _, stderr) = rollcall(dir, &["deliver"]);
    assert_eq!(code, Some(0), "{stderr}");
}

fn load(extra: &str) -> Result<Config, rollcall::config::ConfigError> {
    Config::from_toml(&format!("{SCHOOL}\n{extra}"), "test.toml")
}

#[test]
fn the_school_lease_is_configurable_and_not_too_short() {
    assert_eq!(load("").expect("valid").daemon.school_lease_seconds, 90);
    let config =
        load("[daemon]\nschool_lease_seconds = 30\nname = \"rollcall-north\"").expect("valid");
    assert_eq!(config.daemon.school_lease_seconds, 30);
    let identity = lease_identity(&config.daemon).expect("a configured name");
    assert!(identity.ends_with("/rollcall-north"), "{identity}");
    let err = load("[daemon]\nschool_lease_seconds = 5").expect_err("too short");
    assert_eq!(err.key, "daemon.school_lease_seconds");
    assert!(err.message.contains("at least 15"), "{err}");
    let err = load("[daemon]\nname = \" \"").expect_err("blank name");
    assert_eq!(err.key, "daemon.name");
}

#[test]
fn a_daemon_knows_its_systemd_unit_but_not_a_terminal_session() {
    assert_eq!(
        unit_from_cgroup("0::/system.slice/rollcall.service\n").as_deref(),
        Some("rollcall.service")
    );
    // cgroup v1 (hybrid): the name=systemd hierarchy names the unit.
    assert_eq!(
        unit_from_cgroup(
            "12:pids:/system.slice/rollcall@north.service\n1:name=systemd:/system.slice/rollcall@north.service\n0::/system.slice/rollcall@north.service\n"
        )
        .as_deref(),
        Some("rollcall@north.service")
    );
    // A terminal (session scope), a user's whole service manager seen from inside an app,
    // a container's root: no unit, so no name to take a lease back by.
    assert_eq!(
        unit_from_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n"),
        None
    );
    assert_eq!(
        unit_from_cgroup(
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-term-1.scope\n"
        ),
        None
    );
    assert_eq!(unit_from_cgroup("0::/\n"), None);
    assert_eq!(unit_from_cgroup(""), None);
}

#[test]
fn the_alerts_fallback_is_a_staff_mobile_or_another_mailbox() {
    let config = load("[delivery]\nalerts_fallback = \"sms:07700 900123\"").expect("valid");
    assert_eq!(
        config.delivery.fallback,
        Some(AlertsFallback::Sms("+447700900123".into()))
    );
    assert_eq!(config.delivery.alerts_fallback_after, 3);
    assert_eq!(config.delivery.alerts_waiting_max, 20);
    let config = load("[delivery]\nalerts_fallback = \"email:Deputy Head <deputy@oak.example>\"")
        .expect("valid");
    assert_eq!(
        config.delivery.fallback,
        Some(AlertsFallback::Email(
            "Deputy Head <deputy@oak.example>".into()
        ))
    );
    for (bad, says) in [
        ("sms:12345", "not a UK mobile"),
        ("email:deputy@@oak", "not an email address"),
        ("pager:123", "sms:07700 900123"),
    ] {
        let err = load(&format!("[delivery]\nalerts_fallback = \"{bad}\"")).expect_err(bad);
        assert_eq!(err.key, "delivery.alerts_fallback", "{bad}");
        assert!(err.message.contains(says), "{bad}: {err}");
    }
    // A text fallback in live mode needs an SMS provider to send it.
    let err = load("[delivery]\nmode = \"live\"\nalerts_fallback = \"sms:07700 900123\"")
        .expect_err("no SMS provider");
    assert!(err.message.contains("needs an SMS provider"), "{err}");
    let err = load("[delivery]\nalerts_waiting_max = 0").expect_err("zero");
    assert_eq!(err.key, "delivery.alerts_waiting_max");
}

#[test]
fn a_staff_address_is_checked_when_the_config_is_read() {
    let text = SCHOOL.replace(
        "attendance_officer = \"attendance@oak.example\"",
        "attendance_officer = \"Jo Bloggs <jo@oak.example>\"\ndsl = \"dsl@@oak.example\"",
    );
    let err = Config::from_toml(&text, "test.toml").expect_err("a bad address");
    assert_eq!(err.key, "school.staff.dsl");
    assert!(
        err.message.contains("Jo Bloggs <name@example.sch.uk>"),
        "{err}"
    );
}
