//! The LA's statutory returns (DOMAIN.md, "Thresholds"):
//! - the **10-day continuous absence return**: every session G, N, O or U for 10 school days;
//! - the **15-day sickness return**: 30 or more sessions of `I` in the school year, one per
//!   continuous period of sickness;
//! - the **regular attendance return**: at the LA's interval, pupils who fail to attend
//!   regularly (below a threshold) or with 10 or more days of unauthorised absence.
//!
//! The first two are stages of the school's policy: the engine decides each episode once
//! (decisions are unique per pupil, stage and episode start), a person approves it, and the
//! delivery sends it with the return attached ([`attachments_for_message`]). The regular return
//! is a school-level report queued once per period ([`queue_due_regular_returns`]).
//! Every return is one CSV with the same columns, and a readable cover as HTML and PDF.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context as _, Result};
use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime};
use sqlx::Row;

use super::document::{Cell, Document, Section, Table};
use super::queue::{self, Report};
use super::{date_text, year_start};
use crate::channel::Attachment;
use crate::config::{ReturnInterval, SchoolConfig};
use crate::delivery::SchoolRuntime;
use crate::facts::{PupilRegister, counts_between};
use crate::mark::{Category, MarkCode, category_table};
use crate::policy::{Channel, Policy, Stage, Trigger};
use crate::pupil::Contact;
use crate::session::{Session, academic_year};
use crate::store::{PupilYears, SchoolId, Store, StoredPupil};

/// Which return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReturnKind {
    ContinuousAbsence,
    Sickness,
    Regular,
}

impl ReturnKind {
    pub fn title(self) -> &'static str {
        match self {
            ReturnKind::ContinuousAbsence => "10-day continuous absence return",
            ReturnKind::Sickness => "15-day sickness return",
            ReturnKind::Regular => "Regular attendance return",
        }
    }
    /// File names and the CSV's `return` column.
    pub fn slug(self) -> &'static str {
        match self {
            ReturnKind::ContinuousAbsence => "continuous-absence",
            ReturnKind::Sickness => "sickness",
            ReturnKind::Regular => "regular-attendance",
        }
    }
    fn explanation(self) -> &'static str {
        match self {
            ReturnKind::ContinuousAbsence => {
                "Pupils absent for a continuous period of 10 school days with every session coded G, N, O or U. One return per episode; a new episode after a return is returned again."
            }
            ReturnKind::Sickness => {
                "Pupils the school believes will miss 15 school days (30 sessions) or more through illness, consecutive or cumulative in the school year, so that the LA can arrange education under section 19. One return per continuous period of sickness."
            }
            ReturnKind::Regular => {
                "Pupils who are failing to attend regularly, or who have 10 or more days of unauthorised absence this school year."
            }
        }
    }
}

/// The return a stage of the policy makes, if it sends one to the LA.
pub fn kind_of(stage: &Stage) -> Option<ReturnKind> {
    if !stage.actions.iter().any(|a| a.channel == Channel::LaReturn) {
        return None;
    }
    match stage.trigger {
        Trigger::Illness { .. } => Some(ReturnKind::Sickness),
        _ => Some(ReturnKind::ContinuousAbsence),
    }
}

/// One pupil on one return: one CSV row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReturnLine {
    #[serde(rename = "return")]
    pub kind: &'static str,
    pub upn: String,
    pub surname: String,
    pub forename: String,
    pub date_of_birth: String,
    pub year_group: String,
    pub reg_group: String,
    pub address: String,
    pub postcode: String,
    pub parent_carer: String,
    pub phone: String,
    pub email: String,
    /// The episode (or, for the regular return, the period).
    pub start: String,
    pub end: String,
    pub school_days: u32,
    pub sessions: u32,
    /// "N×12, O×8".
    pub codes: String,
    /// Each day of the episode: "2025-10-06 N/N; 2025-10-07 N/O".
    pub marks: String,
    pub attendance_ytd_pct: String,
    pub unauthorised_sessions_ytd: u32,
    pub illness_sessions_ytd: u32,
    /// What the school has done: the case history, oldest first.
    pub school_actions: String,
    /// New, awaiting approval, sent on a date.
    pub status: String,
}

/// An episode a return is (or will be) made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub pupil_id: i64,
    pub kind: ReturnKind,
    pub stage: String,
    pub start: NaiveDate,
    pub status: String,
}

