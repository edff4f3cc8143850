//! Escalation: the school's [`policy`] parsed and checked, where each [`trigger`] is evaluated,
//! what each case does next ([`stage`], [`case`]) and what is held back ([`guard`]), all pure;
//! and, in this file, one escalation pass for a school: load the register, cases and contacts
//! (I/O), hand them to [`stage`], and (when persisting) record the result through
//! [`crate::delivery::outbox::record`].

pub mod case;
pub mod guard;
pub mod incremental;
pub mod policy;
pub mod preview;
pub mod quiet;
pub mod stage;
pub mod trigger;
pub(crate) mod trigger_records;

use std::collections::HashMap;

use anyhow::{Result, anyhow};
use chrono::{NaiveDate, NaiveDateTime};
use sqlx::Row;

use crate::config::{Config, SchoolConfig};
use crate::escalation::case::{EscalationState, PastDecision, StageMemory};
use crate::escalation::policy::{DEFAULT_POLICY, Policy};
use crate::escalation::stage::{
    AwaitingApproval, Context, Evaluation, LeftOut, PupilInput, approval_reminders,
};
use crate::register::facts::{FactsWindow, PupilRegister};
use crate::register::mark::MarkCode;
use crate::register::pupil::Contact;
use crate::register::session::{Calendar, Session, academic_year, academic_year_start};
use crate::register::store::{LeaveOut, PupilYears, SchoolId, Store, StoredPupil};

/// The policy file a school runs.
pub fn policy_file(config: &Config, school: &SchoolConfig) -> std::path::PathBuf {
    let name = school.policy.as_deref().unwrap_or(DEFAULT_POLICY);
    policy::policy_path(name, config.source.as_deref())
}

/// The shipped policies, built in so a bare name works wherever rollcall is run from (an
/// installed daemon has no `config/policies` beside it). A file on disk wins.
const SHIPPED: [(&str, &str); 5] = [
    (
        "dfe-baseline",
        include_str!("../../config/policies/dfe-baseline.toml"),
    ),
    (
        "isp-whitstable",
        include_str!("../../config/policies/isp-whitstable.toml"),
    ),
    (
        "james-marks-academy",
        include_str!("../../config/policies/james-marks-academy.toml"),
    ),
    (
        "russell-street-school",
        include_str!("../../config/policies/russell-street-school.toml"),
    ),
    (
        "inspire-trust",
        include_str!("../../config/policies/inspire-trust.toml"),
    ),
];

/// Reads a policy file, or the built-in copy of a shipped policy named by a bare name.
pub fn read_policy(
    config: &Config,
    school: &SchoolConfig,
) -> Result<Policy, Vec<policy::PolicyError>> {
    let name = school.policy.as_deref().unwrap_or(DEFAULT_POLICY);
    read_named_policy(name, config.source.as_deref())
}

/// Reads the policy a `policy = "…"` line would name (see [`policy::policy_path`]), or the
/// built-in copy of a shipped policy.
pub fn read_named_policy(
    name: &str,
    config_file: Option<&std::path::Path>,
) -> Result<Policy, Vec<policy::PolicyError>> {
    let path = policy::policy_path(name, config_file);
    if !path.exists()
        && let Some((_, text)) = SHIPPED.iter().find(|(n, _)| *n == name)
    {
        return policy::parse(text, &format!("{name} (built in)"));
    }
    policy::load(&path)
}

/// The names of the policies built into rollcall.
pub fn shipped_policies() -> impl Iterator<Item = &'static str> {
    SHIPPED.iter().map(|(name, _)| *name)
}

/// Loads and checks a school's policy; errors are listed one per line.
pub fn load_policy(config: &Config, school: &SchoolConfig) -> Result<Policy> {
    read_policy(config, school).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow!(
            "school \"{}\" runs a policy with {} problem(s):\n{}",
            school.id,
            errors.len(),
            lines.join("\n")
        )
    })
}

