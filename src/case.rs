//! Cases: each pupil in escalation has one open case, its current stage and its history.
//! This module loads what the engine needs to know about cases between runs; the case's
//! transitions are written with the decisions that caused them, in [`crate::outbox::record`].

use std::collections::HashMap;

use anyhow::{Context as _, Result};
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::Row;

use crate::store::{SchoolId, Store};

/// A pupil's open case.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// Open cases and stage memory for a school, by pupil id.
#[derive(Debug, Default)]
pub struct EscalationState {
    pub cases: HashMap<i64, CaseState>,
    pub memory: HashMap<i64, HashMap<String, StageMemory>>,
}

pub(crate) fn parse_date(text: &str, what: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("the database holds \"{text}\" as {what}, which is not a date"))
}

pub async fn load(store: &Store, school: SchoolId) -> Result<EscalationState> {
    let mut state = EscalationState::default();
    let rows = sqlx::query(
        "SELECT pupil_id, opened_on, stage, stage_entered FROM cases
         WHERE school_id = $1 AND closed_on IS NULL",
    )
    .bind(school.0)
    .fetch_all(store.pool())
    .await?;
    for row in rows {
        let opened_on: String = row.try_get("opened_on")?;
        let entered: String = row.try_get("stage_entered")?;
        state.cases.insert(
            row.try_get("pupil_id")?,
            CaseState {
                opened_on: parse_date(&opened_on, "a case's opening date")?,
                stage: row.try_get("stage")?,
                stage_entered: parse_date(&entered, "a case's stage date")?,
            },
        );
    }
    let rows = sqlx::query(
        "SELECT pupil_id, stage, active_since FROM stage_memory
         WHERE school_id = $1 AND active_since IS NOT NULL",
    )
    .bind(school.0)
    .fetch_all(store.pool())
    .await?;
    for row in rows {
        let since: String = row.try_get("active_since")?;
        state
            .memory
            .entry(row.try_get("pupil_id")?)
            .or_default()
            .insert(
                row.try_get("stage")?,
                StageMemory {
                    active_since: Some(parse_date(&since, "a trigger's start")?),
                },
            );
    }
    Ok(state)
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
