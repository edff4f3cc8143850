//! Cases: each pupil in escalation has one open case, its current stage and its history.
//! This module loads what the engine needs to know about cases between runs; the case's
//! transitions are written with the decisions that caused them, in [`crate::delivery::outbox::record`].

use std::collections::HashMap;

use anyhow::{Context as _, Result};
use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;
use sqlx::Row;

use crate::register::store::{LeaveOut, SchoolId, Store, StoredRow};

/// A pupil's open case.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CaseState {
    pub opened_on: NaiveDate,
    pub stage: String,
    pub stage_entered: NaiveDate,
}

/// What the engine remembers per pupil and stage between runs: whether the trigger held last
/// time and since when (the episode an `episode` stage fires once for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageMemory {
    pub active_since: Option<NaiveDate>,
}

/// A decision an earlier run made, as much of it as later runs need: to re-check one still
/// waiting against the register, and to count what an earlier penalty-notice review counted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PastDecision {
    pub id: i64,
    pub stage: String,
    pub anchor: String,
    /// School-local time.
    pub decided_at: NaiveDateTime,
    pub reason: String,
    /// Some of its messages still wait (for a person, or to be sent).
    pub waiting: bool,
    /// The pupil's case as the decision found it (`None`: no open case).
    pub case_before: Option<CaseState>,
    /// The time of the decision of the same stage before this one (not withdrawn), if any.
    pub previous: Option<NaiveDateTime>,
}

/// Open cases, stage memory and decisions for a school, by pupil id.
#[derive(Debug, Default)]
pub struct EscalationState {
    pub cases: HashMap<i64, CaseState>,
    pub memory: HashMap<i64, HashMap<String, StageMemory>>,
    /// Per pupil: each stage's latest decision that was not withdrawn, and every decision
    /// whose messages still wait.
    pub history: HashMap<i64, Vec<PastDecision>>,
    /// When the school's previous escalation pass ran (school-local time).
    pub previous_pass: Option<NaiveDateTime>,
}

/// Decision times are stored as school-local "YYYY-MM-DDTHH:MM:SS".
pub(crate) fn parse_time(text: &str, what: &str) -> Result<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .with_context(|| format!("the database holds \"{text}\" as {what}, which is not a time"))
}

pub(crate) fn parse_date(text: &str, what: &str) -> Result<NaiveDate> {
    if let Some(date) = crate::register::session::stored_date(text) {
        return Ok(date);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("the database holds \"{text}\" as {what}, which is not a date"))
}

pub async fn load(store: &Store, school: SchoolId, as_of: NaiveDate) -> Result<EscalationState> {
    load_except(store, school, as_of, None).await
}

