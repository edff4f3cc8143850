//! The four school policies (ISP Whitstable, James Marks Academy, Russell Street School, the
//! Inspire trust) walked through small registers: each stage fires on the day the policy text
//! says, in ladder order, and not before. Every expected day is worked out here from the
//! calendar, the marks and the policy's thresholds (an independent tally of the register), never
//! read off the engine.

mod support;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Weekday};
use rollcall::escalation::policy::{Channel, Recipient, TaskKind};
use rollcall::escalation::stage::Decision;
use rollcall::register::pupil::{Contact, Pupil};
use rollcall::register::session::{Session, monday_of};
use support::{Walk, at, date, parent, pupil};

const UPN: &str = support::UPN;
const UPN_B: &str = "V886200000001";
const UPN_C: &str = "J886200000002";

const PRESENT: [&str; 2] = ["/", "\\"];

/// Whether a code counts as attended. Every code these tests use is a possible session.
fn attended(code: &str) -> bool {
    match code {
        "/" | "\\" | "L" => true,
        "N" | "I" | "M" | "O" | "G" | "U" | "C2" => false,
        other => panic!("add {other} to the test's code table"),
    }
}

/// `100 × attended / possible < percent`, in whole tenths of a percent, without floats.
fn below(attended: u32, possible: u32, tenths: u32) -> bool {
    1000 * attended < tenths * possible
}

fn at_or_below(attended: u32, possible: u32, tenths: u32) -> bool {
    1000 * attended <= tenths * possible
}

fn above(attended: u32, possible: u32, tenths: u32) -> bool {
    1000 * attended > tenths * possible
}

fn pct(attended: u32, possible: u32) -> f64 {
    100.0 * f64::from(attended) / f64::from(possible)
}

/// A school running one policy, the planned marks of each pupil (the test's own register), and
/// what the engine decided day by day.
struct School {
    walk: Walk,
    plan: Vec<BTreeMap<NaiveDate, [&'static str; 2]>>,
    fired: Vec<(NaiveDate, usize, String)>,
}

impl School {
    fn new(policy: &str, am_close: &str, pm_close: &str, pupils: Vec<Pupil>) -> School {
        let mut pupils = pupils.into_iter();
        let first = pupils.next().expect("a pupil");
        let mut walk = Walk::new(policy, first);
        for p in pupils {
            let contacts = vec![parent(p.upn.as_str(), 1, "Anne Lovelace", "+447700900001")];
            walk.add_pupil(p, contacts);
        }
        walk.school.am_register_close =
            chrono::NaiveTime::parse_from_str(am_close, "%H:%M").expect("time");
        walk.school.pm_register_close =
            chrono::NaiveTime::parse_from_str(pm_close, "%H:%M").expect("time");
        // Inspire's L431 asks for two sets of emergency contact details; its pupils here have
        // them (a grandmother's mobile after the parent's), so the office's weekly list of
        // pupils with fewer stays out of walks about absence. `inspire_emergency_contacts_*`
        // walks a pupil without.
        if policy == "inspire-trust" {
            for (i, p) in walk.pupils.iter().enumerate() {
                let mut second = parent(p.upn.as_str(), 2, "Grace Hopper", "+447700900009");
                second.relationship = "Grandmother".into();
                second.parental_responsibility = false;
                walk.contacts[i].push(second);
            }
        }
        let plan = vec![BTreeMap::new(); walk.pupils.len()];
        School {
            walk,
            plan,
            fired: Vec::new(),
        }
    }

    fn days(&self, from: &str, to: &str) -> Vec<NaiveDate> {
        self.walk.school_days(date(from), date(to))
    }

    /// Plans `pupil`'s marks for every school day in `[from, to]` (`None` leaves a day as it is).
    fn plan(
        &mut self,
        pupil: usize,
        from: &str,
        to: &str,
        codes: impl Fn(NaiveDate) -> Option<[&'static str; 2]>,
    ) {
        for day in self.days(from, to) {
            if let Some(c) = codes(day) {
                self.plan[pupil].insert(day, c);
            }
        }
    }

    fn mark_day(&mut self, day: NaiveDate) {
        for pupil in 0..self.plan.len() {
            if let Some([am, pm]) = self.plan[pupil].get(&day).copied() {
                self.walk.mark(pupil, day, Session::Am, am);
                self.walk.mark(pupil, day, Session::Pm, pm);
            }
        }
    }

    /// Runs at `time` on `day` (marks already placed) and keeps what fired.
    fn run(&mut self, day: NaiveDate, time: &str) -> Vec<(usize, String)> {
        let before = self.walk.fired.len();
        self.walk.run(at(day, time));
        let new: Vec<(usize, String)> = self.walk.fired[before..]
            .iter()
            .map(|d| (d.pupil_id as usize - 1, d.stage.clone()))
            .collect();
        for (p, s) in &new {
            self.fired.push((day, *p, s.clone()));
        }
        new
    }

    /// Marks each school day in `[from, to]` from the plan and runs at `time`.
    fn walk(&mut self, from: &str, to: &str, time: &str) {
        for day in self.days(from, to) {
            self.mark_day(day);
            self.run(day, time);
        }
    }

    /// The days `stage` fired for `pupil`.
    fn on(&self, pupil: usize, stage: &str) -> Vec<NaiveDate> {
        self.fired
            .iter()
            .filter(|(_, p, s)| *p == pupil && s == stage)
            .map(|(d, _, _)| *d)
            .collect()
    }

    fn decision(&self, pupil: usize, stage: &str) -> &Decision {
        self.walk
            .fired
            .iter()
            .find(|d| d.pupil_id as usize == pupil + 1 && d.stage == stage)
            .unwrap_or_else(|| panic!("{stage} never fired for pupil {pupil}"))
    }

    /// The planned marks of `pupil` on school days in `[from, to]`, both sessions.
    fn codes(&self, pupil: usize, from: NaiveDate, to: NaiveDate) -> Vec<&'static str> {
        if from > to {
            return Vec::new();
        }
        self.plan[pupil]
            .range(from..=to)
            .flat_map(|(_, c)| c.iter().copied())
            .collect()
    }

    /// (attended, possible) sessions of `pupil` in `[from, to]`, from the plan.
    fn tally(&self, pupil: usize, from: NaiveDate, to: NaiveDate) -> (u32, u32) {
        let codes = self.codes(pupil, from, to);
        let att = codes.iter().filter(|c| attended(c)).count() as u32;
        (att, codes.len() as u32)
    }

    /// The first school day in `[from, to]` on which `hit(day)` holds.
    fn first_day(
        &self,
        from: &str,
        to: &str,
        hit: impl Fn(NaiveDate) -> bool,
    ) -> Option<NaiveDate> {
        self.days(from, to).into_iter().find(|d| hit(*d))
    }

    /// The first school day of the `n`th school week after `from`'s week (school weeks are weeks
    /// with a school day; a half term does not use one up).
    fn school_week_start(&self, from: NaiveDate, n: usize) -> NaiveDate {
        let days = self.walk.school_days(from, date("2026-07-31"));
        let mut weeks = 0;
        let mut last = None;
        for day in days {
            if last != Some(monday_of(day)) {
                last = Some(monday_of(day));
                weeks += 1;
                if weeks == n + 1 {
                    return day;
                }
            }
        }
        panic!("the calendar ends first")
    }

    /// The Monday that starts the last `n` school weeks up to `day`.
    fn last_school_weeks(&self, day: NaiveDate, n: usize) -> NaiveDate {
        let mut mondays: Vec<NaiveDate> = self
            .walk
            .school_days(date("2025-08-01"), day)
            .into_iter()
            .map(monday_of)
            .collect();
        mondays.dedup();
        mondays[mondays.len().saturating_sub(n)]
    }

    /// The first school day after `day` that is not part of an absence going on on `day`
    /// (every session absent), from the plan: where "since the school acted" starts.
    fn acted_from(&self, pupil: usize, day: NaiveDate) -> NaiveDate {
        let absent_all_day = |d: NaiveDate| {
            self.plan[pupil]
                .get(&d)
                .is_some_and(|codes| codes.iter().all(|c| !attended(c)))
        };
        let in_absence = absent_all_day(day);
        self.walk
            .school_days(day, date("2026-07-31"))
            .into_iter()
            .skip(1)
            .find(|d| !in_absence || !absent_all_day(*d))
            .expect("the calendar ends first")
    }

