//! `portcullis_user_not_before`: per user, the instant before which every token issued to them is
//! dead (created by migration `m0002_create_grants`).

use sea_orm::entity::prelude::*;

/// A row of `portcullis_user_not_before`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_user_not_before")]
pub struct Model {
    /// The user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// Tokens issued to the user before this instant are dead.
    pub not_before: DateTimeUtc,
}

/// `portcullis_user_not_before` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
