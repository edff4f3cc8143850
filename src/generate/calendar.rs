//! England's term and holiday dates, so any academic year generates without a config file.

use chrono::{Datelike, Days, NaiveDate, Weekday};

use super::SCHOOL_DAYS;
use crate::register::session::{Calendar, DateRange};

// ---------------------------------------------------------------------------------------------
// Calendar
// ---------------------------------------------------------------------------------------------

/// England-style term dates for academic year `year` with exactly 190 school days.
///
/// Returns `(terms, holidays)`. Autumn starts on the first Wednesday on or after 2 September and
/// ends on the last Friday on or before 20 December, with half term in the last full week of
/// October. Spring runs from the first Monday on or after 4 January (an INSET day) to the last
/// Friday of March, with half term in the week of the third Monday of February. Summer starts on
/// the second Monday of April (later if that would leave less than two weeks at Easter), has
/// the early May bank holiday and half term in the week of the last Monday of May, and ends on
/// whichever day makes the year 190 school days. Good Friday and Easter Monday are holidays
/// when Easter falls inside a term.
///
/// In the rare years when those rules would push the summer term past 31 July (2010, 2021 and
/// 2032 among them: 2 September a Thursday, 4 January a Tuesday, Easter in the summer term),
/// autumn and spring start on the first weekday on or after 2 September and 4 January instead,
/// as schools did in those years.
///
/// # Panics
/// If the year is outside chrono's date range.
pub fn england_calendar(year: i32) -> (Vec<DateRange>, Vec<DateRange>) {
    term_dates(year, false)
        .or_else(|| term_dates(year, true))
        .unwrap_or_else(|| panic!("no 190-day calendar for {year} ends by 31 July"))
}

/// The calendar by the rules of [`england_calendar`], or `None` if it runs past July.
pub(super) fn term_dates(
    year: i32,
    weekday_starts: bool,
) -> Option<(Vec<DateRange>, Vec<DateRange>)> {
    let next = year + 1;
    let (autumn_start, spring_start) = if weekday_starts {
        (
            weekday_on_or_after(ymd(year, 9, 2)),
            weekday_on_or_after(ymd(next, 1, 4)),
        )
    } else {
        (
            on_or_after(ymd(year, 9, 2), Weekday::Wed),
            on_or_after(ymd(next, 1, 4), Weekday::Mon),
        )
    };
    let autumn_end = on_or_before(ymd(year, 12, 20), Weekday::Fri);
    let spring_end = on_or_before(ymd(next, 3, 31), Weekday::Fri);
    // Every English LA gives two clear weeks at Easter; with spring ending on 31 March the
    // second Monday of April would leave only one.
    let summer_start = nth_weekday(next, 4, Weekday::Mon, 2).max(spring_end + Days::new(17));
    let july_end = ymd(next, 7, 31);

    let week = |monday: NaiveDate, name: &str| range(name, monday, monday + Days::new(4));
    let early_may = nth_weekday(next, 5, Weekday::Mon, 1);
    let mut holidays = vec![
        week(
            on_or_before(ymd(year, 10, 27), Weekday::Mon),
            "Autumn half term",
        ),
        range("INSET day", spring_start, spring_start),
        week(nth_weekday(next, 2, Weekday::Mon, 3), "Spring half term"),
        range("Early May bank holiday", early_may, early_may),
        week(
            on_or_before(ymd(next, 5, 31), Weekday::Mon),
            "Summer half term",
        ),
    ];
    // Easter moves by a month; the term dates above do not, so its bank holidays sometimes land
    // in term and must not count as school days.
    let easter = easter_sunday(next);
    for (date, name) in [
        (easter - Days::new(2), "Good Friday"),
        (easter + Days::new(1), "Easter Monday"),
    ] {
        let in_term = (spring_start..=spring_end).contains(&date)
            || (summer_start..=july_end).contains(&date);
        if in_term {
            holidays.push(range(name, date, date));
        }
    }
    holidays.sort_by_key(|h| h.start);

    let mut terms = vec![
        range(&format!("Autumn {year}"), autumn_start, autumn_end),
        range(&format!("Spring {next}"), spring_start, spring_end),
    ];
    let before_summer = Calendar::new(terms.clone(), holidays.clone())
        .school_days()
        .len();
    let mut needed = SCHOOL_DAYS.checked_sub(before_summer)?;
    let mut summer_end = summer_start;
    loop {
        if summer_end > july_end {
            return None;
        }
        let weekday = !matches!(summer_end.weekday(), Weekday::Sat | Weekday::Sun);
        if weekday && !holidays.iter().any(|h| h.contains(summer_end)) {
            needed -= 1;
            if needed == 0 {
                break;
            }
        }
        summer_end = summer_end + Days::new(1);
    }
    terms.push(range(&format!("Summer {next}"), summer_start, summer_end));
    Some((terms, holidays))
}

pub(super) fn range(name: &str, start: NaiveDate, end: NaiveDate) -> DateRange {
    DateRange {
        name: name.to_owned(),
        start,
        end,
    }
}

pub(super) fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day)
        .unwrap_or_else(|| panic!("{year}-{month:02}-{day:02} is outside chrono's date range"))
}

pub(super) fn on_or_after(date: NaiveDate, weekday: Weekday) -> NaiveDate {
    let ahead = (7 + weekday.num_days_from_monday() - date.weekday().num_days_from_monday()) % 7;
    date + Days::new(u64::from(ahead))
}

pub(super) fn on_or_before(date: NaiveDate, weekday: Weekday) -> NaiveDate {
    let back = (7 + date.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
    date - Days::new(u64::from(back))
}

pub(super) fn weekday_on_or_after(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date + Days::new(2),
        Weekday::Sun => date + Days::new(1),
        _ => date,
    }
}

pub(super) fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u64) -> NaiveDate {
    on_or_after(ymd(year, month, 1), weekday) + Days::new(7 * (n - 1))
}

/// Easter Sunday in the Gregorian calendar (the anonymous "Meeus/Jones/Butcher" algorithm).
pub(super) fn easter_sunday(year: i32) -> NaiveDate {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let (d, e) = (b / 4, b % 4);
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(year, month as u32, day as u32)
}
