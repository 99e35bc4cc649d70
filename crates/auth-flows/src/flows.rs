//! The sign-in flows: register, sign in, refresh, verify, and bearer authentication of requests.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use auth_blacklist::{
    GrantStore, NewGrant, RefreshRecord, RevocationEvent, RevocationList, RotateOutcome, SyncTask,
};
use auth_core::{
    Accounts, AuthError, AuthUser, Authenticator, CredentialMethod, Principal, Registration, TokenRejection,
    UserId, UserStateCache, UserStore,
};
use chrono::{DateTime, Duration, Utc};
use http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use auth_core::audit::AuditKind;

use crate::mfa::{SignInFlow, SignInOutcome};
use crate::{JwtService, TokenContents, TokenKind};

/// A function computing a claim from a user.
pub type ClaimFn<U> = Arc<dyn Fn(&U) -> Option<Value> + Send + Sync>;

/// Where a custom claim's value comes from.
pub enum ClaimSource<U> {
    /// A named user attribute ([`AuthUser::attribute`]).
    Attribute(String),
    /// A function of the user.
    Function(ClaimFn<U>),
}

impl<U> Clone for ClaimSource<U> {
    fn clone(&self) -> Self {
        match self {
            Self::Attribute(a) => Self::Attribute(a.clone()),
            Self::Function(f) => Self::Function(Arc::clone(f)),
        }
    }
}

impl<U> fmt::Debug for ClaimSource<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Attribute(a) => f.debug_tuple("Attribute").field(a).finish(),
            Self::Function(_) => f.write_str("Function(..)"),
        }
    }
}

/// Maps user attributes into access-token claims (the equivalent of simplejwt's
/// `TOKEN_CLAIM_USER_ATTRIBUTE_MAP`).
///
/// ```
/// use auth_flows::ClaimMap;
/// use auth_core::{AuthUser, User};
///
/// let map: ClaimMap<User> = ClaimMap::new()
///     .attribute("username", "username")
///     .function("is_admin", |u: &User| Some(serde_json::json!(u.is_superuser())));
/// assert_eq!(map.len(), 2);
/// ```
#[derive(Debug)]
pub struct ClaimMap<U> {
    entries: Vec<(String, ClaimSource<U>)>,
}

impl<U> Clone for ClaimMap<U> {
    fn clone(&self) -> Self {
        Self { entries: self.entries.clone() }
    }
}

impl<U> Default for ClaimMap<U> {
    fn default() -> Self {
        Self { entries: Vec::new() }
    }
}

impl<U: AuthUser> ClaimMap<U> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Claim `claim` takes the user attribute `attribute`.
    pub fn attribute(mut self, claim: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.entries.push((claim.into(), ClaimSource::Attribute(attribute.into())));
        self
    }

    /// Claim `claim` takes the value computed by `f`.
    pub fn function(
        mut self,
        claim: impl Into<String>,
        f: impl Fn(&U) -> Option<Value> + Send + Sync + 'static,
    ) -> Self {
        self.entries.push((claim.into(), ClaimSource::Function(Arc::new(f))));
        self
    }

    /// Number of mapped claims.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no claim is mapped.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The claim names, checked against the registered claims: returns a reserved name if one is used.
    pub fn reserved_claim(&self) -> Option<&str> {
        self.entries.iter().map(|(c, _)| c.as_str()).find(|c| crate::RESERVED_CLAIMS.contains(c))
    }

    /// Computes the claims for `user`; absent values are left out.
    pub fn claims_for(&self, user: &U) -> Map<String, Value> {
        self.entries
            .iter()
            .filter_map(|(claim, source)| {
                let value = match source {
                    ClaimSource::Attribute(a) => user.attribute(a),
                    ClaimSource::Function(f) => f(user),
                }?;
                Some((claim.clone(), value))
            })
            .collect()
    }
}

/// `POST /register` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    /// Username.
    pub username: String,
    /// Optional email.
    #[serde(default)]
    pub email: Option<String>,
    /// Password.
    pub password: String,
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

/// Mobile refresh body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh: String,
}

/// Verify body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyRequest {
    /// The token to check.
    pub token: String,
}

