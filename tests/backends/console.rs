//! Issue 15: the console, over HTTP, on SQLite and PostgreSQL. A small school is walked to a
//! Wednesday morning: pupil 0 has been absent without a reason since the first day of term
//! (a day-three letter and the LA's 10-day return wait for a person), pupil 1 is missing
//! this morning with no reason (on the call list). People sign in and do the morning's work;
//! what each role may do is checked, and so are the forms' guards.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use chrono::NaiveDateTime;
use rollcall::register::store::Store;
use rollcall::web::account::{Password, Role, add_person, add_user};
use sqlx::Row;
use tokio_util::sync::CancellationToken;

use super::walk::{UPNS, Walk, d, pupil, t};

pub const PASSWORD: &str = "correct horse battery staple";

/// The walked school with the console serving it on a loopback port.
pub struct ConsoleSchool {
    pub walk: Walk,
    pub base: String,
    pub stop: CancellationToken,
    pub server: tokio::task::JoinHandle<()>,
    /// (outbox id, stage) of each message waiting for approval, oldest first.
    pub waiting: Vec<(i64, String)>,
    /// The walk stopped here: the console's "now".
    pub morning: NaiveDateTime,
}

impl ConsoleSchool {
    pub fn waiting_for(&self, stage: &str) -> Result<i64> {
        self.waiting
            .iter()
            .find(|(_, s)| s == stage)
            .map(|(id, _)| *id)
            .with_context(|| format!("nothing from {stage} waits: {:?}", self.waiting))
    }

    pub async fn status_of(&self, id: i64) -> Result<(String, Option<String>, Option<String>)> {
        let row = sqlx::query("SELECT status, decided_by, decision_note FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_one(self.walk.store.pool())
            .await?;
        Ok((
            row.try_get("status")?,
            row.try_get("decided_by")?,
            row.try_get("decision_note")?,
        ))
    }

    pub async fn shut(self) -> Result<()> {
        self.stop.cancel();
        self.server.await?;
        Ok(())
    }
}

pub async fn console_school(store: Store, dir: &Path) -> Result<ConsoleSchool> {
    console_school_with(store, dir, |_, _| {}).await
}

pub async fn console_school_with(
    store: Store,
    dir: &Path,
    change: impl FnOnce(&mut rollcall::config::Config, &str),
) -> Result<ConsoleSchool> {
    let mut pupils = [
        pupil(UPNS[0], "3A"),
        pupil(UPNS[1], "3A"),
        pupil(UPNS[2], "3B"),
        pupil(UPNS[3], "3B"),
    ];
    // Pupil 2 has a social worker: on the DSL's list, attending every day.
    pupils[2].social_worker = true;
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/policies/console.toml"
    );
    let mut walk = Walk::new(
        store,
        dir,
        policy,
        ("09:30", "13:45"),
        &pupils,
        d("2025-09-01"),
    )
    .await?;
    let term_start = walk.school_day(d("2025-09-01"), 0);
    // Pupil 0 absent without a reason from the first day; the tenth school day of absence is
    // the LA return's day; the morning after it, pupil 1 is missing with no reason given.
    let tenth = walk.school_day(term_start, 9);
    let wednesday = walk.school_day(tenth, 1);
    walk.plan(0, term_start, wednesday, |_| Some(["O", "O"]));
    walk.plan(1, wednesday, wednesday, |_| Some(["N", "N"]));
    // Pupil 3 was missing without a reason one morning a week ago, never explained: a review
    // task for the attendance officer once the N has stood for 5 school days.
    let week_ago = walk
        .school_days(term_start, wednesday)
        .iter()
        .rev()
        .nth(5)
        .copied()
        .context("a school day a week ago")?;
    walk.plan(3, week_ago, week_ago, |_| Some(["N", "/"]));
    // Nobody decides anything: the messages wait for the console.
    walk.approver = Box::new(|_, _| None);
    let morning = wednesday.and_time(t("10:30"));
    walk.walk_until(morning).await?;

    let store = &walk.store;
    let school = walk.school_id;
    for (email, name, role) in [
        (
            "jo.officer@walked.example",
            "Jo Officer",
            Role::AttendanceOfficer,
        ),
        ("ola.office@walked.example", "Ola Office", Role::Office),
        (
            "gail.governor@walked.example",
            "Gail Governor",
            Role::Governor,
        ),
        ("dee.dsl@walked.example", "Dee Lead", Role::Dsl),
    ] {
        add_user(
            store,
            email,
            Some(name),
            Some(PASSWORD),
            school,
            role,
            morning,
        )
        .await?;
    }
    let waiting = rollcall::delivery::outbox::pending(store, school)
        .await?
        .into_iter()
        .map(|w| {
            let stage = w.about.first().map(|a| a.1.clone()).unwrap_or_default();
            (w.id, stage)
        })
        .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let console = walk.console_with(|config| change(config, &base)).await?;
    let stop = CancellationToken::new();
    let server = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let _ = rollcall::web::serve_on(console, listener, stop).await;
        })
    };
    Ok(ConsoleSchool {
        walk,
        base,
        stop,
        server,
        waiting,
        morning,
    })
}

