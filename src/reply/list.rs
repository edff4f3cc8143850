//! Replies as a person sees them, for the console's Today page and `rollcall replies list`:
//! what arrived, from whom, what it matched, the reason its words suggest, and what a person
//! decided. A school sees the replies with a candidate pupil of its own, and the replies from
//! numbers nobody has (a trust's schools share those: someone must read them).

use anyhow::Result;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use sqlx::Row as _;

use super::confirm;
use super::matching::{self, MatchStatus};
use crate::register::store::Store;
use crate::school::SchoolRuntime;

#[derive(Debug, Clone, Serialize)]
pub struct CandidateView {
    pub pupil_id: i64,
    pub upn: String,
    pub name: String,
    pub forename: String,
    pub group: String,
    pub contact: String,
    pub absent_days: Vec<String>,
    /// The first and last unexplained day, as the confirm form offers them (ISO).
    pub from: String,
    pub to: String,
    /// Social worker, looked after or on the concerns list: the DSL sees this reply too.
    pub safeguarding: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplyView {
    pub id: i64,
    /// School-local.
    pub received: String,
    pub received_day: String,
    pub from: String,
    pub body: String,
    /// `one`, `several` or `none` (see [`MatchStatus`]).
    pub status: &'static str,
    pub status_words: String,
    pub candidates: Vec<CandidateView>,
    /// Candidates at other schools of the trust (not named here).
    pub other_schools: usize,
    pub suggested: &'static str,
    pub suggested_words: &'static str,
    pub suggested_code: &'static str,
    pub messages_sent: i64,
    pub safeguarding: bool,
    /// "confirmed by Jo at 09:55: illness, Mon 6 Oct" or empty while it waits.
    pub decided: String,
    pub waiting: bool,
}

/// The replies received in the `days` days up to `as_of` (school-local) that this school
/// sees, newest first.
pub async fn recent(
    store: &Store,
    school: &SchoolRuntime,
    as_of: NaiveDateTime,
    days: u32,
) -> Result<Vec<ReplyView>> {
    let tz = school.config.timezone;
    let until = crate::schedule::local_instant(tz, as_of);
    let since = crate::schedule::local_instant(tz, as_of - chrono::Days::new(u64::from(days)));
    let rows = sqlx::query(
        "SELECT r.id, r.from_number, r.body, r.received_at
         FROM replies r
         WHERE r.received_at >= $1 AND r.received_at <= $2
           AND (EXISTS (SELECT 1 FROM reply_candidates c WHERE c.reply_id = r.id AND c.school_id = $3)
                OR NOT EXISTS (SELECT 1 FROM reply_candidates c WHERE c.reply_id = r.id))
         ORDER BY r.received_at DESC, r.id DESC",
    )
    .bind(crate::schedule::instant_text(since))
    .bind(crate::schedule::instant_text(until))
    .bind(school.id.0)
    .fetch_all(store.pool())
    .await?;
    let school_days = school
        .config
        .calendar
        .school_days_between(as_of.date() - chrono::Days::new(45), as_of.date());
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.try_get("id")?;
        let received: String = r.try_get("received_at")?;
        let Ok(at) = DateTime::parse_from_rfc3339(&received) else {
            continue;
        };
        let local = crate::schedule::to_local(tz, at.with_timezone(&Utc));
        let all = matching::stored_candidates(store, id).await?;
        let status = matching::status(&all, school_days);
        // Those with an unexplained absence first: the confirm form's dates start from the
        // first.
        let mut mine: Vec<&matching::Candidate> =
            all.iter().filter(|c| c.school_id == school.id.0).collect();
        mine.sort_by_key(|c| c.absent_days.is_empty());
        let mut candidates = Vec::with_capacity(mine.len());
        for c in &mine {
            let p = sqlx::query(
                "SELECT upn, forename, surname, year_group, reg_group, social_worker, lac, concern
                 FROM pupils WHERE id = $1",
            )
            .bind(c.pupil_id)
            .fetch_one(store.pool())
            .await?;
            let flag = |f: &str| p.try_get::<i64, _>(f).map(|v| v != 0);
            let forename: String = p.try_get("forename")?;
            let surname: String = p.try_get("surname")?;
            let day_words = |d: &NaiveDate| d.format("%a %-d %b").to_string();
            candidates.push(CandidateView {
                pupil_id: c.pupil_id,
                upn: p.try_get("upn")?,
                name: format!("{forename} {surname}"),
                forename,
                group: format!(
                    "{}, {}",
                    p.try_get::<String, _>("year_group")?,
                    p.try_get::<String, _>("reg_group")?
                ),
                contact: format!("{} ({})", c.contact_name, c.relationship),
                absent_days: c.absent_days.iter().map(day_words).collect(),
                from: c
                    .absent_days
                    .first()
                    .copied()
                    .unwrap_or(local.date())
                    .to_string(),
                to: c
                    .absent_days
                    .last()
                    .copied()
                    .unwrap_or(local.date())
                    .to_string(),
                safeguarding: flag("social_worker")? || flag("lac")? || flag("concern")?,
            });
        }
        let body: String = r.try_get("body")?;
        let suggested = confirm::suggest(&body);
        let (suggested_words, suggested_code) = confirm::reason(suggested).unwrap_or(("", ""));
        // What people at this school decided: a confirmation per pupil, or a set-aside.
        let outcomes = sqlx::query(
            "SELECT outcome, pupil_id, reason, explains_from, explains_to, decided_by, decided_at
             FROM reply_outcomes WHERE reply_id = $1 AND school_id = $2 ORDER BY decided_at",
        )
        .bind(id)
        .bind(school.id.0)
        .fetch_all(store.pool())
        .await?;
        let mut decided_lines = Vec::new();
        let mut confirmed_pupils = Vec::new();
        let mut set_aside = false;
        for o in &outcomes {
            let outcome: String = o.try_get("outcome")?;
            let by: String = o.try_get("decided_by")?;
            let at: String = o.try_get("decided_at")?;
            let at = at.get(11..16).unwrap_or_default().to_owned();
            if outcome == "confirmed" {
                let reason: String = o.try_get("reason")?;
                let from: Option<String> = o.try_get("explains_from")?;
                let to: Option<String> = o.try_get("explains_to")?;
                let words = confirm::reason(&reason).map_or(reason.as_str(), |(w, _)| w);
                let pupil: i64 = o.try_get("pupil_id")?;
                confirmed_pupils.push(pupil);
                let who = candidates
                    .iter()
                    .find(|c| c.pupil_id == pupil)
                    .map_or_else(|| "a pupil".to_owned(), |c| c.forename.clone());
                let day = |d: Option<String>| {
                    d.and_then(|d| d.parse::<NaiveDate>().ok())
                        .map(|d| d.format("%a %-d %b").to_string())
                };
                let span = match (day(from), day(to)) {
                    (Some(f), Some(t)) if f == t => f,
                    (Some(f), Some(t)) => format!("{f} to {t}"),
                    _ => String::new(),
                };
                decided_lines.push(format!(
                    "confirmed by {by} at {at}: {who}, {}, {span}",
                    words.to_lowercase()
                ));
            } else {
                set_aside = true;
                decided_lines.push(format!("set aside by {by} at {at}"));
            }
        }
        // A reply about siblings waits until each child with an unexplained absence is
        // confirmed (or the reply is set aside).
        let waiting = !set_aside
            && (outcomes.is_empty()
                || mine
                    .iter()
                    .any(|c| !c.absent_days.is_empty() && !confirmed_pupils.contains(&c.pupil_id)));
        let decided = decided_lines.join("; ");
        let status_words = match &status {
            MatchStatus::One { .. } => "matches one absence".to_owned(),
            MatchStatus::Several => "may be about more than one absence: choose".to_owned(),
            MatchStatus::None if all.is_empty() => "from a number no contact has".to_owned(),
            MatchStatus::None => "from a contact, with no unexplained absence".to_owned(),
        };
        let safeguarding = candidates.iter().any(|c| c.safeguarding);
        out.push(ReplyView {
            id,
            received: local.format("%a %-d %b %H:%M").to_string(),
            received_day: local.date().to_string(),
            from: crate::delivery::message::display_phone(&r.try_get::<String, _>("from_number")?),
            body,
            status: match status {
                MatchStatus::One { .. } => "one",
                MatchStatus::Several => "several",
                MatchStatus::None => "none",
            },
            status_words,
            other_schools: all.len() - mine.len(),
            messages_sent: mine.first().map_or(0, |c| c.messages_sent),
            candidates,
            suggested,
            suggested_words,
            suggested_code,
            safeguarding,
            waiting,
            decided,
        });
    }
    Ok(out)
}

