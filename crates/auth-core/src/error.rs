//! The one error type of authentication, and its single HTTP mapping.

use http::StatusCode;
use serde::{Deserialize, Serialize};

/// A boxed infrastructure error (database down, key file unreadable, ...).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a presented token was refused. Carried in [`AuthError::InvalidToken`]; it reaches the client
/// only as the `error_description` of `WWW-Authenticate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenRejection {
    /// Not a well-formed token, or a claim has the wrong type.
    Malformed,
    /// The signature does not verify, or the signing key is unknown.
    BadSignature,
    /// The header names another algorithm than the configured one (including `none`).
    WrongAlgorithm,
    /// `exp` has passed.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    WrongAudience,
    /// A refresh token where an access token is expected, or the reverse.
    WrongKind,
    /// A configured claim requirement is not met.
    ClaimRequirement,
    /// The token was revoked, the password changed since it was issued, or the user is inactive.
    Revoked,
    /// The header carries what this verifier refuses: a critical extension (`crit`), an unencoded
    /// payload (`b64: false`), a nested token (`cty`), a `typ` other than `JWT`, or a member twice.
    UnsupportedHeader,
}

impl TokenRejection {
    /// A short human-readable description, safe to show to clients.
    pub fn description(self) -> &'static str {
        match self {
            Self::Malformed => "the token is malformed",
            Self::BadSignature => "the token signature is invalid",
            Self::WrongAlgorithm => "the token algorithm is not accepted",
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet",
            Self::WrongIssuer => "the token issuer is not accepted",
            Self::WrongAudience => "the token audience is not accepted",
            Self::WrongKind => "wrong token type",
            Self::ClaimRequirement => "a required claim is missing or has a wrong value",
            Self::Revoked => "the token has been revoked",
            Self::UnsupportedHeader => "the token header is not accepted",
        }
    }
}

/// One invalid field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's name in the request body.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Everything that can go wrong while authenticating. Adapters turn it into an HTTP response with
/// [`AuthError::status`], [`AuthError::www_authenticate`] and [`AuthError::body`], in one place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Wrong username or password, unknown or inactive user: one message for all of them.
    #[error("No active account found with the given credentials")]
    InvalidCredentials,
    /// The route needs a credential and none was presented.
    #[error("Authentication credentials were not provided")]
    MissingCredentials,
    /// A presented token was refused.
    #[error("Token is invalid or expired")]
    InvalidToken(TokenRejection),
    /// Authenticated, but not allowed to do this.
    #[error("You do not have permission to perform this action")]
    Forbidden,
    /// The credential is limited by scopes (an API key, a scoped token) and lacks the one the
    /// route requires.
    #[error("The credential lacks the required scope `{0}`")]
    InsufficientScope(String),
    /// The route requires a second factor (MFA) and the credential's sign-in used none.
    #[error("This action requires multi-factor authentication")]
    MfaRequired,
    /// The route requires a recent sign-in and the credential's `auth_time` is older.
    #[error("This action requires a recent sign-in")]
    ReauthenticationRequired,
    /// A cookie-authenticated request came from an origin that is not allowed.
    #[error("Cross-origin request refused")]
    CrossOrigin,
    /// The request body is not acceptable; the fields say why.
    #[error("Invalid input")]
    InvalidInput(Vec<FieldError>),
    /// The request body is not JSON (wrong or missing `Content-Type`).
    #[error("Expected a JSON request body (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// The request body exceeds the configured limit.
    #[error("Request body too large")]
    PayloadTooLarge,
    /// The request conflicts with existing state (e.g. a taken username).
    #[error("Conflict with an existing resource")]
    Conflict(Vec<FieldError>),
    /// The resource does not exist (or is not the caller's).
    #[error("Not found")]
    NotFound,
    /// Too many attempts (failed sign-ins, reset requests, ...): try again after the given number
    /// of seconds. A 429 with `Retry-After`.
    #[error("Too many attempts; try again later")]
    RateLimited {
        /// Seconds until the next attempt is allowed (at least 1).
        retry_after_seconds: u64,
    },
    /// The password was right but the email address is not verified yet and the server requires
    /// verification before sign-in.
    #[error("The email address of this account is not verified")]
    EmailNotVerified,
    /// A service the request needs is unavailable for now (a dependency down, a queue full): a
    /// 503 with `Retry-After`. Nothing was changed.
    #[error("The service is temporarily unavailable; try again later")]
    Unavailable {
        /// Seconds after which a retry may succeed (at least 1).
        retry_after_seconds: u64,
    },
    /// An infrastructure failure. Its source is logged, never sent to the client.
    #[error("Internal server error")]
    Backend(#[source] BoxError),
}

