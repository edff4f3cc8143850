//! Triggers that read more than this school year's marks (issue 14): last school year's
//! attendance, medical evidence the school recorded, a full export that no longer lists a
//! pupil, the day of an absence a first-day call falls on, and an integration period extended
//! for one pupil. [`crate::escalation::trigger`] dispatches here; pure, like it.

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Weekday};

use crate::escalation::policy::{Stage, Trigger, Window};
use crate::escalation::trigger::{Fire, PupilEnv, absent_all_day, window_start};
use crate::register::facts::counts_between;
use crate::register::mark::MarkCode;
use crate::register::session::{Session, academic_year, academic_year_start};

/// `previous_year_below`: last school year's attendance from the register's earlier year.
/// `None` (no fire) when that year holds fewer than `min_sessions` possible sessions for the
/// pupil: absent data is never read as low attendance.
pub(crate) fn previous_year_below(
    env: &PupilEnv<'_>,
    word: &'static str,
    percent: f64,
    min_sessions: u32,
) -> Option<Fire> {
    let today = env.ctx.today();
    let this_year = academic_year(today);
    let last_year = this_year - 1;
    let from = academic_year_start(last_year);
    let to = academic_year_start(this_year).pred_opt()?;
    let register = &env.input.register;
    if !register.years.iter().any(|(y, _)| *y == last_year) {
        return None;
    }
    let counts = counts_between(register, from, to);
    let possible = counts.possible();
    if possible == 0 || possible < min_sessions {
        return None;
    }
    let rate = 100.0 * f64::from(counts.attended()) / f64::from(possible);
    (rate < percent).then(|| Fire {
        reason: format!(
            "attendance last school year ({}/{:02}) was {rate:.1}% ({} of {possible} sessions attended), below {percent}%",
            last_year,
            (last_year + 1) % 100,
            counts.attended()
        ),
        episode: Some(format!("year-{this_year}")),
        word,
    })
}

/// `unevidenced_illness`: `sessions` I sessions in the window with no medical evidence for
/// their date, counting only those at least `school_days` school days old.
pub(crate) fn unevidenced_illness(
    env: &PupilEnv<'_>,
    word: &'static str,
    sessions: u32,
    school_days: u32,
    window: Window,
) -> Option<Fire> {
    let today = env.ctx.today();
    let from = window_start(env, window)?;
    let days = env.ctx.calendar().school_days_between(from, today);
    let old_enough = days.len().checked_sub(school_days as usize)?;
    let pupil = env.input.pupil;
    let records = env.input.records;
    let register = &env.input.register;
    let mut count = 0;
    let mut first: Option<NaiveDate> = None;
    let mut reached: Option<NaiveDate> = None;
    for &day in &days[..old_enough] {
        if day < pupil.admission_date || pupil.leaving_date.is_some_and(|l| day > l) {
            continue;
        }
        for session in [Session::Am, Session::Pm] {
            let ill = register
                .mark(day, session)
                .and_then(MarkCode::from_byte)
                .is_some_and(|m| m.as_str() == "I");
            if ill && !records.evidenced(day) {
                count += 1;
                first.get_or_insert(day);
                if count == sessions {
                    reached = Some(day);
                }
            }
        }
    }
    let reached = reached?;
    let first = first?;
    Some(Fire {
        reason: format!(
            "{count} illness (I) session{} since {first} with no medical evidence recorded, the latest counted {school_days} or more school days ago; the policy asks for a review at {sessions}",
            if count == 1 { "" } else { "s" }
        ),
        episode: Some(format!("unevidenced-{reached}")),
        word,
    })
}

/// Which day of an absence today is for a first-day trigger: 1 + the school days just before
/// today with every possible session an absence (days with no possible session skipped),
/// counted no further than `cap`.
pub(crate) fn absence_day_number(env: &PupilEnv<'_>, cap: u32) -> u32 {
    let today = env.ctx.today();
    let admission = env.input.pupil.admission_date;
    let days = env
        .ctx
        .calendar()
        .school_days_between(env.year_start, today);
    let mut run = 0;
    for &day in days.iter().rev().filter(|d| **d < today) {
        if run >= cap || day < admission {
            break;
        }
        match absent_all_day(env, day) {
            Some(true) => run += 1,
            Some(false) => break,
            None => {}
        }
    }
    run + 1
}

/// The first school day after an extended integration period, given the period's natural
/// end (`None` while inside it): the later of the two. `None` while the extension runs.
pub(crate) fn extended_integration_end(
    env: &PupilEnv<'_>,
    natural: Option<NaiveDate>,
) -> Option<NaiveDate> {
    let natural = natural?;
    let Some(extension) = &env.input.records.integration else {
        return Some(natural);
    };
    let today = env.ctx.today();
    if today <= extension.until {
        return None;
    }
    let after = env
        .ctx
        .calendar()
        .school_days_between(extension.until.succ_opt()?, today)
        .first()
        .copied()?;
    Some(natural.max(after))
}

/// Words for a reason about adjusted attendance when the pupil's period was extended.
pub(crate) fn extension_words(env: &PupilEnv<'_>) -> String {
    env.input
        .records
        .integration
        .as_ref()
        .map_or_else(String::new, |x| {
            format!(
                "; integration period extended to {} by {} ({})",
                x.until, x.by, x.reason
            )
        })
}

