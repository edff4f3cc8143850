//! Policies: a school's escalation ladder as checked configuration.
//!
//! This is where a policy file is parsed and checked. A policy is a TOML file listing
//! **stages**; each stage has a trigger from the vocabulary in [`Trigger`], the actions it
//! takes, whether a person must approve it, and how it re-arms. `rollcall check` runs
//! [`load`] on every policy a config names and prints its errors.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::register::mark::{Category, MarkCode};

mod check;
pub use check::check;

/// The policy a school runs when its config names none.
pub const DEFAULT_POLICY: &str = "dfe-baseline";

/// A policy problem, worded for a school administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: String,
    /// `stage "day_three"`, or empty for the file as a whole.
    pub stage: String,
    pub key: String,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if !self.stage.is_empty() {
            write!(f, ": stage \"{}\"", self.stage)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for PolicyError {}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub settings: Settings,
    #[serde(rename = "stage")]
    pub stages: Vec<Stage>,
    #[serde(skip)]
    pub source: PathBuf,
}

impl Policy {
    /// A stage's title as people read it (the id itself for a stage the policy no longer has).
    pub fn stage_title(&self, id: &str) -> String {
        self.stages
            .iter()
            .find(|s| s.id == id)
            .map_or_else(|| id.to_owned(), |s| s.title.clone())
    }
}

/// Policy-wide settings: the restraint that makes a school trust automated messages.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Minutes after register close before first-day messages are planned.
    pub grace_minutes: u32,
    /// The school's attendance target, in percent (reports and letters).
    pub target_percent: f64,
    /// A registration group with fewer marks than this share of its pupils at register close
    /// + grace is treated as "register not taken": its first-day messages are held.
    pub stale_register_share: f64,
    /// One run that would contact more than this share of the roll is held for approval.
    pub mass_send_share: f64,
    /// No SMS between these local times ("HH:MM").
    pub quiet_hours_start: String,
    pub quiet_hours_end: String,
    /// Integration period for new pupils, in school weeks, left out of "adjusted" attendance
    /// (James Marks Academy). 0 = no adjusted measure.
    pub integration_weeks: u32,
    /// How many steps a pupil's case may move in one school day when the school is run daily
    /// (a run the school day before, or earlier today). A run that catches up after a gap or
    /// a first import climbs as far as the register says, sending the family only the last
    /// step's messages.
    pub steps_per_day: u32,
    /// A message awaiting approval for this many school days reminds the attendance officer
    /// (and again after each further period); it is never dropped silently.
    pub approval_reminder_school_days: u32,
    /// Roll changes in a regular batch, where the LA agrees one (issue 14): the weekday
    /// (`"monday"` … `"friday"`) on which the LA hears of new pupils and deletions. A message
    /// to the LA from a stage with an `admitted` or `leaving` trigger is put off to that
    /// weekday's next school day, after the morning register closes (a new pupil's never past
    /// the fifth school day after admission, the statutory limit). Unset, the default: each
    /// notice goes on its own day.
    pub roll_change_batch_weekday: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            grace_minutes: 15,
            target_percent: 96.0,
            stale_register_share: 0.9,
            mass_send_share: 0.2,
            quiet_hours_start: "20:00".into(),
            quiet_hours_end: "08:00".into(),
            integration_weeks: 0,
            steps_per_day: 1,
            approval_reminder_school_days: 3,
            roll_change_batch_weekday: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub id: String,
    pub title: String,
    pub trigger: Trigger,
    #[serde(default)]
    pub actions: Vec<Action>,
    #[serde(default)]
    pub approval: Approval,
    #[serde(default)]
    pub rearm: Rearm,
    /// Fires only for pupils whose open case has already reached this stage.
    #[serde(default)]
    pub requires: Option<String>,
    /// What firing does to the pupil's case.
    #[serde(default)]
    pub case: CaseEffect,
    /// Parent messages on a non-school day only if this is set.
    #[serde(default)]
    pub on_non_school_days: bool,
    /// What happens to this stage's messages still waiting to go (for a person's approval, or
    /// to be sent) when the register no longer shows what caused them: `cancel` (the default)
    /// withdraws them with the reason; `keep` never withdraws them. The check re-reads the
    /// register as it now stands for the moment the decision was made, with the case as it was
    /// then: a pupil back at school since, or the case moved on by the decision itself, is not
    /// a reason to withdraw; an `N` recoded to `I` is.
    #[serde(default)]
    pub recheck: Recheck,
    /// The stage warns of, reviews or takes legal action (final written warnings, penalty-notice
    /// reviews, legal sanctions). Its triggers may count only unauthorised absence: illness and
    /// other authorised absence are never a legal matter. A stage with a penalty-notice review
    /// task is one whether or not this is set.
    #[serde(default)]
    pub enforcement: bool,
    /// Who signs this stage's letters and emails to families: a staff role
    /// (`"headteacher"`, `"deputy_head"`, …) whose name the school gives under
    /// `[school.contact.signatories]`. Without one, the school's `[school.contact]`
    /// signatory signs.
    #[serde(default)]
    pub signatory: Option<Recipient>,
    /// A parent's reply, confirmed by a person, answers this stage: it does not fire on a day
    /// the reply explains, and its messages about that day still waiting (and today's call)
    /// are withdrawn when the reply is confirmed. For contact about an unexplained absence
    /// (first-day texts and calls, day-three contact); never for statutory returns or
    /// enforcement, which count the register's codes, not what a parent said.
    #[serde(default)]
    pub answered_by_reply: bool,
}

