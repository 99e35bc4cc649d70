//! auth-session's conformance suite against SQLite (a temporary file) and PostgreSQL (a fresh
//! database per test on the server named by `PORTCULLIS_TEST_DATABASE_URL`), with concurrent
//! rotations on each; and a look at the raw table: it holds hashes, never a cookie value.

#![cfg(all(feature = "session", any(feature = "sqlite", feature = "postgres")))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use auth_core::UserId;
use auth_sea_orm::SeaOrmSessionStore;
use auth_sea_orm::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use auth_session::testing::{
    concurrent_rotate_conformance, concurrent_set_value_conformance, session_store_conformance,
};
use auth_session::{SessionId, SessionRecord, SessionStore, TokenHash};
use chrono::{DateTime, Duration, Utc};

/// Concurrent rotations of one session in the spawned race.
const RACERS: usize = 32;

async fn run_suite(url: &str) {
    let db = support::connect_and_migrate(url).await;
    let store = SeaOrmSessionStore::new(db.clone());
    session_store_conformance(&store).await;
    session_store_conformance(&store).await; // tolerates other data
    concurrent_rotate_conformance(Arc::new(store.clone()), RACERS).await;
    concurrent_set_value_conformance(Arc::new(store.clone()), RACERS).await;
    no_session_id_at_rest(&db, &store).await;
    db.close().await.expect("close");
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Every column of `table`, read as text with raw SQL: `(column, values)`.
async fn raw_columns(db: &DatabaseConnection, table: &str) -> Vec<(String, Vec<Option<String>>)> {
    let backend = db.get_database_backend();
    let catalog = match backend {
        DbBackend::Sqlite => format!("SELECT name FROM pragma_table_info('{table}')"),
        DbBackend::Postgres => format!(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
        other => panic!("unexpected backend {other:?}"),
    };
    let names: Vec<String> = db
        .query_all_raw(Statement::from_string(backend, catalog))
        .await
        .expect("catalog")
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("column name"))
        .collect();
    let mut columns = Vec::new();
    for name in names {
        let sql = format!("SELECT CAST(\"{name}\" AS TEXT) FROM \"{table}\"");
        let values = db
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .expect("select")
            .iter()
            .map(|row| row.try_get_by_index::<Option<String>>(0).expect("value"))
            .collect();
        columns.push((name, values));
    }
    columns
}

/// The cookie value in every form it could have been written in: itself, its bytes in hex, and
/// every 12-character window.
fn fragments(value: &str) -> Vec<String> {
    use base64::Engine as _;

    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value).expect("base64url");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut fragments = vec![value.to_owned(), hex];
    for start in 0..=value.len() - 12 {
        fragments.push(value[start..start + 12].to_owned());
    }
    fragments
}

/// Creates, touches, rotates and fills sessions, then reads the raw table: no column holds a
/// cookie value (old or new) or part of one; `session_hash` holds the SHA-256 of the live one.
async fn no_session_id_at_rest(db: &DatabaseConnection, store: &SeaOrmSessionStore) {
    let t = DateTime::<Utc>::from_timestamp(2_100_000_000, 0).expect("time");
    let user = UserId::new(unique("at-rest"));
    let mut values = Vec::new();
    let mut live = Vec::new();
    for _ in 0..3 {
        let (value, hash) = SessionId::generate();
        let mut record = SessionRecord::new(
            unique("ses"),
            hash.clone(),
            user.clone(),
            unique("g"),
            t,
            t + Duration::days(14),
            Duration::hours(2),
        );
        record.insert("note", "hello").expect("data");
        store.insert(record.clone()).await.expect("insert");
        assert!(store.touch(&record.id, t + Duration::minutes(5)).await.expect("touch"));
        let (new_value, new_hash) = SessionId::generate();
        store.rotate(&hash, &new_hash, t + Duration::minutes(6)).await.expect("rotate").expect("rotated");
        assert!(store.set_data(&record.id, record.data.clone()).await.expect("set_data"));
        values.push(value);
        values.push(new_value);
        live.push(new_hash);
    }

    let columns = raw_columns(db, "portcullis_sessions").await;
    let mut names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "amr",
            "created_at",
            "data",
            "expires_at",
            "grant_id",
            "id",
            "idle_ttl_seconds",
            "last_seen_at",
            "session_hash",
            "user_id"
        ],
        "every column is read"
    );
    for value in &values {
        for fragment in fragments(value) {
            for (column, cells) in &columns {
                for cell in cells.iter().flatten() {
                    assert!(
                        !cell.contains(&fragment),
                        "portcullis_sessions.{column} holds part of a cookie value"
                    );
                }
            }
        }
    }
    let hashes = &columns.iter().find(|(name, _)| name == "session_hash").expect("column").1;
    for hash in &live {
        assert!(hashes.contains(&Some(hash.as_hex().to_owned())), "the live hash is stored");
    }
    for value in values.iter().step_by(2) {
        assert!(
            !hashes.contains(&Some(TokenHash::of(value).as_hex().to_owned())),
            "the rotated-away hash is gone"
        );
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_session_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("sessions.db").display());
    run_suite(&url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_session_store_conforms() {
    let Some(admin_url) = support::postgres_url_or_skip("postgres_session_store_conforms") else { return };
    support::with_fresh_postgres(&admin_url, |url| async move { run_suite(&url).await }).await;
}
