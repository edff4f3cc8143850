//! Message templates: handlebars files in `templates/`, built into the binary, each replaceable
//! by a school's own file of the same name (`templates = "DIR"` in the school's config).
//!
//! Files are named `NAME.PART.hbs`; the parts a channel needs are
//! - SMS: `sms`;
//! - email and LA returns: `subject`, `txt` and optionally `html`, plus `letter` which, when
//!   present, is attached as a PDF;
//! - letters: `letter` (first line the heading, then paragraphs separated by blank lines);
//! - staff tasks: `task` (one line for the call or task list).
//!
//! A policy may name a template that has no file of its own for a part: the generic one for
//! the audience is used (`_family`, `_staff`, `_la`, `_task`), which states the stage, the
//! reason, the pupil, the dates and how to reply, so no message goes out empty.
//!
//! Strict mode is on (a misspelt field is an error, not a blank), and there are two
//! registries because escaping is per registry: HTML is escaped, text and SMS are not (or
//! they would read `&lt;`).

use std::collections::BTreeMap;
use std::path::Path;

use handlebars::Handlebars;
use serde::Serialize;

use crate::escalation::policy::{Channel, Recipient};

/// `("NAME.PART", include_str!("../../templates/NAME.PART.hbs"))` for each name given.
macro_rules! shipped {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name, ".hbs")))),*]
    };
}

