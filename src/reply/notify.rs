//! GOV.UK Notify's received text messages (`GET /v2/received-text-messages`), polled.
//!
//! Notify lists what people texted to the service's number newest first, 250 a page, and the
//! next page is asked for with `older_than` = the last message of this one. A *walk* reads
//! from the newest page down until it meets the newest message of the last walk that finished
//! (`reply_polls.walked_through`), or the list ends. Every message met is offered to
//! [`super::take`], which stores it once however often it is offered. Only a walk that
//! finishes moves the marker, to the newest message it saw on its first page: a walk cut short
//! (a restart mid-page, an HTTP error) leaves it, so the next walk reads down to it again and
//! the messages it had already taken come back as [`Taken::Known`].
//!
//! Notify keeps received messages for 7 days. A daemon that does not poll for longer loses
//! whatever arrived before the oldest message still listed; the walk says so in the log
//! (without words or numbers) when it cannot find its marker and the marker is that old.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow, bail};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Incoming, Provider, Taken, take};
use crate::config::RepliesConfig;
use crate::delivery::channel::sms::Notify;
use crate::register::store::Store;
use crate::schedule::Clock;
use crate::school::SchoolRuntime;

/// How long Notify keeps a received text message.
pub const KEPT_DAYS: i64 = 7;

/// `reply_polls.provider` for Notify.
const PROVIDER: &str = "notify";

/// What one walk did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct PollSummary {
    /// Pages asked for and read.
    pub pages: usize,
    /// Replies stored by this walk.
    pub new: usize,
    /// Replies met that were already stored (a walk cut short, another daemon's walk).
    pub known: usize,
    /// The walk reached its end (the last walk's newest message, or the end of the list) and
    /// moved the marker; false when it was stopped (the daemon shutting down).
    pub finished: bool,
    /// The newest message of the last finished walk was no longer in Notify's list and had
    /// been received more than 7 days ago: replies received between it and the oldest still
    /// listed may have been lost.
    pub gap: bool,
}

impl PollSummary {
    /// One line for a person: `rollcall replies poll` prints it.
    pub fn line(&self) -> String {
        let mut text = format!(
            "GOV.UK Notify: {} page{} read, {} new repl{}, {} already stored",
            self.pages,
            if self.pages == 1 { "" } else { "s" },
            self.new,
            if self.new == 1 { "y" } else { "ies" },
            self.known
        );
        if !self.finished {
            text.push_str("; stopped before the end (the next poll reads on)");
        }
        if self.gap {
            text.push_str(&format!(
                "; rollcall had not read Notify's list for over {KEPT_DAYS} days, and Notify keeps \
                 replies for {KEPT_DAYS} days: replies older than the oldest listed are lost"
            ));
        }
        text
    }
}

/// One received text message as Notify lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub notify_number: String,
    pub user_number: String,
    pub content: String,
}

/// One page of Notify's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Newest first.
    pub messages: Vec<Received>,
    /// Notify gave a `links.next`: there may be older messages.
    pub next: bool,
}

/// Reads a page (`GetReceivedTextMessagesResponse`). A field that is missing or of the wrong
/// type is named in the error; its value never is (it may be a parent's words or number).
pub fn parse_page(body: &[u8]) -> Result<Page> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        anyhow!(
            "Notify's received text messages: the answer is not JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let list = value
        .get("received_text_messages")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            anyhow!(
                "Notify's received text messages: `received_text_messages` is missing or not a list"
            )
        })?;
    let mut messages = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let field = |name: &str| -> Result<String> {
            item.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    anyhow!(
                        "Notify's received text messages: `received_text_messages[{i}].{name}` \
                         is missing or not a string"
                    )
                })
        };
        let id = field("id")?;
        if id.trim().is_empty() {
            bail!("Notify's received text messages: `received_text_messages[{i}].id` is empty");
        }
        let created_at = parse_created_at(&field("created_at")?).ok_or_else(|| {
            anyhow!(
                "Notify's received text messages: `received_text_messages[{i}].created_at` is \
                 not a date and time (like 2024-12-12 18:39:16.123346)"
            )
        })?;
        messages.push(Received {
            id,
            created_at,
            notify_number: field("notify_number")?,
            user_number: field("user_number")?,
            content: field("content")?,
        });
    }
    let next = value
        .get("links")
        .and_then(|l| l.get("next"))
        .and_then(Value::as_str)
        .is_some_and(|n| !n.trim().is_empty());
    Ok(Page { messages, next })
}

/// Notify's `created_at`: `2024-12-12 18:39:16.123346` (UTC, as its API gives every time), or
/// RFC 3339.
pub fn parse_created_at(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc())
}

/// The newest message of the last walk that finished, if any walk has.
async fn marker(store: &Store) -> Result<Option<String>> {
    let row: Option<Option<String>> =
        sqlx::query_scalar("SELECT walked_through FROM reply_polls WHERE provider = $1")
            .bind(PROVIDER)
            .fetch_optional(store.pool())
            .await?;
    Ok(row.flatten())
}

