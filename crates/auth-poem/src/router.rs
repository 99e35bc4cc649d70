use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use auth_core::http_support::error_response;
use auth_core::{AuthError, UserStore};
use auth_flows::JwtEndpoints;
use auth_flows::endpoints::RouterConfig;
use auth_flows::endpoints::paths;
use poem::endpoint::BoxEndpoint;
use poem::http::header::{ALLOW, CONTENT_LENGTH, HeaderValue};
use poem::http::{Method, StatusCode};
use poem::{Endpoint, EndpointExt, Request, Response, Route};

use crate::cors::{Cors, CorsAction, decorate};
use crate::extract::request_head;
use crate::{AuthContext, into_poem};

type HttpResponse = http::Response<Vec<u8>>;
type BoxFuture = Pin<Box<dyn Future<Output = HttpResponse> + Send>>;
type Handler = Box<dyn Fn(Request) -> BoxFuture + Send + Sync>;

/// Answers one request the way an axum route does: the CORS policy around the handler (a
/// preflight never reaches it), the `Allow` header when the method did not match, an explicit
/// `Content-Length`, and for `HEAD` the headers without the body.
async fn answer<F, Fut>(
    cors: Option<&Cors>,
    allow: Option<&HeaderValue>,
    request: Request,
    leaf: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = HttpResponse>,
{
    let method = request.method().clone();
    let mut response = match cors.map(|cors| cors.action(&method, request.headers())) {
        Some(CorsAction::Preflight(headers)) => {
            let mut response = http::Response::new(Vec::new());
            *response.headers_mut() = headers;
            response
        }
        Some(CorsAction::Decorate(headers)) => {
            let mut response = leaf(request).await;
            decorate(response.headers_mut(), headers);
            response
        }
        None => leaf(request).await,
    };
    if let Some(allow) = allow {
        response.headers_mut().entry(ALLOW).or_insert_with(|| allow.clone());
    }
    if !response.headers().contains_key(CONTENT_LENGTH) {
        let length = HeaderValue::from(response.body().len());
        response.headers_mut().insert(CONTENT_LENGTH, length);
    }
    if method == Method::HEAD {
        response.body_mut().clear();
    }
    into_poem(response)
}

/// One path of the contract: one method (`GET` also answers `HEAD`, like axum's `get`); any other
/// method gets axum's answer, `405` with an empty body and an `Allow` header.
struct MethodRoute {
    method: Method,
    allow: HeaderValue,
    handler: Handler,
    cors: Option<Arc<Cors>>,
    /// Further methods on the same path (e.g. `POST` and `GET` of `/api/auth/api-keys`).
    also: Vec<(Method, Handler)>,
}

impl MethodRoute {
    /// Adds a method; `allow` is the `Allow` header axum sends for all of them.
    fn and(mut self, method: Method, handler: Handler, allow: &'static str) -> Self {
        self.also.push((method, handler));
        self.allow = HeaderValue::from_static(allow);
        self
    }
}

impl Endpoint for MethodRoute {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let cors = self.cors.as_deref();
        let is = |method: &Method| {
            request.method() == method || (request.method() == Method::HEAD && method == Method::GET)
        };
        if is(&self.method) {
            Ok(answer(cors, None, request, |request| (self.handler)(request)).await)
        } else if let Some((_, handler)) = self.also.iter().find(|(method, _)| is(method)) {
            Ok(answer(cors, None, request, handler).await)
        } else {
            Ok(answer(cors, Some(&self.allow), request, |_| async { empty(StatusCode::METHOD_NOT_ALLOWED) })
                .await)
        }
    }
}

fn empty(status: StatusCode) -> HttpResponse {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = status;
    response
}

/// Every path the contract does not know: the JSON 404.
struct NotFound {
    cors: Option<Arc<Cors>>,
}

impl Endpoint for NotFound {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let not_found = |_| async { error_response(&AuthError::NotFound) };
        Ok(answer(self.cors.as_deref(), None, request, not_found).await)
    }
}

async fn read_body(request: &mut Request, limit: usize) -> Result<Vec<u8>, HttpResponse> {
    match request.take_body().into_bytes_limit(limit).await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(_) => Err(error_response(&AuthError::PayloadTooLarge)),
    }
}

/// A handler over the request head and the body read with the limit.
fn with_body<S, F, Fut>(endpoints: &Arc<JwtEndpoints<S>>, limit: usize, f: F) -> Handler
where
    S: UserStore,
    F: Fn(Arc<JwtEndpoints<S>>, http::request::Parts, Vec<u8>) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    let endpoints = Arc::clone(endpoints);
    Box::new(move |mut request| {
        let endpoints = Arc::clone(&endpoints);
        Box::pin(async move {
            match read_body(&mut request, limit).await {
                Ok(body) => f(endpoints, request_head(&request), body).await,
                Err(response) => response,
            }
        })
    })
}

