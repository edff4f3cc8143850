//! Twilio (texts only), kept apart from Notify's different API.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::http::{
    SmsConfigError, build_client, create_error, default_timeout, deserialize_seconds, error_chain,
    invalid, retry_after, snippet, transport_error,
};
use crate::delivery::channel::{Outgoing, SendError, Sent};
use crate::register::phone::parse_uk_mobile;

// ---------------------------------------------------------------------------------------------
// Twilio
// ---------------------------------------------------------------------------------------------

pub(super) fn default_twilio_base_url() -> String {
    "https://api.twilio.com".into()
}

/// Twilio settings. Exactly one of `from` and `messaging_service_sid` says who the text comes
/// from.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    #[serde(default = "default_twilio_base_url")]
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    /// A Twilio number in E.164 or an alphanumeric sender id ("OAKPRIMARY").
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// In seconds in configuration files.
    #[serde(default = "default_timeout", deserialize_with = "deserialize_seconds")]
    pub timeout: Duration,
}

impl TwilioConfig {
    pub fn new(account_sid: impl Into<String>, auth_token: impl Into<String>) -> Self {
        TwilioConfig {
            base_url: default_twilio_base_url(),
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            from: None,
            messaging_service_sid: None,
            timeout: default_timeout(),
        }
    }
}

impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("from", &self.from)
            .field("messaging_service_sid", &self.messaging_service_sid)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub(super) enum TwilioSender {
    From(String),
    MessagingService(String),
}

/// Twilio Programmable Messaging, for schools that already have an account.
pub struct Twilio {
    client: reqwest::Client,
    base_url: String,
    account_sid: String,
    auth_token: String,
    sender: TwilioSender,
    timeout: Duration,
}

impl fmt::Debug for Twilio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Twilio")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("sender", &self.sender)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `^{prefix}[0-9a-fA-F]{32}$`, the shape of Twilio SIDs in the API description.
pub(super) fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34
        && s.starts_with(prefix)
        && s[prefix.len()..].chars().all(|c| c.is_ascii_hexdigit())
}

