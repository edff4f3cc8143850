//! The command line's words: every command, its arguments and their help, as clap reads them.

use std::path::PathBuf;

use chrono::{NaiveDate, NaiveDateTime};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Attendance escalation for schools in England",
    long_about = "rollcall reads a school's attendance register, works out each pupil's \
                  attendance facts and (in later versions) runs the school's escalation policy."
)]
pub struct Cli {
    /// Config file [default: $ROLLCALL_CONFIG, else config/rollcall.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a demo school, import it into SQLite and summarise its attendance
    Demo(DemoArgs),
    /// Write a realistic generated school (pupils, contacts, marks, calendar) as CSV and TOML
    Generate(GenerateArgs),
    /// Import pupils, contacts or marks from CSV
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Attendance statistics per pupil
    Stats(StatsArgs),
    /// Amendment records: every change to a recorded mark
    Amendments(AmendmentsArgs),
    /// Check the config and every policy it names, and explain what is wrong
    Check,
    /// Dry run of the escalation policy: what would be decided and sent (nothing is stored)
    Evaluate(EvaluateArgs),
    /// Run the escalation policy and record its decisions, case changes and messages
    Escalate(EscalateArgs),
    /// Messages awaiting a person's approval
    Pending(SchoolArg),
    /// Approve a message awaiting approval
    Approve(ApproveArgs),
    /// Reject a message awaiting approval
    Reject(RejectArgs),
    /// A pupil's case history: every stage change with the reason and figures behind it
    Case(CaseArgs),
    /// Run the daemon: poll the register, make each job at its local time, deliver the outbox
    /// (and serve the console when `[web] listen` is set)
    Run,
    /// Serve the console alone: the morning's work in a browser
    Web(WebArgs),
    /// People who sign in to the console
    User {
        #[command(subcommand)]
        what: UserWhat,
    },
    /// Deliver what is due in the outbox now, then exit (no scheduled jobs)
    Deliver(DeliverArgs),
    /// What the daemon did last, what is queued, awaiting approval or failed, and what runs next
    Status(StatusArgs),
    /// Render a template with a real pupil's data, as it would be sent (nothing is sent)
    Preview(PreviewArgs),
    /// Reports: the weekly newsletter, the termly governor report, the LA's returns, rewards
    Report {
        #[command(subcommand)]
        what: ReportWhat,
    },
    /// Message templates: every message of a policy, rendered for a sample pupil
    Templates {
        #[command(subcommand)]
        what: TemplatesWhat,
    },
    /// What the school records about one pupil beside the MIS export
    Pupil {
        #[command(subcommand)]
        what: crate::cli_records::PupilWhat,
    },
    /// Medical evidence seen for a pupil's illness (I marks)
    Evidence {
        #[command(subcommand)]
        what: crate::cli_records::EvidenceWhat,
    },
    /// Parents' replies to texts: read them, and see what arrived and what each matched
    Replies {
        #[command(subcommand)]
        what: RepliesWhat,
    },
}

#[derive(Debug, Subcommand)]
pub enum RepliesWhat {
    /// Read new replies from GOV.UK Notify now, once, and say how many there were (the daemon
    /// does this every `[replies] poll_seconds`)
    Poll,
    /// The replies of the last days, with what each matched and what a person decided
    List(RepliesListArgs),
}

#[derive(Debug, Args)]
pub struct RepliesListArgs {
    #[command(flatten)]
    pub school: SchoolArg,
    /// Show the replies as they stood then (school-local) [default: now]
    #[arg(long, value_name = "DATETIME", value_parser = parse_datetime)]
    pub as_of: Option<NaiveDateTime>,
    /// How many days back
    #[arg(long, default_value_t = 7)]
    pub days: u32,
}

#[derive(Debug, Subcommand)]
pub enum TemplatesWhat {
    /// Render every action of a policy for a sample pupil into a folder, one file per action
    /// (STAGE.CHANNEL.TEMPLATE.EXT), with index.html listing them
    Render(TemplatesRenderArgs),
}

