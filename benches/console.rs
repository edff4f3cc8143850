//! Console benchmark: how long the pages an attendance officer opens every morning take for a
//! 2,000-pupil school (issue 15's goals: Today under 200 ms, a pupil under 100 ms), over HTTP
//! on loopback as a browser asks for them, against a baseline measured in the same run on the
//! same data: `school_stats` for the year so far, the figures every list of pupils starts from.
//!
//! `cargo bench --bench console` generates the school once (cached under the target folder),
//! imports it into SQLite, makes one escalation pass and one delivery on the morning of
//! 8 October 2025 (so there is a call list, cases and messages awaiting approval), serves the
//! console in-process and times, as medians of `BENCH_RUNS` (default 15) requests each:
//! Today (`/`), a pupil (`/pupils/UPN`, the one with the most sessions missed), the approvals
//! list, the cases and lists, and the status page.
//!
//! `BENCH_PUPILS=N` changes the school size.

mod common;
use common::{prepare, time};

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use rollcall::config::Config;
use rollcall::daemon::Daemon;
use rollcall::register::stats::school_stats;
use rollcall::schedule::{Clock, local_instant};
use rollcall::web::account::{Role, add_user};

const PASSWORD: &str = "benchmark password";

fn main() -> Result<()> {
    let pupils: usize = std::env::var("BENCH_PUPILS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-console-{pupils}"));
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        prepare(&dir, pupils, true).await?;
        let config = Config::load(&dir.join("rollcall.toml"))?;
        let school_config = config.school(None)?.clone();
        let day = NaiveDate::from_ymd_opt(2025, 10, 8).context("date")?;
        let morning = day.and_hms_opt(10, 30, 0).context("time")?;
        let clock = Clock::simulated(local_instant(school_config.timezone, morning));
        let daemon = Arc::new(Daemon::build(config.clone(), clock).await?);
        let school = Arc::clone(daemon.schools.first().context("a school")?);
        if !dir.join("escalated.ok").exists() {
            let summary = daemon.escalate(&school, morning).await?;
            let stop = tokio_util::sync::CancellationToken::new();
            daemon.deliverer.deliver_due(&school, &stop).await?;
            eprintln!("escalated on {morning}: {summary}");
            add_user(&daemon.store, "bench@example.sch.uk", Some("Bench Officer"), Some(PASSWORD), school.id, Role::AttendanceOfficer, morning).await?;
            std::fs::write(dir.join("escalated.ok"), "")?;
        }
        let stats = school_stats(&daemon.store, school.id, &school.config, NaiveDate::from_ymd_opt(2025, 8, 1).context("date")?, day, None).await?;
        let most_absent = stats
            .iter()
            .max_by_key(|s| s.facts.absence_sessions())
            .map(|s| s.pupil.pupil.upn.as_str().to_owned())
            .context("pupils")?;
        let waiting = rollcall::delivery::outbox::pending(&daemon.store, school.id).await?.len();

        let console = rollcall::web::Console::new(Arc::clone(&daemon), true)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let stop = tokio_util::sync::CancellationToken::new();
        let server = {
            let stop = stop.clone();
            tokio::spawn(async move { rollcall::web::serve_on(console, listener, stop).await })
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        let login = http
            .post(format!("{base}/login"))
            .form(&[("email", "bench@example.sch.uk"), ("password", PASSWORD)])
            .send()
            .await?;
        let cookie = login
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .context("signed in")?
            .to_owned();
        let get = |path: String| {
            let (http, cookie, base) = (http.clone(), cookie.clone(), base.clone());
            async move {
                let resp = http.get(format!("{base}{path}")).header("cookie", cookie).send().await?;
                anyhow::ensure!(resp.status().is_success(), "{path}: {}", resp.status());
                Ok(resp.bytes().await?.len())
            }
        };
        let baseline = time(runs, || school_stats(&daemon.store, school.id, &school.config, NaiveDate::from_ymd_opt(2025, 8, 1).unwrap_or(day), day, None)).await?;
        let today = time(runs, || get("/".into())).await?;
        let pupil = time(runs, || get(format!("/pupils/{most_absent}"))).await?;
        let approvals = time(runs, || get("/approvals".into())).await?;
        let cases = time(runs, || get("/cases".into())).await?;
        let status = time(runs, || get("/status".into())).await?;
        let today_bytes = get("/".into()).await?;
        stop.cancel();
        let _ = server.await;

        let ms = |s: f64| s * 1000.0;
        println!("console, {pupils} pupils, {waiting} messages awaiting approval, medians of {runs} requests:");
        println!("  baseline: school_stats for the year so far  {:>8.1} ms", ms(baseline));
        for (name, t, goal) in [
            ("Today (/)", today, Some(200.0)),
            ("a pupil (/pupils/UPN)", pupil, Some(100.0)),
            ("approvals (/approvals)", approvals, None),
            ("cases and lists (/cases)", cases, None),
            ("status (/status)", status, None),
        ] {
            let goal = goal.map_or(String::new(), |g: f64| {
                format!("  goal {g:.0} ms: {}", if ms(t) <= g { "met" } else { "NOT met" })
            });
            println!("  {name:<40} {:>8.1} ms  {:>5.2}× baseline{goal}", ms(t), t / baseline);
        }
        println!("  Today's page is {} KiB", today_bytes / 1024);
        Ok(())
    })
}
