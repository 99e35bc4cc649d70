//! The JWT flows (feature `jwt`): mobile and web sign-in issue an access and a refresh token in a
//! new grant; refresh rotates the refresh token (a replayed one revokes its grant); access tokens
//! are checked against revocations and the user's state.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use auth_blacklist::{NewGrant, RefreshRecord, RevocationEvent, RotateOutcome};
use auth_core::audit::AuditKind;
use auth_core::{
    AuthError, AuthUser, Authenticator, CredentialMethod, Principal, TokenRejection, UserId, UserStore,
};
use auth_jwt::{JwtService, TokenContents, TokenKind};
use chrono::{DateTime, Utc};
use http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::service::revoked;
use crate::{AuthService, ClientInfo, SignInFlow, SignInOutcome, SignInRequest};

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
        self.entries.iter().map(|(c, _)| c.as_str()).find(|c| auth_jwt::RESERVED_CLAIMS.contains(c))
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

/// The JWT part of an [`AuthService`].
pub(crate) struct JwtFlows<U> {
    pub(crate) service: JwtService,
    pub(crate) claims: ClaimMap<U>,
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

/// An access token alone, as the web flow returns it at sign-in and refresh (the refresh token is
/// in the cookie).
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
crate::redacted_debug!(RefreshRequest,);
crate::redacted_debug!(VerifyRequest,);
crate::redacted_debug!(TokenPair, token_type, expires_in);
crate::redacted_debug!(AccessToken, token_type, expires_in);

impl<S: UserStore> AuthService<S> {
    /// The token service, when JWTs are configured.
    pub fn jwt(&self) -> Option<&JwtService> {
        self.jwt.as_ref().map(|j| &j.service)
    }

    fn jwt_flows(&self) -> Result<&JwtFlows<S::User>, AuthError> {
        self.jwt.as_ref().ok_or(AuthError::NotFound)
    }

    /// The grants of the JWT flows (configured whenever JWTs are: the builder checks it).
    fn jwt_grants(&self) -> Result<&crate::service::Grants, AuthError> {
        self.grants.as_ref().ok_or(AuthError::NotFound)
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
        let jwt = self.jwt_flows()?;
        let mut refresh_contents = self.contents_for(user, grant, amr.clone(), auth_time);
        refresh_contents.jti = Some(refresh_jti);
        refresh_contents.not_after = Some(grant_expires.timestamp());
        let refresh = jwt.service.issue(TokenKind::Refresh, &user.id(), refresh_contents)?;
        let mut access_contents = self.contents_for(user, grant, amr, auth_time);
        access_contents.not_after = Some(grant_expires.timestamp());
        access_contents.extra = jwt.claims.claims_for(user);
        let access = jwt.service.issue(TokenKind::Access, &user.id(), access_contents)?;
        Ok(TokenPair {
            access: access.token,
            refresh: refresh.token,
            token_type: "Bearer".to_owned(),
            expires_in: (access.claims.exp - access.claims.iat).max(0),
        })
    }

    /// Starts a grant for `user` and issues its first token pair, without a password check: for
    /// tests, and for code that authenticated the user another way (a first factor should rather
    /// use [`AuthService::sign_in_with`]). Inactive users get [`AuthError::InvalidCredentials`].
    pub async fn tokens_for(&self, user: &S::User, client: &ClientInfo) -> Result<TokenPair, AuthError> {
        let now = self.clock.now().timestamp();
        self.issue_tokens_at(user, client, crate::pipeline::pwd(), now).await
    }

    /// A new grant for `user` and its first pair, recording how (`amr`) and when (`auth_time`)
    /// the user authenticated (an earlier time for a grant that continues after a password
    /// change).
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
        let jwt = self.jwt_flows()?;
        let grants = self.jwt_grants()?;
        self.user_state.invalidate(&user.id());
        let now = self.clock.now();
        let grant_id = uuid::Uuid::new_v4().simple().to_string();
        let jti = uuid::Uuid::new_v4().simple().to_string();
        let expires_at = auth_core::saturating_add(now, self.config.grant_max_age);
        let refresh_expires =
            auth_core::saturating_add(now, jwt.service.config().refresh_ttl).min(expires_at);
        let mut grant = NewGrant::new(grant_id.clone(), user.id(), now, expires_at);
        grant.user_agent = client.user_agent.clone();
        grant.ip = client.ip.clone();
        let first = RefreshRecord::new(jti.clone(), grant_id.clone(), user.id(), now, refresh_expires);
        grants.store.create_grant(grant, first).await?;
        self.issue_pair(user, &grant_id, jti, expires_at, amr, auth_time)
    }

