//! Demo data: a deterministic, realistic register for one school and one academic year.
//!
//! Everything is drawn from ChaCha8 streams keyed by (seed, purpose, index), so a pupil's
//! attributes and marks depend only on the seed and the pupil's position, never on how many
//! random numbers earlier pupils happened to use. That keeps output byte-identical per seed and
//! lets marks be streamed pupil by pupil without holding the whole register in memory.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result, ensure};
use chrono::{Datelike, Days, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::register::pupil::{Sen, Upn};
use crate::register::session::{Calendar, DateRange};

/// Schools must meet for 380 sessions a year (DOMAIN.md).
const SCHOOL_DAYS: usize = 190;

/// Establishment numbers 2000..=9999 times 1000 serials: beyond this UPNs would repeat.
const MAX_PUPILS: usize = 8_000 * 1_000;

/// Above this many pupils the school is treated as all-through (R to 11), which keeps year
/// groups a believable size for the large benchmark runs.
const PRIMARY_MAX_PUPILS: usize = 3_000;

const YEAR_LABELS: [&str; 12] = ["R", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"];

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    pub pupils: usize,
    pub seed: u64,
    /// Academic year, named by the calendar year it starts in (2025 = Sept 2025 to July 2026).
    pub year: i32,
    pub school_name: String,
    /// Six digits.
    pub urn: String,
    /// Three digits; also the first three digits of every UPN.
    pub la_code: String,
    /// The policy the school runs (`policy = "…"`), and the register closes its text names.
    pub policy: Option<String>,
    pub register_closes: Option<(String, String)>,
}

impl GenerateOptions {
    pub fn new(pupils: usize, seed: u64, year: i32) -> Self {
        GenerateOptions {
            pupils,
            seed,
            year,
            school_name: "Rollcall Demo Primary".to_owned(),
            urn: "100001".to_owned(),
            la_code: "886".to_owned(),
            policy: None,
            register_closes: None,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSummary {
    pub pupils: usize,
    pub contacts: usize,
    /// Rows of marks.csv (two per pupil per school day on the register).
    pub marks: u64,
    pub first_school_day: NaiveDate,
    pub last_school_day: NaiveDate,
    pub school_days: usize,
}

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
fn term_dates(year: i32, weekday_starts: bool) -> Option<(Vec<DateRange>, Vec<DateRange>)> {
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

fn range(name: &str, start: NaiveDate, end: NaiveDate) -> DateRange {
    DateRange {
        name: name.to_owned(),
        start,
        end,
    }
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day)
        .unwrap_or_else(|| panic!("{year}-{month:02}-{day:02} is outside chrono's date range"))
}

fn on_or_after(date: NaiveDate, weekday: Weekday) -> NaiveDate {
    let ahead = (7 + weekday.num_days_from_monday() - date.weekday().num_days_from_monday()) % 7;
    date + Days::new(u64::from(ahead))
}

fn on_or_before(date: NaiveDate, weekday: Weekday) -> NaiveDate {
    let back = (7 + date.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
    date - Days::new(u64::from(back))
}

fn weekday_on_or_after(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date + Days::new(2),
        Weekday::Sun => date + Days::new(1),
        _ => date,
    }
}

fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u64) -> NaiveDate {
    on_or_after(ymd(year, month, 1), weekday) + Days::new(7 * (n - 1))
}

/// Easter Sunday in the Gregorian calendar (the anonymous "Meeus/Jones/Butcher" algorithm).
fn easter_sunday(year: i32) -> NaiveDate {
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

// ---------------------------------------------------------------------------------------------
// Random streams and small helpers
// ---------------------------------------------------------------------------------------------

/// Purposes of independent random streams; changing how one is used must not shift the others.
#[derive(Clone, Copy)]
#[repr(u64)]
enum Stream {
    School = 1,
    Class = 2,
    Pupil = 3,
    Sibling = 4,
    Family = 5,
    Marks = 6,
}

fn rng_for(seed: u64, stream: Stream, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&(stream as u64).to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    key[24..].copy_from_slice(b"rollcall");
    ChaCha8Rng::from_seed(key)
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// Draws from a non-empty table of (value, weight).
fn weighted<T: Copy>(rng: &mut ChaCha8Rng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|&(_, w)| w).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for &(item, w) in table {
        if roll < w {
            return item;
        }
        roll -= w;
    }
    table[table.len() - 1].0
}

// ---------------------------------------------------------------------------------------------
// The school: days, closures, classes, visits
// ---------------------------------------------------------------------------------------------

/// Year groups and registration classes. Pupils are numbered year group by year group and
/// class by class, so the files read like an MIS export.
struct Layout {
    pupils: usize,
    groups: usize,
    classes: Vec<usize>,
    class_offset: Vec<usize>,
}

impl Layout {
    fn new(pupils: usize) -> Layout {
        let groups = if pupils <= PRIMARY_MAX_PUPILS { 7 } else { 12 };
        let mut layout = Layout {
            pupils,
            groups,
            classes: Vec::with_capacity(groups),
            class_offset: Vec::with_capacity(groups),
        };
        let mut offset = 0;
        for g in 0..groups {
            // About 30 to a class, so a year group of 60 has two.
            let classes = ((layout.size(g) + 15) / 30).max(1);
            layout.classes.push(classes);
            layout.class_offset.push(offset);
            offset += classes;
        }
        layout
    }

    fn start(&self, group: usize) -> usize {
        (group * self.pupils).div_ceil(self.groups)
    }

    fn size(&self, group: usize) -> usize {
        self.start(group + 1) - self.start(group)
    }

    fn group_of(&self, pupil: usize) -> usize {
        pupil * self.groups / self.pupils
    }

    fn total_classes(&self) -> usize {
        self.class_offset.last().copied().unwrap_or(0) + self.classes.last().copied().unwrap_or(0)
    }

    /// (year group, class within it, class number across the school)
    fn class_of(&self, pupil: usize) -> (usize, usize, usize) {
        let group = self.group_of(pupil);
        let position = pupil - self.start(group);
        let class = position * self.classes[group] / self.size(group).max(1);
        (group, class, self.class_offset[group] + class)
    }
}

/// Class letters A..Z, then AA, AB, ... (bijective base 26) so names never collide.
fn class_letters(mut index: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

struct School {
    year: i32,
    days: Vec<NaiveDate>,
    day_text: Vec<[u8; 10]>,
    /// Whole-school closure on each day, if any.
    closure: Vec<Option<Code>>,
    /// First school days after a break and last ones before, where families tack on holidays.
    after_break: Vec<usize>,
    before_break: Vec<usize>,
    terms: usize,
    /// One educational visit day per class per term: `visits[class * terms + term]`.
    visits: Vec<usize>,
}

impl School {
    fn new(seed: u64, year: i32, calendar: &Calendar, layout: &Layout) -> School {
        let days = calendar.school_days().to_vec();
        let n = days.len();
        let day_text = days
            .iter()
            .map(|d| {
                let mut text = [0u8; 10];
                text.copy_from_slice(d.format("%Y-%m-%d").to_string().as_bytes());
                text
            })
            .collect();

        let mut rng = rng_for(seed, Stream::School, 0);
        let mut closure = vec![None; n];
        // Snow or a heating failure: any school day in January or February.
        let winter: Vec<usize> = (0..n)
            .filter(|&i| matches!(days[i].month(), 1 | 2))
            .collect();
        if !winter.is_empty() {
            closure[pick(&mut rng, &winter)] = Some(Code::Closed);
        }
        // Schools used as polling stations close on local election day, the first Thursday
        // in May; if that is not a school day any summer day will do.
        let polling = on_or_after(ymd(year + 1, 5, 1), Weekday::Thu);
        let summer: Vec<usize> = (0..n)
            .filter(|&i| days[i].month() >= 4 && days[i].month() <= 7)
            .collect();
        let planned = days
            .binary_search(&polling)
            .ok()
            .or_else(|| (!summer.is_empty()).then(|| pick(&mut rng, &summer)));
        if let Some(i) = planned {
            closure[i] = Some(Code::PlannedClosure);
        }

        let mut after_break = vec![0];
        let mut before_break = Vec::new();
        for i in 1..n {
            if (days[i] - days[i - 1]).num_days() > 3 {
                after_break.push(i);
                before_break.push(i - 1);
            }
        }
        before_break.push(n.saturating_sub(1));

        // Trips are not booked for the settling-in days at the start of a term.
        let term_days: Vec<Vec<usize>> = calendar
            .terms()
            .iter()
            .map(|t| {
                let in_term: Vec<usize> = (0..n)
                    .filter(|&i| t.contains(days[i]) && closure[i].is_none())
                    .collect();
                let settled = in_term.get(5..).filter(|rest| !rest.is_empty());
                settled.unwrap_or(&in_term).to_vec()
            })
            .collect();
        let terms = term_days.len();
        let mut visits = Vec::with_capacity(layout.total_classes() * terms);
        for class in 0..layout.total_classes() {
            let mut rng = rng_for(seed, Stream::Class, class as u64);
            for days in &term_days {
                visits.push(if days.is_empty() {
                    usize::MAX
                } else {
                    pick(&mut rng, days)
                });
            }
        }

        School {
            year,
            days,
            day_text,
            closure,
            after_break,
            before_break,
            terms,
            visits,
        }
    }

    fn len(&self) -> usize {
        self.days.len()
    }
}

// ---------------------------------------------------------------------------------------------
// People
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Heritage {
    British,
    Irish,
    EastEuropean,
    SouthAsianMuslim,
    Indian,
    African,
    Chinese,
    MiddleEastern,
}

/// DfE ethnicity codes weighted roughly like state primary schools in England.
const ETHNICITIES: &[((&str, Heritage), u32)] = &[
    (("WBRI", Heritage::British), 590),
    (("WIRI", Heritage::Irish), 4),
    (("WOTH", Heritage::EastEuropean), 75),
    (("WROM", Heritage::EastEuropean), 6),
    (("MWBC", Heritage::British), 18),
    (("MWBA", Heritage::British), 10),
    (("MWAS", Heritage::British), 20),
    (("MOTH", Heritage::British), 25),
    (("AIND", Heritage::Indian), 35),
    (("APKN", Heritage::SouthAsianMuslim), 45),
    (("ABAN", Heritage::SouthAsianMuslim), 20),
    (("AOTH", Heritage::MiddleEastern), 20),
    (("BCRB", Heritage::British), 7),
    (("BAFR", Heritage::African), 45),
    (("BOTH", Heritage::African), 8),
    (("CHNE", Heritage::Chinese), 6),
    (("OOTH", Heritage::MiddleEastern), 22),
    (("REFU", Heritage::British), 8),
    (("NOBT", Heritage::British), 6),
];

struct NamePool {
    boys: &'static [&'static str],
    girls: &'static [&'static str],
    surnames: &'static [&'static str],
    /// Chance that a child of this heritage speaks English as an additional language; tuned
    /// so the school overall is about 20% EAL.
    eal: f64,
}

const BRITISH: NamePool = NamePool {
    boys: &[
        "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Oscar", "Charlie",
        "Freddie", "Theo", "Alfie", "Jacob", "Thomas", "Henry", "William", "Archie", "Joshua",
        "James", "Lucas", "Isaac", "Edward", "Max", "Samuel", "Joseph", "Reggie", "Teddy",
        "Finley", "Harrison", "Ethan", "Logan", "Dylan", "Riley", "Tommy", "Albie", "Jayden",
    ],
    girls: &[
        "Olivia",
        "Amelia",
        "Isla",
        "Ava",
        "Lily",
        "Freya",
        "Ivy",
        "Florence",
        "Mia",
        "Sophia",
        "Grace",
        "Willow",
        "Rosie",
        "Evie",
        "Poppy",
        "Ella",
        "Isabella",
        "Daisy",
        "Sienna",
        "Evelyn",
        "Phoebe",
        "Elsie",
        "Harper",
        "Matilda",
        "Emily",
        "Ruby",
        "Millie",
        "Erin",
        "Chloe",
        "Jessica",
        "Maisie",
        "Aria",
        "Layla",
        "Ellie-Mae",
    ],
    surnames: &[
        "Smith",
        "Jones",
        "Taylor",
        "Brown",
        "Williams",
        "Wilson",
        "Johnson",
        "Davies",
        "Robinson",
        "Wright",
        "Thompson",
        "Evans",
        "Walker",
        "White",
        "Roberts",
        "Green",
        "Hall",
        "Wood",
        "Jackson",
        "Clarke",
        "Hughes",
        "Edwards",
        "Turner",
        "Hill",
        "Moore",
        "Cooper",
        "Ward",
        "Morris",
        "King",
        "Harris",
        "Baker",
        "Lewis",
        "Martin",
        "Clark",
        "Allen",
        "Mitchell",
        "Carter",
        "Phillips",
        "Parker",
        "Bennett",
        "Cook",
        "Shaw",
        "Price",
        "Bailey",
        "Fletcher",
        "Pearson",
        "Armstrong",
        "Campbell",
        "Stewart",
        "Campbell-Hughes",
        "Grant",
        "Francis",
        "Bryan",
    ],
    eal: 0.02,
};

const IRISH: NamePool = NamePool {
    boys: &[
        "Sean", "Cian", "Oisin", "Conor", "Liam", "Patrick", "Darragh", "Rory",
    ],
    girls: &[
        "Niamh", "Aoife", "Ciara", "Siobhan", "Saoirse", "Roisin", "Orla", "Grainne",
    ],
    surnames: &[
        "Murphy",
        "Kelly",
        "O'Sullivan",
        "Byrne",
        "Ryan",
        "Walsh",
        "O'Connor",
        "Doyle",
        "McCarthy",
        "O'Brien",
    ],
    eal: 0.02,
};

const EAST_EUROPEAN: NamePool = NamePool {
    boys: &[
        "Jakub", "Filip", "Oliwer", "Antoni", "Luca", "Andrei", "Matei", "David", "Nikola",
        "Szymon", "Lukas", "Mateusz", "Kacper", "Darius",
    ],
    girls: &[
        "Zuzanna",
        "Julia",
        "Maja",
        "Hanna",
        "Alexandra",
        "Maria",
        "Natalia",
        "Ioana",
        "Emilia",
        "Lena",
        "Oliwia",
        "Daria",
        "Bianca",
    ],
    surnames: &[
        "Nowak",
        "Wójcik",
        "Kaczmarek",
        "Mazur",
        "Krawczyk",
        "Popescu",
        "Ionescu",
        "Popa",
        "Dumitru",
        "Horváth",
        "Balogh",
        "Lupu",
        "Kazlauskas",
        "Bērziņš",
    ],
    eal: 0.8,
};

const SOUTH_ASIAN_MUSLIM: NamePool = NamePool {
    boys: &[
        "Muhammad", "Ayaan", "Ibrahim", "Yusuf", "Zayn", "Rayan", "Hamza", "Ali", "Omar", "Adam",
        "Musa", "Abdullah", "Zakariya", "Eesa",
    ],
    girls: &[
        "Aisha", "Maryam", "Zara", "Fatima", "Amira", "Inaya", "Hafsa", "Zainab", "Hania", "Safa",
        "Khadijah", "Anaya", "Raiya",
    ],
    surnames: &[
        "Khan",
        "Ahmed",
        "Hussain",
        "Ali",
        "Begum",
        "Rahman",
        "Islam",
        "Shah",
        "Iqbal",
        "Akhtar",
        "Mahmood",
        "Uddin",
        "Chowdhury",
        "Miah",
        "Bibi",
    ],
    eal: 0.6,
};

const INDIAN: NamePool = NamePool {
    boys: &[
        "Arjun", "Aarav", "Vihaan", "Ishaan", "Rohan", "Krish", "Dev", "Arav", "Jaskaran", "Aryan",
    ],
    girls: &[
        "Priya", "Saanvi", "Riya", "Aanya", "Diya", "Anika", "Simran", "Navneet", "Ishani", "Meera",
    ],
    surnames: &[
        "Patel", "Singh", "Kaur", "Sharma", "Gupta", "Kumar", "Mistry", "Shah", "Joshi", "Sandhu",
        "Gill",
    ],
    eal: 0.5,
};

const AFRICAN: NamePool = NamePool {
    boys: &[
        "Emmanuel",
        "David",
        "Daniel",
        "Samuel",
        "Joshua",
        "Chidi",
        "Kwame",
        "Tobi",
        "Femi",
        "Kofi",
        "Ayomide",
        "Tunde",
        "Abdirahman",
    ],
    girls: &[
        "Blessing", "Grace", "Precious", "Favour", "Adaeze", "Amara", "Chioma", "Esther", "Abena",
        "Temi", "Deborah", "Hodan",
    ],
    surnames: &[
        "Okafor", "Adeyemi", "Mensah", "Okoro", "Boateng", "Adebayo", "Ogunleye", "Asante",
        "Nwosu", "Mohamed", "Osei", "Eze", "Abdi", "Yusuf",
    ],
    eal: 0.45,
};

const CHINESE: NamePool = NamePool {
    boys: &[
        "Wei", "Jun", "Hao", "Yichen", "Ethan", "Ryan", "Jason", "Zihan",
    ],
    girls: &[
        "Mei", "Xin", "Yu", "Chloe", "Ling", "Jasmine", "Yuxi", "Hannah",
    ],
    surnames: &[
        "Wang", "Li", "Zhang", "Chen", "Liu", "Wong", "Lam", "Cheung", "Chan", "Ng",
    ],
    eal: 0.7,
};

const MIDDLE_EASTERN: NamePool = NamePool {
    boys: &[
        "Omar", "Yusuf", "Ahmad", "Karim", "Ali", "Hassan", "Mustafa", "Sami",
    ],
    girls: &[
        "Layla", "Noor", "Sara", "Mariam", "Yasmin", "Lana", "Rania", "Huda",
    ],
    surnames: &[
        "Hassan",
        "Karimi",
        "Mohammadi",
        "Rahimi",
        "Haddad",
        "Aziz",
        "Saleh",
        "Al-Sayed",
        "Ibrahim",
        "Hosseini",
    ],
    eal: 0.75,
};

fn pool(heritage: Heritage) -> &'static NamePool {
    match heritage {
        Heritage::British => &BRITISH,
        Heritage::Irish => &IRISH,
        Heritage::EastEuropean => &EAST_EUROPEAN,
        Heritage::SouthAsianMuslim => &SOUTH_ASIAN_MUSLIM,
        Heritage::Indian => &INDIAN,
        Heritage::African => &AFRICAN,
        Heritage::Chinese => &CHINESE,
        Heritage::MiddleEastern => &MIDDLE_EASTERN,
    }
}

const PARENT_WOMEN: &[&str] = &[
    "Sarah",
    "Emma",
    "Laura",
    "Rachel",
    "Claire",
    "Gemma",
    "Hannah",
    "Kelly",
    "Lisa",
    "Nicola",
    "Amy",
    "Charlotte",
    "Jade",
    "Stacey",
    "Natalie",
    "Rebecca",
    "Zoe",
    "Kirsty",
];
const PARENT_MEN: &[&str] = &[
    "Daniel",
    "James",
    "Mark",
    "Paul",
    "Matthew",
    "Christopher",
    "Andrew",
    "Lee",
    "Craig",
    "Stephen",
    "Ryan",
    "Adam",
    "Carl",
    "Jamie",
    "Gareth",
    "Wayne",
    "Liam",
    "Darren",
];
const OLDER_WOMEN: &[&str] = &[
    "Margaret",
    "Susan",
    "Linda",
    "Patricia",
    "Christine",
    "Janet",
    "Carol",
    "Jean",
    "Sandra",
];
const OLDER_MEN: &[&str] = &[
    "John", "David", "Peter", "Michael", "Robert", "Brian", "Keith", "Alan", "Graham",
];

/// Adults of British or Irish heritage get names of their own generation; for other
/// heritages the children's pools are already a plausible mix of ages.
fn adult_name(rng: &mut ChaCha8Rng, heritage: Heritage, female: bool, older: bool) -> &'static str {
    let british = matches!(heritage, Heritage::British | Heritage::Irish);
    match (british, female, older) {
        (true, true, false) => pick(rng, PARENT_WOMEN),
        (true, false, false) => pick(rng, PARENT_MEN),
        (true, true, true) => pick(rng, OLDER_WOMEN),
        (true, false, true) => pick(rng, OLDER_MEN),
        (false, true, _) => pick(rng, pool(heritage).girls),
        (false, false, _) => pick(rng, pool(heritage).boys),
    }
}

