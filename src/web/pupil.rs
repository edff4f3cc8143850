//! A pupil (register grid, figures, case, messages, calls, contacts), the open cases and
//! lists, the reports and the daemon's status.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{Datelike, Duration, NaiveDate};
use serde_json::{Value, json};
use sqlx::Row as _;

use super::account::Role;
use super::pages::SchoolQuery;
use super::{Console, Signed, forbidden, internal, not_found};
use crate::register::mark::{Category, MarkCode};
use crate::register::session::{Session, academic_year, academic_year_start};
use crate::school::SchoolRuntime;

fn category_class(code: MarkCode) -> &'static str {
    match code.category() {
        Some(Category::Present) => "present",
        Some(Category::ApprovedEducationalActivity) => "aea",
        Some(Category::AuthorisedAbsence) => "authorised",
        Some(Category::UnauthorisedAbsence) => "unauthorised",
        Some(Category::NotCounted) => "not-counted",
        None => "none",
    }
}

/// The last `weeks` school weeks of a pupil's register, a row per school day: date, AM, PM.
pub(super) async fn recent_register(
    c: &Console,
    school: &SchoolRuntime,
    pupil_id: i64,
    weeks: i64,
) -> anyhow::Result<Vec<Value>> {
    let today = c.now(school).date();
    let from = today - Duration::weeks(weeks);
    let mut years = Vec::new();
    for year in academic_year(from)..=academic_year(today) {
        years.extend(c.store().pupil_register_years(pupil_id, year).await?);
    }
    let slices: Vec<(i32, &[u8])> = years.iter().map(|y| (y.year, y.marks.as_slice())).collect();
    let mark = |date: NaiveDate, session: Session| {
        let (year, at) = crate::register::session::slot(date, session);
        slices
            .iter()
            .find(|(y, _)| *y == year)
            .and_then(|(_, m)| m.get(at).copied())
            .and_then(MarkCode::from_byte)
            .unwrap_or(MarkCode::NONE)
    };
    let days = school
        .config
        .calendar
        .school_days_between(from, today)
        .iter()
        .rev()
        .map(|d| {
            let cell = |s: Session| {
                let m = mark(*d, s);
                json!({
                    "code": if m.is_none() { "·".to_owned() } else { m.as_str().to_owned() },
                    "class": category_class(m),
                    "words": if m.is_none() { "no mark".to_owned() } else { crate::delivery::message::code_words(m) },
                })
            };
            json!({
                "date": d.format("%a %-d %b").to_string(),
                "monday": d.weekday() == chrono::Weekday::Mon,
                "am": cell(Session::Am),
                "pm": cell(Session::Pm),
            })
        })
        .collect();
    Ok(days)
}

