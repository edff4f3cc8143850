//! Imports on both backends: two writers at once lose nothing, and what a whole-term MIS
//! export carries (closures on INSET days, marks outside a pupil's enrolment) is taken in
//! the way the README says.

use std::path::Path;

use anyhow::{Context, Result};
use rollcall::config::Config;
use rollcall::register::import::{ImportSummary, MarksImport, import_marks, import_pupils};
use rollcall::register::pupil::Upn;
use rollcall::register::session::Session;
use rollcall::register::store::{Backend, SchoolId, Store};

use super::{CONFIG, d};

/// School days of the first two weeks of the fixture's autumn term (Mon 1 – Fri 12 Sep).
pub(crate) const DAYS: [&str; 10] = [
    "2025-09-01",
    "2025-09-02",
    "2025-09-03",
    "2025-09-04",
    "2025-09-05",
    "2025-09-08",
    "2025-09-09",
    "2025-09-10",
    "2025-09-11",
    "2025-09-12",
];
/// The Monday after: every pupil is first marked `O` that morning, then the reason comes in.
const AMENDED_DAY: &str = "2025-09-15";

fn upns(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let digits = format!("8012000{:05}", 10_000 + i);
            let digits: [u8; 12] = digits.as_bytes().try_into().expect("12 digits");
            Upn::from_digits(&digits).as_str().to_owned()
        })
        .collect()
}

fn pupils_csv(upns: &[String]) -> String {
    let mut text = String::from(
        "upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date\n",
    );
    for upn in upns {
        text.push_str(&format!(
            "{upn},Pupil,Test,2018-03-01,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,\n"
        ));
    }
    text
}

fn marks_csv(upns: &[String], days: &[&str], session: &str, code: &str) -> String {
    let mut text = String::from("upn,date,session,mark\n");
    for upn in upns {
        for day in days {
            text.push_str(&format!("{upn},{day},{session},{code}\n"));
        }
    }
    text
}

fn options(by: &str) -> MarksImport {
    MarksImport {
        by_name: by.into(),
        by_role: "Office".into(),
        reason: Some(format!("{by} import")),
        progress: false,
    }
}

/// A second handle on the same database, as a second process would have: on SQLite its own
/// connection (the store keeps one per process), on PostgreSQL the pool's other connections.
async fn second_writer(store: &Store) -> Result<Store> {
    match store.backend() {
        Backend::Sqlite => Store::connect(&format!("sqlite://{}", store.display())).await,
        Backend::Postgres => Ok(store.clone()),
    }
}

async fn import(
    store: &Store,
    school: SchoolId,
    config: &Config,
    path: &Path,
    by: &str,
) -> Result<ImportSummary> {
    let calendar = &config.school(None)?.calendar;
    import_marks(store, school, calendar, path, &options(by)).await
}

