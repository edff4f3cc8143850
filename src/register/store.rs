//! The register store: SQLite (embedded default) or PostgreSQL (trusts, LAs, several
//! daemons), through sqlx's `Any` driver so one set of queries serves both.
//!
//! Layout choice: marks are kept as one row per pupil per academic year holding one byte per
//! session (see [`crate::register::session::slot`]). The statistics read 100,000 pupils' years as
//! 100,000 small blobs instead of 38 million rows; provenance (which import recorded each
//! mark) sits in a parallel table the hot path never touches.

use std::collections::HashMap;
use std::str::FromStr;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, ConnectOptions as _, Executor, Row};

use crate::config::SchoolConfig;
use crate::register::mark::MarkCode;
use crate::register::pupil::{Contact, Pupil, Sen, Upn};
use crate::register::session::{SLOTS_PER_YEAR, Session, slot_date};

mod direct;
pub mod native_pg;
mod quiet;
mod url;
mod write;
pub use direct::{DirectReader, PupilRows, PupilsBuilder};
use quiet::carry_quiet;
pub(crate) use quiet::{LITERAL_ROWS, forget_certificates, integer_list};
pub use quiet::{LeaveOut, lists_evaluated};
use url::{backend_of, connect_options, prepare_sqlite_file, sqlite_url_creating};
pub use url::{redact, sqlite_path};
pub use write::{Merge, Recorded, Recorder, YearWrite, merge_year};

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
    display: String,
    /// The SQLite file, for reads that bypass sqlx ([`DirectReader`]); `None` on PostgreSQL
    /// and for an in-memory database.
    sqlite_file: Option<std::path::PathBuf>,
    /// The PostgreSQL URL, for `stats`'s read through the driver's own connection
    /// ([`native_pg`]); `None` on SQLite.
    postgres_url: Option<String>,
}

/// Connections to a PostgreSQL database. A pass loads its school with eleven reads side by
/// side (`escalation::load_except`); with five connections six of them waited for one, and
/// at 1,000,000 pupils the register read took longer than the pool's 30 s wait, so the full
/// pass failed ("pool timed out while waiting for an open connection"). Twelve lets every
/// read of a pass run at once, with one to spare for the daemon's other jobs. The wait
/// itself stays short, so a server that is down is reported within 30 s.
pub const POSTGRES_CONNECTIONS: u32 = 12;

/// The columns [`pupil_from_row`] reads, in its order.
macro_rules! pupil_columns {
    () => {
        "id, upn, forename, surname, date_of_birth, year_group, reg_group, gender, fsm, sen, eal,
         ethnicity, lac, social_worker, young_carer, concern, admission_date, leaving_date"
    };
}

/// A school's pupils in the table's own order, for [`DirectReader`], which sorts them by UPN
/// itself. Through the (school, UPN) index SQLite looks every pupil up in the table, in UPN
/// order, not the order the rows lie in: 0.52–0.69 s at 100,000 pupils in the `sqlite3` shell,
/// against 0.07 s for reading the table straight through (which also passes over the pupils
/// of any other school in the database: cheap next to looking each up).
const PUPILS_SCAN_SQL: &str = concat!(
    "SELECT ",
    pupil_columns!(),
    " FROM pupils NOT INDEXED WHERE school_id = $1"
);

/// A school's pupils in UPN order, as the database collates it: what [`Store::pupils`] asks
/// through sqlx, and [`native_pg::pupils`] through the PostgreSQL driver.
const PUPILS_BY_UPN_SQL: &str = concat!(
    "SELECT ",
    pupil_columns!(),
    " FROM pupils WHERE school_id = $1 ORDER BY upn"
);

/// A school's register years for one academic year (see [`Store::each_pupil_years`]).
const YEARS_ONE_YEAR_SQL: &str = "SELECT pupil_id, year, marks FROM register_years
     WHERE school_id = $1 AND year >= $2 AND year <= $3";

