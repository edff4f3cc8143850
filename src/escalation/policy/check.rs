//! The checks a policy passes after it parses: what TOML cannot say (references, ranges,
//! codes) and that what the law leaves to judgement waits for a person.

use std::collections::HashSet;

use super::*;

/// Checks what TOML cannot: references, ranges, codes, and that what the law leaves to
/// judgement waits for a person.
pub fn check(policy: &Policy, file: &str) -> Vec<PolicyError> {
    let mut errors = Vec::new();
    let mut err = |stage: &str, key: &str, message: String| {
        errors.push(PolicyError {
            file: file.to_owned(),
            stage: stage.to_owned(),
            key: key.to_owned(),
            message,
        })
    };
    if policy.stages.is_empty() {
        err("", "stage", "a policy needs at least one [[stage]]".into());
    }
    let s = &policy.settings;
    for (key, share) in [
        ("settings.stale_register_share", s.stale_register_share),
        ("settings.mass_send_share", s.mass_send_share),
    ] {
        if !(0.0..=1.0).contains(&share) {
            err(
                "",
                key,
                format!("{share} is not a share between 0 and 1 (e.g. 0.2 for 20 %)"),
            );
        }
    }
    if !(0.0..=100.0).contains(&s.target_percent) {
        err(
            "",
            "settings.target_percent",
            format!("{} is not a percentage", s.target_percent),
        );
    }
    for (key, t) in [
        ("settings.quiet_hours_start", &s.quiet_hours_start),
        ("settings.quiet_hours_end", &s.quiet_hours_end),
    ] {
        if chrono::NaiveTime::parse_from_str(t, "%H:%M").is_err() {
            err("", key, format!("\"{t}\" is not a time as HH:MM"));
        }
    }

    if let Some(day) = &s.roll_change_batch_weekday
        && crate::escalation::trigger_records::school_weekday(day).is_none()
    {
        err(
            "",
            "settings.roll_change_batch_weekday",
            format!(
                "\"{day}\" is not a school weekday; allowed: monday, tuesday, wednesday, thursday, friday"
            ),
        );
    }
    for (key, n) in [
        ("settings.steps_per_day", s.steps_per_day),
        (
            "settings.approval_reminder_school_days",
            s.approval_reminder_school_days,
        ),
    ] {
        if n == 0 {
            err("", key, "must be at least 1".into());
        }
    }

    let ids: Vec<&str> = policy.stages.iter().map(|s| s.id.as_str()).collect();
    let mut seen = HashSet::new();
    for (index, stage) in policy.stages.iter().enumerate() {
        let id = stage.id.as_str();
        if stage.answered_by_reply {
            let contact_trigger = matches!(
                stage.trigger,
                Trigger::FirstDay { .. }
                    | Trigger::ConsecutiveAbsentDays {
                        include_ended: false,
                        ..
                    }
            );
            let statutory = stage.is_enforcement()
                || stage.actions.iter().any(|a| a.channel == Channel::LaReturn);
            if !contact_trigger || statutory {
                err(
                    id,
                    "answered_by_reply",
                    "a parent's reply answers contact about an unexplained absence only (a \
                     first_day or consecutive_absent_days trigger); a statutory return or an \
                     enforcement stage counts the register's codes, not what a parent said"
                        .into(),
                );
            }
        }
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            err(
                id,
                "id",
                "a stage id uses lowercase letters, digits and '_' only".into(),
            );
        }
        if !seen.insert(id) {
            err(
                id,
                "id",
                "this id is used by an earlier stage; ids must be unique".into(),
            );
        }
        if let Some(req) = &stage.requires {
            match ids.iter().position(|i| i == req) {
                None => err(
                    id,
                    "requires",
                    format!("no stage \"{req}\"; stages are: {}", ids.join(", ")),
                ),
                Some(at) if at >= index => err(
                    id,
                    "requires",
                    format!("\"{req}\" must come before \"{id}\" in the ladder"),
                ),
                Some(_) => {}
            }
        }
        for t in stage.trigger.flatten() {
            check_trigger(t, id, &ids, policy.settings.integration_weeks, &mut err);
        }
        if stage.is_enforcement() {
            let mut counted = Vec::new();
            authorised_absence_counted(&stage.trigger, &mut counted);
            for word in counted {
                err(
                    id,
                    "trigger",
                    format!(
                        "an enforcement stage (a warning, penalty-notice review or legal step) may count only unauthorised absence, but \"{word}\" counts illness and other authorised absence too: {}",
                        unauthorised_fix(word)
                    ),
                );
            }
        }
        if stage.actions.is_empty() && stage.case == CaseEffect::None {
            err(
                id,
                "actions",
                "a stage that neither acts nor moves the case does nothing".into(),
            );
        }
        let judgement = stage.actions.iter().any(|a| {
            a.channel == Channel::LaReturn
                || matches!(
                    a.task,
                    Some(TaskKind::PenaltyNoticeReview | TaskKind::AttendanceContract)
                )
        });
        if judgement && stage.approval != Approval::Required {
            err(
                id,
                "approval",
                "LA returns, penalty-notice reviews and attendance contracts need a person's decision: set approval = \"required\"".into(),
            );
        }
        // A children-missing-education notice is the first step towards deleting a pupil from
        // the roll, a deletion notice the last: the LA hears of either only when a person has
        // approved it.
        let words = stage.trigger.flatten();
        let deletion = if words
            .iter()
            .any(|t| matches!(t, Trigger::MissingEducation { .. }))
        {
            Some(
                "a children-missing-education notice to the LA (a ground for deleting the pupil from the roll)",
            )
        } else if words.iter().any(|t| matches!(t, Trigger::Leaving { .. })) {
            Some("a deletion notice to the LA (the pupil's name is to be removed from the roll)")
        } else {
            None
        };
        if let Some(what) = deletion
            && stage.actions.iter().any(|a| a.to == Recipient::La)
            && stage.approval != Approval::Required
        {
            err(
                id,
                "approval",
                format!("{what} needs a person's decision: set approval = \"required\""),
            );
        }
        let signer = |role: Option<Recipient>,
                      key: &str,
                      err: &mut dyn FnMut(&str, &str, String)| {
            if let Some(role) = role
                && !role.can_sign()
            {
                err(
                    id,
                    key,
                    format!(
                        "\"{}\" cannot sign the school's letters; use a staff role: \"headteacher\", \"deputy_head\", \"attendance_officer\", \"dsl\", \"head_of_year\" or \"class_teacher\"",
                        role.as_str()
                    ),
                );
            }
        };
        signer(stage.signatory, "signatory", &mut err);
        for (i, a) in stage.actions.iter().enumerate() {
            let key = format!("actions[{i}]");
            signer(a.signatory, &format!("{key}.signatory"), &mut err);
            if a.template.trim().is_empty() {
                err(
                    id,
                    &format!("{key}.template"),
                    "must name a template".into(),
                );
            }
            if a.note.is_some() && stage.approval != Approval::Required {
                err(
                    id,
                    &format!("{key}.note"),
                    "a note is written by the person who approves the message: set approval = \"required\" on the stage".into(),
                );
            }
            if a.channel == Channel::Task && a.task.is_none() {
                err(
                    id,
                    &format!("{key}.task"),
                    "a task needs task = \"call\", \"meeting\", \"home_visit\", \"penalty_notice_review\", \"attendance_contract\", \"review\" or \"enquiry\"".into(),
                );
            }
            if a.channel == Channel::Sms && !a.to.is_family() {
                err(
                    id,
                    &format!("{key}.to"),
                    "SMS goes to contacts only; staff get email or tasks".into(),
                );
            }
            if a.channel == Channel::LaReturn && a.to != Recipient::La {
                err(
                    id,
                    &format!("{key}.to"),
                    "an la_return goes to \"la\"".into(),
                );
            }
            if a.channel == Channel::Letter && !a.to.is_family() {
                err(
                    id,
                    &format!("{key}.to"),
                    "letters go to contacts (postal addresses)".into(),
                );
            }
        }
    }
    errors
}

