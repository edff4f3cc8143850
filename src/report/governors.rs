//! The termly governor report: whole-school figures against target, last term, last year and
//! national; every cohort breakdown with small-number suppression; trends, code usage,
//! punctuality, what the escalation policy did, and the policy in force.
//!
//! Building the [`Document`] is pure ([`build`]); [`load`] gathers its inputs from the store.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{Days, NaiveDate, Weekday};
use sqlx::Row;

use super::chart;
use super::document::{Cell, ChartSpan, Document, Section, Table};
use super::national::NationalFigures;
use super::{Figures, Window, code_meaning, load_window};
use crate::config::SchoolConfig;
use crate::delivery::message::long_date;
use crate::escalation::policy::{Approval, Channel, Policy, TaskKind};
use crate::register::session::{Calendar, DateRange, monday_of};
use crate::register::stats::PupilStats;
use crate::register::store::{SchoolId, Store};

/// What the escalation policy did in the term, from the decisions and the outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    /// Per stage id: decisions made (times the stage was reached), leaving out decisions
    /// withdrawn because the register no longer shows their cause.
    pub decisions: BTreeMap<String, u64>,
    /// Per stage id: pupils with at least one such decision.
    pub pupils: BTreeMap<String, u64>,
    /// Penalty-notice reviews a person approved or rejected in the period: decisions of stages
    /// with a `penalty_notice_review` task whose message a person decided, not withdrawn.
    pub penalty_reviews_decided: u64,
    /// Per stage id and channel (`sms`, `email`, `letter`, `task`, `la_return`): messages
    /// sent or delivered.
    pub sent: BTreeMap<(String, String), u64>,
    /// Meeting tasks listed for staff.
    pub meetings: u64,
    pub cases_opened: u64,
    /// Closed in the term: the policy closes a case when attendance has recovered.
    pub cases_closed: u64,
    pub cases_open_at_end: u64,
}

/// Everything the report is made from.
pub struct Inputs<'a> {
    pub school: &'a SchoolConfig,
    pub policy: &'a Policy,
    pub national: &'a NationalFigures,
    pub term: &'a DateRange,
    /// The last day counted: the term's end, or earlier for a report mid-term.
    pub as_of: NaiveDate,
    pub this_term: Window,
    pub last_term: Option<(String, Figures)>,
    pub last_year: Option<(String, Figures)>,
    pub activity: Activity,
}

/// Gathers a term's inputs from the store.
pub async fn load<'a>(
    store: &Store,
    school_id: SchoolId,
    school: &'a SchoolConfig,
    policy: &'a Policy,
    national: &'a NationalFigures,
    term: &'a DateRange,
    as_of: NaiveDate,
) -> Result<Inputs<'a>> {
    let as_of = as_of.min(term.end);
    let this_term = load_window(store, school_id, school, term.start, as_of).await?;
    let compare = |t: Option<&DateRange>| t.map(|t| (t.name.clone(), t.start, t.end));
    let last = compare(super::previous_term_before(school, term.start));
    let year = compare(super::same_term_last_year(school, term));
    let figures_of =
        async |t: Option<(String, NaiveDate, NaiveDate)>| -> Result<Option<(String, Figures)>> {
            let Some((name, from, to)) = t else {
                return Ok(None);
            };
            let stats =
                crate::register::stats::school_stats(store, school_id, school, from, to, None)
                    .await?;
            let figures = Figures::of(stats.iter().map(|p| &p.facts));
            Ok((figures.possible > 0).then_some((name, figures)))
        };
    let last_term = figures_of(last).await?;
    let last_year = figures_of(year).await?;
    let activity = activity(store, school_id, policy, term.start, as_of).await?;
    Ok(Inputs {
        school,
        policy,
        national,
        term,
        as_of,
        this_term,
        last_term,
        last_year,
        activity,
    })
}

/// Stages that review a penalty notice: any with a `penalty_notice_review` task, whatever
/// triggers them (Inspire's `penalty_review` follows a final warning, James Marks'
/// `legal_sanctions_review` counts unauthorised absence its own way).
fn penalty_review_stages(policy: &Policy) -> Vec<&str> {
    policy
        .stages
        .iter()
        .filter(|s| {
            s.actions
                .iter()
                .any(|a| a.task == Some(TaskKind::PenaltyNoticeReview))
        })
        .map(|s| s.id.as_str())
        .collect()
}

