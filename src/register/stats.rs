//! `rollcall stats`: loads a school's register and computes every pupil's facts.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use serde::Serialize;

use crate::config::SchoolConfig;
use crate::register::facts::{FactsWindow, PupilFacts, PupilRegister, pupil_facts};
use crate::register::session::academic_year;
use crate::register::store::{
    DirectReader, PupilRows, PupilYears, PupilsBuilder, SchoolId, Store, StoredPupil, native_pg,
};

/// One pupil's facts with the pupil they belong to.
#[derive(Debug, Clone)]
pub struct PupilStats {
    pub pupil: StoredPupil,
    pub facts: PupilFacts,
}

/// Facts for every pupil (or one, by UPN) with at least one possible session in
/// `[from, as_of]`, in UPN order.
pub async fn school_stats(
    store: &Store,
    school: SchoolId,
    config: &SchoolConfig,
    from: NaiveDate,
    as_of: NaiveDate,
    upn: Option<&str>,
) -> Result<Vec<PupilStats>> {
    school_stats_in_batches(store, school, config, (from, as_of), upn, PUPILS_PER_BATCH).await
}

/// [`school_stats`], handing SQLite's rows from the reading thread to the building thread
/// `pupils_per_batch` pupils at a time: a test reads a small school in many batches, as a
/// large one would be read.
#[doc(hidden)]
pub async fn school_stats_in_batches(
    store: &Store,
    school: SchoolId,
    config: &SchoolConfig,
    (from, as_of): (NaiveDate, NaiveDate),
    upn: Option<&str>,
    pupils_per_batch: usize,
) -> Result<Vec<PupilStats>> {
    let pupils_per_batch = pupils_per_batch.max(1);
    let window = FactsWindow::new(&config.calendar, from, as_of);
    let first_year = window.first_year_needed();
    let last_year = academic_year(as_of);
    // Each pupil's facts are computed as their rows arrive, from marks borrowed from the
    // rows, so the school's register is never held whole (nor copied) in memory.
    let mut out = match store.direct_reader() {
        // SQLite steps on a thread of its own: the read is one long blocking call.
        Some(reader) => {
            let window = window.clone();
            let upn = upn.map(str::to_owned);
            tokio::task::spawn_blocking(move || {
                let mut conn = reader.open()?;
                let snapshot = reader.snapshot(&mut conn)?;
                read_beside_building(
                    &reader,
                    &snapshot,
                    school,
                    &window,
                    (first_year, last_year),
                    upn.as_deref(),
                    pupils_per_batch,
                )
            })
            .await
            .context("the read of the register stopped")??
        }
        None => match store.connect_native_postgres().await? {
            Some(mut conn) => {
                let mut snapshot = native_pg::snapshot(&mut conn).await?;
                let mut pupils = native_pg::pupils(&mut snapshot, school).await?;
                pupils.retain(asked(upn));
                let count = pupils.len();
                let mut collect = Collect::new(&window, pupils.into_iter(), count, first_year);
                native_pg::each_pupil_years(
                    &mut snapshot,
                    school,
                    first_year,
                    last_year,
                    |id, years| {
                        collect.pupil(id, years);
                        Ok(())
                    },
                )
                .await?;
                snapshot.commit().await?;
                collect.finish()
            }
            None => {
                let mut pupils = store.pupils(school).await?;
                pupils.retain(asked(upn));
                let count = pupils.len();
                let mut collect = Collect::new(&window, pupils.into_iter(), count, first_year);
                store
                    .each_pupil_years(school, first_year, last_year, |id, years| {
                        collect.pupil(id, years);
                        Ok(())
                    })
                    .await?;
                collect.finish()
            }
        },
    };

    // A run of absence still going at the start of the loaded years: fetch those pupils'
    // years from their first (everything up to as-of's year) and count again (rare: a run
    // that spans a whole summer and more).
    let incomplete: Vec<i64> = out
        .iter()
        .filter(|s| s.facts.runs_incomplete)
        .map(|s| s.pupil.id)
        .collect();
    if !incomplete.is_empty() {
        let mut years = PupilYears::default();
        years.add(
            store
                .earlier_register_years(school, &incomplete, last_year + 1)
                .await?,
        );
        for s in &mut out {
            if s.facts.runs_incomplete
                && let Some(again) =
                    facts_of(&window, &s.pupil, &years.slices(s.pupil.id), i32::MIN)
            {
                s.facts = again;
            }
        }
    }
    Ok(out)
}

/// How many pupils a batch handed from the reading thread to the building thread holds.
const PUPILS_PER_BATCH: usize = 1_024;

