use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use auth_core::{AuthError, Requirements};
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
    requirements: Requirements,
}

impl RequireAuthLayer {
    /// A layer authenticating with `context`.
    pub fn new(context: AuthContext) -> Self {
        Self { context, requirements: Requirements::new() }
    }

    /// Also requires `scope` of every credential limited by scopes (the scope guard, with
    /// [`Principal::allows_scope`](auth_core::Principal::allows_scope)'s one meaning): an API key
    /// or a scoped JWT without it gets 403 `insufficient_scope`; a user credential without scopes
    /// has the user's full authority.
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        self.requirements = self.requirements.scope(scope);
        self
    }

    /// Also requires a sign-in with a second factor (the MFA guard): otherwise 403
    /// `mfa_required`.
    pub fn require_mfa(mut self) -> Self {
        self.requirements = self.requirements.mfa();
        self
    }

    /// Also requires a sign-in at most `max_age` old (by the context's clock): otherwise 403
    /// `reauthentication_required`.
    pub fn require_recent_auth(mut self, max_age: chrono::Duration) -> Self {
        self.requirements = self.requirements.max_auth_age(max_age);
        self
    }
}

impl<S> Layer<S> for RequireAuthLayer {
    type Service = RequireAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAuth { inner, context: self.context.clone(), requirements: self.requirements.clone() }
    }
}

/// The service of [`RequireAuthLayer`].
#[derive(Debug, Clone)]
pub struct RequireAuth<S> {
    inner: S,
    context: AuthContext,
    requirements: Requirements,
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
        let requirements = self.requirements.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(context.clone());
            match context.authenticate(&mut parts).await {
                Ok(Some(principal)) => match requirements.check(&principal, context.now()) {
                    Err(error) => Ok(ApiError(error).into_response()),
                    Ok(()) => inner.call(Request::from_parts(parts, body)).await,
                },
                Ok(None) => Ok(ApiError(AuthError::MissingCredentials).into_response()),
                Err(error) => Ok(ApiError(error).into_response()),
            }
        })
    }
}
