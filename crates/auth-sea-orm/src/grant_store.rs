//! [`GrantStore`] over the tables of migration `m0002_create_grants`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use auth_blacklist::{
    BlacklistError, Grant, GrantStore, NewGrant, RefreshRecord, RevocationEvent, RevocationSnapshot,
    RotateOutcome,
};
use auth_core::{AuthError, UserId};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    ExprTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

use crate::entity::{grants, refresh_tokens, revocations, user_not_before};
use crate::transient::is_transient;

/// Key of the PostgreSQL advisory lock that serialises appends to the revocation log (the bytes of
/// `"revokelg"`), so that sequence numbers become visible in order; see [`SeaOrmGrantStore`].
const PG_REVOCATION_LOG_LOCK: i64 = 0x7265_766f_6b65_6c67;

/// How often a write transaction is attempted when the database reports a transient conflict.
const MAX_ATTEMPTS: u32 = 10;
/// The first pause between attempts (doubling up to [`MAX_PAUSE`]).
const FIRST_PAUSE: StdDuration = StdDuration::from_millis(5);
/// The longest pause between attempts.
const MAX_PAUSE: StdDuration = StdDuration::from_millis(200);

/// A [`GrantStore`] on SQLite or PostgreSQL (auth-blacklist's grants, refresh-token rotation,
/// revocations). Clones share the pool.
///
/// Every write that reads before it writes runs in one transaction: `BEGIN IMMEDIATE` on SQLite
/// (the write lock first, so that concurrent writers wait for each other through the busy timeout
/// instead of failing), and on PostgreSQL a `SELECT ... FOR UPDATE` of the grant row, which
/// serialises the rotations and revocations of one grant. A write that still meets a transient
/// conflict (`SQLITE_BUSY`, a PostgreSQL serialization failure or deadlock) is retried a few
/// times. So of any number of concurrent [`rotate`](GrantStore::rotate) calls with the same token,
/// across processes, exactly one rotates.
///
/// The revocation log's sequence numbers become visible in order (on PostgreSQL appends take an
/// advisory lock, on SQLite writers are serialised anyway): a follower never skips an event that
/// commits late. Times are stored with microsecond precision, as PostgreSQL keeps them.
///
/// ```
/// use auth_blacklist::{GrantStore, NewGrant, RefreshRecord, RotateOutcome};
/// use auth_core::UserId;
/// use auth_sea_orm::{SeaOrmGrantStore, connect, migrate};
/// use chrono::{DateTime, Duration};
///
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = connect("sqlite::memory:").await?;
/// migrate(&db).await?;
/// let grants = SeaOrmGrantStore::new(db);
///
/// let (alice, now) = (UserId::new("alice"), DateTime::from_timestamp(1_700_000_000, 0).unwrap());
/// let end = now + Duration::days(30);
/// grants.create_grant(NewGrant::new("g1", alice.clone(), now, end),
///                     RefreshRecord::new("a", "g1", alice.clone(), now, end)).await?;
/// let next = RefreshRecord::new("b", "g1", alice.clone(), now, end);
/// assert!(matches!(grants.rotate("a", next, now, Duration::days(7)).await?, RotateOutcome::Rotated { .. }));
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct SeaOrmGrantStore {
    db: DatabaseConnection,
}

impl SeaOrmGrantStore {
    /// A store on `db` (migrated with [`migrate`](crate::migrate)).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => {
                self.db
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    })
                    .await
            }
            _ => self.db.begin().await,
        }
    }

    /// Runs `body` in a write transaction (committed when it returns `Ok`, rolled back otherwise),
    /// again when the database reports a transient conflict.
    async fn write<T, F>(&self, body: F) -> Result<T, AuthError>
    where
        T: Send,
        F: for<'c> Fn(&'c DatabaseTransaction) -> TxFuture<'c, T> + Send + Sync,
    {
        let backend = self.db.get_database_backend();
        let mut pause = FIRST_PAUSE;
        let mut attempt = 1;
        loop {
            match self.write_once(&body).await {
                Err(error) if attempt < MAX_ATTEMPTS && error.is_transient(backend) => {
                    tracing::debug!(attempt, error = %error.describe(), "transient grant-store conflict; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                    attempt += 1;
                }
                result => return result.map_err(TxError::into_auth),
            }
        }
    }

    async fn write_once<T, F>(&self, body: &F) -> Result<T, TxError>
    where
        T: Send,
        F: for<'c> Fn(&'c DatabaseTransaction) -> TxFuture<'c, T> + Send + Sync,
    {
        let txn = self.begin_write().await?;
        match body(&txn).await {
            Ok(value) => {
                txn.commit().await?;
                Ok(value)
            }
            Err(error) => {
                if let Err(rollback) = txn.rollback().await {
                    tracing::debug!(%rollback, "grant-store rollback failed");
                }
                Err(error)
            }
        }
    }
}

type TxFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T, TxError>> + Send + 'c>>;

/// Why a write transaction failed.
#[derive(Debug)]
enum TxError {
    Db(DbErr),
    Auth(AuthError),
    /// A conditional update found its row changed (cannot happen under the locks taken; retried).
    Lost,
}

impl From<DbErr> for TxError {
    fn from(error: DbErr) -> Self {
        Self::Db(error)
    }
}

impl From<BlacklistError> for TxError {
    fn from(error: BlacklistError) -> Self {
        Self::Auth(error.into())
    }
}

impl TxError {
    fn is_transient(&self, backend: DbBackend) -> bool {
        match self {
            Self::Db(error) => is_transient(backend, error),
            Self::Lost => true,
            Self::Auth(_) => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Db(error) => error.to_string(),
            Self::Auth(error) => error.to_string(),
            Self::Lost => "conditional update lost".to_owned(),
        }
    }

    fn into_auth(self) -> AuthError {
        match self {
            Self::Db(error) => backend(error),
            Self::Auth(error) => error,
            Self::Lost => AuthError::backend("refresh-token rotation kept conflicting"),
        }
    }
}

fn backend(error: DbErr) -> AuthError {
    AuthError::Backend(Box::new(error))
}

/// PostgreSQL keeps microseconds; truncating first makes both databases return what was stored.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

fn into_grant(row: grants::Model) -> Grant {
    let mut new = NewGrant::new(row.id, UserId::new(row.user_id), row.created_at, row.expires_at);
    new.user_agent = row.user_agent;
    new.ip = row.ip;
    new.kind = row.kind;
    let mut grant = Grant::from_new(new);
    grant.last_used_at = row.last_used_at;
    grant.revoked_at = row.revoked_at;
    grant
}

fn into_event(row: revocations::Model) -> Result<RevocationEvent, BlacklistError> {
    match (row.kind.as_str(), row.grant_id, row.not_before) {
        (revocations::KIND_GRANT, Some(grant_id), _) => Ok(RevocationEvent::Grant { grant_id }),
        (revocations::KIND_USER, _, Some(not_before)) => {
            Ok(RevocationEvent::User { user_id: UserId::new(row.user_id), not_before })
        }
        (kind, ..) => Err(BlacklistError::Corrupt(format!("revocation {} of kind {kind:?}", row.seq))),
    }
}

fn token_row(record: &RefreshRecord) -> refresh_tokens::ActiveModel {
    refresh_tokens::ActiveModel {
        jti: Set(record.jti.clone()),
        grant_id: Set(record.grant_id.clone()),
        user_id: Set(record.user_id.as_str().to_owned()),
        issued_at: Set(stored(record.issued_at)),
        expires_at: Set(stored(record.expires_at)),
        consumed_at: Set(None),
        replaced_by: Set(None),
    }
}

async fn insert_token(txn: &DatabaseTransaction, record: &RefreshRecord) -> Result<(), TxError> {
    match refresh_tokens::Entity::insert(token_row(record)).exec_without_returning(txn).await {
        Ok(_) => Ok(()),
        Err(error) if is_unique_violation(&error) => {
            Err(BlacklistError::DuplicateId { what: "refresh token" }.into())
        }
        Err(error) => Err(error.into()),
    }
}

