//! The sign-in pipeline: the one place every sign-in goes through, whatever proved who the user
//! is.
//!
//! A *first factor* (the password today; social login, passkeys and email links are further
//! first factors, each in its own crate) turns a request into a [`FirstFactor`]: this user, these
//! `amr` values (RFC 8176), this authentication time. [`AuthService::sign_in_with`] then applies
//! what every sign-in must: the account checks (active; a verified email address where
//! verification is mandatory), the rate limits, the MFA step for users with a second factor; it
//! issues the credential of the requested [`SignInFlow`] (a mobile token pair, the web flow's
//! refresh cookie, an opaque token or a cookie session), records the sign-in and audits it.
//!
//! ## Writing a first factor
//!
//! A first factor lives outside this crate and uses only its public API: check the sign-in limits
//! before looking at the credential, count every wrong credential with
//! [`AuthService::sign_in_failed`], and hand the user to [`AuthService::sign_in_with`]. Over HTTP,
//! [`AuthEndpoints::sign_in_response`](crate::AuthEndpoints::sign_in_response) answers exactly as
//! the built-in sign-ins do (tokens in the body, the refresh cookie, the session cookies, or the
//! MFA step).
//!
//! This toy factor signs users in with a per-user PIN (amr `pin`); it is tested over HTTP
//! completing each of the four flows and the MFA step (`tests/first_factor.rs`):
//!
#![doc = concat!("```\n", include_str!("pin_factor.rs"), "\n```")]
// Without a credential feature no sign-in flow exists: the matches over flows are empty.
#![cfg_attr(
    not(any(feature = "jwt", feature = "opaque-tokens", feature = "sessions")),
    allow(unreachable_code, unused_variables)
)]

use std::fmt;

use auth_core::audit::AuditKind;
use auth_core::{AuthError, AuthUser, UserStore};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{AuthService, ClientInfo};

/// What a first factor proved: who signed in, how (`amr` values of RFC 8176, e.g. `pwd`), and
/// when. Hand it to [`AuthService::sign_in_with`].
#[derive(Clone)]
#[non_exhaustive]
pub struct FirstFactor<U> {
    /// The user the factor identified and authenticated.
    pub user: U,
    /// How (RFC 8176 `amr` values), e.g. `["pwd"]`.
    pub amr: Vec<String>,
    /// When the user authenticated.
    pub auth_time: DateTime<Utc>,
    /// Whether the factor is also the user's second factor (a passkey with user verification, an
    /// email link where the deployment counts it so): then no MFA step follows.
    pub satisfies_mfa: bool,
}

impl<U> FirstFactor<U> {
    /// `user` authenticated by `amr` at `auth_time`.
    pub fn new<A: Into<String>>(user: U, amr: impl IntoIterator<Item = A>, auth_time: DateTime<Utc>) -> Self {
        Self { user, amr: amr.into_iter().map(Into::into).collect(), auth_time, satisfies_mfa: false }
    }

    /// Marks the factor as multi-factor by itself: the pipeline skips the MFA step.
    pub fn satisfies_mfa(mut self) -> Self {
        self.satisfies_mfa = true;
        self
    }
}

impl<U: AuthUser> fmt::Debug for FirstFactor<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FirstFactor")
            .field("user", &self.user.id())
            .field("amr", &self.amr)
            .field("auth_time", &self.auth_time)
            .finish()
    }
}

/// The credential a sign-in asks for. Stored with an MFA challenge, so that the `mfa_token` of a
/// session sign-in can only ever yield a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "flow", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignInFlow {
    /// The mobile flow: access and refresh token in the body (`POST /api/auth/mobile/sign-in`).
    #[cfg(feature = "jwt")]
    Mobile,
    /// The web flow: the access token in the body, the refresh token in an HttpOnly cookie
    /// (`POST /api/auth/web/sign-in`).
    #[cfg(feature = "jwt")]
    Web,
    /// An opaque token with this name (`POST /api/auth/token/sign-in`).
    #[cfg(feature = "opaque-tokens")]
    Token {
        /// The token's name.
        name: Option<String>,
    },
    /// A cookie session (`POST /api/auth/session/sign-in`).
    #[cfg(feature = "sessions")]
    Session,
}

