//! Social login as a first factor of the sign-in pipeline (feature `flows`): which account an
//! identity signs in to, the native apps' token exchange, the linked-accounts routes.
// Without a credential feature no sign-in flow exists: the matches over flows are empty.
#![cfg_attr(
    not(any(feature = "jwt", feature = "opaque-tokens", feature = "sessions")),
    allow(unreachable_code, unused_variables)
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use auth_core::audit::AuditKind;
use auth_core::http_support::{error_response, json_response, no_content, parse_json_body};
use auth_core::{AuthError, AuthUser, FieldError, Principal, UserId, UserStore};
use auth_flows::{
    AuthEndpoints, AuthService, ClientInfo, CompletedSignIn, FirstFactor, RouteRequest, RouteTable,
    SignInFlow, SignInOutcome,
};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use sha2::Digest as _;

use crate::web::{FlowState, WebFlow};
use crate::{
    ExternalIdentity, LinkedAccount, LinkedAccountStore, OAuthError, ProviderTokenKey, ProviderTokens,
    SocialProvider,
};

/// The paths of social login, under `/api/auth/social/`.
pub mod paths {
    /// `POST /api/auth/social/{provider}/token`: a native app's provider credential for a sign-in.
    pub const TOKEN: &str = "/api/auth/social/{provider}/token";
    /// `GET /api/auth/social/accounts`: the signed-in user's linked accounts.
    pub const ACCOUNTS: &str = "/api/auth/social/accounts";
    /// `DELETE /api/auth/social/accounts/{id}`: unlinks one.
    pub const ACCOUNT: &str = "/api/auth/social/accounts/{id}";
    /// `GET /api/auth/social/{provider}/authorize?next=&flow=web|session`: the redirect to the
    /// provider.
    pub const AUTHORIZE: &str = "/api/auth/social/{provider}/authorize";
    /// `GET /api/auth/social/{provider}/callback`: where the provider sends the browser back.
    pub const CALLBACK: &str = "/api/auth/social/{provider}/callback";
    /// `POST /api/auth/social/{provider}/link`: links a provider identity to the signed-in user.
    pub const LINK: &str = "/api/auth/social/{provider}/link";
    /// The common prefix.
    pub const PREFIX: &str = "/api/auth/social/";
}

/// What a native app presents: the id_token its provider SDK gave it (OpenID Connect), or an
/// access token (OAuth2 providers such as GitHub).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AppCredential {
    /// An id_token, with the nonce the app sent, if any.
    IdToken {
        /// The id_token.
        id_token: String,
        /// The nonce the app put into its authorization request.
        nonce: Option<String>,
    },
    /// An OAuth2 access token, checked at the provider's userinfo endpoint.
    AccessToken(String),
}

/// How an identity found its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// The identity was linked already.
    Linked,
    /// Linked now to the account with the provider's verified email (a trusted provider).
    LinkedByVerifiedEmail,
    /// A new account was created for it.
    NewAccount,
}

/// Social login for an [`AuthService`]: the configured providers and the linked-account store.
///
/// Which account an identity signs in to:
/// 1. the account it is linked to;
/// 2. else, when the provider asserts the email verified **and** the provider is trusted for email
///    ([`ProviderConfig::trust_email`](crate::ProviderConfig::trust_email)), the account with that
///    email, which it is linked to now (django-allauth's `EMAIL_AUTHENTICATION` trade-off: whoever
///    controls the provider account controls this one);
/// 3. else a new, password-less account (username derived from the email or name, made unique),
///    with the email only when it is verified and no account has it. An existing account with that
///    email is neither linked nor revealed: its owner links the provider after signing in.
///
/// The sign-in then goes through the pipeline as every sign-in does: account checks, the MFA step
/// for users with a second factor, the credential of the requested flow, `amr` from the provider
/// (else `["fed"]`). Token exchanges count against the same per-network limits as sign-ins.
#[derive(Debug)]
pub struct SocialLogin {
    providers: BTreeMap<String, Arc<SocialProvider>>,
    links: Arc<dyn LinkedAccountStore>,
    web: Option<WebFlow>,
    token_key: Option<ProviderTokenKey>,
}

