//! The console: the attendance officer's morning in a browser, served by the same binary.
//!
//! Server-rendered pages from `templates/web/` (handlebars, strict mode), plain forms that work
//! without JavaScript. It reads and changes the school through the same functions as the
//! command line (`outbox::pending`, `outbox::decide_noted`, `case::history`, the call list the
//! daemon prints), so the two never disagree. Sign-in, sessions and roles are in [`account`];
//! the pages in [`pages`] and [`pupil`].

// A page's refusal is itself a page (403, 404): handlers return a `Response` either way, so
// an early `Err(Response)` is the natural shape, not an error worth boxing.
#![allow(clippy::result_large_err)]

pub mod account;
mod oidc;
mod pages;
mod pupil;
mod replies;
mod reports;
mod tasks;
mod view;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequestParts, OptionalFromRequestParts, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use chrono::NaiveDateTime;
use tokio_util::sync::CancellationToken;

use crate::daemon::Daemon;
use crate::output::say;
use crate::register::store::SchoolId;
use crate::school::SchoolRuntime;
use account::{Role, User};

/// The session cookie. `Secure`, `HttpOnly`, `SameSite=Strict`: browsers keep it for
/// `https://` and for `http://localhost`/`127.0.0.1` only, so the console needs TLS (a reverse
/// proxy) anywhere else.
const SESSION_COOKIE: &str = "rollcall_session";

/// Everything a page needs: the daemon's view of the schools (config, policy, templates,
/// store, clock, file sink) and the page templates.
#[derive(Clone)]
pub struct Console {
    daemon: Arc<Daemon>,
    views: Arc<view::Views>,
    /// `rollcall web --as-of`: the school as it was then (file sink only).
    replay: bool,
}

impl Console {
    pub fn new(daemon: Arc<Daemon>, replay: bool) -> Result<Console> {
        if daemon.config.web.oidc.is_some() && daemon.config.web.public_url.is_none() {
            anyhow::bail!(
                "[web.oidc] needs [web] public_url: the address people use, which the identity \
                 provider sends them back to (e.g. https://attendance.example.sch.uk)"
            );
        }
        Ok(Console {
            daemon,
            views: Arc::new(view::Views::new()?),
            replay,
        })
    }

    fn store(&self) -> &crate::register::store::Store {
        &self.daemon.store
    }

    fn web(&self) -> &crate::config::WebConfig {
        &self.daemon.config.web
    }

    /// School-local now (the simulated clock under `--as-of`).
    fn now(&self, school: &SchoolRuntime) -> NaiveDateTime {
        crate::schedule::to_local(school.config.timezone, self.daemon.clock.now())
    }

    /// The real time now, in the first school's local time: sign-ins, sessions, lockouts and
    /// the audit belong to no school and never to a replayed past (`--as-of` replays the
    /// school, not the people using the console).
    fn wall_now(&self) -> NaiveDateTime {
        let tz = self
            .daemon
            .schools
            .first()
            .map_or(chrono_tz::Europe::London, |s| s.config.timezone);
        crate::schedule::to_local(tz, chrono::Utc::now())
    }

    fn school(&self, id: SchoolId) -> Option<&Arc<SchoolRuntime>> {
        self.daemon.schools.iter().find(|s| s.id == id)
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(pages::today))
            .route("/login", get(pages::login_page).post(pages::login))
            .route("/login/oidc", get(oidc::start))
            .route("/login/oidc/callback", get(oidc::callback))
            .route("/logout", post(pages::logout))
            .route("/calls/{upn}/outcome", post(pages::call_outcome))
            .route("/tasks/{id}/close", post(tasks::close))
            .route("/replies/{id}/confirm", post(replies::confirm))
            .route("/replies/{id}/set-aside", post(replies::set_aside))
            .route("/approvals", get(pages::approvals))
            .route("/approvals/batch", post(pages::approve_batch))
            .route("/approvals/{id}", get(pages::approval))
            .route("/approvals/{id}/letter.pdf", get(pages::approval_letter))
            .route("/approvals/{id}/approve", post(pages::approve))
            .route("/approvals/{id}/reject", post(pages::reject))
            .route("/pupils/{upn}", get(pupil::pupil))
            .route("/cases", get(pupil::cases))
            .route("/status", get(pupil::status))
            .route("/reports", get(reports::reports))
            .route("/assets/console.css", get(view::stylesheet))
            // A machine's endpoint: no sign-in or form token (Twilio signs each request
            // instead), and a small body.
            .route(
                crate::reply::twilio::WEBHOOK_PATH,
                post(twilio_sms).layer(DefaultBodyLimit::max(crate::reply::twilio::MAX_BODY)),
            )
            .layer(axum::middleware::map_response(protective_headers))
            .with_state(self)
    }
}

