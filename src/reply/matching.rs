//! Which absence a reply answers. The number (E.164) → the contacts who have it → their pupils
//! → each pupil's unexplained days (an `N` or no mark) in the school days before it arrived,
//! and the texts sent to that number in those days. What was found is stored with the reply
//! (what it matched when it came, whatever happens to the register later); whether it is one
//! family's one absence or needs a person to choose is read from that ([`MatchStatus`]).

use std::sync::Arc;

use anyhow::Result;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sqlx::Row as _;

use crate::config::RepliesConfig;
use crate::register::mark::MarkCode;
use crate::register::session::{Session, academic_year, slot};
use crate::register::store::Store;
use crate::school::SchoolRuntime;

/// A pupil a reply may be about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub school_id: i64,
    pub pupil_id: i64,
    pub contact_name: String,
    pub relationship: String,
    /// School days with an unexplained session, oldest first.
    pub absent_days: Vec<NaiveDate>,
    pub messages_sent: i64,
}

/// What a reply matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchStatus {
    /// One pupil, one run of unexplained school days: attached to it, for a person to confirm.
    One {
        pupil_id: i64,
        from: NaiveDate,
        to: NaiveDate,
    },
    /// Siblings, a number shared by two families, two schools of a trust, or one pupil with
    /// separate absences: a person chooses.
    Several,
    /// A contact's number with no unexplained absence to answer, or no contact's number.
    None,
}

/// Reads the status from a reply's candidates. `school_days` are the school's days, to tell
/// one run of absence (Monday to Wednesday) from two (Monday and Wednesday).
pub fn status(candidates: &[Candidate], school_days: &[NaiveDate]) -> MatchStatus {
    let absent: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !c.absent_days.is_empty())
        .collect();
    match absent.as_slice() {
        [] => MatchStatus::None,
        [one] => {
            let days = &one.absent_days;
            let (Some(first), Some(last)) = (days.first(), days.last()) else {
                return MatchStatus::None;
            };
            let between = school_days
                .iter()
                .filter(|d| *d >= first && *d <= last)
                .count();
            if between == days.len() {
                MatchStatus::One {
                    pupil_id: one.pupil_id,
                    from: *first,
                    to: *last,
                }
            } else {
                MatchStatus::Several
            }
        }
        _ => MatchStatus::Several,
    }
}

/// The pupils a reply from `number`, received at `received`, may be about, at every school of
/// the daemon.
pub async fn find(
    store: &Store,
    schools: &[Arc<SchoolRuntime>],
    settings: &RepliesConfig,
    number: &str,
    received: DateTime<Utc>,
) -> Result<Vec<Candidate>> {
    let mut out = Vec::new();
    for school in schools {
        out.extend(candidates(store, school, settings, number, received).await?);
    }
    Ok(out)
}

