//! Abuse protection and the audit trail of the flows: rate limits on sign-in (every path), MFA
//! verification, password reset and verification-email requests (feature `rate-limit`); the client
//! (IP, user agent) of the current request; and the audit log every flow writes to.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use auth_core::audit::{AuditEvent, AuditKind, AuditLog, AuditQuery, AuditStore};
use auth_core::http_support::TrustedProxies;
use auth_core::{AuthError, UserId, UserStore};
#[cfg(feature = "rate-limit")]
use auth_ratelimit::{BlockReason, Limit, RateLimiter};
#[cfg(feature = "rate-limit")]
use chrono::Duration;
use chrono::{DateTime, Utc};
use http::request::Parts;

use crate::{AuthService, ClientInfo};

tokio::task_local! {
    static CURRENT_CLIENT: ClientInfo;
    static ACTING: Acting;
}

/// The credential an authenticated request acts with, recorded in its audit events.
#[derive(Debug, Clone)]
struct Acting {
    method: &'static str,
    id: Option<String>,
}

/// Runs `future` as an action of `principal`: every audit event it records names the credential
/// that acted (`credential`: `jwt`, `opaque_token`, `api_key` or `session`; `credential_id`: the
/// grant or key id). The route table does this for every authenticated route.
pub async fn acting_as<F: Future>(principal: &auth_core::Principal, future: F) -> F::Output {
    let id = principal.grant_id.clone().or_else(|| principal.credential_id.clone());
    ACTING.scope(Acting { method: principal.method.as_str(), id }, future).await
}

impl ClientInfo {
    /// Runs `future` with `self` as the client of the current request: the audit events and rate
    /// limits of the flows it calls use it. The adapters do this for every request they route.
    pub async fn scope<F: Future>(self, future: F) -> F::Output {
        CURRENT_CLIENT.scope(self, future).await
    }

    /// The client of the current request, when the call runs inside [`ClientInfo::scope`].
    pub fn current() -> Option<ClientInfo> {
        CURRENT_CLIENT.try_with(Clone::clone).ok()
    }
}

/// The thresholds of abuse protection (see the README's table for the server settings).
///
/// Failures of a password or second factor count per account and per client IP, each in a fixed
/// window: after `delay_after` failures every further attempt waits twice as long as the one
/// before (1 s, 2 s, 4 s, ... up to `max_delay`), and at `max` failures the key is blocked until
/// its window ends: 429 with `Retry-After`. The per-IP limit is below the per-account one, so one
/// address is blocked long before it could lock an account, while an attack spread over many
/// addresses is still slowed and then stopped by the per-account limit. Reset and
/// verification-email requests count per address and per IP, whether the address is known or not.
#[cfg(feature = "rate-limit")]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AbuseLimits {
    /// Failed sign-ins (password, second factor, current password) per account: default 50 per
    /// 15 minutes, progressive delay after 10. NIST SP 800-63B allows at most 100.
    pub signin_per_account: Limit,
    /// Failed sign-ins per client IP: default 20 per 15 minutes, progressive delay after 10.
    pub signin_per_ip: Limit,
    /// Password-reset and verification-email requests per email address: default 5 per hour.
    pub email_per_address: Limit,
    /// Password-reset and verification-email requests per client IP: default 20 per hour.
    pub email_per_ip: Limit,
}

/// The default sign-in window (15 minutes).
#[cfg(feature = "rate-limit")]
pub const DEFAULT_SIGNIN_WINDOW: Duration = Duration::minutes(15);

#[cfg(feature = "rate-limit")]
impl Default for AbuseLimits {
    fn default() -> Self {
        Self::signin(50, 20, DEFAULT_SIGNIN_WINDOW)
    }
}

#[cfg(feature = "rate-limit")]
impl AbuseLimits {
    /// Sign-in limits of `per_account` and `per_ip` failures per `window` (progressive delay after
    /// 10 failures, up to a minute), and the default email-request limits.
    pub fn signin(per_account: u32, per_ip: u32, window: Duration) -> Self {
        let max_delay = Duration::seconds(60);
        Self {
            signin_per_account: Limit::new(per_account, window).progressive_delay(10, max_delay),
            signin_per_ip: Limit::new(per_ip, window).progressive_delay(10, max_delay),
            email_per_address: Limit::new(5, Duration::hours(1)),
            email_per_ip: Limit::new(20, Duration::hours(1)),
        }
    }

