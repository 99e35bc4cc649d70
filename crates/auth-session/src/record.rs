//! The session record, its expiry check and the store trait.

use std::fmt::Debug;

use async_trait::async_trait;
use auth_core::{AuthError, TokenRejection, UserId};
use auth_token::{TokenHash, touch_due};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::SessionError;

/// One cookie session as a store records it: the hash of its id, never the id.
///
/// Every session belongs to a grant (auth-blacklist's sign-in session, `grant_id`): it is listed
/// and revoked with the grant machinery, and revoking the grant (sign-out-all, password change,
/// deactivation) must delete its sessions with [`SessionStore::delete_by_grant`] /
/// [`SessionStore::delete_for_user`].
///
/// ```
/// use auth_core::UserId;
/// use auth_session::{SessionId, SessionRecord, SessionUnusable};
/// use chrono::{DateTime, Duration};
///
/// let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
/// let (_cookie_value, hash) = SessionId::generate();
/// let mut session =
///     SessionRecord::new("s1", hash, UserId::new("42"), "g1", now, now + Duration::days(14), Duration::hours(2));
/// session.insert("theme", &"dark")?;
/// assert_eq!(session.get::<String>("theme")?.as_deref(), Some("dark"));
/// assert_eq!(session.check_usable(now + Duration::hours(1)), Ok(()));
/// assert_eq!(session.check_usable(now + Duration::hours(2)), Err(SessionUnusable::Idle));
/// # Ok::<(), auth_session::SessionError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SessionRecord {
    /// The internal row id (a random UUID, say); unique. Never the cookie value.
    pub id: String,
    /// The SHA-256 hash of the cookie value; unique. Changes on [`SessionStore::rotate`].
    pub hash: TokenHash,
    /// Whose session it is.
    pub user_id: UserId,
    /// The grant (sign-in session) the session belongs to.
    pub grant_id: String,
    /// When the session was created (sign-in).
    pub created_at: DateTime<Utc>,
    /// The last use, written at most once a minute (see [`TOUCH_INTERVAL`](crate::TOUCH_INTERVAL));
    /// the creation time until the first write.
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end of the session, however often it is used.
    pub expires_at: DateTime<Utc>,
    /// The idle timeout (whole seconds): unused for this long, the session ends.
    pub idle_ttl: Duration,
    /// Application data, stored as a JSON object: use [`get`](Self::get) and
    /// [`insert`](Self::insert), then [`SessionStore::set_data`].
    pub data: Map<String, Value>,
    /// How the user authenticated at sign-in (`amr`, RFC 8176): `["pwd"]` by default,
    /// `["pwd", "otp"]` after a TOTP step.
    pub amr: Vec<String>,
}

impl SessionRecord {
    /// A session without data, `last_seen_at = created_at`, the idle timeout cut to whole seconds.
    pub fn new(
        id: impl Into<String>,
        hash: TokenHash,
        user_id: UserId,
        grant_id: impl Into<String>,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        idle_ttl: Duration,
    ) -> Self {
        Self {
            id: id.into(),
            hash,
            user_id,
            grant_id: grant_id.into(),
            created_at,
            last_seen_at: created_at,
            expires_at,
            idle_ttl: Duration::seconds(idle_ttl.num_seconds()),
            data: Map::new(),
            amr: vec!["pwd".to_owned()],
        }
    }

    /// Sets how the user authenticated (`amr`).
    pub fn amr(mut self, amr: Vec<String>) -> Self {
        self.amr = amr;
        self
    }

    /// When the session goes idle: `last_seen_at + idle_ttl` (`None` when beyond the
    /// representable range: never).
    pub fn idle_deadline(&self) -> Option<DateTime<Utc>> {
        self.last_seen_at.checked_add_signed(self.idle_ttl)
    }

    /// `Ok` when the session authenticates at `now`: see [`check_usable`].
    pub fn check_usable(&self, now: DateTime<Utc>) -> Result<(), SessionUnusable> {
        if self.expires_at <= now {
            Err(SessionUnusable::Expired)
        } else if self.idle_deadline().is_some_and(|deadline| deadline <= now) {
            Err(SessionUnusable::Idle)
        } else {
            Ok(())
        }
    }

    /// Whether [`SessionStore::touch`] at `now` would write: call the store only then, and a
    /// request costs no statement within the minute.
    pub fn needs_touch(&self, now: DateTime<Utc>) -> bool {
        touch_due(Some(self.last_seen_at), now)
    }

