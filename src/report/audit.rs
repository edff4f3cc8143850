//! The ladder audit: what a policy did over a simulated (or real) period, in the figures that
//! show whether it treats families right over time. Decisions per stage, approvals that never
//! reached a person's decision and why, the most letters one family got in a day and the most
//! penalty-notice reviews one pupil got. `rollcall demo` prints it after its run; the README's
//! year-long table is made of it (`scripts/year-audit`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use anyhow::Result;
use sqlx::Row;

use crate::escalation::policy::{Policy, TaskKind};
use crate::register::store::{SchoolId, Store};

/// One stage's decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageCount {
    pub stage: String,
    pub decisions: u64,
    pub pupils: u64,
    /// Withdrawn because the register no longer showed their cause (a recode).
    pub withdrawn: u64,
}

/// An approval that did not go out, grouped by stage and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSent {
    pub stage: String,
    /// "rejected by a person", "withdrawn: the register no longer shows its cause", "expired".
    pub why: String,
    pub messages: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LadderAudit {
    pub policy: String,
    pub stages: Vec<StageCount>,
    pub not_sent: Vec<NotSent>,
    pub approvals: u64,
    /// The most letters delivered to one postal address in one day.
    pub most_letters_per_family_day: u64,
    /// The most family messages (letters, emails, texts; one message to two parents counts
    /// once) about one pupil in one day.
    pub most_family_messages_per_pupil_day: u64,
    /// The most penalty-notice reviews one pupil had (not withdrawn).
    pub most_reviews_per_pupil: u64,
    pub la_returns: u64,
}

impl LadderAudit {
    pub async fn load(store: &Store, school: SchoolId, policy: &Policy) -> Result<LadderAudit> {
        let mut audit = LadderAudit {
            policy: policy.name.clone(),
            ..LadderAudit::default()
        };
        let mut by_stage: HashMap<String, StageCount> = HashMap::new();
        for row in sqlx::query(
            "SELECT stage, COUNT(*) AS n, COUNT(DISTINCT pupil_id) AS pupils,
                    SUM(CASE WHEN withdrawn_at IS NULL THEN 0 ELSE 1 END) AS withdrawn
             FROM decisions WHERE school_id = $1 GROUP BY stage",
        )
        .bind(school.0)
        .fetch_all(store.pool())
        .await?
        {
            let stage: String = row.try_get("stage")?;
            by_stage.insert(
                stage.clone(),
                StageCount {
                    stage,
                    decisions: row.try_get::<i64, _>("n")? as u64,
                    pupils: row.try_get::<i64, _>("pupils")? as u64,
                    withdrawn: row.try_get::<Option<i64>, _>("withdrawn")?.unwrap_or(0) as u64,
                },
            );
        }
        audit.stages = policy
            .stages
            .iter()
            .map(|s| {
                by_stage.remove(&s.id).unwrap_or(StageCount {
                    stage: s.id.clone(),
                    ..StageCount::default()
                })
            })
            .collect();

        // Messages a person had to approve: how many, and each one that did not go out.
        let mut not_sent: BTreeMap<(String, String), u64> = BTreeMap::new();
        for row in sqlx::query(
            "SELECT o.id, o.status, o.decided_by, MIN(d.stage) AS stage
             FROM outbox o JOIN outbox_items i ON i.outbox_id = o.id
             JOIN decisions d ON d.id = i.decision_id
             WHERE o.school_id = $1 AND o.requires_approval = 1
             GROUP BY o.id, o.status, o.decided_by",
        )
        .bind(school.0)
        .fetch_all(store.pool())
        .await?
        {
            audit.approvals += 1;
            let status: String = row.try_get("status")?;
            let decided_by: Option<String> = row.try_get("decided_by")?;
            let why = match (status.as_str(), decided_by) {
                ("cancelled", Some(_)) => "rejected by a person",
                ("cancelled", None) => "withdrawn: the register no longer shows its cause",
                ("expired", _) => "expired before anyone decided",
                _ => continue,
            };
            *not_sent
                .entry((row.try_get("stage")?, why.to_owned()))
                .or_default() += 1;
        }
        audit.not_sent = not_sent
            .into_iter()
            .map(|((stage, why), messages)| NotSent {
                stage,
                why,
                messages,
            })
            .collect();

        let most = |sql: &'static str| async move {
            let rows = sqlx::query(sql)
                .bind(school.0)
                .fetch_all(store.pool())
                .await?;
            let mut top = 0u64;
            for row in rows {
                top = top.max(row.try_get::<i64, _>("n")? as u64);
            }
            anyhow::Ok(top)
        };
        audit.most_letters_per_family_day = most(
            "SELECT COUNT(*) AS n FROM outbox
             WHERE school_id = $1 AND channel = 'letter' AND status IN ('sent', 'delivered')
               AND recipient_role IN ('contacts', 'parental_responsibility', 'all_contacts')
             GROUP BY address, SUBSTR(COALESCE(sent_at, finished_at, created_at), 1, 10)",
        )
        .await?;
        audit.most_family_messages_per_pupil_day = most(
            "SELECT COUNT(DISTINCT o.template) AS n FROM outbox o
             JOIN outbox_items i ON i.outbox_id = o.id AND i.cancelled_reason IS NULL
             JOIN decisions d ON d.id = i.decision_id
             WHERE o.school_id = $1 AND o.status IN ('sent', 'delivered')
               AND o.recipient_role IN ('contacts', 'parental_responsibility', 'all_contacts')
             GROUP BY d.pupil_id, SUBSTR(COALESCE(o.sent_at, o.finished_at, o.created_at), 1, 10)",
        )
        .await?;

