//! When things run: each school's jobs at local wall-clock times on school days, recorded as
//! due runs so each fires once (however many daemons, however many restarts), with catch-up
//! rules for runs missed while the daemon was down.
//!
//! Times are worked out here from the school's timezone and calendar, not by a cron library's
//! timezone jobs: tokio-cron-scheduler fixes the UTC offset when a job is created, so a 09:30
//! London job made in winter would fire at 10:30 after the spring change. The daemon uses
//! tokio-cron-scheduler only for a UTC heartbeat (see `crate::daemon`).

use std::sync::{Arc, Mutex};

use anyhow::Result;
use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::config::{DaemonConfig, SchoolConfig};
use crate::register::session::monday_of;
use crate::register::store::{SchoolId, Store};

/// Where "now" comes from: the system clock, or a simulated one that jumps straight to the
/// next thing due (the demo runs a term in seconds; tests pin exact instants).
#[derive(Clone, Debug)]
pub enum Clock {
    System,
    Simulated(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    pub fn simulated(start: DateTime<Utc>) -> Clock {
        Clock::Simulated(Arc::new(Mutex::new(start)))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Simulated(now) => *now.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// Moves a simulated clock forward (never back).
    pub fn advance_to(&self, to: DateTime<Utc>) {
        if let Clock::Simulated(now) = self {
            let mut now = now.lock().unwrap_or_else(|p| p.into_inner());
            if to > *now {
                *now = to;
            }
        }
    }

    pub fn is_simulated(&self) -> bool {
        matches!(self, Clock::Simulated(_))
    }
}

/// The jobs a school has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    /// Morning register close + grace: first-day messages.
    FirstDay,
    /// Afternoon register close + grace, for policies with afternoon first-day stages.
    FirstDayPm,
    /// Late morning: families not yet reached go on the call list; late register changes
    /// cancel what is no longer true.
    FollowUp,
    /// After the afternoon register: the day's escalation pass.
    DailyPass,
    /// The day's letters, batched into one PDF.
    Letters,
    /// Last school day of the week: the weekly report hook.
    Weekly,
    /// Last school day of the term: the termly report hook.
    Termly,
}

pub const JOBS: [Job; 7] = [
    Job::FirstDay,
    Job::FirstDayPm,
    Job::FollowUp,
    Job::DailyPass,
    Job::Letters,
    Job::Weekly,
    Job::Termly,
];

impl Job {
    pub fn as_str(self) -> &'static str {
        match self {
            Job::FirstDay => "first_day",
            Job::FirstDayPm => "first_day_pm",
            Job::FollowUp => "follow_up",
            Job::DailyPass => "daily_pass",
            Job::Letters => "letters",
            Job::Weekly => "weekly",
            Job::Termly => "termly",
        }
    }

    /// The local time of day it runs.
    pub fn local_time(self, school: &SchoolConfig, daemon: &DaemonConfig, grace: u32) -> NaiveTime {
        let grace = Duration::minutes(i64::from(grace));
        let at = |text: &str| NaiveTime::parse_from_str(text, "%H:%M").unwrap_or(NaiveTime::MIN);
        match self {
            Job::FirstDay => school.am_register_close + grace,
            Job::FirstDayPm => school.pm_register_close + grace,
            Job::FollowUp => at(&daemon.follow_up),
            Job::DailyPass => at(&daemon.daily_pass),
            Job::Letters => at(&daemon.letters),
            Job::Weekly | Job::Termly => at(&daemon.reports),
        }
    }

    /// Whether the job runs on this date at all.
    pub fn runs_on(self, school: &SchoolConfig, date: NaiveDate) -> bool {
        let calendar = &school.calendar;
        if !calendar.is_school_day(date) {
            return false;
        }
        let next_school_day = calendar.school_days().iter().find(|d| **d > date).copied();
        match self {
            Job::Weekly => next_school_day.is_none_or(|next| monday_of(next) != monday_of(date)),
            Job::Termly => calendar
                .term_containing(date)
                .is_some_and(|term| next_school_day.is_none_or(|next| next > term.end)),
            _ => true,
        }
    }

