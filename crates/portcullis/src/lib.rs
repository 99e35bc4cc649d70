//! # Portcullis
//!
//! Authentication for Rust web APIs: username/password with argon2id; JWT access and refresh
//! tokens (web flow with an HttpOnly refresh cookie, mobile flow with tokens in the body); opaque
//! tokens, API keys and cookie sessions; MFA in every sign-in path; the account lifecycle; rate
//! limits and an audit log; stores on SQLite and PostgreSQL, and adapters for web frameworks.
//! Secure by default.
//!
//! This is the crate applications depend on: one Cargo feature per capability, so you compile
//! only what you use. [`flows::AuthService::builder`] assembles the capabilities you configure;
//! a capability you do not configure is absent (its routes are not mounted, its OpenAPI paths are
//! not in the document).
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | `jwt` | yes | [`jwt`]: keys, JWKS, issuing and verification (`auth-jwt`); the mobile and web flows in [`flows`] |
//! | `opaque-tokens` | yes | opaque tokens ([`token`], `auth-token`) |
//! | `api-keys` | yes | API keys ([`token`], `auth-token`) |
//! | `sessions` | yes | cookie sessions with CSRF protection ([`session`], `auth-session`) |
//! | `mfa` | yes | TOTP and recovery codes, the MFA step of every sign-in ([`mfa`], `auth-mfa`) |
//! | `account-emails` | yes | password reset and email verification by email ([`mail`], `auth-mail`) |
//! | `rate-limit` | yes | per-account and per-IP sign-in limits ([`ratelimit`], `auth-ratelimit`) |
//! | `audit` | yes | a persisted audit log and `GET /api/auth/activity` |
//! | `openapi` | yes | the OpenAPI 3.1 document of the mounted routes and the Swagger UI |
//! | `breached-passwords` | no | [`breach`]: refuse passwords known from breaches (Have I Been Pwned range API, k-anonymity; `auth-breach`) |
//! | `redis` | no | rate-limit counters in Redis, shared by every server process |
//! | `resource-server` | no | [`resource_server`]: verify the access tokens of any OpenID issuer (Auth0, Keycloak, Google, a Portcullis server) from its JWKS, with no database (`auth-resource-server`) |
//! | `passkeys` | no | [`passkeys`]: passkeys (WebAuthn): registration, passwordless sign-in, management (`PasskeySignIn` and its routes; `auth-webauthn`) |
//! | `email-sign-in` | no | [`email_sign_in`]: passwordless sign-in by an emailed link or 6-digit code (`EmailSignIn` and its routes; `auth-email-sign-in`; needs `account-emails`) |
//! | `social-login` | no | [`oauth`]: social login (OpenID Connect and OAuth2 providers, PKCE, id_token verification, linked accounts, `SocialLogin` and its routes; `auth-oauth`) |
//! | `axum` | yes | [`axum`]: extractors, layers and routers for axum (`auth-axum`) |
//! | `poem` | no | [`poem`]: extractors, middleware and routes for poem (`auth-poem`) |
//! | `sqlite` | yes | [`sea_orm`]: sea-orm stores of the enabled capabilities and the migrator, on SQLite |
//! | `postgres` | no | [`sea_orm`]: the same stores on PostgreSQL |
//! | `testing` | no | the store conformance suites of every enabled capability ([`core::testing`], [`blacklist::testing`], `token::testing`, `session::testing`, `mfa::testing`, `ratelimit::testing`) and a real SMTP server for tests (`mail::testing`) |
//!
//! Always there: [`core`] (`auth-core`: users, stores, principal, password hashing, clock,
//! errors), [`flows`] (`auth-flows`: the service, the sign-in pipeline, the HTTP layer) and
//! [`blacklist`] (`auth-blacklist`: grants, rotation, revocation).
//!
//! ## Quick start (axum)
//!
//! ```no_run
//! # #[cfg(all(feature = "axum", feature = "jwt"))]
//! # mod demo {
//! use std::sync::Arc;
//! use portcullis::blacklist::MemoryGrantStore;
//! use portcullis::axum::{Auth, AuthContext, RouterConfig, routes};
//! use portcullis::core::{Accounts, MemoryUserStore, PasswordHasher, PasswordHasherConfig, SystemClock};
//! use portcullis::flows::{AuthEndpoints, AuthService};
//! use portcullis::jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
//!
//! async fn hello(Auth(principal): Auth) -> String {
//!     format!("hello, {}", principal.user_id)
//! }
//!
//! pub async fn app() -> Result<axum::Router, Box<dyn std::error::Error>> {
//!     let key = JwtKey::hmac(JwtAlgorithm::HS256, b"an HMAC secret of at least 32 bytes!")?;
//!     let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key)?, SystemClock::shared())?;
//!     let accounts = Accounts::new(Arc::new(MemoryUserStore::new()), PasswordHasher::new(PasswordHasherConfig::default())?);
//!     let auth = Arc::new(AuthService::builder(accounts).grants(Arc::new(MemoryGrantStore::new())).jwt(jwt).build()?);
//!     let context = AuthContext::new(Arc::new(auth.bearer_authenticator()));
//!     Ok(routes(AuthEndpoints::new(auth), context.clone(), RouterConfig::default())
//!         .merge(axum::Router::new().route("/hello", axum::routing::get(hello)).layer(context.layer())))
//! }
//! # }
//! ```

