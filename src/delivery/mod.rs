//! Delivery: moves outbox rows through their states and hands them to channels.
//!
//! ```text
//! awaiting_approval ──approve──▶ queued ──claim──▶ sending ──▶ sent ──▶ delivered
//!        │                         ▲ │                │
//!        └──reject──▶ cancelled    │ └──TTL──▶ expired │
//!                                  └────retry─────────┤ (transient, rate limited, ambiguous)
//!                                                     └──▶ failed (permanent, or out of attempts)
//! ```
//! Rows are written in `awaiting_approval` or `queued` by [`crate::delivery::outbox::record`] in the same
//! transaction as their decision; that is rollcall's "pending".
//!
//! A claim is a short lease written to the row (`lease_owner`, `lease_until`), never a
//! transaction held open across a network call. If a daemon dies while sending, the lease
//! lapses and the row returns to `queued` marked `ambiguous`: before sending it again the
//! channel is asked whether it already has it (Notify by reference, the file sink by row id);
//! email has no such question, so it is sent again with the same Message-ID and counted on the
//! row (`resends`), where `rollcall status` shows it.
//!
//! Alerts (to staff, about a message that failed, a rejected export, a held run) must not share
//! the fate of what they report: they are never given up, they retry with the capped backoff
//! until delivered, after `alerts_fallback_after` failed attempts (or a refusal) they also go to
//! `[delivery] alerts_fallback`, and at most `alerts_waiting_max` wait per school: more are
//! folded into one digest alert that lists them.

pub mod channel;
pub mod message;
pub mod outbox;
pub mod tasks;
pub mod template;

mod address;
mod isolated;
mod prepared;
use address::staff_mailbox;
pub use address::{from_mailbox, recipient_display_name, role_words};
pub use isolated::{Isolated, Panicked};
pub use prepared::{Prepared, letter_for, letter_pdf};

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use chrono::{Duration, NaiveDate, NaiveDateTime};
use rand::Rng as _;
use rand::SeedableRng as _;
use serde::Serialize;
use sqlx::{AssertSqlSafe, Row as _};

use crate::config::{DeliveryConfig, DeliveryMode, SchoolConfig};
use crate::delivery::channel::file::{FileSink, SmsLine};
use crate::delivery::channel::{Attachment, Outgoing, SendError, Sent};
use crate::delivery::message::{OUTBOX_COLUMNS, OutboxRow};
use crate::delivery::template::{Audience, Rendered};
use crate::escalation::policy::Channel;
use crate::register::store::{SchoolId, Store};
use crate::schedule::{Clock, instant_text, to_local};
use crate::school::SchoolRuntime;

const LOCAL: &str = "%Y-%m-%dT%H:%M:%S";

/// Where messages go.
pub struct Channels {
    pub mode: DeliveryMode,
    pub sink: FileSink,
    pub live: crate::delivery::channel::Live,
}

/// Everything a delivery pass needs, shared by the concurrent sends.
pub struct Deliverer {
    pub store: Store,
    pub settings: DeliveryConfig,
    pub channels: Channels,
    pub clock: Clock,
    /// This daemon's name in leases and events.
    pub owner: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DeliverySummary {
    pub sent: usize,
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
    pub expired: usize,
    /// Rows whose lease lapsed (a daemon died mid-send) and went back to the queue.
    pub recovered: usize,
    /// Of those, rows the channel confirmed it already had: not sent twice.
    pub confirmed_after_crash: usize,
    /// Rows sent again without being able to ask the channel (email): possibly twice.
    pub resent_unconfirmed: usize,
    /// Alerts beyond `alerts_waiting_max` folded into a digest alert.
    pub alerts_folded: usize,
    /// Alerts that failed an attempt and wait to be tried again (they are never given up).
    pub alerts_retried: usize,
}

impl DeliverySummary {
    pub fn merge(&mut self, other: &DeliverySummary) {
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.retried += other.retried;
        self.failed += other.failed;
        self.expired += other.expired;
        self.recovered += other.recovered;
        self.confirmed_after_crash += other.confirmed_after_crash;
        self.resent_unconfirmed += other.resent_unconfirmed;
        self.alerts_folded += other.alerts_folded;
        self.alerts_retried += other.alerts_retried;
    }

    /// What happened since `earlier` (a snapshot of the same running total).
    pub fn minus(&self, earlier: &DeliverySummary) -> DeliverySummary {
        DeliverySummary {
            sent: self.sent.saturating_sub(earlier.sent),
            delivered: self.delivered.saturating_sub(earlier.delivered),
            retried: self.retried.saturating_sub(earlier.retried),
            failed: self.failed.saturating_sub(earlier.failed),
            expired: self.expired.saturating_sub(earlier.expired),
            recovered: self.recovered.saturating_sub(earlier.recovered),
            confirmed_after_crash: self
                .confirmed_after_crash
                .saturating_sub(earlier.confirmed_after_crash),
            resent_unconfirmed: self
                .resent_unconfirmed
                .saturating_sub(earlier.resent_unconfirmed),
            alerts_folded: self.alerts_folded.saturating_sub(earlier.alerts_folded),
            alerts_retried: self.alerts_retried.saturating_sub(earlier.alerts_retried),
        }
    }

