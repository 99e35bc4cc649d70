//! [`AuthEndpoints`]: each endpoint of the contract as a function of the request head (and body)
//! to an `http::Response`.

use std::fmt;
use std::sync::Arc;

use auth_core::http_support::{
    OriginCheck, RefreshCookie, error_response, json_response, no_content, no_store, parse_json_body,
};
use auth_core::{AuthError, AuthUser, Principal, UserStore};
use http::request::Parts;
use http::{Response, StatusCode};
use serde::de::DeserializeOwned;

use super::paths;
use crate::{
    AuthService, ClientInfo, CompletedSignIn, Credential, DeleteAccountRequest, PasswordChangeRequest,
    ProfileUpdateRequest, RegisterRequest, SignInFlow, SignInOutcome,
};

/// Settings of the web flow (refresh token in an HttpOnly cookie).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebFlowConfig {
    /// How the refresh cookie is written (its `Path` follows the routes' prefix:
    /// `{prefix}/web`).
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

/// The endpoints of the HTTP contract over an [`AuthService`], framework-free. The adapters mount
/// [`AuthEndpoints::route_table`]; an application's own first factor answers with
/// [`AuthEndpoints::sign_in_response`].
pub struct AuthEndpoints<S: UserStore> {
    pub(crate) auth: Arc<AuthService<S>>,
    pub(crate) web: WebFlowConfig,
    /// The `Origin` check of the web flow's cookie requests.
    web_origin: OriginCheck,
}

impl<S: UserStore> Clone for AuthEndpoints<S> {
    fn clone(&self) -> Self {
        Self { auth: Arc::clone(&self.auth), web: self.web.clone(), web_origin: self.web_origin.clone() }
    }
}

impl<S: UserStore> fmt::Debug for AuthEndpoints<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthEndpoints").field("web", &self.web).finish_non_exhaustive()
    }
}

/// A request body of the contract: [`parse_json_body`], and a JSON object (every body is one; a
/// JSON array would otherwise fill a struct's fields in order).
fn json_body<T: DeserializeOwned>(parts: &Parts, body: &[u8]) -> Result<T, AuthError> {
    let parsed = parse_json_body(&parts.headers, body)?;
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AuthError::invalid_field("body", "must be a JSON object"));
    }
    Ok(parsed)
}

pub(crate) fn respond(result: Result<Response<Vec<u8>>, AuthError>) -> Response<Vec<u8>> {
    result.unwrap_or_else(|e| error_response(&e))
}

