//! The crate's error type.

use auth_core::AuthError;

/// A misuse of this crate that no client can cause, or session data that does not fit the type
/// asked for. Store methods report it as [`AuthError::Backend`] (a 500).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A session with this id, or with this hash, already exists.
    #[error("a session with this {field} already exists")]
    Duplicate {
        /// `"id"` or `"hash"`.
        field: &'static str,
    },
    /// A stored row cannot be read back (a malformed hash or data column, say).
    #[error("corrupt session-store row: {0}")]
    Corrupt(String),
    /// A session data value cannot be converted to or from the requested type.
    #[error("session data key {key:?}: {source}")]
    Data {
        /// The data key.
        key: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
}

impl From<SessionError> for AuthError {
    fn from(error: SessionError) -> Self {
        AuthError::backend(error)
    }
}