/// The trigger words in `t` (outside any `not`) that hold authorised absence against a pupil.
fn authorised_absence_counted(t: &Trigger, out: &mut Vec<&'static str>) {
    let counts = match t {
        Trigger::ConsecutiveAbsentDays {
            unauthorised_only, ..
        } => !unauthorised_only,
        Trigger::AbsentDaysInTerm { .. }
        | Trigger::AbsentSessions { .. }
        | Trigger::Illness { .. }
        | Trigger::PersistentAbsence { .. }
        | Trigger::SevereAbsence { .. }
        | Trigger::PartTimeTimetable {}
        | Trigger::PartTimeReview { .. }
        | Trigger::WeekdayPattern { .. }
        | Trigger::PreviousYearBelow { .. }
        | Trigger::UnevidencedIllness { .. } => true,
        Trigger::CodedSessions { codes, .. } => codes.iter().any(|c| {
            MarkCode::parse_exact(c).and_then(|m| m.category())
                != Some(Category::UnauthorisedAbsence)
        }),
        Trigger::AttendanceBelow { counting, .. }
        | Trigger::AttendanceAtLeast { counting, .. }
        | Trigger::NoImprovement { counting, .. }
        | Trigger::Improved { counting, .. } => *counting == Counting::All,
        Trigger::Lateness { codes, .. } => codes.iter().any(|c| {
            MarkCode::parse_exact(c).and_then(|m| m.category())
                != Some(Category::UnauthorisedAbsence)
        }),
        Trigger::All(list) | Trigger::Any(list) => {
            list.iter().for_each(|t| authorised_absence_counted(t, out));
            false
        }
        Trigger::Held { trigger, .. } => {
            authorised_absence_counted(trigger, out);
            false
        }
        Trigger::FirstDay { .. }
        | Trigger::TooFewContacts { .. }
        | Trigger::Admitted { .. }
        | Trigger::Leaving { .. }
        | Trigger::MissingEducation { .. }
        | Trigger::PenaltyThreshold { .. }
        | Trigger::UnresolvedN { .. }
        | Trigger::Cohort(_)
        | Trigger::Not(_) => false,
    };
    if counts {
        out.push(t.word());
    }
}