    /// Sets the email-request limits.
    pub fn email_requests(mut self, per_address: u32, per_ip: u32, window: Duration) -> Self {
        self.email_per_address = Limit::new(per_address, window);
        self.email_per_ip = Limit::new(per_ip, window);
        self
    }
}

/// Rate limiting and auditing of an [`AuthService`].
pub(crate) struct Guard {
    #[cfg(feature = "rate-limit")]
    pub(crate) limiter: RateLimiter,
    #[cfg(feature = "rate-limit")]
    pub(crate) limits: AbuseLimits,
    pub(crate) audit: AuditLog,
    /// Whether `audit` persists events (else they go to `tracing` only).
    #[cfg_attr(not(feature = "audit"), allow(dead_code))]
    pub(crate) audit_persisted: bool,
    pub(crate) trusted_proxies: TrustedProxies,
    clock: auth_core::SharedClock,
}

impl Guard {
    pub(crate) fn new(clock: auth_core::SharedClock, trusted_proxies: TrustedProxies) -> Self {
        Self {
            #[cfg(feature = "rate-limit")]
            limiter: RateLimiter::memory(clock.clone()),
            #[cfg(feature = "rate-limit")]
            limits: AbuseLimits::default(),
            audit: AuditLog::new(Arc::new(TracingOnly)),
            audit_persisted: false,
            trusted_proxies,
            clock,
        }
    }
}

/// The audit store of an [`AuthService`] without one: events go to `tracing` only.
#[derive(Debug)]
struct TracingOnly;

#[async_trait]
impl AuditStore for TracingOnly {
    async fn record(&self, _event: &AuditEvent) -> Result<(), AuthError> {
        Ok(())
    }

    async fn list(&self, _query: &AuditQuery) -> Result<Vec<AuditEvent>, AuthError> {
        Ok(Vec::new())
    }

    async fn delete_before(&self, _before: DateTime<Utc>) -> Result<u64, AuthError> {
        Ok(0)
    }
}

/// What a failed attempt was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// A wrong first factor at sign-in (a wrong password, an unknown login, an inactive account).
    SignIn,
    /// A wrong second factor.
    SecondFactor,
    /// A wrong current password on an authenticated change.
    Reauthentication,
}

/// An audit event of `kind` at `at`, about `user`, from `client`, with non-secret `detail`.
pub(crate) fn audit_event(
    kind: AuditKind,
    at: DateTime<Utc>,
    user: Option<&UserId>,
    client: Option<&ClientInfo>,
    detail: &[(&str, &str)],
) -> AuditEvent {
    let mut event = AuditEvent::new(kind, at);
    if let Some(user) = user {
        event = event.user(user);
    }
    if let Some(client) = client {
        event = event.client(client.ip.as_deref(), client.user_agent.as_deref());
    }
    for (key, value) in detail {
        event = event.detail(key, *value);
    }
    event
}

#[cfg(feature = "rate-limit")]
fn account_key(account: &str) -> String {
    format!("signin:acct:{account}")
}

#[cfg(feature = "rate-limit")]
fn ip_key(ip: &str) -> String {
    format!("signin:ip:{ip}")
}

impl<S: UserStore> AuthService<S> {
    /// The audit log (events go to `tracing` only unless one was configured with
    /// [`AuthServiceBuilder::audit`](crate::AuthServiceBuilder::audit)).
    pub fn audit_log(&self) -> &AuditLog {
        &self.guard.audit
    }

