//! The provider's tokens of a linked account, sealed (AES-256-GCM) by social login when the
//! deployment stores them: column `tokens` of `portcullis_linked_accounts`, NULL otherwise.
//!
//! A migration is frozen once released: it spells out its own table and column names.

use sea_orm_migration::prelude::*;

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0013_add_linked_account_tokens"
    }
}

#[derive(DeriveIden)]
enum PortcullisLinkedAccounts {
    Table,
    Tokens,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PortcullisLinkedAccounts::Table)
                    .add_column(ColumnDef::new(PortcullisLinkedAccounts::Tokens).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PortcullisLinkedAccounts::Table)
                    .drop_column(PortcullisLinkedAccounts::Tokens)
                    .to_owned(),
            )
            .await
    }
}
