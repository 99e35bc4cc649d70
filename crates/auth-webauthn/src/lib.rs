//! # auth-webauthn
//!
//! Passkeys (WebAuthn) for Portcullis: registering passkeys, passwordless sign-in with
//! discoverable passkeys (also through autofill / conditional UI), and passkeys as a second
//! factor. Depend on it when you write a passkey store or an adapter; applications reach it
//! through the `portcullis` facade. It is framework-free: no HTTP type appears here, options and
//! responses are `serde_json::Value`s the adapter passes through.
//!
//! - [`Passkeys`]: the paved road. [`begin_registration`](Passkeys::begin_registration) /
//!   [`finish_registration`](Passkeys::finish_registration);
//!   [`begin_authentication`](Passkeys::begin_authentication) /
//!   [`finish_authentication`](Passkeys::finish_authentication) (passwordless);
//!   [`begin_second_factor`](Passkeys::begin_second_factor) /
//!   [`finish_second_factor`](Passkeys::finish_second_factor). A sign-in gives an
//!   [`AuthenticatedPasskey`] with the user and the `amr` to put in the credential.
//! - [`PasskeyConfig`]: relying party id and name, allowed origins, user verification,
//!   challenge lifetime, resident-key preference, validated up front.
//! - [`PasskeyStore`]: passkeys and pending ceremonies; [`MemoryPasskeyStore`] is the reference
//!   implementation.
//! - [`PasskeyError`]: what went wrong, converted to [`auth_core::AuthError`] without details.
//!
//! The cryptography, CBOR and COSE are webauthn-rs's (its engine, `webauthn-rs-core` 0.6.2, pure
//! Rust). It is used directly rather than through the `webauthn-rs` passkey API because that API
//! fixes user verification to "required" and resident keys to "discouraged"; the checks it runs
//! when finishing a ceremony are the same.
//!
//! ## Security properties
//!
//! - **Phishing**: the response must come from one of the configured origins (exact scheme,
//!   host and port) and be signed for the configured relying party id; the configuration refuses
//!   origins outside the rp id and plain-http origins other than localhost.
//! - **Challenges**: 256 random bits, stored server-side, single use (taken atomically by
//!   [`PasskeyStore::take_challenge`] before verification, whatever the outcome), expiring after
//!   [`PasskeyConfig::challenge_ttl`] (5 minutes), bound to their ceremony kind and user.
//! - **Clones**: a signature counter that does not increase while the stored one is non-zero is
//!   refused ([`PasskeyError::CounterRegression`]), also between concurrent sign-ins (the store
//!   update is conditional on the counter).
//! - **User verification**: configurable ([`UserVerification`]); a passkey that verified the
//!   user at registration must verify the user every time.
//! - **Ownership**: credential ids are unique across users; a passwordless response must carry
//!   the passkey's user handle (random, no personal data); a second-factor response must use a
//!   passkey of that user.
//! - **No oracle**: every refused response is the same [`auth_core::AuthError::InvalidCredentials`]
//!   for the client; the [`PasskeyError`] keeps the reason for logs and audit.
//!
//! Time is never read from the wall clock here: it comes from the injected
//! [`auth_core::Clock`].
//!
//! ## Features
//!
//! | feature   | default | what it adds |
//! |-----------|---------|--------------|
//! | `flows`   | no      | [`PasskeySignIn`]: passkeys in `auth-flows`' sign-in pipeline (passwordless sign-in as a first factor, registration and management) with their routes |
//! | `mfa`     | no      | passkeys as a second factor of the MFA step (`PasskeySignIn` is an `auth_flows::SecondFactorMethod`) |
//! | `jwt`, `opaque-tokens`, `sessions` | no | the sign-in flows a passkey sign-in may complete |
//! | `openapi` | no      | the routes' operations in the served OpenAPI document |
//! | `testing` | no      | `testing`: the passkey store conformance suite every store implementation runs |
//!
//! ## Example
//!
//! Register a passkey, then use it as a second factor. A software authenticator from
//! `webauthn-authenticator-rs` plays the browser.
//!
//! ```
//! use std::sync::Arc;
//!
//! use auth_core::{ManualClock, UserId};
//! use auth_webauthn::{MemoryPasskeyStore, PasskeyConfig, PasskeyError, Passkeys};
//! use url::Url;
//! use webauthn_authenticator_rs::WebauthnAuthenticator;
//! use webauthn_authenticator_rs::softpasskey::SoftPasskey;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let origin = Url::parse("https://example.com")?;
//! let config = PasskeyConfig::new("example.com", "Example").allowed_origin(origin.clone());
//! let passkeys = Passkeys::new(config, Arc::new(MemoryPasskeyStore::new()), Arc::new(ManualClock::starting_now()))?;
//! let alice = UserId::new("42");
//! let mut browser = SoftPasskey::new(true);
//!
//! // Registration: send `start.options` to the browser, get its credential back.
//! let start = passkeys.begin_registration(&alice, "alice@example.com", "Alice").await?;
//! let created = browser.do_registration(origin.clone(), serde_json::from_value(start.options)?)?;
//! let passkey = passkeys.finish_registration(&start.challenge_id, &alice, "Laptop", serde_json::to_value(created)?).await?;
//! assert_eq!(passkey.name, "Laptop");
//!
//! // A sign-in with the passkey as second factor.
//! let start = passkeys.begin_second_factor(&alice).await?;
//! let asserted = serde_json::to_value(browser.do_authentication(origin, serde_json::from_value(start.options)?)?)?;
//! let signed_in = passkeys.finish_second_factor(&start.challenge_id, &alice, asserted.clone()).await?;
//! assert_eq!(signed_in.user_id, alice);
//! assert_eq!(signed_in.amr, ["hwk"]); // a device-bound key; the user was not verified
//!
//! // The challenge was used up: a replay is refused.
//! let replay = passkeys.finish_second_factor(&start.challenge_id, &alice, asserted).await;
//! assert!(matches!(replay, Err(PasskeyError::UnknownChallenge)));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod config;
mod error;
#[cfg(feature = "flows")]
mod flow;
mod memory;
#[cfg(feature = "openapi")]
pub mod openapi;
mod service;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{PasskeyConfig, UserVerification};
pub use error::{ConfigError, PasskeyError};
#[cfg(feature = "flows")]
pub use flow::{PasskeySignIn, paths};
pub use memory::MemoryPasskeyStore;
pub use service::{AuthenticatedPasskey, CeremonyOptions, MAX_PASSKEY_NAME_CHARS, Passkeys, passkey_amr};
pub use store::{ChallengeKind, Passkey, PasskeyChallenge, PasskeyStore, PasskeyUsage, duplicate_passkey};
/// The engine's error, carried by [`PasskeyError::VerificationFailed`] and
/// [`PasskeyError::Engine`].
pub use webauthn_rs_core::error::WebauthnError;
