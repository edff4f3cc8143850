//! Parents' replies to texts (issue 16). A reply arrives from the SMS provider (GOV.UK Notify's
//! received text messages, polled by [`notify`]; Twilio's inbound webhook, checked by
//! [`twilio`]), is stored once ([`take`]), matched to the absences it may answer
//! ([`matching`]), and waits in the console for a person: confirming it ([`confirm`]) takes the
//! pupil off the call list, withdraws the messages the absence caused, and puts the reason on
//! the office's list of codes to enter in the MIS ([`mis`]). Nothing is coded automatically: the
//! MIS stays the register of record.
//!
//! Replies are children's data. Their words and numbers are kept in the database and shown in
//! the console; they never reach a log line.

pub mod confirm;
pub mod list;
pub mod matching;
pub mod mis;
pub mod notify;
pub mod twilio;

use std::sync::Arc;

use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Row as _;

use crate::config::RepliesConfig;
use crate::register::store::Store;
use crate::school::SchoolRuntime;

/// Where a reply came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Notify,
    Twilio,
    /// The demo's pretend parents.
    Demo,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Notify => "notify",
            Provider::Twilio => "twilio",
            Provider::Demo => "demo",
        }
    }
}

/// A text as the provider handed it over.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub provider: Provider,
    /// The provider's id of the message (Notify's `id`, Twilio's `MessageSid`).
    pub provider_id: String,
    /// The sender's number as the provider gave it (`447700900123`, `+447700900123`).
    pub from: String,
    /// The school's receiving number.
    pub to: String,
    pub body: String,
    pub received_at: DateTime<Utc>,
}

/// What [`take`] did with a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Stored now, with this id.
    New(i64),
    /// Already stored (polled again, or by another daemon, or posted twice).
    Known,
}

/// The sender's number in the E.164 form contacts are stored in, when it reads as a UK mobile;
/// otherwise as given, so a reply from abroad is still kept (and matches no one).
pub fn normalise_number(from: &str) -> String {
    let cleaned = from.replace('\0', "");
    let trimmed = cleaned.trim();
    let digits: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    // Notify gives `447700900123`, without the plus.
    let candidate = if digits.starts_with("44") && !digits.starts_with('+') {
        format!("+{digits}")
    } else {
        digits
    };
    crate::register::phone::parse_uk_mobile(&candidate)
        .map(|n| n.as_str().to_owned())
        .unwrap_or_else(|_| trimmed.to_owned())
}

/// Stores a reply once, however often it is offered, then matches it to the pupils it may be
/// about and, when the school asks for it, queues the acknowledgement. Safe to call from
/// several daemons at once: the provider's id is the claim.
pub async fn take(
    store: &Store,
    schools: &[Arc<SchoolRuntime>],
    settings: &RepliesConfig,
    incoming: &Incoming,
    now: DateTime<Utc>,
) -> Result<Taken> {
    // A NUL cannot be stored in PostgreSQL text: one in a reply would stop every later read.
    let body = incoming.body.replace('\0', "");
    let number = normalise_number(&incoming.from);
    // What it matched is worked out first and stored with the reply in one transaction, so a
    // reply is never kept without its candidates (a restart in between would leave it
    // unmatched for good, since the next read finds it already stored).
    let found = matching::find(store, schools, settings, &number, incoming.received_at).await?;
    let mut tx = store.pool().begin().await?;
    let row = sqlx::query(
        "INSERT INTO replies (provider, provider_id, from_number, to_number, body, received_at,
                              stored_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (provider, provider_id) DO NOTHING RETURNING id",
    )
    .bind(incoming.provider.as_str())
    .bind(incoming.provider_id.replace('\0', ""))
    .bind(&number)
    .bind(incoming.to.trim().replace('\0', ""))
    .bind(&body)
    .bind(
        incoming
            .received_at
            .to_rfc3339_opts(SecondsFormat::Secs, true),
    )
    .bind(now.to_rfc3339_opts(SecondsFormat::Secs, true))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(Taken::Known);
    };
    let id: i64 = row.try_get("id")?;
    matching::store_candidates(&mut tx, id, &found).await?;
    tx.commit().await?;
    if settings.acknowledge {
        confirm::queue_acknowledgement(store, schools, id, now).await?;
    }
    tracing::info!(
        reply = id,
        provider = incoming.provider.as_str(),
        "reply received"
    );
    Ok(Taken::New(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_contacts_are_stored() {
        assert_eq!(normalise_number("447700900123"), "+447700900123");
        assert_eq!(normalise_number("+44 7700 900123"), "+447700900123");
        assert_eq!(normalise_number("07700900123"), "+447700900123");
        // Not a UK mobile: kept as given, matches no contact.
        assert_eq!(normalise_number("+12025550123"), "+12025550123");
    }
}
