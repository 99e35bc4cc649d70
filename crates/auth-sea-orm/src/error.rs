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
