//! Account lifecycle: password change, password reset by email, email verification, profile
//! changes and account deletion.
//!
//! Emails (reset links, verification links, security notices) are built from
//! [`auth_mail::MailTemplates`] with links under the configured frontend URL — never the
//! request's `Host` — and sent by one background worker in request order, so a request for an
//! unknown address answers exactly like one for a known address: the lookup, the token and the
//! delivery all happen after the response.
//!
//! ## Example
//!
//! The whole lifecycle in one process: tokens and emails in memory (use the sea-orm stores and
//! [`auth_mail::EmailBackend`] in production), rate limits and an audit log.
//!
//! ```
//! use std::sync::Arc;
//! use auth_blacklist::MemoryGrantStore;
//! use auth_core::account_tokens::MemoryAccountTokenStore;
//! use auth_core::audit::AuditLog;
//! use auth_core::{Accounts, ManualClock, MemoryUserStore, PasswordHasher, PasswordHasherConfig};
//! use auth_flows::{
//!     AbuseLimits, AccountEmailConfig, EmailVerification, JwtAuth, PasswordResetConfirmRequest,
//!     PasswordResetRequest, RegisterRequest,
//! };
//! use auth_jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
//! use auth_mail::MemoryMailer;
//! use auth_ratelimit::RateLimiter;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = Arc::new(ManualClock::starting_at_unix(1_800_000_000));
//! let key = JwtKey::hmac(JwtAlgorithm::HS256, &[7u8; 32])?;
//! let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key)?, clock.clone())?;
//! let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests())?;
//! let accounts = Accounts::new(Arc::new(MemoryUserStore::new()), hasher);
//! let mailer = Arc::new(MemoryMailer::new());
//! let auth = JwtAuth::new(accounts, jwt, Arc::new(MemoryGrantStore::new()))
//!     .with_rate_limits(RateLimiter::memory(clock.clone()), AbuseLimits::default())
//!     .with_audit_log(AuditLog::memory())
//!     .with_account_emails(
//!         Arc::new(MemoryAccountTokenStore::new()),
//!         mailer.clone(),
//!         AccountEmailConfig::new("https://app.example.com")?.verification(EmailVerification::Optional),
//!     );
//!
//! let register = r#"{"username": "alice", "email": "alice@example.com", "password": "lantern-otter-9"}"#;
//! auth.register(serde_json::from_str::<RegisterRequest>(register)?).await?;
//! let reset = r#"{"email": "alice@example.com"}"#;
//! auth.request_password_reset(&serde_json::from_str::<PasswordResetRequest>(reset)?).await?;
//!
//! // The emails go out in the background, in order: the verification link, then the reset link.
//! let link = loop {
//!     let sent = mailer.sent();
//!     if let Some(email) = sent.iter().find(|e| e.subject.contains("Reset")) {
//!         break email.text.lines().find(|l| l.starts_with("https://")).unwrap_or_default().to_owned();
//!     }
//!     tokio::task::yield_now().await;
//! };
//! assert!(link.starts_with("https://app.example.com/reset-password?token="));
//! let token = link.split("token=").nth(1).unwrap_or_default();
//! let confirm = serde_json::json!({"token": token, "new_password": "quiet-meadow-42"});
//! auth.confirm_password_reset(&serde_json::from_value::<PasswordResetConfirmRequest>(confirm)?).await?;
//! assert!(auth.accounts().check_password("alice", "quiet-meadow-42").await.is_ok());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};

use auth_core::account_tokens::hash_account_token;
use auth_core::account_tokens::{
    AccountToken, AccountTokenPurpose, AccountTokenStore, generate_account_token,
};
use auth_core::audit::{AuditEvent, AuditKind, AuditLog};
use auth_core::{
    Accounts, AuthError, AuthUser, CredentialMethod, FieldError, Principal, SharedClock, UserId, UserStore,
    UserUpdate,
};
use auth_mail::{DefaultTemplates, Email, MailTemplates, Mailer};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::abuse::Failure;
use crate::{ClientInfo, JwtAuth, TokenPair};

/// Whether email addresses must be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EmailVerification {
    /// No verification emails; `email_verified` stays false.
    Off,
    /// Verification emails on registration and email change; unverified users may sign in.
    #[default]
    Optional,
    /// As `Optional`, and a user whose email is not verified cannot sign in (403
    /// `email_not_verified`, only after the right password).
    Mandatory,
}

impl std::str::FromStr for EmailVerification {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "off" => Ok(Self::Off),
            "optional" => Ok(Self::Optional),
            "mandatory" => Ok(Self::Mandatory),
            other => Err(format!("`{other}` is not one of off, optional, mandatory")),
        }
    }
}

