//! The incremental pass (issue 17): a run evaluates only the pupils something can have changed
//! for, and leaves out the rest.
//!
//! Every pass, full or incremental, ends by writing each evaluated pupil's certificate (see
//! [`super::quiet`]) to `pupil_quiet`: until when nothing can fire for them while the register
//! gains only plain present marks (and the attended marks the policy reads as present). The next incremental pass leaves a pupil out while that
//! certificate was made under the same policy, calendar and rollcall ([`basis`]), still runs,
//! and the register has a mark for every session closed by then. Everything else that changes a
//! pupil's inputs forgets the certificate in the database itself (triggers in the migration
//! `quiet_pupils`, and the register writer), so a restarted daemon, or a second one on the same
//! database, leaves out exactly the same pupils. `rollcall escalate --full` evaluates everyone.

use std::collections::HashMap;

use anyhow::{Context as _, Result};
use chrono::{NaiveDate, NaiveDateTime};
use sqlx::{AssertSqlSafe, Row as _};

use crate::config::SchoolConfig;
use crate::escalation::policy::Policy;
use crate::escalation::quiet::{KeptMarks, closed_sessions};
use crate::escalation::stage::{Context, Evaluation, LeftOut, on_roll};
use crate::escalation::{SchoolRegister, load_except};
use crate::register::session::academic_year;
use crate::register::store::{
    Backend, LITERAL_ROWS, LeaveOut, SchoolId, Store, StoredPupil, integer_list, lists_evaluated,
};

/// Raise when the engine changes what it decides, so certificates made by an older rollcall
/// are not trusted by a newer one (the crate version does the same at each release).
const QUIET_RULES: u32 = 3;

/// What a certificate was made under: the policy, the school's calendar and settings, and the
/// engine's version. A certificate of another basis is not trusted.
///
/// Where the files are is left out: the policy's own path, and the school's template, inbox
/// and national-figures folders, which the engine does not decide with. They are resolved
/// against the config file's path as it was given, so with them the daemon (`--config
/// /etc/rollcall/rollcall.toml`) and an officer's `rollcall escalate` in that folder (the
/// config named `rollcall.toml`) distrusted each other's certificates, and every run after
/// the other's evaluated the whole school again.
pub fn basis(policy: &Policy, school: &SchoolConfig) -> i64 {
    let mut policy = policy.clone();
    policy.source = std::path::PathBuf::new();
    let mut school = school.clone();
    school.templates = None;
    school.inbox = None;
    school.reports.national_figures = None;
    let text = format!(
        "{QUIET_RULES}|{}|{policy:?}|{school:?}",
        env!("CARGO_PKG_VERSION")
    );
    // Eight bytes of the digest, stored as a number in every certificate row: a chance
    // agreement of two bases is 1 in 2^64.
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    i64::from_be_bytes(first)
}

/// Whether a pass evaluates everyone or leaves out the pupils whose certificates stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Full,
    Incremental,
}

/// A school's register loaded for one pass, with what is needed to write the certificates
/// afterwards.
pub struct Loaded {
    pub register: SchoolRegister,
    basis: i64,
    /// The policy's [`KeptMarks`], written with each certificate for the register writer.
    keeps: i64,
    /// The certificate stamp of each evaluated pupil, read before their inputs were.
    stamps: HashMap<i64, i64>,
}

impl Loaded {
    /// How many pupils the pass evaluates, and how many it leaves out.
    pub fn shape(&self) -> (usize, u32) {
        let left_out = &self.register.left_out;
        (
            self.register.pupils.len(),
            left_out.pupils() + left_out.off_roll,
        )
    }
}

