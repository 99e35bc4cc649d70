//! # auth-breach
//!
//! Breached-password checks for Portcullis (NIST SP 800-63B-4: refuse passwords known from
//! breaches). [`HibpRange`] asks the Have I Been Pwned "range" API with k-anonymity: the
//! password's SHA-1 is computed here and only its first five hex digits are sent; the API answers
//! with every known hash suffix of that range (padded with decoys, `Add-Padding: true`), and the
//! match is made locally. It implements [`auth_core::BreachedPasswords`]; plug it in with
//! [`auth_core::Accounts::with_breached_passwords`], choosing to fail open or closed.
//!
//! ## Features
//!
//! None.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use auth_breach::HibpRange;
//! use auth_core::BreachedPasswords;
//!
//! let hibp = HibpRange::new(HibpRange::API, std::time::Duration::from_secs(2))?;
//! assert!(hibp.times_breached("password").await? > 0);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::{AuthError, BreachedPasswords};
use sha1::{Digest, Sha1};

/// The Have I Been Pwned range API client.
#[derive(Clone)]
pub struct HibpRange {
    base: String,
    client: reqwest::Client,
}

impl fmt::Debug for HibpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HibpRange").field("base", &self.base).finish_non_exhaustive()
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BreachError {
    /// The base URL is not an `https://` URL (plain `http://` only for a loopback host).
    #[error("the breached-password API must be an https URL (http only on a loopback host): {0}")]
    InsecureUrl(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

/// The uppercase hex SHA-1 of `password`, split into the 5-digit prefix sent and the 35-digit
/// suffix matched locally.
fn hash_parts(password: &str) -> (String, String) {
    let digest = Sha1::digest(password.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02X}")).collect();
    let (prefix, suffix) = hex.split_at(5);
    (prefix.to_owned(), suffix.to_owned())
}

/// How often `suffix` appears in a range answer (`SUFFIX:COUNT` lines; padding lines count 0).
fn count_in(body: &str, suffix: &str) -> u64 {
    body.lines()
        .filter_map(|line| line.trim().split_once(':'))
        .find(|(candidate, _)| candidate.eq_ignore_ascii_case(suffix))
        .and_then(|(_, count)| count.trim().parse().ok())
        .unwrap_or(0)
}

fn loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl HibpRange {
    /// The public API.
    pub const API: &'static str = "https://api.pwnedpasswords.com";

    /// A client of the range API at `base` (its `/range/{prefix}` is asked), giving up after
    /// `timeout` (connect and whole request).
    pub fn new(base: &str, timeout: Duration) -> Result<Self, BreachError> {
        let base = base.trim_end_matches('/').to_owned();
        let authority = base.split_once("://").map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => authority.split(':').next().unwrap_or(""),
        };
        let secure = base.starts_with("https://") || (base.starts_with("http://") && loopback(host));
        if !secure || host.is_empty() {
            return Err(BreachError::InsecureUrl(base));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent("portcullis-breach-check")
            .build()
            .map_err(|e| BreachError::Client(e.to_string()))?;
        Ok(Self { base, client })
    }
}

#[async_trait]
impl BreachedPasswords for HibpRange {
    async fn times_breached(&self, password: &str) -> Result<u64, AuthError> {
        let (prefix, suffix) = hash_parts(password);
        let url = format!("{}/range/{prefix}", self.base);
        let response =
            self.client.get(&url).header("Add-Padding", "true").send().await.map_err(AuthError::backend)?;
        let response = response.error_for_status().map_err(AuthError::backend)?;
        let body = response.text().await.map_err(AuthError::backend)?;
        Ok(count_in(&body, &suffix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_splits_into_a_five_digit_prefix_and_the_rest() {
        // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8
        let (prefix, suffix) = hash_parts("password");
        assert_eq!(prefix, "5BAA6");
        assert_eq!(suffix, "1E4C9B93F3F0682250B6CF8331B7EE68FD8");
    }

    #[test]
    fn range_answers_are_matched_locally() {
        let body = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n1E4C9B93F3F0682250B6CF8331B7EE68FD8:9659365\r\nFFFFF00000000000000000000000000000F:0\r\n";
        assert_eq!(count_in(body, "1E4C9B93F3F0682250B6CF8331B7EE68FD8"), 9_659_365);
        assert_eq!(count_in(body, "1e4c9b93f3f0682250b6cf8331b7ee68fd8"), 9_659_365);
        assert_eq!(count_in(body, "00000000000000000000000000000000000"), 0);
    }

    #[test]
    fn only_https_or_loopback_http() {
        let timeout = Duration::from_secs(1);
        assert!(HibpRange::new(HibpRange::API, timeout).is_ok());
        assert!(HibpRange::new("http://127.0.0.1:9999", timeout).is_ok());
        assert!(HibpRange::new("http://[::1]:9999/", timeout).is_ok());
        assert!(HibpRange::new("http://localhost:9999", timeout).is_ok());
        for bad in ["http://api.pwnedpasswords.com", "http://127.evil.example", "ftp://x", "nonsense"] {
            assert!(HibpRange::new(bad, timeout).is_err(), "{bad}");
        }
    }
}
