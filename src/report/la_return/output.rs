//! Returns as CSV and cover text, apart from how their lines are chosen.

use std::collections::{BTreeMap, HashSet};

use anyhow::Result;
use chrono::NaiveDate;

use super::matching::Unmatched;
use super::regular::Period;
use super::{ReturnKind, ReturnLine};
use crate::config::SchoolConfig;
use crate::report::date_text;
use crate::report::document::{Cell, Document, Section, Table};

/// A set of returns as of a date.
#[derive(Debug, Clone, Default)]
pub struct Returns {
    pub as_of: Option<NaiveDate>,
    pub lines: BTreeMap<ReturnKind, Vec<ReturnLine>>,
    /// The regular return's period, if it is included.
    pub regular_period: Option<Period>,
    /// Returns recorded this school year whose episode the register no longer shows.
    pub unmatched: Vec<Unmatched>,
}

pub fn csv_of(lines: &[ReturnLine]) -> Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    if lines.is_empty() {
        // Headers even when nobody is on the return: the LA's import still recognises it.
        writer.write_record(CSV_HEADERS)?;
    }
    for line in lines {
        writer.serialize(line.defused())?;
    }
    Ok(writer.into_inner()?)
}

impl ReturnLine {
    /// The line with every text cell safe to open in a spreadsheet (names, addresses and
    /// parents come from the register; see [`crate::report::spreadsheet`]).
    fn defused(&self) -> ReturnLine {
        let cell = |text: &str| crate::report::spreadsheet::safe_cell(text).into_owned();
        ReturnLine {
            kind: self.kind,
            upn: cell(&self.upn),
            surname: cell(&self.surname),
            forename: cell(&self.forename),
            date_of_birth: cell(&self.date_of_birth),
            year_group: cell(&self.year_group),
            reg_group: cell(&self.reg_group),
            address: cell(&self.address),
            postcode: cell(&self.postcode),
            parent_carer: cell(&self.parent_carer),
            phone: cell(&self.phone),
            email: cell(&self.email),
            start: cell(&self.start),
            end: cell(&self.end),
            codes: cell(&self.codes),
            marks: cell(&self.marks),
            attendance_ytd_pct: cell(&self.attendance_ytd_pct),
            school_actions: cell(&self.school_actions),
            status: cell(&self.status),
            episode: cell(&self.episode),
            ..self.clone()
        }
    }
}

pub(super) const CSV_HEADERS: [&str; 24] = [
    "return",
    "upn",
    "surname",
    "forename",
    "date_of_birth",
    "year_group",
    "reg_group",
    "address",
    "postcode",
    "parent_carer",
    "phone",
    "email",
    "start",
    "end",
    "school_days",
    "sessions",
    "codes",
    "marks",
    "attendance_ytd_pct",
    "unauthorised_sessions_ytd",
    "illness_sessions_ytd",
    "school_actions",
    "status",
    "episode",
];

pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "3 episodes of 2 pupils", or for the regular return (one line a pupil) "2 pupils".
pub fn count_text(kind: ReturnKind, lines: &[ReturnLine]) -> String {
    let pupils = lines.iter().map(|l| &l.upn).collect::<HashSet<_>>().len();
    match kind {
        ReturnKind::Regular => plural(pupils, "pupil", "pupils"),
        _ => format!(
            "{} of {}",
            plural(lines.len(), "episode", "episodes"),
            plural(pupils, "pupil", "pupils")
        ),
    }
}

/// Who the cover is from: the signatory and the school's contact details, else the attendance
/// officer's address, else the school alone.
pub(super) fn from_line(school: &SchoolConfig) -> String {
    let contact = &school.contact;
    let details: Vec<&str> = [
        contact.signatory.as_str(),
        contact.signatory_role.as_str(),
        contact.email.as_str(),
        contact.phone.as_str(),
    ]
    .into_iter()
    .map(str::trim)
    .filter(|s| !s.is_empty())
    .collect();
    if !details.is_empty() {
        return format!("From {}: {}.", school.name, details.join(", "));
    }
    match school
        .staff
        .get("attendance_officer")
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
    {
        Some(address) => format!("From {}: the attendance officer, {address}.", school.name),
        None => format!("From {}.", school.name),
    }
}

