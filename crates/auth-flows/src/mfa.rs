//! Multi-factor authentication in every sign-in path: for a user with an active factor, a correct
//! password yields an MFA step (`{mfa_required, mfa_token, methods}`) instead of a credential, and
//! [`AuthService::complete_mfa`] finishes the very flow that started it (mobile tokens, web cookie,
//! opaque token or cookie session) once a TOTP code or a recovery code is right. Enrolment,
//! status, recovery-code regeneration and disabling live here too; the factor logic itself is
//! [`auth_mfa::MfaService`].

// Without a credential feature no sign-in flow exists: code after a flow is unreachable.
#![cfg_attr(
    not(any(feature = "jwt", feature = "opaque-tokens", feature = "sessions")),
    allow(unreachable_code, unused_variables)
)]

use std::fmt;

use auth_core::audit::AuditKind;
use auth_core::{AuthError, AuthUser, FieldError, Principal, UserId, UserStore};
use auth_mfa::{FactorUsed, MfaService, MfaStatus, SecondFactor, TotpSetup};
use serde::{Deserialize, Serialize};

use crate::pipeline::pwd;
use crate::service::user_credential;
use crate::{AuthService, ClientInfo, CompletedSignIn, MfaRequired, SignInFlow};

/// What MFA changes do to the user's *other* sessions (grants, opaque tokens, cookie sessions;
/// the one making the change survives).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MfaPolicy {
    /// Revoke the other sessions when MFA is enabled (default `false`).
    pub revoke_on_enable: bool,
    /// Revoke the other sessions when MFA is disabled (default `true`).
    pub revoke_on_disable: bool,
    /// Revoke the other sessions when a recovery code is used (default `false`).
    pub revoke_on_recovery_code: bool,
}

impl Default for MfaPolicy {
    fn default() -> Self {
        Self { revoke_on_enable: false, revoke_on_disable: true, revoke_on_recovery_code: false }
    }
}

impl MfaPolicy {
    /// Sets [`MfaPolicy::revoke_on_enable`].
    pub fn revoke_on_enable(mut self, revoke: bool) -> Self {
        self.revoke_on_enable = revoke;
        self
    }

    /// Sets [`MfaPolicy::revoke_on_disable`].
    pub fn revoke_on_disable(mut self, revoke: bool) -> Self {
        self.revoke_on_disable = revoke;
        self
    }

    /// Sets [`MfaPolicy::revoke_on_recovery_code`].
    pub fn revoke_on_recovery_code(mut self, revoke: bool) -> Self {
        self.revoke_on_recovery_code = revoke;
        self
    }
}

#[derive(Debug)]
pub(crate) struct Mfa {
    pub(crate) service: MfaService,
    pub(crate) policy: MfaPolicy,
    pub(crate) methods: Vec<std::sync::Arc<dyn SecondFactorMethod>>,
}

/// A second factor besides TOTP and recovery codes that the MFA step offers (passkeys:
/// `auth-webauthn`), registered with
/// [`AuthServiceBuilder::second_factor_method`](crate::AuthServiceBuilder::second_factor_method).
/// The MFA step is still due for users with MFA on (a confirmed TOTP factor); it lists the method
/// in `methods` for users who have it, with what the client needs under `challenges`.
#[async_trait::async_trait]
pub trait SecondFactorMethod: Send + Sync + fmt::Debug + 'static {
    /// Its name in `methods`, in `challenges`, and the field of `POST /api/auth/mfa/verify` that
    /// carries its proof: `webauthn`.
    fn name(&self) -> &'static str;

    /// What the client needs to use it in `user`'s MFA step (a WebAuthn challenge), or `None`
    /// when the user has no such factor.
    async fn challenge(&self, user: &UserId) -> Result<Option<serde_json::Value>, AuthError>;

    /// Checks the client's `proof` for `user`: the `amr` value it proves (`hwk`, `swk`), or
    /// `None` when it is wrong (counted as a failed second factor).
    async fn verify(
        &self,
        user: &UserId,
        proof: &serde_json::Value,
    ) -> Result<Option<&'static str>, AuthError>;
}

