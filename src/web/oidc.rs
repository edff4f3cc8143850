//! Sign-in with the school's Microsoft 365 or Google account: OpenID Connect's authorisation
//! code flow, with PKCE, a one-time state and a nonce. The provider says who the person is
//! (a verified email in a signed ID token); rollcall still decides what they may do, so they
//! must have been added with `rollcall user add EMAIL --role ROLE --no-password`.

use anyhow::{Context as _, Result, anyhow, bail};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::json;
use sqlx::Row as _;

use super::account;
use super::{Console, Remote, internal};
use crate::config::OidcConfig;

const TIME: &str = "%Y-%m-%dT%H:%M:%S";

/// What the provider publishes about itself.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Debug, Deserialize)]
struct Claims {
    nonce: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
}

fn http() -> Result<reqwest::Client> {
    // rollcall builds reqwest without a default TLS provider (see Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

async fn discover(oidc: &OidcConfig) -> Result<Discovery> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        oidc.issuer.trim_end_matches('/')
    );
    let d: Discovery = http()?
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot reach the identity provider at {url}"))?
        .error_for_status()?
        .json()
        .await
        .context("the identity provider's configuration is not what OpenID Connect says")?;
    if d.issuer.trim_end_matches('/') != oidc.issuer.trim_end_matches('/') {
        bail!(
            "the identity provider calls itself {} but [web.oidc] issuer is {}",
            d.issuer,
            oidc.issuer
        );
    }
    Ok(d)
}

/// Where the provider sends the person back: the address people use (`[web] public_url`,
/// required with `[web.oidc]`), never one built from a request's Host header.
fn redirect_uri(c: &Console) -> Result<String> {
    let base = c
        .web()
        .public_url
        .as_deref()
        .context("[web.oidc] needs [web] public_url")?;
    Ok(format!(
        "{}/login/oidc/callback",
        base.trim_end_matches('/')
    ))
}

/// The cookie that ties a sign-in to the browser that started it.
const BROWSER_COOKIE: &str = "rollcall_oidc";

