//! Per-pupil plans, each drawn from the pupil's own stream so pupils are independent.

use chrono::{Days, NaiveDate};
use rand::Rng;

use super::calendar::{weekday_on_or_after, ymd};
use super::households::Family;
use super::names::pool;
use super::school::{Layout, School, Stream, class_letters, pick, rng_for, weighted};
use super::{GenerateOptions, YEAR_LABELS};
use crate::register::pupil::{Sen, Upn};

pub(super) struct PupilPlan {
    pub(super) index: usize,
    pub(super) upn: Upn,
    pub(super) forename: &'static str,
    pub(super) surname: &'static str,
    pub(super) date_of_birth: NaiveDate,
    pub(super) year_group: &'static str,
    pub(super) reg_group: String,
    pub(super) class: usize,
    pub(super) gender: &'static str,
    pub(super) fsm: bool,
    pub(super) sen: Sen,
    pub(super) eal: bool,
    pub(super) ethnicity: &'static str,
    pub(super) lac: bool,
    pub(super) social_worker: bool,
    pub(super) young_carer: bool,
    pub(super) concern: bool,
    pub(super) admission_date: NaiveDate,
    pub(super) leaving_date: Option<NaiveDate>,
    /// First and last school-day index on roll.
    pub(super) first: usize,
    pub(super) last: usize,
}

/// 12 UPN digits: LA, establishment (2000 + i / 1000), 2-digit year of entry, serial.
/// Establishment and serial together are `i`, so UPNs are unique for `i < MAX_PUPILS` whatever
/// the year digits.
pub(super) fn upn_for(la_code: &str, index: usize, entry_year: i32) -> Upn {
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
pub(super) fn family_root(seed: u64, layout: &Layout, roots: &[usize], index: usize) -> usize {
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

pub(super) fn plan_pupil(
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
