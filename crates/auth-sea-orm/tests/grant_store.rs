//! auth-blacklist's grant-store conformance suites against SQLite (a temporary file and
//! `:memory:`) and PostgreSQL (a fresh database per test on the server named by
//! `PORTCULLIS_TEST_DATABASE_URL`), with 50 concurrent rotations of one refresh token on each.

#![cfg(all(feature = "blacklist", any(feature = "sqlite", feature = "postgres")))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use auth_blacklist::testing::{concurrent_rotation_conformance, grant_store_conformance};
use auth_blacklist::{GrantStore, NewGrant, RefreshRecord, RevocationList, RotateOutcome};
use auth_core::UserId;
use auth_sea_orm::SeaOrmGrantStore;
use chrono::{DateTime, Duration, Utc};

/// Concurrent rotations of one token in the PostgreSQL and SQLite-file suites.
const RACERS: usize = 50;

async fn run_suite(url: &str, racers: usize) {
    let db = support::connect_and_migrate(url).await;
    let store = SeaOrmGrantStore::new(db);
    grant_store_conformance(&store).await;
    concurrent_rotation_conformance(Arc::new(store.clone()), racers).await;
    // Twice: the suite tolerates a store holding other data, and the second race starts with a
    // warm pool.
    concurrent_rotation_conformance(Arc::new(store.clone()), racers).await;
    stored_precision(&store).await;
    followers_miss_nothing(&store).await;
    store.connection().clone().close().await.expect("close");
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Sub-microsecond parts are dropped on both databases alike, and what rotate() returns is what
/// find_grant() reads back.
async fn stored_precision(store: &SeaOrmGrantStore) {
    let t = DateTime::<Utc>::from_timestamp(2_000_000_000, 123_456_789).expect("time");
    let micros = DateTime::<Utc>::from_timestamp(2_000_000_000, 123_456_000).expect("time");
    let user = UserId::new(unique("precise"));
    let (grant_id, first, next) = (unique("g"), unique("a"), unique("b"));
    let end = t + Duration::days(1);
    store
        .create_grant(
            NewGrant::new(grant_id.clone(), user.clone(), t, end),
            RefreshRecord::new(first.clone(), grant_id.clone(), user.clone(), t, end),
        )
        .await
        .expect("create");
    let created = store.find_grant(&grant_id).await.expect("find").expect("found");
    assert_eq!((created.created_at, created.last_used_at), (micros, micros));
    let later = t + Duration::nanoseconds(1_500);
    let next = RefreshRecord::new(next, grant_id.clone(), user.clone(), later, end);
    let RotateOutcome::Rotated { grant } =
        store.rotate(&first, next, later, Duration::hours(1)).await.expect("rotate")
    else {
        panic!("expected Rotated");
    };
    assert_eq!(Some(grant), store.find_grant(&grant_id).await.expect("find"));
}

/// Revocations committed concurrently while a follower syncs: the follower ends up with every
/// one of them (sequence numbers become visible in order, none is skipped).
async fn followers_miss_nothing(store: &SeaOrmGrantStore) {
    let t = DateTime::<Utc>::from_timestamp(2_000_000_000, 0).expect("time");
    let user = UserId::new(unique("revoked"));
    let mut ids = Vec::new();
    for _ in 0..30 {
        let id = unique("g");
        store
            .create_grant(
                NewGrant::new(id.clone(), user.clone(), t, t + Duration::days(1)),
                RefreshRecord::new(unique("jti"), id.clone(), user.clone(), t, t + Duration::days(1)),
            )
            .await
            .expect("create");
        ids.push(id);
    }
    let follower = Arc::new(RevocationList::new());
    follower.load(&store.revocation_snapshot(t).await.expect("snapshot"));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let syncing = {
        let (store, follower, done) = (store.clone(), Arc::clone(&follower), Arc::clone(&done));
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                follower.sync(&store).await.expect("sync");
                tokio::task::yield_now().await;
            }
        })
    };
    let revokers: Vec<_> = ids
        .iter()
        .map(|id| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move { store.revoke_grant(&id, t + Duration::minutes(1)).await })
        })
        .collect();
    for revoker in revokers {
        assert!(revoker.await.expect("task").expect("revoke"), "each grant is revoked once");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    syncing.await.expect("follower");
    follower.sync(store).await.expect("final sync");
    let missed: Vec<&String> = ids.iter().filter(|id| !follower.is_revoked(Some(id), &user, t)).collect();
    assert!(missed.is_empty(), "the follower missed {missed:?}");
    assert_eq!(follower.cursor(), store.revocation_cursor().await.expect("cursor"));
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_grant_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("grants.db").display());
    run_suite(&url, RACERS).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_memory_grant_store_conforms() {
    run_suite("sqlite::memory:", RACERS).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_grant_store_conforms() {
    let Some(admin_url) = support::postgres_url_or_skip("postgres_grant_store_conforms") else { return };
    support::with_fresh_postgres(&admin_url, |url| async move { run_suite(&url, RACERS).await }).await;
}
