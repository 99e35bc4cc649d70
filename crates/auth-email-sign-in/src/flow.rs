//! Email sign-in as a first factor of `auth-flows`' sign-in pipeline (feature `flows`), with its
//! routes: `POST /api/auth/email-sign-in` and `POST /api/auth/email-sign-in/confirm`.

use std::sync::Arc;

use auth_core::audit::AuditKind;
use auth_core::http_support::{error_response, json_response, parse_json_body};
use auth_core::{AuthError, AuthUser, UserStore, UserUpdate};
use auth_flows::{
    AuthEndpoints, AuthService, ClientInfo, CompletedSignIn, FirstFactor, RouteRequest, RouteTable,
    SignInFlow, SignInOutcome,
};
use chrono::Duration;
use http::{Method, StatusCode};
use serde::Deserialize;

use crate::code::{generate_code, is_code, normalize_email};
use crate::{CodeCheck, CodeKey, EmailSignInStore, PendingEmailSignIn};

/// The routes' paths.
pub mod paths {
    /// `POST {email, flow?}` → 202 always; a known address gets a link and a code.
    pub const REQUEST: &str = "/api/auth/email-sign-in";
    /// `POST {token | email + code, flow?, name?}` → the flow's sign-in answer, or the MFA step.
    pub const CONFIRM: &str = "/api/auth/email-sign-in/confirm";
}

/// How email sign-in behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EmailSignInConfig {
    /// How long a link and code work (default 10 minutes).
    pub ttl: Duration,
    /// Wrong codes before the pending sign-in dies (default 5).
    pub max_attempts: u32,
    /// The frontend's page for links: `{frontend_url}{link_path}?token=…` (default
    /// `/sign-in-link`).
    pub link_path: String,
    /// Whether a used link or code also counts as the second factor of a user with MFA (default
    /// `false`: such users get the MFA step). Turning it on makes the mailbox a single factor for
    /// them.
    pub email_is_second_factor: bool,
    /// Whether an address with no account gets one by confirming (default `false`: nothing is sent
    /// to it).
    pub sign_up: bool,
}

impl Default for EmailSignInConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::minutes(10),
            max_attempts: 5,
            link_path: "/sign-in-link".to_owned(),
            email_is_second_factor: false,
            sign_up: false,
        }
    }
}

/// What confirms an email sign-in.
#[derive(Clone)]
#[non_exhaustive]
pub enum EmailProof {
    /// The token of the emailed link.
    Link(String),
    /// The address and the emailed code.
    Code {
        /// The address the code was sent to.
        email: String,
        /// The 6 digits.
        code: String,
    },
}

impl std::fmt::Debug for EmailProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Link(_) => f.write_str("Link(<redacted>)"),
            Self::Code { email, .. } => f.debug_struct("Code").field("email", email).finish_non_exhaustive(),
        }
    }
}

/// Passwordless sign-in by email: a request emails a single-use link and a 6-digit code to a
/// known address (and answers the same, 202, for every address); confirming either one signs the
/// user in through the pipeline — account checks, the MFA step for users with a second factor
/// (unless [`EmailSignInConfig::email_is_second_factor`]), the credential of the requested flow,
/// `amr` `["email"]`.
///
/// Requests count against the per-address and per-network email limits; confirmations against
/// the sign-in limits. A new request replaces the pending one; a code dies after
/// [`EmailSignInConfig::max_attempts`] wrong tries. Needs the service's account emails (a mailer
/// and a frontend URL).
#[derive(Debug)]
pub struct EmailSignIn {
    store: Arc<dyn EmailSignInStore>,
    key: CodeKey,
    config: EmailSignInConfig,
}

impl EmailSignIn {
    /// Email sign-in over `store`, hashing codes under `key` (the same in every process).
    pub fn new(store: Arc<dyn EmailSignInStore>, key: CodeKey) -> Self {
        Self { store, key, config: EmailSignInConfig::default() }
    }

    /// Replaces the configuration.
    pub fn config(mut self, config: EmailSignInConfig) -> Self {
        self.config = config;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn EmailSignInStore> {
        &self.store
    }

    /// Starts an email sign-in for `email`: checks the address's form, counts the request (429
    /// past the limits) and queues the work. A known, active account's address (or, with
    /// sign-up on, any address) gets the link and the code; any other gets nothing. Either way the
    /// caller answers 202 at once. `flow` is added to the link for the frontend.
    pub async fn request<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        email: &str,
        flow: Option<&str>,
    ) -> Result<(), AuthError> {
        let email = email.trim().to_owned();
        auth_core::Accounts::<S>::validate_email(&email)?;
        if let Some(flow) = flow
            && SignInFlow::from_tag(flow, None).is_none_or(|f| auth.flow_available(&f).is_err())
        {
            return Err(AuthError::invalid_field("flow", "is not a sign-in flow of this server"));
        }
        let mailer = auth.account_mailer().ok_or(AuthError::NotFound)?;
        auth.count_email_request("email-sign-in", &email).await?;
        let job = RequestJob {
            store: Arc::clone(auth.store()),
            pending: Arc::clone(&self.store),
            key: self.key.clone(),
            config: self.config.clone(),
            mailer,
            link_base: auth.frontend_link(&self.config.link_path, "").unwrap_or_default(),
            flow: flow.map(str::to_owned),
            clock: auth.clock().clone(),
            audit: auth.audit_log().clone(),
            client: ClientInfo::current(),
            email: email.clone(),
        };
        auth.queue_email_job(&email, Box::pin(job.run()))
    }

