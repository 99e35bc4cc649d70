//! Pending email sign-ins: what a request sent, stored only as hashes, until it is used, replaced
//! by a newer request, worn out by wrong codes, or expired.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use chrono::{DateTime, Utc};

/// A pending email sign-in: the link's token and the code, as hashes only.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingEmailSignIn {
    /// Its id (a UUID).
    pub id: String,
    /// The address it was sent to, normalised (trimmed, lower case): one pending sign-in per
    /// address.
    pub email: String,
    /// The account it signs in to; `None` for a sign-up by email (no account had the address).
    pub user_id: Option<UserId>,
    /// SHA-256 of the link's token (`auth_core::account_tokens::hash_account_token`).
    pub token_hash: String,
    /// HMAC-SHA256 of the address and the code under the deployment's key ([`crate::CodeKey`]).
    pub code_digest: String,
    /// Wrong codes entered so far.
    pub attempts: u32,
    /// When it was requested.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl PendingEmailSignIn {
    /// A new pending sign-in with a fresh id and no attempts.
    pub fn new(
        email: impl Into<String>,
        user_id: Option<UserId>,
        token_hash: impl Into<String>,
        code_digest: impl Into<String>,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.into(),
            user_id,
            token_hash: token_hash.into(),
            code_digest: code_digest.into(),
            attempts: 0,
            created_at,
            expires_at,
        }
    }
}

impl fmt::Debug for PendingEmailSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingEmailSignIn")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("attempts", &self.attempts)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What checking a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeCheck {
    /// The code is right: the pending sign-in, now used (deleted).
    Matched(PendingEmailSignIn),
    /// The code is wrong (counted); `attempts_left` more may be tried, and at 0 the pending
    /// sign-in is gone.
    Wrong {
        /// Wrong codes still allowed.
        attempts_left: u32,
    },
    /// Nothing pending for the address (never requested, used, replaced, worn out or expired).
    NoPending,
}

/// The store of pending email sign-ins. Every method is one atomic change: of concurrent uses of
/// one link or code, at most one succeeds; concurrent wrong codes are all counted.
///
/// `Err` is for infrastructure failures only.
#[async_trait]
pub trait EmailSignInStore: fmt::Debug + Send + Sync + 'static {
    /// Stores `pending`, replacing whatever was pending for its address (a new request
    /// invalidates the old link and code).
    async fn replace(&self, pending: &PendingEmailSignIn) -> Result<(), AuthError>;

    /// Uses a link: deletes and returns the pending sign-in with this token hash if it has not
    /// expired at `now` and has fewer than `max_attempts` wrong codes.
    async fn consume_token(
        &self,
        token_hash: &str,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingEmailSignIn>, AuthError>;

    /// Checks a code for `email`: when `code_digest` is the pending one (unexpired, fewer than
    /// `max_attempts` wrong codes so far) it is used; otherwise a wrong code is counted, and the
    /// pending sign-in is deleted with the `max_attempts`-th.
    async fn check_code(
        &self,
        email: &str,
        code_digest: &str,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<CodeCheck, AuthError>;

    /// Deletes what expired at or before `now`; returns how many.
    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError>;
}

/// Pending email sign-ins in memory, for tests and single-process servers.
#[derive(Debug, Default)]
pub struct MemoryEmailSignInStore {
    /// By normalised address.
    pending: Mutex<HashMap<String, PendingEmailSignIn>>,
}

impl MemoryEmailSignInStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, PendingEmailSignIn>> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl EmailSignInStore for MemoryEmailSignInStore {
    async fn replace(&self, pending: &PendingEmailSignIn) -> Result<(), AuthError> {
        self.pending().insert(pending.email.clone(), pending.clone());
        Ok(())
    }

    async fn consume_token(
        &self,
        token_hash: &str,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingEmailSignIn>, AuthError> {
        let mut pending = self.pending();
        let found = pending
            .values()
            .find(|p| p.token_hash == token_hash && now < p.expires_at && p.attempts < max_attempts)
            .map(|p| p.email.clone());
        Ok(found.and_then(|email| pending.remove(&email)))
    }

    async fn check_code(
        &self,
        email: &str,
        code_digest: &str,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<CodeCheck, AuthError> {
        let mut pending = self.pending();
        let Some(entry) = pending.get_mut(email).filter(|p| now < p.expires_at && p.attempts < max_attempts)
        else {
            return Ok(CodeCheck::NoPending);
        };
        if entry.code_digest == code_digest {
            return Ok(pending.remove(email).map_or(CodeCheck::NoPending, CodeCheck::Matched));
        }
        entry.attempts += 1;
        let attempts_left = max_attempts.saturating_sub(entry.attempts);
        if attempts_left == 0 {
            pending.remove(email);
        }
        Ok(CodeCheck::Wrong { attempts_left })
    }

    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
        let mut pending = self.pending();
        let before = pending.len();
        pending.retain(|_, p| now < p.expires_at);
        Ok((before - pending.len()) as u64)
    }
}
