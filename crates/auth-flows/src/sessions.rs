//! Server-side cookie sessions: a 256-bit session id in an `HttpOnly; SameSite=Lax` cookie
//! (`__Host-` prefixed when `Secure`), stored only as a SHA-256 hash, each session its own grant
//! (listed in the sessions, ended by sign-out-all, password change and deactivation), idle and
//! absolute timeouts, a fresh id at every sign-in (no session fixation), and CSRF protection: every
//! unsafe request authenticated by the cookie needs the `csrftoken` cookie echoed in
//! `X-CSRF-Token` and a same-origin `Origin`/`Sec-Fetch-Site` when present, else 403.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use auth_blacklist::{NewGrant, RefreshRecord};
use auth_core::{AuthError, AuthUser, Authenticator, CredentialMethod, Principal, TokenRejection, UserStore};
use auth_session::{
    CsrfCookie, SessionCookie, SessionId, SessionRecord, SessionStore, check_csrf, generate_csrf_token,
};
use chrono::Duration;
use http::request::Parts;

use crate::pipeline::another_credential;
use crate::service::revoked;
use crate::{AuthService, ClientInfo, CompletedSignIn, Credential, SignInFlow, SignInOutcome, SignInRequest};

/// Settings of cookie sessions.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Absolute lifetime (default 14 days).
    pub ttl: Duration,
    /// Idle timeout (default 1 day).
    pub idle_ttl: Duration,
    /// Development only: cookies without `Secure` (and without the `__Host-` prefix).
    pub insecure_cookies: bool,
    /// Origins allowed to make cookie-authenticated unsafe requests besides the server's own.
    pub allowed_origins: Vec<String>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::days(14),
            idle_ttl: Duration::days(1),
            insecure_cookies: false,
            allowed_origins: Vec::new(),
        }
    }
}

impl SessionConfig {
    /// Sets the absolute lifetime.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the idle timeout.
    pub fn idle_ttl(mut self, idle_ttl: Duration) -> Self {
        self.idle_ttl = idle_ttl;
        self
    }

    /// Development only: cookies without `Secure`.
    pub fn insecure_cookies(mut self, insecure: bool) -> Self {
        self.insecure_cookies = insecure;
        self
    }

    /// Sets the allowed origins.
    pub fn allowed_origins(mut self, origins: Vec<String>) -> Self {
        self.allowed_origins = origins;
        self
    }

    /// The session cookie these settings write.
    pub fn session_cookie(&self) -> SessionCookie {
        SessionCookie::new(self.ttl).insecure_cookies(self.insecure_cookies)
    }

    /// The CSRF cookie these settings write.
    pub fn csrf_cookie(&self) -> CsrfCookie {
        CsrfCookie::new(self.ttl).insecure_cookies(self.insecure_cookies)
    }
}

#[derive(Debug)]
pub(crate) struct Sessions {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) config: SessionConfig,
    /// The `Origin` check of cookie requests (set when the service is built).
    pub(crate) origin: auth_core::http_support::OriginCheck,
    /// Records by hash, for the credential-cache bound (see the `credential_cache` module).
    pub(crate) cache: crate::credential_cache::CredentialCache<SessionRecord>,
}

/// A started session: the user and the two `Set-Cookie` values.
pub struct StartedSession<U> {
    /// The signed-in user.
    pub user: U,
    /// `Set-Cookie` for the session cookie.
    pub session_cookie: String,
    /// `Set-Cookie` for the readable CSRF cookie.
    pub csrf_cookie: String,
}

impl<U> fmt::Debug for StartedSession<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartedSession").finish_non_exhaustive()
    }
}

impl<S: UserStore> AuthService<S> {
    fn sessions_enabled(&self) -> Result<&Sessions, AuthError> {
        self.sessions.as_ref().ok_or(AuthError::NotFound)
    }

    /// The session settings, when sessions are enabled.
    pub fn session_config(&self) -> Option<&SessionConfig> {
        self.sessions.as_ref().map(|s| &s.config)
    }

    /// The `Origin` check of cookie-session requests, when sessions are enabled.
    pub fn session_origin_check(&self) -> Option<&auth_core::http_support::OriginCheck> {
        self.sessions.as_ref().map(|s| &s.origin)
    }

