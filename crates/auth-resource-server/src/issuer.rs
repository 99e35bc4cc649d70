//! One trusted issuer: where its keys come from, what its tokens must say, and how their claims
//! become a [`Principal`](auth_core::Principal).

use std::time::Duration;

use auth_jwt::{ClaimRequirement, JwtAlgorithm, JwtKey};

use crate::RevocationFeed;

/// Where an issuer's verification keys come from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeySource {
    /// OpenID Connect discovery: the document at `{issuer}/.well-known/openid-configuration` (or
    /// this URL) names the `jwks_uri`; its `issuer` must be the configured issuer exactly.
    Discovery(String),
    /// A JWKS URL, fetched and cached.
    JwksUrl(String),
    /// Keys given in configuration (PEM or JWK), never fetched.
    Static(Vec<JwtKey>),
}

/// How a verified token's claims become a principal. Pointers are RFC 6901 JSON pointers into the
/// claims (`/realm_access/roles`, or `/https:~1~1example.com~1roles` for the claim named
/// `https://example.com/roles`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClaimMapping {
    /// The user id (default `/sub`): a non-empty string, else the token is malformed.
    pub subject: String,
    /// Roles: an array of strings or one space-separated string (none by default).
    pub roles: Option<String>,
    /// Permissions: an array of strings or one space-separated string (none by default; Auth0's
    /// RBAC puts them in `/permissions`).
    pub permissions: Option<String>,
    /// The tenant: a string (none by default).
    pub tenant: Option<String>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self { subject: "/sub".to_owned(), roles: None, permissions: None, tenant: None }
    }
}

/// A trusted issuer and the rules its tokens must meet.
///
/// ```
/// use auth_jwt::JwtAlgorithm;
/// use auth_resource_server::Issuer;
///
/// // Keycloak: realm roles under realm_access.
/// let keycloak = Issuer::discovery("https://sso.example.com/realms/acme")
///     .algorithms([JwtAlgorithm::RS256])
///     .audience("account")
///     .roles_claim("/realm_access/roles");
/// // Auth0: namespaced custom claims, RBAC permissions.
/// let auth0 = Issuer::discovery("https://acme.eu.auth0.com/")
///     .algorithms([JwtAlgorithm::RS256])
///     .audience("https://api.example.com")
///     .roles_claim("/https:~1~1example.com~1roles")
///     .permissions_claim("/permissions");
/// # let _ = (keycloak, auth0);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Issuer {
    /// The `iss` its tokens carry, exactly.
    pub issuer: String,
    /// Where its keys come from.
    pub keys: KeySource,
    /// The algorithms accepted from it: never taken from the token alone. Required.
    pub algorithms: Vec<JwtAlgorithm>,
    /// Accepted audiences: `aud` must name one of them. Required unless
    /// [`Issuer::danger_accept_any_audience`].
    pub audiences: Vec<String>,
    /// Whether any audience is accepted (see [`Issuer::danger_accept_any_audience`]).
    pub any_audience: bool,
    /// Clock skew allowed on `exp`, `nbf` and `iat` (default 30 s).
    pub leeway: Duration,
    /// Further claim requirements (essential, value, one of).
    pub requirements: Vec<ClaimRequirement>,
    /// Accepted `typ` header values (default `JWT` and `at+jwt`, RFC 9068; an absent `typ` is
    /// accepted).
    pub token_types: Vec<String>,
    /// How claims become a principal.
    pub mapping: ClaimMapping,
    /// Whether its tokens are Portcullis access tokens ([`Issuer::portcullis`]): they authenticate
    /// as [`CredentialMethod::Jwt`](auth_core::CredentialMethod::Jwt) with Portcullis's scope
    /// rules, and refresh tokens are refused.
    pub portcullis: bool,
    /// Where revocations are polled from (Portcullis issuers).
    pub revocations: Option<RevocationFeed>,
}

impl Issuer {
    fn new(issuer: impl Into<String>, keys: KeySource) -> Self {
        Self {
            issuer: issuer.into(),
            keys,
            algorithms: Vec::new(),
            audiences: Vec::new(),
            any_audience: false,
            leeway: Duration::from_secs(30),
            requirements: Vec::new(),
            token_types: vec!["JWT".to_owned(), "at+jwt".to_owned()],
            mapping: ClaimMapping::default(),
            portcullis: false,
            revocations: None,
        }
    }

