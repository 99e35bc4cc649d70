//! The crate's error type.

use auth_core::AuthError;

/// What can go wrong in this crate's own machinery: a bad server key, a sealed secret that does
/// not open, a key file that cannot be read or written, bad TOTP parameters. None of these is the
/// client's fault: converted to [`AuthError`] they are all [`AuthError::Backend`] (a 500).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MfaError {
    /// The server key is not 32 bytes, or not valid base64.
    #[error("invalid MFA key: expected 32 bytes, base64-encoded")]
    InvalidKey,
    /// Sealing a secret failed (it cannot with a valid key and a reasonable size).
    #[error("sealing a secret failed")]
    Encrypt,
    /// A sealed secret does not open: another key, another user (additional data), tampered with,
    /// truncated, or an unknown format version.
    #[error("a sealed secret cannot be opened (wrong key, wrong user, or corrupt)")]
    Decrypt,
    /// Reading or writing the key file failed.
    #[error("MFA key file: {0}")]
    Io(#[from] std::io::Error),
    /// The data does not fit in a QR code.
    #[error("QR code: {0}")]
    Qr(String),
    /// TOTP parameters out of range (digits not 6 to 10, a step shorter than one second).
    #[error("invalid TOTP parameters: {0}")]
    InvalidParameters(String),
}

impl From<MfaError> for AuthError {
    fn from(error: MfaError) -> Self {
        AuthError::backend(error)
    }
}
