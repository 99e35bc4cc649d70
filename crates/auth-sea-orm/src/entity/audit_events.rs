//! `portcullis_audit_events`: the audit log, one row per security event (`auth_core::audit`),
//! never a secret (created by migration `m0009_create_audit_events`).

use sea_orm::entity::prelude::*;

/// A row of `portcullis_audit_events`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_audit_events")]
pub struct Model {
    /// The event's UUID v7, as text.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub id: String,
    /// When it happened (indexed, and with `user_id`).
    pub at: DateTimeUtc,
    /// What happened: the snake_case name of an `auth_core::audit::AuditKind`.
    #[sea_orm(column_type = "Text")]
    pub kind: String,
    /// The user concerned, if any.
    #[sea_orm(column_type = "Text", nullable)]
    pub user_id: Option<String>,
    /// The client's IP address.
    #[sea_orm(column_type = "Text", nullable)]
    pub ip: Option<String>,
    /// The client's user agent (at most 256 characters).
    #[sea_orm(column_type = "Text", nullable)]
    pub user_agent: Option<String>,
    /// Small non-secret facts: a JSON object, as text.
    #[sea_orm(column_type = "Text")]
    pub detail: String,
}

/// `portcullis_audit_events` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