impl Stage {
    /// Whether the stage is enforcement: set on the stage, or implied by a penalty-notice review.
    pub fn is_enforcement(&self) -> bool {
        self.enforcement
            || self
                .actions
                .iter()
                .any(|a| a.task == Some(TaskKind::PenaltyNoticeReview))
    }

    /// Whether firing moves the pupil's case.
    pub fn moves_case(&self) -> bool {
        self.case != CaseEffect::None
    }

    /// The role that signs `action`'s message: the action's own, else the stage's.
    pub fn signatory_for(&self, action: &Action) -> Option<Recipient> {
        action.signatory.or(self.signatory)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recheck {
    #[default]
    Cancel,
    Keep,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    #[default]
    None,
    Required,
}

/// When a stage may fire again for the same pupil.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rearm {
    /// At most once a school day (first-day messages).
    Daily,
    /// Once per episode: again only after the trigger has been false (a new absence run, a
    /// new period of sickness, attendance recovering and falling again).
    #[default]
    Episode,
    /// Once per academic year.
    Yearly,
    /// Once per case.
    Once,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseEffect {
    /// Opens a case if needed and moves it to this stage (if the stage is further up).
    #[default]
    Escalate,
    /// A notification only: the case is not opened or moved.
    None,
    /// Closes the pupil's case (improvement, congratulations).
    Close,
}

/// The trigger vocabulary. In TOML: `trigger = { consecutive_absent_days = { days = 3 } }`,
/// `trigger = "persistent_absence"`, `trigger = { all = [ … ] }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// Unexplained absence today at register close + grace: the mark is `N` or missing.
    FirstDay {
        #[serde(default = "am")]
        session: SessionName,
        /// Only on days one to `last_day` of an absence (Russell Street's Stage One, "Day One
        /// and Two of absence"): today, and the school days before it with every possible
        /// session an absence, are at most `last_day` days. Unset: every day.
        #[serde(default)]
        last_day: Option<u32>,
    },
    /// Consecutive absent school days ≥ `days` (every possible session absent; with
    /// `unauthorised_only`, every one G/N/O/U).
    ConsecutiveAbsentDays {
        days: u32,
        #[serde(default)]
        unauthorised_only: bool,
        /// Every run of the school year that reached `days`, not only the one going on now: for
        /// statutory returns, each of which is due however late the register shows it (a
        /// first import of a whole term, an `I` recoded to `O` a week later).
        #[serde(default)]
        include_ended: bool,
    },
    /// Absent school days (any absence filling every possible session) ≥ `days` in this term.
    AbsentDaysInTerm {
        days: u32,
    },
    /// Absence sessions (authorised or unauthorised, half days) ≥ `sessions` over a window:
    /// "absent for more than 10 school days this term" is `sessions = 21, window = "term"`.
    /// Unlike `absent_days_in_term`, a morning off here and an afternoon there count too.
    AbsentSessions {
        sessions: u32,
        #[serde(default)]
        window: Window,
    },
    /// Attendance below `percent` over a window.
    AttendanceBelow {
        percent: f64,
        #[serde(default)]
        window: Window,
        /// Only once the window holds at least this many possible sessions (avoids acting
        /// on a 50 % "attendance" after one missed session in September).
        #[serde(default = "min_sessions")]
        min_sessions: u32,
        /// Measure "adjusted" attendance: leave out the pupil's integration period
        /// (`settings.integration_weeks` school weeks from admission). The reason gives the
        /// actual figure beside it.
        #[serde(default)]
        adjusted: bool,
        /// Also fire at exactly `percent`: "falls to 96 percent" is at or below 96 %, where
        /// "falls below 96 percent" is the default, strictly below.
        #[serde(default)]
        inclusive: bool,
        /// "Close to" `percent`: fire below `percent + margin` (percentage points). The
        /// policy file states the school's reading of "close" (Russell Street's Stage Three,
        /// "close to 96.5%"). 0 (the default): below `percent` itself.
        #[serde(default)]
        margin: f64,
        #[serde(default)]
        counting: Counting,
    },
    /// Attendance at or above `percent` over a window (congratulations, de-escalation).
    AttendanceAtLeast {
        percent: f64,
        #[serde(default)]
        window: Window,
        #[serde(default = "min_sessions")]
        min_sessions: u32,
        #[serde(default)]
        adjusted: bool,
        #[serde(default)]
        counting: Counting,
    },
    /// The penalty-notice threshold: `sessions` of `codes` within `weeks` school weeks.
    /// Each review counts only sessions no earlier review of the stage counted, and with
    /// `rest_school_weeks` comes at least that many school weeks after the one before (a
    /// notice to improve's period).
    PenaltyThreshold {
        #[serde(default = "ten")]
        sessions: u32,
        #[serde(default = "ten")]
        weeks: u32,
        #[serde(default = "unauthorised_codes")]
        codes: Vec<String>,
        #[serde(default)]
        rest_school_weeks: u32,
    },
    /// Illness (`I`) sessions ≥ `sessions` this school year (cumulative), or in one
    /// unbroken run when `consecutive`.
    Illness {
        sessions: u32,
        #[serde(default)]
        consecutive: bool,
    },
    /// Late sessions (`codes`, default L and U) ≥ `sessions` within a window.
    Lateness {
        sessions: u32,
        #[serde(default = "late_codes")]
        codes: Vec<String>,
        #[serde(default)]
        window: Window,
    },
    /// An `N` mark still not resolved `school_days` school days after it was recorded.
    UnresolvedN {
        school_days: u32,
    },
    /// Persistent absence (≥ 10 % of possible sessions missed this school year), once the
    /// year holds `min_sessions` possible sessions (one missed day in September is not PA).
    /// One episode per school year, however often the figure crosses the line, unless the
    /// pupil has been out of PA for `out_for_school_days` school days in a row first.
    PersistentAbsence {
        #[serde(default = "status_min_sessions")]
        min_sessions: u32,
        #[serde(default)]
        out_for_school_days: Option<u32>,
    },
    /// Severe absence (≥ 50 %), with the same minimum and episodes.
    SevereAbsence {
        #[serde(default = "status_min_sessions")]
        min_sessions: u32,
        #[serde(default)]
        out_for_school_days: Option<u32>,
    },
    /// In `stage` for ≥ `school_days` school days and attendance since the school acted is
    /// below `percent` (no improvement). "Since the school acted" starts the school day after
    /// the absence that caused the stage ended; while that absence goes on, nothing is judged.
    NoImprovement {
        stage: String,
        school_days: u32,
        percent: f64,
        #[serde(default)]
        counting: Counting,
    },
    /// As `no_improvement`, with attendance at or above `percent` (improved).
    Improved {
        stage: String,
        school_days: u32,
        percent: f64,
        #[serde(default)]
        counting: Counting,
    },
    /// `trigger` has held at the end of each of the last `school_days` school days (today
    /// as of now): an improvement that has stabilised, not one good reading.
    Held {
        school_days: u32,
        trigger: Box<Trigger>,
    },
    /// Children missing education (DOMAIN.md: "20 school days of continuous G/N/O absence,
    /// where school and LA cannot find the child, is a ground for deletion"): the run of
    /// school days going on now with every session G, N, O or U has reached `school_days`.
    /// Until rollcall records call outcomes, "cannot reach the family" is read as this run.
    /// One episode per run (its first day). An enquiry task uses a lower `school_days` (15);
    /// the LA's notice the full 20. Nothing ever deletes a pupil: a stage with this trigger
    /// that writes to the LA needs a person's approval (`rollcall check`).
    MissingEducation {
        #[serde(default = "twenty")]
        school_days: u32,
    },
    /// A part-time timetable (`C2`) has begun and goes on: a C2 mark this school week or the
    /// last. A spell is the unbroken run of school weeks each with at least one C2; a school
    /// week with none ends it, and the next C2 starts a new one. One episode per spell (its
    /// first C2 day): the stage that tells the LA when C2 first appears.
    PartTimeTimetable {},
    /// A part-time timetable still going on `school_weeks` school weeks after it began, and
    /// again every `school_weeks` after that (DfE: reviewed at least every few weeks): the k-th
    /// review is due in the k·`school_weeks`-th school week after the spell's first week.
    PartTimeReview {
        #[serde(default = "six")]
        school_weeks: u32,
    },
    /// Sessions marked with any of `codes` ≥ `sessions` within a window: R beyond a policy's
    /// cap on religious observance (`codes = ["R"], sessions = 7, window = "year"` is "more
    /// than three days"), I sessions in a term before asking for medical evidence, U alone
    /// for lateness after the register closed.
    CodedSessions {
        codes: Vec<String>,
        sessions: u32,
        #[serde(default)]
        window: Window,
    },
    /// A pattern of absence: absent (any session of the day) on the same weekday in at least
    /// `weeks` different school weeks of the window, each a week the pupil was in school on
    /// another day, or this week (a long absence is not a pattern), so "every Friday off" reaches a person
    /// before the 10 % line does. Fires once while the pattern holds.
    WeekdayPattern {
        weeks: u32,
        #[serde(default = "six_weeks")]
        window: Window,
    },
    /// Fewer than `contacts` contacts the school can ring (with a phone number on file): the
    /// office's weekly list (one episode a school week).
    TooFewContacts {
        #[serde(default = "two")]
        contacts: u32,
    },
    /// A new entry to the admission register (DOMAIN.md: "New pupils must be reported to the LA
    /// within 5 days of entry"): admitted after the first school week of this school year, on
    /// or before today, and no more than `look_back_school_days` school days ago (an older
    /// admission first seen now, as when a school starts with rollcall, is taken as already
    /// reported). The year's intake (admitted in its first school week, staggered starts
    /// included) is the roll at the start of the year, not new entries. One episode per
    /// admission.
    Admitted {
        #[serde(default = "twenty")]
        look_back_school_days: u32,
    },
    /// A deletion from the roll: the register records a leaving date that has come (the notice
    /// is due on it, or at the import that first shows it, if later; DOMAIN.md: "before the
    /// name is removed"), no more than `look_back_school_days` school days ago; or, for a pupil
    /// with no leaving date, the first full MIS export that no longer lists them (`rollcall
    /// import pupils FILE --full`, `pupils-full*.csv` in the inbox; never a partial export),
    /// due at that import. Evaluated for pupils who have left too: only stages with this
    /// trigger are. One episode per leaving date (or per full export that first left the
    /// pupil out). A stage with this trigger that writes to the LA needs a person's approval.
    Leaving {
        #[serde(default = "twenty")]
        look_back_school_days: u32,
    },
    /// Last school year's attendance below `percent` (Russell Street L208: "attendance in the
    /// previous year was below national"), read from the register's earlier year when it is
    /// loaded: the sessions of that year inside the pupil's enrolment, once they hold
    /// `min_sessions` possible sessions. No earlier year in the register (a pupil new to the
    /// school, a school that imported only this year) and the trigger does not fire: absent
    /// data is never taken as low attendance. One episode per school year.
    PreviousYearBelow {
        percent: f64,
        #[serde(default = "min_sessions")]
        min_sessions: u32,
    },
    /// Illness that stays unevidenced (the summary of responsibilities; Inspire L213): at
    /// least `sessions` `I` sessions in the window with no medical evidence recorded for
    /// their date (`rollcall evidence add`), counting only sessions at least `school_days`
    /// school days old, so the family has had that long to bring it. One episode per
    /// session that made the count (a later one, after evidence for the first, is another).
    UnevidencedIllness {
        sessions: u32,
        school_days: u32,
        #[serde(default)]
        window: Window,
    },
    /// Cohort flags, as a guard inside `all`.
    Cohort(CohortFlags),
    All(Vec<Trigger>),
    Any(Vec<Trigger>),
    Not(Box<Trigger>),
}

impl Trigger {
    /// The vocabulary word, for `evaluate` output.
    pub fn word(&self) -> &'static str {
        match self {
            Trigger::FirstDay { .. } => "first_day",
            Trigger::ConsecutiveAbsentDays { .. } => "consecutive_absent_days",
            Trigger::AbsentDaysInTerm { .. } => "absent_days_in_term",
            Trigger::AbsentSessions { .. } => "absent_sessions",
            Trigger::AttendanceBelow { .. } => "attendance_below",
            Trigger::AttendanceAtLeast { .. } => "attendance_at_least",
            Trigger::PenaltyThreshold { .. } => "penalty_threshold",
            Trigger::Illness { .. } => "illness",
            Trigger::Lateness { .. } => "lateness",
            Trigger::UnresolvedN { .. } => "unresolved_n",
            Trigger::PersistentAbsence { .. } => "persistent_absence",
            Trigger::SevereAbsence { .. } => "severe_absence",
            Trigger::NoImprovement { .. } => "no_improvement",
            Trigger::Improved { .. } => "improved",
            Trigger::Held { .. } => "held",
            Trigger::MissingEducation { .. } => "missing_education",
            Trigger::PartTimeTimetable {} => "part_time_timetable",
            Trigger::PartTimeReview { .. } => "part_time_review",
            Trigger::CodedSessions { .. } => "coded_sessions",
            Trigger::WeekdayPattern { .. } => "weekday_pattern",
            Trigger::TooFewContacts { .. } => "too_few_contacts",
            Trigger::Admitted { .. } => "admitted",
            Trigger::Leaving { .. } => "leaving",
            Trigger::PreviousYearBelow { .. } => "previous_year_below",
            Trigger::UnevidencedIllness { .. } => "unevidenced_illness",
            Trigger::Cohort(_) => "cohort",
            Trigger::All(list) | Trigger::Any(list) => list
                .iter()
                .map(Trigger::word)
                .find(|w| *w != "cohort")
                .unwrap_or("cohort"),
            Trigger::Not(_) => "not",
        }
    }

