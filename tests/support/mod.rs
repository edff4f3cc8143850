//! A pure harness for walking one pupil through a shipped policy day by day: marks go into
//! an in-memory register, the engine runs at a chosen local time, and what it decides is
//! applied to the pupil's case and stage memory exactly as `outbox::record` would store it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use rollcall::case::{CaseState, StageMemory};
use rollcall::config::{Phase, SchoolConfig};
use rollcall::facts::PupilRegister;
use rollcall::mark::MarkCode;
use rollcall::policy::{self, Policy};
use rollcall::pupil::{Contact, Pupil, Sen, Upn};
use rollcall::session::{Calendar, SLOTS_PER_YEAR, Session, slot};
use rollcall::stage::{Context, Decision, Evaluation, PupilInput, evaluate};

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
            seen: Default::default(),
        }
    }

    pub fn add_pupil(&mut self, pupil: Pupil, contacts: Vec<Contact>) {
        self.pupils.push(pupil);
        self.contacts.push(contacts);
        self.marks.push(HashMap::new());
        self.cases.push(None);
        self.memory.push(HashMap::new());
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
            })
            .collect();
        evaluate(
            &Context {
                policy: &self.policy,
                school: &self.school,
                now,
            },
            &inputs,
        )
    }

    /// Runs at `now` and keeps what `record` would: new decisions, case transitions, memory.
    /// Returns the stage ids newly decided in this run.
    pub fn run(&mut self, now: NaiveDateTime) -> Vec<String> {
        let evaluation = self.evaluate(now);
        for (pupil_id, stage, memory) in evaluation.memory {
            self.memory[pupil_id as usize - 1].insert(stage, memory);
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
            if let Some((_, to)) = &d.transition {
                self.cases[i] = to.as_ref().map(|to| CaseState {
                    opened_on: self.cases[i].as_ref().map_or(now.date(), |c| c.opened_on),
                    stage: to.clone(),
                    stage_entered: now.date(),
                });
            }
            new.push(d.stage.clone());
            self.fired.push(d);
        }
        new
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
