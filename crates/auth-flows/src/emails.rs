//! Account emails (feature `account-emails`): password reset by email, email verification, and
//! the security notices of the account lifecycle.
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
//!     AbuseLimits, AccountEmailConfig, AuthService, EmailVerification, PasswordResetConfirmRequest,
//!     PasswordResetRequest, RegisterRequest,
//! };
//! use auth_mail::MemoryMailer;
//! use auth_ratelimit::RateLimiter;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = Arc::new(ManualClock::starting_at_unix(1_800_000_000));
//! let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests())?;
//! let accounts = Accounts::new(Arc::new(MemoryUserStore::new()), hasher);
//! let mailer = Arc::new(MemoryMailer::new());
//! let auth = AuthService::builder(accounts)
//!     .clock(clock.clone())
//!     .grants(Arc::new(MemoryGrantStore::new()))
//!     .rate_limits(RateLimiter::memory(clock.clone()), AbuseLimits::default())
//!     .audit(AuditLog::memory())
//!     .account_emails(
//!         Arc::new(MemoryAccountTokenStore::new()),
//!         mailer.clone(),
//!         AccountEmailConfig::new("https://app.example.com")?.verification(EmailVerification::Optional),
//!     )
//!     .build()?;
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
use auth_core::audit::{AuditKind, AuditLog};
use auth_core::{Accounts, AuthError, AuthUser, SharedClock, UserId, UserStore, UserUpdate};
use auth_mail::{DefaultTemplates, Email, MailTemplates, Mailer};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::account::on_new_password;
use crate::{AuthService, ClientInfo, EmailVerification};

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
    /// Path of the frontend's page that cancels a change of address, linked from the notice to
    /// the old address (default `/cancel-email-change`).
    pub cancel_path: String,
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
        // A loopback IP or `localhost`, parsed: `127.evil.example` is a name like any other.
        // (Bracketed: `host` has no port, and a bare IPv6 address would read as one.)
        let loopback = auth_core::http_support::is_loopback_host(&format!("[{host}]"));
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
            cancel_path: "/cancel-email-change".to_owned(),
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

    /// Sets the frontend path of the page that cancels a change of address.
    pub fn cancel_path(mut self, cancel_path: impl Into<String>) -> Self {
        self.cancel_path = cancel_path.into();
        self
    }

    fn link(&self, path: &str, token: &str) -> String {
        format!("{}{}?token={}", self.frontend_url, path, token)
    }
}

type Job = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The jobs of one recipient, run one after the other: the latest job's generation and the signal
/// of its end, which the recipient's next job waits for.
type Lanes = Arc<Mutex<std::collections::HashMap<String, (u64, tokio::sync::oneshot::Receiver<()>)>>>;

/// The account-email part of an [`AuthService`].
pub(crate) struct AccountEmails {
    pub(crate) config: AccountEmailConfig,
    pub(crate) tokens: Arc<dyn AccountTokenStore>,
    pub(crate) mailer: Arc<dyn Mailer>,
    pub(crate) templates: Arc<dyn MailTemplates>,
    outbox: Mutex<Option<mpsc::Sender<(String, Job)>>>,
    /// Jobs queued or running, for [`AccountEmails::flush`].
    pending: Arc<Pending>,
}

/// How many email jobs are queued or running, and a signal each time one ends.
#[derive(Debug, Default)]
struct Pending {
    jobs: std::sync::atomic::AtomicUsize,
    ended: tokio::sync::Notify,
}

impl Pending {
    fn end(&self) {
        self.jobs.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        self.ended.notify_waiters();
    }
}

impl fmt::Debug for AccountEmails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountEmails").field("config", &self.config).finish_non_exhaustive()
    }
}

/// How many background email jobs may wait; beyond that new ones are dropped (and logged). The
/// rate limits keep the queue far below it.
const OUTBOX_CAPACITY: usize = 1024;

