//! [`MfaStore`] over the tables of migration `m0005_create_mfa`.

use std::collections::HashSet;

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use auth_mfa::{MfaChallenge, MfaStore, TotpFactor};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    ExprTrait, PaginatorTrait, QueryFilter, QueryTrait, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait, Value,
};

use crate::entity::{mfa_challenges, mfa_recovery_codes, mfa_totp_factors};
use crate::transient::retrying;

/// First key of the PostgreSQL advisory locks that serialise the writes to one user's factors and
/// recovery codes (the bytes of `"mfa "`); the second key is `hashtext(user_id)`.
const PG_MFA_USER_LOCK: i32 = 0x6d66_6120;

use crate::error::backend;

fn corrupt(what: String) -> AuthError {
    AuthError::backend(format!("corrupt MFA store row: {what}"))
}

/// PostgreSQL keeps microseconds; truncating first makes both databases return what was stored.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

fn into_factor(row: mfa_totp_factors::Model) -> TotpFactor {
    let mut factor = TotpFactor::pending(UserId::new(row.user_id), row.sealed_secret, row.created_at);
    factor.confirmed_at = row.confirmed_at;
    factor.last_used_step = row.last_used_step;
    factor
}

fn into_challenge(row: mfa_challenges::Model) -> Result<MfaChallenge, AuthError> {
    let context = serde_json::from_str(&row.context)
        .map_err(|_| corrupt(format!("MFA challenge of user {}: malformed context", row.user_id)))?;
    let attempts = u32::try_from(row.attempts)
        .map_err(|_| corrupt(format!("MFA challenge of user {}: negative attempts", row.user_id)))?;
    let mut challenge = MfaChallenge::new(
        row.hash,
        UserId::new(row.user_id),
        row.flow,
        context,
        row.created_at,
        row.expires_at,
    );
    challenge.attempts = attempts;
    Ok(challenge)
}

/// The rows of a user's fresh set of recovery codes (a hash given twice is stored once).
fn code_rows(
    user_id: &UserId,
    hashes: &[String],
    now: DateTime<Utc>,
) -> Vec<mfa_recovery_codes::ActiveModel> {
    let mut seen = HashSet::new();
    hashes
        .iter()
        .filter(|hash| seen.insert(hash.as_str()))
        .map(|hash| mfa_recovery_codes::ActiveModel {
            id: NotSet,
            user_id: Set(user_id.as_str().to_owned()),
            code_hash: Set(hash.clone()),
            created_at: Set(now),
            used_at: Set(None),
        })
        .collect()
}

/// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite (the write lock first, so concurrent
/// writers wait through the busy timeout instead of failing); on PostgreSQL it then takes the
/// transaction-scoped advisory lock of `user_id`, which serialises the multi-statement writes of
/// one user.
async fn begin_user_write(db: &DatabaseConnection, user_id: &UserId) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
        }
        DbBackend::Postgres => {
            let txn = db.begin().await?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                [Value::from(PG_MFA_USER_LOCK), Value::from(user_id.as_str())],
            ))
            .await?;
            Ok(txn)
        }
        _ => db.begin().await,
    }
}

/// Commits `txn` when `result` is `Ok`, rolls it back otherwise.
async fn finish<T>(txn: DatabaseTransaction, result: Result<T, DbErr>) -> Result<T, DbErr> {
    match result {
        Ok(value) => {
            txn.commit().await?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = txn.rollback().await {
                tracing::debug!(%rollback, "MFA store rollback failed");
            }
            Err(error)
        }
    }
}

/// Replaces every recovery code of the user with `rows`, inside `txn`.
async fn replace_codes_in(
    txn: &DatabaseTransaction,
    user_id: &UserId,
    rows: &[mfa_recovery_codes::ActiveModel],
) -> Result<(), DbErr> {
    mfa_recovery_codes::Entity::delete_many()
        .filter(mfa_recovery_codes::Column::UserId.eq(user_id.as_str()))
        .exec(txn)
        .await?;
    if !rows.is_empty() {
        mfa_recovery_codes::Entity::insert_many(rows.to_vec()).exec_without_returning(txn).await?;
    }
    Ok(())
}

