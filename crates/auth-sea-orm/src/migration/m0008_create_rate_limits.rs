//! The table of `auth-ratelimit`: one counter per key, with its fixed window.
//!
//! A migration is frozen once released: it spells out its own table and column names instead of
//! reading them from the entities, which may change in later versions.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{integer, string, timestamp_with_time_zone};

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_create_rate_limits"
    }
}

#[derive(DeriveIden)]
enum PortcullisRateLimits {
    Table,
    Key,
    Count,
    WindowStart,
    LastHit,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PortcullisRateLimits as Limits;

        manager
            .create_table(
                Table::create()
                    .table(Limits::Table)
                    // The limiter's key (`signin:ip:<ip>`, ...): varchar without a length limit.
                    .col(string(Limits::Key).primary_key())
                    .col(integer(Limits::Count))
                    .col(timestamp_with_time_zone(Limits::WindowStart))
                    .col(timestamp_with_time_zone(Limits::LastHit))
                    .to_owned(),
            )
            .await?;
        // flush_expired deletes by the last hit.
        manager
            .create_index(
                Index::create()
                    .name("portcullis_rate_limits_last_hit_idx")
                    .table(Limits::Table)
                    .col(Limits::LastHit)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PortcullisRateLimits::Table).to_owned()).await
    }
}
