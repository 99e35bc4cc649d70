//! [`SessionStore`] over the table of migration `m0004_create_sessions`.

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use auth_session::{SessionError, SessionRecord, SessionStore, TokenHash, touch_cutoff};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QuerySelect, SqlErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use serde_json::{Map, Value};

use crate::entity::sessions;
use crate::transient::retrying;

use crate::error::backend;

/// PostgreSQL keeps microseconds; truncating first makes both databases return what was stored.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// A failed write: a unique violation is a [`SessionError::Duplicate`] (of the hash when the
/// violated index or column names the hash, else of the id).
fn write_error(error: DbErr) -> AuthError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => {
            let field = if message.contains("_hash") { "hash" } else { "id" };
            SessionError::Duplicate { field }.into()
        }
        _ => backend(error),
    }
}

fn data_text(data: &Map<String, Value>) -> Result<String, AuthError> {
    serde_json::to_string(data).map_err(AuthError::backend)
}

fn into_record(row: sessions::Model) -> Result<SessionRecord, SessionError> {
    let corrupt = |what: &str| SessionError::Corrupt(format!("session {}: {what}", row.id));
    let hash = TokenHash::from_hex(row.session_hash.clone()).ok_or_else(|| corrupt("malformed hash"))?;
    let idle_ttl =
        Duration::try_seconds(row.idle_ttl_seconds).ok_or_else(|| corrupt("idle timeout out of range"))?;
    let data: Map<String, Value> = serde_json::from_str(&row.data).map_err(|_| corrupt("malformed data"))?;
    let mut record = SessionRecord::new(
        row.id,
        hash,
        UserId::new(row.user_id),
        row.grant_id,
        row.created_at,
        row.expires_at,
        idle_ttl,
    );
    record.last_seen_at = row.last_seen_at;
    record.data = data;
    record.amr = row.amr.split_whitespace().map(str::to_owned).collect();
    Ok(record)
}

/// A [`SessionStore`] on SQLite or PostgreSQL (`portcullis_sessions`). Clones share the pool.
///
/// Sessions are stored under the SHA-256 hash of the session id (unique index); the cookie value
/// never reaches the database. Application data is a JSON object in a text column. Every write
/// is one statement: [`touch`](SessionStore::touch) is a single conditional `UPDATE`, so of
/// concurrent touches at most one writes, and within the minute none does;
/// [`rotate`](SessionStore::rotate) reads the session, then swaps the hash with one `UPDATE`
/// conditional on the old hash, so of concurrent rotations exactly one wins. Times are stored with
/// microsecond precision and idle timeouts in whole seconds.
///
/// ```
/// use auth_core::UserId;
/// use auth_sea_orm::{SeaOrmSessionStore, connect, migrate};
/// use auth_session::{SessionId, SessionRecord, SessionStore};
/// use chrono::{DateTime, Duration};
///
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = connect("sqlite::memory:").await?;
/// migrate(&db).await?;
/// let sessions = SeaOrmSessionStore::new(db);
///
/// let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
/// let (_cookie, hash) = SessionId::generate();
/// let record = SessionRecord::new("s1", hash.clone(), UserId::new("42"), "g1", now, now + Duration::days(14), Duration::hours(2));
/// sessions.insert(record).await?;
/// let (_new_cookie, new_hash) = SessionId::generate();
/// assert!(sessions.rotate(&hash, &new_hash, now).await?.is_some());
/// assert!(sessions.find_by_hash(&hash).await?.is_none());
/// assert_eq!(sessions.delete_by_grant("g1").await?, 1);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct SeaOrmSessionStore {
    db: DatabaseConnection,
}

impl SeaOrmSessionStore {
    /// One read-change-write of a session's data in a write transaction that locks the row
    /// (`BEGIN IMMEDIATE` on SQLite, `SELECT ... FOR UPDATE` on PostgreSQL). The outer error is
    /// the database's (retried when transient), the inner one a corrupt row.
    async fn set_value_once(
        &self,
        id: &str,
        key: &str,
        value: Option<Value>,
    ) -> Result<Result<bool, SessionError>, DbErr> {
        let txn = match self.db.get_database_backend() {
            DbBackend::Sqlite => {
                self.db
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    })
                    .await?
            }
            _ => self.db.begin().await?,
        };
        let Some(row) = sessions::Entity::find_by_id(id).lock_exclusive().one(&txn).await? else {
            txn.rollback().await?;
            return Ok(Ok(false));
        };
        let mut data: Map<String, Value> = match serde_json::from_str(&row.data) {
            Ok(data) => data,
            Err(_) => {
                txn.rollback().await?;
                return Ok(Err(SessionError::Corrupt(format!("session {id}: malformed data"))));
            }
        };
        match value {
            Some(value) => data.insert(key.to_owned(), value),
            None => data.remove(key),
        };
        let text = match serde_json::to_string(&data) {
            Ok(text) => text,
            Err(error) => {
                txn.rollback().await?;
                return Ok(Err(SessionError::Corrupt(error.to_string())));
            }
        };
        sessions::Entity::update_many()
            .col_expr(sessions::Column::Data, Expr::value(text))
            .filter(sessions::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Ok(true))
    }

    /// A store on `db` (migrated with [`migrate`](crate::migrate)).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    async fn delete_where(&self, condition: Condition) -> Result<u64, AuthError> {
        let deleted =
            retrying(&self.db, || sessions::Entity::delete_many().filter(condition.clone()).exec(&self.db))
                .await
                .map_err(backend)?;
        Ok(deleted.rows_affected)
    }
}

