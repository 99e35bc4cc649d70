//! The route table: every route of the contract as data (method, path, whether it needs a
//! principal and a body) with a framework-free handler. Both adapters mount the same table, so
//! they serve the same routes with the same answers by construction.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use auth_core::http_support::TrustedProxies;
use auth_core::{Principal, UserStore};
use http::request::Parts;
use http::{HeaderName, Method, Response};

use super::endpoints::unauthenticated;
use super::paths;
use crate::{AuthEndpoints, ClientInfo};

/// A group of routes an application mounts or leaves out (see [`RouterConfig::only`] and
/// [`RouterConfig::without`]). A group whose capability is not configured is never mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouteSet {
    /// `POST {prefix}/register`.
    Register,
    /// The mobile flow: `{prefix}/mobile/sign-in`, `token-refresh`, `sign-out` (JWTs).
    MobileFlow,
    /// The web flow: `{prefix}/web/sign-in`, `token-refresh`, `sign-out`, `password/change`
    /// (JWTs).
    WebFlow,
    /// `POST {prefix}/token/verify` (JWTs).
    TokenVerify,
    /// `GET /.well-known/jwks.json` (JWTs).
    Jwks,
    /// `{prefix}/token/sign-in` and `sign-out` (opaque tokens).
    OpaqueTokens,
    /// `{prefix}/api-keys` (API keys).
    ApiKeys,
    /// `{prefix}/session/sign-in` and `sign-out` (cookie sessions).
    CookieSessions,
    /// The sessions list, revoking one, sign-out-all.
    SessionManagement,
    /// `{prefix}/mfa/...` (MFA).
    Mfa,
    /// `{prefix}/me` (read, update, delete) and `{prefix}/password/change`.
    Account,
    /// Password reset and email verification (account emails).
    AccountEmails,
    /// `GET {prefix}/activity` (the audit log).
    Activity,
    /// The admin API: `{prefix}/admin/users...` and, with a role store, `{prefix}/admin/roles...`
    /// (needs the `users:manage` / `roles:manage` permissions; superusers have them).
    Admin,
    /// `GET {prefix}/revocations`: the revocation feed for other services (`revocations:read`).
    RevocationFeed,
    /// `GET /healthz`.
    Health,
    /// The OpenAPI document and the Swagger UI (feature `openapi`).
    Docs,
}

impl RouteSet {
    /// Every route set.
    pub const ALL: [RouteSet; 17] = [
        Self::Register,
        Self::MobileFlow,
        Self::WebFlow,
        Self::TokenVerify,
        Self::Jwks,
        Self::OpaqueTokens,
        Self::ApiKeys,
        Self::CookieSessions,
        Self::SessionManagement,
        Self::Mfa,
        Self::Account,
        Self::AccountEmails,
        Self::Activity,
        Self::Admin,
        Self::RevocationFeed,
        Self::Health,
        Self::Docs,
    ];
}

/// Settings of the routes an adapter mounts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RouterConfig {
    /// Largest accepted request body in bytes (default 64 KiB); larger ones get a 413.
    pub body_limit: usize,
    /// Where the contract's routes live (default `/api/auth`): `{prefix}/mobile/sign-in`, ... The
    /// web flow's refresh cookie is scoped to `{prefix}/web`. JWKS and the health check keep their
    /// well-known paths.
    pub prefix: String,
    /// The OpenAPI document's path (default `/api/openapi.json`).
    pub openapi_path: String,
    /// The Swagger UI's prefix (default `/api/docs`).
    pub docs_path: String,
    /// Serve the Swagger UI (with [`RouteSet::Docs`] mounted; default on). Off, only the OpenAPI
    /// document is served.
    pub docs_ui: bool,
    /// Let the Swagger UI keep the tokens entered in "Authorize" in the browser's `localStorage`,
    /// across reloads and restarts (default off: they live as long as the page). Any script on the
    /// docs' origin could read them there.
    pub persist_authorization: bool,
    /// The route sets to mount (`None`: all of them).
    pub route_sets: Option<Vec<RouteSet>>,
    /// Answer every path the routes do not know with the JSON 404 (`not_found`). Off by default:
    /// an application's router usually has its own fallback, and two fallbacks cannot be merged.
    pub json_fallback: bool,
    /// The application's own operations, merged into the served OpenAPI document (feature
    /// `openapi`): the Swagger UI then shows them next to Portcullis's, with one "Authorize".
    #[cfg(feature = "openapi")]
    pub openapi_extra: Option<AppOpenApi>,
}

