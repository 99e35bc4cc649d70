//! The browser's redirect flow (feature `flows`): `GET /api/auth/social/{provider}/authorize`
//! and `GET /api/auth/social/{provider}/callback`.
//!
//! What the callback needs (state, nonce, PKCE verifier, flow, `next`, expiry) travels in a
//! short-lived (10 min) HttpOnly, `SameSite=Lax` cookie, sealed with AES-256-GCM under the
//! [`WebFlow`]'s key: the state is bound to the browser that started the flow, and nothing in it
//! can be read or changed by the browser. Each state is accepted once by a process (and the
//! provider's code is single use everywhere). `next` is a path on the frontend, or an URL of an
//! allowed origin; anything else falls back to the frontend URL (no open redirect).

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::PendingAuthorization;

/// The cookie's associated data (domain separation and versioning).
const AAD: &[u8] = b"portcullis-social-v1";

/// Settings of the redirect flow.
pub struct WebFlow {
    key: LessSafeKey,
    pub(crate) frontend_url: String,
    allowed_origins: Vec<String>,
    pub(crate) insecure_cookies: bool,
    used: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl std::fmt::Debug for WebFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebFlow")
            .field("frontend_url", &self.frontend_url)
            .field("allowed_origins", &self.allowed_origins)
            .finish_non_exhaustive()
    }
}

/// The sealed content of the flow cookie.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FlowState {
    /// The provider.
    pub(crate) p: String,
    /// The pending authorization.
    pub(crate) a: PendingAuthorization,
    /// The flow: `web` or `session`.
    pub(crate) f: String,
    /// Where to go afterwards.
    pub(crate) n: String,
    /// Expiry (Unix seconds).
    pub(crate) e: i64,
}

impl WebFlow {
    /// The flow for a frontend at `frontend_url` (the default `next`, and an allowed origin),
    /// sealing its cookie with `key` (32 random bytes, the same in every process of a
    /// deployment).
    pub fn new(frontend_url: impl Into<String>, key: [u8; 32]) -> Result<Self, crate::OAuthError> {
        let frontend_url = frontend_url.into();
        let origin = origin_of(&frontend_url).ok_or_else(|| {
            crate::OAuthError::Config(format!("frontend URL {frontend_url:?} is not an http(s) URL"))
        })?;
        let unbound =
            UnboundKey::new(&AES_256_GCM, &key).map_err(|_| crate::OAuthError::Config("key".to_owned()))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            frontend_url,
            allowed_origins: vec![origin],
            insecure_cookies: false,
            used: Mutex::new(HashMap::new()),
        })
    }

    /// Allows `next` URLs on another origin (`https://admin.example.com`).
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into().trim_end_matches('/').to_owned());
        self
    }

    /// Sets the flow cookie without `Secure` and without the `__Host-` prefix: plain-HTTP
    /// development only.
    pub fn insecure_cookies(mut self, insecure: bool) -> Self {
        self.insecure_cookies = insecure;
        self
    }

    /// The cookie's name.
    pub(crate) fn cookie_name(&self) -> &'static str {
        if self.insecure_cookies { "portcullis_social" } else { "__Host-portcullis_social" }
    }

    /// `Set-Cookie` for the flow state (`None`: clear it).
    pub(crate) fn set_cookie(&self, value: Option<&str>) -> String {
        let secure = if self.insecure_cookies { "" } else { "; Secure" };
        match value {
            Some(value) => {
                format!("{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=600{secure}", self.cookie_name())
            }
            None => format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}", self.cookie_name()),
        }
    }

    /// `next` if it is a path (not `//`) or an URL of an allowed origin; else the frontend URL.
    pub(crate) fn next_or_default(&self, next: Option<&str>) -> String {
        match next {
            // A path: not `//host`, no backslash, nothing a Location header cannot carry.
            Some(path)
                if path.starts_with('/')
                    && !path.starts_with("//")
                    && !path.contains('\\')
                    && path.chars().all(|c| c.is_ascii_graphic()) =>
            {
                format!("{}{path}", origin_of(&self.frontend_url).unwrap_or_default())
            }
            Some(url)
                if url.chars().all(|c| c.is_ascii_graphic())
                    && origin_of(url).is_some_and(|o| self.allowed_origins.contains(&o)) =>
            {
                url.to_owned()
            }
            _ => self.frontend_url.clone(),
        }
    }

    /// Seals the state into a cookie value.
    pub(crate) fn seal(&self, state: &FlowState) -> Result<String, crate::OAuthError> {
        let mut nonce = [0_u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| crate::OAuthError::Config("random".to_owned()))?;
        let mut data = serde_json::to_vec(state).map_err(|e| crate::OAuthError::Config(e.to_string()))?;
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(AAD), &mut data)
            .map_err(|_| crate::OAuthError::Config("seal".to_owned()))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&data);
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// Opens a cookie value; `None` when it was not sealed here, was changed, or has expired.
    pub(crate) fn open(&self, value: &str, now: DateTime<Utc>) -> Option<FlowState> {
        let mut sealed = URL_SAFE_NO_PAD.decode(value).ok()?;
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let mut data = sealed.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&sealed).ok()?;
        let plain = self.key.open_in_place(nonce, Aad::from(AAD), &mut data).ok()?;
        let state: FlowState = serde_json::from_slice(plain).ok()?;
        (now.timestamp() < state.e).then_some(state)
    }

    /// Marks a state used; `false` when it was used already (a replay).
    pub(crate) fn first_use(&self, state: &str, expires: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        used.retain(|_, until| *until > now);
        used.insert(state.to_owned(), expires).is_none()
    }
}

