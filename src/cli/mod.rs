//! The `rollcall` command line.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Result;
use chrono::NaiveDateTime;

use crate::config::{Config, config_path};
use crate::register::import::{MarksImport, summary_line};
use crate::register::store::Store;

use crate::output::{note, say};

mod args;
pub use args::*;

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => {
            crate::demo::run(&crate::demo::DemoOptions {
                dir: args.dir,
                pupils: args.pupils,
                seed: args.seed,
                policy: args.policy,
                whole_year: args.year,
                serve: args.serve.then_some(args.listen),
                full_passes: args.full_passes,
            })
            .await
        }
        Command::Generate(args) => {
            let year = args.year.unwrap_or_else(crate::demo::last_complete_year);
            let options = crate::generate::GenerateOptions::new(args.pupils, args.seed, year);
            let summary = crate::generate::generate(&options, &args.out)?;
            say!(
                "wrote {} pupils, {} contacts and {} marks ({} school days, {} to {}) to {}",
                summary.pupils,
                summary.contacts,
                summary.marks,
                summary.school_days,
                summary.first_school_day,
                summary.last_school_day,
                args.out.display()
            )?;
            Ok(())
        }
        Command::Import { what } => {
            let config = load_config(cli.config.as_deref())?;
            let (kind, args) = match &what {
                ImportWhat::Pupils(a) => ("pupils", &a.common),
                ImportWhat::Contacts(a) => ("contacts", a),
                ImportWhat::Marks(m) => ("marks", &m.common),
            };
            let school = config.school(args.school.as_deref())?;
            // Importing is how a school's database comes to be: the one command (with the
            // demo) that may create it.
            let store = Store::connect(&config.database_url).await?;
            let school_id = store.ensure_school(school).await?;
            let summary = match &what {
                ImportWhat::Pupils(a) if a.full => {
                    crate::register::import::import_full_pupils(
                        &store,
                        school_id,
                        &a.common.file,
                        school_now(school).date(),
                    )
                    .await?
                }
                ImportWhat::Pupils(a) => {
                    crate::register::import::import_pupils(&store, school_id, &a.common.file)
                        .await?
                }
                ImportWhat::Contacts(a) => {
                    crate::register::import::import_contacts(&store, school_id, &a.file).await?
                }
                ImportWhat::Marks(m) => {
                    let mut options = MarksImport::default();
                    if let Some(by) = &m.by {
                        let (name, role) = parse_by(by)?;
                        options.by_name = name;
                        options.by_role = role;
                    }
                    options.reason = m.reason.clone();
                    crate::register::import::import_marks(
                        &store,
                        school_id,
                        &school.calendar,
                        &m.common.file,
                        &options,
                    )
                    .await?
                }
            };
            store.close().await;
            say!("{}", summary_line(kind, &summary))?;
            Ok(())
        }
        Command::Stats(args) => {
            if args.as_of < args.from {
                anyhow::bail!("--as-of {} is before --from {}", args.as_of, args.from);
            }
            let upn = args.upn.as_deref().map(checked_upn).transpose()?;
            let config = load_config(cli.config.as_deref())?;
            let school = config.school(args.school.as_deref())?;
            let store = Store::open_existing(&config.database_url).await?;
            let school_id = store.ensure_school(school).await?;
            let stats = crate::register::stats::school_stats(
                &store,
                school_id,
                school,
                args.from,
                args.as_of,
                upn.as_deref(),
            )
            .await?;
            if stats.is_empty()
                && let Some(upn) = &upn
                && !store
                    .pupils(school_id)
                    .await?
                    .iter()
                    .any(|p| p.pupil.upn.as_str() == upn)
            {
                anyhow::bail!("no pupil with UPN {upn} at school \"{}\"", school.id);
            }
            let mut out = BufWriter::new(std::io::stdout().lock());
            match args.format {
                Format::Json => crate::register::stats::write_json(&mut out, &stats)?,
                Format::Table => crate::register::stats::write_table(
                    &mut out, school, args.from, args.as_of, &stats,
                )?,
            }
            out.flush()?;
            if stats.is_empty()
                && let Some(upn) = &upn
            {
                note!(
                    "no possible sessions for {upn} between {} and {}",
                    args.from,
                    args.as_of
                );
            }
            Ok(())
        }
        Command::Amendments(args) => {
            let config = load_config(cli.config.as_deref())?;
            let school = config.school(args.school.as_deref())?;
            let upn = args.upn.as_deref().map(checked_upn).transpose()?;
            let store = Store::open_existing(&config.database_url).await?;
            let school_id = store.ensure_school(school).await?;
            let records = store.amendments(school_id, upn.as_deref()).await?;
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
        Command::Check => check(cli.config.as_deref()).await,
        Command::Evaluate(args) => {
            let config = load_config(cli.config.as_deref())?;
            let school = config.school(args.school.as_deref())?;
            let policy = crate::escalation::load_policy(&config, school)?;
            let store = Store::open_existing(&config.database_url).await?;
            let school_id = store.ensure_school(school).await?;
            let register =
                crate::escalation::load(&store, school_id, school, args.as_of.date()).await?;
            let evaluation = register.evaluate(&policy, school, args.as_of);
            let mut out = BufWriter::new(std::io::stdout().lock());
            match args.format {
                Format::Json => crate::escalation::write_json(&mut out, &evaluation)?,
                Format::Table => crate::escalation::write_table(&mut out, &evaluation)?,
            }
            out.flush()?;
            for alert in &evaluation.alerts {
                note!(
                    "alert for the {}: {}",
                    alert.to.as_str().replace('_', " "),
                    alert.message
                );
            }
            Ok(())
        }
        Command::Escalate(args) => {
            let config = load_config(cli.config.as_deref())?;
            let school = config.school(args.school.as_deref())?;
            let policy = crate::escalation::load_policy(&config, school)?;
            let now = args.as_of.unwrap_or_else(|| school_now(school));
            let store = Store::open_existing(&config.database_url).await?;
            let school_id = store.ensure_school(school).await?;
            let pass = if args.full || !config.daemon.incremental {
                crate::escalation::incremental::Pass::Full
            } else {
                crate::escalation::incremental::Pass::Incremental
            };
            let (s, shape) =
                crate::daemon::escalate_school(&store, school_id, school, &policy, now, pass, true)
                    .await?;
            say!(
                "{}: {} new decisions ({} already recorded); cases {} opened, {} moved, {} closed; \
                 {} messages queued, {} awaiting approval; {} cancelled (cause gone), {} expired; {} alerts; {shape}",
                now.format("%Y-%m-%d %H:%M"),
                s.decisions,
                s.already_decided,
                s.cases_opened,
                s.cases_moved,
                s.cases_closed,
                s.queued,
                s.awaiting_approval,
                s.cancelled,
                s.expired,
                s.alerts
            )?;
            if s.awaiting_approval > 0 {
                say!("see them with `rollcall pending`")?;
            }
            Ok(())
        }
        Command::Run => {
            let config = load_config(cli.config.as_deref())?;
            crate::daemon::serve(config).await
        }
        Command::Web(args) => {
            let config = load_config(cli.config.as_deref())?;
            crate::web::run_alone(config, args.listen, args.as_of).await
        }
        Command::User {
            what: UserWhat::Add(args),
        } => {
            let config = load_config(cli.config.as_deref())?;
            crate::web::add_user_command(&config, &args).await
        }
        Command::User {
            what: UserWhat::Remove(args),
        } => {
            let config = load_config(cli.config.as_deref())?;
            crate::web::remove_user_command(&config, &args).await
        }
        Command::Deliver(args) => {
            let config = load_config(cli.config.as_deref())?;
            let clock = match replay_time(cli.config.as_deref(), args.as_of)? {
                None => crate::schedule::Clock::System,
                Some(as_of) => {
                    // School-local time: a trust's schools share England's clock.
                    let tz = config
                        .schools
                        .first()
                        .map_or(chrono_tz::Europe::London, |s| s.timezone);
                    crate::schedule::Clock::simulated(crate::schedule::local_instant(tz, as_of))
                }
            };
            let daemon = crate::daemon::Daemon::build(config, clock).await?;
            let stop = tokio_util::sync::CancellationToken::new();
            let mut total = crate::delivery::DeliverySummary::default();
            let mut held_elsewhere = Vec::new();
            for school in &daemon.schools {
                match daemon.try_hold(school.id).await? {
                    crate::daemon::Hold::Held => {
                        total.merge(&daemon.deliverer.deliver_due(school, &stop).await?);
                    }
                    crate::daemon::Hold::HeldBy { holder, until } => {
                        held_elsewhere.push(format!(
                            "school {}: nothing delivered: the daemon {holder} holds this school \
                             until {until} and sends its messages. If that daemon has stopped, run \
                             `rollcall deliver` again after then (a restarted `rollcall run` on the \
                             same host and unit takes the school back at once).",
                            school.config.id
                        ));
                    }
                }
            }
            daemon.release_schools().await?;
            say!("{}", serde_json::to_string(&total)?)?;
            if held_elsewhere.is_empty() {
                Ok(())
            } else {
                Err(crate::daemon::HeldElsewhere(held_elsewhere).into())
            }
        }
        Command::Status(args) => {
            let config = load_config(cli.config.as_deref())?;
            let store = Store::open_existing(&config.database_url).await?;
            let schools: Vec<&crate::config::SchoolConfig> = match &args.school {
                Some(_) => vec![config.school(args.school.as_deref())?],
                None => config.schools.iter().collect(),
            };
            let mut out = BufWriter::new(std::io::stdout().lock());
            let mut all = Vec::new();
            for school in schools {
                let id = store.ensure_school(school).await?;
                let grace = crate::escalation::load_policy(&config, school)?
                    .settings
                    .grace_minutes;
                let status = crate::status::school_status(
                    &store,
                    &config,
                    school,
                    id,
                    grace,
                    chrono::Utc::now(),
                )
                .await?;
                match args.format {
                    Format::Table => crate::status::write_text(&status, &mut out)?,
                    Format::Json => all.push(status),
                }
            }
            if matches!(args.format, Format::Json) {
                writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
            }
            Ok(())
        }
        Command::Preview(args) => {
            let config = load_config(cli.config.as_deref())?;
            let school = config.school(args.school.as_deref())?;
            let as_of = args.as_of.unwrap_or_else(|| school_now(school));
            let upn = checked_upn(&args.upn)?;
            let mut out = BufWriter::new(std::io::stdout().lock());
            crate::escalation::preview::preview(
                &config,
                school,
                &crate::escalation::preview::PreviewArgs {
                    template: &args.template,
                    upn: &upn,
                    as_of,
                    out: args.out.as_deref(),
                },
                &mut out,
            )
            .await
        }
        Command::Report { what } => report(cli.config.as_deref(), what).await,
        Command::Templates {
            what: TemplatesWhat::Render(args),
        } => render_templates(cli.config.as_deref(), &args),
        Command::Replies {
            what: RepliesWhat::Poll,
        } => {
            let config = load_config(cli.config.as_deref())?;
            crate::reply::notify::poll_command(config).await
        }
        Command::Replies {
            what: RepliesWhat::List(args),
        } => {
            let config = load_config(cli.config.as_deref())?;
            let school = config.school(args.school.school.as_deref())?;
            let store = Store::open_existing(&config.database_url).await?;
            let runtimes = crate::school::SchoolRuntime::load_all(&config, &store).await?;
            let runtime = runtimes
                .iter()
                .find(|r| r.config.id == school.id)
                .ok_or_else(|| anyhow::anyhow!("school {} is not loaded", school.id))?;
            let now = args.as_of.unwrap_or_else(|| school_now(school));
            let replies = crate::reply::list::recent(&store, runtime, now, args.days).await?;
            let mut out = BufWriter::new(std::io::stdout().lock());
            crate::reply::list::write(&mut out, &replies)?;
            out.flush()?;
            Ok(())
        }
        Command::Pending(args) => {
            let config = load_config(cli.config.as_deref())?;
            let school = config.school(args.school.as_deref())?;
            let policy = crate::escalation::load_policy(&config, school)?;
            let store = Store::open_existing(&config.database_url).await?;
            let school_id = store.ensure_school(school).await?;
            let waiting = crate::delivery::outbox::pending(&store, school_id).await?;
            let mut out = BufWriter::new(std::io::stdout().lock());
            if waiting.is_empty() {
                writeln!(out, "nothing is awaiting approval")?;
            }
            for w in &waiting {
                writeln!(
                    out,
                    "#{} {} to {} ({}), template {}, created {}{}",
                    w.id,
                    w.channel,
                    w.recipient,
                    w.recipient_role.replace('_', " "),
                    w.template,
                    w.created_at,
                    w.expires_at
                        .as_ref()
                        .map(|e| format!(", expires {e}"))
                        .unwrap_or_default()
                )?;
                if let Some(hold) = &w.hold_reason {
                    writeln!(out, "    held: {hold}")?;
                }
                if let Some(asked) = w.note_asked(&policy) {
                    writeln!(
                        out,
                        "    approve with --note \"…\": the message quotes {asked}"
                    )?;
                }
                for (upn, stage, reason) in &w.about {
                    writeln!(out, "    {upn} {stage}: {reason}")?;
                }
            }
            out.flush()?;
            Ok(())
        }
        Command::Approve(args) => {
            let (store, school_id, school, policy) =
                open(cli.config.as_deref(), args.school.as_deref()).await?;
            parse_by(&args.by)?;
            let note = args
                .note
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty());
            let waiting = crate::delivery::outbox::pending(&store, school_id).await?;
            if let Some(asked) = waiting
                .iter()
                .find(|w| w.id == args.id)
                .and_then(|w| w.note_asked(&policy))
                && note.is_none()
            {
                anyhow::bail!(
                    "message {} quotes a note from whoever approves it: {asked}. Approve it with --note \"…\"; nothing changed",
                    args.id
                );
            }
            crate::delivery::outbox::decide_noted(
                &store,
                school_id,
                &policy,
                args.id,
                args.by.trim(),
                crate::delivery::outbox::Verdict::Approve,
                note,
                replay_time(cli.config.as_deref(), args.as_of)?
                    .unwrap_or_else(|| school_now(&school)),
            )
            .await?;
            say!(
                "message {} approved by {}; it is queued to send",
                args.id,
                args.by.trim()
            )?;
            Ok(())
        }
        Command::Reject(args) => {
            let (store, school_id, school, policy) =
                open(cli.config.as_deref(), args.school.as_deref()).await?;
            parse_by(&args.by)?;
            if args.reason.trim().is_empty() {
                anyhow::bail!("--reason must say why the message is rejected");
            }
            crate::delivery::outbox::decide(
                &store,
                school_id,
                &policy,
                args.id,
                args.by.trim(),
                crate::delivery::outbox::Verdict::Reject {
                    reason: args.reason.trim(),
                },
                replay_time(cli.config.as_deref(), args.as_of)?
                    .unwrap_or_else(|| school_now(&school)),
            )
            .await?;
            say!(
                "message {} rejected by {}; it will not be sent",
                args.id,
                args.by.trim()
            )?;
            Ok(())
        }
        Command::Pupil { what } => {
            crate::cli_records::pupil(&load_config(cli.config.as_deref())?, what).await
        }
        Command::Evidence { what } => {
            crate::cli_records::evidence(&load_config(cli.config.as_deref())?, what).await
        }
        Command::Case(args) => {
            let config = load_config(cli.config.as_deref())?;
            let school = config.school(args.school.as_deref())?;
            let store = Store::open_existing(&config.database_url).await?;
            let school_id = store.ensure_school(school).await?;
            let upn = checked_upn(&args.upn)?;
            let pupils = store.pupils(school_id).await?;
            let Some(pupil) = pupils.iter().find(|p| p.pupil.upn.as_str() == upn) else {
                anyhow::bail!("no pupil with UPN {} at school \"{}\"", args.upn, school.id);
            };
            let history = crate::escalation::case::history(&store, school_id, pupil.id).await?;
            let records = crate::register::records::for_pupil(&store, school_id, pupil.id).await?;
            for line in records.describe() {
                say!("{line}")?;
            }
            if history.is_empty() {
                say!("{} has no case", args.upn)?;
            }
            for t in history {
                say!(
                    "{} {} → {}: {}",
                    t.at,
                    t.from_stage.as_deref().unwrap_or("(opened)"),
                    t.to_stage.as_deref().unwrap_or("(closed)"),
                    t.reason
                )?;
            }
            Ok(())
        }
    }
}

