//! The register store behaves identically on SQLite and PostgreSQL: every test here runs once
//! per backend (the school-year walks of issue 11 included, `backends/school_year.rs`).
//! PostgreSQL tests need `ROLLCALL_TEST_POSTGRES_URL` (a server where the user may
//! create databases); each test gets a fresh database that is dropped afterwards. Without it
//! they are reported as ignored, with one note saying so.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use libtest_mimic::{Arguments, Failed, Trial};
use rollcall::config::Config;
use rollcall::register::import::{MarksImport, import_contacts, import_marks, import_pupils};
use rollcall::register::session::Session;
use rollcall::register::stats::school_stats;
use rollcall::register::store::Store;
use sqlx::Connection;

#[path = "backends/console.rs"]
mod console;
#[path = "backends/delivery.rs"]
mod delivery;
#[path = "backends/faults.rs"]
mod faults;
#[path = "backends/hostile.rs"]
mod hostile;
#[path = "backends/imports.rs"]
mod imports;
#[path = "backends/inbox.rs"]
mod inbox;
#[path = "backends/incremental.rs"]
mod incremental;
use incremental::{
    a_late_mark_keeps_a_pupil_left_out_only_where_no_trigger_counts_it,
    a_pupil_is_left_out_only_while_nothing_about_them_changed,
    a_register_never_sent_brings_back_a_pupil_joining_or_leaving,
    a_run_opens_cases_together_and_moves_each_in_its_decisions_order,
    pupils_off_the_roll_are_left_out_until_their_first_day,
    recording_a_decision_forgets_the_pupils_certificate,
    the_roll_kept_between_runs_follows_leavers_joiners_and_moves,
};
#[path = "backends/messages.rs"]
mod messages;
#[path = "backends/replies.rs"]
mod replies;
#[path = "backends/replies_confirm.rs"]
mod replies_confirm;
#[path = "backends/reports.rs"]
mod reports;
#[path = "backends/school_year.rs"]
mod school_year;
#[path = "backends/stats_direct.rs"]
mod stats_direct;
#[path = "backends/statutory.rs"]
mod statutory;
#[path = "backends/walk.rs"]
mod walk;
use console::{
    a_school_account_signs_in_through_the_identity_provider,
    the_attendance_officer_does_the_morning_in_the_console,
    the_console_refuses_what_a_role_or_a_form_may_not_do,
};
use delivery::{
    a_sender_that_dies_mid_send_never_causes_a_second_text,
    retries_back_off_then_fail_or_go_when_the_server_returns,
    the_schedule_keeps_local_time_across_clock_changes_and_catches_up,
    two_daemons_never_send_one_message_twice,
};
use faults::{
    a_resent_email_is_counted_on_its_message, a_restarted_daemon_takes_its_school_back_at_once,
    alerts_beyond_the_limit_go_as_one_digest, an_alert_outlives_the_outage_it_reports,
    staff_and_la_emails_are_addressed_by_name,
};
use hostile::{
    a_line_feed_in_a_stored_name_does_not_stop_email, an_over_long_text_fails_alone_and_is_not_sent,
};
use imports::{
    a_whole_term_export_with_closures_imports_and_counts_them_nowhere,
    concurrent_imports_lose_no_mark_and_no_amendment,
    hostile_values_are_cleaned_or_refused_with_short_errors,
    the_same_file_twice_at_once_is_recorded_once,
};
use inbox::{
    an_export_still_being_written_is_taken_whole, links_and_pipes_in_the_inbox_are_refused_unread,
    odd_names_are_neither_lost_nor_ignored, the_inbox_is_polled_every_poll_seconds_without_a_job,
};
use messages::a_delivered_letter_is_signed_by_its_stage_and_an_email_quotes_its_approver;
use replies::{
    a_daemon_stopped_mid_walk_reads_on_after_its_restart,
    a_list_that_does_not_move_on_is_not_followed_for_ever, a_refused_notify_key_is_said_plainly,
    a_signed_twilio_reply_is_stored_once_and_a_forged_one_refused,
    a_walk_cut_short_is_walked_again_by_the_next_poll,
    notify_replies_are_read_page_by_page_and_taken_once,
    replies_older_than_notify_keeps_are_reported_lost,
    the_daemon_reads_replies_at_start_and_every_poll_seconds,
    two_polls_at_once_store_each_reply_once,
};
use replies_confirm::a_confirmed_reply_withdraws_exactly_what_its_absence_caused;
use reports::{
    la_returns_list_every_episode_of_the_year_from_a_fresh_import,
    la_returns_show_what_happened_to_each_recorded_return,
    reports_are_queued_once_per_period_and_sent_with_their_files,
    the_governor_report_counts_reviews_people_decided_and_hides_small_counts,
};
use school_year::{
    a_case_closes_only_when_the_improvement_holds, a_case_moves_one_step_a_school_day,
    an_approval_waits_for_its_person_and_moves_the_case_when_given,
    catching_up_climbs_at_once_with_one_letter, penalty_reviews_count_each_session_once,
    persistent_absence_is_decided_once_a_school_year,
    sickness_returns_once_a_year_and_for_each_long_run,
    what_the_school_did_is_judged_after_the_absence_and_illness_is_never_legal,
};
use stats_direct::stats_read_directly_from_sqlite_agree_with_sqlx_pupil_by_pupil;
use statutory::{
    a_part_time_timetable_is_told_to_the_la_and_reviewed,
    a_pupil_gone_from_a_full_export_gets_the_deletion_notice,
    children_missing_education_are_enquired_into_then_told_to_the_la,
    roll_changes_are_told_to_the_la,
};

