use poem::http::HeaderMap;
use poem::http::header::{self, HeaderName, HeaderValue};
use poem::http::{Method, StatusCode};
use poem::{Endpoint, Middleware, Request, Response};

/// The allowed request methods, in the order (and format) the axum adapter sends them.
const ALLOW_METHODS: &str = "GET,POST,PUT,PATCH,DELETE";
/// The allowed request headers, in the order (and format) the axum adapter sends them.
const ALLOW_HEADERS: &str = "authorization,content-type,x-api-key,x-csrf-token";
/// How long browsers may cache a preflight answer, in seconds.
const MAX_AGE: &str = "600";

/// CORS for the configured origins: credentials allowed, preflight answered. `None` when no origin
/// is configured: no CORS headers are sent at all then.
///
/// The headers are those of the axum adapter's `tower_http::cors::CorsLayer`, byte for byte: every
/// response gets `Access-Control-Allow-Credentials: true` and `Vary: origin`; only a listed
/// `Origin` is echoed in `Access-Control-Allow-Origin` (other origins get no allow-origin, so the
/// browser blocks them); every `OPTIONS` request is answered `200` with the allowed methods,
/// headers and `Access-Control-Max-Age: 600`. (poem's own `Cors` refuses unlisted origins with an
/// error response instead, which is why this is a separate middleware.)
///
/// ```
/// let cors = auth_poem::cors(&["https://app.example.com".to_owned()]);
/// assert!(cors.is_some());
/// assert!(auth_poem::cors(&[]).is_none());
/// ```
pub fn cors(allowed_origins: &[String]) -> Option<Cors> {
    let origins: Vec<HeaderValue> =
        allowed_origins.iter().filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()).collect();
    if origins.is_empty() {
        return None;
    }
    Some(Cors { origins, allow_headers: HeaderValue::from_static(ALLOW_HEADERS) })
}

/// [`cors`] allowing exactly `allow_headers` in requests (see
/// `JwtEndpoints::cors_allow_headers`).
pub fn cors_for(allowed_origins: &[String], allow_headers: &[HeaderName]) -> Option<Cors> {
    let joined = allow_headers.iter().map(HeaderName::as_str).collect::<Vec<_>>().join(",");
    let mut cors = cors(allowed_origins)?;
    if let Ok(value) = HeaderValue::from_str(&joined) {
        cors.allow_headers = value;
    }
    Some(cors)
}

/// The CORS middleware built by [`cors`].
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Vec<HeaderValue>,
    allow_headers: HeaderValue,
}

/// What the CORS policy does with one request.
pub(crate) enum CorsAction {
    /// An `OPTIONS` request: answer `200` with these headers and an empty body, without calling
    /// the endpoint.
    Preflight(HeaderMap),
    /// Any other request: call the endpoint, then add these headers to its response.
    Decorate(Vec<(HeaderName, HeaderValue)>),
}

impl Cors {
    /// The decision for a request with this method and these headers (tower-http's order:
    /// credentials, vary, then the preflight headers, then the allowed origin).
    pub(crate) fn action(&self, method: &Method, headers: &HeaderMap) -> CorsAction {
        let mut out = vec![
            (header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true")),
            (header::VARY, HeaderValue::from_static("origin")),
        ];
        let allow_origin = headers
            .get(header::ORIGIN)
            .filter(|origin| self.origins.contains(origin))
            .map(|origin| (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()));
        if method == Method::OPTIONS {
            out.extend([
                (header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS)),
                (header::ACCESS_CONTROL_ALLOW_HEADERS, self.allow_headers.clone()),
                (header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE)),
            ]);
            out.extend(allow_origin);
            let mut map = HeaderMap::with_capacity(out.len());
            for (name, value) in out {
                map.insert(name, value);
            }
            CorsAction::Preflight(map)
        } else {
            out.extend(allow_origin);
            CorsAction::Decorate(out)
        }
    }
}

/// Adds the headers of [`CorsAction::Decorate`] to a response's headers: `Vary` is appended (it
/// may have several values), the others replace what is there.
pub(crate) fn decorate(target: &mut HeaderMap, headers: Vec<(HeaderName, HeaderValue)>) {
    let (vary, others): (Vec<_>, Vec<_>) = headers.into_iter().partition(|(name, _)| name == header::VARY);
    for (name, value) in vary {
        target.append(name, value);
    }
    for (name, value) in others {
        target.insert(name, value);
    }
}

impl<E: Endpoint> Middleware<E> for Cors {
    type Output = CorsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CorsEndpoint { inner, cors: self.clone() }
    }
}

/// The endpoint of the [`Cors`] middleware.
#[derive(Debug)]
pub struct CorsEndpoint<E> {
    inner: E,
    cors: Cors,
}

impl<E: Endpoint> Endpoint for CorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        match self.cors.action(request.method(), request.headers()) {
            CorsAction::Preflight(headers) => {
                let mut response = Response::builder().status(StatusCode::OK).finish();
                *response.headers_mut() = headers;
                Ok(response)
            }
            CorsAction::Decorate(headers) => {
                let mut response = self.inner.get_response(request).await;
                decorate(response.headers_mut(), headers);
                Ok(response)
            }
        }
    }
}
