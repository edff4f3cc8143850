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

mod data;
mod matching;
mod output;
mod regular;
#[cfg(test)]
mod tests;

use chrono::NaiveDate;

use crate::escalation::policy::{Channel, Stage, Trigger};
use data::year_total_anchor;

pub use data::SchoolData;
pub use matching::{Unmatched, attachments_for_message};
pub use output::{Returns, count_text, csv_of};
pub use regular::{
    Period, REGULAR_KIND, period_of, queue_due_regular_returns, regular_lines, returns_as_of,
};

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