/// What the challenge stores besides the flow: who was signing in, and how they passed the first
/// factor (never a secret). Challenges stored before `amr` was recorded were password sign-ins.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChallengeContext {
    #[serde(flatten)]
    flow: SignInFlow,
    user_agent: Option<String>,
    ip: Option<String>,
    #[serde(default = "pwd")]
    amr: Vec<String>,
}

/// `POST /api/auth/mfa/verify` body: the `mfa_token` and exactly one of `code` (TOTP),
/// `recovery_code` and `webauthn` (a passkey, when offered).
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaVerifyRequest {
    /// The token of the sign-in's MFA step.
    pub mfa_token: String,
    /// A 6-digit TOTP code.
    #[serde(default)]
    pub code: Option<String>,
    /// A recovery code (single use).
    #[serde(default)]
    pub recovery_code: Option<String>,
    /// A passkey assertion for the step's `challenges.webauthn`: `{challenge_id, credential}`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub webauthn: Option<serde_json::Value>,
}

/// `POST /api/auth/mfa/totp/confirm` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaConfirmRequest {
    /// The current code of the authenticator app.
    pub code: String,
}

/// Re-authentication for `POST /api/auth/mfa/totp/disable` and `POST /api/auth/mfa/recovery-codes`:
/// the password and exactly one of `code` and `recovery_code`.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaReauthRequest {
    /// The user's password.
    pub password: String,
    /// A current TOTP code.
    #[serde(default)]
    pub code: Option<String>,
    /// A recovery code (single use).
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// Fresh recovery codes: shown once, stored only as keyed hashes.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryCodes {
    /// The codes, each usable once.
    pub recovery_codes: Vec<String>,
}

macro_rules! redacted {
    ($($ty:ident),*) => {$(
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty)).finish_non_exhaustive()
            }
        }
    )*};
}
redacted!(MfaVerifyRequest, MfaConfirmRequest, MfaReauthRequest, RecoveryCodes);

/// Exactly one of a TOTP code and a recovery code.
pub(crate) fn second_factor(
    code: Option<&str>,
    recovery_code: Option<&str>,
) -> Result<SecondFactor, AuthError> {
    match (code.filter(|c| !c.trim().is_empty()), recovery_code.filter(|c| !c.trim().is_empty())) {
        (Some(code), None) => Ok(SecondFactor::Totp(code.to_owned())),
        (None, Some(code)) => Ok(SecondFactor::RecoveryCode(code.to_owned())),
        _ => Err(AuthError::invalid_field("code", "give exactly one of `code` and `recovery_code`")),
    }
}

/// The methods a user with MFA can use at the MFA step.
fn methods() -> Vec<String> {
    vec!["totp".to_owned(), "recovery_code".to_owned()]
}

impl<S: UserStore> AuthService<S> {
    /// The MFA service, when MFA is enabled.
    pub fn mfa(&self) -> Option<&MfaService> {
        self.mfa.as_ref().map(|m| &m.service)
    }

    fn mfa_enabled(&self) -> Result<&Mfa, AuthError> {
        self.mfa.as_ref().ok_or(AuthError::NotFound)
    }

    /// The MFA step of the sign-in pipeline: for a user with an active factor, a new challenge
    /// bound to `flow` (and to the first factor's `amr`), else `None`.
    pub(crate) async fn mfa_step(
        &self,
        user: &S::User,
        flow: &SignInFlow,
        amr: &[String],
        client: &ClientInfo,
    ) -> Result<Option<MfaRequired>, AuthError> {
        let Some(mfa) = &self.mfa else { return Ok(None) };
        if !mfa.service.is_enabled(&user.id()).await? {
            return Ok(None);
        }
        let context = ChallengeContext {
            flow: flow.clone(),
            user_agent: client.user_agent.clone(),
            ip: client.ip.clone(),
            amr: amr.to_vec(),
        };
        let context = serde_json::to_value(context).map_err(AuthError::backend)?;
        let now = self.clock.now();
        let mfa_token = mfa.service.create_challenge(&user.id(), flow.tag(), context, now).await?;
        let mut offered = methods();
        let mut challenges = serde_json::Map::new();
        for method in &mfa.methods {
            if let Some(challenge) = method.challenge(&user.id()).await? {
                offered.push(method.name().to_owned());
                challenges.insert(method.name().to_owned(), challenge);
            }
        }
        Ok(Some(MfaRequired {
            mfa_required: true,
            mfa_token,
            methods: offered,
            expires_in: mfa.service.config().challenge_ttl.num_seconds(),
            challenges,
        }))
    }

