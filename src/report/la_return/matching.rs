//! Recorded decisions joined to episodes, so a return shows what was decided and sent.

use std::collections::{HashMap, HashSet};

use anyhow::{Result, bail};
use chrono::NaiveDate;
use sqlx::Row;

use super::data::{SchoolData, histories, year_total_anchor};
use super::output::{Returns, csv_of};
use super::{Episode, ReturnKind, ReturnRule, Shape, kind_of, rule_of};
use crate::config::SchoolConfig;
use crate::delivery::channel::Attachment;
use crate::escalation::policy::Policy;
use crate::register::session::academic_year;
use crate::register::store::{SchoolId, Store};
use crate::report::year_start;
use crate::school::SchoolRuntime;

/// A recorded decision of an LA-return stage, with its return message.
#[derive(Debug, Clone)]
pub(super) struct Recorded {
    id: i64,
    pupil_id: i64,
    stage: String,
    anchor: String,
    reason: String,
    decided_at: String,
    withdrawn_at: Option<String>,
    withdrawn_reason: Option<String>,
    message: Option<Message>,
}

/// The LA-return message a decision travels in.
#[derive(Debug, Clone)]
pub(super) struct Message {
    status: String,
    finished_at: Option<String>,
    decided_by: Option<String>,
    decided_at: Option<String>,
    decision_note: Option<String>,
    last_error: Option<String>,
    /// This decision was taken out of the message (withdrawn), the rest may still go.
    cancelled_reason: Option<String>,
}

pub(super) fn day_of(time: &str) -> &str {
    time.get(..10).unwrap_or(time)
}

impl Recorded {
    /// What has happened to the return, for the status column.
    fn status(&self) -> String {
        let decided = day_of(&self.decided_at);
        if let Some(at) = &self.withdrawn_at {
            return format!(
                "withdrawn on {}: {}",
                day_of(at),
                self.withdrawn_reason
                    .as_deref()
                    .unwrap_or("its cause has gone")
            );
        }
        let Some(m) = &self.message else {
            return format!("decided on {decided}; no return message was made");
        };
        if let Some(why) = &m.cancelled_reason {
            return format!("taken out of the return: {why}");
        }
        let by = |verb: &str| {
            let who = m
                .decided_by
                .as_deref()
                .map_or_else(String::new, |b| format!(" by {b}"));
            let when = m
                .decided_at
                .as_deref()
                .map_or_else(String::new, |d| format!(" on {}", day_of(d)));
            format!("{verb}{who}{when}")
        };
        match m.status.as_str() {
            "sent" | "delivered" => match m.finished_at.as_deref() {
                Some(at) => format!("sent to the LA on {}", day_of(at)),
                None => "sent to the LA".to_owned(),
            },
            "awaiting_approval" => {
                format!("decided on {decided}: awaiting a person's approval (rollcall pending)")
            }
            "queued" | "sending" => format!("{}: queued to send", by("approved")),
            "cancelled" if m.decided_by.is_some() => {
                let note = m
                    .decision_note
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .map_or_else(String::new, |n| format!(" ({n})"));
                format!("{}: not sent{note}", by("rejected"))
            }
            "cancelled" => "cancelled: not sent".to_owned(),
            "failed" => format!(
                "failed: {}",
                m.last_error.as_deref().unwrap_or("no reason recorded")
            ),
            "expired" => "expired before anyone approved it: not sent".to_owned(),
            other => other.to_owned(),
        }
    }

    /// Whether the decision belongs to the school year `year`: its anchor or its date.
    fn in_school_year(&self, year: i32) -> bool {
        if self.anchor == year_total_anchor(year) {
            return true;
        }
        let date = NaiveDate::parse_from_str(&self.anchor, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(day_of(&self.decided_at), "%Y-%m-%d"));
        date.is_ok_and(|d| academic_year(d) == year)
    }
}

