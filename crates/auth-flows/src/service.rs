//! [`AuthService`]: the flows over a user store, assembled by [`AuthServiceBuilder`] from the
//! capabilities an application picks.

use std::fmt;
use std::sync::Arc;

use auth_blacklist::{GrantStore, RevocationList, SyncTask};
use auth_core::http_support::OriginCheck;
use auth_core::{
    Accounts, AuthError, AuthUser, CredentialMethod, Principal, SharedClock, SystemClock, TokenRejection,
    UserStateCache, UserStore,
};
use chrono::{DateTime, Duration, Utc};
use http::request::Parts;

use crate::guard::Guard;

/// Tunables of the flows.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FlowConfig {
    /// How long a cached user state (active flag, credential fingerprint) may be used to accept a
    /// credential: the bound on how late a change made by *another* process takes effect
    /// (default 1 s), roles and permissions included. Changes made through this process apply at
    /// once.
    pub user_state_ttl: Duration,
    /// A grant (sign-in session) not used for this long is dead. `None`: the refresh-token
    /// lifetime with JWTs, else the grant's absolute lifetime.
    pub grant_idle_ttl: Option<Duration>,
    /// A grant's absolute lifetime: after it, sign in again however often it was refreshed
    /// (default 30 days).
    pub grant_max_age: Duration,
    /// Reuse grace window (default zero: off). A refresh token replayed within this time of its
    /// first use is refused *without* revoking its grant, for clients that race two tabs; the cost
    /// is that a thief replaying within the window is not detected.
    pub reuse_grace: Duration,
    /// How recent a credential's sign-in must be for a change that decides who controls the
    /// account (email address, second factor, API key) without the current password (default 5
    /// minutes; zero: always ask). See [`AuthService::require_recent_authentication`].
    pub reauthentication_window: Duration,
    /// How long a stored credential (opaque token, API key, cookie session) read from its store
    /// is used again without reading it (default 1 s; zero turns the caches off). Expiry, grant
    /// revocations and the user's state are still checked on every request; what another process
    /// changes otherwise (an API key revoked there, session data written there) is seen within
    /// this bound. See the `credential_cache` module's documentation in the README.
    pub credential_cache_ttl: Duration,
    /// How many credentials of each kind the caches hold at most (default
    /// 10 000; zero turns them off).
    pub credential_cache_capacity: usize,
    /// Once [`AuthService::start_revocation_sync`] runs: how long the in-process revocation list
    /// may go without matching the store before access tokens are refused with 503
    /// `service_unavailable` (fail closed: another process's revocations may be missing). `None`
    /// (the default): never.
    pub revocation_max_staleness: Option<Duration>,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            user_state_ttl: Duration::seconds(1),
            grant_idle_ttl: None,
            grant_max_age: Duration::days(30),
            reuse_grace: Duration::zero(),
            reauthentication_window: Duration::minutes(5),
            credential_cache_ttl: Duration::seconds(1),
            credential_cache_capacity: 10_000,
            revocation_max_staleness: None,
        }
    }
}

impl FlowConfig {
    /// Sets the grant idle timeout.
    pub fn grant_idle_ttl(mut self, ttl: Duration) -> Self {
        self.grant_idle_ttl = Some(ttl);
        self
    }

    /// Sets the grant absolute lifetime.
    pub fn grant_max_age(mut self, max_age: Duration) -> Self {
        self.grant_max_age = max_age;
        self
    }

    /// Sets the reuse grace window.
    pub fn reuse_grace(mut self, grace: Duration) -> Self {
        self.reuse_grace = grace;
        self
    }

    /// Sets the re-authentication window.
    pub fn reauthentication_window(mut self, window: Duration) -> Self {
        self.reauthentication_window = window;
        self
    }

    /// Sets how long the revocation list may go unsynced before access tokens are refused
    /// ([`FlowConfig::revocation_max_staleness`]).
    pub fn revocation_max_staleness(mut self, max_age: Duration) -> Self {
        self.revocation_max_staleness = Some(max_age);
        self
    }

    /// Sets how long a stored credential read from its store is used again (zero: off).
    pub fn credential_cache_ttl(mut self, ttl: Duration) -> Self {
        self.credential_cache_ttl = ttl;
        self
    }

    /// Sets how many credentials of each kind the caches hold at most (zero: off).
    pub fn credential_cache_capacity(mut self, capacity: usize) -> Self {
        self.credential_cache_capacity = capacity;
        self
    }
}

/// Who is signing in: recorded on the grant and shown in the sessions list.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The `User-Agent` header (at most 256 characters).
    pub user_agent: Option<String>,
    /// The client's IP address as the server saw it.
    pub ip: Option<String>,
    /// The device cookie's token ([`auth_core::DeviceCookie::read`]): a device that signed in
    /// before is exempt from its user's consecutive-failure lockout.
    pub device: Option<String>,
}

