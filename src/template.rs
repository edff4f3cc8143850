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

use crate::policy::{Channel, Recipient};

/// The shipped templates, built in so an installed daemon needs no files beside it.
const SHIPPED: &[(&str, &str)] = &[
    // Reports: whole pages rendered from a report's data (see `report`).
    ("report.html", include_str!("../templates/report.html.hbs")),
    (
        "newsletter.html",
        include_str!("../templates/newsletter.html.hbs"),
    ),
    (
        "newsletter.txt",
        include_str!("../templates/newsletter.txt.hbs"),
    ),
    (
        "newsletter_why.txt",
        include_str!("../templates/newsletter_why.txt.hbs"),
    ),
    (
        "certificates.html",
        include_str!("../templates/certificates.html.hbs"),
    ),
    ("_family.sms", include_str!("../templates/_family.sms.hbs")),
    (
        "_family.subject",
        include_str!("../templates/_family.subject.hbs"),
    ),
    ("_family.txt", include_str!("../templates/_family.txt.hbs")),
    (
        "_family.html",
        include_str!("../templates/_family.html.hbs"),
    ),
    (
        "_family.letter",
        include_str!("../templates/_family.letter.hbs"),
    ),
    (
        "_staff.subject",
        include_str!("../templates/_staff.subject.hbs"),
    ),
    ("_staff.txt", include_str!("../templates/_staff.txt.hbs")),
    ("_la.subject", include_str!("../templates/_la.subject.hbs")),
    ("_la.txt", include_str!("../templates/_la.txt.hbs")),
    ("_task.task", include_str!("../templates/_task.task.hbs")),
    (
        "first_day.sms",
        include_str!("../templates/first_day.sms.hbs"),
    ),
    (
        "day_three.subject",
        include_str!("../templates/day_three.subject.hbs"),
    ),
    (
        "day_three.txt",
        include_str!("../templates/day_three.txt.hbs"),
    ),
    (
        "day_three.html",
        include_str!("../templates/day_three.html.hbs"),
    ),
    (
        "day_three.letter",
        include_str!("../templates/day_three.letter.hbs"),
    ),
    (
        "persistent_absence.letter",
        include_str!("../templates/persistent_absence.letter.hbs"),
    ),
    (
        "la_10_day_return.subject",
        include_str!("../templates/la_10_day_return.subject.hbs"),
    ),
    (
        "la_10_day_return.txt",
        include_str!("../templates/la_10_day_return.txt.hbs"),
    ),
    (
        "alert.subject",
        include_str!("../templates/alert.subject.hbs"),
    ),
    ("alert.txt", include_str!("../templates/alert.txt.hbs")),
];

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
                out.text = self.render_text(&t, data)?.trim().to_owned();
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
}

/// First non-empty line is the heading; the rest are paragraphs separated by blank lines.
fn parse_letter(text: &str) -> LetterText {
    let mut lines = text.lines().skip_while(|l| l.trim().is_empty());
    let heading = lines.next().unwrap_or_default().trim().to_owned();
    let mut paragraphs = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(current.join(" "));
                current.clear();
            }
        } else {
            current.push(line.trim());
        }
    }
    if !current.is_empty() {
        paragraphs.push(current.join(" "));
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
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SchoolData {
    pub name: String,
    pub phone: String,
    pub email: String,
    pub address: Vec<String>,
    pub signatory: String,
    pub signatory_role: String,
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
    pub stage: String,
    pub stage_title: String,
    /// The engine's reason, worded for staff.
    pub reason: String,
    /// The date(s) and session(s) the message is about, worded for a parent.
    pub concerned: String,
    /// Year-to-date attendance, "91.2%".
    pub attendance: String,
    pub possible_sessions: u32,
    pub absence_sessions: u32,
    pub unauthorised_sessions: u32,
    /// Each absent session of the episode: "Mon 3 Nov 2025 AM: O".
    pub sessions: Vec<String>,
    pub contacts: Vec<ContactData>,
    /// The case so far: "2025-11-05 day_three: 3 consecutive …".
    pub history: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ContactData {
    pub name: String,
    pub relationship: String,
    pub phone: String,
    pub email: String,
    pub address: String,
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
            .render("isp_first_day", Channel::Sms, Audience::Family, &data())
            .expect("renders");
        assert_eq!(r.used, vec!["_family.sms".to_owned()]);
        assert!(r.text.contains("Ada"), "{}", r.text);
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
