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
async fn count(url: &str, max_connections: Option<u32>) {
    let mut config = auth_sea_orm::ConnectConfig::default();
    if let Some(max) = max_connections {
        config = config.max_connections(max);
    }
    let mut db = auth_sea_orm::connect_with(url, &config).await.unwrap();
    auth_sea_orm::migrate(&db).await.unwrap();
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
    // One pooled connection: the group-commit task then writes through it (with more, it opens
    // a connection of its own, which the statement callback does not see).
    count(&format!("sqlite://{}?mode=rwc", dir.path().join("count.db").display()), Some(1)).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_rotation_is_two_updates_and_an_insert_on_postgres() {
    let Some(admin) = support::postgres_url_or_skip("a_rotation_is_two_updates_and_an_insert_on_postgres")
    else {
        return;
    };
    support::with_fresh_postgres(&admin, |url| async move { count(&url, None).await }).await;
}

/// SQLite's group commit: rotations that arrive together are committed together, in a few
/// statements for the whole group, and each still gets the answer it would get alone — one
/// winner per token, `Reused` for a second rotation of a token, `Revoked` for a revoked grant,
/// `Expired` for an expired token — and every grant ends with exactly one live token.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_on_sqlite_are_committed_in_groups_with_the_same_outcomes() {
    use std::collections::HashMap;

    use sea_orm::{ConnectionTrait, Statement};

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("groups.db").display());
    let db = support::connect_and_migrate(&url).await;
    let store = Arc::new(SeaOrmGrantStore::new(db));
    let t = DateTime::<Utc>::from_timestamp(2_000_000_000, 0).unwrap();
    let end = t + Duration::days(1);
    let user = UserId::new("grouped");
    const GRANTS: usize = 48;
    for g in 0..GRANTS {
        // Grants 40.. have a token that expired before the rotations.
        let token_end = if g >= 40 { t - Duration::seconds(1) } else { end };
        store
            .create_grant(
                NewGrant::new(format!("g{g}"), user.clone(), t - Duration::minutes(5), end),
                RefreshRecord::new(
                    format!("t{g}"),
                    format!("g{g}"),
                    user.clone(),
                    t - Duration::minutes(5),
                    token_end,
                ),
            )
            .await
            .unwrap();
    }
    // Grants 32..40 are revoked before the rotations.
    for g in 32..40 {
        store.revoke_grant(&format!("g{g}"), t).await.unwrap();
    }
    // Every grant's token rotated once; grants 0..16 have a second, concurrent rotation of the
    // same token.
    let mut tasks = Vec::new();
    for (g, attempt) in (0..GRANTS).map(|g| (g, 0)).chain((0..16).map(|g| (g, 1))) {
        let (store, user) = (Arc::clone(&store), user.clone());
        tasks.push(tokio::spawn(async move {
            let now = t + Duration::milliseconds(attempt);
            let next = RefreshRecord::new(format!("t{g}-{attempt}"), format!("g{g}"), user, now, end);
            (g, store.rotate(&format!("t{g}"), next, now, Duration::hours(1)).await.unwrap())
        }));
    }
    let mut outcomes: HashMap<usize, Vec<RotateOutcome>> = HashMap::new();
    for task in tasks {
        let (g, outcome) = task.await.unwrap();
        outcomes.entry(g).or_default().push(outcome);
    }
    for (g, list) in &outcomes {
        let rotated = list.iter().filter(|o| matches!(o, RotateOutcome::Rotated { .. })).count();
        let reused = list.iter().filter(|o| matches!(o, RotateOutcome::Reused { .. })).count();
        match g {
            0..16 => assert_eq!((rotated, reused), (1, 1), "grant {g}: {list:?}"),
            16..32 => assert_eq!((rotated, list.len()), (1, 1), "grant {g}: {list:?}"),
            32..40 => assert!(matches!(list[..], [RotateOutcome::Revoked]), "grant {g}: {list:?}"),
            _ => assert!(matches!(list[..], [RotateOutcome::Expired]), "grant {g}: {list:?}"),
        }
    }
    let stats = store.group_commit_stats();
    assert_eq!(stats.rotations, 64, "every rotation went through the group commit: {stats:?}");
    assert!(stats.groups < 64, "rotations that arrived together were committed together: {stats:?}");
    // Exactly one live token per rotated grant, none consumed twice.
    let live = store
        .connection()
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT grant_id, COUNT(*) AS n FROM portcullis_refresh_tokens WHERE consumed_at IS NULL \
             GROUP BY grant_id",
        ))
        .await
        .unwrap();
    let live: HashMap<String, i64> = live
        .iter()
        .map(|row| (row.try_get::<String>("", "grant_id").unwrap(), row.try_get::<i64>("", "n").unwrap()))
        .collect();
    for g in 0..32 {
        assert_eq!(live.get(&format!("g{g}")), Some(&1), "grant g{g}: one live token");
    }
}
