//! The OpenAPI 3.1 document of the HTTP contract and the vendored Swagger UI, framework-free: both
//! adapters serve these same bytes at `GET /api/openapi.json` and `GET /api/docs/` (paths set by
//! [`RouterConfig`]). The document lists exactly the routes of the table it is served with: a
//! capability that is not configured, or a route set left out, is not in it, and its paths carry
//! the configured prefix.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use auth_core::UserStore;
use auth_core::http_support::json_response;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::table::{Route, RouteRequest};
#[cfg(feature = "jwt")]
use crate::{AccessToken, RefreshRequest, TokenPair, VerifyRequest};
use crate::{AuthService, Capability, RouterConfig};
#[cfg(feature = "api-keys")]
use crate::{CreateApiKeyRequest, CreatedApiKey};
#[allow(unused_imports)]
use crate::{
    DeleteAccountRequest, MfaRequired, PasswordChangeRequest, ProfileUpdateRequest, Reauthentication,
    RegisterRequest, SessionInfo, SignInRequest,
};
#[cfg(feature = "account-emails")]
use crate::{
    EmailChangeCancelRequest, EmailResendRequest, EmailVerifyRequest, PasswordResetConfirmRequest,
    PasswordResetRequest,
};
#[cfg(feature = "opaque-tokens")]
use crate::{IssuedOpaqueToken, TokenSignInRequest};
#[cfg(feature = "mfa")]
use crate::{MfaConfirmRequest, MfaReauthRequest, MfaVerifyRequest, RecoveryCodes};

/// Path of the OpenAPI document (default).
pub const OPENAPI_PATH: &str = super::paths::OPENAPI;
/// Prefix of the interactive documentation (Swagger UI, default).
pub const DOCS_PATH: &str = super::paths::DOCS;
/// Name of the Bearer JWT security scheme.
pub const BEARER_SCHEME: &str = "bearer";
/// Name of the opaque-token security scheme (`Authorization: Token <t>`).
pub const TOKEN_SCHEME: &str = "token";
/// Name of the API-key security scheme (`X-API-Key`).
pub const API_KEY_SCHEME: &str = "apiKey";
/// Name of the session-cookie security scheme.
pub const SESSION_COOKIE_SCHEME: &str = "sessionCookie";
/// Name of the refresh-cookie security scheme.
pub const REFRESH_COOKIE_SCHEME: &str = "refreshCookie";

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ErrorResponse {
    /// Human-readable explanation.
    detail: String,
    /// Stable machine-readable code, e.g. `invalid_credentials`, `token_not_valid`.
    code: String,
    /// Per-field problems of an invalid request body (input errors only).
    #[schema(nullable = false)]
    fields: Option<Vec<FieldErrorResponse>>,
}

/// One invalid field.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct FieldErrorResponse {
    /// The field's name.
    field: String,
    /// What is wrong with it.
    message: String,
}

/// A newly registered user.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct RegisteredUser {
    /// User id (absent with email verification on, where the answer is the same for a taken
    /// address).
    #[schema(nullable = false)]
    id: Option<String>,
    /// Username.
    username: String,
    /// Email, if given.
    email: Option<String>,
    /// With email verification on: what to do next.
    #[schema(nullable = false)]
    detail: Option<String>,
}

/// The authenticated user's profile.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct UserProfile {
    /// User id.
    id: String,
    /// Username.
    username: String,
    /// Email.
    email: Option<String>,
    /// Active flag.
    is_active: bool,
    /// Staff flag.
    is_staff: bool,
    /// Superuser flag.
    is_superuser: bool,
    /// Roles.
    roles: Vec<String>,
    /// Last sign-in.
    last_login: Option<chrono::DateTime<chrono::Utc>>,
}

#[cfg(feature = "jwt")]
/// A JSON Web Key Set.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct JwkSet {
    /// Public verification keys (RFC 7517); `kid` is the RFC 7638 thumbprint.
    keys: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[cfg(feature = "api-keys")]
/// An API key as listed (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ApiKeyListItem {
    /// Key id.
    id: String,
    /// The first characters of the key, to recognise it.
    lookup: String,
    /// Name.
    name: String,
    /// Scopes.
    scopes: Vec<String>,
    /// Created.
    created_at: chrono::DateTime<chrono::Utc>,
    /// Expires, if ever.
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Last used (updated at most once a minute).
    last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[cfg(feature = "sessions")]
/// A started session.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct SessionSignedIn {
    /// The signed-in user.
    user: UserProfile,
}

/// Health status.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Health {
    /// Always `ok`.
    status: String,
}

#[cfg(feature = "jwt")]
/// A mobile sign-in's answer: the tokens, or the MFA step for a user with MFA.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum MobileSignInResponse {
    /// No second factor due: the tokens.
    Tokens(TokenPair),
    /// Send a code to `POST /api/auth/mfa/verify`.
    MfaRequired(MfaRequired),
}

#[cfg(feature = "jwt")]
/// A web sign-in's answer: the access token (and the refresh cookie), or the MFA step.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum WebSignInResponse {
    /// No second factor due: the access token; the refresh token is in the cookie.
    Access(AccessToken),
    /// Send a code to `POST /api/auth/mfa/verify`.
    MfaRequired(MfaRequired),
}

#[cfg(feature = "opaque-tokens")]
/// An opaque-token sign-in's answer: the token, or the MFA step.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum TokenSignInResponse {
    /// No second factor due: the token.
    Token(IssuedOpaqueToken),
    /// Send a code to `POST /api/auth/mfa/verify`.
    MfaRequired(MfaRequired),
}

#[cfg(feature = "sessions")]
/// A session sign-in's answer: the user (and the cookies), or the MFA step.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum SessionSignInResponse {
    /// No second factor due: the user; the session and CSRF cookies are set.
    Session(SessionSignedIn),
    /// Send a code to `POST /api/auth/mfa/verify`.
    MfaRequired(MfaRequired),
}

#[cfg(feature = "mfa")]
/// What `POST /api/auth/mfa/verify` completes: the credential of the sign-in that started the MFA
/// step, exactly as that sign-in would have answered.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum MfaVerifyResponse {
    /// Mobile sign-in: the tokens.
    #[cfg(feature = "jwt")]
    Tokens(TokenPair),
    /// Web sign-in: the access token (the refresh token in the cookie).
    #[cfg(feature = "jwt")]
    Access(AccessToken),
    /// Opaque-token sign-in: the token.
    #[cfg(feature = "opaque-tokens")]
    Token(IssuedOpaqueToken),
    /// Session sign-in: the user (the session and CSRF cookies are set).
    #[cfg(feature = "sessions")]
    Session(SessionSignedIn),
}

#[cfg(feature = "mfa")]
/// The user's MFA status.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct MfaStatusResponse {
    /// A confirmed factor guards sign-in.
    enabled: bool,
    /// An enrolment awaits its first code.
    pending: bool,
    /// The second factors accepted at sign-in (`totp`, `recovery_code`).
    methods: Vec<String>,
    /// Unused recovery codes.
    recovery_codes_remaining: u32,
    /// When MFA was enabled.
    enabled_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[cfg(feature = "mfa")]
/// A pending TOTP factor: add it to an authenticator app, then confirm with a code.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct TotpSetupResponse {
    /// The secret, base32 (for manual entry).
    secret: String,
    /// The `otpauth://totp/...` URI.
    otpauth_uri: String,
    /// The URI as an SVG QR code.
    qr_svg: String,
}

/// An empty JSON object.
#[derive(Debug, Serialize, ToSchema)]
pub struct Empty {}

#[cfg(feature = "account-emails")]
/// The answer to a request whose outcome must not reveal whether an address is known.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Accepted {
    /// The same text for every address.
    detail: String,
}

