//! The restraint that makes a school trust rollcall. Each test here fails if its guard is
//! taken out of the engine: the stale-register guard, the mass-send brake, quiet hours for
//! SMS, no parent messages on non-school days, and same-day expiry of first-day messages.
//! (Re-check before send and one message per parent are tested against both databases in
//! `tests/backends.rs`, because they act on stored messages.)

mod support;

use rollcall::escalation::policy::Recipient;
use rollcall::register::session::Session;
use support::{Walk, at, date, parent, pupil};

/// Distinct valid UPNs for a class: check letter computed by the DfE rule.
fn upn(serial: u32) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRTUVWXYZ";
    let digits = format!("886200025{serial:03}");
    let sum: u32 = digits
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * (i as u32 + 2))
        .sum();
    format!("{}{digits}", LETTERS[(sum % 23) as usize] as char)
}

/// A school of `groups` registration groups of `size` pupils, everyone present all term so
/// far; returns the walk and the day under test (a Tuesday in term).
fn school(groups: &[&str], size: u32) -> (Walk, chrono::NaiveDate) {
    let day = date("2025-11-04");
    let first = upn(0);
    let mut walk = Walk::new("dfe-baseline", pupil(&first, groups[0], date("2025-09-01")));
    let mut serial = 1;
    for (g, group) in groups.iter().enumerate() {
        let from = if g == 0 { 1 } else { 0 };
        for _ in from..size {
            let id = upn(serial);
            let mobile = format!("+4477009{serial:05}");
            walk.add_pupil(
                pupil(&id, group, date("2025-09-01")),
                vec![parent(&id, 1, &format!("Parent {serial}"), &mobile)],
            );
            serial += 1;
        }
    }
    for i in 0..walk.pupils.len() {
        for d in walk.school_days(date("2025-09-01"), date("2025-11-03")) {
            walk.mark(i, d, Session::Am, "/");
            walk.mark(i, d, Session::Pm, "\\");
        }
    }
    (walk, day)
}

fn family_texts(
    e: &rollcall::escalation::stage::Evaluation,
) -> Vec<&rollcall::escalation::stage::PlannedAction> {
    e.decisions
        .iter()
        .flat_map(|d| &d.actions)
        .filter(|a| a.to == Recipient::Contacts)
        .collect()
}

#[test]
fn a_register_not_taken_holds_its_first_day_texts_and_alerts() {
    let (mut walk, day) = school(&["4A", "4B"], 10);
    // 4A's teacher took the register (one pupil N); 4B's has two marks out of ten.
    for i in 0..10 {
        walk.mark(i, day, Session::Am, if i == 0 { "N" } else { "/" });
    }
    walk.mark(10, day, Session::Am, "/");
    walk.mark(11, day, Session::Am, "/");
    let e = walk.evaluate(at(day, "09:50"));
    let texts = family_texts(&e);
    // One N in 4A plus eight unmarked in 4B; 4B's eight are held, 4A's goes.
    assert_eq!(texts.len(), 9);
    assert_eq!(texts.iter().filter(|a| a.held.is_none()).count(), 1);
    let held: Vec<&str> = texts.iter().filter_map(|a| a.held.as_deref()).collect();
    assert!(
        held.iter()
            .all(|h| h.contains("4B") && h.contains("2 of 10")),
        "{held:?}"
    );
    assert_eq!(e.alerts.len(), 1);
    assert_eq!(e.alerts[0].to, Recipient::AttendanceOfficer);
    assert!(e.alerts[0].message.contains("4B"));
}

#[test]
fn a_whole_school_not_taken_holds_everything() {
    let (mut walk, day) = school(&["4A", "4B"], 10);
    // The MIS sync is late: only 3 of 20 pupils have a mark by 09:50.
    for i in [0, 5, 12] {
        walk.mark(i, day, Session::Am, "/");
    }
    let e = walk.evaluate(at(day, "09:50"));
    let texts = family_texts(&e);
    assert_eq!(texts.len(), 17);
    assert!(
        texts
            .iter()
            .all(|a| a.held.as_deref().is_some_and(|h| h.contains("3 of 20")))
    );
    assert!(
        e.alerts
            .iter()
            .any(|a| a.message.contains("school's register looks not taken"))
    );
}