impl SocialLogin {
    /// Social login over `links`, with no provider yet.
    pub fn new(links: Arc<dyn LinkedAccountStore>) -> Self {
        Self { providers: BTreeMap::new(), links, web: None, token_key: None }
    }

    /// Keeps the provider's tokens of each sign-in and link, sealed under `key` in the link
    /// (replacing the previous ones), for [`provider_tokens`](Self::provider_tokens). Off by
    /// default: without it no provider token is stored anywhere.
    pub fn store_provider_tokens(mut self, key: ProviderTokenKey) -> Self {
        self.token_key = Some(key);
        self
    }

    /// The provider's tokens of `user`'s link to `provider`, as kept by the last sign-in or link
    /// through it; `None` without a link, when no tokens were kept, or when they do not open
    /// (another key: logged, and left as they are).
    pub async fn provider_tokens(
        &self,
        user: &UserId,
        provider: &str,
    ) -> Result<Option<ProviderTokens>, AuthError> {
        let Some(key) = &self.token_key else { return Ok(None) };
        let links = self.links.list_for_user(user).await?;
        let Some(link) = links.into_iter().find(|l| l.provider == provider) else { return Ok(None) };
        let Some(sealed) = link.tokens.as_deref() else { return Ok(None) };
        match key.open(sealed, &link) {
            Some(tokens) => Ok(Some(tokens)),
            None => {
                tracing::warn!(provider, "stored provider tokens do not open (another key?)");
                Ok(None)
            }
        }
    }

    /// Seals the identity's tokens into its link, when tokens are stored.
    async fn keep_tokens(&self, identity: &ExternalIdentity) -> Result<(), AuthError> {
        let (Some(key), Some(tokens)) = (&self.token_key, &identity.tokens) else { return Ok(()) };
        let Some(link) = self.links.find(&identity.provider, &identity.subject).await? else { return Ok(()) };
        let sealed = key.seal(tokens, &link).map_err(AuthError::backend)?;
        self.links.set_tokens(&link.id, Some(&sealed)).await
    }

    /// Enables the browser's redirect flow (`authorize` and `callback` routes).
    pub fn web_flow(mut self, web: WebFlow) -> Self {
        self.web = Some(web);
        self
    }

    /// Adds a provider, under its configured name.
    pub fn provider(mut self, provider: SocialProvider) -> Self {
        self.providers.insert(provider.config().name.clone(), Arc::new(provider));
        self
    }

    /// A provider by name.
    pub fn get(&self, name: &str) -> Option<&Arc<SocialProvider>> {
        self.providers.get(name)
    }

    /// The linked-account store.
    pub fn links(&self) -> &Arc<dyn LinkedAccountStore> {
        &self.links
    }

