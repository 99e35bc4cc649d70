//! The OpenAPI operations of the passkey routes and their schemas (feature `openapi`), added to
//! the table's served document by [`PasskeySignIn::routes`](crate::PasskeySignIn::routes).

#![allow(dead_code)]

use auth_flows::http::openapi::ErrorResponse;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// A ceremony's start: the challenge id to send back, and the WebAuthn options for
/// `navigator.credentials.create` / `get` (`{"publicKey": {...}}`, binary fields base64url: pass
/// `options.publicKey` to `PublicKeyCredential.parseCreationOptionsFromJSON` /
/// `parseRequestOptionsFromJSON`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyCeremony {
    /// The ceremony's id (single use, 5 minutes).
    challenge_id: String,
    /// The options for the browser.
    #[schema(value_type = Object)]
    options: serde_json::Value,
}

/// `POST /api/auth/passkeys/register/finish`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyRegisterRequest {
    /// From `register/begin`.
    challenge_id: String,
    /// A name for the passkey (1-64 characters).
    name: String,
    /// The new credential: `credential.toJSON()` of `navigator.credentials.create`.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// `POST /api/auth/passkeys/sign-in/finish`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeySignInRequest {
    /// From `sign-in/begin`.
    challenge_id: String,
    /// The assertion: `credential.toJSON()` of `navigator.credentials.get`.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
    /// The sign-in flow to answer as: `mobile` (default), `web`, `token` or `session`.
    flow: Option<String>,
    /// The opaque token's name (`flow: token`).
    name: Option<String>,
}

/// `PATCH /api/auth/passkeys/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyRenameRequest {
    /// The new name (1-64 characters).
    name: String,
}

/// One of the user's passkeys (never its key material).
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyView {
    /// Its id.
    id: String,
    /// Its name.
    name: String,
    /// When it was registered (RFC 3339).
    created_at: String,
    /// The last sign-in with it (RFC 3339).
    last_used_at: Option<String>,
    /// Whether it may be synced or backed up (a synced passkey).
    backup_eligible: bool,
    /// Whether it is backed up now.
    backup_state: bool,
    /// Whether the user was verified when it was registered.
    user_verified: bool,
}

/// The user's passkeys, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyList {
    /// The passkeys.
    passkeys: Vec<PasskeyView>,
}

/// A passkey sign-in's answer: what the chosen flow's password sign-in answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PasskeySignInResponse {
    /// `flow: mobile`.
    #[cfg(feature = "jwt")]
    Mobile(auth_flows::http::openapi::MobileSignInResponse),
    /// `flow: web`.
    #[cfg(feature = "jwt")]
    Web(auth_flows::http::openapi::WebSignInResponse),
    /// `flow: token`.
    #[cfg(feature = "opaque-tokens")]
    Token(auth_flows::http::openapi::TokenSignInResponse),
    /// `flow: session`.
    #[cfg(feature = "sessions")]
    Session(auth_flows::http::openapi::SessionSignInResponse),
}

#[utoipa::path(post, path = "/api/auth/passkeys/register/begin", tag = "passkeys", operation_id = "passkey_register_begin",
    summary = "Start registering a passkey for the signed-in user",
    description = "Needs a sign-in within the re-authentication window, or `current_password` (and `code` or `recovery_code` for an account with MFA) in the body. The options exclude the user's passkeys and prefer a discoverable credential.",
    request_body(content = Option<auth_flows::Reauthentication>, description = "Only when the sign-in is not recent"),
    security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The creation options", body = PasskeyCeremony),
        (status = 400, description = "A wrong current password or code", body = ErrorResponse),
        (status = 401, description = "Not authenticated", body = ErrorResponse),
        (status = 403, description = "API keys cannot register passkeys; `reauthentication_required`", body = ErrorResponse),
    ))]
fn register_begin() {}