fn with_cookie(mut response: Response<Vec<u8>>, cookie: &str) -> Result<Response<Vec<u8>>, AuthError> {
    let value = http::HeaderValue::from_str(cookie).map_err(AuthError::backend)?;
    response.headers_mut().append(http::header::SET_COOKIE, value);
    Ok(response)
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

impl<S: UserStore> AuthEndpoints<S> {
    /// Endpoints over `auth`. The web flow (with JWTs) writes a secure refresh cookie living as
    /// long as refresh tokens; change it with [`AuthEndpoints::with_web_flow`].
    pub fn new(auth: Arc<AuthService<S>>) -> Self {
        #[cfg(feature = "jwt")]
        let refresh_ttl = auth.jwt().map_or(0, |jwt| jwt.config().refresh_ttl.num_seconds());
        #[cfg(not(feature = "jwt"))]
        let refresh_ttl = 0;
        let web = WebFlowConfig::new(refresh_ttl);
        let web_origin = auth.origin_check(web.allowed_origins.clone(), !web.cookie.secure);
        Self { auth, web, web_origin }
    }

    /// Sets the web flow's cookie and allowed origins.
    pub fn with_web_flow(mut self, web: WebFlowConfig) -> Self {
        self.web_origin = self.auth.origin_check(web.allowed_origins.clone(), !web.cookie.secure);
        self.web = web;
        self
    }

    /// The flows.
    pub fn auth(&self) -> &Arc<AuthService<S>> {
        &self.auth
    }

    /// The web-flow settings.
    pub fn web(&self) -> &WebFlowConfig {
        &self.web
    }

    /// Every origin allowed to make cookie-authenticated requests besides the server's own (the
    /// web flow's and the cookie sessions'); the CORS policy of the routes allows these.
    pub fn allowed_origins(&self) -> Vec<String> {
        #[allow(unused_mut)]
        let mut origins = self.web.allowed_origins.clone();
        #[cfg(feature = "sessions")]
        if let Some(config) = self.auth.session_config() {
            for origin in &config.allowed_origins {
                if !origins.contains(origin) {
                    origins.push(origin.clone());
                }
            }
        }
        origins
    }

    /// The `Origin` check of a request that may set the cookies of either cookie flow (the MFA
    /// step completes the web flow or a cookie session): every allowed origin of both.
    #[cfg_attr(not(feature = "mfa"), allow(dead_code))]
    fn any_cookie_origin(&self) -> OriginCheck {
        #[allow(unused_mut)]
        let mut insecure = !self.web.cookie.secure;
        #[cfg(feature = "sessions")]
        if let Some(config) = self.auth.session_config() {
            insecure |= config.insecure_cookies;
        }
        self.auth.origin_check(self.allowed_origins(), insecure)
    }

    /// The request headers a cross-origin client may send (for CORS preflights): `Authorization`,
    /// `Content-Type`, the API-key header (`x-api-key` unless configured otherwise) and
    /// `X-CSRF-Token`.
    pub fn cors_allow_headers(&self) -> Vec<http::HeaderName> {
        #[cfg(feature = "api-keys")]
        let api_key = self
            .auth
            .api_keys
            .as_ref()
            .map_or_else(|| http::HeaderName::from_static("x-api-key"), |k| k.config.header.clone());
        #[cfg(not(feature = "api-keys"))]
        let api_key = http::HeaderName::from_static("x-api-key");
        vec![
            http::header::AUTHORIZATION,
            http::header::CONTENT_TYPE,
            api_key,
            http::HeaderName::from_static("x-csrf-token"),
        ]
    }

    /// The request's client: the one the adapter's scope already resolved, else from the head.
    fn client(&self, parts: &Parts) -> ClientInfo {
        ClientInfo::current().unwrap_or_else(|| self.auth.client_info(parts))
    }

    /// Refuses a cross-origin request to a sign-in of `flow` that sets cookies (the web flow, a
    /// cookie session): call it before anything else, as the built-in sign-ins do.
    pub fn check_sign_in_origin(&self, parts: &Parts, flow: &SignInFlow) -> Result<(), AuthError> {
        match flow {
            #[cfg(feature = "jwt")]
            SignInFlow::Web => self.web_origin.check(parts),
            #[cfg(feature = "sessions")]
            SignInFlow::Session => match self.auth.session_origin_check() {
                Some(origin) => origin.check(parts),
                None => self.auth.origin_check(Vec::new(), false).check(parts),
            },
            #[allow(unreachable_patterns)]
            _ => {
                let _ = parts;
                Ok(())
            }
        }
    }

    /// The answer to a sign-in, exactly as the built-in sign-ins give it: the MFA step, the
    /// mobile pair in the body, the web flow's access token with the refresh cookie, an opaque
    /// token, or the session and CSRF cookies with the user. Every one is `Cache-Control:
    /// no-store`.
    #[cfg_attr(
        not(any(feature = "jwt", feature = "opaque-tokens", feature = "sessions")),
        allow(unreachable_code, unused_variables, unused_mut)
    )]
    pub fn sign_in_response(
        &self,
        outcome: SignInOutcome<CompletedSignIn<S::User>>,
    ) -> Result<Response<Vec<u8>>, AuthError> {
        let completed = match outcome {
            SignInOutcome::MfaRequired(step) => return Ok(mfa_step(&step)),
            SignInOutcome::Complete(completed) => completed,
        };
        let CompletedSignIn { credential, device_token } = completed;
        let mut response = match credential {
            #[cfg(feature = "jwt")]
            Credential::Mobile(pair) => no_store(json_response(StatusCode::OK, &pair)),
            #[cfg(feature = "jwt")]
            Credential::Web(pair) => self.web_pair_response(pair)?,
            #[cfg(feature = "opaque-tokens")]
            Credential::Token(issued) => no_store(json_response(StatusCode::OK, &issued)),
            #[cfg(feature = "sessions")]
            Credential::Session(started) => session_response(started)?,
            Credential::_User(never, _) => match never {},
        };
        if let Some(token) = device_token {
            let cookie = auth_core::DeviceCookie::new().insecure_cookies(!self.web.cookie.secure);
            response = with_cookie(response, &cookie.set(&token))?;
        }
        Ok(response)
    }

    /// `POST /api/auth/register`.
    pub async fn register(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: RegisterRequest = json_body(parts, body)?;
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

    /// A password sign-in of `flow` answered by [`AuthEndpoints::sign_in_response`].
    #[allow(dead_code)]
    async fn password_sign_in(&self, parts: &Parts, body: &[u8], flow: SignInFlow) -> Response<Vec<u8>> {
        respond(
            async {
                self.check_sign_in_origin(parts, &flow)?;
                let request: crate::SignInRequest = json_body(parts, body)?;
                let outcome = self.auth.password_sign_in(&request, flow, &self.client(parts)).await?;
                self.sign_in_response(outcome)
            }
            .await,
        )
    }

    /// `POST /api/auth/sign-out-all` for an authenticated principal.
    pub async fn sign_out_all(&self, principal: &Principal) -> Response<Vec<u8>> {
        respond(
            async {
                self.auth.sign_out_everywhere(principal).await?;
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

    /// `GET /api/auth/me` for an authenticated principal.
    pub async fn me(&self, principal: &Principal) -> Response<Vec<u8>> {
        respond(
            async {
                let user = self.auth.cached_user(principal).await?;
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
                let request: PasswordChangeRequest = json_body(parts, body)?;
                match self.auth.change_password(principal, &request).await? {
                    #[cfg(feature = "jwt")]
                    crate::PasswordChanged::Reissued(pair) => {
                        Ok(no_store(json_response(StatusCode::OK, &pair)))
                    }
                    #[cfg(feature = "sessions")]
                    _ if principal.method == auth_core::CredentialMethod::Session => {
                        // A privilege change: the session goes on under a new id (and CSRF token).
                        let mut response = no_content();
                        for cookie in self.auth.rotate_session(parts).await?.into_iter().flatten() {
                            response = with_cookie(response, &cookie)?;
                        }
                        Ok(response)
                    }
                    _ => Ok(no_content()),
                }
            }
            .await,
        )
    }

    /// `PATCH /api/auth/me`: 200 the profile.
    pub async fn update_me(&self, principal: &Principal, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: ProfileUpdateRequest = json_body(parts, body)?;
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
                let request: DeleteAccountRequest = json_body(parts, body)?;
                self.auth.delete_account(principal, &request).await?;
                Ok(no_content())
            }
            .await,
        )
    }
}

/// The JWT flows' endpoints.
#[cfg(feature = "jwt")]
impl<S: UserStore> AuthEndpoints<S> {
    fn web_pair_response(&self, pair: crate::TokenPair) -> Result<Response<Vec<u8>>, AuthError> {
        let access = crate::AccessToken {
            access: pair.access,
            token_type: pair.token_type,
            expires_in: pair.expires_in,
        };
        let response = no_store(json_response(StatusCode::OK, &access));
        with_cookie(response, &self.web.cookie.set(&pair.refresh))
    }

    /// `POST /api/auth/mobile/sign-in`.
    pub async fn mobile_sign_in(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        self.password_sign_in(parts, body, SignInFlow::Mobile).await
    }

    /// `POST /api/auth/mobile/token-refresh`.
    pub async fn mobile_refresh(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::RefreshRequest = json_body(parts, body)?;
                let pair = self.auth.refresh(&request.refresh).await?;
                Ok(no_store(json_response(StatusCode::OK, &pair)))
            }
            .await,
        )
    }

    /// `POST /api/auth/web/sign-in`: the access token in the body, the refresh token in the cookie.
    pub async fn web_sign_in(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        self.password_sign_in(parts, body, SignInFlow::Web).await
    }

    /// `POST /api/auth/web/token-refresh`: the refresh token comes from the cookie.
    pub async fn web_refresh(&self, parts: &Parts) -> Response<Vec<u8>> {
        respond(
            async {
                self.web_origin.check(parts)?;
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
                self.web_origin.check(parts)?;
                if let Some(refresh) = self.web.cookie.read(&parts.headers) {
                    match self.auth.sign_out(refresh).await {
                        Ok(()) | Err(AuthError::InvalidToken(_)) => {}
                        Err(other) => return Err(other),
                    }
                }
                with_cookie(no_store(no_content()), &self.web.cookie.clear())
            }
            .await,
        )
    }

    /// `POST /api/auth/mobile/sign-out` `{refresh}`: revokes the token's grant.
    pub async fn mobile_sign_out(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::RefreshRequest = json_body(parts, body)?;
                self.auth.sign_out(&request.refresh).await?;
                Ok(no_content())
            }
            .await,
        )
    }

    /// `POST /api/auth/token/verify`: 200 `{}` when the token (access or refresh) is valid.
    pub async fn verify(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::VerifyRequest = json_body(parts, body)?;
                self.auth.verify_token(&request.token).await?;
                Ok(json_response(StatusCode::OK, &serde_json::json!({})))
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
                self.web_origin.check(parts)?;
                let request: PasswordChangeRequest = json_body(parts, body)?;
                match self.auth.change_password(principal, &request).await? {
                    crate::PasswordChanged::Reissued(pair) => self.web_pair_response(pair),
                    _ => Ok(no_content()),
                }
            }
            .await,
        )
    }

    /// `GET /.well-known/jwks.json`.
    pub fn jwks(&self) -> Response<Vec<u8>> {
        match self.auth.jwt() {
            Some(jwt) => json_response(StatusCode::OK, &jwt.jwks()),
            None => error_response(&AuthError::NotFound),
        }
    }
}