impl fmt::Debug for ClientInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientInfo")
            .field("user_agent", &self.user_agent)
            .field("ip", &self.ip)
            .field("device", &self.device.as_ref().map(|_| ".."))
            .finish()
    }
}

impl ClientInfo {
    /// Client information from a request head: `User-Agent`, the device cookie, and the peer
    /// address the adapter put into the extensions as [`auth_core::http_support::ClientAddr`].
    pub fn from_parts(parts: &Parts) -> Self {
        let user_agent = parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect());
        let ip = parts.extensions.get::<auth_core::http_support::ClientAddr>().map(|a| a.0.ip().to_string());
        let device =
            auth_core::DeviceCookie::read(&parts.headers).map(|token| token.chars().take(128).collect());
        Self { user_agent, ip, device }
    }
}

/// The grants (sign-in sessions) every issued credential lives in, and the in-process list of
/// revocations every check consults.
#[derive(Debug)]
pub(crate) struct Grants {
    pub(crate) store: Arc<dyn GrantStore>,
    pub(crate) revocations: Arc<RevocationList>,
}

/// The flows of Portcullis over a [`UserStore`]: the sign-in pipeline (see
/// [`AuthService::sign_in_with`]), the credentials it issues (JWT pairs, opaque tokens, cookie
/// sessions, API keys), the MFA step, the account lifecycle, rate limits and the audit log — each
/// present only when it was configured on the [`AuthServiceBuilder`] (and compiled in: one Cargo
/// feature per capability).
///
/// Every credential lives in a *grant* (a sign-in session): refresh tokens rotate on every use and
/// a replayed one revokes its grant; every credential check honours revocations.
pub struct AuthService<S: UserStore> {
    pub(crate) accounts: Accounts<S>,
    pub(crate) clock: SharedClock,
    pub(crate) config: FlowConfig,
    pub(crate) user_state: UserStateCache,
    #[cfg(any(feature = "opaque-tokens", feature = "api-keys", feature = "sessions"))]
    pub(crate) last_use: crate::credential_cache::LastUseWriter,
    pub(crate) roles: Option<auth_core::SharedRoleStore>,
    pub(crate) grants: Option<Grants>,
    #[cfg(feature = "jwt")]
    pub(crate) jwt: Option<crate::jwt::JwtFlows<S::User>>,
    #[cfg(feature = "opaque-tokens")]
    pub(crate) opaque: Option<crate::opaque::OpaqueTokens>,
    #[cfg(feature = "api-keys")]
    pub(crate) api_keys: Option<crate::api_keys::ApiKeys>,
    #[cfg(feature = "sessions")]
    pub(crate) sessions: Option<crate::sessions::Sessions>,
    #[cfg(feature = "mfa")]
    pub(crate) mfa: Option<crate::mfa::Mfa>,
    #[cfg(feature = "account-emails")]
    pub(crate) emails: Option<crate::emails::AccountEmails>,
    pub(crate) guard: Guard,
    /// The scheme of the server's public URL, when configured (for the `Origin` checks).
    pub(crate) public_scheme: Option<String>,
}

impl<S: UserStore> fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("accounts", &self.accounts)
            .field("config", &self.config)
            .field("grants", &self.grants)
            .field("capabilities", &self.capabilities())
            .finish_non_exhaustive()
    }
}

/// A capability of an [`AuthService`]: what [`AuthService::has`] asks about, and what
/// [`BuildError::Missing`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// Grants (sign-in sessions): [`AuthServiceBuilder::grants`].
    Grants,
    /// JWT access and refresh tokens: [`AuthServiceBuilder::jwt`] (feature `jwt`).
    Jwt,
    /// Opaque tokens: [`AuthServiceBuilder::opaque_tokens`] (feature `opaque-tokens`).
    OpaqueTokens,
    /// API keys: [`AuthServiceBuilder::api_keys`] (feature `api-keys`).
    ApiKeys,
    /// Cookie sessions: [`AuthServiceBuilder::sessions`] (feature `sessions`).
    Sessions,
    /// TOTP and recovery codes, the MFA step: [`AuthServiceBuilder::mfa`] (feature `mfa`).
    Mfa,
    /// Password reset and email verification: [`AuthServiceBuilder::account_emails`] (feature
    /// `account-emails`).
    AccountEmails,
    /// A persisted audit log: [`AuthServiceBuilder::audit`] (feature `audit`).
    Audit,
}