    /// The `n`th school day after `day` (day itself is 0).
    fn school_day_after(&self, day: NaiveDate, n: usize) -> NaiveDate {
        self.walk.school_days(day, date("2026-07-31"))[n]
    }
}

fn actions(d: &Decision) -> Vec<(Channel, Recipient, Option<TaskKind>)> {
    d.actions
        .iter()
        .map(|a| (a.channel, a.to, a.task))
        .collect()
}

fn weekday(day: NaiveDate, days: &[Weekday]) -> bool {
    days.contains(&day.weekday())
}

fn young(upn: &str, admission: &str) -> Pupil {
    pupil(upn, "R1", date(admission))
}

// ------------------------------------------------------------------------------------------
// Every school
// ------------------------------------------------------------------------------------------

/// The four policies, each with the AM/PM register close its config should carry and the time
/// its policy text says the first-day contact happens.
const SCHOOLS: [(&str, &str, &str, &str, &str); 4] = [
    // ISP: "contacting parents if they have not reported ... by 9-30 a.m." (L104).
    ("isp-whitstable", "09:30", "13:45", "first_day", "09:30"),
    // JMA: register closes 10:00 (L145); calls after the close and 15 minutes' grace.
    (
        "james-marks-academy",
        "10:00",
        "13:45",
        "daily_call",
        "10:15",
    ),
    // Russell Street: "If this information has not been received by 9:00am" (L198).
    (
        "russell-street-school",
        "09:00",
        "13:45",
        "stage_one",
        "09:00",
    ),
    // Inspire: close 09:30 / 14:00 (L191, L194); the pastoral call after 15 minutes' grace.
    ("inspire-trust", "09:30", "14:00", "first_day", "09:45"),
];

#[test]
fn each_policy_checks_clean_and_climbs_in_this_order() {
    let ladders: [(&str, &[&str]); 4] = [
        (
            "isp-whitstable",
            &[
                "first_day",
                "concern_record",
                "cause_for_concern",
                "lateness_pattern",
                "unresolved_n",
                "la_10_day_return",
                "sickness_15_day_return",
                "penalty_notice_review",
                "cme_enquiries",
                "cme_notice",
                "part_time_timetable",
                "part_time_review",
                "new_pupil",
                "deletion_notice",
                "severe_absence_meeting",
                "severe_absence_la",
                "religious_observance_cap",
                "absence_pattern",
            ],
        ),
        (
            "james-marks-academy",
            &[
                "daily_call",
                "parents_unreachable",
                "la_day_10",
                "below_95_adjusted",
                "la_support",
                "legal_sanctions_review",
                "sickness_15_day_return",
                "unresolved_n",
                "penalty_notice_review",
                "cme_enquiries",
                "cme_notice",
                "part_time_timetable",
                "part_time_review",
                "new_pupil",
                "deletion_notice",
                "severe_absence_meeting",
                "severe_absence_la",
                "absence_pattern",
                "persistent_lateness",
            ],
        ),
        (
            "russell-street-school",
            &[
                "stage_one",
                "social_worker_absent",
                "stage_two",
                "stage_three",
                "stage_four",
                "persistent_absence",
                "unevidenced_illness_review",
                "unresolved_n",
                "la_10_day_return",
                "sickness_15_day_return",
                "penalty_notice_review",
                "cme_enquiries",
                "cme_notice",
                "part_time_timetable",
                "part_time_review",
                "new_pupil",
                "deletion_notice",
                "severe_absence_meeting",
                "severe_absence_la",
            ],
        ),
        (
            "inspire-trust",
            &[
                "first_day",
                "unresolved_n",
                "signed_letter_run",
                "signed_letter_term",
                "talk_and_call",
                "concern_letter",
                "monitoring",
                "targets_meeting",
                "targets_met",
                "four_week_monitoring",
                "final_warning",
                "penalty_review",
                "stabilised",
                "la_10_day_return",
                "sickness_15_day_return",
                "penalty_threshold_review",
                "cme_enquiries",
                "cme_notice",
                "part_time_timetable",
                "part_time_review",
                "new_pupil",
                "deletion_notice",
                "emergency_contacts",
                "medical_evidence",
                "unevidenced_illness_review",
            ],
        ),
    ];
    for (name, ids) in ladders {
        let policy = support::load_policy(name);
        let got: Vec<&str> = policy.stages.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(got, ids, "{name}");
    }
}

#[test]
fn first_day_contact_waits_for_each_schools_time_and_tells_the_social_worker() {
    for (name, am, pm, stage, due) in SCHOOLS {
        let mut with_sw = young(UPN, "2025-09-03");
        with_sw.social_worker = true;
        let mut s = School::new(name, am, pm, vec![with_sw, young(UPN_B, "2025-09-03")]);
        let day = date("2025-11-04");
        for p in 0..2 {
            s.plan(p, "2025-09-03", "2025-11-03", |_| Some(PRESENT));
            s.plan(p, "2025-11-04", "2025-11-04", |_| Some(["N", "N"]));
        }
        s.walk("2025-09-03", "2025-11-03", "18:00");
        s.mark_day(day);
        let minute_before = (at(day, due) - chrono::TimeDelta::minutes(1))
            .format("%H:%M")
            .to_string();
        assert!(
            s.run(day, &minute_before).is_empty(),
            "{name}: nothing before {due}"
        );
        let fired = s.run(day, due);
        // Russell Street tells the social worker in a stage of its own, on every day of an
        // unexplained absence: its Stage One is days one and two only (L196).
        let social_worker_stage = if name == "russell-street-school" {
            "social_worker_absent"
        } else {
            stage
        };
        let mut expected = vec![(0, stage.to_owned())];
        if social_worker_stage != stage {
            expected.push((0, social_worker_stage.to_owned()));
        }
        expected.push((1, stage.to_owned()));
        assert_eq!(fired, expected, "{name} at {due}");
        let told = |p: usize| {
            s.walk
                .fired
                .iter()
                .filter(|d| d.pupil_id as usize == p + 1 && d.stage == social_worker_stage)
                .flat_map(|d| &d.actions)
                .any(|a| a.to == Recipient::SocialWorker)
        };
        assert!(told(0), "{name}: the social worker hears of the N");
        assert!(!told(1), "{name}: no social worker, no email");
    }
}

#[test]
fn sickness_return_on_the_fifteenth_day_of_illness_at_every_school() {
    for (name, am, pm, first_day, _) in SCHOOLS {
        let mut s = School::new(name, am, pm, vec![young(UPN, "2025-09-03")]);
        s.plan(0, "2025-09-03", "2025-10-31", |_| Some(PRESENT));
        s.plan(0, "2025-11-03", "2025-12-19", |_| Some(["I", "I"]));
        s.walk("2025-09-03", "2025-11-25", "18:00");
        // 30 sessions of I (15 school days) from 3 November: the 15th school day.
        let fifteenth = s.school_day_after(date("2025-11-03"), 14);
        assert_eq!(s.on(0, "sickness_15_day_return"), [fifteenth], "{name}");
        let d = s.decision(0, "sickness_15_day_return");
        assert!(d.requires_approval, "{name}");
        assert_eq!(actions(d), [(Channel::LaReturn, Recipient::La, None)]);
        // Illness is a reason: no unexplained-absence contact.
        assert!(s.on(0, first_day).is_empty(), "{name}");
    }
}

#[test]
fn ten_days_of_unauthorised_absence_go_to_the_la_at_every_school() {
    for (name, am, pm, _, _) in SCHOOLS {
        let la_stage = if name == "james-marks-academy" {
            "la_day_10"
        } else {
            "la_10_day_return"
        };
        let mut s = School::new(name, am, pm, vec![young(UPN, "2025-09-03")]);
        s.plan(0, "2025-09-03", "2025-10-31", |_| Some(PRESENT));
        s.plan(0, "2025-11-03", "2025-12-19", |_| Some(["G", "G"]));
        s.walk("2025-09-03", "2025-11-21", "18:00");
        let tenth = s.school_day_after(date("2025-11-03"), 9);
        assert_eq!(s.on(0, la_stage), [tenth], "{name}");
        let d = s.decision(0, la_stage);
        assert!(d.requires_approval, "{name}");
        assert_eq!(d.actions[0].channel, Channel::LaReturn, "{name}");
        assert_eq!(
            d.reason,
            "10 consecutive school days with every session G/N/O/U since 2025-11-03 (G×20)"
        );
        // The national penalty threshold: 10 G sessions, reached on the fifth day (the runs
        // are at 18:00, after both registers). A later review needs 10 sessions no earlier
        // review counted and six school weeks since the last: none more by 21 November.
        let review = if name == "inspire-trust" {
            "penalty_threshold_review"
        } else {
            "penalty_notice_review"
        };
        assert_eq!(
            s.on(0, review),
            [s.school_day_after(date("2025-11-03"), 4)],
            "{name}"
        );
    }
}

#[test]
fn one_missed_day_at_the_start_is_not_a_percentage_concern_at_any_school() {
    // (policy, the stages driven by a percentage, the first day the percentage counts).
    let cases = [
        (
            "isp-whitstable",
            &["concern_record", "cause_for_concern"][..],
            "2025-09-03",
        ),
        // JMA's adjusted figure starts after the 6-week integration period.
        ("james-marks-academy", &["below_95_adjusted"][..], ""),
        (
            "russell-street-school",
            &["stage_three", "stage_four"][..],
            "2025-09-03",
        ),
        (
            "inspire-trust",
            &["talk_and_call", "concern_letter", "monitoring"][..],
            "2025-09-03",
        ),
    ];
    for (name, stages, missed) in cases {
        let mut s = School::new(name, "09:00", "13:45", vec![young(UPN, "2025-09-03")]);
        let missed = if missed.is_empty() {
            s.school_week_start(date("2025-09-03"), 6)
        } else {
            date(missed)
        };
        s.plan(0, "2025-09-03", "2025-12-19", |d| {
            Some(if d == missed { ["I", "I"] } else { PRESENT })
        });
        s.walk("2025-09-03", "2025-12-19", "18:00");
        for stage in stages {
            assert!(
                s.on(0, stage).is_empty(),
                "{name}: {stage} fired after one day off on {missed}"
            );
        }
        // A good attender with one day's illness makes no work at all.
        assert!(s.fired.is_empty(), "{name}: {:?}", s.fired);
    }
    // The same day off with a second one straight after does reach ISP's 95 %: the minimum
    // is what holds one day back, not a threshold that cannot be met.
    let mut s = School::new(
        "isp-whitstable",
        "09:30",
        "13:45",
        vec![young(UPN, "2025-09-03")],
    );
    let off = [date("2025-09-03"), date("2025-09-04")];
    s.plan(0, "2025-09-03", "2025-12-19", |d| {
        Some(if off.contains(&d) {
            ["I", "I"]
        } else {
            PRESENT
        })
    });
    s.walk("2025-09-03", "2025-10-24", "18:00");
    // 40 sessions (20 school days) with 4 missed: 90 %, below 95 %, not below 90 %.
    let twentieth = s.school_day_after(date("2025-09-03"), 19);
    assert_eq!(s.on(0, "concern_record"), [twentieth]);
    assert!(s.on(0, "cause_for_concern").is_empty());
}

// ------------------------------------------------------------------------------------------
// ISP Whitstable
// ------------------------------------------------------------------------------------------

#[test]
fn isp_first_day_call_and_text_at_930_with_the_concerns_list_told() {
    let mut on_list = young(UPN, "2025-09-03");
    on_list.concern = true;
    let pupils = vec![
        on_list,
        young(UPN_B, "2025-09-03"),
        young(UPN_C, "2025-09-03"),
    ];
    let mut s = School::new("isp-whitstable", "09:30", "13:45", pupils);
    let day = date("2025-11-04");
    for p in 0..3 {
        s.plan(p, "2025-09-03", "2025-11-03", |_| Some(PRESENT));
    }
    s.plan(0, "2025-11-04", "2025-11-04", |_| Some(["N", "N"]));
    s.plan(1, "2025-11-04", "2025-11-04", |_| Some(["N", "N"]));
    s.plan(2, "2025-11-04", "2025-11-04", |_| Some(PRESENT));
    s.walk("2025-09-03", "2025-11-03", "18:00");
    s.mark_day(day);
    assert!(s.run(day, "09:29").is_empty());
    assert_eq!(
        s.run(day, "09:30"),
        [(0, "first_day".to_owned()), (1, "first_day".to_owned())],
        "the pupil in class is not contacted"
    );
    let office = (
        Channel::Task,
        Recipient::AttendanceOfficer,
        Some(TaskKind::Call),
    );
    let text = (Channel::Sms, Recipient::Contacts, None);
    assert_eq!(
        actions(s.decision(0, "first_day")),
        [
            office,
            text,
            (Channel::Email, Recipient::Dsl, None),
            (Channel::Task, Recipient::KeyWorker, Some(TaskKind::Call)),
        ],
        "concerns list: the DSLs and the key worker as well"
    );
    assert_eq!(actions(s.decision(1, "first_day")), [office, text]);
    let sms = &s.decision(1, "first_day").actions[1];
    assert_eq!(sms.address.as_deref(), Some("+447700900001"));
    // The same morning again: nothing new.
    assert!(s.run(day, "11:00").is_empty());
}

#[test]
fn isp_concern_record_below_95_then_cause_for_concern_below_90() {
    let mut s = School::new(
        "isp-whitstable",
        "09:30",
        "13:45",
        vec![young(UPN, "2025-09-03")],
    );
    // Full attendance for a month, then off every Monday.
    s.plan(0, "2025-09-03", "2025-12-19", |d| {
        Some(if d >= date("2025-10-06") && weekday(d, &[Weekday::Mon]) {
            ["I", "I"]
        } else {
            PRESENT
        })
    });
    s.walk("2025-09-03", "2025-12-19", "18:00");
    let start = date("2025-09-03");
    // Year to date, once 40 sessions are possible.
    let when = |tenths: u32| {
        s.first_day("2025-09-03", "2025-12-19", |d| {
            let (a, p) = s.tally(0, start, d);
            p >= 40 && below(a, p, tenths)
        })
        .expect("reached")
    };
    let (concern, cause) = (when(950), when(900));
    assert!(concern < cause, "the ladder climbs over time here");
    assert_eq!(s.on(0, "concern_record"), [concern]);
    // The day after `cause` the figure is back at exactly 90 % and the next Monday below it
    // again: still one cause for concern (one home visit to arrange), not one per dip.
    let next = s.school_day_after(cause, 1);
    let (a, p) = s.tally(0, start, next);
    assert!(!below(a, p, 900), "back to {}", pct(a, p));
    assert_eq!(s.on(0, "cause_for_concern"), [cause]);
    let (a, p) = s.tally(0, start, concern);
    assert_eq!(
        s.decision(0, "concern_record").reason,
        format!(
            "attendance {:.1}% below 95% this school year ({a} of {p} sessions attended since {start})",
            pct(a, p)
        )
    );
    assert_eq!(
        actions(s.decision(0, "cause_for_concern")),
        [
            (Channel::Task, Recipient::ClassTeacher, Some(TaskKind::Call)),
            (
                Channel::Task,
                Recipient::DeputyHead,
                Some(TaskKind::HomeVisit)
            ),
        ]
    );
    let case = s.walk.cases[0].as_ref().expect("a concern record is open");
    assert_eq!(case.opened_on, concern);
    assert_eq!(case.stage, "cause_for_concern");
    assert_eq!(case.stage_entered, cause);
}

#[test]
fn isp_a_pattern_of_lateness_goes_to_the_deputy_head_and_parents() {
    let mut s = School::new(
        "isp-whitstable",
        "09:30",
        "13:45",
        vec![young(UPN, "2025-09-03")],
    );
    // Late every Tuesday morning from November.
    s.plan(0, "2025-09-03", "2025-12-19", |d| {
        Some(if d >= date("2025-11-03") && weekday(d, &[Weekday::Tue]) {
            ["L", "\\"]
        } else {
            PRESENT
        })
    });
    s.walk("2025-09-03", "2025-12-19", "18:00");
    // 4 late sessions within the last 6 school weeks.
    let late_in_window = |d: NaiveDate| {
        s.codes(0, s.last_school_weeks(d, 6), d)
            .iter()
            .filter(|c| matches!(**c, "L" | "U"))
            .count()
    };
    let pattern = s
        .first_day("2025-09-03", "2025-12-19", |d| late_in_window(d) >= 4)
        .expect("a pattern");
    assert_eq!(pattern, date("2025-11-25"), "the fourth late Tuesday");
    // Still late every week: the pattern never lapses, so it is told once, not every week.
    assert!(
        s.days("2025-11-25", "2025-12-19")
            .iter()
            .all(|d| late_in_window(*d) >= 4)
    );
    assert_eq!(s.on(0, "lateness_pattern"), [pattern]);
    let d = s.decision(0, "lateness_pattern");
    assert_eq!(
        actions(d),
        [
            (Channel::Email, Recipient::DeputyHead, None),
            (Channel::Letter, Recipient::ParentalResponsibility, None),
        ]
    );
    assert_eq!(
        d.transition, None,
        "lateness does not open a concern record"
    );
    assert!(s.walk.cases[0].is_none());
}

// ------------------------------------------------------------------------------------------
// James Marks Academy
// ------------------------------------------------------------------------------------------

fn emergency_contact(upn: &str) -> Contact {
    let mut c = parent(upn, 2, "Charles Babbage", "+447700900002");
    c.relationship = "Grandfather".into();
    c.parental_responsibility = false;
    c
}

#[test]
fn jma_unexplained_absence_daily_calls_then_emergency_contacts_then_la_on_day_ten() {
    let mut s = School::new(
        "james-marks-academy",
        "10:00",
        "13:45",
        vec![young(UPN, "2025-09-03")],
    );
    s.walk.contacts[0].push(emergency_contact(UPN));
    s.plan(0, "2025-09-03", "2025-10-31", |_| Some(PRESENT));
    s.plan(0, "2025-11-03", "2025-11-17", |_| Some(["N", "N"]));
    let days = s.days("2025-11-03", "2025-11-17");
    assert_eq!(days.len(), 11);
    s.walk("2025-09-03", "2025-10-31", "18:00");
    s.mark_day(days[0]);
    assert!(
        s.run(days[0], "10:14").is_empty(),
        "register closes 10:00, +15"
    );
    for day in &days {
        s.mark_day(*day);
        s.run(*day, "10:15");
    }
    // L124: phone on the first and every subsequent day.
    assert_eq!(s.on(0, "daily_call"), days);
    // L125: a second day still without a reason.
    assert_eq!(s.on(0, "parents_unreachable"), [days[1]]);
    // L126: the LA by the 10th day of absence with no contact.
    assert_eq!(s.on(0, "la_day_10"), [days[9]]);
    assert_eq!(s.on(0, "unresolved_n"), [days[5]]);
    // 10 N sessions by day 4's 10:15 run; the next review would need 10 more (there are by
    // day 9) and six school weeks.
    assert_eq!(s.on(0, "penalty_notice_review"), [days[4]]);
    // Adjusted attendance counts from the first school day after 6 school weeks.
    let counted_from = s.school_week_start(date("2025-09-03"), 6);
    assert_eq!(counted_from, date("2025-10-13"));
    let below_95 = s
        .first_day("2025-11-03", "2025-11-17", |d| {
            let (a, p) = s.tally(0, counted_from, d);
            p >= 40 && below(a, p, 950)
        })
        .expect("reached");
    assert_eq!(s.on(0, "below_95_adjusted"), [below_95]);
    assert!(s.on(0, "la_support").is_empty());

    let unreachable = s.decision(0, "parents_unreachable");
    let recipients: Vec<(Channel, &str)> = unreachable
        .actions
        .iter()
        .map(|a| (a.channel, a.recipient.as_str()))
        .collect();
    assert_eq!(
        recipients,
        [
            (Channel::Task, "contact 1: Anne Lovelace (Mother)"),
            (Channel::Task, "contact 2: Charles Babbage (Grandfather)"),
            (Channel::Letter, "contact 1: Anne Lovelace (Mother)"),
            (Channel::Task, "dsl"),
        ],
        "emergency contacts phoned, a letter to the parent, a home visit for the DSL"
    );
    assert_eq!(unreachable.actions[3].task, Some(TaskKind::HomeVisit));
    let la = s.decision(0, "la_day_10");
    assert!(la.requires_approval);
    assert_eq!(
        actions(la),
        [
            (Channel::LaReturn, Recipient::La, None),
            (Channel::Email, Recipient::Dsl, None)
        ]
    );
    let case = s.walk.cases[0].as_ref().expect("case");
    assert_eq!(case.opened_on, days[1]);
    assert_eq!(case.stage, "below_95_adjusted");
}

#[test]
fn jma_adjusted_attendance_leaves_out_a_new_pupils_integration_period() {
    // The same marks for two pupils from 15 September: a bad fortnight in October (part-time
    // timetable, C2, three days a week), full attendance otherwise. The first joined on
    // 3 September, so by October their integration is over; the second joined on 15 September
    // and is still integrating then.
    let pupils = vec![young(UPN, "2025-09-03"), young(UPN_B, "2025-09-15")];
    let mut s = School::new("james-marks-academy", "10:00", "13:45", pupils);
    let marks = |d: NaiveDate| {
        let bad = d >= date("2025-10-13")
            && d <= date("2025-10-24")
            && weekday(d, &[Weekday::Mon, Weekday::Tue, Weekday::Wed]);
        Some(if bad { ["C2", "C2"] } else { PRESENT })
    };
    s.plan(0, "2025-09-03", "2025-12-19", marks);
    s.plan(1, "2025-09-15", "2025-12-19", marks);
    s.walk("2025-09-03", "2025-12-19", "18:00");

    let veteran_from = s.school_week_start(date("2025-09-03"), 6);
    let newcomer_from = s.school_week_start(date("2025-09-15"), 6);
    assert_eq!(veteran_from, date("2025-10-13"));
    // Six school weeks from 15 September end on 24 October; half term is not a school week.
    assert_eq!(newcomer_from, date("2025-11-03"));

    let flagged = s
        .first_day("2025-09-03", "2025-12-19", |d| {
            let (a, p) = s.tally(0, veteran_from, d);
            d >= veteran_from && p >= 40 && below(a, p, 950)
        })
        .expect("the bad fortnight counts for the earlier pupil");
    assert_eq!(s.on(0, "below_95_adjusted"), [flagged]);

    // The newcomer's actual attendance is below 95 % that day too, but adjusted it is not.
    let (na, np) = s.tally(1, date("2025-09-15"), flagged);
    assert!(below(na, np, 950), "actual {}", pct(na, np));
    assert!(s.on(1, "below_95_adjusted").is_empty());

    // The reason gives adjusted and actual attendance side by side.
    let (a, p) = s.tally(0, veteran_from, flagged);
    let (aa, ap) = s.tally(0, date("2025-09-03"), flagged);
    let reason = &s.decision(0, "below_95_adjusted").reason;
    assert!(
        reason.starts_with(&format!(
            "adjusted attendance {:.1}% (actual {:.1}%; the integration period before {veteran_from} left out) below 95%",
            pct(a, p),
            pct(aa, ap)
        )),
        "{reason}"
    );
    assert!(
        reason.ends_with(&format!(
            "({a} of {p} sessions attended since {veteran_from})"
        )),
        "{reason}"
    );
    assert_eq!(
        actions(s.decision(0, "below_95_adjusted")),
        [
            (
                Channel::Task,
                Recipient::AttendanceOfficer,
                Some(TaskKind::Call)
            ),
            (
                Channel::Task,
                Recipient::Headteacher,
                Some(TaskKind::Meeting)
            ),
        ],
        "L129-130: contact and a meeting"
    );
}

#[test]
fn jma_no_improvement_four_weeks_after_contact_brings_la_support() {
    let mut s = School::new(
        "james-marks-academy",
        "10:00",
        "13:45",
        vec![young(UPN, "2025-09-03")],
    );
    // After integration, off every Monday and Tuesday (appointments).
    s.plan(0, "2025-09-03", "2025-12-19", |d| {
        let off = d >= date("2025-10-13") && weekday(d, &[Weekday::Mon, Weekday::Tue]);
        Some(if off { ["M", "M"] } else { PRESENT })
    });
    s.walk("2025-09-03", "2025-12-19", "18:00");
    let from = s.school_week_start(date("2025-09-03"), 6);
    let contact = s
        .first_day("2025-09-03", "2025-12-19", |d| {
            let (a, p) = s.tally(0, from, d);
            d >= from && p >= 40 && below(a, p, 950)
        })
        .expect("reached");
    assert_eq!(s.on(0, "below_95_adjusted"), [contact]);
    // Counted from the school day after the contact (or after the absence going on then).
    let from = s.acted_from(0, contact);
    // The 20th school day of that period, attendance over it still below 90 %.
    let review = s.school_day_after(from, 19);
    let (a, p) = s.tally(0, from, review);
    assert!(below(a, p, 900), "no improvement: {}", pct(a, p));
    assert_eq!(s.on(0, "la_support"), [review]);
    let d = s.decision(0, "la_support");
    assert!(
        d.requires_approval,
        "the LA's support is a person's decision"
    );
    assert_eq!(
        actions(d),
        [(
            Channel::Task,
            Recipient::Headteacher,
            Some(TaskKind::Review)
        )]
    );
    // Medical appointments are authorised absence: never a legal matter.
    assert!(s.on(0, "legal_sanctions_review").is_empty());
}

#[test]
fn jma_a_pupil_hovering_at_95_is_contacted_once_a_year() {
    let mut s = School::new(
        "james-marks-academy",
        "10:00",
        "13:45",
        vec![young(UPN, "2025-09-03")],
    );
    let from = s.school_week_start(date("2025-09-03"), 6);
    // After integration, a morning appointment every other Monday: about 95 %.
    s.plan(0, "2025-09-03", "2025-12-19", |d| {
        let fortnight = (d - from).num_days() / 7 % 2 == 0;
        let off = d >= from && weekday(d, &[Weekday::Mon]) && fortnight;
        Some(if off { ["M", "\\"] } else { PRESENT })
    });
    s.walk("2025-09-03", "2025-12-19", "18:00");
    let below_95 = |d: &NaiveDate| {
        let (a, p) = s.tally(0, from, *d);
        p >= 40 && below(a, p, 950)
    };
    let days = s.days(&from.to_string(), "2025-12-19");
    // Each day the adjusted figure goes (back) under 95 %.
    let dips: Vec<NaiveDate> = days
        .windows(2)
        .filter(|w| !below_95(&w[0]) && below_95(&w[1]))
        .map(|w| w[1])
        .collect();
    assert!(
        dips.len() >= 2,
        "the figure crosses 95 % more than once: {dips:?}"
    );
    assert_eq!(s.on(0, "below_95_adjusted"), [dips[0]]);
}

// ------------------------------------------------------------------------------------------
// Russell Street School
// ------------------------------------------------------------------------------------------

#[test]
fn russell_street_an_absence_climbs_stages_one_to_four() {
    let mut s = School::new(
        "russell-street-school",
        "09:00",
        "13:45",
        vec![young(UPN, "2025-09-03")],
    );
    s.walk.contacts[0].push(emergency_contact(UPN));
    // A full year's attendance, then no word for two and a half weeks in June, then back.
    s.plan(0, "2025-09-03", "2026-06-05", |_| Some(PRESENT));
    s.plan(0, "2026-06-08", "2026-06-23", |_| Some(["N", "N"]));
    s.plan(0, "2026-06-24", "2026-06-30", |_| Some(PRESENT));
    let days = s.days("2026-06-08", "2026-06-23");
    assert_eq!(days.len(), 12);
    s.walk("2025-09-03", "2026-06-05", "18:00");
    s.mark_day(days[0]);
    assert!(s.run(days[0], "08:59").is_empty());
    for day in &days {
        s.mark_day(*day);
        s.run(*day, "09:00");
    }
    // Back at school and attending every day after the meeting, though still below 95 % for
    // the year: the strategies agreed at Stage Three are working, so no contract, and the
    // meeting is not proposed again (once a school year).
    s.plan(0, "2026-06-24", "2026-07-17", |_| Some(PRESENT));
    s.walk("2026-06-24", "2026-07-17", "09:00");
    let (a, p) = s.tally(0, date("2025-09-03"), date("2026-07-17"));
    assert!(below(a, p, 950));
    let start = date("2025-09-03");
    let ytd_below = |tenths: u32| {
        s.first_day("2026-06-08", "2026-06-23", |d| {
            let (a, p) = s.tally(0, start, d);
            p >= 60 && below(a, p, tenths)
        })
    };
    let absent_sessions =
        |d: NaiveDate| s.codes(0, start, d).iter().filter(|c| !attended(c)).count();
    // Stage One: the office rings every contact on days one and two of the absence (L196),
    // when no reason is in by 9:00; from day three the absence is Stage Two's and Three's.
    assert_eq!(s.on(0, "stage_one"), days[..2]);
    let calls: Vec<&str> = s
        .decision(0, "stage_one")
        .actions
        .iter()
        .map(|a| a.recipient.as_str())
        .collect();
    assert_eq!(
        calls,
        [
            "contact 1: Anne Lovelace (Mother)",
            "contact 2: Charles Babbage (Grandfather)"
        ]
    );
    // Stage Two: day three.
    assert_eq!(s.on(0, "stage_two"), [days[2]]);
    // Stage Three: week two (the 6th day), or "close to 96.5 %" (below 96.5 % from 60
    // possible sessions, below 97 % from 70), whichever first. No earlier year is loaded, so
    // last year's attendance plays no part.
    let close = s.first_day("2026-06-08", "2026-06-23", |d| {
        let (a, p) = s.tally(0, start, d);
        p >= 70 && below(a, p, 970)
    });
    let three = [ytd_below(965), close]
        .into_iter()
        .flatten()
        .fold(days[5], NaiveDate::min);
    // Stage Four's own thresholds are met during the absence (more than 10 days, 21 sessions,
    // this year, or below 95 %), but the contract waits for the meeting's strategies to have
    // had two weeks, counted from the day the pupil came back, and they worked.
    let more_than_ten = s.first_day("2026-06-08", "2026-06-23", |d| absent_sessions(d) >= 21);
    let thresholds = [ytd_below(950), more_than_ten]
        .into_iter()
        .flatten()
        .min()
        .expect("stage four's thresholds reached");
    assert!(
        days[2] < three && three <= thresholds,
        "{three} {thresholds}"
    );
    assert_eq!(s.on(0, "stage_three"), [three]);
    assert!(s.on(0, "stage_four").is_empty());

    // The meeting and its follow-up email wait for a person; the email quotes the rate.
    let meeting = s.decision(0, "stage_three");
    assert!(meeting.requires_approval);
    assert_eq!(
        actions(meeting),
        [
            (
                Channel::Task,
                Recipient::AttendanceOfficer,
                Some(TaskKind::Meeting)
            ),
            (Channel::Email, Recipient::ParentalResponsibility, None),
        ]
    );
    assert_eq!(
        meeting.actions[1].address.as_deref(),
        Some("anne.lovelace@example.org")
    );
    let (a, p) = s.tally(0, start, three);
    let facts = meeting.facts.year_to_date.as_ref().expect("facts");
    assert_eq!(
        format!("{:.1}", facts.attendance_pct()),
        format!("{:.1}", pct(a, p))
    );
    let case = s.walk.cases[0].as_ref().expect("case");
    assert_eq!(case.opened_on, days[2]);
    assert_eq!(case.stage, "stage_three");
    // The statutory steps run alongside.
    assert_eq!(s.on(0, "unresolved_n"), [days[5]]);
    assert_eq!(s.on(0, "la_10_day_return"), [days[9]]);
}

#[test]
fn russell_street_more_than_ten_days_absent_brings_the_contract_after_the_meeting() {
    let pupils = vec![young(UPN, "2025-09-03"), young(UPN_B, "2025-09-03")];
    let mut s = School::new("russell-street-school", "09:00", "13:45", pupils);
    // Pupil 0: ill for six days from 8 September, then odd days off.
    let run: Vec<NaiveDate> = s.days("2025-09-08", "2025-09-15");
    let odd = [
        date("2025-09-17"),
        date("2025-09-19"),
        date("2025-09-23"),
        date("2025-09-25"),
        date("2025-09-29"),
    ];
    s.plan(0, "2025-09-03", "2025-12-19", |d| {
        Some(if run.contains(&d) || odd.contains(&d) {
            ["I", "I"]
        } else {
            PRESENT
        })
    });
    // Pupil 1: off every Monday, Wednesday and Friday from 8 September; never three in a row.
    s.plan(1, "2025-09-03", "2025-12-19", |d| {
        let off =
            d >= date("2025-09-08") && weekday(d, &[Weekday::Mon, Weekday::Wed, Weekday::Fri]);
        Some(if off { ["M", "M"] } else { PRESENT })
    });
    s.walk("2025-09-03", "2025-12-19", "18:00");
    let start = date("2025-09-03");
    let absent =
        |p: usize, d: NaiveDate| s.codes(p, start, d).iter().filter(|c| !attended(c)).count();
    let over_ten_days = |p: usize| {
        s.first_day("2025-09-03", "2025-12-19", |d| absent(p, d) > 20)
            .expect("reached")
    };

    // The contract: more than 10 days absent this year (or below 95 %), and the tenth school
    // day since the meeting's strategies could start (the day after the absence that led to
    // the meeting ended) with attendance over those days still below 95 %.
    let contract_day = |p: usize, meeting: NaiveDate| {
        let from = s.acted_from(p, meeting);
        s.first_day("2025-09-03", "2025-12-19", |d| {
            let (a, n) = s.tally(p, from, d);
            let (ya, yp) = s.tally(p, start, d);
            s.days(&from.to_string(), &d.to_string()).len() >= 10
                && below(a, n, 950)
                && (absent(p, d) > 20 || (yp >= 60 && below(ya, yp, 950)))
        })
    };
    // Pupil 0: day three, then week two (the sixth day); the contract two weeks after the
    // illness ended, the odd days off having kept attendance under 95 %.
    assert_eq!(run.len(), 6);
    assert_eq!(s.on(0, "stage_two"), [run[2]]);
    assert_eq!(s.on(0, "stage_three"), [run[5]]);
    let contract = contract_day(0, run[5]).expect("a contract");
    assert!(over_ten_days(0) <= contract);
    assert_eq!(s.acted_from(0, run[5]), date("2025-09-16"));
    assert_eq!(s.on(0, "stage_four"), [contract]);

    // Pupil 1: more than 10 days off by the end of September, but no meeting yet (no week-long
    // absence, too few sessions for a percentage): the meeting comes the day 60 sessions are
    // possible, the contract two school weeks after it, never the same day.
    let meeting = s
        .first_day("2025-09-03", "2025-12-19", |d| {
            let (a, p) = s.tally(1, start, d);
            p >= 60 && below(a, p, 965)
        })
        .expect("reached");
    assert!(over_ten_days(1) < meeting);
    assert!(s.on(1, "stage_two").is_empty());
    assert_eq!(s.on(1, "stage_three"), [meeting]);
    let contract = contract_day(1, meeting).expect("a contract");
    assert!(contract > meeting);
    assert_eq!(s.on(1, "stage_four"), [contract]);
}

#[test]
fn russell_street_below_95_brings_a_contract_two_weeks_after_the_meeting() {
    let mut s = School::new(
        "russell-street-school",
        "09:00",
        "13:45",
        vec![young(UPN, "2025-09-03")],
    );
    // Off every Friday: never three days in a row, but 80 % attendance.
    s.plan(0, "2025-09-03", "2025-12-19", |d| {
        Some(if weekday(d, &[Weekday::Fri]) {
            ["M", "M"]
        } else {
            PRESENT
        })
    });
    s.walk("2025-09-03", "2025-12-19", "18:00");
    let start = date("2025-09-03");
    let ytd_below = |tenths: u32| {
        s.first_day("2025-09-03", "2025-12-19", |d| {
            let (a, p) = s.tally(0, start, d);
            p >= 60 && below(a, p, tenths)
        })
        .expect("reached")
    };
    let three = ytd_below(965);
    // Two school weeks of the meeting's strategies (from the day after the meeting, or after
    // a Friday off that day), attendance over them still below 95 %, and the year below 95 %.
    let from = s.acted_from(0, three);
    let tenth = s.school_day_after(from, 9);
    let four = tenth.max(ytd_below(950));
    let (a, p) = s.tally(0, from, four);
    assert!(below(a, p, 950));
    assert_eq!(s.on(0, "stage_three"), [three]);
    assert_eq!(s.on(0, "stage_four"), [four]);
    assert!(s.on(0, "stage_two").is_empty(), "never a third day");
    let (a, p) = s.tally(0, start, three);
    assert!(
        s.decision(0, "stage_three")
            .reason
            .starts_with(&format!("attendance {:.1}% below 96.5%", pct(a, p))),
        "{}",
        s.decision(0, "stage_three").reason
    );
    // A contract's failure is judged by a person at its review: the policy states no period or
    // measure, so no stage proposes the LA and the legal route by itself.
    assert!(
        s.walk
            .policy
            .stages
            .iter()
            .all(|st| st.id != "contract_failed")
    );
    assert_eq!(s.walk.cases[0].as_ref().expect("case").stage, "stage_four");
}

// ------------------------------------------------------------------------------------------
// Inspire trust
// ------------------------------------------------------------------------------------------

fn inspire(pupils: Vec<Pupil>) -> School {
    School::new("inspire-trust", "09:30", "14:00", pupils)
}

#[test]
fn inspire_more_than_three_days_in_a_row_asks_for_a_signed_letter() {
    let mut s = inspire(vec![young(UPN, "2025-09-03")]);
    s.plan(0, "2025-09-03", "2025-10-31", |_| Some(PRESENT));
    s.plan(0, "2025-11-03", "2025-11-07", |_| Some(["N", "N"]));
    let days = s.days("2025-11-03", "2025-11-07");
    s.walk("2025-09-03", "2025-10-31", "18:00");
    s.mark_day(days[0]);
    assert!(s.run(days[0], "09:44").is_empty());
    for day in &days {
        s.mark_day(*day);
        s.run(*day, "09:45");
    }
    assert_eq!(s.on(0, "first_day"), days);
    // "more than three school days in a row": the fourth.
    assert_eq!(s.on(0, "signed_letter_run"), [days[3]]);
    let d = s.decision(0, "signed_letter_run");
    assert_eq!(
        actions(d),
        [(Channel::Letter, Recipient::ParentalResponsibility, None)]
    );
    assert_eq!(d.transition, None);
}

#[test]
fn inspire_more_than_ten_days_in_a_term_counts_half_days_once_a_term() {
    let mut s = inspire(vec![young(UPN, "2025-09-03")]);
    // From November, at an appointment every morning: never a whole day absent.
    s.plan(0, "2025-09-03", "2026-03-27", |d| {
        Some(if d >= date("2025-11-03") {
            ["M", "\\"]
        } else {
            PRESENT
        })
    });
    let terms = s.walk.school.calendar.terms().to_vec();
    let over_ten_days = |term: usize| {
        let t = &terms[term];
        s.first_day(&t.start.to_string(), &t.end.to_string(), |d| {
            s.codes(0, t.start, d)
                .iter()
                .filter(|c| !attended(c))
                .count()
                > 20
        })
        .expect("reached")
    };
    let (autumn, spring) = (over_ten_days(0), over_ten_days(1));
    s.walk("2025-09-03", "2025-12-19", "18:00");
    assert_eq!(s.on(0, "signed_letter_term"), [autumn]);
    // Spring: no run at all until the day the count is reached (the service was down); the
    // new term still asks for a new letter.
    for day in s.days("2026-01-05", &spring.to_string()) {
        s.mark_day(day);
    }
    s.run(spring, "18:00");
    s.walk(
        &spring.succ_opt().expect("date").to_string(),
        "2026-03-27",
        "18:00",
    );
    assert_eq!(s.on(0, "signed_letter_term"), [autumn, spring]);
    assert!(s.on(0, "signed_letter_run").is_empty());
    assert!(
        s.decision(0, "signed_letter_term")
            .reason
            .starts_with("21 sessions of absence (M×21) this term"),
        "{}",
        s.decision(0, "signed_letter_term").reason
    );
}

#[test]
fn inspire_falling_to_96_then_below_96_then_below_90() {
    let mut s = inspire(vec![young(UPN, "2025-09-03")]);
    // 48 school days present, then ill: at 100 sessions attendance is exactly 96 %.
    let days = s.days("2025-09-03", "2025-12-19");
    let ill_from = days[48];
    s.plan(0, "2025-09-03", "2025-12-19", |d| {
        Some(if d >= ill_from { ["I", "I"] } else { PRESENT })
    });
    let start = date("2025-09-03");
    let first = |hit: fn(u32, u32, u32) -> bool, tenths: u32| {
        s.first_day("2025-09-03", "2025-12-19", |d| {
            let (a, p) = s.tally(0, start, d);
            p >= 60 && hit(a, p, tenths)
        })
        .expect("reached")
    };
    let to_96 = first(at_or_below, 960);
    let below_96 = first(below, 960);
    let below_90 = first(below, 900);
    s.walk("2025-09-03", &below_90.to_string(), "18:00");
    assert_eq!(s.tally(0, start, to_96), (96, 100));
    assert!(to_96 < below_96 && below_96 < below_90);
    assert_eq!(s.on(0, "talk_and_call"), [to_96]);
    assert_eq!(s.on(0, "concern_letter"), [below_96]);
    assert_eq!(s.on(0, "monitoring"), [below_90]);
    assert!(
        s.decision(0, "talk_and_call")
            .reason
            .starts_with("attendance 96.0% at or below 96% this school year"),
        "{}",
        s.decision(0, "talk_and_call").reason
    );
    assert_eq!(
        actions(s.decision(0, "talk_and_call")),
        [
            (
                Channel::Task,
                Recipient::AttendanceOfficer,
                Some(TaskKind::Meeting)
            ),
            (
                Channel::Task,
                Recipient::AttendanceOfficer,
                Some(TaskKind::Call)
            ),
        ]
    );
    assert_eq!(
        actions(s.decision(0, "monitoring")),
        [
            (Channel::Letter, Recipient::ParentalResponsibility, None),
            (
                Channel::Task,
                Recipient::AttendanceOfficer,
                Some(TaskKind::Call)
            ),
        ]
    );
    let case = s.walk.cases[0].as_ref().expect("case");
    assert_eq!(case.opened_on, to_96);
    assert_eq!(case.stage, "monitoring");
}

/// Off every Monday and Tuesday from 8 September (60 % attendance), unless `until` says when
/// the pupil starts coming every day.
fn monday_tuesday_absence(s: &mut School, until: Option<NaiveDate>) {
    s.plan(0, "2025-09-03", "2026-07-16", |d| {
        let off = d >= date("2025-09-08")
            && until.is_none_or(|u| d < u)
            && weekday(d, &[Weekday::Mon, Weekday::Tue]);
        Some(if off { ["M", "M"] } else { PRESENT })
    });
}

/// The day monitoring starts for the Monday/Tuesday pupil: 60 sessions, below 90 %.
fn monitoring_day(s: &School) -> NaiveDate {
    s.first_day("2025-09-03", "2026-07-16", |d| {
        let (a, p) = s.tally(0, date("2025-09-03"), d);
        p >= 60 && below(a, p, 900)
    })
    .expect("reached")
}

/// Off every Monday and Tuesday from 8 September with `code`, and the Inspire ladder walked to
/// March. Returns the school and the days monitoring, the targets meeting and the four weeks'
/// monitoring started: each a step a day apart at first, then each period counted from the
/// school day after the absence going on when it started.
fn inspire_no_improvement(code: &'static str) -> (School, [NaiveDate; 3]) {
    let mut s = inspire(vec![young(UPN, "2025-09-03")]);
    s.plan(0, "2025-09-03", "2026-07-16", |d| {
        let off = d >= date("2025-09-08") && weekday(d, &[Weekday::Mon, Weekday::Tue]);
        Some(if off { [code, code] } else { PRESENT })
    });
    let m = monitoring_day(&s);
    s.walk("2025-09-03", "2026-03-27", "18:00");
    // The first 60 sessions already put the pupil below 90 %: the talk that day, the concern
    // letter the next school day, the monitoring letter the day after; never three at once.
    let concern = s.school_day_after(m, 1);
    let monitoring = s.school_day_after(m, 2);
    assert_eq!(s.on(0, "talk_and_call"), [m]);
    assert_eq!(s.on(0, "concern_letter"), [concern]);
    assert_eq!(s.on(0, "monitoring"), [monitoring]);
    // Two school weeks of monitoring, then two more after the meeting: attendance in each
    // period stays at 60 %.
    let meeting = s.school_day_after(s.acted_from(0, monitoring), 9);
    let four_weeks = s.school_day_after(s.acted_from(0, meeting), 9);
    for (from, to) in [(monitoring, meeting), (meeting, four_weeks)] {
        let from = s.acted_from(0, from);
        let (a, p) = s.tally(0, from, to);
        assert!(below(a, p, 900), "{from}..{to}: {}", pct(a, p));
    }
    assert_eq!(s.on(0, "targets_meeting"), [meeting]);
    assert_eq!(s.on(0, "four_week_monitoring"), [four_weeks]);
    assert!(s.on(0, "targets_met").is_empty());
    assert!(s.on(0, "stabilised").is_empty());
    (s, [monitoring, meeting, four_weeks])
}

#[test]
fn inspire_no_improvement_climbs_to_targets_final_warning_and_penalty_review() {
    // Unauthorised absence (O): the warning and the review follow, four weeks apart.
    let (s, [_, _, four_weeks]) = inspire_no_improvement("O");
    let warning = s.school_day_after(s.acted_from(0, four_weeks), 19);
    let penalty = s.school_day_after(s.acted_from(0, warning), 19);
    for (from, to) in [(four_weeks, warning), (warning, penalty)] {
        let from = s.acted_from(0, from);
        let unauthorised = s.codes(0, from, to).iter().filter(|c| **c == "O").count();
        let possible = s.codes(0, from, to).len();
        assert!(10 * unauthorised > possible, "{from}..{to}");
    }
    assert_eq!(s.on(0, "final_warning"), [warning]);
    assert_eq!(s.on(0, "penalty_review"), [penalty]);
    let w = s.decision(0, "final_warning");
    assert!(w.requires_approval);
    assert_eq!(
        actions(w),
        [(Channel::Letter, Recipient::ParentalResponsibility, None)]
    );
    let pn = s.decision(0, "penalty_review");
    assert!(
        pn.requires_approval,
        "a penalty notice is considered, never issued by the engine"
    );
    assert_eq!(
        actions(pn),
        [(
            Channel::Task,
            Recipient::Headteacher,
            Some(TaskKind::PenaltyNoticeReview)
        )]
    );
    assert_eq!(
        s.walk.cases[0].as_ref().expect("case").stage,
        "penalty_review"
    );
}

#[test]
fn inspire_authorised_absence_is_monitored_but_never_warned_of_a_penalty() {
    // The same pattern as medical appointments (M, authorised): support and monitoring, but a
    // warning of a penalty or a penalty-notice review only ever counts unauthorised absence.
    let (s, _) = inspire_no_improvement("M");
    assert!(s.on(0, "final_warning").is_empty());
    assert!(s.on(0, "penalty_review").is_empty());
    assert!(s.on(0, "penalty_threshold_review").is_empty());
    assert_eq!(
        s.walk.cases[0].as_ref().expect("case").stage,
        "four_week_monitoring"
    );
}

#[test]
fn inspire_improvement_in_monitoring_is_congratulated_and_96_closes_the_case() {
    let mut s = inspire(vec![young(UPN, "2025-09-03")]);
    // Four days off in September, never two in a row, then every day.
    let off = [
        date("2025-09-08"),
        date("2025-09-10"),
        date("2025-09-15"),
        date("2025-09-17"),
    ];
    s.plan(0, "2025-09-03", "2026-03-27", |d| {
        Some(if off.contains(&d) {
            ["I", "I"]
        } else {
            PRESENT
        })
    });
    s.walk("2025-09-03", "2026-03-27", "18:00");
    let start = date("2025-09-03");
    let first_judged = s
        .first_day("2025-09-03", "2026-03-27", |d| {
            let (a, p) = s.tally(0, start, d);
            p >= 60 && below(a, p, 900)
        })
        .expect("reached");
    // The talk, the concern letter and the monitoring letter a school day apart, the pupil
    // still below 90 % on the third.
    let m = s.school_day_after(first_judged, 2);
    let (a, p) = s.tally(0, start, m);
    assert!(below(a, p, 900));
    assert_eq!(s.on(0, "talk_and_call"), [first_judged]);
    assert_eq!(s.on(0, "monitoring"), [m]);
    let two_weeks = s.school_day_after(s.acted_from(0, m), 9);
    let (a, p) = s.tally(0, s.acted_from(0, m), two_weeks);
    assert!(!below(a, p, 900), "improved: {}", pct(a, p));
    assert_eq!(s.on(0, "targets_met"), [two_weeks]);
    assert!(s.on(0, "targets_meeting").is_empty());
    assert_eq!(
        actions(s.decision(0, "targets_met")),
        [(Channel::Letter, Recipient::ParentalResponsibility, None)]
    );
    // Monitoring continues until attendance stabilises above 96 %: above it at the end of
    // every school day for two school weeks, which closes the case.
    let above_96 = |d: NaiveDate| {
        let (a, p) = s.tally(0, start, d);
        p >= 60 && above(a, p, 960)
    };
    let stable = s
        .first_day("2025-09-03", "2026-03-27", |d| {
            (0..10).all(|back| {
                let day = s.walk.school_days(start, d);
                day.len() > back && above_96(day[day.len() - 1 - back])
            })
        })
        .expect("recovers within the year");
    assert!(stable > two_weeks);
    // One reading above 96 % is not enough: the figure first crossed it days earlier.
    let first_above = s
        .first_day("2025-09-03", "2026-03-27", above_96)
        .expect("crosses");
    assert!(first_above < stable);
    assert_eq!(s.on(0, "stabilised"), [stable]);
    assert_eq!(
        s.decision(0, "stabilised").transition,
        Some((Some("targets_met".to_owned()), None))
    );
    assert!(s.walk.cases[0].is_none());
    // Nothing restarts while attendance stays above 96 %.
    assert_eq!(s.on(0, "talk_and_call"), [first_judged]);
}

#[test]
fn inspire_a_relapse_after_congratulations_starts_the_four_week_route() {
    let mut s = inspire(vec![young(UPN, "2025-09-03")]);
    let off = [
        date("2025-09-08"),
        date("2025-09-10"),
        date("2025-09-15"),
        date("2025-09-17"),
    ];
    s.plan(0, "2025-09-03", "2026-03-27", |d| {
        Some(if off.contains(&d) {
            ["I", "I"]
        } else {
            PRESENT
        })
    });
    let start = date("2025-09-03");
    let ytd_below_90 = |s: &School, d: NaiveDate| {
        let (a, p) = s.tally(0, start, d);
        p >= 60 && below(a, p, 900)
    };
    let first_judged = s
        .first_day("2025-09-03", "2026-03-27", |d| ytd_below_90(&s, d))
        .expect("reached");
    // Talk, concern letter, monitoring letter: a school day apart.
    let m = s.school_day_after(first_judged, 2);
    let congratulated = s.school_day_after(m, 10);
    // A week of illness starting a week after the congratulations.
    let ill: Vec<NaiveDate> = (15..20).map(|n| s.school_day_after(m, n)).collect();
    s.plan(0, &ill[0].to_string(), &ill[4].to_string(), |_| {
        Some(["I", "I"])
    });
    s.walk("2025-09-03", "2026-03-27", "18:00");
    assert_eq!(s.on(0, "targets_met"), [congratulated]);
    // The figure was back over 90 % and fell under it again...
    assert!(!ytd_below_90(&s, ill[0].pred_opt().expect("date")));
    assert!(ytd_below_90(&s, ill[4]));
    // ...but the pupil is already monitored: no second monitoring letter.
    assert_eq!(s.on(0, "monitoring"), [m]);
    // Two weeks after the congratulations (counted from the day after), attendance since then
    // is below 90 %.
    let from = s.acted_from(0, congratulated);
    let relapse = s
        .first_day(
            &s.school_day_after(from, 9).to_string(),
            "2026-03-27",
            |d| {
                let (a, p) = s.tally(0, from, d);
                below(a, p, 900)
            },
        )
        .expect("a relapse");
    assert_eq!(s.on(0, "four_week_monitoring"), [relapse]);
    assert_eq!(
        s.walk.cases[0].as_ref().expect("case").stage_entered,
        relapse
    );
}

#[test]
fn inspire_targets_met_two_weeks_after_the_meeting() {
    let mut s = inspire(vec![young(UPN, "2025-09-03")]);
    monday_tuesday_absence(&mut s, None);
    // Talk, concern letter and monitoring letter a school day apart.
    let m = s.school_day_after(monitoring_day(&s), 2);
    let meeting = s.school_day_after(s.acted_from(0, m), 9);
    // After the targets meeting the pupil comes every day.
    monday_tuesday_absence(&mut s, Some(meeting));
    s.walk("2025-09-03", "2026-03-27", "18:00");
    assert_eq!(s.on(0, "targets_meeting"), [meeting]);
    let checked = s.school_day_after(s.acted_from(0, meeting), 9);
    let (a, p) = s.tally(0, s.acted_from(0, meeting), checked);
    assert!(!below(a, p, 900));
    assert_eq!(s.on(0, "targets_met"), [checked]);
    assert!(s.on(0, "four_week_monitoring").is_empty());
    assert!(s.on(0, "final_warning").is_empty());
    assert_eq!(s.walk.cases[0].as_ref().expect("case").stage, "targets_met");
}

#[test]
fn jma_a_pupil_admitted_last_year_is_past_integration_this_september() {
    // Admitted in September 2024: by September 2025 the six-week integration is long over,
    // so adjusted attendance is actual attendance from the first day of the year. Three days
    // of C2 in the first fortnight: flagged as soon as 40 sessions are possible.
    let pupils = vec![young(UPN, "2024-09-02")];
    let mut s = School::new("james-marks-academy", "10:00", "13:45", pupils);
    let marks = |d: NaiveDate| {
        let bad = d >= date("2025-09-03") && d <= date("2025-09-05");
        Some(if bad { ["C2", "C2"] } else { PRESENT })
    };
    s.plan(0, "2025-09-03", "2025-12-19", marks);
    s.walk("2025-09-03", "2025-12-19", "18:00");
    let flagged = s
        .first_day("2025-09-03", "2025-12-19", |d| {
            let (a, p) = s.tally(0, date("2025-09-03"), d);
            p >= 40 && below(a, p, 950)
        })
        .expect("three days off in the first twenty");
    assert_eq!(s.on(0, "below_95_adjusted"), [flagged]);
    let reason = &s.decision(0, "below_95_adjusted").reason;
    assert!(reason.contains("since 2025-09-03)"), "{reason}");
}

/// (day index, stage) for each new decision of a day-by-day walk: `code(i)` for both sessions
/// of school day `i`, the run at 18:00, approvals at the end of the day.
fn walk_days(
    walk: &mut Walk,
    days: &[NaiveDate],
    code: impl Fn(usize) -> &'static str,
) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, day) in days.iter().enumerate() {
        walk.mark(0, *day, Session::Am, code(i));
        walk.mark(0, *day, Session::Pm, code(i));
        for stage in walk.run(at(*day, "18:00")) {
            out.push((i, stage));
        }
        walk.approve(*day);
    }
    out
}

