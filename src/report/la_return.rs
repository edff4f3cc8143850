//! The LA's statutory returns (DOMAIN.md, "Thresholds"):
//! - the **10-day continuous absence return**: every session G, N, O or U for 10 school days;
//! - the **15-day sickness return**: the school year's illness reaching 30 sessions (once a
//!   year), and each unbroken run of illness reaching 30 sessions by itself;
//! - the **regular attendance return**: at the LA's interval, pupils who fail to attend
//!   regularly (below a threshold) or with 10 or more days of unauthorised absence.
//!
//! The first two are stages of the school's policy: the engine decides each episode once
//! (decisions are unique per pupil, stage and anchor), a person approves it, and the delivery
//! sends it with the return attached ([`attachments_for_message`]). Which episodes there are
//! is read from the register with the stage's own trigger parameters ([`SchoolData::episodes`]),
//! the same `facts` walks the engine uses, so the report lists every episode of the school year
//! whether or not an escalation run has recorded it yet. The regular return is a school-level
//! report queued once per period ([`queue_due_regular_returns`]). Every return is one CSV with
//! the same columns, and a readable cover as HTML and PDF.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{Context as _, Result, bail};
use chrono::{Datelike, Days, NaiveDate, NaiveDateTime};
use sqlx::Row;

use super::document::{Cell, Document, Section, Table};
use super::queue::{self, Report};
use super::{date_text, year_start};
use crate::config::{ReturnInterval, SchoolConfig};
use crate::delivery::channel::Attachment;
use crate::escalation::policy::{Channel, Policy, Stage, Trigger};
use crate::register::facts::{PupilRegister, Run, absence_runs, counts_between, sickness_episodes};
use crate::register::mark::{CODES, Category, MarkCode, category_table};
use crate::register::pupil::Contact;
use crate::register::session::{Session, academic_year, academic_year_start};
use crate::register::store::{PupilYears, SchoolId, Store, StoredPupil};
use crate::school::SchoolRuntime;

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
                "Pupils absent for a continuous period of 10 school days with every session coded G, N, O or U. One line per episode; a new episode after a return is returned again."
            }
            ReturnKind::Sickness => {
                "Pupils the school believes will miss 15 school days (30 sessions) or more through illness, consecutive or cumulative, so that the LA can arrange education under section 19. One line when the school year's illness reaches 30 sessions (once a year), and one for each unbroken period of illness that reaches 30 sessions by itself."
            }
            ReturnKind::Regular => {
                "Pupils who are failing to attend regularly, or who have 10 or more days of unauthorised absence this school year."
            }
        }
    }
}

/// What an LA-return stage returns: its trigger's parameters, read as the engine reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnRule {
    /// `consecutive_absent_days`: every run of whole school days absent (with
    /// `unauthorised_only`, every session G/N/O/U) that reached `days`.
    Runs {
        days: u32,
        unauthorised_only: bool,
        /// The stage returns runs that have ended too (otherwise only the one going on).
        include_ended: bool,
    },
    /// `illness`: the school year's total reaching `sessions` (unless `consecutive`), and each
    /// unbroken run of illness reaching `sessions` by itself.
    Illness { sessions: u32, consecutive: bool },
}

/// The rule of a stage that sends a return to the LA: the first `consecutive_absent_days` or
/// `illness` in its trigger (inside `all`, `any` or `held`; never under a `not`). `None` for a
/// stage with no LA return, or one whose trigger names neither.
pub fn rule_of(stage: &Stage) -> Option<ReturnRule> {
    fn find(trigger: &Trigger) -> Option<ReturnRule> {
        match trigger {
            Trigger::ConsecutiveAbsentDays {
                days,
                unauthorised_only,
                include_ended,
            } => Some(ReturnRule::Runs {
                days: *days,
                unauthorised_only: *unauthorised_only,
                include_ended: *include_ended,
            }),
            Trigger::Illness {
                sessions,
                consecutive,
            } => Some(ReturnRule::Illness {
                sessions: *sessions,
                consecutive: *consecutive,
            }),
            Trigger::All(list) | Trigger::Any(list) => list.iter().find_map(find),
            Trigger::Held { trigger, .. } => find(trigger),
            _ => None,
        }
    }
    if !stage.actions.iter().any(|a| a.channel == Channel::LaReturn) {
        return None;
    }
    find(&stage.trigger)
}

