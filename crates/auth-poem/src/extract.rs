use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use auth_core::{AuthError, AuthUser, PathParams, Policy, Principal, SharedAuthenticator, UserLoader};
use poem::http::StatusCode;
use poem::middleware::AddData;
use poem::{Endpoint, FromRequest, IntoResponse, Middleware, Request, RequestBody, Response};

use crate::into_poem;

/// An [`AuthError`] as a poem response: the shared status, `WWW-Authenticate` and JSON body.
///
/// It is a [`poem::error::ResponseError`], so handlers can return `Result<_, ApiError>` (or use `?`
/// on it inside a `poem::Result`); it is also [`IntoResponse`] on its own.
#[derive(Debug)]
pub struct ApiError(pub AuthError);

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        Self(error)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.0.status()
    }

    fn as_response(&self) -> Response {
        into_poem(auth_core::http_support::error_response(&self.0))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        into_poem(auth_core::http_support::error_response(&self.0))
    }
}

fn reject(error: AuthError) -> poem::Error {
    poem::Error::from(ApiError(error))
}

/// The per-request cache of the authenticated principal, filled by the first extractor that
/// authenticates (poem extractors see the request only by shared reference).
#[derive(Clone, Default)]
struct PrincipalSlot(Arc<OnceLock<Principal>>);

/// What the extractors need, carried in request data: the authenticator chain.
///
/// It is itself a [`Middleware`]: `.with(context)` puts it into every request's extensions (and a
/// per-request cache, so a principal is authenticated once however many extractors ask for it).
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

    /// Authenticates a request: `Ok(None)` when it presents no credential.
    ///
    /// A [`Principal`] already in the request's extensions (put there by [`RequireAuth`] or by an
    /// earlier call behind this context's middleware) is returned without authenticating again.
    ///
    /// [`RequireAuth`]: crate::RequireAuth
    pub async fn authenticate(&self, request: &Request) -> Result<Option<Principal>, AuthError> {
        self.authenticate_head(request, None).await
    }

    /// [`AuthContext::authenticate`] with the request head already built (`None`: build it when
    /// needed).
    pub(crate) async fn authenticate_head(
        &self,
        request: &Request,
        head: Option<&http::request::Parts>,
    ) -> Result<Option<Principal>, AuthError> {
        if let Some(principal) = request.extensions().get::<Principal>() {
            return Ok(Some(principal.clone()));
        }
        let slot = request.extensions().get::<PrincipalSlot>();
        if let Some(principal) = slot.and_then(|slot| slot.0.get()) {
            return Ok(Some(principal.clone()));
        }
        let principal = match head {
            Some(head) => self.authenticator.authenticate(head).await?,
            None => self.authenticator.authenticate(&request_head(request)).await?,
        };
        if let (Some(principal), Some(slot)) = (&principal, slot) {
            // Another extractor of the same request may have won the race: same principal.
            let _ = slot.0.set(principal.clone());
        }
        Ok(principal)
    }
}

/// The path parameters of the route poem matched (empty before routing, e.g. in a middleware
/// around a whole `Route`), in the order of the path.
pub(crate) fn path_params(request: &Request) -> PathParams {
    struct Ordered(Vec<(String, String)>);

    impl<'de> serde::Deserialize<'de> for Ordered {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Ordered;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("path parameters")
                }

                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                    let mut params = Vec::new();
                    while let Some(entry) = map.next_entry::<String, String>()? {
                        params.push(entry);
                    }
                    Ok(Ordered(params))
                }
            }
            deserializer.deserialize_map(Visitor)
        }
    }

    match request.path_params::<Ordered>() {
        Ok(Ordered(params)) if !params.is_empty() => PathParams(params),
        _ => request.extensions().get::<PathParams>().cloned().unwrap_or_default(),
    }
}

/// The request head a guard checks: [`request_head`] with the route's [`PathParams`] in its
/// extensions.
pub(crate) fn guard_head(request: &Request) -> http::request::Parts {
    let mut head = request_head(request);
    head.extensions.insert(path_params(request));
    head
}

/// The `http::request::Parts` the core authenticators read: method, URI, version and headers of
/// the poem request (poem 3 is on `http` 1, so the types are the same); no extensions but the
/// client's address.
pub(crate) fn request_head(request: &Request) -> http::request::Parts {
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = request.method().clone();
    parts.uri = request.uri().clone();
    parts.version = request.version();
    parts.headers = request.headers().clone();
    if let poem::Addr::SocketAddr(addr) = request.remote_addr().0 {
        parts.extensions.insert(auth_core::http_support::ClientAddr(addr));
    }
    parts
}

impl<E: Endpoint> Middleware<E> for AuthContext {
    type Output = AuthContextEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        AuthContextEndpoint { inner, context: self.clone() }
    }
}

/// The endpoint of the [`AuthContext`] middleware.
#[derive(Debug)]
pub struct AuthContextEndpoint<E> {
    inner: E,
    context: AuthContext,
}

impl<E: Endpoint> Endpoint for AuthContextEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut request: Request) -> poem::Result<Self::Output> {
        request.extensions_mut().insert(self.context.clone());
        // A fresh cache per context: an inner context (another authenticator) starts empty.
        request.extensions_mut().insert(PrincipalSlot::default());
        self.inner.call(request).await
    }
}

fn context(request: &Request) -> Result<&AuthContext, AuthError> {
    request.extensions().get::<AuthContext>().ok_or_else(|| {
        AuthError::backend(std::io::Error::other(
            "no AuthContext in request extensions: add `.with(context)` to the route",
        ))
    })
}

async fn principal(request: &Request) -> Result<Option<Principal>, AuthError> {
    context(request)?.authenticate(request).await
}