    /// The account of `identity` (see the type's docs), linking or creating it as needed.
    pub async fn account_of<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        identity: &ExternalIdentity,
    ) -> Result<(S::User, Resolution), AuthError> {
        let provider = self.get(&identity.provider).ok_or(AuthError::NotFound)?;
        let now = auth.clock().now();
        if let Some(link) = self.links.find(&identity.provider, &identity.subject).await? {
            match auth.store().find_by_id(&link.user_id).await? {
                Some(user) => {
                    self.links.touch(&link.id, now).await?;
                    return Ok((user, Resolution::Linked));
                }
                // The account was deleted: its links go with it, and the identity is new again.
                None => self.links.remove_user(&link.user_id).await?,
            }
        }
        let existing = match &identity.email {
            Some(email) => auth.store().find_by_email(email).await?,
            None => None,
        };
        let has_existing = existing.is_some();
        if identity.email_verified
            && provider.config().trusted_email
            && let Some(user) = existing
        {
            let user_id = user.id();
            let link = LinkedAccount::new(
                user_id.clone(),
                &identity.provider,
                &identity.subject,
                identity.email.clone(),
                now,
            );
            return match self.links.link(&link).await {
                Ok(()) => {
                    let detail = [("provider", identity.provider.as_str()), ("how", "verified_email")];
                    auth.record_event(AuditKind::SocialLinked, Some(&user_id), &detail).await;
                    Ok((user, Resolution::LinkedByVerifiedEmail))
                }
                // A concurrent first sign-in of the same identity linked it: use that link.
                Err(AuthError::Conflict(_)) => self.linked_user(auth, identity).await,
                Err(error) => Err(error),
            };
        }
        let email = identity.email.clone().filter(|_| identity.email_verified && !has_existing);
        let user = create_user(auth, identity, email.clone()).await?;
        let user_id = user.id();
        let link = LinkedAccount::new(
            user_id.clone(),
            &identity.provider,
            &identity.subject,
            identity.email.clone(),
            now,
        );
        match self.links.link(&link).await {
            Ok(()) => {
                let detail = [("provider", identity.provider.as_str()), ("how", "new_account")];
                auth.record_event(AuditKind::SocialLinked, Some(&user_id), &detail).await;
                Ok((user, Resolution::NewAccount))
            }
            Err(AuthError::Conflict(_)) => {
                // Lost a race with a concurrent first sign-in: the account made here has no way
                // to sign in; deactivate it and use the winner's.
                auth.store().set_active(&user_id, false).await?;
                self.linked_user(auth, identity).await
            }
            Err(error) => Err(error),
        }
    }

    async fn linked_user<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        identity: &ExternalIdentity,
    ) -> Result<(S::User, Resolution), AuthError> {
        let link = self
            .links
            .find(&identity.provider, &identity.subject)
            .await?
            .ok_or(AuthError::InvalidCredentials)?;
        let user = auth.store().find_by_id(&link.user_id).await?.ok_or(AuthError::InvalidCredentials)?;
        Ok((user, Resolution::Linked))
    }

    /// The identity behind a native app's credential, counted like a sign-in attempt (429 when the
    /// limits refuse; a refused credential counts as a failure).
    pub async fn identity_from_app<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        provider: &str,
        credential: &AppCredential,
    ) -> Result<ExternalIdentity, AuthError> {
        let social = self.get(provider).ok_or(AuthError::NotFound)?;
        let secret = match credential {
            AppCredential::IdToken { id_token, .. } => id_token.as_str(),
            AppCredential::AccessToken(token) => token.as_str(),
        };
        let attempt = auth.begin_sign_in(&attempt_login(provider, secret), None).await?;
        let identity = match credential {
            AppCredential::IdToken { id_token, nonce } => {
                social.verify_id_token(id_token, nonce.as_deref()).await
            }
            AppCredential::AccessToken(token) => {
                social.identity_from_access_token(token).await.map(|mut identity| {
                    identity.tokens = Some(ProviderTokens {
                        access_token: token.clone(),
                        refresh_token: None,
                        expires_at: None,
                        scopes: Vec::new(),
                    });
                    identity
                })
            }
        };
        match identity {
            Ok(identity) => {
                auth.sign_in_succeeded(attempt).await;
                Ok(identity)
            }
            Err(error) => {
                tracing::debug!(provider, %error, "social credential refused");
                auth.sign_in_failed(attempt).await;
                Err(into_auth_error(error))
            }
        }
    }

    /// A native app's sign-in: the provider credential, the account, then the pipeline (the
    /// credential of `flow`, or the MFA step).
    pub async fn app_sign_in<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        provider: &str,
        credential: &AppCredential,
        flow: SignInFlow,
        client: &ClientInfo,
    ) -> Result<SignInOutcome<CompletedSignIn<S::User>>, AuthError> {
        let identity = self.identity_from_app(auth, provider, credential).await?;
        let (user, _) = self.account_of(auth, &identity).await?;
        self.keep_tokens(&identity).await?;
        let user_id = user.id();
        let tag = flow.tag();
        let factor = FirstFactor::new(user, identity.amr.clone(), auth.clock().now());
        let outcome = auth.sign_in_with(factor, flow, client).await?;
        let detail = [("provider", identity.provider.as_str()), ("flow", tag)];
        auth.record_event(AuditKind::SocialSignIn, Some(&user_id), &detail).await;
        Ok(outcome)
    }

    /// Links the identity behind a provider credential to the signed-in user, after a recent
    /// sign-in (or `proof`). 409 when the identity is linked to anyone already.
    pub async fn link<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        principal: &Principal,
        proof: &auth_flows::Reauthentication,
        provider: &str,
        credential: &AppCredential,
    ) -> Result<LinkedAccount, AuthError> {
        auth.require_recent_authentication(principal, proof).await?;
        let identity = self.identity_from_app(auth, provider, credential).await?;
        let link = LinkedAccount::new(
            principal.user_id.clone(),
            &identity.provider,
            &identity.subject,
            identity.email.clone(),
            auth.clock().now(),
        );
        self.links.link(&link).await?;
        self.keep_tokens(&identity).await?;
        let detail = [("provider", identity.provider.as_str()), ("how", "signed_in")];
        auth.record_event(AuditKind::SocialLinked, Some(&principal.user_id), &detail).await;
        Ok(link)
    }

    /// The signed-in user's linked accounts.
    pub async fn accounts_of(&self, principal: &Principal) -> Result<Vec<LinkedAccount>, AuthError> {
        self.links.list_for_user(&principal.user_id).await
    }

    /// Unlinks one of the signed-in user's accounts: refused (409) when it is the account's last
    /// way to sign in (no password and no other link); 404 when the user has no such link.
    pub async fn unlink<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        principal: &Principal,
        id: &str,
    ) -> Result<(), AuthError> {
        if principal.method == auth_core::CredentialMethod::ApiKey {
            // Like every change to how the account signs in: not with an API key.
            return Err(AuthError::Forbidden);
        }
        let links = self.links.list_for_user(&principal.user_id).await?;
        let link = links.iter().find(|l| l.id == id).ok_or(AuthError::NotFound)?;
        let user = auth.store().find_by_id(&principal.user_id).await?.ok_or(AuthError::NotFound)?;
        if user.password_hash().is_none() && links.len() == 1 {
            return Err(AuthError::Conflict(vec![FieldError::new(
                "id",
                "this is the account's only way to sign in: set a password or link another provider first",
            )]));
        }
        if !self.links.unlink(&principal.user_id, id).await? {
            return Err(AuthError::NotFound);
        }
        auth.record_event(
            AuditKind::SocialUnlinked,
            Some(&principal.user_id),
            &[("provider", &link.provider)],
        )
        .await;
        Ok(())
    }

    /// Adds the social-login routes to a route table: `POST /api/auth/social/{provider}/token`,
    /// `GET /api/auth/social/accounts`, `DELETE /api/auth/social/accounts/{id}` and, with a
    /// [`WebFlow`], `GET /api/auth/social/{provider}/authorize` and `.../callback`.
    pub fn routes<S: UserStore>(
        self: &Arc<Self>,
        table: RouteTable,
        endpoints: Arc<AuthEndpoints<S>>,
    ) -> RouteTable {
        let mut table = table;
        if self.web.is_some() {
            let (social, e) = (Arc::clone(self), Arc::clone(&endpoints));
            table = table.route(Method::GET, paths::AUTHORIZE, false, move |request: RouteRequest| {
                let (social, endpoints) = (Arc::clone(&social), Arc::clone(&e));
                async move {
                    social
                        .authorize_route(&endpoints, &request)
                        .await
                        .unwrap_or_else(|error| error_response(&error))
                }
            });
            let (social, e) = (Arc::clone(self), Arc::clone(&endpoints));
            table = table.route(Method::GET, paths::CALLBACK, false, move |request: RouteRequest| {
                let (social, endpoints) = (Arc::clone(&social), Arc::clone(&e));
                async move { social.callback_route(&endpoints, &request).await }
            });
        }
        let (social, e) = (Arc::clone(self), Arc::clone(&endpoints));
        let table = table.route(Method::POST, paths::TOKEN, false, move |request: RouteRequest| {
            let (social, endpoints) = (Arc::clone(&social), Arc::clone(&e));
            async move {
                token_route(&social, &endpoints, request).await.unwrap_or_else(|error| error_response(&error))
            }
        });
        let (social, e) = (Arc::clone(self), Arc::clone(&endpoints));
        let table = table.route(Method::POST, paths::LINK, true, move |request: RouteRequest| {
            let (social, endpoints) = (Arc::clone(&social), Arc::clone(&e));
            async move {
                let answer = async {
                    let principal = request.principal.as_ref().ok_or(AuthError::MissingCredentials)?;
                    let provider = path_provider(&request, "/link");
                    if social.get(&provider).is_none() {
                        return Err(AuthError::NotFound);
                    }
                    let body: LinkBody = parse_json_body(&request.parts.headers, &request.body)?;
                    let credential = app_credential(body.id_token, body.access_token, body.nonce)?;
                    let proof = auth_flows::Reauthentication {
                        current_password: body.current_password,
                        code: body.code,
                        recovery_code: body.recovery_code,
                    };
                    let link =
                        social.link(endpoints.auth(), principal, &proof, &provider, &credential).await?;
                    Ok(json_response(StatusCode::CREATED, &account_json(&link)))
                };
                answer.await.unwrap_or_else(|error: AuthError| error_response(&error))
            }
        });
        let social = Arc::clone(self);
        let table = table.route(Method::GET, paths::ACCOUNTS, true, move |request: RouteRequest| {
            let social = Arc::clone(&social);
            async move {
                let answer = async {
                    let principal = request.principal.as_ref().ok_or(AuthError::MissingCredentials)?;
                    let accounts: Vec<_> =
                        social.accounts_of(principal).await?.iter().map(account_json).collect();
                    Ok::<_, AuthError>(json_response(StatusCode::OK, &json!({"accounts": accounts})))
                };
                answer.await.unwrap_or_else(|error| error_response(&error))
            }
        });
        #[cfg(feature = "openapi")]
        let table = table.add_openapi(crate::openapi::document(self.web.is_some()));
        let social = Arc::clone(self);
        table.route(Method::DELETE, paths::ACCOUNT, true, move |request: RouteRequest| {
            let (social, endpoints) = (Arc::clone(&social), Arc::clone(&endpoints));
            async move {
                let answer = async {
                    let principal = request.principal.as_ref().ok_or(AuthError::MissingCredentials)?;
                    let id = request.parts.uri.path().rsplit('/').next().unwrap_or_default().to_owned();
                    social.unlink(endpoints.auth(), principal, &id).await?;
                    Ok::<_, AuthError>(no_content())
                };
                answer.await.unwrap_or_else(|error| error_response(&error))
            }
        })
    }
}