/// What the returns need about the school's pupils, loaded once.
pub struct SchoolData {
    pub pupils: HashMap<i64, StoredPupil>,
    pub contacts: HashMap<i64, Vec<Contact>>,
    years: PupilYears,
}

impl SchoolData {
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

    /// The return line for one pupil over `[start, as_of]`, the episode ending where its
    /// codes stop (for the regular return, the whole period).
    pub fn line(
        &self,
        school: &SchoolConfig,
        episode: &Episode,
        as_of: NaiveDate,
        actions: &str,
    ) -> Option<ReturnLine> {
        let (kind, pupil_id, start) = (episode.kind, episode.pupil_id, episode.start);
        let pupil = self.pupils.get(&pupil_id)?;
        let slices = self.years.slices(pupil_id);
        let register = self.register(pupil, &slices);
        let table = category_table();
        let in_episode = |byte: u8| -> bool {
            let Some(code) = MarkCode::from_byte(byte) else {
                return false;
            };
            let text = code.info().map_or("", |i| i.code);
            match kind {
                ReturnKind::ContinuousAbsence => matches!(text, "G" | "N" | "O" | "U"),
                ReturnKind::Sickness => text == "I",
                ReturnKind::Regular => true,
            }
        };
        let mut end = start;
        let mut days = 0;
        let mut sessions = 0;
        let mut marks = Vec::new();
        for &day in school.calendar.school_days_between(start, as_of) {
            let codes: Vec<(u8, bool)> = [Session::Am, Session::Pm]
                .into_iter()
                .map(|s| {
                    let byte = register.mark(day, s).unwrap_or(0);
                    let possible = table[usize::from(byte)].is_some_and(Category::is_possible);
                    (byte, possible)
                })
                .collect();
            let possible: Vec<u8> = codes.iter().filter(|(_, p)| *p).map(|(b, _)| *b).collect();
            if kind != ReturnKind::Regular {
                if possible.is_empty() {
                    continue;
                }
                if !possible.iter().all(|b| in_episode(*b)) {
                    break;
                }
                marks.push(format!(
                    "{day} {}",
                    codes
                        .iter()
                        .map(|(b, _)| code_text(*b))
                        .collect::<Vec<_>>()
                        .join("/")
                ));
            }
            days += 1;
            sessions += possible.len() as u32;
            end = day;
        }
        let episode_counts = counts_between(&register, start, end);
        let described: Vec<String> = match kind {
            ReturnKind::ContinuousAbsence => ["G", "N", "O", "U"].map(str::to_owned).to_vec(),
            ReturnKind::Sickness => vec!["I".to_owned()],
            ReturnKind::Regular => ["G", "N", "O", "U", "I"].map(str::to_owned).to_vec(),
        };
        let year = counts_between(&register, year_start(as_of), as_of);
        let unauthorised = year.unauthorised();
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
            start: start.to_string(),
            end: end.to_string(),
            school_days: days,
            sessions,
            codes: episode_counts.describe(&described),
            marks: marks.join("; "),
            attendance_ytd_pct: year
                .attendance_pct()
                .map_or_else(String::new, |a| format!("{a:.1}")),
            unauthorised_sessions_ytd: unauthorised,
            illness_sessions_ytd: year.of(&["I".to_owned()]),
            school_actions: actions.to_owned(),
            status: episode.status.clone(),
        })
    }
}

fn code_text(byte: u8) -> &'static str {
    MarkCode::from_byte(byte)
        .and_then(MarkCode::info)
        .map_or("-", |i| i.code)
}