/// The opaque-token endpoints.
#[cfg(feature = "opaque-tokens")]
impl<S: UserStore> AuthEndpoints<S> {
    /// `POST /api/auth/token/sign-in`: an opaque token.
    pub async fn token_sign_in(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::TokenSignInRequest = json_body(parts, body)?;
                let flow = SignInFlow::Token { name: request.name.clone() };
                let password = crate::SignInRequest {
                    username: request.username.clone(),
                    password: request.password.clone(),
                };
                let outcome = self.auth.password_sign_in(&password, flow, &self.client(parts)).await?;
                self.sign_in_response(outcome)
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
}

/// The API-key endpoints.
#[cfg(feature = "api-keys")]
impl<S: UserStore> AuthEndpoints<S> {
    /// `POST /api/auth/api-keys` for an authenticated principal.
    pub async fn create_api_key(
        &self,
        principal: &Principal,
        parts: &Parts,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::CreateApiKeyRequest = json_body(parts, body)?;
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
}

#[cfg(feature = "sessions")]
fn session_response<U: AuthUser>(started: crate::StartedSession<U>) -> Result<Response<Vec<u8>>, AuthError> {
    let body = serde_json::json!({"user": started.user.profile()});
    let response = no_store(json_response(StatusCode::OK, &body));
    let response = with_cookie(response, &started.session_cookie)?;
    with_cookie(response, &started.csrf_cookie)
}

/// The cookie-session endpoints.
#[cfg(feature = "sessions")]
impl<S: UserStore> AuthEndpoints<S> {
    /// `POST /api/auth/session/sign-in`: a new server-side session.
    pub async fn session_sign_in(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        self.password_sign_in(parts, body, SignInFlow::Session).await
    }

