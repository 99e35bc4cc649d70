//! [`AuditStore`] over the table of migration `m0009_create_audit_events`.

use async_trait::async_trait;
use auth_core::audit::{AuditEvent, AuditKind, AuditQuery, AuditStore};
use auth_core::{AuthError, UserId};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, Order, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::entity::audit_events;

use crate::error::backend;

/// PostgreSQL keeps microseconds (rounding the rest); truncating first makes both databases
/// return what was stored.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// A query bound rounded up to whole microseconds: compared with stored (truncated) times it
/// selects exactly what the unrounded bound would.
fn bound(at: DateTime<Utc>) -> DateTime<Utc> {
    let truncated = stored(at);
    if truncated < at { truncated + Duration::microseconds(1) } else { truncated }
}

/// The event of a row; `None` (with a warning) for a row this version cannot read: a kind written
/// by a newer version, or a detail that is not a JSON object.
fn into_event(row: audit_events::Model) -> Option<AuditEvent> {
    let kind = match row.kind.parse::<AuditKind>() {
        Ok(kind) => kind,
        Err(_) => {
            tracing::warn!(
                id = %row.id,
                kind = %row.kind,
                "skipping an audit event of an unknown kind (written by a newer version?)"
            );
            return None;
        }
    };
    let detail = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&row.detail) {
        Ok(detail) => detail,
        Err(error) => {
            tracing::warn!(id = %row.id, %error, "skipping an audit event whose detail is not a JSON object");
            return None;
        }
    };
    let mut event = AuditEvent::new(kind, row.at);
    event.id = row.id;
    event.at = row.at;
    event.user_id = row.user_id.map(UserId::new);
    event.ip = row.ip;
    event.user_agent = row.user_agent;
    event.detail = detail;
    Some(event)
}

/// An [`AuditStore`] on SQLite or PostgreSQL (`portcullis_audit_events`). Clones share the pool.
///
/// One row per event: `id` (the UUID v7 text), `at`, `kind` (the snake_case name), `user_id`,
/// `ip`, `user_agent` and `detail` (the JSON object as text). [`list`](AuditStore::list) is one
/// `SELECT` with the query's filters, `ORDER BY at DESC, id DESC` (the id in byte order on both
/// databases) and the effective limit, served by the indexes on `(user_id, at)` and `(at)`;
/// [`delete_before`](AuditStore::delete_before) one `DELETE`. Times are stored with microsecond
/// precision.
///
/// A row this version cannot read (a kind written by a newer version, a detail that is not a JSON
/// object) does not fail the listing: it is skipped with a `tracing` warning, so such a list may
/// hold fewer events than the limit although more match.
///
/// ```
/// use auth_core::UserId;
/// use auth_core::audit::{AuditEvent, AuditKind, AuditQuery, AuditStore};
/// use auth_sea_orm::{SeaOrmAuditStore, connect, migrate};
/// use chrono::DateTime;
///
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = connect("sqlite::memory:").await?;
/// migrate(&db).await?;
/// let audit = SeaOrmAuditStore::new(db);
///
/// let (alice, now) = (UserId::new("alice"), DateTime::from_timestamp(1_700_000_000, 0).unwrap());
/// let event = AuditEvent::new(AuditKind::SignInFailed, now)
///     .user(&alice)
///     .client(Some("203.0.113.7"), Some("curl/8.5"))
///     .detail("reason", "bad_password");
/// audit.record(&event).await?;
///
/// let failures = audit.list(&AuditQuery::new().user(&alice).kinds(vec![AuditKind::SignInFailed])).await?;
/// assert_eq!(failures, vec![event]);
/// assert_eq!(audit.delete_before(now + chrono::Duration::days(90)).await?, 1);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct SeaOrmAuditStore {
    db: DatabaseConnection,
}

impl SeaOrmAuditStore {
    /// A store on `db` (migrated with [`migrate`](crate::migrate)).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}

#[async_trait]
impl AuditStore for SeaOrmAuditStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuthError> {
        let detail = serde_json::to_string(&event.detail).map_err(AuthError::backend)?;
        let row = audit_events::ActiveModel {
            id: Set(event.id.clone()),
            at: Set(stored(event.at)),
            kind: Set(event.kind.as_str().to_owned()),
            user_id: Set(event.user_id.as_ref().map(|id| id.as_str().to_owned())),
            ip: Set(event.ip.clone()),
            user_agent: Set(event.user_agent.clone()),
            detail: Set(detail),
        };
        // One INSERT, no transaction: on SQLite a writer waits through the busy timeout.
        audit_events::Entity::insert(row).exec_without_returning(&self.db).await.map_err(backend)?;
        Ok(())
    }

    async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, AuthError> {
        let mut select = audit_events::Entity::find();
        if let Some(user_id) = &query.user_id {
            select = select.filter(audit_events::Column::UserId.eq(user_id.as_str()));
        }
        if !query.kinds.is_empty() {
            select = select.filter(audit_events::Column::Kind.is_in(query.kinds.iter().map(|k| k.as_str())));
        }
        if let Some(since) = query.since {
            select = select.filter(audit_events::Column::At.gte(bound(since)));
        }
        if let Some(before) = query.before {
            select = select.filter(audit_events::Column::At.lt(bound(before)));
        }
        select = select.order_by_desc(audit_events::Column::At);
        // Ties on `at` by id in byte order, as by every store: PostgreSQL's default collation may
        // order text otherwise.
        select = match self.db.get_database_backend() {
            DbBackend::Postgres => select.order_by(Expr::cust(r#""id" COLLATE "C""#), Order::Desc),
            _ => select.order_by_desc(audit_events::Column::Id),
        };
        let limit = u64::try_from(query.effective_limit()).unwrap_or(u64::MAX);
        let rows = select.limit(limit).all(&self.db).await.map_err(backend)?;
        Ok(rows.into_iter().filter_map(into_event).collect())
    }

    async fn delete_before(&self, before: DateTime<Utc>) -> Result<u64, AuthError> {
        let deleted = audit_events::Entity::delete_many()
            .filter(audit_events::Column::At.lt(bound(before)))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(deleted.rows_affected)
    }
}
