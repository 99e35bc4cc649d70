//! The framework-free MFA logic: enrolment, verification, recovery codes and sign-in challenges.

use std::fmt;
use std::sync::Arc;

use auth_core::{AuthError, FieldError, TokenRejection, UserId};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    MfaChallenge, MfaKey, MfaStore, Totp, TotpFactor, challenge_hash, generate_recovery_codes,
    normalize_recovery_code, qr_svg,
};

/// The prefix of every `mfa_token`, so that secret scanners and people can tell what it is.
pub const MFA_TOKEN_PREFIX: &str = "mfa_";
/// Random bytes in an `mfa_token` (256 bits).
const MFA_TOKEN_BYTES: usize = 32;

/// How [`MfaService`] behaves. `Default` is the paved road; change it with the builder methods.
///
/// ```
/// use auth_mfa::MfaConfig;
/// use chrono::Duration;
///
/// let config = MfaConfig::default().issuer("Example Corp").challenge_ttl(Duration::minutes(3));
/// assert_eq!(config.max_attempts, 5);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MfaConfig {
    /// The issuer shown by authenticator apps next to the account name (default `"Portcullis"`).
    pub issuer: String,
    /// How long a sign-in challenge lives after the password was checked (default 5 minutes).
    pub challenge_ttl: Duration,
    /// Verification attempts per challenge (default 5); after them the challenge is dead, even
    /// for the right code.
    pub max_attempts: u32,
    /// Recovery codes issued at a time (default 10).
    pub recovery_codes: usize,
    /// Time steps of clock skew accepted either side of the current one (default 1, as RFC 6238
    /// §5.2 recommends: a code is accepted for about 90 seconds).
    pub skew_steps: i64,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            issuer: "Portcullis".to_owned(),
            challenge_ttl: Duration::minutes(5),
            max_attempts: 5,
            recovery_codes: 10,
            skew_steps: 1,
        }
    }
}

impl MfaConfig {
    /// Sets [`MfaConfig::issuer`].
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// Sets [`MfaConfig::challenge_ttl`].
    pub fn challenge_ttl(mut self, ttl: Duration) -> Self {
        self.challenge_ttl = ttl;
        self
    }

    /// Sets [`MfaConfig::max_attempts`].
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Sets [`MfaConfig::recovery_codes`].
    pub fn recovery_codes(mut self, count: usize) -> Self {
        self.recovery_codes = count;
        self
    }

    /// Sets [`MfaConfig::skew_steps`] (negative counts as 0).
    pub fn skew_steps(mut self, steps: i64) -> Self {
        self.skew_steps = steps;
        self
    }
}

/// A second factor as the user presented it. Its `Debug` hides the code.
#[derive(Clone)]
pub enum SecondFactor {
    /// A code from the authenticator app (`"123456"`, spaces allowed).
    Totp(String),
    /// One of the recovery codes (`"abcd-efgh-jkmn"`, any case, hyphens optional).
    RecoveryCode(String),
}

impl fmt::Debug for SecondFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Totp(_) => f.write_str("Totp(<redacted>)"),
            Self::RecoveryCode(_) => f.write_str("RecoveryCode(<redacted>)"),
        }
    }
}

/// Which kind of second factor was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FactorUsed {
    /// A TOTP code.
    Totp,
    /// A recovery code (now used up).
    RecoveryCode,
    /// A factor the caller verified (a passkey), with its `amr` value.
    Verified(&'static str),
}

impl FactorUsed {
    /// The `amr` value (RFC 8176) to record in the credential: `"otp"` for TOTP, `"rc"` for a
    /// recovery code (both count as a second factor, see `auth_core::SECOND_FACTOR_AMR`).
    pub fn amr(self) -> &'static str {
        match self {
            Self::Totp => "otp",
            Self::RecoveryCode => "rc",
            Self::Verified(amr) => amr,
        }
    }
}