/// An application's OpenAPI document, merged into Portcullis's ([`RouterConfig::openapi_merge`]).
#[cfg(feature = "openapi")]
#[derive(Clone)]
pub struct AppOpenApi(pub Arc<utoipa::openapi::OpenApi>);

#[cfg(feature = "openapi")]
impl fmt::Debug for AppOpenApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppOpenApi").field("paths", &self.0.paths.paths.keys().collect::<Vec<_>>()).finish()
    }
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
            prefix: paths::DEFAULT_PREFIX.to_owned(),
            openapi_path: paths::OPENAPI.to_owned(),
            docs_path: paths::DOCS.to_owned(),
            docs_ui: true,
            persist_authorization: false,
            route_sets: None,
            json_fallback: false,
            #[cfg(feature = "openapi")]
            openapi_extra: None,
        }
    }
}

impl RouterConfig {
    /// Sets the body limit.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Mounts the contract's routes under `prefix` (e.g. `/auth`; `""` for the root) instead of
    /// `/api/auth`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().trim_end_matches('/').to_owned();
        self
    }

    /// Serves the OpenAPI document at `openapi_path` and the Swagger UI under `docs_path`.
    pub fn docs_paths(mut self, openapi_path: impl Into<String>, docs_path: impl Into<String>) -> Self {
        self.openapi_path = openapi_path.into();
        self.docs_path = docs_path.into().trim_end_matches('/').to_owned();
        self
    }

    /// Serves the Swagger UI or not (the OpenAPI document is served either way, with
    /// [`RouteSet::Docs`] mounted).
    pub fn docs_ui(mut self, on: bool) -> Self {
        self.docs_ui = on;
        self
    }

    /// Lets the Swagger UI keep "Authorize" tokens in `localStorage` (see
    /// [`RouterConfig::persist_authorization`]).
    pub fn persist_authorization(mut self, on: bool) -> Self {
        self.persist_authorization = on;
        self
    }

    /// Mounts only these route sets (e.g. the web flow alone).
    pub fn only(mut self, sets: impl IntoIterator<Item = RouteSet>) -> Self {
        self.route_sets = Some(sets.into_iter().collect());
        self
    }

    /// Leaves `set` out.
    pub fn without(mut self, set: RouteSet) -> Self {
        let sets = self.route_sets.get_or_insert_with(|| RouteSet::ALL.to_vec());
        sets.retain(|s| *s != set);
        self
    }

    /// Turns the JSON 404 fallback on or off (see [`RouterConfig::json_fallback`]).
    pub fn json_fallback(mut self, on: bool) -> Self {
        self.json_fallback = on;
        self
    }

    /// Merges the application's own OpenAPI document (paths, schemas, tags; e.g. from
    /// `#[derive(utoipa::OpenApi)]`) into the served one. Its operations may name Portcullis's
    /// security schemes (`bearer`, `token`, `apiKey`, `sessionCookie`), which the document
    /// defines for the configured credential kinds.
    #[cfg(feature = "openapi")]
    pub fn openapi_merge(mut self, document: utoipa::openapi::OpenApi) -> Self {
        self.openapi_extra = Some(AppOpenApi(Arc::new(document)));
        self
    }

    /// Whether `set` is mounted.
    pub fn mounts(&self, set: RouteSet) -> bool {
        self.route_sets.as_ref().is_none_or(|sets| sets.contains(&set))
    }

    /// A default path of [`paths`] under this config's prefix.
    pub fn path(&self, default: &str) -> String {
        match default.strip_prefix(paths::DEFAULT_PREFIX) {
            Some(rest) => format!("{}{rest}", self.prefix),
            None => default.to_owned(),
        }
    }
}

/// What a route's handler gets: the request head, the body (empty for routes that read none) and,
/// for authenticated routes, the principal.
#[derive(Debug)]
#[non_exhaustive]
pub struct RouteRequest {
    /// The request head (with [`auth_core::http_support::ClientAddr`] in its extensions).
    pub parts: Parts,
    /// The body, read up to [`RouteTable::body_limit`].
    pub body: Vec<u8>,
    /// The authenticated principal (routes with [`Route::authenticated`]).
    pub principal: Option<Principal>,
}

