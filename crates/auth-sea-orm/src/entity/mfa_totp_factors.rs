//! `portcullis_mfa_totp_factors`: one row per user's TOTP factor of `auth-mfa`, pending or active,
//! holding the secret only sealed (encrypted) (created by migration `m0005_create_mfa`).

use sea_orm::entity::prelude::*;

/// A row of `portcullis_mfa_totp_factors`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_mfa_totp_factors")]
pub struct Model {
    /// Whose factor it is (one TOTP factor per user).
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// The TOTP secret sealed with the application's MFA key; never the plain secret.
    #[sea_orm(column_type = "Blob")]
    pub sealed_secret: Vec<u8>,
    /// When enrolment started.
    pub created_at: DateTimeUtc,
    /// When the user confirmed the factor with a first code; `None` while pending.
    pub confirmed_at: Option<DateTimeUtc>,
    /// The last time step whose code was accepted (codes of it and earlier steps are refused).
    pub last_used_step: Option<i64>,
}

/// `portcullis_mfa_totp_factors` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
