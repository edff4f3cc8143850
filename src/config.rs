//! Configuration: one TOML file layered with `ROLLCALL__SECTION__KEY` environment overrides.
//!
//! A single school is written flat (`[school]` + `[calendar]`); a trust lists `[[schools]]`,
//! each with its own `[schools.calendar]`. Both shapes resolve to the same [`Config`].

use std::path::{Path, PathBuf};

use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::Deserialize;

use crate::register::session::{Calendar, DateRange};

pub const DEFAULT_CONFIG_PATH: &str = "config/rollcall.toml";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://rollcall.db";
/// A school lease shorter than this would be lost to one slow database round trip.
pub const MIN_SCHOOL_LEASE_SECONDS: u64 = 15;

/// A configuration problem, worded for the person who edits the file.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, if any.
    pub source: Option<PathBuf>,
    pub database_url: String,
    pub schools: Vec<SchoolConfig>,
    pub delivery: DeliveryConfig,
    pub daemon: DaemonConfig,
    pub web: WebConfig,
    pub replies: RepliesConfig,
}

/// Parents' replies to texts (`[replies]`): read from the SMS provider, matched to absences,
/// shown in the console for a person to confirm.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepliesConfig {
    /// Read replies at all. With GOV.UK Notify the daemon polls its received text messages;
    /// with Twilio the console's `/webhooks/twilio/sms` takes them (set the number's
    /// messaging webhook to `[web] public_url` + that path).
    pub enabled: bool,
    /// How often the daemon asks Notify for new replies.
    pub poll_seconds: u64,
    /// Text a thank-you (template `reply_acknowledgement`) once per family per school day,
    /// outside quiet hours, to a number that belongs to a contact.
    pub acknowledge: bool,
    /// How far back a reply looks for the absence it answers, in school days.
    pub match_school_days: u32,
}

impl Default for RepliesConfig {
    fn default() -> Self {
        RepliesConfig {
            enabled: false,
            poll_seconds: 60,
            acknowledge: false,
            match_school_days: 5,
        }
    }
}

/// The console: where it listens and how it treats sign-ins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// `rollcall run` serves the console here when set (`"127.0.0.1:8080"`); `rollcall web`
    /// listens here, or on 127.0.0.1:8080 when unset. Put it behind a reverse proxy with TLS.
    pub listen: Option<std::net::SocketAddr>,
    /// The address people type (`https://attendance.example.sch.uk`), as the proxy serves it.
    pub public_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed (the audit's "from where"); from anyone
    /// else the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long a sign-in lasts.
    pub session_hours: u32,
    /// Wrong passwords in a row before an account is locked, and for how long.
    pub lockout_failures: u32,
    pub lockout_minutes: u32,
    /// Sign-in with the school's Microsoft 365 or Google account (OpenID Connect).
    pub oidc: Option<OidcConfig>,
}

/// The school's identity provider. People still need a role here (`rollcall user add EMAIL
/// --role ROLE --no-password`): the provider says who they are, rollcall what they may do.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// `https://login.microsoftonline.com/TENANT/v2.0` or `https://accounts.google.com`; its
    /// `/.well-known/openid-configuration` says the rest.
    pub issuer: String,
    pub client_id: String,
    /// From `ROLLCALL__WEB__OIDC__CLIENT_SECRET` or the `oidc-client-secret` credential.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The button's words.
    #[serde(default = "default_oidc_label")]
    pub label: String,
}

fn default_oidc_label() -> String {
    "Sign in with your school account".to_owned()
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: None,
            public_url: None,
            trusted_proxies: Vec::new(),
            session_hours: 10,
            lockout_failures: 5,
            lockout_minutes: 15,
            oidc: None,
        }
    }
}

