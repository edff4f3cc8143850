//! `rollcall status`: what the daemon did last, what is queued, awaiting approval or failed,
//! and when each job runs next, per school.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::config::{Config, SchoolConfig};
use crate::schedule::{self, JOBS, instant_text};
use crate::store::{SchoolId, Store};

#[derive(Debug, Serialize)]
pub struct SchoolStatus {
    pub school: String,
    /// The daemon holding the school's lease, and until when (UTC).
    pub daemon: Option<(String, String)>,
    pub last_runs: Vec<RunLine>,
    pub next_runs: Vec<(String, String)>,
    /// Messages by status.
    pub outbox: BTreeMap<String, i64>,
    pub failed: Vec<String>,
    pub retrying: Vec<String>,
    pub last_import: Option<String>,
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
    let lines = |status: &'static str| async move {
        sqlx::query(
            "SELECT id, channel, template, attempts, COALESCE(last_error, ''), COALESCE(next_attempt_at, '')
             FROM outbox WHERE school_id = $1 AND status = $2 AND (status = 'failed' OR last_error IS NOT NULL)
             ORDER BY id DESC LIMIT 10",
        )
        .bind(id.0)
        .bind(status)
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| -> Result<String> {
            let next: String = r.try_get(5)?;
            Ok(format!(
                "#{} {} {} after {} attempt(s): {}{}",
                r.try_get::<i64, _>(0)?,
                r.try_get::<String, _>(1)?,
                r.try_get::<String, _>(2)?,
                r.try_get::<i64, _>(3)?,
                r.try_get::<String, _>(4)?,
                if next.is_empty() { String::new() } else { format!("; next attempt {next}") }
            ))
        })
        .collect::<Result<Vec<_>>>()
    };
    let failed = lines("failed").await?;
    let retrying = lines("queued").await?;
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
    Ok(SchoolStatus {
        school: school.id.clone(),
        daemon,
        last_runs,
        next_runs,
        outbox,
        failed,
        retrying,
        last_import,
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
    Ok(())
}
