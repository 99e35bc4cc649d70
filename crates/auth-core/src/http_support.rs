//! Framework-free HTTP helpers that both adapters share, so they behave byte for byte the same:
//! JSON body parsing, credential extraction, the refresh cookie and the cross-origin check.

use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST, ORIGIN};
use serde::de::DeserializeOwned;

use crate::{AuthError, FieldError, TokenRejection};

/// The peer address of a request, put into the request head's extensions by the adapters (axum's
/// `ConnectInfo`, poem's remote address) so that framework-free code can record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// The proxies whose `X-Forwarded-For` is believed: addresses and CIDR ranges (`10.0.0.0/8`,
/// `127.0.0.1`, `fd00::/8`). Empty by default: the header is ignored and the peer address is the
/// client, so a client cannot pick the IP its rate limits count against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    ranges: Vec<(std::net::IpAddr, u8)>,
}

impl TrustedProxies {
    /// No trusted proxy.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses a comma-separated list of addresses and CIDR ranges. An invalid entry is an error
    /// naming it.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (addr, bits) = match entry.split_once('/') {
                Some((addr, bits)) => (addr, Some(bits)),
                None => (entry, None),
            };
            let addr: std::net::IpAddr =
                addr.parse().map_err(|_| format!("`{entry}` is not an IP address or CIDR range"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(bits) => bits.parse::<u8>().ok().filter(|b| *b <= max),
                None => Some(max),
            }
            .ok_or_else(|| format!("`{entry}` has an invalid prefix length"))?;
            // A proxy is a host or a private network, never "everyone": trusting every address
            // lets any client pick the IP its rate limits and audit events name.
            let shortest = if addr.is_ipv4() { 8 } else { 7 };
            if bits < shortest || addr.is_unspecified() {
                return Err(format!(
                    "`{entry}` trusts far too many addresses: any client could pick the IP it is counted as; name your proxies' addresses or private ranges"
                ));
            }
            ranges.push((addr, bits));
        }
        Ok(Self { ranges })
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = canonical(ip);
        self.ranges.iter().any(|(net, bits)| in_range(ip, canonical(*net), *bits))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy; then the right-most
    /// `X-Forwarded-For` entry that is not a trusted proxy (entries further left are written by
    /// the client and can be forged). A malformed header counts as absent.
    pub fn client_ip(&self, peer: std::net::IpAddr, headers: &HeaderMap) -> std::net::IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        let entries: Vec<&str> = hops.flat_map(|v| v.split(',')).map(str::trim).collect();
        for entry in entries.iter().rev() {
            let Ok(ip) = entry.parse::<std::net::IpAddr>() else { return client };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    }
}

