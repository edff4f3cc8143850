//! The register inbox: the folder an MIS connector drops `pupils*.csv`, `contacts*.csv` and
//! `marks*.csv` exports into (any case: `MARKS.CSV` is a marks export). The daemon looks every
//! `[daemon] poll_seconds` and before every job that decides anything, and imports each
//! export once: pupils, then contacts, then marks. A pupils export named `pupils-full*.csv`
//! is a full export of the roll: a pupil on the roll with no leaving date that it no longer
//! lists gets the deletion notice, for a person's approval (nothing is deleted); any other
//! `pupils*.csv` is taken as partial and says nothing about the pupils it leaves out.
//!
//! # Handing a file over safely
//!
//! A file is only taken once it is whole. The connector should do one of these (both are
//! accepted, and the README tells MIS suppliers the same):
//!
//! - write `marks-….csv.tmp` (or `.part`, or a name starting with `.`), then **rename** it to
//!   `marks-….csv`; and/or
//! - when the file is complete, create an empty **marker** `marks-….csv.done` beside it. A file
//!   with its marker is taken at the next look; the marker is removed with it.
//!
//! Without a marker, a file is taken once its size and modification time have stayed the same
//! between two looks `inbox_settle_seconds` apart (60 s by default): an export still being
//! written keeps changing. Temporary names (`*.tmp`, `*.part`, `*.partial`, `*.crdownload`,
//! `*.filepart`, `*.swp`, `*~`) and hidden files are never touched.
//!
//! Rows written after the file was taken are not lost either: a file that changes while it is
//! being read is left where it is and read again once it settles (imports are idempotent,
//! so only the new rows are added), and a file in `done/` or `rejected/` that keeps growing
//! (a writer that paused longer than the settle time) is imported again, for a day, with an
//! alert telling the office to fix the connector.
//!
//! # What is refused
//!
//! Only a regular file with one link, owned by the daemon's user or the inbox folder's owner,
//! is read; it is opened without following links and checked again on the open handle, so a
//! link swapped in between cannot be read either. A symbolic link (to `/etc/passwd`, say), a
//! hard link, a device, a pipe or another user's file is moved to `rejected/` unread, with an
//! alert. Errors echo no more than a few dozen characters of any value in a file.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context as _, Result};
use chrono::{DateTime, Duration, Utc};

use crate::register::import::{
    Export, MarksImport, import_contacts_from, import_marks_from, import_pupils_export,
};
use crate::register::store::Store;
use crate::schedule::{instant_text, to_local};
use crate::school::SchoolRuntime;

/// Names a connector writes to before renaming: never taken, never moved.
const TEMPORARY_SUFFIXES: &[&str] = &[
    ".tmp",
    ".temp",
    ".part",
    ".partial",
    ".crdownload",
    ".filepart",
    ".swp",
    "~",
];
/// `NAME.done` beside `NAME`: the connector says `NAME` is complete.
const MARKER_SUFFIX: &str = ".done";
/// The most of an import error that goes into `register_polls` and the alert email; the
/// whole (already bounded) error is in the `.error.txt` file beside the rejected export.
const MAX_REPORTED_ERROR_BYTES: usize = 4_000;
/// How long a moved export is watched for rows its writer added after rollcall took it.
const WATCH_MOVED_HOURS: i64 = 24;

/// What kind of export a file is, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Pupils,
    Contacts,
    Marks,
}

impl Kind {
    /// `pupils*.csv`, `contacts*.csv`, `marks*.csv`, in any case.
    pub fn of(name: &str) -> Option<Kind> {
        let lower = name.to_lowercase();
        if !lower.ends_with(".csv") {
            return None;
        }
        [
            ("pupils", Kind::Pupils),
            ("contacts", Kind::Contacts),
            ("marks", Kind::Marks),
        ]
        .into_iter()
        .find(|(prefix, _)| lower.starts_with(prefix))
        .map(|(_, kind)| kind)
    }
}