/// Store, school row id, school config and policy for commands that act on one school
/// (approvals move cases up its ladder).
async fn open(
    config_file: Option<&Path>,
    school: Option<&str>,
) -> Result<(
    Store,
    crate::register::store::SchoolId,
    crate::config::SchoolConfig,
    crate::escalation::policy::Policy,
)> {
    let config = load_config(config_file)?;
    let school = config.school(school)?.clone();
    let policy = crate::escalation::load_policy(&config, &school)?;
    let store = Store::open_existing(&config.database_url).await?;
    let school_id = store.ensure_school(&school).await?;
    Ok((store, school_id, school, policy))
}

/// `rollcall report …`: renders into `--out`, and with `--send` queues it in the outbox.
async fn report(config_file: Option<&Path>, what: ReportWhat) -> Result<()> {
    use crate::report::{self, ReportContext};
    let common = match &what {
        ReportWhat::Newsletter(a) => &a.common,
        ReportWhat::Governors(a) | ReportWhat::Rewards(a) => &a.common,
        ReportWhat::LaReturns(a) => &a.common,
    };
    let config = load_config(config_file)?;
    let school = config.school(common.school.as_deref())?;
    let policy = crate::escalation::load_policy(&config, school)?;
    let templates = crate::delivery::template::Templates::load(school.templates.as_deref())?;
    let store = Store::open_existing(&config.database_url).await?;
    let school_id = store.ensure_school(school).await?;
    let ctx = ReportContext {
        store: &store,
        school_id,
        school,
        policy: &policy,
        templates: &templates,
    };
    let now = school_now(school);
    // Written with `?`, so a closed pipe (`| head`) ends the command instead of a panic.
    let mut out = BufWriter::new(std::io::stdout().lock());
    let (outputs, queued) = match &what {
        ReportWhat::Newsletter(a) => {
            let (n, outputs) = report::newsletter_files(&ctx, a.week).await?;
            writeln!(
                out,
                "{}, {}: attendance {} this week, {} this school year (target {})",
                school.name, n.view.week, n.view.this_week, n.view.year_to_date, n.view.target
            )?;
            let queued = if common.send {
                Some(report::queue::queue(&store, school_id, &n.report(), now).await?)
            } else {
                None
            };
            (outputs, queued)
        }
        ReportWhat::Governors(a) => {
            let term = report::find_term(school, &a.term)?;
            let as_of = a.as_of.unwrap_or(term.end);
            let (doc, outputs) = report::governor_report(&ctx, term, as_of, now.date()).await?;
            if let Some(p) = doc.sections.first().and_then(|s| s.paragraphs.first()) {
                writeln!(out, "{}, {}: {p}", school.name, term.name)?;
            }
            let queued = if common.send {
                let r = report::governor_queue_report(school, term, &doc, &outputs);
                Some(report::queue::queue(&store, school_id, &r, now).await?)
            } else {
                None
            };
            (outputs, queued)
        }
        ReportWhat::Rewards(a) => {
            let term = report::find_term(school, &a.term)?;
            let as_of = a.as_of.unwrap_or(term.end);
            let (rewards, outputs) = report::rewards_pack(&ctx, term, as_of).await?;
            writeln!(
                out,
                "{}, {}: {} certificates for 100% attendance",
                school.name,
                term.name,
                rewards.certificates.len()
            )?;
            let queued = if common.send {
                let r = report::rewards_queue_report(school, &rewards, &outputs);
                Some(report::queue::queue(&store, school_id, &r, now).await?)
            } else {
                None
            };
            (outputs, queued)
        }
        ReportWhat::LaReturns(a) => {
            let (returns, outputs) = report::la_returns(&ctx, a.as_of).await?;
            for (kind, lines) in &returns.lines {
                let count = report::la_return::count_text(*kind, lines);
                writeln!(out, "{}: {count}", kind.title())?;
            }
            let (own, gone): (Vec<_>, Vec<_>) = returns.unmatched.iter().partition(|u| u.own_rule);
            if !gone.is_empty() {
                writeln!(
                    out,
                    "Recorded returns the register no longer shows (its marks changed since): {}; see the cover",
                    gone.len()
                )?;
            }
            if !own.is_empty() {
                writeln!(
                    out,
                    "Other returns the policy made: {}; see the cover",
                    own.len()
                )?;
            }
            if common.send {
                anyhow::bail!(
                    "--send is not used for LA returns: 10-day and sickness returns go with the policy's approval, and the regular return is queued by the daemon each period (see `rollcall pending`)"
                );
            }
            (outputs, None)
        }
    };
    for path in report::write_outputs(&common.out, &outputs)? {
        writeln!(out, "wrote {}", path.display())?;
    }
    match queued {
        Some(Some(id)) => writeln!(
            out,
            "queued as message {id}; the daemon (or `rollcall deliver`) sends it"
        )?,
        Some(None) => writeln!(out, "already queued for this period: not queued again")?,
        None => {}
    }
    out.flush()?;
    Ok(())
}

