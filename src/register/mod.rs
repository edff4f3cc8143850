//! The register: attendance codes ([`mark`]), the calendar and sessions ([`session`]), pupils
//! and contacts ([`pupil`]), what the school records beside the export ([`records`]), where
//! they are kept ([`store`]), how they come in ([`import`],
//! [`inbox`]) and the facts read off them ([`facts`], pure; [`stats`] for a whole school).

pub mod facts;
pub mod import;
pub mod inbox;
pub mod mark;
pub mod phone;
pub mod pupil;
pub mod records;
pub mod session;
pub mod stats;
pub mod store;
