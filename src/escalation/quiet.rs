//! Quiet pupils: how long a pupil for whom a run decided nothing stays that way, so the next
//! runs can leave them out (issue 17's incremental pass). Pure, like the rest of the engine.
//!
//! The promise a [`Certificate`] makes is narrow on purpose: *if nothing about the pupil
//! changes except that the register gains plain present marks (`/` and `\`), `Z` (not yet on
//! roll) or an attended mark the policy reads as present ([`KeptMarks`]: late, an educational
//! visit, … when no trigger names it), and every register that has closed by then has its mark,
//! then no run before `until` decides anything for this pupil.* Anything else (an absence, a
//! recode, a new contact, a case moving, a
//! reply confirmed, a record) forgets the certificate in the database, and the pupil is
//! evaluated again. Each trigger answers for itself in [`silent_until`]: triggers that count
//! absence can only be woken by an absence mark; triggers that age (an `N` waiting five school
//! days, a monitoring period, a review due) are asked again at every run.

use chrono::NaiveDate;

use crate::escalation::policy::{Policy, Rearm, Stage, Trigger, Window};
use crate::escalation::stage::Context;
use crate::escalation::trigger::{PupilEnv, fires};
use crate::register::facts::{PupilRegister, counts_between};
use crate::register::mark::{CODES, MarkCode};
use crate::register::session::{Session, academic_year, academic_year_start, slot};

/// What a run found out about a pupil it decided nothing for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certificate {
    /// The first day a run must look at the pupil again (a later run the same day, before it,
    /// may leave them out).
    pub until: NaiveDate,
    /// The academic year of the register the certificate read.
    pub year: i32,
    /// The register's sessions counted as accounted for: every school session of the year up
    /// to the last closed one (sessions before admission included), plus marks already
    /// recorded after it and the year's sessions after it that the pupil is off roll for.
    /// The register writer adds each plain present mark it records after
    /// `last_slot`; a run may leave the pupil out only while this reaches the number of the
    /// year's closed sessions, so a register left untaken never hides behind a certificate.
    pub credit: i64,
    /// The last slot of the year counted in `credit`.
    pub last_slot: i64,
}

/// The marks that keep a certificate (`mark` as the register stores it, a [`MarkCode`] byte):
/// plain present, AM and PM, and `Z`, the sessions before a pupil joins the roll, which MIS
/// exports carry for every pupil admitted later. `Z` is not a possible session: it adds to no
/// count and moves no rate, so no trigger that a present mark leaves silent can fire for it
/// (`silent_until` asks again about a trigger that counts it by name).
pub fn keeps_certificate(mark: u8) -> bool {
    MarkCode::from_byte(mark).is_some_and(|c| matches!(c.as_str(), "/" | "\\" | "Z"))
}

/// The attended marks other than plain present (late `L`; the approved educational activities
/// `B`, `K`, `P`, `V`, `W`) that keep a certificate under a policy: those none of its triggers
/// names. Every trigger reads a mark by its category (attended, absent, possible), except the
/// codes it names (a penalty threshold's, lateness's, coded sessions') and the engine's own
/// (`N`, `I`, `C2`, none of them attended). So to every trigger of such a policy these marks
/// are plain present marks, and a pupil late this morning, or out on a school trip, stays
/// left out. (At 100,000 generated pupils, 2,902 of one morning's 6,504 marks other than plain
/// present were `L` or `V`, and each pupil with one was evaluated again.) A policy with a
/// lateness trigger (its codes are `L` and `U` unless it says otherwise) keeps no `L`.
///
/// One bit per mark byte. Each certificate row carries its policy's bits (`pupil_quiet.keeps`,
/// migration `quiet_kept_marks`), for the register writer, which knows no policy, to credit
/// those marks; a row without them (0) keeps only `/`, `\` and `Z`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeptMarks(u64);

// A bit per mark byte (`CODES`' index + 1) in a 64-bit integer column.
const _: () = assert!(CODES.len() < 63);

