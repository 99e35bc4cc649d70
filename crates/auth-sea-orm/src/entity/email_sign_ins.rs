//! `portcullis_email_sign_ins`: one row per address with a pending email sign-in
//! (`auth_email_sign_in::EmailSignInStore`; created by migration `m0014_create_email_sign_ins`).
//! Only hashes are stored: the link's token as SHA-256 (unique), the code as an HMAC under the
//! deployment's key.

use sea_orm::entity::prelude::*;

/// A row of `portcullis_email_sign_ins`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_email_sign_ins")]
pub struct Model {
    /// The normalised address (one pending sign-in per address).
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub email: String,
    /// The pending sign-in's id (a UUID).
    #[sea_orm(column_type = "Text")]
    pub id: String,
    /// The account it signs in to; NULL for a sign-up by email.
    #[sea_orm(column_type = "Text", nullable)]
    pub user_id: Option<String>,
    /// SHA-256 of the link's token (unique).
    #[sea_orm(column_type = "Text")]
    pub token_hash: String,
    /// HMAC-SHA256 of the address and the code.
    #[sea_orm(column_type = "Text")]
    pub code_digest: String,
    /// Wrong codes so far.
    pub attempts: i32,
    /// When it was requested.
    pub created_at: DateTimeUtc,
    /// When it stops working.
    pub expires_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
