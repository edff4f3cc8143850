//! Issue 15: the console in a real browser (Debian's headless Chromium, driven over WebDriver
//! by chromedriver). An attendance officer signs in, records a call, reads a letter and
//! approves it; the office is not offered an LA return and gets 403 posting it anyway; a form
//! posted from another site is refused; the officer rejects the return with a reason; five
//! wrong passwords lock the account. Each page is saved as a screenshot at a
//! laptop's size and a phone's in `target/console-screenshots/` to be looked at.
//!
//! `.ci/run` installs `chromium` and `chromium-driver`; without them this test says so once
//! and passes, since the HTTP-level console tests (`tests/backends/console.rs`) still run.

#[allow(dead_code)]
#[path = "backends/console.rs"]
mod console;
#[allow(dead_code)]
#[path = "backends/walk.rs"]
mod walk;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use fantoccini::{Client, ClientBuilder, Locator};
use rollcall::register::store::Store;
use sqlx::Row as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use console::{ConsoleSchool, PASSWORD, console_school, console_school_with, provider};
use walk::UPNS;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Result<Driver> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting chromedriver")?;
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(driver);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("chromedriver did not start listening")
}

async fn browser(driver: &Driver) -> Result<Client> {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1366,768", "--hide-scrollbars"],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .context("connecting to chromedriver")?;
    Ok(client)
}

fn shots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots")
}

/// Saves the page at a laptop's size and a phone's (the whole page height).
async fn shoot(client: &Client, name: &str) -> Result<()> {
    let dir = shots_dir();
    std::fs::create_dir_all(&dir)?;
    for (suffix, width) in [("laptop", 1366u32), ("phone", 390u32)] {
        let height: u32 = client
            .execute("return document.documentElement.scrollHeight", vec![])
            .await?
            .as_u64()
            .map_or(768, |h| u32::try_from(h).unwrap_or(768))
            .clamp(600, 4000);
        client.set_window_size(width, height.max(768)).await?;
        let png = client.screenshot().await?;
        std::fs::write(dir.join(format!("{name}-{suffix}.png")), png)?;
    }
    client.set_window_size(1366, 768).await?;
    Ok(())
}

async fn sign_in(client: &Client, base: &str, email: &str, password: &str) -> Result<()> {
    client.goto(&format!("{base}/login")).await?;
    client
        .find(Locator::Id("email"))
        .await?
        .send_keys(email)
        .await?;
    client
        .find(Locator::Id("password"))
        .await?
        .send_keys(password)
        .await?;
    client
        .find(Locator::Css("form button[type=submit]"))
        .await?
        .click()
        .await?;
    Ok(())
}

async fn sign_out(client: &Client) -> Result<()> {
    client
        .find(Locator::Css("form.who button"))
        .await?
        .click()
        .await?;
    wait_for_text(client, "Sign in to rollcall").await?;
    Ok(())
}

/// Another site: one page whose form posts to the console as soon as it loads.
async fn hostile_site(target: String) -> Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    // "localhost" is another origin (and site) than the console's "127.0.0.1".
    let url = format!("http://localhost:{}/", listener.local_addr()?.port());
    let page = format!(
        "<!DOCTYPE html><html><body><form id=f method=post action=\"{target}\">\
         <input name=school value=1><input name=csrf value=guess></form>\
         <script>document.getElementById('f').submit()</script></body></html>"
    );
    let handle = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    Ok((url, handle))
}

/// Waits until the page shows `text`. Look for something only the next page has: a click
/// that submits a form returns before the answer arrives.
async fn wait_for_text(client: &Client, text: &str) -> Result<String> {
    wait_until(client, text, |source| source.contains(text)).await
}

