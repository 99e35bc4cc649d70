//! Account operations shared by every credential kind and the admin CLI: registration, password
//! checks, password changes and deactivation, with one input policy.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{AuthError, AuthUser, NewUser, PasswordHasher, UserId, UserStore};

/// Input rules for accounts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccountPolicy {
    /// Shortest password accepted, in characters (default 8).
    pub min_password_chars: usize,
}

impl Default for AccountPolicy {
    fn default() -> Self {
        Self { min_password_chars: 8 }
    }
}

/// A request to create an account.
#[derive(Clone)]
#[non_exhaustive]
pub struct Registration {
    /// Username: 1-150 letters, digits and `. _ - +`.
    pub username: String,
    /// Optional email.
    pub email: Option<String>,
    /// Password (hashed before it is stored).
    pub password: String,
    /// Staff flag (never settable over the public API).
    pub is_staff: bool,
    /// Superuser flag (never settable over the public API).
    pub is_superuser: bool,
}

impl Registration {
    /// A regular user.
    pub fn new(username: impl Into<String>, email: Option<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            email,
            password: password.into(),
            is_staff: false,
            is_superuser: false,
        }
    }

    /// Sets the staff flag (admin tools only; the public registration endpoint never does).
    pub fn staff(mut self, is_staff: bool) -> Self {
        self.is_staff = is_staff;
        self
    }

    /// Sets the superuser flag (admin tools only).
    pub fn superuser(mut self, is_superuser: bool) -> Self {
        self.is_superuser = is_superuser;
        self
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("is_staff", &self.is_staff)
            .field("is_superuser", &self.is_superuser)
            .finish_non_exhaustive()
    }
}

/// Account operations over a [`UserStore`] and a [`PasswordHasher`].
pub struct Accounts<S: UserStore> {
    store: Arc<S>,
    hasher: PasswordHasher,
    policy: AccountPolicy,
}

impl<S: UserStore> fmt::Debug for Accounts<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts").field("hasher", &self.hasher).field("policy", &self.policy).finish()
    }
}

impl<S: UserStore> Accounts<S> {
    /// Account operations with the default policy.
    pub fn new(store: Arc<S>, hasher: PasswordHasher) -> Self {
        Self { store, hasher, policy: AccountPolicy::default() }
    }

