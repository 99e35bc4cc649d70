//! [`AccountTokenStore`] over `portcullis_account_tokens`.

use async_trait::async_trait;
use auth_core::account_tokens::{AccountToken, AccountTokenPurpose, AccountTokenStore};
use auth_core::{AuthError, UserId};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter};

use crate::entity::account_tokens;

/// An [`AccountTokenStore`] on SQLite or PostgreSQL: tokens of password-reset and
/// email-verification links, only as their SHA-256. Clones share the pool.
///
/// [`consume`](AccountTokenStore::consume) reads the row and then deletes it by hash: the delete
/// decides, so of concurrent uses of one token exactly one gets it.
///
/// ```
/// use auth_core::UserId;
/// use auth_core::account_tokens::{AccountToken, AccountTokenPurpose, AccountTokenStore, generate_account_token};
/// use auth_sea_orm::{SeaOrmAccountTokenStore, connect, migrate};
/// use chrono::{DateTime, Duration};
///
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = connect("sqlite::memory:").await?;
/// migrate(&db).await?;
/// let tokens = SeaOrmAccountTokenStore::new(db);
/// let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
/// let (token, hash) = generate_account_token(); // `token` goes into the email, `hash` into the table
/// let purpose = AccountTokenPurpose::PasswordReset;
/// tokens.create(&AccountToken::new(hash.clone(), purpose, UserId::new("alice"), "fp", now, now + Duration::hours(1))).await?;
/// assert!(tokens.consume(&hash, purpose, now).await?.is_some());
/// assert!(tokens.consume(&hash, purpose, now).await?.is_none(), "single use");
/// # let _ = token;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct SeaOrmAccountTokenStore {
    db: DatabaseConnection,
}

impl SeaOrmAccountTokenStore {
    /// A store on `db` (migrated with [`migrate`](crate::migrate)).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    async fn delete_where(&self, condition: Condition) -> Result<u64, AuthError> {
        let result = account_tokens::Entity::delete_many().filter(condition).exec(&self.db).await;
        Ok(result.map_err(backend)?.rows_affected)
    }
}

use crate::error::backend;

fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

fn into_token(row: account_tokens::Model) -> Result<AccountToken, AuthError> {
    let purpose = AccountTokenPurpose::parse(&row.purpose)
        .ok_or_else(|| AuthError::backend(format!("unknown account token purpose {:?}", row.purpose)))?;
    let mut token = AccountToken::new(
        row.token_hash,
        purpose,
        UserId::new(row.user_id),
        row.fingerprint,
        row.created_at,
        row.expires_at,
    );
    token.email = row.email;
    Ok(token)
}

#[async_trait]
impl AccountTokenStore for SeaOrmAccountTokenStore {
    async fn create(&self, token: &AccountToken) -> Result<(), AuthError> {
        let row = account_tokens::ActiveModel {
            token_hash: Set(token.token_hash.clone()),
            purpose: Set(token.purpose.as_str().to_owned()),
            user_id: Set(token.user_id.as_str().to_owned()),
            email: Set(token.email.clone()),
            fingerprint: Set(token.fingerprint.clone()),
            created_at: Set(stored(token.created_at)),
            expires_at: Set(stored(token.expires_at)),
        };
        account_tokens::Entity::insert(row).exec_without_returning(&self.db).await.map_err(backend)?;
        Ok(())
    }

    async fn consume(
        &self,
        token_hash: &str,
        purpose: AccountTokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<AccountToken>, AuthError> {
        let condition = Condition::all()
            .add(account_tokens::Column::TokenHash.eq(token_hash))
            .add(account_tokens::Column::Purpose.eq(purpose.as_str()))
            .add(account_tokens::Column::ExpiresAt.gt(now));
        let Some(row) =
            account_tokens::Entity::find().filter(condition.clone()).one(&self.db).await.map_err(backend)?
        else {
            return Ok(None);
        };
        // The delete decides: a concurrent use that deleted it first wins.
        if self.delete_where(condition).await? == 0 {
            return Ok(None);
        }
        into_token(row).map(Some)
    }

    async fn delete_for_user(
        &self,
        user_id: &UserId,
        purpose: Option<AccountTokenPurpose>,
    ) -> Result<u64, AuthError> {
        let mut condition = Condition::all().add(account_tokens::Column::UserId.eq(user_id.as_str()));
        if let Some(purpose) = purpose {
            condition = condition.add(account_tokens::Column::Purpose.eq(purpose.as_str()));
        }
        self.delete_where(condition).await
    }

    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
        self.delete_where(Condition::all().add(account_tokens::Column::ExpiresAt.lte(now))).await
    }
}