/// The shipped templates, built in so an installed daemon needs no files beside it. Every file
/// in `templates/` is listed (a test checks), each message template with the policy line it
/// implements in a comment at its top.
const SHIPPED: &[(&str, &str)] = shipped![
    // Reports: whole pages rendered from a report's data (see `report`).
    "report.html",
    "newsletter.html",
    "newsletter.txt",
    "newsletter_why.txt",
    "certificates.html",
    // Generic fallbacks for a school's own policy that names a template with no file.
    "_family.sms",
    "_family.subject",
    "_family.txt",
    "_family.html",
    "_family.letter",
    "_staff.subject",
    "_staff.txt",
    "_la.subject",
    "_la.txt",
    "_task.task",
    // Shared pieces, used as partials ({{> _part.name}}).
    "_part.penalty_law.letter",
    "_part.call_contacts.task",
    "_part.meeting_bring.task",
    "_part.social_worker.txt",
    "alert.subject",
    "alert.txt",
    // An alert's text fallback (`[delivery] alerts_fallback = "sms:…"`).
    "alert.sms",
    "reply_acknowledgement.sms",
    // DfE baseline.
    "first_day.sms",
    "first_day_call.task",
    "first_day_social_worker.subject",
    "first_day_social_worker.txt",
    "day_three_call.task",
    "day_three.subject",
    "day_three.txt",
    "day_three.html",
    "day_three.letter",
    "unresolved_n.task",
    "la_10_day_return.subject",
    "la_10_day_return.txt",
    "la_10_day_dsl.subject",
    "la_10_day_dsl.txt",
    "la_sickness_return.subject",
    "la_sickness_return.txt",
    "penalty_notice_review.task",
    "persistent_absence.letter",
    "persistent_absence_meeting.task",
    "severe_absence_dsl.subject",
    "severe_absence_dsl.txt",
    "severe_absence_visit.task",
    "cme_enquiries.task",
    "la_cme_notice.subject",
    "la_cme_notice.txt",
    "cme_social_worker.subject",
    "cme_social_worker.txt",
    "la_part_time_notice.subject",
    "la_part_time_notice.txt",
    "part_time_review.task",
    "la_new_pupil_notice.subject",
    "la_new_pupil_notice.txt",
    "la_deletion_notice.subject",
    "la_deletion_notice.txt",
    "deletion_social_worker.subject",
    "deletion_social_worker.txt",
    // Inspire, Russell Street: illness still without medical evidence, reviewed.
    "unevidenced_illness_review.task",
    // ISP Whitstable, James Marks Academy, Russell Street: severe absence, the joint approach.
    "la_severe_absence_notice.subject",
    "la_severe_absence_notice.txt",
    "severe_absence_meeting.task",
    // ISP Whitstable.
    "isp_first_day_call.task",
    "isp_first_day.sms",
    "isp_concerns_list_absent.subject",
    "isp_concerns_list_absent.txt",
    "isp_key_worker_call.task",
    "isp_social_worker_absent.subject",
    "isp_social_worker_absent.txt",
    "isp_concern_record_call.task",
    "isp_concern_record.subject",
    "isp_concern_record.txt",
    "isp_cause_for_concern_call.task",
    "isp_cause_for_concern_visit.task",
    "isp_lateness_pattern.subject",
    "isp_lateness_pattern.txt",
    "isp_lateness_concern.letter",
    "isp_religious_observance.task",
    "isp_absence_pattern_meeting.task",
    // James Marks Academy.
    "jma_daily_call.task",
    "jma_social_worker_absent.subject",
    "jma_social_worker_absent.txt",
    "jma_emergency_contacts_call.task",
    "jma_absence_letter.letter",
    "jma_safeguarding_home_visit.task",
    "jma_la_day_10_no_contact.subject",
    "jma_la_day_10_no_contact.txt",
    "jma_absent_from_education.subject",
    "jma_absent_from_education.txt",
    "jma_below_target_call.task",
    "jma_attendance_meeting.task",
    "jma_la_attendance_support.task",
    "jma_legal_sanctions_review.task",
    "jma_absence_pattern_call.task",
    "jma_persistent_lateness_meeting.task",
    // Russell Street School.
    "rss_stage_one_call.task",
    "rss_social_worker_absent.subject",
    "rss_social_worker_absent.txt",
    "rss_stage_two_call.task",
    "rss_attendance_meeting.task",
    "rss_attendance_meeting_follow_up.subject",
    "rss_attendance_meeting_follow_up.txt",
    "rss_attendance_meeting_follow_up.html",
    "rss_attendance_contract.task",
    "rss_persistent_absence_meeting.task",
    // Inspire Education Community Trust.
    "inspire_pastoral_first_day_call.task",
    "inspire_social_worker_absent.subject",
    "inspire_social_worker_absent.txt",
    "inspire_unresolved_n.task",
    "inspire_signed_letter_run.letter",
    "inspire_signed_letter_term.letter",
    "inspire_pastoral_talk.task",
    "inspire_96_call_home.task",
    "inspire_concern_letter.letter",
    "inspire_monitoring_letter.letter",
    "inspire_monitoring_call.task",
    "inspire_targets_meeting.task",
    "inspire_slt_congratulations.letter",
    "inspire_four_week_monitoring.task",
    "inspire_final_written_warning.letter",
    "inspire_penalty_notice_review.task",
    "inspire_emergency_contacts.task",
    "inspire_medical_evidence.letter",
];

/// The names of the shipped template files, "NAME.PART" (for tests and `check`).
pub fn shipped_names() -> impl Iterator<Item = &'static str> {
    SHIPPED.iter().map(|(name, _)| *name)
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {file}: {message}")]
    Syntax { file: String, message: String },
    #[error("rendering {name}: {message}")]
    Render { name: String, message: String },
    #[error("cannot read templates folder {dir}: {message}")]
    Folder { dir: String, message: String },
}

/// Who reads a message, which decides the generic template it falls back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Family,
    Staff,
    La,
}

impl Audience {
    pub fn of(to: &str) -> Audience {
        match to {
            "contacts" | "parental_responsibility" | "all_contacts" => Audience::Family,
            "la" => Audience::La,
            _ => Audience::Staff,
        }
    }
    fn generic(self) -> &'static str {
        match self {
            Audience::Family => "_family",
            Audience::Staff => "_staff",
            Audience::La => "_la",
        }
    }
}

impl From<Recipient> for Audience {
    fn from(r: Recipient) -> Audience {
        Audience::of(r.as_str())
    }
}

