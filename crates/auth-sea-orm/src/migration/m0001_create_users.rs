//! `portcullis_users`: the accounts behind `auth_core::User`.
//!
//! A migration is frozen once released: it spells out its own table and column names instead of
//! reading them from the entity, which may change in later versions.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, string, string_null, text, text_null};

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_create_users"
    }
}

#[derive(DeriveIden)]
enum PortcullisUsers {
    Table,
    Id,
    Username,
    UsernameNormalized,
    Email,
    EmailNormalized,
    PasswordHash,
    IsActive,
    IsStaff,
    IsSuperuser,
    Roles,
    DateJoined,
    LastLogin,
}

/// Unique index names mention their column: the store tells a taken username from a taken email
/// by the name in the database's unique-violation message.
const USERNAME_INDEX: &str = "portcullis_users_username_normalized_key";
const EMAIL_INDEX: &str = "portcullis_users_email_normalized_key";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PortcullisUsers::Table)
                    // A UUID v4 in its 36-character text form, identical on every backend.
                    .col(string(PortcullisUsers::Id).primary_key())
                    .col(string(PortcullisUsers::Username))
                    .col(string(PortcullisUsers::UsernameNormalized))
                    .col(string_null(PortcullisUsers::Email))
                    .col(string_null(PortcullisUsers::EmailNormalized))
                    .col(text_null(PortcullisUsers::PasswordHash))
                    .col(boolean(PortcullisUsers::IsActive))
                    .col(boolean(PortcullisUsers::IsStaff))
                    .col(boolean(PortcullisUsers::IsSuperuser))
                    // A JSON array of role names, as text.
                    .col(text(PortcullisUsers::Roles))
                    .col(ColumnDef::new(PortcullisUsers::DateJoined).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(PortcullisUsers::LastLogin).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(USERNAME_INDEX)
                    .table(PortcullisUsers::Table)
                    .col(PortcullisUsers::UsernameNormalized)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Unique, so it also serves sign-in by email. NULLs never collide (SQLite and PostgreSQL).
        manager
            .create_index(
                Index::create()
                    .name(EMAIL_INDEX)
                    .table(PortcullisUsers::Table)
                    .col(PortcullisUsers::EmailNormalized)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PortcullisUsers::Table).to_owned()).await
    }
}
