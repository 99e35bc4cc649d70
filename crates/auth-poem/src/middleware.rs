use auth_core::AuthError;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use crate::{ApiError, AuthContext};

/// Protects every route it wraps: requests without a valid credential get a 401 before the
/// handler runs; the [`Principal`](auth_core::Principal) is left in the request extensions, so the
/// extractors do not authenticate again. It also makes `context` available to the extractors.
///
/// ```no_run
/// # use auth_poem::{AuthContext, RequireAuth};
/// use poem::{EndpointExt, Route, get, handler};
///
/// #[handler]
/// fn secret() -> &'static str {
///     "secret"
/// }
///
/// # fn f(context: AuthContext) -> impl poem::Endpoint {
/// Route::new().at("/private", get(secret)).with(RequireAuth::new(context))
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RequireAuth {
    context: AuthContext,
    scope: Option<String>,
}

impl RequireAuth {
    /// A middleware authenticating with `context`.
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

impl<E: Endpoint> Middleware<E> for RequireAuth {
    type Output = RequireAuthEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequireAuthEndpoint { inner, context: self.context.clone(), scope: self.scope.clone() }
    }
}

/// The endpoint of the [`RequireAuth`] middleware.
#[derive(Debug)]
pub struct RequireAuthEndpoint<E> {
    inner: E,
    context: AuthContext,
    scope: Option<String>,
}

impl<E: Endpoint> Endpoint for RequireAuthEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Response> {
        request.extensions_mut().insert(self.context.clone());
        match self.context.authenticate(&request).await {
            Ok(Some(principal)) => {
                if let Some(scope) = &self.scope
                    && let Err(error) = principal.require_api_scope(scope)
                {
                    return Ok(ApiError(error).into_response());
                }
                request.extensions_mut().insert(principal);
                self.inner.call(request).await.map(IntoResponse::into_response)
            }
            Ok(None) => Ok(ApiError(AuthError::MissingCredentials).into_response()),
            Err(error) => Ok(ApiError(error).into_response()),
        }
    }
}