#[derive(Debug, Args)]
pub struct TemplatesRenderArgs {
    /// Policy name (config/policies/NAME.toml or a shipped one) or path [default: the school's]
    #[arg(long, value_name = "NAME")]
    pub policy: Option<String>,
    /// Folder to write into
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// School whose name, contact, signatories and own templates to use [default: the
    /// config's school, or a sample school when there is no config file]
    #[arg(long)]
    pub school: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ReportWhat {
    /// The weekly attendance newsletter to parents (HTML and plain text)
    Newsletter(NewsletterArgs),
    /// The termly report to governors (HTML for A4, a CSV of every figure, PDF)
    Governors(GovernorsArgs),
    /// The LA's 10-day, 15-day sickness and regular attendance returns (CSV, HTML and PDF cover)
    LaReturns(LaReturnsArgs),
    /// 100% attendance certificates and the prize-draw lists for a term
    Rewards(GovernorsArgs),
}

#[derive(Debug, Args)]
pub struct NewsletterArgs {
    /// Any date in the school week the newsletter is for
    #[arg(long, value_name = "DATE")]
    pub week: NaiveDate,
    #[command(flatten)]
    pub common: ReportCommon,
}

#[derive(Debug, Args)]
pub struct GovernorsArgs {
    /// The term, by its name in the calendar ("Autumn 2025" or autumn-2025)
    #[arg(long, value_name = "NAME")]
    pub term: String,
    /// Count up to this date, for a report before the term ends [default: the term's end]
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<NaiveDate>,
    #[command(flatten)]
    pub common: ReportCommon,
}

#[derive(Debug, Args)]
pub struct LaReturnsArgs {
    #[arg(long, value_name = "DATE")]
    pub as_of: NaiveDate,
    #[command(flatten)]
    pub common: ReportCommon,
}

#[derive(Debug, Args)]
pub struct ReportCommon {
    /// Folder to write the files into
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Also queue it in the outbox to its recipients (once per period; the daemon sends it)
    #[arg(long)]
    pub send: bool,
    #[arg(long)]
    pub school: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeliverArgs {
    /// Deliver as if it were this school-local time, YYYY-MM-DDTHH:MM (file sink only: replays
    /// a past term, where messages are due or expire as they did then)
    #[arg(long, value_name = "DATETIME", value_parser = parse_datetime)]
    pub as_of: Option<NaiveDateTime>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long)]
    pub school: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Template name, as a policy's actions use it (e.g. first_day, day_three)
    pub template: String,
    #[arg(long)]
    pub upn: String,
    /// School-local time to render at, YYYY-MM-DD or YYYY-MM-DDTHH:MM [default: now]
    #[arg(long, value_parser = parse_datetime)]
    pub as_of: Option<NaiveDateTime>,
    /// Also write the HTML and the letter as PDF into this folder
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub school: Option<String>,
}

#[derive(Debug, Args)]
pub struct SchoolArg {
    /// School id or URN, where the config has several
    #[arg(long)]
    pub school: Option<String>,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// School-local time to evaluate at, e.g. 2026-02-04T09:45 (a date alone means 18:00)
    #[arg(long, value_name = "DATETIME", value_parser = parse_datetime)]
    pub as_of: NaiveDateTime,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    #[arg(long)]
    pub school: Option<String>,
}

#[derive(Debug, Args)]
pub struct EscalateArgs {
    /// School-local time to run as [default: now]
    #[arg(long, value_name = "DATETIME", value_parser = parse_datetime)]
    pub as_of: Option<NaiveDateTime>,
    #[arg(long)]
    pub school: Option<String>,
    /// Evaluate every pupil, not only those something can have changed for since the last
    /// pass (what the daemon's runs do, with `[daemon] incremental`, the default)
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Message id, from `rollcall pending`
    pub id: i64,
    /// Who approves, as "Name (Role)"
    #[arg(long, value_name = "NAME (ROLE)")]
    pub by: String,
    /// Text the message quotes, where the policy asks for one (`rollcall pending` says so):
    /// the strategies agreed at a meeting, say
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[arg(long)]
    pub school: Option<String>,
    /// Decide as if it were this school-local time (file sink only: replaying a past term)
    #[arg(long, value_name = "DATETIME", value_parser = parse_datetime)]
    pub as_of: Option<NaiveDateTime>,
}

#[derive(Debug, Args)]
pub struct RejectArgs {
    /// Message id, from `rollcall pending`
    pub id: i64,
    /// Who rejects, as "Name (Role)"
    #[arg(long, value_name = "NAME (ROLE)")]
    pub by: String,
    /// Why; kept with the message
    #[arg(long)]
    pub reason: String,
    #[arg(long)]
    pub school: Option<String>,
    /// Decide as if it were this school-local time (file sink only: replaying a past term)
    #[arg(long, value_name = "DATETIME", value_parser = parse_datetime)]
    pub as_of: Option<NaiveDateTime>,
}

#[derive(Debug, Args)]
pub struct CaseArgs {
    #[arg(long)]
    pub upn: String,
    #[arg(long)]
    pub school: Option<String>,
}

