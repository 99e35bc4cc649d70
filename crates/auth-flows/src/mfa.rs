//! Multi-factor authentication in every sign-in path: for a user with an active factor, a correct
//! password yields an MFA step (`{mfa_required, mfa_token, methods}`) instead of a credential, and
//! [`JwtAuth::complete_mfa`] finishes the very flow that started it (mobile tokens, web cookie,
//! opaque token or cookie session) once a TOTP code or a recovery code is right. Enrolment,
//! status, recovery-code regeneration and disabling live here too; the factor logic itself is
//! [`auth_mfa::MfaService`].

use std::fmt;

use auth_core::audit::AuditKind;
use auth_core::{AuthError, AuthUser, CredentialMethod, FieldError, Principal, UserId, UserStore};
use auth_mfa::{FactorUsed, MfaService, MfaStatus, SecondFactor, TotpSetup};
use serde::{Deserialize, Serialize};

use crate::abuse::Failure;
use crate::{ClientInfo, IssuedOpaqueToken, JwtAuth, StartedSession, TokenPair};

/// `["pwd"]`: how a password-only sign-in authenticated.
pub(crate) fn pwd() -> Vec<String> {
    vec!["pwd".to_owned()]
}

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
}

/// What a password sign-in yields: the credential, or the MFA step.
#[derive(Debug)]
pub enum SignInOutcome<T> {
    /// The user has no second factor: the flow's credential.
    Complete(T),
    /// The password was right and a second factor is due: send it to `POST /api/auth/mfa/verify`.
    MfaRequired(MfaRequired),
}

impl<T> SignInOutcome<T> {
    /// The credential, when no MFA step is due.
    pub fn complete(self) -> Option<T> {
        match self {
            Self::Complete(value) => Some(value),
            Self::MfaRequired(_) => None,
        }
    }
}

/// The body of a sign-in that needs a second factor: `{mfa_required: true, mfa_token, methods,
/// expires_in}`. No credential is issued yet.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaRequired {
    /// Always `true`.
    pub mfa_required: bool,
    /// The single-use token to send back with the code (short-lived, bound to this sign-in flow,
    /// dead after the configured number of wrong codes).
    pub mfa_token: String,
    /// The second factors the user can give: `totp`, `recovery_code`.
    pub methods: Vec<String>,
    /// Seconds until the `mfa_token` expires.
    pub expires_in: i64,
}

impl fmt::Debug for MfaRequired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaRequired").field("methods", &self.methods).finish_non_exhaustive()
    }
}

/// The sign-in flow an MFA step completes, stored with the challenge (so an `mfa_token` from the
/// session sign-in can only ever yield a session).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "flow", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignInFlow {
    /// `POST /api/auth/mobile/sign-in`: tokens in the body.
    Mobile,
    /// `POST /api/auth/web/sign-in`: access token in the body, refresh token in the cookie.
    Web,
    /// `POST /api/auth/token/sign-in`: an opaque token with this name.
    Token {
        /// The token's name.
        name: Option<String>,
    },
    /// `POST /api/auth/session/sign-in`: a cookie session.
    Session,
}

impl SignInFlow {
    fn tag(&self) -> &'static str {
        match self {
            Self::Mobile => "mobile",
            Self::Web => "web",
            Self::Token { .. } => "token",
            Self::Session => "session",
        }
    }
}

/// What the challenge stores besides the flow: who was signing in (never a secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChallengeContext {
    #[serde(flatten)]
    flow: SignInFlow,
    user_agent: Option<String>,
    ip: Option<String>,
}

/// A sign-in completed by [`JwtAuth::complete_mfa`]: the credential of the flow that started it.
#[non_exhaustive]
pub enum CompletedSignIn<U> {
    /// Mobile flow: the token pair, in the body.
    Mobile(TokenPair),
    /// Web flow: the access token in the body, the refresh token in the cookie.
    Web(TokenPair),
    /// An opaque token.
    Token(IssuedOpaqueToken),
    /// A cookie session.
    Session(StartedSession<U>),
}

impl<U> fmt::Debug for CompletedSignIn<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flow = match self {
            Self::Mobile(_) => "Mobile",
            Self::Web(_) => "Web",
            Self::Token(_) => "Token",
            Self::Session(_) => "Session",
        };
        f.debug_tuple("CompletedSignIn").field(&flow).finish()
    }
}

