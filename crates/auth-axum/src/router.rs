use std::sync::Arc;

use auth_core::http_support::ClientAddr;
use auth_core::http_support::error_response;
use auth_core::{AuthError, UserStore};
use auth_flows::JwtEndpoints;
use auth_flows::endpoints::RouterConfig;
use auth_flows::endpoints::paths;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Method};
use std::net::SocketAddr;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{Auth, AuthContext, into_axum};

struct RouteState<S: UserStore> {
    endpoints: JwtEndpoints<S>,
    body_limit: usize,
}

type Shared<S> = State<Arc<RouteState<S>>>;

/// Splits a request, recording the peer address for framework-free code.
fn split(request: Request) -> (Parts, axum::body::Body) {
    let (mut parts, body) = request.into_parts();
    if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned() {
        parts.extensions.insert(ClientAddr(addr));
    }
    (parts, body)
}

async fn read_body(request: Request, limit: usize) -> Result<(Parts, Bytes), Response> {
    let (parts, body) = split(request);
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok((parts, bytes)),
        Err(_) => Err(into_axum(error_response(&AuthError::PayloadTooLarge))),
    }
}

macro_rules! body_handler {
    ($name:ident, $method:ident) => {
        async fn $name<S: UserStore>(State(state): Shared<S>, request: Request) -> Response {
            match read_body(request, state.body_limit).await {
                Ok((parts, body)) => into_axum(state.endpoints.$method(&parts, &body).await),
                Err(response) => response,
            }
        }
    };
}

body_handler!(register, register);
body_handler!(mobile_sign_in, mobile_sign_in);
body_handler!(mobile_refresh, mobile_refresh);
body_handler!(web_sign_in, web_sign_in);
body_handler!(verify, verify);
body_handler!(mobile_sign_out, mobile_sign_out);
body_handler!(token_sign_in, token_sign_in);
body_handler!(session_sign_in, session_sign_in);
body_handler!(mfa_verify, mfa_verify);
body_handler!(password_reset, password_reset);
body_handler!(password_reset_confirm, password_reset_confirm);
body_handler!(email_verify, email_verify);
body_handler!(email_resend, email_resend);

/// A handler for an authenticated principal with a JSON body.
macro_rules! principal_body_handler {
    ($name:ident, $method:ident) => {
        async fn $name<S: UserStore>(
            State(state): Shared<S>,
            Auth(principal): Auth,
            request: Request,
        ) -> Response {
            match read_body(request, state.body_limit).await {
                Ok((parts, body)) => into_axum(state.endpoints.$method(&principal, &parts, &body).await),
                Err(response) => response,
            }
        }
    };
}

principal_body_handler!(create_api_key, create_api_key);
principal_body_handler!(mfa_totp_confirm, mfa_totp_confirm);
principal_body_handler!(mfa_totp_disable, mfa_totp_disable);
principal_body_handler!(mfa_recovery_codes, mfa_recovery_codes);
principal_body_handler!(password_change, password_change);
principal_body_handler!(web_password_change, web_password_change);
principal_body_handler!(update_me, update_me);
principal_body_handler!(delete_me, delete_me);

async fn activity<S: UserStore>(
    State(state): Shared<S>,
    Auth(principal): Auth,
    request: Request,
) -> Response {
    let (parts, _) = split(request);
    into_axum(state.endpoints.activity(&principal, &parts).await)
}

/// Runs the request with its client (IP, user agent) as the current one, for the rate limits and
/// audit events of the flows.
async fn client_scope<S: UserStore>(
    State(state): Shared<S>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = split(request);
    let client = state.endpoints.auth().client_info(&parts);
    let request = Request::from_parts(parts, body);
    client.scope(next.run(request)).await
}

async fn mfa_status<S: UserStore>(State(state): Shared<S>, Auth(principal): Auth) -> Response {
    into_axum(state.endpoints.mfa_status(&principal).await)
}

