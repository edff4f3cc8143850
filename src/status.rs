//! `rollcall status`: what the daemon did last, what is queued, awaiting approval or failed,
//! and when each job runs next, per school.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::config::{Config, SchoolConfig};
use crate::register::store::{SchoolId, Store};
use crate::schedule::{self, JOBS, instant_text};

#[derive(Debug, Serialize)]
pub struct SchoolStatus {
    pub school: String,
    /// The daemon holding the school's lease, and until when (UTC).
    pub daemon: Option<(String, String)>,
    pub last_runs: Vec<RunLine>,
    pub next_runs: Vec<(String, String)>,
    /// Messages by status.
    pub outbox: BTreeMap<String, i64>,
    /// Messages given up on (never tried again), newest first.
    pub failed: Vec<String>,
    /// Messages that failed an attempt and will be tried again, with when.
    pub retrying: Vec<String>,
    /// Alerts to staff not delivered yet: they are retried until they are.
    pub alerts: Vec<String>,
    /// Copies that may have reached a recipient twice: attempts sent again after one whose
    /// outcome was unknown, when the channel (SMTP) could not be asked. Whole outbox.
    pub resends: i64,
    /// The messages those were, newest first.
    pub resent: Vec<String>,
    pub last_import: Option<String>,
    /// The newest export of each kind the inbox took (pupils, contacts, marks): an MIS
    /// connector that stopped sending one kind shows here.
    pub last_imports: Vec<String>,
    /// Parents' replies: when they were last read from the provider, and how many of the
    /// last week's wait for a person (`None` when `[replies]` is off).
    pub replies: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RunLine {
    pub job: String,
    pub due: String,
    pub outcome: String,
}

pub async fn school_status(
    store: &Store,
    config: &Config,
    school: &SchoolConfig,
    id: SchoolId,
    grace: u32,
    now: DateTime<Utc>,
) -> Result<SchoolStatus> {
    let daemon = sqlx::query("SELECT holder, expires_at FROM school_leases WHERE school_id = $1")
        .bind(id.0)
        .fetch_optional(store.pool())
        .await?
        .map(|r| -> Result<(String, String)> { Ok((r.try_get(0)?, r.try_get(1)?)) })
        .transpose()?
        .filter(|(_, until)| until.as_str() > instant_text(now).as_str());
    let last_runs = sqlx::query(
        "SELECT job, local_due, COALESCE(outcome, 'running') FROM due_runs
         WHERE school_id = $1 ORDER BY due_at DESC, job LIMIT 8",
    )
    .bind(id.0)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(RunLine {
            job: r.try_get(0)?,
            due: r.try_get(1)?,
            outcome: r.try_get(2)?,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let upcoming = schedule::due_between(
        school,
        &config.daemon,
        grace,
        now,
        now + Duration::days(120),
    );
    let next_runs = JOBS
        .iter()
        .filter_map(|job| {
            upcoming.iter().find(|r| r.job == *job).map(|r| {
                (
                    job.as_str().to_owned(),
                    r.local_due.format("%a %Y-%m-%d %H:%M").to_string(),
                )
            })
        })
        .collect();
    let mut outbox = BTreeMap::new();
    for r in sqlx::query("SELECT status, COUNT(*) FROM outbox WHERE school_id = $1 GROUP BY status")
        .bind(id.0)
        .fetch_all(store.pool())
        .await?
    {
        outbox.insert(r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?);
    }
    let lines = |sql: &'static str| async move {
        sqlx::query(sql)
            .bind(id.0)
            .fetch_all(store.pool())
            .await?
            .iter()
            .map(|r| -> Result<String> {
                let id: i64 = r.try_get("id")?;
                let channel: String = r.try_get("channel")?;
                let template: String = r.try_get("template")?;
                let attempts: i64 = r.try_get("attempts")?;
                let resends: i64 = r.try_get("resends")?;
                let error: String = r.try_get("last_error")?;
                let when: String = r.try_get("at")?;
                let status: String = r.try_get("status")?;
                let resent = match resends {
                    0 => String::new(),
                    1 => ", 1 possible second copy".to_owned(),
                    n => format!(", {n} possible extra copies"),
                };
                let at = match status.as_str() {
                    "queued" if when.is_empty() => {
                        "; next attempt when the daemon next runs".into()
                    }
                    "queued" => format!("; next attempt {when}"),
                    "sending" => "; being sent now".into(),
                    "failed" | "expired" => format!("; given up {when}, not tried again"),
                    other => format!("; {other} {when}"),
                };
                let error = if error.is_empty() {
                    String::new()
                } else {
                    format!(": {error}")
                };
                Ok(format!(
                    "#{id} {channel} {template} after {attempts} attempt(s){resent}{error}{at}"
                ))
            })
            .collect::<Result<Vec<_>>>()
    };
    let failed = lines(
        "SELECT id, channel, template, attempts, resends, status,
                COALESCE(last_error, '') AS last_error, COALESCE(finished_at, '') AS at
         FROM outbox WHERE school_id = $1 AND status = 'failed' ORDER BY id DESC LIMIT 10",
    )
    .await?;
    let retrying = lines(
        "SELECT id, channel, template, attempts, resends, status,
                COALESCE(last_error, '') AS last_error, COALESCE(next_attempt_at, '') AS at
         FROM outbox WHERE school_id = $1 AND status = 'queued' AND last_error IS NOT NULL
           AND key NOT LIKE '%/alert/%'
         ORDER BY id DESC LIMIT 10",
    )
    .await?;
    let alerts = sqlx::query(
        "SELECT a.id, a.recipient_role, a.channel, a.attempts, a.status,
                COALESCE(a.last_error, '') AS last_error, COALESCE(a.next_attempt_at, '') AS at,
                (SELECT f.id FROM outbox f WHERE f.key = a.key || '/fallback') AS fallback,
                (SELECT f.status FROM outbox f WHERE f.key = a.key || '/fallback') AS fallback_status
         FROM outbox a
         WHERE a.school_id = $1 AND a.status IN ('queued', 'sending') AND a.key LIKE '%/alert/%'
         ORDER BY a.id DESC LIMIT 20",
    )
    .bind(id.0)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|r| -> Result<String> {
        let attempts: i64 = r.try_get("attempts")?;
        let error: String = r.try_get("last_error")?;
        let at: String = r.try_get("at")?;
        let mut line = format!(
            "#{} {} to {}",
            r.try_get::<i64, _>("id")?,
            r.try_get::<String, _>("channel")?,
            crate::delivery::role_words(&r.try_get::<String, _>("recipient_role")?).to_lowercase()
        );
        if attempts == 0 {
            line.push_str(": not tried yet");
        } else {
            line.push_str(&format!(", {attempts} attempt(s) failed"));
            if !error.is_empty() {
                line.push_str(&format!(": {error}"));
            }
        }
        match r.try_get::<String, _>("status")?.as_str() {
            "sending" => line.push_str("; being sent now"),
            _ if !at.is_empty() => line.push_str(&format!("; next attempt {at}")),
            _ => {}
        }
        if let Some(fallback) = r.try_get::<Option<i64>, _>("fallback")? {
            let status: Option<String> = r.try_get("fallback_status")?;
            line.push_str(&format!(
                "; fallback #{fallback} {}",
                status.unwrap_or_default()
            ));
        }
        Ok(line)
    })
    .collect::<Result<Vec<_>>>()?;
    let resends: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(resends), 0) AS BIGINT) FROM outbox WHERE school_id = $1",
    )
    .bind(id.0)
    .fetch_one(store.pool())
    .await?;
    let resent = lines(
        "SELECT id, channel, template, attempts, resends, status,
                '' AS last_error, COALESCE(sent_at, '') AS at
         FROM outbox WHERE school_id = $1 AND resends > 0 ORDER BY id DESC LIMIT 10",
    )
    .await?;
    let last_import = sqlx::query(
        "SELECT file, imported_at, outcome FROM register_polls WHERE school_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(id.0)
    .fetch_optional(store.pool())
    .await?
    .map(|r| -> Result<String> {
        Ok(format!(
            "{} at {}: {}",
            r.try_get::<String, _>(0)?,
            r.try_get::<String, _>(1)?,
            r.try_get::<String, _>(2)?
        ))
    })
    .transpose()?;
    let mut last_imports = Vec::new();
    let recent = sqlx::query(
        "SELECT file, imported_at, outcome FROM register_polls WHERE school_id = $1 ORDER BY id DESC LIMIT 500",
    )
    .bind(id.0)
    .fetch_all(store.pool())
    .await?;
    for kind in ["pupils", "contacts", "marks"] {
        let newest = recent.iter().find(|r| {
            r.try_get::<String, _>(0)
                .is_ok_and(|f| f.to_lowercase().starts_with(kind))
        });
        last_imports.push(match newest {
            Some(r) => format!(
                "{kind}: {} at {}: {}",
                r.try_get::<String, _>(0)?,
                r.try_get::<String, _>(1)?,
                r.try_get::<String, _>(2)?
            ),
            None => format!("{kind}: none in the last 500 exports"),
        });
    }
    let replies = if config.replies.enabled {
        let read: Option<String> = sqlx::query_scalar("SELECT MAX(walked_at) FROM reply_polls")
            .fetch_one(store.pool())
            .await?;
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM replies r
             WHERE r.received_at >= $1
               AND NOT EXISTS (SELECT 1 FROM reply_outcomes o
                               WHERE o.reply_id = r.id AND o.school_id = $2)
               AND (EXISTS (SELECT 1 FROM reply_candidates c
                            WHERE c.reply_id = r.id AND c.school_id = $2)
                    OR NOT EXISTS (SELECT 1 FROM reply_candidates c WHERE c.reply_id = r.id))",
        )
        .bind(crate::schedule::instant_text(
            now - chrono::Duration::days(7),
        ))
        .bind(id.0)
        .fetch_one(store.pool())
        .await?;
        Some(format!(
            "{waiting} of the last 7 days' waiting for a person; last read from the provider: {}",
            read.as_deref().unwrap_or(
                "never (Twilio posts them to the console; Notify is read by the daemon)"
            )
        ))
    } else {
        None
    };
    Ok(SchoolStatus {
        replies,
        school: school.id.clone(),
        daemon,
        last_runs,
        next_runs,
        outbox,
        failed,
        retrying,
        alerts,
        resends,
        resent,
        last_import,
        last_imports,
    })
}