/// `2026-02-04T09:45`, `2026-02-04 09:45[:SS]`, or a date alone (18:00, after both registers).
pub fn parse_datetime(text: &str) -> Result<NaiveDateTime, String> {
    let text = text.trim();
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t);
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(18, 0, 0))
        .ok_or_else(|| format!("\"{text}\" is not a date-time; use school-local time like 2026-02-04T09:45 or a date like 2026-02-04"))
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the demo school's files and database
    #[arg(long, default_value = "rollcall-demo")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 400)]
    pub pupils: usize,
    #[arg(long, default_value_t = 2025)]
    pub seed: u64,
    /// The policy the school runs: a shipped one by name, or a path
    #[arg(long, default_value = crate::escalation::policy::DEFAULT_POLICY)]
    pub policy: String,
    /// Simulate the whole school year (three terms) instead of the autumn term
    #[arg(long)]
    pub year: bool,
    /// Then serve the console over the demo school as it stands on its last day, before the
    /// attendance officer's end-of-day approvals, with a demo sign-in printed
    #[arg(long)]
    pub serve: bool,
    /// Where `--serve` listens
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Evaluate every pupil at every run, as before the incremental pass: to compare the two
    #[arg(long)]
    pub full_passes: bool,
}

#[derive(Debug, Args)]
pub struct WebArgs {
    /// Where to listen [default: `[web] listen`, else 127.0.0.1:8080]
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Show the school as it was at this school-local time (file sink only), e.g. the demo's
    /// last day: 2025-12-19T10:30
    #[arg(long, value_parser = parse_datetime)]
    pub as_of: Option<NaiveDateTime>,
}

#[derive(Debug, Subcommand)]
pub enum UserWhat {
    /// Add a person (or give one another role): `rollcall user add EMAIL --role ROLE`
    Add(UserAddArgs),
    /// Take a person's roles away (a leaver) and end their sessions at once
    Remove(UserRemoveArgs),
}

#[derive(Debug, Args)]
pub struct UserRemoveArgs {
    pub email: String,
    /// Only their roles at this school (config id) [default: every school]
    #[arg(long)]
    pub school: Option<String>,
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// Their school email address, which they sign in with
    pub email: String,
    /// attendance_officer, office, headteacher, dsl or governor
    #[arg(long)]
    pub role: String,
    /// The school (config id) the role is at [default: the only school]
    #[arg(long)]
    pub school: Option<String>,
    /// Their name as approvals are signed ("Jo Bloggs") [default: the email address]
    #[arg(long)]
    pub name: Option<String>,
    /// Read the password from standard input (one line) instead of asking on the terminal
    #[arg(long)]
    pub password_stdin: bool,
    /// No password: they sign in only with the school's account ([web.oidc])
    #[arg(long, conflicts_with = "password_stdin")]
    pub no_password: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(long)]
    pub pupils: usize,
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 2025)]
    pub seed: u64,
    /// Academic year to generate, by the year it starts in [default: the last complete one]
    #[arg(long)]
    pub year: Option<i32>,
}

#[derive(Debug, Subcommand)]
pub enum ImportWhat {
    /// upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date
    Pupils(PupilsArgs),
    /// upn,name,relationship,priority,email,mobile,parental_responsibility,address_line_1,address_line_2,town,postcode
    Contacts(ImportArgs),
    /// upn,date,session,mark
    Marks(MarksArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    pub file: PathBuf,
    /// School id or URN, where the config has several
    #[arg(long)]
    pub school: Option<String>,
}

#[derive(Debug, Args)]
pub struct PupilsArgs {
    #[command(flatten)]
    pub common: ImportArgs,
    /// The file is a full export of the roll: a pupil on the roll with no leaving date that it
    /// does not list gets the deletion notice, for a person's approval (nothing is deleted).
    /// Without it the file is partial and says nothing about pupils it leaves out.
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Args)]
pub struct MarksArgs {
    #[command(flatten)]
    pub common: ImportArgs,
    /// Who is recording these marks, as "Name (Role)"; recorded on every amendment
    #[arg(long, value_name = "NAME (ROLE)")]
    pub by: Option<String>,
    /// Why marks are being changed; recorded on every amendment
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Json,
    Table,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[arg(long, value_name = "DATE")]
    pub from: NaiveDate,
    #[arg(long, value_name = "DATE")]
    pub as_of: NaiveDate,
    #[arg(long)]
    pub upn: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    #[arg(long)]
    pub school: Option<String>,
}

#[derive(Debug, Args)]
pub struct AmendmentsArgs {
    #[arg(long)]
    pub upn: Option<String>,
    #[arg(long)]
    pub school: Option<String>,
}