/// Where messages go and how hard rollcall tries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// `file` writes every message into `outbox_dir` and sends nothing (dry runs, the demo,
    /// a school trialling rollcall); `live` uses the providers configured below.
    pub mode: DeliveryMode,
    pub outbox_dir: PathBuf,
    /// Attempts before a message is marked failed and the attendance officer is told.
    pub max_attempts: u32,
    /// First retry delay; each later one doubles, up to `retry_cap_seconds`, with jitter.
    pub retry_base_seconds: u64,
    pub retry_cap_seconds: u64,
    /// How long a daemon may hold a message while sending it before another may take it.
    pub lease_seconds: u64,
    /// Messages sent at once.
    pub concurrency: usize,
    /// Where an alert also goes when it cannot be emailed to its staff role:
    /// `"sms:07700 900123"` (a staff mobile, through the SMS provider, so an SMTP outage does
    /// not silence it) or `"email:deputy@example.sch.uk"` (another mailbox).
    pub alerts_fallback: Option<String>,
    /// Failed email attempts of an alert before its fallback is queued too; a refusal (no
    /// address for the role, a 5xx) queues it at once.
    pub alerts_fallback_after: u32,
    /// Alerts per school waiting to be sent on their own; any more are folded into one digest
    /// alert that lists them, so an outage does not end in a flood of alert emails.
    pub alerts_waiting_max: usize,
    /// `alerts_fallback`, checked (set when the config is resolved).
    #[serde(skip)]
    pub fallback: Option<AlertsFallback>,
    /// The providers for `mode = "live"`.
    #[serde(flatten)]
    pub live: crate::delivery::channel::live::LiveConfig,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            mode: DeliveryMode::File,
            outbox_dir: PathBuf::from("rollcall-outbox"),
            max_attempts: 8,
            retry_base_seconds: 60,
            retry_cap_seconds: 3600,
            lease_seconds: 120,
            concurrency: 8,
            alerts_fallback: None,
            alerts_fallback_after: 3,
            alerts_waiting_max: 20,
            fallback: None,
            live: Default::default(),
        }
    }
}

/// The second channel for alerts (`[delivery] alerts_fallback`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertsFallback {
    /// A staff mobile in E.164.
    Sms(String),
    /// Another mailbox, as written (`Name <address>` or a bare address).
    Email(String),
}

impl AlertsFallback {
    /// `sms:NUMBER` or `email:ADDRESS`.
    pub fn parse(text: &str) -> Result<AlertsFallback, String> {
        match text.trim().split_once(':') {
            Some((kind, rest)) if kind.trim().eq_ignore_ascii_case("sms") => {
                crate::register::phone::parse_uk_mobile(rest)
                    .map(|n| AlertsFallback::Sms(n.as_str().to_owned()))
                    .map_err(|e| format!("\"{}\" is not a UK mobile number: {e}", rest.trim()))
            }
            Some((kind, rest)) if kind.trim().eq_ignore_ascii_case("email") => {
                parse_mailbox(rest).map(|_| AlertsFallback::Email(rest.trim().to_owned()))
            }
            _ => Err(format!(
                "\"{text}\" is not a fallback: write \"sms:07700 900123\" (a staff mobile) or \
                 \"email:someone@example.sch.uk\""
            )),
        }
    }
}

