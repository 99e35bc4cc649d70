//! `portcullis_grants`: one row per grant, i.e. per sign-in and its refresh-token family
//! (created by migration `m0002_create_grants`).

use sea_orm::entity::prelude::*;

/// A row of `portcullis_grants`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_grants")]
pub struct Model {
    /// The grant id (the `sid` claim of its tokens).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Whose grant it is (indexed).
    pub user_id: String,
    /// When the user signed in.
    pub created_at: DateTimeUtc,
    /// The last successful rotation.
    pub last_used_at: DateTimeUtc,
    /// The absolute end of the grant.
    pub expires_at: DateTimeUtc,
    /// The `User-Agent` of the sign-in request.
    #[sea_orm(column_type = "Text")]
    pub user_agent: Option<String>,
    /// The client address of the sign-in request.
    pub ip: Option<String>,
    /// When the grant was revoked.
    pub revoked_at: Option<DateTimeUtc>,
    /// What the grant backs: `jwt`, `token` or `session` (migration `m0006_add_amr_and_grant_kind`).
    pub kind: String,
}

/// A grant has many refresh tokens.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The grant's refresh-token records.
    #[sea_orm(has_many = "super::refresh_tokens::Entity")]
    RefreshTokens,
}

impl Related<super::refresh_tokens::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RefreshTokens.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
