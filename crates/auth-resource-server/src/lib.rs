//! # auth-resource-server
//!
//! Resource-server mode for Portcullis: verify the access tokens of any OpenID issuer (Auth0,
//! Keycloak, Google, Firebase, another Portcullis server) from its published keys, with no
//! database and no user store. [`ResourceServer`] is an
//! [`Authenticator`](auth_core::Authenticator), so the adapters' extractors, layers, guards and
//! `FirstPresented` chains work with it unchanged.
//!
//! - [`Issuer`]: one trusted issuer: keys by discovery, JWKS URL or static PEM/JWK; pinned
//!   algorithms; audiences; leeway; claim requirements; the claim mapping into the
//!   [`Principal`](auth_core::Principal) (subject, `scope`/`scp`, roles, permissions and tenant
//!   by JSON pointer).
//! - [`JwksSettings`]: `Cache-Control` bounds, background refresh, one refetch per interval on
//!   unknown kids, bounded staleness while the issuer is down.
//! - [`RevocationFeed`]: a Portcullis issuer's revocations, polled, so that sign-outs reach this
//!   service within the same bound as the server's own processes.
//!
//! Tokens of an external issuer authenticate as
//! [`CredentialMethod::ExternalJwt`](auth_core::CredentialMethod::ExternalJwt): scope checks are
//! strict (no `scope` claim, no scope), and the mapped roles and permissions are the issuer's
//! statement. A Portcullis issuer's tokens ([`Issuer::portcullis`]) authenticate as
//! [`CredentialMethod::Jwt`](auth_core::CredentialMethod::Jwt), exactly as on the issuing server.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | (none)  |         | everything: the verifier, JWKS fetching over rustls, revocation polling |
//!
//! ## Example
//!
//! ```no_run
//! use auth_resource_server::{Issuer, JwtAlgorithm, ResourceServer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = ResourceServer::builder()
//!     .issuer(
//!         Issuer::discovery("https://sso.example.com/realms/acme")
//!             .algorithms([JwtAlgorithm::RS256])
//!             .audience("orders-api")
//!             .roles_claim("/realm_access/roles"),
//!     )
//!     .build()?;
//! let _background = verifier.spawn_background();
//! let principal = verifier.verify("eyJ...").await?;
//! println!("{} may admin: {}", principal.user_id, principal.has_role("admin"));
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod claims;
mod http;
mod issuer;
mod jwks;
mod revocation;
mod verifier;

/// Keys, algorithms and claim requirements, as configured here.
pub use auth_jwt::{ClaimRequirement, JwtAlgorithm, JwtKey};
pub use http::{Fetched, HttpFetcher};
pub use issuer::{ClaimMapping, Issuer, KeySource};
pub use jwks::JwksSettings;
pub use revocation::RevocationFeed;
pub use verifier::{BackgroundTasks, ConfigError, ResourceServer, ResourceServerBuilder};
