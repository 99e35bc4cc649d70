//! [`LimitStore`] over the table of migration `m0008_create_rate_limits`.

use std::future::Future;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use auth_core::AuthError;
use auth_ratelimit::{Attempt, Counter, Limit, LimitStore};
use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, EntityTrait, ExprTrait, QueryFilter, QueryTrait, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait, Value,
};

use crate::entity::rate_limits;
use crate::transient::is_transient;

/// The class of PostgreSQL's transaction-scoped advisory locks that serialise the attempts on one
/// key ("rl  " in ASCII).
const PG_RATE_LIMIT_LOCK: i32 = 0x726c_2020;

/// How often a statement is attempted when the database reports a transient conflict.
const MAX_ATTEMPTS: u32 = 10;
/// The first pause between attempts (doubling up to [`MAX_PAUSE`]).
const FIRST_PAUSE: StdDuration = StdDuration::from_millis(5);
/// The longest pause between attempts.
const MAX_PAUSE: StdDuration = StdDuration::from_millis(200);

use crate::error::backend;

/// PostgreSQL keeps microseconds; truncating first makes both databases return what was stored.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// `at` rounded up to the microsecond: for a stored (whole-microsecond) time `t`,
/// `t < at` exactly when `t < stored_ceil(at)`.
fn stored_ceil(at: DateTime<Utc>) -> DateTime<Utc> {
    let truncated = stored(at);
    if truncated < at { truncated + Duration::microseconds(1) } else { truncated }
}

