//! Each shipped policy walked through a small register: the stages fire in the order the
//! policy text describes, on the day they should and not before. The expected days are
//! worked out here from the calendar and the thresholds, not read off the engine.

mod support;

use rollcall::register::session::Session;
use support::{Walk, at, date, pupil};

const UPN: &str = support::UPN;

/// Present every school day from the start of term until `until` (exclusive).
fn present_until(walk: &mut Walk, until: chrono::NaiveDate) -> usize {
    let days = walk.school_days(date("2025-09-01"), until.pred_opt().expect("date"));
    for day in &days {
        walk.mark(0, *day, Session::Am, "/");
        walk.mark(0, *day, Session::Pm, "\\");
    }
    days.len()
}

#[test]
fn dfe_baseline_stage_ids_are_the_statutory_set() {
    let policy = support::load_policy("dfe-baseline");
    let ids: Vec<&str> = policy.stages.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "first_day",
            "day_three",
            "unresolved_n",
            "la_10_day_notice",
            "sickness_15_day_return",
            "penalty_notice_review",
            "persistent_absence",
            "severe_absence",
            "cme_enquiries",
            "cme_notice",
            "part_time_timetable",
            "part_time_review",
            "new_pupil",
            "deletion_notice"
        ]
    );
}

#[test]
fn dfe_baseline_ten_days_of_n_climb_the_ladder_in_order() {
    let mut walk = Walk::new("dfe-baseline", pupil(UPN, "4A", date("2025-09-01")));
    let d0 = date("2025-11-03");
    let present_days = present_until(&mut walk, d0);
    let days = walk.school_days(d0, date("2025-12-19"));
    let fired = walk.walk(d0, days[9], "09:45", |_| Some("N"));
    let on = |stage: &str| -> Vec<usize> {
        fired
            .iter()
            .filter(|(_, s)| s == stage)
            .map(|(d, _)| days.iter().position(|x| x == d).expect("a walked day"))
            .collect()
    };
    // A first-day text every morning of the absence.
    assert_eq!(on("first_day"), (0..10).collect::<Vec<_>>());
    // Third consecutive day.
    assert_eq!(on("day_three"), [2]);
    // The first N (day 0) is still N five school days later, on day 5; once per mark.
    assert_eq!(on("unresolved_n"), [5]);
    // 10 unauthorised sessions (2 a day) are reached on day 4 (sessions 9 and 10). By day 9
    // there are 10 more no review counted (day 4's afternoon, its register closing after the
    // 09:45 run, and two a day since), but the next review waits six school weeks.
    assert_eq!(on("penalty_notice_review"), [4]);
    // Ten school days of N: day 9.
    assert_eq!(on("la_10_day_notice"), [9]);
    // PA: absence ≥ 10 % of possible. After day k, absent = 2(k+1), possible = 2·present + absent.
    let present = 2 * present_days;
    let pa_day = (0..10)
        .find(|k| {
            let absent = 2 * (k + 1);
            absent * 10 >= present + absent
        })
        .expect("PA within ten days");
    assert_eq!(on("persistent_absence"), [pa_day]);
    assert!(on("severe_absence").is_empty());
    assert!(on("sickness_15_day_return").is_empty());

    // Penalty review and the LA return wait for a person.
    for stage in ["penalty_notice_review", "la_10_day_notice"] {
        let d = walk.decision(stage);
        assert!(d.requires_approval, "{stage}");
        assert!(d.actions.iter().all(|a| a.requires_approval), "{stage}");
    }
    let la = walk.decision("la_10_day_notice");
    assert_eq!(
        la.reason,
        format!("10 consecutive school days with every session G/N/O/U since {d0} (N×20)")
    );
    // The case opened at day three and climbed; it was never moved down by the LA return.
    let case = walk.cases[0].as_ref().expect("a case");
    assert_eq!(case.opened_on, days[2]);
    let highest = ["penalty_notice_review", "persistent_absence"]
        .into_iter()
        .max_by_key(|s| walk.policy.stages.iter().position(|x| x.id == *s))
        .expect("stage");
    assert_eq!(case.stage, highest);
}

