//! # auth-jwt
//!
//! JSON Web Tokens for Portcullis: access and refresh tokens, verification with the algorithm pinned
//! by configuration, keys from PEM/JWK/secrets, key generation and storage, JWKS, and the
//! framework-free sign-in flows and endpoints that the adapters mount.
//!
//! - [`JwtService`] issues and verifies tokens ([`Claims`], [`TokenKind`], [`ClaimRequirement`]).
//! - [`JwtKey`], [`KeySet`], [`generate_key`], [`KeyStore`] ([`FileKeyStore`], [`MemoryKeyStore`]).
//! - [`JwtAuth`]: register, sign in, refresh, verify over any [`auth_core::UserStore`];
//!   [`BearerAuthenticator`] authenticates `Authorization: Bearer` requests.
//! - Account lifecycle ([`lifecycle`]): password change, reset by email, email verification,
//!   profile changes, account deletion; abuse protection ([`AbuseLimits`]: per-account and per-IP
//!   rate limits with progressive delay) and the audit log of every flow.
//! - [`JwtEndpoints`]: the HTTP contract as `http::Response`s; see [`endpoints::paths`].
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | (none)  |         | the signing backend is jsonwebtoken's `aws_lc_rs` (RS256 verify ~7x `rust_crypto`) |
//! | `openapi` | no    | `openapi`: the OpenAPI 3.1 document of the contract and the vendored Swagger UI |
//!
//! ## Example
//!
//! ```
//! use auth_core::{ManualClock, UserId};
//! use auth_jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet, TokenContents, TokenKind};
//! use std::sync::Arc;
//!
//! let key = JwtKey::hmac(JwtAlgorithm::HS256, &[7u8; 32]).unwrap();
//! let clock = Arc::new(ManualClock::starting_at_unix(1_700_000_000));
//! let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key).unwrap(), clock.clone()).unwrap();
//!
//! let issued = jwt.issue(TokenKind::Access, &UserId::new("42"), TokenContents::default()).unwrap();
//! assert_eq!(jwt.verify(&issued.token, TokenKind::Access).unwrap().sub, "42");
//! assert!(jwt.verify(&issued.token, TokenKind::Refresh).is_err(), "kinds never mix");
//!
//! clock.advance(chrono::Duration::minutes(6));
//! assert!(jwt.verify(&issued.token, TokenKind::Access).is_err(), "expired");
//! ```

#![forbid(unsafe_code)]

mod abuse;
mod api_keys;
mod claims;
pub mod endpoints;
mod flows;
mod keys;
mod keystore;
pub mod lifecycle;
pub mod mfa;
mod opaque;
#[cfg(feature = "openapi")]
pub mod openapi;
mod service;
mod sessions;

pub use abuse::{AbuseLimits, DEFAULT_SIGNIN_WINDOW};
pub use api_keys::{ApiKeyAuthenticator, ApiKeyConfig, CreateApiKeyRequest, CreatedApiKey};
pub use claims::{Audience, ClaimRequirement, ClaimRule, Claims, RESERVED_CLAIMS, TokenKind};
pub use endpoints::{JwtEndpoints, WebFlowConfig};
pub use flows::{
    AccessToken, BearerAuthenticator, ClaimFn, ClaimMap, ClaimSource, ClientInfo, FlowConfig, JwtAuth,
    RefreshRequest, RegisterRequest, SessionInfo, SignInRequest, TokenPair, VerifyRequest,
};
pub use keys::{GeneratedKey, JwtAlgorithm, JwtKey, KeyError, KeySet, generate_key, key_from_private_text};
pub use keystore::{FileKeyStore, KeyStore, MemoryKeyStore, StoredKey, load_or_generate};
pub use lifecycle::{
    AccountEmailConfig, DeleteAccountRequest, EmailResendRequest, EmailVerification, EmailVerifyRequest,
    PasswordChangeRequest, PasswordChanged, PasswordResetConfirmRequest, PasswordResetRequest,
    ProfileUpdateRequest,
};
pub use mfa::{
    CompletedSignIn, MfaConfirmRequest, MfaPolicy, MfaReauthRequest, MfaRequired, MfaVerifyRequest,
    RecoveryCodes, SignInFlow, SignInOutcome,
};
pub use opaque::{IssuedOpaqueToken, OpaqueTokenAuthenticator, OpaqueTokenConfig, TokenSignInRequest};
pub use service::{IssuedToken, JwtConfig, JwtService, TokenContents};
pub use sessions::{SessionAuthenticator, SessionConfig, StartedSession};
