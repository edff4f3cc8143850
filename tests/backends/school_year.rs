//! Issue 11: the ladders over a whole school year. Each test walks a small school through the
//! days it describes with the real daemon on a simulated clock (registers dropped into the
//! inbox before each close, every scheduled run, a person deciding at the end of each day),
//! and checks what a family, the LA or the attendance officer would see. Every test runs on
//! SQLite and, with `ROLLCALL_TEST_POSTGRES_URL`, on PostgreSQL.

use std::path::Path;

use anyhow::{Result, ensure};
use chrono::{Datelike, NaiveDate};
use rollcall::register::store::Store;

use super::walk::{self, UPNS, Walk, d, pupil, t};

/// Defect 3: a pupil late after the register closes every Friday afternoon reaches the
/// penalty-notice threshold (10 unauthorised sessions in 10 school weeks) on the tenth such
/// Friday. The rolling count then dips each Monday and is back each Friday, but the next review
/// needs 10 sessions no earlier review counted: none more this term. A pupil absent every day
/// has 10 new sessions a week, but the next review waits the policy's six school weeks. And a
/// review whose sessions are recoded (N to I) before anyone decides is withdrawn with the reason.
pub async fn penalty_reviews_count_each_session_once(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let pupils = [
        pupil(UPNS[0], "3A"),
        pupil(UPNS[1], "3A"),
        pupil(UPNS[2], "3B"),
    ];
    let mut w = Walk::new(
        store,
        dir,
        "dfe-baseline",
        ("09:30", "13:45"),
        &pupils,
        d("2025-09-01"),
    )
    .await?;
    // Pupil 2 is absent without a reason every day from 8 September.
    w.plan(2, d("2025-09-08"), d("2025-12-19"), |_| Some(["O", "O"]));
    // The person looking at approvals leaves pupil 1's review for a few days.
    let upn1 = UPNS[1];
    w.approver = Box::new(move |waiting, day| {
        let about_1 = waiting.about.iter().any(|(upn, _, _)| upn == upn1);
        (!about_1 || day >= d("2025-11-20")).then_some(rollcall::delivery::outbox::Verdict::Approve)
    });
    let term_end = d("2025-12-19");
    w.plan(0, d("2025-09-01"), term_end, |day| {
        (day.weekday() == chrono::Weekday::Fri).then_some(["/", "U"])
    });
    // Pupil 1: five school days of N (10 sessions), then back; three days later the office
    // recodes the first two days to I.
    let n_days = w.school_days(d("2025-11-10"), d("2025-11-14"));
    w.plan(1, n_days[0], n_days[4], |_| Some(["N", "N"]));
    for day in &n_days[..2] {
        w.recode(
            d("2025-11-19").and_time(t("10:30")),
            1,
            *day,
            [Some("I"), Some("I")],
        );
    }
    w.walk_to(term_end).await?;

    // The tenth Friday with a U: ten sessions in the ten school weeks up to it.
    let fridays: Vec<NaiveDate> = w
        .school_days(d("2025-09-01"), term_end)
        .into_iter()
        .filter(|d| d.weekday() == chrono::Weekday::Fri)
        .collect();
    let tenth = fridays[9];
    let window_start = w
        .school
        .calendar
        .school_weeks_window_start(tenth, 10)
        .expect("ten school weeks");
    ensure!(
        fridays
            .iter()
            .filter(|f| **f >= window_start && **f <= tenth)
            .count()
            == 10
    );
    let reviews = w.days_of(0, "penalty_notice_review").await?;
    ensure!(reviews == [tenth], "one review, on {tenth}: {reviews:?}");
    // The rolling count is still at 10 every Friday after that (one U in, one out).
    for friday in fridays.iter().filter(|f| **f > tenth) {
        let from = w
            .school
            .calendar
            .school_weeks_window_start(*friday, 10)
            .expect("weeks");
        let count = fridays
            .iter()
            .filter(|f| **f >= from && *f <= friday)
            .count();
        ensure!(count >= 10, "{friday}: {count}");
    }

    // Pupil 2: the first review after the fifth day's afternoon register (10 sessions); each
    // later one waits six school weeks wholly after the last review's week (the policy's
    // rest), by when far more than 10 new sessions have built up: the first school day of the
    // sixth such week, at the first run.
    let days = w.school_days(d("2025-09-08"), term_end);
    let mut expected = vec![days[4].and_time(t("14:00"))];
    loop {
        let last = expected.last().expect("a review").date();
        let mut weeks: Vec<NaiveDate> = w
            .school_days(last, term_end)
            .into_iter()
            .map(rollcall::register::session::monday_of)
            .filter(|m| *m > rollcall::register::session::monday_of(last))
            .collect();
        weeks.dedup();
        let Some(sixth) = weeks.get(5) else { break };
        let first_day = w.school_days(*sixth, term_end)[0];
        expected.push(first_day.and_time(t("09:45")));
    }
    let reviews: Vec<_> = w
        .decisions(2)
        .await?
        .into_iter()
        .filter(|r| r.stage == "penalty_notice_review")
        .map(|r| r.at)
        .collect();
    ensure!(reviews == expected, "{reviews:?}, expected {expected:?}");
    ensure!(
        expected.len() == 3,
        "three in the autumn term: {expected:?}"
    );

    // Pupil 1: the review on the fifth day, after the afternoon register; withdrawn at the
    // first run after the recode, since only six unauthorised sessions remain.
    let review = w.decisions(1).await?;
    let review: Vec<_> = review
        .iter()
        .filter(|r| r.stage == "penalty_notice_review")
        .collect();
    ensure!(review.len() == 1, "{review:?}");
    ensure!(
        review[0].at == n_days[4].and_time(t("14:00")),
        "{:?}",
        review[0]
    );
    let withdrawn = review[0].withdrawn.as_deref().unwrap_or_default();
    ensure!(
        withdrawn.starts_with("cause gone: re-read at 2025-11-19 11:00"),
        "{withdrawn}"
    );
    let messages = w.messages(1, "penalty_notice_review").await?;
    ensure!(!messages.is_empty());
    for m in &messages {
        ensure!(m.status == "cancelled", "{m:?}");
        ensure!(m.cancelled_reason.as_deref() == Some(withdrawn), "{m:?}");
    }
    Ok(())
}