#[async_trait]
impl SessionStore for SeaOrmSessionStore {
    async fn insert(&self, record: SessionRecord) -> Result<(), AuthError> {
        let row = sessions::ActiveModel {
            id: Set(record.id),
            session_hash: Set(record.hash.as_hex().to_owned()),
            user_id: Set(record.user_id.as_str().to_owned()),
            grant_id: Set(record.grant_id),
            created_at: Set(stored(record.created_at)),
            last_seen_at: Set(stored(record.last_seen_at)),
            expires_at: Set(stored(record.expires_at)),
            idle_ttl_seconds: Set(record.idle_ttl.num_seconds()),
            data: Set(data_text(&record.data)?),
            amr: Set(record.amr.join(" ")),
        };
        retrying(&self.db, || sessions::Entity::insert(row.clone()).exec_without_returning(&self.db))
            .await
            .map_err(write_error)?;
        Ok(())
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, AuthError> {
        let row = sessions::Entity::find()
            .filter(sessions::Column::SessionHash.eq(hash.as_hex()))
            .one(&self.db)
            .await
            .map_err(backend)?;
        Ok(row.map(into_record).transpose()?)
    }

    async fn touch(&self, id: &str, now: DateTime<Utc>) -> Result<bool, AuthError> {
        let now = stored(now);
        let touched = retrying(&self.db, || {
            sessions::Entity::update_many()
                .col_expr(sessions::Column::LastSeenAt, Expr::value(now))
                .filter(sessions::Column::Id.eq(id))
                .filter(sessions::Column::LastSeenAt.lt(touch_cutoff(now)))
                .exec(&self.db)
        })
        .await
        .map_err(backend)?;
        Ok(touched.rows_affected > 0)
    }

    async fn rotate(
        &self,
        old_hash: &TokenHash,
        new_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, AuthError> {
        let Some(mut record) = self.find_by_hash(old_hash).await? else { return Ok(None) };
        if record.check_usable(now).is_err() {
            return Ok(None);
        }
        let seen = record.last_seen_at.max(stored(now));
        // `last_seen_at` never moves back, even past a touch that ran since the read.
        let last_seen: SimpleExpr = Expr::case(sessions::Column::LastSeenAt.lt(seen), Expr::value(seen))
            .finally(Expr::col(sessions::Column::LastSeenAt))
            .into();
        let rotated = retrying(&self.db, || {
            sessions::Entity::update_many()
                .col_expr(sessions::Column::SessionHash, Expr::value(new_hash.as_hex()))
                .col_expr(sessions::Column::LastSeenAt, last_seen.clone())
                .filter(sessions::Column::Id.eq(record.id.as_str()))
                // The condition that makes concurrent rotations of one id race-free: only the
                // first UPDATE still finds the old hash.
                .filter(sessions::Column::SessionHash.eq(old_hash.as_hex()))
                .exec(&self.db)
        })
        .await
        .map_err(write_error)?;
        if rotated.rows_affected == 0 {
            return Ok(None);
        }
        record.hash = new_hash.clone();
        record.last_seen_at = seen;
        Ok(Some(record))
    }

    async fn set_data(&self, id: &str, data: Map<String, Value>) -> Result<bool, AuthError> {
        let text = data_text(&data)?;
        let updated = retrying(&self.db, || {
            sessions::Entity::update_many()
                .col_expr(sessions::Column::Data, Expr::value(text.as_str()))
                .filter(sessions::Column::Id.eq(id))
                .exec(&self.db)
        })
        .await
        .map_err(backend)?;
        Ok(updated.rows_affected > 0)
    }

    async fn set_value(&self, id: &str, key: &str, value: Option<Value>) -> Result<bool, AuthError> {
        retrying(&self.db, || self.set_value_once(id, key, value.clone()))
            .await
            .map_err(backend)?
            .map_err(AuthError::backend)
    }

    async fn delete(&self, id: &str) -> Result<bool, AuthError> {
        Ok(self.delete_where(Condition::all().add(sessions::Column::Id.eq(id))).await? > 0)
    }

    async fn delete_by_grant(&self, grant_id: &str) -> Result<u64, AuthError> {
        self.delete_where(Condition::all().add(sessions::Column::GrantId.eq(grant_id))).await
    }

    async fn delete_for_user(&self, user_id: &UserId) -> Result<u64, AuthError> {
        self.delete_where(Condition::all().add(sessions::Column::UserId.eq(user_id.as_str()))).await
    }

    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
        let mut deleted =
            self.delete_where(Condition::all().add(sessions::Column::ExpiresAt.lte(now))).await?;
        // Idle: last_seen_at + idle_ttl <= now, i.e. last_seen_at <= now - idle_ttl. One delete per
        // distinct idle timeout (applications use a handful), each an exact, atomic condition
        // that needs no date arithmetic in SQL.
        let ttls: Vec<i64> = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::IdleTtlSeconds)
            .distinct()
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(backend)?;
        for seconds in ttls {
            let Some(cutoff) = Duration::try_seconds(seconds).and_then(|ttl| now.checked_sub_signed(ttl))
            else {
                continue; // a deadline beyond the representable range never passes
            };
            deleted += self
                .delete_where(
                    Condition::all()
                        .add(sessions::Column::IdleTtlSeconds.eq(seconds))
                        .add(sessions::Column::LastSeenAt.lte(cutoff)),
                )
                .await?;
        }
        Ok(deleted)
    }
}
