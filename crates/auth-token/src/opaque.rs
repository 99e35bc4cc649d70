//! Opaque tokens: the record, the store trait and the expiry check.

use std::fmt::Debug;

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use chrono::{DateTime, Duration, Utc};

use crate::usable::{idle_deadline, touch_due, truncate_chars, whole_seconds};
use crate::{GeneratedSecret, MAX_NAME_CHARS, TokenHash, TokenUnusable};

/// One opaque token as a store records it: its hash, never the token.
///
/// Every opaque token belongs to a grant (auth-blacklist's sign-in session, `grant_id`): it shows
/// up in the sessions list, and revoking the grant (sign-out-all, password change, deactivation)
/// must delete its tokens with [`OpaqueTokenStore::delete_by_grant`] /
/// [`OpaqueTokenStore::delete_for_user`].
///
/// ```
/// use auth_core::UserId;
/// use auth_token::{OpaqueTokenRecord, TokenFormat, TokenUnusable};
/// use chrono::{DateTime, Duration};
///
/// let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
/// let secret = TokenFormat::opaque_token().generate();
/// let record = OpaqueTokenRecord::from_secret("t1", &secret, UserId::new("42"), "g1", now, now + Duration::days(30))
///     .name("laptop".to_owned())
///     .idle_ttl(Duration::days(7));
/// assert_eq!(record.check_usable(now + Duration::days(1)), Ok(()));
/// assert_eq!(record.check_usable(now + Duration::days(8)), Err(TokenUnusable::Idle));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpaqueTokenRecord {
    /// The record id (a random UUID, say); unique.
    pub id: String,
    /// The hash of the token; unique.
    pub hash: TokenHash,
    /// The first characters of the token's random part, to show in listings.
    pub lookup: String,
    /// Whose token it is.
    pub user_id: UserId,
    /// The grant (sign-in session) the token belongs to.
    pub grant_id: String,
    /// The device or client name the user gave.
    pub name: Option<String>,
    /// When the token was issued.
    pub created_at: DateTime<Utc>,
    /// The absolute end of the token, however often it is used.
    pub expires_at: DateTime<Utc>,
    /// The idle timeout (whole seconds): unused for this long, the token stops working.
    pub idle_ttl: Option<Duration>,
    /// The last use, written at most once a minute (see [`TOUCH_INTERVAL`](crate::TOUCH_INTERVAL));
    /// the issue time until the first write.
    pub last_used_at: DateTime<Utc>,
    /// How the user authenticated to get the token (`amr`, RFC 8176): `["pwd"]` by default,
    /// `["pwd", "otp"]` after a TOTP step.
    pub amr: Vec<String>,
}

impl OpaqueTokenRecord {
    /// A record without name and idle timeout, `last_used_at = created_at`.
    pub fn new(
        id: impl Into<String>,
        hash: TokenHash,
        lookup: impl Into<String>,
        user_id: UserId,
        grant_id: impl Into<String>,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            hash,
            lookup: lookup.into(),
            user_id,
            grant_id: grant_id.into(),
            name: None,
            created_at,
            expires_at,
            idle_ttl: None,
            last_used_at: created_at,
            amr: vec!["pwd".to_owned()],
        }
    }

    /// [`OpaqueTokenRecord::new`] with the hash and lookup of a freshly generated secret.
    pub fn from_secret(
        id: impl Into<String>,
        secret: &GeneratedSecret,
        user_id: UserId,
        grant_id: impl Into<String>,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self::new(id, secret.hash().clone(), secret.lookup(), user_id, grant_id, created_at, expires_at)
    }

    /// Sets the name (a `String` or an `Option<String>`), cut to [`MAX_NAME_CHARS`].
    pub fn name(mut self, name: impl Into<Option<String>>) -> Self {
        self.name = name.into().map(|name| truncate_chars(name, MAX_NAME_CHARS));
        self
    }

    /// Sets how the user authenticated (`amr`).
    pub fn amr(mut self, amr: Vec<String>) -> Self {
        self.amr = amr;
        self
    }

    /// Sets the idle timeout (a `Duration` or an `Option<Duration>`), cut to whole seconds.
    ///
    /// `last_used_at` moves at most once a minute, so an idle timeout should be much longer than a
    /// minute: a token used every 30 s with a 45 s idle timeout would expire although in use.
    pub fn idle_ttl(mut self, idle_ttl: impl Into<Option<Duration>>) -> Self {
        self.idle_ttl = idle_ttl.into().map(whole_seconds);
        self
    }

    /// When the token goes idle: `last_used_at + idle_ttl` (`None` without idle timeout, or when
    /// beyond the representable range).
    pub fn idle_deadline(&self) -> Option<DateTime<Utc>> {
        self.idle_ttl.and_then(|ttl| idle_deadline(self.last_used_at, ttl))
    }

    /// `Ok` when the token authenticates at `now`: see [`check_usable`].
    pub fn check_usable(&self, now: DateTime<Utc>) -> Result<(), TokenUnusable> {
        if self.expires_at <= now {
            Err(TokenUnusable::Expired)
        } else if self.idle_deadline().is_some_and(|deadline| deadline <= now) {
            Err(TokenUnusable::Idle)
        } else {
            Ok(())
        }
    }

    /// Whether [`OpaqueTokenStore::touch`] at `now` would write (see
    /// [`touch_due`](crate::touch_due)): call the store only then, and a request costs no write,
    /// nor even a statement, within the minute.
    pub fn needs_touch(&self, now: DateTime<Utc>) -> bool {
        touch_due(Some(self.last_used_at), now)
    }
}

