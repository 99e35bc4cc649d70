//! The HTTP contract, framework-free: [`AuthEndpoints`] answers each endpoint with an
//! `http::Response`, and [`AuthEndpoints::route_table`] lists the routes of the configured
//! capabilities (under [`RouterConfig::prefix`], minus the route sets left out). The axum and poem
//! adapters only mount a [`RouteTable`], so both serve the same routes with the same statuses,
//! headers and bodies byte for byte, and a capability that is not configured is simply absent.

mod endpoints;
#[cfg(feature = "openapi")]
pub mod openapi;
mod table;

pub use endpoints::{AuthEndpoints, WebFlowConfig, unauthenticated};
#[cfg(feature = "openapi")]
pub use table::AppOpenApi;
pub use table::{Route, RouteFuture, RouteRequest, RouteSet, RouteTable, RouterConfig};

/// The paths of the HTTP contract under the default prefix (`/api/auth`, see
/// [`RouterConfig::prefix`](crate::RouterConfig::prefix)).
pub mod paths {
    /// The default prefix of every path of the contract but JWKS and the health check.
    pub const DEFAULT_PREFIX: &str = "/api/auth";
    /// `GET` → 200 `{"status": "ok"}`.
    pub const HEALTH: &str = "/healthz";
    /// `GET` → the OpenAPI document (feature `openapi`).
    pub const OPENAPI: &str = "/api/openapi.json";
    /// `GET` → the Swagger UI, below this prefix (feature `openapi`).
    pub const DOCS: &str = "/api/docs";
    /// `POST` `{username, email?, password}` → 201 `{id, username, email}`; with email verification
    /// on, 201 `{username, email, detail}` also when the address already has an account (its owner
    /// is told by email), so registration does not reveal which addresses have accounts.
    pub const REGISTER: &str = "/api/auth/register";
    /// `POST` `{username, password}` → 200 `{access, refresh, token_type, expires_in}`.
    pub const MOBILE_SIGN_IN: &str = "/api/auth/mobile/sign-in";
    /// `POST` `{refresh}` → 200 `{access, refresh, token_type, expires_in}`: the presented refresh
    /// token is consumed and a new pair returned (rotation).
    pub const MOBILE_TOKEN_REFRESH: &str = "/api/auth/mobile/token-refresh";
    /// The web flow's prefix: the refresh cookie's `Path`.
    pub const WEB_PREFIX: &str = "/api/auth/web";
    /// `POST` `{username, password}` → 200 `{access, ...}` and the refresh cookie.
    pub const WEB_SIGN_IN: &str = "/api/auth/web/sign-in";
    /// `POST` (cookie) → 200 `{access, ...}`.
    pub const WEB_TOKEN_REFRESH: &str = "/api/auth/web/token-refresh";
    /// `POST` → 204, cookie cleared.
    pub const WEB_SIGN_OUT: &str = "/api/auth/web/sign-out";
    /// `POST` `{refresh}` → 204: revokes the token's grant.
    pub const MOBILE_SIGN_OUT: &str = "/api/auth/mobile/sign-out";
    /// `POST` (authenticated) → 204: revokes every grant and token of the user.
    pub const SIGN_OUT_ALL: &str = "/api/auth/sign-out-all";
    /// `GET` (authenticated) → the user's active sessions.
    pub const SESSIONS: &str = "/api/auth/sessions";
    /// `DELETE /api/auth/sessions/{id}` (authenticated) → 204, or 404 for someone else's id.
    pub const SESSIONS_PREFIX: &str = "/api/auth/sessions/";
    /// `POST` `{username, password, name?}` → 200 `{token, expires_at}`: an opaque token.
    pub const TOKEN_SIGN_IN: &str = "/api/auth/token/sign-in";
    /// `POST` with `Authorization: Token <t>` → 204: deletes the presented opaque token.
    pub const TOKEN_SIGN_OUT: &str = "/api/auth/token/sign-out";
    /// `POST` `{name, scopes, expires_in?}` (authenticated) → 201 `{id, key, prefix, scopes,
    /// expires_at}`; `GET` → the user's keys without secrets.
    pub const API_KEYS: &str = "/api/auth/api-keys";
    /// `DELETE /api/auth/api-keys/{id}` (authenticated) → 204, or 404 for someone else's id.
    pub const API_KEYS_PREFIX: &str = "/api/auth/api-keys/";
    /// `POST` `{username, password}` → 200 `{user}` + the session and CSRF cookies.
    pub const SESSION_SIGN_IN: &str = "/api/auth/session/sign-in";
    /// `POST` (session cookie + CSRF) → 204, cookies cleared.
    pub const SESSION_SIGN_OUT: &str = "/api/auth/session/sign-out";
    /// `POST` `{token}` → 200 `{}` or 401.
    pub const TOKEN_VERIFY: &str = "/api/auth/token/verify";
    /// `GET` (authenticated) → 200 the user's profile; `PATCH` `{username?, email?}` → 200 the
    /// profile; `DELETE` `{password}` → 204, the account is deactivated and every credential
    /// revoked.
    pub const ME: &str = "/api/auth/me";
    /// `GET` → the JWKS document.
    pub const JWKS: &str = "/.well-known/jwks.json";
    /// `GET` (authenticated) → `{enabled, pending, methods, recovery_codes_remaining, enabled_at}`.
    pub const MFA: &str = "/api/auth/mfa";
    /// `POST` (authenticated; `{current_password, code?}` beyond the re-authentication window) →
    /// `{secret, otpauth_uri, qr_svg}`: a pending TOTP factor.
    pub const MFA_TOTP_SETUP: &str = "/api/auth/mfa/totp/setup";
    /// `POST` `{code}` (authenticated) → `{recovery_codes}`: MFA is on.
    pub const MFA_TOTP_CONFIRM: &str = "/api/auth/mfa/totp/confirm";
    /// `POST` `{password, code | recovery_code}` (authenticated) → 204: MFA is off.
    pub const MFA_TOTP_DISABLE: &str = "/api/auth/mfa/totp/disable";
    /// `POST` `{password, code | recovery_code}` (authenticated) → `{recovery_codes}`: a new set.
    pub const MFA_RECOVERY_CODES: &str = "/api/auth/mfa/recovery-codes";
    /// `POST` `{mfa_token, code | recovery_code}` → the credential of the sign-in flow that
    /// started the MFA step.
    pub const MFA_VERIFY: &str = "/api/auth/mfa/verify";
    /// `POST` `{current_password, new_password}` (authenticated) → 204 for a cookie session or an
    /// opaque token (it survives), 200 `{access, refresh, ...}` for a JWT sign-in (it continues
    /// with these); every other credential of the user is revoked.
    pub const PASSWORD_CHANGE: &str = "/api/auth/password/change";
    /// The web flow's password change: as [`PASSWORD_CHANGE`], the new refresh token in the cookie.
    pub const WEB_PASSWORD_CHANGE: &str = "/api/auth/web/password/change";
    /// `POST` `{email}` → 202 always: a reset link goes to a known address.
    pub const PASSWORD_RESET: &str = "/api/auth/password/reset";
    /// `POST` `{token, new_password, code? | recovery_code?}` → 204: every credential revoked.
    pub const PASSWORD_RESET_CONFIRM: &str = "/api/auth/password/reset/confirm";
    /// `POST` `{token}` → 204: the address is verified (or, for an email change, replaces the old).
    pub const EMAIL_VERIFY: &str = "/api/auth/email/verify";
    /// `POST` `{email}` → 202 always: a new verification link to an unverified account.
    pub const EMAIL_RESEND: &str = "/api/auth/email/resend";
    /// `POST` `{token}` → 204: the pending change of address is cancelled (the link in the notice
    /// to the old address).
    pub const EMAIL_CHANGE_CANCEL: &str = "/api/auth/email/change/cancel";
    /// `GET` (authenticated) `?limit=&before=` → `{events}`: the user's own audit events.
    pub const ACTIVITY: &str = "/api/auth/activity";
    /// `GET` (`revocations:read`) `?since=` → a snapshot of the revocations, or the events after a
    /// cursor: for services that verify Portcullis's access tokens themselves.
    pub const REVOCATIONS: &str = "/api/auth/revocations";
    /// `GET` (`users:manage`) `?q=&limit=&cursor=` → `{results, next_cursor}`: users' admin views.
    pub const ADMIN_USERS: &str = "/api/auth/admin/users";
    /// `GET /api/auth/admin/users/{id}`, `PATCH` `{is_active?, is_staff?, is_superuser?, roles?}`,
    /// `POST /api/auth/admin/users/{id}/sign-out-all` (`users:manage`).
    pub const ADMIN_USERS_PREFIX: &str = "/api/auth/admin/users/";
    /// `GET` (`roles:manage`) → the roles; `POST` `{name, description?, permissions?}` → 201.
    pub const ADMIN_ROLES: &str = "/api/auth/admin/roles";
    /// `GET`/`DELETE /api/auth/admin/roles/{name}`, `POST .../{name}/permissions` `{permission}`,
    /// `DELETE .../{name}/permissions/{permission}` (`roles:manage`).
    pub const ADMIN_ROLES_PREFIX: &str = "/api/auth/admin/roles/";
}