async fn activity(
    store: &Store,
    school: SchoolId,
    policy: &Policy,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Activity> {
    let from_text = format!("{from}T00:00:00");
    let to_text = format!("{to}T23:59:59");
    let mut out = Activity::default();
    for row in sqlx::query(
        "SELECT stage, COUNT(*) AS n, COUNT(DISTINCT pupil_id) AS pupils FROM decisions
         WHERE school_id = $1 AND decided_at >= $2 AND decided_at <= $3
           AND withdrawn_at IS NULL
         GROUP BY stage",
    )
    .bind(school.0)
    .bind(&from_text)
    .bind(&to_text)
    .fetch_all(store.pool())
    .await?
    {
        let stage: String = row.try_get("stage")?;
        let n: i64 = row.try_get("n")?;
        let pupils: i64 = row.try_get("pupils")?;
        out.pupils.insert(stage.clone(), pupils as u64);
        out.decisions.insert(stage, n as u64);
    }
    // A review counts when a person approved or rejected its message in the period; one
    // still waiting, or withdrawn (its sessions recoded), is not a review anyone decided.
    let reviews = penalty_review_stages(policy);
    for row in sqlx::query(
        "SELECT d.stage, COUNT(DISTINCT d.id) AS n
         FROM decisions d
         JOIN outbox_items i ON i.decision_id = d.id
         JOIN outbox o ON o.id = i.outbox_id
         WHERE d.school_id = $1 AND d.withdrawn_at IS NULL AND o.decided_by IS NOT NULL
           AND o.decided_at >= $2 AND o.decided_at <= $3
         GROUP BY d.stage",
    )
    .bind(school.0)
    .bind(&from_text)
    .bind(&to_text)
    .fetch_all(store.pool())
    .await?
    {
        let stage: String = row.try_get("stage")?;
        if reviews.contains(&stage.as_str()) {
            out.penalty_reviews_decided += row.try_get::<i64, _>("n")? as u64;
        }
    }
    for row in sqlx::query(
        "SELECT d.stage, o.channel, o.task, COUNT(DISTINCT o.id) AS n
         FROM decisions d
         JOIN outbox_items i ON i.decision_id = d.id AND i.cancelled_reason IS NULL
         JOIN outbox o ON o.id = i.outbox_id
         WHERE d.school_id = $1 AND d.decided_at >= $2 AND d.decided_at <= $3
           AND o.status IN ('sent', 'delivered')
         GROUP BY d.stage, o.channel, o.task",
    )
    .bind(school.0)
    .bind(&from_text)
    .bind(&to_text)
    .fetch_all(store.pool())
    .await?
    {
        let n = row.try_get::<i64, _>("n")? as u64;
        let stage: String = row.try_get("stage")?;
        let channel: String = row.try_get("channel")?;
        let task: Option<String> = row.try_get("task")?;
        // The outbox stores a task kind as its Rust name (see outbox::record).
        if task.as_deref()
            == Some(format!("{:?}", crate::escalation::policy::TaskKind::Meeting).as_str())
        {
            out.meetings += n;
        }
        *out.sent.entry((stage, channel)).or_default() += n;
    }
    let count = async |sql: &str| -> Result<u64> {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(school.0)
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_one(store.pool())
            .await?;
        Ok(n as u64)
    };
    out.cases_opened = count(
        "SELECT COUNT(*) FROM cases WHERE school_id = $1 AND opened_on >= $2 AND opened_on <= $3",
    )
    .await?;
    out.cases_closed = count(
        "SELECT COUNT(*) FROM cases WHERE school_id = $1 AND closed_on >= $2 AND closed_on <= $3",
    )
    .await?;
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM cases WHERE school_id = $1 AND opened_on <= $2
           AND (closed_on IS NULL OR closed_on > $2)",
    )
    .bind(school.0)
    .bind(to.to_string())
    .fetch_one(store.pool())
    .await?;
    out.cases_open_at_end = open as u64;
    Ok(out)
}

/// A figure, or `c` when the cohort is too small to publish.
fn shown(suppressed: bool, cell: Cell) -> Cell {
    if suppressed { Cell::Suppressed } else { cell }
}

