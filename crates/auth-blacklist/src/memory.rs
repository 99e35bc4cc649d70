//! The in-memory grant store: the reference implementation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use chrono::{DateTime, Duration, Utc};

use crate::{
    BlacklistError, Grant, GrantStore, NewGrant, RefreshRecord, RevocationEvent, RevocationSnapshot,
    RotateOutcome,
};

/// A [`GrantStore`] in memory, for tests, examples and single-process deployments (everything is
/// lost at exit). Clones share data; every method is one critical section, so `rotate` is
/// trivially atomic.
///
/// ```
/// use auth_blacklist::{GrantStore, MemoryGrantStore, NewGrant, RefreshRecord, RotateOutcome};
/// use auth_core::UserId;
/// use chrono::{DateTime, Duration};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), auth_core::AuthError> {
/// let store = MemoryGrantStore::new();
/// let (alice, now) = (UserId::new("alice"), DateTime::from_timestamp(1_700_000_000, 0).unwrap());
/// let end = now + Duration::days(30);
/// store.create_grant(NewGrant::new("g1", alice.clone(), now, end),
///                    RefreshRecord::new("a", "g1", alice.clone(), now, end)).await?;
///
/// let idle = Duration::days(7);
/// let b = RefreshRecord::new("b", "g1", alice.clone(), now, end);
/// assert!(matches!(store.rotate("a", b, now, idle).await?, RotateOutcome::Rotated { .. }));
/// let c = RefreshRecord::new("c", "g1", alice.clone(), now, end);
/// assert!(matches!(store.rotate("a", c, now, idle).await?, RotateOutcome::Reused { .. }), "a replay");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryGrantStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    grants: HashMap<String, Grant>,
    tokens: HashMap<String, Token>,
    /// `(seq, event, created_at)`, in `seq` order.
    revocations: Vec<(i64, RevocationEvent, DateTime<Utc>)>,
    last_seq: i64,
    not_before: HashMap<UserId, DateTime<Utc>>,
}

#[derive(Debug)]
struct Token {
    record: RefreshRecord,
    consumed_at: Option<DateTime<Utc>>,
    replaced_by: Option<String>,
}

impl Inner {
    fn record(&mut self, event: RevocationEvent, now: DateTime<Utc>) {
        self.last_seq += 1;
        self.revocations.push((self.last_seq, event, now));
    }

    fn revoke(&mut self, grant_id: &str, owner: Option<&UserId>, now: DateTime<Utc>) -> bool {
        let Some(grant) = self.grants.get_mut(grant_id) else { return false };
        if grant.revoked_at.is_some() || owner.is_some_and(|owner| *owner != grant.user_id) {
            return false;
        }
        grant.revoked_at = Some(now);
        self.record(RevocationEvent::Grant { grant_id: grant_id.to_owned() }, now);
        true
    }
}

impl MemoryGrantStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl GrantStore for MemoryGrantStore {
    async fn create_grant(&self, grant: NewGrant, first: RefreshRecord) -> Result<(), AuthError> {
        if first.grant_id != grant.id || first.user_id != grant.user_id {
            return Err(BlacklistError::RecordMismatch.into());
        }
        let mut inner = self.lock();
        if inner.grants.contains_key(&grant.id) {
            return Err(BlacklistError::DuplicateId { what: "grant" }.into());
        }
        if inner.tokens.contains_key(&first.jti) {
            return Err(BlacklistError::DuplicateId { what: "refresh token" }.into());
        }
        inner.grants.insert(grant.id.clone(), Grant::from_new(grant));
        inner.tokens.insert(first.jti.clone(), Token { record: first, consumed_at: None, replaced_by: None });
        Ok(())
    }

    async fn rotate(
        &self,
        presented_jti: &str,
        next: RefreshRecord,
        now: DateTime<Utc>,
        idle_ttl: Duration,
    ) -> Result<RotateOutcome, AuthError> {
        let mut inner = self.lock();
        let Some(token) = inner.tokens.get(presented_jti) else { return Ok(RotateOutcome::Unknown) };
        let Some(grant) = inner.grants.get(&token.record.grant_id) else { return Ok(RotateOutcome::Unknown) };
        if grant.revoked_at.is_some() {
            return Ok(RotateOutcome::Revoked);
        }
        if let Some(consumed_at) = token.consumed_at {
            return Ok(RotateOutcome::Reused {
                grant_id: grant.id.clone(),
                user_id: grant.user_id.clone(),
                consumed_at,
            });
        }
        if grant.is_expired(now, idle_ttl) || token.record.expires_at <= now {
            return Ok(RotateOutcome::Expired);
        }
        if next.grant_id != grant.id || next.user_id != grant.user_id {
            return Err(BlacklistError::RecordMismatch.into());
        }
        if inner.tokens.contains_key(&next.jti) {
            return Err(BlacklistError::DuplicateId { what: "refresh token" }.into());
        }
        let grant_id = grant.id.clone();
        if let Some(token) = inner.tokens.get_mut(presented_jti) {
            token.consumed_at = Some(now);
            token.replaced_by = Some(next.jti.clone());
        }
        inner.tokens.insert(next.jti.clone(), Token { record: next, consumed_at: None, replaced_by: None });
        match inner.grants.get_mut(&grant_id) {
            Some(grant) => {
                grant.last_used_at = now;
                Ok(RotateOutcome::Rotated { grant: grant.clone() })
            }
            None => Ok(RotateOutcome::Unknown),
        }
    }

