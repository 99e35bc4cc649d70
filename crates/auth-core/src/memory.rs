//! The in-memory user store.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::user::{normalize_email, normalize_login};
use crate::{
    AuthError, CreateUserError, NewUser, SharedClock, SystemClock, User, UserId, UserStore, UserUpdate,
};

/// A user store in memory, for tests, examples and single-process prototypes. Clones share data.
#[derive(Debug, Clone)]
pub struct MemoryUserStore {
    users: Arc<RwLock<Vec<User>>>,
    clock: SharedClock,
}

impl Default for MemoryUserStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryUserStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(SystemClock::shared())
    }

    /// An empty store whose `date_joined` comes from `clock`.
    pub fn with_clock(clock: SharedClock) -> Self {
        Self { users: Arc::new(RwLock::new(Vec::new())), clock }
    }

    fn update(&self, id: &UserId, f: impl FnOnce(&mut User)) -> bool {
        let mut users = self.users.write().unwrap_or_else(|p| p.into_inner());
        match users.iter_mut().find(|u| &u.id == id) {
            Some(user) => {
                f(user);
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl UserStore for MemoryUserStore {
    type User = User;

    async fn find_by_id(&self, id: &UserId) -> Result<Option<User>, AuthError> {
        let users = self.users.read().unwrap_or_else(|p| p.into_inner());
        Ok(users.iter().find(|u| &u.id == id).cloned())
    }

    async fn find_by_login(&self, login: &str) -> Result<Option<User>, AuthError> {
        // Usernames compare by skeleton, emails by their own (weaker) form: see `normalize_email`.
        let (name, email) = (normalize_login(login), normalize_email(login));
        let users = self.users.read().unwrap_or_else(|p| p.into_inner());
        let by_name = users.iter().find(|u| normalize_login(&u.username) == name);
        let found = by_name.or_else(|| {
            users.iter().find(|u| u.email.as_deref().map(normalize_email).as_deref() == Some(&email))
        });
        Ok(found.cloned())
    }

    async fn create_user(&self, new: NewUser) -> Result<User, CreateUserError> {
        let now = self.clock.now();
        let mut users = self.users.write().unwrap_or_else(|p| p.into_inner());
        let name = normalize_login(&new.username);
        if users.iter().any(|u| normalize_login(&u.username) == name) {
            return Err(CreateUserError::UsernameTaken);
        }
        if let Some(email) = new.email.as_deref().map(normalize_email)
            && users.iter().any(|u| u.email.as_deref().map(normalize_email).as_ref() == Some(&email))
        {
            return Err(CreateUserError::EmailTaken);
        }
        let user = User::from_new(UserId::new(uuid::Uuid::new_v4().to_string()), new, now);
        users.push(user.clone());
        Ok(user)
    }

    async fn set_password_hash(&self, id: &UserId, password_hash: &str) -> Result<(), AuthError> {
        self.update(id, |u| u.password_hash = Some(password_hash.to_owned()));
        Ok(())
    }

    async fn record_login(&self, id: &UserId, at: DateTime<Utc>) -> Result<(), AuthError> {
        self.update(id, |u| u.last_login = Some(at));
        Ok(())
    }

    async fn set_active(&self, id: &UserId, active: bool) -> Result<bool, AuthError> {
        Ok(self.update(id, |u| u.is_active = active))
    }

    async fn update_user(&self, id: &UserId, update: UserUpdate) -> Result<Option<User>, CreateUserError> {
        let mut users = self.users.write().unwrap_or_else(|p| p.into_inner());
        let others = || users.iter().filter(|u| &u.id != id);
        if let Some(name) = update.username.as_deref().map(normalize_login)
            && others().any(|u| normalize_login(&u.username) == name)
        {
            return Err(CreateUserError::UsernameTaken);
        }
        if let Some(Some(email)) = update.email.as_ref().map(|e| e.as_deref().map(normalize_email))
            && others().any(|u| u.email.as_deref().map(normalize_email).as_ref() == Some(&email))
        {
            return Err(CreateUserError::EmailTaken);
        }
        let Some(user) = users.iter_mut().find(|u| &u.id == id) else {
            return Ok(None);
        };
        update.apply_to(user);
        Ok(Some(user.clone()))
    }

    async fn list_users(&self, query: &crate::UserQuery) -> Result<Vec<User>, AuthError> {
        let users = self.users.read().unwrap_or_else(|p| p.into_inner());
        let mut page: Vec<User> = users
            .iter()
            .filter(|u| query.after.as_ref().is_none_or(|after| &u.id > after) && query.matches(*u))
            .cloned()
            .collect();
        page.sort_by(|a, b| a.id.cmp(&b.id));
        page.truncate(query.limit);
        Ok(page)
    }
}
