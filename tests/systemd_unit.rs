//! The systemd unit, `systemd/rollcall.service`: it says what the daemon needs (notify,
//! watchdog, restart, a sandbox, credentials), and systemd itself accepts it.
//!
//! `systemd-analyze verify` needs no running systemd, so it works in a container too. It
//! checks that `ExecStart=` is an executable, so the unit is verified as a copy whose
//! `ExecStart=` is the binary cargo built for these tests. Where `systemd-analyze` is not
//! installed the tests that need it say "skipped: systemd-analyze not found" and pass.

use std::path::{Path, PathBuf};
use std::process::Command;

const UNIT: &str = include_str!("../systemd/rollcall.service");
const UNIT_NAME: &str = "rollcall.service";

/// The credential files rollcall reads from `$CREDENTIALS_DIRECTORY` (src/config.rs).
const CREDENTIALS: [&str; 5] = [
    "smtp-password",
    "notify-api-key",
    "twilio-auth-token",
    "database-url",
    "oidc-client-secret",
];

/// `(section, key, value)` for every setting, in order. Comments and blank lines are skipped;
/// a line ending in a backslash continues on the next, as systemd reads it.
fn settings(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with(';'))
        {
            continue;
        }
        if let Some(rest) = line.strip_suffix('\\') {
            pending.push_str(rest);
            pending.push(' ');
            continue;
        }
        let full = std::mem::take(&mut pending) + line;
        if full.starts_with('[') && full.ends_with(']') {
            section = full[1..full.len() - 1].to_owned();
            continue;
        }
        let (key, value) = full
            .split_once('=')
            .unwrap_or_else(|| panic!("not a setting: {full:?}"));
        out.push((
            section.clone(),
            key.trim().to_owned(),
            value.trim().to_owned(),
        ));
    }
    out
}

fn values<'a>(all: &'a [(String, String, String)], section: &str, key: &str) -> Vec<&'a str> {
    all.iter()
        .filter(|(s, k, _)| s == section && k == key)
        .map(|(_, _, v)| v.as_str())
        .collect()
}

/// The one value of a key (the last, as systemd takes it for single-valued settings).
fn value<'a>(all: &'a [(String, String, String)], section: &str, key: &str) -> Option<&'a str> {
    values(all, section, key).last().copied()
}

fn is_yes(v: Option<&str>) -> bool {
    matches!(v, Some("yes" | "true" | "on" | "1"))
}

#[test]
fn the_unit_says_what_the_daemon_needs() {
    let all = settings(UNIT);
    let service = |key| value(&all, "Service", key);

    assert_eq!(service("Type"), Some("notify"), "rollcall sends READY=1");
    let exec = service("ExecStart").expect("ExecStart=");
    assert!(
        exec.starts_with("/usr/local/bin/rollcall ") && exec.contains(" run"),
        "ExecStart= runs the daemon: {exec}"
    );
    assert!(
        exec.contains("--config /etc/rollcall/rollcall.toml"),
        "ExecStart= names the config in the ConfigurationDirectory: {exec}"
    );

    let watchdog = service("WatchdogSec").expect("WatchdogSec= set");
    let seconds: u64 = watchdog
        .trim_end_matches('s')
        .parse()
        .unwrap_or_else(|_| panic!("WatchdogSec= in plain seconds: {watchdog}"));
    assert!(
        seconds >= 10,
        "WatchdogSec= leaves the loop time: {seconds}"
    );
    assert_eq!(service("Restart"), Some("on-failure"));
    assert!(service("RestartSec").is_some(), "RestartSec= set");
    assert!(
        service("TimeoutStopSec").is_some(),
        "TimeoutStopSec= gives in-flight sends time to finish"
    );

    assert!(
        is_yes(service("DynamicUser")) || service("User").is_some_and(|u| u != "root"),
        "runs as DynamicUser= or a User= other than root"
    );
    assert_eq!(service("ProtectSystem"), Some("strict"));
    assert!(is_yes(service("NoNewPrivileges")), "NoNewPrivileges=yes");
    assert!(is_yes(service("PrivateTmp")), "PrivateTmp=yes");
    assert_eq!(
        service("StateDirectory"),
        Some("rollcall"),
        "StateDirectory= is where the SQLite file lives under ProtectSystem=strict"
    );
    assert_eq!(
        service("CapabilityBoundingSet"),
        Some(""),
        "no capabilities"
    );

    let loaded: Vec<&str> = values(&all, "Service", "LoadCredential")
        .into_iter()
        .map(|v| v.split_once(':').map_or(v, |(id, _)| id))
        .collect();
    assert!(!loaded.is_empty(), "at least one LoadCredential=");
    for name in CREDENTIALS {
        assert!(
            loaded.contains(&name),
            "LoadCredential= for {name}, which rollcall reads: {loaded:?}"
        );
    }
    for id in &loaded {
        assert!(
            CREDENTIALS.contains(id),
            "LoadCredential={id}: rollcall reads no credential of that name"
        );
    }

    assert_eq!(
        value(&all, "Install", "WantedBy"),
        Some("multi-user.target")
    );
}