    /// May a run that was missed (the daemon was down at its time) still be made at `now`?
    /// First-day messages are about one morning: never send yesterday's. Passes that look at
    /// the whole register catch up once, covering every missed run.
    fn catch_up_allowed(self, due_local: NaiveDateTime, now_local: NaiveDateTime) -> bool {
        match self {
            Job::FirstDay => {
                due_local.date() == now_local.date()
                    && now_local.time()
                        < NaiveTime::from_hms_opt(12, 0, 0).unwrap_or(NaiveTime::MIN)
            }
            Job::FirstDayPm | Job::FollowUp => due_local.date() == now_local.date(),
            Job::DailyPass | Job::Letters | Job::Weekly | Job::Termly => true,
        }
    }
}

/// A job's run that came due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DueRun {
    pub job: Job,
    pub due_at: DateTime<Utc>,
    pub local_due: NaiveDateTime,
}

/// A local wall-clock time as an instant. In the spring gap a time that does not exist moves
/// forward by the gap; in the autumn overlap the first (summer-time) instant is used.
pub fn local_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            let later = local + Duration::hours(1);
            tz.from_local_datetime(&later)
                .earliest()
                .map_or_else(|| Utc.from_utc_datetime(&local), |t| t.with_timezone(&Utc))
        }
    }
}

pub fn to_local(tz: Tz, instant: DateTime<Utc>) -> NaiveDateTime {
    instant.with_timezone(&tz).naive_local()
}

/// Every run of every job due in `(after, until]`, oldest first.
pub fn due_between(
    school: &SchoolConfig,
    daemon: &DaemonConfig,
    grace: u32,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<DueRun> {
    let tz = school.timezone;
    let first = to_local(tz, after).date();
    let last = to_local(tz, until).date();
    let mut out = Vec::new();
    let mut date = first;
    while date <= last {
        for job in JOBS {
            if !job.runs_on(school, date) {
                continue;
            }
            let local_due = date.and_time(job.local_time(school, daemon, grace));
            let due_at = local_instant(tz, local_due);
            if due_at > after && due_at <= until {
                out.push(DueRun {
                    job,
                    due_at,
                    local_due,
                });
            }
        }
        let Some(next) = date.succ_opt() else { break };
        date = next;
    }
    out.sort_by_key(|r| (r.due_at, r.job));
    out
}

/// The next run of any job after `after` (looking up to a year ahead: holidays are long).
pub fn next_due(
    school: &SchoolConfig,
    daemon: &DaemonConfig,
    grace: u32,
    after: DateTime<Utc>,
) -> Option<DueRun> {
    let mut from = after;
    for _ in 0..53 {
        let until = from + Duration::days(7);
        if let Some(run) = due_between(school, daemon, grace, from, until)
            .into_iter()
            .next()
        {
            return Some(run);
        }
        from = until;
    }
    None
}

/// What to do with a due run found at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Run(DueRun),
    /// Missed and not worth making now; recorded so nobody wonders.
    Skip(DueRun, String),
}

/// Decides, for the runs that came due since the last look, which to make now. A run at its
/// time is made; missed ones follow each job's catch-up rule, and of several missed runs of a
/// whole-register job only the latest is made (it covers the others).
pub fn plan(runs: Vec<DueRun>, tz: Tz, now: DateTime<Utc>, slack: Duration) -> Vec<Plan> {
    let now_local = to_local(tz, now);
    let mut plans = Vec::with_capacity(runs.len());
    for (i, run) in runs.iter().enumerate() {
        let on_time = now - run.due_at <= slack;
        let whole_register = matches!(
            run.job,
            Job::DailyPass | Job::Letters | Job::Weekly | Job::Termly
        );
        let plan = if whole_register {
            if runs[i + 1..].iter().any(|later| later.job == run.job) {
                Plan::Skip(
                    run.clone(),
                    "missed while rollcall was not running; a later run of the same job covers it"
                        .into(),
                )
            } else {
                Plan::Run(run.clone())
            }
        } else if on_time || run.job.catch_up_allowed(run.local_due, now_local) {
            Plan::Run(run.clone())
        } else {
            Plan::Skip(
                run.clone(),
                format!(
                    "missed while rollcall was not running; a {} run is only made on the day (or morning) it is for",
                    run.job.as_str()
                ),
            )
        };
        plans.push(plan);
    }
    plans
}