/// Issue 12, item 1: the AM half and the PM half of a register, and a file turning every
/// pupil's `O` into `U`, imported at the same moment by three writers. Each must keep every
/// mark and every amendment: afterwards, re-importing each file inserts and amends nothing.
pub async fn concurrent_imports_lose_no_mark_and_no_amendment(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    const PUPILS: usize = 150;
    let config = Config::from_toml(CONFIG, "test.toml")?;
    let school = store.ensure_school(config.school(None)?).await?;
    let upns = upns(PUPILS);
    std::fs::write(dir.join("pupils.csv"), pupils_csv(&upns))?;
    import_pupils(&store, school, &dir.join("pupils.csv")).await?;

    let files = [
        ("am.csv", marks_csv(&upns, &DAYS, "AM", "/")),
        ("pm.csv", marks_csv(&upns, &DAYS, "PM", "\\")),
        ("first.csv", marks_csv(&upns, &[AMENDED_DAY], "AM", "O")),
        ("reasons.csv", marks_csv(&upns, &[AMENDED_DAY], "AM", "U")),
    ];
    for (name, text) in &files {
        std::fs::write(dir.join(name), text)?;
    }
    let first = import(&store, school, &config, &dir.join("first.csv"), "first").await?;
    assert_eq!(first.inserted, PUPILS as u64);

    let (b, c) = (second_writer(&store).await?, second_writer(&store).await?);
    let (am_file, pm_file, reasons_file) = (
        dir.join("am.csv"),
        dir.join("pm.csv"),
        dir.join("reasons.csv"),
    );
    let (am, pm, reasons) = tokio::join!(
        import(&store, school, &config, &am_file, "am"),
        import(&b, school, &config, &pm_file, "pm"),
        import(&c, school, &config, &reasons_file, "reasons"),
    );
    let (am, pm, reasons) = (am?, pm?, reasons?);
    let half = (PUPILS * DAYS.len()) as u64;
    assert_eq!((am.inserted, am.amended), (half, 0), "AM half: {am:?}");
    assert_eq!((pm.inserted, pm.amended), (half, 0), "PM half: {pm:?}");
    assert_eq!(
        (reasons.inserted, reasons.amended),
        (0, PUPILS as u64),
        "O→U: {reasons:?}"
    );

    // Nothing was overwritten by another writer's stale copy of the pupil's year.
    for (name, rows) in [
        ("am.csv", half),
        ("pm.csv", half),
        ("reasons.csv", PUPILS as u64),
    ] {
        let again = import(&store, school, &config, &dir.join(name), "again").await?;
        assert_eq!(
            (again.inserted, again.amended, again.unchanged),
            (0, 0, rows),
            "re-importing {name} found lost marks: {again:?}"
        );
    }
    let amendments = store.amendments(school, None).await?;
    assert_eq!(amendments.len(), PUPILS, "one O→U amendment per pupil");
    assert!(
        amendments.iter().all(
            |a| (a.original_code.as_str(), a.new_code.as_str()) == ("O", "U")
                && a.amended_by_name == "reasons"
        ),
        "{:?}",
        amendments.first()
    );
    // Each mark names the import that recorded it, whichever writer came last.
    let last = upns.last().context("pupils")?;
    let am_mark = store
        .mark_detail(school, last, d("2025-09-12"), Session::Am)
        .await?
        .context("AM mark")?;
    let pm_mark = store
        .mark_detail(school, last, d("2025-09-12"), Session::Pm)
        .await?
        .context("PM mark")?;
    assert_eq!(
        (am_mark.code.as_str(), am_mark.source.as_str()),
        ("/", "import am.csv")
    );
    assert_eq!(
        (pm_mark.code.as_str(), pm_mark.source.as_str()),
        ("\\", "import pm.csv")
    );
    Ok(())
}

/// The same file imported twice at once (the daemon's inbox and a person at the command
/// line): its marks are recorded once, one import says it inserted them and the other that
/// they were already there.
pub async fn the_same_file_twice_at_once_is_recorded_once(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    const PUPILS: usize = 60;
    let config = Config::from_toml(CONFIG, "test.toml")?;
    let school = store.ensure_school(config.school(None)?).await?;
    let upns = upns(PUPILS);
    std::fs::write(dir.join("pupils.csv"), pupils_csv(&upns))?;
    import_pupils(&store, school, &dir.join("pupils.csv")).await?;
    std::fs::write(dir.join("am.csv"), marks_csv(&upns, &DAYS, "AM", "N"))?;
    let other = second_writer(&store).await?;
    let file = dir.join("am.csv");
    let (one, two) = tokio::join!(
        import(&store, school, &config, &file, "inbox"),
        import(&other, school, &config, &file, "office"),
    );
    let (one, two) = (one?, two?);
    let marks = (PUPILS * DAYS.len()) as u64;
    assert_eq!(one.inserted + two.inserted, marks, "{one:?} {two:?}");
    assert_eq!(one.unchanged + two.unchanged, marks, "{one:?} {two:?}");
    assert_eq!(one.amended + two.amended, 0);
    assert!(store.amendments(school, None).await?.is_empty());
    Ok(())
}

const TWO_PUPILS: &str = "\
upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date
B801200005001,Ada,Lovelace,2018-03-01,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,
P207000016049,Alan,Turing,2018-06-23,3,3G,M,Y,K,N,WBRI,N,Y,N,Y,2025-09-03,2025-10-03
";

