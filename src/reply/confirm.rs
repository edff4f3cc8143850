//! placeholder
use std::sync::Arc;
pub async fn queue_acknowledgement(
    _store: &crate::register::store::Store,
    _schools: &[Arc<crate::school::SchoolRuntime>],
    _reply: i64,
    _now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    Ok(())
}
