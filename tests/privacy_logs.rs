//! `RUST_LOG=trace` is safe to turn on at a school: a pupil is imported, escalated, previewed
//! and really sent (an email with its letter over a loopback SMTP server, a text through a
//! wiremock GOV.UK Notify), every command running the real binary at `trace`, and none of
//! the child's or the family's details appears anywhere in what was logged.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use mailin_embedded::{Handler, Response, Server, SslConfig};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const UPN: &str = "B801200005001";
const FORENAME: &str = "Zephyrine";
const SURNAME: &str = "Quillfeather";
const DATE_OF_BIRTH: &str = "2017-04-19";
const PARENT: &str = "Marigold";
const ADDRESS: &str = "Larkspur Mews";
const TOWN: &str = "Thistlebury";
const POSTCODE: &str = "TB7 3QX";
const MOBILE: &str = "07700 900417";
const EMAIL: &str = "marigold.q@example.org";

/// Everything that identifies the child or the family, in every form it is stored or sent in.
fn personal_details() -> Vec<String> {
    [
        FORENAME,
        SURNAME,
        DATE_OF_BIRTH,
        PARENT,
        ADDRESS,
        TOWN,
        POSTCODE,
        MOBILE,
        "7700900417",
        "447700900417",
        EMAIL,
        "marigold.q",
    ]
    .iter()
    .map(|s| s.to_ascii_lowercase())
    .collect()
}

#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<Vec<u8>>>>, Option<Vec<u8>>);

impl Handler for Inbox {
    fn data_start(&mut self, _: &str, _: &str, _: bool, _: &[String]) -> Response {
        self.1 = Some(Vec::new());
        mailin_embedded::response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(current) = &mut self.1 {
            current.extend_from_slice(buf);
        }
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        if let (Some(mail), Ok(mut inbox)) = (self.1.take(), self.0.lock()) {
            inbox.push(mail);
        }
        mailin_embedded::response::OK
    }
}

fn start_smtp() -> (u16, Inbox) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("addr").port();
    let inbox = Inbox::default();
    let mut server = Server::new(inbox.clone());
    server
        .with_name("mx.test")
        .with_ssl(SslConfig::None)
        .expect("no TLS")
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (port, inbox)
}

/// Runs the binary with `RUST_LOG` set to `log`; returns (success, stdout, stderr).
fn rollcall(config: &Path, log: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--config")
        .arg(config)
        .args(args)
        .current_dir(config.parent().expect("the config's folder"))
        .env("RUST_LOG", log)
        .env_remove("ROLLCALL_CONFIG")
        .output()
        .expect("run rollcall");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::File::create(dir.join(name))
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write fixture");
}

