//! Text messages: UK mobile numbers, SMS segments, and the GOV.UK Notify and Twilio providers.