impl AuthError {
    /// Wraps an infrastructure error.
    pub fn backend(error: impl Into<BoxError>) -> Self {
        Self::Backend(error.into())
    }

    /// A single-field input error.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput(vec![FieldError::new(field, message)])
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidCredentials | Self::MissingCredentials | Self::InvalidToken(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden
            | Self::CrossOrigin
            | Self::InsufficientScope(_)
            | Self::MfaRequired
            | Self::ReauthenticationRequired
            | Self::EmailNotVerified => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::InvalidInput(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Backend(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::MissingCredentials => "not_authenticated",
            Self::InvalidToken(_) => "token_not_valid",
            Self::Forbidden => "permission_denied",
            Self::CrossOrigin => "cross_origin_refused",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::MfaRequired => "mfa_required",
            Self::ReauthenticationRequired => "reauthentication_required",
            Self::RateLimited { .. } => "rate_limited",
            Self::EmailNotVerified => "email_not_verified",
            Self::InvalidInput(_) => "invalid_input",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Conflict(_) => "conflict",
            Self::NotFound => "not_found",
            Self::Unavailable { .. } => "service_unavailable",
            Self::Backend(_) => "internal_error",
        }
    }

    /// The `WWW-Authenticate` challenge: for 401 responses (RFC 6750), and for the 403s that a
    /// better credential would fix (`insufficient_scope`; `insufficient_user_authentication`, RFC
    /// 9470); `None` otherwise.
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            Self::InvalidCredentials | Self::MissingCredentials => {
                Some(r#"Bearer realm="portcullis""#.to_owned())
            }
            Self::InvalidToken(reason) => Some(format!(
                r#"Bearer realm="portcullis", error="invalid_token", error_description="{}""#,
                reason.description()
            )),
            Self::InsufficientScope(scope) => Some(format!(
                r#"Bearer realm="portcullis", error="insufficient_scope", scope="{}""#,
                scope.replace(['"', '\\'], "")
            )),
            // RFC 9470 (step-up authentication): the credential is valid, its sign-in is not enough.
            Self::MfaRequired | Self::ReauthenticationRequired => Some(format!(
                r#"Bearer realm="portcullis", error="insufficient_user_authentication", error_description="{self}""#
            )),
            _ => None,
        }
    }

    /// The `Retry-After` value in seconds, for [`AuthError::RateLimited`] and
    /// [`AuthError::Unavailable`].
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_seconds } | Self::Unavailable { retry_after_seconds } => {
                Some((*retry_after_seconds).max(1))
            }
            _ => None,
        }
    }

    /// The JSON body: `{"detail": "...", "code": "..."}`, plus `fields` for input errors.
    pub fn body(&self) -> ErrorBody {
        let fields = match self {
            Self::InvalidInput(fields) | Self::Conflict(fields) => fields.clone(),
            _ => Vec::new(),
        };
        let detail = match self {
            Self::InvalidInput(fields) | Self::Conflict(fields) if fields.len() == 1 => {
                fields.first().map(|f| format!("{}: {}", f.field, f.message)).unwrap_or_default()
            }
            other => other.to_string(),
        };
        ErrorBody { detail, code: self.code().to_owned(), fields }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Human-readable explanation.
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
    /// Per-field problems of an invalid request body.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_challenges() {
        assert_eq!(AuthError::InvalidCredentials.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(AuthError::Forbidden.status(), StatusCode::FORBIDDEN);
        assert!(AuthError::Forbidden.www_authenticate().is_none());
        let challenge = AuthError::InvalidToken(TokenRejection::Expired).www_authenticate().unwrap();
        assert!(challenge.contains(r#"error="invalid_token""#));
        let body = AuthError::backend(std::io::Error::other("db password is hunter2")).body();
        assert!(!body.detail.contains("hunter2"));
        assert_eq!(body.code, "internal_error");
    }

    #[test]
    fn field_errors_are_in_the_body() {
        let body = AuthError::invalid_field("username", "is taken").body();
        assert_eq!(body.detail, "username: is taken");
        assert_eq!(body.fields.len(), 1);
    }
}
