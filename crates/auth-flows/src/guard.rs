//! Abuse protection and the audit trail of the flows: rate limits on sign-in (every path), MFA
//! verification, password reset and verification-email requests (feature `rate-limit`); the client
//! (IP, user agent) of the current request; and the audit log every flow writes to.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use auth_core::audit::{AuditEvent, AuditKind, AuditLog, AuditQuery, AuditStore};
use auth_core::http_support::TrustedProxies;
use auth_core::{AuthError, AuthUser, UserId, UserStore};
#[cfg(feature = "rate-limit")]
use auth_ratelimit::{Limit, RateLimiter};
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
/// **Failures** of a password, second factor or current password are counted *before* the
/// credential is checked: an attempt reserves a count on each of its keys atomically, a success
/// gives the reservation back, a failure keeps it. Of any number of concurrent attempts, at most
/// as many are evaluated as the limits allow. Each key is refused once its count reaches `max`
/// (until its window ends) and, past `delay_after`, until twice as long as the previous wait has
/// passed since its latest failure (1 s, 2 s, 4 s, ... up to `max_delay`): 429 with
/// `Retry-After`.
///
/// A first-factor sign-in counts on:
/// - the client's network ([`client_network`]: the IPv4 address, the IPv6 `/64`) —
///   [`signin_per_ip`](Self::signin_per_ip);
/// - the typed login from that network — [`signin_per_account_ip`](Self::signin_per_account_ip);
/// - from an *unknown* device, the typed login's **consecutive** failures, which only a success
///   resets — [`signin_per_account`](Self::signin_per_account); from a device that signed in as
///   the user before (the device cookie), the device's own counter instead, so that guessing
///   elsewhere never locks the user out of their own devices.
///
/// Logins are counted by the typed login, normalised, for known and unknown accounts alike: the
/// counters of an account's username and of its email are two, so a refusal never tells which
/// email belongs to which username (and an account takes at most `2 × signin_per_account`
/// consecutive failures). A second factor counts consecutive failures per user
/// ([`second_factor`](Self::second_factor)) and per network; it is never refused because of
/// password failures, nor is a password reset whose link is valid.
///
/// **Requests** (password-reset and verification emails, registrations) are counted per network
/// first and then per address (or globally): a request the network's limit refuses creates no
/// further counter, and exactly `max` requests pass per window.
#[cfg(feature = "rate-limit")]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AbuseLimits {
    /// Consecutive failed sign-ins per login from unknown devices, reset only by a success:
    /// default 50 in 30 days, delays from the 10th up to 15 minutes. NIST SP 800-63B allows at
    /// most 100 per account (an account has two logins).
    pub signin_per_account: Limit,
    /// Failed sign-ins per login from one network (or from one known device): default 10 per 15
    /// minutes, delays from the 5th.
    pub signin_per_account_ip: Limit,
    /// Failed sign-ins, second factors and current passwords per client network: default 20 per
    /// 15 minutes, delays from the 10th.
    pub signin_per_ip: Limit,
    /// Consecutive wrong second factors per user, reset only by a right one: default 100 in 30
    /// days, delays from the 10th up to 15 minutes.
    pub second_factor: Limit,
    /// Consecutive wrong current passwords (re-authentication) per user: default 20 in 30 days,
    /// delays from the 5th up to 15 minutes.
    pub reauthentication: Limit,
    /// Password-reset and verification-email requests per email address: default 5 per hour.
    pub email_per_address: Limit,
    /// Password-reset and verification-email requests per client network: default 20 per hour.
    pub email_per_ip: Limit,
    /// Registrations per client network: default 20 per hour.
    pub register_per_ip: Limit,
    /// Registrations in all: default 1000 per hour.
    pub register_global: Limit,
}

/// The default sign-in window of the per-network counters (15 minutes).
#[cfg(feature = "rate-limit")]
pub const DEFAULT_SIGNIN_WINDOW: Duration = Duration::minutes(15);

/// The default memory of consecutive failures: 30 days from the first failure of a run.
#[cfg(feature = "rate-limit")]
pub const DEFAULT_CONSECUTIVE_WINDOW: Duration = Duration::days(30);