/// The links of a page, as a browser reads them (attribute escapes undone).
fn links(body: &str) -> Vec<String> {
    body.split("href=\"")
        .skip(1)
        .map(|h| {
            h.split('"')
                .next()
                .unwrap_or_default()
                .replace("&#x3D;", "=")
                .replace("&amp;", "&")
        })
        .collect()
}

/// A person at a browser, as far as HTTP goes: the session cookie, no redirects followed.
struct Person {
    http: reqwest::Client,
    base: String,
    /// The browser's cookies for the console, by name.
    cookies: std::collections::BTreeMap<String, String>,
}

struct Page {
    status: u16,
    location: String,
    set_cookie: String,
    body: String,
}

impl Page {
    fn csrf(&self) -> Result<String> {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .context("the page has no form token")?;
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        Ok(rest[..rest.find('"').context("unterminated token")?].to_owned())
    }
}

impl Person {
    fn new(base: &str) -> Result<Person> {
        // rollcall builds reqwest without a default TLS provider (see Cargo.toml).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Person {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            base: base.to_owned(),
            cookies: Default::default(),
        })
    }

    fn has_session(&self) -> bool {
        self.cookies.contains_key("rollcall_session")
    }

    /// Sends the request with the cookies, and keeps (or drops) what the answer sets.
    async fn page(&mut self, r: reqwest::RequestBuilder) -> Result<Page> {
        let r = if self.cookies.is_empty() {
            r
        } else {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            r.header("cookie", header.join("; "))
        };
        let resp = r.send().await?;
        for set in resp.headers().get_all("set-cookie") {
            let Some((name, value)) = set
                .to_str()
                .ok()
                .and_then(|c| c.split(';').next())
                .and_then(|pair| pair.split_once('='))
            else {
                continue;
            };
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (location, set_cookie) = (header("location"), header("set-cookie"));
        Ok(Page {
            status: resp.status().as_u16(),
            location,
            set_cookie,
            body: resp.text().await?,
        })
    }

    async fn get(&mut self, path: &str) -> Result<Page> {
        let r = self.http.get(format!("{}{path}", self.base));
        self.page(r).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Result<Page> {
        let r = self.http.post(format!("{}{path}", self.base)).form(form);
        self.page(r).await
    }

    async fn sign_in(&mut self, email: &str, password: &str) -> Result<Page> {
        self.post("/login", &[("email", email), ("password", password)])
            .await
    }
}

/// An attendance officer does the morning: the call list with numbers, an outcome recorded,
/// the waiting letter read as the family will get it (and as PDF), approved in their name; the
/// LA return rejected with a reason. Everything they did is in the audit.
pub async fn the_attendance_officer_does_the_morning_in_the_console(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let school = console_school(store, dir).await?;
    let letter = school.waiting_for("day_three")?;
    let la = school.waiting_for("la_10_day_notice")?;
    ensure!(
        school.waiting.len() == 2,
        "a letter and a return wait: {:?}",
        school.waiting
    );
    let mut jo = Person::new(&school.base)?;

    let first = jo.get("/").await?;
    ensure!(
        first.status == 303 && first.location == "/login",
        "signed out goes to sign-in"
    );
    let signed = jo.sign_in("Jo.Officer@walked.example", PASSWORD).await?;
    ensure!(signed.status == 303, "signed in: {}", signed.status);
    let headers = jo
        .http
        .get(format!("{}/login", school.base))
        .send()
        .await?
        .headers()
        .clone();
    for (name, value) in [
        ("cache-control", "no-store"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
    ] {
        ensure!(
            headers.get(name).is_some_and(|v| v == value),
            "{name}: {:?}",
            headers.get(name)
        );
    }
    ensure!(
        headers
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("frame-ancestors 'none'")),
        "a content security policy"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        ensure!(
            signed.set_cookie.contains(attribute),
            "session cookie lacks {attribute}: {}",
            signed.set_cookie
        );
    }

    // Today: pupil 1 is on the call list with their parent's number; both waiting messages
    // are listed.
    let today = jo.get("/").await?;
    ensure!(today.status == 200, "today: {}", today.status);
    let date = school.morning.format("%A %-d %B %Y").to_string();
    ensure!(today.body.contains(&date), "today is the walk's {date}");
    ensure!(
        today.body.contains("Pupil1 Family1"),
        "pupil 1 on the call list"
    );
    ensure!(
        today.body.contains("07700 900001"),
        "their parent's number to ring"
    );
    // The call list is the part of the page between its heading and the next section's.
    let call_list = today
        .body
        .split("id=\"calls-h\"")
        .nth(1)
        .and_then(|rest| rest.split("id=\"tasks-h\"").next())
        .context("a call list section")?;
    ensure!(
        call_list.contains("Pupil1 Family1"),
        "pupil 1 is in the call list section"
    );
    ensure!(
        !call_list.contains("Pupil0"),
        "pupil 0's absence is explained (O): not on the call list"
    );
    for id in [letter, la] {
        ensure!(
            today.body.contains(&format!("#{id} ")),
            "message {id} listed as waiting"
        );
    }

    // The call: a reason given. The call is done; the outcome is kept in Jo's name.
    let csrf = today.csrf()?;
    let school_id = school.walk.school_id.0.to_string();
    let recorded = jo
        .post(
            &format!("/calls/{}/outcome", UPNS[1]),
            &[
                ("csrf", &csrf),
                ("school", &school_id),
                ("outcome", "reason_given"),
                ("note", "Dentist, back at 11"),
            ],
        )
        .await?;
    ensure!(
        recorded.status == 303,
        "outcome recorded: {}",
        recorded.status
    );
    let after = jo.get("/").await?;
    ensure!(after.body.contains("Reason given"), "the outcome shows");
    ensure!(after.body.contains("Dentist, back at 11"), "with its note");
    ensure!(
        after.body.contains("badge ok\">Done"),
        "the call is marked done"
    );
    let by: String = sqlx::query("SELECT recorded_by FROM call_outcomes")
        .fetch_one(school.walk.store.pool())
        .await?
        .try_get("recorded_by")?;
    ensure!(by == "Jo Officer (Attendance Officer)", "recorded by {by}");

    // Pupil 3's N has stood for five school days: a review task, open until closed with what
    // came of it, which the pupil's page then keeps.
    let tasks = after
        .body
        .split("id=\"tasks\"")
        .nth(1)
        .context("an open-tasks section")?;
    ensure!(tasks.contains("Pupil3 Family3"), "pupil 3's review is open");
    ensure!(tasks.contains("Review"), "a review task");
    let task: i64 = tasks
        .split("action=\"/tasks/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|id| id.parse().ok())
        .context("a close form")?;
    let empty = jo
        .post(
            &format!("/tasks/{task}/close"),
            &[("csrf", &csrf), ("school", &school_id), ("outcome", " ")],
        )
        .await?;
    ensure!(
        empty.status == 422,
        "closing with no outcome: {}",
        empty.status
    );
    let closed = jo
        .post(
            &format!("/tasks/{task}/close"),
            &[
                ("csrf", &csrf),
                ("school", &school_id),
                (
                    "outcome",
                    "Mother rang: dentist; office to record M in the MIS",
                ),
            ],
        )
        .await?;
    ensure!(closed.status == 303, "task closed: {}", closed.status);
    let again = jo.get("/").await?;
    ensure!(
        !again.body.contains(&format!("/tasks/{task}/close")),
        "a closed task is no longer open"
    );
    let pupil3 = jo.get(&format!("/pupils/{}", UPNS[3])).await?;
    ensure!(
        pupil3
            .body
            .contains("closed: Mother rang: dentist; office to record M in the MIS"),
        "the outcome is in pupil 3's history"
    );

    // The letter as the family will read it, and as PDF.
    let page = jo.get(&format!("/approvals/{letter}")).await?;
    ensure!(page.status == 200, "approval page: {}", page.status);
    ensure!(page.body.contains("Pupil0"), "the letter names the child");
    ensure!(
        page.body.contains("letter.pdf"),
        "a link to the letter as PDF"
    );
    let pdf = jo.get(&format!("/approvals/{letter}/letter.pdf")).await?;
    ensure!(
        pdf.status == 200 && pdf.body.starts_with("%PDF"),
        "the PDF: {}",
        pdf.status
    );

    // Approved: queued to send, in the signed-in person's name (no name typed anywhere).
    let csrf = page.csrf()?;
    let approved = jo
        .post(
            &format!("/approvals/{letter}/approve"),
            &[("csrf", &csrf), ("school", &school_id)],
        )
        .await?;
    ensure!(approved.status == 303, "approve: {}", approved.status);
    let (status, decided_by, _) = school.status_of(letter).await?;
    ensure!(status == "queued", "approved letter is {status}");
    ensure!(
        decided_by.as_deref() == Some("Jo Officer (Attendance Officer)"),
        "approved by {decided_by:?}"
    );

    // Rejecting needs a reason; with one, the return is cancelled and keeps it.
    let no_reason = jo
        .post(
            &format!("/approvals/{la}/reject"),
            &[("csrf", &csrf), ("school", &school_id), ("reason", "  ")],
        )
        .await?;
    ensure!(
        no_reason.status == 422,
        "reject without a reason: {}",
        no_reason.status
    );
    ensure!(
        school.status_of(la).await?.0 == "awaiting_approval",
        "still waiting"
    );
    let reason = "Family moved to Wales; LA told by phone";
    let rejected = jo
        .post(
            &format!("/approvals/{la}/reject"),
            &[("csrf", &csrf), ("school", &school_id), ("reason", reason)],
        )
        .await?;
    ensure!(rejected.status == 303, "reject: {}", rejected.status);
    let (status, _, note) = school.status_of(la).await?;
    ensure!(status == "cancelled", "rejected return is {status}");
    ensure!(
        note.as_deref() == Some(reason),
        "the reason is kept: {note:?}"
    );

    // Deciding twice is refused, not repeated.
    let again = jo
        .post(
            &format!("/approvals/{letter}/approve"),
            &[("csrf", &csrf), ("school", &school_id)],
        )
        .await?;
    ensure!(
        again.status == 404,
        "a decided message is not waiting: {}",
        again.status
    );

    let audit: Vec<String> = sqlx::query("SELECT action, subject FROM web_audit ORDER BY id")
        .fetch_all(school.walk.store.pool())
        .await?
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.try_get::<String, _>("action").unwrap_or_default(),
                r.try_get::<String, _>("subject").unwrap_or_default()
            )
        })
        .collect();
    let remote: String = sqlx::query("SELECT remote FROM web_audit WHERE action = 'sign-in'")
        .fetch_one(school.walk.store.pool())
        .await?
        .try_get("remote")?;
    ensure!(remote == "127.0.0.1", "sign-in from {remote}");
    let expected = [
        "sign-in ".to_owned(),
        format!("call outcome: reason_given {}", UPNS[1]),
        format!("task closed message {task}"),
        format!("approved message {letter}"),
        format!("rejected message {la}"),
    ];
    ensure!(audit == expected, "audit: {audit:?}");

    // The LA returns as of this morning, downloaded: pupil 0's episode is in the CSV.
    let returns = jo
        .get(&format!(
            "/reports?kind=la-returns&date={}",
            school.morning.date()
        ))
        .await?;
    ensure!(returns.status == 200, "LA returns: {}", returns.status);
    let csv_link = links(&returns.body)
        .into_iter()
        .find(|h| h.contains(".csv") && h.contains("download=true"))
        .context("a CSV to download")?;
    let csv = jo.get(&csv_link).await?;
    ensure!(csv.status == 200, "download: {}", csv.status);
    ensure!(csv.body.contains(UPNS[0]), "pupil 0's return in the CSV");

    // Status: the last export of each kind the inbox took. The walk's MIS drops marks at each
    // register close; pupils and contacts were imported by hand.
    let status = jo.get("/status").await?;
    let am = format!("marks: marks-{}-AM.csv", school.morning.date());
    ensure!(
        status.body.contains(&am),
        "the morning's marks export: {am}"
    );
    ensure!(
        status.body.contains("pupils: none in the last 500 exports"),
        "no pupils export"
    );

    // The pupil page: the register with the O marks, the messages and the call.
    let pupil0 = jo.get(&format!("/pupils/{}", UPNS[0])).await?;
    ensure!(pupil0.status == 200, "pupil page: {}", pupil0.status);
    let o_cells = pupil0.body.matches("class=\"mark unauthorised\"").count();
    ensure!(
        o_cells >= 2 && pupil0.body.contains("\">O</td>"),
        "O marks shown as unauthorised: {o_cells} cells"
    );
    let pupil1 = jo.get(&format!("/pupils/{}", UPNS[1])).await?;
    ensure!(
        pupil1.body.contains("Dentist, back at 11"),
        "the call on the pupil page"
    );
    ensure!(
        !pupil1.body.contains("Recorded beside the MIS export"),
        "nothing recorded yet"
    );
    // Medical evidence recorded for the pupil (`rollcall evidence add`) is on the page.
    let store = &school.walk.store;
    let stored =
        rollcall::register::records::find_pupil(store, school.walk.school_id, "console", UPNS[1])
            .await?;
    let day = school.morning.date();
    rollcall::register::records::add_evidence(
        store,
        school.walk.school_id,
        &stored,
        day,
        day,
        "Jo Bloggs",
        "appointment card",
        school.morning,
    )
    .await?;
    let pupil1 = jo.get(&format!("/pupils/{}", UPNS[1])).await?;
    let line =
        format!("medical evidence for {day} to {day} recorded by Jo Bloggs: appointment card");
    ensure!(
        pupil1.body.contains("Recorded beside the MIS export") && pupil1.body.contains(&line),
        "the evidence on the pupil page"
    );
    school.shut().await
}

