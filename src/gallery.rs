//! `rollcall templates render --policy NAME --out DIR`: every action of a policy rendered for a
//! sample pupil, one file per action, so a school can read its whole ladder before switching
//! it on.
//!
//! The sample is one pupil (Ada Lovelace, Year 4) with a register over the first twelve school
//! weeks of the calendar's first year: a couple of days of illness, a holiday the school did
//! not agree, some unauthorised days, late arrivals. Each stage sees that register shaped to
//! what its trigger is about (a first-day stage at register close with today unmarked, a run of
//! absence ending today, a period after the school acted that improved or did not), and every
//! figure in the output is counted from it by the same code that writes real messages, so the
//! gallery shows exactly what a family would read about such a pupil.
//!
//! Files are named `STAGE_ID.CHANNEL.TEMPLATE.EXT`: `.txt` (subject, blank line, body) and
//! `.html` for email (`.pdf` too when the email attaches a letter), `.sms.txt` for texts,
//! `.pdf` for letters, `.task.txt` for staff tasks. `index.html` lists them with each text's
//! segment count.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

use crate::config::{Phase, SchoolConfig, SchoolContact};
use crate::delivery::message::{self, DecisionInfo, MessageFor, PupilSource};
use crate::delivery::template::{Audience, ContactData, MessageData, Rendered, Templates};
use crate::delivery::{Prepared, letter_for};
use crate::escalation::case::CaseState;
use crate::escalation::policy::{Action, Channel, Policy, Recipient, Stage, Trigger};
use crate::escalation::stage::{Context, is_first_day};
use crate::register::facts::PupilRegister;
use crate::register::mark::MarkCode;
use crate::register::pupil::{Pupil, Sen, Upn};
use crate::register::session::{Calendar, SLOTS_PER_YEAR, Session, academic_year, slot};

/// The school the gallery writes for when no config is given: a name with every character a
/// school's name is likely to carry (an apostrophe, parentheses, an ampersand).
pub fn sample_school() -> SchoolConfig {
    let (terms, holidays) = crate::generate::england_calendar(2025);
    let mut signatories = std::collections::BTreeMap::new();
    signatories.insert(
        "headteacher".to_owned(),
        "Sam Okafor, Headteacher".to_owned(),
    );
    signatories.insert(
        "deputy_head".to_owned(),
        "Alex Morgan, Deputy Headteacher".to_owned(),
    );
    SchoolConfig {
        id: "sample".into(),
        name: "St Mary's C of E (Aided) Primary School & Nursery".into(),
        urn: "100000".into(),
        la_code: "886".into(),
        phase: Phase::Primary,
        timezone: chrono_tz::Europe::London,
        am_register_close: NaiveTime::from_hms_opt(9, 30, 0).unwrap_or(NaiveTime::MIN),
        pm_register_close: NaiveTime::from_hms_opt(13, 45, 0).unwrap_or(NaiveTime::MIN),
        policy: None,
        calendar: Calendar::new(terms, holidays),
        contact: SchoolContact {
            phone: "01632 960000".into(),
            email: "office@st-marys.example.sch.uk".into(),
            address: vec![
                "Church Lane".into(),
                "Canterbury".into(),
                "Kent CT1 2AA".into(),
            ],
            signatory: "Jo Bloggs".into(),
            signatory_role: "Attendance Officer".into(),
            signatories,
        },
        staff: Default::default(),
        templates: None,
        inbox: None,
        reports: Default::default(),
    }
}

/// One file the gallery wrote, for the index and the command's output.
#[derive(Debug, Clone)]
pub struct Written {
    pub stage: String,
    pub channel: Channel,
    pub to: Recipient,
    pub template: String,
    pub files: Vec<PathBuf>,
    /// For texts: "1 segment (GSM-7, 148 characters)".
    pub segments: Option<String>,
    /// The template files that wrote it (a `_family`/`_staff`/`_la`/`_task` one is generic).
    pub used: Vec<String>,
}

/// One action rendered for the sample pupil, with the data behind it (tests read both).
pub struct Sample {
    pub stage: String,
    pub action: Action,
    pub data: MessageData,
    pub rendered: Rendered,
    /// The letter as printed (letters, and emails that attach one).
    pub pdf: Option<Vec<u8>>,
    /// The sample's decision time.
    pub as_of: NaiveDateTime,
}

