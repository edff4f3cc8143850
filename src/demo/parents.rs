//! The demo's pretend parents and the office that reads their replies (issue 16). A parent
//! whose child's absence began today answers the first-day text: most within half an hour,
//! some only after the 11:00 follow-up, some never. The reply says what the generated register
//! will later show (ill until Thursday, a dentist, away on holiday). The demo's office reads
//! the replies at 10:30 and 14:00 and confirms each for the pupil and days it is about, as a
//! person would from the words; the MIS codes still arrive when the pretend MIS sends them.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::Row;

use crate::config::{RepliesConfig, SchoolConfig};
use crate::register::store::{SchoolId, Store};
use crate::reply::confirm::{Confirmation, confirm};
use crate::reply::{Incoming, Provider, Taken, take};
use crate::schedule::local_instant;
use crate::school::SchoolRuntime;

/// When the demo's office reads the replies that have come in.
pub const READS_AT: [(u32, u32); 2] = [(10, 30), (14, 0)];

/// An absence run as the generated register will finally show it.
#[derive(Debug, Clone)]
struct Run {
    upn: String,
    code: String,
    from: NaiveDate,
    to: NaiveDate,
}

/// A reply on its way: who sends it, when, and what the office will confirm.
#[derive(Debug, Clone)]
struct Planned {
    at: NaiveDateTime,
    upn: String,
    run: Run,
    body: String,
}

/// What the replies did over the run, for the demo's summary.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub replies: usize,
    pub confirmed: usize,
    pub never_replied: usize,
    pub calls_off_the_list: usize,
    pub messages_withdrawn: usize,
}

pub struct Parents {
    /// Each absence run, keyed by its first day.
    runs: BTreeMap<NaiveDate, Vec<Run>>,
    /// Replies written but not yet arrived.
    planned: Vec<Planned>,
    /// Replies taken, waiting for the office: reply id → the run it is about.
    arrived: Vec<(i64, Run)>,
    rng: ChaCha8Rng,
    settings: RepliesConfig,
    calendar: crate::register::session::Calendar,
    /// Forenames by UPN: a parent writes the child's name.
    forenames: HashMap<String, String>,
    pub tally: Tally,
}

