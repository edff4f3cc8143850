//! Printable letters as PDF, positioned for a window envelope, batched one PDF per day.