#[test]
fn dfe_baseline_first_day_waits_for_register_close_and_grace() {
    let mut walk = Walk::new("dfe-baseline", pupil(UPN, "4A", date("2025-09-01")));
    let day = date("2025-11-04");
    present_until(&mut walk, day);
    // The AM register closes 09:30 and the policy allows 15 minutes' grace.
    assert!(walk.run(at(day, "09:44")).is_empty());
    // No mark at all counts as unexplained.
    assert_eq!(walk.run(at(day, "09:45")), ["first_day"]);
    let text = &walk.decision("first_day").actions[0];
    assert_eq!(text.recipient, "contact 1: Anne Lovelace (Mother)");
    assert_eq!(text.address.as_deref(), Some("+447700900001"));
    // Same morning again: nothing new.
    assert!(walk.run(at(day, "10:30")).is_empty());
    // A pupil marked present the next day gets nothing.
    let next = date("2025-11-05");
    walk.mark(0, next, Session::Am, "/");
    assert!(walk.run(at(next, "09:45")).is_empty());
}

#[test]
fn dfe_baseline_sickness_return_once_per_period_at_fifteen_days() {
    let mut walk = Walk::new("dfe-baseline", pupil(UPN, "4A", date("2025-09-01")));
    let d0 = date("2025-11-03");
    present_until(&mut walk, d0);
    let days = walk.school_days(d0, date("2026-02-27"));
    let fired = walk.walk(d0, days[16], "18:00", |_| Some("I"));
    let sick: Vec<usize> = fired
        .iter()
        .filter(|(_, s)| s == "sickness_15_day_return")
        .map(|(d, _)| days.iter().position(|x| x == d).expect("day"))
        .collect();
    // 30 sessions of I after 15 school days: day index 14, and once for the period.
    assert_eq!(sick, [14]);
    // Illness is a reason: no first-day text, no LA 10-day return, no penalty review.
    let stages: Vec<&str> = fired.iter().map(|(_, s)| s.as_str()).collect();
    for never in [
        "first_day",
        "la_10_day_notice",
        "penalty_notice_review",
        "unresolved_n",
    ] {
        assert!(
            !stages.contains(&never),
            "{never} fired for illness: {stages:?}"
        );
    }
    // The run that took the total to 30 has no return of its own besides the cumulative one,
    // and a day or two ill after a week back needs none (DOMAIN.md: once a school year).
    let back = days[17];
    let back_days = walk.school_days(back, days[21]);
    let _ = walk.walk(back, days[21], "18:00", |_| Some("/"));
    assert_eq!(back_days.len(), 5);
    let again = walk.walk(days[22], days[23], "18:00", |_| Some("I"));
    assert!(
        again.is_empty(),
        "a two-day illness after the return: {again:?}"
    );
    // A second unbroken run that reaches 30 sessions by itself is a new return, on its 15th day.
    let _ = walk.walk(days[24], days[25], "18:00", |_| Some("/"));
    let run = walk.walk(days[26], days[26 + 15], "18:00", |_| Some("I"));
    let returns: Vec<_> = run
        .iter()
        .filter(|(_, s)| s == "sickness_15_day_return")
        .map(|(d, _)| *d)
        .collect();
    assert_eq!(returns, [days[26 + 14]]);
    let anchors: Vec<&str> = walk
        .fired
        .iter()
        .filter(|d| d.stage == "sickness_15_day_return")
        .map(|d| d.anchor.as_str())
        .collect();
    assert_eq!(
        anchors,
        ["year-2025-total".to_owned(), days[26].to_string()]
    );
}

#[test]
fn dfe_baseline_new_episode_needs_a_new_la_return() {
    let mut walk = Walk::new("dfe-baseline", pupil(UPN, "4A", date("2025-09-01")));
    let d0 = date("2025-11-03");
    present_until(&mut walk, d0);
    let days = walk.school_days(d0, date("2025-12-19"));
    walk.walk(d0, days[9], "18:00", |_| Some("O"));
    walk.walk(days[10], days[10], "18:00", |_| Some("/"));
    let second = walk.walk(days[11], days[20], "18:00", |_| Some("G"));
    let la: Vec<_> = second
        .iter()
        .filter(|(_, s)| s == "la_10_day_notice")
        .collect();
    assert_eq!(la.len(), 1, "{second:?}");
    assert_eq!(la[0].0, days[20]);
    let returns: Vec<&str> = walk
        .fired
        .iter()
        .filter(|d| d.stage == "la_10_day_notice")
        .map(|d| d.anchor.as_str())
        .collect();
    assert_eq!(returns, [d0.to_string(), days[11].to_string()]);
}

/// The school days on which `stage` made a decision, as indexes into `days`.
fn fired_on(
    fired: &[(chrono::NaiveDate, String)],
    days: &[chrono::NaiveDate],
    stage: &str,
) -> Vec<usize> {
    fired
        .iter()
        .filter(|(_, s)| s == stage)
        .map(|(d, _)| days.iter().position(|x| x == d).expect("a walked day"))
        .collect()
}

