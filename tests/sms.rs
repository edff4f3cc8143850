//! The SMS providers against wiremock servers on loopback: the exact requests Notify and
//! Twilio would see, checked against trimmed copies of their API descriptions in
//! tests/fixtures/contracts, and the mapping of their answers onto `SendError`.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{TimeDelta, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rollcall::delivery::channel::sms::{
    Notify, NotifyConfig, SmsProvider, Twilio, TwilioConfig, reference,
};
use rollcall::delivery::channel::{Attachment, Outgoing, SendError, Sent};
use rollcall::register::phone::parse_uk_mobile;
use serde_json::{Value, json};
use wiremock::matchers::{basic_auth, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SERVICE_ID: &str = "26785a09-ab16-4eb0-8407-a37497a57506";
const SECRET: &str = "3d844edf-8d35-48ac-975b-e847b4f122b0";
const TEMPLATE_ID: &str = "f33517ff-2a88-4f6e-b855-c550268ce08a";
const NOTIFICATION_ID: &str = "740e5834-3a29-46b4-9a6f-16142fde533a";

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "not-a-real-token-0123456789";
const SERVICE_SID: &str = "MG0123456789abcdef0123456789abcdef";
const MESSAGE_SID: &str = "SM0123456789abcdef0123456789abcdef";

const MOBILE_AS_GIVEN: &str = "07700 900123";
/// What the test expects on the wire: +44, then the number without its trunk zero.
fn mobile_e164() -> String {
    format!(
        "+44{}",
        MOBILE_AS_GIVEN.replace(' ', "").trim_start_matches('0')
    )
}

fn api_key() -> String {
    format!("rollcall_live-{SERVICE_ID}-{SECRET}")
}

fn message(address: &str) -> Outgoing {
    Outgoing {
        outbox_id: 42,
        attempt: 3,
        school: "oak".into(),
        to_name: "Anne Lovelace".into(),
        address: address.into(),
        subject: "Ada's attendance".into(),
        text: "Ada was not in school this morning & we have not heard why. Please call 01632 \
               960000 — Oak Primary €"
            .into(),
        html: None,
        attachments: vec![],
    }
}

fn notify_at(server: &MockServer, timeout: Duration) -> Notify {
    let mut config = NotifyConfig::new(api_key(), TEMPLATE_ID);
    config.base_url = server.uri();
    config.timeout = timeout;
    config.letter = true;
    Notify::new(config).expect("test config is valid")
}

fn notify(server: &MockServer) -> Notify {
    notify_at(server, Duration::from_secs(5))
}

fn twilio_at(server: &MockServer, from: Option<&str>, service: Option<&str>) -> Twilio {
    let mut config = TwilioConfig::new(ACCOUNT_SID, AUTH_TOKEN);
    config.base_url = server.uri();
    config.from = from.map(str::to_owned);
    config.messaging_service_sid = service.map(str::to_owned);
    config.timeout = Duration::from_secs(5);
    Twilio::new(config).expect("test config is valid")
}

fn twilio(server: &MockServer) -> Twilio {
    twilio_at(server, Some("OAKPRIMARY"), None)
}

fn twilio_messages_path() -> String {
    format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
}

fn notify_created() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "id": NOTIFICATION_ID,
        "reference": "whatever",
        "content": {"body": "…", "from_number": "GOVUK"},
        "uri": format!("https://api.notifications.service.gov.uk/v2/notifications/{NOTIFICATION_ID}"),
        "template": {"id": TEMPLATE_ID, "version": 1, "uri": "https://example.invalid/"},
        "scheduled_for": null
    }))
}

fn twilio_created(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
        "date_sent": null,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": "OAKPRIMARY",
        "num_segments": "1",
        "sid": MESSAGE_SID,
        "status": "queued",
        "to": "+447700900123"
    }))
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
}

fn header_str<'a>(request: &'a Request, name: &str) -> &'a str {
    request
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("header is ASCII")
}