/// The recorded decisions of the policy's LA-return stages made up to the end of `as_of`, each
/// with its return message if it has one; only those in message `only_outbox` (and not taken
/// out of it) when given.
pub(super) async fn recorded_decisions(
    store: &Store,
    school: SchoolId,
    policy: &Policy,
    as_of: NaiveDate,
    only_outbox: Option<i64>,
) -> Result<Vec<Recorded>> {
    let stages: HashSet<&str> = policy
        .stages
        .iter()
        .filter(|s| kind_of(s).is_some())
        .map(|s| s.id.as_str())
        .collect();
    if stages.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT d.id, d.pupil_id, d.stage, d.anchor, d.reason, d.decided_at, d.withdrawn_at,
                d.withdrawn_reason, m.status, m.finished_at, m.decided_by, m.decided_at AS approved_at,
                m.decision_note, m.last_error, m.cancelled_reason
         FROM decisions d
         LEFT JOIN (SELECT i.decision_id, i.cancelled_reason, o.id AS outbox_id, o.status,
                           o.finished_at, o.decided_by, o.decided_at, o.decision_note, o.last_error
                    FROM outbox_items i JOIN outbox o ON o.id = i.outbox_id
                    WHERE o.channel = 'la_return') m ON m.decision_id = d.id
         WHERE d.school_id = $1 AND d.decided_at <= $2
           AND ($3 = 0 OR (m.outbox_id = $3 AND m.cancelled_reason IS NULL))
         ORDER BY d.decided_at, d.id",
    )
    .bind(school.0)
    // Decision times are local "YYYY-MM-DDTHH:MM:SS" text.
    .bind(format!("{as_of}T23:59:59"))
    .bind(only_outbox.unwrap_or(0))
    .fetch_all(store.pool())
    .await?;
    let mut out: Vec<Recorded> = Vec::new();
    for row in rows {
        let stage: String = row.try_get("stage")?;
        if !stages.contains(stage.as_str()) {
            continue;
        }
        let status: Option<String> = row.try_get("status")?;
        let message = match status {
            Some(status) => Some(Message {
                status,
                finished_at: row.try_get("finished_at")?,
                decided_by: row.try_get("decided_by")?,
                decided_at: row.try_get("approved_at")?,
                decision_note: row.try_get("decision_note")?,
                last_error: row.try_get("last_error")?,
                cancelled_reason: row.try_get("cancelled_reason")?,
            }),
            None => None,
        };
        let id: i64 = row.try_get("id")?;
        // A decision in two return messages (never made today) is listed once, by its first.
        if out.last().is_some_and(|r| r.id == id) {
            continue;
        }
        out.push(Recorded {
            id,
            pupil_id: row.try_get("pupil_id")?,
            stage,
            anchor: row.try_get("anchor")?,
            reason: row.try_get("reason")?,
            decided_at: row.try_get("decided_at")?,
            withdrawn_at: row.try_get("withdrawn_at")?,
            withdrawn_reason: row.try_get("withdrawn_reason")?,
            message,
        });
    }
    Ok(out)
}

/// A recorded return the report cannot show as an episode of the register: its marks were
/// recoded since, or its stage's trigger names no run and no illness (a rule of the policy's
/// own, `own_rule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    pub own_rule: bool,
    pub kind: ReturnKind,
    pub upn: String,
    pub pupil: String,
    pub stage: String,
    /// The episode as it was decided: its first day, or `year-YYYY-total`.
    pub anchor: String,
    pub decided_on: String,
    pub status: String,
}

/// Every episode the policy's LA-return stages return, as of `as_of`, each joined with the
/// decisions recorded for it (by anchor); recorded decisions of the school year that no
/// episode claims are returned apart.
pub(super) fn join_episodes(
    school: &SchoolConfig,
    policy: &Policy,
    data: &SchoolData,
    recorded: &[Recorded],
    as_of: NaiveDate,
) -> (Vec<(Episode, String)>, Vec<Unmatched>) {
    let year = academic_year(as_of);
    let mut by_pupil_stage: HashMap<(i64, &str), Vec<usize>> = HashMap::new();
    for (i, r) in recorded.iter().enumerate() {
        by_pupil_stage
            .entry((r.pupil_id, r.stage.as_str()))
            .or_default()
            .push(i);
    }
    let mut claimed = vec![false; recorded.len()];
    let mut episodes = Vec::new();
    let pupils = data.pupils_by_name();
    for stage in &policy.stages {
        let Some(rule) = rule_of(stage) else {
            continue;
        };
        for pupil in &pupils {
            for mut episode in data.episodes(school, &stage.id, rule, pupil, as_of) {
                let mut statuses = Vec::new();
                let mut reason = String::new();
                for &i in by_pupil_stage
                    .get(&(pupil.id, stage.id.as_str()))
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                {
                    if !claimed[i] && episode.is_anchored_at(&recorded[i].anchor, year) {
                        claimed[i] = true;
                        statuses.push(recorded[i].status());
                        reason.clone_from(&recorded[i].reason);
                    }
                }
                episode.status = if !statuses.is_empty() {
                    statuses.join("; ")
                } else {
                    match (rule, episode.shape) {
                        (
                            ReturnRule::Runs {
                                include_ended: false,
                                ..
                            },
                            Shape::Run { ongoing: false },
                        ) => "not returned: the stage returns a run only while it is going on (include_ended = false in the policy)".to_owned(),
                        _ => "due: the next escalation run records it for a person's approval"
                            .to_owned(),
                    }
                };
                episodes.push((episode, reason));
            }
        }
    }
    let mut unmatched = Vec::new();
    for (r, _) in recorded
        .iter()
        .zip(&claimed)
        .filter(|(r, claimed)| !**claimed && r.in_school_year(year))
    {
        let Some(stage) = policy.stages.iter().find(|s| s.id == r.stage) else {
            continue;
        };
        let Some(kind) = kind_of(stage) else {
            continue;
        };
        let (upn, pupil) = data.pupils.get(&r.pupil_id).map_or_else(
            || (String::new(), String::new()),
            |p| {
                (
                    p.pupil.upn.to_string(),
                    format!("{}, {}", p.pupil.surname, p.pupil.forename),
                )
            },
        );
        unmatched.push(Unmatched {
            own_rule: rule_of(stage).is_none(),
            kind,
            upn,
            pupil,
            stage: stage.title.clone(),
            anchor: r.anchor.clone(),
            decided_on: day_of(&r.decided_at).to_owned(),
            status: r.status(),
        });
    }
    (episodes, unmatched)
}