/// A handler over the request head only.
fn head_only<S, F, Fut>(endpoints: &Arc<JwtEndpoints<S>>, f: F) -> Handler
where
    S: UserStore,
    F: Fn(Arc<JwtEndpoints<S>>, http::request::Parts) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    let endpoints = Arc::clone(endpoints);
    Box::new(move |request| Box::pin(f(Arc::clone(&endpoints), request_head(&request))))
}

/// A handler that needs nothing from the request.
fn constant(f: fn() -> HttpResponse) -> Handler {
    Box::new(move |_| Box::pin(async move { f() }))
}

/// A handler for an authenticated principal, authenticated with the routes' own context, as the
/// axum adapter's `Auth` extractor does behind its context layer.
fn authenticated<S, F, Fut>(endpoints: &Arc<JwtEndpoints<S>>, context: AuthContext, f: F) -> Handler
where
    S: UserStore,
    F: Fn(Arc<JwtEndpoints<S>>, auth_core::Principal, http::request::Parts) -> Fut
        + Copy
        + Send
        + Sync
        + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    let endpoints = Arc::clone(endpoints);
    Box::new(move |request| {
        let endpoints = Arc::clone(&endpoints);
        let context = context.clone();
        Box::pin(async move {
            match context.authenticate(&request).await {
                Ok(Some(principal)) => f(endpoints, principal, request_head(&request)).await,
                Ok(None) => error_response(&AuthError::MissingCredentials),
                Err(error) => error_response(&error),
            }
        })
    })
}

/// A handler for an authenticated principal that also reads the body with the limit.
fn authenticated_with_body<S, F, Fut>(
    endpoints: &Arc<JwtEndpoints<S>>,
    context: AuthContext,
    limit: usize,
    f: F,
) -> Handler
where
    S: UserStore,
    F: Fn(Arc<JwtEndpoints<S>>, auth_core::Principal, http::request::Parts, Vec<u8>) -> Fut
        + Copy
        + Send
        + Sync
        + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    let endpoints = Arc::clone(endpoints);
    Box::new(move |mut request| {
        let endpoints = Arc::clone(&endpoints);
        let context = context.clone();
        Box::pin(async move {
            let principal = match context.authenticate(&request).await {
                Ok(Some(principal)) => principal,
                Ok(None) => return error_response(&AuthError::MissingCredentials),
                Err(error) => return error_response(&error),
            };
            match read_body(&mut request, limit).await {
                Ok(body) => f(endpoints, principal, request_head(&request), body).await,
                Err(response) => response,
            }
        })
    })
}

#[cfg(feature = "openapi")]
fn docs() -> Handler {
    Box::new(|request| {
        let tail = request.uri().path().strip_prefix(auth_flows::openapi::DOCS_PATH).unwrap_or("").to_owned();
        Box::pin(async move { auth_flows::openapi::docs_response(&tail) })
    })
}

