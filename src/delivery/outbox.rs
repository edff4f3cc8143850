//! The outbox: every message rollcall will send, written in the same transaction as the
//! decision and case transition that caused it. Each decision is unique per (pupil, stage,
//! anchor), so recording the same evaluation twice, or again after a crash, adds nothing.
//!
//! Statuses here: `awaiting_approval` (a stage that needs a person, or a message a guard
//! held), `queued` (ready for a channel), `cancelled` (rejected, or its cause has gone) and
//! `expired` (a first-day message nobody approved in time). Sending is the channels' job.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use crate::escalation::policy::Policy;
use crate::escalation::stage::{Decision, Evaluation, PlannedAction};
use crate::register::store::{
    SchoolId, Store, connection_backend, forget_certificates, multi_row_sql,
};

const UNSENT: &str = "('awaiting_approval', 'queued')";
const TIME: &str = "%Y-%m-%dT%H:%M:%S";

/// What one recorded run changed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RecordSummary {
    /// Decisions new in this run.
    pub decisions: usize,
    /// Decisions this run made again, already recorded by an earlier run (nothing added).
    pub already_decided: usize,
    pub cases_opened: usize,
    pub cases_moved: usize,
    pub cases_closed: usize,
    /// Messages added to the outbox (siblings' messages to one person count once).
    pub queued: usize,
    pub awaiting_approval: usize,
    /// Waiting messages cancelled because their cause has gone.
    pub cancelled: usize,
    /// Waiting messages past their time to live.
    pub expired: usize,
    pub alerts: usize,
}

/// Records an evaluation made at `now` (school-local time): expires and re-checks waiting
/// messages, then writes new decisions, case transitions, outbox rows and stage memory, all
/// in one transaction.
pub async fn record(
    store: &Store,
    school: SchoolId,
    evaluation: &Evaluation,
    now: NaiveDateTime,
) -> Result<RecordSummary> {
    let mut tx = store.pool().begin().await?;
    let summary = record_in(&mut tx, school, evaluation, now).await?;
    tx.commit().await?;
    Ok(summary)
}