    fn visit<'a>(&'a self, out: &mut Vec<&'a Trigger>) {
        out.push(self);
        match self {
            Trigger::All(list) | Trigger::Any(list) => list.iter().for_each(|t| t.visit(out)),
            Trigger::Not(t) | Trigger::Held { trigger: t, .. } => t.visit(out),
            _ => {}
        }
    }

    /// This trigger and every trigger inside it.
    pub fn flatten(&self) -> Vec<&Trigger> {
        let mut out = Vec::new();
        self.visit(&mut out);
        out
    }
}

fn am() -> SessionName {
    SessionName::Am
}
fn min_sessions() -> u32 {
    20
}
fn status_min_sessions() -> u32 {
    40
}
fn ten() -> u32 {
    10
}
fn twenty() -> u32 {
    20
}
fn six() -> u32 {
    6
}
fn two() -> u32 {
    2
}
fn six_weeks() -> Window {
    Window::Weeks(6)
}
fn unauthorised_codes() -> Vec<String> {
    ["G", "N", "O", "U"].map(String::from).to_vec()
}
fn late_codes() -> Vec<String> {
    ["L", "U"].map(String::from).to_vec()
}

/// Which absence an attendance measure holds against the pupil.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Counting {
    /// Every absence, authorised or not (the DfE's attendance figure).
    #[default]
    All,
    /// Only unauthorised absence (G, N, O, U) is held against the pupil: the measure is
    /// 100 × (possible − unauthorised) ÷ possible, so illness and other authorised absence
    /// never lower it. What enforcement stages must use.
    Unauthorised,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum SessionName {
    #[serde(rename = "AM")]
    Am,
    #[serde(rename = "PM")]
    Pm,
}

