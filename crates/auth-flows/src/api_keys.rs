//! API keys for machine clients: `<prefix>_<256 random bits>`, stored only as a SHA-256 hash,
//! shown once, scoped, optionally expiring, last use tracked (written at most once a minute).
//! Sent as `X-API-Key` (header name configurable). A key only works while its user is active.

use auth_core::audit::AuditKind;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use auth_core::{
    AuthError, Authenticator, CredentialMethod, FieldError, Principal, TokenRejection, UserStore,
};
use auth_token::{ApiKeyInfo, ApiKeyRecord, ApiKeyStore, TokenFormat, is_valid_scope};
use chrono::{DateTime, Duration, Utc};
use http::HeaderName;
use http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::AuthService;

/// Settings of API keys.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiKeyConfig {
    /// The key format (prefix `pck` by default).
    pub format: TokenFormat,
    /// The request header that carries a key (default `x-api-key`).
    pub header: HeaderName,
}

impl Default for ApiKeyConfig {
    fn default() -> Self {
        Self { format: TokenFormat::api_key(), header: HeaderName::from_static("x-api-key") }
    }
}

impl ApiKeyConfig {
    /// Sets the format.
    pub fn format(mut self, format: TokenFormat) -> Self {
        self.format = format;
        self
    }

    /// Sets the header name.
    pub fn header(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }
}

#[derive(Debug)]
pub(crate) struct ApiKeys {
    pub(crate) store: Arc<dyn ApiKeyStore>,
    pub(crate) config: ApiKeyConfig,
    /// Records by hash, for the credential-cache bound (see the `credential_cache` module).
    pub(crate) cache: crate::credential_cache::CredentialCache<ApiKeyRecord>,
}

/// `POST /api/auth/api-keys` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateApiKeyRequest {
    /// A name for the key (1-128 characters).
    pub name: String,
    /// Scopes the key is limited to (RFC 6749 scope tokens).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Lifetime in seconds; none for a key that does not expire.
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// The current password, when the sign-in is older than the re-authentication window (a key
    /// acts for the user without them).
    #[serde(default)]
    pub current_password: Option<String>,
    /// With the current password, for an account with MFA: a current TOTP code...
    #[serde(default)]
    pub code: Option<String>,
    /// ... or an unused recovery code.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