impl Capability {
    /// The builder call that configures it.
    pub fn builder_call(self) -> &'static str {
        match self {
            Self::Grants => ".grants(..)",
            Self::Jwt => ".jwt(..)",
            Self::OpaqueTokens => ".opaque_tokens(..)",
            Self::ApiKeys => ".api_keys(..)",
            Self::Sessions => ".sessions(..)",
            Self::Mfa => ".mfa(..)",
            Self::AccountEmails => ".account_emails(..)",
            Self::Audit => ".audit(..)",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Grants => "grants",
            Self::Jwt => "JWTs",
            Self::OpaqueTokens => "opaque tokens",
            Self::ApiKeys => "API keys",
            Self::Sessions => "cookie sessions",
            Self::Mfa => "MFA",
            Self::AccountEmails => "account emails",
            Self::Audit => "the audit log",
        })
    }
}

/// Why [`AuthServiceBuilder::build`] refused a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A configured capability needs another that is not configured.
    #[error("{capability} need {missing}: call `{}` on the builder", missing.builder_call())]
    Missing {
        /// The capability that was configured.
        capability: Capability,
        /// What it needs.
        missing: Capability,
    },
    /// A setting that only makes sense with a capability that is not configured.
    #[error("`{setting}` needs {missing}: call `{}` on the builder", missing.builder_call())]
    Unused {
        /// The builder call whose setting would be ignored.
        setting: &'static str,
        /// What it needs.
        missing: Capability,
    },
    /// A custom claim would overwrite a registered claim.
    #[error("`{0}` is a registered claim and cannot be mapped")]
    ReservedClaim(String),
    /// A setting has a value that cannot be used.
    #[error("`{setting}`: {message}")]
    Invalid {
        /// The builder call.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl<S: UserStore> AuthService<S> {
    /// Starts assembling the flows over `accounts`; add capabilities, then
    /// [`build`](AuthServiceBuilder::build).
    pub fn builder(accounts: Accounts<S>) -> AuthServiceBuilder<S> {
        AuthServiceBuilder::new(accounts)
    }

    /// Whether `capability` is configured.
    pub fn has(&self, capability: Capability) -> bool {
        match capability {
            Capability::Grants => self.grants.is_some(),
            #[cfg(feature = "jwt")]
            Capability::Jwt => self.jwt.is_some(),
            #[cfg(feature = "opaque-tokens")]
            Capability::OpaqueTokens => self.opaque.is_some(),
            #[cfg(feature = "api-keys")]
            Capability::ApiKeys => self.api_keys.is_some(),
            #[cfg(feature = "sessions")]
            Capability::Sessions => self.sessions.is_some(),
            #[cfg(feature = "mfa")]
            Capability::Mfa => self.mfa.is_some(),
            #[cfg(feature = "account-emails")]
            Capability::AccountEmails => self.emails.is_some(),
            #[cfg(feature = "audit")]
            Capability::Audit => self.guard.audit_persisted,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The configured capabilities.
    pub fn capabilities(&self) -> Vec<Capability> {
        [
            Capability::Grants,
            Capability::Jwt,
            Capability::OpaqueTokens,
            Capability::ApiKeys,
            Capability::Sessions,
            Capability::Mfa,
            Capability::AccountEmails,
            Capability::Audit,
        ]
        .into_iter()
        .filter(|c| self.has(*c))
        .collect()
    }

    /// The user store.
    pub fn store(&self) -> &Arc<S> {
        self.accounts.store()
    }

    /// The account operations.
    pub fn accounts(&self) -> &Accounts<S> {
        &self.accounts
    }

    /// The clock every expiry is read from.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The flow tunables.
    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// The grant store, when grants are configured.
    pub fn grants(&self) -> Option<&Arc<dyn GrantStore>> {
        self.grants.as_ref().map(|g| &g.store)
    }

    /// The in-process revocation cache every credential check consults, when grants are
    /// configured.
    pub fn revocations(&self) -> Option<&Arc<RevocationList>> {
        self.grants.as_ref().map(|g| &g.revocations)
    }

    /// Loads the current revocations and follows the grant store every `interval`, so that
    /// revocations made by other processes are enforced within about `interval`. Keep the returned
    /// task alive (it stops when dropped). [`AuthError::NotFound`] without grants.
    pub async fn start_revocation_sync(&self, interval: std::time::Duration) -> Result<SyncTask, AuthError> {
        let grants = self.grants.as_ref().ok_or(AuthError::NotFound)?;
        let now = self.clock.now();
        let snapshot = grants.store.revocation_snapshot(now).await?;
        grants.revocations.load(&snapshot);
        grants.revocations.mark_synced(now);
        Ok(grants.revocations.spawn_sync_with_clock(Arc::clone(&grants.store), interval, self.clock.clone()))
    }

    /// Writes the last use of a credential that belongs to a grant (an opaque token, a cookie
    /// session) off the request path: `touch` (the credential's own row), then the grant's last
    /// use, which the sessions list shows.
    #[cfg(any(feature = "opaque-tokens", feature = "sessions"))]
    pub(crate) async fn record_grant_credential_use(
        &self,
        touch: impl std::future::Future<Output = Result<(), AuthError>> + Send + 'static,
        grant_id: String,
        now: DateTime<Utc>,
    ) {
        let grants = self.grants.as_ref().map(|g| Arc::clone(&g.store));
        self.last_use
            .write(async move {
                touch.await?;
                match grants {
                    Some(grants) => grants.touch_grant(&grant_id, now).await,
                    None => Ok(()),
                }
            })
            .await;
    }

    /// When the in-process revocation list last matched the store (`None` before
    /// [`start_revocation_sync`](Self::start_revocation_sync), or without grants): what a
    /// readiness probe and the revocation-lag metric read.
    pub fn revocations_synced_at(&self) -> Option<DateTime<Utc>> {
        self.grants.as_ref().and_then(|g| g.revocations.synced_at())
    }

    /// How long ago, on the monotonic clock, the revocation list last matched the grant store
    /// (`None`: never synced, or without grants): the figure staleness is judged on.
    pub fn revocations_synced_ago(&self) -> Option<std::time::Duration> {
        self.grants.as_ref().and_then(|g| g.revocations.synced_ago())
    }

    /// Fails closed when the revocation list has gone unsynced for longer than
    /// [`FlowConfig::revocation_max_staleness`]: 503 `service_unavailable`.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn check_revocations_fresh(&self) -> Result<(), AuthError> {
        let (Some(grants), Some(max_age)) = (self.grants.as_ref(), self.config.revocation_max_staleness)
        else {
            return Ok(());
        };
        if grants.revocations.is_stale(max_age.to_std().unwrap_or_default()) {
            tracing::warn!("the revocation list is stale (sync failing): refusing access tokens");
            return Err(AuthError::Unavailable { retry_after_seconds: 2 });
        }
        Ok(())
    }

    /// How long an unused grant lives.
    pub(crate) fn idle_ttl(&self) -> Duration {
        if let Some(idle) = self.config.grant_idle_ttl {
            return idle;
        }
        #[cfg(feature = "jwt")]
        if let Some(jwt) = &self.jwt {
            return jwt.service.config().refresh_ttl;
        }
        self.config.grant_max_age
    }

    /// The user's current authority (flags, roles, permissions, tenant), cached like the rest of
    /// the user's state ([`FlowConfig::user_state_ttl`]); a user who is gone or inactive is an
    /// invalid token. Every credential check but the JWT's (which also compares the credential
    /// fingerprint) reads the user's state through it, once per request.
    pub async fn authority(
        &self,
        user_id: &auth_core::UserId,
    ) -> Result<Arc<auth_core::Authority>, AuthError> {
        match self.user_state.shared(self.store().as_ref(), user_id).await? {
            Some(state) if state.is_active => Ok(Arc::clone(&state.authority)),
            _ => Err(revoked()),
        }
    }

    /// Tells this process that a user's authority changed outside Portcullis's own flows (the
    /// application updated its user table or role assignments directly): their credentials
    /// answer from the new authority at once here, and within
    /// [`FlowConfig::user_state_ttl`] in other processes. `None`: every user (a role's
    /// permissions changed).
    pub fn authority_changed(&self, user_id: Option<&auth_core::UserId>) {
        match user_id {
            Some(id) => self.user_state.invalidate(id),
            None => self.user_state.invalidate_all(),
        }
    }

    /// The role store, when configured ([`AuthServiceBuilder::roles`]).
    pub fn role_store(&self) -> Option<&auth_core::SharedRoleStore> {
        self.roles.as_ref()
    }

    /// Loads the principal's user from the store; a user who is gone or inactive is an invalid
    /// token. Flows that decide on the user's current secrets use it; to *show* the user, the
    /// cached [`AuthService::cached_user`] is cheaper.
    pub async fn current_user(&self, principal: &Principal) -> Result<S::User, AuthError> {
        self.store().find_by_id(&principal.user_id).await?.filter(AuthUser::is_active).ok_or_else(revoked)
    }

    /// The principal's user from the user cache (the same cache, and the same bound, as the
    /// user's state: a change made through these flows shows at once, one made elsewhere within
    /// [`FlowConfig::user_state_ttl`]); a user who is gone or inactive is an invalid token. What
    /// `GET /api/auth/me` and [`AuthService::user_loader`] answer from.
    pub async fn cached_user(&self, principal: &Principal) -> Result<S::User, AuthError> {
        self.user_state
            .user(self.store().as_ref(), &principal.user_id)
            .await?
            .filter(AuthUser::is_active)
            .ok_or_else(revoked)
    }

    /// A [`UserLoader`](auth_core::UserLoader) over the user cache, for the adapters'
    /// `CurrentUser<U>` extractors: `CurrentUser::layer(auth.user_loader())`.
    pub fn user_loader(self: &Arc<Self>) -> Arc<dyn auth_core::UserLoader<S::User>> {
        Arc::new(CachedUserLoader(Arc::clone(self)))
    }

    /// How many users the user cache holds now.
    pub fn cached_users(&self) -> usize {
        self.user_state.len()
    }

    /// Hits, misses and size of the credential caches, per kind: `[opaque tokens, API keys,
    /// cookie sessions]` (a kind not configured reports zeros).
    #[cfg(any(feature = "opaque-tokens", feature = "api-keys", feature = "sessions"))]
    pub fn credential_cache_stats(&self) -> [crate::CacheStats; 3] {
        let mut stats = [crate::CacheStats::default(); 3];
        #[cfg(feature = "opaque-tokens")]
        if let Some(opaque) = &self.opaque {
            stats[0] = opaque.cache.stats();
        }
        #[cfg(feature = "api-keys")]
        if let Some(keys) = &self.api_keys {
            stats[1] = keys.cache.stats();
        }
        #[cfg(feature = "sessions")]
        if let Some(sessions) = &self.sessions {
            stats[2] = sessions.cache.stats();
        }
        stats
    }

    /// Waits until every credential's last use recorded so far is written to its store (they are
    /// written off the request path). Lists that show last uses call it first; call it before a
    /// shutdown.
    pub async fn flush_last_uses(&self) {
        #[cfg(any(feature = "opaque-tokens", feature = "api-keys", feature = "sessions"))]
        self.last_use.flush().await;
    }

    /// Waits until the account emails queued so far (reset links, verification links, security
    /// notices: sent off the request path) have been delivered or have failed, for at most
    /// `within`; returns whether they all have. Without account emails, at once `true`. Call it
    /// at shutdown, after the last request.
    pub async fn flush_account_emails(&self, within: std::time::Duration) -> bool {
        #[cfg(feature = "account-emails")]
        if let Some(emails) = &self.emails {
            return emails.flush(within).await;
        }
        let _ = within;
        true
    }
}

/// [`AuthService::user_loader`].
struct CachedUserLoader<S: UserStore>(Arc<AuthService<S>>);

#[async_trait::async_trait]
impl<S: UserStore> auth_core::UserLoader<S::User> for CachedUserLoader<S> {
    async fn load_user(&self, id: &auth_core::UserId) -> Result<Option<S::User>, AuthError> {
        self.0.user_state.user(self.0.store().as_ref(), id).await
    }
}

impl<S: UserStore> AuthService<S> {
    /// The `Origin` check of cookie requests: the request's own origin (its scheme from a trusted
    /// proxy's `X-Forwarded-Proto`, the public URL, or `https` with secure cookies) or `allowed`.
    pub fn origin_check(&self, allowed: Vec<String>, insecure_cookies: bool) -> OriginCheck {
        OriginCheck::new(allowed)
            .public_scheme(self.public_scheme.clone())
            .trusted_proxies(self.guard.trusted_proxies.clone())
            .insecure_cookies(insecure_cookies)
    }
}

/// The refusal of a credential that was revoked (or whose user can no longer use it).
pub(crate) fn revoked() -> AuthError {
    AuthError::InvalidToken(TokenRejection::Revoked)
}

/// Account endpoints are for the user's own interactive credentials: an API key gets 403.
pub(crate) fn user_credential(principal: &Principal) -> Result<(), AuthError> {
    if principal.method == CredentialMethod::ApiKey { Err(AuthError::Forbidden) } else { Ok(()) }
}

/// Assembles an [`AuthService`]: every capability is optional, and one that is not configured is
/// absent (its routes are not mounted, its OpenAPI paths are not in the document).
///
/// ```
/// use std::sync::Arc;
/// use auth_core::{Accounts, MemoryUserStore, PasswordHasher, PasswordHasherConfig};
/// use auth_flows::{AuthService, BuildError, Capability};
///
/// let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
/// let accounts = Accounts::new(Arc::new(MemoryUserStore::new()), hasher);
/// let auth = AuthService::builder(accounts).grants(Arc::new(auth_blacklist::MemoryGrantStore::new())).build().unwrap();
/// assert_eq!(auth.capabilities(), vec![Capability::Grants]);
/// ```
pub struct AuthServiceBuilder<S: UserStore> {
    accounts: Accounts<S>,
    clock: Option<SharedClock>,
    config: FlowConfig,
    grants: Option<Arc<dyn GrantStore>>,
    roles: Option<auth_core::SharedRoleStore>,
    #[cfg(feature = "jwt")]
    jwt: Option<auth_jwt::JwtService>,
    #[cfg(feature = "jwt")]
    claims: Option<crate::jwt::ClaimMap<S::User>>,
    #[cfg(feature = "opaque-tokens")]
    opaque: Option<crate::opaque::OpaqueTokens>,
    #[cfg(feature = "api-keys")]
    api_keys: Option<crate::api_keys::ApiKeys>,
    #[cfg(feature = "sessions")]
    sessions: Option<crate::sessions::Sessions>,
    #[cfg(feature = "mfa")]
    mfa: Option<crate::mfa::Mfa>,
    #[cfg(feature = "mfa")]
    second_factor_methods: Vec<Arc<dyn crate::SecondFactorMethod>>,
    #[cfg(feature = "account-emails")]
    emails: Option<crate::emails::EmailSettings>,
    #[cfg(feature = "account-emails")]
    templates: Option<Arc<dyn auth_mail::MailTemplates>>,
    #[cfg(feature = "rate-limit")]
    rate_limits: Option<(auth_ratelimit::RateLimiter, crate::AbuseLimits)>,
    #[cfg(feature = "rate-limit")]
    request_limiter: Option<auth_ratelimit::RateLimiter>,
    #[cfg(feature = "rate-limit")]
    device_key: Option<auth_core::DeviceKey>,
    #[cfg(feature = "audit")]
    audit: Option<auth_core::audit::AuditLog>,
    trusted_proxies: auth_core::http_support::TrustedProxies,
    public_url: Option<String>,
}

impl<S: UserStore> fmt::Debug for AuthServiceBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthServiceBuilder").field("config", &self.config).finish_non_exhaustive()
    }
}

