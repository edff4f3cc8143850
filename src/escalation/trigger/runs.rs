//! Runs of absence: consecutive days absent, and illness over consecutive sessions, each
//! an episode of its own.

use super::*;

/// Whether every possible session of `day` was an absence; `None` when none was possible.
pub(crate) fn absent_all_day(env: &PupilEnv<'_>, day: NaiveDate) -> Option<bool> {
    let table = category_table();
    let mut possible = 0;
    let mut absent = 0;
    for session in [Session::Am, Session::Pm] {
        let byte = env.input.register.mark(day, session).unwrap_or(0);
        if let Some(category) = table[usize::from(byte)].filter(|c| c.is_possible()) {
            possible += 1;
            absent += u32::from(category.is_absence());
        }
    }
    (possible > 0).then_some(absent == possible)
}

/// "Since the school acted" on `entered`: the first school day after `entered` that is not
/// part of the absence going on when it acted. `None` while that absence goes on (runs of
/// absence are the business of the stages that count them) or before any such day.
pub(super) fn acted_from(env: &PupilEnv<'_>, entered: NaiveDate) -> Option<NaiveDate> {
    let days = env.ctx.calendar().school_days();
    let today = env.ctx.today();
    let after = days.partition_point(|d| *d <= entered);
    // The last school day with a possible session, on or before `entered`, decides whether an
    // absence was going on (a fortnight back at most: days with no possible session are rare).
    let in_absence = days[..after]
        .iter()
        .rev()
        .take(10)
        .find_map(|d| absent_all_day(env, *d))
        .unwrap_or(false);
    days[after..]
        .iter()
        .take_while(|d| **d <= today)
        .find(|d| !in_absence || absent_all_day(env, **d) == Some(false))
        .copied()
}

/// Sessions from `from` to today that the register closed for after `until` (the stage's
/// previous decision): on `until`'s own day, only the sessions whose register closed later.
pub(super) fn sessions_after(env: &PupilEnv<'_>, until: NaiveDateTime, from: NaiveDate) -> Counts {
    let register = &env.input.register;
    let today = env.ctx.today();
    let mut counts = match until.date().succ_opt() {
        Some(next) => counts_between(register, next.max(from), today),
        None => Counts([0; crate::register::facts::CODE_SLOTS]),
    };
    let day = until.date();
    if day >= from && day <= today && register.admission <= day {
        for (session, close) in [
            (Session::Am, env.ctx.school.am_register_close),
            (Session::Pm, env.ctx.school.pm_register_close),
        ] {
            if until.time() < close
                && let Some(byte) = register.mark(day, session)
                && let Some(n) = counts.0.get_mut(usize::from(byte))
            {
                *n += 1;
            }
        }
    }
    counts
}

/// The LA's sickness returns: with `consecutive`, one per unbroken run of illness that reaches
/// `sessions`; otherwise the statutory pair (DOMAIN.md): one when the school year's illness
/// total reaches `sessions`, whatever today's mark, once a school year; and one for each run
/// that reaches it by itself, unless that run is the one that took the total over.
pub(super) fn illness_fires(env: &PupilEnv<'_>, sessions: u32, consecutive: bool) -> Vec<Fire> {
    // Every return needs the year's total at the threshold first: most pupils stop here.
    if env.facts.is_none_or(|f| f.illness_sessions < sessions) {
        return Vec::new();
    }
    let today = env.ctx.today();
    let days = env
        .ctx
        .calendar()
        .school_days_between(env.year_start, today);
    let found = sickness_episodes(&env.input.register, days, sessions);
    let mut out = Vec::new();
    let run_fire = |run: &crate::register::facts::Run| Fire {
        reason: format!(
            "an unbroken run of illness from {} to {}: {} sessions over {} school days (threshold {sessions} sessions)",
            run.start, run.end, run.sessions, run.days
        ),
        episode: Some(run.start.to_string()),
        word: "illness",
    };
    if consecutive {
        out.extend(found.runs.iter().map(run_fire));
        return out;
    }
    if let Some(total) = found.cumulative {
        out.push(Fire {
            reason: format!(
                "{} illness sessions this school year ({} days); the total reached {sessions} on {}",
                found.total,
                f64::from(found.total) / 2.0,
                total.reached_on
            ),
            episode: Some(format!("year-{}-total", academic_year(today))),
            word: "illness",
        });
    }
    out.extend(found.consecutive_returns().map(run_fire));
    out
}

/// The continuous-absence return: every run of whole days absent (with `unauthorised_only`,
/// every session G/N/O/U) this school year that reached `days`, the one going on included.
pub(super) fn absence_run_fires(
    env: &PupilEnv<'_>,
    days: u32,
    unauthorised_only: bool,
) -> Vec<Fire> {
    // A run of `days` whole days absent needs at least `days` such sessions this year: most
    // pupils stop here without walking the year.
    let absent = env.facts.map_or(0, |f| {
        if unauthorised_only {
            f.unauthorised_absence_sessions
        } else {
            f.absence_sessions()
        }
    });
    let running = env.facts.is_some_and(|f| {
        if unauthorised_only {
            f.consecutive_unauthorised_days >= days
        } else {
            f.consecutive_absent_days >= days
        }
    });
    if absent < days && !running {
        return Vec::new();
    }
    let today = env.ctx.today();
    let school_days = env
        .ctx
        .calendar()
        .school_days_between(env.year_start, today);
    let kinds = if unauthorised_only {
        "every session G/N/O/U"
    } else {
        "every session an absence"
    };
    let mut out: Vec<Fire> = absence_runs(&env.input.register, school_days, unauthorised_only, days)
        .into_iter()
        .map(|run| {
            let counts = counts_between(&env.input.register, run.start, run.end);
            let codes = counts.describe_absences();
            let reason = if school_days.last() == Some(&run.end) {
                format!(
                    "{} consecutive school days with {kinds} since {} ({codes})",
                    run.days, run.start
                )
            } else {
                format!(
                    "{} consecutive school days with {kinds} from {} to {}, the episode now over ({codes})",
                    run.days, run.start, run.end
                )
            };
            Fire {
                reason,
                episode: Some(run.start.to_string()),
                word: "consecutive_absent_days",
            }
        })
        .collect();
    // A run going on since before this school year started: the facts count it whole.
    if let Some(current) = trigger_fires(
        env,
        &Trigger::ConsecutiveAbsentDays {
            days,
            unauthorised_only,
            include_ended: false,
        },
    ) && !out.iter().any(|f| f.episode == current.episode)
    {
        let year_first = school_days.first().map(ToString::to_string);
        if out.last().is_some_and(|f| f.episode == year_first) {
            out.pop();
        }
        out.push(current);
    }
    out
}