const PG_ENV: &str = "ROLLCALL_TEST_POSTGRES_URL";

type TestFn = fn(Store, &'static Path) -> Pin<Box<dyn Future<Output = Result<()>> + Send>>;

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), (|store, dir| Box::pin($name(store, dir))) as TestFn)),*]
    };
}

fn main() {
    let args = Arguments::from_args();
    faults::install_thread_log();
    let pg_url = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty());
    if pg_url.is_none() {
        eprintln!(
            "note: PostgreSQL tests skipped; set {PG_ENV}=postgres://postgres@127.0.0.1:5432/test to run them"
        );
    }
    let list: Vec<(&str, TestFn)> = tests![
        import_then_stats_agree_with_hand_counts,
        stats_over_two_years_read_back_in_any_order_agree_pupil_by_pupil,
        a_file_across_two_school_years_keeps_who_recorded_every_mark,
        stats_read_directly_from_sqlite_agree_with_sqlx_pupil_by_pupil,
        reimporting_changes_nothing,
        a_changed_mark_becomes_an_amendment_with_who_and_why,
        a_bad_row_imports_nothing,
        contacts_file_replaces_a_pupils_contacts,
        schools_in_one_database_stay_apart,
        escalating_twice_records_nothing_new,
        siblings_share_one_text_and_a_cause_gone_cancels_it,
        a_person_approves_or_rejects_what_waits,
        a_sender_that_dies_mid_send_never_causes_a_second_text,
        two_daemons_never_send_one_message_twice,
        retries_back_off_then_fail_or_go_when_the_server_returns,
        the_schedule_keeps_local_time_across_clock_changes_and_catches_up,
        reports_are_queued_once_per_period_and_sent_with_their_files,
        an_alert_outlives_the_outage_it_reports,
        alerts_beyond_the_limit_go_as_one_digest,
        a_resent_email_is_counted_on_its_message,
        a_restarted_daemon_takes_its_school_back_at_once,
        staff_and_la_emails_are_addressed_by_name,
        a_delivered_letter_is_signed_by_its_stage_and_an_email_quotes_its_approver,
        concurrent_imports_lose_no_mark_and_no_amendment,
        the_same_file_twice_at_once_is_recorded_once,
        a_whole_term_export_with_closures_imports_and_counts_them_nowhere,
        hostile_values_are_cleaned_or_refused_with_short_errors,
        an_export_still_being_written_is_taken_whole,
        links_and_pipes_in_the_inbox_are_refused_unread,
        odd_names_are_neither_lost_nor_ignored,
        the_inbox_is_polled_every_poll_seconds_without_a_job,
        a_line_feed_in_a_stored_name_does_not_stop_email,
        an_over_long_text_fails_alone_and_is_not_sent,
        la_returns_list_every_episode_of_the_year_from_a_fresh_import,
        la_returns_show_what_happened_to_each_recorded_return,
        the_governor_report_counts_reviews_people_decided_and_hides_small_counts,
        penalty_reviews_count_each_session_once,
        sickness_returns_once_a_year_and_for_each_long_run,
        what_the_school_did_is_judged_after_the_absence_and_illness_is_never_legal,
        an_approval_waits_for_its_person_and_moves_the_case_when_given,
        a_case_moves_one_step_a_school_day,
        catching_up_climbs_at_once_with_one_letter,
        a_case_closes_only_when_the_improvement_holds,
        persistent_absence_is_decided_once_a_school_year,
        the_attendance_officer_does_the_morning_in_the_console,
        the_console_refuses_what_a_role_or_a_form_may_not_do,
        a_school_account_signs_in_through_the_identity_provider,
        children_missing_education_are_enquired_into_then_told_to_the_la,
        a_part_time_timetable_is_told_to_the_la_and_reviewed,
        roll_changes_are_told_to_the_la,
        a_confirmed_reply_withdraws_exactly_what_its_absence_caused,
        notify_replies_are_read_page_by_page_and_taken_once,
        a_walk_cut_short_is_walked_again_by_the_next_poll,
        two_polls_at_once_store_each_reply_once,
        replies_older_than_notify_keeps_are_reported_lost,
        a_refused_notify_key_is_said_plainly,
        a_signed_twilio_reply_is_stored_once_and_a_forged_one_refused,
        the_daemon_reads_replies_at_start_and_every_poll_seconds,
        a_daemon_stopped_mid_walk_reads_on_after_its_restart,
        a_list_that_does_not_move_on_is_not_followed_for_ever,
        a_pupil_gone_from_a_full_export_gets_the_deletion_notice,
        a_pupil_is_left_out_only_while_nothing_about_them_changed,
        pupils_off_the_roll_are_left_out_until_their_first_day,
        a_register_never_sent_brings_back_a_pupil_joining_or_leaving,
        a_late_mark_keeps_a_pupil_left_out_only_where_no_trigger_counts_it,
        a_run_opens_cases_together_and_moves_each_in_its_decisions_order,
        recording_a_decision_forgets_the_pupils_certificate,
        the_roll_kept_between_runs_follows_leavers_joiners_and_moves,
    ];
    let mut trials = Vec::new();
    for (name, test) in list {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            run_sqlite(test)
        }));
        let url = pg_url.clone();
        trials.push(
            Trial::test(format!("postgres::{name}"), move || match url {
                Some(url) => run_postgres(&url, test),
                None => Ok(()),
            })
            .with_ignored_flag(pg_url.is_none()),
        );
    }
    libtest_mimic::run(&args, trials).exit();
}