#[cfg(feature = "audit")]
/// One of the user's audit events.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ActivityEvent {
    /// Event id (UUID v7).
    id: String,
    /// When it happened.
    at: chrono::DateTime<chrono::Utc>,
    /// What happened: `sign_in_succeeded`, `sign_in_failed`, `mfa_failed`, `refresh_reuse_detected`,
    /// `signed_out`, `signed_out_everywhere`, `session_revoked`, `password_changed`,
    /// `password_reset_requested`, `password_reset`, `email_verification_sent`, `email_verified`,
    /// `email_changed`, `profile_updated`, `registered`, `taken_email_attempt`, `account_deactivated`, `mfa_enabled`,
    /// `mfa_disabled`, `mfa_reset`, `recovery_code_used`, `recovery_codes_regenerated`,
    /// `api_key_created`, `api_key_revoked`, `locked_out`.
    kind: String,
    /// The client's IP.
    ip: Option<String>,
    /// The client's `User-Agent`.
    user_agent: Option<String>,
    /// Non-secret facts (`flow`, `reason`, `grant_id`, ...).
    detail: serde_json::Value,
}

#[cfg(feature = "audit")]
/// `GET /api/auth/activity`.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Activity {
    /// Newest first.
    events: Vec<ActivityEvent>,
}

#[allow(dead_code)]
mod base_ops {
    use super::*;

    #[utoipa::path(post, path = "/api/auth/register", tag = "accounts", operation_id = "register",
        summary = "Create an account",
        request_body = RegisterRequest,
        responses(
            (status = 201, description = "Created. With email verification on, also the answer when the email already has an account (no account is created; its owner is told by email), so registration does not reveal which addresses have accounts", body = RegisteredUser),
            (status = 400, description = "A username, email address or password the rules refuse (the fields say which; a refused password names its rule, e.g. `password_too_weak`), or an email missing where verification is mandatory", body = ErrorResponse),
            (status = 409, description = "Username taken; or email taken, when email verification is off", body = ErrorResponse),
        ))]
    fn register() {}

    #[utoipa::path(get, path = "/api/auth/me", tag = "accounts", operation_id = "me",
        summary = "The authenticated user",
        security(("bearer" = []), ("token" = []), ("apiKey" = []), ("sessionCookie" = [])),
        responses(
            (status = 200, description = "The profile", body = UserProfile),
            (status = 401, description = "Missing, invalid or expired access token", body = ErrorResponse,
                headers(("WWW-Authenticate" = String, description = "Bearer error=\"invalid_token\""))),
        ))]
    fn me() {}

    #[utoipa::path(patch, path = "/api/auth/me", tag = "accounts", operation_id = "update_me",
        summary = "Change the username or email (any other field is refused)",
        description = "With email verification on, a new email replaces the old one only once the link sent to it is used (a notice with a cancel link goes to the old address). A new email needs a recent sign-in (the re-authentication window) or `current_password` (and `code` or `recovery_code` with MFA).",
        request_body = ProfileUpdateRequest,
        security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
        responses(
            (status = 200, description = "The profile", body = UserProfile),
            (status = 400, description = "Invalid value, a field that cannot be changed (`is_staff`, ...), or a wrong current password or code", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "API keys cannot change the profile; `reauthentication_required`: a new email needs a recent sign-in or the current password", body = ErrorResponse),
            (status = 409, description = "Username taken; or email taken, when email verification is off (with it on, a taken address is answered like a free one and its owner is told)", body = ErrorResponse),
        ))]
    fn update_me() {}

    #[utoipa::path(delete, path = "/api/auth/me", tag = "accounts", operation_id = "delete_me",
        summary = "Deactivate the account (password required); every credential is revoked",
        request_body = DeleteAccountRequest,
        security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
        responses(
            (status = 204, description = "Deactivated"),
            (status = 400, description = "Wrong password", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "API keys cannot delete the account", body = ErrorResponse),
            (status = 429, description = "Too many wrong passwords", body = ErrorResponse,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    fn delete_me() {}

    #[cfg(feature = "jwt")]
    #[utoipa::path(post, path = "/api/auth/password/change", tag = "accounts", operation_id = "password_change",
        summary = "Change the password; every other credential of the user is revoked",
        description = "A cookie session or opaque token that asks survives (204). A JWT sign-in continues with the new pair in the body (200): its old tokens carried the old password's fingerprint.",
        request_body = PasswordChangeRequest,
        security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
        responses(
            (status = 200, description = "JWT sign-in: the new pair", body = TokenPair),
            (status = 204, description = "Changed"),
            (status = 400, description = "Wrong current password, or the new one fails the policy (the rule is named)", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "API keys cannot change the password", body = ErrorResponse),
            (status = 429, description = "Too many wrong passwords", body = ErrorResponse,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    fn password_change() {}
    #[cfg(not(feature = "jwt"))]
    #[utoipa::path(post, path = "/api/auth/password/change", tag = "accounts", operation_id = "password_change",
        summary = "Change the password; every other credential of the user is revoked",
        description = "A cookie session or opaque token that asks survives (204). A JWT sign-in continues with the new pair in the body (200): its old tokens carried the old password's fingerprint.",
        request_body = PasswordChangeRequest,
        security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
        responses(
            (status = 204, description = "Changed"),
            (status = 400, description = "Wrong current password, or the new one fails the policy (the rule is named)", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "API keys cannot change the password", body = ErrorResponse),
            (status = 429, description = "Too many wrong passwords", body = ErrorResponse,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    fn password_change() {}

    #[utoipa::path(post, path = "/api/auth/sign-out-all", tag = "sessions", operation_id = "sign_out_all",
        summary = "Revoke every session and token of the user",
        security(("bearer" = []), ("token" = [])),
        responses(
            (status = 204, description = "Every session revoked"),
            (status = 401, description = "Missing, invalid or expired access token", body = ErrorResponse),
            (status = 403, description = "API keys cannot sign out everywhere", body = ErrorResponse),
        ))]
    fn sign_out_all() {}

    #[utoipa::path(get, path = "/api/auth/sessions", tag = "sessions", operation_id = "sessions",
        summary = "The user's active sessions",
        security(("bearer" = []), ("token" = [])),
        responses(
            (status = 200, description = "Active sessions, newest first", body = Vec<SessionInfo>),
            (status = 401, description = "Missing, invalid or expired access token", body = ErrorResponse),
            (status = 403, description = "API keys cannot list sessions", body = ErrorResponse),
        ))]
    fn sessions() {}

    #[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "sessions", operation_id = "delete_session",
        summary = "Revoke one of the user's sessions",
        params(("id" = String, Path, description = "Session (grant) id")),
        security(("bearer" = []), ("token" = [])),
        responses(
            (status = 204, description = "Revoked"),
            (status = 401, description = "Missing, invalid or expired access token", body = ErrorResponse),
            (status = 403, description = "API keys cannot revoke sessions", body = ErrorResponse),
            (status = 404, description = "No such session of this user", body = ErrorResponse),
        ))]
    fn delete_session() {}

    #[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz",
        summary = "Liveness", responses((status = 200, description = "Alive", body = Health)))]
    fn healthz() {}
}

#[derive(OpenApi)]
#[openapi(paths(
    base_ops::register,
    base_ops::me,
    base_ops::update_me,
    base_ops::delete_me,
    base_ops::password_change,
    base_ops::sign_out_all,
    base_ops::sessions,
    base_ops::delete_session,
    base_ops::healthz
))]
struct BaseDoc;

#[cfg(feature = "jwt")]
#[allow(dead_code)]
mod jwt_ops {
    use super::*;

