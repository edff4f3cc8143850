//! Issue 14: what the law asks of every school that no stage did before: children missing
//! education (enquiries from day 15, the LA told on day 20 once a person approves, nothing
//! deleted) and part-time timetables (the LA told when C2 begins, a review every six school
//! weeks). Walked on the real daemon as `school_year.rs` walks the ladders: registers dropped
//! before each close, every scheduled run, a person deciding at the end of each day.

use std::path::Path;

use anyhow::{Result, ensure};
use chrono::{Datelike, NaiveDate};
use rollcall::delivery::outbox::Verdict;
use rollcall::register::import::import_full_pupils;
use rollcall::register::store::Store;
use sqlx::Row;

use super::walk::{UPNS, Walk, d, pupil, t};

/// Pupil 0 (with a social worker) is absent with N every day from 3 November: the enquiry task
/// on the 15th school day, the LA's notice and the social worker's email on the 20th, sent
/// once approved; the pupil stays on the roll. Pupil 1 is off with G from the same day, but the
/// person approving leaves the notice, and the next morning the office recodes the first six
/// days to I: no run of 20 remains, so the notice is withdrawn with the reason.
pub async fn children_missing_education_are_enquired_into_then_told_to_the_la(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let mut first = pupil(UPNS[0], "3A");
    first.social_worker = true;
    let pupils = [first, pupil(UPNS[1], "3A")];
    let mut w = Walk::new(
        store,
        dir,
        "dfe-baseline",
        ("09:30", "13:45"),
        &pupils,
        d("2025-09-01"),
    )
    .await?;
    let end = d("2025-12-19");
    let days = w.school_days(d("2025-11-03"), end);
    w.plan(0, days[0], days[24], |_| Some(["N", "N"]));
    w.plan(1, days[0], days[21], |_| Some(["G", "G"]));
    for day in &days[..6] {
        w.recode(
            days[20].and_time(t("10:30")),
            1,
            *day,
            [Some("I"), Some("I")],
        );
    }
    let upn1 = UPNS[1];
    w.approver = Box::new(move |waiting, _| {
        let leave = waiting
            .about
            .iter()
            .any(|(upn, stage, _)| upn == upn1 && stage == "cme_notice");
        (!leave).then_some(Verdict::Approve)
    });
    w.walk_to(end).await?;

    // The run of school days with every session G/N/O/U reaches 15 on days[14], 20 on days[19].
    ensure!(w.days_of(0, "cme_enquiries").await? == [days[14]]);
    ensure!(w.days_of(0, "cme_notice").await? == [days[19]]);
    let enquiry = w.messages(0, "cme_enquiries").await?;
    ensure!(
        enquiry.len() == 1
            && enquiry[0].channel == "task"
            && enquiry[0].template == "cme_enquiries",
        "{enquiry:?}"
    );
    let notice = w.messages(0, "cme_notice").await?;
    let mut sent: Vec<(&str, &str)> = notice
        .iter()
        .map(|m| (m.template.as_str(), m.status.as_str()))
        .collect();
    sent.sort();
    ensure!(
        sent == [
            ("cme_social_worker", "delivered"),
            ("la_cme_notice", "delivered")
        ],
        "{notice:?}"
    );
    ensure!(
        notice
            .iter()
            .all(|m| m.channel == "email" && m.decided_by.is_some())
    );
    // Nothing deleted the pupil: on the roll with no leaving date.
    let row = sqlx::query("SELECT leaving_date FROM pupils WHERE upn = $1")
        .bind(UPNS[0])
        .fetch_one(w.store.pool())
        .await?;
    let leaving: Option<String> = row.try_get("leaving_date")?;
    ensure!(leaving.is_none(), "{leaving:?}");

    // Pupil 1: decided on days[19], withdrawn at the first run after the recode.
    let rows: Vec<_> = w
        .decisions(1)
        .await?
        .into_iter()
        .filter(|r| r.stage == "cme_notice")
        .collect();
    ensure!(rows.len() == 1 && rows[0].at.date() == days[19], "{rows:?}");
    let withdrawn = rows[0].withdrawn.as_deref().unwrap_or_default();
    ensure!(
        withdrawn.starts_with(&format!("cause gone: re-read at {} 11:00", days[20])),
        "{withdrawn}"
    );
    for m in w.messages(1, "cme_notice").await? {
        ensure!(m.status == "cancelled", "{m:?}");
    }
    Ok(())
}

