//! Cohort breakdowns with small-number suppression, so no table can identify a pupil.

use std::collections::BTreeMap;

use crate::register::stats::PupilStats;
use crate::report::document::{Cell, Section, Table};
use crate::report::{Figures, Window};

/// A figure, or `c` when the cohort is too small to publish.
pub(super) fn shown(suppressed: bool, cell: Cell) -> Cell {
    if suppressed { Cell::Suppressed } else { cell }
}

/// One row per cohort value: pupils, attendance, authorised, unauthorised, PA count and rate.
pub(super) fn cohort_table(
    id: &str,
    title: &str,
    heading: &str,
    groups: Vec<(String, Figures)>,
    min_cohort: u32,
) -> Table {
    let suppressed = suppression(&groups, min_cohort);
    let pa_hidden = count_suppression(&groups, &suppressed, |f| f.persistent);
    let rows = groups
        .iter()
        .zip(suppressed.iter().zip(&pa_hidden))
        .map(|((label, f), (&hide, &hide_pa))| {
            vec![
                Cell::text(label.clone()),
                shown(hide, Cell::Count(u64::from(f.pupils))),
                shown(hide, Cell::Percent(f.attendance_pct())),
                shown(hide, Cell::Percent(f.authorised_pct())),
                shown(hide, Cell::Percent(f.unauthorised_pct())),
                // The rate would give the count away: the group's size is shown.
                shown(hide_pa, Cell::Count(u64::from(f.persistent))),
                shown(hide_pa, Cell::Percent(f.persistent_pct())),
            ]
        })
        .collect();
    let small_group = suppressed.iter().any(|s| *s);
    let small_count = pa_hidden.iter().zip(&suppressed).any(|(c, g)| *c && !*g);
    let mut note = Vec::new();
    if small_group {
        note.push(format!(
            "c for a whole group: it has fewer than {min_cohort} pupils (or its figures could be worked out from the others)."
        ));
    }
    if small_count {
        note.push(format!(
            "c for persistent absence alone: {SMALL_COUNT_WORDS} (or it could be worked out from the others)."
        ));
    }
    if !note.is_empty() {
        note.push("Not shown so that no child can be identified.".to_owned());
    }
    Table {
        id: id.to_owned(),
        title: title.to_owned(),
        columns: [
            heading,
            "Pupils",
            "Attendance",
            "Authorised absence",
            "Unauthorised absence",
            "Persistently absent",
            "PA rate",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows,
        note: (!note.is_empty()).then(|| note.join(" ")),
    }
}

/// Which groups to hide: those under `min_cohort`, and then, if exactly one group is
/// hidden, the next smallest as well, because the school total minus the shown groups
/// would otherwise give the hidden group's figures away (complementary suppression).
pub fn suppression(groups: &[(String, Figures)], min_cohort: u32) -> Vec<bool> {
    let mut hide: Vec<bool> = groups.iter().map(|(_, f)| f.pupils < min_cohort).collect();
    if hide.iter().filter(|h| **h).count() == 1
        && let Some((i, _)) = groups
            .iter()
            .enumerate()
            .filter(|(i, _)| !hide[*i])
            .min_by_key(|(_, (_, f))| f.pupils)
    {
        hide[i] = true;
    }
    hide
}

/// The largest count of pupils DfE publications replace with `c`: 1 or 2 pupils could be
/// named by anyone who knows the group.
pub const SMALL_COUNT: u32 = 2;

pub(super) const SMALL_COUNT_WORDS: &str =
    "the count is 1 or 2 pupils, or all but 1 or 2 of the group, which could point at a child";

/// Whether publishing that `count` of a group of `of` pupils have some status (persistent
/// absence, say) could identify a child: 1 or 2 of them, or all of them but 1 or 2 (or all of
/// them), since then the status of nearly every child in the group is known.
pub fn discloses(count: u32, of: u32) -> bool {
    count > 0 && (count <= SMALL_COUNT || of.saturating_sub(count) <= SMALL_COUNT)
}

/// Which groups' `count` (persistent absence, …) to hide: every group already hidden, every
/// count that [`discloses`]; then, if exactly one count is hidden, the shown group with the
/// smallest non-zero count as well, because the school's total minus the shown counts would
/// give it away.
pub fn count_suppression(
    groups: &[(String, Figures)],
    hidden_groups: &[bool],
    count: impl Fn(&Figures) -> u32,
) -> Vec<bool> {
    let mut hide: Vec<bool> = groups
        .iter()
        .zip(hidden_groups)
        .map(|((_, f), &hidden)| hidden || discloses(count(f), f.pupils))
        .collect();
    if hide.iter().filter(|h| **h).count() == 1 {
        let shown = || groups.iter().enumerate().filter(|(i, _)| !hide[*i]);
        let next = shown()
            .filter(|(_, (_, f))| count(f) > 0)
            .min_by_key(|(_, (_, f))| count(f))
            .or_else(|| shown().min_by_key(|(_, (_, f))| f.pupils))
            .map(|(i, _)| i);
        if let Some(i) = next {
            hide[i] = true;
        }
    }
    hide
}

pub(super) fn yes_no(b: bool) -> String {
    if b { "Yes" } else { "No" }.to_owned()
}

pub(super) fn breakdowns(window: &Window, min_cohort: u32) -> Section {
    let mut section = Section::new("cohorts", "Attendance by group");
    section.paragraphs.push(
        "Each group's figures are its pupils' sessions this term. Percentages are of possible sessions; the PA rate is the share of the group's pupils who are persistently absent (missing 10% or more)."
            .to_owned(),
    );
    let table = |id: &str, title: &str, heading: &str, key: &dyn Fn(&PupilStats) -> String| {
        let mut groups: Vec<(String, Figures)> = window.grouped(key).into_iter().collect();
        groups.sort_by_key(|(label, _)| crate::report::group_order(label));
        cohort_table(id, title, heading, groups, min_cohort)
    };
    let mut years: Vec<((i32, String), Figures)> = window
        .grouped(|p| crate::report::group_order(&p.pupil.pupil.year_group))
        .into_iter()
        .collect();
    years.sort_by(|a, b| a.0.cmp(&b.0));
    section.tables.push(cohort_table(
        "year_group",
        "By year group",
        "Year group",
        distinct_labels(
            years
                .into_iter()
                .map(|((_, code), f)| (year_label(&code), code, f))
                .collect(),
        ),
        min_cohort,
    ));
    section.tables.push(table(
        "reg_group",
        "By registration group",
        "Registration group",
        &|p| p.pupil.pupil.reg_group.clone(),
    ));
    section
        .tables
        .push(table("gender", "By gender", "Gender", &|p| {
            gender_label(&p.pupil.pupil.gender)
        }));
    section.tables.push(table(
        "fsm",
        "Free school meals",
        "Eligible for FSM",
        &|p| yes_no(p.pupil.pupil.fsm),
    ));
    section.tables.push(table(
        "sen",
        "Special educational needs",
        "SEN provision",
        &|p| {
            match p.pupil.pupil.sen {
                crate::register::pupil::Sen::None => "No SEN",
                crate::register::pupil::Sen::Support => "SEN support (K)",
                crate::register::pupil::Sen::EhcPlan => "EHC plan (E)",
            }
            .to_owned()
        },
    ));
    section.tables.push(table(
        "eal",
        "English as an additional language",
        "EAL",
        &|p| yes_no(p.pupil.pupil.eal),
    ));
    section
        .tables
        .push(table("ethnicity", "By ethnicity", "Ethnicity", &|p| {
            ethnicity_label(&p.pupil.pupil.ethnicity)
        }));
    section.tables.push(table(
        "lac",
        "Looked-after children",
        "Looked after",
        &|p| yes_no(p.pupil.pupil.lac),
    ));
    section.tables.push(table(
        "social_worker",
        "Pupils with a social worker",
        "Has a social worker",
        &|p| yes_no(p.pupil.pupil.social_worker),
    ));
    section
        .tables
        .push(table("young_carer", "Young carers", "Young carer", &|p| {
            yes_no(p.pupil.pupil.young_carer)
        }));
    section.tables.push(table(
        "concern",
        "Pupils on the concerns list",
        "On the concerns list",
        &|p| yes_no(p.pupil.pupil.concern),
    ));
    section
}

/// The DfE's main ethnicity codes (school census), named as governors read them.
pub(super) const ETHNICITIES: &[(&str, &str)] = &[
    ("WBRI", "White British"),
    ("WIRI", "White Irish"),
    ("WIRT", "Traveller of Irish heritage"),
    ("WROM", "Gypsy / Roma"),
    ("WOTH", "Any other White background"),
    ("MWBC", "White and Black Caribbean"),
    ("MWBA", "White and Black African"),
    ("MWAS", "White and Asian"),
    ("MOTH", "Any other mixed background"),
    ("AIND", "Indian"),
    ("APKN", "Pakistani"),
    ("ABAN", "Bangladeshi"),
    ("AOTH", "Any other Asian background"),
    ("BCRB", "Black Caribbean"),
    ("BAFR", "Black African"),
    ("BOTH", "Any other Black background"),
    ("CHNE", "Chinese"),
    ("OOTH", "Any other ethnic group"),
    ("REFU", "Refused"),
    ("NOBT", "Information not yet obtained"),
];

/// "Indian (AIND)"; a code rollcall does not know is shown as it is.
pub(super) fn ethnicity_label(code: &str) -> String {
    let code = code.trim();
    if code.is_empty() {
        return "Not recorded".to_owned();
    }
    ETHNICITIES
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(code))
        .map_or_else(|| code.to_owned(), |(c, name)| format!("{name} ({c})"))
}

