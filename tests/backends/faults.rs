//! Delivery under faults, on both backends: an alert outlives the outage it reports (retried
//! until delivered, a text to a staff mobile as fallback, at most a few waiting at once), a
//! failed message is not shown as about to be tried again, a re-sent email is counted on its
//! row and in `status` and the daemon's log, a restarted daemon takes its school back at
//! once while another waits exactly one lease, and staff are addressed by name.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use mailparse::MailHeaderMap;
use rollcall::config::Config;
use rollcall::daemon::{Daemon, Hold};
use rollcall::register::store::{SchoolId, Store};
use rollcall::schedule::{Clock, instant_text};
use sqlx::Row;
use tokio_util::sync::CancellationToken;

use super::{CONFIG, family};

// Saturday 6 September 2025, 10:00 in London: no scheduled run is due, so a daemon's pass does
// nothing but deliver.
const SATURDAY: &str = "2025-09-06T09:00:00Z";

const NOTIFY_KEY: &str =
    "rollcall_test-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0";
const NOTIFY_TEMPLATE: &str = "f33517ff-2a88-4f6e-b855-c550268ce08a";

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("instant")
        .with_timezone(&Utc)
}

/// The family fixture's school with `staff` lines, `[delivery]` lines and any later tables.
fn config(dir: &Path, staff: &str, delivery: &str) -> Result<Config> {
    let text = format!(
        "{CONFIG}\n[school.staff]\n{staff}\n[delivery]\noutbox_dir = \"{}\"\n{delivery}\n",
        dir.join("outbox").display()
    );
    Ok(Config::from_toml(&text, "faults-test.toml")?)
}

const STAFF: &str =
    "attendance_officer = \"attendance@north.example\"\ndsl = \"dsl@north.example\"";

async fn daemon(store: &Store, config: &Config, clock: &Clock) -> Result<Daemon> {
    Daemon::build_with_store(config.clone(), store.clone(), clock.clone()).await
}

/// A staff email that is not an alert (it fails like any message).
async fn queue_staff_email(store: &Store, school: SchoolId, key: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO outbox (school_id, key, channel, recipient_role, recipient, template,
                             status, requires_approval, hold_reason, created_at)
         VALUES ($1, $2, 'email', 'dsl', 'dsl', 'alert', 'queued', 0, 'the weekly figures',
                 '2025-09-06T10:00:00')
         RETURNING id",
    )
    .bind(school.0)
    .bind(key)
    .fetch_one(store.pool())
    .await?)
}

