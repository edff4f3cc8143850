//! Reports through the outbox on both backends: a report is queued once per period however
//! often its job runs, its files survive the database byte for byte (BLOB / BYTEA), and the
//! delivery sends it to the role's address with those files attached.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use rollcall::config::Config;
use rollcall::daemon::Daemon;
use rollcall::report::{self, ReportContext, queue};
use rollcall::schedule::Clock;
use rollcall::store::Store;
use rollcall::template::Templates;
use tokio_util::sync::CancellationToken;

use super::{CONFIG, baseline, setup};

fn config(dir: &Path) -> Result<Config> {
    let text = format!(
        "{CONFIG}\n[school.staff]\nattendance_officer = \"attendance@north.example\"\n\
         governors = \"governors@north.example\"\nnewsletter = \"parents@lists.north.example\"\n\
         la = \"attendance@la.example\"\n[delivery]\noutbox_dir = \"{}\"\n",
        dir.join("outbox").display()
    );
    Ok(Config::from_toml(&text, "reports-test.toml")?)
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

pub async fn reports_are_queued_once_per_period_and_sent_with_their_files(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (_, school_id) = setup(&store, dir, CONFIG).await?;
    let config = config(dir)?;
    let school = config.school(None)?;
    let policy = baseline(1.0)?;
    let templates = Templates::load(None)?;
    let ctx = ReportContext {
        store: &store,
        school_id,
        school,
        policy: &policy,
        templates: &templates,
    };
    let now = date("2025-09-05").and_hms_opt(17, 0, 0).context("time")?;

    // The fixture: Ada attended 4 of her 6 possible sessions (I, I); Alan 0 of 4 (N, N, O, G;
    // Y4 is not a possible session). The school: 4 of 10 = 40.0% that week.
    let (newsletter, _) = report::newsletter_files(&ctx, date("2025-09-03")).await?;
    assert_eq!(newsletter.view.this_week, "40.0%");
    assert_eq!(newsletter.period(), "2025-W36");
    let first = queue::queue(&store, school_id, &newsletter.report(), now).await?;
    let again = queue::queue(&store, school_id, &newsletter.report(), now).await?;
    assert!(first.is_some(), "the first queueing adds a message");
    assert_eq!(
        again, None,
        "the same week's newsletter is not queued twice"
    );

    let term = report::find_term(school, "autumn 2025")?;
    let (doc, outputs) =
        report::governor_report(&ctx, term, date("2025-09-05"), date("2025-09-05")).await?;
    let counts = doc.table("counts").context("counts table")?;
    let possible = counts
        .rows
        .iter()
        .find(|r| r[0].display() == "Possible sessions")
        .context("possible row")?;
    assert_eq!(possible[1].display(), "10");
    let governors = report::governor_queue_report(school, term, &doc, &outputs);
    let id = queue::queue(&store, school_id, &governors, now)
        .await?
        .context("queued")?;
    assert_eq!(
        queue::queue(&store, school_id, &governors, now).await?,
        None
    );
    let stored = queue::load(&store, id).await?;
    assert_eq!(stored.attachments.len(), 3);
    for (sent, kept) in outputs.iter().zip(&stored.attachments) {
        assert_eq!(kept.filename, sent.name);
        assert_eq!(
            kept.bytes, sent.bytes,
            "{} survives the database",
            sent.name
        );
    }

    // Delivery into the file sink: the newsletter to the parents' list, the governor report
    // with its three files beside the email.
    let instant: DateTime<Utc> = "2025-09-05T16:05:00Z".parse().context("instant")?;
    let daemon =
        Daemon::build_with_store(config.clone(), store.clone(), Clock::simulated(instant)).await?;
    let summary = daemon
        .deliverer
        .deliver_due(&daemon.schools[0], &CancellationToken::new())
        .await?;
    assert_eq!(summary.failed, 0, "{summary:?}");
    let email_dir = dir.join("outbox/north/2025-09-05/email");
    let mut found_newsletter = false;
    let mut found_governors = false;
    for entry in std::fs::read_dir(&email_dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        if text.contains("parents@lists.north.example") {
            found_newsletter = true;
            assert!(
                text.contains("text/html"),
                "the newsletter has an HTML part"
            );
        }
        if text.contains("governors@north.example") {
            found_governors = true;
            for name in [
                "governors-autumn-2025.html",
                "governors-autumn-2025.csv",
                "governors-autumn-2025.pdf",
            ] {
                assert!(text.contains(name), "{name} attached");
            }
        }
    }
    assert!(
        found_newsletter && found_governors,
        "both reports delivered"
    );

    // The regular LA return: queued once for September when its last school day has passed,
    // held for approval, and not again on a second run.
    let end_of_september = date("2025-09-30").and_hms_opt(17, 0, 0).context("time")?;
    let queued =
        report::la_return::queue_due_regular_returns(&store, school_id, school, end_of_september)
            .await?;
    let labels: Vec<&str> = queued.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(labels, vec!["2025-09"]);
    let again =
        report::la_return::queue_due_regular_returns(&store, school_id, school, end_of_september)
            .await?;
    assert!(again.is_empty(), "{again:?}");
    let (status, _) = rollcall::outbox::status_of(&store, queued[0].1).await?;
    assert_eq!(status, "awaiting_approval");
    // Alan (0% attendance) is on it; Ada (66.7%, below 90%) too.
    let regular = queue::load(&store, queued[0].1).await?;
    let csv = regular
        .attachments
        .iter()
        .find(|a| a.filename.ends_with(".csv"))
        .context("csv")?;
    let text = String::from_utf8(csv.bytes.clone())?;
    assert!(
        text.contains("P207000016049") && text.contains("B801200005001"),
        "{text}"
    );
    Ok(())
}