fn runtime() -> Result<tokio::runtime::Runtime, Failed> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))
}

fn leak_dir() -> Result<(tempfile::TempDir, &'static Path), Failed> {
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    // The test functions take a 'static path; the TempDir guard outlives them and cleans up.
    let path: &'static Path = Box::leak(dir.path().to_path_buf().into_boxed_path());
    Ok((dir, path))
}

fn run_sqlite(test: TestFn) -> Result<(), Failed> {
    let (_guard, dir) = leak_dir()?;
    runtime()?.block_on(async move {
        let url = format!("sqlite://{}", dir.join("rollcall.db").display());
        let store = Store::connect(&url).await.map_err(fail)?;
        test(store, dir).await.map_err(fail)
    })
}

fn run_postgres(admin_url: &str, test: TestFn) -> Result<(), Failed> {
    let (_guard, dir) = leak_dir()?;
    runtime()?.block_on(async move {
        sqlx::any::install_default_drivers();
        let name = format!(
            "rollcall_test_{}_{}",
            std::process::id(),
            dir.file_name().map_or("x".into(), |n| n
                .to_string_lossy()
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), ""))
        );
        let mut admin = sqlx::AnyConnection::connect(admin_url)
            .await
            .map_err(fail)?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .map_err(fail)?;
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
        let result = async {
            let store = Store::connect(&format!("{base}/{name}")).await?;
            let outcome = test(store.clone(), dir).await;
            store.pool().close().await;
            outcome
        }
        .await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .map_err(fail)?;
        result.map_err(fail)
    })
}

fn fail(e: impl std::fmt::Display) -> Failed {
    Failed::from(format!("{e:#}"))
}

fn d(s: &str) -> NaiveDate {
    s.parse().expect("test date")
}

// Autumn 2025 from Mon 1 Sep; half term 27–31 Oct.
pub(crate) const CONFIG: &str = r#"
[school]
id = "north"
name = "North Primary"
urn = "100002"
la_code = "886"
[[calendar.terms]]
name = "Autumn 2025"
start = "2025-09-01"
end = "2025-12-19"
[[calendar.holidays]]
name = "Autumn half term"
start = "2025-10-27"
end = "2025-10-31"
"#;

const PUPILS: &str = "\
upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date
B801200005001,Ada,Lovelace,2018-03-01,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,
P207000016049,Alan,Turing,2018-06-23,3,3G,M,Y,K,N,WBRI,N,Y,N,Y,2021-09-01,
";

// Ada: Mon 1 Sep present; Tue 2 Sep I both; Wed 3 Sep L then \.
// Alan: Mon 1 Sep N both; Tue 2 Sep O AM, G PM; Wed 3 Sep Y4 both (closure).
const MARKS: &str = "\
upn,date,session,mark
B801200005001,2025-09-01,AM,/
B801200005001,2025-09-01,PM,\\
B801200005001,2025-09-02,AM,I
B801200005001,2025-09-02,PM,I
B801200005001,2025-09-03,AM,L
B801200005001,2025-09-03,PM,\\
P207000016049,2025-09-01,AM,N
P207000016049,2025-09-01,PM,N
P207000016049,2025-09-02,AM,O
P207000016049,2025-09-02,PM,G
P207000016049,2025-09-03,AM,Y4
P207000016049,2025-09-03,PM,Y4
";

const CONTACTS: &str = "\
upn,name,relationship,priority,email,mobile,parental_responsibility,address_line_1,address_line_2,town,postcode
B801200005001,Anne Lovelace,Mother,1,anne@example.com,07700 900001,Y,1 Test Street,,Testtown,TT1 1AA
B801200005001,Byron Lovelace,Father,2,,07700900002,Y,1 Test Street,,Testtown,TT1 1AA
P207000016049,Ethel Turing,Mother,1,ethel@example.org,,Y,2 Test Street,,Testtown,TT1 1AB
";

async fn setup(
    store: &Store,
    dir: &Path,
    config: &str,
) -> Result<(Config, rollcall::register::store::SchoolId)> {
    let config = Config::from_toml(config, "test.toml")?;
    let school = store.ensure_school(config.school(None)?).await?;
    std::fs::write(dir.join("pupils.csv"), PUPILS)?;
    std::fs::write(dir.join("marks.csv"), MARKS)?;
    std::fs::write(dir.join("contacts.csv"), CONTACTS)?;
    import_pupils(store, school, &dir.join("pupils.csv")).await?;
    import_contacts(store, school, &dir.join("contacts.csv")).await?;
    let options = MarksImport {
        progress: false,
        ..MarksImport::default()
    };
    let cal = &config.school(None)?.calendar;
    import_marks(store, school, cal, &dir.join("marks.csv"), &options).await?;
    Ok((config, school))
}

