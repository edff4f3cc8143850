//! Decisions: where each stage's trigger is evaluated, and what each pupil's case should do
//! next. Pure: (register facts, policy, case state, now) → decisions and planned actions. The
//! same inputs always give the same outputs; nothing here reads a clock or a database.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use serde::Serialize;

use crate::case::{CaseState, StageMemory};
use crate::config::SchoolConfig;
use crate::facts::{
    FactsWindow, PupilFacts, PupilRegister, absent_days, code_run, counts_between,
    oldest_unresolved_n, pupil_facts,
};
use crate::mark::MarkCode;
use crate::policy::{
    Action, Approval, CaseEffect, Channel, CohortFlags, Policy, Rearm, Recipient, SessionName,
    Stage, Trigger, Window,
};
use crate::pupil::{Contact, Pupil};
use crate::session::{Calendar, Session, academic_year, academic_year_start, monday_of};

/// Everything the engine needs about one pupil.
#[derive(Debug, Clone, Copy)]
pub struct PupilInput<'a> {
    pub pupil_id: i64,
    pub pupil: &'a Pupil,
    pub register: PupilRegister<'a>,
    pub contacts: &'a [Contact],
    pub case: Option<&'a CaseState>,
    /// Memory for each stage id.
    pub memory: &'a HashMap<String, StageMemory>,
}

/// The run being evaluated.
pub struct Context<'a> {
    pub policy: &'a Policy,
    pub school: &'a SchoolConfig,
    /// Local time at the school.
    pub now: NaiveDateTime,
}

impl Context<'_> {
    fn calendar(&self) -> &Calendar {
        &self.school.calendar
    }
    fn today(&self) -> NaiveDate {
        self.now.date()
    }
}

/// A decision: a stage fires for a pupil.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub pupil_id: i64,
    pub upn: String,
    pub stage: String,
    pub stage_title: String,
    pub trigger: &'static str,
    /// With pupil and stage, the decision's unique key: the same episode never fires twice.
    pub anchor: String,
    pub reason: String,
    pub requires_approval: bool,
    /// The case moves from → to (`None` from = opens; `None` to = closes).
    pub transition: Option<(Option<String>, Option<String>)>,
    pub actions: Vec<PlannedAction>,
    pub facts: FactsSnapshot,
}

