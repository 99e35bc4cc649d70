//! The in-memory store: the reference implementation.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use chrono::{DateTime, Utc};

use crate::{MfaChallenge, MfaStore, TotpFactor};

/// One stored recovery code.
#[derive(Clone)]
struct RecoveryCode {
    hash: String,
    used_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct State {
    factors: HashMap<UserId, TotpFactor>,
    recovery_codes: HashMap<UserId, Vec<RecoveryCode>>,
    /// By hash.
    challenges: HashMap<String, MfaChallenge>,
}

/// An [`MfaStore`] in memory, for tests, examples and single-process deployments (everything is
/// lost at exit). Clones share data; every method is one critical section, so each
/// check-and-act is atomic. Its `Debug` shows only counts.
///
/// ```
/// use auth_core::UserId;
/// use auth_mfa::{MemoryMfaStore, MfaStore, TotpFactor};
/// use chrono::DateTime;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), auth_core::AuthError> {
/// let store = MemoryMfaStore::new();
/// let (alice, now) = (UserId::new("alice"), DateTime::from_timestamp(1_700_000_000, 0).unwrap());
/// assert!(store.put_pending_totp(TotpFactor::pending(alice.clone(), b"sealed".to_vec(), now)).await?);
/// assert!(store.activate_totp(&alice, b"sealed", 56_666_666, vec!["hash".into()], now).await?);
/// assert!(!store.use_totp_step(&alice, 56_666_666).await?, "the confirming code is used");
/// assert!(store.use_totp_step(&alice, 56_666_667).await?);
/// assert!(store.use_recovery_code(&alice, "hash", now).await?);
/// assert!(!store.use_recovery_code(&alice, "hash", now).await?, "single use");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryMfaStore {
    inner: Arc<Mutex<State>>,
}

impl MemoryMfaStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every method leaves the state consistent before it can panic, so a poisoned lock is fine.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryMfaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("MemoryMfaStore")
            .field("factors", &state.factors.len())
            .field("users_with_recovery_codes", &state.recovery_codes.len())
            .field("challenges", &state.challenges.len())
            .finish()
    }
}

fn fresh_codes(hashes: Vec<String>) -> Vec<RecoveryCode> {
    hashes.into_iter().map(|hash| RecoveryCode { hash, used_at: None }).collect()
}

#[async_trait]
impl MfaStore for MemoryMfaStore {
    async fn put_pending_totp(&self, factor: TotpFactor) -> Result<bool, AuthError> {
        let mut state = self.state();
        if state.factors.get(&factor.user_id).is_some_and(TotpFactor::is_active) {
            return Ok(false);
        }
        let factor = TotpFactor::pending(factor.user_id, factor.sealed_secret, factor.created_at);
        state.factors.insert(factor.user_id.clone(), factor);
        Ok(true)
    }

    async fn totp_factor(&self, user_id: &UserId) -> Result<Option<TotpFactor>, AuthError> {
        Ok(self.state().factors.get(user_id).cloned())
    }

    async fn activate_totp(
        &self,
        user_id: &UserId,
        expected_sealed_secret: &[u8],
        step: i64,
        recovery_code_hashes: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        let mut state = self.state();
        match state.factors.get_mut(user_id) {
            Some(factor) if !factor.is_active() && factor.sealed_secret == expected_sealed_secret => {
                factor.confirmed_at = Some(now);
                factor.last_used_step = Some(step);
            }
            _ => return Ok(false),
        }
        state.recovery_codes.insert(user_id.clone(), fresh_codes(recovery_code_hashes));
        Ok(true)
    }

    async fn use_totp_step(&self, user_id: &UserId, step: i64) -> Result<bool, AuthError> {
        let mut state = self.state();
        match state.factors.get_mut(user_id) {
            Some(factor) if factor.is_active() && factor.last_used_step.is_none_or(|last| last < step) => {
                factor.last_used_step = Some(step);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_factors(&self, user_id: &UserId) -> Result<bool, AuthError> {
        let mut state = self.state();
        state.recovery_codes.remove(user_id);
        Ok(state.factors.remove(user_id).is_some_and(|factor| factor.is_active()))
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &UserId,
        hashes: Vec<String>,
        _now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let mut state = self.state();
        if hashes.is_empty() {
            state.recovery_codes.remove(user_id);
        } else {
            state.recovery_codes.insert(user_id.clone(), fresh_codes(hashes));
        }
        Ok(())
    }

    async fn use_recovery_code(
        &self,
        user_id: &UserId,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        let mut state = self.state();
        let unused = state
            .recovery_codes
            .get_mut(user_id)
            .and_then(|codes| codes.iter_mut().find(|code| code.used_at.is_none() && code.hash == hash));
        match unused {
            Some(code) => {
                code.used_at = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn remaining_recovery_codes(&self, user_id: &UserId) -> Result<u32, AuthError> {
        let state = self.state();
        let remaining = state
            .recovery_codes
            .get(user_id)
            .map_or(0, |codes| codes.iter().filter(|code| code.used_at.is_none()).count());
        Ok(u32::try_from(remaining).unwrap_or(u32::MAX))
    }

    async fn create_challenge(&self, challenge: MfaChallenge) -> Result<(), AuthError> {
        let mut state = self.state();
        if state.challenges.contains_key(&challenge.hash) {
            return Err(AuthError::backend("an MFA challenge with this hash already exists"));
        }
        state.challenges.insert(challenge.hash.clone(), challenge);
        Ok(())
    }

    async fn start_challenge_attempt(
        &self,
        hash: &str,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<MfaChallenge>, AuthError> {
        let mut state = self.state();
        match state.challenges.get_mut(hash) {
            Some(challenge) if challenge.attempts < max_attempts && challenge.expires_at > now => {
                challenge.attempts += 1;
                Ok(Some(challenge.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn consume_challenge(&self, hash: &str) -> Result<bool, AuthError> {
        Ok(self.state().challenges.remove(hash).is_some())
    }

    async fn delete_challenges_for_user(&self, user_id: &UserId) -> Result<u64, AuthError> {
        let mut state = self.state();
        let before = state.challenges.len();
        state.challenges.retain(|_, challenge| challenge.user_id != *user_id);
        Ok(u64::try_from(before - state.challenges.len()).unwrap_or(u64::MAX))
    }

    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
        let mut state = self.state();
        let before = state.challenges.len();
        state.challenges.retain(|_, challenge| challenge.expires_at > now);
        Ok(u64::try_from(before - state.challenges.len()).unwrap_or(u64::MAX))
    }
}
