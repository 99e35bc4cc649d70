//! # auth-axum
//!
//! The axum adapter of Portcullis: it translates HTTP to the framework-free flows of `auth-flows` and
//! `auth-core`, and their errors back to HTTP, and nothing more.
//!
//! - Extractors: [`Auth`] (the [`Principal`], required; `Option<Auth>` for optional
//!   authentication), [`Authorized<P>`](Authorized) (the principal, authorized by a [`Policy`]
//!   such as [`IsStaff`]) and [`CurrentUser`] (the user record).
//! - Layers: [`AuthContext::layer`] makes an authenticator available to the extractors;
//!   [`RequireAuthLayer`] protects a whole router with a [`Guard`] (a valid credential by default;
//!   roles, permissions, scopes, tenants, read-only access, app-defined predicates; apply it with
//!   `route_layer` for guards over the route's [`PathParams`]).
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
//!
//! ## Authorizing a route
//!
//! A [`Guard`] on a group of routes ([`RequireAuthLayer::guard`]), or a [`Policy`] on one handler
//! ([`Authorized`]); both answer 401 without a valid credential and 403 when the principal may not.
//!
//! ```no_run
//! use auth_axum::{AuthContext, Authorized, Guard, IsStaff, RequireAuthLayer};
//! use axum::{Router, routing::get};
//!
//! async fn reports(staff: Authorized<IsStaff>) -> String {
//!     format!("reports for {}", staff.user_id)
//! }
//!
//! fn app(context: AuthContext) -> Router {
//!     let editors = RequireAuthLayer::new(context.clone())
//!         .guard(Guard::role("editor").or(Guard::permission("articles:edit")));
//!     Router::new()
//!         .route("/articles/{id}/edit", get(|| async { "editing" }))
//!         .route_layer(editors)
//!         .route("/reports", get(reports))
//!         .layer(context.layer())
//! }
//! ```

#![forbid(unsafe_code)]

mod extract;
mod layer;
mod router;

pub use auth_core::{Guard, IsAuthenticated, IsStaff, IsSuperuser, PathParams, Policy, Principal};
pub use auth_flows::{RouteSet, RouterConfig};
pub use extract::{ApiError, Auth, AuthContext, Authorized, CurrentUser};
pub use layer::{RequireAuth, RequireAuthLayer};
pub use router::{cors_layer, cors_layer_for, mount, routes};

/// Turns a framework-free `http::Response<Vec<u8>>` into an axum response.
pub fn into_axum(response: http::Response<Vec<u8>>) -> axum::response::Response {
    response.map(axum::body::Body::from)
}