fn unauthorised_fix(word: &str) -> &'static str {
    match word {
        "consecutive_absent_days" => "set unauthorised_only = true",
        "attendance_below" | "attendance_at_least" | "no_improvement" | "improved" => {
            "set counting = \"unauthorised\""
        }
        "lateness" => "count only U (late after the register closed)",
        "coded_sessions" => "count only G, N, O or U",
        _ => "use penalty_threshold, or a measure with counting = \"unauthorised\"",
    }
}

fn check_trigger(
    t: &Trigger,
    stage: &str,
    ids: &[&str],
    integration_weeks: u32,
    err: &mut impl FnMut(&str, &str, String),
) {
    let percent = |p: f64, err: &mut dyn FnMut(&str, &str, String)| {
        if !(0.0..=100.0).contains(&p) || p == 0.0 {
            err(
                stage,
                "trigger.percent",
                format!("{p} is not a percentage above 0 and at most 100"),
            );
        }
    };
    match t {
        Trigger::ConsecutiveAbsentDays { days, .. } | Trigger::AbsentDaysInTerm { days }
            if *days == 0 =>
        {
            err(stage, "trigger.days", "must be at least 1".into());
        }
        Trigger::AttendanceBelow { margin: m, .. } if !(0.0..10.0).contains(m) => {
            err(
                stage,
                "trigger.margin",
                format!("{m} is not a margin of 0 to under 10 percentage points"),
            );
        }
        Trigger::PreviousYearBelow { percent: p, .. } => percent(*p, err),
        Trigger::UnevidencedIllness {
            sessions,
            school_days,
            ..
        } if *sessions == 0 || *school_days == 0 => {
            err(
                stage,
                "trigger",
                "unevidenced_illness needs sessions and school_days of at least 1".into(),
            );
        }
        Trigger::FirstDay {
            last_day: Some(0), ..
        } => err(stage, "trigger.last_day", "must be at least 1".into()),
        Trigger::AttendanceBelow {
            percent: p,
            adjusted,
            ..
        }
        | Trigger::AttendanceAtLeast {
            percent: p,
            adjusted,
            ..
        } => {
            percent(*p, err);
            if *adjusted && integration_weeks == 0 {
                err(
                    stage,
                    "trigger.adjusted",
                    "adjusted attendance leaves out the integration period: set settings.integration_weeks (e.g. 6)".into(),
                );
            }
        }
        Trigger::PenaltyThreshold {
            sessions,
            weeks,
            codes,
            ..
        } => {
            if *sessions == 0 || *weeks == 0 {
                err(
                    stage,
                    "trigger",
                    "sessions and weeks must be at least 1".into(),
                );
            }
            check_codes(codes, stage, Some(Category::UnauthorisedAbsence), err);
        }
        Trigger::Lateness {
            sessions, codes, ..
        } => {
            if *sessions == 0 {
                err(stage, "trigger.sessions", "must be at least 1".into());
            }
            check_codes(codes, stage, None, err);
        }
        Trigger::AbsentSessions { sessions: 0, .. } => {
            err(stage, "trigger.sessions", "must be at least 1".into())
        }
        Trigger::CodedSessions {
            sessions, codes, ..
        } => {
            if *sessions == 0 {
                err(stage, "trigger.sessions", "must be at least 1".into());
            }
            if codes.is_empty() {
                err(
                    stage,
                    "trigger.codes",
                    "name at least one code, e.g. [\"R\"]".into(),
                );
            }
            check_codes(codes, stage, None, err);
        }
        Trigger::MissingEducation { school_days: 0 } => {
            err(stage, "trigger.school_days", "must be at least 1".into())
        }
        Trigger::PartTimeReview { school_weeks: 0 } => {
            err(stage, "trigger.school_weeks", "must be at least 1".into())
        }
        Trigger::WeekdayPattern { weeks, window } => {
            if *weeks < 2 {
                err(
                    stage,
                    "trigger.weeks",
                    "a pattern needs at least 2 weeks (one absence is not a pattern)".into(),
                );
            }
            if let Window::Weeks(n) = window
                && n < weeks
            {
                err(
                    stage,
                    "trigger.window",
                    format!("{n} school weeks cannot hold {weeks} different weeks"),
                );
            }
        }
        Trigger::Admitted {
            look_back_school_days: 0,
        }
        | Trigger::Leaving {
            look_back_school_days: 0,
        } => err(
            stage,
            "trigger.look_back_school_days",
            "must be at least 1".into(),
        ),
        Trigger::TooFewContacts { contacts: 0 } => {
            err(stage, "trigger.contacts", "must be at least 1".into())
        }
        Trigger::Illness { sessions: 0, .. } => {
            err(stage, "trigger.sessions", "must be at least 1".into())
        }
        Trigger::UnresolvedN { school_days: 0 } | Trigger::Held { school_days: 0, .. } => {
            err(stage, "trigger.school_days", "must be at least 1".into())
        }
        Trigger::PersistentAbsence {
            out_for_school_days: Some(0),
            ..
        }
        | Trigger::SevereAbsence {
            out_for_school_days: Some(0),
            ..
        } => err(
            stage,
            "trigger.out_for_school_days",
            "must be at least 1 (leave it out for once a school year)".into(),
        ),
        Trigger::NoImprovement {
            stage: s,
            percent: p,
            ..
        }
        | Trigger::Improved {
            stage: s,
            percent: p,
            ..
        } => {
            percent(*p, err);
            if !ids.contains(&s.as_str()) {
                err(
                    stage,
                    "trigger.stage",
                    format!("no stage \"{s}\"; stages are: {}", ids.join(", ")),
                );
            }
        }
        Trigger::Cohort(flags) => {
            if let Some(sen) = &flags.sen {
                for code in sen {
                    if !matches!(code.as_str(), "N" | "K" | "E") {
                        err(
                            stage,
                            "trigger.cohort.sen",
                            format!("\"{code}\" is not N, K or E"),
                        );
                    }
                }
            }
        }
        Trigger::All(list) | Trigger::Any(list) if list.is_empty() => {
            err(stage, "trigger", "an empty all/any list".into());
        }
        _ => {}
    }
}

fn check_codes(
    codes: &[String],
    stage: &str,
    category: Option<Category>,
    err: &mut impl FnMut(&str, &str, String),
) {
    for code in codes {
        match MarkCode::parse_exact(code).and_then(|c| c.category()) {
            None => err(
                stage,
                "trigger.codes",
                format!("\"{code}\" is not a DfE attendance code"),
            ),
            Some(found) if category.is_some_and(|c| c != found) => err(
                stage,
                "trigger.codes",
                format!(
                    "\"{code}\" is {}, not {}",
                    found.label(),
                    category.map_or("", |c| c.label())
                ),
            ),
            Some(_) => {}
        }
    }
}
