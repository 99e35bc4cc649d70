//! The limiter: decisions over a store.

use std::sync::Arc;

use auth_core::{AuthError, SharedClock};
use chrono::{DateTime, Duration, Utc};

use crate::{Counter, Limit, LimitStore, MemoryLimitStore};

/// Why a key is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockReason {
    /// The key reached its [`Limit::max`] in the current window ("locked out" until it ends).
    LimitReached,
    /// The key is within its progressive delay after the latest counted hit.
    Delay,
}

/// A refused attempt: which key refused it, why, and for how long.
///
/// Converts into [`AuthError::RateLimited`] (a 429 with `Retry-After`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Blocked {
    /// The key that blocks (as given to the [`RateLimiter`]).
    pub key: String,
    /// Why it blocks.
    pub reason: BlockReason,
    /// The hits counted on the key in its current window.
    pub count: u32,
    /// Whole seconds until the next attempt is allowed: rounded up, at least 1.
    pub retry_after_seconds: u64,
}

impl From<Blocked> for AuthError {
    fn from(blocked: Blocked) -> Self {
        AuthError::RateLimited { retry_after_seconds: blocked.retry_after_seconds }
    }
}

/// `until - now` in whole seconds, rounded up, at least 1.
fn retry_after_seconds(now: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
    let remaining = until - now;
    let whole = remaining.num_seconds();
    let seconds = if remaining > Duration::seconds(whole) { whole.saturating_add(1) } else { whole };
    u64::try_from(seconds).unwrap_or(0).max(1)
}

/// Whether `counter` (none: no hit counted in the current window) blocks an attempt at `now`.
fn decide(key: &str, limit: &Limit, counter: Option<Counter>, now: DateTime<Utc>) -> Option<Blocked> {
    let (reason, until) = limit.refuses(counter.as_ref(), now)?;
    Some(Blocked {
        key: key.to_owned(),
        reason,
        count: counter.map_or(0, |c| c.count),
        retry_after_seconds: retry_after_seconds(now, until),
    })
}

/// Keeps the block with the longest wait (the first of equals).
fn longest(current: Option<Blocked>, candidate: Option<Blocked>) -> Option<Blocked> {
    match (current, candidate) {
        (Some(current), Some(candidate)) if candidate.retry_after_seconds > current.retry_after_seconds => {
            Some(candidate)
        }
        (None, candidate) => candidate,
        (current, _) => current,
    }
}

/// An attempt counted by [`RateLimiter::attempt`] on every key: give it back with
/// [`RateLimiter::release`] when the attempt succeeds (it was no failure); drop it when the
/// attempt failed (the counts stay).
#[derive(Debug, Clone)]
#[must_use = "release a successful attempt's reservation"]
pub struct Reservation {
    keys: Vec<Counted>,
}

/// One key of a [`Reservation`]: its window and the count after the attempt.
#[derive(Debug, Clone)]
struct Counted {
    key: String,
    window: Duration,
    count: u32,
    max: u32,
}

impl Reservation {
    /// The keys the attempt was counted on.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|counted| counted.key.as_str())
    }

    /// The first key whose count reached its [`Limit::max`] with this attempt: when the attempt
    /// fails, that key refuses the next one until its window ends (a lockout to record).
    pub fn limit_reached(&self) -> Option<&str> {
        self.keys.iter().find(|counted| counted.count >= counted.max).map(|counted| counted.key.as_str())
    }

    /// The count of `key` after the attempt, if the attempt was counted on it.
    pub fn count(&self, key: &str) -> Option<u32> {
        self.keys.iter().find(|counted| counted.key == key).map(|counted| counted.count)
    }
}

/// Failure and request counters with limits, over a [`LimitStore`] and an injected clock.
///
/// Every method takes `(key, limit)` pairs, so one call covers e.g. the account and the IP of a
/// sign-in. Keys are the caller's: prefix them by purpose (`signin:acct:`, `signin:ip:`,
/// `reset:email:`), as a key's counter is one whatever the limit it is checked against.
/// See the [crate docs](crate#decisions) for the rules.
///
/// Clones share the store and the clock.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    store: Arc<dyn LimitStore>,
    clock: SharedClock,
}