async fn activate_in(
    txn: &DatabaseTransaction,
    user_id: &UserId,
    expected_sealed_secret: &[u8],
    step: i64,
    rows: &[mfa_recovery_codes::ActiveModel],
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let activated = mfa_totp_factors::Entity::update_many()
        .col_expr(mfa_totp_factors::Column::ConfirmedAt, Expr::value(now))
        .col_expr(mfa_totp_factors::Column::LastUsedStep, Expr::value(step))
        .filter(mfa_totp_factors::Column::UserId.eq(user_id.as_str()))
        .filter(mfa_totp_factors::Column::ConfirmedAt.is_null())
        // A concurrent setup that replaced the pending secret makes this activation a no-op.
        .filter(mfa_totp_factors::Column::SealedSecret.eq(expected_sealed_secret.to_vec()))
        .exec(txn)
        .await?;
    if activated.rows_affected == 0 {
        return Ok(false);
    }
    replace_codes_in(txn, user_id, rows).await?;
    Ok(true)
}

async fn delete_factors_in(txn: &DatabaseTransaction, user_id: &UserId) -> Result<bool, DbErr> {
    let active = mfa_totp_factors::Entity::delete_many()
        .filter(mfa_totp_factors::Column::UserId.eq(user_id.as_str()))
        .filter(mfa_totp_factors::Column::ConfirmedAt.is_not_null())
        .exec(txn)
        .await?;
    // A pending factor, if that is what the user has.
    mfa_totp_factors::Entity::delete_many()
        .filter(mfa_totp_factors::Column::UserId.eq(user_id.as_str()))
        .exec(txn)
        .await?;
    mfa_recovery_codes::Entity::delete_many()
        .filter(mfa_recovery_codes::Column::UserId.eq(user_id.as_str()))
        .exec(txn)
        .await?;
    Ok(active.rows_affected > 0)
}

/// An [`MfaStore`] on SQLite or PostgreSQL (`portcullis_mfa_totp_factors`,
/// `portcullis_mfa_recovery_codes`, `portcullis_mfa_challenges`). Clones share the pool.
///
/// The tables hold the TOTP secret only sealed (encrypted by `auth-mfa` before it reaches the
/// store), recovery codes only as hashes and challenges only under the SHA-256 hash of the
/// `mfa_token`. Every check-and-act is one conditional statement whose affected-row count decides:
/// [`put_pending_totp`](MfaStore::put_pending_totp) is one upsert that leaves an active factor
/// alone, [`use_totp_step`](MfaStore::use_totp_step) and
/// [`use_recovery_code`](MfaStore::use_recovery_code) are conditional `UPDATE`s,
/// [`start_challenge_attempt`](MfaStore::start_challenge_attempt) an `UPDATE ... RETURNING`, and
/// [`consume_challenge`](MfaStore::consume_challenge) a `DELETE`. So of concurrent uses of one code
/// or step exactly one succeeds, and a challenge never gets more attempts than allowed.
///
/// [`activate_totp`](MfaStore::activate_totp), [`replace_recovery_codes`](MfaStore::replace_recovery_codes)
/// and [`delete_factors`](MfaStore::delete_factors) run in one transaction each: `BEGIN IMMEDIATE`
/// on SQLite, and on PostgreSQL a transaction-scoped advisory lock per user, so that concurrent
/// replacements of a user's codes never mix. Writes meeting a transient conflict (`SQLITE_BUSY`, a
/// PostgreSQL serialization failure or deadlock) are retried a few times. Times are stored with
/// microsecond precision. A recovery-code hash given twice in one set is stored once (the codes
/// of a user are unique).
///
/// ```
/// use auth_core::UserId;
/// use auth_mfa::{MfaStore, TotpFactor};
/// use auth_sea_orm::{SeaOrmMfaStore, connect, migrate};
/// use chrono::DateTime;
///
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = connect("sqlite::memory:").await?;
/// migrate(&db).await?;
/// let mfa = SeaOrmMfaStore::new(db);
///
/// let (alice, now) = (UserId::new("alice"), DateTime::from_timestamp(1_700_000_000, 0).unwrap());
/// assert!(mfa.put_pending_totp(TotpFactor::pending(alice.clone(), vec![1, 2, 3], now)).await?);
/// assert!(mfa.activate_totp(&alice, &[1, 2, 3], 56_666_666, vec!["h1".into(), "h2".into()], now).await?);
/// assert!(mfa.use_totp_step(&alice, 56_666_667).await?);
/// assert!(!mfa.use_totp_step(&alice, 56_666_667).await?, "no replay");
/// assert!(mfa.use_recovery_code(&alice, "h1", now).await?);
/// assert_eq!(mfa.remaining_recovery_codes(&alice).await?, 1);
/// assert!(mfa.delete_factors(&alice).await?);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct SeaOrmMfaStore {
    db: DatabaseConnection,
}

