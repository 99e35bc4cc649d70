//! The ceremonies: registration, passwordless sign-in and passkeys as a second factor.

use std::fmt;
use std::sync::Arc;

use auth_core::{AuthError, SharedClock, UserId, saturating_add};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AuthenticationResult, AuthenticationState, CredProtect, Credential,
    CredentialID, CredentialProtectionPolicy, PublicKeyCredential, RegisterPublicKeyCredential,
    RegistrationState, RequestAuthenticationExtensions, RequestRegistrationExtensions,
    ResidentKeyRequirement,
};

use crate::error::verification_error;
use crate::{
    ChallengeKind, ConfigError, Passkey, PasskeyChallenge, PasskeyConfig, PasskeyError, PasskeyStore,
    PasskeyUsage, UserVerification,
};

/// Random bytes in a challenge id (256 bits).
const CHALLENGE_ID_BYTES: usize = 32;
/// Random bytes in a user handle (WebAuthn allows up to 64).
const USER_HANDLE_BYTES: usize = 32;
/// The longest passkey name, in characters.
pub const MAX_PASSKEY_NAME_CHARS: usize = 64;

/// What a `begin_*` call returns: the challenge id the client sends back with its response, and
/// the options for the browser.
///
/// `options` is the JSON of `PublicKeyCredentialCreationOptions` (registration) or
/// `PublicKeyCredentialRequestOptions` (sign-in) wrapped as `{"publicKey": {...}}`, binary
/// fields base64url-encoded: pass `options.publicKey` through
/// `PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON` to
/// `navigator.credentials.create` / `get`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CeremonyOptions {
    /// The id of the server-side ceremony state (single use, expiring).
    pub challenge_id: String,
    /// The WebAuthn options for the browser.
    pub options: serde_json::Value,
}

/// A successful passkey sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthenticatedPasskey {
    /// Who signed in.
    pub user_id: UserId,
    /// Which passkey ([`Passkey::id`]).
    pub passkey_id: String,
    /// Whether the authenticator verified the user (PIN, biometrics).
    pub user_verified: bool,
    /// The `amr` values (RFC 8176) for the credential: `"swk"` for a passkey that may be synced
    /// or backed up (backup-eligible), `"hwk"` for a device-bound one, then `"user"` when the
    /// user was verified.
    pub amr: Vec<String>,
}

/// The `amr` of a passkey sign-in: `swk` (synced, backup-eligible) or `hwk` (device-bound),
/// plus `user` when the authenticator verified the user.
pub fn passkey_amr(backup_eligible: bool, user_verified: bool) -> Vec<String> {
    let mut amr = vec![if backup_eligible { "swk" } else { "hwk" }.to_owned()];
    if user_verified {
        amr.push("user".to_owned());
    }
    amr
}

/// The registration ceremony's stored state: the engine's, and the user handle to record.
#[derive(Serialize, Deserialize)]
struct RegistrationCeremony {
    user_handle: String,
    state: RegistrationState,
}

/// Passkeys (WebAuthn) for one relying party: the paved road.
///
/// Every ceremony is `begin_*` (store the state, send the options to the browser) then
/// `finish_*` (take the state back, single use, and verify the browser's response). Time comes
/// from the injected clock: a challenge dies after [`PasskeyConfig::challenge_ttl`].
///
/// ```
/// use std::sync::Arc;
///
/// use auth_core::{ManualClock, UserId};
/// use auth_webauthn::{MemoryPasskeyStore, PasskeyConfig, Passkeys};
/// use url::Url;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), auth_webauthn::PasskeyError> {
/// let config = PasskeyConfig::new("example.com", "Example")
///     .allowed_origin(Url::parse("https://example.com").unwrap());
/// let passkeys = Passkeys::new(config, Arc::new(MemoryPasskeyStore::new()), Arc::new(ManualClock::starting_now()))?;
///
/// let alice = UserId::new("42");
/// let start = passkeys.begin_registration(&alice, "alice@example.com", "Alice").await?;
/// assert_eq!(start.options["publicKey"]["rp"]["id"], "example.com");
/// assert_eq!(start.options["publicKey"]["authenticatorSelection"]["residentKey"], "preferred");
/// // ... the browser runs navigator.credentials.create, then:
/// // passkeys.finish_registration(&start.challenge_id, &alice, "Laptop", response_json).await?
/// # Ok(())
/// # }
/// ```
pub struct Passkeys {
    config: PasskeyConfig,
    engine: WebauthnCore,
    store: Arc<dyn PasskeyStore>,
    clock: SharedClock,
}