/// [`record`] in the caller's transaction, for a pass that writes its certificates in the
/// same commit (see [`crate::daemon::escalate_school`]).
pub async fn record_in(
    tx: &mut Transaction<'static, Any>,
    school: SchoolId,
    evaluation: &Evaluation,
    now: NaiveDateTime,
) -> Result<RecordSummary> {
    let mut summary = RecordSummary::default();
    let now_text = now.format(TIME).to_string();

    summary.expired = expire(tx, school, &now_text).await?;
    summary.cancelled = withdraw(tx, school, evaluation, &now_text).await?;
    write_memory(tx, school, evaluation).await?;

    // A run records hundreds of decisions and messages: each table is written in statements
    // of many rows, since a statement's round trip to the database costs more than its row.
    let fresh: Vec<&Decision> = evaluation
        .decisions
        .iter()
        .filter(|d| !d.already_recorded)
        .collect();
    summary.already_decided = evaluation.decisions.len() - fresh.len();
    let facts: Vec<String> = fresh
        .iter()
        .map(|d| serde_json::to_string(&d.facts))
        .collect::<Result<_, _>>()?;
    let mut ids = insert_decisions(tx, school, &fresh, &facts, &now_text).await?;
    // Each decision's id if this run inserted it; one recorded by an earlier run (or twice in
    // this one: the first holds) has none.
    let inserted: Vec<Option<i64>> = fresh
        .iter()
        .map(|d| ids.remove(&(d.pupil_id, d.stage.as_str(), d.anchor.as_str())))
        .collect();
    let recorded: Vec<&Decision> = fresh
        .iter()
        .zip(&inserted)
        .filter_map(|(decision, id)| id.map(|_| *decision))
        .collect();
    // The decisions, outbox items and stage memory written here have no insert triggers to
    // forget their pupils' certificates row by row: this one statement forgets them all, in
    // the same transaction (the outbox items are the recorded decisions').
    forget_certificates(
        tx,
        recorded
            .iter()
            .map(|d| d.pupil_id)
            .chain(evaluation.memory.iter().map(|(pupil_id, _, _)| *pupil_id)),
    )
    .await?;
    let mut opened = open_cases(tx, school, &recorded, &now_text).await?;
    let mut new_decisions: Vec<(i64, &Decision)> = Vec::new();
    let mut transitions: Vec<Transition<'_>> = Vec::new();
    for ((decision, facts), id) in fresh.iter().zip(&facts).zip(&inserted) {
        let Some(id) = *id else {
            summary.already_decided += 1;
            continue;
        };
        summary.decisions += 1;
        if let Some((from, to)) = &decision.transition
            && decision.moves_case_now()
        {
            let case_id = match opened.remove(&decision.pupil_id) {
                Some(case_id) => case_id,
                None => {
                    move_case(
                        tx,
                        school,
                        decision.pupil_id,
                        &decision.upn,
                        from.as_deref(),
                        to.as_deref(),
                        &now_text,
                    )
                    .await?
                }
            };
            transitions.push(Transition {
                case_id,
                decision_id: id,
                from: from.as_deref(),
                to: to.as_deref(),
                reason: &decision.reason,
                facts,
            });
            match (from, to) {
                (None, _) => summary.cases_opened += 1,
                (Some(_), Some(_)) => summary.cases_moved += 1,
                (Some(_), None) => summary.cases_closed += 1,
            }
        }
        new_decisions.push((id, decision));
    }
    insert_transitions(tx, school, &transitions, &now_text).await?;

    let messages = combine(&new_decisions);
    let outbox_ids = insert_messages(tx, school, &messages, &now_text).await?;
    let mut items: Vec<(i64, i64)> = Vec::new();
    let mut created: Vec<(i64, &str)> = Vec::new();
    for (message, &id) in messages.iter().zip(&outbox_ids) {
        items.extend(message.decision_ids.iter().map(|d| (id, *d)));
        if message.waits() {
            summary.awaiting_approval += 1;
            created.push((id, "awaiting_approval"));
        } else {
            summary.queued += 1;
            created.push((id, "queued"));
        }
    }
    for chunk in items.chunks(rows_per_statement(2)) {
        let sql = multi_row_sql(
            connection_backend(tx),
            "INSERT INTO outbox_items (outbox_id, decision_id) VALUES ",
            2,
            chunk.len(),
            "",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (outbox_id, decision_id) in chunk {
            query = query.bind(*outbox_id).bind(*decision_id);
        }
        query.execute(&mut **tx).await?;
    }
    for chunk in created.chunks(rows_per_statement(5)) {
        let sql = multi_row_sql(
            connection_backend(tx),
            "INSERT INTO outbox_events (outbox_id, at, event, actor, detail) VALUES ",
            5,
            chunk.len(),
            "",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (outbox_id, status) in chunk {
            query = query
                .bind(*outbox_id)
                .bind(now_text.as_str())
                .bind("created")
                .bind("rollcall")
                .bind(*status);
        }
        query.execute(&mut **tx).await?;
    }

    for alert in &evaluation.alerts {
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO outbox
                (school_id, key, channel, recipient_role, recipient, template, status,
                 requires_approval, hold_reason, created_at)
             VALUES ($1, $2, 'email', $3, $3, 'alert', 'queued', 0, $4, $5)
             ON CONFLICT (key) DO NOTHING RETURNING id",
        )
        .bind(school.0)
        .bind(format!("school-{}/alert/{}", school.0, alert.key))
        .bind(alert.to.as_str())
        .bind(&alert.message)
        .bind(&now_text)
        .fetch_optional(&mut **tx)
        .await?;
        if inserted.is_some() {
            summary.alerts += 1;
        }
    }
    sqlx::query("UPDATE schools SET last_pass_at = $1 WHERE id = $2")
        .bind(&now_text)
        .bind(school.0)
        .execute(&mut **tx)
        .await?;
    Ok(summary)
}

async fn event(
    tx: &mut Transaction<'_, Any>,
    outbox_id: i64,
    at: &str,
    event: &str,
    by: &str,
    detail: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO outbox_events (outbox_id, at, event, actor, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(outbox_id)
        .bind(at)
        .bind(event)
        .bind(by)
        .bind(detail)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Rows of a multi-row statement of `columns` columns: about 1,000 placeholders, which spares
/// most round trips to the database. (With numbered placeholders SQLite took n² to bind them;
/// see `multi_row_sql`. Recording the 09:45 run at 100,000 pupils: 131 ms with 700 numbered
/// ones a statement, 100–103 ms with 200 anonymous ones, 84–96 ms with 1,000.)
const fn rows_per_statement(columns: usize) -> usize {
    let rows = 1000 / columns;
    if rows == 0 { 1 } else { rows }
}

/// Inserts the decisions not yet recorded (one per pupil, stage and anchor; the rest are
/// skipped) and returns the new ones' ids by (pupil, stage, anchor).
async fn insert_decisions<'d>(
    tx: &mut Transaction<'_, Any>,
    school: SchoolId,
    decisions: &[&'d Decision],
    facts: &[String],
    now: &str,
) -> Result<std::collections::HashMap<(i64, &'d str, &'d str), i64>> {
    let mut ids = std::collections::HashMap::new();
    for (chunk, facts) in decisions
        .chunks(rows_per_statement(13))
        .zip(facts.chunks(rows_per_statement(13)))
    {
        let sql = multi_row_sql(
            connection_backend(tx),
            "INSERT INTO decisions
                (school_id, pupil_id, stage, anchor, trigger, reason, requires_approval, decided_at, facts,
                 case_from, case_to, transition, case_before) VALUES ",
            13,
            chunk.len(),
            " ON CONFLICT (pupil_id, stage, anchor) DO NOTHING RETURNING id, pupil_id, stage, anchor",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (decision, facts) in chunk.iter().zip(facts) {
            let case_before = decision
                .case_before
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?;
            let (case_from, case_to) = decision.transition.clone().unwrap_or_default();
            // A decision that needs a person moves the case only once a person approves it.
            let transition = decision.transition.as_ref().map(|_| {
                if decision.requires_approval {
                    "pending"
                } else {
                    "applied"
                }
            });
            query = query
                .bind(school.0)
                .bind(decision.pupil_id)
                .bind(decision.stage.as_str())
                .bind(decision.anchor.as_str())
                .bind(decision.trigger)
                .bind(decision.reason.as_str())
                .bind(i64::from(decision.requires_approval))
                .bind(now.to_owned())
                .bind(facts.as_str())
                .bind(case_from)
                .bind(case_to)
                .bind(transition)
                .bind(case_before);
        }
        let by_key: std::collections::HashMap<(i64, &str, &str), &'d Decision> = chunk
            .iter()
            .map(|d| ((d.pupil_id, d.stage.as_str(), d.anchor.as_str()), *d))
            .collect();
        for row in query.fetch_all(&mut **tx).await? {
            let (pupil, stage, anchor): (i64, String, String) =
                (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
            let Some(d) = by_key.get(&(pupil, stage.as_str(), anchor.as_str())) else {
                bail!("the database returned a decision this run did not insert");
            };
            ids.insert(
                (d.pupil_id, d.stage.as_str(), d.anchor.as_str()),
                row.try_get::<i64, _>(0)?,
            );
        }
    }
    Ok(ids)
}

/// Inserts the outbox rows of `messages` and returns their ids, in the same order.
async fn insert_messages(
    tx: &mut Transaction<'_, Any>,
    school: SchoolId,
    messages: &[Message],
    now: &str,
) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(messages.len());
    for chunk in messages.chunks(rows_per_statement(14)) {
        let sql = multi_row_sql(
            connection_backend(tx),
            "INSERT INTO outbox
                (school_id, key, channel, recipient_role, recipient, address, template, task, status,
                 requires_approval, hold_reason, created_at, not_before, expires_at) VALUES ",
            14,
            chunk.len(),
            " RETURNING id, key",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for message in chunk {
            let action = &message.action;
            let status = if message.waits() {
                "awaiting_approval"
            } else {
                "queued"
            };
            query = query
                .bind(school.0)
                .bind(message.key.as_str())
                .bind(action.channel.as_str())
                .bind(action.to.as_str())
                .bind(action.recipient.as_str())
                .bind(action.address.as_deref())
                .bind(action.template.as_str())
                .bind(action.task.map(|t| format!("{t:?}")))
                .bind(status)
                .bind(i64::from(action.requires_approval))
                .bind(action.held.as_deref())
                .bind(now.to_owned())
                .bind(action.not_before.map(|t| t.format(TIME).to_string()))
                .bind(action.expires_at.map(|t| t.format(TIME).to_string()));
        }
        let mut by_key = std::collections::HashMap::new();
        for row in query.fetch_all(&mut **tx).await? {
            by_key.insert(row.try_get::<String, _>(1)?, row.try_get::<i64, _>(0)?);
        }
        for message in chunk {
            let Some(id) = by_key.get(&message.key) else {
                bail!(
                    "the database returned no id for outbox message {}",
                    message.key
                );
            };
            ids.push(*id);
        }
    }
    Ok(ids)
}

/// A case moved by a decision, to record with it.
struct Transition<'a> {
    case_id: i64,
    decision_id: i64,
    from: Option<&'a str>,
    to: Option<&'a str>,
    reason: &'a str,
    facts: &'a str,
}

async fn insert_transitions(
    tx: &mut Transaction<'_, Any>,
    school: SchoolId,
    transitions: &[Transition<'_>],
    at: &str,
) -> Result<()> {
    for chunk in transitions.chunks(rows_per_statement(8)) {
        let sql = multi_row_sql(
            connection_backend(tx),
            "INSERT INTO case_transitions
                (school_id, case_id, decision_id, from_stage, to_stage, at, reason, facts) VALUES ",
            8,
            chunk.len(),
            "",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for t in chunk {
            query = query
                .bind(school.0)
                .bind(t.case_id)
                .bind(t.decision_id)
                .bind(t.from)
                .bind(t.to)
                .bind(at.to_owned())
                .bind(t.reason)
                .bind(t.facts);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Opens the cases of the pupils whose first move of their case in this run opens it, in
/// statements of many rows, and returns each one's case id by pupil: a run opens hundreds
/// (143 at 09:45 at 100,000 pupils), a statement's round trip each. Every later move of a
/// case in the run (opened, then moved on) is made by [`move_case`] in the decisions' order,
/// as is an opening after another move (a case closed, then a new one opened). `recorded` are
/// the decisions this run inserted, in the order `record` takes them.
async fn open_cases(
    tx: &mut Transaction<'_, Any>,
    school: SchoolId,
    recorded: &[&Decision],
    at: &str,
) -> Result<std::collections::HashMap<i64, i64>> {
    let today = at.get(..10).unwrap_or(at);
    let mut moved = std::collections::HashSet::new();
    let opens: Vec<(i64, &str)> = recorded
        .iter()
        .filter(|decision| decision.moves_case_now() && moved.insert(decision.pupil_id))
        .filter_map(|decision| match &decision.transition {
            Some((None, Some(to))) => Some((decision.pupil_id, to.as_str())),
            _ => None,
        })
        .collect();
    let mut opened = std::collections::HashMap::with_capacity(opens.len());
    for chunk in opens.chunks(rows_per_statement(5)) {
        let sql = multi_row_sql(
            connection_backend(tx),
            "INSERT INTO cases (school_id, pupil_id, opened_on, stage, stage_entered) VALUES ",
            5,
            chunk.len(),
            " RETURNING id, pupil_id",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (pupil_id, to) in chunk {
            query = query
                .bind(school.0)
                .bind(*pupil_id)
                .bind(today)
                .bind(*to)
                .bind(today);
        }
        let rows = query.fetch_all(&mut **tx).await.context(
            "cannot open a case: the pupil already has an open case (is another rollcall writing to this database?)",
        )?;
        for row in rows {
            opened.insert(row.try_get::<i64, _>(1)?, row.try_get::<i64, _>(0)?);
        }
    }
    Ok(opened)
}

/// Moves (opens, closes) a pupil's case and returns its id. `at` is school-local time; the
/// case's dates are its day.
async fn move_case(
    tx: &mut Transaction<'_, Any>,
    school: SchoolId,
    pupil_id: i64,
    upn: &str,
    from: Option<&str>,
    to: Option<&str>,
    at: &str,
) -> Result<i64> {
    let today = at.get(..10).unwrap_or(at).to_owned();
    let case_id: Option<i64> = match (from, to) {
        (None, Some(to)) => sqlx::query_scalar(
            "INSERT INTO cases (school_id, pupil_id, opened_on, stage, stage_entered)
             VALUES ($1, $2, $3, $4, $3) RETURNING id",
        )
        .bind(school.0)
        .bind(pupil_id)
        .bind(&today)
        .bind(to)
        .fetch_optional(&mut **tx)
        .await
        .context("cannot open a case: the pupil already has an open case (is another rollcall writing to this database?)")?,
        (Some(_), Some(to)) => sqlx::query_scalar(
            "UPDATE cases SET stage = $1, stage_entered = $2
             WHERE pupil_id = $3 AND closed_on IS NULL RETURNING id",
        )
        .bind(to)
        .bind(&today)
        .bind(pupil_id)
        .fetch_optional(&mut **tx)
        .await?,
        (Some(_), None) => sqlx::query_scalar(
            "UPDATE cases SET closed_on = $1 WHERE pupil_id = $2 AND closed_on IS NULL RETURNING id",
        )
        .bind(&today)
        .bind(pupil_id)
        .fetch_optional(&mut **tx)
        .await?,
        (None, None) => None,
    };
    case_id.with_context(|| {
        format!("pupil {upn}'s case was changed by someone else during this run; run again")
    })
}

async fn write_memory(
    tx: &mut Transaction<'_, Any>,
    school: SchoolId,
    evaluation: &Evaluation,
) -> Result<()> {
    for chunk in evaluation.memory.chunks(rows_per_statement(4)) {
        let sql = multi_row_sql(
            connection_backend(tx),
            "INSERT INTO stage_memory (school_id, pupil_id, stage, active_since) VALUES ",
            4,
            chunk.len(),
            " ON CONFLICT (pupil_id, stage) DO UPDATE SET active_since = excluded.active_since",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (pupil_id, stage, memory) in chunk {
            query = query
                .bind(school.0)
                .bind(*pupil_id)
                .bind(stage.as_str())
                .bind(memory.active_since.map(|d| d.to_string()));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Expires waiting messages whose time to live has passed.
async fn expire(tx: &mut Transaction<'_, Any>, school: SchoolId, now: &str) -> Result<usize> {
    let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT id FROM outbox WHERE school_id = $1 AND status IN {UNSENT}
         AND expires_at IS NOT NULL AND expires_at <= $2 ORDER BY id"
    )))
    .bind(school.0)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    for id in &ids {
        set_status(
            tx,
            *id,
            "expired",
            now,
            "rollcall",
            "its time to live passed before it was sent",
        )
        .await?;
    }
    Ok(ids.len())
}

async fn set_status(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    status: &str,
    at: &str,
    by: &str,
    detail: &str,
) -> Result<()> {
    sqlx::query("UPDATE outbox SET status = $1 WHERE id = $2")
        .bind(status)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    event(tx, id, at, status, by, detail).await
}

/// Withdraws the decisions the engine found without a cause (re-checked against the register
/// as of the moment each was made, see [`crate::escalation::stage::evaluate`]): each is marked withdrawn
/// with the reason, a case move waiting for its approval is dropped, and its messages still
/// waiting are cancelled. A combined message that still carries a sibling's live decision
/// keeps going, with the withdrawn one struck off.
async fn withdraw(
    tx: &mut Transaction<'_, Any>,
    school: SchoolId,
    evaluation: &Evaluation,
    now: &str,
) -> Result<usize> {
    let mut touched: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (decision_id, why) in &evaluation.withdrawn {
        mark_withdrawn(tx, school, *decision_id, why, now).await?;
        let outbox_ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT i.outbox_id FROM outbox_items i JOIN outbox o ON o.id = i.outbox_id
             WHERE i.decision_id = $1 AND i.cancelled_reason IS NULL AND o.status IN {UNSENT}"
        )))
        .bind(*decision_id)
        .fetch_all(&mut **tx)
        .await?;
        for outbox_id in outbox_ids {
            sqlx::query(
                "UPDATE outbox_items SET cancelled_reason = $1 WHERE outbox_id = $2 AND decision_id = $3",
            )
            .bind(why)
            .bind(outbox_id)
            .bind(*decision_id)
            .execute(&mut **tx)
            .await?;
            touched.entry(outbox_id).or_default().push(why.clone());
        }
    }
    let mut cancelled = 0;
    for (outbox_id, reasons) in touched {
        if settle_struck_off(tx, outbox_id, &reasons.join("; "), now).await? {
            cancelled += 1;
        }
    }
    Ok(cancelled)
}

/// Marks a decision withdrawn with the reason; a case move waiting for its approval is dropped.
async fn mark_withdrawn(
    tx: &mut Transaction<'_, Any>,
    school: SchoolId,
    decision_id: i64,
    why: &str,
    now: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE decisions SET withdrawn_at = $1, withdrawn_reason = $2,
             transition = CASE WHEN transition = 'pending' THEN 'dropped' ELSE transition END
         WHERE id = $3 AND school_id = $4 AND withdrawn_at IS NULL",
    )
    .bind(now)
    .bind(why)
    .bind(decision_id)
    .bind(school.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A waiting message some of whose decisions were struck off: cancelled when none is left,
/// else it goes on for the rest ("narrowed"). Returns whether it was cancelled.
async fn settle_struck_off(
    tx: &mut Transaction<'_, Any>,
    outbox_id: i64,
    why: &str,
    now: &str,
) -> Result<bool> {
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox_items WHERE outbox_id = $1 AND cancelled_reason IS NULL",
    )
    .bind(outbox_id)
    .fetch_one(&mut **tx)
    .await?;
    if live == 0 {
        set_status(tx, outbox_id, "cancelled", now, "rollcall", why).await?;
    } else {
        event(tx, outbox_id, now, "narrowed", "rollcall", why).await?;
    }
    Ok(live == 0)
}

/// What a parent's confirmed reply answers of one decision: its messages to the family still
/// waiting to go, and its call to the family (still waiting, or on `today`'s list), are
/// cancelled with `why`; what it tells staff (a social worker, the DSL) stands. A decision left
/// with nothing live is withdrawn, as one whose cause is gone. Returns (calls, other messages).
pub(crate) async fn answer_decision(
    tx: &mut Transaction<'_, Any>,
    school: SchoolId,
    decision_id: i64,
    why: &str,
    now: &str,
    today: NaiveDate,
) -> Result<(usize, usize)> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT o.id, o.status, o.channel, o.task FROM outbox_items i
         JOIN outbox o ON o.id = i.outbox_id
         WHERE i.decision_id = $1 AND o.school_id = $2 AND i.cancelled_reason IS NULL AND (
             (o.status IN {UNSENT} AND (o.recipient_role IN ({FAMILY})
                                        OR (o.channel = 'task' AND o.task = 'Call')))
             OR (o.status = 'delivered' AND o.channel = 'task' AND o.task = 'Call'
                 AND o.created_at >= $3))"
    )))
    .bind(decision_id)
    .bind(school.0)
    .bind(today.to_string())
    .fetch_all(&mut **tx)
    .await?;
    let (mut calls, mut messages) = (0, 0);
    for row in rows {
        let outbox_id: i64 = row.try_get("id")?;
        let status: String = row.try_get("status")?;
        let task: Option<String> = row.try_get("task")?;
        sqlx::query(
            "UPDATE outbox_items SET cancelled_reason = $1 WHERE outbox_id = $2 AND decision_id = $3",
        )
        .bind(why)
        .bind(outbox_id)
        .bind(decision_id)
        .execute(&mut **tx)
        .await?;
        if task.as_deref() == Some("Call") {
            calls += 1;
        } else {
            messages += 1;
        }
        if status != "delivered" {
            // (A call already on the list stays delivered: the list leaves out a cancelled item.)
            settle_struck_off(tx, outbox_id, why, now).await?;
        }
    }
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox_items WHERE decision_id = $1 AND cancelled_reason IS NULL",
    )
    .bind(decision_id)
    .fetch_one(&mut **tx)
    .await?;
    if live == 0 {
        mark_withdrawn(tx, school, decision_id, why, now).await?;
    }
    Ok((calls, messages))
}

/// The recipient roles that are the family, as the outbox stores them.
const FAMILY: &str = "'contacts', 'parental_responsibility', 'all_contacts'";

/// One outbox row to write: an action and the decisions it carries.
struct Message {
    key: String,
    action: PlannedAction,
    decision_ids: Vec<i64>,
}

impl Message {
    /// Whether it waits for a person (a stage that needs one, or a guard's hold).
    fn waits(&self) -> bool {
        self.action.requires_approval || self.action.held.is_some()
    }
}

/// One message per person per run: family messages on the same channel and template to the
/// same address (siblings' absences; two parents at one postal address) become one message
/// carrying every decision. Staff
/// messages and tasks stay one per pupil so each can be worked separately.
fn combine(decisions: &[(i64, &Decision)]) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::new();
    let mut by_address: BTreeMap<(&'static str, String, String), usize> = BTreeMap::new();
    for (id, decision) in decisions {
        for (index, action) in decision.actions.iter().enumerate() {
            let family_address = action
                .address
                .as_ref()
                .filter(|_| action.to.is_family())
                .map(|a| (action.channel.as_str(), action.template.clone(), a.clone()));
            if let Some(group) = &family_address
                && let Some(&at) = by_address.get(group)
            {
                let message = &mut out[at];
                if !message.decision_ids.contains(id) {
                    message.decision_ids.push(*id);
                }
                merge(&mut message.action, action);
                continue;
            }
            if let Some(group) = family_address {
                by_address.insert(group, out.len());
            }
            out.push(Message {
                key: format!("decision-{id}/action-{index}"),
                action: action.clone(),
                decision_ids: vec![*id],
            });
        }
    }
    out
}

/// Folds a sibling's action into a combined message: the strictest of each restraint wins.
fn merge(into: &mut PlannedAction, other: &PlannedAction) {
    // Two parents at one postal address get one letter addressed to both.
    if !into.recipient.split(" and ").any(|r| r == other.recipient) {
        into.recipient = format!("{} and {}", into.recipient, other.recipient);
    }
    into.requires_approval |= other.requires_approval;
    if into.held.is_none() {
        into.held.clone_from(&other.held);
    }
    into.not_before = into.not_before.max(other.not_before);
    into.expires_at = match (into.expires_at, other.expires_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
}

/// A message waiting for a person, with the pupils and stages it is about.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    pub id: i64,
    pub channel: String,
    pub recipient_role: String,
    pub recipient: String,
    pub template: String,
    pub hold_reason: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// (UPN, stage, reason) for each decision the message carries.
    pub about: Vec<(String, String, String)>,
}

impl Waiting {
    /// What the policy asks the approver to write for this message (an action's `note`).
    pub fn note_asked<'p>(&self, policy: &'p Policy) -> Option<&'p str> {
        let stage = self.about.first().map(|(_, stage, _)| stage.as_str())?;
        policy
            .stages
            .iter()
            .find(|s| s.id == stage)?
            .actions
            .iter()
            .find(|a| a.template == self.template && a.channel.as_str() == self.channel)?
            .note
            .as_deref()
    }
}

/// Every message awaiting approval, oldest first.
pub async fn pending(store: &Store, school: SchoolId) -> Result<Vec<Waiting>> {
    let rows = sqlx::query(
        "SELECT id, channel, recipient_role, recipient, template, hold_reason, created_at, expires_at
         FROM outbox WHERE school_id = $1 AND status = 'awaiting_approval' ORDER BY id",
    )
    .bind(school.0)
    .fetch_all(store.pool())
    .await?;
    let mut out: Vec<Waiting> = rows.iter().map(waiting_from_row).collect::<Result<_>>()?;
    let items = sqlx::query(
        "SELECT i.outbox_id, p.upn, d.stage, d.reason
         FROM outbox_items i JOIN outbox o ON o.id = i.outbox_id
         JOIN decisions d ON d.id = i.decision_id JOIN pupils p ON p.id = d.pupil_id
         WHERE o.school_id = $1 AND o.status = 'awaiting_approval' AND i.cancelled_reason IS NULL
         ORDER BY i.outbox_id, d.id",
    )
    .bind(school.0)
    .fetch_all(store.pool())
    .await?;
    for row in items {
        let id: i64 = row.try_get("outbox_id")?;
        if let Ok(at) = out.binary_search_by_key(&id, |w| w.id) {
            out[at].about.push((
                row.try_get("upn")?,
                row.try_get("stage")?,
                row.try_get("reason")?,
            ));
        }
    }
    Ok(out)
}

fn waiting_from_row(row: &AnyRow) -> Result<Waiting> {
    Ok(Waiting {
        id: row.try_get("id")?,
        channel: row.try_get("channel")?,
        recipient_role: row.try_get("recipient_role")?,
        recipient: row.try_get("recipient")?,
        template: row.try_get("template")?,
        hold_reason: row.try_get("hold_reason")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        about: Vec::new(),
    })
}

/// A person's decision on a waiting message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'a> {
    Approve,
    Reject { reason: &'a str },
}

/// Approves (→ queued) or rejects (→ cancelled) a message awaiting approval, recording who
/// and why. A message that is not waiting, or whose time has passed, is refused unchanged.
/// Approving also moves the case of each decision the message carries whose move waited for a
/// person (the case enters the stage on the day it is approved: that is when the school acts);
/// rejecting drops such a move once none of the decision's messages is left to approve.
pub async fn decide(
    store: &Store,
    school: SchoolId,
    policy: &Policy,
    id: i64,
    by: &str,
    verdict: Verdict<'_>,
    now: NaiveDateTime,
) -> Result<()> {
    decide_noted(store, school, policy, id, by, verdict, None, now).await
}

/// [`decide`], with the approver's note kept on the message in the same transaction (so the
/// message is never sent without it): what a policy action's `note` asks for, quoted by the
/// message as `note`.
#[allow(clippy::too_many_arguments)]
pub async fn decide_noted(
    store: &Store,
    school: SchoolId,
    policy: &Policy,
    id: i64,
    by: &str,
    verdict: Verdict<'_>,
    approval_note: Option<&str>,
    now: NaiveDateTime,
) -> Result<()> {
    let now_text = now.format(TIME).to_string();
    let mut tx = store.pool().begin().await?;
    let row = sqlx::query("SELECT status, expires_at FROM outbox WHERE id = $1 AND school_id = $2")
        .bind(id)
        .bind(school.0)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        bail!(
            "there is no message {id} for this school; `rollcall pending` lists the ones awaiting approval"
        );
    };
    let status: String = row.try_get("status")?;
    if status != "awaiting_approval" {
        bail!("message {id} is {status}, not awaiting approval; nothing changed");
    }
    let expires_at: Option<String> = row.try_get("expires_at")?;
    if verdict == Verdict::Approve
        && let Some(expiry) = expires_at.filter(|e| e.as_str() <= now_text.as_str())
    {
        bail!(
            "message {id} expired at {expiry} (a first-day message is only right on the morning it is about); nothing changed"
        );
    }
    let (status, event_name, note) = match verdict {
        Verdict::Approve => ("queued", "approved", approval_note),
        Verdict::Reject { reason } => ("cancelled", "rejected", Some(reason)),
    };
    sqlx::query(
        "UPDATE outbox SET status = $1, decided_by = $2, decided_at = $3, decision_note = $4 WHERE id = $5",
    )
    .bind(status)
    .bind(by)
    .bind(&now_text)
    .bind(note)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    event(&mut tx, id, &now_text, event_name, by, note.unwrap_or("")).await?;
    settle_pending_moves(&mut tx, school, policy, id, by, verdict, &now_text).await?;
    tx.commit().await?;
    Ok(())
}

