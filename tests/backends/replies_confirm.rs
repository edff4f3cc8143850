//! Issue 16: parents' replies, on SQLite and PostgreSQL. A small school is walked to its third
//! school day: Ava has been missing without a reason since the first (a first-day text and call
//! each day, and on day three a letter home waiting for approval); her brother Ben, who shares
//! her mother's number, is in school; Cal and Dan (two families, one number: Dan's grandmother is
//! Cal's mother) were both off on day one; Eve is missing this morning. Replies arrive, are
//! matched, and a person confirms them; what each confirmation withdraws is worked out here from
//! the plan: exactly what Ava's explained days caused, and nothing of anyone else's.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use chrono::NaiveDateTime;
use rollcall::config::RepliesConfig;
use rollcall::register::import::import_contacts;
use rollcall::register::store::Store;
use rollcall::reply::confirm::{Confirmation, Refused, confirm};
use rollcall::reply::{Incoming, Provider, Taken, take};
use rollcall::schedule::local_instant;
use sqlx::Row;

use super::walk::{UPNS, Walk, d, pupil, t};

const AVA: usize = 0;
const CAL: usize = 2;
const EVE: usize = 4;

fn incoming(walk: &Walk, id: &str, from: &str, at: NaiveDateTime, body: &str) -> Incoming {
    Incoming {
        provider: Provider::Notify,
        provider_id: id.to_owned(),
        from: from.to_owned(),
        to: "07700900000".to_owned(),
        body: body.to_owned(),
        received_at: local_instant(walk.school.timezone, at),
    }
}

async fn pupil_id(walk: &Walk, n: usize) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT id FROM pupils WHERE school_id = $1 AND upn = $2")
            .bind(walk.school_id.0)
            .bind(UPNS[n])
            .fetch_one(walk.store.pool())
            .await?,
    )
}

async fn acknowledgements(walk: &Walk) -> Result<Vec<(String, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT address, not_before FROM outbox
         WHERE school_id = $1 AND template = 'reply_acknowledgement' ORDER BY id",
    )
    .bind(walk.school_id.0)
    .fetch_all(walk.store.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("address")?, r.try_get("not_before")?)))
        .collect()
}

