//! Test harness: starts the real `portcullis` server in-process on an ephemeral port, with a
//! manual clock, on SQLite (a fresh temporary file) or PostgreSQL (a fresh database on the server
//! named by `PORTCULLIS_TEST_DATABASE_URL`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

pub use auth_server::Adapter;
use auth_server::Settings;
use auth_server::app::{RunningServer, ServerAuth};
use portcullis::core::{Clock, ManualClock};
use reqwest::{Client, Response};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

pub mod browser;
pub mod oidc_provider;

pub use http;
pub use reqwest;
pub use serde_json;

/// The HMAC secret the default test server signs with (tests forge tokens with it).
pub const TEST_SECRET: &str = "portcullis-test-secret-that-is-long-enough-0123456789";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL admin URL, or `None` (then the PostgreSQL variant is skipped, loudly; under CI it fails).
pub fn postgres_url() -> Option<String> {
    match std::env::var("PORTCULLIS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok() {
                panic!(
                    "CI is set but PORTCULLIS_TEST_DATABASE_URL is not: the PostgreSQL tests must run in CI"
                );
            }
            eprintln!("SKIPPED: set PORTCULLIS_TEST_DATABASE_URL to run the PostgreSQL variant");
            None
        }
    }
}

/// Creates a fresh, uniquely named database on the PostgreSQL server and returns its URL.
pub async fn fresh_postgres_database(admin_url: &str) -> String {
    let name = format!("pc_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(admin_url).await.expect("connect to PostgreSQL");
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
    admin.close().await.ok();
    let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{name}")
}

/// The From address of test emails.
pub const MAIL_FROM: &str = "Portcullis <no-reply@example.test>";
/// The frontend every link in a test email points to.
pub const FRONTEND_URL: &str = "https://app.example.test";

/// Drops a test's PostgreSQL database when the test ends, so that a run of the suite does not
/// leave hundreds of databases behind.
struct DropDatabase {
    admin_url: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Its own thread and runtime: the test's runtime may be shutting down.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let admin = sea_orm::Database::connect(&admin_url).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                admin.execute_unprepared(&sql).await.ok()?;
                admin.close().await.ok()
            })
        });
        let _ = dropped.join();
    }
}

/// A running test server.
pub struct TestServer {
    pub server: RunningServer,
    pub clock: ManualClock,
    pub client: Client,
    pub settings: Settings,
    pub backend: Backend,
    _dir: tempfile::TempDir,
    /// The test's own PostgreSQL database, dropped with the server (last field: after it).
    _database: Option<DropDatabase>,
}