    /// Signs in with a password and starts a new session (always a new id: no fixation) — or, for
    /// a user with MFA, the MFA step that [`AuthService::complete_mfa`] finishes with the session.
    pub async fn session_sign_in(
        &self,
        request: &SignInRequest,
        client: &ClientInfo,
    ) -> Result<SignInOutcome<StartedSession<S::User>>, AuthError> {
        match self.password_sign_in(request, SignInFlow::Session, client).await? {
            SignInOutcome::Complete(CompletedSignIn { credential: Credential::Session(started), .. }) => {
                Ok(SignInOutcome::Complete(started))
            }
            SignInOutcome::Complete(_) => Err(another_credential()),
            SignInOutcome::MfaRequired(step) => Ok(SignInOutcome::MfaRequired(step)),
        }
    }

    /// Starts a new session for `user` in a new grant, recording how the user authenticated.
    pub(crate) async fn start_session(
        &self,
        user: S::User,
        client: &ClientInfo,
        amr: Vec<String>,
    ) -> Result<StartedSession<S::User>, AuthError> {
        let sessions = self.sessions_enabled()?;
        if !user.is_active() {
            return Err(AuthError::InvalidCredentials);
        }
        let grants = self.grants.as_ref().ok_or(AuthError::NotFound)?;
        let now = self.clock.now();
        let expires_at = auth_core::saturating_add(now, sessions.config.ttl.min(self.config.grant_max_age));
        let grant_id = uuid::Uuid::new_v4().simple().to_string();
        let record_id = uuid::Uuid::new_v4().simple().to_string();
        let mut grant = NewGrant::new(grant_id.clone(), user.id(), now, expires_at).kind("session");
        grant.user_agent = client.user_agent.clone();
        grant.ip = client.ip.clone();
        // The grant's first credential record is the session's: it only ties the id to the grant.
        let credential = RefreshRecord::new(record_id.clone(), grant_id.clone(), user.id(), now, expires_at);
        grants.store.create_grant(grant, credential).await?;
        let (cookie_value, hash) = SessionId::generate();
        let record = SessionRecord::new(
            record_id,
            hash,
            user.id(),
            grant_id,
            now,
            expires_at,
            sessions.config.idle_ttl,
        )
        .amr(amr);
        sessions.store.insert(record).await?;
        let csrf = generate_csrf_token();
        Ok(StartedSession {
            user,
            session_cookie: sessions.config.session_cookie().set(&cookie_value),
            csrf_cookie: sessions.config.csrf_cookie().set(csrf.value()),
        })
    }

    /// Session-fixation defence on a privilege change (MFA enabled or disabled, a role granted):
    /// gives the request's session a new id and a new CSRF token, atomically; the old id stops
    /// working at once. Returns the two `Set-Cookie` values, or `None` when the request has no
    /// usable session cookie (another credential kind authenticated it).
    pub async fn rotate_session(&self, parts: &Parts) -> Result<Option<[String; 2]>, AuthError> {
        let Some(sessions) = self.sessions.as_ref() else {
            return Ok(None);
        };
        let Some(old) = sessions.config.session_cookie().read(&parts.headers).and_then(SessionId::parse)
        else {
            return Ok(None);
        };
        let (cookie_value, new) = SessionId::generate();
        let rotated = sessions.store.rotate(&old, &new, self.clock.now()).await?;
        sessions.cache.forget(&old);
        if rotated.is_none() {
            return Ok(None);
        }
        let csrf = generate_csrf_token();
        Ok(Some([
            sessions.config.session_cookie().set(&cookie_value),
            sessions.config.csrf_cookie().set(csrf.value()),
        ]))
    }

    /// The session a request's cookie presents: `None` without a session cookie; an error for an
    /// unknown, expired or revoked session, or an unsafe request that fails the CSRF check.
    pub async fn session_of(&self, parts: &Parts) -> Result<Option<SessionRecord>, AuthError> {
        Ok(self.session_and_authority(parts).await?.map(|(record, _)| record))
    }