    #[utoipa::path(post, path = "/api/auth/mobile/sign-in", tag = "mobile", operation_id = "mobile_sign_in",
        summary = "Sign in; tokens in the body",
        request_body = SignInRequest,
        responses(
            (status = 200, description = "Signed in, or (for a user with MFA) the MFA step: `{mfa_required, mfa_token, methods, expires_in}` and no credential", body = MobileSignInResponse,
                headers(("Cache-Control" = String, description = "no-store"),
                    ("Set-Cookie" = String, description = "The device cookie: `__Host-portcullis_device=...; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax; Secure` (a device that signed in as the user is exempt from the user's lockout)"))),
            (status = 401, description = "Wrong username or password (one answer for both)", body = ErrorResponse,
                headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
            (status = 403, description = "`email_not_verified`: the password was right but the address is not verified (mandatory verification)", body = ErrorResponse),
            (status = 429, description = "Too many failed attempts for this account or from this client: wait `Retry-After` seconds", body = ErrorResponse,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    fn mobile_sign_in() {}

    #[utoipa::path(post, path = "/api/auth/mobile/token-refresh", tag = "mobile", operation_id = "mobile_token_refresh",
        summary = "Exchange a refresh token for an access token",
        request_body = RefreshRequest,
        responses(
            (status = 200, description = "A new pair: the presented refresh token is consumed (rotation)", body = TokenPair),
            (status = 401, description = "Invalid, expired, revoked or already used refresh token (reuse revokes the session)", body = ErrorResponse),
        ))]
    fn mobile_refresh() {}

    #[utoipa::path(post, path = "/api/auth/web/sign-in", tag = "web", operation_id = "web_sign_in",
        summary = "Sign in; the refresh token goes into an HttpOnly cookie",
        request_body = SignInRequest,
        responses(
            (status = 200, description = "Signed in (or the MFA step, without a cookie)", body = WebSignInResponse,
                headers(("Cache-Control" = String, description = "no-store"),
                    ("Set-Cookie" = String, description = "`__Secure-portcullis_refresh=...; Path=/api/auth/web; Max-Age=<refresh lifetime>; HttpOnly; SameSite=Strict; Secure`, and the device cookie: `__Host-portcullis_device=...; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax; Secure` (a device that signed in as the user is exempt from the user's lockout)"))),
            (status = 401, description = "Wrong username or password", body = ErrorResponse),
            (status = 403, description = "`email_not_verified`: the password was right but the address is not verified (mandatory verification); `cross_origin_refused`: a request from another origin (this sign-in sets cookies)", body = ErrorResponse),
            (status = 429, description = "Too many failed attempts for this account or from this client: wait `Retry-After` seconds", body = ErrorResponse,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    fn web_sign_in() {}

    #[utoipa::path(post, path = "/api/auth/web/token-refresh", tag = "web", operation_id = "web_token_refresh",
        summary = "A new access token from the refresh cookie",
        security(("refreshCookie" = [])),
        responses(
            (status = 200, description = "A new access token", body = AccessToken),
            (status = 401, description = "No, invalid or expired refresh cookie", body = ErrorResponse),
            (status = 403, description = "Cross-origin request", body = ErrorResponse),
        ))]
    fn web_refresh() {}

    #[utoipa::path(post, path = "/api/auth/web/sign-out", tag = "web", operation_id = "web_sign_out",
        summary = "Clear the refresh cookie",
        description = "Idempotent: without a refresh cookie (or with an invalid one) there is nothing to revoke, and the answer is the same 204.",
        security(("refreshCookie" = []), ()),
        responses(
            (status = 204, description = "Signed out; the cookie is cleared",
                headers(("Set-Cookie" = String, description = "`__Secure-portcullis_refresh=; Max-Age=0` (clears the refresh cookie)"))),
            (status = 403, description = "Cross-origin request", body = ErrorResponse),
        ))]
    fn web_sign_out() {}

    #[utoipa::path(post, path = "/api/auth/token/verify", tag = "tokens", operation_id = "token_verify",
        summary = "Check an access or refresh token",
        request_body = VerifyRequest,
        responses(
            (status = 200, description = "Valid", body = Empty),
            (status = 401, description = "Invalid, expired or revoked", body = ErrorResponse),
        ))]
    fn verify() {}

    #[utoipa::path(get, path = "/.well-known/jwks.json", tag = "tokens", operation_id = "jwks",
        summary = "Public keys that verify the tokens",
        responses((status = 200, description = "The key set", body = JwkSet)))]
    fn jwks() {}

    #[utoipa::path(post, path = "/api/auth/mobile/sign-out", tag = "mobile", operation_id = "mobile_sign_out",
        summary = "Revoke the refresh token's session (grant) and its access tokens",
        request_body = RefreshRequest,
        responses(
            (status = 204, description = "Signed out"),
            (status = 401, description = "Not a valid refresh token", body = ErrorResponse),
        ))]
    fn mobile_sign_out() {}

    #[utoipa::path(post, path = "/api/auth/web/password/change", tag = "web", operation_id = "web_password_change",
        summary = "Change the password in the web flow: the new refresh token goes into the cookie",
        request_body = PasswordChangeRequest,
        security(("bearer" = [])),
        responses(
            (status = 200, description = "The new access token; the refresh cookie is replaced", body = AccessToken),
            (status = 204, description = "Changed (cookie session or opaque token)"),
            (status = 400, description = "Wrong current password, or the new one fails the policy", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "API keys cannot change the password; `cross_origin_refused`: a request from another origin (the refresh cookie is replaced)", body = ErrorResponse),
            (status = 429, description = "Too many wrong passwords", body = ErrorResponse),
        ))]
    fn web_password_change() {}
}

#[cfg(feature = "jwt")]
#[derive(OpenApi)]
#[openapi(paths(
    jwt_ops::mobile_sign_in,
    jwt_ops::mobile_refresh,
    jwt_ops::web_sign_in,
    jwt_ops::web_refresh,
    jwt_ops::web_sign_out,
    jwt_ops::verify,
    jwt_ops::jwks,
    jwt_ops::mobile_sign_out,
    jwt_ops::web_password_change
))]
struct JwtDoc;

#[cfg(feature = "opaque-tokens")]
#[allow(dead_code)]
mod opaque_tokens_ops {
    use super::*;

    #[utoipa::path(post, path = "/api/auth/token/sign-in", tag = "tokens", operation_id = "token_sign_in",
        summary = "Sign in; an opaque token (shown once, stored only as a hash)",
        request_body = TokenSignInRequest,
        responses(
            (status = 200, description = "The token; send it as `Authorization: Token <token>` (or the MFA step)", body = TokenSignInResponse,
                headers(("Cache-Control" = String, description = "no-store"),
                    ("Set-Cookie" = String, description = "The device cookie: `__Host-portcullis_device=...; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax; Secure` (a device that signed in as the user is exempt from the user's lockout)"))),
            (status = 401, description = "Wrong username or password", body = ErrorResponse),
            (status = 403, description = "`email_not_verified`: the password was right but the address is not verified (mandatory verification)", body = ErrorResponse),
            (status = 429, description = "Too many failed attempts for this account or from this client: wait `Retry-After` seconds", body = ErrorResponse,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    fn token_sign_in() {}

    #[utoipa::path(post, path = "/api/auth/token/sign-out", tag = "tokens", operation_id = "token_sign_out",
        summary = "Delete the presented opaque token",
        security(("token" = [])),
        responses(
            (status = 204, description = "Deleted; its session is revoked"),
            (status = 401, description = "No, or an invalid, opaque token", body = ErrorResponse),
        ))]
    fn token_sign_out() {}
}

#[cfg(feature = "opaque-tokens")]
#[derive(OpenApi)]
#[openapi(paths(opaque_tokens_ops::token_sign_in, opaque_tokens_ops::token_sign_out))]
struct OpaqueTokensDoc;

#[cfg(feature = "api-keys")]
#[allow(dead_code)]
mod api_keys_ops {
    use super::*;

