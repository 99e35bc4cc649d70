//! # auth-axum
//!
//! The axum adapter of Portcullis: it translates HTTP to the framework-free flows of `auth-jwt` and
//! `auth-core`, and their errors back to HTTP, and nothing more.
//!
//! - Extractors: [`Auth`] (the [`Principal`], required; `Option<Auth>` for optional
//!   authentication) and [`CurrentUser`] (the user record).
//! - Layers: [`AuthContext::layer`] makes an authenticator available to the extractors;
//!   [`RequireAuthLayer`] protects a whole router.
//! - Routers: [`routes`] mounts the JWT flows (mobile, web, register, me, verify, JWKS, health).
//! - [`ApiError`]: return it from handlers; it renders the shared JSON error body.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | `openapi` | yes   | `/api/openapi.json` and the Swagger UI at `/api/docs/` in [`routes`] |
//!
//! ## Protecting a route
//!
//! ```no_run
//! use auth_axum::{Auth, AuthContext};
//! use axum::{Router, routing::get};
//!
//! async fn hello(Auth(principal): Auth) -> String {
//!     format!("hello, user {}", principal.user_id)
//! }
//!
//! fn app(context: AuthContext) -> Router {
//!     Router::new().route("/hello", get(hello)).layer(context.layer())
//! }
//! ```

#![forbid(unsafe_code)]

mod extract;
mod layer;
mod router;

pub use auth_core::Principal;
pub use auth_flows::endpoints::RouterConfig;
pub use extract::{ApiError, Auth, AuthContext, CurrentUser};
pub use layer::{RequireAuth, RequireAuthLayer};
pub use router::{cors_layer, cors_layer_for, routes};

/// Turns a framework-free `http::Response<Vec<u8>>` into an axum response.
pub fn into_axum(response: http::Response<Vec<u8>>) -> axum::response::Response {
    response.map(axum::body::Body::from)
}
