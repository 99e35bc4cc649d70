//! # auth-sea-orm
//!
//! SQLite and PostgreSQL implementations of the Portcullis store traits, on
//! [sea-orm](https://www.sea-ql.org/SeaORM/) 2.0, with one migrator for all their tables.
//! Applications normally reach it through the `portcullis` facade's `sqlite` / `postgres`
//! features; depend on it directly to open the pool yourself or to query the tables.
//!
//! - [`connect`] / [`connect_with`]: a pool with short timeouts and, on SQLite, WAL,
//!   `busy_timeout` and `foreign_keys` on every connection.
//! - [`Migrator`] and [`migrate`]: every Portcullis table, identical on both databases.
//! - [`SeaOrmUserStore`]: [`auth_core::UserStore`] for [`auth_core::User`].
//! - [`SeaOrmRoleStore`]: [`auth_core::RoleStore`], i.e. roles, the permissions they grant and
//!   the users' role assignments, every change one atomic statement or transaction.
//! - `SeaOrmGrantStore` (feature `blacklist`): `auth_blacklist::GrantStore`, i.e. grants,
//!   race-free refresh-token rotation with reuse detection, and the revocation log.
//! - `SeaOrmOpaqueTokenStore` and `SeaOrmApiKeyStore` (feature `token`): `auth_token`'s
//!   `OpaqueTokenStore` and `ApiKeyStore`, holding only the SHA-256 hashes of the secrets.
//! - `SeaOrmSessionStore` (feature `session`): `auth_session`'s `SessionStore`, holding only the
//!   SHA-256 hashes of the session ids.
//! - `SeaOrmMfaStore` (feature `mfa`): `auth_mfa`'s `MfaStore`, i.e. TOTP factors (the secret
//!   only sealed), hashed single-use recovery codes and MFA challenges (under the hash of the
//!   `mfa_token`), with race-free replay protection.
//! - [`SeaOrmAccountTokenStore`]: `auth_core::account_tokens::AccountTokenStore`, the single-use
//!   tokens of password-reset and email-verification links, only as their SHA-256.
//! - [`SeaOrmAuditStore`]: `auth_core::audit::AuditStore`, the audit log (`portcullis_audit_events`).
//! - `SeaOrmLimitStore` (feature `ratelimit`): `auth_ratelimit::LimitStore`, rate-limit counters
//!   shared by every server process, each hit one atomic upsert.
//! - [`entity`]: the sea-orm entities, to join the tables with your own.
//!
//! Every store passes the conformance suites of `auth_core::testing` (users and roles), `auth_core::account_tokens`,
//! `auth_core::audit`, `auth_ratelimit::testing`, `auth_blacklist::testing`,
//! `auth_token::testing`, `auth_session::testing` and `auth_mfa::testing` on both databases.
//!
//! ## Features
//!
//! | feature     | default | what it adds |
//! |-------------|---------|--------------|
//! | `sqlite`    | yes     | the SQLite driver (`sqlite://file.db?mode=rwc`, `sqlite::memory:`), bundled SQLite |
//! | `postgres`  | yes     | the PostgreSQL driver (`postgres://user:password@host/db`) |
//! | `blacklist` | yes     | `SeaOrmGrantStore`, the grant store of `auth-blacklist` |
//! | `token`     | yes     | `SeaOrmOpaqueTokenStore` and `SeaOrmApiKeyStore`, the stores of `auth-token` |
//! | `session`   | yes     | `SeaOrmSessionStore`, the session store of `auth-session` |
//! | `mfa`       | yes     | `SeaOrmMfaStore`, the factor store of `auth-mfa` |
//! | `ratelimit` | yes     | `SeaOrmLimitStore`, the counter store of `auth-ratelimit` |
//! | `oauth`     |         | `SeaOrmLinkedAccountStore`, the linked-account store of `auth-oauth` |
//! | `email-sign-in` |     | `SeaOrmEmailSignInStore`, the pending-sign-in store of `auth-email-sign-in` |
//! | `webauthn`  |         | `SeaOrmPasskeyStore`, the passkey store of `auth-webauthn` |
//! | (always)    |         | `SeaOrmUserStore`, `SeaOrmRoleStore`, `SeaOrmAccountTokenStore`, `SeaOrmAuditStore`: the stores of `auth-core` |
//!
//! The migrator creates every table whatever the features (a feature adds API, never schema).
//!
//! With a driver left out, [`connect`] refuses its URLs with [`DbError::DriverDisabled`].
//!
//! ## Example
//!
//! ```
//! use auth_core::{NewUser, UserStore};
//! use auth_sea_orm::{SeaOrmUserStore, connect, migrate};
//!
//! # #[cfg(feature = "sqlite")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Or "sqlite://portcullis.db?mode=rwc", "postgres://app:secret@127.0.0.1/app".
//! let db = connect("sqlite::memory:").await?;
//! migrate(&db).await?; // idempotent: run it at every start
//!
//! let users = SeaOrmUserStore::new(db);
//! let alice = users.create_user(NewUser::new("Alice", None, "$argon2id$...".into())).await?;
//! assert_eq!(users.find_by_login("alice").await?.map(|u| u.id), Some(alice.id));
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "sqlite"))]
//! # fn main() {}
//! ```
//!
//! ## SQLite notes
//!
//! Writes are serialised by SQLite; a writer waits up to the busy timeout
//! ([`ConnectConfig::sqlite_busy_timeout`]) for the lock. A transaction that reads and then writes
//! should start with `BEGIN IMMEDIATE` (sea-orm: `TransactionOptions::sqlite_transaction_mode`),
//! or it may fail with "database is locked" instead of waiting.