/// Issue 12, item 10: a whole-term MIS export marks the half-term holiday and weekends `#`.
/// Those marks are taken (and counted nowhere); any other code on such a day is still an
/// error. Item 12: marks before admission or after leaving are said in the summary.
pub async fn a_whole_term_export_with_closures_imports_and_counts_them_nowhere(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let config = Config::from_toml(CONFIG, "test.toml")?;
    let school = store.ensure_school(config.school(None)?).await?;
    std::fs::write(dir.join("pupils.csv"), TWO_PUPILS)?;
    import_pupils(&store, school, &dir.join("pupils.csv")).await?;
    // Ada: present Mon 1 Sep; half term (27–31 Oct) and Sat 6 Sep closed.
    // Alan joined Wed 3 Sep and left Fri 3 Oct: Mon 1 Sep and Mon 6 Oct are outside.
    let term = "\
upn,date,session,mark
B801200005001,2025-09-01,AM,/
B801200005001,2025-09-01,PM,\\
B801200005001,2025-09-06,AM,#
B801200005001,2025-10-27,AM,#
B801200005001,2025-10-27,PM,#
B801200005001,2025-10-28,AM,Y1
P207000016049,2025-09-01,AM,N
P207000016049,2025-09-03,AM,/
P207000016049,2025-10-06,AM,O
";
    std::fs::write(dir.join("term.csv"), term)?;
    let summary = import(&store, school, &config, &dir.join("term.csv"), "mis").await?;
    assert_eq!(summary.rows_read, 9);
    assert_eq!(summary.not_counted_on_closed_days, 4, "{summary:?}");
    assert_eq!(summary.inserted, 5, "{summary:?}");
    assert_eq!(summary.outside_enrolment, 2, "{summary:?}");
    let line = rollcall::register::import::summary_line("marks", &summary);
    assert!(
        line.contains("4 not-counted marks on days that are not school days ignored")
            && line.contains("2 marks before the pupil's admission or after their leaving date"),
        "{line}"
    );
    let stats = rollcall::register::stats::school_stats(
        &store,
        school,
        config.school(None)?,
        d("2025-09-01"),
        d("2025-10-31"),
        Some("B801200005001"),
    )
    .await?;
    // Two present sessions are all Ada has: the closed days count for nothing.
    assert_eq!(stats[0].facts.possible_sessions, 2);
    assert_eq!(stats[0].facts.attended_sessions, 2);
    // Re-importing the same export changes nothing.
    let again = import(&store, school, &config, &dir.join("term.csv"), "mis").await?;
    assert!(again.changed_nothing(), "{again:?}");

    // A counted code on a holiday is still refused, and says what would be allowed.
    std::fs::write(
        dir.join("holiday.csv"),
        "upn,date,session,mark\nB801200005001,2025-10-29,AM,N\n",
    )?;
    let err = import(&store, school, &config, &dir.join("holiday.csv"), "mis")
        .await
        .expect_err("N on a holiday");
    let text = err.to_string();
    assert!(
        text.contains("holiday.csv:2: date: not a school day: 2025-10-29 is in the holiday")
            && text.contains("only a not-counted code (")
            && text.contains(" #)"),
        "{text}"
    );
    Ok(())
}

