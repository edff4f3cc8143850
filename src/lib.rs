//! rollcall: attendance escalation for schools in England.
//!
//! Data flows one way, one module per step:
//! register ([`mark`], [`session`], [`pupil`], [`store`], [`import`]) →
//! facts ([`facts`], pure statistics) → decisions ([`policy`] parsed and checked, [`trigger`]
//! where each trigger is evaluated, [`stage`] what each case does next, [`guard`] what is held
//! back; all pure) → outbox ([`outbox`], durable) → channels and reports.

pub mod case;
pub mod channel;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod delivery;
pub mod demo;
pub mod escalation;
pub mod facts;
pub mod gallery;
pub mod generate;
pub mod guard;
pub mod import;
pub mod inbox;
pub mod logging;
pub mod mark;
pub mod message;
pub mod outbox;
mod output;
pub mod policy;
pub mod preview;
pub mod private;
pub mod pupil;
pub mod report;
pub mod schedule;
pub mod session;
pub mod spreadsheet;
pub mod stage;
pub mod stats;
pub mod status;
pub mod store;
pub mod tasks;
pub mod template;
pub mod trigger;