impl KeptMarks {
    pub fn of(policy: &Policy) -> KeptMarks {
        let named: Vec<&String> = policy
            .stages
            .iter()
            .flat_map(|stage| stage.trigger.flatten())
            .flat_map(named_codes)
            .collect();
        let mut bits = 0;
        for (i, info) in CODES.iter().enumerate() {
            let byte = u8::try_from(i + 1).unwrap_or(u8::MAX);
            if let Some(bit) = attended_bit(byte)
                && !named.iter().any(|code| *code == info.code)
            {
                bits |= bit;
            }
        }
        KeptMarks(bits)
    }

    /// Whether `mark` (a stored byte) keeps a certificate made under these marks.
    pub fn keeps(self, mark: u8) -> bool {
        keeps_certificate(mark) || attended_bit(mark).is_some_and(|bit| self.0 & bit != 0)
    }

    /// As stored in `pupil_quiet.keeps`.
    pub fn bits(self) -> i64 {
        i64::try_from(self.0).unwrap_or(0)
    }
}

/// The bit of an attended mark other than plain present, which a policy may read as present
/// ([`KeptMarks`]); `None` for every other mark.
pub fn attended_bit(mark: u8) -> Option<u64> {
    let code = MarkCode::from_byte(mark)?;
    let attended = code.category().is_some_and(|c| c.is_attended());
    (attended && !keeps_certificate(mark) && mark < 64).then(|| 1_u64 << mark)
}

/// The mark codes a trigger names, as the policy gives them (or their defaults). Every trigger
/// is listed, so that a new one must say whether it reads marks by code.
fn named_codes(trigger: &Trigger) -> &[String] {
    match trigger {
        Trigger::PenaltyThreshold { codes, .. }
        | Trigger::Lateness { codes, .. }
        | Trigger::CodedSessions { codes, .. } => codes,
        Trigger::FirstDay { .. }
        | Trigger::ConsecutiveAbsentDays { .. }
        | Trigger::AbsentDaysInTerm { .. }
        | Trigger::AbsentSessions { .. }
        | Trigger::AttendanceBelow { .. }
        | Trigger::AttendanceAtLeast { .. }
        | Trigger::Illness { .. }
        | Trigger::UnresolvedN { .. }
        | Trigger::PersistentAbsence { .. }
        | Trigger::SevereAbsence { .. }
        | Trigger::NoImprovement { .. }
        | Trigger::Improved { .. }
        | Trigger::Held { .. }
        | Trigger::MissingEducation { .. }
        | Trigger::PartTimeTimetable {}
        | Trigger::PartTimeReview { .. }
        | Trigger::WeekdayPattern { .. }
        | Trigger::TooFewContacts { .. }
        | Trigger::Admitted { .. }
        | Trigger::Leaving { .. }
        | Trigger::PreviousYearBelow { .. }
        | Trigger::UnevidencedIllness { .. }
        | Trigger::Cohort(_)
        | Trigger::All(_)
        | Trigger::Any(_)
        | Trigger::Not(_) => &[],
    }
}

/// The school sessions of `now`'s academic year whose register has closed (the close time and
/// the policy's grace, as the first-day trigger counts it): how many, and the last one's slot.
pub fn closed_sessions(ctx: &Context<'_>) -> (i64, i64) {
    let today = ctx.today();
    let year = academic_year(today);
    let calendar = ctx.calendar();
    let grace = chrono::TimeDelta::minutes(i64::from(ctx.policy.settings.grace_minutes));
    let mut count = 0_i64;
    let mut last = -1_i64;
    for &day in calendar.school_days_between(academic_year_start(year), today) {
        for (session, close) in [
            (Session::Am, ctx.school.am_register_close),
            (Session::Pm, ctx.school.pm_register_close),
        ] {
            if day == today && ctx.now < today.and_time(close) + grace {
                continue;
            }
            count += 1;
            last = slot(day, session).1 as i64;
        }
    }
    (count, last)
}