/// A pupil in every morning and on a part-time timetable (C2) every afternoon from Wednesday 5
/// November: the LA is told that day, once; the first review falls on the first school day of
/// the sixth school week after the week the timetable began, and only one in the autumn term.
pub async fn a_part_time_timetable_is_told_to_the_la_and_reviewed(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let pupils = [pupil(UPNS[2], "3B")];
    let mut w = Walk::new(
        store,
        dir,
        "dfe-baseline",
        ("09:30", "13:45"),
        &pupils,
        d("2025-09-01"),
    )
    .await?;
    let start = d("2025-11-05");
    let end = d("2025-12-19");
    w.plan(0, start, end, |_| Some(["/", "C2"]));
    w.walk_to(end).await?;

    ensure!(w.days_of(0, "part_time_timetable").await? == [start]);
    let told = w.messages(0, "part_time_timetable").await?;
    ensure!(
        told.len() == 1
            && told[0].channel == "email"
            && told[0].template == "la_part_time_notice"
            && told[0].status == "delivered",
        "{told:?}"
    );
    // School weeks from the one C2 began in (Monday 3 November).
    let mut weeks: Vec<NaiveDate> = w
        .school_days(start, end)
        .into_iter()
        .map(|day| day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday())))
        .collect();
    weeks.dedup();
    let sixth = weeks[6];
    let expected = w.school_days(sixth, end)[0];
    ensure!(weeks.len() < 12, "one review this term: {weeks:?}");
    ensure!(w.days_of(0, "part_time_review").await? == [expected]);
    Ok(())
}

/// Roll changes: pupil 0 joins on Wednesday 12 November (the LA hears that day, no approval
/// needed); pupil 1, who has a social worker, leaves on Friday 14 November as the MIS export
/// records: the LA and the social worker hear that day once a person approves and writes the
/// ground and the destination school, nothing more is decided about the pupil after, and the
/// pupil stays in the register with the leaving date (rollcall deletes nobody).
pub async fn roll_changes_are_told_to_the_la(store: Store, dir: &'static Path) -> Result<()> {
    let mut joining = pupil(UPNS[3], "3A");
    joining.admission = "2025-11-12";
    let mut leaving = pupil(UPNS[4], "3A");
    leaving.leaving = "2025-11-14";
    leaving.social_worker = true;
    let mut w = Walk::new(
        store,
        dir,
        "dfe-baseline",
        ("09:30", "13:45"),
        &[joining, leaving],
        d("2025-11-03"),
    )
    .await?;
    let note = "Registered at another school: Oakfield Primary School, from 17 November";
    w.note = Some(note);
    w.walk_to(d("2025-11-21")).await?;

    ensure!(w.days_of(0, "new_pupil").await? == [d("2025-11-12")]);
    let told = w.messages(0, "new_pupil").await?;
    ensure!(
        told.len() == 1
            && told[0].template == "la_new_pupil_notice"
            && told[0].status == "delivered"
            && told[0].decided_by.is_none(),
        "{told:?}"
    );

    let rows = w.decisions(1).await?;
    ensure!(
        rows.iter().all(|r| r.at.date() <= d("2025-11-14")),
        "nothing after the pupil left: {rows:?}"
    );
    ensure!(w.days_of(1, "deletion_notice").await? == [d("2025-11-14")]);
    let sent = w.messages(1, "deletion_notice").await?;
    let mut got: Vec<(&str, &str)> = sent
        .iter()
        .map(|m| (m.template.as_str(), m.status.as_str()))
        .collect();
    got.sort();
    ensure!(
        got == [
            ("deletion_social_worker", "delivered"),
            ("la_deletion_notice", "delivered")
        ],
        "{sent:?}"
    );
    for m in &sent {
        let kept: Option<String> = sqlx::query("SELECT decision_note FROM outbox WHERE id = $1")
            .bind(m.id)
            .fetch_one(w.store.pool())
            .await?
            .try_get("decision_note")?;
        ensure!(kept.as_deref() == Some(note), "{m:?}: {kept:?}");
    }
    let row = sqlx::query("SELECT leaving_date FROM pupils WHERE upn = $1")
        .bind(UPNS[4])
        .fetch_one(w.store.pool())
        .await?;
    let left: Option<String> = row.try_get("leaving_date")?;
    ensure!(left.as_deref() == Some("2025-11-14"), "{left:?}");
    Ok(())
}

