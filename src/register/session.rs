//! Sessions and the school calendar: which days are school days, school weeks, and where a
//! (date, session) lives in a pupil's stored register year.

use std::fmt;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// AM or PM: every statistic counts sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Session {
    #[serde(rename = "AM")]
    Am,
    #[serde(rename = "PM")]
    Pm,
}

impl Session {
    pub fn parse(text: &str) -> Option<Session> {
        match text.trim() {
            "AM" | "am" | "Am" => Some(Session::Am),
            "PM" | "pm" | "Pm" => Some(Session::Pm),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Session::Am => "AM",
            Session::Pm => "PM",
        }
    }
    fn offset(self) -> usize {
        match self {
            Session::Am => 0,
            Session::Pm => 1,
        }
    }
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A register is stored one row per pupil per academic year (1 August to 31 July), one byte per
/// calendar day and session. Indexing by calendar day keeps slots stable when a calendar is
/// corrected; weekend and holiday slots simply stay empty.
pub const SLOTS_PER_YEAR: usize = 366 * 2;

/// A set of slots of one register year.
#[derive(Debug, Clone, Default)]
pub struct SlotSet([u64; SLOTS_PER_YEAR.div_ceil(64)]);

impl SlotSet {
    pub fn insert(&mut self, slot: usize) {
        if let Some(word) = self.0.get_mut(slot / 64) {
            *word |= 1 << (slot % 64);
        }
    }
    pub fn contains(&self, slot: usize) -> bool {
        self.0
            .get(slot / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }
}

/// The academic year a date belongs to, named by the calendar year it starts in.
pub fn academic_year(date: NaiveDate) -> i32 {
    if date.month() >= 8 {
        date.year()
    } else {
        date.year() - 1
    }
}

pub fn academic_year_start(year: i32) -> NaiveDate {
    // 1 August exists in every year chrono supports.
    NaiveDate::from_ymd_opt(year, 8, 1).unwrap_or(NaiveDate::MIN)
}

/// Where a session lives: (academic year, slot within that year's row).
pub fn slot(date: NaiveDate, session: Session) -> (i32, usize) {
    (
        academic_year(date),
        day_of_academic_year(date) * 2 + session.offset(),
    )
}

/// Days since 1 August of the date's academic year, from its day of the calendar year. The
/// engine asks this for every session of every pupil it reads a mark of: through chrono's date
/// subtraction it was a sixth of a full pass at 100,000 pupils.
fn day_of_academic_year(date: NaiveDate) -> usize {
    // 1 August is day 212 of a year counted from 0 (213 in a leap year); 1 August to
    // 31 December is 153 days.
    let ordinal0 = date.ordinal0() as usize;
    if date.month() >= 8 {
        ordinal0 - 212 - usize::from(date.leap_year())
    } else {
        153 + ordinal0
    }
}

/// The date and session a slot stands for.
pub fn slot_date(year: i32, slot: usize) -> (NaiveDate, Session) {
    let date = academic_year_start(year) + Days::new((slot / 2) as u64);
    let session = if slot.is_multiple_of(2) {
        Session::Am
    } else {
        Session::Pm
    };
    (date, session)
}

/// A named date range, inclusive at both ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateRange {
    pub name: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl DateRange {
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.start <= date && date <= self.end
    }
}

/// A school's calendar: terms, and holidays inside them (half terms, INSET days, bank holidays).
/// A school day is a Monday–Friday inside a term and not inside a holiday.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    terms: Vec<DateRange>,
    holidays: Vec<DateRange>,
    school_days: Vec<NaiveDate>,
}

impl Calendar {
    pub fn new(mut terms: Vec<DateRange>, holidays: Vec<DateRange>) -> Calendar {
        terms.sort_by_key(|t| t.start);
        let mut school_days = Vec::new();
        for term in &terms {
            for date in term.start.iter_days().take_while(|d| *d <= term.end) {
                let weekday = !matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
                if weekday && !holidays.iter().any(|h| h.contains(date)) {
                    school_days.push(date);
                }
            }
        }
        school_days.sort();
        school_days.dedup();
        Calendar {
            terms,
            holidays,
            school_days,
        }
    }

