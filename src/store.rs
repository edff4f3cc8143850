//! The register store: SQLite (embedded default) or PostgreSQL (trusts, LAs, several
//! daemons), through sqlx's `Any` driver so one set of queries serves both.
//!
//! Layout choice: marks are kept as one row per pupil per academic year holding one byte per
//! session (see [`crate::session::slot`]). The statistics read 100,000 pupils' years as
//! 100,000 small blobs instead of 38 million rows; provenance (which import recorded each
//! mark) sits in a parallel table the hot path never touches.

use std::collections::HashMap;
use std::str::FromStr;

use anyhow::{Context, Result};
use chrono::{NaiveDate, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Executor, Row};

use crate::config::SchoolConfig;
use crate::mark::MarkCode;
use crate::pupil::{Contact, Pupil, Sen, Upn};
use crate::session::{SLOTS_PER_YEAR, Session, slot_date};

/// Rows per multi-row statement: well under SQLite's 32,766 and PostgreSQL's 65,535 bind limits.
pub(crate) const BATCH_ROWS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// A school's row id in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SchoolId(pub i64);

/// A pupil as stored, with their row id.
#[derive(Debug, Clone)]
pub struct StoredPupil {
    pub id: i64,
    pub pupil: Pupil,
}

/// One pupil's marks for one academic year.
#[derive(Debug, Clone)]
pub struct RegisterYear {
    pub pupil_id: i64,
    pub year: i32,
    pub marks: Vec<u8>,
}

/// Register years grouped by pupil id, as `stats` and `escalate` load them.
#[derive(Debug, Default)]
pub struct PupilYears(std::collections::HashMap<i64, Vec<(i32, Vec<u8>)>>);

impl PupilYears {
    pub fn add(&mut self, rows: Vec<RegisterYear>) {
        for row in rows {
            self.0
                .entry(row.pupil_id)
                .or_default()
                .push((row.year, row.marks));
        }
    }

    /// The pupil's years as borrowed slices, for a `PupilRegister`.
    pub fn slices(&self, pupil_id: i64) -> Vec<(i32, &[u8])> {
        self.0
            .get(&pupil_id)
            .map(|rows| rows.iter().map(|(y, m)| (*y, m.as_slice())).collect())
            .unwrap_or_default()
    }
}

/// Who recorded marks, for the mark_sources row and amendment records.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub kind: String,
    pub source: String,
    pub by_name: String,
    pub by_role: String,
    pub reason: String,
}

/// A changed session, for the amendment record.
#[derive(Debug, Clone)]
pub struct Amendment {
    pub pupil_id: i64,
    pub year: i32,
    pub slot: usize,
    pub original: MarkCode,
    pub new: MarkCode,
}

/// A register year to write, with the slots whose mark this write records.
#[derive(Debug, Clone)]
pub struct RegisterWrite {
    pub pupil_id: i64,
    pub year: i32,
    pub marks: Vec<u8>,
    pub recorded_slots: Vec<u16>,
}

/// An amendment as read back.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AmendmentRecord {
    pub upn: String,
    pub date: String,
    pub session: String,
    pub original_code: String,
    pub new_code: String,
    pub reason: String,
    pub amended_at: String,
    pub amended_by_name: String,
    pub amended_by_role: String,
}

/// What the register says about one session, with where it came from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MarkDetail {
    pub code: String,
    pub recorded_at: String,
    pub source: String,
    pub recorded_by: String,
}