fn in_range(ip: std::net::IpAddr, net: std::net::IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (std::net::IpAddr::V4(ip), std::net::IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (std::net::IpAddr::V6(ip), std::net::IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// The value of `Cache-Control` on every response that carries a token.
pub const NO_STORE: &str = "no-store";

/// Parses a JSON request body. A missing or non-JSON `Content-Type` is a 415, malformed JSON or a
/// missing/mistyped field a 400 naming the problem, and so is a NUL character anywhere in it; never
/// a 500.
pub fn parse_json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, AuthError> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(AuthError::UnsupportedMediaType);
    }
    let parsed = serde_json::from_slice(body).map_err(|e| {
        let message = match e.classify() {
            serde_json::error::Category::Data => e.to_string(),
            _ => "the request body is not valid JSON".to_owned(),
        };
        AuthError::InvalidInput(vec![FieldError::new("body", message)])
    })?;
    // No text with a NUL character goes any further: PostgreSQL's text cannot hold one, and no
    // username, password, token or name needs one.
    if has_escaped_nul(body) {
        return Err(AuthError::invalid_field("body", "must not contain NUL characters (\\u0000)"));
    }
    Ok(parsed)
}

/// Whether valid JSON `json` has a `\u0000` escape in a string (a NUL character once decoded). A
/// raw NUL byte is not valid JSON, and an escaped backslash before `u0000` is not an escape.
fn has_escaped_nul(json: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, byte) in json.iter().enumerate() {
        if *byte == b'\\' {
            backslashes += 1;
            continue;
        }
        if *byte == b'u' && backslashes % 2 == 1 && json.get(i + 1..i + 5) == Some(b"0000".as_slice()) {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// The token of an `Authorization: Bearer <token>` header.
///
/// `None` when there is no `Authorization` header or it uses another scheme; an `Authorization:
/// Bearer` header that is empty or not visible ASCII is an invalid token.
pub fn bearer_token(headers: &HeaderMap) -> Option<Result<&str, AuthError>> {
    let value = headers.get(AUTHORIZATION)?;
    let Ok(value) = value.to_str() else {
        return Some(Err(AuthError::InvalidToken(TokenRejection::Malformed)));
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    if token.is_empty() || token.contains(' ') {
        return Some(Err(AuthError::InvalidToken(TokenRejection::Malformed)));
    }
    Some(Ok(token))
}

/// The value of the cookie called `name`, if the request carries it.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// The value of the cookie called `name` when the request carries it exactly once: `Ok(None)`
/// without it, `Err(())` when two cookies of that name arrive. A second cookie of a name is what
/// cookie tossing looks like (a sibling subdomain, or plain HTTP, planting a cookie that the
/// browser sends beside the real one, and first), so a credential cookie carried twice decides
/// nothing.
#[allow(clippy::result_unit_err)]
pub fn unique_cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ()> {
    let mut found = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'));
    let first = found.next();
    if found.next().is_some() {
        return Err(());
    }
    Ok(first.filter(|v| !v.is_empty()))
}

/// The network a client address counts in for rate limits: an IPv4 address itself, an IPv6
/// address's `/64` (one subscriber's allocation: a client rotating through its 2^64 addresses
/// gets one budget), an IPv4-mapped IPv6 address as its IPv4 address. Anything that is not an IP
/// address is returned as it is.
///
/// ```
/// use auth_core::http_support::client_network;
///
/// assert_eq!(client_network("203.0.113.7"), "203.0.113.7");
/// assert_eq!(client_network("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
/// assert_eq!(client_network("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
/// assert_eq!(client_network("::ffff:203.0.113.7"), "203.0.113.7");
/// ```
pub fn client_network(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", std::net::Ipv6Addr::from(prefix))
            }
        },
        Err(_) => ip.to_owned(),
    }
}

/// How the web flow's refresh-token cookie is written: `HttpOnly; SameSite=Strict`, scoped to the
/// web flow's path, and — unless the development switch
/// [`insecure_cookies`](Self::insecure_cookies) is on — `Secure` with the `__Secure-` prefix, so
/// that no plain-HTTP response or sibling subdomain can set a cookie of that name (`__Host-` would
/// need `Path=/`). A request carrying the cookie twice is treated as carrying none.
///
/// ```
/// use auth_core::http_support::RefreshCookie;
///
/// let cookie = RefreshCookie::new("/api/auth/web", 60);
/// assert_eq!(cookie.name(), "__Secure-portcullis_refresh");
/// assert!(cookie.set("tok").starts_with("__Secure-portcullis_refresh=tok; Path=/api/auth/web;"));
/// assert_eq!(cookie.insecure_cookies(true).name(), "portcullis_refresh");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshCookie {
    /// The cookie's base name (default `portcullis_refresh`): [`RefreshCookie::name`] adds the
    /// `__Secure-` prefix to it when the cookie is secure.
    pub name: String,
    /// `Path`: the web flow's prefix, so the cookie is sent only to refresh and sign-out.
    pub path: String,
    /// `Max-Age` in seconds: the refresh token's lifetime.
    pub max_age_seconds: i64,
    /// Adds `Secure`. Only the explicit `insecure_cookies` development switch turns it off.
    pub secure: bool,
}

impl RefreshCookie {
    /// A secure cookie scoped to `path`.
    pub fn new(path: impl Into<String>, max_age_seconds: i64) -> Self {
        Self { name: "portcullis_refresh".to_owned(), path: path.into(), max_age_seconds, secure: true }
    }

    /// Development only: drops `Secure` so the cookie works over plain HTTP.
    pub fn insecure_cookies(mut self, insecure: bool) -> Self {
        self.secure = !insecure;
        self
    }

    fn attributes(&self, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("Path={}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}", self.path)
    }