fn on_days(fired: &[(usize, String)], stage: &str) -> Vec<usize> {
    fired
        .iter()
        .filter(|(_, s)| s == stage)
        .map(|(i, _)| *i)
        .collect()
}

#[test]
fn isp_james_marks_and_russell_street_severe_absence_meets_the_family_and_asks_the_la_for_a_joint_approach()
 {
    for (policy, meeting_with) in [
        ("isp-whitstable", Recipient::DeputyHead),
        ("james-marks-academy", Recipient::Headteacher),
        ("russell-street-school", Recipient::AttendanceOfficer),
    ] {
        // Admitted in November: ten school days in school, then ill every day.
        let admitted = date("2025-11-03");
        let mut walk = Walk::new(policy, pupil(support::UPN, "4A", admitted));
        let days = walk.school_days(admitted, date("2025-12-19"));
        let present = 10;
        let fired = walk_days(&mut walk, &days, |i| if i < present { "/" } else { "I" });
        // Severe absence: absent ≥ half the possible sessions, once the year holds 40.
        let expected = (0..days.len())
            .find(|&i| {
                let possible = 2 * (i + 1);
                let absent = 2 * (i + 1).saturating_sub(present);
                possible >= 40 && 2 * absent >= possible
            })
            .expect("severe absence within the term");
        assert_eq!(
            on_days(&fired, "severe_absence_meeting"),
            [expected],
            "{policy}"
        );
        assert_eq!(on_days(&fired, "severe_absence_la"), [expected], "{policy}");
        let meeting = walk.decision("severe_absence_meeting");
        assert!(
            !meeting.requires_approval,
            "{policy}: the meeting is arranged at once"
        );
        assert_eq!(meeting.actions[0].to, meeting_with, "{policy}");
        assert_eq!(meeting.actions[0].task, Some(TaskKind::Meeting), "{policy}");
        let la = walk.decision("severe_absence_la");
        assert!(
            la.requires_approval,
            "{policy}: the LA notice waits for a person"
        );
        assert_eq!(
            (la.actions[0].channel, la.actions[0].to),
            (Channel::Email, Recipient::La),
            "{policy}"
        );
        // Neither moves the school's own ladder.
        assert!(
            meeting.transition.is_none() && la.transition.is_none(),
            "{policy}"
        );
    }
}

