//! `rollcall stats`: loads a school's register and computes every pupil's facts.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Result;
use chrono::NaiveDate;
use serde::Serialize;

use crate::config::SchoolConfig;
use crate::register::facts::{FactsWindow, PupilFacts, PupilRegister, pupil_facts};
use crate::register::session::academic_year;
use crate::register::store::{PupilYears, SchoolId, Store, StoredPupil};

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
    let mut pupils = store.pupils(school).await?;
    if let Some(upn) = upn {
        pupils.retain(|p| p.pupil.upn.as_str() == upn);
    }
    // Each pupil's facts are computed as their rows arrive, from marks borrowed from the
    // rows, so the school's register is never held whole (nor copied) in memory.
    let position: HashMap<i64, usize> = pupils.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
    let mut computed: Vec<Option<PupilFacts>> = vec![None; pupils.len()];
    store
        .each_pupil_years(school, first_year, academic_year(as_of), |id, years| {
            // A pupil not asked for (another UPN) is passed over.
            if let Some(&i) = position.get(&id) {
                computed[i] = facts_of(&window, &pupils[i], years, first_year);
            }
            Ok(())
        })
        .await?;

    let mut out = Vec::with_capacity(pupils.len());
    let mut incomplete = Vec::new();
    for (i, facts) in computed.into_iter().enumerate() {
        if let Some(facts) = facts {
            if facts.runs_incomplete {
                incomplete.push(i);
            }
            out.push((i, facts));
        }
    }
    // A run of absence still going at the start of the loaded years: fetch those pupils'
    // years from their first (everything up to as-of's year) and count again (rare: a run
    // that spans a whole summer and more).
    if !incomplete.is_empty() {
        let ids: Vec<i64> = incomplete.iter().map(|&i| pupils[i].id).collect();
        let mut years = PupilYears::default();
        years.add(
            store
                .earlier_register_years(school, &ids, academic_year(as_of) + 1)
                .await?,
        );
        for (i, facts) in &mut out {
            if facts.runs_incomplete
                && let Some(again) =
                    facts_of(&window, &pupils[*i], &years.slices(pupils[*i].id), i32::MIN)
            {
                *facts = again;
            }
        }
    }
    let mut pupils: Vec<Option<StoredPupil>> = pupils.into_iter().map(Some).collect();
    Ok(out
        .into_iter()
        .filter_map(|(i, facts)| pupils[i].take().map(|pupil| PupilStats { pupil, facts }))
        .collect())
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
