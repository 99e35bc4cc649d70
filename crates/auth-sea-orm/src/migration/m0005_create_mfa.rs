//! The tables of `auth-mfa`: TOTP factors (the secret only sealed), recovery codes (only their
//! hashes) and pending MFA challenges (keyed by the hash of the `mfa_token`).
//!
//! A migration is frozen once released: it spells out its own table and column names instead of
//! reading them from the entities, which may change in later versions. No foreign key points at
//! `portcullis_users` (applications may keep their users elsewhere): `user_id` is a plain column,
//! and the MFA store deletes a user's rows itself.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer_null, big_pk_auto, blob, integer, string, text, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_create_mfa"
    }
}

#[derive(DeriveIden)]
enum PortcullisMfaTotpFactors {
    Table,
    UserId,
    SealedSecret,
    CreatedAt,
    ConfirmedAt,
    LastUsedStep,
}

#[derive(DeriveIden)]
enum PortcullisMfaRecoveryCodes {
    Table,
    Id,
    UserId,
    CodeHash,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum PortcullisMfaChallenges {
    Table,
    Hash,
    UserId,
    Flow,
    Context,
    CreatedAt,
    ExpiresAt,
    Attempts,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PortcullisMfaChallenges as Challenges;
        use PortcullisMfaRecoveryCodes as Codes;
        use PortcullisMfaTotpFactors as Totp;

        manager
            .create_table(
                Table::create()
                    .table(Totp::Table)
                    // One TOTP factor per user.
                    .col(string(Totp::UserId).primary_key())
                    // The secret encrypted with the application's MFA key (bytea / blob).
                    .col(blob(Totp::SealedSecret))
                    .col(timestamp_with_time_zone(Totp::CreatedAt))
                    // NULL while the factor is pending.
                    .col(timestamp_with_time_zone_null(Totp::ConfirmedAt))
                    .col(big_integer_null(Totp::LastUsedStep))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Codes::Table)
                    .col(big_pk_auto(Codes::Id))
                    .col(string(Codes::UserId))
                    // SHA-256 (hex) of the normalised code.
                    .col(string(Codes::CodeHash))
                    .col(timestamp_with_time_zone(Codes::CreatedAt))
                    .col(timestamp_with_time_zone_null(Codes::UsedAt))
                    .to_owned(),
            )
            .await?;
        // Also the index of the user's codes: it leads with user_id.
        manager
            .create_index(
                Index::create()
                    .name("portcullis_mfa_recovery_codes_user_id_code_hash_key")
                    .table(Codes::Table)
                    .col(Codes::UserId)
                    .col(Codes::CodeHash)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Challenges::Table)
                    // SHA-256 (hex) of the mfa_token.
                    .col(string(Challenges::Hash).primary_key())
                    .col(string(Challenges::UserId))
                    .col(string(Challenges::Flow))
                    // The flow's context: a JSON value, as text.
                    .col(text(Challenges::Context))
                    .col(timestamp_with_time_zone(Challenges::CreatedAt))
                    .col(timestamp_with_time_zone(Challenges::ExpiresAt))
                    .col(integer(Challenges::Attempts))
                    .to_owned(),
            )
            .await?;
        for (column, name) in [
            (Challenges::UserId, "portcullis_mfa_challenges_user_id_idx"),
            // flush_expired deletes by expiry.
            (Challenges::ExpiresAt, "portcullis_mfa_challenges_expires_at_idx"),
        ] {
            manager
                .create_index(Index::create().name(name).table(Challenges::Table).col(column).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PortcullisMfaChallenges::Table.into_iden(),
            PortcullisMfaRecoveryCodes::Table.into_iden(),
            PortcullisMfaTotpFactors::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