/// `rollcall check`: the config, each school's policy, the database and the delivery
/// providers, as `run` would use them; every problem is listed and nothing is changed.
async fn check(config_file: Option<&Path>) -> Result<()> {
    let path = config_path(config_file);
    let config = Config::load(&path)?;
    let mut problems = 0;
    for school in &config.schools {
        match crate::escalation::read_policy(&config, school) {
            Ok(policy) => {
                say!(
                    "ok: school \"{}\" runs policy \"{}\" from {} ({} stages: {})",
                    school.id,
                    policy.name,
                    if policy.source.as_os_str().is_empty() {
                        "the built-in copy".to_owned()
                    } else {
                        policy.source.display().to_string()
                    },
                    policy.stages.len(),
                    policy
                        .stages
                        .iter()
                        .map(|s| s.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
                match crate::delivery::template::Templates::load(school.templates.as_deref()) {
                    Ok(templates) => {
                        let fallbacks = templates.fallbacks(&policy);
                        if fallbacks.is_empty() {
                            say!(
                                "ok: school \"{}\": every action has its own template",
                                school.id
                            )?;
                        } else {
                            say!(
                                "note: school \"{}\": {} action(s) use a generic template, which says what happened but not in the policy's own words:",
                                school.id,
                                fallbacks.len()
                            )?;
                            for f in fallbacks {
                                say!("  {f}")?;
                            }
                        }
                    }
                    Err(e) => {
                        problems += 1;
                        say!("school \"{}\": {e}", school.id)?;
                    }
                }
                for note in unnamed_signatories(school, &policy) {
                    say!("note: school \"{}\": {note}", school.id)?;
                }
            }
            Err(errors) => {
                problems += errors.len();
                say!(
                    "school \"{}\": {} problem(s) in its policy:",
                    school.id,
                    errors.len()
                )?;
                for e in errors {
                    say!("  {e}")?;
                }
            }
        }
    }
    match crate::register::store::Store::probe(&config.database_url).await {
        Ok((true, what)) => say!("ok: database {what}")?,
        Ok((false, what)) => say!("note: database {what}")?,
        Err(e) => {
            problems += 1;
            say!("database.url: {e:#}")?;
        }
    }
    for problem in
        crate::delivery::channel::live::check(&config.delivery.live, config.delivery.mode)
    {
        problems += 1;
        say!("{problem}")?;
    }
    for note in replies_notes(&config) {
        say!("note: {note}")?;
    }
    if problems > 0 {
        anyhow::bail!(
            "{problems} problem(s) found in {}; nothing was changed",
            path.display()
        );
    }
    say!("{} checks clean", path.display())?;
    Ok(())
}

/// `[replies]` settings that would read nothing: said by `rollcall check`, since a school
/// that turned replies on expects them to arrive.
fn replies_notes(config: &Config) -> Vec<String> {
    use crate::delivery::channel::live::SmsChoice;
    if !config.replies.enabled {
        return Vec::new();
    }
    let mut notes = Vec::new();
    match (config.delivery.mode, config.delivery.live.sms) {
        (crate::config::DeliveryMode::File, _) => notes.push(
            "[replies] is on with mode = \"file\": no texts go out, so no replies come back \
             (only the demo's pretend parents answer)"
                .to_owned(),
        ),
        (_, None) => notes.push(
            "[replies] is on but [delivery] sms is not set: there is no provider to read replies from"
                .to_owned(),
        ),
        (_, Some(SmsChoice::Twilio)) if config.web.public_url.is_none() => notes.push(
            "[replies] with Twilio needs [web] public_url: Twilio posts replies to \
             PUBLIC_URL/webhooks/twilio/sms, and the signature is checked against that address"
                .to_owned(),
        ),
        (_, Some(SmsChoice::Twilio)) if config.web.listen.is_none() => notes.push(
            "[replies] with Twilio needs the console listening ([web] listen): replies arrive \
             at its /webhooks/twilio/sms"
                .to_owned(),
        ),
        _ => {}
    }
    notes
}

/// `rollcall templates render`: the gallery of a policy's messages for a sample pupil.
fn render_templates(config_file: Option<&Path>, args: &TemplatesRenderArgs) -> Result<()> {
    let path = config_path(config_file);
    // A school reading its ladder before switching on uses its own config; without one (a
    // first look), a sample school stands in.
    let config = if config_file.is_some() || path.exists() {
        Some(Config::load(&path)?)
    } else {
        None
    };
    let school = match &config {
        Some(c) => c.school(args.school.as_deref())?.clone(),
        None => crate::gallery::sample_school(),
    };
    let name = args
        .policy
        .clone()
        .or_else(|| school.policy.clone())
        .unwrap_or_else(|| crate::escalation::policy::DEFAULT_POLICY.to_owned());
    let source = config.as_ref().and_then(|c| c.source.as_deref());
    let policy = crate::escalation::read_named_policy(&name, source).map_err(|errors| {
        anyhow::anyhow!(
            "policy \"{name}\" has {} problem(s):\n{}",
            errors.len(),
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let templates = crate::delivery::template::Templates::load(school.templates.as_deref())?;
    let written = crate::gallery::write(&school, &policy, &templates, &args.out)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(
        out,
        "{}: {} messages of policy \"{}\" for a sample pupil, as {} would send them",
        args.out.display(),
        written.len(),
        policy.name,
        school.name
    )?;
    for w in &written {
        let generic: Vec<&str> = w
            .used
            .iter()
            .map(String::as_str)
            .filter(|u| u.starts_with('_'))
            .collect();
        for f in &w.files {
            write!(out, "wrote {}", f.display())?;
            if let Some(segments) = &w.segments {
                write!(out, ": {segments}")?;
            }
            if !generic.is_empty() {
                write!(out, " (generic template: {})", generic.join(", "))?;
            }
            writeln!(out)?;
        }
    }
    writeln!(out, "wrote {}", args.out.join("index.html").display())?;
    out.flush()?;
    Ok(())
}

/// Roles a policy names to sign letters that the school's config gives no name for: such
/// letters carry the role's title alone.
fn unnamed_signatories(
    school: &crate::config::SchoolConfig,
    policy: &crate::escalation::policy::Policy,
) -> Vec<String> {
    let mut out = Vec::new();
    for stage in &policy.stages {
        for role in std::iter::once(stage.signatory)
            .chain(stage.actions.iter().map(|a| a.signatory))
            .flatten()
        {
            let named = school
                .contact
                .signatories
                .get(role.as_str())
                .is_some_and(|n| !n.trim().is_empty());
            let line = format!(
                "stage \"{}\" is signed by the {}, but [school.contact.signatories] gives no name for \"{}\": its letters carry the title \"{}\" alone (add {} = \"Name, Title\")",
                stage.id,
                role.as_str().replace('_', " "),
                role.as_str(),
                role.title(),
                role.as_str()
            );
            if !named && !out.contains(&line) {
                out.push(line);
            }
        }
    }
    out
}

/// A `--upn` as typed: a valid UPN, or an error saying what is wrong with it (a mistyped
/// UPN would otherwise just find nobody and exit 0).
pub(crate) fn checked_upn(text: &str) -> Result<String> {
    let text = text.trim();
    crate::register::pupil::Upn::parse(text)
        .map(|upn| upn.as_str().to_owned())
        .map_err(|e| anyhow::anyhow!("--upn {}: {e}", crate::register::import::shown(text)))
}

/// What a school's clock says now.
/// An `--as-of` for commands that act (approve, reject, deliver): allowed with the file sink
/// only. Replaying a past term is for trials; with live channels a person's decision and a
/// sent message must carry the real time.
fn replay_time(
    config_file: Option<&Path>,
    as_of: Option<NaiveDateTime>,
) -> Result<Option<NaiveDateTime>> {
    let Some(as_of) = as_of else {
        return Ok(None);
    };
    if load_config(config_file)?.delivery.mode != crate::config::DeliveryMode::File {
        anyhow::bail!(
            "--as-of replays a past time through the file sink only; this config has [delivery] mode = \"live\""
        );
    }
    Ok(Some(as_of))
}

pub(crate) fn school_now(school: &crate::config::SchoolConfig) -> NaiveDateTime {
    chrono::Utc::now()
        .with_timezone(&school.timezone)
        .naive_local()
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

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
