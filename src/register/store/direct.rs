//! Reading a school's register straight from its SQLite file, for `stats` and everything built
//! on it.
//!
//! sqlx hands every row over as owned values: the blob is copied out of SQLite, then converted
//! again for the `Any` driver. At 100,000 pupils that was over 70 % of `stats` (issue 17), the
//! arithmetic 5 %. Here a second, read-only connection (rusqlite, over the same SQLite library
//! that sqlx links) steps the statement itself and lends each row's marks for that one step.
//! The SQL and the conversion of a pupils row are the store's own, so both ways of reading ask
//! the same question and build the same pupils. An SQLite database that lives in memory (which
//! a second connection cannot see) keeps the sqlx path; PostgreSQL has its own (`native_pg`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, Transaction};

use super::{PUPILS_SCAN_SQL, SchoolId, StoredPupil, StoredRow, pupil_from_row, years_sql};

/// How much of the file [`DirectReader::rows`] maps (SQLite maps no more than the file holds).
const MAPPED_BYTES: i64 = 1 << 30;

/// Where a store's SQLite file is, for a read that bypasses sqlx. Cheap to clone and sendable
/// to a blocking thread.
#[derive(Debug, Clone)]
pub struct DirectReader {
    pub(super) path: PathBuf,
    pub(super) display: String,
}

impl DirectReader {
    /// Opens a read-only connection. The caller reads inside [`DirectReader::snapshot`] so
    /// that the pupils and their years come from one state of the database, as they would
    /// from one statement.
    pub fn open(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open the database {} for reading", self.display))?;
        // As the store's own connections: a writer finishing a checkpoint may hold the lock
        // for a moment.
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(conn)
    }