#[utoipa::path(post, path = "/api/auth/passkeys/register/finish", tag = "passkeys", operation_id = "passkey_register_finish",
    summary = "Finish registering a passkey",
    request_body = PasskeyRegisterRequest,
    security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
    responses(
        (status = 201, description = "Registered", body = PasskeyView),
        (status = 400, description = "A malformed credential or name", body = ErrorResponse),
        (status = 401, description = "Not authenticated; or the credential does not verify (origin, relying party, challenge) or the challenge is unknown, used or expired", body = ErrorResponse),
        (status = 409, description = "This passkey is registered already", body = ErrorResponse),
    ))]
fn register_finish() {}

#[utoipa::path(post, path = "/api/auth/passkeys/sign-in/begin", tag = "passkeys", operation_id = "passkey_sign_in_begin",
    summary = "Start a passwordless sign-in (discoverable passkeys, conditional UI)",
    responses((status = 200, description = "The request options", body = PasskeyCeremony)))]
fn sign_in_begin() {}

#[utoipa::path(post, path = "/api/auth/passkeys/sign-in/finish", tag = "passkeys", operation_id = "passkey_sign_in_finish",
    summary = "Sign in with a passkey",
    description = "Answers as the chosen flow's sign-in does, with amr `hwk` or `swk` (plus `user` when the authenticator verified the user). A passkey that verified the user is multi-factor by itself: no MFA step.",
    request_body = PasskeySignInRequest,
    responses(
        (status = 200, description = "Signed in as the flow answers", body = PasskeySignInResponse,
            headers(("Cache-Control" = String, description = "no-store"),
                ("Set-Cookie" = String, description = "For `web` and `session` flows their cookies; the device cookie"))),
        (status = 400, description = "A malformed credential, or a flow this server does not offer", body = ErrorResponse),
        (status = 401, description = "`invalid_credentials`: the assertion does not verify, its passkey is unknown or cloned, or the challenge is unknown, used or expired", body = ErrorResponse,
            headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
        (status = 403, description = "`cross_origin_refused`: a cookie flow requested from another origin", body = ErrorResponse),
        (status = 429, description = "Too many failed sign-ins from this client", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
fn sign_in_finish() {}

#[utoipa::path(get, path = "/api/auth/passkeys", tag = "passkeys", operation_id = "passkeys",
    summary = "The signed-in user's passkeys",
    security(("bearer" = []), ("token" = []), ("apiKey" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The passkeys", body = PasskeyList),
        (status = 401, description = "Not authenticated", body = ErrorResponse),
    ))]
fn list() {}

#[utoipa::path(patch, path = "/api/auth/passkeys/{id}", tag = "passkeys", operation_id = "passkey_rename",
    summary = "Rename a passkey",
    params(("id" = String, Path, description = "The passkey's id")),
    request_body = PasskeyRenameRequest,
    security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
    responses(
        (status = 204, description = "Renamed"),
        (status = 400, description = "An empty or too long name", body = ErrorResponse),
        (status = 401, description = "Not authenticated", body = ErrorResponse),
        (status = 403, description = "API keys cannot rename passkeys", body = ErrorResponse),
        (status = 404, description = "No such passkey of this user", body = ErrorResponse),
    ))]
fn rename() {}

#[utoipa::path(delete, path = "/api/auth/passkeys/{id}", tag = "passkeys", operation_id = "passkey_delete",
    summary = "Remove a passkey",
    description = "Needs a recent sign-in, or `current_password` (and a code for an account with MFA) in the body. Refused when it is the account's last way to sign in.",
    params(("id" = String, Path, description = "The passkey's id")),
    request_body(content = Option<auth_flows::Reauthentication>, description = "Only when the sign-in is not recent"),
    security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "A wrong current password or code", body = ErrorResponse),
        (status = 401, description = "Not authenticated", body = ErrorResponse),
        (status = 403, description = "API keys cannot remove passkeys; `reauthentication_required`", body = ErrorResponse),
        (status = 404, description = "No such passkey of this user", body = ErrorResponse),
        (status = 409, description = "`conflict`: the account's last way to sign in (no password, no other passkey)", body = ErrorResponse),
    ))]
fn delete() {}

#[derive(OpenApi)]
#[openapi(paths(register_begin, register_finish, sign_in_begin, sign_in_finish, list, rename, delete))]
struct PasskeysDoc;

/// The document fragment of the passkey routes.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    PasskeysDoc::openapi()
}
