//! Imports: pupils, contacts and marks from CSV, the way register data comes in until MIS
//! connectors exist.
//!
//! Every import validates the whole file first. A file with any bad row changes nothing and
//! the error lists every bad row (up to [`MAX_REPORTED_ERRORS`]) as `file:line: column: what
//! is wrong`. Re-importing the same file changes nothing and says so.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{BufReader, IsTerminal, Read};
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};

use crate::register::mark::{self, Category, MarkCode, Resolved};
use crate::register::pupil::{Contact, Pupil, Sen, Upn};
use crate::register::session::{Calendar, SLOTS_PER_YEAR, Session, slot};
use crate::register::store::{Recorder, SchoolId, Store, YearWrite, merge_year};

mod marks;
pub use marks::{MarksImport, import_marks, import_marks_from};

/// Bad rows listed in one error; the rest are counted.
pub const MAX_REPORTED_ERRORS: usize = 50;

/// Characters of a bad value repeated in an error. A 1 MB UPN must not become a 1 MB error
/// line (copied into the rejected file's error, `register_polls` and the alert email), and
/// an error must never carry more than a glimpse of a file's content.
pub const MAX_ECHOED_CHARS: usize = 40;

/// A value as an error repeats it: quoted, control characters escaped, and cut to
/// [`MAX_ECHOED_CHARS`] with its full length said.
pub fn shown(value: &str) -> String {
    let count = value.chars().count();
    let mut out = String::from("\"");
    for c in value.chars().take(MAX_ECHOED_CHARS) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('"');
    if count > MAX_ECHOED_CHARS {
        out = format!("{}…\" ({count} characters)", out.trim_end_matches('"'));
    }
    out
}

/// Longest accepted values, in characters. Far above any real name or address, and low
/// enough that a runaway field (a whole file in one cell) cannot reach a text message, a
/// letter or an email header.
pub mod limits {
    pub const NAME: usize = 100;
    pub const GROUP: usize = 20;
    pub const ETHNICITY: usize = 60;
    pub const RELATIONSHIP: usize = 50;
    pub const ADDRESS_LINE: usize = 100;
    pub const POSTCODE: usize = 10;
    /// "+44 (0) 7700 900 123" and the like, with room to spare.
    pub const PHONE: usize = 30;
    /// RFC 5321's limit on a forward path.
    pub const EMAIL: usize = 254;
}

/// Line breaks, tabs and Unicode line separators inside a field: a name typed into an MIS
/// form with Enter, an address pasted as several lines. They become one space.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\r' | '\n' | '\t' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Explicit bidirectional overrides and isolates: no real name needs them, and they make
/// text display in an order other than it is stored (a spoofed name or address).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A text field made safe for every place it goes (an email header, a text message, a
/// letter, a CSV): line breaks and tabs become one space and the result is trimmed;
/// any other control character is refused, as is a value longer than `max` characters.
/// Returns the text and whether it was changed.
fn clean_text(value: &str, max: usize) -> std::result::Result<(String, bool), String> {
    let mut out = String::with_capacity(value.len());
    let mut cleaned = false;
    let mut pending_space = false;
    for (i, c) in value.chars().enumerate() {
        if is_line_break(c) {
            cleaned = true;
            pending_space = true;
            continue;
        }
        if c.is_control() || is_bidi_control(c) {
            return Err(format!(
                "contains the control character U+{:04X} at character {}; only printable text \
                 is allowed (fix it in the MIS)",
                u32::from(c),
                i + 1
            ));
        }
        if pending_space {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
            pending_space = false;
        }
        out.push(c);
    }
    let out = out.trim().to_owned();
    let length = out.chars().count();
    if length > max {
        return Err(format!(
            "is {length} characters long; at most {max} are allowed"
        ));
    }
    Ok((out, cleaned))
}

pub const PUPIL_COLUMNS: &[&str] = &[
    "upn",
    "forename",
    "surname",
    "date_of_birth",
    "year_group",
    "reg_group",
    "gender",
    "fsm",
    "sen",
    "eal",
    "ethnicity",
    "lac",
    "social_worker",
    "young_carer",
    "concern",
    "admission_date",
    "leaving_date",
];

