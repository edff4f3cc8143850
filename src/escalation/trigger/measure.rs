//! What a stage's trigger measured, for the words a message and the console quote.

use super::*;

/// The window and measure a stage's trigger compared, for what a message quotes ("93.1 %
/// this school year, 3 September to 14 November"): the same windows the trigger itself uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Measured {
    pub word: &'static str,
    /// The first school day counted (for adjusted attendance, the first after the integration
    /// period; for a stage judging the school's action, the first after the absence it acted on).
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The percentage the trigger compares with, if it compares one.
    pub percent: Option<f64>,
    pub counting: Counting,
    pub adjusted: bool,
    /// For `no_improvement` and `improved`: the stage whose action is judged.
    pub since_stage: Option<String>,
    /// The codes the trigger counts (lateness, the penalty threshold).
    pub codes: Vec<String>,
    /// The number of sessions the trigger compares with.
    pub sessions: Option<u32>,
}

/// What `trigger` measured for one pupil at `ctx.now` (for `any`, the part that holds now).
/// `None` for triggers about a single session or mark (first day, an unresolved N).
pub(crate) fn measured(
    ctx: &Context<'_>,
    pupil: &crate::register::pupil::Pupil,
    register: PupilRegister<'_>,
    records: &crate::register::records::PupilRecords,
    case: Option<&CaseState>,
    trigger: &Trigger,
) -> Option<Measured> {
    with_env(ctx, pupil, register, records, case, |env| {
        measured_in(env, trigger)
    })
}

/// Why `trigger` fires for one pupil at `ctx.now`, if it does: the engine's reason.
pub(crate) fn explain(
    ctx: &Context<'_>,
    pupil: &crate::register::pupil::Pupil,
    register: PupilRegister<'_>,
    case: Option<&CaseState>,
    trigger: &Trigger,
) -> Option<String> {
    let records = &crate::register::records::NO_RECORDS;
    with_env(ctx, pupil, register, records, case, |env| {
        fires(env, trigger).pop().map(|f| f.reason)
    })
}