    #[utoipa::path(post, path = "/api/auth/api-keys", tag = "api-keys", operation_id = "create_api_key",
        summary = "Create an API key (the key is shown once)",
        description = "Needs a recent sign-in (the re-authentication window) or `current_password` (and `code` or `recovery_code` with MFA).",
        request_body = CreateApiKeyRequest,
        security(("bearer" = []), ("token" = [])),
        responses(
            (status = 201, description = "Created", body = CreatedApiKey),
            (status = 400, description = "An invalid name, scope or lifetime, or a wrong current password or code", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "API keys cannot manage API keys; `reauthentication_required`: the sign-in is older than the re-authentication window and no current password was given", body = ErrorResponse),
        ))]
    fn create_api_key() {}

    #[utoipa::path(get, path = "/api/auth/api-keys", tag = "api-keys", operation_id = "list_api_keys",
        summary = "The user's API keys, without secrets",
        security(("bearer" = []), ("token" = [])),
        responses(
            (status = 200, description = "The keys", body = Vec<ApiKeyListItem>),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "API keys cannot manage API keys", body = ErrorResponse),
        ))]
    fn list_api_keys() {}

    #[utoipa::path(delete, path = "/api/auth/api-keys/{id}", tag = "api-keys", operation_id = "delete_api_key",
        summary = "Revoke an API key",
        params(("id" = String, Path, description = "Key id")),
        security(("bearer" = []), ("token" = [])),
        responses(
            (status = 204, description = "Revoked"),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "API keys cannot manage API keys", body = ErrorResponse),
            (status = 404, description = "No such key of this user", body = ErrorResponse),
        ))]
    fn delete_api_key() {}
}

#[cfg(feature = "api-keys")]
#[derive(OpenApi)]
#[openapi(paths(api_keys_ops::create_api_key, api_keys_ops::list_api_keys, api_keys_ops::delete_api_key))]
struct ApiKeysDoc;

#[cfg(feature = "sessions")]
#[allow(dead_code)]
mod sessions_ops {
    use super::*;

    #[utoipa::path(post, path = "/api/auth/session/sign-in", tag = "sessions", operation_id = "session_sign_in",
        summary = "Sign in; a server-side session in an HttpOnly cookie, plus the readable CSRF cookie",
        request_body = SignInRequest,
        responses(
            (status = 200, description = "Signed in: `{user}` (or the MFA step, without cookies)", body = SessionSignInResponse,
                headers(("Cache-Control" = String, description = "no-store"),
                    ("Set-Cookie" = String, description = "`__Host-portcullis_session=...; Path=/; HttpOnly; SameSite=Lax; Secure`, `__Host-csrftoken=...` (readable: send it back as `X-CSRF-Token`), and the device cookie: `__Host-portcullis_device=...; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax; Secure` (a device that signed in as the user is exempt from the user's lockout)"))),
            (status = 401, description = "Wrong username or password", body = ErrorResponse),
            (status = 403, description = "`email_not_verified`: the password was right but the address is not verified (mandatory verification); `cross_origin_refused`: a request from another origin (this sign-in sets cookies)", body = ErrorResponse),
            (status = 429, description = "Too many failed attempts for this account or from this client: wait `Retry-After` seconds", body = ErrorResponse,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    fn session_sign_in() {}

    #[utoipa::path(post, path = "/api/auth/session/sign-out", tag = "sessions", operation_id = "session_sign_out",
        summary = "End the cookie's session (needs the X-CSRF-Token header)",
        security(("sessionCookie" = [])),
        responses(
            (status = 204, description = "Ended; both cookies cleared"),
            (status = 401, description = "No, or an invalid, session", body = ErrorResponse),
            (status = 403, description = "CSRF check failed", body = ErrorResponse),
        ))]
    fn session_sign_out() {}
}

#[cfg(feature = "sessions")]
#[derive(OpenApi)]
#[openapi(paths(sessions_ops::session_sign_in, sessions_ops::session_sign_out))]
struct SessionsDoc;

#[cfg(feature = "mfa")]
#[allow(dead_code)]
mod mfa_ops {
    use super::*;

    #[utoipa::path(get, path = "/api/auth/mfa", tag = "mfa", operation_id = "mfa_status",
        summary = "The user's MFA status",
        security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
        responses(
            (status = 200, description = "Status", body = MfaStatusResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "API keys cannot manage MFA", body = ErrorResponse),
        ))]
    fn mfa_status() {}

    #[utoipa::path(post, path = "/api/auth/mfa/totp/setup", tag = "mfa", operation_id = "mfa_totp_setup",
        summary = "Start TOTP enrolment: a pending secret, its otpauth URI and QR code",
        description = "No body within the re-authentication window; after it, the current password (and a code, for a second factor).",
        request_body(content = Option<Reauthentication>, description = "Optional: `{current_password, code?, recovery_code?}`"),
        security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
        responses(
            (status = 200, description = "The pending factor (replaces a pending one)", body = TotpSetupResponse,
                headers(("Cache-Control" = String, description = "no-store"))),
            (status = 400, description = "A wrong current password", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "API keys cannot manage MFA; `reauthentication_required`: the sign-in is older than the re-authentication window and no current password was given", body = ErrorResponse),
            (status = 409, description = "MFA is already enabled", body = ErrorResponse),
        ))]
    fn mfa_totp_setup() {}

    #[utoipa::path(post, path = "/api/auth/mfa/totp/confirm", tag = "mfa", operation_id = "mfa_totp_confirm",
        summary = "Confirm enrolment with a first code: MFA is on; the recovery codes are shown once",
        request_body = MfaConfirmRequest,
        security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
        responses(
            (status = 200, description = "MFA enabled; a cookie session also gets a new id", body = RecoveryCodes),
            (status = 400, description = "Wrong code", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "API keys cannot manage MFA", body = ErrorResponse),
            (status = 409, description = "No enrolment pending, or MFA already on", body = ErrorResponse),
        ))]
    fn mfa_totp_confirm() {}

    #[utoipa::path(post, path = "/api/auth/mfa/totp/disable", tag = "mfa", operation_id = "mfa_totp_disable",
        summary = "Turn MFA off (password and a current code or recovery code)",
        request_body = MfaReauthRequest,
        security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
        responses(
            (status = 204, description = "MFA off; the user's other sessions are revoked (by default)"),
            (status = 400, description = "Wrong password or code", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "API keys cannot manage MFA", body = ErrorResponse),
        ))]
    fn mfa_totp_disable() {}

    #[utoipa::path(post, path = "/api/auth/mfa/recovery-codes", tag = "mfa", operation_id = "mfa_recovery_codes",
        summary = "Replace the recovery codes (password and a current code or recovery code)",
        request_body = MfaReauthRequest,
        security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
        responses(
            (status = 200, description = "The new codes; the old ones stop working", body = RecoveryCodes),
            (status = 400, description = "Wrong password or code", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "API keys cannot manage MFA", body = ErrorResponse),
            (status = 409, description = "MFA is not enabled", body = ErrorResponse),
        ))]
    fn mfa_recovery_codes() {}

    #[utoipa::path(post, path = "/api/auth/mfa/verify", tag = "mfa", operation_id = "mfa_verify",
        summary = "Complete a sign-in's MFA step with a TOTP code or a recovery code",
        request_body = MfaVerifyRequest,
        responses(
            (status = 200, description = "The credential of the sign-in flow that started the step (tokens, web cookie, opaque token or session cookies)", body = MfaVerifyResponse,
                headers(("Cache-Control" = String, description = "no-store"),
                    ("Set-Cookie" = String, description = "The device cookie (`__Host-portcullis_device=...; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax; Secure`: a device that signed in as the user is exempt from the user's lockout), plus the refresh cookie of a web sign-in or the session and CSRF cookies of a session sign-in"))),
            (status = 400, description = "Not exactly one of `code` and `recovery_code`", body = ErrorResponse),
            (status = 401, description = "Wrong code (counts against the token), or an unknown, expired, used or exhausted `mfa_token`", body = ErrorResponse),
            (status = 403, description = "Cross-origin request", body = ErrorResponse),
            (status = 429, description = "Too many failed attempts for this account or from this client: wait `Retry-After` seconds", body = ErrorResponse,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    fn mfa_verify() {}
}

#[cfg(feature = "mfa")]
#[derive(OpenApi)]
#[openapi(paths(
    mfa_ops::mfa_status,
    mfa_ops::mfa_totp_setup,
    mfa_ops::mfa_totp_confirm,
    mfa_ops::mfa_totp_disable,
    mfa_ops::mfa_recovery_codes,
    mfa_ops::mfa_verify
))]
struct MfaDoc;

#[cfg(feature = "account-emails")]
#[allow(dead_code)]
mod account_emails_ops {
    use super::*;

