//! The termly governor report: whole-school figures against target, last term, last year and
//! national; every cohort breakdown with small-number suppression; trends, code usage,
//! punctuality, what the escalation policy did, and the policy in force.
//!
//! Building the [`Document`] is pure ([`build`]); [`load`] gathers its inputs from the store.

mod attendance;
mod breakdowns;
mod escalation;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::NaiveDate;
use sqlx::Row;

use super::document::Document;
use super::national::NationalFigures;
use super::{Figures, Window, load_window};
use crate::config::SchoolConfig;
use crate::delivery::message::long_date;
use crate::escalation::policy::{Policy, TaskKind};
use crate::register::session::DateRange;
use crate::register::store::{SchoolId, Store};
use attendance::{codes, headline, punctuality, trends};
use breakdowns::breakdowns;
use escalation::{escalation, policy_section};

pub use breakdowns::{SMALL_COUNT, count_suppression, discloses, suppression};

/// What the escalation policy did in the term, from the decisions and the outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    /// Per stage id: decisions made (times the stage was reached), leaving out decisions
    /// withdrawn because the register no longer shows their cause.
    pub decisions: BTreeMap<String, u64>,
    /// Per stage id: pupils with at least one such decision.
    pub pupils: BTreeMap<String, u64>,
    /// Penalty-notice reviews a person approved or rejected in the period: decisions of stages
    /// with a `penalty_notice_review` task whose message a person decided, not withdrawn.
    pub penalty_reviews_decided: u64,
    /// Per stage id and channel (`sms`, `email`, `letter`, `task`, `la_return`): messages
    /// sent or delivered.
    pub sent: BTreeMap<(String, String), u64>,
    /// Meeting tasks listed for staff.
    pub meetings: u64,
    pub cases_opened: u64,
    /// Closed in the term: the policy closes a case when attendance has recovered.
    pub cases_closed: u64,
    pub cases_open_at_end: u64,
}

/// Everything the report is made from.
pub struct Inputs<'a> {
    pub school: &'a SchoolConfig,
    pub policy: &'a Policy,
    pub national: &'a NationalFigures,
    pub term: &'a DateRange,
    /// The last day counted: the term's end, or earlier for a report mid-term.
    pub as_of: NaiveDate,
    pub this_term: Window,
    pub last_term: Option<(String, Figures)>,
    pub last_year: Option<(String, Figures)>,
    pub activity: Activity,
}

/// Gathers a term's inputs from the store.
pub async fn load<'a>(
    store: &Store,
    school_id: SchoolId,
    school: &'a SchoolConfig,
    policy: &'a Policy,
    national: &'a NationalFigures,
    term: &'a DateRange,
    as_of: NaiveDate,
) -> Result<Inputs<'a>> {
    let as_of = as_of.min(term.end);
    let this_term = load_window(store, school_id, school, term.start, as_of).await?;
    let compare = |t: Option<&DateRange>| t.map(|t| (t.name.clone(), t.start, t.end));
    let last = compare(super::previous_term_before(school, term.start));
    let year = compare(super::same_term_last_year(school, term));
    let figures_of =
        async |t: Option<(String, NaiveDate, NaiveDate)>| -> Result<Option<(String, Figures)>> {
            let Some((name, from, to)) = t else {
                return Ok(None);
            };
            let stats =
                crate::register::stats::school_stats(store, school_id, school, from, to, None)
                    .await?;
            let figures = Figures::of(stats.iter().map(|p| &p.facts));
            Ok((figures.possible > 0).then_some((name, figures)))
        };
    let last_term = figures_of(last).await?;
    let last_year = figures_of(year).await?;
    let activity = activity(store, school_id, policy, term.start, as_of).await?;
    Ok(Inputs {
        school,
        policy,
        national,
        term,
        as_of,
        this_term,
        last_term,
        last_year,
        activity,
    })
}

/// Stages that review a penalty notice: any with a `penalty_notice_review` task, whatever
/// triggers them (Inspire's `penalty_review` follows a final warning, James Marks'
/// `legal_sanctions_review` counts unauthorised absence its own way).
fn penalty_review_stages(policy: &Policy) -> Vec<&str> {
    policy
        .stages
        .iter()
        .filter(|s| {
            s.actions
                .iter()
                .any(|a| a.task == Some(TaskKind::PenaltyNoticeReview))
        })
        .map(|s| s.id.as_str())
        .collect()
}