/// The certificate of a pupil for whom nothing can fire before `until` while the register
/// gains only plain present marks, if their register allows one (see [`register_credit`]).
pub(crate) fn certificate(
    ctx: &Context<'_>,
    register: &PupilRegister<'_>,
    sessions: &YearSessions,
    until: NaiveDate,
) -> Option<Certificate> {
    let today = ctx.today();
    let (credit, last_slot, other_ahead) = register_credit(register, sessions)?;
    let until = until.min(other_ahead);
    (until > today).then_some(Certificate {
        until,
        year: academic_year(today),
        credit,
        last_slot,
    })
}

/// The credit and last slot of a register whose closed sessions all have a mark, and the
/// first day with a mark already entered ahead that does not keep the certificate (a planned
/// absence, `NaiveDate::MAX` with none): the certificate ends that day, since its promise covers
/// only present marks and the triggers will count that one when its day comes. `None` when a
/// closed session (on roll) is still empty: such a pupil is not left out of any run.
///
/// No register is taken for a pupil before their admission or after their leaving day, so
/// those sessions are credited now, the ones still to close included: a pupil who has left,
/// or joins later, stays certified as the school's registers go on closing without them.
/// Only those before the pupil's next session on roll, though: sessions after a leaving day
/// still to come close after the ones before it, and credited now they would stand in for a
/// register left untaken before the pupil leaves (the pupil is evaluated once after leaving,
/// and certified then with the rest of the year).
pub(crate) fn register_credit(
    register: &PupilRegister<'_>,
    sessions: &YearSessions,
) -> Option<(i64, i64, NaiveDate)> {
    let (closed, last_closed) = sessions.closed;
    let mut credit = closed;
    let mut last_slot = last_closed;
    let mut other_ahead = NaiveDate::MAX;
    let mut on_roll_ahead = false;
    let marks = register
        .years
        .iter()
        .find(|(y, _)| *y == sessions.year)
        .map_or(&[][..], |(_, marks)| *marks);
    for &(at, day) in &sessions.slots {
        let mark = marks.get(at).copied().unwrap_or(0);
        let at = at as i64;
        let marked = mark != 0;
        let off_roll = day < register.admission || register.leaving.is_some_and(|l| day > l);
        if at <= last_closed {
            if !marked && !off_roll {
                return None;
            }
        } else if marked {
            credit += 1;
            last_slot = last_slot.max(at);
            if !sessions.kept.keeps(mark) {
                other_ahead = other_ahead.min(day);
            }
        } else if off_roll && !on_roll_ahead {
            credit += 1;
        }
        on_roll_ahead |= at > last_closed && !off_roll;
    }
    Some((credit, last_slot, other_ahead))
}

/// The school sessions of a run's academic year, worked out once per run: every pupil's
/// certificate reads its register at each of them (at 100,000 pupils, working out each
/// session's slot from its date for every pupil took a third of a full pass).
pub(crate) struct YearSessions {
    /// [`closed_sessions`].
    pub closed: (i64, i64),
    /// The marks that keep a certificate under the run's policy.
    pub kept: KeptMarks,
    year: i32,
    /// Each school session's slot in the year's register row, and its day, in order.
    slots: Vec<(usize, NaiveDate)>,
}

impl YearSessions {
    pub(crate) fn new(ctx: &Context<'_>) -> YearSessions {
        let today = ctx.today();
        let year = academic_year(today);
        let year_end = academic_year_start(year + 1).pred_opt().unwrap_or(today);
        let mut slots = Vec::new();
        for &day in ctx
            .calendar()
            .school_days_between(academic_year_start(year), year_end)
        {
            for session in [Session::Am, Session::Pm] {
                slots.push((slot(day, session).1, day));
            }
        }
        YearSessions {
            closed: closed_sessions(ctx),
            kept: KeptMarks::of(ctx.policy),
            year,
            slots,
        }
    }
}

