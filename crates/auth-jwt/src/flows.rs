//! The sign-in flows: register, sign in, refresh, verify, and bearer authentication of requests.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use auth_core::{
    Accounts, AuthError, AuthUser, Authenticator, CredentialMethod, Principal, Registration, TokenRejection,
    UserId, UserStateCache, UserStore,
};
use chrono::{DateTime, Duration};
use http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{IssuedToken, JwtService, TokenContents, TokenKind};

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
/// use auth_jwt::ClaimMap;
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
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self { user_state_ttl: Duration::seconds(1) }
    }
}

/// The JWT sign-in flows over a [`UserStore`]: the framework-free half of every adapter.
pub struct JwtAuth<S: UserStore> {
    accounts: Accounts<S>,
    jwt: JwtService,
    claims: ClaimMap<S::User>,
    config: FlowConfig,
    user_state: UserStateCache,
}

impl<S: UserStore> fmt::Debug for JwtAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("jwt", &self.jwt)
            .field("accounts", &self.accounts)
            .field("claims", &self.claims)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: UserStore> JwtAuth<S> {
    /// The flows over `store`, hashing with `hasher` and issuing with `jwt`.
    pub fn new(accounts: Accounts<S>, jwt: JwtService) -> Self {
        let config = FlowConfig::default();
        let user_state = UserStateCache::new(config.user_state_ttl, jwt.clock().clone());
        Self { accounts, jwt, claims: ClaimMap::new(), config, user_state }
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

    /// Creates a user from the public registration endpoint (never staff).
    pub async fn register(&self, request: RegisterRequest) -> Result<S::User, AuthError> {
        self.accounts.register(Registration::new(request.username, request.email, request.password)).await
    }

    fn contents_for(&self, user: &S::User, sid: Option<String>, auth_time: i64) -> TokenContents {
        TokenContents {
            sid,
            cfp: Some(user.credential_fingerprint()),
            amr: vec!["pwd".to_owned()],
            auth_time: Some(auth_time),
            extra: Map::new(),
        }
    }

    fn issue_access(&self, user: &S::User, contents: TokenContents) -> Result<IssuedToken, AuthError> {
        let mut contents = contents;
        contents.extra = self.claims.claims_for(user);
        self.jwt.issue(TokenKind::Access, &user.id(), contents)
    }

    /// Signs in with a password and returns an access and a refresh token.
    pub async fn sign_in(&self, request: &SignInRequest) -> Result<TokenPair, AuthError> {
        let now = self.jwt.clock().now();
        let user = self.accounts.authenticate_password(&request.username, &request.password, now).await?;
        self.tokens_for(&user)
    }

    /// Issues an access and a refresh token for `user` without a password check: for tests, and
    /// for flows that authenticated the user another way. Inactive users get
    /// [`AuthError::InvalidCredentials`].
    pub fn tokens_for(&self, user: &S::User) -> Result<TokenPair, AuthError> {
        if !user.is_active() {
            return Err(AuthError::InvalidCredentials);
        }
        self.user_state.invalidate(&user.id());
        let sid = uuid::Uuid::new_v4().simple().to_string();
        let contents = self.contents_for(user, Some(sid), self.jwt.clock().unix_seconds());
        let refresh = self.jwt.issue(TokenKind::Refresh, &user.id(), contents.clone())?;
        let access = self.issue_access(user, contents)?;
        Ok(TokenPair {
            access: access.token,
            refresh: refresh.token,
            token_type: "Bearer".to_owned(),
            expires_in: self.jwt.config().access_ttl.num_seconds(),
        })
    }

    /// Exchanges a refresh token for a new access token. The user must still be active and have
    /// the same password as when the refresh token was issued.
    pub async fn refresh(&self, refresh_token: &str) -> Result<AccessToken, AuthError> {
        let claims = self.jwt.verify(refresh_token, TokenKind::Refresh)?;
        let user_id = UserId::new(claims.sub.clone());
        let user = self
            .store()
            .find_by_id(&user_id)
            .await?
            .filter(|u| u.is_active() && Some(u.credential_fingerprint()) == claims.cfp)
            .ok_or(AuthError::InvalidToken(TokenRejection::Revoked))?;
        let mut contents =
            self.contents_for(&user, claims.sid.clone(), claims.auth_time.unwrap_or(claims.iat));
        contents.amr = claims.amr.clone();
        let access = self.issue_access(&user, contents)?;
        Ok(AccessToken {
            access: access.token,
            token_type: "Bearer".to_owned(),
            expires_in: self.jwt.config().access_ttl.num_seconds(),
        })
    }

    /// Checks a token of either kind: signature, claims, and that its user may still use it.
    pub async fn verify_token(&self, token: &str) -> Result<(), AuthError> {
        let claims = self.jwt.verify_any_kind(token)?;
        self.check_user_state(&claims.sub, claims.cfp.as_deref()).await
    }

    async fn check_user_state(&self, sub: &str, cfp: Option<&str>) -> Result<(), AuthError> {
        let state = self.user_state.get(self.store().as_ref(), &UserId::new(sub)).await?;
        match state {
            Some(state) if state.is_active && Some(state.fingerprint.as_str()) == cfp => Ok(()),
            _ => Err(AuthError::InvalidToken(TokenRejection::Revoked)),
        }
    }

    /// Authenticates an access token and returns its principal.
    pub async fn authenticate_access(&self, token: &str) -> Result<Principal, AuthError> {
        let claims = self.jwt.verify(token, TokenKind::Access)?;
        self.check_user_state(&claims.sub, claims.cfp.as_deref()).await?;
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
        self.store()
            .find_by_id(&principal.user_id)
            .await?
            .filter(AuthUser::is_active)
            .ok_or(AuthError::InvalidToken(TokenRejection::Revoked))
    }

    /// Sets a new password (the account policy applies). Every token issued before stops working.
    pub async fn set_password(&self, id: &UserId, password: &str) -> Result<(), AuthError> {
        let result = self.accounts.set_password(id, password).await;
        self.user_state.invalidate(id);
        result
    }

    /// Activates or deactivates a user; a deactivated user's tokens stop working.
    pub async fn set_active(&self, id: &UserId, active: bool) -> Result<(), AuthError> {
        let result = self.accounts.set_active(id, active).await;
        self.user_state.invalidate(id);
        result
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