pub fn write_text(s: &SchoolStatus, out: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(out, "School {}", s.school)?;
    match &s.daemon {
        Some((holder, until)) => writeln!(out, "  daemon: {holder} (lease until {until})")?,
        None => writeln!(out, "  daemon: none running for this school")?,
    }
    let counts: Vec<String> = s.outbox.iter().map(|(k, v)| format!("{v} {k}")).collect();
    writeln!(
        out,
        "  outbox: {}",
        if counts.is_empty() {
            "empty".to_owned()
        } else {
            counts.join(", ")
        }
    )?;
    if let Some(import) = &s.last_import {
        writeln!(out, "  last register import: {import}")?;
    }
    if let Some(replies) = &s.replies {
        writeln!(out, "  parents' replies: {replies}")?;
    }
    writeln!(out, "  last runs:")?;
    if s.last_runs.is_empty() {
        writeln!(out, "    none yet")?;
    }
    for r in &s.last_runs {
        writeln!(out, "    {:<13} {}  {}", r.job, r.due, r.outcome)?;
    }
    writeln!(out, "  next runs:")?;
    for (job, at) in &s.next_runs {
        writeln!(out, "    {job:<13} {at}")?;
    }
    if !s.failed.is_empty() {
        writeln!(out, "  failed:")?;
        for f in &s.failed {
            writeln!(out, "    {f}")?;
        }
    }
    if !s.retrying.is_empty() {
        writeln!(out, "  retrying:")?;
        for f in &s.retrying {
            writeln!(out, "    {f}")?;
        }
    }
    if !s.alerts.is_empty() {
        writeln!(
            out,
            "  alerts not delivered yet (retried until they are; `folded` in the outbox line are inside a digest alert):"
        )?;
        for a in &s.alerts {
            writeln!(out, "    {a}")?;
        }
    }
    if s.resends > 0 {
        writeln!(
            out,
            "  sent again after an unknown outcome: {} time(s); the recipient may have a second copy (email cannot be asked):",
            s.resends
        )?;
        for r in &s.resent {
            writeln!(out, "    {r}")?;
        }
    }
    Ok(())
}
