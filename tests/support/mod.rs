//! A pure harness for walking one pupil through a shipped policy day by day: marks go into
//! an in-memory register, the engine runs at a chosen local time, and what it decides is
//! applied to the pupil's case, stage memory and decision history as `outbox::record` would
//! store it. Decisions that need a person are approved at the end of the run that made them
//! (unless `auto_approve` is off), which is when their case moves.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use rollcall::config::{Phase, SchoolConfig};
use rollcall::escalation::case::{CaseState, PastDecision, StageMemory};
use rollcall::escalation::policy::{self, Channel, Policy};
use rollcall::escalation::stage::{Context, Decision, Evaluation, PupilInput, evaluate};
use rollcall::register::facts::PupilRegister;
use rollcall::register::mark::MarkCode;
use rollcall::register::pupil::{Contact, Pupil, Sen, Upn};
use rollcall::register::records::PupilRecords;
use rollcall::register::session::{Calendar, SLOTS_PER_YEAR, Session, slot};

pub const UPN: &str = "A123456789012";

pub fn load_policy(name: &str) -> Policy {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("config/policies/{name}.toml"));
    match policy::load(&path) {
        Ok(p) => p,
        Err(errors) => panic!(
            "{name} does not check clean:\n{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// The generated England calendar for 2025/26 (190 days; autumn term from 1 September).
pub fn school(am_close: &str) -> SchoolConfig {
    let (terms, holidays) = rollcall::generate::england_calendar(2025);
    SchoolConfig {
        id: "test".into(),
        name: "Test School".into(),
        urn: "100000".into(),
        la_code: "886".into(),
        phase: Phase::Primary,
        timezone: chrono_tz::Europe::London,
        am_register_close: NaiveTime::parse_from_str(am_close, "%H:%M").expect("time"),
        pm_register_close: NaiveTime::from_hms_opt(13, 45, 0).expect("time"),
        policy: None,
        calendar: Calendar::new(terms, holidays),
        contact: Default::default(),
        reports: Default::default(),
        staff: Default::default(),
        templates: None,
        inbox: None,
    }
}

pub fn pupil(upn: &str, reg_group: &str, admission: NaiveDate) -> Pupil {
    Pupil {
        upn: Upn::parse(upn).expect("valid UPN"),
        forename: "Ada".into(),
        surname: "Lovelace".into(),
        date_of_birth: NaiveDate::from_ymd_opt(2016, 5, 1).expect("date"),
        year_group: "4".into(),
        reg_group: reg_group.into(),
        gender: "F".into(),
        fsm: false,
        sen: Sen::parse("N").expect("sen"),
        eal: false,
        ethnicity: "WBRI".into(),
        lac: false,
        social_worker: false,
        young_carer: false,
        concern: false,
        admission_date: admission,
        leaving_date: None,
    }
}

pub fn parent(upn: &str, priority: i64, name: &str, mobile: &str) -> Contact {
    Contact {
        upn: Upn::parse(upn).expect("valid UPN"),
        priority,
        name: name.into(),
        relationship: "Mother".into(),
        email: Some(format!(
            "{}@example.org",
            name.to_lowercase().replace(' ', ".")
        )),
        mobile: Some(mobile.into()),
        parental_responsibility: true,
        address_line_1: "1 High Street".into(),
        address_line_2: String::new(),
        town: "Whitstable".into(),
        postcode: "CT5 1AA".into(),
    }
}

pub fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

pub fn at(day: NaiveDate, time: &str) -> NaiveDateTime {
    day.and_time(NaiveTime::parse_from_str(time, "%H:%M").expect("time"))
}

/// One pupil (or several siblings) with a register, case and memory carried between runs.
pub struct Walk {
    pub policy: Policy,
    pub school: SchoolConfig,
    pub pupils: Vec<Pupil>,
    pub contacts: Vec<Vec<Contact>>,
    pub marks: Vec<HashMap<i32, Vec<u8>>>,
    pub cases: Vec<Option<CaseState>>,
    pub memory: Vec<HashMap<String, StageMemory>>,
    /// Every decision kept (as `record` would: each (pupil, stage, anchor) once), in order.
    pub fired: Vec<Decision>,
    /// Per pupil: decisions as the engine sees them in later runs.
    pub history: Vec<Vec<PastDecision>>,
    /// Decisions withdrawn by a later run, with the reason.
    pub withdrawn: Vec<(i64, String)>,
    /// Approve what needs a person at the end of each run (else `approve` does it).
    pub auto_approve: bool,
    pub previous_pass: Option<NaiveDateTime>,
    /// Per pupil: sessions a confirmed parent's reply explains.
    pub explained: Vec<Vec<(NaiveDate, rollcall::register::session::Session)>>,
    /// Per pupil: what the school recorded beside the export (an extended integration
    /// period, medical evidence, missing from a full export).
    pub records: Vec<PupilRecords>,
    seen: std::collections::HashSet<(i64, String, String)>,
}

impl Walk {
    pub fn new(policy: &str, pupil: Pupil) -> Walk {
        let contacts = vec![parent(
            pupil.upn.as_str(),
            1,
            "Anne Lovelace",
            "+447700900001",
        )];
        Walk {
            policy: load_policy(policy),
            school: school("09:30"),
            pupils: vec![pupil],
            contacts: vec![contacts],
            marks: vec![HashMap::new()],
            cases: vec![None],
            memory: vec![HashMap::new()],
            fired: Vec::new(),
            history: vec![Vec::new()],
            withdrawn: Vec::new(),
            auto_approve: true,
            previous_pass: None,
            explained: vec![Vec::new()],
            records: vec![PupilRecords::default()],
            seen: Default::default(),
        }
    }

    pub fn add_pupil(&mut self, pupil: Pupil, contacts: Vec<Contact>) {
        self.pupils.push(pupil);
        self.contacts.push(contacts);
        self.explained.push(Vec::new());
        self.marks.push(HashMap::new());
        self.cases.push(None);
        self.memory.push(HashMap::new());
        self.history.push(Vec::new());
        self.records.push(PupilRecords::default());
    }

    pub fn mark(&mut self, index: usize, day: NaiveDate, session: Session, code: &str) {
        let (year, at) = slot(day, session);
        let byte = MarkCode::parse_exact(code)
            .unwrap_or_else(|| panic!("{code} is not a code"))
            .byte();
        self.marks[index]
            .entry(year)
            .or_insert_with(|| vec![0; SLOTS_PER_YEAR])[at] = byte;
    }

    /// Both sessions of every school day in `[from, to]` for pupil 0.
    pub fn mark_days(&mut self, from: NaiveDate, to: NaiveDate, code: &str) {
        for day in self.school.calendar.school_days_between(from, to).to_vec() {
            self.mark(0, day, Session::Am, code);
            self.mark(0, day, Session::Pm, code);
        }
    }

    /// School days in `[from, to]`.
    pub fn school_days(&self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        self.school.calendar.school_days_between(from, to).to_vec()
    }

    /// Evaluates at `now` without keeping anything.
    pub fn evaluate(&self, now: NaiveDateTime) -> Evaluation {
        let years: Vec<Vec<(i32, &[u8])>> = self
            .marks
            .iter()
            .map(|m| {
                let mut v: Vec<(i32, &[u8])> = m.iter().map(|(y, b)| (*y, b.as_slice())).collect();
                v.sort_by_key(|(y, _)| *y);
                v
            })
            .collect();
        // The days from today on with a letter home already going about each pupil, as the
        // outbox would say: each kept decision's family letters, on the day they were made or
        // the day they were put off to.
        let withdrawn: std::collections::HashSet<i64> =
            self.withdrawn.iter().map(|(id, _)| *id).collect();
        let letter_days: Vec<Vec<NaiveDate>> = (0..self.pupils.len())
            .map(|i| {
                let mut days: Vec<NaiveDate> = self
                    .fired
                    .iter()
                    .enumerate()
                    .filter(|(n, d)| {
                        d.pupil_id == i as i64 + 1 && !withdrawn.contains(&(*n as i64 + 1))
                    })
                    .flat_map(|(_, d)| {
                        d.actions
                            .iter()
                            .filter(|a| a.channel == Channel::Letter && a.to.is_family())
                            .map(|a| a.not_before.unwrap_or(d.facts.as_of).date())
                    })
                    .filter(|day| *day >= now.date())
                    .collect();
                days.sort();
                days.dedup();
                days
            })
            .collect();
        let inputs: Vec<PupilInput<'_>> = (0..self.pupils.len())
            .map(|i| PupilInput {
                pupil_id: i as i64 + 1,
                pupil: &self.pupils[i],
                register: PupilRegister {
                    admission: self.pupils[i].admission_date,
                    leaving: self.pupils[i].leaving_date,
                    years: &years[i],
                    loaded_from_year: i32::MIN,
                },
                contacts: &self.contacts[i],
                case: self.cases[i].as_ref(),
                memory: &self.memory[i],
                history: &self.history[i],
                letter_days: &letter_days[i],
                explained: &self.explained[i],
                records: &self.records[i],
            })
            .collect();
        evaluate(
            &Context {
                policy: &self.policy,
                school: &self.school,
                now,
                previous_pass: self.previous_pass,
            },
            &inputs,
        )
    }

    /// Runs at `now` and keeps what `record` would: new decisions, case transitions, memory.
    /// Returns the stage ids newly decided in this run.
    pub fn run(&mut self, now: NaiveDateTime) -> Vec<String> {
        let evaluation = self.evaluate(now);
        self.previous_pass = Some(now);
        for (pupil_id, stage, memory) in evaluation.memory {
            self.memory[pupil_id as usize - 1].insert(stage, memory);
        }
        for (id, why) in evaluation.withdrawn {
            for history in &mut self.history {
                history.retain(|d| d.id != id);
            }
            self.withdrawn.push((id, why));
        }
        let mut new = Vec::new();
        for d in evaluation.decisions {
            if !self
                .seen
                .insert((d.pupil_id, d.stage.clone(), d.anchor.clone()))
            {
                continue;
            }
            let i = d.pupil_id as usize - 1;
            if d.moves_case_now() {
                self.move_case(i, d.transition.clone(), now.date());
            }
            let history = &mut self.history[i];
            let previous = history
                .iter()
                .filter(|p| p.stage == d.stage)
                .map(|p| p.decided_at)
                .max();
            history.retain(|p| p.stage != d.stage || p.waiting);
            history.push(PastDecision {
                id: self.fired.len() as i64 + 1,
                stage: d.stage.clone(),
                anchor: d.anchor.clone(),
                decided_at: now,
                reason: d.reason.clone(),
                waiting: d.requires_approval,
                case_before: d.case_before.clone(),
                previous,
            });
            new.push(d.stage.clone());
            self.fired.push(d);
        }
        if self.auto_approve {
            self.approve(now.date());
        }
        new
    }

    /// A person approves every decision waiting for one: its case moves on `day`.
    pub fn approve(&mut self, day: NaiveDate) {
        for i in 0..self.history.len() {
            let waiting: Vec<i64> = self.history[i]
                .iter()
                .filter(|d| d.waiting)
                .map(|d| d.id)
                .collect();
            for id in waiting {
                let decision = &self.fired[id as usize - 1];
                let transition = decision.transition.clone();
                let rank = |s: &str| self.policy.stages.iter().position(|st| st.id == s);
                let moves = match (self.cases[i].as_ref(), transition.as_ref()) {
                    (_, None) => false,
                    (None, Some((_, to))) => to.is_some(),
                    (Some(c), Some((_, Some(to)))) => rank(to) > rank(&c.stage),
                    (Some(_), Some((_, None))) => true,
                };
                if moves {
                    self.move_case(i, transition, day);
                }
                if let Some(d) = self.history[i].iter_mut().find(|d| d.id == id) {
                    d.waiting = false;
                }
            }
            // Only the latest of each stage is kept once nothing of it waits.
            let mut latest: HashMap<String, i64> = HashMap::new();
            for d in &self.history[i] {
                let e = latest.entry(d.stage.clone()).or_insert(d.id);
                *e = (*e).max(d.id);
            }
            self.history[i].retain(|d| d.waiting || latest.get(&d.stage) == Some(&d.id));
        }
    }

    fn move_case(
        &mut self,
        i: usize,
        transition: Option<(Option<String>, Option<String>)>,
        day: NaiveDate,
    ) {
        if let Some((_, to)) = transition {
            self.cases[i] = to.map(|to| CaseState {
                opened_on: self.cases[i].as_ref().map_or(day, |c| c.opened_on),
                stage: to,
                stage_entered: day,
            });
        }
    }

    /// Runs once per school day in `[from, to]` at `time`, with `code_for(day)` marked for
    /// both sessions of pupil 0 first (None leaves the day unmarked). Returns (day, stage)
    /// for each new decision.
    pub fn walk(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
        time: &str,
        code_for: impl Fn(NaiveDate) -> Option<&'static str>,
    ) -> Vec<(NaiveDate, String)> {
        let mut out = Vec::new();
        for day in self.school_days(from, to) {
            if let Some(code) = code_for(day) {
                self.mark(0, day, Session::Am, code);
                self.mark(0, day, Session::Pm, code);
            }
            for stage in self.run(at(day, time)) {
                out.push((day, stage));
            }
        }
        out
    }

    /// The decision for `stage`, the first time it fired.
    pub fn decision(&self, stage: &str) -> &Decision {
        self.fired
            .iter()
            .find(|d| d.stage == stage)
            .unwrap_or_else(|| {
                panic!(
                    "stage {stage} never fired; fired: {:?}",
                    self.stages_fired()
                )
            })
    }

    pub fn stages_fired(&self) -> Vec<&str> {
        self.fired.iter().map(|d| d.stage.as_str()).collect()
    }
}