    /// Whether anything happened worth a log line.
    pub fn is_empty(&self) -> bool {
        *self == DeliverySummary::default()
    }
}

/// How one attempt ended.
enum Outcome {
    Done {
        status: &'static str,
        sent: Sent,
    },
    Retry {
        error: String,
        after: Option<std::time::Duration>,
        ambiguous: bool,
    },
    Failed(String),
}

/// What a channel says when asked whether it already has a message.
enum Asked {
    /// It has it: recorded as sent without sending again.
    Has(Sent),
    /// It has not: sending again cannot make a second copy.
    NotThere,
    /// Nobody can say (SMTP has no such question; the provider did not answer): sending again
    /// may make a second copy, which is counted on the row.
    Unknown,
}

impl Deliverer {
    /// Sends everything due for one school, until nothing is left to claim or `stop` is set.
    /// In-flight sends always finish and are recorded.
    pub async fn deliver_due(
        self: &Arc<Self>,
        school: &Arc<SchoolRuntime>,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Result<DeliverySummary> {
        let mut summary = DeliverySummary {
            recovered: self.recover_lapsed(school).await?,
            ..DeliverySummary::default()
        };
        summary.expired += self.expire(school).await?;
        summary.alerts_folded += self.fold_alerts(school).await?;
        let mut tasks_written = false;
        while !stop.is_cancelled() {
            // One message per sending slot: a claimed row is sent within one provider deadline,
            // well inside its lease, rather than waiting behind others it was claimed with.
            let batch = self.claim(school, self.settings.concurrency).await?;
            if batch.is_empty() {
                break;
            }
            let mut running: Isolated<OutboxRow, Result<DeliverySummary>> = Isolated::default();
            for row in batch {
                tasks_written |= row.channel == "task";
                while running.len() >= self.settings.concurrency {
                    if let Some(done) = running.join_next().await {
                        self.settle(school, done, &mut summary).await?;
                    }
                }
                let me = Arc::clone(self);
                let task_school = Arc::clone(school);
                let task_row = row.clone();
                running.spawn(row, async move { me.attempt(&task_school, task_row).await });
            }
            while let Some(done) = running.join_next().await {
                self.settle(school, done, &mut summary).await?;
            }
        }
        if tasks_written {
            self.publish_tasks(school).await?;
        }
        Ok(summary)
    }

    /// One finished attempt. An attempt that panicked is that message's failure, recorded
    /// with an alert like any other: it must not end the pass and leave every other family's
    /// message waiting behind it. (Known causes are checked before building, so this is
    /// the backstop for an unknown one; the panic itself is in the log.)
    async fn settle(
        &self,
        school: &SchoolRuntime,
        done: (OutboxRow, Result<Result<DeliverySummary>, Panicked>),
        summary: &mut DeliverySummary,
    ) -> Result<()> {
        match done {
            (_, Ok(result)) => summary.merge(&result?),
            (row, Err(Panicked)) => {
                tracing::error!(
                    outbox_id = row.id,
                    "sending a message panicked; it is marked failed"
                );
                self.fail_or_expire(
                    school,
                    &row,
                    "rollcall failed inside while building or sending this message (an \
                     internal error, in the log); it is not retried",
                    false,
                    summary,
                )
                .await?;
            }
        }
        Ok(())
    }

    fn now_local(&self, school: &SchoolRuntime) -> NaiveDateTime {
        to_local(school.config.timezone, self.clock.now())
    }

    /// Rows left in `sending` by a daemon that stopped answering go back to the queue,
    /// marked ambiguous: the provider may have them.
    async fn recover_lapsed(&self, school: &SchoolRuntime) -> Result<usize> {
        let now = instant_text(self.clock.now());
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE outbox SET status = 'queued', ambiguous = 1, lease_owner = NULL, lease_until = NULL
             WHERE school_id = $1 AND status = 'sending' AND lease_until < $2 RETURNING id",
        )
        .bind(school.id.0)
        .bind(&now)
        .fetch_all(self.store.pool())
        .await?;
        for id in &ids {
            self.event(*id, "lease_lapsed", "the daemon sending it stopped before recording the result; the channel is asked before it is sent again").await?;
        }
        Ok(ids.len())
    }