impl<S: UserStore> AuthServiceBuilder<S> {
    fn new(accounts: Accounts<S>) -> Self {
        Self {
            accounts,
            clock: None,
            config: FlowConfig::default(),
            grants: None,
            roles: None,
            #[cfg(feature = "jwt")]
            jwt: None,
            #[cfg(feature = "jwt")]
            claims: None,
            #[cfg(feature = "opaque-tokens")]
            opaque: None,
            #[cfg(feature = "api-keys")]
            api_keys: None,
            #[cfg(feature = "sessions")]
            sessions: None,
            #[cfg(feature = "mfa")]
            mfa: None,
            #[cfg(feature = "mfa")]
            second_factor_methods: Vec::new(),
            #[cfg(feature = "account-emails")]
            emails: None,
            #[cfg(feature = "account-emails")]
            templates: None,
            #[cfg(feature = "rate-limit")]
            rate_limits: None,
            #[cfg(feature = "rate-limit")]
            request_limiter: None,
            #[cfg(feature = "rate-limit")]
            device_key: None,
            #[cfg(feature = "audit")]
            audit: None,
            trusted_proxies: auth_core::http_support::TrustedProxies::none(),
            public_url: None,
        }
    }

    /// Keeps roles, their permissions and the users' assignments in `store`: every credential's
    /// [`Principal`] then carries the user's permissions, and the admin API manages roles.
    /// Without it, principals carry the user type's own roles and flags, without permissions.
    pub fn roles(mut self, store: auth_core::SharedRoleStore) -> Self {
        self.roles = Some(store);
        self
    }