async fn import_then_stats_agree_with_hand_counts(store: Store, dir: &'static Path) -> Result<()> {
    let (config, school) = setup(&store, dir, CONFIG).await?;
    let stats = school_stats(
        &store,
        school,
        config.school(None)?,
        d("2025-09-01"),
        d("2025-09-03"),
        None,
    )
    .await?;
    assert_eq!(stats.len(), 2);
    let ada = &stats[0];
    assert_eq!(ada.pupil.pupil.upn.as_str(), "B801200005001");
    // 6 possible: 4 attended (/, \, L, \), 2 authorised (I, I).
    assert_eq!(ada.facts.possible_sessions, 6);
    assert_eq!(ada.facts.attended_sessions, 4);
    assert_eq!(ada.facts.authorised_absence_sessions, 2);
    assert_eq!(ada.facts.illness_sessions, 2);
    assert_eq!(ada.facts.late_sessions, 1);
    assert!(
        ada.facts.persistent_absence() && !ada.facts.severe_absence(),
        "2 of 6 absent"
    );
    let alan = &stats[1];
    // Y4 on the 3rd is not possible: 4 possible, all unauthorised.
    assert_eq!(alan.facts.possible_sessions, 4);
    assert_eq!(alan.facts.unauthorised_absence_sessions, 4);
    assert!(alan.facts.severe_absence());
    // The closure day is skipped: both 1 and 2 Sep are wholly unauthorised.
    assert_eq!(alan.facts.consecutive_unauthorised_days, 2);
    assert_eq!(alan.facts.unauthorised_run_since, Some(d("2025-09-01")));
    assert_eq!(alan.facts.unauthorised_sessions_rolling_10_weeks, 4);
    Ok(())
}

// Summer 2025 (academic year 2024) and autumn 2025 (2025) in one calendar.
const TWO_YEARS: &str = r#"
[school]
id = "north"
name = "North Primary"
urn = "100002"
la_code = "886"
[[calendar.terms]]
name = "Summer 2025"
start = "2025-06-02"
end = "2025-07-18"
[[calendar.terms]]
name = "Autumn 2025"
start = "2025-09-01"
end = "2025-12-19"
[[calendar.holidays]]
name = "Autumn half term"
start = "2025-10-27"
end = "2025-10-31"
"#;

// The last summer days, imported after the autumn file so each pupil's older year is stored
// after everyone's newer one: the rows come back neither grouped nor in year order unless the
// query orders them. Alan is absent (N) from Wed 16 Jul, so his run crosses the summer.
const SUMMER_MARKS: &str = "\
upn,date,session,mark
B801200005001,2025-07-16,AM,/
B801200005001,2025-07-16,PM,/
B801200005001,2025-07-17,AM,I
B801200005001,2025-07-17,PM,I
B801200005001,2025-07-18,AM,N
B801200005001,2025-07-18,PM,/
P207000016049,2025-07-16,AM,N
P207000016049,2025-07-16,PM,N
P207000016049,2025-07-17,AM,N
P207000016049,2025-07-17,PM,N
P207000016049,2025-07-18,AM,N
P207000016049,2025-07-18,PM,N
";

/// The school of `TWO_YEARS`: the autumn's marks from [`setup`], then the summer's before it.
async fn setup_two_years(
    store: &Store,
    dir: &Path,
) -> Result<(Config, rollcall::register::store::SchoolId)> {
    let (config, school) = setup(store, dir, TWO_YEARS).await?;
    std::fs::write(dir.join("summer.csv"), SUMMER_MARKS)?;
    let options = MarksImport {
        progress: false,
        ..MarksImport::default()
    };
    let cal = &config.school(None)?.calendar;
    import_marks(store, school, cal, &dir.join("summer.csv"), &options).await?;
    Ok((config, school))
}

/// `school_stats` streams register years pupil by pupil; with a window over two academic
/// years whose rows were written newest year first, every pupil's facts must still equal
/// those computed from that pupil's years read alone.
async fn stats_over_two_years_read_back_in_any_order_agree_pupil_by_pupil(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    use rollcall::register::facts::{FactsWindow, PupilRegister, pupil_facts};
    let (config, school) = setup_two_years(&store, dir).await?;
    let cal = &config.school(None)?.calendar;
    let (from, as_of) = (d("2025-07-14"), d("2025-09-03"));
    let stats = school_stats(&store, school, config.school(None)?, from, as_of, None).await?;
    assert_eq!(stats.len(), 2);
    let window = FactsWindow::new(cal, from, as_of);
    for s in &stats {
        let rows = store.pupil_register_years(s.pupil.id, 2025).await?;
        let years: Vec<(i32, &[u8])> = rows.iter().map(|r| (r.year, r.marks.as_slice())).collect();
        let register = PupilRegister {
            admission: s.pupil.pupil.admission_date,
            leaving: s.pupil.pupil.leaving_date,
            years: &years,
            loaded_from_year: i32::MIN,
        };
        let alone = pupil_facts(&window, &register).context("facts of a pupil read alone")?;
        assert_eq!(s.facts, alone, "{}", s.pupil.pupil.upn.as_str());
    }
    let (ada, alan) = (&stats[0], &stats[1]);
    // Ada: 6 summer sessions (3 present, 2 I, 1 N) and 6 autumn (4 attended, 2 I).
    assert_eq!(ada.facts.possible_sessions, 12);
    assert_eq!(ada.facts.attended_sessions, 7);
    assert_eq!(ada.facts.illness_sessions, 4);
    assert_eq!(ada.facts.unauthorised_absence_sessions, 1);
    // Alan: N from 16 Jul, then 1–2 Sep unauthorised, 3 Sep a closure: five whole days.
    assert_eq!(alan.facts.possible_sessions, 10);
    assert_eq!(alan.facts.unauthorised_absence_sessions, 10);
    assert_eq!(alan.facts.consecutive_unauthorised_days, 5);
    assert_eq!(alan.facts.unauthorised_run_since, Some(d("2025-07-16")));
    Ok(())
}