/// The highest sequence number of the revocation log, 0 when empty.
async fn max_seq<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    let max: Option<Option<i64>> = revocations::Entity::find()
        .select_only()
        .column_as(revocations::Column::Seq.max(), "max_seq")
        .into_tuple()
        .one(conn)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// Appends to the revocation log. On PostgreSQL it first takes a transaction-scoped advisory lock,
/// so that sequence numbers are handed out in commit order (a bigserial alone can commit 11 before
/// 10, and a follower that already moved past 11 would never see 10).
async fn append_revocation(
    txn: &DatabaseTransaction,
    kind: &str,
    grant_id: Option<String>,
    user_id: &str,
    not_before: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({PG_REVOCATION_LOG_LOCK})")).await?;
    }
    let row = revocations::ActiveModel {
        seq: NotSet,
        kind: Set(kind.to_owned()),
        grant_id: Set(grant_id),
        user_id: Set(user_id.to_owned()),
        not_before: Set(not_before),
        created_at: Set(now),
    };
    revocations::Entity::insert(row).exec_without_returning(txn).await?;
    Ok(())
}

async fn create_in(
    txn: &DatabaseTransaction,
    grant: &NewGrant,
    first: &RefreshRecord,
) -> Result<(), TxError> {
    let row = grants::ActiveModel {
        id: Set(grant.id.clone()),
        user_id: Set(grant.user_id.as_str().to_owned()),
        created_at: Set(stored(grant.created_at)),
        last_used_at: Set(stored(grant.created_at)),
        expires_at: Set(stored(grant.expires_at)),
        user_agent: Set(grant.user_agent.clone()),
        ip: Set(grant.ip.clone()),
        kind: Set(grant.kind.clone()),
        revoked_at: Set(None),
    };
    match grants::Entity::insert(row).exec_without_returning(txn).await {
        Ok(_) => {}
        Err(error) if is_unique_violation(&error) => {
            return Err(BlacklistError::DuplicateId { what: "grant" }.into());
        }
        Err(error) => return Err(error.into()),
    }
    insert_token(txn, first).await
}

/// One rotation, in at most three statements on its success path, none of them a read before a
/// write: the conditional `UPDATE … RETURNING` that consumes the presented token (only while it is
/// unconsumed and unexpired, of the expected grant and user, and its grant is live: not revoked,
/// not past its end, not idle), the grant's `last_used_at` (`UPDATE … RETURNING`, which also
/// yields the grant), and the `INSERT` of the successor. Only a refused rotation reads, to say why.
///
/// Concurrency: two rotations of one token both run the first `UPDATE`; on PostgreSQL the second
/// waits for the first's row lock and then finds the token consumed (on SQLite `BEGIN IMMEDIATE`
/// serialises them), so exactly one wins and the other is told `Reused`. A revocation of the
/// grant commits either before the first `UPDATE` starts (which then does not match: `Revoked`)
/// or after it; in the second case the grant-row `UPDATE` waits for the revocation's lock and
/// re-checks `revoked_at`, so the rotation answers `Revoked` too. Either way no pair of a revoked
/// grant is handed out.
async fn rotate_in(
    txn: &DatabaseTransaction,
    presented_jti: &str,
    next: &RefreshRecord,
    now: DateTime<Utc>,
    idle_ttl: Duration,
) -> Result<RotateOutcome, TxError> {
    let at = stored(now);
    let mut live_grant = Query::select();
    live_grant
        .expr(Expr::val(1))
        .from(grants::Entity)
        .and_where(
            Expr::col((grants::Entity, grants::Column::Id))
                .equals((refresh_tokens::Entity, refresh_tokens::Column::GrantId)),
        )
        .and_where(Expr::col((grants::Entity, grants::Column::RevokedAt)).is_null())
        .and_where(Expr::col((grants::Entity, grants::Column::ExpiresAt)).gt(at));
    // Idle applies to JWT grants only (see `Grant::is_expired`); a cut-off before the representable
    // range means never idle.
    if let Some(cutoff) = now.checked_sub_signed(idle_ttl) {
        live_grant.and_where(
            Expr::col((grants::Entity, grants::Column::Kind))
                .ne(auth_blacklist::GRANT_KIND_JWT)
                .or(Expr::col((grants::Entity, grants::Column::LastUsedAt)).gt(stored(cutoff))),
        );
    }
    let consumed = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::ConsumedAt, Expr::value(at))
        .col_expr(refresh_tokens::Column::ReplacedBy, Expr::value(next.jti.clone()))
        .filter(refresh_tokens::Column::Jti.eq(presented_jti))
        .filter(refresh_tokens::Column::ConsumedAt.is_null())
        .filter(refresh_tokens::Column::ExpiresAt.gt(at))
        .filter(refresh_tokens::Column::GrantId.eq(next.grant_id.as_str()))
        .filter(refresh_tokens::Column::UserId.eq(next.user_id.as_str()))
        .filter(Expr::exists(live_grant))
        .exec_with_returning(txn)
        .await?;
    if consumed.is_empty() {
        return refused_rotation(txn, presented_jti, next, now, idle_ttl).await;
    }
    let touched = grants::Entity::update_many()
        .col_expr(grants::Column::LastUsedAt, Expr::value(at))
        .filter(grants::Column::Id.eq(next.grant_id.as_str()))
        .filter(grants::Column::RevokedAt.is_null())
        .exec_with_returning(txn)
        .await?;
    let Some(grant) = touched.into_iter().next() else {
        // Revoked after the token was consumed (PostgreSQL: this statement waited for the
        // revocation's lock): the consumed token is dead with its grant; nothing is issued.
        return Ok(RotateOutcome::Revoked);
    };
    insert_token(txn, next).await?;
    Ok(RotateOutcome::Rotated { grant: into_grant(grant) })
}