impl TestServer {
    /// Default test settings: HS256 with [`TEST_SECRET`], cheap argon2, the given database.
    pub async fn settings(backend: Backend, dir: &std::path::Path) -> Option<Settings> {
        let mut s = Settings::default();
        s.bind = "127.0.0.1:0".parse().unwrap();
        s.jwt_algorithm = "HS256".parse().unwrap();
        s.jwt_secret = Some(auth_server::config::Secret::new(TEST_SECRET));
        s.keys_dir = dir.join("keys");
        s.argon2_memory_kib = 64;
        s.argon2_iterations = 1;
        // Tests register many users from 127.0.0.1; the registration limits have their own tests.
        s.register_limit_per_ip = 100_000;
        s.register_limit_global = 100_000;
        s.log = "warn".into();
        // Account emails as `.eml` files in the test's directory (see `TestServer::mail_to`).
        s.email_backend =
            Some(auth_server::config::Secret::new(format!("file:{}", dir.join("mail").display())));
        s.email_from = Some(MAIL_FROM.to_owned());
        s.frontend_url = Some(FRONTEND_URL.to_owned());
        s.database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
            Backend::Postgres => fresh_postgres_database(&postgres_url()?).await,
        };
        Some(s)
    }

    /// Starts a server; `None` when the backend is unavailable outside CI.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts an axum server after `configure` adjusted the default test settings.
    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Option<Self> {
        Self::start_on(backend, Adapter::Axum, configure).await
    }

    /// Starts a server with `adapter` after `configure` adjusted the default test settings.
    pub async fn start_on(
        backend: Backend,
        adapter: Adapter,
        configure: impl FnOnce(&mut Settings),
    ) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Self::settings(backend, dir.path()).await?;
        settings.adapter = adapter;
        configure(&mut settings);
        settings.validate().expect("test settings are valid");
        let database = match backend {
            Backend::Postgres => settings.database_url.rsplit_once('/').map(|(_, name)| DropDatabase {
                admin_url: postgres_url().unwrap_or_default(),
                name: name.to_owned(),
            }),
            Backend::Sqlite => None,
        };
        let mut server = Self::start_settings(backend, settings, dir).await;
        server._database = database;
        Some(server)
    }

    /// Starts a server with exactly these settings.
    pub async fn start_settings(backend: Backend, settings: Settings, dir: tempfile::TempDir) -> Self {
        let clock = ManualClock::starting_now();
        let server =
            auth_server::app::start(&settings, Arc::new(clock.clone())).await.expect("server starts");
        let client = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { server, clock, client, settings, backend, _dir: dir, _database: None }
    }

    /// Stops the server and returns its settings and temporary directory (to restart on the same data).
    pub async fn stop(self) -> (Settings, tempfile::TempDir) {
        self.server.shutdown().await.unwrap();
        // The data outlives this server: a restart reuses it (the database is left behind).
        std::mem::forget(self._database);
        (self.settings, self._dir)
    }

    /// The test's temporary directory.
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Where the file mail backend of the default test settings writes.
    pub fn mail_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("mail")
    }

    /// The first email to `to` (waits up to 10 s for the background sender); panics when none came.
    pub async fn mail_to(&self, to: &str) -> portcullis::mail::testing::ReceivedMail {
        let timeout = std::time::Duration::from_secs(10);
        portcullis::mail::testing::wait_for_eml(&self.mail_dir(), to, timeout)
            .await
            .unwrap_or_else(|| panic!("no email to {to}"))
    }

    /// Every email written so far, oldest first.
    pub fn mails(&self) -> Vec<portcullis::mail::testing::ReceivedMail> {
        portcullis::mail::testing::read_eml_dir(&self.mail_dir()).unwrap_or_default()
    }

    pub fn auth(&self) -> &Arc<ServerAuth> {
        &self.server.auth
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    pub fn now(&self) -> i64 {
        self.clock.unix_seconds()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client.post(self.url(path)).json(&body).send().await.unwrap()
    }

    pub async fn post_origin(&self, path: &str, origin: &str, body: Value) -> Response {
        self.client.post(self.url(path)).header("origin", origin).json(&body).send().await.unwrap()
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    /// Every row of every Portcullis table as text (blobs as hex), read with raw SQL: for the
    /// "no usable secret at rest" checks.
    pub async fn database_dump(&self) -> String {
        let db = portcullis::sea_orm::connect(&self.settings.database_url).await.unwrap();
        let backend = db.get_database_backend();
        let catalog = match backend {
            sea_orm::DbBackend::Sqlite => {
                "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name LIKE 'portcullis_%'"
            }
            _ => "SELECT tablename::text AS t FROM pg_tables WHERE tablename LIKE 'portcullis_%'",
        };
        let tables: Vec<String> = db
            .query_all_raw(sea_orm::Statement::from_string(backend, catalog))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String>("", "t").unwrap())
            .collect();
        assert!(tables.len() >= 10, "the migrated tables: {tables:?}");
        let mut dump = String::new();
        for table in tables {
            let sql = match backend {
                sea_orm::DbBackend::Sqlite => {
                    let columns: Vec<String> = db
                        .query_all_raw(sea_orm::Statement::from_string(
                            backend,
                            format!("SELECT name AS c FROM pragma_table_info('{table}')"),
                        ))
                        .await
                        .unwrap()
                        .iter()
                        .map(|row| format!("quote(\"{}\")", row.try_get::<String>("", "c").unwrap()))
                        .collect();
                    format!("SELECT {} AS r FROM {table}", columns.join(" || ',' || "))
                }
                _ => format!("SELECT x::text AS r FROM {table} x"),
            };
            for row in db.query_all_raw(sea_orm::Statement::from_string(backend, sql)).await.unwrap() {
                dump.push_str(&table);
                dump.push(':');
                dump.push_str(&row.try_get::<String>("", "r").unwrap());
                dump.push('\n');
            }
        }
        db.close().await.unwrap();
        dump
    }

    /// Registers a user with a password; panics unless 201.
    pub async fn register(&self, username: &str, password: &str) -> Value {
        let email = format!("{username}@example.com");
        let r = self
            .post("/api/auth/register", json!({"username": username, "email": email, "password": password}))
            .await;
        assert_eq!(r.status(), 201, "register {username}");
        r.json().await.unwrap()
    }

    /// Signs in through the mobile flow; panics unless 200. Returns `{access, refresh, ...}`.
    pub async fn sign_in(&self, username: &str, password: &str) -> Value {
        let r =
            self.post("/api/auth/mobile/sign-in", json!({"username": username, "password": password})).await;
        assert_eq!(r.status(), 200, "sign in {username}");
        r.json().await.unwrap()
    }

    /// Registers and signs in `username`; returns the tokens.
    pub async fn user_with_tokens(&self, username: &str) -> Value {
        self.register(username, "correct horse battery").await;
        self.sign_in(username, "correct horse battery").await
    }
}

