//! A report as data: sections of paragraphs, tables and charts. The HTML (a handlebars
//! template), the CSV of every figure and the PDF are all drawn from one [`Document`].

use serde::Serialize;

/// One value in a table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Cell {
    Text(String),
    Count(u64),
    /// A percentage; `None` when there is nothing to divide by (shown as "–").
    Percent(Option<f64>),
    /// A published percentage (national figures), shown with the precision it was published
    /// with: 0.85 stays 0.85.
    Published(Option<f64>),
    /// Suppressed: the cohort is too small to publish without identifying a child.
    Suppressed,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell::Text(text.into())
    }

    /// As printed in the HTML and the PDF: "95.3%", "1,204", "c", "–".
    pub fn display(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => thousands(*n),
            Cell::Percent(Some(p)) => format!("{p:.1}%"),
            Cell::Percent(None) | Cell::Published(None) => "–".to_owned(),
            Cell::Published(Some(p)) => format!("{p}%"),
            Cell::Suppressed => "c".to_owned(),
        }
    }

    /// As written in the CSV: plain numbers ("95.3", "1204"), `c`, or empty.
    pub fn csv(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => n.to_string(),
            Cell::Percent(Some(p)) => format!("{p:.1}"),
            Cell::Percent(None) | Cell::Published(None) => String::new(),
            Cell::Published(Some(p)) => p.to_string(),
            Cell::Suppressed => "c".to_owned(),
        }
    }

    /// Numbers are right-aligned.
    pub fn numeric(&self) -> bool {
        !matches!(self, Cell::Text(_))
    }
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// Stable id, used as the CSV's `table` column.
    pub id: String,
    pub title: String,
    /// Column headings; the first names the row labels.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// Printed under the table (sources, suppression, definitions).
    pub note: Option<String>,
}

/// A chart as inline SVG, with the text a screen reader (and the PDF) uses instead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    pub title: String,
    pub svg: String,
    pub description: String,
    /// The plotted points, label and value, for the PDF's simple bar drawing.
    pub points: Vec<(String, Option<f64>)>,
    /// A reference line (the target), if any.
    pub reference: Option<(String, f64)>,
    /// Stretches of the x axis marked with a label (holidays on a weekly chart).
    pub spans: Vec<ChartSpan>,
}

/// Points `from` to `to` (inclusive) of a chart, shaded and labelled: a holiday's weeks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChartSpan {
    pub from: usize,
    pub to: usize,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    pub id: String,
    pub title: String,
    pub paragraphs: Vec<String>,
    pub charts: Vec<Chart>,
    pub tables: Vec<Table>,
}

impl Section {
    pub fn new(id: &str, title: &str) -> Section {
        Section {
            id: id.to_owned(),
            title: title.to_owned(),
            paragraphs: Vec::new(),
            charts: Vec::new(),
            tables: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    pub title: String,
    pub school: String,
    /// "Autumn 2025: 3 September to 19 December 2025".
    pub subtitle: String,
    /// Small print under the title: when made, data as of, what is suppressed.
    pub meta: Vec<String>,
    pub sections: Vec<Section>,
}

impl Document {
    /// Every figure as CSV rows: `section,table,row,column,value` — the row is the table's
    /// first cell, the column its heading.
    pub fn to_csv(&self) -> anyhow::Result<Vec<u8>> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(["section", "table", "row", "column", "value"])?;
        for section in &self.sections {
            for table in &section.tables {
                for row in &table.rows {
                    let Some((label, values)) = row.split_first() else {
                        continue;
                    };
                    for (column, cell) in table.columns.iter().skip(1).zip(values) {
                        // Labels are group names from the register (a class called "=1+1").
                        let fields = [
                            section.id.clone(),
                            table.id.clone(),
                            label.csv(),
                            column.clone(),
                            cell.csv(),
                        ];
                        writer.write_record(
                            fields
                                .iter()
                                .map(|f| crate::report::spreadsheet::safe_cell(f).into_owned()),
                        )?;
                    }
                }
            }
        }
        Ok(writer.into_inner()?)
    }

    pub fn table(&self, id: &str) -> Option<&Table> {
        self.sections
            .iter()
            .flat_map(|s| &s.tables)
            .find(|t| t.id == id)
    }
}

/// One pupil's certificate (100 % attendance over a term).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Certificate {
    pub school: String,
    /// "Ada Lovelace".
    pub pupil: String,
    /// "Year 4, class 4B".
    pub group: String,
    /// "Autumn 2025".
    pub period: String,
    /// "for 100% attendance: present for every one of the 142 sessions this term".
    pub achievement: String,
    pub signatory: String,
    pub signatory_role: String,
    /// "19 December 2025".
    pub date: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_print_for_people_and_for_csv() {
        assert_eq!(Cell::Count(1204).display(), "1,204");
        assert_eq!(Cell::Count(1204).csv(), "1204");
        assert_eq!(Cell::Count(999).display(), "999");
        assert_eq!(Cell::Count(1_000_000).display(), "1,000,000");
        assert_eq!(Cell::Percent(Some(95.25)).display(), "95.2%");
        assert_eq!(Cell::Percent(Some(95.26)).csv(), "95.3");
        assert_eq!(Cell::Percent(None).display(), "–");
        assert_eq!(Cell::Suppressed.csv(), "c");
    }

    #[test]
    fn csv_has_one_row_per_figure() {
        let doc = Document {
            title: "t".into(),
            school: "s".into(),
            subtitle: String::new(),
            meta: vec![],
            sections: vec![Section {
                tables: vec![Table {
                    id: "years".into(),
                    title: "By year".into(),
                    columns: vec!["Year".into(), "Pupils".into(), "Attendance".into()],
                    rows: vec![
                        vec![
                            Cell::text("Year 1"),
                            Cell::Count(30),
                            Cell::Percent(Some(96.0)),
                        ],
                        vec![Cell::text("Year 2"), Cell::Suppressed, Cell::Suppressed],
                    ],
                    note: None,
                }],
                ..Section::new("cohorts", "Cohorts")
            }],
        };
        let text = String::from_utf8(doc.to_csv().expect("csv")).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 4);
        assert_eq!(lines[1], "cohorts,years,Year 1,Pupils,30");
        assert_eq!(lines[2], "cohorts,years,Year 1,Attendance,96.0");
        assert_eq!(lines[4], "cohorts,years,Year 2,Attendance,c");
    }
}
