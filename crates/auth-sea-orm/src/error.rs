//! The crate's error type.

use std::time::Duration;

use auth_core::AuthError;
use sea_orm::DbErr;

/// Why connecting to or migrating the database failed.
///
/// The store traits report failures as [`AuthError::Backend`]; this type is for the setup steps
/// ([`connect`](crate::connect), [`migrate`](crate::migrate)) an application runs at start-up.
/// Its messages never contain the connection URL (which may hold a password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The URL names a database this crate does not support (only `sqlite:` and `postgres://` /
    /// `postgresql://`).
    #[error("unsupported database URL scheme {scheme:?}: expected sqlite: or postgres://")]
    UnsupportedScheme {
        /// The URL's scheme (the part before the first `:`).
        scheme: String,
    },
    /// The URL names a database whose driver was not compiled in.
    #[error("the {feature} driver is not enabled: turn on the `{feature}` feature of auth-sea-orm")]
    DriverDisabled {
        /// The feature that would enable it.
        feature: &'static str,
    },
    /// No connection could be established within the configured connect timeout.
    #[error("timed out after {0:?} connecting to the database")]
    ConnectTimeout(Duration),
    /// The database refused the connection, or the URL is malformed.
    #[error("could not connect to the database")]
    Connect(#[source] DbErr),
    /// Applying the migrations failed.
    #[error("database migration failed")]
    Migrate(#[source] DbErr),
}

impl From<DbError> for AuthError {
    fn from(error: DbError) -> Self {
        AuthError::Backend(Box::new(error))
    }
}

/// Seconds a client is told to wait (`Retry-After`) when the database cannot be reached.
pub(crate) const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 2;

/// A store failure as the flows see it: [`AuthError::Unavailable`] (503 with `Retry-After`) when
/// the database cannot be reached or refuses work for now — no pooled connection within the
/// acquire timeout, a connection lost, the server shutting down or refusing connections, a
/// statement cancelled by `statement_timeout`, SQLite still locked after its busy timeout —
/// and [`AuthError::Backend`] (500) for anything else. Either way nothing was changed, and the
/// cause is logged here (an `Unavailable` carries no source).
pub(crate) fn backend(error: DbErr) -> AuthError {
    if is_unavailable(&error) {
        tracing::warn!(%error, "database unavailable");
        return AuthError::Unavailable { retry_after_seconds: UNAVAILABLE_RETRY_AFTER_SECONDS };
    }
    AuthError::Backend(Box::new(error))
}

/// Whether `error` means the database is out of reach for now (see [`backend`]).
pub(crate) fn is_unavailable(error: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error;

    let sqlx = match error {
        // No connection could be had or made (refused, the database not accepting connections,
        // authentication against a restarting server...).
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match &**sqlx {
        Error::Io(_) | Error::Tls(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
        Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: connection exceptions (08…), insufficient resources (53…: too many
            // connections), operator intervention (57…: shutdown, cannot connect now, statement
            // cancelled), 55000 (the database not accepting connections). SQLite: SQLITE_BUSY / SQLITE_LOCKED (5, 6) once the busy timeout ran out.
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57")
                || code == "55000"
                || code.parse::<i64>().is_ok_and(|code| matches!(code & 0xff, 5 | 6))
        }),
        _ => false,
    }
}
