//! SMTP throughput: rollcall's email channel against an in-process SMTP server on 127.0.0.1.
//!
//! `cargo bench --bench smtp` sends N = 2,000 attendance emails (plain text + HTML; every
//! fourth also carries a ~20 KB PDF letter) through one pooled `SmtpSender` with 8 sends in
//! flight (as the outbox runs by default), then the first 250 of them one at a time, and
//! prints messages per second, MB/s of message bytes the server received, and the time
//! each message held its connection. `BENCH_SMTP_N` and `BENCH_SMTP_SERIAL_N` change the
//! counts.
//!
//! The serial run is short because each message costs ~45 ms of waiting, not work: lettre
//! 0.11.23 leaves Nagle's algorithm on, so the final `.` after the body waits for the
//! server's delayed ACK (40 ms on Linux). Fixed upstream (lettre PR #1159, unreleased at
//! 0.11.23); with it this bench should show well under a millisecond a message.
//!
//! The server is mailin-embedded (a blocking thread per session), so this measures rollcall
//! plus lettre plus a cheap local server, not a real MTA: a ceiling for the client side,
//! useful to spot regressions in message building and connection reuse.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mailin_embedded::{Handler, Response, Server, SslConfig};
use rollcall::delivery::channel::email::{SmtpConfig, SmtpSecurity, SmtpSender};
use rollcall::delivery::channel::{Attachment, Outgoing};

/// Counts what arrives rather than keeping it: the bench is about throughput.
#[derive(Clone)]
struct Counter {
    messages: Arc<AtomicUsize>,
    bytes: Arc<AtomicU64>,
}

impl Handler for Counter {
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.messages.fetch_add(1, Ordering::Relaxed);
        mailin_embedded::response::OK
    }
}

fn start_server(counter: Counter, threads: u32) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let mut server = Server::new(counter);
    server
        .with_name("bench.test")
        .with_ssl(SslConfig::None)
        .map_err(|e| anyhow::anyhow!("mailin: {e}"))?
        .with_num_threads(threads)
        .with_tcp_listener(listener);
    // mailin has no shutdown; the thread ends with the process.
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    Ok(port)
}

fn letter_pdf() -> Vec<u8> {
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut x: u32 = 2025;
    while pdf.len() < 20 * 1024 {
        // Incompressible-looking bytes, like a real PDF's compressed streams.
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        pdf.push((x >> 16) as u8);
    }
    pdf.extend_from_slice(b"\n%%EOF\n");
    pdf
}

fn message(i: usize, pdf: &[u8]) -> Outgoing {
    let attachments = if i.is_multiple_of(4) {
        vec![Attachment {
            filename: "letter.pdf".into(),
            content_type: "application/pdf".into(),
            bytes: pdf.to_vec(),
        }]
    } else {
        Vec::new()
    };
    Outgoing {
        outbox_id: i as i64 + 1,
        attempt: 1,
        school: "oakfield".into(),
        to_name: format!("Parent {i}"),
        address: format!("parent{i}@example.com"),
        subject: "Attendance at Oakfield Primary today".into(),
        text: "Dear parent,\n\nYour child was not in school this morning and we have not \
               heard why. Please call the office on 01632 960 000 or reply to this email.\n\n\
               Oakfield Primary School\n"
            .repeat(3),
        html: Some(
            "<p>Dear parent,</p><p>Your child was not in school this morning and we have not \
             heard why. Please call the office on <a href=\"tel:01632960000\">01632 960 000</a> \
             or reply to this email.</p><p>Oakfield Primary School</p>"
                .repeat(3),
        ),
        attachments,
    }
}

struct Run {
    messages: usize,
    bytes: u64,
    elapsed: Duration,
}

async fn run(
    sender: &Arc<SmtpSender>,
    counter: &Counter,
    messages: &Arc<Vec<Outgoing>>,
    concurrency: usize,
) -> Result<Run> {
    let before_messages = counter.messages.load(Ordering::SeqCst);
    let before_bytes = counter.bytes.load(Ordering::SeqCst);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (sender, messages, next) =
            (Arc::clone(sender), Arc::clone(messages), Arc::clone(&next));
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(msg) = messages.get(i) else {
                    return Ok::<(), anyhow::Error>(());
                };
                sender
                    .send(msg)
                    .await
                    .with_context(|| format!("message {i}"))?;
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined??;
    }
    let elapsed = started.elapsed();
    let sent = counter.messages.load(Ordering::SeqCst) - before_messages;
    if sent != messages.len() {
        bail!(
            "the server counted {sent} messages, expected {}",
            messages.len()
        );
    }
    Ok(Run {
        messages: sent,
        bytes: counter.bytes.load(Ordering::SeqCst) - before_bytes,
        elapsed,
    })
}

fn report(label: &str, run: &Run, concurrency: usize) {
    let secs = run.elapsed.as_secs_f64();
    println!(
        "{label:<14} {:>5} messages {:>6.2} MB {:>6.2} s {:>7.0} messages/s {:>6.2} MB/s \
         {:>6.1} ms a message per connection",
        run.messages,
        run.bytes as f64 / 1e6,
        secs,
        run.messages as f64 / secs,
        run.bytes as f64 / 1e6 / secs,
        secs * 1e3 * concurrency as f64 / run.messages as f64,
    );
}

fn main() -> Result<()> {
    let count = |var: &str, default: usize| -> usize {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = count("BENCH_SMTP_N", 2_000);
    let serial_n = count("BENCH_SMTP_SERIAL_N", 250).min(n);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let counter = Counter {
            messages: Arc::new(AtomicUsize::new(0)),
            bytes: Arc::new(AtomicU64::new(0)),
        };
        // One server thread per pooled connection, plus slack for reconnects.
        let port = start_server(counter.clone(), 16)?;
        let config = SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: "Oakfield Primary <attendance@oakfield.sch.uk>".into(),
            reply_to: None,
            timeout_seconds: 20,
            pool_size: 8,
        };
        let sender = Arc::new(SmtpSender::new(&config)?);
        let pdf = letter_pdf();
        let messages = Arc::new((0..n).map(|i| message(i, &pdf)).collect::<Vec<_>>());

        println!(
            "SMTP to mailin-embedded on 127.0.0.1:{port}: {n} messages, plain + HTML, every \
             4th with a {} KB PDF; pool of {} connections",
            pdf.len() / 1024,
            config.pool_size
        );
        // Warm-up: opens the pooled connections, so both runs measure sending.
        run(
            &sender,
            &counter,
            &Arc::new(messages[..8.min(n)].to_vec()),
            8,
        )
        .await?;
        let parallel = run(&sender, &counter, &messages, 8).await?;
        report("concurrency 8", &parallel, 8);
        let first = Arc::new(messages[..serial_n].to_vec());
        let serial = run(&sender, &counter, &first, 1).await?;
        report("concurrency 1", &serial, 1);
        let rate = |r: &Run| r.messages as f64 / r.elapsed.as_secs_f64();
        println!(
            "8 in flight sends {:.2}x the messages per second of 1",
            rate(&parallel) / rate(&serial)
        );
        sender.shutdown().await;
        Ok(())
    })
}