/// Settings of the account emails.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccountEmailConfig {
    /// The base of every link in an email, e.g. `https://app.example.com` (the frontend, not
    /// this API). Required.
    pub frontend_url: String,
    /// Path of the frontend's password-reset page (default `/reset-password`); the link is
    /// `{frontend_url}{reset_path}?token=...`.
    pub reset_path: String,
    /// Path of the frontend's email-verification page (default `/verify-email`).
    pub verify_path: String,
    /// Lifetime of a reset link (default 1 hour).
    pub reset_ttl: Duration,
    /// Lifetime of a verification link (default 24 hours).
    pub verification_ttl: Duration,
    /// Email verification mode (default optional).
    pub verification: EmailVerification,
    /// Send a notice to the account's address when its password changed (default on).
    pub notify_password_change: bool,
}

impl AccountEmailConfig {
    /// Links under `frontend_url`, which must be an absolute `https` URL (plain `http` only for
    /// loopback hosts) without credentials, query or fragment.
    pub fn new(frontend_url: &str) -> Result<Self, AuthError> {
        let url = frontend_url.trim_end_matches('/').to_owned();
        let bad = |why: &str| Err(AuthError::invalid_field("frontend_url", why.to_owned()));
        let Some((scheme, rest)) = url.split_once("://") else {
            return bad("must be an absolute http(s) URL");
        };
        let authority = rest.split('/').next().unwrap_or("");
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => authority.split(':').next().unwrap_or(""),
        };
        if host.is_empty() || url.contains(['?', '#', ' ', '@']) {
            return bad("must be an absolute URL without credentials, query or fragment");
        }
        let loopback = host == "localhost" || host == "::1" || host.starts_with("127.");
        match scheme {
            "https" => {}
            "http" if loopback => {}
            "http" => return bad("must use https (plain http only for localhost)"),
            _ => return bad("must be an http(s) URL"),
        }
        Ok(Self {
            frontend_url: url,
            reset_path: "/reset-password".to_owned(),
            verify_path: "/verify-email".to_owned(),
            reset_ttl: Duration::hours(1),
            verification_ttl: Duration::hours(24),
            verification: EmailVerification::Optional,
            notify_password_change: true,
        })
    }

    /// Sets the verification mode.
    pub fn verification(mut self, mode: EmailVerification) -> Self {
        self.verification = mode;
        self
    }

    /// Sets the reset-link lifetime.
    pub fn reset_ttl(mut self, ttl: Duration) -> Self {
        self.reset_ttl = ttl;
        self
    }

    /// Sets the verification-link lifetime.
    pub fn verification_ttl(mut self, ttl: Duration) -> Self {
        self.verification_ttl = ttl;
        self
    }

    /// Sets the frontend paths of the reset and verification pages.
    pub fn paths(mut self, reset_path: impl Into<String>, verify_path: impl Into<String>) -> Self {
        self.reset_path = reset_path.into();
        self.verify_path = verify_path.into();
        self
    }

    fn link(&self, path: &str, token: &str) -> String {
        format!("{}{}?token={}", self.frontend_url, path, token)
    }
}

type Job = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The account-email part of a [`JwtAuth`].
pub(crate) struct AccountEmails {
    pub(crate) config: AccountEmailConfig,
    pub(crate) tokens: Arc<dyn AccountTokenStore>,
    pub(crate) mailer: Arc<dyn Mailer>,
    pub(crate) templates: Arc<dyn MailTemplates>,
    outbox: Mutex<Option<mpsc::Sender<Job>>>,
}

impl fmt::Debug for AccountEmails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountEmails").field("config", &self.config).finish_non_exhaustive()
    }
}

/// How many background email jobs may wait; beyond that new ones are dropped (and logged). The
/// rate limits keep the queue far below it.
const OUTBOX_CAPACITY: usize = 1024;

impl AccountEmails {
    /// Queues a job for the worker (started on first use), in order.
    /// The worker is started on the current runtime, and started again should that runtime have
    /// gone (its queue is then closed).
    fn enqueue(&self, job: Job) {
        let mut outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        let sender = match outbox.as_ref() {
            Some(sender) if !sender.is_closed() => sender,
            _ => {
                let (sender, mut receiver) = mpsc::channel::<Job>(OUTBOX_CAPACITY);
                tokio::spawn(async move {
                    while let Some(job) = receiver.recv().await {
                        job.await;
                    }
                });
                outbox.insert(sender)
            }
        };
        if sender.try_send(job).is_err() {
            tracing::error!("account email queue full: an email was dropped");
        }
    }
}

/// Everything a background email job needs, cloned out of the [`JwtAuth`].
struct MailContext<S: UserStore> {
    store: Arc<S>,
    tokens: Arc<dyn AccountTokenStore>,
    mailer: Arc<dyn Mailer>,
    templates: Arc<dyn MailTemplates>,
    config: AccountEmailConfig,
    clock: SharedClock,
    audit: AuditLog,
    client: Option<ClientInfo>,
}

