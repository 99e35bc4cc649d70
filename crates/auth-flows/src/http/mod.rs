//! The HTTP endpoints of the JWT flows, framework-free: each takes the request head and body and
//! returns an `http::Response`. The axum and poem adapters only mount them, so both serve the same
//! statuses, headers and bodies byte for byte.

use std::fmt;
use std::sync::Arc;

use auth_core::http_support::{
    RefreshCookie, check_origin, error_response, json_response, no_content, no_store, parse_json_body,
};
use auth_core::{AuthError, AuthUser, Principal, UserStore};
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header::SET_COOKIE};

use crate::{
    CompletedSignIn, DeleteAccountRequest, EmailResendRequest, EmailVerifyRequest, JwtAuth,
    PasswordChangeRequest, PasswordChanged, PasswordResetConfirmRequest, PasswordResetRequest,
    ProfileUpdateRequest, RefreshRequest, RegisterRequest, SignInOutcome, SignInRequest, VerifyRequest,
};

/// The paths of the HTTP contract.
pub mod paths {
    /// `POST` `{username, email?, password}` → 201 `{id, username, email}`; with email verification
    /// on, 201 `{username, email, detail}` also when the address already has an account (its owner
    /// is told by email), so registration does not reveal which addresses have accounts.
    pub const REGISTER: &str = "/api/auth/register";
    /// `POST` `{username, password}` → 200 `{access, refresh, token_type, expires_in}`.
    pub const MOBILE_SIGN_IN: &str = "/api/auth/mobile/sign-in";
    /// `POST` `{refresh}` → 200 `{access, token_type, expires_in}`.
    pub const MOBILE_TOKEN_REFRESH: &str = "/api/auth/mobile/token-refresh";
    /// The web flow's prefix: the refresh cookie's `Path`.
    pub const WEB_PREFIX: &str = "/api/auth/web";
    /// `POST` `{username, password}` → 200 `{access, ...}` and the refresh cookie.
    pub const WEB_SIGN_IN: &str = "/api/auth/web/sign-in";
    /// `POST` (cookie) → 200 `{access, ...}`.
    pub const WEB_TOKEN_REFRESH: &str = "/api/auth/web/token-refresh";
    /// `POST` → 204, cookie cleared.
    pub const WEB_SIGN_OUT: &str = "/api/auth/web/sign-out";
    /// `POST` `{refresh}` → 204: revokes the token's grant.
    pub const MOBILE_SIGN_OUT: &str = "/api/auth/mobile/sign-out";
    /// `POST` (authenticated) → 204: revokes every grant and token of the user.
    pub const SIGN_OUT_ALL: &str = "/api/auth/sign-out-all";
    /// `GET` (authenticated) → the user's active sessions.
    pub const SESSIONS: &str = "/api/auth/sessions";
    /// `DELETE /api/auth/sessions/{id}` (authenticated) → 204, or 404 for someone else's id.
    pub const SESSIONS_PREFIX: &str = "/api/auth/sessions/";
    /// `POST` `{username, password, name?}` → 200 `{token, expires_at}`: an opaque token.
    pub const TOKEN_SIGN_IN: &str = "/api/auth/token/sign-in";
    /// `POST` with `Authorization: Token <t>` → 204: deletes the presented opaque token.
    pub const TOKEN_SIGN_OUT: &str = "/api/auth/token/sign-out";
    /// `POST` `{name, scopes, expires_in?}` (authenticated) → 201 `{id, key, prefix, scopes,
    /// expires_at}`; `GET` → the user's keys without secrets.
    pub const API_KEYS: &str = "/api/auth/api-keys";
    /// `DELETE /api/auth/api-keys/{id}` (authenticated) → 204, or 404 for someone else's id.
    pub const API_KEYS_PREFIX: &str = "/api/auth/api-keys/";
    /// `POST` `{username, password}` → 200 `{user}` + the session and CSRF cookies.
    pub const SESSION_SIGN_IN: &str = "/api/auth/session/sign-in";
    /// `POST` (session cookie + CSRF) → 204, cookies cleared.
    pub const SESSION_SIGN_OUT: &str = "/api/auth/session/sign-out";
    /// `POST` `{token}` → 200 `{}` or 401.
    pub const TOKEN_VERIFY: &str = "/api/auth/token/verify";
    /// `GET` (authenticated) → 200 the user's profile; `PATCH` `{username?, email?}` → 200 the
    /// profile; `DELETE` `{password}` → 204, the account is deactivated and every credential
    /// revoked.
    pub const ME: &str = "/api/auth/me";
    /// `GET` → the JWKS document.
    pub const JWKS: &str = "/.well-known/jwks.json";
    /// `GET` (authenticated) → `{enabled, pending, methods, recovery_codes_remaining, enabled_at}`.
    pub const MFA: &str = "/api/auth/mfa";
    /// `POST` (authenticated) → `{secret, otpauth_uri, qr_svg}`: a pending TOTP factor.
    pub const MFA_TOTP_SETUP: &str = "/api/auth/mfa/totp/setup";
    /// `POST` `{code}` (authenticated) → `{recovery_codes}`: MFA is on.
    pub const MFA_TOTP_CONFIRM: &str = "/api/auth/mfa/totp/confirm";
    /// `POST` `{password, code | recovery_code}` (authenticated) → 204: MFA is off.
    pub const MFA_TOTP_DISABLE: &str = "/api/auth/mfa/totp/disable";
    /// `POST` `{password, code | recovery_code}` (authenticated) → `{recovery_codes}`: a new set.
    pub const MFA_RECOVERY_CODES: &str = "/api/auth/mfa/recovery-codes";
    /// `POST` `{mfa_token, code | recovery_code}` → the credential of the sign-in flow that
    /// started the MFA step.
    pub const MFA_VERIFY: &str = "/api/auth/mfa/verify";
    /// `POST` `{current_password, new_password}` (authenticated) → 204 for a cookie session or an
    /// opaque token (it survives), 200 `{access, refresh, ...}` for a JWT sign-in (it continues
    /// with these); every other credential of the user is revoked.
    pub const PASSWORD_CHANGE: &str = "/api/auth/password/change";
    /// The web flow's password change: as [`PASSWORD_CHANGE`], the new refresh token in the cookie.
    pub const WEB_PASSWORD_CHANGE: &str = "/api/auth/web/password/change";
    /// `POST` `{email}` → 202 always: a reset link goes to a known address.
    pub const PASSWORD_RESET: &str = "/api/auth/password/reset";
    /// `POST` `{token, new_password, code? | recovery_code?}` → 204: every credential revoked.
    pub const PASSWORD_RESET_CONFIRM: &str = "/api/auth/password/reset/confirm";
    /// `POST` `{token}` → 204: the address is verified (or, for an email change, replaces the old).
    pub const EMAIL_VERIFY: &str = "/api/auth/email/verify";
    /// `POST` `{email}` → 202 always: a new verification link to an unverified account.
    pub const EMAIL_RESEND: &str = "/api/auth/email/resend";
    /// `GET` (authenticated) `?limit=&before=` → `{events}`: the user's own audit events.
    pub const ACTIVITY: &str = "/api/auth/activity";
}