/// Defect 2: the LA's sickness return (DOMAIN.md). Pupil 0 is off sick every Thursday, then for
/// seven days in November (the year's total reaches 30 sessions on the seventh), then on odd
/// days again, then for fifteen unbroken days: one cumulative return when the total reached
/// 30, one for the fifteen-day run, none for the short spells. Pupil 1's last three days
/// of absence are `N` until the office recodes them to `I` after the pupil is back: the return
/// comes at the next run, though the pupil is in school that day.
pub async fn sickness_returns_once_a_year_and_for_each_long_run(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let pupils = [pupil(UPNS[0], "3A"), pupil(UPNS[1], "3A")];
    let mut w = Walk::new(
        store,
        dir,
        "dfe-baseline",
        ("09:30", "13:45"),
        &pupils,
        d("2025-09-01"),
    )
    .await?;
    let end = d("2025-12-19");
    let thursday = |day: NaiveDate| day.weekday() == chrono::Weekday::Thu;
    w.plan(0, d("2025-09-01"), d("2025-10-24"), |day| {
        thursday(day).then_some(["I", "I"])
    });
    let november = w.school_days(d("2025-11-03"), d("2025-11-11"));
    w.plan(0, november[0], november[6], |_| Some(["I", "I"]));
    w.plan(0, d("2025-11-12"), d("2025-11-21"), |day| {
        thursday(day).then_some(["I", "I"])
    });
    let long_run = w.school_days(d("2025-11-24"), end);
    let long_run = &long_run[..15];
    w.plan(0, long_run[0], long_run[14], |_| Some(["I", "I"]));

    w.plan(1, d("2025-09-08"), d("2025-09-23"), |_| Some(["I", "I"]));
    let unexplained = w.school_days(d("2025-11-17"), d("2025-11-19"));
    w.plan(1, unexplained[0], unexplained[2], |_| Some(["N", "N"]));
    for day in &unexplained {
        w.recode(
            d("2025-11-25").and_time(t("10:30")),
            1,
            *day,
            [Some("I"), Some("I")],
        );
    }
    w.walk_to(end).await?;

    // The day each pupil's year total of I reaches 30 sessions, and each unbroken run of 30 or
    // more, from the final register.
    let reached = |pupil: usize| -> Option<NaiveDate> {
        w.running(pupil, d("2025-09-01"), end)
            .iter()
            .find(|r| r.illness >= 30)
            .map(|r| r.day)
    };
    ensure!(reached(0) == Some(november[6]), "{:?}", reached(0));
    ensure!(reached(1) == Some(unexplained[2]), "{:?}", reached(1));

    let returns = |rows: Vec<walk::DecisionRow>| -> Vec<(NaiveDate, String)> {
        rows.into_iter()
            .filter(|r| r.stage == "sickness_15_day_return")
            .map(|r| (r.at.date(), r.anchor))
            .collect()
    };
    // Pupil 0: the total, on the seventh day of the November run (its 30th session is that
    // afternoon); the fifteen-day run on its fifteenth day. Thursdays after the total: nothing.
    let got = returns(w.decisions(0).await?);
    ensure!(
        got == [
            (november[6], "year-2025-total".to_owned()),
            (long_run[14], long_run[0].to_string())
        ],
        "{got:?}"
    );
    // Pupil 1: at the first run after the recode (11:00), the pupil present that day.
    let rows = w.decisions(1).await?;
    let sick: Vec<_> = rows
        .iter()
        .filter(|r| r.stage == "sickness_15_day_return")
        .collect();
    ensure!(sick.len() == 1, "{sick:?}");
    ensure!(
        sick[0].at == d("2025-11-25").and_time(t("11:00")),
        "{:?}",
        sick[0]
    );
    ensure!(
        sick[0]
            .reason
            .contains(&format!("the total reached 30 on {}", unexplained[2])),
        "{}",
        sick[0].reason
    );
    // Each went to the LA once a person approved it.
    for pupil in [0, 1] {
        for m in w.messages(pupil, "sickness_15_day_return").await? {
            ensure!(m.channel == "la_return" && m.status == "delivered", "{m:?}");
        }
    }
    Ok(())
}

