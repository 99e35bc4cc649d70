//! `portcullis_user_roles`: one row per role assigned to a user (created by migration
//! `m0011_create_roles`; deleted with the role). `user_id` references no table: applications may
//! keep their users elsewhere.

use sea_orm::entity::prelude::*;

/// A row of `portcullis_user_roles`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_user_roles")]
pub struct Model {
    /// The user (`auth_core::UserId` as text).
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub user_id: String,
    /// The role ([`roles`](super::roles)`.name`, `ON DELETE CASCADE`; indexed).
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub role: String,
}

/// The role assigned.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The role assigned to the user.
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