/// When the marker's message was received (it was stored when taken), or, failing that, when
/// its walk finished.
async fn marker_received(store: &Store, marker: &str) -> Result<Option<DateTime<Utc>>> {
    let received: Option<String> = sqlx::query_scalar(
        "SELECT received_at FROM replies WHERE provider = $1 AND provider_id = $2",
    )
    .bind(PROVIDER)
    .bind(marker)
    .fetch_optional(store.pool())
    .await?;
    let walked: Option<String> =
        sqlx::query_scalar("SELECT walked_at FROM reply_polls WHERE provider = $1")
            .bind(PROVIDER)
            .fetch_optional(store.pool())
            .await?;
    Ok(received
        .or(walked)
        .as_deref()
        .and_then(crate::daemon::parse_instant))
}

/// Moves the marker to `newest` (kept as it was when Notify listed nothing at all).
async fn finish(store: &Store, newest: Option<&str>, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO reply_polls (provider, walked_through, walked_at) VALUES ($1, $2, $3)
         ON CONFLICT (provider) DO UPDATE
            SET walked_through = COALESCE(excluded.walked_through, reply_polls.walked_through),
                walked_at = excluded.walked_at",
    )
    .bind(PROVIDER)
    .bind(newest.map(str::to_owned))
    .bind(now.to_rfc3339_opts(SecondsFormat::Secs, true))
    .execute(store.pool())
    .await?;
    Ok(())
}

/// One walk of Notify's list: every message newer than the last finished walk's newest is
/// offered to [`take`]. Stops between messages when `stop` is cancelled (then the marker is
/// left for the next walk). An HTTP error or a malformed page ends the walk with an error and
/// also leaves the marker.
pub async fn poll(
    store: &Store,
    schools: &[Arc<SchoolRuntime>],
    settings: &RepliesConfig,
    notify: &Notify,
    clock: &Clock,
    stop: &CancellationToken,
) -> Result<PollSummary> {
    let marker = marker(store).await?;
    let mut summary = PollSummary::default();
    let mut newest: Option<String> = None;
    let mut older_than: Option<String> = None;
    let mut seen: HashSet<String> = HashSet::new();
    let mut reached = false;
    loop {
        if stop.is_cancelled() {
            return Ok(summary);
        }
        let page = notify
            .received_text_messages(older_than.as_deref())
            .await
            .map_err(|e| anyhow!("{e}"))
            .and_then(|body| parse_page(&body))
            .with_context(|| format!("reading page {} of Notify's replies", summary.pages + 1))?;
        summary.pages += 1;
        if newest.is_none() {
            newest = page.messages.first().map(|m| m.id.clone());
        }
        for message in &page.messages {
            if marker.as_deref() == Some(message.id.as_str()) {
                reached = true;
                break;
            }
            if !seen.insert(message.id.clone()) {
                // Notify listed a message twice in one walk: following its paging further
                // could go round for ever.
                bail!(
                    "Notify listed received message {} twice in one walk (page {}): its paging \
                     did not move on; the next poll starts again from the newest",
                    message.id,
                    summary.pages
                );
            }
            if stop.is_cancelled() {
                return Ok(summary);
            }
            let incoming = Incoming {
                provider: Provider::Notify,
                provider_id: message.id.clone(),
                from: message.user_number.clone(),
                to: message.notify_number.clone(),
                body: message.content.clone(),
                received_at: message.created_at,
            };
            match take(store, schools, settings, &incoming, clock.now()).await? {
                Taken::New(_) => summary.new += 1,
                Taken::Known => summary.known += 1,
            }
        }
        if reached || !page.next || page.messages.is_empty() {
            break;
        }
        older_than = page.messages.last().map(|m| m.id.clone());
    }
    let now = clock.now();
    if !reached && let Some(marker) = &marker {
        match marker_received(store, marker).await? {
            Some(at) if now - at > TimeDelta::days(KEPT_DAYS) => {
                summary.gap = true;
                tracing::warn!(
                    last_read_received_at = %at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    kept_days = KEPT_DAYS,
                    "replies through GOV.UK Notify: the last message read has gone from Notify's \
                     list (it keeps them {KEPT_DAYS} days); replies received between it and the \
                     oldest still listed were not read and are lost"
                );
            }
            _ => tracing::warn!(
                "replies through GOV.UK Notify: the last message read was not in Notify's list \
                 although it should still be kept; every listed message was taken"
            ),
        }
    }
    finish(store, newest.as_deref(), now).await?;
    summary.finished = true;
    tracing::info!(
        pages = summary.pages,
        new = summary.new,
        known = summary.known,
        "replies read from GOV.UK Notify"
    );
    Ok(summary)
}

