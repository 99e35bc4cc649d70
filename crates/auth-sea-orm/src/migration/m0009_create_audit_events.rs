//! The audit log of `auth_core::audit`: one row per security event, with its time, kind, user,
//! client IP address and user agent, and a JSON object of non-secret facts.
//!
//! A migration is frozen once released: it spells out its own table and column names instead of
//! reading them from the entity, which may change in later versions. No foreign key points at
//! `portcullis_users`: events outlive deleted users, and applications may keep their users
//! elsewhere.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{text, text_null, timestamp_with_time_zone};

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0009_create_audit_events"
    }
}

#[derive(DeriveIden)]
enum PortcullisAuditEvents {
    Table,
    Id,
    At,
    Kind,
    UserId,
    Ip,
    UserAgent,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PortcullisAuditEvents as Events;

        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    // A UUID v7 as text.
                    .col(text(Events::Id).primary_key())
                    .col(timestamp_with_time_zone(Events::At))
                    // The snake_case name of the AuditKind.
                    .col(text(Events::Kind))
                    .col(text_null(Events::UserId))
                    .col(text_null(Events::Ip))
                    .col(text_null(Events::UserAgent))
                    // A JSON object, as text.
                    .col(text(Events::Detail))
                    .to_owned(),
            )
            .await?;
        // A user's history, newest first.
        manager
            .create_index(
                Index::create()
                    .name("portcullis_audit_events_user_id_at_idx")
                    .table(Events::Table)
                    .col(Events::UserId)
                    .col(Events::At)
                    .to_owned(),
            )
            .await?;
        // The whole log by time, and retention (delete_before).
        manager
            .create_index(
                Index::create()
                    .name("portcullis_audit_events_at_idx")
                    .table(Events::Table)
                    .col(Events::At)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PortcullisAuditEvents::Table).to_owned()).await
    }
}