/// Renders every action of every stage of `policy` for the sample pupil.
pub fn samples(
    school: &SchoolConfig,
    policy: &Policy,
    templates: &Templates,
) -> Result<Vec<Sample>> {
    let sample = SamplePupil::new(school)?;
    let mut out = Vec::new();
    for stage in &policy.stages {
        let scene = sample.scene(school, policy, stage);
        for action in &stage.actions {
            out.push(render_action(
                school, policy, templates, &sample, &scene, stage, action,
            )?);
        }
    }
    Ok(out)
}

/// Writes the gallery for `policy` into `dir`; returns what it wrote, in ladder order.
pub fn write(
    school: &SchoolConfig,
    policy: &Policy,
    templates: &Templates,
    dir: &Path,
) -> Result<Vec<Written>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for s in samples(school, policy, templates)? {
        let stem = format!(
            "{}.{}.{}",
            s.stage,
            s.action.channel.as_str(),
            s.action.template
        );
        let mut files = Vec::new();
        let mut put = |ext: &str, bytes: &[u8]| -> Result<()> {
            let path = dir.join(format!("{stem}.{ext}"));
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            files.push(path);
            Ok(())
        };
        let mut segments = None;
        match s.action.channel {
            Channel::Sms => {
                segments =
                    Some(crate::delivery::channel::sms::segments(&s.rendered.text).to_string());
                put("sms.txt", format!("{}\n", s.rendered.text).as_bytes())?;
            }
            Channel::Task => put("task.txt", format!("{}\n", s.rendered.text).as_bytes())?,
            Channel::Letter => {
                if let Some(pdf) = &s.pdf {
                    put("pdf", pdf)?;
                }
            }
            Channel::Email | Channel::LaReturn => {
                put(
                    "txt",
                    format!(
                        "Subject: {}\n\n{}\n",
                        s.rendered.subject,
                        s.rendered.text.trim_end()
                    )
                    .as_bytes(),
                )?;
                if let Some(html) = &s.rendered.html {
                    put("html", html.as_bytes())?;
                }
                if let Some(pdf) = &s.pdf {
                    put("pdf", pdf)?;
                }
            }
        }
        written.push(Written {
            stage: s.stage,
            channel: s.action.channel,
            to: s.action.to,
            template: s.action.template,
            files,
            segments,
            used: s.rendered.used,
        });
    }
    let index = index_html(school, policy, &written);
    std::fs::write(dir.join("index.html"), index)
        .with_context(|| format!("writing {}", dir.join("index.html").display()))?;
    Ok(written)
}

fn render_action(
    school: &SchoolConfig,
    policy: &Policy,
    templates: &Templates,
    sample: &SamplePupil,
    scene: &Scene,
    stage: &Stage,
    action: &Action,
) -> Result<Sample> {
    let register = PupilRegister {
        admission: sample.pupil.admission_date,
        leaving: None,
        years: &scene.years(),
        loaded_from_year: i32::MIN,
    };
    let decision = DecisionInfo {
        pupil_id: 1,
        stage: stage.id.clone(),
        reason: scene.reason.clone(),
        facts: serde_json::json!({ "as_of": scene.as_of.format("%Y-%m-%dT%H:%M:%S").to_string() })
            .to_string(),
        case_before: scene.case.clone(),
    };
    let source = PupilSource {
        pupil: &sample.pupil,
        register,
        contacts: sample.contacts.clone(),
        history: scene.history.clone(),
        records: Default::default(),
    };
    let pupil = message::pupil_data(school, policy, &decision, &source, scene.as_of)?;
    let first = &sample.contacts[0];
    let (recipient, address) = if action.to.is_family() {
        let address = match action.channel {
            Channel::Sms | Channel::Task => first.phone.clone(),
            Channel::Email => first.email.clone(),
            _ => first.address.clone(),
        };
        (
            format!("contact 1: {} ({})", first.name, first.relationship),
            address,
        )
    } else {
        (action.to.as_str().to_owned(), String::new())
    };
    let data = message::assemble(
        school,
        policy,
        vec![pupil],
        &MessageFor {
            recipient: &recipient,
            channel: action.channel.as_str(),
            template: &action.template,
            message: "",
            note: match action.note.as_deref() {
                Some(asked) if asked.contains("deletion") => SAMPLE_DELETION_NOTE,
                Some(_) => SAMPLE_NOTE,
                None => "",
            },
        },
        scene.as_of,
    );
    let rendered = templates.render(
        &action.template,
        action.channel,
        Audience::from(action.to),
        &data,
    )?;
    let pdf = match &rendered.letter {
        Some(letter) => {
            let prepared = Prepared {
                date: scene.as_of.date(),
                outgoing: crate::delivery::channel::Outgoing {
                    outbox_id: 0,
                    attempt: 1,
                    school: school.id.clone(),
                    to_name: data.recipient.clone(),
                    address,
                    subject: rendered.subject.clone(),
                    text: rendered.text.clone(),
                    html: None,
                    attachments: Vec::new(),
                },
                rendered: rendered.clone(),
                data: data.clone(),
            };
            let mut printed = letter_for(school, &prepared, letter);
            // No outbox row stands behind a sample.
            printed.reference = "Ref: sample".into();
            Some(
                crate::delivery::channel::letter::render_one(&printed)
                    .map_err(|e| anyhow!("cannot make the letter for {}: {e}", action.template))?,
            )
        }
        None => None,
    };
    Ok(Sample {
        stage: stage.id.clone(),
        action: action.clone(),
        data,
        rendered,
        pdf,
        as_of: scene.as_of,
    })
}

