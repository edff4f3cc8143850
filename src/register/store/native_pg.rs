//! `stats`'s read of a PostgreSQL register through sqlx's own PostgreSQL driver, not `Any`.
//!
//! Through `Any`, every row is converted once more after it arrives, with its column
//! descriptions built afresh for each row (names and all). In `stats` at 1,000,000 pupils
//! (`perf`) that conversion was about 15 % of the client's CPU, and the allocator, much of it
//! busy with what the conversion allocated, about 20 % (`stats` took a median of 15.2 s that
//! way, 11.6 s this way: README, "PostgreSQL at scale"). Here the same SQL is asked on a connection of
//! the driver's own, and the marks are borrowed from each row as it arrives. The pupils and
//! their years are read in one snapshot (`REPEATABLE READ`), as the SQLite reader does.

use std::str::FromStr as _;

use anyhow::{Context, Result};
use futures_util::TryStreamExt as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions as _, Connection as _};

use super::{
    PUPILS_BY_UPN_SQL, SchoolId, StoredPupil, hand_over_by_pupil, pupil_from_row, years_sql,
};

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
    each: F,
) -> Result<()>
where
    F: FnMut(i64, &[(i32, &[u8])]) -> Result<()>,
{
    let rows = sqlx::query(years_sql(first_year, last_year))
        .bind(school.0)
        .bind(i64::from(first_year))
        .bind(i64::from(last_year))
        .fetch(&mut *conn);
    hand_over_by_pupil(rows, each).await
}
