//! Sign-in, Today (the call list and its outcomes, what waits, alerts, what went out this
//! morning) and approvals.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row as _;

use super::account::{self, Refused, Role};
use super::{Console, SESSION_COOKIE, Signed, forbidden, internal, not_found};
use crate::delivery::outbox::{self, Verdict, Waiting};
use crate::escalation::policy::{Channel, Policy, Recipient, TaskKind};
use crate::school::SchoolRuntime;

#[derive(Deserialize, Default)]
pub struct SchoolQuery {
    pub school: Option<i64>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
}

pub async fn login_page(State(c): State<Console>, signed: Option<Signed>) -> Response {
    if signed.is_some() {
        return Redirect::to("/").into_response();
    }
    c.views.public(
        "login",
        "Sign in",
        json!({ "error": "", "oidc": oidc_label(&c) }),
    )
}

pub async fn login(
    State(c): State<Console>,
    super::Remote(remote): super::Remote,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    if !super::same_origin(&headers, &c) {
        return forbidden("This sign-in came from another site and was refused.");
    }
    let now = c.wall_now();
    let outcome = match account::sign_in(c.store(), c.web(), &form.email, &form.password, now).await
    {
        Ok(o) => o,
        Err(e) => return internal(&e),
    };
    let email = form.email.trim().to_lowercase();
    match outcome {
        Ok((token, _)) => {
            if let Err(e) =
                account::audit(c.store(), &email, None, "sign-in", "", &remote, now).await
            {
                return internal(&e);
            }
            (jar.add(session_cookie(token)), Redirect::to("/")).into_response()
        }
        Err(refused) => {
            let action = match refused {
                Refused::WrongPassword => "sign-in refused",
                Refused::Locked => "sign-in refused: locked",
            };
            if let Err(e) = account::audit(c.store(), &email, None, action, "", &remote, now).await
            {
                return internal(&e);
            }
            // One answer for every refusal: the page must not tell who has an account, or
            // whose account is locked (the audit keeps the reason for the school).
            let error = format!(
                "That email address and password do not match an account here, or the account \
                 is locked for {} minutes after {} wrong passwords. Ask your attendance officer \
                 if you need in sooner.",
                c.web().lockout_minutes,
                c.web().lockout_failures
            );
            let mut page = c.views.public(
                "login",
                "Sign in",
                json!({ "error": error, "oidc": oidc_label(&c) }),
            );
            *page.status_mut() = StatusCode::UNAUTHORIZED;
            page
        }
    }
}

/// The session cookie: `Secure`, `HttpOnly`, `SameSite=Strict`, the whole site.
pub(super) fn session_cookie(token: String) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .build()
}

/// The school-account button's words, or "" when there is none.
fn oidc_label(c: &Console) -> String {
    c.web()
        .oidc
        .as_ref()
        .map(|o| o.label.clone())
        .unwrap_or_default()
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(c): State<Console>,
    signed: Signed,
    jar: CookieJar,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = signed.check_csrf(&form.csrf) {
        return r;
    }
    if let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned())
        && let Err(e) = account::sign_out(c.store(), &token).await
    {
        return internal(&e);
    }
    (
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        Redirect::to("/login"),
    )
        .into_response()
}

/// The outcomes a call can have, as the form offers them.
pub const OUTCOMES: [(&str, &str); 4] = [
    ("no_answer", "No answer"),
    ("message_left", "Message left"),
    ("spoke_to", "Spoke to family"),
    ("reason_given", "Reason given"),
];

pub(super) fn outcome_words(key: &str) -> &'static str {
    OUTCOMES
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("Recorded", |(_, w)| w)
}

