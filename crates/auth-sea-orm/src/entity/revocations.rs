//! `portcullis_revocations`: the revocation log other processes follow by sequence number
//! (created by migration `m0002_create_grants`).

use sea_orm::entity::prelude::*;

/// `kind` of a grant revocation.
pub const KIND_GRANT: &str = "grant";
/// `kind` of a revocation of all of a user's grants and tokens.
pub const KIND_USER: &str = "user";

/// A row of `portcullis_revocations`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_revocations")]
pub struct Model {
    /// The sequence number (never reused).
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// [`KIND_GRANT`] or [`KIND_USER`].
    pub kind: String,
    /// The revoked grant ([`KIND_GRANT`]).
    pub grant_id: Option<String>,
    /// The user concerned.
    pub user_id: String,
    /// The user's new not-before ([`KIND_USER`]).
    pub not_before: Option<DateTimeUtc>,
    /// When the revocation happened.
    pub created_at: DateTimeUtc,
}

/// `portcullis_revocations` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
