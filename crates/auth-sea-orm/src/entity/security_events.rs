//! `portcullis_security_events`: security-relevant events of a user's history (created by
//! migration `m0002_create_grants`). No longer written: events go to `portcullis_audit_events`
//! (see [`audit_events`](super::audit_events)); the table stays for the rows written before.

use sea_orm::entity::prelude::*;

/// A row of `portcullis_security_events`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_security_events")]
pub struct Model {
    /// Insertion order.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The user concerned (indexed).
    pub user_id: String,
    /// What happened, e.g. `refresh_token_reuse`.
    pub kind: String,
    /// The grant concerned.
    pub grant_id: Option<String>,
    /// When it happened.
    pub at: DateTimeUtc,
    /// Free-form detail.
    #[sea_orm(column_type = "Text")]
    pub detail: Option<String>,
}

/// `portcullis_security_events` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
