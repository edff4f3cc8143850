//! Twilio's inbound-message webhook: `POST /webhooks/twilio/sms` on the console.
//!
//! Twilio posts each text to the number's messaging webhook as a form (`MessageSid`, `From`,
//! `To`, `Body`, `AccountSid`, …) and signs it: `X-Twilio-Signature` is
//! base64(HMAC-SHA1(auth token, URL + every parameter's name and value, sorted by name)).
//! The URL is the one Twilio was given, `[web] public_url` + [`WEBHOOK_PATH`], because behind
//! a reverse proxy the console cannot know it otherwise. A request without a valid signature
//! is refused (403) and logged without its body or numbers; a valid one is stored once by its
//! `MessageSid` ([`super::take`]), so Twilio posting it twice is harmless.

use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ring::hmac;

use super::{Incoming, Provider, Taken, take};
use crate::daemon::Daemon;

/// Where the console takes Twilio's inbound texts.
pub const WEBHOOK_PATH: &str = "/webhooks/twilio/sms";

/// The largest form accepted: a text is at most 1,600 characters, a few kilobytes encoded,
/// with Twilio's twenty-odd other fields.
pub const MAX_BODY: usize = 64 * 1024;

/// TwiML that sends nothing back: any answer to the parent is rollcall's own
/// acknowledgement, from a template, not the webhook's.
const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// The text Twilio signs: the URL, then each parameter's name and value, sorted by name (and
/// by value for a name given twice).
pub fn signed_text(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut text = url.to_owned();
    for (name, value) in sorted {
        text.push_str(name);
        text.push_str(value);
    }
    text
}

fn key(auth_token: &str) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, auth_token.as_bytes())
}

/// `X-Twilio-Signature` for a request, as Twilio computes it.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let tag = hmac::sign(&key(auth_token), signed_text(url, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// Whether `given` is the signature of this request, compared in constant time.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], given: &str) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(given.trim()) else {
        return false;
    };
    hmac::verify(
        &key(auth_token),
        signed_text(url, params).as_bytes(),
        &given,
    )
    .is_ok()
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// The webhook. 404 unless replies are enabled with Twilio configured and `[web] public_url`
/// set (and never on a replayed console); 403 for a missing or wrong signature; 400 for a
/// signed form without `MessageSid` or `From`; 200 with empty TwiML once the reply is stored
/// (or was already).
pub async fn webhook(
    daemon: &Daemon,
    replay: bool,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let config = &daemon.config;
    let (Some(twilio), Some(public_url)) = (&config.delivery.live.twilio, &config.web.public_url)
    else {
        return plain(StatusCode::NOT_FOUND, "Not found");
    };
    if !config.replies.enabled || replay || twilio.auth_token.trim().is_empty() {
        return plain(StatusCode::NOT_FOUND, "Not found");
    }
    let mut url = format!("{}{WEBHOOK_PATH}", public_url.trim().trim_end_matches('/'));
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(query);
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let given = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    let Some(given) = given else {
        tracing::warn!("Twilio webhook: a request without X-Twilio-Signature was refused");
        return plain(StatusCode::FORBIDDEN, "Forbidden");
    };
    if !verify(twilio.auth_token.trim(), &url, &params, given) {
        tracing::warn!(
            "Twilio webhook: a request whose X-Twilio-Signature does not match was refused \
             (check [web] public_url is the address Twilio posts to, and \
             [delivery.twilio] auth_token)"
        );
        return plain(StatusCode::FORBIDDEN, "Forbidden");
    }
    let field = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let (Some(sid), Some(from)) = (field("MessageSid"), field("From")) else {
        tracing::warn!("Twilio webhook: a signed request without MessageSid or From was refused");
        return plain(StatusCode::BAD_REQUEST, "MessageSid and From are required");
    };
    if sid.trim().is_empty() {
        return plain(StatusCode::BAD_REQUEST, "MessageSid is empty");
    }
    let incoming = Incoming {
        provider: Provider::Twilio,
        provider_id: sid.trim().to_owned(),
        from,
        to: field("To").unwrap_or_default(),
        body: field("Body").unwrap_or_default(),
        received_at: daemon.clock.now(),
    };
    match take(
        &daemon.store,
        &daemon.schools,
        &config.replies,
        &incoming,
        daemon.clock.now(),
    )
    .await
    {
        Ok(taken) => {
            if taken == Taken::Known {
                tracing::debug!("Twilio webhook: a reply already stored was posted again");
            }
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/xml")],
                EMPTY_TWIML,
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!("Twilio webhook: the reply could not be stored: {e:#}");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The reply could not be stored",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    /// Twilio's own test of its request validator: twilio/twilio-python,
    /// tests/unit/test_request_validator.py (`ValidationTest.setUp`: token "12345", this URL,
    /// these parameters, `self.expected`; and `duplicate_expected` for a name given twice).
    #[test]
    fn twilios_own_test_vectors() {
        let given = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ]);
        assert_eq!(
            signature("12345", URL, &given),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert!(verify("12345", URL, &given, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        let duplicate = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            signature("12345", URL, &duplicate),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    /// The example in Twilio's "Validating requests" documentation, with the caller
    /// +12349013030. Its signature is not in Twilio's own code as found; it was computed with
    /// Python's hmac (HMAC-SHA1, key "12345") and matches tests elsewhere that quote the
    /// documentation.
    #[test]
    fn twilios_documented_example() {
        let given = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            signed_text(URL, &given),
            "https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+12349013030\
             Digits1234From+12349013030To+18005551212"
        );
        assert!(verify("12345", URL, &given, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        // Any change is refused: another token, another URL, a changed value, a bad header.
        assert!(!verify(
            "12346",
            URL,
            &given,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!verify(
            "12345",
            "https://mycompany.com/myapp.php",
            &given,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        let mut changed = given.clone();
        changed[2].1 = "1235".into();
        assert!(!verify(
            "12345",
            URL,
            &changed,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!verify("12345", URL, &given, "not base64!"));
        assert!(!verify("12345", URL, &given, ""));
    }
}
