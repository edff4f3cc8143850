//! Text messages: UK mobile numbers, SMS segments, and the GOV.UK Notify and Twilio providers.
//!
//! Both providers map HTTP outcomes onto [`SendError`] by what the outbox should do next. The
//! one that matters most is [`SendError::Ambiguous`]: when a request went out but no clear
//! answer came back, sending again could text a parent twice, so the delivery code first asks
//! the provider (`lookup`) whether the earlier attempt arrived.

mod encoding;
mod http;
mod notify;
#[cfg(test)]
mod tests;
mod twilio;

use chrono::Utc;

use super::{Outgoing, SendError, Sent};

pub use encoding::{Encoding, MAX_SEGMENTS, Segments, check_length, segments};
pub use http::{SmsConfigError, ensure_crypto_provider};
pub use notify::{Notify, NotifyConfig, reference};
pub use twilio::{TWILIO_LOOKUP_WINDOW, Twilio, TwilioConfig};

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