/// The authenticated principal. Rejects with 401 when no credential, or an invalid one, is
/// presented.
///
/// For optional authentication use [`MaybeAuth`], **not** `Option<Auth>`: poem's blanket
/// `Option<T>` extractor turns every rejection into `None`, so an invalid or expired token would
/// silently count as "anonymous" instead of a 401.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl<'a> FromRequest<'a> for Auth {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        match principal(request).await.map_err(reject)? {
            Some(principal) => Ok(Auth(principal)),
            None => Err(reject(AuthError::MissingCredentials)),
        }
    }
}

/// The authenticated principal, authorized by the policy `P`: authenticates like [`Auth`], then
/// checks [`P::guard()`](Policy::guard) with the route's [`PathParams`] in the request head's
/// extensions. Rejects with the guard's answer: 401 without a valid credential, 403 when the
/// principal may not (`permission_denied`, `insufficient_scope`, ...).
///
/// It always needs a principal: a policy that lets anonymous requests through
/// ([`Guard::or_read_only`](auth_core::Guard::or_read_only)) still gets a 401 here without a
/// credential; guard such routes with [`RequireAuth`](crate::RequireAuth) and take a
/// [`MaybeAuth`].
///
/// ```
/// use auth_core::{Guard, IsStaff};
/// use auth_poem::{Authorized, Principal};
/// use poem::{Route, delete, get, handler};
///
/// #[handler]
/// fn dashboard(staff: Authorized<IsStaff>) -> String {
///     format!("hello, staff member {}", staff.user_id)
/// }
///
/// auth_core::policy! {
///     /// Members of the tenant named in the path, or superusers.
///     pub TenantAdmin = Guard::tenant_param("tenant").or(Guard::superuser())
/// }
///
/// #[handler]
/// fn remove(admin: Authorized<TenantAdmin>) -> String {
///     let principal: Principal = admin.into_inner();
///     format!("removed by {}", principal.user_id)
/// }
///
/// let app = Route::new()
///     .at("/admin", get(dashboard))
///     .at("/tenants/:tenant/members/:id", delete(remove));
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

impl<P: Policy> fmt::Debug for Authorized<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorized")
            .field("policy", &std::any::type_name::<P>())
            .field("principal", &self.principal)
            .finish()
    }
}

impl<'a, P: Policy> FromRequest<'a> for Authorized<P> {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let context = context(request).map_err(reject)?;
        let head = guard_head(request);
        let principal = context.authenticate_head(request, Some(&head)).await.map_err(reject)?;
        P::guard().check(principal.as_ref(), &head, context.now()).map_err(reject)?;
        match principal {
            Some(principal) => Ok(Self { principal, policy: PhantomData }),
            None => Err(reject(AuthError::MissingCredentials)),
        }
    }
}

/// Optional authentication: `None` when the request presents no credential, but still a 401 when
/// it presents an invalid one (never a silent fall-through to anonymous). This is axum's
/// `Option<Auth>`; in poem, `Option<Auth>` would swallow the 401.
#[derive(Debug, Clone)]
pub struct MaybeAuth(pub Option<Principal>);

impl<'a> FromRequest<'a> for MaybeAuth {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        principal(request).await.map(MaybeAuth).map_err(reject)
    }
}

/// The authenticated user's record, loaded through the [`UserLoader`] registered with
/// [`CurrentUser::middleware`]. A user who is gone or inactive is a 401 (`invalid_token`).
#[derive(Debug, Clone)]
pub struct CurrentUser<U>(pub U);

struct Loader<U>(Arc<dyn UserLoader<U>>);

impl<U> Clone for Loader<U> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<U: AuthUser> CurrentUser<U> {
    /// The middleware that makes `loader` available to this extractor and to
    /// [`MaybeCurrentUser`]: `auth.user_loader()` (the flows' user cache, invalidated by every
    /// change the flows make, other processes' changes seen within a second), or your user store
    /// itself (a read per request).
    pub fn middleware(loader: Arc<dyn UserLoader<U>>) -> AddData<impl Clone + Send + Sync + 'static> {
        AddData::new(Loader(loader))
    }
}

async fn load_user<U: AuthUser>(request: &Request, principal: &Principal) -> poem::Result<U> {
    let loader = request.extensions().get::<Loader<U>>().ok_or_else(|| {
        reject(AuthError::backend(std::io::Error::other(
            "no user loader in request extensions: add `CurrentUser::middleware(store)` to the route",
        )))
    })?;
    let user = loader.0.load_user(&principal.user_id).await.map_err(reject)?.filter(AuthUser::is_active);
    user.ok_or_else(|| reject(AuthError::InvalidToken(auth_core::TokenRejection::Revoked)))
}

impl<'a, U: AuthUser> FromRequest<'a> for CurrentUser<U> {
    async fn from_request(request: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let Auth(principal) = Auth::from_request(request, body).await?;
        load_user(request, &principal).await.map(CurrentUser)
    }
}

/// The optional form of [`CurrentUser`]: `None` when the request presents no credential; an
/// invalid credential, or a user who is gone or inactive, is still a 401.
#[derive(Debug, Clone)]
pub struct MaybeCurrentUser<U>(pub Option<U>);

impl<'a, U: AuthUser> FromRequest<'a> for MaybeCurrentUser<U> {
    async fn from_request(request: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let MaybeAuth(principal) = MaybeAuth::from_request(request, body).await?;
        match principal {
            None => Ok(MaybeCurrentUser(None)),
            Some(principal) => load_user(request, &principal).await.map(|user| MaybeCurrentUser(Some(user))),
        }
    }
}
