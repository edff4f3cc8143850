//! rollcall: attendance escalation for schools in England.
//!
//! Data flows one way, one folder per step:
//! [`register`] (marks, sessions, pupils, the store, imports and the inbox, and the facts —
//! pure statistics — read off them) → [`escalation`] (the policy parsed and checked, where
//! each trigger is evaluated, what each case does next and what is held back; all pure, with
//! one I/O pass around them) → [`delivery`] (the durable outbox, message data, templates and
//! channels) and [`report`]. The daemon, its schedule and the command line sit on top.

pub mod cli;
pub mod cli_records;
pub mod config;
pub mod daemon;
pub mod delivery;
pub mod demo;
pub mod escalation;
pub mod gallery;
pub mod generate;
pub mod logging;
mod output;
pub mod private;
pub mod register;
pub mod reply;
pub mod report;
pub mod schedule;
pub mod school;
pub mod status;
pub mod web;
