//! auth-core's user-store and account-token-store conformance suites against SQLite (a temporary file and `:memory:`) and
//! PostgreSQL (a fresh database per test on the server named by `PORTCULLIS_TEST_DATABASE_URL`).

#![cfg(any(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::sync::Arc;

use auth_core::account_tokens::conformance::{
    account_token_store_conformance, concurrent_consume_conformance,
};
use auth_core::testing::{concurrent_create_conformance, user_store_conformance};
use auth_sea_orm::{SeaOrmAccountTokenStore, SeaOrmUserStore};

async fn run_suite(url: &str) {
    let db = support::connect_and_migrate(url).await;
    let store = SeaOrmUserStore::new(db);
    user_store_conformance(&store).await;
    support::extra_checks(&store).await;
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