/// What the approver of a deletion notice writes, in the sample: the ground and destination.
pub const SAMPLE_DELETION_NOTE: &str = "Registered at another school (the family moved): \
     Oakfield Primary School, Oak Lane, Exampleton, from 5 January 2026.";

/// What the approver of a message that asks for a note writes, in the sample.
pub const SAMPLE_NOTE: &str = "Ada will go to breakfast club on Mondays and Wednesdays, so she \
     arrives in good time. Her class teacher will check in with her each morning for the next \
     two weeks. You will tell the office by 9:00 on any day Ada cannot come in.";

/// The sample pupil, her family and the school days her register covers.
struct SamplePupil {
    pupil: Pupil,
    contacts: Vec<ContactData>,
    /// The school days of the sample's year, from the first.
    days: Vec<NaiveDate>,
    /// Index into `days` of the sample's "today".
    today: usize,
}

/// One stage's view of the sample: the register as that stage sees it, the moment it decides,
/// the case as it found it and the engine's reason.
struct Scene {
    marks: HashMap<i32, Vec<u8>>,
    as_of: NaiveDateTime,
    case: Option<CaseState>,
    history: Vec<String>,
    reason: String,
}

impl Scene {
    fn years(&self) -> Vec<(i32, &[u8])> {
        let mut years: Vec<(i32, &[u8])> =
            self.marks.iter().map(|(y, m)| (*y, m.as_slice())).collect();
        years.sort_by_key(|(y, _)| *y);
        years
    }

    fn mark(&mut self, day: NaiveDate, session: Session, code: &str) {
        let (year, at) = slot(day, session);
        let byte = MarkCode::parse_exact(code).map_or(0, MarkCode::byte);
        self.marks
            .entry(year)
            .or_insert_with(|| vec![0; SLOTS_PER_YEAR])[at] = byte;
    }

    fn day(&mut self, day: NaiveDate, code: &str) {
        self.mark(day, Session::Am, code);
        self.mark(day, Session::Pm, code);
    }
}

/// School days the sample covers: twelve school weeks.
const SAMPLE_DAYS: usize = 60;

