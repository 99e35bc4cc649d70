//! Users and user stores: the extension points an application implements.

use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::sync::RwLock;

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization as _;

use crate::{AuthError, BoxError, SharedClock};

/// A user's stable identifier, as it appears in a token's `sub` claim.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// Wraps an identifier (a UUID, a database integer rendered as text, ...).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fingerprint of a password hash: it changes whenever the password changes, and reveals nothing
/// about the password. Tokens carry it, so a password change invalidates them.
pub fn credential_fingerprint(password_hash: Option<&str>) -> String {
    let digest = Sha256::digest(password_hash.unwrap_or("").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..12])
}

/// What Portcullis needs to know about an application's user type.
///
/// Implement it for your own user struct (see `examples/`), or use [`User`].
pub trait AuthUser: Clone + Debug + Send + Sync + 'static {
    /// The stable identifier.
    fn id(&self) -> UserId;
    /// The username used to sign in.
    fn username(&self) -> &str;
    /// The email address, if any (also accepted to sign in).
    fn email(&self) -> Option<&str>;
    /// Whether the account may sign in. Inactive users' tokens stop working.
    fn is_active(&self) -> bool;
    /// The stored password hash (PHC string); `None` for accounts without a password.
    fn password_hash(&self) -> Option<&str>;
    /// Staff flag (may use admin routes).
    fn is_staff(&self) -> bool {
        false
    }
    /// Superuser flag (has every permission).
    fn is_superuser(&self) -> bool {
        false
    }
    /// Role names.
    fn roles(&self) -> Vec<String> {
        Vec::new()
    }
    /// The tenant the user belongs to, if the application is multi-tenant (checked by
    /// `Guard::tenant` and `Guard::tenant_param`).
    fn tenant(&self) -> Option<String> {
        None
    }
    /// When the user last signed in.
    fn last_login(&self) -> Option<DateTime<Utc>> {
        None
    }
    /// Whether the email address was verified (a link from a verification email was used). The
    /// default is `false`: a user type that does not track it counts as unverified, which matters
    /// only when the server requires verification.
    fn email_verified(&self) -> bool {
        false
    }
    /// Changes whenever the password changes; see [`credential_fingerprint`].
    fn credential_fingerprint(&self) -> String {
        credential_fingerprint(self.password_hash())
    }
    /// A named attribute, for mapping user attributes into token claims. The default knows
    /// `id`, `username`, `email`, `is_active`, `is_staff`, `is_superuser` and `roles`.
    fn attribute(&self, name: &str) -> Option<serde_json::Value> {
        use serde_json::Value;
        match name {
            "id" => Some(Value::String(self.id().to_string())),
            "username" => Some(Value::String(self.username().to_owned())),
            "email" => self.email().map(|e| Value::String(e.to_owned())),
            "is_active" => Some(Value::Bool(self.is_active())),
            "is_staff" => Some(Value::Bool(self.is_staff())),
            "is_superuser" => Some(Value::Bool(self.is_superuser())),
            "roles" => Some(Value::from(self.roles())),
            "tenant" => self.tenant().map(Value::String),
            _ => None,
        }
    }
    /// The public profile returned by `GET /api/auth/me`. Never contains the password hash.
    fn profile(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id().to_string(),
            "username": self.username(),
            "email": self.email(),
            "email_verified": self.email_verified(),
            "is_active": self.is_active(),
            "is_staff": self.is_staff(),
            "is_superuser": self.is_superuser(),
            "roles": self.roles(),
            "last_login": self.last_login(),
        })
    }
}

/// The fields of a user to create.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewUser {
    /// Username (unique up to case and lookalike characters: see [`normalize_login`]).
    pub username: String,
    /// Email (unique when present, case-insensitively: see [`normalize_email`]).
    pub email: Option<String>,
    /// PHC password hash; `None` for an account that cannot sign in with a password.
    pub password_hash: Option<String>,
    /// Staff flag.
    pub is_staff: bool,
    /// Superuser flag.
    pub is_superuser: bool,
    /// Role names.
    pub roles: Vec<String>,
    /// Tenant.
    pub tenant: Option<String>,
}