/// Why a rotation's conditional update matched nothing, in the order the [`GrantStore::rotate`]
/// contract gives; [`TxError::Lost`] when everything now looks fine (a race: retried).
async fn refused_rotation(
    txn: &DatabaseTransaction,
    presented_jti: &str,
    next: &RefreshRecord,
    now: DateTime<Utc>,
    idle_ttl: Duration,
) -> Result<RotateOutcome, TxError> {
    let Some(token) = refresh_tokens::Entity::find_by_id(presented_jti).one(txn).await? else {
        return Ok(RotateOutcome::Unknown);
    };
    let Some(grant) = grants::Entity::find_by_id(token.grant_id.as_str()).one(txn).await? else {
        return Ok(RotateOutcome::Unknown);
    };
    if grant.revoked_at.is_some() {
        return Ok(RotateOutcome::Revoked);
    }
    if let Some(consumed_at) = token.consumed_at {
        return Ok(RotateOutcome::Reused {
            grant_id: grant.id,
            user_id: UserId::new(grant.user_id),
            consumed_at,
        });
    }
    let grant = into_grant(grant);
    if grant.is_expired(now, idle_ttl) || token.expires_at <= now {
        return Ok(RotateOutcome::Expired);
    }
    if next.grant_id != grant.id || next.user_id != grant.user_id {
        return Err(BlacklistError::RecordMismatch.into());
    }
    Err(TxError::Lost)
}

async fn revoke_in(
    txn: &DatabaseTransaction,
    grant_id: &str,
    owner: Option<&UserId>,
    now: DateTime<Utc>,
) -> Result<bool, TxError> {
    let now = stored(now);
    let mut update = grants::Entity::update_many()
        .col_expr(grants::Column::RevokedAt, Expr::value(now))
        .filter(grants::Column::Id.eq(grant_id))
        .filter(grants::Column::RevokedAt.is_null());
    if let Some(owner) = owner {
        update = update.filter(grants::Column::UserId.eq(owner.as_str()));
    }
    if update.exec(txn).await?.rows_affected == 0 {
        return Ok(false);
    }
    let Some(grant) = grants::Entity::find_by_id(grant_id).one(txn).await? else { return Err(TxError::Lost) };
    append_revocation(txn, revocations::KIND_GRANT, Some(grant.id), &grant.user_id, None, now).await?;
    Ok(true)
}