pub async fn pupil(
    State(c): State<Console>,
    signed: Signed,
    Path(upn): Path<String>,
    Query(q): Query<SchoolQuery>,
) -> Response {
    let school = match signed.school_where(
        &c,
        q.school,
        Role::sees_pupils,
        "Your role does not see pupils.",
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match pupil_page(&c, school, &upn).await {
        Ok(Some((title, page))) => c.views.page("pupil", &title, &signed, school, page),
        Ok(None) => not_found("There is no pupil with that UPN at this school."),
        Err(e) => internal(&e),
    }
}

async fn pupil_page(
    c: &Console,
    school: &SchoolRuntime,
    upn: &str,
) -> anyhow::Result<Option<(String, Value)>> {
    let Some(pupil_id) = super::pages::pupil_id(c, school, upn).await? else {
        return Ok(None);
    };
    let stored = c.store().pupil(pupil_id).await?;
    let p = &stored.pupil;
    let today = c.now(school).date();
    // The figures the reports use run from the academic year's start; the page names the
    // first day of term, which is what a person calls the start of the year.
    let year_start = academic_year_start(academic_year(today));
    let first_day = school
        .config
        .calendar
        .terms()
        .iter()
        .map(|t| t.start)
        .find(|d| *d >= year_start && *d <= today)
        .unwrap_or(year_start);
    let facts = crate::register::stats::school_stats(
        c.store(),
        school.id,
        &school.config,
        year_start,
        today,
        Some(upn),
    )
    .await?
    .into_iter()
    .next()
    .map(|s| s.facts);
    let grid = recent_register(c, school, pupil_id, 6).await?;
    let history = crate::escalation::case::history(c.store(), school.id, pupil_id).await?;
    // An extended integration period, medical evidence, a full export that left the pupil out.
    let records = crate::register::records::for_pupil(c.store(), school.id, pupil_id)
        .await?
        .describe();
    let title = |stage: &Option<String>| {
        stage
            .as_deref()
            .map_or_else(String::new, |id| school.policy.stage_title(id))
    };
    let messages = sqlx::query(
        "SELECT DISTINCT o.id, o.channel, o.template, o.recipient, o.status, o.created_at,
                o.sent_at, o.decided_by, o.decision_note, o.last_error,
                t.outcome AS task_outcome, t.closed_by, t.closed_at
         FROM outbox o JOIN outbox_items i ON i.outbox_id = o.id
         JOIN decisions d ON d.id = i.decision_id
         LEFT JOIN task_outcomes t ON t.outbox_id = o.id
         WHERE d.pupil_id = $1 ORDER BY o.id DESC",
    )
    .bind(pupil_id)
    .fetch_all(c.store().pool())
    .await?
    .iter()
    .map(|r| -> anyhow::Result<Value> {
        let opt = |k: &str| -> anyhow::Result<String> {
            Ok(r.try_get::<Option<String>, _>(k)?.unwrap_or_default())
        };
        let to: String = r.try_get("recipient")?;
        let recipient = if to.starts_with("contact") {
            to
        } else {
            crate::delivery::role_words(&to)
        };
        Ok(json!({
            "id": r.try_get::<i64, _>("id")?,
            "channel": super::pages::channel_words(&r.try_get::<String, _>("channel")?),
            "template": r.try_get::<String, _>("template")?.replace('_', " "),
            "recipient": recipient,
            "status": r.try_get::<String, _>("status")?.replace('_', " "),
            "created_at": r.try_get::<String, _>("created_at")?.replace('T', " "),
            "sent_at": opt("sent_at")?.replace('T', " "),
            "decided_by": opt("decided_by")?,
            "why": opt("decision_note")?,
            "error": opt("last_error")?,
            "task_outcome": opt("task_outcome")?,
            "closed_by": opt("closed_by")?,
            "closed_at": opt("closed_at")?.replace('T', " "),
        }))
    })
    .collect::<anyhow::Result<Vec<_>>>()?;
    let calls = sqlx::query(
        "SELECT day, outcome, note, recorded_by, recorded_at FROM call_outcomes
         WHERE school_id = $1 AND pupil_id = $2 ORDER BY id DESC",
    )
    .bind(school.id.0)
    .bind(pupil_id)
    .fetch_all(c.store().pool())
    .await?
    .iter()
    .map(|r| -> anyhow::Result<Value> {
        let outcome: String = r.try_get("outcome")?;
        Ok(json!({
            "at": r.try_get::<String, _>("recorded_at")?.replace('T', " "),
            "outcome": super::pages::outcome_words(&outcome),
            "note": r.try_get::<String, _>("note")?,
            "by": r.try_get::<String, _>("recorded_by")?,
        }))
    })
    .collect::<anyhow::Result<Vec<_>>>()?;
    let contacts: Vec<Value> = c
        .store()
        .contacts(school.id)
        .await?
        .into_iter()
        .filter(|(id, _)| *id == pupil_id)
        .map(|(_, ct)| {
            json!({
                "name": ct.name,
                "relationship": ct.relationship,
                "mobile": ct.mobile.as_deref().map(crate::delivery::message::display_phone).unwrap_or_default(),
                "email": ct.email.clone().unwrap_or_default(),
            })
        })
        .collect();
    let name = format!("{} {}", p.forename, p.surname);
    let flags: Vec<&str> = [
        (p.social_worker, "social worker"),
        (p.lac, "looked after"),
        (p.concern, "concern"),
        (p.young_carer, "young carer"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, w)| *w)
    .collect();
    let page = json!({
        "name": name,
        "upn": p.upn.as_str(),
        "year_group": p.year_group,
        "reg_group": p.reg_group,
        "flags": flags,
        "facts": facts.map(|f| json!({
            "attendance": format!("{:.1}", f.attendance_pct()),
            "possible": f.possible_sessions,
            "authorised": f.authorised_absence_sessions,
            "unauthorised": f.unauthorised_absence_sessions,
            "late": f.late_sessions,
            "late_after_close": f.late_after_close_sessions,
            "illness": f.illness_sessions,
            "persistent": f.persistent_absence(),
            "severe": f.severe_absence(),
        })),
        "from": first_day.format("%-d %B %Y").to_string(),
        "to": today.format("%-d %B %Y").to_string(),
        "grid": grid,
        "history": history.iter().rev().map(|t| json!({
            "at": t.at.replace('T', " "),
            "from": title(&t.from_stage),
            "to": title(&t.to_stage),
            "reason": t.reason,
        })).collect::<Vec<_>>(),
        "messages": messages,
        "calls": calls,
        "records": records,
        "contacts": contacts,
    });
    Ok(Some((name, page)))
}

#[derive(serde::Deserialize, Default)]
pub struct CasesQuery {
    school: Option<i64>,
    year_group: Option<String>,
    reg_group: Option<String>,
}

pub async fn cases(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<CasesQuery>,
) -> Response {
    let school = match signed.school_where(
        &c,
        q.school,
        Role::sees_pupils,
        "Your role does not see pupils.",
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let result: anyhow::Result<Value> = async {
        let today = c.now(school).date();
        let state = crate::escalation::case::load(c.store(), school.id, today).await?;
        let stats = crate::register::stats::school_stats(
            c.store(),
            school.id,
            &school.config,
            academic_year_start(academic_year(today)),
            today,
            None,
        )
        .await?;
        let keep = |year: &str, reg: &str| {
            q.year_group.as_deref().is_none_or(|y| y.is_empty() || y == year)
                && q.reg_group.as_deref().is_none_or(|r| r.is_empty() || r == reg)
        };
        let row = |s: &crate::register::stats::PupilStats| {
            json!({
                "upn": s.pupil.pupil.upn.as_str(),
                "name": format!("{} {}", s.pupil.pupil.forename, s.pupil.pupil.surname),
                "year_group": s.pupil.pupil.year_group,
                "reg_group": s.pupil.pupil.reg_group,
                "attendance": format!("{:.1}", s.facts.attendance_pct()),
            })
        };
        let mut by_stage: Vec<Value> = Vec::new();
        for stage in &school.policy.stages {
            let pupils: Vec<Value> = stats
                .iter()
                .filter(|s| state.cases.get(&s.pupil.id).is_some_and(|c| c.stage == stage.id))
                .filter(|s| keep(&s.pupil.pupil.year_group, &s.pupil.pupil.reg_group))
                .map(|s| {
                    let mut v = row(s);
                    v["since"] = json!(state.cases[&s.pupil.id].stage_entered.format("%-d %b").to_string());
                    v
                })
                .collect();
            if !pupils.is_empty() {
                by_stage.push(json!({ "title": stage.title, "count": pupils.len(), "pupils": pupils }));
            }
        }
        let list = |test: fn(&crate::register::facts::PupilFacts) -> bool| -> Vec<Value> {
            stats
                .iter()
                .filter(|s| test(&s.facts))
                .filter(|s| keep(&s.pupil.pupil.year_group, &s.pupil.pupil.reg_group))
                .map(row)
                .collect()
        };
        let mut years: Vec<String> = stats.iter().map(|s| s.pupil.pupil.year_group.clone()).collect();
        years.sort();
        years.dedup();
        let mut regs: Vec<String> = stats.iter().map(|s| s.pupil.pupil.reg_group.clone()).collect();
        regs.sort();
        regs.dedup();
        // The DSL's list: every pupil with a social worker, a child protection concern or
        // looked after, with how they are attending (a safeguarding signal in itself).
        let safeguarding: Vec<Value> = stats
            .iter()
            .filter(|s| {
                let p = &s.pupil.pupil;
                p.social_worker || p.concern || p.lac
            })
            .filter(|s| keep(&s.pupil.pupil.year_group, &s.pupil.pupil.reg_group))
            .map(|s| {
                let p = &s.pupil.pupil;
                let mut v = row(s);
                v["why"] = json!(
                    [(p.social_worker, "social worker"), (p.concern, "concern"), (p.lac, "looked after")]
                        .iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, w)| *w)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                v
            })
            .collect();
        // Replies from families of those pupils reach the DSL too, whoever confirms them.
        let safeguarding_replies: Vec<Value> =
            crate::reply::list::recent(c.store(), school, c.now(school), 7)
                .await?
                .into_iter()
                .filter(|r| r.safeguarding)
                .map(|r| json!(r))
                .collect();
        Ok(json!({
            "safeguarding": safeguarding,
            "safeguarding_replies": safeguarding_replies,
            "stages": by_stage,
            "persistent": list(|f| f.persistent_absence() && !f.severe_absence()),
            "severe": list(|f| f.severe_absence()),
            "year_groups": years.iter().map(|y| json!({"name": y, "selected": q.year_group.as_deref() == Some(y.as_str())})).collect::<Vec<_>>(),
            "reg_groups": regs.iter().map(|r| json!({"name": r, "selected": q.reg_group.as_deref() == Some(r.as_str())})).collect::<Vec<_>>(),
        }))
    }
    .await;
    match result {
        Ok(page) => c
            .views
            .page("cases", "Cases and lists", &signed, school, page),
        Err(e) => internal(&e),
    }
}

pub async fn status(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<SchoolQuery>,
) -> Response {
    let school = match signed.school(&c, q.school) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !signed.user.has(school.id, |r| {
        matches!(r, Role::AttendanceOfficer | Role::Headteacher)
    }) {
        return forbidden("The daemon's status is for the attendance officer and the headteacher.");
    }
    let status = crate::status::school_status(
        c.store(),
        &c.daemon.config,
        &school.config,
        school.id,
        school.policy.settings.grace_minutes,
        c.daemon.clock.now(),
    )
    .await;
    match status {
        Ok(s) => {
            let page = json!({
                "daemon": s.daemon.map(|(h, u)| format!("{h}, until {u}")).unwrap_or_default(),
                "last_runs": s.last_runs,
                "next_runs": s.next_runs.iter().map(|(j, at)| json!({"job": j, "at": at})).collect::<Vec<_>>(),
                "outbox": s.outbox.iter().map(|(k, n)| json!({"status": k.replace('_', " "), "count": n})).collect::<Vec<_>>(),
                "failed": s.failed,
                "retrying": s.retrying,
                "alerts": s.alerts,
                "resends": s.resends,
                "last_import": s.last_import.unwrap_or_default(),
                "last_imports": s.last_imports,
                "replay": c.replay,
            });
            c.views.page("status", "Status", &signed, school, page)
        }
        Err(e) => internal(&e),
    }
}