impl fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passkeys")
            .field("config", &self.config)
            .field("store", &self.store)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Passkeys {
    /// The service for `config` over `store`, reading time from `clock`. Refuses an inconsistent
    /// configuration ([`PasskeyConfig::validate`]).
    pub fn new(
        config: PasskeyConfig,
        store: Arc<dyn PasskeyStore>,
        clock: SharedClock,
    ) -> Result<Self, PasskeyError> {
        config.validate()?;
        let timeout = config.challenge_ttl.to_std().map_err(|_| ConfigError::InvalidChallengeTtl)?;
        // Exact origins only: no subdomain wildcard, no port wildcard.
        let engine = WebauthnCore::new_unsafe_experts_only(
            &config.rp_name,
            &config.rp_id,
            config.origins.clone(),
            timeout,
            Some(false),
            Some(false),
        );
        Ok(Self { config, engine, store, clock })
    }

    /// The configuration.
    pub fn config(&self) -> &PasskeyConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn PasskeyStore> {
        &self.store
    }

    /// Starts registering a new passkey for the signed-in user `user_id`. `username` (an account
    /// name such as an email address) and `display_name` are shown by the authenticator; an
    /// empty display name falls back to the username.
    ///
    /// The options exclude the user's existing passkeys (`excludeCredentials`), ask for a
    /// discoverable credential (`residentKey: "preferred"` unless configured otherwise), carry
    /// the configured `userVerification`, and ask for no attestation.
    ///
    /// Errors: [`PasskeyError::InvalidInput`] for an empty `username`; store failures.
    pub async fn begin_registration(
        &self,
        user_id: &UserId,
        username: &str,
        display_name: &str,
    ) -> Result<CeremonyOptions, PasskeyError> {
        let username = username.trim();
        if username.is_empty() {
            return Err(PasskeyError::InvalidInput { field: "username", message: "must not be empty" });
        }
        let display_name = match display_name.trim() {
            "" => username,
            name => name,
        };
        let existing = self.store.list_for_user(user_id).await?;
        // One user handle per user: reuse the one the user's passkeys carry.
        let user_handle = existing
            .iter()
            .map(|passkey| passkey.user_handle.clone())
            .find(|handle| !handle.is_empty())
            .unwrap_or_else(|| random_base64url(USER_HANDLE_BYTES));
        let handle_bytes = decode_base64url(&user_handle)?;
        let exclude: Vec<CredentialID> = existing
            .iter()
            .map(|passkey| decode_base64url(&passkey.credential_id))
            .collect::<Result<_, _>>()?;

        let required = self.config.user_verification == UserVerification::Required;
        let extensions = RequestRegistrationExtensions {
            // Like webauthn-rs: ask authenticators to demand UV for this credential when UV is
            // required, without failing those that cannot.
            cred_protect: required.then_some(CredProtect {
                credential_protection_policy: CredentialProtectionPolicy::UserVerificationRequired,
                enforce_credential_protection_policy: Some(false),
            }),
            uvm: Some(true),
            cred_props: Some(true),
            min_pin_length: None,
            hmac_create_secret: None,
        };
        let builder = self
            .engine
            .new_challenge_register_builder(&handle_bytes, username, display_name)
            .map_err(PasskeyError::Engine)?
            .attestation(AttestationConveyancePreference::None)
            .user_verification_policy(self.config.user_verification.policy())
            .exclude_credentials((!exclude.is_empty()).then_some(exclude))
            .extensions(Some(extensions))
            .require_resident_key(false)
            .authenticator_attachment(None)
            .reject_synchronised_authenticators(false);
        let (mut options, state) =
            self.engine.generate_challenge_register(builder).map_err(PasskeyError::Engine)?;
        // The engine sends "discouraged" unless a resident key is *required*; "preferred" is a
        // hint to the client only (nothing server-side depends on it).
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(if self.config.prefer_resident_key {
                ResidentKeyRequirement::Preferred
            } else {
                ResidentKeyRequirement::Discouraged
            });
        }
        let state = to_json(&RegistrationCeremony { user_handle, state })?;
        let challenge_id = self.start(ChallengeKind::Registration, Some(user_id.clone()), state).await?;
        Ok(CeremonyOptions { challenge_id, options: to_json_value(&options)? })
    }

    /// Completes a registration: verifies the browser's response (`credential`, the JSON of the
    /// `PublicKeyCredential` from `navigator.credentials.create`, as `toJSON()` gives it) against
    /// the challenge, which must be an unexpired registration challenge of `user_id`, and
    /// stores the new passkey under `name`. The challenge is used up whatever the outcome.
    ///
    /// Errors: [`PasskeyError::InvalidInput`] (field `name` or `credential`);
    /// [`PasskeyError::UnknownChallenge`]; [`PasskeyError::VerificationFailed`] (wrong origin,
    /// relying party, challenge, signature, an excluded credential);
    /// [`PasskeyError::UserVerificationRequired`]; [`PasskeyError::AlreadyRegistered`].
    pub async fn finish_registration(
        &self,
        challenge_id: &str,
        user_id: &UserId,
        name: &str,
        credential: serde_json::Value,
    ) -> Result<Passkey, PasskeyError> {
        let name = validate_name(name)?;
        let response: RegisterPublicKeyCredential =
            serde_json::from_value(credential).map_err(|_| PasskeyError::InvalidInput {
                field: "credential",
                message: "is not a WebAuthn registration response",
            })?;
        let now = self.clock.now();
        let challenge =
            self.store.take_challenge(challenge_id, now).await?.ok_or(PasskeyError::UnknownChallenge)?;
        if challenge.kind != ChallengeKind::Registration || challenge.user_id.as_ref() != Some(user_id) {
            return Err(PasskeyError::UnknownChallenge);
        }
        let ceremony: RegistrationCeremony = from_json(&challenge.state)?;
        let credential =
            self.engine.register_credential(&response, &ceremony.state, None).map_err(verification_error)?;

        let mut passkey = Passkey::new(
            uuid::Uuid::new_v4().to_string(),
            user_id.clone(),
            URL_SAFE_NO_PAD.encode(&credential.cred_id),
            to_json(&credential)?,
            now,
        );
        passkey.name = name;
        passkey.user_handle = ceremony.user_handle;
        passkey.sign_count = credential.counter;
        passkey.backup_eligible = credential.backup_eligible;
        passkey.backup_state = credential.backup_state;
        passkey.user_verified = credential.user_verified;
        match self.store.add(passkey.clone()).await {
            Ok(()) => Ok(passkey),
            Err(AuthError::Conflict(_)) => Err(PasskeyError::AlreadyRegistered),
            Err(error) => Err(PasskeyError::Store(error)),
        }
    }

    /// Starts a passwordless sign-in with a discoverable passkey: no user is known yet, the
    /// options have an empty `allowCredentials`, so the browser offers the site's passkeys. Works
    /// as a modal prompt and with conditional UI (call `navigator.credentials.get` with
    /// `mediation: "conditional"` for autofill). Complete it with
    /// [`finish_authentication`](Self::finish_authentication).
    pub async fn begin_authentication(&self) -> Result<CeremonyOptions, PasskeyError> {
        let extensions =
            RequestAuthenticationExtensions { appid: None, uvm: Some(true), hmac_get_secret: None };
        let builder = self
            .engine
            .new_challenge_authenticate_builder(Vec::new(), Some(self.config.user_verification.policy()))
            .map_err(PasskeyError::Engine)?
            .extensions(Some(extensions))
            // As for second-factor sign-ins (and webauthn-rs's passkey sign-in): a passkey that
            // becomes backup-eligible is accepted (and then counts as synced, `swk`); one that
            // stops being backup-eligible is refused. One rule for both paths.
            .allow_backup_eligible_upgrade(true);
        let (options, state) =
            self.engine.generate_challenge_authenticate(builder).map_err(PasskeyError::Engine)?;
        let challenge_id = self.start(ChallengeKind::Passwordless, None, to_json(&state)?).await?;
        Ok(CeremonyOptions { challenge_id, options: to_json_value(&options)? })
    }

    /// Starts a passkey ceremony for the known user `user_id` (a second factor after the
    /// password, or a re-authentication): `allowCredentials` lists the user's passkeys, and only
    /// they are accepted. Complete it with [`finish_second_factor`](Self::finish_second_factor).
    ///
    /// Errors: [`PasskeyError::NoPasskeys`] when the user has none.
    pub async fn begin_second_factor(&self, user_id: &UserId) -> Result<CeremonyOptions, PasskeyError> {
        let passkeys = self.store.list_for_user(user_id).await?;
        if passkeys.is_empty() {
            return Err(PasskeyError::NoPasskeys);
        }
        let credentials: Vec<Credential> =
            passkeys.iter().map(|passkey| from_json(&passkey.credential)).collect::<Result<_, _>>()?;
        let builder = self
            .engine
            .new_challenge_authenticate_builder(credentials, Some(self.config.user_verification.policy()))
            .map_err(PasskeyError::Engine)?
            .allow_backup_eligible_upgrade(true);
        let (options, state) =
            self.engine.generate_challenge_authenticate(builder).map_err(PasskeyError::Engine)?;
        let challenge_id =
            self.start(ChallengeKind::SecondFactor, Some(user_id.clone()), to_json(&state)?).await?;
        Ok(CeremonyOptions { challenge_id, options: to_json_value(&options)? })
    }

    /// Completes a sign-in started by [`begin_authentication`](Self::begin_authentication)
    /// (or by [`begin_second_factor`](Self::begin_second_factor), then the passkey must be that
    /// user's): verifies the browser's response (`credential`, the JSON of the
    /// `PublicKeyCredential` from `navigator.credentials.get`) and records the use. The challenge
    /// is used up whatever the outcome.
    ///
    /// A passwordless response must carry the user handle stored with the passkey. The
    /// signature counter must move forward when the stored one is non-zero (else
    /// [`PasskeyError::CounterRegression`]: a possible clone; the passkey is left unchanged).
    ///
    /// Errors: [`PasskeyError::InvalidInput`] (field `credential`);
    /// [`PasskeyError::UnknownChallenge`]; [`PasskeyError::UnknownCredential`];
    /// [`PasskeyError::WrongUser`]; [`PasskeyError::VerificationFailed`];
    /// [`PasskeyError::CounterRegression`]; [`PasskeyError::UserVerificationRequired`].
    pub async fn finish_authentication(
        &self,
        challenge_id: &str,
        credential: serde_json::Value,
    ) -> Result<AuthenticatedPasskey, PasskeyError> {
        self.finish_assertion(challenge_id, None, credential).await
    }

    /// Completes a ceremony started by [`begin_second_factor`](Self::begin_second_factor) for
    /// `user_id`: like [`finish_authentication`](Self::finish_authentication), but the challenge
    /// must be a second-factor challenge of `user_id` (else [`PasskeyError::UnknownChallenge`]),
    /// and the passkey must be theirs (else [`PasskeyError::WrongUser`]).
    pub async fn finish_second_factor(
        &self,
        challenge_id: &str,
        user_id: &UserId,
        credential: serde_json::Value,
    ) -> Result<AuthenticatedPasskey, PasskeyError> {
        self.finish_assertion(challenge_id, Some(user_id), credential).await
    }

    /// The user's passkeys, oldest first.
    pub async fn list(&self, user_id: &UserId) -> Result<Vec<Passkey>, PasskeyError> {
        Ok(self.store.list_for_user(user_id).await?)
    }

    /// Renames the user's passkey `id`; `false` when the user has no such passkey.
    /// [`PasskeyError::InvalidInput`] (field `name`) for an empty or too long name.
    pub async fn rename(&self, user_id: &UserId, id: &str, name: &str) -> Result<bool, PasskeyError> {
        let name = validate_name(name)?;
        Ok(self.store.rename(user_id, id, &name).await?)
    }

    /// Deletes the user's passkey `id`; `false` when the user has no such passkey.
    pub async fn delete(&self, user_id: &UserId, id: &str) -> Result<bool, PasskeyError> {
        Ok(self.store.delete(user_id, id).await?)
    }

    /// Deletes the challenges that expired by now. Returns how many.
    pub async fn flush_expired_challenges(&self) -> Result<u64, PasskeyError> {
        Ok(self.store.flush_expired_challenges(self.clock.now()).await?)
    }

    /// Stores a new ceremony state and returns its id.
    async fn start(
        &self,
        kind: ChallengeKind,
        user_id: Option<UserId>,
        state: String,
    ) -> Result<String, PasskeyError> {
        let id = random_base64url(CHALLENGE_ID_BYTES);
        let expires_at = saturating_add(self.clock.now(), self.config.challenge_ttl);
        self.store.put_challenge(PasskeyChallenge::new(id.clone(), kind, user_id, state, expires_at)).await?;
        Ok(id)
    }

    async fn finish_assertion(
        &self,
        challenge_id: &str,
        expected_user: Option<&UserId>,
        credential: serde_json::Value,
    ) -> Result<AuthenticatedPasskey, PasskeyError> {
        let response: PublicKeyCredential =
            serde_json::from_value(credential).map_err(|_| PasskeyError::InvalidInput {
                field: "credential",
                message: "is not a WebAuthn authentication response",
            })?;
        let now = self.clock.now();
        let challenge =
            self.store.take_challenge(challenge_id, now).await?.ok_or(PasskeyError::UnknownChallenge)?;
        // Who must own the passkey: nobody in particular (passwordless) or the bound user.
        let owner = match (challenge.kind, challenge.user_id, expected_user) {
            (ChallengeKind::Passwordless, None, None) => None,
            (ChallengeKind::SecondFactor, Some(bound), None) => Some(bound),
            (ChallengeKind::SecondFactor, Some(bound), Some(expected)) if bound == *expected => Some(bound),
            _ => return Err(PasskeyError::UnknownChallenge),
        };
        let state: AuthenticationState = from_json(&challenge.state)?;

        let credential_id = URL_SAFE_NO_PAD.encode(response.get_credential_id());
        let passkey =
            self.store.find_by_credential_id(&credential_id).await?.ok_or(PasskeyError::UnknownCredential)?;
        if owner.as_ref().is_some_and(|owner| *owner != passkey.user_id) {
            return Err(PasskeyError::WrongUser);
        }
        // The user handle identifies the account in a passwordless sign-in (WebAuthn §7.2 step
        // 6): it must be present and the passkey owner's. With a known user it may be absent,
        // but if present it must match too.
        let handle_matches = match response.get_user_unique_id() {
            Some(handle) => decode_base64url(&passkey.user_handle)? == handle,
            None => owner.is_some(),
        };
        if !handle_matches {
            return Err(PasskeyError::VerificationFailed(
                webauthn_rs_core::error::WebauthnError::InvalidUserUniqueId,
            ));
        }

        let mut stored: Credential = from_json(&passkey.credential)?;
        // The stored credential, not the copy in the challenge state: its counter is current.
        let result = self
            .engine
            .authenticate_single_credential(&response, &state, &stored)
            .map_err(verification_error)?;
        // The engine enforces both already; kept explicit because they are this crate's promises.
        if passkey.sign_count > 0 && result.counter() <= passkey.sign_count {
            return Err(PasskeyError::CounterRegression);
        }
        if self.config.user_verification == UserVerification::Required && !result.user_verified() {
            return Err(PasskeyError::UserVerificationRequired);
        }
        if result.needs_update() {
            apply_update(&mut stored, &result);
        }
        let usage = PasskeyUsage::new(
            result.counter(),
            to_json(&stored)?,
            stored.backup_eligible,
            stored.backup_state,
            now,
        );
        if !self.store.update_after_use(&passkey.id, usage).await? {
            // A concurrent assertion moved the counter first (same counter: a clone), or the
            // passkey was deleted meanwhile.
            return Err(match self.store.find_by_credential_id(&credential_id).await? {
                Some(_) => PasskeyError::CounterRegression,
                None => PasskeyError::UnknownCredential,
            });
        }
        Ok(AuthenticatedPasskey {
            user_id: passkey.user_id,
            passkey_id: passkey.id,
            user_verified: result.user_verified(),
            amr: passkey_amr(stored.backup_eligible, result.user_verified()),
        })
    }
}

