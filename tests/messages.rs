//! What families and staff read: every action of every shipped policy has its own template,
//! family messages never show a stage id, stage title, code letter or (in subjects and texts) a
//! name they should not, texts fit one or two GSM-7 segments, and the letters the engine's real
//! decisions produce say what is true for the pupil. Letters are read back from the PDF, and
//! every expected figure and date is worked out here from the test's own register plan.

mod support;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rollcall::config::SchoolConfig;
use rollcall::delivery::channel::sms::{Encoding, segments};
use rollcall::delivery::message::{self, DecisionInfo, MessageFor, PupilSource};
use rollcall::delivery::template::{Audience, ContactData, MessageData, Rendered, Templates};
use rollcall::delivery::{Prepared, letter_for};
use rollcall::escalation::policy::{Channel, Policy};
use rollcall::escalation::stage::Decision;
use rollcall::gallery;
use rollcall::register::pupil::Pupil;
use support::{UPN, Walk, date, pupil};

const SHIPPED: [&str; 5] = [
    "dfe-baseline",
    "isp-whitstable",
    "james-marks-academy",
    "russell-street-school",
    "inspire-trust",
];

/// Every code letter of the 2024 table (and the historic H and Y) that is not an English word:
/// none may stand alone in a family's message. ("I" is a word; illness is checked by wording.)
const CODE_LETTERS: [&str; 29] = [
    "B", "K", "P", "V", "W", "C", "C1", "C2", "E", "J1", "M", "R", "S", "T", "G", "N", "O", "U",
    "L", "D", "X", "Q", "Y1", "Y2", "Y3", "Y4", "Y5", "Y7", "Z",
];

fn school_with(name: &str) -> SchoolConfig {
    let mut school = gallery::sample_school();
    name.clone_into(&mut school.name);
    school
}

