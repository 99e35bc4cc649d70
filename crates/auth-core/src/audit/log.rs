//! The audit log the flows write to.

use std::sync::Arc;

use super::{AuditEvent, AuditQuery, AuditStore, MemoryAuditStore};
use crate::AuthError;

/// The `tracing` target of every event [`AuditLog`] emits: filter on it to route the audit trail
/// (e.g. `RUST_LOG=portcullis::audit=info`).
pub const TRACING_TARGET: &str = "portcullis::audit";

/// Emits one `tracing` event at the given level with the audit fields.
macro_rules! emit {
    ($level:expr, $event:ident, $detail:ident) => {
        tracing::event!(
            target: TRACING_TARGET,
            $level,
            id = %$event.id,
            kind = $event.kind.as_str(),
            at = %$event.at.to_rfc3339(),
            user_id = $event.user_id.as_ref().map(|id| id.as_str()),
            ip = $event.ip.as_deref(),
            user_agent = $event.user_agent.as_deref(),
            detail = %$detail,
            "audit event"
        )
    };
}

/// The log the flows write to: [`record`](Self::record) emits every event as a `tracing` event
/// and then stores it. Clones share the store.
///
/// The `tracing` event has target [`TRACING_TARGET`] (`"portcullis::audit"`), the fields `id`,
/// `kind`, `at`, `user_id`, `ip`, `user_agent` (the last three only when set) and `detail` (the
/// detail map as JSON text), and level `WARN` for [failures](super::AuditKind::is_failure), `INFO`
/// otherwise.
///
/// **A storage failure is not returned.** It is logged at `ERROR` (same target, with the event's
/// id and kind) and `record` returns normally: an audit write must not turn a successful sign-in
/// into a 500, or let a database hiccup decide whether a password change goes through. The event
/// itself has already been emitted to `tracing` by then, so it is not lost when the logs are kept.
/// Use [`store`](Self::store) to write with error handling where an event must be stored.
#[derive(Debug, Clone)]
pub struct AuditLog {
    store: Arc<dyn AuditStore>,
}

impl AuditLog {
    /// A log writing to `store`.
    pub fn new(store: Arc<dyn AuditStore>) -> Self {
        Self { store }
    }

    /// A log on a fresh [`MemoryAuditStore`].
    pub fn memory() -> Self {
        Self::new(Arc::new(MemoryAuditStore::new()))
    }

    /// The store events go to.
    pub fn store(&self) -> &Arc<dyn AuditStore> {
        &self.store
    }

    /// Emits `event` as a `tracing` event, then stores it; a storage failure is logged at `ERROR`,
    /// not returned (see the [type documentation](Self)).
    pub async fn record(&self, event: AuditEvent) {
        let detail = serde_json::to_string(&event.detail).unwrap_or_else(|_| "{}".to_owned());
        if event.kind.is_failure() {
            emit!(tracing::Level::WARN, event, detail);
        } else {
            emit!(tracing::Level::INFO, event, detail);
        }
        if let Err(error) = self.store.record(&event).await {
            tracing::error!(
                target: TRACING_TARGET,
                id = %event.id,
                kind = event.kind.as_str(),
                error = %error_chain(&error),
                "audit event could not be stored"
            );
        }
    }

    /// The stored events matching `query`, newest first (see [`AuditStore::list`]).
    pub async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, AuthError> {
        self.store.list(query).await
    }
}

/// `error` and its sources, joined by `": "`.
fn error_chain(error: &AuthError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