impl Store {
    /// Opens (creating an SQLite file if missing) and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!(
                "database url \"{}\" is not supported: use sqlite://PATH or postgres://…",
                redact(url)
            );
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url_creating(url)?,
            Backend::Postgres => url.to_owned(),
        };
        // SQLite allows one writer; a single connection avoids SQLITE_BUSY between our own
        // connections while WAL still lets other processes read.
        let max = if backend == Backend::Sqlite { 1 } else { 5 };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("cannot open the database {}", redact(&url)))?;
        let migrated = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.context("cannot bring the database schema up to date")?;
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Records the configured school (by its id) and returns its row id.
    pub async fn ensure_school(&self, school: &SchoolConfig) -> Result<SchoolId> {
        let row = sqlx::query(
            "INSERT INTO schools (key, name, urn, la_code) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, urn = excluded.urn,
                 la_code = excluded.la_code
             RETURNING id",
        )
        .bind(&school.id)
        .bind(&school.name)
        .bind(&school.urn)
        .bind(&school.la_code)
        .fetch_one(&self.pool)
        .await
        .context("cannot record the school")?;
        Ok(SchoolId(row.try_get(0)?))
    }

    pub async fn pupils(&self, school: SchoolId) -> Result<Vec<StoredPupil>> {
        let rows = sqlx::query(
            "SELECT id, upn, forename, surname, date_of_birth, year_group, reg_group, gender,
                    fsm, sen, eal, ethnicity, lac, social_worker, young_carer, concern,
                    admission_date, leaving_date
             FROM pupils WHERE school_id = $1 ORDER BY upn",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pupil_from_row).collect()
    }

    /// One pupil by row id.
    pub async fn pupil(&self, pupil_id: i64) -> Result<StoredPupil> {
        let row = sqlx::query(
            "SELECT id, upn, forename, surname, date_of_birth, year_group, reg_group, gender,
                    fsm, sen, eal, ethnicity, lac, social_worker, young_carer, concern,
                    admission_date, leaving_date
             FROM pupils WHERE id = $1",
        )
        .bind(pupil_id)
        .fetch_one(&self.pool)
        .await?;
        pupil_from_row(&row)
    }

    /// One pupil's register years up to and including `last_year`.
    pub async fn pupil_register_years(
        &self,
        pupil_id: i64,
        last_year: i32,
    ) -> Result<Vec<RegisterYear>> {
        let rows = sqlx::query(
            "SELECT pupil_id, year, marks FROM register_years
             WHERE pupil_id = $1 AND year <= $2 ORDER BY year",
        )
        .bind(pupil_id)
        .bind(i64::from(last_year))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(register_year_from_row).collect()
    }

    /// Inserts new pupils and updates changed ones, in one transaction.
    pub async fn upsert_pupils(&self, school: SchoolId, pupils: &[&Pupil]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for chunk in pupils.chunks(BATCH_ROWS) {
            let sql = multi_row_sql(
                "INSERT INTO pupils (school_id, upn, forename, surname, date_of_birth, year_group,
                    reg_group, gender, fsm, sen, eal, ethnicity, lac, social_worker, young_carer,
                    concern, admission_date, leaving_date) VALUES ",
                18,
                chunk.len(),
                " ON CONFLICT (school_id, upn) DO UPDATE SET forename = excluded.forename,
                    surname = excluded.surname, date_of_birth = excluded.date_of_birth,
                    year_group = excluded.year_group, reg_group = excluded.reg_group,
                    gender = excluded.gender, fsm = excluded.fsm, sen = excluded.sen,
                    eal = excluded.eal, ethnicity = excluded.ethnicity, lac = excluded.lac,
                    social_worker = excluded.social_worker, young_carer = excluded.young_carer,
                    concern = excluded.concern, admission_date = excluded.admission_date,
                    leaving_date = excluded.leaving_date",
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for p in chunk {
                query = query
                    .bind(school.0)
                    .bind(p.upn.as_str().to_owned())
                    .bind(p.forename.clone())
                    .bind(p.surname.clone())
                    .bind(p.date_of_birth.to_string())
                    .bind(p.year_group.clone())
                    .bind(p.reg_group.clone())
                    .bind(p.gender.clone())
                    .bind(i64::from(p.fsm))
                    .bind(p.sen.as_str())
                    .bind(i64::from(p.eal))
                    .bind(p.ethnicity.clone())
                    .bind(i64::from(p.lac))
                    .bind(i64::from(p.social_worker))
                    .bind(i64::from(p.young_carer))
                    .bind(i64::from(p.concern))
                    .bind(p.admission_date.to_string())
                    .bind(p.leaving_date.map(|d| d.to_string()));
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn contacts(&self, school: SchoolId) -> Result<Vec<(i64, Contact)>> {
        let rows = sqlx::query(
            "SELECT c.pupil_id, p.upn, c.priority, c.name, c.relationship, c.email, c.mobile,
                    c.parental_responsibility, c.address_line_1, c.address_line_2, c.town,
                    c.postcode
             FROM contacts c JOIN pupils p ON p.id = c.pupil_id
             WHERE c.school_id = $1 ORDER BY p.upn, c.priority",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let upn: String = r.try_get(1)?;
                Ok((
                    r.try_get(0)?,
                    Contact {
                        upn: Upn::parse(&upn).with_context(|| format!("stored UPN {upn}"))?,
                        priority: r.try_get(2)?,
                        name: r.try_get(3)?,
                        relationship: r.try_get(4)?,
                        email: r.try_get(5)?,
                        mobile: r.try_get(6)?,
                        parental_responsibility: r.try_get::<i64, _>(7)? != 0,
                        address_line_1: r.try_get(8)?,
                        address_line_2: r.try_get(9)?,
                        town: r.try_get(10)?,
                        postcode: r.try_get(11)?,
                    },
                ))
            })
            .collect()
    }

    /// Replaces the contact lists of the given pupils, in one transaction.
    pub async fn replace_contacts(
        &self,
        school: SchoolId,
        pupil_ids: &[i64],
        contacts: &[(i64, &Contact)],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for chunk in pupil_ids.chunks(BATCH_ROWS) {
            let placeholders: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "DELETE FROM contacts WHERE school_id = $1 AND pupil_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(school.0);
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in contacts.chunks(BATCH_ROWS) {
            let sql = multi_row_sql(
                "INSERT INTO contacts (school_id, pupil_id, priority, name, relationship, email,
                    mobile, parental_responsibility, address_line_1, address_line_2, town,
                    postcode) VALUES ",
                12,
                chunk.len(),
                "",
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (pupil_id, c) in chunk {
                query = query
                    .bind(school.0)
                    .bind(*pupil_id)
                    .bind(c.priority)
                    .bind(c.name.clone())
                    .bind(c.relationship.clone())
                    .bind(c.email.clone())
                    .bind(c.mobile.clone())
                    .bind(i64::from(c.parental_responsibility))
                    .bind(c.address_line_1.clone())
                    .bind(c.address_line_2.clone())
                    .bind(c.town.clone())
                    .bind(c.postcode.clone());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every register year of the school in `[first_year, last_year]`.
    pub async fn register_years(
        &self,
        school: SchoolId,
        first_year: i32,
        last_year: i32,
    ) -> Result<Vec<RegisterYear>> {
        let rows = sqlx::query(
            "SELECT pupil_id, year, marks FROM register_years
             WHERE school_id = $1 AND year >= $2 AND year <= $3",
        )
        .bind(school.0)
        .bind(i64::from(first_year))
        .bind(i64::from(last_year))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(register_year_from_row).collect()
    }

    /// The given pupils' register years before `before_year` (for absence runs that reach
    /// back past the years already loaded).
    pub async fn earlier_register_years(
        &self,
        school: SchoolId,
        pupil_ids: &[i64],
        before_year: i32,
    ) -> Result<Vec<RegisterYear>> {
        let mut out = Vec::new();
        for chunk in pupil_ids.chunks(BATCH_ROWS) {
            let placeholders: Vec<String> = (3..chunk.len() + 3).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT pupil_id, year, marks FROM register_years
                 WHERE school_id = $1 AND year < $2 AND pupil_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql))
                .bind(school.0)
                .bind(i64::from(before_year));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push(register_year_from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// Writes changed register years, their provenance and the amendment records in one
    /// transaction: either the whole import lands or none of it does.
    pub async fn record_marks(
        &self,
        school: SchoolId,
        recorder: &Recorder,
        writes: &[RegisterWrite],
        amendments: &[Amendment],
    ) -> Result<i64> {
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut tx = self.pool.begin().await?;
        let source_id: i64 = sqlx::query(
            "INSERT INTO mark_sources (school_id, kind, source, recorded_by_name,
                recorded_by_role, recorded_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(school.0)
        .bind(&recorder.kind)
        .bind(&recorder.source)
        .bind(&recorder.by_name)
        .bind(&recorder.by_role)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let source_u32 = u32::try_from(source_id).context("mark source ids exhausted")?;

        for chunk in writes.chunks(BATCH_ROWS) {
            let sql = multi_row_sql(
                "INSERT INTO register_years (school_id, pupil_id, year, marks) VALUES ",
                4,
                chunk.len(),
                " ON CONFLICT (pupil_id, year) DO UPDATE SET marks = excluded.marks",
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for w in chunk {
                query = query
                    .bind(school.0)
                    .bind(w.pupil_id)
                    .bind(i64::from(w.year))
                    .bind(w.marks.clone());
            }
            query.execute(&mut *tx).await?;

            // Provenance: read what exists for these rows, stamp the recorded slots.
            let mut existing: HashMap<(i64, i32), Vec<u8>> = HashMap::new();
            let placeholders: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${})", 2 * i + 2, 2 * i + 3))
                .collect();
            let sql = format!(
                "SELECT pupil_id, year, sources FROM register_provenance
                 WHERE school_id = $1 AND (pupil_id, year) IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(school.0);
            for w in chunk {
                query = query.bind(w.pupil_id).bind(i64::from(w.year));
            }
            for row in query.fetch_all(&mut *tx).await? {
                let year: i64 = row.try_get(1)?;
                existing.insert((row.try_get(0)?, year as i32), row.try_get(2)?);
            }
            let sql = multi_row_sql(
                "INSERT INTO register_provenance (school_id, pupil_id, year, sources) VALUES ",
                4,
                chunk.len(),
                " ON CONFLICT (pupil_id, year) DO UPDATE SET sources = excluded.sources",
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for w in chunk {
                let mut sources = existing
                    .remove(&(w.pupil_id, w.year))
                    .unwrap_or_else(|| vec![0; SLOTS_PER_YEAR * 4]);
                sources.resize(SLOTS_PER_YEAR * 4, 0);
                for &slot in &w.recorded_slots {
                    let at = usize::from(slot) * 4;
                    sources[at..at + 4].copy_from_slice(&source_u32.to_le_bytes());
                }
                query = query
                    .bind(school.0)
                    .bind(w.pupil_id)
                    .bind(i64::from(w.year))
                    .bind(sources);
            }
            query.execute(&mut *tx).await?;
        }

        for chunk in amendments.chunks(BATCH_ROWS) {
            let sql = multi_row_sql(
                "INSERT INTO mark_amendments (school_id, pupil_id, date, session, original_code,
                    new_code, reason, amended_at, amended_by_name, amended_by_role, source_id)
                 VALUES ",
                11,
                chunk.len(),
                "",
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for a in chunk {
                let (date, session) = slot_date(a.year, a.slot);
                query = query
                    .bind(school.0)
                    .bind(a.pupil_id)
                    .bind(date.to_string())
                    .bind(session.as_str())
                    .bind(a.original.as_str())
                    .bind(a.new.as_str())
                    .bind(recorder.reason.clone())
                    .bind(now.clone())
                    .bind(recorder.by_name.clone())
                    .bind(recorder.by_role.clone())
                    .bind(source_id);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(source_id)
    }

    /// Amendment records, oldest first, optionally for one pupil.
    pub async fn amendments(
        &self,
        school: SchoolId,
        upn: Option<&str>,
    ) -> Result<Vec<AmendmentRecord>> {
        let rows = sqlx::query(
            "SELECT p.upn, a.date, a.session, a.original_code, a.new_code, a.reason,
                    a.amended_at, a.amended_by_name, a.amended_by_role
             FROM mark_amendments a JOIN pupils p ON p.id = a.pupil_id
             WHERE a.school_id = $1 AND ($2 = '' OR p.upn = $2)
             ORDER BY a.id",
        )
        .bind(school.0)
        .bind(upn.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AmendmentRecord {
                    upn: r.try_get(0)?,
                    date: r.try_get(1)?,
                    session: r.try_get(2)?,
                    original_code: r.try_get(3)?,
                    new_code: r.try_get(4)?,
                    reason: r.try_get(5)?,
                    amended_at: r.try_get(6)?,
                    amended_by_name: r.try_get(7)?,
                    amended_by_role: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// The current mark for one session and the import that recorded it.
    pub async fn mark_detail(
        &self,
        school: SchoolId,
        upn: &str,
        date: NaiveDate,
        session: Session,
    ) -> Result<Option<MarkDetail>> {
        let (year, slot) = crate::session::slot(date, session);
        let row = sqlx::query(
            "SELECT r.marks, v.sources FROM register_years r
             JOIN pupils p ON p.id = r.pupil_id
             LEFT JOIN register_provenance v ON v.pupil_id = r.pupil_id AND v.year = r.year
             WHERE r.school_id = $1 AND p.upn = $2 AND r.year = $3",
        )
        .bind(school.0)
        .bind(upn)
        .bind(i64::from(year))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let marks: Vec<u8> = row.try_get(0)?;
        let code = marks
            .get(slot)
            .copied()
            .and_then(MarkCode::from_byte)
            .unwrap_or(MarkCode::NONE);
        if code.is_none() {
            return Ok(None);
        }
        let sources: Option<Vec<u8>> = row.try_get(1)?;
        let source_id = sources
            .as_deref()
            .and_then(|s| s.get(slot * 4..slot * 4 + 4))
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_le_bytes);
        let source = sqlx::query(
            "SELECT recorded_at, kind, source, recorded_by_name, recorded_by_role
             FROM mark_sources WHERE id = $1",
        )
        .bind(i64::from(source_id))
        .fetch_optional(&self.pool)
        .await?;
        let (recorded_at, source, recorded_by) = match source {
            Some(s) => (
                s.try_get::<String, _>(0)?,
                format!(
                    "{} {}",
                    s.try_get::<String, _>(1)?,
                    s.try_get::<String, _>(2)?
                ),
                format!(
                    "{} ({})",
                    s.try_get::<String, _>(3)?,
                    s.try_get::<String, _>(4)?
                ),
            ),
            None => (String::new(), "unknown".into(), "unknown".into()),
        };
        Ok(Some(MarkDetail {
            code: code.as_str().to_owned(),
            recorded_at,
            source,
            recorded_by,
        }))
    }
}

/// `INSERT … VALUES ($1, …), ($n, …) …` with numbered placeholders, which both SQLite and
/// PostgreSQL accept (sqlx's QueryBuilder writes `?` for the Any driver, which Postgres does not).
pub(crate) fn multi_row_sql(head: &str, columns: usize, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * columns * 6);
    sql.push_str(head);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(r * columns + c + 1).to_string());
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

fn register_year_from_row(row: &AnyRow) -> Result<RegisterYear> {
    let year: i64 = row.try_get(1)?;
    Ok(RegisterYear {
        pupil_id: row.try_get(0)?,
        year: i32::try_from(year).context("stored academic year out of range")?,
        marks: row.try_get(2)?,
    })
}

fn pupil_from_row(r: &AnyRow) -> Result<StoredPupil> {
    let date = |i: usize| -> Result<NaiveDate> {
        let text: String = r.try_get(i)?;
        NaiveDate::from_str(&text).with_context(|| format!("stored date \"{text}\""))
    };
    let flag = |i: usize| -> Result<bool> { Ok(r.try_get::<i64, _>(i)? != 0) };
    let upn: String = r.try_get(1)?;
    let sen: String = r.try_get(9)?;
    let leaving: Option<String> = r.try_get(17)?;
    Ok(StoredPupil {
        id: r.try_get(0)?,
        pupil: Pupil {
            upn: Upn::parse(&upn).with_context(|| format!("stored UPN {upn}"))?,
            forename: r.try_get(2)?,
            surname: r.try_get(3)?,
            date_of_birth: date(4)?,
            year_group: r.try_get(5)?,
            reg_group: r.try_get(6)?,
            gender: r.try_get(7)?,
            fsm: flag(8)?,
            sen: Sen::parse(&sen).unwrap_or(Sen::None),
            eal: flag(10)?,
            ethnicity: r.try_get(11)?,
            lac: flag(12)?,
            social_worker: flag(13)?,
            young_carer: flag(14)?,
            concern: flag(15)?,
            admission_date: date(16)?,
            leaving_date: leaving
                .map(|t| NaiveDate::from_str(&t).with_context(|| format!("stored date \"{t}\"")))
                .transpose()?,
        },
    })
}

/// Adds `mode=rwc` so a missing SQLite file is created, and creates its folder.
fn sqlite_url_creating(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or("");
    let (path, query) = rest.split_once('?').map_or((rest, ""), |(p, q)| (p, q));
    if !path.is_empty()
        && !path.starts_with(':')
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    if query.split('&').any(|kv| kv.starts_with("mode=")) {
        Ok(url.to_owned())
    } else if query.is_empty() {
        Ok(format!("{url}?mode=rwc"))
    } else {
        Ok(format!("{url}&mode=rwc"))
    }
}

/// A database URL with any password removed, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***@{}", &url[..scheme], &url[at + 1..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_rows() {
        assert_eq!(
            multi_row_sql("INSERT INTO t VALUES ", 2, 2, ";"),
            "INSERT INTO t VALUES ($1, $2), ($3, $4);"
        );
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
