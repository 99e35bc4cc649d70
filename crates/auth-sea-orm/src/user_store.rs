//! [`UserStore`] over `portcullis_users`.

use async_trait::async_trait;
use auth_core::{
    AuthError, CreateUserError, NewUser, SharedClock, SystemClock, User, UserId, UserQuery, UserStore,
    UserUpdate, normalize_email, normalize_login,
};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DbBackend, DbErr, EntityTrait, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};

use crate::entity::users;

/// A [`UserStore`] for [`auth_core::User`] on SQLite or PostgreSQL. Clones share the pool.
///
/// Usernames compare by [`auth_core::normalize_login`] (case and lookalike characters ignored) and
/// emails by [`auth_core::normalize_email`] (case and NFKC), exactly as in
/// [`auth_core::MemoryUserStore`], through the `*_normalized` columns; their unique indexes make
/// [`create_user`](UserStore::create_user) atomic, even across processes.
///
/// An account whose username or email collided with an older account's when migration
/// `m0010_confusable_usernames` recomputed the columns keeps its pre-migration form under a
/// [`LEGACY_PREFIX`](crate::LEGACY_PREFIX) marker: it still signs in with its own name (any case),
/// and a lookup tries that exact form before the lookalike one.
///
/// [`list_users`](UserStore::list_users) reads by id in byte order (`COLLATE "C"` on
/// PostgreSQL). An ASCII search is a `LOWER(..) LIKE` on the username and email, in the database;
/// any other search is filtered in Rust with `UserQuery::matches`, reading a batch of rows at a
/// time, so that non-ASCII text folds exactly as in `MemoryUserStore` on both databases.
///
/// ```
/// use auth_core::{NewUser, UserStore};
/// use auth_sea_orm::{SeaOrmUserStore, connect, migrate};
///
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = connect("sqlite::memory:").await?;
/// migrate(&db).await?;
/// let store = SeaOrmUserStore::new(db);
/// store.create_user(NewUser::new("alice", Some("Alice@example.com".into()), "$argon2id$...".into())).await?;
/// assert!(store.find_by_login("alice@EXAMPLE.com").await?.is_some());
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct SeaOrmUserStore {
    db: DatabaseConnection,
    clock: SharedClock,
}

impl SeaOrmUserStore {
    /// A store on `db` (migrated with [`migrate`](crate::migrate)), on the system clock.
    pub fn new(db: DatabaseConnection) -> Self {
        Self::with_clock(db, SystemClock::shared())
    }

    /// A store on `db` whose `date_joined` comes from `clock`.
    pub fn with_clock(db: DatabaseConnection, clock: SharedClock) -> Self {
        Self { db, clock }
    }

    /// The connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    async fn exists(&self, column: users::Column, value: &str) -> Result<bool, DbErr> {
        Ok(users::Entity::find().filter(column.eq(value)).count(&self.db).await? > 0)
    }

    /// Turns a failed insert into the [`CreateUserError`] it means.
    async fn insert_error(&self, error: DbErr, username: &str, email: Option<&str>) -> CreateUserError {
        let Some(SqlErr::UniqueConstraintViolation(message)) = error.sql_err() else {
            return backend(error).into();
        };
        // When both are taken the username wins, as in MemoryUserStore. The conflicting row is
        // committed by now (both databases report a violation only against committed rows).
        if self.exists(users::Column::UsernameNormalized, username).await.unwrap_or(false) {
            return CreateUserError::UsernameTaken;
        }
        // The index names mention their column, e.g. SQLite's "UNIQUE constraint failed:
        // portcullis_users.email_normalized", PostgreSQL's "duplicate key value violates unique
        // constraint \"portcullis_users_email_normalized_key\"".
        if message.contains("email_normalized") {
            return CreateUserError::EmailTaken;
        }
        if message.contains("username_normalized") {
            return CreateUserError::UsernameTaken;
        }
        if let Some(email) = email
            && self.exists(users::Column::EmailNormalized, email).await.unwrap_or(false)
        {
            return CreateUserError::EmailTaken;
        }
        backend(error).into()
    }
}

/// The `*_normalized` value of an account that kept its pre-m0010 form (see
/// [`LEGACY_PREFIX`](crate::LEGACY_PREFIX)); `login` as typed.
pub(crate) fn legacy_form(login: &str) -> String {
    format!("{}{}", crate::LEGACY_PREFIX, login.to_lowercase())
}

