//! `rollcall demo`: a generated school, imported into an embedded SQLite database, and a
//! short summary an attendance officer would want to read first.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::Local;

use crate::config::Config;
use crate::generate::{GenerateOptions, generate};
use crate::import::{MarksImport, import_contacts, import_marks, import_pupils};
use crate::session::academic_year;
use crate::stats::{PupilStats, school_stats};
use crate::store::Store;

/// The most recent academic year that has ended (so the demo has a full year of marks).
pub fn last_complete_year() -> i32 {
    academic_year(Local::now().date_naive()) - 1
}

pub async fn run(dir: &Path, pupils: usize, seed: u64) -> Result<()> {
    let year = last_complete_year();
    println!(
        "Generating a {pupils}-pupil school for {year}/{} in {} …",
        (year + 1) % 100,
        dir.display()
    );
    let generated = generate(&GenerateOptions::new(pupils, seed, year), dir)?;
    let config_file = dir.join("rollcall.toml");
    let config = Config::load(&config_file)?;
    let school = config.school(None)?;
    let store = Store::connect(&config.database_url).await?;
    let school_id = store.ensure_school(school).await?;

    let options = MarksImport {
        progress: false,
        ..MarksImport::default()
    };
    let pupils_summary = import_pupils(&store, school_id, &dir.join("pupils.csv")).await?;
    println!("  {}", crate::cli::summary_line("pupils", &pupils_summary));
    let contacts_summary = import_contacts(&store, school_id, &dir.join("contacts.csv")).await?;
    println!(
        "  {}",
        crate::cli::summary_line("contacts", &contacts_summary)
    );
    let marks_summary = import_marks(
        &store,
        school_id,
        &school.calendar,
        &dir.join("marks.csv"),
        &options,
    )
    .await
    .context("importing the generated marks")?;
    println!("  {}", crate::cli::summary_line("marks", &marks_summary));

    let from = generated.first_school_day;
    let as_of = generated.last_school_day;
    let stats = school_stats(&store, school_id, school, from, as_of, None).await?;
    println!();
    print!("{}", summary(&school.name, from, as_of, &stats));
    println!();
    println!("Next, try:");
    let cfg = config_file.display();
    println!(
        "  cargo run --release -- --config {cfg} stats --from {from} --as-of {as_of} --format table"
    );
    println!(
        "  cargo run --release -- --config {cfg} stats --from {from} --as-of {as_of} --format json"
    );
    println!("  cargo run --release -- --config {cfg} check");
    println!(
        "  cargo run --release -- --config {cfg} evaluate --as-of {as_of}T18:00 --format table"
    );
    Ok(())
}

/// Whole-school figures, PA/SA counts and the ten pupils of most concern, with why.
pub fn summary(
    school: &str,
    from: chrono::NaiveDate,
    as_of: chrono::NaiveDate,
    stats: &[PupilStats],
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let possible: u64 = stats
        .iter()
        .map(|s| u64::from(s.facts.possible_sessions))
        .sum();
    let attended: u64 = stats
        .iter()
        .map(|s| u64::from(s.facts.attended_sessions))
        .sum();
    let authorised: u64 = stats
        .iter()
        .map(|s| u64::from(s.facts.authorised_absence_sessions))
        .sum();
    let unauthorised: u64 = stats
        .iter()
        .map(|s| u64::from(s.facts.unauthorised_absence_sessions))
        .sum();
    let pct = |n: u64, d: u64| {
        if d == 0 {
            0.0
        } else {
            100.0 * n as f64 / d as f64
        }
    };
    let pa = stats
        .iter()
        .filter(|s| s.facts.persistent_absence())
        .count();
    let sa = stats.iter().filter(|s| s.facts.severe_absence()).count();
    let n = stats.len();
    let _ = writeln!(out, "{school}: {from} to {as_of}, {n} pupils");
    let _ = writeln!(
        out,
        "  attendance {:.1}%  (authorised absence {:.1}%, unauthorised {:.1}%)",
        pct(attended, possible),
        pct(authorised, possible),
        pct(unauthorised, possible)
    );
    let _ = writeln!(
        out,
        "  persistent absence (≥10%): {pa} pupils ({:.1}%)   severe absence (≥50%): {sa} pupils ({:.1}%)",
        pct(pa as u64, n as u64),
        pct(sa as u64, n as u64)
    );

    let mut concern: Vec<&PupilStats> = stats
        .iter()
        .filter(|s| {
            let f = &s.facts;
            f.persistent_absence()
                || f.consecutive_unauthorised_days >= 10
                || f.unauthorised_sessions_rolling_10_weeks >= 10
        })
        .collect();
    concern.sort_by(|a, b| {
        let key = |s: &PupilStats| {
            (
                !s.facts.severe_absence(),
                s.facts.unauthorised_sessions_rolling_10_weeks < 10,
                s.facts.attended_sessions as f64 / s.facts.possible_sessions.max(1) as f64,
            )
        };
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then(ka.1.cmp(&kb.1))
            .then(ka.2.total_cmp(&kb.2))
            .then(a.pupil.pupil.upn.cmp(&b.pupil.pupil.upn))
    });
    let _ = writeln!(out);
    let _ = writeln!(out, "Pupils of most concern:");
    if concern.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for s in concern.iter().take(10) {
        let p = &s.pupil.pupil;
        let _ = writeln!(
            out,
            "  {} {} {} ({}): {}",
            p.upn,
            p.forename,
            p.surname,
            p.reg_group,
            why(s)
        );
    }
    out
}

fn why(s: &PupilStats) -> String {
    let f = &s.facts;
    let mut reasons = vec![format!(
        "attendance {:.1}% ({} of {} sessions{})",
        f.attendance_pct(),
        f.attended_sessions,
        f.possible_sessions,
        if f.severe_absence() {
            ", severe absence"
        } else if f.persistent_absence() {
            ", persistent absence"
        } else {
            ""
        }
    )];
    let codes: Vec<String> = f
        .codes_used()
        .into_iter()
        .filter(|(c, _)| {
            crate::mark::MarkCode::parse_exact(c)
                .and_then(|m| m.category())
                .is_some_and(|k| k.is_absence())
        })
        .take(3)
        .map(|(c, n)| format!("{c}×{n}"))
        .collect();
    if !codes.is_empty() {
        reasons.push(format!("absences {}", codes.join(" ")));
    }
    if f.unauthorised_sessions_rolling_10_weeks >= 10 {
        reasons.push(format!(
            "{} unauthorised sessions in the last 10 school weeks (penalty-notice threshold)",
            f.unauthorised_sessions_rolling_10_weeks
        ));
    }
    if f.consecutive_absent_days >= 3
        && let Some(since) = f.absent_run_since
    {
        reasons.push(format!(
            "absent {} school days in a row since {since}",
            f.consecutive_absent_days
        ));
    }
    reasons.join("; ")
}