/// One file with marks in two academic years (an MIS export from July to September) is
/// written as two register years in the same chunk: each year's new marks are stamped with
/// this file, and each year's earlier marks keep the import that recorded them.
async fn a_file_across_two_school_years_keeps_who_recorded_every_mark(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (config, school) = setup_two_years(&store, dir).await?;
    let cal = &config.school(None)?.calendar;
    std::fs::write(
        dir.join("span.csv"),
        "upn,date,session,mark\n\
         B801200005001,2025-07-15,AM,/\n\
         P207000016049,2025-07-15,AM,N\n\
         B801200005001,2025-09-04,AM,/\n\
         P207000016049,2025-09-04,AM,I\n",
    )?;
    let office = MarksImport {
        by_name: "Jo Bloggs".into(),
        by_role: "Attendance Officer".into(),
        reason: None,
        progress: false,
    };
    let summary = import_marks(&store, school, cal, &dir.join("span.csv"), &office).await?;
    assert_eq!((summary.inserted, summary.amended), (4, 0));
    // (pupil, day, the mark, the file that recorded it, who)
    let expected = [
        (
            "B801200005001",
            "2025-07-15",
            "/",
            "span.csv",
            "Jo Bloggs (Attendance Officer)",
        ),
        (
            "P207000016049",
            "2025-07-15",
            "N",
            "span.csv",
            "Jo Bloggs (Attendance Officer)",
        ),
        (
            "B801200005001",
            "2025-09-04",
            "/",
            "span.csv",
            "Jo Bloggs (Attendance Officer)",
        ),
        (
            "P207000016049",
            "2025-09-04",
            "I",
            "span.csv",
            "Jo Bloggs (Attendance Officer)",
        ),
        (
            "B801200005001",
            "2025-07-16",
            "/",
            "summer.csv",
            "rollcall import (import)",
        ),
        (
            "P207000016049",
            "2025-07-18",
            "N",
            "summer.csv",
            "rollcall import (import)",
        ),
        (
            "B801200005001",
            "2025-09-01",
            "/",
            "marks.csv",
            "rollcall import (import)",
        ),
        (
            "P207000016049",
            "2025-09-02",
            "O",
            "marks.csv",
            "rollcall import (import)",
        ),
    ];
    for (upn, day, code, file, by) in expected {
        let detail = store
            .mark_detail(school, upn, d(day), Session::Am)
            .await?
            .with_context(|| format!("{upn}'s mark on {day}"))?;
        assert_eq!(
            (
                detail.code.as_str(),
                detail.source.as_str(),
                detail.recorded_by.as_str()
            ),
            (code, format!("import {file}").as_str(), by),
            "{upn} on {day} AM"
        );
    }
    Ok(())
}

async fn reimporting_changes_nothing(store: Store, dir: &'static Path) -> Result<()> {
    let (config, school) = setup(&store, dir, CONFIG).await?;
    let cal = &config.school(None)?.calendar;
    let options = MarksImport {
        progress: false,
        ..MarksImport::default()
    };
    let again = import_marks(&store, school, cal, &dir.join("marks.csv"), &options).await?;
    assert_eq!(
        (
            again.rows_read,
            again.unchanged,
            again.inserted,
            again.amended
        ),
        (12, 12, 0, 0)
    );
    assert!(again.changed_nothing());
    let pupils = import_pupils(&store, school, &dir.join("pupils.csv")).await?;
    assert_eq!(
        (pupils.unchanged, pupils.inserted, pupils.amended),
        (2, 0, 0)
    );
    let contacts = import_contacts(&store, school, &dir.join("contacts.csv")).await?;
    assert!(contacts.changed_nothing());
    assert_eq!(contacts.unchanged, 3);
    assert!(store.amendments(school, None).await?.is_empty());
    let sources: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mark_sources")
        .fetch_one(store.pool())
        .await?;
    assert_eq!(
        sources, 1,
        "an import that changed nothing records no source"
    );
    Ok(())
}

async fn a_changed_mark_becomes_an_amendment_with_who_and_why(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (config, school) = setup(&store, dir, CONFIG).await?;
    let cal = &config.school(None)?.calendar;
    let fix = dir.join("fix.csv");
    std::fs::write(
        &fix,
        "upn,date,session,mark\nP207000016049,2025-09-01,AM,I\n",
    )?;
    let options = MarksImport {
        by_name: "Jo Bloggs".into(),
        by_role: "Attendance Officer".into(),
        reason: Some("parent phoned: illness".into()),
        progress: false,
    };
    let summary = import_marks(&store, school, cal, &fix, &options).await?;
    assert_eq!(
        (summary.amended, summary.inserted, summary.unchanged),
        (1, 0, 0)
    );
    let amendments = store.amendments(school, Some("P207000016049")).await?;
    assert_eq!(amendments.len(), 1);
    let a = &amendments[0];
    assert_eq!((a.date.as_str(), a.session.as_str()), ("2025-09-01", "AM"));
    assert_eq!((a.original_code.as_str(), a.new_code.as_str()), ("N", "I"));
    assert_eq!(a.amended_by_name, "Jo Bloggs");
    assert_eq!(a.amended_by_role, "Attendance Officer");
    assert_eq!(a.reason, "parent phoned: illness");

    let detail = store
        .mark_detail(school, "P207000016049", d("2025-09-01"), Session::Am)
        .await?
        .context("the amended mark")?;
    assert_eq!(detail.code, "I");
    assert_eq!(detail.source, "import fix.csv");
    assert_eq!(detail.recorded_by, "Jo Bloggs (Attendance Officer)");
    // The untouched PM session still comes from the first import.
    let pm = store
        .mark_detail(school, "P207000016049", d("2025-09-01"), Session::Pm)
        .await?
        .context("the PM mark")?;
    assert_eq!(
        (pm.code.as_str(), pm.source.as_str()),
        ("N", "import marks.csv")
    );

    // The amendment shows in the figures: one N became I.
    let stats = school_stats(
        &store,
        school,
        config.school(None)?,
        d("2025-09-01"),
        d("2025-09-03"),
        Some("P207000016049"),
    )
    .await?;
    assert_eq!(stats[0].facts.unauthorised_absence_sessions, 3);
    assert_eq!(stats[0].facts.authorised_absence_sessions, 1);
    assert_eq!(
        stats[0].facts.consecutive_unauthorised_days, 1,
        "1 Sep is no longer wholly unauthorised"
    );
    assert_eq!(stats[0].facts.consecutive_absent_days, 2);
    Ok(())
}

