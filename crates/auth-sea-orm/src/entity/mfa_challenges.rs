//! `portcullis_mfa_challenges`: one row per pending MFA step of a sign-in (`auth-mfa`), keyed by
//! the SHA-256 hash of the `mfa_token`, never the token (created by migration `m0005_create_mfa`).

use sea_orm::entity::prelude::*;

/// A row of `portcullis_mfa_challenges`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_mfa_challenges")]
pub struct Model {
    /// SHA-256 of the `mfa_token`, 64 lowercase hex digits.
    #[sea_orm(primary_key, auto_increment = false)]
    pub hash: String,
    /// The user who gave the right password (indexed).
    pub user_id: String,
    /// The sign-in flow to complete (`"mobile"`, `"web"`, ...).
    pub flow: String,
    /// What the flow needs to complete: a JSON value, as text.
    #[sea_orm(column_type = "Text")]
    pub context: String,
    /// When the password was checked.
    pub created_at: DateTimeUtc,
    /// After this instant the challenge is dead (indexed).
    pub expires_at: DateTimeUtc,
    /// Verification attempts made so far.
    pub attempts: i32,
}

/// `portcullis_mfa_challenges` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