/// `GET /login/oidc`: off to the provider, with a fresh state, nonce and PKCE challenge, and
/// a cookie only this browser holds.
pub async fn start(State(c): State<Console>, jar: CookieJar) -> Response {
    let Some(oidc) = c.web().oidc.clone() else {
        return super::not_found("Sign-in with a school account is not set up here.");
    };
    let browser = account::token();
    let result: Result<String> = async {
        let d = discover(&oidc).await?;
        let (state, nonce, verifier) = (account::token(), account::token(), account::token());
        let challenge = URL_SAFE_NO_PAD
            .encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref());
        let now = c.wall_now();
        sqlx::query("DELETE FROM web_oidc_states WHERE created_at < $1")
            .bind((now - Duration::minutes(10)).format(TIME).to_string())
            .execute(c.store().pool())
            .await?;
        sqlx::query(
            "INSERT INTO web_oidc_states (state, nonce, verifier, browser, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&state)
        .bind(&nonce)
        .bind(&verifier)
        .bind(account::token_hash(&browser))
        .bind(now.format(TIME).to_string())
        .execute(c.store().pool())
        .await?;
        let mut url = reqwest::Url::parse(&d.authorization_endpoint)
            .context("the provider's authorization endpoint is not a URL")?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &oidc.client_id)
            .append_pair("redirect_uri", &redirect_uri(&c)?)
            .append_pair("scope", "openid email profile")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.to_string())
    }
    .await;
    match result {
        Ok(url) => {
            // Lax, not Strict: the browser comes back from the provider's site with it.
            let cookie = Cookie::build((BROWSER_COOKIE, browser))
                .path("/login/oidc")
                .http_only(true)
                .secure(true)
                .same_site(SameSite::Lax)
                .build();
            (jar.add(cookie), Redirect::to(&url)).into_response()
        }
        Err(e) => internal(&e),
    }
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /login/oidc/callback`: the code exchanged for a signed ID token, checked, and the
/// person signed in if rollcall knows their address.
pub async fn callback(
    State(c): State<Console>,
    Remote(remote): Remote,
    jar: CookieJar,
    Query(q): Query<Callback>,
) -> Response {
    let Some(oidc) = c.web().oidc.clone() else {
        return super::not_found("Sign-in with a school account is not set up here.");
    };
    let now = c.wall_now();
    let refuse = |why: String| {
        let mut page = c.views.public(
            "login",
            "Sign in",
            json!({ "error": why, "oidc": oidc.label }),
        );
        *page.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
        page
    };
    if q.error.is_some() {
        // The provider's own words are not shown: anyone can put words in such a link.
        return refuse(
            "The school's sign-in did not let you in. Try again, or sign in with a password."
                .into(),
        );
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return refuse("The sign-in came back incomplete. Try again.".into());
    };
    let Some(browser) = jar.get(BROWSER_COOKIE).map(|k| k.value().to_owned()) else {
        return refuse(
            "This sign-in was not started in this browser. Start again from the sign-in page."
                .into(),
        );
    };
    let email = match verify(&c, &oidc, &browser, &code, &state, now).await {
        Ok(Ok(email)) => email,
        Ok(Err(why)) => {
            tracing::warn!("console: a school-account sign-in was refused: {why}");
            return refuse("That sign-in could not be checked. Try again.".into());
        }
        Err(e) => return internal(&e),
    };
    let opened = match account::open_session(c.store(), c.web(), &email, now).await {
        Ok(o) => o,
        Err(e) => return internal(&e),
    };
    let Some(token) = opened else {
        let _ = account::audit(
            c.store(),
            &email,
            None,
            "sign-in refused: no account",
            "",
            &remote,
            now,
        )
        .await;
        return refuse(format!(
            "{email} has no account here. Ask your attendance officer to add you: rollcall user add {email} --role ROLE --no-password"
        ));
    };
    if let Err(e) = account::audit(
        c.store(),
        &email,
        None,
        "sign-in (school account)",
        "",
        &remote,
        now,
    )
    .await
    {
        return internal(&e);
    }
    // The way here began on the provider's site, so the browser would not send a Strict
    // cookie on a redirect: a page of ours moves on to Today instead (a same-site step).
    let page = axum::response::Html(
        "<!DOCTYPE html><html lang=\"en-GB\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url=/\"><title>Signed in · rollcall</title>\
         <link rel=\"stylesheet\" href=\"/assets/console.css\"></head><body><main class=\"narrow\">\
         <p>Signed in. <a href=\"/\">Continue to today's work</a>.</p></main></body></html>",
    );
    let jar = jar
        .remove(Cookie::build(BROWSER_COOKIE).path("/login/oidc"))
        .add(super::pages::session_cookie(token));
    (jar, page).into_response()
}

/// The ID token's verified email, or why the sign-in is refused.
async fn verify(
    c: &Console,
    oidc: &OidcConfig,
    browser: &str,
    code: &str,
    state: &str,
    now: chrono::NaiveDateTime,
) -> Result<Result<String, String>> {
    // The state is taken once, in one statement: a replayed callback finds nothing.
    let row = sqlx::query(
        "DELETE FROM web_oidc_states WHERE state = $1
         RETURNING nonce, verifier, browser, created_at",
    )
    .bind(state)
    .fetch_optional(c.store().pool())
    .await?;
    let Some(row) = row else {
        return Ok(Err("unknown or used state".into()));
    };
    if row.try_get::<String, _>("browser")? != account::token_hash(browser) {
        return Ok(Err("the sign-in was started in another browser".into()));
    }
    let created: String = row.try_get("created_at")?;
    if created < (now - Duration::minutes(10)).format(TIME).to_string() {
        return Ok(Err("the sign-in took longer than ten minutes".into()));
    }
    let (nonce, verifier): (String, String) = (row.try_get("nonce")?, row.try_get("verifier")?);
    let d = discover(oidc).await?;
    let client = http()?;
    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.to_owned()),
        ("redirect_uri", redirect_uri(c)?),
        ("client_id", oidc.client_id.clone()),
        ("code_verifier", verifier),
    ];
    if let Some(secret) = &oidc.client_secret {
        form.push(("client_secret", secret.clone()));
    }
    let tokens: serde_json::Value = client
        .post(&d.token_endpoint)
        .form(&form)
        .send()
        .await
        .context("cannot reach the identity provider's token endpoint")?
        .json()
        .await
        .context("the token endpoint did not answer in JSON")?;
    let Some(id_token) = tokens.get("id_token").and_then(|t| t.as_str()) else {
        return Ok(Err(format!(
            "no ID token from the provider ({})",
            tokens
                .get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("no error given")
        )));
    };
    let header = match decode_header(id_token) {
        Ok(h) => h,
        Err(e) => return Ok(Err(format!("the ID token is malformed: {e}"))),
    };
    // Only the public-key algorithms providers sign with: a token that names a shared-secret
    // one (HS256) must never be checked with a public key as its "secret".
    use jsonwebtoken::Algorithm::{ES256, ES384, PS256, PS384, PS512, RS256, RS384, RS512};
    if ![RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384].contains(&header.alg) {
        return Ok(Err(format!("the ID token is signed with {:?}", header.alg)));
    }
    let keys: JwkSet = client
        .get(&d.jwks_uri)
        .send()
        .await
        .context("cannot fetch the provider's signing keys")?
        .json()
        .await
        .context("the provider's signing keys are not a JWK set")?;
    let jwk = match header.kid.as_deref() {
        Some(kid) => keys.find(kid),
        None => keys.keys.first(),
    };
    let Some(jwk) = jwk else {
        return Ok(Err(
            "the ID token is signed with a key the provider does not publish".into(),
        ));
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|e| anyhow!("the provider's key: {e}"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[&oidc.client_id]);
    validation.set_issuer(&[&d.issuer]);
    // A token without iss or aud must fail, not pass unchecked.
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let claims = match decode::<Claims>(id_token, &key, &validation) {
        Ok(t) => t.claims,
        Err(e) => return Ok(Err(format!("the ID token does not check: {e}"))),
    };
    if claims.nonce.as_deref() != Some(nonce.as_str()) {
        return Ok(Err("the ID token's nonce is not the one sent".into()));
    }
    if claims.email_verified == Some(false) {
        return Ok(Err("the provider has not verified the email address".into()));
    }
    // Only `email`: Microsoft's `preferred_username` can be changed by its holder and must not
    // decide who someone is (configure the `email` optional claim in Entra ID).
    match claims.email {
        Some(email) if email.contains('@') => Ok(Ok(email.trim().to_lowercase())),
        _ => Ok(Err("the ID token carries no email address".into())),
    }
}