/// The return a stage of the policy makes, if it sends one to the LA. A stage whose trigger
/// names no run and no illness (a policy's own rule) returns the pupil's figures for the
/// school year, as the regular return does.
pub fn kind_of(stage: &Stage) -> Option<ReturnKind> {
    if !stage.actions.iter().any(|a| a.channel == Channel::LaReturn) {
        return None;
    }
    Some(match rule_of(stage) {
        Some(ReturnRule::Runs { .. }) => ReturnKind::ContinuousAbsence,
        Some(ReturnRule::Illness { .. }) => ReturnKind::Sickness,
        None => ReturnKind::Regular,
    })
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
    /// Sent on a date, awaiting approval, due at the next run, withdrawn and why.
    pub status: String,
    /// What kind of episode: "continuous", "continuous, still going on", "cumulative: …".
    pub episode: String,
}

/// The shape of an episode, which decides the days its line lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An unbroken run: every school day from its start to its end.
    Run { ongoing: bool },
    /// The school year's illness up to the day its total reached `threshold` sessions: the
    /// days with illness from the first to that day.
    IllnessTotal { threshold: u32 },
    /// A period (the regular return, or a stage with a rule of its own): the pupil's figures
    /// over it.
    Period,
}

/// An episode a return is (or will be) made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub pupil_id: i64,
    pub kind: ReturnKind,
    pub stage: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// School days and possible sessions in the episode (for a cumulative illness return, the
    /// days with illness and their illness sessions); worked out for a period.
    pub school_days: u32,
    pub sessions: u32,
    pub shape: Shape,
    pub status: String,
}

impl Episode {
    /// Whether a decision anchored at `anchor` is about this episode: the year's cumulative
    /// illness return by its `year-YYYY-total` anchor, anything else by the episode containing
    /// the anchor's date (the engine anchors a run on its first day, or on the school year's
    /// first day for a run it only saw from there).
    fn is_anchored_at(&self, anchor: &str, school_year: i32) -> bool {
        match self.shape {
            Shape::IllnessTotal { .. } if anchor == year_total_anchor(school_year) => true,
            Shape::Period => false,
            _ => NaiveDate::parse_from_str(anchor, "%Y-%m-%d")
                .is_ok_and(|d| self.start <= d && d <= self.end),
        }
    }

    /// The CSV's `episode` column.
    fn describe(&self, reason: &str) -> String {
        match self.shape {
            Shape::Run { ongoing: true } => "continuous, still going on".to_owned(),
            Shape::Run { ongoing: false } => "continuous".to_owned(),
            Shape::IllnessTotal { threshold } => format!(
                "cumulative: the school year's illness reached {threshold} sessions on {}",
                self.end
            ),
            Shape::Period if reason.is_empty() => String::new(),
            Shape::Period => format!("the school year so far: {reason}"),
        }
    }
}