    /// Every row of `sql` (whose only placeholder is the school's id, `$1`), each made into
    /// a `T` by `from_row`, on a connection of its own on a blocking thread. The escalation
    /// engine reads its pupils, their years and contacts this way: through sqlx each row
    /// crossed to the async side on its own (a thread woken per row), and its values were
    /// copied twice.
    pub(super) async fn rows<T, F>(
        &self,
        sql: String,
        school: SchoolId,
        from_row: F,
    ) -> Result<Vec<T>>
    where
        T: Send + 'static,
        F: Fn(&rusqlite::Row<'_>) -> Result<T> + Send + 'static,
    {
        let reader = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.open()?;
            let read = || -> Result<Vec<T>> {
                // An incremental pass reads a few thousand pupils' rows from all over the file,
                // several reads at once: mapped, SQLite reads each page in place instead of
                // copying it out with a system call (the 09:45 run at 100,000 pupils: loading
                // 233-294 ms -> 175-201 ms). Mapped pages count in the process's resident
                // memory (that run's peak 75 -> 180-218 MiB), though they are the file's
                // cache and not the process's own; `stats`, which reads every page, does not
                // map them.
                conn.pragma_update(None, "mmap_size", MAPPED_BYTES)?;
                let mut statement = conn.prepare(&sql)?;
                let mut rows = statement.query([school.0])?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(from_row(row)?);
                }
                Ok(out)
            };
            read().with_context(|| format!("cannot read the database {}", reader.display))
        })
        .await
        .context("the read of the database stopped")?
    }

    /// A read transaction: everything read through it sees one state of the database.
    pub fn snapshot<'c>(&self, conn: &'c mut Connection) -> Result<Transaction<'c>> {
        conn.transaction()
            .with_context(|| format!("cannot read the database {}", self.display))
    }

    /// The school's pupils rows in the table's order, copied out of SQLite in batches of
    /// `per_batch` rows, each handed to `each`: a [`PupilsBuilder`] on another thread makes
    /// them into pupils while this one steps on (`stats` reads the register years next).
    pub fn each_pupil_rows(
        &self,
        conn: &Connection,
        school: SchoolId,
        per_batch: usize,
        mut each: impl FnMut(PupilRows) -> Result<()>,
    ) -> Result<()> {
        let mut read = || -> Result<()> {
            let mut statement = conn.prepare(PUPILS_SCAN_SQL)?;
            let columns = statement.column_count();
            let mut rows = statement.query([school.0])?;
            let mut batch = CopiedRows::new(columns, per_batch);
            while let Some(row) = rows.next()? {
                batch.push(row)?;
                if batch.len() >= per_batch {
                    each(PupilRows(std::mem::replace(
                        &mut batch,
                        CopiedRows::new(columns, per_batch),
                    )))?;
                }
            }
            if batch.len() > 0 {
                each(PupilRows(batch))?;
            }
            Ok(())
        };
        read().with_context(|| format!("cannot read the pupils from {}", self.display))
    }

    /// [`super::Store::each_pupil_years`], read directly: `each` gets each pupil's years in
    /// year order. With one year a pupil has one row (the primary key is pupil and year), and
    /// its marks are lent straight from SQLite's row. With several, a pupil's rows come one
    /// step at a time and a step ends the loan of the row before it, so the rows are copied
    /// into buffers kept from pupil to pupil until the next pupil's first row shows that the
    /// last one is complete.
    pub fn each_pupil_years<F>(
        &self,
        conn: &Connection,
        school: SchoolId,
        first_year: i32,
        last_year: i32,
        mut each: F,
    ) -> Result<()>
    where
        F: FnMut(i64, &[(i32, &[u8])]) -> Result<()>,
    {
        let one_year = first_year == last_year;
        let mut statement = conn
            .prepare(years_sql(first_year, last_year))
            .with_context(|| format!("cannot read the register from {}", self.display))?;
        let mut rows = statement
            .query((school.0, i64::from(first_year), i64::from(last_year)))
            .with_context(|| format!("cannot read the register from {}", self.display))?;
        // Several years: the current pupil's rows so far, in buffers reused for the next
        // pupil (only the first `held` entries are this pupil's).
        let mut buffers: Vec<(i32, Vec<u8>)> = Vec::new();
        let mut held = 0;
        let mut current: Option<i64> = None;
        let hand_over = |id: i64, buffers: &[(i32, Vec<u8>)], each: &mut F| -> Result<()> {
            let years: Vec<(i32, &[u8])> =
                buffers.iter().map(|(y, m)| (*y, m.as_slice())).collect();
            each(id, &years)
        };
        while let Some(row) = rows
            .next()
            .with_context(|| format!("cannot read the register from {}", self.display))?
        {
            let id: i64 = row.get(0)?;
            let year: i64 = row.get(1)?;
            let year = i32::try_from(year).context("stored academic year out of range")?;
            let marks = row.get_ref(2)?.as_blob()?;
            if one_year {
                each(id, &[(year, marks)])?;
                continue;
            }
            if current != Some(id) {
                if let Some(done) = current {
                    hand_over(done, &buffers[..held], &mut each)?;
                }
                current = Some(id);
                held = 0;
            }
            if held == buffers.len() {
                buffers.push((year, marks.to_vec()));
            } else {
                let (y, m) = &mut buffers[held];
                *y = year;
                m.clear();
                m.extend_from_slice(marks);
            }
            held += 1;
        }
        if let Some(done) = current {
            hand_over(done, &buffers[..held], &mut each)?;
        }
        Ok(())
    }
}

/// Pupils rows as [`DirectReader::each_pupil_rows`] copied them out of SQLite.
pub struct PupilRows(CopiedRows);

/// Makes [`PupilRows`] into pupils, as [`super::Store::pupils`] would have built them.
pub struct PupilsBuilder {
    /// Each taken once, in UPN order, by [`PupilsBuilder::finish`].
    pupils: Vec<Option<StoredPupil>>,
    display: String,
}

impl PupilsBuilder {
    pub fn new(reader: &DirectReader) -> PupilsBuilder {
        PupilsBuilder {
            pupils: Vec::new(),
            display: reader.display.clone(),
        }
    }

    pub fn add(&mut self, rows: &PupilRows) -> Result<()> {
        self.pupils.reserve(rows.0.len());
        for row in rows.0.rows() {
            let pupil = pupil_from_row(&row)
                .with_context(|| format!("cannot read the pupils from {}", self.display))?;
            self.pupils.push(Some(pupil));
        }
        Ok(())
    }

