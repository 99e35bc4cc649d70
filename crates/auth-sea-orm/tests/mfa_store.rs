//! auth-mfa's conformance suites against SQLite (a temporary file) and PostgreSQL (a fresh
//! database per test on the server named by `PORTCULLIS_TEST_DATABASE_URL`), with spawned races
//! on each; and a look at the raw tables: they hold the TOTP secret only sealed, recovery codes
//! only hashed and challenges only under the hash of the `mfa_token`.

#![cfg(all(feature = "mfa", any(feature = "sqlite", feature = "postgres")))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use auth_core::UserId;
use auth_mfa::testing::{concurrent_mfa_conformance, mfa_store_conformance};
use auth_mfa::{
    FactorUsed, MfaConfig, MfaKey, MfaService, MfaStore, SecondFactor, Totp, challenge_hash,
    normalize_recovery_code,
};
use auth_sea_orm::SeaOrmMfaStore;
use auth_sea_orm::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use chrono::{DateTime, Duration, Utc};

/// Concurrent calls in the spawned races.
const RACERS: usize = 32;

async fn run_suite(url: &str) {
    let db = support::connect_and_migrate(url).await;
    let store = SeaOrmMfaStore::new(db.clone());
    mfa_store_conformance(&store).await;
    mfa_store_conformance(&store).await; // tolerates other data
    concurrent_mfa_conformance(Arc::new(store.clone()), RACERS).await;
    concurrent_code_replacements(&store).await;
    no_mfa_secret_at_rest(&db, store).await;
    db.close().await.expect("close");
}