/// Issue 12, items 4, 11, 12 and 14: names and addresses as MIS data carries them, invalid
/// emails, implausible values and a duplicated column. A line break in a name becomes a
/// space (and the summary says so); every other problem is refused with its line and
/// field, echoing at most a short piece of the value, and nothing is imported.
pub async fn hostile_values_are_cleaned_or_refused_with_short_errors(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let config = Config::from_toml(CONFIG, "test.toml")?;
    let school = store.ensure_school(config.school(None)?).await?;
    std::fs::write(dir.join("pupils.csv"), TWO_PUPILS)?;
    import_pupils(&store, school, &dir.join("pupils.csv")).await?;

    let header = "upn,name,relationship,priority,email,mobile,parental_responsibility,address_line_1,address_line_2,town,postcode\n";
    let contacts = format!(
        "{header}B801200005001,\"Lisa\nHall\",Mother,1,lisa@example.org,,Y,\"1 Test Street\r\nFlat 2\",,Testtown,tt1 1aa\n"
    );
    std::fs::write(dir.join("contacts.csv"), contacts)?;
    let summary =
        rollcall::register::import::import_contacts(&store, school, &dir.join("contacts.csv"))
            .await?;
    assert_eq!((summary.inserted, summary.cleaned), (1, 2), "{summary:?}");
    let stored = store.contacts(school).await?;
    assert_eq!(stored[0].1.name, "Lisa Hall");
    assert_eq!(stored[0].1.address_line_1, "1 Test Street Flat 2");

    let bad_emails = [
        "x@@y.com",
        "a@b.com;c@d.com",
        "<a@b.com>",
        "a@b..com",
        "\"a@b.com\r\nBcc: c@d.com\"",
        "a@localhost",
    ];
    let mut rows = String::from(header);
    for (i, email) in bad_emails.iter().enumerate() {
        rows.push_str(&format!(
            "P207000016049,Parent {i},Mother,{},{email},,Y,,,,\n",
            i + 1
        ));
    }
    rows.push_str("P207000016049,\"Esc\u{1b}ape\",Father,9,,,Y,,,,\n");
    std::fs::write(dir.join("emails.csv"), &rows)?;
    let err = rollcall::register::import::import_contacts(&store, school, &dir.join("emails.csv"))
        .await
        .expect_err("invalid emails");
    let text = err.to_string();
    assert!(text.contains("7 bad rows; nothing was imported"), "{text}");
    // The address with a line break inside its quotes takes two lines of the file.
    for line in [2, 3, 4, 5, 6, 8] {
        assert!(
            text.contains(&format!("emails.csv:{line}: email: ")),
            "line {line}: {text}"
        );
    }
    assert!(
        text.contains("emails.csv:9: name: contains the control character U+001B at character 4"),
        "{text}"
    );
    assert_eq!(
        store.contacts(school).await?.len(),
        1,
        "nothing was imported"
    );

    // Implausible pupils: born in 1900, admitted in 2100, a megabyte forename, a megabyte UPN.
    let huge = "x".repeat(1 << 20);
    let pupils = format!(
        "{}\
A886200024062,Grace,Hopper,1900-01-01,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,
A886200024062,Grace,Hopper,2018-06-23,3,3B,F,N,N,N,WBRI,N,N,N,N,2100-09-01,
A886200024062,{huge},Hopper,2018-06-23,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,
{huge},Grace,Hopper,2018-06-23,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,
",
        TWO_PUPILS.lines().next().context("header")?.to_owned() + "\n"
    );
    std::fs::write(dir.join("implausible.csv"), pupils)?;
    let err = import_pupils(&store, school, &dir.join("implausible.csv"))
        .await
        .expect_err("implausible pupils");
    let text = err.to_string();
    assert!(
        text.contains(
            "implausible.csv:2: date_of_birth: 1900-01-01 makes the pupil 121 at admission"
        ),
        "{text}"
    );
    assert!(
        text.contains("implausible.csv:3: admission_date: 2100-09-01 is not a plausible date"),
        "{text}"
    );
    assert!(
        text.contains("implausible.csv:4: forename: is 1048576 characters long; at most 100"),
        "{text}"
    );
    assert!(
        text.contains("implausible.csv:5: upn: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…\" (1048576 characters)"),
        "{text}"
    );
    assert!(
        text.len() < 2_000,
        "a megabyte value must not make a megabyte error ({} bytes)",
        text.len()
    );

    // A duplicated column: rollcall cannot know which `mark` is meant.
    std::fs::write(
        dir.join("twice.csv"),
        "upn,date,session,mark,mark\nB801200005001,2025-09-01,AM,/,N\n",
    )?;
    let err = import(&store, school, &config, &dir.join("twice.csv"), "mis")
        .await
        .expect_err("duplicated column");
    assert!(
        err.to_string()
            .contains("twice.csv:1: the header row names mark (columns 4 and 5) twice"),
        "{err}"
    );
    Ok(())
}
