//! GOV.UK Notify (texts and letters), kept apart from Twilio's different API.

use std::fmt;
use std::num::NonZeroU32;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use super::http::{
    SmsConfigError, build_client, create_error, default_timeout, deserialize_seconds, error_chain,
    invalid, retry_after, snippet, transport_error,
};
use crate::delivery::channel::{Outgoing, SendError, Sent};
use crate::register::phone::parse_uk_mobile;

// ---------------------------------------------------------------------------------------------
// GOV.UK Notify
// ---------------------------------------------------------------------------------------------

pub(super) fn default_notify_base_url() -> String {
    "https://api.notifications.service.gov.uk".into()
}

pub(super) fn default_requests_per_minute() -> u32 {
    3000
}

/// GOV.UK Notify settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    #[serde(default = "default_notify_base_url")]
    pub base_url: String,
    /// `{key_name}-{service_id}-{secret}` as shown once on Notify's API integration page.
    pub api_key: String,
    /// A template whose whole content is `((body))`: rollcall renders the text itself.
    pub sms_template_id: String,
    /// Whether this service may send precompiled letters (it costs money per letter and needs
    /// a live key, so it is off unless asked for).
    #[serde(default)]
    pub letter: bool,
    /// Notify allows 3,000 requests per minute per key; a second rollcall process on the same
    /// key must be given a share of that.
    #[serde(default = "default_requests_per_minute")]
    pub requests_per_minute: u32,
    /// In seconds in configuration files.
    #[serde(default = "default_timeout", deserialize_with = "deserialize_seconds")]
    pub timeout: Duration,
}

impl NotifyConfig {
    pub fn new(api_key: impl Into<String>, sms_template_id: impl Into<String>) -> Self {
        NotifyConfig {
            base_url: default_notify_base_url(),
            api_key: api_key.into(),
            sms_template_id: sms_template_id.into(),
            letter: false,
            requests_per_minute: default_requests_per_minute(),
            timeout: default_timeout(),
        }
    }
}

impl fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("sms_template_id", &self.sms_template_id)
            .field("letter", &self.letter)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The reference Notify stores with a message, so an ambiguous attempt can be found again.
/// Unique per attempt (a retry after a definite failure must not be mistaken for the earlier
/// one) and free of personal data, as Notify requires.
pub fn reference(msg: &Outgoing) -> String {
    format!("rollcall-{}-{}-{}", msg.school, msg.outbox_id, msg.attempt)
}

pub(super) fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Splits a Notify API key into (service id, secret). Errors say what is wrong with the shape
/// and never echo any part of the key.
pub(super) fn split_api_key(key: &str) -> Result<(String, String), SmsConfigError> {
    let bad = |why: &str| SmsConfigError::NotifyApiKey(why.to_owned());
    const MIN: usize = 1 + 1 + 36 + 1 + 36;
    if key.is_empty() {
        return Err(bad(
            "is empty: copy the key from Notify's API integration page",
        ));
    }
    if !key.is_ascii() || key.len() < MIN {
        return Err(SmsConfigError::NotifyApiKey(format!(
            "is {} characters long; a Notify key is `{{key name}}-{{service id}}-{{secret key}}`, \
             at least {MIN} characters: copy the whole key from Notify's API integration page",
            key.chars().count()
        )));
    }
    let secret = &key[key.len() - 36..];
    let service = &key[key.len() - 73..key.len() - 37];
    let dashes_ok =
        key.as_bytes()[key.len() - 37] == b'-' && key.as_bytes()[key.len() - 74] == b'-';
    if !dashes_ok || !is_uuid(service) || !is_uuid(secret) {
        return Err(bad(
            "does not end in two UUIDs (service id and secret key) joined by dashes: copy the \
             whole key from Notify's API integration page",
        ));
    }
    Ok((service.to_owned(), secret.to_owned()))
}

/// GOV.UK Notify, the government's messaging service: free text messages for schools up to an
/// allowance, then a per-message charge.
pub struct Notify {
    client: reqwest::Client,
    base_url: String,
    service_id: String,
    key: EncodingKey,
    sms_template_id: String,
    letter: bool,
    timeout: Duration,
    limiter: DefaultDirectRateLimiter,
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify")
            .field("base_url", &self.base_url)
            .field("service_id", &self.service_id)
            .field("sms_template_id", &self.sms_template_id)
            .field("letter", &self.letter)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
pub(super) struct NotifyClaims<'a> {
    iss: &'a str,
    iat: u64,
}

#[derive(Serialize)]
pub(super) struct NotifySmsRequest<'a> {
    phone_number: &'a str,
    template_id: &'a str,
    personalisation: NotifyPersonalisation<'a>,
    reference: String,
}

#[derive(Serialize)]
pub(super) struct NotifyPersonalisation<'a> {
    body: &'a str,
}

#[derive(Serialize)]
pub(super) struct NotifyLetterRequest<'a> {
    reference: String,
    content: String,
    postage: &'a str,
}

