//! What a delivered message says, read from the database as delivery reads it, on both
//! backends: a letter signed by the role its stage names, an email quoting what the person who
//! approved it wrote (and refused without it through the CLI's check), the figures counted from
//! the stored register, and a staff task's words kept for the day's task list.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rollcall::config::Config;
use rollcall::daemon::Daemon;
use rollcall::register::store::Store;
use rollcall::schedule::Clock;
use tokio_util::sync::CancellationToken;

use super::{CONFIG, SIBLINGS, escalate, family, set_marks};

/// Three days with no reason (N, 8-10 Sep, mornings only as the family fixture has them): a
/// warning letter signed by the headteacher, an email quoting the approver's note and a call
/// task. The letter and email wait for a person.
const POLICY: &str = r#"
name = "letters"
title = "Letters test"

[[stage]]
id = "third_day_warning"
title = "Third day with no reason: warning"
trigger = { consecutive_absent_days = { days = 3, unauthorised_only = true } }
approval = "required"
enforcement = true
signatory = "headteacher"
actions = [
  { channel = "letter", to = "parental_responsibility", template = "inspire_final_written_warning" },
  { channel = "email", to = "parental_responsibility", template = "rss_attendance_meeting_follow_up", note = "the strategies agreed", signatory = "attendance_officer" },
  { channel = "task", to = "attendance_officer", task = "call", template = "day_three_call" },
]
"#;

const EXTRA: &str = r#"
[school.contact]
phone = "01632 960000"
email = "office@north.example"
address = ["North Road", "Testtown TT1 9ZZ"]
signatory = "Jo Bloggs"
signatory_role = "Attendance Officer"

[school.contact.signatories]
headteacher = "Sam Okafor, Headteacher"

[school.staff]
attendance_officer = "attendance@north.example"
"#;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("instant")
        .with_timezone(&Utc)
}