#[test]
fn one_run_contacting_too_many_families_waits_for_approval() {
    let (mut walk, day) = school(&["4A"], 20);
    // Every pupil marked, five of them N: 25 % of the roll, over the 20 % brake.
    for i in 0..20 {
        walk.mark(i, day, Session::Am, if i < 5 { "N" } else { "/" });
    }
    let e = walk.evaluate(at(day, "09:50"));
    let texts = family_texts(&e);
    assert_eq!(texts.len(), 5);
    assert!(
        texts
            .iter()
            .all(|a| a.requires_approval && a.held.is_some())
    );
    assert!(
        e.alerts
            .iter()
            .any(|a| a.message.contains("mass-send brake") && a.message.contains("5 of 20"))
    );
    // Four N marks (20 %) are within the brake and go without approval.
    walk.mark(4, day, Session::Am, "/");
    let e = walk.evaluate(at(day, "09:50"));
    let texts = family_texts(&e);
    assert_eq!(texts.len(), 4);
    assert!(
        texts
            .iter()
            .all(|a| !a.requires_approval && a.held.is_none())
    );
    assert!(e.alerts.is_empty());
}

/// A policy texting parents on the third day, to test quiet hours and non-school days.
fn texting_policy() -> rollcall::escalation::policy::Policy {
    let text = r#"
name = "texts"
title = "Texts"
[[stage]]
id = "day_three"
title = "Day three text"
trigger = { consecutive_absent_days = { days = 3 } }
actions = [{ channel = "sms", to = "contacts", template = "day_three" }]
"#;
    rollcall::escalation::policy::parse(text, "texts.toml").expect("valid policy")
}

#[test]
fn texts_decided_in_quiet_hours_wait_until_morning() {
    let (mut walk, _) = school(&["4A"], 1);
    walk.policy = texting_policy();
    walk.mark_days(date("2025-11-03"), date("2025-11-05"), "O");
    let evening = walk.evaluate(at(date("2025-11-05"), "21:15"));
    let text = family_texts(&evening)[0].clone();
    assert_eq!(text.not_before, Some(at(date("2025-11-06"), "08:00")));
    let early = walk.evaluate(at(date("2025-11-06"), "06:30"));
    assert_eq!(
        family_texts(&early)[0].not_before,
        Some(at(date("2025-11-06"), "08:00"))
    );
    let day = walk.evaluate(at(date("2025-11-05"), "16:00"));
    assert_eq!(family_texts(&day)[0].not_before, None);
}

#[test]
fn no_parent_messages_on_non_school_days_unless_the_stage_says_so() {
    let (mut walk, _) = school(&["4A"], 1);
    walk.policy = texting_policy();
    // Wed–Fri absent; the run on Saturday sees the third day.
    walk.mark_days(date("2025-11-05"), date("2025-11-07"), "O");
    let saturday = date("2025-11-08");
    let e = walk.evaluate(at(saturday, "10:00"));
    assert_eq!(e.decisions.len(), 1, "the decision is made");
    assert!(family_texts(&e).is_empty(), "but no text on a Saturday");
    walk.policy.stages[0].on_non_school_days = true;
    let e = walk.evaluate(at(saturday, "10:00"));
    assert_eq!(family_texts(&e).len(), 1);
}

#[test]
fn first_day_texts_expire_at_noon_the_same_day() {
    let (mut walk, day) = school(&["4A"], 1);
    walk.mark(0, day, Session::Am, "N");
    let e = walk.evaluate(at(day, "09:50"));
    let text = family_texts(&e)[0];
    assert_eq!(text.expires_at, Some(at(day, "12:00")));
    // The office's call task has no expiry: it stays until done.
    let call = e.decisions[0]
        .actions
        .iter()
        .find(|a| a.to == Recipient::AttendanceOfficer)
        .expect("call task");
    assert_eq!(call.expires_at, None);
}
