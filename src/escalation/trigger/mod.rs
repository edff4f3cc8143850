//! Triggers: where each stage's trigger is evaluated against one pupil's register. Pure:
//! the same register, case and time always give the same answer.
//!
//! Most triggers fire for at most one episode at a time. The statutory returns fire once for
//! every episode of the school year the register shows (see [`fires`]), because a return is
//! due however late the register shows the episode.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

mod measure;
mod runs;
pub(crate) use measure::{explain, measured};
pub(crate) use runs::absent_all_day;
use runs::{absence_run_fires, acted_from, illness_fires, sessions_after};

use crate::escalation::case::CaseState;
use crate::escalation::policy::{CohortFlags, Counting, SessionName, Trigger, Window};
use crate::escalation::stage::{Context, PupilInput};
use crate::escalation::trigger_records;
use crate::register::facts::{
    Counts, FactsWindow, PupilFacts, PupilRegister, absence_runs, absent_days, counts_between,
    oldest_unresolved_n, pupil_facts, sickness_episodes, status_spell_start,
};
use crate::register::mark::{MarkCode, category_table};
use crate::register::session::{
    Calendar, Session, academic_year, academic_year_start, monday_of, slot,
};

/// One pupil, one stage, one moment: what a trigger is evaluated against.
pub(crate) struct PupilEnv<'a> {
    pub ctx: &'a Context<'a>,
    pub input: &'a PupilInput<'a>,
    pub window: &'a FactsWindow,
    pub facts: Option<&'a PupilFacts>,
    pub year_start: NaiveDate,
    /// The pupil's case as the stages evaluated so far in this run left it (or, when a
    /// waiting decision is re-checked, as that decision found it).
    pub case: Option<&'a CaseState>,
    /// When the stage's previous decision was made: a penalty-notice review counts only
    /// sessions no earlier review counted.
    pub counted_until: Option<NaiveDateTime>,
}

/// The first school day of the academic year containing `day` (or 1 August without one).
pub(crate) fn first_day_of_year(calendar: &Calendar, day: NaiveDate) -> NaiveDate {
    let start = academic_year_start(academic_year(day));
    calendar
        .school_days_between(start, day)
        .first()
        .copied()
        .unwrap_or(start)
}

