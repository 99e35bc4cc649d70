//! Injectable time.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// `at + duration`, saturating at the latest representable instant instead of panicking: an
/// expiry computed from a huge configured lifetime is "never", not a crash.
///
/// ```
/// use auth_core::saturating_add;
/// use chrono::{DateTime, Duration, Utc};
///
/// let now = Utc::now();
/// assert_eq!(saturating_add(now, Duration::seconds(5)), now + Duration::seconds(5));
/// assert_eq!(saturating_add(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
/// ```
pub fn saturating_add(at: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    at.checked_add_signed(duration).unwrap_or(if duration < Duration::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// `at - duration`, saturating at the earliest representable instant instead of panicking.
pub fn saturating_sub(at: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    at.checked_sub_signed(duration).unwrap_or(if duration < Duration::zero() {
        DateTime::<Utc>::MAX_UTC
    } else {
        DateTime::<Utc>::MIN_UTC
    })
}

/// A source of the current time. Every expiry decision in Portcullis reads one of these, so tests
/// move time with a [`ManualClock`] instead of sleeping.
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// The current time as whole seconds since the Unix epoch.
    fn unix_seconds(&self) -> i64 {
        self.now().timestamp()
    }
}

/// A clock shared between components.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// A shared handle to the wall clock.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the wall clock
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; clones share the same time.
///
/// ```
/// use auth_core::{Clock, ManualClock};
/// use chrono::Duration;
///
/// let clock = ManualClock::starting_at_unix(1_700_000_000);
/// clock.advance(Duration::seconds(90));
/// assert_eq!(clock.unix_seconds(), 1_700_000_090);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A manual clock set to `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self { now: Arc::new(Mutex::new(start)) }
    }

    /// A manual clock set to the given Unix time (falls back to the epoch if out of range).
    pub fn starting_at_unix(seconds: i64) -> Self {
        Self::new(DateTime::from_timestamp(seconds, 0).unwrap_or_default())
    }

    /// A manual clock set to the current wall-clock time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    /// Moves the clock forward (or backward, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        let mut now = self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
