//! The register writer: an import's marks merged into the pupils' register years, with their
//! provenance and amendment records, in one transaction.

use anyhow::{Context, Result};
use chrono::Utc;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::*;

/// Who recorded marks, for the mark_sources row and amendment records.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub kind: String,
    pub source: String,
    pub by_name: String,
    pub by_role: String,
    pub reason: String,
}

/// One pupil-year an import writes: what the file says, and the row as the import read it.
#[derive(Debug, Clone, Copy)]
pub struct YearWrite<'a> {
    pub pupil_id: i64,
    pub year: i32,
    /// The row's version and marks when the import read them; `None` when there was no row.
    pub seen: Option<(i64, &'a [u8])>,
    /// The marks the file sets, one byte per slot ([`crate::register::session::slot`]); 0 where the
    /// file says nothing about a session.
    pub file: &'a [u8],
}

/// A file's marks merged into a register year.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Merge {
    pub marks: Vec<u8>,
    /// Slots whose mark this write records (new or changed).
    pub recorded: Vec<u16>,
    pub inserted: u64,
    pub unchanged: u64,
    /// (slot, original, new) for each mark the file changes.
    pub amended: Vec<(usize, MarkCode, MarkCode)>,
}

impl Merge {
    pub fn changes_anything(&self) -> bool {
        !self.recorded.is_empty()
    }
}

/// Puts the file's marks over `current`: a session the file does not mention keeps its mark,
/// a new mark is an insert, a different one an amendment.
pub fn merge_year(current: &[u8], file: &[u8]) -> Merge {
    let mut marks = current.to_vec();
    marks.resize(SLOTS_PER_YEAR, 0);
    let mut merge = Merge::default();
    for (at, &new) in file.iter().enumerate().take(SLOTS_PER_YEAR) {
        if new == 0 {
            continue;
        }
        let before = marks[at];
        if before == new {
            merge.unchanged += 1;
            continue;
        }
        match MarkCode::from_byte(before).filter(|c| !c.is_none()) {
            Some(original) => merge.amended.push((
                at,
                original,
                MarkCode::from_byte(new).unwrap_or(MarkCode::NONE),
            )),
            None => merge.inserted += 1,
        }
        marks[at] = new;
        merge.recorded.push(at as u16);
    }
    merge.marks = marks;
    merge
}

/// What [`Store::record_marks`] wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The mark_sources row, when anything changed.
    pub source_id: Option<i64>,
    pub inserted: u64,
    pub amended: u64,
    pub unchanged: u64,
    /// Pupil-years another writer changed after this import read them: merged again with
    /// what that writer left, so neither loses a mark.
    pub merged_again: u64,
}