/// A school's register years over several academic years, a pupil's rows together.
const YEARS_SEVERAL_SQL: &str = "SELECT pupil_id, year, marks FROM register_years
     WHERE school_id = $1 AND year >= $2 AND year <= $3 ORDER BY pupil_id, year";

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
    /// Raised by every write (see [`Store::record_marks`]).
    pub version: i64,
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

/// Whether opening a database may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// `import` and `demo`: a missing SQLite file is created (owner-only).
    IfMissing,
    /// Every other command: a missing SQLite file is a mistyped path, not an empty school.
    Never,
}

impl Store {
    /// Opens the database, creating a missing SQLite file, and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Store> {
        Store::open(url, Create::IfMissing).await
    }

    /// Opens a database that must already exist (every command but `import` and `demo`).
    pub async fn open_existing(url: &str) -> Result<Store> {
        Store::open(url, Create::Never).await
    }

    pub async fn open(url: &str, create: Create) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let (url, display) = match backend {
            Backend::Sqlite => {
                let path = sqlite_path(url);
                let display = path
                    .as_ref()
                    .map_or_else(|| redact(url), |p| p.display().to_string());
                if let Some(path) = &path {
                    prepare_sqlite_file(path, create)?;
                }
                (sqlite_url_creating(url), display)
            }
            Backend::Postgres => (url.to_owned(), redact(url)),
        };
        let options = connect_options(&url)?;
        // SQLite allows one writer; a single connection avoids SQLITE_BUSY between our own
        // connections while WAL still lets other processes read.
        let max = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => POSTGRES_CONNECTIONS,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        // A checkpoint (the log copied into the file, two fsyncs) once the
                        // log reaches 8,000 pages (32 MB), not SQLite's 1,000: a pass's
                        // decisions and certificates at 100,000 pupils pass 1,000 pages, so
                        // each of its commits paid for one (the 09:45 incremental run 7
                        // fsyncs -> 4, 0.43-0.46 s -> 0.37-0.42 s). Closing the last
                        // connection still checkpoints and removes the log.
                        conn.execute("PRAGMA wal_autocheckpoint = 8000").await?;
                        // A multi-row write keeps the pages it changes in a statement
                        // journal, a temporary file past 64 KiB: the 09:45 run at 100,000
                        // pupils wrote 22 MB to such files (`strace`), its recording 58 ->
                        // 48 ms in memory (medians of eight runs, alternately).
                        conn.execute("PRAGMA temp_store = MEMORY").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the database {display}"))?;
        let migrated = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.with_context(|| {
            format!("cannot bring the schema of the database {display} up to date")
        })?;
        // SQLite's own word for the file it opened (absolute, after whatever the URL said);
        // empty for a database in memory.
        let sqlite_file = match backend {
            Backend::Sqlite => {
                let file: String =
                    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .fetch_one(&pool)
                        .await
                        .with_context(|| format!("cannot read the database {display}"))?;
                (!file.is_empty()).then(|| std::path::PathBuf::from(file))
            }
            Backend::Postgres => None,
        };
        let postgres_url = (backend == Backend::Postgres).then(|| url.clone());
        Ok(Store {
            pool,
            backend,
            display,
            sqlite_file,
            postgres_url,
        })
    }

    /// `rollcall check`: can this URL be used, without changing anything? Says what it
    /// found (an SQLite file, a PostgreSQL server; `false` with a note when the SQLite file
    /// is still to be made by the first import), or what is wrong.
    pub async fn probe(url: &str) -> Result<(bool, String)> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let options = AnyConnectOptions::from_str(url)
            .map_err(|e| anyhow::anyhow!("{} is not a valid database url: {e}", redact(url)))?
            .disable_statement_logging();
        let probe_url = match backend {
            Backend::Sqlite => {
                let path = sqlite_path(url).context(
                    "is an in-memory SQLite database: everything in it is lost when rollcall stops",
                )?;
                let folder = path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."));
                if !folder.is_dir() {
                    anyhow::bail!(
                        "the folder of the database {} does not exist",
                        path.display()
                    );
                }
                if !path.exists() {
                    return Ok((
                        false,
                        format!(
                            "{} does not exist yet: `rollcall import pupils FILE` creates it \
                             (if it should exist, the path is wrong)",
                            path.display()
                        ),
                    ));
                }
                // Read-only: `check` changes nothing, not even the schema version.
                let mut ro = options.database_url.clone();
                ro.query_pairs_mut().append_pair("mode", "ro");
                ro.to_string()
            }
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&probe_url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the database {}", redact(url)))?;
        let result = match backend {
            Backend::Sqlite => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sqlite_master")
                .fetch_one(&pool)
                .await
                .map(|tables| {
                    format!(
                        "{} is an SQLite database ({tables} schema objects)",
                        sqlite_path(url).unwrap_or_default().display()
                    )
                }),
            Backend::Postgres => sqlx::query_scalar::<_, String>("SELECT version()")
                .fetch_one(&pool)
                .await
                .map(|version| format!("{} answers: {version}", redact(url))),
        };
        pool.close().await;
        result
            .map(|what| (true, what))
            .with_context(|| format!("{} is not a usable database", redact(url)))
    }

    /// The database as messages name it: the SQLite file's path, or the URL without its
    /// password.
    pub fn display(&self) -> &str {
        &self.display
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Ends every connection and waits for them. SQLite folds its write-ahead log into the
    /// database when its last connection closes: a command that wrote much (an import) closes
    /// its store, so the log does not stay on disk beside the database, to be read through by
    /// the next command.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A way to read the SQLite file without sqlx's copies, for the statistics; `None` on
    /// PostgreSQL and for a database in memory.
    pub fn direct_reader(&self) -> Option<DirectReader> {
        self.sqlite_file.as_ref().map(|path| DirectReader {
            path: path.clone(),
            display: self.display.clone(),
        })
    }

    /// A direct read for a query whose only placeholder is the school's id (`$1`): one that
    /// leaves out no pupils, or lists the ones it reads (see [`LeaveOut::condition`]).
    fn direct_for(&self, quiet: Option<&LeaveOut>) -> Option<DirectReader> {
        if quiet.is_some_and(|q| q.evaluated.is_none()) {
            return None;
        }
        self.direct_reader()
    }

    /// Every row of `sql`, made into a `T` by `from_row`. Its placeholders are the school's id
    /// (`$1`), then any of [`LeaveOut::condition`]'s. It is read straight from the SQLite file
    /// when the school is its only one (see [`DirectReader::rows`]), else through sqlx.
    pub(crate) async fn rows_except<T, F>(
        &self,
        sql: String,
        school: SchoolId,
        quiet: Option<&LeaveOut>,
        from_row: F,
    ) -> Result<Vec<T>>
    where
        T: Send + 'static,
        F: Fn(&dyn StoredRow) -> Result<T> + Send + 'static,
    {
        if let Some(reader) = self.direct_for(quiet) {
            return reader.rows(sql, school, move |row| from_row(row)).await;
        }
        let query = sqlx::query(AssertSqlSafe(sql)).bind(school.0);
        let rows = LeaveOut::bind(quiet, query).fetch_all(&self.pool).await?;
        rows.iter().map(|row| from_row(row)).collect()
    }

    /// On PostgreSQL, a connection of the driver's own for `stats`'s read ([`native_pg`]).
    pub async fn connect_native_postgres(&self) -> Result<Option<sqlx::postgres::PgConnection>> {
        match &self.postgres_url {
            Some(url) => Ok(Some(native_pg::connect(url, &self.display).await?)),
            None => Ok(None),
        }
    }

    /// The same store, reading everything through sqlx's `Any` driver: for tests that hold
    /// the direct reads up against it.
    #[doc(hidden)]
    pub fn without_direct_reads(&self) -> Store {
        Store {
            sqlite_file: None,
            postgres_url: None,
            ..self.clone()
        }
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
        .with_context(|| format!("cannot record the school in the database {}", self.display))?;
        Ok(SchoolId(row.try_get(0)?))
    }

    pub async fn pupils(&self, school: SchoolId) -> Result<Vec<StoredPupil>> {
        self.pupils_except(school, None).await
    }

    /// The school's pupils, less those `quiet` leaves out.
    pub async fn pupils_except(
        &self,
        school: SchoolId,
        quiet: Option<&LeaveOut>,
    ) -> Result<Vec<StoredPupil>> {
        if let Some(reader) = self.direct_for(quiet) {
            // In the table's order, then sorted by UPN here (see `PUPILS_SCAN_SQL`).
            let sql = format!(
                "SELECT {} FROM pupils NOT INDEXED WHERE school_id = $1{}",
                pupil_columns!(),
                LeaveOut::condition(quiet, "id", 2)
            );
            let mut pupils = reader.rows(sql, school, |row| pupil_from_row(row)).await?;
            direct::sort_by_upn(&mut pupils);
            return Ok(pupils);
        }
        let sql = format!(
            "SELECT {} FROM pupils WHERE school_id = $1{} ORDER BY upn",
            pupil_columns!(),
            LeaveOut::condition(quiet, "id", 2)
        );
        let query = sqlx::query(AssertSqlSafe(sql)).bind(school.0);
        let rows = LeaveOut::bind(quiet, query).fetch_all(&self.pool).await?;
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
            "SELECT pupil_id, year, marks, version FROM register_years
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
                self.backend,
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

    /// The contacts of the school's pupils, by pupil UPN and priority.
    pub async fn contacts(&self, school: SchoolId) -> Result<Vec<(i64, Contact)>> {
        self.contacts_in_order(school, None, "p.upn, c.priority")
            .await
    }

    /// The contacts of the school's pupils, less those of pupils `quiet` leaves out, in the
    /// order of the contacts' key (pupil and priority), which SQLite reads without sorting:
    /// sorted by UPN, a full pass spent 0.25 s of SQLite's time at 100,000 pupils on the
    /// sort, against 0.08 s.
    pub async fn contacts_except(
        &self,
        school: SchoolId,
        quiet: Option<&LeaveOut>,
    ) -> Result<Vec<(i64, Contact)>> {
        self.contacts_in_order(school, quiet, "c.pupil_id, c.priority")
            .await
    }

    async fn contacts_in_order(
        &self,
        school: SchoolId,
        quiet: Option<&LeaveOut>,
        order: &'static str,
    ) -> Result<Vec<(i64, Contact)>> {
        let sql = format!(
            "SELECT c.pupil_id, p.upn, c.priority, c.name, c.relationship, c.email, c.mobile,
                    c.parental_responsibility, c.address_line_1, c.address_line_2, c.town,
                    c.postcode
             FROM contacts c JOIN pupils p ON p.id = c.pupil_id
             WHERE c.school_id = $1{} ORDER BY {order}",
            LeaveOut::condition(quiet, "c.pupil_id", 2)
        );
        self.rows_except(sql, school, quiet, |row| contact_from_row(row))
            .await
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
                self.backend,
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
        self.register_years_except(school, first_year, last_year, None)
            .await
    }

    /// The school's register years in `[first_year, last_year]`, less those of pupils `quiet`
    /// leaves out.
    pub async fn register_years_except(
        &self,
        school: SchoolId,
        first_year: i32,
        last_year: i32,
        quiet: Option<&LeaveOut>,
    ) -> Result<Vec<RegisterYear>> {
        // The years are written in as integers, so that the school is the only placeholder.
        let sql = format!(
            "SELECT pupil_id, year, marks, version FROM register_years
             WHERE {} = $1 AND year >= {first_year} AND year <= {last_year}{}",
            LeaveOut::school_column(quiet, "school_id"),
            LeaveOut::condition(quiet, "register_years.pupil_id", 2)
        );
        self.rows_except(sql, school, quiet, |row| register_year_from_row(row))
            .await
    }

    /// Streams the school's register years in `[first_year, last_year]` pupil by pupil,
    /// calling `each` with the pupil's row id and their years (in year
    /// order). The marks are borrowed from the rows as they arrive: nothing is collected
    /// first, so memory stays at one pupil's rows (plus the driver's buffer) however large
    /// the school, and no copy of a blob is made beyond the driver's own.
    ///
    /// One pupil's years are handed over together. With one year there is one row per
    /// pupil (the primary key is pupil and year), so rows come as stored: ordering them
    /// would cost SQLite a sort of every blob (a temporary B-tree, 6× the scan at 100,000
    /// pupils). With several years the `ORDER BY` is needed: unordered, a pupil's rows come
    /// back in the order they were written, which puts an older year written later (a late
    /// import of last summer) after other pupils' rows.
    pub async fn each_pupil_years<F>(
        &self,
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
            .fetch(&self.pool);
        hand_over_by_pupil(rows, each).await
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
                "SELECT pupil_id, year, marks, version FROM register_years
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
        let (year, slot) = crate::register::session::slot(date, session);
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

/// `INSERT … VALUES (…), (…) …`: `rows` rows of `columns` placeholders, bound row by row. On
/// PostgreSQL they are numbered (`$1`, `$2`, …). On SQLite they are anonymous (`?`): sqlx asks
/// SQLite the name of every placeholder it binds, and SQLite looks a numbered one up among
/// the ones before it, so a statement of n numbered placeholders cost n² to parse and bind
/// (recording the 09:45 run at 100,000 pupils: 131 ms in statements of 700 numbered ones,
/// 106–110 ms of 150–300). `head` and `tail` must not hold placeholders of their own.
pub(crate) fn multi_row_sql(
    backend: Backend,
    head: &str,
    columns: usize,
    rows: usize,
    tail: &str,
) -> String {
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
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(r * columns + c + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

/// The database behind a connection, for SQL written differently on each.
pub(crate) fn connection_backend(conn: &sqlx::AnyConnection) -> Backend {
    if conn.backend_name() == "SQLite" {
        Backend::Sqlite
    } else {
        Backend::Postgres
    }
}

/// The register years' query for `[first_year, last_year]` (see [`Store::each_pupil_years`]
/// for why only several years are ordered).
fn years_sql(first_year: i32, last_year: i32) -> &'static str {
    if first_year == last_year {
        YEARS_ONE_YEAR_SQL
    } else {
        YEARS_SEVERAL_SQL
    }
}

/// Hands `each` every pupil's years from `rows` (pupil id, year, marks; a pupil's rows
/// together), as they arrive through sqlx: a pupil's rows are kept whole until the next
/// pupil's first row, so their marks can be borrowed.
async fn hand_over_by_pupil<R, S, F>(mut rows: S, mut each: F) -> Result<()>
where
    R: StoredRow,
    S: futures_util::Stream<Item = Result<R, sqlx::Error>> + Unpin,
    F: FnMut(i64, &[(i32, &[u8])]) -> Result<()>,
{
    use futures_util::TryStreamExt as _;

    let mut group: Vec<R> = Vec::new();
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

/// Gives one pupil's rows (`pupil_id, year, marks`) to `each` as borrowed years.
fn hand_over<R, F>(pupil_id: i64, rows: &[R], each: &mut F) -> Result<()>
where
    R: StoredRow,
    F: FnMut(i64, &[(i32, &[u8])]) -> Result<()>,
{
    let mut years = Vec::with_capacity(rows.len());
    for row in rows {
        let year = row.int(1)?;
        let marks = row.blob(2)?;
        years.push((
            i32::try_from(year).context("stored academic year out of range")?,
            marks,
        ));
    }
    each(pupil_id, &years)
}

fn register_year_from_row<R: StoredRow + ?Sized>(row: &R) -> Result<RegisterYear> {
    Ok(RegisterYear {
        pupil_id: row.int(0)?,
        year: i32::try_from(row.int(1)?).context("stored academic year out of range")?,
        marks: row.blob(2)?.to_vec(),
        version: row.int(3)?,
    })
}

/// A contact from a row of [`Store::contacts_except`]'s columns, with its pupil's row id.
fn contact_from_row<R: StoredRow + ?Sized>(r: &R) -> Result<(i64, Contact)> {
    let upn = r.text(1)?;
    let owned = |text: Option<&str>| text.map(str::to_owned);
    Ok((
        r.int(0)?,
        Contact {
            upn: Upn::parse(upn).with_context(|| format!("stored UPN {upn}"))?,
            priority: r.int(2)?,
            name: r.text(3)?.to_owned(),
            relationship: r.text(4)?.to_owned(),
            email: owned(r.optional_text(5)?),
            mobile: owned(r.optional_text(6)?),
            parental_responsibility: r.int(7)? != 0,
            address_line_1: r.text(8)?.to_owned(),
            address_line_2: r.text(9)?.to_owned(),
            town: r.text(10)?.to_owned(),
            postcode: r.text(11)?.to_owned(),
        },
    ))
}

/// A row, however it was read (sqlx, or [`DirectReader`]), so that one function turns both
/// into a pupil, a contact, a register year or a case.
pub(crate) trait StoredRow {
    fn int(&self, i: usize) -> Result<i64>;
    fn text(&self, i: usize) -> Result<&str>;
    fn optional_text(&self, i: usize) -> Result<Option<&str>>;
    fn blob(&self, i: usize) -> Result<&[u8]>;
}

/// A row of one of sqlx's drivers: `Any`'s, and PostgreSQL's own ([`native_pg`]).
macro_rules! stored_row_through_sqlx {
    ($row:ty) => {
        impl StoredRow for $row {
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
    };
}

stored_row_through_sqlx!(AnyRow);
stored_row_through_sqlx!(sqlx::postgres::PgRow);

/// A pupil from a row of [`pupil_columns`]'s columns.
fn pupil_from_row<R: StoredRow + ?Sized>(r: &R) -> Result<StoredPupil> {
    let parse_date = |text: &str| match crate::register::session::stored_date(text) {
        Some(date) => Ok(date),
        None => NaiveDate::from_str(text).with_context(|| format!("stored date \"{text}\"")),
    };
    let date = |i: usize| -> Result<NaiveDate> { parse_date(r.text(i)?) };
    let flag = |i: usize| -> Result<bool> { Ok(r.int(i)? != 0) };
    let upn = r.text(1)?;
    Ok(StoredPupil {
        id: r.int(0)?,
        pupil: Pupil {
            upn: Upn::parse(upn).with_context(|| format!("stored UPN {upn}"))?,
            forename: r.text(2)?.to_owned(),
            surname: r.text(3)?.to_owned(),
            date_of_birth: date(4)?,
            year_group: r.text(5)?.to_owned(),
            reg_group: r.text(6)?.to_owned(),
            gender: r.text(7)?.to_owned(),
            fsm: flag(8)?,
            sen: Sen::parse(r.text(9)?).unwrap_or(Sen::None),
            eal: flag(10)?,
            ethnicity: r.text(11)?.to_owned(),
            lac: flag(12)?,
            social_worker: flag(13)?,
            young_carer: flag(14)?,
            concern: flag(15)?,
            admission_date: date(16)?,
            leaving_date: r.optional_text(17)?.map(parse_date).transpose()?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_rows_on_postgres_and_anonymous_on_sqlite() {
        assert_eq!(
            multi_row_sql(Backend::Postgres, "INSERT INTO t VALUES ", 2, 2, ";"),
            "INSERT INTO t VALUES ($1, $2), ($3, $4);"
        );
        assert_eq!(
            multi_row_sql(Backend::Sqlite, "INSERT INTO t VALUES ", 2, 2, ";"),
            "INSERT INTO t VALUES (?, ?), (?, ?);"
        );
    }

    #[test]
    fn sql_text_is_never_logged_at_info_or_warn() {
        let options = connect_options("sqlite://x.db").expect("options");
        assert_eq!(
            options.log_settings.slow_statements_level,
            log::LevelFilter::Debug
        );
        assert_eq!(
            options.log_settings.statements_level,
            log::LevelFilter::Trace
        );
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