async fn a_bad_row_imports_nothing(store: Store, dir: &'static Path) -> Result<()> {
    let config = Config::from_toml(CONFIG, "test.toml")?;
    let school = store.ensure_school(config.school(None)?).await?;
    let bad = PUPILS.to_owned()
        + "C801200005001,Bad,Upn,2018-01-01,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,\n";
    std::fs::write(dir.join("pupils.csv"), bad)?;
    let err = import_pupils(&store, school, &dir.join("pupils.csv"))
        .await
        .expect_err("a bad UPN on line 4");
    let text = format!("{err}");
    assert!(text.contains("pupils.csv:4: upn:"), "{text}");
    assert!(text.contains("check letter should be B"), "{text}");
    assert!(
        store.pupils(school).await?.is_empty(),
        "the good rows were not imported either"
    );
    Ok(())
}

async fn contacts_file_replaces_a_pupils_contacts(store: Store, dir: &'static Path) -> Result<()> {
    let (_config, school) = setup(&store, dir, CONFIG).await?;
    let fewer = "\
upn,name,relationship,priority,email,mobile,parental_responsibility,address_line_1,address_line_2,town,postcode
B801200005001,Anne Lovelace,Mother,1,anne@example.com,+44 7700 900009,Y,1 Test Street,,Testtown,tt1 1aa
";
    std::fs::write(dir.join("fewer.csv"), fewer)?;
    let summary = import_contacts(&store, school, &dir.join("fewer.csv")).await?;
    // Ada's first contact changed mobile, her second is gone; Alan is not in the file.
    assert_eq!(
        (summary.amended, summary.removed, summary.inserted),
        (1, 1, 0)
    );
    let contacts = store.contacts(school).await?;
    let names: Vec<(&str, Option<&str>)> = contacts
        .iter()
        .map(|(_, c)| (c.name.as_str(), c.mobile.as_deref()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("Anne Lovelace", Some("+447700900009")),
            ("Ethel Turing", None)
        ]
    );
    assert_eq!(contacts[0].1.postcode, "TT1 1AA");
    Ok(())
}

async fn schools_in_one_database_stay_apart(store: Store, dir: &'static Path) -> Result<()> {
    let (_config, north) = setup(&store, dir, CONFIG).await?;
    let south_config = Config::from_toml(
        &CONFIG
            .replace("id = \"north\"", "id = \"south\"")
            .replace("100002", "100003"),
        "south.toml",
    )?;
    let south = store.ensure_school(south_config.school(None)?).await?;
    assert_ne!(north, south);
    assert!(store.pupils(south).await?.is_empty());
    import_pupils(&store, south, &dir.join("pupils.csv")).await?;
    // The same UPNs can be on two schools' rolls (dual registration) without clashing.
    assert_eq!(store.pupils(south).await?.len(), 2);
    let stats = school_stats(
        &store,
        south,
        south_config.school(None)?,
        d("2025-09-01"),
        d("2025-09-03"),
        None,
    )
    .await?;
    assert!(
        stats.is_empty(),
        "south has no marks yet: north's marks must not leak"
    );
    Ok(())
}

// ---- Escalation: decisions, cases and the outbox ----

// Two siblings (one mother, one mobile) and a classmate, all present on the first week;
// the siblings are marked N (no reason yet) on the morning of Mon 8 Sep.
pub(crate) const FAMILY_PUPILS: &str = "\
upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date
B801200005001,Ada,Lovelace,2018-03-01,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,
P207000016049,Alan,Lovelace,2019-06-23,2,2G,M,N,N,N,WBRI,N,N,N,N,2021-09-01,
A886200024062,Grace,Hopper,2018-06-23,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,
";

pub(crate) const FAMILY_CONTACTS: &str = "\
upn,name,relationship,priority,email,mobile,parental_responsibility,address_line_1,address_line_2,town,postcode
B801200005001,Anne Lovelace,Mother,1,anne@example.com,07700 900001,Y,1 Test Street,,Testtown,TT1 1AA
P207000016049,Anne Lovelace,Mother,1,anne@example.com,07700900001,Y,1 Test Street,,Testtown,TT1 1AA
A886200024062,Mary Hopper,Mother,1,,07700900003,Y,3 Test Street,,Testtown,TT1 1AC
";

const SIBLINGS: [&str; 2] = ["B801200005001", "P207000016049"];

