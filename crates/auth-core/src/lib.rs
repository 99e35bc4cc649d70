//! # auth-core
//!
//! The framework-free heart of Portcullis. Depend on this crate when you write a store, a credential
//! kind or a framework adapter; applications normally depend on the `portcullis` facade instead.
//!
//! It holds only traits and plain types:
//!
//! - [`AuthUser`] and [`UserStore`]: what an application implements for its own user type and table
//!   (the [`User`] type and [`MemoryUserStore`] are a ready-made pair).
//! - [`Accounts`]: registration, password checks and changes, deactivation, with one policy.
//! - [`PasswordHasher`]: argon2id on the blocking pool behind a concurrency cap, with rehash-on-login
//!   and a dummy hash for unknown users.
//! - `django_hash` (feature `django-hashes`): the password hashes Django stores (PBKDF2, argon2, bcrypt, scrypt), which
//!   [`PasswordHasher::verify`] accepts and replaces with argon2id at the first sign-in, and the
//!   bounds an importer checks them against.
//! - [`Principal`]: the one authenticated identity every credential kind produces.
//! - [`Authenticator`] over [`http::request::Parts`], and [`FirstPresented`]: the first presented
//!   credential decides.
//! - [`account_tokens`]: the single-use, hashed, expiring tokens of password-reset and
//!   email-verification links, with [`AccountTokenStore`](account_tokens::AccountTokenStore).
//! - [`audit`]: typed security events and the audit-log store.
//! - [`Clock`] ([`SystemClock`], [`ManualClock`]) and [`AuthError`], whose HTTP mapping
//!   ([`AuthError::status`], [`ErrorBody`]) both adapters share.
//!
//! No axum, poem, sea-orm or jsonwebtoken type appears in this crate's public API.
//!
//! ## Features
//!
//! | feature   | default | what it adds |
//! |-----------|---------|--------------|
//! | `testing` | no      | [`testing`]: the user-store conformance suite every store implementation runs |
//! | `django-hashes` | no | `django_hash`: Django's password hashes verified by [`PasswordHasher::verify`] (accounts imported from Django) |
//!
//! ## Example
//!
//! ```
//! use auth_core::{MemoryUserStore, NewUser, PasswordHasher, PasswordHasherConfig, UserStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), auth_core::AuthError> {
//! let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests())?;
//! let store = MemoryUserStore::new();
//! let hash = hasher.hash("correct horse battery staple").await?;
//! store.create_user(NewUser::new("alice", Some("alice@example.com".into()), hash)).await?;
//!
//! let user = store.find_by_login("ALICE").await?.expect("case-insensitive lookup");
//! let check = hasher.verify("correct horse battery staple", user.password_hash.as_deref()).await?;
//! assert!(check.is_valid());
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod account_tokens;
mod accounts;
pub mod audit;
mod authenticator;
pub mod authz;
mod clock;
mod device;
#[cfg(feature = "django-hashes")]
pub mod django_hash;
mod error;
mod expiring_map;
pub mod http_support;
pub mod key_file;
mod memory;
mod password;
mod principal;
#[cfg(feature = "testing")]
pub mod testing;
mod user;

pub use accounts::{
    AccountPolicy, Accounts, BreachPolicy, BreachedPasswords, Registration, STRONG_LENGTH,
    is_common_password, password_strength,
};
pub use authenticator::{Authenticator, FirstPresented, SharedAuthenticator};
pub use authz::{
    Authority, Guard, IsAuthenticated, IsStaff, IsSuperuser, MemoryRoleStore, PathParams, Policy, Role,
    RoleStore, SharedRoleStore, validate_permission, validate_role_name,
};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock, saturating_add, saturating_sub};
pub use device::{
    DEVICE_COOKIE_NAME, DEVICE_COOKIE_SECURE_NAME, DEVICE_LIFETIME, DeviceCookie, DeviceId, DeviceKey,
};
pub use error::{AuthError, BoxError, ErrorBody, FieldError, TokenRejection};
pub use expiring_map::ExpiringMap;
pub use memory::MemoryUserStore;
pub use password::{HasherStats, PasswordCheck, PasswordHasher, PasswordHasherConfig, normalize_password};
pub use principal::{CredentialMethod, Principal, Requirements, SECOND_FACTOR_AMR};
pub use user::{
    AuthUser, CreateUserError, NewUser, User, UserId, UserLoader, UserQuery, UserState, UserStateCache,
    UserStore, UserUpdate, credential_fingerprint, normalize_email, normalize_login,
};

pub use async_trait::async_trait;
