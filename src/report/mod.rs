//! Reports: the weekly newsletter, the termly governor report, the LA's returns and rewards.
//!
//! Every figure is summed from the same per-pupil facts `rollcall stats` prints
//! ([`crate::register::stats::school_stats`]), so a report and `stats` for the same window always agree.
//! A report is first built as a [`Document`] (sections of tables and charts, pure data), and
//! the HTML, CSV and PDF are each drawn from that one document: the CSV holds every figure the
//! HTML shows because both walk the same tables.

pub mod audit;
pub mod chart;
pub mod document;
pub mod governors;
pub mod html;
pub mod la_return;
pub mod national;
pub mod newsletter;
pub mod pdf;
pub mod queue;
pub mod rewards;
pub mod spreadsheet;

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{Datelike, NaiveDate, Weekday};

use crate::config::SchoolConfig;
use crate::register::facts::{PupilFacts, PupilRegister, counts_between};
use crate::register::mark::MarkCode;
use crate::register::session::{DateRange, academic_year, academic_year_start, monday_of};
use crate::register::stats::{PupilStats, school_stats};
use crate::register::store::{PupilYears, SchoolId, Store};

pub use document::{Cell, Certificate, Chart, ChartSpan, Document, Section, Table};

/// Sums of pupils' facts over one window: a school, a year group, a cohort.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    /// Pupils with at least one possible session in the window.
    pub pupils: u32,
    pub possible: u64,
    pub attended: u64,
    pub authorised: u64,
    pub unauthorised: u64,
    /// Present sessions marked `/` or `\` (on time).
    pub on_time: u64,
    /// `L`: late, before the register closed (present).
    pub late: u64,
    /// `U`: late after the register closed (an unauthorised absence).
    pub late_after_close: u64,
    pub persistent: u32,
    pub severe: u32,
}

impl Figures {
    pub fn add(&mut self, facts: &PupilFacts) {
        self.pupils += 1;
        self.possible += u64::from(facts.possible_sessions);
        self.attended += u64::from(facts.attended_sessions);
        self.authorised += u64::from(facts.authorised_absence_sessions);
        self.unauthorised += u64::from(facts.unauthorised_absence_sessions);
        self.on_time += u64::from(facts.count_of("/") + facts.count_of("\\"));
        self.late += u64::from(facts.late_sessions);
        self.late_after_close += u64::from(facts.late_after_close_sessions);
        self.persistent += u32::from(facts.persistent_absence());
        self.severe += u32::from(facts.severe_absence());
    }

    pub fn of<'a>(stats: impl IntoIterator<Item = &'a PupilFacts>) -> Figures {
        let mut figures = Figures::default();
        for facts in stats {
            figures.add(facts);
        }
        figures
    }

    /// Attendance: attended ÷ possible sessions, as the DfE counts it (sessions, not pupils).
    pub fn attendance_pct(&self) -> Option<f64> {
        pct(self.attended, self.possible)
    }
    pub fn authorised_pct(&self) -> Option<f64> {
        pct(self.authorised, self.possible)
    }
    pub fn unauthorised_pct(&self) -> Option<f64> {
        pct(self.unauthorised, self.possible)
    }
    pub fn absence_pct(&self) -> Option<f64> {
        pct(self.authorised + self.unauthorised, self.possible)
    }
    /// Share of pupils who are persistently absent.
    pub fn persistent_pct(&self) -> Option<f64> {
        pct(u64::from(self.persistent), u64::from(self.pupils))
    }
    pub fn severe_pct(&self) -> Option<f64> {
        pct(u64::from(self.severe), u64::from(self.pupils))
    }
    /// Of the sessions a pupil arrived for (on time, `L` or `U`), the share on time.
    pub fn punctuality_pct(&self) -> Option<f64> {
        pct(
            self.on_time,
            self.on_time + self.late + self.late_after_close,
        )
    }
}