/// A staff address as configured: `Jo Bloggs <jo@example.sch.uk>` or `jo@example.sch.uk`.
pub fn parse_mailbox(text: &str) -> Result<lettre::message::Mailbox, String> {
    text.trim()
        .parse::<lettre::message::Mailbox>()
        .map_err(|e| format!("\"{}\" is not an email address ({e})", text.trim()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    File,
    Live,
}

/// When the daemon's jobs run, in each school's local time, on school days.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// How often the register inbox is checked for new exports (also before every job that
    /// decides anything).
    pub poll_seconds: u64,
    /// An export without a `.done` marker is taken once its size and modification time have
    /// not changed for this long (seen at two looks at least this far apart), so a file the
    /// MIS is still writing is left alone. 0 takes files at first sight: only for a connector
    /// that always writes `NAME.tmp` and renames it.
    pub inbox_settle_seconds: u64,
    /// A second first-day pass for families not yet reached (and late register changes).
    pub follow_up: String,
    /// The daily escalation pass, after the afternoon register has closed.
    pub daily_pass: String,
    /// The day's letters are batched into one PDF for the office to print.
    pub letters: String,
    /// Weekly and termly report hooks (last school day of the week / term).
    pub reports: String,
    /// How long a daemon's hold on a school lasts without renewal; it renews every third of
    /// this, so another daemon takes over at most this long after one stops answering.
    pub school_lease_seconds: u64,
    /// This daemon's name on its host, so a restarted daemon knows a school lease is its own
    /// and takes it back at once. Default: its systemd unit (`rollcall.service`); outside
    /// systemd, none (each process is new, and waits for the lease like any other daemon).
    /// Two daemons on one host must not share a name.
    pub name: Option<String>,
    /// Each run evaluates only the pupils something can have changed for (a mark other than
    /// present, a contact, a case, a reply, a record, a trigger coming due), and leaves out
    /// the rest (issue 17; `rollcall escalate --full` evaluates everyone). `false` evaluates
    /// every pupil at every run.
    pub incremental: bool,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            poll_seconds: 60,
            inbox_settle_seconds: 60,
            follow_up: "11:00".into(),
            daily_pass: "16:00".into(),
            letters: "16:30".into(),
            reports: "17:00".into(),
            school_lease_seconds: 90,
            name: None,
            incremental: true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SchoolConfig {
    /// Short key used by `--school` and stored with every row; defaults to the URN.
    pub id: String,
    pub name: String,
    pub urn: String,
    pub la_code: String,
    pub phase: Phase,
    pub timezone: Tz,
    pub am_register_close: NaiveTime,
    pub pm_register_close: NaiveTime,
    /// Policy name or path (read by the escalation engine; `dfe-baseline` when absent).
    pub policy: Option<String>,
    pub calendar: Calendar,
    /// How families reach the school; printed in every message and on the letterhead.
    pub contact: SchoolContact,
    /// Staff email addresses by role (`attendance_officer`, `dsl`, …) and `la` for the local
    /// authority's attendance team: where staff messages, alerts and LA returns go.
    pub staff: std::collections::BTreeMap<String, String>,
    /// A folder of this school's own templates, each replacing the shipped one of that name.
    pub templates: Option<PathBuf>,
    /// The folder the MIS drops register exports into (`pupils*.csv`, `contacts*.csv`,
    /// `marks*.csv`); the daemon imports each file once and moves it to `done/`.
    pub inbox: Option<PathBuf>,
    /// What the newsletter, governor report, LA returns and rewards show, and when.
    pub reports: ReportsConfig,
}

/// `[school.reports]`: report settings. Where reports go is `[school.staff]`: `newsletter`
/// (the parents' mailing list), `governors` (the governing body) and `la`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// A cohort with fewer pupils than this shows `c` instead of its figures (DfE practice).
    pub min_cohort: u32,
    /// The newsletter's groups: `reg_group` (classes) or `year_group`.
    pub newsletter_groups: NewsletterGroups,
    /// The newsletter may name pupils (100 % this week) only when the school turns this on.
    pub newsletter_names_pupils: bool,
    /// The prize draw: pupils at or above this attendance over each half of a term.
    pub prize_draw_percent: f64,
    /// A national-figures file replacing the shipped `config/national-figures.toml`.
    pub national_figures: Option<PathBuf>,
    /// The LA's regular attendance return: how often (`weekly`, `monthly`, `termly`).
    pub la_regular_interval: ReturnInterval,
    /// Pupils below this attendance over the period are in the regular return.
    pub la_regular_below_percent: f64,
    /// Pupils with this many days (2 sessions each) of unauthorised absence this school year
    /// are in the regular return whatever their attendance.
    pub la_regular_unauthorised_days: u32,
    /// A person approves the regular return before it goes to the LA.
    pub la_regular_approval: bool,
    /// Send the weekly newsletter from the daemon's weekly job.
    pub send_newsletter: bool,
    /// Send the governor report (and the rewards to the attendance officer) at term end.
    pub send_governor_report: bool,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            min_cohort: 5,
            newsletter_groups: NewsletterGroups::RegGroup,
            newsletter_names_pupils: false,
            prize_draw_percent: 98.0,
            national_figures: None,
            la_regular_interval: ReturnInterval::Monthly,
            la_regular_below_percent: 90.0,
            la_regular_unauthorised_days: 10,
            la_regular_approval: true,
            send_newsletter: true,
            send_governor_report: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewsletterGroups {
    RegGroup,
    YearGroup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnInterval {
    Weekly,
    Monthly,
    Termly,
}

/// The school's own details, as families see them.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchoolContact {
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub address: Vec<String>,
    /// Who signs letters, and as what.
    #[serde(default)]
    pub signatory: String,
    #[serde(default)]
    pub signatory_role: String,
    /// Who signs for a role a policy names (`signatory = "headteacher"` on a stage), as
    /// `"Name, Title"` or just `"Name"` (the role's usual title is printed):
    /// `[school.contact.signatories] headteacher = "Carole Cox, Head Teacher"`.
    #[serde(default)]
    pub signatories: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Primary,
    Secondary,
    Special,
    /// All-through or unknown: compared with all-schools national figures.
    All,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    database: DatabaseSection,
    #[serde(default)]
    delivery: DeliveryConfig,
    #[serde(default)]
    daemon: DaemonConfig,
    #[serde(default)]
    web: WebConfig,
    #[serde(default)]
    replies: RepliesConfig,
    school: Option<SchoolSection>,
    calendar: Option<CalendarSection>,
    schools: Option<Vec<SchoolEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseSection {
    #[serde(default = "default_database_url")]
    url: String,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection {
            url: default_database_url(),
        }
    }
}

fn default_database_url() -> String {
    DEFAULT_DATABASE_URL.to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchoolSection {
    id: Option<String>,
    name: String,
    urn: String,
    la_code: String,
    phase: Option<Phase>,
    timezone: Option<String>,
    am_register_close: Option<String>,
    pm_register_close: Option<String>,
    policy: Option<String>,
    #[serde(default)]
    contact: SchoolContact,
    #[serde(default)]
    staff: std::collections::BTreeMap<String, String>,
    templates: Option<PathBuf>,
    inbox: Option<PathBuf>,
    #[serde(default)]
    reports: ReportsConfig,
}

/// `[[schools]]` entry: the school's settings plus its own calendar.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchoolEntry {
    id: Option<String>,
    name: String,
    urn: String,
    la_code: String,
    phase: Option<Phase>,
    timezone: Option<String>,
    am_register_close: Option<String>,
    pm_register_close: Option<String>,
    policy: Option<String>,
    #[serde(default)]
    contact: SchoolContact,
    #[serde(default)]
    staff: std::collections::BTreeMap<String, String>,
    templates: Option<PathBuf>,
    inbox: Option<PathBuf>,
    #[serde(default)]
    reports: ReportsConfig,
    calendar: Option<CalendarSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarSection {
    #[serde(default)]
    terms: Vec<DateRange>,
    #[serde(default)]
    holidays: Vec<DateRange>,
}

/// Secrets from systemd's `LoadCredential=` (files in `$CREDENTIALS_DIRECTORY`), so they
/// need not be in the config file or the environment.
fn credentials() -> Vec<(&'static str, String)> {
    let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") else {
        return Vec::new();
    };
    let dir = PathBuf::from(dir);
    [
        ("smtp-password", "delivery.email.password"),
        ("notify-api-key", "delivery.notify.api_key"),
        ("twilio-auth-token", "delivery.twilio.auth_token"),
        ("database-url", "database.url"),
        ("oidc-client-secret", "web.oidc.client_secret"),
    ]
    .into_iter()
    .filter_map(|(file, key)| {
        std::fs::read_to_string(dir.join(file))
            .ok()
            .map(|v| (key, v.trim().to_owned()))
    })
    .collect()
}

/// Which file to read: `--config`, else `ROLLCALL_CONFIG`, else `config/rollcall.toml`.
pub fn config_path(cli: Option<&Path>) -> PathBuf {
    if let Some(path) = cli {
        return path.to_owned();
    }
    match std::env::var_os("ROLLCALL_CONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_CONFIG_PATH),
    }
}

impl Config {
    /// Reads and checks the config file, with environment overrides applied.
    ///
    /// When the result is refused but the file alone is fine, the override at fault is
    /// named instead of the file: `ROLLCALL__SCHOOL__LACODE` is not a mistake in the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        if !path.exists() {
            return Err(ConfigError {
                file,
                key: "(file)".into(),
                message: "no such file; pass --config PATH, set ROLLCALL_CONFIG, or copy \
                          config/rollcall.example.toml to config/rollcall.toml"
                    .into(),
            });
        }
        let overrides = environment_overrides();
        let error = match load_with(path, &overrides) {
            Ok(config) => return Ok(config),
            Err(e) => e,
        };
        if overrides.is_empty() || load_with(path, &[]).is_err() {
            return Err(error);
        }
        let culprits: Vec<&str> = overrides
            .iter()
            .filter(|one| load_with(path, std::slice::from_ref(*one)).is_err())
            .map(|(name, _)| name.as_str())
            .collect();
        if culprits.is_empty() {
            return Err(error);
        }
        Err(ConfigError {
            file: format!(
                "environment variable{} {} (overriding {file})",
                if culprits.len() == 1 { "" } else { "s" },
                culprits.join(", ")
            ),
            ..error
        })
    }

    /// Parses a config from TOML text (tests, the demo); no environment overrides.
    pub fn from_toml(text: &str, name: &str) -> Result<Config, ConfigError> {
        let raw: FileConfig = toml_from_str(text).map_err(|message| ConfigError {
            file: name.into(),
            key: "(file)".into(),
            message,
        })?;
        resolve(raw, None)
    }

    /// The school a command acts on: `--school ID` (id or URN), or the only one.
    pub fn school(&self, wanted: Option<&str>) -> anyhow::Result<&SchoolConfig> {
        match wanted {
            Some(w) => self
                .schools
                .iter()
                .find(|s| s.id == w || s.urn == w)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "no school \"{w}\" in the config; schools are: {}",
                        self.school_ids()
                    )
                }),
            None if self.schools.len() == 1 => Ok(&self.schools[0]),
            None => anyhow::bail!(
                "this config has {} schools; say which with --school ID (one of: {})",
                self.schools.len(),
                self.school_ids()
            ),
        }
    }

    fn school_ids(&self) -> String {
        self.schools
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `ROLLCALL__SECTION__KEY` variables, as the config crate reads them.
fn environment_overrides() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(name, _)| {
            name.get(..10)
                .is_some_and(|p| p.eq_ignore_ascii_case("ROLLCALL__"))
        })
        .collect()
}

