//! Email over SMTP with lettre: multipart plain text + HTML, attachments, stable Message-IDs.