/// The figures a decision rested on, kept with it as evidence.
#[derive(Debug, Clone, Serialize)]
pub struct FactsSnapshot {
    pub as_of: NaiveDateTime,
    pub year_to_date: Option<PupilFacts>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedAction {
    pub channel: Channel,
    pub to: Recipient,
    /// A role, or the contact: "contact 1: Anne Lovelace (Mother)".
    pub recipient: String,
    /// Email, mobile or postal address where the channel needs one.
    pub address: Option<String>,
    pub template: String,
    pub task: Option<crate::policy::TaskKind>,
    pub requires_approval: bool,
    /// Why the action is held back (register not taken, mass-send brake), if it is.
    pub held: Option<String>,
    pub not_before: Option<NaiveDateTime>,
    pub expires_at: Option<NaiveDateTime>,
}

/// An alert for staff produced by a guard (not tied to one pupil).
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// What the alert is about, unique per school day: the same problem seen by several runs
    /// in one morning alerts once.
    pub key: String,
    pub to: Recipient,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Evaluation {
    pub decisions: Vec<Decision>,
    /// New memory per (pupil, stage), for every stage evaluated.
    #[serde(skip)]
    pub memory: Vec<(i64, String, StageMemory)>,
    /// (pupil, stage) whose trigger is true now; queued messages for any other pair have
    /// lost their cause.
    #[serde(skip)]
    pub active: std::collections::HashSet<(i64, String)>,
    pub alerts: Vec<Alert>,
}

/// Evaluates every stage of the policy for every pupil.
pub fn evaluate(ctx: &Context<'_>, pupils: &[PupilInput<'_>]) -> Evaluation {
    let today = ctx.today();
    let calendar = ctx.calendar();
    let year_start = first_day_of_year(calendar, today);
    let window = FactsWindow::new(calendar, year_start, today);
    let mut out = Evaluation::default();
    let register_guard = RegisterGuard::new(ctx, pupils);
    out.alerts.extend(register_guard.alerts.iter().cloned());

    for input in pupils {
        if !on_roll(input.pupil, today) {
            continue;
        }
        let facts = pupil_facts(&window, &input.register);
        // Stages fire in ladder order and each sees the case as the stages before it left it,
        // so a run after a long gap climbs the ladder step by step with each step recorded.
        let mut case = input.case.cloned();
        for (index, stage) in ctx.policy.stages.iter().enumerate() {
            let env = PupilEnv {
                ctx,
                input,
                window: &window,
                facts: facts.as_ref(),
                year_start,
                case: case.as_ref(),
            };
            let memory = input.memory.get(&stage.id);
            let fired = trigger_fires(&env, &stage.trigger);
            let was_active_since = memory.and_then(|m| m.active_since);
            let Some(fire) = fired else {
                // No memory means inactive, so only a change is worth storing.
                if was_active_since.is_some() {
                    out.memory.push((
                        input.pupil_id,
                        stage.id.clone(),
                        StageMemory { active_since: None },
                    ));
                }
                continue;
            };
            out.active.insert((input.pupil_id, stage.id.clone()));
            if was_active_since.is_none() {
                out.memory.push((
                    input.pupil_id,
                    stage.id.clone(),
                    StageMemory {
                        active_since: Some(today),
                    },
                ));
            }
            if !ladder_allows(ctx.policy, stage, case.as_ref()) {
                continue;
            }
            let anchor = anchor_for(
                stage,
                &fire,
                was_active_since.unwrap_or(today),
                today,
                case.as_ref(),
            );
            let decision = decide(&env, stage, index, fire, anchor, &register_guard);
            case = match &decision.transition {
                None => case,
                Some((_, None)) => None,
                Some((_, Some(to))) => Some(CaseState {
                    opened_on: case.as_ref().map_or(today, |c| c.opened_on),
                    stage: to.clone(),
                    stage_entered: today,
                }),
            };
            out.decisions.push(decision);
        }
    }
    apply_mass_send_brake(ctx, pupils, &mut out);
    out
}

fn on_roll(pupil: &Pupil, day: NaiveDate) -> bool {
    pupil.admission_date <= day && pupil.leaving_date.is_none_or(|l| l >= day)
}

/// The first school day of the academic year containing `day` (or 1 August without one).
fn first_day_of_year(calendar: &Calendar, day: NaiveDate) -> NaiveDate {
    let start = academic_year_start(academic_year(day));
    calendar
        .school_days_between(start, day)
        .first()
        .copied()
        .unwrap_or(start)
}

struct PupilEnv<'a> {
    ctx: &'a Context<'a>,
    input: &'a PupilInput<'a>,
    window: &'a FactsWindow,
    facts: Option<&'a PupilFacts>,
    year_start: NaiveDate,
    /// The pupil's case as the stages evaluated so far in this run left it.
    case: Option<&'a CaseState>,
}

/// Why a trigger fired, and the episode it belongs to when the facts name one.
#[derive(Debug, Clone)]
struct Fire {
    reason: String,
    episode: Option<String>,
    word: &'static str,
}

fn fire(word: &'static str, reason: String, episode: Option<String>) -> Option<Fire> {
    Some(Fire {
        reason,
        episode,
        word,
    })
}

