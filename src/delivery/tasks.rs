//! Staff tasks and the office's printouts: today's call list (HTML and CSV, rewritten by every
//! run so it is always current), the task list, and the day's letters batched into one PDF.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use chrono::{NaiveDate, NaiveDateTime};
use sqlx::Row;

use crate::delivery::channel::call_list::{self, CallContact, CallEntry};
use crate::delivery::channel::file::FileSink;
use crate::register::store::Store;
use crate::school::SchoolRuntime;

/// A task row for today, with the pupil it is about.
struct TaskRow {
    outbox_id: i64,
    task: String,
    role: String,
    created_at: String,
    pupil_id: i64,
    upn: String,
    name: String,
    year_group: String,
    reg_group: String,
    safeguarding: bool,
    stage: String,
    reason: String,
}

async fn today_tasks(
    store: &Store,
    school: &SchoolRuntime,
    today: NaiveDate,
) -> Result<Vec<TaskRow>> {
    let rows = sqlx::query(
        "SELECT o.id, o.task, o.recipient_role, o.created_at, p.id AS pupil_id, p.upn, p.forename,
                p.surname, p.year_group, p.reg_group, p.social_worker, p.lac, p.concern,
                d.stage, d.reason
         FROM outbox o JOIN outbox_items i ON i.outbox_id = o.id
         JOIN decisions d ON d.id = i.decision_id JOIN pupils p ON p.id = d.pupil_id
         WHERE o.school_id = $1 AND o.channel = 'task' AND o.status = 'delivered'
           AND i.cancelled_reason IS NULL AND o.created_at >= $2 AND o.created_at < $3
         ORDER BY o.id",
    )
    .bind(school.id.0)
    .bind(today.to_string())
    .bind(today.succ_opt().unwrap_or(today).to_string())
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let flag = |f: &str| r.try_get::<i64, _>(f).map(|v| v != 0);
            let forename: String = r.try_get("forename")?;
            let surname: String = r.try_get("surname")?;
            Ok(TaskRow {
                outbox_id: r.try_get("id")?,
                task: r.try_get::<Option<String>, _>("task")?.unwrap_or_default(),
                role: r.try_get("recipient_role")?,
                created_at: r.try_get("created_at")?,
                pupil_id: r.try_get("pupil_id")?,
                upn: r.try_get("upn")?,
                name: format!("{forename} {surname}"),
                year_group: r.try_get("year_group")?,
                reg_group: r.try_get("reg_group")?,
                safeguarding: flag("social_worker")? || flag("lac")? || flag("concern")?,
                stage: r.try_get("stage")?,
                reason: r.try_get("reason")?,
            })
        })
        .collect()
}

/// What happened to today's texts to each pupil's family, so the caller knows who has heard.
async fn texts_today(
    store: &Store,
    school: &SchoolRuntime,
    today: NaiveDate,
) -> Result<BTreeMap<i64, String>> {
    let rows = sqlx::query(
        "SELECT d.pupil_id, o.status, o.last_error FROM outbox o
         JOIN outbox_items i ON i.outbox_id = o.id JOIN decisions d ON d.id = i.decision_id
         WHERE o.school_id = $1 AND o.channel = 'sms' AND o.created_at >= $2 AND o.created_at < $3",
    )
    .bind(school.id.0)
    .bind(today.to_string())
    .bind(today.succ_opt().unwrap_or(today).to_string())
    .fetch_all(store.pool())
    .await?;
    let mut out = BTreeMap::new();
    for r in rows {
        let status: String = r.try_get("status")?;
        let error: Option<String> = r.try_get("last_error")?;
        let said = match status.as_str() {
            "sent" | "delivered" => "text sent this morning".to_owned(),
            "failed" => format!(
                "NOT REACHED: the text failed ({})",
                error.unwrap_or_default()
            ),
            "expired" => "NOT REACHED: the text was not sent before noon".to_owned(),
            "awaiting_approval" => "text waiting for approval".to_owned(),
            "cancelled" => "text cancelled".to_owned(),
            _ => "text not yet sent".to_owned(),
        };
        out.insert(r.try_get::<i64, _>("pupil_id")?, said);
    }
    Ok(out)
}

/// Where a delivered task's words are kept: `SCHOOL/DATE/tasks/ID.txt` beside the day's lists.
pub fn task_text_path(sink: &FileSink, school: &str, date: NaiveDate, outbox_id: i64) -> PathBuf {
    sink.day_dir(school, date)
        .join("tasks")
        .join(format!("{outbox_id}.txt"))
}

/// Today's staff tasks: the call list in calling order, and the other tasks as rows of the
/// task list CSV. The daemon prints them; the console shows the same list.
pub struct TodayTasks {
    pub calls: Vec<CallEntry>,
    pub others: Vec<[String; 10]>,
}

/// The task list's CSV columns.
const TASK_COLUMNS: [&str; 10] = [
    "task",
    "for",
    "pupil",
    "upn",
    "reg_group",
    "stage",
    "why",
    "listed_at",
    "outbox_id",
    "what_to_do",
];

