//! What a message says: the data behind an outbox row (its pupils, their decisions, contacts,
//! the sessions concerned and the case so far), read from the database at send time and
//! shaped for the templates in [`crate::delivery::template`].

use anyhow::{Context as _, Result};
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use sqlx::Row;

use crate::config::SchoolConfig;
use crate::delivery::template::{
    ContactData, Figures, LIST_LIMIT, MessageData, PenaltyData, PupilData, ReviewData, SchoolData,
};
use crate::escalation::case::CaseState;
use crate::escalation::policy::{Counting, Policy, Recipient, Stage, Trigger};
use crate::escalation::stage::{Context, is_first_day};
use crate::register::facts::{FactsWindow, PupilRegister, counts_between, pupil_facts};
use crate::register::mark::{Category, MarkCode};
use crate::register::pupil::Pupil;
use crate::register::session::{Calendar, Session, academic_year};
use crate::register::store::Store;

/// "Monday 3 November 2025".
pub fn long_date(date: NaiveDate) -> String {
    date.format("%A %-d %B %Y").to_string()
}

/// One outbox row as the delivery code needs it.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub key: String,
    pub channel: String,
    pub recipient_role: String,
    pub recipient: String,
    pub address: Option<String>,
    pub template: String,
    pub task: Option<String>,
    pub attempts: i64,
    pub ambiguous: bool,
    pub hold_reason: Option<String>,
    pub created_at: String,
}

impl OutboxRow {
    pub fn from_row(row: &sqlx::any::AnyRow) -> Result<OutboxRow> {
        Ok(OutboxRow {
            id: row.try_get("id")?,
            key: row.try_get("key")?,
            channel: row.try_get("channel")?,
            recipient_role: row.try_get("recipient_role")?,
            recipient: row.try_get("recipient")?,
            address: row.try_get("address")?,
            template: row.try_get("template")?,
            task: row.try_get("task")?,
            attempts: row.try_get("attempts")?,
            ambiguous: row.try_get::<i64, _>("ambiguous")? != 0,
            hold_reason: row.try_get("hold_reason")?,
            created_at: row.try_get("created_at")?,
        })
    }

    pub fn is_alert(&self) -> bool {
        self.key.contains("/alert/")
    }
}

pub const OUTBOX_COLUMNS: &str = "id, key, channel, recipient_role, recipient, address, template, \
     task, attempts, ambiguous, hold_reason, created_at";

