//! The register store behaves identically on SQLite and PostgreSQL: every test here runs once
//! per backend. PostgreSQL tests need `ROLLCALL_TEST_POSTGRES_URL` (a server where the user may
//! create databases); each test gets a fresh database that is dropped afterwards. Without it
//! they are reported as ignored, with one note saying so.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use libtest_mimic::{Arguments, Failed, Trial};
use rollcall::config::Config;
use rollcall::import::{MarksImport, import_contacts, import_marks, import_pupils};
use rollcall::session::Session;
use rollcall::stats::school_stats;
use rollcall::store::Store;
use sqlx::Connection;

const PG_ENV: &str = "ROLLCALL_TEST_POSTGRES_URL";

type TestFn = fn(Store, &'static Path) -> Pin<Box<dyn Future<Output = Result<()>> + Send>>;

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), (|store, dir| Box::pin($name(store, dir))) as TestFn)),*]
    };
}

fn main() {
    let args = Arguments::from_args();
    let pg_url = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty());
    if pg_url.is_none() {
        eprintln!(
            "note: PostgreSQL tests skipped; set {PG_ENV}=postgres://postgres@127.0.0.1:5432/test to run them"
        );
    }
    let list: Vec<(&str, TestFn)> = tests![
        import_then_stats_agree_with_hand_counts,
        reimporting_changes_nothing,
        a_changed_mark_becomes_an_amendment_with_who_and_why,
        a_bad_row_imports_nothing,
        contacts_file_replaces_a_pupils_contacts,
        schools_in_one_database_stay_apart,
    ];
    let mut trials = Vec::new();
    for (name, test) in list {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            run_sqlite(test)
        }));
        let url = pg_url.clone();
        trials.push(
            Trial::test(format!("postgres::{name}"), move || match url {
                Some(url) => run_postgres(&url, test),
                None => Ok(()),
            })
            .with_ignored_flag(pg_url.is_none()),
        );
    }
    libtest_mimic::run(&args, trials).exit();
}

fn runtime() -> Result<tokio::runtime::Runtime, Failed> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))
}

fn leak_dir() -> Result<(tempfile::TempDir, &'static Path), Failed> {
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    // The test functions take a 'static path; the TempDir guard outlives them and cleans up.
    let path: &'static Path = Box::leak(dir.path().to_path_buf().into_boxed_path());
    Ok((dir, path))
}

fn run_sqlite(test: TestFn) -> Result<(), Failed> {
    let (_guard, dir) = leak_dir()?;
    runtime()?.block_on(async move {
        let url = format!("sqlite://{}", dir.join("rollcall.db").display());
        let store = Store::connect(&url).await.map_err(fail)?;
        test(store, dir).await.map_err(fail)
    })
}

fn run_postgres(admin_url: &str, test: TestFn) -> Result<(), Failed> {
    let (_guard, dir) = leak_dir()?;
    runtime()?.block_on(async move {
        sqlx::any::install_default_drivers();
        let name = format!(
            "rollcall_test_{}_{}",
            std::process::id(),
            dir.file_name().map_or("x".into(), |n| n
                .to_string_lossy()
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), ""))
        );
        let mut admin = sqlx::AnyConnection::connect(admin_url)
            .await
            .map_err(fail)?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .map_err(fail)?;
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
        let result = async {
            let store = Store::connect(&format!("{base}/{name}")).await?;
            let outcome = test(store.clone(), dir).await;
            store.pool().close().await;
            outcome
        }
        .await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .map_err(fail)?;
        result.map_err(fail)
    })
}

fn fail(e: impl std::fmt::Display) -> Failed {
    Failed::from(format!("{e:#}"))
}

fn d(s: &str) -> NaiveDate {
    s.parse().expect("test date")
}

// Autumn 2025 from Mon 1 Sep; half term 27–31 Oct.
const CONFIG: &str = r#"
[school]
id = "north"
name = "North Primary"
urn = "100002"
la_code = "886"
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
P207000016049,Alan,Turing,2018-06-23,3,3G,M,Y,K,N,WBRI,N,Y,N,Y,2021-09-01,
";

// Ada: Mon 1 Sep present; Tue 2 Sep I both; Wed 3 Sep L then \.
// Alan: Mon 1 Sep N both; Tue 2 Sep O AM, G PM; Wed 3 Sep Y4 both (closure).
const MARKS: &str = "\
upn,date,session,mark
B801200005001,2025-09-01,AM,/
B801200005001,2025-09-01,PM,\\
B801200005001,2025-09-02,AM,I
B801200005001,2025-09-02,PM,I
B801200005001,2025-09-03,AM,L
B801200005001,2025-09-03,PM,\\
P207000016049,2025-09-01,AM,N
P207000016049,2025-09-01,PM,N
P207000016049,2025-09-02,AM,O
P207000016049,2025-09-02,PM,G
P207000016049,2025-09-03,AM,Y4
P207000016049,2025-09-03,PM,Y4
";