macro_rules! redacted_debug {
    ($ty:ident, $($shown:ident),*) => {
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))$(.field(stringify!($shown), &self.$shown))*.finish_non_exhaustive()
            }
        }
    };
}
redacted_debug!(RegisterRequest, username, email);
redacted_debug!(SignInRequest, username);
redacted_debug!(RefreshRequest,);
redacted_debug!(VerifyRequest,);

/// Access and refresh token, as the mobile flow returns them.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenPair {
    /// Access token.
    pub access: String,
    /// Refresh token.
    pub refresh: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
}

/// An access token alone, as refresh and the web flow return it.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessToken {
    /// Access token.
    pub access: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: i64,
}
redacted_debug!(TokenPair, token_type, expires_in);
redacted_debug!(AccessToken, token_type, expires_in);

/// Tunables of the flows.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FlowConfig {
    /// How long a cached user state (active flag, credential fingerprint) may be used to accept an
    /// access token: the bound on how late a change made by *another* process takes effect
    /// (default 1 s). Changes made through this process apply at once.
    pub user_state_ttl: Duration,
    /// A grant (sign-in session) not refreshed for this long is dead. `None`: the refresh-token
    /// lifetime.
    pub grant_idle_ttl: Option<Duration>,
    /// A grant's absolute lifetime: after it, sign in again however often it was refreshed
    /// (default 30 days).
    pub grant_max_age: Duration,
    /// Reuse grace window (default zero: off). A refresh token replayed within this time of its
    /// first use is refused *without* revoking its grant, for clients that race two tabs; the cost
    /// is that a thief replaying within the window is not detected.
    pub reuse_grace: Duration,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            user_state_ttl: Duration::seconds(1),
            grant_idle_ttl: None,
            grant_max_age: Duration::days(30),
            reuse_grace: Duration::zero(),
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
}

/// Who is signing in: recorded on the grant and shown in the sessions list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The `User-Agent` header (at most 256 characters).
    pub user_agent: Option<String>,
    /// The client's IP address as the server saw it.
    pub ip: Option<String>,
}

impl ClientInfo {
    /// Client information from a request head: `User-Agent`, and the peer address the adapter put
    /// into the extensions as [`auth_core::http_support::ClientAddr`].
    pub fn from_parts(parts: &Parts) -> Self {
        let user_agent = parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect());
        let ip = parts.extensions.get::<auth_core::http_support::ClientAddr>().map(|a| a.0.ip().to_string());
        Self { user_agent, ip }
    }
}

/// One of the user's sessions (grants) or API keys, as `GET /api/auth/sessions` lists them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    /// Grant id (the `sid` of its tokens), or the API key's id.
    pub id: String,
    /// What it is: `jwt` (mobile or web sign-in), `token` (an opaque token), `session` (a cookie
    /// session) or `api_key`.
    pub kind: String,
    /// When the user signed in.
    pub created_at: DateTime<Utc>,
    /// When its refresh token was last used.
    pub last_used_at: DateTime<Utc>,
    /// The client's `User-Agent` at sign-in.
    pub user_agent: Option<String>,
    /// The client's IP at sign-in.
    pub ip: Option<String>,
    /// Whether the request listing it belongs to this session.
    pub current: bool,
}

/// The JWT sign-in flows over a [`UserStore`] and a [`GrantStore`]: the framework-free half of
/// every adapter. Every sign-in creates a grant; refresh tokens rotate on every use, a replayed one
/// revokes its grant; access tokens honour revocations through a [`RevocationList`].
pub struct JwtAuth<S: UserStore> {
    pub(crate) accounts: Accounts<S>,
    pub(crate) jwt: JwtService,
    claims: ClaimMap<S::User>,
    pub(crate) config: FlowConfig,
    pub(crate) user_state: UserStateCache,
    pub(crate) grants: Arc<dyn GrantStore>,
    pub(crate) revocations: Arc<RevocationList>,
    pub(crate) opaque: Option<crate::opaque::OpaqueTokens>,
    pub(crate) api_keys: Option<crate::api_keys::ApiKeys>,
    pub(crate) sessions: Option<crate::sessions::Sessions>,
    pub(crate) mfa: Option<crate::mfa::Mfa>,
    pub(crate) guard: crate::abuse::Guard,
    pub(crate) emails: Option<crate::lifecycle::AccountEmails>,
}

