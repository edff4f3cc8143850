//! Reports in the console: the governor report for a term, the newsletter for a week and the
//! LA returns as of a day, made by the same functions as `rollcall report`, viewed in the page
//! and downloaded. Governors see the governor report and the newsletter (neither names a
//! child); the LA returns, which do, need a role that sees pupils.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;

use super::account::Role;
use super::{Console, Signed, forbidden, not_found};
use crate::report::{self, Output, ReportContext};
use crate::school::SchoolRuntime;

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    school: Option<i64>,
    /// `governors`, `newsletter` or `la-returns`.
    kind: Option<String>,
    term: Option<String>,
    /// The week (any day of it) or the as-of day.
    date: Option<String>,
    /// One file of the report; without it, the list of its files.
    file: Option<String>,
    #[serde(default)]
    download: bool,
}

pub async fn reports(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<ReportQuery>,
) -> Response {
    let school = match signed.school(&c, q.school) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let today = c.now(school).date();
    let sees_pupils = signed.user.has(school.id, Role::sees_pupils);
    let terms: Vec<_> = school
        .config
        .calendar
        .terms()
        .iter()
        .filter(|t| t.start <= today)
        .map(|t| json!({ "name": t.name, "selected": q.term.as_deref() == Some(t.name.as_str()) }))
        .collect();
    let mut page = json!({
        "today": today.to_string(),
        "terms": terms,
        "la_returns": sees_pupils,
        "made": null,
    });
    if let Some(kind) = q.kind.as_deref() {
        if kind == "la-returns" && !sees_pupils {
            return forbidden("The LA returns name pupils: your role sees reports without names.");
        }
        let date = match q.date.as_deref().filter(|d| !d.is_empty()) {
            None => today,
            Some(d) => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                Ok(d) => d,
                Err(_) => {
                    return (
                        axum::http::StatusCode::BAD_REQUEST,
                        axum::response::Html(super::view::plain_page(
                            "Not a date",
                            "Give the date as YYYY-MM-DD.",
                        )),
                    )
                        .into_response();
                }
            },
        };
        let outputs = match make(&c, school, kind, q.term.as_deref(), date, today).await {
            Ok(Some(o)) => o,
            Ok(None) => return not_found("There is no such report, or no such term."),
            // What stops a report is nearly always the period asked for (a week in the
            // holidays): say why, as the command line does.
            Err(e) => {
                return super::pages::unprocessable(&format!("This report cannot be made: {e:#}"));
            }
        };
        if let Some(name) = q.file.as_deref() {
            return match outputs.into_iter().find(|o| o.name == name) {
                Some(o) => file(o, q.download),
                None => not_found("That report has no such file."),
            };
        }
        let link = |name: &str, download: bool| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("school", &school.id.0.to_string())
                .append_pair("kind", kind)
                .append_pair("term", q.term.as_deref().unwrap_or_default())
                .append_pair("date", &date.to_string())
                .append_pair("file", name);
            if download {
                query.append_pair("download", "true");
            }
            format!("/reports?{}", query.finish())
        };
        page["made"] = json!({
            "kind": match kind {
                "governors" => "Governor report",
                "newsletter" => "Newsletter",
                _ => "LA returns",
            },
            "files": outputs.iter().map(|o| json!({
                "name": o.name,
                "view": link(&o.name, false),
                "download": link(&o.name, true),
                "html": o.content_type == "text/html",
                "kib": o.bytes.len().div_ceil(1024),
            })).collect::<Vec<_>>(),
        });
    }
    c.views.page("reports", "Reports", &signed, school, page)
}

async fn make(
    c: &Console,
    school: &SchoolRuntime,
    kind: &str,
    term: Option<&str>,
    date: NaiveDate,
    today: NaiveDate,
) -> anyhow::Result<Option<Vec<Output>>> {
    let ctx = ReportContext {
        store: c.store(),
        school_id: school.id,
        school: &school.config,
        policy: &school.policy,
        templates: &school.templates,
    };
    Ok(match kind {
        "governors" => {
            let Some(term) = term.and_then(|t| report::find_term(&school.config, t).ok()) else {
                return Ok(None);
            };
            let as_of = term.end.min(today);
            Some(report::governor_report(&ctx, term, as_of, today).await?.1)
        }
        "newsletter" => Some(report::newsletter_files(&ctx, date).await?.1),
        "la-returns" => Some(report::la_returns(&ctx, date).await?.1),
        _ => None,
    })
}

fn file(o: Output, download: bool) -> Response {
    let disposition = if download {
        format!("attachment; filename=\"{}\"", o.name.replace('"', ""))
    } else {
        "inline".to_owned()
    };
    (
        [
            (header::CONTENT_TYPE, o.content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        o.bytes,
    )
        .into_response()
}
