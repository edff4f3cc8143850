//! The weekly attendance newsletter to parents: the school's attendance this week and this
//! school year against its target, each class (or year group), the best, punctuality, and a
//! short "why attendance matters" the school writes (`newsletter_why.txt.hbs`).
//!
//! It names no pupil unless the school sets `newsletter_names_pupils = true`, and a group
//! smaller than `min_cohort` shows no figures.

use anyhow::{Result, bail};
use chrono::{Datelike, Days, NaiveDate};
use serde::Serialize;

use super::governors::suppression;
use super::queue::Report;
use super::{Figures, date_text, year_start};
use crate::config::{NewsletterGroups, SchoolConfig};
use crate::delivery::template::Templates;
use crate::escalation::policy::Policy;
use crate::register::session::monday_of;
use crate::register::stats::{PupilStats, school_stats};
use crate::register::store::{SchoolId, Store};

#[derive(Debug, Clone, Serialize)]
pub struct GroupLine {
    pub name: String,
    /// "96.4%", or "c" for a group too small to show.
    pub week: String,
    pub year: String,
    pub best: bool,
    pub suppressed: bool,
}

/// What the newsletter templates see.
#[derive(Debug, Clone, Serialize)]
pub struct NewsletterView {
    pub school: String,
    pub school_phone: String,
    pub school_email: String,
    /// "Week of 6 October to 10 October 2025".
    pub week: String,
    pub week_start: String,
    pub week_end: String,
    pub target: String,
    pub this_week: String,
    pub year_to_date: String,
    pub met_target: bool,
    /// "We beat our target of 96.0% this week." or "…0.8 points short of…".
    pub verdict: String,
    /// "Class" or "Year group".
    pub group_heading: String,
    pub groups: Vec<GroupLine>,
    /// "4B (98.9%)" or "4B and 5A (98.9%)".
    pub best: String,
    pub on_time: String,
    pub late_sessions: u64,
    /// The school's own words, one paragraph per item.
    pub why: Vec<String>,
    pub names_heading: String,
    /// Pupils with 100 % this term so far, when the school names pupils: "Ada L. (4B)".
    pub names: Vec<String>,
    pub any_suppressed: bool,
    pub min_cohort: u32,
    /// Why the groups showing `c` are hidden: "c: 3A has fewer than 5 pupils; 4B is hidden
    /// too, …". Empty when none is.
    pub suppressed_note: String,
}

/// The newsletter for the school week containing `date`, as HTML and plain text.
pub struct Newsletter {
    pub view: NewsletterView,
    /// The Monday of the week.
    pub monday: NaiveDate,
    pub subject: String,
    pub html: String,
    pub text: String,
}

impl Newsletter {
    /// ISO week label, the newsletter's period in the outbox: "2025-W41".
    pub fn period(&self) -> String {
        let iso = self.monday.iso_week();
        format!("{}-W{:02}", iso.year(), iso.week())
    }

    pub fn report(&self) -> Report {
        Report {
            kind: "newsletter".into(),
            period: self.period(),
            to: "newsletter".into(),
            subject: self.subject.clone(),
            text: self.text.clone(),
            html: Some(self.html.clone()),
            attachments: Vec::new(),
            requires_approval: false,
            hold_reason: None,
        }
    }
}

fn pct_text(p: Option<f64>) -> String {
    super::Cell::Percent(p).display()
}

fn group_key(school: &SchoolConfig, p: &PupilStats) -> String {
    match school.reports.newsletter_groups {
        NewsletterGroups::RegGroup => p.pupil.pupil.reg_group.clone(),
        NewsletterGroups::YearGroup => p.pupil.pupil.year_group.clone(),
    }
}

/// The facts a newsletter is made from: the week, the school year to the week's end, and
/// (only when the school names pupils) the term so far.
pub struct NewsletterFacts<'a> {
    pub monday: NaiveDate,
    pub last_day: NaiveDate,
    pub week: &'a [PupilStats],
    pub year: &'a [PupilStats],
    pub term: &'a [PupilStats],
}

