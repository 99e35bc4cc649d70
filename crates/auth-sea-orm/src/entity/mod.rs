//! sea-orm entities for the Portcullis tables, for applications that query or join them directly.
//!
//! The stores in this crate are the supported way to change these tables: they keep the
//! normalised columns in step with the displayed ones.

pub mod account_tokens;
pub mod api_keys;
pub mod audit_events;
pub mod email_sign_ins;
pub mod grants;
pub mod linked_accounts;
pub mod mfa_challenges;
pub mod mfa_recovery_codes;
pub mod mfa_totp_factors;
pub mod opaque_tokens;
pub mod passkey_challenges;
pub mod passkeys;
pub mod rate_limits;
pub mod refresh_tokens;
pub mod revocations;
pub mod role_permissions;
pub mod roles;
pub mod security_events;
pub mod sessions;
pub mod user_not_before;
pub mod user_roles;
pub mod users;
