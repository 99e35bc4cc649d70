//! One limit: a window, a maximum and an optional progressive delay.

use chrono::Duration;

/// Exponents from here on give more than any sensible `max_delay` (2^40 s is 35 000 years).
const MAX_EXPONENT: u32 = 40;

/// One limit on a key: at most [`max`](Self::max) counted hits per fixed
/// [`window`](Self::window), and optionally a progressive delay between attempts once
/// [`delay_after`](Self::delay_after) hits are counted. See the [crate docs](crate#decisions) for
/// the exact rules.
///
/// ```
/// use auth_ratelimit::Limit;
/// use chrono::Duration;
///
/// // 10 failed sign-ins per account per 15 minutes; from the 3rd on, wait 1 s, 2 s, 4 s, ... (at
/// // most 30 s) before the next attempt.
/// let per_account = Limit::new(10, Duration::minutes(15)).progressive_delay(3, Duration::seconds(30));
/// assert_eq!(per_account.delay(2), None);
/// assert_eq!(per_account.delay(3), Some(Duration::seconds(1)));
/// assert_eq!(per_account.delay(5), Some(Duration::seconds(4)));
/// assert_eq!(per_account.delay(9), Some(Duration::seconds(30)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limit {
    /// Counted hits per window: with this many, further attempts are refused until the window
    /// ends (and with [`RateLimiter::hit_and_check`](crate::RateLimiter::hit_and_check), exactly
    /// this many requests pass). Meant to be at least 1.
    pub max: u32,
    /// The fixed window, started by the first counted hit on a key. Meant to be positive.
    pub window: Duration,
    /// From this many counted hits on, each attempt must wait a delay after the latest one;
    /// `None` (the default): no delay.
    pub delay_after: Option<u32>,
    /// The longest delay (60 seconds unless set).
    pub max_delay: Duration,
}

impl Limit {
    /// The `max_delay` of [`Limit::new`]: 60 seconds.
    pub const DEFAULT_MAX_DELAY: Duration = Duration::seconds(60);

    /// At most `max` counted hits per `window`, without progressive delay.
    pub fn new(max: u32, window: Duration) -> Self {
        Self { max, window, delay_after: None, max_delay: Self::DEFAULT_MAX_DELAY }
    }

    /// Adds a progressive delay: with `count >= after` hits counted, the next attempt must wait
    /// `min(2^(count - after) seconds, max_delay)` after the latest hit.
    pub fn progressive_delay(mut self, after: u32, max_delay: Duration) -> Self {
        self.delay_after = Some(after);
        self.max_delay = max_delay;
        self
    }

    /// The wait after the latest of `count` counted hits before the next attempt:
    /// `min(2^(count - delay_after) seconds, max_delay)`, or `None` without progressive delay or
    /// below [`delay_after`](Self::delay_after) (or with a `max_delay` of zero or less).
    pub fn delay(&self, count: u32) -> Option<Duration> {
        let after = self.delay_after?;
        let exponent = count.checked_sub(after)?;
        let delay = if exponent >= MAX_EXPONENT {
            self.max_delay
        } else {
            Duration::seconds(1_i64 << exponent).min(self.max_delay)
        };
        (delay > Duration::zero()).then_some(delay)
    }

    /// Whether a key with `counter` (none: nothing counted in the current window) refuses an
    /// attempt at `now`, and until when: with `count >= max` in the window, until the window
    /// ends; with a progressive delay due, until `last_hit + delay(count)`. See the
    /// [crate docs](crate#decisions).
    pub fn refuses(
        &self,
        counter: Option<&crate::Counter>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<(crate::BlockReason, chrono::DateTime<chrono::Utc>)> {
        let counter = counter.filter(|c| !c.window_ended(now, self.window))?;
        let window_end = counter.window_end(self.window);
        if counter.count >= self.max {
            return Some((crate::BlockReason::LimitReached, window_end));
        }
        let delay = self.delay(counter.count)?;
        let ready_at =
            counter.last_hit.checked_add_signed(delay).unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        (now < ready_at).then_some((crate::BlockReason::Delay, ready_at))
    }
}