/// Builds the view from a week's and a year's facts. Pure.
pub fn view(
    school: &SchoolConfig,
    policy: &Policy,
    facts: &NewsletterFacts<'_>,
    why: Vec<String>,
) -> NewsletterView {
    let NewsletterFacts {
        monday,
        last_day,
        week,
        year,
        term,
    } = *facts;
    let target = policy.settings.target_percent;
    let min_cohort = school.reports.min_cohort;
    let week_figures = Figures::of(week.iter().map(|p| &p.facts));
    let year_figures = Figures::of(year.iter().map(|p| &p.facts));
    let group = |stats: &[PupilStats]| {
        let mut groups: std::collections::BTreeMap<String, Figures> = Default::default();
        for p in stats {
            groups
                .entry(group_key(school, p))
                .or_default()
                .add(&p.facts);
        }
        groups
    };
    let mut week_groups: Vec<(String, Figures)> = group(week).into_iter().collect();
    week_groups.sort_by_key(|(name, _)| super::group_order(name));
    let year_groups = group(year);
    let hidden = suppression(&week_groups, min_cohort);
    let suppressed_note = suppressed_note(&week_groups, &hidden, min_cohort);
    let best_rate = week_groups
        .iter()
        .zip(&hidden)
        .filter(|(_, h)| !**h)
        .filter_map(|((_, f), _)| f.attendance_pct())
        .fold(None, |best: Option<f64>, r| {
            Some(best.map_or(r, |b| b.max(r)))
        });
    // Best is compared as printed (one decimal), so two classes that both show 98.9% tie.
    let shown = |r: f64| format!("{r:.1}");
    let groups: Vec<GroupLine> = week_groups
        .iter()
        .zip(&hidden)
        .map(|((name, f), &hide)| {
            let rate = f.attendance_pct();
            let best =
                !hide && matches!((rate, best_rate), (Some(r), Some(b)) if shown(r) == shown(b));
            GroupLine {
                name: name.clone(),
                week: if hide { "c".into() } else { pct_text(rate) },
                year: if hide {
                    "c".into()
                } else {
                    pct_text(year_groups.get(name).and_then(Figures::attendance_pct))
                },
                best,
                suppressed: hide,
            }
        })
        .collect();
    let best_names: Vec<&str> = groups
        .iter()
        .filter(|g| g.best)
        .map(|g| g.name.as_str())
        .collect();
    let best = match (best_names.split_last(), best_rate) {
        (Some((last, [])), Some(r)) => format!("{last} ({r:.1}%)"),
        (Some((last, rest)), Some(r)) => format!("{} and {last} ({r:.1}%)", rest.join(", ")),
        _ => String::new(),
    };
    let this_week = week_figures.attendance_pct();
    // Met as printed: 95.96% shows as 96.0%, and a parent reading "96.0%" against a 96.0%
    // target expects to be told it was met.
    let met_target =
        this_week.is_some_and(|a| format!("{a:.1}").parse::<f64>().unwrap_or(a) >= target);
    let verdict = match this_week {
        Some(_) if met_target => {
            format!("We met our target of {target:.1}% this week. Thank you!")
        }
        Some(a) => format!(
            "We were {:.1} percentage points short of our target of {target:.1}% this week.",
            target - a
        ),
        None => "No sessions were recorded this week.".into(),
    };
    let names = if school.reports.newsletter_names_pupils {
        let mut names: Vec<String> = term
            .iter()
            .filter(|p| {
                p.facts.possible_sessions > 0
                    && p.facts.attended_sessions == p.facts.possible_sessions
            })
            .map(|p| {
                let pupil = &p.pupil.pupil;
                format!(
                    "{} {}. ({})",
                    pupil.forename,
                    pupil.surname.chars().next().unwrap_or(' '),
                    group_key(school, p)
                )
            })
            .collect();
        names.sort();
        names
    } else {
        Vec::new()
    };
    // The week as parents know it: from its first school day (a term starting on a
    // Wednesday has its first newsletter "Week of 3 September").
    let first_day = school
        .calendar
        .school_days_between(monday, last_day)
        .first()
        .copied()
        .unwrap_or(monday);
    NewsletterView {
        school: school.name.clone(),
        school_phone: school.contact.phone.clone(),
        school_email: school.contact.email.clone(),
        week: if first_day == last_day {
            format!("Week of {} (one school day)", date_text(first_day))
        } else {
            format!(
                "Week of {} to {}",
                first_day.format("%-d %B"),
                date_text(last_day)
            )
        },
        week_start: date_text(first_day),
        week_end: date_text(last_day),
        target: format!("{target:.1}%"),
        this_week: pct_text(this_week),
        year_to_date: pct_text(year_figures.attendance_pct()),
        met_target,
        verdict,
        group_heading: match school.reports.newsletter_groups {
            NewsletterGroups::RegGroup => "Class".into(),
            NewsletterGroups::YearGroup => "Year group".into(),
        },
        groups,
        best,
        on_time: pct_text(week_figures.punctuality_pct()),
        late_sessions: week_figures.late + week_figures.late_after_close,
        why,
        names_heading: "100% attendance this term so far".into(),
        names,
        any_suppressed: hidden.iter().any(|h| *h),
        min_cohort,
        suppressed_note,
    }
}