/// One pupil seen by the engine at `ctx.now`, outside a run (no memory, history or contacts).
fn with_env<R>(
    ctx: &Context<'_>,
    pupil: &crate::register::pupil::Pupil,
    register: PupilRegister<'_>,
    records: &crate::register::records::PupilRecords,
    case: Option<&CaseState>,
    f: impl FnOnce(&PupilEnv<'_>) -> R,
) -> R {
    let memory = std::collections::HashMap::new();
    let input = PupilInput {
        pupil_id: 0,
        pupil,
        register,
        contacts: &[],
        case,
        memory: &memory,
        history: &[],
        letter_days: &[],
        explained: &[],
        records,
    };
    let calendar = &ctx.school.calendar;
    let year_start = first_day_of_year(calendar, ctx.today());
    let window = FactsWindow::new(calendar, year_start, ctx.today());
    let facts = pupil_facts(&window, &input.register);
    let env = PupilEnv {
        ctx,
        input: &input,
        window: &window,
        facts: facts.as_ref(),
        year_start,
        case,
        counted_until: None,
    };
    f(&env)
}

fn measured_in(env: &PupilEnv<'_>, trigger: &Trigger) -> Option<Measured> {
    let today = env.ctx.today();
    let plain = |word, from: NaiveDate| Measured {
        word,
        from: from.max(env.input.pupil.admission_date),
        to: today,
        percent: None,
        counting: Counting::All,
        adjusted: false,
        since_stage: None,
        codes: Vec::new(),
        sessions: None,
    };
    let word = trigger.word();
    match trigger {
        Trigger::FirstDay { .. } | Trigger::UnresolvedN { .. } | Trigger::Cohort(_) => None,
        Trigger::TooFewContacts { .. } | Trigger::Admitted { .. } | Trigger::Leaving { .. } => None,
        Trigger::PreviousYearBelow { .. } => None,
        Trigger::UnevidencedIllness { window, .. } => Some(Measured {
            codes: vec!["I".to_owned()],
            ..plain(word, window_start(env, *window)?)
        }),
        Trigger::WeekdayPattern { window, .. } => Some(plain(word, window_start(env, *window)?)),
        Trigger::MissingEducation { .. } => {
            let f = env.facts?;
            Some(Measured {
                codes: unauthorised_list(),
                ..plain(word, f.unauthorised_run_since.unwrap_or(env.year_start))
            })
        }
        Trigger::PartTimeTimetable {} | Trigger::PartTimeReview { .. } => {
            let spell = part_time_spell(env)?;
            Some(Measured {
                codes: vec!["C2".to_owned()],
                ..plain(word, spell.start)
            })
        }
        Trigger::CodedSessions {
            codes,
            sessions,
            window,
        } => Some(Measured {
            codes: codes.clone(),
            sessions: Some(*sessions),
            ..plain(word, window_start(env, *window)?)
        }),
        Trigger::Not(_) => None,
        Trigger::ConsecutiveAbsentDays {
            unauthorised_only, ..
        } => {
            let f = env.facts?;
            let since = if *unauthorised_only {
                f.unauthorised_run_since
            } else {
                f.absent_run_since
            };
            Some(plain(word, since.unwrap_or(env.year_start)))
        }
        Trigger::AbsentDaysInTerm { days } => {
            let term = env.ctx.calendar().term_containing(today)?;
            Some(Measured {
                sessions: Some(2 * days),
                ..plain(word, term.start)
            })
        }
        Trigger::AbsentSessions { sessions, window } => Some(Measured {
            sessions: Some(*sessions),
            ..plain(word, window_start(env, *window)?)
        }),
        Trigger::AttendanceBelow {
            percent,
            window,
            adjusted,
            counting,
            ..
        }
        | Trigger::AttendanceAtLeast {
            percent,
            window,
            adjusted,
            counting,
            ..
        } => {
            let mut from = window_start(env, *window)?;
            if *adjusted {
                from = from.max(integration_end(env)?);
            }
            Some(Measured {
                percent: Some(*percent),
                counting: *counting,
                adjusted: *adjusted,
                ..plain(word, from)
            })
        }
        Trigger::PenaltyThreshold {
            sessions,
            weeks,
            codes,
            ..
        } => Some(Measured {
            codes: codes.clone(),
            sessions: Some(*sessions),
            ..plain(
                word,
                env.ctx
                    .calendar()
                    .school_weeks_window_start(today, *weeks as usize)?,
            )
        }),
        Trigger::Illness { sessions, .. } => Some(Measured {
            codes: vec!["I".to_owned()],
            sessions: Some(*sessions),
            ..plain(word, env.year_start)
        }),
        Trigger::Lateness {
            sessions,
            codes,
            window,
        } => Some(Measured {
            codes: codes.clone(),
            sessions: Some(*sessions),
            ..plain(word, window_start(env, *window)?)
        }),
        Trigger::PersistentAbsence { .. } | Trigger::SevereAbsence { .. } => {
            Some(plain(word, env.year_start))
        }
        Trigger::NoImprovement {
            stage,
            percent,
            counting,
            ..
        }
        | Trigger::Improved {
            stage,
            percent,
            counting,
            ..
        } => {
            let case = env.case?;
            Some(Measured {
                percent: Some(*percent),
                counting: *counting,
                since_stage: Some(stage.clone()),
                ..plain(word, acted_from(env, case.stage_entered)?)
            })
        }
        Trigger::Held { trigger, .. } => measured_in(env, trigger),
        Trigger::Any(list) => list
            .iter()
            .filter(|t| trigger_fires(env, t).is_some())
            .find_map(|t| measured_in(env, t))
            .or_else(|| list.iter().find_map(|t| measured_in(env, t))),
        Trigger::All(list) => list.iter().find_map(|t| measured_in(env, t)),
    }
}
