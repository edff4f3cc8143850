//! `systemd/rollcall.service` is checked by `systemd-analyze verify` (with ExecStart pointed at
//! the binary this build made, since verify checks that it exists) and must carry what the
//! daemon relies on. `systemd-analyze verify` exits 0 on some mistakes and only prints them, so
//! any output at all counts as a failure.

use std::path::Path;
use std::process::Command;

const UNIT: &str = include_str!("../systemd/rollcall.service");

fn systemd_analyze() -> Option<&'static str> {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .ok()?;
    found.status.success().then_some("systemd-analyze")
}

/// What `systemd-analyze verify` says about `unit` (empty when it has nothing to say).
fn verify(unit: &str, dir: &Path) -> String {
    let path = dir.join("rollcall.service");
    let unit = unit.replace("/usr/local/bin/rollcall", env!("CARGO_BIN_EXE_rollcall"));
    std::fs::write(&path, unit).expect("write unit");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .expect("run systemd-analyze");
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        said.push_str(&format!("\n(exit status {})", out.status));
    }
    said
}

#[test]
fn the_unit_has_what_the_daemon_relies_on() {
    let lines: Vec<&str> = UNIT
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    for required in [
        "Type=notify",
        "Restart=on-failure",
        "DynamicUser=yes",
        "StateDirectory=rollcall",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
    ] {
        assert!(lines.contains(&required), "the unit lacks {required}");
    }
    assert!(lines.iter().any(|l| l.starts_with("WatchdogSec=")));
    assert!(lines.iter().any(|l| l.starts_with("LoadCredential=")));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ExecStart=/usr/local/bin/rollcall run")),
        "ExecStart runs the daemon"
    );
}

#[test]
fn systemd_analyze_verify_accepts_the_unit_and_catches_a_mistake() {
    if systemd_analyze().is_none() {
        eprintln!("skipped: systemd-analyze not found");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let said = verify(UNIT, dir.path());
    assert!(said.trim().is_empty(), "systemd-analyze verify: {said}");
    let broken = UNIT.replace("Type=notify", "Type=notfy");
    let said = verify(&broken, dir.path());
    assert!(
        said.contains("notfy"),
        "a misspelt type must be reported: {said}"
    );
}
