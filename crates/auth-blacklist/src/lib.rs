//! # auth-blacklist
//!
//! Grants, refresh-token rotation with reuse detection, and revocation for Portcullis. Depend on
//! it when you write a grant store or a token flow; applications reach it through the `portcullis`
//! facade. It knows nothing of JWTs: grant and token ids are plain strings.
//!
//! - A [`Grant`] is one sign-in and the family of refresh tokens descending from it. Every refresh
//!   consumes the presented token and records its successor ([`GrantStore::rotate`], atomic even
//!   under concurrent calls); presenting a consumed token again is [`RotateOutcome::Reused`], and
//!   the caller revokes the family.
//! - [`GrantStore`]: grants, refresh-token records, revocations (with an event log other processes
//!   follow) and user not-befores. [`MemoryGrantStore`] is the reference
//!   implementation; `auth-sea-orm` has the SQLite/PostgreSQL one.
//! - [`RevocationList`]: the in-process cache every access-token check consults without touching
//!   the store, kept current by [`RevocationList::spawn_sync`].
//!
//! Time is never read here: every method that decides by time takes `now`.
//!
//! ## Features
//!
//! | feature   | default | what it adds |
//! |-----------|---------|--------------|
//! | `testing` | no      | `testing`: the grant-store conformance suites every store implementation runs |
//!
//! ## Example
//!
//! ```
//! use auth_blacklist::{GrantStore, MemoryGrantStore, NewGrant, RefreshRecord, RevocationList, RotateOutcome};
//! use auth_core::UserId;
//! use chrono::{DateTime, Duration};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), auth_core::AuthError> {
//! let store = MemoryGrantStore::new();
//! let alice = UserId::new("alice");
//! let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
//! let (end, idle) = (now + Duration::days(30), Duration::days(7));
//!
//! // Sign-in: a grant and its first refresh token.
//! let grant = NewGrant::new("g1", alice.clone(), now, end).user_agent("curl/8.5".to_owned());
//! store.create_grant(grant, RefreshRecord::new("jti-a", "g1", alice.clone(), now, end)).await?;
//!
//! // Refresh: "jti-a" is consumed and replaced by "jti-b".
//! let next = RefreshRecord::new("jti-b", "g1", alice.clone(), now, end);
//! let RotateOutcome::Rotated { grant } = store.rotate("jti-a", next, now, idle).await? else { panic!() };
//! assert_eq!(grant.id, "g1");
//!
//! // "jti-a" again: a replay. The caller revokes the grant; other processes learn of it.
//! let replay = RefreshRecord::new("jti-x", "g1", alice.clone(), now, end);
//! assert!(matches!(store.rotate("jti-a", replay, now, idle).await?, RotateOutcome::Reused { .. }));
//! assert!(store.revoke_grant("g1", now).await?);
//!
//! let revocations = RevocationList::new();
//! revocations.sync(&store).await?;
//! assert!(revocations.is_revoked(Some("g1"), &alice, now));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod error;
mod grant;
mod memory;
mod revocation;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::BlacklistError;
pub use grant::{
    GRANT_KIND_JWT, Grant, MAX_IP_CHARS, MAX_USER_AGENT_CHARS, NewGrant, RefreshRecord, RevocationEvent,
    RevocationSnapshot, RotateOutcome,
};
pub use memory::MemoryGrantStore;
pub use revocation::{RevocationList, SyncTask};
pub use store::GrantStore;
