//! Linked accounts: which provider identity signs in to which user.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Mutex;

use async_trait::async_trait;
use auth_core::{AuthError, FieldError, UserId};
use chrono::{DateTime, Utc};

/// A provider identity linked to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkedAccount {
    /// The link's id (for listing and unlinking).
    pub id: String,
    /// The user it signs in to.
    pub user_id: UserId,
    /// The provider's name.
    pub provider: String,
    /// The provider's stable id of the user.
    pub subject: String,
    /// The email the provider stated when the link was made, if any.
    pub email: Option<String>,
    /// When it was linked.
    pub linked_at: DateTime<Utc>,
    /// When it last signed in, if ever.
    pub last_used_at: Option<DateTime<Utc>>,
    /// The provider's tokens, sealed by [`SocialLogin`](crate::SocialLogin) (AES-256-GCM, bound to
    /// this link) when the deployment stores them; `None` otherwise. Never plaintext.
    pub tokens: Option<String>,
}

impl LinkedAccount {
    /// A new link with a fresh id.
    pub fn new(
        user_id: UserId,
        provider: &str,
        subject: &str,
        email: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            user_id,
            provider: provider.to_owned(),
            subject: subject.to_owned(),
            email,
            linked_at: now,
            last_used_at: None,
            tokens: None,
        }
    }
}

/// The store of linked accounts. Every method is one atomic change.
#[async_trait]
pub trait LinkedAccountStore: Debug + Send + Sync + 'static {
    /// Stores a link. A `(provider, subject)` pair links to one user only: a second link of it,
    /// to anyone, is [`AuthError::Conflict`] and changes nothing (also under concurrency).
    async fn link(&self, account: &LinkedAccount) -> Result<(), AuthError>;

    /// The link of a provider identity, if any.
    async fn find(&self, provider: &str, subject: &str) -> Result<Option<LinkedAccount>, AuthError>;

    /// A user's links, oldest first.
    async fn list_for_user(&self, user_id: &UserId) -> Result<Vec<LinkedAccount>, AuthError>;

    /// Removes the user's link `id`: `false` when the user has no such link (another user's link
    /// is never removed).
    async fn unlink(&self, user_id: &UserId, id: &str) -> Result<bool, AuthError>;

    /// Records a sign-in through the link.
    async fn touch(&self, id: &str, at: DateTime<Utc>) -> Result<(), AuthError>;

    /// Replaces the link's sealed provider tokens (`None` removes them); nothing when there is no
    /// such link.
    async fn set_tokens(&self, id: &str, sealed: Option<&str>) -> Result<(), AuthError>;

    /// Removes every link of a user (account deletion).
    async fn remove_user(&self, user_id: &UserId) -> Result<(), AuthError>;
}

fn taken() -> AuthError {
    AuthError::Conflict(vec![FieldError::new("provider", "this account is already linked")])
}

/// Linked accounts in memory, for tests and single-process apps.
#[derive(Debug, Default)]
pub struct MemoryLinkedAccountStore {
    accounts: Mutex<HashMap<(String, String), LinkedAccount>>,
}

impl MemoryLinkedAccountStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn accounts(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), LinkedAccount>> {
        self.accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl LinkedAccountStore for MemoryLinkedAccountStore {
    async fn link(&self, account: &LinkedAccount) -> Result<(), AuthError> {
        let mut accounts = self.accounts();
        let key = (account.provider.clone(), account.subject.clone());
        if accounts.contains_key(&key) || accounts.values().any(|a| a.id == account.id) {
            return Err(taken());
        }
        accounts.insert(key, account.clone());
        Ok(())
    }

    async fn find(&self, provider: &str, subject: &str) -> Result<Option<LinkedAccount>, AuthError> {
        Ok(self.accounts().get(&(provider.to_owned(), subject.to_owned())).cloned())
    }

    async fn list_for_user(&self, user_id: &UserId) -> Result<Vec<LinkedAccount>, AuthError> {
        let mut list: Vec<LinkedAccount> =
            self.accounts().values().filter(|a| a.user_id == *user_id).cloned().collect();
        list.sort_by(|a, b| a.linked_at.cmp(&b.linked_at).then_with(|| a.id.cmp(&b.id)));
        Ok(list)
    }

    async fn unlink(&self, user_id: &UserId, id: &str) -> Result<bool, AuthError> {
        let mut accounts = self.accounts();
        let before = accounts.len();
        accounts.retain(|_, a| !(a.id == id && a.user_id == *user_id));
        Ok(accounts.len() < before)
    }

    async fn touch(&self, id: &str, at: DateTime<Utc>) -> Result<(), AuthError> {
        if let Some(account) = self.accounts().values_mut().find(|a| a.id == id) {
            account.last_used_at = Some(at);
        }
        Ok(())
    }

    async fn set_tokens(&self, id: &str, sealed: Option<&str>) -> Result<(), AuthError> {
        if let Some(account) = self.accounts().values_mut().find(|a| a.id == id) {
            account.tokens = sealed.map(str::to_owned);
        }
        Ok(())
    }

    async fn remove_user(&self, user_id: &UserId) -> Result<(), AuthError> {
        self.accounts().retain(|_, a| a.user_id != *user_id);
        Ok(())
    }
}