#[derive(Deserialize)]
pub(super) struct NotifyCreated {
    id: String,
}

#[derive(Deserialize)]
pub(super) struct NotifyList {
    #[serde(default)]
    notifications: Vec<NotifyListed>,
}

#[derive(Deserialize)]
pub(super) struct NotifyListed {
    id: String,
    #[serde(default)]
    reference: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct NotifyErrors {
    errors: Vec<NotifyErrorItem>,
}

#[derive(Deserialize)]
pub(super) struct NotifyErrorItem {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: String,
}

/// Notify's own explanation (`{"errors":[{"error","message"}]}`; a 500 may send the bare
/// array), which is what the office needs to fix a contact or the template.
pub(super) fn notify_error_text(body: &[u8]) -> String {
    let items = serde_json::from_slice::<NotifyErrors>(body)
        .map(|e| e.errors)
        .or_else(|_| serde_json::from_slice::<Vec<NotifyErrorItem>>(body));
    match items {
        Ok(items) if !items.is_empty() => items
            .iter()
            .map(|i| match (i.error.is_empty(), i.message.is_empty()) {
                (false, false) => format!("{}: {}", i.error, i.message),
                (true, _) => i.message.clone(),
                (false, true) => i.error.clone(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => snippet(body),
    }
}

impl Notify {
    pub fn new(config: NotifyConfig) -> Result<Notify, SmsConfigError> {
        let (service_id, secret) = split_api_key(config.api_key.trim())?;
        let template = config.sms_template_id.trim();
        if !is_uuid(template) {
            return Err(invalid(
                "notify.sms_template_id",
                format!(
                    "'{template}' is not a template id: copy the id (like \
                     f33517ff-2a88-4f6e-b855-c550268ce08a) from the template's page in Notify"
                ),
            ));
        }
        let base_url = config.base_url.trim().trim_end_matches('/').to_owned();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(invalid(
                "notify.base_url",
                format!("'{base_url}' is not a web address: it must start with https://"),
            ));
        }
        let per_minute = NonZeroU32::new(config.requests_per_minute)
            .ok_or_else(|| invalid("notify.requests_per_minute", "must be at least 1"))?;
        // One request every 60/N seconds with no burst: Notify counts requests in any 60-second
        // window, and a burst allowance on top of the steady rate could exceed that window.
        let quota = Quota::with_period(Duration::from_secs(60) / per_minute.get())
            .ok_or_else(|| invalid("notify.requests_per_minute", "is too large"))?
            .allow_burst(NonZeroU32::MIN);
        Ok(Notify {
            client: build_client(config.timeout)?,
            base_url,
            service_id,
            key: EncodingKey::from_secret(secret.as_bytes()),
            sms_template_id: template.to_owned(),
            letter: config.letter,
            timeout: config.timeout,
            limiter: RateLimiter::direct(quota),
        })
    }

    /// Notify rejects a token more than 30 seconds old, so each request gets a fresh one, made
    /// after waiting for the rate limiter.
    fn token(&self) -> Result<String, SendError> {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| SendError::Transient("the system clock is before 1970".into()))?
            .as_secs();
        let claims = NotifyClaims {
            iss: &self.service_id,
            iat,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map_err(|e| SendError::Transient(format!("cannot sign the Notify token: {e}")))
    }

    pub async fn send(&self, msg: &Outgoing) -> Result<Sent, SendError> {
        let phone =
            parse_uk_mobile(&msg.address).map_err(|e| SendError::Permanent(e.to_string()))?;
        if msg.text.trim().is_empty() {
            return Err(SendError::Permanent("the text message is empty".into()));
        }
        let body = NotifySmsRequest {
            phone_number: phone.as_str(),
            template_id: &self.sms_template_id,
            personalisation: NotifyPersonalisation { body: &msg.text },
            reference: reference(msg),
        };
        let sent = self.create("/v2/notifications/sms", &body).await?;
        tracing::debug!(
            outbox_id = msg.outbox_id,
            attempt = msg.attempt,
            provider_id = %sent.provider_id,
            "Notify accepted a text message"
        );
        Ok(sent)
    }

    /// Sends the first PDF attachment as a precompiled letter; Notify reads the address from
    /// the PDF itself, so the letter channel must have laid it out in Notify's address window.
    pub async fn send_letter(&self, msg: &Outgoing) -> Result<Sent, SendError> {
        if !self.letter {
            return Err(SendError::Permanent(
                "letters through Notify are turned off (set notify.letter = true)".into(),
            ));
        }
        let pdf = msg
            .attachments
            .iter()
            .find(|a| a.content_type.eq_ignore_ascii_case("application/pdf"))
            .ok_or_else(|| {
                SendError::Permanent(
                    "a Notify letter needs a PDF attachment; none was given".into(),
                )
            })?;
        let body = NotifyLetterRequest {
            reference: reference(msg),
            content: base64(&pdf.bytes),
            postage: "second",
        };
        let sent = self.create("/v2/notifications/letter", &body).await?;
        tracing::debug!(
            outbox_id = msg.outbox_id,
            attempt = msg.attempt,
            provider_id = %sent.provider_id,
            "Notify accepted a letter"
        );
        Ok(sent)
    }

    /// POSTs a new notification and classifies the outcome. A 500 is ambiguous because Notify
    /// may have stored the notification before failing; 502–504 come from in front of Notify
    /// and mean the request never reached it.
    async fn create(&self, path: &str, body: &impl Serialize) -> Result<Sent, SendError> {
        self.limiter.until_ready().await;
        let token = self.token()?;
        let response = self
            .client
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .map_err(|e| transport_error("Notify", e, self.timeout, false))?;
        let status = response.status();
        let retry = retry_after(response.headers());
        let bytes = response.bytes().await;
        if status.is_success() {
            let bytes = bytes.map_err(|e| {
                SendError::Ambiguous(format!(
                    "Notify answered {status} but the answer could not be read: {}",
                    error_chain(&e.without_url())
                ))
            })?;
            return match serde_json::from_slice::<NotifyCreated>(&bytes) {
                Ok(created) if !created.id.is_empty() => Ok(Sent {
                    provider_id: created.id,
                }),
                _ => Err(SendError::Ambiguous(format!(
                    "Notify answered {status} without a notification id: {}",
                    snippet(&bytes)
                ))),
            };
        }
        let why = bytes.map(|b| notify_error_text(&b)).unwrap_or_default();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return Err(SendError::Ambiguous(format!(
                "Notify failed (500) and may have accepted the message: {why}"
            )));
        }
        Err(create_error("Notify", status, retry, why))
    }

    /// Finds the notification sent with `reference`, if Notify has one. Reading changes nothing,
    /// so every failure here is worth retrying.
    pub async fn lookup(&self, reference: &str) -> Result<Option<Sent>, SendError> {
        self.limiter.until_ready().await;
        let token = self.token()?;
        let response = self
            .client
            .get(format!("{}/v2/notifications", self.base_url))
            .query(&[("reference", reference)])
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| transport_error("Notify", e, self.timeout, true))?;
        let status = response.status();
        let retry = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| {
            SendError::Transient(format!(
                "Notify lookup: the answer could not be read: {}",
                error_chain(&e.without_url())
            ))
        })?;
        match status.as_u16() {
            200 => {
                let list: NotifyList = serde_json::from_slice(&bytes).map_err(|e| {
                    SendError::Transient(format!("Notify lookup: unexpected answer: {e}"))
                })?;
                Ok(list
                    .notifications
                    .into_iter()
                    .find(|n| n.reference.as_deref().is_none_or(|r| r == reference))
                    .map(|n| Sent { provider_id: n.id }))
            }
            404 => Ok(None),
            429 => Err(SendError::RateLimited { retry_after: retry }),
            400..=499 => Err(SendError::Permanent(format!(
                "Notify refused the lookup ({}): {}",
                status.as_u16(),
                notify_error_text(&bytes)
            ))),
            _ => Err(SendError::Transient(format!(
                "Notify lookup failed ({}): {}",
                status.as_u16(),
                notify_error_text(&bytes)
            ))),
        }
    }

