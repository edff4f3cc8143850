//! Text messages: UK mobile numbers, SMS segments, and the GOV.UK Notify and Twilio providers.
//!
//! Both providers map HTTP outcomes onto [`SendError`] by what the outbox should do next. The
//! one that matters most is [`SendError::Ambiguous`]: when a request went out but no clear
//! answer came back, sending again could text a parent twice, so the delivery code first asks
//! the provider (`lookup`) whether the earlier attempt arrived.

use std::fmt;
use std::num::NonZeroU32;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::{Deserialize, Deserializer, Serialize};

use super::{Outgoing, SendError, Sent};
use crate::register::phone::parse_uk_mobile;

// ---------------------------------------------------------------------------------------------
// Segments
// ---------------------------------------------------------------------------------------------

/// The alphabet a text goes out in: one character outside GSM 03.38 turns the whole message
/// into UCS-2, which more than halves what fits in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        })
    }
}

/// How a text will be billed: providers charge per segment, so the office wants to see this
/// before a template goes out to every family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    /// What the network counts: GSM-7 septets (2 for extension characters such as €) or UTF-16
    /// code units for UCS-2 (2 for an emoji).
    pub units: usize,
    pub segments: usize,
}

impl fmt::Display for Segments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.segments == 1 { "" } else { "s" };
        write!(
            f,
            "{} segment{plural} ({}, {} characters)",
            self.segments, self.encoding, self.units
        )
    }
}

/// Septets a character takes in GSM 03.38: the basic set is 1, the extension table is 2 (an
/// escape plus the character), anything else cannot be sent in GSM-7.
fn gsm7_units(c: char) -> Option<usize> {
    match c {
        '@'
        | '£'
        | '$'
        | '¥'
        | 'è'
        | 'é'
        | 'ù'
        | 'ì'
        | 'ò'
        | 'Ç'
        | '\n'
        | 'Ø'
        | 'ø'
        | '\r'
        | 'Å'
        | 'å'
        | 'Δ'
        | '_'
        | 'Φ'
        | 'Γ'
        | 'Λ'
        | 'Ω'
        | 'Π'
        | 'Ψ'
        | 'Σ'
        | 'Θ'
        | 'Ξ'
        | 'Æ'
        | 'æ'
        | 'ß'
        | 'É'
        | ' '
        | '!'
        | '"'
        | '#'
        | '¤'
        | '%'
        | '&'
        | '\''
        | '('
        | ')'
        | '*'
        | '+'
        | ','
        | '-'
        | '.'
        | '/'
        | '0'..='9'
        | ':'
        | ';'
        | '<'
        | '='
        | '>'
        | '?'
        | '¡'
        | 'A'..='Z'
        | 'Ä'
        | 'Ö'
        | 'Ñ'
        | 'Ü'
        | '§'
        | '¿'
        | 'a'..='z'
        | 'ä'
        | 'ö'
        | 'ñ'
        | 'ü'
        | 'à' => Some(1),
        '\u{0C}' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€' => Some(2),
        _ => None,
    }
}

/// The longest text rollcall sends: 6 segments (918 GSM-7 characters, GOV.UK Notify's own
/// limit, or 402 UCS-2). A first-day text is one or two; anything near this is a template or
/// a register field gone wrong, and sending it would cost the school dozens of segments per
/// family (a 1 MB forename once made a 6,855-segment preview).
pub const MAX_SEGMENTS: usize = 6;

/// Refuses a text longer than [`MAX_SEGMENTS`], saying how long it is; an error here is
/// permanent (the same text would be refused again) and the attendance officer is told.
pub fn check_length(text: &str) -> Result<Segments, SendError> {
    let counted = segments(text);
    if counted.segments > MAX_SEGMENTS {
        return Err(SendError::Permanent(format!(
            "the text is {counted}; rollcall sends at most {MAX_SEGMENTS} segments: shorten the \
             template, or check the register for an over-long name"
        )));
    }
    Ok(counted)
}

/// Counts segments as handsets and providers do. A multipart message loses room to the
/// concatenation header (160 → 153, 70 → 67), and an escape pair or a surrogate pair is never
/// split across two segments, so a segment can hold one unit less than the nominal size.
pub fn segments(text: &str) -> Segments {
    let gsm: Option<Vec<usize>> = text.chars().map(gsm7_units).collect();
    let (encoding, widths, single, multi) = match gsm {
        Some(widths) => (Encoding::Gsm7, widths, 160, 153),
        None => (
            Encoding::Ucs2,
            text.chars().map(char::len_utf16).collect(),
            70,
            67,
        ),
    };
    let units: usize = widths.iter().sum();
    let segments = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        let mut count = 1;
        let mut used = 0;
        for w in widths {
            if used + w > multi {
                count += 1;
                used = 0;
            }
            used += w;
        }
        count
    };
    Segments {
        encoding,
        units,
        segments,
    }
}

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

fn invalid(field: &'static str, problem: impl Into<String>) -> SmsConfigError {
    SmsConfigError::Invalid {
        field,
        problem: problem.into(),
    }
}

fn build_client(timeout: Duration) -> Result<reqwest::Client, SmsConfigError> {
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

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn deserialize_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
}

