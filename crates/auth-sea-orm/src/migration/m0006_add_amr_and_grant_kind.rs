//! How the user authenticated (`amr`, RFC 8176) on opaque tokens and cookie sessions, so a route
//! can require MFA whichever credential reaches it: a space-separated list, `pwd` for every row
//! that existed before (they all came from a password sign-in). And what kind of credential a
//! grant backs (`jwt`, `token`, `session`), for the sessions list: `jwt` for the grants that
//! existed before (older opaque tokens and sessions show as `jwt` until they expire).

use sea_orm_migration::prelude::*;

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_add_amr_and_grant_kind"
    }
}

#[derive(DeriveIden)]
enum PortcullisOpaqueTokens {
    Table,
    Amr,
}

#[derive(DeriveIden)]
enum PortcullisGrants {
    Table,
    Kind,
}

#[derive(DeriveIden)]
enum PortcullisSessions {
    Table,
    Amr,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE: two statements.
        manager
            .alter_table(
                Table::alter()
                    .table(PortcullisOpaqueTokens::Table)
                    .add_column(
                        ColumnDef::new(PortcullisOpaqueTokens::Amr).string().not_null().default("pwd"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PortcullisSessions::Table)
                    .add_column(ColumnDef::new(PortcullisSessions::Amr).string().not_null().default("pwd"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PortcullisGrants::Table)
                    .add_column(ColumnDef::new(PortcullisGrants::Kind).string().not_null().default("jwt"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(PortcullisGrants::Table).drop_column(PortcullisGrants::Kind).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PortcullisSessions::Table)
                    .drop_column(PortcullisSessions::Amr)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PortcullisOpaqueTokens::Table)
                    .drop_column(PortcullisOpaqueTokens::Amr)
                    .to_owned(),
            )
            .await
    }
}
