//! Today's call list for the office: who to call, in what order, why; siblings together.
//!
//! The list is for a person with a phone and a pen in the first hour of the school day:
//! safeguarding pupils first (an unexplained absence of a child with a social worker is
//! followed up before any other), then one call per family, so brothers and sisters are
//! asked about in the same call instead of three separate calls to the same tired parent.
//! The HTML prints on A4 with space to write outcomes; the CSV is the same list for a
//! spreadsheet or the MIS.

use std::cmp::Ordering;

use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;

/// One pupil to ask about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallEntry {
    pub pupil_name: String,
    pub upn: String,
    pub year_group: String,
    pub reg_group: String,
    /// Key shared by siblings (e.g. the first contact's phone number); pupils with the same
    /// non-empty key are asked about in one call. An empty key is a family of one.
    pub family: String,
    /// Social worker, child protection plan, looked-after child: called first.
    pub safeguarding: bool,
    /// "First day of absence: call home".
    pub stage_title: String,
    /// Why this pupil is on the list, from the engine.
    pub reason: String,
    /// In the order they should be tried.
    pub contacts: Vec<CallContact>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallContact {
    pub name: String,
    /// "Mother", "Grandparent", "Social worker".
    pub relationship: String,
    pub phone: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CallListError {
    #[error("could not write the call list CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("could not finish the call list CSV: {0}")]
    CsvFinish(String),
    #[error("the call list template does not compile: {0}")]
    Template(#[from] handlebars::TemplateError),
    #[error("could not render the call list: {0}")]
    Render(#[from] handlebars::RenderError),
}

const TEMPLATE: &str = include_str!("../../../templates/call_list.html.hbs");

/// Puts the list in calling order: families with a safeguarding pupil first, then every
/// family together (siblings adjacent, so they share one call), then by year group, reg
/// group and name. Year and reg groups compare with numbers as numbers, so "Year 10"
/// comes after "Year 9" and "Nursery" < "Reception" < "Year 1".
///
/// Within a family the safeguarding pupil is named first, so the caller asks about them
/// first. Pure and deterministic (ties fall back to the UPN), so a reprinted list has the
/// same call numbers as the first print.
pub fn order(entries: &mut Vec<CallEntry>) {
    let mut families: Vec<Vec<CallEntry>> = Vec::new();
    let mut by_key: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for entry in std::mem::take(entries) {
        let key = entry.family.trim();
        if key.is_empty() {
            families.push(vec![entry]);
            continue;
        }
        match by_key.get(key) {
            Some(&at) => families[at].push(entry),
            None => {
                by_key.insert(key.to_string(), families.len());
                families.push(vec![entry]);
            }
        }
    }
    for family in &mut families {
        family.sort_by(|a, b| {
            b.safeguarding
                .cmp(&a.safeguarding)
                .then_with(|| by_pupil(a, b))
        });
    }
    families.sort_by(|a, b| {
        let urgent = |f: &[CallEntry]| f.iter().any(|e| e.safeguarding);
        urgent(b)
            .cmp(&urgent(a))
            .then_with(|| by_pupil(first_by_pupil(a), first_by_pupil(b)))
    });
    *entries = families.into_iter().flatten().collect();
}

/// The member a family is filed under when it has no safeguarding pupil: its youngest
/// (lowest year group), so a family shows up where its first child is on the list.
fn first_by_pupil(family: &[CallEntry]) -> &CallEntry {
    let mut first = &family[0];
    for entry in &family[1..] {
        if by_pupil(entry, first) == Ordering::Less {
            first = entry;
        }
    }
    first
}

fn by_pupil(a: &CallEntry, b: &CallEntry) -> Ordering {
    natural_cmp(&a.year_group, &b.year_group)
        .then_with(|| natural_cmp(&a.reg_group, &b.reg_group))
        .then_with(|| natural_cmp(&a.pupil_name, &b.pupil_name))
        .then_with(|| a.upn.cmp(&b.upn))
}

/// Compares runs of digits by value and everything else case-insensitively, falling back
/// to plain byte order so distinct strings never compare equal.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let take_number = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
                    let mut digits = String::new();
                    while let Some(d) = it.next_if(char::is_ascii_digit) {
                        digits.push(d);
                    }
                    digits.trim_start_matches('0').to_string()
                };
                let (m, n) = (take_number(&mut x), take_number(&mut y));
                let by_value = m.len().cmp(&n.len()).then_with(|| m.cmp(&n));
                if by_value != Ordering::Equal {
                    return by_value;
                }
            }
            (Some(p), Some(q)) => {
                let by_letter = p.to_lowercase().cmp(q.to_lowercase());
                if by_letter != Ordering::Equal {
                    return by_letter;
                }
                x.next();
                y.next();
            }
        }
    }
}

