//! A person's decision about a reply: confirm it as the reason for a pupil's absence, or set
//! it aside. Confirming records the sessions it explains, withdraws what the absence caused
//! and has not gone yet (the call on today's list, a day-three message waiting), and puts the
//! reason on the office's list of codes to enter in the MIS. Nothing here writes a mark.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::Row as _;

use crate::register::session::Session;
use crate::register::store::{SchoolId, Store};
use crate::school::SchoolRuntime;

const TIME: &str = "%Y-%m-%dT%H:%M:%S";

/// The reasons a parent gives, as the office picks one, with the code it suggests for the MIS.
/// The MIS decides the code: a family holiday is `G` unless the head authorised it.
pub const REASONS: &[(&str, &str, &str)] = &[
    ("illness", "Illness", "I"),
    ("medical", "Medical or dental appointment", "M"),
    ("religious", "Religious observance", "R"),
    ("holiday", "Family holiday", "G"),
    ("late", "On the way, late", "L"),
    ("exceptional", "Exceptional circumstances", "C"),
    ("other", "Another reason (the MIS decides the code)", "?"),
];

/// The words and suggested code of a reason key, if it is one.
pub fn reason(key: &str) -> Option<(&'static str, &'static str)> {
    REASONS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, words, code)| (*words, *code))
}

/// The reason a reply's words suggest, offered and never applied: the first reason whose
/// words appear. Parents write "poorly", "sick", "D&V", "dentist", "Eid", "on holiday".
pub fn suggest(body: &str) -> &'static str {
    let text = body.to_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric() && c != '&')
        .filter(|w| !w.is_empty())
        .collect();
    let has = |list: &[&str]| list.iter().any(|w| words.contains(w));
    if has(&[
        "dentist",
        "doctor",
        "doctors",
        "gp",
        "hospital",
        "appointment",
        "appt",
        "orthodontist",
        "optician",
        "clinic",
    ]) {
        "medical"
    } else if has(&[
        "ill",
        "poorly",
        "sick",
        "unwell",
        "temperature",
        "fever",
        "vomiting",
        "d&v",
        "flu",
        "cold",
        "covid",
        "headache",
        "tummy",
        "migraine",
        "chickenpox",
        "ill.",
    ]) {
        "illness"
    } else if has(&[
        "eid",
        "diwali",
        "yom",
        "kippur",
        "vaisakhi",
        "religious",
        "festival",
        "mosque",
        "synagogue",
        "temple",
    ]) {
        "religious"
    } else if has(&["holiday", "abroad", "flight", "airport", "vacation"]) {
        "holiday"
    } else if has(&["late", "traffic", "overslept", "running", "way"]) {
        "late"
    } else {
        "other"
    }
}

/// What confirming a reply asks for.
#[derive(Debug, Clone)]
pub struct Confirmation {
    pub reply_id: i64,
    pub pupil_id: i64,
    /// The school days it explains, both ends included.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// A key of [`REASONS`].
    pub reason: String,
    /// Who confirmed it ("Jo Bloggs (attendance officer)").
    pub by: String,
}

/// What confirming changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confirmed {
    /// Sessions now explained, waiting for their code in the MIS.
    pub sessions: usize,
    /// Calls taken off the call list.
    pub calls_removed: usize,
    /// Messages to the family (or its decisions' other messages) withdrawn before they went.
    pub messages_cancelled: usize,
}

/// Why a confirmation was refused: said to the person, nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("this reply was already {0}")]
    AlreadyDecided(String),
    #[error("this reply is not from a contact of that pupil")]
    NotACandidate,
    #[error("{0}")]
    BadDays(String),
    #[error("\"{0}\" is not a reason: choose one of the list")]
    BadReason(String),
}

/// The time a reply arrived, in the school's local time.
async fn received_local(
    store: &Store,
    school: &SchoolRuntime,
    reply_id: i64,
) -> Result<NaiveDateTime> {
    let received: String = sqlx::query_scalar("SELECT received_at FROM replies WHERE id = $1")
        .bind(reply_id)
        .fetch_optional(store.pool())
        .await?
        .context("there is no such reply")?;
    let at = DateTime::parse_from_rfc3339(&received)
        .with_context(|| format!("reply {reply_id}: stored time \"{received}\" is not RFC 3339"))?
        .with_timezone(&Utc);
    Ok(crate::schedule::to_local(school.config.timezone, at))
}