async fn row(store: &Store, id: i64) -> Result<(String, i64, Option<String>, i64)> {
    let r =
        sqlx::query("SELECT status, attempts, next_attempt_at, resends FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_one(store.pool())
            .await?;
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
}

async fn status(
    store: &Store,
    config: &Config,
    school: SchoolId,
    now: DateTime<Utc>,
) -> Result<rollcall::status::SchoolStatus> {
    rollcall::status::school_status(store, config, config.school(None)?, school, 15, now).await
}

/// A loopback SMTP server that keeps what it is given.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<Vec<u8>>>>, Option<Vec<u8>>);

impl mailin_embedded::Handler for Inbox {
    fn data_start(&mut self, _: &str, _: &str, _: bool, _: &[String]) -> mailin_embedded::Response {
        self.1 = Some(Vec::new());
        mailin_embedded::response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(mail) = &mut self.1 {
            mail.extend_from_slice(buf);
        }
        Ok(())
    }
    fn data_end(&mut self) -> mailin_embedded::Response {
        if let (Some(mail), Ok(mut all)) = (self.1.take(), self.0.lock()) {
            all.push(mail);
        }
        mailin_embedded::response::OK
    }
}

impl Inbox {
    fn mails(&self) -> Vec<Vec<u8>> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

fn start_smtp(listener: std::net::TcpListener) -> Result<Inbox> {
    let inbox = Inbox::default();
    let mut server = mailin_embedded::Server::new(inbox.clone());
    server
        .with_name("loopback.test")
        .with_ssl(mailin_embedded::SslConfig::None)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    Ok(inbox)
}

fn smtp_section(port: u16) -> String {
    format!(
        "[delivery.email]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n\
         from = \"North Primary <office@north.example>\"\ntimeout_seconds = 2\n"
    )
}

/// The display name and address of an email's `To`.
fn to_of(mail: &[u8]) -> Result<(String, String)> {
    let parsed = mailparse::parse_mail(mail)?;
    // Parsed before its encoded words are decoded, as a mail program does: a comma in the
    // name must not split it into two recipients.
    let to = parsed
        .headers
        .get_first_header("To")
        .context("a To header")?;
    match mailparse::addrparse_header(to)?.extract_single_info() {
        Some(single) => Ok((single.display_name.unwrap_or_default(), single.addr)),
        None => bail!("not one mailbox: {}", to.get_value()),
    }
}

/// The SMTP server is down for good. The message fails after its attempts; the alert about it
/// does not: it is retried (backoff capped) as long as it takes, goes to the staff mobile
/// once as a text after its second failure, shows in `status`, and arrives when the server
/// is back, addressed to the attendance officer by role.
pub async fn an_alert_outlives_the_outage_it_reports(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (_, school) = family(&store, dir).await?;
    let notify = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/v2/notifications/sms"))
        .respond_with(wiremock::ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "id": "740e5834-3a29-46b4-9a6f-16142fde533a",
            "reference": "r",
            "content": {"body": "…", "from_number": "GOVUK"},
            "uri": "https://example.invalid/v2/notifications/740e5834",
            "template": {"id": NOTIFY_TEMPLATE, "version": 1, "uri": "https://example.invalid/"},
            "scheduled_for": null
        })))
        .mount(&notify)
        .await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    drop(listener);
    let cap = 600;
    let config = config(
        dir,
        STAFF,
        &format!(
            "mode = \"live\"\nsms = \"notify\"\nmax_attempts = 2\nretry_base_seconds = 60\n\
             retry_cap_seconds = {cap}\nalerts_fallback = \"sms:07700 900999\"\n\
             alerts_fallback_after = 2\n{}\n[delivery.notify]\nbase_url = \"{}\"\n\
             api_key = \"{NOTIFY_KEY}\"\nsms_template_id = \"{NOTIFY_TEMPLATE}\"\n",
            smtp_section(port),
            notify.uri()
        ),
    )?;
    let message = queue_staff_email(&store, school, "test/weekly").await?;
    let clock = Clock::simulated(utc(SATURDAY));
    let d = daemon(&store, &config, &clock).await?;
    let stop = CancellationToken::new();
    let deliver = || d.deliverer.deliver_due(&d.schools[0], &stop);
    let next_attempt = |id: i64| {
        let store = store.clone();
        async move {
            row(&store, id)
                .await?
                .2
                .as_deref()
                .map(utc)
                .context("a next attempt")
        }
    };

    deliver().await?;
    clock.advance_to(next_attempt(message).await?);
    let s = deliver().await?;
    assert_eq!(s.failed, 1, "{s:?}");
    let (state, attempts, next, _) = row(&store, message).await?;
    assert_eq!((state.as_str(), attempts), ("failed", 2));
    assert_eq!(next, None, "a failed message has no next attempt");
    let alert: i64 = sqlx::query_scalar("SELECT id FROM outbox WHERE key LIKE '%/alert/failed-%'")
        .fetch_one(store.pool())
        .await?;
    // `status` does not promise an attempt that will never come.
    let st = status(&store, &config, school, clock.now()).await?;
    let failed = st
        .failed
        .iter()
        .find(|l| l.starts_with(&format!("#{message} ")))
        .context("the failed message in status")?;
    assert!(!failed.contains("next attempt"), "{failed}");
    assert!(failed.contains("not tried again"), "{failed}");

    // The alert's first attempt went in the same pass; ten more, each at its time.
    assert_eq!(row(&store, alert).await?.1, 1);
    for _ in 0..11 {
        let due = next_attempt(alert).await?;
        assert!(
            due - clock.now() <= Duration::seconds(cap),
            "the wait is capped at {cap} s: {due} from {}",
            clock.now()
        );
        clock.advance_to(due);
        deliver().await?;
    }
    let (state, attempts, _, _) = row(&store, alert).await?;
    assert_eq!(
        (state.as_str(), attempts),
        ("queued", 12),
        "an alert is never given up, whatever max_attempts says"
    );

    // The fallback went once, as a text to the staff mobile, saying what the alert says.
    let texts = notify.received_requests().await.context("requests")?;
    assert_eq!(texts.len(), 1, "one fallback text, not one per attempt");
    let body: serde_json::Value = serde_json::from_slice(&texts[0].body)?;
    assert_eq!(body["phone_number"], "+447700900999");
    let said = body["personalisation"]["body"].as_str().context("text")?;
    assert!(
        said.starts_with("rollcall, North Primary: Alert "),
        "{said}"
    );
    assert!(
        said.contains(&format!("It says: Message {message} ")),
        "{said}"
    );
    assert!(said.chars().count() <= 330, "two segments at most: {said}");

    let st = status(&store, &config, school, clock.now()).await?;
    assert_eq!(st.alerts.len(), 1, "{:?}", st.alerts);
    let line = &st.alerts[0];
    assert!(
        line.starts_with(&format!(
            "#{alert} email to attendance officer, 12 attempt(s) failed"
        )),
        "{line}"
    );
    assert!(line.contains("; next attempt "), "{line}");
    assert!(
        line.contains("; fallback #") && line.ends_with(" sent"),
        "{line}"
    );

    // The server comes back: the alert arrives, addressed by role and school.
    let inbox = start_smtp(std::net::TcpListener::bind(("127.0.0.1", port))?)?;
    clock.advance_to(next_attempt(alert).await?);
    let s = deliver().await?;
    assert_eq!(s.sent, 1, "{s:?}");
    assert_eq!(row(&store, alert).await?.0, "sent");
    let mails = inbox.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(
        to_of(&mails[0])?,
        (
            "Attendance officer, North Primary".to_owned(),
            "attendance@north.example".to_owned()
        )
    );
    assert!(
        status(&store, &config, school, clock.now())
            .await?
            .alerts
            .is_empty()
    );
    Ok(())
}

