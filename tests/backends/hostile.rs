//! Register data as an MIS may carry it, followed all the way to delivery (issue 12, item 4):
//! a contact name with a line feed in it, stored before imports cleaned names, must not stop
//! the school's email.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rollcall::config::Config;
use rollcall::daemon::Daemon;
use rollcall::register::store::Store;
use rollcall::schedule::Clock;
use sqlx::Row;
use tokio_util::sync::CancellationToken;

use super::{CONFIG, baseline, escalate, family, set_marks};

/// Ada and Alan (siblings, mother Anne) miss three whole days, so Anne gets the day-three
/// email; her name in the register reads "Anne\nLovelace". The email is delivered with the
/// name on one line, and every other message of the school goes too: nothing is left
/// `sending`, and no delivery pass fails.
pub async fn a_line_feed_in_a_stored_name_does_not_stop_email(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (_, school) = family(&store, dir).await?;
    let text = format!(
        "{CONFIG}\n[school.staff]\nattendance_officer = \"attendance@north.example\"\n\n[delivery]\noutbox_dir = \"{}\"\n",
        dir.join("outbox").display()
    );
    let config = Config::from_toml(&text, "hostile.toml")?;
    let mut rows = String::new();
    for upn in ["B801200005001", "P207000016049"] {
        for day in 8..=10 {
            rows.push_str(&format!("{upn},2025-09-{day:02},PM,N\n"));
        }
    }
    set_marks(&store, &config, school, dir, &rows).await?;
    // As an import before issue 12 stored it.
    sqlx::query("UPDATE contacts SET name = $1 WHERE name = 'Anne Lovelace'")
        .bind("Anne\nLovelace")
        .execute(store.pool())
        .await?;
    escalate(&store, &config, school, &baseline(1.0)?, "2025-09-10T16:00").await?;
    let emails: Vec<(i64, String)> = sqlx::query(
        "SELECT id, template FROM outbox WHERE channel = 'email' AND recipient_role <> 'attendance_officer'",
    )
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<_>>()?;
    let day_three = emails
        .iter()
        .find(|(_, t)| t == "day_three")
        .context("a day-three email is queued")?
        .0;

    let at: DateTime<Utc> = "2025-09-10T15:05:00Z".parse()?;
    let clock = Clock::simulated(at);
    let daemon = Daemon::build_with_store(config, store.clone(), clock).await?;
    let summary = daemon
        .deliverer
        .deliver_due(&daemon.schools[0], &CancellationToken::new())
        .await?;
    assert_eq!(summary.failed, 0, "{summary:?}");
    let stuck: Vec<(i64, String)> = sqlx::query(
        "SELECT id, status FROM outbox WHERE status IN ('queued', 'sending', 'failed')",
    )
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<_>>()?;
    assert!(
        stuck.is_empty(),
        "nothing left queued, sending or failed: {stuck:?}"
    );
    let eml = std::fs::read_to_string(
        dir.join("outbox/north/2025-09-10/email")
            .join(format!("{day_three}.eml")),
    )?;
    assert!(
        eml.contains("To: \"Anne Lovelace\" <anne@example.com>")
            || eml.contains("To: Anne Lovelace <anne@example.com>"),
        "{eml}"
    );
    Ok(())
}

/// Issue 12, item 12: a forename a megabyte long (stored before imports limited fields) makes
/// a first-day text thousands of segments long. It is not sent: the message fails with the
/// reason and the attendance officer is alerted; the rest of the school's messages go.
pub async fn an_over_long_text_fails_alone_and_is_not_sent(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (_, school) = family(&store, dir).await?;
    let text = format!(
        "{CONFIG}\n[school.staff]\nattendance_officer = \"attendance@north.example\"\n\n[delivery]\noutbox_dir = \"{}\"\n",
        dir.join("outbox").display()
    );
    let config = Config::from_toml(&text, "hostile.toml")?;
    sqlx::query("UPDATE pupils SET forename = $1 WHERE upn = 'B801200005001'")
        .bind("Ada".repeat(400))
        .execute(store.pool())
        .await?;
    escalate(&store, &config, school, &baseline(1.0)?, "2025-09-08T09:50").await?;
    let clock = Clock::simulated("2025-09-08T08:55:00Z".parse::<DateTime<Utc>>()?);
    let daemon = Daemon::build_with_store(config, store.clone(), clock).await?;
    let summary = daemon
        .deliverer
        .deliver_due(&daemon.schools[0], &CancellationToken::new())
        .await?;
    assert_eq!(summary.failed, 1, "{summary:?}");
    let (status, error): (String, String) =
        sqlx::query_as("SELECT status, last_error FROM outbox WHERE channel = 'sms'")
            .fetch_one(store.pool())
            .await?;
    assert_eq!(status, "failed");
    // The name alone is 1,200 characters: more than 6 segments of 153, whatever the template
    // around it says.
    let segments: usize = error
        .split_once("the text is ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no segment count in: {error}"));
    assert!(segments >= 1200 / 153, "{error}");
    assert!(
        error.contains("rollcall sends at most 6 segments"),
        "{error}"
    );
    assert!(
        !dir.join("outbox/north/2025-09-08/sms.jsonl").exists(),
        "nothing was sent"
    );
    let alerts: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE template = 'alert' AND hold_reason LIKE '%sms%'",
    )
    .fetch_one(store.pool())
    .await?;
    assert_eq!(alerts, 1, "the attendance officer is told");
    Ok(())
}