/// Today's recorded call outcomes by UPN, latest last.
async fn outcomes_on(
    c: &Console,
    school: &SchoolRuntime,
    day: NaiveDate,
) -> anyhow::Result<BTreeMap<String, Vec<Value>>> {
    let rows = sqlx::query(
        "SELECT p.upn, o.outcome, o.note, o.recorded_by, o.recorded_at
         FROM call_outcomes o JOIN pupils p ON p.id = o.pupil_id
         WHERE o.school_id = $1 AND o.day = $2 ORDER BY o.id",
    )
    .bind(school.id.0)
    .bind(day.to_string())
    .fetch_all(c.store().pool())
    .await?;
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in rows {
        let outcome: String = r.try_get("outcome")?;
        let at: String = r.try_get("recorded_at")?;
        out.entry(r.try_get("upn")?).or_default().push(json!({
            "outcome": outcome,
            "words": outcome_words(&outcome),
            "note": r.try_get::<String, _>("note")?,
            "by": r.try_get::<String, _>("recorded_by")?,
            "at": at.get(11..16).unwrap_or_default(),
            "settled": matches!(outcome.as_str(), "spoke_to" | "reason_given"),
        }));
    }
    Ok(out)
}

pub async fn today(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<SchoolQuery>,
) -> Response {
    let school = match signed.school(&c, q.school) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !signed.user.has(school.id, Role::sees_pupils) {
        return Redirect::to(&format!("/reports?school={}", school.id.0)).into_response();
    }
    match today_page(&c, &signed, school).await {
        Ok(page) => page,
        Err(e) => internal(&e),
    }
}

async fn today_page(
    c: &Console,
    signed: &Signed,
    school: &SchoolRuntime,
) -> anyhow::Result<Response> {
    let now = c.now(school);
    let today = now.date();
    let tasks =
        crate::delivery::tasks::today(c.store(), school, &c.daemon.deliverer.channels.sink, today)
            .await?;
    let outcomes = outcomes_on(c, school, today).await?;
    let mut list = crate::delivery::channel::call_list::view(&tasks.calls);
    list["summary"] = json!(format!(
        "{}, {}",
        count_words(
            list["call_count"].as_u64().unwrap_or(0) as usize,
            "call",
            "calls"
        ),
        count_words(
            list["pupil_count"].as_u64().unwrap_or(0) as usize,
            "pupil",
            "pupils"
        )
    ));
    let replies = super::replies::today_section(c, school).await?;
    let replied = super::replies::replied_upns(&replies);
    // A call whose every child has a settled outcome moves to the end, marked done.
    if let Some(calls) = list.get_mut("calls").and_then(Value::as_array_mut) {
        for call in calls.iter_mut() {
            let mut settled = true;
            if let Some(pupils) = call.get_mut("pupils").and_then(Value::as_array_mut) {
                for p in pupils.iter_mut() {
                    let upn = p.get("upn").and_then(Value::as_str).unwrap_or_default();
                    let replied_at = replied
                        .iter()
                        .find(|(u, _)| u == upn)
                        .map(|(_, at)| at.clone());
                    let rec = outcomes.get(upn).cloned().unwrap_or_default();
                    settled &= rec.iter().any(|o| o["settled"] == json!(true));
                    p["outcomes"] = Value::Array(rec);
                    p["replied"] = json!(replied_at.unwrap_or_default());
                }
            }
            call["done"] = json!(settled);
        }
        calls.sort_by_key(|call| call["done"] == json!(true));
    }
    let waiting = outbox::pending(c.store(), school.id).await?;
    let grace = school.policy.settings.grace_minutes;
    let status = crate::status::school_status(
        c.store(),
        &c.daemon.config,
        &school.config,
        school.id,
        grace,
        c.daemon.clock.now(),
    )
    .await?;
    let sent = sent_today(c, school, today, now).await?;
    let open_tasks = super::tasks::open_tasks(c, school, today).await?;
    let page = json!({
        "date": today.format("%A %-d %B %Y").to_string(),
        "calls": list,
        "outcomes": OUTCOMES.iter().map(|(k, w)| json!({"key": k, "words": w})).collect::<Vec<_>>(),
        "waiting_count": waiting.len(),
        "waiting": waiting.iter().take(5).map(|w| waiting_view(w, &school.policy)).collect::<Vec<_>>(),
        "alerts": status.alerts,
        "failed": status.failed.iter().take(10).collect::<Vec<_>>(),
        "held": status.last_runs.iter().filter(|r| r.outcome.contains("held")).map(|r| format!("{} {}: {}", r.job, r.due, r.outcome)).collect::<Vec<_>>(),
        "sent": sent,
        "tasks": open_tasks,
        "replies": replies,
        "last_import": status.last_import,
    });
    Ok(c.views.page("today", "Today", signed, school, page))
}

