//! Roles and permissions (`auth_core::RoleStore`): `portcullis_roles`, the permissions each role
//! grants (`portcullis_role_permissions`) and the users' role assignments
//! (`portcullis_user_roles`); and the nullable `tenant` column of `portcullis_users`.
//!
//! A migration is frozen once released: it spells out its own table and column names instead of
//! reading them from the entities, which may change in later versions. Both dependent tables
//! reference the role with `ON DELETE CASCADE`, so deleting a role takes its permissions and
//! assignments with it. No foreign key points at `portcullis_users` (applications may keep their
//! users elsewhere): `user_id` is a plain column, and the role store removes a user's assignments
//! itself.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{text, text_null, timestamp_with_time_zone};

pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0011_create_roles"
    }
}

#[derive(DeriveIden)]
enum PortcullisUsers {
    Table,
    Tenant,
}

#[derive(DeriveIden)]
enum PortcullisRoles {
    Table,
    Name,
    Description,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PortcullisRolePermissions {
    Table,
    Role,
    Permission,
}

#[derive(DeriveIden)]
enum PortcullisUserRoles {
    Table,
    UserId,
    Role,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PortcullisRolePermissions as Permissions;
        use PortcullisRoles as Roles;
        use PortcullisUserRoles as UserRoles;

        manager
            .alter_table(
                Table::alter()
                    .table(PortcullisUsers::Table)
                    .add_column(text_null(PortcullisUsers::Tenant))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Roles::Table)
                    // `auth_core::validate_role_name`: a-z, 0-9, '_', '-', '.', at most 64.
                    .col(text(Roles::Name).primary_key())
                    .col(text(Roles::Description))
                    .col(timestamp_with_time_zone(Roles::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Permissions::Table)
                    .col(text(Permissions::Role))
                    // `resource:action` (`auth_core::validate_permission`).
                    .col(text(Permissions::Permission))
                    .primary_key(Index::create().col(Permissions::Role).col(Permissions::Permission))
                    .foreign_key(
                        ForeignKey::create()
                            .name("portcullis_role_permissions_role_fkey")
                            .from(Permissions::Table, Permissions::Role)
                            .to(Roles::Table, Roles::Name)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserRoles::Table)
                    .col(text(UserRoles::UserId))
                    .col(text(UserRoles::Role))
                    .primary_key(Index::create().col(UserRoles::UserId).col(UserRoles::Role))
                    .foreign_key(
                        ForeignKey::create()
                            .name("portcullis_user_roles_role_fkey")
                            .from(UserRoles::Table, UserRoles::Role)
                            .to(Roles::Table, Roles::Name)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The holders of a role (users_with_role), and the cascade of a role's deletion.
        manager
            .create_index(
                Index::create()
                    .name("portcullis_user_roles_role_idx")
                    .table(UserRoles::Table)
                    .col(UserRoles::Role)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PortcullisUserRoles::Table.into_iden(),
            PortcullisRolePermissions::Table.into_iden(),
            PortcullisRoles::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter().table(PortcullisUsers::Table).drop_column(PortcullisUsers::Tenant).to_owned(),
            )
            .await
    }
}
