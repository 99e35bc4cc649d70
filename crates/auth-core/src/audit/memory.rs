//! The in-memory audit store.

use std::sync::RwLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{AuditEvent, AuditQuery, AuditStore, sort_newest_first};
use crate::AuthError;

/// An [`AuditStore`] in memory, for tests, examples and single-process prototypes. Events are
/// lost when the process ends; nothing deletes them but [`delete_before`](AuditStore::delete_before).
#[derive(Debug, Default)]
pub struct MemoryAuditStore {
    events: RwLock<Vec<AuditEvent>>,
}

impl MemoryAuditStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl AuditStore for MemoryAuditStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuthError> {
        self.events.write().unwrap_or_else(|p| p.into_inner()).push(event.clone());
        Ok(())
    }

    async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, AuthError> {
        let mut found: Vec<AuditEvent> = {
            let events = self.events.read().unwrap_or_else(|p| p.into_inner());
            events.iter().filter(|event| query.matches(event)).cloned().collect()
        };
        sort_newest_first(&mut found);
        found.truncate(query.effective_limit());
        Ok(found)
    }

    async fn delete_before(&self, before: DateTime<Utc>) -> Result<u64, AuthError> {
        let mut events = self.events.write().unwrap_or_else(|p| p.into_inner());
        let count = events.len();
        events.retain(|event| event.at >= before);
        Ok(u64::try_from(count - events.len()).unwrap_or(u64::MAX))
    }
}