pub const CONTACT_COLUMNS: &[&str] = &[
    "upn",
    "name",
    "relationship",
    "priority",
    "email",
    "mobile",
    "parental_responsibility",
    "address_line_1",
    "address_line_2",
    "town",
    "postcode",
];

pub const MARK_COLUMNS: &[&str] = &["upn", "date", "session", "mark"];

const YEAR_GROUPS: &[&str] = &[
    "N1", "N2", "R", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14",
];

/// One bad row (or the whole file, when `line` is 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub column: Option<String>,
    pub message: String,
}

/// An import that was refused; nothing was written.
#[derive(Debug)]
pub struct ImportError {
    pub file: String,
    pub errors: Vec<RowError>,
    /// All bad rows, including those not listed.
    pub total: usize,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} bad row{}; nothing was imported",
            self.file,
            self.total,
            if self.total == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            match (&e.column, e.line) {
                (_, 0) => writeln!(f, "{}: {}", self.file, e.message)?,
                (Some(c), line) => writeln!(f, "{}:{}: {}: {}", self.file, line, c, e.message)?,
                (None, line) => writeln!(f, "{}:{}: {}", self.file, line, e.message)?,
            }
        }
        if self.total > self.errors.len() {
            writeln!(f, "… and {} more", self.total - self.errors.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportError {}

/// What an import did, for the one-line summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub file: String,
    pub rows_read: u64,
    pub inserted: u64,
    /// Marks: amended sessions; pupils and contacts: updated records.
    pub amended: u64,
    pub unchanged: u64,
    /// Contacts no longer in the file for a pupil it lists.
    pub removed: u64,
    /// `"J→J1"` or `"H kept (legacy, authorised absence)"` → sessions.
    pub legacy: BTreeMap<String, u64>,
    /// Fields whose line breaks or tabs were replaced by a space (names and addresses as
    /// MIS exports carry them).
    pub cleaned: u64,
    /// Marks: not-counted codes (`#`, `Y1`…) on days that are not school days (INSET days,
    /// holidays, weekends): accepted, not stored, counted nowhere.
    pub not_counted_on_closed_days: u64,
    /// Marks dated before the pupil's admission or after their leaving date: kept, but no
    /// statistic counts them.
    pub outside_enrolment: u64,
    /// A full pupils export: pupils on the roll, with no leaving date, that it no longer
    /// lists (newly; their deletion notice waits for a person).
    pub missing_from_export: u64,
}

impl ImportSummary {
    pub fn changed_nothing(&self) -> bool {
        self.inserted == 0
            && self.amended == 0
            && self.removed == 0
            && self.missing_from_export == 0
    }
}

/// Collects row errors with a cap on how many are kept.
struct Errors {
    list: Vec<RowError>,
    total: usize,
}

impl Errors {
    fn new() -> Errors {
        Errors {
            list: Vec::new(),
            total: 0,
        }
    }
    fn push(&mut self, line: u64, column: Option<&str>, message: impl Into<String>) {
        self.total += 1;
        if self.list.len() < MAX_REPORTED_ERRORS {
            self.list.push(RowError {
                line,
                column: column.map(str::to_owned),
                message: message.into(),
            });
        }
    }
    fn into_result(self, file: &str) -> std::result::Result<(), ImportError> {
        if self.total == 0 {
            Ok(())
        } else {
            Err(ImportError {
                file: file.to_owned(),
                errors: self.list,
                total: self.total,
            })
        }
    }
}

/// Header positions for the expected columns; extra columns are ignored.
struct Columns {
    index: Vec<usize>,
}

impl Columns {
    fn find(
        headers: &csv::ByteRecord,
        wanted: &[&str],
        file: &str,
    ) -> std::result::Result<Columns, ImportError> {
        let names: Vec<String> = headers
            .iter()
            .map(|h| {
                String::from_utf8_lossy(h)
                    .trim()
                    .trim_start_matches('\u{feff}')
                    .to_ascii_lowercase()
            })
            .collect();
        let mut index = Vec::with_capacity(wanted.len());
        let mut missing = Vec::new();
        let mut twice = Vec::new();
        for w in wanted {
            let mut at = names
                .iter()
                .enumerate()
                .filter(|(_, n)| n == w)
                .map(|(i, _)| i);
            match (at.next(), at.next()) {
                (Some(i), None) => index.push(i),
                (Some(i), Some(j)) => {
                    twice.push(format!("{w} (columns {} and {})", i + 1, j + 1));
                    index.push(i);
                }
                (None, _) => missing.push(*w),
            }
        }
        if missing.is_empty() && twice.is_empty() {
            return Ok(Columns { index });
        }
        const SHOWN_HEADERS: usize = 30;
        let mut found: Vec<String> = names
            .iter()
            .take(SHOWN_HEADERS)
            .map(|n| {
                if n.chars().count() > MAX_ECHOED_CHARS || n.chars().any(char::is_control) {
                    shown(n)
                } else {
                    n.clone()
                }
            })
            .collect();
        if names.len() > SHOWN_HEADERS {
            found.push(format!("… {} columns in all", names.len()));
        }
        let message = if missing.is_empty() {
            format!(
                "the header row names {} twice, so rollcall cannot tell which to use; \
                 remove or rename the extra column",
                twice.join(", ")
            )
        } else {
            format!(
                "the header row lacks column{} {}; expected columns: {} (found: {})",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                wanted.join(","),
                found.join(",")
            )
        };
        Err(ImportError {
            file: file.to_owned(),
            errors: vec![RowError {
                line: 1,
                column: None,
                message,
            }],
            total: 1,
        })
    }

    /// Field `n` of `wanted`, trimmed; empty when the row is short.
    fn get<'r>(&self, record: &'r csv::StringRecord, n: usize) -> &'r str {
        record.get(self.index[n]).map_or("", str::trim)
    }
}