/// A pupil who drops out of a full MIS export with no leaving date (issue 14): the MIS stops
/// listing pupil 1 (who has a social worker). A partial export on Monday 10 November that lists
/// only pupil 0 changes nothing; the full export (`pupils-full*.csv` in the inbox) taken late
/// on Wednesday 12 November lists pupils 0 and 2: pupil 1's deletion notice is decided at the
/// first run on Thursday 13 November and waits for a person, who writes the ground and the
/// destination; nothing deletes the pupil or sets a leaving date. A later full export that
/// lists pupil 1 again clears the record.
pub async fn a_pupil_gone_from_a_full_export_gets_the_deletion_notice(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let mut gone = pupil(UPNS[6], "3A");
    gone.social_worker = true;
    let pupils = [pupil(UPNS[5], "3A"), gone, pupil(UPNS[7], "3A")];
    let mut w = Walk::new(
        store,
        dir,
        "dfe-baseline",
        ("09:30", "13:45"),
        &pupils,
        d("2025-11-03"),
    )
    .await?;
    let note = "Moved away: Oakfield Primary School, from 12 November";
    w.note = Some(note);
    // The walk's own pupils file, line by line (header, then one line per pupil in order).
    let all = std::fs::read_to_string(w.dir.join("pupils.csv"))?;
    let lines: Vec<&str> = all.lines().collect();
    ensure!(lines.len() == 4, "{lines:?}");
    let export = |name: &str, keep: &[usize]| -> Result<std::path::PathBuf> {
        let mut text = format!("{}\n", lines[0]);
        for i in keep {
            text.push_str(lines[i + 1]);
            text.push('\n');
        }
        let path = w.dir.join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    };
    let partial = export("pupils-partial.csv", &[0])?;
    let full = export("pupils-full-1.csv", &[0, 2])?;
    let again = export("pupils-full-2.csv", &[0, 1, 2])?;

    // Both exports reach rollcall through the inbox, as an MIS connector hands them over
    // (written, then a `.done` marker): the name says which is full.
    let inbox = w.dir.join("inbox");
    let drop = |from: &Path, name: &str| -> Result<()> {
        std::fs::copy(from, inbox.join(name))?;
        std::fs::write(inbox.join(format!("{name}.done")), "")?;
        Ok(())
    };
    let missing = |store: Store| async move {
        let rows = sqlx::query("SELECT first_missing_on FROM export_missing")
            .fetch_all(store.pool())
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("first_missing_on"))
            .collect::<std::result::Result<Vec<String>, _>>()
    };
    w.walk_to(d("2025-11-09")).await?;
    drop(&partial, "pupils-2025-11-10.csv")?;
    w.walk_to(d("2025-11-12")).await?;
    ensure!(
        inbox.join("done").join("pupils-2025-11-10.csv").exists()
            || !inbox.join("pupils-2025-11-10.csv").exists(),
        "the partial export was taken"
    );
    ensure!(
        missing(w.store.clone()).await?.is_empty(),
        "a partial export marks nobody"
    );
    // Dropped just before midnight on the 12th: the daemon takes it at its next look, still
    // the 12th at the school, and the deletion notice comes at the first run on the 13th.
    drop(&full, "pupils-full-2025-11-12.csv")?;
    w.walk_to(d("2025-11-21")).await?;
    ensure!(missing(w.store.clone()).await? == ["2025-11-12"]);

    ensure!(w.days_of(1, "deletion_notice").await? == [d("2025-11-13")]);
    ensure!(w.days_of(0, "deletion_notice").await?.is_empty());
    ensure!(w.days_of(2, "deletion_notice").await?.is_empty());
    let rows: Vec<_> = w
        .decisions(1)
        .await?
        .into_iter()
        .filter(|r| r.stage == "deletion_notice")
        .collect();
    ensure!(
        rows.len() == 1
            && rows[0]
                .reason
                .starts_with("the full MIS export of 2025-11-12 no longer lists the pupil"),
        "{rows:?}"
    );
    let sent = w.messages(1, "deletion_notice").await?;
    let mut got: Vec<(&str, &str, bool)> = sent
        .iter()
        .map(|m| {
            (
                m.template.as_str(),
                m.status.as_str(),
                m.decided_by.is_some(),
            )
        })
        .collect();
    got.sort();
    ensure!(
        got == [
            ("deletion_social_worker", "delivered", true),
            ("la_deletion_notice", "delivered", true)
        ],
        "{sent:?}"
    );
    // Nothing deleted, no leaving date made up.
    let row = sqlx::query("SELECT leaving_date FROM pupils WHERE upn = $1")
        .bind(UPNS[6])
        .fetch_one(w.store.pool())
        .await?;
    let left: Option<String> = row.try_get("leaving_date")?;
    ensure!(left.is_none(), "{left:?}");

    let summary = import_full_pupils(&w.store, w.school_id, &again, d("2025-11-24")).await?;
    ensure!(summary.missing_from_export == 0, "{summary:?}");
    let missing: i64 = sqlx::query("SELECT COUNT(*) AS n FROM export_missing")
        .fetch_one(w.store.pool())
        .await?
        .try_get("n")?;
    ensure!(missing == 0, "{missing}");
    Ok(())
}
