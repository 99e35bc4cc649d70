//! # auth-mfa
//!
//! Multi-factor authentication for Portcullis: TOTP authenticator apps with recovery codes, and
//! the sign-in challenge between "the password was right" and "the second factor was right".
//! Depend on it when you write an MFA store or an adapter; applications reach it through the
//! `portcullis` facade. It is framework-free: no HTTP type appears here.
//!
//! - [`MfaService`]: the paved road. Enrolment ([`begin_totp_setup`](MfaService::begin_totp_setup)
//!   gives the secret, the `otpauth://` URI and a QR code; [`confirm_totp`](MfaService::confirm_totp)
//!   activates the factor with a first code and returns the recovery codes), verification
//!   ([`verify`](MfaService::verify)), recovery-code regeneration, disabling, and sign-in
//!   challenges ([`create_challenge`](MfaService::create_challenge) returns an `mfa_token`,
//!   [`attempt_challenge`](MfaService::attempt_challenge) completes it). [`FactorUsed::amr`] is the
//!   `amr` value to put in the credential.
//! - [`Totp`]: RFC 6238 TOTP over RFC 4226 HOTP (SHA-1/256/512, 6 to 10 digits), the otpauth URI
//!   and [`qr_svg`].
//! - [`MfaKey`]: the server key that seals TOTP secrets and keys recovery-code hashes.
//! - [`generate_recovery_codes`] and [`normalize_recovery_code`]: `xxxx-xxxx-xxxx` codes.
//! - [`MfaStore`]: factors, recovery codes and challenges; [`MemoryMfaStore`] is the reference
//!   implementation, `auth-sea-orm` (feature `mfa`) has the SQLite/PostgreSQL one.
//!
//! ## Security properties
//!
//! - **Secrets**: 160 bits from a CSPRNG ([`Totp::SECRET_BYTES`]), as RFC 4226 recommends.
//! - **Clock skew**: a code is accepted for the current 30-second step and one step either side
//!   ([`MfaConfig::skew_steps`]), compared in constant time.
//! - **No replay**: the store records the last step whose code was accepted
//!   ([`MfaStore::use_totp_step`], one conditional write); that code and every earlier one are
//!   refused afterwards, also the code that confirmed enrolment.
//! - **Sealed secrets**: the database holds TOTP secrets only encrypted with AES-256-GCM under
//!   the [`MfaKey`] (kept outside the database), bound to their user as additional data so that
//!   a sealed secret copied to another user's row does not open.
//! - **Recovery codes**: 60 bits each ([`RECOVERY_CODE_BITS`]), single use, stored only as a
//!   keyed hash (HMAC-SHA256 with a subkey of the [`MfaKey`], bound to the user): a leaked
//!   database alone does not allow brute-forcing them.
//! - **Challenges**: the `mfa_token` is 256 random bits, stored only as its SHA-256; it expires
//!   ([`MfaConfig::challenge_ttl`], 5 minutes), allows [`MfaConfig::max_attempts`] attempts (5,
//!   each counted before the code is checked, atomically), and is single use.
//!
//! Time is never read here: every method that decides by time takes `now` (read it from the
//! injected [`auth_core::Clock`]).
//!
//! ## Features
//!
//! | feature   | default | what it adds |
//! |-----------|---------|--------------|
//! | `testing` | no      | `testing`: the MFA store conformance suites every store implementation runs |
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use auth_core::{AuthError, UserId};
//! use auth_mfa::{FactorUsed, MemoryMfaStore, MfaConfig, MfaKey, MfaService, MfaStore, SecondFactor, Totp};
//! use chrono::{DateTime, Duration};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), AuthError> {
//! let store = Arc::new(MemoryMfaStore::new());
//! // In production: MfaKey::load_or_generate(Path::new("/var/lib/app/mfa.key")).
//! let service = MfaService::new(store.clone(), MfaKey::generate(), MfaConfig::default());
//! let alice = UserId::new("42");
//! let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
//!
//! // Enrolment: show the QR code (or the base32 secret) once.
//! let setup = service.begin_totp_setup(&alice, "alice@example.com", now).await?;
//! assert!(setup.otpauth_uri.starts_with("otpauth://totp/Portcullis:alice%40example.com?secret="));
//! assert!(setup.qr_svg.contains("<svg"));
//!
//! // The authenticator app (here: the same secret, as only the server could unseal it).
//! let sealed = store.totp_factor(&alice).await?.unwrap().sealed_secret;
//! let app = Totp::new(service.key().open(&sealed, alice.as_str().as_bytes())?);
//! assert_eq!(app.secret_base32(), setup.secret);
//!
//! // Confirmation with a first code: MFA is on, the recovery codes are shown once.
//! let recovery_codes = service.confirm_totp(&alice, &app.code_at(now.timestamp()), now).await?;
//! assert_eq!(recovery_codes.len(), 10);
//! assert!(service.is_enabled(&alice).await?);
//!
//! // A later sign-in: the next code works once, a replay does not.
//! let later = now + Duration::seconds(30);
//! let code = SecondFactor::Totp(app.code_at(later.timestamp()));
//! assert_eq!(service.verify(&alice, &code, later).await?, Some(FactorUsed::Totp));
//! assert_eq!(service.verify(&alice, &code, later).await?, None, "replayed");
//!
//! // A lost phone: a recovery code works once.
//! let recovery = SecondFactor::RecoveryCode(recovery_codes[0].to_uppercase());
//! assert_eq!(service.verify(&alice, &recovery, later).await?, Some(FactorUsed::RecoveryCode));
//! assert_eq!(service.status(&alice).await?.recovery_codes_remaining, 9);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod error;
mod key;
mod memory;
mod recovery;
mod service;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod totp;

pub use error::MfaError;
pub use key::{MfaKey, challenge_hash};
pub use memory::MemoryMfaStore;
pub use recovery::{RECOVERY_CODE_BITS, generate_recovery_codes, normalize_recovery_code};
pub use service::{
    ChallengeAttempt, CompletedChallenge, FactorUsed, MFA_TOKEN_PREFIX, MfaConfig, MfaService, MfaStatus,
    SecondFactor, TotpSetup,
};
pub use store::{MfaChallenge, MfaStore, TotpFactor};
pub use totp::{Totp, TotpAlgorithm, qr_svg};