/// Concurrent replacements of one user's recovery codes never mix: afterwards the user has
/// exactly one of the sets, whole.
async fn concurrent_code_replacements(store: &SeaOrmMfaStore) {
    let user = UserId::new(format!("replacer-{}", uuid::Uuid::new_v4().simple()));
    let t = DateTime::<Utc>::from_timestamp(2_000_000_000, 0).expect("time");
    let sets: Vec<Vec<String>> =
        (0..RACERS).map(|_| (0..3).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect()).collect();
    let tasks: Vec<_> = sets
        .iter()
        .map(|set| {
            let (store, user, set) = (store.clone(), user.clone(), set.clone());
            tokio::spawn(async move { store.replace_recovery_codes(&user, set, t).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("replace_recovery_codes");
    }
    assert_eq!(store.remaining_recovery_codes(&user).await.expect("count"), 3, "one set of three codes");
    let mut winners = 0;
    for set in &sets {
        let mut used = 0;
        for code in set {
            if store.use_recovery_code(&user, code, t).await.expect("use") {
                used += 1;
            }
        }
        assert!(used == 0 || used == 3, "a set is stored whole or not at all, got {used} of 3");
        winners += usize::from(used == 3);
    }
    assert_eq!(winners, 1, "exactly one set is stored");
    assert!(!store.delete_factors(&user).await.expect("delete"), "codes without a factor");
    assert_eq!(store.remaining_recovery_codes(&user).await.expect("count"), 0);
}

/// Every column of `table`, read as text with raw SQL (binary columns as lowercase hex):
/// `(column, values)`.
async fn raw_columns(db: &DatabaseConnection, table: &str) -> Vec<(String, Vec<Option<String>>)> {
    let backend = db.get_database_backend();
    let catalog = match backend {
        DbBackend::Sqlite => format!("SELECT name, lower(type) FROM pragma_table_info('{table}')"),
        DbBackend::Postgres => format!(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
        other => panic!("unexpected backend {other:?}"),
    };
    let names: Vec<(String, String)> = db
        .query_all_raw(Statement::from_string(backend, catalog))
        .await
        .expect("catalog")
        .iter()
        .map(|row| {
            (row.try_get_by_index::<String>(0).expect("column name"), row.try_get_by_index(1).expect("type"))
        })
        .collect();
    assert!(!names.is_empty(), "{table} exists");
    let mut columns = Vec::new();
    for (name, data_type) in names {
        let value = match (backend, data_type.as_str()) {
            (DbBackend::Sqlite, "blob") => format!("lower(hex(\"{name}\"))"),
            (DbBackend::Postgres, "bytea") => format!("encode(\"{name}\", 'hex')"),
            _ => format!("CAST(\"{name}\" AS TEXT)"),
        };
        let sql = format!("SELECT {value} FROM \"{table}\"");
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

fn sorted_names(columns: &[(String, Vec<Option<String>>)]) -> Vec<&str> {
    let mut names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    names
}

fn column<'a>(columns: &'a [(String, Vec<Option<String>>)], name: &str) -> &'a [Option<String>] {
    &columns.iter().find(|(n, _)| n == name).expect("column").1
}

/// Every `width`-character window of `value` (and `value` itself).
fn windows(value: &str, width: usize) -> Vec<String> {
    let mut fragments = vec![value.to_owned()];
    for start in 0..=value.len().saturating_sub(width) {
        fragments.push(value[start..start + width].to_owned());
    }
    fragments
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Enrols users through [`MfaService`] (setup, confirmation, TOTP and recovery-code sign-ins,
/// recovery-code regeneration, challenges), then reads the three raw tables: no column holds the
/// TOTP secret (base32 or raw bytes in hex), a recovery code (with or without hyphens) or an
/// `mfa_token`, or part of one; the stored hashes are the expected ones.
async fn no_mfa_secret_at_rest(db: &DatabaseConnection, store: SeaOrmMfaStore) {
    let service = MfaService::new(Arc::new(store), MfaKey::generate(), MfaConfig::default());
    let t = DateTime::<Utc>::from_timestamp(2_100_000_000, 0).expect("time");

    let mut secrets = Vec::new(); // (base32, raw bytes)
    let mut codes = Vec::new(); // every recovery code ever shown
    let mut tokens = Vec::new(); // every mfa_token
    let mut expected_code_hashes = Vec::new();
    for i in 0..3 {
        let user = UserId::new(format!("at-rest-{i}-{}", uuid::Uuid::new_v4().simple()));
        let setup = service.begin_totp_setup(&user, "alice", t).await.expect("begin_totp_setup");
        let sealed =
            service.store().totp_factor(&user).await.expect("factor").expect("pending").sealed_secret;
        let raw = service.key().open(&sealed, user.as_str().as_bytes()).expect("the sealed secret opens");
        let app = Totp::new(raw.clone());
        assert_eq!(app.secret_base32(), setup.secret, "the app's secret is the one shown");
        let shown = service.confirm_totp(&user, &app.code_at(t.timestamp()), t).await.expect("confirm_totp");
        assert_eq!(shown.len(), MfaConfig::default().recovery_codes);

        // Sign-ins: a TOTP code and a recovery code, through challenges.
        let later = t + Duration::seconds(30);
        let token =
            service.create_challenge(&user, "mobile", serde_json::json!({}), later).await.expect("challenge");
        let done = service
            .attempt_challenge(&token, &SecondFactor::Totp(app.code_at(later.timestamp())), later)
            .await
            .expect("completed with a TOTP code");
        assert_eq!(done.factor, FactorUsed::Totp);
        tokens.push(token);
        let token = service
            .create_challenge(&user, "web", serde_json::json!({"n": i}), later)
            .await
            .expect("challenge");
        let wrong = service.attempt_challenge(&token, &SecondFactor::Totp("000000".into()), later).await;
        assert!(wrong.is_err(), "a wrong (or used) code is refused, the attempt counted");
        let done = service
            .attempt_challenge(&token, &SecondFactor::RecoveryCode(shown[0].clone()), later)
            .await
            .expect("completed with a recovery code");
        assert_eq!(done.factor, FactorUsed::RecoveryCode);
        tokens.push(token);
        // A pending challenge stays in the table.
        tokens.push(
            service
                .create_challenge(&user, "token", serde_json::json!({"name": "ci"}), later)
                .await
                .expect("challenge"),
        );

        codes.extend(shown);
        let fresh = service.regenerate_recovery_codes(&user, later).await.expect("regenerate");
        // Use one of the fresh ones, so that a used_at is set.
        assert_eq!(
            service
                .verify(&user, &SecondFactor::RecoveryCode(fresh[1].clone()), later)
                .await
                .expect("verify"),
            Some(FactorUsed::RecoveryCode)
        );
        for code in &fresh {
            let normalized = normalize_recovery_code(code).expect("a well-formed code");
            expected_code_hashes.push(service.key().recovery_code_hash(&user, &normalized));
        }
        codes.extend(fresh);
        secrets.push((setup.secret, raw));
    }

    let factors = raw_columns(db, "portcullis_mfa_totp_factors").await;
    assert_eq!(
        sorted_names(&factors),
        ["confirmed_at", "created_at", "last_used_step", "sealed_secret", "user_id"],
        "every factor column is read"
    );
    let recovery = raw_columns(db, "portcullis_mfa_recovery_codes").await;
    assert_eq!(
        sorted_names(&recovery),
        ["code_hash", "created_at", "id", "used_at", "user_id"],
        "every recovery-code column is read"
    );
    let challenges = raw_columns(db, "portcullis_mfa_challenges").await;
    assert_eq!(
        sorted_names(&challenges),
        ["attempts", "context", "created_at", "expires_at", "flow", "hash", "user_id"],
        "every challenge column is read"
    );

    let mut forbidden: Vec<(String, &str)> = Vec::new();
    for (base32, raw) in &secrets {
        forbidden.extend(windows(base32, 12).into_iter().map(|f| (f, "the base32 TOTP secret")));
        forbidden
            .extend(windows(&base32.to_lowercase(), 12).into_iter().map(|f| (f, "the base32 TOTP secret")));
        forbidden.extend(windows(&hex(raw), 16).into_iter().map(|f| (f, "the raw TOTP secret")));
    }
    for code in &codes {
        forbidden.push((code.clone(), "a recovery code"));
        forbidden.push((code.replace('-', ""), "a recovery code without hyphens"));
    }
    for token in &tokens {
        let random = token.strip_prefix(auth_mfa::MFA_TOKEN_PREFIX).expect("mfa_ prefix");
        forbidden.extend(windows(token, 12).into_iter().map(|f| (f, "an mfa_token")));
        forbidden.extend(windows(random, 12).into_iter().map(|f| (f, "an mfa_token")));
    }
    for (table, columns) in
        [("factors", &factors), ("recovery codes", &recovery), ("challenges", &challenges)]
    {
        for (name, cells) in columns.iter() {
            for cell in cells.iter().flatten() {
                for (fragment, what) in &forbidden {
                    assert!(!cell.contains(fragment.as_str()), "{table}.{name} holds (part of) {what}");
                }
            }
        }
    }

    // What is stored instead: sealed secrets, keyed code hashes, token hashes.
    let sealed_column = column(&factors, "sealed_secret");
    for (_, raw) in &secrets {
        assert!(
            sealed_column.iter().flatten().all(|sealed| sealed.len() > 2 * raw.len()),
            "sealed secrets are longer than the secret (nonce and tag)"
        );
    }
    let code_hashes = column(&recovery, "code_hash");
    for hash in &expected_code_hashes {
        assert!(code_hashes.contains(&Some(hash.clone())), "the keyed hash of a live code is stored");
    }
    let used = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) FROM portcullis_mfa_recovery_codes \
             WHERE used_at IS NOT NULL AND user_id LIKE 'at-rest-%'",
        ))
        .await
        .expect("count")
        .expect("row");
    assert_eq!(
        used.try_get_by_index::<i64>(0).expect("count"),
        3,
        "one used code per user (the regenerated set replaced the first)"
    );
    let challenge_hashes = column(&challenges, "hash");
    let pending: Vec<&String> = tokens.iter().skip(2).step_by(3).collect();
    for token in &pending {
        assert!(
            challenge_hashes.contains(&Some(challenge_hash(token))),
            "a pending challenge is stored by hash"
        );
    }
    for token in tokens.iter().step_by(3).chain(tokens.iter().skip(1).step_by(3)) {
        assert!(!challenge_hashes.contains(&Some(challenge_hash(token))), "a completed challenge is gone");
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_mfa_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("mfa.db").display());
    run_suite(&url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_mfa_store_conforms() {
    let Some(admin_url) = support::postgres_url_or_skip("postgres_mfa_store_conforms") else { return };
    support::with_fresh_postgres(&admin_url, |url| async move { run_suite(&url).await }).await;
}
