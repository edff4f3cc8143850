//! Database URLs: which backend a URL names, the SQLite file behind it (made only by the
//! commands that create a database), and the URL as messages show it, without its password.

use std::str::FromStr;

use anyhow::{Context, Result};
use sqlx::ConnectOptions as _;
use sqlx::any::AnyConnectOptions;

use super::{Backend, Create};

pub(super) fn backend_of(url: &str) -> Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Backend::Postgres)
    } else {
        anyhow::bail!(
            "database url \"{}\" is not supported: use sqlite://PATH or postgres://…",
            redact(url)
        )
    }
}

/// The file of an SQLite URL; `None` for an in-memory database.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or("");
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    (!path.is_empty() && !path.starts_with(':')).then(|| std::path::PathBuf::from(path))
}

/// A missing database is created here, owner-only whatever the umask, so SQLite (which gives
/// its -wal and -shm files the database file's mode) keeps children's data private; with
/// [`Create::Never`] a missing one is an error that says which path was looked for. A
/// database this user cannot write is said so up front, with its path, rather than as
/// "attempt to write a readonly database" half-way through a command.
pub(super) fn prepare_sqlite_file(path: &std::path::Path, create: Create) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {
            if let Err(e) = std::fs::OpenOptions::new().write(true).open(path)
                && matches!(
                    e.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                )
            {
                anyhow::bail!(
                    "the database {} is read-only for this user ({e}); rollcall writes to it \
                     (and to its folder, for the -wal and -shm files)",
                    path.display()
                );
            }
            Ok(())
        }
        Ok(_) => anyhow::bail!("the database {} is not a file", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match create {
            Create::Never => anyhow::bail!(
                "there is no database at {}: only `rollcall import` and `rollcall demo` create \
                 one. Check [database] url in the config (a relative path is relative to the \
                 config file), or import the register first",
                path.display()
            ),
            Create::IfMissing => {
                if let Some(dir) = path.parent()
                    && !dir.as_os_str().is_empty()
                {
                    crate::private::create_dir_all(dir)
                        .with_context(|| format!("cannot create the folder {}", dir.display()))?;
                }
                crate::private::create_empty(path)
                    .with_context(|| format!("cannot create the database {}", path.display()))
            }
        },
        Err(e) => {
            Err(anyhow::Error::new(e)
                .context(format!("cannot open the database {}", path.display())))
        }
    }
}

/// How sqlx connects. It logs statements with their whole SQL text, and a multi-row insert
/// is tens of kilobytes of placeholders (a slow one printed ~50 KB at warn). Slow statements
/// go out at debug and the rest at trace, so the default level (warn) and the systemd unit's
/// (info) never print SQL; `RUST_LOG=sqlx=debug` shows the slow ones. Bound values are never
/// logged by sqlx, so no pupil data is in them either way.
pub(super) fn connect_options(url: &str) -> Result<AnyConnectOptions> {
    Ok(AnyConnectOptions::from_str(url)
        .with_context(|| format!("the database url {} is not valid", redact(url)))?
        .log_statements(log::LevelFilter::Trace)
        .log_slow_statements(log::LevelFilter::Debug, std::time::Duration::from_secs(1)))
}

/// Adds `mode=rwc` so SQLite opens the file read-write (and may create it in memory).
pub(super) fn sqlite_url_creating(url: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    if query.split('&').any(|kv| kv.starts_with("mode=")) {
        url.to_owned()
    } else if query.is_empty() {
        format!("{url}?mode=rwc")
    } else {
        format!("{url}&mode=rwc")
    }
}

/// A database URL with any password removed, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***@{}", &url[..scheme], &url[at + 1..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
