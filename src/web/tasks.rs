//! Staff tasks other than calls — meetings, home visits, enquiries, reviews — open until a
//! person closes them with what came of it. A task a policy creates for something rollcall
//! cannot do itself (a home visit's outcome, an enquiry's answers) ends here, in the pupil's
//! history.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, NaiveDate};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row as _;

use super::account::{self, Role};
use super::{Console, Signed, internal, not_found};
use crate::school::SchoolRuntime;

/// How far back an open task is still shown: a meeting set up last month and never closed
/// is still someone's job.
const OPEN_FOR_DAYS: i64 = 60;

/// Who may close a task: whoever works with pupils (not a governor).
fn closes_tasks(role: Role) -> bool {
    role.sees_pupils()
}

/// A task kind as stored (`PenaltyNoticeReview`) as a person says it ("Penalty notice review").
fn task_words(kind: &str) -> String {
    let mut out = String::with_capacity(kind.len() + 4);
    for (i, c) in kind.chars().enumerate() {
        if i > 0 && c.is_uppercase() {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Open tasks other than calls, oldest first, as the Today page lists them.
pub(super) async fn open_tasks(
    c: &Console,
    school: &SchoolRuntime,
    today: NaiveDate,
) -> anyhow::Result<Vec<Value>> {
    let rows = sqlx::query(
        "SELECT DISTINCT o.id, o.task, o.recipient_role, o.created_at, p.upn, p.forename,
                p.surname, d.stage, d.reason
         FROM outbox o JOIN outbox_items i ON i.outbox_id = o.id
         JOIN decisions d ON d.id = i.decision_id JOIN pupils p ON p.id = d.pupil_id
         WHERE o.school_id = $1 AND o.channel = 'task' AND o.status = 'delivered'
           AND o.task <> 'Call' AND i.cancelled_reason IS NULL AND o.created_at >= $2
           AND NOT EXISTS (SELECT 1 FROM task_outcomes t WHERE t.outbox_id = o.id)
         ORDER BY o.id",
    )
    .bind(school.id.0)
    .bind((today - Duration::days(OPEN_FOR_DAYS)).to_string())
    .fetch_all(c.store().pool())
    .await?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get("id")?;
            let created: String = r.try_get("created_at")?;
            // The task's own words, as its template wrote them when it was delivered.
            let what_to_do = NaiveDate::parse_from_str(created.get(..10).unwrap_or_default(), "%Y-%m-%d")
                .ok()
                .and_then(|day| {
                    std::fs::read_to_string(crate::delivery::tasks::task_text_path(
                        &c.daemon.deliverer.channels.sink,
                        &school.config.id,
                        day,
                        id,
                    ))
                    .ok()
                })
                .unwrap_or_default();
            Ok(json!({
                "id": id,
                "task": task_words(&r.try_get::<Option<String>, _>("task")?.unwrap_or_default()),
                "for": crate::delivery::role_words(&r.try_get::<String, _>("recipient_role")?),
                "since": created.replace('T', " "),
                "upn": r.try_get::<String, _>("upn")?,
                "name": format!("{} {}", r.try_get::<String, _>("forename")?, r.try_get::<String, _>("surname")?),
                "stage": school.policy.stage_title(&r.try_get::<String, _>("stage")?),
                "reason": r.try_get::<String, _>("reason")?,
                "what_to_do": what_to_do.trim(),
            }))
        })
        .collect()
}

#[derive(Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    csrf: String,
    school: i64,
    #[serde(default)]
    outcome: String,
}

/// `POST /tasks/ID/close`: the task is done, and this is what came of it.
pub async fn close(
    State(c): State<Console>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(form): Form<CloseForm>,
) -> Response {
    if let Err(r) = signed.check_csrf(&form.csrf) {
        return r;
    }
    let school = match signed.school_where(
        &c,
        Some(form.school),
        closes_tasks,
        "Your role does not close tasks.",
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let outcome = form.outcome.trim();
    if outcome.is_empty() {
        return super::pages::unprocessable(
            "Write what came of the task: it is kept in the pupil's history.",
        );
    }
    let result: anyhow::Result<bool> = async {
        let task = sqlx::query(
            "SELECT id FROM outbox WHERE id = $1 AND school_id = $2 AND channel = 'task'
             AND NOT EXISTS (SELECT 1 FROM task_outcomes t WHERE t.outbox_id = outbox.id)",
        )
        .bind(id)
        .bind(school.id.0)
        .fetch_optional(c.store().pool())
        .await?;
        if task.is_none() {
            return Ok(false);
        }
        let now = c.now(school);
        sqlx::query(
            "INSERT INTO task_outcomes (outbox_id, school_id, outcome, closed_by, closed_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(school.id.0)
        .bind(outcome)
        .bind(signed.user.signed_as(school.id))
        .bind(now.format("%Y-%m-%dT%H:%M:%S").to_string())
        .execute(c.store().pool())
        .await?;
        account::audit(
            c.store(),
            &signed.user.email,
            Some(school.id),
            "task closed",
            &format!("message {id}"),
            &signed.remote,
            c.wall_now(),
        )
        .await?;
        Ok(true)
    }
    .await;
    match result {
        Ok(true) => Redirect::to(&format!("/?school={}#tasks", school.id.0)).into_response(),
        Ok(false) => {
            not_found("That is not an open task of this school (it may be closed already).")
        }
        Err(e) => internal(&e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn task_kinds_read_as_words() {
        assert_eq!(
            super::task_words("PenaltyNoticeReview"),
            "Penalty notice review"
        );
        assert_eq!(super::task_words("Meeting"), "Meeting");
        assert_eq!(super::task_words(""), "");
    }
}