    /// The cookie's name: the base name with the `__Secure-` prefix when secure (unless it
    /// already has a `__Secure-` or `__Host-` prefix).
    pub fn name(&self) -> String {
        let prefixed = self.name.starts_with("__Secure-") || self.name.starts_with("__Host-");
        if self.secure && !prefixed { format!("__Secure-{}", self.name) } else { self.name.clone() }
    }

    /// The `Set-Cookie` value that stores `token`.
    pub fn set(&self, token: &str) -> String {
        format!("{}={token}; {}", self.name(), self.attributes(self.max_age_seconds))
    }

    /// The `Set-Cookie` value that deletes the cookie.
    pub fn clear(&self) -> String {
        format!("{}=; {}", self.name(), self.attributes(0))
    }

    /// The cookie's value in a request; `None` without it, and when it comes twice (see
    /// [`unique_cookie_value`]).
    pub fn read<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        unique_cookie_value(headers, &self.name()).ok().flatten()
    }
}

/// How the `Origin` of a cookie-authenticated (or cookie-setting) request is checked: it must be
/// the request's own origin — scheme, host and port — or one of `allowed`.
///
/// The request's scheme is what a trusted proxy says (`X-Forwarded-Proto`, believed only from
/// [`TrustedProxies`]), else the scheme of the configured public URL, else `https`: cookies are
/// `Secure`, so a browser sends them only over HTTPS (and to loopback hosts, where `http` is
/// accepted too). With `insecure_cookies` (development) either scheme is accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OriginCheck {
    /// Origins (`scheme://host[:port]`) allowed besides the request's own.
    pub allowed: Vec<String>,
    /// The scheme of the server's public URL (`https`), when configured.
    pub public_scheme: Option<String>,
    /// The proxies whose `X-Forwarded-Proto` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Development only: cookies without `Secure`, so plain `http` is expected too.
    pub insecure_cookies: bool,
}

impl OriginCheck {
    /// Allows the request's own origin and `allowed`.
    pub fn new(allowed: Vec<String>) -> Self {
        Self { allowed, ..Self::default() }
    }

    /// Sets the scheme of the public URL.
    pub fn public_scheme(mut self, scheme: Option<String>) -> Self {
        self.public_scheme = scheme.map(|s| s.to_ascii_lowercase());
        self
    }

    /// Sets the trusted proxies.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// Development only: expect plain `http` too.
    pub fn insecure_cookies(mut self, insecure: bool) -> Self {
        self.insecure_cookies = insecure;
        self
    }

    /// Whether `origin` is one of the allowed origins.
    pub fn is_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.allowed.iter().any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }

    /// The schemes the request may have come over.
    fn schemes(&self, parts: &http::request::Parts, host: &str) -> Vec<String> {
        let peer = parts.extensions.get::<ClientAddr>().map(|a| a.0.ip());
        if let Some(peer) = peer
            && self.trusted_proxies.contains(peer)
            && let Some(proto) = parts.headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok())
        {
            let proto = proto.split(',').next().unwrap_or("").trim().to_ascii_lowercase();
            if proto == "https" || proto == "http" {
                return vec![proto];
            }
        }
        if let Some(scheme) = &self.public_scheme {
            return vec![scheme.clone()];
        }
        if self.insecure_cookies || is_loopback_host(host) {
            return vec!["https".to_owned(), "http".to_owned()];
        }
        vec!["https".to_owned()]
    }

    /// Refuses ([`AuthError::CrossOrigin`]) a request whose `Origin` is neither its own origin nor
    /// an allowed one. A request without `Origin` (not a browser's cross-site request) passes.
    pub fn check(&self, parts: &http::request::Parts) -> Result<(), AuthError> {
        let headers = &parts.headers;
        let Some(origin) = headers.get(ORIGIN) else {
            return Ok(());
        };
        let Ok(origin) = origin.to_str() else {
            return Err(AuthError::CrossOrigin);
        };
        if self.is_allowed(origin) {
            return Ok(());
        }
        let origin = origin.trim_end_matches('/');
        let Some(host) = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        else {
            return Err(AuthError::CrossOrigin);
        };
        let own = self.schemes(parts, host).into_iter().any(|scheme| {
            let default_port = if scheme == "https" { ":443" } else { ":80" };
            let host = host.strip_suffix(default_port).unwrap_or(host);
            origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
        });
        if own { Ok(()) } else { Err(AuthError::CrossOrigin) }
    }
}