    /// The data value under `key` as a `T`: `Ok(None)` when absent, [`SessionError::Data`] when
    /// it is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        match self.data.get(key) {
            None => Ok(None),
            Some(value) => serde_json::from_value(value.clone())
                .map(Some)
                .map_err(|source| SessionError::Data { key: key.to_owned(), source }),
        }
    }

    /// Stores `value` under `key` (in this record: save it with [`SessionStore::set_data`]).
    /// Returns the previous value.
    pub fn insert<T: Serialize + ?Sized>(
        &mut self,
        key: &str,
        value: &T,
    ) -> Result<Option<Value>, SessionError> {
        let value = serde_json::to_value(value)
            .map_err(|source| SessionError::Data { key: key.to_owned(), source })?;
        Ok(self.data.insert(key.to_owned(), value))
    }

    /// Removes the value under `key`, returning it.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.data.remove(key)
    }
}

/// Why a stored session no longer authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionUnusable {
    /// Past its absolute expiry (`expires_at <= now`).
    #[error("the session has expired")]
    Expired,
    /// Unused for longer than its idle timeout (`last_seen_at + idle_ttl <= now`).
    #[error("the session has been idle for too long")]
    Idle,
}

impl From<SessionUnusable> for TokenRejection {
    /// Both become [`TokenRejection::Expired`].
    fn from(_: SessionUnusable) -> Self {
        TokenRejection::Expired
    }
}

/// Whether a session authenticates at `now`: [`SessionUnusable::Expired`] when
/// `expires_at <= now` (checked first), [`SessionUnusable::Idle`] when
/// `last_seen_at + idle_ttl <= now`, else `Ok`.
///
/// Whether its grant is revoked is the grant machinery's business (auth-blacklist), checked
/// separately.
pub fn check_usable(record: &SessionRecord, now: DateTime<Utc>) -> Result<(), SessionUnusable> {
    record.check_usable(now)
}

/// Storage of cookie sessions.
///
/// Every method that decides by time takes `now` explicitly (read it from the injected
/// [`auth_core::Clock`]); stores never read the wall clock. `Err` is for infrastructure failures
/// and caller bugs only: an unknown session is `Ok(None)` / `Ok(false)`.
///
/// [`MemorySessionStore`](crate::MemorySessionStore) is the reference implementation; every
/// implementation must pass `testing::session_store_conformance` (feature `testing`).
#[async_trait]
pub trait SessionStore: Debug + Send + Sync + 'static {
    /// Records a new session. An id or hash that already exists is an [`AuthError::Backend`]
    /// wrapping [`SessionError::Duplicate`].
    async fn insert(&self, record: SessionRecord) -> Result<(), AuthError>;

    /// The session with this hash, whatever its expiry (check it with [`check_usable`]).
    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, AuthError>;

    /// Sets `last_seen_at = now`, but only when the stored value is older than
    /// `now - ` [`TOUCH_INTERVAL`](crate::TOUCH_INTERVAL), in ONE conditional write: of concurrent
    /// calls at the same `now`, at most one writes. Returns whether it wrote (`false` too for an
    /// unknown id). `last_seen_at` never moves back.
    async fn touch(&self, id: &str, now: DateTime<Utc>) -> Result<bool, AuthError>;

    /// Session-fixation defence (call it at sign-in and on every privilege change): gives the
    /// session with `old_hash` the id hash `new_hash`, atomically. The same session (row id, user,
    /// grant, data, expiry) goes on under the new id; the old id stops working at once.
    ///
    /// Returns the rotated record, with `last_seen_at` moved to `now` (never back), or `None` when
    /// no session has `old_hash` or it is no longer usable at `now` (then nothing changes). Of
    /// concurrent rotations of one old hash exactly one succeeds. A `new_hash` already in use is
    /// an [`AuthError::Backend`] wrapping [`SessionError::Duplicate`].
    async fn rotate(
        &self,
        old_hash: &TokenHash,
        new_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, AuthError>;

    /// Replaces the session's application data. Returns whether the session exists.
    async fn set_data(&self, id: &str, data: Map<String, Value>) -> Result<bool, AuthError>;

    /// Sets one key of the session's data to `value` (`None` removes it), atomically: the store
    /// reads, changes and writes the data in one step, so concurrent writes of *different* keys
    /// all survive (of concurrent writes of one key, one wins). Returns whether the session
    /// exists.
    async fn set_value(&self, id: &str, key: &str, value: Option<Value>) -> Result<bool, AuthError>;

    /// Deletes one session (sign-out). Returns whether it existed.
    async fn delete(&self, id: &str) -> Result<bool, AuthError>;

    /// Deletes every session of a grant (the grant was revoked). Returns how many.
    async fn delete_by_grant(&self, grant_id: &str) -> Result<u64, AuthError>;

    /// Deletes every session of a user (sign-out-all, password change, deactivation). Returns how
    /// many.
    async fn delete_for_user(&self, user_id: &UserId) -> Result<u64, AuthError>;

    /// Deletes the sessions that are expired (`expires_at <= now`) or idle
    /// (`last_seen_at + idle_ttl <= now`) at `now`. Returns how many.
    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError>;
}