#[test]
fn dfe_baseline_missing_education_enquiries_on_day_15_and_the_la_told_on_day_20() {
    let mut p = pupil(UPN, "4A", date("2025-09-01"));
    p.social_worker = true;
    let mut walk = Walk::new("dfe-baseline", p);
    let d0 = date("2025-11-03");
    present_until(&mut walk, d0);
    let days = walk.school_days(d0, date("2026-02-27"));
    // Each school day: the register says N in the morning, O (no reason given) in the
    // afternoon, U once a week (seen, but after the register closed: still unauthorised).
    // The run at 18:00, and a person approves what waits at the end of the day.
    let mut fired = Vec::new();
    for (i, day) in days.iter().take(23).enumerate() {
        walk.mark(0, *day, Session::Am, if i % 5 == 4 { "U" } else { "N" });
        walk.mark(0, *day, Session::Pm, "O");
        for stage in walk.run(at(*day, "18:00")) {
            fired.push((*day, stage));
        }
        walk.approve(*day);
    }
    // Day 15 of the run is index 14; day 20 is index 19; once each for the run.
    assert_eq!(fired_on(&fired, &days, "cme_enquiries"), [14]);
    assert_eq!(fired_on(&fired, &days, "cme_notice"), [19]);
    let enquiry = walk.decision("cme_enquiries");
    assert!(!enquiry.requires_approval);
    assert_eq!(enquiry.actions.len(), 1);
    assert_eq!(
        enquiry.actions[0].task,
        Some(rollcall::escalation::policy::TaskKind::Enquiry)
    );
    assert_eq!(
        enquiry.reason,
        format!(
            "15 school days in a row with every session G/N/O/U since {d0} (N×12, O×15, U×3): no reason from the family for 15 school days or more"
        )
    );
    // The LA's notice and the social worker's email wait for a person; neither moves the case.
    let notice = walk.decision("cme_notice");
    assert!(notice.requires_approval);
    assert!(notice.transition.is_none());
    let to: Vec<&str> = notice.actions.iter().map(|a| a.to.as_str()).collect();
    assert_eq!(to, ["la", "social_worker"]);
    assert!(notice.actions.iter().all(|a| a.requires_approval));
    // Nothing deletes the pupil: still on the roll, no leaving date, after the notice.
    assert!(walk.pupils[0].leaving_date.is_none());
    // Back at school for a day, then gone again: a new run, so new enquiries on its 15th day.
    let back = days[23];
    walk.mark(0, back, Session::Am, "/");
    walk.mark(0, back, Session::Pm, "\\");
    assert!(
        !walk
            .run(at(back, "18:00"))
            .contains(&"cme_enquiries".to_owned())
    );
    let again = walk.walk(days[24], days[24 + 14], "18:00", |_| Some("G"));
    assert_eq!(fired_on(&again, &days, "cme_enquiries"), [24 + 14]);
    assert!(fired_on(&again, &days, "cme_notice").is_empty());
}

#[test]
fn dfe_baseline_missing_education_is_not_illness_or_one_present_session() {
    let mut walk = Walk::new("dfe-baseline", pupil(UPN, "4A", date("2025-09-01")));
    let d0 = date("2025-11-03");
    present_until(&mut walk, d0);
    let days = walk.school_days(d0, date("2025-12-19"));
    // 25 school days off, but day 10's afternoon was I (ill): no run reaches 15 with every
    // session G/N/O/U (10 before, 14 after).
    let fired = walk.walk(d0, days[24], "18:00", |d| {
        Some(if d == days[10] { "I" } else { "N" })
    });
    assert!(
        fired_on(&fired, &days, "cme_enquiries").is_empty(),
        "{fired:?}"
    );
    assert!(fired_on(&fired, &days, "cme_notice").is_empty());
}

