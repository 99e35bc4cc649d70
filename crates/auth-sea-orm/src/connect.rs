//! Opening a connection pool with settings that suit an authentication store.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::DbError;

/// The default bound on opening the pool (the first connection included).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default bound on waiting for a free pooled connection.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// The default time a SQLite connection waits for another connection's write lock.
pub const DEFAULT_SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The default pool size for a SQLite database file (PostgreSQL uses sqlx's default, 10).
pub const DEFAULT_SQLITE_MAX_CONNECTIONS: u32 = 5;
/// SQLite's page cache per connection, in KiB (`cache_size = -8192`: 8 MiB, SQLite's default is
/// 2 MiB): the hot indexes of the credential tables stay in memory.
pub const SQLITE_CACHE_KIB: i64 = 8192;
/// How much of a SQLite file is read through a memory map (`mmap_size`, 256 MiB): reads of the
/// hot pages cost no `read()` system call.
pub const SQLITE_MMAP_BYTES: u64 = 256 * 1024 * 1024;
/// The WAL size, in pages, at which a commit checkpoints it into the database file
/// (`wal_autocheckpoint`, SQLite's default of 1000 pages, about 4 MiB, kept deliberately): a
/// bounded WAL and start-up time, the checkpoint's cost spread over about a thousand commits.
pub const SQLITE_WAL_AUTOCHECKPOINT: u32 = 1000;

/// When SQLite makes a commit durable (`PRAGMA synchronous`, in WAL mode).
///
/// | mode | survives a process crash (`kill -9`) | survives a power loss or kernel crash |
/// |---|---|---|
/// | [`Normal`](Self::Normal) (default) | yes: a commit is in the WAL, in the OS's page cache | the last commits since the last checkpoint may be lost (the database stays consistent) |
/// | [`Full`](Self::Full) | yes | yes: every commit waits for an `fsync` of the WAL |
///
/// `Normal` is the default: a refresh, a sign-out or a revocation acknowledged to the client is
/// never lost when the server process dies, and commits cost no `fsync` (one per checkpoint
/// instead). On a machine where losing the last second of commits to a power failure matters
/// (it would bring back a consumed refresh token, or forget a new one), choose `Full`; on
/// PostgreSQL, durability is the server's `synchronous_commit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SqliteSynchronous {
    /// `PRAGMA synchronous = NORMAL`: durable across process crashes.
    #[default]
    Normal,
    /// `PRAGMA synchronous = FULL`: durable across power loss too.
    Full,
}

impl std::str::FromStr for SqliteSynchronous {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.to_ascii_lowercase().as_str() {
            "normal" => Ok(Self::Normal),
            "full" => Ok(Self::Full),
            _ => Err(format!("`{value}` is not `normal` or `full`")),
        }
    }
}

/// Pool settings for [`connect_with`]. [`ConnectConfig::default`] is what [`connect`] uses.
///
/// ```
/// use std::time::Duration;
/// use auth_sea_orm::ConnectConfig;
///
/// let config = ConnectConfig::default()
///     .max_connections(20)
///     .connect_timeout(Duration::from_secs(2))
///     .acquire_timeout(Duration::from_secs(3));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    max_connections: Option<u32>,
    min_connections: Option<u32>,
    connect_timeout: Duration,
    acquire_timeout: Duration,
    sqlite_busy_timeout: Duration,
    sqlite_synchronous: SqliteSynchronous,
    statement_timeout: Option<Duration>,
    log_statements: bool,
}

impl Default for ConnectConfig {
    fn default() -> Self {
        Self {
            max_connections: None,
            min_connections: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            sqlite_busy_timeout: DEFAULT_SQLITE_BUSY_TIMEOUT,
            sqlite_synchronous: SqliteSynchronous::default(),
            statement_timeout: None,
            log_statements: false,
        }
    }
}

impl ConnectConfig {
    /// The maximum number of pooled connections (default: 10 for PostgreSQL,
    /// [`DEFAULT_SQLITE_MAX_CONNECTIONS`] for a SQLite file). An in-memory SQLite database always
    /// uses exactly one connection, whatever this says.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// The number of connections the pool keeps open even when idle (default: 0).
    pub fn min_connections(mut self, min: u32) -> Self {
        self.min_connections = Some(min);
        self
    }