impl<S: UserStore> fmt::Debug for JwtAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("jwt", &self.jwt)
            .field("accounts", &self.accounts)
            .field("claims", &self.claims)
            .field("config", &self.config)
            .field("grants", &self.grants)
            .finish_non_exhaustive()
    }
}

fn revoked() -> AuthError {
    AuthError::InvalidToken(TokenRejection::Revoked)
}

impl<S: UserStore> JwtAuth<S> {
    /// The flows over `accounts`, issuing with `jwt` and keeping grants in `grants`
    /// (`auth_blacklist::MemoryGrantStore` for one process, the sea-orm store otherwise).
    pub fn new(accounts: Accounts<S>, jwt: JwtService, grants: Arc<dyn GrantStore>) -> Self {
        let config = FlowConfig::default();
        let user_state = UserStateCache::new(config.user_state_ttl, jwt.clock().clone());
        let guard = crate::abuse::Guard::new(jwt.clock().clone());
        Self {
            accounts,
            jwt,
            claims: ClaimMap::new(),
            config,
            user_state,
            grants,
            revocations: Arc::new(RevocationList::new()),
            opaque: None,
            api_keys: None,
            sessions: None,
            mfa: None,
            guard,
            emails: None,
        }
    }

    /// Sets the custom-claim map. Claims that would overwrite registered claims are refused.
    pub fn with_claims(mut self, claims: ClaimMap<S::User>) -> Result<Self, AuthError> {
        if let Some(reserved) = claims.reserved_claim() {
            return Err(AuthError::invalid_field("claims", format!("`{reserved}` is a registered claim")));
        }
        self.claims = claims;
        Ok(self)
    }

    /// Sets the flow tunables.
    pub fn with_config(mut self, config: FlowConfig) -> Self {
        self.user_state = UserStateCache::new(config.user_state_ttl, self.jwt.clock().clone());
        self.config = config;
        self
    }

    /// The user store.
    pub fn store(&self) -> &Arc<S> {
        self.accounts.store()
    }

    /// The account operations.
    pub fn accounts(&self) -> &Accounts<S> {
        &self.accounts
    }

    /// The token service.
    pub fn jwt(&self) -> &JwtService {
        &self.jwt
    }

    /// The grant store.
    pub fn grants(&self) -> &Arc<dyn GrantStore> {
        &self.grants
    }

    /// The in-process revocation cache every access-token check consults.
    pub fn revocations(&self) -> &Arc<RevocationList> {
        &self.revocations
    }

    /// Loads the current revocations and follows the grant store every `interval`, so that
    /// revocations made by other processes are enforced within about `interval`. Keep the returned
    /// task alive (it stops when dropped).
    pub async fn start_revocation_sync(&self, interval: std::time::Duration) -> Result<SyncTask, AuthError> {
        let snapshot = self.grants.revocation_snapshot(self.jwt.clock().now()).await?;
        self.revocations.load(&snapshot);
        Ok(self.revocations.spawn_sync(Arc::clone(&self.grants), interval))
    }

    pub(crate) fn idle_ttl(&self) -> Duration {
        self.config.grant_idle_ttl.unwrap_or(self.jwt.config().refresh_ttl)
    }

    /// Creates a user from the public registration endpoint (never staff).
    /// With account emails and verification on, a verification email goes to the address; with
    /// verification mandatory, an email is required.
    pub async fn register(&self, request: RegisterRequest) -> Result<S::User, AuthError> {
        let without_email = request.email.as_deref().is_none_or(|e| e.trim().is_empty());
        if without_email && self.email_verification() == crate::EmailVerification::Mandatory {
            // Such an account could never verify, so never sign in.
            return Err(AuthError::invalid_field("email", "is required: email addresses must be verified"));
        }
        let registration = Registration::new(request.username, request.email, request.password);
        let user = self.accounts.register(registration).await?;
        self.audit(AuditKind::Registered, Some(&user.id()), &[]).await;
        if let Some(email) = user.email() {
            self.queue_verification(&user.id(), email);
        }
        Ok(user)
    }