/// The anchor the engine gives the year's cumulative sickness return.
fn year_total_anchor(school_year: i32) -> String {
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
fn illness_up_to(
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

/// A recorded decision of an LA-return stage, with its return message.
#[derive(Debug, Clone)]
struct Recorded {
    id: i64,
    pupil_id: i64,
    stage: String,
    anchor: String,
    reason: String,
    decided_at: String,
    withdrawn_at: Option<String>,
    withdrawn_reason: Option<String>,
    message: Option<Message>,
}

/// The LA-return message a decision travels in.
#[derive(Debug, Clone)]
struct Message {
    status: String,
    finished_at: Option<String>,
    decided_by: Option<String>,
    decided_at: Option<String>,
    decision_note: Option<String>,
    last_error: Option<String>,
    /// This decision was taken out of the message (withdrawn), the rest may still go.
    cancelled_reason: Option<String>,
}

fn day_of(time: &str) -> &str {
    time.get(..10).unwrap_or(time)
}

impl Recorded {
    /// What has happened to the return, for the status column.
    fn status(&self) -> String {
        let decided = day_of(&self.decided_at);
        if let Some(at) = &self.withdrawn_at {
            return format!(
                "withdrawn on {}: {}",
                day_of(at),
                self.withdrawn_reason
                    .as_deref()
                    .unwrap_or("its cause has gone")
            );
        }
        let Some(m) = &self.message else {
            return format!("decided on {decided}; no return message was made");
        };
        if let Some(why) = &m.cancelled_reason {
            return format!("taken out of the return: {why}");
        }
        let by = |verb: &str| {
            let who = m
                .decided_by
                .as_deref()
                .map_or_else(String::new, |b| format!(" by {b}"));
            let when = m
                .decided_at
                .as_deref()
                .map_or_else(String::new, |d| format!(" on {}", day_of(d)));
            format!("{verb}{who}{when}")
        };
        match m.status.as_str() {
            "sent" | "delivered" => match m.finished_at.as_deref() {
                Some(at) => format!("sent to the LA on {}", day_of(at)),
                None => "sent to the LA".to_owned(),
            },
            "awaiting_approval" => {
                format!("decided on {decided}: awaiting a person's approval (rollcall pending)")
            }
            "queued" | "sending" => format!("{}: queued to send", by("approved")),
            "cancelled" if m.decided_by.is_some() => {
                let note = m
                    .decision_note
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .map_or_else(String::new, |n| format!(" ({n})"));
                format!("{}: not sent{note}", by("rejected"))
            }
            "cancelled" => "cancelled: not sent".to_owned(),
            "failed" => format!(
                "failed: {}",
                m.last_error.as_deref().unwrap_or("no reason recorded")
            ),
            "expired" => "expired before anyone approved it: not sent".to_owned(),
            other => other.to_owned(),
        }
    }

    /// Whether the decision belongs to the school year `year`: its anchor or its date.
    fn in_school_year(&self, year: i32) -> bool {
        if self.anchor == year_total_anchor(year) {
            return true;
        }
        let date = NaiveDate::parse_from_str(&self.anchor, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(day_of(&self.decided_at), "%Y-%m-%d"));
        date.is_ok_and(|d| academic_year(d) == year)
    }
}

/// The recorded decisions of the policy's LA-return stages made up to the end of `as_of`, each
/// with its return message if it has one; only those in message `only_outbox` (and not taken
/// out of it) when given.
async fn recorded_decisions(
    store: &Store,
    school: SchoolId,
    policy: &Policy,
    as_of: NaiveDate,
    only_outbox: Option<i64>,
) -> Result<Vec<Recorded>> {
    let stages: HashSet<&str> = policy
        .stages
        .iter()
        .filter(|s| kind_of(s).is_some())
        .map(|s| s.id.as_str())
        .collect();
    if stages.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT d.id, d.pupil_id, d.stage, d.anchor, d.reason, d.decided_at, d.withdrawn_at,
                d.withdrawn_reason, m.status, m.finished_at, m.decided_by, m.decided_at AS approved_at,
                m.decision_note, m.last_error, m.cancelled_reason
         FROM decisions d
         LEFT JOIN (SELECT i.decision_id, i.cancelled_reason, o.id AS outbox_id, o.status,
                           o.finished_at, o.decided_by, o.decided_at, o.decision_note, o.last_error
                    FROM outbox_items i JOIN outbox o ON o.id = i.outbox_id
                    WHERE o.channel = 'la_return') m ON m.decision_id = d.id
         WHERE d.school_id = $1 AND d.decided_at <= $2
           AND ($3 = 0 OR (m.outbox_id = $3 AND m.cancelled_reason IS NULL))
         ORDER BY d.decided_at, d.id",
    )
    .bind(school.0)
    // Decision times are local "YYYY-MM-DDTHH:MM:SS" text.
    .bind(format!("{as_of}T23:59:59"))
    .bind(only_outbox.unwrap_or(0))
    .fetch_all(store.pool())
    .await?;
    let mut out: Vec<Recorded> = Vec::new();
    for row in rows {
        let stage: String = row.try_get("stage")?;
        if !stages.contains(stage.as_str()) {
            continue;
        }
        let status: Option<String> = row.try_get("status")?;
        let message = match status {
            Some(status) => Some(Message {
                status,
                finished_at: row.try_get("finished_at")?,
                decided_by: row.try_get("decided_by")?,
                decided_at: row.try_get("approved_at")?,
                decision_note: row.try_get("decision_note")?,
                last_error: row.try_get("last_error")?,
                cancelled_reason: row.try_get("cancelled_reason")?,
            }),
            None => None,
        };
        let id: i64 = row.try_get("id")?;
        // A decision in two return messages (never made today) is listed once, by its first.
        if out.last().is_some_and(|r| r.id == id) {
            continue;
        }
        out.push(Recorded {
            id,
            pupil_id: row.try_get("pupil_id")?,
            stage,
            anchor: row.try_get("anchor")?,
            reason: row.try_get("reason")?,
            decided_at: row.try_get("decided_at")?,
            withdrawn_at: row.try_get("withdrawn_at")?,
            withdrawn_reason: row.try_get("withdrawn_reason")?,
            message,
        });
    }
    Ok(out)
}

/// A recorded return the report cannot show as an episode of the register: its marks were
/// recoded since, or its stage's trigger names no run and no illness (a rule of the policy's
/// own, `own_rule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    pub own_rule: bool,
    pub kind: ReturnKind,
    pub upn: String,
    pub pupil: String,
    pub stage: String,
    /// The episode as it was decided: its first day, or `year-YYYY-total`.
    pub anchor: String,
    pub decided_on: String,
    pub status: String,
}

