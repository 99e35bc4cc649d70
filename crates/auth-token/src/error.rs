//! The crate's error type.

use auth_core::AuthError;

/// A misuse of this crate that no client can cause: a bad configured prefix, or a store asked to
/// insert a record whose id or hash it already holds. Store methods report it as
/// [`AuthError::Backend`] (a 500), since it means a bug or a misconfiguration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// A [`TokenFormat`](crate::TokenFormat) prefix is not 2 to 16 lowercase ASCII letters or digits.
    #[error("invalid token prefix {prefix:?}: expected 2 to 16 lowercase ASCII letters or digits")]
    InvalidPrefix {
        /// The refused prefix.
        prefix: String,
    },
    /// A record with this id, or with this hash, already exists.
    #[error("a {what} with this {field} already exists")]
    Duplicate {
        /// `"opaque token"` or `"API key"`.
        what: &'static str,
        /// `"id"` or `"hash"`.
        field: &'static str,
    },
    /// A stored row cannot be read back (a malformed hash or scope list, say).
    #[error("corrupt token-store row: {0}")]
    Corrupt(String),
}

impl From<TokenError> for AuthError {
    fn from(error: TokenError) -> Self {
        AuthError::backend(error)
    }
}
