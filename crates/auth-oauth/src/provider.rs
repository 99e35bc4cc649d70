//! One social-login provider: its configuration and the protocol steps.

use std::fmt;
use std::time::Duration;

use auth_core::{AuthError, SharedClock, TokenRejection};
use auth_jwt::JwtAlgorithm;
use auth_resource_server::{HttpFetcher, Issuer, ResourceServer};
use base64::Engine as _;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

use crate::{ExternalIdentity, OAuthError};

/// How a provider speaks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Protocol {
    /// OpenID Connect: endpoints and keys by discovery from the issuer; identity from the id_token.
    OpenIdConnect {
        /// The issuer (`iss` of its id_tokens).
        issuer: String,
    },
    /// Plain OAuth2 with a userinfo endpoint (GitHub's shape).
    OAuth2 {
        /// The authorization endpoint.
        authorize_url: String,
        /// The token endpoint.
        token_url: String,
        /// The user endpoint (`id`, `login`, `name`, `email`).
        userinfo_url: String,
        /// The verified-emails endpoint (`[{email, primary, verified}]`), if the provider has one.
        emails_url: Option<String>,
    },
}

/// A provider's configuration.
#[derive(Clone)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// The provider's name in URLs (`google`, `github`, ...).
    pub name: String,
    /// How it speaks.
    pub protocol: Protocol,
    /// The client id registered with it.
    pub client_id: String,
    /// The client secret (confidential clients). Never logged.
    pub client_secret: Option<String>,
    /// Requested scopes (OpenID Connect: `openid email profile` by default).
    pub scopes: Vec<String>,
    /// The callback URL registered with the provider.
    pub redirect_uri: String,
    /// Whether the provider's `email_verified` may link a sign-in to an existing account with that
    /// email (see the crate docs).
    pub trusted_email: bool,
    /// The id_token algorithms accepted (default RS256).
    pub id_token_algorithms: Vec<JwtAlgorithm>,
    /// Client ids of the native apps whose id_tokens the token exchange accepts (their `aud`).
    pub native_client_ids: Vec<String>,
    /// Allows plain-HTTP provider URLs to hosts other than loopback (tests on a private network).
    pub insecure_allow_http: bool,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .field("scopes", &self.scopes)
            .field("redirect_uri", &self.redirect_uri)
            .field("trusted_email", &self.trusted_email)
            .finish_non_exhaustive()
    }
}

impl ProviderConfig {
    fn new(name: &str, protocol: Protocol, client_id: &str, scopes: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            protocol,
            client_id: client_id.to_owned(),
            client_secret: None,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            redirect_uri: String::new(),
            trusted_email: false,
            id_token_algorithms: vec![JwtAlgorithm::RS256],
            native_client_ids: Vec::new(),
            insecure_allow_http: false,
        }
    }

    /// An OpenID Connect provider (Google, Microsoft, Apple, Keycloak, Auth0, GitLab, ...).
    pub fn openid_connect(name: &str, issuer: &str, client_id: &str) -> Self {
        let protocol = Protocol::OpenIdConnect { issuer: issuer.to_owned() };
        Self::new(name, protocol, client_id, &["openid", "email", "profile"])
    }

    /// A plain OAuth2 provider with a userinfo endpoint.
    pub fn oauth2(
        name: &str,
        authorize_url: &str,
        token_url: &str,
        userinfo_url: &str,
        client_id: &str,
    ) -> Self {
        let protocol = Protocol::OAuth2 {
            authorize_url: authorize_url.to_owned(),
            token_url: token_url.to_owned(),
            userinfo_url: userinfo_url.to_owned(),
            emails_url: None,
        };
        Self::new(name, protocol, client_id, &[])
    }

    /// GitHub (OAuth2; the user and its verified emails).
    pub fn github(client_id: &str) -> Self {
        let mut config = Self::oauth2(
            "github",
            "https://github.com/login/oauth/authorize",
            "https://github.com/login/oauth/access_token",
            "https://api.github.com/user",
            client_id,
        )
        .scopes(["read:user", "user:email"])
        .emails_url("https://api.github.com/user/emails");
        config.trusted_email = true;
        config
    }

    /// Sets the client secret.
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// Sets the callback URL.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = uri.into();
        self
    }

    /// Replaces the requested scopes.
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the verified-emails endpoint of a plain OAuth2 provider.
    pub fn emails_url(mut self, url: impl Into<String>) -> Self {
        if let Protocol::OAuth2 { emails_url, .. } = &mut self.protocol {
            *emails_url = Some(url.into());
        }
        self
    }

    /// Trusts the provider's verified emails for linking to existing accounts.
    pub fn trust_email(mut self, trusted: bool) -> Self {
        self.trusted_email = trusted;
        self
    }

    /// Replaces the accepted id_token algorithms.
    pub fn id_token_algorithms(mut self, algorithms: impl IntoIterator<Item = JwtAlgorithm>) -> Self {
        self.id_token_algorithms = algorithms.into_iter().collect();
        self
    }

    /// Accepts id_tokens issued to a native app's client id in the token exchange.
    pub fn native_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.native_client_ids.push(client_id.into());
        self
    }

    /// Allows plain-HTTP provider URLs to non-loopback hosts.
    pub fn insecure_allow_http(mut self) -> Self {
        self.insecure_allow_http = true;
        self
    }

    fn is_oidc(&self) -> bool {
        matches!(self.protocol, Protocol::OpenIdConnect { .. })
    }
}

