//! `rollcall demo`: a generated school, imported into an embedded SQLite database, and a
//! short summary an attendance officer would want to read first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, Utc};
use sqlx::Row;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, SchoolConfig};
use crate::daemon::Daemon;
use crate::generate::{GenerateOptions, generate};
use crate::register::import::{import_contacts, import_pupils};
// The demo narrates as it goes; these replace the standard macros so that a reader who
// closes the pipe (`rollcall demo | head`) does not crash it (issue 12).
use crate::output::{print, println};
use crate::register::session::academic_year;
use crate::register::stats::{PupilStats, school_stats};
use crate::register::store::{SchoolId, Store};
use crate::schedule::{Clock, local_instant};

mod parents;

/// The most recent academic year that has ended (so the demo has a full year of marks).
pub fn last_complete_year() -> i32 {
    academic_year(Local::now().date_naive()) - 1
}

/// What `rollcall demo` simulates.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub dir: PathBuf,
    pub pupils: usize,
    pub seed: u64,
    /// A shipped policy by name (or a path); the school gets the register closes its text names.
    pub policy: String,
    /// The whole school year, not only the autumn term.
    pub whole_year: bool,
    /// Serve the console here afterwards, over the last day before its approvals.
    pub serve: Option<std::net::SocketAddr>,
    /// Every run evaluates every pupil (`[daemon] incremental = false`), to compare with the
    /// incremental pass the daemon runs by default.
    pub full_passes: bool,
}

/// The register closes each shipped policy's text names (see the comments at the top of each
/// file in `config/policies/`); any other policy gets the defaults.
fn register_closes(policy: &str) -> (&'static str, &'static str) {
    match policy {
        "james-marks-academy" => ("10:00", "13:45"),
        "russell-street-school" => ("09:00", "13:45"),
        "inspire-trust" => ("09:30", "14:00"),
        _ => ("09:30", "13:45"),
    }
}

/// What the demo does at each stop of a simulated day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The office reads the parents' replies that have come in.
    ReadReplies,
    /// The attendance officer decides what waits for approval.
    Approve,
    Evening,
}

/// When the demo's attendance officer decides what waits for approval: at the end of the school
/// day, after the 16:00 pass has made the day's decisions.
const APPROVALS_AT: (u32, u32) = (17, 30);

