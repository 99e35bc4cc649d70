use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use auth_core::Guard;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::Request;
use tower::{Layer, Service};

use crate::{ApiError, AuthContext};

/// Protects every route of a router with a [`Guard`]: by default a valid credential of any kind
/// ([`Guard::authenticated`]); requests the guard refuses get its 401 or 403 before the handler
/// runs. The [`Principal`](auth_core::Principal) is left in the request extensions, so the
/// extractors do not authenticate again, and so are the route's [`PathParams`](auth_core::PathParams).
///
/// Apply it with [`route_layer`](axum::Router::route_layer) when a guard reads the route's path
/// parameters ([`Guard::tenant_param`], [`Guard::custom`]): only then is the route matched
/// before the guard runs (with [`layer`](axum::Router::layer) the parameters are empty, and a
/// [`Guard::tenant_param`] refuses).
///
/// ```no_run
/// # use auth_axum::{AuthContext, RequireAuthLayer};
/// use auth_core::Guard;
/// use axum::routing::get;
///
/// # fn f(context: AuthContext) -> axum::Router {
/// axum::Router::new()
///     .route("/private", get(|| async { "secret" }))
///     .layer(RequireAuthLayer::new(context.clone()))
///     .merge(
///         axum::Router::new()
///             .route("/tenants/{tenant}/notes", get(|| async { "notes" }).post(|| async { "saved" }))
///             // Anyone may read; writing needs a member of the tenant named in the path.
///             .route_layer(
///                 RequireAuthLayer::new(context)
///                     .guard(Guard::tenant_param("tenant").or_read_only()),
///             ),
///     )
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RequireAuthLayer {
    context: AuthContext,
    guard: Guard,
    /// Whether `guard` is still the initial [`Guard::authenticated`].
    initial: bool,
}

impl RequireAuthLayer {
    /// A layer authenticating with `context` and requiring a valid credential.
    pub fn new(context: AuthContext) -> Self {
        Self { context, guard: Guard::authenticated(), initial: true }
    }

    /// Also requires `guard`: it is ANDed onto the guard so far. The first one replaces the
    /// initial [`Guard::authenticated`] (which every other rule implies), so that
    /// `.guard(Guard::authenticated().or_read_only())` lets requests without a credential use
    /// safe methods.
    pub fn guard(mut self, guard: Guard) -> Self {
        self.guard = if self.initial { guard } else { self.guard.and(guard) };
        self.initial = false;
        self
    }

    /// Also requires `scope` of every credential limited by scopes (the scope guard, with
    /// [`Principal::allows_scope`](auth_core::Principal::allows_scope)'s one meaning): an API key
    /// or a scoped JWT without it gets 403 `insufficient_scope`; a user credential without scopes
    /// has the user's full authority.
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        self.guard = self.guard.and(Guard::scope(scope));
        self.initial = false;
        self
    }

    /// Also requires a sign-in with a second factor (the MFA guard): otherwise 403
    /// `mfa_required`.
    pub fn require_mfa(mut self) -> Self {
        self.guard = self.guard.and(Guard::mfa());
        self.initial = false;
        self
    }

    /// Also requires a sign-in at most `max_age` old (by the context's clock): otherwise 403
    /// `reauthentication_required`.
    pub fn require_recent_auth(mut self, max_age: chrono::Duration) -> Self {
        self.guard = self.guard.and(Guard::recent_auth(max_age));
        self.initial = false;
        self
    }
}

impl<S> Layer<S> for RequireAuthLayer {
    type Service = RequireAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAuth { inner, context: self.context.clone(), guard: self.guard.clone() }
    }
}

/// The service of [`RequireAuthLayer`].
#[derive(Debug, Clone)]
pub struct RequireAuth<S> {
    inner: S,
    context: AuthContext,
    guard: Guard,
}

impl<S> Service<Request<Body>> for RequireAuth<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let context = self.context.clone();
        let guard = self.guard.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(context.clone());
            let principal = match context.authenticate(&mut parts).await {
                Ok(principal) => principal,
                Err(error) => return Ok(ApiError(error).into_response()),
            };
            let params = crate::extract::path_params(&mut parts).await;
            parts.extensions.insert(params);
            match guard.check(principal.as_ref(), &parts, context.now()) {
                Ok(()) => inner.call(Request::from_parts(parts, body)).await,
                Err(error) => Ok(ApiError(error).into_response()),
            }
        })
    }
}