/// What the server keeps between the redirect to the provider and the callback (bound to the
/// browser by a short-lived cookie, single use). Holds secrets: never sent to the client.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// The `state` sent to the provider.
    pub state: String,
    /// The `nonce` sent to an OpenID Connect provider.
    pub nonce: Option<String>,
    /// The PKCE code verifier.
    pub pkce_verifier: String,
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PendingAuthorization { .. }")
    }
}

/// The redirect to the provider and what to keep for the callback.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// Where to send the browser.
    pub url: String,
    /// What the callback needs.
    pub pending: PendingAuthorization,
}

/// The token endpoint's extra field of OpenID Connect.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl oauth2::ExtraTokenFields for IdTokenField {}

type ProviderTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    ProviderTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The endpoints of a provider.
#[derive(Debug, Clone)]
struct Endpoints {
    authorize: String,
    token: String,
    userinfo: Option<String>,
}

/// A configured provider: builds the redirect, completes the callback, verifies native apps'
/// id_tokens. The protocol is `oauth2`'s (authorization code, PKCE S256 always); id_tokens are
/// verified by the resource-server verifier from the provider's JWKS (issuer, audience, pinned
/// algorithms, expiry), then for `nonce`, `azp` and `at_hash`.
#[derive(Debug)]
pub struct SocialProvider {
    config: ProviderConfig,
    /// The token exchange's client (the `oauth2` crate's requests).
    http: reqwest::Client,
    /// Discovery, userinfo and emails: HTTPS unless loopback, a size cap, no redirects.
    fetcher: HttpFetcher,
    id_tokens: Option<ResourceServer>,
    endpoints: tokio::sync::OnceCell<Endpoints>,
    clock: SharedClock,
}