pub async fn run(options: &DemoOptions) -> Result<()> {
    let DemoOptions {
        dir,
        pupils,
        seed,
        policy: policy_name,
        whole_year,
        serve,
        full_passes,
    } = options;
    let (dir, pupils, seed) = (dir.as_path(), *pupils, *seed);
    let started = std::time::Instant::now();
    let year = last_complete_year();
    println!(
        "Generating a {pupils}-pupil school for {year}/{} running \"{policy_name}\" in {} …",
        (year + 1) % 100,
        dir.display()
    );
    if dir.join("rollcall.db").exists() || dir.join("outbox").exists() {
        // A second demo run starts clean rather than finding last run's term already done.
        for stale in ["rollcall.db", "rollcall.db-wal", "rollcall.db-shm"] {
            let _ = std::fs::remove_file(dir.join(stale));
        }
        for stale in ["outbox", "inbox"] {
            let _ = std::fs::remove_dir_all(dir.join(stale));
        }
    }
    let mut generate_options = GenerateOptions::new(pupils, seed, year);
    let (am, pm) = register_closes(policy_name);
    generate_options.policy = Some(policy_name.clone());
    generate_options.register_closes = Some((am.to_owned(), pm.to_owned()));
    let generated = generate(&generate_options, dir)?;
    let config_file = dir.join("rollcall.toml");
    let mut config = Config::load(&config_file)?;
    if *full_passes {
        config.daemon.incremental = false;
    }
    let school = config.school(None)?.clone();
    let store = Store::connect(&config.database_url).await?;
    let school_id = store.ensure_school(&school).await?;
    let policy = crate::escalation::load_policy(&config, &school)?;
    let pupils_summary = import_pupils(&store, school_id, &dir.join("pupils.csv")).await?;
    println!(
        "  {}",
        crate::register::import::summary_line("pupils", &pupils_summary)
    );
    let contacts_summary = import_contacts(&store, school_id, &dir.join("contacts.csv")).await?;
    println!(
        "  {}",
        crate::register::import::summary_line("contacts", &contacts_summary)
    );

    // The autumn term (or the whole year), simulated: a pretend MIS drops each session's
    // register into the inbox when the register closes, and the real daemon does the rest.
    let terms = school.calendar.terms();
    let first = terms
        .first()
        .cloned()
        .context("the generated calendar has no terms")?;
    let last = if *whole_year {
        terms.last().cloned().unwrap_or_else(|| first.clone())
    } else {
        first.clone()
    };
    let (from, to) = (first.start, last.end);
    let mis = PretendMis::read(&dir.join("marks.csv"), from, to)?;
    let inbox = school
        .inbox
        .clone()
        .context("the demo config names an inbox")?;
    std::fs::create_dir_all(&inbox)?;
    let tz = school.timezone;
    let start = local_instant(tz, from.and_hms_opt(7, 0, 0).unwrap_or_default());
    let clock = Clock::simulated(start);
    let daemon = Daemon::build(config.clone(), clock.clone()).await?;
    let stop = CancellationToken::new();
    let period = if *whole_year {
        format!("the school year {year}/{}", (year + 1) % 100)
    } else {
        first.name.clone()
    };
    println!(
        "Running the daemon over {period} ({from} to {to}) in simulated time, every channel to the file sink …"
    );
    let mut approved = 0;
    let mut parents = parents::Parents::read(dir, &school, seed)?;
    let runtime = daemon
        .schools
        .iter()
        .find(|s| s.id == school_id)
        .cloned()
        .context("the demo school is loaded")?;
    let runtime = runtime.as_ref();
    let first_text_at = school.am_register_close
        + chrono::Duration::minutes(i64::from(policy.settings.grace_minutes));
    let mut exports = mis.exports(&school);
    let mut total = crate::daemon::PassReport::default();
    let mut day = from;
    let (approval_hour, approval_minute) = APPROVALS_AT;
    while day <= to {
        // The day's runs, then at the end of the school day the attendance officer decides what
        // waits for a person, then the evening.
        let approvals = day.and_hms_opt(approval_hour, approval_minute, 0);
        // Served afterwards, the last day stops before its approvals: the console opens on
        // a morning's call list and what waits for the attendance officer.
        let last_served = serve.is_some() && day == to;
        let school_day = school.calendar.is_school_day(day);
        let reads = parents::READS_AT.map(|(h, m)| day.and_hms_opt(h, m, 0));
        for (until, step) in [
            (reads[0], Step::ReadReplies),
            (reads[1], Step::ReadReplies),
            (approvals, Step::Approve),
            (day.and_hms_opt(23, 59, 0), Step::Evening),
        ] {
            let Some(until) = until else { continue };
            if last_served && step == Step::Evening {
                break;
            }
            let instant = local_instant(tz, until);
            let report = daemon
                .run(
                    stop.clone(),
                    Some(instant),
                    |now| exports.drop_due(&inbox, now),
                    None,
                )
                .await?;
            total.runs.extend(report.runs);
            total.delivery.merge(&report.delivery);
            total.imported_files += report.imported_files;
            clock.advance_to(instant);
            if !school_day {
                continue;
            }
            match step {
                Step::ReadReplies => {
                    if Some(until) == reads[0] {
                        parents
                            .texted(&store, school_id, day, first_text_at)
                            .await?;
                    }
                    parents
                        .deliver(&store, &daemon.schools, runtime, until)
                        .await?;
                    parents.read_replies(&store, runtime, until).await?;
                }
                Step::Approve if !last_served => {
                    approved += approve_for_demo(&store, school_id, &policy, until).await?;
                }
                _ => {}
            }
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    let elapsed = started.elapsed();
    println!(
        "  {} scheduled runs, {} register exports imported, {} messages delivered to the file sink, \
         {} approvals by the demo's attendance officer; {:.1} s",
        total.runs.len(),
        total.imported_files,
        total.delivery.delivered + total.delivery.sent,
        approved,
        elapsed.as_secs_f64()
    );

    let evaluated = daemon.evaluated.load(std::sync::atomic::Ordering::Relaxed);
    let left_out = daemon.left_out.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "  Escalation runs: {evaluated} pupils evaluated, {left_out} left out as nothing could fire \
         for them ({})",
        if daemon.config.daemon.incremental {
            "incremental runs; `--full-passes` evaluates everyone"
        } else {
            "full passes"
        }
    );

    let not_needed = parents.contacts_not_needed(&store, runtime).await?;
    let t = &parents.tally;
    println!(
        "  Parents' replies: {} replies to first-day texts ({} families never answered), {} confirmed \
         by the demo's office: {} calls taken off the day's list, {} first-day contacts (a text and \
         a call each) never needed on the later days of an explained absence, {} other messages \
         withdrawn before they went",
        t.replies,
        t.never_replied,
        t.confirmed,
        t.calls_off_the_list,
        not_needed,
        t.messages_withdrawn
    );

    let stats = school_stats(&store, school_id, &school, from, to, None).await?;
    println!();
    print!("{}", summary(&school.name, from, to, &stats));
    println!();
    print!(
        "{}",
        crate::report::audit::LadderAudit::load(&store, school_id, &policy).await?
    );
    println!();
    print_where_to_look(&store, school_id, &config, &school).await?;
    let _ = generated;
    let cfg = config_file.display();
    println!();
    println!("Next, try:");
    println!("  cargo run --release -- --config {cfg} status");
    println!("  cargo run --release -- --config {cfg} case --upn UPN");
    println!(
        "  cargo run --release -- --config {cfg} preview first_day --upn UPN --as-of {from}T09:45"
    );
    println!(
        "  cargo run --release -- --config {cfg} replies list --as-of {to}T16:00 --days 2   # parents' replies"
    );
    if !whole_year {
        println!(
            "  cargo run --release -- demo --policy inspire-trust --year   # another policy, a whole school year"
        );
    }
    match serve {
        Some(listen) => {
            let before = to
                .and_hms_opt(approval_hour, approval_minute, 0)
                .unwrap_or_default()
                - chrono::Duration::minutes(1);
            crate::web::serve_demo(daemon, &school, *listen, before).await
        }
        None => {
            println!(
                "  cargo run --release -- demo --serve   # the same term, then the console in a browser"
            );
            Ok(())
        }
    }
}

/// The demo's stand-in for a school's MIS: the generated year's marks, exported one
/// register at a time as each register closes.
struct PretendMis {
    /// (date, session) → CSV lines for that register.
    registers: BTreeMap<(NaiveDate, String), Vec<String>>,
}

impl PretendMis {
    fn read(marks: &Path, from: NaiveDate, to: NaiveDate) -> Result<PretendMis> {
        let text = std::fs::read_to_string(marks)
            .with_context(|| format!("reading {}", marks.display()))?;
        let mut registers: BTreeMap<(NaiveDate, String), Vec<String>> = BTreeMap::new();
        for line in text.lines().skip(1) {
            let mut fields = line.split(',');
            let (Some(_), Some(date), Some(session)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Ok(date) = NaiveDate::parse_from_str(date, "%Y-%m-%d") else {
                continue;
            };
            if date < from || date > to {
                continue;
            }
            registers
                .entry((date, session.to_owned()))
                .or_default()
                .push(line.to_owned());
        }
        Ok(PretendMis { registers })
    }

    /// At register close an absence nobody has explained yet is `N`; the reason (or `O` when
    /// none comes) follows as an amendment an hour later, as it does in a real office.
    fn exports(self, school: &SchoolConfig) -> Exports {
        let tz = school.timezone;
        let mut due: Vec<(DateTime<Utc>, String, Vec<String>)> = Vec::new();
        for ((date, session), lines) in self.registers {
            let close = if session == "AM" {
                school.am_register_close
            } else {
                school.pm_register_close
            };
            let at_close = local_instant(tz, date.and_time(close));
            let unexplained: Vec<String> = lines
                .iter()
                .map(|line| match line.rsplit_once(',') {
                    Some((head, "I" | "O" | "G" | "U")) => format!("{head},N"),
                    _ => line.clone(),
                })
                .collect();
            let amended = unexplained != lines;
            due.push((at_close, format!("marks-{date}-{session}.csv"), unexplained));
            if amended {
                due.push((
                    at_close + chrono::Duration::minutes(75),
                    format!("marks-{date}-{session}-reasons.csv"),
                    lines,
                ));
            }
        }
        due.sort_by_key(|d| d.0);
        Exports { due: due.into() }
    }
}

struct Exports {
    due: std::collections::VecDeque<(DateTime<Utc>, String, Vec<String>)>,
}

impl Exports {
    /// Writes every register closed by `now` into the inbox.
    fn drop_due(&mut self, inbox: &Path, now: DateTime<Utc>) -> Result<()> {
        while self.due.front().is_some_and(|(at, _, _)| *at <= now) {
            let Some((_, name, lines)) = self.due.pop_front() else {
                break;
            };
            let mut text = String::from("upn,date,session,mark\n");
            for line in lines {
                text.push_str(&line);
                text.push('\n');
            }
            std::fs::write(inbox.join(&name), text)?;
            // The hand-over the README asks of an MIS connector: a marker once it is whole.
            std::fs::write(inbox.join(format!("{name}.done")), "")?;
        }
        Ok(())
    }
}

/// The demo's attendance officer approves the LA returns, penalty-notice reviews and other
/// stages the policy leaves to a person. Messages a guard held are left for a real look.
async fn approve_for_demo(
    store: &Store,
    school: SchoolId,
    policy: &crate::escalation::policy::Policy,
    now: NaiveDateTime,
) -> Result<usize> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM outbox WHERE school_id = $1 AND status = 'awaiting_approval'
         AND requires_approval = 1 AND hold_reason IS NULL ORDER BY id",
    )
    .bind(school.0)
    .fetch_all(store.pool())
    .await?;
    for id in &ids {
        crate::delivery::outbox::decide(
            store,
            school,
            policy,
            *id,
            "Sam Patel (Attendance Officer, demo)",
            crate::delivery::outbox::Verdict::Approve,
            now,
        )
        .await?;
    }
    Ok(ids.len())
}