/// How many batches the reading thread may get ahead of the building thread: the register
/// years read while the pupils are still being built wait here (a batch of one year's marks
/// is under a megabyte).
const BATCHES_AHEAD: usize = 64;

/// The SQLite read on two cores, in one read transaction: this thread steps SQLite (the pupils
/// rows, then the register years) and copies what it reads into batches; a second thread
/// builds the pupils from their rows, puts them in UPN order, then computes each pupil's facts
/// from their years. Building a pupil (strings, UPN, dates) costs about as much as stepping
/// SQLite through the years, so each core takes one.
fn read_beside_building(
    reader: &DirectReader,
    snapshot: &rusqlite::Connection,
    school: SchoolId,
    window: &FactsWindow,
    (first_year, last_year): (i32, i32),
    upn: Option<&str>,
    pupils_per_batch: usize,
) -> Result<Vec<PupilStats>> {
    std::thread::scope(|scope| {
        let (send_pupils, pupil_rows) = std::sync::mpsc::sync_channel::<PupilRows>(BATCHES_AHEAD);
        let (send_years, years) = std::sync::mpsc::sync_channel::<YearsBatch>(BATCHES_AHEAD);
        let building = scope.spawn(move || {
            let mut builder = PupilsBuilder::new(reader);
            for rows in pupil_rows {
                builder.add(&rows)?;
            }
            let count = if upn.is_some() { 1 } else { builder.count() };
            let pupils = builder.finish().filter(asked(upn));
            // Made while the first thread is still stepping through the years.
            let mut collect = Collect::new(window, pupils, count, first_year);
            for batch in years {
                batch.each(|id, years| collect.pupil(id, years));
            }
            Ok::<_, anyhow::Error>(collect.finish())
        });
        // A send fails only when the building thread has stopped on an error, which is then
        // the one to report.
        let stopped = || anyhow::anyhow!("the building of the pupils stopped");
        let read = (|| -> Result<()> {
            reader.each_pupil_rows(snapshot, school, pupils_per_batch, |rows| {
                send_pupils.send(rows).map_err(|_| stopped())
            })?;
            drop(send_pupils);
            let mut batch = YearsBatch::default();
            reader.each_pupil_years(snapshot, school, first_year, last_year, |id, years| {
                batch.push(id, years);
                if batch.len() >= pupils_per_batch {
                    send_years
                        .send(std::mem::take(&mut batch))
                        .map_err(|_| stopped())?;
                }
                Ok(())
            })?;
            if batch.len() > 0 {
                send_years.send(batch).map_err(|_| stopped())?;
            }
            Ok(())
        })();
        drop(send_years);
        let built = building
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match (read, built) {
            (_, Err(error)) => Err(error),
            (Err(error), Ok(_)) => Err(error),
            (Ok(()), Ok(built)) => Ok(built),
        }
    })
}

/// Pupils' register years copied out of SQLite, a pupil's years together and in year order.
#[derive(Default)]
struct YearsBatch {
    /// Each pupil's id and the end of their years in `years`.
    pupils: Vec<(i64, usize)>,
    /// Each year and the end of its marks in `marks`.
    years: Vec<(i32, usize)>,
    marks: Vec<u8>,
}

impl YearsBatch {
    fn len(&self) -> usize {
        self.pupils.len()
    }

    fn push(&mut self, id: i64, years: &[(i32, &[u8])]) {
        for (year, marks) in years {
            self.marks.extend_from_slice(marks);
            self.years.push((*year, self.marks.len()));
        }
        self.pupils.push((id, self.years.len()));
    }

    /// Hands `each` every pupil's id and years, lent from the batch.
    fn each(&self, mut each: impl FnMut(i64, &[(i32, &[u8])])) {
        let mut lent: Vec<(i32, &[u8])> = Vec::new();
        let (mut year_start, mut marks_start) = (0, 0);
        for &(id, years_end) in &self.pupils {
            lent.clear();
            for &(year, marks_end) in &self.years[year_start..years_end] {
                lent.push((year, &self.marks[marks_start..marks_end]));
                marks_start = marks_end;
            }
            year_start = years_end;
            each(id, &lent);
        }
    }
}

/// Whether a pupil is one asked for: with a UPN, only that pupil.
fn asked(upn: Option<&str>) -> impl Fn(&StoredPupil) -> bool + '_ {
    move |p| upn.is_none_or(|upn| p.pupil.upn.as_str() == upn)
}