const STREETS: &[&str] = &[
    "Acacia",
    "Beech",
    "Chestnut",
    "Holly",
    "Laburnum",
    "Linden",
    "Maple",
    "Rowan",
    "Sycamore",
    "Willow",
    "Station",
    "Church",
    "Mill",
    "Victoria",
    "Albert",
    "Queens",
    "Kings",
    "Park",
    "Meadow",
    "Orchard",
    "Brook",
    "Granary",
    "Foundry",
    "Canal",
    "Coronation",
    "Jubilee",
];
const STREET_KINDS: &[&str] = &[
    "Road", "Street", "Avenue", "Close", "Lane", "Drive", "Crescent", "Way", "Gardens", "Grove",
    "Terrace", "Mews",
];
const BUILDINGS: &[&str] = &[
    "Rose Court",
    "Kestrel House",
    "Mariner Point",
    "Alder House",
    "Weavers Court",
];
const LOCALITIES: &[&str] = &[
    "Northfield",
    "Southmead",
    "Eastbrook",
    "Westcote",
    "Hillside",
    "Old Town",
    "Marsh End",
    "Greenacres",
];
/// Fictional towns with two-letter postcode areas that read like real ones.
const TOWNS: &[(&str, &str)] = &[
    ("Rollingham", "RG"),
    ("Ashby Vale", "AV"),
    ("Kingsmere", "KM"),
    ("Thornbury Green", "TG"),
    ("Millbrook", "MK"),
];
/// Letters Royal Mail uses in the inward part of a postcode (no C, I, K, M, O, V).
const INWARD_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
const EMAIL_DOMAINS: &[&str] = &["example.com", "example.org", "example.net"];