pub async fn a_delivered_letter_is_signed_by_its_stage_and_an_email_quotes_its_approver(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (_, school) = family(&store, dir).await?;
    let policy_path = dir.join("letters.toml");
    std::fs::write(&policy_path, POLICY)?;
    let text = CONFIG.replace(
        "la_code = \"886\"",
        &format!("la_code = \"886\"\npolicy = \"{}\"", policy_path.display()),
    );
    let config = Config::from_toml(
        &format!(
            "{text}\n{EXTRA}\n[delivery]\noutbox_dir = \"{}\"\n",
            dir.join("outbox").display()
        ),
        "messages-test.toml",
    )?;
    let policy = rollcall::escalation::load_policy(&config, config.school(None)?)?;
    // The afternoons the fixture leaves unmarked: the siblings are off all day, 8-10 Sep.
    let mut rows = String::new();
    for upn in SIBLINGS {
        for day in 8..=10 {
            rows.push_str(&format!("{upn},2025-09-{day:02},PM,N\n"));
        }
    }
    set_marks(&store, &config, school, dir, &rows).await?;
    escalate(&store, &config, school, &policy, "2025-09-10T16:00").await?;
    let waiting = rollcall::delivery::outbox::pending(&store, school).await?;
    let letter = waiting
        .iter()
        .find(|w| w.channel == "letter")
        .context("the letter waits")?;
    let email = waiting
        .iter()
        .find(|w| w.channel == "email")
        .context("the email waits")?;
    assert_eq!(letter.note_asked(&policy), None);
    assert_eq!(email.note_asked(&policy), Some("the strategies agreed"));
    // Siblings to one mother: one letter and one email carrying both children.
    assert_eq!((letter.about.len(), email.about.len()), (2, 2));

    let at = rollcall::cli::parse_datetime("2025-09-10T16:30").map_err(anyhow::Error::msg)?;
    let by = "Sam Okafor (Headteacher)";
    use rollcall::delivery::outbox::{Verdict, decide, decide_noted};
    // The stage needs a person: its call tasks wait too.
    for w in waiting.iter().filter(|w| w.channel == "task") {
        decide(&store, school, &policy, w.id, by, Verdict::Approve, at).await?;
    }
    decide(&store, school, &policy, letter.id, by, Verdict::Approve, at).await?;
    let strategies = "Ada and Alan will walk in with a neighbour each morning.";
    decide_noted(
        &store,
        school,
        &policy,
        email.id,
        by,
        Verdict::Approve,
        Some(strategies),
        at,
    )
    .await?;

    // 16:35 BST the same day.
    let clock = Clock::simulated(utc("2025-09-10T15:35:00Z"));
    let daemon = Daemon::build_with_store(config.clone(), store.clone(), clock).await?;
    let stop = CancellationToken::new();
    daemon
        .deliverer
        .deliver_due(&daemon.schools[0], &stop)
        .await?;
    let day = dir.join("outbox/north/2025-09-10");

    // The letter: its stage's signatory, the figures from the stored register.
    let words = std::fs::read_to_string(day.join(format!("letters/{}.json", letter.id)))
        .context("the letter's words")?;
    let printed: rollcall::delivery::channel::letter::Letter = serde_json::from_str(&words)?;
    assert_eq!(
        (printed.signatory.as_str(), printed.signatory_role.as_str()),
        ("Sam Okafor", "Headteacher")
    );
    let body = printed.paragraphs.join("\n");
    // Each sibling: the run the stage counted, 8-10 Sep, every session N: 6 of 6; the year
    // from 1 Sep: 6 of 16 sessions unauthorised, 62.5 % attendance.
    for name in ["Ada", "Alan"] {
        assert!(
            body.contains(&format!(
                "Since Monday 8 September 2025, {name} has had 6 sessions of unauthorised absence out of 6 (100.0% of sessions, 8 September to 10 September 2025)"
            )),
            "{body}"
        );
        assert!(
            body.contains(&format!(
                "{name}'s attendance for the school year so far is 62.5% (1 September to 10 September 2025); 6 sessions of unauthorised absence this year"
            )),
            "{body}"
        );
    }
    assert!(body.contains("£80 if it is paid within 21 days"), "{body}");
    assert!(!body.contains("third_day_warning") && !body.contains("Third day with no reason"));

    // The email: signed by the action's own signatory, quoting the approver's note.
    let eml = std::fs::read(day.join(format!("email/{}.eml", email.id))).context("the email")?;
    let parsed = mailparse::parse_mail(&eml)?;
    use mailparse::MailHeaderMap;
    let subject = parsed
        .headers
        .get_first_value("Subject")
        .unwrap_or_default();
    assert!(
        !subject.contains("Ada") && !subject.contains("Alan"),
        "{subject}"
    );
    let text = parsed
        .subparts
        .iter()
        .find(|p| p.ctype.mimetype == "text/plain")
        .map(|p| p.get_body())
        .transpose()?
        .context("a plain-text part")?
        .replace("\r\n", "\n");
    assert!(text.contains(strategies), "{text}");
    assert!(text.contains("Jo Bloggs\nAttendance Officer"), "{text}");

    // The call tasks' words are kept and listed with the day's tasks.
    let tasks: Vec<String> = std::fs::read_dir(day.join("tasks"))
        .context("task words")?
        .map(|e| Ok(std::fs::read_to_string(e?.path())?))
        .collect::<Result<_>>()?;
    assert_eq!(tasks.len(), 2, "a call task for each sibling");
    assert!(
        tasks
            .iter()
            .all(|t| t.contains("1. Anne Lovelace (Mother, parental responsibility): 07700 900001")),
        "who to ring, with the number: {tasks:?}"
    );
    daemon.deliverer.publish_tasks(&daemon.schools[0]).await?;
    let call_list = std::fs::read_to_string(day.join("call-list.csv"))?;
    assert!(
        call_list.contains("Ring Ada Lovelace's family"),
        "the task's own instruction leads: {call_list}"
    );
    Ok(())
}
