//! [`OpaqueTokenStore`] and [`ApiKeyStore`] over the tables of migration `m0003_create_tokens`.

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use auth_token::{
    ApiKeyRecord, ApiKeyStore, OpaqueTokenRecord, OpaqueTokenStore, TokenError, TokenHash, touch_cutoff,
};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QuerySelect, SqlErr,
};

use crate::entity::{api_keys, opaque_tokens};
use crate::transient::retrying;

const OPAQUE_TOKEN: &str = "opaque token";
const API_KEY: &str = "API key";

use crate::error::backend;

/// PostgreSQL keeps microseconds; truncating first makes both databases return what was stored.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// A failed insert: a unique violation is a [`TokenError::Duplicate`] (of the hash when the
/// violated index or column names the hash, else of the id).
fn insert_error(what: &'static str, error: DbErr) -> AuthError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => {
            let field = if message.contains("_hash") { "hash" } else { "id" };
            TokenError::Duplicate { what, field }.into()
        }
        _ => backend(error),
    }
}

fn stored_hash(hex: String, what: &str, id: &str) -> Result<TokenHash, TokenError> {
    TokenHash::from_hex(hex).ok_or_else(|| TokenError::Corrupt(format!("{what} {id}: malformed hash")))
}

fn into_opaque(row: opaque_tokens::Model) -> Result<OpaqueTokenRecord, TokenError> {
    let hash = stored_hash(row.token_hash, OPAQUE_TOKEN, &row.id)?;
    let idle_ttl = match row.idle_ttl_seconds {
        Some(seconds) => Some(Duration::try_seconds(seconds).ok_or_else(|| {
            TokenError::Corrupt(format!("{OPAQUE_TOKEN} {}: idle timeout out of range", row.id))
        })?),
        None => None,
    };
    let mut record = OpaqueTokenRecord::new(
        row.id,
        hash,
        row.lookup,
        UserId::new(row.user_id),
        row.grant_id,
        row.created_at,
        row.expires_at,
    );
    record.name = row.name;
    record.idle_ttl = idle_ttl;
    record.last_used_at = row.last_used_at;
    record.amr = row.amr.split_whitespace().map(str::to_owned).collect();
    Ok(record)
}

fn into_api_key(row: api_keys::Model) -> Result<ApiKeyRecord, TokenError> {
    let hash = stored_hash(row.key_hash, API_KEY, &row.id)?;
    let scopes: Vec<String> = serde_json::from_str(&row.scopes)
        .map_err(|_| TokenError::Corrupt(format!("{API_KEY} {}: malformed scope list", row.id)))?;
    let mut record = ApiKeyRecord::new(
        row.id,
        hash,
        row.lookup,
        UserId::new(row.user_id),
        row.name,
        scopes,
        row.created_at,
    );
    record.expires_at = row.expires_at;
    record.last_used_at = row.last_used_at;
    record.revoked_at = row.revoked_at;
    Ok(record)
}

/// Newest (`created_at`, then id) first. Sorted here, not in SQL: PostgreSQL would order the ids
/// by its collation.
fn newest_first<R>(records: &mut [R], key: impl Fn(&R) -> (DateTime<Utc>, &str)) {
    records.sort_by(|a, b| key(b).cmp(&key(a)));
}

/// An [`OpaqueTokenStore`] on SQLite or PostgreSQL (`portcullis_opaque_tokens`). Clones share the
/// pool.
///
/// Tokens are stored as the SHA-256 hash of the token (unique index) and the short lookup shown in
/// listings; the token itself never reaches the database. Every write is one statement:
/// [`touch`](OpaqueTokenStore::touch) is a single conditional `UPDATE`, so of concurrent touches
/// at most one writes, and within the minute none does. Times are stored with microsecond
/// precision and idle timeouts in whole seconds.
///
/// ```
/// use auth_core::UserId;
/// use auth_sea_orm::{SeaOrmOpaqueTokenStore, connect, migrate};
/// use auth_token::{OpaqueTokenRecord, OpaqueTokenStore, TokenFormat};
/// use chrono::{DateTime, Duration};
///
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = connect("sqlite::memory:").await?;
/// migrate(&db).await?;
/// let tokens = SeaOrmOpaqueTokenStore::new(db);
///
/// let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
/// let secret = TokenFormat::opaque_token().generate();
/// tokens.insert(OpaqueTokenRecord::from_secret("t1", &secret, UserId::new("42"), "g1", now, now + Duration::days(30))).await?;
/// assert_eq!(tokens.find_by_hash(secret.hash()).await?.map(|t| t.id).as_deref(), Some("t1"));
/// assert_eq!(tokens.delete_by_grant("g1").await?, 1);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct SeaOrmOpaqueTokenStore {
    db: DatabaseConnection,
}

impl SeaOrmOpaqueTokenStore {
    /// A store on `db` (migrated with [`migrate`](crate::migrate)).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    async fn delete_where(&self, condition: Condition) -> Result<u64, AuthError> {
        let deleted = retrying(&self.db, || {
            opaque_tokens::Entity::delete_many().filter(condition.clone()).exec(&self.db)
        })
        .await
        .map_err(backend)?;
        Ok(deleted.rows_affected)
    }
}

