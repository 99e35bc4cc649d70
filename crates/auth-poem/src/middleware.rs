use auth_core::Guard;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use crate::extract::guard_head;
use crate::{ApiError, AuthContext};

/// Protects every route it wraps with a [`Guard`]: by default a valid credential of any kind
/// ([`Guard::authenticated`]); requests the guard refuses get its 401 or 403 before the handler
/// runs. The [`Principal`](auth_core::Principal) is left in the request extensions, so the
/// extractors do not authenticate again, and so are the route's
/// [`PathParams`](auth_core::PathParams). It also makes `context` available to the extractors.
///
/// Wrap the endpoint of a route (`.at(path, endpoint.with(...))`) when a guard reads the route's
/// path parameters ([`Guard::tenant_param`], [`Guard::custom`]): around a whole `Route` the
/// guard runs before the route is matched, the parameters are empty, and a
/// [`Guard::tenant_param`] refuses.
///
/// ```no_run
/// # use auth_poem::{AuthContext, RequireAuth};
/// use auth_core::Guard;
/// use poem::{EndpointExt, Route, get, handler};
///
/// #[handler]
/// fn secret() -> &'static str {
///     "secret"
/// }
///
/// #[handler]
/// fn notes() -> &'static str {
///     "notes"
/// }
///
/// # fn f(context: AuthContext) -> impl poem::Endpoint {
/// Route::new().at("/private", get(secret).with(RequireAuth::new(context.clone()))).at(
///     "/tenants/:tenant/notes",
///     // Anyone may read; writing needs a member of the tenant named in the path.
///     get(notes)
///         .post(notes)
///         .with(RequireAuth::new(context).guard(Guard::tenant_param("tenant").or_read_only())),
/// )
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RequireAuth {
    context: AuthContext,
    guard: Guard,
    /// Whether `guard` is still the initial [`Guard::authenticated`].
    initial: bool,
}

impl RequireAuth {
    /// A middleware authenticating with `context` and requiring a valid credential.
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

impl<E: Endpoint> Middleware<E> for RequireAuth {
    type Output = RequireAuthEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequireAuthEndpoint { inner, context: self.context.clone(), guard: self.guard.clone() }
    }
}

/// The endpoint of the [`RequireAuth`] middleware.
#[derive(Debug)]
pub struct RequireAuthEndpoint<E> {
    inner: E,
    context: AuthContext,
    guard: Guard,
}

impl<E: Endpoint> Endpoint for RequireAuthEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Response> {
        request.extensions_mut().insert(self.context.clone());
        // One request head for the authenticators and the guard: method, URI, headers, and the
        // route's path parameters in its extensions.
        let head = guard_head(&request);
        let principal = match self.context.authenticate_head(&request, Some(&head)).await {
            Ok(principal) => principal,
            Err(error) => return Ok(ApiError(error).into_response()),
        };
        if let Err(error) = self.guard.check(principal.as_ref(), &head, self.context.now()) {
            return Ok(ApiError(error).into_response());
        }
        if let Some(params) = head.extensions.get::<auth_core::PathParams>() {
            request.extensions_mut().insert(params.clone());
        }
        if let Some(principal) = principal {
            request.extensions_mut().insert(principal);
        }
        self.inner.call(request).await.map(IntoResponse::into_response)
    }
}