    /// An issuer found by OpenID Connect discovery at
    /// `{issuer}/.well-known/openid-configuration`.
    pub fn discovery(issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        Self::new(issuer, KeySource::Discovery(url))
    }

    /// An issuer found by discovery at another URL than the default.
    pub fn discovery_at(issuer: impl Into<String>, discovery_url: impl Into<String>) -> Self {
        Self::new(issuer, KeySource::Discovery(discovery_url.into()))
    }

    /// An issuer whose keys are at a JWKS URL.
    pub fn jwks_url(issuer: impl Into<String>, jwks_url: impl Into<String>) -> Self {
        Self::new(issuer, KeySource::JwksUrl(jwks_url.into()))
    }

    /// An issuer with keys given here (public PEM or JWK, or an HMAC secret shared with it). The
    /// accepted algorithms default to the keys' own.
    pub fn static_keys(issuer: impl Into<String>, keys: impl IntoIterator<Item = JwtKey>) -> Self {
        let keys: Vec<JwtKey> = keys.into_iter().collect();
        let mut algorithms: Vec<JwtAlgorithm> = Vec::new();
        for key in &keys {
            if !algorithms.contains(&key.algorithm()) {
                algorithms.push(key.algorithm());
            }
        }
        let mut issuer = Self::new(issuer, KeySource::Static(keys));
        issuer.algorithms = algorithms;
        issuer
    }

    /// A Portcullis server as the issuer: keys from `{base_url}/.well-known/jwks.json`, tokens
    /// typed `JWT` with `token_type: access`, verified as Portcullis's own
    /// ([`CredentialMethod::Jwt`](auth_core::CredentialMethod::Jwt)). `issuer` is the server's
    /// `PORTCULLIS_ISSUER`. Add [`Issuer::revocation_feed`] so that revocations reach this
    /// service.
    pub fn portcullis(base_url: &str, issuer: impl Into<String>) -> Self {
        let jwks = format!("{}/.well-known/jwks.json", base_url.trim_end_matches('/'));
        let mut issuer = Self::jwks_url(issuer, jwks);
        issuer.portcullis = true;
        issuer.token_types = vec!["JWT".to_owned()];
        issuer.requirements.push(ClaimRequirement::value("token_type", serde_json::json!("access")));
        issuer
    }

    /// Pins the accepted algorithms (replacing any set before).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = JwtAlgorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Adds an accepted audience.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accepts tokens whatever their `aud`. Only for an issuer whose every token is meant for this
    /// service; otherwise a token minted for another API of the same issuer works here too.
    pub fn danger_accept_any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// Sets the clock skew allowed on time claims.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Adds a claim requirement.
    pub fn require(mut self, requirement: ClaimRequirement) -> Self {
        self.requirements.push(requirement);
        self
    }

    /// Replaces the accepted `typ` header values.
    pub fn token_types(mut self, types: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.token_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Reads the user id from this pointer instead of `/sub`.
    pub fn subject_claim(mut self, pointer: impl Into<String>) -> Self {
        self.mapping.subject = pointer.into();
        self
    }

    /// Reads roles from this pointer.
    pub fn roles_claim(mut self, pointer: impl Into<String>) -> Self {
        self.mapping.roles = Some(pointer.into());
        self
    }

    /// Reads permissions from this pointer.
    pub fn permissions_claim(mut self, pointer: impl Into<String>) -> Self {
        self.mapping.permissions = Some(pointer.into());
        self
    }

    /// Reads the tenant from this pointer.
    pub fn tenant_claim(mut self, pointer: impl Into<String>) -> Self {
        self.mapping.tenant = Some(pointer.into());
        self
    }

    /// Polls this issuer's revocations (a Portcullis server's `GET /api/auth/revocations`).
    pub fn revocation_feed(mut self, feed: RevocationFeed) -> Self {
        self.revocations = Some(feed);
        self
    }

    /// The URLs this issuer's configuration names.
    pub(crate) fn urls(&self) -> Vec<&str> {
        let mut urls = Vec::new();
        match &self.keys {
            KeySource::Discovery(url) | KeySource::JwksUrl(url) => urls.push(url.as_str()),
            KeySource::Static(_) => {}
        }
        if let Some(feed) = &self.revocations {
            urls.push(feed.url.as_str());
        }
        urls
    }
}