/// An export opened for reading, and how errors and amendment records name it. The daemon's
/// inbox opens its files itself (refusing links, see [`crate::register::inbox`]) and hands them over.
pub struct Export {
    pub file: File,
    /// As errors name the file: its path.
    pub display: String,
    /// As amendment records name the source: the file name.
    pub name: String,
}

impl Export {
    pub fn open(path: &Path) -> Result<Export> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Export {
            file,
            display: path.display().to_string(),
            name: file_name(path),
        })
    }
}

fn csv_reader<R: Read>(input: R) -> csv::Reader<BufReader<R>> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, input))
}

fn parse_date(text: &str) -> std::result::Result<NaiveDate, String> {
    let bad = || format!("{} is not a date as YYYY-MM-DD", shown(text));
    if text.len() != 10 {
        return Err(bad());
    }
    NaiveDate::from_str(text).map_err(|_| bad())
}

fn parse_bool(text: &str) -> std::result::Result<bool, String> {
    match text {
        "Y" | "y" | "true" | "TRUE" | "True" | "1" => Ok(true),
        "N" | "n" | "false" | "FALSE" | "False" | "0" | "" => Ok(false),
        _ => Err(format!(
            "{} is not Y, N, true, false, 1, 0 or empty",
            shown(text)
        )),
    }
}

/// Reads and validates a pupils file, then inserts new pupils and updates changed ones.
pub async fn import_pupils(store: &Store, school: SchoolId, path: &Path) -> Result<ImportSummary> {
    import_pupils_from(store, school, Export::open(path)?).await
}

/// A full MIS export of the roll (`rollcall import pupils FILE --full`): as
/// [`import_pupils`], then every pupil on the roll with no leaving date whom the file does not
/// list is recorded as missing from the export on `on` (the school-local date), which the
/// deletion notice reads; nothing is deleted. Never for a partial export: a file listing some
/// pupils says nothing about the others.
pub async fn import_full_pupils(
    store: &Store,
    school: SchoolId,
    path: &Path,
    on: NaiveDate,
) -> Result<ImportSummary> {
    import_pupils_export(store, school, Export::open(path)?, Some(on)).await
}