impl RouteRequest {
    /// A request for a route's handler.
    pub fn new(parts: Parts, body: Vec<u8>, principal: Option<Principal>) -> Self {
        Self { parts, body, principal }
    }
}

/// The future a handler returns.
pub type RouteFuture = Pin<Box<dyn Future<Output = Response<Vec<u8>>> + Send>>;
type Handler = Arc<dyn Fn(RouteRequest) -> RouteFuture + Send + Sync>;

/// One route: a method on a path, and its handler.
#[derive(Clone)]
pub struct Route {
    /// The method (`GET` also answers `HEAD`).
    pub method: Method,
    /// The path, with `{name}` for one segment and `{*name}` for the rest (axum's syntax).
    pub path: String,
    /// Whether the handler needs a principal: the adapter authenticates first (401 without one).
    pub authenticated: bool,
    /// Whether the handler reads the body: the adapter reads it up to the limit (413 beyond).
    pub reads_body: bool,
    /// The route set it belongs to.
    pub set: RouteSet,
    /// The default path of the contract it serves (for the OpenAPI document).
    #[cfg_attr(not(feature = "openapi"), allow(dead_code))]
    pub(crate) documented: Option<&'static str>,
    handler: Handler,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("authenticated", &self.authenticated)
            .field("reads_body", &self.reads_body)
            .finish_non_exhaustive()
    }
}

impl Route {
    /// Answers a request.
    pub fn call(&self, request: RouteRequest) -> RouteFuture {
        (self.handler)(request)
    }
}

/// The routes an adapter mounts, with what the adapter needs around them: the body limit, the
/// CORS policy's origins and headers, the client resolution, and whether to answer unknown paths
/// with the JSON 404.
#[derive(Clone)]
pub struct RouteTable {
    routes: Vec<Route>,
    body_limit: usize,
    allowed_origins: Vec<String>,
    cors_allow_headers: Vec<HeaderName>,
    json_fallback: bool,
    trusted_proxies: TrustedProxies,
    /// What the docs routes serve, when they are mounted.
    #[cfg(feature = "openapi")]
    docs: Option<Arc<super::openapi::DocsSource>>,
}

impl fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteTable").field("routes", &self.routes).finish_non_exhaustive()
    }
}

impl RouteTable {
    /// The routes.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The routes grouped by path, in the order of first appearance.
    pub fn by_path(&self) -> Vec<(&str, Vec<&Route>)> {
        let mut groups: Vec<(&str, Vec<&Route>)> = Vec::new();
        for route in &self.routes {
            match groups.iter_mut().find(|(path, _)| *path == route.path) {
                Some((_, routes)) => routes.push(route),
                None => groups.push((&route.path, vec![route])),
            }
        }
        groups
    }

    /// The largest body a route reads.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The origins the CORS policy allows (none: no CORS headers at all).
    pub fn allowed_origins(&self) -> &[String] {
        &self.allowed_origins
    }

    /// The request headers a cross-origin client may send.
    pub fn cors_allow_headers(&self) -> &[HeaderName] {
        &self.cors_allow_headers
    }

    /// Whether unknown paths get the JSON 404.
    pub fn json_fallback(&self) -> bool {
        self.json_fallback
    }

    /// The client of a request (the adapters run every handler inside [`ClientInfo::scope`] with
    /// it, for the rate limits and audit events).
    pub fn client(&self, parts: &Parts) -> ClientInfo {
        crate::guard::client_info(&self.trusted_proxies, parts)
    }