async fn print_where_to_look(
    store: &Store,
    school_id: SchoolId,
    config: &Config,
    school: &SchoolConfig,
) -> Result<()> {
    let root = config.delivery.outbox_dir.join(&school.id);
    println!(
        "Where to look (everything rollcall would have sent is under {}):",
        root.display()
    );
    let provider = |channel: &'static str, template: Option<&'static str>| async move {
        let row: Option<String> = sqlx::query_scalar(
            "SELECT provider_id FROM outbox WHERE school_id = $1 AND channel = $2
             AND ($3 = '' OR template = $3) AND status IN ('sent', 'delivered')
             AND provider_id IS NOT NULL ORDER BY id LIMIT 1",
        )
        .bind(school_id.0)
        .bind(channel)
        .bind(template.unwrap_or(""))
        .fetch_optional(store.pool())
        .await?;
        anyhow::Ok(row)
    };
    // An example first-day text, printed.
    if let Ok(days) = std::fs::read_dir(&root) {
        let mut days: Vec<PathBuf> = days.filter_map(|d| d.ok().map(|d| d.path())).collect();
        days.sort();
        if let Some((path, line)) = days.iter().find_map(|d| {
            let path = d.join("sms.jsonl");
            let text = std::fs::read_to_string(&path).ok()?;
            let line: crate::delivery::channel::file::SmsLine =
                serde_json::from_str(text.lines().next()?).ok()?;
            Some((path, line))
        }) {
            println!(
                "  a first-day text ({} segment(s)), in {}:",
                line.segments,
                path.display()
            );
            println!("    \"{}\"", line.body);
        }
        let busiest = days
            .iter()
            .filter_map(|d| {
                let text = std::fs::read_to_string(d.join("call-list.csv")).ok()?;
                Some((text.lines().count(), d.join("call-list.html")))
            })
            .max_by_key(|(n, _)| *n);
        if let Some((rows, path)) = busiest {
            println!(
                "  the busiest day's call list ({} pupils): {}",
                rows.saturating_sub(1),
                path.display()
            );
        }
        if let Some(batch) = days.iter().find_map(|d| {
            let name = d.file_name()?.to_str()?;
            let path = d.join(format!("letters-{name}.pdf"));
            path.exists().then_some(path)
        }) {
            println!(
                "  a day's letters, batched for printing: {}",
                batch.display()
            );
        }
    }
    if let Some(eml) = provider("email", Some("day_three")).await? {
        println!("  a day-three email: {eml}");
        let pdf = Path::new(&eml).with_file_name(format!(
            "{}-day-three.pdf",
            Path::new(&eml)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
        ));
        if pdf.exists() {
            println!("  its day-three letter (PDF): {}", pdf.display());
        }
    }
    let la: Vec<String> = sqlx::query_scalar(
        "SELECT provider_id FROM outbox WHERE school_id = $1 AND channel = 'la_return'
         AND status IN ('sent', 'delivered') ORDER BY id LIMIT 3",
    )
    .bind(school_id.0)
    .fetch_all(store.pool())
    .await?;
    for notice in &la {
        println!("  an LA notice: {notice}");
    }
    let _ = provider;
    // Reports the daemon sent: the last newsletter, the governor report and the rewards.
    let reports = sqlx::query(
        "SELECT r.kind, o.provider_id FROM report_documents r JOIN outbox o ON o.id = r.outbox_id
         WHERE o.school_id = $1 AND o.status IN ('sent', 'delivered') ORDER BY o.id",
    )
    .bind(school_id.0)
    .fetch_all(store.pool())
    .await?;
    let mut last: std::collections::BTreeMap<String, (usize, String)> = Default::default();
    for row in &reports {
        let kind: String = row.try_get("kind")?;
        let path: Option<String> = row.try_get("provider_id")?;
        let entry = last.entry(kind).or_insert((0, String::new()));
        entry.0 += 1;
        entry.1 = path.unwrap_or_default();
    }
    for (kind, label) in [
        ("newsletter", "weekly newsletters to parents"),
        (
            "governors",
            "the governor report (HTML, CSV, PDF attached beside it)",
        ),
        ("rewards", "the term's certificates and prize draw"),
        ("la_regular_return", "regular attendance returns to the LA"),
    ] {
        if let Some((count, path)) = last.get(kind) {
            println!("  {label}: {count}, the last {path}");
        }
    }
    println!(
        "  reports on demand: rollcall report governors --term autumn-2025 | newsletter --week DATE | la-returns --as-of DATE | rewards --term autumn-2025"
    );
    println!("  outbox statistics (channel: status count):");
    let rows = sqlx::query(
        "SELECT channel, status, COUNT(*) FROM outbox WHERE school_id = $1
         GROUP BY channel, status ORDER BY channel, status",
    )
    .bind(school_id.0)
    .fetch_all(store.pool())
    .await?;
    let mut by_channel: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows {
        let channel: String = r.try_get(0)?;
        let status: String = r.try_get(1)?;
        let n: i64 = r.try_get(2)?;
        by_channel
            .entry(channel)
            .or_default()
            .push(format!("{status} {n}"));
    }
    for (channel, counts) in by_channel {
        println!("    {channel:<10} {}", counts.join(", "));
    }
    Ok(())
}