#[test]
fn isp_religious_observance_beyond_three_days_raises_a_task_once() {
    let mut walk = Walk::new(
        "isp-whitstable",
        pupil(support::UPN, "4A", date("2025-09-01")),
    );
    let days = walk.school_days(date("2025-09-01"), date("2025-12-19"));
    // R on four separate days (a week apart), present otherwise. L180: "a maximum of three
    // days": the fourth day's sessions go beyond six, so its run raises the task.
    let r_days = [10, 15, 20, 25, 30];
    let fired = walk_days(&mut walk, &days, |i| {
        if r_days.contains(&i) { "R" } else { "/" }
    });
    assert_eq!(on_days(&fired, "religious_observance_cap"), [r_days[3]]);
    let task = walk.decision("religious_observance_cap");
    assert_eq!(task.actions[0].task, Some(TaskKind::Review));
    assert!(
        task.reason
            .starts_with("8 sessions coded R (R×8) this school year"),
        "{}",
        task.reason
    );
}

#[test]
fn isp_every_friday_off_is_a_pattern_before_the_95_line_and_again_when_it_starts_again() {
    let mut s = School::new(
        "isp-whitstable",
        "09:30",
        "13:45",
        vec![young(UPN, "2025-09-03")],
    );
    // Off (ill) every Friday of the first half term; in every day after; then off every
    // Monday from January.
    let fridays: Vec<NaiveDate> = s
        .days("2025-09-03", "2025-10-24")
        .into_iter()
        .filter(|d| d.weekday() == Weekday::Fri)
        .collect();
    let mondays: Vec<NaiveDate> = s
        .days("2026-01-05", "2026-02-13")
        .into_iter()
        .filter(|d| d.weekday() == Weekday::Mon)
        .collect();
    s.plan(0, "2025-09-03", "2026-02-13", |d| {
        Some(if fridays.contains(&d) || mondays.contains(&d) {
            ["I", "I"]
        } else {
            PRESENT
        })
    });
    s.walk("2025-09-03", "2026-02-13", "18:00");
    // The third Friday and the third Monday: absent that weekday in 3 of the last 6 school
    // weeks; once for each run of the pattern (the Fridays stop, the 6-week window empties).
    assert_eq!(s.on(0, "absence_pattern"), [fridays[2], mondays[2]]);
    // Before the 95 % line: the concern record (once the year holds 40 sessions) comes later.
    let concern = s.on(0, "concern_record");
    assert!(
        concern.first().is_none_or(|c| *c > fridays[2]),
        "{concern:?}"
    );
    let d = s.decision(0, "absence_pattern");
    assert_eq!(
        actions(d),
        [(
            Channel::Task,
            Recipient::DeputyHead,
            Some(TaskKind::Meeting)
        )]
    );
    assert!(
        d.reason
            .starts_with("absent on 3 Fridays over the last 6 school weeks"),
        "{}",
        d.reason
    );
}