    /// One page (up to 250, newest first) of the text messages people sent to the service's
    /// receiving number, older than the message `older_than` when given. The body is handed
    /// back unread: it holds parents' words and numbers, which [`crate::reply::notify`] reads
    /// and no error here repeats. Reading changes nothing, so a failure is safe to retry.
    pub async fn received_text_messages(
        &self,
        older_than: Option<&str>,
    ) -> Result<Vec<u8>, SendError> {
        self.limiter.until_ready().await;
        let token = self.token()?;
        let mut request = self
            .client
            .get(format!("{}/v2/received-text-messages", self.base_url))
            .bearer_auth(token);
        if let Some(id) = older_than {
            request = request.query(&[("older_than", id)]);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error("Notify", e, self.timeout, true))?;
        let status = response.status();
        let retry = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| {
            SendError::Transient(format!(
                "Notify's received text messages: the answer could not be read: {}",
                error_chain(&e.without_url())
            ))
        })?;
        match status.as_u16() {
            200 => Ok(bytes.to_vec()),
            403 => Err(SendError::Permanent(format!(
                "Notify refused the API key (403): {}. Check [delivery.notify] api_key: it must \
                 be a key of the service whose number receives the replies, not revoked",
                notify_error_text(&bytes)
            ))),
            429 => Err(SendError::RateLimited { retry_after: retry }),
            400..=499 => Err(SendError::Permanent(format!(
                "Notify refused to list received text messages ({}): {}",
                status.as_u16(),
                notify_error_text(&bytes)
            ))),
            _ => Err(SendError::Transient(format!(
                "Notify failed to list received text messages ({}): {}",
                status.as_u16(),
                notify_error_text(&bytes)
            ))),
        }
    }
}

/// Standard base64 with padding (RFC 4648 §4), as Notify wants the PDF. Small enough to keep
/// here rather than add a dependency.
pub(super) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
