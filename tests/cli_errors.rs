//! What the command line does with a careless or hostile setup (issue 12, items 5, 9, 13
//! and 15): a mistyped database path, environment overrides, a garbage database URL or
//! Notify key, a read-only database, an invalid `--upn`, and stdout or stderr that cannot be
//! written. Each runs the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const CONFIG: &str = r#"
[database]
url = "sqlite://rollcall.db"

[school]
name = "Example Academy"
urn = "100001"
la_code = "886"

[[calendar.terms]]
name = "Autumn 2025"
start = "2025-09-01"
end = "2025-12-19"
"#;

const PUPILS: &str = "\
upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date
B801200005001,Ada,Lovelace,2018-03-01,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,
";

struct School {
    dir: tempfile::TempDir,
}

impl School {
    fn new(config: &str) -> School {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("rollcall.toml"), config).expect("config");
        std::fs::write(dir.path().join("pupils.csv"), PUPILS).expect("pupils");
        School { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollcall"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ROLLCALL") {
                cmd.env_remove(key);
            }
        }
        cmd.env_remove("CREDENTIALS_DIRECTORY");
        cmd.envs(env.iter().copied());
        cmd.arg("--config")
            .arg(self.path("rollcall.toml"))
            .args(args);
        cmd.current_dir(self.dir.path());
        cmd
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args, env).output().expect("run rollcall")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

/// Item 13: a mistyped SQLite path is an error that names it, and creates nothing. Only
/// `import` creates the database, and (item 9) owner-only whatever the umask.
#[test]
fn only_import_creates_the_database_and_owner_only() {
    let school = School::new(CONFIG);
    for args in [
        &["stats", "--from", "2025-09-01", "--as-of", "2025-09-05"][..],
        &["status"][..],
        &["amendments"][..],
        &["pending"][..],
    ] {
        let out = school.run(args, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "there is no database at {}",
                school.path("rollcall.db").display()
            )) && stderr.contains("only `rollcall import` and `rollcall demo` create one"),
            "{args:?}: {stderr}"
        );
        assert!(!school.path("rollcall.db").exists(), "{args:?} created it");
    }
    let out = school.run(&["import", "pupils", "pupils.csv"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(mode(&school.path("rollcall.db")), 0o600, "the database");
    for side in ["rollcall.db-wal", "rollcall.db-shm"] {
        let path = school.path(side);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{side}");
        }
    }
}

/// Item 15: a bad environment override is blamed on the variable, not on the file, and an
/// unknown enum value lists the values that would work.
#[test]
fn environment_overrides_are_blamed_by_name() {
    let school = School::new(CONFIG);
    let out = school.run(&["check"], &[("ROLLCALL__SCHOOL__LACODE", "886")]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("environment variable ROLLCALL__SCHOOL__LACODE (overriding ")
            && stderr.contains("unknown field `lacode`"),
        "{stderr}"
    );

    let out = school.run(&["check"], &[("ROLLCALL__DELIVERY__MODE", "banana")]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("environment variable ROLLCALL__DELIVERY__MODE")
            && stderr.contains("banana")
            && stderr.contains("allowed: file, live"),
        "{stderr}"
    );

    // The same mistake in the file is the file's, and lists the values too.
    let in_file =
        School::new(&CONFIG.replace("[school]", "[delivery]\nmode = \"banana\"\n\n[school]"));
    let stderr = text(&in_file.run(&["check"], &[]).stderr);
    assert!(
        stderr.contains("rollcall.toml: delivery.mode:") && stderr.contains("allowed: file, live"),
        "{stderr}"
    );
}