#[tokio::test(flavor = "multi_thread")]
async fn trace_logging_never_shows_a_pupil_or_a_family() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_owned();
    let (smtp_port, inbox) = start_smtp();
    let notify = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/notifications/sms"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "id": "740e5834-3a29-46b4-9a6f-16142fde533a",
            "reference": "r",
            "content": {"body": "…", "from_number": "GOVUK"},
            "uri": "https://example.invalid/v2/notifications/740e5834",
            "template": {"id": "f33517ff-2a88-4f6e-b855-c550268ce08a", "version": 1,
                         "uri": "https://example.invalid/"},
            "scheduled_for": null
        })))
        .mount(&notify)
        .await;
    // The mother's reply, read back from Notify: her words name the child, her number is hers.
    Mock::given(method("GET"))
        .and(path("/v2/received-text-messages"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "received_text_messages": [{
                "id": "b51f638b-4295-46e0-a06e-cd41eee7c33b",
                "created_at": chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
                "service_id": "26785a09-ab16-4eb0-8407-a37497a57506",
                "notify_number": "07700900000",
                "user_number": "447700900417",
                "content": format!("{FORENAME} {SURNAME} is poorly, from {PARENT} at {ADDRESS}"),
            }],
            "links": {"current": format!("{}/v2/received-text-messages", notify.uri())}
        })))
        .mount(&notify)
        .await;

    // One day absent is enough to text and email home (with the letter attached), so the
    // templates render every part: names, contacts, addresses and phone numbers.
    write(
        &dir,
        "policy.toml",
        r#"
name = "privacy-test"
title = "Privacy test"
[settings]
mass_send_share = 1.0
[[stage]]
id = "absent"
title = "Absent all day"
trigger = { consecutive_absent_days = { days = 1 } }
actions = [
  { channel = "sms", to = "contacts", template = "first_day" },
  { channel = "email", to = "parental_responsibility", template = "day_three" },
]
"#,
    );
    write(
        &dir,
        "rollcall.toml",
        &format!(
            r#"
[database]
url = "sqlite://rollcall.db"

[school]
id = "oak"
name = "Oak Primary"
urn = "100001"
la_code = "886"
policy = "{policy}"
[school.contact]
phone = "01632 960000"
email = "office@oak.example"
[school.staff]
attendance_officer = "attendance@oak.example"

[[calendar.terms]]
name = "Autumn 2025"
start = "2025-09-01"
end = "2025-12-19"

[delivery]
mode = "live"
sms = "notify"
outbox_dir = "outbox"
[delivery.email]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "Oak Primary <office@oak.example>"
timeout_seconds = 5
[replies]
enabled = true

[delivery.notify]
base_url = "{notify}"
api_key = "rollcall_test-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0"
sms_template_id = "f33517ff-2a88-4f6e-b855-c550268ce08a"
"#,
            policy = dir.join("policy.toml").display(),
            notify = notify.uri(),
        ),
    );
    write(
        &dir,
        "pupils.csv",
        &format!(
            "upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date\n\
             {UPN},{FORENAME},{SURNAME},{DATE_OF_BIRTH},3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,\n"
        ),
    );
    write(
        &dir,
        "contacts.csv",
        &format!(
            "upn,name,relationship,priority,email,mobile,parental_responsibility,address_line_1,address_line_2,town,postcode\n\
             {UPN},{PARENT} {SURNAME},Mother,1,{EMAIL},{MOBILE},Y,4 {ADDRESS},,{TOWN},{POSTCODE}\n"
        ),
    );
    write(
        &dir,
        "marks.csv",
        &format!("upn,date,session,mark\n{UPN},2025-09-08,AM,N\n{UPN},2025-09-08,PM,N\n"),
    );

    let config = dir.join("rollcall.toml");
    let logs = tokio::task::spawn_blocking(move || {
        let mut logs = String::new();
        let mut step = |log: &str, args: &[&str]| {
            let (ok, stdout, stderr) = rollcall(&config, log, args);
            assert!(ok, "rollcall {args:?} failed:\n{stdout}\n{stderr}");
            logs.push_str(&stderr);
        };
        step("trace", &["import", "pupils", "pupils.csv"]);
        step("trace", &["import", "contacts", "contacts.csv"]);
        step(
            "trace",
            &["import", "marks", "marks.csv", "--by", "Test (Office)"],
        );
        step("trace", &["escalate", "--as-of", "2025-09-08T16:00"]);
        step(
            "trace",
            &[
                "preview",
                "day_three",
                "--upn",
                UPN,
                "--as-of",
                "2025-09-08T16:00",
            ],
        );
        // Asking for the template engine by name does not turn it back on.
        step(
            "trace,handlebars=trace,handlebars::render=trace",
            &[
                "preview",
                "first_day",
                "--upn",
                UPN,
                "--as-of",
                "2025-09-08T09:45",
            ],
        );
        step("trace", &["deliver"]);
        step("trace", &["status"]);
        // A parent's reply: read from Notify, matched, listed.
        step("trace", &["replies", "poll"]);
        step("trace", &["replies", "list"]);
        logs
    })
    .await
    .expect("the commands ran");

    // The details really went through the code that logs: both messages arrived carrying them.
    let mails = inbox.0.lock().expect("inbox").clone();
    assert_eq!(mails.len(), 1, "one email home");
    let mail = mailparse::parse_mail(&mails[0]).expect("a parsable email");
    let text = mail.subparts.iter().fold(String::new(), |mut all, part| {
        collect_text(part, &mut all);
        all
    });
    assert!(text.contains(FORENAME), "the email names the child: {text}");
    let all = notify.received_requests().await.expect("recorded requests");
    let requests: Vec<_> = all.iter().filter(|r| r.method.as_str() == "POST").collect();
    assert_eq!(requests.len(), 1, "one text home");
    assert!(
        all.iter()
            .any(|r| r.url.path() == "/v2/received-text-messages"),
        "the reply was read from Notify"
    );
    let mut body = String::new();
    requests[0]
        .body
        .as_slice()
        .read_to_string(&mut body)
        .expect("utf-8 request");
    assert!(body.contains(FORENAME), "the text names the child: {body}");

    // Logging really was at trace: the database's and the HTTP client's events are there.
    assert!(
        logs.contains("\"level\":\"TRACE\""),
        "no trace events:\n{logs}"
    );
    assert!(logs.contains("\"level\":\"DEBUG\""), "no debug events");
    assert!(logs.contains("sqlx::query"), "no statements logged");

    let lower = logs.to_ascii_lowercase();
    for detail in personal_details() {
        if let Some(at) = lower.find(&detail) {
            let line_start = lower[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = lower[at..].find('\n').map_or(lower.len(), |i| at + i);
            panic!(
                "\"{detail}\" appears in the logs:\n{}",
                &logs[line_start..line_end.min(line_start + 2000)]
            );
        }
    }
}

fn collect_text(part: &mailparse::ParsedMail<'_>, out: &mut String) {
    if part.subparts.is_empty() {
        if part.ctype.mimetype.starts_with("text/") {
            out.push_str(&part.get_body().unwrap_or_default());
        }
    } else {
        for sub in &part.subparts {
            collect_text(sub, out);
        }
    }
}
