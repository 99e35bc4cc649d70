//! Account lifecycle: the email-verified flag of `portcullis_users` (`false` for the users that
//! existed before) and `portcullis_account_tokens`, the single-use tokens of password-reset and
//! email-verification links, stored only as their SHA-256.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string, string_null, text, timestamp_with_time_zone};

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_create_account_tokens"
    }
}

#[derive(DeriveIden)]
enum PortcullisUsers {
    Table,
    EmailVerified,
}

#[derive(DeriveIden)]
enum PortcullisAccountTokens {
    Table,
    TokenHash,
    Purpose,
    UserId,
    Email,
    Fingerprint,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PortcullisAccountTokens as Tokens;
        manager
            .alter_table(
                Table::alter()
                    .table(PortcullisUsers::Table)
                    .add_column(
                        ColumnDef::new(PortcullisUsers::EmailVerified).boolean().not_null().default(false),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Tokens::Table)
                    // SHA-256 (URL-safe base64) of the token.
                    .col(string(Tokens::TokenHash).primary_key())
                    // `password_reset` or `email_verification`.
                    .col(string(Tokens::Purpose))
                    .col(string(Tokens::UserId))
                    // The address being verified.
                    .col(string_null(Tokens::Email))
                    // The user's credential fingerprint at issue.
                    .col(text(Tokens::Fingerprint))
                    .col(timestamp_with_time_zone(Tokens::CreatedAt))
                    .col(timestamp_with_time_zone(Tokens::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        for (column, name) in [
            (Tokens::UserId, "portcullis_account_tokens_user_id_idx"),
            (Tokens::ExpiresAt, "portcullis_account_tokens_expires_at_idx"),
        ] {
            manager
                .create_index(Index::create().name(name).table(Tokens::Table).col(column).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PortcullisAccountTokens::Table).to_owned()).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PortcullisUsers::Table)
                    .drop_column(PortcullisUsers::EmailVerified)
                    .to_owned(),
            )
            .await
    }
}
