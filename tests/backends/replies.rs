//! Issue 16: parents' replies arriving. GOV.UK Notify's received text messages are read from
//! a stand-in built from Notify's published spec (`GET /v2/received-text-messages`, newest
//! first, `older_than` paging, `links.next` while a page has messages); Twilio's webhook is
//! posted to a console on a loopback port. On SQLite and PostgreSQL.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, ensure};
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use rollcall::config::Config;
use rollcall::daemon::Daemon;
use rollcall::register::store::Store;
use rollcall::schedule::Clock;
use serde_json::{Value, json};
use sqlx::Row;
use tokio_util::sync::CancellationToken;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SERVICE_ID: &str = "26785a09-ab16-4eb0-8407-a37497a57506";
const SECRET: &str = "3d844edf-8d35-48ac-975b-e847b4f122b0";
const TEMPLATE_ID: &str = "f33517ff-2a88-4f6e-b855-c550268ce08a";
/// The school's receiving number, as Notify shows it.
const NOTIFY_NUMBER: &str = "07700900456";

/// "Now" for every test: Wednesday 3 September 2025, 10:00 UTC.
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-09-03T10:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .expect("a fixed time")
}

/// The n-th reply of the morning: its Notify id, received at 08:0n, from 07700 90000n.
fn id(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn message(n: usize) -> Value {
    json!({
        "id": id(n),
        "created_at": format!("2025-09-03 08:{n:02}:00.000000"),
        "service_id": SERVICE_ID,
        "notify_number": NOTIFY_NUMBER,
        "user_number": format!("4477009000{n:02}"),
        "content": format!("Reply {n}: sorry, poorly today"),
    })
}

/// Notify's received text messages for one service: newest first, `page` to a page.
#[derive(Clone)]
struct StandIn {
    /// Newest first.
    messages: Arc<Mutex<Vec<Value>>>,
    page: usize,
    /// Answer 500 once to the request with this `older_than`.
    fail_once: Arc<Mutex<Option<String>>>,
    /// The `older_than` of every request, in order.
    asked: Arc<Mutex<Vec<Option<String>>>>,
}

impl StandIn {
    /// Messages 1..=n, 2 to a page.
    fn with(n: usize) -> StandIn {
        StandIn {
            messages: Arc::new(Mutex::new((1..=n).rev().map(message).collect())),
            page: 2,
            fail_once: Arc::new(Mutex::new(None)),
            asked: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn arrive(&self, n: usize) {
        lock(&self.messages).insert(0, message(n));
    }

    fn asked(&self) -> Vec<Option<String>> {
        std::mem::take(&mut *lock(&self.asked))
    }

    async fn serve(&self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::method("GET"))
            .and(wiremock::matchers::path("/v2/received-text-messages"))
            .respond_with(self.clone())
            .mount(&server)
            .await;
        server
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Respond for StandIn {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let bearer = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer ") && v.len() > 20);
        if !bearer {
            return ResponseTemplate::new(403).set_body_json(json!({
                "status_code": 403,
                "errors": [{"error": "AuthError", "message": "Unauthorized: authentication token must be provided"}]
            }));
        }
        let older_than = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "older_than")
            .map(|(_, v)| v.into_owned());
        lock(&self.asked).push(older_than.clone());
        {
            let mut fail = lock(&self.fail_once);
            if older_than.is_some() && *fail == older_than {
                *fail = None;
                return ResponseTemplate::new(500).set_body_json(json!({
                    "status_code": 500,
                    "errors": [{"error": "Exception", "message": "Internal server error"}]
                }));
            }
        }
        let messages = lock(&self.messages);
        let start = match &older_than {
            None => 0,
            Some(older) => match messages.iter().position(|m| m["id"] == older.as_str()) {
                Some(at) => at + 1,
                None => {
                    return ResponseTemplate::new(404).set_body_json(json!({
                        "status_code": 404,
                        "errors": [{"error": "NoResultFound", "message": "No result found"}]
                    }));
                }
            },
        };
        let page: Vec<Value> = messages
            .iter()
            .skip(start)
            .take(self.page)
            .cloned()
            .collect();
        let base = "https://api.notifications.service.gov.uk/v2/received-text-messages";
        let mut links = json!({ "current": base });
        if let Some(last) = page.last() {
            links["next"] = json!(format!(
                "{base}?older_than={}",
                last["id"].as_str().unwrap_or("")
            ));
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({ "received_text_messages": page, "links": links }))
    }
}

fn notify_config(uri: &str) -> String {
    format!(
        r#"
[delivery]
mode = "live"
sms = "notify"
[delivery.notify]
base_url = "{uri}"
api_key = "rollcall_test-{SERVICE_ID}-{SECRET}"
sms_template_id = "{TEMPLATE_ID}"
[replies]
enabled = true
"#
    )
}

/// A daemon of the test school reading replies from `server`, on a clock stopped at [`now`].
async fn daemon(store: &Store, server: &MockServer) -> Result<Daemon> {
    let text = format!("{}{}", super::CONFIG, notify_config(&server.uri()));
    let config = Config::from_toml(&text, "replies.toml")?;
    Daemon::build_with_store(config, store.clone(), Clock::simulated(now())).await
}

async fn poll(daemon: &Daemon) -> Result<rollcall::reply::notify::PollSummary> {
    daemon
        .poll_replies(&CancellationToken::new())
        .await?
        .context("replies are read from Notify here")
}

/// Every stored reply: (provider id, from, body, received at), oldest first.
async fn stored(store: &Store) -> Result<Vec<(String, String, String, String)>> {
    let rows = sqlx::query(
        "SELECT provider_id, from_number, body, received_at FROM replies
         ORDER BY received_at, provider_id",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("provider_id")?,
                r.try_get("from_number")?,
                r.try_get("body")?,
                r.try_get("received_at")?,
            ))
        })
        .collect()
}