/// Cohort flags; each given flag must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CohortFlags {
    pub concern: Option<bool>,
    pub social_worker: Option<bool>,
    pub lac: Option<bool>,
    pub young_carer: Option<bool>,
    pub fsm: Option<bool>,
    /// Any of these SEN codes (`N`, `K`, `E`).
    pub sen: Option<Vec<String>>,
    /// Inside their integration period (James Marks Academy's new pupils).
    pub integration_period: Option<bool>,
}

/// The period a measure covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Window {
    /// From the start of the academic year (or admission) to now.
    #[default]
    YearToDate,
    /// The current term.
    Term,
    /// The last n school weeks (this week being the newest if it is a school week).
    Weeks(u32),
    /// Since the pupil's current case opened.
    Case,
    /// Since the pupil entered their current stage.
    Stage,
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Window, D::Error> {
        let text = String::deserialize(d)?;
        parse_window(&text).map_err(serde::de::Error::custom)
    }
}

fn parse_window(text: &str) -> Result<Window, String> {
    match text.trim() {
        "year" | "year_to_date" => Ok(Window::YearToDate),
        "term" => Ok(Window::Term),
        "case" => Ok(Window::Case),
        "stage" => Ok(Window::Stage),
        other => {
            let weeks = other
                .strip_suffix("weeks")
                .or_else(|| other.strip_suffix("week"))
                .map(str::trim)
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n > 0);
            weeks.map(Window::Weeks).ok_or_else(|| {
                format!(
                    "\"{other}\" is not a window; allowed: \"year\", \"term\", \"case\", \"stage\" or \"N weeks\" (e.g. \"4 weeks\")"
                )
            })
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub channel: Channel,
    pub to: Recipient,
    pub template: String,
    /// For tasks: what the staff member is asked to do.
    #[serde(default)]
    pub task: Option<TaskKind>,
    /// Only for pupils matching these flags (e.g. tell the social worker).
    #[serde(default)]
    pub when: Option<CohortFlags>,
    /// Who signs this message, when it is not the stage's signatory (see [`Stage::signatory`]).
    #[serde(default)]
    pub signatory: Option<Recipient>,
    /// What the person approving is asked to write, which the message then quotes as `note`
    /// (Russell Street's follow-up email: "the strategies agreed at the meeting"). `rollcall
    /// approve` refuses such a message without `--note`.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Letter,
    Task,
    LaReturn,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Letter => "letter",
            Channel::Task => "task",
            Channel::LaReturn => "la_return",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    /// The first contact by priority who can be reached on the channel, then the next.
    Contacts,
    /// Every contact with parental responsibility.
    ParentalResponsibility,
    /// Every contact (including emergency contacts).
    AllContacts,
    Dsl,
    AttendanceOfficer,
    HeadOfYear,
    ClassTeacher,
    DeputyHead,
    Headteacher,
    SocialWorker,
    KeyWorker,
    /// The local authority's attendance team.
    La,
}

impl Recipient {
    pub fn as_str(self) -> &'static str {
        match self {
            Recipient::Contacts => "contacts",
            Recipient::ParentalResponsibility => "parental_responsibility",
            Recipient::AllContacts => "all_contacts",
            Recipient::Dsl => "dsl",
            Recipient::AttendanceOfficer => "attendance_officer",
            Recipient::HeadOfYear => "head_of_year",
            Recipient::ClassTeacher => "class_teacher",
            Recipient::DeputyHead => "deputy_head",
            Recipient::Headteacher => "headteacher",
            Recipient::SocialWorker => "social_worker",
            Recipient::KeyWorker => "key_worker",
            Recipient::La => "la",
        }
    }
    pub fn is_family(self) -> bool {
        matches!(
            self,
            Recipient::Contacts | Recipient::ParentalResponsibility | Recipient::AllContacts
        )
    }

    /// Whether someone in this role can sign the school's letters: school staff, not families,
    /// the LA or another agency's worker.
    pub fn can_sign(self) -> bool {
        matches!(
            self,
            Recipient::Dsl
                | Recipient::AttendanceOfficer
                | Recipient::HeadOfYear
                | Recipient::ClassTeacher
                | Recipient::DeputyHead
                | Recipient::Headteacher
        )
    }

    /// The role's title as printed under a signature when the school gives none.
    pub fn title(self) -> &'static str {
        match self {
            Recipient::Dsl => "Designated Safeguarding Lead",
            Recipient::AttendanceOfficer => "Attendance Officer",
            Recipient::HeadOfYear => "Head of Year",
            Recipient::ClassTeacher => "Class Teacher",
            Recipient::DeputyHead => "Deputy Headteacher",
            Recipient::Headteacher => "Headteacher",
            Recipient::SocialWorker => "Social Worker",
            Recipient::KeyWorker => "Key Worker",
            Recipient::La => "Local Authority",
            Recipient::Contacts | Recipient::ParentalResponsibility | Recipient::AllContacts => {
                "Parent or carer"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Call,
    Meeting,
    HomeVisit,
    PenaltyNoticeReview,
    AttendanceContract,
    Review,
    /// Reasonable enquiries into a child's whereabouts (children missing education): every
    /// contact, the social worker, the LA's CME officer; who was tried, how and when.
    Enquiry,
}

/// Where a `policy = "…"` line points: a bare name is `config/policies/NAME.toml` (next to the
/// config file's folder when there is one), anything with a `/` is a path.
pub fn policy_path(name: &str, config_file: Option<&Path>) -> PathBuf {
    if name.contains('/') {
        let path = PathBuf::from(name);
        match config_file.and_then(Path::parent) {
            Some(dir) if path.is_relative() && !dir.as_os_str().is_empty() => dir.join(path),
            _ => path,
        }
    } else {
        let base = config_file
            .and_then(Path::parent)
            .map(|dir| dir.join("policies"))
            .filter(|d| d.is_dir())
            .unwrap_or_else(|| PathBuf::from("config/policies"));
        base.join(format!("{name}.toml"))
    }
}

/// Reads and checks a policy file.
pub fn load(path: &Path) -> Result<Policy, Vec<PolicyError>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![PolicyError {
            file: file.clone(),
            stage: String::new(),
            key: String::new(),
            message: format!("cannot read the policy: {e}"),
        }]
    })?;
    parse(&text, &file).map(|mut p| {
        p.source = path.to_owned();
        p
    })
}

