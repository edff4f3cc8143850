//! Facts: the attendance statistics of one pupil, computed from their stored register years.
//! Pure: no I/O, the same inputs always give the same figures.
//!
//! Definitions are DOMAIN.md's "Measures" and the `rollcall stats` contract: possible sessions
//! are marks outside the "not counted" category; runs of absent days count back from the as-of
//! date over school days; the rolling unauthorised count covers the last ten school weeks.

use chrono::NaiveDate;
use serde::Serialize;

use crate::register::mark::{CODES, Category, MarkCode, category_table};
use crate::register::session::{Calendar, SLOTS_PER_YEAR, Session, academic_year, slot};

/// School weeks in the penalty-notice window (national framework).
pub const ROLLING_WEEKS: usize = 10;

/// Number of distinct stored mark bytes (0 = none, then one per code).
pub const CODE_SLOTS: usize = CODES.len() + 1;

/// What is being asked: a window of dates, and the calendar that says which are school days.
#[derive(Debug, Clone)]
pub struct FactsWindow {
    pub from: NaiveDate,
    pub as_of: NaiveDate,
    /// First day of the rolling ten-school-week window (ignores `from`).
    pub rolling_start: Option<NaiveDate>,
    /// School days on or before `as_of`, newest first: the path absence runs walk.
    pub school_days_back: Vec<NaiveDate>,
    categories: [Option<Category>; 256],
    unauthorised: [bool; 256],
}

impl FactsWindow {
    pub fn new(calendar: &Calendar, from: NaiveDate, as_of: NaiveDate) -> FactsWindow {
        let days = calendar.school_days();
        let end = days.partition_point(|d| *d <= as_of);
        let categories = category_table();
        let mut unauthorised = [false; 256];
        for (byte, category) in categories.iter().enumerate() {
            unauthorised[byte] = *category == Some(Category::UnauthorisedAbsence);
        }
        FactsWindow {
            from,
            as_of,
            rolling_start: calendar.school_weeks_window_start(as_of, ROLLING_WEEKS),
            school_days_back: days[..end].iter().rev().copied().collect(),
            categories,
            unauthorised,
        }
    }

    /// The earliest academic year any figure other than the absence runs can need.
    pub fn first_year_needed(&self) -> i32 {
        let earliest = match self.rolling_start {
            Some(r) if r < self.from => r,
            _ => self.from,
        };
        academic_year(earliest.min(self.as_of))
    }
}

/// A pupil's register as loaded: enrolment dates and their years' marks, in any order.
#[derive(Debug, Clone, Copy)]
pub struct PupilRegister<'a> {
    pub admission: NaiveDate,
    pub leaving: Option<NaiveDate>,
    pub years: &'a [(i32, &'a [u8])],
    /// Years before this one were not loaded; a run reaching them is reported incomplete.
    pub loaded_from_year: i32,
}

impl PupilRegister<'_> {
    /// The stored byte for one session, if that year is loaded.
    pub fn mark(&self, date: NaiveDate, session: Session) -> Option<u8> {
        let (year, at) = slot(date, session);
        self.years
            .iter()
            .find(|(y, _)| *y == year)
            .and_then(|(_, marks)| marks.get(at).copied())
    }
}

/// One pupil's figures (the `rollcall stats` contract, plus what later stages need).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PupilFacts {
    pub possible_sessions: u32,
    pub attended_sessions: u32,
    pub authorised_absence_sessions: u32,
    pub unauthorised_absence_sessions: u32,
    pub late_sessions: u32,
    pub late_after_close_sessions: u32,
    pub illness_sessions: u32,
    pub consecutive_absent_days: u32,
    pub consecutive_unauthorised_days: u32,
    pub unauthorised_sessions_rolling_10_weeks: u32,
    /// First day of the current run of absent days, if any.
    pub absent_run_since: Option<NaiveDate>,
    pub unauthorised_run_since: Option<NaiveDate>,
    /// The runs reached years that were not loaded: load them and compute again.
    #[serde(skip)]
    pub runs_incomplete: bool,
    /// Sessions per code in the window, by stored byte (index 0 is unused).
    #[serde(skip)]
    pub code_counts: [u32; CODE_SLOTS],
}