#[cfg(feature = "rate-limit")]
impl Default for AbuseLimits {
    fn default() -> Self {
        let consecutive = |max, after| {
            Limit::new(max, DEFAULT_CONSECUTIVE_WINDOW).progressive_delay(after, Duration::minutes(15))
        };
        let minute = Duration::seconds(60);
        Self {
            signin_per_account: consecutive(50, 10),
            signin_per_account_ip: Limit::new(10, DEFAULT_SIGNIN_WINDOW).progressive_delay(5, minute),
            signin_per_ip: Limit::new(20, DEFAULT_SIGNIN_WINDOW).progressive_delay(10, minute),
            second_factor: consecutive(100, 10),
            reauthentication: consecutive(20, 5),
            email_per_address: Limit::new(5, Duration::hours(1)),
            email_per_ip: Limit::new(20, Duration::hours(1)),
            register_per_ip: Limit::new(20, Duration::hours(1)),
            register_global: Limit::new(1000, Duration::hours(1)),
        }
    }
}

#[cfg(feature = "rate-limit")]
impl AbuseLimits {
    /// The defaults with `per_account` consecutive failures per login (kept for
    /// [`consecutive_window`](Self::consecutive_window)), and `per_account_ip` and `per_ip`
    /// failures per `window`.
    pub fn signin(per_account: u32, per_account_ip: u32, per_ip: u32, window: Duration) -> Self {
        let mut limits = Self::default();
        limits.signin_per_account.max = per_account;
        limits.signin_per_account_ip.max = per_account_ip;
        limits.signin_per_account_ip.window = window;
        limits.signin_per_ip.max = per_ip;
        limits.signin_per_ip.window = window;
        limits
    }

    /// Remembers consecutive failures (sign-in, second factor, re-authentication) for `window`
    /// from the first failure of a run, unless a success resets them first.
    pub fn consecutive_window(mut self, window: Duration) -> Self {
        for limit in [&mut self.signin_per_account, &mut self.second_factor, &mut self.reauthentication] {
            limit.window = window;
        }
        self
    }

    /// Sets the email-request limits.
    pub fn email_requests(mut self, per_address: u32, per_ip: u32, window: Duration) -> Self {
        self.email_per_address = Limit::new(per_address, window);
        self.email_per_ip = Limit::new(per_ip, window);
        self
    }

    /// Sets the registration limits.
    pub fn registrations(mut self, per_ip: u32, global: u32, window: Duration) -> Self {
        self.register_per_ip = Limit::new(per_ip, window);
        self.register_global = Limit::new(global, window);
        self
    }
}

/// Rate limiting and auditing of an [`AuthService`].
pub(crate) struct Guard {
    /// Failure counters (sign-in, second factor, re-authentication).
    #[cfg(feature = "rate-limit")]
    pub(crate) limiter: RateLimiter,
    /// Request counters (emails, registrations): apart from the failure counters, so that a
    /// flood of requests cannot crowd them out of an in-process store.
    #[cfg(feature = "rate-limit")]
    pub(crate) requests: RateLimiter,
    #[cfg(feature = "rate-limit")]
    pub(crate) limits: AbuseLimits,
    /// Signs the device cookies of known devices.
    #[cfg(feature = "rate-limit")]
    pub(crate) devices: auth_core::DeviceKey,
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
            requests: RateLimiter::memory(clock.clone()),
            #[cfg(feature = "rate-limit")]
            limits: AbuseLimits::default(),
            #[cfg(feature = "rate-limit")]
            devices: auth_core::DeviceKey::generate(),
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

/// What an attempt checks, and so what its failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// A first factor at sign-in (a wrong password, an unknown login, an inactive account).
    SignIn,
    /// A second factor.
    SecondFactor,
    /// The current password on an authenticated change.
    Reauthentication,
}

/// An attempt counted against the limits before its credential is checked (see
/// [`AuthService::begin_sign_in`]). End it with [`AuthService::sign_in_succeeded`] or
/// [`AuthService::sign_in_failed`]; one dropped without either stays counted as a failure.
#[derive(Debug)]
#[must_use = "end the attempt with sign_in_succeeded or sign_in_failed"]
pub struct SignInAttempt {
    kind: Failure,
    user: Option<UserId>,
    #[cfg(feature = "rate-limit")]
    reservation: Option<auth_ratelimit::Reservation>,
    /// Consecutive-failure counters a success resets.
    #[cfg(feature = "rate-limit")]
    consecutive: Vec<String>,
}