impl<S: UserStore> MailContext<S> {
    async fn record(&self, kind: AuditKind, user: Option<&UserId>) {
        let event = crate::abuse::audit_event(kind, self.clock.now(), user, self.client.as_ref(), &[]);
        self.audit.record(event).await;
    }

    async fn send(&self, email: Email) {
        if let Err(error) = self.mailer.send(&email).await {
            tracing::error!(error = %error, subject = %email.subject, "could not send an account email");
        }
    }

    /// Issues a token and sends its link.
    async fn send_link(
        &self,
        user: &S::User,
        purpose: AccountTokenPurpose,
        to: &str,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        let (token, hash) = generate_account_token();
        let (ttl, path) = match purpose {
            AccountTokenPurpose::PasswordReset => (self.config.reset_ttl, &self.config.reset_path),
            _ => (self.config.verification_ttl, &self.config.verify_path),
        };
        let mut record =
            AccountToken::new(hash, purpose, user.id(), user.credential_fingerprint(), now, now + ttl);
        if purpose == AccountTokenPurpose::EmailVerification {
            record = record.email(to);
        }
        self.tokens.create(&record).await?;
        if purpose == AccountTokenPurpose::EmailVerification {
            // Recorded before the send, so whoever sees the email also sees the event.
            self.record(AuditKind::EmailVerificationSent, Some(&user.id())).await;
        }
        let link = self.config.link(path, &token);
        let email = match purpose {
            AccountTokenPurpose::PasswordReset => self.templates.password_reset(to, &link, ttl),
            _ => self.templates.email_verification(to, &link, ttl),
        };
        self.send(email).await;
        Ok(())
    }

    async fn password_reset(self, email: String) {
        let user = match self.store.find_by_email(&email).await {
            Ok(user) => user.filter(AuthUser::is_active),
            Err(error) => {
                tracing::error!(error = %error, "password reset: user lookup failed");
                return;
            }
        };
        let Some(user) = user else {
            self.record(AuditKind::PasswordResetRequested, None).await;
            return;
        };
        self.record(AuditKind::PasswordResetRequested, Some(&user.id())).await;
        let to = user.email().unwrap_or(&email).to_owned();
        if let Err(error) = self.send_link(&user, AccountTokenPurpose::PasswordReset, &to).await {
            tracing::error!(error = %error, "password reset: could not issue a token");
        }
    }

    async fn verification(self, user_id: UserId, to: String) {
        let user = match self.store.find_by_id(&user_id).await {
            Ok(Some(user)) if user.is_active() => user,
            Ok(_) => return,
            Err(error) => {
                tracing::error!(error = %error, "verification email: user lookup failed");
                return;
            }
        };
        if let Err(error) = self.send_link(&user, AccountTokenPurpose::EmailVerification, &to).await {
            tracing::error!(error = %error, "verification email: could not issue a token");
        }
    }

    async fn resend(self, email: String) {
        match self.store.find_by_email(&email).await {
            Ok(Some(user)) if user.is_active() && !user.email_verified() => {
                let to = user.email().unwrap_or(&email).to_owned();
                self.verification(user.id(), to).await;
            }
            Ok(_) => {}
            Err(error) => tracing::error!(error = %error, "verification resend: user lookup failed"),
        }
    }
}

/// `POST /api/auth/password/change` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    /// The current password.
    pub current_password: String,
    /// The new password (the password policy applies).
    pub new_password: String,
}

/// `POST /api/auth/password/reset` body.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    /// The account's email address.
    pub email: String,
}

/// `POST /api/auth/password/reset/confirm` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirmRequest {
    /// The token from the reset link.
    pub token: String,
    /// The new password (the password policy applies).
    pub new_password: String,
    /// For an account with MFA: a current TOTP code...
    #[serde(default)]
    pub code: Option<String>,
    /// ... or an unused recovery code.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// `POST /api/auth/email/verify` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EmailVerifyRequest {
    /// The token from the verification link.
    pub token: String,
}

/// `POST /api/auth/email/resend` body.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EmailResendRequest {
    /// The account's email address.
    pub email: String,
}

/// `PATCH /api/auth/me` body: only these fields can be changed by the user; any other field
/// (`is_staff`, `roles`, ...) is refused with a 400 and nothing changes.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdateRequest {
    /// A new username.
    #[serde(default)]
    pub username: Option<String>,
    /// A new email address: with verification on, it replaces the current one only once the
    /// link sent to it is used.
    #[serde(default)]
    pub email: Option<String>,
}

/// `DELETE /api/auth/me` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    /// The current password.
    pub password: String,
}

