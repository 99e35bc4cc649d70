//! The README's quick start: one axum route protected by Portcullis, next to the sign-in routes.

use std::sync::Arc;

use portcullis::blacklist::MemoryGrantStore;

use axum::{Router, routing::get};
use portcullis::axum::{Auth, AuthContext, RouterConfig, routes};
use portcullis::core::{Accounts, MemoryUserStore, PasswordHasher, PasswordHasherConfig, SystemClock};
use portcullis::flows::{AuthEndpoints, AuthService};
use portcullis::jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};

/// Answers only requests with a valid access token.
async fn hello(Auth(principal): Auth) -> String {
    format!("hello, user {}", principal.user_id)
}

/// The application: `/hello` plus the Portcullis routes, signing with `secret` (HS256, >= 32 bytes).
pub fn app(secret: &[u8]) -> Result<Router, Box<dyn std::error::Error>> {
    let key = JwtKey::hmac(JwtAlgorithm::HS256, secret)?;
    let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key)?, SystemClock::shared())?;
    let hasher = PasswordHasher::new(PasswordHasherConfig::default())?;
    let accounts = Accounts::new(Arc::new(MemoryUserStore::new()), hasher);
    let auth = AuthService::builder(accounts).grants(Arc::new(MemoryGrantStore::new())).jwt(jwt).build()?;
    let auth = Arc::new(auth);
    let context = AuthContext::new(Arc::new(auth.bearer_authenticator()));
    let endpoints = AuthEndpoints::new(auth);
    Ok(Router::new().route("/hello", get(hello)).layer(context.clone().layer()).merge(routes(
        endpoints,
        context,
        RouterConfig::default(),
    )))
}