/// Runs `f` with the pupil seen at another moment: the register as it stands now, read up to
/// `now` (facts recomputed), with `case` and `counted_until` as given.
pub(crate) fn as_of<R>(
    env: &PupilEnv<'_>,
    now: NaiveDateTime,
    case: Option<&CaseState>,
    counted_until: Option<NaiveDateTime>,
    f: impl FnOnce(&PupilEnv<'_>) -> R,
) -> R {
    let ctx = Context {
        policy: env.ctx.policy,
        school: env.ctx.school,
        now,
        previous_pass: env.ctx.previous_pass,
    };
    let calendar = &env.ctx.school.calendar;
    let year_start = first_day_of_year(calendar, now.date());
    let window = FactsWindow::new(calendar, year_start, now.date());
    // The register as it stood then: a session of that day whose register had not closed by
    // `now` is left out, so a pupil who came in that afternoon does not undo a decision made
    // in the morning (that is a new fact, not a change to the one the decision rested on).
    let day = now.date();
    let (year, _) = slot(day, Session::Am);
    let open: Vec<usize> = [
        (Session::Am, env.ctx.school.am_register_close),
        (Session::Pm, env.ctx.school.pm_register_close),
    ]
    .into_iter()
    .filter(|(_, close)| now.time() < *close)
    .map(|(session, _)| slot(day, session).1)
    .collect();
    let register = env.input.register;
    let masked: Option<Vec<u8>> = (!open.is_empty())
        .then(|| register.years.iter().find(|(y, _)| *y == year))
        .flatten()
        .map(|(_, marks)| {
            let mut marks = marks.to_vec();
            for at in &open {
                if let Some(mark) = marks.get_mut(*at) {
                    *mark = 0;
                }
            }
            marks
        });
    let years: Vec<(i32, &[u8])> = register
        .years
        .iter()
        .map(|&(y, marks)| match &masked {
            Some(m) if y == year => (y, m.as_slice()),
            _ => (y, marks),
        })
        .collect();
    let input = PupilInput {
        register: PupilRegister {
            years: &years,
            ..register
        },
        ..*env.input
    };
    let facts = pupil_facts(&window, &input.register);
    let inner = PupilEnv {
        ctx: &ctx,
        input: &input,
        window: &window,
        facts: facts.as_ref(),
        year_start,
        case,
        counted_until,
    };
    f(&inner)
}

/// Why a trigger fired, and the episode it belongs to when the facts name one.
#[derive(Debug, Clone)]
pub(crate) struct Fire {
    pub reason: String,
    pub episode: Option<String>,
    pub word: &'static str,
}

fn fire(word: &'static str, reason: String, episode: Option<String>) -> Option<Fire> {
    Some(Fire {
        reason,
        episode,
        word,
    })
}

/// Every episode `trigger` fires for now, oldest first. The statutory returns (`illness`, and
/// `consecutive_absent_days` with `include_ended`) fire for each episode of the school year;
/// every other trigger for at most one.
pub(crate) fn fires(env: &PupilEnv<'_>, trigger: &Trigger) -> Vec<Fire> {
    match trigger {
        Trigger::Illness {
            sessions,
            consecutive,
        } => illness_fires(env, *sessions, *consecutive),
        Trigger::ConsecutiveAbsentDays {
            days,
            unauthorised_only,
            include_ended: true,
        } => absence_run_fires(env, *days, *unauthorised_only),
        _ => trigger_fires(env, trigger).into_iter().collect(),
    }
}

/// Whether `trigger` fires now, and why (for a trigger with several episodes, the latest).
pub(crate) fn trigger_fires(env: &PupilEnv<'_>, trigger: &Trigger) -> Option<Fire> {
    let ctx = env.ctx;
    let today = ctx.today();
    let register = &env.input.register;
    let word = trigger.word();
    match trigger {
        Trigger::FirstDay { session, last_day } => {
            if !ctx.calendar().is_school_day(today) {
                return None;
            }
            let day_number = last_day.map(|last| trigger_records::absence_day_number(env, last));
            let (session, close) = match session {
                SessionName::Am => (Session::Am, ctx.school.am_register_close),
                SessionName::Pm => (Session::Pm, ctx.school.pm_register_close),
            };
            let due = today.and_time(close)
                + TimeDelta::minutes(i64::from(ctx.policy.settings.grace_minutes));
            if ctx.now < due {
                return None;
            }
            let byte = register.mark(today, session).unwrap_or(0);
            let mark = MarkCode::from_byte(byte).unwrap_or(MarkCode::NONE);
            if let (Some(n), Some(last)) = (day_number, last_day)
                && n > *last
            {
                return None;
            }
            if mark.is_none() || mark.as_str() == "N" {
                let what = if mark.is_none() {
                    "no mark"
                } else {
                    "N (no reason yet)"
                };
                let which =
                    day_number.map_or_else(String::new, |n| format!(", day {n} of the absence"));
                fire(
                    word,
                    format!(
                        "{what} for the {} session on {today} at {} (register closed {}){which}",
                        session.as_str(),
                        ctx.now.format("%H:%M"),
                        close.format("%H:%M")
                    ),
                    Some(today.to_string()),
                )
            } else {
                None
            }
        }
        Trigger::ConsecutiveAbsentDays {
            days,
            unauthorised_only,
            ..
        } => {
            let f = env.facts?;
            let (run, since) = if *unauthorised_only {
                (f.consecutive_unauthorised_days, f.unauthorised_run_since)
            } else {
                (f.consecutive_absent_days, f.absent_run_since)
            };
            if run < *days {
                return None;
            }
            let since = since?;
            let counts = counts_between(register, since, today);
            let kinds = if *unauthorised_only {
                "every session G/N/O/U"
            } else {
                "every session an absence"
            };
            fire(
                word,
                format!(
                    "{run} consecutive school days with {kinds} since {since} ({})",
                    counts.describe_absences()
                ),
                Some(since.to_string()),
            )
        }
        Trigger::AbsentDaysInTerm { days } => {
            let term = ctx.calendar().term_containing(today)?;
            let school_days = ctx.calendar().school_days_between(term.start, today);
            let absent = absent_days(register, school_days);
            (absent >= *days).then(|| Fire {
                reason: format!(
                    "{absent} days absent this term ({}), threshold {days}",
                    term.name
                ),
                episode: Some(term.name.clone()),
                word,
            })
        }
        Trigger::AbsentSessions { sessions, window } => {
            let from = window_start(env, *window)?;
            let counts = counts_between(register, from, today);
            let n = counts.absent();
            if n < *sessions {
                return None;
            }
            let episode = match window {
                Window::Term => ctx
                    .calendar()
                    .term_containing(today)
                    .map(|t| t.name.clone()),
                _ => None,
            };
            fire(
                word,
                format!(
                    "{n} sessions of absence ({}) {} since {}, threshold {sessions}",
                    counts.describe_absences(),
                    window_words(*window),
                    from.max(env.input.pupil.admission_date)
                ),
                episode,
            )
        }
        Trigger::AttendanceBelow {
            percent,
            window,
            min_sessions,
            adjusted,
            counting,
            ..
        }
        | Trigger::AttendanceAtLeast {
            percent,
            window,
            min_sessions,
            adjusted,
            counting,
        } => {
            let from = window_start(env, *window)?;
            let actual = counts_between(register, from, today);
            let (counts, counted_from) = if *adjusted {
                let integrated = integration_end(env)?;
                let from = from.max(integrated);
                (counts_between(register, from, today), from)
            } else {
                (actual, from)
            };
            let possible = counts.possible();
            if possible < *min_sessions {
                return None;
            }
            let pct = rate(&counts, *counting)?;
            let below = matches!(trigger, Trigger::AttendanceBelow { .. });
            let margin = match trigger {
                Trigger::AttendanceBelow { margin, .. } => *margin,
                _ => 0.0,
            };
            let line = percent + margin;
            let inclusive = matches!(
                trigger,
                Trigger::AttendanceBelow {
                    inclusive: true,
                    ..
                }
            );
            let (hit, words) = match (below, inclusive) {
                (true, false) => (pct < line, "below"),
                (true, true) => (pct <= line, "at or below"),
                (false, _) => (pct >= *percent, "at or above"),
            };
            let compared = if margin > 0.0 {
                format!(
                    "{line:.1}% (within {margin} points of {percent}%, the policy's \"close to\")"
                )
            } else {
                format!("{percent}%")
            };
            let measure = if *adjusted {
                format!(
                    "adjusted {} {pct:.1}% (actual {:.1}%; the integration period before {counted_from} left out{})",
                    measure_name(*counting),
                    rate(&actual, *counting).unwrap_or(0.0),
                    trigger_records::extension_words(env)
                )
            } else {
                format!("{} {pct:.1}%", measure_name(*counting))
            };
            hit.then(|| Fire {
                reason: format!(
                    "{measure} {words} {compared} {} ({} since {counted_from})",
                    window_words(*window),
                    tally_words(&counts, *counting)
                ),
                episode: None,
                word,
            })
        }
        Trigger::PenaltyThreshold {
            sessions,
            weeks,
            codes,
            rest_school_weeks,
        } => {
            if let Some(until) = env.counted_until
                && *rest_school_weeks > 0
            {
                // School weeks wholly after the one the last review was made in.
                let reviewed_week = monday_of(until.date());
                let mut since: Vec<NaiveDate> = until
                    .date()
                    .succ_opt()
                    .map(|next| ctx.calendar().school_days_between(next, today))
                    .unwrap_or_default()
                    .iter()
                    .map(|d| monday_of(*d))
                    .filter(|week| *week > reviewed_week)
                    .collect();
                since.dedup();
                if (since.len() as u32) < *rest_school_weeks {
                    return None;
                }
            }
            let from = ctx
                .calendar()
                .school_weeks_window_start(today, *weeks as usize)?;
            let counts = match env.counted_until {
                None => counts_between(register, from, today),
                Some(until) => sessions_after(env, until, from),
            };
            let n = counts.of(codes);
            let earlier = env.counted_until.map_or_else(String::new, |until| {
                format!(
                    ", none of them counted by the review of {}",
                    until.format("%Y-%m-%d %H:%M")
                )
            });
            // Each review is its own episode; the next one needs sessions this one did not
            // count (`counted_until`), so a rolling count dipping and recovering re-arms nothing.
            (n >= *sessions).then(|| Fire {
                reason: format!(
                    "{n} unauthorised sessions ({}) in the last {weeks} school weeks since {from}{earlier}; the threshold for considering a penalty notice is {sessions}",
                    counts.describe(codes)
                ),
                episode: Some(today.to_string()),
                word,
            })
        }
        Trigger::Illness {
            sessions,
            consecutive,
        } => illness_fires(env, *sessions, *consecutive).pop(),
        Trigger::Lateness {
            sessions,
            codes,
            window,
        } => {
            let from = window_start(env, *window)?;
            let counts = counts_between(register, from, today);
            let n = counts.of(codes);
            (n >= *sessions).then(|| Fire {
                reason: format!(
                    "{n} late sessions ({}) {}",
                    counts.describe(codes),
                    window_words(*window)
                ),
                episode: None,
                word,
            })
        }
        Trigger::MissingEducation { school_days } => {
            let f = env.facts?;
            let run = f.consecutive_unauthorised_days;
            if run < *school_days {
                return None;
            }
            let since = f.unauthorised_run_since?;
            let counts = counts_between(register, since, today);
            fire(
                word,
                format!(
                    "{run} school days in a row with every session G/N/O/U since {since} ({}): no reason from the family for {school_days} school days or more",
                    counts.describe(&unauthorised_list())
                ),
                Some(since.to_string()),
            )
        }
        Trigger::PartTimeTimetable {} => {
            let spell = part_time_spell(env)?;
            let counts = counts_between(register, spell.start, today);
            fire(
                word,
                format!(
                    "on a part-time timetable (C2) since {}: {} C2 sessions so far, the latest on {}",
                    spell.start,
                    counts.of(&["C2".to_owned()]),
                    spell.last
                ),
                Some(spell.start.to_string()),
            )
        }
        Trigger::PartTimeReview { school_weeks } => {
            let spell = part_time_spell(env)?;
            let review = spell.weeks_since / *school_weeks;
            if review == 0 {
                return None;
            }
            fire(
                word,
                format!(
                    "on a part-time timetable (C2) since {}, {} school weeks ago (the latest C2 on {}): review {review}, due every {school_weeks} school weeks while it goes on",
                    spell.start, spell.weeks_since, spell.last
                ),
                Some(format!("{}-review-{review}", spell.start)),
            )
        }
        Trigger::CodedSessions {
            codes,
            sessions,
            window,
        } => {
            let from = window_start(env, *window)?;
            let counts = counts_between(register, from, today);
            let n = counts.of(codes);
            if n < *sessions {
                return None;
            }
            let episode = match window {
                Window::YearToDate => Some(format!("year-{}", academic_year(today))),
                Window::Term => ctx
                    .calendar()
                    .term_containing(today)
                    .map(|t| t.name.clone()),
                _ => None,
            };
            fire(
                word,
                format!(
                    "{n} sessions coded {} ({}) {} since {}, threshold {sessions}",
                    codes.join("/"),
                    counts.describe(codes),
                    window_words(*window),
                    from.max(env.input.pupil.admission_date)
                ),
                episode,
            )
        }
        Trigger::WeekdayPattern { weeks, window } => {
            let from = window_start(env, *window)?.max(env.input.pupil.admission_date);
            let days = ctx.calendar().school_days_between(from, today);
            let table = category_table();
            let any = |day: NaiveDate, want: fn(crate::register::mark::Category) -> bool| {
                [Session::Am, Session::Pm].into_iter().any(|s| {
                    let byte = register.mark(day, s).unwrap_or(0);
                    table[usize::from(byte)].is_some_and(|c| c.is_possible() && want(c))
                })
            };
            // The school weeks in which the pupil attended some session: an absence counts
            // towards a pattern only in such a week (a fortnight off sick is a long absence,
            // not an absence on every weekday), or in this week, whose other days are still
            // to come (so a Monday off counts on the Monday).
            let attended_on: Vec<NaiveDate> = days
                .iter()
                .copied()
                .filter(|d| any(*d, |c| !c.is_absence()))
                .collect();
            // For each weekday (Monday = 0), the days in the window the pupil missed a session.
            let mut by_weekday: [Vec<NaiveDate>; 7] = Default::default();
            for day in days {
                let in_school_that_week = monday_of(*day) == monday_of(today)
                    || attended_on
                        .iter()
                        .any(|d| d != day && monday_of(*d) == monday_of(*day));
                if in_school_that_week && any(*day, |c| c.is_absence()) {
                    by_weekday[day.weekday().num_days_from_monday() as usize].push(*day);
                }
            }
            // The weekday with the most (distinct weeks: a school day is in one week).
            let (weekday, hits) = by_weekday
                .iter()
                .enumerate()
                .max_by_key(|(i, list)| (list.len(), std::cmp::Reverse(*i)))?;
            let n = u32::try_from(hits.len()).unwrap_or(u32::MAX);
            if n < *weeks {
                return None;
            }
            let name = WEEKDAYS.get(weekday).copied().unwrap_or("day");
            let dates: Vec<String> = hits.iter().map(ToString::to_string).collect();
            fire(
                word,
                format!(
                    "absent on {n} {name}s {} ({}), threshold {weeks}",
                    window_words(*window),
                    dates.join(", ")
                ),
                None,
            )
        }
        Trigger::TooFewContacts { contacts } => {
            let reachable = env
                .input
                .contacts
                .iter()
                .filter(|c| c.mobile.as_deref().is_some_and(|m| !m.trim().is_empty()))
                .count();
            let reachable = u32::try_from(reachable).unwrap_or(u32::MAX);
            if reachable >= *contacts {
                return None;
            }
            fire(
                word,
                format!(
                    "{reachable} contact{} with a phone number on file; the policy asks for {contacts}",
                    if reachable == 1 { "" } else { "s" }
                ),
                Some(format!("week-{}", monday_of(today))),
            )
        }
        Trigger::Admitted {
            look_back_school_days,
        } => {
            let admission = env.input.pupil.admission_date;
            // The year's intake (admitted in its first school week, staggered starts included)
            // is the roll at the start of the year, not a new entry.
            if admission > today || monday_of(admission) <= monday_of(env.year_start) {
                return None;
            }
            let since = ctx.calendar().school_days_between(admission, today);
            if since.len() > *look_back_school_days as usize {
                return None;
            }
            let due = ctx
                .calendar()
                .school_days_between(admission, today + TimeDelta::days(60))
                .get(4)
                .copied();
            fire(
                word,
                format!(
                    "admitted on {admission}: a new entry to the admission register; the LA must hear within 5 school days{}",
                    due.map_or_else(String::new, |d| format!(", by {d}"))
                ),
                Some(admission.to_string()),
            )
        }
        Trigger::PreviousYearBelow {
            percent,
            min_sessions,
        } => trigger_records::previous_year_below(env, word, *percent, *min_sessions),
        Trigger::UnevidencedIllness {
            sessions,
            school_days,
            window,
        } => trigger_records::unevidenced_illness(env, word, *sessions, *school_days, *window),
        Trigger::Leaving {
            look_back_school_days,
        } => {
            let Some(leaving) = env.input.pupil.leaving_date else {
                return trigger_records::missing_from_export(env, word, *look_back_school_days);
            };
            if leaving > today {
                return None;
            }
            let after = leaving
                .succ_opt()
                .map(|next| ctx.calendar().school_days_between(next, today).len())
                .unwrap_or(0);
            if after > *look_back_school_days as usize {
                return None;
            }
            fire(
                word,
                format!(
                    "the register records {leaving} as the leaving date: the name is to be deleted from the roll, and the LA must hear before it is"
                ),
                Some(leaving.to_string()),
            )
        }
        Trigger::UnresolvedN { school_days } => {
            let days = ctx.calendar().school_days_between(env.year_start, today);
            let (date, session) = oldest_unresolved_n(register, days, *school_days)?;
            fire(
                word,
                format!(
                    "the {} session on {date} is still coded N (no reason) after {school_days} school days",
                    session.as_str()
                ),
                Some(format!("{date}-{}", session.as_str())),
            )
        }
        Trigger::PersistentAbsence {
            min_sessions,
            out_for_school_days,
        }
        | Trigger::SevereAbsence {
            min_sessions,
            out_for_school_days,
        } => {
            let f = env.facts.filter(|f| f.possible_sessions >= *min_sessions)?;
            let (name, share) = if matches!(trigger, Trigger::PersistentAbsence { .. }) {
                ("persistent absence", 10)
            } else {
                ("severe absence", 2)
            };
            let in_status = |absent: u32, possible: u32| share * absent >= possible;
            if !in_status(f.absence_sessions(), f.possible_sessions) {
                return None;
            }
            // One episode a school year, however often the figure crosses the line; with
            // `out_for_school_days`, a new one after that long out of the status.
            let episode = match out_for_school_days {
                None => format!("year-{}", academic_year(today)),
                Some(n) => status_spell_start(
                    register,
                    ctx.calendar().school_days_between(env.year_start, today),
                    *min_sessions,
                    in_status,
                    Some(*n),
                )
                .unwrap_or(today)
                .to_string(),
            };
            fire(
                word,
                format!(
                    "{name}: {} of {} sessions missed ({:.1}%) this school year",
                    f.absence_sessions(),
                    f.possible_sessions,
                    f.absence_pct()
                ),
                Some(episode),
            )
        }
        Trigger::NoImprovement {
            stage,
            school_days,
            percent,
            counting,
        }
        | Trigger::Improved {
            stage,
            school_days,
            percent,
            counting,
        } => {
            let case = env.case?;
            if &case.stage != stage {
                return None;
            }
            // What the school's action achieved: from the school day after the absence that
            // caused the stage ended, never the absence itself.
            let from = acted_from(env, case.stage_entered)?;
            let served = ctx.calendar().school_days_between(from, today).len() as u32;
            if served < *school_days {
                return None;
            }
            let counts = counts_between(register, from, today);
            let pct = rate(&counts, *counting)?;
            let improved = matches!(trigger, Trigger::Improved { .. });
            let hit = if improved {
                pct >= *percent
            } else {
                pct < *percent
            };
            hit.then(|| Fire {
                reason: format!(
                    "{served} school days since {from} in \"{stage}\" (entered {}): {} {pct:.1}% ({}) {} the {percent}% target",
                    case.stage_entered,
                    measure_name(*counting),
                    tally_words(&counts, *counting),
                    if improved { "meets" } else { "is below" }
                ),
                episode: Some(format!("{stage}-{}", case.stage_entered)),
                word,
            })
        }
        Trigger::Held {
            school_days,
            trigger: inner,
        } => {
            let now = trigger_fires(env, inner)?;
            let wanted = *school_days as usize;
            let days: Vec<NaiveDate> = env
                .window
                .school_days_back
                .iter()
                .copied()
                .take(wanted)
                .collect();
            if days.len() < wanted {
                return None;
            }
            let end_of_day = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
            for day in days.iter().filter(|d| **d != today) {
                let held = as_of(
                    env,
                    day.and_time(end_of_day),
                    env.case,
                    env.counted_until,
                    |e| trigger_fires(e, inner).is_some(),
                );
                if !held {
                    return None;
                }
            }
            let first = days.last().copied().unwrap_or(today);
            Some(Fire {
                reason: format!(
                    "{}, and so at the end of every school day since {first} ({school_days} school days)",
                    now.reason
                ),
                episode: now.episode,
                word: now.word,
            })
        }
        Trigger::Cohort(flags) => cohort_matches(env, flags).then(|| Fire {
            reason: cohort_words(flags),
            episode: None,
            word,
        }),
        Trigger::All(list) => {
            let mut reasons = Vec::new();
            let mut episode = None;
            let mut main_word = "cohort";
            for t in list {
                let f = trigger_fires(env, t)?;
                if episode.is_none() {
                    episode = f.episode;
                }
                if main_word == "cohort" {
                    main_word = f.word;
                }
                reasons.push(f.reason);
            }
            Some(Fire {
                reason: reasons.join("; "),
                episode,
                word: main_word,
            })
        }
        Trigger::Any(list) => list.iter().find_map(|t| trigger_fires(env, t)),
        Trigger::Not(inner) => match trigger_fires(env, inner) {
            Some(_) => None,
            None => fire(word, format!("not ({})", inner.word()), None),
        },
    }
}

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn unauthorised_list() -> Vec<String> {
    ["G", "N", "O", "U"].map(String::from).to_vec()
}

/// A part-time timetable going on now: its first C2 day, its latest, and how many school
/// weeks after the spell's first week today's falls.
struct PartTimeSpell {
    start: NaiveDate,
    last: NaiveDate,
    weeks_since: u32,
}

/// The pupil's C2 spell this school year, if it goes on: the unbroken run of school weeks
/// (weeks with a school day) each holding a C2 mark, whose latest is this school week or the
/// one before. A school week without C2 ends a spell.
fn part_time_spell(env: &PupilEnv<'_>) -> Option<PartTimeSpell> {
    let c2 = MarkCode::parse_exact("C2")?.byte();
    let register = &env.input.register;
    let today = env.ctx.today();
    let days = env
        .ctx
        .calendar()
        .school_days_between(env.year_start, today);
    let has_c2 = |day: NaiveDate| {
        [Session::Am, Session::Pm]
            .into_iter()
            .any(|s| register.mark(day, s) == Some(c2))
    };
    // A spell goes on only with a C2 in the latest two school weeks. Most pupils have none,
    // and are answered from those days instead of the whole year's.
    let latest_monday = monday_of(*days.last()?);
    let recent_start = days
        .iter()
        .rev()
        .map(|d| monday_of(*d))
        .find(|monday| *monday < latest_monday)
        .unwrap_or(latest_monday);
    if !days
        .iter()
        .rev()
        .take_while(|d| **d >= recent_start)
        .any(|d| has_c2(*d))
    {
        return None;
    }
    // Each school week in order, with its first C2 day if it has one.
    let mut weeks: Vec<(NaiveDate, Option<NaiveDate>)> = Vec::new();
    let mut last_c2 = None;
    for day in days {
        let week = monday_of(*day);
        if weeks.last().is_none_or(|(w, _)| *w != week) {
            weeks.push((week, None));
        }
        if has_c2(*day) {
            last_c2 = Some(*day);
            if let Some((_, first)) = weeks.last_mut()
                && first.is_none()
            {
                *first = Some(*day);
            }
        }
    }
    let last = last_c2?;
    let latest = weeks.len().checked_sub(1)?;
    let last_week = weeks.iter().rposition(|(_, c)| c.is_some())?;
    if latest - last_week > 1 {
        return None;
    }
    let first_week = weeks[..=last_week]
        .iter()
        .rposition(|(_, c)| c.is_none())
        .map_or(0, |gap| gap + 1);
    let start = weeks[first_week].1?;
    Some(PartTimeSpell {
        start,
        last,
        weeks_since: u32::try_from(latest - first_week).unwrap_or(u32::MAX),
    })
}

pub(crate) fn window_start(env: &PupilEnv<'_>, window: Window) -> Option<NaiveDate> {
    let today = env.ctx.today();
    match window {
        Window::YearToDate => Some(env.year_start),
        Window::Term => env.ctx.calendar().term_containing(today).map(|t| t.start),
        Window::Weeks(n) => env
            .ctx
            .calendar()
            .school_weeks_window_start(today, n as usize),
        Window::Case => env.case.and_then(|c| acted_from(env, c.opened_on)),
        Window::Stage => env.case.and_then(|c| acted_from(env, c.stage_entered)),
    }
}

fn window_words(window: Window) -> String {
    match window {
        Window::YearToDate => "this school year".into(),
        Window::Term => "this term".into(),
        Window::Weeks(n) => format!("over the last {n} school weeks"),
        Window::Case => "since the case opened (after the absence that opened it)".into(),
        Window::Stage => "since entering this stage (after the absence that caused it)".into(),
    }
}

/// The first school day after the pupil's integration period: `integration_weeks` school
/// weeks from admission, counting only weeks with school days (a half term does not use it
/// up). `None` while the pupil is still inside it.
fn integration_end(env: &PupilEnv<'_>) -> Option<NaiveDate> {
    trigger_records::extended_integration_end(env, natural_integration_end(env))
}

/// [`integration_end`] before any extension recorded for the pupil.
fn natural_integration_end(env: &PupilEnv<'_>) -> Option<NaiveDate> {
    let weeks = env.ctx.policy.settings.integration_weeks as usize;
    let calendar = env.ctx.calendar();
    let admission = env.input.pupil.admission_date;
    let mut seen_weeks = 0;
    // Admitted before the calendar we hold (a previous school year): we know none of that
    // time's holidays, so count its whole weeks; most such pupils finished long ago.
    if let Some(first) = calendar.school_days().first()
        && admission < *first
    {
        let before = (monday_of(*first) - monday_of(admission)).num_days() / 7;
        seen_weeks = usize::try_from(before).unwrap_or(0);
        if seen_weeks >= weeks {
            return Some(admission);
        }
    }
    let mut last_week = None;
    for day in calendar.school_days_between(admission, env.ctx.today()) {
        let week = monday_of(*day);
        if last_week != Some(week) {
            seen_weeks += 1;
            last_week = Some(week);
            if seen_weeks > weeks {
                return Some(*day);
            }
        }
    }
    None
}

fn in_integration_period(env: &PupilEnv<'_>) -> bool {
    env.ctx.policy.settings.integration_weeks > 0 && integration_end(env).is_none()
}

pub(crate) fn cohort_matches(env: &PupilEnv<'_>, flags: &CohortFlags) -> bool {
    let p = env.input.pupil;
    let check = |want: Option<bool>, have: bool| want.is_none_or(|w| w == have);
    check(flags.concern, p.concern)
        && check(flags.social_worker, p.social_worker)
        && check(flags.lac, p.lac)
        && check(flags.young_carer, p.young_carer)
        && check(flags.fsm, p.fsm)
        && flags
            .sen
            .as_ref()
            .is_none_or(|list| list.iter().any(|s| s == p.sen.as_str()))
        && check(flags.integration_period, in_integration_period(env))
}

fn cohort_words(flags: &CohortFlags) -> String {
    let mut parts = Vec::new();
    let mut flag = |v: Option<bool>, yes: &str, no: &str| {
        if let Some(v) = v {
            parts.push(if v { yes.to_owned() } else { no.to_owned() });
        }
    };
    flag(
        flags.concern,
        "on the concerns list",
        "not on the concerns list",
    );
    flag(
        flags.social_worker,
        "has a social worker",
        "no social worker",
    );
    flag(flags.lac, "looked after", "not looked after");
    flag(flags.young_carer, "young carer", "not a young carer");
    flag(flags.fsm, "eligible for free school meals", "not FSM");
    flag(
        flags.integration_period,
        "in the integration period",
        "past the integration period",
    );
    if let Some(sen) = &flags.sen {
        parts.push(format!("SEN {}", sen.join("/")));
    }
    parts.join(", ")
}

/// The measure an attendance trigger compares: every absence held against the pupil, or only
/// unauthorised absence.
fn rate(counts: &Counts, counting: Counting) -> Option<f64> {
    let possible = counts.possible();
    if possible == 0 {
        return None;
    }
    let kept = match counting {
        Counting::All => counts.attended(),
        Counting::Unauthorised => possible - counts.unauthorised(),
    };
    Some(100.0 * f64::from(kept) / f64::from(possible))
}

fn measure_name(counting: Counting) -> &'static str {
    match counting {
        Counting::All => "attendance",
        Counting::Unauthorised => "attendance counting only unauthorised absence",
    }
}

fn tally_words(counts: &Counts, counting: Counting) -> String {
    match counting {
        Counting::All => format!(
            "{} of {} sessions attended",
            counts.attended(),
            counts.possible()
        ),
        Counting::Unauthorised => format!(
            "{} of {} sessions unauthorised absence",
            counts.unauthorised(),
            counts.possible()
        ),
    }
}