/// Settings of the routes an adapter mounts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RouterConfig {
    /// Largest accepted request body in bytes (default 64 KiB); larger ones get a 413.
    pub body_limit: usize,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self { body_limit: 64 * 1024 }
    }
}

impl RouterConfig {
    /// Sets the body limit.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }
}

/// Settings of the web flow (refresh token in an HttpOnly cookie).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebFlowConfig {
    /// How the refresh cookie is written.
    pub cookie: RefreshCookie,
    /// Origins (`scheme://host[:port]`) allowed to make cookie-authenticated requests besides the
    /// server's own.
    pub allowed_origins: Vec<String>,
}

impl WebFlowConfig {
    /// A secure cookie scoped to the web prefix, living as long as refresh tokens.
    pub fn new(refresh_ttl_seconds: i64) -> Self {
        Self {
            cookie: RefreshCookie::new(paths::WEB_PREFIX, refresh_ttl_seconds),
            allowed_origins: Vec::new(),
        }
    }

    /// Development only: cookies without `Secure`.
    pub fn insecure_cookies(mut self, insecure: bool) -> Self {
        self.cookie = self.cookie.insecure_cookies(insecure);
        self
    }

    /// Sets the allowed origins.
    pub fn allowed_origins(mut self, origins: Vec<String>) -> Self {
        self.allowed_origins = origins;
        self
    }
}

/// The endpoints of the JWT flows.
pub struct JwtEndpoints<S: UserStore> {
    auth: Arc<JwtAuth<S>>,
    web: WebFlowConfig,
}