impl SocialLogin {
    async fn authorize_route<S: UserStore>(
        &self,
        endpoints: &AuthEndpoints<S>,
        request: &RouteRequest,
    ) -> Result<http::Response<Vec<u8>>, AuthError> {
        let web = self.web.as_ref().ok_or(AuthError::NotFound)?;
        let name = path_provider(request, "/authorize");
        let provider = self.get(&name).ok_or(AuthError::NotFound)?;
        let query = query_of(request);
        let flow = query.get("flow").map_or("web", String::as_str);
        let offered = redirect_flow(flow).is_some_and(|f| endpoints.auth().flow_available(&f).is_ok());
        if !offered {
            return Err(AuthError::invalid_field("flow", "web or session, as this server offers them"));
        }
        let next = web.next_or_default(query.get("next").map(String::as_str));
        let authorization = provider.authorization_request().await.map_err(into_auth_error)?;
        let expires = endpoints.auth().clock().now().timestamp() + 600;
        let state = FlowState { p: name, a: authorization.pending, f: flow.to_owned(), n: next, e: expires };
        let sealed = web.seal(&state).map_err(AuthError::backend)?;
        redirect(&authorization.url, &[web.set_cookie(Some(&sealed))])
    }

    /// The callback always ends in a redirect to the frontend: signed in (the flow's cookies
    /// set), the MFA step (`#mfa_token=...&methods=...`), or `?error=<code>`.
    async fn callback_route<S: UserStore>(
        &self,
        endpoints: &AuthEndpoints<S>,
        request: &RouteRequest,
    ) -> http::Response<Vec<u8>> {
        let Some(web) = self.web.as_ref() else { return error_response(&AuthError::NotFound) };
        let clear = web.set_cookie(None);
        let auth = endpoints.auth();
        let now = auth.clock().now();
        let state = auth_core::http_support::cookie_value(&request.parts.headers, web.cookie_name())
            .and_then(|value| web.open(value, now));
        let name = path_provider(request, "/callback");
        let Some(state) = state.filter(|s| s.p == name) else {
            return fail(&web.frontend_url, "invalid_state", &clear);
        };
        let query = query_of(request);
        if let Some(error) = query.get("error") {
            // The provider's own code when it is a plain OAuth2 one, never free text.
            let code = if error.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                error.as_str()
            } else {
                "provider_error"
            };
            return fail(&state.n, code, &clear);
        }
        let (Some(returned_state), Some(code)) = (query.get("state"), query.get("code")) else {
            return fail(&state.n, "invalid_request", &clear);
        };
        let expires = chrono::DateTime::from_timestamp(state.e, 0).unwrap_or(now);
        if !web.first_use(&state.a.state, expires, now) {
            return fail(&state.n, "invalid_state", &clear);
        }
        let Some(flow) = redirect_flow(&state.f) else {
            return fail(&state.n, "invalid_request", &clear);
        };
        let outcome = async {
            let provider = self.get(&name).ok_or(AuthError::NotFound)?;
            let attempt = auth.begin_sign_in(&attempt_login(&name, returned_state), None).await?;
            let identity = match provider.complete(&state.a, returned_state, code).await {
                Ok(identity) => {
                    auth.sign_in_succeeded(attempt).await;
                    identity
                }
                Err(error) => {
                    tracing::debug!(provider = %name, %error, "social callback refused");
                    auth.sign_in_failed(attempt).await;
                    return Err(into_auth_error(error));
                }
            };
            let (user, _) = self.account_of(auth, &identity).await?;
            self.keep_tokens(&identity).await?;
            let user_id = user.id();
            let tag = flow.tag();
            let factor = FirstFactor::new(user, identity.amr.clone(), now);
            let client = auth.client_info(&request.parts);
            let outcome = auth.sign_in_with(factor, flow, &client).await?;
            let detail = [("provider", identity.provider.as_str()), ("flow", tag)];
            auth.record_event(AuditKind::SocialSignIn, Some(&user_id), &detail).await;
            Ok(outcome)
        }
        .await;
        match outcome {
            Ok(SignInOutcome::MfaRequired(step)) => {
                let location =
                    format!("{}#mfa_token={}&methods={}", state.n, step.mfa_token, step.methods.join(","));
                redirect(&location, &[clear]).unwrap_or_else(|e| error_response(&e))
            }
            Ok(complete) => match endpoints.sign_in_response(complete) {
                Ok(signed_in) => {
                    let mut cookies = vec![clear];
                    cookies.extend(
                        signed_in
                            .headers()
                            .get_all(http::header::SET_COOKIE)
                            .iter()
                            .filter_map(|v| v.to_str().ok().map(str::to_owned)),
                    );
                    let separator = if state.n.contains('?') { '&' } else { '?' };
                    redirect(&format!("{}{separator}social=signed_in", state.n), &cookies)
                        .unwrap_or_else(|e| error_response(&e))
                }
                Err(error) => fail(&state.n, error.code(), &clear),
            },
            Err(error) => fail(&state.n, error.code(), &clear),
        }
    }
}

