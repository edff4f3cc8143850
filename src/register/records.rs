//! What the school records about a pupil beside the MIS export (issue 14): an integration
//! period extended for one pupil (`rollcall pupil extend-integration`), medical evidence seen
//! for an illness (`rollcall evidence add`), and a pupil on the roll whom a full export no
//! longer lists (`rollcall import pupils FILE --full`, or `pupils-full*.csv` in the inbox).
//! The escalation engine reads them as [`PupilRecords`]; `rollcall case --upn` shows them.

use std::collections::HashMap;
use std::str::FromStr;

use anyhow::{Context as _, Result, bail};
use chrono::{NaiveDate, NaiveDateTime};
use sqlx::Row;

use crate::register::store::{SchoolId, Store, StoredPupil};

/// The longest name or reason kept (a person's name, a sentence of why).
const MAX_TEXT: usize = 500;

/// An integration period extended for one pupil (James Marks L44: "This can be extended if
/// agreed that this is necessary and appropriate for a pupil. This decision is made by the
/// senior leadership team in consultation with parents").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationExtension {
    /// The last day of the extended period.
    pub until: NaiveDate,
    pub by: String,
    pub reason: String,
    pub recorded_at: String,
}

/// Medical evidence seen for the pupil's illness from `from` to `to`, inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub by: String,
    pub note: String,
    pub recorded_at: String,
}

/// Everything recorded about one pupil beside the export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PupilRecords {
    /// The latest extension of the integration period, if any.
    pub integration: Option<IntegrationExtension>,
    pub evidence: Vec<Evidence>,
    /// The school-local date of the first full export that no longer listed the pupil (who
    /// had no leaving date), while no later export lists them again.
    pub missing_from_export: Option<NaiveDate>,
}

/// A pupil with nothing recorded.
pub static NO_RECORDS: PupilRecords = PupilRecords {
    integration: None,
    evidence: Vec::new(),
    missing_from_export: None,
};

impl PupilRecords {
    /// Whether medical evidence covers `day`.
    pub fn evidenced(&self, day: NaiveDate) -> bool {
        self.evidence.iter().any(|e| e.from <= day && day <= e.to)
    }

    /// Lines for `rollcall case --upn`, oldest first.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(x) = &self.integration {
            lines.push(format!(
                "{} integration period extended to {} by {}: {}",
                x.recorded_at, x.until, x.by, x.reason
            ));
        }
        for e in &self.evidence {
            let note = if e.note.is_empty() {
                String::new()
            } else {
                format!(": {}", e.note)
            };
            lines.push(format!(
                "{} medical evidence for {} to {} recorded by {}{note}",
                e.recorded_at, e.from, e.to, e.by
            ));
        }
        if let Some(day) = self.missing_from_export {
            lines.push(format!(
                "{day} not in the full MIS export, with no leaving date: the deletion notice waits for a person"
            ));
        }
        lines
    }
}

fn date(text: &str, what: &str) -> Result<NaiveDate> {
    NaiveDate::from_str(text).with_context(|| format!("stored {what} \"{text}\""))
}

/// Every pupil's records at one school, by pupil row id.
pub async fn load(store: &Store, school: SchoolId) -> Result<HashMap<i64, PupilRecords>> {
    let mut out: HashMap<i64, PupilRecords> = HashMap::new();
    let rows = sqlx::query(
        "SELECT pupil_id, until_date, extended_by, reason, recorded_at
         FROM integration_extensions WHERE school_id = $1 ORDER BY id",
    )
    .bind(school.0)
    .fetch_all(store.pool())
    .await?;
    for row in rows {
        let pupil: i64 = row.try_get("pupil_id")?;
        let until: String = row.try_get("until_date")?;
        // Later rows replace earlier: the latest extension counts.
        out.entry(pupil).or_default().integration = Some(IntegrationExtension {
            until: date(&until, "extension date")?,
            by: row.try_get("extended_by")?,
            reason: row.try_get("reason")?,
            recorded_at: row.try_get("recorded_at")?,
        });
    }
    let rows = sqlx::query(
        "SELECT pupil_id, from_date, to_date, recorded_by, note, recorded_at
         FROM medical_evidence WHERE school_id = $1 ORDER BY from_date, id",
    )
    .bind(school.0)
    .fetch_all(store.pool())
    .await?;
    for row in rows {
        let pupil: i64 = row.try_get("pupil_id")?;
        let from: String = row.try_get("from_date")?;
        let to: String = row.try_get("to_date")?;
        out.entry(pupil).or_default().evidence.push(Evidence {
            from: date(&from, "evidence date")?,
            to: date(&to, "evidence date")?,
            by: row.try_get("recorded_by")?,
            note: row.try_get("note")?,
            recorded_at: row.try_get("recorded_at")?,
        });
    }
    let rows =
        sqlx::query("SELECT pupil_id, first_missing_on FROM export_missing WHERE school_id = $1")
            .bind(school.0)
            .fetch_all(store.pool())
            .await?;
    for row in rows {
        let pupil: i64 = row.try_get("pupil_id")?;
        let on: String = row.try_get("first_missing_on")?;
        out.entry(pupil).or_default().missing_from_export = Some(date(&on, "export date")?);
    }
    Ok(out)
}

/// One pupil's records.
pub async fn for_pupil(store: &Store, school: SchoolId, pupil_id: i64) -> Result<PupilRecords> {
    Ok(load(store, school)
        .await?
        .remove(&pupil_id)
        .unwrap_or_default())
}