/// What went out today up to now, by channel and template (counts, no names). `sent_at` is
/// an instant (UTC): the school's local day is turned into instants to compare.
async fn sent_today(
    c: &Console,
    school: &SchoolRuntime,
    today: NaiveDate,
    now: chrono::NaiveDateTime,
) -> anyhow::Result<Vec<Value>> {
    let tz = school.config.timezone;
    let instant = |local: chrono::NaiveDateTime| {
        crate::schedule::instant_text(crate::schedule::local_instant(tz, local))
    };
    let rows = sqlx::query(
        "SELECT channel, template, COUNT(*) AS n FROM outbox
         WHERE school_id = $1 AND status IN ('sent', 'delivered') AND sent_at >= $2 AND sent_at <= $3
         GROUP BY channel, template ORDER BY channel, template",
    )
    .bind(school.id.0)
    .bind(instant(today.and_time(chrono::NaiveTime::MIN)))
    .bind(instant(now))
    .fetch_all(c.store().pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(json!({
                "channel": r.try_get::<String, _>("channel")?,
                "template": r.try_get::<String, _>("template")?.replace('_', " "),
                "count": r.try_get::<i64, _>("n")?,
            }))
        })
        .collect()
}

#[derive(Deserialize)]
pub struct OutcomeForm {
    #[serde(default)]
    csrf: String,
    school: i64,
    outcome: String,
    #[serde(default)]
    note: String,
}

pub async fn call_outcome(
    State(c): State<Console>,
    signed: Signed,
    Path(upn): Path<String>,
    Form(form): Form<OutcomeForm>,
) -> Response {
    if let Err(r) = signed.check_csrf(&form.csrf) {
        return r;
    }
    let school = match signed.school_where(
        &c,
        Some(form.school),
        Role::works_calls,
        "Your role does not keep the call list.",
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !OUTCOMES.iter().any(|(k, _)| *k == form.outcome) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::response::Html(super::view::plain_page(
                "Choose an outcome",
                "Pick what happened on the call: no answer, message left, spoke to family or reason given.",
            )),
        )
            .into_response();
    }
    let result: anyhow::Result<Option<()>> = async {
        let Some(pupil_id) = pupil_id(&c, school, &upn).await? else {
            return Ok(None);
        };
        let now = c.now(school);
        sqlx::query(
            "INSERT INTO call_outcomes (school_id, pupil_id, day, outcome, note, recorded_by, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(school.id.0)
        .bind(pupil_id)
        .bind(now.date().to_string())
        .bind(&form.outcome)
        .bind(form.note.trim())
        .bind(signed.user.signed_as(school.id))
        .bind(now.format("%Y-%m-%dT%H:%M:%S").to_string())
        .execute(c.store().pool())
        .await?;
        account::audit(
            c.store(),
            &signed.user.email,
            Some(school.id),
            &format!("call outcome: {}", form.outcome),
            &upn,
            &signed.remote,
            c.wall_now(),
        )
        .await?;
        Ok(Some(()))
    }
    .await;
    match result {
        Ok(Some(())) => {
            Redirect::to(&format!("/?school={}#call-{upn}", school.id.0)).into_response()
        }
        Ok(None) => not_found("There is no pupil with that UPN at this school."),
        Err(e) => internal(&e),
    }
}

pub(super) async fn pupil_id(
    c: &Console,
    school: &SchoolRuntime,
    upn: &str,
) -> anyhow::Result<Option<i64>> {
    Ok(
        sqlx::query("SELECT id FROM pupils WHERE school_id = $1 AND upn = $2")
            .bind(school.id.0)
            .bind(upn)
            .fetch_optional(c.store().pool())
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?,
    )
}

/// Who may decide a waiting message. A message the headteacher signs is theirs to approve;
/// the office decides only messages to families that are not part of an LA return or a
/// penalty-notice or contract decision; the rest is the attendance officer's or the head's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reserved {
    Headteacher,
    NotOffice,
    Anyone,
}