/// The login a social sign-in attempt is counted under: the per-network counters are what limit
/// it; the per-login ones are per credential (a prefix of its SHA-256), never shared by users.
fn attempt_login(provider: &str, credential: &str) -> String {
    let digest = sha2::Sha256::digest(credential.as_bytes());
    format!("social:{provider}:{:02x}{:02x}{:02x}{:02x}", digest[0], digest[1], digest[2], digest[3])
}

/// The provider's name in `/api/auth/social/{provider}{suffix}`.
fn path_provider(request: &RouteRequest, suffix: &str) -> String {
    request
        .parts
        .uri
        .path()
        .strip_suffix(suffix)
        .and_then(|head| head.rsplit('/').next())
        .unwrap_or_default()
        .to_owned()
}

fn query_of(request: &RouteRequest) -> BTreeMap<String, String> {
    let query = request.parts.uri.query().unwrap_or_default();
    reqwest::Url::parse(&format!("http://q/?{query}"))
        .map(|url| url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default()
}

fn redirect(location: &str, cookies: &[String]) -> Result<http::Response<Vec<u8>>, AuthError> {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = StatusCode::FOUND;
    let headers = response.headers_mut();
    headers.insert(http::header::LOCATION, location.parse().map_err(AuthError::backend)?);
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    for cookie in cookies {
        headers.append(http::header::SET_COOKIE, cookie.parse().map_err(AuthError::backend)?);
    }
    Ok(response)
}

/// The sign-in flow a redirect flow ends in: `web` (the refresh cookie) or `session`, when
/// compiled in.
fn redirect_flow(name: &str) -> Option<SignInFlow> {
    SignInFlow::from_tag(name, None).filter(|flow| matches!(flow.tag(), "web" | "session"))
}

/// Ends a callback on the frontend with an error code.
fn fail(next: &str, code: &str, clear: &str) -> http::Response<Vec<u8>> {
    let separator = if next.contains('?') { '&' } else { '?' };
    redirect(&format!("{next}{separator}error={code}"), &[clear.to_owned()])
        .unwrap_or_else(|e| error_response(&e))
}

fn account_json(account: &LinkedAccount) -> serde_json::Value {
    json!({
        "id": account.id,
        "provider": account.provider,
        "email": account.email,
        "linked_at": account.linked_at,
        "last_used_at": account.last_used_at,
    })
}

/// `{id_token | access_token, nonce?, flow: mobile|web|token|session, name?}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default = "mobile")]
    flow: String,
    #[serde(default)]
    #[cfg_attr(not(feature = "opaque-tokens"), allow(dead_code))]
    name: Option<String>,
}

