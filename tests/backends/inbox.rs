//! The daemon's register inbox on both backends (issue 12, items 2, 3, 6 and 16): a file
//! still being written is left until it settles and no row written later is lost, the
//! hand-over conventions are honoured, links and other users' files are refused unread,
//! names that are not UTF-8 or are upper case are handled, and `poll_seconds` drives the
//! looks.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use rollcall::config::Config;
use rollcall::daemon::Daemon;
use rollcall::register::import::import_pupils;
use rollcall::register::store::{SchoolId, Store};
use rollcall::schedule::Clock;
use sqlx::Row;
use tokio_util::sync::CancellationToken;

use super::CONFIG;

/// Saturday 6 Sep 2025, 10:00 London: no job is due, so whatever is imported was imported
/// by the inbox's own polling.
const SATURDAY: &str = "2025-09-06T09:00:00Z";

const PUPILS: &str = "\
upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date
B801200005001,Ada,Lovelace,2018-03-01,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,
P207000016049,Alan,Turing,2018-06-23,3,3G,M,Y,K,N,WBRI,N,Y,N,Y,2021-09-01,
";

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("instant")
        .with_timezone(&Utc)
}

struct Setup {
    daemon: Daemon,
    clock: Clock,
    school: SchoolId,
    inbox: PathBuf,
}

async fn setup(store: &Store, dir: &Path, daemon_settings: &str) -> Result<Setup> {
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox)?;
    let text = CONFIG.replace(
        "[school]\n",
        &format!("[school]\ninbox = \"{}\"\n", inbox.display()),
    ) + &format!(
        "\n[school.staff]\nattendance_officer = \"attendance@north.example\"\n\n[daemon]\n{daemon_settings}\n\n[delivery]\noutbox_dir = \"{}\"\n",
        dir.join("outbox").display()
    );
    let config = Config::from_toml(&text, "inbox-test.toml")?;
    let school = store.ensure_school(config.school(None)?).await?;
    std::fs::write(dir.join("pupils.csv"), PUPILS)?;
    import_pupils(store, school, &dir.join("pupils.csv")).await?;
    let clock = Clock::simulated(utc(SATURDAY));
    let daemon = Daemon::build_with_store(config, store.clone(), clock.clone()).await?;
    Ok(Setup {
        daemon,
        clock,
        school,
        inbox,
    })
}

impl Setup {
    async fn pass(&self) -> Result<usize> {
        Ok(self
            .daemon
            .pass(&CancellationToken::new())
            .await?
            .imported_files)
    }

    fn later(&self, seconds: i64) {
        self.clock
            .advance_to(self.clock.now() + Duration::seconds(seconds));
    }

