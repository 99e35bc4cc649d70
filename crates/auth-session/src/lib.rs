//! # auth-session
//!
//! Server-side cookie sessions for Portcullis: the framework-free foundation. Depend on it when
//! you write a session store or an adapter; applications reach it through the `portcullis`
//! facade. No web framework type appears here (only the `http` crate's request parts and headers).
//!
//! - [`SessionId`]: session ids are 256 bits from a CSPRNG, base64url in the cookie, and stored
//!   only as their SHA-256 [`TokenHash`].
//! - [`SessionRecord`] and [`SessionStore`]: every session belongs to a grant (auth-blacklist's
//!   sign-in session, `grant_id`), so it is listed and revoked with the grant machinery. Idle and
//!   absolute timeouts ([`check_usable`]), `last_seen_at` written at most once a minute
//!   ([`TOUCH_INTERVAL`]), id rotation against session fixation ([`SessionStore::rotate`]), and
//!   typed application data ([`SessionRecord::get`], [`SessionRecord::insert`]).
//! - [`MemorySessionStore`]: the reference implementation; `auth-sea-orm` (feature `session`) has
//!   the SQLite/PostgreSQL one.
//! - [`SessionCookie`], [`CsrfCookie`], [`generate_csrf_token`] and [`check_csrf`]: the cookies'
//!   attributes (`HttpOnly`, `SameSite=Lax`, `Secure` and the `__Host-` prefix unless the
//!   development switch is on) and the double-submit CSRF check with `Origin` and
//!   `Sec-Fetch-Site`.
//!
//! Time is never read here: every method that decides by time takes `now` (read it from the
//! injected [`auth_core::Clock`]).
//!
//! ## Features
//!
//! | feature   | default | what it adds |
//! |-----------|---------|--------------|
//! | `testing` | no      | `testing`: the session store conformance suite every store implementation runs |
//!
//! ## Example
//!
//! ```
//! use auth_core::UserId;
//! use auth_session::{MemorySessionStore, SessionCookie, SessionId, SessionRecord, SessionStore};
//! use chrono::{DateTime, Duration};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MemorySessionStore::new();
//! let cookie = SessionCookie::new(Duration::days(14));
//! let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
//!
//! // Sign-in (after creating grant "g1"): the id goes in the cookie, its hash in the store.
//! let (value, hash) = SessionId::generate();
//! let mut session = SessionRecord::new("s1", hash, UserId::new("42"), "g1", now, now + Duration::days(14), Duration::hours(2));
//! session.insert("cart", &vec![3, 4])?;
//! store.insert(session).await?;
//! let set_cookie = cookie.set(&value);
//! # let _ = set_cookie;
//!
//! // A request carrying the cookie.
//! let later = now + Duration::minutes(5);
//! let Some(hash) = SessionId::parse(&value) else { unreachable!("no session") };
//! let session = store.find_by_hash(&hash).await?.expect("known session");
//! session.check_usable(later)?;
//! if session.needs_touch(later) {
//!     store.touch(&session.id, later).await?; // at most one write a minute
//! }
//! assert_eq!(session.get::<Vec<u32>>("cart")?, Some(vec![3, 4]));
//!
//! // Sign-out-all / revoking grant "g1" ends it.
//! assert_eq!(store.delete_by_grant("g1").await?, 1);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod cookie;
mod error;
mod id;
mod memory;
mod record;
#[cfg(feature = "testing")]
pub mod testing;

pub use auth_token::{TOUCH_INTERVAL, TokenHash, touch_cutoff, touch_due};
pub use cookie::{
    CSRF_COOKIE_NAME, CSRF_COOKIE_SECURE_NAME, CSRF_HEADER, CSRF_TOKEN_BYTES, CsrfCookie, CsrfToken,
    SESSION_COOKIE_NAME, SESSION_COOKIE_SECURE_NAME, SessionCookie, check_csrf, generate_csrf_token,
    is_safe_method,
};
pub use error::SessionError;
pub use id::{SESSION_ID_BYTES, SESSION_ID_CHARS, SessionId};
pub use memory::MemorySessionStore;
pub use record::{SessionRecord, SessionStore, SessionUnusable, check_usable};
