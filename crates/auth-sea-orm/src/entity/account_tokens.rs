//! `portcullis_account_tokens`: the single-use tokens of password-reset and email-verification
//! links, keyed by the SHA-256 of the token, never the token (created by migration
//! `m0007_create_account_tokens`).

use sea_orm::entity::prelude::*;

/// A row of `portcullis_account_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_account_tokens")]
pub struct Model {
    /// SHA-256 of the token, URL-safe base64.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// `password_reset` or `email_verification`.
    pub purpose: String,
    /// Whose token it is (indexed).
    pub user_id: String,
    /// The address being verified.
    pub email: Option<String>,
    /// The user's credential fingerprint when the token was issued.
    #[sea_orm(column_type = "Text")]
    pub fingerprint: String,
    /// When it was issued.
    pub created_at: DateTimeUtc,
    /// When it stops working (indexed).
    pub expires_at: DateTimeUtc,
}

/// `portcullis_account_tokens` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