/// [`import_pupils`] from an export already open.
pub async fn import_pupils_from(
    store: &Store,
    school: SchoolId,
    export: Export,
) -> Result<ImportSummary> {
    import_pupils_export(store, school, export, None).await
}

/// [`import_pupils`] from an export already open; with `full`, a full export seen on that date
/// (see [`import_full_pupils`]).
pub async fn import_pupils_export(
    store: &Store,
    school: SchoolId,
    export: Export,
    full: Option<NaiveDate>,
) -> Result<ImportSummary> {
    let file = export.display;
    let mut reader = csv_reader(export.file);
    let headers = reader.byte_headers()?.clone();
    let cols = Columns::find(&headers, PUPIL_COLUMNS, &file)?;
    let today = chrono::Local::now().date_naive();
    let mut cleaned = 0;
    let mut errors = Errors::new();
    let mut pupils: Vec<Pupil> = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut rows = 0;
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(
                    e.position().map_or(0, |p| p.line()),
                    None,
                    format!("unreadable row: {e}"),
                );
                continue;
            }
        };
        rows += 1;
        let line = record.position().map_or(0, |p| p.line());
        match parse_pupil(&cols, &record, today, &mut cleaned) {
            Ok(p) => {
                if let Some(first) = seen.insert(p.upn.as_str().to_owned(), line) {
                    errors.push(
                        line,
                        Some("upn"),
                        format!("{} is already on line {first}", p.upn),
                    );
                } else {
                    pupils.push(p);
                }
            }
            Err((column, message)) => errors.push(line, Some(column), message),
        }
    }
    errors.into_result(&file)?;

    let existing: HashMap<String, Pupil> = store
        .pupils(school)
        .await?
        .into_iter()
        .map(|s| (s.pupil.upn.as_str().to_owned(), s.pupil))
        .collect();
    let mut summary = ImportSummary {
        file,
        rows_read: rows,
        cleaned,
        ..ImportSummary::default()
    };
    let mut changed = Vec::new();
    for p in &pupils {
        match existing.get(p.upn.as_str()) {
            None => summary.inserted += 1,
            Some(old) if old == p => {
                summary.unchanged += 1;
                continue;
            }
            Some(_) => summary.amended += 1,
        }
        changed.push(p);
    }
    if !changed.is_empty() {
        store.upsert_pupils(school, &changed).await?;
    }
    if let Some(on) = full {
        let listed: std::collections::HashSet<String> =
            pupils.iter().map(|p| p.upn.as_str().to_owned()).collect();
        summary.missing_from_export =
            crate::register::records::full_export_seen(store, school, &listed, on, &summary.file)
                .await?;
    }
    Ok(summary)
}

type FieldError = (&'static str, String);

/// The earliest admission or leaving date: UPNs began in 1999, so no register rollcall
/// reads goes back further than this; 1900 is a placeholder, not a date.
const EARLIEST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1990, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};
/// Ages at admission an English school takes: two-year-olds in nursery to 25 with an EHC plan.
const YOUNGEST_AT_ADMISSION: u32 = 2;
const OLDEST_AT_ADMISSION: u32 = 25;

/// Admission and leaving dates more than a year ahead are typing mistakes (2100 for 2010):
/// such a pupil would silently drop out of every figure.
fn latest_plausible_date(today: NaiveDate) -> NaiveDate {
    today
        .checked_add_months(chrono::Months::new(12))
        .unwrap_or(NaiveDate::MAX)
}

/// A text field: cleaned (see [`clean_text`]), not empty unless `optional`, at most `max`
/// characters. Counts the fields whose line breaks were replaced.
fn text_field(
    value: &str,
    name: &'static str,
    max: usize,
    optional: bool,
    cleaned: &mut u64,
) -> std::result::Result<String, FieldError> {
    let (text, changed) = clean_text(value, max).map_err(|e| (name, e))?;
    if text.is_empty() && !optional {
        return Err((name, "must not be empty".to_owned()));
    }
    *cleaned += u64::from(changed);
    Ok(text)
}

