//! The file sink: every message written into a folder instead of sent, for dry runs, the demo
//! and schools trialling rollcall. Layout, one folder per school per day:
//!
//! ```text
//! OUTBOX_DIR/SCHOOL/YYYY-MM-DD/email/ID.eml      one RFC 5322 file per email (or LA return)
//! OUTBOX_DIR/SCHOOL/YYYY-MM-DD/sms.jsonl         one JSON line per text message
//! OUTBOX_DIR/SCHOOL/YYYY-MM-DD/letters/ID.pdf    one PDF per letter
//! OUTBOX_DIR/SCHOOL/YYYY-MM-DD/letters-YYYY-MM-DD.pdf   the day's batch for the office
//! OUTBOX_DIR/SCHOOL/YYYY-MM-DD/call-list.html, call-list.csv, tasks.csv
//! ```
//!
//! Writes are idempotent per outbox row (files named by row id, written to a temporary name
//! and renamed; a text line is not appended twice for one row), so a daemon killed between
//! writing and recording can safely write again: that is the file sink's "ask the provider".

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Serialize;

use super::{Outgoing, SendError, Sent};

#[derive(Debug, Clone)]
pub struct FileSink {
    root: PathBuf,
}

/// One text message as written to `sms.jsonl`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SmsLine {
    pub outbox_id: i64,
    pub attempt: u32,
    pub reference: String,
    pub to: String,
    pub body: String,
    pub segments: usize,
    pub encoding: String,
    pub written_at: String,
}

fn io(e: std::io::Error) -> SendError {
    SendError::Transient(format!("cannot write to the outbox folder: {e}"))
}

impl FileSink {
    pub fn new(root: impl Into<PathBuf>) -> FileSink {
        FileSink { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn day_dir(&self, school: &str, date: NaiveDate) -> PathBuf {
        self.root.join(school).join(date.to_string())
    }

    /// Writes `bytes` to `path` whole or not at all, owner-only (letters, call lists and
    /// reports name children; see [`crate::private`]).
    pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SendError> {
        crate::private::write_atomic(path, bytes).map_err(io)
    }

    pub fn email_path(&self, school: &str, date: NaiveDate, outbox_id: i64) -> PathBuf {
        self.day_dir(school, date)
            .join("email")
            .join(format!("{outbox_id}.eml"))
    }

    pub fn write_email(
        &self,
        date: NaiveDate,
        msg: &Outgoing,
        eml: &[u8],
    ) -> Result<Sent, SendError> {
        let path = self.email_path(&msg.school, date, msg.outbox_id);
        // Attachments beside the .eml too, so a letter can be opened without a mail reader.
        for attachment in &msg.attachments {
            let name = attachment.filename.replace(['/', '\\'], "_");
            Self::write_atomic(
                &path.with_file_name(format!("{}-{name}", msg.outbox_id)),
                &attachment.bytes,
            )?;
        }
        Self::write_atomic(&path, eml)?;
        Ok(Sent {
            provider_id: path.display().to_string(),
        })
    }

    fn sms_path(&self, school: &str, date: NaiveDate) -> PathBuf {
        self.day_dir(school, date).join("sms.jsonl")
    }

    /// The line already written for this outbox row, if any.
    pub fn lookup_sms(&self, school: &str, date: NaiveDate, outbox_id: i64) -> Option<SmsLine> {
        let text = std::fs::read_to_string(self.sms_path(school, date)).ok()?;
        text.lines()
            .filter_map(|l| serde_json::from_str::<SmsLine>(l).ok())
            .find(|l| l.outbox_id == outbox_id)
    }

    /// Appends one text message, unless this row's line is already there.
    pub fn write_sms(
        &self,
        school: &str,
        date: NaiveDate,
        line: &SmsLine,
    ) -> Result<Sent, SendError> {
        let provider_id = format!("sms.jsonl#{}", line.outbox_id);
        if self.lookup_sms(school, date, line.outbox_id).is_some() {
            return Ok(Sent { provider_id });
        }
        let path = self.sms_path(school, date);
        if let Some(dir) = path.parent() {
            crate::private::create_dir_all(dir).map_err(io)?;
        }
        let mut text = serde_json::to_string(line)
            .map_err(|e| SendError::Permanent(format!("cannot encode the text message: {e}")))?;
        text.push('\n');
        let mut file = crate::private::append(&path).map_err(io)?;
        // One write call per line: a crash leaves a whole line or none (lines are far below
        // the pipe-buffer size that appends are atomic within).
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Sent { provider_id })
    }

    pub fn letter_path(&self, school: &str, date: NaiveDate, outbox_id: i64) -> PathBuf {
        self.day_dir(school, date)
            .join("letters")
            .join(format!("{outbox_id}.pdf"))
    }

    pub fn batch_path(&self, school: &str, date: NaiveDate) -> PathBuf {
        self.day_dir(school, date)
            .join(format!("letters-{date}.pdf"))
    }
}
