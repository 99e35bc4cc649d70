//! auth-core's user-store, role-store and account-token-store conformance suites against SQLite (a temporary file and
//! `:memory:`) and PostgreSQL (a fresh database per test on the server named by `PORTCULLIS_TEST_DATABASE_URL`).

#![cfg(any(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::sync::Arc;

use auth_core::account_tokens::conformance::{
    account_token_store_conformance, concurrent_consume_conformance,
};
use auth_core::testing::{
    concurrent_create_conformance, role_store_conformance, tenant_conformance, user_store_conformance,
};
use auth_core::{UserQuery, UserStore};
use auth_sea_orm::{SeaOrmAccountTokenStore, SeaOrmRoleStore, SeaOrmUserStore};

async fn run_suite(url: &str) {
    let db = support::connect_and_migrate(url).await;
    let store = SeaOrmUserStore::new(db);
    user_store_conformance(&store).await;
    tenant_conformance(&store).await;
    // The suite skips its list_users checks for a store that cannot list: this one must.
    assert!(store.list_users(&UserQuery::new(1)).await.is_ok(), "list_users is implemented");
    support::extra_checks(&store).await;
    role_store_conformance(Arc::new(SeaOrmRoleStore::new(store.connection().clone()))).await;
    concurrent_create_conformance(Arc::new(store.clone()), 16).await;
    let tokens = SeaOrmAccountTokenStore::new(store.connection().clone());
    account_token_store_conformance(&tokens).await;
    concurrent_consume_conformance(Arc::new(tokens), 16).await;
    store.connection().clone().close().await.expect("close");
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("portcullis.db").display());
    run_suite(&url).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_memory_conforms() {
    run_suite("sqlite::memory:").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_conforms() {
    let Some(admin_url) = support::postgres_url_or_skip("postgres_conforms") else { return };
    support::with_fresh_postgres(&admin_url, |url| async move { run_suite(&url).await }).await;
}

/// Without `PRAGMA foreign_keys` (a pool not opened by `connect`) deleting a role still takes its
/// permissions and assignments, also while they are being added concurrently.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_roles_without_foreign_keys_conform() {
    use auth_sea_orm::sea_orm::{ConnectOptions, ConnectionTrait, Database};

    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("portcullis.db").display());
    let mut options = ConnectOptions::new(&url);
    options.max_connections(4).map_sqlx_sqlite_opts(|sqlite| {
        sqlite.foreign_keys(false).busy_timeout(std::time::Duration::from_secs(5))
    });
    let db = Database::connect(options).await.expect("connect");
    auth_sea_orm::migrate(&db).await.expect("migrate");
    let pragma = db.query_one_raw(auth_sea_orm::sea_orm::Statement::from_string(
        db.get_database_backend(),
        "PRAGMA foreign_keys",
    ));
    let enforced: i32 = pragma.await.expect("pragma").expect("row").try_get_by_index(0).expect("value");
    assert_eq!(enforced, 0, "foreign keys are off for this test");
    role_store_conformance(Arc::new(SeaOrmRoleStore::new(db.clone()))).await;
    db.close().await.expect("close");
}