/// What one daemon remembers about one school's inbox between looks.
#[derive(Debug, Default)]
pub struct InboxState {
    last_poll: Option<DateTime<Utc>>,
    sightings: HashMap<OsString, Sighting>,
    moved: Vec<Moved>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp {
            size: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

#[derive(Debug)]
struct Sighting {
    stamp: Stamp,
    since: DateTime<Utc>,
}

#[derive(Debug)]
struct Moved {
    path: PathBuf,
    name: String,
    kind: Kind,
    stamp: Stamp,
    at: DateTime<Utc>,
}

impl InboxState {
    /// Whether `every` has passed since the last look.
    pub fn poll_due(&self, now: DateTime<Utc>, every: Duration) -> bool {
        self.last_poll.is_none_or(|last| now - last >= every)
    }

    /// When the next look is due.
    pub fn next_poll(&self, every: Duration) -> Option<DateTime<Utc>> {
        self.last_poll.map(|last| last + every)
    }
}

/// What one look at the inbox did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Polled {
    /// Exports imported and moved to `done/`.
    pub imported: usize,
    /// Files moved to `rejected/` (a bad export, or not a file rollcall may read).
    pub rejected: usize,
    /// Exports left for a later look because they are still changing (names).
    pub waiting: Vec<String>,
    /// Moved exports that grew after they were taken, imported again.
    pub grown: usize,
}

/// Who may own an export: the daemon's user, or whoever owns the inbox folder (the MIS
/// connector's account, when it is not the daemon's).
#[derive(Debug, Clone, Copy)]
struct Owners {
    #[cfg(unix)]
    daemon: u32,
    #[cfg(unix)]
    inbox: u32,
}

impl Owners {
    fn of(inbox: &Path) -> Owners {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            // SAFETY: geteuid has no preconditions and cannot fail.
            let daemon = unsafe { libc::geteuid() };
            let inbox = std::fs::metadata(inbox).map_or(daemon, |m| m.uid());
            Owners { daemon, inbox }
        }
        #[cfg(not(unix))]
        {
            let _ = inbox;
            Owners {}
        }
    }

    /// Why a file must not be read, if it must not.
    fn refuse(&self, meta: &Metadata) -> Option<String> {
        let kind = meta.file_type();
        if kind.is_symlink() {
            return Some("it is a symbolic link, not a file; rollcall reads only files written into the inbox, never what a link points to".into());
        }
        if !kind.is_file() {
            return Some("it is not a regular file (a device, pipe or socket)".into());
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            if meta.nlink() > 1 {
                return Some(format!(
                    "it has {} hard links: a link to a file elsewhere is not an export",
                    meta.nlink()
                ));
            }
            if meta.uid() != self.daemon && meta.uid() != self.inbox {
                return Some(format!(
                    "it belongs to user {}, not to rollcall's user ({}) or the inbox folder's owner ({})",
                    meta.uid(),
                    self.daemon,
                    self.inbox
                ));
            }
        }
        None
    }
}

/// Hidden files, temporary names and markers: part of a hand-over still under way.
fn is_handover_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    name.starts_with('.')
        || lower.ends_with(MARKER_SUFFIX)
        || TEMPORARY_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// Opens without following a link (so a link swapped in after the first look fails here)
/// and without blocking (so a pipe swapped in cannot hang the daemon).
fn open_unfollowed(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    );
    options.open(path)
}

/// `DIR/STAMP-NAME`, with `-2`, `-3`… if that is taken: two files whose names are not
/// UTF-8 (and so read the same) must not overwrite each other.
fn unique_target(dir: &Path, stamp: &str, name: &str) -> PathBuf {
    let name: String = name.replace(['/', '\\'], "_");
    let first = dir.join(format!("{stamp}-{name}"));
    if std::fs::symlink_metadata(&first).is_err() {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("{stamp}-{n}-{name}")))
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or(first)
}

/// At most `max` bytes of `text`, cut at a character boundary, saying where the rest is.
fn bounded(text: &str, max: usize, rest_in: &str) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} … (cut; the whole error is in {rest_in})", &text[..end])
}

/// A pupils export named `pupils-full*.csv` (or `pupils_full*.csv`, any case) is a full
/// export of the roll: pupils it no longer lists, with no leaving date, get the deletion
/// notice (see [`crate::register::import::import_full_pupils`]). Any other pupils export is
/// taken as partial.
pub fn is_full_export(name: &str) -> bool {
    let lower = name.to_lowercase();
    lower.starts_with("pupils-full") || lower.starts_with("pupils_full")
}