/// Defects 4 and 5 at James Marks Academy. "If attendance deteriorates following the above
/// actions" is measured from the school day after the absence that led to the call and meeting
/// ended: pupils 0 (unauthorised) and 1 (ill) are off for three weeks in November, then in
/// every day, and get neither the LA's support nor a legal-sanctions review. Pupils 2 (ill) and
/// 3 (unauthorised) are off every Monday and Tuesday: both get the LA's support four weeks
/// after the meeting, but only pupil 3's absence is a legal matter.
pub async fn what_the_school_did_is_judged_after_the_absence_and_illness_is_never_legal(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let pupils = [
        pupil(UPNS[0], "3A"),
        pupil(UPNS[1], "3A"),
        pupil(UPNS[2], "3B"),
        pupil(UPNS[3], "3B"),
    ];
    let mut w = Walk::new(
        store,
        dir,
        "james-marks-academy",
        ("10:00", "13:45"),
        &pupils,
        d("2025-09-01"),
    )
    .await?;
    let end = d("2025-12-19");
    let (absence_from, absence_to) = (d("2025-11-03"), d("2025-11-21"));
    w.plan(0, absence_from, absence_to, |_| Some(["O", "O"]));
    w.plan(1, absence_from, absence_to, |_| Some(["I", "I"]));
    let integrated = d("2025-10-13");
    let mon_tue =
        |day: NaiveDate| matches!(day.weekday(), chrono::Weekday::Mon | chrono::Weekday::Tue);
    w.plan(2, integrated, end, |day| mon_tue(day).then_some(["I", "I"]));
    w.plan(3, integrated, end, |day| mon_tue(day).then_some(["O", "O"]));
    w.walk_to(end).await?;

    // Adjusted attendance counts from the first school day after six school weeks (L44):
    // the contact and meeting come when 40 such sessions are below 95 %.
    let contact = |pupil: usize| -> Option<NaiveDate> {
        w.running(pupil, integrated, end)
            .iter()
            .find(|r| r.possible >= 40 && 100 * r.attended < 95 * r.possible)
            .map(|r| r.day)
    };
    for pupil in 0..4 {
        let expected = contact(pupil).expect("below 95 % in the autumn");
        let got = w.days_of(pupil, "below_95_adjusted").await?;
        ensure!(
            got == [expected],
            "pupil {pupil}: {got:?}, expected {expected}"
        );
    }
    for pupil in [0, 1] {
        // Back every day since 24 November: four weeks of 100 % by the end of term.
        let from = w.acted_from(pupil, contact(pupil).expect("contact"));
        ensure!(from == d("2025-11-24"), "{from}");
        for stage in ["la_support", "legal_sanctions_review"] {
            let got = w.days_of(pupil, stage).await?;
            ensure!(got.is_empty(), "pupil {pupil} {stage}: {got:?}");
        }
    }
    for pupil in [2, 3] {
        let from = w.acted_from(pupil, contact(pupil).expect("contact"));
        let twentieth = w.school_day(from, 19);
        let got = w.days_of(pupil, "la_support").await?;
        ensure!(
            got == [twentieth],
            "pupil {pupil}: {got:?}, expected {twentieth}"
        );
        ensure!(
            w.case(pupil).await?.map(|c| c.0).as_deref() == Some("la_support"),
            "approved at the end of the day, the case moves"
        );
    }
    ensure!(w.days_of(2, "legal_sanctions_review").await?.is_empty());
    let from = w.acted_from(3, contact(3).expect("contact"));
    ensure!(w.days_of(3, "legal_sanctions_review").await? == [w.school_day(from, 19)]);
    Ok(())
}

