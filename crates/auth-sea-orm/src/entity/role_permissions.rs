//! `portcullis_role_permissions`: one row per permission a role grants (created by migration
//! `m0011_create_roles`; deleted with the role).

use sea_orm::entity::prelude::*;

/// A row of `portcullis_role_permissions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_role_permissions")]
pub struct Model {
    /// The role ([`roles`](super::roles)`.name`, `ON DELETE CASCADE`).
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub role: String,
    /// The permission, `resource:action` (`auth_core::validate_permission`).
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub permission: String,
}

/// The role a permission belongs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The role granting the permission.
    #[sea_orm(
        belongs_to = "super::roles::Entity",
        from = "Column::Role",
        to = "super::roles::Column::Name",
        on_delete = "Cascade"
    )]
    Roles,
}

impl Related<super::roles::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Roles.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