impl SamplePupil {
    fn new(school: &SchoolConfig) -> Result<SamplePupil> {
        let first = *school
            .calendar
            .school_days()
            .first()
            .ok_or_else(|| anyhow!("the school's calendar has no school days"))?;
        let year = academic_year(first);
        let days: Vec<NaiveDate> = school
            .calendar
            .school_days()
            .iter()
            .copied()
            .take_while(|d| academic_year(*d) == year)
            .collect();
        if days.len() < SAMPLE_DAYS {
            return Err(anyhow!(
                "the school's calendar has {} school days in its first year; the sample needs {SAMPLE_DAYS}",
                days.len()
            ));
        }
        let upn = Upn::parse("A123456789012").map_err(|e| anyhow!("sample UPN: {e}"))?;
        let pupil = Pupil {
            upn,
            forename: "Ada".into(),
            surname: "Lovelace".into(),
            date_of_birth: NaiveDate::from_ymd_opt(year - 9, 5, 1).unwrap_or(first),
            year_group: "4".into(),
            reg_group: "4B".into(),
            gender: "F".into(),
            fsm: false,
            sen: Sen::parse("N").ok_or_else(|| anyhow!("SEN code"))?,
            eal: false,
            ethnicity: "WBRI".into(),
            lac: false,
            social_worker: true,
            young_carer: false,
            concern: true,
            admission_date: first,
            leaving_date: None,
        };
        let contact = |priority, name: &str, relationship: &str, mobile: &str, pr| ContactData {
            priority,
            name: name.into(),
            relationship: relationship.into(),
            phone: message::display_phone(mobile),
            email: format!("{}@example.org", name.to_lowercase().replace(' ', ".")),
            address: "1 High Street, Whitstable, CT5 1AA".into(),
            parental_responsibility: pr,
        };
        Ok(SamplePupil {
            pupil,
            contacts: vec![
                contact(1, "Anne Lovelace", "Mother", "+447700900001", true),
                contact(2, "Charles Lovelace", "Father", "+447700900002", true),
                contact(3, "Grace Hopper", "Grandmother", "+447700900003", false),
            ],
            days,
            today: SAMPLE_DAYS - 1,
        })
    }

    /// The base register: present, with the absences and late arrivals a pupil below 90 %
    /// might have over twelve weeks, up to and including `today`.
    fn base(&self, until: usize) -> Scene {
        let mut scene = Scene {
            marks: HashMap::new(),
            as_of: NaiveDateTime::default(),
            case: None,
            history: Vec::new(),
            reason: String::new(),
        };
        for (i, day) in self.days.iter().enumerate().take(until + 1) {
            let (am, pm) = match i {
                5 | 6 | 25 | 26 | 27 => ("I", "I"),
                12 => ("M", "\\"),
                44..=46 => ("G", "G"),
                52 => ("O", "O"),
                57 => ("O", "\\"),
                32 | 36 | 41 | 53 => ("L", "\\"),
                48 | 55 => ("U", "\\"),
                _ => ("/", "\\"),
            };
            scene.mark(*day, Session::Am, am);
            scene.mark(*day, Session::Pm, pm);
        }
        scene
    }

    /// The school day `back` school days before the sample's today (never before the first:
    /// a school's own policy may count further back than the sample goes).
    fn back(&self, back: usize) -> NaiveDate {
        self.days[self.today.saturating_sub(back)]
    }

