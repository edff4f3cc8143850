//! SMS send benchmark against a wiremock Notify on loopback (no real provider is contacted).
//!
//! `cargo bench --bench sms` runs two phases:
//! 1. throughput: `BENCH_SMS_COUNT` (default 2,000) Notify sends from `BENCH_SMS_TASKS`
//!    (default 16) concurrent tasks, with the rate limit raised out of the way, so what is
//!    measured is our request path (JWT signing, JSON, HTTP) plus the mock server;
//! 2. rate limit: `BENCH_SMS_LIMITED` (default 120) sends with the default quota of 3,000 a
//!    minute (one every 20 ms), from the same number of tasks, to show the limiter holds the
//!    rate: 120 messages should take about 119 × 20 ms ≈ 2.4 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rollcall::delivery::channel::Outgoing;
use rollcall::delivery::channel::sms::{Notify, NotifyConfig};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const API_KEY: &str =
    "bench-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0";
const TEMPLATE_ID: &str = "f33517ff-2a88-4f6e-b855-c550268ce08a";

fn env_usize(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a count")),
        Err(_) => Ok(default),
    }
}

fn message(i: usize) -> Outgoing {
    Outgoing {
        outbox_id: i as i64,
        attempt: 1,
        school: "bench".into(),
        to_name: "Parent".into(),
        address: "07700 900123".into(),
        subject: String::new(),
        text: "Ada was not in school this morning and we have not heard why. Please call the \
               school office."
            .into(),
        html: None,
        attachments: vec![],
    }
}

/// Sends `count` messages from `tasks` tasks sharing one `Notify`; returns the wall time.
async fn run(notify: Arc<Notify>, count: usize, tasks: usize) -> Result<Duration> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let notify = Arc::clone(&notify);
        let next = Arc::clone(&next);
        handles.push(tokio::spawn(async move {
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break;
                }
                if notify.send(&message(i)).await.is_err() {
                    failures += 1;
                }
            }
            failures
        }));
    }
    let mut failures = 0;
    for handle in handles {
        failures += handle.await.context("a send task panicked")?;
    }
    let elapsed = started.elapsed();
    if failures > 0 {
        bail!("{failures} of {count} sends failed");
    }
    Ok(elapsed)
}

/// Requests the mock server has recorded, to prove every send really went over HTTP.
async fn received(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

fn notify(base_url: &str, requests_per_minute: u32) -> Result<Arc<Notify>> {
    let mut config = NotifyConfig::new(API_KEY, TEMPLATE_ID);
    config.base_url = base_url.to_owned();
    config.requests_per_minute = requests_per_minute;
    Ok(Arc::new(Notify::new(config)?))
}

fn main() -> Result<()> {
    let count = env_usize("BENCH_SMS_COUNT", 2_000)?;
    let tasks = env_usize("BENCH_SMS_TASKS", 16)?.max(1);
    let limited = env_usize("BENCH_SMS_LIMITED", 120)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v2/notifications/sms"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "id": "740e5834-3a29-46b4-9a6f-16142fde533a",
                "reference": "bench",
                "content": {"body": "…", "from_number": "GOVUK"},
                "uri": "https://api.notifications.service.gov.uk/v2/notifications/740e5834-3a29-46b4-9a6f-16142fde533a",
                "template": {"id": TEMPLATE_ID, "version": 1, "uri": "https://example.invalid/"},
                "scheduled_for": null
            })))
            .mount(&server)
            .await;
        println!("SMS benchmark: GOV.UK Notify client against wiremock at {}", server.uri());

        // Warm-up: connections, first JWT, allocator.
        run(notify(&server.uri(), 60_000_000)?, 50, tasks).await?;

        let before = received(&server).await;
        let elapsed = run(notify(&server.uri(), 60_000_000)?, count, tasks).await?;
        let arrived = received(&server).await - before;
        if arrived != count {
            bail!("the server saw {arrived} requests for {count} sends");
        }
        println!(
            "throughput: {count} sends, {tasks} tasks, limiter 60,000,000/min: {:.3} s, {:.0} messages/s",
            elapsed.as_secs_f64(),
            count as f64 / elapsed.as_secs_f64()
        );

        let elapsed = run(notify(&server.uri(), 3_000)?, limited, tasks).await?;
        // With no burst allowance the first send goes at once and each later one waits 20 ms.
        let expected = Duration::from_secs(60) / 3_000 * (limited.saturating_sub(1) as u32);
        // n sends span n − 1 intervals, so the steady rate is (n − 1) / elapsed.
        let steady = limited.saturating_sub(1) as f64 / elapsed.as_secs_f64();
        println!(
            "rate limit: {limited} sends, {tasks} tasks, default 3,000/min: {:.3} s \
             (expected ≈ {:.3} s), observed {steady:.1} messages/s = {:.0}/min \
             (limit 50/s = 3,000/min)",
            elapsed.as_secs_f64(),
            expected.as_secs_f64(),
            steady * 60.0
        );
        if limited > 1 && elapsed + Duration::from_millis(20) < expected {
            bail!("the limiter let {limited} messages through faster than 3,000 a minute");
        }
        Ok(())
    })
}
