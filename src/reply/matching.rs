//! placeholder
use std::sync::Arc;
pub async fn match_reply(
    _store: &crate::register::store::Store,
    _schools: &[Arc<crate::school::SchoolRuntime>],
    _settings: &crate::config::RepliesConfig,
    _reply: i64,
) -> anyhow::Result<()> {
    Ok(())
}
