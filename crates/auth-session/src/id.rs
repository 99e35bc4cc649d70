//! Session ids: 256 bits from a CSPRNG, base64url in the cookie, SHA-256 at rest.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use auth_token::TokenHash;

/// The number of random bytes in a session id (256 bits).
pub const SESSION_ID_BYTES: usize = 32;
/// The length of a session id's cookie value: unpadded base64url of [`SESSION_ID_BYTES`] bytes.
pub const SESSION_ID_CHARS: usize = 43;

/// Session ids: the cookie value is the unpadded base64url text of 32 CSPRNG bytes; stores keep
/// only its SHA-256 [`TokenHash`], so a leaked database yields no usable session.
///
/// ```
/// use auth_session::SessionId;
///
/// let (cookie_value, hash) = SessionId::generate();
/// assert_eq!(cookie_value.len(), 43);
/// // A request: look the session up by the hash of the presented cookie.
/// assert_eq!(SessionId::parse(&cookie_value), Some(hash));
/// assert_eq!(SessionId::parse("not a session id"), None);
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SessionId;

impl SessionId {
    /// A new session id from the thread-local CSPRNG (ChaCha, seeded from the operating system):
    /// `(cookie value, hash to store)`. Put the value in the cookie only; never store or log it.
    pub fn generate() -> (String, TokenHash) {
        let mut random = [0u8; SESSION_ID_BYTES];
        rand::fill(&mut random);
        let value = URL_SAFE_NO_PAD.encode(random);
        let hash = TokenHash::of(&value);
        (value, hash)
    }

    /// The hash to look a presented cookie value up by, or `None` when it cannot be a session id
    /// (not exactly 43 canonical base64url characters): such a cookie is simply no session.
    pub fn parse(value: &str) -> Option<TokenHash> {
        if value.len() != SESSION_ID_CHARS
            || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        // Canonical encodings only, so that one id has exactly one spelling.
        let mut decoded = [0u8; SESSION_ID_BYTES + 2];
        match URL_SAFE_NO_PAD.decode_slice(value, &mut decoded) {
            Ok(SESSION_ID_BYTES) => Some(TokenHash::of(value)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_unique_and_parse_to_their_hash() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let (value, hash) = SessionId::generate();
            assert_eq!(value.len(), SESSION_ID_CHARS);
            assert_eq!(SessionId::parse(&value).as_ref(), Some(&hash));
            assert_eq!(hash, TokenHash::of(&value));
            assert!(seen.insert(value));
        }
    }

    #[test]
    fn other_shapes_are_no_session() {
        let (value, _) = SessionId::generate();
        assert_eq!(SessionId::parse(""), None);
        assert_eq!(SessionId::parse(&value[1..]), None);
        assert_eq!(SessionId::parse(&format!("{value}A")), None);
        assert_eq!(SessionId::parse(&format!("{}+", &value[..42])), None);
        // The last character carries 2 bits: only A, Q, g and w are canonical there.
        assert_eq!(SessionId::parse(&format!("{}B", &value[..42])), None);
        assert!(SessionId::parse(&format!("{}Q", &value[..42])).is_some());
    }
}