/// The file, then the given environment overrides, then systemd credentials.
fn load_with(path: &Path, overrides: &[(String, String)]) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let mut builder = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix("ROLLCALL")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(overrides.iter().cloned().collect())),
        );
    for (key, value) in credentials() {
        builder = builder.set_override(key, value).map_err(|e| ConfigError {
            file: file.clone(),
            key: key.into(),
            message: e.to_string(),
        })?;
    }
    let built = builder.build().map_err(|e| ConfigError {
        file: file.clone(),
        key: "(file)".into(),
        message: e.to_string(),
    })?;
    let raw: FileConfig = built.try_deserialize().map_err(|e| ConfigError {
        file: file.clone(),
        key: error_key(&e),
        message: with_allowed_values(e.to_string()),
    })?;
    resolve(raw, Some(path))
}

/// The config crate says "enum DeliveryMode does not have variant constructor banana" and
/// stops there; the person editing the file needs the values that would work.
fn with_allowed_values(message: String) -> String {
    let Some(type_name) = message
        .strip_prefix("enum ")
        .and_then(|rest| rest.split_whitespace().next())
    else {
        return message;
    };
    let allowed = match type_name {
        "DeliveryMode" => variants::<DeliveryMode>(),
        "Phase" => variants::<Phase>(),
        "NewsletterGroups" => variants::<NewsletterGroups>(),
        "ReturnInterval" => variants::<ReturnInterval>(),
        "SmtpSecurity" => variants::<crate::delivery::channel::email::SmtpSecurity>(),
        "SmsChoice" => variants::<crate::delivery::channel::live::SmsChoice>(),
        _ => &[],
    };
    if allowed.is_empty() {
        return message;
    }
    format!("{message}; allowed: {}", allowed.join(", "))
}