    fn folder(&self, name: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.inbox.join(name))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

async fn marks_recorded(store: &Store, school: SchoolId) -> Result<usize> {
    let years = store.register_years(school, 2025, 2025).await?;
    Ok(years
        .iter()
        .map(|y| y.marks.iter().filter(|&&b| b != 0).count())
        .sum())
}

async fn polls(store: &Store) -> Result<Vec<(String, String)>> {
    sqlx::query("SELECT file, outcome FROM register_polls ORDER BY id")
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

async fn alerts(store: &Store) -> Result<Vec<String>> {
    sqlx::query("SELECT hold_reason FROM outbox WHERE template = 'alert' ORDER BY id")
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| Ok(r.try_get::<Option<String>, _>(0)?.unwrap_or_default()))
        .collect()
}

fn mark_rows(rows: &[(&str, &str, &str)]) -> String {
    rows.iter()
        .map(|(upn, date, session)| format!("{upn},{date},{session},/\n"))
        .collect()
}

/// Item 2: the MIS writes 2 rows, the daemon looks, the MIS writes 2 more; nothing is taken
/// until the file has not changed for the settle time, and then all 4 rows are imported. A
/// writer that goes on writing after the file was moved to `done/` loses nothing either:
/// the rows are imported at the next look and the office is told to fix the connector.
pub async fn an_export_still_being_written_is_taken_whole(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let s = setup(&store, dir, "poll_seconds = 60\ninbox_settle_seconds = 60").await?;
    let path = s.inbox.join("marks-week1.csv");
    let mut mis = std::fs::File::create(&path)?;
    write!(
        mis,
        "upn,date,session,mark\n{}",
        mark_rows(&[
            ("B801200005001", "2025-09-01", "AM"),
            ("B801200005001", "2025-09-01", "PM"),
        ])
    )?;
    mis.flush()?;
    assert_eq!(s.pass().await?, 0, "first sight: not taken");
    assert_eq!(marks_recorded(&store, s.school).await?, 0);

    write!(
        mis,
        "{}",
        mark_rows(&[
            ("P207000016049", "2025-09-01", "AM"),
            ("P207000016049", "2025-09-01", "PM"),
        ])
    )?;
    mis.flush()?;
    s.later(60);
    assert_eq!(s.pass().await?, 0, "it changed since the last look");
    s.later(30);
    assert_eq!(s.pass().await?, 0, "not yet steady for 60 s");
    s.later(30);
    assert_eq!(s.pass().await?, 1, "steady for 60 s: taken");
    assert_eq!(marks_recorded(&store, s.school).await?, 4);
    assert!(!path.exists());
    let done = s.folder("done");
    assert_eq!(done.len(), 1, "{done:?}");
    assert!(done[0].ends_with("-marks-week1.csv"), "{done:?}");

    // The writer still had the file open and goes on (it now writes into done/).
    write!(
        mis,
        "{}",
        mark_rows(&[("B801200005001", "2025-09-02", "AM")])
    )?;
    mis.flush()?;
    drop(mis);
    s.later(60);
    assert_eq!(s.pass().await?, 1, "the grown file is imported again");
    assert_eq!(marks_recorded(&store, s.school).await?, 5, "no row lost");
    let told = alerts(&store).await?;
    assert!(
        told.iter().any(
            |a| a.contains("still writing the register export marks-week1.csv")
                && a.contains("NAME.csv.done")
        ),
        "{told:?}"
    );

    // The hand-over conventions: a temporary name is never touched; a marker means "take it
    // now", and goes with the file.
    std::fs::write(
        s.inbox.join("marks-week2.csv.tmp"),
        "upn,date,session,mark\n",
    )?;
    std::fs::write(
        s.inbox.join("marks-week2b.csv"),
        format!(
            "upn,date,session,mark\n{}",
            mark_rows(&[("P207000016049", "2025-09-02", "AM")])
        ),
    )?;
    std::fs::write(s.inbox.join("marks-week2b.csv.done"), "")?;
    s.later(60);
    assert_eq!(s.pass().await?, 1, "the marked file at first sight");
    assert_eq!(marks_recorded(&store, s.school).await?, 6);
    assert!(s.inbox.join("marks-week2.csv.tmp").exists());
    assert!(!s.inbox.join("marks-week2b.csv.done").exists());
    Ok(())
}

/// Item 6: a link to a file outside the inbox is never read. It is moved to `rejected/` as a
/// link, and nothing of what it points to reaches the error file, `register_polls` or the
/// alert. A hard link and a named pipe are refused the same way (the pipe without hanging).
pub async fn links_and_pipes_in_the_inbox_are_refused_unread(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let s = setup(&store, dir, "inbox_settle_seconds = 0").await?;
    let secret = dir.join("secret.txt");
    std::fs::write(&secret, "SECRET-FIRST-LINE:x:0:0\nmore\n")?;
    std::os::unix::fs::symlink(&secret, s.inbox.join("marks-x.csv"))?;
    std::fs::hard_link(&secret, s.inbox.join("marks-y.csv"))?;
    let fifo = s.inbox.join("marks-z.csv");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes())?;
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");

    // Another user's file (only root can make one to try this with).
    // SAFETY: geteuid has no preconditions.
    let as_root = unsafe { libc::geteuid() } == 0;
    if as_root {
        let stranger = s.inbox.join("marks-w.csv");
        std::fs::write(&stranger, "upn,date,session,mark\n")?;
        std::os::unix::fs::chown(&stranger, Some(65534), Some(65534))?;
    }