/// Defect 1 at the Inspire trust: a final written warning waits for a person. Its own trigger
/// reads the case (four weeks in "four_week_monitoring"), so the case it would move must not
/// cancel it: it waits (the attendance officer reminded after three school days) until
/// approved, and the case reaches "final_warning" that day, so the penalty-notice review
/// follows four weeks after the warning went. A rejected warning moves nothing, and no review
/// follows a warning that was never sent.
pub async fn an_approval_waits_for_its_person_and_moves_the_case_when_given(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let pupils = [pupil(UPNS[0], "3A"), pupil(UPNS[1], "3B")];
    let mut w = Walk::new(
        store,
        dir,
        "inspire-trust",
        ("09:30", "14:00"),
        &pupils,
        d("2025-09-01"),
    )
    .await?;
    let end = d("2026-02-13");
    for p in [0, 1] {
        w.plan(p, d("2025-09-08"), end, |day| {
            matches!(day.weekday(), chrono::Weekday::Mon | chrono::Weekday::Tue)
                .then_some(["O", "O"])
        });
    }
    // The person approves everything at once, except the final warnings: pupil 0's on the
    // fourth school day after it was decided, pupil 1's rejected the day it came.
    let calendar = w.school.calendar.clone();
    let (upn0, upn1) = (UPNS[0], UPNS[1]);
    let mut first_seen: std::collections::HashMap<i64, NaiveDate> = Default::default();
    w.approver = Box::new(move |waiting, day| {
        use rollcall::delivery::outbox::Verdict;
        if !waiting
            .about
            .iter()
            .any(|(_, stage, _)| stage == "final_warning")
        {
            return Some(Verdict::Approve);
        }
        let seen = *first_seen.entry(waiting.id).or_insert(day);
        let about = |upn: &str| waiting.about.iter().any(|(u, _, _)| u == upn);
        if about(upn1) {
            return Some(Verdict::Reject {
                reason: "a support plan was agreed with the family instead",
            });
        }
        let waited = calendar.school_days_between(seen.succ_opt()?, day).len();
        (about(upn0) && waited >= 4).then_some(Verdict::Approve)
    });
    w.walk_to(end).await?;

    // Pupil 0: the warning's letter waited four school days and was then sent, never cancelled.
    let warning = w.days_of(0, "final_warning").await?;
    ensure!(warning.len() == 1, "{warning:?}");
    let decided = warning[0];
    let approved = w.school_day(decided, 4);
    let letters = w.messages(0, "final_warning").await?;
    ensure!(
        letters.len() == 1 && letters[0].channel == "letter",
        "{letters:?}"
    );
    ensure!(letters[0].status == "delivered", "{:?}", letters[0]);
    ensure!(letters[0].template == "inspire_final_written_warning");
    ensure!(letters[0].decided_by.as_deref() == Some("Jo Bloggs (Attendance Officer)"));
    let events = w.events(letters[0].id).await?;
    let names: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    ensure!(!names.contains(&"cancelled"), "{events:?}");
    let approval = events.iter().find(|e| e.1 == "approved").expect("approved");
    ensure!(
        approval.0.starts_with(&approved.to_string()),
        "{approval:?}"
    );
    ensure!(approval.2 == "Jo Bloggs (Attendance Officer)");
    // Reminded after three school days of waiting.
    let reminders = w
        .alerts(&format!("approval-reminder/{}/", letters[0].id))
        .await?;
    ensure!(reminders.len() == 1, "{reminders:?}");
    ensure!(
        reminders[0]
            .2
            .starts_with(&w.school_day(decided, 3).to_string()),
        "{reminders:?}"
    );
    ensure!(
        reminders[0]
            .1
            .contains(&format!("final_warning for {upn0}")),
        "{reminders:?}"
    );
    // The case reached the warning's stage the day it was approved, not the day it was decided.
    let moves = w.transitions(0).await?;
    let to_warning = moves
        .iter()
        .find(|m| m.2.as_deref() == Some("final_warning"))
        .expect("the case moved to the warning");
    ensure!(
        to_warning.0.starts_with(&approved.to_string()),
        "{to_warning:?}"
    );
    ensure!(to_warning.1.as_deref() == Some("four_week_monitoring"));
    // Four school weeks after the warning went (counted from the day after it, or after the
    // Monday and Tuesday off then), no improvement: the penalty-notice review.
    let review = w.school_day(w.acted_from(0, approved), 19);
    let got = w.days_of(0, "penalty_review").await?;
    ensure!(got == [review], "{got:?}, expected {review}");

    // Pupil 1: rejected; the case stays where it was and no review follows.
    ensure!(w.days_of(1, "final_warning").await?.len() == 1);
    let rejected = w.messages(1, "final_warning").await?;
    ensure!(
        rejected.iter().all(|m| m.status == "cancelled"),
        "{rejected:?}"
    );
    let rows = w.decisions(1).await?;
    let decision = rows
        .iter()
        .find(|r| r.stage == "final_warning")
        .expect("decided");
    ensure!(
        decision.transition.as_deref() == Some("dropped"),
        "{decision:?}"
    );
    ensure!(
        w.school_days(decision.at.date(), end).len() > 25,
        "the walk goes on long enough for a review to have come"
    );
    ensure!(w.days_of(1, "penalty_review").await?.is_empty());
    ensure!(
        w.case(1).await?.map(|c| c.0).as_deref() == Some("four_week_monitoring"),
        "{:?}",
        w.case(1).await?
    );
    Ok(())
}

