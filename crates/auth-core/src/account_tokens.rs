//! Single-use account tokens: the secrets in password-reset and email-verification links.
//!
//! A token is 256 random bits, sent to the user once (in an email) and stored only as its
//! SHA-256 ([`hash_account_token`]). Using it deletes it ([`AccountTokenStore::consume`], one
//! atomic delete: of concurrent uses exactly one wins); it expires by the `now` its caller reads
//! from the injected clock; and it carries the user's credential fingerprint at issue, so a reset
//! link dies as soon as the password changes.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::{AuthError, UserId};

/// Bytes of randomness in an account token (256 bits).
pub const ACCOUNT_TOKEN_BYTES: usize = 32;

/// What an account token may be used for; a token of one purpose never works for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AccountTokenPurpose {
    /// Sets a new password (`POST /api/auth/password/reset/confirm`).
    PasswordReset,
    /// Verifies an email address (`POST /api/auth/email/verify`).
    EmailVerification,
    /// Cancels a pending change of address, from the old address (`POST
    /// /api/auth/email/change/cancel`).
    EmailChangeCancel,
}

impl AccountTokenPurpose {
    /// The stored name: `password_reset`, `email_verification` or `email_change_cancel`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
            Self::EmailChangeCancel => "email_change_cancel",
        }
    }

    /// The purpose of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "password_reset" => Some(Self::PasswordReset),
            "email_verification" => Some(Self::EmailVerification),
            "email_change_cancel" => Some(Self::EmailChangeCancel),
            _ => None,
        }
    }
}

/// A stored account token: never the token itself, only its hash.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountToken {
    /// SHA-256 of the token ([`hash_account_token`]), the lookup key.
    pub token_hash: String,
    /// What it may be used for.
    pub purpose: AccountTokenPurpose,
    /// Whose it is.
    pub user_id: UserId,
    /// For email verification: the address being verified (a new address on an email change).
    pub email: Option<String>,
    /// The user's credential fingerprint when the token was issued: a reset token whose
    /// fingerprint no longer matches is dead (the password changed since).
    pub fingerprint: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl AccountToken {
    /// A token record.
    pub fn new(
        token_hash: impl Into<String>,
        purpose: AccountTokenPurpose,
        user_id: UserId,
        fingerprint: impl Into<String>,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            token_hash: token_hash.into(),
            purpose,
            user_id,
            email: None,
            fingerprint: fingerprint.into(),
            created_at,
            expires_at,
        }
    }

    /// Sets the address being verified.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }
}