/// The escalation state of the pupils an incremental pass evaluates: every pupil but those
/// `quiet` leaves out (all of them without it).
pub async fn load_except(
    store: &Store,
    school: SchoolId,
    as_of: NaiveDate,
    quiet: Option<&LeaveOut>,
) -> Result<EscalationState> {
    let mut state = EscalationState::default();
    let sql = format!(
        "SELECT pupil_id, opened_on, stage, stage_entered FROM cases
         WHERE school_id = $1 AND closed_on IS NULL{}",
        LeaveOut::condition(quiet, "cases.pupil_id", 2)
    );
    let cases = store.rows_except(sql, school, quiet, |row| {
        Ok((
            row.int(0)?,
            CaseState {
                opened_on: parse_date(row.text(1)?, "a case's opening date")?,
                stage: row.text(2)?.to_owned(),
                stage_entered: parse_date(row.text(3)?, "a case's stage date")?,
            },
        ))
    });
    let sql = format!(
        "SELECT pupil_id, stage, active_since FROM stage_memory
         WHERE school_id = $1 AND active_since IS NOT NULL{}",
        LeaveOut::condition(quiet, "stage_memory.pupil_id", 2)
    );
    let memory = store.rows_except(sql, school, quiet, |row| {
        let since = parse_date(row.text(2)?, "a trigger's start")?;
        Ok((row.int(0)?, row.text(1)?.to_owned(), since))
    });
    // Each stage's latest decision per pupil (not withdrawn) within the last thirteen months:
    // what a penalty-notice review counted, whether a yearly step was taken. Then every
    // decision whose messages still wait, to be re-checked. (The horizon is a date this
    // function formats, written into the statement so that the school is its one placeholder.)
    let horizon = as_of - chrono::Days::new(400);
    let sql = format!(
        "SELECT d.id, d.pupil_id, d.stage, d.anchor, d.decided_at, d.reason, d.case_before
         FROM decisions d
         JOIN (SELECT MAX(id) AS id FROM decisions
               WHERE school_id = $1 AND withdrawn_at IS NULL AND decided_at >= '{horizon}'{}
               GROUP BY pupil_id, stage) m ON m.id = d.id
         ORDER BY d.id",
        LeaveOut::condition(quiet, "decisions.pupil_id", 2)
    );
    let latest = store.rows_except(sql, school, quiet, |row| past_decision(row, false));
    let sql = format!(
        "SELECT DISTINCT d.id, d.pupil_id, d.stage, d.anchor, d.decided_at, d.reason, d.case_before,
                (SELECT MAX(p.decided_at) FROM decisions p
                 WHERE p.school_id = d.school_id AND p.pupil_id = d.pupil_id AND p.stage = d.stage
                   AND p.id < d.id AND p.withdrawn_at IS NULL) AS previous
         FROM outbox o
         JOIN outbox_items i ON i.outbox_id = o.id AND i.cancelled_reason IS NULL
         JOIN decisions d ON d.id = i.decision_id AND d.withdrawn_at IS NULL
         WHERE o.school_id = $1 AND o.status IN ('awaiting_approval', 'queued'){}
         ORDER BY d.id",
        LeaveOut::condition(quiet, "d.pupil_id", 2)
    );
    let waiting = store.rows_except(sql, school, quiet, |row| past_decision(row, true));
    // The four reads are independent; made straight from the SQLite file, they run side by
    // side, each on its own connection.
    let (cases, memory, latest, waiting) = tokio::try_join!(cases, memory, latest, waiting)?;
    state.cases.extend(cases);
    for (pupil, stage, since) in memory {
        state.memory.entry(pupil).or_default().insert(
            stage,
            StageMemory {
                active_since: Some(since),
            },
        );
    }
    let waiting_ids: std::collections::HashSet<i64> = waiting.iter().map(|(_, d)| d.id).collect();
    for (pupil, decision) in latest {
        if !waiting_ids.contains(&decision.id) {
            state.history.entry(pupil).or_default().push(decision);
        }
    }
    for (pupil, decision) in waiting {
        state.history.entry(pupil).or_default().push(decision);
    }
    let last: Option<String> = sqlx::query_scalar("SELECT last_pass_at FROM schools WHERE id = $1")
        .bind(school.0)
        .fetch_optional(store.pool())
        .await?
        .flatten();
    state.previous_pass = last
        .map(|t| parse_time(&t, "the last escalation pass"))
        .transpose()?;
    Ok(state)
}

/// A decision row of [`load_except`]'s two reads, with its pupil's id: id, pupil, stage,
/// anchor, time, reason, case before and (for one still waiting) the time of the one before.
fn past_decision(row: &dyn StoredRow, waiting: bool) -> Result<(i64, PastDecision)> {
    let previous = if waiting { row.optional_text(7)? } else { None };
    Ok((
        row.int(1)?,
        PastDecision {
            id: row.int(0)?,
            stage: row.text(2)?.to_owned(),
            anchor: row.text(3)?.to_owned(),
            decided_at: parse_time(row.text(4)?, "a decision's time")?,
            reason: row.text(5)?.to_owned(),
            waiting,
            case_before: row
                .optional_text(6)?
                .map(serde_json::from_str)
                .transpose()
                .context("a stored decision's case is not the JSON rollcall writes")?,
            previous: previous
                .map(|t| parse_time(t, "a decision's time"))
                .transpose()?,
        },
    ))
}

/// One step of a pupil's case history, with the reason and figures behind it.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    pub at: String,
    pub from_stage: Option<String>,
    pub to_stage: Option<String>,
    pub reason: String,
    pub facts: serde_json::Value,
}

/// Every transition of every case a pupil has had, oldest first.
pub async fn history(store: &Store, school: SchoolId, pupil_id: i64) -> Result<Vec<Transition>> {
    let rows = sqlx::query(
        "SELECT t.at, t.from_stage, t.to_stage, t.reason, t.facts
         FROM case_transitions t JOIN cases c ON c.id = t.case_id
         WHERE t.school_id = $1 AND c.pupil_id = $2 ORDER BY t.id",
    )
    .bind(school.0)
    .bind(pupil_id)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let facts: String = row.try_get("facts")?;
            Ok(Transition {
                at: row.try_get("at")?,
                from_stage: row.try_get("from_stage")?,
                to_stage: row.try_get("to_stage")?,
                reason: row.try_get("reason")?,
                facts: serde_json::from_str(&facts)
                    .context("a stored transition's facts are not JSON")?,
            })
        })
        .collect()
}