/// The case history of each pupil, as one line per pupil: "2025-10-08 day_three: 3 days
/// absent | 2025-10-15 la_10_day_notice: …".
async fn histories(store: &Store, school: SchoolId) -> Result<HashMap<i64, String>> {
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

/// Recorded LA-return decisions with the state of their message, decided from `from` (or
/// ever) up to `as_of`, for one message or all.
async fn recorded_episodes(
    store: &Store,
    school: SchoolId,
    policy: &Policy,
    from: Option<NaiveDate>,
    as_of: NaiveDate,
    only_outbox: Option<i64>,
) -> Result<Vec<Episode>> {
    let kinds: HashMap<&str, ReturnKind> = policy
        .stages
        .iter()
        .filter_map(|s| kind_of(s).map(|k| (s.id.as_str(), k)))
        .collect();
    let rows = sqlx::query(
        "SELECT d.pupil_id, d.stage, d.anchor, d.decided_at, o.id AS outbox_id, o.status,
                o.finished_at, o.last_error
         FROM decisions d
         JOIN outbox_items i ON i.decision_id = d.id
         JOIN outbox o ON o.id = i.outbox_id AND o.channel = 'la_return'
         WHERE d.school_id = $1 AND d.decided_at >= $2 AND d.decided_at <= $3
           AND ($4 = 0 OR o.id = $4)
         ORDER BY d.decided_at, d.id",
    )
    .bind(school.0)
    // Decision times are local "YYYY-MM-DDTHH:MM:SS" text: "" sorts before every one.
    .bind(from.map_or_else(String::new, |f| format!("{f}T00:00:00")))
    .bind(format!("{as_of}T23:59:59"))
    .bind(only_outbox.unwrap_or(0))
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let stage: String = row.try_get("stage")?;
        let Some(kind) = kinds.get(stage.as_str()).copied() else {
            continue;
        };
        let anchor: String = row.try_get("anchor")?;
        let decided: String = row.try_get("decided_at")?;
        let Ok(start) = NaiveDate::parse_from_str(&anchor, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(decided.get(..10).unwrap_or(""), "%Y-%m-%d"))
        else {
            continue;
        };
        let status: String = row.try_get("status")?;
        let finished: Option<String> = row.try_get("finished_at")?;
        let error: Option<String> = row.try_get("last_error")?;
        let status = match status.as_str() {
            "sent" | "delivered" => format!(
                "sent to the LA {}",
                finished
                    .as_deref()
                    .and_then(|f| f.get(..10))
                    .map_or_else(String::new, |d| format!("on {d}"))
            ),
            "awaiting_approval" => "decided: awaiting a person's approval".to_owned(),
            "queued" | "sending" => "approved: queued to send".to_owned(),
            "cancelled" => "rejected: not sent".to_owned(),
            "failed" => format!("failed: {}", error.unwrap_or_default()),
            other => other.to_owned(),
        };
        out.push(Episode {
            pupil_id: row.try_get("pupil_id")?,
            kind,
            stage,
            start,
            status,
        });
    }
    // One line per episode: siblings' returns are one message but separate episodes.
    out.dedup_by(|a, b| a.pupil_id == b.pupil_id && a.stage == b.stage && a.start == b.start);
    Ok(out)
}

/// The return files for one LA-return message: a CSV of its episodes and a PDF cover.
pub async fn attachments_for_message(
    store: &Store,
    school: &SchoolRuntime,
    outbox_id: i64,
    today: NaiveDate,
) -> Result<Vec<Attachment>> {
    let config = &school.config;
    let school_id = school.id;
    let episodes = recorded_episodes(
        store,
        school_id,
        &school.policy,
        None,
        today,
        Some(outbox_id),
    )
    .await?;
    let data = SchoolData::load(store, school_id, today).await?;
    let history = histories(store, school_id).await?;
    let mut returns = Returns::default();
    for e in &episodes {
        let actions = history.get(&e.pupil_id).map_or("", String::as_str);
        if let Some(line) = data.line(config, e, today, actions) {
            returns.lines.entry(e.kind).or_default().push(line);
        }
    }
    returns.as_of = Some(today);
    let mut out = Vec::new();
    for (kind, lines) in &returns.lines {
        out.push(Attachment {
            filename: format!("{}-{}-{today}.csv", config.la_code, kind.slug()),
            content_type: "text/csv".into(),
            bytes: csv_of(lines)?,
        });
    }
    let cover = returns.cover(config);
    out.push(Attachment {
        filename: format!("{}-la-return-{today}.pdf", config.la_code),
        content_type: "application/pdf".into(),
        bytes: super::pdf::document_pdf(&cover).map_err(|e| anyhow::anyhow!("{e}"))?,
    });
    Ok(out)
}

/// A set of returns as of a date.
#[derive(Debug, Clone, Default)]
pub struct Returns {
    pub as_of: Option<NaiveDate>,
    pub lines: BTreeMap<ReturnKind, Vec<ReturnLine>>,
    /// The regular return's period, if it is included.
    pub regular_period: Option<Period>,
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
    /// parents come from the register; see [`crate::spreadsheet`]).
    fn defused(&self) -> ReturnLine {
        let cell = |text: &str| crate::spreadsheet::safe_cell(text).into_owned();
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
            ..self.clone()
        }
    }
}