/// A message rendered for its channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub letter: Option<LetterText>,
    /// The template files used, e.g. `["day_three.subject", "_family.html"]`.
    pub used: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LetterText {
    pub heading: String,
    pub paragraphs: Vec<String>,
}

pub struct Templates {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
}

impl Templates {
    /// The shipped templates, with any in `overrides` replacing those of the same name.
    pub fn load(overrides: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        let mut sources: BTreeMap<String, (String, String)> = SHIPPED
            .iter()
            .map(|(name, body)| {
                (
                    (*name).to_owned(),
                    (
                        format!("templates/{name}.hbs (built in)"),
                        (*body).to_owned(),
                    ),
                )
            })
            .collect();
        if let Some(dir) = overrides {
            let folder_error = |e: std::io::Error| TemplateError::Folder {
                dir: dir.display().to_string(),
                message: e.to_string(),
            };
            for entry in std::fs::read_dir(dir).map_err(folder_error)? {
                let path = entry.map_err(folder_error)?.path();
                let Some(name) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".hbs"))
                else {
                    continue;
                };
                let body = std::fs::read_to_string(&path).map_err(folder_error)?;
                sources.insert(name.to_owned(), (path.display().to_string(), body));
            }
        }
        for (name, (file, body)) in &sources {
            for registry in [&mut html, &mut text] {
                registry.register_template_string(name, body).map_err(|e| {
                    TemplateError::Syntax {
                        file: file.clone(),
                        message: e.to_string(),
                    }
                })?;
            }
        }
        Ok(Templates { html, text })
    }

    fn has(&self, name: &str) -> bool {
        self.text.has_template(name)
    }

    /// The template file that serves `name`'s `part`: its own, else the generic one.
    fn pick(&self, name: &str, part: &str, generic: &str) -> Option<String> {
        let own = format!("{name}.{part}");
        if self.has(&own) {
            return Some(own);
        }
        let fallback = format!("{generic}.{part}");
        self.has(&fallback).then_some(fallback)
    }

    /// Renders a whole template without escaping (plain text, CSV-safe text).
    pub fn render_text(
        &self,
        template: &str,
        data: &impl Serialize,
    ) -> Result<String, TemplateError> {
        self.text
            .render(template, data)
            .map_err(|e| TemplateError::Render {
                name: template.to_owned(),
                message: e.to_string(),
            })
    }

    /// Renders a whole template as HTML: every `{{value}}` is escaped.
    pub fn render_html(
        &self,
        template: &str,
        data: &impl Serialize,
    ) -> Result<String, TemplateError> {
        self.html
            .render(template, data)
            .map_err(|e| TemplateError::Render {
                name: template.to_owned(),
                message: e.to_string(),
            })
    }

    /// Renders template `name` for a channel and audience.
    pub fn render(
        &self,
        name: &str,
        channel: Channel,
        audience: Audience,
        data: &impl Serialize,
    ) -> Result<Rendered, TemplateError> {
        let mut out = Rendered::default();
        let generic = audience.generic();
        let missing = |part: &str| TemplateError::Render {
            name: format!("{name}.{part}"),
            message: format!(
                "no template {name}.{part}.hbs and no {generic}.{part}.hbs to fall back on"
            ),
        };
        match channel {
            Channel::Sms => {
                let t = self
                    .pick(name, "sms", "_family")
                    .ok_or_else(|| missing("sms"))?;
                out.text = gsm_punctuation(self.render_text(&t, data)?.trim());
                out.used.push(t);
            }
            Channel::Task => {
                let t = self
                    .pick(name, "task", "_task")
                    .ok_or_else(|| missing("task"))?;
                out.text = self.render_text(&t, data)?.trim().to_owned();
                out.used.push(t);
            }
            Channel::Letter => {
                let t = self
                    .pick(name, "letter", "_family")
                    .ok_or_else(|| missing("letter"))?;
                let letter = parse_letter(&self.render_text(&t, data)?);
                out.subject.clone_from(&letter.heading);
                out.text = letter.paragraphs.join("\n\n");
                out.letter = Some(letter);
                out.used.push(t);
            }
            Channel::Email | Channel::LaReturn => {
                let subject = self
                    .pick(name, "subject", generic)
                    .ok_or_else(|| missing("subject"))?;
                out.subject = self.render_text(&subject, data)?.trim().to_owned();
                out.used.push(subject);
                let own_text = self.has(&format!("{name}.txt"));
                let body = self
                    .pick(name, "txt", generic)
                    .ok_or_else(|| missing("txt"))?;
                out.text = self.render_text(&body, data)?;
                out.used.push(body);
                // A school's own plain text wins over the generic HTML, so HTML is only used
                // when it belongs to the same template as the text.
                let html = if own_text {
                    self.has(&format!("{name}.html"))
                        .then(|| format!("{name}.html"))
                } else {
                    self.pick(name, "html", generic)
                };
                if let Some(html) = html {
                    out.html = Some(self.render_html(&html, data)?);
                    out.used.push(html);
                }
                let letter = format!("{name}.letter");
                if self.has(&letter) {
                    out.letter = Some(parse_letter(&self.render_text(&letter, data)?));
                    out.used.push(letter);
                }
            }
        }
        Ok(out)
    }

    /// The parts of template `name` a channel needs that have no file of their own and would
    /// come from the generic template for the audience (`_family`, `_staff`, `_la`, `_task`).
    /// A family email needs its own HTML too; a staff email or LA return is plain text.
    pub fn generic_parts(&self, name: &str, channel: Channel, audience: Audience) -> Vec<String> {
        let parts: &[&str] = match (channel, audience) {
            (Channel::Sms, _) => &["sms"],
            (Channel::Task, _) => &["task"],
            (Channel::Letter, _) => &["letter"],
            (Channel::Email, Audience::Family) => &["subject", "txt", "html"],
            (Channel::Email | Channel::LaReturn, _) => &["subject", "txt"],
        };
        parts
            .iter()
            .filter(|part| !self.has(&format!("{name}.{part}")))
            .map(|part| (*part).to_owned())
            .collect()
    }

    /// Every action of `policy` whose message would be written, in part, by a generic
    /// template: `rollcall check` lists them, and no shipped policy has any.
    pub fn fallbacks(&self, policy: &crate::escalation::policy::Policy) -> Vec<Fallback> {
        let mut out = Vec::new();
        for stage in &policy.stages {
            for (index, action) in stage.actions.iter().enumerate() {
                let parts = self.generic_parts(&action.template, action.channel, action.to.into());
                if !parts.is_empty() {
                    out.push(Fallback {
                        stage: stage.id.clone(),
                        action: index,
                        channel: action.channel,
                        to: action.to,
                        template: action.template.clone(),
                        parts,
                    });
                }
            }
        }
        out
    }
}

