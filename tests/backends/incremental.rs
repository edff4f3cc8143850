//! Issue 17: which pupils an incremental pass leaves out, on both backends. A pupil is left out
//! only while their certificate stands: nothing about them changed but plain present marks, and
//! every register closed by now has their mark. An absence mark, a new contact or a register
//! the MIS never sent brings them back.

use std::path::Path;

use anyhow::Result;
use rollcall::config::Config;
use rollcall::daemon::{PassShape, escalate_school};
use rollcall::escalation::incremental::Pass;
use rollcall::escalation::policy::Trigger;
use rollcall::register::import::{MarksImport, import_contacts, import_marks, import_pupils};
use rollcall::register::store::{SchoolId, Store};

use crate::imports::DAYS;
use crate::{CONFIG, FAMILY_CONTACTS, FAMILY_PUPILS, baseline};

const ADA: &str = "B801200005001";
const ALAN: &str = "P207000016049";
const GRACE: &str = "A886200024062";

/// The test school with Ada, Alan and Grace on roll and their contacts.
async fn enrol_family(store: &Store, dir: &Path) -> Result<(Config, SchoolId)> {
    let config = Config::from_toml(CONFIG, "test.toml")?;
    let school = store.ensure_school(config.school(None)?).await?;
    std::fs::write(dir.join("pupils.csv"), FAMILY_PUPILS)?;
    std::fs::write(dir.join("contacts.csv"), FAMILY_CONTACTS)?;
    import_pupils(store, school, &dir.join("pupils.csv")).await?;
    import_contacts(store, school, &dir.join("contacts.csv")).await?;
    Ok((config, school))
}

/// Ada's, Alan's and Grace's pupil ids, as `enrol_family` made them.
async fn family_ids(store: &Store) -> Result<(i64, i64, i64)> {
    let mut ids = Vec::new();
    for upn in [ADA, ALAN, GRACE] {
        let id: i64 = sqlx::query_scalar("SELECT id FROM pupils WHERE upn = $1")
            .bind(upn)
            .fetch_one(store.pool())
            .await?;
        ids.push(id);
    }
    Ok((ids[0], ids[1], ids[2]))
}

async fn marks(
    store: &Store,
    config: &Config,
    school: SchoolId,
    dir: &Path,
    rows: &str,
) -> Result<()> {
    let path = dir.join("marks-today.csv");
    std::fs::write(&path, format!("upn,date,session,mark\n{rows}"))?;
    let options = MarksImport {
        progress: false,
        ..MarksImport::default()
    };
    import_marks(
        store,
        school,
        &config.school(None)?.calendar,
        &path,
        &options,
    )
    .await?;
    Ok(())
}

async fn pass(
    store: &Store,
    config: &Config,
    school: SchoolId,
    policy: &rollcall::escalation::policy::Policy,
    now: &str,
    pass: Pass,
) -> Result<(usize, PassShape)> {
    let now = rollcall::cli::parse_datetime(now).map_err(anyhow::Error::msg)?;
    let (summary, shape) =
        escalate_school(store, school, config.school(None)?, policy, now, pass, true).await?;
    Ok((summary.decisions, shape))
}