/// What each role may not do, and what the forms refuse: the office cannot approve an LA
/// return (403, and it is not offered), a governor sees no pupil, a form from another site or
/// without the session's token changes nothing, and five wrong passwords lock an account.
pub async fn the_console_refuses_what_a_role_or_a_form_may_not_do(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let school = console_school(store, dir).await?;
    let la = school.waiting_for("la_10_day_notice")?;
    let letter = school.waiting_for("day_three")?;
    let school_id = school.walk.school_id.0.to_string();

    let mut ola = Person::new(&school.base)?;
    ensure!(
        ola.sign_in("ola.office@walked.example", PASSWORD)
            .await?
            .status
            == 303
    );
    let page = ola.get(&format!("/approvals/{la}")).await?;
    ensure!(
        page.status == 200,
        "the office may read it: {}",
        page.status
    );
    ensure!(
        !page.body.contains(&format!("/approvals/{la}/approve")),
        "but is not offered the approve button"
    );
    let csrf = page.csrf()?;
    let refused = ola
        .post(
            &format!("/approvals/{la}/approve"),
            &[("csrf", &csrf), ("school", &school_id)],
        )
        .await?;
    ensure!(
        refused.status == 403,
        "office approving an LA return: {}",
        refused.status
    );
    ensure!(
        school.status_of(la).await?.0 == "awaiting_approval",
        "nothing changed"
    );

    // A form posted from another site, and one without the session's token: refused.
    let cross = ola
        .page(
            ola.http
                .post(format!("{}/approvals/{letter}/approve", school.base))
                .header("origin", "https://evil.example")
                .form(&[("csrf", csrf.as_str()), ("school", school_id.as_str())]),
        )
        .await?;
    ensure!(cross.status == 403, "cross-site post: {}", cross.status);
    let tokenless = ola
        .post(
            &format!("/approvals/{letter}/approve"),
            &[("csrf", "0000"), ("school", &school_id)],
        )
        .await?;
    ensure!(tokenless.status == 403, "wrong token: {}", tokenless.status);
    ensure!(
        school.status_of(letter).await?.0 == "awaiting_approval",
        "nothing changed"
    );
    // A batch with the LA return in it is refused whole; the family letter alone is shown
    // with its count before anything happens, then approved in the office's name.
    let (letter_id, la_id) = (letter.to_string(), la.to_string());
    let mixed = ola
        .post(
            "/approvals/batch",
            &[
                ("csrf", &csrf),
                ("school", &school_id),
                ("id", &letter_id),
                ("id", &la_id),
            ],
        )
        .await?;
    ensure!(
        mixed.status == 403,
        "a batch with an LA return: {}",
        mixed.status
    );
    ensure!(
        school.status_of(letter).await?.0 == "awaiting_approval",
        "nothing changed"
    );
    let asked = ola
        .post(
            "/approvals/batch",
            &[("csrf", &csrf), ("school", &school_id), ("id", &letter_id)],
        )
        .await?;
    ensure!(
        asked.status == 200,
        "the count is shown first: {}",
        asked.status
    );
    ensure!(
        asked.body.contains("Approve 1 message?"),
        "asks about one message"
    );
    ensure!(
        school.status_of(letter).await?.0 == "awaiting_approval",
        "not yet"
    );
    let ok = ola
        .post(
            "/approvals/batch",
            &[
                ("csrf", &csrf),
                ("school", &school_id),
                ("id", &letter_id),
                ("confirm", "yes"),
            ],
        )
        .await?;
    ensure!(
        ok.status == 303,
        "office approving the letter: {}",
        ok.status
    );
    let (status, by, _) = school.status_of(letter).await?;
    ensure!(status == "queued" && by.as_deref() == Some("Ola Office (School Office)"));

    // The DSL: the safeguarding list, with pupil 2 (social worker) and no one else; no
    // approvals.
    let mut dee = Person::new(&school.base)?;
    ensure!(
        dee.sign_in("dee.dsl@walked.example", PASSWORD)
            .await?
            .status
            == 303
    );
    let cases = dee.get("/cases").await?;
    ensure!(cases.status == 200, "DSL cases: {}", cases.status);
    let list = cases
        .body
        .split("<h2>Safeguarding")
        .nth(1)
        .and_then(|rest| rest.split("<h2>").next())
        .context("a safeguarding list")?;
    ensure!(
        list.contains("Pupil2 Family2") && list.contains("social worker"),
        "pupil 2 listed"
    );
    ensure!(
        !list.contains("Pupil0") && !list.contains("Pupil1"),
        "only pupil 2: {list}"
    );
    let dsl_approval = dee.get(&format!("/approvals/{la}")).await?;
    let dee_csrf = dsl_approval.csrf()?;
    let refused = dee
        .post(
            &format!("/approvals/{la}/reject"),
            &[
                ("csrf", &dee_csrf),
                ("school", &school_id),
                ("reason", "not mine"),
            ],
        )
        .await?;
    ensure!(refused.status == 403, "DSL deciding: {}", refused.status);
    ensure!(
        school.status_of(la).await?.0 == "awaiting_approval",
        "nothing changed"
    );

    // A governor: reports only.
    let mut gail = Person::new(&school.base)?;
    ensure!(
        gail.sign_in("gail.governor@walked.example", PASSWORD)
            .await?
            .status
            == 303
    );
    let home = gail.get("/").await?;
    ensure!(
        home.status == 303 && home.location.starts_with("/reports"),
        "governor lands on reports"
    );
    for path in [
        format!("/pupils/{}", UPNS[0]),
        "/approvals".into(),
        "/cases".into(),
    ] {
        let p = gail.get(&path).await?;
        ensure!(p.status == 403, "governor at {path}: {}", p.status);
    }
    let reports = gail.get("/reports").await?;
    ensure!(
        !reports.body.contains("/approvals?"),
        "no link to approvals for a governor"
    );
    ensure!(
        !reports.body.contains("la-returns"),
        "nor to the LA returns"
    );
    // The governor report for the term so far, viewed: figures, no child named.
    let made = gail
        .get(&format!(
            "/reports?kind=governors&term=Autumn%202025&school={school_id}"
        ))
        .await?;
    ensure!(made.status == 200, "governor report: {}", made.status);
    let link = links(&made.body)
        .into_iter()
        .find(|h| h.contains(".html") && !h.contains("download"))
        .context("a view link")?;
    let view = gail.get(&link).await?;
    ensure!(view.status == 200, "viewing {link}: {}", view.status);
    ensure!(view.body.contains("Autumn 2025"), "the term's report");
    ensure!(
        !view.body.contains("Pupil0"),
        "no child named in the governor report"
    );
    // A week in the summer holidays has no newsletter: said, not an error page.
    let holiday = gail
        .get(&format!(
            "/reports?kind=newsletter&date=2025-08-13&school={school_id}"
        ))
        .await?;
    ensure!(holiday.status == 422, "a holiday week: {}", holiday.status);
    ensure!(holiday.body.contains("cannot be made"), "says why");
    let garbled = gail
        .get(&format!(
            "/reports?kind=newsletter&date=13/08/2025&school={school_id}"
        ))
        .await?;
    ensure!(garbled.status == 400, "not a date: {}", garbled.status);
    let la = gail
        .get(&format!("/reports?kind=la-returns&school={school_id}"))
        .await?;
    ensure!(la.status == 403, "LA returns for a governor: {}", la.status);

    // A governor who leaves: `rollcall user remove` ends their session at once.
    rollcall::web::account::remove_user(&school.walk.store, "gail.governor@walked.example", None)
        .await?;
    let gone = gail.get("/reports").await?;
    ensure!(
        gone.status == 303 && gone.location == "/login",
        "a removed person's session ends: {}",
        gone.status
    );
    let mut gail = Person::new(&school.base)?;
    ensure!(
        gail.sign_in("gail.governor@walked.example", PASSWORD)
            .await?
            .status
            == 303
    );
    let no_role = gail.get("/").await?;
    ensure!(
        no_role.status == 403,
        "signed in with no role anywhere: {}",
        no_role.status
    );

    // Five wrong passwords lock the account: the right one is then refused too, with the same
    // words as a wrong password (the page does not say whose account is locked; the audit does).
    let mut guess = Person::new(&school.base)?;
    let mut refusals = Vec::new();
    for _ in 0..5 {
        let p = guess
            .sign_in("jo.officer@walked.example", "wrong password!")
            .await?;
        ensure!(p.status == 401, "wrong password: {}", p.status);
        refusals.push(p.body);
    }
    let locked = guess.sign_in("jo.officer@walked.example", PASSWORD).await?;
    ensure!(locked.status == 401, "locked: {}", locked.status);
    ensure!(!guess.has_session(), "no session while locked");
    let unknown = guess.sign_in("nobody@walked.example", PASSWORD).await?;
    ensure!(unknown.status == 401, "unknown address: {}", unknown.status);
    let words = |body: &str| {
        body.split("role=\"alert\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap_or_default()
            .to_owned()
    };
    ensure!(!words(&locked.body).is_empty(), "the refusal is said");
    ensure!(
        words(&locked.body) == words(&unknown.body) && words(&refusals[0]) == words(&unknown.body),
        "a locked account, a wrong password and an unknown address read the same"
    );
    let last: String = sqlx::query(
        "SELECT action FROM web_audit WHERE email = 'jo.officer@walked.example' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(school.walk.store.pool())
    .await?
    .try_get("action")?;
    ensure!(
        last == "sign-in refused: locked",
        "the audit says why: {last}"
    );

    // Twenty guesses sent at once: at most five passwords are checked before the lock.
    let mut burst = tokio::task::JoinSet::new();
    for n in 0..20 {
        let base = school.base.clone();
        burst.spawn(async move {
            let mut p = Person::new(&base)?;
            let page = p
                .sign_in("ola.office@walked.example", &format!("guess number {n}"))
                .await?;
            Ok::<u16, anyhow::Error>(page.status)
        });
    }
    while let Some(status) = burst.join_next().await {
        let status = status??;
        ensure!(status == 401, "every guess refused, not answered {status}");
    }
    let checked: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM web_audit WHERE email = 'ola.office@walked.example' AND action = 'sign-in refused'",
    )
    .fetch_one(school.walk.store.pool())
    .await?
    .try_get("n")?;
    ensure!(checked <= 5, "{checked} passwords checked before the lock");
    let mut ola_again = Person::new(&school.base)?;
    let after = ola_again
        .sign_in("ola.office@walked.example", PASSWORD)
        .await?;
    ensure!(
        after.status == 401,
        "the office account is locked after the burst"
    );
    school.shut().await
}

/// A pretend identity provider on loopback (Microsoft 365 or Google, as far as OpenID Connect
/// goes): discovery, an authorisation endpoint where the person is already signed in as
/// `email`, a token endpoint that checks the PKCE verifier and the client secret, and its
/// signing key. `tamper` spoils the next ID token to see it refused.
pub mod provider {
    use std::sync::{Arc, Mutex};

    use axum::extract::{Form, Query, State};
    use axum::response::{IntoResponse, Redirect, Response};
    use axum::routing::{get, post};
    use base64::Engine as _;
    use serde_json::json;

    pub const CLIENT_ID: &str = "rollcall-test-client";
    pub const CLIENT_SECRET: &str = "test-client-secret";

    #[derive(Default)]
    pub struct Person {
        pub email: String,
        /// Send the person back from a page of the provider's (as a real provider does after
        /// its sign-in form), not with a redirect: the navigation then starts on another site.
        pub from_a_page: bool,
        pub tamper: Option<&'static str>,
        nonce: String,
        challenge: String,
    }

    #[derive(Clone)]
    struct Provider {
        base: String,
        person: Arc<Mutex<Person>>,
    }

    pub async fn start() -> anyhow::Result<(String, Arc<Mutex<Person>>)> {
        start_as("127.0.0.1").await
    }

    /// The provider under another host name for the same loopback address: a browser test
    /// names it `localhost`, another site than the console's `127.0.0.1`.
    pub async fn start_as(host: &str) -> anyhow::Result<(String, Arc<Mutex<Person>>)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{host}:{}", listener.local_addr()?.port());
        let person = Arc::new(Mutex::new(Person::default()));
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/jwks", get(jwks))
            .with_state(Provider {
                base: base.clone(),
                person: Arc::clone(&person),
            });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((base, person))
    }

    async fn discovery(State(p): State<Provider>) -> Response {
        axum::Json(json!({
            "issuer": p.base,
            "authorization_endpoint": format!("{}/authorize", p.base),
            "token_endpoint": format!("{}/token", p.base),
            "jwks_uri": format!("{}/jwks", p.base),
        }))
        .into_response()
    }

    async fn authorize(
        State(p): State<Provider>,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> Response {
        let field = |k: &str| q.get(k).cloned().unwrap_or_default();
        assert_eq!(field("client_id"), CLIENT_ID);
        assert_eq!(field("code_challenge_method"), "S256");
        assert!(field("scope").contains("openid"));
        let mut from_a_page = false;
        if let Ok(mut person) = p.person.lock() {
            person.nonce = field("nonce");
            person.challenge = field("code_challenge");
            from_a_page = person.from_a_page;
        }
        let back = format!(
            "{}?code=the-code&state={}",
            field("redirect_uri"),
            field("state")
        );
        if from_a_page {
            let json = serde_json::to_string(&back).unwrap_or_default();
            return axum::response::Html(format!(
                "<!DOCTYPE html><html><body><script>location.assign({json})</script></body></html>"
            ))
            .into_response();
        }
        Redirect::to(&back).into_response()
    }

    async fn token(
        State(p): State<Provider>,
        Form(f): Form<std::collections::HashMap<String, String>>,
    ) -> Response {
        let field = |k: &str| f.get(k).cloned().unwrap_or_default();
        let Ok(person) = p.person.lock() else {
            return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            ring::digest::digest(&ring::digest::SHA256, field("code_verifier").as_bytes()).as_ref(),
        );
        if field("code") != "the-code"
            || field("client_secret") != CLIENT_SECRET
            || challenge != person.challenge
        {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                axum::Json(json!({ "error": "invalid_grant" })),
            )
                .into_response();
        }
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": p.base,
            "aud": CLIENT_ID,
            "sub": "person-1",
            "iat": now,
            "exp": now + 300,
            "nonce": person.nonce,
            "email": person.email,
            "email_verified": true,
        });
        let mut key = include_bytes!("../fixtures/oidc/key.der").to_vec();
        match person.tamper {
            Some("nonce") => claims["nonce"] = json!("another nonce"),
            Some("audience") => claims["aud"] = json!("someone-else"),
            // Signed with a key the provider does not publish under this kid.
            Some("signature") => key.reverse(),
            _ => {}
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("test-key-1".into());
        let signed = if person.tamper == Some("signature") {
            // An HMAC token with the same kid: the wrong algorithm and the wrong key.
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            h.kid = Some("test-key-1".into());
            jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(&key))
        } else {
            jsonwebtoken::encode(
                &header,
                &claims,
                &jsonwebtoken::EncodingKey::from_rsa_der(&key),
            )
        };
        match signed {
            Ok(id_token) => {
                axum::Json(json!({ "id_token": id_token, "token_type": "Bearer" })).into_response()
            }
            Err(e) => {
                (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
            }
        }
    }

    async fn jwks() -> Response {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            include_str!("../fixtures/oidc/jwks.json"),
        )
            .into_response()
    }
}

