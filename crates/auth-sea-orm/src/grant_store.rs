//! [`GrantStore`] over the tables of migration `m0002_create_grants`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
/// On SQLite the rotations of a process are committed in groups: those that arrive while one
/// transaction runs go together into the next, in three statements for the whole group, written
/// by one task on a connection of its own; each caller is answered once its rotation is
/// committed ([`group_commit_stats`](Self::group_commit_stats) tells how it goes).
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
    /// SQLite: the queue of this process's rotations, committed in groups (see [`RotationQueue`]).
    rotations: Arc<RotationQueue>,
}

impl SeaOrmGrantStore {
    /// A store on `db` (migrated with [`migrate`](crate::migrate)).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db, rotations: Arc::default() }
    }

    /// The connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// One rotation in its own transaction.
    async fn rotate_alone(
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

    /// Rotations in one transaction ([`rotate_many_in`]). `None` when the transaction failed
    /// (nothing of it was committed).
    async fn rotate_group(&self, group: &[Rotation]) -> Option<Vec<RotateOutcome>> {
        let txn = self.begin_write().await.ok()?;
        let outcomes = match rotate_many_in(&txn, group).await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                tracing::debug!(error = %error.describe(), "grouped rotation failed; rotating one by one");
                if let Err(rollback) = txn.rollback().await {
                    tracing::debug!(%rollback, "grant-store rollback failed");
                }
                return None;
            }
        };
        match txn.commit().await {
            Ok(()) => Some(outcomes),
            Err(error) => {
                tracing::debug!(%error, "grouped rotation commit failed; rotating one by one");
                None
            }
        }
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

/// One refresh-token rotation waiting for its turn.
#[derive(Debug, Clone)]
struct Rotation {
    presented_jti: String,
    next: RefreshRecord,
    now: DateTime<Utc>,
    idle_ttl: Duration,
}

/// The most rotations committed in one transaction.
const MAX_GROUP: usize = 64;
/// The most rotations waiting for their turn; beyond it a rotation runs alone.
const QUEUE_DEPTH: usize = 4096;

type Reply = tokio::sync::oneshot::Sender<Result<RotateOutcome, AuthError>>;

/// Group commit of rotations on SQLite.
///
/// SQLite has one writer at a time, so concurrent rotations wait for each other anyway; each paid
/// for its own `BEGIN IMMEDIATE` and `COMMIT` (round trips to the connection's thread) and for
/// writing the same table and index pages to the WAL again. Here the rotations that arrive while
/// one transaction runs are committed together in the next one, by one task: each caller still
/// gets its answer only after its rotation is committed, so durability is unchanged, and a
/// rotation with no one else waiting goes alone at once. A group whose transaction fails (a
/// transient conflict with another process) is replayed one rotation at a time, with the usual
/// retries.
#[derive(Debug, Default)]
struct RotationQueue {
    sender: std::sync::OnceLock<tokio::sync::mpsc::Sender<(Rotation, Reply)>>,
    counts: Arc<GroupCounts>,
}

#[derive(Debug, Default)]
struct GroupCounts {
    groups: AtomicU64,
    rotations: AtomicU64,
}

/// How SQLite's group commit of rotations went (see [`SeaOrmGrantStore::group_commit_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupCommitStats {
    /// Transactions that committed a group of rotations.
    pub groups: u64,
    /// Rotations committed in those transactions (`rotations / groups` is the mean group size).
    pub rotations: u64,
}

impl RotationQueue {
    async fn rotate(&self, store: &SeaOrmGrantStore, job: Rotation) -> Result<RotateOutcome, AuthError> {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = tokio::sync::mpsc::channel(QUEUE_DEPTH);
            tokio::spawn(commit_groups(store.group_writer(), receiver, Arc::clone(&self.counts)));
            sender
        });
        let (reply, answer) = tokio::sync::oneshot::channel();
        match sender.try_send((job, reply)) {
            Ok(()) => answer
                .await
                // The committing task ended (its runtime shut down): whether the rotation was
                // committed is unknown, so it must not be tried again.
                .unwrap_or_else(|_| Err(AuthError::backend("the rotation queue stopped"))),
            Err(tokio::sync::mpsc::error::TrySendError::Full((job, _)))
            | Err(tokio::sync::mpsc::error::TrySendError::Closed((job, _))) => {
                store.rotate_alone(&job.presented_jti, job.next, job.now, job.idle_ttl).await
            }
        }
    }
}

impl SeaOrmGrantStore {
    /// This store without its rotation queue (the queue's task holds it: the queue ends when the
    /// last store using it is dropped).
    fn clone_without_queue(&self) -> Self {
        Self { db: self.db.clone(), rotations: Arc::default() }
    }