/// The return files for one LA-return message: a CSV of its episodes as the register shows
/// them today (the same lines `rollcall report la-returns` prints) and a PDF cover. A message
/// whose episodes the register no longer shows (recoded since) is refused, so nothing stale
/// reaches the LA; the next escalation run withdraws it.
pub async fn attachments_for_message(
    store: &Store,
    school: &SchoolRuntime,
    outbox_id: i64,
    today: NaiveDate,
) -> Result<Vec<Attachment>> {
    let config = &school.config;
    let school_id = school.id;
    let policy = &school.policy;
    let recorded = recorded_decisions(store, school_id, policy, today, Some(outbox_id)).await?;
    if recorded.is_empty() {
        bail!("message {outbox_id} carries no decision of an LA-return stage of the policy");
    }
    let data = SchoolData::load(store, school_id, today).await?;
    let history = histories(store, school_id).await?;
    let year = academic_year(today);
    let mut returns = Returns {
        as_of: Some(today),
        ..Returns::default()
    };
    let mut gone = Vec::new();
    for r in &recorded {
        let Some(stage) = policy.stages.iter().find(|s| s.id == r.stage) else {
            continue;
        };
        let Some(pupil) = data.pupils.get(&r.pupil_id) else {
            continue;
        };
        let episode = match rule_of(stage) {
            Some(rule) => data
                .episodes(config, &stage.id, rule, pupil, today)
                .into_iter()
                .find(|e| e.is_anchored_at(&r.anchor, year)),
            // A rule of the policy's own: the pupil's school year so far.
            None => Some(Episode {
                pupil_id: pupil.id,
                kind: ReturnKind::Regular,
                stage: stage.id.clone(),
                start: year_start(today),
                end: today,
                school_days: 0,
                sessions: 0,
                shape: Shape::Period,
                status: String::new(),
            }),
        };
        let Some(mut episode) = episode else {
            gone.push(format!("decision {} ({}, {})", r.id, r.stage, r.anchor));
            continue;
        };
        episode.status = format!("sent to the LA on {today}");
        let actions = history.get(&r.pupil_id).map_or("", String::as_str);
        if let Some(line) = data.line(config, &episode, today, actions, &r.reason) {
            returns.lines.entry(episode.kind).or_default().push(line);
        }
    }
    if returns.lines.is_empty() {
        bail!(
            "the register no longer shows the episode this return was decided for ({}): its marks were changed since; the next escalation run withdraws it",
            gone.join("; ")
        );
    }
    let mut out = Vec::new();
    for (kind, lines) in &returns.lines {
        out.push(Attachment {
            filename: format!("{}-{}-{today}.csv", config.la_code, kind.slug()),
            content_type: "text/csv".into(),
            bytes: csv_of(lines)?,
        });
    }
    let cover = returns.cover(config);
    out.push(Attachment {
        filename: format!("{}-la-return-{today}.pdf", config.la_code),
        content_type: "application/pdf".into(),
        bytes: crate::report::pdf::document_pdf(&cover).map_err(|e| anyhow::anyhow!("{e}"))?,
    });
    Ok(out)
}