#![forbid(unsafe_code)]

/// Framework-free traits and types (`auth-core`).
pub use auth_core as core;

/// The flow engine: the service and its builder, the sign-in pipeline, the credentials, the
/// framework-free HTTP layer (`auth-flows`).
pub use auth_flows as flows;

/// Grants (sign-in sessions), refresh-token rotation with reuse detection, revocation
/// (`auth-blacklist`).
pub use auth_blacklist as blacklist;

/// JSON Web Tokens: keys, JWKS, issuing and verification (`auth-jwt`).
#[cfg(feature = "jwt")]
pub use auth_jwt as jwt;

/// Opaque tokens and API keys: formats, hashed stores (`auth-token`).
#[cfg(any(feature = "opaque-tokens", feature = "api-keys", feature = "sessions"))]
pub use auth_token as token;

/// Server-side cookie sessions: ids, records, cookie and CSRF helpers (`auth-session`).
#[cfg(feature = "sessions")]
pub use auth_session as session;

/// Multi-factor authentication: TOTP, recovery codes, MFA challenges, factor stores (`auth-mfa`).
#[cfg(feature = "mfa")]
pub use auth_mfa as mfa;

/// Mail delivery for account emails: SMTP, `.eml` files, console; templates (`auth-mail`).
#[cfg(feature = "account-emails")]
pub use auth_mail as mail;

/// Breached-password checks over the Have I Been Pwned range API (`auth-breach`).
#[cfg(feature = "breached-passwords")]
pub use auth_breach as breach;

/// Rate limiting and lockout: counters, limits, in-memory and Redis stores (`auth-ratelimit`).
#[cfg(feature = "rate-limit")]
pub use auth_ratelimit as ratelimit;

/// Resource-server mode: other issuers' access tokens verified from their keys
/// (`auth-resource-server`).
#[cfg(feature = "resource-server")]
pub use auth_resource_server as resource_server;

/// Social login, the protocol side (`auth-oauth`).
#[cfg(feature = "social-login")]
pub use auth_oauth as oauth;

/// Passkeys (WebAuthn) (`auth-webauthn`).
#[cfg(feature = "passkeys")]
pub use auth_webauthn as passkeys;

/// Passwordless sign-in by email (`auth-email-sign-in`).
#[cfg(feature = "email-sign-in")]
pub use auth_email_sign_in as email_sign_in;

/// The axum adapter (`auth-axum`).
#[cfg(feature = "axum")]
pub use auth_axum as axum;

/// The poem adapter (`auth-poem`).
#[cfg(feature = "poem")]
pub use auth_poem as poem;

/// sea-orm stores and the migrator (`auth-sea-orm`).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use auth_sea_orm as sea_orm;

/// The README's Rust examples, compiled as doctests (`cargo test --doc -p portcullis`), so they
/// cannot drift from the API.
#[cfg(all(
    doctest,
    feature = "jwt",
    feature = "sessions",
    feature = "axum",
    feature = "poem",
    feature = "sqlite",
    feature = "resource-server",
    feature = "social-login",
    feature = "email-sign-in"
))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