    /// `POST /api/auth/session/sign-out`: ends the cookie's session and clears the cookies.
    pub async fn session_sign_out(&self, parts: &Parts) -> Response<Vec<u8>> {
        respond(
            async {
                let [session, csrf] = self.auth.session_sign_out(parts).await?;
                let response = with_cookie(no_store(no_content()), &session)?;
                with_cookie(response, &csrf)
            }
            .await,
        )
    }
}

/// The MFA endpoints.
#[cfg(feature = "mfa")]
impl<S: UserStore> AuthEndpoints<S> {
    /// `POST /api/auth/mfa/verify`: completes the MFA step of a sign-in with the credential of
    /// the flow that started it. Cookie-setting completions (web, session) get the same origin
    /// check as their sign-ins.
    pub async fn mfa_verify(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                self.any_cookie_origin().check(parts)?;
                let request: crate::MfaVerifyRequest = json_body(parts, body)?;
                let completed = self.auth.complete_mfa(&request).await?;
                self.sign_in_response(SignInOutcome::Complete(completed))
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

    /// `POST /api/auth/mfa/totp/setup` for an authenticated principal: no body (or `null`) within
    /// the re-authentication window, else `{current_password, code?, recovery_code?}`.
    pub async fn mfa_totp_setup(
        &self,
        principal: &Principal,
        parts: &Parts,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        respond(
            async {
                let proof: crate::Reauthentication = if body.trim_ascii() == b"null" || body.is_empty() {
                    crate::Reauthentication::default()
                } else {
                    json_body(parts, body)?
                };
                let setup = self.auth.begin_totp_setup(principal, &proof).await?;
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
        #[cfg(feature = "sessions")]
        if principal.method == auth_core::CredentialMethod::Session
            && let Some([session, csrf]) = self.auth.rotate_session(parts).await?
        {
            return with_cookie(with_cookie(response, &session)?, &csrf);
        }
        let _ = (principal, parts);
        Ok(response)
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
                let request: crate::MfaConfirmRequest = json_body(parts, body)?;
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
                let request: crate::MfaReauthRequest = json_body(parts, body)?;
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
                let request: crate::MfaReauthRequest = json_body(parts, body)?;
                let codes = self.auth.regenerate_recovery_codes(principal, &request).await?;
                Ok(no_store(json_response(StatusCode::OK, &codes)))
            }
            .await,
        )
    }
}

/// A 202 with a `detail` that says the same for every address.
#[cfg(feature = "account-emails")]
fn accepted(detail: &str) -> Response<Vec<u8>> {
    json_response(StatusCode::ACCEPTED, &serde_json::json!({ "detail": detail }))
}

/// The account-email endpoints.
#[cfg(feature = "account-emails")]
impl<S: UserStore> AuthEndpoints<S> {
    /// `POST /api/auth/password/reset`: 202 whether or not the address is known.
    pub async fn password_reset(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::PasswordResetRequest = json_body(parts, body)?;
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
                let request: crate::PasswordResetConfirmRequest = json_body(parts, body)?;
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
                let request: crate::EmailVerifyRequest = json_body(parts, body)?;
                self.auth.verify_email(&request).await?;
                Ok(no_content())
            }
            .await,
        )
    }

