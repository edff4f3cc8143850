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

use crate::mark::{self, MarkCode, Resolved};
use crate::pupil::{Contact, Pupil, Sen, Upn};
use crate::session::{Calendar, SLOTS_PER_YEAR, Session, SlotSet, slot};
use crate::store::{Amendment, Recorder, RegisterWrite, SchoolId, Store};

/// Bad rows listed in one error; the rest are counted.
pub const MAX_REPORTED_ERRORS: usize = 50;

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
}

impl ImportSummary {
    pub fn changed_nothing(&self) -> bool {
        self.inserted == 0 && self.amended == 0 && self.removed == 0
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
        for w in wanted {
            match names.iter().position(|n| n == w) {
                Some(i) => index.push(i),
                None => missing.push(*w),
            }
        }
        if missing.is_empty() {
            return Ok(Columns { index });
        }
        Err(ImportError {
            file: file.to_owned(),
            errors: vec![RowError {
                line: 1,
                column: None,
                message: format!(
                    "the header row lacks column{} {}; expected columns: {} (found: {})",
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", "),
                    wanted.join(","),
                    names.join(",")
                ),
            }],
            total: 1,
        })
    }

    /// Field `n` of `wanted`, trimmed; empty when the row is short.
    fn get<'r>(&self, record: &'r csv::StringRecord, n: usize) -> &'r str {
        record.get(self.index[n]).map_or("", str::trim)
    }
}

fn open_csv(path: &Path) -> Result<csv::Reader<BufReader<File>>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, file)))
}

fn parse_date(text: &str) -> std::result::Result<NaiveDate, String> {
    if text.len() != 10 {
        return Err(format!("\"{text}\" is not a date as YYYY-MM-DD"));
    }
    NaiveDate::from_str(text).map_err(|_| format!("\"{text}\" is not a date as YYYY-MM-DD"))
}

fn parse_bool(text: &str) -> std::result::Result<bool, String> {
    match text {
        "Y" | "y" | "true" | "TRUE" | "True" | "1" => Ok(true),
        "N" | "n" | "false" | "FALSE" | "False" | "0" | "" => Ok(false),
        _ => Err(format!(
            "\"{text}\" is not Y, N, true, false, 1, 0 or empty"
        )),
    }
}

