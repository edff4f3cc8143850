//! `rollcall preview TEMPLATE --upn UPN [--as-of DT]`: a template rendered with a real pupil's
//! data, exactly as it would be sent, without sending or recording anything.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use chrono::NaiveDateTime;
use sqlx::Row;

use crate::config::{Config, SchoolConfig};
use crate::delivery::{Prepared, letter_for};
use crate::message::{self, DecisionInfo};
use crate::policy::Channel;
use crate::store::Store;
use crate::template::{Audience, Templates};

pub struct PreviewArgs<'a> {
    pub template: &'a str,
    pub upn: &'a str,
    pub as_of: NaiveDateTime,
    pub out: Option<&'a Path>,
}

pub async fn preview(
    config: &Config,
    school: &SchoolConfig,
    args: &PreviewArgs<'_>,
    out: &mut impl std::io::Write,
) -> Result<()> {
    let policy = crate::escalation::load_policy(config, school)?;
    let templates = Templates::load(school.templates.as_deref())?;
    let (stage, action) = policy
        .stages
        .iter()
        .find_map(|s| {
            s.actions
                .iter()
                .find(|a| a.template == args.template)
                .map(|a| (s, a))
        })
        .ok_or_else(|| {
            anyhow!(
                "no stage of policy \"{}\" uses template \"{}\"; templates it uses: {}",
                policy.name,
                args.template,
                {
                    let mut names: Vec<&str> = policy
                        .stages
                        .iter()
                        .flat_map(|s| s.actions.iter().map(|a| a.template.as_str()))
                        .collect();
                    names.sort_unstable();
                    names.dedup();
                    names.join(", ")
                }
            )
        })?;
    let store = Store::open_existing(&config.database_url).await?;
    let school_id = store.ensure_school(school).await?;
    let pupil_id: i64 =
        sqlx::query_scalar("SELECT id FROM pupils WHERE school_id = $1 AND upn = $2")
            .bind(school_id.0)
            .bind(args.upn)
            .fetch_optional(store.pool())
            .await?
            .ok_or_else(|| anyhow!("no pupil with UPN {} at {}", args.upn, school.name))?;

    // What the engine would decide at that time; else the last time the stage fired.
    let register = crate::escalation::load(&store, school_id, school, args.as_of.date()).await?;
    let evaluation = register.evaluate(&policy, school, args.as_of);
    let fired = evaluation
        .decisions
        .iter()
        .find(|d| d.pupil_id == pupil_id && d.stage == stage.id);
    let (decision, recipient, address, note) = match fired {
        Some(d) => {
            let planned = d.actions.iter().find(|a| a.template == args.template);
            (
                DecisionInfo {
                    pupil_id,
                    stage: d.stage.clone(),
                    reason: d.reason.clone(),
                    facts: serde_json::to_string(&d.facts)?,
                },
                planned.map_or_else(|| action.to.as_str().to_owned(), |a| a.recipient.clone()),
                planned.and_then(|a| a.address.clone()),
                format!(
                    "stage \"{}\" fires for this pupil at {}",
                    stage.id, args.as_of
                ),
            )
        }
        None => {
            let row = sqlx::query(
                "SELECT reason, facts, decided_at FROM decisions WHERE pupil_id = $1 AND stage = $2
                 ORDER BY id DESC LIMIT 1",
            )
            .bind(pupil_id)
            .bind(&stage.id)
            .fetch_optional(store.pool())
            .await?;
            let Some(row) = row else {
                bail!(
                    "stage \"{}\" (template \"{}\") does not fire for {} at {} and has never been \
                     recorded for them; pick a time when it does (`rollcall evaluate --as-of …` lists \
                     what fires when)",
                    stage.id,
                    args.template,
                    args.upn,
                    args.as_of
                );
            };
            let decided_at: String = row.try_get("decided_at")?;
            (
                DecisionInfo {
                    pupil_id,
                    stage: stage.id.clone(),
                    reason: row.try_get("reason")?,
                    facts: row.try_get("facts")?,
                },
                action.to.as_str().to_owned(),
                None,
                format!(
                    "stage \"{}\" does not fire at {}; showing the decision recorded at {decided_at}",
                    stage.id, args.as_of
                ),
            )
        }
    };
    let data = message::build(
        &store,
        school,
        &policy,
        std::slice::from_ref(&decision),
        &recipient,
        action.channel.as_str(),
        "",
        args.as_of,
    )
    .await?;
    let rendered = templates.render(
        args.template,
        action.channel,
        Audience::from(action.to),
        &data,
    )?;
    writeln!(out, "# {note}")?;
    writeln!(out, "# template files: {}", rendered.used.join(", "))?;
    writeln!(
        out,
        "# {} to {}{}",
        action.channel.as_str(),
        message::recipient_names(&recipient),
        address
            .as_deref()
            .map(|a| format!(" <{a}>"))
            .unwrap_or_default()
    )?;
    match action.channel {
        Channel::Sms => {
            writeln!(out, "# {}", crate::channel::sms::segments(&rendered.text))?;
            writeln!(out, "{}", rendered.text)?;
        }
        Channel::Email | Channel::LaReturn => {
            writeln!(out, "Subject: {}\n", rendered.subject)?;
            writeln!(out, "{}", rendered.text.trim_end())?;
        }
        Channel::Letter | Channel::Task => {
            if !rendered.subject.is_empty() {
                writeln!(out, "{}\n", rendered.subject)?;
            }
            writeln!(out, "{}", rendered.text.trim_end())?;
        }
    }
    if let Some(dir) = args.out {
        crate::private::create_dir_all(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        let mut written: Vec<PathBuf> = Vec::new();
        if let Some(html) = &rendered.html {
            let path = dir.join(format!("{}.html", args.template));
            crate::private::write(&path, html.as_bytes())?;
            written.push(path);
        }
        if let Some(letter) = &rendered.letter {
            let prepared = Prepared {
                date: args.as_of.date(),
                outgoing: crate::channel::Outgoing {
                    outbox_id: 0,
                    attempt: 1,
                    school: school.id.clone(),
                    to_name: data.recipient.clone(),
                    address: address.clone().unwrap_or_default(),
                    subject: rendered.subject.clone(),
                    text: rendered.text.clone(),
                    html: None,
                    attachments: Vec::new(),
                },
                rendered: rendered.clone(),
                data: data.clone(),
            };
            let pdf = crate::channel::letter::render_one(&letter_for(school, &prepared, letter))
                .map_err(|e| anyhow!("cannot make the letter: {e}"))?;
            let path = dir.join(format!("{}.pdf", args.template));
            crate::private::write(&path, &pdf)?;
            written.push(path);
        }
        for path in written {
            writeln!(out, "# wrote {}", path.display())?;
        }
    } else if rendered.html.is_some() || rendered.letter.is_some() {
        writeln!(
            out,
            "# --out DIR also writes the HTML and the letter as PDF"
        )?;
    }
    Ok(())
}
