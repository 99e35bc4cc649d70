//! `portcullis_opaque_tokens`: one row per opaque token of `auth-token`, holding the SHA-256 hash
//! of the token, never the token (created by migration `m0003_create_tokens`).

use sea_orm::entity::prelude::*;

/// A row of `portcullis_opaque_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_opaque_tokens")]
pub struct Model {
    /// The record id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// SHA-256 of the whole token, 64 lowercase hex digits; unique.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// The first characters of the token's random part, shown in listings.
    pub lookup: String,
    /// Whose token it is (indexed).
    pub user_id: String,
    /// The grant (sign-in session) the token belongs to (indexed; not a foreign key).
    pub grant_id: String,
    /// The device or client name.
    pub name: Option<String>,
    /// When the token was issued.
    pub created_at: DateTimeUtc,
    /// The absolute end of the token (indexed).
    pub expires_at: DateTimeUtc,
    /// The idle timeout in seconds, if any.
    pub idle_ttl_seconds: Option<i64>,
    /// The last use (written at most once a minute).
    pub last_used_at: DateTimeUtc,
    /// How the user authenticated (`amr`): space-separated, e.g. `pwd otp` (migration
    /// `m0006_add_amr_and_grant_kind`).
    pub amr: String,
}

/// `portcullis_opaque_tokens` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
