//! `portcullis_refresh_tokens`: one row per refresh token issued (its id only, never the token),
//! deleted with its grant (created by migration `m0002_create_grants`).

use sea_orm::entity::prelude::*;

/// A row of `portcullis_refresh_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_refresh_tokens")]
pub struct Model {
    /// The token id (`jti`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: String,
    /// The token's grant (`ON DELETE CASCADE`, indexed).
    pub grant_id: String,
    /// The grant's user.
    pub user_id: String,
    /// When the token was issued.
    pub issued_at: DateTimeUtc,
    /// When the token stops working on its own.
    pub expires_at: DateTimeUtc,
    /// When the token was rotated; `None` while it is the grant's live token.
    pub consumed_at: Option<DateTimeUtc>,
    /// The successor's `jti`, once rotated.
    pub replaced_by: Option<String>,
}

/// A refresh token belongs to a grant.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The token's grant.
    #[sea_orm(
        belongs_to = "super::grants::Entity",
        from = "Column::GrantId",
        to = "super::grants::Column::Id",
        on_delete = "Cascade"
    )]
    Grant,
}

impl Related<super::grants::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Grant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