/// Whether a `Host` value (`name[:port]`, `[v6]:port`) names a loopback host.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => {
            host.rsplit_once(':').filter(|(_, port)| port.parse::<u16>().is_ok()).map_or(host, |(n, _)| n)
        }
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// [`OriginCheck::check`] with `allowed_origins` and the defaults (no proxy, no public URL,
/// secure cookies).
pub fn check_origin(parts: &http::request::Parts, allowed_origins: &[String]) -> Result<(), AuthError> {
    OriginCheck::new(allowed_origins.to_vec()).check(parts)
}

/// A JSON response with `status`, built the same way by every adapter.
pub fn json_response<T: serde::Serialize>(status: http::StatusCode, body: &T) -> http::Response<Vec<u8>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = http::Response::new(bytes);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// An empty `204 No Content` response.
pub fn no_content() -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = http::StatusCode::NO_CONTENT;
    response
}

/// Adds `Cache-Control: no-store` (every response that carries a token).
pub fn no_store(mut response: http::Response<Vec<u8>>) -> http::Response<Vec<u8>> {
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static(NO_STORE));
    response
}

/// The one mapping from [`AuthError`] to an HTTP response: status, `WWW-Authenticate` for 401s,
/// and the JSON [`ErrorBody`](crate::ErrorBody). Backend errors are logged here, never sent.
pub fn error_response(error: &AuthError) -> http::Response<Vec<u8>> {
    if let AuthError::Backend(source) = error {
        tracing::error!(error = %source, "internal error while authenticating");
    }
    let mut response = json_response(error.status(), &error.body());
    if let Some(challenge) = error.www_authenticate().and_then(|c| http::HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(http::header::WWW_AUTHENTICATE, challenge);
    }
    if let Some(seconds) = error.retry_after() {
        response.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
    }
    response
}