#[async_trait]
impl OpaqueTokenStore for SeaOrmOpaqueTokenStore {
    async fn insert(&self, record: OpaqueTokenRecord) -> Result<(), AuthError> {
        let row = opaque_tokens::ActiveModel {
            id: Set(record.id),
            token_hash: Set(record.hash.as_hex().to_owned()),
            lookup: Set(record.lookup),
            user_id: Set(record.user_id.as_str().to_owned()),
            grant_id: Set(record.grant_id),
            name: Set(record.name),
            created_at: Set(stored(record.created_at)),
            expires_at: Set(stored(record.expires_at)),
            idle_ttl_seconds: Set(record.idle_ttl.map(|ttl| ttl.num_seconds())),
            last_used_at: Set(stored(record.last_used_at)),
            amr: Set(record.amr.join(" ")),
        };
        retrying(&self.db, || opaque_tokens::Entity::insert(row.clone()).exec_without_returning(&self.db))
            .await
            .map_err(|error| insert_error(OPAQUE_TOKEN, error))?;
        Ok(())
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<OpaqueTokenRecord>, AuthError> {
        let row = opaque_tokens::Entity::find()
            .filter(opaque_tokens::Column::TokenHash.eq(hash.as_hex()))
            .one(&self.db)
            .await
            .map_err(backend)?;
        Ok(row.map(into_opaque).transpose()?)
    }

    async fn touch(&self, id: &str, now: DateTime<Utc>) -> Result<bool, AuthError> {
        let now = stored(now);
        let touched = retrying(&self.db, || {
            opaque_tokens::Entity::update_many()
                .col_expr(opaque_tokens::Column::LastUsedAt, Expr::value(now))
                .filter(opaque_tokens::Column::Id.eq(id))
                .filter(opaque_tokens::Column::LastUsedAt.lt(touch_cutoff(now)))
                .exec(&self.db)
        })
        .await
        .map_err(backend)?;
        Ok(touched.rows_affected > 0)
    }

    async fn delete(&self, id: &str) -> Result<bool, AuthError> {
        Ok(self.delete_where(Condition::all().add(opaque_tokens::Column::Id.eq(id))).await? > 0)
    }

    async fn delete_by_grant(&self, grant_id: &str) -> Result<u64, AuthError> {
        self.delete_where(Condition::all().add(opaque_tokens::Column::GrantId.eq(grant_id))).await
    }

    async fn delete_for_user(&self, user_id: &UserId) -> Result<u64, AuthError> {
        self.delete_where(Condition::all().add(opaque_tokens::Column::UserId.eq(user_id.as_str()))).await
    }

    async fn list_for_user(&self, user_id: &UserId) -> Result<Vec<OpaqueTokenRecord>, AuthError> {
        let rows = opaque_tokens::Entity::find()
            .filter(opaque_tokens::Column::UserId.eq(user_id.as_str()))
            .all(&self.db)
            .await
            .map_err(backend)?;
        let mut records = rows.into_iter().map(into_opaque).collect::<Result<Vec<_>, _>>()?;
        newest_first(&mut records, |r| (r.created_at, r.id.as_str()));
        Ok(records)
    }

    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
        let mut deleted =
            self.delete_where(Condition::all().add(opaque_tokens::Column::ExpiresAt.lte(now))).await?;
        // Idle: last_used_at + idle_ttl <= now, i.e. last_used_at <= now - idle_ttl. One delete per
        // distinct idle timeout (applications use a handful), each an exact, atomic condition
        // that needs no date arithmetic in SQL.
        let ttls: Vec<Option<i64>> = opaque_tokens::Entity::find()
            .select_only()
            .column(opaque_tokens::Column::IdleTtlSeconds)
            .distinct()
            .filter(opaque_tokens::Column::IdleTtlSeconds.is_not_null())
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(backend)?;
        for seconds in ttls.into_iter().flatten() {
            let Some(cutoff) = Duration::try_seconds(seconds).and_then(|ttl| now.checked_sub_signed(ttl))
            else {
                continue; // a deadline beyond the representable range never passes
            };
            deleted += self
                .delete_where(
                    Condition::all()
                        .add(opaque_tokens::Column::IdleTtlSeconds.eq(seconds))
                        .add(opaque_tokens::Column::LastUsedAt.lte(cutoff)),
                )
                .await?;
        }
        Ok(deleted)
    }
}

