//! PostgreSQL at scale (issue 17): a trust's or LA's database of generated pupils on
//! PostgreSQL imports, computes statistics and runs a daily pass.
//!
//! `cargo bench --bench postgres_scale` uses the register benchmark's generated school
//! (`BENCH_PUPILS`, 1,000,000 by default; generated once, a whole year, and cached under
//! target/tmp) and imports its first `BENCH_DAYS` school days (50 by default: 3
//! September to 18 November, most of the autumn term, a realistic register for the first
//! stats and passes of a year, and about 100M marks at 1M pupils rather than the year's 376M,
//! which would not fit a benchmark run on a small machine) into a fresh PostgreSQL database (`BENCH_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/rollcall_scale`; created and dropped here, together
//! with a `_run` copy, unless `BENCH_KEEP=1`). Each phase runs in a child process so its peak
//! memory (VmHWM, the benchmark's own, not the server's) is its own:
//!
//! 1. import of pupils, contacts and marks into the empty database;
//! 2. `stats` for all pupils from the first school day to the last imported one, as
//!    `rollcall stats --format json` does from opening the database, twice;
//! 3. the daily pass: as the daemon would have, the first pass ever at 16:30 on the last
//!    imported day (it climbs every ladder: setup, reported but not compared), the messages it
//!    queued marked sent, the 17:00 run, then the next school day's morning register (timed:
//!    the daemon's inbox imports it the same way); then the 09:45 run of that day, full
//!    (`Pass::Full`) and incremental, `BENCH_RUNS` times each (2 by default), alternately,
//!    each from its own copy of that one database (`CREATE DATABASE … TEMPLATE`), since a
//!    pass commits through its own pool of connections and cannot be rolled back from
//!    outside. Each copy starts with PostgreSQL's shared buffers cold for it (the operating
//!    system's cache is warm from the copy). `BENCH_MORNING=0` imports no morning register
//!    and times the 17:30 run of the last imported day instead (the morning register's
//!    import alone takes minutes at 1,000,000 pupils on PostgreSQL).
//!
//! The statistics of the tables with rows are brought up to date (`VACUUM (ANALYZE)` after the
//! import, `ANALYZE` after each step of the setup), as autovacuum (which looks every minute) would have by the daemon's next run;
//! `BENCH_ANALYZE=0` skips those of the setup, to see a run planned on stale statistics.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use rollcall::config::Config;
use rollcall::daemon::escalate_school;
use rollcall::escalation::incremental::Pass;
use rollcall::escalation::policy::Policy;
use rollcall::generate::{GenerateOptions, generate};
use rollcall::register::import::{MarksImport, import_contacts, import_marks, import_pupils};
use rollcall::register::stats::{school_stats, write_json};
use rollcall::register::store::Store;
use serde_json::{Value, json};
use sqlx::Connection;