async fn marker(store: &Store) -> Result<Option<String>> {
    let m: Option<Option<String>> =
        sqlx::query_scalar("SELECT walked_through FROM reply_polls WHERE provider = 'notify'")
            .fetch_optional(store.pool())
            .await?;
    Ok(m.flatten())
}

pub async fn notify_replies_are_read_page_by_page_and_taken_once(
    store: Store,
    _dir: &'static Path,
) -> Result<()> {
    let notify = StandIn::with(6);
    let server = notify.serve().await;
    let daemon = daemon(&store, &server).await?;

    let first = poll(&daemon).await?;
    // Six replies, two to a page: three pages, then the empty page that ends the list.
    assert_eq!((first.pages, first.new, first.known), (4, 6, 0));
    assert!(first.finished && !first.gap);
    assert_eq!(
        notify.asked(),
        vec![None, Some(id(5)), Some(id(3)), Some(id(1))],
        "each page asks for the messages older than the last one of the page before"
    );
    let all = stored(&store).await?;
    assert_eq!(all.len(), 6);
    assert_eq!(
        all[0],
        (
            id(1),
            "+447700900001".to_owned(),
            "Reply 1: sorry, poorly today".to_owned(),
            "2025-09-03T08:01:00Z".to_owned()
        ),
        "Notify's 447700900001 is stored as a contact's number is, and its time as UTC"
    );
    assert_eq!(marker(&store).await?, Some(id(6)));

    // A seventh reply: the next walk reads the first page, meets the sixth and stops.
    notify.arrive(7);
    let second = poll(&daemon).await?;
    assert_eq!((second.pages, second.new, second.known), (1, 1, 0));
    assert_eq!(notify.asked(), vec![None]);
    assert_eq!(marker(&store).await?, Some(id(7)));

    // Nothing new: one page, nothing taken, nothing stored twice.
    let third = poll(&daemon).await?;
    assert_eq!((third.pages, third.new, third.known), (1, 0, 0));
    let ids: Vec<String> = stored(&store).await?.into_iter().map(|r| r.0).collect();
    assert_eq!(ids, (1..=7).map(id).collect::<Vec<_>>());
    Ok(())
}

