//! Guards: the restraint that makes a school trust automated messages. First-day messages
//! only for registers that were actually taken, a brake on a run that would contact a large
//! share of the roll, and quiet hours for texts. Pure, like the engine that applies them.

use std::collections::{BTreeMap, HashSet};

use chrono::{NaiveDateTime, NaiveTime};

use crate::escalation::policy::{Recipient, Trigger};
use crate::escalation::stage::{Alert, Context, Evaluation, LeftOut, PupilInput, on_roll};
use crate::register::session::Session;

/// When quiet hours end, if `ctx.now` is inside them (texts wait until then).
pub(crate) fn quiet_hours_end(ctx: &Context<'_>) -> Option<NaiveDateTime> {
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
pub(crate) struct RegisterGuard {
    held_groups: BTreeMap<String, String>,
    pub(crate) alerts: Vec<Alert>,
}

impl RegisterGuard {
    pub(crate) fn new(
        ctx: &Context<'_>,
        pupils: &[PupilInput<'_>],
        left_out: &LeftOut,
    ) -> RegisterGuard {
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
        // Pupils on roll left out of an incremental run have a mark for every register closed
        // so far: this morning's, once it has closed.
        let am_closed = ctx.now
            >= today.and_time(ctx.school.am_register_close)
                + chrono::TimeDelta::minutes(i64::from(ctx.policy.settings.grace_minutes));
        for (group, n) in &left_out.by_group {
            let entry = groups.entry(group.as_str()).or_default();
            entry.1 += n;
            if am_closed {
                entry.0 += n;
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

    pub(crate) fn hold_for(&self, group: &str) -> Option<String> {
        self.held_groups.get(group).cloned()
    }
}

/// If one run would contact more than the configured share of the roll, hold every family
/// message for approval and alert: something upstream is probably wrong.
pub(crate) fn apply_mass_send_brake(
    ctx: &Context<'_>,
    pupils: &[PupilInput<'_>],
    left_out: &LeftOut,
    out: &mut Evaluation,
) {
    let today = ctx.today();
    let roll =
        pupils.iter().filter(|p| on_roll(p.pupil, today)).count() + left_out.pupils() as usize;
    // Only what this run would newly send counts: every run finds again the decisions earlier
    // runs made (a pupil in persistent absence all year), and those send nothing new.
    let recorded: HashSet<(i64, &str, &str)> = pupils
        .iter()
        .flat_map(|p| {
            p.history
                .iter()
                .map(move |h| (p.pupil_id, h.stage.as_str(), h.anchor.as_str()))
        })
        .collect();
    let contacted: HashSet<i64> = out
        .decisions
        .iter()
        .filter(|d| !recorded.contains(&(d.pupil_id, d.stage.as_str(), d.anchor.as_str())))
        .filter(|d| {
            d.actions
                .iter()
                .any(|a| messages_family(a) && a.held.is_none())
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
            if messages_family(a) {
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

/// A message that reaches a family itself (a text, email or letter). A call task to a family's
/// numbers is staff work: a person reads the list before ringing anyone.
fn messages_family(action: &crate::escalation::stage::PlannedAction) -> bool {
    action.to.is_family() && action.channel != crate::escalation::policy::Channel::Task
}