/// How many email jobs run at once. Jobs for different recipients run side by side, so that the
/// time one takes (a lookup and an SMTP delivery for a known address, nothing for an unknown one)
/// never delays another: an attacker's own email arrives as fast whether or not the address asked
/// before it has an account.
const CONCURRENT_JOBS: usize = 64;

/// What the builder collects for account emails.
pub(crate) struct EmailSettings {
    pub(crate) tokens: Arc<dyn AccountTokenStore>,
    pub(crate) mailer: Arc<dyn Mailer>,
    pub(crate) config: AccountEmailConfig,
}

impl AccountEmails {
    pub(crate) fn new(settings: EmailSettings, templates: Option<Arc<dyn MailTemplates>>) -> Self {
        Self {
            config: settings.config,
            tokens: settings.tokens,
            mailer: settings.mailer,
            templates: templates.unwrap_or_else(|| Arc::new(DefaultTemplates::default())),
            outbox: Mutex::new(None),
            pending: Arc::default(),
        }
    }

    /// Waits until every email job queued so far has ended (delivered, or failed and logged), for
    /// at most `within`; returns whether they all ended. Call it at shutdown, after the last
    /// request, so that a reset link asked for just before is still sent.
    pub(crate) async fn flush(&self, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let ended = self.pending.ended.notified();
            tokio::pin!(ended);
            // Registered before the count is read: an end between the two is not missed.
            ended.as_mut().enable();
            if self.pending.jobs.load(std::sync::atomic::Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                return self.pending.jobs.load(std::sync::atomic::Ordering::Acquire) == 0;
            }
        }
    }

    /// Queues a job about `recipient` (an email address) for the worker, which is started on
    /// first use on the current runtime, and started again should that runtime have gone (its
    /// queue is then closed). Jobs of one recipient run in order; jobs of different recipients
    /// run concurrently (at most [`CONCURRENT_JOBS`]).
    fn enqueue(&self, recipient: &str, job: Job) {
        let mut outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        let sender = match outbox.as_ref() {
            Some(sender) if !sender.is_closed() => sender,
            _ => {
                let (sender, receiver) = mpsc::channel::<(String, Job)>(OUTBOX_CAPACITY);
                tokio::spawn(run_jobs(receiver, Arc::clone(&self.pending)));
                outbox.insert(sender)
            }
        };
        self.pending.jobs.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if sender.try_send((recipient.to_lowercase(), job)).is_err() {
            self.pending.end();
            tracing::error!("account email queue full: an email was dropped");
        }
    }
}

/// The email worker: starts each job on its own task once a slot is free, after the previous
/// job of the same recipient has ended.
async fn run_jobs(mut receiver: mpsc::Receiver<(String, Job)>, pending: Arc<Pending>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_JOBS));
    let lanes: Lanes = Arc::default();
    let mut generation = 0u64;
    while let Some((recipient, job)) = receiver.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
        generation = generation.wrapping_add(1);
        let (done, done_signal) = tokio::sync::oneshot::channel();
        let previous = lanes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(recipient.clone(), (generation, done_signal))
            .map(|(_, signal)| signal);
        let (lanes, mine, pending) = (Arc::clone(&lanes), generation, Arc::clone(&pending));
        tokio::spawn(async move {
            if let Some(previous) = previous {
                // Resolves when the previous job ends (or was dropped).
                let _ = previous.await;
            }
            job.await;
            pending.end();
            drop(slot);
            let _ = done.send(());
            let mut lanes = lanes.lock().unwrap_or_else(|p| p.into_inner());
            if lanes.get(&recipient).is_some_and(|(latest, _)| *latest == mine) {
                lanes.remove(&recipient);
            }
        });
    }
}

