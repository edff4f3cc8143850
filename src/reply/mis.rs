//! The office's list of codes to enter in the MIS: each session a confirmed reply explains
//! whose register still shows `N` or no mark. The MIS is the register of record, so rollcall
//! only asks; the list clears itself when an import shows any code for the session (the one
//! suggested, or the one the school decided on instead).

use anyhow::Result;
use chrono::NaiveDate;
use sqlx::Row as _;

use crate::register::mark::MarkCode;
use crate::register::session::{Session, academic_year, slot};
use crate::register::store::Store;
use crate::school::SchoolRuntime;

/// One session to enter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ToEnter {
    pub pupil_id: i64,
    pub upn: String,
    pub name: String,
    pub day: NaiveDate,
    pub session: Session,
    /// What the register shows now: `N`, or empty for no mark.
    pub now_shows: String,
    pub code: String,
    pub reason: String,
    pub confirmed_by: String,
}

/// The sessions up to `today` still waiting for their code in the MIS, oldest first. Looks a
/// school year back at most: an explanation older than that is for the school's records.
pub async fn to_enter(
    store: &Store,
    school: &SchoolRuntime,
    today: NaiveDate,
) -> Result<Vec<ToEnter>> {
    let rows = sqlx::query(
        "SELECT e.pupil_id, e.day, e.session, e.code, e.reason, e.confirmed_by, p.upn,
                p.forename, p.surname
         FROM reply_explanations e JOIN pupils p ON p.id = e.pupil_id
         WHERE e.school_id = $1 AND e.day <= $2 AND e.day >= $3
         ORDER BY e.day, p.surname, p.forename, e.session",
    )
    .bind(school.id.0)
    .bind(today.to_string())
    .bind((today - chrono::Days::new(366)).to_string())
    .fetch_all(store.pool())
    .await?;
    let mut years: std::collections::HashMap<i64, Vec<crate::register::store::RegisterYear>> =
        Default::default();
    let mut out = Vec::new();
    for r in rows {
        let pupil_id: i64 = r.try_get("pupil_id")?;
        let day: String = r.try_get("day")?;
        let session: String = r.try_get("session")?;
        let (Ok(day), Some(session)) = (day.parse::<NaiveDate>(), Session::parse(&session)) else {
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = years.entry(pupil_id) {
            slot.insert(
                store
                    .pupil_register_years(pupil_id, academic_year(today))
                    .await?,
            );
        }
        let (year, at) = slot(day, session);
        let mark = years
            .get(&pupil_id)
            .and_then(|ys| ys.iter().find(|y| y.year == year))
            .and_then(|y| y.marks.get(at).copied())
            .and_then(MarkCode::from_byte)
            .unwrap_or(MarkCode::NONE);
        if !(mark.is_none() || mark.as_str() == "N") {
            continue;
        }
        let forename: String = r.try_get("forename")?;
        let surname: String = r.try_get("surname")?;
        out.push(ToEnter {
            pupil_id,
            upn: r.try_get("upn")?,
            name: format!("{forename} {surname}"),
            day,
            session,
            now_shows: if mark.is_none() {
                String::new()
            } else {
                mark.as_str().to_owned()
            },
            code: r.try_get("code")?,
            reason: r.try_get("reason")?,
            confirmed_by: r.try_get("confirmed_by")?,
        });
    }
    Ok(out)
}
