//! Linked accounts of social login (`auth_oauth::LinkedAccountStore`):
//! `portcullis_linked_accounts`, unique on `(provider, subject)`, indexed by user.
//!
//! A migration is frozen once released: it spells out its own table and column names.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null};

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0012_create_linked_accounts"
    }
}

#[derive(DeriveIden)]
enum PortcullisLinkedAccounts {
    Table,
    Id,
    UserId,
    Provider,
    Subject,
    Email,
    LinkedAt,
    LastUsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PortcullisLinkedAccounts as Linked;
        manager
            .create_table(
                Table::create()
                    .table(Linked::Table)
                    .col(text(Linked::Id).primary_key())
                    .col(text(Linked::UserId))
                    .col(text(Linked::Provider))
                    .col(text(Linked::Subject))
                    .col(text_null(Linked::Email))
                    .col(timestamp_with_time_zone(Linked::LinkedAt))
                    .col(timestamp_with_time_zone_null(Linked::LastUsedAt))
                    .to_owned(),
            )
            .await?;
        // One provider identity signs in to one user.
        manager
            .create_index(
                Index::create()
                    .name("portcullis_linked_accounts_identity_key")
                    .table(Linked::Table)
                    .col(Linked::Provider)
                    .col(Linked::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("portcullis_linked_accounts_user_idx")
                    .table(Linked::Table)
                    .col(Linked::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PortcullisLinkedAccounts::Table).to_owned()).await
    }
}
