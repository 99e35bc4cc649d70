//! The tables of `auth-token`: opaque tokens and API keys, each stored as the SHA-256 hash of the
//! secret (never the secret itself).
//!
//! A migration is frozen once released: it spells out its own table and column names instead of
//! reading them from the entities, which may change in later versions. No foreign key points at
//! `portcullis_users` (applications may keep their users elsewhere), nor at `portcullis_grants`:
//! an opaque token's `grant_id` is a plain indexed column, and the token store deletes a grant's
//! tokens itself.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer_null, string, string_null, text, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_create_tokens"
    }
}

#[derive(DeriveIden)]
enum PortcullisOpaqueTokens {
    Table,
    Id,
    TokenHash,
    Lookup,
    UserId,
    GrantId,
    Name,
    CreatedAt,
    ExpiresAt,
    IdleTtlSeconds,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum PortcullisApiKeys {
    Table,
    Id,
    KeyHash,
    Lookup,
    UserId,
    Name,
    Scopes,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}

/// A (unique) index on one column of `table`.
fn index(table: impl IntoIden, column: impl IntoIden, name: &str, unique: bool) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table).col(column);
    if unique {
        index.unique();
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PortcullisApiKeys as Keys;
        use PortcullisOpaqueTokens as Tokens;

        manager
            .create_table(
                Table::create()
                    .table(Tokens::Table)
                    .col(string(Tokens::Id).primary_key())
                    // 64 lowercase hex digits: SHA-256 of the whole token.
                    .col(string(Tokens::TokenHash))
                    .col(string(Tokens::Lookup))
                    .col(string(Tokens::UserId))
                    .col(string(Tokens::GrantId))
                    .col(string_null(Tokens::Name))
                    .col(timestamp_with_time_zone(Tokens::CreatedAt))
                    .col(timestamp_with_time_zone(Tokens::ExpiresAt))
                    .col(big_integer_null(Tokens::IdleTtlSeconds))
                    .col(timestamp_with_time_zone(Tokens::LastUsedAt))
                    .to_owned(),
            )
            .await?;
        // The unique index names mention their column: the store tells a duplicate hash from a
        // duplicate id by the name in the database's unique-violation message.
        for (column, name, unique) in [
            (Tokens::TokenHash, "portcullis_opaque_tokens_token_hash_key", true),
            (Tokens::UserId, "portcullis_opaque_tokens_user_id_idx", false),
            (Tokens::GrantId, "portcullis_opaque_tokens_grant_id_idx", false),
            // flush_expired deletes by expiry.
            (Tokens::ExpiresAt, "portcullis_opaque_tokens_expires_at_idx", false),
        ] {
            manager.create_index(index(Tokens::Table, column, name, unique)).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Keys::Table)
                    .col(string(Keys::Id).primary_key())
                    // 64 lowercase hex digits: SHA-256 of the whole key.
                    .col(string(Keys::KeyHash))
                    .col(string(Keys::Lookup))
                    .col(string(Keys::UserId))
                    .col(string(Keys::Name))
                    // A JSON array of scope names, as text.
                    .col(text(Keys::Scopes))
                    .col(timestamp_with_time_zone(Keys::CreatedAt))
                    .col(timestamp_with_time_zone_null(Keys::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Keys::LastUsedAt))
                    .col(timestamp_with_time_zone_null(Keys::RevokedAt))
                    .to_owned(),
            )
            .await?;
        for (column, name, unique) in [
            (Keys::KeyHash, "portcullis_api_keys_key_hash_key", true),
            (Keys::UserId, "portcullis_api_keys_user_id_idx", false),
        ] {
            manager.create_index(index(Keys::Table, column, name, unique)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [PortcullisApiKeys::Table.into_iden(), PortcullisOpaqueTokens::Table.into_iden()] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