/// An action whose message falls back, in part, on a generic template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    pub stage: String,
    pub action: usize,
    pub channel: Channel,
    pub to: Recipient,
    pub template: String,
    /// The parts with no file of their own: "sms", "subject", "txt", "html", "letter", "task".
    pub parts: Vec<String>,
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let generic = match (self.channel, Audience::from(self.to)) {
            (Channel::Task, _) => "_task",
            (_, audience) => audience.generic(),
        };
        write!(
            f,
            "stage \"{}\" actions[{}] ({} to {}): template \"{}\" has no {} of its own; the generic {} text is used",
            self.stage,
            self.action,
            self.channel.as_str(),
            self.to.as_str(),
            self.template,
            self.parts
                .iter()
                .map(|p| format!("{}.{p}.hbs", self.template))
                .collect::<Vec<_>>()
                .join(", "),
            generic
        )
    }
}

/// Typographic punctuation a school's name or a template may carry (’ “ ” – … ), folded to
/// its GSM-7 equivalent: one curly apostrophe would otherwise send the whole text as UCS-2,
/// 70 characters a segment instead of 160.
pub fn gsm_punctuation(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let folded: &[char] = match c {
                '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' => &['\''],
                '\u{201C}' | '\u{201D}' | '\u{201F}' | '\u{2033}' => &['"'],
                '\u{2013}' | '\u{2014}' | '\u{2212}' => &['-'],
                '\u{2026}' => &['.', '.', '.'],
                '\u{00A0}' | '\u{202F}' => &[' '],
                _ => return vec![c],
            };
            folded.to_vec()
        })
        .collect()
}

