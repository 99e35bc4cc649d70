//! `portcullis_linked_accounts`: one row per provider identity linked to a user
//! (`auth_oauth::LinkedAccountStore`; created by migration `m0012_create_linked_accounts`).
//! `(provider, subject)` is unique: one identity signs in to one user. `user_id` references no
//! table: applications may keep their users elsewhere.

use sea_orm::entity::prelude::*;

/// A row of `portcullis_linked_accounts`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_linked_accounts")]
pub struct Model {
    /// The link's id (a UUID).
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub id: String,
    /// The user (`auth_core::UserId` as text; indexed).
    #[sea_orm(column_type = "Text")]
    pub user_id: String,
    /// The provider's name.
    #[sea_orm(column_type = "Text")]
    pub provider: String,
    /// The provider's stable id of the user.
    #[sea_orm(column_type = "Text")]
    pub subject: String,
    /// The email the provider stated when the link was made.
    #[sea_orm(column_type = "Text", nullable)]
    pub email: Option<String>,
    /// When it was linked.
    pub linked_at: DateTimeUtc,
    /// When it last signed in.
    pub last_used_at: Option<DateTimeUtc>,
    /// The provider's tokens sealed with AES-256-GCM (bound to the link), when the deployment
    /// stores them (migration `m0013_add_linked_account_tokens`); never plaintext.
    #[sea_orm(column_type = "Text", nullable)]
    pub tokens: Option<String>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
