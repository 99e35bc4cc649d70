//! auth-email-sign-in's pending-sign-in conformance suite against SQLite (a temporary file) and
//! PostgreSQL (a fresh database on the server named by `PORTCULLIS_TEST_DATABASE_URL`).

#![cfg(any(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::sync::Arc;

use auth_email_sign_in::testing::email_sign_in_store_conformance;
use auth_sea_orm::SeaOrmEmailSignInStore;

async fn run_suite(url: &str) {
    let db = support::connect_and_migrate(url).await;
    email_sign_in_store_conformance(Arc::new(SeaOrmEmailSignInStore::new(db.clone()))).await;
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
    let Some(admin_url) = support::postgres_url_or_skip("email_sign_ins_postgres_conforms") else { return };
    support::with_fresh_postgres(&admin_url, |url| async move { run_suite(&url).await }).await;
}