/// Loads what a pass at `now` evaluates.
pub async fn load(
    store: &Store,
    school: SchoolId,
    config: &SchoolConfig,
    policy: &Policy,
    now: NaiveDateTime,
    pass: Pass,
) -> Result<Loaded> {
    let basis = basis(policy, config);
    let ctx = Context {
        policy,
        school: config,
        now,
        previous_pass: None,
    };
    let (closed, last_closed) = closed_sessions(&ctx);
    let mut leave = (pass == Pass::Incremental).then(|| LeaveOut {
        basis,
        today: now.date().to_string(),
        year: i64::from(academic_year(now.date())),
        closed,
        last_closed,
        evaluated: None,
        backend: store.backend(),
    });
    // The certificates and the roll are read in one snapshot, so that every pupil is counted
    // once: either evaluated or left out. Every pupil has a row from the moment it is made
    // (the trigger of the migration `quiet_rows`), so a pupil without a certificate is found
    // here, never missed.
    let mut tx = store.pool().begin().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    let stamps = uncertified_stamps(&mut tx, store.backend(), school, leave.as_ref()).await?;
    let mut roll = Roll::new();
    let mut counted = None;
    if let Some(leave) = &mut leave {
        (roll, counted) = roll_today(&mut tx, school, now.date()).await?;
        // The rest of the pass reads the pupils just found uncertified. A pupil whose
        // certificate is forgotten from now on waits for the next run, as if this one had
        // started a moment earlier.
        let roll_size = roll.values().map(|&(pupils, _)| pupils).sum::<i64>();
        if lists_evaluated(stamps.len(), usize::try_from(roll_size).unwrap_or(0)) {
            let mut ids: Vec<i64> = stamps.keys().copied().collect();
            ids.sort_unstable();
            leave.evaluated = Some(ids);
        }
    }
    tx.commit().await?;
    // The count is worth keeping, not worth failing a pass for (a busy database, say): the
    // next pass counts again.
    if let Some(counted) = counted
        && let Err(e) = counted.keep(store, school).await
    {
        tracing::warn!("could not keep the roll's count for the next pass: {e:#}");
    }
    let mut register = load_except(
        store,
        school,
        config,
        now.date(),
        leave.as_ref(),
        policy.settings.approval_reminder_school_days,
    )
    .await?;
    if leave.is_some() {
        register.left_out = left_out(roll, &register.pupils, now.date());
    }
    Ok(Loaded {
        register,
        basis,
        keeps: KeptMarks::of(policy).bits(),
        stamps,
    })
}

/// The stamp of each pupil `leave` does not leave out (every pupil without it), read in the
/// pass's snapshot.
async fn uncertified_stamps(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    school: SchoolId,
    leave: Option<&LeaveOut>,
) -> Result<HashMap<i64, i64>> {
    let condition = if leave.is_some() {
        LeaveOut::uncertified_here(2)
    } else {
        String::new()
    };
    // On SQLite the pairs come back as one text: sqlx hands each row from its database thread
    // to the pass's own, a wake-up each, and the 3,733 rows of the 09:45 run at 100,000 pupils
    // took longer to hand over than to find (23-28 -> 12-16 ms in the statement log).
    let sql = match backend {
        Backend::Sqlite => format!(
            "SELECT group_concat(pupil_id || ' ' || stamp, ' ') FROM pupil_quiet
             WHERE school_id = $1{condition}"
        ),
        Backend::Postgres => {
            format!("SELECT pupil_id, stamp FROM pupil_quiet WHERE school_id = $1{condition}")
        }
    };
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(school.0);
    if let Some(leave) = leave {
        query = leave.bind_certificate(query);
    }
    let mut stamps = HashMap::new();
    match backend {
        Backend::Sqlite => {
            let pairs: Option<String> = query.fetch_one(&mut **tx).await?.try_get(0)?;
            let mut numbers = pairs
                .as_deref()
                .unwrap_or("")
                .split_ascii_whitespace()
                .map(str::parse::<i64>);
            while let Some(pupil) = numbers.next() {
                let stamp = numbers.next().context("a certificate without its stamp")?;
                stamps.insert(
                    pupil.context("a certificate's pupil is not a row id")?,
                    stamp.context("a certificate's stamp is not a number")?,
                );
            }
        }
        Backend::Postgres => {
            for row in query.fetch_all(&mut **tx).await? {
                stamps.insert(row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?);
            }
        }
    }
    Ok(stamps)
}

/// The school's pupils by registration group: how many, and how many are on roll today.
type Roll = HashMap<String, (i64, i64)>;

/// The roll by group on `today`, read in the pass's snapshot: from the count an earlier pass
/// kept in `school_roll` while no pupil has joined, left or moved group since (migration
/// `roll_kept`), else counted from the index `pupils_school_roll` alone, with the count to
/// keep.
async fn roll_today(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    school: SchoolId,
    today: NaiveDate,
) -> Result<(Roll, Option<KeptRoll>)> {
    let row = sqlx::query("SELECT stamp, counted_on, groups FROM school_roll WHERE school_id = $1")
        .bind(school.0)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else {
        return Ok((count_roll(tx, school, today).await?.0, None));
    };
    let stamp: i64 = row.try_get(0)?;
    let counted_on: Option<String> = row.try_get(1)?;
    let groups: Option<String> = row.try_get(2)?;
    let counted_on = counted_on.and_then(|c| c.parse::<NaiveDate>().ok());
    // Written by `KeptRoll::keep` alone; one that does not read back is counted again.
    let kept = groups.and_then(|g| serde_json::from_str::<KeptRoll>(&g).ok());
    if let (Some(kept), Some(counted_on)) = (kept, counted_on)
        && counted_on <= today
    {
        return Ok((kept.on(today), None));
    }
    let (groups, changes) = count_roll(tx, school, today).await?;
    let kept = changes.map(|changes| KeptRoll {
        stamp,
        counted_on: today,
        groups: groups.clone(),
        changes,
    });
    Ok((groups, kept))
}

