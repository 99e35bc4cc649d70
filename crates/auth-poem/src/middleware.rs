use auth_core::{AuthError, Requirements};
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
    requirements: Requirements,
}

impl RequireAuth {
    /// A middleware authenticating with `context`.
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

impl<E: Endpoint> Middleware<E> for RequireAuth {
    type Output = RequireAuthEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequireAuthEndpoint { inner, context: self.context.clone(), requirements: self.requirements.clone() }
    }
}

/// The endpoint of the [`RequireAuth`] middleware.
#[derive(Debug)]
pub struct RequireAuthEndpoint<E> {
    inner: E,
    context: AuthContext,
    requirements: Requirements,
}

impl<E: Endpoint> Endpoint for RequireAuthEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Response> {
        request.extensions_mut().insert(self.context.clone());
        match self.context.authenticate(&request).await {
            Ok(Some(principal)) => {
                if let Err(error) = self.requirements.check(&principal, self.context.now()) {
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