const SEED: u64 = 2025;
const YEAR: i32 = 2025;
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/rollcall_scale";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--phase") {
        let phase = args.get(i + 1).context("--phase needs a name")?;
        let url = args.get(i + 2).context("--phase needs a database URL")?;
        let dir = PathBuf::from(args.get(i + 3).context("--phase needs a folder")?);
        return run_phase(phase, url, &dir);
    }
    let pupils = env_number("BENCH_PUPILS", 1_000_000);
    let day_count = env_number("BENCH_DAYS", 50).max(1);
    let target = Target::parse(
        &std::env::var("BENCH_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned()),
    )?;
    let keep = std::env::var_os("BENCH_KEEP").is_some_and(|v| v == "1");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-data-{pupils}"));
    let stamp = dir.join("generated.ok");
    if !stamp.exists() {
        eprintln!("generating {pupils} pupils into {} …", dir.display());
        let started = Instant::now();
        let summary = generate(&GenerateOptions::new(pupils, SEED, YEAR), &dir)?;
        std::fs::write(&stamp, summary.marks.to_string())?;
        eprintln!(
            "generated {} marks in {:.1} s",
            summary.marks,
            started.elapsed().as_secs_f64()
        );
    }
    let config = Config::load(&dir.join("rollcall.toml"))?;
    let days = config.school(None)?.calendar.school_days().to_vec();
    anyhow::ensure!(
        day_count < days.len(),
        "BENCH_DAYS must leave a next school day: the year has {} school days",
        days.len()
    );
    let (last, next) = (days[day_count - 1], days[day_count]);
    let split = Split::new(&dir, day_count);
    if !split.stamp.exists() {
        eprintln!("splitting marks.csv at {next} …");
        let started = Instant::now();
        split.write(next)?;
        eprintln!("split in {:.1} s", started.elapsed().as_secs_f64());
    }

    let runtime = tokio::runtime::Runtime::new()?;
    let exe = std::env::current_exe()?;
    let phase = |name: &str, url: &str| -> Result<Value> {
        eprintln!("phase {name} …");
        let output = Command::new(&exe)
            .args(["--phase", name, url])
            .arg(&dir)
            .env("BENCH_DAYS", day_count.to_string())
            .output()
            .with_context(|| format!("running phase {name}"))?;
        anyhow::ensure!(
            output.status.success(),
            "phase {name} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text.lines().last().context("the phase printed nothing")?;
        let value: Value = serde_json::from_str(line).context("the phase's figures")?;
        eprintln!("  {value}");
        Ok(value)
    };

    runtime.block_on(target.recreate(&target.database, None))?;
    let import = phase("import", &target.url(&target.database))?;
    let size_imported = runtime.block_on(target.size(&target.database))?;
    let vacuum_secs = runtime.block_on(target.vacuum(&target.database))?;
    let stats_1 = phase("stats", &target.url(&target.database))?;
    let stats_2 = phase("stats", &target.url(&target.database))?;
    let evening = phase("evening", &target.url(&target.database))?;
    let morning = if with_morning() {
        Some(phase("morning", &target.url(&target.database))?)
    } else {
        None
    };
    let size_setup = runtime.block_on(target.size(&target.database))?;

    let run_db = format!("{}_run", target.database);
    let mut copy_secs = Vec::new();
    let mut pass = |name: &str| -> Result<Value> {
        let started = Instant::now();
        runtime.block_on(target.recreate(&run_db, Some(&target.database)))?;
        copy_secs.push(started.elapsed().as_secs_f64());
        phase(name, &target.url(&run_db))
    };
    let (mut fulls, mut incrementals) = (Vec::new(), Vec::new());
    for _ in 0..env_number("BENCH_RUNS", 2).max(1) {
        fulls.push(pass("full")?);
        incrementals.push(pass("incremental")?);
    }
    if !keep {
        runtime.block_on(target.drop(&run_db))?;
        runtime.block_on(target.drop(&target.database))?;
    }

    let f = |v: &Value, key: &str| v.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let mib = |v: &Value| f(v, "peak_kib") / 1024.0;
    let marks = f(&import, "marks");
    let stats = f(&stats_1, "secs").min(f(&stats_2, "secs"));
    let best = |runs: &[Value]| runs.iter().map(|v| f(v, "secs")).fold(f64::NAN, f64::min);
    let list = |runs: &[Value]| {
        runs.iter()
            .map(|v| format!("{:.2}", f(v, "secs")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let peak = |runs: &[Value]| runs.iter().map(mib).fold(0.0, f64::max);
    let note = |runs: &[Value]| {
        runs.first()
            .and_then(|v| v.get("note"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (full, incremental) = (best(&fulls), best(&incrementals));
    let gib = |bytes: i64| bytes as f64 / (1u64 << 30) as f64;
    let timed = if morning.is_some() {
        format!("the run at 09:45 on {next} after its morning register")
    } else {
        format!("the run at 17:30 on {last} (BENCH_MORNING=0: no morning register)")
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "postgres_scale benchmark: {pupils} pupils, school days {} to {last} ({day_count} days, {marks:.0} marks), {timed}",
        days[0]
    )?;
    writeln!(
        out,
        "  import pupils:    {:8.2} s   contacts: {:.2} s ({:.0})   marks: {:.2} s  {:.0} marks/s  peak {:.0} MiB",
        f(&import, "pupils_secs"),
        f(&import, "contacts_secs"),
        f(&import, "contacts"),
        f(&import, "marks_secs"),
        marks / f(&import, "marks_secs"),
        mib(&import)
    )?;
    writeln!(
        out,
        "  database:         {:8.2} GiB after the import (VACUUM (ANALYZE) of its tables with rows {vacuum_secs:.1} s, not timed), {:.2} GiB after the setup",
        gib(size_imported),
        gib(size_setup)
    )?;
    writeln!(
        out,
        "  stats (all):      {stats:8.2} s   (runs {:.2}, {:.2})  peak {:.0} MiB  {:.0} pupils   (issue 17 target at 1,000,000 pupils: ≤ 10 s)",
        f(&stats_1, "secs"),
        f(&stats_2, "secs"),
        mib(&stats_1).max(mib(&stats_2)),
        f(&stats_1, "pupils")
    )?;
    for step in std::iter::once(&evening).chain(morning.as_ref()) {
        writeln!(
            out,
            "  setup:            {}",
            step.get("note").and_then(Value::as_str).unwrap_or("")
        )?;
    }
    writeln!(
        out,
        "  full pass:        {full:8.2} s   (runs {})  peak {:.0} MiB  {}   (issue 17 target at 1,000,000 pupils: ≤ 10 s)",
        list(&fulls),
        peak(&fulls),
        note(&fulls)
    )?;
    writeln!(
        out,
        "  incremental run:  {incremental:8.2} s   (runs {})  peak {:.0} MiB  {}",
        list(&incrementals),
        peak(&incrementals),
        note(&incrementals)
    )?;
    writeln!(
        out,
        "  incremental / full: {:.1} %; each run on a fresh copy of the database (copies took {}; not timed)",
        100.0 * incremental / full,
        copy_secs
            .iter()
            .map(|s| format!("{s:.1} s"))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    Ok(())
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The server and database the benchmark was pointed at, and the server's `postgres`
/// database from which it creates and drops its own.
struct Target {
    /// The URL up to the last `/`, and what follows the database name (`?…`, if any).
    prefix: String,
    query: String,
    database: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target> {
        anyhow::ensure!(
            url.starts_with("postgres://") || url.starts_with("postgresql://"),
            "BENCH_POSTGRES_URL must be a postgres:// URL"
        );
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let (prefix, database) = base
            .rsplit_once('/')
            .context("BENCH_POSTGRES_URL has no database name")?;
        // The name goes into CREATE and DROP DATABASE, which take no parameters; and the
        // benchmark drops it, so it must not be a database someone else uses.
        anyhow::ensure!(
            !database.is_empty()
                && database
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "the database name in BENCH_POSTGRES_URL must be lower-case letters, digits and _"
        );
        anyhow::ensure!(
            !["postgres", "template0", "template1", "test"].contains(&database),
            "the benchmark drops its database: name one of its own in BENCH_POSTGRES_URL, not {database}"
        );
        Ok(Target {
            prefix: prefix.to_owned(),
            query: if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            },
            database: database.to_owned(),
        })
    }

    fn url(&self, database: &str) -> String {
        format!("{}/{database}{}", self.prefix, self.query)
    }

    async fn admin(&self) -> Result<sqlx::PgConnection> {
        let url = self.url("postgres");
        sqlx::PgConnection::connect(&url)
            .await
            .with_context(|| format!("connecting to {}", rollcall::register::store::redact(&url)))
    }

    /// Drops `database` and creates it empty or, with `template`, as a copy of that one.
    async fn recreate(&self, database: &str, template: Option<&str>) -> Result<()> {
        let mut admin = self.admin().await?;
        let drop = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&mut admin)
            .await?;
        // FILE_COPY copies the files as they are: far quicker than WAL-logging a copy of a
        // database of gigabytes, which is PostgreSQL 15's default.
        let create = match template {
            Some(t) => format!("CREATE DATABASE {database} TEMPLATE {t} STRATEGY FILE_COPY"),
            None => format!("CREATE DATABASE {database}"),
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(create))
            .execute(&mut admin)
            .await
            .with_context(|| format!("creating the database {database}"))?;
        admin.close().await?;
        Ok(())
    }

    async fn drop(&self, database: &str) -> Result<()> {
        let mut admin = self.admin().await?;
        let drop = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(())
    }

    async fn size(&self, database: &str) -> Result<i64> {
        let mut admin = self.admin().await?;
        let size: i64 = sqlx::query_scalar("SELECT pg_database_size($1)")
            .bind(database)
            .fetch_one(&mut admin)
            .await?;
        admin.close().await?;
        Ok(size)
    }

    /// What autovacuum would have done after the import, by the time anyone asks for
    /// statistics; done here so that it does not run during the timed phases instead.
    async fn vacuum(&self, database: &str) -> Result<f64> {
        let mut conn = sqlx::PgConnection::connect(&self.url(database)).await?;
        let secs = autovacuum(&mut conn, "VACUUM (ANALYZE)").await?;
        conn.close().await?;
        Ok(secs)
    }
}

/// marks.csv cut into the register before the next school day and that day's AM register.
struct Split {
    before: PathBuf,
    morning: PathBuf,
    stamp: PathBuf,
}

impl Split {
    fn new(dir: &Path, days: usize) -> Split {
        Split {
            before: dir.join(format!("pg-{days}-days.csv")),
            morning: dir.join(format!("pg-{days}-morning.csv")),
            stamp: dir.join(format!("pg-{days}-days.ok")),
        }
    }

    fn write(&self, next: NaiveDate) -> Result<()> {
        let marks = BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(self.before.with_file_name("marks.csv"))?,
        );
        let mut before = BufWriter::with_capacity(1 << 20, std::fs::File::create(&self.before)?);
        let mut morning = BufWriter::new(std::fs::File::create(&self.morning)?);
        let next = next.to_string();
        for (i, line) in marks.lines().enumerate() {
            let line = line?;
            if i == 0 {
                writeln!(before, "{line}")?;
                writeln!(morning, "{line}")?;
                continue;
            }
            let mut fields = line.split(',');
            let (_, date, session) = (fields.next(), fields.next(), fields.next());
            // ISO dates compare as text.
            match date {
                Some(d) if d < next.as_str() => writeln!(before, "{line}")?,
                Some(d) if d == next && session == Some("AM") => writeln!(morning, "{line}")?,
                _ => {}
            }
        }
        before.flush()?;
        morning.flush()?;
        std::fs::write(&self.stamp, "")?;
        Ok(())
    }
}

fn policy() -> Result<Policy> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/policies/dfe-baseline.toml");
    rollcall::escalation::policy::load(&path).map_err(|e| anyhow::anyhow!("{e:?}"))
}

fn run_phase(phase: &str, url: &str, dir: &Path) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let mut figures = runtime.block_on(async {
        match phase {
            "import" => phase_import(url, dir).await,
            "stats" => phase_stats(url, dir).await,
            "evening" => phase_evening(url, dir).await,
            "morning" => phase_morning(url, dir).await,
            "full" => phase_pass(url, dir, Pass::Full).await,
            "incremental" => phase_pass(url, dir, Pass::Incremental).await,
            other => anyhow::bail!("unknown phase {other}"),
        }
    })?;
    figures["peak_kib"] = json!(peak_rss_kib()?);
    println!("{figures}");
    Ok(())
}

/// The school's days as the parent chose them: the last imported day and the next one.
fn days(dir: &Path) -> Result<(Config, NaiveDate, NaiveDate, NaiveDate)> {
    let config = Config::load(&dir.join("rollcall.toml"))?;
    let days = config.school(None)?.calendar.school_days().to_vec();
    let n = env_number("BENCH_DAYS", 50).max(1);
    let (first, last, next) = (
        *days.first().context("no school days")?,
        *days.get(n - 1).context("BENCH_DAYS is past the year")?,
        *days.get(n).context("BENCH_DAYS is past the year")?,
    );
    Ok((config, first, last, next))
}

async fn phase_import(url: &str, dir: &Path) -> Result<Value> {
    let (config, ..) = days(dir)?;
    let school = config.school(None)?;
    let split = Split::new(dir, env_number("BENCH_DAYS", 50).max(1));
    let store = Store::connect(url).await?;
    let id = store.ensure_school(school).await?;
    let started = Instant::now();
    let pupils = import_pupils(&store, id, &dir.join("pupils.csv")).await?;
    let pupils_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let contacts = import_contacts(&store, id, &dir.join("contacts.csv")).await?;
    let contacts_secs = started.elapsed().as_secs_f64();
    let options = MarksImport {
        progress: false,
        ..MarksImport::default()
    };
    let started = Instant::now();
    let marks = import_marks(&store, id, &school.calendar, &split.before, &options).await?;
    let marks_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(marks.inserted == marks.rows_read, "every mark is new");
    store.close().await;
    Ok(json!({
        "secs": pupils_secs + contacts_secs + marks_secs,
        "pupils": pupils.rows_read,
        "pupils_secs": pupils_secs,
        "contacts": contacts.rows_read,
        "contacts_secs": contacts_secs,
        "marks": marks.inserted,
        "marks_secs": marks_secs,
    }))
}

/// What `rollcall stats --format json` does for every pupil, from opening the database.
async fn phase_stats(url: &str, dir: &Path) -> Result<Value> {
    let (config, first, last, _) = days(dir)?;
    let school = config.school(None)?;
    let started = Instant::now();
    let store = Store::open_existing(url).await?;
    let id = store.ensure_school(school).await?;
    let stats = school_stats(&store, id, school, first, last, None).await?;
    let mut sink = BufWriter::new(std::io::sink());
    write_json(&mut sink, &stats)?;
    sink.flush()?;
    let secs = started.elapsed().as_secs_f64();
    store.close().await;
    Ok(json!({ "secs": secs, "pupils": stats.len() }))
}

/// The evening before: the first pass ever, its messages sent, the 17:00 run.
async fn phase_evening(url: &str, dir: &Path) -> Result<Value> {
    let (config, _, last, _) = days(dir)?;
    let school = config.school(None)?;
    let policy = policy()?;
    let store = Store::open_existing(url).await?;
    let id = store.ensure_school(school).await?;
    let started = Instant::now();
    let (summary, shape) = escalate_school(
        &store,
        id,
        school,
        &policy,
        last.and_hms_opt(16, 30, 0).context("time")?,
        Pass::Full,
        true,
    )
    .await?;
    let first_secs = started.elapsed().as_secs_f64();
    let mut analyze_secs = analyze(url).await?;
    // The daemon delivers what a run queues straight after it: by the next morning the
    // evening's messages have gone (what waits for a person's approval still waits).
    let sent = sqlx::query("UPDATE outbox SET status = 'sent' WHERE status = 'queued'")
        .execute(store.pool())
        .await?
        .rows_affected();
    let started = Instant::now();
    let (_, evening) = escalate_school(
        &store,
        id,
        school,
        &policy,
        last.and_hms_opt(17, 0, 0).context("time")?,
        Pass::Incremental,
        true,
    )
    .await?;
    let evening_secs = started.elapsed().as_secs_f64();
    analyze_secs += analyze(url).await?;
    store.close().await;
    Ok(json!({
        "secs": first_secs,
        "first_secs": first_secs,
        "evening_secs": evening_secs,
        "note": format!(
            "the first pass ever, at 16:30 on {last}: {first_secs:.1} s, {} decisions, {shape}; {sent} messages marked sent; the 17:00 run: {evening_secs:.1} s, {evening}; ANALYZE after each, {analyze_secs:.1} s in all",
            summary.decisions
        ),
    }))
}

/// The next school day's morning register, as the daemon's inbox would bring it.
async fn phase_morning(url: &str, dir: &Path) -> Result<Value> {
    let (config, _, _, next) = days(dir)?;
    let school = config.school(None)?;
    let split = Split::new(dir, env_number("BENCH_DAYS", 50).max(1));
    let store = Store::open_existing(url).await?;
    let id = store.ensure_school(school).await?;
    let options = MarksImport {
        progress: false,
        ..MarksImport::default()
    };
    let started = Instant::now();
    let morning = import_marks(&store, id, &school.calendar, &split.morning, &options).await?;
    let secs = started.elapsed().as_secs_f64();
    store.close().await;
    let analyze_secs = analyze(url).await?;
    Ok(json!({
        "secs": secs,
        "marks": morning.inserted,
        "note": format!(
            "the morning register of {next}: {} marks imported in {secs:.2} s ({:.0} marks/s); ANALYZE {analyze_secs:.1} s",
            morning.inserted,
            morning.inserted as f64 / secs
        ),
    }))
}

/// Whether the next school day's morning register is imported and the 09:45 run timed
/// (`BENCH_MORNING=0`: neither; the run timed is 17:30 on the last imported day).
fn with_morning() -> bool {
    std::env::var_os("BENCH_MORNING").is_none_or(|v| v != "0")
}

/// What autovacuum does within a minute of a pass or an import (each writes a row per pupil
/// into `pupil_quiet` or `register_years`), long before the daemon's next run: without it
/// the next run plans against statistics from before the writes. `BENCH_ANALYZE=0` leaves
/// the statistics stale, to see what a run straight after a write costs.
async fn analyze(url: &str) -> Result<f64> {
    if std::env::var_os("BENCH_ANALYZE").is_some_and(|v| v == "0") {
        return Ok(0.0);
    }
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let secs = autovacuum(&mut conn, "ANALYZE").await?;
    conn.close().await?;
    Ok(secs)
}

/// `command` (`ANALYZE` or `VACUUM (ANALYZE)`) on every table that has rows, as autovacuum
/// would have: it never visits a table nobody wrote to. A database-wide `ANALYZE` would
/// also record the empty `pupil_quiet` of a database no pass has run on as empty (0 pages
/// rather than never measured), and the first pass's `INSERT INTO pupil_quiet … WHERE NOT
/// EXISTS (SELECT … FROM pupil_quiet …)` is then planned as a nested loop over the rows it
/// is inserting: quadratic, still running after 8 minutes at 1,000,000 pupils.
async fn autovacuum(conn: &mut sqlx::PgConnection, command: &str) -> Result<f64> {
    let started = Instant::now();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT relname::text FROM pg_stat_user_tables ORDER BY relname")
            .fetch_all(&mut *conn)
            .await?;
    for table in tables {
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        let has_rows: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {quoted})"
        )))
        .fetch_one(&mut *conn)
        .await?;
        if has_rows {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("{command} {quoted}")))
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// The timed run (09:45, or 17:30 without the morning register), from opening the database to the certificates written.
async fn phase_pass(url: &str, dir: &Path, pass: Pass) -> Result<Value> {
    let (config, _, last, next) = days(dir)?;
    let school = config.school(None)?;
    let policy = policy()?;
    let now = if with_morning() {
        next.and_hms_opt(9, 45, 0)
    } else {
        last.and_hms_opt(17, 30, 0)
    }
    .context("time")?;
    let started = Instant::now();
    let store = Store::open_existing(url).await?;
    let id = store.ensure_school(school).await?;
    let (summary, shape) = escalate_school(&store, id, school, &policy, now, pass, true).await?;
    store.close().await;
    let secs = started.elapsed().as_secs_f64();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    Ok(json!({
        "secs": secs,
        "note": format!(
            "{} new decisions; {shape}; load {:.0} ms, evaluate {:.0} ms, record {:.0} ms, certificates {:.0} ms",
            summary.decisions,
            ms(shape.took[0]),
            ms(shape.took[1]),
            ms(shape.took[2]),
            ms(shape.took[3])
        ),
    }))
}

fn peak_rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmHWM not found in /proc/self/status")
}
