//! Issue 17: the incremental pass decides exactly what a full pass decides. For each shipped
//! policy, the demo's generated school walks the autumn term twice, day by day, on the
//! simulated clock: the pretend MIS drops every register before it closes, the real daemon
//! makes every scheduled run, pretend parents reply and the demo's office confirms and
//! approves at the end of each day. Once with every run evaluating every pupil
//! (`--full-passes`), once with the daemon's default incremental runs, which leave out the
//! pupils whose certificates say nothing can fire for them. Every decision, withdrawal, case,
//! trigger memory and message must be the same, row for row; and the incremental walk must
//! actually have left pupils out, or the test proves nothing.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use sqlx::Row;

const PUPILS: &str = "80";

/// Everything the two walks decided, in a form that does not depend on row ids.
async fn decided(db: &Path) -> Result<Vec<String>> {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", db.display());
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .with_context(|| format!("opening {}", db.display()))?;
    let mut out = Vec::new();
    let queries = [
        (
            "decision",
            "SELECT p.upn || ' ' || d.stage || ' ' || d.anchor || ' ' || d.decided_at || ' '
                    || COALESCE(d.withdrawn_at, '-') || ' ' || d.reason
             FROM decisions d JOIN pupils p ON p.id = d.pupil_id",
        ),
        (
            "case",
            "SELECT p.upn || ' ' || c.opened_on || ' ' || c.stage || ' ' || c.stage_entered || ' '
                    || COALESCE(c.closed_on, '-')
             FROM cases c JOIN pupils p ON p.id = c.pupil_id",
        ),
        (
            "memory",
            "SELECT p.upn || ' ' || m.stage || ' ' || COALESCE(m.active_since, '-')
             FROM stage_memory m JOIN pupils p ON p.id = m.pupil_id",
        ),
        (
            "message",
            "SELECT o.channel || ' ' || o.recipient_role || ' ' || o.status || ' ' || o.created_at
                    || ' ' || COALESCE(o.not_before, '-') || ' '
                    || GROUP_CONCAT(p.upn || '/' || d.stage || '/' || COALESCE(i.cancelled_reason, '-'), ',')
             FROM outbox o
             JOIN outbox_items i ON i.outbox_id = o.id
             JOIN decisions d ON d.id = i.decision_id
             JOIN pupils p ON p.id = d.pupil_id
             GROUP BY o.id",
        ),
    ];
    for (kind, sql) in queries {
        for row in sqlx::query(sql).fetch_all(&pool).await? {
            let text: String = row.try_get(0)?;
            out.push(format!("{kind} {text}"));
        }
    }
    out.sort();
    pool.close().await;
    Ok(out)
}

fn walk(dir: &Path, policy: &str, full: bool) -> Result<String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command
        .args(["demo", "--pupils", PUPILS, "--policy", policy, "--dir"])
        .arg(dir)
        .env("NO_COLOR", "1");
    if full {
        command.arg("--full-passes");
    }
    let output = command.output().context("running rollcall demo")?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(
        output.status.success(),
        "demo of {policy} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(stdout)
}

async fn incremental_matches_full(policy: &str) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let full_dir = tmp.path().join("full");
    let incremental_dir = tmp.path().join("incremental");
    let full_out = walk(&full_dir, policy, true)?;
    let incremental_out = walk(&incremental_dir, policy, false)?;
    let full = decided(&full_dir.join("rollcall.db")).await?;
    let incremental = decided(&incremental_dir.join("rollcall.db")).await?;
    assert!(
        full.iter().any(|r| r.starts_with("decision ")),
        "{policy}: the walk decided nothing, so it proves nothing"
    );
    let only_full: Vec<&String> = full.iter().filter(|r| !incremental.contains(r)).collect();
    let only_incremental: Vec<&String> = incremental.iter().filter(|r| !full.contains(r)).collect();
    assert!(
        only_full.is_empty() && only_incremental.is_empty(),
        "{policy}: the incremental walk differs from the full one.\nonly in full ({}):\n{}\nonly in incremental ({}):\n{}",
        only_full.len(),
        only_full
            .iter()
            .take(20)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        only_incremental.len(),
        only_incremental
            .iter()
            .take(20)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert_eq!(full.len(), incremental.len(), "{policy}: row counts");

    // The incremental walk left pupils out, and the full one did not.
    let figure = |out: &str, before: &str| -> Option<u64> {
        let line = out.lines().find(|l| l.contains("Escalation runs:"))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == before)?;
        words.get(at.checked_sub(1)?)?.parse().ok()
    };
    let left_out = |out: &str| figure(out, "left");
    assert_eq!(left_out(&full_out), Some(0), "{policy}: {full_out}");
    let skipped = left_out(&incremental_out).unwrap_or(0);
    assert!(
        skipped > 0,
        "{policy}: no pupil was ever left out:\n{incremental_out}"
    );
    eprintln!(
        "{policy}: {} rows the same; full: {:?} pupil evaluations; incremental: {:?}, {skipped} left out",
        full.len(),
        figure(&full_out, "pupils"),
        figure(&incremental_out, "pupils"),
    );
    Ok(())
}

#[tokio::test]
async fn dfe_baseline_incremental_passes_decide_what_full_passes_decide() -> Result<()> {
    incremental_matches_full("dfe-baseline").await
}

#[tokio::test]
async fn isp_whitstable_incremental_passes_decide_what_full_passes_decide() -> Result<()> {
    incremental_matches_full("isp-whitstable").await
}

#[tokio::test]
async fn james_marks_incremental_passes_decide_what_full_passes_decide() -> Result<()> {
    incremental_matches_full("james-marks-academy").await
}

#[tokio::test]
async fn russell_street_incremental_passes_decide_what_full_passes_decide() -> Result<()> {
    incremental_matches_full("russell-street-school").await
}

#[tokio::test]
async fn inspire_incremental_passes_decide_what_full_passes_decide() -> Result<()> {
    incremental_matches_full("inspire-trust").await
}