/// `rollcall replies poll`: one walk, now, and its summary on standard output. Refuses, with
/// what to set, when replies are not read from Notify.
pub async fn poll_command(config: crate::config::Config) -> Result<()> {
    use crate::config::DeliveryMode;
    use crate::delivery::channel::live::SmsChoice;
    if !config.replies.enabled {
        bail!(
            "replies are not enabled: set [replies] enabled = true to read parents' replies to \
             texts"
        );
    }
    if config.delivery.live.sms != Some(SmsChoice::Notify) || config.delivery.live.notify.is_none()
    {
        bail!(
            "GOV.UK Notify is not configured: replies are polled from Notify only with \
             [delivery] sms = \"notify\" and a [delivery.notify] table (with Twilio, replies \
             arrive at the console's {})",
            super::twilio::WEBHOOK_PATH
        );
    }
    if config.delivery.mode != DeliveryMode::Live {
        bail!(
            "delivery.mode is \"file\": nothing is sent, so there are no replies to read; set \
             [delivery] mode = \"live\""
        );
    }
    let daemon = crate::daemon::Daemon::build(config, Clock::System).await?;
    let summary = daemon
        .poll_replies(&CancellationToken::new())
        .await?
        .context("replies are not read from GOV.UK Notify with this configuration")?;
    crate::output::say!("{}", summary.line())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifys_own_example_page_reads() {
        // The example of GetReceivedTextMessagesResponse in Notify's published schema.
        let body = br#"{
            "received_text_messages": [{
                "id": "b51f638b-4295-46e0-a06e-cd41eee7c33b",
                "created_at": "2024-12-12 18:39:16.123346",
                "service_id": "26785a09-ab16-4eb0-8407-a37497a57506",
                "notify_number": "07700900456",
                "user_number": "447700900123",
                "content": "Hi, Please can I book an appointment. Amala"
            }],
            "links": {
                "current": "https://api.notifications.service.gov.uk/v2/received-text-messages",
                "next": "https://api.notifications.service.gov.uk/v2/received-text-messages?older_than=b51f638b-4295-46e0-a06e-cd41eee7c33b"
            }
        }"#;
        let page = parse_page(body).expect("the published example");
        assert!(page.next);
        assert_eq!(page.messages.len(), 1);
        let m = &page.messages[0];
        assert_eq!(m.id, "b51f638b-4295-46e0-a06e-cd41eee7c33b");
        assert_eq!(m.user_number, "447700900123");
        assert_eq!(m.notify_number, "07700900456");
        assert_eq!(
            m.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "2024-12-12T18:39:16.123346Z"
        );
    }

    #[test]
    fn the_last_page_has_no_next_link() {
        let body = br#"{"received_text_messages": [], "links": {"current": "x"}}"#;
        assert_eq!(
            parse_page(body).expect("an empty page"),
            Page {
                messages: vec![],
                next: false
            }
        );
    }

    #[test]
    fn times_are_read_in_notifys_form_and_rfc_3339() {
        let want = "2024-12-12T18:39:16Z";
        for text in [
            "2024-12-12 18:39:16",
            "2024-12-12 18:39:16.000000",
            "2024-12-12T18:39:16.000000Z",
            "2024-12-12T19:39:16+01:00",
        ] {
            let t = parse_created_at(text).unwrap_or_else(|| panic!("{text} is a time"));
            assert_eq!(t.to_rfc3339_opts(SecondsFormat::Secs, true), want, "{text}");
        }
        assert_eq!(parse_created_at("yesterday"), None);
    }

    #[test]
    fn a_malformed_page_names_the_field_and_never_its_value() {
        let missing =
            br#"{"received_text_messages": [{"id": "a", "created_at": "2024-12-12 18:39:16",
            "notify_number": "07700900456", "content": "Ava is ill 07700900999"}], "links": {}}"#;
        let e = format!("{:#}", parse_page(missing).expect_err("no user_number"));
        assert!(e.contains("received_text_messages[0].user_number"), "{e}");
        let wrong =
            br#"{"received_text_messages": [{"id": "a", "created_at": "2024-12-12 18:39:16",
            "notify_number": "07700900456", "user_number": 447700900123,
            "content": "Ava is ill"}]}"#;
        let e = format!(
            "{:#}",
            parse_page(wrong).expect_err("a number, not a string")
        );
        assert!(
            e.contains("user_number") && !e.contains("447700900123"),
            "{e}"
        );
        let time = br#"{"received_text_messages": [{"id": "a", "created_at": "Ava is ill",
            "notify_number": "0", "user_number": "447700900123", "content": "x"}]}"#;
        let e = format!("{:#}", parse_page(time).expect_err("not a time"));
        assert!(e.contains("created_at") && !e.contains("Ava"), "{e}");
        let e = format!(
            "{:#}",
            parse_page(b"{\"errors\": []}").expect_err("no list")
        );
        assert!(e.contains("received_text_messages"), "{e}");
        let e = format!(
            "{:#}",
            parse_page(b"<html>Ava</html>").expect_err("not JSON")
        );
        assert!(e.contains("not JSON") && !e.contains("Ava"), "{e}");
    }
}
