//! A school walked through its year day by day, as it would run for real: the MIS drops each
//! register into the inbox just before it closes (and any recode when the office makes it),
//! the real daemon makes every scheduled run on a simulated clock (first-day contact at close
//! and grace, 11:00, after the afternoon register, 16:00, letters, the weekly and termly
//! jobs), every message goes to the file sink, and at the end of each day a person decides
//! what waits for approval. Expected answers are worked out by the tests from the plan, never
//! read off the engine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rollcall::config::{Config, SchoolConfig};
use rollcall::daemon::Daemon;
use rollcall::delivery::outbox::{Verdict, Waiting};
use rollcall::escalation::policy::Policy;
use rollcall::register::import::{import_contacts, import_pupils};
use rollcall::register::store::{SchoolId, Store};
use rollcall::schedule::{Clock, local_instant, to_local};
use sqlx::Row;
use tokio_util::sync::CancellationToken;

pub const PRESENT: [&str; 2] = ["/", "\\"];

pub fn d(text: &str) -> NaiveDate {
    text.parse().expect("test date")
}

/// The codes these tests use, by whether they are an absence.
pub fn is_absence(code: &str) -> bool {
    match code {
        "/" | "\\" | "L" => false,
        "N" | "I" | "M" | "O" | "G" | "U" | "C2" => true,
        other => panic!("add {other} to the test's code table"),
    }
}

pub fn t(text: &str) -> NaiveTime {
    NaiveTime::parse_from_str(text, "%H:%M").expect("test time")
}

/// One pupil of the walked school: a valid UPN, a year group and a registration group.
#[derive(Debug, Clone)]
pub struct PupilSpec {
    pub upn: &'static str,
    pub reg_group: &'static str,
    pub admission: &'static str,
    /// The leaving date the MIS export records, if any ("" for none).
    pub leaving: &'static str,
    /// Extra columns: (social_worker, concern).
    pub social_worker: bool,
}

pub fn pupil(upn: &'static str, reg_group: &'static str) -> PupilSpec {
    PupilSpec {
        upn,
        reg_group,
        admission: "2025-09-01",
        leaving: "",
        social_worker: false,
    }
}

/// Valid UPNs (check letter worked out by `rollcall::register::pupil::Upn`), distinct families.
pub const UPNS: [&str; 8] = [
    "V886200000001",
    "J886200000002",
    "Y886200000003",
    "M886200000004",
    "B886200000005",
    "Q886200000006",
    "E886200000007",
    "U886200000008",
];

/// What a person does with a message awaiting approval at the end of a day.
pub type Approver = Box<dyn FnMut(&Waiting, NaiveDate) -> Option<Verdict<'static>> + Send + Sync>;

