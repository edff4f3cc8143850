//! One school as rollcall runs it: its configuration, checked policy and templates, loaded
//! once and shared by every step (inbox, escalation, delivery, tasks, LA returns). It lives
//! below all of them so none has to reach up into another step for it.

use crate::config::SchoolConfig;
use crate::delivery::template::Templates;
use crate::escalation::policy::Policy;
use crate::register::store::SchoolId;

/// One school as the daemon runs it.
pub struct SchoolRuntime {
    pub id: SchoolId,
    pub config: SchoolConfig,
    pub policy: Policy,
    pub templates: Templates,
}
