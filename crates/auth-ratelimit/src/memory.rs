//! The in-memory store: the reference implementation.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use auth_core::AuthError;
use chrono::{DateTime, Duration, Utc};

use crate::store::window_ended;
use crate::{Attempt, Counter, Limit, LimitStore};

/// Below this many counters the store never sweeps.
const MIN_SWEEP_AT: usize = 1024;

struct Entry {
    counter: Counter,
    /// The window of the latest hit, to tell when the counter is dead.
    window: Duration,
}

impl Entry {
    fn dead(&self, now: DateTime<Utc>) -> bool {
        window_ended(self.counter.window_start, now, self.window)
    }
}

struct State {
    counters: HashMap<String, Entry>,
    /// A new key arriving at this many counters triggers a sweep.
    sweep_at: usize,
}

/// A [`LimitStore`] in memory, for tests, examples and single-process deployments (counters are
/// per process and lost at exit). Clones share data; every method is one critical section, so
/// hits are atomic. Its `Debug` shows only counts.
///
/// ## Bounded memory, failing closed
///
/// The store holds at most [`capacity`](Self::capacity) counters
/// ([`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) unless set with
/// [`with_capacity`](Self::with_capacity)), however many distinct keys a flood brings:
///
/// - When a hit on a new key finds as many counters as the sweep threshold (at first
///   `min(1024, capacity)`), the store drops every counter whose window ended. The next threshold
///   is twice what remains (at least 1024, at most the capacity), so sweeping costs amortised
///   O(1) per hit.
/// - A live counter is never dropped to make room (that would let a flood of new keys wipe a
///   lockout). When the live counters fill the store, a new key is refused:
///   [`AuthError::RateLimited`] — the attempt is refused, not let through unchecked. Give floods
///   of request counters (reset mails, say) a store of their own, so they cannot fill the store of
///   sign-in counters; with several server processes use a shared store (Redis, or
///   `auth-sea-orm`'s SQL store).
///
/// ```
/// use auth_ratelimit::{LimitStore, MemoryLimitStore};
/// use chrono::{DateTime, Duration};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), auth_core::AuthError> {
/// let store = MemoryLimitStore::new();
/// let (t, window) = (DateTime::from_timestamp(1_700_000_000, 0).unwrap(), Duration::minutes(15));
/// assert_eq!(store.hit("signin:ip:192.0.2.1", t, window).await?.count, 1);
/// assert_eq!(store.hit("signin:ip:192.0.2.1", t + Duration::seconds(5), window).await?.count, 2);
/// // At the end of the window the counter is gone; the next hit starts a new window.
/// assert_eq!(store.get("signin:ip:192.0.2.1", t + window, window).await?, None);
/// assert_eq!(store.hit("signin:ip:192.0.2.1", t + window, window).await?.count, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryLimitStore {
    inner: Arc<Mutex<State>>,
    capacity: usize,
}

impl MemoryLimitStore {
    /// The capacity of [`MemoryLimitStore::new`]: 100 000 counters (some tens of megabytes at most).
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// An empty store holding at most [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) counters.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// An empty store holding at most `capacity` counters (at least 8).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(8);
        let state = State { counters: HashMap::new(), sweep_at: MIN_SWEEP_AT.min(capacity) };
        Self { inner: Arc::new(Mutex::new(state)), capacity }
    }

    /// The most counters this store holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many counters the store holds now, including dead ones not swept yet.
    pub fn len(&self) -> usize {
        self.state().counters.len()
    }

    /// Whether the store holds no counter.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every method leaves the state consistent before it can panic, so a poisoned lock is fine.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes room for a new key: drops the dead counters (see the type's documentation); a store
    /// still full refuses the key.
    fn make_room(&self, state: &mut State, now: DateTime<Utc>) -> Result<(), AuthError> {
        if state.counters.len() >= state.sweep_at {
            state.counters.retain(|_, entry| !entry.dead(now));
            state.sweep_at = (state.counters.len() * 2).clamp(MIN_SWEEP_AT.min(self.capacity), self.capacity);
        }
        if state.counters.len() >= self.capacity {
            tracing::warn!(
                capacity = self.capacity,
                "rate-limit store full of live counters: refusing a new key"
            );
            return Err(AuthError::RateLimited { retry_after_seconds: FULL_RETRY_AFTER_SECONDS });
        }
        Ok(())
    }
}

/// How long a client refused by a full store is told to wait.
const FULL_RETRY_AFTER_SECONDS: u64 = 60;

