//! The daemon and delivery on both backends: exactly once through crashes and two daemons,
//! retries with backoff until failure (and the officer told), an SMTP server that comes back,
//! time limits, and the schedule's clock changes and catch-up.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use rollcall::config::Config;
use rollcall::daemon::Daemon;
use rollcall::register::store::Store;
use rollcall::schedule::Clock;
use sqlx::Row;
use tokio_util::sync::CancellationToken;

use super::{CONFIG, baseline, escalate, family};

const STAFF: &str = r#"
[school.staff]
attendance_officer = "attendance@north.example"
dsl = "dsl@north.example"
"#;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("instant")
        .with_timezone(&Utc)
}

/// The family fixture's school with staff addresses and delivery settings appended.
fn config(dir: &Path, delivery: &str) -> Result<Config> {
    let text = format!(
        "{}\n{STAFF}\n[delivery]\noutbox_dir = \"{}\"\n{delivery}\n",
        CONFIG,
        dir.join("outbox").display()
    );
    Ok(Config::from_toml(&text, "delivery-test.toml")?)
}

async fn daemon(store: &Store, config: &Config, clock: &Clock) -> Result<Daemon> {
    Daemon::build_with_store(config.clone(), store.clone(), clock.clone()).await
}

async fn statuses(store: &Store) -> Result<Vec<(i64, String, String, i64)>> {
    sqlx::query("SELECT id, channel, status, attempts FROM outbox ORDER BY id")
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect()
}

