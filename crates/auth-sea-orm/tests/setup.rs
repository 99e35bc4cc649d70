//! Connecting and migrating: pool settings, timeouts, concurrent migrators.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use auth_sea_orm::{DbError, connect};

#[tokio::test]
async fn unsupported_scheme_is_refused() {
    let err = connect("mysql://root:secret@127.0.0.1/db").await.expect_err("mysql is not supported");
    assert!(matches!(&err, DbError::UnsupportedScheme { scheme } if scheme == "mysql"), "{err:?}");
    assert!(!err.to_string().contains("secret"), "the URL stays out of the message: {err}");
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn dead_postgres_port_fails_fast() {
    use std::time::{Duration, Instant};

    use auth_sea_orm::ConnectConfig;

    let config = ConnectConfig::default().connect_timeout(Duration::from_secs(1));
    let started = Instant::now();
    let result = auth_sea_orm::connect_with("postgres://postgres@127.0.0.1:1/postgres", &config).await;
    assert!(result.is_err(), "nothing listens on port 1");
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
}

/// Every pooled SQLite connection gets the pragmas, not only the first one.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pragmas_on_every_connection() {
    use std::time::Duration;

    use auth_sea_orm::sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("pragmas.db").display());
    let config = support::test_config().max_connections(3).sqlite_busy_timeout(Duration::from_millis(4321));
    let db = auth_sea_orm::connect_with(&url, &config).await.expect("connect");

    // Three open transactions hold three distinct connections.
    let mut txns = Vec::new();
    for _ in 0..3 {
        txns.push(db.begin().await.expect("begin"));
    }
    for txn in &txns {
        let pragma = |name: &str| Statement::from_string(DbBackend::Sqlite, format!("PRAGMA {name}"));
        let row = txn.query_one_raw(pragma("journal_mode")).await.expect("query").expect("row");
        assert_eq!(row.try_get_by_index::<String>(0).expect("journal_mode"), "wal");
        let row = txn.query_one_raw(pragma("busy_timeout")).await.expect("query").expect("row");
        assert_eq!(row.try_get_by_index::<i64>(0).expect("busy_timeout"), 4321);
        let row = txn.query_one_raw(pragma("foreign_keys")).await.expect("query").expect("row");
        assert_eq!(row.try_get_by_index::<i64>(0).expect("foreign_keys"), 1);
        let int = |row: Option<auth_sea_orm::sea_orm::QueryResult>, name: &str| {
            row.expect("row").try_get_by_index::<i64>(0).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        // synchronous = NORMAL (1) by default: durable across a process crash, no fsync per commit.
        assert_eq!(int(txn.query_one_raw(pragma("synchronous")).await.expect("query"), "synchronous"), 1);
        assert_eq!(int(txn.query_one_raw(pragma("cache_size")).await.expect("query"), "cache_size"), -8192);
        assert_eq!(
            int(txn.query_one_raw(pragma("mmap_size")).await.expect("query"), "mmap_size"),
            256 * 1024 * 1024
        );
        assert_eq!(int(txn.query_one_raw(pragma("wal_autocheckpoint")).await.expect("query"), "wal"), 1000);
        assert_eq!(int(txn.query_one_raw(pragma("temp_store")).await.expect("query"), "temp_store"), 2);
    }
    for txn in txns {
        txn.rollback().await.expect("rollback");
    }
    // FULL (2) when asked for.
    let full =
        auth_sea_orm::connect_with(&url, &config.sqlite_synchronous(auth_sea_orm::SqliteSynchronous::Full))
            .await
            .expect("connect");
    let row = full
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA synchronous".to_owned()))
        .await
        .expect("query")
        .expect("row");
    assert_eq!(row.try_get_by_index::<i64>(0).expect("synchronous"), 2);
}

/// An in-memory database keeps its data across uses of the pool (one connection, never closed).
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_memory_keeps_its_schema() {
    use auth_sea_orm::sea_orm::ConnectionTrait;

    let db = connect("sqlite::memory:").await.expect("connect");
    auth_sea_orm::migrate(&db).await.expect("migrate");
    for _ in 0..3 {
        db.execute_unprepared("SELECT count(*) FROM portcullis_users").await.expect("table exists");
    }
}

/// Several processes starting at once (here: several pools) may all call `migrate`.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_migrate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("race.db").display());
    concurrent_migrate(&url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_migrate() {
    let Some(admin_url) = support::postgres_url_or_skip("postgres_concurrent_migrate") else { return };
    support::with_fresh_postgres(&admin_url, |url| async move { concurrent_migrate(&url).await }).await;
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
async fn concurrent_migrate(url: &str) {
    use auth_sea_orm::sea_orm::{ConnectionTrait, Statement};

    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let db = auth_sea_orm::connect_with(&url, &support::test_config()).await.expect("connect");
            let result = auth_sea_orm::migrate(&db).await;
            db.close().await.expect("close");
            result
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("every concurrent migrate succeeds");
    }
    let db = auth_sea_orm::connect_with(url, &support::test_config()).await.expect("connect");
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT count(*) FROM {}", auth_sea_orm::MIGRATION_TABLE),
        ))
        .await
        .expect("query")
        .expect("row");
    let applied: i64 = row.try_get_by_index(0).expect("count");
    use auth_sea_orm::sea_orm_migration::MigratorTrait;
    let expected = i64::try_from(auth_sea_orm::Migrator::migrations().len()).expect("count");
    assert_eq!(applied, expected, "every migration recorded once");
}