#![forbid(unsafe_code)]

mod account_token_store;
mod audit_store;
mod connect;
#[cfg(feature = "email-sign-in")]
mod email_sign_in_store;
pub mod entity;
mod error;
#[cfg(feature = "blacklist")]
mod grant_store;
#[cfg(feature = "oauth")]
mod linked_account_store;
#[cfg(feature = "mfa")]
mod mfa_store;
mod migration;
#[cfg(feature = "webauthn")]
mod passkey_store;
#[cfg(feature = "ratelimit")]
mod rate_limit_store;
mod role_store;
#[cfg(feature = "session")]
mod session_store;
#[cfg(feature = "token")]
mod token_store;
// `sqlite`: `connect` retries a busy database with it.
#[cfg(any(
    feature = "sqlite",
    feature = "blacklist",
    feature = "token",
    feature = "session",
    feature = "mfa",
    feature = "ratelimit"
))]
mod transient;
mod user_store;

pub use account_token_store::SeaOrmAccountTokenStore;
pub use audit_store::SeaOrmAuditStore;
pub use connect::{
    ConnectConfig, DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_SQLITE_BUSY_TIMEOUT,
    DEFAULT_SQLITE_MAX_CONNECTIONS, SQLITE_CACHE_KIB, SQLITE_MMAP_BYTES, SQLITE_WAL_AUTOCHECKPOINT,
    SqliteSynchronous, connect, connect_with,
};
#[cfg(feature = "email-sign-in")]
pub use email_sign_in_store::SeaOrmEmailSignInStore;
pub use error::DbError;
#[cfg(feature = "blacklist")]
pub use grant_store::{GroupCommitStats, SeaOrmGrantStore};
#[cfg(feature = "oauth")]
pub use linked_account_store::SeaOrmLinkedAccountStore;
#[cfg(feature = "mfa")]
pub use mfa_store::SeaOrmMfaStore;
pub use migration::{LEGACY_PREFIX, MIGRATION_TABLE, Migrator, migrate, pending_migrations};
#[cfg(feature = "webauthn")]
pub use passkey_store::SeaOrmPasskeyStore;
#[cfg(feature = "ratelimit")]
pub use rate_limit_store::SeaOrmLimitStore;
pub use role_store::SeaOrmRoleStore;
#[cfg(feature = "session")]
pub use session_store::SeaOrmSessionStore;
#[cfg(feature = "token")]
pub use token_store::{SeaOrmApiKeyStore, SeaOrmOpaqueTokenStore};
pub use user_store::SeaOrmUserStore;

pub use sea_orm;
pub use sea_orm_migration;