/// Sign-in with the school's account: the console sends the person to the identity provider
/// and back, checks the signed ID token, and signs in someone it knows by their verified
/// address. Someone it does not know, a replayed callback and tokens with the wrong nonce,
/// audience or signature are refused; nobody is signed in by any of them.
pub async fn a_school_account_signs_in_through_the_identity_provider(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (issuer, person) = provider::start().await?;
    let school = console_school_with(store, dir, |config, base| {
        config.web.public_url = Some(base.to_owned());
        config.web.oidc = Some(rollcall::config::OidcConfig {
            issuer: issuer.clone(),
            client_id: provider::CLIENT_ID.into(),
            client_secret: Some(provider::CLIENT_SECRET.into()),
            label: "Sign in with Walked Primary's account".into(),
        });
    })
    .await?;
    add_person(
        &school.walk.store,
        "sam.sso@walked.example",
        Some("Sam Single"),
        Password::SchoolAccountOnly,
        school.walk.school_id,
        Role::AttendanceOfficer,
        school.morning,
    )
    .await?;

    // What a browser does: the console sends it to the provider, the provider (where the
    // person is signed in) back to the console's callback. Returns the browser, with the
    // callback still to visit.
    let to_provider = |email: &str, tamper: Option<&'static str>| {
        if let Ok(mut p) = person.lock() {
            p.email = email.to_owned();
            p.tamper = tamper;
        }
        let (base, issuer) = (school.base.clone(), issuer.clone());
        async move {
            let mut browser = Person::new(&base)?;
            let login = browser.get("/login").await?;
            ensure!(
                login.body.contains("Sign in with Walked Primary"),
                "the button is offered"
            );
            let start = browser.get("/login/oidc").await?;
            ensure!(start.status == 303, "off to the provider: {}", start.status);
            ensure!(
                browser.cookies.contains_key("rollcall_oidc"),
                "a cookie for this browser"
            );
            // The provider is another site: it gets none of the console's cookies.
            let mut provider = Person::new(&issuer)?;
            let at_provider = provider.page(provider.http.get(&start.location)).await?;
            ensure!(
                at_provider.status == 303,
                "provider: {}",
                at_provider.status
            );
            Ok::<_, anyhow::Error>((browser, at_provider.location))
        }
    };
    let through = |email: &str, tamper: Option<&'static str>| {
        let started = to_provider(email, tamper);
        async move {
            let (mut browser, callback) = started.await?;
            let back = browser.page(browser.http.get(&callback)).await?;
            Ok::<_, anyhow::Error>((browser, back, callback))
        }
    };

    let (mut sam, back, callback) = through("Sam.SSO@walked.example", None).await?;
    // Signed in on a page of ours that moves on to Today (a Strict cookie would not be sent
    // on a redirect from the provider's site).
    ensure!(
        back.status == 200,
        "signed in: {} {}",
        back.status,
        back.body
    );
    ensure!(back.body.contains("url=/"), "moves on to Today");
    ensure!(sam.has_session(), "a session");
    ensure!(
        !sam.cookies.contains_key("rollcall_oidc"),
        "the sign-in cookie is spent"
    );
    let today = sam.get("/").await?;
    ensure!(
        today.status == 200 && today.body.contains("Sam Single"),
        "Sam's Today"
    );
    // The same callback again (a replay), in the same browser: the state was used.
    let again = sam.page(sam.http.get(&callback)).await?;
    ensure!(again.status == 401, "replayed callback: {}", again.status);

    // A callback finished in another browser than the one that started it (someone sending a
    // victim their own sign-in link): refused, and the rightful browser can still finish.
    let (mut rightful, callback) = to_provider("sam.sso@walked.example", None).await?;
    let mut other = Person::new(&school.base)?;
    let stolen = other.page(other.http.get(&callback)).await?;
    ensure!(
        stolen.status == 401 && !other.has_session(),
        "another browser: {}",
        stolen.status
    );
    let finished = rightful.page(rightful.http.get(&callback)).await?;
    ensure!(
        finished.status == 200 && rightful.has_session(),
        "the rightful browser signs in"
    );

    let (_, unknown, _) = through("stranger@walked.example", None).await?;
    ensure!(unknown.status == 401, "unknown person: {}", unknown.status);
    ensure!(
        unknown
            .body
            .contains("stranger@walked.example has no account here"),
        "says who to ask"
    );
    for tamper in ["nonce", "audience", "signature"] {
        let (browser, refused, _) = through("sam.sso@walked.example", Some(tamper)).await?;
        ensure!(refused.status == 401, "{tamper}: {}", refused.status);
        ensure!(!browser.has_session(), "{tamper}: no session");
    }
    let signed_in: Vec<String> =
        sqlx::query("SELECT action, email FROM web_audit WHERE action LIKE 'sign-in%' ORDER BY id")
            .fetch_all(school.walk.store.pool())
            .await?
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r.try_get::<String, _>("action").unwrap_or_default(),
                    r.try_get::<String, _>("email").unwrap_or_default()
                )
            })
            .collect();
    ensure!(
        signed_in
            == [
                "sign-in (school account) sam.sso@walked.example",
                "sign-in (school account) sam.sso@walked.example",
                "sign-in refused: no account stranger@walked.example"
            ],
        "audit: {signed_in:?}"
    );
    school.shut().await
}