/// Seven alerts at once with room for three: three go on their own, the other four go as one
/// digest that carries each of them in full; nothing is lost and nothing is sent twice.
pub async fn alerts_beyond_the_limit_go_as_one_digest(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (_, school) = family(&store, dir).await?;
    let config = config(dir, STAFF, "alerts_waiting_max = 3")?;
    let now: NaiveDateTime = "2025-09-06T10:00:00".parse()?;
    for n in 1..=7 {
        rollcall::delivery::outbox::queue_alert(
            &store,
            school,
            &format!("problem-{n}"),
            &format!("problem number {n}"),
            now,
        )
        .await?;
    }
    let clock = Clock::simulated(utc(SATURDAY));
    let d = daemon(&store, &config, &clock).await?;
    let s = d
        .deliverer
        .deliver_due(&d.schools[0], &CancellationToken::new())
        .await?;
    assert_eq!((s.alerts_folded, s.delivered), (4, 4), "{s:?}");
    let rows: Vec<(i64, String, String)> =
        sqlx::query("SELECT id, key, status FROM outbox ORDER BY id")
            .fetch_all(store.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_>>()?;
    let state = |n: usize| rows[n - 1].2.as_str();
    assert_eq!(
        (1..=7).map(state).collect::<Vec<_>>(),
        [
            "delivered",
            "delivered",
            "delivered",
            "folded",
            "folded",
            "folded",
            "folded"
        ],
        "the oldest go on their own: {rows:?}"
    );
    let digest = rows.get(7).context("a digest")?;
    assert!(digest.1.contains("/alert/digest-"), "{digest:?}");
    assert_eq!(digest.2, "delivered");
    let eml = std::fs::read(
        dir.join("outbox/north/2025-09-06/email")
            .join(format!("{}.eml", digest.0)),
    )?;
    let parsed = mailparse::parse_mail(&eml)?;
    let text = if parsed.subparts.is_empty() {
        parsed.get_body()?
    } else {
        parsed.subparts[0].get_body()?
    };
    assert!(text.contains("4 alerts are in this one message"), "{text}");
    for n in 4..=7 {
        assert!(
            text.contains(&format!("Alert {}", rows[n - 1].0))
                && text.contains(&format!("problem number {n}")),
            "alert {n} is in the digest: {text}"
        );
    }
    for n in 1..=3 {
        assert!(!text.contains(&format!("problem number {n}\n")), "{text}");
    }
    let st = status(&store, &config, school, clock.now()).await?;
    assert_eq!(st.outbox.get("folded"), Some(&4));
    Ok(())
}

/// A daemon dies while an email is on the wire, twice: each time the next attempt cannot ask
/// the SMTP server whether it arrived, so it sends again, and each possible second copy is
/// counted on the message (surviving the daemon), in `status` and in the daemon's log.
pub async fn a_resent_email_is_counted_on_its_message(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (_, school) = family(&store, dir).await?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let inbox = start_smtp(listener)?;
    let config = config(
        dir,
        STAFF,
        &format!("mode = \"live\"\n{}", smtp_section(port)),
    )?;
    let message = queue_staff_email(&store, school, "test/weekly").await?;
    let clock = Clock::simulated(utc(SATURDAY));
    let died_sending = || {
        sqlx::query(
            "UPDATE outbox SET status = 'sending', lease_owner = 'dead', lease_until = $1,
                    attempts = attempts + 1 WHERE id = $2",
        )
        .bind("2025-09-06T08:00:00Z")
        .bind(message)
        .execute(store.pool())
    };

    died_sending().await?;
    let d = daemon(&store, &config, &clock).await?;
    take_thread_log();
    let report = d.pass(&CancellationToken::new()).await?;
    let logged = take_thread_log();
    assert_eq!(
        (
            report.delivery.recovered,
            report.delivery.resent_unconfirmed,
            report.delivery.sent
        ),
        (1, 1, 1)
    );
    assert_eq!(row(&store, message).await?, ("sent".to_owned(), 2, None, 1));
    let line = logged
        .lines()
        .find(|l| l.contains("\"message\":\"delivery\""))
        .with_context(|| format!("a delivery line in the log: {logged}"))?;
    let line: serde_json::Value = serde_json::from_str(line)?;
    assert_eq!(line["fields"]["resent_unconfirmed"], 1, "{line}");
    assert_eq!(line["fields"]["school"], "north", "{line}");

    // And again: a different daemon process, the count carries on from the row.
    died_sending().await?;
    clock.advance_to(clock.now() + Duration::minutes(5));
    let again = daemon(&store, &config, &clock).await?;
    again
        .deliverer
        .deliver_due(&again.schools[0], &CancellationToken::new())
        .await?;
    assert_eq!(row(&store, message).await?, ("sent".to_owned(), 4, None, 2));
    let mails = inbox.mails();
    assert_eq!(mails.len(), 2, "two copies went out");
    let ids: Vec<String> = mails
        .iter()
        .map(|m| {
            mailparse::parse_mail(m)
                .ok()
                .and_then(|p| p.headers.get_first_value("Message-ID"))
                .unwrap_or_default()
        })
        .collect();
    assert!(!ids[0].is_empty() && ids[0] == ids[1], "{ids:?}");
    let resent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox_events WHERE outbox_id = $1 AND event = 'resent'",
    )
    .bind(message)
    .fetch_one(store.pool())
    .await?;
    assert_eq!(resent, 2);

    let st = status(&store, &config, school, clock.now()).await?;
    assert_eq!(st.resends, 2);
    assert_eq!(st.resent.len(), 1, "{:?}", st.resent);
    assert!(
        st.resent[0].starts_with(&format!(
            "#{message} email alert after 4 attempt(s), 2 possible extra copies"
        )),
        "{}",
        st.resent[0]
    );
    let mut text = Vec::new();
    rollcall::status::write_text(&st, &mut text)?;
    let text = String::from_utf8(text)?;
    assert!(
        text.contains("sent again after an unknown outcome: 2 time(s)"),
        "{text}"
    );
    Ok(())
}

