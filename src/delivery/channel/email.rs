//! Email over SMTP with lettre: multipart plain text + HTML, attachments, stable Message-IDs.
//!
//! # Why the Message-ID is built from the outbox row
//!
//! SMTP has no way to ask a server "did you take message X?". When a connection dies after
//! the message body went out, the only safe thing is to send again, and the only thing that
//! makes a second copy harmless is an identical `Message-ID`: receiving systems (and the
//! parent's mail client, which threads on it) treat the copies as one message. So every
//! attempt of an outbox row carries `<rollcall.{school}.{outbox_id}@{domain of From}>`,
//! with no personal data in it.
//!
//! # How a failure is classified
//!
//! lettre's [`smtp::Error`](lettre::transport::smtp::Error) says *what* went wrong but not
//! *at which step* of the dialogue, and its tokio transport applies the configured timeout
//! to opening the TCP connection only (lettre issue #1027): reads and writes after that are
//! unbounded. [`SmtpSender::send`] therefore works from what lettre does expose:
//!
//! | lettre says | means | [`SendError`] |
//! |---|---|---|
//! | `is_permanent()` (5xx reply) | the server refused, at whatever step | `Permanent`, except the RFC 4954 authentication codes 530/534/535/538, which are `Transient`: a wrong password is a configuration fault, not a property of the message |
//! | `is_transient()` (4xx reply) | the server refused for now | `Transient` |
//! | kind `Connection` (DNS, refused, unreachable, connect timeout, TLS handshake, STARTTLS upgrade) | no SMTP command was accepted yet | `Transient` |
//! | `is_tls()`, `is_transport_shutdown()` | not reached while sending | `Transient` |
//! | `is_client()` | lettre refused before `MAIL FROM` (no STARTTLS offered, no common AUTH mechanism, non-ASCII address without SMTPUTF8) | `Permanent` when the recipient address is non-ASCII (this message can never go through this server), otherwise `Transient` (configuration) |
//! | kind `Network` (I/O error) or `is_response()` (EOF: "incomplete response", unparsable reply) | the connection broke somewhere in the dialogue | `Ambiguous` |
//! | our deadline (2 × `timeout_seconds`) passed | no answer, somewhere in the dialogue | `Ambiguous` |
//!
//! The last two rows are deliberately conservative. A drop after `DATA` (the message may
//! have been queued) looks exactly like a drop after `EHLO` to lettre, so both are reported
//! as `Ambiguous`; the stable Message-ID makes the retry safe either way. The `Connection`
//! kind has no predicate in lettre 0.11, so it is recognised from the error's `Debug`
//! output (`kind: Connection`); `tests/email.rs` pins that with a refused connection and a
//! failed TLS handshake, so a lettre upgrade that changes it fails the tests, not the
//! classification in production. `is_timeout()` is *not* used: it is true for any
//! `TimedOut` I/O error in the chain, including one raised mid-dialogue by the kernel.
//!
//! # Why sends run on their own task
//!
//! Dropping a lettre send future part-way returns its connection to the pool mid-dialogue;
//! the pool's `NOOP` check would then read the late reply of the abandoned message and the
//! connection would answer every later command with the reply to the previous one. So the
//! send runs on a spawned task and the deadline only stops *waiting* for it: the task keeps
//! the connection until the server answers or hangs up, and its late outcome is logged.
//! Each such task holds one of the `pool_size` slots, so a hung server cannot make rollcall
//! open ever more connections; later sends wait for a slot and fail as `Transient`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment as MimeAttachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::{self, PoolConfig};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::{Outgoing, SendError, Sent};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain text (port 25): only for a relay on the same machine or a trusted network.
    None,
    /// Plain connection upgraded with STARTTLS before anything else is sent (port 587);
    /// refused outright if the server does not offer it, so it cannot be downgraded.
    #[default]
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl SmtpSecurity {
    /// The port each mode is normally offered on (RFC 8314 for 465 and 587).
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::None => 25,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
        }
    }
}