/// A year group as governors read it. The census's national curriculum years are `N1` and
/// `N2` (the two nursery years), `R`, `1` to `14`, and `X` (not following the national
/// curriculum year by year).
pub(super) fn year_label(label: &str) -> String {
    let code = label.trim();
    match code.to_uppercase().as_str() {
        "" => return "Not recorded".to_owned(),
        "N1" => return "Nursery 1".to_owned(),
        "N2" => return "Nursery 2".to_owned(),
        "X" => return "No national curriculum year (X)".to_owned(),
        _ => {}
    }
    match crate::report::group_order(code).0 {
        -2 => "Nursery".to_owned(),
        -1 => "Reception".to_owned(),
        n if (1..=14).contains(&n) && code.parse::<i32>().is_ok() => format!("Year {n}"),
        _ => code.to_owned(),
    }
}

/// Labels as given, except that two groups whose labels would read the same (two classes
/// both called "Nursery" in an export, say) each add their code, so rows and CSV keys differ.
pub(super) fn distinct_labels(groups: Vec<(String, String, Figures)>) -> Vec<(String, Figures)> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (label, _, _) in &groups {
        *seen.entry(label.as_str()).or_default() += 1;
    }
    let repeated: std::collections::BTreeSet<String> = seen
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(l, _)| l.to_owned())
        .collect();
    groups
        .into_iter()
        .map(|(label, code, f)| {
            if repeated.contains(&label) && label != code.trim() {
                (format!("{label} ({})", code.trim()), f)
            } else {
                (label, f)
            }
        })
        .collect()
}

/// Gender as the MIS exports it (the census's `M`, `F` and `U`; rollcall's import accepts
/// those three), named; anything else is shown as it is, so it can be found and corrected.
pub(super) fn gender_label(code: &str) -> String {
    match code.trim().to_uppercase().as_str() {
        "F" => "Female".to_owned(),
        "M" => "Male".to_owned(),
        "U" => "Unknown".to_owned(),
        "" => "Not recorded".to_owned(),
        other => format!("Code {other}"),
    }
}