const INSTANT: &str = "%Y-%m-%dT%H:%M:%SZ";

pub fn instant_text(t: DateTime<Utc>) -> String {
    t.format(INSTANT).to_string()
}

/// Claims a due run: true for exactly one caller per (school, job, due time), whichever
/// daemon asks first. A claim whose run never finished (the daemon died) can be taken over
/// after `stale`.
pub async fn claim(
    store: &Store,
    school: SchoolId,
    run: &DueRun,
    owner: &str,
    now: DateTime<Utc>,
    stale: Duration,
) -> Result<bool> {
    let inserted: Option<String> = sqlx::query_scalar(
        "INSERT INTO due_runs (school_id, job, due_at, local_due, claimed_by, started_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (school_id, job, due_at) DO NOTHING RETURNING claimed_by",
    )
    .bind(school.0)
    .bind(run.job.as_str())
    .bind(instant_text(run.due_at))
    .bind(run.local_due.format("%Y-%m-%dT%H:%M").to_string())
    .bind(owner)
    .bind(instant_text(now))
    .fetch_optional(store.pool())
    .await?;
    if inserted.is_some() {
        return Ok(true);
    }
    let taken_over: Option<String> = sqlx::query_scalar(
        "UPDATE due_runs SET claimed_by = $1, started_at = $2
         WHERE school_id = $3 AND job = $4 AND due_at = $5 AND finished_at IS NULL
           AND started_at < $6
         RETURNING claimed_by",
    )
    .bind(owner)
    .bind(instant_text(now))
    .bind(school.0)
    .bind(run.job.as_str())
    .bind(instant_text(run.due_at))
    .bind(instant_text(now - stale))
    .fetch_optional(store.pool())
    .await?;
    Ok(taken_over.is_some())
}