    /// `POST /api/auth/email/change/cancel`: 204, the pending change of address is cancelled.
    pub async fn email_change_cancel(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::EmailChangeCancelRequest = json_body(parts, body)?;
                self.auth.cancel_email_change(&request).await?;
                Ok(no_content())
            }
            .await,
        )
    }

    /// `POST /api/auth/email/resend`: 202 whether or not the address is known.
    pub async fn email_resend(&self, parts: &Parts, body: &[u8]) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::EmailResendRequest = json_body(parts, body)?;
                self.auth.resend_verification(&request).await?;
                Ok(accepted("If an unverified account with this email address exists, a link is on its way."))
            }
            .await,
        )
    }
}

/// The activity endpoint.
#[cfg(feature = "audit")]
impl<S: UserStore> AuthEndpoints<S> {
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
}

/// `limit` (1-100, default 50) and `before` (RFC 3339) of the activity query.
#[cfg(feature = "audit")]
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

/// Decodes one `%`-encoded component of a path or query (`+` is a space in a query).
fn decode_component(raw: &str, query: bool) -> Result<String, AuthError> {
    let raw = if query { raw.replace('+', " ") } else { raw.to_owned() };
    percent_encoding::percent_decode_str(&raw)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| AuthError::invalid_field("path", "not UTF-8 after percent-decoding"))
}

