//! The in-process cache of stored credentials (opaque tokens, API keys, cookie sessions) and the
//! writer of their last use, off the request path.
//!
//! A credential is looked up by the SHA-256 of its secret ([`TokenHash`]). The cache keeps the
//! record read from the store for at most [`FlowConfig::credential_cache_ttl`]
//! (crate::FlowConfig::credential_cache_ttl) (one second by default, the bound revocations of
//! access tokens already have), so a credential used again within that time costs no statement.
//! What the cache does not change:
//!
//! - **Expiry** (absolute and idle) is decided on every request from the record and the injected
//!   clock, as without the cache.
//! - **Revocation** of grants (opaque tokens and cookie sessions are grants) and of every
//!   credential of a user (sign-out-all, password change) is looked up in the
//!   [`RevocationList`](auth_blacklist::RevocationList) on every request: at once in this process,
//!   and in others as soon as their list syncs.
//! - **The user** (active, authority) comes from the user-state cache on every request.
//! - Whatever this process changes about a credential (sign-out, session rotation, session data,
//!   an API key revoked) forgets its entry at once. A change made by another process that is not
//!   a grant revocation (an API key revoked there, session data written there) is seen within the
//!   cache's TTL.
//!
//! The last use (`last_used_at`, which idle expiry and the sessions list read) is written at most
//! once a minute per credential per process, by a task spawned off the request; a fresher last use
//! this process knows of is never replaced by an older one read back from the store.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use auth_core::{AuthError, ExpiringMap};
use auth_token::TokenHash;
use chrono::{DateTime, Duration, Utc};

/// The default capacity of each credential kind's cache.
pub const DEFAULT_CREDENTIAL_CACHE_CAPACITY: usize = 10_000;

/// A record the cache can hold: its id and the last use it carries.
pub(crate) trait CachedRecord: Clone + Send + Sync + 'static {
    /// The record's id (what revocation by id matches).
    fn record_id(&self) -> &str;
    /// Whose credential it is.
    #[cfg_attr(not(feature = "api-keys"), allow(dead_code))]
    fn owner(&self) -> &auth_core::UserId;
    /// When it was last used, as far as the record knows.
    fn last_use(&self) -> Option<DateTime<Utc>>;
    /// Moves the last use (never backwards: the caller checks).
    fn set_last_use(&mut self, at: DateTime<Utc>);
}

#[cfg(feature = "opaque-tokens")]
impl CachedRecord for auth_token::OpaqueTokenRecord {
    fn record_id(&self) -> &str {
        &self.id
    }
    fn owner(&self) -> &auth_core::UserId {
        &self.user_id
    }
    fn last_use(&self) -> Option<DateTime<Utc>> {
        Some(self.last_used_at)
    }
    fn set_last_use(&mut self, at: DateTime<Utc>) {
        self.last_used_at = at;
    }
}

#[cfg(feature = "api-keys")]
impl CachedRecord for auth_token::ApiKeyRecord {
    fn record_id(&self) -> &str {
        &self.id
    }
    fn owner(&self) -> &auth_core::UserId {
        &self.user_id
    }
    fn last_use(&self) -> Option<DateTime<Utc>> {
        self.last_used_at
    }
    fn set_last_use(&mut self, at: DateTime<Utc>) {
        self.last_used_at = Some(at);
    }
}

#[cfg(feature = "sessions")]
impl CachedRecord for auth_session::SessionRecord {
    fn record_id(&self) -> &str {
        &self.id
    }
    fn owner(&self) -> &auth_core::UserId {
        &self.user_id
    }
    fn last_use(&self) -> Option<DateTime<Utc>> {
        Some(self.last_seen_at)
    }
    fn set_last_use(&mut self, at: DateTime<Utc>) {
        self.last_seen_at = at;
    }
}

#[derive(Debug)]
struct Entry<R> {
    record: R,
    fetched: DateTime<Utc>,
}

/// Hits and misses of one credential kind's cache, and its size: see
/// [`AuthService::credential_cache_stats`](crate::AuthService::credential_cache_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that read the store.
    pub misses: u64,
    /// Entries held now (at most the capacity).
    pub entries: usize,
    /// The bound on `entries`.
    pub capacity: usize,
}