impl<S: UserStore> Clone for JwtEndpoints<S> {
    fn clone(&self) -> Self {
        Self { auth: Arc::clone(&self.auth), web: self.web.clone() }
    }
}

impl<S: UserStore> fmt::Debug for JwtEndpoints<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtEndpoints").field("web", &self.web).finish_non_exhaustive()
    }
}

fn respond(result: Result<Response<Vec<u8>>, AuthError>) -> Response<Vec<u8>> {
    result.unwrap_or_else(|e| error_response(&e))
}

impl<S: UserStore> JwtEndpoints<S> {
    /// Endpoints over the flows `auth`.
    pub fn new(auth: Arc<JwtAuth<S>>, web: WebFlowConfig) -> Self {
        Self { auth, web }
    }

    /// The flows.
    pub fn auth(&self) -> &Arc<JwtAuth<S>> {
        &self.auth
    }

    /// The web-flow settings.
    pub fn web(&self) -> &WebFlowConfig {
        &self.web
    }

    /// The request headers a cross-origin client may send (for CORS preflights): `Authorization`,
    /// `Content-Type`, the API-key header (`x-api-key` unless configured otherwise) and
    /// `X-CSRF-Token`.
    pub fn cors_allow_headers(&self) -> Vec<http::HeaderName> {
        let api_key = self
            .auth
            .api_keys
            .as_ref()
            .map_or_else(|| http::HeaderName::from_static("x-api-key"), |k| k.config.header.clone());
        vec![
            http::header::AUTHORIZATION,
            http::header::CONTENT_TYPE,
            api_key,
            http::HeaderName::from_static("x-csrf-token"),
        ]
    }

    /// The request's client: the one the adapter's scope already resolved, else from the head.
    fn client(&self, parts: &Parts) -> crate::ClientInfo {
        crate::ClientInfo::current().unwrap_or_else(|| self.auth.client_info(parts))
    }