    assert_eq!(s.pass().await?, 0);
    let rejected = s.folder("rejected");
    assert_eq!(
        rejected
            .iter()
            .filter(|n| !n.ends_with(".error.txt"))
            .count(),
        if as_root { 4 } else { 3 },
        "{rejected:?}"
    );
    let link = s.inbox.join("rejected").join(
        rejected
            .iter()
            .find(|n| n.ends_with("marks-x.csv"))
            .context("link")?,
    );
    assert!(
        std::fs::symlink_metadata(&link)?.file_type().is_symlink(),
        "the link itself was moved"
    );
    assert_eq!(
        std::fs::read_to_string(&secret)?,
        "SECRET-FIRST-LINE:x:0:0\nmore\n",
        "its target is untouched"
    );
    let mut everything = String::new();
    for name in rejected.iter().filter(|n| n.ends_with(".error.txt")) {
        everything.push_str(&std::fs::read_to_string(
            s.inbox.join("rejected").join(name),
        )?);
    }
    for (_, outcome) in polls(&store).await? {
        everything.push_str(&outcome);
    }
    for alert in alerts(&store).await? {
        everything.push_str(&alert);
    }
    assert!(everything.contains("symbolic link"), "{everything}");
    assert!(everything.contains("2 hard links"), "{everything}");
    assert!(everything.contains("not a regular file"), "{everything}");
    if as_root {
        assert!(everything.contains("belongs to user 65534"), "{everything}");
    }
    // The header error once echoed the target's first line, lower-cased.
    assert!(
        !everything.to_lowercase().contains("secret-first-line"),
        "{everything}"
    );
    Ok(())
}

/// Items 3 and 16: two exports whose names are not UTF-8 (both read as "\u{FFFD}…") keep
/// both their files in `rejected/`; `MARKS.CSV` is a marks export; a file that is no export
/// at all is rejected with an alert instead of lying in the inbox for ever.
pub async fn odd_names_are_neither_lost_nor_ignored(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let s = setup(&store, dir, "inbox_settle_seconds = 0").await?;
    for raw in [&b"\xff-export.csv"[..], &b"\xfe-export.csv"[..]] {
        std::fs::write(
            s.inbox.join(std::ffi::OsStr::from_bytes(raw)),
            format!("not utf-8 {}", raw[0]),
        )?;
    }
    std::fs::write(
        s.inbox.join("MARKS.CSV"),
        format!(
            "upn,date,session,mark\n{}",
            mark_rows(&[("B801200005001", "2025-09-01", "AM")])
        ),
    )?;
    std::fs::write(s.inbox.join("notes.txt"), "hello")?;
    assert_eq!(s.pass().await?, 1, "MARKS.CSV imported");
    assert_eq!(marks_recorded(&store, s.school).await?, 1);
    let rejected: Vec<String> = s
        .folder("rejected")
        .into_iter()
        .filter(|n| !n.ends_with(".error.txt"))
        .collect();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    let mut contents: Vec<String> = rejected
        .iter()
        .filter(|n| n.contains("export.csv"))
        .map(|n| std::fs::read_to_string(s.inbox.join("rejected").join(n)))
        .collect::<std::io::Result<_>>()?;
    contents.sort();
    assert_eq!(
        contents,
        ["not utf-8 254", "not utf-8 255"],
        "neither overwritten"
    );
    let told = alerts(&store).await?;
    assert!(
        told.iter()
            .any(|a| a.contains("notes.txt") && a.contains("not a register export")),
        "{told:?}"
    );
    Ok(())
}

/// Item 16: `poll_seconds` drives the looks at the inbox. On a Saturday no job runs, yet an
/// export is imported at the first pass; another dropped right after waits for the next
/// look, `poll_seconds` later.
pub async fn the_inbox_is_polled_every_poll_seconds_without_a_job(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let s = setup(&store, dir, "poll_seconds = 120\ninbox_settle_seconds = 0").await?;
    let write = |name: &str, date: &str| {
        std::fs::write(
            s.inbox.join(name),
            format!(
                "upn,date,session,mark\n{}",
                mark_rows(&[("B801200005001", date, "AM")])
            ),
        )
    };
    write("marks-1.csv", "2025-09-01")?;
    assert_eq!(s.pass().await?, 1);
    write("marks-2.csv", "2025-09-02")?;
    s.later(60);
    assert_eq!(s.pass().await?, 0, "looked 60 s ago; polls every 120 s");
    s.later(60);
    assert_eq!(s.pass().await?, 1, "120 s after the last look");
    let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM due_runs")
        .fetch_one(store.pool())
        .await?;
    assert_eq!(
        runs, 0,
        "no job ran on a Saturday: the imports were the inbox's own"
    );
    Ok(())
}
