//! # auth-oauth
//!
//! Social login for Portcullis: the protocol side of signing in with an OpenID Connect provider
//! (Google, Microsoft, Apple, Keycloak, Auth0, GitLab) or a plain OAuth2 provider with a userinfo
//! endpoint (GitHub).
//!
//! - [`ProviderConfig`]: a provider by discovery (OpenID Connect) or by endpoints (OAuth2), with
//!   its client id and secret, scopes, callback URL, whether its verified emails are trusted for
//!   linking, the accepted id_token algorithms and the client ids of native apps.
//! - [`SocialProvider`]: [`SocialProvider::authorization_request`] builds the redirect (a fresh
//!   `state`, PKCE S256 always, a `nonce` for OpenID Connect) and what to keep for the callback
//!   ([`PendingAuthorization`]); [`SocialProvider::complete`] checks the `state`, exchanges the
//!   code with the PKCE verifier and returns the [`ExternalIdentity`] from the verified id_token
//!   (issuer, audience, pinned algorithm, expiry from the provider's JWKS through
//!   `auth-resource-server`; then `nonce`, `azp`, `at_hash`) or from the userinfo;
//!   [`SocialProvider::verify_id_token`] and [`SocialProvider::identity_from_access_token`] serve
//!   native apps that signed in with the provider's SDK.
//!
//! - [`LinkedAccountStore`]: which provider identity signs in to which user (one identity, one
//!   user), in memory here and on SQLite/PostgreSQL in `auth-sea-orm` (feature `oauth`).
//!
//! The protocol is the `oauth2` crate's. Which account an identity signs in to, linking, and the
//! HTTP endpoints are the flow engine's.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | (none)  |         | providers, the authorization-code flow, id_token and userinfo identities; [`LinkedAccountStore`] and [`MemoryLinkedAccountStore`] |
//! | `flows` | | [`SocialLogin`]: social login as a first factor of `auth-flows`' sign-in pipeline (account resolution and linking, the native apps' token exchange, the linked-accounts routes) |
//! | `openapi` | | the social routes' operations in the served OpenAPI document (`auth-flows`' `openapi`) |
//! | `testing` | | `testing::linked_account_store_conformance`, the suite every linked-account store runs |

#![forbid(unsafe_code)]

#[cfg(feature = "openapi")]
pub mod openapi;
mod provider;
#[cfg(feature = "flows")]
mod sign_in;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "flows")]
mod vault;
#[cfg(feature = "flows")]
mod web;

pub use provider::{AuthorizationRequest, PendingAuthorization, Protocol, ProviderConfig, SocialProvider};
#[cfg(feature = "flows")]
pub use sign_in::{AppCredential, Resolution, SocialLogin, paths};
pub use store::{LinkedAccount, LinkedAccountStore, MemoryLinkedAccountStore};
#[cfg(feature = "flows")]
pub use vault::ProviderTokenKey;
#[cfg(feature = "flows")]
pub use web::WebFlow;

/// Who signed in at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExternalIdentity {
    /// The provider's name.
    pub provider: String,
    /// The provider's stable id of the user (`sub`, or GitHub's numeric `id`).
    pub subject: String,
    /// The email the provider states, if any.
    pub email: Option<String>,
    /// Whether the provider asserts that the email is verified.
    pub email_verified: bool,
    /// A display name, if any.
    pub name: Option<String>,
    /// The authentication methods: the provider's `amr` when asserted, else `["fed"]`.
    pub amr: Vec<String>,
    /// The provider's tokens from the code exchange of the redirect flow (`None` for a native
    /// app's credential). Kept only when the deployment stores them, sealed
    /// ([`SocialLogin::store_provider_tokens`]).
    pub tokens: Option<ProviderTokens>,
}

/// The provider's tokens for calling its API on the user's behalf (GitHub's API, Google's
/// APIs with the scopes asked for). `Debug` never shows them.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ProviderTokens {
    /// The access token.
    pub access_token: String,
    /// The refresh token, when the provider issued one.
    pub refresh_token: Option<String>,
    /// When the access token expires, when the provider said.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The scopes granted, when the provider said.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for ProviderTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderTokens")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<redacted>"))
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Why a social sign-in step failed. Messages never carry tokens or secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// The configuration is unusable.
    #[error("social login configuration: {0}")]
    Config(String),
    /// The provider's discovery document could not be read or is inconsistent.
    #[error("provider discovery failed: {0}")]
    Discovery(String),
    /// The callback's `state` is not the pending one.
    #[error("the state does not match")]
    StateMismatch,
    /// The provider answered an error (`access_denied`, `invalid_grant`, ...).
    #[error("the provider answered {error}")]
    Provider {
        /// The OAuth2 error code.
        error: String,
        /// The provider's description, if any.
        description: Option<String>,
    },
    /// The code exchange failed (network, unparsable answer).
    #[error("the code exchange failed: {0}")]
    Exchange(String),
    /// An OpenID Connect token answer without an id_token.
    #[error("the provider sent no id_token")]
    MissingIdToken,
    /// The id_token was refused.
    #[error("the id_token was refused: {}", .0.description())]
    InvalidIdToken(auth_core::TokenRejection),
    /// The id_token's `nonce` is not the one sent.
    #[error("the id_token's nonce does not match")]
    NonceMismatch,
    /// The userinfo endpoint failed.
    #[error("the userinfo request failed: {0}")]
    Userinfo(String),
}