    /// The clock every expiry is read from. Default: the JWT service's clock when JWTs are
    /// configured, else the system clock.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The flow tunables.
    pub fn config(mut self, config: FlowConfig) -> Self {
        self.config = config;
        self
    }

    /// Keeps grants (sign-in sessions) in `store`: `auth_blacklist::MemoryGrantStore` for one
    /// process, the sea-orm store for several. JWTs, opaque tokens and cookie sessions need it.
    pub fn grants(mut self, store: Arc<dyn GrantStore>) -> Self {
        self.grants = Some(store);
        self
    }

    /// Issues JWT access and refresh tokens with `service` (mobile and web flows, refresh with
    /// rotation and reuse detection). Needs [`grants`](Self::grants).
    #[cfg(feature = "jwt")]
    pub fn jwt(mut self, service: auth_jwt::JwtService) -> Self {
        self.jwt = Some(service);
        self
    }

    /// Maps user attributes into access-token claims. Needs [`jwt`](Self::jwt).
    #[cfg(feature = "jwt")]
    pub fn claims(mut self, claims: crate::jwt::ClaimMap<S::User>) -> Self {
        self.claims = Some(claims);
        self
    }

    /// Issues opaque tokens kept in `store`. Needs [`grants`](Self::grants).
    #[cfg(feature = "opaque-tokens")]
    pub fn opaque_tokens(
        mut self,
        store: Arc<dyn auth_token::OpaqueTokenStore>,
        config: crate::OpaqueTokenConfig,
    ) -> Self {
        self.opaque = Some(crate::opaque::OpaqueTokens { store, config, cache: Default::default() });
        self
    }