pub struct Walk {
    pub store: Store,
    pub school: SchoolConfig,
    pub school_id: SchoolId,
    pub policy: Policy,
    pub dir: PathBuf,
    daemon: Daemon,
    clock: Clock,
    upns: Vec<&'static str>,
    /// Each pupil's register as the MIS exports it at each close: date → [AM, PM].
    plan: Vec<BTreeMap<NaiveDate, [&'static str; 2]>>,
    /// Recodes the office makes later: when (local), pupil, date, AM/PM code.
    recodes: Vec<(NaiveDateTime, usize, NaiveDate, [Option<&'static str>; 2])>,
    /// Drops already written, by file name.
    dropped: std::collections::HashSet<String>,
    /// The next local day to walk.
    next_day: NaiveDate,
    /// When a person looks at what waits for approval each school day.
    pub approval_time: NaiveTime,
    pub approver: Approver,
    config: Config,
    /// What the approver writes into a message whose policy action asks for a note (the
    /// ground for a deletion), if anything.
    pub note: Option<&'static str>,
}

/// Approves everything that waits for a person.
pub fn approve_all() -> Approver {
    Box::new(|_, _| Some(Verdict::Approve))
}

impl Walk {
    /// A school running `policy` with the given register closes, its pupils on roll from
    /// `admission`, one parent each with a mobile, an email and an address.
    pub async fn new(
        store: Store,
        dir: &Path,
        policy: &str,
        (am_close, pm_close): (&str, &str),
        pupils: &[PupilSpec],
        start: NaiveDate,
    ) -> Result<Walk> {
        // Each walk has its own folder and school, so one database can hold several. A policy
        // given as a path (a test's own ladder) is named by its file.
        let name = Path::new(policy)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(policy);
        let dir = &dir.join(name);
        let (terms, holidays) = rollcall::generate::england_calendar(2025);
        let mut text = format!(
            r#"
[school]
id = "{name}"
name = "Walked Primary"
urn = "100009"
la_code = "886"
policy = "{policy}"
am_register_close = "{am_close}"
pm_register_close = "{pm_close}"
inbox = "{inbox}"

[school.contact]
phone = "01632 960000"
email = "office@walked.example"
address = ["1 School Lane", "Exampleton", "EX1 2AB"]
signatory = "Sam Patel"
signatory_role = "Attendance Officer"

[school.staff]
attendance_officer = "attendance@walked.example"
dsl = "dsl@walked.example"
headteacher = "head@walked.example"
deputy_head = "deputy@walked.example"
class_teacher = "teachers@walked.example"
social_worker = "social@la.example"
key_worker = "key@la.example"
la = "attendance@la.example"

[delivery]
mode = "file"
outbox_dir = "{outbox}"
"#,
            inbox = dir.join("inbox").display(),
            outbox = dir.join("outbox").display(),
        );
        for (table, list) in [("calendar.terms", &terms), ("calendar.holidays", &holidays)] {
            for r in list {
                text.push_str(&format!(
                    "\n[[{table}]]\nname = \"{}\"\nstart = \"{}\"\nend = \"{}\"\n",
                    r.name, r.start, r.end
                ));
            }
        }
        let config = Config::from_toml(&text, "walk.toml")?;
        let school = config.school(None)?.clone();
        let policy = rollcall::escalation::load_policy(&config, &school)?;
        let school_id = store.ensure_school(&school).await?;
        std::fs::create_dir_all(dir.join("inbox"))?;

        let mut pupils_csv = String::from(
            "upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date\n",
        );
        let mut contacts_csv = String::from(
            "upn,name,relationship,priority,email,mobile,parental_responsibility,address_line_1,address_line_2,town,postcode\n",
        );
        for (i, p) in pupils.iter().enumerate() {
            let sw = if p.social_worker { "Y" } else { "N" };
            pupils_csv.push_str(&format!(
                "{},Pupil{i},Family{i},2017-05-01,3,{},F,N,N,N,WBRI,N,{sw},N,N,{},{}\n",
                p.upn, p.reg_group, p.admission, p.leaving
            ));
            contacts_csv.push_str(&format!(
                "{},Parent{i} Family{i},Mother,1,parent{i}@family.example,07700 900{i:03},Y,{i} High Street,,Exampleton,EX1 {i}AB\n",
                p.upn
            ));
        }
        std::fs::write(dir.join("pupils.csv"), pupils_csv)?;
        std::fs::write(dir.join("contacts.csv"), contacts_csv)?;
        import_pupils(&store, school_id, &dir.join("pupils.csv")).await?;
        import_contacts(&store, school_id, &dir.join("contacts.csv")).await?;

        let clock = Clock::simulated(local_instant(school.timezone, start.and_time(t("07:00"))));
        let daemon = Daemon::build_with_store(config.clone(), store.clone(), clock.clone()).await?;
        Ok(Walk {
            store,
            school,
            school_id,
            policy,
            dir: dir.to_owned(),
            daemon,
            clock,
            upns: pupils.iter().map(|p| p.upn).collect(),
            plan: vec![BTreeMap::new(); pupils.len()],
            recodes: Vec::new(),
            dropped: Default::default(),
            next_day: start,
            approval_time: t("17:30"),
            approver: approve_all(),
            config,
            note: None,
        })
    }

    /// The schools as the walk's daemon runs them (what a reply is matched against).
    pub fn runtimes(&self) -> &[std::sync::Arc<rollcall::school::SchoolRuntime>] {
        &self.daemon.schools
    }

    /// The walk's simulated clock, now.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn school_days(&self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        self.school.calendar.school_days_between(from, to).to_vec()
    }

    /// The `n`th school day after `day` (`day` itself is 0 when it is a school day).
    pub fn school_day(&self, day: NaiveDate, n: usize) -> NaiveDate {
        self.school_days(day, d("2026-07-31"))[n]
    }

    /// Plans `pupil`'s marks on every school day in `[from, to]` (`None`: leave as planned).
    pub fn plan(
        &mut self,
        pupil: usize,
        from: NaiveDate,
        to: NaiveDate,
        codes: impl Fn(NaiveDate) -> Option<[&'static str; 2]>,
    ) {
        for day in self.school_days(from, to) {
            if let Some(c) = codes(day) {
                self.plan[pupil].insert(day, c);
            }
        }
    }

    /// The planned (final) marks of `pupil` on school days in `[from, to]`: what the tests
    /// count from. Unplanned school days are present.
    pub fn marks(
        &self,
        pupil: usize,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<(NaiveDate, [&'static str; 2])> {
        self.school_days(from, to)
            .into_iter()
            .map(|day| {
                let mut codes = *self.plan[pupil].get(&day).unwrap_or(&PRESENT);
                for (_, p, date, recode) in &self.recodes {
                    if *p == pupil && *date == day {
                        for (slot, code) in recode.iter().enumerate() {
                            if let Some(code) = code {
                                codes[slot] = code;
                            }
                        }
                    }
                }
                (day, codes)
            })
            .collect()
    }

    /// `pupil`'s year-to-date figures at the end of each school day in `[from, to]`, from the
    /// final marks (every school day has two possible sessions here).
    pub fn running(&self, pupil: usize, from: NaiveDate, to: NaiveDate) -> Vec<Running> {
        let mut sum = Running::default();
        self.marks(pupil, from, to)
            .into_iter()
            .map(|(day, codes)| {
                sum.day = day;
                sum.possible += 2;
                for code in codes {
                    if is_absence(code) {
                        sum.absent += 1;
                    } else {
                        sum.attended += 1;
                    }
                    sum.illness += usize::from(code == "I");
                }
                sum
            })
            .collect()
    }

    /// "Since the school acted" on `day`, from the final marks: the first school day after
    /// `day` that is not part of an absence (every session absent) going on on `day`.
    pub fn acted_from(&self, pupil: usize, day: NaiveDate) -> NaiveDate {
        let marks: BTreeMap<NaiveDate, [&str; 2]> = self
            .marks(pupil, day, d("2026-07-31"))
            .into_iter()
            .collect();
        let absent = |d: &NaiveDate| {
            marks
                .get(d)
                .is_some_and(|m| m.iter().all(|c| is_absence(c)))
        };
        let in_absence = absent(&day);
        marks
            .keys()
            .filter(|d| **d > day)
            .find(|d| !in_absence || !absent(d))
            .copied()
            .expect("the calendar ends first")
    }

    /// The register up to `to` exported at once, before the daemon's first run: a school
    /// that installs rollcall in the middle of a term.
    pub async fn import_history(&mut self, to: NaiveDate) -> Result<()> {
        let mut text = String::from("upn,date,session,mark\n");
        for day in self.school_days(d("2025-09-01"), to) {
            for (slot, session) in ["AM", "PM"].into_iter().enumerate() {
                for (pupil, upn) in self.upns.iter().enumerate() {
                    let code = self.plan[pupil].get(&day).unwrap_or(&PRESENT)[slot];
                    text.push_str(&format!("{upn},{day},{session},{code}\n"));
                }
            }
        }
        let path = self.dir.join("history.csv");
        std::fs::write(&path, text)?;
        rollcall::register::import::import_marks(
            &self.store,
            self.school_id,
            &self.school.calendar,
            &path,
            &rollcall::register::import::MarksImport::default(),
        )
        .await?;
        Ok(())
    }

    /// The office recodes `pupil`'s marks on `date` at local time `at` (the MIS exports the
    /// change then).
    pub fn recode(
        &mut self,
        at: NaiveDateTime,
        pupil: usize,
        date: NaiveDate,
        codes: [Option<&'static str>; 2],
    ) {
        self.recodes.push((at, pupil, date, codes));
    }

    /// Walks every day before `at`, then that day's runs up to `at` (a morning, say).
    pub async fn walk_until(&mut self, at: NaiveDateTime) -> Result<()> {
        if let Some(before) = at.date().pred_opt() {
            self.walk_to(before).await?;
        }
        self.run_until(local_instant(self.school.timezone, at))
            .await
    }

    /// The console over the walked school, on the walk's clock and store, with its
    /// configuration changed first (`[web]` settings).
    pub async fn console_with(
        &self,
        change: impl FnOnce(&mut Config),
    ) -> Result<rollcall::web::Console> {
        let mut config = self.config.clone();
        change(&mut config);
        let daemon =
            Daemon::build_with_store(config, self.store.clone(), self.clock.clone()).await?;
        rollcall::web::Console::new(std::sync::Arc::new(daemon), true)
    }

    /// Walks every day up to and including `to`.
    pub async fn walk_to(&mut self, to: NaiveDate) -> Result<()> {
        while self.next_day <= to {
            let day = self.next_day;
            self.walk_day(day).await?;
            self.next_day = day.succ_opt().context("the calendar ends")?;
        }
        Ok(())
    }

    async fn walk_day(&mut self, day: NaiveDate) -> Result<()> {
        let tz = self.school.timezone;
        let approval = local_instant(tz, day.and_time(self.approval_time));
        self.run_until(approval).await?;
        if self.school.calendar.is_school_day(day) {
            self.decide_waiting(day).await?;
        }
        let night = local_instant(tz, day.and_time(t("23:59")));
        self.run_until(night).await
    }

    async fn run_until(&mut self, until: DateTime<Utc>) -> Result<()> {
        let stop = CancellationToken::new();
        let files = self.files_due_by(until);
        let inbox = self.dir.join("inbox");
        let tz = self.school.timezone;
        let mut pending = files.into_iter().peekable();
        let mut dropped = Vec::new();
        self.daemon
            .run(
                stop,
                Some(until),
                |now| {
                    while let Some((at, _, _)) = pending.peek() {
                        if local_instant(tz, *at) > now {
                            break;
                        }
                        let Some((_, name, text)) = pending.next() else {
                            break;
                        };
                        // The hand-over an MIS connector uses (README, "Bad input"): write
                        // under a temporary name, rename, then drop the `.done` marker.
                        let tmp = inbox.join(format!("{name}.tmp"));
                        std::fs::write(&tmp, text)?;
                        std::fs::rename(&tmp, inbox.join(&name))?;
                        std::fs::write(inbox.join(format!("{name}.done")), "")?;
                        dropped.push(name);
                    }
                    Ok(())
                },
                None,
            )
            .await?;
        self.dropped.extend(dropped);
        if self.clock.now() < until {
            self.clock.advance_to(until);
        }
        Ok(())
    }

    /// Register exports and recodes due by `until` and not yet dropped, oldest first:
    /// (local time, file name, CSV text).
    fn files_due_by(&self, until: DateTime<Utc>) -> Vec<(NaiveDateTime, String, String)> {
        let tz = self.school.timezone;
        let until = to_local(tz, until);
        let mut out = Vec::new();
        let two_minutes = chrono::Duration::minutes(2);
        for day in self.school_days(self.next_day, until.date()) {
            for (slot, (session, close)) in [
                ("AM", self.school.am_register_close),
                ("PM", self.school.pm_register_close),
            ]
            .into_iter()
            .enumerate()
            {
                let at = day.and_time(close) - two_minutes;
                let name = format!("marks-{day}-{session}.csv");
                if at > until || self.dropped.contains(&name) {
                    continue;
                }
                let mut text = String::from("upn,date,session,mark\n");
                for (pupil, upn) in self.upns.iter().enumerate() {
                    let code = self.plan[pupil].get(&day).unwrap_or(&PRESENT)[slot];
                    text.push_str(&format!("{upn},{day},{session},{code}\n"));
                }
                out.push((at, name, text));
            }
        }
        for (i, (at, pupil, date, codes)) in self.recodes.iter().enumerate() {
            let name = format!("marks-recode-{i}.csv");
            if *at > until || self.dropped.contains(&name) {
                continue;
            }
            let mut text = String::from("upn,date,session,mark\n");
            for (session, code) in ["AM", "PM"].into_iter().zip(codes) {
                if let Some(code) = code {
                    text.push_str(&format!("{},{date},{session},{code}\n", self.upns[*pupil]));
                }
            }
            out.push((*at, name, text));
        }
        out.sort();
        out
    }

    /// At the end of a school day a person decides what waits for approval.
    async fn decide_waiting(&mut self, day: NaiveDate) -> Result<()> {
        let waiting = rollcall::delivery::outbox::pending(&self.store, self.school_id).await?;
        let now = day.and_time(self.approval_time);
        for w in waiting {
            if w.hold_reason.is_some() && w.expires_at.is_some() {
                continue;
            }
            if let Some(verdict) = (self.approver)(&w, day) {
                let note = self.note.filter(|_| w.note_asked(&self.policy).is_some());
                rollcall::delivery::outbox::decide_noted(
                    &self.store,
                    self.school_id,
                    &self.policy,
                    w.id,
                    "Jo Bloggs (Attendance Officer)",
                    verdict,
                    note,
                    now,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Every decision for `pupil` (in order), with its local date, stage, anchor, whether it
    /// was withdrawn and why, and its case move's state.
    pub async fn decisions(&self, pupil: usize) -> Result<Vec<DecisionRow>> {
        let rows = sqlx::query(
            "SELECT d.stage, d.anchor, d.decided_at, d.reason, d.withdrawn_reason, d.transition
             FROM decisions d JOIN pupils p ON p.id = d.pupil_id
             WHERE d.school_id = $1 AND p.upn = $2 ORDER BY d.id",
        )
        .bind(self.school_id.0)
        .bind(self.upns[pupil])
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let at: String = r.try_get("decided_at")?;
                Ok(DecisionRow {
                    stage: r.try_get("stage")?,
                    anchor: r.try_get("anchor")?,
                    at: NaiveDateTime::parse_from_str(&at, "%Y-%m-%dT%H:%M:%S")?,
                    reason: r.try_get("reason")?,
                    withdrawn: r.try_get("withdrawn_reason")?,
                    transition: r.try_get("transition")?,
                })
            })
            .collect()
    }

    /// The local dates `stage` was decided for `pupil`, withdrawn ones included.
    pub async fn days_of(&self, pupil: usize, stage: &str) -> Result<Vec<NaiveDate>> {
        Ok(self
            .decisions(pupil)
            .await?
            .into_iter()
            .filter(|r| r.stage == stage)
            .map(|r| r.at.date())
            .collect())
    }

    /// Messages carrying `pupil`'s decisions of `stage`: (outbox id, channel, status).
    pub async fn messages(&self, pupil: usize, stage: &str) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query(
            "SELECT o.id, o.channel, o.status, o.template, o.decided_by, i.cancelled_reason
             FROM outbox o JOIN outbox_items i ON i.outbox_id = o.id
             JOIN decisions d ON d.id = i.decision_id JOIN pupils p ON p.id = d.pupil_id
             WHERE o.school_id = $1 AND p.upn = $2 AND d.stage = $3 ORDER BY o.id",
        )
        .bind(self.school_id.0)
        .bind(self.upns[pupil])
        .bind(stage)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MessageRow {
                    id: r.try_get("id")?,
                    channel: r.try_get("channel")?,
                    status: r.try_get("status")?,
                    template: r.try_get("template")?,
                    decided_by: r.try_get("decided_by")?,
                    cancelled_reason: r.try_get("cancelled_reason")?,
                })
            })
            .collect()
    }

    /// The pupil's open case: (stage, entered on).
    pub async fn case(&self, pupil: usize) -> Result<Option<(String, String)>> {
        let row = sqlx::query(
            "SELECT c.stage, c.stage_entered FROM cases c JOIN pupils p ON p.id = c.pupil_id
             WHERE c.school_id = $1 AND p.upn = $2 AND c.closed_on IS NULL",
        )
        .bind(self.school_id.0)
        .bind(self.upns[pupil])
        .fetch_optional(self.store.pool())
        .await?;
        row.map(|r| Ok((r.try_get("stage")?, r.try_get("stage_entered")?)))
            .transpose()
    }

    /// The pupil's case history: (local time, from, to).
    pub async fn transitions(
        &self,
        pupil: usize,
    ) -> Result<Vec<(String, Option<String>, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT t.at, t.from_stage, t.to_stage FROM case_transitions t
             JOIN cases c ON c.id = t.case_id JOIN pupils p ON p.id = c.pupil_id
             WHERE t.school_id = $1 AND p.upn = $2 ORDER BY t.id",
        )
        .bind(self.school_id.0)
        .bind(self.upns[pupil])
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("at")?,
                    r.try_get("from_stage")?,
                    r.try_get("to_stage")?,
                ))
            })
            .collect()
    }

    /// A message's events: (local time, event, actor).
    pub async fn events(&self, outbox_id: i64) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT at, event, actor FROM outbox_events WHERE outbox_id = $1 ORDER BY id",
        )
        .bind(outbox_id)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("at")?, r.try_get("event")?, r.try_get("actor")?)))
            .collect()
    }

    /// Alerts queued to the attendance officer whose key contains `part`.
    /// (key, text, created at).
    pub async fn alerts(&self, part: &str) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT key, hold_reason, created_at FROM outbox WHERE school_id = $1 AND template = 'alert' ORDER BY id",
        )
        .bind(self.school_id.0)
        .fetch_all(self.store.pool())
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let key: String = r.try_get("key")?;
            if key.contains(part) {
                out.push((
                    key,
                    r.try_get::<Option<String>, _>("hold_reason")?
                        .unwrap_or_default(),
                    r.try_get("created_at")?,
                ));
            }
        }
        Ok(out)
    }

    /// Family-facing letters, texts and emails per pupil per school day that were sent
    /// (delivered to the file sink): the most any family got in one day.
    pub async fn most_family_messages_in_a_day(&self) -> Result<usize> {
        let rows = sqlx::query(
            "SELECT p.upn, o.channel, SUBSTR(COALESCE(o.sent_at, o.finished_at, o.created_at), 1, 10) AS day, COUNT(DISTINCT o.id) AS n
             FROM outbox o JOIN outbox_items i ON i.outbox_id = o.id
             JOIN decisions d ON d.id = i.decision_id JOIN pupils p ON p.id = d.pupil_id
             WHERE o.school_id = $1 AND o.status IN ('sent', 'delivered')
               AND o.recipient_role IN ('contacts', 'parental_responsibility', 'all_contacts')
               AND o.channel IN ('letter', 'email')
             GROUP BY p.upn, o.channel, SUBSTR(COALESCE(o.sent_at, o.finished_at, o.created_at), 1, 10)",
        )
        .bind(self.school_id.0)
        .fetch_all(self.store.pool())
        .await?;
        let mut per: BTreeMap<(String, String), i64> = BTreeMap::new();
        for r in rows {
            let upn: String = r.try_get("upn")?;
            let day: String = r.try_get("day")?;
            *per.entry((upn, day)).or_default() += r.try_get::<i64, _>("n")?;
        }
        Ok(per.values().copied().max().unwrap_or(0) as usize)
    }
}

/// Sessions counted from the start of a window to the end of `day`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Running {
    pub day: NaiveDate,
    pub possible: usize,
    pub attended: usize,
    pub absent: usize,
    pub illness: usize,
}

#[derive(Debug, Clone)]
pub struct DecisionRow {
    pub stage: String,
    pub anchor: String,
    pub at: NaiveDateTime,
    pub reason: String,
    pub withdrawn: Option<String>,
    pub transition: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: i64,
    pub channel: String,
    pub status: String,
    pub template: String,
    pub decided_by: Option<String>,
    pub cancelled_reason: Option<String>,
}