/// The first day `trigger`, not firing now, could fire if the register gains only plain
/// present marks and nothing else changes; `None` when it could at the very next run
/// (`NaiveDate::MAX`: not while those inputs stand).
pub(crate) fn silent_until(env: &PupilEnv<'_>, trigger: &Trigger) -> Option<NaiveDate> {
    let today = env.ctx.today();
    let never = Some(NaiveDate::MAX);
    let tomorrow = today.succ_opt();
    let register = &env.input.register;
    // A mark that keeps a certificate never adds to these codes' count unless it is one of them
    // (an attended mark a trigger names is kept by no certificate: `KeptMarks`).
    let counts_kept = |codes: &[String]| codes.iter().any(|c| c == "/" || c == "\\" || c == "Z");
    let silent_without = |relaxed: Trigger| fires(env, &relaxed).is_empty();
    match trigger {
        // Each needs an absence (or no mark at all, which a certificate never allows) to grow;
        // their windows only drop sessions as they roll.
        Trigger::FirstDay { .. }
        | Trigger::ConsecutiveAbsentDays { .. }
        | Trigger::AbsentDaysInTerm { .. }
        | Trigger::AbsentSessions { .. }
        | Trigger::Illness { .. }
        | Trigger::MissingEducation { .. }
        | Trigger::WeekdayPattern { .. }
        | Trigger::PartTimeTimetable {}
        | Trigger::TooFewContacts { .. }
        | Trigger::Cohort(_)
        | Trigger::PreviousYearBelow { .. }
        | Trigger::Admitted { .. } => never,
        Trigger::Lateness { codes, .. } | Trigger::CodedSessions { codes, .. } => {
            if counts_kept(codes) { None } else { never }
        }
        // A later review may count what this one may not yet (`rest_school_weeks`): silent
        // for good only if the count is short without that wait too.
        Trigger::PenaltyThreshold {
            sessions,
            weeks,
            codes,
            ..
        } => silent_without(Trigger::PenaltyThreshold {
            sessions: *sessions,
            weeks: *weeks,
            codes: codes.clone(),
            rest_school_weeks: 0,
        })
        .then_some(NaiveDate::MAX),
        // Present marks only raise a rate; short of `min_sessions`, the rate may already be
        // below and fire once enough sessions are counted.
        Trigger::AttendanceBelow {
            percent,
            window,
            adjusted,
            inclusive,
            margin,
            counting,
            ..
        } => {
            let short = !silent_without(Trigger::AttendanceBelow {
                percent: *percent,
                window: *window,
                min_sessions: 0,
                adjusted: *adjusted,
                inclusive: *inclusive,
                margin: *margin,
                counting: *counting,
            });
            if short {
                None
            } else if *adjusted || matches!(window, Window::Weeks(_)) {
                // A rolling window drops old present sessions as the days go, and an
                // integration period ends on a date: both only within today.
                tomorrow
            } else {
                never
            }
        }
        Trigger::PersistentAbsence {
            out_for_school_days,
            ..
        } => silent_without(Trigger::PersistentAbsence {
            min_sessions: 0,
            out_for_school_days: *out_for_school_days,
        })
        .then_some(NaiveDate::MAX),
        Trigger::SevereAbsence {
            out_for_school_days,
            ..
        } => silent_without(Trigger::SevereAbsence {
            min_sessions: 0,
            out_for_school_days: *out_for_school_days,
        })
        .then_some(NaiveDate::MAX),
        // Ages: the oldest `N` in the register comes due so many school days after its own,
        // and the trigger names the oldest first.
        Trigger::UnresolvedN { school_days } => Some(first_n_due(env, *school_days)),
        Trigger::UnevidencedIllness { .. } => {
            let year_start = academic_year_start(academic_year(today));
            let n = counts_between(register, year_start, today).of(&["I".to_owned()]);
            (n == 0).then_some(NaiveDate::MAX)
        }
        Trigger::Leaving { .. } => match env.input.pupil.leaving_date {
            // The record of a full export that left the pupil out is an input of its own.
            None => never,
            Some(leaving) if leaving > today => Some(leaving),
            Some(_) => never,
        },
        // A review falls due as the weeks of a part-time timetable pass.
        Trigger::PartTimeReview { .. } => {
            silent_without(Trigger::PartTimeTimetable {}).then_some(NaiveDate::MAX)
        }
        // Only for a case at that stage, and the case is an input.
        Trigger::NoImprovement { stage, .. } | Trigger::Improved { stage, .. } => match env.case {
            Some(case) if &case.stage == stage => None,
            _ => never,
        },
        Trigger::Held { trigger, .. } => {
            if fires(env, trigger).is_empty() {
                silent_until(env, trigger)
            } else {
                None
            }
        }
        Trigger::AttendanceAtLeast { .. } => None,
        // Fires only when every part does: silent until the latest part could fire.
        Trigger::All(parts) => {
            let mut until = today;
            for part in parts {
                if fires(env, part).is_empty() {
                    until = until.max(silent_until(env, part).unwrap_or(today));
                }
            }
            (until > today).then_some(until)
        }
        Trigger::Any(parts) => {
            let mut until = NaiveDate::MAX;
            for part in parts {
                until = until.min(silent_until(env, part)?);
            }
            Some(until)
        }
        // Fires when the part stops firing: only inputs stop the pupil's cohort or contacts.
        Trigger::Not(part) => match part.as_ref() {
            Trigger::Cohort(_) | Trigger::TooFewContacts { .. } => never,
            _ => None,
        },
    }
}

