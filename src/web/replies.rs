//! Parents' replies on the Today page: each with what it matched and the reason its words
//! suggest; a person confirms it (choosing the pupil and days when it is not one family's one
//! absence) or sets it aside. Beside them, the office's list of codes to enter in the MIS.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::account::{self, Role};
use super::{Console, Signed, internal};
use crate::reply::confirm::{self, Confirmation, REASONS};
use crate::school::SchoolRuntime;

/// How far back the Today page lists replies.
const SHOWN_FOR_DAYS: u32 = 7;

/// The replies and the MIS list, as the Today page shows them.
pub(super) async fn today_section(c: &Console, school: &SchoolRuntime) -> anyhow::Result<Value> {
    let now = c.now(school);
    let replies = crate::reply::list::recent(c.store(), school, now, SHOWN_FOR_DAYS).await?;
    let waiting: Vec<&crate::reply::list::ReplyView> =
        replies.iter().filter(|r| r.waiting).collect();
    let decided: Vec<&crate::reply::list::ReplyView> = replies
        .iter()
        .filter(|r| !r.waiting && r.received_day == now.date().to_string())
        .collect();
    let to_enter = crate::reply::mis::to_enter(c.store(), school, now.date()).await?;
    let reasons: Vec<Value> = REASONS
        .iter()
        .map(|(k, w, code)| json!({"key": k, "words": w, "code": code}))
        .collect();
    let waiting: Vec<Value> = waiting
        .iter()
        .map(|r| {
            let mut v = json!(r);
            v["reasons"] = json!(
                reasons
                    .iter()
                    .map(|x| {
                        let mut x = x.clone();
                        x["selected"] = json!(x["key"] == json!(r.suggested));
                        x
                    })
                    .collect::<Vec<_>>()
            );
            v["one"] = json!(r.candidates.len() == 1);
            v
        })
        .collect();
    Ok(json!({
        "waiting": waiting,
        "waiting_count": waiting.len(),
        "decided": decided,
        "to_enter": to_enter.iter().map(|e| json!({
            "upn": e.upn,
            "name": e.name,
            "day": e.day.format("%a %-d %b").to_string(),
            "session": e.session.as_str().to_uppercase(),
            "now_shows": if e.now_shows.is_empty() { "no mark" } else { e.now_shows.as_str() },
            "code": e.code,
            "reason": e.reason,
            "by": e.confirmed_by,
        })).collect::<Vec<_>>(),
    }))
}

/// The UPNs of pupils with a reply waiting, so the call list can say so beside them.
pub(super) fn replied_upns(section: &Value) -> Vec<(String, String)> {
    section["waiting"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| {
            let at = r["received"].as_str().unwrap_or_default().to_owned();
            r["candidates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |c| c["upn"].as_str().map(|u| (u.to_owned(), at.clone())))
        })
        .collect()
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    school: i64,
    #[serde(default)]
    pupil: Option<i64>,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
}

fn refused(title: &str, why: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::response::Html(super::view::plain_page(title, why)),
    )
        .into_response()
}

fn day(text: &str, which: &str) -> Result<NaiveDate, Response> {
    text.trim().parse::<NaiveDate>().map_err(|_| {
        refused(
            "Check the dates",
            &format!("The {which} day must be a date (YYYY-MM-DD)."),
        )
    })
}

pub async fn confirm(
    State(c): State<Console>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(form): Form<ConfirmForm>,
) -> Response {
    if let Err(r) = signed.check_csrf(&form.csrf) {
        return r;
    }
    let school = match signed.school_where(
        &c,
        Some(form.school),
        Role::works_calls,
        "Your role does not confirm parents' replies.",
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(pupil_id) = form.pupil else {
        return refused(
            "Choose the pupil",
            "Say which pupil the reply is about before confirming it.",
        );
    };
    let (from, to) = match (day(&form.from, "first"), day(&form.to, "last")) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let confirmation = Confirmation {
        reply_id: id,
        pupil_id,
        from,
        to,
        reason: form.reason.clone(),
        by: signed.user.signed_as(school.id),
    };
    let result = confirm::confirm(c.store(), school, &confirmation, c.now(school)).await;
    match result {
        Ok(Ok(done)) => {
            if let Err(e) = account::audit(
                c.store(),
                &signed.user.email,
                Some(school.id),
                "reply confirmed",
                &format!(
                    "reply {id}: {} session(s), {} call(s) off the list, {} message(s) withdrawn",
                    done.sessions, done.calls_removed, done.messages_cancelled
                ),
                &signed.remote,
                c.wall_now(),
            )
            .await
            {
                return internal(&e);
            }
            Redirect::to(&format!("/?school={}#replies", school.id.0)).into_response()
        }
        Ok(Err(why)) => refused("The reply was not confirmed", &why.to_string()),
        Err(e) => internal(&e),
    }
}

#[derive(Deserialize)]
pub struct SetAsideForm {
    #[serde(default)]
    csrf: String,
    school: i64,
}

pub async fn set_aside(
    State(c): State<Console>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(form): Form<SetAsideForm>,
) -> Response {
    if let Err(r) = signed.check_csrf(&form.csrf) {
        return r;
    }
    let school = match signed.school_where(
        &c,
        Some(form.school),
        Role::works_calls,
        "Your role does not decide parents' replies.",
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let by = signed.user.signed_as(school.id);
    match confirm::set_aside(c.store(), school, id, &by, c.now(school)).await {
        Ok(Ok(())) => {
            if let Err(e) = account::audit(
                c.store(),
                &signed.user.email,
                Some(school.id),
                "reply set aside",
                &format!("reply {id}"),
                &signed.remote,
                c.wall_now(),
            )
            .await
            {
                return internal(&e);
            }
            Redirect::to(&format!("/?school={}#replies", school.id.0)).into_response()
        }
        Ok(Err(why)) => refused("The reply was not set aside", &why.to_string()),
        Err(e) => internal(&e),
    }
}