    /// Completes an MFA step: checks the code (or recovery code) against the challenge of
    /// `mfa_token` and issues the credential of the flow that started it, with `amr` `["pwd",
    /// "otp"]` (or `["pwd", "rc"]`). A wrong code is a 401 `invalid_credentials` and counts
    /// against the token's attempts; an unknown, expired, used or exhausted token is a 401
    /// `token_not_valid`.
    pub async fn complete_mfa(
        &self,
        request: &MfaVerifyRequest,
    ) -> Result<CompletedSignIn<S::User>, AuthError> {
        let mfa = self.mfa_enabled()?;
        let now = self.clock.now();
        let completed = match &request.webauthn {
            Some(proof) => self.complete_mfa_with_method(mfa, request, proof).await?,
            None => self.complete_mfa_with_code(mfa, request).await?,
        };
        self.finish_mfa(mfa, completed, now).await
    }

    /// The MFA step completed by a [`SecondFactorMethod`]'s proof.
    async fn complete_mfa_with_method(
        &self,
        mfa: &Mfa,
        request: &MfaVerifyRequest,
        proof: &serde_json::Value,
    ) -> Result<auth_mfa::CompletedChallenge, AuthError> {
        if request.code.is_some() || request.recovery_code.is_some() {
            return Err(AuthError::invalid_field("webauthn", "send one second factor"));
        }
        let method =
            mfa.methods.iter().find(|m| m.name() == "webauthn").ok_or_else(|| {
                AuthError::invalid_field("webauthn", "is not a second factor of this server")
            })?;
        let attempt = mfa.service.begin_attempt(&request.mfa_token, self.clock.now()).await?;
        let user_id = attempt.user_id().clone();
        let limited = self.begin_second_factor(&user_id).await?;
        match method.verify(&user_id, proof).await {
            Ok(Some(amr)) => {
                self.sign_in_succeeded(limited).await;
                mfa.service.finish_attempt_verified(attempt, amr).await
            }
            Ok(None) => {
                self.sign_in_failed(limited).await;
                Err(AuthError::InvalidCredentials)
            }
            Err(error) => {
                self.sign_in_abandoned(limited).await;
                Err(error)
            }
        }
    }

    /// The MFA step completed by a TOTP or recovery code.
    async fn complete_mfa_with_code(
        &self,
        mfa: &Mfa,
        request: &MfaVerifyRequest,
    ) -> Result<auth_mfa::CompletedChallenge, AuthError> {
        let factor = second_factor(request.code.as_deref(), request.recovery_code.as_deref())?;
        let now = self.clock.now();
        let attempt = mfa.service.begin_attempt(&request.mfa_token, now).await?;
        let user_id = attempt.user_id().clone();
        let limited = self.begin_second_factor(&user_id).await?;
        let completed = match mfa.service.finish_attempt(attempt, &factor, now).await {
            Ok(completed) => {
                self.sign_in_succeeded(limited).await;
                completed
            }
            Err(AuthError::InvalidCredentials) => {
                self.sign_in_failed(limited).await;
                return Err(AuthError::InvalidCredentials);
            }
            Err(error) => {
                self.sign_in_abandoned(limited).await;
                return Err(error);
            }
        };
        Ok(completed)
    }