pub fn pct(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

/// Possible and attended sessions on one day or over a week, for the trend charts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub possible: u64,
    pub attended: u64,
    pub unauthorised: u64,
}

impl Tally {
    pub fn attendance_pct(&self) -> Option<f64> {
        pct(self.attended, self.possible)
    }
}

/// Everything a report needs about one window: every pupil's facts (exactly what `stats`
/// gives) and the school's possible and attended sessions per day.
#[derive(Debug, Clone)]
pub struct Window {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub pupils: Vec<PupilStats>,
    /// Per calendar day in the window that has any possible session.
    pub days: BTreeMap<NaiveDate, Tally>,
}

impl Window {
    pub fn figures(&self) -> Figures {
        Figures::of(self.pupils.iter().map(|p| &p.facts))
    }

    /// Figures for the pupils `keep` selects.
    pub fn figures_where(&self, keep: impl Fn(&PupilStats) -> bool) -> Figures {
        Figures::of(self.pupils.iter().filter(|p| keep(p)).map(|p| &p.facts))
    }

    /// Pupils grouped by a key (year group, class, …), groups in key order.
    pub fn grouped<K: Ord>(&self, key: impl Fn(&PupilStats) -> K) -> BTreeMap<K, Figures> {
        let mut groups: BTreeMap<K, Figures> = BTreeMap::new();
        for p in &self.pupils {
            groups.entry(key(p)).or_default().add(&p.facts);
        }
        groups
    }

    /// School weeks (by Monday) with their sessions.
    pub fn weeks(&self) -> BTreeMap<NaiveDate, Tally> {
        let mut weeks: BTreeMap<NaiveDate, Tally> = BTreeMap::new();
        for (day, tally) in &self.days {
            let week = weeks.entry(monday_of(*day)).or_default();
            week.possible += tally.possible;
            week.attended += tally.attended;
            week.unauthorised += tally.unauthorised;
        }
        weeks
    }

    /// Monday to Friday, with their sessions over the window.
    pub fn weekdays(&self) -> Vec<(Weekday, Tally)> {
        let mut out: Vec<(Weekday, Tally)> = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ]
        .into_iter()
        .map(|d| (d, Tally::default()))
        .collect();
        for (day, tally) in &self.days {
            let i = day.weekday().num_days_from_monday() as usize;
            if let Some((_, t)) = out.get_mut(i) {
                t.possible += tally.possible;
                t.attended += tally.attended;
                t.unauthorised += tally.unauthorised;
            }
        }
        out
    }
}

