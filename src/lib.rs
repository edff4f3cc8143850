//! rollcall: attendance escalation for schools in England.
//!
//! Data flows one way, one module per step:
//! register ([`mark`], [`session`], [`pupil`], [`store`], [`import`]) →
//! facts ([`facts`], pure statistics) → decisions → outbox → channels and reports.

pub mod cli;
pub mod config;
pub mod demo;
pub mod facts;
pub mod generate;
pub mod import;
pub mod mark;
pub mod pupil;
pub mod session;
pub mod stats;
pub mod store;