#[derive(Deserialize)]
pub(super) struct TwilioMessage {
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    date_created: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct TwilioList {
    #[serde(default)]
    messages: Vec<TwilioMessage>,
    #[serde(default)]
    next_page_uri: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct TwilioError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

/// Twilio's error `code` and `message`; the code is what Twilio's error dictionary is indexed
/// by (21211 invalid number, 21610 unsubscribed recipient, …).
pub(super) fn twilio_error_text(body: &[u8]) -> String {
    match serde_json::from_slice::<TwilioError>(body) {
        Ok(TwilioError {
            code: Some(code),
            message: Some(message),
        }) => format!("error {code}: {message}"),
        Ok(TwilioError {
            code: None,
            message: Some(message),
        }) => message,
        Ok(TwilioError {
            code: Some(code),
            message: None,
        }) => format!("error {code}"),
        _ => snippet(body),
    }
}

/// How many list pages a lookup reads before giving up (100 messages a page).
pub(super) const TWILIO_LOOKUP_PAGES: usize = 10;

/// How far back [`SmsProvider::lookup`] looks for a Twilio message. Twilio has no client
/// reference, so a lookup matches on number and body; a short window keeps yesterday's
/// identical message ("… was absent this morning") from passing for today's.
pub const TWILIO_LOOKUP_WINDOW: Duration = Duration::from_secs(60 * 60);

/// Twilio's dates are RFC 2822 ("Thu, 24 Aug 2023 05:01:45 +0000").
pub(super) fn twilio_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

impl Twilio {
    pub fn new(config: TwilioConfig) -> Result<Twilio, SmsConfigError> {
        let account_sid = config.account_sid.trim().to_owned();
        if !is_sid(&account_sid, "AC") {
            return Err(invalid(
                "twilio.account_sid",
                format!(
                    "'{account_sid}' is not an account SID: it is AC followed by 32 hex digits, \
                     shown on the Twilio console's account page"
                ),
            ));
        }
        let auth_token = config.auth_token.trim().to_owned();
        if auth_token.is_empty() {
            return Err(invalid("twilio.auth_token", "is empty"));
        }
        let from = config
            .from
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty());
        let service = config
            .messaging_service_sid
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let sender = match (from, service) {
            (Some(from), None) => TwilioSender::From(from),
            (None, Some(sid)) if is_sid(&sid, "MG") => TwilioSender::MessagingService(sid),
            (None, Some(sid)) => {
                return Err(invalid(
                    "twilio.messaging_service_sid",
                    format!(
                        "'{sid}' is not a messaging service SID: it is MG followed by 32 hex digits"
                    ),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "twilio.from",
                    "give either from or messaging_service_sid, not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "twilio.from",
                    "give either from (a Twilio number or sender id) or messaging_service_sid",
                ));
            }
        };
        let base_url = config.base_url.trim().trim_end_matches('/').to_owned();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(invalid(
                "twilio.base_url",
                format!("'{base_url}' is not a web address: it must start with https://"),
            ));
        }
        Ok(Twilio {
            client: build_client(config.timeout)?,
            base_url,
            account_sid,
            auth_token,
            sender,
            timeout: config.timeout,
        })
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base_url, self.account_sid
        )
    }

    pub async fn send(&self, msg: &Outgoing) -> Result<Sent, SendError> {
        let phone =
            parse_uk_mobile(&msg.address).map_err(|e| SendError::Permanent(e.to_string()))?;
        if msg.text.trim().is_empty() {
            return Err(SendError::Permanent("the text message is empty".into()));
        }
        let mut form = vec![("To", phone.as_str()), ("Body", msg.text.as_str())];
        match &self.sender {
            TwilioSender::From(from) => form.push(("From", from.as_str())),
            TwilioSender::MessagingService(sid) => form.push(("MessagingServiceSid", sid.as_str())),
        }
        let response = self
            .client
            .post(self.messages_url())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| transport_error("Twilio", e, self.timeout, false))?;
        let status = response.status();
        let retry = retry_after(response.headers());
        let bytes = response.bytes().await;
        if status.is_success() {
            let bytes = bytes.map_err(|e| {
                SendError::Ambiguous(format!(
                    "Twilio answered {status} but the answer could not be read: {}",
                    error_chain(&e.without_url())
                ))
            })?;
            return match serde_json::from_slice::<TwilioMessage>(&bytes) {
                Ok(TwilioMessage { sid: Some(sid), .. }) if !sid.is_empty() => {
                    tracing::debug!(
                        outbox_id = msg.outbox_id,
                        attempt = msg.attempt,
                        provider_id = %sid,
                        "Twilio accepted a text message"
                    );
                    Ok(Sent { provider_id: sid })
                }
                _ => Err(SendError::Ambiguous(format!(
                    "Twilio answered {status} without a message SID"
                ))),
            };
        }
        let why = bytes.map(|b| twilio_error_text(&b)).unwrap_or_default();
        Err(create_error("Twilio", status, retry, why))
    }

    /// Finds an earlier attempt of `msg` sent since `since`.
    ///
    /// Twilio keeps no client reference, so this lists messages to the same number sent on or
    /// after `since`'s date (`DateSent>`, a day filter) and takes an outbound one created at or
    /// after `since` whose body equals ours. Two caveats follow from that choice: a message
    /// still queued has no send date and may not be listed yet, so a lookup straight after a
    /// timeout can miss it (the outbox then sends again, a duplicate rather than a lost text);
    /// and a body identical to an earlier text to the same number inside the window would be
    /// taken for this one, which is why callers should pass the time of the ambiguous attempt.
    pub async fn lookup(
        &self,
        msg: &Outgoing,
        since: DateTime<Utc>,
    ) -> Result<Option<Sent>, SendError> {
        let phone =
            parse_uk_mobile(&msg.address).map_err(|e| SendError::Permanent(e.to_string()))?;
        let date = since.format("%Y-%m-%d").to_string();
        // Twilio's clock and ours may disagree by a little, and its dates are whole seconds.
        let slack = chrono::TimeDelta::seconds(120);
        let mut request = self.client.get(self.messages_url()).query(&[
            ("To", phone.as_str()),
            ("DateSent>", date.as_str()),
            ("PageSize", "100"),
        ]);
        for _ in 0..TWILIO_LOOKUP_PAGES {
            let response = request
                .basic_auth(&self.account_sid, Some(&self.auth_token))
                .send()
                .await
                .map_err(|e| transport_error("Twilio", e, self.timeout, true))?;
            let status = response.status();
            let retry = retry_after(response.headers());
            let bytes = response.bytes().await.map_err(|e| {
                SendError::Transient(format!(
                    "Twilio lookup: the answer could not be read: {}",
                    error_chain(&e.without_url())
                ))
            })?;
            match status.as_u16() {
                200 => {}
                429 => return Err(SendError::RateLimited { retry_after: retry }),
                400..=499 => {
                    return Err(SendError::Permanent(format!(
                        "Twilio refused the lookup ({}): {}",
                        status.as_u16(),
                        twilio_error_text(&bytes)
                    )));
                }
                code => {
                    return Err(SendError::Transient(format!(
                        "Twilio lookup failed ({code}): {}",
                        twilio_error_text(&bytes)
                    )));
                }
            }
            let list: TwilioList = serde_json::from_slice(&bytes).map_err(|e| {
                SendError::Transient(format!("Twilio lookup: unexpected answer: {e}"))
            })?;
            let found = list.messages.into_iter().find(|m| {
                m.body.as_deref() == Some(msg.text.as_str())
                    && m.direction
                        .as_deref()
                        .is_some_and(|d| d.starts_with("outbound"))
                    && m.date_created
                        .as_deref()
                        .and_then(twilio_date)
                        .is_some_and(|created| created + slack >= since)
            });
            if let Some(TwilioMessage { sid: Some(sid), .. }) = found {
                return Ok(Some(Sent { provider_id: sid }));
            }
            match list.next_page_uri {
                Some(next) if next.starts_with('/') => {
                    request = self.client.get(format!("{}{next}", self.base_url));
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }
}