/// One phone call: a family of one or more pupils.
struct Call<'a> {
    number: usize,
    pupils: Vec<&'a CallEntry>,
}

impl Call<'_> {
    fn safeguarding(&self) -> bool {
        self.pupils.iter().any(|p| p.safeguarding)
    }

    /// Everyone to try for this family, in priority order, each number once: siblings
    /// usually share contacts, but a half-sibling may add a parent the others lack.
    fn contacts(&self) -> Vec<&CallContact> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for contact in self.pupils.iter().flat_map(|p| &p.contacts) {
            let digits: String = contact.phone.chars().filter(char::is_ascii_digit).collect();
            let key = if digits.is_empty() {
                contact.name.trim().to_lowercase()
            } else {
                digits
            };
            if seen.insert(key) {
                out.push(contact);
            }
        }
        out
    }
}

/// Orders a copy of the entries and numbers the calls. The renderers do this themselves
/// rather than trusting the caller to have called [`order`], because siblings that are not
/// adjacent would silently get two call numbers.
fn plan(entries: &[CallEntry]) -> (Vec<CallEntry>, Vec<std::ops::Range<usize>>) {
    let mut ordered = entries.to_vec();
    order(&mut ordered);
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, entry) in ordered.iter().enumerate() {
        let key = entry.family.trim();
        match ranges.last_mut() {
            Some(range) if !key.is_empty() && ordered[range.start].family.trim() == key => {
                range.end = i + 1;
            }
            _ => ranges.push(i..i + 1),
        }
    }
    (ordered, ranges)
}

fn calls<'a>(ordered: &'a [CallEntry], ranges: &[std::ops::Range<usize>]) -> Vec<Call<'a>> {
    ranges
        .iter()
        .enumerate()
        .map(|(i, range)| Call {
            number: i + 1,
            pupils: ordered[range.clone()].iter().collect(),
        })
        .collect()
}

