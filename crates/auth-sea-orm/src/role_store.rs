//! [`RoleStore`] over the tables of migration `m0011_create_roles`.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use auth_core::{AuthError, Role, RoleStore, UserId};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query, SelectStatement};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, FromQueryResult, SqlErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::entity::{role_permissions, roles, user_roles};

use crate::error::backend;

/// PostgreSQL keeps microseconds; truncating first makes both databases return what was stored.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// A role with one of its permissions (`None`: a role without any), as the joins read them.
#[derive(Debug, FromQueryResult)]
struct RoleRow {
    name: String,
    description: String,
    created_at: DateTime<Utc>,
    permission: Option<String>,
}

/// A role name with one of its permissions, as [`RoleStore::authority_of`] reads them.
#[derive(Debug, FromQueryResult)]
struct GrantRow {
    name: String,
    permission: Option<String>,
}

/// One column of text values.
#[derive(Debug, FromQueryResult)]
struct Name {
    value: String,
}

/// A [`RoleStore`] on SQLite or PostgreSQL. Clones share the pool.
///
/// Three tables (migration `m0011_create_roles`): `portcullis_roles` (name, description,
/// created_at), `portcullis_role_permissions` (role, permission) and `portcullis_user_roles`
/// (user_id, role, indexed by role); both dependent tables reference the role with
/// `ON DELETE CASCADE`.
///
/// Every method is one atomic change. [`grant_permission`](RoleStore::grant_permission) and
/// [`assign_role`](RoleStore::assign_role) are one `INSERT ... SELECT name FROM portcullis_roles
/// WHERE name = ? ON CONFLICT DO NOTHING` each: they insert only while the role exists, and the
/// foreign key refuses a row whose role a concurrent [`delete_role`](RoleStore::delete_role) is
/// removing, so no permission or assignment outlives its role. (Only when nothing was inserted is
/// the role looked up, to tell "already there" from [`AuthError::NotFound`].)
/// [`delete_role`](RoleStore::delete_role) deletes the role and, in the same transaction, its
/// dependent rows, so it needs no foreign-key enforcement (a SQLite connection not opened with
/// [`connect`](crate::connect) may lack `PRAGMA foreign_keys`).
/// [`authority_of`](RoleStore::authority_of) is one query, and so are
/// [`find_role`](RoleStore::find_role) and [`list_roles`](RoleStore::list_roles) (a join).
///
/// ```
/// use auth_core::{RoleStore, UserId};
/// use auth_sea_orm::{SeaOrmRoleStore, connect, migrate};
///
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = connect("sqlite::memory:").await?;
/// migrate(&db).await?;
/// let roles = SeaOrmRoleStore::new(db);
///
/// roles.create_role("editor", "edits articles", chrono::Utc::now()).await?;
/// roles.grant_permission("editor", "articles:edit").await?;
/// let alice = UserId::new("alice");
/// roles.assign_role(&alice, "editor").await?;
/// let (names, permissions) = roles.authority_of(&alice, &[]).await?;
/// assert!(names.contains("editor") && permissions.contains("articles:edit"));
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct SeaOrmRoleStore {
    db: DatabaseConnection,
}