    /// Issues API keys kept in `store`.
    #[cfg(feature = "api-keys")]
    pub fn api_keys(mut self, store: Arc<dyn auth_token::ApiKeyStore>, config: crate::ApiKeyConfig) -> Self {
        self.api_keys = Some(crate::api_keys::ApiKeys { store, config, cache: Default::default() });
        self
    }

    /// Starts cookie sessions kept in `store`. Needs [`grants`](Self::grants).
    #[cfg(feature = "sessions")]
    pub fn sessions(
        mut self,
        store: Arc<dyn auth_session::SessionStore>,
        config: crate::SessionConfig,
    ) -> Self {
        self.sessions = Some(crate::sessions::Sessions {
            store,
            config,
            origin: OriginCheck::default(),
            cache: Default::default(),
        });
        self
    }

    /// TOTP enrolment and the MFA step in every sign-in path.
    #[cfg(feature = "mfa")]
    pub fn mfa(mut self, service: auth_mfa::MfaService, policy: crate::MfaPolicy) -> Self {
        self.mfa = Some(crate::mfa::Mfa { service, policy, methods: Vec::new() });
        self
    }

    /// Offers `method` (passkeys) in the MFA step next to TOTP and recovery codes (with
    /// [`mfa`](Self::mfa); ignored without it).
    #[cfg(feature = "mfa")]
    pub fn second_factor_method(mut self, method: Arc<dyn crate::SecondFactorMethod>) -> Self {
        self.second_factor_methods.push(method);
        self
    }

