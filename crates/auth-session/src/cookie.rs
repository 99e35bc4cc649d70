//! Framework-free cookie helpers for the session and CSRF cookies, and the CSRF check.

use std::fmt::{self, Debug};

use auth_core::AuthError;
use auth_core::http_support::{OriginCheck, unique_cookie_value};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use http::HeaderMap;
use http::header::HeaderName;
use subtle::ConstantTimeEq;

/// The session cookie's name when `Secure` (the `__Host-` prefix pins it to this host, `Path=/`).
pub const SESSION_COOKIE_SECURE_NAME: &str = "__Host-portcullis_session";
/// The session cookie's name without `Secure` (development over plain HTTP only).
pub const SESSION_COOKIE_NAME: &str = "portcullis_session";
/// The CSRF cookie's name when `Secure`.
pub const CSRF_COOKIE_SECURE_NAME: &str = "__Host-csrftoken";
/// The CSRF cookie's name without `Secure` (development over plain HTTP only).
pub const CSRF_COOKIE_NAME: &str = "csrftoken";
/// The request header that must echo the CSRF cookie on unsafe methods.
pub const CSRF_HEADER: HeaderName = HeaderName::from_static("x-csrf-token");
/// The number of random bytes in a CSRF token (256 bits).
pub const CSRF_TOKEN_BYTES: usize = 32;

fn lifetime_seconds(lifetime: Duration) -> i64 {
    lifetime.num_seconds().max(0)
}

/// How the session cookie is written: `HttpOnly; SameSite=Lax; Path=/`, `Secure` with the
/// `__Host-` prefix unless the development switch [`insecure_cookies`](Self::insecure_cookies) is
/// on, and a `Max-Age` of the session's absolute lifetime.
///
/// ```
/// use auth_session::SessionCookie;
/// use chrono::Duration;
///
/// let cookie = SessionCookie::new(Duration::days(14));
/// assert_eq!(
///     cookie.set("abc"),
///     "__Host-portcullis_session=abc; Path=/; Max-Age=1209600; HttpOnly; SameSite=Lax; Secure"
/// );
/// let dev = SessionCookie::new(Duration::days(14)).insecure_cookies(true);
/// assert!(dev.clear().starts_with("portcullis_session=; Path=/; Max-Age=0;"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionCookie {
    /// Adds `Secure` and the `__Host-` prefix. Only [`insecure_cookies`](Self::insecure_cookies)
    /// turns it off.
    pub secure: bool,
    /// `Max-Age` in seconds: the session's absolute lifetime.
    pub max_age_seconds: i64,
}

impl SessionCookie {
    /// A secure cookie living `lifetime` (the session's absolute lifetime; negative counts as 0).
    pub fn new(lifetime: Duration) -> Self {
        Self { secure: true, max_age_seconds: lifetime_seconds(lifetime) }
    }

    /// Development only: drops `Secure` (and so the `__Host-` prefix) so the cookie works over
    /// plain HTTP.
    pub fn insecure_cookies(mut self, insecure: bool) -> Self {
        self.secure = !insecure;
        self
    }

    /// The cookie's name: [`SESSION_COOKIE_SECURE_NAME`] when secure, else
    /// [`SESSION_COOKIE_NAME`].
    pub fn name(&self) -> &'static str {
        if self.secure { SESSION_COOKIE_SECURE_NAME } else { SESSION_COOKIE_NAME }
    }

    fn attributes(&self, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
    }

    /// The `Set-Cookie` value that stores the session id `value`.
    pub fn set(&self, value: &str) -> String {
        format!("{}={value}; {}", self.name(), self.attributes(self.max_age_seconds))
    }

    /// The `Set-Cookie` value that deletes the cookie.
    pub fn clear(&self) -> String {
        format!("{}=; {}", self.name(), self.attributes(0))
    }

    /// The cookie's value in a request (only under this configuration's name), if non-empty and
    /// carried once (a second cookie of the name is what cookie tossing looks like: none).
    pub fn read<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        unique_cookie_value(headers, self.name()).ok().flatten()
    }
}

