//! The crate's error type.

use auth_core::AuthError;

/// What can go wrong while building or delivering a message, or while reading the mail
/// configuration. Messages never contain a password or a message body.
///
/// Converted to [`AuthError`] every variant is [`AuthError::Backend`] (a 500): a mail failure is
/// never the client's fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// An address (the recipient, or the configured From address) is not a valid mailbox, or
    /// contains a line break. The string says which address and why; addresses are not secret.
    #[error("invalid email address: {0}")]
    InvalidAddress(String),
    /// The mail configuration (`PORTCULLIS_EMAIL_BACKEND`, an [`SmtpConfig`](crate::SmtpConfig))
    /// or a message header (a subject with a line break) is not acceptable. The string names the
    /// problem and never echoes a password.
    #[error("invalid mail configuration: {0}")]
    InvalidConfig(String),
    /// The mail transport failed: the SMTP server is unreachable, timed out, refused the
    /// credentials or the message, or TLS failed.
    #[error("mail transport failed: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Writing a message (to a file or to the console) failed.
    #[error("mail I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl MailError {
    /// Wraps a transport failure.
    pub(crate) fn transport(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Transport(error.into())
    }
}

impl From<MailError> for AuthError {
    fn from(error: MailError) -> Self {
        AuthError::backend(error)
    }
}