/// The school day the oldest `N` of the pupil's year comes due (`NaiveDate::MAX` with none):
/// the trigger fires once `school_days` school days have followed the `N`'s own.
fn first_n_due(env: &PupilEnv<'_>, school_days: u32) -> NaiveDate {
    let Some(n) = MarkCode::parse_exact("N").map(MarkCode::byte) else {
        return NaiveDate::MAX;
    };
    let days = env.ctx.calendar().school_days();
    let from = days.partition_point(|d| *d < env.year_start);
    let next_year = academic_year_start(academic_year(env.ctx.today()) + 1);
    let register = &env.input.register;
    days[from..]
        .iter()
        .take_while(|d| **d < next_year)
        .position(|&d| {
            [Session::Am, Session::Pm]
                .iter()
                .any(|&s| register.mark(d, s) == Some(n))
        })
        .and_then(|i| days.get(from + i + school_days as usize).copied())
        .unwrap_or(NaiveDate::MAX)
}

/// Whether the stage's episodes are dated by the day its trigger began to hold, which the
/// engine must then remember between runs: only for `rearm = "episode"` stages whose trigger
/// does not name its own episode (an absence run's first day, the school year, an `N`'s
/// session, ...). Compound triggers are assumed to need it.
pub(crate) fn anchored_by_memory(stage: &Stage) -> bool {
    stage.rearm == Rearm::Episode && !names_its_episode(&stage.trigger)
}

/// Triggers that name the episode of everything they fire for.
fn names_its_episode(trigger: &Trigger) -> bool {
    matches!(
        trigger,
        Trigger::FirstDay { .. }
            | Trigger::ConsecutiveAbsentDays { .. }
            | Trigger::AbsentDaysInTerm { .. }
            | Trigger::PenaltyThreshold { .. }
            | Trigger::Illness { .. }
            | Trigger::MissingEducation { .. }
            | Trigger::UnresolvedN { .. }
            | Trigger::PersistentAbsence { .. }
            | Trigger::SevereAbsence { .. }
            | Trigger::Leaving { .. }
            | Trigger::Admitted { .. }
            | Trigger::PartTimeTimetable {}
    )
}