impl NewUser {
    /// A regular, active user.
    pub fn new(username: impl Into<String>, email: Option<String>, password_hash: String) -> Self {
        Self {
            username: username.into(),
            email,
            password_hash: Some(password_hash),
            is_staff: false,
            is_superuser: false,
            roles: Vec::new(),
            tenant: None,
        }
    }

    /// Sets the staff flag.
    pub fn staff(mut self, is_staff: bool) -> Self {
        self.is_staff = is_staff;
        self
    }

    /// Sets the superuser flag.
    pub fn superuser(mut self, is_superuser: bool) -> Self {
        self.is_superuser = is_superuser;
        self
    }

    /// Sets the roles.
    pub fn roles(mut self, roles: Vec<String>) -> Self {
        self.roles = roles;
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: Option<String>) -> Self {
        self.tenant = tenant;
        self
    }
}

impl Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password_hash", &self.password_hash.as_ref().map(|_| "<redacted>"))
            .field("is_staff", &self.is_staff)
            .field("is_superuser", &self.is_superuser)
            .field("roles", &self.roles)
            .field("tenant", &self.tenant)
            .finish()
    }
}

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateUserError {
    /// Another user has this username, or one that looks like it ([`normalize_login`]).
    #[error("a user with that username already exists")]
    UsernameTaken,
    /// Another user has this email, case-insensitively ([`normalize_email`]).
    #[error("a user with that email already exists")]
    EmailTaken,
    /// The store failed.
    #[error("user store failure")]
    Backend(#[source] BoxError),
    /// The store cannot be reached for now (its database restarting, say): a 503 with
    /// `Retry-After`, nothing created.
    #[error("the user store is unavailable for now")]
    Unavailable {
        /// Seconds after which a retry may succeed.
        retry_after_seconds: u64,
    },
}

impl From<AuthError> for CreateUserError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Unavailable { retry_after_seconds } => Self::Unavailable { retry_after_seconds },
            other => Self::Backend(Box::new(other)),
        }
    }
}

impl From<CreateUserError> for AuthError {
    fn from(error: CreateUserError) -> Self {
        match error {
            CreateUserError::UsernameTaken => {
                AuthError::Conflict(vec![crate::FieldError::new("username", error.to_string())])
            }
            CreateUserError::EmailTaken => {
                AuthError::Conflict(vec![crate::FieldError::new("email", error.to_string())])
            }
            CreateUserError::Backend(e) => AuthError::Backend(e),
            CreateUserError::Unavailable { retry_after_seconds } => {
                AuthError::Unavailable { retry_after_seconds }
            }
        }
    }
}

