//! # auth-axum
//!
//! The axum adapter of Portcullis: it translates HTTP to the framework-free flows of `auth-flows` and
//! `auth-core`, and their errors back to HTTP, and nothing more.
//!
//! - Extractors: [`Auth`] (the [`Principal`], required; `Option<Auth>` for optional
//!   authentication) and [`CurrentUser`] (the user record).
//! - Layers: [`AuthContext::layer`] makes an authenticator available to the extractors;
//!   [`RequireAuthLayer`] protects a whole router.
//! - Routers: [`routes`] mounts the HTTP contract of the configured capabilities (under a
//!   configurable prefix, a choice of route sets, no fallback unless asked for); [`mount`] mounts
//!   any [`auth_flows::RouteTable`], e.g. one extended with an application's own first factor.
//! - [`ApiError`]: return it from handlers; it renders the shared JSON error body.
//!
//! ## Features
//!
//! None: which routes exist is decided by the capabilities of the `auth-flows` service (and its
//! features, `openapi` among them), not by the adapter.
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
pub use auth_flows::{RouteSet, RouterConfig};
pub use extract::{ApiError, Auth, AuthContext, CurrentUser};
pub use layer::{RequireAuth, RequireAuthLayer};
pub use router::{cors_layer, cors_layer_for, mount, routes};

/// Turns a framework-free `http::Response<Vec<u8>>` into an axum response.
pub fn into_axum(response: http::Response<Vec<u8>>) -> axum::response::Response {
    response.map(axum::body::Body::from)
}