async fn revoke_all_in(
    txn: &DatabaseTransaction,
    user_id: &UserId,
    now: DateTime<Utc>,
) -> Result<(), TxError> {
    let now = stored(now);
    grants::Entity::update_many()
        .col_expr(grants::Column::RevokedAt, Expr::value(now))
        .filter(grants::Column::UserId.eq(user_id.as_str()))
        .filter(grants::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    // Upsert that never moves a not-before back.
    let row =
        user_not_before::ActiveModel { user_id: Set(user_id.as_str().to_owned()), not_before: Set(now) };
    let mut on_conflict = OnConflict::column(user_not_before::Column::UserId);
    on_conflict
        .update_column(user_not_before::Column::NotBefore)
        .action_and_where(Expr::col((user_not_before::Entity, user_not_before::Column::NotBefore)).lt(now));
    user_not_before::Entity::insert(row).on_conflict(on_conflict).exec_without_returning(txn).await?;
    let not_before = user_not_before::Entity::find_by_id(user_id.as_str())
        .one(txn)
        .await?
        .map_or(now, |row| row.not_before);
    append_revocation(txn, revocations::KIND_USER, None, user_id.as_str(), Some(not_before), now).await?;
    Ok(())
}

async fn flush_in(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    events_older_than: DateTime<Utc>,
) -> Result<u64, TxError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        // Lock the expiring grants before their tokens, in the order rotate() locks them, so that a
        // rotation racing the flush waits instead of deadlocking.
        let _locked: Vec<String> = grants::Entity::find()
            .select_only()
            .column(grants::Column::Id)
            .filter(grants::Column::ExpiresAt.lte(now))
            .lock_exclusive()
            .into_tuple()
            .all(txn)
            .await?;
    }
    // Tokens explicitly, not through ON DELETE CASCADE: a SQLite connection opened without
    // `PRAGMA foreign_keys = ON` would leave them behind.
    let expired = Query::select()
        .column(grants::Column::Id)
        .from(grants::Entity)
        .and_where(Expr::col(grants::Column::ExpiresAt).lte(now))
        .to_owned();
    let tokens = refresh_tokens::Entity::delete_many()
        .filter(refresh_tokens::Column::GrantId.in_subquery(expired))
        .exec(txn)
        .await?
        .rows_affected;
    let grants = grants::Entity::delete_many()
        .filter(grants::Column::ExpiresAt.lte(now))
        .exec(txn)
        .await?
        .rows_affected;
    // The newest event stays: it holds the cursor, which must never go back.
    let newest = max_seq(txn).await?;
    let events = revocations::Entity::delete_many()
        .filter(revocations::Column::CreatedAt.lt(events_older_than))
        .filter(revocations::Column::Seq.lt(newest))
        .exec(txn)
        .await?
        .rows_affected;
    Ok(tokens + grants + events)
}

#[async_trait]
impl GrantStore for SeaOrmGrantStore {
    async fn create_grant(&self, grant: NewGrant, first: RefreshRecord) -> Result<(), AuthError> {
        if first.grant_id != grant.id || first.user_id != grant.user_id {
            return Err(BlacklistError::RecordMismatch.into());
        }
        self.write(|txn| {
            let (grant, first) = (grant.clone(), first.clone());
            Box::pin(async move { create_in(txn, &grant, &first).await })
        })
        .await
    }

    async fn rotate(
        &self,
        presented_jti: &str,
        next: RefreshRecord,
        now: DateTime<Utc>,
        idle_ttl: Duration,
    ) -> Result<RotateOutcome, AuthError> {
        self.write(|txn| {
            let (jti, next) = (presented_jti.to_owned(), next.clone());
            Box::pin(async move { rotate_in(txn, &jti, &next, now, idle_ttl).await })
        })
        .await
    }

    async fn grant_of_token(&self, jti: &str) -> Result<Option<Grant>, AuthError> {
        let row = refresh_tokens::Entity::find_by_id(jti)
            .find_also_related(grants::Entity)
            .one(&self.db)
            .await
            .map_err(backend)?;
        Ok(row.and_then(|(_, grant)| grant).map(into_grant))
    }