async fn family(
    store: &Store,
    dir: &Path,
) -> Result<(Config, rollcall::register::store::SchoolId)> {
    let config = Config::from_toml(CONFIG, "test.toml")?;
    let school = store.ensure_school(config.school(None)?).await?;
    std::fs::write(dir.join("pupils.csv"), FAMILY_PUPILS)?;
    std::fs::write(dir.join("contacts.csv"), FAMILY_CONTACTS)?;
    let mut marks = String::from("upn,date,session,mark\n");
    for day in 1..=5 {
        for upn in ["B801200005001", "P207000016049", "A886200024062"] {
            marks.push_str(&format!(
                "{upn},2025-09-0{day},AM,/\n{upn},2025-09-0{day},PM,\\\n"
            ));
        }
    }
    marks.push_str("A886200024062,2025-09-08,AM,/\n");
    for upn in SIBLINGS {
        for day in 8..=10 {
            marks.push_str(&format!("{upn},2025-09-{day:02},AM,N\n"));
        }
    }
    std::fs::write(dir.join("marks.csv"), marks)?;
    import_pupils(store, school, &dir.join("pupils.csv")).await?;
    import_contacts(store, school, &dir.join("contacts.csv")).await?;
    set_marks(store, &config, school, dir, "").await?;
    Ok((config, school))
}

/// Imports marks (`upn,date,session,mark` rows after the header) on top of the fixture's.
async fn set_marks(
    store: &Store,
    config: &Config,
    school: rollcall::register::store::SchoolId,
    dir: &Path,
    rows: &str,
) -> Result<()> {
    let path = dir.join("more-marks.csv");
    let base = std::fs::read_to_string(dir.join("marks.csv"))?;
    let session_of = |line: &str| line.rsplit_once(',').map(|(s, _)| s.to_owned());
    let replaced: Vec<String> = rows.lines().filter_map(session_of).collect();
    let kept: Vec<&str> = base
        .lines()
        .filter(|l| session_of(l).is_none_or(|s| !replaced.contains(&s)))
        .collect();
    std::fs::write(&path, format!("{}\n{rows}", kept.join("\n")))?;
    let options = MarksImport {
        progress: false,
        by_name: "Test".into(),
        by_role: "Office".into(),
        reason: Some("test".into()),
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

pub(crate) fn baseline(mass_send_share: f64) -> Result<rollcall::escalation::policy::Policy> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/policies/dfe-baseline.toml");
    let mut policy =
        rollcall::escalation::policy::load(&path).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    policy.settings.mass_send_share = mass_send_share;
    Ok(policy)
}

async fn escalate(
    store: &Store,
    config: &Config,
    school: rollcall::register::store::SchoolId,
    policy: &rollcall::escalation::policy::Policy,
    now: &str,
) -> Result<rollcall::delivery::outbox::RecordSummary> {
    let now = rollcall::cli::parse_datetime(now).map_err(anyhow::Error::msg)?;
    let school_config = config.school(None)?;
    let register = rollcall::escalation::load(store, school, school_config, now.date()).await?;
    let evaluation = register.evaluate(policy, school_config, now);
    rollcall::delivery::outbox::record(store, school, &evaluation, now).await
}

async fn count(store: &Store, table: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(store.pool())
            .await?,
    )
}

/// Outbox rows as (channel, recipient role, status, number of decisions carried), by id.
async fn outbox(store: &Store) -> Result<Vec<(i64, String, String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT o.id, o.channel, o.recipient_role, o.status,
                (SELECT COUNT(*) FROM outbox_items i WHERE i.outbox_id = o.id) AS items
         FROM outbox o ORDER BY o.id",
    )
    .fetch_all(store.pool())
    .await?;
    use sqlx::Row;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("channel")?,
                r.try_get("recipient_role")?,
                r.try_get("status")?,
                r.try_get("items")?,
            ))
        })
        .collect()
}

async fn escalating_twice_records_nothing_new(store: Store, dir: &'static Path) -> Result<()> {
    let (config, school) = family(&store, dir).await?;
    let policy = baseline(1.0)?;
    let first = escalate(&store, &config, school, &policy, "2025-09-08T09:50").await?;
    // Both siblings: a first-day decision each; one text to their mother, a call task each.
    assert_eq!((first.decisions, first.already_decided), (2, 0));
    assert_eq!((first.queued, first.awaiting_approval), (3, 0));
    let tables = [
        "decisions",
        "outbox",
        "outbox_items",
        "outbox_events",
        "cases",
        "case_transitions",
    ];
    let mut before = Vec::new();
    for t in tables {
        before.push(count(&store, t).await?);
    }
    // The same run again, and a later run that morning: nothing new anywhere.
    for now in ["2025-09-08T09:50", "2025-09-08T10:40"] {
        let again = escalate(&store, &config, school, &policy, now).await?;
        assert_eq!((again.decisions, again.already_decided), (0, 2), "{now}");
        assert_eq!(
            (again.queued, again.awaiting_approval, again.cancelled),
            (0, 0, 0),
            "{now}"
        );
        for (t, n) in tables.iter().zip(&before) {
            assert_eq!(count(&store, t).await?, *n, "{t} after {now}");
        }
    }
    Ok(())
}