/// How the CSRF cookie is written: readable by the page's JavaScript (not `HttpOnly`), which
/// echoes it in the [`CSRF_HEADER`] of every unsafe request; `SameSite=Lax; Path=/`, `Secure` with
/// the `__Host-` prefix unless [`insecure_cookies`](Self::insecure_cookies) is on, and the same
/// `Max-Age` as the session cookie.
///
/// ```
/// use auth_session::{CsrfCookie, generate_csrf_token};
/// use chrono::Duration;
///
/// let cookie = CsrfCookie::new(Duration::days(14));
/// let token = generate_csrf_token();
/// assert_eq!(
///     cookie.set(token.value()),
///     format!("__Host-csrftoken={}; Path=/; Max-Age=1209600; SameSite=Lax; Secure", token.value())
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CsrfCookie {
    /// Adds `Secure` and the `__Host-` prefix. Only [`insecure_cookies`](Self::insecure_cookies)
    /// turns it off.
    pub secure: bool,
    /// `Max-Age` in seconds (the session's absolute lifetime).
    pub max_age_seconds: i64,
}

impl CsrfCookie {
    /// A secure cookie living `lifetime` (negative counts as 0).
    pub fn new(lifetime: Duration) -> Self {
        Self { secure: true, max_age_seconds: lifetime_seconds(lifetime) }
    }

    /// Development only: drops `Secure` (and so the `__Host-` prefix).
    pub fn insecure_cookies(mut self, insecure: bool) -> Self {
        self.secure = !insecure;
        self
    }

    /// The cookie's name: [`CSRF_COOKIE_SECURE_NAME`] when secure, else [`CSRF_COOKIE_NAME`].
    pub fn name(&self) -> &'static str {
        if self.secure { CSRF_COOKIE_SECURE_NAME } else { CSRF_COOKIE_NAME }
    }

    fn attributes(&self, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("Path=/; Max-Age={max_age}; SameSite=Lax{secure}")
    }

    /// The `Set-Cookie` value that stores the CSRF token `value`.
    pub fn set(&self, value: &str) -> String {
        format!("{}={value}; {}", self.name(), self.attributes(self.max_age_seconds))
    }

    /// The `Set-Cookie` value that deletes the cookie.
    pub fn clear(&self) -> String {
        format!("{}=; {}", self.name(), self.attributes(0))
    }

    /// The cookie's value in a request (only under this configuration's name), if non-empty and
    /// carried once (a second cookie of the name is what cookie tossing looks like: none).
    pub fn read<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        unique_cookie_value(headers, self.name()).ok().flatten()
    }

    /// [`check_csrf`] with this cookie.
    pub fn check(&self, parts: &http::request::Parts, origin: &OriginCheck) -> Result<(), AuthError> {
        check_csrf(parts, self, origin)
    }
}

/// A fresh CSRF token: 256 bits from the CSPRNG, unpadded base64url. Its `Debug` output redacts
/// the value.
#[derive(Clone)]
pub struct CsrfToken(String);

impl CsrfToken {
    /// The token text, for [`CsrfCookie::set`] (and a response body, if the page wants it).
    pub fn value(&self) -> &str {
        &self.0
    }

    /// Consumes the token, returning its text.
    pub fn into_value(self) -> String {
        self.0
    }
}

impl Debug for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfToken(<redacted>)")
    }
}

/// A new CSRF token (set it with [`CsrfCookie::set`] at sign-in, next to the session cookie).
pub fn generate_csrf_token() -> CsrfToken {
    let mut random = [0u8; CSRF_TOKEN_BYTES];
    rand::fill(&mut random);
    CsrfToken(URL_SAFE_NO_PAD.encode(random))
}

