//! Reports into the outbox: rendered once, stored with the message, sent by the normal
//! delivery path (leases, retries, alerts). The outbox key names the school, the report and
//! its period, so a report for a period is queued once however often the job runs.

use anyhow::Result;
use chrono::NaiveDateTime;
use sqlx::Row;

use crate::delivery::channel::Attachment;
use crate::register::store::{SchoolId, Store};

/// The template name that marks an outbox row as a stored report.
pub const REPORT_TEMPLATE: &str = "report";

/// A rendered report ready to send.
#[derive(Debug, Clone)]
pub struct Report {
    /// `newsletter`, `governors`, `la_regular_return`, `rewards`.
    pub kind: String,
    /// The period it covers: "2025-W41", "autumn-2025", "2025-10".
    pub period: String,
    /// Who receives it: a role in `[school.staff]` (`newsletter`, `governors`, `la`, …).
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Held for a person's approval before it goes.
    pub requires_approval: bool,
    /// What the person approving is told (`rollcall pending` prints it).
    pub hold_reason: Option<String>,
}

impl Report {
    pub fn key(&self, school: SchoolId) -> String {
        format!("school-{}/report/{}/{}", school.0, self.kind, self.period)
    }
}

/// Queues a report; `None` if this report for this period was queued before.
pub async fn queue(
    store: &Store,
    school: SchoolId,
    report: &Report,
    now: NaiveDateTime,
) -> Result<Option<i64>> {
    let mut tx = store.pool().begin().await?;
    let status = if report.requires_approval {
        "awaiting_approval"
    } else {
        "queued"
    };
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO outbox (school_id, key, channel, recipient_role, recipient, template,
                             status, requires_approval, hold_reason, created_at)
         VALUES ($1, $2, 'email', $3, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (key) DO NOTHING RETURNING id",
    )
    .bind(school.0)
    .bind(report.key(school))
    .bind(&report.to)
    .bind(REPORT_TEMPLATE)
    .bind(status)
    .bind(i64::from(report.requires_approval))
    .bind(report.hold_reason.as_deref())
    .bind(now.format("%Y-%m-%dT%H:%M:%S").to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    sqlx::query(
        "INSERT INTO report_documents (outbox_id, kind, period, subject, text_body, html_body)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(&report.kind)
    .bind(&report.period)
    .bind(&report.subject)
    .bind(&report.text)
    .bind(report.html.as_deref())
    .execute(&mut *tx)
    .await?;
    for (position, a) in report.attachments.iter().enumerate() {
        sqlx::query(
            "INSERT INTO report_attachments (outbox_id, position, filename, content_type, content)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(position as i64)
        .bind(&a.filename)
        .bind(&a.content_type)
        .bind(a.bytes.clone())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Some(id))
}

/// A stored report's subject, bodies and attachments, for delivery.
pub struct Stored {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
}

pub async fn load(store: &Store, outbox_id: i64) -> Result<Stored> {
    let row = sqlx::query(
        "SELECT subject, text_body, html_body FROM report_documents WHERE outbox_id = $1",
    )
    .bind(outbox_id)
    .fetch_one(store.pool())
    .await?;
    let attachments = sqlx::query(
        "SELECT filename, content_type, content FROM report_attachments
         WHERE outbox_id = $1 ORDER BY position",
    )
    .bind(outbox_id)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|r| -> Result<Attachment> {
        Ok(Attachment {
            filename: r.try_get("filename")?,
            content_type: r.try_get("content_type")?,
            bytes: r.try_get("content")?,
        })
    })
    .collect::<Result<_>>()?;
    Ok(Stored {
        subject: row.try_get("subject")?,
        text: row.try_get("text_body")?,
        html: row.try_get("html_body")?,
        attachments,
    })
}

/// Which periods of a report kind are already in the outbox (any status).
pub async fn queued_periods(store: &Store, school: SchoolId, kind: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT r.period FROM report_documents r JOIN outbox o ON o.id = r.outbox_id
         WHERE o.school_id = $1 AND r.kind = $2 ORDER BY r.period",
    )
    .bind(school.0)
    .bind(kind)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(|r| Ok(r.try_get("period")?)).collect()
}