impl Parents {
    /// Reads the generated register's absence runs (whole days, by the morning's code).
    pub fn read(dir: &Path, school: &SchoolConfig, seed: u64) -> Result<Parents> {
        let marks = dir.join("marks.csv");
        let text = std::fs::read_to_string(&marks)
            .with_context(|| format!("reading {}", marks.display()))?;
        let pupils = dir.join("pupils.csv");
        let forenames = std::fs::read_to_string(&pupils)
            .with_context(|| format!("reading {}", pupils.display()))?
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut f = line.split(',');
                Some((f.next()?.to_owned(), f.next()?.to_owned()))
            })
            .collect();
        let mut am: BTreeMap<String, BTreeMap<NaiveDate, String>> = BTreeMap::new();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if let [upn, date, "AM", mark] = f.as_slice()
                && let Ok(date) = date.parse::<NaiveDate>()
            {
                am.entry((*upn).to_owned())
                    .or_default()
                    .insert(date, (*mark).to_owned());
            }
        }
        let mut runs: BTreeMap<NaiveDate, Vec<Run>> = BTreeMap::new();
        for (upn, days) in am {
            let mut current: Option<Run> = None;
            for (date, code) in days {
                if !school.calendar.is_school_day(date) {
                    continue;
                }
                let answers = matches!(code.as_str(), "I" | "M" | "R" | "G");
                match &mut current {
                    Some(run) if run.code == code && answers => run.to = date,
                    _ => {
                        if let Some(run) = current.take() {
                            runs.entry(run.from).or_default().push(run);
                        }
                        if answers {
                            current = Some(Run {
                                upn: upn.clone(),
                                code,
                                from: date,
                                to: date,
                            });
                        }
                    }
                }
            }
            if let Some(run) = current {
                runs.entry(run.from).or_default().push(run);
            }
        }
        Ok(Parents {
            runs,
            planned: Vec::new(),
            arrived: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x7265_706c_7973),
            settings: RepliesConfig {
                enabled: true,
                acknowledge: true,
                ..RepliesConfig::default()
            },
            calendar: school.calendar.clone(),
            forenames,
            tally: Tally::default(),
        })
    }

    /// After the first-day run: the parents texted this morning whose child's absence began
    /// today decide whether and when to answer.
    pub async fn texted(
        &mut self,
        store: &Store,
        school: SchoolId,
        day: NaiveDate,
        first_text_at: NaiveTime,
    ) -> Result<()> {
        let Some(runs) = self.runs.get(&day) else {
            return Ok(());
        };
        let texted: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT p.upn FROM outbox o
             JOIN outbox_items i ON i.outbox_id = o.id JOIN decisions d ON d.id = i.decision_id
             JOIN pupils p ON p.id = d.pupil_id
             WHERE o.school_id = $1 AND o.channel = 'sms' AND o.status IN ('sent', 'delivered')
               AND SUBSTR(o.created_at, 1, 10) = $2",
        )
        .bind(school.0)
        .bind(day.to_string())
        .fetch_all(store.pool())
        .await?;
        for run in runs.clone() {
            if !texted.contains(&run.upn) {
                continue;
            }
            // Most answer within half an hour, some after the 11:00 follow-up, some never.
            let roll: f64 = self.rng.random();
            let minutes = if roll < 0.55 {
                self.rng.random_range(5..35)
            } else if roll < 0.75 {
                self.rng.random_range(100..180)
            } else {
                self.tally.never_replied += 1;
                continue;
            };
            let at = day.and_time(first_text_at) + chrono::Duration::minutes(minutes);
            // The parent says when the child will be back (the next school day after the run);
            // the office takes that as the days the reply explains (at
            // most ten school days, as the console allows).
            let after = self.calendar.school_days_between(
                run.to.succ_opt().unwrap_or(run.to),
                run.to + chrono::Days::new(30),
            );
            let back = after.first().copied();
            let until = match back {
                Some(b) if b == day.succ_opt().unwrap_or(day) => "back tomorrow".to_owned(),
                Some(b) if (b - day).num_days() > 6 => format!("back on {}", b.format("%A %-d %B")),
                Some(b) => format!("back on {}", b.format("%A")),
                None => "back soon".to_owned(),
            };
            let explained = self.calendar.school_days_between(run.from, run.to);
            let mut run = run;
            if let Some(last) = explained.get(..10).and_then(<[NaiveDate]>::last) {
                run.to = *last;
            }
            let name = self
                .forenames
                .get(&run.upn)
                .cloned()
                .unwrap_or_else(|| "my child".to_owned());
            let body = match run.code.as_str() {
                "I" => [
                    "is poorly with a temperature,",
                    "has a sickness bug,",
                    "is unwell,",
                ][self.rng.random_range(0..3)]
                .to_owned(),
                "M" => "has a dentist appointment,".to_owned(),
                "R" => "is at the mosque for Eid with family,".to_owned(),
                _ => "is away with us on holiday,".to_owned(),
            };
            self.planned.push(Planned {
                at,
                upn: run.upn.clone(),
                body: format!("Sorry, {name} {body} {until}"),
                run,
            });
        }
        Ok(())
    }

    /// The replies that have arrived by `now` (school-local) reach rollcall, as a provider
    /// would hand them over.
    pub async fn deliver(
        &mut self,
        store: &Store,
        schools: &[Arc<SchoolRuntime>],
        school: &SchoolRuntime,
        now: NaiveDateTime,
    ) -> Result<()> {
        let tz = school.config.timezone;
        let (due, later): (Vec<Planned>, Vec<Planned>) =
            self.planned.drain(..).partition(|p| p.at <= now);
        self.planned = later;
        for p in due {
            let number: Option<String> = sqlx::query_scalar(
                "SELECT c.mobile FROM contacts c JOIN pupils p ON p.id = c.pupil_id
                 WHERE p.school_id = $1 AND p.upn = $2 AND c.mobile IS NOT NULL
                 ORDER BY c.priority LIMIT 1",
            )
            .bind(school.id.0)
            .bind(&p.upn)
            .fetch_optional(store.pool())
            .await?
            .flatten();
            let Some(number) = number else { continue };
            let incoming = Incoming {
                provider: Provider::Demo,
                provider_id: format!("demo-{}-{}", p.at.format("%Y%m%d%H%M"), p.upn),
                from: number,
                to: "07700900000".into(),
                body: p.body.clone(),
                received_at: local_instant(tz, p.at),
            };
            if let Taken::New(id) = take(
                store,
                schools,
                &self.settings,
                &incoming,
                local_instant(tz, now),
            )
            .await?
            {
                self.tally.replies += 1;
                self.arrived.push((id, p.run));
            }
        }
        Ok(())
    }

    /// The office reads what has come in and confirms each reply for its pupil and the days
    /// the parent named.
    pub async fn read_replies(
        &mut self,
        store: &Store,
        school: &SchoolRuntime,
        now: NaiveDateTime,
    ) -> Result<()> {
        let ids: HashMap<String, i64> =
            sqlx::query("SELECT id, upn FROM pupils WHERE school_id = $1")
                .bind(school.id.0)
                .fetch_all(store.pool())
                .await?
                .iter()
                .map(|r| Ok((r.try_get("upn")?, r.try_get("id")?)))
                .collect::<Result<_>>()?;
        for (reply_id, run) in std::mem::take(&mut self.arrived) {
            let Some(pupil_id) = ids.get(&run.upn).copied() else {
                continue;
            };
            let reason = match run.code.as_str() {
                "I" => "illness",
                "M" => "medical",
                "R" => "religious",
                _ => "holiday",
            };
            let confirmation = Confirmation {
                reply_id,
                pupil_id,
                from: run.from,
                to: run.to,
                reason: reason.into(),
                by: "Demo Office (Office)".into(),
            };
            if let Ok(done) = confirm(store, school, &confirmation, now).await? {
                self.tally.confirmed += 1;
                self.tally.calls_off_the_list += done.calls_removed;
                self.tally.messages_withdrawn += done.messages_cancelled;
            }
        }
        Ok(())
    }

    /// First-day contacts never needed: a school day a confirmed reply explained, on which the
    /// register still showed the absence unexplained at close (the pretend MIS sends `N` first)
    /// and no first-day stage decided anything for the pupil.
    pub async fn contacts_not_needed(
        &self,
        store: &Store,
        school: &SchoolRuntime,
    ) -> Result<usize> {
        let first_day: Vec<&str> = school
            .policy
            .stages
            .iter()
            .filter(|s| s.answered_by_reply && crate::escalation::stage::is_first_day(s))
            .map(|s| s.id.as_str())
            .collect();
        let rows = sqlx::query(
            "SELECT e.pupil_id, e.day FROM reply_explanations e
             JOIN reply_outcomes o ON o.reply_id = e.reply_id AND o.pupil_id = e.pupil_id
             WHERE e.school_id = $1 AND e.session = 'AM' AND SUBSTR(o.decided_at, 1, 10) < e.day",
        )
        .bind(school.id.0)
        .fetch_all(store.pool())
        .await?;
        let mut n = 0;
        for r in rows {
            let pupil: i64 = r.try_get("pupil_id")?;
            let day: String = r.try_get("day")?;
            let mut decided = false;
            for stage in &first_day {
                let found: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM decisions WHERE pupil_id = $1 AND stage = $2 AND anchor = $3",
                )
                .bind(pupil)
                .bind(*stage)
                .bind(&day)
                .fetch_optional(store.pool())
                .await?;
                decided |= found.is_some();
            }
            if !decided {
                n += 1;
            }
        }
        Ok(n)
    }
}