/// `POST /api/auth/mfa/verify` body: the `mfa_token` and exactly one of `code` (TOTP) and
/// `recovery_code`.
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

impl<S: UserStore> JwtAuth<S> {
    /// Enables MFA: TOTP enrolment and the MFA step in every sign-in path.
    pub fn with_mfa(mut self, service: MfaService, policy: MfaPolicy) -> Self {
        self.mfa = Some(Mfa { service, policy });
        self
    }

    /// The MFA service, when MFA is enabled.
    pub fn mfa(&self) -> Option<&MfaService> {
        self.mfa.as_ref().map(|m| &m.service)
    }

    fn mfa_enabled(&self) -> Result<&Mfa, AuthError> {
        self.mfa.as_ref().ok_or(AuthError::NotFound)
    }

    /// The password step of every sign-in path: the user when no second factor is due (the
    /// sign-in is recorded), else a new challenge bound to `flow`.
    pub(crate) async fn password_step(
        &self,
        login: &str,
        password: &str,
        flow: SignInFlow,
        client: &ClientInfo,
    ) -> Result<Result<S::User, MfaRequired>, AuthError> {
        let found = self.store().find_by_login(login).await?;
        // Failures count per account: the user id, or the login of an unknown user.
        let account =
            found.as_ref().map_or_else(|| format!("login:{}", login.to_lowercase()), |u| u.id().to_string());
        let found_id = found.as_ref().map(AuthUser::id);
        self.check_sign_in_limits(&account).await?;
        let Some(user) = self.accounts.check_password_of(found, password).await? else {
            self.sign_in_failed(&account, found_id.as_ref(), Failure::SignIn).await;
            return Err(AuthError::InvalidCredentials);
        };
        // Only after the right password, so it reveals nothing to a guesser.
        self.check_email_verified(&user)?;
        let now = self.jwt.clock().now();
        let tag = flow.tag();
        if let Some(mfa) = &self.mfa
            && mfa.service.is_enabled(&user.id()).await?
        {
            let context =
                ChallengeContext { flow, user_agent: client.user_agent.clone(), ip: client.ip.clone() };
            let context = serde_json::to_value(context).map_err(AuthError::backend)?;
            let mfa_token = mfa.service.create_challenge(&user.id(), tag, context, now).await?;
            return Ok(Err(MfaRequired {
                mfa_required: true,
                mfa_token,
                methods: methods(),
                expires_in: mfa.service.config().challenge_ttl.num_seconds(),
            }));
        }
        self.accounts.record_login(&user.id(), now).await?;
        self.audit(AuditKind::SignInSucceeded, Some(&user.id()), &[("flow", tag), ("amr", "pwd")]).await;
        Ok(Ok(user))
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
        let factor = second_factor(request.code.as_deref(), request.recovery_code.as_deref())?;
        let now = self.jwt.clock().now();
        let attempt = mfa.service.begin_attempt(&request.mfa_token, now).await?;
        let user_id = attempt.user_id().clone();
        self.check_sign_in_limits(user_id.as_str()).await?;
        let completed = match mfa.service.finish_attempt(attempt, &factor, now).await {
            Err(AuthError::InvalidCredentials) => {
                self.sign_in_failed(user_id.as_str(), Some(&user_id), Failure::SecondFactor).await;
                return Err(AuthError::InvalidCredentials);
            }
            other => other?,
        };
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
        let amr = vec!["pwd".to_owned(), completed.factor.amr().to_owned()];
        let detail = [("flow", completed.flow.as_str()), ("amr", completed.factor.amr())];
        self.audit(AuditKind::SignInSucceeded, Some(&user.id()), &detail).await;
        let client = ClientInfo { user_agent: context.user_agent, ip: context.ip };
        Ok(match context.flow {
            SignInFlow::Mobile => CompletedSignIn::Mobile(self.issue_tokens(&user, &client, amr).await?),
            SignInFlow::Web => CompletedSignIn::Web(self.issue_tokens(&user, &client, amr).await?),
            SignInFlow::Token { name } => {
                CompletedSignIn::Token(self.issue_opaque_token(&user, name, &client, amr).await?)
            }
            SignInFlow::Session => CompletedSignIn::Session(self.start_session(user, &client, amr).await?),
        })
    }

