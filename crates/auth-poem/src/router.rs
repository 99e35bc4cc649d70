use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use auth_core::http_support::error_response;
use auth_core::{AuthError, UserStore};
use auth_flows::{AuthEndpoints, RouteRequest, RouteTable, RouterConfig};
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

/// One path of the table: its methods (`GET` also answers `HEAD`, like axum's `get`); any other
/// method gets axum's answer, `405` with an empty body and an `Allow` header listing them in the
/// order axum does.
struct MethodRoute {
    methods: Vec<(Method, Handler)>,
    allow: HeaderValue,
    cors: Option<Arc<Cors>>,
}

impl Endpoint for MethodRoute {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let cors = self.cors.as_deref();
        let is = |method: &Method| {
            request.method() == method || (request.method() == Method::HEAD && method == Method::GET)
        };
        match self.methods.iter().find(|(method, _)| is(method)) {
            Some((_, handler)) => Ok(answer(cors, None, request, handler).await),
            None => Ok(answer(cors, Some(&self.allow), request, |_| async {
                empty(StatusCode::METHOD_NOT_ALLOWED)
            })
            .await),
        }
    }
}

fn empty(status: StatusCode) -> HttpResponse {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = status;
    response
}

/// Every path the table does not know: the JSON 404 (when the table asks for it).
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

/// The handler of one route of the table: inside the request's client scope, the principal first
/// (401 without one), then the body (413 beyond the limit), then the route's handler.
fn handler(route: auth_flows::Route, table: Arc<RouteTable>, context: AuthContext) -> Handler {
    let route = Arc::new(route);
    Box::new(move |mut request| {
        let (route, table, context) = (Arc::clone(&route), Arc::clone(&table), context.clone());
        Box::pin(async move {
            let client = table.client(&request_head(&request));
            client
                .scope(async move {
                    let principal = if route.authenticated {
                        match context.authenticate(&request).await {
                            Ok(Some(principal)) => Some(principal),
                            Ok(None) => return error_response(&AuthError::MissingCredentials),
                            Err(error) => return error_response(&error),
                        }
                    } else {
                        None
                    };
                    let body = if route.reads_body {
                        match read_body(&mut request, table.body_limit()).await {
                            Ok(body) => body,
                            Err(response) => return response,
                        }
                    } else {
                        Vec::new()
                    };
                    route.call(RouteRequest::new(request_head(&request), body, principal)).await
                })
                .await
        })
    })
}

/// The `Allow` header axum sends for a path with these methods, in order (`GET` brings `HEAD`).
fn allow_header(methods: &[Method]) -> HeaderValue {
    let mut names: Vec<&str> = Vec::new();
    for method in methods {
        names.push(method.as_str());
        if *method == Method::GET {
            names.push("HEAD");
        }
    }
    HeaderValue::from_str(&names.join(",")).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A table path in poem's syntax: `{id}` is `:id`, `{*rest}` is `*rest`.
fn poem_path(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => match name.strip_prefix('*') {
                Some(rest) => format!("*{rest}"),
                None => format!(":{name}"),
            },
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Mounts a [`RouteTable`]: every route, authenticated with `context` where it needs a principal,
/// each request run with its client (IP, user agent) as the current one for the flows' rate limits
/// and audit events; the CORS policy of the table's origins (as [`cors`](crate::cors) describes);
/// a known path with another method a `405` with an `Allow` header; a body over the limit a JSON
/// `413`; and, when the table asks for it, the JSON 404 (`not_found`) for every other path. The
/// answers are those of `auth_axum::mount`, byte for byte (the `tests/parity.rs` suite compares
/// them).
pub fn mount(table: RouteTable, context: AuthContext) -> BoxEndpoint<'static> {
    let cors = crate::cors_for(table.allowed_origins(), table.cors_allow_headers()).map(Arc::new);
    let shared = Arc::new(table.clone());
    let mut route = Route::new();
    for (path, routes) in table.by_path() {
        let methods: Vec<Method> = routes.iter().map(|r| r.method.clone()).collect();
        let handlers = routes
            .into_iter()
            .map(|r| (r.method.clone(), handler(r.clone(), Arc::clone(&shared), context.clone())))
            .collect();
        route = route.at(
            poem_path(path),
            MethodRoute { methods: handlers, allow: allow_header(&methods), cors: cors.clone() },
        );
    }
    if table.json_fallback() {
        route = route.at("/*path", NotFound { cors });
    }
    route.boxed()
}

/// The routes of the HTTP contract (see [`auth_flows::paths`]) for the capabilities `endpoints`
/// has configured, under [`RouterConfig::prefix`], minus the route sets `config` leaves out; see
/// [`mount`] for how they answer. `context` authenticates the routes that need a principal.
///
/// Compose it with your own routes by nesting it at `/` (the routes carry their full paths, the
/// prefix included): your paths take precedence, and with [`RouterConfig::json_fallback`] every
/// other path gets the JSON 404. Your own handlers need the context as middleware, for the
/// extractors; the CORS policy covers only these routes (add [`cors`](crate::cors) to yours if
/// browsers call them cross-origin):
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
/// # async fn run<S: auth_core::UserStore>(endpoints: auth_flows::AuthEndpoints<S>, context: AuthContext)
/// # -> std::io::Result<()> {
/// let app = Route::new()
///     .at("/hello", get(hello))
///     .nest("/", routes(endpoints, context.clone(), RouterConfig::default().prefix("/auth")))
///     .with(context);
/// poem::Server::new(poem::listener::TcpListener::bind("127.0.0.1:8000")).run(app).await
/// # }
/// ```
pub fn routes<S: UserStore>(
    endpoints: AuthEndpoints<S>,
    context: AuthContext,
    config: RouterConfig,
) -> BoxEndpoint<'static> {
    mount(endpoints.route_table(&config), context)
}
