//! HTTP plumbing both providers share, so errors and retries read the same for either.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::{Deserialize, Deserializer};

use crate::delivery::channel::SendError;

// ---------------------------------------------------------------------------------------------
// Shared HTTP plumbing
// ---------------------------------------------------------------------------------------------

/// reqwest is built without a default rustls crypto provider (so the crate picks one, ring,
/// in one place); building a client without one installed panics.
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Why a provider could not be set up from its configuration. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsConfigError {
    #[error("notify.api_key: {0}")]
    NotifyApiKey(String),
    #[error("{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

pub(super) fn invalid(field: &'static str, problem: impl Into<String>) -> SmsConfigError {
    SmsConfigError::Invalid {
        field,
        problem: problem.into(),
    }
}

pub(super) fn build_client(timeout: Duration) -> Result<reqwest::Client, SmsConfigError> {
    if timeout.is_zero() {
        return Err(invalid("timeout", "must be more than zero seconds"));
    }
    ensure_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        // A connect failure is reported as such only if it happens before the overall timeout
        // fires; that is what lets a slow connect count as "not sent" rather than "maybe sent".
        .connect_timeout(timeout / 2)
        // Neither API redirects; following one would turn a POST into a GET somewhere else.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("rollcall/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SmsConfigError::Client(error_chain(&e)))
}

pub(super) fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

pub(super) fn deserialize_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
}

/// An error and its causes on one line, without the URL (a Twilio lookup URL carries the
/// phone number).
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Classifies a request that got no HTTP answer. A connect failure means nothing reached the
/// provider; anything later may have been processed, unless the request was a read.
pub(super) fn transport_error(
    provider: &str,
    e: reqwest::Error,
    timeout: Duration,
    read: bool,
) -> SendError {
    let e = e.without_url();
    let detail = error_chain(&e);
    if e.is_builder() {
        SendError::Permanent(format!("{provider}: cannot build the request: {detail}"))
    } else if e.is_connect() {
        SendError::Transient(format!("{provider}: could not connect: {detail}"))
    } else if read {
        SendError::Transient(format!("{provider}: lookup failed: {detail}"))
    } else if e.is_timeout() {
        SendError::Ambiguous(format!(
            "{provider}: no answer within {}s after sending",
            timeout.as_secs_f64()
        ))
    } else {
        SendError::Ambiguous(format!(
            "{provider}: the connection failed after the request was sent: {detail}"
        ))
    }
}

/// `Retry-After` as either delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (when.with_timezone(&Utc) - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// A short, printable excerpt of a body we could not parse.
pub(super) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "no details given".into();
    }
    let mut out: String = text.chars().take(200).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// Status classes both providers share for a request that creates a message.
pub(super) fn create_error(
    provider: &str,
    status: StatusCode,
    retry: Option<Duration>,
    why: String,
) -> SendError {
    let code = status.as_u16();
    match code {
        429 => SendError::RateLimited { retry_after: retry },
        300..=399 => SendError::Permanent(format!(
            "{provider} answered {status} (a redirect): check base_url; {why}"
        )),
        400..=499 => {
            SendError::Permanent(format!("{provider} refused the message ({code}): {why}"))
        }
        _ => SendError::Transient(format!("{provider} failed ({code}): {why}")),
    }
}