/// The form fields of an `application/x-www-form-urlencoded` body, decoded.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    let body = std::str::from_utf8(body).expect("form bodies are ASCII");
    reqwest::Url::parse(&format!("http://form.invalid/?{body}"))
        .expect("parses as a query")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Independent of the crate's encoder: RFC 4648 base64, written out here.
fn base64_encode(bytes: &[u8]) -> String {
    let alphabet: Vec<char> = ('A'..='Z')
        .chain('a'..='z')
        .chain('0'..='9')
        .chain(['+', '/'])
        .collect();
    let mut bits = String::new();
    for b in bytes {
        bits.push_str(&format!("{b:08b}"));
    }
    let mut out = String::new();
    for chunk in bits.as_bytes().chunks(6) {
        let mut six = String::from_utf8(chunk.to_vec()).expect("bits are ASCII");
        while six.len() < 6 {
            six.push('0');
        }
        out.push(alphabet[usize::from_str_radix(&six, 2).expect("binary")]);
    }
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Contract checks against the trimmed API descriptions
// ---------------------------------------------------------------------------------------------

fn contract(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/contracts/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `^XX[0-9a-fA-F]{N}$`, the only pattern shape the copied schemas use.
fn matches_sid_pattern(pattern: &str, value: &str) -> bool {
    let Some(inner) = pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$')) else {
        panic!("unexpected pattern {pattern}");
    };
    let (prefix, rest) = inner
        .split_once("[0-9a-fA-F]{")
        .unwrap_or_else(|| panic!("unexpected pattern {pattern}"));
    let count: usize = rest
        .trim_end_matches('}')
        .parse()
        .unwrap_or_else(|_| panic!("unexpected pattern {pattern}"));
    value.len() == prefix.len() + count
        && value.starts_with(prefix)
        && value[prefix.len()..].chars().all(|c| c.is_ascii_hexdigit())
}

/// Every way `value` breaks the string constraints of `schema`.
fn string_problems(name: &str, schema: &Value, value: &str) -> Vec<String> {
    let mut problems = vec![];
    let len = value.chars().count() as u64;
    if let Some(min) = schema["minLength"].as_u64()
        && len < min
    {
        problems.push(format!("{name}: {len} characters, fewer than {min}"));
    }
    if let Some(max) = schema["maxLength"].as_u64()
        && len > max
    {
        problems.push(format!("{name}: {len} characters, more than {max}"));
    }
    if let Some(pattern) = schema["pattern"].as_str()
        && !matches_sid_pattern(pattern, value)
    {
        problems.push(format!("{name}: '{value}' does not match {pattern}"));
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.iter().any(|o| o.as_str() == Some(value))
    {
        problems.push(format!("{name}: '{value}' is not one of {options:?}"));
    }
    problems
}

/// Checks a JSON request body against an object schema: every `required` property present,
/// no property the schema does not define, types and string constraints as described. Nested
/// objects are checked for type only, since Notify's `personalisation` lists example keys.
fn json_problems(schema: &Value, body: &Value) -> Vec<String> {
    let mut problems = vec![];
    let Some(object) = body.as_object() else {
        return vec!["body is not a JSON object".into()];
    };
    let properties = schema["properties"]
        .as_object()
        .expect("schema has properties");
    for required in schema["required"].as_array().expect("schema has required") {
        let required = required.as_str().expect("names are strings");
        if !object.contains_key(required) {
            problems.push(format!("missing required property {required}"));
        }
    }
    for (name, value) in object {
        let Some(property) = properties.get(name) else {
            problems.push(format!("property {name} is not in the schema"));
            continue;
        };
        let type_ok = match property["type"].as_str() {
            Some("string") => value.is_string(),
            Some("object") => value.is_object(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            Some("array") => value.is_array(),
            other => panic!("schema type {other:?} for {name} not handled"),
        };
        if !type_ok {
            problems.push(format!("{name} is {value}, not a {}", property["type"]));
        }
        if let Some(text) = value.as_str() {
            problems.extend(string_problems(name, property, text));
        }
        if property["format"] == "byte"
            && let Some(text) = value.as_str()
            && (!text.len().is_multiple_of(4)
                || !text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c)))
        {
            problems.push(format!("{name} is not base64"));
        }
    }
    problems
}

/// The same for a form body, where every value is a string on the wire.
fn form_problems(schema: &Value, fields: &[(String, String)]) -> Vec<String> {
    let mut problems = vec![];
    let properties = schema["properties"]
        .as_object()
        .expect("schema has properties");
    for required in schema["required"].as_array().expect("schema has required") {
        let required = required.as_str().expect("names are strings");
        if field(fields, required).is_none() {
            problems.push(format!("missing required field {required}"));
        }
    }
    let mut seen = BTreeSet::new();
    for (name, value) in fields {
        let Some(property) = properties.get(name) else {
            problems.push(format!("field {name} is not in the schema"));
            continue;
        };
        if !seen.insert(name) && property["type"] != "array" {
            problems.push(format!("field {name} given twice"));
        }
        if property["type"] == "string" {
            problems.extend(string_problems(name, property, value));
        }
    }
    problems
}

fn query_names(request: &Request) -> BTreeSet<String> {
    request
        .url
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect()
}

fn contract_query_names(operation: &Value) -> BTreeSet<String> {
    operation["query"]
        .as_object()
        .expect("operation has query parameters")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn checker_catches_what_it_should() {
    // The checker itself: a body with a missing, an unknown and a too-long property fails.
    let contract = contract("notify.json");
    let schema = &contract["sendTextMessage"]["schema"];
    let problems = json_problems(
        schema,
        &json!({"phone_number": "+4477009001234567", "body": "x"}),
    );
    // Missing template_id, unknown body, 17 characters against maxLength 15.
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("template_id")));
    assert!(problems.iter().any(|p| p.contains("body")));
    assert!(problems.iter().any(|p| p.contains("more than 15")));
    let twilio = contract_twilio();
    let schema = &twilio["createMessage"]["schema"];
    let fields = vec![
        ("To".to_owned(), "+447700900123".to_owned()),
        ("MessagingServiceSid".to_owned(), "MGnothex".to_owned()),
        ("Sender".to_owned(), "x".to_owned()),
    ];
    // The SID is both too short (8 < 34) and off-pattern; Sender is not a Twilio field.
    let problems = form_problems(schema, &fields);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("fewer than 34")));
    assert!(problems.iter().any(|p| p.contains("does not match")));
    assert!(problems.iter().any(|p| p.contains("Sender")));
}