pub async fn a_pupil_is_left_out_only_while_nothing_about_them_changed(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (config, school) = enrol_family(&store, dir).await?;
    let mut week = String::new();
    for day in 1..=5 {
        for upn in [ADA, ALAN, GRACE] {
            week.push_str(&format!(
                "{upn},2025-09-0{day},AM,/\n{upn},2025-09-0{day},PM,\\\n"
            ));
        }
    }
    marks(&store, &config, school, dir, &week).await?;
    let policy = baseline(1.0)?;

    // Friday after school, a full pass: a week at school, nothing to do; all three quiet.
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-05T16:30",
        Pass::Full,
    )
    .await?;
    assert_eq!(
        (decided, shape.evaluated, shape.left_out, shape.quiet),
        (0, 3, 0, 3)
    );

    // Monday before the register closes: no register has closed since, everyone is left out.
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-08T07:30",
        Pass::Incremental,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.left_out), (0, 0, 3));

    // The morning register: Alan is away (N), the girls are in. After the close and its
    // grace, only Alan is evaluated, and his first-day contact is decided.
    marks(
        &store,
        &config,
        school,
        dir,
        &format!("{ADA},2025-09-08,AM,/\n{ALAN},2025-09-08,AM,N\n{GRACE},2025-09-08,AM,/\n"),
    )
    .await?;
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-08T09:45",
        Pass::Incremental,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.left_out), (1, 1, 2));
    // A full pass at the same moment finds nothing the incremental one missed. It finds
    // Alan's first-day contact on record, and nothing else can come of his N before it has
    // waited five school days: he is quiet now, his text still waiting to be sent.
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-08T09:45",
        Pass::Full,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.left_out), (0, 3, 0));

    // Grace's family gives a new mobile: her certificate is forgotten by the database itself,
    // so the 11:00 run evaluates her alone.
    std::fs::write(
        dir.join("contacts-grace.csv"),
        "upn,name,relationship,priority,email,mobile,parental_responsibility,address_line_1,address_line_2,town,postcode\n\
         A886200024062,Mary Hopper,Mother,1,,07700900099,Y,3 Test Street,,Testtown,TT1 1AC\n",
    )?;
    import_contacts(&store, school, &dir.join("contacts-grace.csv")).await?;
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-08T11:00",
        Pass::Incremental,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.left_out), (0, 1, 2));

    // The daemon sends Alan's text: a message sent forgets his certificate, so the next run
    // evaluates him (and finds nothing new), and the one after leaves all three out.
    let sent = sqlx::query("UPDATE outbox SET status = 'sent' WHERE status = 'queued'")
        .execute(store.pool())
        .await?
        .rows_affected();
    assert!(sent > 0, "Alan's first-day messages were queued");
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-08T11:15",
        Pass::Incremental,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.left_out), (0, 1, 2));
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-08T11:30",
        Pass::Incremental,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.left_out), (0, 0, 3));

    // Monday afternoon and Tuesday's registers never come from the MIS. By Tuesday's close
    // every pupil has closed sessions without a mark: nobody is left out, and the first-day
    // trigger sees all three unmarked.
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-09T09:45",
        Pass::Incremental,
    )
    .await?;
    assert_eq!((shape.evaluated, shape.left_out), (3, 0));
    assert_eq!(decided, 3, "a first-day decision for each unmarked pupil");

    // The MIS catches up: everyone in from Monday afternoon to Friday, Alan's Monday-morning N
    // never resolved. Once Friday's runs have settled, nobody is evaluated: Alan's N comes due
    // only after five school days, on the next Monday.
    let mut rest = String::new();
    for (day, sessions) in [
        ("2025-09-08", &["PM"][..]),
        ("2025-09-09", &["AM", "PM"][..]),
        ("2025-09-10", &["AM", "PM"][..]),
        ("2025-09-11", &["AM", "PM"][..]),
        ("2025-09-12", &["AM", "PM"][..]),
    ] {
        for upn in [ADA, ALAN, GRACE] {
            for session in sessions {
                let mark = if *session == "AM" { "/" } else { "\\" };
                rest.push_str(&format!("{upn},{day},{session},{mark}\n"));
            }
        }
    }
    marks(&store, &config, school, dir, &rest).await?;
    for time in ["2025-09-12T16:00", "2025-09-12T16:30"] {
        pass(&store, &config, school, &policy, time, Pass::Incremental).await?;
    }
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-12T17:00",
        Pass::Incremental,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.left_out), (0, 0, 3));

    // Monday morning, all three in: Alan's N has waited five school days. Only he is
    // evaluated, and the office is asked to resolve it.
    marks(
        &store,
        &config,
        school,
        dir,
        &format!("{ADA},2025-09-15,AM,/\n{ALAN},2025-09-15,AM,/\n{GRACE},2025-09-15,AM,/\n"),
    )
    .await?;
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-15T09:45",
        Pass::Incremental,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.left_out), (1, 1, 2));
    let stage: String = sqlx::query_scalar(
        "SELECT d.stage FROM decisions d JOIN pupils p ON p.id = d.pupil_id
         WHERE p.upn = $1 AND d.decided_at >= '2025-09-15'",
    )
    .bind(ALAN)
    .fetch_one(store.pool())
    .await?;
    assert_eq!(stage, "unresolved_n");
    Ok(())
}

/// Leaves the roll on Wednesday 3 September 2025.
const MARY: &str = "V886200000001";
/// Joins the roll on Wednesday 10 September 2025; the MIS sends `Z` (not yet on roll) before.
const TOM: &str = "Q801200005002";