    /// `POST /api/auth/register`.
    pub async fn register(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: RegisterRequest = parse_json_body(&parts.headers, body)?;
                if self.auth.prevents_enumeration() {
                    // The same answer whether the address was free or already had an account.
                    let (username, email) = (request.username.clone(), request.email.clone());
                    self.auth.register_without_enumeration(request).await?;
                    let detail = "Check your email to verify your address.";
                    let body = serde_json::json!({"username": username, "email": email, "detail": detail});
                    return Ok(json_response(StatusCode::CREATED, &body));
                }
                let user = self.auth.register(request).await?;
                let body =
                    serde_json::json!({"id": user.id(), "username": user.username(), "email": user.email()});
                Ok(json_response(StatusCode::CREATED, &body))
            }
            .await,
        )
    }

    /// `POST /api/auth/mobile/sign-in`.
    pub async fn mobile_sign_in(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: SignInRequest = parse_json_body(&parts.headers, body)?;
                match self.auth.sign_in(&request, &self.client(parts)).await? {
                    SignInOutcome::Complete(pair) => Ok(no_store(json_response(StatusCode::OK, &pair))),
                    SignInOutcome::MfaRequired(step) => Ok(mfa_step(&step)),
                }
            }
            .await,
        )
    }

    /// `POST /api/auth/mobile/token-refresh`.
    pub async fn mobile_refresh(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: RefreshRequest = parse_json_body(&parts.headers, body)?;
                let pair = self.auth.refresh(&request.refresh).await?;
                Ok(no_store(json_response(StatusCode::OK, &pair)))
            }
            .await,
        )
    }

    fn with_cookie(mut response: Response<Vec<u8>>, cookie: &str) -> Result<Response<Vec<u8>>, AuthError> {
        let value = HeaderValue::from_str(cookie).map_err(AuthError::backend)?;
        response.headers_mut().append(SET_COOKIE, value);
        Ok(response)
    }

    /// `POST /api/auth/web/sign-in`: the access token in the body, the refresh token in the cookie.
    pub async fn web_sign_in(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                check_origin(parts, &self.web.allowed_origins)?;
                let request: SignInRequest = parse_json_body(&parts.headers, body)?;
                match self.auth.web_sign_in(&request, &self.client(parts)).await? {
                    SignInOutcome::Complete(pair) => self.web_pair_response(pair),
                    SignInOutcome::MfaRequired(step) => Ok(mfa_step(&step)),
                }
            }
            .await,
        )
    }

    /// `POST /api/auth/web/token-refresh`: the refresh token comes from the cookie.
    pub async fn web_refresh(&self, parts: &Parts) -> Response<Vec<u8>> {
        respond(
            async {
                check_origin(parts, &self.web.allowed_origins)?;
                let refresh = self.web.cookie.read(&parts.headers).ok_or(AuthError::MissingCredentials)?;
                let pair = self.auth.refresh(refresh).await?;
                self.web_pair_response(pair)
            }
            .await,
        )
    }

    /// `POST /api/auth/web/sign-out`: revokes the cookie's grant (when the cookie is a valid
    /// refresh token) and clears the cookie.
    pub async fn web_sign_out(&self, parts: &Parts) -> Response<Vec<u8>> {
        respond(
            async {
                check_origin(parts, &self.web.allowed_origins)?;
                if let Some(refresh) = self.web.cookie.read(&parts.headers) {
                    match self.auth.sign_out(refresh).await {
                        Ok(()) | Err(AuthError::InvalidToken(_)) => {}
                        Err(other) => return Err(other),
                    }
                }
                Self::with_cookie(no_store(no_content()), &self.web.cookie.clear())
            }
            .await,
        )
    }

    /// `POST /api/auth/mobile/sign-out` `{refresh}`: revokes the token's grant.
    pub async fn mobile_sign_out(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: RefreshRequest = parse_json_body(&parts.headers, body)?;
                self.auth.sign_out(&request.refresh).await?;
                Ok(no_content())
            }
            .await,
        )
    }

    /// `POST /api/auth/sign-out-all` for an authenticated principal.
    pub async fn sign_out_all(&self, principal: &Principal) -> Response<Vec<u8>> {
        respond(
            async {
                self.auth.sign_out_all(&principal.user_id).await?;
                Ok(no_content())
            }
            .await,
        )
    }

    /// `GET /api/auth/sessions` for an authenticated principal.
    pub async fn sessions(&self, principal: &Principal) -> Response<Vec<u8>> {
        respond(
            async {
                let sessions = self.auth.sessions(principal).await?;
                Ok(no_store(json_response(StatusCode::OK, &sessions)))
            }
            .await,
        )
    }

    /// `DELETE /api/auth/sessions/{id}` for an authenticated principal.
    pub async fn delete_session(&self, principal: &Principal, id: &str) -> Response<Vec<u8>> {
        respond(
            async {
                self.auth.revoke_session(principal, id).await?;
                Ok(no_content())
            }
            .await,
        )
    }

    /// `POST /api/auth/token/sign-in`: an opaque token (404 when opaque tokens are not enabled).
    pub async fn token_sign_in(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::TokenSignInRequest = parse_json_body(&parts.headers, body)?;
                match self.auth.token_sign_in(&request, &self.client(parts)).await? {
                    SignInOutcome::Complete(issued) => Ok(no_store(json_response(StatusCode::OK, &issued))),
                    SignInOutcome::MfaRequired(step) => Ok(mfa_step(&step)),
                }
            }
            .await,
        )
    }

    /// `POST /api/auth/token/sign-out`: deletes the opaque token presented in `Authorization`.
    pub async fn token_sign_out(&self, parts: &Parts) -> Response<Vec<u8>> {
        respond(
            async {
                let token = match self.auth.presented_opaque_token(parts) {
                    Some(token) => token?,
                    None if self.auth.opaque.is_none() => return Err(AuthError::NotFound),
                    None => return Err(AuthError::MissingCredentials),
                };
                self.auth.token_sign_out(token).await?;
                Ok(no_content())
            }
            .await,
        )
    }

    /// `POST /api/auth/api-keys` for an authenticated principal.
    pub async fn create_api_key(
        &self,
        principal: &Principal,
        parts: &Parts,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::CreateApiKeyRequest = parse_json_body(&parts.headers, body)?;
                let created = self.auth.create_api_key(principal, request).await?;
                Ok(no_store(json_response(StatusCode::CREATED, &created)))
            }
            .await,
        )
    }

    /// `GET /api/auth/api-keys` for an authenticated principal.
    pub async fn list_api_keys(&self, principal: &Principal) -> Response<Vec<u8>> {
        respond(
            async {
                let keys = self.auth.list_api_keys(principal).await?;
                Ok(no_store(json_response(StatusCode::OK, &keys)))
            }
            .await,
        )
    }

    /// `DELETE /api/auth/api-keys/{id}` for an authenticated principal.
    pub async fn delete_api_key(&self, principal: &Principal, id: &str) -> Response<Vec<u8>> {
        respond(
            async {
                self.auth.revoke_api_key(principal, id).await?;
                Ok(no_content())
            }
            .await,
        )
    }

    /// `POST /api/auth/session/sign-in`: a new server-side session (404 when sessions are not
    /// enabled).
    pub async fn session_sign_in(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let allowed =
                    self.auth.session_config().map(|c| c.allowed_origins.clone()).unwrap_or_default();
                check_origin(parts, &allowed)?;
                let request: SignInRequest = parse_json_body(&parts.headers, body)?;
                match self.auth.session_sign_in(&request, &self.client(parts)).await? {
                    SignInOutcome::Complete(started) => Self::session_response(started),
                    SignInOutcome::MfaRequired(step) => Ok(mfa_step(&step)),
                }
            }
            .await,
        )
    }

    fn session_response(started: crate::StartedSession<S::User>) -> Result<Response<Vec<u8>>, AuthError> {
        let body = serde_json::json!({"user": started.user.profile()});
        let response = no_store(json_response(StatusCode::OK, &body));
        let response = Self::with_cookie(response, &started.session_cookie)?;
        Self::with_cookie(response, &started.csrf_cookie)
    }

    /// `POST /api/auth/mfa/verify`: completes the MFA step of a sign-in with the credential of
    /// the flow that started it (404 when MFA is not enabled). Cookie-setting completions (web,
    /// session) get the same origin check as their sign-ins.
    pub async fn mfa_verify(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let mut allowed = self.web.allowed_origins.clone();
                if let Some(config) = self.auth.session_config() {
                    allowed.extend(config.allowed_origins.iter().cloned());
                }
                check_origin(parts, &allowed)?;
                let request: crate::MfaVerifyRequest = parse_json_body(&parts.headers, body)?;
                match self.auth.complete_mfa(&request).await? {
                    CompletedSignIn::Mobile(pair) => Ok(no_store(json_response(StatusCode::OK, &pair))),
                    CompletedSignIn::Web(pair) => self.web_pair_response(pair),
                    CompletedSignIn::Token(issued) => Ok(no_store(json_response(StatusCode::OK, &issued))),
                    CompletedSignIn::Session(started) => Self::session_response(started),
                }
            }
            .await,
        )
    }

    /// `GET /api/auth/mfa` for an authenticated principal.
    pub async fn mfa_status(&self, principal: &Principal) -> Response<Vec<u8>> {
        respond(
            async {
                let status = self.auth.mfa_status(principal).await?;
                Ok(no_store(json_response(StatusCode::OK, &status)))
            }
            .await,
        )
    }

    /// `POST /api/auth/mfa/totp/setup` for an authenticated principal.
    pub async fn mfa_totp_setup(&self, principal: &Principal) -> Response<Vec<u8>> {
        respond(
            async {
                let setup = self.auth.begin_totp_setup(principal).await?;
                Ok(no_store(json_response(StatusCode::OK, &setup)))
            }
            .await,
        )
    }

    /// A session's id changes with its privileges: after MFA is switched on or off, a request
    /// authenticated by the session cookie gets a new session id and CSRF token.
    async fn rotated(
        &self,
        principal: &Principal,
        parts: &Parts,
        response: Response<Vec<u8>>,
    ) -> Result<Response<Vec<u8>>, AuthError> {
        if principal.method != auth_core::CredentialMethod::Session {
            return Ok(response);
        }
        match self.auth.rotate_session(parts).await? {
            Some([session, csrf]) => Self::with_cookie(Self::with_cookie(response, &session)?, &csrf),
            None => Ok(response),
        }
    }

    /// `POST /api/auth/mfa/totp/confirm` for an authenticated principal.
    pub async fn mfa_totp_confirm(
        &self,
        principal: &Principal,
        parts: &Parts,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::MfaConfirmRequest = parse_json_body(&parts.headers, body)?;
                let codes = self.auth.confirm_totp(principal, &request.code).await?;
                self.rotated(principal, parts, no_store(json_response(StatusCode::OK, &codes))).await
            }
            .await,
        )
    }

    /// `POST /api/auth/mfa/totp/disable` for an authenticated principal.
    pub async fn mfa_totp_disable(
        &self,
        principal: &Principal,
        parts: &Parts,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::MfaReauthRequest = parse_json_body(&parts.headers, body)?;
                self.auth.disable_mfa(principal, &request).await?;
                self.rotated(principal, parts, no_store(no_content())).await
            }
            .await,
        )
    }

    /// `POST /api/auth/mfa/recovery-codes` for an authenticated principal.
    pub async fn mfa_recovery_codes(
        &self,
        principal: &Principal,
        parts: &Parts,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::MfaReauthRequest = parse_json_body(&parts.headers, body)?;
                let codes = self.auth.regenerate_recovery_codes(principal, &request).await?;
                Ok(no_store(json_response(StatusCode::OK, &codes)))
            }
            .await,
        )
    }

    /// `POST /api/auth/session/sign-out`: ends the cookie's session and clears the cookies.
    pub async fn session_sign_out(&self, parts: &Parts) -> Response<Vec<u8>> {
        respond(
            async {
                let [session, csrf] = self.auth.session_sign_out(parts).await?;
                let response = Self::with_cookie(no_store(no_content()), &session)?;
                Self::with_cookie(response, &csrf)
            }
            .await,
        )
    }

    fn web_pair_response(&self, pair: crate::TokenPair) -> Result<Response<Vec<u8>>, AuthError> {
        let access = crate::AccessToken {
            access: pair.access,
            token_type: pair.token_type,
            expires_in: pair.expires_in,
        };
        let response = no_store(json_response(StatusCode::OK, &access));
        Self::with_cookie(response, &self.web.cookie.set(&pair.refresh))
    }

    /// `POST /api/auth/token/verify`: 200 `{}` when the token (access or refresh) is valid.
    pub async fn verify(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: VerifyRequest = parse_json_body(&parts.headers, body)?;
                self.auth.verify_token(&request.token).await?;
                Ok(json_response(StatusCode::OK, &serde_json::json!({})))
            }
            .await,
        )
    }

    /// `GET /api/auth/me` for an authenticated principal.
    pub async fn me(&self, principal: &Principal) -> Response<Vec<u8>> {
        respond(
            async {
                let user = self.auth.current_user(principal).await?;
                Ok(no_store(json_response(StatusCode::OK, &user.profile())))
            }
            .await,
        )
    }

    /// `POST /api/auth/password/change`: 204, or 200 with the new pair for a JWT sign-in.
    pub async fn password_change(
        &self,
        principal: &Principal,
        parts: &Parts,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        respond(
            async {
                let request: PasswordChangeRequest = parse_json_body(&parts.headers, body)?;
                match self.auth.change_password(principal, &request).await? {
                    PasswordChanged::Reissued(pair) => Ok(no_store(json_response(StatusCode::OK, &pair))),
                    _ => Ok(no_content()),
                }
            }
            .await,
        )
    }

    /// `POST /api/auth/web/password/change`: 204, or 200 `{access, ...}` and the new refresh
    /// cookie for a JWT sign-in.
    pub async fn web_password_change(
        &self,
        principal: &Principal,
        parts: &Parts,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        respond(
            async {
                check_origin(parts, &self.web.allowed_origins)?;
                let request: PasswordChangeRequest = parse_json_body(&parts.headers, body)?;
                match self.auth.change_password(principal, &request).await? {
                    PasswordChanged::Reissued(pair) => self.web_pair_response(pair),
                    _ => Ok(no_content()),
                }
            }
            .await,
        )
    }

    /// `POST /api/auth/password/reset`: 202 whether or not the address is known.
    pub async fn password_reset(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: PasswordResetRequest = parse_json_body(&parts.headers, body)?;
                self.auth.request_password_reset(&request).await?;
                Ok(accepted("If an account with this email address exists, a reset link is on its way."))
            }
            .await,
        )
    }

    /// `POST /api/auth/password/reset/confirm`: 204.
    pub async fn password_reset_confirm(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: PasswordResetConfirmRequest = parse_json_body(&parts.headers, body)?;
                self.auth.confirm_password_reset(&request).await?;
                Ok(no_content())
            }
            .await,
        )
    }

    /// `POST /api/auth/email/verify`: 204.
    pub async fn email_verify(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: EmailVerifyRequest = parse_json_body(&parts.headers, body)?;
                self.auth.verify_email(&request).await?;
                Ok(no_content())
            }
            .await,
        )
    }

    /// `POST /api/auth/email/resend`: 202 whether or not the address is known.
    pub async fn email_resend(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: EmailResendRequest = parse_json_body(&parts.headers, body)?;
                self.auth.resend_verification(&request).await?;
                Ok(accepted("If an unverified account with this email address exists, a link is on its way."))
            }
            .await,
        )
    }

    /// `PATCH /api/auth/me`: 200 the profile.
    pub async fn update_me(&self, principal: &Principal, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: ProfileUpdateRequest = parse_json_body(&parts.headers, body)?;
                let user = self.auth.update_profile(principal, &request).await?;
                Ok(no_store(json_response(StatusCode::OK, &user.profile())))
            }
            .await,
        )
    }

    /// `DELETE /api/auth/me`: 204.
    pub async fn delete_me(&self, principal: &Principal, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: DeleteAccountRequest = parse_json_body(&parts.headers, body)?;
                self.auth.delete_account(principal, &request).await?;
                Ok(no_content())
            }
            .await,
        )
    }

    /// `GET /api/auth/activity?limit=50&before=RFC3339`: the user's own audit events, newest first.
    pub async fn activity(&self, principal: &Principal, parts: &Parts) -> Response<Vec<u8>> {
        respond(
            async {
                let (limit, before) = activity_query(parts.uri.query().unwrap_or(""))?;
                let events = self.auth.activity(principal, limit, before).await?;
                let events: Vec<serde_json::Value> = events
                    .into_iter()
                    .map(|e| {
                        serde_json::json!({
                            "id": e.id, "at": e.at, "kind": e.kind, "ip": e.ip,
                            "user_agent": e.user_agent, "detail": e.detail,
                        })
                    })
                    .collect();
                Ok(no_store(json_response(StatusCode::OK, &serde_json::json!({ "events": events }))))
            }
            .await,
        )
    }

    /// `GET /.well-known/jwks.json`.
    pub fn jwks(&self) -> Response<Vec<u8>> {
        json_response(StatusCode::OK, &self.auth.jwt().jwks())
    }
}