impl fmt::Debug for PasswordChangeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordChangeRequest").finish_non_exhaustive()
    }
}
impl fmt::Debug for PasswordResetConfirmRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordResetConfirmRequest").finish_non_exhaustive()
    }
}
impl fmt::Debug for EmailVerifyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailVerifyRequest").finish_non_exhaustive()
    }
}
impl fmt::Debug for DeleteAccountRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeleteAccountRequest").finish_non_exhaustive()
    }
}

/// What a password change did to the credential that asked for it.
#[derive(Debug)]
#[non_exhaustive]
pub enum PasswordChanged {
    /// A cookie session or an opaque token: it keeps working as it is.
    Kept,
    /// A JWT sign-in: its tokens carry the old password's fingerprint and stop working, so the
    /// sign-in continues with this new pair (same `amr` and `auth_time`).
    Reissued(TokenPair),
}

fn invalid_token() -> AuthError {
    AuthError::invalid_field("token", "is invalid or has expired")
}

/// The password policy names its field `password`; in these requests it is `new_password`.
fn on_new_password(error: AuthError) -> AuthError {
    match error {
        AuthError::InvalidInput(fields) => AuthError::InvalidInput(
            fields
                .into_iter()
                .map(|f| if f.field == "password" { FieldError::new("new_password", f.message) } else { f })
                .collect(),
        ),
        other => other,
    }
}

/// The account endpoints are for the user's own interactive credentials: an API key gets 403.
fn user_credential(principal: &Principal) -> Result<(), AuthError> {
    if principal.method == CredentialMethod::ApiKey { Err(AuthError::Forbidden) } else { Ok(()) }
}

impl<S: UserStore> JwtAuth<S> {
    /// Enables password reset and email verification: tokens in `tokens`, emails through
    /// `mailer`, links under `config.frontend_url`.
    pub fn with_account_emails(
        mut self,
        tokens: Arc<dyn AccountTokenStore>,
        mailer: Arc<dyn Mailer>,
        config: AccountEmailConfig,
    ) -> Self {
        self.emails = Some(AccountEmails {
            config,
            tokens,
            mailer,
            templates: Arc::new(DefaultTemplates::default()),
            outbox: Mutex::new(None),
        });
        self
    }

    /// Replaces the email templates (after [`JwtAuth::with_account_emails`]).
    pub fn with_mail_templates(mut self, templates: Arc<dyn MailTemplates>) -> Self {
        if let Some(emails) = &mut self.emails {
            emails.templates = templates;
        }
        self
    }

    /// The account-token store (with account emails).
    pub fn account_tokens(&self) -> Option<&Arc<dyn AccountTokenStore>> {
        self.emails.as_ref().map(|e| &e.tokens)
    }

    /// The email verification mode (`Off` without account emails).
    pub fn email_verification(&self) -> EmailVerification {
        self.emails.as_ref().map_or(EmailVerification::Off, |e| e.config.verification)
    }

    fn emails_enabled(&self) -> Result<&AccountEmails, AuthError> {
        self.emails.as_ref().ok_or(AuthError::NotFound)
    }

    fn mail_context(&self, emails: &AccountEmails) -> MailContext<S> {
        MailContext {
            store: Arc::clone(self.store()),
            tokens: Arc::clone(&emails.tokens),
            mailer: Arc::clone(&emails.mailer),
            templates: Arc::clone(&emails.templates),
            config: emails.config.clone(),
            clock: self.jwt.clock().clone(),
            audit: self.audit_log().clone(),
            client: ClientInfo::current(),
        }
    }

    /// Queues a verification email to `to` for `user` (when verification is on).
    pub(crate) fn queue_verification(&self, user: &UserId, to: &str) {
        let Some(emails) = &self.emails else { return };
        if emails.config.verification == EmailVerification::Off {
            return;
        }
        let context = self.mail_context(emails);
        let (user, to) = (user.clone(), to.to_owned());
        emails.enqueue(Box::pin(context.verification(user, to)));
    }

    fn queue_notice(&self, email: Email) {
        let Some(emails) = &self.emails else { return };
        let mailer = Arc::clone(&emails.mailer);
        emails.enqueue(Box::pin(async move {
            if let Err(error) = mailer.send(&email).await {
                tracing::error!(error = %error, "could not send a security notice");
            }
        }));
    }

    /// Whether registration hides which email addresses have accounts: with account emails and
    /// verification on, a registration with a taken address answers like a new one, and the
    /// address's owner gets a notice instead (see [`JwtAuth::register_without_enumeration`]).
    pub fn prevents_enumeration(&self) -> bool {
        self.emails.as_ref().is_some_and(|e| e.config.verification != EmailVerification::Off)
    }