    /// Adds a route (an application's own first factor, say) to be mounted with the others.
    pub fn route<F, Fut>(
        mut self,
        method: Method,
        path: impl Into<String>,
        authenticated: bool,
        handler: F,
    ) -> Self
    where
        F: Fn(RouteRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Vec<u8>>> + Send + 'static,
    {
        self.routes.push(Route {
            method,
            path: path.into(),
            authenticated,
            reads_body: true,
            set: RouteSet::Account,
            documented: None,
            handler: Arc::new(move |request| Box::pin(handler(request))),
        });
        self
    }

    /// Adds `fragment`'s operations to the served OpenAPI document (feature `openapi`): how an
    /// extension that adds routes with [`route`](Self::route) documents them, e.g. social login.
    /// Its paths are the mounted ones; its operations get the shared error answers and keep the
    /// security requirements of configured credential kinds only, as Portcullis's own do. Without
    /// docs routes in the table (the `Docs` set not mounted) nothing changes.
    #[cfg(feature = "openapi")]
    pub fn add_openapi(mut self, fragment: utoipa::openapi::OpenApi) -> Self {
        if let Some(docs) = self.docs.take() {
            let docs = docs.with(fragment);
            self.routes.retain(|route| route.set != RouteSet::Docs);
            self.routes.extend(docs.routes());
            self.docs = Some(Arc::new(docs));
        }
        self
    }
}

/// Builds the table's routes over shared endpoints.
struct Builder<'c, S: UserStore> {
    endpoints: Arc<AuthEndpoints<S>>,
    config: &'c RouterConfig,
    routes: Vec<Route>,
}