/// First non-empty line is the heading; the rest are paragraphs separated by blank lines. A
/// line starting "- " is a list item: it starts a new line of its paragraph, with a bullet.
fn parse_letter(text: &str) -> LetterText {
    let mut lines = text.lines().skip_while(|l| l.trim().is_empty());
    let heading = lines.next().unwrap_or_default().trim().to_owned();
    let mut paragraphs = Vec::new();
    let mut current = String::new();
    let mut in_list = false;
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            in_list = false;
            continue;
        }
        let (item, words) = match line.strip_prefix("- ") {
            Some(rest) => (true, format!("\u{2022} {}", rest.trim_start())),
            None => (false, line.to_owned()),
        };
        if !current.is_empty() {
            current.push(if item || in_list { '\n' } else { ' ' });
        }
        current.push_str(&words);
        in_list = item;
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    LetterText {
        heading,
        paragraphs,
    }
}

/// Everything a template can use. Every field is always present (strict mode).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MessageData {
    pub school: SchoolData,
    /// Who the message is to, as written on it ("Anne Lovelace and Charles Lovelace").
    pub recipient: String,
    /// The day the message is written, "Monday 3 November 2025".
    pub today: String,
    pub pupils: Vec<PupilData>,
    /// The first pupil, for templates about one child.
    pub pupil: PupilData,
    /// Forenames joined for a sentence: "Ada", "Ada and Charles".
    pub names: String,
    pub several: bool,
    /// How to reply, worded for the channel.
    pub reply: String,
    /// For alerts: what happened.
    pub message: String,
    /// What the person who approved the message wrote for it (a policy action's `note`:
    /// the strategies agreed at a meeting); empty when none was asked for or given.
    pub note: String,
    /// The school's attendance target from its policy, "96%".
    pub target: String,
    /// The national framework for penalty notices (what legal letters must state).
    pub penalty: PenaltyData,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SchoolData {
    pub name: String,
    pub phone: String,
    pub email: String,
    pub address: Vec<String>,
    /// The address on one line, "Church Lane, Canterbury CT1 2AA" (empty when none is set).
    pub address_line: String,
    /// How to reach the office in a sentence: "call 01227 771172 or email office@…".
    pub contact_line: String,
    /// Who signs this message: the stage's or action's signatory, else `[school.contact]`.
    pub signatory: String,
    pub signatory_role: String,
}

/// The 2024 national framework for penalty notices (DOMAIN.md), as a letter states it.
#[derive(Debug, Clone, Serialize)]
pub struct PenaltyData {
    /// "£80": a first notice paid within `first_days`.
    pub first_amount: String,
    pub first_days: u32,
    /// "£160": a first notice paid after `first_days` but within `full_days`.
    pub full_amount: String,
    pub full_days: u32,
    /// "£160": a second notice to the same parent for the same child within `within_years`.
    pub second_amount: String,
    pub within_years: u32,
    /// The threshold at which a notice must be considered: sessions within school weeks.
    pub threshold_sessions: u32,
    pub threshold_weeks: u32,
}