/// Storage of users. Implement it over your own table to plug in your own user type.
///
/// "Not found" is `Ok(None)`; `Err` is for infrastructure failures only. Usernames compare by
/// [`normalize_login`] (case and lookalike characters ignored: `pаypal` with a Cyrillic `а` is
/// `paypal`), emails by [`normalize_email`] (case and NFKC only), as the bundled stores do: they
/// keep both normal forms in columns with unique indexes. A typed login is compared in both forms,
/// its `normalize_login` with the usernames' and its `normalize_email` with the emails'. SQLite's
/// `COLLATE NOCASE` folds ASCII only and is not enough for non-ASCII usernames.
///
/// The methods are `async_trait` methods: they must return `Send` futures for every web framework,
/// which native `async fn` in traits cannot promise for generic callers.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// The user type this store returns.
    type User: AuthUser;

    /// Finds a user by id.
    async fn find_by_id(&self, id: &UserId) -> Result<Option<Self::User>, AuthError>;

    /// Finds a user by username (by [`normalize_login`]: case and lookalikes ignored) or email (by
    /// [`normalize_email`]); a username match wins.
    async fn find_by_login(&self, login: &str) -> Result<Option<Self::User>, AuthError>;

    /// Creates a user; a taken username or email is a [`CreateUserError`], atomically checked.
    async fn create_user(&self, user: NewUser) -> Result<Self::User, CreateUserError>;

    /// Replaces the password hash (a new password, or a rehash with new parameters).
    async fn set_password_hash(&self, id: &UserId, password_hash: &str) -> Result<(), AuthError>;

    /// Records a successful sign-in.
    async fn record_login(&self, id: &UserId, at: DateTime<Utc>) -> Result<(), AuthError>;

    /// Activates or deactivates a user. Returns `false` when there is no such user.
    async fn set_active(&self, id: &UserId, active: bool) -> Result<bool, AuthError>;

    /// Finds a user by email address only, by [`normalize_email`] (password reset looks users up by
    /// email, never by username). The default asks [`find_by_login`](Self::find_by_login) and
    /// keeps the result only when its email matches.
    async fn find_by_email(&self, email: &str) -> Result<Option<Self::User>, AuthError> {
        let wanted = normalize_email(email);
        let user = self.find_by_login(email).await?;
        Ok(user.filter(|u| u.email().map(normalize_email).as_deref() == Some(wanted.as_str())))
    }

    /// Changes a user's username, email, email-verified, staff and/or superuser flags in one
    /// atomic write; a taken
    /// username or email is a [`CreateUserError`] and changes nothing. Returns the updated user,
    /// `None` when there is no such user. Setting a new email should normally also set
    /// `email_verified` (the bundled flows always say which).
    ///
    /// The default refuses: a store that does not implement it cannot serve profile changes and
    /// email verification (`PATCH /api/auth/me`, `POST /api/auth/email/verify`).
    async fn update_user(
        &self,
        id: &UserId,
        update: UserUpdate,
    ) -> Result<Option<Self::User>, CreateUserError> {
        let _ = (id, update);
        Err(CreateUserError::Backend("this user store does not support updating users".into()))
    }

    /// A page of users for the admin API (`GET /api/auth/admin/users`): those whose username or
    /// email contains `query.search` (case-insensitively), ordered by id, after `query.after`, at
    /// most `query.limit`.
    ///
    /// The default answers [`AuthError::NotFound`]: a store that does not implement it cannot
    /// list users (the admin API's list answers 404).
    async fn list_users(&self, query: &UserQuery) -> Result<Vec<Self::User>, AuthError> {
        let _ = query;
        Err(AuthError::NotFound)
    }
}

/// Which users [`UserStore::list_users`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserQuery {
    /// Only users whose username or email contains this, case-insensitively.
    pub search: Option<String>,
    /// Only users whose id sorts after this one (the previous page's last id).
    pub after: Option<UserId>,
    /// At most this many users.
    pub limit: usize,
}

impl UserQuery {
    /// The first `limit` users.
    pub fn new(limit: usize) -> Self {
        Self { search: None, after: None, limit }
    }

    /// Only users whose username or email contains `search`.
    pub fn search(mut self, search: Option<String>) -> Self {
        self.search = search;
        self
    }

    /// Only users after `after` (by id).
    pub fn after(mut self, after: Option<UserId>) -> Self {
        self.after = after;
        self
    }

    /// Whether `user` matches the search (for store implementations).
    pub fn matches<U: AuthUser>(&self, user: &U) -> bool {
        let Some(search) = self.search.as_deref() else { return true };
        let needle = search.to_lowercase();
        user.username().to_lowercase().contains(&needle)
            || user.email().is_some_and(|e| e.to_lowercase().contains(&needle))
    }
}