/// "A and B", "A, B and C".
fn and_list(names: &[&str]) -> String {
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Why each hidden group is hidden: too small itself, or hidden to protect a small one (the
/// school's figure and the other groups' would give it away).
fn suppressed_note(groups: &[(String, Figures)], hidden: &[bool], min_cohort: u32) -> String {
    let names = |small: bool| -> Vec<&str> {
        groups
            .iter()
            .zip(hidden)
            .filter(|((_, f), h)| **h && (f.pupils < min_cohort) == small)
            .map(|((name, _), _)| name.as_str())
            .collect()
    };
    let (small, protecting) = (names(true), names(false));
    if small.is_empty() {
        return if protecting.is_empty() {
            String::new()
        } else {
            "c: not shown so that no child can be identified.".to_owned()
        };
    }
    let mut note = format!(
        "c: {} {} fewer than {min_cohort} pupils",
        and_list(&small),
        if small.len() == 1 { "has" } else { "have" }
    );
    if !protecting.is_empty() {
        note.push_str(&format!(
            "; {} {} hidden too, because with the school's figure {} would give {}'s away",
            and_list(&protecting),
            if protecting.len() == 1 { "is" } else { "are" },
            if protecting.len() == 1 { "it" } else { "they" },
            and_list(&small)
        ));
    }
    note.push_str(". Not shown so that no child can be identified.");
    note
}

/// Loads the week's figures and renders the newsletter for the school week containing `date`.
pub async fn build(
    store: &Store,
    school_id: SchoolId,
    school: &SchoolConfig,
    policy: &Policy,
    templates: &Templates,
    date: NaiveDate,
) -> Result<Newsletter> {
    let monday = monday_of(date);
    let sunday = monday + Days::new(6);
    let days = school.calendar.school_days_between(monday, sunday);
    let (Some(_), Some(&last_day)) = (days.first(), days.last()) else {
        bail!(
            "the week beginning {} has no school days in {}'s calendar ({}), so there is no newsletter for it",
            date_text(monday),
            school.name,
            school.calendar.why_not_school_day(monday)
        );
    };
    let week = school_stats(store, school_id, school, monday, last_day, None).await?;
    let year = school_stats(store, school_id, school, year_start(date), last_day, None).await?;
    let term = match (
        school.reports.newsletter_names_pupils,
        school.calendar.term_containing(last_day),
    ) {
        (true, Some(t)) => school_stats(store, school_id, school, t.start, last_day, None).await?,
        _ => Vec::new(),
    };
    let why_text = templates.render_text(
        "newsletter_why.txt",
        &serde_json::json!({
            "school": school.name,
            "target": format!("{:.1}%", policy.settings.target_percent),
        }),
    )?;
    let why: Vec<String> = why_text
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    let facts = NewsletterFacts {
        monday,
        last_day,
        week: &week,
        year: &year,
        term: &term,
    };
    let view = view(school, policy, &facts, why);
    let html = templates.render_html("newsletter.html", &view)?;
    let text = templates.render_text("newsletter.txt", &view)?;
    Ok(Newsletter {
        subject: format!(
            "{}: attendance this week {} (target {})",
            school.name, view.this_week, view.target
        ),
        view,
        monday,
        html,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::facts::PupilFacts;
    use crate::register::pupil::{Pupil, Sen, Upn};
    use crate::register::store::StoredPupil;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    /// A pupil of `class` who attended `attended` of 10 sessions.
    fn pupil(id: i64, class: &str, attended: u32) -> PupilStats {
        PupilStats {
            pupil: StoredPupil {
                id,
                pupil: Pupil {
                    upn: Upn::parse("B801200005001").expect("upn"),
                    forename: "Ada".into(),
                    surname: "Lovelace".into(),
                    date_of_birth: d("2018-03-01"),
                    year_group: "3".into(),
                    reg_group: class.into(),
                    gender: "F".into(),
                    fsm: false,
                    sen: Sen::None,
                    eal: false,
                    ethnicity: "WBRI".into(),
                    lac: false,
                    social_worker: false,
                    young_carer: false,
                    concern: false,
                    admission_date: d("2021-09-01"),
                    leaving_date: None,
                },
            },
            facts: PupilFacts {
                possible_sessions: 10,
                attended_sessions: attended,
                authorised_absence_sessions: 10 - attended,
                ..PupilFacts::default()
            },
        }
    }

    #[test]
    fn the_first_week_starts_on_the_first_day_of_term_and_each_hidden_group_says_why() {
        // Term starts on Wednesday 3 September 2025.
        let school = crate::config::Config::from_toml(
            "[school]\nname = \"S\"\nurn = \"100001\"\nla_code = \"886\"\n[[calendar.terms]]\nname = \"Autumn 2025\"\nstart = \"2025-09-03\"\nend = \"2025-12-19\"\n",
            "t.toml",
        )
        .expect("config")
        .schools
        .remove(0);
        let policy = crate::escalation::policy::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("config/policies/dfe-baseline.toml"),
        )
        .expect("policy");
        // 3A has 3 pupils (too few to show); 5C (6), the smallest of the rest, is hidden only
        // so that the school's figure and 4B's (8) cannot give 3A's away.
        let mut stats = Vec::new();
        for i in 0..3 {
            stats.push(pupil(i, "3A", 10));
        }
        for i in 3..11 {
            stats.push(pupil(i, "4B", 9));
        }
        for i in 11..17 {
            stats.push(pupil(i, "5C", 8));
        }
        let facts = NewsletterFacts {
            monday: d("2025-09-01"),
            last_day: d("2025-09-05"),
            week: &stats,
            year: &stats,
            term: &[],
        };
        let view = view(&school, &policy, &facts, Vec::new());
        assert_eq!(view.week, "Week of 3 September to 5 September 2025");
        assert_eq!(view.week_start, "3 September 2025");
        let shown: Vec<(&str, &str)> = view
            .groups
            .iter()
            .map(|g| (g.name.as_str(), g.week.as_str()))
            .collect();
        assert_eq!(shown, vec![("3A", "c"), ("4B", "90.0%"), ("5C", "c")]);
        assert_eq!(
            view.suppressed_note,
            "c: 3A has fewer than 5 pupils; 5C is hidden too, because with the school's figure it would give 3A's away. Not shown so that no child can be identified."
        );
        // The templates print the note, never "fewer than 5 pupils" for 4B alone.
        let templates = crate::delivery::template::Templates::load(None).expect("templates");
        let text = templates
            .render_text("newsletter.txt", &view)
            .expect("text");
        assert!(text.contains(&view.suppressed_note), "{text}");
        assert!(
            text.contains("Week of 3 September to 5 September 2025"),
            "{text}"
        );
        let html = templates
            .render_html("newsletter.html", &view)
            .expect("html");
        assert!(html.contains("5C is hidden too"), "{html}");
    }
}
