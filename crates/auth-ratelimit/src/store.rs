//! The counter store trait.

use async_trait::async_trait;
use auth_core::AuthError;
use chrono::{DateTime, Duration, Utc};

/// A key's counter within its current window.
///
/// A window is fixed: the first hit on a key starts it, and it ends `window` later whatever
/// happens meanwhile. Stores keep the times at least to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Hits in the current window (at least 1; saturates instead of overflowing).
    pub count: u32,
    /// The first hit of the current window.
    pub window_start: DateTime<Utc>,
    /// The latest hit (the `now` of the latest [`LimitStore::hit`]).
    pub last_hit: DateTime<Utc>,
}

impl Counter {
    /// Whether the window of this counter ended at or before `now`: `window_start + window <= now`.
    pub fn window_ended(&self, now: DateTime<Utc>, window: Duration) -> bool {
        window_ended(self.window_start, now, window)
    }

    /// When the window of this counter ends (`window_start + window`), saturating at the largest
    /// representable instant.
    pub fn window_end(&self, window: Duration) -> DateTime<Utc> {
        self.window_start.checked_add_signed(window).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// What [`LimitStore::attempt`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attempt {
    /// The attempt may go ahead and was counted: the counter after it.
    Counted(Counter),
    /// The attempt is refused (and was not counted): the counter that refuses it.
    Refused(Counter),
}

/// `window_start + window <= now`, without overflowing.
pub(crate) fn window_ended(window_start: DateTime<Utc>, now: DateTime<Utc>, window: Duration) -> bool {
    match window_start.checked_add_signed(window) {
        Some(end) => end <= now,
        // Out of range: a negative window ended long ago, a huge positive one never ends.
        None => window < Duration::zero(),
    }
}

/// Storage of counters, keyed by strings such as `signin:acct:<user-id>` or `signin:ip:<ip>`
/// (up to a few hundred characters, any Unicode).
///
/// Implementations must be atomic: concurrent [`hit`](Self::hit)s on one key, also from several
/// processes sharing the store, never lose a count, and each returns a distinct count.
/// [`MemoryLimitStore`](crate::MemoryLimitStore) is the reference implementation;
/// [`testing`](crate#features) has the conformance suite.
///
/// Time is never read here: `now` is the caller's (injected) clock.
#[async_trait]
pub trait LimitStore: Send + Sync + std::fmt::Debug + 'static {
    /// Records one hit on `key` at `now` and returns the counter after it.
    ///
    /// A key without a counter, or whose window (started by its first hit) ended at or before
    /// `now` (`window_start + window <= now`), starts a new window: count 1, `window_start` and
    /// `last_hit` both `now`. Otherwise the count goes up by one and `last_hit` becomes `now`.
    async fn hit(&self, key: &str, now: DateTime<Utc>, window: Duration) -> Result<Counter, AuthError>;

    /// Decides and counts in one atomic step: with the key's counter in its current window, an
    /// attempt at `now` is refused when [`Limit::refuses`](crate::Limit::refuses) says so (the
    /// maximum is reached, or the progressive delay since the latest hit has not passed), and is
    /// otherwise counted exactly as [`hit`](Self::hit) counts. Of any number of concurrent
    /// attempts on one key, from any number of processes, at most as many are counted as the limit
    /// allows: a burst cannot slip through between a check and a count.
    async fn attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
        limit: &crate::Limit,
    ) -> Result<Attempt, AuthError>;

    /// Takes back one counted attempt (it succeeded after all): the count of the key's current
    /// window goes down by one (the counter goes when it reaches zero); `last_hit` stays. Nothing
    /// happens when the key has no counter in its current window.
    async fn release(&self, key: &str, now: DateTime<Utc>, window: Duration) -> Result<(), AuthError>;

    /// The key's counter; `None` when it has none or its window ended at or before `now`.
    async fn get(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Option<Counter>, AuthError>;

    /// Forgets the key's counter (nothing happens when it has none).
    async fn clear(&self, key: &str) -> Result<(), AuthError>;

    /// Deletes the counters whose last hit is before `before` (`last_hit < before`) and returns
    /// how many it deleted. A counter is dead once its window ended, and its window started no
    /// later than its last hit: `now - window` (of the longest window in use) is a safe `before`.
    ///
    /// Stores that expire counters by themselves (Redis) do nothing and return 0.
    async fn flush_expired(&self, before: DateTime<Utc>) -> Result<u64, AuthError>;
}