fn contract_twilio() -> Value {
    contract("twilio.json")
}

#[tokio::test]
async fn notify_requests_match_the_contract() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/notifications/sms"))
        .respond_with(notify_created())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/notifications/letter"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": NOTIFICATION_ID, "reference": "r", "postage": "second"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/notifications"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "notifications": [], "links": {"current": "x"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let notify = notify(&server);
    let mut msg = message(MOBILE_AS_GIVEN);
    notify.send(&msg).await.expect("sms accepted");
    msg.attachments.push(Attachment {
        filename: "letter.pdf".into(),
        content_type: "application/pdf".into(),
        bytes: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec(),
    });
    notify.send_letter(&msg).await.expect("letter accepted");
    assert_eq!(notify.lookup(&reference(&msg)).await, Ok(None));

    let contract = contract("notify.json");
    let received = requests(&server).await;
    assert_eq!(received.len(), 3);
    for (request, operation) in received.iter().zip([
        "sendTextMessage",
        "sendPrecompiledLetter",
        "getMultipleMessagesStatus",
    ]) {
        let operation = &contract[operation];
        assert_eq!(request.method.as_str(), operation["method"]);
        assert_eq!(request.url.path(), operation["path"]);
        if request.method.as_str() == "POST" {
            assert_eq!(
                header_str(request, "content-type"),
                operation["content_type"]
            );
            let body: Value = serde_json::from_slice(&request.body).expect("JSON body");
            let problems = json_problems(&operation["schema"], &body);
            assert!(problems.is_empty(), "{}: {problems:?}", operation["path"]);
        } else {
            let names = query_names(request);
            let allowed = contract_query_names(operation);
            assert!(names.is_subset(&allowed), "{names:?} not in {allowed:?}");
            assert!(names.contains("reference"));
        }
    }
}

