//! auth-core's audit-store conformance suite against SQLite (a temporary file) and PostgreSQL (a
//! fresh database per test on the server named by `PORTCULLIS_TEST_DATABASE_URL`); rows this
//! version cannot read are skipped, not fatal; and a look at the raw table: the stored columns,
//! their types and values.

#![cfg(any(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use auth_core::UserId;
use auth_core::audit::conformance::audit_store_conformance;
use auth_core::audit::{AuditEvent, AuditKind, AuditLog, AuditQuery, AuditStore};
use auth_sea_orm::SeaOrmAuditStore;
use auth_sea_orm::entity::audit_events;
use auth_sea_orm::sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Statement,
};
use chrono::{DateTime, Duration, Utc};

const TABLE: &str = "portcullis_audit_events";

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).expect("time")
}

async fn run_suite(url: &str) {
    let db = support::connect_and_migrate(url).await;
    let store = SeaOrmAuditStore::new(db.clone());
    audit_store_conformance(&store).await;
    audit_store_conformance(&store).await; // tolerates other data
    unreadable_rows_are_skipped(&db, &store).await;
    through_the_log(store).await;
    db.close().await.expect("close");
}

/// A row with a kind this version does not know (written by a newer one), or with a detail that
/// is not a JSON object, is left out of a listing; the rest of the listing is returned.
async fn unreadable_rows_are_skipped(db: &DatabaseConnection, store: &SeaOrmAuditStore) {
    let user = UserId::new(format!("audit-future-{}", uuid::Uuid::new_v4().simple()));
    let older = AuditEvent::new(AuditKind::SignInSucceeded, t0()).user(&user);
    let newer = AuditEvent::new(AuditKind::SignedOut, t0() + Duration::seconds(3)).user(&user);
    store.record(&older).await.expect("record");
    store.record(&newer).await.expect("record");
    for (seconds, kind, detail) in [
        (1, "passkey_added", "{}"),            // a kind from the future
        (2, "sign_in_succeeded", "not json"),  // corrupt detail
        (2, "sign_in_succeeded", "[1, 2, 3]"), // JSON, not an object
    ] {
        let row = audit_events::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            at: Set(t0() + Duration::seconds(seconds)),
            kind: Set(kind.to_owned()),
            user_id: Set(Some(user.as_str().to_owned())),
            ip: Set(None),
            user_agent: Set(None),
            detail: Set(detail.to_owned()),
        };
        audit_events::Entity::insert(row).exec_without_returning(db).await.expect("insert raw row");
    }
    let listed = store.list(&AuditQuery::new().user(&user)).await.expect("list with unreadable rows");
    assert_eq!(listed, vec![newer.clone(), older], "the unreadable rows are skipped");
    let listed = store.list(&AuditQuery::new().user(&user).limit(2)).await.expect("list");
    assert_eq!(listed, vec![newer], "the limit counts rows: skipped ones make the page shorter");
}

/// [`AuditLog`] on the SQL store: recorded, then listed.
async fn through_the_log(store: SeaOrmAuditStore) {
    let log = AuditLog::new(Arc::new(store));
    let user = UserId::new(format!("audit-log-{}", uuid::Uuid::new_v4().simple()));
    let event = AuditEvent::new(AuditKind::MfaEnabled, t0()).user(&user).detail("factor", "totp");
    log.record(event.clone()).await;
    assert_eq!(log.list(&AuditQuery::new().user(&user)).await.expect("list"), vec![event]);
}

