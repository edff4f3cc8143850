//! `rollcall run`: the daemon. For each school it holds a lease (one daemon sends per school),
//! polls the register inbox, makes each due run once (see [`crate::schedule`]), escalates,
//! and delivers the outbox (see [`crate::delivery`]).
//!
//! The loop sleeps until the next thing is due. On the system clock it also wakes on a UTC
//! heartbeat from tokio-cron-scheduler, so a clock step or a suspended machine is noticed
//! within a minute (tokio's own timers run on the monotonic clock and would not notice). On a
//! simulated clock it jumps straight to the next thing due: the demo runs a term in seconds.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::Serialize;
use sqlx::Row as _;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, DeliveryMode};
use crate::delivery::channel::file::FileSink;
use crate::delivery::{Channels, Deliverer, DeliverySummary};
use crate::escalation::incremental::Pass;
use crate::register::store::{SchoolId, Store};
use crate::schedule::{self, Clock, DueRun, Job, Plan, instant_text, to_local};
use crate::school::SchoolRuntime;

/// A run claimed but never finished (its daemon died) may be taken over after this.
const STALE_RUN_MINUTES: i64 = 15;

pub struct Daemon {
    pub config: Config,
    pub store: Store,
    pub schools: Vec<Arc<SchoolRuntime>>,
    pub deliverer: Arc<Deliverer>,
    pub clock: Clock,
    /// This process, in message leases and events (host, pid and a random part).
    pub owner: String,
    /// This daemon in school leases: host and systemd unit (or `[daemon] name`) for `rollcall
    /// run`, so a restarted daemon knows a lease is its own; the process (`owner`) otherwise.
    pub holder: String,
    /// Where each school's due runs were last looked for.
    looked: tokio::sync::Mutex<HashMap<SchoolId, DateTime<Utc>>>,
    /// When another daemon's lease on a school runs out, so this one wakes to take it over.
    others: tokio::sync::Mutex<HashMap<SchoolId, DateTime<Utc>>>,
    /// What each school's register inbox looked like at the last look.
    inboxes: tokio::sync::Mutex<HashMap<SchoolId, crate::register::inbox::InboxState>>,
    /// When GOV.UK Notify was last asked for replies (`[replies]`).
    replies_polled: tokio::sync::Mutex<Option<DateTime<Utc>>>,
    /// Pupils evaluated and left out by this daemon's escalation runs so far.
    pub evaluated: std::sync::atomic::AtomicU64,
    pub left_out: std::sync::atomic::AtomicU64,
}

/// `rollcall deliver` sent nothing for some schools because another daemon holds them. Not a
/// failure of rollcall, but not "done" either: whoever ran it (a person, cron) must not read
/// success while a school's messages wait, so it exits 75 (EX_TEMPFAIL, "try again later").
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct HeldElsewhere(pub Vec<String>);

impl HeldElsewhere {
    pub const EXIT_CODE: u8 = 75;
}

/// Whether this daemon may send for a school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    Held,
    /// Another daemon holds the school's lease until `until` (UTC).
    HeldBy {
        holder: String,
        until: String,
    },
}

/// What one pass of the loop did, for logs, `status` and the demo.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PassReport {
    pub runs: Vec<String>,
    pub skipped: Vec<String>,
    pub delivery: DeliverySummary,
    pub imported_files: usize,
}

/// A name for this process in message leases and events: host, process and a random part, so
/// two processes on one host (or a restarted one) are told apart.
pub fn daemon_name() -> String {
    let nanos = Utc::now().timestamp_subsec_nanos();
    format!("{}:{}:{nanos:08x}", host_name(), std::process::id())
}

fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            std::fs::read_to_string(p)
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "host".to_owned())
}

/// `rollcall run`'s identity in school leases: `HOST/NAME`, where NAME is `[daemon] name` or
/// the systemd unit the daemon runs in. None outside a unit with no name configured: each
/// process is then a new daemon. Not the process id (a restart changes it) and not
/// systemd's INVOCATION_ID (new for every start of the unit, so it names a run, not the daemon).
pub fn lease_identity(config: &crate::config::DaemonConfig) -> Option<String> {
    let name = config.name.clone().or_else(|| {
        std::fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|text| unit_from_cgroup(&text))
    })?;
    Some(format!("{}/{}", host_name(), name.trim()))
}

