//! `portcullis_passkey_challenges`: pending WebAuthn ceremonies (`auth_webauthn::PasskeyStore`;
//! created by migration `m0015_create_passkeys`), single use and expiring.

use sea_orm::entity::prelude::*;

/// A row of `portcullis_passkey_challenges`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_passkey_challenges")]
pub struct Model {
    /// The challenge id (256 random bits, base64url).
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub id: String,
    /// `registration`, `passwordless` or `second_factor`.
    #[sea_orm(column_type = "Text")]
    pub kind: String,
    /// The user it is bound to, if any.
    #[sea_orm(column_type = "Text", nullable)]
    pub user_id: Option<String>,
    /// The ceremony's state (webauthn-rs's, JSON).
    #[sea_orm(column_type = "Text")]
    pub state: String,
    /// When it dies.
    pub expires_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