/// `leaving` for a pupil with no leaving date whom a full export no longer lists.
pub(crate) fn missing_from_export(
    env: &PupilEnv<'_>,
    word: &'static str,
    look_back_school_days: u32,
) -> Option<Fire> {
    let today = env.ctx.today();
    let missing = env.input.records.missing_from_export?;
    if missing > today {
        return None;
    }
    let after = missing
        .succ_opt()
        .map(|next| env.ctx.calendar().school_days_between(next, today).len())
        .unwrap_or(0);
    if after > look_back_school_days as usize {
        return None;
    }
    Some(Fire {
        reason: format!(
            "the full MIS export of {missing} no longer lists the pupil and the register records no leaving date: if the pupil has left, the name is to be deleted from the roll, and the LA must hear before it is"
        ),
        episode: Some(format!("missing-{missing}")),
        word,
    })
}

/// `"monday"` … `"friday"` (any case).
pub(crate) fn school_weekday(text: &str) -> Option<Weekday> {
    match text.trim().to_ascii_lowercase().as_str() {
        "monday" => Some(Weekday::Mon),
        "tuesday" => Some(Weekday::Tue),
        "wednesday" => Some(Weekday::Wed),
        "thursday" => Some(Weekday::Thu),
        "friday" => Some(Weekday::Fri),
        _ => None,
    }
}

/// When a roll-change stage's message to the LA goes under `settings.roll_change_batch_weekday`:
/// the next school day (today included) on that weekday, after the morning register closes,
/// and for a new pupil no later than the fifth school day after admission. `None` without the
/// setting, for any other stage, or with no such school day in the next 60 days (then at once).
pub(crate) fn roll_change_batch(env: &PupilEnv<'_>, stage: &Stage) -> Option<NaiveDateTime> {
    let weekday = school_weekday(
        env.ctx
            .policy
            .settings
            .roll_change_batch_weekday
            .as_deref()?,
    )?;
    let words = stage.trigger.flatten();
    let admitted = words.iter().any(|t| matches!(t, Trigger::Admitted { .. }));
    let leaving = words.iter().any(|t| matches!(t, Trigger::Leaving { .. }));
    if !admitted && !leaving {
        return None;
    }
    let today = env.ctx.today();
    let calendar = env.ctx.calendar();
    let mut day = calendar
        .school_days_between(today, today + TimeDelta::days(60))
        .iter()
        .copied()
        .find(|d| d.weekday() == weekday)?;
    if admitted {
        let admission = env.input.pupil.admission_date;
        if let Some(due) = calendar
            .school_days_between(admission, admission + TimeDelta::days(60))
            .get(4)
        {
            day = day.min((*due).max(today));
        }
    }
    Some(day.and_time(env.ctx.school.am_register_close))
}

#[cfg(test)]
mod tests {
    use crate::escalation::policy::{Trigger, Window, parse};

    fn one_stage(trigger: &str) -> String {
        format!(
            r#"
name = "t"
title = "T"

[[stage]]
id = "s"
title = "S"
trigger = {trigger}
case = "none"
actions = [{{ channel = "task", to = "attendance_officer", task = "review", template = "x" }}]
"#
        )
    }

    #[test]
    fn the_issue_14_words_parse_with_their_defaults_and_are_checked() {
        let p = parse(
            &one_stage("{ previous_year_below = { percent = 94.5 } }"),
            "t.toml",
        )
        .expect("valid");
        assert_eq!(
            p.stages[0].trigger,
            Trigger::PreviousYearBelow {
                percent: 94.5,
                min_sessions: 20
            }
        );
        assert_eq!(p.stages[0].trigger.word(), "previous_year_below");
        let p = parse(
            &one_stage("{ unevidenced_illness = { sessions = 10, school_days = 10 } }"),
            "t.toml",
        )
        .expect("valid");
        assert_eq!(
            p.stages[0].trigger,
            Trigger::UnevidencedIllness {
                sessions: 10,
                school_days: 10,
                window: Window::YearToDate
            }
        );
        let p = parse(&one_stage("{ first_day = { last_day = 2 } }"), "t.toml").expect("valid");
        assert!(matches!(
            p.stages[0].trigger,
            Trigger::FirstDay {
                last_day: Some(2),
                ..
            }
        ));

        for (trigger, key) in [
            (
                "{ previous_year_below = { percent = 0 } }",
                "trigger.percent",
            ),
            (
                "{ unevidenced_illness = { sessions = 0, school_days = 10 } }",
                "trigger",
            ),
            ("{ first_day = { last_day = 0 } }", "trigger.last_day"),
            (
                "{ attendance_below = { percent = 96.5, margin = 12 } }",
                "trigger.margin",
            ),
            (
                "{ attendance_below = { percent = 96.5, margin = -1 } }",
                "trigger.margin",
            ),
        ] {
            let errors = parse(&one_stage(trigger), "t.toml").expect_err(trigger);
            assert_eq!(errors.len(), 1, "{trigger}: {errors:?}");
            assert_eq!(errors[0].key, key, "{trigger}");
        }
    }
}
