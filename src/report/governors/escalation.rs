//! What the policy did in the period, so governors see actions taken as well as rates.

use super::Inputs;
use crate::escalation::policy::{Approval, Channel};
use crate::report::document::{Cell, Section, Table};

pub(super) fn escalation(inputs: &Inputs<'_>) -> Section {
    let mut section = Section::new("escalation", "What the school did");
    let a = &inputs.activity;
    let sent = |stage: &str, channel: &str| {
        a.sent
            .get(&(stage.to_owned(), channel.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    let mut rows = Vec::new();
    for stage in &inputs.policy.stages {
        let decided = a.decisions.get(&stage.id).copied().unwrap_or(0);
        let pupils = a.pupils.get(&stage.id).copied().unwrap_or(0);
        rows.push(vec![
            Cell::text(stage.title.clone()),
            Cell::Count(pupils),
            Cell::Count(decided),
            Cell::Count(sent(&stage.id, "sms")),
            Cell::Count(sent(&stage.id, "email")),
            Cell::Count(sent(&stage.id, "letter")),
            Cell::Count(sent(&stage.id, "task")),
            Cell::Count(sent(&stage.id, "la_return")),
        ]);
    }
    section.tables.push(Table {
        id: "stages".into(),
        title: "Each stage of the policy this term".into(),
        columns: [
            "Stage",
            "Pupils",
            "Times",
            "Texts",
            "Emails",
            "Letters",
            "Staff tasks",
            "LA returns",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows,
        note: Some("Pupils: how many pupils reached the stage this term. Times: how often it was reached, once per pupil and episode (a pupil can reach a stage again in a new episode; first-day contact once per pupil per day). Decisions withdrawn because the register no longer shows their cause (a recoded mark) are not counted. Messages sent or delivered for decisions made this term; siblings' messages to one family count once. These count what the school did, so they are shown however small.".into()),
    });
    let penalty = a.penalty_reviews_decided;
    let sent_by = |channel: &str| -> u64 {
        a.sent
            .iter()
            .filter(|((_, c), _)| c == channel)
            .map(|(_, n)| n)
            .sum()
    };
    let (la_returns, letters, texts) = (sent_by("la_return"), sent_by("letter"), sent_by("sms"));
    section.tables.push(Table {
        id: "activity".into(),
        title: "In total".into(),
        columns: vec!["Activity".into(), "Count".into()],
        rows: [
            ("Texts to families", texts),
            ("Letters to families", letters),
            ("Attendance meetings arranged", a.meetings),
            ("Returns to the local authority", la_returns),
            ("Penalty-notice reviews (a person decided)", penalty),
            ("Cases opened", a.cases_opened),
            ("Cases closed as attendance improved", a.cases_closed),
            ("Cases open at the end of the period", a.cases_open_at_end),
        ]
        .into_iter()
        .map(|(label, n)| vec![Cell::text(label), Cell::Count(n)])
        .collect(),
        note: None,
    });
    section
}

pub(super) fn policy_section(inputs: &Inputs<'_>) -> Section {
    let p = inputs.policy;
    let mut section = Section::new("policy", "The policy in force");
    section.paragraphs.push(format!(
        "{} (\"{}\"). The school's attendance target is {:.1}%.",
        p.title, p.name, p.settings.target_percent
    ));
    if !p.description.trim().is_empty() {
        section.paragraphs.push(
            p.description
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    section.tables.push(Table {
        id: "policy_stages".into(),
        title: "Its stages, in order".into(),
        columns: [
            "Stage",
            "How families and staff are told",
            "A person approves",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: p
            .stages
            .iter()
            .map(|s| {
                let mut channels: Vec<&str> = s
                    .actions
                    .iter()
                    .map(|a| match a.channel {
                        Channel::Sms => "text",
                        Channel::Email => "email",
                        Channel::Letter => "letter",
                        Channel::Task => "staff task",
                        Channel::LaReturn => "LA return",
                    })
                    .collect();
                channels.dedup();
                vec![
                    Cell::text(s.title.clone()),
                    Cell::text(channels.join(", ")),
                    Cell::text(if s.approval == Approval::Required {
                        "Yes"
                    } else {
                        "No"
                    }),
                ]
            })
            .collect(),
        note: None,
    });
    section
}