/// The roll counted on one day, and every admission and leaving after it, so that it gives
/// the roll of any later day until a pupil joins, leaves or moves group.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct KeptRoll {
    /// The `school_roll` stamp the count was made under.
    #[serde(skip)]
    stamp: i64,
    /// Written to its own column, where a pass reads it.
    #[serde(skip)]
    counted_on: NaiveDate,
    groups: Roll,
    changes: Vec<RollChange>,
}

/// (day, group, change): from that day, the group has so many more pupils on roll.
type RollChange = (NaiveDate, String, i64);

/// Counts the roll by group on `day`, from the index `pupils_school_roll` alone, and lists
/// the admissions and leavings after it (`None` if a date does not read as one).
async fn count_roll(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    school: SchoolId,
    day: NaiveDate,
) -> Result<(Roll, Option<Vec<RollChange>>)> {
    let day_text = day.to_string();
    let rows = sqlx::query(
        "SELECT reg_group, COUNT(*),
                SUM(CASE WHEN admission_date <= $2
                         AND (leaving_date IS NULL OR leaving_date >= $2)
                    THEN 1 ELSE 0 END)
         FROM pupils WHERE school_id = $1 GROUP BY reg_group",
    )
    .bind(school.0)
    .bind(day_text.as_str())
    .fetch_all(&mut **tx)
    .await?;
    let mut groups = Roll::new();
    for row in rows {
        groups.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
    }
    // A pupil is on roll from the admission day to the leaving day, both included.
    let rows = sqlx::query(
        "SELECT reg_group, admission_date, leaving_date FROM pupils
         WHERE school_id = $1 AND (admission_date > $2 OR leaving_date >= $2)",
    )
    .bind(school.0)
    .bind(day_text.as_str())
    .fetch_all(&mut **tx)
    .await?;
    let mut changes = Vec::new();
    for row in rows {
        let group: String = row.try_get(0)?;
        let admission: String = row.try_get(1)?;
        let leaving: Option<String> = row.try_get(2)?;
        // Dates the import checked; should one not read, the count is not kept and each
        // pass counts again.
        let (Ok(admission), Ok(leaving)) = (
            admission.parse::<NaiveDate>(),
            leaving.map(|l| l.parse::<NaiveDate>()).transpose(),
        ) else {
            return Ok((groups, None));
        };
        if leaving.is_some_and(|l| l < admission) {
            continue;
        }
        if admission > day {
            changes.push((admission, group.clone(), 1));
        }
        if let Some(gone) = leaving.filter(|l| *l >= day).and_then(|l| l.succ_opt()) {
            changes.push((gone, group, -1));
        }
    }
    Ok((groups, Some(changes)))
}

impl KeptRoll {
    /// The roll on `day`, on or after the day counted.
    fn on(&self, day: NaiveDate) -> Roll {
        let mut roll = self.groups.clone();
        for (from, group, change) in &self.changes {
            if *from <= day
                && let Some((_, on)) = roll.get_mut(group)
            {
                *on += change;
            }
        }
        roll
    }

    /// Keeps the count unless the roll changed since it was read (the stamp moved): the next
    /// pass then counts again.
    async fn keep(&self, store: &Store, school: SchoolId) -> Result<()> {
        sqlx::query(
            "UPDATE school_roll SET counted_on = $1, groups = $2
             WHERE school_id = $3 AND stamp = $4",
        )
        .bind(self.counted_on.to_string())
        .bind(serde_json::to_string(self)?)
        .bind(school.0)
        .bind(self.stamp)
        .execute(store.pool())
        .await?;
        Ok(())
    }
}

/// The pupils of `roll` that a pass leaves out: all but those it `evaluated`. The guards
/// count the ones on roll by group; the others are counted for the display.
fn left_out(mut roll: Roll, evaluated: &[StoredPupil], today: NaiveDate) -> LeftOut {
    for p in evaluated {
        if let Some((all, on)) = roll.get_mut(&p.pupil.reg_group) {
            *all -= 1;
            if on_roll(&p.pupil, today) {
                *on -= 1;
            }
        }
    }
    // A pupil imported between the reads can leave a count a little off; never below none.
    let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    let mut left_out = LeftOut::default();
    for (group, (all, on)) in roll {
        left_out.off_roll += count(all - on);
        if on > 0 {
            left_out.by_group.insert(group, count(on));
        }
    }
    left_out
}