/// No sessions at all: what every count starts from.
impl Default for PupilFacts {
    fn default() -> PupilFacts {
        PupilFacts {
            possible_sessions: 0,
            attended_sessions: 0,
            authorised_absence_sessions: 0,
            unauthorised_absence_sessions: 0,
            late_sessions: 0,
            late_after_close_sessions: 0,
            illness_sessions: 0,
            consecutive_absent_days: 0,
            consecutive_unauthorised_days: 0,
            unauthorised_sessions_rolling_10_weeks: 0,
            absent_run_since: None,
            unauthorised_run_since: None,
            runs_incomplete: false,
            code_counts: [0; CODE_SLOTS],
        }
    }
}

impl PupilFacts {
    pub fn absence_sessions(&self) -> u32 {
        self.authorised_absence_sessions + self.unauthorised_absence_sessions
    }
    pub fn attendance_pct(&self) -> f64 {
        pct(self.attended_sessions, self.possible_sessions)
    }
    pub fn absence_pct(&self) -> f64 {
        pct(self.absence_sessions(), self.possible_sessions)
    }
    /// Absence ≥ 10 % of possible sessions, compared exactly in integers.
    pub fn persistent_absence(&self) -> bool {
        self.possible_sessions > 0 && 10 * self.absence_sessions() >= self.possible_sessions
    }
    /// Absence ≥ 50 % of possible sessions.
    pub fn severe_absence(&self) -> bool {
        self.possible_sessions > 0 && 2 * self.absence_sessions() >= self.possible_sessions
    }
    /// Sessions with the given code in the window.
    pub fn count_of(&self, code: &str) -> u32 {
        MarkCode::parse_exact(code).map_or(0, |c| self.code_counts[usize::from(c.byte())])
    }
    /// `(code, sessions)` for every code used in the window, most used first.
    pub fn codes_used(&self) -> Vec<(&'static str, u32)> {
        let mut used: Vec<(&'static str, u32)> = CODES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.code_counts[i + 1] > 0)
            .map(|(i, c)| (c.code, self.code_counts[i + 1]))
            .collect();
        used.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        used
    }
}

fn pct(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * f64::from(part) / f64::from(whole)
    }
}

/// Computes one pupil's facts; `None` when they have no possible session in the window.
pub fn pupil_facts(window: &FactsWindow, register: &PupilRegister<'_>) -> Option<PupilFacts> {
    // A pupil's figures cover their own enrolment only (DOMAIN.md, "Measures").
    let enrolled_to = register
        .leaving
        .map_or(window.as_of, |l| l.min(window.as_of));
    let from = window.from.max(register.admission);
    let counts = count_codes(register, from, enrolled_to);

    let mut facts = PupilFacts {
        code_counts: counts,
        ..PupilFacts::default()
    };
    for (byte, &n) in counts.iter().enumerate() {
        match window.categories[byte] {
            Some(Category::Present | Category::ApprovedEducationalActivity) => {
                facts.attended_sessions += n;
            }
            Some(Category::AuthorisedAbsence) => facts.authorised_absence_sessions += n,
            Some(Category::UnauthorisedAbsence) => facts.unauthorised_absence_sessions += n,
            Some(Category::NotCounted) | None => continue,
        }
        facts.possible_sessions += n;
    }
    if facts.possible_sessions == 0 {
        return None;
    }
    facts.late_sessions = facts.count_of("L");
    facts.late_after_close_sessions = facts.count_of("U");
    facts.illness_sessions = facts.count_of("I");

    if let Some(start) = window.rolling_start {
        let rolling = count_codes(register, start.max(register.admission), enrolled_to);
        facts.unauthorised_sessions_rolling_10_weeks = rolling
            .iter()
            .enumerate()
            .filter(|(byte, _)| window.unauthorised[*byte])
            .map(|(_, n)| n)
            .sum();
    }

    count_runs(window, register, &mut facts);
    Some(facts)
}