    /// Registration that does not reveal whether an email address has an account (when
    /// [`JwtAuth::prevents_enumeration`]): `Ok(None)` when the address was taken — no account is
    /// created, the address's owner is told by email, and the caller answers exactly as for a new
    /// account (the password was hashed either way). A taken *username* is still a 409: usernames
    /// are chosen, not proven. Without prevention this is [`JwtAuth::register`].
    pub async fn register_without_enumeration(
        &self,
        request: crate::RegisterRequest,
    ) -> Result<Option<S::User>, AuthError> {
        let email = request.email.clone();
        match self.register(request).await {
            Ok(user) => Ok(Some(user)),
            Err(AuthError::Conflict(fields))
                if self.prevents_enumeration() && fields.iter().all(|f| f.field == "email") =>
            {
                if let Some(email) = email {
                    let owner = self.store().find_by_email(email.trim()).await?.map(|u| u.id());
                    if let Some(owner) = owner {
                        self.taken_email_attempt(&owner, email.trim(), "registration").await;
                    }
                }
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Someone tried to claim `owner`'s address `email` (`during` registration or an email
    /// change): recorded for the owner, who is told by email.
    async fn taken_email_attempt(&self, owner: &UserId, email: &str, during: &str) {
        self.audit(AuditKind::TakenEmailAttempt, Some(owner), &[("during", during)]).await;
        if let Some(emails) = &self.emails {
            self.queue_notice(emails.templates.account_exists(email));
        }
    }

    /// Refuses sign-in of an unverified user in mandatory mode (called after the right password).
    pub(crate) fn check_email_verified(&self, user: &S::User) -> Result<(), AuthError> {
        if self.email_verification() == EmailVerification::Mandatory && !user.email_verified() {
            return Err(AuthError::EmailNotVerified);
        }
        Ok(())
    }

    /// Checks the current password of a signed-in user, counting a wrong one like a failed
    /// sign-in (rate limited per account and IP). A wrong password is a 400 on `field`.
    pub(crate) async fn check_current_password(
        &self,
        user_id: &UserId,
        password: &str,
        field: &str,
    ) -> Result<(), AuthError> {
        self.check_sign_in_limits(user_id.as_str()).await?;
        if self.accounts.verify_password(user_id, password).await? {
            return Ok(());
        }
        self.sign_in_failed(user_id.as_str(), Some(user_id), Failure::Reauthentication).await;
        Err(AuthError::invalid_field(field, "the password is not correct"))
    }

    /// Changes the signed-in user's password (the policy applies) after checking the current one.
    /// Every other grant, opaque token, cookie session and API key of the user is revoked, and
    /// pending reset links die; the credential that asked survives (see [`PasswordChanged`]).
    pub async fn change_password(
        &self,
        principal: &Principal,
        request: &PasswordChangeRequest,
    ) -> Result<PasswordChanged, AuthError> {
        user_credential(principal)?;
        let user = self.current_user(principal).await?;
        self.check_current_password(&user.id(), &request.current_password, "current_password").await?;
        let result = self.accounts.set_password(&user.id(), &request.new_password).await;
        self.user_state.invalidate(&user.id());
        result.map_err(on_new_password)?;
        let keep = principal.grant_id.as_deref();
        self.revoke_other_sessions(&user.id(), keep).await?;
        if let Some(keys) = &self.api_keys {
            keys.store.revoke_all_for_user(&user.id(), self.jwt.clock().now()).await?;
        }
        if let Some(mfa) = &self.mfa {
            mfa.service.store().delete_challenges_for_user(&user.id()).await?;
        }
        if let Some(emails) = &self.emails {
            emails.tokens.delete_for_user(&user.id(), Some(AccountTokenPurpose::PasswordReset)).await?;
        }
        self.audit(AuditKind::PasswordChanged, Some(&user.id()), &[]).await;
        self.notify_password_changed(&user);
        if principal.method != CredentialMethod::Jwt {
            return Ok(PasswordChanged::Kept);
        }
        // The JWT grant's tokens carry the old fingerprint: end it and continue in a new one.
        if let Some(grant) = keep {
            self.revoke_grant(grant).await?;
        }
        let user = self.current_user(principal).await?;
        let client = ClientInfo::current().unwrap_or_default();
        let auth_time =
            principal.auth_time.map_or_else(|| self.jwt.clock().now().timestamp(), |t| t.timestamp());
        let pair = self.issue_tokens_at(&user, &client, principal.amr.clone(), auth_time).await?;
        Ok(PasswordChanged::Reissued(pair))
    }

    fn notify_password_changed(&self, user: &S::User) {
        let (Some(emails), Some(to)) = (&self.emails, user.email()) else { return };
        if emails.config.notify_password_change {
            self.queue_notice(emails.templates.password_changed(to));
        }
    }

    /// Starts a password reset: counts the request (429 past the limits) and queues the work —
    /// for a known, active address a reset link is emailed; for an unknown one nothing is sent.
    /// Either way the caller answers 202 at once.
    pub async fn request_password_reset(&self, request: &PasswordResetRequest) -> Result<(), AuthError> {
        let emails = self.emails_enabled()?;
        let email = request.email.trim().to_owned();
        Accounts::<S>::validate_email(&email)?;
        self.count_email_request("reset", &email).await?;
        let context = self.mail_context(emails);
        emails.enqueue(Box::pin(context.password_reset(email)));
        Ok(())
    }

    /// Completes a password reset: the token (single use, unexpired, issued since the last
    /// password change), a second factor for users with MFA, and a new password that meets the
    /// policy. Every credential of the user is revoked; the address counts as verified.
    ///
    /// A missing or wrong second factor, or a refused password, leaves the link usable (the
    /// attempt counts against the account's sign-in limits).
    pub async fn confirm_password_reset(
        &self,
        request: &PasswordResetConfirmRequest,
    ) -> Result<(), AuthError> {
        let emails = self.emails_enabled()?;
        let now = self.jwt.clock().now();
        let hash = hash_account_token(request.token.trim());
        let Some(record) = emails.tokens.consume(&hash, AccountTokenPurpose::PasswordReset, now).await?
        else {
            return Err(invalid_token());
        };
        let user = self.store().find_by_id(&record.user_id).await?.filter(AuthUser::is_active);
        let Some(user) = user.filter(|u| u.credential_fingerprint() == record.fingerprint) else {
            return Err(invalid_token());
        };
        match self.reset_checks(&user, request).await {
            Ok(()) => {}
            Err(error) => {
                // The link stays usable: put the token back as it was.
                emails.tokens.create(&record).await?;
                return Err(error);
            }
        }
        let result = self.accounts.set_password(&user.id(), &request.new_password).await;
        self.user_state.invalidate(&user.id());
        if let Err(error) = result {
            emails.tokens.create(&record).await?;
            return Err(on_new_password(error));
        }
        self.sign_out_all(&user.id()).await?;
        emails.tokens.delete_for_user(&user.id(), Some(AccountTokenPurpose::PasswordReset)).await?;
        if !user.email_verified() && user.email().is_some() {
            // The link reached this address: it is verified.
            let update = UserUpdate::new().email_verified(true);
            if let Err(error) = self.store().update_user(&user.id(), update).await {
                tracing::warn!(error = %error, "could not mark the email verified after a reset");
            }
        }
        self.audit(AuditKind::PasswordReset, Some(&user.id()), &[]).await;
        self.notify_password_changed(&user);
        Ok(())
    }

    /// The checks of a reset before the password changes: rate limits, the policy, and MFA.
    async fn reset_checks(
        &self,
        user: &S::User,
        request: &PasswordResetConfirmRequest,
    ) -> Result<(), AuthError> {
        let id = user.id();
        self.check_sign_in_limits(id.as_str()).await?;
        let mut identity = vec![user.username()];
        identity.extend(user.email());
        self.accounts.validate_password_for(&request.new_password, &identity).map_err(on_new_password)?;
        let Some(mfa) = &self.mfa else { return Ok(()) };
        if !mfa.service.is_enabled(&id).await? {
            return Ok(());
        }
        let (code, recovery) = (request.code.as_deref(), request.recovery_code.as_deref());
        if code.is_none() && recovery.is_none() {
            return Err(AuthError::InvalidInput(vec![FieldError::new(
                "code",
                "this account uses two-factor authentication: give a code or a recovery code",
            )]));
        }
        let factor = crate::mfa::second_factor(code, recovery)?;
        match mfa.service.verify(&id, &factor, self.jwt.clock().now()).await? {
            Some(used) => {
                if used == auth_mfa::FactorUsed::RecoveryCode {
                    self.audit(AuditKind::RecoveryCodeUsed, Some(&id), &[("during", "password_reset")]).await;
                }
                Ok(())
            }
            None => {
                self.sign_in_failed(id.as_str(), Some(&id), Failure::SecondFactor).await;
                let field = if code.is_some() { "code" } else { "recovery_code" };
                Err(AuthError::invalid_field(field, "the code is not valid"))
            }
        }
    }

    /// Verifies an email address with the token of a verification link (single use, unexpired).
    /// For an email change the new address replaces the old one now (409 if it was taken since).
    pub async fn verify_email(&self, request: &EmailVerifyRequest) -> Result<(), AuthError> {
        let emails = self.emails_enabled()?;
        let now = self.jwt.clock().now();
        let hash = hash_account_token(request.token.trim());
        let record = emails.tokens.consume(&hash, AccountTokenPurpose::EmailVerification, now).await?;
        let Some(record) = record else { return Err(invalid_token()) };
        let user = self.store().find_by_id(&record.user_id).await?.filter(AuthUser::is_active);
        let (Some(user), Some(address)) = (user, record.email) else { return Err(invalid_token()) };
        let changed = user.email().is_none_or(|current| current.to_lowercase() != address.to_lowercase());
        let mut update = UserUpdate::new().email_verified(true);
        if changed {
            update = update.email(Some(address));
        }
        if self.store().update_user(&user.id(), update).await?.is_none() {
            return Err(invalid_token());
        }
        self.user_state.invalidate(&user.id());
        self.audit(AuditKind::EmailVerified, Some(&user.id()), &[]).await;
        if changed {
            self.audit(AuditKind::EmailChanged, Some(&user.id()), &[]).await;
        }
        Ok(())
    }

    /// Sends a new verification email to an unverified account with this address (nothing for
    /// an unknown or verified one); counted like reset requests. The caller answers 202.
    pub async fn resend_verification(&self, request: &EmailResendRequest) -> Result<(), AuthError> {
        let emails = self.emails_enabled()?;
        if emails.config.verification == EmailVerification::Off {
            return Err(AuthError::NotFound);
        }
        let email = request.email.trim().to_owned();
        Accounts::<S>::validate_email(&email)?;
        self.count_email_request("verify", &email).await?;
        let context = self.mail_context(emails);
        emails.enqueue(Box::pin(context.resend(email)));
        Ok(())
    }

    /// Changes the signed-in user's profile: only `username` and `email`. With verification on,
    /// a new email is verified first (a link to it, a notice to the old address) and replaces the
    /// old one only then; an address that belongs to another account is answered alike (its owner
    /// gets a notice, no link is sent). With verification off it replaces it at once, unverified
    /// (409 when taken).
    pub async fn update_profile(
        &self,
        principal: &Principal,
        request: &ProfileUpdateRequest,
    ) -> Result<S::User, AuthError> {
        user_credential(principal)?;
        let user = self.current_user(principal).await?;
        let mut update = UserUpdate::new();
        if let Some(username) = &request.username {
            Accounts::<S>::validate_username(username)?;
            if username != user.username() {
                update = update.username(username.clone());
            }
        }
        let mut pending_email = None;
        if let Some(email) = request.email.as_deref().map(str::trim) {
            Accounts::<S>::validate_email(email)?;
            let same = user.email().is_some_and(|current| current.to_lowercase() == email.to_lowercase());
            if !same {
                if self.email_verification() == EmailVerification::Off {
                    update = update.email(Some(email.to_owned())).email_verified(false);
                } else {
                    // Taken by someone else: answered like a free address (not to reveal which
                    // addresses have accounts); the owner gets a notice instead of a link.
                    let owner = self.store().find_by_email(email).await?.map(|u| u.id());
                    pending_email = Some((email.to_owned(), owner));
                }
            }
        }
        let email_changed = update.email.is_some();
        let updated = if update.is_empty() {
            user.clone()
        } else {
            self.store().update_user(&user.id(), update).await?.ok_or(AuthError::NotFound)?
        };
        self.user_state.invalidate(&user.id());
        let mut changed: Vec<&str> = Vec::new();
        if updated.username() != user.username() {
            changed.push("username");
        }
        if email_changed {
            changed.push("email");
            self.audit(AuditKind::EmailChanged, Some(&user.id()), &[]).await;
        }
        if let Some((new_email, owner)) = pending_email {
            changed.push("email_pending");
            if let (Some(emails), Some(old)) = (&self.emails, user.email()) {
                self.queue_notice(emails.templates.email_change_requested(old, &new_email));
            }
            match owner {
                None => self.queue_verification(&user.id(), &new_email),
                Some(owner) => self.taken_email_attempt(&owner, &new_email, "email_change").await,
            }
        }
        if !changed.is_empty() {
            let fields = changed.join(",");
            self.audit(AuditKind::ProfileUpdated, Some(&user.id()), &[("fields", fields.as_str())]).await;
        }
        Ok(updated)
    }

    /// Deactivates the signed-in user's account after checking the password, and revokes every
    /// credential. (The row stays, inactive, so the username is not reused and the audit log
    /// keeps its subject.)
    pub async fn delete_account(
        &self,
        principal: &Principal,
        request: &DeleteAccountRequest,
    ) -> Result<(), AuthError> {
        user_credential(principal)?;
        let user = self.current_user(principal).await?;
        self.check_current_password(&user.id(), &request.password, "password").await?;
        self.set_active(&user.id(), false).await?;
        if let Some(emails) = &self.emails {
            emails.tokens.delete_for_user(&user.id(), None).await?;
        }
        Ok(())
    }

    /// The signed-in user's own audit events, newest first.
    pub async fn activity(
        &self,
        principal: &Principal,
        limit: usize,
        before: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<AuditEvent>, AuthError> {
        user_credential(principal)?;
        let mut query =
            auth_core::audit::AuditQuery::new().user(&principal.user_id).limit(limit.clamp(1, 100));
        if let Some(before) = before {
            query = query.before(before);
        }
        self.audit_log().list(&query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frontend_url_must_be_absolute_https_without_query() {
        for good in ["https://app.example.com", "https://app.example.com/", "https://app.example.com/base"] {
            let config = AccountEmailConfig::new(good).unwrap();
            assert!(!config.frontend_url.ends_with('/'), "{good}");
        }
        for local in ["http://localhost:3000", "http://127.0.0.1:5173", "http://[::1]:8080"] {
            assert!(AccountEmailConfig::new(local).is_ok(), "{local}");
        }
        for bad in [
            "app.example.com",
            "http://app.example.com",
            "ftp://app.example.com",
            "https://app.example.com/?next=x",
            "https://app.example.com/#x",
            "https://user:pw@app.example.com",
            "https://",
            "http://localhost.evil.com",
        ] {
            assert!(AccountEmailConfig::new(bad).is_err(), "{bad}");
        }
        let config = AccountEmailConfig::new("https://app.example.com/base/").unwrap();
        assert_eq!(
            config.link(&config.reset_path, "abc"),
            "https://app.example.com/base/reset-password?token=abc"
        );
    }

    /// The email worker lives on a runtime; a flow used again after that runtime is gone (another
    /// runtime, as in some test set-ups) starts a new one instead of dropping the emails.
    #[test]
    fn emails_survive_a_new_runtime() {
        use auth_core::account_tokens::MemoryAccountTokenStore;
        use auth_core::{ManualClock, MemoryUserStore, PasswordHasher, PasswordHasherConfig};

        let clock = Arc::new(ManualClock::starting_at_unix(1_800_000_000));
        let key = crate::JwtKey::hmac(crate::JwtAlgorithm::HS256, &[7u8; 32]).unwrap();
        let jwt =
            crate::JwtService::new(crate::JwtConfig::default(), crate::KeySet::new(key).unwrap(), clock)
                .unwrap();
        let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
        let accounts = Accounts::new(Arc::new(MemoryUserStore::new()), hasher);
        let mailer = Arc::new(auth_mail::MemoryMailer::new());
        let auth = JwtAuth::new(accounts, jwt, Arc::new(auth_blacklist::MemoryGrantStore::new()))
            .with_account_emails(
                Arc::new(MemoryAccountTokenStore::new()),
                mailer.clone(),
                AccountEmailConfig::new("https://app.example.com").unwrap(),
            );
        let sent_on_a_runtime = |expected: usize| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let request = PasswordResetRequest { email: "nobody@example.com".into() };
                auth.request_password_reset(&request).await.unwrap();
                let notice = auth_mail::Email::new("a@example.com", "notice", "text");
                auth.queue_notice(notice);
                for _ in 0..100_000 {
                    if mailer.sent().len() >= expected {
                        return;
                    }
                    tokio::task::yield_now().await;
                }
                panic!("the notice was not sent on this runtime");
            });
        };
        sent_on_a_runtime(1);
        sent_on_a_runtime(2);
        assert_eq!(mailer.sent().len(), 2, "one notice per runtime, nothing for the unknown address");
    }

    #[test]
    fn verification_modes_parse() {
        assert_eq!("off".parse::<EmailVerification>(), Ok(EmailVerification::Off));
        assert_eq!("optional".parse::<EmailVerification>(), Ok(EmailVerification::Optional));
        assert_eq!("mandatory".parse::<EmailVerification>(), Ok(EmailVerification::Mandatory));
        assert!("sometimes".parse::<EmailVerification>().is_err());
        assert_eq!(EmailVerification::default(), EmailVerification::Optional);
    }

    #[test]
    fn request_bodies_refuse_unknown_fields_and_hide_secrets() {
        let body = r#"{"username": "x", "is_staff": true}"#;
        assert!(serde_json::from_str::<ProfileUpdateRequest>(body).is_err(), "mass assignment refused");
        let change: PasswordChangeRequest =
            serde_json::from_str(r#"{"current_password": "old-secret", "new_password": "new-secret"}"#)
                .unwrap();
        assert!(!format!("{change:?}").contains("secret"));
        let confirm: PasswordResetConfirmRequest =
            serde_json::from_str(r#"{"token": "tok-secret", "new_password": "pw-secret"}"#).unwrap();
        assert!(!format!("{confirm:?}").contains("secret"));
    }
}