    /// How many pupils [`PupilsBuilder::finish`] will give.
    pub fn count(&self) -> usize {
        self.pupils.len()
    }

    /// The pupils, in UPN order, each moved out once: sorting them in place moved each
    /// pupil about three times, at random places in tens of megabytes (5 % of a profile of
    /// `stats` at 100,000 pupils), before they were moved again into the caller's list.
    pub fn finish(self) -> impl Iterator<Item = StoredPupil> {
        let order = upn_order(&self.pupils, |p| {
            p.as_ref().map_or("", |p| p.pupil.upn.as_str())
        });
        let mut pupils = self.pupils;
        order.into_iter().filter_map(move |i| pupils[i].take())
    }
}

/// Rows copied out of a statement as it steps, values side by side, so that another thread
/// can convert them: one allocation for a batch's text, none per value.
struct CopiedRows {
    columns: usize,
    cells: Vec<Cell>,
    bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Cell {
    Null,
    Integer(i64),
    Real,
    Text(usize, usize),
    Blob(usize, usize),
}

impl CopiedRows {
    fn new(columns: usize, rows: usize) -> CopiedRows {
        CopiedRows {
            columns,
            cells: Vec::with_capacity(columns * rows),
            bytes: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.cells.len().checked_div(self.columns).unwrap_or(0)
    }

    fn push(&mut self, row: &rusqlite::Row<'_>) -> Result<()> {
        for i in 0..self.columns {
            let cell = match row.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Integer(v),
                ValueRef::Real(_) => Cell::Real,
                ValueRef::Text(bytes) => {
                    let start = self.bytes.len();
                    self.bytes.extend_from_slice(bytes);
                    Cell::Text(start, self.bytes.len())
                }
                ValueRef::Blob(bytes) => {
                    let start = self.bytes.len();
                    self.bytes.extend_from_slice(bytes);
                    Cell::Blob(start, self.bytes.len())
                }
            };
            self.cells.push(cell);
        }
        Ok(())
    }

    fn rows(&self) -> impl Iterator<Item = CopiedRow<'_>> {
        (0..self.len()).map(|row| CopiedRow {
            rows: self,
            first: row * self.columns,
        })
    }
}

/// One row of [`CopiedRows`], read as SQLite's own row would be (the same types accepted).
struct CopiedRow<'a> {
    rows: &'a CopiedRows,
    first: usize,
}

impl CopiedRow<'_> {
    fn cell(&self, i: usize) -> Result<Cell> {
        anyhow::ensure!(i < self.rows.columns, "no column {i}");
        Ok(self.rows.cells[self.first + i])
    }

    fn bytes(&self, start: usize, end: usize) -> &[u8] {
        &self.rows.bytes[start..end]
    }
}

impl Cell {
    fn kind(self) -> &'static str {
        match self {
            Cell::Null => "NULL",
            Cell::Integer(_) => "an integer",
            Cell::Real => "a real number",
            Cell::Text(..) => "text",
            Cell::Blob(..) => "a blob",
        }
    }
}

impl StoredRow for CopiedRow<'_> {
    fn int(&self, i: usize) -> Result<i64> {
        match self.cell(i)? {
            Cell::Integer(v) => Ok(v),
            other => anyhow::bail!("column {i} holds {}, not an integer", other.kind()),
        }
    }

    fn text(&self, i: usize) -> Result<&str> {
        match self.cell(i)? {
            Cell::Text(start, end) => std::str::from_utf8(self.bytes(start, end))
                .with_context(|| format!("column {i} is not UTF-8 text")),
            other => anyhow::bail!("column {i} holds {}, not text", other.kind()),
        }
    }

    fn optional_text(&self, i: usize) -> Result<Option<&str>> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    fn blob(&self, i: usize) -> Result<&[u8]> {
        match self.cell(i)? {
            Cell::Blob(start, end) => Ok(self.bytes(start, end)),
            other => anyhow::bail!("column {i} holds {}, not a blob", other.kind()),
        }
    }
}

