//! What a message says: the data behind an outbox row (its pupils, their decisions, contacts,
//! the sessions concerned and the case so far), read from the database at send time and
//! shaped for the templates in [`crate::template`].

use anyhow::{Context as _, Result};
use chrono::{NaiveDate, NaiveDateTime};
use sqlx::Row;

use crate::config::SchoolConfig;
use crate::mark::MarkCode;
use crate::policy::Policy;
use crate::session::{Session, academic_year, slot};
use crate::stage::is_first_day;
use crate::store::Store;
use crate::template::{ContactData, MessageData, PupilData, SchoolData};

/// "Monday 3 November 2025".
pub fn long_date(date: NaiveDate) -> String {
    date.format("%A %-d %B %Y").to_string()
}

/// One outbox row as the delivery code needs it.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub key: String,
    pub channel: String,
    pub recipient_role: String,
    pub recipient: String,
    pub address: Option<String>,
    pub template: String,
    pub task: Option<String>,
    pub attempts: i64,
    pub ambiguous: bool,
    pub hold_reason: Option<String>,
    pub created_at: String,
}

impl OutboxRow {
    pub fn from_row(row: &sqlx::any::AnyRow) -> Result<OutboxRow> {
        Ok(OutboxRow {
            id: row.try_get("id")?,
            key: row.try_get("key")?,
            channel: row.try_get("channel")?,
            recipient_role: row.try_get("recipient_role")?,
            recipient: row.try_get("recipient")?,
            address: row.try_get("address")?,
            template: row.try_get("template")?,
            task: row.try_get("task")?,
            attempts: row.try_get("attempts")?,
            ambiguous: row.try_get::<i64, _>("ambiguous")? != 0,
            hold_reason: row.try_get("hold_reason")?,
            created_at: row.try_get("created_at")?,
        })
    }

    pub fn is_alert(&self) -> bool {
        self.key.contains("/alert/")
    }
}

pub const OUTBOX_COLUMNS: &str = "id, key, channel, recipient_role, recipient, address, template, \
     task, attempts, ambiguous, hold_reason, created_at";