    #[utoipa::path(post, path = "/api/auth/password/reset", tag = "accounts", operation_id = "password_reset",
        summary = "Email a password-reset link (202 whatever the address)",
        description = "The link points to the configured frontend (`PORTCULLIS_FRONTEND_URL`), carries a single-use token valid for an hour, and dies when the password changes.",
        request_body = PasswordResetRequest,
        responses(
            (status = 202, description = "Accepted, known address or not", body = Accepted),
            (status = 400, description = "Not an email address", body = ErrorResponse),
            (status = 429, description = "Too many requests for this address or from this client", body = ErrorResponse,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    fn password_reset() {}

    #[utoipa::path(post, path = "/api/auth/password/reset/confirm", tag = "accounts", operation_id = "password_reset_confirm",
        summary = "Set a new password with a reset token (and a second factor for MFA users)",
        request_body = PasswordResetConfirmRequest,
        responses(
            (status = 204, description = "Changed; every credential of the user is revoked"),
            (status = 400, description = "Invalid, used or expired token; a missing or wrong code; a password that fails the policy", body = ErrorResponse),
            (status = 429, description = "Too many wrong codes", body = ErrorResponse),
        ))]
    fn password_reset_confirm() {}

    #[utoipa::path(post, path = "/api/auth/email/verify", tag = "accounts", operation_id = "email_verify",
        summary = "Verify an email address with the token of a verification link",
        request_body = EmailVerifyRequest,
        responses(
            (status = 204, description = "Verified (for an email change: the new address is now the account's)"),
            (status = 400, description = "Invalid, used or expired token", body = ErrorResponse),
            (status = 409, description = "The new address was taken meanwhile", body = ErrorResponse),
        ))]
    fn email_verify() {}

    #[utoipa::path(post, path = "/api/auth/email/resend", tag = "accounts", operation_id = "email_resend",
        summary = "Send a new verification link (202 whatever the address)",
        request_body = EmailResendRequest,
        responses(
            (status = 202, description = "Accepted, known address or not", body = Accepted),
            (status = 400, description = "Not an email address", body = ErrorResponse),
            (status = 404, description = "`not_found`: email verification is off, or account emails are not configured (no email backend)", body = ErrorResponse),
            (status = 429, description = "Too many requests for this address or from this client", body = ErrorResponse),
        ))]
    fn email_resend() {}

    #[utoipa::path(post, path = "/api/auth/email/change/cancel", tag = "accounts", operation_id = "email_change_cancel",
        summary = "Cancel a pending change of address (the link in the notice to the old address)",
        request_body = EmailChangeCancelRequest,
        responses(
            (status = 204, description = "Cancelled: the new address's verification link no longer works"),
            (status = 400, description = "Invalid, used or expired token", body = ErrorResponse),
        ))]
    fn email_change_cancel() {}
}

#[cfg(feature = "account-emails")]
#[derive(OpenApi)]
#[openapi(paths(
    account_emails_ops::password_reset,
    account_emails_ops::password_reset_confirm,
    account_emails_ops::email_verify,
    account_emails_ops::email_resend,
    account_emails_ops::email_change_cancel
))]
struct AccountEmailsDoc;

#[cfg(feature = "audit")]
#[allow(dead_code)]
mod audit_ops {
    use super::*;

    #[utoipa::path(get, path = "/api/auth/activity", tag = "accounts", operation_id = "activity",
        summary = "The user's own security events, newest first",
        params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1-100, default 50"),
               ("before" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339: only older events")),
        security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
        responses(
            (status = 200, description = "The events", body = Activity),
            (status = 400, description = "Bad `limit` or `before`", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "API keys cannot read the activity", body = ErrorResponse),
        ))]
    fn activity() {}
}

#[cfg(feature = "audit")]
#[derive(OpenApi)]
#[openapi(paths(audit_ops::activity))]
struct AuditDoc;

/// A user as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AdminUser {
    /// User id.
    id: String,
    /// Username.
    username: String,
    /// Email.
    email: Option<String>,
    /// Whether the email address was verified.
    email_verified: bool,
    /// Active flag.
    is_active: bool,
    /// Staff flag.
    is_staff: bool,
    /// Superuser flag.
    is_superuser: bool,
    /// Effective roles: the user type's own and the assigned ones.
    roles: Vec<String>,
    /// The roles assigned in the role store (what `PATCH {roles}` sets).
    assigned_roles: Vec<String>,
    /// The union of the roles' permissions.
    permissions: Vec<String>,
    /// The user's tenant, if any.
    tenant: Option<String>,
    /// Last sign-in.
    last_login: Option<chrono::DateTime<chrono::Utc>>,
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AdminUserPage {
    /// The users, by id.
    results: Vec<AdminUser>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// A role and its permissions.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct RoleView {
    /// Name.
    name: String,
    /// Description.
    description: String,
    /// Permissions it grants (`resource:action`), sorted.
    permissions: Vec<String>,
    /// When it was created.
    created_at: chrono::DateTime<chrono::Utc>,
}

/// The revocation feed: a snapshot (without `since`) or the events after a cursor.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct RevocationFeed {
    /// Pass as `since` on the next poll.
    cursor: i64,
    /// Snapshot: the revoked grants (a token whose `sid` is one is dead).
    revoked_grants: Option<Vec<String>>,
    /// Snapshot: each user's not-before (a token of the user with an earlier `iat` is dead).
    user_not_before: Option<Vec<UserNotBefore>>,
    /// With `since`: the revocations after it, in order.
    events: Option<Vec<RevocationFeedEvent>>,
}

/// A user's not-before.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct UserNotBefore {
    /// The user.
    user_id: String,
    /// Tokens issued to the user before this are dead.
    not_before: chrono::DateTime<chrono::Utc>,
}

/// One revocation: `{kind: "grant", grant_id}` or `{kind: "user", user_id, not_before}`.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct RevocationFeedEvent {
    /// `grant` or `user`.
    kind: String,
    /// The revoked grant (`grant`).
    grant_id: Option<String>,
    /// The user (`user`).
    user_id: Option<String>,
    /// The user's new not-before (`user`).
    not_before: Option<chrono::DateTime<chrono::Utc>>,
}

#[allow(dead_code)]
mod admin_ops {
    use super::*;

