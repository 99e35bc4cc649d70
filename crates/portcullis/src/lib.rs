//! # Portcullis
//!
//! Authentication for Rust web APIs: username/password with argon2id, JWT access and refresh
//! tokens (web flow with an HttpOnly refresh cookie, mobile flow with tokens in the body), stores
//! on SQLite and PostgreSQL, and adapters for web frameworks. Secure by default.
//!
//! This is the crate applications depend on; it re-exports the capability crates behind one
//! feature each, so you compile only what you use.
//!
//! ## Features
//!
//! | feature    | default | what it adds |
//! |------------|---------|--------------|
//! | `jwt`      | yes     | [`jwt`]: JWT issuing/verification, keys, JWKS, the sign-in flows (`auth-jwt`); [`blacklist`]: grants, rotation, revocation (`auth-blacklist`); [`token`], [`session`]: opaque tokens, API keys, cookie sessions; [`mfa`]: TOTP and recovery codes (`auth-mfa`); [`mail`]: account emails (`auth-mail`); [`ratelimit`]: rate limits and lockout (`auth-ratelimit`) |
//! | `redis`    | no      | rate-limit counters in Redis, shared by every server process |
//! | `axum`     | yes     | [`axum`]: extractors, layers and routers for axum (`auth-axum`) |
//! | `poem`     | no      | [`poem`]: extractors, middleware and routes for poem (`auth-poem`) |
//! | `sqlite`   | yes     | [`sea_orm`]: sea-orm stores and migrator on SQLite (`auth-sea-orm`) |
//! | `postgres` | no      | [`sea_orm`]: the same stores on PostgreSQL |
//! | `testing`  | no      | [`core::testing`]: the store conformance suites; a real SMTP server for tests (`mail::testing`) |
//!
//! [`core`] (`auth-core`: users, stores, principal, password hashing, clock, errors) is always there.
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
//! use portcullis::jwt::{JwtConfig, JwtKey, JwtService, KeySet, JwtAlgorithm};
//! use portcullis::flows::{JwtAuth, JwtEndpoints, WebFlowConfig};
//!
//! async fn hello(Auth(principal): Auth) -> String {
//!     format!("hello, {}", principal.user_id)
//! }
//!
//! pub async fn app() -> Result<axum::Router, Box<dyn std::error::Error>> {
//!     let key = JwtKey::hmac(JwtAlgorithm::HS256, b"an HMAC secret of at least 32 bytes!")?;
//!     let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key)?, SystemClock::shared())?;
//!     let accounts = Accounts::new(Arc::new(MemoryUserStore::new()), PasswordHasher::new(PasswordHasherConfig::default())?);
//!     let auth = Arc::new(JwtAuth::new(accounts, jwt, Arc::new(MemoryGrantStore::new())));
//!     let context = AuthContext::new(Arc::new(auth.bearer_authenticator()));
//!     let endpoints = JwtEndpoints::new(auth, WebFlowConfig::new(86_400));
//!     Ok(routes(endpoints, context.clone(), RouterConfig::default())
//!         .merge(axum::Router::new().route("/hello", axum::routing::get(hello)).layer(context.layer())))
//! }
//! # }
//! ```

#![forbid(unsafe_code)]

/// Framework-free traits and types (`auth-core`).
pub use auth_core as core;

/// JSON Web Tokens: keys, issuing and verification (`auth-jwt`).
#[cfg(feature = "jwt")]
pub use auth_jwt as jwt;

/// The sign-in flows and their framework-free HTTP endpoints (`auth-flows`).
#[cfg(feature = "jwt")]
pub use auth_flows as flows;

/// Grants, refresh-token rotation with reuse detection, revocation (`auth-blacklist`).
#[cfg(feature = "jwt")]
pub use auth_blacklist as blacklist;

/// Opaque tokens and API keys: formats, hashed stores (`auth-token`).
#[cfg(feature = "jwt")]
pub use auth_token as token;

/// Server-side cookie sessions: ids, records, cookie and CSRF helpers (`auth-session`).
#[cfg(feature = "jwt")]
pub use auth_session as session;

/// Multi-factor authentication: TOTP, recovery codes, MFA challenges, factor stores (`auth-mfa`).
#[cfg(feature = "jwt")]
pub use auth_mfa as mfa;

/// Mail delivery for account emails: SMTP, `.eml` files, console; templates (`auth-mail`).
#[cfg(feature = "jwt")]
pub use auth_mail as mail;

/// Rate limiting and lockout: counters, limits, in-memory and Redis stores (`auth-ratelimit`).
#[cfg(feature = "jwt")]
pub use auth_ratelimit as ratelimit;

/// The axum adapter (`auth-axum`).
#[cfg(feature = "axum")]
pub use auth_axum as axum;

/// The poem adapter (`auth-poem`).
#[cfg(feature = "poem")]
pub use auth_poem as poem;

/// sea-orm stores and the migrator (`auth-sea-orm`).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use auth_sea_orm as sea_orm;