fn parse_pupil(
    cols: &Columns,
    r: &csv::StringRecord,
    today: NaiveDate,
    cleaned: &mut u64,
) -> std::result::Result<Pupil, FieldError> {
    let f = |n: usize| cols.get(r, n);
    let upn = Upn::parse(f(0)).map_err(|e| ("upn", format!("{}: {e}", shown(f(0)))))?;
    let mut changed = 0;
    let mut text =
        |n: usize, name: &'static str, max: usize| text_field(f(n), name, max, false, &mut changed);
    let forename = text(1, "forename", limits::NAME)?;
    let surname = text(2, "surname", limits::NAME)?;
    let reg_group = text(5, "reg_group", limits::GROUP)?;
    let ethnicity = text(10, "ethnicity", limits::ETHNICITY)?;
    // The date of birth is checked against the admission date below (the age it gives).
    let date = |n: usize, name: &'static str| -> std::result::Result<NaiveDate, FieldError> {
        let d = parse_date(f(n)).map_err(|e| (name, e))?;
        let latest = latest_plausible_date(today);
        if name != "date_of_birth" && (d < EARLIEST_DATE || d > latest) {
            return Err((
                name,
                format!(
                    "{d} is not a plausible date: it must be between {EARLIEST_DATE} and {latest}"
                ),
            ));
        }
        Ok(d)
    };
    let flag = |n: usize, name: &'static str| parse_bool(f(n)).map_err(|e| (name, e));
    let year_group = f(4);
    if !YEAR_GROUPS.contains(&year_group) {
        return Err((
            "year_group",
            format!(
                "{} is not a year group; allowed: {}",
                shown(year_group),
                YEAR_GROUPS.join(", ")
            ),
        ));
    }
    let gender = f(6);
    if !matches!(gender, "M" | "F" | "U") {
        return Err(("gender", format!("{} is not M, F or U", shown(gender))));
    }
    let sen =
        Sen::parse(f(8)).ok_or_else(|| ("sen", format!("{} is not N, K or E", shown(f(8)))))?;
    let admission_date = date(15, "admission_date")?;
    let leaving_date = match f(16) {
        "" => None,
        _ => Some(date(16, "leaving_date")?),
    };
    if let Some(l) = leaving_date
        && l < admission_date
    {
        return Err((
            "leaving_date",
            format!("{l} is before the admission date {admission_date}"),
        ));
    }
    let date_of_birth = date(3, "date_of_birth")?;
    if date_of_birth >= admission_date {
        return Err((
            "date_of_birth",
            format!("{date_of_birth} is not before the admission date {admission_date}"),
        ));
    }
    let age = admission_date.years_since(date_of_birth).unwrap_or(0);
    if !(YOUNGEST_AT_ADMISSION..=OLDEST_AT_ADMISSION).contains(&age) {
        return Err((
            "date_of_birth",
            format!(
                "{date_of_birth} makes the pupil {age} at admission ({admission_date}); \
                 pupils are admitted aged {YOUNGEST_AT_ADMISSION} to {OLDEST_AT_ADMISSION}"
            ),
        ));
    }
    *cleaned += changed;
    Ok(Pupil {
        upn,
        forename,
        surname,
        date_of_birth,
        year_group: year_group.to_owned(),
        reg_group,
        gender: gender.to_owned(),
        fsm: flag(7, "fsm")?,
        sen,
        eal: flag(9, "eal")?,
        ethnicity,
        lac: flag(11, "lac")?,
        social_worker: flag(12, "social_worker")?,
        young_carer: flag(13, "young_carer")?,
        concern: flag(14, "concern")?,
        admission_date,
        leaving_date,
    })
}

/// Reads and validates a contacts file. The file is the whole truth for each pupil it lists:
/// their contacts are replaced (and removals counted); pupils it does not list keep theirs.
pub async fn import_contacts(
    store: &Store,
    school: SchoolId,
    path: &Path,
) -> Result<ImportSummary> {
    import_contacts_from(store, school, Export::open(path)?).await
}