#[test]
fn james_marks_late_every_tuesday_is_persistent_lateness_on_the_sixth() {
    let mut s = School::new(
        "james-marks-academy",
        "10:00",
        "13:45",
        vec![young(UPN, "2025-09-03")],
    );
    let tuesdays: Vec<NaiveDate> = s
        .days("2025-11-03", "2025-12-19")
        .into_iter()
        .filter(|d| d.weekday() == Weekday::Tue)
        .collect();
    // Late before the register closed on odd Tuesdays, after it (U) on even ones.
    s.plan(0, "2025-09-03", "2025-12-19", |d| {
        Some(match tuesdays.iter().position(|t| *t == d) {
            Some(i) if i % 2 == 0 => ["L", "\\"],
            Some(_) => ["U", "\\"],
            None => PRESENT,
        })
    });
    s.walk("2025-09-03", "2025-12-19", "18:00");
    // Six late arrivals (L and U together) in the last eight school weeks: the sixth Tuesday,
    // then not again while late every week.
    assert_eq!(s.on(0, "persistent_lateness"), [tuesdays[5]]);
    let d = s.decision(0, "persistent_lateness");
    assert_eq!(
        actions(d),
        [(
            Channel::Task,
            Recipient::Headteacher,
            Some(TaskKind::Meeting)
        )]
    );
    assert!(
        d.reason.starts_with("6 late sessions (L×3, U×3)"),
        "{}",
        d.reason
    );
}