    async fn jwt_sign_in(
        &self,
        request: &SignInRequest,
        client: &ClientInfo,
        flow: SignInFlow,
    ) -> Result<SignInOutcome<TokenPair>, AuthError> {
        match self.password_sign_in(request, flow, client).await? {
            SignInOutcome::Complete(crate::CompletedSignIn {
                credential: crate::Credential::Mobile(pair) | crate::Credential::Web(pair),
                ..
            }) => Ok(SignInOutcome::Complete(pair)),
            SignInOutcome::Complete(_) => Err(crate::pipeline::another_credential()),
            SignInOutcome::MfaRequired(step) => Ok(SignInOutcome::MfaRequired(step)),
        }
    }

    /// Mobile sign-in with a password: a new grant, an access and a refresh token — or, for a
    /// user with MFA, the MFA step ([`SignInOutcome::MfaRequired`]) that
    /// [`AuthService::complete_mfa`] finishes.
    pub async fn sign_in(
        &self,
        request: &SignInRequest,
        client: &ClientInfo,
    ) -> Result<SignInOutcome<TokenPair>, AuthError> {
        self.jwt_sign_in(request, client, SignInFlow::Mobile).await
    }

    /// Web sign-in: [`AuthService::sign_in`], but an MFA step completes as the web flow (the
    /// refresh token goes into the cookie).
    pub async fn web_sign_in(
        &self,
        request: &SignInRequest,
        client: &ClientInfo,
    ) -> Result<SignInOutcome<TokenPair>, AuthError> {
        self.jwt_sign_in(request, client, SignInFlow::Web).await
    }