    /// The sample as `stage` sees it when it fires.
    fn scene(&self, school: &SchoolConfig, policy: &Policy, stage: &Stage) -> Scene {
        let today = self.days[self.today];
        let triggers = stage.trigger.flatten();
        let mut scene = self.base(self.today);
        scene.as_of = today.and_time(NaiveTime::from_hms_opt(16, 0, 0).unwrap_or(NaiveTime::MIN));
        if is_first_day(stage) {
            // This morning's register has closed with no mark for Ada.
            scene.mark(today, Session::Am, "");
            scene.mark(today, Session::Pm, "");
            scene.as_of = today.and_time(school.am_register_close)
                + TimeDelta::minutes(i64::from(policy.settings.grace_minutes));
        }
        for t in &triggers {
            match t {
                Trigger::ConsecutiveAbsentDays {
                    days,
                    unauthorised_only,
                    ..
                } => {
                    // A run ending today: the last five days still N, earlier ones recoded
                    // (an N must be resolved within five school days).
                    let n = *days as usize;
                    for back in 0..n {
                        let code = if back < 5 {
                            "N"
                        } else if *unauthorised_only {
                            "O"
                        } else {
                            "I"
                        };
                        scene.day(self.back(back), code);
                    }
                }
                Trigger::Illness { sessions, .. } => {
                    let n = (*sessions as usize).div_ceil(2);
                    for back in 0..n {
                        scene.day(self.back(back), "I");
                    }
                }
                Trigger::UnresolvedN { school_days } => {
                    let day = self.back(*school_days as usize + 1);
                    scene.mark(day, Session::Am, "N");
                }
                Trigger::SevereAbsence { .. } => {
                    for back in 0..32 {
                        scene.day(self.back(back), "O");
                    }
                }
                Trigger::Improved { school_days, .. } => {
                    // Every day present since the school acted.
                    for back in 0..=(*school_days as usize + 1) {
                        let day = self.back(back);
                        scene.mark(day, Session::Am, "/");
                        scene.mark(day, Session::Pm, "\\");
                    }
                }
                _ => {}
            }
        }
        // The case as the stage found it: at the stage it judges, or the one it requires, or
        // the ladder's previous step; entered long enough ago for the judgement to be due.
        let judged = triggers.iter().find_map(|t| match t {
            Trigger::NoImprovement {
                stage, school_days, ..
            }
            | Trigger::Improved {
                stage, school_days, ..
            } => Some((stage.clone(), *school_days as usize)),
            _ => None,
        });
        let index = policy
            .stages
            .iter()
            .position(|s| s.id == stage.id)
            .unwrap_or(0);
        let previous = policy.stages[..index]
            .iter()
            .rev()
            .find(|s| s.moves_case())
            .map(|s| s.id.clone());
        let (case_stage, entered_back) = match (&judged, &stage.requires) {
            (Some((s, n)), _) => (Some(s.clone()), n + 2),
            (None, Some(r)) => (Some(r.clone()), 5),
            (None, None) => (previous.filter(|_| stage.moves_case()), 5),
        };
        let ladder: Vec<&Stage> = policy.stages[..index]
            .iter()
            .filter(|s| s.moves_case())
            .collect();
        if let Some(case_stage) = case_stage {
            let entered = self.back(entered_back);
            let upto = ladder
                .iter()
                .position(|s| s.id == case_stage)
                .map_or(ladder.len(), |p| p + 1);
            let steps = &ladder[..upto];
            let opened_back = entered_back + 3 * steps.len().saturating_sub(1);
            let opened = self.back(opened_back);
            scene.case = Some(CaseState {
                opened_on: opened,
                stage: case_stage,
                stage_entered: entered,
            });
            for (i, s) in steps.iter().enumerate() {
                let day = self.back(opened_back.saturating_sub(3 * i));
                scene.history.push(format!("{day}: {}: {}", s.id, s.title));
            }
        }
        let ctx = Context {
            policy,
            school,
            now: scene.as_of,
            previous_pass: None,
        };
        let years = scene.years();
        let register = PupilRegister {
            admission: self.pupil.admission_date,
            leaving: None,
            years: &years,
            loaded_from_year: i32::MIN,
        };
        scene.reason = crate::escalation::trigger::explain(
            &ctx,
            &self.pupil,
            register,
            scene.case.as_ref(),
            &stage.trigger,
        )
        .unwrap_or_else(|| format!("(sample) {}", stage.title));
        scene
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A page listing every action and its files, in ladder order.
fn index_html(school: &SchoolConfig, policy: &Policy, written: &[Written]) -> String {
    let mut rows = String::new();
    for w in written {
        let stage_title = policy
            .stages
            .iter()
            .find(|s| s.id == w.stage)
            .map_or("", |s| s.title.as_str());
        let links: Vec<String> = w
            .files
            .iter()
            .filter_map(|f| f.file_name().and_then(|n| n.to_str()))
            .map(|n| format!("<a href=\"{0}\">{0}</a>", escape(n)))
            .collect();
        let _ = writeln!(
            rows,
            "<tr><td><b>{}</b><br>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&w.stage),
            escape(stage_title),
            escape(w.channel.as_str()),
            escape(&w.to.as_str().replace('_', " ")),
            links.join("<br>"),
            escape(w.segments.as_deref().unwrap_or(""))
        );
    }
    format!(
        "<!doctype html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\"><title>{policy}: every message</title>\n\
         <style>body{{font-family:Arial,sans-serif;font-size:14px;max-width:1100px;margin:16px auto;padding:0 12px}}\
         table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ccc;padding:6px;text-align:left;vertical-align:top}}</style>\n\
         </head><body>\n<h1>{policy}: every message, for a sample pupil</h1>\n\
         <p>{title}. Written as {school} would send them, for Ada Lovelace (Year 4, a sample pupil).</p>\n\
         <table><tr><th>Stage</th><th>Channel</th><th>To</th><th>Files</th><th>Text length</th></tr>\n{rows}</table>\n</body></html>\n",
        policy = escape(&policy.name),
        title = escape(&policy.title),
        school = escape(&school.name),
    )
}
