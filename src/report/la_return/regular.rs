//! Regular returns per period, queued once each when the period's last school day passes.

use std::collections::HashMap;

use anyhow::{Context as _, Result};
use chrono::{Datelike, Days, NaiveDate, NaiveDateTime};

use super::data::{SchoolData, histories};
use super::matching::{join_episodes, recorded_decisions};
use super::output::{Returns, csv_of};
use super::{Episode, ReturnKind, ReturnLine, Shape};
use crate::config::{ReturnInterval, SchoolConfig};
use crate::delivery::channel::Attachment;
use crate::escalation::policy::Policy;
use crate::register::store::{SchoolId, Store};
use crate::report::queue::{self, Report};
use crate::report::{date_text, year_start};

/// A period of the regular return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// "2025-10", "2025-W41", "autumn-2025".
    pub label: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// The period of the LA's interval that contains `date`.
pub fn period_of(interval: ReturnInterval, school: &SchoolConfig, date: NaiveDate) -> Period {
    match interval {
        ReturnInterval::Weekly => {
            let start = crate::register::session::monday_of(date);
            let iso = date.iso_week();
            Period {
                label: format!("{}-W{:02}", iso.year(), iso.week()),
                start,
                end: start + Days::new(6),
            }
        }
        ReturnInterval::Monthly => {
            let start = date.with_day(1).unwrap_or(date);
            let next = start
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(start);
            Period {
                label: start.format("%Y-%m").to_string(),
                start,
                end: next.pred_opt().unwrap_or(next),
            }
        }
        ReturnInterval::Termly => {
            let term = school
                .calendar
                .term_containing(date)
                .or_else(|| crate::report::previous_term_before(school, date));
            match term {
                Some(t) => Period {
                    label: crate::report::slug(&t.name),
                    start: t.start,
                    end: t.end,
                },
                None => Period {
                    label: format!("to-{date}"),
                    start: year_start(date),
                    end: date,
                },
            }
        }
    }
}

/// Pupils on the regular return as of `as_of`: attendance this school year below the
/// threshold, or unauthorised absence of the configured number of days or more.
pub fn regular_lines(
    school: &SchoolConfig,
    data: &SchoolData,
    year: &[crate::register::stats::PupilStats],
    period: &Period,
    as_of: NaiveDate,
    status: &str,
    history: &HashMap<i64, String>,
) -> Vec<ReturnLine> {
    let settings = &school.reports;
    let mut lines = Vec::new();
    for p in year {
        let f = &p.facts;
        let below = f.attendance_pct() < settings.la_regular_below_percent;
        let unauthorised =
            f.unauthorised_absence_sessions >= 2 * settings.la_regular_unauthorised_days;
        if !(below || unauthorised) {
            continue;
        }
        let actions = history.get(&p.pupil.id).map_or("", String::as_str);
        let episode = Episode {
            pupil_id: p.pupil.id,
            kind: ReturnKind::Regular,
            stage: String::new(),
            start: period.start,
            end: as_of,
            school_days: 0,
            sessions: 0,
            shape: Shape::Period,
            status: status.to_owned(),
        };
        if let Some(line) = data.line(school, &episode, as_of, actions, "") {
            lines.push(line);
        }
    }
    lines.sort_by(|a, b| (&a.surname, &a.forename).cmp(&(&b.surname, &b.forename)));
    lines
}

pub(super) async fn year_stats(
    store: &Store,
    school_id: SchoolId,
    school: &SchoolConfig,
    as_of: NaiveDate,
) -> Result<Vec<crate::register::stats::PupilStats>> {
    crate::register::stats::school_stats(store, school_id, school, year_start(as_of), as_of, None)
        .await
}

/// Every return as of a date, for `rollcall report la-returns`: each 10-day and sickness
/// episode of the school year the register shows, found with the trigger parameters of the
/// policy's LA-return stages (whether or not an escalation run has recorded it yet), with the
/// status of the decisions recorded for it; recorded returns whose episode the register no
/// longer shows; and the regular return for the period containing `as_of`.
pub async fn returns_as_of(
    store: &Store,
    school_id: SchoolId,
    school: &SchoolConfig,
    policy: &Policy,
    as_of: NaiveDate,
) -> Result<Returns> {
    let data = SchoolData::load(store, school_id, as_of).await?;
    let history = histories(store, school_id).await?;
    let recorded = recorded_decisions(store, school_id, policy, as_of, None).await?;
    let (episodes, unmatched) = join_episodes(school, policy, &data, &recorded, as_of);
    let mut returns = Returns {
        as_of: Some(as_of),
        unmatched,
        ..Returns::default()
    };
    returns
        .lines
        .entry(ReturnKind::ContinuousAbsence)
        .or_default();
    returns.lines.entry(ReturnKind::Sickness).or_default();
    for (e, reason) in &episodes {
        let actions = history.get(&e.pupil_id).map_or("", String::as_str);
        if let Some(line) = data.line(school, e, as_of, actions, reason) {
            returns.lines.entry(e.kind).or_default().push(line);
        }
    }
    let period = period_of(school.reports.la_regular_interval, school, as_of);
    let queued = queue::queued_periods(store, school_id, REGULAR_KIND).await?;
    let status = if queued.contains(&period.label) {
        "in the return queued for this period"
    } else {
        "not yet returned for this period"
    };
    let year = year_stats(store, school_id, school, as_of).await?;
    let regular = regular_lines(school, &data, &year, &period, as_of, status, &history);
    returns.lines.insert(ReturnKind::Regular, regular);
    returns.regular_period = Some(period);
    Ok(returns)
}

