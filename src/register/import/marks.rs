//! The marks import: a register file read, checked session by session against the calendar
//! and the pupils, and merged into the register years.

use super::*;

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
    /// The row's version and marks as read before the file; `None` when there was no row.
    seen: Option<(i64, Vec<u8>)>,
    /// The file's marks for this year, one byte per slot; 0 where the file says nothing.
    file: Vec<u8>,
}

/// What a parsed date is, for the rows that carry it.
#[derive(Clone)]
enum Day {
    School(NaiveDate),
    /// Not a school day, with why; only not-counted codes may be recorded on it.
    Closed(String),
    Bad(String),
}

/// Reads and validates a marks file, then records new marks and amendments in one transaction.
pub async fn import_marks(
    store: &Store,
    school: SchoolId,
    calendar: &Calendar,
    path: &Path,
    options: &MarksImport,
) -> Result<ImportSummary> {
    import_marks_from(store, school, calendar, Export::open(path)?, options).await
}

/// [`import_marks`] from an export already open.
pub async fn import_marks_from(
    store: &Store,
    school: SchoolId,
    calendar: &Calendar,
    export: Export,
    options: &MarksImport,
) -> Result<ImportSummary> {
    let file = export.display.clone();
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

    let size = export
        .file
        .metadata()
        .with_context(|| format!("cannot read {file}"))?
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
    let counted = CountingReader {
        inner: export.file,
        bytes: 0,
    };
    let mut reader = csv_reader(counted);
    let headers = reader.byte_headers()?.clone();
    let cols = Columns::find(&headers, MARK_COLUMNS, &file)?;
    let (c_upn, c_date, c_session, c_mark) =
        (cols.index[0], cols.index[1], cols.index[2], cols.index[3]);

    let mut errors = Errors::new();
    let mut summary = ImportSummary {
        file: file.clone(),
        ..ImportSummary::default()
    };
    let mut existing: HashMap<(u32, i32), (i64, Vec<u8>)> = HashMap::new();
    let mut loaded_years: Vec<i32> = Vec::new();
    let mut staged: Vec<Staged> = Vec::new();
    let mut staged_at: HashMap<(u32, i32), usize> = HashMap::new();

    // Exports are sorted by pupil or by date, so remembering the last UPN and date parsed
    // saves most of the hashing and date parsing on large files.
    let mut last_upn: Vec<u8> = Vec::new();
    let mut last_pupil: Option<u32> = None;
    let mut last_date: Vec<u8> = Vec::new();
    let mut last_day = Day::Bad(String::new());
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
                Err(e) => format!("{} is not a valid UPN: {e}", shown(&text)),
                Ok(_) => format!("{text} is not a pupil of this school; import pupils first"),
            };
            errors.push(line, Some("upn"), why);
            continue;
        };

        let date = field(c_date);
        if date != last_date.as_slice() {
            last_date.clear();
            last_date.extend_from_slice(date);
            last_day = match std::str::from_utf8(date)
                .map_err(|_| "the date is not text".to_owned())
                .and_then(parse_date)
            {
                Ok(d) if calendar.is_school_day(d) => Day::School(d),
                Ok(d) => Day::Closed(calendar.why_not_school_day(d)),
                Err(e) => Day::Bad(e),
            };
        }
        if let Day::Bad(e) = &last_day {
            errors.push(line, Some("date"), e.clone());
            continue;
        }

        let session = match field(c_session) {
            b"AM" | b"am" => Session::Am,
            b"PM" | b"pm" => Session::Pm,
            other => {
                errors.push(
                    line,
                    Some("session"),
                    format!("{} is not AM or PM", shown(&String::from_utf8_lossy(other))),
                );
                continue;
            }
        };

        let code_text = field(c_mark);
        let resolved = match code_cache.get(code_text) {
            Some(r) => *r,
            None => {
                let r = std::str::from_utf8(code_text).ok().and_then(mark::resolve);
                // Only short texts are worth remembering: a bad cell can be a megabyte.
                if code_text.len() <= 8 {
                    code_cache.insert(code_text.to_vec(), r);
                }
                r
            }
        };
        let Some(resolved) = resolved else {
            errors.push(
                line,
                Some(&format!("column {} (mark)", c_mark + 1)),
                format!(
                    "unknown code {}; {}",
                    shown(&String::from_utf8_lossy(code_text)),
                    mark::allowed_codes_sentence()
                ),
            );
            continue;
        };
        let code = resolved.code();
        let day = match &last_day {
            Day::School(d) => *d,
            // A whole-term export carries `#` (or another not-counted code) on INSET days
            // and holidays; it counts for nothing, so it is accepted and not stored.
            Day::Closed(_) if code.category() == Some(Category::NotCounted) => {
                summary.not_counted_on_closed_days += 1;
                continue;
            }
            Day::Closed(why) => {
                errors.push(
                    line,
                    Some("date"),
                    format!(
                        "not a school day: {why}; only a not-counted code ({}) may be recorded \
                         on such a day",
                        mark::not_counted_codes().join(" ")
                    ),
                );
                continue;
            }
            Day::Bad(_) => continue,
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

        let (year, at) = slot(day, session);
        if !loaded_years.contains(&year) {
            for row in store.register_years(school, year, year).await? {
                if let Some(&p) = pupil_row.get(&row.pupil_id) {
                    existing.insert((p, row.year), (row.version, row.marks));
                }
            }
            loaded_years.push(year);
        }
        let index = match last_stage {
            Some((p, y, i)) if p == pupil && y == year => i,
            _ => {
                let i = *staged_at.entry((pupil, year)).or_insert_with(|| {
                    staged.push(Staged {
                        pupil,
                        year,
                        seen: existing.remove(&(pupil, year)),
                        file: vec![0; SLOTS_PER_YEAR],
                    });
                    staged.len() - 1
                });
                last_stage = Some((pupil, year, i));
                i
            }
        };
        let entry = &mut staged[index];
        if entry.file[at] != 0 {
            let earlier = MarkCode::from_byte(entry.file[at]).unwrap_or(MarkCode::NONE);
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
        entry.file[at] = code.byte();
        let pupil_record = &stored[pupil as usize].pupil;
        if day < pupil_record.admission_date
            || pupil_record.leaving_date.is_some_and(|left| day > left)
        {
            summary.outside_enrolment += 1;
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    errors.into_result(&file)?;

    // What the file changes, against the register as read. Years it leaves as they are need
    // no write (re-importing a file is then free); the others are merged again under the
    // store's lock, in case another writer changed them meanwhile.
    let mut writes = Vec::new();
    for s in &staged {
        let seen = s.seen.as_ref().map(|(v, m)| (*v, m.as_slice()));
        let merge = merge_year(seen.map_or(&[][..], |(_, m)| m), &s.file);
        if merge.changes_anything() {
            writes.push(YearWrite {
                pupil_id: stored[s.pupil as usize].id,
                year: s.year,
                seen,
                file: &s.file,
            });
        } else {
            summary.unchanged += merge.unchanged;
        }
    }
    if writes.is_empty() {
        return Ok(summary);
    }
    let recorder = Recorder {
        kind: "import".into(),
        source: export.name.clone(),
        by_name: options.by_name.clone(),
        by_role: options.by_role.clone(),
        reason: options
            .reason
            .clone()
            .unwrap_or_else(|| format!("re-imported from {}", export.name)),
    };
    let recorded = store.record_marks(school, &recorder, &writes).await?;
    summary.inserted += recorded.inserted;
    summary.amended += recorded.amended;
    summary.unchanged += recorded.unchanged;
    if recorded.merged_again > 0 {
        tracing::info!(
            file = %export.name,
            pupil_years = recorded.merged_again,
            "another writer changed some of these pupils' registers during the import; merged with its marks"
        );
    }
    Ok(summary)
}
