//! The secrets of an email sign-in: a link token (256 random bits, stored as SHA-256) and a
//! 6-digit code (stored as an HMAC under the deployment's key, so a copy of the database does not
//! give the codes away by trying all million).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Digits in a code.
pub const CODE_DIGITS: usize = 6;

/// The key codes are hashed under: 32 random bytes, the same in every process of a deployment,
/// kept out of the database. `Debug` never shows it.
#[derive(Clone)]
pub struct CodeKey([u8; 32]);

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKey(<redacted>)")
    }
}

impl CodeKey {
    /// A key from its bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random key (a single process; several need the same key).
    pub fn generate() -> Self {
        let mut bytes = [0_u8; 32];
        rand::fill(&mut bytes);
        Self(bytes)
    }

    /// The stored form of `code` sent to `email` (normalised): HMAC-SHA256, URL-safe base64.
    pub fn digest(&self, email: &str, code: &str) -> String {
        // A 32-byte key is always a valid HMAC key.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(b"portcullis-email-sign-in-code-v1\0");
        mac.update(email.as_bytes());
        mac.update(b"\0");
        mac.update(code.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// A fresh code: 6 decimal digits, uniformly random.
pub fn generate_code() -> String {
    let n: u32 = rand::random_range(0..1_000_000);
    format!("{n:06}")
}

/// Whether `code` looks like a code (6 ASCII digits), before anything is looked up.
pub fn is_code(code: &str) -> bool {
    code.len() == CODE_DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// An address as stored and compared: trimmed, lower case.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_digests_are_keyed_and_bound_to_the_address() {
        for _ in 0..100 {
            assert!(is_code(&generate_code()));
        }
        assert!(!is_code("12345") && !is_code("1234567") && !is_code("12a456") && !is_code("١٢٣٤٥٦"));
        let key = CodeKey::new([1; 32]);
        let digest = key.digest("a@example.com", "123456");
        assert_eq!(digest, key.digest("a@example.com", "123456"));
        assert_ne!(digest, key.digest("b@example.com", "123456"));
        assert_ne!(digest, key.digest("a@example.com", "123457"));
        assert_ne!(digest, CodeKey::new([2; 32]).digest("a@example.com", "123456"));
        assert!(!format!("{key:?}").contains('1'));
        assert_eq!(normalize_email("  Alice@Example.COM "), "alice@example.com");
    }
}
