//! What one refresh costs the database (issue 18, goal 3): a successful rotation runs exactly the
//! conditional update that consumes the presented token, the update of the grant's last use
//! (which returns the grant) and the insert of the successor, in one transaction, with no read
//! before the writes. Counted with sea-orm's statement callback on SQLite and PostgreSQL.

#![cfg(all(feature = "blacklist", any(feature = "sqlite", feature = "postgres")))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::{Arc, Mutex};

use auth_blacklist::{GrantStore, NewGrant, RefreshRecord, RotateOutcome};
use auth_core::UserId;
use auth_sea_orm::SeaOrmGrantStore;
use chrono::{DateTime, Duration, Utc};

/// The first word of each statement a rotation ran, in order.
async fn count(url: &str) {
    let mut db = support::connect_and_migrate(url).await;
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorder = Arc::clone(&seen);
    db.set_metric_callback(move |info| {
        let sql = info.statement.sql.trim_start().to_owned();
        let verb = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        recorder.lock().unwrap().push(verb);
    });
    let store = SeaOrmGrantStore::new(db);
    let t = DateTime::<Utc>::from_timestamp(2_000_000_000, 0).unwrap();
    let end = t + Duration::days(1);
    let user = UserId::new("counted");
    store
        .create_grant(
            NewGrant::new("g", user.clone(), t, end),
            RefreshRecord::new("jti-1", "g", user.clone(), t, end),
        )
        .await
        .unwrap();

    seen.lock().unwrap().clear();
    let next = RefreshRecord::new("jti-2", "g", user.clone(), t + Duration::minutes(1), end);
    let outcome = store.rotate("jti-1", next, t + Duration::minutes(1), Duration::hours(1)).await.unwrap();
    assert!(matches!(outcome, RotateOutcome::Rotated { .. }), "{outcome:?}");
    let statements = std::mem::take(&mut *seen.lock().unwrap());
    // The transaction's BEGIN and COMMIT do not pass through the callback.
    let work: Vec<&str> =
        statements.iter().map(String::as_str).filter(|v| !matches!(*v, "BEGIN" | "COMMIT")).collect();
    assert_eq!(work, ["UPDATE", "UPDATE", "INSERT"], "a rotation's statements on {url}: {statements:?}");

    // A replay reads, to say why it is refused (and the store answers Reused).
    let again = RefreshRecord::new("jti-3", "g", user.clone(), t + Duration::minutes(2), end);
    let outcome = store.rotate("jti-1", again, t + Duration::minutes(2), Duration::hours(1)).await.unwrap();
    assert!(matches!(outcome, RotateOutcome::Reused { .. }), "{outcome:?}");
    store.connection().clone().close().await.ok();
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_rotation_is_two_updates_and_an_insert_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    count(&format!("sqlite://{}?mode=rwc", dir.path().join("count.db").display())).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_rotation_is_two_updates_and_an_insert_on_postgres() {
    let Some(admin) = support::postgres_url_or_skip("a_rotation_is_two_updates_and_an_insert_on_postgres")
    else {
        return;
    };
    support::with_fresh_postgres(&admin, |url| async move { count(&url).await }).await;
}