/// [`import_contacts`] from an export already open.
pub async fn import_contacts_from(
    store: &Store,
    school: SchoolId,
    export: Export,
) -> Result<ImportSummary> {
    let file = export.display;
    let pupil_ids: HashMap<String, i64> = store
        .pupils(school)
        .await?
        .into_iter()
        .map(|s| (s.pupil.upn.as_str().to_owned(), s.id))
        .collect();
    let mut reader = csv_reader(export.file);
    let headers = reader.byte_headers()?.clone();
    let cols = Columns::find(&headers, CONTACT_COLUMNS, &file)?;
    let mut cleaned = 0;
    let mut errors = Errors::new();
    let mut contacts: Vec<(i64, Contact)> = Vec::new();
    let mut seen: HashMap<(String, i64), u64> = HashMap::new();
    let mut rows = 0;
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(
                    e.position().map_or(0, |p| p.line()),
                    None,
                    format!("unreadable row: {e}"),
                );
                continue;
            }
        };
        rows += 1;
        let line = record.position().map_or(0, |p| p.line());
        match parse_contact(&cols, &record, &mut cleaned) {
            Ok(c) => {
                let Some(&pupil_id) = pupil_ids.get(c.upn.as_str()) else {
                    errors.push(
                        line,
                        Some("upn"),
                        format!(
                            "{} is not a pupil of this school; import pupils first",
                            c.upn
                        ),
                    );
                    continue;
                };
                let key = (c.upn.as_str().to_owned(), c.priority);
                if let Some(first) = seen.insert(key, line) {
                    errors.push(
                        line,
                        Some("priority"),
                        format!(
                            "{} already has a priority {} contact on line {first}",
                            c.upn, c.priority
                        ),
                    );
                    continue;
                }
                contacts.push((pupil_id, c));
            }
            Err((column, message)) => errors.push(line, Some(column), message),
        }
    }
    errors.into_result(&file)?;

    let mut existing: HashMap<i64, Vec<Contact>> = HashMap::new();
    for (pupil_id, c) in store.contacts(school).await? {
        existing.entry(pupil_id).or_default().push(c);
    }
    let mut incoming: HashMap<i64, Vec<&Contact>> = HashMap::new();
    for (pupil_id, c) in &contacts {
        incoming.entry(*pupil_id).or_default().push(c);
    }
    let mut summary = ImportSummary {
        file,
        rows_read: rows,
        cleaned,
        ..ImportSummary::default()
    };
    let mut changed_pupils: Vec<i64> = Vec::new();
    for (pupil_id, new) in &incoming {
        let old = existing.get(pupil_id).map(Vec::as_slice).unwrap_or(&[]);
        let mut pupil_changed = false;
        for c in new {
            match old.iter().find(|o| o.priority == c.priority) {
                None => {
                    summary.inserted += 1;
                    pupil_changed = true;
                }
                Some(o) if o == *c => summary.unchanged += 1,
                Some(_) => {
                    summary.amended += 1;
                    pupil_changed = true;
                }
            }
        }
        let removed = old
            .iter()
            .filter(|o| !new.iter().any(|c| c.priority == o.priority))
            .count() as u64;
        summary.removed += removed;
        if pupil_changed || removed > 0 {
            changed_pupils.push(*pupil_id);
        }
    }
    if !changed_pupils.is_empty() {
        changed_pupils.sort_unstable();
        let rows: Vec<(i64, &Contact)> = contacts
            .iter()
            .filter(|(id, _)| changed_pupils.binary_search(id).is_ok())
            .map(|(id, c)| (*id, c))
            .collect();
        store
            .replace_contacts(school, &changed_pupils, &rows)
            .await?;
    }
    Ok(summary)
}

