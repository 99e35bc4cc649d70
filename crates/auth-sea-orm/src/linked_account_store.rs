//! [`LinkedAccountStore`] over `portcullis_linked_accounts` (migration
//! `m0012_create_linked_accounts`).

use async_trait::async_trait;
use auth_core::{AuthError, FieldError, UserId};
use auth_oauth::{LinkedAccount, LinkedAccountStore};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, SqlErr};

use crate::entity::linked_accounts;

use crate::error::backend;

/// PostgreSQL keeps microseconds; truncating first makes both databases return what was stored.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

fn into_account(row: linked_accounts::Model) -> LinkedAccount {
    let mut account =
        LinkedAccount::new(UserId::new(row.user_id), &row.provider, &row.subject, row.email, row.linked_at);
    account.id = row.id;
    account.last_used_at = row.last_used_at;
    account.tokens = row.tokens;
    account
}

/// A [`LinkedAccountStore`] on SQLite or PostgreSQL. Clones share the pool.
///
/// The unique index on `(provider, subject)` makes [`link`](LinkedAccountStore::link) one insert
/// that the database refuses for an identity linked already, also when two requests race;
/// [`unlink`](LinkedAccountStore::unlink) is one `DELETE ... WHERE id = ? AND user_id = ?`.
#[derive(Debug, Clone)]
pub struct SeaOrmLinkedAccountStore {
    db: DatabaseConnection,
}

impl SeaOrmLinkedAccountStore {
    /// A store on `db` (migrated with [`migrate`](crate::migrate)).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl LinkedAccountStore for SeaOrmLinkedAccountStore {
    async fn link(&self, account: &LinkedAccount) -> Result<(), AuthError> {
        let row = linked_accounts::ActiveModel {
            id: ActiveValue::Set(account.id.clone()),
            user_id: ActiveValue::Set(account.user_id.to_string()),
            provider: ActiveValue::Set(account.provider.clone()),
            subject: ActiveValue::Set(account.subject.clone()),
            email: ActiveValue::Set(account.email.clone()),
            linked_at: ActiveValue::Set(stored(account.linked_at)),
            last_used_at: ActiveValue::Set(account.last_used_at.map(stored)),
            tokens: ActiveValue::Set(account.tokens.clone()),
        };
        match linked_accounts::Entity::insert(row).exec_without_returning(&self.db).await {
            Ok(_) => Ok(()),
            Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Err(AuthError::Conflict(vec![FieldError::new("provider", "this account is already linked")]))
            }
            Err(error) => Err(backend(error)),
        }
    }

    async fn find(&self, provider: &str, subject: &str) -> Result<Option<LinkedAccount>, AuthError> {
        let row = linked_accounts::Entity::find()
            .filter(linked_accounts::Column::Provider.eq(provider))
            .filter(linked_accounts::Column::Subject.eq(subject))
            .one(&self.db)
            .await
            .map_err(backend)?;
        Ok(row.map(into_account))
    }

    async fn list_for_user(&self, user_id: &UserId) -> Result<Vec<LinkedAccount>, AuthError> {
        let rows = linked_accounts::Entity::find()
            .filter(linked_accounts::Column::UserId.eq(user_id.as_str()))
            .order_by_asc(linked_accounts::Column::LinkedAt)
            .order_by_asc(linked_accounts::Column::Id)
            .all(&self.db)
            .await
            .map_err(backend)?;
        Ok(rows.into_iter().map(into_account).collect())
    }

    async fn unlink(&self, user_id: &UserId, id: &str) -> Result<bool, AuthError> {
        let result = linked_accounts::Entity::delete_many()
            .filter(linked_accounts::Column::Id.eq(id))
            .filter(linked_accounts::Column::UserId.eq(user_id.as_str()))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(result.rows_affected > 0)
    }

    async fn touch(&self, id: &str, at: DateTime<Utc>) -> Result<(), AuthError> {
        linked_accounts::Entity::update_many()
            .col_expr(linked_accounts::Column::LastUsedAt, sea_orm::sea_query::Expr::value(Some(stored(at))))
            .filter(linked_accounts::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn set_tokens(&self, id: &str, sealed: Option<&str>) -> Result<(), AuthError> {
        linked_accounts::Entity::update_many()
            .col_expr(
                linked_accounts::Column::Tokens,
                sea_orm::sea_query::Expr::value(sealed.map(str::to_owned)),
            )
            .filter(linked_accounts::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn remove_user(&self, user_id: &UserId) -> Result<(), AuthError> {
        linked_accounts::Entity::delete_many()
            .filter(linked_accounts::Column::UserId.eq(user_id.as_str()))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
