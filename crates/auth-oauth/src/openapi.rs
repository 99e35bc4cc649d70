//! The OpenAPI operations of social login's routes and their schemas (feature `openapi`), added to the table's
//! served document by [`SocialLogin::routes`](crate::SocialLogin::routes).

#![allow(dead_code)]

use auth_flows::http::openapi::ErrorResponse;
use serde::Serialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// `POST /api/auth/social/{provider}/token`: what a native app got from the provider's SDK.
#[derive(Debug, Serialize, ToSchema)]
pub struct SocialTokenRequest {
    /// The provider's id_token (OpenID Connect providers); exactly one of this and `access_token`.
    id_token: Option<String>,
    /// The provider's access token (OAuth2 providers with a userinfo endpoint, e.g. GitHub).
    access_token: Option<String>,
    /// The nonce the app sent to the provider; when given, the id_token's must equal it.
    nonce: Option<String>,
    /// The sign-in flow to answer as: `mobile` (default), `web`, `token` or `session`, each as
    /// configured on the server.
    flow: Option<String>,
    /// The opaque token's name (`flow: token`).
    name: Option<String>,
}

/// `POST /api/auth/social/{provider}/link`: the identity to link, and a proof of a recent sign-in
/// when the credential is older than the re-authentication window.
#[derive(Debug, Serialize, ToSchema)]
pub struct SocialLinkRequest {
    /// The provider's id_token; exactly one of this and `access_token`.
    id_token: Option<String>,
    /// The provider's access token (OAuth2 providers).
    access_token: Option<String>,
    /// The nonce the app sent to the provider.
    nonce: Option<String>,
    /// The account's password, when the sign-in is not recent.
    current_password: Option<String>,
    /// A TOTP code, with `current_password`, for an account with MFA.
    code: Option<String>,
    /// Or a recovery code.
    recovery_code: Option<String>,
}

/// A provider identity linked to the user.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedAccountView {
    /// The link's id (for `DELETE /api/auth/social/accounts/{id}`).
    id: String,
    /// The provider's configured name.
    provider: String,
    /// The email the provider stated when the link was made, if any.
    email: Option<String>,
    /// When the link was made (RFC 3339).
    linked_at: String,
    /// The last sign-in through it (RFC 3339), if any.
    last_used_at: Option<String>,
}

/// The user's linked provider identities.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedAccounts {
    /// Oldest first.
    accounts: Vec<LinkedAccountView>,
}

/// A social sign-in's answer: exactly what the chosen flow's password sign-in answers (tokens,
/// the access token and refresh cookie, an opaque token, or the session user with its cookies), or
/// the MFA step `{mfa_required, mfa_token, methods, expires_in}` for a user with MFA.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SocialSignInResponse {
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

/// The query of `GET /api/auth/social/{provider}/authorize`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// Where the frontend wants the browser back: a path on the frontend, or a URL on its origin or
    /// an allowed one; anything else falls back to the frontend URL.
    next: Option<String>,
    /// `web` (default: the refresh cookie is set, the frontend then calls
    /// `/api/auth/web/token-refresh`) or `session` (the session cookies are set).
    flow: Option<String>,
}

/// The query the provider sends to `GET /api/auth/social/{provider}/callback`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The state sent with the authorization request (it must match the browser's state cookie).
    state: Option<String>,
    /// The provider's error code (`access_denied`, ...), instead of a code.
    error: Option<String>,
}

#[utoipa::path(get, path = "/api/auth/social/{provider}/authorize", tag = "social", operation_id = "social_authorize",
    summary = "Start a provider's sign-in in the browser: a redirect to the provider",
    description = "A fresh `state` (bound to this browser by a sealed, HttpOnly, single-use cookie), PKCE S256 always, and a `nonce` for OpenID Connect providers. Mounted when the redirect flow is configured (a frontend URL and a state key).",
    params(("provider" = String, Path, description = "The provider's configured name"), AuthorizeQuery),
    responses(
        (status = 302, description = "To the provider's authorization endpoint",
            headers(("Location" = String, description = "The provider's authorization URL"),
                ("Set-Cookie" = String, description = "The state cookie: `__Host-portcullis_social=<sealed state>; Path=/; HttpOnly; SameSite=Lax; Max-Age=600; Secure` (cleared by the callback)"))),
        (status = 400, description = "`flow` is not `web` or `session`", body = ErrorResponse),
        (status = 404, description = "No such provider", body = ErrorResponse),
        (status = 503, description = "The provider's discovery document cannot be read: retry after `Retry-After` seconds", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
fn authorize() {}

#[utoipa::path(get, path = "/api/auth/social/{provider}/callback", tag = "social", operation_id = "social_callback",
    summary = "Where the provider sends the browser back; always a redirect to the frontend",
    description = "Checks the state against the browser's cookie (single use), exchanges the code with the PKCE verifier, verifies the id_token (issuer, audience, expiry, nonce, at_hash) or reads the userinfo, and signs the user in through the pipeline. Every outcome is a redirect to `next` on the frontend: `?social=signed_in` with the flow's cookies set; the MFA step as `#mfa_token=...&methods=...` (complete it with `POST /api/auth/mfa/verify`); or `?error=<code>` (`invalid_state`, `invalid_request`, the provider's own code such as `access_denied`, `invalid_credentials`, `account_disabled`, `service_unavailable`).",
    params(("provider" = String, Path, description = "The provider's configured name"), CallbackQuery),
    responses(
        (status = 302, description = "To the frontend with the outcome",
            headers(("Location" = String, description = "`next` with `?social=signed_in`, `#mfa_token=...`, or `?error=<code>`"),
                ("Set-Cookie" = String, description = "The state cookie cleared; when signed in, the flow's cookies (the refresh cookie, or the session and CSRF cookies) and the device cookie"))),
    ))]