/// Pupils off the roll (left, or joining later) are left out like the rest: no register is
/// taken for them, so the sessions the school goes on closing without them are credited in
/// advance. A pupil joining later is evaluated again on their first day.
pub async fn pupils_off_the_roll_are_left_out_until_their_first_day(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let config = Config::from_toml(CONFIG, "test.toml")?;
    let school = store.ensure_school(config.school(None)?).await?;
    let pupils = format!(
        "{FAMILY_PUPILS}\
         {MARY},Mary,Anning,2018-05-21,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,2025-09-03\n\
         {TOM},Tom,Kilburn,2018-08-11,3,3B,M,N,N,N,WBRI,N,N,N,N,2025-09-10,\n"
    );
    std::fs::write(dir.join("pupils.csv"), pupils)?;
    std::fs::write(dir.join("contacts.csv"), FAMILY_CONTACTS)?;
    import_pupils(&store, school, &dir.join("pupils.csv")).await?;
    import_contacts(&store, school, &dir.join("contacts.csv")).await?;
    // The MIS's register: the family in every day, Mary until she leaves, Tom `Z` until he
    // joins.
    let day_marks = |day: &str, sessions: &[&str], joined: bool| {
        let mut rows = String::new();
        for session in sessions {
            let present = if *session == "AM" { "/" } else { "\\" };
            for upn in [ADA, ALAN, GRACE] {
                rows.push_str(&format!("{upn},{day},{session},{present}\n"));
            }
            if day <= "2025-09-03" {
                rows.push_str(&format!("{MARY},{day},{session},{present}\n"));
            }
            let tom = if joined { present } else { "Z" };
            rows.push_str(&format!("{TOM},{day},{session},{tom}\n"));
        }
        rows
    };
    let mut week = String::new();
    for day in 1..=5 {
        week.push_str(&day_marks(&format!("2025-09-0{day}"), &["AM", "PM"], false));
    }
    marks(&store, &config, school, dir, &week).await?;
    let policy = baseline(1.0)?;

    // Friday: the first pass decides Mary's deletion notice to the LA (and nothing else: the
    // family was in all week, Tom is not on roll yet), so every pupil but Mary is certified.
    // The next run evaluates only her, finds the notice on record and certifies her too.
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-05T16:30",
        Pass::Full,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.quiet), (1, 5, 4));
    let stage: String = sqlx::query_scalar(
        "SELECT d.stage FROM decisions d JOIN pupils p ON p.id = d.pupil_id WHERE p.upn = $1",
    )
    .bind(MARY)
    .fetch_one(store.pool())
    .await?;
    assert_eq!(stage, "deletion_notice");
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-05T17:00",
        Pass::Incremental,
    )
    .await?;
    assert_eq!(
        (decided, shape.evaluated, shape.left_out, shape.quiet),
        (0, 1, 4, 1),
        "Mary's notice was decided once"
    );

    // Monday and Tuesday, every register taken: nobody is evaluated. Mary has no marks and
    // Tom only `Z`, and neither brings them back.
    for (day, time) in [
        ("2025-09-08", "2025-09-08T09:45"),
        ("2025-09-09", "2025-09-09T09:45"),
    ] {
        let am = day_marks(day, &["AM"], false);
        marks(&store, &config, school, dir, &am).await?;
        let (decided, shape) =
            pass(&store, &config, school, &policy, time, Pass::Incremental).await?;
        assert_eq!(
            (decided, shape.evaluated, shape.left_out),
            (0, 0, 5),
            "{time}"
        );
        let pm = day_marks(day, &["PM"], false);
        marks(&store, &config, school, dir, &pm).await?;
    }

    // Wednesday, Tom's first day: his certificate ends, and only he is evaluated. Having
    // joined after the first week of the year, he is a new pupil the LA must hear about.
    let am = day_marks("2025-09-10", &["AM"], true);
    marks(&store, &config, school, dir, &am).await?;
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-10T09:45",
        Pass::Incremental,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.left_out), (1, 1, 4));
    let stage: String = sqlx::query_scalar(
        "SELECT d.stage FROM decisions d JOIN pupils p ON p.id = d.pupil_id
         WHERE p.upn = $1",
    )
    .bind(TOM)
    .fetch_one(store.pool())
    .await?;
    assert_eq!(stage, "new_pupil");
    // A full pass at the same moment finds nothing the incremental runs missed.
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-10T09:45",
        Pass::Full,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.left_out), (0, 5, 0));
    Ok(())
}