/// The pupils asked for, each given their facts as their years arrive (whichever way they are
/// read). The pupils are made into [`PupilStats`] before any facts: at 100,000 pupils that is
/// tens of megabytes of fresh pages, made on SQLite's building thread while the years are
/// still being read, where pairing pupils and facts afterwards held up the end of the read.
struct Collect<'a> {
    window: &'a FactsWindow,
    first_year: i32,
    position: Position,
    stats: Vec<PupilStats>,
    /// Whether `stats[i]` has had its facts (a pupil without possible sessions never does).
    computed: Vec<bool>,
}

/// Where a pupil id is in the pupil list. A school's ids are nearly always one dense range
/// (they are given out in order as pupils are imported), so a table indexed by id is the
/// common case, and a map the fallback when the ids are scattered (several schools imported
/// in turns into one database).
enum Position {
    Dense { first: i64, at: Vec<u32> },
    Map(HashMap<i64, usize>),
}

impl Position {
    fn new(pupils: &[PupilStats]) -> Position {
        let first = pupils.iter().map(|p| p.pupil.id).min().unwrap_or(0);
        let last = pupils.iter().map(|p| p.pupil.id).max().unwrap_or(-1);
        let span = usize::try_from(last.saturating_sub(first).saturating_add(1)).unwrap_or(0);
        if pupils.len() < u32::MAX as usize && span <= pupils.len().saturating_mul(4) {
            let mut at = vec![u32::MAX; span];
            for (i, p) in pupils.iter().enumerate() {
                // In range by construction of `first` and `span`.
                if let Some(slot) = usize::try_from(p.pupil.id - first)
                    .ok()
                    .and_then(|o| at.get_mut(o))
                {
                    *slot = i as u32;
                }
            }
            Position::Dense { first, at }
        } else {
            Position::Map(
                pupils
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p.pupil.id, i))
                    .collect(),
            )
        }
    }

    fn of(&self, id: i64) -> Option<usize> {
        match self {
            Position::Dense { first, at } => usize::try_from(id.checked_sub(*first)?)
                .ok()
                .and_then(|o| at.get(o))
                .filter(|&&i| i != u32::MAX)
                .map(|&i| i as usize),
            Position::Map(map) => map.get(&id).copied(),
        }
    }
}

impl<'a> Collect<'a> {
    /// `pupils` in the order wanted, at most `count` of them.
    fn new(
        window: &'a FactsWindow,
        pupils: impl Iterator<Item = StoredPupil>,
        count: usize,
        first_year: i32,
    ) -> Collect<'a> {
        let mut stats = Vec::with_capacity(count);
        stats.extend(pupils.map(|pupil| PupilStats {
            pupil,
            // Until their years arrive; `finish` drops every pupil who has none.
            facts: PupilFacts::default(),
        }));
        let position = Position::new(&stats);
        let computed = vec![false; stats.len()];
        Collect {
            window,
            first_year,
            position,
            stats,
            computed,
        }
    }

    fn pupil(&mut self, id: i64, years: &[(i32, &[u8])]) {
        // A pupil not asked for (another UPN) is passed over.
        if let Some(i) = self.position.of(id)
            && let Some(facts) = facts_of(self.window, &self.stats[i].pupil, years, self.first_year)
        {
            self.stats[i].facts = facts;
            self.computed[i] = true;
        }
    }

    /// The pupils with facts, in the order they were given.
    fn finish(self) -> Vec<PupilStats> {
        let mut computed = self.computed.into_iter();
        let mut stats = self.stats;
        stats.retain(|_| computed.next().unwrap_or(false));
        stats
    }
}

/// One pupil's facts from their loaded years (`loaded_from_year` and later).
fn facts_of(
    window: &FactsWindow,
    pupil: &StoredPupil,
    years: &[(i32, &[u8])],
    loaded_from_year: i32,
) -> Option<PupilFacts> {
    let register = PupilRegister {
        admission: pupil.pupil.admission_date,
        leaving: pupil.pupil.leaving_date,
        years,
        loaded_from_year,
    };
    pupil_facts(window, &register)
}

/// The JSON-lines contract of `rollcall stats --format json`.
#[derive(Serialize)]
struct StatsLine<'a> {
    upn: &'a str,
    possible_sessions: u32,
    attended_sessions: u32,
    authorised_absence_sessions: u32,
    unauthorised_absence_sessions: u32,
    attendance_pct: f64,
    absence_pct: f64,
    persistent_absence: bool,
    severe_absence: bool,
    late_sessions: u32,
    late_after_close_sessions: u32,
    illness_sessions: u32,
    consecutive_absent_days: u32,
    consecutive_unauthorised_days: u32,
    unauthorised_sessions_rolling_10_weeks: u32,
    year_group: &'a str,
    reg_group: &'a str,
}