        let reviews: Vec<&str> = policy
            .stages
            .iter()
            .filter(|s| {
                s.actions
                    .iter()
                    .any(|a| a.task == Some(TaskKind::PenaltyNoticeReview))
            })
            .map(|s| s.id.as_str())
            .collect();
        let mut per_pupil: HashMap<i64, u64> = HashMap::new();
        for row in sqlx::query(
            "SELECT pupil_id, stage, COUNT(*) AS n FROM decisions
             WHERE school_id = $1 AND withdrawn_at IS NULL GROUP BY pupil_id, stage",
        )
        .bind(school.0)
        .fetch_all(store.pool())
        .await?
        {
            let stage: String = row.try_get("stage")?;
            if reviews.contains(&stage.as_str()) {
                *per_pupil.entry(row.try_get("pupil_id")?).or_default() +=
                    row.try_get::<i64, _>("n")? as u64;
            }
        }
        audit.most_reviews_per_pupil = per_pupil.values().copied().max().unwrap_or(0);
        let la: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE school_id = $1 AND channel = 'la_return'
             AND status IN ('sent', 'delivered')",
        )
        .bind(school.0)
        .fetch_one(store.pool())
        .await?;
        audit.la_returns = la as u64;
        Ok(audit)
    }

    /// Approvals that did not go out, however it happened.
    pub fn not_sent(&self) -> u64 {
        self.not_sent.iter().map(|n| n.messages).sum()
    }

    /// Those withdrawn by rollcall (the register changed before a person decided).
    pub fn withdrawn(&self) -> u64 {
        self.not_sent
            .iter()
            .filter(|n| n.why.starts_with("withdrawn"))
            .map(|n| n.messages)
            .sum()
    }
}

impl fmt::Display for LadderAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Ladder audit ({}):", self.policy)?;
        writeln!(
            f,
            "  {:<28} {:>9} {:>7} {:>9}",
            "stage", "decisions", "pupils", "withdrawn"
        )?;
        for s in &self.stages {
            writeln!(
                f,
                "  {:<28} {:>9} {:>7} {:>9}",
                s.stage, s.decisions, s.pupils, s.withdrawn
            )?;
        }
        writeln!(
            f,
            "  approvals: {} asked of a person; {} did not go out",
            self.approvals,
            self.not_sent()
        )?;
        for n in &self.not_sent {
            writeln!(f, "    {} × {}: {}", n.messages, n.stage, n.why)?;
        }
        writeln!(
            f,
            "  letters to one family in one day, most: {}; family messages about one pupil in one day, most: {}",
            self.most_letters_per_family_day, self.most_family_messages_per_pupil_day
        )?;
        writeln!(
            f,
            "  penalty-notice reviews for one pupil, most: {}; LA returns sent: {}",
            self.most_reviews_per_pupil, self.la_returns
        )
    }
}