    /// Creates a user as an administrator (`portcullis user create`): staff flags allowed, the
    /// password policy applies, recorded in the audit log; no verification email.
    pub async fn create_user(&self, registration: Registration) -> Result<S::User, AuthError> {
        let user = self.accounts.register(registration).await?;
        self.audit(AuditKind::Registered, Some(&user.id()), &[("by", "administrator")]).await;
        Ok(user)
    }

    fn contents_for(&self, user: &S::User, sid: &str, amr: Vec<String>, auth_time: i64) -> TokenContents {
        let mut contents = TokenContents::default();
        contents.sid = Some(sid.to_owned());
        contents.cfp = Some(user.credential_fingerprint());
        contents.amr = amr;
        contents.auth_time = Some(auth_time);
        contents
    }

    fn issue_pair(
        &self,
        user: &S::User,
        grant: &str,
        refresh_jti: String,
        grant_expires: DateTime<Utc>,
        amr: Vec<String>,
        auth_time: i64,
    ) -> Result<TokenPair, AuthError> {
        let mut refresh_contents = self.contents_for(user, grant, amr.clone(), auth_time);
        refresh_contents.jti = Some(refresh_jti);
        refresh_contents.not_after = Some(grant_expires.timestamp());
        let refresh = self.jwt.issue(TokenKind::Refresh, &user.id(), refresh_contents)?;
        let mut access_contents = self.contents_for(user, grant, amr, auth_time);
        access_contents.not_after = Some(grant_expires.timestamp());
        access_contents.extra = self.claims.claims_for(user);
        let access = self.jwt.issue(TokenKind::Access, &user.id(), access_contents)?;
        Ok(TokenPair {
            access: access.token,
            refresh: refresh.token,
            token_type: "Bearer".to_owned(),
            expires_in: (access.claims.exp - access.claims.iat).max(0),
        })
    }

    /// Starts a grant for `user` and issues its first token pair, without a password check: for
    /// tests, and for flows that authenticated the user another way. Inactive users get
    /// [`AuthError::InvalidCredentials`].
    pub async fn tokens_for(&self, user: &S::User, client: &ClientInfo) -> Result<TokenPair, AuthError> {
        self.issue_tokens(user, client, vec!["pwd".to_owned()]).await
    }

    /// [`JwtAuth::tokens_for`] recording how the user authenticated (`amr`), `auth_time` now.
    pub(crate) async fn issue_tokens(
        &self,
        user: &S::User,
        client: &ClientInfo,
        amr: Vec<String>,
    ) -> Result<TokenPair, AuthError> {
        let now = self.jwt.clock().now().timestamp();
        self.issue_tokens_at(user, client, amr, now).await
    }

    /// [`JwtAuth::issue_tokens`] with the `auth_time` of an earlier authentication (a grant that
    /// continues after a password change).
    pub(crate) async fn issue_tokens_at(
        &self,
        user: &S::User,
        client: &ClientInfo,
        amr: Vec<String>,
        auth_time: i64,
    ) -> Result<TokenPair, AuthError> {
        if !user.is_active() {
            return Err(AuthError::InvalidCredentials);
        }
        self.user_state.invalidate(&user.id());
        let now = self.jwt.clock().now();
        let grant_id = uuid::Uuid::new_v4().simple().to_string();
        let jti = uuid::Uuid::new_v4().simple().to_string();
        let expires_at = now + self.config.grant_max_age;
        let refresh_expires = (now + self.jwt.config().refresh_ttl).min(expires_at);
        let mut grant = NewGrant::new(grant_id.clone(), user.id(), now, expires_at);
        grant.user_agent = client.user_agent.clone();
        grant.ip = client.ip.clone();
        let first = RefreshRecord::new(jti.clone(), grant_id.clone(), user.id(), now, refresh_expires);
        self.grants.create_grant(grant, first).await?;
        self.issue_pair(user, &grant_id, jti, expires_at, amr, auth_time)
    }

    /// Mobile sign-in with a password: a new grant, an access and a refresh token — or, for a
    /// user with MFA, the MFA step ([`SignInOutcome::MfaRequired`]) that
    /// [`JwtAuth::complete_mfa`] finishes.
    pub async fn sign_in(
        &self,
        request: &SignInRequest,
        client: &ClientInfo,
    ) -> Result<SignInOutcome<TokenPair>, AuthError> {
        self.sign_in_with(request, client, SignInFlow::Mobile).await
    }