/// Rewrites today's call list (HTML, CSV) and task list (CSV); returns the call list's path.
pub async fn publish(
    store: &Store,
    school: &SchoolRuntime,
    sink: &FileSink,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<PathBuf> {
    let TodayTasks {
        calls,
        others: rows,
    } = self::today(store, school, sink, today).await?;
    let mut others = csv::Writer::from_writer(Vec::new());
    others.write_record(TASK_COLUMNS)?;
    for fields in &rows {
        others.write_record(
            fields
                .iter()
                .map(|f| crate::report::spreadsheet::safe_cell(f).into_owned()),
        )?;
    }
    let dir = sink.day_dir(&school.config.id, today);
    let html = call_list::render_html(&school.config.name, today, now, &calls)
        .map_err(|e| anyhow::anyhow!("cannot render the call list: {e}"))?;
    let csv_text = call_list::render_csv(today, &calls)
        .map_err(|e| anyhow::anyhow!("cannot write the call list CSV: {e}"))?;
    let html_path = dir.join("call-list.html");
    FileSink::write_atomic(&html_path, html.as_bytes())?;
    FileSink::write_atomic(&dir.join("call-list.csv"), csv_text.as_bytes())?;
    let others = others.into_inner().context("writing the task list")?;
    FileSink::write_atomic(&dir.join("tasks.csv"), &others)?;
    Ok(html_path)
}

/// Today's call list and other tasks, as the day's deliveries listed them.
pub async fn today(
    store: &Store,
    school: &SchoolRuntime,
    sink: &FileSink,
    today: NaiveDate,
) -> Result<TodayTasks> {
    let tasks = today_tasks(store, school, today).await?;
    let texts = texts_today(store, school, today).await?;
    let mut contacts: BTreeMap<i64, Vec<CallContact>> = BTreeMap::new();
    for (pupil_id, c) in store.contacts(school.id).await? {
        if let Some(phone) = c.mobile {
            contacts.entry(pupil_id).or_default().push(CallContact {
                name: c.name,
                relationship: c.relationship,
                // As the office dials it ("07700 900123"), not as stored (E.164).
                phone: crate::delivery::message::display_phone(&phone),
            });
        }
    }
    let mut calls: Vec<CallEntry> = Vec::new();
    let mut others: Vec<[String; 10]> = Vec::new();
    for t in &tasks {
        // The task's own words, as its template wrote them when it was delivered (a task
        // delivered before they were kept has none: the stage and reason still say why).
        let what_to_do =
            std::fs::read_to_string(task_text_path(sink, &school.config.id, today, t.outbox_id))
                .unwrap_or_default();
        if t.task == "Call" {
            let family_contacts = contacts.get(&t.pupil_id).cloned().unwrap_or_default();
            let family = family_contacts
                .first()
                .map_or_else(|| format!("pupil {}", t.upn), |c| c.phone.clone());
            let why = what_to_do
                .lines()
                .next()
                .filter(|l| !l.trim().is_empty())
                .map_or_else(
                    || t.reason.clone(),
                    |l| format!("{} Why: {}", l.trim(), t.reason),
                );
            let reason = match texts.get(&t.pupil_id) {
                Some(said) => format!("{why} ({said})"),
                None => why,
            };
            calls.push(CallEntry {
                pupil_name: t.name.clone(),
                upn: t.upn.clone(),
                year_group: t.year_group.clone(),
                reg_group: t.reg_group.clone(),
                family,
                safeguarding: t.safeguarding,
                stage_title: school.policy.stage_title(&t.stage),
                reason,
                contacts: family_contacts,
            });
        } else {
            let fields = [
                t.task.clone(),
                t.role.clone(),
                t.name.clone(),
                t.upn.clone(),
                t.reg_group.clone(),
                school.policy.stage_title(&t.stage),
                t.reason.clone(),
                t.created_at.clone(),
                t.outbox_id.to_string(),
                what_to_do.trim().to_owned(),
            ];
            others.push(fields);
        }
    }
    call_list::order(&mut calls);
    Ok(TodayTasks { calls, others })
}

/// Collects the day's letters into one PDF for the office to print in one go.
pub fn batch_letters(
    school: &SchoolRuntime,
    sink: &FileSink,
    date: NaiveDate,
) -> Result<Option<PathBuf>> {
    let dir = sink.day_dir(&school.config.id, date).join("letters");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(None);
    };
    let mut letters = Vec::new();
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        letters.push(
            serde_json::from_str::<crate::delivery::channel::letter::Letter>(&text)
                .with_context(|| format!("reading {}", file.display()))?,
        );
    }
    if letters.is_empty() {
        return Ok(None);
    }
    let pdf = crate::delivery::channel::letter::render(&letters)
        .map_err(|e| anyhow::anyhow!("cannot make the day's letters: {e}"))?;
    let path = sink.batch_path(&school.config.id, date);
    FileSink::write_atomic(&path, &pdf)?;
    Ok(Some(path))
}