#[test]
fn inspire_emergency_contacts_a_pupil_with_one_is_on_the_office_list_each_week() {
    let mut s = inspire(vec![young(UPN, "2025-09-03")]);
    // This pupil has only the parent's number.
    s.walk.contacts[0].truncate(1);
    s.plan(0, "2025-09-03", "2025-10-03", |_| Some(PRESENT));
    s.walk("2025-09-03", "2025-09-26", "18:00");
    // The first school day of each school week: Wednesday 3 September, then Mondays.
    let weeks = [
        date("2025-09-03"),
        date("2025-09-08"),
        date("2025-09-15"),
        date("2025-09-22"),
    ];
    assert_eq!(s.on(0, "emergency_contacts"), weeks);
    let d = s.decision(0, "emergency_contacts");
    assert_eq!(
        actions(d),
        [(
            Channel::Task,
            Recipient::AttendanceOfficer,
            Some(TaskKind::Review)
        )]
    );
    assert_eq!(
        d.reason,
        "1 contact with a phone number on file; the policy asks for 2"
    );
    // The next import brings a grandmother's mobile: off the list.
    let mut second = parent(UPN, 2, "Grace Hopper", "+447700900009");
    second.parental_responsibility = false;
    s.walk.contacts[0].push(second);
    s.walk("2025-09-29", "2025-10-03", "18:00");
    assert_eq!(s.on(0, "emergency_contacts"), weeks);
}