/// The school's (or trust's) outgoing mail server: one section of the TOML config.
///
/// `password` should come from the environment or a credential file rather than the TOML
/// file, and `Debug` never prints it, so the config can be logged whole.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Defaults by `security`: 25 none, 587 starttls, 465 tls.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// The school as families know it: `Oakfield Primary <attendance@oakfield.sch.uk>`.
    /// Its domain also ends every Message-ID.
    pub from: String,
    /// Where replies go when that is not `from` (the school office, say).
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Limit for opening a connection; one whole send (waiting for a free connection,
    /// connecting and the SMTP dialogue) gets twice this before it is reported ambiguous.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// Connections open to the server at once, busy or idle. Mail providers cap
    /// concurrent connections per account, so this, not the outbox's concurrency, is what
    /// the server sees.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
}

fn default_timeout_seconds() -> u64 {
    20
}

fn default_pool_size() -> u32 {
    4
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("from", &self.from)
            .field("reply_to", &self.reply_to)
            .field("timeout_seconds", &self.timeout_seconds)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl SmtpConfig {
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(self.security.default_port())
    }

    /// `from` parsed, for callers (the file sink) that build messages without a sender.
    pub fn from_mailbox(&self) -> Result<Mailbox, SmtpConfigError> {
        parse_mailbox(&self.from).map_err(SmtpConfigError::From)
    }

    pub fn reply_to_mailbox(&self) -> Result<Option<Mailbox>, SmtpConfigError> {
        self.reply_to
            .as_deref()
            .map(|r| parse_mailbox(r).map_err(SmtpConfigError::ReplyTo))
            .transpose()
    }
}

/// `Name <address>` as a school writes it. A name with parentheses, an apostrophe or an
/// ampersand ("St Mary's C of E (Aided) Primary School & Nursery") is not valid RFC 5322
/// unquoted (parentheses are comments), so when the strict parse fails the text before the
/// last `<` is taken whole as the display name; lettre quotes or encodes it on the wire.
pub fn parse_mailbox(text: &str) -> Result<Mailbox, String> {
    let text = text.trim();
    match Mailbox::from_str(text) {
        Ok(mailbox) => Ok(mailbox),
        Err(strict) => {
            let (name, rest) = text.rsplit_once('<').ok_or_else(|| strict.to_string())?;
            let address = rest
                .strip_suffix('>')
                .ok_or_else(|| strict.to_string())?
                .trim();
            let email = Address::from_str(address).map_err(|e| e.to_string())?;
            let name = name.trim().trim_matches('"').trim();
            Ok(Mailbox::new(
                (!name.is_empty()).then(|| name.to_owned()),
                email,
            ))
        }
    }
}

/// An email settings problem found at start-up, worded for whoever edits the config; the
/// caller prefixes the section name (it is not this module's to know).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpConfigError {
    #[error(
        "`from` is not a valid mailbox ({0}); expected e.g. \"Oakfield Primary <attendance@oakfield.sch.uk>\""
    )]
    From(String),
    #[error("`reply_to` is not a valid mailbox ({0})")]
    ReplyTo(String),
    #[error("`host` is empty")]
    NoHost,
    #[error("`timeout_seconds` must be at least 1")]
    ZeroTimeout,
    #[error("`pool_size` must be at least 1")]
    ZeroPoolSize,
    #[error("`username` is set but no password was given")]
    MissingPassword,
    #[error("`password` is set but no username was given")]
    MissingUsername,
    #[error(
        "security = \"none\" would send the password in clear to {0}; use starttls or tls (plain text is only allowed to localhost)"
    )]
    CleartextCredentials(String),
    #[error("cannot set up TLS for {host}: {message}")]
    Tls { host: String, message: String },
    #[error("the SMTP sender must be created inside the tokio runtime")]
    NoRuntime,
}