/// One row per cohort value: pupils, attendance, authorised, unauthorised, PA count and rate.
fn cohort_table(
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

const SMALL_COUNT_WORDS: &str =
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

fn yes_no(b: bool) -> String {
    if b { "Yes" } else { "No" }.to_owned()
}

fn breakdowns(window: &Window, min_cohort: u32) -> Section {
    let mut section = Section::new("cohorts", "Attendance by group");
    section.paragraphs.push(
        "Each group's figures are its pupils' sessions this term. Percentages are of possible sessions; the PA rate is the share of the group's pupils who are persistently absent (missing 10% or more)."
            .to_owned(),
    );
    let table = |id: &str, title: &str, heading: &str, key: &dyn Fn(&PupilStats) -> String| {
        let mut groups: Vec<(String, Figures)> = window.grouped(key).into_iter().collect();
        groups.sort_by_key(|(label, _)| super::group_order(label));
        cohort_table(id, title, heading, groups, min_cohort)
    };
    let mut years: Vec<((i32, String), Figures)> = window
        .grouped(|p| super::group_order(&p.pupil.pupil.year_group))
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
const ETHNICITIES: &[(&str, &str)] = &[
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
fn ethnicity_label(code: &str) -> String {
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
fn year_label(label: &str) -> String {
    let code = label.trim();
    match code.to_uppercase().as_str() {
        "" => return "Not recorded".to_owned(),
        "N1" => return "Nursery 1".to_owned(),
        "N2" => return "Nursery 2".to_owned(),
        "X" => return "No national curriculum year (X)".to_owned(),
        _ => {}
    }
    match super::group_order(code).0 {
        -2 => "Nursery".to_owned(),
        -1 => "Reception".to_owned(),
        n if (1..=14).contains(&n) && code.parse::<i32>().is_ok() => format!("Year {n}"),
        _ => code.to_owned(),
    }
}

/// Labels as given, except that two groups whose labels would read the same (two classes
/// both called "Nursery" in an export, say) each add their code, so rows and CSV keys differ.
fn distinct_labels(groups: Vec<(String, String, Figures)>) -> Vec<(String, Figures)> {
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
fn gender_label(code: &str) -> String {
    match code.trim().to_uppercase().as_str() {
        "F" => "Female".to_owned(),
        "M" => "Male".to_owned(),
        "U" => "Unknown".to_owned(),
        "" => "Not recorded".to_owned(),
        other => format!("Code {other}"),
    }
}

fn headline(inputs: &Inputs<'_>, figures: &Figures) -> Section {
    let national = inputs.national.for_phase(inputs.school.phase);
    let target = inputs.policy.settings.target_percent;
    let mut section = Section::new("headline", "Whole-school attendance");
    let attendance = figures.attendance_pct();
    let verdict = match attendance {
        Some(a) if a >= target => format!(
            "Attendance this term is {a:.1}%, at or above the school's target of {target:.1}%."
        ),
        Some(a) => format!(
            "Attendance this term is {a:.1}%, {:.1} points below the school's target of {target:.1}%.",
            target - a
        ),
        None => "No sessions have been recorded this term.".to_owned(),
    };
    section.paragraphs.push(verdict);
    let pa = "persistently absent (10% or more of their sessions missed)";
    let sa = "severely absent (50% or more)";
    let status = match (
        discloses(figures.persistent, figures.pupils),
        discloses(figures.severe, figures.pupils),
    ) {
        (false, false) => format!(
            "{} are {pa} and {} {sa}",
            figures.persistent, figures.severe
        ),
        (false, true) => format!(
            "{} are {pa}; the number {sa} is too small to show",
            figures.persistent
        ),
        (true, false) => format!(
            "{} are {sa}; the number {pa} is too small to show",
            figures.severe
        ),
        (true, true) => format!("the numbers {pa} and {sa} are too small to show"),
    };
    section.paragraphs.push(format!(
        "{} pupils were on roll with at least one possible session; {status}.",
        figures.pupils
    ));
    let other = |f: Option<&(String, Figures)>, pick: &dyn Fn(&Figures) -> Cell| {
        f.map_or(Cell::Percent(None), |(_, f)| pick(f))
    };
    let last = inputs.last_term.as_ref();
    let year = inputs.last_year.as_ref();
    let row = |label: &str,
               pick: &dyn Fn(&Figures) -> Cell,
               target: Option<f64>,
               national: Option<f64>| {
        vec![
            Cell::text(label),
            pick(figures),
            Cell::Percent(target),
            other(last, pick),
            other(year, pick),
            Cell::Published(national.map(|n| (n * 100.0).round() / 100.0)),
        ]
    };
    let title_of = |f: Option<&(String, Figures)>, fallback: &str| {
        f.map_or_else(|| fallback.to_owned(), |(n, _)| n.clone())
    };
    section.tables.push(Table {
        id: "headline".into(),
        title: "This term compared".into(),
        columns: vec![
            "Measure".into(),
            "This term".into(),
            "Target".into(),
            format!("Last term ({})", title_of(last, "no data")),
            format!("Same term last year ({})", title_of(year, "no data")),
            format!("National {}", inputs.national.year),
        ],
        rows: vec![
            row(
                "Attendance",
                &|f| Cell::Percent(f.attendance_pct()),
                Some(target),
                national.attendance(),
            ),
            row(
                "Overall absence",
                &|f| Cell::Percent(f.absence_pct()),
                Some(100.0 - target),
                national.overall_absence,
            ),
            row(
                "Authorised absence",
                &|f| Cell::Percent(f.authorised_pct()),
                None,
                national.authorised,
            ),
            row(
                "Unauthorised absence",
                &|f| Cell::Percent(f.unauthorised_pct()),
                None,
                national.unauthorised,
            ),
            row(
                "Persistent absence (share of pupils)",
                &|f| pupil_share(f, f.persistent),
                None,
                national.persistent_absence,
            ),
            row(
                "Severe absence (share of pupils)",
                &|f| pupil_share(f, f.severe),
                None,
                national.severe_absence,
            ),
        ],
        note: Some(format!(
            "National: {}, {} ({}). Absence and attendance are percentages of possible sessions; persistent and severe absence are percentages of pupils. – means no figure; c means not shown because {SMALL_COUNT_WORDS}.",
            national.label, inputs.national.year, inputs.national.source
        )),
    });
    section.tables.push(Table {
        id: "counts".into(),
        title: "Sessions and pupils this term".into(),
        columns: vec!["Measure".into(), "Count".into()],
        rows: [
            ("Pupils", u64::from(figures.pupils)),
            ("Possible sessions", figures.possible),
            ("Sessions attended", figures.attended),
            ("Authorised absence sessions", figures.authorised),
            ("Unauthorised absence sessions", figures.unauthorised),
        ]
        .into_iter()
        .map(|(label, n)| vec![Cell::text(label), Cell::Count(n)])
        .chain(
            [
                ("Persistently absent pupils", figures.persistent),
                ("Severely absent pupils", figures.severe),
            ]
            .into_iter()
            .map(|(label, n)| vec![Cell::text(label), pupil_count(figures, n)]),
        )
        .collect(),
        note: [figures.persistent, figures.severe]
            .iter()
            .any(|n| discloses(*n, figures.pupils))
            .then(|| format!("c: not shown because {SMALL_COUNT_WORDS}.")),
    });
    section
}

/// A count of the school's (or a group's) pupils with some status, or `c`.
fn pupil_count(f: &Figures, count: u32) -> Cell {
    shown(discloses(count, f.pupils), Cell::Count(u64::from(count)))
}

/// The share of pupils with some status, or `c` when it would give a small count away.
fn pupil_share(f: &Figures, count: u32) -> Cell {
    shown(
        discloses(count, f.pupils),
        Cell::Percent(super::pct(u64::from(count), u64::from(f.pupils))),
    )
}

fn short_date(d: NaiveDate) -> String {
    d.format("%-d %b").to_string()
}

fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// The weeks (by Monday) between `from` and `to` with no school day that a holiday of the
/// calendar covers, with the holiday's name.
fn holiday_weeks(calendar: &Calendar, from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, String)> {
    let mut out = Vec::new();
    let mut monday = monday_of(from);
    while monday <= to {
        let sunday = monday + Days::new(6);
        if calendar.school_days_between(monday, sunday).is_empty()
            && let Some(holiday) = calendar
                .holidays()
                .iter()
                .find(|h| h.start <= sunday && h.end >= monday)
        {
            out.push((monday, holiday.name.clone()));
        }
        monday = monday + Days::new(7);
    }
    out
}

fn trends(window: &Window, calendar: &Calendar, target: f64) -> Result<Section> {
    let mut section = Section::new("trends", "Week by week and day by day");
    let weeks = window.weeks();
    let reference = Some((format!("Target {target:.1}%"), target));
    // Holiday weeks are points without a value (the line breaks there), shaded and named.
    let holidays = holiday_weeks(calendar, window.from, window.to);
    let mut points: Vec<(NaiveDate, Option<f64>, Option<&str>)> = weeks
        .iter()
        .map(|(monday, t)| (*monday, t.attendance_pct(), None))
        .chain(
            holidays
                .iter()
                .filter(|(monday, _)| !weeks.contains_key(monday))
                .map(|(monday, name)| (*monday, None, Some(name.as_str()))),
        )
        .collect();
    points.sort_by_key(|(monday, _, _)| *monday);
    let mut spans: Vec<ChartSpan> = Vec::new();
    for (i, (_, _, holiday)) in points.iter().enumerate() {
        let Some(name) = holiday else {
            continue;
        };
        match spans.last_mut() {
            Some(span) if span.to + 1 == i && span.label == *name => span.to = i,
            _ => spans.push(ChartSpan {
                from: i,
                to: i,
                label: (*name).to_owned(),
            }),
        }
    }
    let described: Vec<String> = spans
        .iter()
        .map(|s| {
            let weeks = s.to - s.from + 1;
            format!(
                "{} ({} week{} from {})",
                s.label,
                weeks,
                if weeks == 1 { "" } else { "s" },
                long_date(points[s.from].0)
            )
        })
        .collect();
    let description = if described.is_empty() {
        "Whole-school attendance for each school week of the term, with the target.".to_owned()
    } else {
        format!(
            "Whole-school attendance for each school week of the term, with the target. Shaded, with no school: {}.",
            described.join("; ")
        )
    };
    section.charts.push(chart::line_chart_with_spans(
        "Attendance each week",
        &description,
        points
            .iter()
            .map(|(monday, rate, _)| (short_date(*monday), *rate))
            .collect(),
        reference.clone(),
        spans,
    )?);
    section.tables.push(Table {
        id: "weekly".into(),
        title: "Each week".into(),
        columns: [
            "Week commencing",
            "Possible sessions",
            "Attendance",
            "Unauthorised absence",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: weeks
            .iter()
            .map(|(monday, t)| {
                vec![
                    Cell::text(long_date(*monday)),
                    Cell::Count(t.possible),
                    Cell::Percent(t.attendance_pct()),
                    Cell::Percent(super::pct(t.unauthorised, t.possible)),
                ]
            })
            .collect(),
        note: (!described.is_empty()).then(|| format!("No school: {}.", described.join("; "))),
    });
    let days = window.weekdays();
    section.charts.push(chart::bar_chart(
        "Attendance by day of the week",
        "Whole-school attendance on each weekday over the term.",
        days.iter()
            .map(|(d, t)| (weekday_name(*d)[..3].to_owned(), t.attendance_pct()))
            .collect(),
        reference,
    )?);
    section.tables.push(Table {
        id: "weekday".into(),
        title: "Each day of the week".into(),
        columns: [
            "Day",
            "Possible sessions",
            "Attendance",
            "Unauthorised absence",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: days
            .iter()
            .map(|(d, t)| {
                vec![
                    Cell::text(weekday_name(*d)),
                    Cell::Count(t.possible),
                    Cell::Percent(t.attendance_pct()),
                    Cell::Percent(super::pct(t.unauthorised, t.possible)),
                ]
            })
            .collect(),
        note: None,
    });
    // A weekday well below the rest is a pattern governors ask about (long weekends).
    let rates: Vec<(Weekday, f64)> = days
        .iter()
        .filter_map(|(d, t)| t.attendance_pct().map(|p| (*d, p)))
        .collect();
    for (day, rate) in &rates {
        let others: Vec<f64> = rates
            .iter()
            .filter(|(d, _)| d != day)
            .map(|(_, r)| *r)
            .collect();
        if others.is_empty() {
            continue;
        }
        let mean = others.iter().sum::<f64>() / others.len() as f64;
        if mean - rate >= 1.0 {
            section.paragraphs.push(format!(
                "{}s stand out: attendance was {rate:.1}%, against {mean:.1}% on the other days.",
                weekday_name(*day)
            ));
        }
    }
    Ok(section)
}

fn codes(window: &Window, figures: &Figures) -> Section {
    let mut section = Section::new("codes", "How sessions were recorded");
    let mut used: BTreeMap<&'static str, u64> = BTreeMap::new();
    for p in &window.pupils {
        for (code, n) in p.facts.codes_used() {
            *used.entry(code).or_default() += u64::from(n);
        }
    }
    let total: u64 = used.values().sum();
    let mut rows: Vec<(&str, u64)> = used.iter().map(|(c, n)| (*c, *n)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    section.tables.push(Table {
        id: "codes".into(),
        title: "Codes used this term".into(),
        columns: ["Code", "Meaning", "Sessions", "Share of all marks"]
            .map(str::to_owned)
            .to_vec(),
        rows: rows
            .iter()
            .map(|(code, n)| {
                vec![
                    Cell::text(*code),
                    Cell::text(code_meaning(code)),
                    Cell::Count(*n),
                    Cell::Percent(super::pct(*n, total)),
                ]
            })
            .collect(),
        note: Some("Every mark recorded this term for pupils on roll, including codes that are not possible sessions (such as # for a planned closure).".into()),
    });
    let absences = figures.authorised + figures.unauthorised;
    let count = |c: &str| used.get(c).copied().unwrap_or(0);
    let n = count("N");
    let o = count("O");
    if n > 0 && super::pct(n, absences).is_some_and(|s| s >= 5.0) {
        section.paragraphs.push(format!(
            "Unusual: {n} sessions are still coded N (no reason yet), {:.1}% of all absence. N must be resolved within 5 school days; these need following up.",
            super::pct(n, absences).unwrap_or(0.0)
        ));
    }
    if o > 0 && super::pct(o, figures.unauthorised).is_some_and(|s| s >= 25.0) {
        section.paragraphs.push(format!(
            "Unusual: {o} sessions are coded O (other unauthorised), {:.1}% of unauthorised absence. A high share of O can mean reasons are not being recorded.",
            super::pct(o, figures.unauthorised).unwrap_or(0.0)
        ));
    }
    let g = count("G");
    if g > 0 {
        section.paragraphs.push(format!(
            "{g} sessions were holidays in term time that the school did not agree (G)."
        ));
    }
    if section.paragraphs.is_empty() {
        section
            .paragraphs
            .push("No unusual patterns in the codes used this term.".into());
    }
    section
}

fn punctuality(window: &Window, figures: &Figures) -> Section {
    let mut section = Section::new("punctuality", "Punctuality");
    let often_late = window
        .pupils
        .iter()
        .filter(|p| p.facts.late_sessions + p.facts.late_after_close_sessions >= 10)
        .count() as u32;
    section.paragraphs.push(match figures.punctuality_pct() {
        Some(p) => format!("Pupils arrived on time for {p:.1}% of the sessions they came in for."),
        None => "No sessions were attended this term.".into(),
    });
    section.tables.push(Table {
        id: "punctuality".into(),
        title: "Arriving on time".into(),
        columns: vec!["Measure".into(), "Value".into()],
        rows: vec![
            vec![
                Cell::text("On time (share of sessions arrived for)"),
                Cell::Percent(figures.punctuality_pct()),
            ],
            vec![
                Cell::text("Late before the register closed (L)"),
                Cell::Count(figures.late),
            ],
            vec![
                Cell::text("Late after the register closed (U)"),
                Cell::Count(figures.late_after_close),
            ],
            vec![
                Cell::text("Pupils late 10 or more times"),
                pupil_count(figures, often_late),
            ],
        ],
        note: discloses(often_late, figures.pupils)
            .then(|| format!("c: not shown because {SMALL_COUNT_WORDS}.")),
    });
    section
}

fn escalation(inputs: &Inputs<'_>) -> Section {
    let mut section = Section::new("escalation", "What the school did");
    let a = &inputs.activity;
    let sent = |stage: &str, channel: &str| {
        a.sent
            .get(&(stage.to_owned(), channel.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    let mut rows = Vec::new();
    for stage in &inputs.policy.stages {
        let decided = a.decisions.get(&stage.id).copied().unwrap_or(0);
        let pupils = a.pupils.get(&stage.id).copied().unwrap_or(0);
        rows.push(vec![
            Cell::text(stage.title.clone()),
            Cell::Count(pupils),
            Cell::Count(decided),
            Cell::Count(sent(&stage.id, "sms")),
            Cell::Count(sent(&stage.id, "email")),
            Cell::Count(sent(&stage.id, "letter")),
            Cell::Count(sent(&stage.id, "task")),
            Cell::Count(sent(&stage.id, "la_return")),
        ]);
    }
    section.tables.push(Table {
        id: "stages".into(),
        title: "Each stage of the policy this term".into(),
        columns: [
            "Stage",
            "Pupils",
            "Times",
            "Texts",
            "Emails",
            "Letters",
            "Staff tasks",
            "LA returns",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows,
        note: Some("Pupils: how many pupils reached the stage this term. Times: how often it was reached, once per pupil and episode (a pupil can reach a stage again in a new episode; first-day contact once per pupil per day). Decisions withdrawn because the register no longer shows their cause (a recoded mark) are not counted. Messages sent or delivered for decisions made this term; siblings' messages to one family count once. These count what the school did, so they are shown however small.".into()),
    });
    let penalty = a.penalty_reviews_decided;
    let sent_by = |channel: &str| -> u64 {
        a.sent
            .iter()
            .filter(|((_, c), _)| c == channel)
            .map(|(_, n)| n)
            .sum()
    };
    let (la_returns, letters, texts) = (sent_by("la_return"), sent_by("letter"), sent_by("sms"));
    section.tables.push(Table {
        id: "activity".into(),
        title: "In total".into(),
        columns: vec!["Activity".into(), "Count".into()],
        rows: [
            ("Texts to families", texts),
            ("Letters to families", letters),
            ("Attendance meetings arranged", a.meetings),
            ("Returns to the local authority", la_returns),
            ("Penalty-notice reviews (a person decided)", penalty),
            ("Cases opened", a.cases_opened),
            ("Cases closed as attendance improved", a.cases_closed),
            ("Cases open at the end of the period", a.cases_open_at_end),
        ]
        .into_iter()
        .map(|(label, n)| vec![Cell::text(label), Cell::Count(n)])
        .collect(),
        note: None,
    });
    section
}

fn policy_section(inputs: &Inputs<'_>) -> Section {
    let p = inputs.policy;
    let mut section = Section::new("policy", "The policy in force");
    section.paragraphs.push(format!(
        "{} (\"{}\"). The school's attendance target is {:.1}%.",
        p.title, p.name, p.settings.target_percent
    ));
    if !p.description.trim().is_empty() {
        section.paragraphs.push(
            p.description
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    section.tables.push(Table {
        id: "policy_stages".into(),
        title: "Its stages, in order".into(),
        columns: [
            "Stage",
            "How families and staff are told",
            "A person approves",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: p
            .stages
            .iter()
            .map(|s| {
                let mut channels: Vec<&str> = s
                    .actions
                    .iter()
                    .map(|a| match a.channel {
                        Channel::Sms => "text",
                        Channel::Email => "email",
                        Channel::Letter => "letter",
                        Channel::Task => "staff task",
                        Channel::LaReturn => "LA return",
                    })
                    .collect();
                channels.dedup();
                vec![
                    Cell::text(s.title.clone()),
                    Cell::text(channels.join(", ")),
                    Cell::text(if s.approval == Approval::Required {
                        "Yes"
                    } else {
                        "No"
                    }),
                ]
            })
            .collect(),
        note: None,
    });
    section
}

/// Builds the report. Pure: the same inputs give the same document.
pub fn build(inputs: &Inputs<'_>, made_on: NaiveDate) -> Result<Document> {
    let window = &inputs.this_term;
    let figures = window.figures();
    let min_cohort = inputs.school.reports.min_cohort;
    let term = inputs.term;
    let mut meta = vec![format!(
        "Figures from {} to {} ({} school days), made on {}.",
        long_date(window.from),
        long_date(window.to),
        inputs
            .school
            .calendar
            .school_days_between(window.from, window.to)
            .len(),
        long_date(made_on)
    )];
    if inputs.as_of < term.end {
        meta.push(format!(
            "The term is not over: figures are to {}.",
            long_date(inputs.as_of)
        ));
    }
    meta.push(format!(
        "Groups of fewer than {min_cohort} pupils, and counts of 1 or 2 pupils (or all but 1 or 2 of a group), show c instead of figures, as DfE publications do. This report names no pupil."
    ));
    Ok(Document {
        title: "Attendance report to governors".into(),
        school: inputs.school.name.clone(),
        subtitle: format!(
            "{}: {} to {}",
            term.name,
            long_date(term.start),
            long_date(term.end)
        ),
        meta,
        sections: vec![
            headline(inputs, &figures),
            breakdowns(window, min_cohort),
            trends(
                window,
                &inputs.school.calendar,
                inputs.policy.settings.target_percent,
            )?,
            codes(window, &figures),
            punctuality(window, &figures),
            escalation(inputs),
            policy_section(inputs),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pupils: u32) -> Figures {
        Figures {
            pupils,
            ..Figures::default()
        }
    }

    #[test]
    fn small_groups_are_suppressed_and_one_hidden_group_takes_another_with_it() {
        let groups = vec![
            ("A".to_owned(), f(30)),
            ("B".to_owned(), f(3)),
            ("C".to_owned(), f(12)),
        ];
        // B alone hidden would be the total minus A and C: C (the smallest shown) goes too.
        assert_eq!(suppression(&groups, 5), vec![false, true, true]);
        let two_small = vec![
            ("A".to_owned(), f(30)),
            ("B".to_owned(), f(3)),
            ("C".to_owned(), f(4)),
        ];
        assert_eq!(suppression(&two_small, 5), vec![false, true, true]);
        assert_eq!(suppression(&two_small, 3), vec![false, false, false]);
        let none = vec![("A".to_owned(), f(5))];
        assert_eq!(suppression(&none, 5), vec![false]);
    }

    #[test]
    fn ethnicity_codes_are_named() {
        assert_eq!(ethnicity_label("AIND"), "Indian (AIND)");
        assert_eq!(ethnicity_label("wbri"), "White British (WBRI)");
        assert_eq!(ethnicity_label("XYZ1"), "XYZ1");
        assert_eq!(ethnicity_label(" "), "Not recorded");
    }

    #[test]
    fn year_groups_are_named() {
        assert_eq!(year_label("R"), "Reception");
        assert_eq!(year_label("4"), "Year 4");
        assert_eq!(year_label("Year 11"), "Year 11");
        // The census's two nursery years are two groups.
        assert_eq!(year_label("N1"), "Nursery 1");
        assert_eq!(year_label("N2"), "Nursery 2");
        assert_eq!(year_label("X"), "No national curriculum year (X)");
        // Two codes that still read the same keep their codes, so rows and CSV keys differ.
        let named = distinct_labels(vec![
            ("Nursery".into(), "Nursery".into(), f(10)),
            ("Nursery".into(), "NUR".into(), f(12)),
            ("Year 1".into(), "1".into(), f(30)),
        ]);
        let labels: Vec<&str> = named.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, vec!["Nursery", "Nursery (NUR)", "Year 1"]);
    }

    #[test]
    fn genders_are_named() {
        assert_eq!(gender_label("F"), "Female");
        assert_eq!(gender_label("m"), "Male");
        assert_eq!(gender_label("U"), "Unknown");
        assert_eq!(gender_label(""), "Not recorded");
        assert_eq!(gender_label("Q"), "Code Q");
    }

    fn pa(pupils: u32, persistent: u32) -> Figures {
        Figures {
            pupils,
            persistent,
            ..Figures::default()
        }
    }

    #[test]
    fn counts_of_one_or_two_pupils_are_suppressed_and_cannot_be_worked_back() {
        // 1 or 2 of a group, or all but 1 or 2 of it, could point at a child; 0 and 3 of 13
        // could not.
        assert!(discloses(1, 13) && discloses(2, 13));
        assert!(discloses(11, 13) && discloses(13, 13));
        assert!(!discloses(0, 13) && !discloses(3, 13) && !discloses(10, 13));
        let groups = vec![
            ("3A".to_owned(), pa(13, 1)),
            ("3B".to_owned(), pa(20, 4)),
            ("3C".to_owned(), pa(25, 6)),
        ];
        // 3A's 1 would be the school's 11 minus 4 and 6: the smallest other count goes too.
        assert_eq!(
            count_suppression(&groups, &[false, false, false], |f| f.persistent),
            vec![true, true, false]
        );
        // The table shows c for 3A's and 3B's count and rate, and says why.
        let table = cohort_table("reg_group", "By class", "Class", groups, 5);
        assert_eq!(table.rows[0][5], Cell::Suppressed);
        assert_eq!(table.rows[0][6], Cell::Suppressed);
        assert_eq!(
            table.rows[0][1],
            Cell::Count(13),
            "the group's size is shown"
        );
        assert_eq!(table.rows[2][5], Cell::Count(6));
        assert!(
            table
                .note
                .as_deref()
                .is_some_and(|n| n.contains("1 or 2 pupils")),
            "{:?}",
            table.note
        );
    }

    #[test]
    fn the_weekly_chart_marks_the_holidays_it_spans() {
        let d = |s: &str| s.parse::<NaiveDate>().expect("date");
        let calendar = Calendar::new(
            vec![DateRange {
                name: "Autumn 2025".into(),
                start: d("2025-09-01"),
                end: d("2025-12-19"),
            }],
            vec![DateRange {
                name: "Autumn half term".into(),
                start: d("2025-10-27"),
                end: d("2025-10-31"),
            }],
        );
        let tally = super::super::Tally {
            possible: 10,
            attended: 9,
            unauthorised: 0,
        };
        let days: BTreeMap<NaiveDate, super::super::Tally> = calendar
            .school_days_between(d("2025-10-20"), d("2025-11-07"))
            .iter()
            .map(|day| (*day, tally))
            .collect();
        let window = Window {
            from: d("2025-10-20"),
            to: d("2025-11-07"),
            pupils: Vec::new(),
            days,
        };
        let section = trends(&window, &calendar, 96.0).expect("trends");
        let chart = &section.charts[0];
        let labels: Vec<(&str, Option<f64>)> =
            chart.points.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        assert_eq!(
            labels,
            vec![
                ("20 Oct", Some(90.0)),
                ("27 Oct", None),
                ("3 Nov", Some(90.0))
            ]
        );
        assert_eq!(
            chart.spans,
            vec![ChartSpan {
                from: 1,
                to: 1,
                label: "Autumn half term".into()
            }]
        );
        assert!(chart.svg.contains("Autumn half term"), "named on the chart");
        assert!(
            chart
                .description
                .contains("Autumn half term (1 week from Monday 27 October 2025)")
        );
        let weekly = section
            .tables
            .iter()
            .find(|t| t.id == "weekly")
            .expect("weekly");
        assert_eq!(weekly.rows.len(), 2, "the table lists school weeks");
        assert!(
            weekly
                .note
                .as_deref()
                .is_some_and(|n| n.contains("Autumn half term"))
        );
    }
}