async fn wait_until(client: &Client, what: &str, done: impl Fn(&str) -> bool) -> Result<String> {
    for _ in 0..100 {
        let source = client.source().await?;
        if done(&source) {
            return Ok(source);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = client.current_url().await?;
    let shown = client.source().await.unwrap_or_default();
    let start = shown.find("<main").unwrap_or(0);
    let shown: String = shown[start..].chars().take(1500).collect();
    anyhow::bail!("{what} never appeared (at {url}); the page: {shown}")
}

async fn morning_in_the_browser(school: &ConsoleSchool, client: &Client) -> Result<()> {
    let base = &school.base;
    let letter = school.waiting_for("day_three")?;
    let la = school.waiting_for("la_10_day_notice")?;

    sign_in(client, base, "jo.officer@walked.example", PASSWORD).await?;
    let today = wait_for_text(client, "Call list").await?;
    ensure!(today.contains("Pupil1 Family1"), "pupil 1 on the call list");
    shoot(client, "today").await?;

    // Record the call: "Reason given", with a note.
    let form = client
        .find(Locator::Css(&format!(
            "form[action='/calls/{}/outcome']",
            UPNS[1]
        )))
        .await?;
    form.find(Locator::Css("input[value='reason_given']"))
        .await?
        .click()
        .await?;
    form.find(Locator::Css("input[name='note']"))
        .await?
        .send_keys("Dentist, back at 11")
        .await?;
    form.find(Locator::Css("button")).await?.click().await?;
    let after = wait_for_text(client, "Dentist, back at 11").await?;
    ensure!(after.contains("Done"), "the call is marked done");
    shoot(client, "today-after-call").await?;

    // The list of approvals, then the letter itself, then approve it.
    client.goto(&format!("{base}/approvals")).await?;
    wait_for_text(client, "Awaiting approval").await?;
    shoot(client, "approvals").await?;
    client
        .find(Locator::Css(&format!("a[href^='/approvals/{letter}?']")))
        .await?
        .click()
        .await?;
    let page = wait_for_text(client, "The message as it will be sent").await?;
    ensure!(page.contains("Pupil0"), "the letter names the child");
    ensure!(page.contains("letter.pdf"), "the letter's PDF is offered");
    shoot(client, "approval-letter").await?;
    client
        .find(Locator::Css(&format!(
            "form[action='/approvals/{letter}/approve'] button"
        )))
        .await?
        .click()
        .await?;
    // Back on the list, which no longer offers the letter.
    let gone = format!("/approvals/{letter}?");
    wait_until(client, "the list without the letter", |s| {
        s.contains("<h1>Awaiting approval") && !s.contains(&gone)
    })
    .await?;
    let (status, by, _) = school.status_of(letter).await?;
    ensure!(status == "queued", "approved letter is {status}");
    ensure!(
        by.as_deref() == Some("Jo Officer (Attendance Officer)"),
        "approved by {by:?}"
    );

    // The pupil, the cases and the status pages, looked at.
    client.goto(&format!("{base}/pupils/{}", UPNS[0])).await?;
    wait_for_text(client, "Register, last 6 weeks").await?;
    shoot(client, "pupil").await?;
    client.goto(&format!("{base}/cases")).await?;
    wait_for_text(client, "Open cases by stage").await?;
    shoot(client, "cases").await?;
    client.goto(&format!("{base}/status")).await?;
    wait_for_text(client, "Outbox").await?;
    shoot(client, "status").await?;
    sign_out(client).await?;

    // The office reads the LA return but is not offered its approval.
    sign_in(client, base, "ola.office@walked.example", PASSWORD).await?;
    wait_for_text(client, "Call list").await?;
    client.goto(&format!("{base}/approvals/{la}")).await?;
    let page = wait_for_text(client, "The message as it will be sent").await?;
    ensure!(
        !page.contains(&format!("/approvals/{la}/approve")),
        "no approve form for the office"
    );
    ensure!(
        page.contains("your role does not decide it"),
        "and it says why"
    );
    // Posting the approval anyway, from the page itself with its own form token: 403.
    let status = client
        .execute(
            "const csrf = document.querySelector('input[name=csrf]').value;
             return fetch(arguments[0], {method: 'POST', body: new URLSearchParams({csrf, school: arguments[1]})})
               .then(r => r.status);",
            vec![
                serde_json::json!(format!("/approvals/{la}/approve")),
                serde_json::json!(school.walk.school_id.0.to_string()),
            ],
        )
        .await?;
    ensure!(
        status == serde_json::json!(403),
        "office approving an LA return: {status}"
    );
    ensure!(
        school.status_of(la).await?.0 == "awaiting_approval",
        "nothing changed"
    );

    // Signed in as the office, a page on another site posts an approval: refused, unchanged.
    let (evil, server) = hostile_site(format!("{base}/approvals/{la}/approve")).await?;
    client.goto(&evil).await?;
    // The post arrives without the session (SameSite=Strict), or is refused by its Origin.
    let answer = wait_until(client, "the console's answer to the post", |s| {
        s.contains("Sign in to rollcall") || s.contains("was refused")
    })
    .await?;
    server.abort();
    ensure!(
        !answer.contains("Awaiting approval"),
        "the post was not taken"
    );
    let (status, _, _) = school.status_of(la).await?;
    ensure!(
        status == "awaiting_approval",
        "a cross-site post changed the return to {status}"
    );
    client.goto(&format!("{base}/")).await?;
    sign_out(client).await?;

    // The attendance officer rejects the return, with a reason: cancelled, the reason kept.
    sign_in(client, base, "jo.officer@walked.example", PASSWORD).await?;
    wait_for_text(client, "Call list").await?;
    client.goto(&format!("{base}/approvals/{la}")).await?;
    wait_for_text(client, "The message as it will be sent").await?;
    let reason = "Family moved to Wales; LA told by phone";
    client
        .find(Locator::Id("reason"))
        .await?
        .send_keys(reason)
        .await?;
    shoot(client, "approval-la-return").await?;
    client
        .find(Locator::Css(&format!(
            "form[action='/approvals/{la}/reject'] button"
        )))
        .await?
        .click()
        .await?;
    let gone = format!("/approvals/{la}?");
    wait_until(client, "the list without the return", |s| {
        s.contains("<h1>Awaiting approval") && !s.contains(&gone)
    })
    .await?;
    let (status, by, note) = school.status_of(la).await?;
    ensure!(status == "cancelled", "rejected return is {status}");
    ensure!(
        note.as_deref() == Some(reason),
        "the reason is kept: {note:?}"
    );
    ensure!(
        by.as_deref() == Some("Jo Officer (Attendance Officer)"),
        "rejected by {by:?}"
    );
    sign_out(client).await?;

    // Five wrong passwords, then the right one: locked (the page says the same as for a
    // wrong password; the audit records the lock).
    for _ in 1..=5 {
        sign_in(
            client,
            base,
            "jo.officer@walked.example",
            "not the password",
        )
        .await?;
        wait_for_text(client, "do not match an account").await?;
    }
    sign_in(client, base, "jo.officer@walked.example", PASSWORD).await?;
    wait_for_text(client, "do not match an account").await?;
    let last: String = sqlx::query(
        "SELECT action FROM web_audit WHERE email = 'jo.officer@walked.example' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(school.walk.store.pool())
    .await?
    .try_get("action")?;
    ensure!(
        last == "sign-in refused: locked",
        "the right password is refused: {last}"
    );
    shoot(client, "login-locked").await?;
    Ok(())
}

/// Whether the browser is missing: then the test says so once and passes, except in CI, which
/// installs it and sets `ROLLCALL_TEST_REQUIRE_BROWSER` (there a missing one is a failure).
fn browser_missing() -> Result<bool> {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return Ok(false);
    }
    ensure!(
        std::env::var_os("ROLLCALL_TEST_REQUIRE_BROWSER").is_none(),
        "ROLLCALL_TEST_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing"
    );
    eprintln!(
        "note: browser tests skipped: no {CHROMIUM} or {CHROMEDRIVER} (apt-get install chromium chromium-driver; .ci/run does)"
    );
    Ok(true)
}

type Visit = for<'a> fn(
    &'a ConsoleSchool,
    &'a Client,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + 'a>>;

/// The walked school served on loopback, a browser on it, `visit` run, everything shut.
fn in_a_browser(visit: Visit) -> Result<()> {
    if browser_missing()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}", dir.path().join("rollcall.db").display());
        let store = Store::connect(&url).await?;
        let school = console_school(store, dir.path()).await?;
        let driver = start_driver().await?;
        let client = browser(&driver).await?;
        let result = visit(&school, &client).await;
        let _ = client.close().await;
        school.shut().await?;
        result
    })
}

