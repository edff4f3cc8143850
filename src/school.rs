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

impl SchoolRuntime {
    /// Every school of the config, registered in the store, with its policy and templates.
    pub async fn load_all(
        config: &crate::config::Config,
        store: &crate::register::store::Store,
    ) -> anyhow::Result<Vec<std::sync::Arc<SchoolRuntime>>> {
        use anyhow::Context as _;
        let mut schools = Vec::with_capacity(config.schools.len());
        for school in &config.schools {
            let id = store.ensure_school(school).await?;
            let policy = crate::escalation::load_policy(config, school)?;
            let templates = Templates::load(school.templates.as_deref())
                .with_context(|| format!("school {}: templates", school.id))?;
            schools.push(std::sync::Arc::new(SchoolRuntime {
                id,
                config: school.clone(),
                policy,
                templates,
            }));
        }
        Ok(schools)
    }
}