/// A register the MIS never sent brings a pupil back even when sessions off their roll are
/// credited in advance. Under a school's own ladder without the LA's new-pupil and deletion
/// notices (the deletion notice ends a certificate on the leaving day), Tom joins on
/// Wednesday 10 September after a week of `Z` and Mary leaves on Friday 19 September; they
/// are the whole of group 4T. On Wednesday morning the MIS sends everyone's mark but theirs.
/// A full pass then sees 4T's register not taken and tells the attendance officer; so must
/// the incremental run, which can only if it evaluates them. Tom's certificate ends on his
/// first day. Mary's was left standing: the sessions after her leaving day, still to close,
/// were credited in advance and stood in for the one before it that had no mark.
pub async fn a_register_never_sent_brings_back_a_pupil_joining_or_leaving(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let config = Config::from_toml(CONFIG, "test.toml")?;
    let school = store.ensure_school(config.school(None)?).await?;
    let pupils = format!(
        "{FAMILY_PUPILS}\
         {MARY},Mary,Anning,2018-05-21,3,4T,F,N,N,N,WBRI,N,N,N,N,2021-09-01,2025-09-19\n\
         {TOM},Tom,Kilburn,2018-08-11,3,4T,M,N,N,N,WBRI,N,N,N,N,2025-09-10,\n"
    );
    std::fs::write(dir.join("pupils.csv"), pupils)?;
    std::fs::write(dir.join("contacts.csv"), FAMILY_CONTACTS)?;
    import_pupils(&store, school, &dir.join("pupils.csv")).await?;
    import_contacts(&store, school, &dir.join("contacts.csv")).await?;
    // Everyone in, Tom `Z` until he joins; `group_4t` false leaves Mary and Tom out.
    let day_marks = |day: &str, session: &str, group_4t: bool| {
        let present = if session == "AM" { "/" } else { "\\" };
        let mut rows = String::new();
        for upn in [ADA, ALAN, GRACE] {
            rows.push_str(&format!("{upn},{day},{session},{present}\n"));
        }
        if group_4t {
            rows.push_str(&format!("{MARY},{day},{session},{present}\n"));
            let tom = if day >= "2025-09-10" { present } else { "Z" };
            rows.push_str(&format!("{TOM},{day},{session},{tom}\n"));
        }
        rows
    };
    let mut week = String::new();
    for day in 1..=5 {
        for session in ["AM", "PM"] {
            week.push_str(&day_marks(&format!("2025-09-0{day}"), session, true));
        }
    }
    marks(&store, &config, school, dir, &week).await?;
    let mut policy = baseline(1.0)?;
    policy.stages.retain(|s| {
        !matches!(
            s.trigger,
            Trigger::Admitted { .. } | Trigger::Leaving { .. }
        )
    });

    // Friday: nothing to decide, and all five pupils certified.
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-05T16:30",
        Pass::Full,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.quiet), (0, 5, 5));
    // Monday and Tuesday, every register taken (Tom's `Z`): nobody is evaluated.
    for day in ["2025-09-08", "2025-09-09"] {
        marks(&store, &config, school, dir, &day_marks(day, "AM", true)).await?;
        let (decided, shape) = pass(
            &store,
            &config,
            school,
            &policy,
            &format!("{day}T09:45"),
            Pass::Incremental,
        )
        .await?;
        assert_eq!(
            (decided, shape.evaluated, shape.left_out),
            (0, 0, 5),
            "{day}"
        );
        marks(&store, &config, school, dir, &day_marks(day, "PM", true)).await?;
    }

    // Wednesday: 4T's register never comes.
    marks(
        &store,
        &config,
        school,
        dir,
        &day_marks("2025-09-10", "AM", false),
    )
    .await?;
    let alert = "SELECT COUNT(*) FROM outbox WHERE template = 'alert' AND key LIKE $1";
    let group_alert = "%/2025-09-10/register-not-taken/4T";
    let (_, shape) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-10T09:45",
        Pass::Incremental,
    )
    .await?;
    assert_eq!(
        (shape.evaluated, shape.left_out),
        (2, 3),
        "Mary and Tom have no mark for a closed register"
    );
    let alerts: i64 = sqlx::query_scalar(alert)
        .bind(group_alert)
        .fetch_one(store.pool())
        .await?;
    assert_eq!(
        alerts, 1,
        "the attendance officer hears that 4T's register is not taken"
    );
    // A full pass at the same moment finds nothing the incremental run missed.
    let (decided, _) = pass(
        &store,
        &config,
        school,
        &policy,
        "2025-09-10T09:45",
        Pass::Full,
    )
    .await?;
    assert_eq!(decided, 0);
    let alerts: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE template = 'alert' AND key LIKE '%register-not-taken%'",
    )
    .fetch_one(store.pool())
    .await?;
    assert_eq!(alerts, 1, "one alert, for 4T alone");
    Ok(())
}