/// The case moves waiting on message `id`'s decisions, applied (approved) or dropped (rejected
/// with nothing else of the decision left to approve).
async fn settle_pending_moves(
    tx: &mut Transaction<'_, Any>,
    school: SchoolId,
    policy: &Policy,
    id: i64,
    by: &str,
    verdict: Verdict<'_>,
    now: &str,
) -> Result<()> {
    let pending = sqlx::query(
        "SELECT d.id, d.pupil_id, p.upn, d.case_to, d.reason, d.facts
         FROM outbox_items i JOIN decisions d ON d.id = i.decision_id
         JOIN pupils p ON p.id = d.pupil_id
         WHERE i.outbox_id = $1 AND i.cancelled_reason IS NULL AND d.transition = 'pending'
         ORDER BY d.id",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    let rank = |stage: &str| policy.stages.iter().position(|s| s.id == stage);
    for row in pending {
        let decision_id: i64 = row.try_get("id")?;
        let pupil_id: i64 = row.try_get("pupil_id")?;
        if let Verdict::Reject { .. } = verdict {
            let still_waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM outbox_items i JOIN outbox o ON o.id = i.outbox_id
                 WHERE i.decision_id = $1 AND i.cancelled_reason IS NULL
                   AND o.status = 'awaiting_approval'",
            )
            .bind(decision_id)
            .fetch_one(&mut **tx)
            .await?;
            if still_waiting == 0 {
                set_transition(tx, decision_id, "dropped").await?;
            }
            continue;
        }
        let to: Option<String> = row.try_get("case_to")?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT stage FROM cases WHERE pupil_id = $1 AND closed_on IS NULL")
                .bind(pupil_id)
                .fetch_optional(&mut **tx)
                .await?;
        // The case may have moved on (or closed) while the decision waited: a move only ever
        // goes up the ladder, and a close needs an open case.
        let from = current.as_deref();
        let moves = match (from, to.as_deref()) {
            (None, Some(_)) => true,
            (Some(cur), Some(to)) => rank(to) > rank(cur),
            (Some(_), None) => true,
            (None, None) => false,
        };
        if !moves {
            set_transition(tx, decision_id, "dropped").await?;
            continue;
        }
        let upn: String = row.try_get("upn")?;
        let reason: String = row.try_get("reason")?;
        let facts: String = row.try_get("facts")?;
        let case_id = move_case(tx, school, pupil_id, &upn, from, to.as_deref(), now).await?;
        let reason = format!("{reason} (approved by {by})");
        let transition = Transition {
            case_id,
            decision_id,
            from,
            to: to.as_deref(),
            reason: &reason,
            facts: &facts,
        };
        insert_transitions(tx, school, &[transition], now).await?;
        set_transition(tx, decision_id, "applied").await?;
    }
    Ok(())
}