fn sms_lines(dir: &Path, day: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("outbox/north").join(day).join("sms.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A daemon killed after the provider (here the file sink) took a text but before it recorded
/// that: the lease lapses, the next daemon asks the channel first, and the text is not sent
/// twice. A daemon killed before sending: the next one sends it, once.
pub async fn a_sender_that_dies_mid_send_never_causes_a_second_text(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (_, school) = family(&store, dir).await?;
    let config = config(dir, "")?;
    escalate(&store, &config, school, &baseline(1.0)?, "2025-09-08T09:50").await?;
    // 09:50 BST on Monday 8 September.
    let clock = Clock::simulated(utc("2025-09-08T08:50:00Z"));
    let rows = statuses(&store).await?;
    let texts: Vec<i64> = rows.iter().filter(|r| r.1 == "sms").map(|r| r.0).collect();
    // Ada and Alan share a mother: one text; Grace is present.
    assert_eq!(texts.len(), 1, "{rows:?}");
    let text = texts[0];

    // The dead daemon claimed the text and the provider took it; nothing was recorded.
    sqlx::query(
        "UPDATE outbox SET status = 'sending', lease_owner = 'dead', lease_until = $1,
                attempts = 1 WHERE id = $2",
    )
    .bind("2025-09-08T08:49:00Z")
    .bind(text)
    .execute(store.pool())
    .await?;
    let sink = rollcall::delivery::channel::file::FileSink::new(dir.join("outbox"));
    sink.write_sms(
        "north",
        chrono::NaiveDate::from_ymd_opt(2025, 9, 8).context("date")?,
        &rollcall::delivery::channel::file::SmsLine {
            outbox_id: text,
            attempt: 1,
            reference: format!("rollcall-north-{text}-1"),
            to: "+447700900001".into(),
            body: "sent by the daemon that died".into(),
            segments: 1,
            encoding: "Gsm7".into(),
            written_at: "2025-09-08T08:48:00Z".into(),
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    let next = daemon(&store, &config, &clock).await?;
    let stop = CancellationToken::new();
    let summary = next.deliverer.deliver_due(&next.schools[0], &stop).await?;
    assert_eq!(summary.recovered, 1);
    assert_eq!(summary.confirmed_after_crash, 1);
    let lines = sms_lines(dir, "2025-09-08");
    assert_eq!(lines.len(), 1, "one text, not two: {lines:?}");
    assert_eq!(lines[0]["body"], "sent by the daemon that died");
    let after = statuses(&store).await?;
    assert!(
        after.iter().all(|r| r.2 == "delivered"),
        "everything delivered: {after:?}"
    );

    // Now a daemon that died after claiming but before sending: the text goes, once.
    std::fs::remove_dir_all(dir.join("outbox"))?;
    sqlx::query(
        "UPDATE outbox SET status = 'sending', lease_owner = 'dead', lease_until = $1,
                attempts = 1, provider_id = NULL WHERE id = $2",
    )
    .bind("2025-09-08T08:49:00Z")
    .bind(text)
    .execute(store.pool())
    .await?;
    let summary = next.deliverer.deliver_due(&next.schools[0], &stop).await?;
    assert_eq!((summary.recovered, summary.confirmed_after_crash), (1, 0));
    let lines = sms_lines(dir, "2025-09-08");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["to"], "+447700900001");
    let body = lines[0]["body"].as_str().context("body")?;
    assert!(
        body.contains("Ada") && body.contains("Alan") && body.contains("Monday 8 September 2025"),
        "the text names both children and the day: {body}"
    );
    Ok(())
}

/// Two daemons delivering the same queue at the same time: each message is claimed, sent and
/// recorded by exactly one of them.
pub async fn two_daemons_never_send_one_message_twice(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (_, school) = family(&store, dir).await?;
    let config = config(dir, "concurrency = 4")?;
    let messages = 120;
    for i in 0..messages {
        sqlx::query(
            "INSERT INTO outbox (school_id, key, channel, recipient_role, recipient, template,
                                 status, requires_approval, hold_reason, created_at)
             VALUES ($1, $2, 'email', 'attendance_officer', 'attendance_officer', 'alert',
                     'queued', 0, $3, '2025-09-08T09:00:00')",
        )
        .bind(school.0)
        // Staff emails, not alerts: alerts beyond `alerts_waiting_max` are folded into one.
        .bind(format!("test/message/{i}"))
        .bind(format!("test message {i}"))
        .execute(store.pool())
        .await?;
    }
    let clock = Clock::simulated(utc("2025-09-08T09:00:00Z"));
    let a = Arc::new(daemon(&store, &config, &clock).await?);
    let b = Arc::new(daemon(&store, &config, &clock).await?);
    assert_ne!(a.owner, b.owner);
    let stop = CancellationToken::new();
    let (ra, rb) = tokio::join!(
        a.deliverer.deliver_due(&a.schools[0], &stop),
        b.deliverer.deliver_due(&b.schools[0], &stop)
    );
    let (ra, rb) = (ra?, rb?);
    assert_eq!(ra.delivered + rb.delivered, messages, "{ra:?} {rb:?}");
    let twice: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT outbox_id FROM outbox_events WHERE event = 'delivered'
         GROUP BY outbox_id HAVING COUNT(*) > 1) AS t",
    )
    .fetch_one(store.pool())
    .await?;
    assert_eq!(twice, 0, "no message recorded as delivered twice");
    let files = std::fs::read_dir(dir.join("outbox/north/2025-09-08/email"))?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))
        })
        .count();
    assert_eq!(files, messages);

    // One school, one sender: the second daemon waits until the first's lease lapses.
    assert!(a.hold_school(school).await?);
    assert!(!b.hold_school(school).await?);
    clock.advance_to(clock.now() + Duration::seconds(91));
    assert!(
        b.hold_school(school).await?,
        "b takes over a school whose daemon went quiet"
    );
    assert!(!a.hold_school(school).await?);
    Ok(())
}