/// The roll an incremental pass weighs the guards against (the pupils it leaves out, on roll
/// today, by group) is kept between runs. Walked over two school weeks in which Mary leaves
/// (last day Wednesday 3 September), Tom joins (Wednesday 10 September) and Ada moves group
/// (Monday 8 September): every morning, the count a pass finds kept is the count made afresh,
/// and it is made again only when a pupil's group, admission or leaving changes.
pub async fn the_roll_kept_between_runs_follows_leavers_joiners_and_moves(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    use rollcall::escalation::incremental::load;
    use std::collections::BTreeMap;

    let config = Config::from_toml(CONFIG, "test.toml")?;
    let school_config = config.school(None)?;
    let school = store.ensure_school(school_config).await?;
    let pupils = |ada_group: &str| {
        FAMILY_PUPILS.replace(
            ",3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,\nP207",
            &format!(",3,{ada_group},F,N,N,N,WBRI,N,N,N,N,2021-09-01,\nP207"),
        ) + &format!(
            "{MARY},Mary,Anning,2018-05-21,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,2025-09-03\n\
                 {TOM},Tom,Kilburn,2018-08-11,3,3B,M,N,N,N,WBRI,N,N,N,N,2025-09-10,\n"
        )
    };
    std::fs::write(dir.join("pupils.csv"), pupils("3B"))?;
    std::fs::write(dir.join("contacts.csv"), FAMILY_CONTACTS)?;
    import_pupils(&store, school, &dir.join("pupils.csv")).await?;
    import_contacts(&store, school, &dir.join("contacts.csv")).await?;
    let policy = baseline(1.0)?;
    // (UPN, group from 8 September, first day, last day) as the test knows them.
    let roll = [
        (ADA, "3C", "2021-09-01", "9999-12-31"),
        (ALAN, "2G", "2021-09-01", "9999-12-31"),
        (GRACE, "3B", "2021-09-01", "9999-12-31"),
        (MARY, "3B", "2021-09-01", "2025-09-03"),
        (TOM, "3B", "2025-09-10", "9999-12-31"),
    ];
    let read_left_out = |loaded: &rollcall::escalation::incremental::Loaded| {
        let left = &loaded.register.left_out;
        (left.by_group.clone(), left.off_roll)
    };
    let mut days_with_pupils_left_out = 0;
    for day in DAYS {
        if day == "2025-09-08" {
            std::fs::write(dir.join("pupils.csv"), pupils("3C"))?;
            import_pupils(&store, school, &dir.join("pupils.csv")).await?;
            let kept: Option<String> =
                sqlx::query_scalar("SELECT groups FROM school_roll WHERE school_id = $1")
                    .bind(school.0)
                    .fetch_one(store.pool())
                    .await?;
            assert_eq!(kept, None, "moving Ada forgets the count");
        }
        let mut rows = String::new();
        for (upn, _, first, last) in roll {
            let mark = if day < first { "Z" } else { "/" };
            if day <= last {
                rows.push_str(&format!("{upn},{day},AM,{mark}\n"));
            }
        }
        marks(&store, &config, school, dir, &rows).await?;
        let now =
            rollcall::cli::parse_datetime(&format!("{day}T09:45")).map_err(anyhow::Error::msg)?;
        let kept = load(
            &store,
            school,
            school_config,
            &policy,
            now,
            Pass::Incremental,
        )
        .await?;
        // The same pass with the count forgotten counts afresh; what was kept is put back.
        let (counted_on, groups): (Option<String>, Option<String>) =
            sqlx::query_as("SELECT counted_on, groups FROM school_roll WHERE school_id = $1")
                .bind(school.0)
                .fetch_one(store.pool())
                .await?;
        sqlx::query("UPDATE school_roll SET groups = NULL WHERE school_id = $1")
            .bind(school.0)
            .execute(store.pool())
            .await?;
        let afresh = load(
            &store,
            school,
            school_config,
            &policy,
            now,
            Pass::Incremental,
        )
        .await?;
        sqlx::query("UPDATE school_roll SET counted_on = $1, groups = $2 WHERE school_id = $3")
            .bind(counted_on)
            .bind(groups)
            .bind(school.0)
            .execute(store.pool())
            .await?;
        assert_eq!(read_left_out(&kept), read_left_out(&afresh), "{day}");

        // What the test expects: the pupils not evaluated, on roll today, by group.
        let evaluated: Vec<&str> = kept
            .register
            .pupils
            .iter()
            .map(|p| p.pupil.upn.as_str())
            .collect();
        let mut by_group: BTreeMap<String, u32> = BTreeMap::new();
        let mut off_roll = 0;
        for (upn, group_later, first, last) in roll {
            if evaluated.contains(&upn) {
                continue;
            }
            let group = if upn == ADA && day < "2025-09-08" {
                "3B"
            } else {
                group_later
            };
            if first <= day && day <= last {
                *by_group.entry(group.to_owned()).or_default() += 1;
            } else {
                off_roll += 1;
            }
        }
        if !by_group.is_empty() {
            days_with_pupils_left_out += 1;
        }
        assert_eq!(read_left_out(&kept), (by_group, off_roll), "{day}");

        pass(
            &store,
            &config,
            school,
            &policy,
            &format!("{day}T09:45"),
            Pass::Incremental,
        )
        .await?;
        marks(
            &store,
            &config,
            school,
            dir,
            &rows.replace(",AM,/", ",PM,\\").replace(",AM,Z", ",PM,Z"),
        )
        .await?;
        // Counted on the first morning, and again only after Ada's move: Mary's leaving and
        // Tom's joining were kept with the count.
        let counted_on: Option<String> =
            sqlx::query_scalar("SELECT counted_on FROM school_roll WHERE school_id = $1")
                .bind(school.0)
                .fetch_one(store.pool())
                .await?;
        let expected = if day < "2025-09-08" {
            "2025-09-01"
        } else {
            "2025-09-08"
        };
        assert_eq!(counted_on.as_deref(), Some(expected), "{day}");
    }
    // Certified pupils on roll were left out every day but the first (nobody is certified
    // before a pass) and Ada's move, which forgets her certificate too.
    assert!(
        days_with_pupils_left_out >= 8,
        "{days_with_pupils_left_out}"
    );
    Ok(())
}

