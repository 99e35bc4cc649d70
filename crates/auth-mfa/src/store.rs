//! The factor store: what an MFA store keeps, and the trait every store implements.

use std::fmt::Debug;

use async_trait::async_trait;
use auth_core::{AuthError, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A user's TOTP factor as stored: the secret only in sealed (encrypted) form.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TotpFactor {
    /// Whose factor it is (one TOTP factor per user).
    pub user_id: UserId,
    /// The secret sealed by [`MfaKey::seal`](crate::MfaKey::seal); never the plain secret.
    pub sealed_secret: Vec<u8>,
    /// When enrolment started.
    pub created_at: DateTime<Utc>,
    /// When the user confirmed it with a first code: `None` while pending.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The last time step whose code was accepted: a code of this step or an earlier one is
    /// never accepted again.
    pub last_used_step: Option<i64>,
}

impl TotpFactor {
    /// A pending factor (not confirmed, no step used).
    pub fn pending(user_id: UserId, sealed_secret: Vec<u8>, created_at: DateTime<Utc>) -> Self {
        Self { user_id, sealed_secret, created_at, confirmed_at: None, last_used_step: None }
    }

    /// Whether the user confirmed the factor (it guards sign-in).
    pub fn is_active(&self) -> bool {
        self.confirmed_at.is_some()
    }
}

impl Debug for TotpFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpFactor")
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("confirmed_at", &self.confirmed_at)
            .field("last_used_step", &self.last_used_step)
            .finish_non_exhaustive()
    }
}

/// A pending MFA step of a sign-in: the password was right, a second factor is due. The client
/// holds the secret `mfa_token`; the store keeps only its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MfaChallenge {
    /// SHA-256 (hex) of the `mfa_token`: the key of the challenge.
    pub hash: String,
    /// The user who gave the right password.
    pub user_id: UserId,
    /// The sign-in flow to complete (`"mobile"`, `"web"`, `"token"`, `"session"`, ...).
    pub flow: String,
    /// What the flow needs to complete (client information, a token name, ...). Never a secret.
    pub context: serde_json::Value,
    /// When the password was checked.
    pub created_at: DateTime<Utc>,
    /// After this instant the challenge is dead.
    pub expires_at: DateTime<Utc>,
    /// Verification attempts made so far (each counted before its code is checked).
    pub attempts: u32,
}

impl MfaChallenge {
    /// A fresh challenge, no attempt made.
    pub fn new(
        hash: impl Into<String>,
        user_id: UserId,
        flow: impl Into<String>,
        context: serde_json::Value,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self { hash: hash.into(), user_id, flow: flow.into(), context, created_at, expires_at, attempts: 0 }
    }
}

/// Where MFA factors, recovery codes and pending challenges live.
///
/// Every check-and-act is ONE atomic operation (a conditional update, a delete that reports
/// whether it deleted): of any number of concurrent calls, exactly the allowed number succeed.
/// [`MemoryMfaStore`](crate::MemoryMfaStore) is the reference implementation; every
/// implementation must pass `testing::mfa_store_conformance` (feature `testing`). Time is never
/// read here: methods that decide by time take `now`.
#[async_trait]
pub trait MfaStore: Debug + Send + Sync + 'static {
    /// Stores a new pending TOTP factor for its user, replacing a pending one. Returns `false`
    /// (and changes nothing) when the user already has an active factor.
    async fn put_pending_totp(&self, factor: TotpFactor) -> Result<bool, AuthError>;

    /// The user's TOTP factor, pending or active.
    async fn totp_factor(&self, user_id: &UserId) -> Result<Option<TotpFactor>, AuthError>;

    /// Activates the user's pending factor in one transaction: `confirmed_at = now`,
    /// `last_used_step = step`, and the user's recovery codes replaced by `recovery_code_hashes`.
    /// Returns `false` (and changes nothing) when there is no pending factor, or when its
    /// `sealed_secret` differs from `expected_sealed_secret` (a concurrent setup replaced it).
    async fn activate_totp(
        &self,
        user_id: &UserId,
        expected_sealed_secret: &[u8],
        step: i64,
        recovery_code_hashes: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError>;

    /// Records that the code of `step` was accepted, in one conditional write: only when the
    /// factor is active and `last_used_step` is unset or smaller than `step`. Returns whether it
    /// wrote; of concurrent calls with the same step, exactly one gets `true` (no replay).
    async fn use_totp_step(&self, user_id: &UserId, step: i64) -> Result<bool, AuthError>;

    /// Deletes the user's TOTP factor (pending or active) and every recovery code of the user.
    /// Returns whether an *active* factor existed.
    async fn delete_factors(&self, user_id: &UserId) -> Result<bool, AuthError>;

    /// Replaces every recovery code of the user (used or not) with `hashes`, atomically.
    async fn replace_recovery_codes(
        &self,
        user_id: &UserId,
        hashes: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError>;

    /// Marks the user's unused recovery code with this hash as used at `now`, in one conditional
    /// write. Returns whether it did: an unknown or already used code gives `false`, and of
    /// concurrent calls with the same code exactly one gets `true`.
    async fn use_recovery_code(
        &self,
        user_id: &UserId,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError>;

    /// How many unused recovery codes the user has.
    async fn remaining_recovery_codes(&self, user_id: &UserId) -> Result<u32, AuthError>;

    /// Records a new challenge. A hash that already exists is an [`AuthError::Backend`].
    async fn create_challenge(&self, challenge: MfaChallenge) -> Result<(), AuthError>;

    /// Counts one verification attempt against the challenge with this hash, in one conditional
    /// write (`attempts + 1` only while `attempts < max_attempts` and `expires_at > now`), and
    /// returns the challenge as it is after the increment. `None` (and nothing changes) for an
    /// unknown, expired or exhausted challenge. Of concurrent calls at most
    /// `max_attempts - attempts` get `Some`.
    async fn start_challenge_attempt(
        &self,
        hash: &str,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<MfaChallenge>, AuthError>;

    /// Deletes the challenge (it was completed: single use). Returns whether it existed; of
    /// concurrent calls exactly one gets `true`.
    async fn consume_challenge(&self, hash: &str) -> Result<bool, AuthError>;

    /// Deletes every challenge of the user (the user's factors changed). Returns how many.
    async fn delete_challenges_for_user(&self, user_id: &UserId) -> Result<u64, AuthError>;

    /// Deletes challenges that expired (`expires_at <= now`). Returns how many.
    async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError>;
}