/// Marks the message as sent by a machine (RFC 3834), so vacation responders and other
/// auto-replies stay silent instead of mailing the attendance address back.
const AUTO_SUBMITTED: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");
/// Exchange and Outlook ignore `Auto-Submitted` and look at this one instead.
const AUTO_RESPONSE_SUPPRESS: HeaderName =
    HeaderName::new_from_ascii_str("X-Auto-Response-Suppress");

/// `<rollcall.{school}.{outbox_id}@{domain}>`, the same for every attempt of a row.
pub fn message_id(msg: &Outgoing, from: &Mailbox) -> Result<String, SendError> {
    if !is_dot_atom(&msg.school) {
        return Err(SendError::Permanent(format!(
            "school id {:?} cannot be used in a Message-ID: use letters, digits and - _ only",
            msg.school
        )));
    }
    Ok(format!(
        "<rollcall.{}.{}@{}>",
        msg.school,
        msg.outbox_id,
        from.email.domain()
    ))
}

/// RFC 5322 dot-atom-text: what may stand left of the `@` in a Message-ID unquoted.
fn is_dot_atom(s: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    !s.is_empty()
        && s.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c))
        })
}

fn parse_recipient(msg: &Outgoing) -> Result<Mailbox, SendError> {
    let address = msg.address.trim();
    if address.is_empty() {
        return Err(SendError::Permanent(
            "no email address for this recipient".into(),
        ));
    }
    let email = Address::from_str(address).map_err(|e| {
        // The address itself stays out of the message: it ends up in logs and reports.
        let why = match e {
            lettre::address::AddressError::MissingParts => {
                "it has no '@' or nothing on one side of it"
            }
            lettre::address::AddressError::Unbalanced => "it has unbalanced angle brackets",
            lettre::address::AddressError::InvalidUser => "the part before the '@' is not valid",
            lettre::address::AddressError::InvalidDomain => {
                "the part after the '@' is not a valid domain"
            }
            _ => "it is not of the form name@domain",
        };
        SendError::Permanent(format!("the email address is not valid: {why}"))
    })?;
    let name = display_name(&msg.to_name);
    Ok(Mailbox::new((!name.is_empty()).then_some(name), email))
}

