//! One school's register loaded once, so every return line comes from the same snapshot.

use std::collections::HashMap;

use anyhow::Result;
use chrono::NaiveDate;
use sqlx::Row;

use super::{Episode, ReturnKind, ReturnLine, ReturnRule, Shape};
use crate::config::SchoolConfig;
use crate::register::facts::{PupilRegister, Run, absence_runs, counts_between, sickness_episodes};
use crate::register::mark::{CODES, Category, MarkCode, category_table};
use crate::register::pupil::Contact;
use crate::register::session::{Session, academic_year, academic_year_start};
use crate::register::store::{PupilYears, SchoolId, Store, StoredPupil};
use crate::report::year_start;

/// The anchor the engine gives the year's cumulative sickness return.
pub(super) fn year_total_anchor(school_year: i32) -> String {
    format!("year-{school_year}-total")
}

/// What the returns need about the school's pupils, loaded once.
pub struct SchoolData {
    pub pupils: HashMap<i64, StoredPupil>,
    pub contacts: HashMap<i64, Vec<Contact>>,
    years: PupilYears,
}

impl SchoolData {
    /// The pupils, their contacts and their register for the school year of `as_of` and the
    /// one before (a run going on when the year began is counted whole).
    pub async fn load(store: &Store, school: SchoolId, as_of: NaiveDate) -> Result<SchoolData> {
        let pupils = store
            .pupils(school)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let mut contacts: HashMap<i64, Vec<Contact>> = HashMap::new();
        for (pupil_id, contact) in store.contacts(school).await? {
            contacts.entry(pupil_id).or_default().push(contact);
        }
        let year = academic_year(as_of);
        let mut years = PupilYears::default();
        years.add(store.register_years(school, year - 1, year).await?);
        Ok(SchoolData {
            pupils,
            contacts,
            years,
        })
    }

