//! Pending email sign-ins (`auth_email_sign_in::EmailSignInStore`): `portcullis_email_sign_ins`,
//! one row per address, the link's token as SHA-256 (unique) and the code as an HMAC.
//!
//! A migration is frozen once released: it spells out its own table and column names.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{integer, text, text_null, timestamp_with_time_zone};

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0014_create_email_sign_ins"
    }
}

#[derive(DeriveIden)]
enum PortcullisEmailSignIns {
    Table,
    Email,
    Id,
    UserId,
    TokenHash,
    CodeDigest,
    Attempts,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PortcullisEmailSignIns as Pending;
        manager
            .create_table(
                Table::create()
                    .table(Pending::Table)
                    .col(text(Pending::Email).primary_key())
                    .col(text(Pending::Id))
                    .col(text_null(Pending::UserId))
                    .col(text(Pending::TokenHash))
                    .col(text(Pending::CodeDigest))
                    .col(integer(Pending::Attempts).default(0))
                    .col(timestamp_with_time_zone(Pending::CreatedAt))
                    .col(timestamp_with_time_zone(Pending::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("portcullis_email_sign_ins_token_key")
                    .table(Pending::Table)
                    .col(Pending::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("portcullis_email_sign_ins_expires_idx")
                    .table(Pending::Table)
                    .col(Pending::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PortcullisEmailSignIns::Table).to_owned()).await
    }
}