    /// MFA is managed with the user's own credentials: an API key gets 403.
    fn user_credential(principal: &Principal) -> Result<(), AuthError> {
        if principal.method == CredentialMethod::ApiKey { Err(AuthError::Forbidden) } else { Ok(()) }
    }

    /// The principal's MFA status.
    pub async fn mfa_status(&self, principal: &Principal) -> Result<MfaStatus, AuthError> {
        Self::user_credential(principal)?;
        self.mfa_enabled()?.service.status(&principal.user_id).await
    }

    /// Starts TOTP enrolment: a new pending secret (replacing a pending one), with its
    /// `otpauth://` URI and QR code. 409 when MFA is already on.
    pub async fn begin_totp_setup(&self, principal: &Principal) -> Result<TotpSetup, AuthError> {
        Self::user_credential(principal)?;
        let mfa = self.mfa_enabled()?;
        let user = self.current_user(principal).await?;
        mfa.service.begin_totp_setup(&user.id(), user.username(), self.jwt.clock().now()).await
    }

    /// Confirms enrolment with a first code: MFA is on, and the returned recovery codes are shown
    /// once. Recorded as a security event; revokes the user's other sessions when
    /// [`MfaPolicy::revoke_on_enable`].
    pub async fn confirm_totp(&self, principal: &Principal, code: &str) -> Result<RecoveryCodes, AuthError> {
        Self::user_credential(principal)?;
        let mfa = self.mfa_enabled()?;
        let recovery_codes =
            mfa.service.confirm_totp(&principal.user_id, code, self.jwt.clock().now()).await?;
        self.audit(AuditKind::MfaEnabled, Some(&principal.user_id), &[]).await;
        if mfa.policy.revoke_on_enable {
            self.revoke_other_sessions(&principal.user_id, principal.grant_id.as_deref()).await?;
        }
        Ok(RecoveryCodes { recovery_codes })
    }

    /// Re-authentication before a sensitive MFA change: the password (400 when wrong) and a
    /// current second factor (400 when wrong; a used recovery code is recorded).
    async fn reauthenticate(
        &self,
        principal: &Principal,
        request: &MfaReauthRequest,
    ) -> Result<(), AuthError> {
        Self::user_credential(principal)?;
        let mfa = self.mfa_enabled()?;
        let factor = second_factor(request.code.as_deref(), request.recovery_code.as_deref())?;
        self.check_current_password(&principal.user_id, &request.password, "password").await?;
        let now = self.jwt.clock().now();
        match mfa.service.verify(&principal.user_id, &factor, now).await? {
            None => {
                let id = &principal.user_id;
                self.sign_in_failed(id.as_str(), Some(id), Failure::SecondFactor).await;
                Err(AuthError::InvalidInput(vec![FieldError::new(
                    if matches!(factor, SecondFactor::Totp(_)) { "code" } else { "recovery_code" },
                    "the code is not valid",
                )]))
            }
            Some(FactorUsed::RecoveryCode) => {
                self.audit(
                    AuditKind::RecoveryCodeUsed,
                    Some(&principal.user_id),
                    &[("during", "reauthentication")],
                )
                .await;
                Ok(())
            }
            Some(_) => Ok(()),
        }
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
            mfa.service.regenerate_recovery_codes(&principal.user_id, self.jwt.clock().now()).await?;
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

    /// Revokes every session (grant) of the user but `keep` — with its opaque tokens and cookie
    /// sessions, in every process. API keys are machine credentials and are left alone. Returns
    /// how many grants were revoked.
    pub async fn revoke_other_sessions(
        &self,
        user_id: &UserId,
        keep: Option<&str>,
    ) -> Result<u64, AuthError> {
        let now = self.jwt.clock().now();
        let mut revoked = 0;
        for grant in self.grants.active_grants(user_id, now, self.idle_ttl()).await? {
            if Some(grant.id.as_str()) == keep {
                continue;
            }
            self.revoke_grant(&grant.id).await?;
            self.delete_grant_credentials(&grant.id).await?;
            revoked += 1;
        }
        Ok(revoked)
    }
}
