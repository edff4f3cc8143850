//! The daemon as a new user meets it, through the real binary: `demo` runs a term in
//! simulated time into the file sink; `status` and `preview` explain what happened.

use std::path::Path;
use std::process::Command;

fn rollcall(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(args)
        .output()
        .expect("run rollcall");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn files_named(dir: &Path, name: &str, found: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_named(&path, name, found);
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(name))
        {
            found.push(path);
        }
    }
}

#[test]
fn the_demo_runs_a_term_and_status_and_preview_explain_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let dir_text = dir.to_str().expect("utf-8 path");
    let (ok, stdout, stderr) = rollcall(&["demo", "--dir", dir_text, "--pupils", "80"]);
    assert!(ok, "demo failed: {stderr}\n{stdout}");
    assert!(stdout.contains("Where to look"), "{stdout}");

    // Texts: every line names a school day in the autumn term, goes to a UK mobile in E.164,
    // and no outbox row appears twice.
    let mut sms = Vec::new();
    files_named(&dir.join("outbox"), "sms.jsonl", &mut sms);
    assert!(!sms.is_empty(), "no texts were written");
    let mut ids = std::collections::HashSet::new();
    for file in &sms {
        let text = std::fs::read_to_string(file).expect("read sms.jsonl");
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line).expect("json line");
            let to = value["to"].as_str().expect("to");
            assert!(to.starts_with("+447") && to.len() == 13, "{to}");
            let body = value["body"].as_str().expect("body");
            assert!(body.contains("01632 960000"), "how to reply: {body}");
            assert!(
                ids.insert(value["outbox_id"].as_i64().expect("id")),
                "{line}"
            );
        }
    }
    // The office's call lists and the batched letters exist.
    let mut lists = Vec::new();
    files_named(&dir.join("outbox"), "call-list.html", &mut lists);
    assert!(!lists.is_empty());
    let mut batches = Vec::new();
    files_named(&dir.join("outbox"), ".pdf", &mut batches);
    assert!(!batches.is_empty(), "no letters were written");
    assert!(
        batches
            .iter()
            .all(|p| std::fs::read(p).expect("pdf").starts_with(b"%PDF-")),
        "{batches:?}"
    );

    let config = dir.join("rollcall.toml");
    let config = config.to_str().expect("utf-8");
    let (ok, stdout, stderr) = rollcall(&["--config", config, "status"]);
    assert!(ok, "{stderr}");
    for expected in ["outbox:", "last runs:", "next runs:", "first_day"] {
        assert!(
            stdout.contains(expected),
            "status lacks {expected}: {stdout}"
        );
    }

    // Preview the first text the demo sent, for that pupil and morning.
    let first = std::fs::read_to_string(&sms[0]).expect("sms");
    let line: serde_json::Value =
        serde_json::from_str(first.lines().next().expect("a line")).expect("json");
    let day = sms[0]
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .expect("day folder")
        .to_owned();
    let id = line["outbox_id"].as_i64().expect("id");
    let db = dir.join("rollcall.db");
    let upn = upn_of(&db, id);
    let (ok, stdout, stderr) = rollcall(&[
        "--config",
        config,
        "preview",
        "first_day",
        "--upn",
        &upn,
        "--as-of",
        &format!("{day}T09:45"),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("segment"), "{stdout}");
    assert!(stdout.contains("first_day.sms"), "{stdout}");

    let (ok, _, stderr) = rollcall(&[
        "--config",
        config,
        "preview",
        "no_such_template",
        "--upn",
        &upn,
    ]);
    assert!(!ok);
    assert!(stderr.contains("templates it uses"), "{stderr}");
}

/// The UPN of a pupil the given outbox row is about, read straight from the database.
fn upn_of(db: &Path, outbox_id: i64) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store =
            rollcall::register::store::Store::connect(&format!("sqlite://{}", db.display()))
                .await
                .expect("open demo db");
        sqlx::query_scalar(
            "SELECT p.upn FROM outbox_items i JOIN decisions d ON d.id = i.decision_id
             JOIN pupils p ON p.id = d.pupil_id WHERE i.outbox_id = $1 ORDER BY p.id LIMIT 1",
        )
        .bind(outbox_id)
        .fetch_one(store.pool())
        .await
        .expect("a pupil for the text")
    })
}
