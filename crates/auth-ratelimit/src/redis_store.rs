//! The Redis store (feature `redis`).

use std::fmt;

use async_trait::async_trait;
use auth_core::AuthError;
use chrono::{DateTime, Duration, Utc};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Client, Script};

use crate::store::window_ended;
use crate::{Attempt, Counter, Limit, LimitStore};

/// How long a counter stays in Redis after its window ended (so that a Redis clock slightly ahead
/// of the servers' never drops a live counter). The window itself is always decided from `now`.
const EXPIRY_GRACE_MS: i64 = 1_000;

/// Windows are clamped to ±2^50 ms (35 000 years) so that every sum stays exact in Lua's doubles.
const MAX_WINDOW_MS: i64 = 1 << 50;

/// One hit, atomically: the whole script runs without any other command in between.
///
/// KEYS[1]: the counter's hash. ARGV[1]: now (ms since the epoch); ARGV[2]: the window (ms);
/// ARGV[3]: the expiry grace (ms). Returns `{count, window_start, last_hit}`.
const HIT_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local fields = redis.call('HMGET', KEYS[1], 'count', 'window_start')
local count = tonumber(fields[1])
local start = tonumber(fields[2])
if count == nil or start == nil or start + window <= now then
  count = 1
  start = now
elseif count < 4294967295 then
  count = count + 1
end
redis.call('HSET', KEYS[1], 'count', count, 'window_start', start, 'last_hit', now)
local ttl = start + window - now + tonumber(ARGV[3])
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', KEYS[1], ttl)
return {count, start, now}
";

/// One attempt, atomically: decides as `Limit::refuses` does, and counts it when allowed.
///
/// KEYS[1]: the counter's hash. ARGV[1]: now (ms); ARGV[2]: the window (ms); ARGV[3]: the expiry
/// grace (ms); ARGV[4]: the maximum; ARGV[5]: the count from which delays apply (-1: none);
/// ARGV[6]: the longest delay (ms). Returns `{counted (1 or 0), count, window_start, last_hit}`.
const ATTEMPT_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max = tonumber(ARGV[4])
local after = tonumber(ARGV[5])
local max_delay = tonumber(ARGV[6])
local fields = redis.call('HMGET', KEYS[1], 'count', 'window_start', 'last_hit')
local count = tonumber(fields[1])
local start = tonumber(fields[2])
local last = tonumber(fields[3])
if count == nil or start == nil or last == nil or start + window <= now then
  count = 0
  start = now
  last = now
end
if count >= max then
  return {0, count, start, last}
end
if after >= 0 and count >= after then
  local exponent = count - after
  local delay = max_delay
  if exponent < 40 then
    delay = math.min(math.pow(2, exponent) * 1000, max_delay)
  end
  if delay > 0 and now < last + delay then
    return {0, count, start, last}
  end
end
if count < 4294967295 then
  count = count + 1
end
redis.call('HSET', KEYS[1], 'count', count, 'window_start', start, 'last_hit', now)
local ttl = start + window - now + tonumber(ARGV[3])
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', KEYS[1], ttl)
return {1, count, start, now}
";

/// Takes one count back. KEYS[1]: the counter's hash. ARGV[1]: now (ms); ARGV[2]: the window
/// (ms).
const RELEASE_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local fields = redis.call('HMGET', KEYS[1], 'count', 'window_start')
local count = tonumber(fields[1])
local start = tonumber(fields[2])
if count == nil or start == nil or start + window <= now then
  return 0
end
if count <= 1 then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'count', count - 1)
end
return 1
";

fn backend(error: redis::RedisError) -> AuthError {
    AuthError::backend(error)
}

fn corrupt(key: &str) -> AuthError {
    AuthError::backend(format!("corrupt rate-limit counter in Redis at key {key:?}"))
}

fn counter(key: &str, count: i64, window_start_ms: i64, last_hit_ms: i64) -> Result<Counter, AuthError> {
    Ok(Counter {
        count: u32::try_from(count).map_err(|_| corrupt(key))?,
        window_start: DateTime::from_timestamp_millis(window_start_ms).ok_or_else(|| corrupt(key))?,
        last_hit: DateTime::from_timestamp_millis(last_hit_ms).ok_or_else(|| corrupt(key))?,
    })
}

/// A [`LimitStore`] in Redis, shared by every server process.
///
/// Each counter is a Redis hash at `prefix + key` with the fields `count`, `window_start` and
/// `last_hit` (milliseconds since the Unix epoch). [`hit`](LimitStore::hit) is one Lua script
/// (`EVALSHA`, loaded on first use), so concurrent hits from any number of processes never lose a
/// count. The script also sets the key's `PEXPIRE` to the rest of its window (plus one second), so
/// Redis deletes dead counters by itself and [`flush_expired`](LimitStore::flush_expired) does
/// nothing. Times come from the caller's `now`, never from Redis' clock; they are kept to the
/// millisecond.
///
/// The connection is a [`ConnectionManager`], which reconnects after a failure; a command that
/// fails is an [`AuthError::Backend`].
///
/// ```no_run
/// use std::sync::Arc;
///
/// use auth_core::SystemClock;
/// use auth_ratelimit::{RateLimiter, RedisLimitStore};
///
/// # async fn example() -> Result<(), auth_core::AuthError> {
/// let store = RedisLimitStore::connect("redis://127.0.0.1:6379", "myapp:ratelimit:").await?;
/// let limiter = RateLimiter::new(Arc::new(store), SystemClock::shared());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisLimitStore {
    connection: ConnectionManager,
    prefix: String,
    script: Script,
    attempt_script: Script,
    release_script: Script,
}