/// Parents' replies by Twilio: see [`crate::reply::twilio`].
async fn twilio_sms(
    State(console): State<Console>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    crate::reply::twilio::webhook(&console.daemon, console.replay, &uri, &headers, &body).await
}

/// Serves the console until `stop`. Refuses to start when nobody can sign in.
pub async fn serve(console: Console, listen: SocketAddr, stop: CancellationToken) -> Result<()> {
    if account::user_count(console.store()).await? == 0 {
        anyhow::bail!(
            "nobody can sign in to the console yet: add a person first, e.g.\n  \
             rollcall user add jo.bloggs@school.sch.uk --role attendance_officer --password-stdin"
        );
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    serve_on(console, listener, stop).await
}

/// [`serve`] on a listener already bound (tests bind port 0).
pub async fn serve_on(
    console: Console,
    listener: tokio::net::TcpListener,
    stop: CancellationToken,
) -> Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "console listening");
    axum::serve(
        listener,
        console
            .router()
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { stop.cancelled().await })
    .await?;
    Ok(())
}

/// The signed-in person behind a request, the school they are looking at (`?school=` or
/// their first), and the session's form token. A request without a session is sent to
/// `/login`.
pub struct Signed {
    pub user: User,
    pub csrf: String,
    pub remote: String,
}

impl Signed {
    /// The school a page is about, if the person holds any role there.
    fn school<'c>(
        &self,
        console: &'c Console,
        asked: Option<i64>,
    ) -> Result<&'c Arc<SchoolRuntime>, Response> {
        let id = match asked {
            Some(id) => SchoolId(id),
            None => match self.user.roles.iter().map(|(s, _)| *s).min_by_key(|s| s.0) {
                Some(s) => s,
                None => return Err(forbidden("You have no role at any school here.")),
            },
        };
        if self.user.roles_at(id).is_empty() {
            return Err(forbidden("You have no role at this school."));
        }
        console
            .school(id)
            .ok_or_else(|| forbidden("This school is not run by this rollcall."))
    }

    /// [`Signed::school`], refused with `why` unless one of the person's roles there `may`.
    fn school_where<'c>(
        &self,
        console: &'c Console,
        asked: Option<i64>,
        may: impl Fn(Role) -> bool,
        why: &str,
    ) -> Result<&'c Arc<SchoolRuntime>, Response> {
        let school = self.school(console, asked)?;
        if self.user.has(school.id, may) {
            Ok(school)
        } else {
            Err(forbidden(why))
        }
    }

    /// A form's token matches the session's: the form came from a page of ours.
    fn check_csrf(&self, sent: &str) -> Result<(), Response> {
        if !sent.is_empty() && constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(forbidden(
                "This form is out of date or did not come from rollcall. Go back, reload the page and try again.",
            ))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<Console> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
            return Err(Redirect::to("/login").into_response());
        };
        if parts.method != axum::http::Method::GET && !same_origin(&parts.headers, console) {
            return Err(forbidden(
                "This request came from another site and was refused.",
            ));
        }
        match account::session_user(console.store(), &token, console.wall_now()).await {
            Ok(Some((user, csrf))) => Ok(Signed {
                user,
                csrf,
                remote: remote_of(parts, console),
            }),
            Ok(None) => Err(Redirect::to("/login").into_response()),
            Err(e) => Err(internal(&e)),
        }
    }
}

