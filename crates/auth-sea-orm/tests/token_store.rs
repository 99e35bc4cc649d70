//! auth-token's opaque-token and API-key conformance suites against SQLite (a temporary file and
//! `:memory:`) and PostgreSQL (a fresh database per test on the server named by
//! `PORTCULLIS_TEST_DATABASE_URL`), with concurrent touches on each; and a look at the raw tables:
//! they hold hashes, never a usable secret.

#![cfg(all(feature = "token", any(feature = "sqlite", feature = "postgres")))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use auth_core::UserId;
use auth_sea_orm::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use auth_sea_orm::{SeaOrmApiKeyStore, SeaOrmOpaqueTokenStore};
use auth_token::testing::{
    api_key_store_conformance, concurrent_api_key_touch_conformance, concurrent_touch_conformance,
    opaque_token_store_conformance,
};
use auth_token::{
    ApiKeyRecord, ApiKeyStore, LOOKUP_CHARS, OpaqueTokenRecord, OpaqueTokenStore, TokenFormat, TokenHash,
};
use chrono::{DateTime, Duration, Utc};

/// Concurrent touches of one record in the spawned race.
const RACERS: usize = 50;

async fn run_suite(url: &str) {
    let db = support::connect_and_migrate(url).await;
    let tokens = SeaOrmOpaqueTokenStore::new(db.clone());
    let keys = SeaOrmApiKeyStore::new(db.clone());
    opaque_token_store_conformance(&tokens).await;
    api_key_store_conformance(&keys).await;
    // Twice: the suites tolerate a store holding other data.
    opaque_token_store_conformance(&tokens).await;
    api_key_store_conformance(&keys).await;
    concurrent_touch_conformance(Arc::new(tokens.clone()), RACERS).await;
    concurrent_api_key_touch_conformance(Arc::new(keys.clone()), RACERS).await;
    stored_precision(&tokens, &keys).await;
    no_secret_at_rest(&db, &tokens, &keys).await;
    db.close().await.expect("close");
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Sub-microsecond parts are dropped on both databases alike; idle timeouts keep whole seconds.
async fn stored_precision(tokens: &SeaOrmOpaqueTokenStore, keys: &SeaOrmApiKeyStore) {
    let t = DateTime::<Utc>::from_timestamp(2_000_000_000, 123_456_789).expect("time");
    let micros = DateTime::<Utc>::from_timestamp(2_000_000_000, 123_456_000).expect("time");
    let secret = TokenFormat::opaque_token().generate();
    let record = OpaqueTokenRecord::from_secret(
        unique("tok"),
        &secret,
        UserId::new(unique("precise")),
        unique("g"),
        t,
        t + Duration::days(1),
    )
    .idle_ttl(Duration::milliseconds(90_999));
    tokens.insert(record).await.expect("insert");
    let found = tokens.find_by_hash(secret.hash()).await.expect("find").expect("found");
    assert_eq!((found.created_at, found.last_used_at), (micros, micros));
    assert_eq!(found.idle_ttl, Some(Duration::seconds(90)));
    let later = t + Duration::seconds(61);
    assert!(tokens.touch(&found.id, later).await.expect("touch"));
    let found = tokens.find_by_hash(secret.hash()).await.expect("find").expect("found");
    assert_eq!(found.last_used_at, micros + Duration::seconds(61));

    let secret = TokenFormat::api_key().generate();
    let key =
        ApiKeyRecord::from_secret(unique("key"), &secret, UserId::new(unique("precise")), "k", vec![], t)
            .expires_at(t + Duration::days(1));
    keys.insert(key).await.expect("insert");
    let found = keys.find_by_hash(secret.hash()).await.expect("find").expect("found");
    assert_eq!((found.created_at, found.expires_at), (micros, Some(micros + Duration::days(1))));
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

/// The secret's random part in every form it could have been written in: base64url, hex, and
/// every 12-character window beyond the lookup.
fn secret_fragments(token: &str) -> Vec<String> {
    use base64::Engine as _;

    let random = token.split_once('_').map(|(_, random)| random).expect("prefix_random");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(random).expect("base64url");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut fragments = vec![token.to_owned(), random.to_owned(), hex];
    let hidden = &random[LOOKUP_CHARS..];
    for start in 0..=hidden.len() - 12 {
        fragments.push(hidden[start..start + 12].to_owned());
    }
    fragments
}

fn assert_no_secret(table: &str, columns: &[(String, Vec<Option<String>>)], token: &str) {
    for fragment in secret_fragments(token) {
        for (column, values) in columns {
            for value in values.iter().flatten() {
                assert!(
                    !value.contains(&fragment),
                    "{table}.{column} holds part of a secret ({fragment:?} in {value:?})"
                );
            }
        }
    }
}

fn column<'c>(columns: &'c [(String, Vec<Option<String>>)], name: &str) -> &'c [Option<String>] {
    columns
        .iter()
        .find(|(column, _)| column == name)
        .map(|(_, values)| values.as_slice())
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// Reads both tables with raw SQL after issuing, using and revoking credentials: no column holds
/// a token, a key, or a usable part of either; the hash columns hold their SHA-256.
async fn no_secret_at_rest(
    db: &DatabaseConnection,
    tokens: &SeaOrmOpaqueTokenStore,
    keys: &SeaOrmApiKeyStore,
) {
    let t = DateTime::<Utc>::from_timestamp(2_100_000_000, 0).expect("time");
    let user = UserId::new(unique("at-rest"));

    let mut issued_tokens = Vec::new();
    for name in [Some("laptop".to_owned()), None] {
        let secret = TokenFormat::opaque_token().generate();
        let record = OpaqueTokenRecord::from_secret(
            unique("tok"),
            &secret,
            user.clone(),
            unique("g"),
            t,
            t + Duration::days(30),
        )
        .name(name)
        .idle_ttl(Duration::days(7));
        tokens.insert(record.clone()).await.expect("insert");
        assert!(tokens.touch(&record.id, t + Duration::minutes(5)).await.expect("touch"));
        issued_tokens.push(secret);
    }
    let mut issued_keys = Vec::new();
    for scopes in [vec!["notes:read".to_owned()], vec![]] {
        let secret = TokenFormat::api_key().generate();
        let record = ApiKeyRecord::from_secret(unique("key"), &secret, user.clone(), "deploy", scopes, t);
        keys.insert(record.clone()).await.expect("insert");
        assert!(keys.touch(&record.id, t).await.expect("touch"));
        issued_keys.push((record.id, secret));
    }
    assert!(keys.revoke(&user, &issued_keys[1].0, t).await.expect("revoke"));

    let opaque = raw_columns(db, "portcullis_opaque_tokens").await;
    let mut names: Vec<&str> = opaque.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "amr",
            "created_at",
            "expires_at",
            "grant_id",
            "id",
            "idle_ttl_seconds",
            "last_used_at",
            "lookup",
            "name",
            "token_hash",
            "user_id"
        ],
        "every column is read"
    );
    let keys_table = raw_columns(db, "portcullis_api_keys").await;
    assert_eq!(
        keys_table.len(),
        10,
        "every column is read: {:?}",
        keys_table.iter().map(|c| &c.0).collect::<Vec<_>>()
    );

    for secret in &issued_tokens {
        assert_no_secret("portcullis_opaque_tokens", &opaque, secret.token());
        assert_no_secret("portcullis_api_keys", &keys_table, secret.token());
        let hash = Some(TokenHash::of(secret.token()).as_hex().to_owned());
        assert!(column(&opaque, "token_hash").contains(&hash), "the hash is stored");
        assert!(column(&opaque, "lookup").contains(&Some(secret.lookup().to_owned())));
    }
    for (_, secret) in &issued_keys {
        assert_no_secret("portcullis_opaque_tokens", &opaque, secret.token());
        assert_no_secret("portcullis_api_keys", &keys_table, secret.token());
        let hash = Some(TokenHash::of(secret.token()).as_hex().to_owned());
        assert!(column(&keys_table, "key_hash").contains(&hash), "the hash is stored");
    }
    assert!(column(&keys_table, "scopes").contains(&Some(r#"["notes:read"]"#.to_owned())));
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_token_stores_conform() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("tokens.db").display());
    run_suite(&url).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_memory_token_stores_conform() {
    run_suite("sqlite::memory:").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_token_stores_conform() {
    let Some(admin_url) = support::postgres_url_or_skip("postgres_token_stores_conform") else { return };
    support::with_fresh_postgres(&admin_url, |url| async move { run_suite(&url).await }).await;
}