/// Everything the engine needs for one school, read from the database.
pub struct SchoolRegister {
    pub pupils: Vec<StoredPupil>,
    years: PupilYears,
    loaded_from_year: HashMap<i64, i32>,
    first_year: i32,
    contacts: HashMap<i64, Vec<Contact>>,
    pub state: EscalationState,
    awaiting: Vec<AwaitingApproval>,
    /// For each pupil, the days from the day loaded on which a letter home goes about them.
    letter_days: HashMap<i64, Vec<NaiveDate>>,
    /// For each pupil, the sessions a confirmed parent's reply explains.
    explained: HashMap<i64, Vec<(NaiveDate, Session)>>,
    /// What the school recorded beside the export, by pupil.
    records: HashMap<i64, crate::register::records::PupilRecords>,
    /// The pupils an incremental pass did not load (their certificates stand).
    pub left_out: LeftOut,
    /// Whether [`SchoolRegister::evaluate`] works out certificates for the pupils it decides
    /// nothing for (a pass that keeps them; see [`incremental`]).
    pub certify: bool,
}

/// For each pupil, the days from `day` on with a letter home going about them (made on that
/// day, or put off to it).
async fn letters_from(
    store: &Store,
    school: SchoolId,
    day: NaiveDate,
) -> Result<HashMap<i64, Vec<NaiveDate>>> {
    let rows = sqlx::query(
        "SELECT DISTINCT d.pupil_id, SUBSTR(COALESCE(o.not_before, o.created_at), 1, 10) AS day
         FROM outbox o
         JOIN outbox_items i ON i.outbox_id = o.id AND i.cancelled_reason IS NULL
         JOIN decisions d ON d.id = i.decision_id
         WHERE o.school_id = $1 AND o.channel = 'letter'
           AND o.recipient_role IN ('contacts', 'parental_responsibility', 'all_contacts')
           AND o.status NOT IN ('cancelled', 'expired', 'failed')
           AND COALESCE(o.not_before, o.created_at) >= $2",
    )
    .bind(school.0)
    // Both times are `YYYY-MM-DDTHH:MM:SS`: one is on or after the day exactly when its first
    // ten characters are, and compared whole, the index `outbox_letter_days` finds them.
    .bind(day.to_string())
    .fetch_all(store.pool())
    .await?;
    let mut out: HashMap<i64, Vec<NaiveDate>> = HashMap::new();
    for row in rows {
        let pupil: i64 = row.try_get("pupil_id")?;
        let text: String = row.try_get("day")?;
        // A date the outbox wrote itself; one it cannot read is no letter day.
        if let Ok(date) = text.parse::<NaiveDate>() {
            out.entry(pupil).or_default().push(date);
        }
    }
    Ok(out)
}

/// The day before which a message must have started waiting for [`approval_reminders`] to be
/// due about it at `as_of`, reminding every `every` school days: it must have waited that many
/// school days after its own. `None` when the calendar holds too few school days for any.
fn reminder_cutoff(calendar: &Calendar, as_of: NaiveDate, every: u32) -> Option<NaiveDate> {
    let days = calendar.school_days();
    let so_far = days.partition_point(|d| *d <= as_of);
    let back = so_far.checked_sub(every.max(1) as usize)?;
    days.get(back).copied()
}

/// Messages waiting for a person's approval since before `before`, oldest first, for
/// reminders. (A school can leave thousands waiting; the ones too new for a reminder are
/// not worth reading at every run.)
async fn awaiting_approval(
    store: &Store,
    school: SchoolId,
    before: NaiveDate,
) -> Result<Vec<AwaitingApproval>> {
    let rows = sqlx::query(
        "SELECT o.id, o.created_at, MIN(d.stage) AS stage, MIN(p.upn) AS upn,
                COUNT(DISTINCT d.pupil_id) AS pupils
         FROM outbox o
         JOIN outbox_items i ON i.outbox_id = o.id AND i.cancelled_reason IS NULL
         JOIN decisions d ON d.id = i.decision_id
         JOIN pupils p ON p.id = d.pupil_id
         WHERE o.school_id = $1 AND o.status = 'awaiting_approval' AND o.requires_approval = 1
           AND o.created_at < $2
         GROUP BY o.id, o.created_at ORDER BY o.id",
    )
    .bind(school.0)
    .bind(before.to_string())
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let created: String = row.try_get("created_at")?;
            let stage: String = row.try_get("stage")?;
            let upn: String = row.try_get("upn")?;
            let pupils: i64 = row.try_get("pupils")?;
            let others = if pupils > 1 {
                format!(" and {} other pupil(s)", pupils - 1)
            } else {
                String::new()
            };
            Ok(AwaitingApproval {
                outbox_id: row.try_get("id")?,
                since: case::parse_time(&created, "a message's creation time")?,
                about: format!("{stage} for {upn}{others}"),
            })
        })
        .collect()
}