/// The systemd service a process runs in, from `/proc/self/cgroup` (cgroup v2 `0::/path`, or
/// v1's `name=systemd` hierarchy): the last part of the path when it is a `.service`. A
/// terminal's session scope, or a service's own sub-group, is not one.
pub fn unit_from_cgroup(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            (controllers.is_empty() || controllers == "name=systemd").then_some(path)
        })
        .find_map(|path| {
            path.trim_end()
                .rsplit('/')
                .next()
                .filter(|unit| unit.len() > ".service".len() && unit.ends_with(".service"))
                .map(str::to_owned)
        })
}

impl Daemon {
    /// Connects, loads every school's policy and templates, and sets up the channels.
    pub async fn build(config: Config, clock: Clock) -> Result<Daemon> {
        let store = Store::open_existing(&config.database_url).await?;
        Daemon::build_with_store(config, store, clock).await
    }

    /// As [`Daemon::build`], on a store already open (tests run two daemons on one).
    pub async fn build_with_store(config: Config, store: Store, clock: Clock) -> Result<Daemon> {
        let schools = SchoolRuntime::load_all(&config, &store).await?;
        let live = match config.delivery.mode {
            DeliveryMode::File => crate::delivery::channel::Live::default(),
            DeliveryMode::Live => crate::delivery::channel::Live::build(&config.delivery.live)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        };
        let owner = daemon_name();
        let deliverer = Arc::new(Deliverer {
            store: store.clone(),
            settings: config.delivery.clone(),
            channels: Channels {
                mode: config.delivery.mode,
                sink: FileSink::new(config.delivery.outbox_dir.clone()),
                live,
            },
            clock,
            owner,
        });
        Ok(Daemon::new(config, store, schools, deliverer))
    }