impl Store {
    /// Writes an import's register years, their provenance and the amendment records in one
    /// transaction: either the whole import lands or none of it does.
    ///
    /// Two writers of one pupil-year (two imports, an import and the daemon's inbox, two
    /// daemons on PostgreSQL) must never overwrite each other: each read the row before the
    /// other wrote it, so writing back its own copy would drop the other's marks and
    /// amendments. So the write is serialised per pupil-year and re-checked, not retried
    /// whole: inside the transaction the rows are locked (SQLite: `BEGIN IMMEDIATE`, the one
    /// writer lock, taken before anything is read; PostgreSQL: an `INSERT … ON CONFLICT DO
    /// UPDATE` that locks each existing row, or creates and locks a missing one, in pupil-year
    /// order so two imports cannot deadlock), their versions are compared with those the
    /// import read, and only rows whose version moved are read again. The file's marks are
    /// then merged into what is there now, so amendments are worked out against the mark
    /// the other writer left. A lock plus a version check costs one small read per row in
    /// the common case (nobody else writing) and never makes a large import start again
    /// because one pupil changed under it; the version also lets a future writer that
    /// cannot hold a lock (an MIS sync) do a compare-and-swap on the same column.
    pub async fn record_marks(
        &self,
        school: SchoolId,
        recorder: &Recorder,
        writes: &[YearWrite<'_>],
    ) -> Result<Recorded> {
        let mut order: Vec<&YearWrite<'_>> = writes.iter().collect();
        order.sort_by_key(|w| (w.pupil_id, w.year));
        // A lock wait past SQLite's busy timeout (another large import) or a PostgreSQL
        // deadlock victim: nothing was written, so the whole transaction is tried again.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(600);
        let mut pause = std::time::Duration::from_millis(50);
        loop {
            match self.record_marks_once(school, recorder, &order).await {
                Ok(recorded) => return Ok(recorded),
                Err(e) if is_retryable(&e) && std::time::Instant::now() < give_up => {
                    tracing::debug!("register write waits for another writer: {e:#}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(2));
                }
                Err(e) => {
                    return Err(e.context(format!(
                        "cannot record the marks in the database {}; nothing was imported",
                        self.display
                    )));
                }
            }
        }
    }

    async fn record_marks_once(
        &self,
        school: SchoolId,
        recorder: &Recorder,
        order: &[&YearWrite<'_>],
    ) -> Result<Recorded> {
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        // The version of each row now, with the row locked.
        let mut now_version: HashMap<(i64, i32), i64> = HashMap::with_capacity(order.len());
        for chunk in order.chunks(BATCH_ROWS) {
            let rows = match self.backend {
                Backend::Postgres => {
                    // A missing row is created empty (version 0) so it is locked too: the
                    // writes themselves come below, once the merge is known.
                    let sql = multi_row_sql(
                        Backend::Postgres,
                        "INSERT INTO register_years (school_id, pupil_id, year, marks, version) VALUES ",
                        5,
                        chunk.len(),
                        " ON CONFLICT (pupil_id, year) DO UPDATE SET version = register_years.version
                          RETURNING pupil_id, year, version",
                    );
                    let mut query = sqlx::query(AssertSqlSafe(sql));
                    for w in chunk {
                        query = query
                            .bind(school.0)
                            .bind(w.pupil_id)
                            .bind(i64::from(w.year))
                            .bind(Vec::<u8>::new())
                            .bind(0_i64);
                    }
                    query.fetch_all(&mut *tx).await?
                }
                Backend::Sqlite => {
                    read_by_key(
                        &mut tx,
                        "SELECT pupil_id, year, version FROM register_years",
                        school,
                        chunk.iter().map(|w| (w.pupil_id, w.year)),
                    )
                    .await?
                }
            };
            for row in rows {
                let year: i64 = row.try_get(1)?;
                now_version.insert((row.try_get(0)?, year as i32), row.try_get(2)?);
            }
        }

        // Rows another writer changed (or created) since the import read them.
        let stale: Vec<&YearWrite<'_>> = order
            .iter()
            .copied()
            .filter(|w| {
                let now = now_version.get(&(w.pupil_id, w.year)).copied().unwrap_or(0);
                match w.seen {
                    Some((seen, _)) => now != seen,
                    None => now != 0,
                }
            })
            .collect();
        let mut fresh: HashMap<(i64, i32), Vec<u8>> = HashMap::with_capacity(stale.len());
        for chunk in stale.chunks(BATCH_ROWS) {
            let rows = read_by_key(
                &mut tx,
                "SELECT pupil_id, year, marks FROM register_years",
                school,
                chunk.iter().map(|w| (w.pupil_id, w.year)),
            )
            .await?;
            for row in rows {
                let year: i64 = row.try_get(1)?;
                fresh.insert((row.try_get(0)?, year as i32), row.try_get(2)?);
            }
        }

        let mut recorded = Recorded {
            merged_again: stale.len() as u64,
            ..Recorded::default()
        };
        // The source row first, so each chunk can be merged and written in turn (one chunk's
        // merged years in memory, not the whole file's); if in the end nothing changed, the
        // transaction is rolled back and the source row goes with it.
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
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

        for chunk in order.chunks(BATCH_ROWS) {
            let mut merged: Vec<(&YearWrite<'_>, Merge, i64)> = Vec::with_capacity(chunk.len());
            for w in chunk {
                let key = (w.pupil_id, w.year);
                let current: &[u8] = match (fresh.get(&key), w.seen) {
                    (Some(now), _) => now,
                    (None, Some((_, seen))) => seen,
                    (None, None) => &[],
                };
                let merge = merge_year(current, w.file);
                recorded.inserted += merge.inserted;
                recorded.unchanged += merge.unchanged;
                recorded.amended += merge.amended.len() as u64;
                let version = now_version.get(&key).copied().unwrap_or(0);
                // A row created empty above is written even if, against the odds, the file
                // changes nothing in it, so no empty placeholder is left behind.
                if merge.changes_anything() || version == 0 {
                    merged.push((w, merge, version + 1));
                }
            }
            if merged.is_empty() {
                continue;
            }
            self.write_merged(
                &mut tx, school, recorder, &merged, source_id, source_u32, &now,
            )
            .await?;
        }
        if recorded.inserted == 0 && recorded.amended == 0 {
            // Another writer already recorded everything this file says.
            tx.rollback().await?;
            return Ok(recorded);
        }
        recorded.source_id = Some(source_id);
        tx.commit().await?;
        Ok(recorded)
    }

    /// Writes one chunk of merged register years, their provenance stamps and amendments.
    #[allow(clippy::too_many_arguments)]
    async fn write_merged(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        school: SchoolId,
        recorder: &Recorder,
        chunk: &[(&YearWrite<'_>, Merge, i64)],
        source_id: i64,
        source_u32: u32,
        now: &str,
    ) -> Result<()> {
        let sql = multi_row_sql(
            self.backend,
            "INSERT INTO register_years (school_id, pupil_id, year, marks, version) VALUES ",
            5,
            chunk.len(),
            " ON CONFLICT (pupil_id, year) DO UPDATE SET marks = excluded.marks,
                version = excluded.version",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (w, merge, version) in chunk {
            query = query
                .bind(school.0)
                .bind(w.pupil_id)
                .bind(i64::from(w.year))
                .bind(merge.marks.as_slice())
                .bind(*version);
        }
        query.execute(&mut **tx).await?;
        carry_quiet(tx, chunk).await?;

        // Provenance: read what exists for these rows, stamp the recorded slots. The
        // register_years rows are locked, so nobody else is stamping them now.
        let mut existing: HashMap<(i64, i32), Vec<u8>> = HashMap::new();
        let rows = read_by_key(
            tx,
            "SELECT pupil_id, year, sources FROM register_provenance",
            school,
            chunk.iter().map(|(w, _, _)| (w.pupil_id, w.year)),
        )
        .await?;
        for row in rows {
            let year: i64 = row.try_get(1)?;
            existing.insert((row.try_get(0)?, year as i32), row.try_get(2)?);
        }
        let sql = multi_row_sql(
            self.backend,
            "INSERT INTO register_provenance (school_id, pupil_id, year, sources) VALUES ",
            4,
            chunk.len(),
            " ON CONFLICT (pupil_id, year) DO UPDATE SET sources = excluded.sources",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (w, merge, _) in chunk {
            let mut sources = existing
                .remove(&(w.pupil_id, w.year))
                .unwrap_or_else(|| vec![0; SLOTS_PER_YEAR * 4]);
            sources.resize(SLOTS_PER_YEAR * 4, 0);
            for &slot in &merge.recorded {
                let at = usize::from(slot) * 4;
                sources[at..at + 4].copy_from_slice(&source_u32.to_le_bytes());
            }
            query = query
                .bind(school.0)
                .bind(w.pupil_id)
                .bind(i64::from(w.year))
                .bind(sources);
        }
        query.execute(&mut **tx).await?;

        let amendments: Vec<(&YearWrite<'_>, usize, MarkCode, MarkCode)> = chunk
            .iter()
            .flat_map(|(w, merge, _)| {
                merge
                    .amended
                    .iter()
                    .map(move |&(slot, original, new)| (*w, slot, original, new))
            })
            .collect();
        for part in amendments.chunks(BATCH_ROWS) {
            let sql = multi_row_sql(
                self.backend,
                "INSERT INTO mark_amendments (school_id, pupil_id, date, session, original_code,
                    new_code, reason, amended_at, amended_by_name, amended_by_role, source_id)
                 VALUES ",
                11,
                part.len(),
                "",
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (w, slot, original, new) in part {
                let (date, session) = slot_date(w.year, *slot);
                query = query
                    .bind(school.0)
                    .bind(w.pupil_id)
                    .bind(date.to_string())
                    .bind(session.as_str())
                    .bind(original.as_str())
                    .bind(new.as_str())
                    .bind(recorder.reason.as_str())
                    .bind(now)
                    .bind(recorder.by_name.as_str())
                    .bind(recorder.by_role.as_str())
                    .bind(source_id);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// The rows of `select` (a table keyed by pupil and academic year, with a `school_id`) for the
/// school's `keys`, each found by its primary key: `year = Y AND pupil_id IN (…)`, one statement
/// per year among them (nearly always one), the values written as literals (integers: no SQL
/// can ride in them, and SQLite parses no placeholders). The school's own condition goes beside
/// it as `+school_id`, which no index serves. Asked for `(pupil_id, year) IN ((…), …)` with
/// `school_id = $1`, SQLite read every register year of the school through the school's index
/// for each chunk of 500 pupils (44 ms a chunk, 9 of the 13 s of one morning register at
/// 100,000 pupils); the PostgreSQL benchmark saw PostgreSQL do the same at 20,000 pupils
/// (README, "PostgreSQL at scale").
async fn read_by_key(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    select: &str,
    school: SchoolId,
    keys: impl Iterator<Item = (i64, i32)>,
) -> Result<Vec<AnyRow>> {
    let mut by_year: std::collections::BTreeMap<i32, Vec<i64>> = std::collections::BTreeMap::new();
    for (pupil, year) in keys {
        by_year.entry(year).or_default().push(pupil);
    }
    let mut rows = Vec::new();
    for (year, pupils) in by_year {
        let sql = format!(
            "{select} WHERE +school_id = $1 AND year = {year} AND pupil_id IN ({})",
            integer_list(&pupils)
        );
        rows.extend(
            sqlx::query(AssertSqlSafe(sql))
                .bind(school.0)
                .fetch_all(&mut **tx)
                .await?,
        );
    }
    Ok(rows)
}

/// A lock that could not be had in time, or a deadlock PostgreSQL broke by aborting this
/// transaction: nothing was written, and trying again is safe.
fn is_retryable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let Some(sqlx::Error::Database(db)) = cause.downcast_ref::<sqlx::Error>() else {
            return false;
        };
        let code = db.code().unwrap_or_default();
        match code.as_ref() {
            // serialization_failure, deadlock_detected, lock_not_available
            "40001" | "40P01" | "55P03" => true,
            // SQLITE_BUSY and SQLITE_LOCKED, with or without their extended codes.
            other => other
                .parse::<i32>()
                .is_ok_and(|n| matches!(n & 0xff, 5 | 6)),
        }
    })
}