/// Defect 6: on a school run daily a case moves at most one step a day. Inspire: a pupil first
/// judged (at 60 sessions) below 90 % has the talk, then the concern letter, then the
/// monitoring letter, a school day apart. James Marks: a case opened by the second day without
/// a reason does not also climb to the adjusted-attendance contact that day. Russell Street: an
/// ill pupil's Stage Three meeting is never followed by Stage Four the same day; here never at
/// all, since the pupil is back and attending after the meeting.
pub async fn a_case_moves_one_step_a_school_day(store: Store, dir: &'static Path) -> Result<()> {
    // Inspire.
    let mut w = Walk::new(
        store.clone(),
        dir,
        "inspire-trust",
        ("09:30", "14:00"),
        &[pupil(UPNS[0], "3A")],
        d("2025-09-01"),
    )
    .await?;
    let end = d("2025-10-24");
    w.plan(0, d("2025-09-08"), end, |day| {
        matches!(day.weekday(), chrono::Weekday::Mon | chrono::Weekday::Tue).then_some(["O", "O"])
    });
    w.walk_to(end).await?;
    // The first school day ending with 60 possible sessions, below 90 % (60 % here).
    let judged = w
        .running(0, d("2025-09-01"), end)
        .iter()
        .find(|r| r.possible >= 60)
        .map(|r| r.day)
        .expect("60 sessions");
    let talk = w.days_of(0, "talk_and_call").await?;
    let concern = w.days_of(0, "concern_letter").await?;
    let monitoring = w.days_of(0, "monitoring").await?;
    // 60 sessions are reached at that day's afternoon register (14:00 run), or at the morning
    // one if the day before ended on 59: either way that day.
    ensure!(talk == [judged], "{talk:?}, expected {judged}");
    ensure!(concern == [w.school_day(judged, 1)], "{concern:?}");
    ensure!(monitoring == [w.school_day(judged, 2)], "{monitoring:?}");
    ensure!(w.most_family_messages_in_a_day().await? == 1);

    // James Marks Academy: integrated from 13 October, present 20 school days (40 sessions,
    // half term between), then no reason on Monday and Tuesday 17 and 18 November.
    let mut w = Walk::new(
        store.clone(),
        dir,
        "james-marks-academy",
        ("10:00", "13:45"),
        &[pupil(UPNS[1], "3A")],
        d("2025-09-01"),
    )
    .await?;
    ensure!(w.school_days(d("2025-10-13"), d("2025-11-14")).len() == 20);
    w.plan(0, d("2025-11-17"), d("2025-11-18"), |_| Some(["N", "N"]));
    w.walk_to(d("2025-11-21")).await?;
    // At 10:15 on the 18th both the second day without a reason and adjusted attendance of
    // 40 of 43 (93 %) hold; the case opens with the first and takes the second the next
    // school day.
    ensure!(w.days_of(0, "parents_unreachable").await? == [d("2025-11-18")]);
    ensure!(w.days_of(0, "below_95_adjusted").await? == [d("2025-11-19")]);

    // Russell Street: ill from Monday 3 November for twelve school days, then back.
    let mut w = Walk::new(
        store,
        dir,
        "russell-street-school",
        ("09:00", "13:45"),
        &[pupil(UPNS[2], "R1")],
        d("2025-09-01"),
    )
    .await?;
    let ill = w.school_days(d("2025-11-03"), d("2025-11-18"));
    ensure!(ill.len() == 12);
    w.plan(0, ill[0], ill[11], |_| Some(["I", "I"]));
    w.walk_to(d("2025-12-19")).await?;
    ensure!(w.days_of(0, "stage_two").await? == [ill[2]]);
    // Week two of absence (the sixth day), or the year's attendance "close to 96.5 %" (below
    // it with 60 sessions to judge, or below 97 % with 70), whichever comes first: after 38
    // days present, the second day ill already puts an infant at 76 of 80 (95 %).
    let below_target = w
        .running(0, d("2025-09-01"), ill[11])
        .iter()
        .find(|r| {
            (r.possible >= 60 && 1000 * r.attended < 965 * r.possible)
                || (r.possible >= 70 && 1000 * r.attended < 970 * r.possible)
        })
        .map(|r| r.day);
    let three = below_target.map_or(ill[5], |b| b.min(ill[5]));
    ensure!(
        w.days_of(0, "stage_three").await? == [three],
        "expected {three}"
    );
    // The contract waits for the meeting's strategies to have had two weeks from the day the
    // pupil was back; attending every day since, there is none.
    ensure!(w.days_of(0, "stage_four").await?.is_empty());
    Ok(())
}

