//! Helpers shared by this crate's integration tests: temporary SQLite files, fresh PostgreSQL
//! databases, and checks beyond auth-core's conformance suite.
#![allow(dead_code)] // each test file uses a subset
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::future::Future;
use std::io::Write as _;
use std::time::Duration;

use auth_core::{AuthUser, CreateUserError, NewUser, UserStore};
use auth_sea_orm::sea_orm::{ConnectionTrait, DatabaseConnection};
use auth_sea_orm::{ConnectConfig, connect_with, migrate};

/// The variable naming a PostgreSQL server the tests may create databases on, e.g.
/// `postgres://postgres@127.0.0.1:15432/postgres` (what `.ci/postgres.sh` prints).
pub(crate) const PG_URL_VAR: &str = "PORTCULLIS_TEST_DATABASE_URL";

/// Short timeouts: a dead server fails the test in seconds, not sqlx's 30.
pub(crate) fn test_config() -> ConnectConfig {
    ConnectConfig::default().connect_timeout(Duration::from_secs(5)).acquire_timeout(Duration::from_secs(10))
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The PostgreSQL admin URL from [`PG_URL_VAR`]. When it is unset: in CI (`CI` set) the test
/// fails; elsewhere a loud SKIPPED line goes to stderr (past the test harness's capture) and the
/// caller returns.
pub(crate) fn postgres_url_or_skip(test: &str) -> Option<String> {
    match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if in_ci() => panic!(
            "{PG_URL_VAR} is not set, but CI is: the PostgreSQL test `{test}` must run in CI. \
             Start a server with `.ci/postgres.sh` and export {PG_URL_VAR}=<the URL it prints>."
        ),
        _ => {
            let line = format!(
                "\n********** SKIPPED: {test}: set {PG_URL_VAR} to run it against PostgreSQL \
                 (as root: export {PG_URL_VAR}=$(.ci/postgres.sh)) **********\n"
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

/// `url` with its database name replaced by `database` (query string kept).
pub(crate) fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    format!("{}/{database}{query}", &base[..path])
}

/// Creates a uniquely named database on the server at `admin_url`, runs `test` with its URL, and
/// drops the database afterwards, also when `test` panics (the panic is then resumed).
///
/// Every test gets its own database, so tests in parallel processes (cargo-nextest) never see
/// each other's rows or migrations.
pub(crate) async fn with_fresh_postgres<F, Fut>(admin_url: &str, test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let admin = connect_with(admin_url, &test_config().max_connections(1)).await.unwrap_or_else(|e| {
        panic!("cannot connect to {PG_URL_VAR}: {e}: {:?}", std::error::Error::source(&e))
    });
    let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("CREATE DATABASE");

    let outcome = tokio::spawn(test(with_database(admin_url, &name))).await;

    if let Err(e) =
        admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await
    {
        eprintln!("could not drop test database {name}: {e}");
    }
    let _ = admin.close().await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}

/// Connects with [`test_config`] and migrates (twice: migrating is idempotent).
pub(crate) async fn connect_and_migrate(url: &str) -> DatabaseConnection {
    let db = connect_with(url, &test_config()).await.expect("connect");
    migrate(&db).await.expect("migrate");
    migrate(&db).await.expect("second migrate is a no-op");
    db
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Behaviour the auth-core suite leaves out, and the database makes easy to get wrong.
pub(crate) async fn extra_checks<S: UserStore<User = auth_core::User>>(store: &S) {
    // A username match wins over an email match, whichever row is older.
    let shared = format!("{}@example.com", unique("shared"));
    let by_email = store
        .create_user(NewUser::new(unique("owner"), Some(shared.clone()), "h".into()))
        .await
        .expect("create email owner");
    let by_name =
        store.create_user(NewUser::new(shared.to_uppercase(), None, "h".into())).await.expect("create");
    let found = store.find_by_login(&shared).await.expect("find").expect("found");
    assert_eq!(found.id, by_name.id, "the username match wins");
    assert_ne!(found.id, by_email.id);

    // Both taken: the username is reported, as by MemoryUserStore.
    let both =
        store.create_user(NewUser::new(by_email.username.to_uppercase(), Some(shared), "h".into())).await;
    assert!(matches!(both, Err(CreateUserError::UsernameTaken)), "{both:?}");

    // Non-ASCII case folding matches auth-core's `to_lowercase()`.
    let name = format!("ÅSA_Ωmega_{}", unique(""));
    let created = store.create_user(NewUser::new(name.clone(), None, "h".into())).await.expect("create");
    let found = store.find_by_login(&name.to_lowercase()).await.expect("find").expect("found");
    assert_eq!(found.id, created.id);
    assert_eq!(found.username, name, "the username is stored as entered");

    // What create_user returns is what the database gives back.
    let created = store
        .create_user(
            NewUser::new(unique("round"), Some(format!("{}@Example.COM", unique("r"))), "$argon2id$x".into())
                .roles(vec!["a".into(), "b \"quoted\"".into()]),
        )
        .await
        .expect("create");
    let found = store.find_by_id(&created.id).await.expect("find").expect("found");
    assert_eq!(found, created);
    assert_eq!(found.roles(), vec!["a".to_owned(), "b \"quoted\"".to_owned()]);

    // A password-less account.
    let mut new = NewUser::new(unique("nopw"), None, String::new());
    new.password_hash = None;
    let created = store.create_user(new).await.expect("create");
    let found = store.find_by_id(&created.id).await.expect("find").expect("found");
    assert_eq!(found.password_hash(), None);
}
