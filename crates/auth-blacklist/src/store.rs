//! The grant-store trait.

use std::fmt::Debug;

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use chrono::{DateTime, Duration, Utc};

use crate::{Grant, NewGrant, RefreshRecord, RevocationEvent, RevocationSnapshot, RotateOutcome};

/// Storage of grants, refresh-token records and revocations. (Security events go to the audit
/// log, `auth_core::audit`.)
///
/// Every method that decides by time takes `now` explicitly (read it from the injected
/// [`auth_core::Clock`]); stores never read the wall clock. `Err` is for infrastructure failures
/// and caller bugs only: an unknown, reused, revoked or expired token is an [`Ok`] outcome.
///
/// [`MemoryGrantStore`](crate::MemoryGrantStore) is the reference implementation; every
/// implementation must pass `testing::grant_store_conformance` and
/// `testing::concurrent_rotation_conformance` (feature `testing`).
#[async_trait]
pub trait GrantStore: Debug + Send + Sync + 'static {
    /// Creates a grant and records its first refresh token, atomically.
    ///
    /// `first` must belong to the grant (same grant id and user), and neither id may exist yet:
    /// otherwise an [`AuthError::Backend`] wrapping a [`BlacklistError`](crate::BlacklistError).
    async fn create_grant(&self, grant: NewGrant, first: RefreshRecord) -> Result<(), AuthError>;

    /// Consumes the presented refresh token and records its successor `next`, in ONE atomic step:
    /// of N concurrent calls with the same `presented_jti`, exactly one gets
    /// [`RotateOutcome::Rotated`] (the others [`RotateOutcome::Reused`]).
    ///
    /// Checks, in this order: no such token → `Unknown`; its grant revoked → `Revoked`; the token
    /// already consumed → `Reused` (nothing changes); the grant expired (`expires_at <= now`) or
    /// idle (`last_used_at + idle_ttl <= now`) or the token expired (`expires_at <= now`) →
    /// `Expired`; else `Rotated`: the token is consumed and replaced by `next`, `next` is recorded,
    /// and the grant's `last_used_at` becomes `now`.
    ///
    /// `next` must belong to the presented token's grant and user (an [`AuthError::Backend`]
    /// otherwise, when it would be recorded).
    async fn rotate(
        &self,
        presented_jti: &str,
        next: RefreshRecord,
        now: DateTime<Utc>,
        idle_ttl: Duration,
    ) -> Result<RotateOutcome, AuthError>;

    /// Checks a refresh token without consuming it (for sign-out): the token's grant when the token
    /// is known (consumed or not), whatever the grant's state.
    async fn grant_of_token(&self, jti: &str) -> Result<Option<Grant>, AuthError>;

    /// The grant with this id, whatever its state.
    async fn find_grant(&self, grant_id: &str) -> Result<Option<Grant>, AuthError>;

    /// Records that a credential of the grant was used at `now` (an opaque token, a cookie
    /// session): `last_used_at` moves forward, never back. Unknown or revoked grants are ignored.
    async fn touch_grant(&self, grant_id: &str, now: DateTime<Utc>) -> Result<(), AuthError>;

    /// Revokes a grant (and thereby its tokens) and records a [`RevocationEvent::Grant`].
    /// Returns `false` when the grant is unknown or already revoked.
    async fn revoke_grant(&self, grant_id: &str, now: DateTime<Utc>) -> Result<bool, AuthError>;

    /// Like [`revoke_grant`](Self::revoke_grant), but only if the grant belongs to `user_id`:
    /// `false` otherwise (the caller answers 404, revealing nothing about other users' grants).
    async fn revoke_user_grant(
        &self,
        user_id: &UserId,
        grant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError>;

    /// Revokes every grant of the user and sets the user's not-before to `now` (tokens issued
    /// before it are dead), atomically; records one [`RevocationEvent::User`] (no per-grant
    /// events). A not-before never moves back: when the stored one is later than `now`, it stays
    /// (and the event carries it).
    async fn revoke_all_for_user(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<(), AuthError>;

    /// The user's grants that are not revoked, not expired and — JWT grants only, see
    /// [`Grant::is_expired`](crate::Grant::is_expired) — not idle at `now`, newest (`created_at`)
    /// first.
    async fn active_grants(
        &self,
        user_id: &UserId,
        now: DateTime<Utc>,
        idle_ttl: Duration,
    ) -> Result<Vec<Grant>, AuthError>;

    /// The revocation events with a sequence number greater than `cursor`, in order, and the new
    /// cursor (the last event's sequence number, or `cursor` when there is none). Other processes
    /// follow revocations with it; see [`RevocationList::sync`](crate::RevocationList::sync).
    async fn revocations_since(&self, cursor: i64) -> Result<(Vec<RevocationEvent>, i64), AuthError>;

    /// The current cursor: the highest sequence number, 0 when there has never been an event. It
    /// never decreases ([`flush_expired`](Self::flush_expired) keeps the newest event).
    async fn revocation_cursor(&self) -> Result<i64, AuthError>;

    /// Everything needed to start a revocation cache: the revoked grants whose `expires_at > now`,
    /// every user's not-before, and a cursor to follow on from (read first, so that nothing
    /// committed after it is missed).
    async fn revocation_snapshot(&self, now: DateTime<Utc>) -> Result<RevocationSnapshot, AuthError>;

    /// Deletes the grants whose `expires_at <= now` with their refresh-token records, and the
    /// revocation events created before `events_older_than` (except the newest event, which
    /// holds the cursor). Returns the number of rows deleted (grants + tokens + events).
    ///
    /// A follower whose cursor is behind a deleted event misses it: pick `events_older_than` well
    /// behind the followers' sync interval (and beyond the access-token lifetime).
    async fn flush_expired(
        &self,
        now: DateTime<Utc>,
        events_older_than: DateTime<Utc>,
    ) -> Result<u64, AuthError>;
}