/// Puts pupils in the order of SQLite's `ORDER BY upn`: bytes compared (the column's
/// collation is BINARY), as `str` compares them; a UPN is unique in its school, so there are no
/// ties to order. The pupils are large, so their order is worked out on (UPN, place) pairs,
/// the first 16 bytes of a UPN (all 13 of a valid one) in an integer, and the pupils are then
/// moved once each into place.
pub(super) fn sort_by_upn(pupils: &mut [StoredPupil]) {
    let order = upn_order(pupils, |p| p.pupil.upn.as_str());
    // `order[k]` is where the pupil for place k is now: follow each cycle of places, moving
    // each pupil along by one swap.
    let mut placed = vec![false; pupils.len()];
    for start in 0..pupils.len() {
        if placed[start] {
            continue;
        }
        let mut k = start;
        loop {
            placed[k] = true;
            let from = order[k];
            if from == start {
                break;
            }
            pupils.swap(k, from);
            k = from;
        }
    }
}

/// Where each item of `items` goes in UPN order: the `k`th in order is `items[order[k]]`.
fn upn_order<T>(items: &[T], upn: fn(&T) -> &str) -> Vec<usize> {
    let key = |item: &T| {
        let mut bytes = [0u8; 16];
        let upn = upn(item).as_bytes();
        let n = upn.len().min(16);
        bytes[..n].copy_from_slice(&upn[..n]);
        u128::from_be_bytes(bytes)
    };
    let mut order: Vec<(u128, usize)> = items
        .iter()
        .enumerate()
        .map(|(i, item)| (key(item), i))
        .collect();
    order.sort_unstable_by(|(ka, a), (kb, b)| {
        ka.cmp(kb)
            .then_with(|| upn(&items[*a]).cmp(upn(&items[*b])))
    });
    order.into_iter().map(|(_, i)| i).collect()
}

impl StoredRow for rusqlite::Row<'_> {
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.get(i)?)
    }

    fn text(&self, i: usize) -> Result<&str> {
        Ok(self.get_ref(i)?.as_str()?)
    }

    fn optional_text(&self, i: usize) -> Result<Option<&str>> {
        Ok(self.get_ref(i)?.as_str_or_null()?)
    }

    fn blob(&self, i: usize) -> Result<&[u8]> {
        Ok(self.get_ref(i)?.as_blob()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each way of reading each column of a row gives (out of range too): the value, or
    /// that it was refused.
    fn readings<R: StoredRow + ?Sized>(row: &R, columns: usize) -> Vec<String> {
        (0..=columns)
            .map(|i| {
                format!(
                    "{i}: {:?} {:?} {:?} {:?}",
                    row.int(i).ok(),
                    row.text(i).ok(),
                    row.optional_text(i).ok(),
                    row.blob(i).ok()
                )
            })
            .collect()
    }

    #[test]
    fn copied_rows_read_as_the_rows_they_were_copied_from() -> Result<()> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE TABLE t (a, b, c, d, e);
             INSERT INTO t VALUES (1, 'text', NULL, x'00ff', 2.5),
                                  ('é', -7, '', NULL, x''),
                                  (CAST(x'ff' AS TEXT), 9223372036854775807, 'x', 'y', NULL);",
        )?;
        let mut statement = conn.prepare("SELECT a, b, c, d, e FROM t")?;
        let columns = statement.column_count();
        let mut copied = CopiedRows::new(columns, 1);
        let mut read_from_sqlite = Vec::new();
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            copied.push(row)?;
            read_from_sqlite.push(readings(row, columns));
        }
        assert_eq!(copied.len(), 3);
        let read_from_copies: Vec<_> = copied.rows().map(|row| readings(&row, columns)).collect();
        assert_eq!(read_from_copies, read_from_sqlite);
        // Not UTF-8, so refused as text either way; a NULL is no text but an empty text is.
        assert!(read_from_copies[2][0].contains("None None None"));
        assert!(read_from_copies[1][2].contains("Some(\"\") Some(Some(\"\"))"));
        Ok(())
    }
}