impl Returns {
    /// The readable cover: one section per return, a table of who is on it.
    pub fn cover(&self, school: &SchoolConfig) -> Document {
        let as_of = self.as_of.unwrap_or_default();
        let mut sections = Vec::new();
        for kind in [
            ReturnKind::ContinuousAbsence,
            ReturnKind::Sickness,
            ReturnKind::Regular,
        ] {
            let Some(lines) = self.lines.get(&kind) else {
                continue;
            };
            let mut section = Section::new(kind.slug(), kind.title());
            section.paragraphs.push(kind.explanation().to_owned());
            if kind == ReturnKind::Regular
                && let Some(period) = &self.regular_period
            {
                section.paragraphs.push(format!(
                    "Period: {} ({} to {}).",
                    period.label,
                    date_text(period.start),
                    date_text(period.end)
                ));
            }
            section.paragraphs.push(if lines.is_empty() {
                match kind {
                    ReturnKind::Regular => "No pupils.".to_owned(),
                    _ => "No episodes.".to_owned(),
                }
            } else {
                format!(
                    "{}. Contact details, every day's marks and what the school has done are in the CSV.",
                    count_text(kind, lines)
                )
            });
            if kind == ReturnKind::Sickness && !lines.is_empty() {
                section.paragraphs.push(
                    "A cumulative line runs from the first day of illness this school year to the day the total reached 30 sessions; its days are the days with illness."
                        .to_owned(),
                );
            }
            let columns: Vec<String> = match kind {
                ReturnKind::Regular => [
                    "Pupil",
                    "UPN",
                    "Born",
                    "Year",
                    "Attendance this year",
                    "Unauthorised sessions",
                    "Status",
                ]
                .map(str::to_owned)
                .to_vec(),
                // Dates of birth and contacts are in the CSV: the cover stays one page wide.
                ReturnKind::Sickness => [
                    "Pupil",
                    "UPN",
                    "Year",
                    "Episode",
                    "Ill from",
                    "To",
                    "Days",
                    "Codes",
                    "I sessions this year",
                    "Status",
                ]
                .map(str::to_owned)
                .to_vec(),
                ReturnKind::ContinuousAbsence => [
                    "Pupil", "UPN", "Year", "Episode", "From", "To", "Days", "Codes", "Status",
                ]
                .map(str::to_owned)
                .to_vec(),
            };
            let rows = lines
                .iter()
                .map(|l| {
                    let name = Cell::text(format!("{}, {}", l.surname, l.forename));
                    match kind {
                        ReturnKind::Regular => vec![
                            name,
                            Cell::text(l.upn.clone()),
                            Cell::text(l.date_of_birth.clone()),
                            Cell::text(l.year_group.clone()),
                            Cell::Percent(l.attendance_ytd_pct.parse().ok()),
                            Cell::Count(u64::from(l.unauthorised_sessions_ytd)),
                            Cell::text(l.status.clone()),
                        ],
                        _ => {
                            let short = l.episode.split(':').next().unwrap_or_default();
                            let mut row = vec![
                                name,
                                Cell::text(l.upn.clone()),
                                Cell::text(l.year_group.clone()),
                                Cell::text(short),
                                Cell::text(l.start.clone()),
                                Cell::text(l.end.clone()),
                                Cell::Count(u64::from(l.school_days)),
                                Cell::text(l.codes.clone()),
                            ];
                            if kind == ReturnKind::Sickness {
                                row.push(Cell::Count(u64::from(l.illness_sessions_ytd)));
                            }
                            row.push(Cell::text(l.status.clone()));
                            row
                        }
                    }
                })
                .collect();
            section.tables.push(Table {
                id: kind.slug().to_owned(),
                title: kind.title().to_owned(),
                columns,
                rows,
                note: None,
            });
            sections.push(section);
        }
        for own_rule in [false, true] {
            let listed: Vec<&Unmatched> = self
                .unmatched
                .iter()
                .filter(|u| u.own_rule == own_rule)
                .collect();
            if listed.is_empty() {
                continue;
            }
            let (id, title, explanation) = if own_rule {
                (
                    "other-returns",
                    "Other returns the policy made",
                    "Returns decided this school year by stages whose trigger is the policy's own (neither a run of absence nor illness): each carries the pupil's figures for the school year.",
                )
            } else {
                (
                    "no-longer-shown",
                    "Recorded returns the register no longer shows",
                    "Returns decided this school year for an episode the register no longer shows, because its marks were changed since (an N recoded to I, say). If one was sent, tell the LA it no longer stands.",
                )
            };
            let mut section = Section::new(id, title);
            section.paragraphs.push(explanation.to_owned());
            section.tables.push(Table {
                id: id.into(),
                title: title.into(),
                columns: [
                    "Pupil", "UPN", "Return", "Stage", "Episode", "Decided", "Status",
                ]
                .map(str::to_owned)
                .to_vec(),
                rows: listed
                    .iter()
                    .map(|u| {
                        vec![
                            Cell::text(u.pupil.clone()),
                            Cell::text(u.upn.clone()),
                            Cell::text(u.kind.title()),
                            Cell::text(u.stage.clone()),
                            Cell::text(u.anchor.clone()),
                            Cell::text(u.decided_on.clone()),
                            Cell::text(u.status.clone()),
                        ]
                    })
                    .collect(),
                note: None,
            });
            sections.push(section);
        }
        Document {
            title: "Attendance returns to the local authority".into(),
            school: school.name.clone(),
            subtitle: format!(
                "URN {}, LA {}: as of {}",
                school.urn,
                school.la_code,
                date_text(as_of)
            ),
            meta: vec![
                "This return names children: keep it within the school's and the LA's attendance and safeguarding teams.".into(),
                from_line(school),
            ],
            sections,
        }
    }
}