impl fmt::Debug for AccountToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountToken")
            .field("purpose", &self.purpose)
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A fresh token (256 bits, URL-safe base64 without padding) and its hash.
pub fn generate_account_token() -> (String, String) {
    let mut bytes = [0u8; ACCOUNT_TOKEN_BYTES];
    rand::fill(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_account_token(&token);
    (token, hash)
}

/// The stored form of a token: SHA-256, URL-safe base64. A fast hash is enough for 256 random bits.
pub fn hash_account_token(token: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Storage of account tokens.
///
/// `Err` is for infrastructure failures only.
#[async_trait]
pub trait AccountTokenStore: Send + Sync + fmt::Debug + 'static {
    /// Stores a new token.
    async fn create(&self, token: &AccountToken) -> Result<(), AuthError>;

    /// Uses a token: deletes and returns the token with this hash and purpose if it has not
    /// expired at `now` (`now < expires_at`). Atomic: of concurrent calls with one hash, at most
    /// one gets `Some`. A token of another purpose is neither returned nor deleted.
    async fn consume(
        &self,
        token_hash: &str,
        purpose: AccountTokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<AccountToken>, AuthError>;

    /// Deletes the user's tokens of `purpose` (all purposes with `None`); returns how many.
    async fn delete_for_user(
        &self,
        user_id: &UserId,
        purpose: Option<AccountTokenPurpose>,
    ) -> Result<u64, AuthError>;

    /// Deletes tokens that expired at or before `now`; returns how many.
    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError>;
}

/// Account tokens in memory, for tests and single-process servers.
#[derive(Debug, Default)]
pub struct MemoryAccountTokenStore {
    tokens: RwLock<HashMap<String, AccountToken>>,
}

impl MemoryAccountTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl AccountTokenStore for MemoryAccountTokenStore {
    async fn create(&self, token: &AccountToken) -> Result<(), AuthError> {
        let mut tokens = self.tokens.write().unwrap_or_else(|p| p.into_inner());
        tokens.insert(token.token_hash.clone(), token.clone());
        Ok(())
    }

    async fn consume(
        &self,
        token_hash: &str,
        purpose: AccountTokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<AccountToken>, AuthError> {
        let mut tokens = self.tokens.write().unwrap_or_else(|p| p.into_inner());
        let usable = tokens.get(token_hash).is_some_and(|t| t.purpose == purpose && now < t.expires_at);
        Ok(if usable { tokens.remove(token_hash) } else { None })
    }

    async fn delete_for_user(
        &self,
        user_id: &UserId,
        purpose: Option<AccountTokenPurpose>,
    ) -> Result<u64, AuthError> {
        let mut tokens = self.tokens.write().unwrap_or_else(|p| p.into_inner());
        let before = tokens.len();
        tokens.retain(|_, t| !(t.user_id == *user_id && purpose.is_none_or(|p| p == t.purpose)));
        Ok((before - tokens.len()) as u64)
    }

    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
        let mut tokens = self.tokens.write().unwrap_or_else(|p| p.into_inner());
        let before = tokens.len();
        tokens.retain(|_, t| now < t.expires_at);
        Ok((before - tokens.len()) as u64)
    }
}

/// The conformance suite every [`AccountTokenStore`] runs.
#[cfg(feature = "testing")]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod conformance {
    use std::sync::Arc;

    use chrono::{DateTime, Duration, Utc};

    use super::{AccountToken, AccountTokenPurpose, AccountTokenStore, generate_account_token};
    use crate::UserId;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn token(user: &str, purpose: AccountTokenPurpose, ttl: Duration) -> (String, AccountToken) {
        let (token, hash) = generate_account_token();
        let record = AccountToken::new(hash, purpose, UserId::new(user), "fp", t0(), t0() + ttl);
        (token, record)
    }

    /// Single use, expiry, purposes, per-user deletion and flushing.
    pub async fn account_token_store_conformance(store: &dyn AccountTokenStore) {
        use AccountTokenPurpose::{EmailVerification, PasswordReset};
        let hour = Duration::hours(1);

        let (_, reset) = token("alice", PasswordReset, hour);
        store.create(&reset).await.unwrap();
        assert_eq!(store.consume(&reset.token_hash, EmailVerification, t0()).await.unwrap(), None);
        let used = store.consume(&reset.token_hash, PasswordReset, t0()).await.unwrap();
        assert_eq!(used.as_ref(), Some(&reset), "the wrong purpose did not consume it");
        assert_eq!(store.consume(&reset.token_hash, PasswordReset, t0()).await.unwrap(), None, "single use");

        let (_, verify) = token("alice", EmailVerification, hour);
        let verify = verify.email("new@example.com");
        store.create(&verify).await.unwrap();
        assert_eq!(store.consume(&verify.token_hash, EmailVerification, t0() + hour).await.unwrap(), None);
        let used = store.consume(&verify.token_hash, EmailVerification, t0() + hour - Duration::seconds(1));
        let used = used.await.unwrap().expect("usable until a second before expiry");
        assert_eq!(used.email.as_deref(), Some("new@example.com"));
        assert_eq!(used.created_at, t0());
        assert_eq!(used.expires_at, t0() + hour);

        let (_, a1) = token("alice", PasswordReset, hour);
        let (_, a2) = token("alice", EmailVerification, hour);
        let (_, b1) = token("bob", PasswordReset, hour);
        for t in [&a1, &a2, &b1] {
            store.create(t).await.unwrap();
        }
        assert_eq!(store.delete_for_user(&UserId::new("alice"), Some(PasswordReset)).await.unwrap(), 1);
        assert_eq!(store.consume(&a1.token_hash, PasswordReset, t0()).await.unwrap(), None);
        assert_eq!(store.delete_for_user(&UserId::new("alice"), None).await.unwrap(), 1);
        assert_eq!(store.consume(&a2.token_hash, EmailVerification, t0()).await.unwrap(), None);
        assert!(store.consume(&b1.token_hash, PasswordReset, t0()).await.unwrap().is_some(), "bob's stays");

        let (_, short) = token("carol", PasswordReset, Duration::minutes(1));
        let (_, long) = token("carol", PasswordReset, hour);
        store.create(&short).await.unwrap();
        store.create(&long).await.unwrap();
        assert_eq!(store.flush_expired(t0() + Duration::minutes(1)).await.unwrap(), 1);
        assert!(store.consume(&long.token_hash, PasswordReset, t0()).await.unwrap().is_some());
    }

    /// Of `n` concurrent uses of one token exactly one succeeds.
    pub async fn concurrent_consume_conformance(store: Arc<dyn AccountTokenStore>, n: usize) {
        let (_, record) = token("dave", AccountTokenPurpose::PasswordReset, Duration::hours(1));
        store.create(&record).await.unwrap();
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (store, hash) = (store.clone(), record.token_hash.clone());
                tokio::spawn(async move {
                    store.consume(&hash, AccountTokenPurpose::PasswordReset, t0()).await.unwrap().is_some()
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            won += usize::from(task.await.unwrap());
        }
        assert_eq!(won, 1);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (a, hash_a) = generate_account_token();
        let (b, _) = generate_account_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "256 bits in URL-safe base64");
        assert_eq!(hash_a, hash_account_token(&a));
        assert_ne!(hash_a, a);
    }

    #[test]
    fn purposes_round_trip() {
        for p in [AccountTokenPurpose::PasswordReset, AccountTokenPurpose::EmailVerification] {
            assert_eq!(AccountTokenPurpose::parse(p.as_str()), Some(p));
        }
        assert_eq!(AccountTokenPurpose::parse("other"), None);
    }

    #[cfg(feature = "testing")]
    #[tokio::test]
    async fn memory_store_conforms() {
        conformance::account_token_store_conformance(&MemoryAccountTokenStore::new()).await;
        conformance::concurrent_consume_conformance(Arc::new(MemoryAccountTokenStore::new()), 16).await;
    }

    #[test]
    fn debug_hides_the_hash() {
        let t = AccountToken::new(
            "secret-hash",
            AccountTokenPurpose::PasswordReset,
            UserId::new("u"),
            "fp",
            DateTime::UNIX_EPOCH,
            DateTime::UNIX_EPOCH,
        );
        assert!(!format!("{t:?}").contains("secret-hash"));
        let _ = Arc::new(t);
    }
}