fn reserved(w: &Waiting, policy: &Policy) -> Reserved {
    let stages: Vec<_> = w
        .about
        .iter()
        .filter_map(|(_, stage, _)| policy.stages.iter().find(|s| &s.id == stage))
        .collect();
    let action = stages.iter().find_map(|s| {
        s.actions
            .iter()
            .find(|a| a.template == w.template && a.channel.as_str() == w.channel)
            .map(|a| (s, a))
    });
    if action.is_some_and(|(s, a)| s.signatory_for(a) == Some(Recipient::Headteacher)) {
        return Reserved::Headteacher;
    }
    let legal = stages.iter().any(|s| {
        s.actions.iter().any(|a| {
            a.channel == Channel::LaReturn
                || matches!(
                    a.task,
                    Some(TaskKind::PenaltyNoticeReview | TaskKind::AttendanceContract)
                )
        })
    });
    // The office decides family messages only: anything to the LA, a social worker or other
    // staff, any judgement about a penalty or contract, or a message whose action the policy no
    // longer has, is for the attendance officer or the head.
    let to_family = action.is_some_and(|(_, a)| a.to.is_family());
    if legal || w.channel == Channel::LaReturn.as_str() || !to_family {
        Reserved::NotOffice
    } else {
        Reserved::Anyone
    }
}

fn may_decide(signed: &Signed, school: &SchoolRuntime, w: &Waiting) -> Result<(), &'static str> {
    let roles = signed.user.roles_at(school.id);
    let ok = match reserved(w, &school.policy) {
        Reserved::Headteacher => roles.contains(&Role::Headteacher),
        Reserved::NotOffice => roles
            .iter()
            .any(|r| matches!(r, Role::AttendanceOfficer | Role::Headteacher)),
        Reserved::Anyone => roles.iter().any(|r| r.approves()),
    };
    if ok {
        Ok(())
    } else {
        Err(match reserved(w, &school.policy) {
            Reserved::Headteacher => {
                "This message is signed by the headteacher: only the headteacher approves it."
            }
            Reserved::NotOffice => {
                "Only messages to families are approved by the office; this one is for the attendance officer or the headteacher."
            }
            Reserved::Anyone => "Your role does not approve messages.",
        })
    }
}

/// A channel as a person says it.
pub(super) fn channel_words(channel: &str) -> &'static str {
    match channel {
        "sms" => "Text",
        "email" => "Email",
        "letter" => "Letter",
        "la_return" => "LA return",
        "task" => "Task",
        _ => "Message",
    }
}