/// The fields of a user to change (see [`UserStore::update_user`]); `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserUpdate {
    /// A new username (unique up to case and lookalikes: see [`normalize_login`]).
    pub username: Option<String>,
    /// A new email address (`Some(None)` removes it; unique case-insensitively: see
    /// [`normalize_email`]).
    pub email: Option<Option<String>>,
    /// A new value of the email-verified flag.
    pub email_verified: Option<bool>,
    /// A new value of the staff flag.
    pub is_staff: Option<bool>,
    /// A new value of the superuser flag.
    pub is_superuser: Option<bool>,
}

impl UserUpdate {
    /// Changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the username.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Sets (or with `None` removes) the email address.
    pub fn email(mut self, email: Option<String>) -> Self {
        self.email = Some(email);
        self
    }

    /// Sets the email-verified flag.
    pub fn email_verified(mut self, verified: bool) -> Self {
        self.email_verified = Some(verified);
        self
    }

    /// Sets the staff flag.
    pub fn staff(mut self, is_staff: bool) -> Self {
        self.is_staff = Some(is_staff);
        self
    }

    /// Sets the superuser flag.
    pub fn superuser(mut self, is_superuser: bool) -> Self {
        self.is_superuser = Some(is_superuser);
        self
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.username.is_none()
            && self.email.is_none()
            && self.email_verified.is_none()
            && self.is_staff.is_none()
            && self.is_superuser.is_none()
    }

    /// Applies the update to a [`User`] (for store implementations).
    pub fn apply_to(self, user: &mut User) {
        if let Some(username) = self.username {
            user.username = username;
        }
        if let Some(email) = self.email {
            user.email = email;
        }
        if let Some(verified) = self.email_verified {
            user.email_verified = verified;
        }
        if let Some(is_staff) = self.is_staff {
            user.is_staff = is_staff;
        }
        if let Some(is_superuser) = self.is_superuser {
            user.is_superuser = is_superuser;
        }
    }
}

/// Loads users of type `U` by id: the object-safe view of a [`UserStore`] that extractors use.
#[async_trait]
pub trait UserLoader<U>: Send + Sync + 'static {
    /// The user with this id, if any.
    async fn load_user(&self, id: &UserId) -> Result<Option<U>, AuthError>;
}

#[async_trait]
impl<S: UserStore> UserLoader<S::User> for S {
    async fn load_user(&self, id: &UserId) -> Result<Option<S::User>, AuthError> {
        self.find_by_id(id).await
    }
}

/// The part of a user's state that decides whether their tokens still work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    /// Whether the user is active.
    pub is_active: bool,
    /// The user's current [`credential_fingerprint`].
    pub fingerprint: String,
    /// What the user may do: flags, roles (their own and the role store's), permissions, tenant.
    pub authority: std::sync::Arc<crate::Authority>,
}

/// A short-lived cache of users and their [`UserState`], so that verifying a credential and
/// showing its user (`/api/auth/me`, `CurrentUser`) do not read the user table on every request.
///
/// Changes made through this process ([`UserStateCache::invalidate`],
/// [`UserStateCache::invalidate_all`]) take effect at once; changes made by another process (the
/// admin CLI, another server) within `ttl`. That bound also holds for authority: a role removed
/// from a user, or a permission from a role, stops working within `ttl`.
#[derive(Debug)]
pub struct UserStateCache {
    ttl: Duration,
    clock: SharedClock,
    capacity: usize,
    roles: Option<crate::SharedRoleStore>,
    entries: RwLock<HashMap<UserId, CachedUser>>,
}

/// One cached user: the state credentials are checked against, the record itself (type-erased:
/// the cache serves any [`UserStore`]'s user type) and when it was read.
#[derive(Clone)]
struct CachedUser {
    state: std::sync::Arc<UserState>,
    user: std::sync::Arc<dyn std::any::Any + Send + Sync>,
    fetched: DateTime<Utc>,
}

impl Debug for CachedUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedUser").field("state", &self.state).field("fetched", &self.fetched).finish()
    }
}