#[test]
fn dfe_baseline_part_time_timetable_tells_the_la_and_is_reviewed_every_six_school_weeks() {
    let mut walk = Walk::new("dfe-baseline", pupil(UPN, "4A", date("2025-09-01")));
    // Present until a Wednesday, then mornings in school and afternoons C2.
    let d0 = date("2025-11-05");
    present_until(&mut walk, d0);
    let end = date("2026-03-27");
    let days = walk.school_days(d0, end);
    let mut fired = Vec::new();
    for day in &days {
        walk.mark(0, *day, Session::Am, "/");
        walk.mark(0, *day, Session::Pm, "C2");
        for stage in walk.run(at(*day, "18:00")) {
            fired.push((*day, stage));
        }
    }
    // The LA hears once, the day C2 first appears.
    assert_eq!(fired_on(&fired, &days, "part_time_timetable"), [0]);
    let told = walk.decision("part_time_timetable");
    assert!(!told.requires_approval);
    assert_eq!(told.actions[0].to.as_str(), "la");
    assert!(
        told.reason
            .starts_with(&format!("on a part-time timetable (C2) since {d0}"))
    );
    // School weeks (weeks with a school day) from the one C2 began in; review k is due on the
    // first school day of school week 6k (the Christmas holiday is no school week).
    let mut weeks: Vec<chrono::NaiveDate> = Vec::new();
    let mut first_day_of_week: Vec<usize> = Vec::new();
    for (i, day) in days.iter().enumerate() {
        let monday = *day
            - chrono::Duration::days(i64::from(
                chrono::Datelike::weekday(day).num_days_from_monday(),
            ));
        if weeks.last() != Some(&monday) {
            weeks.push(monday);
            first_day_of_week.push(i);
        }
    }
    let expected: Vec<usize> = (1..)
        .map(|k| 6 * k)
        .take_while(|w| *w < weeks.len())
        .map(|w| first_day_of_week[w])
        .collect();
    assert!(expected.len() >= 2, "the walk covers two reviews");
    assert_eq!(fired_on(&fired, &days, "part_time_review"), expected);
    let first_review = walk.decision("part_time_review");
    assert_eq!(first_review.anchor, format!("{d0}-review-1"));
    assert!(first_review.actions.iter().all(|a| a.task.is_some()));

    // Full time again for a whole school week: the timetable has ended, no review falls due;
    // C2 after that is a new timetable, and the LA is told again.
    let after = walk.school_days(date("2026-04-13"), date("2026-05-22"));
    let mut later = Vec::new();
    for (i, day) in after.iter().enumerate() {
        walk.mark(0, *day, Session::Am, "/");
        walk.mark(
            0,
            *day,
            Session::Pm,
            if (5..10).contains(&i) { "\\" } else { "C2" },
        );
        for stage in walk.run(at(*day, "18:00")) {
            later.push((*day, stage));
        }
    }
    assert_eq!(
        fired_on(&later, &after, "part_time_timetable"),
        [10],
        "{later:?}"
    );
}

#[test]
fn dfe_baseline_a_new_pupil_is_told_to_the_la_on_the_first_run_that_shows_them() {
    // Admitted on Wednesday 12 November; in school every day.
    let admitted = date("2025-11-12");
    let mut walk = Walk::new("dfe-baseline", pupil(UPN, "4A", admitted));
    let days = walk.school_days(admitted, date("2025-12-19"));
    let fired = walk.walk(admitted, days[9], "18:00", |_| Some("/"));
    assert_eq!(fired_on(&fired, &days, "new_pupil"), [0]);
    let d = walk.decision("new_pupil");
    assert!(!d.requires_approval, "the school itself entered the pupil");
    assert_eq!(d.actions.len(), 1);
    assert_eq!(d.actions[0].to.as_str(), "la");
    // Within 5 school days of entry: the admission day and four more.
    assert_eq!(
        d.reason,
        format!(
            "admitted on {admitted}: a new entry to the admission register; the LA must hear within 5 school days, by {}",
            days[4]
        )
    );
    assert_eq!(d.anchor, admitted.to_string());

    // The year's intake (the first school week, a staggered start on Wednesday included) is
    // the roll at the start of the year, not new entries.
    for start in ["2025-09-01", "2025-09-03"] {
        let mut walk = Walk::new("dfe-baseline", pupil(UPN, "R1", date(start)));
        let fired = walk.walk(date(start), date("2025-09-30"), "18:00", |_| Some("/"));
        assert!(
            !fired.iter().any(|(_, s)| s == "new_pupil"),
            "{start}: {fired:?}"
        );
    }

    // A school starting with rollcall on 3 November: a pupil admitted on 20 October (five
    // school days before half term, so six school days ago) is told; one admitted on 15
    // September (more than 20 school days ago) is taken as already reported.
    let first_run = date("2025-11-03");
    for (admitted, told) in [("2025-10-20", true), ("2025-09-15", false)] {
        let mut walk = Walk::new("dfe-baseline", pupil(UPN, "4A", date(admitted)));
        let back = walk.school_days(date(admitted), first_run).len();
        assert_eq!(back <= 20, told, "{admitted}: {back} school days");
        present_until(&mut walk, first_run);
        let fired = walk.run(at(first_run, "18:00"));
        assert_eq!(fired.contains(&"new_pupil".to_owned()), told, "{admitted}");
    }
}