async fn import(
    store: &Store,
    school: &SchoolRuntime,
    kind: Kind,
    export: Export,
    now: DateTime<Utc>,
) -> Result<()> {
    match kind {
        Kind::Pupils => {
            let full =
                is_full_export(&export.name).then(|| to_local(school.config.timezone, now).date());
            import_pupils_export(store, school.id, export, full)
                .await
                .map(|_| ())
        }
        Kind::Contacts => import_contacts_from(store, school.id, export)
            .await
            .map(|_| ()),
        Kind::Marks => {
            let options = MarksImport {
                by_name: "MIS export".into(),
                by_role: "register".into(),
                reason: None,
                progress: false,
            };
            import_marks_from(store, school.id, &school.config.calendar, export, &options)
                .await
                .map(|_| ())
        }
    }
}

/// One look at the school's inbox at `now`: imports what is ready, moves it to `done/` or
/// `rejected/`, records each in `register_polls`, alerts the attendance officer about each
/// rejected file, and re-imports moved exports that grew.
pub async fn poll(
    store: &Store,
    school: &SchoolRuntime,
    state: &mut InboxState,
    now: DateTime<Utc>,
    settle: Duration,
) -> Result<Polled> {
    state.last_poll = Some(now);
    let mut polled = Polled::default();
    let Some(inbox) = &school.config.inbox else {
        return Ok(polled);
    };
    let entries = match std::fs::read_dir(inbox) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(polled),
        Err(e) => {
            // Not a reason to stop the daemon (or every other school); the log says why.
            tracing::warn!(school = %school.config.id, inbox = %inbox.display(), "cannot read the register inbox: {e}");
            return Ok(polled);
        }
    };
    let owners = Owners::of(inbox);
    let mut found: Vec<(OsString, String, Metadata)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let lossy = name.to_string_lossy().into_owned();
        if is_handover_name(&lossy) {
            continue;
        }
        // A file that vanished between the listing and now was taken by someone else.
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if meta.is_dir() {
            continue;
        }
        found.push((name, lossy, meta));
    }
    found.sort_by(|a, b| (Kind::of(&a.1), &a.1).cmp(&(Kind::of(&b.1), &b.1)));
    state
        .sightings
        .retain(|name, _| found.iter().any(|(n, _, _)| n == name));

    for (name, lossy, meta) in found {
        let path = inbox.join(&name);
        if let Some(why) = owners.refuse(&meta) {
            settle_file(
                store,
                school,
                state,
                &path,
                &name,
                &lossy,
                None,
                Err(why),
                now,
            )
            .await?;
            polled.rejected += 1;
            continue;
        }
        let mut marker_name = name.clone();
        marker_name.push(MARKER_SUFFIX);
        let marker = inbox.join(&marker_name);
        let marked = std::fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file());
        let stamp = Stamp::of(&meta);
        if !marked && !settle.is_zero() {
            let steady = state
                .sightings
                .get(&name)
                .is_some_and(|s| s.stamp == stamp && now - s.since >= settle);
            if !steady {
                let since = match state.sightings.get(&name) {
                    Some(s) if s.stamp == stamp => s.since,
                    _ => now,
                };
                state.sightings.insert(name, Sighting { stamp, since });
                polled.waiting.push(lossy);
                continue;
            }
        }
        // Only once it has settled: a connector may write `export.dat` and rename it.
        let Some(kind) = Kind::of(&lossy) else {
            let why = "it is not a register export: name it pupils*.csv, contacts*.csv or \
                       marks*.csv"
                .to_owned();
            settle_file(
                store,
                school,
                state,
                &path,
                &name,
                &lossy,
                None,
                Err(why),
                now,
            )
            .await?;
            if marked {
                let _ = std::fs::remove_file(&marker);
            }
            polled.rejected += 1;
            continue;
        };
        let file = match open_unfollowed(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                let why = format!("it could not be opened as a file ({e})");
                settle_file(
                    store,
                    school,
                    state,
                    &path,
                    &name,
                    &lossy,
                    None,
                    Err(why),
                    now,
                )
                .await?;
                polled.rejected += 1;
                continue;
            }
        };
        let opened = file.metadata()?;
        if let Some(why) = owners.refuse(&opened) {
            settle_file(
                store,
                school,
                state,
                &path,
                &name,
                &lossy,
                None,
                Err(why),
                now,
            )
            .await?;
            polled.rejected += 1;
            continue;
        }
        let export = Export {
            file,
            display: lossy.clone(),
            name: lossy.clone(),
        };
        let result = import(store, school, kind, export, now).await;
        // Still being written (the marker came early, or the writer paused past the settle
        // time and went on): leave it, and read it again once it settles. Whatever was
        // imported stays; a later import adds only what is new.
        let after = std::fs::symlink_metadata(&path).ok().map(|m| Stamp::of(&m));
        if after.is_some_and(|a| a != Stamp::of(&opened)) {
            tracing::warn!(school = %school.config.id, file = %lossy, "register export changed while it was read; it is read again when it stops changing");
            state.sightings.insert(
                name,
                Sighting {
                    stamp: after.unwrap_or(stamp),
                    since: now,
                },
            );
            polled.waiting.push(lossy);
            continue;
        }
        let outcome = result.map_err(|e| format!("{e:#}"));
        let ok = outcome.is_ok();
        let target = settle_file(
            store,
            school,
            state,
            &path,
            &name,
            &lossy,
            Some(kind),
            outcome,
            now,
        )
        .await?;
        if marked {
            let _ = std::fs::remove_file(&marker);
        }
        if let Some(target) = target {
            state.moved.push(Moved {
                path: target,
                name: lossy,
                kind,
                stamp: Stamp::of(&opened),
                at: now,
            });
        }
        if ok {
            polled.imported += 1;
        } else {
            polled.rejected += 1;
        }
    }
    polled.grown += watch_moved(store, school, state, now).await?;
    Ok(polled)
}