/// Everything a background email job needs, cloned out of the [`AuthService`].
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
        let event = crate::guard::audit_event(kind, self.clock.now(), user, self.client.as_ref(), &[]);
        self.audit.record(event).await;
    }

    async fn send(&self, email: Email) {
        if let Err(error) = self.mailer.send(&email).await {
            tracing::error!(error = %error, subject = %email.subject, "could not send an account email");
        }
    }

    /// Issues a token and sends its link to `to` (for a cancel link, the old address; the token
    /// remembers `new_address`).
    async fn send_link(
        &self,
        user: &S::User,
        purpose: AccountTokenPurpose,
        to: &str,
        new_address: Option<&str>,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        let (token, hash) = generate_account_token();
        let (ttl, path) = match purpose {
            AccountTokenPurpose::PasswordReset => (self.config.reset_ttl, &self.config.reset_path),
            AccountTokenPurpose::EmailChangeCancel => {
                (self.config.verification_ttl, &self.config.cancel_path)
            }
            _ => (self.config.verification_ttl, &self.config.verify_path),
        };
        let mut record = AccountToken::new(
            hash,
            purpose,
            user.id(),
            user.credential_fingerprint(),
            now,
            auth_core::saturating_add(now, ttl),
        );
        if purpose != AccountTokenPurpose::PasswordReset {
            record = record.email(new_address.unwrap_or(to));
        }
        self.tokens.create(&record).await?;
        if purpose == AccountTokenPurpose::EmailVerification {
            // Recorded before the send, so whoever sees the email also sees the event.
            self.record(AuditKind::EmailVerificationSent, Some(&user.id())).await;
        }
        let link = self.config.link(path, &token);
        let email = match purpose {
            AccountTokenPurpose::PasswordReset => self.templates.password_reset(to, &link, ttl),
            AccountTokenPurpose::EmailChangeCancel => {
                self.templates.email_change_requested(to, new_address.unwrap_or_default(), &link, ttl)
            }
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
        if let Err(error) = self.send_link(&user, AccountTokenPurpose::PasswordReset, &to, None).await {
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
        if let Err(error) = self.send_link(&user, AccountTokenPurpose::EmailVerification, &to, None).await {
            tracing::error!(error = %error, "verification email: could not issue a token");
        }
    }

    /// The notice to the old address of a requested change, with its cancel link.
    async fn change_requested(self, user_id: UserId, old: String, new: String) {
        let user = match self.store.find_by_id(&user_id).await {
            Ok(Some(user)) if user.is_active() => user,
            Ok(_) => return,
            Err(error) => {
                tracing::error!(error = %error, "email change notice: user lookup failed");
                return;
            }
        };
        let purpose = AccountTokenPurpose::EmailChangeCancel;
        if let Err(error) = self.send_link(&user, purpose, &old, Some(&new)).await {
            tracing::error!(error = %error, "email change notice: could not issue a token");
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

/// `POST /api/auth/email/change/cancel` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EmailChangeCancelRequest {
    /// The token from the cancel link sent to the old address.
    pub token: String,
}
crate::redacted_debug!(EmailChangeCancelRequest,);

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

fn invalid_token() -> AuthError {
    AuthError::invalid_field("token", "is invalid or has expired")
}

impl<S: UserStore> AuthService<S> {
    /// The mailer of the account emails, when they are configured: for a first factor that
    /// sends its own emails (email sign-in) with [`queue_email_job`](Self::queue_email_job).
    pub fn account_mailer(&self) -> Option<Arc<dyn Mailer>> {
        self.emails.as_ref().map(|emails| Arc::clone(&emails.mailer))
    }

    /// `{frontend_url}{path}?token={token}`: a link to the frontend like those of the account
    /// emails, when they are configured.
    pub fn frontend_link(&self, path: &str, token: &str) -> Option<String> {
        self.emails.as_ref().map(|emails| emails.config.link(path, token))
    }

    /// Runs `job` (the lookups and the delivery of an email to `recipient`) on the account-email
    /// worker, after the request has been answered, in order with the recipient's other emails:
    /// so the answer's timing never tells whether the address has an account.
    /// [`AuthError::NotFound`] when account emails are not configured.
    pub fn queue_email_job(
        &self,
        recipient: &str,
        job: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) -> Result<(), AuthError> {
        let emails = self.emails_enabled()?;
        emails.enqueue(recipient, job);
        Ok(())
    }

    /// The account-token store (with account emails).
    pub fn account_tokens(&self) -> Option<&Arc<dyn AccountTokenStore>> {
        self.emails.as_ref().map(|e| &e.tokens)
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
            clock: self.clock.clone(),
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
        emails.enqueue(&to.clone(), Box::pin(context.verification(user, to)));
    }

    pub(crate) fn queue_notice(&self, email: Email) {
        let Some(emails) = &self.emails else { return };
        let mailer = Arc::clone(&emails.mailer);
        emails.enqueue(
            &email.to.clone(),
            Box::pin(async move {
                if let Err(error) = mailer.send(&email).await {
                    tracing::error!(error = %error, "could not send a security notice");
                }
            }),
        );
    }

    /// Someone tried to claim `owner`'s address `email` (`during` registration or an email
    /// change): recorded for the owner, who is told by email.
    pub(crate) async fn taken_email_attempt(&self, owner: &UserId, email: &str, during: &str) {
        self.audit(AuditKind::TakenEmailAttempt, Some(owner), &[("during", during)]).await;
        if let Some(emails) = &self.emails {
            self.queue_notice(emails.templates.account_exists(email));
        }
    }

    pub(crate) fn notify_password_changed(&self, user: &S::User) {
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
        emails.enqueue(&email.clone(), Box::pin(context.password_reset(email)));
        Ok(())
    }

    /// Completes a password reset: the token (single use, unexpired, issued since the last
    /// password change), a second factor for users with MFA, and a new password that meets the
    /// policy. Every credential of the user is revoked; the address counts as verified.
    ///
    /// A missing or wrong second factor, or a refused password, leaves the link usable (a wrong
    /// second factor counts against the user's second-factor limit). A valid link is never
    /// refused because of password failures on the account.
    pub async fn confirm_password_reset(
        &self,
        request: &PasswordResetConfirmRequest,
    ) -> Result<(), AuthError> {
        let emails = self.emails_enabled()?;
        let now = self.clock.now();
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
        // Every pending link dies with the old password: other reset links, email changes.
        emails.tokens.delete_for_user(&user.id(), None).await?;
        if !user.email_verified() && user.email().is_some() {
            // The link reached this address: it is verified.
            let update = UserUpdate::new().email_verified(true);
            if let Err(error) = self.store().update_user(&user.id(), update).await {
                tracing::warn!(error = %error, "could not mark the email verified after a reset");
            }
        }
        self.clear_sign_in_failures(&user).await;
        self.audit(AuditKind::PasswordReset, Some(&user.id()), &[]).await;
        self.notify_password_changed(&user);
        Ok(())
    }

    /// The checks of a reset before the password changes: the policy, and MFA.
    async fn reset_checks(
        &self,
        user: &S::User,
        request: &PasswordResetConfirmRequest,
    ) -> Result<(), AuthError> {
        // A valid link is a proof of its own: password failures elsewhere do not block it (a
        // second factor is counted on its own).
        let mut identity = vec![user.username()];
        identity.extend(user.email());
        self.accounts.validate_password_for(&request.new_password, &identity).map_err(on_new_password)?;
        #[cfg(feature = "mfa")]
        self.verify_second_factor_if_enabled(
            &user.id(),
            request.code.as_deref(),
            request.recovery_code.as_deref(),
            "password_reset",
        )
        .await?;
        Ok(())
    }

    /// Verifies an email address with the token of a verification link (single use, unexpired).
    /// For an email change the new address replaces the old one now (409 if it was taken since).
    pub async fn verify_email(&self, request: &EmailVerifyRequest) -> Result<(), AuthError> {
        let emails = self.emails_enabled()?;
        let now = self.clock.now();
        let hash = hash_account_token(request.token.trim());
        let record = emails.tokens.consume(&hash, AccountTokenPurpose::EmailVerification, now).await?;
        let Some(record) = record else { return Err(invalid_token()) };
        // Bound to the credential fingerprint: a password change or reset since it was sent kills it.
        let user = self
            .store()
            .find_by_id(&record.user_id)
            .await?
            .filter(|u| u.is_active() && u.credential_fingerprint() == record.fingerprint);
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
        emails.enqueue(&email.clone(), Box::pin(context.resend(email)));
        Ok(())
    }

    /// Deletes the user's pending account tokens of `purposes` (every purpose when empty).
    pub(crate) async fn delete_account_tokens(
        &self,
        user: &UserId,
        purposes: &[AccountTokenPurpose],
    ) -> Result<(), AuthError> {
        let Some(emails) = &self.emails else { return Ok(()) };
        if purposes.is_empty() {
            emails.tokens.delete_for_user(user, None).await?;
            return Ok(());
        }
        for purpose in purposes {
            emails.tokens.delete_for_user(user, Some(*purpose)).await?;
        }
        Ok(())
    }

    /// A user asked to change their address to `new_email` (verification on): earlier pending
    /// changes die; a notice with a cancel link goes to the old address, and a verification link
    /// to the new one — or, when it belongs to `owner`, a notice to its owner instead.
    pub(crate) async fn email_change_requested(
        &self,
        user: &S::User,
        new_email: &str,
        owner: Option<UserId>,
    ) -> Result<(), AuthError> {
        let pending = [AccountTokenPurpose::EmailVerification, AccountTokenPurpose::EmailChangeCancel];
        self.delete_account_tokens(&user.id(), &pending).await?;
        if let (Some(emails), Some(old)) = (&self.emails, user.email()) {
            let context = self.mail_context(emails);
            emails.enqueue(
                old,
                Box::pin(context.change_requested(user.id(), old.to_owned(), new_email.to_owned())),
            );
        }
        match owner {
            None => self.queue_verification(&user.id(), new_email),
            Some(owner) => self.taken_email_attempt(&owner, new_email, "email_change").await,
        }
        Ok(())
    }

    /// Cancels a pending change of address with the token of the cancel link sent to the old
    /// address (single use, unexpired): the verification link of the new address dies.
    pub async fn cancel_email_change(&self, request: &EmailChangeCancelRequest) -> Result<(), AuthError> {
        let emails = self.emails_enabled()?;
        let now = self.clock.now();
        let hash = hash_account_token(request.token.trim());
        let record = emails.tokens.consume(&hash, AccountTokenPurpose::EmailChangeCancel, now).await?;
        let Some(record) = record else { return Err(invalid_token()) };
        let user = self.store().find_by_id(&record.user_id).await?.filter(AuthUser::is_active);
        let Some(user) = user else { return Err(invalid_token()) };
        emails.tokens.delete_for_user(&user.id(), Some(AccountTokenPurpose::EmailVerification)).await?;
        self.audit(AuditKind::EmailChangeCancelled, Some(&user.id()), &[]).await;
        Ok(())
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
        let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
        let accounts = Accounts::new(Arc::new(MemoryUserStore::new()), hasher);
        let mailer = Arc::new(auth_mail::MemoryMailer::new());
        let auth = AuthService::builder(accounts)
            .clock(clock)
            .account_emails(
                Arc::new(MemoryAccountTokenStore::new()),
                mailer.clone(),
                AccountEmailConfig::new("https://app.example.com").unwrap(),
            )
            .build()
            .unwrap();
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
    fn request_bodies_refuse_unknown_fields_and_hide_secrets() {
        let confirm: PasswordResetConfirmRequest =
            serde_json::from_str(r#"{"token": "tok-secret", "new_password": "pw-secret"}"#).unwrap();
        assert!(!format!("{confirm:?}").contains("secret"));
    }
}