/// Confirms a reply as the reason for a pupil's absence on the school days `from..=to`.
/// One transaction: the decision, the sessions it explains, and the withdrawals stand or fall
/// together; a second confirmation of the same reply (two people at once) is refused.
pub async fn confirm(
    store: &Store,
    school: &SchoolRuntime,
    c: &Confirmation,
    now: NaiveDateTime,
) -> Result<std::result::Result<Confirmed, Refused>> {
    let Some((words, code)) = reason(&c.reason) else {
        return Ok(Err(Refused::BadReason(c.reason.clone())));
    };
    if c.to < c.from {
        return Ok(Err(Refused::BadDays(
            "the last day it explains is before the first".into(),
        )));
    }
    let days = school.config.calendar.school_days_between(c.from, c.to);
    if days.is_empty() {
        return Ok(Err(Refused::BadDays(format!(
            "there is no school day from {} to {}",
            c.from, c.to
        ))));
    }
    if days.len() > 10 {
        return Ok(Err(Refused::BadDays(
            "a reply explains at most 10 school days: ask the family for a note for a longer absence"
                .into(),
        )));
    }
    let candidate: Option<String> = sqlx::query_scalar(
        "SELECT absent_days FROM reply_candidates
         WHERE reply_id = $1 AND pupil_id = $2 AND school_id = $3",
    )
    .bind(c.reply_id)
    .bind(c.pupil_id)
    .bind(school.id.0)
    .fetch_optional(store.pool())
    .await?;
    let Some(absent_days) = candidate else {
        return Ok(Err(Refused::NotACandidate));
    };
    // Days that miss every unexplained day of the chosen pupil are another child's (the form's
    // dates start from the first candidate's): said, not stored.
    let absent: Vec<NaiveDate> = absent_days
        .split(',')
        .filter_map(|d| d.parse().ok())
        .collect();
    if !absent.is_empty() && !absent.iter().any(|d| days.contains(d)) {
        return Ok(Err(Refused::BadDays(format!(
            "none of the days chosen is one this pupil was away without a reason ({}): check the dates",
            absent
                .iter()
                .map(|d| d.format("%a %-d %b").to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))));
    }
    let replied = received_local(store, school, c.reply_id).await?;
    let why = format!(
        "parent replied at {} on {}: {}",
        replied.format("%H:%M"),
        replied.format("%a %-d %b"),
        words.to_lowercase()
    );
    let now_text = now.format(TIME).to_string();
    let mut tx = store.pool().begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO reply_outcomes (reply_id, school_id, pupil_id, outcome, reason, code,
                                     explains_from, explains_to, decided_by, decided_at)
         VALUES ($1, $2, $3, 'confirmed', $4, $5, $6, $7, $8, $9)
         ON CONFLICT (reply_id, school_id, pupil_id) DO NOTHING",
    )
    .bind(c.reply_id)
    .bind(school.id.0)
    .bind(c.pupil_id)
    .bind(&c.reason)
    .bind(code)
    .bind(c.from.to_string())
    .bind(c.to.to_string())
    .bind(&c.by)
    .bind(&now_text)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        drop(tx);
        return Ok(Err(Refused::AlreadyDecided(
            decided_words(store, c.reply_id, school.id, c.pupil_id).await?,
        )));
    }
    let mut out = Confirmed::default();
    for day in days {
        for session in [Session::Am, Session::Pm] {
            out.sessions += sqlx::query(
                "INSERT INTO reply_explanations (school_id, pupil_id, day, session, code, reason,
                                                 reply_id, confirmed_by, confirmed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (pupil_id, day, session) DO NOTHING",
            )
            .bind(school.id.0)
            .bind(c.pupil_id)
            .bind(day.to_string())
            .bind(session.as_str())
            .bind(code)
            .bind(words)
            .bind(c.reply_id)
            .bind(&c.by)
            .bind(&now_text)
            .execute(&mut *tx)
            .await?
            .rows_affected() as usize;
        }
    }

    // The decisions the reply answers: those of stages a reply answers whose every day (from
    // the episode's first to the day decided) it explains. What they tell the family, and the
    // office's call, come off; what they tell staff stands.
    let answered: Vec<&str> = school
        .policy
        .stages
        .iter()
        .filter(|s| s.answered_by_reply)
        .map(|s| s.id.as_str())
        .collect();
    let rows = sqlx::query(
        "SELECT id, stage, anchor, decided_at FROM decisions
         WHERE school_id = $1 AND pupil_id = $2 AND withdrawn_at IS NULL
           AND SUBSTR(decided_at, 1, 10) >= $3 AND SUBSTR(decided_at, 1, 10) <= $4",
    )
    .bind(school.id.0)
    .bind(c.pupil_id)
    .bind(c.from.to_string())
    .bind(c.to.to_string())
    .fetch_all(&mut *tx)
    .await?;
    for row in rows {
        let stage: String = row.try_get("stage")?;
        if !answered.contains(&stage.as_str()) {
            continue;
        }
        let decided: String = row.try_get("decided_at")?;
        let Ok(decided) = decided.get(..10).unwrap_or_default().parse::<NaiveDate>() else {
            continue;
        };
        let anchor: String = row.try_get("anchor")?;
        let first = anchor.parse::<NaiveDate>().unwrap_or(decided).min(decided);
        let about = school.config.calendar.school_days_between(first, decided);
        if !about.iter().all(|d| days.contains(d)) {
            continue;
        }
        let (calls, messages) = crate::delivery::outbox::answer_decision(
            &mut tx,
            school.id,
            row.try_get("id")?,
            &why,
            &now_text,
            now.date(),
        )
        .await?;
        out.calls_removed += calls;
        out.messages_cancelled += messages;
    }
    tx.commit().await?;
    tracing::info!(
        school = %school.config.id,
        reply = c.reply_id,
        sessions = out.sessions,
        calls_removed = out.calls_removed,
        messages_cancelled = out.messages_cancelled,
        "reply confirmed"
    );
    Ok(Ok(out))
}

