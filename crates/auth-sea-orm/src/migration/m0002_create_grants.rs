//! The grant tables of `auth-blacklist`: grants, refresh-token records, the revocation log, user
//! not-befores and security events.
//!
//! A migration is frozen once released: it spells out its own table and column names instead of
//! reading them from the entities, which may change in later versions. No foreign key points at
//! `portcullis_users`: applications may keep their users in a table of their own.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_pk_auto, string, string_null, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_create_grants"
    }
}

#[derive(DeriveIden)]
enum PortcullisGrants {
    Table,
    Id,
    UserId,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    UserAgent,
    Ip,
    RevokedAt,
}

#[derive(DeriveIden)]
enum PortcullisRefreshTokens {
    Table,
    Jti,
    GrantId,
    UserId,
    IssuedAt,
    ExpiresAt,
    ConsumedAt,
    ReplacedBy,
}

#[derive(DeriveIden)]
enum PortcullisRevocations {
    Table,
    Seq,
    Kind,
    GrantId,
    UserId,
    NotBefore,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PortcullisUserNotBefore {
    Table,
    UserId,
    NotBefore,
}

#[derive(DeriveIden)]
enum PortcullisSecurityEvents {
    Table,
    Id,
    UserId,
    Kind,
    GrantId,
    At,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PortcullisGrants::Table)
                    .col(string(PortcullisGrants::Id).primary_key())
                    .col(string(PortcullisGrants::UserId))
                    .col(timestamp_with_time_zone(PortcullisGrants::CreatedAt))
                    .col(timestamp_with_time_zone(PortcullisGrants::LastUsedAt))
                    .col(timestamp_with_time_zone(PortcullisGrants::ExpiresAt))
                    .col(text_null(PortcullisGrants::UserAgent))
                    .col(string_null(PortcullisGrants::Ip))
                    .col(timestamp_with_time_zone_null(PortcullisGrants::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("portcullis_grants_user_id_idx")
                    .table(PortcullisGrants::Table)
                    .col(PortcullisGrants::UserId)
                    .to_owned(),
            )
            .await?;
        // flush_expired deletes by expiry.
        manager
            .create_index(
                Index::create()
                    .name("portcullis_grants_expires_at_idx")
                    .table(PortcullisGrants::Table)
                    .col(PortcullisGrants::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PortcullisRefreshTokens::Table)
                    .col(string(PortcullisRefreshTokens::Jti).primary_key())
                    .col(string(PortcullisRefreshTokens::GrantId))
                    .col(string(PortcullisRefreshTokens::UserId))
                    .col(timestamp_with_time_zone(PortcullisRefreshTokens::IssuedAt))
                    .col(timestamp_with_time_zone(PortcullisRefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PortcullisRefreshTokens::ConsumedAt))
                    .col(string_null(PortcullisRefreshTokens::ReplacedBy))
                    .foreign_key(
                        ForeignKey::create()
                            .name("portcullis_refresh_tokens_grant_id_fkey")
                            .from(PortcullisRefreshTokens::Table, PortcullisRefreshTokens::GrantId)
                            .to(PortcullisGrants::Table, PortcullisGrants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("portcullis_refresh_tokens_grant_id_idx")
                    .table(PortcullisRefreshTokens::Table)
                    .col(PortcullisRefreshTokens::GrantId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PortcullisRevocations::Table)
                    // bigserial on PostgreSQL; INTEGER PRIMARY KEY AUTOINCREMENT on SQLite, so that a
                    // sequence number is never handed out twice, even after deletions.
                    .col(big_pk_auto(PortcullisRevocations::Seq))
                    // "grant" or "user".
                    .col(string(PortcullisRevocations::Kind))
                    .col(string_null(PortcullisRevocations::GrantId))
                    .col(string(PortcullisRevocations::UserId))
                    .col(timestamp_with_time_zone_null(PortcullisRevocations::NotBefore))
                    .col(timestamp_with_time_zone(PortcullisRevocations::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PortcullisUserNotBefore::Table)
                    .col(string(PortcullisUserNotBefore::UserId).primary_key())
                    .col(timestamp_with_time_zone(PortcullisUserNotBefore::NotBefore))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PortcullisSecurityEvents::Table)
                    .col(big_pk_auto(PortcullisSecurityEvents::Id))
                    .col(string(PortcullisSecurityEvents::UserId))
                    .col(string(PortcullisSecurityEvents::Kind))
                    .col(string_null(PortcullisSecurityEvents::GrantId))
                    .col(timestamp_with_time_zone(PortcullisSecurityEvents::At))
                    .col(text_null(PortcullisSecurityEvents::Detail))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("portcullis_security_events_user_id_idx")
                    .table(PortcullisSecurityEvents::Table)
                    .col(PortcullisSecurityEvents::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PortcullisSecurityEvents::Table.into_iden(),
            PortcullisUserNotBefore::Table.into_iden(),
            PortcullisRevocations::Table.into_iden(),
            PortcullisRefreshTokens::Table.into_iden(),
            PortcullisGrants::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
