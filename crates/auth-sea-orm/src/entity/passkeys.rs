//! `portcullis_passkeys`: one row per registered passkey (`auth_webauthn::PasskeyStore`; created
//! by migration `m0015_create_passkeys`). `credential_id` is unique across users. `credential`
//! holds the public key and its metadata (webauthn-rs's JSON), no secret.

use sea_orm::entity::prelude::*;

/// A row of `portcullis_passkeys`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_passkeys")]
pub struct Model {
    /// The passkey's id (ours, a UUID).
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub id: String,
    /// The owner (`auth_core::UserId` as text; indexed).
    #[sea_orm(column_type = "Text")]
    pub user_id: String,
    /// The name the user gave it.
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// The WebAuthn credential id, base64url (unique).
    #[sea_orm(column_type = "Text")]
    pub credential_id: String,
    /// The random user handle the authenticator keeps, base64url.
    #[sea_orm(column_type = "Text")]
    pub user_handle: String,
    /// The public key and metadata (webauthn-rs's credential, JSON).
    #[sea_orm(column_type = "Text")]
    pub credential: String,
    /// The last signature counter seen.
    pub sign_count: i64,
    /// Whether it may be synced or backed up.
    pub backup_eligible: bool,
    /// Whether it is backed up now.
    pub backup_state: bool,
    /// Whether the user was verified at registration.
    pub user_verified: bool,
    /// When it was registered.
    pub created_at: DateTimeUtc,
    /// The last sign-in with it.
    pub last_used_at: Option<DateTimeUtc>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