/// Moves a file that was dealt with to `done/` or `rejected/` (with its error beside it),
/// records it in `register_polls`, and alerts the attendance officer about a rejection.
/// Returns where it went.
#[allow(clippy::too_many_arguments)]
async fn settle_file(
    store: &Store,
    school: &SchoolRuntime,
    state: &mut InboxState,
    path: &Path,
    name: &OsString,
    lossy: &str,
    kind: Option<Kind>,
    outcome: std::result::Result<(), String>,
    now: DateTime<Utc>,
) -> Result<Option<PathBuf>> {
    state.sightings.remove(name);
    let Some(inbox) = &school.config.inbox else {
        return Ok(None);
    };
    let folder = if outcome.is_ok() { "done" } else { "rejected" };
    let dir = inbox.join(folder);
    crate::private::create_dir_all(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let stamp = instant_text(now).replace(':', "");
    let target = unique_target(&dir, &stamp, lossy);
    std::fs::rename(path, &target)
        .with_context(|| format!("moving {} to {}", path.display(), target.display()))?;
    let target_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let error_file = target.with_file_name(format!("{target_name}.error.txt"));
    let recorded = match &outcome {
        Ok(()) => "imported".to_owned(),
        Err(e) => format!(
            "rejected: {}",
            bounded(
                e,
                MAX_REPORTED_ERROR_BYTES,
                &error_file.display().to_string()
            )
        ),
    };
    sqlx::query(
        "INSERT INTO register_polls (school_id, file, imported_at, outcome) VALUES ($1, $2, $3, $4)",
    )
    .bind(school.id.0)
    .bind(lossy)
    .bind(instant_text(now))
    .bind(&recorded)
    .execute(store.pool())
    .await?;
    if let Err(e) = &outcome {
        crate::private::write(&error_file, format!("{e}\n").as_bytes())
            .with_context(|| format!("cannot write {}", error_file.display()))?;
        tracing::warn!(school = %school.config.id, file = %lossy, "register export rejected");
        let what = if kind.is_some() {
            "was not imported, so nothing in it was used"
        } else {
            "was not read"
        };
        crate::delivery::outbox::queue_alert(
            store,
            school.id,
            &format!("rejected-{target_name}"),
            &format!(
                "The register export {lossy} {what}: {}. It is in {}; fix it and put it back in \
                 the inbox.",
                bounded(
                    e,
                    MAX_REPORTED_ERROR_BYTES,
                    &error_file.display().to_string()
                ),
                target.display()
            ),
            to_local(school.config.timezone, now),
        )
        .await?;
    }
    Ok(Some(target))
}

/// Exports moved in the last day that changed afterwards: their writer went on writing
/// after rollcall took them. Each is imported again (adding only the rows that are new) and
/// the attendance officer is told the connector needs fixing.
async fn watch_moved(
    store: &Store,
    school: &SchoolRuntime,
    state: &mut InboxState,
    now: DateTime<Utc>,
) -> Result<usize> {
    state
        .moved
        .retain(|m| now - m.at < Duration::hours(WATCH_MOVED_HOURS) && m.path.exists());
    let mut grown = 0;
    for moved in &mut state.moved {
        let Ok(meta) = std::fs::symlink_metadata(&moved.path) else {
            continue;
        };
        let stamp = Stamp::of(&meta);
        if stamp == moved.stamp || !meta.is_file() {
            continue;
        }
        moved.stamp = stamp;
        let result = match open_unfollowed(&moved.path) {
            Ok(file) => {
                let export = Export {
                    file,
                    display: moved.path.display().to_string(),
                    name: moved.name.clone(),
                };
                import(store, school, moved.kind, export, now)
                    .await
                    .map_err(|e| format!("{e:#}"))
            }
            Err(e) => Err(format!("it could not be opened ({e})")),
        };
        grown += 1;
        let outcome = match &result {
            Ok(()) => "imported again: rows were added after it was taken".to_owned(),
            Err(e) => format!(
                "rows were added after it was taken, and it no longer imports: {}",
                bounded(e, MAX_REPORTED_ERROR_BYTES, "the log")
            ),
        };
        sqlx::query(
            "INSERT INTO register_polls (school_id, file, imported_at, outcome) VALUES ($1, $2, $3, $4)",
        )
        .bind(school.id.0)
        .bind(&moved.name)
        .bind(instant_text(now))
        .bind(&outcome)
        .execute(store.pool())
        .await?;
        tracing::warn!(school = %school.config.id, file = %moved.name, "register export changed after it was taken");
        let key_stamp = instant_text(now).replace(':', "");
        crate::delivery::outbox::queue_alert(
            store,
            school.id,
            &format!("grown-{key_stamp}-{}", moved.name),
            &format!(
                "The MIS was still writing the register export {} after rollcall took it ({}); \
                 the file is {}. Ask whoever runs the MIS export to write the file under a \
                 temporary name (NAME.csv.tmp) and rename it when complete, or to create an \
                 empty NAME.csv.done beside it when complete.",
                moved.name,
                outcome,
                moved.path.display()
            ),
            to_local(school.config.timezone, now),
        )
        .await?;
    }
    Ok(grown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_are_known_by_name_in_any_case() {
        assert_eq!(Kind::of("MARKS.CSV"), Some(Kind::Marks));
        assert_eq!(Kind::of("Marks-2025-09-01.csv"), Some(Kind::Marks));
        assert_eq!(Kind::of("pupils.csv"), Some(Kind::Pupils));
        assert_eq!(Kind::of("contacts_all.CSV"), Some(Kind::Contacts));
        assert_eq!(Kind::of("marks.xlsx"), None);
        assert_eq!(Kind::of("register.csv"), None);
    }

    #[test]
    fn only_a_pupils_export_named_full_is_a_full_export() {
        assert_eq!(Kind::of("pupils-full-2025-11-13.csv"), Some(Kind::Pupils));
        assert!(is_full_export("pupils-full-2025-11-13.csv"));
        assert!(is_full_export("PUPILS_FULL.CSV"));
        assert!(!is_full_export("pupils.csv"));
        assert!(!is_full_export("pupils-2025-11-13.csv"));
        assert!(!is_full_export("full-pupils.csv"));
    }

    #[test]
    fn files_being_handed_over_are_left_alone() {
        for name in [
            "marks.csv.tmp",
            "marks.csv.part",
            "MARKS.CSV.PART",
            ".marks.csv",
            "marks.csv.done",
            "marks.csv~",
            "marks.csv.crdownload",
        ] {
            assert!(is_handover_name(name), "{name}");
        }
        assert!(!is_handover_name("marks.csv"));
    }

    #[test]
    fn long_errors_are_cut_at_a_character() {
        let text = "é".repeat(10);
        let cut = bounded(&text, 5, "x.error.txt");
        assert!(cut.starts_with("éé …"), "{cut}");
        assert!(cut.ends_with("is in x.error.txt)"));
        assert_eq!(bounded("short", 50, "x"), "short");
    }
}