/// The routes of the HTTP contract (see [`auth_flows::endpoints::paths`]): register, the mobile and
/// web flows, token verification, `me`, JWKS and `/healthz`; with the `openapi` feature (default)
/// also `/api/openapi.json` and the Swagger UI at `/api/docs/`. Every other path is a JSON `404`
/// (`not_found`), a known path with another method a `405` with an `Allow` header, a body over
/// [`RouterConfig::body_limit`] a JSON `413` (`payload_too_large`). With
/// [`WebFlowConfig::allowed_origins`](auth_flows::WebFlowConfig::allowed_origins) set, the routes
/// answer CORS as [`cors`](crate::cors) describes.
///
/// The answers are those of `auth_axum::routes`, byte for byte (the `tests/parity.rs` suite
/// compares them). `context` authenticates `me`.
///
/// Compose it with your own routes by nesting it at `/` (not under a prefix: the refresh cookie's
/// `Path`, the docs redirect and the OpenAPI document name the absolute paths). Your paths take
/// precedence; every other path reaches these routes, and their JSON 404. Your own handlers need
/// the context as middleware, for the extractors; the CORS policy covers only these routes (add
/// [`cors`](crate::cors) to yours if browsers call them cross-origin):
///
/// ```no_run
/// use auth_poem::{Auth, AuthContext, RouterConfig, routes};
/// use poem::{EndpointExt, Route, get, handler};
///
/// #[handler]
/// fn hello(Auth(principal): Auth) -> String {
///     format!("hello, user {}", principal.user_id)
/// }
///
/// # async fn run<S: auth_core::UserStore>(endpoints: auth_flows::JwtEndpoints<S>, context: AuthContext)
/// # -> std::io::Result<()> {
/// let app = Route::new()
///     .at("/hello", get(hello))
///     .nest("/", routes(endpoints, context.clone(), RouterConfig::default()))
///     .with(context);
/// poem::Server::new(poem::listener::TcpListener::bind("127.0.0.1:8000")).run(app).await
/// # }
/// ```
pub fn routes<S: UserStore>(
    endpoints: JwtEndpoints<S>,
    context: AuthContext,
    config: RouterConfig,
) -> BoxEndpoint<'static> {
    let cors =
        crate::cors_for(&endpoints.web().allowed_origins, &endpoints.cors_allow_headers()).map(Arc::new);
    let get = |handler| MethodRoute {
        method: Method::GET,
        allow: HeaderValue::from_static("GET,HEAD"),
        handler,
        cors: cors.clone(),
        also: Vec::new(),
    };
    let post = |handler| MethodRoute {
        method: Method::POST,
        allow: HeaderValue::from_static("POST"),
        handler,
        cors: cors.clone(),
        also: Vec::new(),
    };
    let delete = |handler| MethodRoute {
        method: Method::DELETE,
        allow: HeaderValue::from_static("DELETE"),
        handler,
        cors: cors.clone(),
        also: Vec::new(),
    };
    let e = Arc::new(endpoints);
    let limit = config.body_limit;
    let route = Route::new()
        .at(paths::REGISTER, post(with_body(&e, limit, |e, p, b| async move { e.register(&p, &b).await })))
        .at(
            paths::MOBILE_SIGN_IN,
            post(with_body(&e, limit, |e, p, b| async move { e.mobile_sign_in(&p, &b).await })),
        )
        .at(
            paths::MOBILE_TOKEN_REFRESH,
            post(with_body(&e, limit, |e, p, b| async move { e.mobile_refresh(&p, &b).await })),
        )
        .at(
            paths::WEB_SIGN_IN,
            post(with_body(&e, limit, |e, p, b| async move { e.web_sign_in(&p, &b).await })),
        )
        .at(paths::WEB_TOKEN_REFRESH, post(head_only(&e, |e, p| async move { e.web_refresh(&p).await })))
        .at(paths::WEB_SIGN_OUT, post(head_only(&e, |e, p| async move { e.web_sign_out(&p).await })))
        .at(paths::TOKEN_VERIFY, post(with_body(&e, limit, |e, p, b| async move { e.verify(&p, &b).await })))
        .at(
            paths::TOKEN_SIGN_IN,
            post(with_body(&e, limit, |e, p, b| async move { e.token_sign_in(&p, &b).await })),
        )
        .at(paths::TOKEN_SIGN_OUT, post(head_only(&e, |e, p| async move { e.token_sign_out(&p).await })))
        .at(
            paths::SESSION_SIGN_IN,
            post(with_body(&e, limit, |e, p, b| async move { e.session_sign_in(&p, &b).await })),
        )
        .at(paths::SESSION_SIGN_OUT, post(head_only(&e, |e, p| async move { e.session_sign_out(&p).await })))
        .at(
            paths::API_KEYS,
            post(authenticated_with_body(&e, context.clone(), limit, |e, principal, p, b| async move {
                e.create_api_key(&principal, &p, &b).await
            }))
            .and(
                Method::GET,
                authenticated(&e, context.clone(), |e, principal, _| async move {
                    e.list_api_keys(&principal).await
                }),
                "POST,GET,HEAD",
            ),
        )
        .at(
            format!("{}:id", paths::API_KEYS_PREFIX),
            delete(authenticated(&e, context.clone(), |e, principal, parts| async move {
                let id = parts.uri.path().strip_prefix(paths::API_KEYS_PREFIX).unwrap_or_default().to_owned();
                e.delete_api_key(&principal, &id).await
            })),
        )
        .at(
            paths::MFA_VERIFY,
            post(with_body(&e, limit, |e, p, b| async move { e.mfa_verify(&p, &b).await })),
        )
        .at(
            paths::MFA,
            get(authenticated(&e, context.clone(), |e, principal, _| async move {
                e.mfa_status(&principal).await
            })),
        )
        .at(
            paths::MFA_TOTP_SETUP,
            post(authenticated(&e, context.clone(), |e, principal, _| async move {
                e.mfa_totp_setup(&principal).await
            })),
        )
        .at(
            paths::MFA_TOTP_CONFIRM,
            post(authenticated_with_body(&e, context.clone(), limit, |e, principal, p, b| async move {
                e.mfa_totp_confirm(&principal, &p, &b).await
            })),
        )
        .at(
            paths::MFA_TOTP_DISABLE,
            post(authenticated_with_body(&e, context.clone(), limit, |e, principal, p, b| async move {
                e.mfa_totp_disable(&principal, &p, &b).await
            })),
        )
        .at(
            paths::MFA_RECOVERY_CODES,
            post(authenticated_with_body(&e, context.clone(), limit, |e, principal, p, b| async move {
                e.mfa_recovery_codes(&principal, &p, &b).await
            })),
        )
        .at(
            paths::MOBILE_SIGN_OUT,
            post(with_body(&e, limit, |e, p, b| async move { e.mobile_sign_out(&p, &b).await })),
        )
        .at(
            paths::SIGN_OUT_ALL,
            post(authenticated(&e, context.clone(), |e, principal, _| async move {
                e.sign_out_all(&principal).await
            })),
        )
        .at(
            paths::SESSIONS,
            get(authenticated(
                &e,
                context.clone(),
                |e, principal, _| async move { e.sessions(&principal).await },
            )),
        )
        .at(
            format!("{}:id", paths::SESSIONS_PREFIX),
            delete(authenticated(&e, context.clone(), |e, principal, parts| async move {
                let id = parts.uri.path().strip_prefix(paths::SESSIONS_PREFIX).unwrap_or_default().to_owned();
                e.delete_session(&principal, &id).await
            })),
        )
        .at(
            paths::ME,
            get(authenticated(&e, context.clone(), |e, principal, _| async move { e.me(&principal).await }))
                .and(
                    Method::PATCH,
                    authenticated_with_body(&e, context.clone(), limit, |e, principal, p, b| async move {
                        e.update_me(&principal, &p, &b).await
                    }),
                    "GET,HEAD,PATCH",
                )
                .and(
                    Method::DELETE,
                    authenticated_with_body(&e, context.clone(), limit, |e, principal, p, b| async move {
                        e.delete_me(&principal, &p, &b).await
                    }),
                    "GET,HEAD,PATCH,DELETE",
                ),
        )
        .at(
            paths::PASSWORD_CHANGE,
            post(authenticated_with_body(&e, context.clone(), limit, |e, principal, p, b| async move {
                e.password_change(&principal, &p, &b).await
            })),
        )
        .at(
            paths::WEB_PASSWORD_CHANGE,
            post(authenticated_with_body(&e, context.clone(), limit, |e, principal, p, b| async move {
                e.web_password_change(&principal, &p, &b).await
            })),
        )
        .at(
            paths::PASSWORD_RESET,
            post(with_body(&e, limit, |e, p, b| async move { e.password_reset(&p, &b).await })),
        )
        .at(
            paths::PASSWORD_RESET_CONFIRM,
            post(with_body(&e, limit, |e, p, b| async move { e.password_reset_confirm(&p, &b).await })),
        )
        .at(
            paths::EMAIL_VERIFY,
            post(with_body(&e, limit, |e, p, b| async move { e.email_verify(&p, &b).await })),
        )
        .at(
            paths::EMAIL_RESEND,
            post(with_body(&e, limit, |e, p, b| async move { e.email_resend(&p, &b).await })),
        )
        .at(
            paths::ACTIVITY,
            get(authenticated(
                &e,
                context,
                |e, principal, p| async move { e.activity(&principal, &p).await },
            )),
        )
        .at(paths::JWKS, get(head_only(&e, |e, _| async move { e.jwks() })))
        .at("/healthz", get(constant(auth_core::http_support::health)));
    #[cfg(feature = "openapi")]
    let route = {
        let docs_path = auth_flows::openapi::DOCS_PATH;
        route
            .at(auth_flows::openapi::OPENAPI_PATH, get(constant(auth_flows::openapi::document_response)))
            .at(docs_path, get(docs()))
            .at(format!("{docs_path}/"), get(docs()))
            .at(format!("{docs_path}/*file"), get(docs()))
    };
    let route = route.at("/*path", NotFound { cors });
    // Every request runs with its client (IP, user agent) as the current one, for the rate
    // limits and audit events of the flows.
    route
        .around(move |endpoint, request| {
            let client = e.auth().client_info(&request_head(&request));
            async move { client.scope(endpoint.call(request)).await }
        })
        .boxed()
}
