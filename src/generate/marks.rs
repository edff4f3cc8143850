//! Absence patterns and marks, so absence clusters (persistent, severe, holidays) as it does.

use chrono::{Datelike, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::pupils::PupilPlan;
use super::school::{School, Stream, pick, rng_for, weighted};
use crate::register::pupil::{Sen, Upn};

// ---------------------------------------------------------------------------------------------
// Marks
// ---------------------------------------------------------------------------------------------

/// The codes the generator uses; `Present` prints as `/` or `\` by session.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Code {
    Present,
    Late,
    LateAfterClose,
    Illness,
    Medical,
    Other,
    NoReason,
    Holiday,
    PartTime,
    Dual,
    Visit,
    Excluded,
    Closed,
    PlannedClosure,
    NotOnRoll,
}

impl Code {
    pub(super) fn text(self, pm: bool) -> &'static [u8] {
        match self {
            Code::Present if pm => b"\\",
            Code::Present => b"/",
            Code::Late => b"L",
            Code::LateAfterClose => b"U",
            Code::Illness => b"I",
            Code::Medical => b"M",
            Code::Other => b"O",
            Code::NoReason => b"N",
            Code::Holiday => b"G",
            Code::PartTime => b"C2",
            Code::Dual => b"D",
            Code::Visit => b"V",
            Code::Excluded => b"E",
            Code::Closed => b"Y4",
            Code::PlannedClosure => b"#",
            Code::NotOnRoll => b"Z",
        }
    }

    pub(super) fn is_absence(self) -> bool {
        matches!(
            self,
            Code::LateAfterClose
                | Code::Illness
                | Code::Medical
                | Code::Other
                | Code::NoReason
                | Code::Holiday
                | Code::PartTime
                | Code::Excluded
        )
    }

    pub(super) fn is_possible(self) -> bool {
        !matches!(
            self,
            Code::Dual | Code::Closed | Code::PlannedClosure | Code::NotOnRoll
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Pattern {
    Good,
    IllnessRuns,
    TermTimeHoliday,
    OftenLate,
    Persistent,
    Severe,
}

/// One pupil's year, reused across pupils so the hot loop allocates nothing.
pub(super) struct Register {
    pub(super) codes: Vec<[Code; 2]>,
    pub(super) first: usize,
    pub(super) last: usize,
    pub(super) absent: usize,
}

impl Register {
    fn reset(&mut self, school: &School, first: usize, last: usize) {
        self.codes.clear();
        self.codes.resize(school.len(), [Code::Present; 2]);
        for day in &mut self.codes[..first] {
            *day = [Code::NotOnRoll; 2];
        }
        for i in first..=last {
            if let Some(code) = school.closure[i] {
                self.codes[i] = [code; 2];
            }
        }
        self.first = first;
        self.last = last;
        self.absent = 0;
    }

    fn days_on_roll(&self) -> usize {
        self.last + 1 - self.first
    }

    fn possible(&self) -> usize {
        self.codes[self.first..=self.last]
            .iter()
            .flatten()
            .filter(|c| c.is_possible())
            .count()
    }

    fn random_day(&self, rng: &mut ChaCha8Rng) -> usize {
        rng.random_range(self.first..=self.last)
    }

    /// Only ever replaces a present mark, so closures, D and earlier absences survive.
    fn mark(&mut self, day: usize, session: usize, code: Code) -> usize {
        let slot = &mut self.codes[day][session];
        if *slot != Code::Present {
            return 0;
        }
        *slot = code;
        let absent = usize::from(code.is_absence());
        self.absent += absent;
        absent
    }

    fn mark_day(&mut self, day: usize, code: Code) -> usize {
        self.mark(day, 0, code) + self.mark(day, 1, code)
    }

    fn mark_run(&mut self, start: usize, days: usize, code: Code) -> usize {
        let end = start.saturating_add(days).min(self.last + 1);
        (start..end).map(|day| self.mark_day(day, code)).sum()
    }

    /// A count drawn for a full year, scaled to the part of the year the pupil is on roll.
    fn scaled(&self, rng: &mut ChaCha8Rng, count: usize, school: &School) -> usize {
        let total = count * self.days_on_roll();
        total / school.len() + usize::from(rng.random_range(0..school.len()) < total % school.len())
    }
}

pub(super) fn choose_pattern(rng: &mut ChaCha8Rng, fsm: bool, sen: Sen) -> Pattern {
    // Absence is concentrated among disadvantaged pupils and those with SEN; the factors
    // average to about 1 so the school-wide shares stay near the targets.
    let fsm_factor = if fsm { 1.6 } else { 0.8 };
    let sen_factor = if sen == Sen::None { 0.9 } else { 1.5 };
    let factor = fsm_factor * sen_factor;
    let persistent = (70.0 * factor) as u32;
    let severe = (15.0 * factor) as u32;
    let good = 1000 - 150 - 80 - 80 - persistent - severe;
    weighted(
        rng,
        &[
            (Pattern::Good, good),
            (Pattern::IllnessRuns, 150),
            (Pattern::TermTimeHoliday, 80),
            (Pattern::OftenLate, 80),
            (Pattern::Persistent, persistent),
            (Pattern::Severe, severe),
        ],
    )
}

/// The occasional illness, appointment and late morning of a good attender, kept within `cap`
/// absent sessions.
pub(super) fn light_noise(reg: &mut Register, school: &School, rng: &mut ChaCha8Rng, cap: usize) {
    let ill = weighted(rng, &[(0usize, 30), (1, 30), (2, 20), (3, 15), (4, 5)]);
    for _ in 0..reg.scaled(rng, ill, school) {
        if reg.absent + 2 > cap {
            break;
        }
        let day = reg.random_day(rng);
        reg.mark_day(day, Code::Illness);
    }
    let medical = weighted(rng, &[(0usize, 50), (1, 30), (2, 20)]);
    for _ in 0..reg.scaled(rng, medical, school) {
        if reg.absent + 1 > cap {
            break;
        }
        let day = reg.random_day(rng);
        let session = rng.random_range(0..2);
        reg.mark(day, session, Code::Medical);
    }
    let late = weighted(rng, &[(0usize, 55), (1, 25), (2, 12), (3, 8)]);
    for _ in 0..reg.scaled(rng, late, school) {
        let day = reg.random_day(rng);
        reg.mark(day, 0, Code::Late);
    }
}

pub(super) fn target_absence(reg: &Register, attendance_permille: usize) -> usize {
    (reg.possible() * (1000 - attendance_permille)).div_ceil(1000)
}

pub(super) fn persistent_absence(reg: &mut Register, school: &School, rng: &mut ChaCha8Rng) {
    #[derive(Clone, Copy)]
    enum Event {
        Day,
        Session,
        Run,
        Holiday,
        LongWeekend,
    }
    let target = target_absence(reg, rng.random_range(800..=890));
    let mut had_holiday = false;
    for _ in 0..2000 {
        if reg.absent >= target {
            break;
        }
        let need_days = (target - reg.absent).div_ceil(2);
        let event = weighted(
            rng,
            &[
                (Event::Day, 35),
                (Event::Session, 15),
                (Event::Run, 28),
                (Event::Holiday, if had_holiday { 0 } else { 8 }),
                (Event::LongWeekend, 14),
            ],
        );
        let day = reg.random_day(rng);
        match event {
            Event::Day => {
                let code = weighted(
                    rng,
                    &[
                        (Code::Illness, 45),
                        (Code::Other, 38),
                        (Code::Holiday, 10),
                        (Code::NoReason, 3),
                    ],
                );
                reg.mark_day(day, code);
            }
            Event::Session => {
                let session = weighted(rng, &[(0usize, 40), (1, 60)]);
                let code = weighted(
                    rng,
                    &[(Code::Other, 50), (Code::Medical, 30), (Code::Illness, 20)],
                );
                reg.mark(day, session, code);
            }
            Event::Run => {
                let len = rng.random_range(2..=4).min(need_days);
                let code = weighted(rng, &[(Code::Illness, 55), (Code::Other, 45)]);
                reg.mark_run(day, len, code);
            }
            Event::Holiday => {
                had_holiday = true;
                let len = rng.random_range(3..=6).min(need_days);
                reg.mark_run(day, len, Code::Holiday);
            }
            Event::LongWeekend => {
                if matches!(school.days[day].weekday(), Weekday::Mon | Weekday::Fri) {
                    let code = weighted(rng, &[(Code::Other, 60), (Code::Illness, 40)]);
                    reg.mark_day(day, code);
                }
            }
        }
    }
}

pub(super) fn severe_absence(reg: &mut Register, rng: &mut ChaCha8Rng) {
    #[derive(Clone, Copy)]
    enum Event {
        LongUnexplained,
        NoReasonRun,
        IllnessRun,
        Day,
        Session,
    }
    let target = target_absence(reg, rng.random_range(200..=490));
    for _ in 0..4000 {
        if reg.absent >= target {
            break;
        }
        let need_days = (target - reg.absent).div_ceil(2);
        let day = reg.random_day(rng);
        match weighted(
            rng,
            &[
                (Event::LongUnexplained, 51),
                (Event::NoReasonRun, 4),
                (Event::IllnessRun, 20),
                (Event::Day, 15),
                (Event::Session, 10),
            ],
        ) {
            Event::LongUnexplained => {
                let len = rng.random_range(5..=20).min(need_days);
                reg.mark_run(day, len, Code::Other);
            }
            Event::NoReasonRun => {
                let len = rng.random_range(3..=10).min(need_days);
                reg.mark_run(day, len, Code::NoReason);
            }
            Event::IllnessRun => {
                let len = rng.random_range(3..=8).min(need_days);
                reg.mark_run(day, len, Code::Illness);
            }
            Event::Day => {
                reg.mark_day(day, Code::Other);
            }
            Event::Session => {
                let session = rng.random_range(0..2);
                reg.mark(day, session, Code::Other);
            }
        }
    }
}

/// A family holiday of 5–10 school days, usually stuck to the start or end of a break.
pub(super) fn term_time_holiday(reg: &mut Register, school: &School, rng: &mut ChaCha8Rng) {
    let len = rng.random_range(5..=10usize);
    let start = match weighted(rng, &[(0u8, 35), (1, 35), (2, 30)]) {
        0 => pick(rng, &school.after_break),
        1 => (pick(rng, &school.before_break) + 1).saturating_sub(len),
        _ => reg.random_day(rng),
    };
    let start = start.clamp(reg.first, reg.last);
    reg.mark_run(start, len, Code::Holiday);
}

pub(super) fn plan_marks(reg: &mut Register, school: &School, pupil: &PupilPlan, seed: u64) {
    let mut rng = rng_for(seed, Stream::Marks, pupil.index as u64);
    let rng = &mut rng;
    reg.reset(school, pupil.first, pupil.last);

    if rng.random_bool(0.004) {
        // Dual registration is a fixed arrangement, e.g. every Wednesday at a PRU.
        let weekday = pick(
            rng,
            &[
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
        );
        for day in reg.first..=reg.last {
            if school.days[day].weekday() == weekday {
                reg.mark_day(day, Code::Dual);
            }
        }
    }
    let part_time = if pupil.sen == Sen::EhcPlan {
        0.04
    } else {
        0.003
    };
    if rng.random_bool(part_time) {
        // A part-time timetable is a time-limited plan for a phased return, not the whole year.
        let start = reg.random_day(rng);
        let len = rng.random_range(20..=60);
        for day in start..(start + len).min(reg.last + 1) {
            reg.mark(day, 1, Code::PartTime);
        }
    }

    let pattern = choose_pattern(rng, pupil.fsm, pupil.sen);
    match pattern {
        Pattern::Good => {
            let cap = reg.possible() * 3 / 100;
            light_noise(reg, school, rng, cap);
        }
        Pattern::IllnessRuns => {
            let runs = rng.random_range(1..=3);
            for _ in 0..reg.scaled(rng, runs, school).max(1) {
                let day = reg.random_day(rng);
                let len = rng.random_range(2..=5);
                reg.mark_run(day, len, Code::Illness);
            }
            light_noise(reg, school, rng, usize::MAX);
        }
        Pattern::TermTimeHoliday => {
            term_time_holiday(reg, school, rng);
            light_noise(reg, school, rng, usize::MAX);
        }
        Pattern::OftenLate => {
            let late = rng.random_range(15..=40);
            for _ in 0..reg.scaled(rng, late, school) {
                let day = reg.random_day(rng);
                reg.mark(day, 0, Code::Late);
            }
            let after_close = rng.random_range(3..=10);
            for _ in 0..reg.scaled(rng, after_close, school) {
                let day = reg.random_day(rng);
                reg.mark(day, 0, Code::LateAfterClose);
            }
            light_noise(reg, school, rng, usize::MAX);
        }
        Pattern::Persistent => persistent_absence(reg, school, rng),
        Pattern::Severe => severe_absence(reg, rng),
    }

    let exclusion = match pattern {
        Pattern::Good => 0.002,
        Pattern::Persistent | Pattern::Severe => 0.04,
        _ => 0.01,
    } * if pupil.sen == Sen::None { 1.0 } else { 2.0 };
    if rng.random_bool(exclusion) {
        let day = reg.random_day(rng);
        let len = rng.random_range(1..=3);
        reg.mark_run(day, len, Code::Excluded);
    }

    // Registers are only final once N is chased up (within 5 school days), so only the last
    // fortnight still shows open N marks; earlier ones were resolved to I or O.
    let n = school.len();
    let fortnight = n.saturating_sub(10).max(reg.first);
    for day in fortnight..=reg.last {
        let [am, pm] = reg.codes[day];
        let unexplained = am == pm && matches!(am, Code::Illness | Code::Other);
        if unexplained && rng.random_bool(0.5) {
            reg.codes[day] = [Code::NoReason; 2];
        }
    }
    let last_week = n.saturating_sub(5).max(reg.first);
    if reg.last + 1 == n && last_week <= reg.last && rng.random_bool(0.04) {
        let day = rng.random_range(last_week..=reg.last);
        reg.mark_day(day, Code::NoReason);
    }

    // The whole class goes on the trip, except those already absent.
    for term in 0..school.terms {
        let day = school.visits[pupil.class * school.terms + term];
        if (reg.first..=reg.last).contains(&day) {
            reg.mark_day(day, Code::Visit);
        }
    }
}

pub(super) fn write_marks(buf: &mut Vec<u8>, reg: &Register, school: &School, upn: &Upn) -> u64 {
    buf.clear();
    let upn = upn.as_str().as_bytes();
    for (day, pair) in reg.codes[..=reg.last].iter().enumerate() {
        for (session, label) in [(0, b",AM,"), (1, b",PM,")] {
            buf.extend_from_slice(upn);
            buf.push(b',');
            buf.extend_from_slice(&school.day_text[day]);
            buf.extend_from_slice(label);
            buf.extend_from_slice(pair[session].text(session == 1));
            buf.push(b'\n');
        }
    }
    2 * (reg.last as u64 + 1)
}