/// Records how a claimed run ended.
pub async fn finish(
    store: &Store,
    school: SchoolId,
    run: &DueRun,
    now: DateTime<Utc>,
    outcome: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE due_runs SET finished_at = $1, outcome = $2
         WHERE school_id = $3 AND job = $4 AND due_at = $5",
    )
    .bind(instant_text(now))
    .bind(outcome)
    .bind(school.0)
    .bind(run.job.as_str())
    .bind(instant_text(run.due_at))
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The latest due time recorded for a school, where a restarted daemon picks up from.
pub async fn last_recorded(store: &Store, school: SchoolId) -> Result<Option<DateTime<Utc>>> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT MAX(due_at) FROM due_runs WHERE school_id = $1")
            .bind(school.0)
            .fetch_one(store.pool())
            .await?;
    Ok(text.and_then(|t| {
        NaiveDateTime::parse_from_str(&t, INSTANT)
            .ok()
            .map(|n| Utc.from_utc_datetime(&n))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn school() -> SchoolConfig {
        let text = r#"
[school]
name = "DST Primary"
urn = "100001"
la_code = "886"
am_register_close = "09:15"
[[calendar.terms]]
name = "Spring 2026"
start = "2026-01-05"
end = "2026-04-02"
[[calendar.terms]]
name = "Summer 2026"
start = "2026-04-13"
end = "2026-07-21"
[[calendar.terms]]
name = "Autumn 2026"
start = "2026-09-02"
end = "2026-12-18"
"#;
        crate::config::Config::from_toml(text, "dst.toml")
            .expect("valid")
            .schools
            .remove(0)
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn spring_gap_moves_forward_and_autumn_overlap_takes_the_first() {
        let london = chrono_tz::Europe::London;
        let gap = NaiveDate::from_ymd_opt(2026, 3, 29)
            .expect("date")
            .and_hms_opt(1, 30, 0)
            .expect("time");
        assert_eq!(local_instant(london, gap), utc("2026-03-29T01:30:00Z"));
        let overlap = NaiveDate::from_ymd_opt(2026, 10, 25)
            .expect("date")
            .and_hms_opt(1, 30, 0)
            .expect("time");
        assert_eq!(local_instant(london, overlap), utc("2026-10-25T00:30:00Z"));
    }

    #[test]
    fn first_day_runs_at_0930_local_on_the_monday_after_each_clock_change() {
        let school = school();
        let daemon = DaemonConfig::default();
        // Friday before to Tuesday after each change; register closes 09:15, grace 15 min.
        for (from, until, monday_utc) in [
            (
                "2026-03-27T00:00:00Z",
                "2026-03-31T00:00:00Z",
                "2026-03-30T08:30:00Z",
            ),
            (
                "2026-10-23T00:00:00Z",
                "2026-10-27T00:00:00Z",
                "2026-10-26T09:30:00Z",
            ),
        ] {
            let first_day: Vec<DueRun> = due_between(&school, &daemon, 15, utc(from), utc(until))
                .into_iter()
                .filter(|r| r.job == Job::FirstDay)
                .collect();
            assert_eq!(first_day.len(), 2, "Friday and Monday");
            for run in &first_day {
                assert_eq!(run.local_due.time().to_string(), "09:30:00");
            }
            assert_eq!(first_day[1].due_at, utc(monday_utc));
        }
    }

    #[test]
    fn weekly_runs_on_the_last_school_day_and_termly_on_the_last_day_of_term() {
        let school = school();
        let daemon = DaemonConfig::default();
        let runs = due_between(
            &school,
            &daemon,
            15,
            utc("2026-12-14T00:00:00Z"),
            utc("2026-12-19T00:00:00Z"),
        );
        let weekly: Vec<_> = runs.iter().filter(|r| r.job == Job::Weekly).collect();
        let termly: Vec<_> = runs.iter().filter(|r| r.job == Job::Termly).collect();
        assert_eq!(weekly.len(), 1);
        assert_eq!(weekly[0].local_due.date().to_string(), "2026-12-18");
        assert_eq!(termly.len(), 1);
        assert_eq!(termly[0].local_due.date().to_string(), "2026-12-18");
    }

    #[test]
    fn yesterdays_first_day_run_is_skipped_but_the_daily_pass_catches_up_once() {
        let school = school();
        let daemon = DaemonConfig::default();
        // Down from Monday 08:00 to Tuesday 10:00 (GMT in November).
        let runs = due_between(
            &school,
            &daemon,
            15,
            utc("2026-11-16T08:00:00Z"),
            utc("2026-11-17T10:00:00Z"),
        );
        let plans = plan(
            runs,
            school.timezone,
            utc("2026-11-17T10:00:00Z"),
            Duration::minutes(5),
        );
        let run: Vec<(Job, String)> = plans
            .iter()
            .filter_map(|p| match p {
                Plan::Run(r) => Some((r.job, r.local_due.to_string())),
                Plan::Skip(..) => None,
            })
            .collect();
        assert_eq!(
            run,
            vec![
                (Job::DailyPass, "2026-11-16 16:00:00".to_owned()),
                (Job::Letters, "2026-11-16 16:30:00".to_owned()),
                (Job::FirstDay, "2026-11-17 09:30:00".to_owned()),
            ]
        );
        // Monday's first-day, afternoon and follow-up runs were skipped, with a reason.
        let skipped = plans.iter().filter(|p| matches!(p, Plan::Skip(..))).count();
        assert_eq!(skipped, 3);
    }
}