    pub fn terms(&self) -> &[DateRange] {
        &self.terms
    }
    pub fn holidays(&self) -> &[DateRange] {
        &self.holidays
    }

    /// All school days, ascending.
    pub fn school_days(&self) -> &[NaiveDate] {
        &self.school_days
    }

    pub fn is_school_day(&self, date: NaiveDate) -> bool {
        self.school_days.binary_search(&date).is_ok()
    }

    /// School days in `[from, to]`, ascending.
    pub fn school_days_between(&self, from: NaiveDate, to: NaiveDate) -> &[NaiveDate] {
        let lo = self.school_days.partition_point(|d| *d < from);
        let hi = self.school_days.partition_point(|d| *d <= to);
        if lo >= hi {
            &[]
        } else {
            &self.school_days[lo..hi]
        }
    }

    pub fn term_containing(&self, date: NaiveDate) -> Option<&DateRange> {
        self.terms.iter().find(|t| t.contains(date))
    }

    /// Why a date is not a school day, for error messages.
    pub fn why_not_school_day(&self, date: NaiveDate) -> String {
        if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            return format!("{date} is a {}", date.format("%A"));
        }
        if let Some(h) = self.holidays.iter().find(|h| h.contains(date)) {
            return format!("{date} is in the holiday \"{}\"", h.name);
        }
        if self.term_containing(date).is_none() {
            return format!("{date} is not inside any term in the calendar");
        }
        format!("{date} is not a school day")
    }

    /// The first day (a Monday) of the window made of the `weeks` most recent school weeks
    /// whose Monday is on or before `as_of`'s Monday. A school week is a Monday–Sunday week
    /// containing at least one school day; the as-of week counts if it is one, even when its
    /// school days fall after `as_of`. With fewer school weeks on record, the earliest one.
    pub fn school_weeks_window_start(&self, as_of: NaiveDate, weeks: usize) -> Option<NaiveDate> {
        // Weeks are compared by number: the engine asks this for every pupil, and chrono's
        // date arithmetic in `monday_of` was most of its cost.
        let newest_week = week_number(as_of);
        let end = self
            .school_days
            .partition_point(|d| week_number(*d) <= newest_week);
        let mut seen = 0;
        let mut last: Option<(i32, NaiveDate)> = None;
        for day in self.school_days[..end].iter().rev() {
            let week = week_number(*day);
            if last.is_none_or(|(w, _)| w != week) {
                seen += 1;
                last = Some((week, *day));
                if seen == weeks {
                    break;
                }
            }
        }
        last.map(|(_, day)| monday_of(day))
    }
}

/// The Monday–Sunday week `date` falls in, as a number: weeks since Monday 1 January of the
/// year 1, whose `num_days_from_ce` is 1.
fn week_number(date: NaiveDate) -> i32 {
    (date.num_days_from_ce() - 1).div_euclid(7)
}

/// A date in the form rollcall stores (`2025-09-03`), read without chrono's general parser:
/// loading 100,000 pupils reads 200,000 of them, and the parser was a sixth of building a
/// pupil. `None` for anything else, which callers give to chrono for its answer or its error.
pub fn stored_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(number(&b[..4])?).ok()?;
    NaiveDate::from_ymd_opt(year, number(&b[5..7])?, number(&b[8..])?)
}