const CSV_HEADERS: [&str; 23] = [
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
];

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
            section.paragraphs.push(match lines.len() {
                0 => "No pupils.".to_owned(),
                1 => "1 pupil. Contact details, every day's marks and what the school has done are in the CSV.".to_owned(),
                n => format!("{n} pupils. Contact details, every day's marks and what the school has done are in the CSV."),
            });
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
                ReturnKind::Sickness => [
                    "Pupil",
                    "UPN",
                    "Born",
                    "Year",
                    "Ill from",
                    "To",
                    "Days",
                    "Codes",
                    "I this year",
                    "Status",
                ]
                .map(str::to_owned)
                .to_vec(),
                ReturnKind::ContinuousAbsence => [
                    "Pupil", "UPN", "Born", "Year", "From", "To", "Days", "Codes", "Status",
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
                            let mut row = vec![
                                name,
                                Cell::text(l.upn.clone()),
                                Cell::text(l.date_of_birth.clone()),
                                Cell::text(l.year_group.clone()),
                                Cell::text(l.start.clone()),
                                Cell::text(l.end.clone()),
                                Cell::Count(u64::from(l.school_days)),
                                Cell::text(l.codes.clone()),
                            ];
                            if kind == ReturnKind::Sickness {
                                row.push(Cell::text(format!(
                                    "{} sessions",
                                    l.illness_sessions_ytd
                                )));
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
                format!(
                    "From {}: {}.",
                    school.name,
                    [school.contact.signatory.as_str(), school.contact.signatory_role.as_str(), school.contact.email.as_str(), school.contact.phone.as_str()]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ],
            sections,
        }
    }
}

/// A period of the regular return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// "2025-10", "2025-W41", "autumn-2025".
    pub label: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// The period of the LA's interval that contains `date`.
pub fn period_of(interval: ReturnInterval, school: &SchoolConfig, date: NaiveDate) -> Period {
    match interval {
        ReturnInterval::Weekly => {
            let start = crate::session::monday_of(date);
            let iso = date.iso_week();
            Period {
                label: format!("{}-W{:02}", iso.year(), iso.week()),
                start,
                end: start + Days::new(6),
            }
        }
        ReturnInterval::Monthly => {
            let start = date.with_day(1).unwrap_or(date);
            let next = start
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(start);
            Period {
                label: start.format("%Y-%m").to_string(),
                start,
                end: next.pred_opt().unwrap_or(next),
            }
        }
        ReturnInterval::Termly => {
            let term = school
                .calendar
                .term_containing(date)
                .or_else(|| super::previous_term_before(school, date));
            match term {
                Some(t) => Period {
                    label: super::slug(&t.name),
                    start: t.start,
                    end: t.end,
                },
                None => Period {
                    label: format!("to-{date}"),
                    start: year_start(date),
                    end: date,
                },
            }
        }
    }
}

/// Pupils on the regular return as of `as_of`: attendance this school year below the
/// threshold, or unauthorised absence of the configured number of days or more.
pub fn regular_lines(
    school: &SchoolConfig,
    data: &SchoolData,
    year: &[crate::stats::PupilStats],
    period: &Period,
    as_of: NaiveDate,
    status: &str,
    history: &HashMap<i64, String>,
) -> Vec<ReturnLine> {
    let settings = &school.reports;
    let mut lines = Vec::new();
    for p in year {
        let f = &p.facts;
        let below = f.attendance_pct() < settings.la_regular_below_percent;
        let unauthorised =
            f.unauthorised_absence_sessions >= 2 * settings.la_regular_unauthorised_days;
        if !(below || unauthorised) {
            continue;
        }
        let actions = history.get(&p.pupil.id).map_or("", String::as_str);
        let episode = Episode {
            pupil_id: p.pupil.id,
            kind: ReturnKind::Regular,
            stage: String::new(),
            start: period.start,
            status: status.to_owned(),
        };
        if let Some(line) = data.line(school, &episode, as_of, actions) {
            lines.push(line);
        }
    }
    lines.sort_by(|a, b| (&a.surname, &a.forename).cmp(&(&b.surname, &b.forename)));
    lines
}

async fn year_stats(
    store: &Store,
    school_id: SchoolId,
    school: &SchoolConfig,
    as_of: NaiveDate,
) -> Result<Vec<crate::stats::PupilStats>> {
    crate::stats::school_stats(store, school_id, school, year_start(as_of), as_of, None).await
}

