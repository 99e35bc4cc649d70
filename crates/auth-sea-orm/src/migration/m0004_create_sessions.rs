//! The table of `auth-session`: cookie sessions, each stored under the SHA-256 hash of its id
//! (never the id itself).
//!
//! A migration is frozen once released: it spells out its own table and column names instead of
//! reading them from the entities. No foreign key points at `portcullis_users` or
//! `portcullis_grants`: `user_id` and `grant_id` are plain indexed columns, and the session store
//! deletes a grant's or a user's sessions itself.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string, text, timestamp_with_time_zone};

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_create_sessions"
    }
}

#[derive(DeriveIden)]
enum PortcullisSessions {
    Table,
    Id,
    SessionHash,
    UserId,
    GrantId,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    IdleTtlSeconds,
    Data,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PortcullisSessions as Sessions;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(string(Sessions::Id).primary_key())
                    // 64 lowercase hex digits: SHA-256 of the cookie value.
                    .col(string(Sessions::SessionHash))
                    .col(string(Sessions::UserId))
                    .col(string(Sessions::GrantId))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::LastSeenAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(big_integer(Sessions::IdleTtlSeconds))
                    // The application data: a JSON object, as text.
                    .col(text(Sessions::Data))
                    .to_owned(),
            )
            .await?;
        // The unique index name mentions its column: the store tells a duplicate hash from a
        // duplicate id by the name in the database's unique-violation message.
        for (column, name, unique) in [
            (Sessions::SessionHash, "portcullis_sessions_session_hash_key", true),
            (Sessions::UserId, "portcullis_sessions_user_id_idx", false),
            (Sessions::GrantId, "portcullis_sessions_grant_id_idx", false),
            // flush_expired deletes by expiry.
            (Sessions::ExpiresAt, "portcullis_sessions_expires_at_idx", false),
        ] {
            let mut index = Index::create();
            index.name(name).table(Sessions::Table).col(column);
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PortcullisSessions::Table).to_owned()).await
    }
}