impl OptionalFromRequestParts<Console> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Console,
    ) -> Result<Option<Self>, Response> {
        match <Signed as FromRequestParts<Console>>::from_request_parts(parts, console).await {
            Ok(s) => Ok(Some(s)),
            Err(_) => Ok(None),
        }
    }
}

/// Where a request came from, for the audit (see [`remote_of`]).
pub struct Remote(pub String);

impl FromRequestParts<Console> for Remote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Console,
    ) -> Result<Self, std::convert::Infallible> {
        Ok(Remote(remote_of(parts, console)))
    }
}

/// Every answer holds children's data or leads to it: nothing is kept by the browser (Back on
/// a shared staff laptop after signing out shows nothing), nothing may frame the console or
/// load from elsewhere, and no address is passed on to another site. Reports viewed in the
/// page have inline styles and SVG, hence `'unsafe-inline'` for styles only.
async fn protective_headers(mut response: Response) -> Response {
    use axum::http::HeaderValue;
    let h = response.headers_mut();
    // The stylesheet is the one thing worth keeping (it sets its own Cache-Control).
    let stylesheet = h
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/css"));
    if !stylesheet {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             script-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// A state-changing request must come from a page of ours: when the browser says where it
/// came from (`Origin`, sent by every current browser on a form post), it must be this host.
/// SameSite=Strict keeps the session cookie off cross-site posts already; this refuses them
/// even for a browser that sends it.
fn same_origin(headers: &HeaderMap, console: &Console) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    if let Some(public) = &console.web().public_url
        && origin.trim_end_matches('/') == public.trim_end_matches('/')
    {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| !host.is_empty() && rest == host)
}

/// Where a request came from, for the audit: the peer, or the client a trusted proxy names.
fn remote_of(parts: &Parts, console: &Console) -> String {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = || {
        parts
            .headers
            .get("x-forwarded-for")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.split(',').next_back())
            .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
    };
    match peer {
        Some(p) if console.web().trusted_proxies.contains(&p) => {
            forwarded().unwrap_or(p).to_string()
        }
        Some(p) => p.to_string(),
        None => String::new(),
    }
}

pub(crate) fn forbidden(why: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(view::plain_page("Not allowed", why)),
    )
        .into_response()
}

pub(crate) fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(view::plain_page("Not found", what)),
    )
        .into_response()
}

/// An error nobody at the school can act on: logged without personal data, a plain page.
pub(crate) fn internal(e: &anyhow::Error) -> Response {
    tracing::error!("console: {e:#}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html(view::plain_page(
            "Something went wrong",
            "rollcall could not show this page. The error is in the daemon's log.",
        )),
    )
        .into_response()
}

/// What the signed-in person may see and do at a school, for the page templates (a link a
/// role may not use is not shown).
#[derive(serde::Serialize)]
pub(crate) struct Can {
    pupils: bool,
    calls: bool,
    approve: bool,
    status: bool,
}

impl Can {
    fn of(user: &User, school: SchoolId) -> Can {
        Can {
            pupils: user.has(school, Role::sees_pupils),
            calls: user.has(school, Role::works_calls),
            approve: user.has(school, Role::approves),
            status: user.has(school, |r| {
                matches!(r, Role::AttendanceOfficer | Role::Headteacher)
            }),
        }
    }
}

/// `rollcall web`: the console alone, now or (file sink only) as the school was at `as_of`.
pub async fn run_alone(
    config: crate::config::Config,
    listen: Option<SocketAddr>,
    as_of: Option<NaiveDateTime>,
) -> Result<()> {
    let clock = match as_of {
        None => crate::schedule::Clock::System,
        Some(at) => {
            if config.delivery.mode != crate::config::DeliveryMode::File {
                anyhow::bail!(
                    "--as-of replays a school run with the file sink only: approving in the past \
                     must not send real messages (delivery.mode is live)"
                );
            }
            let tz = config
                .schools
                .first()
                .map_or(chrono_tz::Europe::London, |s| s.timezone);
            crate::schedule::Clock::simulated(crate::schedule::local_instant(tz, at))
        }
    };
    let listen = listen
        .or(config.web.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let replay = as_of.is_some();
    let daemon = Arc::new(Daemon::build(config, clock).await?);
    let console = Console::new(daemon, replay)?;
    let stop = CancellationToken::new();
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
        });
    }
    say!("The console is at http://{listen}/ (Ctrl-C stops it)")?;
    serve(console, listen, stop).await
}