pub fn monday_of(date: NaiveDate) -> NaiveDate {
    date - Days::new(u64::from(date.weekday().num_days_from_monday()))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_stored_date_reads_as_chrono_reads_it() {
        let mut date = d("1999-01-01");
        while date < d("2041-01-01") {
            let text = date.to_string();
            assert_eq!(stored_date(&text), Some(date), "{text}");
            date = date + Days::new(1);
        }
        for text in [
            "2025-02-29",
            "2024-02-30",
            "2025-13-01",
            "2025-00-10",
            "2025-01-00",
            "2025-1-01",
            "2025-01-1 ",
            "+2025-01-01",
            "2025/01/01",
            "abcd-ef-gh",
            "２０２５-01-01",
            "",
            "0000-01-01",
        ] {
            // What a caller ends with: the fast answer, else chrono's.
            let read = stored_date(text).or_else(|| text.parse::<NaiveDate>().ok());
            assert_eq!(read, text.parse::<NaiveDate>().ok(), "{text:?}");
        }
    }

    #[test]
    fn a_week_number_changes_on_mondays_only() {
        let mut date = d("1999-12-27");
        assert_eq!(date.weekday(), Weekday::Mon);
        let mut monday = date;
        for _ in 0..3_000 {
            if date.weekday() == Weekday::Mon {
                monday = date;
            }
            assert_eq!(week_number(date), week_number(monday), "{date}");
            assert_eq!(monday_of(date), monday, "{date}");
            let next = date + Days::new(1);
            assert_eq!(
                week_number(next) - week_number(date),
                i32::from(next.weekday() == Weekday::Mon),
                "{date}"
            );
            date = next;
        }
    }

    #[test]
    fn a_slot_counts_the_days_from_the_first_of_august() {
        // Every day of three centuries, against date subtraction.
        let mut date = NaiveDate::from_ymd_opt(1900, 1, 1).expect("date");
        let last = NaiveDate::from_ymd_opt(2200, 12, 31).expect("date");
        while date <= last {
            let year = academic_year(date);
            let days = (date - academic_year_start(year)).num_days() as usize;
            assert_eq!(slot(date, Session::Am), (year, 2 * days), "{date}");
            assert_eq!(slot(date, Session::Pm), (year, 2 * days + 1), "{date}");
            date = date.succ_opt().expect("date");
        }
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("test date")
    }

    fn autumn_2025() -> Calendar {
        Calendar::new(
            vec![DateRange {
                name: "Autumn 2025".into(),
                start: d("2025-09-03"),
                end: d("2025-12-19"),
            }],
            vec![DateRange {
                name: "Autumn half term".into(),
                start: d("2025-10-27"),
                end: d("2025-10-31"),
            }],
        )
    }

    #[test]
    fn school_days_skip_weekends_and_holidays() {
        let cal = autumn_2025();
        // Sep 3 (Wed) .. Dec 19 (Fri): 15 full weeks + Wed–Fri of the first = 78 weekdays,
        // less the five half-term days.
        assert_eq!(cal.school_days().len(), 3 + 15 * 5 - 5);
        assert!(cal.is_school_day(d("2025-09-03")));
        assert!(!cal.is_school_day(d("2025-09-06")));
        assert!(!cal.is_school_day(d("2025-10-29")));
        assert!(!cal.is_school_day(d("2025-09-02")));
        assert!(
            cal.why_not_school_day(d("2025-10-29"))
                .contains("Autumn half term")
        );
    }

    #[test]
    fn slots_are_stable_and_invertible() {
        assert_eq!(slot(d("2025-08-01"), Session::Am), (2025, 0));
        assert_eq!(slot(d("2025-08-01"), Session::Pm), (2025, 1));
        assert_eq!(slot(d("2026-07-31"), Session::Pm), (2025, 729));
        // 2028 is a leap year: 31 July 2028 is day 365 of the academic year 2027.
        assert_eq!(slot(d("2028-07-31"), Session::Pm), (2027, 731));
        // Slot 77 is day 38 after 1 August, PM.
        assert_eq!(slot_date(2025, 77), (d("2025-09-08"), Session::Pm));
    }

    #[test]
    fn school_weeks_window_skips_half_term_weeks() {
        let cal = autumn_2025();
        // As of Fri 14 Nov: weeks of 10 Nov, 3 Nov, (half term skipped), 20 Oct, 13 Oct, 6 Oct,
        // 29 Sep, 22 Sep, 15 Sep, 8 Sep, 1 Sep -> the tenth is the week of 1 Sep.
        assert_eq!(
            cal.school_weeks_window_start(d("2025-11-14"), 10),
            Some(d("2025-09-01"))
        );
        // Saturday as-of: its own week (Mon 17 Nov) has school days, so it is the newest and
        // the two-week window starts on Mon 10 Nov.
        assert_eq!(
            cal.school_weeks_window_start(d("2025-11-22"), 2),
            Some(d("2025-11-10"))
        );
        // As-of in half term: the newest school week is the one before it.
        assert_eq!(
            cal.school_weeks_window_start(d("2025-10-29"), 1),
            Some(d("2025-10-20"))
        );
    }
}