pub fn write_json(out: &mut impl Write, stats: &[PupilStats]) -> Result<()> {
    write_json_in_shares(out, stats, JSON_LINES_PER_THREAD)
}

/// [`write_json`], giving each thread at least `lines_per_thread` lines: a test shares a small
/// school out as a large one would be.
#[doc(hidden)]
pub fn write_json_in_shares(
    out: &mut impl Write,
    stats: &[PupilStats],
    lines_per_thread: usize,
) -> Result<()> {
    // Each line is its own: at 100,000 pupils writing them is a seventh of `stats`, so the
    // later parts are written into buffers on the other cores while this thread writes the
    // first part straight out; the buffers then follow in order.
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let share = stats.len().div_ceil(threads).max(lines_per_thread.max(1));
    if stats.len() <= share {
        return write_json_lines(out, stats);
    }
    let mut parts = stats.chunks(share);
    let first = parts.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let running: Vec<_> = parts
            .map(|part| {
                scope.spawn(move || -> Result<Vec<u8>> {
                    let mut buffer = Vec::with_capacity(part.len() * 512);
                    write_json_lines(&mut buffer, part)?;
                    Ok(buffer)
                })
            })
            .collect();
        write_json_lines(out, first)?;
        for part in running {
            let buffer = part
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            out.write_all(&buffer)?;
        }
        Ok(())
    })
}

/// Below this many pupils, one thread writes every line.
const JSON_LINES_PER_THREAD: usize = 4_096;

fn write_json_lines(out: &mut impl Write, stats: &[PupilStats]) -> Result<()> {
    for s in stats {
        let f = &s.facts;
        let line = StatsLine {
            upn: s.pupil.pupil.upn.as_str(),
            possible_sessions: f.possible_sessions,
            attended_sessions: f.attended_sessions,
            authorised_absence_sessions: f.authorised_absence_sessions,
            unauthorised_absence_sessions: f.unauthorised_absence_sessions,
            attendance_pct: f.attendance_pct(),
            absence_pct: f.absence_pct(),
            persistent_absence: f.persistent_absence(),
            severe_absence: f.severe_absence(),
            late_sessions: f.late_sessions,
            late_after_close_sessions: f.late_after_close_sessions,
            illness_sessions: f.illness_sessions,
            consecutive_absent_days: f.consecutive_absent_days,
            consecutive_unauthorised_days: f.consecutive_unauthorised_days,
            unauthorised_sessions_rolling_10_weeks: f.unauthorised_sessions_rolling_10_weeks,
            year_group: &s.pupil.pupil.year_group,
            reg_group: &s.pupil.pupil.reg_group,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

pub fn write_table(
    out: &mut impl Write,
    school: &SchoolConfig,
    from: NaiveDate,
    as_of: NaiveDate,
    stats: &[PupilStats],
) -> Result<()> {
    writeln!(
        out,
        "{} (URN {}): attendance from {from} to {as_of}, {} pupil{} with possible sessions",
        school.name,
        school.urn,
        stats.len(),
        if stats.len() == 1 { "" } else { "s" }
    )?;
    let header = [
        "UPN",
        "group",
        "possible",
        "attended",
        "auth",
        "unauth",
        "attend%",
        "PA",
        "SA",
        "L",
        "U",
        "I",
        "absent run",
        "unauth run",
        "unauth 10wk",
    ];
    let rows: Vec<[String; 15]> = stats
        .iter()
        .map(|s| {
            let f = &s.facts;
            let yes = |b: bool| if b { "yes" } else { "" }.to_owned();
            [
                s.pupil.pupil.upn.to_string(),
                s.pupil.pupil.reg_group.clone(),
                f.possible_sessions.to_string(),
                f.attended_sessions.to_string(),
                f.authorised_absence_sessions.to_string(),
                f.unauthorised_absence_sessions.to_string(),
                format!("{:.2}", f.attendance_pct()),
                yes(f.persistent_absence()),
                yes(f.severe_absence()),
                f.late_sessions.to_string(),
                f.late_after_close_sessions.to_string(),
                f.illness_sessions.to_string(),
                f.consecutive_absent_days.to_string(),
                f.consecutive_unauthorised_days.to_string(),
                f.unauthorised_sessions_rolling_10_weeks.to_string(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        cells
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i < 2 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    writeln!(out, "{}", line(&mut header.iter().copied()))?;
    for row in &rows {
        writeln!(out, "{}", line(&mut row.iter().map(String::as_str)))?;
    }
    Ok(())
}
