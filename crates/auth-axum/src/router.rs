use std::net::SocketAddr;
use std::sync::Arc;

use auth_core::http_support::{ClientAddr, error_response};
use auth_core::{AuthError, UserStore};
use auth_flows::{AuthEndpoints, Route, RouteRequest, RouteTable, RouterConfig};
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{AuthContext, into_axum};

/// Splits a request, recording the peer address for framework-free code.
fn split(request: Request) -> (Parts, axum::body::Body) {
    let (mut parts, body) = request.into_parts();
    if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned() {
        parts.extensions.insert(ClientAddr(addr));
    }
    (parts, body)
}

/// Answers one request with a route of the table: inside the request's client scope, the
/// principal first (401 without one), then the body (413 beyond the limit), then the handler.
async fn serve(
    route: Arc<Route>,
    context: AuthContext,
    limit: usize,
    client: ClientScope,
    request: Request,
) -> Response {
    let (mut parts, body) = split(request);
    let scope = client(&parts);
    scope
        .scope(async move {
            let principal = if route.authenticated {
                match context.authenticate(&mut parts).await {
                    Ok(Some(principal)) => Some(principal),
                    Ok(None) => return into_axum(error_response(&AuthError::MissingCredentials)),
                    Err(error) => return into_axum(error_response(&error)),
                }
            } else {
                None
            };
            let body = if route.reads_body {
                match axum::body::to_bytes(body, limit).await {
                    Ok(bytes) => bytes.to_vec(),
                    Err(_) => return into_axum(error_response(&AuthError::PayloadTooLarge)),
                }
            } else {
                Vec::new()
            };
            into_axum(route.call(RouteRequest::new(parts, body, principal)).await)
        })
        .await
}

type ClientScope = Arc<dyn Fn(&Parts) -> auth_flows::ClientInfo + Send + Sync>;

fn filter(method: &Method) -> Option<MethodFilter> {
    Some(match *method {
        Method::GET => MethodFilter::GET,
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
        _ => return None,
    })
}

async fn not_found() -> Response {
    into_axum(error_response(&AuthError::NotFound))
}

/// Mounts a [`RouteTable`]: every route, authenticated with `context` where it needs a principal,
/// each request run with its client (IP, user agent) as the current one for the flows' rate limits
/// and audit events; the CORS policy of the table's origins; the JSON 404 for unknown paths when
/// the table asks for it. `context` is also made available to the extractors of the returned
/// router's routes.
pub fn mount(table: RouteTable, context: AuthContext) -> Router {
    let limit = table.body_limit();
    let resolver = table.clone();
    let client: ClientScope = Arc::new(move |parts: &Parts| resolver.client(parts));
    let mut router = Router::new();
    for (path, routes) in table.by_path() {
        let mut methods: MethodRouter = MethodRouter::new();
        for route in routes {
            let Some(filter) = filter(&route.method) else { continue };
            let route = Arc::new(route.clone());
            let (context, client) = (context.clone(), Arc::clone(&client));
            methods = methods.on(filter, move |request: Request| {
                serve(Arc::clone(&route), context.clone(), limit, Arc::clone(&client), request)
            });
        }
        router = router.route(path, methods);
    }
    if table.json_fallback() {
        router = router.fallback(not_found);
    }
    let router = router.layer(context.layer());
    match cors_layer_for(table.allowed_origins(), table.cors_allow_headers()) {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// The routes of the HTTP contract (see [`auth_flows::paths`]) for the capabilities `endpoints`
/// has configured, under [`RouterConfig::prefix`], minus the route sets `config` leaves out:
/// register, the mobile and web flows, token verification, `me`, JWKS and `/healthz`; opaque
/// tokens, API keys, cookie sessions, MFA, the account emails and the activity list when
/// configured; with the `openapi` feature also `/api/openapi.json` and the Swagger UI at
/// `/api/docs/`. `context` authenticates the routes that need a principal.
///
/// No fallback is installed unless [`RouterConfig::json_fallback`] asks for the JSON 404, so the
/// router merges into an application's router that has its own:
///
/// ```no_run
/// # use auth_axum::{AuthContext, RouterConfig, routes};
/// # fn app<S: auth_core::UserStore>(endpoints: auth_flows::AuthEndpoints<S>, context: AuthContext) -> axum::Router {
/// axum::Router::new()
///     .route("/hello", axum::routing::get(|| async { "hello" }))
///     .fallback(|| async { (http::StatusCode::NOT_FOUND, "nothing here") })
///     .merge(routes(endpoints, context, RouterConfig::default().prefix("/auth")))
/// # }
/// ```
pub fn routes<S: UserStore>(
    endpoints: AuthEndpoints<S>,
    context: AuthContext,
    config: RouterConfig,
) -> Router {
    mount(endpoints.route_table(&config), context)
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
/// [`AuthEndpoints::cors_allow_headers`]).
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
