//! The application's own user type and table, plugged into Portcullis through two traits:
//! [`AuthUser`] for [`Account`] and [`UserStore`] for [`AccountStore`]. Hashing, tokens and the
//! sign-in endpoints stay Portcullis's.

use std::fmt;

use chrono::{DateTime, Utc};
use portcullis::core::{
    AuthError, AuthUser, CreateUserError, NewUser, SharedClock, SystemClock, UserId, UserStore, UserUpdate,
    async_trait, normalize_email, normalize_login,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseConnection, DbErr, EntityTrait, QueryFilter, SqlErr,
};

/// The `accounts` table, as this application defines it (not Portcullis's users table).
///
/// `login` and `mail` are kept as entered; lookups and uniqueness go through `login_key` and
/// `mail_key`, computed by Portcullis's own rules ([`normalize_login`]: case-folded, NFKC and the
/// Unicode confusable skeleton, so `pаypal` with a Cyrillic `а` is `paypal`; [`normalize_email`]:
/// case-folded and NFKC). `is_admin` and `roles` hold [`AuthUser::is_superuser`] and
/// [`AuthUser::roles`]; `roles` is space-separated.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS accounts (
    account_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    login        TEXT NOT NULL,
    login_key    TEXT NOT NULL UNIQUE,
    mail         TEXT,
    mail_key     TEXT UNIQUE,
    mail_checked INTEGER NOT NULL DEFAULT 0,
    secret_hash  TEXT,
    enabled      INTEGER NOT NULL DEFAULT 1,
    is_moderator INTEGER NOT NULL DEFAULT 0,
    is_admin     INTEGER NOT NULL DEFAULT 0,
    roles        TEXT NOT NULL DEFAULT '',
    joined_at    TEXT NOT NULL,
    seen_at      TEXT
)";

/// The sea-orm view of the `accounts` table.
mod accounts {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub(crate) struct Model {
        #[sea_orm(primary_key)]
        pub(crate) account_id: i64,
        pub(crate) login: String,
        pub(crate) login_key: String,
        pub(crate) mail: Option<String>,
        pub(crate) mail_key: Option<String>,
        pub(crate) mail_checked: bool,
        pub(crate) secret_hash: Option<String>,
        pub(crate) enabled: bool,
        pub(crate) is_moderator: bool,
        pub(crate) is_admin: bool,
        pub(crate) roles: String,
        pub(crate) joined_at: DateTimeUtc,
        pub(crate) seen_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A user of this application: one row of `accounts`.
#[derive(Clone)]
pub struct Account {
    /// `account_id`.
    pub id: i64,
    /// `login`: the username.
    pub login: String,
    /// `mail`: the email address, if any.
    pub mail: Option<String>,
    /// `mail_checked`: whether the address was verified.
    pub mail_checked: bool,
    /// `secret_hash`: the PHC password hash (never shown in `Debug`).
    pub secret_hash: Option<String>,
    /// `enabled`: whether the account may sign in.
    pub enabled: bool,
    /// `is_moderator`: moderators are Portcullis staff (they may delete notes).
    pub is_moderator: bool,
    /// `is_admin`: administrators are Portcullis superusers.
    pub is_admin: bool,
    /// `roles`.
    pub roles: Vec<String>,
    /// `joined_at`.
    pub joined_at: DateTime<Utc>,
    /// `seen_at`: the last sign-in.
    pub seen_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("login", &self.login)
            .field("mail", &self.mail)
            .field("enabled", &self.enabled)
            .field("is_moderator", &self.is_moderator)
            .finish_non_exhaustive()
    }
}

impl From<accounts::Model> for Account {
    fn from(row: accounts::Model) -> Self {
        Self {
            id: row.account_id,
            login: row.login,
            mail: row.mail,
            mail_checked: row.mail_checked,
            secret_hash: row.secret_hash,
            enabled: row.enabled,
            is_moderator: row.is_moderator,
            is_admin: row.is_admin,
            roles: row.roles.split_whitespace().map(str::to_owned).collect(),
            joined_at: row.joined_at,
            seen_at: row.seen_at,
        }
    }
}

impl AuthUser for Account {
    fn id(&self) -> UserId {
        UserId::new(self.id.to_string())
    }
    fn username(&self) -> &str {
        &self.login
    }
    fn email(&self) -> Option<&str> {
        self.mail.as_deref()
    }
    fn is_active(&self) -> bool {
        self.enabled
    }
    fn password_hash(&self) -> Option<&str> {
        self.secret_hash.as_deref()
    }
    fn is_staff(&self) -> bool {
        self.is_moderator
    }
    fn is_superuser(&self) -> bool {
        self.is_admin
    }
    fn roles(&self) -> Vec<String> {
        self.roles.clone()
    }
    fn last_login(&self) -> Option<DateTime<Utc>> {
        self.seen_at
    }
    fn email_verified(&self) -> bool {
        self.mail_checked
    }
}

/// [`UserStore`] over the `accounts` table. Clones share the pool.
#[derive(Debug, Clone)]
pub struct AccountStore {
    db: DatabaseConnection,
    clock: SharedClock,
}

fn backend(error: DbErr) -> AuthError {
    AuthError::backend(error)
}

/// A failed write of `login` or `mail`: which unique column refused it.
fn conflict(error: DbErr) -> CreateUserError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(m)) if m.contains("accounts.login_key") => {
            CreateUserError::UsernameTaken
        }
        Some(SqlErr::UniqueConstraintViolation(m)) if m.contains("accounts.mail_key") => {
            CreateUserError::EmailTaken
        }
        _ => CreateUserError::Backend(Box::new(error)),
    }
}