#[test]
fn an_attendance_officers_morning_in_a_real_browser() -> Result<()> {
    in_a_browser(|school, client| Box::pin(morning_in_the_browser(school, client)))
}

/// Issue 16: a parent's reply to this morning's text is confirmed from the Today page by the
/// office: the reply shows with the reason its words suggest, confirming it takes the pupil
/// off the call list and puts the code on the list to enter in the MIS.
async fn a_reply_in_the_browser(school: &ConsoleSchool, client: &Client) -> Result<()> {
    let base = &school.base;
    let walk = &school.walk;
    let reply = rollcall::reply::Incoming {
        provider: rollcall::reply::Provider::Notify,
        provider_id: "browser-1".into(),
        // Pupil 1's mother, as the walk's contacts give her number.
        from: "447700900001".into(),
        to: "07700900000".into(),
        body: "Sorry she has a temperature today, keeping her home".into(),
        received_at: rollcall::schedule::local_instant(
            walk.school.timezone,
            school.morning - chrono::Duration::minutes(20),
        ),
    };
    let settings = rollcall::config::RepliesConfig::default();
    rollcall::reply::take(&walk.store, walk.runtimes(), &settings, &reply, walk.now()).await?;

    sign_in(client, base, "ola.office@walked.example", PASSWORD).await?;
    let today = wait_for_text(client, "Replies from parents").await?;
    ensure!(
        today.contains("keeping her home") && today.contains("matches one absence"),
        "the reply and what it matched are shown"
    );
    ensure!(
        today.contains("Parent replied"),
        "the call list says the family replied"
    );
    ensure!(
        !client
            .find_all(Locator::Id(&format!("call-{}", UPNS[1])))
            .await?
            .is_empty(),
        "pupil 1 is on the call list before the reply is confirmed"
    );
    shoot(client, "today-reply").await?;
    client
        .find(Locator::Css("form[action$='/confirm'] button"))
        .await?
        .click()
        .await?;
    let after = wait_for_text(client, "Decided today").await?;
    ensure!(
        after.contains("confirmed by Ola Office"),
        "who confirmed it is shown"
    );
    ensure!(
        client
            .find_all(Locator::Id(&format!("call-{}", UPNS[1])))
            .await?
            .is_empty(),
        "pupil 1 is off the call list"
    );
    let mis = client.find(Locator::Id("mis")).await?.text().await?;
    ensure!(
        mis.contains("Pupil1 Family1") && mis.contains("AM") && mis.contains('I'),
        "the code to enter in the MIS: {mis}"
    );
    shoot(client, "today-after-reply").await?;
    Ok(())
}

