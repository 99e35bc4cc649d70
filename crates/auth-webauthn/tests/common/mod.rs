//! A relying party on a manual clock, and a "browser": a software authenticator
//! (`webauthn-authenticator-rs`'s `SoftPasskey`) driven through the client-side WebAuthn checks.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_core::{Clock, ManualClock, UserId};
use auth_webauthn::{MemoryPasskeyStore, Passkey, PasskeyConfig, PasskeyStore, Passkeys, UserVerification};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::Value;
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::error::WebauthnCError;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_core::proto::{
    AllowCredentials, CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse,
};

pub const RP_ID: &str = "example.com";
pub const ORIGIN: &str = "https://login.example.com";

/// The service under test, its store and its clock.
pub struct Rig {
    pub passkeys: Passkeys,
    pub store: Arc<MemoryPasskeyStore>,
    pub clock: ManualClock,
}

pub fn rig(user_verification: UserVerification) -> Rig {
    let config = PasskeyConfig::new(RP_ID, "Example")
        .allowed_origin(Url::parse(ORIGIN).unwrap())
        .allowed_origin(Url::parse("https://example.com").unwrap())
        .user_verification(user_verification);
    let store = Arc::new(MemoryPasskeyStore::new());
    let clock = ManualClock::starting_at_unix(1_900_000_000);
    let passkeys = Passkeys::new(config, store.clone(), Arc::new(clock.clone())).unwrap();
    Rig { passkeys, store, clock }
}

impl Rig {
    /// The rig's current time.
    pub fn clock_now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Registers a passkey for `user` with `browser`, from the right origin.
    pub async fn register(&self, user: &UserId, browser: &mut Browser) -> Passkey {
        let start =
            self.passkeys.begin_registration(user, &format!("{user}@example.com"), "Someone").await.unwrap();
        let created = browser.create(&start.options);
        self.passkeys.finish_registration(&start.challenge_id, user, "Key", created).await.unwrap()
    }

    /// The stored passkey with this credential id.
    pub async fn stored(&self, passkey: &Passkey) -> Passkey {
        self.store.find_by_credential_id(&passkey.credential_id).await.unwrap().expect("the stored passkey")
    }
}

/// A browser with one software authenticator. It remembers the credential it created and the
/// user handle it was given, like a platform authenticator holding a discoverable credential.
pub struct Browser {
    authenticator: SoftPasskey,
    pub credential_id: Option<Vec<u8>>,
    pub user_handle: Option<Vec<u8>>,
}

impl Browser {
    /// An authenticator that verifies the user whenever verification is *required* (it cannot
    /// for "preferred"), when `verifies_user`; else it refuses ceremonies that require it.
    pub fn new(verifies_user: bool) -> Self {
        Self { authenticator: SoftPasskey::new(verifies_user), credential_id: None, user_handle: None }
    }

    /// `navigator.credentials.create` on `origin`, after `tamper` changed the options (a
    /// malicious or buggy client).
    pub fn create_with(
        &mut self,
        origin: &str,
        options: &Value,
        tamper: impl FnOnce(&mut CreationChallengeResponse),
    ) -> Result<Value, WebauthnCError> {
        let mut options: CreationChallengeResponse = serde_json::from_value(options.clone()).unwrap();
        tamper(&mut options);
        let user_handle = options.public_key.user.id.clone();
        let created = self.authenticator.do_registration(Url::parse(origin).unwrap(), options)?;
        self.credential_id = Some(created.raw_id.clone());
        self.user_handle = Some(user_handle);
        Ok(serde_json::to_value(created).unwrap())
    }

    /// `navigator.credentials.create` on the right origin, options untouched.
    pub fn create(&mut self, options: &Value) -> Value {
        self.create_with(ORIGIN, options, |_| {}).unwrap()
    }

    /// `navigator.credentials.get` on `origin`, after `tamper` changed the options. With an
    /// empty `allowCredentials` (a discoverable sign-in) the authenticator picks its own
    /// credential and returns the user handle stored with it.
    pub fn get_with(
        &mut self,
        origin: &str,
        options: &Value,
        tamper: impl FnOnce(&mut RequestChallengeResponse),
    ) -> Result<Value, WebauthnCError> {
        let mut options: RequestChallengeResponse = serde_json::from_value(options.clone()).unwrap();
        let discoverable = options.public_key.allow_credentials.is_empty();
        if discoverable {
            let id = self.credential_id.clone().expect("a credential to discover");
            options.public_key.allow_credentials =
                vec![AllowCredentials { type_: "public-key".to_owned(), id, transports: None }];
        }
        tamper(&mut options);
        let mut asserted: PublicKeyCredential =
            self.authenticator.do_authentication(Url::parse(origin).unwrap(), options)?;
        if discoverable {
            asserted.response.user_handle = self.user_handle.clone();
        }
        Ok(serde_json::to_value(asserted).unwrap())
    }

    /// `navigator.credentials.get` on the right origin, options untouched.
    pub fn get(&mut self, options: &Value) -> Value {
        self.get_with(ORIGIN, options, |_| {}).unwrap()
    }
}

/// The base64url of `bytes`, as in the JSON options.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Sets a field of a JSON response, for tampering.
pub fn set(value: &mut Value, pointer: &str, new: Value) {
    *value.pointer_mut(pointer).expect("the field to tamper with") = new;
}
