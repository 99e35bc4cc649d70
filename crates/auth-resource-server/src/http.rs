//! The HTTP client of the resource server: timeouts, a size cap, HTTPS unless loopback.

use std::time::Duration;

use serde_json::Value;

/// A JSON document and its `Cache-Control: max-age` (`Some(0)` for `no-store`/`no-cache`).
#[derive(Debug)]
#[non_exhaustive]
pub struct Fetched {
    /// The document.
    pub body: Value,
    /// Its `Cache-Control` lifetime, if it states one.
    pub max_age: Option<Duration>,
}

/// Fetches JSON documents from an issuer (discovery, JWKS, the revocation feed, userinfo): a
/// timeout on the whole request, no redirects, a size cap while reading, and HTTPS unless the host
/// is loopback or plain HTTP was allowed explicitly.
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    max_bytes: usize,
    allow_http: bool,
}

impl HttpFetcher {
    /// A fetcher; `allow_http` permits plain HTTP to any host (trusted networks only).
    pub fn new(timeout: Duration, max_bytes: usize, allow_http: bool) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("portcullis-resource-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client cannot be built: {e}"))?;
        Ok(Self { client, max_bytes, allow_http })
    }

    /// Whether `url` may be fetched: `https`, or `http` to a loopback host, or any `http` with
    /// the insecure switch.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        match parsed.scheme() {
            "https" => Ok(()),
            "http" if self.allow_http || is_loopback(&parsed) => Ok(()),
            "http" => Err(format!(
                "{url:?} is plain HTTP: keys and revocations must come over HTTPS \
                 (insecure_allow_http only for a trusted network)"
            )),
            other => Err(format!("{url:?}: unsupported scheme {other:?}")),
        }
    }

    /// GETs a JSON document, with one credential header (`("x-api-key", key)`,
    /// `("authorization", "Bearer …")`) when given. Errors name the URL, never the credential.
    pub async fn get_json(&self, url: &str, credential: Option<(&str, &str)>) -> Result<Fetched, String> {
        self.check_url(url)?;
        let mut request = self.client.get(url).header(http::header::ACCEPT, "application/json");
        if let Some((name, value)) = credential {
            request = request.header(name, value);
        }
        let mut response = request.send().await.map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url}: status {status}"));
        }
        if response.content_length().is_some_and(|len| len > self.max_bytes as u64) {
            return Err(format!("GET {url}: the document exceeds {} bytes", self.max_bytes));
        }
        let max_age = response
            .headers()
            .get_all(http::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(max_age);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("GET {url}: {e}"))? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(format!("GET {url}: the document exceeds {} bytes", self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        let body = serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))?;
        Ok(Fetched { body, max_age })
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The lifetime a `Cache-Control` value grants: `max-age=N`, or zero for `no-store`/`no-cache`.
fn max_age(value: &str) -> Option<Duration> {
    let mut found = None;
    for directive in value.split(',').map(str::trim) {
        let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(Duration::ZERO);
        }
        if name.eq_ignore_ascii_case("max-age") {
            found = arg.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control() {
        assert_eq!(max_age("public, max-age=3600"), Some(Duration::from_secs(3600)));
        assert_eq!(max_age("max-age=\"60\", must-revalidate"), Some(Duration::from_secs(60)));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("private"), None);
        assert_eq!(max_age("max-age=forever"), None);
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let fetcher = HttpFetcher::new(Duration::from_secs(1), 1024, false).unwrap();
        assert!(fetcher.check_url("https://issuer.example.com/jwks").is_ok());
        assert!(fetcher.check_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(fetcher.check_url("http://localhost/jwks").is_ok());
        assert!(fetcher.check_url("http://issuer.example.com/jwks").is_err());
        assert!(fetcher.check_url("file:///etc/passwd").is_err());
        let insecure = HttpFetcher::new(Duration::from_secs(1), 1024, true).unwrap();
        assert!(insecure.check_url("http://issuer.example.com/jwks").is_ok());
    }
}
