//! The real providers, as configured under `[delivery]` for `mode = "live"`.

use super::email::{SmtpConfig, SmtpSender};
use super::sms::{Notify, NotifyConfig, SmsProvider, Twilio, TwilioConfig};
use super::{Outgoing, SendError, Sent};

/// Which SMS provider a live deployment uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsChoice {
    Notify,
    Twilio,
}

/// `[delivery.email]`, `[delivery.notify]`, `[delivery.twilio]` and `sms = "notify"`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    pub email: Option<SmtpConfig>,
    pub sms: Option<SmsChoice>,
    pub notify: Option<NotifyConfig>,
    pub twilio: Option<TwilioConfig>,
}

/// The providers a live daemon sends through; a channel without one fails each message with
/// a permanent error naming the missing setting (and the attendance officer is told).
#[derive(Debug, Default)]
pub struct Live {
    pub email: Option<SmtpSender>,
    pub sms: Option<SmsProvider>,
}

/// `rollcall check`: every provider section that is configured is checked as `run` would
/// build it (a malformed Notify key, a Twilio SID, an SMTP `from`), whatever the mode, so a
/// school switching to `mode = "live"` finds out now; in live mode the combination is
/// checked too (`sms = "notify"` without its table). Must run inside the tokio runtime.
pub fn check(config: &LiveConfig, mode: crate::config::DeliveryMode) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(email) = &config.email
        && let Err(e) = SmtpSender::new(email)
    {
        problems.push(format!("delivery.email: {e}"));
    }
    if let Some(notify) = &config.notify
        && let Err(e) = Notify::new(notify.clone())
    {
        problems.push(format!("delivery.notify: {e}"));
    }
    if let Some(twilio) = &config.twilio
        && let Err(e) = Twilio::new(twilio.clone())
    {
        problems.push(format!("delivery.twilio: {e}"));
    }
    if mode == crate::config::DeliveryMode::Live
        && problems.is_empty()
        && let Err(e) = Live::build(config)
    {
        problems.push(e);
    }
    problems
}

impl Live {
    pub fn build(config: &LiveConfig) -> Result<Live, String> {
        let email = config
            .email
            .as_ref()
            .map(SmtpSender::new)
            .transpose()
            .map_err(|e| format!("delivery.email: {e}"))?;
        let sms = match config.sms {
            None => None,
            Some(SmsChoice::Notify) => {
                let c = config.notify.clone().ok_or(
                    "delivery.sms = \"notify\" needs a [delivery.notify] table (api_key, sms_template_id)",
                )?;
                Some(SmsProvider::Notify(
                    Notify::new(c).map_err(|e| format!("delivery.notify: {e}"))?,
                ))
            }
            Some(SmsChoice::Twilio) => {
                let c = config.twilio.clone().ok_or(
                    "delivery.sms = \"twilio\" needs a [delivery.twilio] table (account_sid, auth_token, from)",
                )?;
                Some(SmsProvider::Twilio(
                    Twilio::new(c).map_err(|e| format!("delivery.twilio: {e}"))?,
                ))
            }
        };
        Ok(Live { email, sms })
    }

    pub async fn send_email(&self, msg: &Outgoing) -> Result<Sent, SendError> {
        match &self.email {
            Some(smtp) => smtp.send(msg).await,
            None => Err(SendError::Permanent(
                "no email server configured: add [delivery.email] with host and from".into(),
            )),
        }
    }

    pub async fn send_sms(&self, msg: &Outgoing) -> Result<Sent, SendError> {
        match &self.sms {
            Some(provider) => provider.send(msg).await,
            None => Err(SendError::Permanent(
                "no SMS provider configured: set delivery.sms = \"notify\" or \"twilio\"".into(),
            )),
        }
    }

    /// After an ambiguous attempt: did the provider get it? `Ok(None)` is the provider saying
    /// no; an error means nobody knows (the caller sends again and counts it as a possible
    /// second copy).
    pub async fn lookup_sms(&self, msg: &Outgoing) -> Result<Option<Sent>, SendError> {
        let provider = self
            .sms
            .as_ref()
            .ok_or_else(|| SendError::Permanent("no SMS provider configured to ask".into()))?;
        // The earlier attempt had the previous attempt number in its reference.
        let mut earlier = msg.clone();
        earlier.attempt = msg.attempt.saturating_sub(1).max(1);
        provider.lookup(&earlier).await
    }
}