async fn activity(
    store: &Store,
    school: SchoolId,
    policy: &Policy,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Activity> {
    let from_text = format!("{from}T00:00:00");
    let to_text = format!("{to}T23:59:59");
    let mut out = Activity::default();
    for row in sqlx::query(
        "SELECT stage, COUNT(*) AS n, COUNT(DISTINCT pupil_id) AS pupils FROM decisions
         WHERE school_id = $1 AND decided_at >= $2 AND decided_at <= $3
           AND withdrawn_at IS NULL
         GROUP BY stage",
    )
    .bind(school.0)
    .bind(&from_text)
    .bind(&to_text)
    .fetch_all(store.pool())
    .await?
    {
        let stage: String = row.try_get("stage")?;
        let n: i64 = row.try_get("n")?;
        let pupils: i64 = row.try_get("pupils")?;
        out.pupils.insert(stage.clone(), pupils as u64);
        out.decisions.insert(stage, n as u64);
    }
    // A review counts when a person approved or rejected its message in the period; one
    // still waiting, or withdrawn (its sessions recoded), is not a review anyone decided.
    let reviews = penalty_review_stages(policy);
    for row in sqlx::query(
        "SELECT d.stage, COUNT(DISTINCT d.id) AS n
         FROM decisions d
         JOIN outbox_items i ON i.decision_id = d.id
         JOIN outbox o ON o.id = i.outbox_id
         WHERE d.school_id = $1 AND d.withdrawn_at IS NULL AND o.decided_by IS NOT NULL
           AND o.decided_at >= $2 AND o.decided_at <= $3
         GROUP BY d.stage",
    )
    .bind(school.0)
    .bind(&from_text)
    .bind(&to_text)
    .fetch_all(store.pool())
    .await?
    {
        let stage: String = row.try_get("stage")?;
        if reviews.contains(&stage.as_str()) {
            out.penalty_reviews_decided += row.try_get::<i64, _>("n")? as u64;
        }
    }
    for row in sqlx::query(
        "SELECT d.stage, o.channel, o.task, COUNT(DISTINCT o.id) AS n
         FROM decisions d
         JOIN outbox_items i ON i.decision_id = d.id AND i.cancelled_reason IS NULL
         JOIN outbox o ON o.id = i.outbox_id
         WHERE d.school_id = $1 AND d.decided_at >= $2 AND d.decided_at <= $3
           AND o.status IN ('sent', 'delivered')
         GROUP BY d.stage, o.channel, o.task",
    )
    .bind(school.0)
    .bind(&from_text)
    .bind(&to_text)
    .fetch_all(store.pool())
    .await?
    {
        let n = row.try_get::<i64, _>("n")? as u64;
        let stage: String = row.try_get("stage")?;
        let channel: String = row.try_get("channel")?;
        let task: Option<String> = row.try_get("task")?;
        // The outbox stores a task kind as its Rust name (see outbox::record).
        if task.as_deref()
            == Some(format!("{:?}", crate::escalation::policy::TaskKind::Meeting).as_str())
        {
            out.meetings += n;
        }
        *out.sent.entry((stage, channel)).or_default() += n;
    }
    let count = async |sql: &str| -> Result<u64> {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(school.0)
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_one(store.pool())
            .await?;
        Ok(n as u64)
    };
    out.cases_opened = count(
        "SELECT COUNT(*) FROM cases WHERE school_id = $1 AND opened_on >= $2 AND opened_on <= $3",
    )
    .await?;
    out.cases_closed = count(
        "SELECT COUNT(*) FROM cases WHERE school_id = $1 AND closed_on >= $2 AND closed_on <= $3",
    )
    .await?;
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM cases WHERE school_id = $1 AND opened_on <= $2
           AND (closed_on IS NULL OR closed_on > $2)",
    )
    .bind(school.0)
    .bind(to.to_string())
    .fetch_one(store.pool())
    .await?;
    out.cases_open_at_end = open as u64;
    Ok(out)
}

/// Builds the report. Pure: the same inputs give the same document.
pub fn build(inputs: &Inputs<'_>, made_on: NaiveDate) -> Result<Document> {
    let window = &inputs.this_term;
    let figures = window.figures();
    let min_cohort = inputs.school.reports.min_cohort;
    let term = inputs.term;
    let mut meta = vec![format!(
        "Figures from {} to {} ({} school days), made on {}.",
        long_date(window.from),
        long_date(window.to),
        inputs
            .school
            .calendar
            .school_days_between(window.from, window.to)
            .len(),
        long_date(made_on)
    )];
    if inputs.as_of < term.end {
        meta.push(format!(
            "The term is not over: figures are to {}.",
            long_date(inputs.as_of)
        ));
    }
    meta.push(format!(
        "Groups of fewer than {min_cohort} pupils, and counts of 1 or 2 pupils (or all but 1 or 2 of a group), show c instead of figures, as DfE publications do. This report names no pupil."
    ));
    Ok(Document {
        title: "Attendance report to governors".into(),
        school: inputs.school.name.clone(),
        subtitle: format!(
            "{}: {} to {}",
            term.name,
            long_date(term.start),
            long_date(term.end)
        ),
        meta,
        sections: vec![
            headline(inputs, &figures),
            breakdowns(window, min_cohort),
            trends(
                window,
                &inputs.school.calendar,
                inputs.policy.settings.target_percent,
            )?,
            codes(window, &figures),
            punctuality(window, &figures),
            escalation(inputs),
            policy_section(inputs),
        ],
    })
}
