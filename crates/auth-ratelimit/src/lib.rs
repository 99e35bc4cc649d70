//! # auth-ratelimit
//!
//! Failure and request counters for Portcullis: slows password guessing per account and per IP
//! (lockout and progressive delay), and caps requests such as password-reset mails per address
//! and per IP. Depend on it when you write a limit store or wire the limits into a flow;
//! applications reach it through the `portcullis` facade. It is framework-free: no HTTP type
//! appears here, and a refusal is [`AuthError::RateLimited`](auth_core::AuthError::RateLimited)
//! (a 429 with `Retry-After` in the adapters).
//!
//! - [`RateLimiter`]: the paved road. [`attempt`](RateLimiter::attempt) /
//!   [`try_attempt`](RateLimiter::try_attempt) decide and count in one atomic step before a
//!   credential is checked, and [`release`](RateLimiter::release) gives the [`Reservation`] back
//!   when it was right: of a concurrent burst, no more attempts are evaluated than the limits
//!   allow. [`clear`](RateLimiter::clear) resets a consecutive-failure counter after a success.
//!   [`check`](RateLimiter::check) / [`blocked`](RateLimiter::blocked) and
//!   [`record`](RateLimiter::record) decide and count separately (for reporting, or counts that
//!   nothing races); [`hit_and_check`](RateLimiter::hit_and_check) /
//!   [`hit_blocked`](RateLimiter::hit_blocked) count and cap requests. The `*_blocked` forms say
//!   which key blocked ([`Blocked`]), the others give the error straight away.
//! - [`Limit`]: a maximum per fixed window, with an optional progressive delay.
//! - [`LimitStore`]: atomic counters; [`MemoryLimitStore`] is the reference implementation (one
//!   process, bounded memory), `RedisLimitStore` (feature `redis`) and `auth-sea-orm`'s
//!   `SeaOrmLimitStore` (feature `ratelimit`, SQLite/PostgreSQL) are shared by every process.
//!
//! ## Decisions
//!
//! A key's counter counts hits in a fixed window that its first hit starts and that ends
//! `window` later (`window_start + window <= now`: ended); the next hit then starts a new window
//! with count 1. With `count` hits counted in the current window, an attempt at `now` under a
//! [`Limit`] is:
//!
//! 1. **blocked until the window ends** when `count >= max`: retry after
//!    `window_start + window - now`;
//! 2. otherwise, with [`progressive_delay`](Limit::progressive_delay)`(d, max_delay)` and
//!    `count >= d`, **blocked until** `last_hit + min(2^(count - d) seconds, max_delay)`: retry
//!    after the remainder;
//! 3. otherwise allowed. A key without a counter in its current window is always allowed: every
//!    block and delay ends with the window.
//!
//! With several `(key, limit)` pairs, the attempt is blocked when any pair blocks, and the longest
//! retry-after wins. [`RateLimiter::hit_and_check`] counts first and then blocks (rule 1 only)
//! when `count > max`: exactly `max` requests per window pass. Retry-after values are whole
//! seconds, rounded up, at least 1.
//!
//! Time is never read by the stores: the limiter reads its injected [`auth_core::Clock`] once per
//! call and hands that `now` down.
//!
//! ## Features
//!
//! | feature   | default | what it adds |
//! |-----------|---------|--------------|
//! | `redis`   | no      | `RedisLimitStore`: counters in Redis (one Lua script per hit, expiry by Redis) |
//! | `testing` | no      | `testing`: the limit store conformance suite every store implementation runs |
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use auth_core::{AuthError, ManualClock};
//! use auth_ratelimit::{BlockReason, Limit, RateLimiter};
//! use chrono::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), AuthError> {
//! let clock = ManualClock::starting_at_unix(1_700_000_000); // SystemClock::shared() in production
//! let limiter = RateLimiter::memory(Arc::new(clock.clone()));
//!
//! // Sign-in: 5 failures per account per 15 minutes, delays from the 3rd; 50 per IP per hour.
//! let per_account = Limit::new(5, Duration::minutes(15)).progressive_delay(3, Duration::seconds(30));
//! let per_ip = Limit::new(50, Duration::hours(1));
//! let keys = [("signin:acct:42", &per_account), ("signin:ip:192.0.2.7", &per_ip)];
//!
//! for _ in 0..3 {
//!     limiter.check(&keys).await?; // before checking the password
//!     limiter.record(&keys).await?; // the password was wrong
//! }
//! // Three failures: the next attempt waits 1 s.
//! let blocked = limiter.blocked(&keys).await?.expect("delayed");
//! assert_eq!((blocked.key.as_str(), blocked.reason), ("signin:acct:42", BlockReason::Delay));
//! assert!(matches!(limiter.check(&keys).await, Err(AuthError::RateLimited { retry_after_seconds: 1 })));
//! clock.advance(Duration::seconds(1));
//! limiter.check(&keys).await?;
//! limiter.clear("signin:acct:42").await?; // the password was right
//!
//! // Password-reset mails: 3 per address per hour; the 4th is refused.
//! let per_address = Limit::new(3, Duration::hours(1));
//! for _ in 0..3 {
//!     limiter.hit_and_check(&[("reset:email:alice@example.com", &per_address)]).await?;
//! }
//! let refused = limiter.hit_and_check(&[("reset:email:alice@example.com", &per_address)]).await;
//! assert_eq!(refused.unwrap_err().retry_after(), Some(3600));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod limit;
mod limiter;
mod memory;
#[cfg(feature = "redis")]
mod redis_store;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use limit::Limit;
pub use limiter::{BlockReason, Blocked, RateLimiter, Reservation};
pub use memory::MemoryLimitStore;
#[cfg(feature = "redis")]
pub use redis_store::RedisLimitStore;
pub use store::{Attempt, Counter, LimitStore};