/// A late mark or a school trip is, to a policy none of whose triggers counts it, a present
/// mark: the pupil stays left out. Under a policy with a lateness trigger, the late mark brings
/// the pupil back, and the certificates made under it say so to the register writer.
pub async fn a_late_mark_keeps_a_pupil_left_out_only_where_no_trigger_counts_it(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (config, school) = enrol_family(&store, dir).await?;
    // The first week at school; Ada late once, on Thursday morning.
    let mut week = String::new();
    for day in 1..=5 {
        for upn in [ADA, ALAN, GRACE] {
            let am = if upn == ADA && day == 4 { "L" } else { "/" };
            week.push_str(&format!(
                "{upn},2025-09-0{day},AM,{am}\n{upn},2025-09-0{day},PM,\\\n"
            ));
        }
    }
    marks(&store, &config, school, dir, &week).await?;
    let baseline = baseline(1.0)?;
    // The baseline with a lateness stage: the office is told at a pupil's second late session.
    let mut lateness = baseline.clone();
    let mut stage = lateness
        .stages
        .iter()
        .find(|s| s.id == "unresolved_n")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the baseline's unresolved_n stage"))?;
    stage.id = "lateness".into();
    stage.trigger = Trigger::Lateness {
        sessions: 2,
        codes: vec!["L".into(), "U".into()],
        window: rollcall::escalation::policy::Window::YearToDate,
    };
    lateness.stages.push(stage);

    // Under the lateness policy: Friday's full pass finds Ada late once, nothing to do.
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &lateness,
        "2025-09-05T16:30",
        Pass::Full,
    )
    .await?;
    assert_eq!(
        (decided, shape.evaluated, shape.left_out, shape.quiet),
        (0, 3, 0, 3)
    );
    // Monday morning: Ada late again, Alan on a school trip (V), Grace in. Ada's second late
    // session is the lateness stage's: she alone is evaluated and it is decided. Alan's trip
    // is a present mark to this policy too.
    let monday =
        format!("{ADA},2025-09-08,AM,L\n{ALAN},2025-09-08,AM,V\n{GRACE},2025-09-08,AM,/\n");
    marks(&store, &config, school, dir, &monday).await?;
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &lateness,
        "2025-09-08T09:45",
        Pass::Incremental,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.left_out), (1, 1, 2));
    let stage: String = sqlx::query_scalar(
        "SELECT d.stage FROM decisions d JOIN pupils p ON p.id = d.pupil_id WHERE p.upn = $1",
    )
    .bind(ADA)
    .fetch_one(store.pool())
    .await?;
    assert_eq!(stage, "lateness");

    // The school goes back to the baseline, which counts no late mark. Its first run
    // evaluates everyone (another policy: no certificate stands), and finds nothing to do.
    let afternoon =
        format!("{ADA},2025-09-08,PM,\\\n{ALAN},2025-09-08,PM,\\\n{GRACE},2025-09-08,PM,\\\n");
    marks(&store, &config, school, dir, &afternoon).await?;
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &baseline,
        "2025-09-08T16:30",
        Pass::Incremental,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.quiet), (0, 3, 3));
    // Tuesday morning, Ada late and Alan on his trip again: both stay left out, and a full
    // pass at the same moment finds nothing the incremental run missed.
    let tuesday =
        format!("{ADA},2025-09-09,AM,L\n{ALAN},2025-09-09,AM,V\n{GRACE},2025-09-09,AM,/\n");
    marks(&store, &config, school, dir, &tuesday).await?;
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &baseline,
        "2025-09-09T09:45",
        Pass::Incremental,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.left_out), (0, 0, 3));
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &baseline,
        "2025-09-09T09:45",
        Pass::Full,
    )
    .await?;
    assert_eq!((decided, shape.evaluated), (0, 3));
    // Tuesday afternoon in (Alan still on his trip); an absence still brings a pupil back:
    // Wednesday, Ada away (N).
    let wednesday = format!(
        "{ADA},2025-09-09,PM,\\\n{ALAN},2025-09-09,PM,V\n{GRACE},2025-09-09,PM,\\\n\
         {ADA},2025-09-10,AM,N\n{ALAN},2025-09-10,AM,V\n{GRACE},2025-09-10,AM,/\n"
    );
    marks(&store, &config, school, dir, &wednesday).await?;
    let (decided, shape) = pass(
        &store,
        &config,
        school,
        &baseline,
        "2025-09-10T09:45",
        Pass::Incremental,
    )
    .await?;
    assert_eq!((decided, shape.evaluated, shape.left_out), (1, 1, 2));
    Ok(())
}

