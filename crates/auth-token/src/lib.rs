//! # auth-token
//!
//! Opaque tokens and API keys for Portcullis: the DRF `authtoken` done right. Depend on it when
//! you write a token store or a credential adapter; applications reach it through the
//! `portcullis` facade. It is framework-free: no HTTP type appears here.
//!
//! - [`TokenFormat`]: secrets are `<prefix>_<43 base64url characters>` (256 bits from a CSPRNG)
//!   with an identifiable prefix (`pct` for opaque tokens, `pck` for API keys, configurable) so
//!   secret scanners find leaked ones. [`TokenFormat::generate`] gives the secret once, with the
//!   [`TokenHash`] (SHA-256, hex) and the short `lookup` to store; [`TokenFormat::parse`] tells
//!   "not this kind of credential" (`None`) from a hash to look up.
//! - Opaque tokens ([`OpaqueTokenRecord`], [`OpaqueTokenStore`]): several per user, each named,
//!   each belonging to a grant (auth-blacklist's sign-in session), so they appear in the sessions
//!   list and die with their grant. Absolute expiry on every use, optional idle expiry
//!   ([`check_usable`]), `last_used_at` written at most once a minute ([`TOUCH_INTERVAL`]).
//! - API keys ([`ApiKeyRecord`], [`ApiKeyStore`]): standalone machine credentials with scopes,
//!   optional expiry, revocation, and a [`public_view`](ApiKeyRecord::public_view) without the
//!   hash for listings.
//! - [`MemoryOpaqueTokenStore`] and [`MemoryApiKeyStore`] are the reference implementations;
//!   `auth-sea-orm` (feature `token`) has the SQLite/PostgreSQL ones.
//!
//! The database never holds a usable secret: only its hash and the first
//! [`LOOKUP_CHARS`] characters of its random part. Time is never read here: every method that
//! decides by time takes `now` (read it from the injected [`auth_core::Clock`]).
//!
//! ## Features
//!
//! | feature   | default | what it adds |
//! |-----------|---------|--------------|
//! | `testing` | no      | `testing`: the opaque-token and API-key store conformance suites every store implementation runs |
//!
//! ## Example
//!
//! ```
//! use auth_core::UserId;
//! use auth_token::{MemoryOpaqueTokenStore, OpaqueTokenRecord, OpaqueTokenStore, TokenFormat};
//! use chrono::{DateTime, Duration};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), auth_core::AuthError> {
//! let format = TokenFormat::opaque_token();
//! let store = MemoryOpaqueTokenStore::new();
//! let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
//!
//! // Sign-in (after creating grant "g1"): the token is shown once, only its hash is stored.
//! let secret = format.generate();
//! let record = OpaqueTokenRecord::from_secret("t1", &secret, UserId::new("42"), "g1", now, now + Duration::days(30))
//!     .name("laptop".to_owned())
//!     .idle_ttl(Duration::days(7));
//! store.insert(record).await?;
//! let token: String = secret.into_token();
//!
//! // A request: `Authorization: Token pct_...`.
//! let later = now + Duration::hours(1);
//! let Some(hash) = format.parse(&token) else { unreachable!("not an opaque token: try another kind") };
//! let record = store.find_by_hash(&hash).await?.expect("known token");
//! record.check_usable(later).expect("neither expired nor idle");
//! if record.needs_touch(later) {
//!     store.touch(&record.id, later).await?; // at most one write a minute
//! }
//!
//! // Sign-out-all / revoking grant "g1" deletes it.
//! assert_eq!(store.delete_by_grant("g1").await?, 1);
//! assert!(store.find_by_hash(&hash).await?.is_none());
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod api_key;
mod error;
mod format;
mod memory;
mod opaque;
#[cfg(feature = "testing")]
pub mod testing;
mod usable;

pub use api_key::{ApiKeyInfo, ApiKeyRecord, ApiKeyStore, MAX_SCOPE_CHARS, is_valid_scope};
pub use error::TokenError;
pub use format::{
    API_KEY_PREFIX, GeneratedSecret, LOOKUP_CHARS, MAX_PREFIX_CHARS, MIN_PREFIX_CHARS, OPAQUE_TOKEN_PREFIX,
    SECRET_BYTES, SECRET_CHARS, TokenFormat, TokenHash,
};
pub use memory::{MemoryApiKeyStore, MemoryOpaqueTokenStore};
pub use opaque::{OpaqueTokenRecord, OpaqueTokenStore, check_usable};
pub use usable::{MAX_NAME_CHARS, TOUCH_INTERVAL, TokenUnusable, touch_cutoff, touch_due};