/// An [`ApiKeyStore`] on SQLite or PostgreSQL (`portcullis_api_keys`). Clones share the pool.
///
/// Keys are stored as the SHA-256 hash of the key (unique index) and the short lookup shown in
/// listings; the key itself never reaches the database. Scopes are a JSON array in a text column.
/// Every write is one statement: [`touch`](ApiKeyStore::touch) and
/// [`revoke`](ApiKeyStore::revoke) are single conditional `UPDATE`s. Times are stored with
/// microsecond precision.
///
/// ```
/// use auth_core::UserId;
/// use auth_sea_orm::{SeaOrmApiKeyStore, connect, migrate};
/// use auth_token::{ApiKeyRecord, ApiKeyStore, TokenFormat};
/// use chrono::DateTime;
///
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = connect("sqlite::memory:").await?;
/// migrate(&db).await?;
/// let keys = SeaOrmApiKeyStore::new(db);
///
/// let (alice, now) = (UserId::new("alice"), DateTime::from_timestamp(1_700_000_000, 0).unwrap());
/// let secret = TokenFormat::api_key().generate();
/// keys.insert(ApiKeyRecord::from_secret("k1", &secret, alice.clone(), "ci", vec!["deploy".into()], now)).await?;
/// let key = keys.find_by_hash(secret.hash()).await?.expect("known key");
/// assert!(key.has_scope("deploy"));
/// assert!(keys.revoke(&alice, "k1", now).await?);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct SeaOrmApiKeyStore {
    db: DatabaseConnection,
}

impl SeaOrmApiKeyStore {
    /// A store on `db` (migrated with [`migrate`](crate::migrate)).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Sets `revoked_at = now` on the live keys matching `condition`; returns how many.
    async fn revoke_where(&self, condition: Condition, now: DateTime<Utc>) -> Result<u64, AuthError> {
        let now = stored(now);
        let revoked = retrying(&self.db, || {
            api_keys::Entity::update_many()
                .col_expr(api_keys::Column::RevokedAt, Expr::value(now))
                .filter(condition.clone())
                .filter(api_keys::Column::RevokedAt.is_null())
                .exec(&self.db)
        })
        .await
        .map_err(backend)?;
        Ok(revoked.rows_affected)
    }
}

#[async_trait]
impl ApiKeyStore for SeaOrmApiKeyStore {
    async fn insert(&self, record: ApiKeyRecord) -> Result<(), AuthError> {
        let scopes = serde_json::to_string(&record.scopes).map_err(AuthError::backend)?;
        let row = api_keys::ActiveModel {
            id: Set(record.id),
            key_hash: Set(record.hash.as_hex().to_owned()),
            lookup: Set(record.lookup),
            user_id: Set(record.user_id.as_str().to_owned()),
            name: Set(record.name),
            scopes: Set(scopes),
            created_at: Set(stored(record.created_at)),
            expires_at: Set(record.expires_at.map(stored)),
            last_used_at: Set(record.last_used_at.map(stored)),
            revoked_at: Set(record.revoked_at.map(stored)),
        };
        retrying(&self.db, || api_keys::Entity::insert(row.clone()).exec_without_returning(&self.db))
            .await
            .map_err(|error| insert_error(API_KEY, error))?;
        Ok(())
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiKeyRecord>, AuthError> {
        let row = api_keys::Entity::find()
            .filter(api_keys::Column::KeyHash.eq(hash.as_hex()))
            .one(&self.db)
            .await
            .map_err(backend)?;
        Ok(row.map(into_api_key).transpose()?)
    }

    async fn touch(&self, id: &str, now: DateTime<Utc>) -> Result<bool, AuthError> {
        let now = stored(now);
        let touched = retrying(&self.db, || {
            api_keys::Entity::update_many()
                .col_expr(api_keys::Column::LastUsedAt, Expr::value(now))
                .filter(api_keys::Column::Id.eq(id))
                .filter(api_keys::Column::RevokedAt.is_null())
                .filter(
                    Condition::any()
                        .add(api_keys::Column::LastUsedAt.is_null())
                        .add(api_keys::Column::LastUsedAt.lt(touch_cutoff(now))),
                )
                .exec(&self.db)
        })
        .await
        .map_err(backend)?;
        Ok(touched.rows_affected > 0)
    }

    async fn revoke(&self, user_id: &UserId, id: &str, now: DateTime<Utc>) -> Result<bool, AuthError> {
        let condition = Condition::all()
            .add(api_keys::Column::Id.eq(id))
            .add(api_keys::Column::UserId.eq(user_id.as_str()));
        Ok(self.revoke_where(condition, now).await? > 0)
    }

    async fn revoke_all_for_user(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<u64, AuthError> {
        self.revoke_where(Condition::all().add(api_keys::Column::UserId.eq(user_id.as_str())), now).await
    }

    async fn list_for_user(&self, user_id: &UserId) -> Result<Vec<ApiKeyRecord>, AuthError> {
        let rows = api_keys::Entity::find()
            .filter(api_keys::Column::UserId.eq(user_id.as_str()))
            .filter(api_keys::Column::RevokedAt.is_null())
            .all(&self.db)
            .await
            .map_err(backend)?;
        let mut records = rows.into_iter().map(into_api_key).collect::<Result<Vec<_>, _>>()?;
        newest_first(&mut records, |r| (r.created_at, r.id.as_str()));
        Ok(records)
    }

    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
        let condition = Condition::any()
            .add(api_keys::Column::ExpiresAt.lte(now))
            .add(api_keys::Column::RevokedAt.lte(now));
        let deleted =
            retrying(&self.db, || api_keys::Entity::delete_many().filter(condition.clone()).exec(&self.db))
                .await
                .map_err(backend)?;
        Ok(deleted.rows_affected)
    }
}