pub async fn load(
    store: &Store,
    school: SchoolId,
    config: &SchoolConfig,
    as_of: NaiveDate,
) -> Result<SchoolRegister> {
    load_except(store, school, config, as_of, None, 1).await
}

/// [`load`], less the pupils `quiet` leaves out (an incremental pass: see [`incremental`]).
/// Of the messages waiting for approval it reads only those old enough for a reminder every
/// `reminder_school_days` (the policy's `approval_reminder_school_days`; 1 reads every one a
/// policy could remind about).
pub async fn load_except(
    store: &Store,
    school: SchoolId,
    config: &SchoolConfig,
    as_of: NaiveDate,
    quiet: Option<&LeaveOut>,
    reminder_school_days: u32,
) -> Result<SchoolRegister> {
    let year = academic_year(as_of);
    let year_start = academic_year_start(year);
    let window = FactsWindow::new(&config.calendar, year_start, as_of);
    // Last school year too, for every pupil: its attendance is a fact a policy may use
    // (`previous_year_below`).
    let first_year = window.first_year_needed().min(year - 1);
    // The reads are independent and go together: those made straight from the SQLite file
    // (see `Store::rows_except`) run side by side, each on its own connection, as PostgreSQL's
    // do on the pool's. A full pass at 100,000 pupils loads in 0.8-0.9 s instead of 1.2-1.3 s
    // on two cores; an incremental run's short reads gain little.
    let register = async {
        let (pupils, this_year) = tokio::try_join!(
            store.pupils_except(school, quiet),
            store.register_years_except(school, first_year, year, quiet),
        )?;
        let mut years = PupilYears::default();
        years.add(this_year);
        let loaded_from_year = earlier_years(
            store, school, config, as_of, first_year, &pupils, &mut years,
        )
        .await?;
        anyhow::Ok((pupils, years, loaded_from_year))
    };
    let contacts = async {
        let mut contacts: HashMap<i64, Vec<Contact>> = HashMap::new();
        for (pupil_id, contact) in store.contacts_except(school, quiet).await? {
            contacts.entry(pupil_id).or_default().push(contact);
        }
        anyhow::Ok(contacts)
    };
    let awaiting = async {
        match reminder_cutoff(&config.calendar, as_of, reminder_school_days) {
            Some(before) => awaiting_approval(store, school, before).await,
            None => Ok(Vec::new()),
        }
    };
    let (
        (pupils, years, loaded_from_year),
        contacts,
        state,
        awaiting,
        letter_days,
        explained,
        records,
    ) = tokio::try_join!(
        register,
        contacts,
        case::load_except(store, school, as_of, quiet),
        awaiting,
        letters_from(store, school, as_of),
        crate::reply::confirm::explained_sessions(store, school, as_of),
        crate::register::records::load(store, school),
    )?;
    Ok(SchoolRegister {
        left_out: LeftOut::default(),
        certify: false,
        explained,
        records,
        awaiting,
        letter_days,
        pupils,
        years,
        loaded_from_year,
        first_year,
        contacts,
        state,
    })
}

