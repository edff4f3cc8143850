//! Rewards: a certificate for every pupil with 100 % attendance over a term, and the prize
//! draw: pupils at or above `prize_draw_percent` over each half of the term.
//!
//! These lists name children, so they go to the attendance officer, never to a mailing list.

use anyhow::Result;
use chrono::NaiveDate;

use super::document::{Cell, Certificate, Document, Section, Table};
use super::{date_text, halves};
use crate::config::SchoolConfig;
use crate::register::session::DateRange;
use crate::register::stats::{PupilStats, school_stats};
use crate::register::store::{SchoolId, Store};

/// A term's rewards.
pub struct Rewards {
    pub term: DateRange,
    pub certificates: Vec<Certificate>,
    /// The prize-draw list: one section per half of the term.
    pub prize_draw: Document,
}

fn full_name(p: &PupilStats) -> String {
    format!("{} {}", p.pupil.pupil.forename, p.pupil.pupil.surname)
}

fn by_name(a: &&PupilStats, b: &&PupilStats) -> std::cmp::Ordering {
    (&a.pupil.pupil.surname, &a.pupil.pupil.forename)
        .cmp(&(&b.pupil.pupil.surname, &b.pupil.pupil.forename))
}

/// Certificates for pupils who attended every possible session of `[from, to]`. Pure.
pub fn certificates(
    school: &SchoolConfig,
    period: &str,
    stats: &[PupilStats],
    date: NaiveDate,
) -> Vec<Certificate> {
    let mut perfect: Vec<&PupilStats> = stats
        .iter()
        .filter(|p| {
            p.facts.possible_sessions > 0 && p.facts.attended_sessions == p.facts.possible_sessions
        })
        .collect();
    perfect.sort_by(by_name);
    perfect
        .into_iter()
        .map(|p| Certificate {
            school: school.name.clone(),
            pupil: full_name(p),
            group: format!("Class {}", p.pupil.pupil.reg_group),
            period: period.to_owned(),
            achievement: format!(
                "for 100% attendance: present for all {} sessions this term",
                p.facts.possible_sessions
            ),
            signatory: school.contact.signatory.clone(),
            signatory_role: school.contact.signatory_role.clone(),
            date: date_text(date),
        })
        .collect()
}

/// One half's prize-draw table. Pure.
pub fn prize_draw_table(id: &str, half: &DateRange, stats: &[PupilStats], threshold: f64) -> Table {
    let mut eligible: Vec<&PupilStats> = stats
        .iter()
        .filter(|p| p.facts.attendance_pct() >= threshold)
        .collect();
    eligible.sort_by(by_name);
    Table {
        id: id.to_owned(),
        title: format!(
            "{}: {} to {}",
            half.name,
            date_text(half.start),
            date_text(half.end)
        ),
        columns: ["Pupil", "Class", "Sessions", "Attended", "Attendance"]
            .map(str::to_owned)
            .to_vec(),
        rows: eligible
            .iter()
            .map(|p| {
                vec![
                    Cell::text(format!(
                        "{}, {}",
                        p.pupil.pupil.surname, p.pupil.pupil.forename
                    )),
                    Cell::text(p.pupil.pupil.reg_group.clone()),
                    Cell::Count(u64::from(p.facts.possible_sessions)),
                    Cell::Count(u64::from(p.facts.attended_sessions)),
                    Cell::Percent(Some(p.facts.attendance_pct())),
                ]
            })
            .collect(),
        note: Some(format!(
            "{} of {} pupils at or above {threshold:.1}%.",
            eligible.len(),
            stats.len()
        )),
    }
}

/// Loads a term's figures and builds its rewards, counting up to `as_of` (the term's end
/// once it is over).
pub async fn build(
    store: &Store,
    school_id: SchoolId,
    school: &SchoolConfig,
    term: &DateRange,
    as_of: NaiveDate,
) -> Result<Rewards> {
    let to = as_of.min(term.end);
    let stats = school_stats(store, school_id, school, term.start, to, None).await?;
    let certificates = certificates(school, &term.name, &stats, to);
    let threshold = school.reports.prize_draw_percent;
    let mut section = Section::new("prize_draw", "Prize draw");
    section.paragraphs.push(format!(
        "Pupils with {threshold:.1}% attendance or better over each half of the term. Each half is its own draw."
    ));
    for (i, half) in halves(school, term).iter().enumerate() {
        if half.start > to {
            continue;
        }
        let half_to = half.end.min(to);
        let half_stats = school_stats(store, school_id, school, half.start, half_to, None).await?;
        section.tables.push(prize_draw_table(
            &format!("half_{}", i + 1),
            half,
            &half_stats,
            threshold,
        ));
    }
    let mut certificates_section = Section::new("certificates", "100% attendance");
    certificates_section.paragraphs.push(format!(
        "{} pupils attended every session this term and have a certificate.",
        certificates.len()
    ));
    certificates_section.tables.push(Table {
        id: "certificates".into(),
        title: "Certificates".into(),
        columns: vec!["Pupil".into(), "Class".into()],
        rows: certificates
            .iter()
            .map(|c| vec![Cell::text(c.pupil.clone()), Cell::text(c.group.clone())])
            .collect(),
        note: None,
    });
    Ok(Rewards {
        term: term.clone(),
        certificates,
        prize_draw: Document {
            title: "Attendance rewards".into(),
            school: school.name.clone(),
            subtitle: format!(
                "{}: {} to {}",
                term.name,
                date_text(term.start),
                date_text(to)
            ),
            meta: vec!["This list names pupils: for staff only.".into()],
            sections: vec![certificates_section, section],
        },
    })
}