/// The call list as CSV, one row per pupil in calling order; siblings share a call
/// number. Each row carries the pupil's own contacts, as many contact columns as the
/// pupil with the most contacts needs, and an empty Outcome column to fill in.
///
/// Starts with a UTF-8 byte order mark: without it Excel, which is what a school office
/// opens a CSV with, reads the file as Windows-1252 and shows "Zoë" as "ZoÃ«". CSV
/// readers that know UTF-8 (the `csv` crate, Python's `utf-8-sig`) skip it.
///
/// Cells starting with `=`, `+`, `-` or `@` get a leading `'` so a spreadsheet shows them
/// as text instead of running them as a formula (contact details come from parents'
/// forms; "+44…" phone numbers would otherwise also be mangled into formulas); see
/// [`crate::report::spreadsheet`].
pub fn render_csv(date: NaiveDate, entries: &[CallEntry]) -> Result<String, CallListError> {
    let (ordered, ranges) = plan(entries);
    let calls = calls(&ordered, &ranges);
    let contact_columns = ordered
        .iter()
        .map(|e| e.contacts.len())
        .max()
        .unwrap_or(0)
        .max(1);

    let mut out = csv::Writer::from_writer("\u{FEFF}".as_bytes().to_vec());
    let mut header: Vec<String> = [
        "Date",
        "Call no.",
        "Safeguarding",
        "Pupil",
        "UPN",
        "Year group",
        "Reg group",
        "Stage",
        "Reason",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for n in 1..=contact_columns {
        header.push(format!("Contact {n}"));
        header.push(format!("Relationship {n}"));
        header.push(format!("Phone {n}"));
    }
    header.push("Outcome".to_string());
    out.write_record(&header)?;

    let date = date.format("%Y-%m-%d").to_string();
    for call in &calls {
        for pupil in &call.pupils {
            let mut row = vec![
                date.clone(),
                call.number.to_string(),
                if pupil.safeguarding { "Yes" } else { "" }.to_string(),
                cell(&pupil.pupil_name),
                cell(&pupil.upn),
                cell(&pupil.year_group),
                cell(&pupil.reg_group),
                cell(&pupil.stage_title),
                cell(&pupil.reason),
            ];
            for n in 0..contact_columns {
                match pupil.contacts.get(n) {
                    Some(c) => {
                        row.push(cell(&c.name));
                        row.push(cell(&c.relationship));
                        row.push(cell(&c.phone));
                    }
                    None => row.extend([String::new(), String::new(), String::new()]),
                }
            }
            row.push(String::new());
            out.write_record(&row)?;
        }
    }
    let bytes = out
        .into_inner()
        .map_err(|e| CallListError::CsvFinish(e.error().to_string()))?;
    String::from_utf8(bytes).map_err(|e| CallListError::CsvFinish(e.to_string()))
}

/// Defuses spreadsheet formulas; see [`crate::report::spreadsheet`].
fn cell(text: &str) -> String {
    crate::report::spreadsheet::safe_cell(text.trim()).into_owned()
}

#[derive(Serialize)]
struct PageView<'a> {
    school_name: &'a str,
    date: String,
    generated: String,
    call_count: usize,
    pupil_count: usize,
    safeguarding_count: usize,
    calls: Vec<CallView<'a>>,
}

#[derive(Serialize)]
struct CallView<'a> {
    number: usize,
    safeguarding: bool,
    /// "2 children" for a sibling call, so the caller knows to ask about each.
    children: String,
    contacts: Vec<ContactView<'a>>,
    pupils: Vec<&'a CallEntry>,
}

#[derive(Serialize)]
struct ContactView<'a> {
    name: &'a str,
    relationship: &'a str,
    phone: &'a str,
    /// Digits and a leading + only, for a `tel:` link on screen.
    dial: String,
}

/// The call list as a self-contained HTML page (inline CSS, no scripts, no web fonts)
/// that prints on A4 with an outcome column to write on, one block per family call.
///
/// Rendered with strict mode, so a template that names a field the data lacks fails here
/// rather than printing a blank where a phone number should be, and with HTML escaping, so
/// a name or reason can never inject markup.
pub fn render_html(
    school_name: &str,
    date: NaiveDate,
    generated_at: NaiveDateTime,
    entries: &[CallEntry],
) -> Result<String, CallListError> {
    let (ordered, ranges) = plan(entries);
    let calls = calls(&ordered, &ranges);
    let view = PageView {
        school_name,
        date: date.format("%A %-d %B %Y").to_string(),
        generated: generated_at.format("%-d %B %Y at %H:%M").to_string(),
        call_count: calls.len(),
        pupil_count: ordered.len(),
        safeguarding_count: ordered.iter().filter(|e| e.safeguarding).count(),
        calls: call_views(&calls),
    };
    let mut registry = handlebars::Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_template_string("call_list", TEMPLATE)?;
    Ok(registry.render("call_list", &view)?)
}

