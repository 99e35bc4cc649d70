//! Passkeys as a first factor of `auth-flows`' sign-in pipeline (feature `flows`), with their
//! routes under `/api/auth/passkeys`.

use std::sync::Arc;

use auth_core::audit::AuditKind;
use auth_core::http_support::{error_response, json_response, no_content, parse_json_body};
use auth_core::{AuthError, AuthUser, FieldError, Principal, UserStore};
use auth_flows::{
    AuthEndpoints, AuthService, ClientInfo, CompletedSignIn, FirstFactor, Reauthentication, RouteRequest,
    RouteTable, SignInFlow, SignInOutcome,
};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{CeremonyOptions, Passkey, PasskeyError, Passkeys};

/// The routes' paths.
pub mod paths {
    /// `POST` (signed in, recent sign-in) → creation options and a challenge id.
    pub const REGISTER_BEGIN: &str = "/api/auth/passkeys/register/begin";
    /// `POST {challenge_id, name, credential}` → 201, the passkey.
    pub const REGISTER_FINISH: &str = "/api/auth/passkeys/register/finish";
    /// `POST` → request options (discoverable credentials) and a challenge id.
    pub const SIGN_IN_BEGIN: &str = "/api/auth/passkeys/sign-in/begin";
    /// `POST {challenge_id, credential, flow?, name?}` → the flow's sign-in answer.
    pub const SIGN_IN_FINISH: &str = "/api/auth/passkeys/sign-in/finish";
    /// `GET` → the signed-in user's passkeys.
    pub const LIST: &str = "/api/auth/passkeys";
    /// `PATCH {name}` renames, `DELETE` (recent sign-in) removes one.
    pub const ONE: &str = "/api/auth/passkeys/{id}";
}

/// Passkeys in the sign-in pipeline: registration by a signed-in user (after a recent sign-in),
/// passwordless sign-in with a discoverable passkey — account checks, the credential of the
/// requested flow, `amr` `["hwk"]` or `["swk"]` plus `"user"` when the authenticator verified the
/// user, and no MFA step then (a passkey with user verification is multi-factor by itself) —,
/// and the management of one's passkeys.
///
/// A refused assertion counts as a failed sign-in for the client's network.
#[derive(Debug)]
pub struct PasskeySignIn {
    passkeys: Arc<Passkeys>,
}

impl PasskeySignIn {
    /// The flows over a [`Passkeys`] service.
    pub fn new(passkeys: Arc<Passkeys>) -> Self {
        Self { passkeys }
    }

    /// The ceremonies.
    pub fn passkeys(&self) -> &Arc<Passkeys> {
        &self.passkeys
    }