/// Every episode the policy's LA-return stages return, as of `as_of`, each joined with the
/// decisions recorded for it (by anchor); recorded decisions of the school year that no
/// episode claims are returned apart.
fn join_episodes(
    school: &SchoolConfig,
    policy: &Policy,
    data: &SchoolData,
    recorded: &[Recorded],
    as_of: NaiveDate,
) -> (Vec<(Episode, String)>, Vec<Unmatched>) {
    let year = academic_year(as_of);
    let mut by_pupil_stage: HashMap<(i64, &str), Vec<usize>> = HashMap::new();
    for (i, r) in recorded.iter().enumerate() {
        by_pupil_stage
            .entry((r.pupil_id, r.stage.as_str()))
            .or_default()
            .push(i);
    }
    let mut claimed = vec![false; recorded.len()];
    let mut episodes = Vec::new();
    let pupils = data.pupils_by_name();
    for stage in &policy.stages {
        let Some(rule) = rule_of(stage) else {
            continue;
        };
        for pupil in &pupils {
            for mut episode in data.episodes(school, &stage.id, rule, pupil, as_of) {
                let mut statuses = Vec::new();
                let mut reason = String::new();
                for &i in by_pupil_stage
                    .get(&(pupil.id, stage.id.as_str()))
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                {
                    if !claimed[i] && episode.is_anchored_at(&recorded[i].anchor, year) {
                        claimed[i] = true;
                        statuses.push(recorded[i].status());
                        reason.clone_from(&recorded[i].reason);
                    }
                }
                episode.status = if !statuses.is_empty() {
                    statuses.join("; ")
                } else {
                    match (rule, episode.shape) {
                        (
                            ReturnRule::Runs {
                                include_ended: false,
                                ..
                            },
                            Shape::Run { ongoing: false },
                        ) => "not returned: the stage returns a run only while it is going on (include_ended = false in the policy)".to_owned(),
                        _ => "due: the next escalation run records it for a person's approval"
                            .to_owned(),
                    }
                };
                episodes.push((episode, reason));
            }
        }
    }
    let mut unmatched = Vec::new();
    for (r, _) in recorded
        .iter()
        .zip(&claimed)
        .filter(|(r, claimed)| !**claimed && r.in_school_year(year))
    {
        let Some(stage) = policy.stages.iter().find(|s| s.id == r.stage) else {
            continue;
        };
        let Some(kind) = kind_of(stage) else {
            continue;
        };
        let (upn, pupil) = data.pupils.get(&r.pupil_id).map_or_else(
            || (String::new(), String::new()),
            |p| {
                (
                    p.pupil.upn.to_string(),
                    format!("{}, {}", p.pupil.surname, p.pupil.forename),
                )
            },
        );
        unmatched.push(Unmatched {
            own_rule: rule_of(stage).is_none(),
            kind,
            upn,
            pupil,
            stage: stage.title.clone(),
            anchor: r.anchor.clone(),
            decided_on: day_of(&r.decided_at).to_owned(),
            status: r.status(),
        });
    }
    (episodes, unmatched)
}

