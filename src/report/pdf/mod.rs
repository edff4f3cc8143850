//! Reports and certificates as PDF, drawn directly (no browser) with printpdf.
//!
//! Like the letters ([`crate::delivery::channel::letter`]), only the PDF standard fonts Helvetica and
//! Helvetica-Bold are used, so no font files are needed; text goes through
//! `printable` first, which keeps every WinAnsi character ("Zoë", "–", "·") and maps the
//! rest as well as it can ("Łukasz" → "Lukasz", "Nguyễn" → "Nguyên", anything else → "?",
//! never dropped), and is measured with the same Helvetica metrics the viewer uses, so
//! nothing is placed by guesswork.
//!
//! Everything is first laid out as `Page`s of measured text runs and shapes, in
//! millimetres from the top-left corner, and only then written as PDF; the tests check the
//! layout (nothing past the margins) as well as the PDF's text.
//!
//! # Reports ([`document_pdf`]), A4 portrait
//!
//! 18 mm margins (174 mm of text width). Page one opens with the school, the title, the
//! subtitle and the meta lines; then each section: a heading (kept with what follows it),
//! paragraphs, charts drawn as horizontal bars on the same scale as the HTML's charts
//! ([`super::chart::lower_bound`] up to 100 %), and tables. A table's columns are as wide
//! as their content; a table too wide for the page is set smaller (9 pt down to 7 pt), then
//! its row labels are shortened with "…", and as a last resort its columns are split into
//! parts, each repeating the row labels. A table that runs off a page continues on the
//! next, with its heading row repeated. Every page has the footer
//! "school · title · page N of M".
//!
//! Short tables (up to ten rows) are kept whole on one page, longer ones start with at
//! least three rows; a paragraph never leaves a lone line at the foot or head of a page.
//!
//! # Certificates ([`certificates_pdf`]), A4 landscape, one per page
//!
//! A double border; "Certificate of Attendance"; the pupil's name centred, as large as
//! fits on one line (40 pt down to 18 pt, then wrapped); the group, the achievement
//! (wrapped, shrunk from 13 pt to 9 pt if long), the period and the school, centred
//! between the heading and the signature line (signatory and role) and the date.

mod certificate;
mod charts;
mod layout;
mod page;
mod tables;
#[cfg(test)]
mod tests;

use printpdf::PdfDocument;

use super::document::{Certificate, Document};
use crate::delivery::channel::letter;
use certificate::lay_out_certificate;
use layout::lay_out_document;
use page::Page;

/// Why a PDF could not be made. No names are included: these messages end up in logs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PdfError {
    #[error("no certificates to render: the list is empty, so there is nothing to print")]
    NoCertificates,
    #[error("certificate {index}: the pupil's name is empty, so there is no one to award it to")]
    NoPupilName { index: usize },
    #[error("the PDF writer reported an error: {0}")]
    Pdf(String),
}

/// A report as an A4 portrait PDF. The PDF's title (document metadata) is the report's
/// title only.
pub fn document_pdf(doc: &Document) -> Result<Vec<u8>, PdfError> {
    save(&doc.title, &lay_out_document(doc))
}

/// Attendance certificates as an A4 landscape PDF, one certificate per page, in the order
/// given. An empty list is an error rather than an empty PDF.
pub fn certificates_pdf(certificates: &[Certificate]) -> Result<Vec<u8>, PdfError> {
    if certificates.is_empty() {
        return Err(PdfError::NoCertificates);
    }
    let mut pages = Vec::with_capacity(certificates.len());
    for (index, certificate) in certificates.iter().enumerate() {
        if certificate.pupil.trim().is_empty() {
            return Err(PdfError::NoPupilName { index });
        }
        pages.push(lay_out_certificate(certificate));
    }
    // Metadata anyone can read in a viewer: no names in it.
    save("Certificates of Attendance", &pages)
}

fn save(title: &str, pages: &[Page]) -> Result<Vec<u8>, PdfError> {
    let mut doc = PdfDocument::new(title);
    doc.with_pages(pages.iter().map(Page::to_pdf_page).collect());
    letter::save(&doc).map_err(PdfError::Pdf)
}
