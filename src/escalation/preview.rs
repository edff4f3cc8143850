//! `rollcall preview TEMPLATE --upn UPN [--as-of DT]`: a template rendered with a real pupil's
//! data, exactly as it would be sent, without sending or recording anything.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use chrono::NaiveDateTime;
use sqlx::Row;

use crate::config::{Config, SchoolConfig};
use crate::delivery::message::{self, DecisionInfo};
use crate::delivery::template::{Audience, Templates};
use crate::delivery::{Prepared, letter_for};
use crate::escalation::policy::Channel;
use crate::register::store::Store;

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

    // The decision as it stood at that time: one recorded by then for the episode the engine
    // finds at that time, else the engine's (not recorded yet), else the last one recorded
    // by then. Never a decision made after it.
    let register = crate::escalation::load(&store, school_id, school, args.as_of.date()).await?;
    let evaluation = register.evaluate(&policy, school, args.as_of);
    let fired = evaluation
        .decisions
        .iter()
        .rev()
        .find(|d| d.pupil_id == pupil_id && d.stage == stage.id);
    let as_of_text = args.as_of.format("%Y-%m-%dT%H:%M:%S").to_string();
    let recorded = sqlx::query(
        "SELECT d.anchor, d.reason, d.facts, d.decided_at, d.withdrawn_reason, d.case_before,
                (SELECT MIN(o.recipient) FROM outbox_items i JOIN outbox o ON o.id = i.outbox_id
                 WHERE i.decision_id = d.id AND o.template = $4) AS recipient,
                (SELECT MIN(o.address) FROM outbox_items i JOIN outbox o ON o.id = i.outbox_id
                 WHERE i.decision_id = d.id AND o.template = $4) AS address
         FROM decisions d
         WHERE d.pupil_id = $1 AND d.stage = $2 AND d.decided_at <= $3
         ORDER BY d.decided_at DESC, d.id DESC",
    )
    .bind(pupil_id)
    .bind(&stage.id)
    .bind(&as_of_text)
    .bind(args.template)
    .fetch_all(store.pool())
    .await?;
    let recorded_as = |row: &sqlx::any::AnyRow, why: String| -> Result<_> {
        let decided_at: String = row.try_get("decided_at")?;
        let withdrawn: Option<String> = row.try_get("withdrawn_reason")?;
        let withdrawn = withdrawn.map_or_else(String::new, |w| format!(" (later withdrawn: {w})"));
        let recipient: Option<String> = row.try_get("recipient")?;
        Ok((
            DecisionInfo {
                pupil_id,
                stage: stage.id.clone(),
                reason: row.try_get("reason")?,
                facts: row.try_get("facts")?,
                case_before: row
                    .try_get::<Option<String>, _>("case_before")?
                    .map(|c| serde_json::from_str(&c))
                    .transpose()?,
            },
            recipient.unwrap_or_else(|| action.to.as_str().to_owned()),
            row.try_get::<Option<String>, _>("address")?,
            format!("{why}; showing the decision recorded at {decided_at}{withdrawn}"),
        ))
    };
    let same_episode = fired.and_then(|d| {
        recorded.iter().find(|row| {
            row.try_get::<String, _>("anchor")
                .is_ok_and(|anchor| anchor == d.anchor)
        })
    });
    let (decision, recipient, address, note) = match (fired, same_episode, recorded.first()) {
        (Some(_), Some(row), _) => recorded_as(
            row,
            format!(
                "stage \"{}\" holds for this pupil at {}",
                stage.id, args.as_of
            ),
        )?,
        (Some(d), None, _) => {
            let planned = d.actions.iter().find(|a| a.template == args.template);
            (
                DecisionInfo {
                    pupil_id,
                    stage: d.stage.clone(),
                    reason: d.reason.clone(),
                    facts: serde_json::to_string(&d.facts)?,
                    case_before: d.case_before.clone(),
                },
                planned.map_or_else(|| action.to.as_str().to_owned(), |a| a.recipient.clone()),
                planned.and_then(|a| a.address.clone()),
                format!(
                    "stage \"{}\" fires for this pupil at {} (not recorded yet)",
                    stage.id, args.as_of
                ),
            )
        }
        (None, _, Some(row)) => recorded_as(
            row,
            format!("stage \"{}\" does not fire at {}", stage.id, args.as_of),
        )?,
        (None, _, None) => bail!(
            "stage \"{}\" (template \"{}\") does not fire for {} at {} and was not recorded for \
             them by then; pick a time when it does (`rollcall evaluate --as-of …` lists what fires \
             when)",
            stage.id,
            args.template,
            args.upn,
            args.as_of
        ),
    };
    let data = message::build(
        &store,
        school,
        &policy,
        std::slice::from_ref(&decision),
        &message::MessageFor {
            recipient: &recipient,
            channel: action.channel.as_str(),
            template: args.template,
            message: "",
            note: "",
        },
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
            writeln!(
                out,
                "# {}",
                crate::delivery::channel::sms::segments(&rendered.text)
            )?;
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
                outgoing: crate::delivery::channel::Outgoing {
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
            let pdf = crate::delivery::channel::letter::render_one(&letter_for(
                school, &prepared, letter,
            ))
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
