//! `rollcall pupil …` and `rollcall evidence …`: what the school records about a pupil beside
//! the MIS export (see [`crate::register::records`]).

use anyhow::Result;
use chrono::NaiveDate;
use clap::{Args, Subcommand};

use crate::cli::{checked_upn, school_now};
use crate::config::Config;
use crate::output::say;
use crate::register::records::{self, checked_text};
use crate::register::store::Store;

#[derive(Debug, Subcommand)]
pub enum PupilWhat {
    /// Extend a pupil's integration period (James Marks L44: "This can be extended if agreed
    /// that this is necessary and appropriate for a pupil"), with who agreed it and why. The
    /// latest extension counts; every one is kept and shown by `rollcall case --upn`.
    ExtendIntegration(ExtendIntegrationArgs),
}

#[derive(Debug, Args)]
pub struct ExtendIntegrationArgs {
    #[arg(long)]
    pub upn: String,
    /// The last day of the extended period (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub until: NaiveDate,
    /// Who agreed the extension (the senior leadership team's decision, L44)
    #[arg(long, value_name = "NAME")]
    pub by: String,
    /// Why, in a sentence
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    #[arg(long)]
    pub school: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum EvidenceWhat {
    /// Record medical evidence (a doctor's note, prescription, appointment card) covering a
    /// pupil's illness from one date to another, inclusive: those I sessions no longer count
    /// towards `unevidenced_illness`
    Add(EvidenceAddArgs),
}

#[derive(Debug, Args)]
pub struct EvidenceAddArgs {
    #[arg(long)]
    pub upn: String,
    /// First day the evidence covers (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub from: NaiveDate,
    /// Last day it covers [default: --from]
    #[arg(long, value_name = "DATE")]
    pub to: Option<NaiveDate>,
    /// Who saw the evidence and records it
    #[arg(long, value_name = "NAME")]
    pub by: String,
    /// What the evidence was ("GP letter"), kept with it
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[arg(long)]
    pub school: Option<String>,
}

pub async fn pupil(config: &Config, what: PupilWhat) -> Result<()> {
    match what {
        PupilWhat::ExtendIntegration(args) => {
            let upn = checked_upn(&args.upn)?;
            let by = checked_text("--by", &args.by)?;
            let reason = checked_text("--reason", &args.reason)?;
            let school = config.school(args.school.as_deref())?;
            let store = Store::open_existing(&config.database_url).await?;
            let school_id = store.ensure_school(school).await?;
            let found = records::find_pupil(&store, school_id, &school.id, &upn).await?;
            records::extend_integration(
                &store,
                school_id,
                &found,
                args.until,
                &by,
                &reason,
                school_now(school),
            )
            .await?;
            say!(
                "{upn}: integration period extended to {} (agreed by {by}); adjusted attendance leaves out the school days up to then",
                args.until
            )?;
            Ok(())
        }
    }
}

pub async fn evidence(config: &Config, what: EvidenceWhat) -> Result<()> {
    match what {
        EvidenceWhat::Add(args) => {
            let upn = checked_upn(&args.upn)?;
            let by = checked_text("--by", &args.by)?;
            let note = match &args.note {
                Some(n) => checked_text("--note", n)?,
                None => String::new(),
            };
            let to = args.to.unwrap_or(args.from);
            let school = config.school(args.school.as_deref())?;
            let store = Store::open_existing(&config.database_url).await?;
            let school_id = store.ensure_school(school).await?;
            let found = records::find_pupil(&store, school_id, &school.id, &upn).await?;
            records::add_evidence(
                &store,
                school_id,
                &found,
                args.from,
                to,
                &by,
                &note,
                school_now(school),
            )
            .await?;
            say!(
                "{upn}: medical evidence recorded for {} to {to} by {by}",
                args.from
            )?;
            Ok(())
        }
    }
}