/// `q`, `cursor` and `limit` (1 to [`MAX_USERS_PAGE`](crate::admin::MAX_USERS_PAGE), default
/// 50) of the admin users list.
fn users_query(query: &str) -> Result<(Option<String>, Option<String>, usize), AuthError> {
    let (mut search, mut cursor, mut limit) = (None, None, 50);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "q" => search = Some(decode_component(value, true)?).filter(|q| !q.is_empty()),
            "cursor" => cursor = Some(decode_component(value, true)?).filter(|c| !c.is_empty()),
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=crate::admin::MAX_USERS_PAGE).contains(n))
                    .ok_or_else(|| AuthError::invalid_field("limit", "must be a number from 1 to 200"))?;
            }
            _ => {}
        }
    }
    Ok((search, cursor, limit))
}

/// The admin endpoints (`/api/auth/admin/...`; see [`crate::admin`]).
impl<S: UserStore> AuthEndpoints<S> {
    /// `GET /api/auth/revocations[?since=]` (see [`AuthService::revocation_feed`]).
    pub async fn revocation_feed(&self, principal: &Principal, parts: &Parts) -> Response<Vec<u8>> {
        respond(
            async {
                let mut since = None;
                for pair in parts.uri.query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
                    if let Some(value) = pair.strip_prefix("since=") {
                        let cursor = value
                            .parse::<i64>()
                            .map_err(|_| AuthError::invalid_field("since", "must be a cursor, 0 or more"))?;
                        since = Some(cursor);
                    }
                }
                let feed = self.auth.revocation_feed(principal, since).await?;
                Ok(no_store(json_response(StatusCode::OK, &feed)))
            }
            .await,
        )
    }

    /// `GET /api/auth/admin/users?q=&limit=&cursor=` → `{results, next_cursor}`.
    pub async fn admin_list_users(&self, principal: &Principal, parts: &Parts) -> Response<Vec<u8>> {
        respond(
            async {
                let (search, cursor, limit) = users_query(parts.uri.query().unwrap_or(""))?;
                let page = self.auth.admin_list_users(principal, search, cursor, limit).await?;
                let body = serde_json::json!({"results": page.results, "next_cursor": page.next_cursor});
                Ok(no_store(json_response(StatusCode::OK, &body)))
            }
            .await,
        )
    }

    /// `GET /api/auth/admin/users/{id}`.
    pub async fn admin_get_user(&self, principal: &Principal, id: &str) -> Response<Vec<u8>> {
        respond(
            async {
                let view = self.auth.admin_get_user(principal, &decode_component(id, false)?).await?;
                Ok(no_store(json_response(StatusCode::OK, &view)))
            }
            .await,
        )
    }

    /// `PATCH /api/auth/admin/users/{id}` `{is_active?, is_staff?, is_superuser?, roles?}`.
    pub async fn admin_update_user(
        &self,
        principal: &Principal,
        id: &str,
        parts: &Parts,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        respond(
            async {
                let update: crate::AdminUserUpdate = json_body(parts, body)?;
                let view =
                    self.auth.admin_update_user(principal, &decode_component(id, false)?, update).await?;
                Ok(no_store(json_response(StatusCode::OK, &view)))
            }
            .await,
        )
    }

    /// `POST /api/auth/admin/users/{id}/sign-out-all` → 204.
    pub async fn admin_sign_out_user(&self, principal: &Principal, id: &str) -> Response<Vec<u8>> {
        respond(
            async {
                self.auth.admin_sign_out_user(principal, &decode_component(id, false)?).await?;
                Ok(no_content())
            }
            .await,
        )
    }

    /// `GET /api/auth/admin/roles` → the roles with their permissions.
    pub async fn admin_list_roles(&self, principal: &Principal) -> Response<Vec<u8>> {
        respond(
            async {
                let roles = self.auth.admin_list_roles(principal).await?;
                Ok(no_store(json_response(StatusCode::OK, &roles)))
            }
            .await,
        )
    }

    /// `POST /api/auth/admin/roles` `{name, description?, permissions?}` → 201 the role.
    pub async fn admin_create_role(
        &self,
        principal: &Principal,
        parts: &Parts,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::CreateRoleRequest = json_body(parts, body)?;
                let role = self.auth.admin_create_role(principal, request).await?;
                Ok(no_store(json_response(StatusCode::CREATED, &role)))
            }
            .await,
        )
    }

    /// `GET /api/auth/admin/roles/{name}`.
    pub async fn admin_get_role(&self, principal: &Principal, name: &str) -> Response<Vec<u8>> {
        respond(
            async {
                let role = self.auth.admin_get_role(principal, &decode_component(name, false)?).await?;
                Ok(no_store(json_response(StatusCode::OK, &role)))
            }
            .await,
        )
    }

    /// `DELETE /api/auth/admin/roles/{name}` → 204.
    pub async fn admin_delete_role(&self, principal: &Principal, name: &str) -> Response<Vec<u8>> {
        respond(
            async {
                self.auth.admin_delete_role(principal, &decode_component(name, false)?).await?;
                Ok(no_content())
            }
            .await,
        )
    }

    /// `POST /api/auth/admin/roles/{name}/permissions` `{permission}` → 200 the role.
    pub async fn admin_grant_permission(
        &self,
        principal: &Principal,
        name: &str,
        parts: &Parts,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        respond(
            async {
                let request: crate::GrantPermissionRequest = json_body(parts, body)?;
                let name = decode_component(name, false)?;
                let role = self.auth.admin_grant_permission(principal, &name, &request.permission).await?;
                Ok(no_store(json_response(StatusCode::OK, &role)))
            }
            .await,
        )
    }

    /// `DELETE /api/auth/admin/roles/{name}/permissions/{permission}` → 204.
    pub async fn admin_revoke_permission(
        &self,
        principal: &Principal,
        name: &str,
        permission: &str,
    ) -> Response<Vec<u8>> {
        respond(
            async {
                let (name, permission) =
                    (decode_component(name, false)?, decode_component(permission, false)?);
                self.auth.admin_revoke_permission(principal, &name, &permission).await?;
                Ok(no_content())
            }
            .await,
        )
    }
}

#[cfg(all(test, feature = "audit"))]
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

#[cfg(test)]
mod admin_query_tests {
    use super::{decode_component, users_query};

    #[test]
    fn users_query_parses_search_cursor_and_limit() {
        assert_eq!(users_query("").unwrap(), (None, None, 50));
        let (q, cursor, limit) = users_query("q=ali+ce%40x&cursor=01J&limit=7").unwrap();
        assert_eq!((q.as_deref(), cursor.as_deref(), limit), (Some("ali ce@x"), Some("01J"), 7));
        for bad in ["limit=0", "limit=201", "limit=x", "q=%FF"] {
            assert!(users_query(bad).is_err(), "{bad}");
        }
        assert_eq!(decode_component("notes%3Adelete", false).unwrap(), "notes:delete");
        assert_eq!(decode_component("a+b", false).unwrap(), "a+b", "a path keeps its plus signs");
    }
}