/// Whole-school figures, PA/SA counts and the ten pupils of most concern, with why.
pub fn summary(
    school: &str,
    from: chrono::NaiveDate,
    as_of: chrono::NaiveDate,
    stats: &[PupilStats],
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let possible: u64 = stats
        .iter()
        .map(|s| u64::from(s.facts.possible_sessions))
        .sum();
    let attended: u64 = stats
        .iter()
        .map(|s| u64::from(s.facts.attended_sessions))
        .sum();
    let authorised: u64 = stats
        .iter()
        .map(|s| u64::from(s.facts.authorised_absence_sessions))
        .sum();
    let unauthorised: u64 = stats
        .iter()
        .map(|s| u64::from(s.facts.unauthorised_absence_sessions))
        .sum();
    let pct = |n: u64, d: u64| {
        if d == 0 {
            0.0
        } else {
            100.0 * n as f64 / d as f64
        }
    };
    let pa = stats
        .iter()
        .filter(|s| s.facts.persistent_absence())
        .count();
    let sa = stats.iter().filter(|s| s.facts.severe_absence()).count();
    let n = stats.len();
    let _ = writeln!(out, "{school}: {from} to {as_of}, {n} pupils");
    let _ = writeln!(
        out,
        "  attendance {:.1}%  (authorised absence {:.1}%, unauthorised {:.1}%)",
        pct(attended, possible),
        pct(authorised, possible),
        pct(unauthorised, possible)
    );
    let _ = writeln!(
        out,
        "  persistent absence (≥10%): {pa} pupils ({:.1}%)   severe absence (≥50%): {sa} pupils ({:.1}%)",
        pct(pa as u64, n as u64),
        pct(sa as u64, n as u64)
    );

    let mut concern: Vec<&PupilStats> = stats
        .iter()
        .filter(|s| {
            let f = &s.facts;
            f.persistent_absence()
                || f.consecutive_unauthorised_days >= 10
                || f.unauthorised_sessions_rolling_10_weeks >= 10
        })
        .collect();
    concern.sort_by(|a, b| {
        let key = |s: &PupilStats| {
            (
                !s.facts.severe_absence(),
                s.facts.unauthorised_sessions_rolling_10_weeks < 10,
                s.facts.attended_sessions as f64 / s.facts.possible_sessions.max(1) as f64,
            )
        };
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then(ka.1.cmp(&kb.1))
            .then(ka.2.total_cmp(&kb.2))
            .then(a.pupil.pupil.upn.cmp(&b.pupil.pupil.upn))
    });
    let _ = writeln!(out);
    let _ = writeln!(out, "Pupils of most concern:");
    if concern.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for s in concern.iter().take(10) {
        let p = &s.pupil.pupil;
        let _ = writeln!(
            out,
            "  {} {} {} ({}): {}",
            p.upn,
            p.forename,
            p.surname,
            p.reg_group,
            why(s)
        );
    }
    out
}