    /// Password reset and email verification: tokens in `tokens`, emails through `mailer`, links
    /// under `config.frontend_url`.
    #[cfg(feature = "account-emails")]
    pub fn account_emails(
        mut self,
        tokens: Arc<dyn auth_core::account_tokens::AccountTokenStore>,
        mailer: Arc<dyn auth_mail::Mailer>,
        config: crate::AccountEmailConfig,
    ) -> Self {
        self.emails = Some(crate::emails::EmailSettings { tokens, mailer, config });
        self
    }

    /// Replaces the email templates. Needs [`account_emails`](Self::account_emails).
    #[cfg(feature = "account-emails")]
    pub fn mail_templates(mut self, templates: Arc<dyn auth_mail::MailTemplates>) -> Self {
        self.templates = Some(templates);
        self
    }

    /// Counts failures in `limiter` (e.g. over the database or Redis, shared by every server
    /// process) against `limits`. Default: an in-process limiter with
    /// [`AbuseLimits::default`](crate::AbuseLimits::default).
    #[cfg(feature = "rate-limit")]
    pub fn rate_limits(mut self, limiter: auth_ratelimit::RateLimiter, limits: crate::AbuseLimits) -> Self {
        self.rate_limits = Some((limiter, limits));
        self
    }

    /// Counts requests (password-reset and verification emails, registrations) in `limiter`.
    /// Default: an in-process limiter of its own, apart from the failure counters of
    /// [`rate_limits`](Self::rate_limits), so that a flood of requests for random addresses can
    /// never crowd a lockout out of a bounded in-process store. With several processes, pass a
    /// shared one (it may be the same as the failure counters' when its store is a database or
    /// Redis).
    #[cfg(feature = "rate-limit")]
    pub fn request_limiter(mut self, limiter: auth_ratelimit::RateLimiter) -> Self {
        self.request_limiter = Some(limiter);
        self
    }

    /// Signs device cookies with `key`: a device that signed in as a user is exempt from that
    /// user's consecutive-failure lockout (see [`AbuseLimits`](crate::AbuseLimits)). Every process
    /// of a deployment must share it. Default: a random key per process (devices are forgotten at
    /// restart).
    #[cfg(feature = "rate-limit")]
    pub fn device_key(mut self, key: auth_core::DeviceKey) -> Self {
        self.device_key = Some(key);
        self
    }

    /// Persists audit events to `log` (they always go to `tracing` too, target
    /// `portcullis::audit`). Without it events go to `tracing` only.
    #[cfg(feature = "audit")]
    pub fn audit(mut self, log: auth_core::audit::AuditLog) -> Self {
        self.audit = Some(log);
        self
    }