/// Loads a window: the pupils' facts through `school_stats` (the figures `rollcall stats`
/// prints), then one pass over the same register for the per-day tallies.
pub async fn load_window(
    store: &Store,
    school: SchoolId,
    config: &SchoolConfig,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Window> {
    let pupils = school_stats(store, school, config, from, to, None).await?;
    let mut years = PupilYears::default();
    years.add(
        store
            .register_years(school, academic_year(from), academic_year(to))
            .await?,
    );
    let mut days: BTreeMap<NaiveDate, Tally> = BTreeMap::new();
    for p in &pupils {
        let slices = years.slices(p.pupil.id);
        let register = PupilRegister {
            admission: p.pupil.pupil.admission_date,
            leaving: p.pupil.pupil.leaving_date,
            years: &slices,
            loaded_from_year: academic_year(from),
        };
        for day in from.iter_days().take_while(|d| *d <= to) {
            let counts = counts_between(&register, day, day);
            let possible = u64::from(counts.possible());
            if possible == 0 {
                continue;
            }
            let tally = days.entry(day).or_default();
            tally.possible += possible;
            tally.attended += u64::from(counts.attended());
            tally.unauthorised += u64::from(counts.unauthorised());
        }
    }
    Ok(Window {
        from,
        to,
        pupils,
        days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_sort_in_school_order() {
        let mut labels = vec!["Rowan", "10C", "2B", "RA", "Year 11", "1A", "N1", "R"];
        labels.sort_by_key(|l| group_order(l));
        assert_eq!(
            labels,
            vec!["N1", "R", "RA", "1A", "2B", "10C", "Year 11", "Rowan"]
        );
    }
}

/// Finds a term by name: exact, or ignoring case, spaces, hyphens and underscores
/// ("Autumn 2025", "autumn-2025").
pub fn find_term<'a>(config: &'a SchoolConfig, name: &str) -> Result<&'a DateRange> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = squash(name);
    config
        .calendar
        .terms()
        .iter()
        .find(|t| t.name == name || squash(&t.name) == wanted)
        .ok_or_else(|| {
            let names: Vec<String> = config
                .calendar
                .terms()
                .iter()
                .map(|t| format!("\"{}\"", t.name))
                .collect();
            anyhow::anyhow!(
                "no term called \"{name}\" in {}'s calendar; the terms are {}",
                config.name,
                names.join(", ")
            )
        })
}

/// The last term that ended before `date`.
pub fn previous_term_before(config: &SchoolConfig, date: NaiveDate) -> Option<&DateRange> {
    config.calendar.terms().iter().rev().find(|t| t.end < date)
}

/// "3 September 2025".
pub fn date_text(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

/// The same term a year earlier: the term of the previous academic year in the same
/// position (first, second, third).
pub fn same_term_last_year<'a>(
    config: &'a SchoolConfig,
    term: &DateRange,
) -> Option<&'a DateRange> {
    let year = academic_year(term.start);
    let terms = config.calendar.terms();
    let position = terms
        .iter()
        .filter(|t| academic_year(t.start) == year && t.start < term.start)
        .count();
    terms
        .iter()
        .filter(|t| academic_year(t.start) == year - 1)
        .nth(position)
}

/// The halves of a term: split at the longest holiday of a week or more inside it (half
/// term); a term without one is one half.
pub fn halves(config: &SchoolConfig, term: &DateRange) -> Vec<DateRange> {
    let break_inside = config
        .calendar
        .holidays()
        .iter()
        .filter(|h| h.start > term.start && h.end < term.end)
        .filter(|h| (h.end - h.start).num_days() >= 4)
        .max_by_key(|h| (h.end - h.start).num_days());
    match break_inside {
        Some(h) => vec![
            DateRange {
                name: format!("{} (first half)", term.name),
                start: term.start,
                end: h.start.pred_opt().unwrap_or(h.start),
            },
            DateRange {
                name: format!("{} (second half)", term.name),
                start: h.end.succ_opt().unwrap_or(h.end),
                end: term.end,
            },
        ],
        None => vec![term.clone()],
    }
}

/// The start of the school year containing `date` (1 August, as the register stores it).
pub fn year_start(date: NaiveDate) -> NaiveDate {
    academic_year_start(academic_year(date))
}

/// School order for year groups and classes: Nursery, Reception, then by year number, then
/// anything else by name ("N1", "RA", "1A", "2B", "10C", "Year 11", "Rowan").
pub fn group_order(label: &str) -> (i32, String) {
    let trimmed = label.trim();
    let lower = trimmed.to_lowercase();
    let rest = lower
        .strip_prefix("year")
        .map_or(lower.as_str(), str::trim_start);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let short_class = |prefix: char| rest.starts_with(prefix) && rest.chars().count() <= 2;
    let rank = if let Ok(n) = digits.parse::<i32>() {
        n
    } else if rest == "nursery" || short_class('n') {
        -2
    } else if rest == "reception" || rest == "rec" || short_class('r') {
        -1
    } else {
        100
    };
    (rank, trimmed.to_owned())
}

/// "Autumn 2025" → "autumn-2025".
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// The meaning of a code, for tables.
pub fn code_meaning(code: &str) -> &'static str {
    MarkCode::parse_exact(code)
        .and_then(MarkCode::info)
        .map_or("", |c| c.meaning)
}

