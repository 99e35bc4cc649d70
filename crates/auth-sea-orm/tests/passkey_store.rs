//! auth-webauthn's passkey conformance suite against SQLite (a temporary file) and
//! PostgreSQL (a fresh database on the server named by `PORTCULLIS_TEST_DATABASE_URL`).

#![cfg(any(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::sync::Arc;

use auth_sea_orm::SeaOrmPasskeyStore;
use auth_webauthn::testing::passkey_store_conformance;

async fn run_suite(url: &str) {
    let db = support::connect_and_migrate(url).await;
    passkey_store_conformance(Arc::new(SeaOrmPasskeyStore::new(db.clone()))).await;
    db.close().await.expect("close");
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("portcullis.db").display());
    run_suite(&url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_conforms() {
    let Some(admin_url) = support::postgres_url_or_skip("passkeys_postgres_conforms") else { return };
    support::with_fresh_postgres(&admin_url, |url| async move { run_suite(&url).await }).await;
}
