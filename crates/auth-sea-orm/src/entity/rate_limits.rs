//! `portcullis_rate_limits`: one row per rate-limit counter of `auth-ratelimit` (failed sign-ins
//! per account or IP, reset requests per address, ...), keyed by the limiter's key (created by
//! migration `m0008_create_rate_limits`).

use sea_orm::entity::prelude::*;

/// A row of `portcullis_rate_limits`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_rate_limits")]
pub struct Model {
    /// The counter's key, e.g. `signin:acct:<user-id>` or `signin:ip:<ip>` (no length limit).
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Hits in the current window (at least 1).
    pub count: i32,
    /// The first hit of the current window.
    pub window_start: DateTimeUtc,
    /// The latest hit (indexed: `flush_expired` deletes by it).
    pub last_hit: DateTimeUtc,
}

/// `portcullis_rate_limits` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
