//! Files and folders that hold children's data (the database, letters, call lists, LA
//! returns, rejected exports) are created owner-only: 0600 files in 0700 folders, whatever
//! the umask. Under systemd the unit's `UMask=0077` does this too; run by hand, from cron or
//! in a container, a default umask of 022 would leave them readable by every local user.
//!
//! Only what rollcall creates is restricted: an existing folder (the `outbox_dir` an
//! administrator made, say) keeps its mode, because changing it might lock someone out.

use std::io::Write as _;
use std::path::Path;

#[cfg(unix)]
const FILE_MODE: u32 = 0o600;
#[cfg(unix)]
const DIR_MODE: u32 = 0o700;

/// `create_dir_all`, with every folder it creates owner-only.
pub fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// Opens `path` for writing, creating it owner-only (or emptying it, and making it
/// owner-only, if it exists).
pub fn create(path: &Path) -> std::io::Result<std::fs::File> {
    let file = options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    restrict(&file)?;
    Ok(file)
}

/// Opens `path` for appending, creating it owner-only.
pub fn append(path: &Path) -> std::io::Result<std::fs::File> {
    let file = options().append(true).create(true).open(path)?;
    restrict(&file)?;
    Ok(file)
}

/// An empty owner-only file (an SQLite database before SQLite first opens it); fails if
/// `path` exists.
pub fn create_empty(path: &Path) -> std::io::Result<()> {
    let file = options().write(true).create_new(true).open(path)?;
    restrict(&file)
}

/// `std::fs::write`, owner-only.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = create(path)?;
    file.write_all(bytes)
}

/// Writes `bytes` to `path` whole or not at all: into `NAME.partial` beside it, synced, then
/// renamed over `path`. Creates missing folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        create_dir_all(dir)?;
    }
    let tmp = path.with_extension("partial");
    let mut file = create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn options() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options
}

/// The mode given at creation is filtered by the umask (which can only remove bits) and
/// ignored for a file that already existed, so it is set again on the open file.
fn restrict(file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = file.metadata()?.permissions().mode() & 0o777;
        if mode != FILE_MODE {
            file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn files_and_folders_are_owner_only_even_over_an_open_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nested = dir.path().join("a/b");
        create_dir_all(&nested).expect("dirs");
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        let file = nested.join("letter.pdf");
        write_atomic(&file, b"pdf").expect("write");
        assert_eq!(mode(&file), 0o600);
        // A file someone made world-readable is made private when rollcall rewrites it.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        write(&file, b"again").expect("write");
        assert_eq!(mode(&file), 0o600);
        let log = nested.join("sms.jsonl");
        append(&log).expect("append");
        assert_eq!(mode(&log), 0o600);
    }
}
