//! [`PasskeyStore`] over `portcullis_passkeys` and `portcullis_passkey_challenges` (migration
//! `m0015_create_passkeys`).

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use auth_webauthn::{
    ChallengeKind, Passkey, PasskeyChallenge, PasskeyStore, PasskeyUsage, duplicate_passkey,
};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, SqlErr,
};

use crate::entity::{passkey_challenges, passkeys};

use crate::error::backend;

/// PostgreSQL keeps microseconds; truncating first makes both databases return what was stored.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

fn into_passkey(row: passkeys::Model) -> Passkey {
    let mut passkey =
        Passkey::new(row.id, UserId::new(row.user_id), row.credential_id, row.credential, row.created_at);
    passkey.name = row.name;
    passkey.user_handle = row.user_handle;
    passkey.sign_count = u32::try_from(row.sign_count).unwrap_or(u32::MAX);
    passkey.backup_eligible = row.backup_eligible;
    passkey.backup_state = row.backup_state;
    passkey.user_verified = row.user_verified;
    passkey.last_used_at = row.last_used_at;
    passkey
}

/// A [`PasskeyStore`] on SQLite or PostgreSQL. Clones share the pool.
///
/// The unique index on `credential_id` decides concurrent registrations of one credential;
/// [`update_after_use`](PasskeyStore::update_after_use) is one `UPDATE ... WHERE sign_count < ?`,
/// so a replayed or cloned counter never overwrites a newer one; a challenge is read, then the
/// `DELETE` of that unexpired row decides which of concurrent uses gets it.
#[derive(Debug, Clone)]
pub struct SeaOrmPasskeyStore {
    db: DatabaseConnection,
}

impl SeaOrmPasskeyStore {
    /// A store on `db` (migrated with [`migrate`](crate::migrate)).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl PasskeyStore for SeaOrmPasskeyStore {
    async fn add(&self, passkey: Passkey) -> Result<(), AuthError> {
        let row = passkeys::ActiveModel {
            id: ActiveValue::Set(passkey.id),
            user_id: ActiveValue::Set(passkey.user_id.to_string()),
            name: ActiveValue::Set(passkey.name),
            credential_id: ActiveValue::Set(passkey.credential_id),
            user_handle: ActiveValue::Set(passkey.user_handle),
            credential: ActiveValue::Set(passkey.credential),
            sign_count: ActiveValue::Set(i64::from(passkey.sign_count)),
            backup_eligible: ActiveValue::Set(passkey.backup_eligible),
            backup_state: ActiveValue::Set(passkey.backup_state),
            user_verified: ActiveValue::Set(passkey.user_verified),
            created_at: ActiveValue::Set(stored(passkey.created_at)),
            last_used_at: ActiveValue::Set(passkey.last_used_at.map(stored)),
        };
        match passkeys::Entity::insert(row).exec_without_returning(&self.db).await {
            Ok(_) => Ok(()),
            Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Err(duplicate_passkey())
            }
            Err(error) => Err(backend(error)),
        }
    }

    async fn find_by_credential_id(&self, credential_id: &str) -> Result<Option<Passkey>, AuthError> {
        let row = passkeys::Entity::find()
            .filter(passkeys::Column::CredentialId.eq(credential_id))
            .one(&self.db)
            .await
            .map_err(backend)?;
        Ok(row.map(into_passkey))
    }

    async fn list_for_user(&self, user_id: &UserId) -> Result<Vec<Passkey>, AuthError> {
        let rows = passkeys::Entity::find()
            .filter(passkeys::Column::UserId.eq(user_id.as_str()))
            .order_by_asc(passkeys::Column::CreatedAt)
            .order_by_asc(passkeys::Column::Id)
            .all(&self.db)
            .await
            .map_err(backend)?;
        Ok(rows.into_iter().map(into_passkey).collect())
    }

    async fn rename(&self, user_id: &UserId, id: &str, name: &str) -> Result<bool, AuthError> {
        let result = passkeys::Entity::update_many()
            .col_expr(passkeys::Column::Name, Expr::value(name.to_owned()))
            .filter(passkeys::Column::Id.eq(id))
            .filter(passkeys::Column::UserId.eq(user_id.as_str()))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(result.rows_affected > 0)
    }

    async fn delete(&self, user_id: &UserId, id: &str) -> Result<bool, AuthError> {
        let result = passkeys::Entity::delete_many()
            .filter(passkeys::Column::Id.eq(id))
            .filter(passkeys::Column::UserId.eq(user_id.as_str()))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(result.rows_affected > 0)
    }

    async fn update_after_use(&self, id: &str, usage: PasskeyUsage) -> Result<bool, AuthError> {
        let count = i64::from(usage.sign_count);
        let forward = if usage.sign_count == 0 {
            Condition::all().add(passkeys::Column::SignCount.eq(0))
        } else {
            Condition::all().add(passkeys::Column::SignCount.lt(count))
        };
        let result = passkeys::Entity::update_many()
            .col_expr(passkeys::Column::SignCount, Expr::value(count))
            .col_expr(passkeys::Column::Credential, Expr::value(usage.credential))
            .col_expr(passkeys::Column::BackupEligible, Expr::value(usage.backup_eligible))
            .col_expr(passkeys::Column::BackupState, Expr::value(usage.backup_state))
            .col_expr(passkeys::Column::LastUsedAt, Expr::value(Some(stored(usage.used_at))))
            .filter(passkeys::Column::Id.eq(id))
            .filter(forward)
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(result.rows_affected > 0)
    }

    async fn remove_user(&self, user_id: &UserId) -> Result<u64, AuthError> {
        passkey_challenges::Entity::delete_many()
            .filter(passkey_challenges::Column::UserId.eq(user_id.as_str()))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        let result = passkeys::Entity::delete_many()
            .filter(passkeys::Column::UserId.eq(user_id.as_str()))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(result.rows_affected)
    }

    async fn put_challenge(&self, challenge: PasskeyChallenge) -> Result<(), AuthError> {
        let row = passkey_challenges::ActiveModel {
            id: ActiveValue::Set(challenge.id),
            kind: ActiveValue::Set(challenge.kind.as_str().to_owned()),
            user_id: ActiveValue::Set(challenge.user_id.map(|u| u.to_string())),
            state: ActiveValue::Set(challenge.state),
            expires_at: ActiveValue::Set(stored(challenge.expires_at)),
        };
        passkey_challenges::Entity::insert(row).exec_without_returning(&self.db).await.map_err(backend)?;
        Ok(())
    }

    async fn take_challenge(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PasskeyChallenge>, AuthError> {
        let by_id = passkey_challenges::Column::Id.eq(id);
        let Some(row) =
            passkey_challenges::Entity::find().filter(by_id.clone()).one(&self.db).await.map_err(backend)?
        else {
            return Ok(None);
        };
        // The delete decides (a concurrent use that deleted it first wins); a take consumes the
        // challenge even when it has expired.
        let deleted =
            passkey_challenges::Entity::delete_many().filter(by_id).exec(&self.db).await.map_err(backend)?;
        if deleted.rows_affected == 0 || row.expires_at <= now {
            return Ok(None);
        }
        let Some(kind) = ChallengeKind::parse(&row.kind) else { return Ok(None) };
        Ok(Some(PasskeyChallenge::new(row.id, kind, row.user_id.map(UserId::new), row.state, row.expires_at)))
    }

    async fn flush_expired_challenges(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
        let result = passkey_challenges::Entity::delete_many()
            .filter(passkey_challenges::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(result.rows_affected)
    }
}
