//! In-memory stores: the reference implementations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use chrono::{DateTime, Utc};

use crate::usable::touch_due;
use crate::{ApiKeyRecord, ApiKeyStore, OpaqueTokenRecord, OpaqueTokenStore, TokenError, TokenHash};

/// Records by id, with an index by hash.
#[derive(Debug)]
struct Table<R> {
    by_id: HashMap<String, R>,
    /// Hash (hex) to id.
    by_hash: HashMap<String, String>,
}

impl<R> Default for Table<R> {
    fn default() -> Self {
        Self { by_id: HashMap::new(), by_hash: HashMap::new() }
    }
}

/// What the table needs to know of a record.
trait Keyed: Clone {
    fn hash(&self) -> &TokenHash;
}

impl Keyed for OpaqueTokenRecord {
    fn hash(&self) -> &TokenHash {
        &self.hash
    }
}

impl Keyed for ApiKeyRecord {
    fn hash(&self) -> &TokenHash {
        &self.hash
    }
}

impl<R: Keyed> Table<R> {
    fn insert(&mut self, what: &'static str, id: String, record: R) -> Result<(), AuthError> {
        if self.by_id.contains_key(&id) {
            return Err(TokenError::Duplicate { what, field: "id" }.into());
        }
        let hash = record.hash().as_hex();
        if self.by_hash.contains_key(hash) {
            return Err(TokenError::Duplicate { what, field: "hash" }.into());
        }
        self.by_hash.insert(hash.to_owned(), id.clone());
        self.by_id.insert(id, record);
        Ok(())
    }

    fn remove(&mut self, id: &str) -> bool {
        let Some(record) = self.by_id.remove(id) else { return false };
        self.by_hash.remove(record.hash().as_hex());
        true
    }

    fn find_by_hash(&self, hash: &TokenHash) -> Option<R> {
        self.by_hash.get(hash.as_hex()).and_then(|id| self.by_id.get(id)).cloned()
    }