impl UserStateCache {
    /// A cache whose entries live for `ttl`.
    pub fn new(ttl: Duration, clock: SharedClock) -> Self {
        Self { ttl, clock, capacity: 100_000, roles: None, entries: RwLock::new(HashMap::new()) }
    }

    /// Resolves roles and permissions with `roles` too (else only the user type's own roles,
    /// without permissions).
    pub fn with_roles(mut self, roles: crate::SharedRoleStore) -> Self {
        self.roles = Some(roles);
        self
    }

    /// The user's authority now, read from `user` and the role store (uncached).
    pub async fn resolve_authority<U: AuthUser>(&self, user: &U) -> Result<crate::Authority, AuthError> {
        let own = user.roles();
        let (roles, permissions) = match &self.roles {
            Some(store) => store.authority_of(&user.id(), &own).await?,
            None => (own.into_iter().collect(), Default::default()),
        };
        let mut authority = crate::Authority::new()
            .staff(user.is_staff())
            .superuser(user.is_superuser())
            .tenant(user.tenant());
        authority.roles = roles;
        authority.permissions = permissions;
        Ok(authority)
    }

    /// The user's state, from the cache or else from the store. `None` when the user is gone.
    pub async fn get<S: UserStore + ?Sized>(
        &self,
        store: &S,
        id: &UserId,
    ) -> Result<Option<UserState>, AuthError> {
        Ok(self.entry(store, id).await?.map(|entry| UserState::clone(&entry.state)))
    }

    /// The user's state, shared with the cache (no copy): what a credential check reads on every
    /// request. `None` when the user is gone.
    pub async fn shared<S: UserStore + ?Sized>(
        &self,
        store: &S,
        id: &UserId,
    ) -> Result<Option<std::sync::Arc<UserState>>, AuthError> {
        Ok(self.entry(store, id).await?.map(|entry| entry.state))
    }

    /// The user's record, from the cache or else from the store (filling the cache, state
    /// included). `None` when the user is gone. The record is as fresh as the state: changes made
    /// through this process's flows at once, other changes within `ttl`. Use it to *show* a user
    /// (`GET /api/auth/me`, the `CurrentUser` extractors); a flow that decides on the user's
    /// secrets (a password check) reads the store.
    pub async fn user<S: UserStore + ?Sized>(
        &self,
        store: &S,
        id: &UserId,
    ) -> Result<Option<S::User>, AuthError> {
        let Some(entry) = self.entry(store, id).await? else { return Ok(None) };
        match entry.user.downcast_ref::<S::User>() {
            Some(user) => Ok(Some(user.clone())),
            // The entry was filled through a store of another user type (one cache shared by
            // two stores): read this store.
            None => store.find_by_id(id).await,
        }
    }

    async fn entry<S: UserStore + ?Sized>(
        &self,
        store: &S,
        id: &UserId,
    ) -> Result<Option<CachedUser>, AuthError> {
        let now = self.clock.now();
        {
            let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = entries.get(id)
                && now - entry.fetched < self.ttl
                && entry.fetched <= now
            {
                return Ok(Some(entry.clone()));
            }
        }
        let Some(user) = store.find_by_id(id).await? else {
            self.invalidate(id);
            return Ok(None);
        };
        let authority = std::sync::Arc::new(self.resolve_authority(&user).await?);
        let state =
            UserState { is_active: user.is_active(), fingerprint: user.credential_fingerprint(), authority };
        let entry =
            CachedUser { state: std::sync::Arc::new(state), user: std::sync::Arc::new(user), fetched: now };
        if self.ttl > Duration::zero() {
            let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(id.clone(), entry.clone());
        }
        Ok(Some(entry))
    }

