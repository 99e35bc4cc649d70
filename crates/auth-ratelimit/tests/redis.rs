//! The conformance suite against a real Redis server, named by `PORTCULLIS_TEST_REDIS_URL`
//! (e.g. `redis://127.0.0.1:16379`). Without it the tests print a SKIPPED line and pass, except
//! in CI (`CI` set), where they fail. Every run uses its own key prefix, so parallel runs never
//! see each other's counters.

#![cfg(all(feature = "redis", feature = "testing"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::Write as _;
use std::sync::Arc;

use auth_core::{AuthError, ManualClock};
use auth_ratelimit::testing::{
    concurrent_attempts_conformance, concurrent_hits_conformance, limit_store_conformance,
};
use auth_ratelimit::{Limit, LimitStore, RateLimiter, RedisLimitStore};
use chrono::{DateTime, Duration, Utc};

const REDIS_URL_VAR: &str = "PORTCULLIS_TEST_REDIS_URL";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The Redis URL, or `None` after a loud SKIPPED line (a panic in CI).
fn redis_url_or_skip(test: &str) -> Option<String> {
    match std::env::var(REDIS_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if in_ci() => panic!(
            "{REDIS_URL_VAR} is not set, but CI is: the Redis test `{test}` must run in CI. Start a \
             server (redis-server --bind 127.0.0.1 --port 16379 --save '' --appendonly no --daemonize yes) \
             and export {REDIS_URL_VAR}=redis://127.0.0.1:16379."
        ),
        _ => {
            let line = format!(
                "\n********** SKIPPED: {test}: set {REDIS_URL_VAR} (e.g. redis://127.0.0.1:16379) to run \
                 it against Redis **********\n"
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

/// A prefix no other test run uses.
fn unique_prefix(test: &str) -> String {
    let mut random = [0u8; 8];
    rand::fill(&mut random);
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("portcullis-test:{test}:{}:{hex}:", std::process::id())
}

async fn store(url: &str, test: &str) -> RedisLimitStore {
    RedisLimitStore::connect(url, unique_prefix(test)).await.expect("connect to Redis")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_store_conforms() {
    let Some(url) = redis_url_or_skip("redis_store_conforms") else { return };
    let store = Arc::new(store(&url, "conforms").await);
    limit_store_conformance(store.as_ref()).await;
    limit_store_conformance(store.as_ref()).await; // tolerates other data
    concurrent_hits_conformance(store.clone()).await;
    concurrent_attempts_conformance(store.clone()).await;
    // Redis expires counters by itself.
    let before = DateTime::from_timestamp(2_100_000_000, 0).unwrap();
    assert_eq!(store.flush_expired(before).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_connections_share_counters_and_redis_expires_them() {
    let Some(url) = redis_url_or_skip("two_connections_share_counters_and_redis_expires_them") else {
        return;
    };
    let prefix = unique_prefix("shared");
    let a = RedisLimitStore::connect(&url, prefix.clone()).await.unwrap();
    let b = RedisLimitStore::connect(&url, prefix.clone()).await.unwrap();
    assert_eq!(a.prefix(), prefix);
    assert!(format!("{a:?}").contains(&prefix));

    // A recent `now` and a short window, so Redis' own expiry can be observed.
    #[allow(clippy::disallowed_methods)] // compared with Redis' clock
    let now: DateTime<Utc> = Utc::now();
    let w = Duration::milliseconds(300);
    assert_eq!(a.hit("k", now, w).await.unwrap().count, 1);
    assert_eq!(b.hit("k", now, w).await.unwrap().count, 2, "the second process sees the first's hit");
    assert_eq!(a.get("k", now, w).await.unwrap().map(|c| c.count), Some(2));

    let mut connection =
        redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let key = format!("{prefix}k");
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut connection).await.unwrap();
    assert!(ttl > 0 && ttl <= 300 + 1_000, "PEXPIRE is the rest of the window plus the grace ({ttl} ms)");
    let fields: Vec<String> = redis::cmd("HKEYS").arg(&key).query_async(&mut connection).await.unwrap();
    assert_eq!(fields.len(), 3, "{fields:?}");

    // Redis' own expiry runs on Redis' clock, which no injected clock reaches: poll for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let exists: bool = redis::cmd("EXISTS").arg(&key).query_async(&mut connection).await.unwrap();
        if !exists {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "Redis never deleted the dead counter");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Another type at the key: a backend error, not a panic or a silent reset.
    let _: () = redis::cmd("SET").arg(&key).arg("not a hash").query_async(&mut connection).await.unwrap();
    let error = a.hit("k", now, w).await.unwrap_err();
    assert!(matches!(error, AuthError::Backend(_)), "{error:?}");
    let _: () = redis::cmd("DEL").arg(&key).query_async(&mut connection).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_limiter_over_redis() {
    let Some(url) = redis_url_or_skip("a_limiter_over_redis") else { return };
    let clock = ManualClock::starting_at_unix(2_000_000_000);
    let limiter = RateLimiter::new(Arc::new(store(&url, "limiter").await), Arc::new(clock.clone()));
    let limit = Limit::new(3, Duration::seconds(60)).progressive_delay(2, Duration::seconds(10));
    let keys = [("signin:acct:1", &limit)];
    limiter.record(&keys).await.unwrap();
    limiter.check(&keys).await.unwrap();
    limiter.record(&keys).await.unwrap();
    let blocked = limiter.blocked(&keys).await.unwrap().expect("delayed after 2");
    assert_eq!(blocked.retry_after_seconds, 1);
    clock.advance(Duration::seconds(1));
    limiter.record(&keys).await.unwrap();
    match limiter.check(&keys).await {
        Err(AuthError::RateLimited { retry_after_seconds: 59 }) => {}
        other => panic!("expected a 59 s lockout, got {other:?}"),
    }
    clock.advance(Duration::seconds(59));
    limiter.check(&keys).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_a_backend_error() {
    // Port 1 on localhost: nothing listens there.
    let error = RedisLimitStore::connect("redis://127.0.0.1:1", "p:").await.unwrap_err();
    assert!(matches!(error, AuthError::Backend(_)), "{error:?}");
    let error = RedisLimitStore::connect("not a url", "p:").await.unwrap_err();
    assert!(matches!(error, AuthError::Backend(_)), "{error:?}");
}
