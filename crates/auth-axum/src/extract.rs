use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use auth_core::{AuthError, AuthUser, PathParams, Policy, Principal, SharedAuthenticator, UserLoader};
use axum::extract::{FromRequestParts, OptionalFromRequestParts, RawPathParams};
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::into_axum;

/// An [`AuthError`] as an axum response: the shared status, `WWW-Authenticate` and JSON body.
#[derive(Debug)]
pub struct ApiError(pub AuthError);

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        Self(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        into_axum(auth_core::http_support::error_response(&self.0))
    }
}

/// What the extractors need, carried in request extensions: the authenticator chain.
#[derive(Clone, Debug)]
pub struct AuthContext {
    authenticator: SharedAuthenticator,
    clock: auth_core::SharedClock,
}

impl AuthContext {
    /// A context authenticating with `authenticator` (often an [`auth_core::FirstPresented`]).
    pub fn new(authenticator: SharedAuthenticator) -> Self {
        Self { authenticator, clock: std::sync::Arc::new(auth_core::SystemClock) }
    }

    /// Uses `clock` (the one the credentials are issued with) for the guards' time checks, such
    /// as a recent-sign-in requirement.
    pub fn with_clock(mut self, clock: auth_core::SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The current time by this context's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The layer that puts this context into every request's extensions.
    pub fn layer(self) -> axum::Extension<AuthContext> {
        axum::Extension(self)
    }

    /// Authenticates a request head: `Ok(None)` when it presents no credential.
    pub async fn authenticate(&self, parts: &mut Parts) -> Result<Option<Principal>, AuthError> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(Some(principal.clone()));
        }
        let principal = self.authenticator.authenticate(parts).await?;
        if let Some(principal) = &principal {
            parts.extensions.insert(principal.clone());
        }
        Ok(principal)
    }
}

fn context(parts: &Parts) -> Result<AuthContext, AuthError> {
    parts.extensions.get::<AuthContext>().cloned().ok_or_else(|| {
        AuthError::backend(std::io::Error::other(
            "no AuthContext in request extensions: add `AuthContext::layer()` to the router",
        ))
    })
}

/// The authenticated principal. Rejects with 401 when no credential, or an invalid one, is
/// presented. As `Option<Auth>`, a missing credential is `None` but an invalid one still a 401.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match context(parts)?.authenticate(parts).await? {
            Some(principal) => Ok(Auth(principal)),
            None => Err(ApiError(AuthError::MissingCredentials)),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(context(parts)?.authenticate(parts).await?.map(Auth))
    }
}

/// The authenticated user's record, loaded through the [`UserLoader`] registered with
/// [`CurrentUser::layer`]. A user who is gone or inactive is a 401.
#[derive(Debug, Clone)]
pub struct CurrentUser<U>(pub U);

struct Loader<U>(Arc<dyn UserLoader<U>>);

impl<U> Clone for Loader<U> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<U: AuthUser> CurrentUser<U> {
    /// The layer that makes `loader` available to this extractor: `auth.user_loader()` (the
    /// flows' user cache, invalidated by every change the flows make, other processes' changes
    /// seen within a second), or your user store itself (a read per request).
    pub fn layer(loader: Arc<dyn UserLoader<U>>) -> axum::Extension<impl Clone + Send + Sync + 'static> {
        axum::Extension(Loader(loader))
    }
}

impl<S: Send + Sync, U: AuthUser> FromRequestParts<S> for CurrentUser<U> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Auth(principal) = <Auth as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        let loader = parts.extensions.get::<Loader<U>>().cloned().ok_or_else(|| {
            ApiError(AuthError::backend(std::io::Error::other(
                "no user loader in request extensions: add `CurrentUser::layer(store)` to the router",
            )))
        })?;
        let user = loader.0.load_user(&principal.user_id).await?.filter(AuthUser::is_active);
        user.map(CurrentUser).ok_or(ApiError(AuthError::InvalidToken(auth_core::TokenRejection::Revoked)))
    }
}

impl<S: Send + Sync, U: AuthUser> OptionalFromRequestParts<S> for CurrentUser<U> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if <Auth as OptionalFromRequestParts<S>>::from_request_parts(parts, state).await?.is_none() {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state).await.map(Some)
    }
}

/// The path parameters of the matched route: axum's [`RawPathParams`] once the route is matched
/// (inside a handler's extractors, or a layer applied with `route_layer`); before that, those
/// an earlier guard found, else none.
pub(crate) async fn path_params(parts: &mut Parts) -> PathParams {
    match RawPathParams::from_request_parts(parts, &()).await {
        Ok(raw) => PathParams(raw.iter().map(|(name, value)| (name.to_owned(), value.to_owned())).collect()),
        Err(_) => parts.extensions.get::<PathParams>().cloned().unwrap_or_default(),
    }
}

/// The authenticated principal, authorized by the policy `P`: authenticates like [`Auth`], then
/// checks [`P::guard()`](Policy::guard) with the route's [`PathParams`] in the request
/// extensions. Rejects with the guard's answer: 401 without a valid credential, 403 when the
/// principal may not (`permission_denied`, `insufficient_scope`, ...).
///
/// It always needs a principal: a policy that lets anonymous requests through
/// ([`Guard::or_read_only`](auth_core::Guard::or_read_only)) still gets a 401 here without a
/// credential; guard such routes with [`RequireAuthLayer`](crate::RequireAuthLayer) and take an
/// `Option<Auth>`.
///
/// ```
/// use auth_axum::{Authorized, Principal};
/// use auth_core::{Guard, IsStaff};
/// use axum::{Router, routing::{delete, get}};
///
/// async fn dashboard(staff: Authorized<IsStaff>) -> String {
///     format!("hello, staff member {}", staff.user_id)
/// }
///
/// auth_core::policy! {
///     /// Members of the tenant named in the path, or superusers.
///     pub TenantAdmin = Guard::tenant_param("tenant").or(Guard::superuser())
/// }
///
/// async fn remove(admin: Authorized<TenantAdmin>) -> String {
///     let principal: Principal = admin.into_inner();
///     format!("removed by {}", principal.user_id)
/// }
///
/// let app: Router<()> = Router::new()
///     .route("/admin", get(dashboard))
///     .route("/tenants/{tenant}/members/{id}", delete(remove));
/// # let _ = app;
/// ```
pub struct Authorized<P: Policy> {
    principal: Principal,
    policy: PhantomData<fn() -> P>,
}

impl<P: Policy> Authorized<P> {
    /// The authorized principal.
    pub fn into_inner(self) -> Principal {
        self.principal
    }
}

impl<P: Policy> Deref for Authorized<P> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<P: Policy> Clone for Authorized<P> {
    fn clone(&self) -> Self {
        Self { principal: self.principal.clone(), policy: PhantomData }
    }
}

impl<P: Policy> std::fmt::Debug for Authorized<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorized")
            .field("policy", &std::any::type_name::<P>())
            .field("principal", &self.principal)
            .finish()
    }
}

impl<S: Send + Sync, P: Policy> FromRequestParts<S> for Authorized<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let context = context(parts)?;
        let principal = context.authenticate(parts).await?;
        let params = path_params(parts).await;
        parts.extensions.insert(params);
        P::guard().check(principal.as_ref(), parts, context.now())?;
        match principal {
            Some(principal) => Ok(Self { principal, policy: PhantomData }),
            None => Err(ApiError(AuthError::MissingCredentials)),
        }
    }
}