#[test]
fn the_unit_parser_reads_sections_continuations_and_repeats() {
    let all =
        settings("# c\n[Unit]\nDescription=x\n\n[Service]\nA=1\nA=2\nB=one \\\n  two\nEmpty=\n");
    assert_eq!(values(&all, "Service", "A"), ["1", "2"]);
    assert_eq!(value(&all, "Service", "B"), Some("one  two"));
    assert_eq!(value(&all, "Service", "Empty"), Some(""));
    assert_eq!(value(&all, "Unit", "A"), None);
}

/// `systemd-analyze` on PATH, or None (and the caller skips).
fn systemd_analyze() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("systemd-analyze"))
        .find(|p| p.is_file())
}

macro_rules! need_systemd_analyze {
    () => {
        match systemd_analyze() {
            Some(p) => p,
            None => {
                eprintln!("skipped: systemd-analyze not found");
                return;
            }
        }
    };
}

/// The unit with `ExecStart=` running the binary cargo built, written as `rollcall.service`
/// in `dir` (line numbers stay the original's).
fn copy_for_verify(dir: &Path, text: &str) -> PathBuf {
    let exe = env!("CARGO_BIN_EXE_rollcall");
    let exe = if exe.contains(char::is_whitespace) {
        format!("\"{exe}\"")
    } else {
        exe.to_owned()
    };
    let mut replaced = 0;
    let body: String = text
        .lines()
        .map(|line| match line.strip_prefix("ExecStart=") {
            Some(rest) => {
                replaced += 1;
                let args = rest.split_once(' ').map_or("", |(_, a)| a);
                format!("ExecStart={exe} {args}\n")
            }
            None => format!("{line}\n"),
        })
        .collect();
    assert_eq!(replaced, 1, "one ExecStart= line");
    let path = dir.join(UNIT_NAME);
    std::fs::write(&path, body).expect("write the unit copy");
    path
}

struct Verdict {
    success: bool,
    /// Lines about the unit (they name it by path or by name).
    about_unit: Vec<String>,
    all: String,
}

fn verify(analyze: &Path, unit: &Path) -> Verdict {
    let out = Command::new(analyze)
        .args(["verify", "--man=no", "--recursive-errors=no"])
        .arg(unit)
        .env("SYSTEMD_LOG_LEVEL", "info")
        .env("SYSTEMD_LOG_COLOR", "0")
        .env("SYSTEMD_LOG_TARGET", "console")
        .env("SYSTEMD_PAGER", "cat")
        .output()
        .expect("run systemd-analyze verify");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Verdict {
        success: out.status.success(),
        about_unit: all
            .lines()
            .filter(|l| l.contains(UNIT_NAME))
            .map(str::to_owned)
            .collect(),
        all,
    }
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    let analyze = need_systemd_analyze!();
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = copy_for_verify(dir.path(), UNIT);
    let verdict = verify(&analyze, &unit);
    assert!(
        verdict.success && verdict.about_unit.is_empty(),
        "systemd-analyze verify rejects systemd/rollcall.service:\n{}",
        verdict.all
    );
}