    /// The store the group-commit task writes with: on a pool of several SQLite connections, a
    /// connection of its own. Every connection's page cache is discarded when another connection
    /// has written, so writes that went round the pool re-read their pages from the WAL each
    /// time; a single writer keeps them cached.
    fn group_writer(&self) -> Self {
        #[cfg(feature = "sqlite")]
        if self.db.get_database_backend() == DbBackend::Sqlite {
            let pool = self.db.get_sqlite_connection_pool();
            if pool.options().get_max_connections() > 1 {
                let writer = sea_orm::sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(pool.options().get_acquire_timeout())
                    .test_before_acquire(false)
                    .connect_lazy_with((*pool.connect_options()).clone());
                let db = sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(writer);
                return Self { db, rotations: Arc::default() };
            }
        }
        self.clone_without_queue()
    }

    /// How SQLite's group commit of rotations went so far: committed groups and the rotations in
    /// them (all zero on PostgreSQL, whose rotations do not wait for each other).
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            groups: self.rotations.counts.groups.load(Ordering::Relaxed),
            rotations: self.rotations.counts.rotations.load(Ordering::Relaxed),
        }
    }
}

/// The task behind a [`RotationQueue`]: takes what is waiting (up to [`MAX_GROUP`]) and commits
/// it in one transaction, until every sender is gone.
async fn commit_groups(
    store: SeaOrmGrantStore,
    mut receiver: tokio::sync::mpsc::Receiver<(Rotation, Reply)>,
    counts: Arc<GroupCounts>,
) {
    let mut waiting = Vec::with_capacity(MAX_GROUP);
    while receiver.recv_many(&mut waiting, MAX_GROUP).await > 0 {
        let (group, replies): (Vec<Rotation>, Vec<Reply>) = waiting.drain(..).unzip();
        match store.rotate_group(&group).await {
            Some(outcomes) => {
                counts.groups.fetch_add(1, Ordering::Relaxed);
                counts.rotations.fetch_add(group.len() as u64, Ordering::Relaxed);
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            None => {
                for (job, reply) in group.into_iter().zip(replies) {
                    let outcome =
                        store.rotate_alone(&job.presented_jti, job.next, job.now, job.idle_ttl).await;
                    let _ = reply.send(outcome);
                }
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

use crate::error::backend;

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
    let live_grant = live_grant_of_token(now, idle_ttl);
    let consumed = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::ConsumedAt, Expr::value(at))
        .col_expr(refresh_tokens::Column::ReplacedBy, Expr::value(next.jti.clone()))
        .filter(refresh_tokens::Column::Jti.eq(presented_jti))
        .filter(refresh_tokens::Column::ConsumedAt.is_null())
        .filter(refresh_tokens::Column::ExpiresAt.gt(at))
        .filter(token_of_grant(txn.get_database_backend(), &next.grant_id))
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

/// `grant_id = ?` of a rotation's consuming `UPDATE`, which finds its row by `jti` (the primary
/// key). On SQLite written `+grant_id = ?`, which keeps the planner off the `grant_id` index: after
/// `ANALYZE` on a database whose grants have one token each, SQLite prefers that index, and a long
/// refresh chain (a grant with thousands of consumed tokens) then costs a scan of the chain per
/// rotation (seen in `bench/scale.sh`: 2,800 refreshes/s instead of 7,000).
fn token_of_grant(backend: DbBackend, grant_id: &str) -> sea_orm::sea_query::SimpleExpr {
    match backend {
        DbBackend::Sqlite => Expr::cust_with_values("+\"grant_id\" = ?", [grant_id.to_owned()]),
        _ => refresh_tokens::Column::GrantId.eq(grant_id),
    }
}

/// `EXISTS (…)` of the rotation's condition on the grant of the `refresh_tokens` row at hand: not
/// revoked, not past its end, not idle at `now`.
fn live_grant_of_token(now: DateTime<Utc>, idle_ttl: Duration) -> sea_orm::sea_query::SelectStatement {
    let mut live_grant = Query::select();
    live_grant
        .expr(Expr::val(1))
        .from(grants::Entity)
        .and_where(
            Expr::col((grants::Entity, grants::Column::Id))
                .equals((refresh_tokens::Entity, refresh_tokens::Column::GrantId)),
        )
        .and_where(Expr::col((grants::Entity, grants::Column::RevokedAt)).is_null())
        .and_where(Expr::col((grants::Entity, grants::Column::ExpiresAt)).gt(stored(now)));
    // Idle applies to JWT grants only (see `Grant::is_expired`); a cut-off before the representable
    // range means never idle.
    if let Some(cutoff) = now.checked_sub_signed(idle_ttl) {
        live_grant.and_where(
            Expr::col((grants::Entity, grants::Column::Kind))
                .ne(auth_blacklist::GRANT_KIND_JWT)
                .or(Expr::col((grants::Entity, grants::Column::LastUsedAt)).gt(stored(cutoff))),
        );
    }
    live_grant
}

/// A group of rotations (SQLite's group commit, see [`RotationQueue`]) in three statements
/// whatever its size: [`rotate_in`]'s consuming `UPDATE`, grant `UPDATE` and `INSERT`, each over
/// the whole group (one `WHERE` term and one `CASE` arm per rotation). A rotation whose token was
/// not consumed is then classified alone (reads), as [`rotate_in`] does; two rotations of one
/// token in a group: the first wins, the second is told `Reused`, as one transaction later.
async fn rotate_many_in(
    txn: &DatabaseTransaction,
    group: &[Rotation],
) -> Result<Vec<RotateOutcome>, TxError> {
    use sea_orm::Condition;
    use sea_orm::sea_query::CaseStatement;

    if let [job] = group {
        return Ok(vec![rotate_in(txn, &job.presented_jti, &job.next, job.now, job.idle_ttl).await?]);
    }
    let mut which = Condition::any();
    let mut consumed_at = CaseStatement::new();
    let mut replaced_by = CaseStatement::new();
    for job in group {
        let at = stored(job.now);
        let this = || refresh_tokens::Column::Jti.eq(job.presented_jti.as_str());
        which = which.add(
            Condition::all()
                .add(this())
                .add(refresh_tokens::Column::ExpiresAt.gt(at))
                .add(token_of_grant(DbBackend::Sqlite, &job.next.grant_id))
                .add(refresh_tokens::Column::UserId.eq(job.next.user_id.as_str()))
                .add(Expr::exists(live_grant_of_token(job.now, job.idle_ttl))),
        );
        consumed_at = consumed_at.case(this(), Expr::value(at));
        replaced_by = replaced_by.case(this(), Expr::value(job.next.jti.clone()));
    }
    let consumed = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::ConsumedAt, consumed_at.into())
        .col_expr(refresh_tokens::Column::ReplacedBy, replaced_by.into())
        .filter(refresh_tokens::Column::ConsumedAt.is_null())
        .filter(which)
        .exec_with_returning(txn)
        .await?;
    // The rotations that consumed their token: the row's successor is theirs.
    let won: Vec<bool> = group
        .iter()
        .map(|job| {
            consumed.iter().any(|row| {
                row.jti == job.presented_jti && row.replaced_by.as_deref() == Some(job.next.jti.as_str())
            })
        })
        .collect();
    let mut touched = Vec::new();
    if won.contains(&true) {
        let mut last_used = CaseStatement::new();
        let mut ids = Vec::new();
        for (job, _) in group.iter().zip(&won).filter(|(_, won)| **won) {
            last_used = last_used
                .case(grants::Column::Id.eq(job.next.grant_id.as_str()), Expr::value(stored(job.now)));
            ids.push(job.next.grant_id.clone());
        }
        touched = grants::Entity::update_many()
            .col_expr(grants::Column::LastUsedAt, last_used.into())
            .filter(grants::Column::Id.is_in(ids))
            .filter(grants::Column::RevokedAt.is_null())
            .exec_with_returning(txn)
            .await?;
    }
    let grant_of = |job: &Rotation| touched.iter().find(|g| g.id == job.next.grant_id);
    let successors: Vec<_> = group
        .iter()
        .zip(&won)
        .filter(|(job, won)| **won && grant_of(job).is_some())
        .map(|(job, _)| token_row(&job.next))
        .collect();
    if !successors.is_empty() {
        match refresh_tokens::Entity::insert_many(successors).exec_without_returning(txn).await {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => {
                return Err(BlacklistError::DuplicateId { what: "refresh token" }.into());
            }
            Err(error) => return Err(error.into()),
        }
    }
    let mut outcomes = Vec::with_capacity(group.len());
    for (job, won) in group.iter().zip(won) {
        outcomes.push(match (won, grant_of(job)) {
            (true, Some(grant)) => RotateOutcome::Rotated { grant: into_grant(grant.clone()) },
            // Revoked after the token was consumed: nothing is issued (see `rotate_in`).
            (true, None) => RotateOutcome::Revoked,
            (false, _) => refused_rotation(txn, &job.presented_jti, &job.next, job.now, job.idle_ttl).await?,
        });
    }
    Ok(outcomes)
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
        if self.db.get_database_backend() == DbBackend::Sqlite {
            let job = Rotation { presented_jti: presented_jti.to_owned(), next, now, idle_ttl };
            return self.rotations.rotate(self, job).await;
        }
        self.rotate_alone(presented_jti, next, now, idle_ttl).await
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