pub async fn a_walk_cut_short_is_walked_again_by_the_next_poll(
    store: Store,
    _dir: &'static Path,
) -> Result<()> {
    let notify = StandIn::with(6);
    *lock(&notify.fail_once) = Some(id(5));
    let server = notify.serve().await;
    let daemon = daemon(&store, &server).await?;

    let e = format!("{:#}", poll(&daemon).await.expect_err("page 2 fails"));
    ensure!(e.contains("page 2") && e.contains("500"), "{e}");
    // Page 1 was taken; the walk did not finish, so no marker was set.
    let ids: Vec<String> = stored(&store).await?.into_iter().map(|r| r.0).collect();
    assert_eq!(ids, vec![id(5), id(6)]);
    assert_eq!(marker(&store).await?, None);

    // The daemon restarted: a new process on the same database reads from the newest again,
    // meets page 1's replies as already stored and takes page 2's and 3's.
    drop(daemon);
    notify.asked();
    let restarted = self::daemon(&store, &server).await?;
    let again = poll(&restarted).await?;
    assert_eq!((again.pages, again.new, again.known), (4, 4, 2));
    assert!(again.finished);
    assert_eq!(stored(&store).await?.len(), 6);
    assert_eq!(marker(&store).await?, Some(id(6)));
    Ok(())
}

pub async fn two_polls_at_once_store_each_reply_once(
    store: Store,
    _dir: &'static Path,
) -> Result<()> {
    let notify = StandIn::with(6);
    let server = notify.serve().await;
    let one = daemon(&store, &server).await?;
    let two = daemon(&store, &server).await?;
    let (a, b) = tokio::join!(poll(&one), poll(&two));
    let (a, b) = (a?, b?);
    assert_eq!(
        a.new + b.new,
        6,
        "each reply stored by one poll: {a:?} {b:?}"
    );
    assert_eq!(a.new + a.known, 6, "{a:?}");
    assert_eq!(b.new + b.known, 6, "{b:?}");
    assert_eq!(stored(&store).await?.len(), 6);
    assert_eq!(marker(&store).await?, Some(id(6)));
    Ok(())
}

pub async fn replies_older_than_notify_keeps_are_reported_lost(
    store: Store,
    _dir: &'static Path,
) -> Result<()> {
    // The last walk finished nine days ago at a message Notify no longer lists.
    let nine_days_ago = now() - TimeDelta::days(9);
    sqlx::query(
        "INSERT INTO reply_polls (provider, walked_through, walked_at) VALUES ('notify', $1, $2)",
    )
    .bind("11111111-1111-4111-8111-111111111111")
    .bind(nine_days_ago.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    .execute(store.pool())
    .await?;
    let notify = StandIn::with(3);
    let server = notify.serve().await;
    let daemon = daemon(&store, &server).await?;
    let summary = poll(&daemon).await?;
    assert_eq!((summary.pages, summary.new), (3, 3));
    assert!(summary.finished && summary.gap, "{summary:?}");
    assert!(summary.line().contains("lost"), "{}", summary.line());
    assert_eq!(marker(&store).await?, Some(id(3)));
    // The next walk finds its marker: no gap.
    let next = poll(&daemon).await?;
    assert!(!next.gap && next.new == 0, "{next:?}");
    Ok(())
}

pub async fn a_refused_notify_key_is_said_plainly(store: Store, _dir: &'static Path) -> Result<()> {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/v2/received-text-messages"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "status_code": 403,
            "errors": [{"error": "AuthError", "message": "Invalid token: API key not found"}]
        })))
        .mount(&server)
        .await;
    let daemon = daemon(&store, &server).await?;
    let e = format!("{:#}", poll(&daemon).await.expect_err("a revoked key"));
    ensure!(
        e.contains("403") && e.contains("API key not found") && e.contains("api_key"),
        "{e}"
    );
    // A body that is not Notify's list names what is wrong, not what it holds.
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "received_text_messages": [{"id": "x", "created_at": "2025-09-03 08:00:00",
                "notify_number": NOTIFY_NUMBER, "user_number": "447700900001"}]
        })))
        .mount(&server)
        .await;
    let daemon = self::daemon(&store, &server).await?;
    let e = format!("{:#}", poll(&daemon).await.expect_err("no content"));
    ensure!(
        e.contains("received_text_messages[0].content") && !e.contains("447700900001"),
        "{e}"
    );
    assert!(stored(&store).await?.is_empty());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Twilio
// ---------------------------------------------------------------------------------------------

const AUTH_TOKEN: &str = "not-a-real-token-0123456789";
const PUBLIC_URL: &str = "https://attendance.example.sch.uk/";