impl SignInAttempt {
    /// What the attempt checks.
    pub fn kind(&self) -> Failure {
        self.kind
    }

    /// The user the attempt is about, when the login is known.
    pub fn user(&self) -> Option<&UserId> {
        self.user.as_ref()
    }
}

/// An audit event of `kind` at `at`, about `user`, from `client`, with non-secret `detail`: what
/// background work (an email job, which outlives its request) records with
/// [`AuthService::audit_log`].
pub fn audit_event(
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

/// A key part naming a login or an address without storing it: 128 bits of its SHA-256, hex.
#[cfg(feature = "rate-limit")]
fn digest(text: &str) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(text.as_bytes());
    hash[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The consecutive-failure counter of a login (normalised).
#[cfg(feature = "rate-limit")]
fn login_key(login: &str) -> String {
    format!("signin:login:{}", digest(&auth_core::normalize_login(login)))
}

/// The network of the current request's client, when known.
#[cfg(feature = "rate-limit")]
fn current_network() -> Option<String> {
    ClientInfo::current().and_then(|c| c.ip).map(|ip| auth_core::http_support::client_network(&ip))
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

    /// Records an audit event of an application's own first factor or account feature (social
    /// login's links, say), with the client of the current request and, for an authenticated
    /// request, the credential that acted.
    pub async fn record_event(&self, kind: AuditKind, user: Option<&UserId>, detail: &[(&str, &str)]) {
        self.audit(kind, user, detail).await;
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

    /// Starts a first-factor sign-in with `login` (as typed; `user`: the account it names, if
    /// any): counts the attempt on the client's network, on the login from that network, and on
    /// the login's consecutive failures — or, from a device that signed in as `user` before, on
    /// the device's own counter. 429 when a limit refuses; the credential must not be looked at
    /// then. Check the credential next, then end the attempt with
    /// [`sign_in_succeeded`](Self::sign_in_succeeded) or [`sign_in_failed`](Self::sign_in_failed).
    /// Without the `rate-limit` feature nothing is counted and nothing refused.
    pub async fn begin_sign_in(
        &self,
        login: &str,
        user: Option<&S::User>,
    ) -> Result<SignInAttempt, AuthError> {
        let user_id = user.map(AuthUser::id);
        #[cfg(feature = "rate-limit")]
        {
            let limits = &self.guard.limits;
            let network = current_network();
            let device = ClientInfo::current()
                .and_then(|c| c.device)
                .zip(user_id.as_ref())
                .and_then(|(token, id)| self.guard.devices.verify(&token, id, self.guard.clock.now()));
            let typed = digest(&auth_core::normalize_login(login));
            let mut keys: Vec<(String, &Limit)> = Vec::with_capacity(3);
            if let Some(network) = &network {
                keys.push((format!("signin:ip:{network}"), &limits.signin_per_ip));
                keys.push((format!("signin:login-ip:{typed}:{network}"), &limits.signin_per_account_ip));
            }
            match &device {
                Some(device) => {
                    keys.push((format!("signin:device:{}", device.as_str()), &limits.signin_per_account_ip));
                }
                None => keys.push((login_key(login), &limits.signin_per_account)),
            }
            // A success resets the consecutive failures of each of the account's logins.
            let mut consecutive = vec![login_key(login)];
            if let Some(user) = user {
                consecutive.push(login_key(user.username()));
                consecutive.extend(user.email().map(login_key));
            }
            consecutive.dedup();
            let reservation = self.reserve(&self.guard.limiter, &keys).await?;
            Ok(SignInAttempt {
                kind: Failure::SignIn,
                user: user_id,
                reservation: Some(reservation),
                consecutive,
            })
        }
        #[cfg(not(feature = "rate-limit"))]
        {
            let _ = login;
            Ok(SignInAttempt { kind: Failure::SignIn, user: user_id })
        }
    }

    /// Starts a check of `user`'s second factor: counted on the user's consecutive
    /// second-factor failures and on the client's network (never on password failures).
    #[cfg(feature = "mfa")]
    pub(crate) async fn begin_second_factor(&self, user: &UserId) -> Result<SignInAttempt, AuthError> {
        self.begin_user_attempt(user, Failure::SecondFactor).await
    }

    /// Starts a check of a signed-in `user`'s current password: counted on the user's consecutive
    /// re-authentication failures and on the client's network.
    pub(crate) async fn begin_reauthentication(&self, user: &UserId) -> Result<SignInAttempt, AuthError> {
        self.begin_user_attempt(user, Failure::Reauthentication).await
    }

    async fn begin_user_attempt(&self, user: &UserId, kind: Failure) -> Result<SignInAttempt, AuthError> {
        #[cfg(feature = "rate-limit")]
        {
            let limits = &self.guard.limits;
            let (user_key, limit) = match kind {
                Failure::SecondFactor => {
                    (format!("mfa:user:{}", digest(user.as_str())), &limits.second_factor)
                }
                _ => (format!("reauth:user:{}", digest(user.as_str())), &limits.reauthentication),
            };
            let mut keys: Vec<(String, &Limit)> = Vec::with_capacity(2);
            if let Some(network) = current_network() {
                keys.push((format!("signin:ip:{network}"), &limits.signin_per_ip));
            }
            keys.push((user_key.clone(), limit));
            let reservation = self.reserve(&self.guard.limiter, &keys).await?;
            Ok(SignInAttempt {
                kind,
                user: Some(user.clone()),
                reservation: Some(reservation),
                consecutive: vec![user_key],
            })
        }
        #[cfg(not(feature = "rate-limit"))]
        Ok(SignInAttempt { kind, user: Some(user.clone()) })
    }

    /// Counts an attempt on every key atomically, or refuses it (429).
    #[cfg(feature = "rate-limit")]
    async fn reserve(
        &self,
        limiter: &RateLimiter,
        keys: &[(String, &Limit)],
    ) -> Result<auth_ratelimit::Reservation, AuthError> {
        let keys: Vec<(&str, &Limit)> = keys.iter().map(|(k, l)| (k.as_str(), *l)).collect();
        limiter.try_attempt(&keys).await
    }

    /// Ends an attempt whose credential was right: its counts are given back, and the
    /// consecutive failures of the account (every login of it) or of the second factor reset.
    pub async fn sign_in_succeeded(&self, attempt: SignInAttempt) {
        #[cfg(feature = "rate-limit")]
        {
            if let Some(reservation) = attempt.reservation
                && let Err(error) = self.guard.limiter.release(reservation).await
            {
                tracing::warn!(%error, "could not give back a successful attempt's counts");
            }
            for key in &attempt.consecutive {
                if let Err(error) = self.guard.limiter.clear(key).await {
                    tracing::warn!(%error, "could not reset consecutive failures");
                }
            }
        }
        #[cfg(not(feature = "rate-limit"))]
        let _ = attempt;
    }

    /// Ends an attempt whose credential could not be checked (a store or the hasher failed): its
    /// counts are given back, and nothing resets.
    pub async fn sign_in_abandoned(&self, attempt: SignInAttempt) {
        #[cfg(feature = "rate-limit")]
        if let Some(reservation) = attempt.reservation
            && let Err(error) = self.guard.limiter.release(reservation).await
        {
            tracing::warn!(%error, "could not give back an abandoned attempt's counts");
        }
        #[cfg(not(feature = "rate-limit"))]
        let _ = attempt;
    }

    /// Ends an attempt whose credential was wrong: its counts stay; it is audited
    /// (`sign_in_failed` or `mfa_failed` with the reason), and so is a lockout when this failure
    /// reached a limit (`locked_out` with the scope: `ip`, `account` or `second_factor`).
    pub async fn sign_in_failed(&self, attempt: SignInAttempt) {
        let (kind, reason) = match attempt.kind {
            Failure::SignIn => (AuditKind::SignInFailed, "password"),
            Failure::SecondFactor => (AuditKind::MfaFailed, "second_factor"),
            Failure::Reauthentication => (AuditKind::SignInFailed, "current_password"),
        };
        self.audit(kind, attempt.user.as_ref(), &[("reason", reason)]).await;
        #[cfg(feature = "rate-limit")]
        if let Some(key) = attempt.reservation.as_ref().and_then(|r| r.limit_reached()) {
            let scope = if key.starts_with("signin:ip:") {
                "ip"
            } else if key.starts_with("mfa:") {
                "second_factor"
            } else {
                "account"
            };
            self.audit(AuditKind::LockedOut, attempt.user.as_ref(), &[("scope", scope)]).await;
        }
    }

    /// Resets the consecutive sign-in failures of every login of `user`: a password reset proved
    /// control of the account by other means.
    #[cfg_attr(not(feature = "account-emails"), allow(dead_code))]
    pub(crate) async fn clear_sign_in_failures(&self, user: &S::User) {
        #[cfg(feature = "rate-limit")]
        for key in std::iter::once(login_key(user.username())).chain(user.email().map(login_key)) {
            if let Err(error) = self.guard.limiter.clear(&key).await {
                tracing::warn!(%error, "could not reset consecutive failures");
            }
        }
        #[cfg(not(feature = "rate-limit"))]
        let _ = user;
    }

    /// Deletes the counters of both limiters whose latest hit is older than the longest window
    /// of the limits (so past every window).
    #[cfg(feature = "rate-limit")]
    pub(crate) async fn flush_rate_limit_counters(&self) -> Result<u64, AuthError> {
        let limits = &self.guard.limits;
        let longest = [
            limits.signin_per_account,
            limits.signin_per_account_ip,
            limits.signin_per_ip,
            limits.second_factor,
            limits.reauthentication,
            limits.email_per_address,
            limits.email_per_ip,
            limits.register_per_ip,
            limits.register_global,
        ]
        .iter()
        .map(|limit| limit.window)
        .max()
        .unwrap_or_else(Duration::zero);
        let failures = self.guard.limiter.flush_expired(longest).await?;
        let requests = self.guard.requests.flush_expired(longest).await?;
        Ok(failures.saturating_add(requests))
    }

    /// A device token for `user`, to set as the device cookie with a completed sign-in: the
    /// device is known for `user` from now on.
    #[cfg(feature = "rate-limit")]
    pub(crate) fn device_token(&self, user: &UserId) -> String {
        self.guard.devices.issue(user, self.guard.clock.now())
    }

    /// Counts a request on the client's network first, then on `key` (429 past either limit;
    /// the network's refusal creates no counter for `key`).
    #[cfg(feature = "rate-limit")]
    async fn count_request(
        &self,
        network_key: Option<(String, &Limit)>,
        key: (String, &Limit),
    ) -> Result<(), AuthError> {
        let mut keys: Vec<(String, &Limit)> = network_key.into_iter().collect();
        keys.push(key);
        // Requests are never given back.
        let _counted = self.reserve(&self.guard.requests, &keys).await?;
        Ok(())
    }

    /// Counts an email request (reset, verification resend) per network and per address; 429
    /// past the limits. Known and unknown addresses count alike.
    #[cfg(feature = "account-emails")]
    /// Counts a request that sends an email to `email` (a first factor's own, like email
    /// sign-in's), per address and per network under `purpose`; 429 past the email limits.
    pub async fn count_email_request(&self, purpose: &str, email: &str) -> Result<(), AuthError> {
        #[cfg(feature = "rate-limit")]
        {
            let limits = &self.guard.limits;
            let network = current_network().map(|n| (format!("{purpose}:ip:{n}"), &limits.email_per_ip));
            let address =
                (format!("{purpose}:email:{}", digest(&email.to_lowercase())), &limits.email_per_address);
            self.count_request(network, address).await
        }
        #[cfg(not(feature = "rate-limit"))]
        {
            let _ = (purpose, email);
            Ok(())
        }
    }

    /// Counts a registration per network and globally, before any password is hashed; 429 past
    /// the limits.
    pub(crate) async fn count_registration(&self) -> Result<(), AuthError> {
        #[cfg(feature = "rate-limit")]
        {
            let limits = &self.guard.limits;
            let network = current_network().map(|n| (format!("register:ip:{n}"), &limits.register_per_ip));
            self.count_request(network, ("register:all".to_owned(), &limits.register_global)).await
        }
        #[cfg(not(feature = "rate-limit"))]
        Ok(())
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