fn trigger_fires(env: &PupilEnv<'_>, trigger: &Trigger) -> Option<Fire> {
    let ctx = env.ctx;
    let today = ctx.today();
    let register = &env.input.register;
    let word = trigger.word();
    match trigger {
        Trigger::FirstDay { session } => {
            if !ctx.calendar().is_school_day(today) {
                return None;
            }
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
            if mark.is_none() || mark.as_str() == "N" {
                let what = if mark.is_none() {
                    "no mark"
                } else {
                    "N (no reason yet)"
                };
                fire(
                    word,
                    format!(
                        "{what} for the {} session on {today} at {} (register closed {})",
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
            let all_codes: Vec<String> = crate::mark::CODES
                .iter()
                .map(|c| c.code.to_owned())
                .collect();
            fire(
                word,
                format!(
                    "{run} consecutive school days with {kinds} since {since} ({})",
                    counts.describe(&absence_codes(&all_codes))
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
            let all_codes: Vec<String> = crate::mark::CODES
                .iter()
                .map(|c| c.code.to_owned())
                .collect();
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
                    counts.describe(&absence_codes(&all_codes)),
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
            ..
        }
        | Trigger::AttendanceAtLeast {
            percent,
            window,
            min_sessions,
            adjusted,
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
            let pct = counts.attendance_pct()?;
            let below = matches!(trigger, Trigger::AttendanceBelow { .. });
            let inclusive = matches!(
                trigger,
                Trigger::AttendanceBelow {
                    inclusive: true,
                    ..
                }
            );
            let (hit, words) = match (below, inclusive) {
                (true, false) => (pct < *percent, "below"),
                (true, true) => (pct <= *percent, "at or below"),
                (false, _) => (pct >= *percent, "at or above"),
            };
            let measure = if *adjusted {
                format!(
                    "adjusted attendance {pct:.1}% (actual {:.1}%; the integration period before {counted_from} left out)",
                    actual.attendance_pct().unwrap_or(0.0)
                )
            } else {
                format!("attendance {pct:.1}%")
            };
            hit.then(|| Fire {
                reason: format!(
                    "{measure} {words} {percent}% {} ({} of {possible} sessions attended since {counted_from})",
                    window_words(*window),
                    counts.attended()
                ),
                episode: None,
                word,
            })
        }
        Trigger::PenaltyThreshold {
            sessions,
            weeks,
            codes,
        } => {
            let from = ctx
                .calendar()
                .school_weeks_window_start(today, *weeks as usize)?;
            let counts = counts_between(register, from, today);
            let n = counts.of(codes);
            (n >= *sessions).then(|| Fire {
                reason: format!(
                    "{n} unauthorised sessions ({}) in the last {weeks} school weeks since {from}; the threshold for considering a penalty notice is {sessions}",
                    counts.describe(codes)
                ),
                episode: None,
                word,
            })
        }
        Trigger::Illness {
            sessions,
            consecutive,
        } => {
            let illness = MarkCode::parse_exact("I")?;
            if *consecutive {
                let (run, since) = code_run(register, &env.window.school_days_back, illness);
                let since = since?;
                (run >= *sessions).then(|| Fire {
                    reason: format!(
                        "{run} consecutive illness sessions since {since} (threshold {sessions})"
                    ),
                    episode: Some(since.to_string()),
                    word,
                })
            } else {
                // Cumulative: one return per continuous period of sickness, so the episode is
                // the illness run going on when the year's total reaches the threshold.
                let n = env.facts?.illness_sessions;
                if n < *sessions {
                    return None;
                }
                let (_, since) = code_run(register, &env.window.school_days_back, illness);
                let since = since?;
                fire(
                    word,
                    format!(
                        "{n} illness sessions this school year ({} days), threshold {sessions}; ill since {since}",
                        f64::from(n) / 2.0
                    ),
                    Some(since.to_string()),
                )
            }
        }
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
        Trigger::PersistentAbsence { min_sessions } => {
            let f = env.facts.filter(|f| f.possible_sessions >= *min_sessions)?;
            f.persistent_absence().then(|| Fire {
                reason: format!(
                    "persistent absence: {} of {} sessions missed ({:.1}%) this school year",
                    f.absence_sessions(),
                    f.possible_sessions,
                    f.absence_pct()
                ),
                episode: None,
                word,
            })
        }
        Trigger::SevereAbsence { min_sessions } => {
            let f = env.facts.filter(|f| f.possible_sessions >= *min_sessions)?;
            f.severe_absence().then(|| Fire {
                reason: format!(
                    "severe absence: {} of {} sessions missed ({:.1}%) this school year",
                    f.absence_sessions(),
                    f.possible_sessions,
                    f.absence_pct()
                ),
                episode: None,
                word,
            })
        }
        Trigger::NoImprovement {
            stage,
            school_days,
            percent,
        }
        | Trigger::Improved {
            stage,
            school_days,
            percent,
        } => {
            let case = env.case?;
            if &case.stage != stage {
                return None;
            }
            let served = ctx
                .calendar()
                .school_days_between(case.stage_entered, today)
                .len() as u32;
            // The day the stage was entered counts as day 0 of the period.
            let served = served.saturating_sub(1);
            if served < *school_days {
                return None;
            }
            let counts = counts_between(register, case.stage_entered, today);
            let pct = counts.attendance_pct()?;
            let improved = matches!(trigger, Trigger::Improved { .. });
            let hit = if improved {
                pct >= *percent
            } else {
                pct < *percent
            };
            hit.then(|| Fire {
                reason: format!(
                    "{served} school days in \"{stage}\" since {}: attendance {pct:.1}% {} the {percent}% target",
                    case.stage_entered,
                    if improved { "meets" } else { "is below" }
                ),
                episode: Some(format!("{stage}-{}", case.stage_entered)),
                word,
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

fn absence_codes(all: &[String]) -> Vec<String> {
    all.iter()
        .filter(|c| {
            MarkCode::parse_exact(c)
                .and_then(|m| m.category())
                .is_some_and(|k| k.is_absence())
        })
        .cloned()
        .collect()
}

fn window_start(env: &PupilEnv<'_>, window: Window) -> Option<NaiveDate> {
    let today = env.ctx.today();
    match window {
        Window::YearToDate => Some(env.year_start),
        Window::Term => env.ctx.calendar().term_containing(today).map(|t| t.start),
        Window::Weeks(n) => env
            .ctx
            .calendar()
            .school_weeks_window_start(today, n as usize),
        Window::Case => env.case.map(|c| c.opened_on),
        Window::Stage => env.case.map(|c| c.stage_entered),
    }
}

fn window_words(window: Window) -> String {
    match window {
        Window::YearToDate => "this school year".into(),
        Window::Term => "this term".into(),
        Window::Weeks(n) => format!("over the last {n} school weeks"),
        Window::Case => "since the case opened".into(),
        Window::Stage => "since entering this stage".into(),
    }
}

/// The first school day after the pupil's integration period: `integration_weeks` school
/// weeks from admission, counting only weeks with school days (a half term does not use it
/// up). `None` while the pupil is still inside it.
fn integration_end(env: &PupilEnv<'_>) -> Option<NaiveDate> {
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

fn cohort_matches(env: &PupilEnv<'_>, flags: &CohortFlags) -> bool {
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

/// A stage that `requires` another fires only once the open case has reached it.
fn ladder_allows(policy: &Policy, stage: &Stage, case: Option<&CaseState>) -> bool {
    let Some(required) = &stage.requires else {
        return true;
    };
    let Some(case) = case else { return false };
    let position = |id: &str| policy.stages.iter().position(|s| s.id == id);
    match (position(&case.stage), position(required)) {
        (Some(current), Some(needed)) => current >= needed,
        _ => false,
    }
}

fn anchor_for(
    stage: &Stage,
    fire: &Fire,
    active_since: NaiveDate,
    today: NaiveDate,
    case: Option<&CaseState>,
) -> String {
    match stage.rearm {
        Rearm::Daily => today.to_string(),
        Rearm::Episode => fire
            .episode
            .clone()
            .unwrap_or_else(|| active_since.to_string()),
        Rearm::Yearly => format!("year-{}", academic_year(today)),
        Rearm::Once => case.map_or_else(
            || format!("case-{today}"),
            |c| format!("case-{}", c.opened_on),
        ),
    }
}

fn decide(
    env: &PupilEnv<'_>,
    stage: &Stage,
    index: usize,
    fire: Fire,
    anchor: String,
    guard: &RegisterGuard,
) -> Decision {
    let ctx = env.ctx;
    let input = env.input;
    let today = ctx.today();
    let requires_approval = stage.approval == Approval::Required;
    let transition = match stage.case {
        CaseEffect::None => None,
        CaseEffect::Close => env.case.map(|c| (Some(c.stage.clone()), None)),
        CaseEffect::Escalate => match env.case {
            None => Some((None, Some(stage.id.clone()))),
            Some(c) => {
                let current = ctx.policy.stages.iter().position(|s| s.id == c.stage);
                if current.is_none_or(|cur| index > cur) {
                    Some((Some(c.stage.clone()), Some(stage.id.clone())))
                } else {
                    None
                }
            }
        },
    };
    let school_day = ctx.calendar().is_school_day(today);
    let mut actions = Vec::new();
    for action in &stage.actions {
        if let Some(when) = &action.when
            && !cohort_matches(env, when)
        {
            continue;
        }
        if action.to.is_family() && !school_day && !stage.on_non_school_days {
            continue;
        }
        for (recipient, address) in recipients(action, input.contacts) {
            let mut planned = PlannedAction {
                channel: action.channel,
                to: action.to,
                recipient,
                address,
                template: action.template.clone(),
                task: action.task,
                requires_approval,
                held: None,
                not_before: None,
                expires_at: None,
            };
            if is_first_day(stage) && action.to.is_family() {
                // A first-day message is about this morning; by the afternoon it is wrong.
                // Staff tasks stay on the list until someone closes them.
                planned.expires_at =
                    Some(today.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default()));
                planned.held = guard.hold_for(&input.pupil.reg_group);
            }
            if action.channel == Channel::Sms {
                planned.not_before = quiet_hours_end(ctx);
            }
            actions.push(planned);
        }
    }
    Decision {
        pupil_id: input.pupil_id,
        upn: input.pupil.upn.to_string(),
        stage: stage.id.clone(),
        stage_title: stage.title.clone(),
        trigger: fire.word,
        anchor,
        reason: fire.reason,
        requires_approval,
        transition,
        actions,
        facts: FactsSnapshot {
            as_of: ctx.now,
            year_to_date: env.facts.cloned(),
        },
    }
}

/// Who an action reaches: contacts resolved to names and addresses; staff roles by role.
fn recipients(action: &Action, contacts: &[Contact]) -> Vec<(String, Option<String>)> {
    let address = |c: &Contact| -> Option<String> {
        match action.channel {
            Channel::Sms => c.mobile.clone(),
            Channel::Email => c.email.clone(),
            Channel::Letter => (!c.address_line_1.is_empty()).then(|| {
                [&c.address_line_1, &c.address_line_2, &c.town, &c.postcode]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            Channel::Task | Channel::LaReturn => c.mobile.clone(),
        }
    };
    let describe = |c: &Contact| format!("contact {}: {} ({})", c.priority, c.name, c.relationship);
    let mut sorted: Vec<&Contact> = contacts.iter().collect();
    sorted.sort_by_key(|c| c.priority);
    match action.to {
        Recipient::Contacts => sorted
            .iter()
            .find_map(|c| address(c).map(|a| (describe(c), Some(a))))
            .map_or_else(
                || vec![("no contact reachable by this channel".to_owned(), None)],
                |r| vec![r],
            ),
        Recipient::ParentalResponsibility | Recipient::AllContacts => {
            let pr_only = action.to == Recipient::ParentalResponsibility;
            let list: Vec<(String, Option<String>)> = sorted
                .iter()
                .filter(|c| !pr_only || c.parental_responsibility)
                .filter_map(|c| address(c).map(|a| (describe(c), Some(a))))
                .collect();
            if list.is_empty() {
                vec![("no contact reachable by this channel".to_owned(), None)]
            } else {
                list
            }
        }
        role => vec![(role.as_str().to_owned(), None)],
    }
}

fn quiet_hours_end(ctx: &Context<'_>) -> Option<NaiveDateTime> {
    let s = &ctx.policy.settings;
    let start = NaiveTime::parse_from_str(&s.quiet_hours_start, "%H:%M").ok()?;
    let end = NaiveTime::parse_from_str(&s.quiet_hours_end, "%H:%M").ok()?;
    let t = ctx.now.time();
    let quiet = if start > end {
        t >= start || t < end
    } else {
        t >= start && t < end
    };
    if !quiet {
        return None;
    }
    let day = if start > end && t >= start {
        ctx.today().succ_opt()?
    } else {
        ctx.today()
    };
    Some(day.and_time(end))
}

/// The stale-register guard: first-day messages only for registers that were actually taken.
struct RegisterGuard {
    held_groups: BTreeMap<String, String>,
    alerts: Vec<Alert>,
}

impl RegisterGuard {
    fn new(ctx: &Context<'_>, pupils: &[PupilInput<'_>]) -> RegisterGuard {
        let mut guard = RegisterGuard {
            held_groups: BTreeMap::new(),
            alerts: Vec::new(),
        };
        let today = ctx.today();
        let uses_first_day = ctx.policy.stages.iter().any(|s| {
            s.trigger
                .flatten()
                .iter()
                .any(|t| matches!(t, Trigger::FirstDay { .. }))
        });
        if !uses_first_day || !ctx.calendar().is_school_day(today) {
            return guard;
        }
        let share = ctx.policy.settings.stale_register_share;
        let mut groups: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
        for p in pupils.iter().filter(|p| on_roll(p.pupil, today)) {
            let entry = groups.entry(p.pupil.reg_group.as_str()).or_default();
            entry.1 += 1;
            if p.register.mark(today, Session::Am).unwrap_or(0) != 0 {
                entry.0 += 1;
            }
        }
        let stale = |m: u32, r: u32| r > 0 && f64::from(m) < share * f64::from(r);
        let time = ctx.now.format("%H:%M");
        // Each registration group is judged on its own marks, so one forgotten register
        // holds only that group; when every group looks untaken (a late MIS sync) the
        // attendance officer gets one alert for the school instead of one per group.
        if !groups.is_empty() && groups.values().all(|(m, r)| stale(*m, *r)) {
            let (marked, roll) = groups
                .values()
                .fold((0, 0), |(m, r), (gm, gr)| (m + gm, r + gr));
            let why = format!(
                "the school's register looks not taken: {marked} of {roll} pupils have an AM mark at {time}"
            );
            for g in groups.keys() {
                guard.held_groups.insert((*g).to_owned(), why.clone());
            }
            guard.alerts.push(Alert {
                key: format!("{today}/register-not-taken"),
                to: Recipient::AttendanceOfficer,
                message: format!("{why}; first-day messages are held until it is"),
            });
            return guard;
        }
        for (g, (m, r)) in &groups {
            if stale(*m, *r) {
                let why = format!(
                    "the register for {g} looks not taken: {m} of {r} pupils marked at {time}"
                );
                guard.alerts.push(Alert {
                    key: format!("{today}/register-not-taken/{g}"),
                    to: Recipient::AttendanceOfficer,
                    message: format!("{why}; first-day messages for {g} are held"),
                });
                guard.held_groups.insert((*g).to_owned(), why);
            }
        }
        guard
    }

    fn hold_for(&self, group: &str) -> Option<String> {
        self.held_groups.get(group).cloned()
    }
}

/// If one run would contact more than the configured share of the roll, hold every family
/// message for approval and alert: something upstream is probably wrong.
fn apply_mass_send_brake(ctx: &Context<'_>, pupils: &[PupilInput<'_>], out: &mut Evaluation) {
    let today = ctx.today();
    let roll = pupils.iter().filter(|p| on_roll(p.pupil, today)).count();
    let contacted: std::collections::HashSet<i64> = out
        .decisions
        .iter()
        .filter(|d| {
            d.actions
                .iter()
                .any(|a| a.to.is_family() && a.held.is_none())
        })
        .map(|d| d.pupil_id)
        .collect();
    let limit = ctx.policy.settings.mass_send_share * roll as f64;
    if roll == 0 || (contacted.len() as f64) <= limit {
        return;
    }
    let why = format!(
        "mass-send brake: this run would contact the families of {} of {roll} pupils (limit {:.0}%)",
        contacted.len(),
        ctx.policy.settings.mass_send_share * 100.0
    );
    for d in &mut out.decisions {
        for a in &mut d.actions {
            if a.to.is_family() {
                a.requires_approval = true;
                if a.held.is_none() {
                    a.held = Some(why.clone());
                }
            }
        }
    }
    out.alerts.push(Alert {
        key: format!("{}/mass-send-brake", ctx.now.format("%Y-%m-%dT%H:%M")),
        to: Recipient::AttendanceOfficer,
        message: format!("{why}; every family message in it awaits approval"),
    });
}

/// First-day stages are about this morning's register.
pub fn is_first_day(stage: &Stage) -> bool {
    stage
        .trigger
        .flatten()
        .iter()
        .any(|t| matches!(t, Trigger::FirstDay { .. }))
}
