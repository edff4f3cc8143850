//! The email channel against real SMTP servers on 127.0.0.1: what a parent's mail system
//! receives, and how each way a server can fail is reported to the outbox.
//!
//! Most servers are `mailin-embedded`, bound to an OS-assigned port through a listener we
//! open ourselves (mailin cannot report the port it bound). A few failures mailin cannot act
//! out (a connection dropped without a reply) use a scripted one-connection server.
//!
//! Clean-up: mailin-embedded 0.8 has no way to stop a server (`serve` loops on `accept`
//! forever), so each test closes its pooled SMTP connections (`SmtpSender::shutdown`),
//! which ends the server's sessions, and the idle listener thread ends with the test
//! process. Nothing here talks to anything but 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::message::Mailbox;
use mailin_embedded::{Handler, Response, Server, SslConfig};
use mailparse::{MailHeaderMap, ParsedMail};
use rollcall::delivery::channel::email::{
    SmtpConfig, SmtpConfigError, SmtpSecurity, SmtpSender, build_message, to_eml,
};
use rollcall::delivery::channel::{Attachment, Outgoing, SendError};

const FROM: &str = "Oakfield Primary <attendance@oakfield.sch.uk>";

// ---------------------------------------------------------------------------------------
// A collecting SMTP server

#[derive(Debug, Clone)]
struct Received {
    mail_from: String,
    rcpt_to: Vec<String>,
    data: Vec<u8>,
}