/// The recipient's name as it can stand in a `To:` header. lettre panics while formatting a
/// display name with a CR or LF in it ("a Display implementation returned an error"), and a
/// panic while sending would leave the row `sending` and stop the school's delivery. Imports
/// now clean names, but a register imported before that may still hold one, so every
/// control character becomes a space here, before lettre sees it: the name is only a
/// courtesy on the envelope, the address is what delivers.
pub fn display_name(name: &str) -> String {
    name.split(|c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The message as it goes on the wire (and into a `.eml` file).
///
/// Only `To` carries personal data: `From`/`Reply-To` are the school's, the Message-ID is
/// built from row ids, and the subject comes from a template that must not name the child
/// (an inbox list shows subjects to anyone looking at the screen).
pub fn build_message(
    msg: &Outgoing,
    from: &Mailbox,
    reply_to: Option<&Mailbox>,
) -> Result<Message, SendError> {
    let to = parse_recipient(msg)?;
    let id = message_id(msg, from)?;

    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(msg.subject.clone())
        .message_id(Some(id))
        .raw_header(HeaderValue::new(AUTO_SUBMITTED, "auto-generated".into()))
        .raw_header(HeaderValue::new(AUTO_RESPONSE_SUPPRESS, "All".into()));
    if let Some(reply_to) = reply_to {
        builder = builder.reply_to(reply_to.clone());
    }

    let mut attachments = Vec::with_capacity(msg.attachments.len());
    for (i, a) in msg.attachments.iter().enumerate() {
        let content_type = ContentType::parse(&a.content_type).map_err(|_| {
            SendError::Permanent(format!(
                "attachment {} has an invalid content type {:?}",
                i + 1,
                a.content_type
            ))
        })?;
        attachments
            .push(MimeAttachment::new(a.filename.clone()).body(a.bytes.clone(), content_type));
    }

    let result = match (&msg.html, attachments.is_empty()) {
        (Some(html), true) => builder.multipart(MultiPart::alternative_plain_html(
            msg.text.clone(),
            html.clone(),
        )),
        (None, true) => builder.singlepart(SinglePart::plain(msg.text.clone())),
        (html, false) => {
            let mut mixed = match html {
                Some(html) => MultiPart::mixed().multipart(MultiPart::alternative_plain_html(
                    msg.text.clone(),
                    html.clone(),
                )),
                None => MultiPart::mixed().singlepart(SinglePart::plain(msg.text.clone())),
            };
            for part in attachments {
                mixed = mixed.singlepart(part);
            }
            builder.multipart(mixed)
        }
    };
    result.map_err(|e| SendError::Permanent(format!("cannot build the email: {e}")))
}

/// RFC 5322 bytes of [`build_message`], for the file sink's `.eml` files.
pub fn to_eml(
    msg: &Outgoing,
    from: &Mailbox,
    reply_to: Option<&Mailbox>,
) -> Result<Vec<u8>, SendError> {
    Ok(build_message(msg, from, reply_to)?.formatted())
}

/// Sends over a pooled SMTP connection; cheap to share (`&self` everywhere).
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    /// One permit per connection the server may see (see the module docs).
    slots: Arc<Semaphore>,
    deadline: Duration,
    host: String,
}

impl fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSender")
            .field("host", &self.host)
            .field("from", &self.from.email.to_string())
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// Must be called inside the tokio runtime: lettre's pool starts its idle-connection
    /// reaper task here.
    pub fn new(config: &SmtpConfig) -> Result<SmtpSender, SmtpConfigError> {
        let host = config.host.trim();
        if host.is_empty() {
            return Err(SmtpConfigError::NoHost);
        }
        if config.timeout_seconds == 0 {
            return Err(SmtpConfigError::ZeroTimeout);
        }
        if config.pool_size == 0 {
            return Err(SmtpConfigError::ZeroPoolSize);
        }
        let from = config.from_mailbox()?;
        let reply_to = config.reply_to_mailbox()?;
        let credentials = match (&config.username, &config.password) {
            (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password.clone())),
            (Some(_), None) => return Err(SmtpConfigError::MissingPassword),
            (None, Some(_)) => return Err(SmtpConfigError::MissingUsername),
            (None, None) => None,
        };
        if credentials.is_some() && config.security == SmtpSecurity::None && !is_loopback(host) {
            return Err(SmtpConfigError::CleartextCredentials(host.to_owned()));
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SmtpConfigError::NoRuntime);
        }

        let tls_error = |e: smtp::Error| SmtpConfigError::Tls {
            host: host.to_owned(),
            message: e.to_string(),
        };
        let builder = match config.security {
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpSecurity::StartTls => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls_error)?
            }
            SmtpSecurity::Tls => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls_error)?
            }
        };
        let timeout = Duration::from_secs(config.timeout_seconds);
        let mut builder = builder
            .port(config.effective_port())
            .timeout(Some(timeout))
            .pool_config(PoolConfig::new().max_size(config.pool_size));
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials);
        }

        Ok(SmtpSender {
            transport: builder.build(),
            from,
            reply_to,
            slots: Arc::new(Semaphore::new(config.pool_size as usize)),
            deadline: timeout.saturating_mul(2),
            host: host.to_owned(),
        })
    }

    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    pub fn reply_to(&self) -> Option<&Mailbox> {
        self.reply_to.as_ref()
    }

    /// `provider_id` is our Message-ID, not the server's queue id: lettre hands back the
    /// final reply only as free text ("250 2.0.0 Ok: queued as 4dXyz", in a different shape
    /// per server), while the Message-ID is what the receiving side de-duplicates on and
    /// what a later "did it arrive?" check can search for.
    pub async fn send(&self, msg: &Outgoing) -> Result<Sent, SendError> {
        let message = build_message(msg, &self.from, self.reply_to.as_ref())?;
        let id = message_id(msg, &self.from)?;
        let non_ascii_recipient = !msg.address.trim().is_ascii();
        let envelope = message.envelope().clone();
        let bytes = message.formatted();
        drop(message);

        let deadline = tokio::time::Instant::now() + self.deadline;
        let permit = match tokio::time::timeout_at(
            deadline,
            Arc::clone(&self.slots).acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) | Err(_) => {
                return Err(SendError::Transient(format!(
                    "every connection to {} was busy for {} s; nothing was sent",
                    self.host,
                    self.deadline.as_secs()
                )));
            }
        };
        let transport = self.transport.clone();
        let mut task = tokio::spawn(async move {
            let result = transport.send_raw(&envelope, &bytes).await;
            drop(permit);
            result
        });

        let outcome = match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(join)) => {
                return Err(SendError::Ambiguous(format!(
                    "the SMTP send stopped unexpectedly ({join}); the message may have been \
                     accepted as {id}"
                )));
            }
            Err(_) => {
                let (outbox_id, attempt) = (msg.outbox_id, msg.attempt);
                tracing::warn!(
                    outbox_id,
                    attempt,
                    "no answer from the SMTP server in time; the send is left to finish"
                );
                tokio::spawn(async move {
                    let late = match task.await {
                        Ok(Ok(_)) => "accepted",
                        Ok(Err(e)) if e.is_permanent() || e.is_transient() => "refused",
                        _ => "no answer",
                    };
                    tracing::info!(outbox_id, attempt, late, "late SMTP outcome");
                });
                return Err(SendError::Ambiguous(format!(
                    "no answer from {} within {} s; the message may have been accepted as {id}",
                    self.host,
                    self.deadline.as_secs()
                )));
            }
        };

        match outcome {
            Ok(response) => {
                // A server may echo the recipient in its reply; debug logs never carry it.
                tracing::debug!(
                    outbox_id = msg.outbox_id,
                    attempt = msg.attempt,
                    reply = %redact(response.first_line().unwrap_or(""), &msg.address),
                    "email accepted by the SMTP server"
                );
                Ok(Sent { provider_id: id })
            }
            Err(e) => {
                let error = classify(&e, non_ascii_recipient, &msg.address);
                tracing::debug!(
                    outbox_id = msg.outbox_id,
                    attempt = msg.attempt,
                    kind = kind_name(&error),
                    "email not sent"
                );
                Err(error)
            }
        }
    }

    /// Health check: connects (or reuses a pooled connection) and sends `NOOP`.
    /// `Ok(false)` means connected but the server did not answer `NOOP` positively. Never
    /// `Ambiguous`: nothing is being delivered.
    pub async fn test_connection(&self) -> Result<bool, SendError> {
        let deadline = tokio::time::Instant::now() + self.deadline;
        let Ok(Ok(permit)) =
            tokio::time::timeout_at(deadline, Arc::clone(&self.slots).acquire_owned()).await
        else {
            return Err(SendError::Transient(format!(
                "every connection to {} is busy",
                self.host
            )));
        };
        let transport = self.transport.clone();
        // Spawned for the same reason as a send: never abandon a pooled connection mid-reply.
        let task = tokio::spawn(async move {
            let result = transport.test_connection().await;
            drop(permit);
            result
        });
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(Ok(ok))) => Ok(ok),
            Ok(Ok(Err(e))) => Err(match classify(&e, false, "") {
                SendError::Ambiguous(m) => SendError::Transient(m),
                other => other,
            }),
            Ok(Err(join)) => Err(SendError::Transient(format!(
                "the SMTP check stopped unexpectedly ({join})"
            ))),
            Err(_) => Err(SendError::Transient(format!(
                "no answer from {} within {} s",
                self.host,
                self.deadline.as_secs()
            ))),
        }
    }

    /// Says goodbye (`QUIT`) on the idle pooled connections, for a clean daemon stop.
    pub async fn shutdown(&self) {
        self.transport.shutdown().await;
    }
}