#[tokio::test]
async fn notify_sms_request_is_exactly_what_notify_expects() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/notifications/sms"))
        .and(header("content-type", "application/json"))
        .respond_with(notify_created())
        .expect(1)
        .mount(&server)
        .await;
    let msg = message(MOBILE_AS_GIVEN);
    let sent = notify(&server).send(&msg).await;
    assert_eq!(
        sent,
        Ok(Sent {
            provider_id: NOTIFICATION_ID.into()
        })
    );

    let received = requests(&server).await;
    let request = &received[0];

    // Authorization: Bearer <HS256 JWT signed with the key's secret, iss = service id>.
    let auth = header_str(request, "authorization");
    let token = auth.strip_prefix("Bearer ").expect("a bearer token");
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss"]);
    validation.set_issuer(&[SERVICE_ID]);
    let data = jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .expect("the token verifies with the secret");
    assert_eq!(data.header.alg, Algorithm::HS256);
    let claims = data.claims.as_object().expect("claims object");
    assert_eq!(
        claims.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["iat", "iss"])
    );
    assert_eq!(claims["iss"], SERVICE_ID);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    let iat = claims["iat"].as_i64().expect("iat is an integer");
    assert!((now - iat).abs() <= 5, "iat {iat} is not near now {now}");
    // The secret signs; it is never sent.
    assert!(!String::from_utf8_lossy(&request.body).contains(SECRET));
    assert!(!auth.contains(SECRET));

    let body: Value = serde_json::from_slice(&request.body).expect("JSON body");
    let expected_reference = format!("rollcall-{}-{}-{}", msg.school, msg.outbox_id, msg.attempt);
    assert_eq!(
        body,
        json!({
            "phone_number": mobile_e164(),
            "template_id": TEMPLATE_ID,
            "personalisation": {"body": msg.text},
            "reference": expected_reference,
        })
    );
    assert_eq!(body["phone_number"], "+447700900123");
}

#[test]
fn reference_carries_no_personal_data() {
    let msg = message("+44 7700 900123");
    let reference = reference(&msg);
    assert!(reference.contains(&msg.outbox_id.to_string()));
    let digits: String = msg.address.chars().filter(char::is_ascii_digit).collect();
    // No run of three digits from the number appears in the reference.
    for i in 0..digits.len() - 2 {
        let run = &digits[i..i + 3];
        assert!(!reference.contains(run), "{reference} contains {run}");
    }
    for word in msg.to_name.split_whitespace() {
        assert!(
            !reference.to_lowercase().contains(&word.to_lowercase()),
            "{reference} contains {word}"
        );
    }
    // Unique per attempt.
    let mut next = msg.clone();
    next.attempt += 1;
    assert_ne!(
        reference,
        rollcall::delivery::channel::sms::reference(&next)
    );
}

#[tokio::test]
async fn notify_letter_sends_the_pdf_base64_second_class() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/notifications/letter"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": NOTIFICATION_ID, "reference": "r", "postage": "second"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut msg = message("1 High Street, Oakton, OK1 2AB");
    let pdf = b"%PDF-1.7 a letter".to_vec();
    msg.attachments = vec![
        Attachment {
            filename: "notes.txt".into(),
            content_type: "text/plain".into(),
            bytes: b"not this one".to_vec(),
        },
        Attachment {
            filename: "letter.pdf".into(),
            content_type: "application/pdf".into(),
            bytes: pdf.clone(),
        },
    ];
    let sent = notify(&server).send_letter(&msg).await;
    assert_eq!(
        sent,
        Ok(Sent {
            provider_id: NOTIFICATION_ID.into()
        })
    );
    let received = requests(&server).await;
    let body: Value = serde_json::from_slice(&received[0].body).expect("JSON");
    assert_eq!(
        body,
        json!({
            "reference": format!("rollcall-oak-{}-{}", msg.outbox_id, msg.attempt),
            "content": base64_encode(&pdf),
            "postage": "second",
        })
    );
}

