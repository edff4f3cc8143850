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
use crate::policy::Policy;
use crate::session::monday_of;
use crate::stats::{PupilStats, school_stats};
use crate::store::{SchoolId, Store};
use crate::template::Templates;

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
    NewsletterView {
        school: school.name.clone(),
        school_phone: school.contact.phone.clone(),
        school_email: school.contact.email.clone(),
        week: format!(
            "Week of {} to {}",
            monday.format("%-d %B"),
            date_text(last_day)
        ),
        week_start: date_text(monday),
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
    }
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