/// Stores what a reply matched, in the transaction that stores the reply: a reply is never
/// kept without its candidates.
pub async fn store_candidates(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    reply: i64,
    found: &[Candidate],
) -> Result<()> {
    for c in found {
        sqlx::query(
            "INSERT INTO reply_candidates (reply_id, school_id, pupil_id, contact_name,
                                           relationship, absent_days, messages_sent)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (reply_id, pupil_id) DO NOTHING",
        )
        .bind(reply)
        .bind(c.school_id)
        .bind(c.pupil_id)
        .bind(&c.contact_name)
        .bind(&c.relationship)
        .bind(
            c.absent_days
                .iter()
                .map(NaiveDate::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )
        .bind(c.messages_sent)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The pupils at `school` of the contacts with `number`, with their unexplained days in the
/// `match_school_days` school days up to the day the reply came.
async fn candidates(
    store: &Store,
    school: &SchoolRuntime,
    settings: &RepliesConfig,
    number: &str,
    received: DateTime<Utc>,
) -> Result<Vec<Candidate>> {
    let contacts = sqlx::query(
        "SELECT c.pupil_id, c.name, c.relationship, p.admission_date, p.leaving_date
         FROM contacts c JOIN pupils p ON p.id = c.pupil_id
         WHERE c.school_id = $1 AND c.mobile = $2 ORDER BY c.pupil_id, c.priority",
    )
    .bind(school.id.0)
    .bind(number)
    .fetch_all(store.pool())
    .await?;
    if contacts.is_empty() {
        return Ok(Vec::new());
    }
    let local = crate::schedule::to_local(school.config.timezone, received);
    let today = local.date();
    let calendar = &school.config.calendar;
    let days: Vec<NaiveDate> = {
        let back = calendar.school_days_between(today - chrono::Days::new(31), today);
        let n = (settings.match_school_days.max(1) as usize).min(back.len());
        back[back.len() - n..].to_vec()
    };
    let Some(first) = days.first().copied() else {
        return Ok(Vec::new());
    };
    let tz = school.config.timezone;
    let window_start = crate::schedule::instant_text(crate::schedule::local_instant(
        tz,
        first.and_time(NaiveTime::MIN),
    ));
    let messages_sent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE school_id = $1 AND address = $2 AND channel = 'sms'
           AND status IN ('sent', 'delivered') AND sent_at >= $3 AND sent_at <= $4",
    )
    .bind(school.id.0)
    .bind(number)
    .bind(&window_start)
    .bind(crate::schedule::instant_text(received))
    .fetch_one(store.pool())
    .await?;
    let explained = super::confirm::explained_sessions(store, school.id, today).await?;
    let mut out: Vec<Candidate> = Vec::new();
    for row in &contacts {
        let pupil_id: i64 = row.try_get("pupil_id")?;
        if out.iter().any(|c| c.pupil_id == pupil_id) {
            continue;
        }
        let admission: String = row.try_get("admission_date")?;
        let leaving: Option<String> = row.try_get("leaving_date")?;
        let on_roll = |d: NaiveDate| {
            admission.parse::<NaiveDate>().is_ok_and(|a| a <= d)
                && leaving
                    .as_deref()
                    .and_then(|l| l.parse::<NaiveDate>().ok())
                    .is_none_or(|l| d <= l)
        };
        let years = store
            .pupil_register_years(pupil_id, academic_year(today))
            .await?;
        let mark = |day: NaiveDate, session: Session| {
            let (year, at) = slot(day, session);
            years
                .iter()
                .find(|y| y.year == year)
                .and_then(|y| y.marks.get(at).copied())
                .and_then(MarkCode::from_byte)
                .unwrap_or(MarkCode::NONE)
        };
        let already = explained.get(&pupil_id);
        let unexplained = |day: NaiveDate, session: Session| {
            let m = mark(day, session);
            let open = m.is_none() || m.as_str() == "N";
            open && !already.is_some_and(|e| e.contains(&(day, session)))
        };
        let absent_days = days
            .iter()
            .copied()
            .filter(|d| on_roll(*d))
            .filter(|d| {
                if *d == today {
                    // Today's afternoon has no mark yet for a pupil who is in, and before the
                    // morning register closes nor has the morning: only an N, or a morning
                    // still unmarked after its close, is an absence to answer.
                    let am = if local.time() >= school.config.am_register_close {
                        unexplained(*d, Session::Am)
                    } else {
                        mark(*d, Session::Am).as_str() == "N"
                    };
                    am || mark(*d, Session::Pm).as_str() == "N"
                } else {
                    unexplained(*d, Session::Am) || unexplained(*d, Session::Pm)
                }
            })
            .collect();
        out.push(Candidate {
            school_id: school.id.0,
            pupil_id,
            contact_name: row.try_get("name")?,
            relationship: row.try_get("relationship")?,
            absent_days,
            messages_sent,
        });
    }
    Ok(out)
}

/// A stored reply's candidates at every school.
pub async fn stored_candidates(store: &Store, reply: i64) -> Result<Vec<Candidate>> {
    let rows = sqlx::query(
        "SELECT school_id, pupil_id, contact_name, relationship, absent_days, messages_sent
         FROM reply_candidates WHERE reply_id = $1 ORDER BY school_id, pupil_id",
    )
    .bind(reply)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let days: String = r.try_get("absent_days")?;
            Ok(Candidate {
                school_id: r.try_get("school_id")?,
                pupil_id: r.try_get("pupil_id")?,
                contact_name: r.try_get("contact_name")?,
                relationship: r.try_get("relationship")?,
                absent_days: days
                    .split(',')
                    .filter_map(|d| d.parse::<NaiveDate>().ok())
                    .collect(),
                messages_sent: r.try_get("messages_sent")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn cand(pupil_id: i64, days: &[&str]) -> Candidate {
        Candidate {
            school_id: 1,
            pupil_id,
            contact_name: "A".into(),
            relationship: "Mother".into(),
            absent_days: days.iter().map(|s| d(s)).collect(),
            messages_sent: 1,
        }
    }

    #[test]
    fn one_run_of_one_pupil_is_matched_and_anything_else_goes_to_a_person() {
        // Mon 6 Oct to Fri 10 Oct 2025.
        let week: Vec<NaiveDate> = (6..=10).map(|n| d(&format!("2025-10-{n:02}"))).collect();
        assert_eq!(
            status(&[cand(7, &["2025-10-08", "2025-10-09"])], &week),
            MatchStatus::One {
                pupil_id: 7,
                from: d("2025-10-08"),
                to: d("2025-10-09")
            }
        );
        // A sibling at school all week does not stop the match.
        assert!(matches!(
            status(&[cand(7, &["2025-10-09"]), cand(8, &[])], &week),
            MatchStatus::One { pupil_id: 7, .. }
        ));
        // Both siblings off: a person chooses.
        assert_eq!(
            status(&[cand(7, &["2025-10-09"]), cand(8, &["2025-10-09"])], &week),
            MatchStatus::Several
        );
        // Monday and Wednesday are two absences.
        assert_eq!(
            status(&[cand(7, &["2025-10-06", "2025-10-08"])], &week),
            MatchStatus::Several
        );
        assert_eq!(status(&[cand(7, &[])], &week), MatchStatus::None);
        assert_eq!(status(&[], &week), MatchStatus::None);
    }
}