impl SignInFlow {
    /// The flow named `tag` (`mobile`, `web`, `token` with the token's `name`, `session`) when
    /// compiled in; for a first factor's own routes that take a `flow` field.
    pub fn from_tag(tag: &str, name: Option<String>) -> Option<Self> {
        let _ = &name;
        match tag {
            #[cfg(feature = "jwt")]
            "mobile" => Some(Self::Mobile),
            #[cfg(feature = "jwt")]
            "web" => Some(Self::Web),
            #[cfg(feature = "opaque-tokens")]
            "token" => Some(Self::Token { name }),
            #[cfg(feature = "sessions")]
            "session" => Some(Self::Session),
            _ => None,
        }
    }

    /// Its name in audit events and MFA challenges: `mobile`, `web`, `token` or `session`.
    pub fn tag(&self) -> &'static str {
        match *self {
            #[cfg(feature = "jwt")]
            Self::Mobile => "mobile",
            #[cfg(feature = "jwt")]
            Self::Web => "web",
            #[cfg(feature = "opaque-tokens")]
            Self::Token { .. } => "token",
            #[cfg(feature = "sessions")]
            Self::Session => "session",
        }
    }
}

/// What a sign-in yields: the credential, or the MFA step.
#[derive(Debug)]
pub enum SignInOutcome<T> {
    /// No second factor is due: the flow's credential.
    Complete(T),
    /// The first factor was right and a second factor is due: send it to `POST
    /// /api/auth/mfa/verify`.
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

    /// The outcome with its credential mapped by `f`.
    pub fn map<V>(self, f: impl FnOnce(T) -> V) -> SignInOutcome<V> {
        match self {
            Self::Complete(value) => SignInOutcome::Complete(f(value)),
            Self::MfaRequired(step) => SignInOutcome::MfaRequired(step),
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
    /// What the client needs for a method besides `totp` and `recovery_code`, by method:
    /// `webauthn` → `{challenge_id, options}` for `navigator.credentials.get` (absent when none).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub challenges: serde_json::Map<String, serde_json::Value>,
}

impl fmt::Debug for MfaRequired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaRequired").field("methods", &self.methods).finish_non_exhaustive()
    }
}

/// The credential a completed sign-in issued, of its [`SignInFlow`].
#[non_exhaustive]
pub enum Credential<U> {
    /// Mobile flow: the token pair, in the body.
    #[cfg(feature = "jwt")]
    Mobile(crate::TokenPair),
    /// Web flow: the access token in the body, the refresh token in the cookie.
    #[cfg(feature = "jwt")]
    Web(crate::TokenPair),
    /// An opaque token.
    #[cfg(feature = "opaque-tokens")]
    Token(crate::IssuedOpaqueToken),
    /// A cookie session.
    #[cfg(feature = "sessions")]
    Session(crate::StartedSession<U>),
    #[doc(hidden)]
    #[allow(dead_code)]
    _User(std::convert::Infallible, std::marker::PhantomData<U>),
}

impl<U> Credential<U> {
    fn flow_name(&self) -> &'static str {
        match self {
            #[cfg(feature = "jwt")]
            Self::Mobile(_) => "Mobile",
            #[cfg(feature = "jwt")]
            Self::Web(_) => "Web",
            #[cfg(feature = "opaque-tokens")]
            Self::Token(_) => "Token",
            #[cfg(feature = "sessions")]
            Self::Session(_) => "Session",
            Self::_User(never, _) => match *never {},
        }
    }
}

impl<U> fmt::Debug for Credential<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Credential").field(&self.flow_name()).finish()
    }
}

/// A completed sign-in: the credential of its [`SignInFlow`], and the token of the device cookie
/// that makes this client a known device of the user (see
/// [`AbuseLimits`](crate::AbuseLimits)).
#[non_exhaustive]
pub struct CompletedSignIn<U> {
    /// The credential.
    pub credential: Credential<U>,
    /// The device cookie's value ([`auth_core::DeviceCookie`]); `None` without the `rate-limit`
    /// feature. [`AuthEndpoints::sign_in_response`](crate::AuthEndpoints::sign_in_response) sets it.
    pub device_token: Option<String>,
}

