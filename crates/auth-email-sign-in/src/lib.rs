//! # auth-email-sign-in
//!
//! Passwordless sign-in by email for Portcullis ("magic links" and "login by code"): a request
//! emails a single-use link (`{frontend}/sign-in-link?token=…`, 256 random bits) and a 6-digit
//! code; either one, used within 10 minutes, signs the user in.
//!
//! - [`PendingEmailSignIn`] and [`EmailSignInStore`]: what a request sent, stored only as hashes
//!   (the token as SHA-256, the code as an HMAC under the deployment's [`CodeKey`]); one pending
//!   sign-in per address, replaced by a newer request; a code dies after 5 wrong tries. In memory
//!   here ([`MemoryEmailSignInStore`]), on SQLite/PostgreSQL in `auth-sea-orm` (feature
//!   `email-sign-in`).
//! - With `flows`: [`EmailSignIn`], a first factor of `auth-flows`' sign-in pipeline (account
//!   checks, the MFA step, the credential of the chosen flow; `amr` `["email"]`), with its routes
//!   `POST /api/auth/email-sign-in` (202 for every address) and
//!   `POST /api/auth/email-sign-in/confirm`.
//!
//! ```
//! use std::sync::Arc;
//! use auth_email_sign_in::{CodeKey, EmailSignInStore, MemoryEmailSignInStore, PendingEmailSignIn};
//!
//! # tokio_test();
//! # fn tokio_test() {
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! # rt.block_on(async {
//! let store = MemoryEmailSignInStore::new();
//! let key = CodeKey::generate();
//! let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
//! let (token, token_hash) = auth_core::account_tokens::generate_account_token();
//! let digest = key.digest("alice@example.com", "123456");
//! let pending = PendingEmailSignIn::new("alice@example.com", None, token_hash.clone(), digest, now,
//!     now + chrono::Duration::minutes(10));
//! store.replace(&pending).await.unwrap();
//! assert!(store.consume_token(&token_hash, 5, now).await.unwrap().is_some());
//! assert!(store.consume_token(&token_hash, 5, now).await.unwrap().is_none(), "single use");
//! # let _ = token;
//! # });
//! # }
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | (none)  |         | [`EmailSignInStore`], [`MemoryEmailSignInStore`], [`CodeKey`], code generation |
//! | `flows` | | [`EmailSignIn`]: the first factor and its routes (needs `auth-flows`' account emails) |
//! | `jwt`, `opaque-tokens`, `sessions` | | the sign-in flows it may complete |
//! | `openapi` | | the routes' operations in the served OpenAPI document |
//! | `testing` | | `testing::email_sign_in_store_conformance`, the suite every store runs |

#![forbid(unsafe_code)]

mod code;
#[cfg(feature = "flows")]
mod flow;
#[cfg(feature = "openapi")]
pub mod openapi;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use code::{CODE_DIGITS, CodeKey, generate_code, is_code, normalize_email};
#[cfg(feature = "flows")]
pub use flow::{EmailProof, EmailSignIn, EmailSignInConfig, paths};
pub use store::{CodeCheck, EmailSignInStore, MemoryEmailSignInStore, PendingEmailSignIn};
