//! The plain types a [`GrantStore`](crate::GrantStore) stores and returns.

use auth_core::UserId;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The longest user agent a [`NewGrant`] keeps, in characters; longer ones are cut.
pub const MAX_USER_AGENT_CHARS: usize = 512;
/// The longest client address a [`NewGrant`] keeps, in characters; longer ones are cut.
pub const MAX_IP_CHARS: usize = 64;

/// A grant: one sign-in and the family of refresh tokens that descends from it (a "session" in
/// the sessions list). Revoking it kills every refresh token of the family, and the access tokens
/// that carry its id.
///
/// Stores build it with [`Grant::from_new`] and then set the fields that changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Grant {
    /// The grant id (the `sid` claim of its tokens).
    pub id: String,
    /// Whose grant it is.
    pub user_id: UserId,
    /// When the user signed in.
    pub created_at: DateTime<Utc>,
    /// The last successful rotation (the sign-in time until the first one).
    pub last_used_at: DateTime<Utc>,
    /// The absolute end of the grant, however often it is refreshed.
    pub expires_at: DateTime<Utc>,
    /// The `User-Agent` of the sign-in request.
    pub user_agent: Option<String>,
    /// The client address of the sign-in request.
    pub ip: Option<String>,
    /// What kind of credential the grant backs (see [`NewGrant::kind`]).
    pub kind: String,
    /// When the grant was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Grant {
    /// The grant as [`GrantStore::create_grant`](crate::GrantStore::create_grant) records it:
    /// `last_used_at = created_at`, not revoked.
    pub fn from_new(new: NewGrant) -> Self {
        Self {
            id: new.id,
            user_id: new.user_id,
            created_at: new.created_at,
            last_used_at: new.created_at,
            expires_at: new.expires_at,
            user_agent: new.user_agent,
            ip: new.ip,
            kind: new.kind,
            revoked_at: None,
        }
    }

    /// Whether the grant is past its absolute end (`expires_at <= now`) or, for a JWT grant, has
    /// been idle too long (`last_used_at + idle_ttl <= now`: its refresh tokens went unused).
    /// Grants of other kinds (opaque tokens, cookie sessions) do not idle here: their credentials
    /// carry their own idle timeouts. Revocation is not considered.
    pub fn is_expired(&self, now: DateTime<Utc>, idle_ttl: Duration) -> bool {
        self.expires_at <= now
            || (self.kind == GRANT_KIND_JWT
                && idle_deadline(self.last_used_at, idle_ttl).is_some_and(|end| end <= now))
    }

    /// Whether the grant is neither revoked nor expired nor idle at `now`.
    pub fn is_active(&self, now: DateTime<Utc>, idle_ttl: Duration) -> bool {
        self.revoked_at.is_none() && !self.is_expired(now, idle_ttl)
    }
}

/// `last_used + idle_ttl`, or `None` when that is beyond the representable range (never idle).
fn idle_deadline(last_used: DateTime<Utc>, idle_ttl: Duration) -> Option<DateTime<Utc>> {
    last_used.checked_add_signed(idle_ttl)
}

/// The fields of a grant to create.
///
/// ```
/// use auth_blacklist::NewGrant;
/// use auth_core::UserId;
/// use chrono::{DateTime, Duration};
///
/// let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
/// let grant = NewGrant::new("g1", UserId::new("42"), now, now + Duration::days(30))
///     .user_agent("curl/8.5".to_owned())
///     .ip(Some("192.0.2.7".to_owned()));
/// assert_eq!(grant.user_agent.as_deref(), Some("curl/8.5"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewGrant {
    /// The grant id, unique (a random UUID, say).
    pub id: String,
    /// Whose grant it is.
    pub user_id: UserId,
    /// When the user signed in.
    pub created_at: DateTime<Utc>,
    /// The absolute end of the grant.
    pub expires_at: DateTime<Utc>,
    /// The `User-Agent` of the sign-in request.
    pub user_agent: Option<String>,
    /// The client address of the sign-in request.
    pub ip: Option<String>,
    /// What kind of credential the grant backs: [`GRANT_KIND_JWT`] (the default: a refresh-token
    /// family), or e.g. `"token"` (an opaque token) and `"session"` (a cookie session). At most
    /// 16 characters; shown in the sessions list.
    pub kind: String,
}

/// The kind of a grant whose credentials are JWT refresh tokens (the mobile and web flows).
pub const GRANT_KIND_JWT: &str = "jwt";

impl NewGrant {
    /// A grant without user agent and address.
    pub fn new(
        id: impl Into<String>,
        user_id: UserId,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            user_id,
            created_at,
            expires_at,
            user_agent: None,
            ip: None,
            kind: GRANT_KIND_JWT.to_owned(),
        }
    }

    /// Sets the kind (cut to 16 characters).
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = truncate_chars(kind.into(), 16);
        self
    }

    /// Sets the user agent (a `String` or an `Option<String>`), cut to [`MAX_USER_AGENT_CHARS`]:
    /// it comes from the client and ends up in every sessions list.
    pub fn user_agent(mut self, user_agent: impl Into<Option<String>>) -> Self {
        self.user_agent = user_agent.into().map(|ua| truncate_chars(ua, MAX_USER_AGENT_CHARS));
        self
    }

    /// Sets the client address (a `String` or an `Option<String>`), cut to [`MAX_IP_CHARS`].
    pub fn ip(mut self, ip: impl Into<Option<String>>) -> Self {
        self.ip = ip.into().map(|ip| truncate_chars(ip, MAX_IP_CHARS));
        self
    }
}

