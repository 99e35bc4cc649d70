//! Passkeys (`auth_webauthn::PasskeyStore`): `portcullis_passkeys` (unique on the WebAuthn
//! credential id, indexed by user) and `portcullis_passkey_challenges`, the pending ceremonies
//! (single use, expiring).
//!
//! A migration is frozen once released: it spells out its own table and column names.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0015_create_passkeys"
    }
}

#[derive(DeriveIden)]
enum PortcullisPasskeys {
    Table,
    Id,
    UserId,
    Name,
    CredentialId,
    UserHandle,
    Credential,
    SignCount,
    BackupEligible,
    BackupState,
    UserVerified,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum PortcullisPasskeyChallenges {
    Table,
    Id,
    Kind,
    UserId,
    State,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PortcullisPasskeyChallenges as Challenges;
        use PortcullisPasskeys as Keys;
        manager
            .create_table(
                Table::create()
                    .table(Keys::Table)
                    .col(text(Keys::Id).primary_key())
                    .col(text(Keys::UserId))
                    .col(text(Keys::Name))
                    .col(text(Keys::CredentialId))
                    .col(text(Keys::UserHandle))
                    .col(text(Keys::Credential))
                    .col(big_integer(Keys::SignCount).default(0))
                    .col(boolean(Keys::BackupEligible).default(false))
                    .col(boolean(Keys::BackupState).default(false))
                    .col(boolean(Keys::UserVerified).default(false))
                    .col(timestamp_with_time_zone(Keys::CreatedAt))
                    .col(timestamp_with_time_zone_null(Keys::LastUsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("portcullis_passkeys_credential_key")
                    .table(Keys::Table)
                    .col(Keys::CredentialId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("portcullis_passkeys_user_idx")
                    .table(Keys::Table)
                    .col(Keys::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Challenges::Table)
                    .col(text(Challenges::Id).primary_key())
                    .col(text(Challenges::Kind))
                    .col(text_null(Challenges::UserId))
                    .col(text(Challenges::State))
                    .col(timestamp_with_time_zone(Challenges::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("portcullis_passkey_challenges_expires_idx")
                    .table(Challenges::Table)
                    .col(Challenges::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PortcullisPasskeyChallenges::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(PortcullisPasskeys::Table).to_owned()).await
    }
}