/// "Ava", "Ava and Ben", "Ava, Ben and Cal".
pub fn join_names<S: AsRef<str>>(names: &[S]) -> String {
    match names {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [rest @ .., last] => format!(
            "{} and {}",
            rest.iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

/// The people named in a recipient string: "contact 1: Anne Lovelace (Mother) and contact 2:
/// Charles Lovelace (Father)" → "Anne Lovelace and Charles Lovelace"; a role stays a role.
pub fn recipient_names(recipient: &str) -> String {
    recipient
        .split(" and ")
        .map(|part| {
            let name = part.split_once(": ").map_or(part, |(_, rest)| rest);
            name.rsplit_once(" (").map_or(name, |(n, _)| n).to_owned()
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The school's details for a message, signed by its `[school.contact]` signatory.
pub fn school_data(school: &SchoolConfig) -> SchoolData {
    let contact = &school.contact;
    let address_line = contact
        .address
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let contact_line = match (contact.phone.is_empty(), contact.email.is_empty()) {
        (false, false) => format!(
            "call the school office on {} or email {}",
            contact.phone, contact.email
        ),
        (false, true) => format!("call the school office on {}", contact.phone),
        (true, false) => format!("email the school office at {}", contact.email),
        (true, true) => "contact the school office".to_owned(),
    };
    SchoolData {
        name: school.name.clone(),
        phone: contact.phone.clone(),
        email: contact.email.clone(),
        address: contact.address.clone(),
        address_line,
        contact_line,
        signatory: contact.signatory.clone(),
        signatory_role: contact.signatory_role.clone(),
    }
}

/// Who signs for `role` (a policy's `signatory`): the name the school gives under
/// `[school.contact.signatories]`, as "Name, Title" or "Name"; without a name, the role's
/// title alone (unless the `[school.contact]` signatory holds that very role), so a legal
/// letter is never signed by someone the policy did not name. No role: the `[school.contact]`
/// signatory.
pub fn signatory(school: &SchoolConfig, role: Option<Recipient>) -> (String, String) {
    let contact = &school.contact;
    let Some(role) = role else {
        return (contact.signatory.clone(), contact.signatory_role.clone());
    };
    match contact.signatories.get(role.as_str()).map(|s| s.trim()) {
        Some(given) if !given.is_empty() => match given.rsplit_once(", ") {
            Some((name, title)) if !title.trim().is_empty() => {
                (name.trim().to_owned(), title.trim().to_owned())
            }
            _ => (given.to_owned(), role.title().to_owned()),
        },
        // The [school.contact] signatory holds this role already ("Attendance Officer").
        _ if contact
            .signatory_role
            .trim()
            .eq_ignore_ascii_case(role.title()) =>
        {
            (contact.signatory.clone(), contact.signatory_role.clone())
        }
        _ => (String::new(), role.title().to_owned()),
    }
}

/// How to reply, worded for the channel.
pub fn reply_line(school: &SchoolConfig, channel: &str) -> String {
    let phone = &school.contact.phone;
    match (channel, phone.is_empty()) {
        ("sms", false) => format!("Please call the school office on {phone} to tell us why."),
        ("sms", true) => "Please contact the school office to tell us why.".to_owned(),
        (_, false) if !school.contact.email.is_empty() => format!(
            "Please call the school office on {phone} or email {}.",
            school.contact.email
        ),
        (_, false) => format!("Please call the school office on {phone}."),
        _ => "Please contact the school office.".to_owned(),
    }
}

/// A decision as a message needs it.
#[derive(Debug, Clone)]
pub struct DecisionInfo {
    pub pupil_id: i64,
    pub stage: String,
    pub reason: String,
    /// The decision's stored facts snapshot (JSON).
    pub facts: String,
    /// The case as the decision found it: where a stage judging the school's earlier action
    /// starts counting.
    pub case_before: Option<CaseState>,
}

/// Builds the template data for an outbox row at local time `now`.
pub async fn load(
    store: &Store,
    school: &SchoolConfig,
    policy: &Policy,
    row: &OutboxRow,
    now: NaiveDateTime,
) -> Result<MessageData> {
    let decisions: Vec<DecisionInfo> = sqlx::query(
        "SELECT d.pupil_id, d.stage, d.reason, d.facts, d.case_before
         FROM outbox_items i JOIN decisions d ON d.id = i.decision_id
         JOIN pupils p ON p.id = d.pupil_id
         WHERE i.outbox_id = $1 AND i.cancelled_reason IS NULL
         ORDER BY p.surname, p.forename",
    )
    .bind(row.id)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|d| -> Result<DecisionInfo> {
        let case_before: Option<String> = d.try_get("case_before")?;
        Ok(DecisionInfo {
            pupil_id: d.try_get("pupil_id")?,
            stage: d.try_get("stage")?,
            reason: d.try_get("reason")?,
            facts: d.try_get("facts")?,
            case_before: case_before
                .map(|c| serde_json::from_str(&c))
                .transpose()
                .context("reading a decision's case")?,
        })
    })
    .collect::<Result<_>>()?;
    let note: Option<String> = sqlx::query_scalar(
        "SELECT decision_note FROM outbox WHERE id = $1 AND decided_by IS NOT NULL",
    )
    .bind(row.id)
    .fetch_optional(store.pool())
    .await?
    .flatten();
    build(
        store,
        school,
        policy,
        &decisions,
        &MessageFor {
            recipient: &row.recipient,
            channel: &row.channel,
            template: &row.template,
            message: row.hold_reason.as_deref().unwrap_or_default(),
            note: note.as_deref().unwrap_or_default(),
        },
        now,
    )
    .await
}

/// Who a message goes to and on what: the parts of the data that are not about the pupils.
#[derive(Debug, Clone, Copy)]
pub struct MessageFor<'a> {
    /// A role, or contacts as the engine names them ("contact 1: Anne Lovelace (Mother)").
    pub recipient: &'a str,
    pub channel: &'a str,
    /// The template the action names: it finds the action, and so its signatory.
    pub template: &'a str,
    /// For alerts: what happened.
    pub message: &'a str,
    /// What the person who approved it wrote for the message.
    pub note: &'a str,
}

/// Builds the template data for decisions about to be (or being) sent.
pub async fn build(
    store: &Store,
    school: &SchoolConfig,
    policy: &Policy,
    decisions: &[DecisionInfo],
    to: &MessageFor<'_>,
    now: NaiveDateTime,
) -> Result<MessageData> {
    let mut pupils = Vec::with_capacity(decisions.len());
    for d in decisions {
        let as_of = decided_at(d, now)?;
        let stored = store.pupil(d.pupil_id).await?;
        let years = store
            .pupil_register_years(d.pupil_id, academic_year(as_of.date()))
            .await?;
        let slices: Vec<(i32, &[u8])> =
            years.iter().map(|y| (y.year, y.marks.as_slice())).collect();
        let contacts = sqlx::query(
            "SELECT priority, name, relationship, mobile, email, parental_responsibility,
                    address_line_1, address_line_2, town, postcode
             FROM contacts WHERE pupil_id = $1 ORDER BY priority",
        )
        .bind(d.pupil_id)
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|c| -> Result<ContactData> {
            let lines: Vec<String> = ["address_line_1", "address_line_2", "town", "postcode"]
                .iter()
                .map(|f| c.try_get::<String, _>(*f))
                .collect::<Result<_, _>>()?;
            Ok(ContactData {
                priority: c.try_get("priority")?,
                name: c.try_get("name")?,
                relationship: c.try_get("relationship")?,
                phone: display_phone(
                    &c.try_get::<Option<String>, _>("mobile")?
                        .unwrap_or_default(),
                ),
                email: c.try_get::<Option<String>, _>("email")?.unwrap_or_default(),
                address: lines
                    .into_iter()
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(", "),
                parental_responsibility: c.try_get::<i64, _>("parental_responsibility")? != 0,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let history = sqlx::query(
            "SELECT t.at, t.to_stage, t.reason FROM case_transitions t
             JOIN cases c ON c.id = t.case_id
             WHERE c.pupil_id = $1 ORDER BY t.id",
        )
        .bind(d.pupil_id)
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|t| -> Result<String> {
            let at: String = t.try_get("at")?;
            let to: Option<String> = t.try_get("to_stage")?;
            let reason: String = t.try_get("reason")?;
            Ok(format!(
                "{}: {}: {reason}",
                at.get(..10).unwrap_or(&at),
                to.as_deref().unwrap_or("case closed")
            ))
        })
        .collect::<Result<Vec<_>>>()?;
        let source = PupilSource {
            pupil: &stored.pupil,
            register: PupilRegister {
                admission: stored.pupil.admission_date,
                leaving: stored.pupil.leaving_date,
                years: &slices,
                loaded_from_year: i32::MIN,
            },
            contacts,
            history,
            records: crate::register::records::for_pupil_id(store, d.pupil_id).await?,
        };
        pupils.push(pupil_data(school, policy, d, &source, now)?);
    }
    Ok(assemble(school, policy, pupils, to, now))
}

/// When the decision was made (its facts snapshot), else `now`.
fn decided_at(d: &DecisionInfo, now: NaiveDateTime) -> Result<NaiveDateTime> {
    let facts: serde_json::Value =
        serde_json::from_str(&d.facts).context("reading a decision's stored facts")?;
    Ok(facts["as_of"]
        .as_str()
        .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok())
        .unwrap_or(now))
}

/// One pupil as a message about them needs them, wherever they were read from.
pub struct PupilSource<'a> {
    pub pupil: &'a Pupil,
    /// Every register year up to the decision's (earlier years for runs and windows that
    /// reach back).
    pub register: PupilRegister<'a>,
    /// In priority order.
    pub contacts: Vec<ContactData>,
    /// The case so far, for staff.
    pub history: Vec<String>,
    /// What the school recorded beside the export (an extended integration period moves the
    /// window adjusted attendance is quoted over).
    pub records: crate::register::records::PupilRecords,
}

/// The data about one pupil for a decision: what happened, the figures over their windows,
/// all counted from the register as it stands for the moment of the decision.
pub fn pupil_data(
    school: &SchoolConfig,
    policy: &Policy,
    d: &DecisionInfo,
    source: &PupilSource<'_>,
    now: NaiveDateTime,
) -> Result<PupilData> {
    let as_of = decided_at(d, now)?;
    let today = as_of.date();
    let calendar = &school.calendar;
    let register = &source.register;
    let stage = policy.stages.iter().find(|s| s.id == d.stage);
    let year_start = crate::escalation::trigger::first_day_of_year(calendar, today);
    let year = figures(calendar, register, year_start, today);
    let term = calendar
        .term_containing(today)
        .map(|t| figures(calendar, register, t.start, today))
        .unwrap_or_else(|| year.clone());
    let ctx = Context {
        policy,
        school,
        now: as_of,
        previous_pass: None,
    };
    let measure = stage.and_then(|s| {
        crate::escalation::trigger::measured(
            &ctx,
            source.pupil,
            *register,
            &source.records,
            d.case_before.as_ref(),
            &s.trigger,
        )
    });
    let measured = measure
        .as_ref()
        .map(|m| figures(calendar, register, m.from, m.to))
        .unwrap_or_else(|| year.clone());
    let threshold = measure
        .as_ref()
        .and_then(|m| m.percent)
        .map(percent_words)
        .unwrap_or_default();

    let facts = pupil_facts(&FactsWindow::new(calendar, year_start, today), register);
    let run_since = facts.as_ref().and_then(|f| f.absent_run_since);
    let first_day = stage.is_some_and(is_first_day);
    let session = if as_of.time() < school.pm_register_close {
        Session::Am
    } else {
        Session::Pm
    };
    let session_words = match session {
        Session::Am => "this morning",
        Session::Pm => "this afternoon",
    };
    let (concerned, from, to) = if first_day {
        let word = if session == Session::Am {
            "morning"
        } else {
            "afternoon"
        };
        (
            format!("the {word} session on {}", long_date(today)),
            Some(today),
            Some(today),
        )
    } else if let Some(since) = run_since {
        let days = facts.as_ref().map_or(0, |f| f.consecutive_absent_days);
        let last = calendar
            .school_days_between(since, today)
            .last()
            .copied()
            .unwrap_or(today);
        let span = if since == last {
            format!("every session on {}", long_date(since))
        } else {
            format!(
                "every session from {} to {}",
                long_date(since),
                long_date(last)
            )
        };
        let plural = if days == 1 { "" } else { "s" };
        (
            format!("{span} ({days} school day{plural})"),
            Some(since),
            Some(last),
        )
    } else {
        (
            format!(
                "{} attendance this school year ({})",
                year.attendance, year.span
            ),
            None,
            None,
        )
    };
    let episode = match (from, to) {
        (Some(from), Some(to)) => episode_lines(calendar, register, from, to),
        _ => Episode::default(),
    };
    // Today's register closed with no mark at all: as unexplained as an N.
    let unmarked_today = first_day
        && register
            .mark(today, session)
            .and_then(MarkCode::from_byte)
            .is_none_or(MarkCode::is_none);
    // What the family is asked to do, and when the school looks again, run from the day the
    // message goes (a message waiting for approval goes later than its decision).
    let sent_on = now.date().max(today);
    let respond_by = calendar
        .school_days()
        .iter()
        .filter(|d| **d > sent_on)
        .nth(4)
        .map(|d| long_date(*d))
        .unwrap_or_default();
    let review = stage
        .map(|s| review(policy, s, calendar, sent_on))
        .unwrap_or_default();
    Ok(PupilData {
        name: format!("{} {}", source.pupil.forename, source.pupil.surname),
        forename: source.pupil.forename.clone(),
        surname: source.pupil.surname.clone(),
        upn: source.pupil.upn.as_str().to_owned(),
        date_of_birth: source.pupil.date_of_birth.to_string(),
        year_group: source.pupil.year_group.clone(),
        reg_group: source.pupil.reg_group.clone(),
        stage_title: stage.map_or_else(|| d.stage.clone(), |s| s.title.clone()),
        stage: d.stage.clone(),
        reason: d.reason.clone(),
        concerned,
        session_words: session_words.to_owned(),
        decided_on: long_date(today),
        attendance: year.attendance.clone(),
        possible_sessions: year.possible_sessions,
        absence_sessions: year.absent_sessions,
        unauthorised_sessions: year.unauthorised_sessions,
        sessions: episode.raw,
        absences: episode.words,
        unexplained_sessions: episode.unexplained + u32::from(unmarked_today),
        episode_reasons: episode.reasons,
        respond_by,
        year,
        term,
        measured,
        threshold,
        review,
        contacts: source.contacts.clone(),
        history: source.history.clone(),
    })
}

/// The message's data from its pupils: the school, who signs, who it is to.
pub fn assemble(
    school: &SchoolConfig,
    policy: &Policy,
    pupils: Vec<PupilData>,
    to: &MessageFor<'_>,
    now: NaiveDateTime,
) -> MessageData {
    let names: Vec<&str> = pupils.iter().map(|p| p.forename.as_str()).collect();
    let names = join_names(&names);
    let mut school_data = school_data(school);
    let role = pupils
        .first()
        .and_then(|p| policy.stages.iter().find(|s| s.id == p.stage))
        .and_then(|stage| {
            stage
                .actions
                .iter()
                .find(|a| a.template == to.template && a.channel.as_str() == to.channel)
                .and_then(|a| stage.signatory_for(a))
                .or(stage.signatory)
        });
    if role.is_some() {
        (school_data.signatory, school_data.signatory_role) = signatory(school, role);
    }
    MessageData {
        school: school_data,
        recipient: recipient_names(to.recipient),
        today: long_date(now.date()),
        pupil: pupils.first().cloned().unwrap_or_default(),
        several: pupils.len() > 1,
        pupils,
        names,
        reply: reply_line(school, to.channel),
        message: to.message.to_owned(),
        note: to.note.trim().to_owned(),
        target: percent_words(policy.settings.target_percent),
        penalty: PenaltyData::default(),
    }
}

/// "95%", "96.5%", "3.4%": to a tenth, without a trailing ".0" (100 − 96.6 is not
/// "3.4000000000000057%").
fn percent_words(p: f64) -> String {
    let tenths = (p * 10.0).round() / 10.0;
    if tenths.fract() == 0.0 {
        format!("{tenths:.0}%")
    } else {
        format!("{tenths:.1}%")
    }
}

/// "3 September to 14 November 2025"; one day is "14 November 2025".
fn span_words(from: NaiveDate, to: NaiveDate) -> String {
    if from == to {
        to.format("%-d %B %Y").to_string()
    } else if from.year() == to.year() {
        format!("{} to {}", from.format("%-d %B"), to.format("%-d %B %Y"))
    } else {
        format!("{} to {}", from.format("%-d %B %Y"), to.format("%-d %B %Y"))
    }
}

/// Absent sessions as days a parent reads: "half a day", "1 day", "4½ days".
fn days_words(sessions: u32) -> String {
    match (sessions / 2, sessions % 2) {
        (0, 0) => "no days".to_owned(),
        (0, _) => "half a day".to_owned(),
        (1, 0) => "1 day".to_owned(),
        (n, 0) => format!("{n} days"),
        (n, _) => format!("{n}½ days"),
    }
}

/// A code in words a parent understands, saying whether the school counts it as authorised.
pub fn code_words(code: MarkCode) -> String {
    let plain = match code.as_str() {
        "N" => "absent, no reason given yet",
        "O" => "absent without a reason the school could accept (unauthorised)",
        "G" => "holiday not agreed by the school (unauthorised)",
        "U" => "arrived after the register closed (counts as unauthorised absence)",
        "L" => "late, arrived before the register closed",
        "I" => "illness (authorised)",
        "M" => "medical or dental appointment (authorised)",
        "C" => "leave for exceptional circumstances (authorised)",
        "C1" => "leave for a performance or work abroad (authorised)",
        "C2" => "part-time timetable (authorised)",
        "E" => "suspended, with no other education arranged",
        "J1" => "leave to attend an interview (authorised)",
        "R" => "religious observance (authorised)",
        "S" => "study leave (authorised)",
        "T" => "travelling with a parent for work (authorised)",
        "H" => "holiday agreed by the school (authorised)",
        _ => "",
    };
    if !plain.is_empty() {
        return plain.to_owned();
    }
    code.info()
        .map_or_else(String::new, |i| i.meaning.to_owned())
}

/// A reason's heading in a list: "Illness", "Holiday not agreed by the school".
fn reason_label(code: MarkCode) -> &'static str {
    match code.as_str() {
        "N" => "No reason given yet (unauthorised until one is)",
        "O" => "Unauthorised absence",
        "G" => "Holiday not agreed by the school (unauthorised)",
        "U" => "Arriving after the register closed (unauthorised)",
        "I" => "Illness (authorised)",
        "M" => "Medical or dental appointments (authorised)",
        "C" => "Leave for exceptional circumstances (authorised)",
        "C1" => "Leave for a performance or work abroad (authorised)",
        "C2" => "Part-time timetable (authorised)",
        "E" => "Suspension with no other education arranged",
        "J1" => "Interviews (authorised)",
        "R" => "Religious observance (authorised)",
        "S" => "Study leave (authorised)",
        "T" => "Travelling with a parent for work (authorised)",
        "H" => "Agreed holiday (authorised)",
        _ => "Other absence",
    }
}

fn session_name(session: Session) -> &'static str {
    match session {
        Session::Am => "morning",
        Session::Pm => "afternoon",
    }
}

/// The pupil's figures over `[from, to]`, from the register.
pub fn figures(
    calendar: &Calendar,
    register: &PupilRegister<'_>,
    from: NaiveDate,
    to: NaiveDate,
) -> Figures {
    let from = from.max(register.admission);
    let counts = counts_between(register, from, to);
    let possible = counts.possible();
    let attended = counts.attended();
    let absent = counts.absent();
    let unauthorised = counts.unauthorised();
    let mut by_code: Vec<(MarkCode, u32)> = crate::register::mark::CODES
        .iter()
        .filter_map(|c| MarkCode::parse_exact(c.code))
        .filter(|c| c.category().is_some_and(Category::is_absence))
        .map(|c| (c, counts.0[usize::from(c.byte())]))
        .filter(|(_, n)| *n > 0)
        .collect();
    by_code.sort_by_key(|c| std::cmp::Reverse(c.1));
    let reasons = by_code
        .iter()
        .map(|(c, n)| {
            let s = if *n == 1 { "" } else { "s" };
            format!("{}: {n} session{s}", reason_label(*c))
        })
        .collect();
    let mut absences = (Vec::new(), 0);
    let mut lates = (Vec::new(), 0);
    let mut unauthorised_list = (Vec::new(), 0);
    let last = register.leaving.map_or(to, |l| l.min(to));
    for day in calendar.school_days_between(from, last) {
        for session in [Session::Am, Session::Pm] {
            let Some(code) = register.mark(*day, session).and_then(MarkCode::from_byte) else {
                continue;
            };
            let is_late = matches!(code.as_str(), "L" | "U");
            let is_absent = code.category().is_some_and(Category::is_absence);
            let is_unauthorised = code.category() == Some(Category::UnauthorisedAbsence);
            if !is_late && !is_absent {
                continue;
            }
            let line = format!(
                "{}, {}: {}",
                long_date(*day),
                session_name(session),
                code_words(code)
            );
            for (wanted, (list, more)) in [
                (is_absent, &mut absences),
                (is_late, &mut lates),
                (is_unauthorised, &mut unauthorised_list),
            ] {
                if wanted {
                    if list.len() < LIST_LIMIT {
                        list.push(line.clone());
                    } else {
                        *more += 1;
                    }
                }
            }
        }
    }
    let share = |n: u32| {
        if possible == 0 {
            "not yet measured".to_owned()
        } else {
            format!("{:.1}%", 100.0 * f64::from(n) / f64::from(possible))
        }
    };
    Figures {
        from: long_date(from),
        to: long_date(to),
        span: span_words(from, to),
        has_sessions: possible > 0,
        possible_sessions: possible,
        attended_sessions: attended,
        absent_sessions: absent,
        authorised_sessions: absent - unauthorised,
        unauthorised_sessions: unauthorised,
        illness_sessions: counts.of(&["I".to_owned()]),
        late_sessions: counts.of(&["L".to_owned(), "U".to_owned()]),
        late_after_close_sessions: counts.of(&["U".to_owned()]),
        attendance: share(attended),
        unauthorised_share: share(unauthorised),
        days_missed: days_words(absent),
        reasons,
        absences: absences.0,
        more_absences: absences.1,
        lates: lates.0,
        more_lates: lates.1,
        unauthorised: unauthorised_list.0,
        more_unauthorised: unauthorised_list.1,
    }
}

/// The absent sessions of an episode (a day, a run of days).
#[derive(Debug, Default)]
struct Episode {
    /// For staff and the LA: "Mon 3 Nov 2025 AM: O".
    raw: Vec<String>,
    /// For a parent: "Monday 3 November 2025, morning: illness (authorised)".
    words: Vec<String>,
    /// Sessions still N.
    unexplained: u32,
    /// The reasons, most sessions first: "Illness (authorised)".
    reasons: Vec<String>,
}

/// Each absent session from `from` to `to`.
fn episode_lines(
    calendar: &Calendar,
    register: &PupilRegister<'_>,
    from: NaiveDate,
    to: NaiveDate,
) -> Episode {
    let mut out = Episode::default();
    let mut reasons: Vec<(MarkCode, u32)> = Vec::new();
    for day in calendar.school_days_between(from, to) {
        for session in [Session::Am, Session::Pm] {
            let Some(code) = register.mark(*day, session).and_then(MarkCode::from_byte) else {
                continue;
            };
            if !code.category().is_some_and(Category::is_absence) {
                continue;
            }
            out.raw.push(format!(
                "{} {}: {}",
                day.format("%a %-d %b %Y"),
                session.as_str(),
                code.as_str()
            ));
            out.words.push(format!(
                "{}, {}: {}",
                long_date(*day),
                session_name(session),
                code_words(code)
            ));
            if code.as_str() == "N" {
                out.unexplained += 1;
            } else {
                match reasons.iter_mut().find(|(c, _)| *c == code) {
                    Some((_, n)) => *n += 1,
                    None => reasons.push((code, 1)),
                }
            }
        }
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
    out.reasons = reasons
        .iter()
        .map(|(c, _)| reason_label(*c).to_owned())
        .collect();
    out
}

/// When a later stage of the policy judges what this one did, and what it looks for.
fn review(policy: &Policy, stage: &Stage, calendar: &Calendar, today: NaiveDate) -> ReviewData {
    let judged = policy.stages.iter().find_map(|later| {
        later.trigger.flatten().into_iter().find_map(|t| match t {
            Trigger::NoImprovement {
                stage: judged,
                school_days,
                percent,
                counting,
            } if *judged == stage.id => Some((*school_days, *percent, *counting)),
            _ => None,
        })
    });
    let Some((school_days, percent, counting)) = judged else {
        return ReviewData::default();
    };
    let period = if school_days % 5 == 0 {
        let weeks = school_days / 5;
        match weeks {
            1 => "one school week".to_owned(),
            2 => "two school weeks".to_owned(),
            3 => "three school weeks".to_owned(),
            4 => "four school weeks".to_owned(),
            5 => "five school weeks".to_owned(),
            6 => "six school weeks".to_owned(),
            n => format!("{n} school weeks"),
        }
    } else {
        format!("{school_days} school days")
    };
    let date = calendar
        .school_days()
        .iter()
        .filter(|d| **d > today)
        .nth(school_days.saturating_sub(1) as usize)
        .map(|d| long_date(*d))
        .unwrap_or_default();
    let looks_for = match counting {
        Counting::All => format!("attendance below {}", percent_words(percent)),
        Counting::Unauthorised => format!(
            "unauthorised absence of more than {} of sessions",
            percent_words(100.0 - percent)
        ),
    };
    ReviewData {
        due: true,
        school_days,
        period,
        date,
        looks_for,
    }
}

/// A stored mobile as dialled in the UK: "+447700900001" is "07700 900001".
pub fn display_phone(stored: &str) -> String {
    let digits: String = stored.chars().filter(char::is_ascii_digit).collect();
    match stored.strip_prefix("+44") {
        Some(_) if digits.len() == 12 => {
            let national = format!("0{}", &digits[2..]);
            format!("{} {}", &national[..5], &national[5..])
        }
        _ => stored.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_read_as_a_person_writes_them() {
        assert_eq!(percent_words(95.0), "95%");
        assert_eq!(percent_words(96.5), "96.5%");
        assert_eq!(percent_words(100.0 - 96.6), "3.4%");
        assert_eq!(percent_words(100.0 - 90.0), "10%");
    }

    #[test]
    fn days_missed_in_halves() {
        assert_eq!(days_words(0), "no days");
        assert_eq!(days_words(1), "half a day");
        assert_eq!(days_words(2), "1 day");
        assert_eq!(days_words(9), "4½ days");
    }

    #[test]
    fn a_stored_mobile_is_shown_as_dialled_in_the_uk() {
        assert_eq!(display_phone("+447700900001"), "07700 900001");
        assert_eq!(display_phone("+33612345678"), "+33612345678");
        assert_eq!(display_phone(""), "");
    }

    #[test]
    fn a_named_role_signs_else_its_title_alone_never_someone_else() {
        let mut school = crate::gallery::sample_school();
        school.contact.signatories.clear();
        school
            .contact
            .signatories
            .insert("headteacher".into(), "Sam Okafor, Head of School".into());
        school
            .contact
            .signatories
            .insert("deputy_head".into(), "Alex Morgan".into());
        let signs = |role| signatory(&school, role);
        assert_eq!(
            signs(Some(Recipient::Headteacher)),
            ("Sam Okafor".into(), "Head of School".into())
        );
        assert_eq!(
            signs(Some(Recipient::DeputyHead)),
            ("Alex Morgan".into(), "Deputy Headteacher".into())
        );
        // No name for the DSL: the title alone, not the attendance officer.
        assert_eq!(
            signs(Some(Recipient::Dsl)),
            (String::new(), "Designated Safeguarding Lead".into())
        );
        // The contact's signatory holds the role already.
        assert_eq!(
            signs(Some(Recipient::AttendanceOfficer)),
            ("Jo Bloggs".into(), "Attendance Officer".into())
        );
        assert_eq!(
            signs(None),
            ("Jo Bloggs".into(), "Attendance Officer".into())
        );
    }
}
