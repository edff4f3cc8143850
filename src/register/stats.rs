//! `rollcall stats`: loads a school's register and computes every pupil's facts.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use serde::Serialize;

use crate::config::SchoolConfig;
use crate::register::facts::{FactsWindow, PupilFacts, PupilRegister, pupil_facts};
use crate::register::session::academic_year;
use crate::register::store::{PupilYears, SchoolId, Store, StoredPupil, native_pg};

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
    let window = FactsWindow::new(&config.calendar, from, as_of);
    let first_year = window.first_year_needed();
    let last_year = academic_year(as_of);
    // Each pupil's facts are computed as their rows arrive, from marks borrowed from the
    // rows, so the school's register is never held whole (nor copied) in memory.
    let (pupils, computed) = match store.direct_reader() {
        // SQLite steps on a thread of its own: the read is one long blocking call.
        Some(reader) => {
            let window = window.clone();
            let upn = upn.map(str::to_owned);
            tokio::task::spawn_blocking(move || {
                let mut conn = reader.open()?;
                let snapshot = reader.snapshot(&mut conn)?;
                let mut pupils = reader.pupils(&snapshot, school)?;
                keep_asked(&mut pupils, upn.as_deref());
                let mut collect = Collect::new(&window, &pupils, first_year);
                reader.each_pupil_years(
                    &snapshot,
                    school,
                    first_year,
                    last_year,
                    |id, years| {
                        collect.pupil(id, years);
                        Ok(())
                    },
                )?;
                let computed = collect.computed;
                Ok::<_, anyhow::Error>((pupils, computed))
            })
            .await
            .context("the read of the register stopped")??
        }
        None => match store.connect_native_postgres().await? {
            Some(mut conn) => {
                let mut snapshot = native_pg::snapshot(&mut conn).await?;
                let mut pupils = native_pg::pupils(&mut snapshot, school).await?;
                keep_asked(&mut pupils, upn);
                let mut collect = Collect::new(&window, &pupils, first_year);
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
                let computed = collect.computed;
                snapshot.commit().await?;
                (pupils, computed)
            }
            None => {
                let mut pupils = store.pupils(school).await?;
                keep_asked(&mut pupils, upn);
                let mut collect = Collect::new(&window, &pupils, first_year);
                store
                    .each_pupil_years(school, first_year, last_year, |id, years| {
                        collect.pupil(id, years);
                        Ok(())
                    })
                    .await?;
                let computed = collect.computed;
                (pupils, computed)
            }
        },
    };

    // Pupils and facts are paired in place: at 100,000 pupils every intermediate list is tens
    // of megabytes of fresh pages.
    let mut out: Vec<PupilStats> = pupils
        .into_iter()
        .zip(computed)
        .filter_map(|(pupil, facts)| facts.map(|facts| PupilStats { pupil, facts }))
        .collect();
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

/// With a UPN, only that pupil.
fn keep_asked(pupils: &mut Vec<StoredPupil>, upn: Option<&str>) {
    if let Some(upn) = upn {
        pupils.retain(|p| p.pupil.upn.as_str() == upn);
    }
}

/// The facts of the pupils asked for, by their place in the pupil list, filled in as each
/// pupil's years arrive (whichever way they are read).
struct Collect<'a> {
    window: &'a FactsWindow,
    pupils: &'a [StoredPupil],
    first_year: i32,
    position: Position,
    computed: Vec<Option<PupilFacts>>,
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
    fn new(pupils: &[StoredPupil]) -> Position {
        let first = pupils.iter().map(|p| p.id).min().unwrap_or(0);
        let last = pupils.iter().map(|p| p.id).max().unwrap_or(-1);
        let span = usize::try_from(last.saturating_sub(first).saturating_add(1)).unwrap_or(0);
        if pupils.len() < u32::MAX as usize && span <= pupils.len().saturating_mul(4) {
            let mut at = vec![u32::MAX; span];
            for (i, p) in pupils.iter().enumerate() {
                // In range by construction of `first` and `span`.
                if let Some(slot) = usize::try_from(p.id - first)
                    .ok()
                    .and_then(|o| at.get_mut(o))
                {
                    *slot = i as u32;
                }
            }
            Position::Dense { first, at }
        } else {
            Position::Map(pupils.iter().enumerate().map(|(i, p)| (p.id, i)).collect())
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
    fn new(window: &'a FactsWindow, pupils: &'a [StoredPupil], first_year: i32) -> Collect<'a> {
        Collect {
            window,
            pupils,
            first_year,
            position: Position::new(pupils),
            computed: vec![None; pupils.len()],
        }
    }

    fn pupil(&mut self, id: i64, years: &[(i32, &[u8])]) {
        // A pupil not asked for (another UPN) is passed over.
        if let Some(i) = self.position.of(id) {
            self.computed[i] = facts_of(self.window, &self.pupils[i], years, self.first_year);
        }
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