    /// Confirms an email sign-in with the link's token or the address and code, and signs the
    /// user in as `flow` (or answers the MFA step). A wrong, used, replaced, worn-out or expired
    /// proof — and an address with nothing pending — is one 401 `invalid_credentials`, counted as
    /// a failed sign-in.
    pub async fn confirm<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        proof: &EmailProof,
        flow: SignInFlow,
        client: &ClientInfo,
    ) -> Result<SignInOutcome<CompletedSignIn<S::User>>, AuthError> {
        auth.flow_available(&flow)?;
        let now = auth.clock().now();
        let max = self.config.max_attempts;
        let (login, pending) = match proof {
            EmailProof::Link(token) => {
                let hash = auth_core::account_tokens::hash_account_token(token.trim());
                let login = format!("email-link:{}", &hash[..16.min(hash.len())]);
                let attempt = auth.begin_sign_in(&login, None).await?;
                let found = self.store.consume_token(&hash, max, now).await?;
                (attempt, found)
            }
            EmailProof::Code { email, code } => {
                let email = normalize_email(email);
                let attempt = auth.begin_sign_in(&email, None).await?;
                let found = if is_code(code.trim()) {
                    let digest = self.key.digest(&email, code.trim());
                    match self.store.check_code(&email, &digest, max, now).await? {
                        CodeCheck::Matched(pending) => Some(pending),
                        _ => None,
                    }
                } else {
                    None
                };
                (attempt, found)
            }
        };
        let Some(pending) = pending else {
            auth.sign_in_failed(login).await;
            return Err(AuthError::InvalidCredentials);
        };
        let user = match self.account_of(auth, &pending).await {
            Ok(Some(user)) => user,
            Ok(None) => {
                auth.sign_in_failed(login).await;
                return Err(AuthError::InvalidCredentials);
            }
            Err(error) => {
                auth.sign_in_abandoned(login).await;
                return Err(error);
            }
        };
        auth.sign_in_succeeded(login).await;
        let mut factor = FirstFactor::new(user, ["email"], now);
        if self.config.email_is_second_factor {
            factor = factor.satisfies_mfa();
        }
        auth.sign_in_with(factor, flow, client).await
    }

    /// The account a used pending sign-in signs in to: its user (still active, still with that
    /// address), or with sign-up a new password-less account with the address verified. The
    /// address counts as verified from now on.
    async fn account_of<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        pending: &PendingEmailSignIn,
    ) -> Result<Option<S::User>, AuthError> {
        let user = match &pending.user_id {
            Some(id) => auth.store().find_by_id(id).await?,
            None if self.config.sign_up => match auth.store().find_by_email(&pending.email).await? {
                Some(user) => Some(user),
                None => {
                    let seed = pending.email.split('@').next().unwrap_or("user");
                    Some(
                        auth.create_passwordless_user(seed, "email-user", Some(pending.email.clone()))
                            .await?,
                    )
                }
            },
            None => None,
        };
        let Some(user) = user.filter(AuthUser::is_active) else { return Ok(None) };
        // The address may have changed since the request: then the proof is for nobody.
        if user.email().map(normalize_email).as_deref() != Some(pending.email.as_str()) {
            return Ok(None);
        }
        if !user.email_verified() {
            auth.store().update_user(&user.id(), UserUpdate::new().email_verified(true)).await?;
            return auth.store().find_by_id(&user.id()).await;
        }
        Ok(Some(user))
    }

    /// Adds `POST /api/auth/email-sign-in` and `POST /api/auth/email-sign-in/confirm` to a route
    /// table (and, with the `openapi` feature, their operations to its document).
    pub fn routes<S: UserStore>(
        self: &Arc<Self>,
        table: RouteTable,
        endpoints: Arc<AuthEndpoints<S>>,
    ) -> RouteTable {
        #[cfg(feature = "openapi")]
        let table = table.add_openapi(crate::openapi::document());
        let (this, e) = (Arc::clone(self), Arc::clone(&endpoints));
        let table = table.route(Method::POST, paths::REQUEST, false, move |request: RouteRequest| {
            let (this, endpoints) = (Arc::clone(&this), Arc::clone(&e));
            async move {
                let answer = async {
                    let body: RequestBody = parse_json_body(&request.parts.headers, &request.body)?;
                    this.request(endpoints.auth(), &body.email, body.flow.as_deref()).await?;
                    Ok::<_, AuthError>(json_response(
                        StatusCode::ACCEPTED,
                        &serde_json::json!({
                            "detail": "If the address belongs to an account, a sign-in link and code are on their way."
                        }),
                    ))
                };
                answer.await.unwrap_or_else(|error| error_response(&error))
            }
        });
        let this = Arc::clone(self);
        table.route(Method::POST, paths::CONFIRM, false, move |request: RouteRequest| {
            let (this, endpoints) = (Arc::clone(&this), Arc::clone(&endpoints));
            async move {
                let answer = async {
                    let body: ConfirmBody = parse_json_body(&request.parts.headers, &request.body)?;
                    let proof = match (body.token, body.email, body.code) {
                        (Some(token), None, None) if !token.trim().is_empty() => EmailProof::Link(token),
                        (None, Some(email), Some(code)) => EmailProof::Code { email, code },
                        _ => {
                            return Err(AuthError::invalid_field(
                                "token",
                                "send the link's token, or the email and the code",
                            ));
                        }
                    };
                    let flow = SignInFlow::from_tag(body.flow.as_deref().unwrap_or("mobile"), body.name)
                        .ok_or_else(|| {
                            AuthError::invalid_field("flow", "is not a sign-in flow of this server")
                        })?;
                    endpoints.check_sign_in_origin(&request.parts, &flow)?;
                    let auth = endpoints.auth();
                    let client = auth.client_info(&request.parts);
                    let outcome = this.confirm(auth, &proof, flow, &client).await?;
                    endpoints.sign_in_response(outcome)
                };
                answer.await.unwrap_or_else(|error| error_response(&error))
            }
        })
    }
}

