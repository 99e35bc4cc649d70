//! Opaque tokens (the DRF `authtoken` done right): `<prefix>_<256 random bits>`, stored only as a
//! SHA-256 hash, shown once, several per user, each its own grant (so it is listed in the sessions,
//! and dies with sign-out-all, password change and deactivation), absolute and optional idle
//! expiry, `last_used_at` written at most once a minute.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use auth_blacklist::{NewGrant, RefreshRecord};
use auth_core::{AuthError, AuthUser, Authenticator, CredentialMethod, Principal, TokenRejection, UserStore};
use auth_token::{OpaqueTokenRecord, OpaqueTokenStore, TokenFormat};
use chrono::{DateTime, Duration, Utc};
use http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::pipeline::another_credential;
use crate::service::revoked;
use crate::{AuthService, ClientInfo, CompletedSignIn, Credential, SignInFlow, SignInOutcome, SignInRequest};

/// Settings of opaque tokens.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OpaqueTokenConfig {
    /// The token format (prefix `pct` by default, so secret scanners can find leaked tokens).
    pub format: TokenFormat,
    /// Absolute lifetime (default 30 days).
    pub ttl: Duration,
    /// Idle timeout: a token unused for this long dies (default: none).
    pub idle_ttl: Option<Duration>,
    /// Until when tokens of the legacy format (Django REST framework / dj-ninja-auth: 40
    /// lowercase hexadecimal digits, imported by `portcullis import django`) are accepted
    /// (default: never). Like every opaque token, only those whose hash is stored work.
    pub legacy_tokens_until: Option<DateTime<Utc>>,
}

impl Default for OpaqueTokenConfig {
    fn default() -> Self {
        Self {
            format: TokenFormat::opaque_token(),
            ttl: Duration::days(30),
            idle_ttl: None,
            legacy_tokens_until: None,
        }
    }
}

/// Whether `token` has the legacy format of Django REST framework's and dj-ninja-auth's tokens:
/// exactly 40 lowercase hexadecimal digits.
pub fn is_legacy_token(token: &str) -> bool {
    token.len() == 40 && token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl OpaqueTokenConfig {
    /// Sets the format.
    pub fn format(mut self, format: TokenFormat) -> Self {
        self.format = format;
        self
    }

    /// Sets the absolute lifetime.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the idle timeout.
    pub fn idle_ttl(mut self, idle_ttl: Option<Duration>) -> Self {
        self.idle_ttl = idle_ttl;
        self
    }

    /// Accepts imported tokens of the legacy format ([`is_legacy_token`]) until `at`
    /// ([`OpaqueTokenConfig::legacy_tokens_until`]).
    pub fn legacy_tokens_until(mut self, at: Option<DateTime<Utc>>) -> Self {
        self.legacy_tokens_until = at;
        self
    }
}

#[derive(Debug)]
pub(crate) struct OpaqueTokens {
    pub(crate) store: Arc<dyn OpaqueTokenStore>,
    pub(crate) config: OpaqueTokenConfig,
    /// Records by hash, for the credential-cache bound (see the `credential_cache` module).
    pub(crate) cache: crate::credential_cache::CredentialCache<OpaqueTokenRecord>,
}

/// `POST /api/auth/token/sign-in` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenSignInRequest {
    /// Username or email.
    pub username: String,
    /// Password.
    pub password: String,
    /// A name for the token (device or client), shown in the sessions list's user agent field.
    #[serde(default)]
    pub name: Option<String>,
}