thread_local! {
    static THREAD_LOG: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Each backend test runs on its own thread (a current-thread runtime), so a process-wide
/// logger that writes into a per-thread buffer gives each test its own log. It is installed
/// before any test starts: a logger set up later, inside one test, can miss events whose
/// call sites another test's thread registered at the same moment.
pub fn install_thread_log() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(|| ThreadLog)
        .try_init();
}

/// What this thread logged since the last call.
fn take_thread_log() -> String {
    THREAD_LOG
        .with(|log| String::from_utf8_lossy(&std::mem::take(&mut *log.borrow_mut())).into_owned())
}

struct ThreadLog;

impl std::io::Write for ThreadLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        THREAD_LOG.with(|log| log.borrow_mut().extend_from_slice(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The school lease is configurable (30 s here). A daemon restarted on the same host and unit
/// takes its school back at once, with the message its previous process was sending; another
/// daemon waits for the lease and takes the school within a second of it running out.
pub async fn a_restarted_daemon_takes_its_school_back_at_once(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (_, school) = family(&store, dir).await?;
    let config = config(dir, STAFF, "\n[daemon]\nschool_lease_seconds = 30")?;
    let t0 = utc(SATURDAY);
    let clock = Clock::simulated(t0);
    let unit = "school-server/rollcall.service";
    let mut first = daemon(&store, &config, &clock).await?;
    first.holder = unit.to_owned();
    assert_eq!(first.try_hold(school).await?, Hold::Held);
    let expires: String =
        sqlx::query_scalar("SELECT expires_at FROM school_leases WHERE school_id = $1")
            .bind(school.0)
            .fetch_one(store.pool())
            .await?;
    assert_eq!(expires, instant_text(t0 + Duration::seconds(30)));
    // It dies with a message on the wire (its row lease has two minutes to run).
    let message = queue_staff_email(&store, school, "test/weekly").await?;
    sqlx::query(
        "UPDATE outbox SET status = 'sending', lease_owner = $1, lease_until = $2, attempts = 1
         WHERE id = $3",
    )
    .bind(&first.owner)
    .bind(instant_text(t0 + Duration::seconds(120)))
    .bind(message)
    .execute(store.pool())
    .await?;
    drop(first);

    // systemd restarts it 5 s later: same host and unit, a new process.
    clock.advance_to(t0 + Duration::seconds(5));
    let mut restarted = daemon(&store, &config, &clock).await?;
    restarted.holder = unit.to_owned();
    assert_eq!(
        restarted.try_hold(school).await?,
        Hold::Held,
        "its own lease, at once"
    );
    let (state, ..) = row(&store, message).await?;
    assert_eq!(
        state, "queued",
        "the message it was sending is back in the queue"
    );
    let ambiguous: i64 = sqlx::query_scalar("SELECT ambiguous FROM outbox WHERE id = $1")
        .bind(message)
        .fetch_one(store.pool())
        .await?;
    assert_eq!(
        ambiguous, 1,
        "and the channel will be asked before it goes again"
    );

    // Another daemon elsewhere is told who holds the school and until when. The restarted
    // one now stops answering: the other takes the school the second its lease runs out.
    let mut other = daemon(
        &store,
        &config,
        &Clock::simulated(t0 + Duration::seconds(6)),
    )
    .await?;
    other.holder = "standby-server/rollcall.service".to_owned();
    let until = instant_text(t0 + Duration::seconds(35));
    assert_eq!(
        other.try_hold(school).await?,
        Hold::HeldBy {
            holder: unit.to_owned(),
            until: until.clone()
        }
    );
    other
        .run(
            CancellationToken::new(),
            Some(t0 + Duration::seconds(200)),
            |_| Ok(()),
            None,
        )
        .await?;
    // Its clean stop released the lease; when it took the school shows in the events of the
    // message it then sent.
    let taken: Option<String> =
        sqlx::query_scalar("SELECT MIN(at) FROM outbox_events WHERE outbox_id = $1 AND actor = $2")
            .bind(message)
            .bind(&other.owner)
            .fetch_one(store.pool())
            .await?;
    let taken = utc(&taken.with_context(|| {
        format!("the other daemon never took the school over (its lease ran out at {until})")
    })?);
    assert!(
        taken > utc(&until) && taken <= utc(&until) + Duration::seconds(1),
        "taken over at {taken}, the lease ran out at {until}"
    );
    Ok(())
}

/// Staff are addressed by the person's name when the config gives one, else by their role in
/// words; the LA by its team's name. Never by a config key.
pub async fn staff_and_la_emails_are_addressed_by_name(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (_, school) = family(&store, dir).await?;
    let config = config(
        dir,
        "attendance_officer = \"Jo Bloggs <jo@north.example>\"\ndsl = \"dsl@north.example\"\n\
         la = \"attendance@la.example\"",
        "",
    )?;
    let mut ids = Vec::new();
    for role in ["attendance_officer", "dsl", "la"] {
        ids.push(
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO outbox (school_id, key, channel, recipient_role, recipient, template,
                                     status, requires_approval, hold_reason, created_at)
                 VALUES ($1, $2, 'email', $3, $3, 'alert', 'queued', 0, 'a note', '2025-09-06T10:00:00')
                 RETURNING id",
            )
            .bind(school.0)
            .bind(format!("test/{role}"))
            .bind(role)
            .fetch_one(store.pool())
            .await?,
        );
    }
    let d = daemon(&store, &config, &Clock::simulated(utc(SATURDAY))).await?;
    d.deliverer
        .deliver_due(&d.schools[0], &CancellationToken::new())
        .await?;
    let to = |id: i64| {
        std::fs::read(dir.join(format!("outbox/north/2025-09-06/email/{id}.eml")))
            .map_err(anyhow::Error::from)
            .and_then(|eml| to_of(&eml))
    };
    assert_eq!(
        to(ids[0])?,
        ("Jo Bloggs".to_owned(), "jo@north.example".to_owned())
    );
    assert_eq!(
        to(ids[1])?,
        (
            "Designated safeguarding lead, North Primary".to_owned(),
            "dsl@north.example".to_owned()
        )
    );
    assert_eq!(
        to(ids[2])?,
        (
            "Local authority attendance team".to_owned(),
            "attendance@la.example".to_owned()
        )
    );
    Ok(())
}