/// Every return as of a date, for `rollcall report la-returns`: the 10-day and sickness
/// episodes of this school year (recorded ones with their status, and any the policy would
/// decide at the end of `as_of` that are not recorded yet), and the regular return for the
/// period containing `as_of`.
pub async fn returns_as_of(
    store: &Store,
    school_id: SchoolId,
    school: &SchoolConfig,
    policy: &Policy,
    as_of: NaiveDate,
) -> Result<Returns> {
    let from = year_start(as_of);
    let mut episodes = recorded_episodes(store, school_id, policy, Some(from), as_of, None).await?;
    let register = crate::escalation::load(store, school_id, school, as_of).await?;
    let now = NaiveDateTime::new(
        as_of,
        NaiveTime::from_hms_opt(23, 59, 0).unwrap_or_default(),
    );
    let evaluation = register.evaluate(policy, school, now);
    for d in &evaluation.decisions {
        let Some(kind) = policy
            .stages
            .iter()
            .find(|s| s.id == d.stage)
            .and_then(kind_of)
        else {
            continue;
        };
        let Ok(start) = NaiveDate::parse_from_str(&d.anchor, "%Y-%m-%d") else {
            continue;
        };
        if episodes
            .iter()
            .any(|e| e.pupil_id == d.pupil_id && e.stage == d.stage && e.start == start)
        {
            continue;
        }
        episodes.push(Episode {
            pupil_id: d.pupil_id,
            kind,
            stage: d.stage.clone(),
            start,
            status: "due: the next escalation run records it for approval".into(),
        });
    }
    let data = SchoolData::load(store, school_id, as_of).await?;
    let history = histories(store, school_id).await?;
    let mut returns = Returns {
        as_of: Some(as_of),
        ..Returns::default()
    };
    returns
        .lines
        .entry(ReturnKind::ContinuousAbsence)
        .or_default();
    returns.lines.entry(ReturnKind::Sickness).or_default();
    for e in &episodes {
        let actions = history.get(&e.pupil_id).map_or("", String::as_str);
        if let Some(line) = data.line(school, e, as_of, actions) {
            returns.lines.entry(e.kind).or_default().push(line);
        }
    }
    let period = period_of(school.reports.la_regular_interval, school, as_of);
    let queued = queue::queued_periods(store, school_id, REGULAR_KIND).await?;
    let status = if queued.contains(&period.label) {
        "in the return queued for this period"
    } else {
        "not yet returned for this period"
    };
    let year = year_stats(store, school_id, school, as_of).await?;
    let regular = regular_lines(school, &data, &year, &period, as_of, status, &history);
    returns.lines.insert(ReturnKind::Regular, regular);
    returns.regular_period = Some(period);
    Ok(returns)
}

pub const REGULAR_KIND: &str = "la_regular_return";