/// What enrolment shows the user once: the secret (base32, to type in), the `otpauth://` URI and
/// its QR code (SVG). Its `Debug` hides all three (each contains the secret).
#[derive(Clone, Serialize)]
pub struct TotpSetup {
    /// The secret in RFC 4648 base32, without padding.
    pub secret: String,
    /// The `otpauth://totp/...` key URI.
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

impl fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpSetup")
            .field("secret", &"<redacted>")
            .field("otpauth_uri", &"<redacted>")
            .field("qr_svg", &"<redacted>")
            .finish()
    }
}

/// A user's MFA state, for an account page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct MfaStatus {
    /// Whether a confirmed factor guards sign-in.
    pub enabled: bool,
    /// Whether a TOTP enrolment was started and not confirmed yet.
    pub pending: bool,
    /// The usable methods: `["totp", "recovery_code"]` when enabled, else empty.
    pub methods: Vec<String>,
    /// Unused recovery codes (0 when MFA is not enabled).
    pub recovery_codes_remaining: u32,
    /// When the factor was confirmed.
    pub enabled_at: Option<DateTime<Utc>>,
}

/// A counted attempt at a challenge, between [`MfaService::begin_attempt`] and
/// [`MfaService::finish_attempt`].
#[derive(Debug)]
pub struct ChallengeAttempt {
    hash: String,
    challenge: MfaChallenge,
}

impl ChallengeAttempt {
    /// Whose challenge it is.
    pub fn user_id(&self) -> &UserId {
        &self.challenge.user_id
    }
}

/// A challenge completed with a valid second factor: what the sign-in flow needs to finish.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CompletedChallenge {
    /// The user who signed in.
    pub user_id: UserId,
    /// The sign-in flow to complete (as given to [`MfaService::create_challenge`]).
    pub flow: String,
    /// The flow's context (as given to [`MfaService::create_challenge`]).
    pub context: serde_json::Value,
    /// When the password was checked (the `auth_time` of the sign-in).
    pub created_at: DateTime<Utc>,
    /// The factor that completed it.
    pub factor: FactorUsed,
}

/// MFA for one application: TOTP enrolment and verification, recovery codes, and the sign-in
/// challenges between "the password was right" and "the second factor was right".
///
/// It holds no web-framework type: adapters call it and map its [`AuthError`]s. Time is never read
/// here: every method that decides by time takes `now`. Its `Debug` leaves the key out.
///
/// Wrong codes are not rate-limited here beyond a challenge's attempt limit: put the account
/// routes that call [`MfaService::confirm_totp`] behind the application's rate limiting.
///
/// ```
/// use std::sync::Arc;
/// use auth_core::{AuthError, UserId};
/// use auth_mfa::{MemoryMfaStore, MfaConfig, MfaKey, MfaService, MfaStore, SecondFactor, Totp};
/// use chrono::DateTime;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), AuthError> {
/// let store = Arc::new(MemoryMfaStore::new());
/// let service = MfaService::new(store.clone(), MfaKey::generate(), MfaConfig::default());
/// let (alice, now) = (UserId::new("alice"), DateTime::from_timestamp(1_700_000_000, 0).unwrap());
/// # let factor = store.totp_factor(&alice).await?;
/// # assert!(factor.is_none());
/// # service.begin_totp_setup(&alice, "alice", now).await?;
/// # let factor = store.totp_factor(&alice).await?.unwrap();
/// # let app = Totp::new(service.key().open(&factor.sealed_secret, alice.as_str().as_bytes())?);
/// # let codes = service.confirm_totp(&alice, &app.code_at(now.timestamp()), now).await?;
/// // Sign-in: the password was right and MFA is enabled.
/// let token = service.create_challenge(&alice, "web", serde_json::json!({}), now).await?;
/// // The client posts `mfa_token` and a code.
/// let later = now + chrono::Duration::seconds(40);
/// let done = service.attempt_challenge(&token, &SecondFactor::Totp(app.code_at(later.timestamp())), later).await?;
/// assert_eq!((done.user_id, done.factor.amr()), (alice, "otp"));
/// assert!(matches!(
///     service.attempt_challenge(&token, &SecondFactor::RecoveryCode(codes[0].clone()), later).await,
///     Err(AuthError::InvalidToken(_))
/// ), "single use");
/// # Ok(())
/// # }
/// ```
pub struct MfaService {
    store: Arc<dyn MfaStore>,
    key: MfaKey,
    config: MfaConfig,
}