pub async fn a_confirmed_reply_withdraws_exactly_what_its_absence_caused(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let pupils = [
        pupil(UPNS[0], "3A"),
        pupil(UPNS[1], "3A"),
        pupil(UPNS[2], "3B"),
        pupil(UPNS[3], "3B"),
        pupil(UPNS[4], "3B"),
    ];
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/policies/console.toml"
    );
    let mut walk = Walk::new(
        store,
        dir,
        policy,
        ("09:30", "13:45"),
        &pupils,
        d("2025-09-01"),
    )
    .await?;
    // Ava and Ben: one mother, one number. Cal's mother is also Dan's grandmother.
    let mut contacts = String::from(
        "upn,name,relationship,priority,email,mobile,parental_responsibility,address_line_1,address_line_2,town,postcode\n",
    );
    for (upn, name, relationship, priority, mobile) in [
        (UPNS[0], "Mum Family0", "Mother", 1, "07700 900100"),
        (UPNS[1], "Mum Family0", "Mother", 1, "07700 900100"),
        (UPNS[2], "Mum Family2", "Mother", 1, "07700 900102"),
        (UPNS[3], "Dad Family3", "Father", 1, "07700 900103"),
        (UPNS[3], "Mum Family2", "Grandmother", 2, "07700 900102"),
        (UPNS[4], "Mum Family4", "Mother", 1, "07700 900104"),
    ] {
        contacts.push_str(&format!(
            "{upn},{name},{relationship},{priority},x@family.example,{mobile},Y,1 High Street,,Exampleton,EX1 1AB\n"
        ));
    }
    let file = walk.dir.join("contacts-shared.csv");
    std::fs::write(&file, contacts)?;
    import_contacts(&walk.store, walk.school_id, &file).await?;

    let day1 = walk.school_day(d("2025-09-08"), 0);
    let day3 = walk.school_day(day1, 2);
    let day4 = walk.school_day(day1, 3);
    walk.plan(AVA, day1, day4, |_| Some(["N", "N"]));
    walk.plan(CAL, day1, day1, |_| Some(["N", "N"]));
    walk.plan(3, day1, day1, |_| Some(["N", "N"]));
    walk.plan(EVE, day3, day3, |_| Some(["N", "N"]));
    walk.approver = Box::new(|_, _| None);
    walk.walk_until(day3.and_time(t("09:50"))).await?;

    // What the walk made, from the plan: Ava a first-day text and call on each of three days,
    // and on day three a letter waiting for approval; Eve a text and call this morning.
    let ava_calls = walk
        .messages(AVA, "first_day")
        .await?
        .into_iter()
        .filter(|m| m.channel == "task")
        .collect::<Vec<_>>();
    ensure!(ava_calls.len() == 3, "Ava's calls: {ava_calls:?}");
    let letter = walk.messages(AVA, "day_three").await?;
    ensure!(
        letter.len() == 1 && letter[0].status == "awaiting_approval",
        "Ava's day-three letter waits: {letter:?}"
    );
    let texts_before: Vec<String> = walk
        .messages(AVA, "first_day")
        .await?
        .into_iter()
        .filter(|m| m.channel == "sms")
        .map(|m| m.status)
        .collect();
    ensure!(texts_before.len() == 3, "texts: {texts_before:?}");

    let settings = RepliesConfig {
        enabled: true,
        acknowledge: true,
        ..RepliesConfig::default()
    };
    let schools = walk.runtimes().to_vec();
    let now = walk.now();
    let ava_reply = incoming(
        &walk,
        "r1",
        "447700900100",
        day3.and_time(t("09:52")),
        "Ava has been poorly with a temperature since Monday, sorry",
    );
    let r1 = match take(&walk.store, &schools, &settings, &ava_reply, now).await? {
        Taken::New(id) => id,
        Taken::Known => anyhow::bail!("a new reply was taken as known"),
    };
    // The same message polled again (or by a second daemon) is stored once.
    ensure!(take(&walk.store, &schools, &settings, &ava_reply, now).await? == Taken::Known);
    let shared = incoming(
        &walk,
        "r2",
        "+447700900102",
        day3.and_time(t("09:55")),
        "He was off on Monday with a cold",
    );
    let Taken::New(r2) = take(&walk.store, &schools, &settings, &shared, now).await? else {
        anyhow::bail!("r2 not new");
    };
    let stranger = incoming(
        &walk,
        "r3",
        "07700900999",
        day3.and_time(t("09:58")),
        "Who is this?",
    );
    let Taken::New(r3) = take(&walk.store, &schools, &settings, &stranger, now).await? else {
        anyhow::bail!("r3 not new");
    };

    // What each matched, as the office sees it.
    let school = schools.first().context("the walked school")?;
    let seen =
        rollcall::reply::list::recent(&walk.store, school, day3.and_time(t("10:00")), 7).await?;
    let view = |id: i64| seen.iter().find(|r| r.id == id).context("reply shown");
    let ava_view = view(r1)?;
    ensure!(
        ava_view.status == "one" && ava_view.candidates.len() == 2,
        "Ava's reply matches her absence (Ben is a candidate with none): {ava_view:?}"
    );
    let ava_days = &ava_view
        .candidates
        .iter()
        .find(|c| c.upn == UPNS[AVA])
        .context("Ava a candidate")?
        .absent_days;
    ensure!(ava_days.len() == 3, "three unexplained days: {ava_days:?}");
    ensure!(ava_view.suggested == "illness", "{}", ava_view.suggested);
    let shared_view = view(r2)?;
    ensure!(
        shared_view.status == "several" && shared_view.candidates.len() == 2,
        "the shared number could be about Cal or Dan: {shared_view:?}"
    );
    let stranger_view = view(r3)?;
    ensure!(stranger_view.status == "none" && stranger_view.candidates.is_empty());

    // The thank-you: once to each contact's number (Ava's mother once, however often the
    // reply is polled), none to a number no contact has.
    ensure!(
        acknowledgements(&walk).await?
            == [
                ("+447700900100".to_owned(), None),
                ("+447700900102".to_owned(), None)
            ],
        "{:?}",
        acknowledgements(&walk).await?
    );

    // The office confirms Ava's reply for the three days.
    let ava = pupil_id(&walk, AVA).await?;
    let confirmation = Confirmation {
        reply_id: r1,
        pupil_id: ava,
        from: day1,
        to: day3,
        reason: "illness".into(),
        by: "Jo Officer (Attendance Officer)".into(),
    };
    let done = confirm(
        &walk.store,
        school,
        &confirmation,
        day3.and_time(t("10:00")),
    )
    .await?
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(
        done.sessions == 6 && done.calls_removed == 1 && done.messages_cancelled == 1,
        "six sessions, today's call, the waiting letter: {done:?}"
    );
    // Confirming twice (two people at once) is refused, and so is a pupil the reply is not about.
    let again = confirm(
        &walk.store,
        school,
        &confirmation,
        day3.and_time(t("10:01")),
    )
    .await?;
    ensure!(
        matches!(again, Err(Refused::AlreadyDecided(_))),
        "{again:?}"
    );
    let eve = pupil_id(&walk, EVE).await?;
    let wrong = confirm(
        &walk.store,
        school,
        &Confirmation {
            reply_id: r2,
            pupil_id: eve,
            ..confirmation.clone()
        },
        day3.and_time(t("10:02")),
    )
    .await?;
    ensure!(matches!(wrong, Err(Refused::NotACandidate)), "{wrong:?}");

    // Exactly what Ava's days caused: today's call is off the list, the letter withdrawn with
    // the reply's time; the texts that went stay sent; Eve's call is still on the list.
    let calls = walk.messages(AVA, "first_day").await?;
    let today_call = calls
        .iter()
        .rfind(|m| m.channel == "task")
        .context("today's call")?;
    ensure!(
        today_call
            .cancelled_reason
            .as_deref()
            .is_some_and(|r| r.contains("parent replied at 09:52")),
        "{today_call:?}"
    );
    let earlier_calls = calls
        .iter()
        .filter(|m| m.channel == "task" && m.cancelled_reason.is_none())
        .count();
    ensure!(earlier_calls == 2, "earlier days' lists stay: {calls:?}");
    let letter = walk.messages(AVA, "day_three").await?;
    ensure!(
        letter[0].status == "cancelled"
            && letter[0]
                .cancelled_reason
                .as_deref()
                .is_some_and(|r| r.contains("parent replied at 09:52")),
        "{letter:?}"
    );
    let texts_after: Vec<String> = calls
        .iter()
        .filter(|m| m.channel == "sms")
        .map(|m| m.status.clone())
        .collect();
    ensure!(
        texts_after == texts_before,
        "texts that went stay as they were: {texts_after:?}"
    );
    let eve_call = walk.messages(EVE, "first_day").await?;
    ensure!(
        eve_call
            .iter()
            .any(|m| m.channel == "task" && m.cancelled_reason.is_none()),
        "Eve is still to be rung: {eve_call:?}"
    );

    // The MIS list: Ava's six sessions, code I, until the MIS shows a code.
    let list = rollcall::reply::mis::to_enter(&walk.store, school, day3).await?;
    ensure!(
        list.len() == 6 && list.iter().all(|e| e.code == "I" && e.upn == UPNS[AVA]),
        "{list:?}"
    );
    walk.recode(day3.and_time(t("12:00")), AVA, day1, [Some("I"), Some("I")]);
    walk.walk_until(day3.and_time(t("14:30"))).await?;
    let list = rollcall::reply::mis::to_enter(&walk.store, school, day3).await?;
    ensure!(
        list.len() == 4 && list.iter().all(|e| e.day != day1),
        "day one has its code now: {list:?}"
    );

    // The shared number: the office chooses Cal, day one.
    let cal = pupil_id(&walk, CAL).await?;
    confirm(
        &walk.store,
        school,
        &Confirmation {
            reply_id: r2,
            pupil_id: cal,
            from: day1,
            to: day1,
            reason: "illness".into(),
            by: "Jo Officer (Attendance Officer)".into(),
        },
        day3.and_time(t("14:40")),
    )
    .await?
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    // A reply at night from Eve's mother: its thank-you waits for the end of quiet hours.
    let night = incoming(
        &walk,
        "r4",
        "07700 900104",
        day3.and_time(t("21:30")),
        "Eve has a dentist appointment, back tomorrow",
    );
    take(
        &walk.store,
        &schools,
        &settings,
        &night,
        local_instant(walk.school.timezone, day3.and_time(t("21:30"))),
    )
    .await?;
    let acks = acknowledgements(&walk).await?;
    ensure!(
        acks.len() == 3
            && acks[2].0 == "+447700900104"
            && acks[2].1.as_deref() == Some(format!("{day4}T08:00:00").as_str()),
        "{acks:?}"
    );

    // Day four: Ava is still N and no reply explains it: the first-day contact goes again
    // (the reply is evidence, not a code), and the day-three letter is not made a second time.
    walk.walk_until(day4.and_time(t("10:30"))).await?;
    let days = walk.days_of(AVA, "first_day").await?;
    ensure!(
        days.contains(&day4),
        "first-day contact on day four: {days:?}"
    );
    let letters = walk.messages(AVA, "day_three").await?;
    ensure!(letters.len() == 1, "{letters:?}");
    Ok(())
}