/// PostgreSQL keeps microseconds; truncating first makes both databases return what was stored.
fn to_stored_precision(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

use crate::error::backend;

fn into_user(row: users::Model) -> Result<User, AuthError> {
    let roles: Vec<String> = serde_json::from_str(&row.roles).map_err(AuthError::backend)?;
    let mut new = NewUser::new(row.username, row.email, String::new())
        .staff(row.is_staff)
        .superuser(row.is_superuser)
        .roles(roles)
        .tenant(row.tenant);
    new.password_hash = row.password_hash;
    let mut user = User::from_new(UserId::new(row.id), new, row.date_joined);
    user.is_active = row.is_active;
    user.last_login = row.last_login;
    user.email_verified = row.email_verified;
    Ok(user)
}

#[async_trait]
impl UserStore for SeaOrmUserStore {
    type User = User;

    async fn find_by_id(&self, id: &UserId) -> Result<Option<User>, AuthError> {
        let row = users::Entity::find_by_id(id.as_str()).one(&self.db).await.map_err(backend)?;
        row.map(into_user).transpose()
    }

    async fn find_by_login(&self, login: &str) -> Result<Option<User>, AuthError> {
        let (name, email, legacy) = (normalize_login(login), normalize_email(login), legacy_form(login));
        // At most four rows (both columns are unique). In order of preference: a username kept in
        // its pre-m0010 form, a username, an email kept in its pre-m0010 form, an email.
        let rows = users::Entity::find()
            .filter(
                Condition::any()
                    .add(users::Column::UsernameNormalized.is_in([legacy.as_str(), name.as_str()]))
                    .add(users::Column::EmailNormalized.is_in([legacy.as_str(), email.as_str()])),
            )
            .all(&self.db)
            .await
            .map_err(backend)?;
        let rank = |row: &users::Model| {
            let email_is = |value: &str| row.email_normalized.as_deref() == Some(value);
            if row.username_normalized == legacy {
                0
            } else if row.username_normalized == name {
                1
            } else if email_is(&legacy) {
                2
            } else if email_is(&email) {
                3
            } else {
                4
            }
        };
        let row = rows.into_iter().min_by_key(rank);
        row.map(into_user).transpose()
    }

    async fn create_user(&self, new: NewUser) -> Result<User, CreateUserError> {
        let id = uuid::Uuid::new_v4().to_string();
        let date_joined = to_stored_precision(self.clock.now());
        let username_normalized = normalize_login(&new.username);
        let email_normalized = new.email.as_deref().map(normalize_email);
        let roles = serde_json::to_string(&new.roles).map_err(|e| CreateUserError::Backend(Box::new(e)))?;
        let row = users::ActiveModel {
            id: Set(id.clone()),
            username: Set(new.username.clone()),
            username_normalized: Set(username_normalized.clone()),
            email: Set(new.email.clone()),
            email_normalized: Set(email_normalized.clone()),
            email_verified: Set(false),
            password_hash: Set(new.password_hash.clone()),
            is_active: Set(true),
            is_staff: Set(new.is_staff),
            is_superuser: Set(new.is_superuser),
            roles: Set(roles),
            date_joined: Set(date_joined),
            tenant: Set(new.tenant.clone()),
            last_login: Set(None),
        };
        match users::Entity::insert(row).exec_without_returning(&self.db).await {
            Ok(_) => Ok(User::from_new(UserId::new(id), new, date_joined)),
            Err(error) => {
                Err(self.insert_error(error, &username_normalized, email_normalized.as_deref()).await)
            }
        }
    }

    async fn set_password_hash(&self, id: &UserId, password_hash: &str) -> Result<(), AuthError> {
        users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(password_hash))
            .filter(users::Column::Id.eq(id.as_str()))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn record_login(&self, id: &UserId, at: DateTime<Utc>) -> Result<(), AuthError> {
        users::Entity::update_many()
            .col_expr(users::Column::LastLogin, Expr::value(to_stored_precision(at)))
            .filter(users::Column::Id.eq(id.as_str()))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<User>, AuthError> {
        let legacy = legacy_form(email);
        let rows = users::Entity::find()
            .filter(users::Column::EmailNormalized.is_in([legacy.clone(), normalize_email(email)]))
            .all(&self.db)
            .await
            .map_err(backend)?;
        // An address kept in its pre-m0010 form is that account's own spelling: it wins.
        let row = rows.into_iter().min_by_key(|row| row.email_normalized.as_deref() != Some(legacy.as_str()));
        row.map(into_user).transpose()
    }

    async fn update_user(&self, id: &UserId, update: UserUpdate) -> Result<Option<User>, CreateUserError> {
        let mut query = users::Entity::update_many().filter(users::Column::Id.eq(id.as_str()));
        if let Some(username) = &update.username {
            query = query
                .col_expr(users::Column::Username, Expr::value(username.as_str()))
                .col_expr(users::Column::UsernameNormalized, Expr::value(normalize_login(username)));
        }
        if let Some(email) = &update.email {
            query = query
                .col_expr(users::Column::Email, Expr::value(email.clone()))
                .col_expr(users::Column::EmailNormalized, Expr::value(email.as_deref().map(normalize_email)));
        }
        if let Some(verified) = update.email_verified {
            query = query.col_expr(users::Column::EmailVerified, Expr::value(verified));
        }
        if let Some(is_staff) = update.is_staff {
            query = query.col_expr(users::Column::IsStaff, Expr::value(is_staff));
        }
        if let Some(is_superuser) = update.is_superuser {
            query = query.col_expr(users::Column::IsSuperuser, Expr::value(is_superuser));
        }
        if !update.is_empty() {
            // One UPDATE: the unique indexes refuse a taken username or email atomically.
            if let Err(error) = query.exec(&self.db).await {
                let username = update.username.as_deref().map(normalize_login).unwrap_or_default();
                let email = update.email.clone().flatten().map(|e| normalize_email(&e));
                return Err(self.insert_error(error, &username, email.as_deref()).await);
            }
        }
        self.find_by_id(id).await.map_err(CreateUserError::from)
    }

    async fn set_active(&self, id: &UserId, active: bool) -> Result<bool, AuthError> {
        let result = users::Entity::update_many()
            .col_expr(users::Column::IsActive, Expr::value(active))
            .filter(users::Column::Id.eq(id.as_str()))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(result.rows_affected > 0)
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, AuthError> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let needle = query.search.as_deref().map(str::to_lowercase).filter(|n| !n.is_empty());
        let postgres = self.db.get_database_backend() == DbBackend::Postgres;
        // Ids in byte order on both databases, as by MemoryUserStore: PostgreSQL's default
        // collation may order text otherwise.
        let id = || if postgres { Expr::cust(r#""id" COLLATE "C""#) } else { Expr::col(users::Column::Id) };
        let mut select = users::Entity::find().order_by(id(), Order::Asc);
        // An ASCII search is done by the database: `LOWER` folds ASCII on both databases, which
        // is all an ASCII needle needs. Other searches are filtered here, page by page (SQLite's
        // `LOWER` folds ASCII only), with `UserQuery::matches` as MemoryUserStore does.
        let in_database = needle.as_deref().is_some_and(|n| n.is_ascii());
        if let Some(needle) = needle.as_deref().filter(|_| in_database) {
            let pattern = format!("%{}%", escape_like(needle));
            let contains = |column: users::Column| {
                Expr::expr(Func::lower(Expr::col(column))).like(LikeExpr::new(pattern.clone()).escape('\\'))
            };
            select = select.filter(
                Condition::any().add(contains(users::Column::Username)).add(contains(users::Column::Email)),
            );
        }
        // Both databases take a signed 64-bit LIMIT.
        let limit = Ord::min(u64::try_from(query.limit).unwrap_or(u64::MAX), i64::MAX.unsigned_abs());
        let batch = if needle.is_some() && !in_database { Ord::max(limit, LIST_BATCH) } else { limit };
        let mut after = query.after.as_ref().map(|id| id.as_str().to_owned());
        let mut page = Vec::new();
        loop {
            let mut select = select.clone();
            if let Some(after) = &after {
                select = select.filter(id().gt(after.as_str()));
            }
            let rows = select.limit(batch).all(&self.db).await.map_err(backend)?;
            let full = u64::try_from(rows.len()).unwrap_or(u64::MAX) == batch;
            after = rows.last().map(|row| row.id.clone());
            for row in rows {
                let user = into_user(row)?;
                if query.matches(&user) {
                    page.push(user);
                    if page.len() == query.limit {
                        return Ok(page);
                    }
                }
            }
            if !full {
                return Ok(page);
            }
        }
    }
}

/// How many rows [`SeaOrmUserStore::list_users`] reads at a time when it filters them itself.
const LIST_BATCH: u64 = 500;

/// `text` with the `LIKE` wildcards and the escape character escaped (by `\`).
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
