//! Seeded random streams and the school's shape (years, classes, closures) every step shares.

use chrono::{Datelike, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::PRIMARY_MAX_PUPILS;
use super::calendar::{on_or_after, ymd};
use super::marks::Code;
use crate::register::session::Calendar;

// ---------------------------------------------------------------------------------------------
// Random streams and small helpers
// ---------------------------------------------------------------------------------------------

/// Purposes of independent random streams; changing how one is used must not shift the others.
#[derive(Clone, Copy)]
#[repr(u64)]
pub(super) enum Stream {
    School = 1,
    Class = 2,
    Pupil = 3,
    Sibling = 4,
    Family = 5,
    Marks = 6,
}

pub(super) fn rng_for(seed: u64, stream: Stream, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&(stream as u64).to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    key[24..].copy_from_slice(b"rollcall");
    ChaCha8Rng::from_seed(key)
}

pub(super) fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// Draws from a non-empty table of (value, weight).
pub(super) fn weighted<T: Copy>(rng: &mut ChaCha8Rng, table: &[(T, u32)]) -> T {
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
pub(super) struct Layout {
    pupils: usize,
    pub(super) groups: usize,
    classes: Vec<usize>,
    class_offset: Vec<usize>,
}

impl Layout {
    pub(super) fn new(pupils: usize) -> Layout {
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

    pub(super) fn start(&self, group: usize) -> usize {
        (group * self.pupils).div_ceil(self.groups)
    }

    pub(super) fn size(&self, group: usize) -> usize {
        self.start(group + 1) - self.start(group)
    }

    pub(super) fn group_of(&self, pupil: usize) -> usize {
        pupil * self.groups / self.pupils
    }

    fn total_classes(&self) -> usize {
        self.class_offset.last().copied().unwrap_or(0) + self.classes.last().copied().unwrap_or(0)
    }

    /// (year group, class within it, class number across the school)
    pub(super) fn class_of(&self, pupil: usize) -> (usize, usize, usize) {
        let group = self.group_of(pupil);
        let position = pupil - self.start(group);
        let class = position * self.classes[group] / self.size(group).max(1);
        (group, class, self.class_offset[group] + class)
    }
}

/// Class letters A..Z, then AA, AB, ... (bijective base 26) so names never collide.
pub(super) fn class_letters(mut index: usize) -> String {
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

pub(super) struct School {
    pub(super) year: i32,
    pub(super) days: Vec<NaiveDate>,
    pub(super) day_text: Vec<[u8; 10]>,
    /// Whole-school closure on each day, if any.
    pub(super) closure: Vec<Option<Code>>,
    /// First school days after a break and last ones before, where families tack on holidays.
    pub(super) after_break: Vec<usize>,
    pub(super) before_break: Vec<usize>,
    pub(super) terms: usize,
    /// One educational visit day per class per term: `visits[class * terms + term]`.
    pub(super) visits: Vec<usize>,
}

impl School {
    pub(super) fn new(seed: u64, year: i32, calendar: &Calendar, layout: &Layout) -> School {
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

    pub(super) fn len(&self) -> usize {
        self.days.len()
    }
}