impl<S: UserStore> Builder<'_, S> {
    /// A public route of `set` at the default path `documented` (moved under the prefix).
    fn public<F, Fut>(&mut self, set: RouteSet, method: Method, documented: &'static str, body: bool, f: F)
    where
        F: Fn(Arc<AuthEndpoints<S>>, RouteRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Vec<u8>>> + Send + 'static,
    {
        self.add(set, method, documented, false, body, f);
    }

    /// A route of `set` for an authenticated principal.
    fn private<F, Fut>(&mut self, set: RouteSet, method: Method, documented: &'static str, body: bool, f: F)
    where
        F: Fn(Arc<AuthEndpoints<S>>, Principal, RouteRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Vec<u8>>> + Send + 'static,
    {
        self.add(set, method, documented, true, body, move |e, mut request: RouteRequest| {
            let principal = request.principal.take();
            let answer = principal.map(|principal| (principal.clone(), f(e, principal, request)));
            async move {
                match answer {
                    Some((principal, answer)) => crate::guard::acting_as(&principal, answer).await,
                    None => unauthenticated(None),
                }
            }
        });
    }

    fn add<F, Fut>(
        &mut self,
        set: RouteSet,
        method: Method,
        documented: &'static str,
        authenticated: bool,
        reads_body: bool,
        f: F,
    ) where
        F: Fn(Arc<AuthEndpoints<S>>, RouteRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Vec<u8>>> + Send + 'static,
    {
        if !self.config.mounts(set) {
            return;
        }
        let endpoints = Arc::clone(&self.endpoints);
        self.routes.push(Route {
            method,
            path: self.config.path(documented),
            authenticated,
            reads_body,
            set,
            documented: Some(documented),
            handler: Arc::new(move |request| Box::pin(f(Arc::clone(&endpoints), request))),
        });
    }
}

/// The last path segment of a request for a `{prefix}{id}` route.
fn tail(parts: &Parts, prefix: &str) -> String {
    parts.uri.path().strip_prefix(prefix).unwrap_or_default().to_owned()
}

impl<S: UserStore> AuthEndpoints<S> {
    /// Every route of the configured capabilities that `config` mounts, under its prefix.
    pub fn route_table(&self, config: &RouterConfig) -> RouteTable {
        let mut endpoints = self.clone();
        endpoints.web.cookie.path = config.path(paths::WEB_PREFIX);
        let endpoints = Arc::new(endpoints);
        let auth = Arc::clone(&self.auth);
        let mut b = Builder { endpoints: Arc::clone(&endpoints), config, routes: Vec::new() };
        let (get, post, delete, patch) = (Method::GET, Method::POST, Method::DELETE, Method::PATCH);
        use RouteSet as R;

        b.public(R::Register, post.clone(), paths::REGISTER, true, |e, r| async move {
            e.register(&r.parts, &r.body).await
        });
        #[cfg(feature = "jwt")]
        if auth.jwt().is_some() {
            b.public(R::MobileFlow, post.clone(), paths::MOBILE_SIGN_IN, true, |e, r| async move {
                e.mobile_sign_in(&r.parts, &r.body).await
            });
            b.public(R::MobileFlow, post.clone(), paths::MOBILE_TOKEN_REFRESH, true, |e, r| async move {
                e.mobile_refresh(&r.parts, &r.body).await
            });
            b.public(R::WebFlow, post.clone(), paths::WEB_SIGN_IN, true, |e, r| async move {
                e.web_sign_in(&r.parts, &r.body).await
            });
            b.public(R::WebFlow, post.clone(), paths::WEB_TOKEN_REFRESH, false, |e, r| async move {
                e.web_refresh(&r.parts).await
            });
            b.public(R::WebFlow, post.clone(), paths::WEB_SIGN_OUT, false, |e, r| async move {
                e.web_sign_out(&r.parts).await
            });
            b.public(R::TokenVerify, post.clone(), paths::TOKEN_VERIFY, true, |e, r| async move {
                e.verify(&r.parts, &r.body).await
            });
            b.public(R::MobileFlow, post.clone(), paths::MOBILE_SIGN_OUT, true, |e, r| async move {
                e.mobile_sign_out(&r.parts, &r.body).await
            });
        }
        #[cfg(feature = "opaque-tokens")]
        if auth.opaque.is_some() {
            b.public(R::OpaqueTokens, post.clone(), paths::TOKEN_SIGN_IN, true, |e, r| async move {
                e.token_sign_in(&r.parts, &r.body).await
            });
            b.public(R::OpaqueTokens, post.clone(), paths::TOKEN_SIGN_OUT, false, |e, r| async move {
                e.token_sign_out(&r.parts).await
            });
        }
        #[cfg(feature = "sessions")]
        if auth.sessions.is_some() {
            b.public(R::CookieSessions, post.clone(), paths::SESSION_SIGN_IN, true, |e, r| async move {
                e.session_sign_in(&r.parts, &r.body).await
            });
            b.public(R::CookieSessions, post.clone(), paths::SESSION_SIGN_OUT, false, |e, r| async move {
                e.session_sign_out(&r.parts).await
            });
        }
        #[cfg(feature = "api-keys")]
        if auth.api_keys.is_some() {
            b.private(R::ApiKeys, post.clone(), paths::API_KEYS, true, |e, p, r| async move {
                e.create_api_key(&p, &r.parts, &r.body).await
            });
            b.private(R::ApiKeys, get.clone(), paths::API_KEYS, false, |e, p, _| async move {
                e.list_api_keys(&p).await
            });
            let prefix = config.path(paths::API_KEYS_PREFIX);
            b.private(R::ApiKeys, delete.clone(), API_KEY_PATH, false, move |e, p, r| {
                let id = tail(&r.parts, &prefix);
                async move { e.delete_api_key(&p, &id).await }
            });
        }
        b.private(R::SessionManagement, post.clone(), paths::SIGN_OUT_ALL, false, |e, p, _| async move {
            e.sign_out_all(&p).await
        });
        b.private(R::SessionManagement, get.clone(), paths::SESSIONS, false, |e, p, _| async move {
            e.sessions(&p).await
        });
        let prefix = config.path(paths::SESSIONS_PREFIX);
        b.private(R::SessionManagement, delete.clone(), SESSION_PATH, false, move |e, p, r| {
            let id = tail(&r.parts, &prefix);
            async move { e.delete_session(&p, &id).await }
        });
        #[cfg(feature = "mfa")]
        if auth.mfa.is_some() {
            b.private(
                R::Mfa,
                get.clone(),
                paths::MFA,
                false,
                |e, p, _| async move { e.mfa_status(&p).await },
            );
            b.private(R::Mfa, post.clone(), paths::MFA_TOTP_SETUP, true, |e, p, r| async move {
                e.mfa_totp_setup(&p, &r.parts, &r.body).await
            });
            b.private(R::Mfa, post.clone(), paths::MFA_TOTP_CONFIRM, true, |e, p, r| async move {
                e.mfa_totp_confirm(&p, &r.parts, &r.body).await
            });
            b.private(R::Mfa, post.clone(), paths::MFA_TOTP_DISABLE, true, |e, p, r| async move {
                e.mfa_totp_disable(&p, &r.parts, &r.body).await
            });
            b.private(R::Mfa, post.clone(), paths::MFA_RECOVERY_CODES, true, |e, p, r| async move {
                e.mfa_recovery_codes(&p, &r.parts, &r.body).await
            });
            b.public(R::Mfa, post.clone(), paths::MFA_VERIFY, true, |e, r| async move {
                e.mfa_verify(&r.parts, &r.body).await
            });
        }
        b.private(R::Account, get.clone(), paths::ME, false, |e, p, _| async move { e.me(&p).await });
        b.private(R::Account, patch.clone(), paths::ME, true, |e, p, r| async move {
            e.update_me(&p, &r.parts, &r.body).await
        });
        b.private(R::Account, delete.clone(), paths::ME, true, |e, p, r| async move {
            e.delete_me(&p, &r.parts, &r.body).await
        });
        b.private(R::Account, post.clone(), paths::PASSWORD_CHANGE, true, |e, p, r| async move {
            e.password_change(&p, &r.parts, &r.body).await
        });
        #[cfg(feature = "jwt")]
        if auth.jwt().is_some() {
            b.private(R::WebFlow, post.clone(), paths::WEB_PASSWORD_CHANGE, true, |e, p, r| async move {
                e.web_password_change(&p, &r.parts, &r.body).await
            });
        }
        #[cfg(feature = "account-emails")]
        if auth.emails.is_some() {
            b.public(R::AccountEmails, post.clone(), paths::PASSWORD_RESET, true, |e, r| async move {
                e.password_reset(&r.parts, &r.body).await
            });
            b.public(
                R::AccountEmails,
                post.clone(),
                paths::PASSWORD_RESET_CONFIRM,
                true,
                |e, r| async move { e.password_reset_confirm(&r.parts, &r.body).await },
            );
            b.public(R::AccountEmails, post.clone(), paths::EMAIL_VERIFY, true, |e, r| async move {
                e.email_verify(&r.parts, &r.body).await
            });
            b.public(R::AccountEmails, post.clone(), paths::EMAIL_RESEND, true, |e, r| async move {
                e.email_resend(&r.parts, &r.body).await
            });
            b.public(R::AccountEmails, post.clone(), paths::EMAIL_CHANGE_CANCEL, true, |e, r| async move {
                e.email_change_cancel(&r.parts, &r.body).await
            });
        }
        #[cfg(feature = "audit")]
        b.private(R::Activity, get.clone(), paths::ACTIVITY, false, |e, p, r| async move {
            e.activity(&p, &r.parts).await
        });
        b.private(R::RevocationFeed, get.clone(), paths::REVOCATIONS, false, |e, p, r| async move {
            e.revocation_feed(&p, &r.parts).await
        });
        b.private(R::Admin, get.clone(), paths::ADMIN_USERS, false, |e, p, r| async move {
            e.admin_list_users(&p, &r.parts).await
        });
        let prefix = config.path(paths::ADMIN_USERS_PREFIX);
        let user_id = move |r: &RouteRequest| tail(&r.parts, &prefix);
        let id = user_id.clone();
        b.private(R::Admin, get.clone(), ADMIN_USER_PATH, false, move |e, p, r| {
            let id = id(&r);
            async move { e.admin_get_user(&p, &id).await }
        });
        let id = user_id.clone();
        b.private(R::Admin, patch.clone(), ADMIN_USER_PATH, true, move |e, p, r| {
            let id = id(&r);
            async move { e.admin_update_user(&p, &id, &r.parts, &r.body).await }
        });
        b.private(R::Admin, post.clone(), ADMIN_USER_SIGN_OUT_PATH, false, move |e, p, r| {
            let id = user_id(&r).trim_end_matches("/sign-out-all").to_owned();
            async move { e.admin_sign_out_user(&p, &id).await }
        });
        if auth.role_store().is_some() {
            b.private(R::Admin, get.clone(), paths::ADMIN_ROLES, false, |e, p, _| async move {
                e.admin_list_roles(&p).await
            });
            b.private(R::Admin, post.clone(), paths::ADMIN_ROLES, true, |e, p, r| async move {
                e.admin_create_role(&p, &r.parts, &r.body).await
            });
            let prefix = config.path(paths::ADMIN_ROLES_PREFIX);
            // `{name}`, `{name}/permissions` or `{name}/permissions/{permission}`.
            let segments = move |r: &RouteRequest| {
                let rest = tail(&r.parts, &prefix);
                let mut parts = rest.splitn(3, '/').map(str::to_owned);
                let name = parts.next().unwrap_or_default();
                let permission = parts.nth(1).unwrap_or_default();
                (name, permission)
            };
            let s = segments.clone();
            b.private(R::Admin, get.clone(), ADMIN_ROLE_PATH, false, move |e, p, r| {
                let (name, _) = s(&r);
                async move { e.admin_get_role(&p, &name).await }
            });
            let s = segments.clone();
            b.private(R::Admin, delete.clone(), ADMIN_ROLE_PATH, false, move |e, p, r| {
                let (name, _) = s(&r);
                async move { e.admin_delete_role(&p, &name).await }
            });
            let s = segments.clone();
            b.private(R::Admin, post.clone(), ADMIN_ROLE_PERMISSIONS_PATH, true, move |e, p, r| {
                let (name, _) = s(&r);
                async move { e.admin_grant_permission(&p, &name, &r.parts, &r.body).await }
            });
            b.private(R::Admin, delete.clone(), ADMIN_ROLE_PERMISSION_PATH, false, move |e, p, r| {
                let (name, permission) = segments(&r);
                async move { e.admin_revoke_permission(&p, &name, &permission).await }
            });
        }
        #[cfg(feature = "jwt")]
        if auth.jwt().is_some() {
            b.public(R::Jwks, get.clone(), paths::JWKS, false, |e, _| async move { e.jwks() });
        }
        b.public(R::Health, get.clone(), paths::HEALTH, false, |_, _| async move {
            auth_core::http_support::health()
        });
        #[cfg_attr(not(feature = "openapi"), allow(unused_mut))]
        let mut routes = b.routes;
        #[cfg(feature = "openapi")]
        let docs = config.mounts(RouteSet::Docs).then(|| {
            let source = super::openapi::DocsSource::new(&auth, config, &routes);
            routes.extend(source.routes());
            Arc::new(source)
        });
        let _ = (&get, &auth);
        RouteTable {
            routes,
            #[cfg(feature = "openapi")]
            docs,
            body_limit: config.body_limit,
            allowed_origins: endpoints.allowed_origins(),
            cors_allow_headers: endpoints.cors_allow_headers(),
            json_fallback: config.json_fallback,
            trusted_proxies: self.auth.guard.trusted_proxies.clone(),
        }
    }
}

/// `DELETE {prefix}/sessions/{id}` as documented.
const SESSION_PATH: &str = "/api/auth/sessions/{id}";
/// `GET`/`PATCH {prefix}/admin/users/{id}` as documented.
const ADMIN_USER_PATH: &str = "/api/auth/admin/users/{id}";
/// `POST {prefix}/admin/users/{id}/sign-out-all` as documented.
const ADMIN_USER_SIGN_OUT_PATH: &str = "/api/auth/admin/users/{id}/sign-out-all";
/// `GET`/`DELETE {prefix}/admin/roles/{name}` as documented.
const ADMIN_ROLE_PATH: &str = "/api/auth/admin/roles/{name}";
/// `POST {prefix}/admin/roles/{name}/permissions` as documented.
const ADMIN_ROLE_PERMISSIONS_PATH: &str = "/api/auth/admin/roles/{name}/permissions";
/// `DELETE {prefix}/admin/roles/{name}/permissions/{permission}` as documented.
const ADMIN_ROLE_PERMISSION_PATH: &str = "/api/auth/admin/roles/{name}/permissions/{permission}";
/// `DELETE {prefix}/api-keys/{id}` as documented.
#[cfg(feature = "api-keys")]
const API_KEY_PATH: &str = "/api/auth/api-keys/{id}";

impl Route {
    /// A route serving docs, with its handler (used by the OpenAPI module).
    #[cfg(feature = "openapi")]
    pub(crate) fn docs<F>(path: String, f: F) -> Self
    where
        F: Fn(RouteRequest) -> RouteFuture + Send + Sync + 'static,
    {
        Self {
            method: Method::GET,
            path,
            authenticated: false,
            reads_body: false,
            set: RouteSet::Docs,
            documented: None,
            handler: Arc::new(f),
        }
    }
}