impl fmt::Debug for TokenSignInRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSignInRequest")
            .field("username", &self.username)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A new opaque token: shown once, never retrievable again.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssuedOpaqueToken {
    /// The token: send it as `Authorization: Token <token>` (or `Bearer`).
    pub token: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for IssuedOpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedOpaqueToken").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

impl<S: UserStore> AuthService<S> {
    fn opaque(&self) -> Result<&OpaqueTokens, AuthError> {
        self.opaque.as_ref().ok_or(AuthError::NotFound)
    }

    /// Signs in with a password and issues an opaque token in a new grant — or, for a user with
    /// MFA, the MFA step that [`AuthService::complete_mfa`] finishes with the token.
    pub async fn token_sign_in(
        &self,
        request: &TokenSignInRequest,
        client: &ClientInfo,
    ) -> Result<SignInOutcome<IssuedOpaqueToken>, AuthError> {
        let flow = SignInFlow::Token { name: request.name.clone() };
        let password =
            SignInRequest { username: request.username.clone(), password: request.password.clone() };
        match self.password_sign_in(&password, flow, client).await? {
            SignInOutcome::Complete(CompletedSignIn { credential: Credential::Token(issued), .. }) => {
                Ok(SignInOutcome::Complete(issued))
            }
            SignInOutcome::Complete(_) => Err(another_credential()),
            SignInOutcome::MfaRequired(step) => Ok(SignInOutcome::MfaRequired(step)),
        }
    }

    /// Issues an opaque token for `user` in a new grant, recording how the user authenticated.
    pub(crate) async fn issue_opaque_token(
        &self,
        user: &S::User,
        name: Option<String>,
        client: &ClientInfo,
        amr: Vec<String>,
    ) -> Result<IssuedOpaqueToken, AuthError> {
        let opaque = self.opaque()?;
        if !user.is_active() {
            return Err(AuthError::InvalidCredentials);
        }
        let grants = self.grants.as_ref().ok_or(AuthError::NotFound)?;
        let now = self.clock.now();
        let expires_at = auth_core::saturating_add(now, opaque.config.ttl.min(self.config.grant_max_age));
        let grant_id = uuid::Uuid::new_v4().simple().to_string();
        let token_id = uuid::Uuid::new_v4().simple().to_string();
        let mut grant = NewGrant::new(grant_id.clone(), user.id(), now, expires_at).kind("token");
        grant.user_agent = name.clone().or_else(|| client.user_agent.clone());
        grant.ip = client.ip.clone();
        // The grant's first credential record is the token's: it is never presented for rotation
        // (only signed JWTs are), it only ties the token's id to its grant.
        let credential = RefreshRecord::new(token_id.clone(), grant_id.clone(), user.id(), now, expires_at);
        grants.store.create_grant(grant, credential).await?;
        let secret = opaque.config.format.generate();
        let record = OpaqueTokenRecord::from_secret(token_id, &secret, user.id(), grant_id, now, expires_at)
            .name(name)
            .idle_ttl(opaque.config.idle_ttl)
            .amr(amr);
        opaque.store.insert(record).await?;
        Ok(IssuedOpaqueToken { token: secret.into_token(), expires_at })
    }

    /// The presented token's record and its user's authority, after every check. The record comes
    /// from the credential cache when it was read less than the cache's TTL ago; expiry,
    /// revocation and the user are checked on every call.
    async fn opaque_record(
        &self,
        token: &str,
    ) -> Result<(OpaqueTokenRecord, std::sync::Arc<auth_core::Authority>), AuthError> {
        let opaque = self.opaque()?;
        let now = self.clock.now();
        let hash = match opaque.config.format.parse(token) {
            Some(hash) => hash,
            // A legacy token while they are accepted: looked up by its hash like any other.
            None if is_legacy_token(token)
                && opaque.config.legacy_tokens_until.is_some_and(|until| now < until) =>
            {
                auth_token::TokenHash::of(token)
            }
            None => return Err(AuthError::InvalidToken(TokenRejection::Malformed)),
        };
        let record = match opaque.cache.fresh(&hash, now) {
            Some(record) => record,
            None => {
                let record = opaque.store.find_by_hash(&hash).await?.ok_or_else(revoked)?;
                opaque.cache.fill(&hash, record, now)
            }
        };
        record.check_usable(now).map_err(|e| AuthError::InvalidToken(e.into()))?;
        if self.is_revoked(Some(&record.grant_id), &record.user_id, record.created_at) {
            return Err(revoked());
        }
        let authority = self.authority(&record.user_id).await?;
        if record.needs_touch(now) {
            opaque.cache.used(&hash, now);
            let (store, id) = (Arc::clone(&opaque.store), record.id.clone());
            let touch = async move { store.touch(&id, now).await.map(drop) };
            self.record_grant_credential_use(touch, record.grant_id.clone(), now).await;
        }
        Ok((record, authority))
    }

    /// Authenticates an opaque token and returns its principal.
    pub async fn authenticate_opaque(&self, token: &str) -> Result<Principal, AuthError> {
        let (record, authority) = self.opaque_record(token).await?;
        let mut principal = Principal::new(record.user_id, CredentialMethod::OpaqueToken);
        principal.grant_id = Some(record.grant_id);
        principal.credential_id = Some(record.id);
        principal.amr = record.amr;
        principal.auth_time = Some(record.created_at);
        principal.expires_at = Some(record.expires_at);
        principal.authority = authority;
        Ok(principal)
    }

    /// Deletes the presented opaque token and revokes its grant.
    pub async fn token_sign_out(&self, token: &str) -> Result<(), AuthError> {
        let (record, _) = self.opaque_record(token).await?;
        let opaque = self.opaque()?;
        opaque.store.delete(&record.id).await?;
        opaque.cache.forget(&record.hash);
        self.revoke_grant(&record.grant_id).await
    }

    /// An [`Authenticator`] for opaque tokens: `Authorization: Token <t>`, and `Authorization:
    /// Bearer <t>` when `<t>` has the opaque-token prefix (any other Bearer value is left to the JWT
    /// authenticator). Put it before [`BearerAuthenticator`](crate::BearerAuthenticator) in a
    /// [`FirstPresented`](auth_core::FirstPresented) chain.
    pub fn opaque_token_authenticator(self: &Arc<Self>) -> OpaqueTokenAuthenticator<S> {
        OpaqueTokenAuthenticator { auth: Arc::clone(self) }
    }

    /// The opaque token an `Authorization` header presents, if any (see
    /// [`AuthService::opaque_token_authenticator`]).
    pub fn presented_opaque_token<'h>(&self, parts: &'h Parts) -> Option<Result<&'h str, AuthError>> {
        let opaque = self.opaque.as_ref()?;
        let value = parts.headers.get(http::header::AUTHORIZATION)?;
        let Ok(value) = value.to_str() else {
            return Some(Err(AuthError::InvalidToken(TokenRejection::Malformed)));
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let token = rest.trim();
        if scheme.eq_ignore_ascii_case("token") {
            return Some(if token.is_empty() {
                Err(AuthError::InvalidToken(TokenRejection::Malformed))
            } else {
                Ok(token)
            });
        }
        let prefixed = token.strip_prefix(opaque.config.format.prefix()).is_some_and(|r| r.starts_with('_'));
        (scheme.eq_ignore_ascii_case("bearer") && prefixed).then_some(Ok(token))
    }
}

/// Authenticates opaque tokens; see [`AuthService::opaque_token_authenticator`].
pub struct OpaqueTokenAuthenticator<S: UserStore> {
    auth: Arc<AuthService<S>>,
}

impl<S: UserStore> fmt::Debug for OpaqueTokenAuthenticator<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpaqueTokenAuthenticator").finish_non_exhaustive()
    }
}

#[async_trait]
impl<S: UserStore> Authenticator for OpaqueTokenAuthenticator<S> {
    async fn authenticate(&self, parts: &Parts) -> Result<Option<Principal>, AuthError> {
        match self.auth.presented_opaque_token(parts) {
            None => Ok(None),
            Some(Err(e)) => Err(e),
            Some(Ok(token)) => self.auth.authenticate_opaque(token).await.map(Some),
        }
    }
}
