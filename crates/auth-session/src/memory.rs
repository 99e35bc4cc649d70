//! The in-memory store: the reference implementation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use auth_token::{TokenHash, touch_due};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::{SessionError, SessionRecord, SessionStore};

#[derive(Debug, Default)]
struct Table {
    by_id: HashMap<String, SessionRecord>,
    /// Hash (hex) to id.
    by_hash: HashMap<String, String>,
}

impl Table {
    /// Removes the records `keep` refuses, with their index entries. Returns how many.
    fn retain(&mut self, mut keep: impl FnMut(&SessionRecord) -> bool) -> u64 {
        let before = self.by_id.len();
        self.by_id.retain(|_, record| keep(record));
        let by_id = &self.by_id;
        self.by_hash.retain(|_, id| by_id.contains_key(id));
        u64::try_from(before.saturating_sub(self.by_id.len())).unwrap_or(u64::MAX)
    }
}

fn lock(mutex: &Mutex<Table>) -> MutexGuard<'_, Table> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A [`SessionStore`] in memory, for tests, examples and single-process deployments (everything
/// is lost at exit). Clones share data; every method is one critical section.
///
/// ```
/// use auth_core::UserId;
/// use auth_session::{MemorySessionStore, SessionId, SessionRecord, SessionStore};
/// use chrono::{DateTime, Duration};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), auth_core::AuthError> {
/// let store = MemorySessionStore::new();
/// let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
/// let (cookie, hash) = SessionId::generate();
/// let record = SessionRecord::new("s1", hash, UserId::new("42"), "g1", now, now + Duration::days(14), Duration::hours(2));
/// store.insert(record).await?;
///
/// // Sign-in or privilege change: a new id for the same session.
/// let (new_cookie, new_hash) = SessionId::generate();
/// let old_hash = SessionId::parse(&cookie).expect("a session id");
/// let rotated = store.rotate(&old_hash, &new_hash, now).await?.expect("rotated");
/// assert_eq!(rotated.id, "s1");
/// assert!(store.find_by_hash(&old_hash).await?.is_none(), "the old id is dead");
/// assert!(store.find_by_hash(&SessionId::parse(&new_cookie).expect("id")).await?.is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemorySessionStore {
    inner: Arc<Mutex<Table>>,
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn insert(&self, record: SessionRecord) -> Result<(), AuthError> {
        let mut inner = lock(&self.inner);
        if inner.by_id.contains_key(&record.id) {
            return Err(SessionError::Duplicate { field: "id" }.into());
        }
        if inner.by_hash.contains_key(record.hash.as_hex()) {
            return Err(SessionError::Duplicate { field: "hash" }.into());
        }
        inner.by_hash.insert(record.hash.as_hex().to_owned(), record.id.clone());
        inner.by_id.insert(record.id.clone(), record);
        Ok(())
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, AuthError> {
        let inner = lock(&self.inner);
        Ok(inner.by_hash.get(hash.as_hex()).and_then(|id| inner.by_id.get(id)).cloned())
    }

    async fn touch(&self, id: &str, now: DateTime<Utc>) -> Result<bool, AuthError> {
        let mut inner = lock(&self.inner);
        match inner.by_id.get_mut(id) {
            Some(record) if touch_due(Some(record.last_seen_at), now) => {
                record.last_seen_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn rotate(
        &self,
        old_hash: &TokenHash,
        new_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, AuthError> {
        let mut inner = lock(&self.inner);
        let Some(id) = inner.by_hash.get(old_hash.as_hex()).cloned() else { return Ok(None) };
        if inner.by_id.get(&id).is_none_or(|record| record.check_usable(now).is_err()) {
            return Ok(None);
        }
        if inner.by_hash.contains_key(new_hash.as_hex()) {
            return Err(SessionError::Duplicate { field: "hash" }.into());
        }
        let Some(record) = inner.by_id.get_mut(&id) else { return Ok(None) };
        record.hash = new_hash.clone();
        record.last_seen_at = record.last_seen_at.max(now);
        let rotated = record.clone();
        inner.by_hash.remove(old_hash.as_hex());
        inner.by_hash.insert(new_hash.as_hex().to_owned(), id);
        Ok(Some(rotated))
    }

    async fn set_data(&self, id: &str, data: Map<String, Value>) -> Result<bool, AuthError> {
        let mut inner = lock(&self.inner);
        match inner.by_id.get_mut(id) {
            Some(record) => {
                record.data = data;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn set_value(&self, id: &str, key: &str, value: Option<Value>) -> Result<bool, AuthError> {
        let mut inner = lock(&self.inner);
        let Some(record) = inner.by_id.get_mut(id) else {
            return Ok(false);
        };
        match value {
            Some(value) => record.data.insert(key.to_owned(), value),
            None => record.data.remove(key),
        };
        Ok(true)
    }

    async fn delete(&self, id: &str) -> Result<bool, AuthError> {
        let mut inner = lock(&self.inner);
        let Some(record) = inner.by_id.remove(id) else { return Ok(false) };
        inner.by_hash.remove(record.hash.as_hex());
        Ok(true)
    }

    async fn delete_by_grant(&self, grant_id: &str) -> Result<u64, AuthError> {
        Ok(lock(&self.inner).retain(|record| record.grant_id != grant_id))
    }

    async fn delete_for_user(&self, user_id: &UserId) -> Result<u64, AuthError> {
        Ok(lock(&self.inner).retain(|record| record.user_id != *user_id))
    }

    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
        Ok(lock(&self.inner).retain(|record| record.check_usable(now).is_ok()))
    }
}