    /// Rows a dead process of this same daemon (same host and unit, restarted) left in
    /// `sending` go back to the queue at once, marked ambiguous, instead of after their lease.
    pub async fn recover_from(&self, school: SchoolId, dead: &str) -> Result<usize> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE outbox SET status = 'queued', ambiguous = 1, lease_owner = NULL, lease_until = NULL
             WHERE school_id = $1 AND status = 'sending' AND lease_owner = $2 RETURNING id",
        )
        .bind(school.0)
        .bind(dead)
        .fetch_all(self.store.pool())
        .await?;
        for id in &ids {
            self.event(*id, "lease_lapsed", "the daemon sending it was restarted before recording the result; the channel is asked before it is sent again").await?;
        }
        Ok(ids.len())
    }

    async fn expire(&self, school: &SchoolRuntime) -> Result<usize> {
        let local = self.now_local(school).format(LOCAL).to_string();
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE outbox SET status = 'expired', finished_at = $1
             WHERE school_id = $2 AND status IN ('queued', 'awaiting_approval')
               AND expires_at IS NOT NULL AND expires_at <= $3 RETURNING id",
        )
        .bind(instant_text(self.clock.now()))
        .bind(school.id.0)
        .bind(&local)
        .fetch_all(self.store.pool())
        .await?;
        for id in &ids {
            self.event(*id, "expired", "its time to live passed before it was sent")
                .await?;
        }
        Ok(ids.len())
    }

    /// Takes up to `limit` due rows with a lease. The `status = 'queued'` re-check in the outer
    /// UPDATE is what stops two daemons claiming one row (PostgreSQL re-evaluates it after a
    /// concurrent update commits; SQLite has one writer).
    async fn claim(&self, school: &SchoolRuntime, limit: usize) -> Result<Vec<OutboxRow>> {
        let now = self.clock.now();
        let lease_until = now + Duration::seconds(self.settings.lease_seconds as i64);
        let rows = sqlx::query(AssertSqlSafe(format!(
            "UPDATE outbox SET status = 'sending', lease_owner = $1, lease_until = $2,
                    attempts = attempts + 1
             WHERE id IN (
                 SELECT id FROM outbox
                 WHERE school_id = $3 AND status = 'queued'
                   AND (next_attempt_at IS NULL OR next_attempt_at <= $4)
                   AND (not_before IS NULL OR not_before <= $5)
                 ORDER BY id LIMIT $6)
               AND status = 'queued'
             RETURNING {OUTBOX_COLUMNS}"
        )))
        .bind(&self.owner)
        .bind(instant_text(lease_until))
        .bind(school.id.0)
        .bind(instant_text(now))
        .bind(self.now_local(school).format(LOCAL).to_string())
        .bind(limit as i64)
        .fetch_all(self.store.pool())
        .await?;
        let mut out: Vec<OutboxRow> = rows
            .iter()
            .map(OutboxRow::from_row)
            .collect::<Result<_>>()?;
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    /// One attempt at one row, recorded whatever happens.
    async fn attempt(&self, school: &SchoolRuntime, row: OutboxRow) -> Result<DeliverySummary> {
        let mut summary = DeliverySummary::default();
        let outcome = match self.prepare(school, &row).await {
            Err(problem) => Outcome::Failed(problem),
            Ok(prepared) => {
                let mut confirmed = None;
                if row.ambiguous {
                    match self.ask_channel(school, &row, &prepared).await {
                        Asked::Has(sent) => {
                            summary.confirmed_after_crash += 1;
                            confirmed = Some(sent);
                        }
                        Asked::NotThere => {}
                        Asked::Unknown => {
                            // Counted before sending: a daemon killed during this send must
                            // not lose the count of a copy that may arrive.
                            self.count_resend(&row).await?;
                            summary.resent_unconfirmed += 1;
                        }
                    }
                }
                match confirmed {
                    Some(sent) => Outcome::Done {
                        status: final_status(&row.channel, self.channels.mode),
                        sent,
                    },
                    None => self.send(school, &row, prepared).await,
                }
            }
        };
        self.record(school, &row, outcome, &mut summary).await?;
        Ok(summary)
    }

    /// A message exactly as it would be sent now, without sending or recording anything:
    /// what the console shows a person before they approve it.
    pub async fn preview(&self, school: &SchoolRuntime, id: i64) -> Result<Prepared> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1 AND school_id = $2"
        )))
        .bind(id)
        .bind(school.id.0)
        .fetch_optional(self.store.pool())
        .await?
        .ok_or_else(|| anyhow::anyhow!("there is no message {id} for this school"))?;
        let row = OutboxRow::from_row(&row)?;
        self.prepare(school, &row)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Renders the row into what its channel sends; an error here is permanent (a template
    /// or an address that will not change by trying again).
    async fn prepare(&self, school: &SchoolRuntime, row: &OutboxRow) -> Result<Prepared, String> {
        let now = self.now_local(school);
        let channel = parse_channel(&row.channel)?;
        if row.template == crate::report::queue::REPORT_TEMPLATE {
            return self.prepare_report(school, row, now).await;
        }
        let data = message::load(&self.store, &school.config, &school.policy, row, now)
            .await
            .map_err(|e| format!("cannot read the message's data: {e:#}"))?;
        let audience = if row.is_alert() {
            Audience::Staff
        } else {
            Audience::of(&row.recipient_role)
        };
        let rendered = school
            .templates
            .render(&row.template, channel, audience, &data)
            .map_err(|e| e.to_string())?;
        let (to_name, address) = match (&row.address, audience) {
            (Some(a), Audience::Family) if !a.is_empty() => (data.recipient.clone(), a.clone()),
            (Some(a), _) if !a.is_empty() => (
                recipient_display_name(&row.recipient_role, &school.config.name),
                a.clone(),
            ),
            (_, Audience::Family) if channel != Channel::Task => {
                return Err(format!(
                    "{}: there is no {} for this family in the register",
                    row.recipient,
                    match channel {
                        Channel::Sms => "mobile number",
                        Channel::Letter => "postal address",
                        _ => "email address",
                    }
                ));
            }
            _ if channel == Channel::Task => (data.recipient.clone(), String::new()),
            _ => staff_mailbox(&school.config, &row.recipient_role)?,
        };
        // A return to the LA carries the return itself: a CSV of the episode(s) and a
        // readable cover as PDF, built from the register as it is now.
        let attachments = if channel == Channel::LaReturn {
            crate::report::la_return::attachments_for_message(
                &self.store,
                school,
                row.id,
                now.date(),
            )
            .await
            .map_err(|e| format!("cannot make the LA return: {e:#}"))?
        } else {
            Vec::new()
        };
        Ok(Prepared {
            date: now.date(),
            outgoing: Outgoing {
                outbox_id: row.id,
                attempt: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                school: school.config.id.clone(),
                to_name,
                address,
                subject: rendered.subject.clone(),
                text: rendered.text.clone(),
                html: rendered.html.clone(),
                attachments,
            },
            rendered,
            data,
        })
    }

    /// A stored report (newsletter, governor report, regular LA return): sent as it was
    /// rendered when queued, to the address of its role in `[school.staff]`.
    async fn prepare_report(
        &self,
        school: &SchoolRuntime,
        row: &OutboxRow,
        now: chrono::NaiveDateTime,
    ) -> Result<Prepared, String> {
        let stored = crate::report::queue::load(&self.store, row.id)
            .await
            .map_err(|e| format!("cannot read the stored report: {e:#}"))?;
        let (to_name, address) = staff_mailbox(&school.config, &row.recipient_role)?;
        Ok(Prepared {
            date: now.date(),
            outgoing: Outgoing {
                outbox_id: row.id,
                attempt: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                school: school.config.id.clone(),
                to_name,
                address,
                subject: stored.subject.clone(),
                text: stored.text.clone(),
                html: stored.html.clone(),
                attachments: stored.attachments,
            },
            rendered: crate::delivery::template::Rendered {
                subject: stored.subject,
                text: stored.text,
                html: stored.html,
                letter: None,
                used: vec![format!("{} (stored when queued)", row.key)],
            },
            data: crate::delivery::template::MessageData::default(),
        })
    }

    /// After an attempt with no known outcome: does the channel already have this message?
    async fn ask_channel(
        &self,
        school: &SchoolRuntime,
        row: &OutboxRow,
        prepared: &Prepared,
    ) -> Asked {
        let school_key = &school.config.id;
        let file = |path: PathBuf| {
            if path.exists() {
                Asked::Has(Sent {
                    provider_id: path.display().to_string(),
                })
            } else {
                Asked::NotThere
            }
        };
        match (row.channel.as_str(), self.channels.mode) {
            ("sms", DeliveryMode::File) => {
                match self
                    .channels
                    .sink
                    .lookup_sms(school_key, prepared.date, row.id)
                {
                    Some(line) => Asked::Has(Sent {
                        provider_id: format!("sms.jsonl#{}", line.outbox_id),
                    }),
                    None => Asked::NotThere,
                }
            }
            ("email" | "la_return", DeliveryMode::File) => file(self.channels.sink.email_path(
                school_key,
                prepared.date,
                row.id,
            )),
            ("letter", _) => file(self.channels.sink.letter_path(
                school_key,
                prepared.date,
                row.id,
            )),
            ("sms", DeliveryMode::Live) => {
                match self.channels.live.lookup_sms(&prepared.outgoing).await {
                    Ok(Some(sent)) => Asked::Has(sent),
                    Ok(None) => Asked::NotThere,
                    Err(_) => Asked::Unknown,
                }
            }
            // The day's task list is rebuilt from the outbox: listing a task again adds nothing.
            ("task", _) => Asked::NotThere,
            _ => Asked::Unknown,
        }
    }

    /// One more copy of `row` may reach its recipient: counted on the row and in its events.
    async fn count_resend(&self, row: &OutboxRow) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET resends = resends + 1
             WHERE id = $1 AND lease_owner = $2 AND status = 'sending'",
        )
        .bind(row.id)
        .bind(&self.owner)
        .execute(self.store.pool())
        .await?;
        let how = match row.channel.as_str() {
            "email" | "la_return" => {
                "email cannot be asked whether the earlier attempt arrived, so it is sent again \
                 with the same Message-ID (most mail systems then show one copy)"
            }
            _ => {
                "the provider could not be asked whether the earlier attempt arrived, so it is sent again"
            }
        };
        self.event(
            row.id,
            "resent",
            &format!(
                "attempt {}: {how}; the recipient may get it twice",
                row.attempts
            ),
        )
        .await
    }

    async fn send(
        &self,
        school: &SchoolRuntime,
        row: &OutboxRow,
        mut prepared: Prepared,
    ) -> Outcome {
        let mode = self.channels.mode;
        let status = final_status(&row.channel, mode);
        let result: Result<Sent, SendError> = match row.channel.as_str() {
            "task" => self.write_task(school, &prepared),
            "letter" => self.write_letter(school, &prepared).map(|(sent, _)| sent),
            "sms" => match crate::delivery::channel::sms::check_length(&prepared.outgoing.text) {
                Err(too_long) => Err(too_long),
                Ok(_) => match mode {
                    DeliveryMode::File => self.file_sms(&prepared),
                    DeliveryMode::Live => self.channels.live.send_sms(&prepared.outgoing).await,
                },
            },
            _ => {
                if let Some(letter) = &prepared.rendered.letter {
                    match crate::delivery::channel::letter::render_one(&letter_for(
                        &school.config,
                        &prepared,
                        letter,
                    )) {
                        Ok(pdf) => prepared.outgoing.attachments.push(Attachment {
                            filename: format!("{}.pdf", row.template.replace('_', "-")),
                            content_type: "application/pdf".into(),
                            bytes: pdf,
                        }),
                        Err(e) => return Outcome::Failed(format!("cannot make the letter: {e}")),
                    }
                }
                match mode {
                    DeliveryMode::File => from_mailbox(&school.config)
                        .and_then(|from| {
                            crate::delivery::channel::email::to_eml(&prepared.outgoing, &from, None)
                        })
                        .and_then(|eml| {
                            self.channels
                                .sink
                                .write_email(prepared.date, &prepared.outgoing, &eml)
                        }),
                    DeliveryMode::Live => self.channels.live.send_email(&prepared.outgoing).await,
                }
            }
        };
        match result {
            Ok(sent) => Outcome::Done { status, sent },
            Err(SendError::Permanent(e)) => Outcome::Failed(e),
            Err(SendError::Transient(e)) => Outcome::Retry {
                error: e,
                after: None,
                ambiguous: false,
            },
            Err(SendError::RateLimited { retry_after }) => Outcome::Retry {
                error: "rate limited by the provider".into(),
                after: retry_after,
                ambiguous: false,
            },
            Err(SendError::Ambiguous(e)) => Outcome::Retry {
                error: e,
                after: None,
                ambiguous: true,
            },
        }
    }

    fn file_sms(&self, prepared: &Prepared) -> Result<Sent, SendError> {
        let msg = &prepared.outgoing;
        let to = crate::register::phone::parse_uk_mobile(&msg.address)
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        let segments = crate::delivery::channel::sms::segments(&msg.text);
        let line = SmsLine {
            outbox_id: msg.outbox_id,
            attempt: msg.attempt,
            reference: crate::delivery::channel::sms::reference(msg),
            to: to.to_string(),
            body: msg.text.clone(),
            segments: segments.segments,
            encoding: format!("{:?}", segments.encoding),
            written_at: instant_text(self.clock.now()),
        };
        self.channels
            .sink
            .write_sms(&msg.school, prepared.date, &line)
    }

    /// A task goes on today's list: its words (who to ring in order, what to record, what to
    /// bring) are kept beside the list, which [`crate::delivery::tasks::publish`] rewrites from them.
    fn write_task(&self, school: &SchoolRuntime, prepared: &Prepared) -> Result<Sent, SendError> {
        let path = crate::delivery::tasks::task_text_path(
            &self.channels.sink,
            &school.config.id,
            prepared.date,
            prepared.outgoing.outbox_id,
        );
        FileSink::write_atomic(&path, prepared.rendered.text.as_bytes())?;
        Ok(Sent {
            provider_id: format!("task list {}", prepared.date),
        })
    }

    /// Writes one letter's PDF (the office prints the day's batch; see [`Self::batch_letters`]).
    fn write_letter(
        &self,
        school: &SchoolRuntime,
        prepared: &Prepared,
    ) -> Result<(Sent, PathBuf), SendError> {
        let letter = prepared
            .rendered
            .letter
            .as_ref()
            .ok_or_else(|| SendError::Permanent("the template made no letter".into()))?;
        let letter = letter_for(&school.config, prepared, letter);
        let pdf = crate::delivery::channel::letter::render_one(&letter)
            .map_err(|e| SendError::Permanent(format!("cannot make the letter: {e}")))?;
        let path = self.channels.sink.letter_path(
            &school.config.id,
            prepared.date,
            prepared.outgoing.outbox_id,
        );
        // The letter's words beside its PDF, so the day's batch can be set as one document.
        let words = serde_json::to_vec(&letter)
            .map_err(|e| SendError::Permanent(format!("cannot keep the letter: {e}")))?;
        FileSink::write_atomic(&path.with_extension("json"), &words)?;
        FileSink::write_atomic(&path, &pdf)?;
        Ok((
            Sent {
                provider_id: path.display().to_string(),
            },
            path,
        ))
    }

    async fn record(
        &self,
        school: &SchoolRuntime,
        row: &OutboxRow,
        outcome: Outcome,
        summary: &mut DeliverySummary,
    ) -> Result<()> {
        let now = self.clock.now();
        let now_text = instant_text(now);
        let (status, detail) = match outcome {
            Outcome::Done { status, sent } => {
                sqlx::query(
                    "UPDATE outbox SET status = $1, provider_id = $2, sent_at = $3, finished_at = $4,
                            lease_owner = NULL, lease_until = NULL, last_error = NULL, ambiguous = 0
                     WHERE id = $5 AND lease_owner = $6 AND status = 'sending'",
                )
                .bind(status)
                .bind(&sent.provider_id)
                .bind(&now_text)
                .bind((status == "delivered").then_some(&now_text))
                .bind(row.id)
                .bind(&self.owner)
                .execute(self.store.pool())
                .await?;
                if status == "delivered" {
                    summary.delivered += 1;
                } else {
                    summary.sent += 1;
                }
                (status, format!("attempt {}: accepted", row.attempts))
            }
            Outcome::Retry {
                error,
                after,
                ambiguous,
            } => {
                let wait = after
                    .and_then(|d| Duration::from_std(d).ok())
                    .unwrap_or_else(|| self.backoff(row.id, row.attempts));
                let next = now + wait;
                let expires = self.expires_at(row.id).await?;
                let too_late = expires.is_some_and(|e| to_local(school.config.timezone, next) >= e);
                // An alert is never given up: it is how a person learns that something failed.
                let out_of_attempts =
                    !row.is_alert() && row.attempts >= i64::from(self.settings.max_attempts);
                if too_late || out_of_attempts {
                    return self
                        .fail_or_expire(school, row, &error, too_late, summary)
                        .await;
                }
                if row.is_alert() {
                    self.alert_not_delivered(school, row, &error, false, summary)
                        .await?;
                }
                self.requeue(row, next, &error, ambiguous).await?;
                summary.retried += 1;
                (
                    "retry",
                    format!(
                        "attempt {} failed ({error}); next attempt at {}",
                        row.attempts,
                        instant_text(next)
                    ),
                )
            }
            Outcome::Failed(error) if row.is_alert() => {
                // Refused (no address for the role, a 5xx): the config or the mailbox can be
                // fixed while it waits, and the fallback goes at once.
                self.alert_not_delivered(school, row, &error, true, summary)
                    .await?;
                let next = now + self.backoff(row.id, row.attempts);
                self.requeue(row, next, &error, false).await?;
                summary.retried += 1;
                (
                    "retry",
                    format!(
                        "attempt {} refused ({error}); an alert is never given up: next attempt at {}",
                        row.attempts,
                        instant_text(next)
                    ),
                )
            }
            Outcome::Failed(error) => {
                return self
                    .fail_or_expire(school, row, &error, false, summary)
                    .await;
            }
        };
        self.event(row.id, status, &detail).await
    }

    async fn requeue(
        &self,
        row: &OutboxRow,
        next: chrono::DateTime<chrono::Utc>,
        error: &str,
        ambiguous: bool,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET status = 'queued', next_attempt_at = $1, last_error = $2,
                    ambiguous = $3, lease_owner = NULL, lease_until = NULL
             WHERE id = $4 AND lease_owner = $5 AND status = 'sending'",
        )
        .bind(instant_text(next))
        .bind(error)
        .bind(i64::from(ambiguous))
        .bind(row.id)
        .bind(&self.owner)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// An alert's attempt failed: said in the logs at error level (the journal is one more
    /// place a person may see it), and once it has failed `alerts_fallback_after` times or
    /// been refused, sent to the fallback as well. The fallback of a fallback is the log.
    async fn alert_not_delivered(
        &self,
        school: &SchoolRuntime,
        row: &OutboxRow,
        error: &str,
        refused: bool,
        summary: &mut DeliverySummary,
    ) -> Result<()> {
        summary.alerts_retried += 1;
        tracing::error!(
            school = %school.config.id,
            outbox_id = row.id,
            attempts = row.attempts,
            to = %row.recipient_role,
            "an alert could not be delivered; it will be tried again until it is"
        );
        let Some(fallback) = &self.settings.fallback else {
            return Ok(());
        };
        if is_fallback(row)
            || !(refused || row.attempts >= i64::from(self.settings.alerts_fallback_after.max(1)))
        {
            return Ok(());
        }
        let (channel, address) = match fallback {
            crate::config::AlertsFallback::Sms(number) => ("sms", number.clone()),
            crate::config::AlertsFallback::Email(mailbox) => (
                "email",
                crate::config::parse_mailbox(mailbox)
                    .map(|m| m.email.to_string())
                    .unwrap_or_else(|_| mailbox.clone()),
            ),
        };
        let original = row.hold_reason.as_deref().unwrap_or_default();
        let mut text = format!(
            "Alert {} for the {} could not be sent ({}). It says: {original}",
            row.id,
            role_words(&row.recipient_role).to_lowercase(),
            shorten(error, 120, "…"),
        );
        if channel == "sms" {
            text = shorten(
                &text,
                FALLBACK_TEXT_CHARS,
                " … (rollcall status has the rest)",
            );
        }
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO outbox (school_id, key, channel, recipient_role, recipient, address,
                                 template, status, requires_approval, hold_reason, created_at)
             VALUES ($1, $2, $3, 'alerts_fallback', 'alerts_fallback', $4, 'alert', 'queued', 0, $5, $6)
             ON CONFLICT (key) DO NOTHING RETURNING id",
        )
        .bind(school.id.0)
        .bind(format!("{}/fallback", row.key))
        .bind(channel)
        .bind(&address)
        .bind(&text)
        .bind(self.now_local(school).format(LOCAL).to_string())
        .fetch_optional(self.store.pool())
        .await?;
        if let Some(id) = inserted {
            self.event(
                row.id,
                "fallback",
                &format!("also sent to the alerts fallback ({channel}) as message {id}"),
            )
            .await?;
        }
        Ok(())
    }

    /// Keeps at most `alerts_waiting_max` alerts waiting to go one by one: the newest beyond
    /// that are folded into one digest alert (to the attendance officer) that lists each of
    /// them in full, so an outage that fails a hundred messages ends in a few emails, not a
    /// hundred. Folded alerts keep their rows (status `folded`) and `rollcall status` counts them.
    async fn fold_alerts(&self, school: &SchoolRuntime) -> Result<usize> {
        let max = self.settings.alerts_waiting_max.max(1);
        let waiting: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM outbox
             WHERE school_id = $1 AND status = 'queued' AND key LIKE '%/alert/%'
               AND key NOT LIKE '%/alert/digest-%' AND key NOT LIKE '%/fallback'
             ORDER BY id",
        )
        .bind(school.id.0)
        .fetch_all(self.store.pool())
        .await?;
        let Some(extra) = waiting.get(max..).filter(|e| !e.is_empty()) else {
            return Ok(0);
        };
        let now_local = self.now_local(school).format(LOCAL).to_string();
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(id) FROM outbox
             WHERE school_id = $1 AND status = 'queued' AND key LIKE '%/alert/digest-%'",
        )
        .bind(school.id.0)
        .fetch_one(self.store.pool())
        .await?;
        let digest = match open {
            Some(id) => id,
            None => {
                let key = format!("school-{}/alert/digest-{}", school.id.0, extra[0]);
                // Another daemon folding the same alerts at the same moment makes the same key.
                let made: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO outbox (school_id, key, channel, recipient_role, recipient,
                                         template, status, requires_approval, hold_reason, created_at)
                     VALUES ($1, $2, 'email', 'attendance_officer', 'attendance_officer', 'alert',
                             'queued', 0, '', $3)
                     ON CONFLICT (key) DO NOTHING RETURNING id",
                )
                .bind(school.id.0)
                .bind(&key)
                .bind(&now_local)
                .fetch_optional(self.store.pool())
                .await?;
                match made {
                    Some(id) => id,
                    None => {
                        sqlx::query_scalar("SELECT id FROM outbox WHERE key = $1")
                            .bind(&key)
                            .fetch_one(self.store.pool())
                            .await?
                    }
                }
            }
        };
        let marker = format!("into alert {digest}");
        let mut folded = 0;
        for id in extra {
            let done = sqlx::query(
                "UPDATE outbox SET status = 'folded', finished_at = $1 WHERE id = $2 AND status = 'queued'",
            )
            .bind(instant_text(self.clock.now()))
            .bind(*id)
            .execute(self.store.pool())
            .await?;
            if done.rows_affected() == 1 {
                folded += 1;
                self.event(*id, "folded", &marker).await?;
            }
        }
        let rows = sqlx::query(
            "SELECT o.id, o.created_at, COALESCE(o.hold_reason, '') FROM outbox o
             JOIN outbox_events e ON e.outbox_id = o.id
             WHERE e.event = 'folded' AND e.detail = $1 ORDER BY o.id",
        )
        .bind(&marker)
        .fetch_all(self.store.pool())
        .await?;
        let mut text = format!(
            "{} alerts are in this one message because {max} others were already waiting to be \
             sent (rollcall sends at most {max} alerts one by one; `rollcall status` lists them):",
            rows.len()
        );
        for r in &rows {
            text.push_str(&format!(
                "\n\nAlert {} ({}): {}",
                r.try_get::<i64, _>(0)?,
                r.try_get::<String, _>(1)?,
                r.try_get::<String, _>(2)?
            ));
        }
        sqlx::query("UPDATE outbox SET hold_reason = $1 WHERE id = $2 AND status = 'queued'")
            .bind(&text)
            .bind(digest)
            .execute(self.store.pool())
            .await?;
        Ok(folded)
    }

    async fn fail_or_expire(
        &self,
        school: &SchoolRuntime,
        row: &OutboxRow,
        error: &str,
        expire: bool,
        summary: &mut DeliverySummary,
    ) -> Result<()> {
        let status = if expire { "expired" } else { "failed" };
        sqlx::query(
            "UPDATE outbox SET status = $1, last_error = $2, finished_at = $3,
                    lease_owner = NULL, lease_until = NULL, next_attempt_at = NULL
             WHERE id = $4 AND lease_owner = $5 AND status = 'sending'",
        )
        .bind(status)
        .bind(error)
        .bind(instant_text(self.clock.now()))
        .bind(row.id)
        .bind(&self.owner)
        .execute(self.store.pool())
        .await?;
        let detail = if expire {
            format!("not sent: the next attempt would be after its time to live ({error})")
        } else {
            format!("gave up after attempt {}: {error}", row.attempts)
        };
        self.event(row.id, status, &detail).await?;
        if expire {
            summary.expired += 1;
        } else {
            summary.failed += 1;
        }
        if !row.is_alert() {
            let about = if row.recipient_role == "la"
                || !Audience::of(&row.recipient_role).eq(&Audience::Family)
            {
                row.recipient_role.clone()
            } else {
                "a family".to_owned()
            };
            let text = format!(
                "Message {} ({} to {about}, template {}) was {status}: {detail}. \
                 See it with `rollcall status`; the pupils it concerns are listed there.",
                row.id, row.channel, row.template
            );
            crate::delivery::outbox::queue_alert(
                &self.store,
                school.id,
                &format!("{status}-{}", row.id),
                &text,
                self.now_local(school),
            )
            .await?;
        }
        Ok(())
    }

    async fn expires_at(&self, id: i64) -> Result<Option<NaiveDateTime>> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT expires_at FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_one(self.store.pool())
                .await?;
        Ok(text.and_then(|t| NaiveDateTime::parse_from_str(&t, LOCAL).ok()))
    }

    /// Exponential backoff with jitter: base × 2^(attempt−1), capped, then a random point in
    /// its upper half so a burst of failures does not retry in lockstep. Seeded by row and
    /// attempt, so a retry time can be reproduced.
    fn backoff(&self, id: i64, attempt: i64) -> Duration {
        let base = self.settings.retry_base_seconds.max(1);
        let exp = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(20);
        let full = base
            .saturating_mul(1u64 << exp)
            .min(self.settings.retry_cap_seconds.max(base));
        let seed = (id as u64)
            .wrapping_mul(1_000_003)
            .wrapping_add(attempt as u64);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let secs = rng.random_range(full / 2..=full);
        Duration::seconds(secs as i64)
    }

    async fn event(&self, id: i64, event: &str, detail: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO outbox_events (outbox_id, at, event, actor, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(instant_text(self.clock.now()))
        .bind(event)
        .bind(&self.owner)
        .bind(detail)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// Rewrites today's call list and task list from every task delivered today.
    pub async fn publish_tasks(&self, school: &SchoolRuntime) -> Result<PathBuf> {
        let today = self.now_local(school).date();
        crate::delivery::tasks::publish(
            &self.store,
            school,
            &self.channels.sink,
            today,
            self.now_local(school),
        )
        .await
    }

    /// The day's letters in one PDF for the office to print.
    pub fn batch_letters(
        &self,
        school: &SchoolRuntime,
        date: NaiveDate,
    ) -> Result<Option<PathBuf>> {
        crate::delivery::tasks::batch_letters(school, &self.channels.sink, date)
    }
}

/// A file written or a task listed has arrived where it is going; a provider's acceptance is
/// only "sent" until the provider reports delivery.
fn final_status(channel: &str, mode: DeliveryMode) -> &'static str {
    match (channel, mode) {
        ("task", _) | (_, DeliveryMode::File) => "delivered",
        _ => "sent",
    }
}