    /// The rate limiter.
    #[cfg(feature = "rate-limit")]
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.guard.limiter
    }

    /// The client of a request: its `User-Agent` and IP, the IP from `X-Forwarded-For` only when
    /// the peer is a trusted proxy.
    pub fn client_info(&self, parts: &Parts) -> ClientInfo {
        client_info(&self.guard.trusted_proxies, parts)
    }

    /// Records an audit event, with the client of the current request and, for an authenticated
    /// request, the credential that acted (see [`acting_as`]).
    pub(crate) async fn audit(&self, kind: AuditKind, user: Option<&UserId>, detail: &[(&str, &str)]) {
        let client = ClientInfo::current();
        let mut event = audit_event(kind, self.guard.clock.now(), user, client.as_ref(), detail);
        if let Ok(acting) = ACTING.try_with(Clone::clone) {
            event = event.detail("credential", acting.method);
            if let Some(id) = &acting.id {
                event = event.detail("credential_id", id.as_str());
            }
        }
        self.guard.audit.record(event).await;
    }

    #[cfg(feature = "rate-limit")]
    fn current_ip() -> Option<String> {
        ClientInfo::current().and_then(|c| c.ip)
    }

    /// The sign-in counters of `account` and of the current client's IP.
    #[cfg(feature = "rate-limit")]
    fn sign_in_keys(&self, account: &str) -> Vec<(String, &Limit)> {
        let limits = &self.guard.limits;
        let mut keys = vec![(account_key(account), &limits.signin_per_account)];
        if let Some(ip) = Self::current_ip() {
            keys.push((ip_key(&ip), &limits.signin_per_ip));
        }
        keys
    }

    /// Refuses with a 429 when the account or the client IP is blocked. `account` is the user id,
    /// or the normalised login of an unknown user (so that guessing unknown names is counted too).
    /// A first factor calls it before it checks anything (see [`AuthService::sign_in_with`]).
    /// Without the `rate-limit` feature nothing is ever blocked.
    pub async fn check_sign_in_limits(&self, account: &str) -> Result<(), AuthError> {
        #[cfg(feature = "rate-limit")]
        {
            let keys = self.sign_in_keys(account);
            let keys: Vec<(&str, &Limit)> = keys.iter().map(|(k, l)| (k.as_str(), *l)).collect();
            if let Some(blocked) = self.guard.limiter.blocked(&keys).await? {
                return Err(blocked.into());
            }
        }
        #[cfg(not(feature = "rate-limit"))]
        let _ = account;
        Ok(())
    }

    /// Counts a failure against the account and the client IP, and audits it (and a lockout when
    /// this failure reached a hard limit). A first factor calls it for every wrong credential.
    pub async fn sign_in_failed(&self, account: &str, user: Option<&UserId>, failure: Failure) {
        let (kind, reason) = match failure {
            Failure::SignIn => (AuditKind::SignInFailed, "password"),
            Failure::SecondFactor => (AuditKind::MfaFailed, "second_factor"),
            Failure::Reauthentication => (AuditKind::SignInFailed, "current_password"),
        };
        self.audit(kind, user, &[("reason", reason)]).await;
        #[cfg(feature = "rate-limit")]
        {
            let keys = self.sign_in_keys(account);
            let keys: Vec<(&str, &Limit)> = keys.iter().map(|(k, l)| (k.as_str(), *l)).collect();
            match self.guard.limiter.record(&keys).await {
                Ok(()) => {}
                Err(error) => tracing::error!(error = %error, "could not count a failed sign-in"),
            }
            if let Ok(Some(blocked)) = self.guard.limiter.blocked(&keys).await
                && blocked.reason == BlockReason::LimitReached
            {
                let scope = if blocked.key.starts_with("signin:ip:") { "ip" } else { "account" };
                self.audit(AuditKind::LockedOut, user, &[("scope", scope)]).await;
            }
        }
        #[cfg(not(feature = "rate-limit"))]
        let _ = account;
    }

    /// Counts an email request (reset, verification resend) per address and IP; 429 past the
    /// limits. Known and unknown addresses count alike.
    #[cfg(feature = "account-emails")]
    pub(crate) async fn count_email_request(&self, purpose: &str, email: &str) -> Result<(), AuthError> {
        #[cfg(feature = "rate-limit")]
        {
            let limits = &self.guard.limits;
            let mut keys =
                vec![(format!("{purpose}:email:{}", email.to_lowercase()), &limits.email_per_address)];
            if let Some(ip) = Self::current_ip() {
                keys.push((format!("{purpose}:ip:{ip}"), &limits.email_per_ip));
            }
            let keys: Vec<(&str, &Limit)> = keys.iter().map(|(k, l)| (k.as_str(), *l)).collect();
            self.guard.limiter.hit_and_check(&keys).await
        }
        #[cfg(not(feature = "rate-limit"))]
        {
            let _ = (purpose, email);
            Ok(())
        }
    }
}

/// The client of a request under `proxies` (see [`AuthService::client_info`]).
pub(crate) fn client_info(proxies: &TrustedProxies, parts: &Parts) -> ClientInfo {
    let mut client = ClientInfo::from_parts(parts);
    if let Some(peer) = parts.extensions.get::<auth_core::http_support::ClientAddr>() {
        client.ip = Some(proxies.client_ip(peer.0.ip(), &parts.headers).to_string());
    }
    client
}