/// `{id_token | access_token, nonce?, current_password? | code? | recovery_code?}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    current_password: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

/// Exactly one of an id_token and an access token.
fn app_credential(
    id_token: Option<String>,
    access_token: Option<String>,
    nonce: Option<String>,
) -> Result<AppCredential, AuthError> {
    match (id_token, access_token) {
        (Some(id_token), None) if !id_token.is_empty() => Ok(AppCredential::IdToken { id_token, nonce }),
        (None, Some(token)) if !token.is_empty() => Ok(AppCredential::AccessToken(token)),
        _ => Err(AuthError::invalid_field("id_token", "send exactly one of id_token and access_token")),
    }
}

fn mobile() -> String {
    "mobile".to_owned()
}

async fn token_route<S: UserStore>(
    social: &SocialLogin,
    endpoints: &AuthEndpoints<S>,
    request: RouteRequest,
) -> Result<http::Response<Vec<u8>>, AuthError> {
    let provider = request
        .parts
        .uri
        .path()
        .rsplit_once("/token")
        .and_then(|(head, _)| head.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    if social.get(&provider).is_none() {
        return Err(AuthError::NotFound);
    }
    let body: TokenBody = parse_json_body(&request.parts.headers, &request.body)?;
    let credential = app_credential(body.id_token, body.access_token, body.nonce)?;
    let flow = SignInFlow::from_tag(&body.flow, body.name)
        .ok_or_else(|| AuthError::invalid_field("flow", "is not a sign-in flow of this server"))?;
    endpoints.check_sign_in_origin(&request.parts, &flow)?;
    let auth = endpoints.auth();
    let client = auth.client_info(&request.parts);
    let outcome = social.app_sign_in(auth, &provider, &credential, flow, &client).await?;
    endpoints.sign_in_response(outcome)
}

/// A refused provider credential is a refused token (401); the provider being unreachable is a
/// 503; nothing of the provider's answer reaches the client.
fn into_auth_error(error: OAuthError) -> AuthError {
    match error {
        OAuthError::InvalidIdToken(reason) => AuthError::InvalidToken(reason),
        OAuthError::Discovery(_) | OAuthError::Exchange(_) => {
            AuthError::Unavailable { retry_after_seconds: 5 }
        }
        _ => AuthError::InvalidCredentials,
    }
}

/// Creates the password-less account of a new identity, with a username derived from the email's
/// local part (else the name, else the provider).
async fn create_user<S: UserStore>(
    auth: &AuthService<S>,
    identity: &ExternalIdentity,
    email: Option<String>,
) -> Result<S::User, AuthError> {
    let seed = identity
        .email
        .as_deref()
        .and_then(|e| e.split('@').next())
        .or(identity.name.as_deref())
        .unwrap_or(identity.provider.as_str());
    let fallback =
        format!("{}-user", identity.provider.chars().filter(char::is_ascii_alphanumeric).collect::<String>());
    auth.create_passwordless_user(seed, &fallback, email).await
}