/// What the server answers; `None` is a plain 250.
///
/// A negative `data_end` reply other than 421 is not offered: mailin then stays in the DATA
/// state and swallows the client's QUIT as message text, and lettre waits for the QUIT
/// reply without a timeout. The scripted server covers 5xx after the body instead.
#[derive(Clone, Default)]
struct Script {
    rcpt: Option<(u16, &'static str)>,
    /// Reply to the DATA command itself.
    data: Option<(u16, &'static str)>,
    /// 421 only (mailin closes the connection after it).
    data_end: Option<(u16, &'static str)>,
    /// Silence after the message body, before the final reply.
    data_end_delay: Duration,
}

#[derive(Clone)]
struct Collector {
    inbox: Arc<Mutex<Vec<Received>>>,
    sessions: Arc<AtomicUsize>,
    script: Script,
    current: Option<Received>,
}

fn reply(answer: Option<(u16, &'static str)>) -> Response {
    match answer {
        Some((code, text)) => Response::custom(code, text.to_owned()),
        None => mailin_embedded::response::OK,
    }
}

impl Handler for Collector {
    fn helo(&mut self, _ip: std::net::IpAddr, _domain: &str) -> Response {
        self.sessions.fetch_add(1, Ordering::SeqCst);
        mailin_embedded::response::OK
    }

    fn rcpt(&mut self, _to: &str) -> Response {
        reply(self.script.rcpt)
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        if self.script.data.is_some() {
            return reply(self.script.data);
        }
        self.current = Some(Received {
            mail_from: from.to_owned(),
            rcpt_to: to.to_vec(),
            data: Vec::new(),
        });
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(current) = &mut self.current {
            current.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        std::thread::sleep(self.script.data_end_delay);
        let current = self.current.take();
        if self.script.data_end.is_some() {
            return reply(self.script.data_end);
        }
        if let Some(current) = current {
            self.inbox.lock().unwrap().push(current);
        }
        mailin_embedded::response::OK
    }
}

struct TestServer {
    port: u16,
    inbox: Arc<Mutex<Vec<Received>>>,
    sessions: Arc<AtomicUsize>,
}

impl TestServer {
    fn start(script: Script) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let sessions = Arc::new(AtomicUsize::new(0));
        let handler = Collector {
            inbox: Arc::clone(&inbox),
            sessions: Arc::clone(&sessions),
            script,
            current: None,
        };
        let mut server = Server::new(handler);
        server
            .with_name("mx.test")
            .with_ssl(SslConfig::None)
            .expect("no TLS")
            .with_num_threads(8)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        TestServer {
            port,
            inbox,
            sessions,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().clone()
    }
}

/// A port on 127.0.0.1 with nothing listening (bound once by the OS, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// How a scripted session ends.
#[derive(Clone, Copy)]
enum Ending {
    /// Hang up when RCPT TO arrives, before any reply.
    HangUpAfterRcpt,
    /// Hang up once the whole message is in, before the final reply.
    HangUpAfterBody,
    /// Give this final reply to the message, then answer QUIT.
    ReplyAfterBody(&'static str),
    /// Offer AUTH PLAIN and refuse the credentials (535).
    RefuseLogin,
}

/// One SMTP session, played by hand, for endings mailin cannot act out.
fn scripted_server(ending: Ending) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let Ok(read_half) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(read_half);
        let mut out = stream;
        let _ = out.write_all(b"220 scripted ESMTP\r\n");
        let mut in_body = false;
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if in_body {
                if line == ".\r\n" {
                    in_body = false;
                    match ending {
                        // The message is in; drop the connection without a reply.
                        Ending::HangUpAfterBody => return,
                        Ending::ReplyAfterBody(answer) => {
                            let _ = out.write_all(format!("{answer}\r\n").as_bytes());
                        }
                        Ending::HangUpAfterRcpt | Ending::RefuseLogin => {}
                    }
                }
                continue;
            }
            let command = line.to_ascii_uppercase();
            let answer: &[u8] = if command.starts_with("EHLO") {
                b"250-scripted\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
            } else if command.starts_with("AUTH") && matches!(ending, Ending::RefuseLogin) {
                b"535 5.7.8 authentication failed\r\n"
            } else if command.starts_with("RCPT") && matches!(ending, Ending::HangUpAfterRcpt) {
                return;
            } else if command.starts_with("DATA") {
                in_body = true;
                b"354 go ahead\r\n"
            } else if command.starts_with("QUIT") {
                let _ = out.write_all(b"221 bye\r\n");
                return;
            } else {
                b"250 ok\r\n"
            };
            if out.write_all(answer).is_err() {
                return;
            }
        }
    });
    port
}

// ---------------------------------------------------------------------------------------
// Messages and senders

fn fake_pdf() -> Vec<u8> {
    let mut pdf = b"%PDF-1.4\n".to_vec();
    // Every byte value, so any 8-bit mangling on the way shows.
    while pdf.len() < 20 * 1024 {
        pdf.extend(0u8..=255);
    }
    pdf.extend_from_slice(b"\n%%EOF\n");
    pdf
}

fn outgoing(outbox_id: i64, attempt: u32) -> Outgoing {
    Outgoing {
        outbox_id,
        attempt,
        school: "oakfield".into(),
        to_name: "Zoë Lovelace".into(),
        address: "zoe.lovelace@example.com".into(),
        subject: "Attendance at Oakfield Primary — today".into(),
        text: "Dear Zoë Lovelace,\n\nWe have not seen Ada at school today.\n".into(),
        html: Some("<p>Dear Zoë Lovelace,</p><p>We have not seen Ada at school today.</p>".into()),
        attachments: vec![Attachment {
            filename: "letter.pdf".into(),
            content_type: "application/pdf".into(),
            bytes: fake_pdf(),
        }],
    }
}

fn config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: FROM.into(),
        reply_to: Some("Oakfield Office <office@oakfield.sch.uk>".into()),
        timeout_seconds: 5,
        pool_size: 2,
    }
}

fn sender(port: u16) -> SmtpSender {
    SmtpSender::new(&config(port)).expect("valid config")
}

fn header(mail: &ParsedMail<'_>, name: &str) -> Option<String> {
    mail.headers.get_first_value(name)
}

/// A text part as a reader sees it (line ends normalised, trailing blank lines dropped:
/// SMTP adds a CRLF before the final dot).
fn body_text(part: &ParsedMail<'_>) -> String {
    let body = part.get_body().expect("decodable body");
    body.replace("\r\n", "\n").trim_end().to_owned()
}

fn assert_transient(result: Result<impl std::fmt::Debug, SendError>) {
    assert!(
        matches!(result, Err(SendError::Transient(_))),
        "expected Transient, got {result:?}"
    );
}

