//! The one migrator for every Portcullis table.

use sea_orm::sea_query::{Alias, IntoIden};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, DynIden, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

use crate::DbError;

mod m0001_create_users;
mod m0002_create_grants;
mod m0003_create_tokens;
mod m0004_create_sessions;
mod m0005_create_mfa;
mod m0006_add_amr_and_grant_kind;
mod m0007_create_account_tokens;
mod m0008_create_rate_limits;
mod m0009_create_audit_events;
mod m0010_confusable_usernames;
mod m0011_create_roles;
mod m0012_create_linked_accounts;
mod m0013_add_linked_account_tokens;
mod m0014_create_email_sign_ins;
mod m0015_create_passkeys;

/// The table that records which Portcullis migrations ran. It is not sea-orm's default
/// `seaql_migrations`, so an application's own sea-orm migrator can live in the same database.
pub const MIGRATION_TABLE: &str = "portcullis_migrations";

/// Marks a `username_normalized` or `email_normalized` value kept in its pre-m0010 form
/// (`to_lowercase()`) because the account collided with an older one when migration
/// `m0010_confusable_usernames` recomputed the column: `＃legacy:` and the old form.
///
/// It starts with U+FF03 FULLWIDTH NUMBER SIGN, which NFKC always replaces, so no value of
/// `auth_core::normalize_login` or `auth_core::normalize_email` (both end in NFKC) can equal a
/// legacy value. [`SeaOrmUserStore`](crate::SeaOrmUserStore) looks the legacy form of a typed login
/// up first.
pub const LEGACY_PREFIX: &str = "\u{ff03}legacy:";

/// Key of the PostgreSQL advisory lock that serialises concurrent [`migrate`] calls
/// (the bytes of `"portcull"`).
const PG_MIGRATION_LOCK: i64 = 0x706f_7274_6375_6c6c;

/// Every Portcullis migration, in order, for SQLite and PostgreSQL alike.
///
/// Capabilities add their tables here as new migrations; released migrations never change.
/// [`migrate`] is the usual way to run it; `Migrator::status`, `Migrator::down` and the rest of
/// [`MigratorTrait`] work too.
///
/// | migration             | creates |
/// |-----------------------|---------|
/// | `m0001_create_users` | `portcullis_users` (see [`entity::users`](crate::entity::users)) |
/// | `m0002_create_grants` | `portcullis_grants`, `portcullis_refresh_tokens`, `portcullis_revocations`, `portcullis_user_not_before`, `portcullis_security_events` (see [`entity`](crate::entity)) |
/// | `m0003_create_tokens` | `portcullis_opaque_tokens`, `portcullis_api_keys` (see [`entity`](crate::entity)) |
/// | `m0004_create_sessions` | `portcullis_sessions` (see [`entity::sessions`](crate::entity::sessions)) |
/// | `m0005_create_mfa` | `portcullis_mfa_totp_factors`, `portcullis_mfa_recovery_codes`, `portcullis_mfa_challenges` (see [`entity`](crate::entity)) |
/// | `m0006_add_amr_and_grant_kind` | column `amr` of `portcullis_opaque_tokens` and `portcullis_sessions`, column `kind` of `portcullis_grants` |
/// | `m0007_create_account_tokens` | column `email_verified` of `portcullis_users`; `portcullis_account_tokens` (see [`entity::account_tokens`](crate::entity::account_tokens)) |
/// | `m0008_create_rate_limits` | `portcullis_rate_limits` (see [`entity::rate_limits`](crate::entity::rate_limits)) |
/// | `m0009_create_audit_events` | `portcullis_audit_events` (see [`entity::audit_events`](crate::entity::audit_events)) |
/// | `m0010_confusable_usernames` | no schema: recomputes `username_normalized` (the lookalike skeleton) and `email_normalized` (NFKC, lowercase) of `portcullis_users`; colliding younger accounts keep their old form behind [`LEGACY_PREFIX`] |
/// | `m0011_create_roles` | column `tenant` of `portcullis_users`; `portcullis_roles`, `portcullis_role_permissions`, `portcullis_user_roles` (see [`entity::roles`](crate::entity::roles)) |
/// | `m0012_create_linked_accounts` | `portcullis_linked_accounts` (see [`entity::linked_accounts`](crate::entity::linked_accounts)) |
/// | `m0013_add_linked_account_tokens` | column `tokens` of `portcullis_linked_accounts` (the provider's tokens, sealed, when stored) |
/// | `m0014_create_email_sign_ins` | `portcullis_email_sign_ins` (see [`entity::email_sign_ins`](crate::entity::email_sign_ins)) |
/// | `m0015_create_passkeys` | `portcullis_passkeys`, `portcullis_passkey_challenges` (see [`entity::passkeys`](crate::entity::passkeys)) |
///
/// Every migration runs whatever the features: a feature adds API, never schema, so switching one
/// on or off later never leaves the migration history out of step with the migrator.
///
/// Migrations run inside one transaction (see [`migrate`]). `PRAGMA foreign_keys` cannot change
/// inside a transaction, so a SQLite migration that rebuilds a table uses
/// `PRAGMA defer_foreign_keys = ON` instead.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_create_users::Migration),
            Box::new(m0002_create_grants::Migration),
            Box::new(m0003_create_tokens::Migration),
            Box::new(m0004_create_sessions::Migration),
            Box::new(m0005_create_mfa::Migration),
            Box::new(m0006_add_amr_and_grant_kind::Migration),
            Box::new(m0007_create_account_tokens::Migration),
            Box::new(m0008_create_rate_limits::Migration),
            Box::new(m0009_create_audit_events::Migration),
            Box::new(m0010_confusable_usernames::Migration),
            Box::new(m0011_create_roles::Migration),
            Box::new(m0012_create_linked_accounts::Migration),
            Box::new(m0013_add_linked_account_tokens::Migration),
            Box::new(m0014_create_email_sign_ins::Migration),
            Box::new(m0015_create_passkeys::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new(MIGRATION_TABLE).into_iden()
    }
}

/// Applies every pending [`Migrator`] migration; does nothing when the schema is up to date.
///
/// Safe to call from several processes at once: the migrations run in a single transaction that
/// first takes a lock (an advisory lock on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so one process
/// applies them and the others then find nothing pending. A failure leaves the schema unchanged.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbError> {
    migrate_locked(db).await.map_err(DbError::Migrate)
}

/// How many [`Migrator`] migrations the database has not applied yet (0: the schema is current).
/// What a readiness probe asks: a process started against a database another version migrated
/// differently should not take traffic. Unreachable database: the error.
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<usize, DbErr> {
    Ok(Migrator::get_pending_migrations(db).await?.len())
}

async fn migrate_locked(db: &DatabaseConnection) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let txn = match backend {
        DbBackend::Sqlite => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await?
        }
        _ => db.begin().await?,
    };
    if backend == DbBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})")).await?;
    }
    Migrator::up(&txn, None).await?;
    txn.commit().await
}