pub const REGULAR_KIND: &str = "la_regular_return";

/// From the weekly job: queues the regular return for each period (this one or the one
/// before) whose last school day has passed and that has not been queued yet.
pub async fn queue_due_regular_returns(
    store: &Store,
    school_id: SchoolId,
    school: &SchoolConfig,
    now: NaiveDateTime,
) -> Result<Vec<(String, i64)>> {
    let today = now.date();
    let interval = school.reports.la_regular_interval;
    let current = period_of(interval, school, today);
    let previous = period_of(
        interval,
        school,
        current.start.pred_opt().unwrap_or(current.start),
    );
    let queued = queue::queued_periods(store, school_id, REGULAR_KIND).await?;
    let mut done = Vec::new();
    for period in [previous, current] {
        if queued.contains(&period.label) {
            continue;
        }
        let last_school_day = school
            .calendar
            .school_days_between(period.start, period.end)
            .last()
            .copied();
        let complete = match last_school_day {
            Some(last) => today >= last,
            None => continue,
        };
        if !complete {
            continue;
        }
        let as_of = period.end.min(today);
        let data = SchoolData::load(store, school_id, as_of).await?;
        let history = histories(store, school_id).await?;
        let year = year_stats(store, school_id, school, as_of).await?;
        let lines = regular_lines(school, &data, &year, &period, as_of, "", &history);
        let mut returns = Returns {
            as_of: Some(as_of),
            regular_period: Some(period.clone()),
            ..Returns::default()
        };
        returns.lines.insert(ReturnKind::Regular, lines);
        let cover = returns.cover(school);
        let count = returns.lines.get(&ReturnKind::Regular).map_or(0, Vec::len);
        let report = Report {
            kind: REGULAR_KIND.into(),
            period: period.label.clone(),
            to: "la".into(),
            subject: format!(
                "{} (URN {}): regular attendance return, {}",
                school.name, school.urn, period.label
            ),
            text: format!(
                "The regular attendance return from {} for {} ({} to {}): {count} pupil{} below {:.0}% attendance this school year or with {} or more days of unauthorised absence.\n\nThe return is attached as CSV, with a readable cover as PDF.\n\n{}\n",
                school.name,
                period.label,
                date_text(period.start),
                date_text(period.end),
                if count == 1 { "" } else { "s" },
                school.reports.la_regular_below_percent,
                school.reports.la_regular_unauthorised_days,
                school.contact.signatory,
            ),
            html: None,
            attachments: vec![
                Attachment {
                    filename: format!(
                        "{}-{}-{}.csv",
                        school.la_code,
                        ReturnKind::Regular.slug(),
                        period.label
                    ),
                    content_type: "text/csv".into(),
                    bytes: csv_of(
                        returns
                            .lines
                            .get(&ReturnKind::Regular)
                            .map_or(&[], Vec::as_slice),
                    )?,
                },
                Attachment {
                    filename: format!("{}-la-return-{}.pdf", school.la_code, period.label),
                    content_type: "application/pdf".into(),
                    bytes: crate::report::pdf::document_pdf(&cover).map_err(|e| anyhow::anyhow!("{e}"))?,
                },
            ],
            requires_approval: school.reports.la_regular_approval,
            hold_reason: school.reports.la_regular_approval.then(|| {
                format!(
                    "the regular attendance return for {} names {count} pupil{}; see it with `rollcall report la-returns --as-of {as_of}`, then approve or reject",
                    period.label,
                    if count == 1 { "" } else { "s" }
                )
            }),
        };
        if let Some(id) = queue::queue(store, school_id, &report, now)
            .await
            .context("queueing the regular LA return")?
        {
            done.push((period.label.clone(), id));
        }
    }
    Ok(done)
}