fn why(s: &PupilStats) -> String {
    let f = &s.facts;
    let mut reasons = vec![format!(
        "attendance {:.1}% ({} of {} sessions{})",
        f.attendance_pct(),
        f.attended_sessions,
        f.possible_sessions,
        if f.severe_absence() {
            ", severe absence"
        } else if f.persistent_absence() {
            ", persistent absence"
        } else {
            ""
        }
    )];
    let codes: Vec<String> = f
        .codes_used()
        .into_iter()
        .filter(|(c, _)| {
            crate::register::mark::MarkCode::parse_exact(c)
                .and_then(|m| m.category())
                .is_some_and(|k| k.is_absence())
        })
        .take(3)
        .map(|(c, n)| format!("{c}×{n}"))
        .collect();
    if !codes.is_empty() {
        reasons.push(format!("absences {}", codes.join(" ")));
    }
    if f.unauthorised_sessions_rolling_10_weeks >= 10 {
        reasons.push(format!(
            "{} unauthorised sessions in the last 10 school weeks (penalty-notice threshold)",
            f.unauthorised_sessions_rolling_10_weeks
        ));
    }
    if f.consecutive_absent_days >= 3
        && let Some(since) = f.absent_run_since
    {
        reasons.push(format!(
            "absent {} school days in a row since {since}",
            f.consecutive_absent_days
        ));
    }
    reasons.join("; ")
}