    /// How many users the cache holds (at most its capacity, 100 000).
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether the cache holds no user.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the cached state of one user (call after changing it).
    pub fn invalidate(&self, id: &UserId) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// Forgets every cached state (call after changing a role's permissions).
    pub fn invalidate_all(&self) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Portcullis' own user type, used by the bundled stores.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// Identifier (a UUID in the bundled stores).
    pub id: UserId,
    /// Username.
    pub username: String,
    /// Email.
    pub email: Option<String>,
    /// Whether the email address was verified.
    #[serde(default)]
    pub email_verified: bool,
    /// PHC password hash.
    #[serde(skip_serializing)]
    pub password_hash: Option<String>,
    /// Active flag.
    pub is_active: bool,
    /// Staff flag.
    pub is_staff: bool,
    /// Superuser flag.
    pub is_superuser: bool,
    /// Roles.
    pub roles: Vec<String>,
    /// Tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// When the account was created.
    pub date_joined: DateTime<Utc>,
    /// Last successful sign-in.
    pub last_login: Option<DateTime<Utc>>,
}

impl User {
    /// Builds a user from a [`NewUser`] (for store implementations).
    pub fn from_new(id: UserId, new: NewUser, date_joined: DateTime<Utc>) -> Self {
        Self {
            id,
            username: new.username,
            email: new.email,
            email_verified: false,
            password_hash: new.password_hash,
            is_active: true,
            is_staff: new.is_staff,
            is_superuser: new.is_superuser,
            roles: new.roles,
            tenant: new.tenant,
            date_joined,
            last_login: None,
        }
    }
}

impl Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("is_active", &self.is_active)
            .field("is_staff", &self.is_staff)
            .field("is_superuser", &self.is_superuser)
            .field("roles", &self.roles)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl AuthUser for User {
    fn id(&self) -> UserId {
        self.id.clone()
    }
    fn username(&self) -> &str {
        &self.username
    }
    fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
    fn is_active(&self) -> bool {
        self.is_active
    }
    fn password_hash(&self) -> Option<&str> {
        self.password_hash.as_deref()
    }
    fn is_staff(&self) -> bool {
        self.is_staff
    }
    fn is_superuser(&self) -> bool {
        self.is_superuser
    }
    fn roles(&self) -> Vec<String> {
        self.roles.clone()
    }
    fn tenant(&self) -> Option<String> {
        self.tenant.clone()
    }
    fn last_login(&self) -> Option<DateTime<Utc>> {
        self.last_login
    }
    fn email_verified(&self) -> bool {
        self.email_verified
    }
}

/// A username as stores compare it, and the key of everything counted per login.
///
/// Two usernames that *look* alike are the same username: the result is the [UTS #39] confusable
/// skeleton of the NFKC-normalised, case-folded text, so `paypal` and `pаypal` (Cyrillic `а`),
/// `ℌello` and `hello`, `ᴜser` and `user`, `Straße` and `STRASSE` all give one value. Stores keep
/// it in a unique column: registering a lookalike of a taken username is
/// [`CreateUserError::UsernameTaken`], and signing in with a lookalike spelling reaches the account.
///
/// It is the strongest normalisation Portcullis applies to a login, so limits that count per login
/// key their counters with it: every spelling that reaches one account — by username, or by email
/// (`normalize_login(a) == normalize_login(b)` whenever `normalize_email(a) == normalize_email(b)`)
/// — shares one counter. (Two distinct lookalike emails share one too; that only makes guessing
/// harder.)
///
/// The value is a comparison key, never shown: it is not meant to be readable (`admin` gives
/// `adrnin`, `0` gives `o`). It depends on Unicode's confusables data, so auth-core pins the crate
/// that carries it (`unicode-security`, Unicode 18): a newer table must come with a migration
/// that recomputes stored values, as auth-sea-orm's `m0010_confusable_usernames` does.
///
/// The steps: NFKC; full case folding (lowercase, uppercase, lowercase: `ß` → `ss`, `ς` → `σ`);
/// NFKC again; then the skeleton (default-ignorable characters such as zero-width spaces and
/// Hangul fillers dropped, each character mapped to its prototype) and the case folding again,
/// repeated until nothing changes (a prototype is sometimes an uppercase letter; two rounds
/// always suffice in practice, at most eight are made).
///
/// [UTS #39]: https://www.unicode.org/reports/tr39/#Confusable_Detection
pub fn normalize_login(login: &str) -> String {
    const MAX_ROUNDS: usize = 8;
    let mut key = fold_case(&normalize_email(login));
    for _ in 0..MAX_ROUNDS {
        let skeleton: String = unicode_security::skeleton(&key).collect();
        let next = fold_case(&skeleton);
        if next == key {
            break;
        }
        key = next;
    }
    key
}

