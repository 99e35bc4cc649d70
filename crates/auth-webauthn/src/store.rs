//! The passkey store: what it keeps, and the trait every store implements.

use std::fmt::{self, Debug};

use async_trait::async_trait;
use auth_core::{AuthError, FieldError, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A registered passkey as stored. Its `Debug` leaves out the credential (the public key and
/// its parameters) and the user handle.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Passkey {
    /// Our id for the passkey (a UUID), used to rename or delete it.
    pub id: String,
    /// Whose passkey it is.
    pub user_id: UserId,
    /// The name the user gave it (`"YubiKey 5"`, `"Phone"`).
    pub name: String,
    /// The WebAuthn credential id, base64url without padding: unique across all users.
    pub credential_id: String,
    /// The user handle the authenticator stored with the credential (random, base64url, no
    /// personal data): a discoverable sign-in must present it back.
    pub user_handle: String,
    /// The verified credential (public key, algorithm, counter, flags) as JSON: a serialised
    /// `webauthn_rs_core::proto::Credential`, the same value a webauthn-rs `Passkey` wraps.
    /// Opaque to stores.
    pub credential: String,
    /// The signature counter of the last accepted assertion (0 for authenticators without a
    /// counter, which synced passkeys usually are).
    pub sign_count: u32,
    /// Whether the credential may be backed up or synced to other devices (WebAuthn `BE`): a
    /// software-bound key (`amr` `swk`) rather than a device-bound one (`hwk`).
    pub backup_eligible: bool,
    /// Whether the credential is currently backed up (WebAuthn `BS`).
    pub backup_state: bool,
    /// Whether the authenticator verified the user (PIN, biometrics) at registration; such a
    /// passkey must verify the user at every sign-in.
    pub user_verified: bool,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last signed someone in.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Passkey {
    /// A passkey with the given identity, credential and registration time; the other fields
    /// start empty (`name` and `user_handle` empty, counters 0, flags `false`, never used). Set
    /// them directly.
    pub fn new(
        id: impl Into<String>,
        user_id: UserId,
        credential_id: impl Into<String>,
        credential: impl Into<String>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            user_id,
            name: String::new(),
            credential_id: credential_id.into(),
            user_handle: String::new(),
            credential: credential.into(),
            sign_count: 0,
            backup_eligible: false,
            backup_state: false,
            user_verified: false,
            created_at,
            last_used_at: None,
        }
    }
}

impl Debug for Passkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passkey")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("credential_id", &self.credential_id)
            .field("sign_count", &self.sign_count)
            .field("backup_eligible", &self.backup_eligible)
            .field("backup_state", &self.backup_state)
            .field("user_verified", &self.user_verified)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

/// What an accepted assertion changes on its passkey ([`PasskeyStore::update_after_use`]).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasskeyUsage {
    /// The assertion's signature counter.
    pub sign_count: u32,
    /// The credential JSON with the new counter and flags.
    pub credential: String,
    /// The backup eligibility after the assertion (it can only become `true`).
    pub backup_eligible: bool,
    /// The backup state the assertion reported.
    pub backup_state: bool,
    /// When the assertion was accepted.
    pub used_at: DateTime<Utc>,
}

impl PasskeyUsage {
    /// A usage record.
    pub fn new(
        sign_count: u32,
        credential: impl Into<String>,
        backup_eligible: bool,
        backup_state: bool,
        used_at: DateTime<Utc>,
    ) -> Self {
        Self { sign_count, credential: credential.into(), backup_eligible, backup_state, used_at }
    }
}

impl Debug for PasskeyUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyUsage")
            .field("sign_count", &self.sign_count)
            .field("backup_eligible", &self.backup_eligible)
            .field("backup_state", &self.backup_state)
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

/// Which ceremony a challenge belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChallengeKind {
    /// Registering a new passkey for a signed-in user.
    Registration,
    /// A passwordless sign-in with a discoverable passkey: the user is not known beforehand.
    Passwordless,
    /// A passkey as the second factor of a known user.
    SecondFactor,
}

impl ChallengeKind {
    /// The stable name stores write (`"registration"`, `"passwordless"`, `"second_factor"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Passwordless => "passwordless",
            Self::SecondFactor => "second_factor",
        }
    }

    /// The kind named by [`as_str`](Self::as_str); `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "registration" => Some(Self::Registration),
            "passwordless" => Some(Self::Passwordless),
            "second_factor" => Some(Self::SecondFactor),
            _ => None,
        }
    }
}