    /// Removes the records `keep` refuses, with their index entries. Returns how many.
    fn retain(&mut self, mut keep: impl FnMut(&R) -> bool) -> u64 {
        let before = self.by_id.len();
        self.by_id.retain(|_, record| keep(record));
        let by_id = &self.by_id;
        self.by_hash.retain(|_, id| by_id.contains_key(id));
        u64::try_from(before.saturating_sub(self.by_id.len())).unwrap_or(u64::MAX)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An [`OpaqueTokenStore`] in memory, for tests, examples and single-process deployments
/// (everything is lost at exit). Clones share data; every method is one critical section.
///
/// ```
/// use auth_core::UserId;
/// use auth_token::{MemoryOpaqueTokenStore, OpaqueTokenRecord, OpaqueTokenStore, TokenFormat};
/// use chrono::{DateTime, Duration};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), auth_core::AuthError> {
/// let store = MemoryOpaqueTokenStore::new();
/// let format = TokenFormat::opaque_token();
/// let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
/// let secret = format.generate();
/// let record = OpaqueTokenRecord::from_secret("t1", &secret, UserId::new("42"), "g1", now, now + Duration::days(30));
/// store.insert(record).await?;
///
/// // A request presents the token.
/// let hash = format.parse(secret.token()).expect("a pct_ token");
/// let found = store.find_by_hash(&hash).await?.expect("known");
/// assert!(found.check_usable(now).is_ok());
/// assert!(!store.touch(&found.id, now + Duration::seconds(30)).await?, "no write within the minute");
/// assert!(store.touch(&found.id, now + Duration::seconds(61)).await?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryOpaqueTokenStore {
    inner: Arc<Mutex<Table<OpaqueTokenRecord>>>,
}

impl MemoryOpaqueTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl OpaqueTokenStore for MemoryOpaqueTokenStore {
    async fn insert(&self, record: OpaqueTokenRecord) -> Result<(), AuthError> {
        lock(&self.inner).insert("opaque token", record.id.clone(), record)
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<OpaqueTokenRecord>, AuthError> {
        Ok(lock(&self.inner).find_by_hash(hash))
    }

    async fn touch(&self, id: &str, now: DateTime<Utc>) -> Result<bool, AuthError> {
        let mut inner = lock(&self.inner);
        match inner.by_id.get_mut(id) {
            Some(record) if touch_due(Some(record.last_used_at), now) => {
                record.last_used_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, id: &str) -> Result<bool, AuthError> {
        Ok(lock(&self.inner).remove(id))
    }

    async fn delete_by_grant(&self, grant_id: &str) -> Result<u64, AuthError> {
        Ok(lock(&self.inner).retain(|record| record.grant_id != grant_id))
    }

    async fn delete_for_user(&self, user_id: &UserId) -> Result<u64, AuthError> {
        Ok(lock(&self.inner).retain(|record| record.user_id != *user_id))
    }

    async fn list_for_user(&self, user_id: &UserId) -> Result<Vec<OpaqueTokenRecord>, AuthError> {
        let mut records: Vec<OpaqueTokenRecord> =
            lock(&self.inner).by_id.values().filter(|record| record.user_id == *user_id).cloned().collect();
        records.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        Ok(records)
    }

    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
        Ok(lock(&self.inner).retain(|record| record.check_usable(now).is_ok()))
    }
}

/// An [`ApiKeyStore`] in memory, for tests, examples and single-process deployments (everything
/// is lost at exit). Clones share data; every method is one critical section.
///
/// ```
/// use auth_core::UserId;
/// use auth_token::{ApiKeyRecord, ApiKeyStore, MemoryApiKeyStore, TokenFormat};
/// use chrono::DateTime;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), auth_core::AuthError> {
/// let store = MemoryApiKeyStore::new();
/// let (alice, now) = (UserId::new("alice"), DateTime::from_timestamp(1_700_000_000, 0).unwrap());
/// let secret = TokenFormat::api_key().generate();
/// store.insert(ApiKeyRecord::from_secret("k1", &secret, alice.clone(), "ci", vec!["deploy".into()], now)).await?;
///
/// let listed: Vec<_> = store.list_for_user(&alice).await?.iter().map(|k| k.public_view()).collect();
/// assert_eq!(listed[0].name, "ci");
/// assert!(!store.revoke(&UserId::new("mallory"), "k1", now).await?, "not mallory's key");
/// assert!(store.revoke(&alice, "k1", now).await?);
/// assert!(store.list_for_user(&alice).await?.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryApiKeyStore {
    inner: Arc<Mutex<Table<ApiKeyRecord>>>,
}

impl MemoryApiKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ApiKeyStore for MemoryApiKeyStore {
    async fn insert(&self, record: ApiKeyRecord) -> Result<(), AuthError> {
        lock(&self.inner).insert("API key", record.id.clone(), record)
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiKeyRecord>, AuthError> {
        Ok(lock(&self.inner).find_by_hash(hash))
    }

    async fn touch(&self, id: &str, now: DateTime<Utc>) -> Result<bool, AuthError> {
        let mut inner = lock(&self.inner);
        match inner.by_id.get_mut(id) {
            Some(record) if record.revoked_at.is_none() && touch_due(record.last_used_at, now) => {
                record.last_used_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke(&self, user_id: &UserId, id: &str, now: DateTime<Utc>) -> Result<bool, AuthError> {
        let mut inner = lock(&self.inner);
        match inner.by_id.get_mut(id) {
            Some(record) if record.user_id == *user_id && record.revoked_at.is_none() => {
                record.revoked_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_all_for_user(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<u64, AuthError> {
        let mut inner = lock(&self.inner);
        let mut revoked = 0;
        for record in inner.by_id.values_mut() {
            if record.user_id == *user_id && record.revoked_at.is_none() {
                record.revoked_at = Some(now);
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    async fn list_for_user(&self, user_id: &UserId) -> Result<Vec<ApiKeyRecord>, AuthError> {
        let mut records: Vec<ApiKeyRecord> = lock(&self.inner)
            .by_id
            .values()
            .filter(|record| record.user_id == *user_id && record.revoked_at.is_none())
            .cloned()
            .collect();
        records.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        Ok(records)
    }

    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
        Ok(lock(&self.inner).retain(|record| {
            record.expires_at.is_none_or(|end| end > now) && record.revoked_at.is_none_or(|at| at > now)
        }))
    }
}