/// No SMTP server: each attempt fails and is retried later, each wait longer than the last
/// (with jitter inside the documented bounds), until the attempts run out; then the message is
/// failed and the attendance officer gets an alert naming it. A server that comes back before
/// then gets the message, once.
pub async fn retries_back_off_then_fail_or_go_when_the_server_returns(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (_, school) = family(&store, dir).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = config(
        dir,
        &format!(
            "mode = \"live\"\nmax_attempts = 3\nretry_base_seconds = 60\n\
             [delivery.email]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n\
             from = \"North Primary <office@north.example>\"\ntimeout_seconds = 2\n"
        ),
    )?;
    for key in ["first", "second"] {
        sqlx::query(
            "INSERT INTO outbox (school_id, key, channel, recipient_role, recipient, template,
                                 status, requires_approval, hold_reason, created_at)
             VALUES ($1, $2, 'email', 'dsl', 'dsl', 'alert', 'queued', 0, $3, '2025-09-08T09:00:00')",
        )
        .bind(school.0)
        .bind(format!("test/{key}"))
        .bind(format!("{key} message"))
        .execute(store.pool())
        .await?;
    }
    let start = utc("2025-09-08T09:00:00Z");
    let clock = Clock::simulated(start);
    let d = daemon(&store, &config, &clock).await?;
    let stop = CancellationToken::new();
    let school_rt = &d.schools[0];
    let next_attempt = |id: i64| {
        let store = store.clone();
        async move {
            let t: String = sqlx::query_scalar("SELECT next_attempt_at FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_one(store.pool())
                .await?;
            anyhow::Ok(utc(&t))
        }
    };
    let s = d.deliverer.deliver_due(school_rt, &stop).await?;
    assert_eq!(s.retried, 2, "{s:?}");
    // Attempt 1 failed: the next is 30–60 s later (base 60 s, jitter in the upper half).
    let wait1 = next_attempt(1).await? - start;
    assert!(
        (30..=60).contains(&wait1.num_seconds()),
        "first wait {wait1}"
    );
    clock.advance_to(next_attempt(1).await?.max(next_attempt(2).await?));
    let at2 = clock.now();
    d.deliverer.deliver_due(school_rt, &stop).await?;
    let wait2 = next_attempt(1).await? - at2;
    assert!(
        (60..=120).contains(&wait2.num_seconds()),
        "second wait doubles: {wait2}"
    );

    // Message 1 runs out of attempts while the server is still down; message 2 is held back
    // (not due) so it can show the server coming back.
    sqlx::query("UPDATE outbox SET next_attempt_at = '2099-01-01T00:00:00Z' WHERE id = 2")
        .execute(store.pool())
        .await?;
    clock.advance_to(next_attempt(1).await?);
    let s = d.deliverer.deliver_due(school_rt, &stop).await?;
    let rows = statuses(&store).await?;
    let first = rows.iter().find(|r| r.0 == 1).context("row 1")?;
    assert_eq!((first.2.as_str(), first.3), ("failed", 3), "{rows:?} {s:?}");
    let alert: String = sqlx::query_scalar(
        "SELECT hold_reason FROM outbox WHERE recipient_role = 'attendance_officer' AND key LIKE '%failed-1'",
    )
    .fetch_one(store.pool())
    .await?;
    assert!(alert.contains("Message 1"), "{alert}");
    assert!(alert.contains("gave up after attempt 3"), "{alert}");

    // Bring a real SMTP server up on the port and let message 2's last attempt go.
    let received = Arc::new(std::sync::Mutex::new(0usize));
    let server = start_smtp(port, Arc::clone(&received))?;
    sqlx::query("UPDATE outbox SET next_attempt_at = $1 WHERE status = 'queued'")
        .bind(rollcall::schedule::instant_text(clock.now()))
        .execute(store.pool())
        .await?;
    let s = d.deliverer.deliver_due(school_rt, &stop).await?;
    assert!(s.sent >= 1, "{s:?}");
    let rows = statuses(&store).await?;
    assert_eq!(
        rows.iter().find(|r| r.0 == 2).map(|r| r.2.as_str()),
        Some("sent")
    );
    // Message 2 and the alert about message 1 (to the attendance officer) arrived.
    assert_eq!(
        *received.lock().map_err(|_| anyhow::anyhow!("poisoned"))?,
        2
    );
    drop(server);
    Ok(())
}

struct Counter(Arc<std::sync::Mutex<usize>>);

impl Clone for Counter {
    fn clone(&self) -> Self {
        Counter(Arc::clone(&self.0))
    }
}

impl mailin_embedded::Handler for Counter {
    fn data_end(&mut self) -> mailin_embedded::Response {
        if let Ok(mut n) = self.0.lock() {
            *n += 1;
        }
        mailin_embedded::response::OK
    }
}