impl Default for PenaltyData {
    fn default() -> Self {
        PenaltyData {
            first_amount: "£80".into(),
            first_days: 21,
            full_amount: "£160".into(),
            full_days: 28,
            second_amount: "£160".into(),
            within_years: 3,
            threshold_sessions: 10,
            threshold_weeks: 10,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PupilData {
    pub forename: String,
    pub surname: String,
    pub name: String,
    pub upn: String,
    pub date_of_birth: String,
    pub year_group: String,
    pub reg_group: String,
    /// For staff only: family-facing templates never show the stage id or title.
    pub stage: String,
    pub stage_title: String,
    /// The engine's reason, worded for staff.
    pub reason: String,
    /// The date(s) and session(s) the message is about, worded for a parent.
    pub concerned: String,
    /// "this morning" or "this afternoon", for a message about today's register.
    pub session_words: String,
    /// The day the decision was made, "Monday 3 November 2025".
    pub decided_on: String,
    /// Year-to-date attendance, "91.2%".
    pub attendance: String,
    pub possible_sessions: u32,
    pub absence_sessions: u32,
    pub unauthorised_sessions: u32,
    /// Each absent session of the episode, for staff and the LA: "Mon 3 Nov 2025 AM: O".
    pub sessions: Vec<String>,
    /// The same sessions in words for a parent: "Monday 3 November 2025, morning: illness".
    pub absences: Vec<String>,
    /// Sessions of the episode with no reason yet (N, or today's unmarked register).
    pub unexplained_sessions: u32,
    /// The reasons the register gives for the episode, in words: "Illness (authorised)".
    pub episode_reasons: Vec<String>,
    /// Five school days after the decision (the time an N has to be resolved in), for what a
    /// family is asked to send: "Friday 14 November 2025".
    pub respond_by: String,
    /// This school year to the decision.
    pub year: Figures,
    /// This term to the decision.
    pub term: Figures,
    /// The window the stage's trigger measured (the figure that matters), else `year`.
    pub measured: Figures,
    /// The percentage the stage compares with, "95%" (empty when it compares none).
    pub threshold: String,
    /// When the school looks again, for stages a later stage judges.
    pub review: ReviewData,
    pub contacts: Vec<ContactData>,
    /// The case so far: "2025-11-05: day_three: 3 consecutive …".
    pub history: Vec<String>,
}

/// A pupil's figures over one window, counted from the register.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// "Wednesday 3 September 2025".
    pub from: String,
    pub to: String,
    /// "3 September to 14 November 2025".
    pub span: String,
    /// Whether the window holds a possible session at all.
    pub has_sessions: bool,
    pub possible_sessions: u32,
    pub attended_sessions: u32,
    pub absent_sessions: u32,
    pub authorised_sessions: u32,
    pub unauthorised_sessions: u32,
    pub illness_sessions: u32,
    /// Late before the register closed (L) and after it (U).
    pub late_sessions: u32,
    pub late_after_close_sessions: u32,
    /// "93.1%" (or "not yet measured").
    pub attendance: String,
    /// Unauthorised absence as a share of possible sessions, "6.2%".
    pub unauthorised_share: String,
    /// Absent sessions as days: "4 days", "4½ days", "1 day", "half a day".
    pub days_missed: String,
    /// Sessions by reason, most first, in words: "4 sessions of illness".
    pub reasons: Vec<String>,
    /// Each absent session in words (at most [`LIST_LIMIT`] in each list; the rest are counted
    /// in `more_absences`, `more_lates`, `more_unauthorised`).
    pub absences: Vec<String>,
    /// Each late arrival in words.
    pub lates: Vec<String>,
    /// Each session of unauthorised absence in words (what a legal letter lists).
    pub unauthorised: Vec<String>,
    pub more_absences: u32,
    pub more_lates: u32,
    pub more_unauthorised: u32,
}

/// How many sessions a list in a letter shows before summing up the rest.
pub const LIST_LIMIT: usize = 20;

/// When the school looks at attendance again, for stages a later stage of the policy judges.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReviewData {
    /// Whether a later stage judges this one.
    pub due: bool,
    pub school_days: u32,
    /// "four school weeks", "two school weeks", "15 school days".
    pub period: String,
    /// The day that many school days after the decision, "Friday 12 December 2025".
    pub date: String,
    /// What the later stage looks for, in words: "attendance below 90%", "unauthorised
    /// absence of more than 10% of sessions".
    pub looks_for: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ContactData {
    /// Priority order, 1 first.
    pub priority: i64,
    pub name: String,
    pub relationship: String,
    /// As dialled in the UK: "07700 900001".
    pub phone: String,
    pub email: String,
    pub address: String,
    pub parental_responsibility: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> MessageData {
        let pupil = PupilData {
            forename: "Ada".into(),
            surname: "Lovelace".into(),
            name: "Ada Lovelace".into(),
            concerned: "the morning session on Monday 3 November 2025".into(),
            session_words: "this morning".into(),
            decided_on: "Monday 3 November 2025".into(),
            stage_title: "First day".into(),
            ..PupilData::default()
        };
        MessageData {
            school: SchoolData {
                name: "Oak <Primary> & Nursery".into(),
                phone: "01227 000000".into(),
                ..SchoolData::default()
            },
            recipient: "Anne Lovelace".into(),
            today: "Monday 3 November 2025".into(),
            pupils: vec![pupil.clone()],
            pupil,
            names: "Ada".into(),
            reply: "Reply to this text or call 01227 000000.".into(),
            ..MessageData::default()
        }
    }

    /// An inbox list shows subjects to whoever is looking at the screen (a parent's work PC,
    /// the school office): no shipped subject names a child (issue 12, item 9).
    #[test]
    fn no_subject_names_the_child() {
        let t = Templates::load(None).expect("shipped templates parse");
        let data = data();
        for (name, audience) in [
            ("day_three", Audience::Family),
            ("first_day", Audience::Family),
            ("persistent_absence", Audience::Family),
            ("first_day_social_worker", Audience::Staff),
            ("la_10_day_dsl", Audience::Staff),
        ] {
            let email = t
                .render(name, Channel::Email, audience, &data)
                .expect("renders");
            for personal in ["Ada", "Lovelace"] {
                assert!(
                    !email.subject.contains(personal),
                    "{name}: {:?} names the child",
                    email.subject
                );
            }
            assert!(!email.subject.is_empty(), "{name}");
        }
    }

    #[test]
    fn html_is_escaped_but_text_and_sms_are_not() {
        let t = Templates::load(None).expect("shipped templates parse");
        let email = t
            .render("day_three", Channel::Email, Audience::Family, &data())
            .expect("renders");
        assert!(
            email.text.contains("Oak <Primary> & Nursery"),
            "{}",
            email.text
        );
        let html = email.html.expect("day three has HTML");
        assert!(html.contains("Oak &lt;Primary&gt; &amp; Nursery"), "{html}");
        assert!(email.letter.is_some(), "day three attaches a letter");
        let sms = t
            .render("first_day", Channel::Sms, Audience::Family, &data())
            .expect("renders");
        assert!(sms.text.contains("Oak <Primary> & Nursery"), "{}", sms.text);
        assert!(sms.text.contains("Ada"), "{}", sms.text);
        assert!(sms.text.contains("Monday 3 November 2025"), "{}", sms.text);
    }

    #[test]
    fn a_template_without_its_own_file_uses_the_generic_one_for_its_audience() {
        let t = Templates::load(None).expect("shipped templates parse");
        let r = t
            .render("our_own_text", Channel::Sms, Audience::Family, &data())
            .expect("renders");
        assert_eq!(r.used, vec!["_family.sms".to_owned()]);
        assert!(r.text.contains("Ada"), "{}", r.text);
        assert!(!r.text.contains("First day"), "no stage title: {}", r.text);
    }

    #[test]
    fn every_file_in_templates_is_built_in() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let shipped: Vec<&str> = shipped_names().collect();
        for entry in std::fs::read_dir(&dir).expect("templates/") {
            let name = entry.expect("entry").file_name();
            let name = name.to_str().expect("utf-8 name");
            let Some(stem) = name.strip_suffix(".hbs") else {
                continue;
            };
            // The call list is built into src/channel/call_list.rs, which renders it itself.
            if stem == "call_list.html" {
                continue;
            }
            assert!(
                shipped.contains(&stem),
                "templates/{name} is not listed in SHIPPED, so an installed daemon would not have it"
            );
        }
    }

    #[test]
    fn letter_lists_keep_their_lines_and_paragraphs_join_the_rest() {
        let letter = parse_letter(
            "\nRe: Ada\n\nDear Anne,\n\nThe register shows:\n- Monday, morning: illness\n- Monday, afternoon: illness\nPlease call us.\n\nOne\nparagraph.\n",
        );
        assert_eq!(letter.heading, "Re: Ada");
        assert_eq!(
            letter.paragraphs,
            vec![
                "Dear Anne,".to_owned(),
                "The register shows:\n\u{2022} Monday, morning: illness\n\u{2022} Monday, afternoon: illness\nPlease call us."
                    .to_owned(),
                "One paragraph.".to_owned(),
            ]
        );
    }

    #[test]
    fn typographic_punctuation_in_a_text_folds_to_gsm_7() {
        let folded =
            gsm_punctuation("St Mary\u{2019}s \u{201C}Aided\u{201D} \u{2013} call\u{2026}");
        assert_eq!(folded, "St Mary's \"Aided\" - call...");
        let segments = crate::delivery::channel::sms::segments(&folded);
        assert_eq!(
            segments.encoding,
            crate::delivery::channel::sms::Encoding::Gsm7
        );
    }

    #[test]
    fn fallbacks_name_each_action_and_part_without_a_file_of_its_own() {
        let policy = crate::escalation::policy::parse(
            r#"
name = "own"
title = "A school's own ladder"
[[stage]]
id = "first_day"
title = "First day"
trigger = { first_day = {} }
case = "none"
actions = [
  { channel = "sms", to = "contacts", template = "first_day" },
  { channel = "email", to = "parental_responsibility", template = "our_letter_home" },
  { channel = "task", to = "attendance_officer", task = "call", template = "our_call" },
]
"#,
            "own.toml",
        )
        .expect("valid");
        let t = Templates::load(None).expect("shipped templates parse");
        let found = t.fallbacks(&policy);
        let summary: Vec<(usize, Vec<String>)> =
            found.iter().map(|f| (f.action, f.parts.clone())).collect();
        assert_eq!(
            summary,
            vec![
                (1, vec!["subject".into(), "txt".into(), "html".into()]),
                (2, vec!["task".into()]),
            ]
        );
        let line = found[0].to_string();
        assert!(line.contains("our_letter_home.subject.hbs"), "{line}");
        assert!(line.contains("_family"), "{line}");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("our_call.task.hbs"), "Ring {{pupil.name}}").expect("write");
        let own = Templates::load(Some(dir.path())).expect("parses");
        assert_eq!(
            own.fallbacks(&policy).len(),
            1,
            "the school's own task file counts"
        );
    }

    #[test]
    fn a_misspelt_field_is_an_error_not_a_blank() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("first_day.sms.hbs"),
            "Hello {{pupil.forname}}",
        )
        .expect("write");
        let t = Templates::load(Some(dir.path())).expect("parses");
        let err = t
            .render("first_day", Channel::Sms, Audience::Family, &data())
            .expect_err("strict mode");
        assert!(err.to_string().contains("first_day.sms"), "{err}");
    }

    #[test]
    fn a_school_override_replaces_the_shipped_template() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("first_day.sms.hbs"),
            "{{pupil.forename}} is absent",
        )
        .expect("write");
        let t = Templates::load(Some(dir.path())).expect("parses");
        let r = t
            .render("first_day", Channel::Sms, Audience::Family, &data())
            .expect("renders");
        assert_eq!(r.text, "Ada is absent");
    }
}