/// One pupil's records, by pupil row id alone (a message being rendered knows no school row).
pub async fn for_pupil_id(store: &Store, pupil_id: i64) -> Result<PupilRecords> {
    let school: i64 = sqlx::query("SELECT school_id FROM pupils WHERE id = $1")
        .bind(pupil_id)
        .fetch_one(store.pool())
        .await?
        .try_get("school_id")?;
    for_pupil(store, SchoolId(school), pupil_id).await
}

/// A name or reason as typed: trimmed, not empty, one line, at most [`MAX_TEXT`] characters.
pub fn checked_text(flag: &str, text: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() {
        bail!("{flag} must not be empty");
    }
    if text.chars().any(char::is_control) {
        bail!("{flag} must be one line of text (no line breaks or tabs)");
    }
    let n = text.chars().count();
    if n > MAX_TEXT {
        bail!("{flag} is {n} characters; at most {MAX_TEXT}");
    }
    Ok(text.to_owned())
}

/// The pupil with `upn` at `school`, or an error naming both.
pub async fn find_pupil(
    store: &Store,
    school: SchoolId,
    school_key: &str,
    upn: &str,
) -> Result<StoredPupil> {
    store
        .pupils(school)
        .await?
        .into_iter()
        .find(|p| p.pupil.upn.as_str() == upn)
        .with_context(|| format!("no pupil with UPN {upn} at school \"{school_key}\""))
}

/// Records that the integration period of `pupil` runs until `until` (inclusive).
pub async fn extend_integration(
    store: &Store,
    school: SchoolId,
    pupil: &StoredPupil,
    until: NaiveDate,
    by: &str,
    reason: &str,
    now: NaiveDateTime,
) -> Result<()> {
    let admission = pupil.pupil.admission_date;
    if until <= admission {
        bail!(
            "--until {until} is not after the pupil's admission date {admission}: an integration period runs from admission"
        );
    }
    if let Some(left) = pupil.pupil.leaving_date
        && left < now.date()
    {
        bail!("the pupil left on {left}: there is no integration period to extend");
    }
    let latest = now.date() + chrono::Days::new(366);
    if until > latest {
        bail!("--until {until} is more than a year ahead (latest {latest}): check the year");
    }
    sqlx::query(
        "INSERT INTO integration_extensions
             (school_id, pupil_id, until_date, extended_by, reason, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(school.0)
    .bind(pupil.id)
    .bind(until.to_string())
    .bind(by)
    .bind(reason)
    .bind(now.format("%Y-%m-%d %H:%M").to_string())
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Records medical evidence for `pupil`'s illness from `from` to `to`, inclusive.
#[allow(clippy::too_many_arguments)]
pub async fn add_evidence(
    store: &Store,
    school: SchoolId,
    pupil: &StoredPupil,
    from: NaiveDate,
    to: NaiveDate,
    by: &str,
    note: &str,
    now: NaiveDateTime,
) -> Result<()> {
    if to < from {
        bail!("--to {to} is before --from {from}");
    }
    let admission = pupil.pupil.admission_date;
    if to < admission {
        bail!("--to {to} is before the pupil's admission date {admission}");
    }
    let latest = now.date() + chrono::Days::new(366);
    if to > latest {
        bail!("--to {to} is more than a year ahead (latest {latest}): check the year");
    }
    sqlx::query(
        "INSERT INTO medical_evidence
             (school_id, pupil_id, from_date, to_date, recorded_by, note, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(school.0)
    .bind(pupil.id)
    .bind(from.to_string())
    .bind(to.to_string())
    .bind(by)
    .bind(note)
    .bind(now.format("%Y-%m-%d %H:%M").to_string())
    .execute(store.pool())
    .await?;
    Ok(())
}

/// After a full export: pupils on the roll on `on` (no leaving date, or one after `on`)
/// whom the export does not list are recorded as missing from it (the first such export's
/// date is kept); pupils it lists are no longer missing. Returns how many are newly missing.
/// Nothing is deleted.
pub async fn full_export_seen(
    store: &Store,
    school: SchoolId,
    listed: &std::collections::HashSet<String>,
    on: NaiveDate,
    source: &str,
) -> Result<u64> {
    let pupils = store.pupils(school).await?;
    let already: std::collections::HashSet<i64> =
        sqlx::query("SELECT pupil_id FROM export_missing WHERE school_id = $1")
            .bind(school.0)
            .fetch_all(store.pool())
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>("pupil_id"))
            .collect::<std::result::Result<_, _>>()?;
    let mut tx = store.pool().begin().await?;
    let mut newly = 0;
    for p in &pupils {
        let is_listed = listed.contains(p.pupil.upn.as_str());
        let on_roll = p.pupil.admission_date <= on && p.pupil.leaving_date.is_none();
        if is_listed && already.contains(&p.id) {
            sqlx::query("DELETE FROM export_missing WHERE pupil_id = $1")
                .bind(p.id)
                .execute(&mut *tx)
                .await?;
        } else if !is_listed && on_roll && !already.contains(&p.id) {
            sqlx::query(
                "INSERT INTO export_missing (pupil_id, school_id, first_missing_on, source)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(p.id)
            .bind(school.0)
            .bind(on.to_string())
            .bind(source)
            .execute(&mut *tx)
            .await?;
            newly += 1;
        }
    }
    tx.commit().await?;
    Ok(newly)
}