/// From the weekly job: queues the regular return for each period (this one or the one
/// before) whose last school day has passed and that has not been queued yet.
pub async fn queue_due_regular_returns(
    store: &Store,
    school_id: SchoolId,
    school: &SchoolConfig,
    now: NaiveDateTime,
) -> Result<Vec<(String, i64)>> {
    let today = now.date();
    let interval = school.reports.la_regular_interval;
    let current = period_of(interval, school, today);
    let previous = period_of(
        interval,
        school,
        current.start.pred_opt().unwrap_or(current.start),
    );
    let queued = queue::queued_periods(store, school_id, REGULAR_KIND).await?;
    let mut done = Vec::new();
    for period in [previous, current] {
        if queued.contains(&period.label) {
            continue;
        }
        let last_school_day = school
            .calendar
            .school_days_between(period.start, period.end)
            .last()
            .copied();
        let complete = match last_school_day {
            Some(last) => today >= last,
            None => continue,
        };
        if !complete {
            continue;
        }
        let as_of = period.end.min(today);
        let data = SchoolData::load(store, school_id, as_of).await?;
        let history = histories(store, school_id).await?;
        let year = year_stats(store, school_id, school, as_of).await?;
        let lines = regular_lines(school, &data, &year, &period, as_of, "", &history);
        let mut returns = Returns {
            as_of: Some(as_of),
            regular_period: Some(period.clone()),
            ..Returns::default()
        };
        returns.lines.insert(ReturnKind::Regular, lines);
        let cover = returns.cover(school);
        let count = returns.lines.get(&ReturnKind::Regular).map_or(0, Vec::len);
        let report = Report {
            kind: REGULAR_KIND.into(),
            period: period.label.clone(),
            to: "la".into(),
            subject: format!(
                "{} (URN {}): regular attendance return, {}",
                school.name, school.urn, period.label
            ),
            text: format!(
                "The regular attendance return from {} for {} ({} to {}): {count} pupil{} below {:.0}% attendance this school year or with {} or more days of unauthorised absence.\n\nThe return is attached as CSV, with a readable cover as PDF.\n\n{}\n",
                school.name,
                period.label,
                date_text(period.start),
                date_text(period.end),
                if count == 1 { "" } else { "s" },
                school.reports.la_regular_below_percent,
                school.reports.la_regular_unauthorised_days,
                school.contact.signatory,
            ),
            html: None,
            attachments: vec![
                Attachment {
                    filename: format!(
                        "{}-{}-{}.csv",
                        school.la_code,
                        ReturnKind::Regular.slug(),
                        period.label
                    ),
                    content_type: "text/csv".into(),
                    bytes: csv_of(
                        returns
                            .lines
                            .get(&ReturnKind::Regular)
                            .map_or(&[], Vec::as_slice),
                    )?,
                },
                Attachment {
                    filename: format!("{}-la-return-{}.pdf", school.la_code, period.label),
                    content_type: "application/pdf".into(),
                    bytes: super::pdf::document_pdf(&cover).map_err(|e| anyhow::anyhow!("{e}"))?,
                },
            ],
            requires_approval: school.reports.la_regular_approval,
            hold_reason: school.reports.la_regular_approval.then(|| {
                format!(
                    "the regular attendance return for {} names {count} pupil{}; see it with `rollcall report la-returns --as-of {as_of}`, then approve or reject",
                    period.label,
                    if count == 1 { "" } else { "s" }
                )
            }),
        };
        if let Some(id) = queue::queue(store, school_id, &report, now)
            .await
            .context("queueing the regular LA return")?
        {
            done.push((period.label.clone(), id));
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> ReturnLine {
        ReturnLine {
            kind: ReturnKind::ContinuousAbsence.slug(),
            upn: "B801200005001".into(),
            surname: "Lovelace".into(),
            forename: "Ada".into(),
            date_of_birth: "2018-03-01".into(),
            year_group: "3".into(),
            reg_group: "3B".into(),
            address: "1 Test Street, Testtown".into(),
            postcode: "TT1 1AA".into(),
            parent_carer: "Anne Lovelace (Mother)".into(),
            phone: "+447700900001".into(),
            email: String::new(),
            start: "2025-10-06".into(),
            end: "2025-10-17".into(),
            school_days: 10,
            sessions: 20,
            codes: "N×20".into(),
            marks: String::new(),
            attendance_ytd_pct: "80.0".into(),
            unauthorised_sessions_ytd: 20,
            illness_sessions_ytd: 0,
            school_actions: String::new(),
            status: String::new(),
        }
    }

    #[test]
    fn an_empty_return_has_the_same_header_as_a_full_one() {
        let full = String::from_utf8(csv_of(&[line()]).expect("csv")).expect("utf8");
        let empty = String::from_utf8(csv_of(&[]).expect("csv")).expect("utf8");
        assert_eq!(
            empty.lines().collect::<Vec<_>>(),
            vec![full.lines().next().expect("header")]
        );
        assert!(empty.starts_with("return,upn,surname,forename,date_of_birth,"));
    }

    #[test]
    fn periods_follow_the_las_interval() {
        let school = crate::config::Config::from_toml(
            "[school]\nname = \"S\"\nurn = \"100001\"\nla_code = \"886\"\n[[calendar.terms]]\nname = \"Autumn 2025\"\nstart = \"2025-09-03\"\nend = \"2025-12-19\"\n",
            "t.toml",
        )
        .expect("config")
        .schools
        .remove(0);
        let d = |s: &str| s.parse::<NaiveDate>().expect("date");
        let month = period_of(ReturnInterval::Monthly, &school, d("2025-02-14"));
        assert_eq!(
            (month.label.as_str(), month.start, month.end),
            ("2025-02", d("2025-02-01"), d("2025-02-28"))
        );
        let week = period_of(ReturnInterval::Weekly, &school, d("2025-10-08"));
        assert_eq!(
            (week.label.as_str(), week.start, week.end),
            ("2025-W41", d("2025-10-06"), d("2025-10-12"))
        );
        let term = period_of(ReturnInterval::Termly, &school, d("2025-11-01"));
        assert_eq!(term.label, "autumn-2025");
    }
}
