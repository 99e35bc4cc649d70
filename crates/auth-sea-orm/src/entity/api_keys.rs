//! `portcullis_api_keys`: one row per API key of `auth-token`, holding the SHA-256 hash of the
//! key, never the key (created by migration `m0003_create_tokens`).

use sea_orm::entity::prelude::*;

/// A row of `portcullis_api_keys`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_api_keys")]
pub struct Model {
    /// The key id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// SHA-256 of the whole key, 64 lowercase hex digits; unique.
    #[sea_orm(unique)]
    pub key_hash: String,
    /// The first characters of the key's random part, shown in listings.
    pub lookup: String,
    /// Whose key it is (indexed).
    pub user_id: String,
    /// The key's name.
    pub name: String,
    /// The scopes, as a JSON array in text.
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    /// When the key was created.
    pub created_at: DateTimeUtc,
    /// When the key stops working, if ever.
    pub expires_at: Option<DateTimeUtc>,
    /// The last use (written at most once a minute).
    pub last_used_at: Option<DateTimeUtc>,
    /// When the key was revoked.
    pub revoked_at: Option<DateTimeUtc>,
}

/// `portcullis_api_keys` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