/// A run records its case openings in statements of many rows (issue 17), while a pupil whose
/// case opens and moves on in the same run has both moves made in the decisions' order, and a
/// decision that waits for a person moves no case. Recording the same run again adds nothing.
pub async fn a_run_opens_cases_together_and_moves_each_in_its_decisions_order(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    use rollcall::escalation::case::CaseState;
    use rollcall::escalation::stage::{Decision, Evaluation, FactsSnapshot};
    let (_, school) = enrol_family(&store, dir).await?;
    let now = rollcall::cli::parse_datetime("2025-09-10T09:45").map_err(anyhow::Error::msg)?;
    let (ada, alan, grace) = family_ids(&store).await?;
    let decision = |pupil_id: i64,
                    stage: &str,
                    from: Option<&str>,
                    to: Option<&str>,
                    requires_approval: bool| Decision {
        pupil_id,
        upn: String::new(),
        stage: stage.to_owned(),
        stage_title: stage.to_owned(),
        trigger: "test",
        anchor: "2025-09-10".to_owned(),
        reason: format!("{stage} for {pupil_id}"),
        requires_approval,
        transition: Some((from.map(str::to_owned), to.map(str::to_owned))),
        case_before: from.map(|stage| CaseState {
            opened_on: now.date(),
            stage: stage.to_owned(),
            stage_entered: now.date(),
        }),
        actions: Vec::new(),
        facts: FactsSnapshot {
            as_of: now,
            year_to_date: None,
        },
        already_recorded: false,
    };
    let evaluation = Evaluation {
        decisions: vec![
            decision(alan, "watch", None, Some("watch"), false),
            decision(ada, "watch", None, Some("watch"), false),
            decision(alan, "meeting", Some("watch"), Some("meeting"), false),
            decision(grace, "letter", None, Some("letter"), true),
        ],
        ..Evaluation::default()
    };
    let summary = rollcall::delivery::outbox::record(&store, school, &evaluation, now).await?;
    assert_eq!(
        (summary.decisions, summary.cases_opened, summary.cases_moved),
        (4, 2, 1)
    );
    let cases: Vec<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT pupil_id, stage, closed_on FROM cases ORDER BY pupil_id")
            .fetch_all(store.pool())
            .await?;
    let mut expected = vec![
        (ada, "watch".to_owned(), None),
        (alan, "meeting".to_owned(), None),
    ];
    expected.sort();
    assert_eq!(cases, expected, "Grace's case waits for a person");
    let transitions: Vec<(i64, i64, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT c.pupil_id, t.case_id, t.from_stage, t.to_stage
         FROM case_transitions t JOIN cases c ON c.id = t.case_id ORDER BY t.id",
    )
    .fetch_all(store.pool())
    .await?;
    let case_of: std::collections::HashMap<i64, i64> =
        sqlx::query_as::<_, (i64, i64)>("SELECT pupil_id, id FROM cases")
            .fetch_all(store.pool())
            .await?
            .into_iter()
            .collect();
    let (alan_case, ada_case) = (case_of[&alan], case_of[&ada]);
    assert_eq!(
        transitions,
        vec![
            (alan, alan_case, None, Some("watch".to_owned())),
            (ada, ada_case, None, Some("watch".to_owned())),
            (
                alan,
                alan_case,
                Some("watch".to_owned()),
                Some("meeting".to_owned())
            ),
        ]
    );
    let again = rollcall::delivery::outbox::record(&store, school, &evaluation, now).await?;
    assert_eq!((again.decisions, again.cases_opened), (0, 0));
    let still: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM case_transitions")
        .fetch_one(store.pool())
        .await?;
    assert_eq!(still, 3);

    // The next day Ada's case closes and a new one opens: the opening waits for the closing
    // (a pupil has one open case at a time).
    let now = rollcall::cli::parse_datetime("2025-09-11T09:45").map_err(anyhow::Error::msg)?;
    let mut closes = decision(ada, "closed", Some("watch"), None, false);
    closes.anchor = "2025-09-11".to_owned();
    let mut reopens = decision(ada, "letter", None, Some("letter"), false);
    reopens.anchor = "2025-09-11".to_owned();
    let evaluation = Evaluation {
        decisions: vec![closes, reopens],
        ..Evaluation::default()
    };
    let summary = rollcall::delivery::outbox::record(&store, school, &evaluation, now).await?;
    assert_eq!((summary.cases_closed, summary.cases_opened), (1, 1));
    let adas: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT stage, closed_on FROM cases WHERE pupil_id = $1 ORDER BY id")
            .bind(ada)
            .fetch_all(store.pool())
            .await?;
    assert_eq!(
        adas,
        vec![
            ("watch".to_owned(), Some("2025-09-11".to_owned())),
            ("letter".to_owned(), None)
        ]
    );
    Ok(())
}

