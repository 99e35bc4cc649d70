//! The in-memory store: the reference implementation.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use chrono::{DateTime, Utc};

use crate::{Passkey, PasskeyChallenge, PasskeyStore, PasskeyUsage, duplicate_passkey};

#[derive(Default)]
struct State {
    /// By our id.
    passkeys: HashMap<String, Passkey>,
    /// Credential id -> our id: the unique index.
    by_credential: HashMap<String, String>,
    /// By challenge id.
    challenges: HashMap<String, PasskeyChallenge>,
}

/// A [`PasskeyStore`] in memory, for tests, examples and single-process deployments (everything
/// is lost at exit). Clones share data; every method is one critical section, so each
/// check-and-act is atomic. Its `Debug` shows only counts.
///
/// ```
/// use auth_core::UserId;
/// use auth_webauthn::{MemoryPasskeyStore, Passkey, PasskeyStore};
/// use chrono::DateTime;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), auth_core::AuthError> {
/// let store = MemoryPasskeyStore::new();
/// let (alice, now) = (UserId::new("alice"), DateTime::from_timestamp(1_700_000_000, 0).unwrap());
/// store.add(Passkey::new("pk-1", alice.clone(), "Y3JlZC0x", "{}", now)).await?;
/// assert!(store.add(Passkey::new("pk-2", alice.clone(), "Y3JlZC0x", "{}", now)).await.is_err(), "unique");
/// assert!(store.rename(&alice, "pk-1", "Laptop").await?);
/// assert!(!store.delete(&UserId::new("mallory"), "pk-1").await?, "only the owner's");
/// assert_eq!(store.list_for_user(&alice).await?[0].name, "Laptop");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryPasskeyStore {
    inner: Arc<Mutex<State>>,
}

impl MemoryPasskeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every method leaves the state consistent before it can panic, so a poisoned lock is fine.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryPasskeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("MemoryPasskeyStore")
            .field("passkeys", &state.passkeys.len())
            .field("challenges", &state.challenges.len())
            .finish()
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[async_trait]
impl PasskeyStore for MemoryPasskeyStore {
    async fn add(&self, passkey: Passkey) -> Result<(), AuthError> {
        let mut state = self.state();
        if state.by_credential.contains_key(&passkey.credential_id)
            || state.passkeys.contains_key(&passkey.id)
        {
            return Err(duplicate_passkey());
        }
        state.by_credential.insert(passkey.credential_id.clone(), passkey.id.clone());
        state.passkeys.insert(passkey.id.clone(), passkey);
        Ok(())
    }

    async fn find_by_credential_id(&self, credential_id: &str) -> Result<Option<Passkey>, AuthError> {
        let state = self.state();
        Ok(state.by_credential.get(credential_id).and_then(|id| state.passkeys.get(id)).cloned())
    }

    async fn list_for_user(&self, user_id: &UserId) -> Result<Vec<Passkey>, AuthError> {
        let state = self.state();
        let mut passkeys: Vec<Passkey> =
            state.passkeys.values().filter(|passkey| passkey.user_id == *user_id).cloned().collect();
        passkeys.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(passkeys)
    }

    async fn rename(&self, user_id: &UserId, id: &str, name: &str) -> Result<bool, AuthError> {
        let mut state = self.state();
        match state.passkeys.get_mut(id) {
            Some(passkey) if passkey.user_id == *user_id => {
                passkey.name = name.to_owned();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, user_id: &UserId, id: &str) -> Result<bool, AuthError> {
        let mut state = self.state();
        if state.passkeys.get(id).is_none_or(|passkey| passkey.user_id != *user_id) {
            return Ok(false);
        }
        if let Some(passkey) = state.passkeys.remove(id) {
            state.by_credential.remove(&passkey.credential_id);
        }
        Ok(true)
    }

    async fn update_after_use(&self, id: &str, usage: PasskeyUsage) -> Result<bool, AuthError> {
        let mut state = self.state();
        let Some(passkey) = state.passkeys.get_mut(id) else {
            return Ok(false);
        };
        let forward =
            usage.sign_count > passkey.sign_count || (usage.sign_count == 0 && passkey.sign_count == 0);
        if !forward {
            return Ok(false);
        }
        passkey.sign_count = usage.sign_count;
        passkey.credential = usage.credential;
        passkey.backup_eligible = usage.backup_eligible;
        passkey.backup_state = usage.backup_state;
        passkey.last_used_at = Some(usage.used_at);
        Ok(true)
    }

    async fn remove_user(&self, user_id: &UserId) -> Result<u64, AuthError> {
        let mut state = self.state();
        let ids: Vec<String> = state
            .passkeys
            .values()
            .filter(|passkey| passkey.user_id == *user_id)
            .map(|p| p.id.clone())
            .collect();
        for id in &ids {
            if let Some(passkey) = state.passkeys.remove(id) {
                state.by_credential.remove(&passkey.credential_id);
            }
        }
        state.challenges.retain(|_, challenge| challenge.user_id.as_ref() != Some(user_id));
        Ok(count(ids.len()))
    }

    async fn put_challenge(&self, challenge: PasskeyChallenge) -> Result<(), AuthError> {
        let mut state = self.state();
        if state.challenges.contains_key(&challenge.id) {
            return Err(AuthError::backend("a passkey challenge with this id already exists"));
        }
        state.challenges.insert(challenge.id.clone(), challenge);
        Ok(())
    }

    async fn take_challenge(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PasskeyChallenge>, AuthError> {
        Ok(self.state().challenges.remove(id).filter(|challenge| challenge.expires_at > now))
    }

    async fn flush_expired_challenges(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
        let mut state = self.state();
        let before = state.challenges.len();
        state.challenges.retain(|_, challenge| challenge.expires_at > now);
        Ok(count(before - state.challenges.len()))
    }
}
