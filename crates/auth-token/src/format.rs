//! The shape of a secret: `<prefix>_<43 base64url characters>`, and its stored SHA-256 hash.

use std::fmt::{self, Debug};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::TokenError;

/// The default prefix of opaque tokens ("Portcullis token").
pub const OPAQUE_TOKEN_PREFIX: &str = "pct";
/// The default prefix of API keys ("Portcullis key").
pub const API_KEY_PREFIX: &str = "pck";

/// The number of random bytes in a secret (256 bits from a CSPRNG).
pub const SECRET_BYTES: usize = 32;
/// The length of the base64url (unpadded) text of [`SECRET_BYTES`] bytes.
pub const SECRET_CHARS: usize = 43;
/// The length of [`GeneratedSecret::lookup`]: the first characters of the random part, safe to
/// show in listings (they identify a secret to its owner without making it guessable).
pub const LOOKUP_CHARS: usize = 8;

/// The shortest accepted prefix.
pub const MIN_PREFIX_CHARS: usize = 2;
/// The longest accepted prefix.
pub const MAX_PREFIX_CHARS: usize = 16;

/// The format of one kind of secret: `<prefix>_<random>`, where `<random>` is the unpadded
/// base64url text of [`SECRET_BYTES`] CSPRNG bytes.
///
/// The prefix makes a leaked secret recognisable to secret scanners, and lets an authenticator
/// tell which kind of credential it was handed ([`TokenFormat::parse`]). It is 2 to 16 lowercase
/// ASCII letters or digits; [`TokenFormat::opaque_token`] (`pct`) and [`TokenFormat::api_key`]
/// (`pck`) are the defaults. In configuration files it is written as the bare prefix string.
///
/// ```
/// use auth_token::TokenFormat;
///
/// let format = TokenFormat::new("acme")?;
/// let secret = format.generate();
/// assert!(secret.token().starts_with("acme_"));
/// assert_eq!(secret.token().len(), "acme_".len() + 43);
/// assert_eq!(format.parse(secret.token()), Some(secret.hash().clone()));
/// assert_eq!(format.parse("pct_not-this-kind"), None);
/// # Ok::<(), auth_token::TokenError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenFormat {
    prefix: String,
}

impl TokenFormat {
    /// A format with this prefix: [`TokenError::InvalidPrefix`] unless it is 2 to 16 lowercase
    /// ASCII letters or digits.
    pub fn new(prefix: impl Into<String>) -> Result<Self, TokenError> {
        let prefix = prefix.into();
        let valid = (MIN_PREFIX_CHARS..=MAX_PREFIX_CHARS).contains(&prefix.len())
            && prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if valid { Ok(Self { prefix }) } else { Err(TokenError::InvalidPrefix { prefix }) }
    }

    /// The default format of opaque tokens: prefix [`OPAQUE_TOKEN_PREFIX`] (`pct`).
    pub fn opaque_token() -> Self {
        Self { prefix: OPAQUE_TOKEN_PREFIX.to_owned() }
    }

    /// The default format of API keys: prefix [`API_KEY_PREFIX`] (`pck`).
    pub fn api_key() -> Self {
        Self { prefix: API_KEY_PREFIX.to_owned() }
    }

    /// The prefix (without the `_` separator).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A new secret of this format, from the thread-local CSPRNG (ChaCha, seeded from the
    /// operating system). Show [`GeneratedSecret::token`] to its owner once; store only
    /// [`GeneratedSecret::hash`] and [`GeneratedSecret::lookup`].
    pub fn generate(&self) -> GeneratedSecret {
        let mut random = [0u8; SECRET_BYTES];
        rand::fill(&mut random);
        let encoded = URL_SAFE_NO_PAD.encode(random);
        let lookup = encoded.chars().take(LOOKUP_CHARS).collect();
        let token = format!("{}_{encoded}", self.prefix);
        let hash = TokenHash::of(&token);
        GeneratedSecret { token, hash, lookup }
    }

    /// The hash to look a presented secret up by, or `None` when it is not of this format (another
    /// prefix, or not `<prefix>_` followed by exactly 43 canonical base64url characters).
    ///
    /// `None` means "not this kind of credential" (an authenticator may try another kind);
    /// `Some(hash)` that no store knows is an invalid credential.
    pub fn parse(&self, presented: &str) -> Option<TokenHash> {
        let random = presented.strip_prefix(self.prefix.as_str())?.strip_prefix('_')?;
        if random.len() != SECRET_CHARS
            || !random.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        // Canonical encodings only (the unused low bits of the last character are zero), so that
        // one secret has exactly one spelling.
        let mut decoded = [0u8; SECRET_BYTES + 2];
        match URL_SAFE_NO_PAD.decode_slice(random, &mut decoded) {
            Ok(SECRET_BYTES) => Some(TokenHash::of(presented)),
            _ => None,
        }
    }
}

impl Default for TokenFormat {
    /// [`TokenFormat::opaque_token`].
    fn default() -> Self {
        Self::opaque_token()
    }
}

impl TryFrom<String> for TokenFormat {
    type Error = TokenError;

    fn try_from(prefix: String) -> Result<Self, Self::Error> {
        Self::new(prefix)
    }
}

impl From<TokenFormat> for String {
    fn from(format: TokenFormat) -> Self {
        format.prefix
    }
}

impl fmt::Display for TokenFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_<secret>", self.prefix)
    }
}

/// A freshly generated secret: the token to hand out once, and what to store.
///
/// Its `Debug` output redacts the token. It has no `PartialEq`: never compare a presented token
/// with a secret; look its [`TokenHash`] up instead (hash equality is constant-time).
#[derive(Clone)]
pub struct GeneratedSecret {
    token: String,
    hash: TokenHash,
    lookup: String,
}