#[test]
fn dfe_baseline_a_deletion_waits_for_a_person_on_the_leaving_date_and_nothing_else_follows() {
    let mut p = pupil(UPN, "4A", date("2025-09-01"));
    p.social_worker = true;
    let mut walk = Walk::new("dfe-baseline", p);
    let d0 = date("2025-11-10");
    present_until(&mut walk, d0);
    let days = walk.school_days(d0, date("2025-12-19"));
    // The MIS export of Monday 10 November records Friday 14 November as the leaving date.
    walk.pupils[0].leaving_date = Some(days[4]);
    let mut fired = Vec::new();
    for day in &days[..10] {
        if *day <= days[4] {
            walk.mark(0, *day, Session::Am, "/");
            walk.mark(0, *day, Session::Pm, "\\");
        }
        for stage in walk.run(at(*day, "09:45")) {
            fired.push((*day, stage));
        }
        for stage in walk.run(at(*day, "18:00")) {
            fired.push((*day, stage));
        }
    }
    // Due on the leaving date, not before; once; nothing about the pupil after it (no
    // first-day text for a pupil no longer on roll).
    assert_eq!(fired, [(days[4], "deletion_notice".to_owned())]);
    let d = walk.decision("deletion_notice");
    assert!(d.requires_approval);
    let to: Vec<&str> = d.actions.iter().map(|a| a.to.as_str()).collect();
    assert_eq!(to, ["la", "social_worker"]);
    assert_eq!(
        d.reason,
        format!(
            "the register records {} as the leaving date: the name is to be deleted from the roll, and the LA must hear before it is",
            days[4]
        )
    );

    // A leaving date the school records late (the export of Wednesday 19 November says the
    // pupil left on Friday 14th): the notice is due at the first run that shows it.
    let mut walk = Walk::new("dfe-baseline", pupil(UPN, "4A", date("2025-09-01")));
    present_until(&mut walk, days[7]);
    walk.pupils[0].leaving_date = Some(days[4]);
    assert_eq!(walk.run(at(days[7], "09:45")), ["deletion_notice"]);
    assert!(walk.run(at(days[8], "09:45")).is_empty());
}

/// Issue 16: a parent's reply, confirmed before the register closes, answers the first-day and
/// day-three contact with the family for the days it explains, never what a stage tells staff:
/// a pupil with a social worker is still reported to the social worker. A reply about Monday
/// does not answer a run that goes on to Wednesday.
#[test]
fn dfe_baseline_a_confirmed_reply_stops_the_family_contact_and_never_the_social_worker() {
    let mut p = pupil(UPN, "4A", date("2025-09-01"));
    p.social_worker = true;
    let mut walk = Walk::new("dfe-baseline", p);
    let monday = date("2025-11-03");
    present_until(&mut walk, monday);
    // The mother texted at 07:50 that he is ill today; the office confirmed it at 08:30.
    walk.explained[0] = vec![(monday, Session::Am), (monday, Session::Pm)];
    walk.mark(0, monday, Session::Am, "N");
    assert_eq!(walk.run(at(monday, "09:45")), ["first_day"]);
    let first_day = walk.decision("first_day");
    let to: Vec<&str> = first_day
        .actions
        .iter()
        .map(|a| a.recipient.as_str())
        .collect();
    assert_eq!(to, ["social_worker"], "no text or call to the family");
    // Tuesday and Wednesday unexplained: the family is contacted each day, and on Wednesday
    // the run that began on Monday reaches day three: Monday's reply does not answer it.
    let tuesday = date("2025-11-04");
    let wednesday = date("2025-11-05");
    walk.mark(0, monday, Session::Pm, "N");
    walk.mark_days(tuesday, wednesday, "N");
    assert_eq!(walk.run(at(tuesday, "09:45")), ["first_day"]);
    assert_eq!(walk.run(at(wednesday, "09:45")), ["first_day", "day_three"]);
    let day_three = walk.decision("day_three");
    assert!(
        day_three.actions.iter().any(|a| a.to.is_family()),
        "the day-three contact goes: {:?}",
        day_three.actions
    );
}