/// Writes the certificates of the pupils `evaluation` evaluated, in the transaction that
/// recorded its decisions, after them: a pupil changed since the pass read them (their stamp
/// moved, by another writer or by the recording itself) gets none. Returns how many pupils are
/// now certified quiet.
///
/// One commit for both: the recording forgets its pupils' certificates and this rewrites the
/// certificates of every pupil evaluated, and at 100,000 pupils the rows of both fall on the
/// same pages (3,733 evaluated pupils touch 1,077 of the table's pages); two commits logged
/// 401 of those pages twice, which the checkpoint then syncs.
pub async fn remember(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    loaded: &Loaded,
    evaluation: &Evaluation,
) -> Result<usize> {
    let quiet: HashMap<i64, _> = evaluation.quiet.iter().copied().collect();
    let mut certified: Vec<(i64, i64, NaiveDate, i64, i64, i64)> = Vec::new();
    let mut cleared: Vec<i64> = Vec::new();
    for pupil in &loaded.register.pupils {
        let Some(&stamp) = loaded.stamps.get(&pupil.id) else {
            continue;
        };
        match quiet.get(&pupil.id) {
            Some(c) => certified.push((
                pupil.id,
                stamp,
                c.until,
                i64::from(c.year),
                c.credit,
                c.last_slot,
            )),
            None => cleared.push(pupil.id),
        }
    }
    // The values are written into the SQL as literals: integers, and dates this function
    // formats. SQLite looks up each `$n` placeholder of a statement among the ones before it,
    // so thousands of them cost more than the statement's work (see `integer_list`).
    for chunk in cleared.chunks(LITERAL_ROWS) {
        let sql = format!(
            "UPDATE pupil_quiet SET until = NULL WHERE pupil_id IN ({})",
            integer_list(chunk)
        );
        sqlx::query(AssertSqlSafe(sql)).execute(&mut **tx).await?;
    }
    let mut written = 0;
    for chunk in certified.chunks(LITERAL_ROWS) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|(pupil, stamp, until, year, credit, last_slot)| {
                format!("({pupil}, {stamp}, '{until}', {year}, {credit}, {last_slot})")
            })
            .collect();
        let sql = format!(
            "UPDATE pupil_quiet SET basis = $1, keeps = $2, until = v.column3, year = v.column4,
                credit = v.column5, last_slot = v.column6
             FROM (VALUES {}) AS v
             WHERE pupil_quiet.pupil_id = v.column1 AND pupil_quiet.stamp = v.column2",
            rows.join(", ")
        );
        written += sqlx::query(AssertSqlSafe(sql))
            .bind(loaded.basis)
            .bind(loaded.keeps)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    }
    Ok(usize::try_from(written).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// One config, with its own policy beside it, named relative to the working directory
    /// (an officer in the folder) and absolutely (the systemd unit): one basis, so neither
    /// distrusts the other's certificates. What the engine decides with still counts.
    #[test]
    fn a_config_named_by_another_path_keeps_its_certificates_basis() {
        let dir = tempfile::Builder::new()
            .prefix("basis")
            .tempdir()
            .expect("a folder for the config");
        // The same folder named from the working directory: up to the root, then down.
        let working = std::env::current_dir().expect("working directory");
        let folder: std::path::PathBuf = working
            .components()
            .skip(1)
            .map(|_| std::path::Component::ParentDir)
            .chain(dir.path().components().skip(1))
            .collect();
        assert!(folder.is_relative() && folder.exists());
        std::fs::create_dir_all(dir.path().join("policies")).expect("policies folder");
        std::fs::write(
            dir.path().join("policies/ours.toml"),
            include_str!("../../config/policies/dfe-baseline.toml"),
        )
        .expect("policy file");
        std::fs::write(
            dir.path().join("rollcall.toml"),
            "[school]\nname = \"S\"\nurn = \"100001\"\nla_code = \"886\"\npolicy = \"ours\"\n\
             inbox = \"inbox\"\ntemplates = \"templates\"\n\
             [school.reports]\nnational_figures = \"national.toml\"\n\
             [[calendar.terms]]\nname = \"Autumn 2025\"\nstart = \"2025-09-03\"\nend = \"2025-12-19\"\n",
        )
        .expect("config file");
        let basis_of = |config_file: &std::path::Path| {
            let config = Config::load(config_file).expect("config");
            let school = config.school(None).expect("one school").clone();
            let policy = crate::escalation::load_policy(&config, &school).expect("policy");
            (basis(&policy, &school), policy, school)
        };
        let relative = folder.join("rollcall.toml");
        let absolute = dir.path().join("rollcall.toml");
        let (here, policy, school) = basis_of(&relative);
        let (there, policy_there, _) = basis_of(&absolute);
        assert_ne!(
            policy.source, policy_there.source,
            "the test names two paths"
        );
        assert_eq!(here, there);

        let mut later_close = school.clone();
        later_close.am_register_close += chrono::Duration::minutes(15);
        assert_ne!(basis(&policy, &later_close), here);
        let mut faster = policy.clone();
        faster.settings.steps_per_day += 1;
        assert_ne!(basis(&faster, &school), here);
    }
}