/// The values an enum accepts in the config, as serde spells them (after `rename_all`):
/// asked of the type itself, so the list cannot drift from the code.
fn variants<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Probe(&'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for &mut Probe {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("only enums are probed"))
        }
        fn deserialize_enum<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            variants: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = variants;
            Err(serde::de::Error::custom("probed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map struct
            identifier ignored_any
        }
    }
    let mut probe = Probe(&[]);
    let _ = T::deserialize(&mut probe);
    probe.0
}

fn toml_from_str(text: &str) -> Result<FileConfig, String> {
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| e.to_string())
}

fn error_key(e: &config::ConfigError) -> String {
    // The config crate puts the key inside its message ("... for key `school.urn`"); keep the
    // whole message and name the key separately when it can be found.
    let text = e.to_string();
    text.split("for key `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .map_or_else(|| "(file)".to_owned(), str::to_owned)
}

fn resolve(raw: FileConfig, path: Option<&Path>) -> Result<Config, ConfigError> {
    let file = path.map_or_else(|| "(config)".to_owned(), |p| p.display().to_string());
    let err = |key: &str, message: String| ConfigError {
        file: file.clone(),
        key: key.to_owned(),
        message,
    };

    let entries: Vec<(String, SchoolEntry)> = match (raw.school, raw.schools) {
        (Some(_), Some(_)) => {
            return Err(err(
                "school",
                "use either [school] (one school) or [[schools]] (a trust), not both".into(),
            ));
        }
        (None, None) => {
            return Err(err(
                "school",
                "no school configured: add a [school] table with name, urn and la_code".into(),
            ));
        }
        (Some(s), None) => {
            let entry = SchoolEntry {
                id: s.id,
                name: s.name,
                urn: s.urn,
                la_code: s.la_code,
                phase: s.phase,
                timezone: s.timezone,
                am_register_close: s.am_register_close,
                pm_register_close: s.pm_register_close,
                policy: s.policy,
                contact: s.contact,
                staff: s.staff,
                templates: s.templates,
                inbox: s.inbox,
                reports: s.reports,
                calendar: raw.calendar,
            };
            vec![("school".to_owned(), entry)]
        }
        (None, Some(list)) => {
            if raw.calendar.is_some() {
                return Err(err(
                    "calendar",
                    "with [[schools]], each school has its own [schools.calendar]".into(),
                ));
            }
            if list.is_empty() {
                return Err(err("schools", "the list of schools is empty".into()));
            }
            list.into_iter()
                .enumerate()
                .map(|(i, e)| (format!("schools[{i}]"), e))
                .collect()
        }
    };

    let mut schools: Vec<SchoolConfig> = Vec::with_capacity(entries.len());
    for (prefix, entry) in entries {
        let key = |k: &str| format!("{prefix}.{k}");
        let calendar_prefix = if prefix == "school" {
            "calendar".to_owned()
        } else {
            key("calendar")
        };
        if entry.name.trim().is_empty() {
            return Err(err(&key("name"), "must not be empty".into()));
        }
        if entry.urn.len() != 6 || !entry.urn.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(
                &key("urn"),
                format!(
                    "\"{}\" is not a URN: six digits, e.g. \"100001\"",
                    entry.urn
                ),
            ));
        }
        if entry.la_code.len() != 3 || !entry.la_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(
                &key("la_code"),
                format!(
                    "\"{}\" is not an LA code: three digits, e.g. \"886\"",
                    entry.la_code
                ),
            ));
        }
        let id = entry.id.unwrap_or_else(|| entry.urn.clone());
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(err(
                &key("id"),
                format!("\"{id}\" is not a school id: letters, digits, '-' and '_' only"),
            ));
        }
        if schools.iter().any(|s| s.id == id) {
            return Err(err(&key("id"), format!("school id \"{id}\" is used twice")));
        }
        let timezone = match entry.timezone.as_deref() {
            None => chrono_tz::Europe::London,
            Some(tz) => tz.parse::<Tz>().map_err(|_| {
                err(
                    &key("timezone"),
                    format!("\"{tz}\" is not an IANA timezone name such as \"Europe/London\""),
                )
            })?,
        };
        let time = |field: &str, value: Option<&str>, default: &str| {
            let text = value.unwrap_or(default);
            NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| {
                err(
                    &key(field),
                    format!("\"{text}\" is not a time of day as HH:MM, e.g. \"09:30\""),
                )
            })
        };
        let am_register_close = time(
            "am_register_close",
            entry.am_register_close.as_deref(),
            "09:30",
        )?;
        let pm_register_close = time(
            "pm_register_close",
            entry.pm_register_close.as_deref(),
            "13:45",
        )?;

        let section = entry.calendar.unwrap_or_default();
        if section.terms.is_empty() {
            return Err(err(
                &format!("{calendar_prefix}.terms"),
                "no terms: add [[calendar.terms]] entries with name, start and end dates".into(),
            ));
        }
        for (kind, list) in [("terms", &section.terms), ("holidays", &section.holidays)] {
            for (i, range) in list.iter().enumerate() {
                if range.end < range.start {
                    return Err(err(
                        &format!("{calendar_prefix}.{kind}[{i}]"),
                        format!(
                            "\"{}\" ends ({}) before it starts ({})",
                            range.name, range.end, range.start
                        ),
                    ));
                }
            }
        }
        let mut sorted: Vec<&DateRange> = section.terms.iter().collect();
        sorted.sort_by_key(|t| t.start);
        for pair in sorted.windows(2) {
            if pair[1].start <= pair[0].end {
                return Err(err(
                    &format!("{calendar_prefix}.terms"),
                    format!(
                        "terms \"{}\" and \"{}\" overlap",
                        pair[0].name, pair[1].name
                    ),
                ));
            }
        }
        const SIGNING_ROLES: [&str; 6] = [
            "headteacher",
            "deputy_head",
            "attendance_officer",
            "dsl",
            "head_of_year",
            "class_teacher",
        ];
        for role in entry.contact.signatories.keys() {
            if !SIGNING_ROLES.contains(&role.as_str()) {
                return Err(err(
                    &key(&format!("contact.signatories.{role}")),
                    format!(
                        "\"{role}\" is not a role that signs letters; allowed: {}",
                        SIGNING_ROLES.join(", ")
                    ),
                ));
            }
        }
        let reports_key = |field: &str| key(&format!("reports.{field}"));
        if entry.reports.min_cohort == 0 {
            return Err(err(
                &reports_key("min_cohort"),
                "must be 1 or more (5 is the usual size below which figures are not shown)".into(),
            ));
        }
        for (field, value) in [
            ("prize_draw_percent", entry.reports.prize_draw_percent),
            (
                "la_regular_below_percent",
                entry.reports.la_regular_below_percent,
            ),
        ] {
            if !(0.0..=100.0).contains(&value) {
                return Err(err(
                    &reports_key(field),
                    format!("{value} is not a percentage (0 to 100)"),
                ));
            }
        }
        for (role, address) in &entry.staff {
            parse_mailbox(address).map_err(|m| {
                err(
                    &key(&format!("staff.{role}")),
                    format!(
                        "{m}; write \"name@example.sch.uk\" or \"Jo Bloggs <name@example.sch.uk>\""
                    ),
                )
            })?;
        }
        schools.push(SchoolConfig {
            id,
            name: entry.name,
            urn: entry.urn,
            la_code: entry.la_code,
            phase: entry.phase.unwrap_or(Phase::All),
            timezone,
            am_register_close,
            pm_register_close,
            policy: entry.policy,
            calendar: Calendar::new(section.terms, section.holidays),
            contact: entry.contact,
            staff: entry.staff,
            templates: entry.templates.map(|p| relative_to(p, path)),
            inbox: entry.inbox.map(|p| relative_to(p, path)),
            reports: ReportsConfig {
                national_figures: entry.reports.national_figures.map(|p| relative_to(p, path)),
                ..entry.reports
            },
        });
    }

    for (name, value) in [
        ("daemon.follow_up", &raw.daemon.follow_up),
        ("daemon.daily_pass", &raw.daemon.daily_pass),
        ("daemon.letters", &raw.daemon.letters),
        ("daemon.reports", &raw.daemon.reports),
    ] {
        if NaiveTime::parse_from_str(value, "%H:%M").is_err() {
            return Err(err(
                name,
                format!("\"{value}\" is not a time of day as HH:MM, e.g. \"16:00\""),
            ));
        }
    }
    if raw.daemon.poll_seconds == 0 {
        return Err(err(
            "daemon.poll_seconds",
            "must be at least 1 (seconds between looks at the register inbox)".into(),
        ));
    }
    if raw.delivery.max_attempts == 0 {
        return Err(err("delivery.max_attempts", "must be at least 1".into()));
    }
    if raw.delivery.concurrency == 0 {
        return Err(err("delivery.concurrency", "must be at least 1".into()));
    }
    if raw.daemon.school_lease_seconds < MIN_SCHOOL_LEASE_SECONDS {
        return Err(err(
            "daemon.school_lease_seconds",
            format!(
                "{} is too short: at least {MIN_SCHOOL_LEASE_SECONDS} (it is renewed every third of it, \
                 and a slow database must not lose it)",
                raw.daemon.school_lease_seconds
            ),
        ));
    }
    if raw
        .daemon
        .name
        .as_deref()
        .is_some_and(|n| n.trim().is_empty() || n.chars().any(char::is_control))
    {
        return Err(err(
            "daemon.name",
            "must be a non-empty name without control characters, e.g. \"rollcall-north\"".into(),
        ));
    }
    if raw.delivery.alerts_waiting_max == 0 {
        return Err(err(
            "delivery.alerts_waiting_max",
            "must be at least 1".into(),
        ));
    }
    let mut delivery = raw.delivery;
    if let Some(text) = &delivery.alerts_fallback {
        let fallback =
            AlertsFallback::parse(text).map_err(|m| err("delivery.alerts_fallback", m))?;
        if matches!(fallback, AlertsFallback::Sms(_))
            && delivery.mode == DeliveryMode::Live
            && delivery.live.sms.is_none()
        {
            return Err(err(
                "delivery.alerts_fallback",
                "a text fallback needs an SMS provider: set delivery.sms = \"notify\" or \"twilio\", \
                 or use \"email:ADDRESS\""
                    .into(),
            ));
        }
        delivery.fallback = Some(fallback);
    }
    delivery.outbox_dir = relative_to(delivery.outbox_dir, path);
    Ok(Config {
        source: path.map(Path::to_owned),
        database_url: resolve_database_url(&raw.database.url, path),
        schools,
        delivery,
        daemon: raw.daemon,
        web: raw.web,
        replies: raw.replies,
    })
}