#[derive(Clone)]
struct Address {
    line_1: String,
    line_2: &'static str,
    town: &'static str,
    postcode: String,
}

fn address(rng: &mut ChaCha8Rng) -> Address {
    // Most families live in the school's own town.
    let (town, area) = if rng.random_bool(0.8) {
        TOWNS[0]
    } else {
        pick(rng, TOWNS)
    };
    let street = format!("{} {}", pick(rng, STREETS), pick(rng, STREET_KINDS));
    // Flats give address lines with commas, which is what real exports contain.
    let line_1 = if rng.random_bool(0.12) {
        format!(
            "Flat {}, {}",
            rng.random_range(1..=40),
            pick(rng, BUILDINGS)
        )
    } else {
        format!("{} {street}", rng.random_range(1..=180))
    };
    let line_2 = if line_1.starts_with("Flat") {
        // The street goes in line 2 for flats, as Royal Mail writes them.
        ""
    } else if rng.random_bool(0.4) {
        pick(rng, LOCALITIES)
    } else {
        ""
    };
    let postcode = format!(
        "{area}{} {}{}{}",
        rng.random_range(1..=24),
        rng.random_range(1..=9),
        char::from(pick(rng, INWARD_LETTERS)),
        char::from(pick(rng, INWARD_LETTERS)),
    );
    Address {
        line_1,
        line_2,
        town,
        postcode,
    }
}

struct ContactPlan {
    name: String,
    relationship: &'static str,
    email: String,
    mobile: String,
    parental_responsibility: bool,
    address: Address,
}