impl SeaOrmMfaStore {
    /// A store on `db` (migrated with [`migrate`](crate::migrate)).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    async fn delete_challenges_where(&self, condition: sea_orm::Condition) -> Result<u64, AuthError> {
        let deleted = retrying(&self.db, || {
            mfa_challenges::Entity::delete_many().filter(condition.clone()).exec(&self.db)
        })
        .await
        .map_err(backend)?;
        Ok(deleted.rows_affected)
    }
}

#[async_trait]
impl MfaStore for SeaOrmMfaStore {
    async fn put_pending_totp(&self, factor: TotpFactor) -> Result<bool, AuthError> {
        let row = mfa_totp_factors::ActiveModel {
            user_id: Set(factor.user_id.as_str().to_owned()),
            sealed_secret: Set(factor.sealed_secret),
            created_at: Set(stored(factor.created_at)),
            // Stored pending whatever the argument says, as by the reference store.
            confirmed_at: Set(None),
            last_used_step: Set(None),
        };
        // INSERT ... ON CONFLICT (user_id) DO UPDATE ... WHERE confirmed_at IS NULL: one statement
        // that inserts, replaces a pending factor, or (active factor) changes no row.
        let upsert = OnConflict::column(mfa_totp_factors::Column::UserId)
            .update_columns([
                mfa_totp_factors::Column::SealedSecret,
                mfa_totp_factors::Column::CreatedAt,
                mfa_totp_factors::Column::ConfirmedAt,
                mfa_totp_factors::Column::LastUsedStep,
            ])
            .action_and_where(
                Expr::col((mfa_totp_factors::Entity, mfa_totp_factors::Column::ConfirmedAt)).is_null(),
            )
            .to_owned();
        let written = retrying(&self.db, || {
            mfa_totp_factors::Entity::insert(row.clone())
                .on_conflict(upsert.clone())
                .exec_without_returning(&self.db)
        })
        .await
        .map_err(backend)?;
        Ok(written > 0)
    }

    async fn totp_factor(&self, user_id: &UserId) -> Result<Option<TotpFactor>, AuthError> {
        let row =
            mfa_totp_factors::Entity::find_by_id(user_id.as_str()).one(&self.db).await.map_err(backend)?;
        Ok(row.map(into_factor))
    }

    async fn activate_totp(
        &self,
        user_id: &UserId,
        expected_sealed_secret: &[u8],
        step: i64,
        recovery_code_hashes: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        let now = stored(now);
        let rows = code_rows(user_id, &recovery_code_hashes, now);
        retrying(&self.db, || async {
            let txn = begin_user_write(&self.db, user_id).await?;
            let result = activate_in(&txn, user_id, expected_sealed_secret, step, &rows, now).await;
            finish(txn, result).await
        })
        .await
        .map_err(backend)
    }

    async fn use_totp_step(&self, user_id: &UserId, step: i64) -> Result<bool, AuthError> {
        let used = retrying(&self.db, || {
            mfa_totp_factors::Entity::update_many()
                .col_expr(mfa_totp_factors::Column::LastUsedStep, Expr::value(step))
                .filter(mfa_totp_factors::Column::UserId.eq(user_id.as_str()))
                .filter(mfa_totp_factors::Column::ConfirmedAt.is_not_null())
                // The condition that stops replays: only the first UPDATE of a step finds it unused.
                .filter(
                    mfa_totp_factors::Column::LastUsedStep
                        .is_null()
                        .or(mfa_totp_factors::Column::LastUsedStep.lt(step)),
                )
                .exec(&self.db)
        })
        .await
        .map_err(backend)?;
        Ok(used.rows_affected > 0)
    }