/// Asserts the shared error shape: status, `code`, a `detail`, and a Bearer challenge on 401s.
pub async fn assert_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    if status == 401 {
        let challenge = response.headers().get("www-authenticate").expect("401 has WWW-Authenticate");
        assert!(challenge.to_str().unwrap().starts_with("Bearer"), "{challenge:?}");
    }
    assert_eq!(response.headers().get("content-type").unwrap(), "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    body
}

/// Signs an arbitrary claim set with `secret` and `alg` (for forged-token tests).
pub fn forge(header: &jsonwebtoken::Header, claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(header, claims, &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap()
}

/// The external SMTP server of `.ci/run` (aiosmtpd, an independent implementation) and its
/// Maildir; `None` (the test is skipped, with a note) when they are not configured, except in CI.
pub fn external_smtp() -> Option<(String, std::path::PathBuf)> {
    let url = std::env::var("PORTCULLIS_TEST_SMTP_URL").ok().filter(|v| !v.is_empty());
    let maildir = std::env::var("PORTCULLIS_TEST_SMTP_MAILDIR").ok().filter(|v| !v.is_empty());
    match (url, maildir) {
        (Some(url), Some(maildir)) => Some((url, maildir.into())),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "CI=true: PORTCULLIS_TEST_SMTP_URL and PORTCULLIS_TEST_SMTP_MAILDIR must be set (.ci/smtp.sh)"
            )
        }
        _ => {
            eprintln!("SKIPPED: set PORTCULLIS_TEST_SMTP_URL and PORTCULLIS_TEST_SMTP_MAILDIR (.ci/smtp.sh)");
            None
        }
    }
}

/// Defines `mod $name { axum_sqlite, axum_postgres, poem_sqlite, poem_postgres }`: the same test
/// body against both adapters on both databases. A test that fails on one adapter only is a parity bug.
#[macro_export]
macro_rules! http_test {
    ($name:ident, $configure:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::http_test!(@variant axum_sqlite, Sqlite, Axum, $configure, $body);
            $crate::http_test!(@variant axum_postgres, Postgres, Axum, $configure, $body);
            $crate::http_test!(@variant poem_sqlite, Sqlite, Poem, $configure, $body);
            $crate::http_test!(@variant poem_postgres, Postgres, Poem, $configure, $body);
        }
    };
    (@variant $test:ident, $backend:ident, $adapter:ident, $configure:expr, $body:expr) => {
        #[tokio::test]
        async fn $test() {
            let Some(server) =
                $crate::TestServer::start_on($crate::Backend::$backend, $crate::Adapter::$adapter, $configure).await
            else {
                assert_eq!($crate::Backend::$backend, $crate::Backend::Postgres, "SQLite always runs");
                return;
            };
            ($body)(server).await;
        }
    };
    ($name:ident, $body:expr) => {
        $crate::http_test!($name, |_: &mut $crate::auth_server_settings::Settings| {}, $body);
    };
}

#[doc(hidden)]
pub mod auth_server_settings {
    pub use auth_server::Settings;
}
