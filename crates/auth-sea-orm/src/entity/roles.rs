//! `portcullis_roles`: one row per role of `auth_core::RoleStore` (created by migration
//! `m0011_create_roles`). Its permissions are in
//! [`role_permissions`](super::role_permissions), its assignments in
//! [`user_roles`](super::user_roles); both go with it when it is deleted.

use sea_orm::entity::prelude::*;

/// A row of `portcullis_roles`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_roles")]
pub struct Model {
    /// The name (`auth_core::validate_role_name`).
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub name: String,
    /// A free-text description.
    #[sea_orm(column_type = "Text")]
    pub description: String,
    /// When the role was created.
    pub created_at: DateTimeUtc,
}

/// The permissions and assignments of a role.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The permissions the role grants.
    #[sea_orm(has_many = "super::role_permissions::Entity")]
    RolePermissions,
    /// The users the role is assigned to.
    #[sea_orm(has_many = "super::user_roles::Entity")]
    UserRoles,
}

impl Related<super::role_permissions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RolePermissions.def()
    }
}

impl Related<super::user_roles::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserRoles.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