    /// The bound on [`connect_with`] as a whole (default: [`DEFAULT_CONNECT_TIMEOUT`]). Without it a
    /// URL pointing at a dead port keeps retrying for sqlx's 30 seconds. The first connection is
    /// also bounded by the acquire timeout, so the effective bound is the smaller of the two.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The bound on waiting for a pooled connection, for every query (default:
    /// [`DEFAULT_ACQUIRE_TIMEOUT`]).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// PostgreSQL only: the server cancels a statement that runs longer than this (its
    /// `statement_timeout`, set on every pooled connection; default: none). A cancelled statement
    /// fails like a lost connection: the request answers 503 and changes nothing.
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = Some(timeout).filter(|t| !t.is_zero());
        self
    }

    /// SQLite only: how long a statement waits for another connection's write lock before failing
    /// with "database is locked" (default: [`DEFAULT_SQLITE_BUSY_TIMEOUT`]).
    pub fn sqlite_busy_timeout(mut self, timeout: Duration) -> Self {
        self.sqlite_busy_timeout = timeout;
        self
    }

    /// SQLite only: when a commit is durable (default [`SqliteSynchronous::Normal`]: across a
    /// process crash; [`SqliteSynchronous::Full`]: across a power loss too).
    pub fn sqlite_synchronous(mut self, synchronous: SqliteSynchronous) -> Self {
        self.sqlite_synchronous = synchronous;
        self
    }

    /// Whether sqlx logs every statement through the `log` crate (default: off).
    pub fn log_statements(mut self, on: bool) -> Self {
        self.log_statements = on;
        self
    }

    /// The sea-orm options for `url`, for callers that need to adjust more before connecting.
    ///
    /// For SQLite they set, on every pooled connection: `journal_mode = WAL` (file databases),
    /// `synchronous` ([`SqliteSynchronous`]), `busy_timeout`, `foreign_keys = ON`, `cache_size`
    /// ([`SQLITE_CACHE_KIB`]), `mmap_size` ([`SQLITE_MMAP_BYTES`]), `wal_autocheckpoint`
    /// ([`SQLITE_WAL_AUTOCHECKPOINT`]) and `temp_store = MEMORY`; an in-memory database gets a
    /// single connection that is never closed (closing it would lose the data).
    pub fn sea_orm_options(&self, url: &str) -> Result<ConnectOptions, DbError> {
        let backend = Backend::of(url)?;
        let mut options = ConnectOptions::new(url);
        options.acquire_timeout(self.acquire_timeout).sqlx_logging(self.log_statements);
        if let Some(min) = self.min_connections {
            options.min_connections(min);
        }
        match backend {
            Backend::Sqlite { in_memory } => self.sqlite_options(&mut options, in_memory)?,
            Backend::Postgres => {
                if !cfg!(feature = "postgres") {
                    return Err(DbError::DriverDisabled { feature: "postgres" });
                }
                if let Some(max) = self.max_connections {
                    options.max_connections(max);
                }
                self.postgres_options(&mut options);
            }
        }
        Ok(options)
    }

    #[cfg(feature = "sqlite")]
    fn sqlite_options(&self, options: &mut ConnectOptions, in_memory: bool) -> Result<(), DbError> {
        use sea_orm::sqlx::sqlite::SqliteJournalMode;

        use sea_orm::sqlx::sqlite::SqliteSynchronous as Pragma;

        let busy_timeout = self.sqlite_busy_timeout;
        let synchronous = match self.sqlite_synchronous {
            SqliteSynchronous::Normal => Pragma::Normal,
            SqliteSynchronous::Full => Pragma::Full,
        };
        options.map_sqlx_sqlite_opts(move |sqlite| {
            let sqlite = sqlite
                .busy_timeout(busy_timeout)
                .foreign_keys(true)
                .synchronous(synchronous)
                .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
                .pragma("temp_store", "MEMORY");
            if in_memory {
                sqlite
            } else {
                sqlite
                    .journal_mode(SqliteJournalMode::Wal)
                    .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
                    .pragma("wal_autocheckpoint", SQLITE_WAL_AUTOCHECKPOINT.to_string())
            }
        });
        // A connection to a local file cannot go stale: no ping (a round trip to the connection's
        // worker thread) before each use.
        options.test_before_acquire(false);
        if in_memory {
            // Every connection to `sqlite::memory:` shares one cache that lives only while a
            // connection is open, and shared-cache table locks are not covered by busy_timeout.
            options.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
        } else {
            options.max_connections(self.max_connections.unwrap_or(DEFAULT_SQLITE_MAX_CONNECTIONS));
        }
        Ok(())
    }

    #[cfg(feature = "postgres")]
    fn postgres_options(&self, options: &mut ConnectOptions) {
        if let Some(timeout) = self.statement_timeout {
            let millis = timeout.as_millis().to_string();
            options.map_sqlx_postgres_opts(move |pg| pg.options([("statement_timeout", millis.as_str())]));
        }
    }

    #[cfg(not(feature = "postgres"))]
    fn postgres_options(&self, _options: &mut ConnectOptions) {
        let _ = self.statement_timeout;
    }

    #[cfg(not(feature = "sqlite"))]
    fn sqlite_options(&self, _options: &mut ConnectOptions, _in_memory: bool) -> Result<(), DbError> {
        let _ = self.sqlite_busy_timeout;
        Err(DbError::DriverDisabled { feature: "sqlite" })
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite { in_memory: bool },
    Postgres,
}