/// Item 15: `check` tries the database URL and the delivery providers' settings the way
/// `run` would, instead of passing garbage.
#[test]
fn check_refuses_a_garbage_database_url_and_a_malformed_notify_key() {
    let garbage = School::new(&CONFIG.replace(
        "sqlite://rollcall.db",
        "sqlite:///no/such/folder/rollcall.db",
    ));
    let out = garbage.run(&["check"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains(
            "database.url: the folder of the database /no/such/folder/rollcall.db does not exist"
        ),
        "{}",
        describe(&out)
    );
    let unsupported = School::new(&CONFIG.replace("sqlite://rollcall.db", "mysql://x/y"));
    let out = unsupported.run(&["check"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("is not supported"),
        "{}",
        describe(&out)
    );

    let notify = School::new(&format!(
        "{CONFIG}\n[delivery.notify]\nsms_template_id = \"f33517ff-2a88-4f6e-b855-c550268ce08a\"\n"
    ));
    let out = notify.run(
        &["check"],
        &[("ROLLCALL__DELIVERY__NOTIFY__API_KEY", "not-a-key")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("delivery.notify:"),
        "{}",
        describe(&out)
    );

    // A good setup checks clean, and says the database is still to be made.
    let out = School::new(CONFIG).run(&["check"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("note: database")
            && text(&out.stdout).contains("does not exist yet"),
        "{}",
        describe(&out)
    );
}

/// Item 15: a database opened read-only says which file; an invalid `--upn` is an error.
#[test]
fn a_read_only_database_and_an_invalid_upn_say_what_is_wrong() {
    let school = School::new(CONFIG);
    let out = school.run(&["import", "pupils", "pupils.csv"], &[]);
    assert!(out.status.success(), "{}", describe(&out));

    let out = school.run(
        &[
            "stats",
            "--from",
            "2025-09-01",
            "--as-of",
            "2025-09-05",
            "--upn",
            "x;DROP",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("--upn \"x;DROP\": a UPN has 13 characters"),
        "{}",
        describe(&out)
    );
    let out = school.run(
        &[
            "stats",
            "--from",
            "2025-09-01",
            "--as-of",
            "2025-09-05",
            "--upn",
            "A886200024062",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(text(&out.stderr).contains("no pupil with UPN A886200024062"));

    let db = school.path("rollcall.db");
    let read_only = format!("sqlite://{}?mode=ro", db.display());
    let out = school.run(&["status"], &[("ROLLCALL__DATABASE__URL", &read_only)]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&db.display().to_string()) && stderr.contains("readonly"),
        "{stderr}"
    );
}

/// Item 5: a closed stderr or a full stdout fails the command with its exit code (1), never
/// a panic (101).
#[test]
fn closed_or_full_output_is_not_a_crash() {
    let school = School::new(CONFIG);
    // An error to report, and stderr closed.
    let binary = env!("CARGO_BIN_EXE_rollcall");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 2>&- ; '{binary}' --config '{}' stats --from 2025-09-01 --as-of 2025-09-05",
            school.path("rollcall.toml").display()
        ))
        .current_dir(school.dir.path())
        .output()
        .expect("sh");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));

    // A summary to print, and stdout full: the import itself is done, the exit code says
    // the output was lost.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = school
        .command(&["import", "pupils", "pupils.csv"], &[])
        .stdout(Stdio::from(full))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("No space left on device"),
        "{}",
        describe(&out)
    );

    // Both: the error cannot be told, but the exit code still says it.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 2>&- >/dev/full ; '{binary}' --config '{}' import pupils pupils.csv",
            school.path("rollcall.toml").display()
        ))
        .current_dir(school.dir.path())
        .output()
        .expect("sh");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

/// Issue 15: the console refuses to start when nobody can sign in, and says how to add a
/// person; `user add` takes the password from standard input, refuses a short one, an unknown
/// role or a non-address, and then the console starts (checked by its listening port).
#[test]
fn the_console_starts_only_once_someone_can_sign_in() {
    use std::io::Write as _;
    let school = School::new(CONFIG);
    let out = school.run(&["import", "pupils", "pupils.csv"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let out = school.run(&["web", "--listen", &listen], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("rollcall user add"),
        "says how to add a person: {}",
        describe(&out)
    );

    let add = |args: &[&str], password: &str| {
        let mut child = school
            .command(args, &[])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run rollcall");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(format!("{password}\n").as_bytes())
            .expect("password");
        drop(stdin);
        child.wait_with_output().expect("finish")
    };
    let base = ["user", "add", "jo@example.sch.uk", "--password-stdin"];
    for (extra, password, says) in [
        (
            &["--role", "admin"][..],
            "a long enough password",
            "unknown role \"admin\"",
        ),
        (&["--role", "office"][..], "short", "at least 12 characters"),
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let out = add(&args, password);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert!(
            text(&out.stderr).contains(says),
            "{says}: {}",
            describe(&out)
        );
    }
    let out = add(
        &[
            "user",
            "add",
            "not an address",
            "--role",
            "office",
            "--password-stdin",
        ],
        "a long enough password",
    );
    assert!(
        text(&out.stderr).contains("is not an email address"),
        "{}",
        describe(&out)
    );
    let out = add(
        &[
            "user",
            "add",
            "Jo@Example.sch.uk",
            "--role",
            "attendance_officer",
            "--name",
            "Jo Bloggs",
            "--password-stdin",
        ],
        "a long enough password",
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout)
            .contains("jo@example.sch.uk can sign in to the console as Attendance Officer"),
        "{}",
        describe(&out)
    );

    // A leaver: their roles go and their sessions end.
    let out = school.run(&["user", "remove", "jo@example.sch.uk"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("jo@example.sch.uk: 1 role(s) taken away"),
        "{}",
        describe(&out)
    );
    let out = school.run(&["user", "remove", "nobody@example.sch.uk"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(text(&out.stderr).contains("there is no account for nobody@example.sch.uk"));

    // Someone who signs in only with the school's account needs no password.
    let out = school.run(
        &[
            "user",
            "add",
            "sam@example.sch.uk",
            "--role",
            "office",
            "--no-password",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", describe(&out));

    // Now it serves: wait for the port, then stop it.
    let mut web = school
        .command(&["web", "--listen", &listen], &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the console");
    let mut listening = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            listening = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = web.kill();
    let _ = web.wait();
    assert!(listening, "the console never listened on {listen}");
}