/// A 202 with a `detail` that says the same for every address.
fn accepted(detail: &str) -> Response<Vec<u8>> {
    json_response(StatusCode::ACCEPTED, &serde_json::json!({ "detail": detail }))
}

/// `limit` (1-100, default 50) and `before` (RFC 3339) of the activity query.
fn activity_query(query: &str) -> Result<(usize, Option<chrono::DateTime<chrono::Utc>>), AuthError> {
    let (mut limit, mut before) = (50, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| AuthError::invalid_field("limit", "must be a number from 1 to 100"))?;
            }
            "before" => {
                let value =
                    value.replace("%3A", ":").replace("%3a", ":").replace("%2B", "+").replace("%2b", "+");
                let at = chrono::DateTime::parse_from_rfc3339(&value)
                    .map_err(|_| AuthError::invalid_field("before", "must be an RFC 3339 timestamp"))?;
                before = Some(at.with_timezone(&chrono::Utc));
            }
            _ => {}
        }
    }
    Ok((limit, before))
}

/// The 200 of a sign-in whose MFA step is due: `{mfa_required: true, mfa_token, methods,
/// expires_in}`, never cached.
fn mfa_step(step: &crate::MfaRequired) -> Response<Vec<u8>> {
    no_store(json_response(StatusCode::OK, step))
}

/// The response for a request that needed a credential and had none (or an invalid one).
pub fn unauthenticated(error: Option<AuthError>) -> Response<Vec<u8>> {
    error_response(&error.unwrap_or(AuthError::MissingCredentials))
}

#[cfg(test)]
mod tests {
    use super::activity_query;

    #[test]
    fn activity_query_parses_limit_and_before() {
        assert_eq!(activity_query("").unwrap(), (50, None));
        assert_eq!(activity_query("limit=7&other=x").unwrap().0, 7);
        let (_, before) = activity_query("before=2026-11-23T10%3A00%3A00Z").unwrap();
        assert_eq!(before.unwrap().to_rfc3339(), "2026-11-23T10:00:00+00:00");
        for bad in ["limit=0", "limit=101", "limit=x", "before=yesterday"] {
            assert!(activity_query(bad).is_err(), "{bad}");
        }
    }
}