/// What a report command or job works with.
pub struct ReportContext<'a> {
    pub store: &'a Store,
    pub school_id: SchoolId,
    pub school: &'a SchoolConfig,
    pub policy: &'a crate::escalation::policy::Policy,
    pub templates: &'a crate::delivery::template::Templates,
}

/// A file a report writes (or attaches).
#[derive(Debug, Clone)]
pub struct Output {
    pub name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

impl Output {
    fn new(name: String, content_type: &'static str, bytes: Vec<u8>) -> Output {
        Output {
            name,
            content_type,
            bytes,
        }
    }

    pub fn attachment(&self) -> crate::delivery::channel::Attachment {
        crate::delivery::channel::Attachment {
            filename: self.name.clone(),
            content_type: self.content_type.into(),
            bytes: self.bytes.clone(),
        }
    }
}

fn pdf_bytes<E: std::fmt::Display>(result: Result<Vec<u8>, E>) -> Result<Vec<u8>> {
    result.map_err(|e| anyhow::anyhow!("cannot make the PDF: {e}"))
}

/// The governor report for a term as HTML, CSV and PDF.
pub async fn governor_report(
    ctx: &ReportContext<'_>,
    term: &DateRange,
    as_of: NaiveDate,
    made_on: NaiveDate,
) -> Result<(Document, Vec<Output>)> {
    let national = national::NationalFigures::load(ctx.school.reports.national_figures.as_deref())?;
    let inputs = governors::load(
        ctx.store,
        ctx.school_id,
        ctx.school,
        ctx.policy,
        &national,
        term,
        as_of,
    )
    .await?;
    let doc = governors::build(&inputs, made_on)?;
    let stem = format!("governors-{}", slug(&term.name));
    let outputs = vec![
        Output::new(
            format!("{stem}.html"),
            "text/html",
            html::document_html(ctx.templates, &doc)?.into_bytes(),
        ),
        Output::new(format!("{stem}.csv"), "text/csv", doc.to_csv()?),
        Output::new(
            format!("{stem}.pdf"),
            "application/pdf",
            pdf_bytes(pdf::document_pdf(&doc))?,
        ),
    ];
    Ok((doc, outputs))
}

/// The LA returns as of a date: one CSV per return and the cover as HTML and PDF.
pub async fn la_returns(
    ctx: &ReportContext<'_>,
    as_of: NaiveDate,
) -> Result<(la_return::Returns, Vec<Output>)> {
    let returns =
        la_return::returns_as_of(ctx.store, ctx.school_id, ctx.school, ctx.policy, as_of).await?;
    let stem = format!("la-returns-{as_of}");
    let mut outputs = Vec::new();
    for (kind, lines) in &returns.lines {
        outputs.push(Output::new(
            format!("{stem}-{}.csv", kind.slug()),
            "text/csv",
            la_return::csv_of(lines)?,
        ));
    }
    let cover = returns.cover(ctx.school);
    outputs.push(Output::new(
        format!("{stem}-cover.html"),
        "text/html",
        html::document_html(ctx.templates, &cover)?.into_bytes(),
    ));
    outputs.push(Output::new(
        format!("{stem}-cover.pdf"),
        "application/pdf",
        pdf_bytes(pdf::document_pdf(&cover))?,
    ));
    Ok((returns, outputs))
}

/// A term's rewards: certificates (HTML and PDF) and the prize draw (HTML and CSV).
pub async fn rewards_pack(
    ctx: &ReportContext<'_>,
    term: &DateRange,
    as_of: NaiveDate,
) -> Result<(rewards::Rewards, Vec<Output>)> {
    let rewards = rewards::build(ctx.store, ctx.school_id, ctx.school, term, as_of).await?;
    let stem = format!("rewards-{}", slug(&term.name));
    let mut outputs = vec![Output::new(
        format!("{stem}-certificates.html"),
        "text/html",
        html::certificates_html(ctx.templates, &rewards.certificates)?.into_bytes(),
    )];
    if !rewards.certificates.is_empty() {
        outputs.push(Output::new(
            format!("{stem}-certificates.pdf"),
            "application/pdf",
            pdf_bytes(pdf::certificates_pdf(&rewards.certificates))?,
        ));
    }
    outputs.push(Output::new(
        format!("{stem}-prize-draw.html"),
        "text/html",
        html::document_html(ctx.templates, &rewards.prize_draw)?.into_bytes(),
    ));
    outputs.push(Output::new(
        format!("{stem}-prize-draw.csv"),
        "text/csv",
        rewards.prize_draw.to_csv()?,
    ));
    Ok((rewards, outputs))
}

/// The newsletter for the week containing `date`, as HTML and text files.
pub async fn newsletter_files(
    ctx: &ReportContext<'_>,
    date: NaiveDate,
) -> Result<(newsletter::Newsletter, Vec<Output>)> {
    let n = newsletter::build(
        ctx.store,
        ctx.school_id,
        ctx.school,
        ctx.policy,
        ctx.templates,
        date,
    )
    .await?;
    let stem = format!("newsletter-{}", n.period());
    let outputs = vec![
        Output::new(
            format!("{stem}.html"),
            "text/html",
            n.html.clone().into_bytes(),
        ),
        Output::new(
            format!("{stem}.txt"),
            "text/plain",
            n.text.clone().into_bytes(),
        ),
    ];
    Ok((n, outputs))
}

/// Writes outputs into `dir` (created if needed), each file whole or not at all.
pub fn write_outputs(dir: &std::path::Path, outputs: &[Output]) -> Result<Vec<std::path::PathBuf>> {
    crate::private::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    outputs
        .iter()
        .map(|o| {
            let path = dir.join(&o.name);
            crate::delivery::channel::file::FileSink::write_atomic(&path, &o.bytes)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            Ok(path)
        })
        .collect()
}

/// The governor report as a message to the governing body: a short summary, with the report
/// attached (HTML for reading, PDF for printing, CSV of every figure). Many mail programs do
/// not show inline SVG, so the report travels as a file rather than as the email body.
pub fn governor_queue_report(
    school: &SchoolConfig,
    term: &DateRange,
    doc: &Document,
    outputs: &[Output],
) -> queue::Report {
    let summary: Vec<String> = doc
        .sections
        .first()
        .map(|s| s.paragraphs.clone())
        .unwrap_or_default();
    queue::Report {
        kind: "governors".into(),
        period: slug(&term.name),
        to: "governors".into(),
        subject: format!(
            "{}: attendance report to governors, {}",
            school.name, term.name
        ),
        text: format!(
            "Dear governors,\n\nThe attendance report for {} is attached: as a web page (open it in a browser; it prints to A4), as a PDF, and as a spreadsheet (CSV) of every figure in it.\n\n{}\n\n{}\n{}\n",
            term.name,
            summary.join("\n\n"),
            school.contact.signatory,
            school.contact.signatory_role
        ),
        html: None,
        attachments: outputs.iter().map(Output::attachment).collect(),
        requires_approval: false,
        hold_reason: None,
    }
}

/// The term's certificates and prize-draw list, to the attendance officer (they name pupils).
pub fn rewards_queue_report(
    school: &SchoolConfig,
    rewards: &rewards::Rewards,
    outputs: &[Output],
) -> queue::Report {
    queue::Report {
        kind: "rewards".into(),
        period: slug(&rewards.term.name),
        to: "attendance_officer".into(),
        subject: format!(
            "{}: attendance certificates and prize draw, {}",
            school.name, rewards.term.name
        ),
        text: format!(
            "{} pupils attended every session in {} and have a certificate (attached, one per page, ready to print). The prize-draw lists for each half of the term are attached too.\n",
            rewards.certificates.len(),
            rewards.term.name
        ),
        html: None,
        attachments: outputs.iter().map(Output::attachment).collect(),
        requires_approval: false,
        hold_reason: None,
    }
}
