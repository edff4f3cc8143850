//! Who may sign in to the console, as what, at which school: local accounts with argon2id
//! passwords, per-school roles, database sessions, lockout after wrong passwords, and the audit
//! of everything a person does there.

use std::fmt;

use anyhow::{Result, bail};
use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{Duration, NaiveDateTime};
use sqlx::Row as _;

use crate::config::WebConfig;
use crate::register::store::{SchoolId, Store};

const TIME: &str = "%Y-%m-%dT%H:%M:%S";

/// What a person may do at one school. The names are the ones `rollcall user add --role`
/// takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Everything for their school.
    AttendanceOfficer,
    /// The call list and its outcomes, pupils, and approval of family messages only.
    Office,
    /// Approves what a policy reserves to the head (messages the headteacher signs), and
    /// everything an attendance officer approves.
    Headteacher,
    /// Safeguarding: pupils and cases, social-worker pupils; no approvals.
    Dsl,
    /// Reports only, with no pupil named.
    Governor,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::AttendanceOfficer,
        Role::Office,
        Role::Headteacher,
        Role::Dsl,
        Role::Governor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::AttendanceOfficer => "attendance_officer",
            Role::Office => "office",
            Role::Headteacher => "headteacher",
            Role::Dsl => "dsl",
            Role::Governor => "governor",
        }
    }

    /// As it is written after a name on an approval: "Jo Bloggs (Attendance Officer)".
    pub fn title(self) -> &'static str {
        match self {
            Role::AttendanceOfficer => "Attendance Officer",
            Role::Office => "School Office",
            Role::Headteacher => "Headteacher",
            Role::Dsl => "Designated Safeguarding Lead",
            Role::Governor => "Governor",
        }
    }

    pub fn parse(text: &str) -> Result<Role> {
        match Role::ALL.iter().find(|r| r.name() == text.trim()) {
            Some(r) => Ok(*r),
            None => bail!(
                "unknown role \"{text}\": use one of {}",
                Role::ALL.map(Role::name).join(", ")
            ),
        }
    }

    /// Sees pupils by name (every role but governor).
    pub fn sees_pupils(self) -> bool {
        self != Role::Governor
    }

    /// Keeps the call list and records outcomes.
    pub fn works_calls(self) -> bool {
        matches!(
            self,
            Role::AttendanceOfficer | Role::Office | Role::Headteacher
        )
    }

    /// May decide messages waiting for approval at all.
    pub fn approves(self) -> bool {
        matches!(
            self,
            Role::AttendanceOfficer | Role::Office | Role::Headteacher
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A signed-in person at the school they are looking at.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    /// Their roles, per school.
    pub roles: Vec<(SchoolId, Role)>,
}

impl User {
    pub fn roles_at(&self, school: SchoolId) -> Vec<Role> {
        let mut r: Vec<Role> = self
            .roles
            .iter()
            .filter(|(s, _)| *s == school)
            .map(|(_, r)| *r)
            .collect();
        r.sort();
        r
    }

    pub fn has(&self, school: SchoolId, test: impl Fn(Role) -> bool) -> bool {
        self.roles_at(school).into_iter().any(test)
    }

    /// How an approval is signed: the person's name and their most senior role here.
    pub fn signed_as(&self, school: SchoolId) -> String {
        let role = self
            .roles_at(school)
            .into_iter()
            .find(|r| r.approves())
            .map_or("Staff", Role::title);
        format!("{} ({role})", self.display_name)
    }
}

/// A new random token, hex: session cookies and form tokens.
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn token_hash(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Adds a person, or gives an existing one another role (and, when given, a new password).
pub async fn add_user(
    store: &Store,
    email: &str,
    display_name: Option<&str>,
    password: Option<&str>,
    school: SchoolId,
    role: Role,
    now: NaiveDateTime,
) -> Result<i64> {
    add_person(
        store,
        email,
        display_name,
        Password::Set(password),
        school,
        role,
        now,
    )
    .await
}

/// A password to set, or none: the person signs in only with the school's account.
#[derive(Debug, Clone, Copy)]
pub enum Password<'a> {
    Set(Option<&'a str>),
    SchoolAccountOnly,
}

pub async fn add_person(
    store: &Store,
    email: &str,
    display_name: Option<&str>,
    password: Password<'_>,
    school: SchoolId,
    role: Role,
    now: NaiveDateTime,
) -> Result<i64> {
    let only_school_account = matches!(password, Password::SchoolAccountOnly);
    let password = match password {
        Password::Set(p) => p,
        Password::SchoolAccountOnly => None,
    };
    let email = email.trim().to_lowercase();
    if !email.contains('@') || email.chars().any(char::is_whitespace) {
        bail!("\"{email}\" is not an email address: people sign in with their school email");
    }
    if let Some(p) = password
        && p.chars().count() < 12
    {
        bail!(
            "the password is too short: use at least 12 characters (a phrase of words is easiest)"
        );
    }
    let hash = password.map(hash_password).transpose()?;
    let name = display_name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map_or_else(|| email.clone(), str::to_owned);
    let mut tx = store.pool().begin().await?;
    let existing = sqlx::query("SELECT id FROM web_users WHERE email = $1")
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?;
    let id: i64 = match existing {
        Some(row) => {
            let id: i64 = row.try_get("id")?;
            if hash.is_some() || only_school_account {
                // A new password (or none: school account only) ends every session signed in
                // with the old one, and lifts a lock.
                sqlx::query(
                    "UPDATE web_users SET password_hash = $1, failed_logins = 0, locked_until = NULL WHERE id = $2",
                )
                .bind(&hash)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            if display_name.is_some() {
                sqlx::query("UPDATE web_users SET display_name = $1 WHERE id = $2")
                    .bind(&name)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            id
        }
        None => {
            if hash.is_none() && !only_school_account {
                bail!(
                    "{email} has no account yet: give a password with --password-stdin (or at the prompt), or --no-password to sign in only with the school's account"
                );
            }
            sqlx::query(
                "INSERT INTO web_users (email, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(&email)
            .bind(&name)
            .bind(&hash)
            .bind(now.format(TIME).to_string())
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?
        }
    };
    let held = sqlx::query(
        "SELECT 1 AS x FROM web_roles WHERE user_id = $1 AND school_id = $2 AND role = $3",
    )
    .bind(id)
    .bind(school.0)
    .bind(role.name())
    .fetch_optional(&mut *tx)
    .await?;
    if held.is_none() {
        sqlx::query("INSERT INTO web_roles (user_id, school_id, role) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(school.0)
            .bind(role.name())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Takes a person's roles away (at one school, or everywhere) and ends their sessions. With
/// no role left they cannot sign in; the account stays, so the audit keeps its name.
pub async fn remove_user(store: &Store, email: &str, school: Option<SchoolId>) -> Result<u64> {
    let email = email.trim().to_lowercase();
    let Some(row) = sqlx::query("SELECT id FROM web_users WHERE email = $1")
        .bind(&email)
        .fetch_optional(store.pool())
        .await?
    else {
        bail!("there is no account for {email}");
    };
    let id: i64 = row.try_get("id")?;
    let mut tx = store.pool().begin().await?;
    let removed = match school {
        Some(school) => {
            sqlx::query("DELETE FROM web_roles WHERE user_id = $1 AND school_id = $2")
                .bind(id)
                .bind(school.0)
                .execute(&mut *tx)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM web_roles WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
        }
    }
    .rows_affected();
    sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(removed)
}

/// People who hold a role somewhere: who could sign in.
pub async fn user_count(store: &Store) -> Result<i64> {
    Ok(
        sqlx::query("SELECT COUNT(DISTINCT user_id) AS n FROM web_roles")
            .fetch_one(store.pool())
            .await?
            .try_get("n")?,
    )
}

/// Why a sign-in was refused: kept in the audit for the school. The page says the same for
/// every reason, so it cannot be used to find out who has an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    WrongPassword,
    Locked,
}

/// Checks a password; on success opens a session and returns its cookie token.
pub async fn sign_in(
    store: &Store,
    web: &WebConfig,
    email: &str,
    password: &str,
    now: NaiveDateTime,
) -> Result<Result<(String, i64), Refused>> {
    let email = email.trim().to_lowercase();
    let now_text = now.format(TIME).to_string();
    let limit = i64::from(web.lockout_failures.max(1));
    let row = sqlx::query("SELECT id, password_hash FROM web_users WHERE email = $1")
        .bind(&email)
        .fetch_optional(store.pool())
        .await?;
    // Every refusal costs one password check, so timing does not tell an unknown address, a
    // locked account or one without a password from a wrong password.
    let refuse = |why: Refused| -> Result<Result<(String, i64), Refused>> {
        let _ = password_matches(password, DUMMY_HASH);
        Ok(Err(why))
    };
    let Some(row) = row else {
        return refuse(Refused::WrongPassword);
    };
    let id: i64 = row.try_get("id")?;
    let Some(stored) = row.try_get::<Option<String>, _>("password_hash")? else {
        // Signs in only with the school's account: nothing to guess, nothing to lock.
        return refuse(Refused::WrongPassword);
    };
    // The attempt is counted before the password is checked, in one statement, so guesses
    // sent all at once are counted one by one and at most `lockout_failures` are ever tried
    // before the lock.
    let counted = sqlx::query(
        "UPDATE web_users SET failed_logins = failed_logins + 1
         WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2)
         RETURNING failed_logins",
    )
    .bind(id)
    .bind(&now_text)
    .fetch_optional(store.pool())
    .await?;
    let Some(counted) = counted else {
        return refuse(Refused::Locked);
    };
    let attempt: i64 = counted.try_get("failed_logins")?;
    if attempt > limit {
        return refuse(Refused::Locked);
    }
    if !password_matches(password, &stored) {
        if attempt >= limit {
            sqlx::query("UPDATE web_users SET failed_logins = 0, locked_until = $1 WHERE id = $2")
                .bind(
                    (now + Duration::minutes(i64::from(web.lockout_minutes)))
                        .format(TIME)
                        .to_string(),
                )
                .bind(id)
                .execute(store.pool())
                .await?;
            return Ok(Err(Refused::Locked));
        }
        return Ok(Err(Refused::WrongPassword));
    }
    sqlx::query("UPDATE web_users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(Ok((new_session(store, web, id, now).await?, id)))
}

async fn new_session(
    store: &Store,
    web: &WebConfig,
    user: i64,
    now: NaiveDateTime,
) -> Result<String> {
    // Sessions that have run out are of no use to anyone; each sign-in sweeps them.
    sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
        .bind(now.format(TIME).to_string())
        .execute(store.pool())
        .await?;
    let token = token();
    sqlx::query(
        "INSERT INTO web_sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&token))
    .bind(user)
    .bind(self::token())
    .bind(now.format(TIME).to_string())
    .bind(
        (now + Duration::hours(i64::from(web.session_hours)))
            .format(TIME)
            .to_string(),
    )
    .execute(store.pool())
    .await?;
    Ok(token)
}

/// A session for someone the school's identity provider vouched for, if rollcall knows them.
/// A lock from wrong passwords does not stop it: the lock is against guessing a password, and
/// the provider has checked who this is.
pub async fn open_session(
    store: &Store,
    web: &WebConfig,
    email: &str,
    now: NaiveDateTime,
) -> Result<Option<String>> {
    let row = sqlx::query("SELECT id FROM web_users WHERE email = $1")
        .bind(email.trim().to_lowercase())
        .fetch_optional(store.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(
        new_session(store, web, row.try_get("id")?, now).await?,
    ))
}

/// An argon2id hash of nothing anyone types, checked against when the address is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$7lVf0hTVWFQBQ0yFQ+EiB6VnYfZ9yrYJWqfpzqFfT5E";

/// The person behind a session cookie, and the session's form token; None when the session
/// is unknown or over.
pub async fn session_user(
    store: &Store,
    token: &str,
    now: NaiveDateTime,
) -> Result<Option<(User, String)>> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.display_name, s.csrf, s.expires_at
         FROM web_sessions s JOIN web_users u ON u.id = s.user_id WHERE s.token_hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let expires: String = row.try_get("expires_at")?;
    if expires.as_str() <= now.format(TIME).to_string().as_str() {
        return Ok(None);
    }
    let id: i64 = row.try_get("id")?;
    let roles = sqlx::query("SELECT school_id, role FROM web_roles WHERE user_id = $1")
        .bind(id)
        .fetch_all(store.pool())
        .await?
        .iter()
        .filter_map(|r| {
            let school: i64 = r.try_get("school_id").ok()?;
            let role: String = r.try_get("role").ok()?;
            Some((SchoolId(school), Role::parse(&role).ok()?))
        })
        .collect();
    Ok(Some((
        User {
            id,
            email: row.try_get("email")?,
            display_name: row.try_get("display_name")?,
            roles,
        },
        row.try_get("csrf")?,
    )))
}

pub async fn sign_out(store: &Store, token: &str) -> Result<()> {
    sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Records what a person did. `subject` names the thing (a message id, a UPN), never a
/// child's name or a message's words.
pub async fn audit(
    store: &Store,
    email: &str,
    school: Option<SchoolId>,
    action: &str,
    subject: &str,
    remote: &str,
    now: NaiveDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO web_audit (at, email, school_id, action, subject, remote) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now.format(TIME).to_string())
    .bind(email)
    .bind(school.map(|s| s.0))
    .bind(action)
    .bind(subject)
    .bind(remote)
    .execute(store.pool())
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_check() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(password_matches("correct horse battery", &h));
        assert!(!password_matches("correct horse batterx", &h));
        assert!(!password_matches("anything", "not a hash"));
    }

    #[test]
    fn the_dummy_hash_is_a_real_hash_nobody_matches() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!password_matches("", DUMMY_HASH));
    }

    #[test]
    fn roles_parse_by_their_names_only() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.name()).expect("parses"), r);
        }
        let e = Role::parse("admin").expect_err("unknown").to_string();
        assert!(
            e.contains("attendance_officer, office, headteacher, dsl, governor"),
            "{e}"
        );
    }
}