/// Whether `method` never changes state (GET, HEAD, OPTIONS, TRACE): such requests skip the CSRF
/// check, so their handlers must not change state.
pub fn is_safe_method(method: &http::Method) -> bool {
    matches!(*method, http::Method::GET | http::Method::HEAD | http::Method::OPTIONS | http::Method::TRACE)
}

/// The CSRF check for a request authenticated by the session cookie. Safe methods
/// ([`is_safe_method`]) pass. Any other method must satisfy, in this order:
///
/// 1. `Origin`, when present, is the request's own origin (scheme, host and port) or an allowed
///    one ([`OriginCheck::check`]); else [`AuthError::CrossOrigin`].
/// 2. `Sec-Fetch-Site`, when present, is `same-origin` or `none`, unless the `Origin` is an
///    allowed one (a cross-site front end the application trusts); else
///    [`AuthError::CrossOrigin`].
/// 3. The [`CSRF_HEADER`] and the CSRF cookie are both present, non-empty and equal (compared in
///    constant time); else [`AuthError::Forbidden`].
///
/// Both errors are 403s.
///
/// ```
/// use auth_session::{CsrfCookie, check_csrf};
/// use chrono::Duration;
///
/// let cookie = CsrfCookie::new(Duration::days(1));
/// let request = |token: &str| {
///     http::Request::post("https://app.example/notes")
///         .header("host", "app.example")
///         .header("origin", "https://app.example")
///         .header("cookie", "__Host-csrftoken=abc")
///         .header("x-csrf-token", token)
///         .body(())
///         .unwrap()
///         .into_parts()
///         .0
/// };
/// let origin = auth_core::http_support::OriginCheck::default();
/// assert!(check_csrf(&request("abc"), &cookie, &origin).is_ok());
/// assert!(check_csrf(&request("abd"), &cookie, &origin).is_err());
/// ```
pub fn check_csrf(
    parts: &http::request::Parts,
    cookie: &CsrfCookie,
    origin: &OriginCheck,
) -> Result<(), AuthError> {
    if is_safe_method(&parts.method) {
        return Ok(());
    }
    origin.check(parts)?;
    let headers = &parts.headers;
    if let Some(site) = headers.get("sec-fetch-site") {
        let same = site.to_str().is_ok_and(|site| {
            let site = site.trim();
            site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none")
        });
        let allowed = headers
            .get(http::header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_some_and(|o| origin.is_allowed(o));
        if !same && !allowed {
            return Err(AuthError::CrossOrigin);
        }
    }
    let presented = headers.get(&CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or("");
    let expected = cookie.read(headers).unwrap_or("");
    if presented.is_empty() || expected.is_empty() {
        return Err(AuthError::Forbidden);
    }
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(AuthError::Forbidden)
    }
}

/// Whether the request's `Origin` is explicitly one of `allowed_origins`.
#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = http::Request::builder().method(method).uri("https://app.example/api/notes");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).map(|request| request.into_parts().0).unwrap_or_else(|_| unreachable!())
    }

    const HOST: (&str, &str) = ("host", "app.example");
    const SAME_ORIGIN: (&str, &str) = ("origin", "https://app.example");
    const COOKIE: (&str, &str) = ("cookie", "a=b; __Host-csrftoken=tok123; c=d");
    const HEADER: (&str, &str) = ("x-csrf-token", "tok123");

    fn secure() -> CsrfCookie {
        CsrfCookie::new(Duration::days(1))
    }

    #[test]
    fn session_cookie_attributes() {
        let cookie = SessionCookie::new(Duration::hours(2));
        assert!(cookie.secure);
        assert_eq!(cookie.name(), "__Host-portcullis_session");
        assert_eq!(
            cookie.set("v"),
            "__Host-portcullis_session=v; Path=/; Max-Age=7200; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            cookie.clear(),
            "__Host-portcullis_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"
        );
        let dev = cookie.clone().insecure_cookies(true);
        assert_eq!(dev.set("v"), "portcullis_session=v; Path=/; Max-Age=7200; HttpOnly; SameSite=Lax");
        assert_eq!(dev.insecure_cookies(false), cookie);
        assert_eq!(SessionCookie::new(Duration::seconds(-5)).max_age_seconds, 0);
    }

    #[test]
    fn a_cookie_carried_twice_is_not_read() {
        let headers = parts(
            "GET",
            &[("cookie", "__Host-portcullis_session=real; __Host-portcullis_session=tossed; __Host-csrftoken=a; __Host-csrftoken=b")],
        )
        .headers;
        assert_eq!(SessionCookie::new(Duration::hours(1)).read(&headers), None);
        assert_eq!(CsrfCookie::new(Duration::hours(1)).read(&headers), None);
    }

    #[test]
    fn session_cookie_is_read_under_its_own_name_only() {
        let headers =
            parts("GET", &[("cookie", "portcullis_session=plain; __Host-portcullis_session=host")]).headers;
        assert_eq!(SessionCookie::new(Duration::hours(1)).read(&headers), Some("host"));
        assert_eq!(
            SessionCookie::new(Duration::hours(1)).insecure_cookies(true).read(&headers),
            Some("plain")
        );
        let headers = parts("GET", &[("cookie", "portcullis_session=plain")]).headers;
        assert_eq!(
            SessionCookie::new(Duration::hours(1)).read(&headers),
            None,
            "no downgrade to the plain name"
        );
        let headers = parts("GET", &[("cookie", "__Host-portcullis_session=")]).headers;
        assert_eq!(SessionCookie::new(Duration::hours(1)).read(&headers), None, "empty is absent");
    }

    #[test]
    fn csrf_cookie_is_readable_by_scripts() {
        let cookie = secure();
        assert_eq!(cookie.set("t"), "__Host-csrftoken=t; Path=/; Max-Age=86400; SameSite=Lax; Secure");
        assert!(!cookie.set("t").contains("HttpOnly"));
        assert_eq!(cookie.clear(), "__Host-csrftoken=; Path=/; Max-Age=0; SameSite=Lax; Secure");
        let dev = cookie.insecure_cookies(true);
        assert_eq!(dev.name(), "csrftoken");
        assert_eq!(dev.set("t"), "csrftoken=t; Path=/; Max-Age=86400; SameSite=Lax");
    }

    #[test]
    fn csrf_tokens_are_random_and_redacted() {
        let (a, b) = (generate_csrf_token(), generate_csrf_token());
        assert_eq!(a.value().len(), 43);
        assert_ne!(a.value(), b.value());
        assert!(a.value().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        let debug = format!("{a:?}");
        assert!(!debug.contains(a.value()) && debug.contains("redacted"), "{debug}");
        assert_eq!(a.clone().into_value(), a.value());
    }

    #[test]
    fn safe_methods_pass_without_anything() {
        for method in ["GET", "HEAD", "OPTIONS", "TRACE"] {
            let request =
                parts(method, &[HOST, ("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")]);
            assert!(check_csrf(&request, &secure(), &OriginCheck::default()).is_ok(), "{method}");
        }
    }

    #[test]
    fn unsafe_methods_need_a_matching_token() {
        for method in ["POST", "PUT", "PATCH", "DELETE", "PURGE"] {
            assert!(
                check_csrf(&parts(method, &[HOST, COOKIE, HEADER]), &secure(), &OriginCheck::default())
                    .is_ok(),
                "{method}"
            );
            assert!(
                check_csrf(
                    &parts(method, &[HOST, SAME_ORIGIN, ("sec-fetch-site", "same-origin"), COOKIE, HEADER]),
                    &secure(),
                    &OriginCheck::default()
                )
                .is_ok(),
                "{method}"
            );
            for headers in [
                vec![HOST, COOKIE],
                vec![HOST, HEADER],
                vec![HOST],
                vec![HOST, COOKIE, ("x-csrf-token", "tok124")],
                vec![HOST, COOKIE, ("x-csrf-token", "tok12")],
                vec![HOST, COOKIE, ("x-csrf-token", "")],
                vec![HOST, ("cookie", "__Host-csrftoken="), ("x-csrf-token", "")],
                vec![HOST, ("cookie", "csrftoken=tok123"), HEADER],
            ] {
                let result = check_csrf(&parts(method, &headers), &secure(), &OriginCheck::default());
                assert!(matches!(result, Err(AuthError::Forbidden)), "{method} {headers:?}: {result:?}");
                assert_eq!(result.map_err(|e| e.status()).err(), Some(http::StatusCode::FORBIDDEN));
            }
        }
        let dev = secure().insecure_cookies(true);
        assert!(
            check_csrf(
                &parts("POST", &[HOST, ("cookie", "csrftoken=tok123"), HEADER]),
                &dev,
                &OriginCheck::default()
            )
            .is_ok()
        );
        assert!(
            dev.check(&parts("POST", &[HOST, COOKIE, HEADER]), &OriginCheck::default()).is_err(),
            "the dev cookie name only"
        );
    }

    #[test]
    fn origin_must_be_same_or_allowed() {
        let allowed = vec!["https://front.example".to_owned()];
        let cross = parts("POST", &[HOST, ("origin", "https://evil.example"), COOKIE, HEADER]);
        assert!(matches!(
            check_csrf(&cross, &secure(), &OriginCheck::new(allowed.clone())),
            Err(AuthError::CrossOrigin)
        ));
        let front = parts("POST", &[HOST, ("origin", "https://front.example"), COOKIE, HEADER]);
        assert!(check_csrf(&front, &secure(), &OriginCheck::new(allowed.clone())).is_ok());
        assert!(check_csrf(&front, &secure(), &OriginCheck::default()).is_err());
        let null = parts("POST", &[HOST, ("origin", "null"), COOKIE, HEADER]);
        assert!(check_csrf(&null, &secure(), &OriginCheck::new(allowed.clone())).is_err());
    }

    #[test]
    fn sec_fetch_site_must_be_same_origin_or_none() {
        let allowed = vec!["https://front.example".to_owned()];
        for site in ["same-origin", "none", "Same-Origin"] {
            let request = parts("POST", &[HOST, ("sec-fetch-site", site), COOKIE, HEADER]);
            assert!(check_csrf(&request, &secure(), &OriginCheck::default()).is_ok(), "{site}");
        }
        for site in ["same-site", "cross-site", "", "bogus"] {
            let request = parts("POST", &[HOST, ("sec-fetch-site", site), COOKIE, HEADER]);
            assert!(
                matches!(
                    check_csrf(&request, &secure(), &OriginCheck::default()),
                    Err(AuthError::CrossOrigin)
                ),
                "{site}"
            );
            let request = parts("POST", &[HOST, SAME_ORIGIN, ("sec-fetch-site", site), COOKIE, HEADER]);
            assert!(
                check_csrf(&request, &secure(), &OriginCheck::new(allowed.clone())).is_err(),
                "{site}: same origin is not an allowed one"
            );
        }
        let request = parts(
            "POST",
            &[HOST, ("origin", "https://front.example"), ("sec-fetch-site", "cross-site"), COOKIE, HEADER],
        );
        assert!(
            check_csrf(&request, &secure(), &OriginCheck::new(allowed.clone())).is_ok(),
            "an allowed origin may be cross-site"
        );
        let request = parts(
            "POST",
            &[HOST, ("origin", "https://front.example"), ("sec-fetch-site", "cross-site"), COOKIE],
        );
        assert!(
            matches!(
                check_csrf(&request, &secure(), &OriginCheck::new(allowed.clone())),
                Err(AuthError::Forbidden)
            ),
            "token still needed"
        );
    }
}