impl SocialProvider {
    /// A provider; fails on an unusable configuration (no redirect URI, no algorithm, plain HTTP).
    pub fn new(config: ProviderConfig, clock: SharedClock) -> Result<Self, OAuthError> {
        if config.redirect_uri.is_empty() {
            return Err(OAuthError::Config(format!("provider {}: set its redirect_uri", config.name)));
        }
        RedirectUrl::new(config.redirect_uri.clone())
            .map_err(|e| OAuthError::Config(format!("provider {}: redirect_uri: {e}", config.name)))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OAuthError::Config(e.to_string()))?;
        let id_tokens = match &config.protocol {
            Protocol::OpenIdConnect { issuer } => {
                let mut verifying = Issuer::discovery(issuer.as_str())
                    .algorithms(config.id_token_algorithms.clone())
                    .audience(config.client_id.as_str())
                    .token_types(["JWT"]);
                for native in &config.native_client_ids {
                    verifying = verifying.audience(native.as_str());
                }
                let mut builder = ResourceServer::builder().issuer(verifying).clock(clock.clone());
                if config.insecure_allow_http {
                    builder = builder.insecure_allow_http();
                }
                Some(
                    builder
                        .build()
                        .map_err(|e| OAuthError::Config(format!("provider {}: {e}", config.name)))?,
                )
            }
            Protocol::OAuth2 { .. } => None,
        };
        let fetcher = HttpFetcher::new(Duration::from_secs(10), 256 * 1024, config.insecure_allow_http)
            .map_err(OAuthError::Config)?;
        if let Protocol::OAuth2 { authorize_url, token_url, userinfo_url, emails_url } = &config.protocol {
            for url in [Some(authorize_url), Some(token_url), Some(userinfo_url), emails_url.as_ref()]
                .into_iter()
                .flatten()
            {
                fetcher
                    .check_url(url)
                    .map_err(|e| OAuthError::Config(format!("provider {}: {e}", config.name)))?;
            }
        }
        Ok(Self { config, http, fetcher, id_tokens, endpoints: tokio::sync::OnceCell::new(), clock })
    }

    /// The configuration.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    async fn endpoints(&self) -> Result<&Endpoints, OAuthError> {
        self.endpoints
            .get_or_try_init(|| async {
                match &self.config.protocol {
                    Protocol::OAuth2 { authorize_url, token_url, userinfo_url, .. } => Ok(Endpoints {
                        authorize: authorize_url.clone(),
                        token: token_url.clone(),
                        userinfo: Some(userinfo_url.clone()),
                    }),
                    Protocol::OpenIdConnect { issuer } => self.discover(issuer).await,
                }
            })
            .await
    }

    async fn discover(&self, issuer: &str) -> Result<Endpoints, OAuthError> {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let document: Value = self.get_json(&url, None).await.map_err(OAuthError::Discovery)?;
        if document.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err(OAuthError::Discovery(format!(
                "the discovery document at {url} names another issuer"
            )));
        }
        let endpoint = |name: &str| {
            document
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| OAuthError::Discovery(format!("the discovery document has no {name}")))
        };
        Ok(Endpoints {
            authorize: endpoint("authorization_endpoint")?,
            token: endpoint("token_endpoint")?,
            userinfo: endpoint("userinfo_endpoint").ok(),
        })
    }

    fn client(&self, endpoints: &Endpoints) -> Result<OAuthClient, OAuthError> {
        let config = |e: oauth2::url::ParseError| OAuthError::Config(e.to_string());
        let mut client = oauth2::Client::new(ClientId::new(self.config.client_id.clone()))
            .set_auth_uri(AuthUrl::new(endpoints.authorize.clone()).map_err(config)?)
            .set_token_uri(TokenUrl::new(endpoints.token.clone()).map_err(config)?)
            .set_redirect_uri(RedirectUrl::new(self.config.redirect_uri.clone()).map_err(config)?);
        if let Some(secret) = &self.config.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.clone()));
        }
        Ok(client)
    }

    /// The redirect to the provider: a fresh `state`, PKCE S256 (always, also for confidential
    /// clients) and, for OpenID Connect, a fresh `nonce`.
    pub async fn authorization_request(&self) -> Result<AuthorizationRequest, OAuthError> {
        let endpoints = self.endpoints().await?;
        let client = self.client(endpoints)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = self.config.is_oidc().then(|| CsrfToken::new_random().secret().clone());
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.config.scopes.iter().map(|s| Scope::new(s.clone())))
            .set_pkce_challenge(challenge);
        if let Some(nonce) = &nonce {
            request = request.add_extra_param("nonce", nonce.clone());
        }
        let (url, state) = request.url();
        let pending = PendingAuthorization {
            state: state.secret().clone(),
            nonce,
            pkce_verifier: verifier.secret().clone(),
        };
        Ok(AuthorizationRequest { url: url.to_string(), pending })
    }

    /// Completes the callback: `state` must be the pending one (constant-time), the code is
    /// exchanged with the PKCE verifier, and the identity comes from the verified id_token (with
    /// its `nonce` and, when present, `at_hash`) or, for OAuth2 providers, from the userinfo.
    pub async fn complete(
        &self,
        pending: &PendingAuthorization,
        state: &str,
        code: &str,
    ) -> Result<ExternalIdentity, OAuthError> {
        if !bool::from(pending.state.as_bytes().ct_eq(state.as_bytes())) {
            return Err(OAuthError::StateMismatch);
        }
        let endpoints = self.endpoints().await?;
        let tokens = self
            .client(endpoints)?
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(response) => OAuthError::Provider {
                    error: response.error().to_string(),
                    description: response.error_description().cloned(),
                },
                other => OAuthError::Exchange(other.to_string()),
            })?;
        let access_token = tokens.access_token().secret();
        let mut identity = match (&self.config.protocol, tokens.extra_fields().id_token.as_deref()) {
            (Protocol::OpenIdConnect { .. }, Some(id_token)) => {
                let nonce = pending.nonce.as_deref().ok_or(OAuthError::NonceMismatch)?;
                self.verify_id_token_inner(id_token, Some(nonce), Some(access_token)).await?
            }
            (Protocol::OpenIdConnect { .. }, None) => return Err(OAuthError::MissingIdToken),
            (Protocol::OAuth2 { .. }, _) => self.identity_from_access_token(access_token).await?,
        };
        let expires_at = tokens
            .expires_in()
            .and_then(|ttl| chrono::Duration::from_std(ttl).ok())
            .map(|ttl| self.clock.now() + ttl);
        identity.tokens = Some(crate::ProviderTokens {
            access_token: access_token.clone(),
            refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
            expires_at,
            scopes: tokens.scopes().map(|s| s.iter().map(|s| s.to_string()).collect()).unwrap_or_default(),
        });
        Ok(identity)
    }

    /// Verifies an id_token a native app obtained with the provider's SDK (audience: the web
    /// client id or a [`ProviderConfig::native_client_id`]); with `nonce`, it must match.
    pub async fn verify_id_token(
        &self,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<ExternalIdentity, OAuthError> {
        self.verify_id_token_inner(id_token, nonce, None).await
    }

    async fn verify_id_token_inner(
        &self,
        id_token: &str,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> Result<ExternalIdentity, OAuthError> {
        let verifier = self.id_tokens.as_ref().ok_or(OAuthError::MissingIdToken)?;
        let principal = verifier.verify(id_token).await.map_err(|e| match e {
            AuthError::InvalidToken(reason) => OAuthError::InvalidIdToken(reason),
            other => OAuthError::Exchange(other.to_string()),
        })?;
        let claims = &principal.claims;
        if let Some(expected) = nonce {
            let actual = claims.get("nonce").and_then(Value::as_str).unwrap_or_default();
            if !bool::from(actual.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(OAuthError::NonceMismatch);
            }
        }
        // OpenID Connect Core 3.1.3.7: several audiences need `azp`, and it must be ours.
        let audiences = match claims.get("aud") {
            Some(Value::Array(all)) => all.len(),
            _ => 1,
        };
        let ours = |azp: &str| {
            azp == self.config.client_id || self.config.native_client_ids.iter().any(|c| c == azp)
        };
        match claims.get("azp").and_then(Value::as_str) {
            Some(azp) if !ours(azp) => return Err(OAuthError::InvalidIdToken(TokenRejection::WrongAudience)),
            None if audiences > 1 => return Err(OAuthError::InvalidIdToken(TokenRejection::WrongAudience)),
            _ => {}
        }
        if let (Some(access_token), Some(at_hash)) =
            (access_token, claims.get("at_hash").and_then(Value::as_str))
        {
            let alg = auth_jwt::CompactJws::parse(id_token).map_err(OAuthError::InvalidIdToken)?.algorithm();
            if !at_hash_matches(alg, access_token, at_hash) {
                return Err(OAuthError::InvalidIdToken(TokenRejection::ClaimRequirement));
            }
        }
        let email = claims.get("email").and_then(Value::as_str).map(str::to_owned);
        let email_verified = match claims.get("email_verified") {
            Some(Value::Bool(verified)) => *verified,
            Some(Value::String(text)) => text == "true",
            _ => false,
        };
        Ok(ExternalIdentity {
            provider: self.config.name.clone(),
            subject: principal.user_id.to_string(),
            email,
            email_verified,
            name: claims.get("name").and_then(Value::as_str).map(str::to_owned),
            amr: if principal.amr.is_empty() { vec!["fed".to_owned()] } else { principal.amr.clone() },
            tokens: None,
        })
    }

    /// The identity behind an OAuth2 access token (userinfo; for GitHub also the verified emails):
    /// the callback of an OAuth2 provider, and the token exchange of its native apps.
    pub async fn identity_from_access_token(
        &self,
        access_token: &str,
    ) -> Result<ExternalIdentity, OAuthError> {
        let endpoints = self.endpoints().await?;
        let userinfo = endpoints.userinfo.as_deref().ok_or(OAuthError::MissingIdToken)?;
        let user = self.get_json(userinfo, Some(access_token)).await.map_err(OAuthError::Userinfo)?;
        let subject = match user.get("id").or_else(|| user.get("sub")) {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(Value::Number(id)) => id.to_string(),
            _ => return Err(OAuthError::Userinfo("the user has no id".to_owned())),
        };
        let mut email = user.get("email").and_then(Value::as_str).map(str::to_owned);
        let mut email_verified = matches!(user.get("email_verified"), Some(Value::Bool(true)));
        if let Protocol::OAuth2 { emails_url: Some(emails_url), .. } = &self.config.protocol {
            let emails = self.get_json(emails_url, Some(access_token)).await.map_err(OAuthError::Userinfo)?;
            let primary = emails.as_array().and_then(|all| {
                all.iter().find(|e| e.get("primary") == Some(&Value::Bool(true))).or_else(|| all.first())
            });
            if let Some(primary) = primary {
                email = primary.get("email").and_then(Value::as_str).map(str::to_owned);
                email_verified = primary.get("verified") == Some(&Value::Bool(true));
            }
        }
        let name = user.get("name").or_else(|| user.get("login")).and_then(Value::as_str).map(str::to_owned);
        Ok(ExternalIdentity {
            provider: self.config.name.clone(),
            subject,
            email,
            email_verified,
            name,
            amr: vec!["fed".to_owned()],
            tokens: None,
        })
    }

    async fn get_json(&self, url: &str, bearer: Option<&str>) -> Result<Value, String> {
        let authorization = bearer.map(|token| format!("Bearer {token}"));
        let credential = authorization.as_deref().map(|value| ("authorization", value));
        Ok(self.fetcher.get_json(url, credential).await?.body)
    }
}

/// OpenID Connect Core 3.1.3.6: the left half of the hash of the access token, base64url, where
/// the hash is the one of the id_token's algorithm (SHA-512 for EdDSA with Ed25519).
fn at_hash_matches(alg: JwtAlgorithm, access_token: &str, at_hash: &str) -> bool {
    let digest: Vec<u8> = match alg {
        JwtAlgorithm::RS384 | JwtAlgorithm::PS384 | JwtAlgorithm::ES384 | JwtAlgorithm::HS384 => {
            sha2::Sha384::digest(access_token.as_bytes()).to_vec()
        }
        JwtAlgorithm::RS512
        | JwtAlgorithm::PS512
        | JwtAlgorithm::ES512
        | JwtAlgorithm::HS512
        | JwtAlgorithm::EdDSA => sha2::Sha512::digest(access_token.as_bytes()).to_vec(),
        _ => sha2::Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    let half = digest.get(..digest.len() / 2).unwrap_or_default();
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(half);
    bool::from(expected.as_bytes().ct_eq(at_hash.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_of_the_openid_connect_example() {
        // OpenID Connect Core, Appendix A.3 (RS256).
        let access_token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert!(at_hash_matches(JwtAlgorithm::RS256, access_token, "77QmUPtjPfzWtF2AnpK9RQ"));
        assert!(!at_hash_matches(JwtAlgorithm::RS256, access_token, "77QmUPtjPfzWtF2AnpK9RR"));
        assert!(!at_hash_matches(JwtAlgorithm::RS512, access_token, "77QmUPtjPfzWtF2AnpK9RQ"));
    }
}