    #[utoipa::path(get, path = "/api/auth/revocations", tag = "tokens", operation_id = "revocation_feed",
        summary = "Revocations, for services that verify access tokens themselves (permission `revocations:read`)",
        description = "Without `since`: a snapshot of the revoked grants and users' not-befores. With `since`: the events after that cursor. A token is dead when its `sid` is a revoked grant or its `iat` is before its user's not-before.",
        params(("since" = Option<i64>, Query, minimum = 0, description = "The previous answer's `cursor`")),
        security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
        responses(
            (status = 200, description = "The snapshot or the events", body = RevocationFeed),
            (status = 400, description = "A bad `since`", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "Without `revocations:read`", body = ErrorResponse),
        ))]
    fn revocation_feed() {}
    use crate::{AdminUserUpdate, CreateRoleRequest, GrantPermissionRequest};

    #[utoipa::path(get, path = "/api/auth/admin/users", tag = "admin", operation_id = "admin_list_users",
        summary = "Users, by id (permission `users:manage`)",
        params(("q" = Option<String>, Query, description = "Only users whose username or email contains this"),
               ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "1-200, default 50"),
               ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`")),
        security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
        responses(
            (status = 200, description = "A page of users", body = AdminUserPage),
            (status = 400, description = "Bad `limit` or encoding", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "Without `users:manage`", body = ErrorResponse),
            (status = 404, description = "The user store cannot list users", body = ErrorResponse),
        ))]
    fn admin_list_users() {}

    #[utoipa::path(get, path = "/api/auth/admin/users/{id}", tag = "admin", operation_id = "admin_get_user",
        summary = "One user (permission `users:manage`)",
        params(("id" = String, Path, description = "User id")),
        security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
        responses(
            (status = 200, description = "The user", body = AdminUser),
            (status = 400, description = "A badly encoded id", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "Without `users:manage`", body = ErrorResponse),
            (status = 404, description = "No such user", body = ErrorResponse),
        ))]
    fn admin_get_user() {}

    #[utoipa::path(patch, path = "/api/auth/admin/users/{id}", tag = "admin", operation_id = "admin_update_user",
        summary = "Change a user's active, staff and superuser flags and assigned roles (permission `users:manage`)",
        description = "Only a superuser changes `is_staff` and `is_superuser`, or a superuser's account; a user manager who is not a superuser assigns or removes only roles whose permissions they hold. Nobody deactivates or removes the superuser flag of their own account here. Deactivation revokes every credential of the user; role changes reach every credential within the user-state bound (1 s).",
        params(("id" = String, Path, description = "User id")),
        request_body = AdminUserUpdate,
        security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
        responses(
            (status = 200, description = "The changed user", body = AdminUser),
            (status = 400, description = "An unknown field or role, or a change that would lock the administrator out", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "Without `users:manage`, a change beyond the administrator's own authority, or a superuser's account changed by a non-superuser", body = ErrorResponse),
            (status = 404, description = "No such user", body = ErrorResponse),
        ))]
    fn admin_update_user() {}

    #[utoipa::path(post, path = "/api/auth/admin/users/{id}/sign-out-all", tag = "admin", operation_id = "admin_sign_out_user",
        summary = "Revoke every grant and token of a user (permission `users:manage`)",
        params(("id" = String, Path, description = "User id")),
        security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
        responses(
            (status = 204, description = "Signed out everywhere"),
            (status = 400, description = "A badly encoded id", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "Without `users:manage`, or a superuser signed out by a non-superuser", body = ErrorResponse),
            (status = 404, description = "No such user", body = ErrorResponse),
        ))]
    fn admin_sign_out_user() {}

    #[utoipa::path(get, path = "/api/auth/admin/roles", tag = "admin", operation_id = "admin_list_roles",
        summary = "The roles and their permissions (permission `roles:manage`)",
        security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
        responses(
            (status = 200, description = "The roles, by name", body = Vec<RoleView>),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "Without `roles:manage`", body = ErrorResponse),
        ))]
    fn admin_list_roles() {}

    #[utoipa::path(post, path = "/api/auth/admin/roles", tag = "admin", operation_id = "admin_create_role",
        summary = "Create a role (permission `roles:manage`; only permissions the creator holds)",
        request_body = CreateRoleRequest,
        security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
        responses(
            (status = 201, description = "Created", body = RoleView),
            (status = 400, description = "An invalid name, description or permission", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "Without `roles:manage`, or a permission the creator does not hold", body = ErrorResponse),
            (status = 409, description = "A role with this name exists", body = ErrorResponse),
        ))]
    fn admin_create_role() {}

    #[utoipa::path(get, path = "/api/auth/admin/roles/{name}", tag = "admin", operation_id = "admin_get_role",
        summary = "One role (permission `roles:manage`)",
        params(("name" = String, Path, description = "Role name")),
        security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
        responses(
            (status = 200, description = "The role", body = RoleView),
            (status = 400, description = "A badly encoded name", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "Without `roles:manage`", body = ErrorResponse),
            (status = 404, description = "No such role", body = ErrorResponse),
        ))]
    fn admin_get_role() {}

    #[utoipa::path(delete, path = "/api/auth/admin/roles/{name}", tag = "admin", operation_id = "admin_delete_role",
        summary = "Delete a role with its permissions and assignments (permission `roles:manage`)",
        params(("name" = String, Path, description = "Role name")),
        security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
        responses(
            (status = 204, description = "Deleted"),
            (status = 400, description = "A badly encoded name", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "Without `roles:manage`", body = ErrorResponse),
            (status = 404, description = "No such role", body = ErrorResponse),
        ))]
    fn admin_delete_role() {}

    #[utoipa::path(post, path = "/api/auth/admin/roles/{name}/permissions", tag = "admin", operation_id = "admin_grant_permission",
        summary = "Grant a permission to a role (permission `roles:manage`; only permissions the granter holds)",
        params(("name" = String, Path, description = "Role name")),
        request_body = GrantPermissionRequest,
        security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
        responses(
            (status = 200, description = "The role", body = RoleView),
            (status = 400, description = "An invalid permission", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "Without `roles:manage`, or a permission the granter does not hold", body = ErrorResponse),
            (status = 404, description = "No such role", body = ErrorResponse),
        ))]
    fn admin_grant_permission() {}

    #[utoipa::path(delete, path = "/api/auth/admin/roles/{name}/permissions/{permission}", tag = "admin", operation_id = "admin_revoke_permission",
        summary = "Take a permission from a role (permission `roles:manage`)",
        params(("name" = String, Path, description = "Role name"),
               ("permission" = String, Path, description = "The permission (`resource:action`)")),
        security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
        responses(
            (status = 204, description = "Taken"),
            (status = 400, description = "A badly encoded name or permission", body = ErrorResponse),
            (status = 401, description = "Not authenticated", body = ErrorResponse),
            (status = 403, description = "Without `roles:manage`", body = ErrorResponse),
            (status = 404, description = "No such role, or the role does not have it", body = ErrorResponse),
        ))]
    fn admin_revoke_permission() {}
}

#[derive(OpenApi)]
#[openapi(paths(
    admin_ops::revocation_feed,
    admin_ops::admin_list_users,
    admin_ops::admin_get_user,
    admin_ops::admin_update_user,
    admin_ops::admin_sign_out_user,
    admin_ops::admin_list_roles,
    admin_ops::admin_create_role,
    admin_ops::admin_get_role,
    admin_ops::admin_delete_role,
    admin_ops::admin_grant_permission,
    admin_ops::admin_revoke_permission
))]
struct AdminDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
        components.add_security_scheme(
            TOKEN_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "An opaque token: `Token pct_...` (or `Bearer pct_...`)",
            ))),
        );
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key (`pck_...`), limited to its scopes",
            ))),
        );
        components.add_security_scheme(
            SESSION_COOKIE_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-portcullis_session",
                "A server-side session; unsafe methods also need `X-CSRF-Token` = the `__Host-csrftoken` cookie",
            ))),
        );
        components.add_security_scheme(
            REFRESH_COOKIE_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("__Secure-portcullis_refresh"))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Portcullis", description = "Authentication API: accounts, the web and mobile JWT flows, tokens."),
    components(schemas(ErrorResponse, FieldErrorResponse, Empty)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "accounts", description = "Registration and the current user"),
        (name = "mobile", description = "Tokens in the response body"),
        (name = "web", description = "Refresh token in an HttpOnly cookie"),
        (name = "tokens", description = "Verification and public keys"),
        (name = "sessions", description = "Sign-in sessions (grants) and revocation"),
        (name = "api-keys", description = "API keys for machine clients (`X-API-Key`)"),
        (name = "mfa", description = "Multi-factor authentication: TOTP, recovery codes, the MFA step of sign-in"),
        (name = "admin", description = "Managing users and roles (permissions `users:manage`, `roles:manage`)"),
        (name = "operations", description = "Health"),
    ),
)]
struct ApiDoc;

/// The operations that hash or verify a password (a sign-in, the current password of a change, a
/// new password): 503 when the hasher's queue is full, and for a new password also when the
/// breached-password check cannot answer and fails closed.
const HASHES_PASSWORDS: &[&str] = &[
    "register",
    "mobile_sign_in",
    "web_sign_in",
    "token_sign_in",
    "session_sign_in",
    "update_me",
    "delete_me",
    "password_change",
    "web_password_change",
    "password_reset_confirm",
    "create_api_key",
    "mfa_totp_setup",
    "mfa_totp_disable",
    "mfa_recovery_codes",
];

/// The operations whose attempts or requests are counted against a limit: 429 with `Retry-After`.
const RATE_LIMITED: &[&str] = &[
    "register",
    "mobile_sign_in",
    "web_sign_in",
    "token_sign_in",
    "session_sign_in",
    "mfa_verify",
    "update_me",
    "delete_me",
    "password_change",
    "web_password_change",
    "password_reset",
    "password_reset_confirm",
    "email_resend",
    "create_api_key",
    "mfa_totp_setup",
    "mfa_totp_disable",
    "mfa_recovery_codes",
];

/// The operations of the account emails: 404 when no email backend is configured (an
/// [`AuthEndpoints`](crate::AuthEndpoints) called without one; a route table does not mount them).
const NEEDS_ACCOUNT_EMAILS: &[&str] =
    &["password_reset", "password_reset_confirm", "email_verify", "email_resend", "email_change_cancel"];

/// The operations that touch no store and so never fail with a 500.
const NEVER_FAILS: &[&str] = &["healthz", "jwks"];

/// The descriptions of the answers every operation of a kind can give (see [`complete`]).
mod answers {
    pub(super) const INVALID_INPUT: &str = "`invalid_input`: the body is not a JSON object, a field is missing or has the wrong type, or a string holds a NUL character (`fields` names the field)";
    pub(super) const UNAUTHENTICATED: &str =
        "`not_authenticated`: no credential; `token_not_valid`: an invalid, expired or revoked one";
    pub(super) const COOKIE_SESSION_CHECKS: &str = "`permission_denied`: a cookie session's request without the matching `X-CSRF-Token` header; `cross_origin_refused`: a cookie session's request from another origin";
    pub(super) const NO_ACCOUNT_EMAILS: &str =
        "`not_found`: account emails are not configured (no email backend)";
    pub(super) const PAYLOAD_TOO_LARGE: &str =
        "`payload_too_large`: the body exceeds the body limit (64 KiB unless configured otherwise)";
    pub(super) const UNSUPPORTED_MEDIA_TYPE: &str =
        "`unsupported_media_type`: the body is not sent as `Content-Type: application/json`";
    pub(super) const RATE_LIMITED: &str =
        "`rate_limited`: too many attempts or requests; wait `Retry-After` seconds";
    pub(super) const UNAVAILABLE: &str = "`service_unavailable`: the password hasher is overloaded, or the breached-password check cannot answer and fails closed; nothing was changed, retry after `Retry-After` seconds";
    pub(super) const INTERNAL_ERROR: &str =
        "`internal_error`: a store or another dependency failed (logged; the body says nothing more)";
    pub(super) const WWW_AUTHENTICATE: &str = "`Bearer realm=\"portcullis\"`, with `error=\"invalid_token\"` and an `error_description` for a refused credential (RFC 6750)";
    pub(super) const RETRY_AFTER: &str = "Seconds to wait before trying again";
}