impl fmt::Debug for CreateApiKeyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateApiKeyRequest")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// A new API key: `key` is shown once and never again.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    /// Key id (for listing and revocation).
    pub id: String,
    /// The key: send it as `X-API-Key: <key>`.
    pub key: String,
    /// Identifies the key in listings without revealing it (`<prefix>_<first characters>`).
    pub prefix: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// When it expires, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("id", &self.id)
            .field("prefix", &self.prefix)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl<S: UserStore> AuthService<S> {
    fn api_keys(&self) -> Result<&ApiKeys, AuthError> {
        self.api_keys.as_ref().ok_or(AuthError::NotFound)
    }

    /// Keys are managed with the user's own credentials, never with another API key.
    fn manager(principal: &Principal) -> Result<(), AuthError> {
        if principal.method == CredentialMethod::ApiKey { Err(AuthError::Forbidden) } else { Ok(()) }
    }

    /// Creates an API key for the principal's user.
    pub async fn create_api_key(
        &self,
        principal: &Principal,
        request: CreateApiKeyRequest,
    ) -> Result<CreatedApiKey, AuthError> {
        Self::manager(principal)?;
        let keys = self.api_keys()?;
        let proof = crate::Reauthentication {
            current_password: request.current_password.clone(),
            code: request.code.clone(),
            recovery_code: request.recovery_code.clone(),
        };
        self.require_recent_authentication(principal, &proof).await?;
        let mut problems = Vec::new();
        let name = request.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 128 {
            problems.push(FieldError::new("name", "must be 1-128 characters"));
        }
        if let Some(bad) = request.scopes.iter().find(|s| !is_valid_scope(s)) {
            problems.push(FieldError::new("scopes", format!("`{bad}` is not a valid scope")));
        }
        if request.expires_in.is_some_and(|s| s <= 0 || s > 10 * 365 * 86_400) {
            problems.push(FieldError::new("expires_in", "must be between 1 second and 10 years"));
        }
        if !problems.is_empty() {
            return Err(AuthError::InvalidInput(problems));
        }
        let now = self.clock.now();
        let expires_at = request.expires_in.map(|s| auth_core::saturating_add(now, Duration::seconds(s)));
        let secret = keys.config.format.generate();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let record = ApiKeyRecord::from_secret(
            id.clone(),
            &secret,
            principal.user_id.clone(),
            name,
            request.scopes,
            now,
        )
        .expires_at(expires_at);
        let info = record.public_view();
        keys.store.insert(record).await?;
        self.audit(AuditKind::ApiKeyCreated, Some(&principal.user_id), &[("key_id", id.as_str())]).await;
        Ok(CreatedApiKey {
            id,
            prefix: format!("{}_{}", keys.config.format.prefix(), info.lookup),
            key: secret.into_token(),
            scopes: info.scopes,
            expires_at: info.expires_at,
        })
    }

    /// The principal's user's keys, without secrets.
    pub async fn list_api_keys(&self, principal: &Principal) -> Result<Vec<ApiKeyInfo>, AuthError> {
        Self::manager(principal)?;
        self.flush_last_uses().await;
        let keys = self.api_keys()?.store.list_for_user(&principal.user_id).await?;
        Ok(keys.iter().map(ApiKeyRecord::public_view).collect())
    }

    /// Revokes one of the principal's user's keys; someone else's or an unknown id is
    /// [`AuthError::NotFound`].
    pub async fn revoke_api_key(&self, principal: &Principal, id: &str) -> Result<(), AuthError> {
        Self::manager(principal)?;
        let now = self.clock.now();
        let keys = self.api_keys()?;
        if keys.store.revoke(&principal.user_id, id, now).await? {
            keys.cache.forget_id(id);
            self.audit(AuditKind::ApiKeyRevoked, Some(&principal.user_id), &[("key_id", id)]).await;
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }

    /// Authenticates an API key and returns its principal (method `ApiKey`, the key's scopes).
    pub async fn authenticate_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        let keys = self.api_keys()?;
        let revoked = || AuthError::InvalidToken(TokenRejection::Revoked);
        let hash = keys.config.format.parse(key).ok_or(AuthError::InvalidToken(TokenRejection::Malformed))?;
        let now = self.clock.now();
        let record = match keys.cache.fresh(&hash, now) {
            Some(record) => record,
            None => {
                let record = keys.store.find_by_hash(&hash).await?.ok_or_else(revoked)?;
                keys.cache.fill(&hash, record, now)
            }
        };
        record.check_usable(now).map_err(|e| AuthError::InvalidToken(e.into()))?;
        let authority = self.authority(&record.user_id).await?;
        if record.needs_touch(now) {
            keys.cache.used(&hash, now);
            let store = Arc::clone(&keys.store);
            let id = record.id.clone();
            self.last_use.write(async move { store.touch(&id, now).await.map(drop) }).await;
        }
        let mut principal = Principal::new(record.user_id, CredentialMethod::ApiKey);
        principal.credential_id = Some(record.id);
        principal.scopes = record.scopes;
        principal.expires_at = record.expires_at;
        principal.authority = authority;
        Ok(principal)
    }

    /// An [`Authenticator`] for API keys in the configured header (`X-API-Key`).
    pub fn api_key_authenticator(self: &Arc<Self>) -> ApiKeyAuthenticator<S> {
        ApiKeyAuthenticator { auth: Arc::clone(self) }
    }
}

/// Authenticates API keys; see [`AuthService::api_key_authenticator`].
pub struct ApiKeyAuthenticator<S: UserStore> {
    auth: Arc<AuthService<S>>,
}

impl<S: UserStore> fmt::Debug for ApiKeyAuthenticator<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyAuthenticator").finish_non_exhaustive()
    }
}

#[async_trait]
impl<S: UserStore> Authenticator for ApiKeyAuthenticator<S> {
    async fn authenticate(&self, parts: &Parts) -> Result<Option<Principal>, AuthError> {
        let Some(keys) = self.auth.api_keys.as_ref() else {
            return Ok(None);
        };
        let Some(value) = parts.headers.get(&keys.config.header) else {
            return Ok(None);
        };
        let key = value.to_str().map_err(|_| AuthError::InvalidToken(TokenRejection::Malformed))?;
        self.auth.authenticate_api_key(key.trim()).await.map(Some)
    }
}