/// `POST /api/auth/email-sign-in`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    email: String,
    #[serde(default)]
    flow: Option<String>,
}

/// `POST /api/auth/email-sign-in/confirm`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

impl std::fmt::Debug for ConfirmBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfirmBody")
            .field("email", &self.email)
            .field("flow", &self.flow)
            .finish_non_exhaustive()
    }
}

/// The background work of a request: whether to send, and the sending.
struct RequestJob<S: UserStore> {
    store: Arc<S>,
    pending: Arc<dyn EmailSignInStore>,
    key: CodeKey,
    config: EmailSignInConfig,
    mailer: Arc<dyn auth_mail::Mailer>,
    /// `{frontend_url}{link_path}?token=`.
    link_base: String,
    flow: Option<String>,
    clock: auth_core::SharedClock,
    audit: auth_core::audit::AuditLog,
    client: Option<ClientInfo>,
    email: String,
}

impl<S: UserStore> RequestJob<S> {
    async fn run(self) {
        let user = match self.store.find_by_email(&self.email).await {
            Ok(user) => user.filter(AuthUser::is_active),
            Err(error) => {
                tracing::error!(error = %error, "email sign-in: user lookup failed");
                return;
            }
        };
        let user_id = user.as_ref().map(AuthUser::id);
        let now = self.clock.now();
        let event = auth_flows::audit_event(
            AuditKind::EmailSignInRequested,
            now,
            user_id.as_ref(),
            self.client.as_ref(),
            &[],
        );
        self.audit.record(event).await;
        if user.is_none() && !self.config.sign_up {
            return;
        }
        let to =
            user.as_ref().and_then(|u| u.email().map(str::to_owned)).unwrap_or_else(|| self.email.clone());
        let normalized = normalize_email(&to);
        let (token, token_hash) = auth_core::account_tokens::generate_account_token();
        let code = generate_code();
        let pending = PendingEmailSignIn::new(
            normalized.clone(),
            user_id,
            token_hash,
            self.key.digest(&normalized, &code),
            now,
            auth_core::saturating_add(now, self.config.ttl),
        );
        if let Err(error) = self.pending.replace(&pending).await {
            tracing::error!(error = %error, "email sign-in: could not store the pending sign-in");
            return;
        }
        let mut link = format!("{}{token}", self.link_base);
        if let Some(flow) = &self.flow {
            link.push_str("&flow=");
            link.push_str(flow);
        }
        let minutes = self.config.ttl.num_minutes();
        let text = format!(
            "Sign in with this link:\n\n{link}\n\nor enter this code: {code}\n\nBoth work once, for {minutes} minutes. \
             If you did not ask to sign in, ignore this email: nothing happens without the link or the code.\n"
        );
        let email = auth_mail::Email::new(to, format!("Your sign-in code: {code}"), text);
        if let Err(error) = self.mailer.send(&email).await {
            tracing::error!(error = %error, "email sign-in: could not send the email");
        }
    }
}