#[test]
fn inspire_five_days_ill_in_a_term_prepares_a_medical_evidence_letter_for_a_person() {
    let mut s = inspire(vec![young(UPN, "2025-09-03")]);
    // Ill every Thursday.
    let thursdays: Vec<NaiveDate> = s
        .days("2025-09-03", "2026-02-13")
        .into_iter()
        .filter(|d| d.weekday() == Weekday::Thu)
        .collect();
    s.plan(0, "2025-09-03", "2026-02-13", |d| {
        Some(if thursdays.contains(&d) {
            ["I", "I"]
        } else {
            PRESENT
        })
    });
    s.walk("2025-09-03", "2026-02-13", "18:00");
    // 10 sessions of I in a term: the fifth Thursday of each term, once a term.
    let autumn: Vec<&NaiveDate> = thursdays
        .iter()
        .filter(|d| **d < date("2026-01-01"))
        .collect();
    let spring: Vec<&NaiveDate> = thursdays
        .iter()
        .filter(|d| **d > date("2026-01-01"))
        .collect();
    assert_eq!(s.on(0, "medical_evidence"), [*autumn[4], *spring[4]]);
    let d = s.decision(0, "medical_evidence");
    assert!(d.requires_approval, "the doubt is a person's to judge");
    assert_eq!(
        actions(d),
        [(Channel::Letter, Recipient::ParentalResponsibility, None)]
    );
}

#[test]
fn isp_three_weeks_off_sick_is_a_long_absence_not_a_weekday_pattern() {
    let mut s = School::new(
        "isp-whitstable",
        "09:30",
        "13:45",
        vec![young(UPN, "2025-09-03")],
    );
    // Ill for three whole school weeks in November, in every other day of the term.
    let ill = s.days("2025-11-03", "2025-11-21");
    assert_eq!(ill.len(), 15);
    s.plan(0, "2025-09-03", "2025-12-19", |d| {
        Some(if ill.contains(&d) {
            ["I", "I"]
        } else {
            PRESENT
        })
    });
    s.walk("2025-09-03", "2025-12-19", "18:00");
    // Absent on three Mondays (Tuesdays, …) in six school weeks, but in no week the pupil was
    // in school: no pattern. The 95 % line is what reaches a person.
    assert!(s.on(0, "absence_pattern").is_empty(), "{:?}", s.fired);
    assert!(!s.on(0, "concern_record").is_empty());
}

#[test]
fn inspire_letters_from_one_run_and_an_earlier_one_go_on_different_school_days() {
    let mut s = inspire(vec![young(UPN, "2025-09-03")]);
    // Ill on one Monday in November, then from the next Monday for four days: on that
    // Thursday the pupil has been absent more than three days in a row (a signed letter) and
    // ill for 10 sessions this term (the medical-evidence letter).
    let first = date("2025-11-03");
    let run = s.days("2025-11-10", "2025-11-13");
    s.plan(0, "2025-09-03", "2025-12-19", |d| {
        Some(if d == first || run.contains(&d) {
            ["I", "I"]
        } else {
            PRESENT
        })
    });
    s.walk("2025-09-03", "2025-11-13", "18:00");
    let thursday = run[3];
    let letters: Vec<(String, NaiveDate)> = s
        .walk
        .fired
        .iter()
        .filter(|d| d.facts.as_of.date() == thursday)
        .flat_map(|d| {
            d.actions
                .iter()
                .filter(|a| a.channel == Channel::Letter)
                .map(|a| (d.stage.clone(), a.not_before.map_or(thursday, |t| t.date())))
                .collect::<Vec<_>>()
        })
        .collect();
    // The monitoring letter (the ladder's step) goes today; the signed letter the next
    // school day; the medical-evidence letter the first school day after that with no letter
    // home (Monday), not with the signed letter on Friday: one envelope a day.
    let friday = s.days("2025-11-14", "2025-11-14")[0];
    let monday = s.days("2025-11-17", "2025-11-17")[0];
    assert_eq!(
        letters,
        [
            ("signed_letter_run".to_owned(), friday),
            ("monitoring".to_owned(), thursday),
            ("medical_evidence".to_owned(), monday),
        ]
    );
    // The concern letter found again while attendance stays below 96 % is no new letter and
    // takes no day.
    assert_eq!(s.on(0, "concern_letter").len(), 1);
    // Nothing new posts a letter on Friday or Monday.
    s.walk("2025-11-14", "2025-11-17", "18:00");
    let later: Vec<&str> = s
        .walk
        .fired
        .iter()
        .filter(|d| d.facts.as_of.date() > thursday)
        .filter(|d| d.actions.iter().any(|a| a.channel == Channel::Letter))
        .map(|d| d.stage.as_str())
        .collect();
    assert!(later.is_empty(), "{later:?}");
}

// ------------------------------------------------------------------------------------------
// Issue 14: last year's attendance, Stage One's two days, "close to", an extended
// integration period, illness that stays unevidenced
// ------------------------------------------------------------------------------------------

/// Marks every weekday of the 2024/25 school year (2 September 2024 to 18 July 2025) for
/// `pupil`: `absent(i)` says whether the i-th of those days was an illness (`I`). Returns
/// (attended, possible) sessions, the test's own tally of last year.
fn last_year(s: &mut School, pupil: usize, absent: impl Fn(usize) -> bool) -> (u32, u32) {
    let mut day = date("2024-09-02");
    let (mut attended, mut possible) = (0, 0);
    let mut i = 0;
    while day <= date("2025-07-18") {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            let code = if absent(i) { "I" } else { "/" };
            s.walk.mark(pupil, day, Session::Am, code);
            s.walk.mark(pupil, day, Session::Pm, code);
            possible += 2;
            if code == "/" {
                attended += 2;
            }
            i += 1;
        }
        day = day.succ_opt().expect("date");
    }
    (attended, possible)
}

#[test]
fn russell_street_last_years_attendance_below_national_brings_the_meeting_from_day_three() {
    // Three infants present every day of this year until an unexplained absence on 8 June.
    // Pupil 0 was ill one day in ten last year (90 %, below the national primary 94.5 %);
    // pupil 1 one day in forty (97.5 %); pupil 2 joined this September: no earlier year, so
    // the trigger says nothing (absent data is never low attendance).
    let pupils = vec![
        young(UPN, "2024-09-02"),
        young(UPN_B, "2024-09-02"),
        young(UPN_C, "2025-09-03"),
    ];
    let mut s = School::new("russell-street-school", "09:00", "13:45", pupils);
    let (a0, p0) = last_year(&mut s, 0, |i| i % 10 == 0);
    let (a1, p1) = last_year(&mut s, 1, |i| i % 40 == 0);
    assert!(below(a0, p0, 945), "{}", pct(a0, p0));
    assert!(!below(a1, p1, 945), "{}", pct(a1, p1));
    // The national figure the policy states is the shipped primary one.
    let national = rollcall::report::national::NationalFigures::load(None).expect("figures");
    let primary = national
        .primary
        .as_ref()
        .and_then(|p| p.attendance())
        .expect("primary");
    assert!((primary - 94.5).abs() < 1e-9, "{primary}");

    for p in 0..3 {
        s.plan(p, "2025-09-03", "2026-06-05", |_| Some(PRESENT));
        s.plan(p, "2026-06-08", "2026-06-19", |_| Some(["N", "N"]));
    }
    // The year marked without runs, then one run the evening before the absence (so the
    // mornings after are a school run daily, not a catch-up).
    for day in s.days("2025-09-03", "2026-06-05") {
        s.mark_day(day);
    }
    assert!(s.run(date("2026-06-05"), "18:00").is_empty());
    let days = s.days("2026-06-08", "2026-06-19");
    assert_eq!(days.len(), 10);
    for day in &days {
        s.mark_day(*day);
        s.run(*day, "09:00");
    }
    let start = date("2025-09-03");
    // This year's own ways into Stage Three: week two, below 96.5 % (60 sessions), below 97 %
    // (70 sessions), whichever first.
    let this_year = |s: &School, p: usize| {
        let close = s.first_day("2026-06-08", "2026-06-19", |d| {
            let (a, n) = s.tally(p, start, d);
            (n >= 60 && below(a, n, 965)) || (n >= 70 && below(a, n, 970))
        });
        close.map_or(days[5], |d| d.min(days[5]))
    };
    // Stage Two on day three for everyone.
    for p in 0..3 {
        assert_eq!(s.on(p, "stage_two"), [days[2]], "pupil {p}");
    }
    // Pupil 0: last year below national, absent three days: the meeting is proposed on day
    // three with Stage Two. It waits for a person's approval, and a decision waiting for one
    // does not use the day's step (the case moves when it is approved).
    let expected0 = this_year(&s, 0).min(days[2]);
    assert_eq!(s.on(0, "stage_three"), [expected0]);
    assert_eq!(expected0, days[2], "earlier than this year's own reasons");
    let reason = &s.decision(0, "stage_three").reason;
    assert!(
        reason.contains(&format!(
            "attendance last school year (2024/25) was {:.1}% ({a0} of {p0} sessions attended), below 94.5%",
            pct(a0, p0)
        )),
        "{reason}"
    );
    // Pupils 1 and 2: only this year's reasons.
    assert_eq!(s.on(1, "stage_three"), [this_year(&s, 1)]);
    assert_eq!(s.on(2, "stage_three"), [this_year(&s, 2)]);
    assert!(days[2] < this_year(&s, 1));
}