/// The return files for one LA-return message: a CSV of its episodes as the register shows
/// them today (the same lines `rollcall report la-returns` prints) and a PDF cover. A message
/// whose episodes the register no longer shows (recoded since) is refused, so nothing stale
/// reaches the LA; the next escalation run withdraws it.
pub async fn attachments_for_message(
    store: &Store,
    school: &SchoolRuntime,
    outbox_id: i64,
    today: NaiveDate,
) -> Result<Vec<Attachment>> {
    let config = &school.config;
    let school_id = school.id;
    let policy = &school.policy;
    let recorded = recorded_decisions(store, school_id, policy, today, Some(outbox_id)).await?;
    if recorded.is_empty() {
        bail!("message {outbox_id} carries no decision of an LA-return stage of the policy");
    }
    let data = SchoolData::load(store, school_id, today).await?;
    let history = histories(store, school_id).await?;
    let year = academic_year(today);
    let mut returns = Returns {
        as_of: Some(today),
        ..Returns::default()
    };
    let mut gone = Vec::new();
    for r in &recorded {
        let Some(stage) = policy.stages.iter().find(|s| s.id == r.stage) else {
            continue;
        };
        let Some(pupil) = data.pupils.get(&r.pupil_id) else {
            continue;
        };
        let episode = match rule_of(stage) {
            Some(rule) => data
                .episodes(config, &stage.id, rule, pupil, today)
                .into_iter()
                .find(|e| e.is_anchored_at(&r.anchor, year)),
            // A rule of the policy's own: the pupil's school year so far.
            None => Some(Episode {
                pupil_id: pupil.id,
                kind: ReturnKind::Regular,
                stage: stage.id.clone(),
                start: year_start(today),
                end: today,
                school_days: 0,
                sessions: 0,
                shape: Shape::Period,
                status: String::new(),
            }),
        };
        let Some(mut episode) = episode else {
            gone.push(format!("decision {} ({}, {})", r.id, r.stage, r.anchor));
            continue;
        };
        episode.status = format!("sent to the LA on {today}");
        let actions = history.get(&r.pupil_id).map_or("", String::as_str);
        if let Some(line) = data.line(config, &episode, today, actions, &r.reason) {
            returns.lines.entry(episode.kind).or_default().push(line);
        }
    }
    if returns.lines.is_empty() {
        bail!(
            "the register no longer shows the episode this return was decided for ({}): its marks were changed since; the next escalation run withdraws it",
            gone.join("; ")
        );
    }
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

const CSV_HEADERS: [&str; 24] = [
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

fn plural(n: usize, one: &str, many: &str) -> String {
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
fn from_line(school: &SchoolConfig) -> String {
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
            let start = crate::register::session::monday_of(date);
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
    year: &[crate::register::stats::PupilStats],
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
            end: as_of,
            school_days: 0,
            sessions: 0,
            shape: Shape::Period,
            status: status.to_owned(),
        };
        if let Some(line) = data.line(school, &episode, as_of, actions, "") {
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
) -> Result<Vec<crate::register::stats::PupilStats>> {
    crate::register::stats::school_stats(store, school_id, school, year_start(as_of), as_of, None)
        .await
}

/// Every return as of a date, for `rollcall report la-returns`: each 10-day and sickness
/// episode of the school year the register shows, found with the trigger parameters of the
/// policy's LA-return stages (whether or not an escalation run has recorded it yet), with the
/// status of the decisions recorded for it; recorded returns whose episode the register no
/// longer shows; and the regular return for the period containing `as_of`.
pub async fn returns_as_of(
    store: &Store,
    school_id: SchoolId,
    school: &SchoolConfig,
    policy: &Policy,
    as_of: NaiveDate,
) -> Result<Returns> {
    let data = SchoolData::load(store, school_id, as_of).await?;
    let history = histories(store, school_id).await?;
    let recorded = recorded_decisions(store, school_id, policy, as_of, None).await?;
    let (episodes, unmatched) = join_episodes(school, policy, &data, &recorded, as_of);
    let mut returns = Returns {
        as_of: Some(as_of),
        unmatched,
        ..Returns::default()
    };
    returns
        .lines
        .entry(ReturnKind::ContinuousAbsence)
        .or_default();
    returns.lines.entry(ReturnKind::Sickness).or_default();
    for (e, reason) in &episodes {
        let actions = history.get(&e.pupil_id).map_or("", String::as_str);
        if let Some(line) = data.line(school, e, as_of, actions, reason) {
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
            episode: "continuous".into(),
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
    fn the_cover_counts_episodes_and_pupils_apart_and_says_who_it_is_from() {
        let school = crate::config::Config::from_toml(
            "[school]\nname = \"Held-out Academy\"\nurn = \"100001\"\nla_code = \"886\"\n[[calendar.terms]]\nname = \"Autumn 2025\"\nstart = \"2025-09-03\"\nend = \"2025-12-19\"\n",
            "t.toml",
        )
        .expect("config")
        .schools
        .remove(0);
        // Ten lines about three pupils: four, three and three episodes.
        let lines: Vec<ReturnLine> = (0..10)
            .map(|i| ReturnLine {
                upn: ["B801200005001", "P207000016049", "V886200000001"][i % 3].into(),
                start: format!("2025-10-{:02}", i + 1),
                ..line()
            })
            .collect();
        let returns = Returns {
            as_of: Some("2025-12-19".parse().expect("date")),
            lines: [(ReturnKind::ContinuousAbsence, lines)].into(),
            ..Returns::default()
        };
        let cover = returns.cover(&school);
        let paragraphs = &cover.sections[0].paragraphs;
        assert!(
            paragraphs
                .iter()
                .any(|p| p.starts_with("10 episodes of 3 pupils. ")),
            "{paragraphs:?}"
        );
        // No contact details and no attendance officer configured: just the school's name.
        assert_eq!(
            cover.meta.last().map(String::as_str),
            Some("From Held-out Academy.")
        );
        let one = [line()];
        assert_eq!(
            count_text(ReturnKind::Sickness, &one),
            "1 episode of 1 pupil"
        );
        assert_eq!(count_text(ReturnKind::Regular, &one), "1 pupil");
    }

    #[test]
    fn a_stage_returns_what_its_trigger_counts() {
        let policy = crate::escalation::policy::parse(
            r#"
name = "t"
title = "t"
[[stage]]
id = "ten_days"
title = "Ten days"
trigger = { all = [ { cohort = { social_worker = false } }, { consecutive_absent_days = { days = 10, unauthorised_only = true, include_ended = true } } ] }
approval = "required"
actions = [ { channel = "la_return", to = "la", template = "la_10_day_return" } ]
[[stage]]
id = "sick"
title = "Sick"
trigger = { illness = { sessions = 30, consecutive = true } }
approval = "required"
case = "none"
actions = [ { channel = "la_return", to = "la", template = "la_sickness_return" } ]
[[stage]]
id = "own"
title = "Own rule"
trigger = { attendance_below = { percent = 50.0 } }
approval = "required"
case = "none"
actions = [ { channel = "la_return", to = "la", template = "la_10_day_return" } ]
[[stage]]
id = "letter"
title = "Letter"
trigger = { consecutive_absent_days = { days = 3 } }
actions = [ { channel = "letter", to = "contacts", template = "day_three" } ]
"#,
            "t.toml",
        )
        .expect("policy");
        let rule = |id: &str| rule_of(policy.stages.iter().find(|s| s.id == id).expect(id));
        assert_eq!(
            rule("ten_days"),
            Some(ReturnRule::Runs {
                days: 10,
                unauthorised_only: true,
                include_ended: true
            })
        );
        assert_eq!(
            rule("sick"),
            Some(ReturnRule::Illness {
                sessions: 30,
                consecutive: true
            })
        );
        // A rule of the policy's own returns the pupil's year, as the regular return does.
        assert_eq!(rule("own"), None);
        let kind = |id: &str| kind_of(policy.stages.iter().find(|s| s.id == id).expect(id));
        assert_eq!(kind("own"), Some(ReturnKind::Regular));
        assert_eq!(kind("letter"), None, "no LA return");
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