    /// Web sign-in: [`JwtAuth::sign_in`], but an MFA step completes as the web flow (the refresh
    /// token goes into the cookie).
    pub async fn web_sign_in(
        &self,
        request: &SignInRequest,
        client: &ClientInfo,
    ) -> Result<SignInOutcome<TokenPair>, AuthError> {
        self.sign_in_with(request, client, SignInFlow::Web).await
    }

    async fn sign_in_with(
        &self,
        request: &SignInRequest,
        client: &ClientInfo,
        flow: SignInFlow,
    ) -> Result<SignInOutcome<TokenPair>, AuthError> {
        match self.password_step(&request.username, &request.password, flow, client).await? {
            Ok(user) => Ok(SignInOutcome::Complete(self.tokens_for(&user, client).await?)),
            Err(step) => Ok(SignInOutcome::MfaRequired(step)),
        }
    }

    /// Rotates a refresh token: it is consumed atomically (of concurrent refreshes exactly one
    /// succeeds) and a new pair in the same grant is returned. A token that was already consumed
    /// revokes its whole grant (reuse detection) and is refused.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let claims = self.jwt.verify(refresh_token, TokenKind::Refresh)?;
        let user_id = UserId::new(claims.sub.clone());
        let sid = claims.sid.clone().ok_or_else(revoked)?;
        let issued_at = DateTime::from_timestamp(claims.iat, 0).unwrap_or_default();
        if self.revocations.is_revoked(Some(&sid), &user_id, issued_at) {
            return Err(revoked());
        }
        let user = self
            .store()
            .find_by_id(&user_id)
            .await?
            .filter(|u| u.is_active() && Some(u.credential_fingerprint()) == claims.cfp)
            .ok_or_else(revoked)?;
        let now = self.jwt.clock().now();
        let next_jti = uuid::Uuid::new_v4().simple().to_string();
        let next = RefreshRecord::new(
            next_jti.clone(),
            sid.clone(),
            user_id.clone(),
            now,
            now + self.jwt.config().refresh_ttl,
        );
        match self.grants.rotate(&claims.jti, next, now, self.idle_ttl()).await? {
            RotateOutcome::Rotated { grant } => self.issue_pair(
                &user,
                &grant.id,
                next_jti,
                grant.expires_at,
                claims.amr.clone(),
                claims.auth_time.unwrap_or(claims.iat),
            ),
            RotateOutcome::Reused { grant_id, user_id, consumed_at } => {
                if now - consumed_at < self.config.reuse_grace {
                    tracing::info!(grant_id = %grant_id, "refresh token replayed within the grace window");
                    return Err(revoked());
                }
                self.grants.revoke_grant(&grant_id, now).await?;
                self.revocations.apply(&RevocationEvent::Grant { grant_id: grant_id.clone() });
                self.audit(
                    AuditKind::RefreshReuseDetected,
                    Some(&user_id),
                    &[("grant_id", grant_id.as_str())],
                )
                .await;
                Err(revoked())
            }
            RotateOutcome::Expired => Err(AuthError::InvalidToken(TokenRejection::Expired)),
            _ => Err(revoked()),
        }
    }

    /// Revokes the grant of a refresh token (mobile sign-out).
    pub async fn sign_out(&self, refresh_token: &str) -> Result<(), AuthError> {
        let claims = self.jwt.verify(refresh_token, TokenKind::Refresh)?;
        let sid = claims.sid.ok_or_else(revoked)?;
        self.revoke_grant(&sid).await?;
        self.audit(AuditKind::SignedOut, Some(&UserId::new(claims.sub)), &[("grant_id", sid.as_str())]).await;
        Ok(())
    }

    /// Revokes a grant in the store and in this process at once (other processes follow within
    /// the revocation poll interval).
    pub(crate) async fn revoke_grant(&self, grant_id: &str) -> Result<(), AuthError> {
        self.grants.revoke_grant(grant_id, self.jwt.clock().now()).await?;
        self.forget_grant(grant_id);
        Ok(())
    }

    /// This process stops accepting the tokens of a grant revoked in the store.
    fn forget_grant(&self, grant_id: &str) {
        self.revocations.apply(&RevocationEvent::Grant { grant_id: grant_id.to_owned() });
    }

    /// Deletes the opaque tokens and cookie sessions of a revoked grant (a JWT grant has none).
    pub(crate) async fn delete_grant_credentials(&self, grant_id: &str) -> Result<(), AuthError> {
        if let Some(opaque) = &self.opaque {
            opaque.store.delete_by_grant(grant_id).await?;
        }
        if let Some(sessions) = &self.sessions {
            sessions.store.delete_by_grant(grant_id).await?;
        }
        Ok(())
    }

    /// Revokes every grant of the user and every token issued to them so far: JWTs, opaque tokens,
    /// cookie sessions and API keys, and the sign-ins still waiting for their MFA step.
    ///
    /// Each live grant is revoked by id (so its tokens die in every process, whatever their `iat`),
    /// then the user's "not before" is set to this second (for tokens of grants this process does
    /// not know about). A sign-in after this call is unaffected.
    pub async fn sign_out_all(&self, user_id: &UserId) -> Result<(), AuthError> {
        let now = self.jwt.clock().now();
        for grant in self.grants.active_grants(user_id, now, self.idle_ttl()).await? {
            self.revoke_grant(&grant.id).await?;
        }
        // Whole seconds, like `iat`: a token issued later in this second must not count as older.
        let not_before = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or_default();
        self.grants.revoke_all_for_user(user_id, not_before).await?;
        if let Some(opaque) = &self.opaque {
            opaque.store.delete_for_user(user_id).await?;
        }
        if let Some(sessions) = &self.sessions {
            sessions.store.delete_for_user(user_id).await?;
        }
        if let Some(keys) = &self.api_keys {
            keys.store.revoke_all_for_user(user_id, now).await?;
        }
        if let Some(mfa) = &self.mfa {
            // A sign-in waiting for its second factor started before this: it must not complete.
            mfa.service.store().delete_challenges_for_user(user_id).await?;
        }
        self.revocations.apply(&RevocationEvent::User { user_id: user_id.clone(), not_before });
        self.user_state.invalidate(user_id);
        self.audit(AuditKind::SignedOutEverywhere, Some(user_id), &[]).await;
        Ok(())
    }

    /// The principal's user's active sessions (grants of every kind), then their usable API keys
    /// (when API keys are enabled; the key's name as `user_agent`), the principal's own marked
    /// `current`.
    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<SessionInfo>, AuthError> {
        let now = self.jwt.clock().now();
        let grants = self.grants.active_grants(&principal.user_id, now, self.idle_ttl()).await?;
        let mut sessions: Vec<SessionInfo> = grants
            .into_iter()
            .map(|g| SessionInfo {
                current: principal.grant_id.as_deref() == Some(g.id.as_str()),
                kind: g.kind,
                id: g.id,
                created_at: g.created_at,
                last_used_at: g.last_used_at,
                user_agent: g.user_agent,
                ip: g.ip,
            })
            .collect();
        if let Some(keys) = &self.api_keys {
            for key in keys.store.list_for_user(&principal.user_id).await? {
                if key.check_usable(now).is_err() {
                    continue;
                }
                sessions.push(SessionInfo {
                    current: principal.method == CredentialMethod::ApiKey
                        && principal.credential_id.as_deref() == Some(key.id.as_str()),
                    kind: "api_key".to_owned(),
                    last_used_at: key.last_used_at.unwrap_or(key.created_at),
                    created_at: key.created_at,
                    user_agent: Some(key.name),
                    ip: None,
                    id: key.id,
                });
            }
        }
        Ok(sessions)
    }

    /// Revokes one of the principal's user's sessions, or one of their API keys (not with an API
    /// key: 403); someone else's (or an unknown) id is [`AuthError::NotFound`].
    pub async fn revoke_session(&self, principal: &Principal, id: &str) -> Result<(), AuthError> {
        let now = self.jwt.clock().now();
        if self.grants.revoke_user_grant(&principal.user_id, id, now).await? {
            self.delete_grant_credentials(id).await?;
            self.forget_grant(id);
            self.audit(AuditKind::SessionRevoked, Some(&principal.user_id), &[("grant_id", id)]).await;
            return Ok(());
        }
        match &self.api_keys {
            Some(_) => self.revoke_api_key(principal, id).await,
            None => Err(AuthError::NotFound),
        }
    }

    /// Checks a token of either kind: signature, claims, revocation, and that its user may still
    /// use it.
    pub async fn verify_token(&self, token: &str) -> Result<(), AuthError> {
        let claims = self.jwt.verify_any_kind(token)?;
        self.check_claims_state(&claims).await
    }

    async fn check_claims_state(&self, claims: &crate::Claims) -> Result<(), AuthError> {
        let user_id = UserId::new(claims.sub.clone());
        let issued_at = DateTime::from_timestamp(claims.iat, 0).unwrap_or_default();
        if self.revocations.is_revoked(claims.sid.as_deref(), &user_id, issued_at) {
            return Err(revoked());
        }
        let state = self.user_state.get(self.store().as_ref(), &user_id).await?;
        match state {
            Some(state) if state.is_active && Some(state.fingerprint.as_str()) == claims.cfp.as_deref() => {
                Ok(())
            }
            _ => Err(revoked()),
        }
    }

    /// Authenticates an access token and returns its principal.
    pub async fn authenticate_access(&self, token: &str) -> Result<Principal, AuthError> {
        let claims = self.jwt.verify(token, TokenKind::Access)?;
        self.check_claims_state(&claims).await?;
        let mut principal = Principal::new(UserId::new(claims.sub), CredentialMethod::Jwt);
        principal.grant_id = claims.sid;
        principal.credential_id = Some(claims.jti);
        principal.amr = claims.amr;
        principal.auth_time = claims.auth_time.and_then(|t| DateTime::from_timestamp(t, 0));
        principal.expires_at = DateTime::from_timestamp(claims.exp, 0);
        principal.scopes = match claims.extra.get("scope") {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        principal.claims = claims.extra;
        Ok(principal)
    }

    /// Loads the principal's user; a user who is gone or inactive is an invalid token.
    pub async fn current_user(&self, principal: &Principal) -> Result<S::User, AuthError> {
        self.store().find_by_id(&principal.user_id).await?.filter(AuthUser::is_active).ok_or_else(revoked)
    }

    /// Sets a new password (the account policy applies). Every grant and token of the user is
    /// revoked.
    pub async fn set_password(&self, id: &UserId, password: &str) -> Result<(), AuthError> {
        let result = self.accounts.set_password(id, password).await;
        self.user_state.invalidate(id);
        result?;
        self.sign_out_all(id).await?;
        if let Some(emails) = &self.emails {
            let reset = auth_core::account_tokens::AccountTokenPurpose::PasswordReset;
            emails.tokens.delete_for_user(id, Some(reset)).await?;
        }
        self.audit(AuditKind::PasswordChanged, Some(id), &[("by", "administrator")]).await;
        Ok(())
    }

    /// Activates or deactivates a user; deactivation revokes every grant and token of the user.
    pub async fn set_active(&self, id: &UserId, active: bool) -> Result<(), AuthError> {
        let result = self.accounts.set_active(id, active).await;
        self.user_state.invalidate(id);
        result?;
        if active {
            return Ok(());
        }
        self.sign_out_all(id).await?;
        self.audit(AuditKind::AccountDeactivated, Some(id), &[]).await;
        Ok(())
    }

    /// An [`Authenticator`] for `Authorization: Bearer <access token>`.
    pub fn bearer_authenticator(self: &Arc<Self>) -> BearerAuthenticator<S> {
        BearerAuthenticator { auth: Arc::clone(self) }
    }
}

/// Authenticates `Authorization: Bearer <JWT access token>`.
pub struct BearerAuthenticator<S: UserStore> {
    auth: Arc<JwtAuth<S>>,
}

impl<S: UserStore> fmt::Debug for BearerAuthenticator<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuthenticator").finish_non_exhaustive()
    }
}

#[async_trait]
impl<S: UserStore> Authenticator for BearerAuthenticator<S> {
    async fn authenticate(&self, parts: &Parts) -> Result<Option<Principal>, AuthError> {
        match auth_core::http_support::bearer_token(&parts.headers) {
            None => Ok(None),
            Some(Err(e)) => Err(e),
            Some(Ok(token)) => self.auth.authenticate_access(token).await.map(Some),
        }
    }
}