fn assert_permanent(result: Result<impl std::fmt::Debug, SendError>) {
    assert!(
        matches!(result, Err(SendError::Permanent(_))),
        "expected Permanent, got {result:?}"
    );
}

fn assert_ambiguous(result: Result<impl std::fmt::Debug, SendError>) {
    assert!(
        matches!(result, Err(SendError::Ambiguous(_))),
        "expected Ambiguous, got {result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// What arrives

#[tokio::test]
async fn a_parent_receives_html_plain_text_and_the_letter() {
    let server = TestServer::start(Script::default());
    let sender = sender(server.port);
    let msg = outgoing(42, 1);

    let sent = sender.send(&msg).await.expect("accepted");
    assert_eq!(sent.provider_id, "<rollcall.oakfield.42@oakfield.sch.uk>");

    let received = server.received();
    assert_eq!(received.len(), 1);
    let envelope = &received[0];
    assert_eq!(
        envelope.rcpt_to,
        vec!["zoe.lovelace@example.com".to_owned()]
    );
    assert_eq!(envelope.mail_from, "attendance@oakfield.sch.uk");

    let mail = mailparse::parse_mail(&envelope.data).expect("parses");
    let to = header(&mail, "To").expect("To");
    assert!(to.contains("Zoë Lovelace"), "To: {to}");
    assert!(to.contains("<zoe.lovelace@example.com>"), "To: {to}");
    let from = header(&mail, "From").expect("From");
    assert!(from.contains("Oakfield Primary") && from.contains("<attendance@oakfield.sch.uk>"));
    let reply_to = header(&mail, "Reply-To").expect("Reply-To");
    assert!(reply_to.contains("<office@oakfield.sch.uk>"), "{reply_to}");
    assert_eq!(
        header(&mail, "Subject").as_deref(),
        Some("Attendance at Oakfield Primary — today")
    );
    assert_eq!(
        header(&mail, "Message-ID").as_deref(),
        Some("<rollcall.oakfield.42@oakfield.sch.uk>")
    );
    assert_eq!(
        header(&mail, "Auto-Submitted").as_deref(),
        Some("auto-generated")
    );

    // multipart/mixed [ multipart/alternative [ text/plain, text/html ], application/pdf ]
    assert_eq!(mail.ctype.mimetype, "multipart/mixed");
    assert_eq!(mail.subparts.len(), 2);
    let alternative = &mail.subparts[0];
    assert_eq!(alternative.ctype.mimetype, "multipart/alternative");
    let plain = &alternative.subparts[0];
    let html = &alternative.subparts[1];
    assert_eq!(plain.ctype.mimetype, "text/plain");
    assert_eq!(plain.ctype.charset.to_ascii_lowercase(), "utf-8");
    assert_eq!(body_text(plain), msg.text.trim_end());
    assert_eq!(html.ctype.mimetype, "text/html");
    assert_eq!(
        body_text(html),
        msg.html.as_deref().expect("html").trim_end()
    );

    let pdf = &mail.subparts[1];
    assert_eq!(pdf.ctype.mimetype, "application/pdf");
    let disposition = pdf.get_content_disposition();
    assert_eq!(
        disposition.disposition,
        mailparse::DispositionType::Attachment
    );
    assert_eq!(
        disposition.params.get("filename").map(String::as_str),
        Some("letter.pdf")
    );
    assert_eq!(
        pdf.get_body_raw().expect("pdf body"),
        msg.attachments[0].bytes
    );

    sender.shutdown().await;
}

#[tokio::test]
async fn plain_text_only_is_a_single_part() {
    let server = TestServer::start(Script::default());
    let sender = sender(server.port);
    let mut msg = outgoing(7, 1);
    msg.html = None;
    msg.attachments.clear();

    sender.send(&msg).await.expect("accepted");
    let received = server.received();
    let mail = mailparse::parse_mail(&received[0].data).expect("parses");
    assert_eq!(mail.ctype.mimetype, "text/plain");
    assert!(mail.subparts.is_empty());
    assert_eq!(body_text(&mail), msg.text.trim_end());
    sender.shutdown().await;
}

#[tokio::test]
async fn every_attempt_of_a_row_carries_the_same_message_id() {
    let server = TestServer::start(Script::default());
    let sender = sender(server.port);

    let first = sender.send(&outgoing(42, 1)).await.expect("first");
    let second = sender.send(&outgoing(42, 2)).await.expect("second");
    let other_row = sender.send(&outgoing(43, 1)).await.expect("other row");
    assert_eq!(first, second);
    assert_ne!(first, other_row);

    let ids: Vec<String> = server
        .received()
        .iter()
        .map(|r| {
            let mail = mailparse::parse_mail(&r.data).expect("parses");
            header(&mail, "Message-ID").expect("Message-ID")
        })
        .collect();
    assert_eq!(
        ids,
        vec![
            "<rollcall.oakfield.42@oakfield.sch.uk>",
            "<rollcall.oakfield.42@oakfield.sch.uk>",
            "<rollcall.oakfield.43@oakfield.sch.uk>",
        ]
    );
    sender.shutdown().await;
}

#[test]
fn no_header_but_to_carries_the_recipient() {
    let msg = outgoing(42, 1);
    let from: Mailbox = FROM.parse().expect("from");
    let eml = to_eml(&msg, &from, None).expect("eml");
    let mail = mailparse::parse_mail(&eml).expect("parses");
    for h in &mail.headers {
        let (key, value) = (h.get_key(), h.get_value());
        if key.eq_ignore_ascii_case("To") {
            continue;
        }
        for personal in ["Zoë", "Lovelace", "zoe.lovelace"] {
            assert!(!value.contains(personal), "{key}: {value} names {personal}");
        }
    }
    // And the message builds identically from the public builder.
    let built = build_message(&msg, &from, None).expect("builds");
    assert_eq!(built.envelope().to().len(), 1);
}

// ---------------------------------------------------------------------------------------
// How failures are reported

#[tokio::test]
async fn a_451_is_transient_and_a_550_is_permanent() {
    let cases = [
        (
            Script {
                rcpt: Some((451, "4.7.1 greylisted, try again later")),
                ..Script::default()
            },
            "transient",
        ),
        (
            Script {
                data: Some((451, "4.3.0 local error")),
                ..Script::default()
            },
            "transient",
        ),
        (
            Script {
                data_end: Some((421, "4.3.2 shutting down")),
                ..Script::default()
            },
            "transient",
        ),
        (
            Script {
                rcpt: Some((550, "5.1.1 <zoe.lovelace@example.com>: no such user")),
                ..Script::default()
            },
            "permanent",
        ),
        (
            Script {
                data: Some((554, "5.7.1 no mail accepted from you")),
                ..Script::default()
            },
            "permanent",
        ),
    ];
    for (script, expected) in cases {
        let server = TestServer::start(script);
        let sender = sender(server.port);
        let result = sender.send(&outgoing(1, 1)).await;
        match expected {
            "transient" => assert_transient(result),
            _ => {
                // The server's reply is kept, but without the address it echoed.
                if let Err(SendError::Permanent(text)) = &result {
                    assert!(!text.contains("zoe.lovelace"), "{text}");
                }
                assert_permanent(result);
            }
        }
        assert!(server.received().is_empty());
        sender.shutdown().await;
    }
}

#[tokio::test]
async fn a_refusal_after_the_message_body_is_definite() {
    let cases = [
        ("554 5.6.0 message refused", "permanent"),
        ("452 4.3.1 mailbox full", "transient"),
        ("250 2.0.0 queued as A1", "sent"),
    ];
    for (answer, expected) in cases {
        let smtp = sender(scripted_server(Ending::ReplyAfterBody(answer)));
        let result = smtp.send(&outgoing(1, 1)).await;
        match expected {
            "permanent" => assert_permanent(result),
            "transient" => assert_transient(result),
            _ => assert!(result.is_ok(), "{answer}: {result:?}"),
        }
    }
}

#[tokio::test]
async fn a_refused_login_is_transient_because_it_is_the_configuration_not_the_message() {
    let mut login = config(scripted_server(Ending::RefuseLogin));
    login.username = Some("attendance".into());
    login.password = Some("wrong".into());
    let smtp = SmtpSender::new(&login).expect("config");
    let result = smtp.send(&outgoing(1, 1)).await;
    if let Err(SendError::Transient(text)) = &result {
        assert!(text.contains("username and password"), "{text}");
        assert!(!text.contains("wrong"), "{text}");
    }
    assert_transient(result);
}

#[tokio::test]
async fn no_server_listening_is_transient() {
    let sender = sender(closed_port());
    assert_transient(sender.send(&outgoing(1, 1)).await);
    assert_transient(sender.test_connection().await);
}

#[tokio::test]
async fn a_failed_tls_handshake_is_transient() {
    // A plain-text server on the TLS port: the handshake fails before any SMTP.
    let server = TestServer::start(Script::default());
    let mut tls = config(server.port);
    tls.security = SmtpSecurity::Tls;
    let sender = SmtpSender::new(&tls).expect("config");
    assert_transient(sender.send(&outgoing(1, 1)).await);
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn starttls_required_but_not_offered_is_transient_and_sends_nothing() {
    let server = TestServer::start(Script::default());
    let mut starttls = config(server.port);
    starttls.security = SmtpSecurity::StartTls;
    let sender = SmtpSender::new(&starttls).expect("config");
    assert_transient(sender.send(&outgoing(1, 1)).await);
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn an_invalid_address_is_permanent_without_connecting() {
    let server = TestServer::start(Script::default());
    let sender = sender(server.port);
    for address in [
        "",
        "not-an-address",
        "zoe@",
        "@example.com",
        "zoe@exa mple.com",
    ] {
        let mut msg = outgoing(1, 1);
        msg.address = address.into();
        let result = sender.send(&msg).await;
        if let Err(SendError::Permanent(text)) = &result {
            assert!(
                address.is_empty() || !text.contains(address),
                "the address is not repeated in {text}"
            );
        }
        assert_permanent(result);
    }
    assert_eq!(server.sessions.load(Ordering::SeqCst), 0, "no SMTP session");
}

#[tokio::test]
async fn a_non_ascii_address_the_server_cannot_take_is_permanent() {
    // mailin does not offer SMTPUTF8, so lettre refuses before MAIL FROM.
    let server = TestServer::start(Script::default());
    let sender = sender(server.port);
    let mut msg = outgoing(1, 1);
    msg.address = "zoë@example.com".into();
    assert_permanent(sender.send(&msg).await);
    assert!(server.received().is_empty());
    sender.shutdown().await;
}

#[tokio::test]
async fn silence_after_the_message_is_ambiguous_and_the_message_may_still_arrive() {
    let server = TestServer::start(Script {
        data_end_delay: Duration::from_secs(3),
        ..Script::default()
    });
    let mut quick = config(server.port);
    quick.timeout_seconds = 1; // a whole send gets 2 s
    let sender = SmtpSender::new(&quick).expect("config");

    let started = Instant::now();
    let result = sender.send(&outgoing(42, 1)).await;
    assert!(started.elapsed() < Duration::from_millis(2900));
    if let Err(SendError::Ambiguous(text)) = &result {
        assert!(
            text.contains("<rollcall.oakfield.42@oakfield.sch.uk>"),
            "{text}"
        );
    }
    assert_ambiguous(result);

    // The server did take it in the end: exactly why this is not `Transient`.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.received().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.received().len(), 1);
    sender.shutdown().await;
}

#[tokio::test]
async fn a_dropped_connection_is_ambiguous_wherever_it_happens() {
    // After the body the message may be queued. After RCPT it cannot be, but lettre reports
    // both the same way, so both are ambiguous: the safe side (see the module docs).
    for hang_up in [Ending::HangUpAfterBody, Ending::HangUpAfterRcpt] {
        let smtp = sender(scripted_server(hang_up));
        assert_ambiguous(smtp.send(&outgoing(1, 1)).await);
    }
}

#[tokio::test]
async fn test_connection_reports_a_healthy_server() {
    let server = TestServer::start(Script::default());
    let sender = sender(server.port);
    assert_eq!(sender.test_connection().await, Ok(true));
    sender.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Configuration

#[derive(serde::Deserialize)]
struct Channels {
    channels: ChannelsSection,
}

#[derive(serde::Deserialize)]
struct ChannelsSection {
    email: SmtpConfig,
}

#[test]
fn config_reads_from_toml_with_defaults() {
    let text = r#"
        [channels.email]
        host = "smtp.example.com"
        from = "Oakfield Primary <attendance@oakfield.sch.uk>"
    "#;
    let config = toml::from_str::<Channels>(text)
        .expect("parses")
        .channels
        .email;
    assert_eq!(config.security, SmtpSecurity::StartTls);
    assert_eq!(config.effective_port(), 587);
    assert_eq!(config.timeout_seconds, 20);
    assert!(config.username.is_none() && config.password.is_none());

    for (security, port) in [("none", 25), ("starttls", 587), ("tls", 465)] {
        let text = format!(
            "[channels.email]\nhost = \"h\"\nfrom = \"a@b.uk\"\nsecurity = \"{security}\"\n"
        );
        let config = toml::from_str::<Channels>(&text)
            .expect("parses")
            .channels
            .email;
        assert_eq!(config.effective_port(), port);
    }

    let typo = "[channels.email]\nhost = \"h\"\nfrom = \"a@b.uk\"\npasword = \"x\"\n";
    assert!(
        toml::from_str::<Channels>(typo).is_err(),
        "unknown keys are refused"
    );
}

#[test]
fn debug_never_prints_the_password() {
    let mut config = config(587);
    config.username = Some("attendance".into());
    config.password = Some("correct horse battery staple".into());
    let printed = format!("{config:?}");
    assert!(!printed.contains("correct horse"), "{printed}");
    assert!(printed.contains("[redacted]"), "{printed}");
}

#[tokio::test]
async fn unsafe_or_incomplete_settings_are_refused_at_start() {
    let mut cleartext = config(25);
    cleartext.host = "smtp.example.com".into();
    cleartext.username = Some("attendance".into());
    cleartext.password = Some("secret".into());
    assert!(matches!(
        SmtpSender::new(&cleartext),
        Err(SmtpConfigError::CleartextCredentials(_))
    ));

    let mut no_password = config(587);
    no_password.security = SmtpSecurity::StartTls;
    no_password.username = Some("attendance".into());
    assert!(matches!(
        SmtpSender::new(&no_password),
        Err(SmtpConfigError::MissingPassword)
    ));

    let mut bad_from = config(25);
    bad_from.from = "Oakfield Primary".into();
    assert!(matches!(
        SmtpSender::new(&bad_from),
        Err(SmtpConfigError::From(_))
    ));

    // The same settings over TLS are fine (nothing connects until the first send).
    let mut tls = cleartext.clone();
    tls.security = SmtpSecurity::Tls;
    tls.port = None;
    assert!(SmtpSender::new(&tls).is_ok());
}

#[test]
fn creating_a_sender_outside_the_runtime_is_an_error_not_a_panic() {
    assert!(matches!(
        SmtpSender::new(&config(25)),
        Err(SmtpConfigError::NoRuntime)
    ));
}

/// Issue 12, item 4: lettre panics formatting a `To:` name with a CR or LF in it. The name is
/// put on one line before lettre sees it, so the message builds.
#[test]
fn a_line_break_in_the_recipients_name_is_put_on_one_line() {
    let from: Mailbox = FROM.parse().expect("from");
    for name in ["Lisa\nHall", "Lisa\r\nHall", " Lisa \t Hall\u{2028}"] {
        let mut msg = outgoing(7, 1);
        msg.to_name = name.into();
        let eml = to_eml(&msg, &from, None).expect("builds");
        let mail = mailparse::parse_mail(&eml).expect("parses");
        assert_eq!(
            header(&mail, "To").as_deref(),
            Some("\"Lisa Hall\" <zoe.lovelace@example.com>"),
            "{name:?}"
        );
    }
    assert_eq!(
        rollcall::delivery::channel::email::display_name("Ann\u{0}e"),
        "Ann e"
    );
}