    async fn grant_of_token(&self, jti: &str) -> Result<Option<Grant>, AuthError> {
        let inner = self.lock();
        Ok(inner.tokens.get(jti).and_then(|token| inner.grants.get(&token.record.grant_id)).cloned())
    }

    async fn find_grant(&self, grant_id: &str) -> Result<Option<Grant>, AuthError> {
        Ok(self.lock().grants.get(grant_id).cloned())
    }

    async fn touch_grant(&self, grant_id: &str, now: DateTime<Utc>) -> Result<(), AuthError> {
        let mut inner = self.lock();
        if let Some(grant) = inner.grants.get_mut(grant_id)
            && grant.revoked_at.is_none()
            && grant.last_used_at < now
        {
            grant.last_used_at = now;
        }
        Ok(())
    }

    async fn revoke_grant(&self, grant_id: &str, now: DateTime<Utc>) -> Result<bool, AuthError> {
        Ok(self.lock().revoke(grant_id, None, now))
    }

    async fn revoke_user_grant(
        &self,
        user_id: &UserId,
        grant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        Ok(self.lock().revoke(grant_id, Some(user_id), now))
    }

    async fn revoke_all_for_user(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<(), AuthError> {
        let mut inner = self.lock();
        for grant in inner.grants.values_mut() {
            if grant.user_id == *user_id && grant.revoked_at.is_none() {
                grant.revoked_at = Some(now);
            }
        }
        let not_before =
            *inner.not_before.entry(user_id.clone()).and_modify(|at| *at = (*at).max(now)).or_insert(now);
        inner.record(RevocationEvent::User { user_id: user_id.clone(), not_before }, now);
        Ok(())
    }

    async fn active_grants(
        &self,
        user_id: &UserId,
        now: DateTime<Utc>,
        idle_ttl: Duration,
    ) -> Result<Vec<Grant>, AuthError> {
        let inner = self.lock();
        let mut grants: Vec<Grant> = inner
            .grants
            .values()
            .filter(|grant| grant.user_id == *user_id && grant.is_active(now, idle_ttl))
            .cloned()
            .collect();
        grants.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        Ok(grants)
    }

    async fn revocations_since(&self, cursor: i64) -> Result<(Vec<RevocationEvent>, i64), AuthError> {
        let inner = self.lock();
        let start = inner.revocations.partition_point(|(seq, _, _)| *seq <= cursor);
        let newer = &inner.revocations[start..];
        let last = newer.last().map_or(cursor, |(seq, _, _)| *seq);
        Ok((newer.iter().map(|(_, event, _)| event.clone()).collect(), last))
    }

    async fn revocation_cursor(&self) -> Result<i64, AuthError> {
        Ok(self.lock().last_seq)
    }

    async fn revocation_snapshot(&self, now: DateTime<Utc>) -> Result<RevocationSnapshot, AuthError> {
        let inner = self.lock();
        let mut revoked_grants: Vec<String> = inner
            .grants
            .values()
            .filter(|grant| grant.revoked_at.is_some() && grant.expires_at > now)
            .map(|grant| grant.id.clone())
            .collect();
        revoked_grants.sort();
        let mut user_not_before: Vec<(UserId, DateTime<Utc>)> =
            inner.not_before.iter().map(|(user, at)| (user.clone(), *at)).collect();
        user_not_before.sort();
        Ok(RevocationSnapshot { revoked_grants, user_not_before, cursor: inner.last_seq })
    }

    async fn flush_expired(
        &self,
        now: DateTime<Utc>,
        events_older_than: DateTime<Utc>,
    ) -> Result<u64, AuthError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let before = inner.grants.len() + inner.tokens.len() + inner.revocations.len();
        inner.grants.retain(|_, grant| grant.expires_at > now);
        let grants = &inner.grants;
        inner.tokens.retain(|_, token| grants.contains_key(&token.record.grant_id));
        let newest = inner.revocations.last().map(|(seq, _, _)| *seq);
        inner
            .revocations
            .retain(|(seq, _, created_at)| *created_at >= events_older_than || Some(*seq) == newest);
        let after = inner.grants.len() + inner.tokens.len() + inner.revocations.len();
        Ok(u64::try_from(before.saturating_sub(after)).unwrap_or(u64::MAX))
    }
}