    /// Starts a registration for the signed-in user: not with an API key, and after a sign-in
    /// within the re-authentication window (or `proof`).
    pub async fn begin_registration<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        principal: &Principal,
        proof: &Reauthentication,
    ) -> Result<CeremonyOptions, AuthError> {
        auth.require_recent_authentication(principal, proof).await?;
        let user = auth.store().find_by_id(&principal.user_id).await?.ok_or(AuthError::NotFound)?;
        let account = user.email().unwrap_or(user.username()).to_owned();
        Ok(self.passkeys.begin_registration(&principal.user_id, &account, user.username()).await?)
    }

    /// Finishes a registration the same user began.
    pub async fn finish_registration<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        principal: &Principal,
        challenge_id: &str,
        name: &str,
        credential: Value,
    ) -> Result<Passkey, AuthError> {
        let passkey =
            self.passkeys.finish_registration(challenge_id, &principal.user_id, name, credential).await?;
        auth.record_event(AuditKind::PasskeyRegistered, Some(&principal.user_id), &[("name", &passkey.name)])
            .await;
        Ok(passkey)
    }

    /// Signs in with a passkey's assertion for a challenge of
    /// [`Passkeys::begin_authentication`], as `flow`.
    pub async fn sign_in<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        challenge_id: &str,
        credential: Value,
        flow: SignInFlow,
        client: &ClientInfo,
    ) -> Result<SignInOutcome<CompletedSignIn<S::User>>, AuthError> {
        auth.flow_available(&flow)?;
        let id = credential.get("id").and_then(Value::as_str).unwrap_or_default();
        let login = format!("passkey:{}", id.chars().take(64).collect::<String>());
        let attempt = auth.begin_sign_in(&login, None).await?;
        let signed_in = match self.passkeys.finish_authentication(challenge_id, credential).await {
            Ok(signed_in) => signed_in,
            Err(error @ (PasskeyError::Store(_) | PasskeyError::Engine(_) | PasskeyError::Config(_))) => {
                auth.sign_in_abandoned(attempt).await;
                return Err(error.into());
            }
            Err(PasskeyError::InvalidInput { field, message }) => {
                auth.sign_in_abandoned(attempt).await;
                return Err(AuthError::InvalidInput(vec![FieldError::new(field, message)]));
            }
            Err(error) => {
                tracing::debug!(%error, "passkey sign-in refused");
                auth.sign_in_failed(attempt).await;
                return Err(AuthError::InvalidCredentials);
            }
        };
        let user = auth.store().find_by_id(&signed_in.user_id).await?.filter(AuthUser::is_active);
        let Some(user) = user else {
            auth.sign_in_failed(attempt).await;
            return Err(AuthError::InvalidCredentials);
        };
        auth.sign_in_succeeded(attempt).await;
        let mut factor = FirstFactor::new(user, signed_in.amr.clone(), auth.clock().now());
        if signed_in.user_verified {
            factor = factor.satisfies_mfa();
        }
        auth.sign_in_with(factor, flow, client).await
    }

    /// Removes one of the signed-in user's passkeys after a recent sign-in (or `proof`): refused
    /// (409) when it is the account's last way to sign in (no password, no other passkey).
    pub async fn remove<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        principal: &Principal,
        proof: &Reauthentication,
        id: &str,
    ) -> Result<(), AuthError> {
        auth.require_recent_authentication(principal, proof).await?;
        let passkeys = self.passkeys.list(&principal.user_id).await?;
        let passkey = passkeys.iter().find(|p| p.id == id).ok_or(AuthError::NotFound)?;
        let user = auth.store().find_by_id(&principal.user_id).await?.ok_or(AuthError::NotFound)?;
        if user.password_hash().is_none() && passkeys.len() == 1 {
            return Err(AuthError::Conflict(vec![FieldError::new(
                "id",
                "this is the account's only way to sign in: set a password or add another passkey first",
            )]));
        }
        if !self.passkeys.delete(&principal.user_id, id).await? {
            return Err(AuthError::NotFound);
        }
        auth.record_event(AuditKind::PasskeyRemoved, Some(&principal.user_id), &[("name", &passkey.name)])
            .await;
        Ok(())
    }

    /// Renames one of the signed-in user's passkeys (not with an API key).
    pub async fn rename<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        principal: &Principal,
        id: &str,
        name: &str,
    ) -> Result<(), AuthError> {
        if principal.method == auth_core::CredentialMethod::ApiKey {
            return Err(AuthError::Forbidden);
        }
        if !self.passkeys.rename(&principal.user_id, id, name).await? {
            return Err(AuthError::NotFound);
        }
        auth.record_event(AuditKind::PasskeyRenamed, Some(&principal.user_id), &[("name", name)]).await;
        Ok(())
    }

    /// Adds the passkey routes to a route table (and, with the `openapi` feature, their
    /// operations to its document).
    pub fn routes<S: UserStore>(
        self: &Arc<Self>,
        table: RouteTable,
        endpoints: Arc<AuthEndpoints<S>>,
    ) -> RouteTable {
        #[cfg(feature = "openapi")]
        let table = table.add_openapi(crate::openapi::document());
        type Answer = Result<http::Response<Vec<u8>>, AuthError>;
        fn respond(answer: Answer) -> http::Response<Vec<u8>> {
            answer.unwrap_or_else(|error| error_response(&error))
        }
        let (this, e) = (Arc::clone(self), Arc::clone(&endpoints));
        let table = table.route(Method::POST, paths::REGISTER_BEGIN, true, move |request: RouteRequest| {
            let (this, endpoints) = (Arc::clone(&this), Arc::clone(&e));
            async move {
                respond(
                    async {
                        let principal = request.principal.as_ref().ok_or(AuthError::MissingCredentials)?;
                        let proof: Reauthentication = optional_body(&request)?;
                        let options = this.begin_registration(endpoints.auth(), principal, &proof).await?;
                        Ok(json_response(StatusCode::OK, &options))
                    }
                    .await,
                )
            }
        });
        let (this, e) = (Arc::clone(self), Arc::clone(&endpoints));
        let table = table.route(Method::POST, paths::REGISTER_FINISH, true, move |request: RouteRequest| {
            let (this, endpoints) = (Arc::clone(&this), Arc::clone(&e));
            async move {
                respond(
                    async {
                        let principal = request.principal.as_ref().ok_or(AuthError::MissingCredentials)?;
                        let body: RegisterFinishBody =
                            parse_json_body(&request.parts.headers, &request.body)?;
                        let passkey = this
                            .finish_registration(
                                endpoints.auth(),
                                principal,
                                &body.challenge_id,
                                &body.name,
                                body.credential,
                            )
                            .await?;
                        Ok(json_response(StatusCode::CREATED, &passkey_json(&passkey)))
                    }
                    .await,
                )
            }
        });
        let this = Arc::clone(self);
        let table = table.route(Method::POST, paths::SIGN_IN_BEGIN, false, move |_request: RouteRequest| {
            let this = Arc::clone(&this);
            async move {
                respond(
                    async {
                        let options = this.passkeys.begin_authentication().await?;
                        Ok(json_response(StatusCode::OK, &options))
                    }
                    .await,
                )
            }
        });
        let (this, e) = (Arc::clone(self), Arc::clone(&endpoints));
        let table = table.route(Method::POST, paths::SIGN_IN_FINISH, false, move |request: RouteRequest| {
            let (this, endpoints) = (Arc::clone(&this), Arc::clone(&e));
            async move {
                respond(
                    async {
                        let body: SignInFinishBody = parse_json_body(&request.parts.headers, &request.body)?;
                        let flow = SignInFlow::from_tag(body.flow.as_deref().unwrap_or("mobile"), body.name)
                            .ok_or_else(|| {
                                AuthError::invalid_field("flow", "is not a sign-in flow of this server")
                            })?;
                        endpoints.check_sign_in_origin(&request.parts, &flow)?;
                        let auth = endpoints.auth();
                        let client = auth.client_info(&request.parts);
                        let outcome =
                            this.sign_in(auth, &body.challenge_id, body.credential, flow, &client).await?;
                        endpoints.sign_in_response(outcome)
                    }
                    .await,
                )
            }
        });
        let this = Arc::clone(self);
        let table = table.route(Method::GET, paths::LIST, true, move |request: RouteRequest| {
            let this = Arc::clone(&this);
            async move {
                respond(
                    async {
                        let principal = request.principal.as_ref().ok_or(AuthError::MissingCredentials)?;
                        let list: Vec<Value> =
                            this.passkeys.list(&principal.user_id).await?.iter().map(passkey_json).collect();
                        Ok(json_response(StatusCode::OK, &json!({ "passkeys": list })))
                    }
                    .await,
                )
            }
        });
        let (this, e) = (Arc::clone(self), Arc::clone(&endpoints));
        let table = table.route(Method::PATCH, paths::ONE, true, move |request: RouteRequest| {
            let (this, endpoints) = (Arc::clone(&this), Arc::clone(&e));
            async move {
                respond(
                    async {
                        let principal = request.principal.as_ref().ok_or(AuthError::MissingCredentials)?;
                        let body: RenameBody = parse_json_body(&request.parts.headers, &request.body)?;
                        this.rename(endpoints.auth(), principal, &path_id(&request), &body.name).await?;
                        Ok(no_content())
                    }
                    .await,
                )
            }
        });
        let this = Arc::clone(self);
        table.route(Method::DELETE, paths::ONE, true, move |request: RouteRequest| {
            let (this, endpoints) = (Arc::clone(&this), Arc::clone(&endpoints));
            async move {
                respond(
                    async {
                        let principal = request.principal.as_ref().ok_or(AuthError::MissingCredentials)?;
                        let proof: Reauthentication = optional_body(&request)?;
                        this.remove(endpoints.auth(), principal, &proof, &path_id(&request)).await?;
                        Ok(no_content())
                    }
                    .await,
                )
            }
        })
    }
}