/// For a stage that fires now only for episodes earlier runs recorded: the first day it could
/// fire for an episode not yet recorded, if the register gains only plain present marks and
/// nothing else changes (`None`: at the very next run). Present marks end absence runs and
/// never start one, add no illness, no `N` and no `C2`, move no admission date, and leave the
/// school year's persistent-absence episode where it is; a stage re-armed daily names a new
/// episode each day.
pub(crate) fn keeps_recorded_until(env: &PupilEnv<'_>, stage: &Stage) -> Option<NaiveDate> {
    let never = Some(NaiveDate::MAX);
    let tomorrow = env.ctx.today().succ_opt();
    match stage.rearm {
        Rearm::Yearly => never,
        // "case-<opened>": without a case yet, the episode is today's.
        Rearm::Once => {
            if env.case.is_some() {
                never
            } else {
                tomorrow
            }
        }
        Rearm::Daily => match stage.trigger {
            Trigger::FirstDay { .. } => never,
            _ => tomorrow,
        },
        Rearm::Episode => {
            // A trigger that names its episode finds only the recorded ones again, except a
            // penalty-notice review (a later review may count what this one may not yet) and
            // persistent or severe absence with `out_for_school_days` (present marks take the
            // pupil out of it, and enough of them start a new episode).
            let asked_again = matches!(
                stage.trigger,
                Trigger::PenaltyThreshold { .. }
                    | Trigger::PersistentAbsence {
                        out_for_school_days: Some(_),
                        ..
                    }
                    | Trigger::SevereAbsence {
                        out_for_school_days: Some(_),
                        ..
                    }
            );
            (names_its_episode(&stage.trigger) && !asked_again).then_some(NaiveDate::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_present_and_not_yet_on_roll_keep_a_certificate() {
        let byte = |code: &str| MarkCode::parse_exact(code).map(MarkCode::byte);
        for code in ["/", "\\", "Z"] {
            assert_eq!(byte(code).map(keeps_certificate), Some(true), "{code}");
        }
        for code in ["L", "N", "I", "O", "U", "B", "#", "C2", "X", "D", "Y1"] {
            assert_eq!(byte(code).map(keeps_certificate), Some(false), "{code}");
        }
        assert!(!keeps_certificate(0), "no mark");
    }

    /// A pupil late this morning, or out on a trip, stays left out under a policy none of whose
    /// triggers counts that mark; under one with a lateness trigger a late mark brings them back.
    #[test]
    fn a_policy_keeps_the_attended_marks_none_of_its_triggers_names() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/policies");
        let load = |name: &str| {
            crate::escalation::policy::load(&dir.join(format!("{name}.toml")))
                .unwrap_or_else(|e| panic!("{name}: {e:?}"))
        };
        let codes = [
            "/", "\\", "Z", "L", "B", "K", "P", "V", "W", "N", "I", "U", "C2", "D",
        ];
        let kept = |policy: &Policy| {
            let marks = KeptMarks::of(policy);
            codes
                .into_iter()
                .filter(|c| MarkCode::parse_exact(c).is_some_and(|m| marks.keeps(m.byte())))
                .collect::<Vec<_>>()
        };
        let everything_attended = ["/", "\\", "Z", "L", "B", "K", "P", "V", "W"];
        let but_late = ["/", "\\", "Z", "B", "K", "P", "V", "W"];
        assert_eq!(kept(&load("dfe-baseline")), everything_attended);
        assert_eq!(kept(&load("russell-street-school")), everything_attended);
        assert_eq!(kept(&load("inspire-trust")), everything_attended);
        // `lateness` counts L and U unless it names its codes.
        assert_eq!(kept(&load("isp-whitstable")), but_late);
        assert_eq!(kept(&load("james-marks-academy")), but_late);

        // A code named deep inside a compound trigger counts too.
        let mut policy = load("dfe-baseline");
        policy.stages[0].trigger = Trigger::Any(vec![Trigger::Held {
            school_days: 3,
            trigger: Box::new(Trigger::CodedSessions {
                codes: vec!["V".to_owned(), "I".to_owned()],
                sessions: 4,
                window: Window::default(),
            }),
        }]);
        assert_eq!(kept(&policy), ["/", "\\", "Z", "L", "B", "K", "P", "W"]);
        assert_eq!(
            KeptMarks::default().bits(),
            0,
            "a row made before keeps only / \\ Z"
        );
    }
}