/// `GET /healthz`: 200 `{"status":"ok"}`.
pub fn health() -> http::Response<Vec<u8>> {
    json_response(http::StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn nul_characters_are_found_only_where_they_decode_to_nul() {
        for (json, nul) in [
            (r#"{"u": "a\u0000b"}"#, true),
            (r#"{"a\u0000": 1}"#, true),
            (r#"["\\\u0000"]"#, true),
            (r#"{"u": "a\\u0000b"}"#, false),
            (r#"{"u": "a\u00001"}"#, true),
            (r#"{"u": "\u0001 u0000"}"#, false),
            (r#"{"u": "plain"}"#, false),
        ] {
            assert_eq!(has_escaped_nul(json.as_bytes()), nul, "{json}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let error =
            parse_json_body::<serde_json::Value>(&headers, br#"{"username": "a\u0000b"}"#).unwrap_err();
        assert_eq!(error.body().detail, "body: must not contain NUL characters (\\u0000)");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let xff = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.2")]);
        let none = TrustedProxies::none();
        assert_eq!(none.client_ip(ip("10.0.0.1"), &xff), ip("10.0.0.1"), "no proxy trusted");
        let proxies = TrustedProxies::parse("10.0.0.0/8, ::1").unwrap();
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &xff), ip("203.0.113.7"), "right-most untrusted hop");
        assert_eq!(proxies.client_ip(ip("192.0.2.1"), &xff), ip("192.0.2.1"), "untrusted peer");
        assert_eq!(proxies.client_ip(ip("::ffff:10.0.0.1"), &xff), ip("203.0.113.7"), "mapped IPv4");
        let garbage = headers(&[("x-forwarded-for", "not-an-ip")]);
        assert_eq!(proxies.client_ip(ip("::1"), &garbage), ip("::1"));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("example.com").is_err());
        // Ranges that would let any client pick its own address are refused.
        for wide in ["0.0.0.0/0", "0.0.0.0", "1.0.0.0/7", "::/0", "::", "2000::/6"] {
            assert!(TrustedProxies::parse(wide).is_err(), "{wide}");
        }
        assert!(TrustedProxies::parse("10.0.0.0/8, fc00::/7").unwrap().contains(ip("10.1.2.3")));
        assert!(!TrustedProxies::parse("10.0.0.0/8").unwrap().contains(ip("11.0.0.1")));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn bearer_parsing() {
        assert!(bearer_token(&headers(&[])).is_none());
        assert!(bearer_token(&headers(&[("authorization", "Basic abc")])).is_none());
        assert_eq!(bearer_token(&headers(&[("authorization", "Bearer abc")])).unwrap().unwrap(), "abc");
        assert_eq!(bearer_token(&headers(&[("authorization", "bearer abc")])).unwrap().unwrap(), "abc");
        assert!(bearer_token(&headers(&[("authorization", "Bearer ")])).unwrap().is_err());
        assert!(bearer_token(&headers(&[("authorization", "Bearer")])).unwrap().is_err());
    }

    #[test]
    fn cookies() {
        let h = headers(&[("cookie", "a=1; __Secure-portcullis_refresh=tok; b=2")]);
        let cookie = RefreshCookie::new("/api/auth/web", 60);
        assert_eq!(cookie.read(&h), Some("tok"));
        assert_eq!(
            cookie.set("tok"),
            "__Secure-portcullis_refresh=tok; Path=/api/auth/web; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        // The unprefixed name is not read when secure: anyone may set that one.
        assert_eq!(cookie.read(&headers(&[("cookie", "portcullis_refresh=tok")])), None);
        // Twice, in one header or two: none (cookie tossing).
        assert_eq!(
            cookie.read(&headers(&[(
                "cookie",
                "__Secure-portcullis_refresh=a; __Secure-portcullis_refresh=b"
            )])),
            None
        );
        let mut twice = headers(&[("cookie", "__Secure-portcullis_refresh=a")]);
        twice.append(http::header::COOKIE, http::HeaderValue::from_static("__Secure-portcullis_refresh=b"));
        assert_eq!(cookie.read(&twice), None);
        assert_eq!(unique_cookie_value(&twice, "__Secure-portcullis_refresh"), Err(()));
        assert_eq!(unique_cookie_value(&h, "a"), Ok(Some("1")));
        assert_eq!(unique_cookie_value(&h, "missing"), Ok(None));
        assert!(
            cookie.clone().insecure_cookies(true).clear().ends_with("Max-Age=0; HttpOnly; SameSite=Strict")
        );
    }

    fn head(pairs: &[(&'static str, &'static str)]) -> http::request::Parts {
        let mut request = http::Request::new(());
        *request.headers_mut() = headers(pairs);
        request.into_parts().0
    }

    #[test]
    fn origin_rules() {
        let allowed = vec!["https://app.example.com".to_owned()];
        let check_origin = |h: HeaderMap, allowed: &[String]| {
            let mut request = http::Request::new(());
            *request.headers_mut() = h;
            super::check_origin(&request.into_parts().0, allowed)
        };
        assert!(check_origin(headers(&[]), &allowed).is_ok());
        assert!(check_origin(headers(&[("origin", "https://app.example.com")]), &allowed).is_ok());
        assert!(
            check_origin(
                headers(&[("origin", "http://127.0.0.1:8000"), ("host", "127.0.0.1:8000")]),
                &allowed
            )
            .is_ok()
        );
        assert!(matches!(
            check_origin(headers(&[("origin", "https://evil.example"), ("host", "api")]), &allowed),
            Err(AuthError::CrossOrigin)
        ));
        assert!(check_origin(headers(&[("origin", "null")]), &allowed).is_err());
        // HTTP/2: no Host header, the authority is in the URI.
        let mut h2 = head(&[("origin", "https://api.example.com")]);
        h2.uri = "https://api.example.com/api/auth/web/token-refresh".parse().unwrap();
        assert!(super::check_origin(&h2, &[]).is_ok());
    }

    #[test]
    fn json_bodies() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            username: String,
        }
        let json = headers(&[("content-type", "application/json; charset=utf-8")]);
        assert!(parse_json_body::<Body>(&json, br#"{"username":"a"}"#).is_ok());
        assert!(matches!(parse_json_body::<Body>(&json, b"{"), Err(AuthError::InvalidInput(_))));
        assert!(matches!(parse_json_body::<Body>(&json, b"{}"), Err(AuthError::InvalidInput(_))));
        assert!(matches!(
            parse_json_body::<Body>(&headers(&[]), br#"{"username":"a"}"#),
            Err(AuthError::UnsupportedMediaType)
        ));
    }
}