#[test]
fn systemd_analyze_verify_catches_a_broken_unit() {
    let analyze = need_systemd_analyze!();
    // Each mistake, and a piece of what systemd says about it.
    let mistakes = [
        ("Type=notify", "Type=notfy", "notfy"),
        ("ProtectSystem=strict", "ProtectSystem=stricter", "stricter"),
        ("WatchdogSec=120", "WatchdogSec=two minutes", "two minutes"),
        (
            "NoNewPrivileges=yes",
            "NoNewPrivilege=yes",
            "NoNewPrivilege",
        ),
        (
            "SystemCallFilter=@system-service",
            "SystemCallFilter=@system-servce",
            "@system-servce",
        ),
    ];
    for (good, bad, said) in mistakes {
        let text = UNIT.replacen(&format!("\n{good}\n"), &format!("\n{bad}\n"), 1);
        assert_ne!(text, UNIT, "the unit has a line {good:?} to break");
        let dir = tempfile::tempdir().expect("tempdir");
        let unit = copy_for_verify(dir.path(), &text);
        let verdict = verify(&analyze, &unit);
        assert!(
            verdict.about_unit.iter().any(|l| l.contains(said)),
            "systemd-analyze verify did not report {bad:?}:\n{}",
            verdict.all
        );
    }

    // A program that is not there: verify fails outright.
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = copy_for_verify(dir.path(), UNIT);
    let text = std::fs::read_to_string(&unit).expect("read the copy");
    let missing = dir.path().join("no-such-rollcall");
    let text: String = text
        .lines()
        .map(|l| match l.strip_prefix("ExecStart=") {
            Some(rest) => format!(
                "ExecStart={} {}\n",
                missing.display(),
                rest.split_once(' ').map_or("", |(_, a)| a)
            ),
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&unit, text).expect("write");
    let verdict = verify(&analyze, &unit);
    assert!(
        !verdict.success && verdict.all.contains("no-such-rollcall"),
        "systemd-analyze verify accepted a missing ExecStart= program:\n{}",
        verdict.all
    );
}

#[test]
fn the_sandbox_stays_tight() {
    let analyze = need_systemd_analyze!();
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = copy_for_verify(dir.path(), UNIT);
    let out = Command::new(&analyze)
        .args(["security", "--offline=yes", "--man=no"])
        .arg(&unit)
        .env("SYSTEMD_LOG_COLOR", "0")
        .env("SYSTEMD_PAGER", "cat")
        .output()
        .expect("run systemd-analyze security");
    let text = String::from_utf8_lossy(&out.stdout);
    let exposure: f64 = text
        .lines()
        .find_map(|l| {
            let rest = l.split("Overall exposure level for ").nth(1)?;
            rest.split(": ").nth(1)?.split(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| {
            panic!(
                "no exposure level from systemd-analyze security:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    // 0 is a perfect sandbox, 10 none; this unit is about 1.2 on systemd 252.
    assert!(
        exposure <= 2.5,
        "systemd-analyze security rates the unit {exposure}; something was loosened:\n{text}"
    );
}

#[test]
fn the_verify_script_agrees() {
    if systemd_analyze().is_none() {
        eprintln!("skipped: systemd-analyze not found");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/verify-systemd-unit");
    let out = Command::new("bash")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_rollcall"))
        .output()
        .expect("run scripts/verify-systemd-unit");
    assert!(
        out.status.success(),
        "scripts/verify-systemd-unit failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join(UNIT_NAME);
    std::fs::write(
        &broken,
        UNIT.replacen("\nType=notify\n", "\nType=notfy\n", 1),
    )
    .expect("write");
    let out = Command::new("bash")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_rollcall"))
        .arg(&broken)
        .output()
        .expect("run scripts/verify-systemd-unit");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && said.contains("notfy"),
        "scripts/verify-systemd-unit passed a broken unit:\n{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