/// An absence run still going on the first school day of the loaded years may reach back
/// further: those pupils' earlier years are added to `years`, so runs are counted whole.
/// Returns the pupils loaded from further back.
async fn earlier_years(
    store: &Store,
    school: SchoolId,
    config: &SchoolConfig,
    as_of: NaiveDate,
    first_year: i32,
    pupils: &[StoredPupil],
    years: &mut PupilYears,
) -> Result<HashMap<i64, i32>> {
    let mut loaded_from_year = HashMap::new();
    let Some(first_day) = config
        .calendar
        .school_days_between(academic_year_start(first_year), as_of)
        .first()
        .copied()
    else {
        return Ok(loaded_from_year);
    };
    let absent_at_start: Vec<i64> = pupils
        .iter()
        .filter(|p| {
            let slices = years.slices(p.id);
            let register = PupilRegister {
                admission: p.pupil.admission_date,
                leaving: p.pupil.leaving_date,
                years: &slices,
                loaded_from_year: first_year,
            };
            register
                .mark(first_day, Session::Am)
                .and_then(MarkCode::from_byte)
                .and_then(MarkCode::category)
                .is_some_and(|c| c.is_absence())
        })
        .map(|p| p.id)
        .collect();
    if !absent_at_start.is_empty() {
        years.add(
            store
                .earlier_register_years(school, &absent_at_start, first_year)
                .await?,
        );
        for id in absent_at_start {
            loaded_from_year.insert(id, i32::MIN);
        }
    }
    Ok(loaded_from_year)
}

impl SchoolRegister {
    /// Runs the engine over every pupil at `now` (school-local time). Pure: nothing is stored.
    pub fn evaluate(
        &self,
        policy: &Policy,
        school: &SchoolConfig,
        now: NaiveDateTime,
    ) -> Evaluation {
        self.evaluate_in_shares(policy, school, now, stage::PUPILS_PER_THREAD)
    }

    /// [`SchoolRegister::evaluate`] with at least `pupils_per_thread` pupils to a thread (see
    /// [`stage::evaluate_in_shares`]).
    #[doc(hidden)]
    pub fn evaluate_in_shares(
        &self,
        policy: &Policy,
        school: &SchoolConfig,
        now: NaiveDateTime,
        pupils_per_thread: usize,
    ) -> Evaluation {
        let no_memory = HashMap::<String, StageMemory>::new();
        let no_history: Vec<PastDecision> = Vec::new();
        let slices: Vec<Vec<(i32, &[u8])>> = self
            .pupils
            .iter()
            .map(|p| self.years.slices(p.id))
            .collect();
        let inputs: Vec<PupilInput<'_>> = self
            .pupils
            .iter()
            .zip(&slices)
            .map(|(p, years)| PupilInput {
                pupil_id: p.id,
                pupil: &p.pupil,
                register: PupilRegister {
                    admission: p.pupil.admission_date,
                    leaving: p.pupil.leaving_date,
                    years,
                    loaded_from_year: self
                        .loaded_from_year
                        .get(&p.id)
                        .copied()
                        .unwrap_or(self.first_year),
                },
                contacts: self.contacts.get(&p.id).map(Vec::as_slice).unwrap_or(&[]),
                case: self.state.cases.get(&p.id),
                memory: self.state.memory.get(&p.id).unwrap_or(&no_memory),
                history: self.state.history.get(&p.id).unwrap_or(&no_history),
                letter_days: self
                    .letter_days
                    .get(&p.id)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
                explained: self.explained.get(&p.id).map(Vec::as_slice).unwrap_or(&[]),
                records: self
                    .records
                    .get(&p.id)
                    .unwrap_or(&crate::register::records::NO_RECORDS),
            })
            .collect();
        let ctx = Context {
            policy,
            school,
            now,
            previous_pass: self.state.previous_pass,
        };
        let mut evaluation = stage::evaluate_in_shares(
            &ctx,
            &inputs,
            &self.left_out,
            self.certify,
            pupils_per_thread,
        );
        evaluation
            .alerts
            .extend(approval_reminders(&ctx, &self.awaiting));
        evaluation
    }
}