/// A bounded map from a credential's hash to its record, each entry fresh for `ttl`.
#[derive(Debug)]
pub(crate) struct CredentialCache<R> {
    ttl: Duration,
    capacity: usize,
    entries: RwLock<ExpiringMap<TokenHash, Entry<R>, DateTime<Utc>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<R> Default for CredentialCache<R> {
    fn default() -> Self {
        Self {
            ttl: Duration::zero(),
            capacity: 0,
            entries: RwLock::new(ExpiringMap::new(0)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }
}

impl<R: CachedRecord> CredentialCache<R> {
    /// A cache of at most `capacity` entries, each used for `ttl`; either zero turns it off.
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self { ttl, capacity, entries: RwLock::new(ExpiringMap::new(capacity)), ..Self::default() }
    }

    fn enabled(&self) -> bool {
        self.capacity > 0 && self.ttl > Duration::zero()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, ExpiringMap<TokenHash, Entry<R>, DateTime<Utc>>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, ExpiringMap<TokenHash, Entry<R>, DateTime<Utc>>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The record cached for `hash` if it was read from the store less than `ttl` before `now`.
    pub(crate) fn fresh(&self, hash: &TokenHash, now: DateTime<Utc>) -> Option<R> {
        if !self.enabled() {
            return None;
        }
        let found =
            self.read().get(hash, now).filter(|entry| entry.fetched <= now).map(|entry| entry.record.clone());
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Remembers `record`, just read from the store, for `hash`. A later last use this process
    /// knows of (a write still on its way, or coalesced) is kept. Returns the record as cached.
    pub(crate) fn fill(&self, hash: &TokenHash, mut record: R, now: DateTime<Utc>) -> R {
        if !self.enabled() {
            return record;
        }
        let mut entries = self.write();
        if let Some((previous, _)) = entries.get_with_expiry(hash)
            && previous.record.record_id() == record.record_id()
            && let Some(known) = previous.record.last_use()
            && record.last_use().is_none_or(|stored| stored < known)
        {
            record.set_last_use(known);
        }
        let expires = auth_core::saturating_add(now, self.ttl);
        entries.insert(hash.clone(), Entry { record: record.clone(), fetched: now }, expires, now);
        record
    }

    /// Records a use at `at` in the cached entry (the store is written separately).
    pub(crate) fn used(&self, hash: &TokenHash, at: DateTime<Utc>) {
        if let Some(entry) = self.write().get_mut(hash)
            && entry.record.last_use().is_none_or(|last| last < at)
        {
            entry.record.set_last_use(at);
        }
    }

    /// Forgets the entry of `hash`.
    #[cfg_attr(not(any(feature = "opaque-tokens", feature = "sessions")), allow(dead_code))]
    pub(crate) fn forget(&self, hash: &TokenHash) {
        self.write().remove(hash);
    }

    /// Forgets the entry of the record with this id.
    #[cfg_attr(not(any(feature = "api-keys", feature = "sessions")), allow(dead_code))]
    pub(crate) fn forget_id(&self, id: &str) {
        self.write().retain(|_, entry| entry.record.record_id() != id);
    }

    /// Forgets the entries of every credential of `user`.
    #[cfg_attr(not(feature = "api-keys"), allow(dead_code))]
    pub(crate) fn forget_owner(&self, user: &auth_core::UserId) {
        self.write().retain(|_, entry| entry.record.owner() != user);
    }

    /// Hits, misses and size.
    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.read().len(),
            capacity: self.capacity,
        }
    }
}

/// Above this many last-use writes in flight, a new one is written on the request path: the
/// bound on the tasks the writer spawns.
const MAX_PENDING_WRITES: usize = 1024;

/// Writes last uses off the request path; [`LastUseWriter::flush`] waits for those in flight.
#[derive(Debug, Default)]
pub(crate) struct LastUseWriter {
    pending: Arc<AtomicUsize>,
    idle: Arc<tokio::sync::Notify>,
}

impl LastUseWriter {
    /// Runs `write` on a spawned task (inline outside a tokio runtime, or when too many writes are
    /// in flight). A failed write is logged: the last use is advisory, the next use writes again.
    pub(crate) async fn write<F>(&self, write: F)
    where
        F: Future<Output = Result<(), AuthError>> + Send + 'static,
    {
        let runtime = tokio::runtime::Handle::try_current();
        let pending = self.pending.fetch_add(1, Ordering::AcqRel);
        let done = {
            let pending = Arc::clone(&self.pending);
            let idle = Arc::clone(&self.idle);
            move |result: Result<(), AuthError>| {
                if let Err(error) = result {
                    tracing::warn!(%error, "writing a credential's last use failed");
                }
                if pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                    idle.notify_waiters();
                }
            }
        };
        match runtime {
            Ok(runtime) if pending < MAX_PENDING_WRITES => {
                runtime.spawn(async move { done(write.await) });
            }
            _ => done(write.await),
        }
    }

    /// Waits until every last use written so far is in the store.
    pub(crate) async fn flush(&self) {
        loop {
            let notified = self.idle.notified();
            if self.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(all(test, feature = "opaque-tokens"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use auth_core::UserId;
    use auth_token::OpaqueTokenRecord;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + seconds, 0).unwrap()
    }

    fn record(id: &str, last_used: i64) -> (TokenHash, OpaqueTokenRecord) {
        let hash = TokenHash::of(id);
        let mut record =
            OpaqueTokenRecord::new(id, hash.clone(), "lookup", UserId::new("u"), "g", at(0), at(86_400));
        record.last_used_at = at(last_used);
        (hash, record)
    }

    #[test]
    fn entries_are_fresh_for_the_ttl_only() {
        let cache = CredentialCache::new(Duration::seconds(1), 10);
        let (hash, r) = record("a", 0);
        assert!(cache.fresh(&hash, at(0)).is_none());
        cache.fill(&hash, r, at(0));
        assert!(cache.fresh(&hash, at(0)).is_some());
        assert!(cache.fresh(&hash, at(1)).is_none(), "a TTL of 1 s: stale at 1 s");
        assert!(cache.fresh(&hash, at(-1)).is_none(), "a clock moved back does not trust the entry");
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries), (1, 3, 1));
    }

    #[test]
    fn a_later_use_known_here_survives_a_read_back() {
        let cache = CredentialCache::new(Duration::seconds(1), 10);
        let (hash, r) = record("a", 0);
        cache.fill(&hash, r.clone(), at(0));
        cache.used(&hash, at(100));
        // The store still says 0 (the write is on its way): the cache keeps 100.
        let refilled = cache.fill(&hash, r, at(120));
        assert_eq!(refilled.last_used_at, at(100));
        // The store knows of a later use (another process): it wins.
        let (_, newer) = record("a", 200);
        assert_eq!(cache.fill(&hash, newer, at(220)).last_used_at, at(200));
    }

    #[test]
    fn bounded_and_forgettable() {
        let cache = CredentialCache::new(Duration::seconds(1), 2);
        for id in ["a", "b", "c"] {
            let (hash, r) = record(id, 0);
            cache.fill(&hash, r, at(0));
        }
        assert_eq!(cache.stats().entries, 2);
        let (c, _) = record("c", 0);
        assert!(cache.fresh(&c, at(0)).is_some(), "the newest entry is kept");
        cache.forget_id("c");
        assert!(cache.fresh(&c, at(0)).is_none());
        let off = CredentialCache::new(Duration::zero(), 10);
        let (hash, r) = record("a", 0);
        off.fill(&hash, r, at(0));
        assert!(off.fresh(&hash, at(0)).is_none(), "a zero TTL turns it off");
    }

    #[tokio::test]
    async fn flush_waits_for_writes_in_flight() {
        let writer = LastUseWriter::default();
        let written = Arc::new(AtomicUsize::new(0));
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let counter = Arc::clone(&written);
        writer
            .write(async move {
                wait.await.ok();
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert_eq!(written.load(Ordering::SeqCst), 0, "the write runs off the caller's path");
        release.send(()).unwrap();
        writer.flush().await;
        assert_eq!(written.load(Ordering::SeqCst), 1);
    }
}