    /// Rotates a refresh token: it is consumed atomically (of concurrent refreshes exactly one
    /// succeeds) and a new pair in the same grant is returned. A token that was already consumed
    /// revokes its whole grant (reuse detection) and is refused.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let jwt = self.jwt_flows()?;
        let grants = self.jwt_grants()?;
        let claims = jwt.service.verify(refresh_token, TokenKind::Refresh)?;
        let user_id = UserId::new(claims.sub.clone());
        let sid = claims.sid.clone().ok_or_else(revoked)?;
        let issued_at = DateTime::from_timestamp(claims.iat, 0).unwrap_or_default();
        if grants.revocations.is_revoked(Some(&sid), &user_id, issued_at) {
            return Err(revoked());
        }
        // The user from the user-state cache, like an access token's check: a change made through
        // these flows applies at once, one made elsewhere within the cache's bound, and a refresh
        // costs no user read.
        let user = self
            .user_state
            .user(self.store().as_ref(), &user_id)
            .await?
            .filter(|u| u.is_active() && Some(u.credential_fingerprint()) == claims.cfp)
            .ok_or_else(revoked)?;
        if !jwt.service.config().requirements.is_empty() {
            // The access token this refresh would mint: the refresh token's registered claims with
            // the user's current mapped claims. One that would be refused is not minted.
            let mut access = match serde_json::to_value(&claims) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            };
            access.insert("token_type".to_owned(), Value::from("access"));
            access.extend(jwt.claims.claims_for(&user));
            if !jwt.service.meets_requirements(&access) {
                return Err(AuthError::InvalidToken(TokenRejection::ClaimRequirement));
            }
        }
        let now = self.clock.now();
        let next_jti = uuid::Uuid::new_v4().simple().to_string();
        let next = RefreshRecord::new(
            next_jti.clone(),
            sid.clone(),
            user_id.clone(),
            now,
            auth_core::saturating_add(now, jwt.service.config().refresh_ttl),
        );
        match grants.store.rotate(&claims.jti, next, now, self.idle_ttl()).await? {
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
                grants.store.revoke_grant(&grant_id, now).await?;
                grants.revocations.apply(&RevocationEvent::Grant { grant_id: grant_id.clone() });
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

    /// Exchanges a refresh token imported from another system for a token pair in the grant it
    /// was imported into: `record_id` is the imported token's record (`django-<jti>` for the
    /// simplejwt tokens `portcullis import django` imports). The record is consumed exactly like
    /// a refresh token: once (of concurrent exchanges one succeeds), and a second use is reuse,
    /// which revokes the grant. The caller verifies the imported token itself (signature, type,
    /// expiry) before calling this.
    pub async fn exchange_imported_refresh(&self, record_id: &str) -> Result<TokenPair, AuthError> {
        let jwt = self.jwt_flows()?;
        let grants = self.jwt_grants()?;
        let grant = grants.store.grant_of_token(record_id).await?.ok_or_else(revoked)?;
        if self.is_revoked(Some(&grant.id), &grant.user_id, grant.created_at) {
            return Err(revoked());
        }
        let user = self
            .user_state
            .user(self.store().as_ref(), &grant.user_id)
            .await?
            .filter(|u| u.is_active())
            .ok_or_else(revoked)?;
        let now = self.clock.now();
        let next_jti = uuid::Uuid::new_v4().simple().to_string();
        let next = RefreshRecord::new(
            next_jti.clone(),
            grant.id.clone(),
            grant.user_id.clone(),
            now,
            auth_core::saturating_add(now, jwt.service.config().refresh_ttl),
        );
        match grants.store.rotate(record_id, next, now, self.idle_ttl()).await? {
            RotateOutcome::Rotated { grant } => self.issue_pair(
                &user,
                &grant.id,
                next_jti,
                grant.expires_at,
                crate::pipeline::pwd(),
                grant.created_at.timestamp(),
            ),
            RotateOutcome::Reused { grant_id, user_id, .. } => {
                grants.store.revoke_grant(&grant_id, now).await?;
                grants.revocations.apply(&RevocationEvent::Grant { grant_id: grant_id.clone() });
                self.audit(
                    AuditKind::RefreshReuseDetected,
                    Some(&user_id),
                    &[("grant_id", grant_id.as_str()), ("imported", "django")],
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
        let claims = self.jwt_flows()?.service.verify(refresh_token, TokenKind::Refresh)?;
        let sid = claims.sid.ok_or_else(revoked)?;
        self.revoke_grant(&sid).await?;
        self.audit(AuditKind::SignedOut, Some(&UserId::new(claims.sub)), &[("grant_id", sid.as_str())]).await;
        Ok(())
    }

    /// Checks a token of either kind: signature, claims, revocation, and that its user may still
    /// use it.
    pub async fn verify_token(&self, token: &str) -> Result<(), AuthError> {
        let claims = self.jwt_flows()?.service.verify_any_kind(token)?;
        self.check_claims_state(&UserId::new(claims.sub.clone()), &claims).await.map(drop)
    }

    /// Checks revocation and the user's state; returns the user's current authority.
    async fn check_claims_state(
        &self,
        user_id: &UserId,
        claims: &auth_jwt::Claims,
    ) -> Result<std::sync::Arc<auth_core::Authority>, AuthError> {
        self.check_revocations_fresh()?;
        let issued_at = DateTime::from_timestamp(claims.iat, 0).unwrap_or_default();
        if self.is_revoked(claims.sid.as_deref(), user_id, issued_at) {
            return Err(revoked());
        }
        let state = self.user_state.shared(self.store().as_ref(), user_id).await?;
        match state {
            Some(state) if state.is_active && Some(state.fingerprint.as_str()) == claims.cfp.as_deref() => {
                Ok(std::sync::Arc::clone(&state.authority))
            }
            _ => Err(revoked()),
        }
    }

    /// Authenticates an access token and returns its principal.
    pub async fn authenticate_access(&self, token: &str) -> Result<Principal, AuthError> {
        let mut claims = self.jwt_flows()?.service.verify(token, TokenKind::Access)?;
        let user_id = UserId::new(std::mem::take(&mut claims.sub));
        let authority = self.check_claims_state(&user_id, &claims).await?;
        let mut principal = Principal::new(user_id, CredentialMethod::Jwt);
        principal.authority = authority;
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

    /// An [`Authenticator`] for `Authorization: Bearer <access token>`.
    pub fn bearer_authenticator(self: &Arc<Self>) -> BearerAuthenticator<S> {
        BearerAuthenticator { auth: Arc::clone(self) }
    }
}

/// Authenticates `Authorization: Bearer <JWT access token>`.
pub struct BearerAuthenticator<S: UserStore> {
    auth: Arc<AuthService<S>>,
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