impl<U> CompletedSignIn<U> {
    /// A completed sign-in with `credential` and no device token.
    pub fn new(credential: Credential<U>) -> Self {
        Self { credential, device_token: None }
    }
}

impl<U> fmt::Debug for CompletedSignIn<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompletedSignIn")
            .field("credential", &self.credential)
            .field("device_token", &self.device_token.as_ref().map(|_| ".."))
            .finish()
    }
}

/// Sign-in body: `username` may also be the email.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignInRequest {
    /// Username or email.
    pub username: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for SignInRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignInRequest").field("username", &self.username).finish_non_exhaustive()
    }
}

/// The pipeline issued the credential of another flow than it was asked for: it never does.
#[cfg(any(feature = "jwt", feature = "opaque-tokens", feature = "sessions"))]
pub(crate) fn another_credential() -> AuthError {
    AuthError::backend(std::io::Error::other("the sign-in pipeline issued the credential of another flow"))
}

/// `["pwd"]`: how a password-only sign-in authenticated.
pub(crate) fn pwd() -> Vec<String> {
    vec!["pwd".to_owned()]
}

impl<S: UserStore> AuthService<S> {
    /// The password first factor: counts the attempt against the sign-in limits of the login
    /// and the client (see [`AuthService::begin_sign_in`]; 429 when they refuse, before the
    /// password is looked at), then checks the password (unknown users cost the same as known
    /// ones). A wrong password, an unknown login and an inactive account are all
    /// [`AuthError::InvalidCredentials`], counted as a failed sign-in; a right password resets the
    /// account's consecutive failures.
    pub async fn password_factor(
        &self,
        login: &str,
        password: &str,
    ) -> Result<FirstFactor<S::User>, AuthError> {
        let found = self.store().find_by_login(login).await?;
        let attempt = self.begin_sign_in(login, found.as_ref()).await?;
        match self.accounts.check_password_of(found, password).await {
            Ok(Some(user)) => {
                self.sign_in_succeeded(attempt).await;
                Ok(FirstFactor::new(user, pwd(), self.clock.now()))
            }
            Ok(None) => {
                self.sign_in_failed(attempt).await;
                Err(AuthError::InvalidCredentials)
            }
            // Not evaluated (the hasher is overloaded, the store failed): nothing was learnt.
            Err(error) => {
                self.sign_in_abandoned(attempt).await;
                Err(error)
            }
        }
    }

    /// **The sign-in pipeline**, the extension point of every first factor: given what a first
    /// factor proved, applies the account checks (an inactive user is
    /// [`AuthError::InvalidCredentials`]; an unverified email address where verification is
    /// mandatory is [`AuthError::EmailNotVerified`]) and — for a user with a second factor — the
    /// MFA step, bound to `flow` ([`SignInOutcome::MfaRequired`]; [`AuthService::complete_mfa`]
    /// finishes it). Otherwise it records the sign-in, audits it (`sign_in_succeeded` with the
    /// flow and the `amr`) and issues the credential of `flow` with the factor's `amr` and
    /// `auth_time`, and a device token. A flow whose capability is not configured is
    /// [`AuthError::NotFound`], checked before anything else.
    ///
    /// The rate limits belong to the first factor, which counted its attempt with
    /// [`AuthService::begin_sign_in`] before it checked the credential.
    pub async fn sign_in_with(
        &self,
        factor: FirstFactor<S::User>,
        flow: SignInFlow,
        client: &ClientInfo,
    ) -> Result<SignInOutcome<CompletedSignIn<S::User>>, AuthError> {
        self.flow_available(&flow)?;
        if !factor.user.is_active() {
            return Err(AuthError::InvalidCredentials);
        }
        self.finish_sign_in(factor, flow, client).await
    }

