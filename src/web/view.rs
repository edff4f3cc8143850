//! The console's pages: handlebars templates in `templates/web/`, built into the binary,
//! rendered in strict mode (a field a template names but the page does not give is an error
//! found by the tests, not an empty cell a person misreads).

use anyhow::Result;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use handlebars::Handlebars;
use serde_json::{Value, json};

use super::{Can, Signed};
use crate::school::SchoolRuntime;

macro_rules! pages {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/web/", $name, ".html.hbs")))),*]
    };
}

const PAGES: &[(&str, &str)] = pages![
    "layout",
    "login",
    "today",
    "approvals",
    "approval",
    "confirm",
    "pupil",
    "cases",
    "status",
    "reports",
];

const STYLESHEET: &str = include_str!("../../templates/web/console.css");

pub struct Views {
    registry: Handlebars<'static>,
}

impl Views {
    pub fn new() -> Result<Views> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        for (name, text) in PAGES {
            registry.register_template_string(name, *text)?;
        }
        registry.register_partial("layout", PAGES[0].1)?;
        Ok(Views { registry })
    }

    /// A page of the console for a signed-in person at a school.
    pub fn page(
        &self,
        name: &str,
        title: &str,
        signed: &Signed,
        school: &SchoolRuntime,
        page: Value,
    ) -> Response {
        let schools: Vec<Value> = {
            let mut ids: Vec<i64> = signed.user.roles.iter().map(|(s, _)| s.0).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.into_iter()
                .map(|id| json!({ "id": id, "current": id == school.id.0 }))
                .collect()
        };
        let data = json!({
            "title": title,
            "signed_in": true,
            "user": signed.user.display_name,
            "roles": signed.user.roles_at(school.id).iter().map(|r| r.title()).collect::<Vec<_>>().join(", "),
            "csrf": signed.csrf,
            "school": { "id": school.id.0, "name": school.config.name },
            "schools": schools,
            "can": Can::of(&signed.user, school.id),
            "page": page,
        });
        self.render(name, &data)
    }

    /// A page with no one signed in (the sign-in page).
    pub fn public(&self, name: &str, title: &str, page: Value) -> Response {
        let data = json!({
            "title": title,
            "signed_in": false,
            "page": page,
        });
        self.render(name, &data)
    }

    fn render(&self, name: &str, data: &Value) -> Response {
        match self.registry.render(name, data) {
            Ok(html) => Html(html).into_response(),
            Err(e) => super::internal(&anyhow::anyhow!("page {name}: {e}")),
        }
    }
}

/// A page for errors, which must render even if the templates do not.
pub fn plain_page(title: &str, text: &str) -> String {
    let esc = |s: &str| handlebars::html_escape(s);
    format!(
        "<!DOCTYPE html><html lang=\"en-GB\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · rollcall</title><link rel=\"stylesheet\" href=\"/assets/console.css\"></head>\
         <body><main class=\"narrow\"><h1>{t}</h1><p>{x}</p><p><a href=\"/\">Back to today</a></p></main></body></html>",
        t = esc(title),
        x = esc(text)
    )
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}
