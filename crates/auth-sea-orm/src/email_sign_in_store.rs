//! [`EmailSignInStore`] over `portcullis_email_sign_ins` (migration `m0014_create_email_sign_ins`).

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use auth_email_sign_in::{CodeCheck, EmailSignInStore, PendingEmailSignIn};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue, ColumnTrait, Condition, DatabaseConnection, EntityTrait, ExprTrait, QueryFilter};

use crate::entity::email_sign_ins;

use crate::error::backend;

/// PostgreSQL keeps microseconds; truncating first makes both databases return what was stored.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

fn into_pending(row: email_sign_ins::Model) -> PendingEmailSignIn {
    let mut pending = PendingEmailSignIn::new(
        row.email,
        row.user_id.map(UserId::new),
        row.token_hash,
        row.code_digest,
        row.created_at,
        row.expires_at,
    );
    pending.id = row.id;
    pending.attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
    pending
}

fn attempts(max: u32) -> i32 {
    i32::try_from(max).unwrap_or(i32::MAX)
}

/// An [`EmailSignInStore`] on SQLite or PostgreSQL. Clones share the pool.
///
/// One row per address: [`replace`](EmailSignInStore::replace) is one upsert. Using a link or a
/// code reads the row, then a `DELETE` conditioned on it being still usable decides (of
/// concurrent uses one deletes it); a wrong code is one `UPDATE ... SET attempts = attempts + 1
/// WHERE attempts < max`, so concurrent wrong codes are all counted and never more than the limit.
#[derive(Debug, Clone)]
pub struct SeaOrmEmailSignInStore {
    db: DatabaseConnection,
}

impl SeaOrmEmailSignInStore {
    /// A store on `db` (migrated with [`migrate`](crate::migrate)).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Usable: unexpired, under the attempt limit.
    fn usable(max: u32, now: DateTime<Utc>) -> Condition {
        Condition::all()
            .add(email_sign_ins::Column::ExpiresAt.gt(now))
            .add(email_sign_ins::Column::Attempts.lt(attempts(max)))
    }

    async fn take(
        &self,
        row: email_sign_ins::Model,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingEmailSignIn>, AuthError> {
        let deleted = email_sign_ins::Entity::delete_many()
            .filter(email_sign_ins::Column::Id.eq(row.id.as_str()))
            .filter(Self::usable(max, now))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok((deleted.rows_affected == 1).then(|| into_pending(row)))
    }
}

#[async_trait]
impl EmailSignInStore for SeaOrmEmailSignInStore {
    async fn replace(&self, pending: &PendingEmailSignIn) -> Result<(), AuthError> {
        let row = email_sign_ins::ActiveModel {
            email: ActiveValue::Set(pending.email.clone()),
            id: ActiveValue::Set(pending.id.clone()),
            user_id: ActiveValue::Set(pending.user_id.as_ref().map(ToString::to_string)),
            token_hash: ActiveValue::Set(pending.token_hash.clone()),
            code_digest: ActiveValue::Set(pending.code_digest.clone()),
            attempts: ActiveValue::Set(attempts(pending.attempts)),
            created_at: ActiveValue::Set(stored(pending.created_at)),
            expires_at: ActiveValue::Set(stored(pending.expires_at)),
        };
        let upsert = OnConflict::column(email_sign_ins::Column::Email)
            .update_columns([
                email_sign_ins::Column::Id,
                email_sign_ins::Column::UserId,
                email_sign_ins::Column::TokenHash,
                email_sign_ins::Column::CodeDigest,
                email_sign_ins::Column::Attempts,
                email_sign_ins::Column::CreatedAt,
                email_sign_ins::Column::ExpiresAt,
            ])
            .to_owned();
        email_sign_ins::Entity::insert(row)
            .on_conflict(upsert)
            .exec_without_returning(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn consume_token(
        &self,
        token_hash: &str,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingEmailSignIn>, AuthError> {
        let row = email_sign_ins::Entity::find()
            .filter(email_sign_ins::Column::TokenHash.eq(token_hash))
            .filter(Self::usable(max_attempts, now))
            .one(&self.db)
            .await
            .map_err(backend)?;
        match row {
            Some(row) => self.take(row, max_attempts, now).await,
            None => Ok(None),
        }
    }

    async fn check_code(
        &self,
        email: &str,
        code_digest: &str,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<CodeCheck, AuthError> {
        let row = email_sign_ins::Entity::find()
            .filter(email_sign_ins::Column::Email.eq(email))
            .filter(Self::usable(max_attempts, now))
            .one(&self.db)
            .await
            .map_err(backend)?;
        let Some(row) = row else { return Ok(CodeCheck::NoPending) };
        if row.code_digest == code_digest {
            return Ok(self
                .take(row, max_attempts, now)
                .await?
                .map_or(CodeCheck::NoPending, CodeCheck::Matched));
        }
        let counted = email_sign_ins::Entity::update_many()
            .col_expr(email_sign_ins::Column::Attempts, Expr::col(email_sign_ins::Column::Attempts).add(1))
            .filter(email_sign_ins::Column::Id.eq(row.id.as_str()))
            .filter(Self::usable(max_attempts, now))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        if counted.rows_affected == 0 {
            return Ok(CodeCheck::NoPending);
        }
        let now_at = email_sign_ins::Entity::find_by_id(email.to_owned())
            .one(&self.db)
            .await
            .map_err(backend)?
            .filter(|r| r.id == row.id)
            .map_or(attempts(max_attempts), |r| r.attempts);
        if now_at >= attempts(max_attempts) {
            // Worn out: gone (a newer request's row has another id and stays).
            email_sign_ins::Entity::delete_many()
                .filter(email_sign_ins::Column::Id.eq(row.id.as_str()))
                .exec(&self.db)
                .await
                .map_err(backend)?;
        }
        let left = Ord::max(attempts(max_attempts).saturating_sub(now_at), 0);
        Ok(CodeCheck::Wrong { attempts_left: u32::try_from(left).unwrap_or(0) })
    }

    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
        let deleted = email_sign_ins::Entity::delete_many()
            .filter(email_sign_ins::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(deleted.rows_affected)
    }
}
