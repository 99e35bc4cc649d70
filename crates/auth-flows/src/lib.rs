//! # auth-flows
//!
//! The flow engine of Portcullis: [`AuthService`], assembled by [`AuthServiceBuilder`] from the
//! capabilities an application picks, and the framework-free HTTP layer ([`AuthEndpoints`],
//! [`RouteTable`]) that the axum and poem adapters mount. It depends on no web framework and no
//! ORM: stores come in as trait objects (memory stores in each capability crate, sea-orm stores in
//! `auth-sea-orm`).
//!
//! - **The sign-in pipeline** ([`pipeline`]): a first factor (the password today) proves "this
//!   user, these `amr`, this `auth_time`" ([`FirstFactor`]); [`AuthService::sign_in_with`] applies
//!   the account checks, the rate limits and the MFA step, and issues the credential of the
//!   requested [`SignInFlow`]. New first factors plug in here, from their own crates.
//! - **Credentials**, each in a grant (`auth-blacklist`) and each behind a feature: JWT pairs
//!   (mobile and web flows, refresh rotation with reuse detection), opaque tokens, cookie
//!   sessions, API keys; an [`auth_core::Authenticator`] for each.
//! - **MFA** (TOTP, recovery codes) as a step of every sign-in path; the **account lifecycle**
//!   (registration, password change, profile, deletion; reset and verification by email); **rate
//!   limits** and the **audit log**.
//! - **HTTP**: [`AuthEndpoints`] answers each endpoint of the contract; [`RouterConfig`] chooses the
//!   prefix and the route sets.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | `jwt` | no | JWT access and refresh tokens: mobile and web flows, refresh, verify, JWKS (`auth-jwt`) |
//! | `opaque-tokens` | no | opaque tokens, each its own grant (`auth-token`) |
//! | `api-keys` | no | API keys with scopes (`auth-token`) |
//! | `sessions` | no | server-side cookie sessions with CSRF protection (`auth-session`) |
//! | `mfa` | no | TOTP and recovery codes, the MFA step in every sign-in path (`auth-mfa`) |
//! | `account-emails` | no | password reset by email, email verification, security notices (`auth-mail`) |
//! | `rate-limit` | no | per-account and per-IP sign-in limits with progressive delay (`auth-ratelimit`) |
//! | `audit` | no | a persisted audit log and `GET /api/auth/activity` |
//! | `openapi` | no | the OpenAPI 3.1 document of the mounted routes and the vendored Swagger UI |
//!
//! Grants (sign-in sessions, `auth-blacklist`), registration, the profile endpoints and the
//! sessions list are always there. Applications normally take these features through the
//! `portcullis` facade.

#![forbid(unsafe_code)]

/// `Debug` that shows only the named fields (request and response bodies carrying secrets).
macro_rules! redacted_debug {
    ($ty:ident, $($shown:ident),*) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))$(.field(stringify!($shown), &self.$shown))*.finish_non_exhaustive()
            }
        }
    };
}
pub(crate) use redacted_debug;

mod account;
pub mod admin;
#[cfg(feature = "api-keys")]
mod api_keys;
#[cfg(any(feature = "opaque-tokens", feature = "api-keys", feature = "sessions"))]
mod credential_cache;
#[cfg(feature = "account-emails")]
pub mod emails;
mod grants;
mod guard;
pub mod http;
#[cfg(feature = "jwt")]
mod jwt;
mod maintenance;
#[cfg(feature = "mfa")]
pub mod mfa;
#[cfg(feature = "opaque-tokens")]
mod opaque;
pub mod pipeline;
mod service;
#[cfg(feature = "sessions")]
mod sessions;

pub use account::{
    DeleteAccountRequest, EmailVerification, PasswordChangeRequest, PasswordChanged, ProfileUpdateRequest,
    Reauthentication, RegisterRequest,
};
pub use admin::{
    AdminUserUpdate, CreateRoleRequest, GrantPermissionRequest, REVOCATIONS_READ, ROLES_MANAGE, USERS_MANAGE,
};
#[cfg(feature = "api-keys")]
pub use api_keys::{ApiKeyAuthenticator, ApiKeyConfig, CreateApiKeyRequest, CreatedApiKey};
#[cfg(any(feature = "opaque-tokens", feature = "api-keys", feature = "sessions"))]
pub use credential_cache::{CacheStats, DEFAULT_CREDENTIAL_CACHE_CAPACITY};
#[cfg(feature = "account-emails")]
pub use emails::{
    AccountEmailConfig, EmailChangeCancelRequest, EmailResendRequest, EmailVerifyRequest,
    PasswordResetConfirmRequest, PasswordResetRequest,
};
pub use grants::SessionInfo;
#[cfg(feature = "rate-limit")]
pub use guard::{AbuseLimits, DEFAULT_CONSECUTIVE_WINDOW, DEFAULT_SIGNIN_WINDOW};
pub use guard::{Failure, SignInAttempt, acting_as, audit_event};
pub use http::{
    AuthEndpoints, Route, RouteFuture, RouteRequest, RouteSet, RouteTable, RouterConfig, WebFlowConfig, paths,
};
#[cfg(feature = "jwt")]
pub use jwt::{
    AccessToken, BearerAuthenticator, ClaimFn, ClaimMap, ClaimSource, RefreshRequest, TokenPair,
    VerifyRequest,
};
pub use maintenance::Flushed;
#[cfg(feature = "mfa")]
pub use mfa::{
    MfaConfirmRequest, MfaPolicy, MfaReauthRequest, MfaVerifyRequest, RecoveryCodes, SecondFactorMethod,
};
#[cfg(feature = "opaque-tokens")]
pub use opaque::{
    IssuedOpaqueToken, OpaqueTokenAuthenticator, OpaqueTokenConfig, TokenSignInRequest, is_legacy_token,
};
pub use pipeline::{
    CompletedSignIn, Credential, FirstFactor, MfaRequired, SignInFlow, SignInOutcome, SignInRequest,
};
pub use service::{AuthService, AuthServiceBuilder, BuildError, Capability, ClientInfo, FlowConfig};
#[cfg(feature = "sessions")]
pub use sessions::{SessionAuthenticator, SessionConfig, StartedSession};
