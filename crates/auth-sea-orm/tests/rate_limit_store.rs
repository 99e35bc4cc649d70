//! auth-ratelimit's conformance suite (with its spawned races) against SQLite (a temporary file)
//! and PostgreSQL (a fresh database per test on the server named by
//! `PORTCULLIS_TEST_DATABASE_URL`), plus a limiter on top and a look at the raw table.

#![cfg(all(feature = "ratelimit", any(feature = "sqlite", feature = "postgres")))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use auth_core::{AuthError, ManualClock};
use auth_ratelimit::testing::{
    concurrent_attempts_conformance, concurrent_hits_conformance, flush_expired_conformance,
    limit_store_conformance,
};
use auth_ratelimit::{BlockReason, Limit, LimitStore, RateLimiter};
use auth_sea_orm::SeaOrmLimitStore;
use auth_sea_orm::entity::rate_limits;
use auth_sea_orm::sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Statement};
use chrono::{DateTime, Duration, Utc};

async fn run_suite(url: &str) {
    let db = support::connect_and_migrate(url).await;
    let store = SeaOrmLimitStore::new(db.clone());
    limit_store_conformance(&store).await;
    limit_store_conformance(&store).await; // tolerates other data
    concurrent_hits_conformance(Arc::new(store.clone())).await;
    concurrent_hits_conformance(Arc::new(store.clone())).await;
    concurrent_attempts_conformance(Arc::new(store.clone())).await;
    flush_expired_conformance(&store).await;
    flush_expired_conformance(&store).await;
    sub_microsecond_times(&store).await;
    a_limiter_on_the_store(&store).await;
    raw_rows(&db, &store).await;
    db.close().await.expect("close");
}

/// Nanoseconds are cut to microseconds (what PostgreSQL keeps) consistently: the window check
/// of `hit` and of `get` agree, and `flush_expired` compares exactly.
async fn sub_microsecond_times(store: &SeaOrmLimitStore) {
    let key = format!("sub-us:{}", uuid::Uuid::new_v4().simple());
    let t = DateTime::<Utc>::from_timestamp(2_000_000_000, 123_456_789).unwrap();
    let w = Duration::seconds(60);
    let first = store.hit(&key, t, w).await.unwrap();
    let t_us = DateTime::<Utc>::from_timestamp(2_000_000_000, 123_456_000).unwrap();
    assert_eq!(first.window_start, t_us, "stored to the microsecond");
    // 0.5 µs before the stored start's window end: still in the window for both.
    let almost = t_us + w - Duration::nanoseconds(500);
    assert!(store.get(&key, almost, w).await.unwrap().is_some());
    assert_eq!(store.hit(&key, almost, w).await.unwrap().count, 2, "hit agrees with get");
    let end = t_us + w;
    assert_eq!(store.get(&key, end, w).await.unwrap(), None);
    // last_hit is `almost` cut to the microsecond; `last_hit < before` is decided exactly.
    let last_hit = store.get(&key, almost, w).await.unwrap().unwrap().last_hit;
    assert_eq!(last_hit, almost - Duration::nanoseconds(500));
    store.flush_expired(last_hit).await.unwrap();
    assert!(store.get(&key, almost, w).await.unwrap().is_some(), "last_hit == before: kept");
    assert!(store.flush_expired(last_hit + Duration::nanoseconds(1)).await.unwrap() >= 1);
    assert_eq!(store.get(&key, almost, w).await.unwrap(), None, "last_hit < before by 1 ns: deleted");
}

/// The paved road over the SQL store: lockout, delay, request counting.
async fn a_limiter_on_the_store(store: &SeaOrmLimitStore) {
    let clock = ManualClock::starting_at_unix(2_000_000_000);
    let limiter = RateLimiter::new(Arc::new(store.clone()), Arc::new(clock.clone()));
    let user = format!("signin:acct:{}", uuid::Uuid::new_v4());
    let account = Limit::new(4, Duration::minutes(15)).progressive_delay(2, Duration::seconds(30));
    let keys = [(user.as_str(), &account)];
    limiter.record(&keys).await.unwrap();
    limiter.record(&keys).await.unwrap();
    let blocked = limiter.blocked(&keys).await.unwrap().expect("delayed");
    assert_eq!((blocked.reason, blocked.retry_after_seconds), (BlockReason::Delay, 1));
    clock.advance(Duration::seconds(1));
    limiter.check(&keys).await.unwrap();
    limiter.record(&keys).await.unwrap();
    limiter.record(&keys).await.unwrap();
    match limiter.check(&keys).await {
        Err(AuthError::RateLimited { retry_after_seconds: 899 }) => {}
        other => panic!("expected a lockout until the window ends, got {other:?}"),
    }
    clock.advance(Duration::seconds(899));
    limiter.check(&keys).await.unwrap();

    let reset = format!("reset:email:{}@example.com", uuid::Uuid::new_v4().simple());
    let per_address = Limit::new(3, Duration::hours(1));
    for _ in 0..3 {
        limiter.hit_and_check(&[(reset.as_str(), &per_address)]).await.unwrap();
    }
    let refused = limiter.hit_and_check(&[(reset.as_str(), &per_address)]).await.unwrap_err();
    assert_eq!(refused.retry_after(), Some(3600));
    limiter.clear(&reset).await.unwrap();
    limiter.clear(&user).await.unwrap();
}

/// What a row holds: the key as given, the count, the two times.
async fn raw_rows(db: &DatabaseConnection, store: &SeaOrmLimitStore) {
    let key = format!("signin:ip:2001:db8::1:{}:{}", "é".repeat(200), uuid::Uuid::new_v4().simple());
    let t = DateTime::<Utc>::from_timestamp(2_000_000_000, 0).unwrap();
    store.hit(&key, t, Duration::seconds(60)).await.unwrap();
    store.hit(&key, t + Duration::seconds(2), Duration::seconds(60)).await.unwrap();
    let row = rate_limits::Entity::find_by_id(key.clone()).one(db).await.unwrap().expect("the row");
    assert_eq!(
        row,
        rate_limits::Model {
            key: key.clone(),
            count: 2,
            window_start: t,
            last_hit: t + Duration::seconds(2)
        }
    );
    let backend = db.get_database_backend();
    let count = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT count(*) FROM portcullis_rate_limits WHERE count = 2 AND last_hit > window_start",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert!(count >= 1);
    store.clear(&key).await.unwrap();
    assert_eq!(rate_limits::Entity::find_by_id(key).one(db).await.unwrap(), None);
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_limit_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("limits.db").display());
    run_suite(&url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_limit_store_conforms() {
    let Some(admin_url) = support::postgres_url_or_skip("postgres_limit_store_conforms") else { return };
    support::with_fresh_postgres(&admin_url, |url| async move { run_suite(&url).await }).await;
}