async fn siblings_share_one_text_and_a_cause_gone_cancels_it(
    store: Store,
    dir: &'static Path,
) -> Result<()> {
    let (config, school) = family(&store, dir).await?;
    let policy = baseline(1.0)?;
    escalate(&store, &config, school, &policy, "2025-09-08T09:50").await?;
    let rows = outbox(&store).await?;
    let texts: Vec<_> = rows.iter().filter(|r| r.1 == "sms").collect();
    assert_eq!(texts.len(), 1, "one text to the mother of both: {rows:?}");
    assert_eq!(texts[0].4, 2, "carrying both siblings' decisions");
    let text_id = texts[0].0;

    // Ada's absence is explained (I): the text still goes, for Alan only.
    set_marks(
        &store,
        &config,
        school,
        dir,
        &format!("{},2025-09-08,AM,I\n", SIBLINGS[0]),
    )
    .await?;
    let narrowed = escalate(&store, &config, school, &policy, "2025-09-08T10:15").await?;
    assert_eq!(narrowed.cancelled, 1, "Ada's call task is cancelled");
    let (status, events) = rollcall::delivery::outbox::status_of(&store, text_id).await?;
    assert_eq!(status, "queued");
    assert_eq!(events.last().map(|e| e.0.as_str()), Some("narrowed"));

    // Alan arrives late (L): nothing is left to say, so the text is cancelled, with why.
    set_marks(
        &store,
        &config,
        school,
        dir,
        &format!(
            "{},2025-09-08,AM,I\n{},2025-09-08,AM,L\n",
            SIBLINGS[0], SIBLINGS[1]
        ),
    )
    .await?;
    let gone = escalate(&store, &config, school, &policy, "2025-09-08T10:30").await?;
    assert_eq!(gone.cancelled, 2, "the text and Alan's call task");
    let (status, events) = rollcall::delivery::outbox::status_of(&store, text_id).await?;
    assert_eq!(status, "cancelled");
    let last = events.last().expect("events");
    assert!(
        last.2.contains("cause gone") && last.2.contains(SIBLINGS[1]),
        "the reason names the pupil and why: {last:?}"
    );
    Ok(())
}

async fn a_person_approves_or_rejects_what_waits(store: Store, dir: &'static Path) -> Result<()> {
    let (config, school) = family(&store, dir).await?;
    // Two of three pupils' families contacted in one run is over a 20 % brake.
    let policy = baseline(0.2)?;
    let run = escalate(&store, &config, school, &policy, "2025-09-08T09:50").await?;
    assert_eq!(run.awaiting_approval, 1, "the combined text waits");
    assert_eq!(run.queued, 2, "the two call tasks go ahead");
    assert_eq!(run.alerts, 1);
    let waiting = rollcall::delivery::outbox::pending(&store, school).await?;
    assert_eq!(waiting.len(), 1);
    let text = &waiting[0];
    assert!(
        text.hold_reason
            .as_deref()
            .is_some_and(|h| h.contains("mass-send brake"))
    );
    let mut upns: Vec<&str> = text.about.iter().map(|a| a.0.as_str()).collect();
    upns.sort();
    assert_eq!(upns, SIBLINGS);

    let at = |t: &str| rollcall::cli::parse_datetime(t).map_err(anyhow::Error::msg);
    let by = "Jo Bloggs (Attendance Officer)";
    use rollcall::delivery::outbox::{Verdict, decide};
    decide(
        &store,
        school,
        &policy,
        text.id,
        by,
        Verdict::Approve,
        at("2025-09-08T10:00")?,
    )
    .await?;
    let (status, events) = rollcall::delivery::outbox::status_of(&store, text.id).await?;
    assert_eq!(status, "queued");
    assert_eq!(
        events.last().map(|e| (e.0.as_str(), e.1.as_str())),
        Some(("approved", by))
    );
    // Deciding twice is refused and changes nothing.
    let twice = decide(
        &store,
        school,
        &policy,
        text.id,
        by,
        Verdict::Approve,
        at("2025-09-08T10:01")?,
    )
    .await;
    assert!(
        format!("{:#}", twice.expect_err("already queued"))
            .contains("is queued, not awaiting approval")
    );
    assert!(
        rollcall::delivery::outbox::pending(&store, school)
            .await?
            .is_empty()
    );

    // The next morning's text is rejected, with the reason kept.
    set_marks(
        &store,
        &config,
        school,
        dir,
        "A886200024062,2025-09-09,AM,/\n",
    )
    .await?;
    escalate(&store, &config, school, &policy, "2025-09-09T09:50").await?;
    let waiting = rollcall::delivery::outbox::pending(&store, school).await?;
    assert_eq!(waiting.len(), 1);
    let reason = "Mother phoned at 09:40: both at the dentist";
    decide(
        &store,
        school,
        &policy,
        waiting[0].id,
        by,
        Verdict::Reject { reason },
        at("2025-09-09T10:00")?,
    )
    .await?;
    let (status, events) = rollcall::delivery::outbox::status_of(&store, waiting[0].id).await?;
    assert_eq!(status, "cancelled");
    assert_eq!(events.last().map(|e| e.2.as_str()), Some(reason));

    // A first-day text is only right that morning: approving after noon is refused.
    set_marks(
        &store,
        &config,
        school,
        dir,
        "A886200024062,2025-09-10,AM,/\n",
    )
    .await?;
    escalate(&store, &config, school, &policy, "2025-09-10T09:50").await?;
    let waiting = rollcall::delivery::outbox::pending(&store, school).await?;
    let late = decide(
        &store,
        school,
        &policy,
        waiting[0].id,
        by,
        Verdict::Approve,
        at("2025-09-10T12:30")?,
    )
    .await;
    assert!(format!("{:#}", late.expect_err("expired")).contains("expired"));
    // The next run marks it expired; it is no longer pending.
    let later = escalate(&store, &config, school, &policy, "2025-09-10T12:30").await?;
    assert_eq!(later.expired, 1);
    assert_eq!(
        rollcall::delivery::outbox::status_of(&store, waiting[0].id)
            .await?
            .0,
        "expired"
    );
    // What waits now is the new day-three email (third day absent), not the morning's text.
    let still: Vec<i64> = rollcall::delivery::outbox::pending(&store, school)
        .await?
        .iter()
        .map(|w| w.id)
        .collect();
    assert!(!still.contains(&waiting[0].id));
    Ok(())
}