impl Default for MemoryLimitStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryLimitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLimitStore")
            .field("counters", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[async_trait]
impl LimitStore for MemoryLimitStore {
    async fn hit(&self, key: &str, now: DateTime<Utc>, window: Duration) -> Result<Counter, AuthError> {
        let mut state = self.state();
        if let Some(entry) = state.counters.get_mut(key) {
            if window_ended(entry.counter.window_start, now, window) {
                entry.counter = Counter { count: 1, window_start: now, last_hit: now };
            } else {
                entry.counter.count = entry.counter.count.saturating_add(1);
                entry.counter.last_hit = now;
            }
            entry.window = window;
            return Ok(entry.counter);
        }
        self.make_room(&mut state, now)?;
        let counter = Counter { count: 1, window_start: now, last_hit: now };
        state.counters.insert(key.to_owned(), Entry { counter, window });
        Ok(counter)
    }

    async fn attempt(&self, key: &str, now: DateTime<Utc>, limit: &Limit) -> Result<Attempt, AuthError> {
        let mut state = self.state();
        if let Some(entry) = state.counters.get_mut(key) {
            if window_ended(entry.counter.window_start, now, limit.window) {
                entry.counter = Counter { count: 1, window_start: now, last_hit: now };
            } else if limit.refuses(Some(&entry.counter), now).is_some() {
                return Ok(Attempt::Refused(entry.counter));
            } else {
                entry.counter.count = entry.counter.count.saturating_add(1);
                entry.counter.last_hit = now;
            }
            entry.window = limit.window;
            return Ok(Attempt::Counted(entry.counter));
        }
        self.make_room(&mut state, now)?;
        let counter = Counter { count: 1, window_start: now, last_hit: now };
        if limit.max == 0 {
            return Ok(Attempt::Refused(counter));
        }
        state.counters.insert(key.to_owned(), Entry { counter, window: limit.window });
        Ok(Attempt::Counted(counter))
    }

    async fn release(&self, key: &str, now: DateTime<Utc>, window: Duration) -> Result<(), AuthError> {
        let mut state = self.state();
        let Some(entry) = state.counters.get_mut(key) else { return Ok(()) };
        if window_ended(entry.counter.window_start, now, window) {
            return Ok(());
        }
        if entry.counter.count <= 1 {
            state.counters.remove(key);
        } else {
            entry.counter.count -= 1;
        }
        Ok(())
    }

    async fn get(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Option<Counter>, AuthError> {
        let state = self.state();
        Ok(state
            .counters
            .get(key)
            .map(|entry| entry.counter)
            .filter(|counter| !window_ended(counter.window_start, now, window)))
    }

    async fn clear(&self, key: &str) -> Result<(), AuthError> {
        self.state().counters.remove(key);
        Ok(())
    }

    async fn flush_expired(&self, before: DateTime<Utc>) -> Result<u64, AuthError> {
        let mut state = self.state();
        let len = state.counters.len();
        state.counters.retain(|_, entry| entry.counter.last_hit >= before);
        Ok(u64::try_from(len - state.counters.len()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    #[tokio::test]
    async fn dead_counters_are_swept_and_memory_stays_bounded() {
        let store = MemoryLimitStore::with_capacity(2_000);
        let w = Duration::seconds(60);
        // A flood of distinct keys, each hit once, one every 60 ms for 20 minutes: 1 000 live at
        // any time.
        for i in 0..20_000_i64 {
            let now = t(0) + Duration::milliseconds(i * 60);
            store.hit(&format!("flood:{i}"), now, w).await.unwrap();
            assert!(store.len() <= 2_000, "at most the capacity ({} at {i})", store.len());
        }
        // No live counter was evicted: dead ones made the room.
        let now = t(0) + Duration::milliseconds(19_999 * 60);
        for i in 19_017..20_000 {
            assert_eq!(
                store.get(&format!("flood:{i}"), now, w).await.unwrap().map(|c| c.count),
                Some(1),
                "{i}"
            );
        }
    }

    #[tokio::test]
    async fn a_full_store_refuses_new_keys_and_never_drops_live_ones() {
        let store = MemoryLimitStore::with_capacity(1_000);
        let w = Duration::hours(1);
        let limit = Limit::new(5, w);
        store.hit("victim", t(0), w).await.unwrap();
        let mut refused = 0;
        for i in 0..5_000_i64 {
            match store.hit(&format!("flood:{i}"), t(1) + Duration::milliseconds(i), w).await {
                Ok(_) => {}
                Err(AuthError::RateLimited { retry_after_seconds }) => {
                    assert!(retry_after_seconds >= 1);
                    refused += 1;
                }
                Err(other) => panic!("{other:?}"),
            }
            assert!(store.len() <= 1_000);
        }
        assert_eq!(refused, 4_001, "the store filled up, then refused every new key");
        assert_eq!(store.get("victim", t(10), w).await.unwrap().map(|c| c.count), Some(1), "never evicted");
        assert!(matches!(store.attempt("new", t(10), &limit).await, Err(AuthError::RateLimited { .. })));
        assert!(
            matches!(store.attempt("victim", t(10), &limit).await, Ok(Attempt::Counted(_))),
            "known keys go on"
        );
        // Once the windows end, the dead counters make room again.
        assert!(store.hit("later", t(0) + w + Duration::seconds(10), w).await.is_ok());
    }

    #[tokio::test]
    async fn small_stores_sweep_without_evicting_live_counters() {
        let store = MemoryLimitStore::new();
        let w = Duration::seconds(10);
        for i in 0..3_000_i64 {
            store.hit(&format!("k:{i}"), t(i), w).await.unwrap();
        }
        // Sweeps ran at 1 024 and later thresholds: only counters of the last 10 s and those
        // added since the last sweep remain.
        assert!(store.len() < 1_100, "dead counters are swept ({})", store.len());
        assert_eq!(store.get("k:2999", t(2_999), w).await.unwrap().map(|c| c.count), Some(1));
        assert!(format!("{store:?}").starts_with("MemoryLimitStore { counters: "));
    }
}