/// "3 calls", "1 call".
pub(super) fn count_words(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn waiting_view(w: &Waiting, policy: &Policy) -> Value {
    let family = w.recipient.starts_with("contact");
    let stage_title = w
        .about
        .first()
        .map(|(_, stage, _)| policy.stage_title(stage))
        .unwrap_or_default();
    let channel = channel_words(&w.channel);
    // "Letter: Day three: letter home", but not "LA return: LA return: …".
    let heading = if stage_title.starts_with(channel) {
        stage_title.clone()
    } else {
        format!("{channel}: {stage_title}")
    };
    json!({
        "heading": heading,
        "id": w.id,
        "channel": channel_words(&w.channel),
        "recipient": if family { w.recipient.clone() } else { crate::delivery::role_words(&w.recipient_role) },
        "title": stage_title,
        "recipient_role": w.recipient_role.replace('_', " "),
        "template": w.template.replace('_', " "),
        "created_at": w.created_at.replace('T', " "),
        "expires_at": w.expires_at.clone().unwrap_or_default().replace('T', " "),
        "hold_reason": w.hold_reason.clone().unwrap_or_default(),
        "note_asked": w.note_asked(policy).unwrap_or_default(),
        "reserved": match reserved(w, policy) {
            Reserved::Headteacher => "headteacher",
            Reserved::NotOffice => "attendance officer or headteacher",
            Reserved::Anyone => "",
        },
        "about": w.about.iter().map(|(upn, stage, reason)| json!({
            "upn": upn, "stage": policy.stage_title(stage), "reason": reason,
        })).collect::<Vec<_>>(),
    })
}

pub async fn approvals(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<SchoolQuery>,
) -> Response {
    let school = match signed.school_where(
        &c,
        q.school,
        Role::sees_pupils,
        "Your role does not see messages about pupils.",
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let waiting = match outbox::pending(c.store(), school.id).await {
        Ok(w) => w,
        Err(e) => return internal(&e),
    };
    let items: Vec<Value> = waiting
        .iter()
        .map(|w| {
            let mut v = waiting_view(w, &school.policy);
            v["may_decide"] = json!(may_decide(&signed, school, w).is_ok());
            v
        })
        .collect();
    c.views.page(
        "approvals",
        "Awaiting approval",
        &signed,
        school,
        json!({ "items": items, "count": items.len() }),
    )
}

async fn find_waiting(
    c: &Console,
    school: &SchoolRuntime,
    id: i64,
) -> anyhow::Result<Option<Waiting>> {
    Ok(outbox::pending(c.store(), school.id)
        .await?
        .into_iter()
        .find(|w| w.id == id))
}

pub async fn approval(
    State(c): State<Console>,
    signed: Signed,
    Path(id): Path<i64>,
    Query(q): Query<SchoolQuery>,
) -> Response {
    let school = match signed.school_where(
        &c,
        q.school,
        Role::sees_pupils,
        "Your role does not see messages about pupils.",
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let result: anyhow::Result<Option<Value>> = async {
        let Some(w) = find_waiting(&c, school, id).await? else {
            return Ok(None);
        };
        let prepared = c.daemon.deliverer.preview(school, id).await;
        let mut v = waiting_view(&w, &school.policy);
        v["may_decide"] = json!(may_decide(&signed, school, &w).is_ok());
        match prepared {
            Ok(p) => {
                v["rendered"] = json!({
                    "to": p.outgoing.to_name,
                    "address": p.outgoing.address,
                    "subject": p.outgoing.subject,
                    "text": p.outgoing.text,
                    "letter": p.rendered.letter.is_some(),
                    "attachments": p.outgoing.attachments.iter().map(|a| a.filename.clone()).collect::<Vec<_>>(),
                });
                v["render_error"] = json!("");
            }
            Err(e) => {
                v["rendered"] = Value::Null;
                v["render_error"] = json!(e.to_string());
            }
        }
        let mut registers = Vec::new();
        for (upn, _, _) in &w.about {
            if let Some(pupil_id) = pupil_id(&c, school, upn).await? {
                let grid = super::pupil::recent_register(&c, school, pupil_id, 4).await?;
                registers.push(json!({ "upn": upn, "grid": grid }));
            }
        }
        v["registers"] = Value::Array(registers);
        Ok(Some(v))
    }
    .await;
    match result {
        Ok(Some(v)) => c.views.page("approval", "Approval", &signed, school, v),
        Ok(None) => not_found(
            "That message is not waiting for approval (it may have been decided already).",
        ),
        Err(e) => internal(&e),
    }
}

pub async fn approval_letter(
    State(c): State<Console>,
    signed: Signed,
    Path(id): Path<i64>,
    Query(q): Query<SchoolQuery>,
) -> Response {
    let school = match signed.school_where(
        &c,
        q.school,
        Role::sees_pupils,
        "Your role does not see messages about pupils.",
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match find_waiting(&c, school, id).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found("That message is not waiting for approval."),
        Err(e) => return internal(&e),
    }
    match c.daemon.deliverer.preview(school, id).await {
        Ok(p) => match crate::delivery::letter_pdf(&school.config, &p) {
            Some(Ok(pdf)) => (
                [
                    (header::CONTENT_TYPE, "application/pdf"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                pdf,
            )
                .into_response(),
            Some(Err(e)) => internal(&e),
            None => not_found("This message is not a letter."),
        },
        Err(e) => internal(&e),
    }
}

#[derive(Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    csrf: String,
    school: i64,
    #[serde(default)]
    note: String,
    #[serde(default)]
    reason: String,
}

pub async fn approve(
    State(c): State<Console>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(form): Form<DecideForm>,
) -> Response {
    decide(c, signed, id, form, true).await
}

pub async fn reject(
    State(c): State<Console>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(form): Form<DecideForm>,
) -> Response {
    decide(c, signed, id, form, false).await
}

async fn decide(c: Console, signed: Signed, id: i64, form: DecideForm, approve: bool) -> Response {
    if let Err(r) = signed.check_csrf(&form.csrf) {
        return r;
    }
    let school = match signed.school(&c, Some(form.school)) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let w = match find_waiting(&c, school, id).await {
        Ok(Some(w)) => w,
        Ok(None) => {
            return not_found(
                "That message is not waiting for approval (it may have been decided already).",
            );
        }
        Err(e) => return internal(&e),
    };
    if let Err(why) = may_decide(&signed, school, &w) {
        return forbidden(why);
    }
    let note = form.note.trim();
    let reason = form.reason.trim();
    if approve && w.note_asked(&school.policy).is_some() && note.is_empty() {
        return unprocessable(&format!(
            "This message quotes a note from whoever approves it: {}. Write it in the note box.",
            w.note_asked(&school.policy).unwrap_or_default()
        ));
    }
    if !approve && reason.is_empty() {
        return unprocessable("Say why the message is rejected: the reason is kept with it.");
    }
    match decide_one(&c, &signed, school, &w, approve, note, reason).await {
        Ok(()) => Redirect::to(&format!("/approvals?school={}", school.id.0)).into_response(),
        Err(e) => unprocessable(&format!("{e:#}")),
    }
}

async fn decide_one(
    c: &Console,
    signed: &Signed,
    school: &SchoolRuntime,
    w: &Waiting,
    approve: bool,
    note: &str,
    reason: &str,
) -> anyhow::Result<()> {
    let now = c.now(school);
    let by = signed.user.signed_as(school.id);
    let verdict = if approve {
        Verdict::Approve
    } else {
        Verdict::Reject { reason }
    };
    outbox::decide_noted(
        c.store(),
        school.id,
        &school.policy,
        w.id,
        &by,
        verdict,
        (approve && !note.is_empty()).then_some(note),
        now,
    )
    .await?;
    account::audit(
        c.store(),
        &signed.user.email,
        Some(school.id),
        if approve { "approved" } else { "rejected" },
        &format!("message {}", w.id),
        &signed.remote,
        c.wall_now(),
    )
    .await
}

pub(super) fn unprocessable(why: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::response::Html(super::view::plain_page("Not done", why)),
    )
        .into_response()
}

/// The batch form: ticked message ids, and `confirm` once the count has been shown.
pub async fn approve_batch(
    State(c): State<Console>,
    signed: Signed,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if let Err(r) = signed.check_csrf(&field("csrf")) {
        return r;
    }
    let Ok(school_id) = field("school").parse::<i64>() else {
        return unprocessable("The form did not say which school.");
    };
    let school = match signed.school(&c, Some(school_id)) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let ids: Vec<i64> = pairs
        .iter()
        .filter(|(k, _)| k == "id")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    if ids.is_empty() {
        return unprocessable("Tick the messages to approve first.");
    }
    let waiting = match outbox::pending(c.store(), school.id).await {
        Ok(w) => w,
        Err(e) => return internal(&e),
    };
    let chosen: Vec<&Waiting> = waiting.iter().filter(|w| ids.contains(&w.id)).collect();
    if let Some(w) = chosen
        .iter()
        .find(|w| may_decide(&signed, school, w).is_err())
    {
        return forbidden(&format!(
            "Message {} is not yours to approve; untick it and try again.",
            w.id
        ));
    }
    if let Some(w) = chosen
        .iter()
        .find(|w| w.note_asked(&school.policy).is_some())
    {
        return unprocessable(&format!(
            "Message {} needs a note from whoever approves it: approve it on its own page.",
            w.id
        ));
    }
    if field("confirm") != "yes" {
        let page = json!({
            "count": chosen.len(),
            "messages": count_words(chosen.len(), "message", "messages"),
            "ids": chosen.iter().map(|w| w.id).collect::<Vec<_>>(),
            "items": chosen.iter().map(|w| waiting_view(w, &school.policy)).collect::<Vec<_>>(),
        });
        return c
            .views
            .page("confirm", "Approve these?", &signed, school, page);
    }
    for w in chosen {
        if let Err(e) = decide_one(&c, &signed, school, w, true, "", "").await {
            return unprocessable(&format!("message {}: {e:#}", w.id));
        }
    }
    Redirect::to(&format!("/approvals?school={}", school.id.0)).into_response()
}