fn kind_name(e: &SendError) -> &'static str {
    match e {
        SendError::Transient(_) => "transient",
        SendError::Permanent(_) => "permanent",
        SendError::RateLimited { .. } => "rate_limited",
        SendError::Ambiguous(_) => "ambiguous",
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// See the table in the module docs.
fn classify(e: &smtp::Error, non_ascii_recipient: bool, address: &str) -> SendError {
    let detail = redact(&e.to_string(), address);
    if e.is_permanent() {
        if matches!(e.status().map(u16::from), Some(530 | 534 | 535 | 538)) {
            return SendError::Transient(format!(
                "the mail server refused to log in (check the SMTP username and password): {detail}"
            ));
        }
        return SendError::Permanent(format!("the mail server refused the message: {detail}"));
    }
    if e.is_transient() {
        return SendError::Transient(format!("the mail server deferred the message: {detail}"));
    }
    if is_connection_kind(e) {
        return SendError::Transient(format!("cannot connect to the mail server: {detail}"));
    }
    if e.is_tls() || e.is_transport_shutdown() {
        return SendError::Transient(detail);
    }
    if e.is_client() {
        return if non_ascii_recipient {
            SendError::Permanent(format!(
                "the address has non-ASCII characters and the mail server cannot take them: {detail}"
            ))
        } else {
            SendError::Transient(format!(
                "the mail server cannot be used as configured: {detail}"
            ))
        };
    }
    SendError::Ambiguous(format!(
        "the connection to the mail server broke during the SMTP dialogue, possibly after the \
         message was handed over: {detail}"
    ))
}

/// lettre 0.11 has no `is_connection()`; its `Debug` names the kind (see module docs).
fn is_connection_kind(e: &smtp::Error) -> bool {
    format!("{e:?}").contains("kind: Connection")
}

/// Servers echo the recipient in their replies ("550 <anne@…>: unknown user"); the error
/// text is stored and logged, so the address is replaced there.
fn redact(text: &str, address: &str) -> String {
    let address = address.trim();
    if address.is_empty() {
        return text.to_owned();
    }
    // ASCII lowercasing keeps byte offsets, so matches index the original text.
    let haystack = text.to_ascii_lowercase();
    let needle = address.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (start, _) in haystack.match_indices(&needle) {
        if start < rest {
            continue;
        }
        out.push_str(&text[rest..start]);
        out.push_str("[recipient]");
        rest = start + needle.len();
    }
    out.push_str(&text[rest..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_atom_school_ids() {
        assert!(is_dot_atom("oakfield"));
        assert!(is_dot_atom("123456"));
        assert!(is_dot_atom("st-marys_rc.primary"));
        assert!(!is_dot_atom(""));
        assert!(!is_dot_atom("st marys"));
        assert!(!is_dot_atom("a..b"));
        assert!(!is_dot_atom(".a"));
        assert!(!is_dot_atom("a@b"));
        assert!(!is_dot_atom("a<b>"));
    }

    #[test]
    fn redact_replaces_the_address_in_any_case() {
        assert_eq!(
            redact(
                "550 <Anne@Example.com>: no such user anne@example.com",
                "anne@example.com"
            ),
            "550 <[recipient]>: no such user [recipient]"
        );
        assert_eq!(redact("451 try later", "anne@example.com"), "451 try later");
        assert_eq!(redact("Zoë 451", ""), "Zoë 451");
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("localhost"));
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("[::1]"));
        assert!(!is_loopback("smtp.example.com"));
        assert!(!is_loopback("10.0.0.1"));
    }
}