#[tokio::test]
async fn notify_letter_without_pdf_or_when_off_is_permanent_and_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;
    let msg = message("1 High Street, Oakton, OK1 2AB");
    assert!(matches!(
        notify(&server).send_letter(&msg).await,
        Err(SendError::Permanent(m)) if m.contains("PDF")
    ));
    let mut config = NotifyConfig::new(api_key(), TEMPLATE_ID);
    config.base_url = server.uri();
    let off = Notify::new(config).expect("valid");
    assert!(matches!(
        off.send_letter(&msg).await,
        Err(SendError::Permanent(m)) if m.contains("notify.letter")
    ));
    server.verify().await;
}

#[tokio::test]
async fn notify_429_is_rate_limited_with_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "7")
                .set_body_json(json!({
                    "errors": [{"error": "TooManyRequestsError",
                                "message": "Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds"}],
                    "status_code": 429
                })),
        )
        .mount(&server)
        .await;
    assert_eq!(
        notify(&server).send(&message(MOBILE_AS_GIVEN)).await,
        Err(SendError::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        })
    );
}

#[tokio::test]
async fn notify_429_without_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429))
        .mount(&server)
        .await;
    assert_eq!(
        notify(&server).send(&message(MOBILE_AS_GIVEN)).await,
        Err(SendError::RateLimited { retry_after: None })
    );
}

#[tokio::test]
async fn notify_400_is_permanent_with_notifys_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errors": [{"error": "BadRequestError",
                        "message": "Cannot send to this recipient when service is in trial mode - see https://www.notifications.service.gov.uk/trial-mode"}],
            "status_code": 400
        })))
        .mount(&server)
        .await;
    match notify(&server).send(&message(MOBILE_AS_GIVEN)).await {
        Err(SendError::Permanent(m)) => {
            assert!(
                m.contains("Cannot send to this recipient when service is in trial mode"),
                "{m}"
            );
            assert!(m.contains("400"), "{m}");
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
}

#[tokio::test]
async fn notify_403_is_permanent_with_notifys_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "errors": [{"error": "AuthError",
                        "message": "Error: Your system clock must be accurate to within 30 seconds"}],
            "status_code": 403
        })))
        .mount(&server)
        .await;
    assert!(matches!(
        notify(&server).send(&message(MOBILE_AS_GIVEN)).await,
        Err(SendError::Permanent(m)) if m.contains("system clock must be accurate")
    ));
}

#[tokio::test]
async fn notify_500_is_ambiguous_and_gateway_errors_are_transient() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!([{"error": "Exception", "message": "Internal server error"}])),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let notify = notify(&server);
    let msg = message(MOBILE_AS_GIVEN);
    assert!(matches!(
        notify.send(&msg).await,
        Err(SendError::Ambiguous(m)) if m.contains("Internal server error")
    ));
    for status in [502, 503, 504] {
        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_string("<html>bad gateway</html>"))
            .mount(&server)
            .await;
        assert!(
            matches!(notify.send(&msg).await, Err(SendError::Transient(_))),
            "{status}"
        );
    }
}

#[tokio::test]
async fn invalid_number_is_permanent_and_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(notify_created())
        .expect(0)
        .mount(&server)
        .await;
    let notify = notify(&server);
    for address in ["01632 960123", "0770 0900", "call the office", ""] {
        match notify.send(&message(address)).await {
            Err(SendError::Permanent(m)) => {
                let expected = parse_uk_mobile(address)
                    .expect_err("not a mobile")
                    .to_string();
                assert_eq!(m, expected);
            }
            other => panic!("{address}: expected Permanent, got {other:?}"),
        }
    }
    let twilio_server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(twilio_created("x"))
        .expect(0)
        .mount(&twilio_server)
        .await;
    assert!(matches!(
        twilio(&twilio_server).send(&message("0300 123 4567")).await,
        Err(SendError::Permanent(m)) if m.contains("0300 123 4567")
    ));
    server.verify().await;
    twilio_server.verify().await;
}

