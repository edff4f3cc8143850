//! Channels: the edge where a rendered message leaves rollcall. Each channel takes an
//! [`Outgoing`] message and reports [`Sent`] or a [`SendError`] that tells the outbox what to
//! do next (retry later, give up, slow down, or ask the provider before retrying).
//!
//! Channels do no scheduling and keep no state of their own: attempts, leases and retries
//! live in the outbox (`crate::delivery`), so a crash between two lines here loses nothing.

use std::time::Duration;

/// A message rendered and ready to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The outbox row: stable across attempts (an email's Message-ID is built from it).
    pub outbox_id: i64,
    /// 1 for the first attempt; with the outbox id it makes each attempt's provider
    /// reference unique without any personal data in it.
    pub attempt: u32,
    /// The school's short id (config `id`), used in references and Message-IDs.
    pub school: String,
    /// Who it is for, as a person would write it on an envelope ("Anne Lovelace").
    pub to_name: String,
    /// Email address, mobile number as given, or postal address lines joined by ", ".
    pub address: String,
    pub subject: String,
    /// Plain text body (the whole SMS for a text message).
    pub text: String,
    /// HTML alternative for email.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    /// MIME type, e.g. `application/pdf`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What a provider said when it accepted a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id for the message (Notify notification id, Twilio SID, SMTP queue id
    /// or our Message-ID, a file path for the file sink).
    pub provider_id: String,
}

/// Why a send did not succeed, classified by what the outbox should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (connection refused, 5xx, SMTP 4xx).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Will never work as it is (invalid number, 400 validation error, SMTP 5xx, bad address).
    #[error("rejected: {0}")]
    Permanent(String),
    /// The provider asked us to slow down (HTTP 429), possibly saying for how long.
    #[error("rate limited by the provider")]
    RateLimited { retry_after: Option<Duration> },
    /// The request may or may not have been accepted (timeout after sending the request):
    /// ask the provider before sending again.
    #[error("no answer from the provider: {0}")]
    Ambiguous(String),
}

pub mod call_list;

pub use live::Live;
pub mod email;
pub mod file;
pub mod letter;
pub mod live;
pub mod sms;