/// What siblings share: contacts, address, heritage, and the household-level flags.
struct Family {
    heritage: Heritage,
    ethnicity: &'static str,
    surname: &'static str,
    fsm: bool,
    eal: bool,
    lac: bool,
    contacts: Vec<ContactPlan>,
}

#[derive(Clone, Copy)]
enum Household {
    TwoParents,
    MotherOnly,
    FatherOnly,
    MotherAndStepfather,
    FatherAndStepmother,
    Grandparents,
    KinshipCarer,
}

#[derive(Clone, Copy)]
enum Extra {
    Grandmother,
    Grandfather,
    Aunt,
    Uncle,
    FamilyFriend,
    Childminder,
}

fn family(seed: u64, root: usize) -> Family {
    let mut rng = rng_for(seed, Stream::Family, root as u64);
    let (ethnicity, heritage) = weighted(&mut rng, ETHNICITIES);
    let names = pool(heritage);
    let surname = pick(&mut rng, names.surnames);
    let fsm = rng.random_bool(0.24);
    let eal = rng.random_bool(names.eal);
    let lac = rng.random_bool(0.01);
    let home = address(&mut rng);

    let wanted = weighted(&mut rng, &[(1usize, 20), (2, 50), (3, 30)]);
    let mut core: Vec<(&'static str, bool, bool, bool)> = Vec::new(); // (relationship, female, older, PR)
    if lac {
        core.push(("Foster carer", rng.random_bool(0.7), false, false));
        if rng.random_bool(0.5) {
            core.push(("Mother", true, false, true));
        }
    } else {
        let household = weighted(
            &mut rng,
            &[
                (Household::TwoParents, 55),
                (Household::MotherOnly, 24),
                (Household::FatherOnly, 4),
                (Household::MotherAndStepfather, 7),
                (Household::FatherAndStepmother, 2),
                (Household::Grandparents, 5),
                (Household::KinshipCarer, 3),
            ],
        );
        match household {
            Household::TwoParents => {
                let mother = ("Mother", true, false, true);
                let father = ("Father", false, false, true);
                if rng.random_bool(0.8) {
                    core.extend([mother, father]);
                } else {
                    core.extend([father, mother]);
                }
            }
            Household::MotherOnly => core.push(("Mother", true, false, true)),
            Household::FatherOnly => core.push(("Father", false, false, true)),
            Household::MotherAndStepfather => {
                core.extend([
                    ("Mother", true, false, true),
                    ("Stepfather", false, false, false),
                ]);
            }
            Household::FatherAndStepmother => {
                core.extend([
                    ("Father", false, false, true),
                    ("Stepmother", true, false, false),
                ]);
            }
            Household::Grandparents => {
                // Grandparents raising a child often hold a special guardianship order.
                let pr = rng.random_bool(0.4);
                core.push(("Grandparent", true, true, pr));
                if rng.random_bool(0.5) {
                    core.push(("Grandparent", false, true, pr));
                }
            }
            Household::KinshipCarer => core.push(("Carer", rng.random_bool(0.6), false, true)),
        }
    }
    core.truncate(wanted);
    while core.len() < wanted {
        let extra = weighted(
            &mut rng,
            &[
                (Extra::Grandmother, 40),
                (Extra::Grandfather, 15),
                (Extra::Aunt, 20),
                (Extra::Uncle, 10),
                (Extra::FamilyFriend, 10),
                (Extra::Childminder, 5),
            ],
        );
        core.push(match extra {
            Extra::Grandmother => ("Grandparent", true, true, rng.random_bool(0.1)),
            Extra::Grandfather => ("Grandparent", false, true, rng.random_bool(0.1)),
            Extra::Aunt => ("Aunt", true, false, false),
            Extra::Uncle => ("Uncle", false, false, false),
            Extra::FamilyFriend => ("Family friend", rng.random_bool(0.7), false, false),
            Extra::Childminder => ("Childminder", rng.random_bool(0.9), false, false),
        });
    }

    let mut contacts = Vec::with_capacity(core.len());
    for (relationship, female, older, pr) in core {
        let in_household = matches!(
            relationship,
            "Mother" | "Father" | "Stepfather" | "Stepmother" | "Carer"
        ) || (relationship == "Grandparent" && pr);
        let shares_surname = match relationship {
            "Father" | "Carer" => rng.random_bool(0.9),
            "Mother" => rng.random_bool(0.8),
            "Foster carer" | "Family friend" | "Childminder" => false,
            _ => rng.random_bool(0.5),
        };
        let their_surname = if shares_surname {
            surname
        } else {
            pick(&mut rng, pool(heritage).surnames)
        };
        let forename = adult_name(&mut rng, heritage, female, older);
        let name = format!("{forename} {their_surname}");
        let email_chance = if in_household { 0.85 } else { 0.5 };
        let email = if rng.random_bool(email_chance) {
            let number = if rng.random_bool(0.4) {
                rng.random_range(1..=99).to_string()
            } else {
                String::new()
            };
            format!(
                "{}.{}{number}@{}",
                email_part(forename),
                email_part(their_surname),
                pick(&mut rng, EMAIL_DOMAINS)
            )
        } else {
            String::new()
        };
        // Ofcom's drama range: numbers that will never ring a real phone.
        let mobile = if rng.random_bool(if older { 0.8 } else { 0.93 }) {
            format!("07700900{:03}", rng.random_range(0..1000))
        } else {
            String::new()
        };
        let address = if in_household || rng.random_bool(0.3) {
            home.clone()
        } else {
            address(&mut rng)
        };
        contacts.push(ContactPlan {
            name,
            relationship,
            email,
            mobile,
            parental_responsibility: pr,
            address,
        });
    }

    Family {
        heritage,
        ethnicity,
        surname,
        fsm,
        eal,
        lac,
        contacts,
    }
}

/// Lowercase ASCII for an email local part; folds the accented letters the name pools use.
fn email_part(name: &str) -> String {
    name.chars()
        .filter_map(|c| {
            let folded = match c {
                'ó' | 'ò' | 'ö' => 'o',
                'á' | 'à' | 'ä' => 'a',
                'é' | 'ē' | 'è' => 'e',
                'ī' | 'í' => 'i',
                'ņ' | 'ń' => 'n',
                'š' | 'ś' => 's',
                'ž' | 'ż' => 'z',
                'ł' => 'l',
                other => other,
            };
            folded
                .is_ascii_alphanumeric()
                .then(|| folded.to_ascii_lowercase())
        })
        .collect()
}

struct PupilPlan {
    index: usize,
    upn: Upn,
    forename: &'static str,
    surname: &'static str,
    date_of_birth: NaiveDate,
    year_group: &'static str,
    reg_group: String,
    class: usize,
    gender: &'static str,
    fsm: bool,
    sen: Sen,
    eal: bool,
    ethnicity: &'static str,
    lac: bool,
    social_worker: bool,
    young_carer: bool,
    concern: bool,
    admission_date: NaiveDate,
    leaving_date: Option<NaiveDate>,
    /// First and last school-day index on roll.
    first: usize,
    last: usize,
}

/// 12 UPN digits: LA, establishment (2000 + i / 1000), 2-digit year of entry, serial.
/// Establishment and serial together are `i`, so UPNs are unique for `i < MAX_PUPILS` whatever
/// the year digits.
fn upn_for(la_code: &str, index: usize, entry_year: i32) -> Upn {
    let establishment = 2000 + (index / 1000) % 8000;
    let text = format!(
        "{la_code}{establishment:04}{:02}{:03}",
        entry_year.rem_euclid(100),
        index % 1000
    );
    let mut digits = [b'0'; 12];
    digits.copy_from_slice(&text.as_bytes()[..12]);
    Upn::from_digits(&digits)
}

/// The pupil `index` joins the family of an earlier pupil in a younger year group about
/// 7.5% of the time; with the pupil they join, that makes about 15% of pupils with a sibling.
fn family_root(seed: u64, layout: &Layout, roots: &[usize], index: usize) -> usize {
    let mut rng = rng_for(seed, Stream::Sibling, index as u64);
    let group = layout.group_of(index);
    let chance = 0.075 * layout.groups as f64 / (layout.groups - 1) as f64;
    if group == 0 || !rng.random_bool(chance) {
        return index;
    }
    let other = rng.random_range(0..group);
    let size = layout.size(other);
    if size == 0 {
        return index;
    }
    roots[layout.start(other) + rng.random_range(0..size)]
}

fn plan_pupil(
    opts: &GenerateOptions,
    school: &School,
    layout: &Layout,
    index: usize,
    family: &Family,
) -> PupilPlan {
    let mut rng = rng_for(opts.seed, Stream::Pupil, index as u64);
    let (group, class, class_id) = layout.class_of(index);
    let year = school.year;
    let g = group as i32;

    let female = rng.random_bool(0.49);
    let names = pool(family.heritage);
    let forename = pick(&mut rng, if female { names.girls } else { names.boys });
    // Born between 1 September (Y-5-g) and 31 August (Y-4-g).
    let born_from = ymd(year - 5 - g, 9, 1);
    let born_span = (ymd(year - 4 - g, 8, 31) - born_from).num_days() as u64;
    let date_of_birth = born_from + Days::new(rng.random_range(0..=born_span));

    let sen = weighted(
        &mut rng,
        &[(Sen::None, 83), (Sen::Support, 13), (Sen::EhcPlan, 4)],
    );
    // Every looked-after child has a social worker; about 2% more are children in need.
    let social_worker = family.lac || rng.random_bool(0.02);
    let young_carer = rng.random_bool(0.02);
    let concern = rng.random_bool(if family.lac || social_worker {
        0.3
    } else {
        0.03
    });

    // Secondary pupils arrive in year 7, not reception.
    let entry_year = if group >= 7 { year - (g - 7) } else { year - g };
    let n = school.len();
    let mut admission_date = ymd(entry_year, 9, 1);
    let (mut first, mut last, mut leaving_date) = (0, n - 1, None);
    let movement = rng.random_range(0..1000);
    if movement < 30 && n > 20 {
        first = rng.random_range(5..n - 10);
        admission_date = school.days[first];
    } else if movement < 50 && n > 20 {
        last = rng.random_range(10..n - 5);
        leaving_date = Some(school.days[last]);
    } else if movement < 150 && entry_year < year {
        // An in-year move in an earlier year: any weekday up to mid-July last year.
        let span = (ymd(year, 7, 15) - admission_date).num_days().max(0) as u64;
        let date = admission_date + Days::new(rng.random_range(0..=span));
        admission_date = weekday_on_or_after(date);
    }

    PupilPlan {
        index,
        upn: upn_for(&opts.la_code, index, entry_year),
        forename,
        surname: family.surname,
        date_of_birth,
        year_group: YEAR_LABELS[group],
        reg_group: format!("{}{}", YEAR_LABELS[group], class_letters(class)),
        class: class_id,
        gender: if female { "F" } else { "M" },
        fsm: family.fsm,
        sen,
        eal: family.eal,
        ethnicity: family.ethnicity,
        lac: family.lac,
        social_worker,
        young_carer,
        concern,
        admission_date,
        leaving_date,
        first,
        last,
    }
}

// ---------------------------------------------------------------------------------------------
// Marks
// ---------------------------------------------------------------------------------------------

/// The codes the generator uses; `Present` prints as `/` or `\` by session.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Code {
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
    fn text(self, pm: bool) -> &'static [u8] {
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

    fn is_absence(self) -> bool {
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

    fn is_possible(self) -> bool {
        !matches!(
            self,
            Code::Dual | Code::Closed | Code::PlannedClosure | Code::NotOnRoll
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pattern {
    Good,
    IllnessRuns,
    TermTimeHoliday,
    OftenLate,
    Persistent,
    Severe,
}

/// One pupil's year, reused across pupils so the hot loop allocates nothing.
struct Register {
    codes: Vec<[Code; 2]>,
    first: usize,
    last: usize,
    absent: usize,
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

fn choose_pattern(rng: &mut ChaCha8Rng, fsm: bool, sen: Sen) -> Pattern {
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
fn light_noise(reg: &mut Register, school: &School, rng: &mut ChaCha8Rng, cap: usize) {
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

fn target_absence(reg: &Register, attendance_permille: usize) -> usize {
    (reg.possible() * (1000 - attendance_permille)).div_ceil(1000)
}

fn persistent_absence(reg: &mut Register, school: &School, rng: &mut ChaCha8Rng) {
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

fn severe_absence(reg: &mut Register, rng: &mut ChaCha8Rng) {
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
fn term_time_holiday(reg: &mut Register, school: &School, rng: &mut ChaCha8Rng) {
    let len = rng.random_range(5..=10usize);
    let start = match weighted(rng, &[(0u8, 35), (1, 35), (2, 30)]) {
        0 => pick(rng, &school.after_break),
        1 => (pick(rng, &school.before_break) + 1).saturating_sub(len),
        _ => reg.random_day(rng),
    };
    let start = start.clamp(reg.first, reg.last);
    reg.mark_run(start, len, Code::Holiday);
}

fn plan_marks(reg: &mut Register, school: &School, pupil: &PupilPlan, seed: u64) {
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

fn write_marks(buf: &mut Vec<u8>, reg: &Register, school: &School, upn: &Upn) -> u64 {
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

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

fn yn(flag: bool) -> &'static str {
    if flag { "Y" } else { "N" }
}

/// A TOML basic string, quoted.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn config_text(opts: &GenerateOptions, terms: &[DateRange], holidays: &[DateRange]) -> String {
    let phase = if opts.pupils > PRIMARY_MAX_PUPILS {
        "secondary"
    } else {
        "primary"
    };
    let mut text = format!(
        "# Generated by rollcall's demo generator: {} pupils, seed {}, academic year {}/{}.\n\n\
         [database]\nurl = \"sqlite://rollcall.db\"\n\n\
         [school]\nname = {}\nurn = {}\nla_code = {}\nphase = \"{phase}\"\n",
        opts.pupils,
        opts.seed,
        opts.year,
        (opts.year + 1).rem_euclid(100),
        toml_string(&opts.school_name),
        toml_string(&opts.urn),
        toml_string(&opts.la_code),
    );
    if let Some(policy) = &opts.policy {
        text.push_str(&format!("policy = {}\n", toml_string(policy)));
    }
    if let Some((am, pm)) = &opts.register_closes {
        text.push_str(&format!(
            "am_register_close = {}\npm_register_close = {}\n",
            toml_string(am),
            toml_string(pm)
        ));
    }
    // Where the pretend MIS drops register exports, how families reach the school, who the
    // staff are, and a file sink so nothing is really sent.
    text.push_str(
        "inbox = \"inbox\"\n\n\
         [school.contact]\n\
         phone = \"01632 960000\"\n\
         email = \"office@demo-school.example\"\n\
         address = [\"1 School Lane\", \"Exampleton\", \"EX1 2AB\"]\n\
         signatory = \"Sam Patel\"\n\
         signatory_role = \"Attendance Officer\"\n\n\
         [school.staff]\n\
         attendance_officer = \"attendance@demo-school.example\"\n\
         dsl = \"dsl@demo-school.example\"\n\
         headteacher = \"head@demo-school.example\"\n\
         deputy_head = \"deputy@demo-school.example\"\n\
         head_of_year = \"pastoral@demo-school.example\"\n\
         class_teacher = \"teachers@demo-school.example\"\n\
         social_worker = \"childrens-services@la.example\"\n\
         key_worker = \"childrens-services@la.example\"\n\
         la = \"attendance-team@la.example\"\n\
         # Reports: the parents' mailing list for the weekly newsletter, the governing body\n\
         # for the termly report.\n\
         newsletter = \"parents@lists.demo-school.example\"\n\
         governors = \"governors@demo-school.example\"\n\n\
         # What the reports show and when (these are the defaults).\n\
         [school.reports]\n\
         min_cohort = 5\n\
         newsletter_groups = \"reg_group\"\n\
         newsletter_names_pupils = false\n\
         prize_draw_percent = 98.0\n\
         la_regular_interval = \"monthly\"\n\
         la_regular_below_percent = 90.0\n\
         la_regular_unauthorised_days = 10\n\n\
         [delivery]\n\
         mode = \"file\"\n\
         outbox_dir = \"outbox\"\n",
    );
    for (table, list) in [("calendar.terms", terms), ("calendar.holidays", holidays)] {
        for r in list {
            text.push_str(&format!(
                "\n[[{table}]]\nname = {}\nstart = \"{}\"\nend = \"{}\"\n",
                toml_string(&r.name),
                r.start,
                r.end
            ));
        }
    }
    text
}

fn validate(opts: &GenerateOptions) -> Result<()> {
    ensure!(
        !opts.school_name.trim().is_empty(),
        "the school name must not be empty"
    );
    ensure!(
        opts.urn.len() == 6 && opts.urn.bytes().all(|b| b.is_ascii_digit()),
        "\"{}\" is not a URN: six digits, e.g. \"100001\"",
        opts.urn
    );
    ensure!(
        opts.la_code.len() == 3 && opts.la_code.bytes().all(|b| b.is_ascii_digit()),
        "\"{}\" is not an LA code: three digits, e.g. \"886\"",
        opts.la_code
    );
    ensure!(
        (1900..=9000).contains(&opts.year),
        "academic year {} is out of range (1900 to 9000)",
        opts.year
    );
    ensure!(
        opts.pupils <= MAX_PUPILS,
        "at most {MAX_PUPILS} pupils: beyond that generated UPNs would repeat"
    );
    Ok(())
}

fn create(out: &Path, name: &str, capacity: usize) -> Result<BufWriter<File>> {
    let path = out.join(name);
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    Ok(BufWriter::with_capacity(capacity, file))
}

/// Writes pupils.csv, contacts.csv, marks.csv and rollcall.toml into `out` (created if missing).
pub fn generate(opts: &GenerateOptions, out: &Path) -> Result<GenerateSummary> {
    validate(opts)?;
    fs::create_dir_all(out).with_context(|| format!("creating directory {}", out.display()))?;

    let (terms, holidays) = england_calendar(opts.year);
    let calendar = Calendar::new(terms.clone(), holidays.clone());
    let layout = Layout::new(opts.pupils.max(1));
    let school = School::new(opts.seed, opts.year, &calendar, &layout);
    let (Some(&first_school_day), Some(&last_school_day)) =
        (school.days.first(), school.days.last())
    else {
        anyhow::bail!("the calendar for {} has no school days", opts.year);
    };

    let config_path = out.join("rollcall.toml");
    fs::write(&config_path, config_text(opts, &terms, &holidays))
        .with_context(|| format!("writing {}", config_path.display()))?;

    let mut pupils_csv = csv::Writer::from_writer(create(out, "pupils.csv", 1 << 16)?);
    let mut contacts_csv = csv::Writer::from_writer(create(out, "contacts.csv", 1 << 16)?);
    let mut marks_csv = create(out, "marks.csv", 8 << 20)?;
    pupils_csv
        .write_record([
            "upn",
            "forename",
            "surname",
            "date_of_birth",
            "year_group",
            "reg_group",
            "gender",
            "fsm",
            "sen",
            "eal",
            "ethnicity",
            "lac",
            "social_worker",
            "young_carer",
            "concern",
            "admission_date",
            "leaving_date",
        ])
        .context("writing pupils.csv")?;
    contacts_csv
        .write_record([
            "upn",
            "name",
            "relationship",
            "priority",
            "email",
            "mobile",
            "parental_responsibility",
            "address_line_1",
            "address_line_2",
            "town",
            "postcode",
        ])
        .context("writing contacts.csv")?;
    marks_csv
        .write_all(b"upn,date,session,mark\n")
        .context("writing marks.csv")?;

    let mut roots = Vec::with_capacity(opts.pupils);
    let mut register = Register {
        codes: Vec::with_capacity(school.len()),
        first: 0,
        last: 0,
        absent: 0,
    };
    let mut line = Vec::with_capacity(school.len() * 2 * 32);
    let (mut contacts, mut marks) = (0usize, 0u64);
    for index in 0..opts.pupils {
        let root = family_root(opts.seed, &layout, &roots, index);
        roots.push(root);
        let family = family(opts.seed, root);
        let pupil = plan_pupil(opts, &school, &layout, index, &family);

        let dob = pupil.date_of_birth.to_string();
        let admission = pupil.admission_date.to_string();
        let leaving = pupil
            .leaving_date
            .map(|d| d.to_string())
            .unwrap_or_default();
        pupils_csv
            .write_record([
                pupil.upn.as_str(),
                pupil.forename,
                pupil.surname,
                &dob,
                pupil.year_group,
                &pupil.reg_group,
                pupil.gender,
                yn(pupil.fsm),
                pupil.sen.as_str(),
                yn(pupil.eal),
                pupil.ethnicity,
                yn(pupil.lac),
                yn(pupil.social_worker),
                yn(pupil.young_carer),
                yn(pupil.concern),
                &admission,
                &leaving,
            ])
            .context("writing pupils.csv")?;

        for (priority, contact) in family.contacts.iter().enumerate() {
            let priority = (priority + 1).to_string();
            contacts_csv
                .write_record([
                    pupil.upn.as_str(),
                    &contact.name,
                    contact.relationship,
                    &priority,
                    &contact.email,
                    &contact.mobile,
                    yn(contact.parental_responsibility),
                    &contact.address.line_1,
                    contact.address.line_2,
                    contact.address.town,
                    &contact.address.postcode,
                ])
                .context("writing contacts.csv")?;
        }
        contacts += family.contacts.len();

        plan_marks(&mut register, &school, &pupil, opts.seed);
        marks += write_marks(&mut line, &register, &school, &pupil.upn);
        marks_csv.write_all(&line).context("writing marks.csv")?;
    }

    pupils_csv.flush().context("writing pupils.csv")?;
    contacts_csv.flush().context("writing contacts.csv")?;
    marks_csv.flush().context("writing marks.csv")?;

    Ok(GenerateSummary {
        pupils: opts.pupils,
        contacts,
        marks,
        first_school_day,
        last_school_day,
        school_days: school.len(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};

    use super::*;
    use crate::register::mark::resolve;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("test date")
    }

    fn calendar(year: i32) -> Calendar {
        let (terms, holidays) = england_calendar(year);
        Calendar::new(terms, holidays)
    }

    /// Rows of a CSV file as header → value maps.
    fn rows(path: &Path) -> Vec<HashMap<String, String>> {
        let mut reader = csv::Reader::from_path(path).expect("open csv");
        let headers = reader.headers().expect("headers").clone();
        reader
            .records()
            .map(|r| {
                let r = r.expect("record");
                headers
                    .iter()
                    .zip(r.iter())
                    .map(|(h, v)| (h.to_owned(), v.to_owned()))
                    .collect()
            })
            .collect()
    }

    fn generate_into(pupils: usize, seed: u64, dir: &Path) -> GenerateSummary {
        generate(&GenerateOptions::new(pupils, seed, 2025), dir).expect("generate")
    }

    #[test]
    fn every_year_has_exactly_190_school_days_ending_in_july() {
        for year in 2024..=2030 {
            let cal = calendar(year);
            assert_eq!(cal.school_days().len(), 190, "{year}");
            let summer = &cal.terms()[2];
            assert_eq!(summer.end.month(), 7, "{year}: summer ends {}", summer.end);
            assert_eq!(summer.end.year(), year + 1);
        }
        // The rules must hold whatever day of the week dates and Easter fall on.
        for year in 1990..=2150 {
            let cal = calendar(year);
            assert_eq!(cal.school_days().len(), 190, "{year}");
            let end = cal.terms()[2].end;
            assert!(
                end <= ymd(year + 1, 7, 31) && end >= ymd(year + 1, 7, 1),
                "{year}: {end}"
            );
        }
    }

    #[test]
    fn calendar_2025_matches_the_rules() {
        let (terms, holidays) = england_calendar(2025);
        let names: Vec<&str> = terms.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Autumn 2025", "Spring 2026", "Summer 2026"]);
        assert_eq!(
            (terms[0].start, terms[0].end),
            (d("2025-09-03"), d("2025-12-19"))
        );
        assert_eq!(
            (terms[1].start, terms[1].end),
            (d("2026-01-05"), d("2026-03-27"))
        );
        assert_eq!(terms[2].start, d("2026-04-13"));
        let find = |name: &str| {
            holidays
                .iter()
                .find(|h| h.name == name)
                .map(|h| (h.start, h.end))
                .unwrap_or_else(|| panic!("no {name}"))
        };
        assert_eq!(find("Autumn half term"), (d("2025-10-27"), d("2025-10-31")));
        assert_eq!(find("INSET day"), (d("2026-01-05"), d("2026-01-05")));
        assert_eq!(find("Spring half term"), (d("2026-02-16"), d("2026-02-20")));
        assert_eq!(
            find("Early May bank holiday"),
            (d("2026-05-04"), d("2026-05-04"))
        );
        assert_eq!(find("Summer half term"), (d("2026-05-25"), d("2026-05-29")));
        // Easter 2026 (5 April) falls in the Easter holiday, so no Easter bank holidays in term.
        assert_eq!(holidays.len(), 5);
        for h in &holidays {
            assert!(
                terms
                    .iter()
                    .any(|t| t.contains(h.start) && t.contains(h.end)),
                "{h:?}"
            );
        }
    }

    #[test]
    fn easter_in_term_is_a_holiday() {
        assert_eq!(easter_sunday(2024), d("2024-03-31"));
        assert_eq!(easter_sunday(2025), d("2025-04-20"));
        assert_eq!(easter_sunday(2026), d("2026-04-05"));
        assert_eq!(easter_sunday(2038), d("2038-04-25"));
        // Academic year 2024: summer starts 14 April 2025, Good Friday is the 18th.
        let cal = calendar(2024);
        assert!(!cal.is_school_day(d("2025-04-18")));
        assert!(!cal.is_school_day(d("2025-04-21")));
        assert!(cal.is_school_day(d("2025-04-17")));
    }

    #[test]
    fn upns_are_valid_and_unique_for_200k_pupils() {
        let mut seen = HashSet::with_capacity(200_000);
        for i in 0..200_000 {
            let upn = upn_for("886", i, 2020 - (i % 12) as i32);
            assert!(Upn::parse(upn.as_str()).is_ok(), "{upn}");
            assert!(seen.insert(upn.as_str().to_owned()), "duplicate {upn}");
        }
    }

    #[test]
    fn class_names_are_unique() {
        let names: HashSet<String> = (0..2000).map(class_letters).collect();
        assert_eq!(names.len(), 2000);
        assert_eq!(class_letters(0), "A");
        assert_eq!(class_letters(25), "Z");
        assert_eq!(class_letters(26), "AA");
        assert_eq!(class_letters(27), "AB");
        assert_eq!(class_letters(26 + 26 * 26), "AAA");
    }

    #[test]
    fn generator_codes_match_the_dfe_table() {
        let all = [
            Code::Present,
            Code::Late,
            Code::LateAfterClose,
            Code::Illness,
            Code::Medical,
            Code::Other,
            Code::NoReason,
            Code::Holiday,
            Code::PartTime,
            Code::Dual,
            Code::Visit,
            Code::Excluded,
            Code::Closed,
            Code::PlannedClosure,
            Code::NotOnRoll,
        ];
        for code in all {
            for pm in [false, true] {
                let text = std::str::from_utf8(code.text(pm)).expect("ascii");
                let category = resolve(text)
                    .and_then(|r| r.code().category())
                    .unwrap_or_else(|| panic!("{text} does not resolve"));
                assert_eq!(category.is_absence(), code.is_absence(), "{text}");
                assert_eq!(category.is_possible(), code.is_possible(), "{text}");
            }
        }
    }

    #[test]
    fn same_seed_same_bytes_different_seed_different_marks() {
        let (a, b, c) = (
            tempfile::tempdir().expect("tempdir"),
            tempfile::tempdir().expect("tempdir"),
            tempfile::tempdir().expect("tempdir"),
        );
        let sa = generate_into(60, 7, a.path());
        let sb = generate_into(60, 7, b.path());
        generate_into(60, 8, c.path());
        assert_eq!(sa, sb);
        for name in ["pupils.csv", "contacts.csv", "marks.csv", "rollcall.toml"] {
            let x = fs::read(a.path().join(name)).expect("read");
            let y = fs::read(b.path().join(name)).expect("read");
            assert!(x == y, "{name} differs between runs with the same seed");
        }
        let x = fs::read(a.path().join("marks.csv")).expect("read");
        let z = fs::read(c.path().join("marks.csv")).expect("read");
        assert_ne!(x, z);
    }

    #[test]
    fn files_are_consistent_and_complete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let summary = generate_into(60, 42, dir.path());
        let cal = calendar(2025);
        assert_eq!(summary.school_days, 190);
        assert_eq!(summary.first_school_day, cal.school_days()[0]);
        assert_eq!(summary.last_school_day, cal.school_days()[189]);

        let pupils = rows(&dir.path().join("pupils.csv"));
        assert_eq!(pupils.len(), 60);
        let mut upns = HashSet::new();
        let mut spans: HashMap<String, (NaiveDate, NaiveDate, NaiveDate)> = HashMap::new();
        for p in &pupils {
            let upn = &p["upn"];
            assert!(Upn::parse(upn).is_ok(), "{upn}");
            assert!(upns.insert(upn.clone()), "duplicate {upn}");
            assert!(upn.starts_with(&format!("{}886", &upn[..1])), "{upn}");
            let g = match p["year_group"].as_str() {
                "R" => 0,
                other => other.parse::<i32>().expect("year group"),
            };
            assert!((0..=6).contains(&g));
            assert!(p["reg_group"].starts_with(&p["year_group"]));
            let dob = d(&p["date_of_birth"]);
            assert!(
                dob >= ymd(2025 - 5 - g, 9, 1) && dob <= ymd(2025 - 4 - g, 8, 31),
                "{p:?}"
            );
            for flag in [
                "fsm",
                "eal",
                "lac",
                "social_worker",
                "young_carer",
                "concern",
            ] {
                assert!(matches!(p[flag].as_str(), "Y" | "N"), "{flag}: {p:?}");
            }
            assert!(matches!(p["sen"].as_str(), "N" | "K" | "E"));
            assert!(matches!(p["gender"].as_str(), "M" | "F"));
            let admission = d(&p["admission_date"]);
            let first = admission.max(summary.first_school_day);
            let last = if p["leaving_date"].is_empty() {
                summary.last_school_day
            } else {
                let leaving = d(&p["leaving_date"]);
                assert!(cal.is_school_day(leaving) && leaving > admission, "{p:?}");
                leaving
            };
            if admission > summary.first_school_day {
                assert!(cal.is_school_day(admission), "{p:?}");
            }
            spans.insert(upn.clone(), (admission, first, last));
        }

        // Two marks per school day from the start of the year (Z before a mid-year admission)
        // to leaving, each date once per session, and no rows after leaving.
        let marks = rows(&dir.path().join("marks.csv"));
        assert_eq!(marks.len() as u64, summary.marks);
        let mut seen: BTreeMap<(String, String, String), String> = BTreeMap::new();
        for m in &marks {
            let date = d(&m["date"]);
            assert!(cal.is_school_day(date), "{m:?}");
            assert!(matches!(m["session"].as_str(), "AM" | "PM"));
            assert!(resolve(&m["mark"]).is_some(), "{m:?}");
            let (admission, _, last) = spans[&m["upn"]];
            assert!(date <= last, "{m:?} after leaving");
            assert_eq!(m["mark"] == "Z", date < admission, "{m:?}");
            let key = (m["upn"].clone(), m["date"].clone(), m["session"].clone());
            assert!(seen.insert(key, m["mark"].clone()).is_none(), "{m:?} twice");
        }
        for (upn, (admission, first, last)) in &spans {
            let on_roll = cal.school_days_between(*first, *last).len();
            let all = cal
                .school_days_between(summary.first_school_day, *last)
                .len();
            let rows_for = marks.iter().filter(|m| &m["upn"] == upn).count();
            assert_eq!(rows_for, 2 * all, "{upn}");
            let not_z = marks
                .iter()
                .filter(|m| &m["upn"] == upn && m["mark"] != "Z")
                .count();
            assert_eq!(not_z, 2 * on_roll, "{upn} admitted {admission}");
        }

        let contacts = rows(&dir.path().join("contacts.csv"));
        assert_eq!(contacts.len(), summary.contacts);
        let mut per_pupil: HashMap<&str, Vec<usize>> = HashMap::new();
        for c in &contacts {
            assert!(upns.contains(&c["upn"]), "{c:?}");
            per_pupil
                .entry(c["upn"].as_str())
                .or_default()
                .push(c["priority"].parse().expect("priority"));
            let mobile = &c["mobile"];
            assert!(mobile.is_empty() || (mobile.len() == 11 && mobile.starts_with("07700900")));
            let email = &c["email"];
            assert!(
                email.is_empty()
                    || email.ends_with("@example.com")
                    || email.ends_with("@example.org")
                    || email.ends_with("@example.net"),
                "{email}"
            );
            assert!(matches!(c["parental_responsibility"].as_str(), "Y" | "N"));
        }
        assert_eq!(per_pupil.len(), 60);
        for priorities in per_pupil.values() {
            let expected: Vec<usize> = (1..=priorities.len()).collect();
            assert_eq!(priorities, &expected);
            assert!((1..=3).contains(&priorities.len()));
        }
    }

    #[test]
    fn generated_config_loads_with_the_same_calendar() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = GenerateOptions::new(10, 1, 2025);
        opts.school_name = "St \"Quoted\" C of E \\ Primary".to_owned();
        generate(&opts, dir.path()).expect("generate");
        let text = fs::read_to_string(dir.path().join("rollcall.toml")).expect("read");
        let config =
            crate::config::Config::from_toml(&text, "rollcall.toml").expect("valid config");
        let school = config.school(None).expect("one school");
        assert_eq!(school.name, opts.school_name);
        assert_eq!(school.urn, "100001");
        assert_eq!(school.la_code, "886");
        assert_eq!(school.phase, crate::config::Phase::Primary);
        assert_eq!(school.calendar.school_days().len(), 190);
        assert_eq!(school.calendar.school_days(), calendar(2025).school_days());
    }

    #[test]
    fn bad_options_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = GenerateOptions::new(10, 1, 2025);
        opts.urn = "12345".to_owned();
        assert!(generate(&opts, dir.path()).is_err());
        let mut opts = GenerateOptions::new(10, 1, 2025);
        opts.la_code = "88a".to_owned();
        assert!(generate(&opts, dir.path()).is_err());
        assert!(generate(&GenerateOptions::new(MAX_PUPILS + 1, 1, 2025), dir.path()).is_err());
    }

    #[test]
    fn a_school_looks_like_a_school() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pupils_n = 2000;
        generate_into(pupils_n, 3, dir.path());
        let pupils = rows(&dir.path().join("pupils.csv"));
        let share = |field: &str, value: &str| {
            pupils.iter().filter(|p| p[field] == value).count() as f64 / pupils_n as f64
        };
        let near = |name: &str, got: f64, want: f64, tolerance: f64| {
            assert!(
                (got - want).abs() <= tolerance,
                "{name}: {got:.3}, expected about {want}"
            );
        };
        near("fsm", share("fsm", "Y"), 0.24, 0.04);
        near("sen K", share("sen", "K"), 0.13, 0.03);
        near("sen E", share("sen", "E"), 0.04, 0.015);
        near("eal", share("eal", "Y"), 0.20, 0.04);
        near("social worker", share("social_worker", "Y"), 0.03, 0.015);
        near("young carer", share("young_carer", "Y"), 0.02, 0.01);
        near("concern", share("concern", "Y"), 0.04, 0.02);
        near("WBRI", share("ethnicity", "WBRI"), 0.61, 0.05);
        near(
            "leavers",
            pupils
                .iter()
                .filter(|p| !p["leaving_date"].is_empty())
                .count() as f64
                / pupils_n as f64,
            0.02,
            0.012,
        );
        let groups: HashSet<&str> = pupils.iter().map(|p| p["reg_group"].as_str()).collect();
        assert!(groups.contains("3A") && groups.contains("3B"), "{groups:?}");

        let contacts = rows(&dir.path().join("contacts.csv"));
        // Siblings share their first contact's name, address and phone number.
        let mut families: HashMap<(String, String, String), usize> = HashMap::new();
        for c in contacts.iter().filter(|c| c["priority"] == "1") {
            let key = (
                c["name"].clone(),
                c["address_line_1"].clone(),
                c["postcode"].clone(),
            );
            *families.entry(key).or_default() += 1;
        }
        let with_sibling: usize = families.values().filter(|&&n| n > 1).sum();
        near(
            "siblings",
            with_sibling as f64 / pupils_n as f64,
            0.15,
            0.05,
        );

        let table = crate::register::mark::category_table();
        let mut per_pupil: HashMap<String, (usize, usize)> = HashMap::new();
        let mut codes: HashMap<String, usize> = HashMap::new();
        let mut late_n = 0;
        let last_fortnight = calendar(2025).school_days()[180];
        let mut closures: HashMap<String, HashSet<String>> = HashMap::new();
        for m in rows(&dir.path().join("marks.csv")) {
            let code = resolve(&m["mark"]).expect("code").code();
            *codes.entry(m["mark"].clone()).or_default() += 1;
            if matches!(m["mark"].as_str(), "Y4" | "#") {
                closures
                    .entry(m["mark"].clone())
                    .or_default()
                    .insert(m["date"].clone());
            }
            if m["mark"] == "N" && d(&m["date"]) >= last_fortnight {
                late_n += 1;
            }
            let category = table[usize::from(code.byte())].expect("category");
            let entry = per_pupil.entry(m["upn"].clone()).or_default();
            if category.is_possible() {
                entry.1 += 1;
                if category.is_attended() {
                    entry.0 += 1;
                }
            }
        }
        for code in [
            "/", "\\", "L", "U", "I", "M", "O", "N", "G", "V", "E", "Y4", "#", "Z",
        ] {
            assert!(codes.contains_key(code), "no {code} marks: {codes:?}");
        }
        assert_eq!(closures["Y4"].len(), 1);
        assert_eq!(closures["#"].len(), 1);
        assert!(late_n > 0);
        let (attended, possible) = per_pupil
            .values()
            .fold((0, 0), |(a, p), (x, y)| (a + x, p + y));
        let overall = attended as f64 / possible as f64;
        assert!(
            (0.92..=0.97).contains(&overall),
            "overall attendance {overall:.3}"
        );
        let rate = |(a, p): &(usize, usize)| *a as f64 / (*p).max(1) as f64;
        let pa = per_pupil.values().filter(|v| rate(v) < 0.9).count() as f64 / pupils_n as f64;
        let sa = per_pupil.values().filter(|v| rate(v) <= 0.5).count() as f64 / pupils_n as f64;
        let good = per_pupil.values().filter(|v| rate(v) >= 0.97).count() as f64 / pupils_n as f64;
        near("persistent absence", pa, 0.10, 0.04);
        near("severe absence", sa, 0.015, 0.01);
        assert!(good > 0.5, "good attenders {good:.3}");
    }
}