/// Sets a reply aside: not about an absence, or not this school's to answer.
pub async fn set_aside(
    store: &Store,
    school: &SchoolRuntime,
    reply_id: i64,
    by: &str,
    now: NaiveDateTime,
) -> Result<std::result::Result<(), Refused>> {
    let visible: Option<i64> = sqlx::query_scalar(
        "SELECT r.id FROM replies r WHERE r.id = $1 AND (
             EXISTS (SELECT 1 FROM reply_candidates c WHERE c.reply_id = r.id AND c.school_id = $2)
             OR NOT EXISTS (SELECT 1 FROM reply_candidates c WHERE c.reply_id = r.id))",
    )
    .bind(reply_id)
    .bind(school.id.0)
    .fetch_optional(store.pool())
    .await?;
    if visible.is_none() {
        return Ok(Err(Refused::NotACandidate));
    }
    let inserted = sqlx::query(
        "INSERT INTO reply_outcomes (reply_id, school_id, pupil_id, outcome, decided_by, decided_at)
         VALUES ($1, $2, 0, 'set_aside', $3, $4) ON CONFLICT (reply_id, school_id, pupil_id) DO NOTHING",
    )
    .bind(reply_id)
    .bind(school.id.0)
    .bind(by)
    .bind(now.format(TIME).to_string())
    .execute(store.pool())
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(Err(Refused::AlreadyDecided(
            decided_words(store, reply_id, school.id, 0).await?,
        )));
    }
    Ok(Ok(()))
}

/// "confirmed by Jo Bloggs at 09:52" for a reply someone already decided, for this pupil (or,
/// with pupil 0, set aside) at this school.
async fn decided_words(
    store: &Store,
    reply_id: i64,
    school: SchoolId,
    pupil_id: i64,
) -> Result<String> {
    let row = sqlx::query(
        "SELECT outcome, decided_by, decided_at FROM reply_outcomes
         WHERE reply_id = $1 AND school_id = $2 AND pupil_id = $3",
    )
    .bind(reply_id)
    .bind(school.0)
    .bind(pupil_id)
    .fetch_one(store.pool())
    .await?;
    let outcome: String = row.try_get("outcome")?;
    let by: String = row.try_get("decided_by")?;
    let at: String = row.try_get("decided_at")?;
    Ok(format!(
        "{} by {by} at {}",
        if outcome == "confirmed" {
            "confirmed for this pupil"
        } else {
            "set aside"
        },
        at.get(11..16).unwrap_or_default()
    ))
}

