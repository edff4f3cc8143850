//! National figures to compare a school with: a data file with its year and source, chosen
//! by the school's phase. The shipped file is `config/national-figures.toml`; a school may
//! point `[school.reports] national_figures` at its own, newer copy.

use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Deserialize;

use crate::config::Phase;

const SHIPPED: &str = include_str!("../../config/national-figures.toml");

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NationalFigures {
    /// "2023/24".
    pub year: String,
    pub source: String,
    pub all: PhaseFigures,
    pub primary: Option<PhaseFigures>,
    pub secondary: Option<PhaseFigures>,
    pub special: Option<PhaseFigures>,
}

/// Percentages; `None` where the source publishes no figure for the phase.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseFigures {
    pub label: String,
    pub overall_absence: Option<f64>,
    pub authorised: Option<f64>,
    pub unauthorised: Option<f64>,
    pub persistent_absence: Option<f64>,
    pub severe_absence: Option<f64>,
}

impl PhaseFigures {
    pub fn attendance(&self) -> Option<f64> {
        self.overall_absence.map(|a| 100.0 - a)
    }
}

impl NationalFigures {
    /// The shipped figures, or the school's own file.
    pub fn load(path: Option<&Path>) -> Result<NationalFigures> {
        let (name, text) = match path {
            Some(p) => (
                p.display().to_string(),
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read national figures {}", p.display()))?,
            ),
            None => (
                "config/national-figures.toml (built in)".to_owned(),
                SHIPPED.to_owned(),
            ),
        };
        let figures: NationalFigures =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        for phase in [
            Some(&figures.all),
            figures.primary.as_ref(),
            figures.secondary.as_ref(),
            figures.special.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            for value in [
                phase.overall_absence,
                phase.authorised,
                phase.unauthorised,
                phase.persistent_absence,
                phase.severe_absence,
            ]
            .into_iter()
            .flatten()
            {
                if !(0.0..=100.0).contains(&value) {
                    anyhow::bail!(
                        "{name}: [{}]: {value} is not a percentage (0 to 100)",
                        phase.label
                    );
                }
            }
        }
        Ok(figures)
    }

    /// The figures for a phase; a phase the file does not cover falls back to all schools.
    pub fn for_phase(&self, phase: Phase) -> &PhaseFigures {
        let specific = match phase {
            Phase::Primary => self.primary.as_ref(),
            Phase::Secondary => self.secondary.as_ref(),
            Phase::Special => self.special.as_ref(),
            Phase::All => None,
        };
        specific.unwrap_or(&self.all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_figures_match_domain_md() {
        let n = NationalFigures::load(None).expect("shipped file parses");
        assert_eq!(n.year, "2023/24");
        let primary = n.for_phase(Phase::Primary);
        assert_eq!(primary.overall_absence, Some(5.5));
        assert_eq!(primary.persistent_absence, Some(14.6));
        let attendance = primary.attendance().expect("attendance");
        assert!((attendance - 94.5).abs() < 1e-9);
        assert_eq!(n.for_phase(Phase::Special).unauthorised, Some(3.3));
        assert_eq!(n.for_phase(Phase::All).severe_absence, Some(2.3));
        assert_eq!(n.for_phase(Phase::Secondary).persistent_absence, None);
    }

    #[test]
    fn a_bad_file_names_itself_and_the_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("n.toml");
        std::fs::write(
            &path,
            "year = \"x\"\nsource = \"y\"\n[all]\nlabel = \"All\"\noverall_absence = 170.0\n",
        )
        .expect("write");
        let err = NationalFigures::load(Some(&path))
            .expect_err("170 is not a percentage")
            .to_string();
        assert!(err.contains("n.toml") && err.contains("170"), "{err}");
    }
}