fn twilio_config(replies: bool) -> String {
    format!(
        r#"
[web]
public_url = "{PUBLIC_URL}"
[delivery]
mode = "live"
sms = "twilio"
[delivery.twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "{AUTH_TOKEN}"
from = "+447700900000"
[replies]
enabled = {replies}
"#
    )
}

/// A console of the test school on a loopback port; its base URL.
async fn console(store: &Store, replies: bool) -> Result<(String, CancellationToken)> {
    let text = format!("{}{}", super::CONFIG, twilio_config(replies));
    let config = Config::from_toml(&text, "replies.toml")?;
    let daemon = Daemon::build_with_store(config, store.clone(), Clock::simulated(now())).await?;
    let console = rollcall::web::Console::new(Arc::new(daemon), false)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let stop = CancellationToken::new();
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            let _ = rollcall::web::serve_on(console, listener, stop).await;
        });
    }
    Ok((base, stop))
}

/// HMAC-SHA1 of `text` with the auth token, base64: Twilio's signature.
fn sign(text: &str) -> String {
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        AUTH_TOKEN.as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&key, text.as_bytes()))
}

async fn post(base: &str, form: &str, signature: Option<&str>) -> Result<(u16, String, String)> {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/webhooks/twilio/sms"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned());
    if let Some(s) = signature {
        request = request.header("x-twilio-signature", s);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok((status, kind, response.text().await?))
}

pub async fn a_signed_twilio_reply_is_stored_once_and_a_forged_one_refused(
    store: Store,
    _dir: &'static Path,
) -> Result<()> {
    let (base, stop) = console(&store, true).await?;
    const SID: &str = "SM0123456789abcdef0123456789abcdef";
    let form = format!(
        "ToCountry=GB&MessageSid={SID}&From=%2B447700900001&To=%2B447700900000\
         &Body=Ada+is+ill+today%2C+sorry&AccountSid=AC0123456789abcdef0123456789abcdef&NumSegments=1"
    );
    // What Twilio signs: the URL it posts to (public_url, its slash dropped, + the path), then
    // each field's name and value, decoded, sorted by name.
    let signature = sign(&format!(
        "https://attendance.example.sch.uk/webhooks/twilio/sms\
         AccountSidAC0123456789abcdef0123456789abcdef\
         BodyAda is ill today, sorry\
         From+447700900001\
         MessageSid{SID}\
         NumSegments1\
         To+447700900000\
         ToCountryGB"
    ));
    let (status, kind, body) = post(&base, &form, Some(&signature)).await?;
    assert_eq!(status, 200, "{body}");
    assert!(kind.starts_with("text/xml"), "{kind}");
    assert_eq!(
        body,
        r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#
    );
    let want = vec![(
        SID.to_owned(),
        "+447700900001".to_owned(),
        "Ada is ill today, sorry".to_owned(),
        "2025-09-03T10:00:00Z".to_owned(),
    )];
    assert_eq!(stored(&store).await?, want);

    // Twilio posting it again stores nothing new and still gets its 200.
    let (status, _, _) = post(&base, &form, Some(&signature)).await?;
    assert_eq!(status, 200);
    assert_eq!(stored(&store).await?, want);

    // Forged: another message under the first one's signature, no signature, a signature of
    // the console's own address instead of the public one, a signature that is not base64.
    let forged = form
        .replace("SM0123456789abcdef", "SM9999999999abcdef")
        .replace("Ada+is+ill", "Ada+is+away");
    let own = sign(&format!(
        "{base}/webhooks/twilio/sms\
         AccountSidAC0123456789abcdef0123456789abcdefBodyAda is ill today, sorry\
         From+447700900001MessageSid{SID}NumSegments1To+447700900000ToCountryGB"
    ));
    for (what, form, signature) in [
        ("another body", forged.as_str(), Some(signature.as_str())),
        ("no signature", forged.as_str(), None),
        ("the wrong URL", form.as_str(), Some(own.as_str())),
        ("not base64", forged.as_str(), Some("%%%")),
    ] {
        let (status, _, _) = post(&base, form, signature).await?;
        assert_eq!(status, 403, "{what}");
    }
    assert_eq!(stored(&store).await?, want, "nothing forged was stored");
    // The body is limited (64 KiB): a larger one is refused before anything reads it.
    let huge = format!("{form}&Padding={}", "x".repeat(70 * 1024));
    let (status, _, _) = post(&base, &huge, Some(&signature)).await?;
    assert_eq!(status, 413);
    stop.cancel();

    // With replies off, there is no webhook.
    let (base, stop) = console(&store, false).await?;
    let (status, _, _) = post(&base, &form, Some(&signature)).await?;
    assert_eq!(status, 404);
    stop.cancel();
    Ok(())
}

pub async fn the_daemon_reads_replies_at_start_and_every_poll_seconds(
    store: Store,
    _dir: &'static Path,
) -> Result<()> {
    let notify = StandIn::with(1);
    let server = notify.serve().await;
    let daemon = daemon(&store, &server).await?;
    let stop = CancellationToken::new();
    daemon.pass(&stop).await?;
    assert_eq!(notify.asked(), vec![None, Some(id(1))], "read at start");
    assert_eq!(stored(&store).await?.len(), 1);
    // poll_seconds is 60 by default: not again 59 seconds later, again at 60.
    daemon.clock.advance_to(now() + TimeDelta::seconds(59));
    daemon.pass(&stop).await?;
    assert_eq!(notify.asked(), Vec::<Option<String>>::new());
    notify.arrive(2);
    daemon.clock.advance_to(now() + TimeDelta::seconds(60));
    daemon.pass(&stop).await?;
    assert_eq!(notify.asked(), vec![None]);
    assert_eq!(stored(&store).await?.len(), 2);

    // With the file sink there is nothing to read: Notify is never asked.
    let text = format!(
        "{}{}",
        super::CONFIG,
        notify_config(&server.uri()).replace("mode = \"live\"", "mode = \"file\"")
    );
    let config = Config::from_toml(&text, "replies.toml")?;
    let file = Daemon::build_with_store(config, store.clone(), Clock::simulated(now())).await?;
    file.pass(&stop).await?;
    assert!(file.poll_replies(&stop).await?.is_none());
    assert_eq!(notify.asked(), Vec::<Option<String>>::new());
    Ok(())
}

/// Stops the daemon (cancels its token) when the walk asks for the page after `id`.
struct StopAt {
    inner: StandIn,
    at: String,
    stop: CancellationToken,
}

impl Respond for StopAt {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request
            .url
            .query_pairs()
            .any(|(k, v)| k == "older_than" && v == self.at.as_str())
        {
            self.stop.cancel();
        }
        self.inner.respond(request)
    }
}