#[tokio::test]
async fn notify_timeout_is_ambiguous_then_lookup_finds_it_by_reference() {
    let server = MockServer::start().await;
    let msg = message(MOBILE_AS_GIVEN);
    let reference = format!("rollcall-oak-{}-{}", msg.outbox_id, msg.attempt);
    Mock::given(method("POST"))
        .and(path("/v2/notifications/sms"))
        .respond_with(notify_created().set_delay(Duration::from_secs(3)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/notifications"))
        .and(query_param("reference", reference.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "notifications": [{
                "id": NOTIFICATION_ID,
                "reference": reference,
                "phone_number": "+447700900123",
                "type": "sms",
                "status": "sending",
                "body": msg.text,
                "created_at": "2025-11-03T09:30:00.000000Z"
            }],
            "links": {"current": "x"}
        })))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/notifications"))
        .and(query_param("reference", "rollcall-oak-42-4"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "notifications": [], "links": {"current": "x"}
        })))
        .expect(1)
        .mount(&server)
        .await;

    let notify = notify_at(&server, Duration::from_millis(500));
    let started = std::time::Instant::now();
    assert!(matches!(
        notify.send(&msg).await,
        Err(SendError::Ambiguous(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(3));

    let found = Some(Sent {
        provider_id: NOTIFICATION_ID.into(),
    });
    assert_eq!(notify.lookup(&reference).await, Ok(found.clone()));
    let provider = SmsProvider::Notify(notify);
    assert_eq!(provider.lookup(&msg).await, Ok(found));
    let mut next = msg.clone();
    next.attempt += 1;
    assert_eq!(provider.lookup(&next).await, Ok(None));
    for request in requests(&server).await {
        if request.method.as_str() == "GET" {
            assert!(header_str(&request, "authorization").starts_with("Bearer "));
        }
    }
}

#[tokio::test]
async fn connection_refused_is_transient() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut config = NotifyConfig::new(api_key(), TEMPLATE_ID);
    config.base_url = format!("http://127.0.0.1:{port}");
    let notify = Notify::new(config).expect("valid");
    assert!(matches!(
        notify.send(&message(MOBILE_AS_GIVEN)).await,
        Err(SendError::Transient(_))
    ));
    let mut config = TwilioConfig::new(ACCOUNT_SID, AUTH_TOKEN);
    config.base_url = format!("http://127.0.0.1:{port}");
    config.from = Some("OAKPRIMARY".into());
    let twilio = Twilio::new(config).expect("valid");
    assert!(matches!(
        twilio.send(&message(MOBILE_AS_GIVEN)).await,
        Err(SendError::Transient(_))
    ));
}

#[tokio::test]
async fn notify_rate_limiter_spaces_requests() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(notify_created())
        .mount(&server)
        .await;
    // 600 a minute is one every 100 ms: 6 sends need at least 5 gaps.
    let mut config = NotifyConfig::new(api_key(), TEMPLATE_ID);
    config.base_url = server.uri();
    config.requests_per_minute = 600;
    let notify = Notify::new(config).expect("valid");
    let started = std::time::Instant::now();
    for _ in 0..6 {
        notify
            .send(&message(MOBILE_AS_GIVEN))
            .await
            .expect("accepted");
    }
    let gaps = Duration::from_secs(60) / 600 * 5;
    assert!(
        started.elapsed() >= gaps - Duration::from_millis(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn notify_config_errors_never_show_the_secret() {
    for key in [
        SECRET.to_owned(),
        format!("name-{SERVICE_ID}{SECRET}"),
        format!("name-{SERVICE_ID}-{}", &SECRET[..35]),
        format!("name-{SERVICE_ID}-{SECRET}x"),
    ] {
        let e = Notify::new(NotifyConfig::new(key.clone(), TEMPLATE_ID))
            .expect_err("malformed key")
            .to_string();
        assert!(e.contains("api_key"), "{e}");
        for part in SECRET.split('-') {
            assert!(!e.contains(part), "{e} shows part of the secret");
        }
    }
    let e = Notify::new(NotifyConfig::new(api_key(), "template"))
        .expect_err("bad template id")
        .to_string();
    assert!(e.contains("sms_template_id"), "{e}");
    let debug = format!("{:?}", NotifyConfig::new(api_key(), TEMPLATE_ID));
    assert!(!debug.contains(SECRET), "{debug}");
}

// ---------------------------------------------------------------------------------------------
// Twilio
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn twilio_happy_path_request_shape() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(twilio_messages_path()))
        .and(basic_auth(ACCOUNT_SID, AUTH_TOKEN))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(twilio_created("x"))
        .expect(1)
        .mount(&server)
        .await;
    let msg = message("+44 (0)7700 900123");
    let sent = twilio(&server).send(&msg).await;
    assert_eq!(
        sent,
        Ok(Sent {
            provider_id: MESSAGE_SID.into()
        })
    );
    let received = requests(&server).await;
    let request = &received[0];
    assert_eq!(
        header_str(request, "authorization"),
        format!(
            "Basic {}",
            base64_encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}").as_bytes())
        )
    );
    let fields = form_fields(&request.body);
    let names: BTreeSet<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["To", "Body", "From"]));
    assert_eq!(field(&fields, "To"), Some(mobile_e164().as_str()));
    assert_eq!(field(&fields, "Body"), Some(msg.text.as_str()));
    assert_eq!(field(&fields, "From"), Some("OAKPRIMARY"));
}