impl Backend {
    fn of(url: &str) -> Result<Self, DbError> {
        let Some((scheme, _)) = url.split_once(':') else {
            return Err(DbError::UnsupportedScheme { scheme: String::new() });
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let (path, query) = sqlite_path_and_query(url).unwrap_or_default();
                let in_memory = path == ":memory:"
                    || query.split('&').any(|pair| pair.eq_ignore_ascii_case("mode=memory"));
                Ok(Backend::Sqlite { in_memory })
            }
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => Err(DbError::UnsupportedScheme { scheme: other.to_owned() }),
        }
    }
}

/// Opens a connection pool for `url` with [`ConnectConfig::default`].
///
/// `url` is `sqlite://path/to/file.db?mode=rwc` (`mode=rwc` creates the file), `sqlite::memory:`,
/// or `postgres://user:password@host:port/database`.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbError> {
    connect_with(url, &ConnectConfig::default()).await
}

/// Opens a connection pool for `url` (see [`connect`]) with the given settings.
///
/// A SQLite file that does not exist yet is created readable and writable by its owner only
/// (`0600` on Unix; SQLite gives its `-wal` and `-shm` files the same mode), before sqlx opens it.
/// An existing file readable by others is left alone and logged as a warning.
pub async fn connect_with(url: &str, config: &ConnectConfig) -> Result<DatabaseConnection, DbError> {
    let options = config.sea_orm_options(url)?;
    if let Some(path) = sqlite_file(url) {
        create_private_file(&path);
    }
    match tokio::time::timeout(config.connect_timeout, connect_retrying(options)).await {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(error)) => Err(DbError::Connect(error)),
        Err(_elapsed) => Err(DbError::ConnectTimeout(config.connect_timeout)),
    }
}

/// The file a SQLite URL names when it is a file SQLite may create (`mode=rwc`), else `None`.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let (path, query) = sqlite_path_and_query(url)?;
    let creates = query.split('&').any(|pair| pair.eq_ignore_ascii_case("mode=rwc"));
    if !creates || path.is_empty() || path == ":memory:" {
        return None;
    }
    // sqlx reads the path with this same decoder; a path that is not UTF-8 it refuses.
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8().ok()?;
    Some(std::path::PathBuf::from(decoded.as_ref()))
}

/// The path and query of a `sqlite:` URL (`sqlite://path?query` or `sqlite:path`), else `None`.
fn sqlite_path_and_query(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once(':')?;
    if !scheme.eq_ignore_ascii_case("sqlite") {
        return None;
    }
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    Some(rest.split_once('?').unwrap_or((rest, "")))
}