const CONTACTS: &str = "\
upn,name,relationship,priority,email,mobile,parental_responsibility,address_line_1,address_line_2,town,postcode
B801200005001,Anne Lovelace,Mother,1,anne@example.com,07700 900001,Y,1 Test Street,,Testtown,TT1 1AA
B801200005001,Byron Lovelace,Father,2,,07700900002,Y,1 Test Street,,Testtown,TT1 1AA
P207000016049,Ethel Turing,Mother,1,ethel@example.org,,Y,2 Test Street,,Testtown,TT1 1AB
";

async fn setup(
    store: &Store,
    dir: &Path,
    config: &str,
) -> Result<(Config, rollcall::store::SchoolId)> {
    let config = Config::from_toml(config, "test.toml")?;
    let school = store.ensure_school(config.school(None)?).await?;
    std::fs::write(dir.join("pupils.csv"), PUPILS)?;
    std::fs::write(dir.join("marks.csv"), MARKS)?;
    std::fs::write(dir.join("contacts.csv"), CONTACTS)?;
    import_pupils(store, school, &dir.join("pupils.csv")).await?;
    import_contacts(store, school, &dir.join("contacts.csv")).await?;
    let options = MarksImport {
        progress: false,
        ..MarksImport::default()
    };
    let cal = &config.school(None)?.calendar;
    import_marks(store, school, cal, &dir.join("marks.csv"), &options).await?;
    Ok((config, school))
}

async fn import_then_stats_agree_with_hand_counts(store: Store, dir: &'static Path) -> Result<()> {
    let (config, school) = setup(&store, dir, CONFIG).await?;
    let stats = school_stats(
        &store,
        school,
        config.school(None)?,
        d("2025-09-01"),
        d("2025-09-03"),
        None,
    )
    .await?;
    assert_eq!(stats.len(), 2);
    let ada = &stats[0];
    assert_eq!(ada.pupil.pupil.upn.as_str(), "B801200005001");
    // 6 possible: 4 attended (/, \, L, \), 2 authorised (I, I).
    assert_eq!(ada.facts.possible_sessions, 6);
    assert_eq!(ada.facts.attended_sessions, 4);
    assert_eq!(ada.facts.authorised_absence_sessions, 2);
    assert_eq!(ada.facts.illness_sessions, 2);
    assert_eq!(ada.facts.late_sessions, 1);
    assert!(
        ada.facts.persistent_absence() && !ada.facts.severe_absence(),
        "2 of 6 absent"
    );
    let alan = &stats[1];
    // Y4 on the 3rd is not possible: 4 possible, all unauthorised.
    assert_eq!(alan.facts.possible_sessions, 4);
    assert_eq!(alan.facts.unauthorised_absence_sessions, 4);
    assert!(alan.facts.severe_absence());
    // The closure day is skipped: both 1 and 2 Sep are wholly unauthorised.
    assert_eq!(alan.facts.consecutive_unauthorised_days, 2);
    assert_eq!(alan.facts.unauthorised_run_since, Some(d("2025-09-01")));
    assert_eq!(alan.facts.unauthorised_sessions_rolling_10_weeks, 4);
    Ok(())
}

async fn reimporting_changes_nothing(store: Store, dir: &'static Path) -> Result<()> {
    let (config, school) = setup(&store, dir, CONFIG).await?;
    let cal = &config.school(None)?.calendar;
    let options = MarksImport {
        progress: false,
        ..MarksImport::default()
    };
    let again = import_marks(&store, school, cal, &dir.join("marks.csv"), &options).await?;
    assert_eq!(
        (
            again.rows_read,
            again.unchanged,
            again.inserted,
            again.amended
        ),
        (12, 12, 0, 0)
    );
    assert!(again.changed_nothing());
    let pupils = import_pupils(&store, school, &dir.join("pupils.csv")).await?;
    assert_eq!(
        (pupils.unchanged, pupils.inserted, pupils.amended),
        (2, 0, 0)
    );
    let contacts = import_contacts(&store, school, &dir.join("contacts.csv")).await?;
    assert!(contacts.changed_nothing());
    assert_eq!(contacts.unchanged, 3);
    assert!(store.amendments(school, None).await?.is_empty());
    let sources: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mark_sources")
        .fetch_one(store.pool())
        .await?;
    assert_eq!(
        sources, 1,
        "an import that changed nothing records no source"
    );
    Ok(())
}

