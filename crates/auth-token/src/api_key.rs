//! API keys: the record, its public view, the store trait.

use std::fmt::Debug;

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::usable::{touch_due, truncate_chars};
use crate::{GeneratedSecret, MAX_NAME_CHARS, TokenHash, TokenUnusable};

/// The longest accepted scope, in bytes.
pub const MAX_SCOPE_CHARS: usize = 128;

/// Whether `scope` is a valid scope name: 1 to [`MAX_SCOPE_CHARS`] printable ASCII characters
/// other than space, `"` and `\` (an RFC 6749 `scope-token`, so that it can appear in a
/// `WWW-Authenticate` challenge).
///
/// ```
/// assert!(auth_token::is_valid_scope("notes:read"));
/// assert!(!auth_token::is_valid_scope("notes read"));
/// assert!(!auth_token::is_valid_scope(""));
/// ```
pub fn is_valid_scope(scope: &str) -> bool {
    (1..=MAX_SCOPE_CHARS).contains(&scope.len())
        && scope.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

/// One API key as a store records it: its hash, never the key.
///
/// API keys are standalone machine credentials (not grants): they live until they expire or are
/// revoked, and carry scopes that routes check ([`ApiKeyRecord::has_scope`]). Never serialise the
/// record itself (it has no `Serialize`): show [`ApiKeyRecord::public_view`].
///
/// ```
/// use auth_core::UserId;
/// use auth_token::{ApiKeyRecord, TokenFormat, TokenUnusable};
/// use chrono::{DateTime, Duration};
///
/// let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
/// let secret = TokenFormat::api_key().generate();
/// let key = ApiKeyRecord::from_secret("k1", &secret, UserId::new("42"), "ci", vec!["notes:read".into()], now)
///     .expires_at(now + Duration::days(90));
/// assert!(key.has_scope("notes:read") && !key.has_scope("notes:write"));
/// assert_eq!(key.check_usable(now + Duration::days(91)), Err(TokenUnusable::Expired));
/// let shown = serde_json::to_value(key.public_view()).unwrap();
/// assert!(shown.get("hash").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiKeyRecord {
    /// The key id (a random UUID, say); unique, the `{id}` of `DELETE /api/auth/api-keys/{id}`.
    pub id: String,
    /// The hash of the key; unique.
    pub hash: TokenHash,
    /// The first characters of the key's random part, to show in listings.
    pub lookup: String,
    /// Whose key it is.
    pub user_id: UserId,
    /// The name the user gave the key.
    pub name: String,
    /// The scopes the key grants, sorted, without duplicates.
    pub scopes: Vec<String>,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
    /// When the key stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// The last use, written at most once a minute (see [`TOUCH_INTERVAL`](crate::TOUCH_INTERVAL)).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the key was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyRecord {
    /// A key that never expires (see [`ApiKeyRecord::expires_at`]), never used, not revoked. The
    /// name is cut to [`MAX_NAME_CHARS`]; the scopes are sorted and deduplicated (validate them
    /// with [`is_valid_scope`] first).
    pub fn new(
        id: impl Into<String>,
        hash: TokenHash,
        lookup: impl Into<String>,
        user_id: UserId,
        name: impl Into<String>,
        mut scopes: Vec<String>,
        created_at: DateTime<Utc>,
    ) -> Self {
        scopes.sort();
        scopes.dedup();
        Self {
            id: id.into(),
            hash,
            lookup: lookup.into(),
            user_id,
            name: truncate_chars(name.into(), MAX_NAME_CHARS),
            scopes,
            created_at,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        }
    }

    /// [`ApiKeyRecord::new`] with the hash and lookup of a freshly generated secret.
    pub fn from_secret(
        id: impl Into<String>,
        secret: &GeneratedSecret,
        user_id: UserId,
        name: impl Into<String>,
        scopes: Vec<String>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self::new(id, secret.hash().clone(), secret.lookup(), user_id, name, scopes, created_at)
    }

    /// Sets the expiry (a `DateTime` or an `Option<DateTime>`).
    pub fn expires_at(mut self, expires_at: impl Into<Option<DateTime<Utc>>>) -> Self {
        self.expires_at = expires_at.into();
        self
    }

    /// `Ok` when the key authenticates at `now`: [`TokenUnusable::Revoked`] when revoked (checked
    /// first), [`TokenUnusable::Expired`] when `expires_at <= now`.
    pub fn check_usable(&self, now: DateTime<Utc>) -> Result<(), TokenUnusable> {
        if self.revoked_at.is_some() {
            Err(TokenUnusable::Revoked)
        } else if self.expires_at.is_some_and(|end| end <= now) {
            Err(TokenUnusable::Expired)
        } else {
            Ok(())
        }
    }

    /// Whether the key grants `scope` (exact match).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether [`ApiKeyStore::touch`] at `now` would write (see [`touch_due`](crate::touch_due)).
    pub fn needs_touch(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && touch_due(self.last_used_at, now)
    }

    /// What the key's owner may see of it: everything but the hash and the revocation.
    pub fn public_view(&self) -> ApiKeyInfo {
        ApiKeyInfo {
            id: self.id.clone(),
            lookup: self.lookup.clone(),
            name: self.name.clone(),
            scopes: self.scopes.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
        }
    }
}