impl RateLimiter {
    /// A limiter over `store`, reading time from `clock`.
    pub fn new(store: Arc<dyn LimitStore>, clock: SharedClock) -> Self {
        Self { store, clock }
    }

    /// A limiter over a fresh [`MemoryLimitStore`] (single process only).
    pub fn memory(clock: SharedClock) -> Self {
        Self::new(Arc::new(MemoryLimitStore::new()), clock)
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn LimitStore> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Decides on every `(key, limit)` pair without counting: the blocked pair with the longest
    /// retry-after (the first of equals), or `None` when the attempt may go ahead.
    ///
    /// For failure counting: call it before checking the credentials, then
    /// [`record`](Self::record) a failure or [`clear`](Self::clear) after a success.
    pub async fn blocked(&self, keys: &[(&str, &Limit)]) -> Result<Option<Blocked>, AuthError> {
        let now = self.clock.now();
        let mut worst = None;
        for (key, limit) in keys {
            let counter = self.store.get(key, now, limit.window).await?;
            worst = longest(worst, decide(key, limit, counter, now));
        }
        Ok(worst)
    }

    /// [`blocked`](Self::blocked) as an error: `Err(AuthError::RateLimited)` when a pair blocks,
    /// `Err(AuthError::Backend)` when the store fails.
    pub async fn check(&self, keys: &[(&str, &Limit)]) -> Result<(), AuthError> {
        match self.blocked(keys).await? {
            Some(blocked) => Err(blocked.into()),
            None => Ok(()),
        }
    }

    /// Counts one failure (or one request) on every key; a key listed twice counts twice.
    pub async fn record(&self, keys: &[(&str, &Limit)]) -> Result<(), AuthError> {
        let now = self.clock.now();
        for (key, limit) in keys {
            self.store.hit(key, now, limit.window).await?;
        }
        Ok(())
    }

    /// Counts one hit on every key, then decides on the counts after it: a key whose count now
    /// exceeds its [`Limit::max`] blocks until its window ends. So the `max`-th request in a
    /// window passes and the next is refused (and counted). The longest block is returned; `None`
    /// when the request may go ahead. Progressive delays play no part here.
    ///
    /// For request counting (password-reset mails per address and per IP).
    pub async fn hit_blocked(&self, keys: &[(&str, &Limit)]) -> Result<Option<Blocked>, AuthError> {
        let now = self.clock.now();
        let mut worst = None;
        for (key, limit) in keys {
            let counter = self.store.hit(key, now, limit.window).await?;
            let over = (counter.count > limit.max).then(|| Blocked {
                key: (*key).to_owned(),
                reason: BlockReason::LimitReached,
                count: counter.count,
                retry_after_seconds: retry_after_seconds(now, counter.window_end(limit.window)),
            });
            worst = longest(worst, over);
        }
        Ok(worst)
    }

    /// [`hit_blocked`](Self::hit_blocked) as an error: `Err(AuthError::RateLimited)` when a key
    /// is over its maximum, `Err(AuthError::Backend)` when the store fails.
    pub async fn hit_and_check(&self, keys: &[(&str, &Limit)]) -> Result<(), AuthError> {
        match self.hit_blocked(keys).await? {
            Some(blocked) => Err(blocked.into()),
            None => Ok(()),
        }
    }

    /// Decides and counts an attempt on every `(key, limit)` pair, each key atomically
    /// ([`LimitStore::attempt`]): the pairs are tried in order, and the first that refuses ends
    /// the attempt (what the earlier pairs counted is taken back) with its block. Otherwise the
    /// attempt is counted on every key: check the credential, then [`release`](Self::release)
    /// the reservation when it was right. Concurrent attempts cannot slip through between a check
    /// and a count: of a burst of wrong passwords, at most as many are evaluated as the limits
    /// allow.
    pub async fn attempt(&self, keys: &[(&str, &Limit)]) -> Result<Result<Reservation, Blocked>, AuthError> {
        let now = self.clock.now();
        let mut counted: Vec<Counted> = Vec::with_capacity(keys.len());
        for (key, limit) in keys {
            let outcome = match self.store.attempt(key, now, limit).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    self.take_back(&counted, now).await;
                    return Err(error);
                }
            };
            match outcome {
                crate::Attempt::Counted(counter) => counted.push(Counted {
                    key: (*key).to_owned(),
                    window: limit.window,
                    count: counter.count,
                    max: limit.max,
                }),
                crate::Attempt::Refused(counter) => {
                    self.take_back(&counted, now).await;
                    let blocked = decide(key, limit, Some(counter), now).unwrap_or(Blocked {
                        key: (*key).to_owned(),
                        reason: BlockReason::LimitReached,
                        count: counter.count,
                        retry_after_seconds: 1,
                    });
                    return Ok(Err(blocked));
                }
            }
        }
        Ok(Ok(Reservation { keys: counted }))
    }

    /// [`attempt`](Self::attempt) as an error: `Err(AuthError::RateLimited)` when a pair refuses.
    pub async fn try_attempt(&self, keys: &[(&str, &Limit)]) -> Result<Reservation, AuthError> {
        self.attempt(keys).await?.map_err(AuthError::from)
    }

    /// Takes back the counts of a successful attempt.
    pub async fn release(&self, reservation: Reservation) -> Result<(), AuthError> {
        let now = self.clock.now();
        for counted in &reservation.keys {
            self.store.release(&counted.key, now, counted.window).await?;
        }
        Ok(())
    }

    async fn take_back(&self, counted: &[Counted], now: DateTime<Utc>) {
        for counted in counted {
            if let Err(error) = self.store.release(&counted.key, now, counted.window).await {
                tracing::warn!(%error, "could not take back a counted attempt");
            }
        }
    }

    /// Forgets the key's counter (after a successful sign-in, say).
    pub async fn clear(&self, key: &str) -> Result<(), AuthError> {
        self.store.clear(key).await
    }

    /// Deletes the counters not hit within `older_than` (pass the longest window in use):
    /// [`LimitStore::flush_expired`] with `now - older_than`. Run it now and then with a SQL store.
    pub async fn flush_expired(&self, older_than: Duration) -> Result<u64, AuthError> {
        let before = self.clock.now().checked_sub_signed(older_than).unwrap_or(DateTime::<Utc>::MIN_UTC);
        self.store.flush_expired(before).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::Arc;

    use auth_core::{AuthError, Clock, ManualClock};
    use chrono::Duration;

    use super::*;

    fn secs(n: i64) -> Duration {
        Duration::seconds(n)
    }

    fn limiter() -> (RateLimiter, ManualClock) {
        let clock = ManualClock::starting_at_unix(1_700_000_000);
        (RateLimiter::memory(Arc::new(clock.clone())), clock)
    }

    async fn retry_after(limiter: &RateLimiter, keys: &[(&str, &Limit)]) -> Option<u64> {
        limiter.blocked(keys).await.unwrap().map(|b| b.retry_after_seconds)
    }

    #[tokio::test]
    async fn blocked_at_max_until_the_window_ends() {
        let (limiter, clock) = limiter();
        let limit = Limit::new(3, secs(60));
        let keys = [("signin:acct:1", &limit)];
        for i in 0..3 {
            assert_eq!(limiter.blocked(&keys).await.unwrap(), None, "attempt {i} is allowed");
            limiter.record(&keys).await.unwrap();
            clock.advance(secs(10));
        }
        // Three failures at t, t+10, t+20; now t+30.
        let blocked = limiter.blocked(&keys).await.unwrap().expect("blocked at max");
        assert_eq!(
            blocked,
            Blocked {
                key: "signin:acct:1".into(),
                reason: BlockReason::LimitReached,
                count: 3,
                retry_after_seconds: 30
            }
        );
        match limiter.check(&keys).await {
            Err(AuthError::RateLimited { retry_after_seconds: 30 }) => {}
            other => panic!("expected RateLimited(30), got {other:?}"),
        }
        clock.advance(secs(29) + Duration::milliseconds(999));
        assert_eq!(retry_after(&limiter, &keys).await, Some(1), "1 ms before the end");
        clock.advance(Duration::milliseconds(1));
        assert_eq!(limiter.blocked(&keys).await.unwrap(), None, "lifted exactly at the window end");
        limiter.check(&keys).await.unwrap();
        // The next failure starts a new window.
        limiter.record(&keys).await.unwrap();
        assert_eq!(
            limiter.store().get("signin:acct:1", clock.now(), secs(60)).await.unwrap().unwrap().count,
            1
        );
    }

    #[tokio::test]
    async fn progressive_delay_doubles_and_caps() {
        let (limiter, clock) = limiter();
        let limit = Limit::new(100, Duration::hours(1)).progressive_delay(2, secs(10));
        let keys = [("k", &limit)];
        let mut waits = Vec::new();
        for _ in 0..8 {
            // Wait as long as told, then fail again.
            if let Some(blocked) = limiter.blocked(&keys).await.unwrap() {
                assert_eq!(blocked.reason, BlockReason::Delay);
                waits.push(blocked.retry_after_seconds);
                clock.advance(secs(i64::try_from(blocked.retry_after_seconds).unwrap()));
                assert_eq!(limiter.blocked(&keys).await.unwrap(), None, "the delay is over");
            } else {
                waits.push(0);
            }
            limiter.record(&keys).await.unwrap();
        }
        // Counts before each attempt: 0, 1, 2 (1 s), 3 (2 s), 4 (4 s), 5 (8 s), 6 (10 s), 7 (10 s).
        assert_eq!(waits, [0, 0, 1, 2, 4, 8, 10, 10]);
    }

    #[tokio::test]
    async fn delay_runs_from_the_last_hit() {
        let (limiter, clock) = limiter();
        let limit = Limit::new(100, Duration::hours(1)).progressive_delay(1, secs(60));
        let keys = [("k", &limit)];
        limiter.record(&keys).await.unwrap();
        limiter.record(&keys).await.unwrap(); // count 2: wait 2 s after the last hit
        assert_eq!(retry_after(&limiter, &keys).await, Some(2));
        clock.advance(Duration::milliseconds(1500));
        assert_eq!(retry_after(&limiter, &keys).await, Some(1), "0.5 s rounds up to 1");
        clock.advance(Duration::milliseconds(500));
        assert_eq!(retry_after(&limiter, &keys).await, None);
    }

    #[tokio::test]
    async fn retry_after_rounds_up_and_is_never_zero() {
        let (limiter, clock) = limiter();
        let limit = Limit::new(1, secs(10));
        let keys = [("k", &limit)];
        limiter.record(&keys).await.unwrap();
        assert_eq!(retry_after(&limiter, &keys).await, Some(10));
        clock.advance(Duration::milliseconds(1));
        assert_eq!(retry_after(&limiter, &keys).await, Some(10), "9.999 s rounds up");
        clock.advance(Duration::milliseconds(8_998));
        assert_eq!(retry_after(&limiter, &keys).await, Some(2), "1.001 s rounds up");
        clock.advance(Duration::milliseconds(1));
        assert_eq!(retry_after(&limiter, &keys).await, Some(1), "exactly 1 s");
        clock.advance(Duration::nanoseconds(999_999_999));
        assert_eq!(retry_after(&limiter, &keys).await, Some(1), "1 ns left is 1 s, not 0");
        clock.advance(Duration::nanoseconds(1));
        assert_eq!(retry_after(&limiter, &keys).await, None);

        assert_eq!(super::retry_after_seconds(clock.now(), clock.now()), 1, "never 0");
        assert_eq!(super::retry_after_seconds(clock.now(), clock.now() - secs(5)), 1, "never 0");
    }

    #[tokio::test]
    async fn several_keys_block_with_the_longest_retry_after() {
        let (limiter, clock) = limiter();
        let account = Limit::new(2, secs(600));
        let ip = Limit::new(3, secs(60));
        let keys = [("signin:acct:1", &account), ("signin:ip:192.0.2.1", &ip)];
        limiter.record(&keys).await.unwrap();
        assert_eq!(limiter.blocked(&keys).await.unwrap(), None);
        limiter.record(&keys).await.unwrap();
        // The account is at its max (600 s); the IP is not.
        let blocked = limiter.blocked(&keys).await.unwrap().unwrap();
        assert_eq!((blocked.key.as_str(), blocked.retry_after_seconds), ("signin:acct:1", 600));
        // Another IP key at its max with a shorter window: the account still wins.
        limiter.record(&[("signin:ip:192.0.2.1", &ip)]).await.unwrap();
        let blocked = limiter.blocked(&keys).await.unwrap().unwrap();
        assert_eq!((blocked.key.as_str(), blocked.retry_after_seconds), ("signin:acct:1", 600));
        // Listed the other way round: still the longest.
        let reversed = [keys[1], keys[0]];
        let blocked = limiter.blocked(&reversed).await.unwrap().unwrap();
        assert_eq!(blocked.key, "signin:acct:1");
        // The IP's window ends first; clearing the account leaves the IP block.
        limiter.clear("signin:acct:1").await.unwrap();
        clock.advance(secs(20));
        let blocked = limiter.blocked(&keys).await.unwrap().unwrap();
        assert_eq!((blocked.key.as_str(), blocked.retry_after_seconds), ("signin:ip:192.0.2.1", 40));
        // Equal waits: the first listed.
        let same = Limit::new(1, secs(60));
        let (a, b) = ("eq:a", "eq:b");
        limiter.record(&[(a, &same), (b, &same)]).await.unwrap();
        assert_eq!(limiter.blocked(&[(b, &same), (a, &same)]).await.unwrap().unwrap().key, b);
        assert_eq!(limiter.blocked(&[]).await.unwrap(), None, "no keys, no block");
    }

    #[tokio::test]
    async fn attempts_reserve_in_order_and_release_on_success() {
        let (limiter, clock) = limiter();
        let per_ip = Limit::new(3, secs(60));
        let per_login = Limit::new(2, secs(600));
        let keys = [("ip", &per_ip), ("login", &per_login)];
        // A success gives its counts back.
        let reservation = limiter.try_attempt(&keys).await.unwrap();
        assert_eq!(reservation.keys().collect::<Vec<_>>(), ["ip", "login"]);
        assert_eq!((reservation.count("ip"), reservation.limit_reached()), (Some(1), None));
        limiter.release(reservation).await.unwrap();
        assert_eq!(limiter.store().get("ip", clock.now(), secs(60)).await.unwrap(), None);
        // Two failures: the second reaches the login's maximum.
        let first = limiter.try_attempt(&keys).await.unwrap();
        assert_eq!(first.limit_reached(), None);
        let second = limiter.try_attempt(&keys).await.unwrap();
        assert_eq!(second.limit_reached(), Some("login"));
        // The third is refused by the login, and what the IP counted for it is taken back.
        let blocked = limiter.attempt(&keys).await.unwrap().unwrap_err();
        assert_eq!(
            (blocked.key.as_str(), blocked.reason, blocked.retry_after_seconds),
            ("login", BlockReason::LimitReached, 600)
        );
        assert_eq!(limiter.store().get("ip", clock.now(), secs(60)).await.unwrap().unwrap().count, 2);
        // A key refusing first spares the later ones: nothing is created for a new login.
        let _failed = limiter.try_attempt(&[("ip", &per_ip)]).await.unwrap();
        let other = [("ip", &per_ip), ("login:new", &per_login)];
        assert_eq!(limiter.attempt(&other).await.unwrap().unwrap_err().key, "ip");
        assert_eq!(limiter.store().get("login:new", clock.now(), secs(600)).await.unwrap(), None);
        match limiter.try_attempt(&other).await {
            Err(AuthError::RateLimited { retry_after_seconds: 60 }) => {}
            other => panic!("expected RateLimited(60), got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_delay_and_a_lockout_together() {
        let (limiter, clock) = limiter();
        let delayed = Limit::new(100, secs(3600)).progressive_delay(1, secs(60));
        let locked = Limit::new(1, secs(5));
        limiter.record(&[("d", &delayed), ("l", &locked)]).await.unwrap();
        // d: 1 s delay; l: 5 s lockout.
        let blocked = limiter.blocked(&[("d", &delayed), ("l", &locked)]).await.unwrap().unwrap();
        assert_eq!(
            (blocked.key.as_str(), blocked.reason, blocked.retry_after_seconds),
            ("l", BlockReason::LimitReached, 5)
        );
        clock.advance(secs(5));
        assert_eq!(limiter.blocked(&[("d", &delayed), ("l", &locked)]).await.unwrap(), None);
    }

    #[tokio::test]
    async fn hit_and_check_lets_exactly_max_requests_through() {
        let (limiter, clock) = limiter();
        let per_email = Limit::new(3, secs(3600));
        let per_ip = Limit::new(5, secs(60));
        let keys = [("reset:email:a@example.com", &per_email), ("reset:ip:192.0.2.1", &per_ip)];
        for i in 0..3 {
            limiter.hit_and_check(&keys).await.unwrap_or_else(|e| panic!("request {i}: {e:?}"));
        }
        let blocked = limiter.hit_blocked(&keys).await.unwrap().expect("the 4th is refused");
        assert_eq!(blocked.key, "reset:email:a@example.com");
        assert_eq!(blocked.count, 4, "the refused request is counted");
        assert_eq!(blocked.retry_after_seconds, 3600);
        match limiter.hit_and_check(&keys).await {
            Err(AuthError::RateLimited { retry_after_seconds: 3600 }) => {}
            other => panic!("expected RateLimited(3600), got {other:?}"),
        }
        // Another address from the same IP: the IP has had 5; the 6th is refused by the IP.
        let other = [("reset:email:b@example.com", &per_email), ("reset:ip:192.0.2.1", &per_ip)];
        let blocked = limiter.hit_blocked(&other).await.unwrap().expect("the IP is over");
        assert_eq!((blocked.key.as_str(), blocked.retry_after_seconds), ("reset:ip:192.0.2.1", 60));
        // The IP window ends: b passes, a is still over for the rest of its hour.
        clock.advance(secs(60));
        limiter.hit_and_check(&other).await.unwrap();
        let blocked = limiter.hit_blocked(&keys).await.unwrap().unwrap();
        assert_eq!((blocked.key.as_str(), blocked.retry_after_seconds), ("reset:email:a@example.com", 3540));
        clock.advance(secs(3540));
        limiter.hit_and_check(&keys).await.unwrap();
    }

    #[tokio::test]
    async fn check_does_not_count_and_blocked_converts_to_rate_limited() {
        let (limiter, clock) = limiter();
        let limit = Limit::new(1, secs(60));
        for _ in 0..5 {
            limiter.check(&[("k", &limit)]).await.unwrap();
        }
        assert_eq!(limiter.store().get("k", clock.now(), secs(60)).await.unwrap(), None);
        let error: AuthError =
            Blocked { key: "k".into(), reason: BlockReason::Delay, count: 1, retry_after_seconds: 7 }.into();
        assert_eq!(error.retry_after(), Some(7));
        assert_eq!(error.status().as_u16(), 429);
    }

    #[tokio::test]
    async fn flush_expired_uses_the_clock() {
        let (limiter, clock) = limiter();
        let limit = Limit::new(1, secs(60));
        limiter.record(&[("old", &limit)]).await.unwrap();
        clock.advance(secs(61));
        limiter.record(&[("new", &limit)]).await.unwrap();
        assert_eq!(limiter.flush_expired(secs(60)).await.unwrap(), 1);
        assert!(limiter.store().get("new", clock.now(), secs(60)).await.unwrap().is_some());
    }

    #[test]
    fn huge_counts_and_durations_do_not_overflow() {
        let limit = Limit::new(u32::MAX, Duration::MAX).progressive_delay(0, Duration::MAX);
        assert_eq!(limit.delay(u32::MAX), Some(Duration::MAX));
        assert_eq!(limit.delay(39), Some(Duration::seconds(1 << 39)));
        let now = chrono::DateTime::<Utc>::MAX_UTC - secs(1);
        let counter = Counter { count: u32::MAX, window_start: now, last_hit: now };
        let blocked = decide("k", &limit, Some(counter), now).unwrap();
        assert!(blocked.retry_after_seconds >= 1);
        let no_delay = Limit::new(10, secs(60)).progressive_delay(1, Duration::zero());
        assert_eq!(no_delay.delay(5), None, "a zero max_delay means no delay");
    }
}
