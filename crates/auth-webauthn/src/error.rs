//! The crate's error types.

use auth_core::{AuthError, BoxError, FieldError, TokenRejection};
use url::Url;
use webauthn_rs_core::error::WebauthnError;

/// Why a [`PasskeyConfig`](crate::PasskeyConfig) was refused. Every message names the setting
/// and says what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The relying party id is empty, not a domain name (an IP address, a URL, a port), or not
    /// in lower case.
    #[error(
        "rp_id {0:?} is not a valid relying party id: use the site's domain name in lower case, \
         without scheme, port or path (for example \"example.com\")"
    )]
    InvalidRpId(String),
    /// The relying party name is empty.
    #[error("rp_name must not be empty")]
    EmptyRpName,
    /// No allowed origin is configured.
    #[error("at least one allowed origin is required (for example \"https://example.com\")")]
    NoOrigins,
    /// An allowed origin carries more than scheme, host and port (a path, query, fragment or
    /// user information), or has no host.
    #[error("allowed origin {0} is not an origin: give only scheme, host and optional port")]
    NotAnOrigin(Url),
    /// An allowed origin uses plain `http` (or another scheme) on a host other than
    /// `localhost` / `127.0.0.1`.
    #[error("allowed origin {0} is insecure: use https (http is accepted only for localhost)")]
    InsecureOrigin(Url),
    /// An allowed origin's host is neither the relying party id nor one of its subdomains:
    /// browsers would refuse every ceremony from it.
    #[error(
        "allowed origin {origin} does not belong to rp_id {rp_id:?}: its host must be {rp_id} or a subdomain of it"
    )]
    OriginOutsideRpId {
        /// The refused origin.
        origin: Url,
        /// The configured relying party id.
        rp_id: String,
    },
    /// The challenge lifetime is not between one second and one hour.
    #[error("challenge_ttl must be between 1 second and 1 hour")]
    InvalidChallengeTtl,
}

