//! Device cookies: a browser or app that once signed in as a user is *known* for that user, and
//! password guessing elsewhere (which can lock the account against unknown devices) does not lock
//! it out.
//!
//! A device token is `nonce.issued_at.mac`: 16 random bytes, the issue time (unix seconds) and an
//! HMAC-SHA256 over the user id, nonce and time under the server's [`DeviceKey`]. It names no
//! user, stores nothing server-side and cannot be forged or moved to another user; it expires
//! after [`DEVICE_LIFETIME`] or when the key changes.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit as _, Mac as _};
use http::HeaderMap;
use sha2::Sha256;

use crate::UserId;
use crate::http_support::unique_cookie_value;

/// The device cookie's name when `Secure` (`__Host-`: this host only, `Path=/`).
pub const DEVICE_COOKIE_SECURE_NAME: &str = "__Host-portcullis_device";
/// The device cookie's name without `Secure` (development over plain HTTP only).
pub const DEVICE_COOKIE_NAME: &str = "portcullis_device";
/// How long a device stays known after its latest sign-in: 180 days.
pub const DEVICE_LIFETIME: Duration = Duration::days(180);

/// What the MAC is computed over, first.
const CONTEXT: &[u8] = b"portcullis device v1";
const NONCE_BYTES: usize = 16;

/// The key that signs device tokens: 32 random bytes. Every server process sharing a user
/// database should share it (a file in the keys directory, or a setting); a new key forgets every
/// known device. Its `Debug` shows nothing of it.
///
/// ```
/// use auth_core::{DeviceKey, UserId};
/// use chrono::{Duration, TimeZone, Utc};
///
/// let key = DeviceKey::generate();
/// let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
/// let (ana, bob) = (UserId::new("ana"), UserId::new("bob"));
/// let token = key.issue(&ana, now);
/// let device = key.verify(&token, &ana, now + Duration::days(1)).expect("known for ana");
/// assert_eq!(device.as_str().len(), 22);
/// assert!(key.verify(&token, &bob, now).is_none(), "not for bob");
/// assert!(key.verify(&token, &ana, now + Duration::days(181)).is_none(), "expired");
/// assert!(DeviceKey::generate().verify(&token, &ana, now).is_none(), "another key");
/// ```
#[derive(Clone)]
pub struct DeviceKey {
    bytes: [u8; DeviceKey::LEN],
}

/// A known device: the nonce of its token, a stable name for its own rate-limit counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceId(String);

impl DeviceId {
    /// The device's id (the token's nonce, URL-safe base64).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl DeviceKey {
    /// The key length in bytes (256 bits).
    pub const LEN: usize = 32;

    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; Self::LEN];
        rand::fill(&mut bytes);
        Self { bytes }
    }

    /// A key from base64 (any alphabet, padded or not) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Option<Self> {
        let bytes = crate::key_file::decode_key(text, Self::LEN)?;
        Some(Self { bytes: bytes.try_into().ok()? })
    }

    /// The key as standard base64.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// Reads the key file at `path`, or creates it with a new key (mode 0600; see
    /// [`key_file::load_or_generate`](crate::key_file::load_or_generate)).
    pub fn load_or_generate(path: &Path) -> std::io::Result<Self> {
        let bytes = crate::key_file::load_or_generate(path, Self::LEN)?;
        let bytes = bytes
            .try_into()
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "a device key is 32 bytes"))?;
        Ok(Self { bytes })
    }

    fn mac(&self, user: &UserId, nonce: &str, issued_at: i64) -> Hmac<Sha256> {
        // HMAC pads a key shorter than the hash's block (64 bytes) with zeros: the padded key is
        // the same key, and taking the block-sized form cannot fail.
        let mut block = [0u8; 64];
        block[..Self::LEN].copy_from_slice(&self.bytes);
        let mut mac = Hmac::<Sha256>::new(&block.into());
        for part in [CONTEXT, user.as_str().as_bytes(), nonce.as_bytes(), issued_at.to_string().as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// A new device token for `user`, issued at `now`.
    pub fn issue(&self, user: &UserId, now: DateTime<Utc>) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::fill(&mut nonce);
        let nonce = URL_SAFE_NO_PAD.encode(nonce);
        let issued_at = now.timestamp();
        let tag = URL_SAFE_NO_PAD.encode(self.mac(user, &nonce, issued_at).finalize().into_bytes());
        format!("{nonce}.{issued_at}.{tag}")
    }

    /// The device of `token` when it was issued for `user` under this key, no longer than
    /// [`DEVICE_LIFETIME`] before `now` (and not after it). The MAC is compared in constant time.
    pub fn verify(&self, token: &str, user: &UserId, now: DateTime<Utc>) -> Option<DeviceId> {
        let mut parts = token.split('.');
        let (nonce, issued_at, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || nonce.len() != 22 {
            return None;
        }
        let issued_at: i64 = issued_at.parse().ok()?;
        let age = now.timestamp().checked_sub(issued_at)?;
        if !(0..=DEVICE_LIFETIME.num_seconds()).contains(&age) {
            return None;
        }
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(user, nonce, issued_at).verify_slice(&tag).ok()?;
        Some(DeviceId(nonce.to_owned()))
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceKey(..)")
    }
}

/// How the device cookie is written: `HttpOnly; SameSite=Lax; Path=/`, `Secure` with the
/// `__Host-` prefix unless [`insecure_cookies`](Self::insecure_cookies) is on, and a `Max-Age` of
/// [`DEVICE_LIFETIME`].
///
/// ```
/// use auth_core::DeviceCookie;
///
/// let cookie = DeviceCookie::new();
/// assert_eq!(cookie.set("n.1.t"), "__Host-portcullis_device=n.1.t; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax; Secure");
/// assert!(DeviceCookie::new().insecure_cookies(true).set("v").starts_with("portcullis_device=v; "));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceCookie {
    /// Adds `Secure` and the `__Host-` prefix. Only [`insecure_cookies`](Self::insecure_cookies)
    /// turns it off.
    pub secure: bool,
}

impl Default for DeviceCookie {
    fn default() -> Self {
        Self::new()
    }
}

impl DeviceCookie {
    /// A secure device cookie.
    pub fn new() -> Self {
        Self { secure: true }
    }

    /// Development only: drops `Secure` (and so the `__Host-` prefix).
    pub fn insecure_cookies(mut self, insecure: bool) -> Self {
        self.secure = !insecure;
        self
    }

    /// The cookie's name: [`DEVICE_COOKIE_SECURE_NAME`] when secure, else [`DEVICE_COOKIE_NAME`].
    pub fn name(&self) -> &'static str {
        if self.secure { DEVICE_COOKIE_SECURE_NAME } else { DEVICE_COOKIE_NAME }
    }

    /// The `Set-Cookie` value that stores the device token `value`.
    pub fn set(&self, value: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        let max_age = DEVICE_LIFETIME.num_seconds();
        format!("{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}", self.name())
    }

    /// The device token a request carries under either name (`__Host-` first); `None` when it
    /// carries none, or one name twice (a cookie planted beside the real one decides nothing).
    pub fn read(headers: &HeaderMap) -> Option<&str> {
        [DEVICE_COOKIE_SECURE_NAME, DEVICE_COOKIE_NAME]
            .into_iter()
            .find_map(|name| unique_cookie_value(headers, name).ok().flatten())
    }
}