/// An error and its causes on one line, without the URL (a Twilio lookup URL carries the
/// phone number).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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
fn transport_error(provider: &str, e: reqwest::Error, timeout: Duration, read: bool) -> SendError {
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
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
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
fn snippet(body: &[u8]) -> String {
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
fn create_error(
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

// ---------------------------------------------------------------------------------------------
// GOV.UK Notify
// ---------------------------------------------------------------------------------------------

fn default_notify_base_url() -> String {
    "https://api.notifications.service.gov.uk".into()
}

fn default_requests_per_minute() -> u32 {
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

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Splits a Notify API key into (service id, secret). Errors say what is wrong with the shape
/// and never echo any part of the key.
fn split_api_key(key: &str) -> Result<(String, String), SmsConfigError> {
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
struct NotifyClaims<'a> {
    iss: &'a str,
    iat: u64,
}

#[derive(Serialize)]
struct NotifySmsRequest<'a> {
    phone_number: &'a str,
    template_id: &'a str,
    personalisation: NotifyPersonalisation<'a>,
    reference: String,
}

#[derive(Serialize)]
struct NotifyPersonalisation<'a> {
    body: &'a str,
}

#[derive(Serialize)]
struct NotifyLetterRequest<'a> {
    reference: String,
    content: String,
    postage: &'a str,
}

#[derive(Deserialize)]
struct NotifyCreated {
    id: String,
}

#[derive(Deserialize)]
struct NotifyList {
    #[serde(default)]
    notifications: Vec<NotifyListed>,
}

#[derive(Deserialize)]
struct NotifyListed {
    id: String,
    #[serde(default)]
    reference: Option<String>,
}

#[derive(Deserialize)]
struct NotifyErrors {
    errors: Vec<NotifyErrorItem>,
}

#[derive(Deserialize)]
struct NotifyErrorItem {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: String,
}

/// Notify's own explanation (`{"errors":[{"error","message"}]}`; a 500 may send the bare
/// array), which is what the office needs to fix a contact or the template.
fn notify_error_text(body: &[u8]) -> String {
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
}

/// Standard base64 with padding (RFC 4648 §4), as Notify wants the PDF. Small enough to keep
/// here rather than add a dependency.
fn base64(bytes: &[u8]) -> String {
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

// ---------------------------------------------------------------------------------------------
// Twilio
// ---------------------------------------------------------------------------------------------

fn default_twilio_base_url() -> String {
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
enum TwilioSender {
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
fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34
        && s.starts_with(prefix)
        && s[prefix.len()..].chars().all(|c| c.is_ascii_hexdigit())
}

#[derive(Deserialize)]
struct TwilioMessage {
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
struct TwilioList {
    #[serde(default)]
    messages: Vec<TwilioMessage>,
    #[serde(default)]
    next_page_uri: Option<String>,
}

#[derive(Deserialize)]
struct TwilioError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

/// Twilio's error `code` and `message`; the code is what Twilio's error dictionary is indexed
/// by (21211 invalid number, 21610 unsubscribed recipient, …).
fn twilio_error_text(body: &[u8]) -> String {
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
const TWILIO_LOOKUP_PAGES: usize = 10;

/// How far back [`SmsProvider::lookup`] looks for a Twilio message. Twilio has no client
/// reference, so a lookup matches on number and body; a short window keeps yesterday's
/// identical message ("… was absent this morning") from passing for today's.
pub const TWILIO_LOOKUP_WINDOW: Duration = Duration::from_secs(60 * 60);

/// Twilio's dates are RFC 2822 ("Thu, 24 Aug 2023 05:01:45 +0000").
fn twilio_date(s: &str) -> Option<DateTime<Utc>> {
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

// ---------------------------------------------------------------------------------------------
// Either provider
// ---------------------------------------------------------------------------------------------

/// The SMS channel as the delivery code sees it: one provider per deployment.
#[derive(Debug)]
pub enum SmsProvider {
    Notify(Notify),
    Twilio(Twilio),
}

impl SmsProvider {
    pub async fn send(&self, msg: &Outgoing) -> Result<Sent, SendError> {
        match self {
            SmsProvider::Notify(n) => n.send(msg).await,
            SmsProvider::Twilio(t) => t.send(msg).await,
        }
    }

    /// Whether an earlier attempt of `msg` reached the provider. Notify is asked by this
    /// attempt's reference; Twilio, which has none, by number and body over
    /// [`TWILIO_LOOKUP_WINDOW`].
    pub async fn lookup(&self, msg: &Outgoing) -> Result<Option<Sent>, SendError> {
        match self {
            SmsProvider::Notify(n) => n.lookup(&reference(msg)).await,
            SmsProvider::Twilio(t) => {
                let window = chrono::TimeDelta::from_std(TWILIO_LOOKUP_WINDOW)
                    .unwrap_or(chrono::TimeDelta::hours(1));
                t.lookup(msg, Utc::now() - window).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gsm(units: usize, segments: usize) -> Segments {
        Segments {
            encoding: Encoding::Gsm7,
            units,
            segments,
        }
    }

    fn ucs2(units: usize, segments: usize) -> Segments {
        Segments {
            encoding: Encoding::Ucs2,
            units,
            segments,
        }
    }

    #[test]
    fn texts_over_six_segments_are_refused() {
        assert_eq!(check_length(&"a".repeat(918)).map(|s| s.segments), Ok(6));
        let err = check_length(&"a".repeat(919)).expect_err("7 segments");
        assert!(
            matches!(&err, SendError::Permanent(m) if m.contains("7 segments (GSM-7, 919 characters)")),
            "{err}"
        );
        assert_eq!(check_length(&"ж".repeat(402)).map(|s| s.segments), Ok(6));
        assert!(check_length(&"ж".repeat(403)).is_err());
    }

    #[test]
    fn empty_text_is_no_segments() {
        assert_eq!(segments(""), gsm(0, 0));
    }

    #[test]
    fn gsm7_single_segment_ends_at_160() {
        assert_eq!(segments(&"a".repeat(160)), gsm(160, 1));
        // 161 septets: 153 in the first part, 8 in the second.
        assert_eq!(segments(&"a".repeat(161)), gsm(161, 2));
        assert_eq!(segments(&"a".repeat(306)), gsm(306, 2));
        assert_eq!(segments(&"a".repeat(307)), gsm(307, 3));
    }

    #[test]
    fn ucs2_single_segment_ends_at_70() {
        // Cyrillic is outside GSM 03.38.
        assert_eq!(segments(&"ж".repeat(70)), ucs2(70, 1));
        assert_eq!(segments(&"ж".repeat(71)), ucs2(71, 2));
        assert_eq!(segments(&"ж".repeat(134)), ucs2(134, 2));
        assert_eq!(segments(&"ж".repeat(135)), ucs2(135, 3));
    }

    #[test]
    fn extension_characters_count_two() {
        assert_eq!(segments("€"), gsm(2, 1));
        assert_eq!(segments("^{}\\[~]|€\u{0C}"), gsm(20, 1));
        // 80 euro signs are 160 septets and fit; one more does not.
        assert_eq!(segments(&"€".repeat(80)), gsm(160, 1));
        assert_eq!(segments(&"€".repeat(81)), gsm(162, 2));
    }

    #[test]
    fn escape_pair_is_not_split_across_segments() {
        // 152 + 2 would overflow the first 153-septet part, so the € starts the second part:
        // [152] [€ + 151 = 153] [1] is three segments though 306 septets would fit in two.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(segments(&text), gsm(306, 3));
    }

    #[test]
    fn emoji_are_surrogate_pairs() {
        assert_eq!(segments("😀"), ucs2(2, 1));
        assert_eq!(segments(&"😀".repeat(35)), ucs2(70, 1));
        assert_eq!(segments(&"😀".repeat(36)), ucs2(72, 2));
        // A part holds 33 emoji (66 units); the 34th would split a pair at unit 67.
        assert_eq!(segments(&"😀".repeat(67)), ucs2(134, 3));
        // One emoji turns a whole GSM-7 text into UCS-2.
        assert_eq!(segments(&format!("{}😀", "a".repeat(68))), ucs2(70, 1));
        assert_eq!(segments(&format!("{}😀", "a".repeat(69))), ucs2(71, 2));
    }

    #[test]
    fn gsm_basic_set_accents_stay_gsm7() {
        assert_eq!(
            segments("café à Zürich £5 @ 9:00 ΔΩ").encoding,
            Encoding::Gsm7
        );
        // ç (lower case) is not in the basic set; Ç is.
        assert_eq!(segments("ç").encoding, Encoding::Ucs2);
        assert_eq!(segments("Ç").encoding, Encoding::Gsm7);
    }

    #[test]
    fn segments_display() {
        let text = "a".repeat(190);
        assert_eq!(
            segments(&text).to_string(),
            "2 segments (GSM-7, 190 characters)"
        );
        assert_eq!(
            segments("hi").to_string(),
            "1 segment (GSM-7, 2 characters)"
        );
        assert_eq!(
            segments("hé😀").to_string(),
            "1 segment (UCS-2, 4 characters)"
        );
    }

    #[test]
    fn api_key_is_split_without_echoing_it() {
        let service = "26785a09-ab16-4eb0-8407-a37497a57506";
        let secret = "3d844edf-8d35-48ac-975b-e847b4f122b0";
        let key = format!("my-test-key-{service}-{secret}");
        assert_eq!(
            split_api_key(&key),
            Ok((service.to_owned(), secret.to_owned()))
        );
        let broken = format!("my_test_key-{service}{secret}x");
        let e = split_api_key(&broken).unwrap_err().to_string();
        assert!(!e.contains("3d844edf"), "{e}");
        assert!(!e.contains("26785a09"), "{e}");
        let short = split_api_key(secret).unwrap_err().to_string();
        assert!(!short.contains("3d844edf"), "{short}");
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), output);
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, reqwest::header::HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            reqwest::header::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(
            RETRY_AFTER,
            reqwest::header::HeaderValue::from_static("soon"),
        );
        assert_eq!(retry_after(&h), None);
    }
}