/// `scheme://host[:port]` of an http(s) URL.
fn origin_of(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return None;
    }
    Some(parsed.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> WebFlow {
        WebFlow::new("https://app.example.com/home", [7; 32])
            .unwrap()
            .allow_origin("https://admin.example.com")
    }

    #[test]
    fn next_never_leaves_the_allowed_origins() {
        let flow = flow();
        assert_eq!(flow.next_or_default(Some("/orders?x=1")), "https://app.example.com/orders?x=1");
        assert_eq!(flow.next_or_default(Some("https://admin.example.com/x")), "https://admin.example.com/x");
        for evil in [
            "//evil.example/x",
            "https://evil.example/",
            "https://app.example.com.evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
            "https://app.example.com@evil.example/",
            "/after\r\nSet-Cookie: x=1",
            "https://admin.example.com/\u{7f}",
            "/caf\u{e9}",
        ] {
            assert_eq!(flow.next_or_default(Some(evil)), "https://app.example.com/home", "{evil}");
        }
        assert_eq!(flow.next_or_default(None), "https://app.example.com/home");
    }

    #[test]
    fn the_cookie_is_sealed_expiring_and_single_use() {
        let flow = flow();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let state = FlowState {
            p: "google".into(),
            a: PendingAuthorization { state: "s".into(), nonce: Some("n".into()), pkce_verifier: "v".into() },
            f: "web".into(),
            n: "https://app.example.com/".into(),
            e: now.timestamp() + 600,
        };
        let sealed = flow.seal(&state).unwrap();
        assert_eq!(flow.open(&sealed, now).unwrap().a.state, "s");
        let mut tampered = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(flow.open(&URL_SAFE_NO_PAD.encode(tampered), now).is_none());
        assert!(flow.open(&sealed, now + chrono::Duration::seconds(601)).is_none(), "expired");
        let other = WebFlow::new("https://app.example.com", [8; 32]).unwrap();
        assert!(other.open(&sealed, now).is_none(), "another key");
        let until = now + chrono::Duration::seconds(600);
        assert!(flow.first_use("s", until, now));
        assert!(!flow.first_use("s", until, now), "replayed");
    }
}