#[test]
fn russell_street_stage_one_rings_on_days_one_and_two_of_each_absence_only() {
    // Off Monday to Wednesday with no word, in on Thursday, off again Friday and the Monday
    // after: the office rings on the first two days of each absence (L196), and the social
    // worker hears of every unexplained day (DOMAIN.md).
    let mut with_sw = young(UPN, "2025-09-03");
    with_sw.social_worker = true;
    let mut s = School::new("russell-street-school", "09:00", "13:45", vec![with_sw]);
    let off = [
        "2025-11-03",
        "2025-11-04",
        "2025-11-05",
        "2025-11-07",
        "2025-11-10",
    ]
    .map(date);
    s.plan(0, "2025-09-03", "2025-11-14", |d| {
        Some(if off.contains(&d) {
            ["N", "N"]
        } else {
            PRESENT
        })
    });
    s.walk("2025-09-03", "2025-11-14", "09:00");
    // Worked out from the plan: the day of each absence each unexplained day is.
    let all = s.days("2025-09-03", "2025-11-14");
    let mut run = 0;
    let mut expected = Vec::new();
    for d in &all {
        if off.contains(d) {
            run += 1;
            if run <= 2 {
                expected.push(*d);
            }
        } else {
            run = 0;
        }
    }
    assert_eq!(
        expected,
        ["2025-11-03", "2025-11-04", "2025-11-07", "2025-11-10"].map(date)
    );
    assert_eq!(s.on(0, "stage_one"), expected);
    assert_eq!(s.on(0, "social_worker_absent"), off);
    assert!(
        s.decision(0, "stage_one")
            .reason
            .ends_with("day 1 of the absence"),
        "{}",
        s.decision(0, "stage_one").reason
    );
}

#[test]
fn jma_an_extended_integration_period_is_left_out_of_adjusted_attendance() {
    // Two pupils with the same marks, both admitted on 15 September: their six school weeks
    // of integration end on 24 October. A bad fortnight (C2 three days a week) from
    // 10 November. The senior leadership team extended pupil 1's integration to 21 November
    // (L44 "This can be extended"): that fortnight is inside it, so pupil 1's adjusted
    // attendance does not see it; pupil 0's does.
    let pupils = vec![young(UPN, "2025-09-15"), young(UPN_B, "2025-09-15")];
    let mut s = School::new("james-marks-academy", "10:00", "13:45", pupils);
    s.walk.records[1].integration = Some(rollcall::register::records::IntegrationExtension {
        until: date("2025-11-21"),
        by: "Scott Martin".into(),
        reason: "still building up to full days with the family".into(),
        recorded_at: "2025-10-20 16:00".into(),
    });
    let marks = |d: NaiveDate| {
        let bad = d >= date("2025-11-10")
            && d <= date("2025-11-21")
            && weekday(d, &[Weekday::Mon, Weekday::Tue, Weekday::Wed]);
        Some(if bad { ["C2", "C2"] } else { PRESENT })
    };
    s.plan(0, "2025-09-15", "2025-12-19", marks);
    s.plan(1, "2025-09-15", "2025-12-19", marks);
    s.walk("2025-09-15", "2025-12-19", "18:00");

    let natural_from = s.school_week_start(date("2025-09-15"), 6);
    assert_eq!(natural_from, date("2025-11-03"));
    let flagged = s
        .first_day("2025-11-03", "2025-12-19", |d| {
            let (a, p) = s.tally(0, natural_from, d);
            p >= 40 && below(a, p, 950)
        })
        .expect("the bad fortnight counts after the natural period");
    assert_eq!(s.on(0, "below_95_adjusted"), [flagged]);
    // Pupil 1's adjusted figure starts on the first school day after 21 November, and the
    // rest of the term is all present.
    let extended_from = s.days("2025-11-22", "2025-12-19")[0];
    let (a, p) = s.tally(1, extended_from, date("2025-12-19"));
    assert_eq!(a, p);
    assert!(s.on(1, "below_95_adjusted").is_empty());
    // The same pupil without the extension would have been flagged that day.
    let (a, p) = s.tally(1, natural_from, flagged);
    assert!(below(a, p, 950));
}

#[test]
fn inspire_illness_still_unevidenced_ten_school_days_on_is_reviewed() {
    // Three pupils ill all week from 3 November (10 I sessions, the medical-evidence letter's
    // threshold). Pupil 1's GP letter covers the whole week, pupil 2's only the Monday.
    let pupils = vec![
        young(UPN, "2025-09-03"),
        young(UPN_B, "2025-09-03"),
        young(UPN_C, "2025-09-03"),
    ];
    let mut s = inspire(pupils);
    let evidence = |from: &str, to: &str| rollcall::register::records::Evidence {
        from: date(from),
        to: date(to),
        by: "Jo Bloggs".into(),
        note: "GP letter".into(),
        recorded_at: "2025-11-10 09:00".into(),
    };
    s.walk.records[1]
        .evidence
        .push(evidence("2025-11-03", "2025-11-07"));
    s.walk.records[2]
        .evidence
        .push(evidence("2025-11-03", "2025-11-03"));
    for p in 0..3 {
        s.plan(p, "2025-09-03", "2025-12-19", |d| {
            let ill = d >= date("2025-11-03") && d <= date("2025-11-07");
            Some(if ill { ["I", "I"] } else { PRESENT })
        });
    }
    s.walk("2025-09-03", "2025-12-19", "18:00");
    // The test's own count: on day d, the I sessions of the term with no evidence, on school
    // days before the last ten school days up to d.
    let term_start = date("2025-09-03");
    let covered: [&[(&str, &str)]; 3] = [
        &[],
        &[("2025-11-03", "2025-11-07")],
        &[("2025-11-03", "2025-11-03")],
    ];
    let due = |p: usize| {
        s.first_day("2025-09-03", "2025-12-19", |d| {
            let days = s.days("2025-09-03", &d.to_string());
            let old = &days[..days.len().saturating_sub(10)];
            let count: usize = old
                .iter()
                .filter(|day| **day >= term_start)
                .map(|day| {
                    let evidenced = covered[p]
                        .iter()
                        .any(|(f, t)| date(f) <= *day && *day <= date(t));
                    let ill = s.plan[p]
                        .get(day)
                        .map_or(0, |c| c.iter().filter(|code| **code == "I").count());
                    if evidenced { 0 } else { ill }
                })
                .sum();
            count >= 10
        })
    };
    let expected = due(0).expect("pupil 0 reaches ten unevidenced sessions");
    assert_eq!(expected, s.school_day_after(date("2025-11-07"), 10));
    assert_eq!(s.on(0, "unevidenced_illness_review"), [expected]);
    assert_eq!(
        actions(s.decision(0, "unevidenced_illness_review")),
        [(
            Channel::Task,
            Recipient::AttendanceOfficer,
            Some(TaskKind::Review)
        )]
    );
    // The letter asking for evidence came first, at ten I sessions this term.
    assert_eq!(s.on(0, "medical_evidence"), [date("2025-11-07")]);
    assert_eq!(due(1), None);
    assert_eq!(due(2), None);
    assert!(s.on(1, "unevidenced_illness_review").is_empty());
    assert!(s.on(2, "unevidenced_illness_review").is_empty());
}

#[test]
fn russell_street_a_pupil_listed_again_withdraws_the_deletion_notice_still_waiting() {
    // The full export of Thursday 13 November left the pupil out (no leaving date): the
    // deletion notice is decided that day and waits for a person. Friday's full export lists
    // the pupil again: the notice, still waiting, is withdrawn with its cause gone.
    let mut s = School::new(
        "russell-street-school",
        "09:00",
        "13:45",
        vec![young(UPN, "2025-09-03")],
    );
    s.walk.auto_approve = false;
    s.plan(0, "2025-09-03", "2025-11-14", |_| Some(PRESENT));
    s.walk("2025-09-03", "2025-11-12", "18:00");
    s.walk.records[0].missing_from_export = Some(date("2025-11-13"));
    s.walk("2025-11-13", "2025-11-13", "18:00");
    assert_eq!(s.on(0, "deletion_notice"), [date("2025-11-13")]);
    let notice = s.decision(0, "deletion_notice");
    assert!(notice.requires_approval);
    assert!(
        notice
            .reason
            .starts_with("the full MIS export of 2025-11-13 no longer lists the pupil"),
        "{}",
        notice.reason
    );
    assert!(s.walk.withdrawn.is_empty());
    s.walk.records[0].missing_from_export = None;
    s.walk("2025-11-14", "2025-11-14", "18:00");
    assert_eq!(s.walk.withdrawn.len(), 1, "{:?}", s.walk.withdrawn);
    assert!(
        s.walk.withdrawn[0].1.starts_with("cause gone"),
        "{:?}",
        s.walk.withdrawn
    );
    assert_eq!(s.on(0, "deletion_notice"), [date("2025-11-13")]);
}

#[test]
fn roll_changes_wait_for_the_las_weekly_batch_day_when_the_policy_sets_one() {
    // The LA agreed to hear of roll changes on Fridays (`roll_change_batch_weekday`, off by
    // default). Pupil 0 joins on Monday 10 November, pupil 1 on Wednesday 12 November; pupil
    // 2 leaves on Tuesday 11 November. Each notice is decided on its day, as without a batch;
    // the LA's emails wait for Friday 14 November after the morning register (09:00), within
    // five school days of each admission. The social worker's email is not held.
    let joining = |upn: &str, day: &str| young(upn, day);
    let mut leaving = young(UPN_C, "2025-09-03");
    leaving.leaving_date = Some(date("2025-11-11"));
    leaving.social_worker = true;
    let mut s = School::new(
        "russell-street-school",
        "09:00",
        "13:45",
        vec![
            joining(UPN, "2025-11-10"),
            joining(UPN_B, "2025-11-12"),
            leaving,
        ],
    );
    s.walk.policy.settings.roll_change_batch_weekday = Some("friday".into());
    s.plan(0, "2025-11-10", "2025-11-14", |_| Some(PRESENT));
    s.plan(1, "2025-11-12", "2025-11-14", |_| Some(PRESENT));
    s.plan(2, "2025-11-03", "2025-11-11", |_| Some(PRESENT));
    s.walk("2025-11-03", "2025-11-14", "18:00");
    let friday = at(date("2025-11-14"), "09:00");
    assert_eq!(s.on(0, "new_pupil"), [date("2025-11-10")]);
    assert_eq!(s.on(1, "new_pupil"), [date("2025-11-12")]);
    assert_eq!(s.on(2, "deletion_notice"), [date("2025-11-11")]);
    // Five school days from each admission reach Friday or beyond.
    for admitted in ["2025-11-10", "2025-11-12"] {
        assert!(s.school_day_after(date(admitted), 4) >= date("2025-11-14"));
    }
    for p in 0..2 {
        let d = s.decision(p, "new_pupil");
        assert_eq!(d.actions.len(), 1);
        assert_eq!(d.actions[0].to, Recipient::La);
        assert_eq!(d.actions[0].not_before, Some(friday), "pupil {p}");
    }
    let d = s.decision(2, "deletion_notice");
    let held: Vec<(Recipient, Option<chrono::NaiveDateTime>)> =
        d.actions.iter().map(|a| (a.to, a.not_before)).collect();
    assert_eq!(
        held,
        [
            (Recipient::La, Some(friday)),
            (Recipient::SocialWorker, None)
        ]
    );
    // The shipped policies leave the batch off: each notice goes on its own day.
    let policy = support::load_policy("russell-street-school");
    assert_eq!(policy.settings.roll_change_batch_weekday, None);
    // A weekday the school is not open is refused.
    let text = std::fs::read_to_string(policy.source)
        .expect("policy")
        .replace(
            "approval_reminder_school_days = 3",
            "approval_reminder_school_days = 3\nroll_change_batch_weekday = \"saturday\"",
        );
    let errors =
        rollcall::escalation::policy::parse(&text, "rss.toml").expect_err("saturday refused");
    assert_eq!(errors[0].key, "settings.roll_change_batch_weekday");
}