    /// After the second factor: the credential of the flow that started the step.
    async fn finish_mfa(
        &self,
        mfa: &Mfa,
        completed: auth_mfa::CompletedChallenge,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<CompletedSignIn<S::User>, AuthError> {
        let context: ChallengeContext =
            serde_json::from_value(completed.context.clone()).map_err(AuthError::backend)?;
        let user = self
            .store()
            .find_by_id(&completed.user_id)
            .await?
            .filter(AuthUser::is_active)
            .ok_or(AuthError::InvalidCredentials)?;
        if completed.factor == FactorUsed::RecoveryCode {
            self.audit(AuditKind::RecoveryCodeUsed, Some(&user.id()), &[("during", "sign_in")]).await;
            if mfa.policy.revoke_on_recovery_code {
                self.revoke_other_sessions(&user.id(), None).await?;
            }
        }
        self.accounts.record_login(&user.id(), now).await?;
        // The cached user shows the new last sign-in (`/me`).
        self.user_state.invalidate(&user.id());
        let mut amr = context.amr;
        amr.push(completed.factor.amr().to_owned());
        let detail = [("flow", completed.flow.as_str()), ("amr", completed.factor.amr())];
        self.audit(AuditKind::SignInSucceeded, Some(&user.id()), &detail).await;
        let client = ClientInfo { user_agent: context.user_agent, ip: context.ip, device: None };
        self.issue_credential(user, context.flow, &client, amr, now).await
    }

    /// The principal's MFA status.
    pub async fn mfa_status(&self, principal: &Principal) -> Result<MfaStatus, AuthError> {
        user_credential(principal)?;
        self.mfa_enabled()?.service.status(&principal.user_id).await
    }

    /// Starts TOTP enrolment: a new pending secret (replacing a pending one), with its
    /// `otpauth://` URI and QR code. 409 when MFA is already on.
    ///
    /// Enrolling a factor decides who can sign in later, so it needs a recent sign-in or `proof`
    /// (see [`AuthService::require_recent_authentication`]).
    pub async fn begin_totp_setup(
        &self,
        principal: &Principal,
        proof: &crate::Reauthentication,
    ) -> Result<TotpSetup, AuthError> {
        user_credential(principal)?;
        let mfa = self.mfa_enabled()?;
        self.require_recent_authentication(principal, proof).await?;
        let user = self.current_user(principal).await?;
        mfa.service.begin_totp_setup(&user.id(), user.username(), self.clock.now()).await
    }

    /// Confirms enrolment with a first code: MFA is on, and the returned recovery codes are shown
    /// once. Recorded as a security event; revokes the user's other sessions when
    /// [`MfaPolicy::revoke_on_enable`].
    pub async fn confirm_totp(&self, principal: &Principal, code: &str) -> Result<RecoveryCodes, AuthError> {
        user_credential(principal)?;
        let mfa = self.mfa_enabled()?;
        let recovery_codes = mfa.service.confirm_totp(&principal.user_id, code, self.clock.now()).await?;
        self.audit(AuditKind::MfaEnabled, Some(&principal.user_id), &[]).await;
        if mfa.policy.revoke_on_enable {
            self.revoke_other_sessions(&principal.user_id, principal.grant_id.as_deref()).await?;
        }
        Ok(RecoveryCodes { recovery_codes })
    }

    /// The second factor of a re-authentication, for a user with MFA on (without MFA: nothing to
    /// check): exactly one of `code` and `recovery_code`, right (400 naming the field otherwise; a
    /// wrong one counts as a failed second factor; a used recovery code is audited with `during`).
    pub(crate) async fn verify_second_factor_if_enabled(
        &self,
        user_id: &UserId,
        code: Option<&str>,
        recovery: Option<&str>,
        during: &str,
    ) -> Result<(), AuthError> {
        let Some(mfa) = &self.mfa else { return Ok(()) };
        if !mfa.service.is_enabled(user_id).await? {
            return Ok(());
        }
        if code.is_none() && recovery.is_none() {
            return Err(AuthError::InvalidInput(vec![FieldError::new(
                "code",
                "this account uses two-factor authentication: give a code or a recovery code",
            )]));
        }
        let factor = second_factor(code, recovery)?;
        let field = if code.is_some() { "code" } else { "recovery_code" };
        self.check_second_factor(mfa, user_id, &factor, field, during).await
    }

    /// Checks a signed-in (or link-holding) user's second factor, counted against the user's
    /// consecutive second-factor failures: 400 on `field` when wrong; a used recovery code is
    /// audited with `during`.
    async fn check_second_factor(
        &self,
        mfa: &Mfa,
        user_id: &UserId,
        factor: &SecondFactor,
        field: &str,
        during: &str,
    ) -> Result<(), AuthError> {
        let attempt = self.begin_second_factor(user_id).await?;
        match mfa.service.verify(user_id, factor, self.clock.now()).await {
            Ok(Some(used)) => {
                self.sign_in_succeeded(attempt).await;
                if used == FactorUsed::RecoveryCode {
                    self.audit(AuditKind::RecoveryCodeUsed, Some(user_id), &[("during", during)]).await;
                }
                Ok(())
            }
            Ok(None) => {
                self.sign_in_failed(attempt).await;
                Err(AuthError::invalid_field(field, "the code is not valid"))
            }
            Err(error) => {
                self.sign_in_abandoned(attempt).await;
                Err(error)
            }
        }
    }

    /// Re-authentication before a sensitive MFA change: the password (400 when wrong) and a
    /// current second factor (400 when wrong; a used recovery code is recorded).
    async fn reauthenticate(
        &self,
        principal: &Principal,
        request: &MfaReauthRequest,
    ) -> Result<(), AuthError> {
        user_credential(principal)?;
        let mfa = self.mfa_enabled()?;
        let factor = second_factor(request.code.as_deref(), request.recovery_code.as_deref())?;
        self.check_current_password(&principal.user_id, &request.password, "password").await?;
        let field = if matches!(factor, SecondFactor::Totp(_)) { "code" } else { "recovery_code" };
        self.check_second_factor(mfa, &principal.user_id, &factor, field, "reauthentication").await
    }

    /// Turns MFA off after re-authentication (password and a current code). Recorded as a
    /// security event; revokes the user's other sessions unless [`MfaPolicy::revoke_on_disable`]
    /// is off.
    pub async fn disable_mfa(
        &self,
        principal: &Principal,
        request: &MfaReauthRequest,
    ) -> Result<(), AuthError> {
        self.reauthenticate(principal, request).await?;
        let mfa = self.mfa_enabled()?;
        mfa.service.disable(&principal.user_id).await?;
        self.audit(AuditKind::MfaDisabled, Some(&principal.user_id), &[]).await;
        if mfa.policy.revoke_on_disable {
            self.revoke_other_sessions(&principal.user_id, principal.grant_id.as_deref()).await?;
        }
        Ok(())
    }

    /// Replaces the recovery codes after re-authentication; the old set stops working.
    pub async fn regenerate_recovery_codes(
        &self,
        principal: &Principal,
        request: &MfaReauthRequest,
    ) -> Result<RecoveryCodes, AuthError> {
        self.reauthenticate(principal, request).await?;
        let mfa = self.mfa_enabled()?;
        let recovery_codes =
            mfa.service.regenerate_recovery_codes(&principal.user_id, self.clock.now()).await?;
        self.audit(AuditKind::RecoveryCodesRegenerated, Some(&principal.user_id), &[]).await;
        Ok(RecoveryCodes { recovery_codes })
    }

    /// An administrator's reset (the user lost their device): removes the user's factors and
    /// recovery codes and signs the user out everywhere. Returns whether MFA was on.
    pub async fn reset_mfa(&self, user_id: &UserId) -> Result<bool, AuthError> {
        let mfa = self.mfa_enabled()?;
        let was_enabled = mfa.service.disable(user_id).await?;
        self.audit(AuditKind::MfaReset, Some(user_id), &[("by", "administrator")]).await;
        self.sign_out_all(user_id).await?;
        Ok(was_enabled)
    }
}