/// Defect 6's exception: a school that installs rollcall at half term imports the register so
/// far; the first run finds an Inspire pupil at 60 % and climbs the talk, the concern letter
/// and the monitoring letter at once, each step with its reason, but the family gets one
/// letter (the monitoring letter), not two.
pub async fn catching_up_climbs_at_once_with_one_letter(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let start = d("2025-11-03");
    let mut w = Walk::new(
        store,
        dir,
        "inspire-trust",
        ("09:30", "14:00"),
        &[pupil(UPNS[0], "3A")],
        start,
    )
    .await?;
    w.plan(0, d("2025-09-08"), d("2025-12-19"), |day| {
        matches!(day.weekday(), chrono::Weekday::Mon | chrono::Weekday::Tue).then_some(["O", "O"])
    });
    w.import_history(d("2025-10-24")).await?;
    w.walk_to(start).await?;
    let rows = w.decisions(0).await?;
    let first_run = start.and_time(t("09:45"));
    let climbed: Vec<&str> = rows
        .iter()
        .filter(|r| r.at == first_run)
        .map(|r| r.stage.as_str())
        .filter(|s| ["talk_and_call", "concern_letter", "monitoring"].contains(s))
        .collect();
    ensure!(
        climbed == ["talk_and_call", "concern_letter", "monitoring"],
        "{climbed:?}"
    );
    let concern = rows
        .iter()
        .find(|r| r.stage == "concern_letter")
        .expect("decided");
    ensure!(
        concern
            .reason
            .contains("the family hears only from the last one"),
        "{}",
        concern.reason
    );
    ensure!(w.messages(0, "concern_letter").await?.is_empty());
    let letters = w.messages(0, "monitoring").await?;
    ensure!(
        letters.iter().filter(|m| m.channel == "letter").count() == 1,
        "{letters:?}"
    );
    // The request for a signed letter about the term's absences (more than 10 days, L211) is
    // decided in the same run, but its letter waits a school day: one envelope a day.
    let term_sessions = w
        .marks(0, d("2025-09-03"), start)
        .iter()
        .flat_map(|(_, c)| c.iter())
        .filter(|c| walk::is_absence(c))
        .count();
    ensure!(term_sessions > 20);
    ensure!(w.days_of(0, "signed_letter_term").await? == [start]);
    w.walk_to(w.school_day(start, 1)).await?;
    let signed = w.messages(0, "signed_letter_term").await?;
    ensure!(
        signed.len() == 1 && signed[0].status == "delivered",
        "{signed:?}"
    );
    ensure!(w.most_family_messages_in_a_day().await? == 1);
    ensure!(w.case(0).await?.map(|c| c.0).as_deref() == Some("monitoring"));
    Ok(())
}