/// Reads and validates a pupils file, then inserts new pupils and updates changed ones.
pub async fn import_pupils(store: &Store, school: SchoolId, path: &Path) -> Result<ImportSummary> {
    let file = path.display().to_string();
    let mut reader = open_csv(path)?;
    let headers = reader.byte_headers()?.clone();
    let cols = Columns::find(&headers, PUPIL_COLUMNS, &file)?;
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
        match parse_pupil(&cols, &record) {
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
    Ok(summary)
}

type FieldError = (&'static str, String);

fn parse_pupil(cols: &Columns, r: &csv::StringRecord) -> std::result::Result<Pupil, FieldError> {
    let f = |n: usize| cols.get(r, n);
    let upn = Upn::parse(f(0)).map_err(|e| ("upn", format!("\"{}\": {e}", f(0))))?;
    let text = |n: usize, name: &'static str| -> std::result::Result<String, FieldError> {
        let v = f(n);
        if v.is_empty() {
            Err((name, "must not be empty".to_owned()))
        } else {
            Ok(v.to_owned())
        }
    };
    let date = |n: usize, name: &'static str| parse_date(f(n)).map_err(|e| (name, e));
    let flag = |n: usize, name: &'static str| parse_bool(f(n)).map_err(|e| (name, e));
    let year_group = f(4);
    if !YEAR_GROUPS.contains(&year_group) {
        return Err((
            "year_group",
            format!(
                "\"{year_group}\" is not a year group; allowed: {}",
                YEAR_GROUPS.join(", ")
            ),
        ));
    }
    let gender = f(6);
    if !matches!(gender, "M" | "F" | "U") {
        return Err(("gender", format!("\"{gender}\" is not M, F or U")));
    }
    let sen = Sen::parse(f(8)).ok_or_else(|| ("sen", format!("\"{}\" is not N, K or E", f(8))))?;
    let admission_date = date(15, "admission_date")?;
    let leaving_date = match f(16) {
        "" => None,
        t => Some(parse_date(t).map_err(|e| ("leaving_date", e))?),
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
    Ok(Pupil {
        upn,
        forename: text(1, "forename")?,
        surname: text(2, "surname")?,
        date_of_birth,
        year_group: year_group.to_owned(),
        reg_group: text(5, "reg_group")?,
        gender: gender.to_owned(),
        fsm: flag(7, "fsm")?,
        sen,
        eal: flag(9, "eal")?,
        ethnicity: text(10, "ethnicity")?,
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
    let file = path.display().to_string();
    let pupil_ids: HashMap<String, i64> = store
        .pupils(school)
        .await?
        .into_iter()
        .map(|s| (s.pupil.upn.as_str().to_owned(), s.id))
        .collect();
    let mut reader = open_csv(path)?;
    let headers = reader.byte_headers()?.clone();
    let cols = Columns::find(&headers, CONTACT_COLUMNS, &file)?;
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
        match parse_contact(&cols, &record) {
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
) -> std::result::Result<Contact, FieldError> {
    let f = |n: usize| cols.get(r, n);
    let upn = Upn::parse(f(0)).map_err(|e| ("upn", format!("\"{}\": {e}", f(0))))?;
    let name = f(1);
    if name.is_empty() {
        return Err(("name", "must not be empty".into()));
    }
    let priority: i64 = f(3).parse().ok().filter(|p| *p >= 1).ok_or_else(|| {
        (
            "priority",
            format!("\"{}\" is not a whole number from 1 (first contact)", f(3)),
        )
    })?;
    let email = match f(4) {
        "" => None,
        e if is_plausible_email(e) => Some(e.to_owned()),
        e => return Err(("email", format!("\"{e}\" is not an email address"))),
    };
    let mobile = match f(5) {
        "" => None,
        m => Some(
            crate::channel::sms::parse_uk_mobile(m)
                .map(|number| number.to_string())
                .map_err(|e| ("mobile", e.to_string()))?,
        ),
    };
    Ok(Contact {
        upn,
        priority,
        name: name.to_owned(),
        relationship: f(2).to_owned(),
        email,
        mobile,
        parental_responsibility: parse_bool(f(6)).map_err(|e| ("parental_responsibility", e))?,
        address_line_1: f(7).to_owned(),
        address_line_2: f(8).to_owned(),
        town: f(9).to_owned(),
        postcode: f(10).to_uppercase(),
    })
}

fn is_plausible_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !text.contains(' ')
        }
        None => false,
    }
}

/// Options for a marks import: who is recording, and why (for amendment records).
#[derive(Debug, Clone)]
pub struct MarksImport {
    pub by_name: String,
    pub by_role: String,
    pub reason: Option<String>,
    pub progress: bool,
}

impl Default for MarksImport {
    fn default() -> Self {
        MarksImport {
            by_name: "rollcall import".into(),
            by_role: "import".into(),
            reason: None,
            progress: std::io::stderr().is_terminal(),
        }
    }
}

/// A pupil-year being built from the file.
struct Staged {
    pupil: u32,
    year: i32,
    original: Option<Vec<u8>>,
    marks: Vec<u8>,
    set_by_file: SlotSet,
}

/// Reads and validates a marks file, then records new marks and amendments in one transaction.
pub async fn import_marks(
    store: &Store,
    school: SchoolId,
    calendar: &Calendar,
    path: &Path,
    options: &MarksImport,
) -> Result<ImportSummary> {
    let file = path.display().to_string();
    let stored = store.pupils(school).await?;
    let pupil_index: HashMap<&str, u32> = stored
        .iter()
        .enumerate()
        .map(|(i, s)| (s.pupil.upn.as_str(), i as u32))
        .collect();
    let pupil_row: HashMap<i64, u32> = stored
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id, i as u32))
        .collect();

    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .len();
    let progress = if options.progress {
        let bar = ProgressBar::new(size);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!("reading {file}"));
        Some(bar)
    } else {
        None
    };
    let raw = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let counted = CountingReader {
        inner: raw,
        bytes: 0,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, counted));
    let headers = reader.byte_headers()?.clone();
    let cols = Columns::find(&headers, MARK_COLUMNS, &file)?;
    let (c_upn, c_date, c_session, c_mark) =
        (cols.index[0], cols.index[1], cols.index[2], cols.index[3]);

    let mut errors = Errors::new();
    let mut summary = ImportSummary {
        file: file.clone(),
        ..ImportSummary::default()
    };
    let mut existing: HashMap<(u32, i32), Vec<u8>> = HashMap::new();
    let mut loaded_years: Vec<i32> = Vec::new();
    let mut staged: Vec<Staged> = Vec::new();
    let mut staged_at: HashMap<(u32, i32), usize> = HashMap::new();
    let mut amendments: Vec<(usize, usize, MarkCode, MarkCode)> = Vec::new();

    // Exports are sorted by pupil or by date, so remembering the last UPN and date parsed
    // saves most of the hashing and date parsing on large files.
    let mut last_upn: Vec<u8> = Vec::new();
    let mut last_pupil: Option<u32> = None;
    let mut last_date: Vec<u8> = Vec::new();
    let mut last_day: Result<NaiveDate, String> = Err(String::new());
    let mut last_stage: Option<(u32, i32, usize)> = None;
    let mut code_cache: HashMap<Vec<u8>, Option<Resolved>> = HashMap::new();
    let mut record = csv::ByteRecord::new();

    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                errors.push(
                    e.position().map_or(0, |p| p.line()),
                    None,
                    format!("unreadable row: {e}"),
                );
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        summary.rows_read += 1;
        let line = record.position().map_or(0, |p| p.line());
        if summary.rows_read.is_multiple_of(262_144)
            && let Some(bar) = &progress
        {
            bar.set_position(reader.get_ref().get_ref().bytes);
        }
        let field = |i: usize| trim_bytes(record.get(i).unwrap_or(b""));

        let upn = field(c_upn);
        if upn != last_upn.as_slice() {
            last_upn.clear();
            last_upn.extend_from_slice(upn);
            last_pupil = std::str::from_utf8(upn)
                .ok()
                .and_then(|u| pupil_index.get(u).copied());
        }
        let Some(pupil) = last_pupil else {
            let text = String::from_utf8_lossy(upn);
            let why = match Upn::parse(&text) {
                Err(e) => format!("\"{text}\" is not a valid UPN: {e}"),
                Ok(_) => format!("{text} is not a pupil of this school; import pupils first"),
            };
            errors.push(line, Some("upn"), why);
            continue;
        };

        let date = field(c_date);
        if date != last_date.as_slice() {
            last_date.clear();
            last_date.extend_from_slice(date);
            last_day = std::str::from_utf8(date)
                .map_err(|_| "the date is not text".to_owned())
                .and_then(parse_date)
                .and_then(|d| {
                    if calendar.is_school_day(d) {
                        Ok(d)
                    } else {
                        Err(format!(
                            "not a school day: {}",
                            calendar.why_not_school_day(d)
                        ))
                    }
                });
        }
        let day = match &last_day {
            Ok(d) => *d,
            Err(e) => {
                errors.push(line, Some("date"), e.clone());
                continue;
            }
        };

        let session = match field(c_session) {
            b"AM" | b"am" => Session::Am,
            b"PM" | b"pm" => Session::Pm,
            other => {
                errors.push(
                    line,
                    Some("session"),
                    format!("\"{}\" is not AM or PM", String::from_utf8_lossy(other)),
                );
                continue;
            }
        };

        let code_text = field(c_mark);
        let resolved = match code_cache.get(code_text) {
            Some(r) => *r,
            None => {
                let r = std::str::from_utf8(code_text).ok().and_then(mark::resolve);
                code_cache.insert(code_text.to_vec(), r);
                r
            }
        };
        let Some(resolved) = resolved else {
            errors.push(
                line,
                Some(&format!("column {} (mark)", c_mark + 1)),
                format!(
                    "unknown code \"{}\"; {}",
                    String::from_utf8_lossy(code_text),
                    mark::allowed_codes_sentence()
                ),
            );
            continue;
        };
        match resolved {
            Resolved::Exact(_) => {}
            Resolved::Kept(c) => {
                let category = c.category().map_or("", |k| k.label());
                *summary
                    .legacy
                    .entry(format!("{} kept (pre-2024 code, {category})", c.as_str()))
                    .or_default() += 1;
            }
            Resolved::Mapped(_, m) => {
                *summary
                    .legacy
                    .entry(format!("{}→{}", m.from, m.to))
                    .or_default() += 1;
            }
        }
        let code = resolved.code();

        let (year, at) = slot(day, session);
        if !loaded_years.contains(&year) {
            for row in store.register_years(school, year, year).await? {
                if let Some(&p) = pupil_row.get(&row.pupil_id) {
                    existing.insert((p, row.year), row.marks);
                }
            }
            loaded_years.push(year);
        }
        let index = match last_stage {
            Some((p, y, i)) if p == pupil && y == year => i,
            _ => {
                let i = *staged_at.entry((pupil, year)).or_insert_with(|| {
                    let original = existing.remove(&(pupil, year));
                    let mut marks = original.clone().unwrap_or_default();
                    marks.resize(SLOTS_PER_YEAR, 0);
                    staged.push(Staged {
                        pupil,
                        year,
                        original,
                        marks,
                        set_by_file: SlotSet::default(),
                    });
                    staged.len() - 1
                });
                last_stage = Some((pupil, year, i));
                i
            }
        };
        let entry = &mut staged[index];
        if entry.set_by_file.contains(at) {
            let earlier = MarkCode::from_byte(entry.marks[at]).unwrap_or(MarkCode::NONE);
            if earlier != code {
                errors.push(
                    line,
                    Some("mark"),
                    format!(
                        "{} {day} {session} is already marked \"{}\" earlier in this file",
                        stored[pupil as usize].pupil.upn,
                        earlier.as_str()
                    ),
                );
            }
            continue;
        }
        entry.set_by_file.insert(at);
        let before = entry
            .original
            .as_ref()
            .and_then(|o| o.get(at).copied())
            .and_then(MarkCode::from_byte)
            .unwrap_or(MarkCode::NONE);
        entry.marks[at] = code.byte();
        if before == code {
            summary.unchanged += 1;
        } else if before.is_none() {
            summary.inserted += 1;
        } else {
            summary.amended += 1;
            amendments.push((index, at, before, code));
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    errors.into_result(&file)?;
    if summary.changed_nothing() {
        return Ok(summary);
    }

    let amendments: Vec<Amendment> = amendments
        .into_iter()
        .map(|(index, at, original, new)| Amendment {
            pupil_id: stored[staged[index].pupil as usize].id,
            year: staged[index].year,
            slot: at,
            original,
            new,
        })
        .collect();
    let writes: Vec<RegisterWrite> = staged
        .into_iter()
        .filter_map(|s| {
            let recorded: Vec<u16> = (0..SLOTS_PER_YEAR)
                .filter(|&at| {
                    s.set_by_file.contains(at)
                        && s.original
                            .as_ref()
                            .and_then(|o| o.get(at).copied())
                            .unwrap_or(0)
                            != s.marks[at]
                })
                .map(|at| at as u16)
                .collect();
            (!recorded.is_empty()).then(|| RegisterWrite {
                pupil_id: stored[s.pupil as usize].id,
                year: s.year,
                marks: s.marks,
                recorded_slots: recorded,
            })
        })
        .collect();
    let recorder = Recorder {
        kind: "import".into(),
        source: file_name(path),
        by_name: options.by_name.clone(),
        by_role: options.by_role.clone(),
        reason: options
            .reason
            .clone()
            .unwrap_or_else(|| format!("re-imported from {}", file_name(path))),
    };
    store
        .record_marks(school, &recorder, &writes, &amendments)
        .await?;
    Ok(summary)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uk_mobiles_normalise_to_e164() {
        let e164 = |m: &str| {
            crate::channel::sms::parse_uk_mobile(m)
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
    fn dates_must_be_iso() {
        assert!(parse_date("2025-09-03").is_ok());
        assert!(parse_date("03/09/2025").is_err());
        assert!(parse_date("2025-9-3").is_err());
        assert!(parse_date("2025-02-30").is_err());
    }
}