/// The first and last instants both databases store and compare alike (years 1 to 9999: on
/// SQLite, times are RFC 3339 text, ordered as text only with four-digit years).
fn sql_range() -> (DateTime<Utc>, DateTime<Utc>) {
    let first = NaiveDate::from_ymd_opt(1, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    let last = NaiveDate::from_ymd_opt(9999, 12, 31).and_then(|d| d.and_hms_opt(23, 59, 59));
    match (first, last) {
        (Some(first), Some(last)) => (first.and_utc(), last.and_utc()),
        _ => (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC),
    }
}

/// `now - window`, the latest window start that has ended by `now`, within [`sql_range`].
fn window_cutoff(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    let (first, last) = sql_range();
    let cutoff = match now.checked_sub_signed(window) {
        Some(cutoff) => cutoff,
        None if window > Duration::zero() => first,
        None => last,
    };
    stored(cutoff.clamp(first, last))
}

fn into_counter(row: rate_limits::Model) -> Result<Counter, AuthError> {
    let count = u32::try_from(row.count).ok().filter(|count| *count > 0).ok_or_else(|| {
        AuthError::backend(format!("corrupt rate-limit row {:?}: count {}", row.key, row.count))
    })?;
    Ok(Counter { count, window_start: row.window_start, last_hit: row.last_hit })
}

/// Runs one statement, again when the database reports a transient conflict (`SQLITE_BUSY`, a
/// PostgreSQL serialization failure or deadlock): such a statement had no effect.
async fn retrying<T, F, Fut>(db: &DatabaseConnection, mut statement: F) -> Result<T, DbErr>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbErr>>,
{
    let backend = db.get_database_backend();
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        match statement().await {
            Err(error) if attempt < MAX_ATTEMPTS && is_transient(backend, &error) => {
                tracing::debug!(attempt, %error, "transient rate-limit store conflict; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// A [`LimitStore`] on SQLite or PostgreSQL (`portcullis_rate_limits`), shared by every server
/// process on the database. Clones share the pool.
///
/// [`hit`](LimitStore::hit) is one statement, so concurrent hits never lose a count:
///
/// ```sql
/// INSERT INTO portcullis_rate_limits (key, count, window_start, last_hit) VALUES ($key, 1, $now, $now)
/// ON CONFLICT (key) DO UPDATE SET
///     count = CASE WHEN window_start <= $now - $window THEN 1 ELSE count + 1 END,
///     window_start = CASE WHEN window_start <= $now - $window THEN $now ELSE window_start END,
///     last_hit = $now
/// RETURNING *
/// ```
///
/// (PostgreSQL locks the row; SQLite takes its write lock, and a writer meeting `SQLITE_BUSY` or
/// a PostgreSQL serialization failure retries a few times.) The window is computed from the
/// caller's `now`, never from the database's clock. Times are stored with microsecond precision;
/// counts saturate at `i32::MAX`. [`flush_expired`](LimitStore::flush_expired) deletes by the
/// indexed `last_hit`: run it now and then (e.g. with the longest window in use, through
/// `RateLimiter::flush_expired`), as nothing else deletes dead counters.
///
/// ```
/// use auth_ratelimit::LimitStore;
/// use auth_sea_orm::{SeaOrmLimitStore, connect, migrate};
/// use chrono::{DateTime, Duration};
///
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = connect("sqlite::memory:").await?;
/// migrate(&db).await?;
/// let limits = SeaOrmLimitStore::new(db);
///
/// let (t, window) = (DateTime::from_timestamp(1_700_000_000, 0).unwrap(), Duration::minutes(15));
/// assert_eq!(limits.hit("signin:ip:192.0.2.1", t, window).await?.count, 1);
/// assert_eq!(limits.hit("signin:ip:192.0.2.1", t + Duration::seconds(1), window).await?.count, 2);
/// assert_eq!(limits.get("signin:ip:192.0.2.1", t + window, window).await?, None, "the window ended");
/// assert_eq!(limits.flush_expired(t + window).await?, 1);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct SeaOrmLimitStore {
    db: DatabaseConnection,
}

impl SeaOrmLimitStore {
    /// A store on `db` (migrated with [`migrate`](crate::migrate)).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}

/// Starts the transaction of one attempt on `key`: `BEGIN IMMEDIATE` on SQLite (its write lock
/// first); on PostgreSQL the transaction-scoped advisory lock of the key, which serialises the
/// attempts on it also while its row does not exist yet.
async fn begin_key_write(db: &DatabaseConnection, key: &str) -> Result<DatabaseTransaction, DbErr> {
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
                [Value::from(PG_RATE_LIMIT_LOCK), Value::from(key)],
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
                tracing::debug!(%rollback, "rate-limit store rollback failed");
            }
            Err(error)
        }
    }
}

/// The counter of `key` in its window at `now` (none when it has none or it ended).
fn live(
    row: Option<rate_limits::Model>,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<Option<Counter>, AuthError> {
    let Some(row) = row else { return Ok(None) };
    let counter = into_counter(row)?;
    Ok((!counter.window_ended(now, window)).then_some(counter))
}

/// One attempt inside its transaction: `Err` is a database error, `Ok(Err)` a corrupt row.
async fn attempt_in(
    txn: &DatabaseTransaction,
    key: &str,
    now: DateTime<Utc>,
    limit: &Limit,
) -> Result<Result<Attempt, AuthError>, DbErr> {
    let row = rate_limits::Entity::find_by_id(key).one(txn).await?;
    let existed = row.is_some();
    let current = match live(row, now, limit.window) {
        Ok(current) => current,
        Err(error) => return Ok(Err(error)),
    };
    if let Some(counter) = current
        && limit.refuses(Some(&counter), now).is_some()
    {
        return Ok(Ok(Attempt::Refused(counter)));
    }
    let next = match current {
        Some(counter) => Counter {
            count: Ord::min(counter.count.saturating_add(1), i32::MAX as u32),
            last_hit: now,
            ..counter
        },
        None => Counter { count: 1, window_start: now, last_hit: now },
    };
    if current.is_none() && limit.max == 0 {
        return Ok(Ok(Attempt::Refused(next)));
    }
    let model = rate_limits::ActiveModel {
        key: Set(key.to_owned()),
        count: Set(i32::try_from(next.count).unwrap_or(i32::MAX)),
        window_start: Set(next.window_start),
        last_hit: Set(next.last_hit),
    };
    if existed {
        rate_limits::Entity::update(model).exec(txn).await?;
    } else {
        rate_limits::Entity::insert(model).exec(txn).await?;
    }
    Ok(Ok(Attempt::Counted(next)))
}

/// One release inside its transaction.
async fn release_in(
    txn: &DatabaseTransaction,
    key: &str,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<(), DbErr> {
    let Some(row) = rate_limits::Entity::find_by_id(key).one(txn).await? else { return Ok(()) };
    let Ok(Some(counter)) = live(Some(row), now, window) else { return Ok(()) };
    if counter.count <= 1 {
        rate_limits::Entity::delete_by_id(key).exec(txn).await?;
    } else {
        rate_limits::Entity::update_many()
            .col_expr(
                rate_limits::Column::Count,
                Expr::value(i32::try_from(counter.count - 1).unwrap_or(i32::MAX)),
            )
            .filter(rate_limits::Column::Key.eq(key))
            .exec(txn)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl LimitStore for SeaOrmLimitStore {
    async fn attempt(&self, key: &str, now: DateTime<Utc>, limit: &Limit) -> Result<Attempt, AuthError> {
        let now = stored(now);
        retrying(&self.db, || async {
            let txn = begin_key_write(&self.db, key).await?;
            let result = attempt_in(&txn, key, now, limit).await;
            finish(txn, result).await
        })
        .await
        .map_err(backend)?
    }

    async fn release(&self, key: &str, now: DateTime<Utc>, window: Duration) -> Result<(), AuthError> {
        let now = stored(now);
        retrying(&self.db, || async {
            let txn = begin_key_write(&self.db, key).await?;
            let result = release_in(&txn, key, now, window).await;
            finish(txn, result).await
        })
        .await
        .map_err(backend)
    }

    async fn hit(&self, key: &str, now: DateTime<Utc>, window: Duration) -> Result<Counter, AuthError> {
        use rate_limits::Column;

        let now = stored(now);
        let column = |column: Column| Expr::col((rate_limits::Entity, column));
        let ended = column(Column::WindowStart).lte(window_cutoff(now, window));
        let count = Expr::case(ended.clone(), 1)
            .case(column(Column::Count).gte(i32::MAX), column(Column::Count))
            .finally(column(Column::Count).add(1));
        let window_start = Expr::case(ended, Expr::value(now)).finally(column(Column::WindowStart));
        let upsert = OnConflict::column(Column::Key)
            .value(Column::Count, count)
            .value(Column::WindowStart, window_start)
            .value(Column::LastHit, Expr::value(now))
            .to_owned();
        let row = rate_limits::ActiveModel {
            key: Set(key.to_owned()),
            count: Set(1),
            window_start: Set(now),
            last_hit: Set(now),
        };
        let mut insert = rate_limits::Entity::insert(row).on_conflict(upsert).into_query();
        insert.returning_all();
        let statement = self.db.get_database_backend().build(&insert);
        let row =
            retrying(&self.db, || rate_limits::Entity::find().from_raw_sql(statement.clone()).one(&self.db))
                .await
                .map_err(backend)?
                .ok_or_else(|| AuthError::backend("the rate-limit upsert returned no row"))?;
        into_counter(row)
    }

    async fn get(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Option<Counter>, AuthError> {
        let row = rate_limits::Entity::find_by_id(key).one(&self.db).await.map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let counter = into_counter(row)?;
        Ok((!counter.window_ended(now, window)).then_some(counter))
    }

    async fn clear(&self, key: &str) -> Result<(), AuthError> {
        retrying(&self.db, || rate_limits::Entity::delete_by_id(key).exec(&self.db))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn flush_expired(&self, before: DateTime<Utc>) -> Result<u64, AuthError> {
        let (first, last) = sql_range();
        let before = stored_ceil(before.clamp(first, last));
        let deleted = retrying(&self.db, || {
            rate_limits::Entity::delete_many().filter(rate_limits::Column::LastHit.lt(before)).exec(&self.db)
        })
        .await
        .map_err(backend)?;
        Ok(deleted.rows_affected)
    }
}