async fn a_changed_mark_becomes_an_amendment_with_who_and_why(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (config, school) = setup(&store, dir, CONFIG).await?;
    let cal = &config.school(None)?.calendar;
    let fix = dir.join("fix.csv");
    std::fs::write(
        &fix,
        "upn,date,session,mark\nP207000016049,2025-09-01,AM,I\n",
    )?;
    let options = MarksImport {
        by_name: "Jo Bloggs".into(),
        by_role: "Attendance Officer".into(),
        reason: Some("parent phoned: illness".into()),
        progress: false,
    };
    let summary = import_marks(&store, school, cal, &fix, &options).await?;
    assert_eq!(
        (summary.amended, summary.inserted, summary.unchanged),
        (1, 0, 0)
    );
    let amendments = store.amendments(school, Some("P207000016049")).await?;
    assert_eq!(amendments.len(), 1);
    let a = &amendments[0];
    assert_eq!((a.date.as_str(), a.session.as_str()), ("2025-09-01", "AM"));
    assert_eq!((a.original_code.as_str(), a.new_code.as_str()), ("N", "I"));
    assert_eq!(a.amended_by_name, "Jo Bloggs");
    assert_eq!(a.amended_by_role, "Attendance Officer");
    assert_eq!(a.reason, "parent phoned: illness");

    let detail = store
        .mark_detail(school, "P207000016049", d("2025-09-01"), Session::Am)
        .await?
        .context("the amended mark")?;
    assert_eq!(detail.code, "I");
    assert_eq!(detail.source, "import fix.csv");
    assert_eq!(detail.recorded_by, "Jo Bloggs (Attendance Officer)");
    // The untouched PM session still comes from the first import.
    let pm = store
        .mark_detail(school, "P207000016049", d("2025-09-01"), Session::Pm)
        .await?
        .context("the PM mark")?;
    assert_eq!(
        (pm.code.as_str(), pm.source.as_str()),
        ("N", "import marks.csv")
    );

    // The amendment shows in the figures: one N became I.
    let stats = school_stats(
        &store,
        school,
        config.school(None)?,
        d("2025-09-01"),
        d("2025-09-03"),
        Some("P207000016049"),
    )
    .await?;
    assert_eq!(stats[0].facts.unauthorised_absence_sessions, 3);
    assert_eq!(stats[0].facts.authorised_absence_sessions, 1);
    assert_eq!(
        stats[0].facts.consecutive_unauthorised_days, 1,
        "1 Sep is no longer wholly unauthorised"
    );
    assert_eq!(stats[0].facts.consecutive_absent_days, 2);
    Ok(())
}

async fn a_bad_row_imports_nothing(store: Store, dir: &'static Path) -> Result<()> {
    let config = Config::from_toml(CONFIG, "test.toml")?;
    let school = store.ensure_school(config.school(None)?).await?;
    let bad = PUPILS.to_owned()
        + "C801200005001,Bad,Upn,2018-01-01,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,\n";
    std::fs::write(dir.join("pupils.csv"), bad)?;
    let err = import_pupils(&store, school, &dir.join("pupils.csv"))
        .await
        .expect_err("a bad UPN on line 4");
    let text = format!("{err}");
    assert!(text.contains("pupils.csv:4: upn:"), "{text}");
    assert!(text.contains("check letter should be B"), "{text}");
    assert!(
        store.pupils(school).await?.is_empty(),
        "the good rows were not imported either"
    );
    Ok(())
}

async fn contacts_file_replaces_a_pupils_contacts(store: Store, dir: &'static Path) -> Result<()> {
    let (_config, school) = setup(&store, dir, CONFIG).await?;
    let fewer = "\
upn,name,relationship,priority,email,mobile,parental_responsibility,address_line_1,address_line_2,town,postcode
B801200005001,Anne Lovelace,Mother,1,anne@example.com,+44 7700 900009,Y,1 Test Street,,Testtown,tt1 1aa
";
    std::fs::write(dir.join("fewer.csv"), fewer)?;
    let summary = import_contacts(&store, school, &dir.join("fewer.csv")).await?;
    // Ada's first contact changed mobile, her second is gone; Alan is not in the file.
    assert_eq!(
        (summary.amended, summary.removed, summary.inserted),
        (1, 1, 0)
    );
    let contacts = store.contacts(school).await?;
    let names: Vec<(&str, Option<&str>)> = contacts
        .iter()
        .map(|(_, c)| (c.name.as_str(), c.mobile.as_deref()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("Anne Lovelace", Some("+447700900009")),
            ("Ethel Turing", None)
        ]
    );
    assert_eq!(contacts[0].1.postcode, "TT1 1AA");
    Ok(())
}

async fn schools_in_one_database_stay_apart(store: Store, dir: &'static Path) -> Result<()> {
    let (_config, north) = setup(&store, dir, CONFIG).await?;
    let south_config = Config::from_toml(
        &CONFIG
            .replace("id = \"north\"", "id = \"south\"")
            .replace("100002", "100003"),
        "south.toml",
    )?;
    let south = store.ensure_school(south_config.school(None)?).await?;
    assert_ne!(north, south);
    assert!(store.pupils(south).await?.is_empty());
    import_pupils(&store, south, &dir.join("pupils.csv")).await?;
    // The same UPNs can be on two schools' rolls (dual registration) without clashing.
    assert_eq!(store.pupils(south).await?.len(), 2);
    let stats = school_stats(
        &store,
        south,
        south_config.school(None)?,
        d("2025-09-01"),
        d("2025-09-03"),
        None,
    )
    .await?;
    assert!(
        stats.is_empty(),
        "south has no marks yet: north's marks must not leak"
    );
    Ok(())
}