async fn mfa_totp_setup<S: UserStore>(State(state): Shared<S>, Auth(principal): Auth) -> Response {
    into_axum(state.endpoints.mfa_totp_setup(&principal).await)
}

async fn session_sign_out<S: UserStore>(State(state): Shared<S>, request: Request) -> Response {
    let (parts, _) = split(request);
    into_axum(state.endpoints.session_sign_out(&parts).await)
}

async fn list_api_keys<S: UserStore>(State(state): Shared<S>, Auth(principal): Auth) -> Response {
    into_axum(state.endpoints.list_api_keys(&principal).await)
}

async fn delete_api_key<S: UserStore>(
    State(state): Shared<S>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Response {
    into_axum(state.endpoints.delete_api_key(&principal, &id).await)
}

async fn token_sign_out<S: UserStore>(State(state): Shared<S>, request: Request) -> Response {
    let (parts, _) = split(request);
    into_axum(state.endpoints.token_sign_out(&parts).await)
}

async fn web_refresh<S: UserStore>(State(state): Shared<S>, request: Request) -> Response {
    let (parts, _) = split(request);
    into_axum(state.endpoints.web_refresh(&parts).await)
}

async fn web_sign_out<S: UserStore>(State(state): Shared<S>, request: Request) -> Response {
    let (parts, _) = split(request);
    into_axum(state.endpoints.web_sign_out(&parts).await)
}

async fn sign_out_all<S: UserStore>(State(state): Shared<S>, Auth(principal): Auth) -> Response {
    into_axum(state.endpoints.sign_out_all(&principal).await)
}

async fn sessions<S: UserStore>(State(state): Shared<S>, Auth(principal): Auth) -> Response {
    into_axum(state.endpoints.sessions(&principal).await)
}

async fn delete_session<S: UserStore>(
    State(state): Shared<S>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Response {
    into_axum(state.endpoints.delete_session(&principal, &id).await)
}

async fn me<S: UserStore>(State(state): Shared<S>, Auth(principal): Auth) -> Response {
    into_axum(state.endpoints.me(&principal).await)
}

async fn jwks<S: UserStore>(State(state): Shared<S>) -> Response {
    into_axum(state.endpoints.jwks())
}

async fn health() -> Response {
    into_axum(auth_core::http_support::health())
}

#[cfg(feature = "openapi")]
async fn openapi_document() -> Response {
    into_axum(auth_flows::openapi::document_response())
}

#[cfg(feature = "openapi")]
async fn docs(request: Request) -> Response {
    let tail = request.uri().path().strip_prefix(auth_flows::openapi::DOCS_PATH).unwrap_or("");
    into_axum(auth_flows::openapi::docs_response(tail))
}

async fn not_found() -> Response {
    into_axum(error_response(&AuthError::NotFound))
}

/// The routes of the HTTP contract (see [`auth_flows::endpoints::paths`]): register, the mobile and
/// web flows, token verification, `me`, JWKS and `/healthz`; with the `openapi` feature (default)
/// also `/api/openapi.json` and the Swagger UI at `/api/docs/`. `context` authenticates `me` and is
/// made available to the extractors of routes merged into the returned router.
pub fn routes<S: UserStore>(
    endpoints: JwtEndpoints<S>,
    context: AuthContext,
    config: RouterConfig,
) -> Router {
    let cors = cors_layer_for(&endpoints.web().allowed_origins, &endpoints.cors_allow_headers());
    let state = Arc::new(RouteState { endpoints, body_limit: config.body_limit });
    let router = Router::new()
        .route(paths::REGISTER, post(register::<S>))
        .route(paths::MOBILE_SIGN_IN, post(mobile_sign_in::<S>))
        .route(paths::MOBILE_TOKEN_REFRESH, post(mobile_refresh::<S>))
        .route(paths::WEB_SIGN_IN, post(web_sign_in::<S>))
        .route(paths::WEB_TOKEN_REFRESH, post(web_refresh::<S>))
        .route(paths::WEB_SIGN_OUT, post(web_sign_out::<S>))
        .route(paths::TOKEN_VERIFY, post(verify::<S>))
        .route(paths::MOBILE_SIGN_OUT, post(mobile_sign_out::<S>))
        .route(paths::TOKEN_SIGN_IN, post(token_sign_in::<S>))
        .route(paths::TOKEN_SIGN_OUT, post(token_sign_out::<S>))
        .route(paths::SESSION_SIGN_IN, post(session_sign_in::<S>))
        .route(paths::SESSION_SIGN_OUT, post(session_sign_out::<S>))
        .route(paths::API_KEYS, post(create_api_key::<S>).get(list_api_keys::<S>))
        .route(&format!("{}{{id}}", paths::API_KEYS_PREFIX), delete(delete_api_key::<S>))
        .route(paths::SIGN_OUT_ALL, post(sign_out_all::<S>))
        .route(paths::SESSIONS, get(sessions::<S>))
        .route(&format!("{}{{id}}", paths::SESSIONS_PREFIX), delete(delete_session::<S>))
        .route(paths::MFA, get(mfa_status::<S>))
        .route(paths::MFA_TOTP_SETUP, post(mfa_totp_setup::<S>))
        .route(paths::MFA_TOTP_CONFIRM, post(mfa_totp_confirm::<S>))
        .route(paths::MFA_TOTP_DISABLE, post(mfa_totp_disable::<S>))
        .route(paths::MFA_RECOVERY_CODES, post(mfa_recovery_codes::<S>))
        .route(paths::MFA_VERIFY, post(mfa_verify::<S>))
        .route(paths::ME, get(me::<S>).patch(update_me::<S>).delete(delete_me::<S>))
        .route(paths::PASSWORD_CHANGE, post(password_change::<S>))
        .route(paths::WEB_PASSWORD_CHANGE, post(web_password_change::<S>))
        .route(paths::PASSWORD_RESET, post(password_reset::<S>))
        .route(paths::PASSWORD_RESET_CONFIRM, post(password_reset_confirm::<S>))
        .route(paths::EMAIL_VERIFY, post(email_verify::<S>))
        .route(paths::EMAIL_RESEND, post(email_resend::<S>))
        .route(paths::ACTIVITY, get(activity::<S>))
        .route(paths::JWKS, get(jwks::<S>))
        .route("/healthz", get(health));
    #[cfg(feature = "openapi")]
    let router = router
        .route(auth_flows::openapi::OPENAPI_PATH, get(openapi_document))
        .route(auth_flows::openapi::DOCS_PATH, get(docs))
        .route(&format!("{}/", auth_flows::openapi::DOCS_PATH), get(docs))
        .route(&format!("{}/{{*file}}", auth_flows::openapi::DOCS_PATH), get(docs));
    let router = router
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&state), client_scope::<S>))
        .with_state(state)
        .layer(context.layer());
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// CORS for the configured origins: credentials allowed, preflight answered. `None` when no
/// origin is configured: other origins then get no CORS headers at all.
pub fn cors_layer(allowed_origins: &[String]) -> Option<CorsLayer> {
    let headers = [
        http::header::AUTHORIZATION,
        http::header::CONTENT_TYPE,
        HeaderName::from_static("x-api-key"),
        HeaderName::from_static("x-csrf-token"),
    ];
    cors_layer_for(allowed_origins, &headers)
}

/// [`cors_layer`] allowing exactly `allow_headers` in requests (see
/// [`JwtEndpoints::cors_allow_headers`]).
pub fn cors_layer_for(allowed_origins: &[String], allow_headers: &[HeaderName]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> =
        allowed_origins.iter().filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()).collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers(allow_headers.to_vec())
            .max_age(std::time::Duration::from_secs(600)),
    )
}