pub async fn a_daemon_stopped_mid_walk_reads_on_after_its_restart(
    store: Store,
    _dir: &'static Path,
) -> Result<()> {
    let notify = StandIn::with(6);
    let stop = CancellationToken::new();
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/v2/received-text-messages"))
        .respond_with(StopAt {
            inner: notify.clone(),
            at: id(5),
            stop: stop.clone(),
        })
        .mount(&server)
        .await;
    let daemon = daemon(&store, &server).await?;
    // SIGTERM arrives while page 2 is on its way: the walk takes none of it and stops.
    let cut = daemon
        .poll_replies(&stop)
        .await?
        .context("replies are read from Notify here")?;
    assert_eq!((cut.pages, cut.new, cut.finished), (2, 2, false));
    assert_eq!(marker(&store).await?, None);
    assert_eq!(stored(&store).await?.len(), 2);
    drop(daemon);
    let restarted = self::daemon(&store, &server).await?;
    let again = poll(&restarted).await?;
    assert_eq!((again.new, again.known, again.finished), (4, 2, true));
    assert_eq!(stored(&store).await?.len(), 6);
    Ok(())
}

pub async fn a_list_that_does_not_move_on_is_not_followed_for_ever(
    store: Store,
    _dir: &'static Path,
) -> Result<()> {
    // A list that ignores older_than: the same page, with a next link, every time.
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "received_text_messages": [message(2), message(1)],
            "links": {"current": "x", "next": format!("x?older_than={}", id(1))}
        })))
        .mount(&server)
        .await;
    let daemon = daemon(&store, &server).await?;
    let e = format!(
        "{:#}",
        poll(&daemon).await.expect_err("the same page twice")
    );
    ensure!(e.contains("twice") && e.contains("page 2"), "{e}");
    assert_eq!(stored(&store).await?.len(), 2);
    assert_eq!(marker(&store).await?, None);
    Ok(())
}