/// What webauthn-rs's `Passkey::update_credential` does: the counter only moves forward, the
/// backup state follows the authenticator, backup eligibility can only appear.
fn apply_update(credential: &mut Credential, result: &AuthenticationResult) {
    if result.counter() > credential.counter {
        credential.counter = result.counter();
    }
    credential.backup_state = result.backup_state();
    if result.backup_eligible() {
        credential.backup_eligible = true;
    }
}

fn validate_name(name: &str) -> Result<String, PasskeyError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_PASSKEY_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(PasskeyError::InvalidInput {
            field: "name",
            message: "must be 1 to 64 characters, without control characters",
        });
    }
    Ok(name.to_owned())
}

fn random_base64url(bytes: usize) -> String {
    let mut random = vec![0u8; bytes];
    rand::fill(random.as_mut_slice());
    URL_SAFE_NO_PAD.encode(random)
}

fn decode_base64url(text: &str) -> Result<Vec<u8>, PasskeyError> {
    URL_SAFE_NO_PAD.decode(text).map_err(|error| PasskeyError::CorruptData(error.into()))
}

fn to_json<T: Serialize>(value: &T) -> Result<String, PasskeyError> {
    serde_json::to_string(value).map_err(|error| PasskeyError::CorruptData(error.into()))
}

fn to_json_value<T: Serialize>(value: &T) -> Result<serde_json::Value, PasskeyError> {
    serde_json::to_value(value).map_err(|error| PasskeyError::CorruptData(error.into()))
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(text).map_err(|error| PasskeyError::CorruptData(error.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amr_values() {
        assert_eq!(passkey_amr(false, false), ["hwk"]);
        assert_eq!(passkey_amr(false, true), ["hwk", "user"]);
        assert_eq!(passkey_amr(true, false), ["swk"]);
        assert_eq!(passkey_amr(true, true), ["swk", "user"]);
    }

    #[test]
    fn names() {
        assert_eq!(validate_name("  Laptop ").unwrap(), "Laptop");
        assert!(validate_name("").is_err());
        assert!(validate_name("   ").is_err());
        assert!(validate_name("a\nb").is_err());
        assert!(validate_name(&"x".repeat(65)).is_err());
        assert_eq!(validate_name(&"é".repeat(64)).unwrap().chars().count(), 64);
    }

    #[test]
    fn random_ids_are_long_and_distinct() {
        let (a, b) = (random_base64url(CHALLENGE_ID_BYTES), random_base64url(CHALLENGE_ID_BYTES));
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