#[tokio::test]
async fn twilio_messaging_service_replaces_from() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(twilio_messages_path()))
        .respond_with(twilio_created("x"))
        .expect(1)
        .mount(&server)
        .await;
    twilio_at(&server, None, Some(SERVICE_SID))
        .send(&message(MOBILE_AS_GIVEN))
        .await
        .expect("accepted");
    let fields = form_fields(&requests(&server).await[0].body);
    assert_eq!(field(&fields, "MessagingServiceSid"), Some(SERVICE_SID));
    assert_eq!(field(&fields, "From"), None);
}

#[tokio::test]
async fn twilio_requests_match_the_contract() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(twilio_created("x"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [], "next_page_uri": null, "page": 0, "page_size": 100
        })))
        .mount(&server)
        .await;
    let msg = message(MOBILE_AS_GIVEN);
    twilio(&server).send(&msg).await.expect("accepted");
    twilio_at(&server, None, Some(SERVICE_SID))
        .send(&msg)
        .await
        .expect("accepted");
    let since = Utc::now() - TimeDelta::minutes(5);
    assert_eq!(twilio(&server).lookup(&msg, since).await, Ok(None));

    let contract = contract_twilio();
    assert_eq!(
        contract["securityScheme"]["accountSid_authToken"]["scheme"],
        "basic"
    );
    let account_pattern = contract["createMessage"]["path_parameters"]["AccountSid"]["pattern"]
        .as_str()
        .expect("pattern");
    assert!(matches_sid_pattern(account_pattern, ACCOUNT_SID));
    let expected_path = contract["createMessage"]["path"]
        .as_str()
        .expect("path")
        .replace("{AccountSid}", ACCOUNT_SID);
    let received = requests(&server).await;
    assert_eq!(received.len(), 3);
    for request in &received[..2] {
        assert_eq!(request.method.as_str(), contract["createMessage"]["method"]);
        assert_eq!(request.url.path(), expected_path);
        assert_eq!(
            header_str(request, "content-type"),
            contract["createMessage"]["content_type"]
        );
        let problems = form_problems(
            &contract["createMessage"]["schema"],
            &form_fields(&request.body),
        );
        assert!(problems.is_empty(), "{problems:?}");
    }
    let list = &received[2];
    assert_eq!(list.method.as_str(), contract["listMessage"]["method"]);
    assert_eq!(list.url.path(), expected_path);
    let names = query_names(list);
    let allowed = contract_query_names(&contract["listMessage"]);
    assert!(names.is_subset(&allowed), "{names:?} not in {allowed:?}");
}