/// For each pupil, the sessions confirmed replies explain, from a month before `as_of` on
/// (the engine asks only about today; a month covers any re-check of a waiting decision).
pub async fn explained_sessions(
    store: &Store,
    school: SchoolId,
    as_of: NaiveDate,
) -> Result<HashMap<i64, Vec<(NaiveDate, Session)>>> {
    let rows = sqlx::query(
        "SELECT pupil_id, day, session FROM reply_explanations WHERE school_id = $1 AND day >= $2",
    )
    .bind(school.0)
    .bind((as_of - chrono::Days::new(31)).to_string())
    .fetch_all(store.pool())
    .await?;
    let mut out: HashMap<i64, Vec<(NaiveDate, Session)>> = HashMap::new();
    for row in rows {
        let day: String = row.try_get("day")?;
        let session: String = row.try_get("session")?;
        let (Ok(day), Some(session)) = (day.parse::<NaiveDate>(), Session::parse(&session)) else {
            continue;
        };
        out.entry(row.try_get("pupil_id")?)
            .or_default()
            .push((day, session));
    }
    Ok(out)
}

/// Queues the thank-you text for a reply from a contact's number, once per family per school
/// day, held to the end of quiet hours, for a reply taken within 12 hours of arriving. It names
/// the pupils whose absence it may answer by forename only (a text shows on a lock screen); a
/// number that is no contact's gets nothing, since rollcall cannot know who it is writing to.
pub async fn queue_acknowledgement(
    store: &Store,
    schools: &[Arc<SchoolRuntime>],
    reply_id: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    let rows = sqlx::query(
        "SELECT c.school_id, c.pupil_id, c.contact_name, c.relationship, c.absent_days,
                p.forename, r.from_number
         FROM reply_candidates c JOIN pupils p ON p.id = c.pupil_id
         JOIN replies r ON r.id = c.reply_id
         WHERE c.reply_id = $1 ORDER BY c.school_id, p.forename",
    )
    .bind(reply_id)
    .fetch_all(store.pool())
    .await?;
    let Some(first) = rows.first() else {
        return Ok(());
    };
    // A reply found late (the first read of Notify's last week, a daemon back after days) is
    // not thanked: a thank-you a day later reads as a mistake.
    let received: String = sqlx::query_scalar("SELECT received_at FROM replies WHERE id = $1")
        .bind(reply_id)
        .fetch_one(store.pool())
        .await?;
    let received = DateTime::parse_from_rfc3339(&received)
        .with_context(|| format!("reply {reply_id}: stored time \"{received}\" is not RFC 3339"))?;
    if now.signed_duration_since(received) > chrono::Duration::hours(12) {
        return Ok(());
    }
    let school_id: i64 = first.try_get("school_id")?;
    let Some(school) = schools.iter().find(|s| s.id.0 == school_id) else {
        return Ok(());
    };
    let number: String = first.try_get("from_number")?;
    let contact: String = first.try_get("contact_name")?;
    let relationship: String = first.try_get("relationship")?;
    let mut names = Vec::new();
    let mut family = Vec::new();
    for row in rows
        .iter()
        .filter(|r| r.try_get::<i64, _>("school_id").ok() == Some(school_id))
    {
        let absent: String = row.try_get("absent_days")?;
        family.push(row.try_get::<i64, _>("pupil_id")?);
        if !absent.is_empty() {
            names.push(row.try_get::<String, _>("forename")?);
        }
    }
    family.sort_unstable();
    let local = crate::schedule::to_local(school.config.timezone, now);
    let ctx = crate::escalation::stage::Context {
        policy: &school.policy,
        school: &school.config,
        now: local,
        previous_pass: None,
    };
    let not_before = crate::escalation::guard::quiet_hours_end(&ctx);
    let about = crate::delivery::message::join_names(&names);
    let key = format!(
        "school-{}/reply-ack/{}/{}",
        school.id.0,
        family.first().copied().unwrap_or_default(),
        not_before.unwrap_or(local).date()
    );
    sqlx::query(
        "INSERT INTO outbox (school_id, key, channel, recipient_role, recipient, address,
                             template, status, requires_approval, hold_reason, created_at,
                             not_before)
         VALUES ($1, $2, 'sms', 'contacts', $3, $4, 'reply_acknowledgement', 'queued', 0, $5, $6,
                 $7)
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(school.id.0)
    .bind(key)
    .bind(format!("contact: {contact} ({relationship})"))
    .bind(number)
    .bind(about)
    .bind(local.format(TIME).to_string())
    .bind(not_before.map(|t| t.format(TIME).to_string()))
    .execute(store.pool())
    .await?;
    Ok(())
}