/// Whether an opaque token authenticates at `now`: [`TokenUnusable::Expired`] when
/// `expires_at <= now` (checked first), [`TokenUnusable::Idle`] when it has an idle timeout and
/// `last_used_at + idle_ttl <= now`, else `Ok`.
///
/// Whether its grant is revoked is the grant machinery's business (auth-blacklist), checked
/// separately.
pub fn check_usable(record: &OpaqueTokenRecord, now: DateTime<Utc>) -> Result<(), TokenUnusable> {
    record.check_usable(now)
}

/// Storage of opaque-token records.
///
/// Every method that decides by time takes `now` explicitly (read it from the injected
/// [`auth_core::Clock`]); stores never read the wall clock. `Err` is for infrastructure failures
/// and caller bugs only: an unknown token is `Ok(None)`.
///
/// [`MemoryOpaqueTokenStore`](crate::MemoryOpaqueTokenStore) is the reference implementation;
/// every implementation must pass `testing::opaque_token_store_conformance` (feature `testing`).
#[async_trait]
pub trait OpaqueTokenStore: Debug + Send + Sync + 'static {
    /// Records a new token. An id or hash that already exists is an [`AuthError::Backend`]
    /// wrapping [`TokenError::Duplicate`](crate::TokenError::Duplicate).
    async fn insert(&self, record: OpaqueTokenRecord) -> Result<(), AuthError>;

    /// The token with this hash, whatever its expiry (check it with [`check_usable`]).
    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<OpaqueTokenRecord>, AuthError>;

    /// Sets `last_used_at = now`, but only when the stored value is older than
    /// `now - ` [`TOUCH_INTERVAL`](crate::TOUCH_INTERVAL), in ONE conditional write: of any number
    /// of concurrent calls at the same `now`, at most one writes. Returns whether it wrote (`false`
    /// too for an unknown id). `last_used_at` never moves back.
    async fn touch(&self, id: &str, now: DateTime<Utc>) -> Result<bool, AuthError>;

    /// Deletes one token (sign-out). Returns whether it existed.
    async fn delete(&self, id: &str) -> Result<bool, AuthError>;

    /// Deletes every token of a grant (the grant was revoked). Returns how many.
    async fn delete_by_grant(&self, grant_id: &str) -> Result<u64, AuthError>;

    /// Deletes every token of a user (sign-out-all, password change, deactivation). Returns how
    /// many.
    async fn delete_for_user(&self, user_id: &UserId) -> Result<u64, AuthError>;

    /// The user's tokens, newest (`created_at`, then id) first. Expired and idle ones are included
    /// until flushed: filter with [`check_usable`].
    async fn list_for_user(&self, user_id: &UserId) -> Result<Vec<OpaqueTokenRecord>, AuthError>;

    /// Deletes the tokens that are expired (`expires_at <= now`) or idle
    /// (`last_used_at + idle_ttl <= now`) at `now`. Returns how many.
    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError>;
}
