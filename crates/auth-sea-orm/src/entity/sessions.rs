//! `portcullis_sessions`: one row per cookie session of `auth-session`, holding the SHA-256 hash
//! of the session id, never the id (created by migration `m0004_create_sessions`).

use sea_orm::entity::prelude::*;

/// A row of `portcullis_sessions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_sessions")]
pub struct Model {
    /// The internal row id (not the cookie value).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// SHA-256 of the cookie value, 64 lowercase hex digits; unique. Changes on rotation.
    #[sea_orm(unique)]
    pub session_hash: String,
    /// Whose session it is (indexed).
    pub user_id: String,
    /// The grant (sign-in session) the session belongs to (indexed; not a foreign key).
    pub grant_id: String,
    /// When the session was created.
    pub created_at: DateTimeUtc,
    /// The last use (written at most once a minute).
    pub last_seen_at: DateTimeUtc,
    /// The absolute end of the session (indexed).
    pub expires_at: DateTimeUtc,
    /// The idle timeout in seconds.
    pub idle_ttl_seconds: i64,
    /// The application data: a JSON object, as text.
    pub data: String,
    /// How the user authenticated (`amr`): space-separated, e.g. `pwd otp` (migration
    /// `m0006_add_amr_and_grant_kind`).
    pub amr: String,
}

/// `portcullis_sessions` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