    /// [`AuthService::session_of`] with the user's authority, read by the same check.
    async fn session_and_authority(
        &self,
        parts: &Parts,
    ) -> Result<Option<(SessionRecord, std::sync::Arc<auth_core::Authority>)>, AuthError> {
        let Some(sessions) = self.sessions.as_ref() else {
            return Ok(None);
        };
        let Some(value) = sessions.config.session_cookie().read(&parts.headers) else {
            return Ok(None);
        };
        let hash = SessionId::parse(value).ok_or(AuthError::InvalidToken(TokenRejection::Malformed))?;
        let now = self.clock.now();
        let record = match sessions.cache.fresh(&hash, now) {
            Some(record) => record,
            None => {
                let record = sessions.store.find_by_hash(&hash).await?.ok_or_else(revoked)?;
                sessions.cache.fill(&hash, record, now)
            }
        };
        record.check_usable(now).map_err(|e| AuthError::InvalidToken(e.into()))?;
        if self.is_revoked(Some(&record.grant_id), &record.user_id, record.created_at) {
            return Err(revoked());
        }
        let authority = self.authority(&record.user_id).await?;
        check_csrf(parts, &sessions.config.csrf_cookie(), &sessions.origin)?;
        if record.needs_touch(now) {
            sessions.cache.used(&hash, now);
            let (store, id) = (Arc::clone(&sessions.store), record.id.clone());
            let touch = async move { store.touch(&id, now).await.map(drop) };
            self.record_grant_credential_use(touch, record.grant_id.clone(), now).await;
        }
        Ok(Some((record, authority)))
    }

    /// Ends the request's session (after the CSRF check) and returns the `Set-Cookie` values that
    /// clear both cookies.
    pub async fn session_sign_out(&self, parts: &Parts) -> Result<[String; 2], AuthError> {
        let sessions = self.sessions_enabled()?;
        let record = self.session_of(parts).await?.ok_or(AuthError::MissingCredentials)?;
        sessions.store.delete(&record.id).await?;
        sessions.cache.forget(&record.hash);
        self.revoke_grant(&record.grant_id).await?;
        Ok([sessions.config.session_cookie().clear(), sessions.config.csrf_cookie().clear()])
    }

    /// Stores `value` under `key` in the session of `principal` (typed session data for
    /// applications; read it back with [`Principal::session_value`] on later requests). The
    /// store changes that one key atomically: concurrent requests writing different keys all
    /// land. Not a session: 403.
    pub async fn set_session_value<T: serde::Serialize + ?Sized>(
        &self,
        principal: &Principal,
        key: &str,
        value: &T,
    ) -> Result<(), AuthError> {
        let value = serde_json::to_value(value).map_err(AuthError::backend)?;
        self.write_session_value(principal, key, Some(value)).await
    }

    /// Removes `key` from the session data of `principal`. Not a session: 403.
    pub async fn remove_session_value(&self, principal: &Principal, key: &str) -> Result<(), AuthError> {
        self.write_session_value(principal, key, None).await
    }

    async fn write_session_value(
        &self,
        principal: &Principal,
        key: &str,
        value: Option<serde_json::Value>,
    ) -> Result<(), AuthError> {
        let sessions = self.sessions_enabled()?;
        let Some(id) = principal.credential_id.as_deref() else {
            return Err(AuthError::Forbidden);
        };
        if principal.method != CredentialMethod::Session {
            return Err(AuthError::Forbidden);
        }
        let written = sessions.store.set_value(id, key, value).await?;
        sessions.cache.forget_id(id);
        if written { Ok(()) } else { Err(revoked()) }
    }

    /// An [`Authenticator`] for the session cookie (with the CSRF check on unsafe methods).
    pub fn session_authenticator(self: &Arc<Self>) -> SessionAuthenticator<S> {
        SessionAuthenticator { auth: Arc::clone(self) }
    }
}

/// Authenticates the session cookie; see [`AuthService::session_authenticator`].
pub struct SessionAuthenticator<S: UserStore> {
    auth: Arc<AuthService<S>>,
}

impl<S: UserStore> fmt::Debug for SessionAuthenticator<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionAuthenticator").finish_non_exhaustive()
    }
}

#[async_trait]
impl<S: UserStore> Authenticator for SessionAuthenticator<S> {
    async fn authenticate(&self, parts: &Parts) -> Result<Option<Principal>, AuthError> {
        let Some((record, authority)) = self.auth.session_and_authority(parts).await? else {
            return Ok(None);
        };
        let mut principal = Principal::new(record.user_id, CredentialMethod::Session);
        principal.grant_id = Some(record.grant_id);
        principal.credential_id = Some(record.id);
        principal.amr = record.amr;
        principal.auth_time = Some(record.created_at);
        principal.expires_at = Some(record.expires_at);
        principal.session_data = Some(record.data);
        principal.authority = authority;
        Ok(Some(principal))
    }
}