/// Defect 7: Inspire's case closes "until attendance stabilises to 96 percent" (L545): above
/// 96 % at the end of every school day for two school weeks, not the first reading above it.
pub async fn a_case_closes_only_when_the_improvement_holds(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let mut w = Walk::new(
        store,
        dir,
        "inspire-trust",
        ("09:30", "14:00"),
        &[pupil(UPNS[0], "3A")],
        d("2025-09-01"),
    )
    .await?;
    let end = d("2025-12-19");
    let ill = [d("2025-09-10"), d("2025-09-17")];
    w.plan(0, ill[0], ill[1], |day| {
        ill.contains(&day).then_some(["I", "I"])
    });
    w.walk_to(end).await?;
    // The year's figure at the end of each school day, once 60 sessions can be judged.
    let above: Vec<(NaiveDate, bool)> = w
        .running(0, d("2025-09-01"), end)
        .iter()
        .map(|r| {
            (
                r.day,
                r.possible >= 60 && 100 * r.attended > 96 * r.possible,
            )
        })
        .collect();
    let first_above = above
        .iter()
        .find(|(_, a)| *a)
        .map(|(d, _)| *d)
        .expect("recovers");
    let stable = above
        .windows(10)
        .find(|w| w.iter().all(|(_, a)| *a))
        .map(|w| w[9].0)
        .expect("stable for two weeks");
    ensure!(stable > first_above);
    let talks = w.days_of(0, "talk_and_call").await?;
    ensure!(talks.len() == 1, "{talks:?}");
    ensure!(
        w.days_of(0, "stabilised").await? == [stable],
        "expected {stable}"
    );
    ensure!(w.case(0).await?.is_none(), "closed");
    Ok(())
}

/// Defect 8: a pupil off one day in every ten crosses the 10 % line again and again (10 %
/// exactly on each day off, just under it after). Persistent absence is decided once a school
/// year: one letter and one meeting, not one each time.
pub async fn persistent_absence_is_decided_once_a_school_year(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let mut w = Walk::new(
        store,
        dir,
        "dfe-baseline",
        ("09:30", "13:45"),
        &[pupil(UPNS[0], "3A")],
        d("2025-09-01"),
    )
    .await?;
    let end = d("2025-12-19");
    let days = w.school_days(d("2025-09-01"), end);
    let off: Vec<NaiveDate> = days.iter().skip(9).step_by(10).copied().collect();
    w.plan(0, days[0], end, |day| {
        off.contains(&day).then_some(["I", "I"])
    });
    w.walk_to(end).await?;
    // In and out of PA (absence ≥ 10 % with 40 sessions to judge) at the end of each day.
    let mut entries = 0;
    let mut was_pa = false;
    for r in w.running(0, days[0], end) {
        let pa = r.possible >= 40 && 10 * r.absent >= r.possible;
        entries += usize::from(pa && !was_pa);
        was_pa = pa;
    }
    ensure!(entries >= 5, "the pupil crossed the line {entries} times");
    let decided = w.days_of(0, "persistent_absence").await?;
    ensure!(decided == [off[1]], "{decided:?}, expected [{}]", off[1]);
    let letters = w.messages(0, "persistent_absence").await?;
    ensure!(
        letters.iter().filter(|m| m.channel == "letter").count() == 1,
        "{letters:?}"
    );
    Ok(())
}