    fn register<'a>(
        &self,
        pupil: &StoredPupil,
        slices: &'a [(i32, &'a [u8])],
    ) -> PupilRegister<'a> {
        PupilRegister {
            admission: pupil.pupil.admission_date,
            leaving: pupil.pupil.leaving_date,
            years: slices,
            loaded_from_year: i32::MIN,
        }
    }

    /// The pupils in the order returns list them: by name, then UPN.
    pub fn pupils_by_name(&self) -> Vec<&StoredPupil> {
        let mut pupils: Vec<&StoredPupil> = self.pupils.values().collect();
        pupils.sort_by(|a, b| {
            let key = |p: &StoredPupil| {
                (
                    p.pupil.surname.to_lowercase(),
                    p.pupil.forename.to_lowercase(),
                    p.pupil.upn.to_string(),
                )
            };
            key(a).cmp(&key(b))
        });
        pupils
    }

    /// Every episode the register shows for one pupil under one stage's rule, from the start
    /// of the school year containing `as_of` to `as_of`, oldest first (status left empty).
    pub fn episodes(
        &self,
        school: &SchoolConfig,
        stage: &str,
        rule: ReturnRule,
        pupil: &StoredPupil,
        as_of: NaiveDate,
    ) -> Vec<Episode> {
        let slices = self.years.slices(pupil.id);
        let register = self.register(pupil, &slices);
        let year_days = school
            .calendar
            .school_days_between(year_start(as_of), as_of);
        let (Some(&first_day), Some(&last_day)) = (year_days.first(), year_days.last()) else {
            return Vec::new();
        };
        let episode = |kind, start, end, school_days, sessions, shape| Episode {
            pupil_id: pupil.id,
            kind,
            stage: stage.to_owned(),
            start,
            end,
            school_days,
            sessions,
            shape,
            status: String::new(),
        };
        match rule {
            ReturnRule::Runs {
                days,
                unauthorised_only,
                ..
            } => {
                // From the year before, so a run going on when this year began is one episode
                // with its real first day, counted whole as the engine counts it.
                let from = academic_year_start(academic_year(as_of) - 1);
                let all_days = school.calendar.school_days_between(from, as_of);
                absence_runs(&register, all_days, unauthorised_only, days)
                    .into_iter()
                    .filter(|run| run.end >= first_day)
                    .map(|run| {
                        let ongoing = run.end == last_day;
                        episode(
                            ReturnKind::ContinuousAbsence,
                            run.start,
                            run.end,
                            run.days,
                            run.sessions,
                            Shape::Run { ongoing },
                        )
                    })
                    .collect()
            }
            ReturnRule::Illness {
                sessions,
                consecutive,
            } => {
                let found = sickness_episodes(&register, year_days, sessions);
                let mut out = Vec::new();
                let runs: Vec<&Run> = if consecutive {
                    found.runs.iter().collect()
                } else {
                    if let Some(total) = found.cumulative
                        && let Some((start, days, illness)) =
                            illness_up_to(&register, year_days, total.reached_on)
                    {
                        out.push(episode(
                            ReturnKind::Sickness,
                            start,
                            total.reached_on,
                            days,
                            illness,
                            Shape::IllnessTotal {
                                threshold: sessions,
                            },
                        ));
                    }
                    found.consecutive_returns().collect()
                };
                out.extend(runs.into_iter().map(|run| {
                    episode(
                        ReturnKind::Sickness,
                        run.start,
                        run.end,
                        run.days,
                        run.sessions,
                        Shape::Run {
                            ongoing: run.end == last_day,
                        },
                    )
                }));
                out
            }
        }
    }

    /// The return line for one episode, its marks and the pupil's school year to `as_of`.
    pub fn line(
        &self,
        school: &SchoolConfig,
        episode: &Episode,
        as_of: NaiveDate,
        actions: &str,
        reason: &str,
    ) -> Option<ReturnLine> {
        let (kind, pupil_id) = (episode.kind, episode.pupil_id);
        let pupil = self.pupils.get(&pupil_id)?;
        let slices = self.years.slices(pupil_id);
        let register = self.register(pupil, &slices);
        let table = category_table();
        let illness = MarkCode::parse_exact("I").map(MarkCode::byte);
        let days = school
            .calendar
            .school_days_between(episode.start, episode.end);
        let day_marks = |day: NaiveDate| -> [(u8, bool); 2] {
            [Session::Am, Session::Pm].map(|s| {
                let byte = register.mark(day, s).unwrap_or(0);
                (
                    byte,
                    table[usize::from(byte)].is_some_and(Category::is_possible),
                )
            })
        };
        let mut marks = Vec::new();
        let (mut school_days, mut sessions) = (episode.school_days, episode.sessions);
        match episode.shape {
            Shape::Run { .. } | Shape::IllnessTotal { .. } => {
                for &day in days {
                    let codes = day_marks(day);
                    let listed = match episode.shape {
                        Shape::IllnessTotal { .. } => {
                            codes.iter().any(|(b, _)| Some(*b) == illness)
                        }
                        _ => codes.iter().any(|(_, possible)| *possible),
                    };
                    if listed {
                        marks.push(format!(
                            "{day} {}",
                            codes.map(|(b, _)| code_text(b)).join("/")
                        ));
                    }
                }
            }
            Shape::Period => {
                school_days = 0;
                sessions = 0;
                for &day in days {
                    school_days += 1;
                    sessions += day_marks(day).iter().filter(|(_, p)| *p).count() as u32;
                }
            }
        }
        let described: Vec<String> = match (kind, episode.shape) {
            (ReturnKind::Sickness, _) => vec!["I".to_owned()],
            (_, Shape::Period) => ["G", "N", "O", "U", "I"].map(str::to_owned).to_vec(),
            _ => CODES
                .iter()
                .filter(|c| c.category.is_absence())
                .map(|c| c.code.to_owned())
                .collect(),
        };
        let episode_counts = counts_between(&register, episode.start, episode.end);
        let year = counts_between(&register, year_start(as_of), as_of);
        let contacts = self
            .contacts
            .get(&pupil_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let first = contacts.iter().min_by_key(|c| c.priority);
        let carers: Vec<&Contact> = contacts
            .iter()
            .filter(|c| c.parental_responsibility)
            .collect();
        let carers = if carers.is_empty() {
            first.into_iter().collect()
        } else {
            carers
        };
        let p = &pupil.pupil;
        Some(ReturnLine {
            kind: kind.slug(),
            upn: p.upn.to_string(),
            surname: p.surname.clone(),
            forename: p.forename.clone(),
            date_of_birth: p.date_of_birth.to_string(),
            year_group: p.year_group.clone(),
            reg_group: p.reg_group.clone(),
            address: first.map_or_else(String::new, |c| {
                [&c.address_line_1, &c.address_line_2, &c.town]
                    .into_iter()
                    .filter(|l| !l.trim().is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            postcode: first.map_or_else(String::new, |c| c.postcode.clone()),
            parent_carer: carers
                .iter()
                .map(|c| format!("{} ({})", c.name, c.relationship))
                .collect::<Vec<_>>()
                .join("; "),
            phone: carers
                .iter()
                .filter_map(|c| c.mobile.clone())
                .collect::<Vec<_>>()
                .join("; "),
            email: carers
                .iter()
                .filter_map(|c| c.email.clone())
                .collect::<Vec<_>>()
                .join("; "),
            start: episode.start.to_string(),
            end: episode.end.to_string(),
            school_days,
            sessions,
            codes: episode_counts.describe(&described),
            marks: marks.join("; "),
            attendance_ytd_pct: year
                .attendance_pct()
                .map_or_else(String::new, |a| format!("{a:.1}")),
            unauthorised_sessions_ytd: year.unauthorised(),
            illness_sessions_ytd: year.of(&["I".to_owned()]),
            school_actions: actions.to_owned(),
            status: episode.status.clone(),
            episode: episode.describe(reason),
        })
    }
}

/// The first day with illness in `days` up to `until`, the days with illness and their
/// illness sessions (the pupil on roll).
pub(super) fn illness_up_to(
    register: &PupilRegister<'_>,
    days: &[NaiveDate],
    until: NaiveDate,
) -> Option<(NaiveDate, u32, u32)> {
    let illness = MarkCode::parse_exact("I")?.byte();
    let mut first = None;
    let (mut days_ill, mut sessions) = (0, 0);
    for &day in days.iter().take_while(|d| **d <= until) {
        if day < register.admission || register.leaving.is_some_and(|l| day > l) {
            continue;
        }
        let ill = [Session::Am, Session::Pm]
            .into_iter()
            .filter(|s| register.mark(day, *s) == Some(illness))
            .count() as u32;
        if ill > 0 {
            first.get_or_insert(day);
            days_ill += 1;
            sessions += ill;
        }
    }
    first.map(|f| (f, days_ill, sessions))
}

pub(super) fn code_text(byte: u8) -> &'static str {
    MarkCode::from_byte(byte)
        .and_then(MarkCode::info)
        .map_or("-", |i| i.code)
}

/// The case history of each pupil, as one line per pupil: "2025-10-08 day_three: 3 days
/// absent | 2025-10-15 la_10_day_notice: …".
pub(super) async fn histories(store: &Store, school: SchoolId) -> Result<HashMap<i64, String>> {
    let rows = sqlx::query(
        "SELECT c.pupil_id, t.at, t.to_stage, t.reason
         FROM case_transitions t JOIN cases c ON c.id = t.case_id
         WHERE t.school_id = $1 ORDER BY t.id",
    )
    .bind(school.0)
    .fetch_all(store.pool())
    .await?;
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for row in rows {
        let at: String = row.try_get("at")?;
        let stage: Option<String> = row.try_get("to_stage")?;
        let reason: String = row.try_get("reason")?;
        out.entry(row.try_get("pupil_id")?)
            .or_default()
            .push(format!(
                "{} {}: {reason}",
                at.get(..10).unwrap_or(&at),
                stage.as_deref().unwrap_or("case closed")
            ));
    }
    Ok(out.into_iter().map(|(k, v)| (k, v.join(" | "))).collect())
}
