//! On SQLite `school_stats` reads the register straight from the file (issue 17), not through
//! sqlx; on PostgreSQL through sqlx's PostgreSQL driver on a connection of its own, not through
//! the `Any` pool. Either way, reading must give the same pupils and the same facts as the
//! store's `Any` pool does.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{Datelike, NaiveDate, Weekday};
use rollcall::config::Config;
use rollcall::generate::{GenerateOptions, generate};
use rollcall::register::import::{MarksImport, import_contacts, import_marks, import_pupils};
use rollcall::register::stats::{
    PupilStats, school_stats, school_stats_in_batches, write_json, write_json_in_shares,
};
use rollcall::register::store::{Backend, Store};

/// A generated school, with the summer before its year for some pupils (so that windows
/// reaching back read two years, some pupils with one row and some with two), asked for
/// several windows, read directly and through sqlx: pupil by pupil the same, and the same
/// `stats --format json` bytes.
pub async fn stats_read_directly_from_sqlite_agree_with_sqlx_pupil_by_pupil(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    assert_eq!(
        store.direct_reader().is_some(),
        store.backend() == Backend::Sqlite,
        "SQLite files are read directly, PostgreSQL through sqlx"
    );
    let through_sqlx = store.without_direct_reads();
    assert!(through_sqlx.direct_reader().is_none());
    assert_eq!(
        store.connect_native_postgres().await?.is_some(),
        store.backend() == Backend::Postgres,
        "PostgreSQL's stats read on a connection of the driver's own"
    );
    assert!(through_sqlx.connect_native_postgres().await?.is_none());

    let generated = dir.join("generated");
    generate(&GenerateOptions::new(240, 17, 2025), &generated)?;
    // The summer term of the year before, so its marks are on school days.
    let mut text = std::fs::read_to_string(generated.join("rollcall.toml"))?;
    text.push_str(
        "\n[[calendar.terms]]\nname = \"Summer 2025\"\nstart = \"2025-06-30\"\nend = \"2025-07-18\"\n",
    );
    let config = Config::from_toml(&text, "rollcall.toml")?;
    let school_config = config.school(None)?;
    let school = store.ensure_school(school_config).await?;
    // Every third pupil was on roll that summer (admitted in June), so its marks count.
    let mut reader = csv::Reader::from_path(generated.join("pupils.csv"))?;
    let mut writer = csv::Writer::from_path(dir.join("pupils.csv"))?;
    let headers = reader.headers()?.clone();
    let admission = headers
        .iter()
        .position(|h| h == "admission_date")
        .context("admission_date column")?;
    writer.write_record(&headers)?;
    let mut summer_upns = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record?;
        let mut fields: Vec<String> = record.iter().map(str::to_owned).collect();
        if n % 3 == 0 {
            fields[admission] = "2025-06-02".to_owned();
            summer_upns.push(fields[0].clone());
        }
        writer.write_record(&fields)?;
    }
    writer.flush()?;
    drop(writer);
    import_pupils(&store, school, &dir.join("pupils.csv")).await?;
    let options = MarksImport {
        progress: false,
        ..MarksImport::default()
    };
    let cal = &school_config.calendar;
    import_marks(&store, school, cal, &generated.join("marks.csv"), &options).await?;

    // Those pupils have marks in the last fortnight of the summer before, in a mix of codes,
    // and for some a run of unauthorised absence reaching into September.
    let codes = ["/", "\\", "N", "I", "L", "U", "O", "M"];
    let mut summer = String::from("upn,date,session,mark\n");
    let pupils = store.pupils(school).await?;
    let mut day = NaiveDate::from_ymd_opt(2025, 7, 7).context("date")?;
    let last = NaiveDate::from_ymd_opt(2025, 7, 18).context("date")?;
    while day <= last {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            for (n, upn) in summer_upns.iter().enumerate() {
                for session in ["AM", "PM"] {
                    let code = if n % 3 == 0 {
                        "O"
                    } else {
                        codes[(n + day.day() as usize) % codes.len()]
                    };
                    writeln!(summer, "{upn},{day},{session},{code}")?;
                }
            }
        }
        day = day.succ_opt().context("date")?;
    }
    std::fs::write(dir.join("summer.csv"), summer)?;
    import_marks(&store, school, cal, &dir.join("summer.csv"), &options).await?;

    let days = cal.school_days();
    let last = days[days.len() - 1];
    let first = days
        .iter()
        .copied()
        .find(|day| day.year() == 2025 && day.month() >= 9)
        .context("the autumn term")?;
    let some_upn = pupils[pupils.len() / 2].pupil.upn.as_str().to_owned();
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").context("date");
    let windows: Vec<(NaiveDate, NaiveDate, Option<&str>)> = vec![
        // One academic year: one row per pupil, lent straight from SQLite.
        (first, last, None),
        (days[0], last, None),
        (d("2025-11-03")?, d("2025-11-07")?, None),
        (first, last, Some(some_upn.as_str())),
        // The rolling ten weeks and the runs reach back into the summer: two years.
        (first, d("2025-09-12")?, None),
        (first, d("2025-09-19")?, None),
        (d("2025-07-07")?, d("2025-09-19")?, None),
        (d("2025-07-07")?, d("2025-09-19")?, Some(some_upn.as_str())),
    ];
    let mut possible = Vec::new();
    for (from, as_of, upn) in windows {
        let direct = school_stats(&store, school, school_config, from, as_of, upn).await?;
        let sqlx = school_stats(&through_sqlx, school, school_config, from, as_of, upn).await?;
        let what = format!("{from} to {as_of}, {upn:?}");
        assert!(!direct.is_empty(), "{what}: no pupils");
        assert_eq!(direct.len(), sqlx.len(), "{what}: how many pupils");
        for (a, b) in direct.iter().zip(&sqlx) {
            let upn = b.pupil.pupil.upn.as_str();
            assert_eq!(a.pupil.id, b.pupil.id, "{what}: {upn}");
            assert_eq!(a.pupil.pupil, b.pupil.pupil, "{what}: {upn}");
            assert_eq!(a.facts, b.facts, "{what}: {upn}");
        }
        assert_eq!(json(&direct)?, json(&sqlx)?, "{what}: stats --format json");
        // On SQLite one thread steps the file while another builds the pupils and their
        // facts, handed over a thousand pupils at a time: in batches of seven, this school is
        // handed over as a large one is, across every batch's edge.
        let batched =
            school_stats_in_batches(&store, school, school_config, (from, as_of), upn, 7).await?;
        assert_eq!(
            batched.len(),
            sqlx.len(),
            "{what}, in batches of 7: how many"
        );
        for (a, b) in batched.iter().zip(&sqlx) {
            let upn = b.pupil.pupil.upn.as_str();
            assert_eq!(a.pupil.id, b.pupil.id, "{what}, in batches of 7: {upn}");
            assert_eq!(
                a.pupil.pupil, b.pupil.pupil,
                "{what}, in batches of 7: {upn}"
            );
            assert_eq!(a.facts, b.facts, "{what}, in batches of 7: {upn}");
        }
        // The JSON lines are written on several threads for a large school; in shares of
        // seven lines, the same bytes as one thread writes.
        let mut shared = Vec::new();
        write_json_in_shares(&mut shared, &sqlx, 7)?;
        assert_eq!(shared, json(&sqlx)?, "{what}: JSON lines in shares of 7");
        possible.push(
            direct
                .iter()
                .map(|s| s.facts.possible_sessions)
                .sum::<u32>(),
        );
    }
    assert!(
        possible[6] > possible[5],
        "the window from July counts the summer's sessions: {possible:?}"
    );

    // The escalation engine reads its pupils, their years and contacts the same two ways: the
    // same school loaded either way plans the same decisions and messages, in the same order.
    import_contacts(&store, school, &generated.join("contacts.csv")).await?;
    let policy = crate::baseline(1.0)?;
    let mut planned = Vec::new();
    for way in [&store, &through_sqlx] {
        let register = rollcall::escalation::load(way, school, school_config, last).await?;
        let now = last.and_hms_opt(16, 30, 0).context("time")?;
        let evaluation = register.evaluate(&policy, school_config, now);
        let mut out = Vec::new();
        rollcall::escalation::write_json(&mut out, &evaluation)?;
        planned.push((evaluation.decisions.len(), out));
    }
    assert!(
        planned[0].0 > 0,
        "a year of generated absence decides something"
    );
    assert_eq!(
        planned[0], planned[1],
        "escalation read directly and through sqlx"
    );

    // A large school's pupils are shared out among threads: this school's 240, shared out
    // seven at a time, make the same decisions, memory, withdrawals and certificates, in the
    // same order, as on one thread, under every shipped policy.
    let mut register = rollcall::escalation::load(&store, school, school_config, last).await?;
    register.certify = true;
    let now = last.and_hms_opt(16, 30, 0).context("time")?;
    let (mut certified, mut remembered) = (0, 0);
    for name in rollcall::escalation::shipped_policies() {
        let policy = rollcall::escalation::read_named_policy(name, None)
            .map_err(|e| anyhow::anyhow!("{name}: {e:?}"))?;
        let [one, shared] = [usize::MAX, 7].map(|per_thread| {
            let evaluation = register.evaluate_in_shares(&policy, school_config, now, per_thread);
            let mut out = Vec::new();
            rollcall::escalation::write_json(&mut out, &evaluation).map(|()| {
                (
                    out,
                    evaluation.memory,
                    evaluation.withdrawn,
                    evaluation.quiet,
                )
            })
        });
        let (one, shared) = (one?, shared?);
        certified += one.3.len();
        remembered += one.1.len();
        assert_eq!(one, shared, "{name}: one thread and shares of seven pupils");
    }
    assert!(
        certified > 0 && remembered > 0,
        "the year certifies some pupils ({certified}) and remembers some triggers ({remembered})"
    );

    // A pupil stored with a UPN that is not one (written by hand into the database): `stats`
    // stops and says which, read either way and in batches, instead of leaving that pupil out
    // or waiting on the thread that stopped.
    let broken = &pupils[pupils.len() - 3];
    sqlx::query("UPDATE pupils SET upn = 'X12' WHERE id = $1")
        .bind(broken.id)
        .execute(store.pool())
        .await?;
    for per_batch in [1_024, 7, 1] {
        for way in [&store, &through_sqlx] {
            let error =
                school_stats_in_batches(way, school, school_config, (first, last), None, per_batch)
                    .await
                    .err()
                    .context("stats over a pupil stored with a UPN that is not one")?;
            let text = format!("{error:#}");
            assert!(
                text.contains("stored UPN X12"),
                "in batches of {per_batch}: {text}"
            );
        }
    }
    Ok(())
}

fn json(stats: &[PupilStats]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_json(&mut out, stats)?;
    Ok(out)
}
