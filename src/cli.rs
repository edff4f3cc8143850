//! The `rollcall` command line.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{Config, config_path};
use crate::import::{ImportSummary, MarksImport};
use crate::store::Store;

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
    Pupils(ImportArgs),
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

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => crate::demo::run(&args.dir, args.pupils, args.seed).await,
        Command::Generate(args) => {
            let year = args.year.unwrap_or_else(crate::demo::last_complete_year);
            let options = crate::generate::GenerateOptions::new(args.pupils, args.seed, year);
            let summary = crate::generate::generate(&options, &args.out)?;
            println!(
                "wrote {} pupils, {} contacts and {} marks ({} school days, {} to {}) to {}",
                summary.pupils,
                summary.contacts,
                summary.marks,
                summary.school_days,
                summary.first_school_day,
                summary.last_school_day,
                args.out.display()
            );
            Ok(())
        }
        Command::Import { what } => {
            let config = load_config(cli.config.as_deref())?;
            let (kind, args) = match &what {
                ImportWhat::Pupils(a) => ("pupils", a),
                ImportWhat::Contacts(a) => ("contacts", a),
                ImportWhat::Marks(m) => ("marks", &m.common),
            };
            let school = config.school(args.school.as_deref())?;
            let store = Store::connect(&config.database_url).await?;
            let school_id = store.ensure_school(school).await?;
            let summary = match &what {
                ImportWhat::Pupils(a) => {
                    crate::import::import_pupils(&store, school_id, &a.file).await?
                }
                ImportWhat::Contacts(a) => {
                    crate::import::import_contacts(&store, school_id, &a.file).await?
                }
                ImportWhat::Marks(m) => {
                    let mut options = MarksImport::default();
                    if let Some(by) = &m.by {
                        let (name, role) = parse_by(by)?;
                        options.by_name = name;
                        options.by_role = role;
                    }
                    options.reason = m.reason.clone();
                    crate::import::import_marks(
                        &store,
                        school_id,
                        &school.calendar,
                        &m.common.file,
                        &options,
                    )
                    .await?
                }
            };
            println!("{}", summary_line(kind, &summary));
            Ok(())
        }
        Command::Stats(args) => {
            if args.as_of < args.from {
                anyhow::bail!("--as-of {} is before --from {}", args.as_of, args.from);
            }
            let config = load_config(cli.config.as_deref())?;
            let school = config.school(args.school.as_deref())?;
            let store = Store::connect(&config.database_url).await?;
            let school_id = store.ensure_school(school).await?;
            let stats = crate::stats::school_stats(
                &store,
                school_id,
                school,
                args.from,
                args.as_of,
                args.upn.as_deref(),
            )
            .await?;
            let mut out = BufWriter::new(std::io::stdout().lock());
            match args.format {
                Format::Json => crate::stats::write_json(&mut out, &stats)?,
                Format::Table => {
                    crate::stats::write_table(&mut out, school, args.from, args.as_of, &stats)?
                }
            }
            out.flush()?;
            if stats.is_empty()
                && let Some(upn) = &args.upn
            {
                eprintln!(
                    "no possible sessions for {upn} between {} and {}",
                    args.from, args.as_of
                );
            }
            Ok(())
        }
        Command::Amendments(args) => {
            let config = load_config(cli.config.as_deref())?;
            let school = config.school(args.school.as_deref())?;
            let store = Store::connect(&config.database_url).await?;
            let school_id = store.ensure_school(school).await?;
            let records = store.amendments(school_id, args.upn.as_deref()).await?;
            let mut out = BufWriter::new(std::io::stdout().lock());
            if records.is_empty() {
                writeln!(out, "no amendments recorded")?;
            }
            for a in records {
                writeln!(
                    out,
                    "{} {} {}: {} → {} on {} by {} ({}): {}",
                    a.upn,
                    a.date,
                    a.session,
                    a.original_code,
                    a.new_code,
                    a.amended_at,
                    a.amended_by_name,
                    a.amended_by_role,
                    a.reason
                )?;
            }
            out.flush()?;
            Ok(())
        }
    }
}

fn load_config(cli: Option<&Path>) -> Result<Config> {
    Ok(Config::load(&config_path(cli))?)
}

/// `"Jo Bloggs (Attendance Officer)"` → name and role.
fn parse_by(text: &str) -> Result<(String, String)> {
    let text = text.trim();
    if let Some(open) = text.rfind('(')
        && text.ends_with(')')
    {
        let name = text[..open].trim();
        let role = text[open + 1..text.len() - 1].trim();
        if !name.is_empty() && !role.is_empty() {
            return Ok((name.to_owned(), role.to_owned()));
        }
    }
    anyhow::bail!(
        "--by \"{text}\" should be a name and a role, like \"Jo Bloggs (Attendance Officer)\""
    )
}

/// The one-line summary every import ends with.
pub fn summary_line(kind: &str, s: &ImportSummary) -> String {
    let changed = match kind {
        "marks" => "amended",
        _ => "updated",
    };
    let mut line = format!(
        "{}: {} rows read; {} inserted, {} {changed}, {} unchanged",
        s.file, s.rows_read, s.inserted, s.amended, s.unchanged
    );
    if s.removed > 0 {
        line.push_str(&format!(", {} removed", s.removed));
    }
    if kind == "marks" {
        if s.legacy.is_empty() {
            line.push_str("; legacy codes mapped: none");
        } else {
            let parts: Vec<String> = s.legacy.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
            line.push_str(&format!("; legacy codes mapped: {}", parts.join(", ")));
        }
    }
    if s.changed_nothing() {
        line.push_str(" — nothing changed");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_splits_name_and_role() {
        assert_eq!(
            parse_by("Jo Bloggs (Attendance Officer)").expect("valid"),
            ("Jo Bloggs".to_owned(), "Attendance Officer".to_owned())
        );
        assert!(parse_by("Jo Bloggs").is_err());
    }

    #[test]
    fn config_is_global() {
        let before =
            Cli::try_parse_from(["rollcall", "--config", "a.toml", "amendments"]).expect("before");
        let after =
            Cli::try_parse_from(["rollcall", "amendments", "--config", "a.toml"]).expect("after");
        assert_eq!(before.config, after.config);
        assert_eq!(before.config.as_deref(), Some(Path::new("a.toml")));
    }
}