/// `rollcall user add`.
pub async fn add_user_command(
    config: &crate::config::Config,
    args: &crate::cli::UserAddArgs,
) -> Result<()> {
    let role = Role::parse(&args.role)?;
    let school = config.school(args.school.as_deref())?;
    let store = crate::register::store::Store::open_existing(&config.database_url).await?;
    let school_id = store.ensure_school(school).await?;
    let password = if args.no_password {
        None
    } else {
        read_password(args.password_stdin)?
    };
    let now = crate::schedule::to_local(school.timezone, chrono::Utc::now());
    account::add_person(
        &store,
        &args.email,
        args.name.as_deref(),
        if args.no_password {
            account::Password::SchoolAccountOnly
        } else {
            account::Password::Set(password.as_deref())
        },
        school_id,
        role,
        now,
    )
    .await?;
    say!(
        "{} can sign in to the console as {} at {}",
        args.email.trim().to_lowercase(),
        role.title(),
        school.name
    )?;
    Ok(())
}

/// `rollcall user remove`.
pub async fn remove_user_command(
    config: &crate::config::Config,
    args: &crate::cli::UserRemoveArgs,
) -> Result<()> {
    let store = crate::register::store::Store::open_existing(&config.database_url).await?;
    let school = match &args.school {
        Some(id) => Some(store.ensure_school(config.school(Some(id))?).await?),
        None => None,
    };
    let removed = account::remove_user(&store, &args.email, school).await?;
    say!(
        "{}: {removed} role(s) taken away and every session ended",
        args.email.trim().to_lowercase()
    )?;
    Ok(())
}

/// The password: one line of standard input, or asked on the terminal without echo. Empty
/// means "keep the one they have" for an existing person.
fn read_password(from_stdin: bool) -> Result<Option<String>> {
    let line = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line
    } else {
        rpassword::prompt_password("Password (at least 12 characters): ")
            .context("cannot ask for a password here: use --password-stdin")?
    };
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    Ok((!line.is_empty()).then_some(line))
}

/// `rollcall demo --serve`: the console over the demo school, at the end of its last day
/// before the approvals, with a demo attendance officer and office account.
pub async fn serve_demo(
    daemon: Daemon,
    school: &crate::config::SchoolConfig,
    listen: SocketAddr,
    at: NaiveDateTime,
) -> Result<()> {
    daemon
        .clock
        .advance_to(crate::schedule::local_instant(school.timezone, at));
    let school_id = daemon.store.ensure_school(school).await?;
    let password = account::token()[..16].to_owned();
    for (email, name, role) in [
        (
            "officer@demo.school",
            "Demo Officer",
            Role::AttendanceOfficer,
        ),
        ("office@demo.school", "Demo Office", Role::Office),
        ("head@demo.school", "Demo Head", Role::Headteacher),
    ] {
        account::add_user(
            &daemon.store,
            email,
            Some(name),
            Some(&password),
            school_id,
            role,
            at,
        )
        .await?;
    }
    let console = Console::new(Arc::new(daemon), true)?;
    let stop = CancellationToken::new();
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
        });
    }
    say!(
        "\nThe console, over the demo school at {} (before the day's approvals):\n  \
         http://{listen}/\n  sign in as officer@demo.school (attendance officer), \
         office@demo.school (office) or head@demo.school (headteacher)\n  password for all three: {password}\n\
         Ctrl-C stops it.",
        at.format("%A %-d %B %Y, %H:%M")
    )?;
    serve(console, listen, stop).await
}