    async fn find_grant(&self, grant_id: &str) -> Result<Option<Grant>, AuthError> {
        let row = grants::Entity::find_by_id(grant_id).one(&self.db).await.map_err(backend)?;
        Ok(row.map(into_grant))
    }

    async fn touch_grant(&self, grant_id: &str, now: DateTime<Utc>) -> Result<(), AuthError> {
        // One statement: concurrent touches never move it back.
        grants::Entity::update_many()
            .col_expr(grants::Column::LastUsedAt, Expr::value(now))
            .filter(grants::Column::Id.eq(grant_id))
            .filter(grants::Column::RevokedAt.is_null())
            .filter(grants::Column::LastUsedAt.lt(now))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn revoke_grant(&self, grant_id: &str, now: DateTime<Utc>) -> Result<bool, AuthError> {
        self.write(|txn| {
            let grant_id = grant_id.to_owned();
            Box::pin(async move { revoke_in(txn, &grant_id, None, now).await })
        })
        .await
    }

    async fn revoke_user_grant(
        &self,
        user_id: &UserId,
        grant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        self.write(|txn| {
            let (grant_id, user_id) = (grant_id.to_owned(), user_id.clone());
            Box::pin(async move { revoke_in(txn, &grant_id, Some(&user_id), now).await })
        })
        .await
    }

    async fn revoke_all_for_user(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<(), AuthError> {
        self.write(|txn| {
            let user_id = user_id.clone();
            Box::pin(async move { revoke_all_in(txn, &user_id, now).await })
        })
        .await
    }

    async fn active_grants(
        &self,
        user_id: &UserId,
        now: DateTime<Utc>,
        idle_ttl: Duration,
    ) -> Result<Vec<Grant>, AuthError> {
        let rows = grants::Entity::find()
            .filter(grants::Column::UserId.eq(user_id.as_str()))
            .filter(grants::Column::RevokedAt.is_null())
            .filter(grants::Column::ExpiresAt.gt(now))
            .all(&self.db)
            .await
            .map_err(backend)?;
        let mut grants: Vec<Grant> =
            rows.into_iter().map(into_grant).filter(|grant| grant.is_active(now, idle_ttl)).collect();
        // Sorted here, not in SQL: PostgreSQL would order the ids by its collation.
        grants.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        Ok(grants)
    }

    async fn revocations_since(&self, cursor: i64) -> Result<(Vec<RevocationEvent>, i64), AuthError> {
        let rows = revocations::Entity::find()
            .filter(revocations::Column::Seq.gt(cursor))
            .order_by_asc(revocations::Column::Seq)
            .all(&self.db)
            .await
            .map_err(backend)?;
        let last = rows.last().map_or(cursor, |row| row.seq);
        let events = rows.into_iter().map(into_event).collect::<Result<Vec<_>, _>>()?;
        Ok((events, last))
    }

    async fn revocation_cursor(&self) -> Result<i64, AuthError> {
        max_seq(&self.db).await.map_err(backend)
    }

    async fn revocation_snapshot(&self, now: DateTime<Utc>) -> Result<RevocationSnapshot, AuthError> {
        // The cursor first: everything it covers is committed, so the state read next includes it.
        let cursor = max_seq(&self.db).await.map_err(backend)?;
        let mut revoked_grants: Vec<String> = grants::Entity::find()
            .select_only()
            .column(grants::Column::Id)
            .filter(grants::Column::RevokedAt.is_not_null())
            .filter(grants::Column::ExpiresAt.gt(now))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(backend)?;
        revoked_grants.sort();
        let mut user_not_before: Vec<(UserId, DateTime<Utc>)> = user_not_before::Entity::find()
            .all(&self.db)
            .await
            .map_err(backend)?
            .into_iter()
            .map(|row| (UserId::new(row.user_id), row.not_before))
            .collect();
        user_not_before.sort();
        Ok(RevocationSnapshot { revoked_grants, user_not_before, cursor })
    }

    async fn flush_expired(
        &self,
        now: DateTime<Utc>,
        events_older_than: DateTime<Utc>,
    ) -> Result<u64, AuthError> {
        self.write(|txn| Box::pin(async move { flush_in(txn, now, events_older_than).await })).await
    }
}
