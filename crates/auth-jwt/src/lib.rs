//! # auth-jwt
//!
//! The JWT engine of Portcullis: access and refresh tokens, verification with the algorithm pinned
//! by configuration, keys from PEM/JWK/secrets, key generation and storage, JWKS, claims and claim
//! requirements. No user, no store, no flow, no HTTP: the sign-in flows that issue these tokens
//! live in `auth-flows`.
//!
//! - [`JwtService`] issues and verifies tokens ([`Claims`], [`TokenKind`], [`ClaimRequirement`]).
//! - [`CompactJws`] splits a token and checks its header, for verifiers of any issuer's tokens.
//! - [`JwtKey`], [`KeySet`], [`generate_key`], [`KeyStore`] ([`FileKeyStore`], [`MemoryKeyStore`]).
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | (none)  |         | the signing backend is jsonwebtoken's `aws_lc_rs` (RS256 verify ~7x `rust_crypto`) |
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

mod claims;
mod jws;
mod keys;
mod keystore;
mod service;

pub use claims::{Audience, ClaimRequirement, ClaimRule, Claims, RESERVED_CLAIMS, TokenKind};
pub use jws::{CompactJws, UniqueJson};
pub use keys::{GeneratedKey, JwtAlgorithm, JwtKey, KeyError, KeySet, generate_key, key_from_private_text};
pub use keystore::{FileKeyStore, KeyStore, MemoryKeyStore, StoredKey, load_or_generate};
pub use service::{IssuedToken, JwtConfig, JwtService, TokenContents};