/// An email address as stores compare it: NFKC-normalised and lowercased (`to_lowercase`), so
/// `Alice@Example.com` and `ａｌｉｃｅ@example.com` (fullwidth) are one address.
///
/// Deliberately weaker than [`normalize_login`]: two distinct addresses that merely look alike
/// (`bob@examp1e.com`, `bob@example.com`) are different mailboxes and stay different accounts.
/// Merging by NFKC is safe because mail always goes to the address stored with the account, never
/// to the spelling someone typed.
pub fn normalize_email(email: &str) -> String {
    let nfkc: String = email.nfkc().collect();
    nfkc.to_lowercase().nfkc().collect()
}

/// Full case folding, approximated with the standard library's complete mappings (uppercase then
/// lowercase, on text [`normalize_email`] already lowercased), then NFKC again.
fn fold_case(text: &str) -> String {
    text.to_uppercase().to_lowercase().nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::{normalize_email, normalize_login};

    #[test]
    fn lookalike_usernames_share_one_form() {
        for (a, b) in [
            ("paypal", "p\u{430}ypal"), // Cyrillic а
            ("hello", "\u{210c}ello"),  // ℌ, black-letter capital H
            ("user", "\u{1d1c}ser"),    // ᴜ, small capital U
            ("Alice", "ALICE"),
            ("Stra\u{df}e", "STRASSE"), // ß folds to ss
            ("google", "g00gle"),
            ("admin", "adm\u{456}n"), // Cyrillic і
            ("bob", "b\u{200b}ob"),   // zero-width space
            ("bob", "bob\u{3164}"),   // Hangul filler
            ("rn", "m"),
            ("ix", "\u{2168}"),     // Roman numeral nine
            ("\u{3c3}", "\u{3a3}"), // σ Σ
        ] {
            assert_eq!(normalize_login(a), normalize_login(b), "{a:?} vs {b:?}");
        }
        for (a, b) in [("alice", "bob"), ("paypal", "paypa"), ("anna", "ama")] {
            assert_ne!(normalize_login(a), normalize_login(b), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn the_login_form_is_stable() {
        // A stored form normalises to itself, so recomputing it (a migration) changes nothing.
        for c in (0..0x3_0000).filter_map(char::from_u32) {
            let form = normalize_login(&format!("a{c}b"));
            assert_eq!(normalize_login(&form), form, "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn emails_fold_case_and_width_but_not_lookalikes() {
        assert_eq!(normalize_email("Alice@Example.COM"), "alice@example.com");
        assert_eq!(normalize_email("\u{ff41}lice@example.com"), "alice@example.com"); // fullwidth a
        assert_ne!(normalize_email("bob@examp1e.com"), normalize_email("bob@example.com"));
        assert_ne!(normalize_email("p\u{430}ypal@example.com"), normalize_email("paypal@example.com"));
    }

    #[test]
    fn one_email_spelling_is_one_login_key() {
        // Rate limits key by normalize_login: equal email forms must give equal keys.
        for (a, b) in [("Alice@Example.com", "alice@example.com"), ("\u{ff41}@x.org", "A@X.ORG")] {
            assert_eq!(normalize_email(a), normalize_email(b));
            assert_eq!(normalize_login(a), normalize_login(b));
        }
    }
}