fn callback() {}

#[utoipa::path(post, path = "/api/auth/social/{provider}/token", tag = "social", operation_id = "social_token",
    summary = "Sign in with a provider credential a native app got from the provider's SDK",
    description = "The id_token is verified against the provider's JWKS and the configured client ids (audience), or the access token is exchanged for the userinfo. The answer is the chosen flow's sign-in answer, or the MFA step. Which account: a linked identity signs in to its user; a new identity creates a password-less account, linked to an existing account by email only when the provider is trusted for email and states the address verified.",
    params(("provider" = String, Path, description = "The provider's configured name")),
    request_body = SocialTokenRequest,
    responses(
        (status = 200, description = "Signed in as the flow answers, or the MFA step", body = SocialSignInResponse,
            headers(("Cache-Control" = String, description = "no-store"),
                ("Set-Cookie" = String, description = "For `web` and `session` flows their cookies; the device cookie"))),
        (status = 400, description = "Not exactly one of `id_token` and `access_token`, or a flow this server does not offer", body = ErrorResponse),
        (status = 401, description = "`token_not_valid`: the provider credential is forged, expired, for another client or with another nonce; or the account is disabled", body = ErrorResponse,
            headers(("WWW-Authenticate" = String, description = "Bearer error=\"invalid_token\""))),
        (status = 403, description = "`cross_origin_refused`: a cookie flow requested from another origin", body = ErrorResponse),
        (status = 404, description = "No such provider", body = ErrorResponse),
        (status = 429, description = "Too many sign-in attempts from this client: wait `Retry-After` seconds", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The provider cannot be reached: retry after `Retry-After` seconds", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
fn token() {}

#[utoipa::path(post, path = "/api/auth/social/{provider}/link", tag = "social", operation_id = "social_link",
    summary = "Link a provider identity to the signed-in user",
    description = "Needs a sign-in within the re-authentication window, or `current_password` (and `code` or `recovery_code` for an account with MFA).",
    params(("provider" = String, Path, description = "The provider's configured name")),
    request_body = SocialLinkRequest,
    security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
    responses(
        (status = 201, description = "Linked", body = LinkedAccountView),
        (status = 400, description = "Not exactly one provider credential; a wrong current password or code", body = ErrorResponse),
        (status = 401, description = "Not authenticated, or the provider credential is not valid", body = ErrorResponse),
        (status = 403, description = "API keys cannot link; `reauthentication_required`: the sign-in is not recent", body = ErrorResponse),
        (status = 404, description = "No such provider", body = ErrorResponse),
        (status = 409, description = "`conflict`: the identity is linked already (to this or another user)", body = ErrorResponse),
        (status = 503, description = "The provider cannot be reached", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
fn link() {}

#[utoipa::path(get, path = "/api/auth/social/accounts", tag = "social", operation_id = "social_accounts",
    summary = "The signed-in user's linked provider identities",
    security(("bearer" = []), ("token" = []), ("apiKey" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "The linked identities", body = LinkedAccounts),
        (status = 401, description = "Not authenticated", body = ErrorResponse),
    ))]
fn accounts() {}

#[utoipa::path(delete, path = "/api/auth/social/accounts/{id}", tag = "social", operation_id = "social_unlink",
    summary = "Unlink a provider identity",
    params(("id" = String, Path, description = "The link's id")),
    security(("bearer" = []), ("token" = []), ("sessionCookie" = [])),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 401, description = "Not authenticated", body = ErrorResponse),
        (status = 403, description = "API keys cannot unlink", body = ErrorResponse),
        (status = 404, description = "No such link of this user", body = ErrorResponse),
        (status = 409, description = "`conflict`: it is the account's last way to sign in (no password, no other link)", body = ErrorResponse),
    ))]
fn unlink() {}

/// The operations of every social route.
#[derive(OpenApi)]
#[openapi(paths(token, link, accounts, unlink))]
struct SocialDoc;

/// The operations of the redirect flow.
#[derive(OpenApi)]
#[openapi(paths(authorize, callback))]
struct RedirectFlowDoc;

/// The document fragment of the mounted social routes.
pub(crate) fn document(redirect_flow: bool) -> utoipa::openapi::OpenApi {
    let mut doc = SocialDoc::openapi();
    if redirect_flow {
        doc.merge(RedirectFlowDoc::openapi());
    }
    doc
}