/// Parses and checks policy text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Policy, Vec<PolicyError>> {
    let policy: Policy = toml::from_str(text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
        vec![PolicyError {
            file: format!("{file}:{line}:{col}"),
            stage: stage_at(text, e.span().map_or(0, |s| s.start)),
            key: String::new(),
            message: e.message().trim().to_owned(),
        }]
    })?;
    let errors = check(&policy, file);
    if errors.is_empty() {
        Ok(policy)
    } else {
        Err(errors)
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |n| before.len() - n - 1)
        + 1;
    (line, col)
}

/// The id of the `[[stage]]` table an offset falls in, for syntax errors.
fn stage_at(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let Some(start) = before.rfind("[[stage]]") else {
        return String::new();
    };
    text[start..]
        .lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix("id")
                .map(str::trim_start)
                .and_then(|r| r.strip_prefix('='))
                .map(|r| r.trim().trim_matches('"').to_owned())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
name = "small"
title = "A small ladder"

[[stage]]
id = "first_day"
title = "First day"
trigger = { first_day = {} }
rearm = "daily"
case = "none"
actions = [{ channel = "sms", to = "contacts", template = "first_day" }]

[[stage]]
id = "day_three"
title = "Third day"
trigger = { consecutive_absent_days = { days = 3 } }
actions = [{ channel = "letter", to = "parental_responsibility", template = "day_three" }]

[[stage]]
id = "review"
title = "Review"
requires = "day_three"
trigger = { all = [{ penalty_threshold = {} }, { cohort = { social_worker = false } }] }
approval = "required"
actions = [{ channel = "task", to = "attendance_officer", task = "penalty_notice_review", template = "pn" }]
"#;

    #[test]
    fn a_small_ladder_parses() {
        let p = parse(SMALL, "small.toml").expect("valid");
        assert_eq!(p.stages.len(), 3);
        assert_eq!(p.stages[2].trigger.word(), "penalty_threshold");
        assert_eq!(
            p.stages[2].trigger.flatten()[1],
            &Trigger::PenaltyThreshold {
                sessions: 10,
                weeks: 10,
                codes: unauthorised_codes(),
                rest_school_weeks: 0,
            }
        );
    }

    #[test]
    fn a_reply_answers_contact_about_an_absence_never_a_legal_step() {
        let text = SMALL
            .replace(
                "id = \"first_day\"\n",
                "id = \"first_day\"\nanswered_by_reply = true\n",
            )
            .replace(
                "id = \"review\"\n",
                "id = \"review\"\nanswered_by_reply = true\n",
            );
        let errors = parse(&text, "small.toml").expect_err("a review answered by a reply");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            (errors[0].stage.as_str(), errors[0].key.as_str()),
            ("review", "answered_by_reply")
        );
    }

    #[test]
    fn judgement_needs_approval() {
        let text = SMALL.replace("approval = \"required\"\n", "");
        let errors = parse(&text, "small.toml").expect_err("no approval");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].stage, "review");
        assert_eq!(errors[0].key, "approval");
    }

    #[test]
    fn unknown_trigger_words_name_the_line_and_the_vocabulary() {
        let text = SMALL.replace("consecutive_absent_days", "consecutive_days");
        let errors = parse(&text, "small.toml").expect_err("bad word");
        let e = &errors[0];
        assert!(e.file.starts_with("small.toml:16:"), "{e}");
        assert_eq!(e.stage, "day_three");
        assert!(
            e.message.contains("consecutive_absent_days"),
            "lists what is allowed: {e}"
        );
    }

    #[test]
    fn references_and_codes_are_checked() {
        let text = SMALL
            .replace("requires = \"day_three\"", "requires = \"day_two\"")
            .replace(
                "penalty_threshold = {}",
                "penalty_threshold = { codes = [\"G\", \"I\"] }",
            );
        let errors = parse(&text, "small.toml").expect_err("bad refs");
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["requires", "trigger.codes"], "{errors:?}");
        assert!(
            errors[1].message.contains("authorised absence"),
            "{}",
            errors[1]
        );
    }

    #[test]
    fn absent_sessions_and_at_or_below_parse_and_are_checked() {
        let text = SMALL.replace(
            "trigger = { consecutive_absent_days = { days = 3 } }",
            "trigger = { any = [{ absent_sessions = { sessions = 21, window = \"term\" } }, \
             { attendance_below = { percent = 96.0, inclusive = true } }] }",
        );
        let p = parse(&text, "small.toml").expect("valid");
        let triggers = p.stages[1].trigger.flatten();
        assert_eq!(
            triggers[1],
            &Trigger::AbsentSessions {
                sessions: 21,
                window: Window::Term
            }
        );
        assert!(matches!(
            triggers[2],
            Trigger::AttendanceBelow {
                inclusive: true,
                ..
            }
        ));
        assert_eq!(p.stages[1].trigger.word(), "absent_sessions");
        let errors =
            parse(&text.replace("sessions = 21", "sessions = 0"), "small.toml").expect_err("0");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "trigger.sessions");
    }

    #[test]
    fn a_note_needs_an_approver_and_a_signatory_a_staff_role() {
        let text = SMALL.replace(
            "template = \"day_three\" }",
            "template = \"day_three\", note = \"what was agreed\", signatory = \"headteacher\" }",
        );
        let errors = parse(&text, "small.toml").expect_err("no approval for the note");
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["actions[0].note"], "{errors:?}");
        let text = text.replace(
            "template = \"pn\" }",
            "template = \"pn\", signatory = \"contacts\" }",
        );
        let errors = parse(&text, "small.toml").expect_err("two problems");
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["actions[0].note", "actions[0].signatory"],
            "{errors:?}"
        );
        assert!(errors[1].message.contains("cannot sign"), "{}", errors[1]);
    }

    #[test]
    fn missing_education_part_time_and_coded_sessions_parse_with_their_defaults() {
        let text = SMALL.replace(
            "trigger = { consecutive_absent_days = { days = 3 } }",
            "trigger = { any = [{ missing_education = {} }, { part_time_timetable = {} }, \
             { part_time_review = {} }, { coded_sessions = { codes = [\"R\"], sessions = 7 } }] }",
        );
        let p = parse(&text, "small.toml").expect("valid");
        let t = p.stages[1].trigger.flatten();
        assert_eq!(t[1], &Trigger::MissingEducation { school_days: 20 });
        assert_eq!(t[2], &Trigger::PartTimeTimetable {});
        assert_eq!(t[3], &Trigger::PartTimeReview { school_weeks: 6 });
        assert_eq!(
            t[4],
            &Trigger::CodedSessions {
                codes: vec!["R".into()],
                sessions: 7,
                window: Window::YearToDate
            }
        );
        let bad = text
            .replace(
                "missing_education = {}",
                "missing_education = { school_days = 0 }",
            )
            .replace(
                "part_time_review = {}",
                "part_time_review = { school_weeks = 0 }",
            )
            .replace("codes = [\"R\"]", "codes = [\"R9\"]");
        let errors = parse(&bad, "small.toml").expect_err("zeros and a bad code");
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "trigger.school_days",
                "trigger.school_weeks",
                "trigger.codes"
            ],
            "{errors:?}"
        );
    }

    #[test]
    fn a_missing_education_notice_to_the_la_needs_approval_but_the_enquiry_task_does_not() {
        let text = SMALL.replace(
            "trigger = { consecutive_absent_days = { days = 3 } }\nactions = [{ channel = \"letter\", to = \"parental_responsibility\", template = \"day_three\" }]",
            "trigger = { missing_education = { school_days = 15 } }\nactions = [{ channel = \"task\", to = \"attendance_officer\", task = \"enquiry\", template = \"cme_enquiries\" }]",
        );
        assert!(text.contains("enquiry"), "the replacement took");
        parse(&text, "small.toml").expect("an enquiry task needs no approval");
        let notice = text.replace(
            "{ channel = \"task\", to = \"attendance_officer\", task = \"enquiry\", template = \"cme_enquiries\" }",
            "{ channel = \"email\", to = \"la\", template = \"la_cme_notice\" }",
        );
        let errors = parse(&notice, "small.toml").expect_err("no approval");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            (errors[0].stage.as_str(), errors[0].key.as_str()),
            ("day_three", "approval")
        );
        assert!(
            errors[0].message.contains("children-missing-education"),
            "{}",
            errors[0]
        );
        let deletion = notice.replace("missing_education = { school_days = 15 }", "leaving = {}");
        let errors = parse(&deletion, "small.toml").expect_err("no approval");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].message.contains("deletion notice"),
            "{}",
            errors[0]
        );
        let approved = notice.replace(
            "trigger = { missing_education = { school_days = 15 } }",
            "trigger = { missing_education = { school_days = 15 } }\napproval = \"required\"",
        );
        parse(&approved, "small.toml").expect("approved");
    }

    #[test]
    fn weekday_patterns_and_contacts_parse_and_a_pattern_needs_room() {
        let text = SMALL.replace(
            "trigger = { consecutive_absent_days = { days = 3 } }",
            "trigger = { any = [{ weekday_pattern = { weeks = 3 } }, { too_few_contacts = {} }] }",
        );
        let p = parse(&text, "small.toml").expect("valid");
        let t = p.stages[1].trigger.flatten();
        assert_eq!(
            t[1],
            &Trigger::WeekdayPattern {
                weeks: 3,
                window: Window::Weeks(6)
            }
        );
        assert_eq!(t[2], &Trigger::TooFewContacts { contacts: 2 });
        let bad = text
            .replace("weeks = 3 }", "weeks = 5, window = \"4 weeks\" }")
            .replace(
                "too_few_contacts = {}",
                "too_few_contacts = { contacts = 0 }",
            );
        let errors = parse(&bad, "small.toml").expect_err("no room, no contacts");
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["trigger.window", "trigger.contacts"], "{errors:?}");
        let one = text.replace("weeks = 3 }", "weeks = 1 }");
        let errors = parse(&one, "small.toml").expect_err("one is no pattern");
        assert_eq!(errors[0].key, "trigger.weeks");
    }

    #[test]
    fn windows_read_as_words() {
        assert_eq!(parse_window("term"), Ok(Window::Term));
        assert_eq!(parse_window("4 weeks"), Ok(Window::Weeks(4)));
        assert!(parse_window("fortnight").is_err());
    }
}