/// Creates `path` empty with mode `0600` when it does not exist (an empty file is a valid new
/// SQLite database). Failures are left to sqlx's open, which reports them.
fn create_private_file(path: &std::path::Path) {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if let Ok(meta) = std::fs::metadata(path)
                    && meta.permissions().mode() & 0o077 != 0
                {
                    tracing::warn!(
                        path = %path.display(),
                        mode = format_args!("{:o}", meta.permissions().mode() & 0o777),
                        "the SQLite database file is readable or writable by other users; chmod 600 it"
                    );
                }
            }
        }
        Err(error) => tracing::debug!(%error, path = %path.display(), "could not pre-create the SQLite file"),
    }
}

/// Connects, retrying while SQLite reports the database busy (until the caller's timeout).
///
/// Switching a new SQLite file to WAL needs an exclusive lock, and SQLite answers "database is
/// locked" at once, without waiting for `busy_timeout`, when two processes (or pools) make the
/// switch at the same moment. Once the file is in WAL mode this no longer happens.
async fn connect_retrying(options: ConnectOptions) -> Result<DatabaseConnection, DbErr> {
    let mut pause = Duration::from_millis(10);
    loop {
        match Database::connect(options.clone()).await {
            Err(error) if is_sqlite_busy(&error) => {
                tracing::debug!(%error, "SQLite database busy while connecting; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            result => return result,
        }
    }
}

/// Whether `error` is SQLite's `SQLITE_BUSY` or `SQLITE_LOCKED` (any extended code).
#[cfg(feature = "sqlite")]
fn is_sqlite_busy(error: &DbErr) -> bool {
    crate::transient::is_transient(sea_orm::DbBackend::Sqlite, error)
}

#[cfg(not(feature = "sqlite"))]
fn is_sqlite_busy(_error: &DbErr) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_backends() {
        let of = |url| Backend::of(url).ok();
        let sqlite = |in_memory| Some(Backend::Sqlite { in_memory });
        assert_eq!(of("sqlite::memory:"), sqlite(true));
        assert_eq!(of("sqlite://:memory:"), sqlite(true));
        assert_eq!(of("sqlite://?mode=memory"), sqlite(true));
        assert_eq!(of("sqlite://data/app.db?mode=rwc"), sqlite(false));
        assert_eq!(of("sqlite:app.db"), sqlite(false));
        assert_eq!(of("postgres://u:p@localhost/db"), Some(Backend::Postgres));
        assert_eq!(of("PostgreSQL://localhost/db"), Some(Backend::Postgres));
        assert!(matches!(
            Backend::of("mysql://root@localhost/db"),
            Err(DbError::UnsupportedScheme { scheme }) if scheme == "mysql"
        ));
        assert!(matches!(Backend::of("no-scheme"), Err(DbError::UnsupportedScheme { .. })));
    }

    #[test]
    fn finds_the_file_sqlite_would_create() {
        let file = |url| sqlite_file(url).map(|p| p.display().to_string());
        assert_eq!(file("sqlite://data/app.db?mode=rwc").as_deref(), Some("data/app.db"));
        assert_eq!(file("sqlite:///var/lib/p.db?cache=shared&mode=rwc").as_deref(), Some("/var/lib/p.db"));
        assert_eq!(file("sqlite://my%20data.db?mode=rwc").as_deref(), Some("my data.db"));
        assert_eq!(file("sqlite://data/app.db"), None, "without mode=rwc sqlx does not create it");
        assert_eq!(file("sqlite::memory:"), None);
        // A stray `%` stays as it is, as sqlx (the same decoder) reads it: the same file is created.
        assert_eq!(file("sqlite://odd%zz.db?mode=rwc").as_deref(), Some("odd%zz.db"));
        assert_eq!(file("sqlite://bad%ff.db?mode=rwc"), None, "not UTF-8: sqlx refuses it too");
        assert_eq!(file("postgres://localhost/db?mode=rwc"), None);
    }

    #[cfg(all(unix, feature = "sqlite"))]
    #[tokio::test]
    async fn a_new_database_file_is_private_to_its_owner() {
        use sea_orm::ConnectionTrait;
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portcullis.db");
        let db = connect(&format!("sqlite://{}?mode=rwc", path.display())).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)").await.unwrap();
        for file in ["portcullis.db", "portcullis.db-wal", "portcullis.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(file)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{file}");
        }
    }
}