fn parse_channel(text: &str) -> Result<Channel, String> {
    Ok(match text {
        "email" => Channel::Email,
        "sms" => Channel::Sms,
        "letter" => Channel::Letter,
        "task" => Channel::Task,
        "la_return" => Channel::LaReturn,
        other => return Err(format!("unknown channel \"{other}\"")),
    })
}

/// A fallback text of an alert is cut to this many characters (two SMS segments).
const FALLBACK_TEXT_CHARS: usize = 300;

fn is_fallback(row: &OutboxRow) -> bool {
    row.key.ends_with("/fallback")
}

/// `text` cut to at most `max` characters, ending with `tail` when cut.
fn shorten(text: &str, max: usize, tail: &str) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let keep = max.saturating_sub(tail.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic in one message's task is that message's outcome, known by its key; the
    /// others finish and are reported as usual.
    #[tokio::test]
    async fn one_panicking_task_is_reported_by_its_key_and_the_rest_finish() {
        let mut running: Isolated<&str, u32> = Isolated::default();
        running.spawn("first", async { 1 });
        running.spawn("broken", async {
            if std::hint::black_box(true) {
                panic!("cannot build this message");
            }
            2
        });
        running.spawn("third", async { 3 });
        let mut seen = Vec::new();
        while let Some((key, result)) = running.join_next().await {
            seen.push((key, result));
        }
        seen.sort_by_key(|(key, _)| *key);
        assert_eq!(
            seen,
            vec![
                ("broken", Err(Panicked)),
                ("first", Ok(1)),
                ("third", Ok(3))
            ]
        );
        assert!(running.is_empty());
    }
}