    /// Sets the policy.
    pub fn with_policy(mut self, policy: AccountPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Checks a username.
    pub fn validate_username(username: &str) -> Result<(), AuthError> {
        let ok_chars = username.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
        if username.is_empty() || username.chars().count() > 150 || !ok_chars {
            return Err(AuthError::invalid_field(
                "username",
                "must be 1-150 characters: letters, digits and . _ - + only",
            ));
        }
        Ok(())
    }

    /// Checks an email address (shape only).
    pub fn validate_email(email: &str) -> Result<(), AuthError> {
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.contains('@') && domain.contains('.') && !domain.starts_with('.')
            })
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid { Ok(()) } else { Err(AuthError::invalid_field("email", "is not a valid email address")) }
    }

    /// Checks a new password against the policy.
    pub fn validate_password(&self, password: &str) -> Result<(), AuthError> {
        if password.chars().count() < self.policy.min_password_chars {
            return Err(AuthError::invalid_field(
                "password",
                format!("must be at least {} characters long", self.policy.min_password_chars),
            ));
        }
        if password.len() > self.hasher.max_password_bytes() {
            return Err(AuthError::invalid_field(
                "password",
                format!("must be at most {} bytes long", self.hasher.max_password_bytes()),
            ));
        }
        Ok(())
    }

    /// Creates an account. A taken username or email is a conflict naming the field; nothing is
    /// created on any error.
    pub async fn register(&self, registration: Registration) -> Result<S::User, AuthError> {
        Self::validate_username(&registration.username)?;
        let email = registration.email.filter(|e| !e.is_empty());
        if let Some(email) = &email {
            Self::validate_email(email)?;
        }
        self.validate_password(&registration.password)?;
        let hash = self.hasher.hash(&registration.password).await?;
        let new = NewUser::new(registration.username, email, hash)
            .staff(registration.is_staff)
            .superuser(registration.is_superuser);
        Ok(self.store.create_user(new).await?)
    }

    /// Checks a username (or email) and password, records the sign-in and rehashes the password
    /// when the hashing parameters changed. Unknown user, wrong password and inactive user are the
    /// same [`AuthError::InvalidCredentials`], after the same hashing work.
    pub async fn authenticate_password(
        &self,
        login: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<S::User, AuthError> {
        let user = self.check_password(login, password).await?;
        self.record_login(&user.id(), now).await?;
        Ok(user)
    }

    /// [`Accounts::authenticate_password`] without recording the sign-in: for flows with a further
    /// step (a second factor) that record it with [`Accounts::record_login`] once complete.
    pub async fn check_password(&self, login: &str, password: &str) -> Result<S::User, AuthError> {
        let user = self.store.find_by_login(login).await?;
        self.check_password_of(user, password).await?.ok_or(AuthError::InvalidCredentials)
    }

    /// Re-authentication of a signed-in user (before a sensitive change): whether `password` is
    /// the active user `id`'s password, after the same hashing work whatever the answer.
    pub async fn verify_password(&self, id: &UserId, password: &str) -> Result<bool, AuthError> {
        let user = self.store.find_by_id(id).await?;
        Ok(self.check_password_of(user, password).await?.is_some())
    }

    async fn check_password_of(
        &self,
        user: Option<S::User>,
        password: &str,
    ) -> Result<Option<S::User>, AuthError> {
        let stored = user.as_ref().and_then(|u| u.password_hash());
        let check = self.hasher.verify(password, stored).await?;
        let user = match user {
            Some(user) if check.is_valid() && user.is_active() => user,
            _ => return Ok(None),
        };
        if !check.needs_rehash() {
            return Ok(Some(user));
        }
        let hash = self.hasher.hash(password).await?;
        self.store.set_password_hash(&user.id(), &hash).await?;
        tracing::info!(user_id = %user.id(), "rehashed password with the current parameters");
        self.store.find_by_id(&user.id()).await
    }

    /// Records a completed sign-in of `id` at `now` (its last-login time).
    pub async fn record_login(&self, id: &UserId, now: DateTime<Utc>) -> Result<(), AuthError> {
        self.store.record_login(id, now).await
    }

    /// Sets a new password (the policy applies). Returns [`AuthError::NotFound`] for an unknown id.
    pub async fn set_password(&self, id: &UserId, password: &str) -> Result<(), AuthError> {
        self.validate_password(password)?;
        if self.store.find_by_id(id).await?.is_none() {
            return Err(AuthError::NotFound);
        }
        let hash = self.hasher.hash(password).await?;
        self.store.set_password_hash(id, &hash).await
    }

    /// Activates or deactivates an account. Returns [`AuthError::NotFound`] for an unknown id.
    pub async fn set_active(&self, id: &UserId, active: bool) -> Result<(), AuthError> {
        if self.store.set_active(id, active).await? { Ok(()) } else { Err(AuthError::NotFound) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryUserStore, PasswordHasherConfig};

    fn accounts() -> Accounts<MemoryUserStore> {
        let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
        Accounts::new(Arc::new(MemoryUserStore::new()), hasher)
    }

    #[tokio::test]
    async fn register_validates_and_conflicts() {
        let a = accounts();
        a.register(Registration::new("alice", Some("a@example.com".into()), "password1")).await.unwrap();
        let e = a.register(Registration::new("ALICE", None, "password1")).await.unwrap_err();
        assert!(matches!(e, AuthError::Conflict(_)));
        let e = a
            .register(Registration::new("bob", Some("A@example.com".into()), "password1"))
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::Conflict(_)));
        for (name, email, pw) in [
            ("", None, "password1"),
            ("has space", None, "password1"),
            ("x@y", None, "password1"),
            ("carol", Some("not-an-email".to_owned()), "password1"),
            ("carol", None, "short"),
        ] {
            let e = a.register(Registration::new(name, email, pw)).await.unwrap_err();
            assert!(matches!(e, AuthError::InvalidInput(_)), "{name}");
        }
    }

    #[tokio::test]
    async fn password_checks_are_uniform() {
        let a = accounts();
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let user = a.register(Registration::new("dave", None, "password1")).await.unwrap();
        assert!(a.authenticate_password("Dave", "password1", now).await.is_ok());
        assert_eq!(a.store().find_by_id(&user.id).await.unwrap().unwrap().last_login, Some(now));
        assert!(matches!(
            a.authenticate_password("dave", "wrong-password", now).await,
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            a.authenticate_password("nobody", "password1", now).await,
            Err(AuthError::InvalidCredentials)
        ));
        a.set_active(&user.id, false).await.unwrap();
        assert!(matches!(
            a.authenticate_password("dave", "password1", now).await,
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(a.set_active(&UserId::new("nope"), false).await, Err(AuthError::NotFound)));
    }
}