#[test]
fn a_parents_reply_is_confirmed_from_today_in_a_real_browser() -> Result<()> {
    in_a_browser(|school, client| Box::pin(a_reply_in_the_browser(school, client)))
}

/// Sign-in with the school's account, in a real browser: the button, the provider on another
/// site, back to the console — and the Strict session cookie is there on Today.
#[test]
fn a_school_account_signs_in_in_a_real_browser() -> Result<()> {
    if browser_missing()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}", dir.path().join("rollcall.db").display());
        let store = Store::connect(&url).await?;
        let (issuer, person) = provider::start_as("localhost").await?;
        let school = console_school_with(store, dir.path(), |config, base| {
            config.web.public_url = Some(base.to_owned());
            config.web.oidc = Some(rollcall::config::OidcConfig {
                issuer: issuer.clone(),
                client_id: provider::CLIENT_ID.into(),
                client_secret: Some(provider::CLIENT_SECRET.into()),
                label: "Sign in with Walked Primary's account".into(),
            });
        })
        .await?;
        rollcall::web::account::add_person(
            &school.walk.store,
            "sam.sso@walked.example",
            Some("Sam Single"),
            rollcall::web::account::Password::SchoolAccountOnly,
            school.walk.school_id,
            rollcall::web::account::Role::AttendanceOfficer,
            school.morning,
        )
        .await?;
        if let Ok(mut p) = person.lock() {
            p.email = "sam.sso@walked.example".into();
            p.from_a_page = true;
        }
        let driver = start_driver().await?;
        let client = browser(&driver).await?;
        let result = async {
            client.goto(&format!("{}/login", school.base)).await?;
            client.find(Locator::Css("a.button")).await?.click().await?;
            let today = wait_for_text(&client, "Call list").await?;
            ensure!(today.contains("Sam Single"), "signed in as Sam");
            Ok(())
        }
        .await;
        let _ = client.close().await;
        school.shut().await?;
        result
    })
}