fn truncate_chars(mut text: String, max: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
    }
    text
}

/// One refresh token of a grant, as the store records it. The token itself (a JWT, say) is never
/// stored: only its id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshRecord {
    /// The token id (`jti`), unique.
    pub jti: String,
    /// The grant the token belongs to.
    pub grant_id: String,
    /// The grant's user.
    pub user_id: UserId,
    /// When the token was issued.
    pub issued_at: DateTime<Utc>,
    /// When the token stops working on its own.
    pub expires_at: DateTime<Utc>,
}

impl RefreshRecord {
    /// A refresh-token record.
    pub fn new(
        jti: impl Into<String>,
        grant_id: impl Into<String>,
        user_id: UserId,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self { jti: jti.into(), grant_id: grant_id.into(), user_id, issued_at, expires_at }
    }
}

/// What [`GrantStore::rotate`](crate::GrantStore::rotate) did with a presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotateOutcome {
    /// The presented token is now consumed (replaced by the successor, which is recorded) and the
    /// grant's `last_used_at` is `now`. The grant as it is after the rotation.
    Rotated {
        /// The grant, with `last_used_at = now`.
        grant: Grant,
    },
    /// The presented token had already been consumed: a replay, or two clients racing. Nothing
    /// changed; the caller decides whether to revoke the grant (honouring a grace window).
    Reused {
        /// The token's grant.
        grant_id: String,
        /// The grant's user.
        user_id: UserId,
        /// When the token was consumed.
        consumed_at: DateTime<Utc>,
    },
    /// The token's grant is revoked.
    Revoked,
    /// The grant is past its absolute end or idle timeout, or the token is past its own expiry.
    Expired,
    /// No token has this id (never issued, or flushed).
    Unknown,
}

/// One revocation, as other processes learn of it through
/// [`GrantStore::revocations_since`](crate::GrantStore::revocations_since).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RevocationEvent {
    /// A grant was revoked: every token carrying its id is dead.
    Grant {
        /// The revoked grant.
        grant_id: String,
    },
    /// Every grant of a user was revoked, and every token issued to them before `not_before`.
    User {
        /// The user.
        user_id: UserId,
        /// Tokens issued before this instant are dead.
        not_before: DateTime<Utc>,
    },
}

/// Everything a [`RevocationList`](crate::RevocationList) needs to start: see
/// [`GrantStore::revocation_snapshot`](crate::GrantStore::revocation_snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationSnapshot {
    /// Revoked grants that have not reached their absolute end yet.
    pub revoked_grants: Vec<String>,
    /// Each user's not-before: tokens issued to the user before it are dead.
    pub user_not_before: Vec<(UserId, DateTime<Utc>)>,
    /// The revocation cursor the snapshot is current with: follow on from it.
    pub cursor: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap_or_default()
    }

    #[test]
    fn expiry_is_absolute_or_idle() {
        let grant = Grant::from_new(NewGrant::new("g", UserId::new("u"), at(0), at(1000)));
        let idle = Duration::seconds(100);
        assert!(grant.is_active(at(99), idle));
        assert!(grant.is_expired(at(100), idle), "idle at exactly last_used_at + idle_ttl");
        assert!(!grant.is_expired(at(500), Duration::seconds(2000)));
        assert!(grant.is_expired(at(1000), Duration::seconds(2000)), "absolute end");
        assert!(!grant.is_expired(at(999), Duration::MAX), "an unrepresentable idle deadline never passes");
        let mut revoked = grant.clone();
        revoked.revoked_at = Some(at(5));
        assert!(!revoked.is_active(at(6), idle));
    }

    #[test]
    fn client_details_are_bounded() {
        let grant = NewGrant::new("g", UserId::new("u"), at(0), at(1))
            .user_agent("é".repeat(MAX_USER_AGENT_CHARS + 10))
            .ip(None);
        assert_eq!(grant.user_agent.as_ref().map(|ua| ua.chars().count()), Some(MAX_USER_AGENT_CHARS));
        assert_eq!(grant.ip, None);
    }

    #[test]
    fn revocation_events_serialise_with_a_kind_tag() {
        let event = RevocationEvent::User { user_id: UserId::new("u1"), not_before: at(10) };
        let json = serde_json::to_string(&event).unwrap_or_default();
        assert_eq!(json, r#"{"kind":"user","user_id":"u1","not_before":"1970-01-01T00:00:10Z"}"#);
        let back: Option<RevocationEvent> = serde_json::from_str(&json).ok();
        assert_eq!(back, Some(event));
    }
}