/// A response with the shared error body.
fn error_answer(description: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::{Content, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorResponse"))))
        .build()
}

/// A response header whose value is a string (`integer`: a number of seconds).
fn header(integer: bool, description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::header::Header> {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let schema = if integer {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .build()
    } else {
        ObjectBuilder::new().schema_type(Type::String).build()
    };
    utoipa::openapi::header::HeaderBuilder::new()
        .schema(Some(schema))
        .description(Some(description))
        .build()
        .into()
}

/// The names of the security schemes an operation accepts.
fn scheme_names(operation: &utoipa::openapi::path::Operation) -> BTreeSet<String> {
    let requirements = operation.security.iter().flatten();
    requirements
        .filter_map(|r| match serde_json::to_value(r) {
            Ok(Value::Object(names)) => Some(names.into_iter().map(|(name, _)| name)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Adds to every operation the answers its annotation leaves to the rules shared by every route:
///
/// - a JSON body: 400 (`invalid_input`), 413 (the body limit) and 415 (not JSON);
/// - a credential: 401 (every 401 carries `WWW-Authenticate`);
/// - an authenticated route with an unsafe method: 403 (a cookie session's CSRF and origin checks);
/// - [`HASHES_PASSWORDS`]: 503; [`RATE_LIMITED`]: 429 (both with `Retry-After`);
/// - the operations in [`NEEDS_ACCOUNT_EMAILS`]: 404;
/// - every operation but [`NEVER_FAILS`]: 500.
///
/// Each error answer has the shared [`ErrorResponse`] body. Where the annotation lists the status
/// already, a 400's or 403's shared meaning is added to its description; any other keeps its own.
fn complete(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    for item in doc.paths.paths.values_mut() {
        let operations = [
            (false, &mut item.get),
            (true, &mut item.put),
            (true, &mut item.post),
            (true, &mut item.delete),
            (false, &mut item.options),
            (false, &mut item.head),
            (true, &mut item.patch),
            (false, &mut item.trace),
        ];
        for (unsafe_method, operation) in operations {
            let Some(operation) = operation else { continue };
            let id = operation.operation_id.clone().unwrap_or_default();
            let schemes = scheme_names(operation);
            let mut due: Vec<(&str, &str)> = Vec::new();
            if operation.request_body.is_some() {
                due.extend([
                    ("400", answers::INVALID_INPUT),
                    ("413", answers::PAYLOAD_TOO_LARGE),
                    ("415", answers::UNSUPPORTED_MEDIA_TYPE),
                ]);
            }
            if !schemes.is_empty() {
                due.push(("401", answers::UNAUTHENTICATED));
            }
            if unsafe_method && schemes.contains(BEARER_SCHEME) {
                due.push(("403", answers::COOKIE_SESSION_CHECKS));
            }
            if NEEDS_ACCOUNT_EMAILS.contains(&id.as_str()) {
                due.push(("404", answers::NO_ACCOUNT_EMAILS));
            }
            if RATE_LIMITED.contains(&id.as_str()) {
                due.push(("429", answers::RATE_LIMITED));
            }
            if HASHES_PASSWORDS.contains(&id.as_str()) {
                due.push(("503", answers::UNAVAILABLE));
            }
            if !NEVER_FAILS.contains(&id.as_str()) {
                due.push(("500", answers::INTERNAL_ERROR));
            }
            let responses = &mut operation.responses.responses;
            for (status, description) in due {
                match responses.get_mut(status) {
                    Some(RefOr::T(listed)) if status == "400" || status == "403" => {
                        listed.description = format!("{}; or {description}", listed.description);
                    }
                    Some(_) => {}
                    None => {
                        responses.insert(status.to_owned(), RefOr::T(error_answer(description)));
                    }
                }
            }
            for (status, response) in responses.iter_mut() {
                let RefOr::T(response) = response else { continue };
                let challenge = match status.as_str() {
                    "401" => Some(("WWW-Authenticate", false, answers::WWW_AUTHENTICATE)),
                    "429" | "503" => Some(("Retry-After", true, answers::RETRY_AFTER)),
                    _ => None,
                };
                if let Some((name, integer, description)) = challenge {
                    response.headers.entry(name.to_owned()).or_insert_with(|| header(integer, description));
                }
            }
        }
    }
}

/// The OpenAPI document of every route compiled in, at the default paths (extend it with your own
/// paths before serving, if you like). The document served with a [`RouteTable`](crate::RouteTable)
/// lists only that table's routes.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(BaseDoc::openapi());
    #[cfg(feature = "jwt")]
    doc.merge(JwtDoc::openapi());
    #[cfg(feature = "opaque-tokens")]
    doc.merge(OpaqueTokensDoc::openapi());
    #[cfg(feature = "api-keys")]
    doc.merge(ApiKeysDoc::openapi());
    #[cfg(feature = "sessions")]
    doc.merge(SessionsDoc::openapi());
    #[cfg(feature = "mfa")]
    doc.merge(MfaDoc::openapi());
    #[cfg(feature = "account-emails")]
    doc.merge(AccountEmailsDoc::openapi());
    #[cfg(feature = "audit")]
    doc.merge(AuditDoc::openapi());
    doc.merge(AdminDoc::openapi());
    complete(&mut doc);
    doc
}

/// [`document`], built once.
fn full_document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(document)
}

/// The security schemes of the configured credential kinds.
fn configured_schemes<S: UserStore>(auth: &AuthService<S>) -> BTreeSet<&'static str> {
    let mut schemes = BTreeSet::new();
    if auth.has(Capability::Jwt) {
        schemes.extend([BEARER_SCHEME, REFRESH_COOKIE_SCHEME]);
    }
    if auth.has(Capability::OpaqueTokens) {
        schemes.insert(TOKEN_SCHEME);
    }
    if auth.has(Capability::ApiKeys) {
        schemes.insert(API_KEY_SCHEME);
    }
    if auth.has(Capability::Sessions) {
        schemes.insert(SESSION_COOKIE_SCHEME);
    }
    schemes
}

/// Whether a security requirement names only configured schemes.
fn satisfiable(
    requirement: &utoipa::openapi::security::SecurityRequirement,
    schemes: &BTreeSet<&str>,
) -> bool {
    match serde_json::to_value(requirement) {
        Ok(Value::Object(names)) => names.keys().all(|name| schemes.contains(name.as_str())),
        _ => false,
    }
}

/// The document of `routes`: their operations only, under `config`'s paths, with the security
/// schemes of the configured credential kinds only. With every route of every capability mounted
/// at the default paths it is [`document`] as it is.
fn document_for<S: UserStore>(
    auth: &AuthService<S>,
    config: &RouterConfig,
    routes: &[Route],
) -> utoipa::openapi::OpenApi {
    let mut doc = full_document().clone();
    let mounted: BTreeSet<(String, &str)> = routes
        .iter()
        .filter_map(|r| r.documented.map(|path| (r.method.as_str().to_ascii_lowercase(), path)))
        .collect();
    let schemes = configured_schemes(auth);
    let all = std::mem::take(&mut doc.paths.paths);
    for (path, mut item) in all {
        let mut kept = false;
        let methods = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("options", &mut item.options),
            ("head", &mut item.head),
            ("patch", &mut item.patch),
            ("trace", &mut item.trace),
        ];
        for (method, slot) in methods {
            if !mounted.contains(&(method.to_owned(), path.as_str())) {
                *slot = None;
                continue;
            }
            let Some(operation) = slot else { continue };
            kept = true;
            if let Some(requirements) = &mut operation.security {
                requirements.retain(|r| satisfiable(r, &schemes));
            }
            if path == super::paths::PASSWORD_CHANGE && !auth.has(Capability::Jwt) {
                // Without JWTs a password change never reissues a pair.
                operation.responses.responses.remove("200");
            }
        }
        if kept {
            doc.paths.paths.insert(config.path(&path), item);
        }
    }
    if let Some(components) = &mut doc.components {
        components.security_schemes.retain(|name, _| schemes.contains(name.as_str()));
    }
    if let Some(extra) = &config.openapi_extra {
        let mut extra = (*extra.0).clone();
        // Portcullis's schemes stay as configured.
        if let Some(components) = &mut extra.components {
            components.security_schemes.clear();
        }
        doc.merge(extra);
    }
    doc
}

/// What a table's docs routes serve: the document of its routes, and where and how it is served.
/// Kept in the table so that routes added later (an extension's, with
/// [`RouteTable::add_openapi`](crate::RouteTable::add_openapi)) join the served document.
#[derive(Clone)]
pub(crate) struct DocsSource {
    document: utoipa::openapi::OpenApi,
    schemes: BTreeSet<&'static str>,
    openapi_path: String,
    docs_path: String,
    docs_ui: bool,
    persist_authorization: bool,
}

impl DocsSource {
    /// The docs of a table whose other routes are `routes`.
    pub(crate) fn new<S: UserStore>(auth: &AuthService<S>, config: &RouterConfig, routes: &[Route]) -> Self {
        Self {
            document: document_for(auth, config, routes),
            schemes: configured_schemes(auth),
            openapi_path: config.openapi_path.clone(),
            docs_path: config.docs_path.clone(),
            docs_ui: config.docs_ui,
            persist_authorization: config.persist_authorization,
        }
    }

    /// These docs with `fragment`'s operations added: completed with the shared error answers like
    /// Portcullis's own, with security requirements of configured schemes only (the fragment's own
    /// scheme definitions are dropped: Portcullis's stay as configured).
    pub(crate) fn with(&self, mut fragment: utoipa::openapi::OpenApi) -> Self {
        complete(&mut fragment);
        for item in fragment.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ]
            .into_iter()
            .flatten()
            {
                if let Some(requirements) = &mut operation.security {
                    requirements.retain(|r| satisfiable(r, &self.schemes));
                }
            }
        }
        if let Some(components) = &mut fragment.components {
            components.security_schemes.clear();
        }
        let mut next = self.clone();
        next.document.merge(fragment);
        next
    }

    /// The routes serving the document (and the Swagger UI unless it is off).
    pub(crate) fn routes(&self) -> Vec<Route> {
        let document = self.document.to_pretty_json().map(String::into_bytes).unwrap_or_default();
        let bytes: Arc<Vec<u8>> = Arc::new(document);
        let openapi_path = self.openapi_path.clone();
        let docs_path = self.docs_path.clone();
        let swagger = Arc::new(
            utoipa_swagger_ui::Config::new([openapi_path.clone()])
                .persist_authorization(self.persist_authorization)
                .query_config_enabled(false)
                .validator_url("none"),
        );
        let document = Route::docs(openapi_path, move |_| {
            let bytes = Arc::clone(&bytes);
            Box::pin(async move { document_response(&bytes) })
        });
        if !self.docs_ui {
            return vec![document];
        }
        let docs = |path: String| {
            let (swagger, prefix) = (Arc::clone(&swagger), docs_path.clone());
            Route::docs(path, move |request: RouteRequest| {
                let tail = request.parts.uri.path().strip_prefix(prefix.as_str()).unwrap_or("").to_owned();
                let (swagger, prefix) = (Arc::clone(&swagger), prefix.clone());
                Box::pin(async move { docs_response(&tail, &prefix, swagger) })
            })
        };
        vec![
            document,
            docs(docs_path.clone()),
            docs(format!("{docs_path}/")),
            docs(format!("{docs_path}/{{*file}}")),
        ]
    }
}

