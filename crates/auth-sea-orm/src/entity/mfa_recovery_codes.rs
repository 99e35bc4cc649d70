//! `portcullis_mfa_recovery_codes`: one row per single-use recovery code of `auth-mfa`, holding
//! the code's hash, never the code (created by migration `m0005_create_mfa`).

use sea_orm::entity::prelude::*;

/// A row of `portcullis_mfa_recovery_codes`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_mfa_recovery_codes")]
pub struct Model {
    /// The row id (auto-incremented).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Whose code it is (indexed, with `code_hash`, by a unique index).
    pub user_id: String,
    /// The hash of the code as `auth-mfa` computes it; unique per user.
    pub code_hash: String,
    /// When the code was issued.
    pub created_at: DateTimeUtc,
    /// When the code was used; `None` while it is still usable.
    pub used_at: Option<DateTimeUtc>,
}

/// `portcullis_mfa_recovery_codes` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