/// What can go wrong in a passkey ceremony or its configuration.
///
/// Convert it to [`AuthError`] (`?` does) for the HTTP mapping: a bad or unverifiable passkey
/// response is [`AuthError::InvalidCredentials`] (401), an unknown, expired or used challenge is
/// [`AuthError::InvalidToken`] ([`TokenRejection::Expired`], 401, like an expired `mfa_token`),
/// malformed input is [`AuthError::InvalidInput`] (400), and only configuration, stored-data and
/// store failures are 500s. The conversion never carries the details; log the
/// `PasskeyError` itself (its `Display` and source) for them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasskeyError {
    /// The configuration is inconsistent.
    #[error("invalid passkey configuration: {0}")]
    Config(#[from] ConfigError),
    /// A request field is missing or malformed (the credential JSON, a passkey name, a user
    /// name).
    #[error("invalid {field}: {message}")]
    InvalidInput {
        /// The request field.
        field: &'static str,
        /// What is wrong with it (safe to show).
        message: &'static str,
    },
    /// The challenge id is unknown, expired, already used, of another ceremony kind, or bound to
    /// another user. All alike on purpose.
    #[error("unknown, expired or already used passkey challenge")]
    UnknownChallenge,
    /// The authenticator's response does not verify: wrong origin, wrong relying party id,
    /// wrong challenge, bad signature, a user handle that does not match, an algorithm that was
    /// not offered, ...
    #[error("the passkey response does not verify: {0}")]
    VerificationFailed(#[source] WebauthnError),
    /// No registered passkey has the presented credential id.
    #[error("unknown passkey credential")]
    UnknownCredential,
    /// The passkey belongs to another user than the one the ceremony is for (a second-factor
    /// assertion made with someone else's passkey).
    #[error("the passkey belongs to another user")]
    WrongUser,
    /// The authenticator's signature counter did not increase although the stored counter is
    /// non-zero: the credential may have been cloned. The passkey is not updated.
    #[error("the signature counter went backwards: the authenticator may be cloned")]
    CounterRegression,
    /// User verification (PIN, biometrics) is required but the authenticator did not perform it.
    #[error("user verification is required but was not performed")]
    UserVerificationRequired,
    /// The user has no passkey to ask for (a second-factor ceremony for a user without one).
    #[error("the user has no passkey")]
    NoPasskeys,
    /// The passkey is registered already (to this or another user).
    #[error("this passkey is already registered")]
    AlreadyRegistered,
    /// Stored ceremony state, a stored credential or a stored user handle does not decode (or,
    /// which cannot happen, a value does not encode).
    #[error("stored passkey data is corrupt: {0}")]
    CorruptData(#[source] BoxError),
    /// The WebAuthn engine failed while building options (not the client's fault).
    #[error("WebAuthn engine error: {0}")]
    Engine(#[source] WebauthnError),
    /// The store failed (or refused, for example with [`AuthError::Conflict`]).
    #[error("passkey store: {0}")]
    Store(#[from] AuthError),
}

impl From<PasskeyError> for AuthError {
    fn from(error: PasskeyError) -> Self {
        match error {
            PasskeyError::InvalidInput { field, message } => {
                AuthError::InvalidInput(vec![FieldError::new(field, message)])
            }
            PasskeyError::UnknownChallenge => AuthError::InvalidToken(TokenRejection::Expired),
            PasskeyError::VerificationFailed(_)
            | PasskeyError::UnknownCredential
            | PasskeyError::WrongUser
            | PasskeyError::CounterRegression
            | PasskeyError::UserVerificationRequired => AuthError::InvalidCredentials,
            PasskeyError::NoPasskeys => AuthError::NotFound,
            PasskeyError::AlreadyRegistered => {
                AuthError::Conflict(vec![FieldError::new("credential", "this passkey is already registered")])
            }
            PasskeyError::Store(error) => error,
            error @ (PasskeyError::Config(_) | PasskeyError::CorruptData(_) | PasskeyError::Engine(_)) => {
                AuthError::backend(error)
            }
        }
    }
}

/// Maps an engine error of a finishing ceremony: the client's response did not verify.
pub(crate) fn verification_error(error: WebauthnError) -> PasskeyError {
    match error {
        WebauthnError::CredentialPossibleCompromise => PasskeyError::CounterRegression,
        WebauthnError::UserNotVerified => PasskeyError::UserVerificationRequired,
        WebauthnError::CredentialNotFound => PasskeyError::UnknownCredential,
        other => PasskeyError::VerificationFailed(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_faults_are_4xx_without_details() {
        let cases = [
            (PasskeyError::VerificationFailed(WebauthnError::InvalidRPOrigin), 401),
            (PasskeyError::UnknownCredential, 401),
            (PasskeyError::WrongUser, 401),
            (PasskeyError::CounterRegression, 401),
            (PasskeyError::UserVerificationRequired, 401),
            (PasskeyError::UnknownChallenge, 401),
            (PasskeyError::InvalidInput { field: "name", message: "is empty" }, 400),
            (PasskeyError::AlreadyRegistered, 409),
            (PasskeyError::NoPasskeys, 404),
        ];
        for (error, status) in cases {
            let description = error.to_string();
            let error = AuthError::from(error);
            assert_eq!(error.status().as_u16(), status, "{description}");
            let body = error.body();
            assert!(!body.detail.contains("clone"), "{}", body.detail);
            assert!(!body.detail.contains("origin"), "{}", body.detail);
        }
        let same = [
            AuthError::from(PasskeyError::UnknownCredential).body(),
            AuthError::from(PasskeyError::CounterRegression).body(),
            AuthError::from(PasskeyError::VerificationFailed(WebauthnError::AuthenticationFailure)).body(),
        ];
        assert!(same.iter().all(|body| *body == same[0]), "refusals look alike");
    }

    #[test]
    fn faults_are_500s() {
        let error = AuthError::from(PasskeyError::Config(ConfigError::NoOrigins));
        assert_eq!(error.status().as_u16(), 500);
        assert_eq!(error.body().code, "internal_error");
        let error = AuthError::from(PasskeyError::Store(AuthError::backend("db down")));
        assert_eq!(error.status().as_u16(), 500);
    }

    #[test]
    fn engine_errors_map_to_their_variant() {
        assert!(matches!(
            verification_error(WebauthnError::CredentialPossibleCompromise),
            PasskeyError::CounterRegression
        ));
        assert!(matches!(
            verification_error(WebauthnError::UserNotVerified),
            PasskeyError::UserVerificationRequired
        ));
        assert!(matches!(
            verification_error(WebauthnError::MismatchedChallenge),
            PasskeyError::VerificationFailed(WebauthnError::MismatchedChallenge)
        ));
    }
}