/// Records a few events and reads the raw table back with SQL: its columns and their types, every
/// value as text, and its indexes. Printed (run with `--nocapture` to see them) and checked.
async fn raw_rows(url: &str) {
    let db = support::connect_and_migrate(url).await;
    let backend = db.get_database_backend();
    let store = SeaOrmAuditStore::new(db.clone());

    let alice = UserId::new("alice-0191");
    let agent = format!("Mozilla/5.0 (Ünïcødé) {}", "x".repeat(300));
    let failed = AuditEvent::new(AuditKind::SignInFailed, t0() + Duration::microseconds(250_000))
        .user(&alice)
        .client(Some("2001:db8::1"), Some(&agent))
        .detail("reason", "bad_password")
        .detail("flow", "mobile");
    let anonymous = AuditEvent::new(AuditKind::SignInFailed, t0()).detail("reason", "unknown_login");
    let key = AuditEvent::new(AuditKind::ApiKeyCreated, t0() + Duration::seconds(1))
        .user(&alice)
        .client(Some("203.0.113.7"), Some("curl/8.5"))
        .detail("key_id", "k-42");
    for event in [&failed, &anonymous, &key] {
        store.record(event).await.expect("record");
    }

    let types = column_types(&db).await;
    eprintln!("{backend:?} {TABLE} columns: {types:?}");
    let names: Vec<&str> = types.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["id", "at", "kind", "user_id", "ip", "user_agent", "detail"], "the columns, in order");
    let type_of = |column: &str| types.iter().find(|(n, _)| n == column).map(|(_, t)| t.as_str()).unwrap();
    for column in ["id", "kind", "user_id", "ip", "user_agent", "detail"] {
        assert_eq!(type_of(column), "text", "{column} is text");
    }
    match backend {
        DbBackend::Postgres => assert_eq!(type_of("at"), "timestamp with time zone"),
        _ => assert!(type_of("at").starts_with("timestamp"), "at: {}", type_of("at")),
    }

    let rows = raw_table(&db, &names).await;
    for row in &rows {
        eprintln!("{backend:?} {TABLE} row: {row:?}");
    }
    assert_eq!(rows.len(), 3);
    let row = |id: &str| rows.iter().find(|r| r[0].as_deref() == Some(id)).expect("row by id");

    let r = row(&failed.id);
    assert_eq!(r[2].as_deref(), Some("sign_in_failed"), "the kind's snake_case name");
    assert_eq!(r[3].as_deref(), Some("alice-0191"));
    assert_eq!(r[4].as_deref(), Some("2001:db8::1"));
    let stored_agent = r[5].as_deref().unwrap();
    assert_eq!(stored_agent.chars().count(), 256, "the user agent is stored truncated");
    assert!(agent.starts_with(stored_agent));
    let detail: serde_json::Value = serde_json::from_str(r[6].as_deref().unwrap()).expect("detail is JSON");
    assert_eq!(detail, serde_json::json!({"reason": "bad_password", "flow": "mobile"}));
    let at = r[1].as_deref().unwrap();
    assert!(at.starts_with("2023-11-14") && at.contains("22:13:20.25"), "at: {at}");

    let r = row(&anonymous.id);
    assert_eq!((r[3].as_deref(), r[4].as_deref(), r[5].as_deref()), (None, None, None), "NULLs");
    assert_eq!(r[6].as_deref(), Some(r#"{"reason":"unknown_login"}"#));
    let r = row(&key.id);
    assert_eq!(r[2].as_deref(), Some("api_key_created"));
    assert_eq!(r[6].as_deref(), Some(r#"{"key_id":"k-42"}"#));

    let indexes = index_names(&db).await;
    eprintln!("{backend:?} {TABLE} indexes: {indexes:?}");
    for index in ["portcullis_audit_events_user_id_at_idx", "portcullis_audit_events_at_idx"] {
        assert!(indexes.iter().any(|i| i == index), "{index} exists: {indexes:?}");
    }

    // What the store reads back is what was recorded.
    let listed = store.list(&AuditQuery::new().limit(10)).await.expect("list");
    assert_eq!(listed, vec![key, failed, anonymous]);
    db.close().await.expect("close");
}

/// `(column, lowercase type)` of the audit table, in table order.
async fn column_types(db: &DatabaseConnection) -> Vec<(String, String)> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => {
            format!("SELECT name, lower(type) FROM pragma_table_info('{TABLE}') ORDER BY cid")
        }
        DbBackend::Postgres => format!(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{TABLE}' ORDER BY ordinal_position"
        ),
        other => panic!("unexpected backend {other:?}"),
    };
    db.query_all_raw(Statement::from_string(backend, sql))
        .await
        .expect("catalog")
        .iter()
        .map(|row| (row.try_get_by_index(0).expect("name"), row.try_get_by_index(1).expect("type")))
        .collect()
}

/// Every row of the audit table, each column cast to text.
async fn raw_table(db: &DatabaseConnection, columns: &[&str]) -> Vec<Vec<Option<String>>> {
    let backend = db.get_database_backend();
    let select: Vec<String> = columns.iter().map(|c| format!("CAST(\"{c}\" AS TEXT)")).collect();
    let sql = format!("SELECT {} FROM \"{TABLE}\"", select.join(", "));
    db.query_all_raw(Statement::from_string(backend, sql))
        .await
        .expect("select")
        .iter()
        .map(|row| {
            (0..columns.len()).map(|i| row.try_get_by_index::<Option<String>>(i).expect("value")).collect()
        })
        .collect()
}

async fn index_names(db: &DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => {
            format!("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = '{TABLE}'")
        }
        _ => format!("SELECT indexname::text FROM pg_indexes WHERE tablename = '{TABLE}'"),
    };
    db.query_all_raw(Statement::from_string(backend, sql))
        .await
        .expect("indexes")
        .iter()
        .map(|row| row.try_get_by_index(0).expect("index name"))
        .collect()
}

#[cfg(feature = "sqlite")]
fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("audit.db").display())
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_audit_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    run_suite(&sqlite_url(&dir)).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_audit_raw_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    raw_rows(&sqlite_url(&dir)).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_audit_store_conforms() {
    let Some(admin_url) = support::postgres_url_or_skip("postgres_audit_store_conforms") else { return };
    support::with_fresh_postgres(&admin_url, |url| async move { run_suite(&url).await }).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_audit_raw_rows() {
    let Some(admin_url) = support::postgres_url_or_skip("postgres_audit_raw_rows") else { return };
    support::with_fresh_postgres(&admin_url, |url| async move { raw_rows(&url).await }).await;
}
