//! Issue 12, item 9: every file rollcall writes with children's data in it (letters, emails
//! and texts in the file sink, call lists, reports and LA returns) is created owner-only,
//! in owner-only folders, whatever the umask (the tests run with the usual 022, which left
//! them world-readable before). The database is covered in `tests/cli_errors.rs`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use chrono::NaiveDate;
use rollcall::delivery::channel::Outgoing;
use rollcall::delivery::channel::file::{FileSink, SmsLine};
use rollcall::report::{Output, write_outputs};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_file_sink_and_reports_are_owner_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = FileSink::new(dir.path().join("outbox"));
    let day = NaiveDate::from_ymd_opt(2025, 9, 8).expect("date");
    let letter = sink.letter_path("north", day, 7);
    FileSink::write_atomic(&letter, b"%PDF-1.4").expect("letter");
    let call_list = sink.day_dir("north", day).join("call-list.csv");
    FileSink::write_atomic(&call_list, b"Date,Pupil\n").expect("call list");
    let msg = Outgoing {
        outbox_id: 8,
        attempt: 1,
        school: "north".into(),
        to_name: "Anne Lovelace".into(),
        address: "anne@example.org".into(),
        subject: "Attendance".into(),
        text: "Dear Anne".into(),
        html: None,
        attachments: Vec::new(),
    };
    sink.write_email(day, &msg, b"To: Anne\r\n\r\nDear Anne\r\n")
        .expect("email");
    sink.write_sms(
        "north",
        day,
        &SmsLine {
            outbox_id: 9,
            attempt: 1,
            reference: "rollcall-north-9-1".into(),
            to: "+447700900001".into(),
            body: "Ada was not at school".into(),
            segments: 1,
            encoding: "Gsm7".into(),
            written_at: "2025-09-08T08:50:00Z".into(),
        },
    )
    .expect("sms");
    for file in [
        letter.clone(),
        call_list,
        sink.email_path("north", day, 8),
        sink.day_dir("north", day).join("sms.jsonl"),
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    for folder in [
        dir.path().join("outbox"),
        dir.path().join("outbox/north"),
        sink.day_dir("north", day),
        letter.parent().expect("letters").to_path_buf(),
    ] {
        assert_eq!(mode(&folder), 0o700, "{}", folder.display());
    }

    let reports = dir.path().join("reports");
    let written = write_outputs(
        &reports,
        &[Output {
            name: "886-continuous_absence-2025-12-19.csv".into(),
            content_type: "text/csv",
            bytes: b"return,upn\n".to_vec(),
        }],
    )
    .expect("write");
    assert_eq!(mode(&reports), 0o700);
    assert_eq!(mode(&written[0]), 0o600);
}