fn parse_contact(
    cols: &Columns,
    r: &csv::StringRecord,
    cleaned: &mut u64,
) -> std::result::Result<Contact, FieldError> {
    let f = |n: usize| cols.get(r, n);
    let upn = Upn::parse(f(0)).map_err(|e| ("upn", format!("{}: {e}", shown(f(0)))))?;
    let mut changed = 0;
    let mut text = |n: usize, name: &'static str, max: usize, optional: bool| {
        text_field(f(n), name, max, optional, &mut changed)
    };
    let name = text(1, "name", limits::NAME, false)?;
    let relationship = text(2, "relationship", limits::RELATIONSHIP, true)?;
    let address_line_1 = text(7, "address_line_1", limits::ADDRESS_LINE, true)?;
    let address_line_2 = text(8, "address_line_2", limits::ADDRESS_LINE, true)?;
    let town = text(9, "town", limits::ADDRESS_LINE, true)?;
    let postcode = text(10, "postcode", limits::POSTCODE, true)?.to_uppercase();
    let priority: i64 = f(3).parse().ok().filter(|p| *p >= 1).ok_or_else(|| {
        (
            "priority",
            format!(
                "{} is not a whole number from 1 (first contact)",
                shown(f(3))
            ),
        )
    })?;
    let email = match f(4) {
        "" => None,
        e => Some(parse_email(e).map_err(|why| ("email", why))?),
    };
    let mobile = match f(5) {
        "" => None,
        // The phone parser repeats what it was given; anything this long is not a number.
        m if m.chars().count() > limits::PHONE => {
            return Err((
                "mobile",
                format!(
                    "{} is {} characters long; a mobile number has at most {}",
                    shown(m),
                    m.chars().count(),
                    limits::PHONE
                ),
            ));
        }
        m => Some(
            crate::register::phone::parse_uk_mobile(m)
                .map(|number| number.to_string())
                .map_err(|e| ("mobile", e.to_string()))?,
        ),
    };
    *cleaned += changed;
    Ok(Contact {
        upn,
        priority,
        name,
        relationship,
        email,
        mobile,
        parental_responsibility: parse_bool(f(6)).map_err(|e| ("parental_responsibility", e))?,
        address_line_1,
        address_line_2,
        town,
        postcode,
    })
}