/// The server-side state of one pending ceremony: single use, expiring. Its `Debug` leaves out
/// the state (the challenge bytes and credentials).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PasskeyChallenge {
    /// The challenge id the client holds (256 random bits, base64url).
    pub id: String,
    /// Which ceremony it is.
    pub kind: ChallengeKind,
    /// The user it is bound to (`None` for a passwordless sign-in).
    pub user_id: Option<UserId>,
    /// The WebAuthn engine's ceremony state, as JSON. Opaque to stores.
    pub state: String,
    /// After this instant the challenge is dead.
    pub expires_at: DateTime<Utc>,
}

impl PasskeyChallenge {
    /// A challenge record.
    pub fn new(
        id: impl Into<String>,
        kind: ChallengeKind,
        user_id: Option<UserId>,
        state: impl Into<String>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self { id: id.into(), kind, user_id, state: state.into(), expires_at }
    }
}

impl Debug for PasskeyChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyChallenge")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The [`AuthError::Conflict`] a store returns from [`PasskeyStore::add`] for a credential id
/// (or passkey id) that exists already.
pub fn duplicate_passkey() -> AuthError {
    AuthError::Conflict(vec![FieldError::new("credential", "this passkey is already registered")])
}

/// Where passkeys and pending ceremonies live.
///
/// Every method is ONE atomic change (one statement, or one transaction): of concurrent calls
/// that race for the same row, exactly one wins. [`MemoryPasskeyStore`](crate::MemoryPasskeyStore)
/// is the reference implementation; every implementation must pass
/// `testing::passkey_store_conformance` (feature `testing`). Time is never read here: methods
/// that decide by time take `now`.
#[async_trait]
pub trait PasskeyStore: Debug + Send + Sync + 'static {
    /// Stores a new passkey. A `credential_id` (or `id`) that exists already, for any user, is
    /// refused with [`duplicate_passkey`] ([`AuthError::Conflict`]) and changes nothing: of
    /// concurrent adds of one credential id exactly one succeeds (a unique index).
    async fn add(&self, passkey: Passkey) -> Result<(), AuthError>;

    /// The passkey with this WebAuthn credential id (base64url), whoever owns it.
    async fn find_by_credential_id(&self, credential_id: &str) -> Result<Option<Passkey>, AuthError>;

    /// The user's passkeys, oldest first (by `created_at`, then `id`).
    async fn list_for_user(&self, user_id: &UserId) -> Result<Vec<Passkey>, AuthError>;

    /// Renames the user's passkey `id`. Returns `false` (and changes nothing) when the user has
    /// no passkey with that id, including when it is someone else's.
    async fn rename(&self, user_id: &UserId, id: &str, name: &str) -> Result<bool, AuthError>;

    /// Deletes the user's passkey `id`. Returns `false` (and deletes nothing) when the user has
    /// no passkey with that id, including when it is someone else's.
    async fn delete(&self, user_id: &UserId, id: &str) -> Result<bool, AuthError>;

    /// Records an accepted assertion in one conditional write: sets `sign_count`, `credential`,
    /// `backup_eligible`, `backup_state` and `last_used_at = used_at`, but only when the
    /// passkey exists and the counter moves forward: `usage.sign_count` is greater than the
    /// stored `sign_count`, or both are 0 (an authenticator without a counter). Returns whether
    /// it wrote; of concurrent calls with the same counter at most one gets `true` (in SQL:
    /// `UPDATE ... WHERE id = ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))`).
    async fn update_after_use(&self, id: &str, usage: PasskeyUsage) -> Result<bool, AuthError>;

    /// Deletes every passkey and pending challenge of the user (the account is being deleted).
    /// Returns how many passkeys it deleted.
    async fn remove_user(&self, user_id: &UserId) -> Result<u64, AuthError>;

    /// Records a new pending ceremony. An id that exists already is an [`AuthError::Backend`].
    async fn put_challenge(&self, challenge: PasskeyChallenge) -> Result<(), AuthError>;

    /// Removes the challenge with this id and returns it if it had not expired
    /// (`expires_at > now`), in one atomic step (`DELETE ... RETURNING`, or a transaction):
    /// a challenge is returned at most once, so of concurrent takes exactly one gets it. An
    /// unknown, expired or already taken challenge gives `None`; an expired one may be removed
    /// or left to [`flush_expired_challenges`](Self::flush_expired_challenges).
    async fn take_challenge(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PasskeyChallenge>, AuthError>;

    /// Deletes challenges that expired (`expires_at <= now`). Returns how many.
    async fn flush_expired_challenges(&self, now: DateTime<Utc>) -> Result<u64, AuthError>;
}
