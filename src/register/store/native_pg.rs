//! `stats`'s read of a PostgreSQL register through sqlx's own PostgreSQL driver, not `Any`.
//!
//! Through `Any`, every row is converted once more after it arrives, with its column
//! descriptions built afresh for each row (names and all). At 1,000,000 pupils that
//! conversion and the allocations around it were a third of the client's time in `stats`
//! (`perf`), which then took 10.5-14.7 s. Here the same SQL is asked on a connection of the
//! driver's own, and the marks are borrowed from each row as it arrives. The pupils and their
//! years are read in one snapshot (`REPEATABLE READ`), as the SQLite reader does.

use anyhow::{Context, Result};
use futures_util::TryStreamExt as _;
use std::str::FromStr as _;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{ConnectOptions as _, Connection as _, Row as _};

use super::{
    PUPILS_BY_UPN_SQL, SchoolId, StoredPupil, StoredRow, YEARS_ONE_YEAR_SQL, YEARS_SEVERAL_SQL,
    hand_over, pupil_from_row,
};

impl StoredRow for PgRow {
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.try_get(i)?)
    }

    fn text(&self, i: usize) -> Result<&str> {
        Ok(self.try_get(i)?)
    }

    fn optional_text(&self, i: usize) -> Result<Option<&str>> {
        Ok(self.try_get(i)?)
    }

    fn blob(&self, i: usize) -> Result<&[u8]> {
        Ok(self.try_get(i)?)
    }
}

/// A connection of the PostgreSQL driver's own, opened for one read, logging its statements
/// as the pool's connections do (see `url::connect_options`).
pub async fn connect(url: &str, display: &str) -> Result<PgConnection> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| format!("the database url {display} is not valid"))?
        .log_statements(log::LevelFilter::Trace)
        .log_slow_statements(log::LevelFilter::Debug, std::time::Duration::from_secs(1));
    options
        .connect()
        .await
        .with_context(|| format!("cannot open the database {display}"))
}

/// Starts the read's snapshot on `conn`: everything read until the returned transaction ends
/// sees one state of the database.
pub async fn snapshot(conn: &mut PgConnection) -> Result<sqlx::Transaction<'_, sqlx::Postgres>> {
    let mut tx = conn.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// The school's pupils in UPN order, as [`super::Store::pupils`] returns them.
pub async fn pupils(conn: &mut PgConnection, school: SchoolId) -> Result<Vec<StoredPupil>> {
    let mut rows = sqlx::query(PUPILS_BY_UPN_SQL)
        .bind(school.0)
        .fetch(&mut *conn);
    let mut pupils = Vec::new();
    while let Some(row) = rows.try_next().await? {
        pupils.push(pupil_from_row(&row)?);
    }
    Ok(pupils)
}

/// [`super::Store::each_pupil_years`] on this connection.
pub async fn each_pupil_years<F>(
    conn: &mut PgConnection,
    school: SchoolId,
    first_year: i32,
    last_year: i32,
    mut each: F,
) -> Result<()>
where
    F: FnMut(i64, &[(i32, &[u8])]) -> Result<()>,
{
    let sql = if first_year == last_year {
        YEARS_ONE_YEAR_SQL
    } else {
        YEARS_SEVERAL_SQL
    };
    let mut rows = sqlx::query(sql)
        .bind(school.0)
        .bind(i64::from(first_year))
        .bind(i64::from(last_year))
        .fetch(&mut *conn);
    // The current pupil's rows, kept whole so their marks can be borrowed.
    let mut group: Vec<PgRow> = Vec::new();
    let mut group_id: Option<i64> = None;
    while let Some(row) = rows.try_next().await? {
        let id = row.int(0)?;
        if group_id != Some(id) {
            if let Some(done) = group_id {
                hand_over(done, &group, &mut each)?;
            }
            group.clear();
            group_id = Some(id);
        }
        group.push(row);
    }
    if let Some(done) = group_id {
        hand_over(done, &group, &mut each)?;
    }
    Ok(())
}
