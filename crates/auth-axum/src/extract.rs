use std::sync::Arc;

use auth_core::{AuthError, AuthUser, Principal, SharedAuthenticator, UserLoader};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
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
    /// The layer that makes `loader` (usually your user store) available to this extractor.
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