    /// The password sign-in of `flow`: [`AuthService::password_factor`], then the pipeline.
    pub async fn password_sign_in(
        &self,
        request: &SignInRequest,
        flow: SignInFlow,
        client: &ClientInfo,
    ) -> Result<SignInOutcome<CompletedSignIn<S::User>>, AuthError> {
        self.flow_available(&flow)?;
        let factor = self.password_factor(&request.username, &request.password).await?;
        self.finish_sign_in(factor, flow, client).await
    }

    /// The pipeline after the first factor: account checks, the MFA step, the credential.
    async fn finish_sign_in(
        &self,
        factor: FirstFactor<S::User>,
        flow: SignInFlow,
        client: &ClientInfo,
    ) -> Result<SignInOutcome<CompletedSignIn<S::User>>, AuthError> {
        let FirstFactor { user, amr, auth_time, satisfies_mfa } = factor;
        // Only after the first factor, so it reveals nothing to a guesser.
        self.check_email_verified(&user)?;
        #[cfg(feature = "mfa")]
        if !satisfies_mfa && let Some(step) = self.mfa_step(&user, &flow, &amr, client).await? {
            return Ok(SignInOutcome::MfaRequired(step));
        }
        #[cfg(not(feature = "mfa"))]
        let _ = satisfies_mfa;
        self.accounts.record_login(&user.id(), self.clock.now()).await?;
        // The cached user shows the new last sign-in (`/me`).
        self.user_state.invalidate(&user.id());
        let methods = amr.join(" ");
        let detail = [("flow", flow.tag()), ("amr", methods.as_str())];
        self.audit(AuditKind::SignInSucceeded, Some(&user.id()), &detail).await;
        let credential = self.issue_credential(user, flow, client, amr, auth_time).await?;
        Ok(SignInOutcome::Complete(credential))
    }

    /// [`AuthError::NotFound`] when the capability of `flow` is not configured (a first factor
    /// that starts elsewhere, e.g. a redirect to a provider, checks it before it starts).
    pub fn flow_available(&self, flow: &SignInFlow) -> Result<(), AuthError> {
        let available = match *flow {
            #[cfg(feature = "jwt")]
            SignInFlow::Mobile | SignInFlow::Web => self.jwt.is_some(),
            #[cfg(feature = "opaque-tokens")]
            SignInFlow::Token { .. } => self.opaque.is_some(),
            #[cfg(feature = "sessions")]
            SignInFlow::Session => self.sessions.is_some(),
        };
        if available { Ok(()) } else { Err(AuthError::NotFound) }
    }

    /// Issues the credential of `flow` for `user` (already authenticated), in a new grant, with a
    /// device token.
    pub(crate) async fn issue_credential(
        &self,
        user: S::User,
        flow: SignInFlow,
        client: &ClientInfo,
        amr: Vec<String>,
        auth_time: DateTime<Utc>,
    ) -> Result<CompletedSignIn<S::User>, AuthError> {
        // Opaque tokens and sessions take their creation as the authentication time.
        #[cfg(not(feature = "jwt"))]
        let _ = auth_time;
        #[cfg(feature = "rate-limit")]
        let device_token = Some(self.device_token(&user.id()));
        #[cfg(not(feature = "rate-limit"))]
        let device_token = None;
        let credential = match flow {
            #[cfg(feature = "jwt")]
            SignInFlow::Mobile => {
                Credential::Mobile(self.issue_tokens_at(&user, client, amr, auth_time.timestamp()).await?)
            }
            #[cfg(feature = "jwt")]
            SignInFlow::Web => {
                Credential::Web(self.issue_tokens_at(&user, client, amr, auth_time.timestamp()).await?)
            }
            #[cfg(feature = "opaque-tokens")]
            SignInFlow::Token { name } => {
                Credential::Token(self.issue_opaque_token(&user, name, client, amr).await?)
            }
            #[cfg(feature = "sessions")]
            SignInFlow::Session => Credential::Session(self.start_session(user, client, amr).await?),
        };
        Ok(CompletedSignIn { credential, device_token })
    }
}
