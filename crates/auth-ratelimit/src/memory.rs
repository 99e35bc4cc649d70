//! The in-memory store: the reference implementation.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use auth_core::AuthError;
use chrono::{DateTime, Duration, Utc};

use crate::store::window_ended;
use crate::{Counter, LimitStore};

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
/// ## Bounded memory
///
/// The store holds at most [`capacity`](Self::capacity) counters
/// ([`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) unless set with
/// [`with_capacity`](Self::with_capacity)), however many distinct keys a flood brings:
///
/// - When a hit on a new key finds as many counters as the sweep threshold (at first
///   `min(1024, capacity)`), the store drops every counter whose window ended. The next threshold
///   is twice what remains (at least 1024, at most the capacity), so sweeping costs amortised
///   O(1) per hit.
/// - If the live counters still exceed 7/8 of the capacity, the least recently hit ones are
///   dropped down to 7/8 of it. A flood of distinct keys larger than the capacity within one
///   window can thus make the store forget counters; where that matters (or with several server
///   processes), use a shared store: Redis, or `auth-sea-orm`'s SQL store.
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

    /// Makes room for a new key: see the type's documentation.
    fn sweep(&self, state: &mut State, now: DateTime<Utc>) {
        state.counters.retain(|_, entry| !entry.dead(now));
        let keep = self.capacity - self.capacity / 8;
        if state.counters.len() > keep {
            let excess = state.counters.len() - keep;
            let mut by_age: Vec<(DateTime<Utc>, &String)> =
                state.counters.iter().map(|(key, entry)| (entry.counter.last_hit, key)).collect();
            // The `excess` least recently hit counters go (exactly that many, whatever the ties).
            by_age.select_nth_unstable_by_key(excess - 1, |(last_hit, _)| *last_hit);
            let doomed: Vec<String> = by_age[..excess].iter().map(|(_, key)| (*key).clone()).collect();
            for key in doomed {
                state.counters.remove(&key);
            }
        }
        state.sweep_at = (state.counters.len() * 2).clamp(MIN_SWEEP_AT.min(self.capacity), self.capacity);
    }
}

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
        if state.counters.len() >= state.sweep_at {
            self.sweep(&mut state, now);
        }
        let counter = Counter { count: 1, window_start: now, last_hit: now };
        state.counters.insert(key.to_owned(), Entry { counter, window });
        Ok(counter)
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
    async fn without_dead_counters_the_least_recently_hit_go() {
        let store = MemoryLimitStore::with_capacity(1_000);
        let w = Duration::hours(1);
        store.hit("victim", t(0), w).await.unwrap();
        store.hit("busy", t(0), w).await.unwrap();
        for i in 0..5_000_i64 {
            store.hit(&format!("flood:{i}"), t(1) + Duration::milliseconds(i), w).await.unwrap();
            store.hit("busy", t(1) + Duration::milliseconds(i), w).await.unwrap();
            assert!(store.len() <= 1_000);
        }
        let now = t(10);
        assert_eq!(
            store.get("busy", now, w).await.unwrap().map(|c| c.count),
            Some(5_001),
            "hit recently: kept"
        );
        assert_eq!(store.get("victim", now, w).await.unwrap(), None, "least recently hit: evicted");
        assert!(store.len() > 1_000 * 7 / 8 - 1, "evicts down to 7/8, not more ({})", store.len());
    }

    #[tokio::test]
    async fn ties_never_evict_more_than_needed() {
        let store = MemoryLimitStore::with_capacity(64);
        let w = Duration::hours(1);
        for i in 0..65 {
            store.hit(&format!("same-instant:{i}"), t(0), w).await.unwrap();
        }
        assert_eq!(store.len(), 64 - 64 / 8 + 1, "down to 7/8, plus the new key");
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