/// Sessions per stored byte over `[from, to]` (clipped to the pupil's enrolment).
pub fn counts_between(register: &PupilRegister<'_>, from: NaiveDate, to: NaiveDate) -> Counts {
    let to = register.leaving.map_or(to, |l| l.min(to));
    Counts(count_codes(register, from.max(register.admission), to))
}

/// Sessions per code over some window, with the measures derived from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts(pub [u32; CODE_SLOTS]);

impl Counts {
    fn sum(&self, keep: impl Fn(Category) -> bool) -> u32 {
        let table = category_table();
        self.0
            .iter()
            .enumerate()
            .filter(|(byte, _)| table[*byte].is_some_and(&keep))
            .map(|(_, n)| n)
            .sum()
    }
    pub fn possible(&self) -> u32 {
        self.sum(Category::is_possible)
    }
    pub fn attended(&self) -> u32 {
        self.sum(Category::is_attended)
    }
    pub fn absent(&self) -> u32 {
        self.sum(Category::is_absence)
    }
    pub fn unauthorised(&self) -> u32 {
        self.sum(|c| c == Category::UnauthorisedAbsence)
    }
    /// 100 × attended ÷ possible; `None` with no possible session.
    pub fn attendance_pct(&self) -> Option<f64> {
        let possible = self.possible();
        (possible > 0).then(|| pct(self.attended(), possible))
    }
    /// Sessions whose code is in `codes`.
    pub fn of(&self, codes: &[String]) -> u32 {
        codes
            .iter()
            .filter_map(|c| MarkCode::parse_exact(c))
            .map(|c| self.0[usize::from(c.byte())])
            .sum()
    }
    /// `"N×16, O×4"` for the absence codes that occur, in the code table's order. What a
    /// firing trigger quotes for every absent pupil, so it reads the counts by their byte
    /// instead of parsing code names.
    pub fn describe_absences(&self) -> String {
        let table = category_table();
        let mut out = String::new();
        for (i, info) in CODES.iter().enumerate() {
            let n = self.0[i + 1];
            if n > 0 && table[i + 1].is_some_and(Category::is_absence) {
                if !out.is_empty() {
                    out.push_str(", ");
                }
                out.push_str(info.code);
                out.push('×');
                out.push_str(&n.to_string());
            }
        }
        out
    }
    /// `"N×16, O×4"` for the codes in `codes` that occur.
    pub fn describe(&self, codes: &[String]) -> String {
        codes
            .iter()
            .filter_map(|c| MarkCode::parse_exact(c).map(|m| (c, self.0[usize::from(m.byte())])))
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| format!("{c}×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// School days in `days` (ascending) on which every possible session was an absence.
pub fn absent_days(register: &PupilRegister<'_>, days: &[NaiveDate]) -> u32 {
    let table = category_table();
    days.iter()
        .filter(|day| {
            let mut possible = 0;
            let mut absent = 0;
            for session in [Session::Am, Session::Pm] {
                if let Some(category) = register
                    .mark(**day, session)
                    .and_then(|b| table[usize::from(b)])
                {
                    if category.is_possible() {
                        possible += 1;
                    }
                    if category.is_absence() {
                        absent += 1;
                    }
                }
            }
            possible > 0 && absent == possible
        })
        .count() as u32
}

/// The current unbroken run of sessions with `code`, counting back over `days_back`
/// (school days, newest first); sessions that are not possible are skipped. Returns the
/// number of sessions and the date the run started.
pub fn code_run(
    register: &PupilRegister<'_>,
    days_back: &[NaiveDate],
    code: MarkCode,
) -> (u32, Option<NaiveDate>) {
    let table = category_table();
    let mut run = 0;
    let mut since = None;
    for &day in days_back {
        if day < register.admission {
            break;
        }
        for session in [Session::Pm, Session::Am] {
            let byte = register.mark(day, session).unwrap_or(0);
            match table[usize::from(byte)] {
                Some(c) if c.is_possible() => {
                    if byte != code.byte() {
                        return (run, since);
                    }
                    run += 1;
                    since = Some(day);
                }
                _ => {}
            }
        }
    }
    (run, since)
}

/// The earliest `N` mark that has stayed `N` for at least `school_days` school days after
/// its date, looking at school days in `days` (ascending, up to as-of).
pub fn oldest_unresolved_n(
    register: &PupilRegister<'_>,
    days: &[NaiveDate],
    school_days: u32,
) -> Option<(NaiveDate, Session)> {
    let n = MarkCode::parse_exact("N")?.byte();
    let wait = school_days as usize;
    if days.len() <= wait {
        return None;
    }
    for &day in &days[..days.len() - wait] {
        for session in [Session::Am, Session::Pm] {
            if register.mark(day, session) == Some(n) {
                return Some((day, session));
            }
        }
    }
    None
}

/// An unbroken run of school days or sessions, with its first and last school day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Run {
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// School days the run touches.
    pub days: u32,
    /// Possible sessions in the run.
    pub sessions: u32,
}

/// The marks of one school day as categories, only for days the pupil was on roll.
fn day_categories(
    register: &PupilRegister<'_>,
    day: NaiveDate,
    table: &[Option<Category>; 256],
) -> [(u8, Option<Category>); 2] {
    [Session::Am, Session::Pm].map(|session| {
        let byte = register.mark(day, session).unwrap_or(0);
        (byte, table[usize::from(byte)])
    })
}

fn on_roll(register: &PupilRegister<'_>, day: NaiveDate) -> bool {
    day >= register.admission && register.leaving.is_none_or(|l| day <= l)
}

/// Every run of whole school days in `days` (ascending) on which every possible session was an
/// absence (with `unauthorised_only`, every one G/N/O/U), at least `min_days` long. Days with
/// no possible session neither extend nor break a run. The last run may still be going on.
pub fn absence_runs(
    register: &PupilRegister<'_>,
    days: &[NaiveDate],
    unauthorised_only: bool,
    min_days: u32,
) -> Vec<Run> {
    let table = category_table();
    let mut runs = Vec::new();
    let mut current: Option<Run> = None;
    let close = |current: &mut Option<Run>, runs: &mut Vec<Run>| {
        if let Some(run) = current.take()
            && run.days >= min_days
        {
            runs.push(run);
        }
    };
    for &day in days.iter().filter(|d| on_roll(register, **d)) {
        let mut possible = 0;
        let mut counted = 0;
        for (_, category) in day_categories(register, day, &table) {
            let Some(category) = category.filter(|c| c.is_possible()) else {
                continue;
            };
            possible += 1;
            let hit = if unauthorised_only {
                category == Category::UnauthorisedAbsence
            } else {
                category.is_absence()
            };
            counted += u32::from(hit);
        }
        if possible == 0 {
            continue;
        }
        if counted == possible {
            let run = current.get_or_insert(Run {
                start: day,
                end: day,
                days: 0,
                sessions: 0,
            });
            run.end = day;
            run.days += 1;
            run.sessions += possible;
        } else {
            close(&mut current, &mut runs);
        }
    }
    close(&mut current, &mut runs);
    runs
}

/// What a pupil's register says about illness over the school year, for the LA's sickness
/// returns (DOMAIN.md, "the 15-day return").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SicknessEpisodes {
    /// The year's illness total reached the threshold: on which school day, and the run of
    /// illness that session belonged to.
    pub cumulative: Option<CumulativeIllness>,
    /// Every unbroken run of illness that reached the threshold by itself, oldest first (the
    /// last may still be going on).
    pub runs: Vec<Run>,
    /// Illness sessions in the days looked at.
    pub total: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CumulativeIllness {
    pub reached_on: NaiveDate,
    /// The first day of the unbroken run of illness the threshold was reached in.
    pub run_start: NaiveDate,
}

impl SicknessEpisodes {
    /// The runs that need a return of their own: all but the one that triggered the
    /// cumulative return.
    pub fn consecutive_returns(&self) -> impl Iterator<Item = &Run> {
        let triggered = self.cumulative.map(|c| c.run_start);
        self.runs.iter().filter(move |r| Some(r.start) != triggered)
    }
}

/// Walks the school year's days (`days`, ascending, up to as-of) session by session: an
/// illness run is unbroken possible sessions of `I` (sessions that are not possible neither
/// extend nor break it).
pub fn sickness_episodes(
    register: &PupilRegister<'_>,
    days: &[NaiveDate],
    threshold: u32,
) -> SicknessEpisodes {
    let table = category_table();
    let Some(illness) = MarkCode::parse_exact("I").map(MarkCode::byte) else {
        return SicknessEpisodes::default();
    };
    let mut out = SicknessEpisodes::default();
    let mut run: Option<Run> = None;
    let finish = |run: &mut Option<Run>, out: &mut SicknessEpisodes| {
        if let Some(r) = run.take()
            && r.sessions >= threshold
        {
            out.runs.push(r);
        }
    };
    for &day in days.iter().filter(|d| on_roll(register, **d)) {
        for (byte, category) in day_categories(register, day, &table) {
            if !category.is_some_and(Category::is_possible) {
                continue;
            }
            if byte != illness {
                finish(&mut run, &mut out);
                continue;
            }
            out.total += 1;
            let r = run.get_or_insert(Run {
                start: day,
                end: day,
                days: 0,
                sessions: 0,
            });
            if r.days == 0 || r.end != day {
                r.days += 1;
            }
            r.end = day;
            r.sessions += 1;
            if out.total == threshold {
                out.cumulative = Some(CumulativeIllness {
                    reached_on: day,
                    run_start: r.start,
                });
            }
        }
    }
    finish(&mut run, &mut out);
    out
}

/// The first day of the pupil's current spell of a status such as persistent absence, judged
/// at the end of each school day in `days` (ascending: the school year up to as-of) from the
/// year's figures to that day. A spell ends only once the pupil has been out of the status for
/// `out_for` school days in a row (never within the year when `None`). `None` when the pupil
/// is not in the status at the end of the last day.
pub fn status_spell_start(
    register: &PupilRegister<'_>,
    days: &[NaiveDate],
    min_sessions: u32,
    in_status: impl Fn(u32, u32) -> bool,
    out_for: Option<u32>,
) -> Option<NaiveDate> {
    let table = category_table();
    let (mut possible, mut absent) = (0u32, 0u32);
    let mut spell: Option<NaiveDate> = None;
    let mut out_days = 0u32;
    let mut now_in = false;
    for &day in days.iter().filter(|d| on_roll(register, **d)) {
        for (_, category) in day_categories(register, day, &table) {
            if let Some(c) = category.filter(|c| c.is_possible()) {
                possible += 1;
                absent += u32::from(c.is_absence());
            }
        }
        now_in = possible >= min_sessions && in_status(absent, possible);
        if now_in {
            let ended = spell.is_some() && out_for.is_some_and(|n| out_days >= n);
            if spell.is_none() || ended {
                spell = Some(day);
            }
            out_days = 0;
        } else if spell.is_some() {
            out_days += 1;
        }
    }
    spell.filter(|_| now_in)
}

/// Sessions per stored byte over `[from, to]`, summed across academic years.
fn count_codes(register: &PupilRegister<'_>, from: NaiveDate, to: NaiveDate) -> [u32; CODE_SLOTS] {
    let mut counts = [0u32; CODE_SLOTS];
    if from > to {
        return counts;
    }
    let (first_year, _) = slot(from, Session::Am);
    let (last_year, _) = slot(to, Session::Pm);
    for &(year, marks) in register.years {
        if year < first_year || year > last_year {
            continue;
        }
        let lo = if year == first_year {
            slot(from, Session::Am).1
        } else {
            0
        };
        let hi = if year == last_year {
            slot(to, Session::Pm).1 + 1
        } else {
            SLOTS_PER_YEAR
        };
        let hi = hi.min(marks.len());
        if lo >= hi {
            continue;
        }
        // Four tallies, each byte to the next in turn: a register repeats the same codes
        // session after session ('/' then '\'), and with one tally every count waited for the
        // count before it to be stored.
        let mut tallies = [[0u32; CODE_SLOTS]; 4];
        let mut fours = marks[lo..hi].chunks_exact(4);
        for four in &mut fours {
            for (tally, &byte) in tallies.iter_mut().zip(four) {
                if let Some(n) = tally.get_mut(usize::from(byte)) {
                    *n += 1;
                }
            }
        }
        for &byte in fours.remainder() {
            if let Some(n) = tallies[0].get_mut(usize::from(byte)) {
                *n += 1;
            }
        }
        for tally in &tallies {
            for (count, n) in counts.iter_mut().zip(tally) {
                *count += n;
            }
        }
    }
    counts
}

/// Walks school days back from as-of: a day with no possible session is skipped, a day whose
/// possible sessions are all absences extends the absent run (all G/N/O/U: the unauthorised
/// run too), anything else ends the run.
fn count_runs(window: &FactsWindow, register: &PupilRegister<'_>, facts: &mut PupilFacts) {
    let mut absent_open = true;
    let mut unauthorised_open = true;
    for &day in &window.school_days_back {
        if !(absent_open || unauthorised_open) || day < register.admission {
            break;
        }
        if academic_year(day) < register.loaded_from_year {
            facts.runs_incomplete = true;
            break;
        }
        let mut possible = 0;
        let mut absent = 0;
        let mut unauthorised = 0;
        for session in [Session::Am, Session::Pm] {
            let byte = register.mark(day, session).unwrap_or(0);
            match window.categories[usize::from(byte)] {
                Some(Category::NotCounted) | None => {}
                Some(category) => {
                    possible += 1;
                    if category.is_absence() {
                        absent += 1;
                    }
                    if category == Category::UnauthorisedAbsence {
                        unauthorised += 1;
                    }
                }
            }
        }
        if possible == 0 {
            continue;
        }
        if absent_open {
            if absent == possible {
                facts.consecutive_absent_days += 1;
                facts.absent_run_since = Some(day);
            } else {
                absent_open = false;
            }
        }
        if unauthorised_open {
            if unauthorised == possible {
                facts.consecutive_unauthorised_days += 1;
                facts.unauthorised_run_since = Some(day);
            } else {
                unauthorised_open = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::session::DateRange;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("test date")
    }

    #[test]
    fn an_absence_summary_names_only_absence_codes_in_table_order() {
        let mut counts = Counts([0; CODE_SLOTS]);
        let mut add = |code: &str, n: u32| {
            let byte = MarkCode::parse_exact(code)
                .expect("a code of the table")
                .byte();
            counts.0[usize::from(byte)] += n;
        };
        // Present, late and not-possible codes are not absences; U comes after O in the table.
        add("/", 30);
        add("L", 2);
        add("U", 1);
        add("O", 4);
        add("I", 3);
        add("X", 6);
        assert_eq!(counts.describe_absences(), "I×3, O×4, U×1");
        let absence_codes: Vec<String> = CODES
            .iter()
            .filter(|c| c.category.is_absence())
            .map(|c| c.code.to_owned())
            .collect();
        assert_eq!(counts.describe(&absence_codes), counts.describe_absences());
        assert_eq!(Counts([0; CODE_SLOTS]).describe_absences(), "");
    }

    #[test]
    fn percentages_and_thresholds_use_exact_comparisons() {
        let mut f = pupil_facts_for(&[("2025-09-03", "/", "/")]).expect("possible");
        f.possible_sessions = 20;
        f.attended_sessions = 18;
        f.authorised_absence_sessions = 1;
        f.unauthorised_absence_sessions = 1;
        assert!(f.persistent_absence(), "2 of 20 is exactly 10 %");
        assert!(!f.severe_absence());
        assert!((f.attendance_pct() - 90.0).abs() < 1e-12);
    }

    fn pupil_facts_for(marks: &[(&str, &str, &str)]) -> Option<PupilFacts> {
        let cal = Calendar::new(
            vec![DateRange {
                name: "Autumn".into(),
                start: d("2025-09-01"),
                end: d("2025-12-19"),
            }],
            vec![],
        );
        let mut year = vec![0u8; SLOTS_PER_YEAR];
        for (date, am, pm) in marks {
            let date = d(date);
            for (session, code) in [(Session::Am, am), (Session::Pm, pm)] {
                let code = MarkCode::parse_exact(code).expect("code");
                year[slot(date, session).1] = code.byte();
            }
        }
        let years = [(2025, year.as_slice())];
        let register = PupilRegister {
            admission: d("2025-09-01"),
            leaving: None,
            years: &years,
            loaded_from_year: i32::MIN,
        };
        let window = FactsWindow::new(&cal, d("2025-09-01"), d("2025-12-19"));
        pupil_facts(&window, &register)
    }

    #[test]
    fn a_pupil_with_only_not_counted_marks_has_no_facts() {
        assert!(pupil_facts_for(&[("2025-09-03", "Z", "Z"), ("2025-09-04", "#", "#")]).is_none());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn autumn() -> Calendar {
            Calendar::new(
                vec![DateRange {
                    name: "Autumn".into(),
                    start: d("2025-09-01"),
                    end: d("2025-12-19"),
                }],
                vec![DateRange {
                    name: "Half term".into(),
                    start: d("2025-10-27"),
                    end: d("2025-10-31"),
                }],
            )
        }

        /// A random register over the autumn term: each school-day session gets any code
        /// (or none), and the window and as-of date are random too.
        fn register() -> impl Strategy<Value = (Vec<u8>, usize, usize, usize)> {
            let days = autumn().school_days().len();
            (
                proptest::collection::vec(0..=CODES.len() as u8, days * 2),
                0..days,
                0..days,
                0..days * 2,
            )
                .prop_map(move |(codes, a, b, pick)| {
                    let cal = autumn();
                    let mut year = vec![0u8; SLOTS_PER_YEAR];
                    for (i, day) in cal.school_days().iter().enumerate() {
                        year[slot(*day, Session::Am).1] = codes[2 * i];
                        year[slot(*day, Session::Pm).1] = codes[2 * i + 1];
                    }
                    (year, a.min(b), a.max(b), pick)
                })
        }

        fn facts_of(year: &[u8], from: usize, to: usize) -> Option<PupilFacts> {
            let cal = autumn();
            let days = cal.school_days();
            let years = [(2025, year)];
            let register = PupilRegister {
                admission: d("2025-09-01"),
                leaving: None,
                years: &years,
                loaded_from_year: i32::MIN,
            };
            pupil_facts(&FactsWindow::new(&cal, days[from], days[to]), &register)
        }

        proptest! {
            #[test]
            fn categories_partition_possible_sessions((year, from, to, _) in register()) {
                if let Some(f) = facts_of(&year, from, to) {
                    prop_assert_eq!(
                        f.possible_sessions,
                        f.attended_sessions + f.authorised_absence_sessions + f.unauthorised_absence_sessions
                    );
                    prop_assert!(f.possible_sessions <= 2 * (to - from + 1) as u32);
                    let pct = f.attendance_pct();
                    prop_assert!((0.0..=100.0).contains(&pct));
                    // A wholly unauthorised day is also a wholly absent day.
                    prop_assert!(f.consecutive_unauthorised_days <= f.consecutive_absent_days);
                }
            }

            #[test]
            fn a_present_mark_never_raises_absence((year, from, to, pick) in register()) {
                let cal = autumn();
                let day = cal.school_days()[pick / 2];
                let session = if pick % 2 == 0 { Session::Am } else { Session::Pm };
                let present = MarkCode::parse_exact("/").expect("present").byte();
                let mut better = year.clone();
                better[slot(day, session).1] = present;
                let before = facts_of(&year, from, to);
                let after = facts_of(&better, from, to);
                if let (Some(b), Some(a)) = (&before, &after) {
                    prop_assert!(a.absence_sessions() <= b.absence_sessions());
                    prop_assert!(a.consecutive_absent_days <= b.consecutive_absent_days);
                    prop_assert!(a.consecutive_unauthorised_days <= b.consecutive_unauthorised_days);
                    prop_assert!(a.unauthorised_sessions_rolling_10_weeks <= b.unauthorised_sessions_rolling_10_weeks);
                    prop_assert!(a.attendance_pct() >= b.attendance_pct() - 1e-9);
                }
                if before.is_some() {
                    prop_assert!(after.is_some(), "a present mark keeps the pupil in the window");
                }
            }
        }
    }
}