/// A run's decisions and stage memory have no row triggers: `record` forgets the certificates
/// of the pupils it wrote them for itself, in its transaction. Grace's decision waits for a
/// person (no case moves, no message), so only that forgetting can reach her certificate;
/// Alan's stage memory alone reaches his; Ada, with nothing recorded, keeps hers.
pub async fn recording_a_decision_forgets_the_pupils_certificate(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    use rollcall::escalation::case::StageMemory;
    use rollcall::escalation::stage::{Decision, Evaluation, FactsSnapshot};
    let (_, school) = enrol_family(&store, dir).await?;
    let now = rollcall::cli::parse_datetime("2025-09-10T09:45").map_err(anyhow::Error::msg)?;
    let (ada, alan, grace) = family_ids(&store).await?;
    // Each stands certified quiet until the end of the month, at stamp 7.
    sqlx::query("UPDATE pupil_quiet SET stamp = 7, until = '2025-09-30'")
        .execute(store.pool())
        .await?;
    let certificates = || async {
        let rows: Vec<(i64, i64, Option<String>)> =
            sqlx::query_as("SELECT pupil_id, stamp, until FROM pupil_quiet ORDER BY pupil_id")
                .fetch_all(store.pool())
                .await?;
        anyhow::Ok(rows)
    };
    let standing = |pupil: i64| (pupil, 7, Some("2025-09-30".to_owned()));
    let forgotten = |pupil: i64| (pupil, 8, None);
    let evaluation = Evaluation {
        decisions: vec![Decision {
            pupil_id: grace,
            upn: String::new(),
            stage: "letter".to_owned(),
            stage_title: "letter".to_owned(),
            trigger: "test",
            anchor: "2025-09-10".to_owned(),
            reason: "a letter for Grace".to_owned(),
            requires_approval: true,
            transition: None,
            case_before: None,
            actions: Vec::new(),
            facts: FactsSnapshot {
                as_of: now,
                year_to_date: None,
            },
            already_recorded: false,
        }],
        memory: vec![(
            alan,
            "watch".to_owned(),
            StageMemory {
                active_since: Some(now.date()),
            },
        )],
        ..Evaluation::default()
    };
    let summary = rollcall::delivery::outbox::record(&store, school, &evaluation, now).await?;
    assert_eq!(summary.decisions, 1);
    let mut expected = vec![standing(ada), forgotten(alan), forgotten(grace)];
    expected.sort();
    assert_eq!(certificates().await?, expected);

    // Recorded again, Grace's decision is already there: her certificate, written since, stands.
    sqlx::query("UPDATE pupil_quiet SET until = '2025-09-30' WHERE pupil_id = $1")
        .bind(grace)
        .execute(store.pool())
        .await?;
    let again = Evaluation {
        memory: Vec::new(),
        ..evaluation
    };
    let summary = rollcall::delivery::outbox::record(&store, school, &again, now).await?;
    assert_eq!((summary.decisions, summary.already_decided), (0, 1));
    let grace_now: (i64, Option<String>) =
        sqlx::query_as("SELECT stamp, until FROM pupil_quiet WHERE pupil_id = $1")
            .bind(grace)
            .fetch_one(store.pool())
            .await?;
    assert_eq!(grace_now, (8, Some("2025-09-30".to_owned())));
    Ok(())
}