fn start_smtp(
    port: u16,
    received: Arc<std::sync::Mutex<usize>>,
) -> Result<std::thread::JoinHandle<()>> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    let mut server = mailin_embedded::Server::new(Counter(received));
    server
        .with_name("loopback.test")
        .with_ssl(mailin_embedded::SslConfig::None)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_tcp_listener(listener);
    let handle = std::thread::spawn(move || {
        let _ = server.serve();
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    Ok(handle)
}

/// The first-day run is at 09:30 local on the Monday after each clock change (register closes
/// 09:15, grace 15 min), recorded once per due time; a daemon down over a Monday never sends
/// Monday's first-day texts on Tuesday, but catches up the daily pass.
pub async fn the_schedule_keeps_local_time_across_clock_changes_and_catches_up(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let text = r#"
[school]
id = "dst"
name = "DST Primary"
urn = "100009"
la_code = "886"
am_register_close = "09:15"
[[calendar.terms]]
name = "Spring 2026"
start = "2026-01-05"
end = "2026-04-02"
[[calendar.terms]]
name = "Autumn 2026"
start = "2026-09-02"
end = "2026-12-18"
"#;
    let text = format!(
        "{text}\n[delivery]\noutbox_dir = \"{}\"\n",
        dir.join("outbox").display()
    );
    let config = Config::from_toml(&text, "dst.toml")?;
    for (from, until, monday_utc) in [
        (
            "2026-03-27T06:00:00Z",
            "2026-03-30T12:00:00Z",
            "2026-03-30T08:30:00Z",
        ),
        (
            "2026-10-23T06:00:00Z",
            "2026-10-26T12:00:00Z",
            "2026-10-26T09:30:00Z",
        ),
    ] {
        let clock = Clock::simulated(utc(from));
        let d = daemon(&store, &config, &clock).await?;
        d.run(CancellationToken::new(), Some(utc(until)), |_| Ok(()), None)
            .await?;
        let runs: Vec<(String, String)> = sqlx::query(
            "SELECT due_at, local_due FROM due_runs WHERE job = 'first_day' AND due_at >= $1 AND due_at <= $2 ORDER BY due_at",
        )
        .bind(from)
        .bind(until)
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_>>()?;
        assert_eq!(runs.len(), 2, "Friday and Monday: {runs:?}");
        assert!(
            runs.iter().all(|(_, local)| local.ends_with("T09:30")),
            "{runs:?}"
        );
        assert_eq!(runs[1].0, monday_utc);
        // A second daemon over the same span finds every run already recorded.
        let again = daemon(&store, &config, &Clock::simulated(utc(from))).await?;
        let report = again
            .run(CancellationToken::new(), Some(utc(until)), |_| Ok(()), None)
            .await?;
        assert!(
            report.runs.is_empty(),
            "nothing fires twice: {:?}",
            report.runs
        );
    }

    // Down from Monday 2 November 2026 07:00 to Tuesday 10:00 (GMT).
    let clock = Clock::simulated(utc("2026-11-02T07:00:00Z"));
    let d = daemon(&store, &config, &clock).await?;
    d.run(
        CancellationToken::new(),
        Some(utc("2026-11-02T07:30:00Z")),
        |_| Ok(()),
        None,
    )
    .await?;
    let restarted = daemon(
        &store,
        &config,
        &Clock::simulated(utc("2026-11-03T10:00:00Z")),
    )
    .await?;
    let report = restarted.pass(&CancellationToken::new()).await?;
    let outcomes: Vec<(String, String, String)> = sqlx::query(
        "SELECT job, local_due, outcome FROM due_runs WHERE due_at >= '2026-11-02' ORDER BY due_at, job",
    )
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
    .collect::<Result<_>>()?;
    let monday_first_day = outcomes
        .iter()
        .find(|(job, local, _)| job == "first_day" && local.starts_with("2026-11-02"))
        .context("Monday's first-day run is recorded")?;
    assert!(monday_first_day.2.starts_with("skipped"), "{outcomes:?}");
    let ran: Vec<&str> = report.runs.iter().map(String::as_str).collect();
    assert_eq!(
        ran,
        vec![
            "daily_pass 2026-11-02 16:00:00",
            "letters 2026-11-02 16:30:00",
            "first_day 2026-11-03 09:30:00",
        ]
    );
    Ok(())
}