    async fn delete_factors(&self, user_id: &UserId) -> Result<bool, AuthError> {
        retrying(&self.db, || async {
            let txn = begin_user_write(&self.db, user_id).await?;
            let result = delete_factors_in(&txn, user_id).await;
            finish(txn, result).await
        })
        .await
        .map_err(backend)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &UserId,
        hashes: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let rows = code_rows(user_id, &hashes, stored(now));
        retrying(&self.db, || async {
            let txn = begin_user_write(&self.db, user_id).await?;
            let result = replace_codes_in(&txn, user_id, &rows).await;
            finish(txn, result).await
        })
        .await
        .map_err(backend)
    }

    async fn use_recovery_code(
        &self,
        user_id: &UserId,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        let now = stored(now);
        let used = retrying(&self.db, || {
            mfa_recovery_codes::Entity::update_many()
                .col_expr(mfa_recovery_codes::Column::UsedAt, Expr::value(now))
                .filter(mfa_recovery_codes::Column::UserId.eq(user_id.as_str()))
                .filter(mfa_recovery_codes::Column::CodeHash.eq(hash))
                // Single use: only the first UPDATE finds the code unused.
                .filter(mfa_recovery_codes::Column::UsedAt.is_null())
                .exec(&self.db)
        })
        .await
        .map_err(backend)?;
        Ok(used.rows_affected > 0)
    }

    async fn remaining_recovery_codes(&self, user_id: &UserId) -> Result<u32, AuthError> {
        let count = mfa_recovery_codes::Entity::find()
            .filter(mfa_recovery_codes::Column::UserId.eq(user_id.as_str()))
            .filter(mfa_recovery_codes::Column::UsedAt.is_null())
            .count(&self.db)
            .await
            .map_err(backend)?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn create_challenge(&self, challenge: MfaChallenge) -> Result<(), AuthError> {
        let context = serde_json::to_string(&challenge.context).map_err(AuthError::backend)?;
        let attempts = i32::try_from(challenge.attempts)
            .map_err(|_| AuthError::backend("MFA challenge attempts out of range"))?;
        let row = mfa_challenges::ActiveModel {
            hash: Set(challenge.hash),
            user_id: Set(challenge.user_id.as_str().to_owned()),
            flow: Set(challenge.flow),
            context: Set(context),
            created_at: Set(stored(challenge.created_at)),
            expires_at: Set(stored(challenge.expires_at)),
            attempts: Set(attempts),
        };
        // A duplicate hash is a unique violation: a backend error, as the trait says.
        retrying(&self.db, || mfa_challenges::Entity::insert(row.clone()).exec_without_returning(&self.db))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn start_challenge_attempt(
        &self,
        hash: &str,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<MfaChallenge>, AuthError> {
        // UPDATE ... SET attempts = attempts + 1 WHERE hash = ? AND attempts < ? AND expires_at > ?
        // RETURNING *: the count and the read are one statement (PostgreSQL, SQLite >= 3.35).
        let mut update = mfa_challenges::Entity::update_many()
            .col_expr(mfa_challenges::Column::Attempts, Expr::col(mfa_challenges::Column::Attempts).add(1))
            .filter(mfa_challenges::Column::Hash.eq(hash))
            .filter(mfa_challenges::Column::Attempts.lt(i64::from(max_attempts)))
            .filter(mfa_challenges::Column::ExpiresAt.gt(now))
            .into_query();
        update.returning_all();
        let statement = self.db.get_database_backend().build(&update);
        let rows = retrying(&self.db, || {
            mfa_challenges::Entity::find().from_raw_sql(statement.clone()).all(&self.db)
        })
        .await
        .map_err(backend)?;
        rows.into_iter().next().map(into_challenge).transpose()
    }

    async fn consume_challenge(&self, hash: &str) -> Result<bool, AuthError> {
        let deleted = self
            .delete_challenges_where(sea_orm::Condition::all().add(mfa_challenges::Column::Hash.eq(hash)))
            .await?;
        Ok(deleted > 0)
    }

    async fn delete_challenges_for_user(&self, user_id: &UserId) -> Result<u64, AuthError> {
        self.delete_challenges_where(
            sea_orm::Condition::all().add(mfa_challenges::Column::UserId.eq(user_id.as_str())),
        )
        .await
    }

    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
        self.delete_challenges_where(
            sea_orm::Condition::all().add(mfa_challenges::Column::ExpiresAt.lte(now)),
        )
        .await
    }
}