impl fmt::Debug for MfaService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaService")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn conflict(message: &str) -> AuthError {
    AuthError::Conflict(vec![FieldError::new("mfa", message)])
}

const ALREADY_ENABLED: &str = "MFA is already enabled";
const NOT_PENDING: &str = "no TOTP setup is pending";
const NOT_ENABLED: &str = "MFA is not enabled";

/// The additional data a user's TOTP secret is sealed with: the user id.
fn aad(user_id: &UserId) -> &[u8] {
    user_id.as_str().as_bytes()
}

impl MfaService {
    /// A service over `store`, sealing secrets and keying recovery-code hashes with `key`.
    pub fn new(store: Arc<dyn MfaStore>, key: MfaKey, config: MfaConfig) -> Self {
        Self { store, key, config }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn MfaStore> {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &MfaConfig {
        &self.config
    }

    /// The server key.
    pub fn key(&self) -> &MfaKey {
        &self.key
    }

    /// Whether the user has a confirmed factor (sign-in then needs a second factor).
    pub async fn is_enabled(&self, user_id: &UserId) -> Result<bool, AuthError> {
        Ok(self.store.totp_factor(user_id).await?.is_some_and(|factor| factor.is_active()))
    }

    /// The user's MFA state.
    pub async fn status(&self, user_id: &UserId) -> Result<MfaStatus, AuthError> {
        let factor = self.store.totp_factor(user_id).await?;
        let enabled_at = factor.as_ref().and_then(|factor| factor.confirmed_at);
        let enabled = enabled_at.is_some();
        let recovery_codes_remaining =
            if enabled { self.store.remaining_recovery_codes(user_id).await? } else { 0 };
        Ok(MfaStatus {
            enabled,
            pending: factor.is_some() && !enabled,
            methods: if enabled { vec!["totp".to_owned(), "recovery_code".to_owned()] } else { Vec::new() },
            recovery_codes_remaining,
            enabled_at,
        })
    }

    /// Starts TOTP enrolment: a new 160-bit secret, stored sealed as the user's pending factor
    /// (replacing a pending one), and what to show the user to add it to an authenticator app.
    /// `account_name` is the label the app shows under the issuer (the username or email).
    ///
    /// A user with MFA enabled gets [`AuthError::Conflict`] (`"MFA is already enabled"`): disable
    /// it first.
    pub async fn begin_totp_setup(
        &self,
        user_id: &UserId,
        account_name: &str,
        now: DateTime<Utc>,
    ) -> Result<TotpSetup, AuthError> {
        let totp = Totp::new(Totp::generate_secret());
        let otpauth_uri = totp.otpauth_uri(&self.config.issuer, account_name);
        let setup = TotpSetup { secret: totp.secret_base32(), qr_svg: qr_svg(&otpauth_uri)?, otpauth_uri };
        let sealed = self.key.seal(totp.secret(), aad(user_id))?;
        if !self.store.put_pending_totp(TotpFactor::pending(user_id.clone(), sealed, now)).await? {
            return Err(conflict(ALREADY_ENABLED));
        }
        Ok(setup)
    }

    /// Confirms enrolment with a first code from the app: the pending factor becomes active (that
    /// code's step counts as used) and fresh recovery codes replace any old ones. Returns the
    /// recovery codes in plain text: show them once, they are stored only hashed.
    ///
    /// Errors: [`AuthError::Conflict`] when no setup is pending (`"no TOTP setup is pending"`,
    /// also when a concurrent setup replaced it) or MFA is already enabled (`"MFA is already
    /// enabled"`); [`AuthError::InvalidInput`] on field `code` when the code is wrong.
    pub async fn confirm_totp(
        &self,
        user_id: &UserId,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, AuthError> {
        let factor = match self.store.totp_factor(user_id).await? {
            None => return Err(conflict(NOT_PENDING)),
            Some(factor) if factor.is_active() => return Err(conflict(ALREADY_ENABLED)),
            Some(factor) => factor,
        };
        let totp = self.open_factor(&factor)?;
        let Some(step) = totp.matching_step(code, now.timestamp(), self.config.skew_steps) else {
            return Err(AuthError::InvalidInput(vec![FieldError::new("code", "the code is not valid")]));
        };
        let (codes, hashes) = self.new_recovery_codes(user_id);
        if !self.store.activate_totp(user_id, &factor.sealed_secret, step, hashes, now).await? {
            return Err(conflict(NOT_PENDING));
        }
        Ok(codes)
    }

    /// Whether this service's key opens `factor`'s sealed secret: a start-up check that the
    /// configured key is the one the stored factors were sealed with.
    pub fn can_open(&self, factor: &TotpFactor) -> bool {
        self.open_factor(factor).is_ok()
    }

    /// Checks a second factor of a user with MFA enabled, and uses it up: a TOTP code's step (and
    /// every earlier one) is never accepted again, a recovery code works once.
    ///
    /// `Ok(None)` when it is not accepted: a wrong or malformed code, a replayed TOTP code, a used
    /// or unknown recovery code, or MFA not enabled. `Err` only for infrastructure failures (a
    /// sealed secret that does not open with this key is one: not the user's fault).
    pub async fn verify(
        &self,
        user_id: &UserId,
        factor: &SecondFactor,
        now: DateTime<Utc>,
    ) -> Result<Option<FactorUsed>, AuthError> {
        let Some(stored) = self.store.totp_factor(user_id).await?.filter(TotpFactor::is_active) else {
            return Ok(None);
        };
        match factor {
            SecondFactor::Totp(code) => {
                let totp = self.open_factor(&stored)?;
                let Some(step) = totp.matching_step(code, now.timestamp(), self.config.skew_steps) else {
                    return Ok(None);
                };
                let fresh = self.store.use_totp_step(user_id, step).await?;
                Ok(fresh.then_some(FactorUsed::Totp))
            }
            SecondFactor::RecoveryCode(code) => {
                let Some(normalized) = normalize_recovery_code(code) else { return Ok(None) };
                let hash = self.key.recovery_code_hash(user_id, &normalized);
                let used = self.store.use_recovery_code(user_id, &hash, now).await?;
                Ok(used.then_some(FactorUsed::RecoveryCode))
            }
        }
    }

    /// Replaces the user's recovery codes (used or not) with fresh ones, returned in plain text
    /// (show them once). [`AuthError::Conflict`] (`"MFA is not enabled"`) without an active
    /// factor.
    pub async fn regenerate_recovery_codes(
        &self,
        user_id: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, AuthError> {
        if !self.is_enabled(user_id).await? {
            return Err(conflict(NOT_ENABLED));
        }
        let (codes, hashes) = self.new_recovery_codes(user_id);
        self.store.replace_recovery_codes(user_id, hashes, now).await?;
        Ok(codes)
    }

    /// Turns MFA off: deletes the user's factor (active or pending), recovery codes and pending
    /// sign-in challenges. Returns whether MFA was enabled.
    pub async fn disable(&self, user_id: &UserId) -> Result<bool, AuthError> {
        let was_enabled = self.store.delete_factors(user_id).await?;
        self.store.delete_challenges_for_user(user_id).await?;
        Ok(was_enabled)
    }

    /// Starts the MFA step of a sign-in whose password was right: a new challenge for `flow` (with
    /// the `context` the flow needs to complete, never a secret) that expires at
    /// `now + challenge_ttl`. Returns the `mfa_token` for the client (`mfa_` and 256 random bits,
    /// base64url); the store keeps only its hash.
    pub async fn create_challenge(
        &self,
        user_id: &UserId,
        flow: &str,
        context: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<String, AuthError> {
        let mut random = [0u8; MFA_TOKEN_BYTES];
        rand::fill(&mut random);
        let token = format!("{MFA_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(random));
        let challenge = MfaChallenge::new(
            challenge_hash(&token),
            user_id.clone(),
            flow,
            context,
            now,
            auth_core::saturating_add(now, self.config.challenge_ttl),
        );
        self.store.create_challenge(challenge).await?;
        Ok(token)
    }

    /// Completes a challenge with a second factor: [`begin_attempt`](Self::begin_attempt) then
    /// [`finish_attempt`](Self::finish_attempt). Each call counts one attempt before the factor
    /// is checked; the challenge is single use.
    ///
    /// Errors: [`AuthError::InvalidToken`] ([`TokenRejection::Expired`]) for an unknown, expired
    /// or exhausted `mfa_token` (all alike); [`AuthError::InvalidCredentials`] for a factor that
    /// is not accepted (the attempt stays counted: after `max_attempts` the token is dead, even
    /// for the right code); [`AuthError::InvalidToken`] ([`TokenRejection::Revoked`]) when a
    /// concurrent attempt completed it first.
    pub async fn attempt_challenge(
        &self,
        mfa_token: &str,
        factor: &SecondFactor,
        now: DateTime<Utc>,
    ) -> Result<CompletedChallenge, AuthError> {
        let attempt = self.begin_attempt(mfa_token, now).await?;
        self.finish_attempt(attempt, factor, now).await
    }

    /// The first half of [`attempt_challenge`](Self::attempt_challenge): counts one attempt and
    /// returns whose challenge it is, so that the caller can apply per-account limits before the
    /// factor is checked.
    pub async fn begin_attempt(
        &self,
        mfa_token: &str,
        now: DateTime<Utc>,
    ) -> Result<ChallengeAttempt, AuthError> {
        let hash = challenge_hash(mfa_token);
        let Some(challenge) =
            self.store.start_challenge_attempt(&hash, self.config.max_attempts, now).await?
        else {
            return Err(AuthError::InvalidToken(TokenRejection::Expired));
        };
        Ok(ChallengeAttempt { hash, challenge })
    }

    /// The second half of [`attempt_challenge`](Self::attempt_challenge): checks the factor and
    /// consumes the challenge.
    pub async fn finish_attempt(
        &self,
        attempt: ChallengeAttempt,
        factor: &SecondFactor,
        now: DateTime<Utc>,
    ) -> Result<CompletedChallenge, AuthError> {
        let ChallengeAttempt { hash, challenge } = attempt;
        let Some(used) = self.verify(&challenge.user_id, factor, now).await? else {
            return Err(AuthError::InvalidCredentials);
        };
        if !self.store.consume_challenge(&hash).await? {
            return Err(AuthError::InvalidToken(TokenRejection::Revoked));
        }
        Ok(CompletedChallenge {
            user_id: challenge.user_id,
            flow: challenge.flow,
            context: challenge.context,
            created_at: challenge.created_at,
            factor: used,
        })
    }

    /// Completes an attempt whose second factor the caller verified for the attempt's user (a
    /// passkey assertion): consumes the challenge, which records `amr` as the factor used.
    pub async fn finish_attempt_verified(
        &self,
        attempt: ChallengeAttempt,
        amr: &'static str,
    ) -> Result<CompletedChallenge, AuthError> {
        let ChallengeAttempt { hash, challenge } = attempt;
        if !self.store.consume_challenge(&hash).await? {
            return Err(AuthError::InvalidToken(TokenRejection::Revoked));
        }
        Ok(CompletedChallenge {
            user_id: challenge.user_id,
            flow: challenge.flow,
            context: challenge.context,
            created_at: challenge.created_at,
            factor: FactorUsed::Verified(amr),
        })
    }

    /// The user's TOTP generator: the factor's secret, unsealed. A secret that does not open is
    /// an [`AuthError::Backend`] (a changed server key, a row copied between users).
    fn open_factor(&self, factor: &TotpFactor) -> Result<Totp, AuthError> {
        Ok(Totp::new(self.key.open(&factor.sealed_secret, aad(&factor.user_id))?))
    }

    /// Fresh recovery codes and their stored hashes.
    fn new_recovery_codes(&self, user_id: &UserId) -> (Vec<String>, Vec<String>) {
        let codes = generate_recovery_codes(self.config.recovery_codes);
        let hashes = codes
            .iter()
            .filter_map(|code| normalize_recovery_code(code))
            .map(|normalized| self.key.recovery_code_hash(user_id, &normalized))
            .collect();
        (codes, hashes)
    }
}
