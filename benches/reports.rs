//! Report benchmark: the termly governor report for a 2,000-pupil school (the goal:
//! well under a second), against a baseline measured in the same run on the same data:
//! `school_stats` for the same term, which is what `rollcall stats` computes and the least
//! any report built on those figures must do.
//!
//! `cargo bench --bench reports` generates the school once (cached under the target folder),
//! imports it into SQLite, then times, as medians of `BENCH_RUNS` (default 15) runs each:
//! - baseline: `school_stats` for the autumn term;
//! - the whole governor report as `rollcall report governors` makes it: load from the
//!   database, build, HTML with inline SVG charts, CSV, PDF;
//! - its parts: loading the inputs, building the document, the HTML, the CSV, the PDF;
//! - the newsletter (a week) and the LA returns (as of term end), for scale.
//!
//! `BENCH_PUPILS=N` changes the school size.

mod common;
use common::{prepare, time};

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use rollcall::config::Config;
use rollcall::delivery::template::Templates;
use rollcall::register::stats::school_stats;
use rollcall::register::store::Store;
use rollcall::report::{self, ReportContext, governors, national::NationalFigures};

fn main() -> Result<()> {
    let pupils: usize = std::env::var("BENCH_PUPILS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-reports-{pupils}"));
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        prepare(&dir, pupils, false).await?;
        let config = Config::load(&dir.join("rollcall.toml"))?;
        let school = config.school(None)?;
        let policy = rollcall::escalation::load_policy(&config, school)?;
        let templates = Templates::load(None)?;
        let store = Store::connect(&config.database_url).await?;
        let school_id = store.ensure_school(school).await?;
        let ctx = ReportContext {
            store: &store,
            school_id,
            school,
            policy: &policy,
            templates: &templates,
        };
        let term = report::find_term(school, "Autumn 2025")?.clone();
        let made_on = term.end;
        let national = NationalFigures::load(None)?;

        let baseline = time(runs, || school_stats(&store, school_id, school, term.start, term.end, None)).await?;
        let whole = time(runs, || report::governor_report(&ctx, &term, term.end, made_on)).await?;
        let load = time(runs, || {
            governors::load(&store, school_id, school, &policy, &national, &term, term.end)
        })
        .await?;
        let inputs = governors::load(&store, school_id, school, &policy, &national, &term, term.end).await?;
        let build = time(runs, || async { governors::build(&inputs, made_on) }).await?;
        let doc = governors::build(&inputs, made_on)?;
        let html = time(runs, || async { report::html::document_html(&templates, &doc) }).await?;
        let csv = time(runs, || async { doc.to_csv() }).await?;
        let pdf = time(runs, || async {
            report::pdf::document_pdf(&doc).map_err(|e| anyhow::anyhow!("{e}"))
        })
        .await?;
        let newsletter = time(runs, || {
            report::newsletter_files(&ctx, NaiveDate::from_ymd_opt(2025, 10, 8).unwrap_or(term.start))
        })
        .await?;
        let returns = time(runs.min(5), || report::la_returns(&ctx, term.end)).await?;
        let (_, outputs) = report::governor_report(&ctx, &term, term.end, made_on).await?;
        let sizes: Vec<String> = outputs
            .iter()
            .map(|o| format!("{} {} KiB", o.name, o.bytes.len() / 1024))
            .collect();

        let ms = |s: f64| s * 1000.0;
        println!("governor report, {pupils} pupils, {} ({} school days), medians of {runs} runs:", term.name,
            school.calendar.school_days_between(term.start, term.end).len());
        println!("  baseline: school_stats for the term        {:8.1} ms", ms(baseline));
        println!("  whole report (load, build, HTML, CSV, PDF) {:8.1} ms   {:.2}× the baseline", ms(whole), whole / baseline);
        println!("    load inputs (stats, per-day tallies, last term, last year, activity) {:8.1} ms", ms(load));
        println!("    build document (pure)                    {:8.1} ms", ms(build));
        println!("    HTML with inline SVG charts              {:8.1} ms", ms(html));
        println!("    CSV of every figure                      {:8.1} ms", ms(csv));
        println!("    PDF                                      {:8.1} ms", ms(pdf));
        println!("  newsletter (one week)                      {:8.1} ms   {:.2}× the baseline", ms(newsletter), newsletter / baseline);
        println!("  LA returns as of term end                  {:8.1} ms   {:.2}× the baseline", ms(returns), returns / baseline);
        println!("  files: {}", sizes.join(", "));
        anyhow::ensure!(whole < 1.0, "the governor report took {whole:.3} s: the goal is well under 1 s");
        Ok::<_, anyhow::Error>(())
    })
    .context("reports benchmark")
}