impl GeneratedSecret {
    /// The secret itself, `<prefix>_<random>`: give it to its owner once, never store or log it.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Consumes the secret, returning the token (for a response body).
    pub fn into_token(self) -> String {
        self.token
    }

    /// The SHA-256 hash to store and look the secret up by.
    pub fn hash(&self) -> &TokenHash {
        &self.hash
    }

    /// The first [`LOOKUP_CHARS`] characters of the random part, to show in listings.
    pub fn lookup(&self) -> &str {
        &self.lookup
    }
}

impl Debug for GeneratedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedSecret")
            .field("token", &"<redacted>")
            .field("hash", &self.hash)
            .field("lookup", &self.lookup)
            .finish()
    }
}

/// The SHA-256 hash of a whole secret (prefix included), as 64 lowercase hex digits: the only form
/// in which a secret is stored.
///
/// Equality is constant-time. A secret has at least 256 bits of entropy, so a plain, unsalted
/// hash is enough: nothing can be brute-forced from it, and it can be looked up by an index.
#[derive(Clone, Eq)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hash of `token`, the whole presented string.
    pub fn of(token: &str) -> Self {
        let digest = Sha256::digest(token.as_bytes());
        let mut hex = String::with_capacity(64);
        for byte in digest.iter() {
            hex.push(hex_digit(byte >> 4));
            hex.push(hex_digit(byte & 0x0f));
        }
        Self(hex)
    }

    /// A stored hash read back: `None` unless it is 64 lowercase hex digits.
    pub fn from_hex(hex: impl Into<String>) -> Option<Self> {
        let hex = hex.into();
        let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then_some(Self(hex))
    }

    /// The 64 lowercase hex digits.
    pub fn as_hex(&self) -> &str {
        &self.0
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl std::hash::Hash for TokenHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_validated() {
        for good in ["pct", "pck", "ab", "a1b2c3d4e5f6g7h8", "42"] {
            assert!(TokenFormat::new(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "a1b2c3d4e5f6g7h8x", "Pct", "p_t", "p-t", "pct ", "pé"] {
            assert!(matches!(TokenFormat::new(bad), Err(TokenError::InvalidPrefix { .. })), "{bad:?}");
        }
        assert_eq!(TokenFormat::default(), TokenFormat::opaque_token());
        assert_eq!(TokenFormat::api_key().prefix(), "pck");
    }

    #[test]
    fn generated_secrets_have_the_documented_shape() {
        let format = TokenFormat::api_key();
        let secret = format.generate();
        let token = secret.token();
        assert_eq!(token.len(), 4 + SECRET_CHARS);
        assert!(token.starts_with("pck_"));
        assert_eq!(secret.lookup(), &token[4..12]);
        assert_eq!(secret.hash(), &TokenHash::of(token));
        assert_eq!(secret.hash().as_hex().len(), 64);
        assert_eq!(format.parse(token).as_ref(), Some(secret.hash()));
        assert_ne!(format.generate().hash(), secret.hash());
        let debug = format!("{secret:?}");
        assert!(!debug.contains(&token[4..]), "Debug redacts the token: {debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn parse_refuses_other_shapes() {
        let pct = TokenFormat::opaque_token();
        let token = pct.generate().into_token();
        let random = &token[4..];
        assert!(pct.parse(&token).is_some());
        assert_eq!(TokenFormat::api_key().parse(&token), None, "another prefix");
        assert_eq!(pct.parse(random), None, "no prefix");
        assert_eq!(pct.parse(&format!("pct-{random}")), None, "wrong separator");
        assert_eq!(pct.parse(&format!("pctx_{random}")), None, "longer prefix");
        assert_eq!(pct.parse(&token[..token.len() - 1]), None, "too short");
        assert_eq!(pct.parse(&format!("{token}A")), None, "too long");
        assert_eq!(pct.parse(&format!("pct_{}=", &random[..42])), None, "padding");
        assert_eq!(pct.parse(&format!("pct_{}+", &random[..42])), None, "standard alphabet");
        assert_eq!(pct.parse(&format!(" {token}")), None, "whitespace");
        assert_eq!(pct.parse(""), None);
        // 32 zero bytes end in "A"; "B" sets an unused low bit: not canonical.
        let zero = URL_SAFE_NO_PAD.encode([0u8; 32]);
        assert!(pct.parse(&format!("pct_{zero}")).is_some());
        assert_eq!(pct.parse(&format!("pct_{}B", &zero[..42])), None, "non-canonical last character");
    }

    #[test]
    fn hashes_are_sha256_hex_of_the_whole_token() {
        // sha256("abc")
        assert_eq!(
            TokenHash::of("abc").as_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let hash = TokenHash::of("pct_x");
        assert_eq!(TokenHash::from_hex(hash.as_hex()), Some(hash.clone()));
        assert_eq!(TokenHash::from_hex(hash.as_hex().to_uppercase()), None);
        assert_eq!(TokenHash::from_hex("abc"), None);
        assert_ne!(TokenHash::of("pct_x"), TokenHash::of("pck_x"));
    }

    #[test]
    fn formats_serialise_as_their_prefix() {
        let format = TokenFormat::new("acme").unwrap_or_default();
        assert_eq!(serde_json::to_string(&format).ok().as_deref(), Some(r#""acme""#));
        let back: Result<TokenFormat, _> = serde_json::from_str(r#""acme""#);
        assert_eq!(back.ok(), Some(format));
        assert!(serde_json::from_str::<TokenFormat>(r#""Not Valid""#).is_err());
    }
}