/// The last path segment.
fn path_id(request: &RouteRequest) -> String {
    request.parts.uri.path().rsplit('/').next().unwrap_or_default().to_owned()
}

/// A body that may be absent (an empty body is `{}`).
fn optional_body<T: serde::de::DeserializeOwned + Default>(request: &RouteRequest) -> Result<T, AuthError> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json_body(&request.parts.headers, &request.body)
}

/// What the list shows of a passkey: never its key material.
fn passkey_json(passkey: &Passkey) -> Value {
    json!({
        "id": passkey.id,
        "name": passkey.name,
        "created_at": passkey.created_at,
        "last_used_at": passkey.last_used_at,
        "backup_eligible": passkey.backup_eligible,
        "backup_state": passkey.backup_state,
        "user_verified": passkey.user_verified,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterFinishBody {
    challenge_id: String,
    name: String,
    credential: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInFinishBody {
    challenge_id: String,
    credential: Value,
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    name: String,
}

/// Passkeys as a second factor of the MFA step (feature `mfa`): `methods` lists `webauthn` for
/// users with a passkey, `challenges.webauthn` carries `{challenge_id, options}` for
/// `navigator.credentials.get` (only the user's passkeys allowed), and
/// `POST /api/auth/mfa/verify {mfa_token, webauthn: {challenge_id, credential}}` completes the step
/// with `amr` `hwk` or `swk`.
#[cfg(feature = "mfa")]
#[async_trait::async_trait]
impl auth_flows::SecondFactorMethod for PasskeySignIn {
    fn name(&self) -> &'static str {
        "webauthn"
    }

    async fn challenge(&self, user: &auth_core::UserId) -> Result<Option<Value>, AuthError> {
        match self.passkeys.begin_second_factor(user).await {
            Ok(options) => Ok(Some(json!(options))),
            Err(PasskeyError::NoPasskeys) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    async fn verify(
        &self,
        user: &auth_core::UserId,
        proof: &Value,
    ) -> Result<Option<&'static str>, AuthError> {
        let (Some(challenge_id), Some(credential)) =
            (proof.get("challenge_id").and_then(Value::as_str), proof.get("credential"))
        else {
            return Err(AuthError::invalid_field("webauthn", "send {challenge_id, credential}"));
        };
        match self.passkeys.finish_second_factor(challenge_id, user, credential.clone()).await {
            Ok(signed_in) => {
                Ok(Some(if signed_in.amr.first().is_some_and(|a| a == "swk") { "swk" } else { "hwk" }))
            }
            Err(error @ (PasskeyError::Store(_) | PasskeyError::Engine(_) | PasskeyError::Config(_))) => {
                Err(error.into())
            }
            Err(PasskeyError::InvalidInput { field, message }) => {
                Err(AuthError::InvalidInput(vec![FieldError::new(field, message)]))
            }
            Err(error) => {
                tracing::debug!(%error, "passkey second factor refused");
                Ok(None)
            }
        }
    }
}