async fn set_transition(
    tx: &mut Transaction<'_, Any>,
    decision_id: i64,
    state: &str,
) -> Result<()> {
    sqlx::query("UPDATE decisions SET transition = $1 WHERE id = $2")
        .bind(state)
        .bind(decision_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Queues an email alert to the attendance officer, once per `key` (an alert raised again by
/// a later run or retry is not sent twice). The alert's text travels in `hold_reason`, which
/// the `alert` template prints.
pub async fn queue_alert(
    store: &Store,
    school: SchoolId,
    key: &str,
    message: &str,
    now: NaiveDateTime,
) -> Result<bool> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO outbox (school_id, key, channel, recipient_role, recipient, template,
                             status, requires_approval, hold_reason, created_at)
         VALUES ($1, $2, 'email', 'attendance_officer', 'attendance_officer', 'alert',
                 'queued', 0, $3, $4)
         ON CONFLICT (key) DO NOTHING RETURNING id",
    )
    .bind(school.0)
    .bind(format!("school-{}/alert/{key}", school.0))
    .bind(message)
    .bind(now.format(TIME).to_string())
    .fetch_optional(store.pool())
    .await?;
    Ok(inserted.is_some())
}

/// A message's status now, and its events oldest first (for tests and `rollcall status`).
pub async fn status_of(store: &Store, id: i64) -> Result<(String, Vec<(String, String, String)>)> {
    let status: String = sqlx::query_scalar("SELECT status FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_one(store.pool())
        .await?;
    let events = sqlx::query(
        "SELECT event, actor, detail FROM outbox_events WHERE outbox_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get("event")?,
            r.try_get("actor")?,
            r.try_get("detail")?,
        ))
    })
    .collect::<Result<_>>()?;
    Ok((status, events))
}