/// A relative path in a config file is relative to that file's folder.
fn relative_to(p: PathBuf, config_file: Option<&Path>) -> PathBuf {
    match config_file.and_then(Path::parent) {
        Some(dir) if p.is_relative() && !dir.as_os_str().is_empty() => dir.join(p),
        _ => p,
    }
}

/// A relative SQLite path in a config file is relative to that file, so a config and its
/// database can be moved together; without a file it is relative to the working directory.
fn resolve_database_url(url: &str, config_file: Option<&Path>) -> String {
    let Some(rest) = url.strip_prefix("sqlite://") else {
        return url.to_owned();
    };
    let (path, query) = rest
        .split_once('?')
        .map_or((rest, None), |(p, q)| (p, Some(q)));
    let Some(dir) = config_file.and_then(Path::parent) else {
        return url.to_owned();
    };
    if path.is_empty()
        || path.starts_with('/')
        || path.starts_with(':')
        || dir.as_os_str().is_empty()
    {
        return url.to_owned();
    }
    let joined = dir.join(path);
    match query {
        Some(q) => format!("sqlite://{}?{q}", joined.display()),
        None => format!("sqlite://{}", joined.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[database]
url = "sqlite:///path/to/rollcall.db"

[school]
name = "Example Academy"
urn = "100001"
la_code = "886"

[[calendar.terms]]
name = "Autumn 2025"
start = "2025-09-03"
end = "2025-12-19"

[[calendar.holidays]]
name = "Autumn half term"
start = "2025-10-27"
end = "2025-10-31"
"#;

    #[test]
    fn the_minimal_flat_config_is_complete() {
        let config = Config::from_toml(MINIMAL, "minimal.toml").expect("valid");
        assert_eq!(config.database_url, "sqlite:///path/to/rollcall.db");
        let school = config.school(None).expect("one school");
        assert_eq!(school.id, "100001");
        assert_eq!(school.timezone, chrono_tz::Europe::London);
        assert_eq!(school.calendar.school_days().len(), 73);
        assert_eq!(
            school.am_register_close,
            NaiveTime::from_hms_opt(9, 30, 0).expect("time")
        );
    }

    #[test]
    fn a_trust_lists_schools_with_their_own_calendars() {
        let text = r#"
[[schools]]
id = "north"
name = "North Primary"
urn = "100002"
la_code = "886"
phase = "primary"
[[schools.calendar.terms]]
name = "Autumn"
start = "2025-09-03"
end = "2025-09-05"

[[schools]]
id = "south"
name = "South Academy"
urn = "100003"
la_code = "886"
timezone = "Europe/London"
am_register_close = "09:00"
[[schools.calendar.terms]]
name = "Autumn"
start = "2025-09-01"
end = "2025-09-05"
"#;
        let config = Config::from_toml(text, "trust.toml").expect("valid");
        assert_eq!(config.schools.len(), 2);
        assert_eq!(
            config
                .school(Some("north"))
                .expect("north")
                .calendar
                .school_days()
                .len(),
            3
        );
        assert_eq!(
            config
                .school(Some("100003"))
                .expect("by urn")
                .calendar
                .school_days()
                .len(),
            5
        );
        let err = config.school(None).expect_err("must choose");
        assert!(err.to_string().contains("north, south"), "{err}");
    }

    #[test]
    fn errors_name_the_key_and_what_is_allowed() {
        let bad = MINIMAL.replace("urn = \"100001\"", "urn = \"10001\"");
        let err = Config::from_toml(&bad, "x.toml").expect_err("bad urn");
        assert_eq!(err.key, "school.urn");
        assert!(err.message.contains("six digits"), "{err}");

        let bad = MINIMAL.replace("end = \"2025-12-19\"", "end = \"2025-08-19\"");
        let err = Config::from_toml(&bad, "x.toml").expect_err("backwards term");
        assert_eq!(err.key, "calendar.terms[0]");

        let bad = MINIMAL.replace("[school]", "[school]\ntimezone = \"London\"");
        let err = Config::from_toml(&bad, "x.toml").expect_err("bad tz");
        assert_eq!(err.key, "school.timezone");

        let bad = MINIMAL.replace("[school]", "[school]\nam_register_close = \"9.30\"");
        let err = Config::from_toml(&bad, "x.toml").expect_err("bad time");
        assert!(err.to_string().contains("HH:MM"), "{err}");
    }

    #[test]
    fn relative_sqlite_paths_follow_the_config_file() {
        let p = Path::new("/etc/rollcall/rollcall.toml");
        assert_eq!(
            resolve_database_url("sqlite://r.db", Some(p)),
            "sqlite:///etc/rollcall/r.db"
        );
        assert_eq!(
            resolve_database_url("sqlite:///abs.db", Some(p)),
            "sqlite:///abs.db"
        );
        assert_eq!(resolve_database_url("sqlite://r.db", None), "sqlite://r.db");
        assert_eq!(
            resolve_database_url("postgres://x/y", Some(p)),
            "postgres://x/y"
        );
    }
}