/// The `evaluate --format json` contract: one object per planned action.
#[derive(serde::Serialize)]
struct PlannedLine<'a> {
    upn: &'a str,
    stage: &'a str,
    trigger: &'a str,
    channel: &'a str,
    /// The role or contact (`"contact 1: Anne Lovelace (Mother)"`, `"attendance_officer"`).
    recipient: &'a str,
    recipient_role: &'a str,
    address: Option<&'a str>,
    template: &'a str,
    task: Option<String>,
    requires_approval: bool,
    held: Option<&'a str>,
    not_before: Option<String>,
    expires_at: Option<String>,
    reason: &'a str,
    anchor: &'a str,
    case_from: Option<&'a str>,
    case_to: Option<&'a str>,
}

fn planned_lines(evaluation: &Evaluation) -> impl Iterator<Item = PlannedLine<'_>> {
    evaluation.decisions.iter().flat_map(|d| {
        let (case_from, case_to) = match &d.transition {
            Some((from, to)) => (from.as_deref(), to.as_deref()),
            None => (None, None),
        };
        d.actions.iter().map(move |a| PlannedLine {
            upn: &d.upn,
            stage: &d.stage,
            trigger: d.trigger,
            channel: a.channel.as_str(),
            recipient: &a.recipient,
            recipient_role: a.to.as_str(),
            address: a.address.as_deref(),
            template: &a.template,
            task: a.task.map(|t| format!("{t:?}")),
            requires_approval: a.requires_approval,
            held: a.held.as_deref(),
            not_before: a.not_before.map(|t| t.format("%Y-%m-%dT%H:%M").to_string()),
            expires_at: a.expires_at.map(|t| t.format("%Y-%m-%dT%H:%M").to_string()),
            reason: &d.reason,
            anchor: &d.anchor,
            case_from,
            case_to,
        })
    })
}

pub fn write_json(out: &mut impl std::io::Write, evaluation: &Evaluation) -> Result<()> {
    for line in planned_lines(evaluation) {
        serde_json::to_writer(&mut *out, &line)?;
        writeln!(out)?;
    }
    Ok(())
}

pub fn write_table(out: &mut impl std::io::Write, evaluation: &Evaluation) -> Result<()> {
    let mut count = 0;
    for line in planned_lines(evaluation) {
        count += 1;
        let approval = if line.requires_approval {
            "needs approval"
        } else {
            "automatic"
        };
        writeln!(
            out,
            "{} {} → {} to {} (template {}; {approval}{})\n    {}",
            line.upn,
            line.stage,
            line.channel,
            line.recipient,
            line.template,
            line.held
                .map(|h| format!("; held: {h}"))
                .unwrap_or_default(),
            line.reason
        )?;
    }
    writeln!(
        out,
        "{count} planned action(s) from {} decision(s)",
        evaluation.decisions.len()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::session::DateRange;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    /// A message started waiting on `created` is read for reminders exactly when it has
    /// waited `every` school days after its own day, counted here one by one.
    #[test]
    fn reminders_read_only_messages_old_enough_for_one() {
        // Two school weeks, Monday 10 to Friday 21 November 2025.
        let calendar = Calendar::new(
            vec![DateRange {
                name: "Autumn".into(),
                start: day("2025-11-10"),
                end: day("2025-11-21"),
            }],
            vec![],
        );
        let as_of = day("2025-11-19");
        assert_eq!(
            reminder_cutoff(&calendar, as_of, 3),
            Some(day("2025-11-17"))
        );
        assert_eq!(
            reminder_cutoff(&calendar, as_of, 9),
            None,
            "only 8 school days so far"
        );
        for every in 1..=8 {
            let cutoff = reminder_cutoff(&calendar, as_of, every).expect("cutoff");
            let mut created = day("2025-11-08");
            while created <= as_of {
                let waited = calendar
                    .school_days()
                    .iter()
                    .filter(|d| **d > created && **d <= as_of)
                    .count();
                assert_eq!(
                    created < cutoff,
                    waited >= every as usize,
                    "created {created}, every {every} school days"
                );
                created = created.succ_opt().expect("day");
            }
        }
    }
}