/// Our ids are integers: any other id names no account.
fn account_id(id: &UserId) -> Option<i64> {
    id.as_str().parse().ok()
}

impl AccountStore {
    /// A store on `db`; creates the `accounts` table when it does not exist.
    pub async fn new(db: DatabaseConnection) -> Result<Self, DbErr> {
        db.execute_unprepared(SCHEMA).await?;
        Ok(Self { db, clock: SystemClock::shared() })
    }

    /// The connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Sets one column of one account; `false` when there is no such account.
    async fn update(&self, id: &UserId, column: accounts::Column, value: Expr) -> Result<bool, AuthError> {
        let Some(id) = account_id(id) else { return Ok(false) };
        let result = accounts::Entity::update_many()
            .col_expr(column, value)
            .filter(accounts::Column::AccountId.eq(id))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(result.rows_affected > 0)
    }
}

#[async_trait]
impl UserStore for AccountStore {
    type User = Account;

    async fn find_by_id(&self, id: &UserId) -> Result<Option<Account>, AuthError> {
        let Some(id) = account_id(id) else { return Ok(None) };
        let row = accounts::Entity::find_by_id(id).one(&self.db).await.map_err(backend)?;
        Ok(row.map(Account::from))
    }

    async fn find_by_login(&self, login: &str) -> Result<Option<Account>, AuthError> {
        // At most one row per key column: the UNIQUE indexes see to that.
        let (login_key, mail_key) = (normalize_login(login), normalize_email(login));
        let mut rows = accounts::Entity::find()
            .filter(
                Condition::any()
                    .add(accounts::Column::LoginKey.eq(login_key.as_str()))
                    .add(accounts::Column::MailKey.eq(mail_key)),
            )
            .all(&self.db)
            .await
            .map_err(backend)?;
        // A username match wins over an email match.
        let row = match rows.iter().position(|row| row.login_key == login_key) {
            Some(by_login) => Some(rows.swap_remove(by_login)),
            None => rows.pop(),
        };
        Ok(row.map(Account::from))
    }

    async fn create_user(&self, new: NewUser) -> Result<Account, CreateUserError> {
        let row = accounts::ActiveModel {
            account_id: NotSet,
            login_key: Set(normalize_login(&new.username)),
            login: Set(new.username),
            mail_key: Set(new.email.as_deref().map(normalize_email)),
            mail: Set(new.email),
            mail_checked: Set(false),
            secret_hash: Set(new.password_hash),
            enabled: Set(true),
            is_moderator: Set(new.is_staff),
            is_admin: Set(new.is_superuser),
            roles: Set(new.roles.join(" ")),
            joined_at: Set(self.clock.now()),
            seen_at: Set(None),
        };
        // The UNIQUE indexes decide atomically; SQLite names the column in the message.
        row.insert(&self.db).await.map(Account::from).map_err(conflict)
    }

    async fn update_user(&self, id: &UserId, update: UserUpdate) -> Result<Option<Account>, CreateUserError> {
        let Some(account) = account_id(id) else { return Ok(None) };
        let mut query = accounts::Entity::update_many().filter(accounts::Column::AccountId.eq(account));
        if let Some(login) = &update.username {
            query = query
                .col_expr(accounts::Column::Login, Expr::value(login.as_str()))
                .col_expr(accounts::Column::LoginKey, Expr::value(normalize_login(login)));
        }
        if let Some(mail) = &update.email {
            query = query
                .col_expr(accounts::Column::Mail, Expr::value(mail.clone()))
                .col_expr(accounts::Column::MailKey, Expr::value(mail.as_deref().map(normalize_email)));
        }
        if let Some(checked) = update.email_verified {
            query = query.col_expr(accounts::Column::MailChecked, Expr::value(checked));
        }
        if let Some(moderator) = update.is_staff {
            query = query.col_expr(accounts::Column::IsModerator, Expr::value(moderator));
        }
        if let Some(admin) = update.is_superuser {
            query = query.col_expr(accounts::Column::IsAdmin, Expr::value(admin));
        }
        if !update.is_empty() {
            // One UPDATE: the UNIQUE indexes refuse a taken login or mail atomically.
            query.exec(&self.db).await.map_err(conflict)?;
        }
        self.find_by_id(id).await.map_err(|e| CreateUserError::Backend(Box::new(e)))
    }

    async fn set_password_hash(&self, id: &UserId, password_hash: &str) -> Result<(), AuthError> {
        self.update(id, accounts::Column::SecretHash, Expr::value(password_hash)).await.map(drop)
    }

    async fn record_login(&self, id: &UserId, at: DateTime<Utc>) -> Result<(), AuthError> {
        self.update(id, accounts::Column::SeenAt, Expr::value(at)).await.map(drop)
    }

    async fn set_active(&self, id: &UserId, active: bool) -> Result<bool, AuthError> {
        self.update(id, accounts::Column::Enabled, Expr::value(active)).await
    }
}