#[tokio::test]
async fn twilio_400_is_permanent_with_code_and_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 21610,
            "message": "Attempt to send to unsubscribed recipient",
            "more_info": "https://www.twilio.com/docs/errors/21610",
            "status": 400
        })))
        .mount(&server)
        .await;
    match twilio(&server).send(&message(MOBILE_AS_GIVEN)).await {
        Err(SendError::Permanent(m)) => {
            assert!(m.contains("21610"), "{m}");
            assert!(m.contains("unsubscribed recipient"), "{m}");
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
}

#[tokio::test]
async fn twilio_429_and_5xx() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "2"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let twilio = twilio(&server);
    let msg = message(MOBILE_AS_GIVEN);
    assert_eq!(
        twilio.send(&msg).await,
        Err(SendError::RateLimited {
            retry_after: Some(Duration::from_secs(2))
        })
    );
    assert!(matches!(
        twilio.send(&msg).await,
        Err(SendError::Transient(_))
    ));
}

#[tokio::test]
async fn twilio_timeout_is_ambiguous_then_lookup_matches_number_and_body() {
    let server = MockServer::start().await;
    let msg = message(MOBILE_AS_GIVEN);
    Mock::given(method("POST"))
        .respond_with(twilio_created(&msg.text).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let since = Utc::now();
    let created = |offset: i64| {
        (since + TimeDelta::seconds(offset))
            .format("%a, %d %b %Y %H:%M:%S +0000")
            .to_string()
    };
    let other_sid = "SM1111111111111111111111111111111a";
    let old_sid = "SM2222222222222222222222222222222b";
    Mock::given(method("GET"))
        .and(path(twilio_messages_path()))
        .and(basic_auth(ACCOUNT_SID, AUTH_TOKEN))
        .and(query_param("To", mobile_e164().as_str()))
        .and(query_param(
            "DateSent>",
            since.format("%Y-%m-%d").to_string().as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [
                // Another text to the same parent: different body.
                {"sid": other_sid, "body": "Another message", "direction": "outbound-api",
                 "date_created": created(1), "to": mobile_e164()},
                // Yesterday's identical text: before `since`.
                {"sid": old_sid, "body": msg.text, "direction": "outbound-api",
                 "date_created": created(-86_400), "to": mobile_e164()},
                {"sid": MESSAGE_SID, "body": msg.text, "direction": "outbound-api",
                 "date_created": created(1), "to": mobile_e164()},
            ],
            "next_page_uri": null
        })))
        .expect(1)
        .mount(&server)
        .await;

    let mut config = TwilioConfig::new(ACCOUNT_SID, AUTH_TOKEN);
    config.base_url = server.uri();
    config.from = Some("OAKPRIMARY".into());
    config.timeout = Duration::from_millis(500);
    let twilio = Twilio::new(config).expect("valid");
    assert!(matches!(
        twilio.send(&msg).await,
        Err(SendError::Ambiguous(_))
    ));
    assert_eq!(
        twilio.lookup(&msg, since).await,
        Ok(Some(Sent {
            provider_id: MESSAGE_SID.into()
        }))
    );
}

#[test]
fn twilio_config_needs_exactly_one_sender() {
    let mut config = TwilioConfig::new(ACCOUNT_SID, AUTH_TOKEN);
    let none = Twilio::new(config.clone()).expect_err("no sender");
    assert!(none.to_string().contains("from"), "{none}");
    config.from = Some("OAKPRIMARY".into());
    config.messaging_service_sid = Some(SERVICE_SID.into());
    let both = Twilio::new(config.clone()).expect_err("two senders");
    assert!(both.to_string().contains("not both"), "{both}");
    config.from = None;
    assert!(Twilio::new(config.clone()).is_ok());
    config.account_sid = "AC123".into();
    let bad = Twilio::new(config.clone()).expect_err("short sid");
    assert!(bad.to_string().contains("account_sid"), "{bad}");
    let debug = format!("{config:?}");
    assert!(!debug.contains(AUTH_TOKEN), "{debug}");
}
