//! # auth-poem
//!
//! The poem adapter of Portcullis: it translates HTTP to the framework-free flows of `auth-flows` and
//! `auth-core`, and their errors back to HTTP, and nothing more. It answers exactly as `auth-axum`
//! does: same statuses, headers and bodies.
//!
//! - Extractors: [`Auth`] (the [`Principal`], required), [`MaybeAuth`] (optional: `None` without a
//!   credential, still a 401 with an invalid one; do not use `Option<Auth>`, which poem turns into
//!   `None` on any rejection), [`Authorized<P>`](Authorized) (the principal, authorized by a
//!   [`Policy`] such as [`IsStaff`]), [`CurrentUser`] and [`MaybeCurrentUser`] (the user record).
//! - Middleware: [`AuthContext`] makes an authenticator available to the extractors (`.with(context)`);
//!   [`RequireAuth`] protects a whole route with a [`Guard`] (a valid credential by default; roles,
//!   permissions, scopes, tenants, read-only access, app-defined predicates over the route's
//!   [`PathParams`]); [`CurrentUser::middleware`] registers the user loader;
//!   [`cors`] is the CORS policy of the routes.
//! - Routes: [`routes`] mounts the HTTP contract of the configured capabilities (under a
//!   configurable prefix, a choice of route sets, the JSON 404 only when asked for); [`mount`]
//!   mounts any [`auth_flows::RouteTable`], e.g. one extended with an application's own first factor.
//! - [`ApiError`]: return it from handlers; it renders the shared JSON error body.
//!
//! ## Features
//!
//! None: which routes exist is decided by the capabilities of the `auth-flows` service (and its
//! features, `openapi` among them), not by the adapter.
//!
//! ## Quick start
//!
//! The contract's routes next to your own, one context for both, the answers checked in-process
//! (serve `app` with `poem::Server` in a real program):
//!
//! ```
//! use std::sync::Arc;
//! use auth_blacklist::MemoryGrantStore;
//!
//! use auth_core::{Accounts, MemoryUserStore, PasswordHasher, PasswordHasherConfig, SystemClock};
//! use auth_jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
//! use auth_flows::{AuthEndpoints, AuthService};
//! use auth_poem::{Auth, AuthContext, MaybeAuth, RouterConfig, routes};
//! use poem::http::StatusCode;
//! use poem::{Endpoint, EndpointExt, Request, Route, get, handler};
//!
//! #[handler]
//! fn hello(Auth(principal): Auth) -> String {
//!     format!("hello, user {}", principal.user_id)
//! }
//!
//! #[handler]
//! fn greeting(MaybeAuth(principal): MaybeAuth) -> String {
//!     principal.map_or_else(|| "hello, stranger".to_owned(), |p| format!("hello, user {}", p.user_id))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = JwtKey::hmac(JwtAlgorithm::HS256, b"a secret of at least thirty-two bytes")?;
//! let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key)?, SystemClock::shared())?;
//! let hasher = PasswordHasher::new(PasswordHasherConfig::default())?;
//! let accounts = Accounts::new(Arc::new(MemoryUserStore::new()), hasher);
//! let auth = Arc::new(AuthService::builder(accounts).grants(Arc::new(MemoryGrantStore::new())).jwt(jwt).build()?);
//! let context = AuthContext::new(Arc::new(auth.bearer_authenticator()));
//! let endpoints = AuthEndpoints::new(Arc::clone(&auth));
//!
//! let app = Route::new()
//!     .at("/hello", get(hello))
//!     .at("/greeting", get(greeting))
//!     .nest("/", routes(endpoints, context.clone(), RouterConfig::default()))
//!     .with(context);
//!
//! let call = |path: &'static str| app.get_response(Request::builder().uri_str(path).finish());
//! assert_eq!(call("/hello").await.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(call("/greeting").await.into_body().into_string().await?, "hello, stranger");
//! assert_eq!(call("/healthz").await.status(), StatusCode::OK);
//! assert_eq!(call("/nowhere").await.status(), StatusCode::NOT_FOUND);
//! # Ok(())
//! # }
//! ```
//!
//! ## Authorizing a route
//!
//! A [`Guard`] on a route ([`RequireAuth::guard`]), or a [`Policy`] on one handler
//! ([`Authorized`]); both answer 401 without a valid credential and 403 when the principal may not,
//! exactly as auth-axum's do.
//!
//! ```no_run
//! use auth_poem::{AuthContext, Authorized, Guard, IsStaff, RequireAuth};
//! use poem::{EndpointExt, Route, get, handler};
//!
//! #[handler]
//! fn reports(staff: Authorized<IsStaff>) -> String {
//!     format!("reports for {}", staff.user_id)
//! }
//!
//! #[handler]
//! fn edit() -> &'static str {
//!     "editing"
//! }
//!
//! fn app(context: AuthContext) -> impl poem::Endpoint {
//!     let editors = RequireAuth::new(context.clone())
//!         .guard(Guard::role("editor").or(Guard::permission("articles:edit")));
//!     Route::new()
//!         .at("/articles/:id/edit", get(edit).with(editors))
//!         .at("/reports", get(reports))
//!         .with(context)
//! }
//! ```

#![forbid(unsafe_code)]

mod cors;
mod extract;
mod middleware;
mod router;

pub use auth_core::{Guard, IsAuthenticated, IsStaff, IsSuperuser, PathParams, Policy, Principal};
pub use auth_flows::{RouteSet, RouterConfig};
pub use cors::{Cors, CorsEndpoint, cors, cors_for};
pub use extract::{
    ApiError, Auth, AuthContext, AuthContextEndpoint, Authorized, CurrentUser, MaybeAuth, MaybeCurrentUser,
};
pub use middleware::{RequireAuth, RequireAuthEndpoint};
pub use router::{mount, routes};

/// Turns a framework-free `http::Response<Vec<u8>>` into a poem response (status, headers, body).
pub fn into_poem(response: http::Response<Vec<u8>>) -> poem::Response {
    let (parts, body) = response.into_parts();
    let parts = poem::ResponseParts {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        extensions: parts.extensions,
    };
    poem::Response::from_parts(parts, poem::Body::from(body))
}