/// One email address as the family's mail server will see it, checked with the same parser
/// (lettre's) that later builds the email: an address it would refuse at send time is
/// refused here, where the office can fix it, instead of the family never being emailed.
/// A domain without a dot (`a@localhost`) or an address literal (`a@[10.0.0.1]`) is valid
/// RFC 5321 but never a parent's mailbox.
pub fn parse_email(text: &str) -> std::result::Result<String, String> {
    let length = text.chars().count();
    if length > limits::EMAIL {
        return Err(format!(
            "is {length} characters long; an email address has at most {}",
            limits::EMAIL
        ));
    }
    let address = lettre::Address::from_str(text).map_err(|e| {
        let why = match e {
            lettre::address::AddressError::MissingParts => "it needs one @ with a name before it and a domain after it",
            lettre::address::AddressError::Unbalanced => "it has unbalanced angle brackets",
            lettre::address::AddressError::InvalidUser => {
                "the part before the @ is not valid (one address only: no spaces, <>, ; or a second @)"
            }
            lettre::address::AddressError::InvalidDomain => "the part after the @ is not a valid domain",
            _ => "it is not of the form name@example.org",
        };
        format!("{} is not an email address: {why}", shown(text))
    })?;
    let domain = address.domain();
    if !domain.contains('.') || domain.starts_with('[') || domain.ends_with('.') {
        return Err(format!(
            "{} is not an email address a family could have: the domain needs a dot, like example.org",
            shown(text)
        ));
    }
    Ok(address.to_string())
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn trim_bytes(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

/// Counts bytes read, for the progress bar.
struct CountingReader<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The one-line summary every import ends with.
pub fn summary_line(kind: &str, s: &ImportSummary) -> String {
    let changed = match kind {
        "marks" => "amended",
        _ => "updated",
    };
    let mut line = format!(
        "{}: {} rows read; {} inserted, {} {changed}, {} unchanged",
        s.file, s.rows_read, s.inserted, s.amended, s.unchanged
    );
    if s.removed > 0 {
        line.push_str(&format!(", {} removed", s.removed));
    }
    if kind == "marks" {
        if s.legacy.is_empty() {
            line.push_str("; legacy codes mapped: none");
        } else {
            let parts: Vec<String> = s.legacy.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
            line.push_str(&format!("; legacy codes mapped: {}", parts.join(", ")));
        }
    }
    if s.cleaned > 0 {
        line.push_str(&format!(
            "; line breaks replaced by spaces in {} field{}",
            s.cleaned,
            plural(s.cleaned)
        ));
    }
    if s.not_counted_on_closed_days > 0 {
        line.push_str(&format!(
            "; {} not-counted mark{} on days that are not school days ignored",
            s.not_counted_on_closed_days,
            plural(s.not_counted_on_closed_days)
        ));
    }
    if s.outside_enrolment > 0 {
        line.push_str(&format!(
            "; {} mark{} before the pupil's admission or after their leaving date (kept, not counted)",
            s.outside_enrolment,
            plural(s.outside_enrolment)
        ));
    }
    if s.missing_from_export > 0 {
        line.push_str(&format!(
            "; {} pupil{} on the roll with no leaving date not in this full export (a deletion notice waits for approval; nothing deleted)",
            s.missing_from_export,
            plural(s.missing_from_export)
        ));
    }
    if s.changed_nothing() {
        line.push_str(" — nothing changed");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uk_mobiles_normalise_to_e164() {
        let e164 = |m: &str| {
            crate::register::phone::parse_uk_mobile(m)
                .ok()
                .map(|n| n.to_string())
        };
        assert_eq!(e164("07700 900123").as_deref(), Some("+447700900123"));
        assert_eq!(e164("+44 7700 900123").as_deref(), Some("+447700900123"));
        assert_eq!(e164("447700900123").as_deref(), Some("+447700900123"));
        assert_eq!(e164("01632 960123"), None, "a landline is not a mobile");
        assert_eq!(e164("0770090012"), None, "too short");
    }

    #[test]
    fn booleans_accept_the_documented_spellings() {
        for t in ["Y", "true", "1"] {
            assert_eq!(parse_bool(t), Ok(true));
        }
        for t in ["N", "false", "0", ""] {
            assert_eq!(parse_bool(t), Ok(false));
        }
        assert!(parse_bool("yes").is_err());
    }

    #[test]
    fn line_breaks_become_one_space_and_other_controls_are_refused() {
        assert_eq!(
            clean_text("Lisa\nHall", 100),
            Ok(("Lisa Hall".to_owned(), true))
        );
        assert_eq!(
            clean_text(" 1 High St\r\n\tFlat 2 ", 100),
            Ok(("1 High St Flat 2".to_owned(), true))
        );
        assert_eq!(
            clean_text("Zoë O'Brien", 100),
            Ok(("Zoë O'Brien".to_owned(), false))
        );
        assert!(clean_text("Ann\u{0}e", 100).is_err_and(|e| e.contains("U+0000 at character 4")));
        assert!(clean_text("evil\u{202e}txt", 100).is_err_and(|e| e.contains("U+202E")));
        assert!(clean_text(&"é".repeat(101), 100).is_err_and(|e| e.contains("101 characters")));
    }

    #[test]
    fn echoed_values_are_cut_and_escaped() {
        assert_eq!(shown("B80120000500"), "\"B80120000500\"");
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        let long = shown(&"x".repeat(1 << 20));
        assert_eq!(
            long,
            format!("\"{}…\" (1048576 characters)", "x".repeat(MAX_ECHOED_CHARS))
        );
    }

    #[test]
    fn emails_are_one_deliverable_address() {
        assert_eq!(
            parse_email("anne@example.org").as_deref(),
            Ok("anne@example.org")
        );
        for bad in [
            "x@@y.com",
            "a@b.com;c@d.com",
            "a@b.com, c@d.com",
            "<a@b.com>",
            "Anne <a@b.com>",
            "a@b..com",
            "a@b.com\r\nBcc: c@d.com",
            "a@localhost",
            "a@[127.0.0.1]",
        ] {
            assert!(parse_email(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn dates_must_be_iso() {
        assert!(parse_date("2025-09-03").is_ok());
        assert!(parse_date("03/09/2025").is_err());
        assert!(parse_date("2025-9-3").is_err());
        assert!(parse_date("2025-02-30").is_err());
    }
}
