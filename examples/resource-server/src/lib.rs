//! An API that trusts another issuer's access tokens, with no database: `GET /api/whoami` for any
//! valid token, `GET /api/admin` for tokens whose roles include the admin role.
//!
//! Settings come from the environment ([`Settings::from_env`]):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `ISSUER_URL` | the issuer (`iss`); its keys by OIDC discovery at `{ISSUER_URL}/.well-known/openid-configuration` | required |
//! | `AUDIENCE` | the audience its tokens must name | required |
//! | `ROLES_CLAIM` | JSON pointer to the roles (`/realm_access/roles`, `/https:~1~1example.com~1roles`) | none |
//! | `ALGORITHMS` | accepted algorithms, comma-separated | `RS256` |
//! | `JWKS_URL` | the JWKS URL, instead of discovery | |
//! | `PORTCULLIS_URL` | the issuer is a Portcullis server at this URL (keys from its JWKS, Portcullis token rules) | |
//! | `REVOCATIONS_API_KEY` | with `PORTCULLIS_URL`: an API key holding `revocations:read`, to poll its revocations | |
//! | `ADMIN_ROLE` | the role `GET /api/admin` requires | `admin` |
//! | `BIND` | listen address | `127.0.0.1:8000` |

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use portcullis::axum::{Auth, AuthContext, Guard, RequireAuthLayer};
use portcullis::resource_server::{Issuer, JwtAlgorithm, ResourceServer, RevocationFeed};
use serde_json::{Value, json};

/// The example's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `ISSUER_URL`.
    pub issuer_url: String,
    /// `AUDIENCE`.
    pub audience: String,
    /// `ROLES_CLAIM`.
    pub roles_claim: Option<String>,
    /// `ALGORITHMS`.
    pub algorithms: Vec<JwtAlgorithm>,
    /// `JWKS_URL`.
    pub jwks_url: Option<String>,
    /// `PORTCULLIS_URL`.
    pub portcullis_url: Option<String>,
    /// `REVOCATIONS_API_KEY`.
    pub revocations_api_key: Option<String>,
    /// `ADMIN_ROLE`.
    pub admin_role: String,
    /// `BIND`.
    pub bind: String,
}

impl Settings {
    /// Reads the settings from `var` (the process environment in `main`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let required = |name: &str| var(name).filter(|v| !v.is_empty()).ok_or(format!("{name} is required"));
        let algorithms = match var("ALGORITHMS") {
            Some(list) => list
                .split(',')
                .map(|name| name.parse::<JwtAlgorithm>().map_err(|e| format!("ALGORITHMS: {e}")))
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![JwtAlgorithm::RS256],
        };
        Ok(Self {
            issuer_url: required("ISSUER_URL")?,
            audience: required("AUDIENCE")?,
            roles_claim: var("ROLES_CLAIM").filter(|v| !v.is_empty()),
            algorithms,
            jwks_url: var("JWKS_URL").filter(|v| !v.is_empty()),
            portcullis_url: var("PORTCULLIS_URL").filter(|v| !v.is_empty()),
            revocations_api_key: var("REVOCATIONS_API_KEY").filter(|v| !v.is_empty()),
            admin_role: var("ADMIN_ROLE").unwrap_or_else(|| "admin".to_owned()),
            bind: var("BIND").unwrap_or_else(|| "127.0.0.1:8000".to_owned()),
        })
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The issuer these settings describe.
    pub fn issuer(&self) -> Issuer {
        let issuer = match (&self.portcullis_url, &self.jwks_url) {
            (Some(base), _) => {
                let issuer = Issuer::portcullis(base, &self.issuer_url);
                match &self.revocations_api_key {
                    Some(key) => issuer.revocation_feed(RevocationFeed::portcullis(base, key)),
                    None => issuer,
                }
            }
            (None, Some(jwks)) => Issuer::jwks_url(&self.issuer_url, jwks),
            (None, None) => Issuer::discovery(&self.issuer_url),
        };
        let issuer = issuer.algorithms(self.algorithms.clone()).audience(&self.audience);
        match &self.roles_claim {
            Some(pointer) => issuer.roles_claim(pointer),
            None => issuer,
        }
    }
}

/// The routes, protected by `verifier`.
pub fn app(verifier: ResourceServer, admin_role: &str) -> Router {
    let context = AuthContext::new(Arc::new(verifier));
    let admin = Router::new()
        .route("/api/admin", get(admin))
        .route_layer(RequireAuthLayer::new(context.clone()).guard(Guard::role(admin_role)));
    Router::new().route("/api/whoami", get(whoami)).merge(admin).layer(context.layer())
}

async fn whoami(Auth(principal): Auth) -> Json<Value> {
    Json(json!({
        "sub": principal.user_id,
        "method": principal.method.as_str(),
        "scopes": principal.scopes,
        "roles": principal.authority.roles,
        "tenant": principal.tenant(),
    }))
}

async fn admin(Auth(principal): Auth) -> Json<Value> {
    Json(json!({"admin": principal.user_id}))
}