/// The people named in a recipient string: "contact 1: Anne Lovelace (Mother) and contact 2:
/// Charles Lovelace (Father)" → "Anne Lovelace and Charles Lovelace"; a role stays a role.
pub fn recipient_names(recipient: &str) -> String {
    recipient
        .split(" and ")
        .map(|part| {
            let name = part.split_once(": ").map_or(part, |(_, rest)| rest);
            name.rsplit_once(" (").map_or(name, |(n, _)| n).to_owned()
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

pub fn school_data(school: &SchoolConfig) -> SchoolData {
    SchoolData {
        name: school.name.clone(),
        phone: school.contact.phone.clone(),
        email: school.contact.email.clone(),
        address: school.contact.address.clone(),
        signatory: school.contact.signatory.clone(),
        signatory_role: school.contact.signatory_role.clone(),
    }
}

/// How to reply, worded for the channel.
pub fn reply_line(school: &SchoolConfig, channel: &str) -> String {
    let phone = &school.contact.phone;
    match (channel, phone.is_empty()) {
        ("sms", false) => format!("Please call the school office on {phone} to tell us why."),
        ("sms", true) => "Please contact the school office to tell us why.".to_owned(),
        (_, false) if !school.contact.email.is_empty() => format!(
            "Please call the school office on {phone} or email {}.",
            school.contact.email
        ),
        (_, false) => format!("Please call the school office on {phone}."),
        _ => "Please contact the school office.".to_owned(),
    }
}

/// A decision as a message needs it.
#[derive(Debug, Clone)]
pub struct DecisionInfo {
    pub pupil_id: i64,
    pub stage: String,
    pub reason: String,
    /// The decision's stored facts snapshot (JSON).
    pub facts: String,
}

/// Builds the template data for an outbox row at local time `now`.
pub async fn load(
    store: &Store,
    school: &SchoolConfig,
    policy: &Policy,
    row: &OutboxRow,
    now: NaiveDateTime,
) -> Result<MessageData> {
    let decisions: Vec<DecisionInfo> = sqlx::query(
        "SELECT d.pupil_id, d.stage, d.reason, d.facts
         FROM outbox_items i JOIN decisions d ON d.id = i.decision_id
         JOIN pupils p ON p.id = d.pupil_id
         WHERE i.outbox_id = $1 AND i.cancelled_reason IS NULL
         ORDER BY p.surname, p.forename",
    )
    .bind(row.id)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|d| -> Result<DecisionInfo> {
        Ok(DecisionInfo {
            pupil_id: d.try_get("pupil_id")?,
            stage: d.try_get("stage")?,
            reason: d.try_get("reason")?,
            facts: d.try_get("facts")?,
        })
    })
    .collect::<Result<_>>()?;
    build(
        store,
        school,
        policy,
        &decisions,
        &row.recipient,
        &row.channel,
        row.hold_reason.as_deref().unwrap_or_default(),
        now,
    )
    .await
}

/// Builds the template data for decisions about to be (or being) sent to `recipient`.
#[allow(clippy::too_many_arguments)]
pub async fn build(
    store: &Store,
    school: &SchoolConfig,
    policy: &Policy,
    decisions: &[DecisionInfo],
    recipient: &str,
    channel: &str,
    message: &str,
    now: NaiveDateTime,
) -> Result<MessageData> {
    let mut pupils = Vec::with_capacity(decisions.len());
    for d in decisions {
        let pupil_id = d.pupil_id;
        let stage_id = d.stage.clone();
        let facts: serde_json::Value =
            serde_json::from_str(&d.facts).context("reading a decision's stored facts")?;
        let p = sqlx::query(
            "SELECT upn, forename, surname, date_of_birth, year_group, reg_group FROM pupils WHERE id = $1",
        )
        .bind(pupil_id)
        .fetch_one(store.pool())
        .await?;
        let stage = policy.stages.iter().find(|s| s.id == stage_id);
        let as_of = facts["as_of"]
            .as_str()
            .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok())
            .unwrap_or(now);
        let ytd = &facts["year_to_date"];
        let count = |field: &str| {
            ytd[field]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0)
        };
        let possible = count("possible_sessions");
        let attended = count("attended_sessions");
        let absences =
            count("authorised_absence_sessions") + count("unauthorised_absence_sessions");
        let run_since = ytd["absent_run_since"]
            .as_str()
            .and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok());
        let first_day = stage.is_some_and(is_first_day);
        let session = if as_of.time() < school.pm_register_close {
            Session::Am
        } else {
            Session::Pm
        };
        // The session list is only for messages about a day or a run of days.
        let marks = if first_day || run_since.is_some() {
            year_marks(store, pupil_id, academic_year(as_of.date())).await?
        } else {
            None
        };
        let (concerned, sessions) = if first_day {
            let word = if session == Session::Am {
                "morning"
            } else {
                "afternoon"
            };
            (
                format!("the {word} session on {}", long_date(as_of.date())),
                session_lines(school, marks.as_deref(), as_of.date(), as_of.date()),
            )
        } else if let Some(since) = run_since {
            let days = count("consecutive_absent_days");
            let last = school
                .calendar
                .school_days_between(since, as_of.date())
                .last()
                .copied()
                .unwrap_or(as_of.date());
            let span = if since == last {
                format!("every session on {}", long_date(since))
            } else {
                format!(
                    "every session from {} to {}",
                    long_date(since),
                    long_date(last)
                )
            };
            let plural = if days == 1 { "" } else { "s" };
            (
                format!("{span} ({days} school day{plural})"),
                session_lines(school, marks.as_deref(), since, last),
            )
        } else {
            (
                format!(
                    "this school year to {}: {absences} of {possible} sessions missed",
                    long_date(as_of.date())
                ),
                Vec::new(),
            )
        };
        let contacts = sqlx::query(
            "SELECT name, relationship, mobile, email, address_line_1, address_line_2, town, postcode
             FROM contacts WHERE pupil_id = $1 ORDER BY priority",
        )
        .bind(pupil_id)
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|c| -> Result<ContactData> {
            let lines: Vec<String> = ["address_line_1", "address_line_2", "town", "postcode"]
                .iter()
                .map(|f| c.try_get::<String, _>(*f))
                .collect::<Result<_, _>>()?;
            Ok(ContactData {
                name: c.try_get("name")?,
                relationship: c.try_get("relationship")?,
                phone: c.try_get::<Option<String>, _>("mobile")?.unwrap_or_default(),
                email: c.try_get::<Option<String>, _>("email")?.unwrap_or_default(),
                address: lines
                    .into_iter()
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let history = sqlx::query(
            "SELECT t.at, t.to_stage, t.reason FROM case_transitions t
             JOIN cases c ON c.id = t.case_id
             WHERE c.pupil_id = $1 ORDER BY t.id",
        )
        .bind(pupil_id)
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|t| -> Result<String> {
            let at: String = t.try_get("at")?;
            let to: Option<String> = t.try_get("to_stage")?;
            let reason: String = t.try_get("reason")?;
            Ok(format!(
                "{}: {}: {reason}",
                at.get(..10).unwrap_or(&at),
                to.as_deref().unwrap_or("case closed")
            ))
        })
        .collect::<Result<Vec<_>>>()?;
        let forename: String = p.try_get("forename")?;
        let surname: String = p.try_get("surname")?;
        pupils.push(PupilData {
            name: format!("{forename} {surname}"),
            forename,
            surname,
            upn: p.try_get("upn")?,
            date_of_birth: p.try_get("date_of_birth")?,
            year_group: p.try_get("year_group")?,
            reg_group: p.try_get("reg_group")?,
            stage_title: stage.map_or_else(|| stage_id.clone(), |s| s.title.clone()),
            stage: stage_id,
            reason: d.reason.clone(),
            concerned,
            attendance: if possible == 0 {
                "not yet measured".to_owned()
            } else {
                format!("{:.1}%", 100.0 * f64::from(attended) / f64::from(possible))
            },
            possible_sessions: possible,
            absence_sessions: absences,
            unauthorised_sessions: count("unauthorised_absence_sessions"),
            sessions,
            contacts,
            history,
        });
    }
    let names: Vec<&str> = pupils.iter().map(|p| p.forename.as_str()).collect();
    let names = match names.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    Ok(MessageData {
        school: school_data(school),
        recipient: recipient_names(recipient),
        today: long_date(now.date()),
        pupil: pupils.first().cloned().unwrap_or_default(),
        several: pupils.len() > 1,
        pupils,
        names,
        reply: reply_line(school, channel),
        message: message.to_owned(),
    })
}

async fn year_marks(store: &Store, pupil_id: i64, year: i32) -> Result<Option<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT marks FROM register_years WHERE pupil_id = $1 AND year = $2")
            .bind(pupil_id)
            .bind(i64::from(year))
            .fetch_optional(store.pool())
            .await?,
    )
}

/// "Mon 3 Nov 2025 AM: O" for each absence session from `from` to `to` (school days only).
fn session_lines(
    school: &SchoolConfig,
    marks: Option<&[u8]>,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<String> {
    let Some(marks) = marks else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for day in school.calendar.school_days_between(from, to) {
        for session in [Session::Am, Session::Pm] {
            let (_, at) = slot(*day, session);
            let Some(code) = marks.get(at).copied().and_then(MarkCode::from_byte) else {
                continue;
            };
            if code.category().is_some_and(|c| c.is_absence()) {
                out.push(format!(
                    "{} {}: {}",
                    day.format("%a %-d %b %Y"),
                    session.as_str(),
                    code.as_str()
                ));
            }
        }
    }
    out
}