impl SeaOrmRoleStore {
    /// A store on `db` (migrated with [`migrate`](crate::migrate)).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    async fn role_exists(&self, name: &str) -> Result<bool, AuthError> {
        let select = Query::select()
            .column(roles::Column::Name)
            .from(roles::Entity)
            .and_where(Expr::col(roles::Column::Name).eq(name))
            .to_owned();
        Ok(self.db.query_one(&select).await.map_err(backend)?.is_some())
    }

    /// Runs an `INSERT ... SELECT` that inserts only while `role` exists: `true` when it
    /// inserted, `false` when the row was there, [`AuthError::NotFound`] when the role is not.
    async fn insert_if_role(
        &self,
        role: &str,
        insert: sea_orm::sea_query::InsertStatement,
    ) -> Result<bool, AuthError> {
        match self.db.execute(&insert).await {
            Ok(result) if result.rows_affected() > 0 => Ok(true),
            Ok(_) => {
                if self.role_exists(role).await? {
                    Ok(false)
                } else {
                    Err(AuthError::NotFound)
                }
            }
            // PostgreSQL: the role was deleted by a transaction that committed after this
            // statement read it.
            Err(error) if matches!(error.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))) => {
                Err(AuthError::NotFound)
            }
            Err(error) => Err(backend(error)),
        }
    }

    /// The roles `filter` selects, with their permissions, by name.
    async fn roles_where(&self, filter: Option<&str>) -> Result<Vec<Role>, AuthError> {
        let mut select = Query::select()
            .column((roles::Entity, roles::Column::Name))
            .column((roles::Entity, roles::Column::Description))
            .column((roles::Entity, roles::Column::CreatedAt))
            .column((role_permissions::Entity, role_permissions::Column::Permission))
            .from(roles::Entity)
            .left_join(
                role_permissions::Entity,
                Expr::col((role_permissions::Entity, role_permissions::Column::Role))
                    .equals((roles::Entity, roles::Column::Name)),
            )
            .to_owned();
        if let Some(name) = filter {
            select.and_where(Expr::col((roles::Entity, roles::Column::Name)).eq(name));
        }
        let rows = self.rows::<RoleRow>(&select).await?;
        // Sorted here, in byte order: PostgreSQL's default collation may order text otherwise.
        let mut found: BTreeMap<String, Role> = BTreeMap::new();
        for row in rows {
            let role = found
                .entry(row.name.clone())
                .or_insert_with(|| Role::new(row.name, row.description, row.created_at));
            role.permissions.extend(row.permission);
        }
        Ok(found
            .into_values()
            .map(|mut role| {
                role.permissions.sort();
                role.permissions.dedup();
                role
            })
            .collect())
    }

    async fn rows<T: FromQueryResult>(&self, select: &SelectStatement) -> Result<Vec<T>, AuthError> {
        let statement = self.db.get_database_backend().build(select);
        T::find_by_statement(statement).all(&self.db).await.map_err(backend)
    }

    /// One text column of `select` (selected as `value`), sorted and without duplicates.
    async fn names(&self, select: &SelectStatement) -> Result<Vec<String>, AuthError> {
        let set: BTreeSet<String> = self.rows::<Name>(select).await?.into_iter().map(|n| n.value).collect();
        Ok(set.into_iter().collect())
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite (the write lock first, so a
    /// concurrent writer waits through the busy timeout instead of failing).
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
}

/// Deletes `role` and what depends on it inside `txn`; `true` when there was such a role.
async fn delete_role_in(txn: &DatabaseTransaction, role: &str) -> Result<bool, DbErr> {
    let delete = Query::delete()
        .from_table(roles::Entity)
        .and_where(Expr::col(roles::Column::Name).eq(role))
        .to_owned();
    if txn.execute(&delete).await?.rows_affected() == 0 {
        return Ok(false);
    }
    // The foreign keys' cascade has done this wherever they are enforced; without them (SQLite
    // without `PRAGMA foreign_keys`) these statements do it, in the same transaction.
    let permissions = Query::delete()
        .from_table(role_permissions::Entity)
        .and_where(Expr::col(role_permissions::Column::Role).eq(role))
        .to_owned();
    txn.execute(&permissions).await?;
    let assignments = Query::delete()
        .from_table(user_roles::Entity)
        .and_where(Expr::col(user_roles::Column::Role).eq(role))
        .to_owned();
    txn.execute(&assignments).await?;
    Ok(true)
}

#[async_trait]
impl RoleStore for SeaOrmRoleStore {
    async fn create_role(
        &self,
        name: &str,
        description: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        let insert = Query::insert()
            .into_table(roles::Entity)
            .columns([roles::Column::Name, roles::Column::Description, roles::Column::CreatedAt])
            .values([name.into(), description.into(), stored(now).into()])
            .map_err(AuthError::backend)?
            .on_conflict(OnConflict::column(roles::Column::Name).do_nothing().to_owned())
            .to_owned();
        let result = self.db.execute(&insert).await.map_err(backend)?;
        Ok(result.rows_affected() > 0)
    }

    async fn delete_role(&self, name: &str) -> Result<bool, AuthError> {
        let txn = self.begin_write().await.map_err(backend)?;
        match delete_role_in(&txn, name).await {
            Ok(deleted) => {
                txn.commit().await.map_err(backend)?;
                Ok(deleted)
            }
            Err(error) => {
                if let Err(rollback) = txn.rollback().await {
                    tracing::debug!(error = %rollback, "rolling back delete_role failed");
                }
                Err(backend(error))
            }
        }
    }

    async fn find_role(&self, name: &str) -> Result<Option<Role>, AuthError> {
        Ok(self.roles_where(Some(name)).await?.into_iter().next())
    }

    async fn list_roles(&self) -> Result<Vec<Role>, AuthError> {
        self.roles_where(None).await
    }

    async fn grant_permission(&self, role: &str, permission: &str) -> Result<bool, AuthError> {
        // INSERT INTO portcullis_role_permissions (role, permission)
        // SELECT name, ? FROM portcullis_roles WHERE name = ? ON CONFLICT DO NOTHING
        let source = Query::select()
            .column(roles::Column::Name)
            .expr(Expr::val(permission))
            .from(roles::Entity)
            .and_where(Expr::col(roles::Column::Name).eq(role))
            .to_owned();
        let insert = Query::insert()
            .into_table(role_permissions::Entity)
            .columns([role_permissions::Column::Role, role_permissions::Column::Permission])
            .select_from(source)
            .map_err(AuthError::backend)?
            .on_conflict(
                OnConflict::columns([role_permissions::Column::Role, role_permissions::Column::Permission])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        self.insert_if_role(role, insert).await
    }

    async fn revoke_permission(&self, role: &str, permission: &str) -> Result<bool, AuthError> {
        let delete = Query::delete()
            .from_table(role_permissions::Entity)
            .and_where(Expr::col(role_permissions::Column::Role).eq(role))
            .and_where(Expr::col(role_permissions::Column::Permission).eq(permission))
            .to_owned();
        Ok(self.db.execute(&delete).await.map_err(backend)?.rows_affected() > 0)
    }

    async fn assign_role(&self, user: &UserId, role: &str) -> Result<bool, AuthError> {
        // INSERT INTO portcullis_user_roles (user_id, role)
        // SELECT ?, name FROM portcullis_roles WHERE name = ? ON CONFLICT DO NOTHING
        let source = Query::select()
            .expr(Expr::val(user.as_str()))
            .column(roles::Column::Name)
            .from(roles::Entity)
            .and_where(Expr::col(roles::Column::Name).eq(role))
            .to_owned();
        let insert = Query::insert()
            .into_table(user_roles::Entity)
            .columns([user_roles::Column::UserId, user_roles::Column::Role])
            .select_from(source)
            .map_err(AuthError::backend)?
            .on_conflict(
                OnConflict::columns([user_roles::Column::UserId, user_roles::Column::Role])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        self.insert_if_role(role, insert).await
    }

    async fn unassign_role(&self, user: &UserId, role: &str) -> Result<bool, AuthError> {
        let delete = Query::delete()
            .from_table(user_roles::Entity)
            .and_where(Expr::col(user_roles::Column::UserId).eq(user.as_str()))
            .and_where(Expr::col(user_roles::Column::Role).eq(role))
            .to_owned();
        Ok(self.db.execute(&delete).await.map_err(backend)?.rows_affected() > 0)
    }

    async fn roles_of(&self, user: &UserId) -> Result<Vec<String>, AuthError> {
        let select = Query::select()
            .expr_as(Expr::col(user_roles::Column::Role), "value")
            .from(user_roles::Entity)
            .and_where(Expr::col(user_roles::Column::UserId).eq(user.as_str()))
            .to_owned();
        self.names(&select).await
    }

    async fn users_with_role(&self, role: &str) -> Result<Vec<UserId>, AuthError> {
        let select = Query::select()
            .expr_as(Expr::col(user_roles::Column::UserId), "value")
            .from(user_roles::Entity)
            .and_where(Expr::col(user_roles::Column::Role).eq(role))
            .to_owned();
        Ok(self.names(&select).await?.into_iter().map(UserId::new).collect())
    }

    async fn permissions_of(&self, roles: &[String]) -> Result<Vec<String>, AuthError> {
        if roles.is_empty() {
            return Ok(Vec::new());
        }
        let select = Query::select()
            .expr_as(Expr::col(role_permissions::Column::Permission), "value")
            .from(role_permissions::Entity)
            .and_where(Expr::col(role_permissions::Column::Role).is_in(roles.iter().map(String::as_str)))
            .to_owned();
        self.names(&select).await
    }

    async fn remove_user(&self, user: &UserId) -> Result<(), AuthError> {
        let delete = Query::delete()
            .from_table(user_roles::Entity)
            .and_where(Expr::col(user_roles::Column::UserId).eq(user.as_str()))
            .to_owned();
        self.db.execute(&delete).await.map_err(backend)?;
        Ok(())
    }

    /// One query: the roles assigned to `user` and those of `own_roles` that exist, each with
    /// its permissions.
    async fn authority_of(
        &self,
        user: &UserId,
        own_roles: &[String],
    ) -> Result<(BTreeSet<String>, BTreeSet<String>), AuthError> {
        // SELECT r.name, p.permission FROM portcullis_roles r
        //   LEFT JOIN portcullis_role_permissions p ON p.role = r.name
        // WHERE r.name IN (SELECT role FROM portcullis_user_roles WHERE user_id = ?)
        //    OR r.name IN (<own roles>)
        let assigned = Query::select()
            .column(user_roles::Column::Role)
            .from(user_roles::Entity)
            .and_where(Expr::col(user_roles::Column::UserId).eq(user.as_str()))
            .to_owned();
        let name = || Expr::col((roles::Entity, roles::Column::Name));
        let mut held = name().in_subquery(assigned);
        if !own_roles.is_empty() {
            held = held.or(name().is_in(own_roles.iter().map(String::as_str)));
        }
        let select = Query::select()
            .column((roles::Entity, roles::Column::Name))
            .column((role_permissions::Entity, role_permissions::Column::Permission))
            .from(roles::Entity)
            .left_join(
                role_permissions::Entity,
                Expr::col((role_permissions::Entity, role_permissions::Column::Role))
                    .equals((roles::Entity, roles::Column::Name)),
            )
            .and_where(held)
            .to_owned();
        let mut names: BTreeSet<String> = own_roles.iter().cloned().collect();
        let mut permissions = BTreeSet::new();
        for row in self.rows::<GrantRow>(&select).await? {
            names.insert(row.name);
            permissions.extend(row.permission);
        }
        Ok((names, permissions))
    }
}
