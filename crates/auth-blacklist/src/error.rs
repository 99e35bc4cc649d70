//! The crate's error type.

use auth_core::AuthError;

/// A misuse of a [`GrantStore`](crate::GrantStore) that no client can cause: the store methods
/// report it as [`AuthError::Backend`] (a 500), since it means a bug in the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlacklistError {
    /// A grant or refresh token with this id already exists.
    #[error("a {what} with this id already exists")]
    DuplicateId {
        /// `"grant"` or `"refresh token"`.
        what: &'static str,
    },
    /// A refresh record names another grant or user than the grant it is recorded for.
    #[error("the refresh record belongs to another grant or user")]
    RecordMismatch,
    /// A stored row cannot be read back (an unknown revocation kind, say).
    #[error("corrupt grant-store row: {0}")]
    Corrupt(String),
}

impl From<BlacklistError> for AuthError {
    fn from(error: BlacklistError) -> Self {
        AuthError::backend(error)
    }
}