impl RedisLimitStore {
    /// Connects to the Redis server at `url` (`redis://[user:password@]host:port[/db]`,
    /// `rediss://` for TLS when the `redis` crate has it enabled) and keeps every counter under
    /// `prefix` (e.g. `"myapp:ratelimit:"`). Fails when the server cannot be reached.
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self, AuthError> {
        let client = Client::open(url).map_err(backend)?;
        let connection = ConnectionManager::new(client).await.map_err(backend)?;
        Ok(Self::new(connection, prefix))
    }

    /// A store on an existing connection manager (to configure timeouts and retries yourself),
    /// keeping every counter under `prefix`.
    pub fn new(connection: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            connection,
            prefix: prefix.into(),
            script: Script::new(HIT_SCRIPT),
            attempt_script: Script::new(ATTEMPT_SCRIPT),
            release_script: Script::new(RELEASE_SCRIPT),
        }
    }

    /// The prefix of every Redis key of this store.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn redis_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

impl fmt::Debug for RedisLimitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimitStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

#[async_trait]
impl LimitStore for RedisLimitStore {
    async fn hit(&self, key: &str, now: DateTime<Utc>, window: Duration) -> Result<Counter, AuthError> {
        let window_ms = window.num_milliseconds().clamp(-MAX_WINDOW_MS, MAX_WINDOW_MS);
        let mut connection = self.connection.clone();
        let (count, window_start, last_hit): (i64, i64, i64) = self
            .script
            .key(self.redis_key(key))
            .arg(now.timestamp_millis())
            .arg(window_ms)
            .arg(EXPIRY_GRACE_MS)
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        counter(key, count, window_start, last_hit)
    }

    async fn attempt(&self, key: &str, now: DateTime<Utc>, limit: &Limit) -> Result<Attempt, AuthError> {
        let window_ms = limit.window.num_milliseconds().clamp(-MAX_WINDOW_MS, MAX_WINDOW_MS);
        let after = limit.delay_after.map_or(-1, i64::from);
        let max_delay_ms = limit.max_delay.num_milliseconds().clamp(0, MAX_WINDOW_MS);
        let mut connection = self.connection.clone();
        let (counted, count, window_start, last_hit): (i64, i64, i64, i64) = self
            .attempt_script
            .key(self.redis_key(key))
            .arg(now.timestamp_millis())
            .arg(window_ms)
            .arg(EXPIRY_GRACE_MS)
            .arg(i64::from(limit.max))
            .arg(after)
            .arg(max_delay_ms)
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        if counted == 1 {
            Ok(Attempt::Counted(counter(key, count, window_start, last_hit)?))
        } else {
            // A refusal of an empty window (a maximum of 0) reports one hit, like the other stores.
            Ok(Attempt::Refused(counter(key, count.max(1), window_start, last_hit)?))
        }
    }

    async fn release(&self, key: &str, now: DateTime<Utc>, window: Duration) -> Result<(), AuthError> {
        let window_ms = window.num_milliseconds().clamp(-MAX_WINDOW_MS, MAX_WINDOW_MS);
        let mut connection = self.connection.clone();
        let _: i64 = self
            .release_script
            .key(self.redis_key(key))
            .arg(now.timestamp_millis())
            .arg(window_ms)
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Option<Counter>, AuthError> {
        let mut connection = self.connection.clone();
        let fields: (Option<i64>, Option<i64>, Option<i64>) = connection
            .hmget(self.redis_key(key), &["count", "window_start", "last_hit"])
            .await
            .map_err(backend)?;
        let (Some(count), Some(window_start), Some(last_hit)) = fields else { return Ok(None) };
        let counter = counter(key, count, window_start, last_hit)?;
        // Compared like the script does, to the millisecond.
        let now_ms = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        Ok((!window_ended(counter.window_start, now_ms, window)).then_some(counter))
    }

    async fn clear(&self, key: &str) -> Result<(), AuthError> {
        let mut connection = self.connection.clone();
        let _: u64 = connection.del(self.redis_key(key)).await.map_err(backend)?;
        Ok(())
    }

    async fn flush_expired(&self, _before: DateTime<Utc>) -> Result<u64, AuthError> {
        // Every counter carries a PEXPIRE: Redis deletes dead ones by itself.
        Ok(0)
    }
}
