//! `portcullis_users`: one row per account (created by migration `m0001_create_users`).

use sea_orm::entity::prelude::*;

/// A row of `portcullis_users`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_users")]
pub struct Model {
    /// UUID v4, as text.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The username as entered.
    pub username: String,
    /// `auth_core::normalize_login(username)`, the confusable skeleton; unique. An account that
    /// collided with an older one when migration `m0010_confusable_usernames` computed it holds
    /// [`LEGACY_PREFIX`](crate::LEGACY_PREFIX) followed by `username.to_lowercase()` instead.
    #[sea_orm(unique)]
    pub username_normalized: String,
    /// The email as entered.
    pub email: Option<String>,
    /// `auth_core::normalize_email(email)` (NFKC, lowercase); unique when present. Like
    /// `username_normalized`, [`LEGACY_PREFIX`](crate::LEGACY_PREFIX) and `email.to_lowercase()`
    /// for an account that collided with an older one in migration `m0010_confusable_usernames`.
    #[sea_orm(unique)]
    pub email_normalized: Option<String>,
    /// Whether the email address was verified (added by migration `m0007_create_account_tokens`).
    pub email_verified: bool,
    /// PHC password hash; `None` for accounts without a password.
    #[sea_orm(column_type = "Text")]
    pub password_hash: Option<String>,
    /// Whether the account may sign in.
    pub is_active: bool,
    /// Staff flag.
    pub is_staff: bool,
    /// Superuser flag.
    pub is_superuser: bool,
    /// Role names, as a JSON array in text.
    #[sea_orm(column_type = "Text")]
    pub roles: String,
    /// When the account was created.
    pub date_joined: DateTimeUtc,
    /// The tenant of a multi-tenant application (added by migration `m0011_create_roles`).
    #[sea_orm(column_type = "Text", nullable)]
    pub tenant: Option<String>,
    /// Last successful sign-in.
    pub last_login: Option<DateTimeUtc>,
}

/// `portcullis_users` has no relations yet.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
