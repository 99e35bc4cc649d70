use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use auth_core::AuthError;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::Request;
use tower::{Layer, Service};

use crate::{ApiError, AuthContext};

/// Protects every route of a router: requests without a valid credential get a 401 before the
/// handler runs; the [`Principal`](auth_core::Principal) is left in the request extensions, so the
/// extractors do not authenticate again.
///
/// ```no_run
/// # use auth_axum::{AuthContext, RequireAuthLayer};
/// # fn f(context: AuthContext) -> axum::Router {
/// axum::Router::new()
///     .route("/private", axum::routing::get(|| async { "secret" }))
///     .layer(RequireAuthLayer::new(context))
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RequireAuthLayer {
    context: AuthContext,
    scope: Option<String>,
}

impl RequireAuthLayer {
    /// A layer authenticating with `context`.
    pub fn new(context: AuthContext) -> Self {
        Self { context, scope: None }
    }

    /// Also requires `scope` of API keys (the scope guard): a key without it gets 403
    /// `insufficient_scope`; a user's own credentials pass.
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
}

impl<S> Layer<S> for RequireAuthLayer {
    type Service = RequireAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAuth { inner, context: self.context.clone(), scope: self.scope.clone() }
    }
}

/// The service of [`RequireAuthLayer`].
#[derive(Debug, Clone)]
pub struct RequireAuth<S> {
    inner: S,
    context: AuthContext,
    scope: Option<String>,
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
        let scope = self.scope.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(context.clone());
            match context.authenticate(&mut parts).await {
                Ok(Some(principal)) => match scope.as_deref().map(|s| principal.require_api_scope(s)) {
                    Some(Err(error)) => Ok(ApiError(error).into_response()),
                    _ => inner.call(Request::from_parts(parts, body)).await,
                },
                Ok(None) => Ok(ApiError(AuthError::MissingCredentials).into_response()),
                Err(error) => Ok(ApiError(error).into_response()),
            }
        })
    }
}