    pub fn new(
        config: Config,
        store: Store,
        schools: Vec<Arc<SchoolRuntime>>,
        deliverer: Arc<Deliverer>,
    ) -> Daemon {
        Daemon {
            clock: deliverer.clock.clone(),
            owner: deliverer.owner.clone(),
            holder: deliverer.owner.clone(),
            config,
            store,
            schools,
            deliverer,
            looked: tokio::sync::Mutex::new(HashMap::new()),
            others: tokio::sync::Mutex::new(HashMap::new()),
            inboxes: tokio::sync::Mutex::new(HashMap::new()),
            replies_polled: tokio::sync::Mutex::new(None),
            evaluated: std::sync::atomic::AtomicU64::new(0),
            left_out: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The school lease: how long it lasts without renewal.
    fn lease(&self) -> Duration {
        Duration::seconds(
            i64::try_from(self.config.daemon.school_lease_seconds).unwrap_or(i64::MAX / 4),
        )
    }

    /// Holds or renews this daemon's lease on a school; false if another daemon holds it.
    pub async fn hold_school(&self, school: SchoolId) -> Result<bool> {
        Ok(self.try_hold(school).await? == Hold::Held)
    }

    /// Holds or renews this daemon's lease on a school, or says who holds it until when.
    ///
    /// The lease is this daemon's own when its holder (host and unit) is ours: a daemon that
    /// systemd restarted takes it back at once instead of waiting for it to lapse, and the
    /// rows its previous process left in `sending` go back to the queue (as ambiguous) at once.
    pub async fn try_hold(&self, school: SchoolId) -> Result<Hold> {
        let now = self.clock.now();
        let before = sqlx::query("SELECT holder, process FROM school_leases WHERE school_id = $1")
            .bind(school.0)
            .fetch_optional(self.store.pool())
            .await?
            .map(|r| -> Result<(String, Option<String>)> {
                Ok((r.try_get("holder")?, r.try_get("process")?))
            })
            .transpose()?;
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO school_leases (school_id, holder, process, acquired_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (school_id) DO UPDATE
                SET holder = excluded.holder, process = excluded.process,
                    expires_at = excluded.expires_at,
                    acquired_at = CASE WHEN school_leases.holder = excluded.holder
                                        AND school_leases.process = excluded.process
                                       THEN school_leases.acquired_at ELSE excluded.acquired_at END
                WHERE school_leases.holder = excluded.holder OR school_leases.expires_at < $4
             RETURNING holder",
        )
        .bind(school.0)
        .bind(&self.holder)
        .bind(&self.owner)
        .bind(instant_text(now))
        .bind(instant_text(now + self.lease()))
        .fetch_optional(self.store.pool())
        .await?;
        if held.is_some() {
            self.others.lock().await.remove(&school);
            if let Some((holder, Some(process))) = before
                && holder == self.holder
                && process != self.owner
            {
                let recovered = self.deliverer.recover_from(school, &process).await?;
                tracing::info!(
                    school = school.0,
                    previous = %process,
                    recovered,
                    "took back this daemon's school lease from its previous process"
                );
            }
            return Ok(Hold::Held);
        }
        let row = sqlx::query("SELECT holder, expires_at FROM school_leases WHERE school_id = $1")
            .bind(school.0)
            .fetch_optional(self.store.pool())
            .await?;
        let Some(row) = row else {
            // Released between the two statements: free now.
            return Box::pin(self.try_hold(school)).await;
        };
        let holder: String = row.try_get("holder")?;
        let until: String = row.try_get("expires_at")?;
        if let Some(t) = parse_instant(&until) {
            self.others.lock().await.insert(school, t);
        }
        Ok(Hold::HeldBy { holder, until })
    }

    /// Lets another daemon take the schools at once (a clean shutdown).
    pub async fn release_schools(&self) -> Result<()> {
        sqlx::query("DELETE FROM school_leases WHERE holder = $1 AND process = $2")
            .bind(&self.holder)
            .bind(&self.owner)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    /// One pass: for every school this daemon holds, make what is due and deliver.
    pub async fn pass(&self, stop: &CancellationToken) -> Result<PassReport> {
        let mut report = PassReport::default();
        if self.replies_poll_due().await {
            // Replies first: one that explains an absence is matched before the jobs run. A
            // Notify outage or a bad key is logged and tried again in poll_seconds; the
            // rest of the daemon's work goes on.
            if let Err(e) = self.poll_replies(stop).await {
                tracing::error!("replies through GOV.UK Notify: {e:#}");
            }
        }
        for school in &self.schools {
            if stop.is_cancelled() {
                break;
            }
            if let Hold::HeldBy { holder, until } = self.try_hold(school.id).await? {
                tracing::debug!(school = %school.config.id, %holder, %until, "another daemon holds this school");
                continue;
            }
            let before = report.delivery.clone();
            self.school_pass(school, stop, &mut report)
                .await
                .with_context(|| format!("school {}", school.config.id))?;
            let d = report.delivery.minus(&before);
            if !d.is_empty() {
                tracing::info!(
                    school = %school.config.id,
                    sent = d.sent,
                    delivered = d.delivered,
                    retried = d.retried,
                    failed = d.failed,
                    expired = d.expired,
                    recovered = d.recovered,
                    confirmed_after_crash = d.confirmed_after_crash,
                    resent_unconfirmed = d.resent_unconfirmed,
                    alerts_retried = d.alerts_retried,
                    alerts_folded = d.alerts_folded,
                    "delivery"
                );
            }
        }
        Ok(report)
    }

    async fn school_pass(
        &self,
        school: &Arc<SchoolRuntime>,
        stop: &CancellationToken,
        report: &mut PassReport,
    ) -> Result<()> {
        if self.inbox_poll_due(school.id).await {
            report.imported_files += self.poll_inbox(school).await?;
        }
        let now = self.clock.now();
        let after = {
            let looked = self.looked.lock().await;
            match looked.get(&school.id) {
                Some(t) => *t,
                None => {
                    // First look since start: from the last run recorded, but at most a week
                    // back, and on a fresh install from the start of today.
                    let start_of_today = schedule::local_instant(
                        school.config.timezone,
                        to_local(school.config.timezone, now)
                            .date()
                            .and_time(chrono::NaiveTime::MIN),
                    );
                    match schedule::last_recorded(&self.store, school.id).await? {
                        Some(t) => t.max(now - Duration::days(7)),
                        None => start_of_today - Duration::seconds(1),
                    }
                }
            }
        };
        let runs = schedule::due_between(
            &school.config,
            &self.config.daemon,
            school.policy.settings.grace_minutes,
            after,
            now,
        );
        for plan in schedule::plan(runs, school.config.timezone, now, Duration::minutes(5)) {
            if stop.is_cancelled() {
                return Ok(());
            }
            match plan {
                Plan::Skip(run, why) => {
                    if schedule::claim(
                        &self.store,
                        school.id,
                        &run,
                        &self.owner,
                        now,
                        Duration::minutes(STALE_RUN_MINUTES),
                    )
                    .await?
                    {
                        schedule::finish(
                            &self.store,
                            school.id,
                            &run,
                            now,
                            &format!("skipped: {why}"),
                        )
                        .await?;
                        tracing::warn!(school = %school.config.id, job = run.job.as_str(), due = %run.local_due, "{why}");
                        report
                            .skipped
                            .push(format!("{} {}", run.job.as_str(), run.local_due));
                    }
                }
                Plan::Run(run) => {
                    if !schedule::claim(
                        &self.store,
                        school.id,
                        &run,
                        &self.owner,
                        now,
                        Duration::minutes(STALE_RUN_MINUTES),
                    )
                    .await?
                    {
                        continue;
                    }
                    let outcome = match self.run_job(school, &run, stop, report).await {
                        Ok(text) => text,
                        Err(e) => {
                            tracing::error!(school = %school.config.id, job = run.job.as_str(), "run failed: {e:#}");
                            format!("failed: {e:#}")
                        }
                    };
                    schedule::finish(&self.store, school.id, &run, self.clock.now(), &outcome)
                        .await?;
                    tracing::info!(school = %school.config.id, job = run.job.as_str(), due = %run.local_due, outcome = %outcome, "run");
                    report
                        .runs
                        .push(format!("{} {}", run.job.as_str(), run.local_due));
                }
            }
        }
        self.looked.lock().await.insert(school.id, now);
        let delivered = self.deliverer.deliver_due(school, stop).await?;
        report.delivery.merge(&delivered);
        Ok(())
    }

    /// Makes one job's run; returns the outcome recorded with it.
    async fn run_job(
        &self,
        school: &Arc<SchoolRuntime>,
        run: &DueRun,
        stop: &CancellationToken,
        report: &mut PassReport,
    ) -> Result<String> {
        let now_local = to_local(school.config.timezone, self.clock.now());
        match run.job {
            Job::FirstDay | Job::FirstDayPm | Job::FollowUp | Job::DailyPass => {
                // Never decide on stale data: take in whatever the MIS has exported first.
                report.imported_files += self.poll_inbox(school).await?;
                let outcome = self.escalate(school, now_local).await?;
                let delivered = self.deliverer.deliver_due(school, stop).await?;
                report.delivery.merge(&delivered);
                if run.job == Job::FollowUp {
                    self.deliverer.publish_tasks(school).await?;
                }
                Ok(outcome)
            }
            Job::Letters => Ok(
                match self.deliverer.batch_letters(school, now_local.date())? {
                    Some(path) => format!("letters batched into {}", path.display()),
                    None => "no letters today".to_owned(),
                },
            ),
            Job::Weekly | Job::Termly => {
                report.imported_files += self.poll_inbox(school).await?;
                let outcome = self.reports(school, run.job, now_local).await?;
                let delivered = self.deliverer.deliver_due(school, stop).await?;
                report.delivery.merge(&delivered);
                Ok(outcome)
            }
        }
    }

    /// The weekly job queues the newsletter and any regular LA return whose period has
    /// ended; the termly job queues the governor report and the term's rewards. Each is
    /// keyed by its period in the outbox, so a rerun (or a second daemon) queues nothing new.
    async fn reports(
        &self,
        school: &SchoolRuntime,
        job: Job,
        now: NaiveDateTime,
    ) -> Result<String> {
        use crate::report::{self, ReportContext, queue};
        let ctx = ReportContext {
            store: &self.store,
            school_id: school.id,
            school: &school.config,
            policy: &school.policy,
            templates: &school.templates,
        };
        let settings = &school.config.reports;
        let today = now.date();
        let mut done = Vec::new();
        let mut failed = Vec::new();
        // Each report on its own: one that cannot be made does not hold back the others.
        let mut note = |what: String, result: Result<Option<i64>>| match result {
            Ok(Some(id)) => done.push(format!("{what} queued (message {id})")),
            Ok(None) => done.push(format!("{what} already queued")),
            Err(e) => failed.push(format!("{what}: {e:#}")),
        };
        if job == Job::Weekly {
            if settings.send_newsletter {
                let result = async {
                    let n = report::newsletter::build(
                        &self.store,
                        school.id,
                        &school.config,
                        &school.policy,
                        &school.templates,
                        today,
                    )
                    .await?;
                    queue::queue(&self.store, school.id, &n.report(), now).await
                }
                .await;
                note(format!("newsletter for the week of {today}"), result);
            }
            match report::la_return::queue_due_regular_returns(
                &self.store,
                school.id,
                &school.config,
                now,
            )
            .await
            {
                Ok(periods) => {
                    for (period, id) in periods {
                        note(format!("regular LA return {period}"), Ok(Some(id)));
                    }
                }
                Err(e) => note("regular LA return".into(), Err(e)),
            }
        } else if let Some(term) = school.config.calendar.term_containing(today)
            && settings.send_governor_report
        {
            let result = async {
                let (doc, outputs) = report::governor_report(&ctx, term, today, today).await?;
                let r = report::governor_queue_report(&school.config, term, &doc, &outputs);
                queue::queue(&self.store, school.id, &r, now).await
            }
            .await;
            note(format!("governor report {}", term.name), result);
            let result = async {
                let (rewards, outputs) = report::rewards_pack(&ctx, term, today).await?;
                let r = report::rewards_queue_report(&school.config, &rewards, &outputs);
                queue::queue(&self.store, school.id, &r, now).await
            }
            .await;
            note(format!("rewards {}", term.name), result);
        }
        if !failed.is_empty() {
            anyhow::bail!("{}; failed: {}", done.join("; "), failed.join("; "));
        }
        Ok(if done.is_empty() {
            format!("{} reports: none configured", job.as_str())
        } else {
            done.join("; ")
        })
    }

    /// Evaluates the policy at `now` and records the result.
    pub async fn escalate(&self, school: &SchoolRuntime, now: NaiveDateTime) -> Result<String> {
        let pass = if self.config.daemon.incremental {
            Pass::Incremental
        } else {
            Pass::Full
        };
        let (s, shape) = escalate_school(
            &self.store,
            school.id,
            &school.config,
            &school.policy,
            now,
            pass,
            self.config.daemon.incremental,
        )
        .await?;
        self.evaluated
            .fetch_add(shape.evaluated as u64, std::sync::atomic::Ordering::Relaxed);
        self.left_out.fetch_add(
            u64::from(shape.left_out),
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(format!(
            "{} new decisions; {} queued, {} awaiting approval, {} cancelled, {} expired, {} alerts; {}",
            s.decisions, s.queued, s.awaiting_approval, s.cancelled, s.expired, s.alerts, shape
        ))
    }

    /// Imports each export the MIS has dropped in the school's inbox (pupils, then contacts,
    /// then marks), once it is whole: see [`crate::register::inbox`] for what is taken, when, and what
    /// is refused. Returns how many exports were imported.
    pub async fn poll_inbox(&self, school: &SchoolRuntime) -> Result<usize> {
        let mut inboxes = self.inboxes.lock().await;
        let state = inboxes.entry(school.id).or_default();
        let settle = Duration::seconds(
            i64::try_from(self.config.daemon.inbox_settle_seconds).unwrap_or(i64::MAX / 1000),
        );
        let polled =
            crate::register::inbox::poll(&self.store, school, state, self.clock.now(), settle)
                .await?;
        if !polled.waiting.is_empty() {
            tracing::info!(school = %school.config.id, waiting = ?polled.waiting, "register exports still changing; taken once they settle");
        }
        Ok(polled.imported + polled.grown)
    }

    /// GOV.UK Notify, when replies are read from it: `[replies] enabled` with `sms = "notify"`
    /// in live mode (with the file sink, or with Twilio's webhook, there is nothing to poll).
    pub fn replies_notify(&self) -> Option<&crate::delivery::channel::sms::Notify> {
        if !self.config.replies.enabled || self.config.delivery.mode != DeliveryMode::Live {
            return None;
        }
        match &self.deliverer.channels.live.sms {
            Some(crate::delivery::channel::sms::SmsProvider::Notify(notify)) => Some(notify),
            _ => None,
        }
    }

    /// Reads new replies from GOV.UK Notify once (see [`crate::reply::notify::poll`]); `None`
    /// when replies are not read from Notify.
    pub async fn poll_replies(
        &self,
        stop: &CancellationToken,
    ) -> Result<Option<crate::reply::notify::PollSummary>> {
        let Some(notify) = self.replies_notify() else {
            return Ok(None);
        };
        *self.replies_polled.lock().await = Some(self.clock.now());
        crate::reply::notify::poll(
            &self.store,
            &self.schools,
            &self.config.replies,
            notify,
            &self.clock,
            stop,
        )
        .await
        .map(Some)
    }

    fn replies_every(&self) -> Duration {
        // At least a second: 0 would wake the loop without pause.
        Duration::seconds(i64::try_from(self.config.replies.poll_seconds.max(1)).unwrap_or(60))
    }

    /// Replies are read at start and every `[replies] poll_seconds`.
    async fn replies_poll_due(&self) -> bool {
        if self.replies_notify().is_none() {
            return false;
        }
        self.replies_polled
            .lock()
            .await
            .is_none_or(|last| self.clock.now() - last >= self.replies_every())
    }

    /// When Notify is next due to be asked for replies.
    async fn next_replies_poll(&self) -> Option<DateTime<Utc>> {
        self.replies_notify()?;
        let last = *self.replies_polled.lock().await;
        Some(last.map_or_else(|| self.clock.now(), |t| t + self.replies_every()))
    }

    fn poll_every(&self) -> Duration {
        Duration::seconds(i64::try_from(self.config.daemon.poll_seconds).unwrap_or(60))
    }

    /// The inbox is looked at every `poll_seconds`, not only when a job runs, so an export
    /// dropped at 10:00 is in the register long before the 16:00 pass.
    async fn inbox_poll_due(&self, school: SchoolId) -> bool {
        let inboxes = self.inboxes.lock().await;
        inboxes
            .get(&school)
            .is_none_or(|state| state.poll_due(self.clock.now(), self.poll_every()))
    }

    /// The earliest next look at any school's inbox.
    async fn next_inbox_poll(&self) -> Option<DateTime<Utc>> {
        let inboxes = self.inboxes.lock().await;
        self.schools
            .iter()
            .filter(|s| s.config.inbox.is_some())
            .map(|s| {
                inboxes
                    .get(&s.id)
                    .and_then(|state| state.next_poll(self.poll_every()))
                    .unwrap_or_else(|| self.clock.now())
            })
            .min()
    }

    /// When the loop should next wake: the next due run of any school, the next retry, or a
    /// message whose quiet hours end.
    pub async fn next_wake(&self) -> Result<Option<DateTime<Utc>>> {
        let now = self.clock.now();
        let mut next: Option<DateTime<Utc>> = None;
        let mut consider = |t: DateTime<Utc>| {
            let t = t.max(now);
            next = Some(next.map_or(t, |n| n.min(t)));
        };
        for school in &self.schools {
            if let Some(run) = schedule::next_due(
                &school.config,
                &self.config.daemon,
                school.policy.settings.grace_minutes,
                now,
            ) {
                consider(run.due_at);
            }
            let retry: Option<String> = sqlx::query_scalar(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE school_id = $1 AND status = 'queued'",
            )
            .bind(school.id.0)
            .fetch_one(self.store.pool())
            .await?;
            if let Some(t) = retry.as_deref().and_then(parse_instant) {
                consider(t);
            }
            // Take over a school the moment another daemon's lease on it runs out (leases
            // compare at whole seconds, and expire strictly after their time).
            if let Some(t) = self.others.lock().await.get(&school.id) {
                consider(*t + Duration::seconds(1));
            }
            let quiet: Option<String> = sqlx::query_scalar(
                "SELECT MIN(not_before) FROM outbox WHERE school_id = $1 AND status = 'queued'
                 AND not_before IS NOT NULL AND not_before > $2",
            )
            .bind(school.id.0)
            .bind(
                to_local(school.config.timezone, now)
                    .format("%Y-%m-%dT%H:%M:%S")
                    .to_string(),
            )
            .fetch_one(self.store.pool())
            .await?;
            if let Some(local) = quiet
                .as_deref()
                .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok())
            {
                consider(schedule::local_instant(school.config.timezone, local));
            }
        }
        Ok(next)
    }

    /// Runs until `stop` (SIGTERM) on the system clock, or until `until` on a simulated one.
    /// `before_wake` is called with each time the loop wakes at, before it acts (the demo's
    /// pretend MIS drops register exports there).
    pub async fn run<F>(
        &self,
        stop: CancellationToken,
        until: Option<DateTime<Utc>>,
        mut before_wake: F,
        heartbeat: Option<&mut tokio::sync::mpsc::Receiver<()>>,
    ) -> Result<PassReport>
    where
        F: FnMut(DateTime<Utc>) -> Result<()>,
    {
        let mut total = PassReport::default();
        let mut heartbeat = heartbeat;
        loop {
            before_wake(self.clock.now())?;
            let report = self.pass(&stop).await?;
            total.runs.extend(report.runs);
            total.skipped.extend(report.skipped);
            total.delivery.merge(&report.delivery);
            total.imported_files += report.imported_files;
            if stop.is_cancelled() {
                break;
            }
            let next = self.next_wake().await?;
            if self.clock.is_simulated() {
                let Some(next) = next else { break };
                if until.is_some_and(|u| next > u) {
                    break;
                }
                self.clock.advance_to(next);
                continue;
            }
            // Wake at the next due time, but at least every lease period so the school
            // leases are renewed and another daemon's queue is noticed.
            // The inbox too, every poll_seconds. (Not on a simulated clock: the demo's pretend
            // MIS drops each export just before the job that reads it, and waking every
            // minute of a simulated term would only slow it down.)
            let now = self.clock.now();
            let renew = now + self.lease() / 3;
            // And Notify's replies, every [replies] poll_seconds.
            let next = [
                next,
                self.next_inbox_poll().await,
                self.next_replies_poll().await,
            ]
            .into_iter()
            .flatten()
            .min();
            let wake = next.map_or(renew, |n| n.min(renew));
            let sleep = (wake - now).to_std().unwrap_or_default();
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(sleep) => {}
                Some(()) = async {
                    match heartbeat.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
        self.release_schools().await?;
        Ok(total)
    }
}

pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How one pass went: the pupils it evaluated, those it left out, and those now certified quiet.
#[derive(Debug, Clone, Copy)]
pub struct PassShape {
    pub evaluated: usize,
    pub left_out: u32,
    pub quiet: usize,
    /// Time spent loading, evaluating, recording the decisions, and writing the certificates
    /// and committing them with the decisions.
    pub took: [std::time::Duration; 4],
}

impl std::fmt::Display for PassShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} pupils evaluated, {} left out (nothing can fire for them), {} now quiet",
            self.evaluated, self.left_out, self.quiet
        )
    }
}

/// One escalation pass for a school at `now` (school-local): load what the pass evaluates,
/// evaluate (pure), record the decisions through the outbox, then the quiet pupils'
/// certificates for the next pass (see [`crate::escalation::incremental`]), both in one
/// transaction.
pub async fn escalate_school(
    store: &Store,
    school: SchoolId,
    config: &crate::config::SchoolConfig,
    policy: &crate::escalation::policy::Policy,
    now: NaiveDateTime,
    pass: Pass,
    remember: bool,
) -> Result<(crate::delivery::outbox::RecordSummary, PassShape)> {
    let started = std::time::Instant::now();
    let mut loaded =
        crate::escalation::incremental::load(store, school, config, policy, now, pass).await?;
    loaded.register.certify = remember;
    let loaded_at = started.elapsed();
    let evaluation = loaded.register.evaluate(policy, config, now);
    let evaluated_at = started.elapsed();
    let mut tx = store.pool().begin().await?;
    let summary = crate::delivery::outbox::record_in(&mut tx, school, &evaluation, now).await?;
    let recorded_at = started.elapsed();
    // Certificates are only worth their writing for incremental runs to come; a daemon set
    // to evaluate everyone every run (`[daemon] incremental = false`) skips them.
    let quiet = if remember {
        crate::escalation::incremental::remember(&mut tx, &loaded, &evaluation).await?
    } else {
        0
    };
    tx.commit().await?;
    let (evaluated, left_out) = loaded.shape();
    Ok((
        summary,
        PassShape {
            evaluated,
            left_out,
            quiet,
            took: [
                loaded_at,
                evaluated_at - loaded_at,
                recorded_at - evaluated_at,
                started.elapsed() - recorded_at,
            ],
        },
    ))
}

/// `rollcall run`: the daemon on the system clock until SIGTERM or Ctrl-C. In-flight sends
/// finish and are recorded before it exits; the school leases are released so another daemon
/// can take over at once.
pub async fn serve(config: Config) -> Result<()> {
    let mut daemon = Daemon::build(config, Clock::System).await?;
    if let Some(identity) = lease_identity(&daemon.config.daemon) {
        daemon.holder = identity;
    }
    let stop = CancellationToken::new();
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            wait_for_shutdown_signal().await;
            tracing::info!("shutting down: finishing messages being sent");
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
            stop.cancel();
        });
    }
    // A UTC heartbeat every minute: the only thing tokio-cron-scheduler is trusted with (its
    // timezone jobs keep the offset of the day they were made; see crate::schedule).
    let (tick, mut heartbeat) = tokio::sync::mpsc::channel::<()>(1);
    let mut scheduler = tokio_cron_scheduler::JobScheduler::new().await?;
    scheduler
        .add(tokio_cron_scheduler::Job::new_async(
            "0 * * * * *",
            move |_, _| {
                let tick = tick.clone();
                Box::pin(async move {
                    let _ = tick.try_send(());
                })
            },
        )?)
        .await?;
    scheduler.start().await?;

    let alive = Arc::new(std::sync::atomic::AtomicI64::new(Utc::now().timestamp()));
    if let Some(interval) = sd_notify::watchdog_enabled() {
        // Ping only while the main loop is making progress, so a stuck loop is restarted.
        let alive = Arc::clone(&alive);
        let stop = stop.clone();
        tokio::spawn(async move {
            let half = interval / 2;
            while !stop.is_cancelled() {
                let last = alive.load(std::sync::atomic::Ordering::Relaxed);
                if Utc::now().timestamp() - last < interval.as_secs() as i64 {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
                tokio::time::sleep(half).await;
            }
        });
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    tracing::info!(
        schools = daemon.schools.len(),
        owner = %daemon.owner,
        holder = %daemon.holder,
        school_lease_seconds = daemon.config.daemon.school_lease_seconds,
        mode = ?daemon.config.delivery.mode,
        "rollcall running"
    );
    let daemon = Arc::new(daemon);
    let console = match daemon.config.web.listen {
        Some(listen) => {
            let console = crate::web::Console::new(Arc::clone(&daemon), false)?;
            let stop = stop.clone();
            Some(tokio::spawn(async move {
                if let Err(e) = crate::web::serve(console, listen, stop.clone()).await {
                    // The daemon's work goes on without the console; say why it is missing.
                    tracing::error!("the console is not served: {e:#}");
                }
            }))
        }
        None => None,
    };
    let result = daemon
        .run(
            stop.clone(),
            None,
            |_| {
                alive.store(Utc::now().timestamp(), std::sync::atomic::Ordering::Relaxed);
                Ok(())
            },
            Some(&mut heartbeat),
        )
        .await;
    let _ = scheduler.shutdown().await;
    if let Some(console) = console {
        stop.cancel();
        let _ = console.await;
    }
    let report = result?;
    let d = &report.delivery;
    tracing::info!(
        runs = report.runs.len(),
        sent = d.sent + d.delivered,
        retried = d.retried,
        failed = d.failed,
        recovered = d.recovered,
        confirmed_after_crash = d.confirmed_after_crash,
        resent_unconfirmed = d.resent_unconfirmed,
        alerts_retried = d.alerts_retried,
        alerts_folded = d.alerts_folded,
        "rollcall stopped cleanly"
    );
    Ok(())
}

async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