    /// Believes `X-Forwarded-For` from these proxies (default: none).
    pub fn trusted_proxies(mut self, proxies: auth_core::http_support::TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// The server's public URL (`https://auth.example.com`): its scheme is the one a browser's
    /// `Origin` must carry on cookie requests when no trusted proxy says otherwise.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// Checks that the configured capabilities fit together and builds the flows.
    pub fn build(self) -> Result<AuthService<S>, BuildError> {
        let needs_grants = |capability| BuildError::Missing { capability, missing: Capability::Grants };
        #[cfg(feature = "jwt")]
        if self.jwt.is_some() && self.grants.is_none() {
            return Err(needs_grants(Capability::Jwt));
        }
        #[cfg(feature = "opaque-tokens")]
        if self.opaque.is_some() && self.grants.is_none() {
            return Err(needs_grants(Capability::OpaqueTokens));
        }
        #[cfg(feature = "sessions")]
        if self.sessions.is_some() && self.grants.is_none() {
            return Err(needs_grants(Capability::Sessions));
        }
        let _ = needs_grants;
        #[cfg(feature = "jwt")]
        if self.claims.is_some() && self.jwt.is_none() {
            return Err(BuildError::Unused { setting: ".claims(..)", missing: Capability::Jwt });
        }
        #[cfg(feature = "jwt")]
        if let Some(reserved) = self.claims.as_ref().and_then(|c| c.reserved_claim()) {
            return Err(BuildError::ReservedClaim(reserved.to_owned()));
        }
        #[cfg(feature = "account-emails")]
        if self.templates.is_some() && self.emails.is_none() {
            return Err(BuildError::Unused {
                setting: ".mail_templates(..)",
                missing: Capability::AccountEmails,
            });
        }
        #[cfg(feature = "jwt")]
        let jwt_clock = self.jwt.as_ref().map(|j| j.clock().clone());
        #[cfg(not(feature = "jwt"))]
        let jwt_clock: Option<SharedClock> = None;
        let clock = self.clock.or(jwt_clock).unwrap_or_else(SystemClock::shared);
        let mut user_state = UserStateCache::new(self.config.user_state_ttl, clock.clone());
        if let Some(roles) = &self.roles {
            user_state = user_state.with_roles(Arc::clone(roles));
        }
        #[allow(unused_mut)]
        let mut guard = Guard::new(clock.clone(), self.trusted_proxies);
        #[cfg(feature = "rate-limit")]
        {
            if let Some((limiter, limits)) = self.rate_limits {
                guard.limiter = limiter;
                guard.limits = limits;
            }
            if let Some(limiter) = self.request_limiter {
                guard.requests = limiter;
            }
            if let Some(key) = self.device_key {
                guard.devices = key;
            }
        }
        #[cfg(feature = "audit")]
        if let Some(log) = self.audit {
            guard.audit = log;
            guard.audit_persisted = true;
        }
        let public_scheme = match self.public_url.as_deref().map(|url| url.split_once("://")) {
            None => None,
            Some(Some((scheme, rest))) if matches!(scheme, "https" | "http") && !rest.is_empty() => {
                Some(scheme.to_owned())
            }
            Some(_) => {
                return Err(BuildError::Invalid {
                    setting: ".public_url(..)",
                    message: "must be an absolute http(s) URL".to_owned(),
                });
            }
        };
        let grants = self.grants.map(|store| Grants { store, revocations: Arc::new(RevocationList::new()) });
        #[cfg(any(feature = "opaque-tokens", feature = "api-keys", feature = "sessions"))]
        let flow_config = self.config.clone();
        Ok(AuthService {
            accounts: self.accounts,
            clock,
            config: self.config,
            user_state,
            #[cfg(any(feature = "opaque-tokens", feature = "api-keys", feature = "sessions"))]
            last_use: Default::default(),
            roles: self.roles,
            grants,
            #[cfg(feature = "jwt")]
            jwt: self
                .jwt
                .map(|service| crate::jwt::JwtFlows { service, claims: self.claims.unwrap_or_default() }),
            #[cfg(feature = "opaque-tokens")]
            opaque: self.opaque.map(|mut opaque| {
                opaque.cache = cache_of(&flow_config);
                opaque
            }),
            #[cfg(feature = "api-keys")]
            api_keys: self.api_keys.map(|mut keys| {
                keys.cache = cache_of(&flow_config);
                keys
            }),
            #[cfg(feature = "sessions")]
            sessions: self.sessions.map(|mut sessions| {
                sessions.cache = cache_of(&flow_config);
                sessions.origin = OriginCheck::new(sessions.config.allowed_origins.clone())
                    .public_scheme(public_scheme.clone())
                    .trusted_proxies(guard.trusted_proxies.clone())
                    .insecure_cookies(sessions.config.insecure_cookies);
                sessions
            }),
            #[cfg(feature = "mfa")]
            mfa: self.mfa.map(|mut mfa| {
                mfa.methods = self.second_factor_methods;
                mfa
            }),
            #[cfg(feature = "account-emails")]
            emails: self.emails.map(|settings| crate::emails::AccountEmails::new(settings, self.templates)),
            guard,
            public_scheme,
        })
    }
}

/// A credential cache as the configuration says.
#[cfg(any(feature = "opaque-tokens", feature = "api-keys", feature = "sessions"))]
fn cache_of<R: crate::credential_cache::CachedRecord>(
    config: &FlowConfig,
) -> crate::credential_cache::CredentialCache<R> {
    crate::credential_cache::CredentialCache::new(
        config.credential_cache_ttl,
        config.credential_cache_capacity,
    )
}