/// An API key as listed to its owner (`GET /api/auth/api-keys`): no hash, no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyInfo {
    /// The key id.
    pub id: String,
    /// The first characters of the key's random part (the key reads `<prefix>_<lookup>...`).
    pub lookup: String,
    /// The key's name.
    pub name: String,
    /// The scopes it grants.
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used (to the minute), if ever.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Storage of API-key records.
///
/// Every method that decides by time takes `now` explicitly; stores never read the wall clock.
/// `Err` is for infrastructure failures and caller bugs only: an unknown key is `Ok(None)`.
///
/// [`MemoryApiKeyStore`](crate::MemoryApiKeyStore) is the reference implementation; every
/// implementation must pass `testing::api_key_store_conformance` (feature `testing`).
#[async_trait]
pub trait ApiKeyStore: Debug + Send + Sync + 'static {
    /// Records a new key. An id or hash that already exists is an [`AuthError::Backend`]
    /// wrapping [`TokenError::Duplicate`](crate::TokenError::Duplicate).
    async fn insert(&self, record: ApiKeyRecord) -> Result<(), AuthError>;

    /// The key with this hash, whatever its state (revoked and expired ones included: check it
    /// with [`ApiKeyRecord::check_usable`]).
    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiKeyRecord>, AuthError>;

    /// Sets `last_used_at = now` when the key is not revoked and its `last_used_at` is unset or
    /// older than `now - ` [`TOUCH_INTERVAL`](crate::TOUCH_INTERVAL), in ONE conditional write: of
    /// any number of concurrent calls at the same `now`, at most one writes. Returns whether it
    /// wrote (`false` too for an unknown id).
    async fn touch(&self, id: &str, now: DateTime<Utc>) -> Result<bool, AuthError>;

    /// Revokes the key if it is the user's and not revoked yet. `false` otherwise (unknown,
    /// someone else's, already revoked): the caller answers 404, revealing nothing.
    async fn revoke(&self, user_id: &UserId, id: &str, now: DateTime<Utc>) -> Result<bool, AuthError>;

    /// Revokes every key of the user that is not revoked yet. Returns how many.
    async fn revoke_all_for_user(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<u64, AuthError>;

    /// The user's keys that are not revoked, newest (`created_at`, then id) first. Expired ones
    /// are included until flushed. Show them with [`ApiKeyRecord::public_view`].
    async fn list_for_user(&self, user_id: &UserId) -> Result<Vec<ApiKeyRecord>, AuthError>;

    /// Deletes the keys that are expired (`expires_at <= now`) or revoked (`revoked_at <= now`).
    /// Returns how many.
    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError>;
}