/// `GET /api/openapi.json`.
fn document_response(bytes: &[u8]) -> Response<Vec<u8>> {
    let mut response = Response::new(bytes.to_vec());
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The `Content-Security-Policy` of the Swagger UI's responses: its scripts, styles and images
/// from the docs' own origin only (the configuration is a served file, `swagger-initializer.js`,
/// not an inline script), requests to this origin only, no framing, no forms, no plugins. The
/// one inline style is the logo's `<style>` element that the standalone preset renders, allowed by
/// its hash; the stylesheet's icons are `data:` images.
pub const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /api/docs` and everything below it: the Swagger UI, with "Authorize" for Bearer tokens,
/// under [`DOCS_CONTENT_SECURITY_POLICY`] and `X-Content-Type-Options: nosniff`. `tail` is the
/// request path after the docs prefix (`""`, `"/"`, `"/swagger-ui.css"`, ...).
fn docs_response(
    tail: &str,
    prefix: &str,
    config: Arc<utoipa_swagger_ui::Config<'static>>,
) -> Response<Vec<u8>> {
    let mut response = docs_file(tail, prefix, config);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// The Swagger UI's answer for `tail`: the redirect to the prefix with a slash, a file, or 404.
fn docs_file(tail: &str, prefix: &str, config: Arc<utoipa_swagger_ui::Config<'static>>) -> Response<Vec<u8>> {
    if tail.is_empty() {
        let mut response = Response::new(Vec::new());
        *response.status_mut() = StatusCode::SEE_OTHER;
        if let Ok(location) = HeaderValue::from_str(&format!("{prefix}/")) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        return response;
    }
    let file = tail.trim_start_matches('/');
    match utoipa_swagger_ui::serve(file, config) {
        Ok(Some(file)) => {
            let mut response = Response::new(file.bytes.into_owned());
            if let Ok(value) = HeaderValue::from_str(&file.content_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            if file.gzpipped {
                response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Ok(None) => auth_core::http_support::error_response(&auth_core::AuthError::NotFound),
        Err(e) => {
            tracing::error!(error = %e, "swagger ui");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &serde_json::json!({"detail": "Internal server error", "code": "internal_error"}),
            )
        }
    }
}