/// `rollcall replies list`: each reply, what it matched and what became of it.
pub fn write(out: &mut impl std::io::Write, replies: &[ReplyView]) -> std::io::Result<()> {
    if replies.is_empty() {
        writeln!(out, "no replies in this period")?;
    }
    for r in replies {
        writeln!(
            out,
            "#{} {} from {}: \"{}\"",
            r.id,
            r.received,
            r.from,
            r.body.replace(['\n', '\r'], " ")
        )?;
        writeln!(out, "    {}", r.status_words)?;
        for c in &r.candidates {
            let days = if c.absent_days.is_empty() {
                "no unexplained absence".to_owned()
            } else {
                format!("unexplained: {}", c.absent_days.join(", "))
            };
            writeln!(
                out,
                "    {} {} ({}), contact {}; {days}{}",
                c.upn,
                c.name,
                c.group,
                c.contact,
                if c.safeguarding {
                    "; safeguarding: the DSL sees it"
                } else {
                    ""
                }
            )?;
        }
        if r.other_schools > 0 {
            writeln!(
                out,
                "    also a contact of {} pupil(s) at another school",
                r.other_schools
            )?;
        }
        if r.waiting {
            writeln!(
                out,
                "    suggested: {} ({}); waiting for a person",
                r.suggested_words, r.suggested_code
            )?;
        } else {
            writeln!(out, "    {}", r.decided)?;
        }
    }
    Ok(())
}