/// The words of a message with the school's name taken out (a name like "St Mary's C of E"
/// has letters that are codes elsewhere), split on anything that is not a letter or digit.
fn words_without(text: &str, school: &str) -> Vec<String> {
    text.replace(school, " ")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What a family must never see: a stage id, a stage title, a code letter standing alone.
fn assert_family_wording(policy: &Policy, what: &str, text: &str, school: &str) {
    for stage in &policy.stages {
        assert!(
            !text.contains(&stage.title),
            "{what} shows stage title \"{}\":\n{text}",
            stage.title
        );
        if stage.id.contains('_') {
            assert!(
                !text.contains(&stage.id),
                "{what} shows stage id \"{}\":\n{text}",
                stage.id
            );
        }
    }
    for word in words_without(text, school) {
        assert!(
            !CODE_LETTERS.contains(&word.as_str()),
            "{what} shows the code letter \"{word}\":\n{text}"
        );
    }
    assert!(!text.contains("0 of 0"), "{what}: {text}");
}

/// The text of a PDF as printed, lines joined with spaces (so a phrase wrapped across lines
/// still reads as one), in WinAnsi as the letter writer emits it.
fn pdf_text(bytes: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(bytes).expect("the PDF parses");
    let mut out = Vec::new();
    for (_, id) in doc.get_pages() {
        let raw = doc.get_page_content(id);
        let content = lopdf::content::Content::decode(&raw).expect("content decodes");
        for op in &content.operations {
            if op.operator == "Tj" || op.operator == "TJ" {
                let mut bytes = Vec::new();
                match &op.operands[0] {
                    lopdf::Object::Array(items) => {
                        for item in items {
                            if let Ok(s) = item.as_str() {
                                bytes.extend_from_slice(s);
                            }
                        }
                    }
                    other => bytes.extend_from_slice(other.as_str().expect("string operand")),
                }
                out.push(bytes.iter().map(|&b| win_ansi(b)).collect::<String>());
            }
        }
    }
    out.join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn win_ansi(byte: u8) -> char {
    match byte {
        0x80 => '€',
        0x92 => '\'',
        0x95 => '•',
        0x96 => '–',
        0xA3 => '£',
        _ => char::from(byte),
    }
}

// ---------------------------------------------------------------------------------------------
// Every action, its own template
// ---------------------------------------------------------------------------------------------

#[test]
fn every_action_of_every_shipped_policy_has_its_own_template() {
    let templates = Templates::load(None).expect("shipped templates parse");
    for name in SHIPPED {
        let policy = support::load_policy(name);
        let fallbacks = templates.fallbacks(&policy);
        assert!(
            fallbacks.is_empty(),
            "{name} falls back on generic text:\n{}",
            fallbacks
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
        // And rendering proves it: no generic template is used for any action.
        for s in gallery::samples(&gallery::sample_school(), &policy, &templates)
            .expect("the gallery renders")
        {
            assert!(
                s.rendered.used.iter().all(|u| !u.starts_with('_')),
                "{name} {} {}: {:?}",
                s.stage,
                s.action.template,
                s.rendered.used
            );
        }
    }
}

#[test]
fn the_gallery_writes_one_file_per_action_named_by_stage_channel_and_template() {
    let templates = Templates::load(None).expect("shipped templates parse");
    let school = gallery::sample_school();
    for name in SHIPPED {
        let policy = support::load_policy(name);
        let dir = tempfile::tempdir().expect("temp dir");
        let written = gallery::write(&school, &policy, &templates, dir.path()).expect("writes");
        let actions: usize = policy.stages.iter().map(|s| s.actions.len()).sum();
        assert_eq!(written.len(), actions, "{name}");
        for w in &written {
            let stem = format!("{}.{}.{}", w.stage, w.channel.as_str(), w.template);
            let names: Vec<String> = w
                .files
                .iter()
                .map(|f| {
                    f.file_name()
                        .and_then(|n| n.to_str())
                        .expect("name")
                        .to_owned()
                })
                .collect();
            let expected: Vec<String> = match w.channel {
                Channel::Sms => vec![format!("{stem}.sms.txt")],
                Channel::Task => vec![format!("{stem}.task.txt")],
                Channel::Letter => vec![format!("{stem}.pdf")],
                Channel::LaReturn => vec![format!("{stem}.txt")],
                Channel::Email if w.to.is_family() => {
                    let mut v = vec![format!("{stem}.txt"), format!("{stem}.html")];
                    if w.template == "day_three" {
                        v.push(format!("{stem}.pdf"));
                    }
                    v
                }
                Channel::Email => vec![format!("{stem}.txt")],
            };
            assert_eq!(names, expected, "{name}");
            for f in &w.files {
                let bytes = std::fs::read(f).expect("written");
                assert!(!bytes.is_empty(), "{}", f.display());
                if f.extension().is_some_and(|e| e == "pdf") {
                    assert!(bytes.starts_with(b"%PDF-"), "{}", f.display());
                }
            }
        }
        let index = std::fs::read_to_string(dir.path().join("index.html")).expect("index");
        assert!(index.contains(&policy.name), "{index}");
        assert!(
            written
                .iter()
                .flat_map(|w| &w.files)
                .all(|f| index.contains(f.file_name().and_then(|n| n.to_str()).expect("name"))),
            "the index links every file"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// What families may and may not see
// ---------------------------------------------------------------------------------------------

#[test]
fn family_messages_show_no_stage_code_letter_or_name_in_a_subject() {
    let templates = Templates::load(None).expect("shipped templates parse");
    let school = gallery::sample_school();
    let mut family_messages = 0;
    for name in SHIPPED {
        let policy = support::load_policy(name);
        for s in gallery::samples(&school, &policy, &templates).expect("renders") {
            let what = format!("{name} {} {}", s.stage, s.action.template);
            let r = &s.rendered;
            let is_email = matches!(s.action.channel, Channel::Email | Channel::LaReturn);
            if is_email {
                // A lock screen shows subjects: never the child's name, staff or family.
                for n in ["Ada", "Lovelace"] {
                    assert!(
                        !r.subject.contains(n),
                        "{what}: subject names the child: {}",
                        r.subject
                    );
                }
            }
            if !s.action.to.is_family() || s.action.channel == Channel::Task {
                continue;
            }
            family_messages += 1;
            let mut texts = vec![r.subject.clone(), r.text.clone()];
            texts.extend(r.html.clone());
            if let Some(pdf) = &s.pdf {
                texts.push(pdf_text(pdf));
            }
            for text in &texts {
                let text = text.replace("&#x27;", "'").replace("&amp;", "&");
                assert_family_wording(&policy, &what, &text, &school.name);
            }
            if s.action.channel == Channel::Sms {
                assert!(!r.text.contains("Lovelace"), "{what}: {}", r.text);
                assert!(r.text.contains("Ada"), "{what}: {}", r.text);
            }
        }
    }
    // Two texts (first day at the baseline and ISP), two emails home (day three, Russell
    // Street's follow-up) and ten letters (the baseline's PA letter, ISP's lateness letter,
    // James Marks' absence letter, Inspire's seven with issue 14's medical-evidence letter).
    assert_eq!(family_messages, 14);
}

/// Each shipped text's length for a short school name and one child, and for the longest name
/// the sample carries (with one child and with two): one segment, and two.
#[test]
fn each_shipped_text_is_one_segment_for_a_short_name_and_two_for_the_longest() {
    let templates = Templates::load(None).expect("shipped templates parse");
    let mut seen = BTreeMap::new();
    for name in SHIPPED {
        let policy = support::load_policy(name);
        for (school_name, max) in [
            ("Oakfield Primary School", 1),
            ("St Mary's C of E (Aided) Primary School & Nursery", 2),
        ] {
            let school = school_with(school_name);
            for s in gallery::samples(&school, &policy, &templates).expect("renders") {
                if s.action.channel != Channel::Sms {
                    continue;
                }
                // A Wednesday in September is the longest date a text can carry.
                let mut data = s.data.clone();
                data.pupil.decided_on = "Wednesday 24 September 2025".into();
                let mut texts = vec![render_sms(&templates, &s.action.template, &data)];
                if max == 2 {
                    let mut two = data.clone();
                    let mut alan = two.pupil.clone();
                    alan.forename = "Alexander".into();
                    two.pupils.push(alan);
                    two.names = "Ada and Alexander".into();
                    two.several = true;
                    texts.push(render_sms(&templates, &s.action.template, &two));
                }
                for text in texts {
                    let count = segments(&text);
                    assert_eq!(count.encoding, Encoding::Gsm7, "{text}");
                    // Exactly: a short name fits one segment, the long one needs the second.
                    assert_eq!(
                        count.segments, max,
                        "{name} {}: {count}: {text}",
                        s.action.template
                    );
                    seen.insert((s.action.template.clone(), school_name), count.segments);
                }
            }
        }
    }
    assert_eq!(
        seen.keys().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["first_day", "first_day", "isp_first_day", "isp_first_day"],
        "the shipped texts"
    );
}

fn render_sms(templates: &Templates, template: &str, data: &MessageData) -> String {
    templates
        .render(template, Channel::Sms, Audience::Family, data)
        .expect("renders")
        .text
}

#[test]
fn a_school_name_with_apostrophe_parentheses_and_ampersand_prints_as_spelt() {
    let templates = Templates::load(None).expect("shipped templates parse");
    let name = "St Mary's C of E (Aided) Primary School & Nursery";
    let school = school_with(name);
    let policy = support::load_policy("dfe-baseline");
    let samples = gallery::samples(&school, &policy, &templates).expect("renders");
    let sms = samples
        .iter()
        .find(|s| s.action.channel == Channel::Sms)
        .expect("a text");
    assert!(sms.rendered.text.starts_with(name), "{}", sms.rendered.text);
    let email = samples
        .iter()
        .find(|s| s.action.template == "day_three")
        .expect("the day-three email");
    assert!(email.rendered.subject.contains(name));
    let html = email.rendered.html.as_deref().expect("HTML");
    assert!(
        html.contains("St Mary&#x27;s C of E (Aided) Primary School &amp; Nursery")
            || html.contains("St Mary&#39;s C of E (Aided) Primary School &amp; Nursery"),
        "escaped once in HTML: {html}"
    );
    let letter = samples
        .iter()
        .find(|s| s.action.template == "persistent_absence")
        .expect("the letter");
    let text = pdf_text(letter.pdf.as_deref().expect("PDF"));
    assert!(text.starts_with(name), "the letterhead: {text}");
}

// ---------------------------------------------------------------------------------------------
// Letters from the engine's real decisions, read back from the PDF
// ---------------------------------------------------------------------------------------------

/// The school the letters are written for: its contact, and the head of school named for the
/// signatory role a stage gives.
fn letter_school() -> SchoolConfig {
    let mut school = support::school("09:30");
    school.name = "Oakfield Primary School".into();
    school.pm_register_close = chrono::NaiveTime::from_hms_opt(14, 0, 0).expect("time");
    school.contact.phone = "01632 960000".into();
    school.contact.email = "office@oakfield.example.sch.uk".into();
    school.contact.address = vec!["1 School Lane".into(), "Whitstable CT5 2BB".into()];
    school.contact.signatory = "Jo Bloggs".into();
    school.contact.signatory_role = "Attendance Officer".into();
    school
        .contact
        .signatories
        .insert("headteacher".into(), "Sam Okafor, Head of School".into());
    school
        .contact
        .signatories
        .insert("deputy_head".into(), "Alex Morgan".into());
    school
}

/// A walked pupil's register plan (the test's own copy): both sessions' codes per school day.
struct Plan {
    walk: Walk,
    codes: BTreeMap<NaiveDate, [&'static str; 2]>,
}

impl Plan {
    fn new(policy: &str, pupil: Pupil) -> Plan {
        let mut walk = Walk::new(policy, pupil);
        walk.school = letter_school();
        Plan {
            walk,
            codes: BTreeMap::new(),
        }
    }

    /// Plans `code_for(day)` for every school day in `[from, to]`.
    fn plan(&mut self, from: &str, to: &str, code_for: impl Fn(NaiveDate) -> [&'static str; 2]) {
        for day in self.walk.school_days(date(from), date(to)) {
            self.codes.insert(day, code_for(day));
        }
    }

    /// Marks and runs each school day in `[from, to]` at `time`, until `stage` fires.
    fn walk_until(&mut self, from: &str, to: &str, time: &str, stage: &str) -> &Decision {
        for day in self.walk.school_days(date(from), date(to)) {
            if let Some([am, pm]) = self.codes.get(&day).copied() {
                self.walk
                    .mark(0, day, rollcall::register::session::Session::Am, am);
                self.walk
                    .mark(0, day, rollcall::register::session::Session::Pm, pm);
            }
            let fired = self.walk.run(support::at(day, time));
            if fired.iter().any(|s| s == stage) {
                return self.walk.decision(stage);
            }
        }
        panic!(
            "{stage} never fired by {to}; fired: {:?}",
            self.walk.stages_fired()
        );
    }

    /// Sessions in `[from, to]` whose planned code passes `keep`, and the possible sessions.
    fn count(&self, from: NaiveDate, to: NaiveDate, keep: impl Fn(&str) -> bool) -> (usize, usize) {
        let codes: Vec<&str> = self
            .codes
            .range(from..=to)
            .flat_map(|(_, c)| c.iter().copied())
            .collect();
        (codes.iter().filter(|c| keep(c)).count(), codes.len())
    }

    /// The school day `n` school days after `day` (1 = the next).
    fn after(&self, day: NaiveDate, n: usize) -> NaiveDate {
        self.walk
            .school_days(day.succ_opt().expect("date"), date("2026-07-31"))[n - 1]
    }
}

/// The message for `decision`'s `template` action, built as delivery builds it (the decision's
/// stored facts, reason and case; the register as the walk left it), rendered and printed.
fn message_for(
    plan: &Plan,
    decision: &Decision,
    channel: Channel,
    template: &str,
    note: &str,
) -> (
    MessageData,
    Rendered,
    Option<rollcall::delivery::channel::letter::Letter>,
) {
    let walk = &plan.walk;
    let mut years: Vec<(i32, &[u8])> = walk.marks[0]
        .iter()
        .map(|(y, m)| (*y, m.as_slice()))
        .collect();
    years.sort_by_key(|(y, _)| *y);
    let info = DecisionInfo {
        pupil_id: decision.pupil_id,
        stage: decision.stage.clone(),
        reason: decision.reason.clone(),
        facts: serde_json::to_string(&decision.facts).expect("facts"),
        case_before: decision.case_before.clone(),
    };
    let contacts: Vec<ContactData> = walk.contacts[0]
        .iter()
        .map(|c| ContactData {
            priority: c.priority,
            name: c.name.clone(),
            relationship: c.relationship.clone(),
            phone: message::display_phone(c.mobile.as_deref().unwrap_or_default()),
            email: c.email.clone().unwrap_or_default(),
            address: format!("{}, {}, {}", c.address_line_1, c.town, c.postcode),
            parental_responsibility: c.parental_responsibility,
        })
        .collect();
    let source = PupilSource {
        pupil: &walk.pupils[0],
        register: rollcall::register::facts::PupilRegister {
            admission: walk.pupils[0].admission_date,
            leaving: None,
            years: &years,
            loaded_from_year: i32::MIN,
        },
        contacts,
        history: Vec::new(),
        records: walk.records[0].clone(),
    };
    let now = decision.facts.as_of;
    let pupil =
        message::pupil_data(&walk.school, &walk.policy, &info, &source, now).expect("pupil data");
    let data = message::assemble(
        &walk.school,
        &walk.policy,
        vec![pupil],
        &MessageFor {
            recipient: "contact 1: Anne Lovelace (Mother)",
            channel: channel.as_str(),
            template,
            message: "",
            note,
        },
        now,
    );
    let templates = Templates::load(None).expect("templates");
    let rendered = templates
        .render(template, channel, Audience::Family, &data)
        .expect("renders");
    let letter = rendered.letter.as_ref().map(|text| {
        let prepared = Prepared {
            date: now.date(),
            outgoing: rollcall::delivery::channel::Outgoing {
                outbox_id: 7,
                attempt: 1,
                school: "test".into(),
                to_name: data.recipient.clone(),
                address: "1 High Street, Whitstable, CT5 1AA".into(),
                subject: rendered.subject.clone(),
                text: rendered.text.clone(),
                html: None,
                attachments: Vec::new(),
            },
            rendered: rendered.clone(),
            data: data.clone(),
        };
        letter_for(&walk.school, &prepared, text)
    });
    (data, rendered, letter)
}

fn print(letter: &rollcall::delivery::channel::letter::Letter) -> String {
    pdf_text(&rollcall::delivery::channel::letter::render_one(letter).expect("prints"))
}

/// The first school day of the calendar's year (the school year's figures start there).
fn first_school_day(p: &Plan) -> NaiveDate {
    p.walk.school_days(date("2025-08-01"), date("2025-12-19"))[0]
}

fn long(d: NaiveDate) -> String {
    d.format("%A %-d %B %Y").to_string()
}

/// "3 September to 14 November 2025", as letters give a window.
fn span(from: NaiveDate, to: NaiveDate) -> String {
    format!("{} to {}", from.format("%-d %B"), to.format("%-d %B %Y"))
}

fn pct(part: usize, whole: usize) -> String {
    format!("{:.1}%", 100.0 * part as f64 / whole as f64)
}

fn weekday(d: NaiveDate, days: &[chrono::Weekday]) -> bool {
    days.contains(&chrono::Datelike::weekday(&d))
}

/// Inspire's final written warning, from the engine's own decision after the whole ladder: it
/// names the unauthorised absence it warns about, the period to improve and its end, the 2024
/// framework's amounts, that it is evidence, and is signed by the head of school.
#[test]
fn inspire_final_warning_states_the_law_and_is_signed_by_the_head_of_school() {
    let mut p = Plan::new("inspire-trust", pupil(UPN, "4B", date("2025-09-03")));
    // Off every Monday and Tuesday from 8 September, unauthorised.
    p.plan("2025-09-03", "2026-03-27", |d| {
        if d >= date("2025-09-08") && weekday(d, &[chrono::Weekday::Mon, chrono::Weekday::Tue]) {
            ["O", "O"]
        } else {
            ["/", "\\"]
        }
    });
    let decision = p
        .walk_until("2025-09-03", "2026-03-27", "18:00", "final_warning")
        .clone();
    let decided = decision.facts.as_of.date();
    let case = decision.case_before.clone().expect("the case it found");
    assert_eq!(case.stage, "four_week_monitoring");
    // The window the warning judged: from the first school day after the four weeks began that
    // is not part of an absence going on then (the day it began was a present day, or not).
    let entered = case.stage_entered;
    let absent_then = p.codes.get(&entered).is_some_and(|c| c == &["O", "O"]);
    let from = p
        .walk
        .school_days(entered.succ_opt().expect("date"), decided)
        .into_iter()
        .find(|d| !absent_then || p.codes.get(d) != Some(&["O", "O"]))
        .expect("a day");
    let (unauthorised, possible) = p.count(from, decided, |c| c == "O");
    let review = p.after(decided, 20);

    let (data, rendered, letter) = message_for(
        &p,
        &decision,
        Channel::Letter,
        "inspire_final_written_warning",
        "",
    );
    assert_eq!(rendered.used, ["inspire_final_written_warning.letter"]);
    let letter = letter.expect("a letter");
    assert_eq!(
        (letter.signatory.as_str(), letter.signatory_role.as_str()),
        ("Sam Okafor", "Head of School"),
        "the stage's signatory, not the attendance officer"
    );
    let text = print(&letter);
    for expected in [
        "final written warning".to_owned(),
        format!(
            "Since {}, Ada has had {unauthorised} sessions of unauthorised absence out of {possible} ({} of sessions, {})",
            long(from),
            pct(unauthorised, possible),
            span(from, decided)
        ),
        format!(
            "We will review attendance after four school weeks, on {}",
            long(review)
        ),
        "unauthorised absence of more than 10% of sessions".to_owned(),
        "A first penalty notice is £80 if it is paid within 21 days, or £160 if it is paid within 28 days".to_owned(),
        "A second notice to the same parent for the same child within 3 years is £160".to_owned(),
        "No more than two notices can be issued".to_owned(),
        "may be used as evidence".to_owned(),
        "Sam Okafor Head of School".to_owned(),
    ] {
        assert!(text.contains(&expected), "missing \"{expected}\" in:\n{text}");
    }
    // Every unauthorised session of the window is listed, by date, in words.
    let listed = text.matches("(unauthorised)").count();
    assert_eq!(listed, unauthorised, "{text}");
    assert!(!text.contains("Jo Bloggs"), "{text}");
    assert_family_wording(&p.walk.policy, "final warning", &text, &data.school.name);
}

/// Inspire's concern letter: the figure that matters (attendance this school year) with its
/// window, against the school's target, signed by the attendance officer ([school.contact]).
#[test]
fn inspire_concern_letter_gives_the_figure_its_window_and_the_target() {
    let mut p = Plan::new("inspire-trust", pupil(UPN, "4B", date("2025-09-03")));
    // Present, with a day of illness every other Friday from 12 September.
    p.plan("2025-09-03", "2025-12-19", |d| {
        let friday = weekday(d, &[chrono::Weekday::Fri]);
        let week = (d - date("2025-09-01")).num_days() / 7;
        if friday && week % 2 == 1 {
            ["I", "I"]
        } else {
            ["/", "\\"]
        }
    });
    let decision = p
        .walk_until("2025-09-03", "2025-12-19", "18:00", "concern_letter")
        .clone();
    let decided = decision.facts.as_of.date();
    let start = date("2025-09-03");
    let (attended, possible) = p.count(start, decided, |c| c == "/" || c == "\\");
    let (_, letter) = {
        let (_, _, l) = message_for(&p, &decision, Channel::Letter, "inspire_concern_letter", "");
        ((), l.expect("a letter"))
    };
    assert_eq!(
        (letter.signatory.as_str(), letter.signatory_role.as_str()),
        ("Jo Bloggs", "Attendance Officer")
    );
    let text = print(&letter);
    let expected = format!(
        "attendance this school year is {} ({}), and our target for every pupil is 96%",
        pct(attended, possible),
        span(start, decided)
    );
    assert!(
        text.contains(&expected),
        "missing \"{expected}\" in:\n{text}"
    );
    let illness = possible - attended;
    assert!(
        text.contains(&format!("Illness (authorised): {illness} sessions")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} of {possible} sessions", possible - attended)),
        "{text}"
    );
    assert_family_wording(
        &p.walk.policy,
        "concern letter",
        &text,
        "Oakfield Primary School",
    );
}

/// ISP's lateness letter counts the late arrivals in the policy's window and lists each by
/// date, says which were after the register closed, and is signed by the Deputy Head.
#[test]
fn isp_lateness_letter_counts_and_lists_the_lates_and_is_signed_by_the_deputy_head() {
    let mut p = Plan::new("isp-whitstable", pupil(UPN, "4B", date("2025-09-01")));
    // Late every Thursday from 2 October; after the register closed (U) on the third.
    p.plan("2025-09-01", "2025-12-19", |d| {
        let thursday = weekday(d, &[chrono::Weekday::Thu]);
        if d == date("2025-10-16") {
            ["U", "\\"]
        } else if thursday && d >= date("2025-10-02") {
            ["L", "\\"]
        } else {
            ["/", "\\"]
        }
    });
    let decision = p
        .walk_until("2025-09-01", "2025-12-19", "18:00", "lateness_pattern")
        .clone();
    let decided = decision.facts.as_of.date();
    // The policy's window: the last six school weeks (half term is not one).
    let mut mondays: Vec<NaiveDate> = p
        .walk
        .school_days(date("2025-09-01"), decided)
        .into_iter()
        .map(rollcall::register::session::monday_of)
        .collect();
    mondays.dedup();
    let window_start = mondays[mondays.len() - 6];
    let first_day = p.walk.school_days(window_start, decided)[0];
    let (lates, _) = p.count(first_day, decided, |c| c == "L" || c == "U");
    let (after_close, _) = p.count(first_day, decided, |c| c == "U");
    assert_eq!(lates, 4, "the fourth late arrival makes the pattern");
    let (_, _, letter) = message_for(&p, &decision, Channel::Letter, "isp_lateness_concern", "");
    let letter = letter.expect("a letter");
    assert_eq!(
        (letter.signatory.as_str(), letter.signatory_role.as_str()),
        ("Alex Morgan", "Deputy Headteacher"),
        "a name without a title takes the role's title"
    );
    let text = print(&letter);
    let expected = format!(
        "Ada has arrived late to school {lates} times from {}",
        span(first_day, decided)
    );
    assert!(
        text.contains(&expected),
        "missing \"{expected}\" in:\n{text}"
    );
    for (day, code) in p.codes.range(first_day..=decided) {
        if code[0] == "L" || code[0] == "U" {
            assert!(
                text.contains(&format!("{}, morning", long(*day))),
                "{day} listed: {text}"
            );
        }
    }
    assert!(
        text.contains(&format!(
            "{after_close} of these were after the register had closed"
        )),
        "{text}"
    );
    assert!(!text.contains("sessions missed"), "{text}");
    assert_family_wording(
        &p.walk.policy,
        "lateness letter",
        &text,
        "Oakfield Primary School",
    );
}

/// The DfE baseline's persistent-absence letter: this year's figures and their reasons.
#[test]
fn persistent_absence_letter_gives_this_years_figures_and_reasons() {
    let mut p = Plan::new("dfe-baseline", pupil(UPN, "4B", date("2025-09-01")));
    // A holiday not agreed in September, then off every other Friday (illness) from October:
    // persistent absence (10 %) once 40 sessions are in.
    p.plan("2025-09-01", "2025-12-19", |d| {
        let week = (d - date("2025-09-01")).num_days() / 7;
        if (date("2025-09-15")..=date("2025-09-16")).contains(&d) {
            ["G", "G"]
        } else if weekday(d, &[chrono::Weekday::Fri]) && week % 2 == 1 {
            ["I", "I"]
        } else {
            ["/", "\\"]
        }
    });
    let decision = p
        .walk_until("2025-09-01", "2025-12-19", "18:00", "persistent_absence")
        .clone();
    let decided = decision.facts.as_of.date();
    assert!(decided > date("2025-09-16"), "after the holiday: {decided}");
    let start = first_school_day(&p);
    let (absent, possible) = p.count(start, decided, |c| c == "I" || c == "G");
    let (illness, _) = p.count(start, decided, |c| c == "I");
    let (holiday, _) = p.count(start, decided, |c| c == "G");
    let (_, _, letter) = message_for(&p, &decision, Channel::Letter, "persistent_absence", "");
    let text = print(&letter.expect("a letter"));
    for expected in [
        format!(
            "attendance this school year is {} ({})",
            pct(possible - absent, possible),
            span(start, decided)
        ),
        format!("{absent} of {possible} sessions"),
        format!("Illness (authorised): {illness} sessions"),
        format!("Holiday not agreed by the school (unauthorised): {holiday} sessions"),
        "Jo Bloggs Attendance Officer".to_owned(),
    ] {
        assert!(
            text.contains(&expected),
            "missing \"{expected}\" in:\n{text}"
        );
    }
    assert_family_wording(
        &p.walk.policy,
        "PA letter",
        &text,
        "Oakfield Primary School",
    );
}

/// Inspire's signed-letter request asks for a signed letter and says where to send it, and by
/// when (five school days, the time an unexplained absence has before it is unauthorised).
#[test]
fn inspire_signed_letter_request_says_what_to_send_where_and_by_when() {
    let mut p = Plan::new("inspire-trust", pupil(UPN, "4B", date("2025-09-03")));
    p.plan("2025-09-03", "2025-12-19", |d| {
        if (date("2025-11-03")..=date("2025-11-07")).contains(&d) {
            ["I", "I"]
        } else {
            ["/", "\\"]
        }
    });
    let decision = p
        .walk_until("2025-09-03", "2025-12-19", "18:00", "signed_letter_run")
        .clone();
    let decided = decision.facts.as_of.date();
    assert_eq!(decided, date("2025-11-06"), "the fourth day in a row");
    let (_, _, letter) = message_for(
        &p,
        &decision,
        Channel::Letter,
        "inspire_signed_letter_run",
        "",
    );
    let text = print(&letter.expect("a letter"));
    for expected in [
        "send the school a signed letter explaining the absence".to_owned(),
        "your name and signature".to_owned(),
        format!(
            "signed letter at the school office (Oakfield Primary School, 1 School Lane, Whitstable CT5 2BB) by {}",
            long(p.after(decided, 5))
        ),
        "email a scan or photo of the signed letter to office@oakfield.example.sch.uk".to_owned(),
        format!(
            "every session from {} to {} (4 school days)",
            long(date("2025-11-03")),
            long(date("2025-11-06"))
        ),
    ] {
        assert!(
            text.contains(&expected),
            "missing \"{expected}\" in:\n{text}"
        );
    }
    assert_family_wording(
        &p.walk.policy,
        "signed letter",
        &text,
        "Oakfield Primary School",
    );
}

/// Russell Street's follow-up email gives the attendance rate and the strategies agreed, which
/// the person approving it wrote; its subject names no child.
#[test]
fn russell_street_follow_up_email_gives_the_rate_and_the_strategies_agreed() {
    let mut p = Plan::new(
        "russell-street-school",
        pupil(UPN, "4B", date("2025-09-01")),
    );
    // A day of illness every week from the second: below 96.5 % once 60 sessions are in.
    p.plan("2025-09-01", "2025-12-19", |d| {
        if weekday(d, &[chrono::Weekday::Wed]) && d >= date("2025-09-08") {
            ["I", "I"]
        } else {
            ["/", "\\"]
        }
    });
    let decision = p
        .walk_until("2025-09-01", "2025-12-19", "18:00", "stage_three")
        .clone();
    let decided = decision.facts.as_of.date();
    let start = first_school_day(&p);
    let (attended, possible) = p.count(start, decided, |c| c == "/" || c == "\\");
    let strategies = "Ada will go to breakfast club on Wednesdays.";
    let (_, rendered, _) = message_for(
        &p,
        &decision,
        Channel::Email,
        "rss_attendance_meeting_follow_up",
        strategies,
    );
    assert!(!rendered.subject.contains("Ada"), "{}", rendered.subject);
    let rate = format!(
        "Ada's attendance this school year is {} ({}), which is below our target for every pupil of 96.5%",
        pct(attended, possible),
        span(start, decided)
    );
    assert!(rendered.text.contains(&rate), "{}", rendered.text);
    assert!(
        rendered.text.contains(&format!(
            "The strategies we agreed to support you and Ada:\n\n{strategies}"
        )),
        "{}",
        rendered.text
    );
    let html = rendered.html.as_deref().expect("HTML");
    assert!(html.contains(strategies), "{html}");
    // Stage Four judges two school weeks after the meeting.
    assert!(
        rendered.text.contains(&format!(
            "again in two school weeks, on {}",
            long(p.after(decided, 10))
        )),
        "{}",
        rendered.text
    );
    assert_family_wording(
        &p.walk.policy,
        "follow-up email",
        &rendered.text,
        "Oakfield Primary School",
    );
}

// ---------------------------------------------------------------------------------------------
// The school's name in the From line
// ---------------------------------------------------------------------------------------------

/// "St Mary's C of E (Aided) Primary School & Nursery" is a display name, not an address: the
/// file sink's sender and a live `from = "…"` both carry it whole (parentheses were read as an
/// RFC 5322 comment, and every email failed with "the school's email … is not an address").
#[test]
fn a_school_name_with_parentheses_is_the_from_display_name() {
    use mailparse::MailHeaderMap;
    let school = gallery::sample_school();
    let name = "St Mary's C of E (Aided) Primary School & Nursery";
    assert_eq!(school.name, name);
    let from = rollcall::delivery::from_mailbox(&school).expect("the school's sender");
    let msg = rollcall::delivery::channel::Outgoing {
        outbox_id: 1,
        attempt: 1,
        school: school.id.clone(),
        to_name: "Anne Lovelace".into(),
        address: "anne@example.org".into(),
        subject: format!("{name}: your child has been absent for three days"),
        text: "Dear Anne Lovelace,".into(),
        html: None,
        attachments: Vec::new(),
    };
    let eml = rollcall::delivery::channel::email::to_eml(&msg, &from, None).expect("builds");
    let parsed = mailparse::parse_mail(&eml).expect("parses");
    let from_header = parsed.headers.get_first_header("From").expect("From");
    let addresses = mailparse::addrparse_header(from_header).expect("a From mailbox");
    match &addresses[0] {
        mailparse::MailAddr::Single(info) => {
            assert_eq!(info.display_name.as_deref(), Some(name));
            assert_eq!(info.addr, school.contact.email);
        }
        other => panic!("not one mailbox: {other:?}"),
    }
    assert_eq!(
        parsed.headers.get_first_value("Subject").as_deref(),
        Some(msg.subject.as_str())
    );

    let live = rollcall::delivery::channel::email::parse_mailbox(&format!(
        "{name} <office@stmarys.example>"
    ))
    .expect("a live `from` with parentheses");
    assert_eq!(live.name.as_deref(), Some(name));
    assert_eq!(live.email.to_string(), "office@stmarys.example");
    assert!(
        rollcall::delivery::channel::email::parse_mailbox("St Mary's <not an address>").is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// A school's own policy, and the letters the issue found wrong
// ---------------------------------------------------------------------------------------------

/// A school's own ladder may name templates with no file: the gallery still renders every
/// action (generic text for its audience, which names no stage), whatever its thresholds.
#[test]
fn a_schools_own_policy_falls_back_on_generic_text_that_names_no_stage() {
    let policy = rollcall::escalation::policy::parse(
        r#"
name = "ours"
title = "Our own ladder"
[[stage]]
id = "long_absence"
title = "Very long absence: our own letter"
trigger = { consecutive_absent_days = { days = 120 } }
actions = [
  { channel = "letter", to = "parental_responsibility", template = "our_long_absence" },
  { channel = "sms", to = "contacts", template = "our_long_absence_text" },
  { channel = "email", to = "dsl", template = "our_long_absence_dsl" },
]
"#,
        "ours.toml",
    )
    .expect("valid");
    let templates = Templates::load(None).expect("templates");
    let school = gallery::sample_school();
    let samples = gallery::samples(&school, &policy, &templates).expect("renders");
    assert_eq!(samples.len(), 3);
    for s in &samples {
        assert!(
            s.rendered.used.iter().all(|u| u.starts_with('_')),
            "{:?}",
            s.rendered.used
        );
        if s.action.to.is_family() {
            let mut text = s.rendered.text.clone();
            if let Some(pdf) = &s.pdf {
                text.push_str(&pdf_text(pdf));
            }
            assert_family_wording(&policy, "generic", &text, &school.name);
            assert!(text.contains("Ada"), "{text}");
        }
    }
    assert_eq!(templates.fallbacks(&policy).len(), 3);
}

/// Inspire's congratulation letter comes from the SLT (the head of school signs), says what
/// improved over which days, and is not the stage title with a rate.
#[test]
fn inspire_congratulations_come_from_the_head_with_the_improvement() {
    let templates = Templates::load(None).expect("templates");
    let school = gallery::sample_school();
    let policy = support::load_policy("inspire-trust");
    let s = gallery::samples(&school, &policy, &templates)
        .expect("renders")
        .into_iter()
        .find(|s| s.action.template == "inspire_slt_congratulations")
        .expect("the letter");
    let text = pdf_text(s.pdf.as_deref().expect("PDF"));
    assert!(text.contains("Sam Okafor Headteacher"), "{text}");
    assert!(!text.contains("Jo Bloggs"), "{text}");
    let measured = &s.data.pupil.measured;
    assert!(
        text.contains(&format!(
            "since {} it has been {}, with {} of {} sessions attended",
            measured.from,
            measured.attendance,
            measured.attended_sessions,
            measured.possible_sessions
        )),
        "{text}"
    );
    assert_family_wording(&policy, "congratulations", &text, &school.name);
}

/// Every family-facing action of a stage that warns of, reviews or issues a penalty notice
/// (`Stage::is_enforcement`), in every shipped policy: it states the national framework and
/// that it may be used as evidence, and its stage names who signs.
#[test]
fn every_family_message_of_an_enforcement_stage_states_the_framework_and_is_signed_by_its_role() {
    let templates = Templates::load(None).expect("templates");
    let school = gallery::sample_school();
    let mut legal = 0;
    for name in SHIPPED {
        let policy = support::load_policy(name);
        for s in gallery::samples(&school, &policy, &templates).expect("renders") {
            let stage = policy
                .stages
                .iter()
                .find(|st| st.id == s.stage)
                .expect("stage");
            if !stage.is_enforcement()
                || !s.action.to.is_family()
                || s.action.channel == Channel::Task
            {
                continue;
            }
            legal += 1;
            let role = stage
                .signatory_for(&s.action)
                .expect("a legal letter names who signs");
            let text = match &s.pdf {
                Some(pdf) => pdf_text(pdf),
                None => s.rendered.text.clone(),
            };
            for needed in [
                "£80 if it is paid within 21 days",
                "£160 if it is paid within 28 days",
                "within 3 years is £160",
                "No more than two notices",
                "may be used as evidence",
            ] {
                assert!(
                    text.contains(needed),
                    "{name} {}: no \"{needed}\": {text}",
                    s.stage
                );
            }
            assert_eq!(s.data.school.signatory_role, "Headteacher", "{role:?}");
        }
    }
    assert_eq!(
        legal, 1,
        "Inspire's final written warning is the shipped legal letter"
    );
}

/// LA notices carry what the LA needs: name, UPN, date of birth, address, parent and phone,
/// the episode and its marks.
#[test]
fn la_notices_carry_what_the_la_needs() {
    let templates = Templates::load(None).expect("templates");
    let school = gallery::sample_school();
    let mut notices = 0;
    for name in SHIPPED {
        let policy = support::load_policy(name);
        for s in gallery::samples(&school, &policy, &templates).expect("renders") {
            if s.action.channel != Channel::LaReturn {
                continue;
            }
            notices += 1;
            let text = &s.rendered.text;
            for needed in [
                "Pupil: Ada Lovelace",
                "UPN: A123456789012",
                "Date of birth: 2016-05-01",
                "Anne Lovelace (Mother, parental responsibility) 07700 900001",
                "1 High Street, Whitstable, CT5 1AA",
            ] {
                assert!(
                    text.contains(needed),
                    "{name} {}: no \"{needed}\":\n{text}",
                    s.action.template
                );
            }
            if s.action.template != "la_sickness_return" {
                assert!(text.contains("AM: N"), "the marks: {text}");
            }
        }
    }
    // The 10-day return in all five (James Marks' day-10 notice is theirs), the sickness
    // return in all five.
    assert_eq!(notices, 10);
}

#[test]
fn james_marks_call_task_quotes_adjusted_attendance_from_the_end_of_an_extended_integration() {
    // Admitted on 15 September: six school weeks of integration end on 31 October. The SLT
    // extended it to Friday 7 November (L44), so adjusted attendance starts on Monday
    // 10 November. Off every Monday and Tuesday from then (C2): the call task says "since"
    // the 10th, not the 3rd, and the engine's reason names the extension.
    let mut p = Plan::new(
        "james-marks-academy",
        support::pupil(support::UPN, "7B", date("2025-09-15")),
    );
    p.walk.school.am_register_close = chrono::NaiveTime::from_hms_opt(10, 0, 0).expect("time");
    p.walk.records[0].integration = Some(rollcall::register::records::IntegrationExtension {
        until: date("2025-11-07"),
        by: "Scott Martin".into(),
        reason: "building up to full days".into(),
        recorded_at: "2025-10-20 16:00".into(),
    });
    p.plan("2025-09-15", "2025-12-19", |d| {
        if d >= date("2025-11-10") && weekday(d, &[chrono::Weekday::Mon, chrono::Weekday::Tue]) {
            ["C2", "C2"]
        } else {
            ["/", "\\"]
        }
    });
    let decision = p
        .walk_until("2025-09-15", "2025-12-19", "18:00", "below_95_adjusted")
        .clone();
    let from = date("2025-11-10");
    // 40 sessions since the 10th first on the 20th school day from it.
    assert_eq!(decision.facts.as_of.date(), p.after(from, 19));
    assert!(
        decision.reason.contains(
            "integration period extended to 2025-11-07 by Scott Martin (building up to full days)"
        ),
        "{}",
        decision.reason
    );
    let (data, rendered, _) =
        message_for(&p, &decision, Channel::Task, "jma_below_target_call", "");
    assert_eq!(data.pupil.measured.from, long(from));
    assert!(
        rendered.text.contains(&format!(
            "since {} (after the integration period)",
            long(from)
        )),
        "{}",
        rendered.text
    );
}