/// The call list as the printed page shows it (numbered calls, siblings together, contacts
/// in order), for the console: `calls`, `call_count`, `pupil_count`, `safeguarding_count`.
pub fn view(entries: &[CallEntry]) -> serde_json::Value {
    let (ordered, ranges) = plan(entries);
    let calls = calls(&ordered, &ranges);
    serde_json::json!({
        "call_count": calls.len(),
        "pupil_count": ordered.len(),
        "safeguarding_count": ordered.iter().filter(|e| e.safeguarding).count(),
        "calls": call_views(&calls),
    })
}

fn call_views<'a>(calls: &'a [Call<'a>]) -> Vec<CallView<'a>> {
    calls
        .iter()
        .map(|call| CallView {
            number: call.number,
            safeguarding: call.safeguarding(),
            children: match call.pupils.len() {
                1 => String::new(),
                n => format!("{n} children: ask about each"),
            },
            contacts: call
                .contacts()
                .into_iter()
                .map(|c| ContactView {
                    name: &c.name,
                    relationship: &c.relationship,
                    phone: &c.phone,
                    dial: dial(&c.phone),
                })
                .collect(),
            pupils: call.pupils.clone(),
        })
        .collect()
}

fn dial(phone: &str) -> String {
    // "+44 (0)7700 900123": the (0) is dialled only from inside the UK without the +44.
    let without_trunk = phone.replace("(0)", "");
    let trimmed = without_trunk.trim();
    let plus = if trimmed.starts_with('+') { "+" } else { "" };
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        String::new()
    } else {
        format!("{plus}{digits}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, year: &str, family: &str, safeguarding: bool) -> CallEntry {
        CallEntry {
            pupil_name: name.to_string(),
            upn: format!("UPN-{name}"),
            year_group: year.to_string(),
            reg_group: format!("{year}A"),
            family: family.to_string(),
            safeguarding,
            stage_title: "First day of absence: call home".to_string(),
            reason: "No reason given by 09:30".to_string(),
            contacts: vec![CallContact {
                name: format!("Parent of {name}"),
                relationship: "Mother".to_string(),
                phone: "01227 000000".to_string(),
            }],
        }
    }

    #[test]
    fn natural_order_of_year_groups() {
        let mut years = vec![
            "Year 10",
            "Year 9",
            "Reception",
            "Nursery",
            "Year 1",
            "year 2",
        ];
        years.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            years,
            [
                "Nursery",
                "Reception",
                "Year 1",
                "year 2",
                "Year 9",
                "Year 10"
            ]
        );
        assert!(natural_cmp("Y07", "Y7").is_ne());
    }

    #[test]
    fn safeguarding_family_first_then_families_by_youngest() {
        let mut list = vec![
            entry("Cara", "Year 6", "f1", false),
            entry("Ben", "Year 3", "", false),
            entry("Abe", "Year 5", "f2", true),
            entry("Dan", "Year 1", "f1", false),
            entry("Eve", "Year 2", "f2", false),
        ];
        order(&mut list);
        let names: Vec<&str> = list.iter().map(|e| e.pupil_name.as_str()).collect();
        // f2 has a safeguarding pupil: its safeguarding child first, then the sibling.
        // f1 files under Dan (Year 1) before Ben (Year 3); Cara follows Dan.
        assert_eq!(names, ["Abe", "Eve", "Dan", "Cara", "Ben"]);
        let (_, ranges) = plan(&list);
        assert_eq!(ranges, vec![0..2, 2..4, 4..5]);
    }

    #[test]
    fn empty_family_keys_are_never_merged() {
        let list = vec![
            entry("A", "Year 1", " ", false),
            entry("B", "Year 1", "", false),
        ];
        let (_, ranges) = plan(&list);
        assert_eq!(ranges.len(), 2);
    }

    #[test]
    fn formula_cells_are_defused() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+44 7700 900123"), "'+44 7700 900123");
        assert_eq!(cell("Ada"), "Ada");
        assert_eq!(dial("+44 (0)7700 900-123"), "+447700900123");
    }
}
