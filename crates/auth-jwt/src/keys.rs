//! Signing and verification keys: algorithms, PEM and JWK import, key generation, key sets (rotation)
//! and the published JWKS.
//!
//! A [`JwtKey`] is bound to exactly one [`JwtAlgorithm`]: the algorithm a token is verified with comes
//! from the key, never from the token header. Asymmetric keys get an RFC 7638 thumbprint as their
//! default `kid`; HMAC secrets get a stable, non-reversible id and are never published.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::rsa::{KeyPairComponents, KeySize};
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, Ed25519KeyPair,
    KeyPair as _, ParsedPublicKey, RsaKeyPair, RsaPublicKeyComponents, RsaSubjectPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Map, Value};

/// The PEM label of the text form of an HMAC secret (see [`GeneratedKey`]).
const HMAC_PEM_LABEL: &str = "PORTCULLIS HMAC SECRET";
/// Domain separation for the `kid` of HMAC secrets.
const HMAC_KID_CONTEXT: &[u8] = b"portcullis-hmac-kid";
/// The smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted (aws-lc-rs' limit), in bits.
const MAX_RSA_BITS: usize = 8192;

// ---------------------------------------------------------------------------------------------------
// Algorithms
// ---------------------------------------------------------------------------------------------------

/// A JWS algorithm Portcullis signs and verifies with. `none` does not exist here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256 (shared secret of at least 32 bytes).
    HS256,
    /// HMAC with SHA-384 (shared secret of at least 48 bytes).
    HS384,
    /// HMAC with SHA-512 (shared secret of at least 64 bytes).
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RSA key of at least 2048 bits).
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384 and MGF1 with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512 and MGF1 with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512 (signed and verified with aws-lc-rs directly: jsonwebtoken has
    /// no ES512).
    ES512,
    /// EdDSA with Ed25519.
    EdDSA,
}

impl JwtAlgorithm {
    /// Every supported algorithm, in a stable order.
    pub const ALL: &'static [JwtAlgorithm] = &[
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::ES512,
        Self::EdDSA,
    ];

    /// The JWS name of the algorithm (`"HS256"`, ..., `"EdDSA"`), as it appears in the `alg` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Whether this is a shared-secret (HMAC) algorithm.
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    /// The `jsonwebtoken` algorithm; `None` for `ES512`, which jsonwebtoken does not have (EC keys
    /// sign and verify with aws-lc-rs directly).
    pub(crate) fn to_jsonwebtoken(self) -> Option<jsonwebtoken::Algorithm> {
        use jsonwebtoken::Algorithm as A;
        Some(match self {
            Self::HS256 => A::HS256,
            Self::HS384 => A::HS384,
            Self::HS512 => A::HS512,
            Self::RS256 => A::RS256,
            Self::RS384 => A::RS384,
            Self::RS512 => A::RS512,
            Self::PS256 => A::PS256,
            Self::PS384 => A::PS384,
            Self::PS512 => A::PS512,
            Self::ES256 => A::ES256,
            Self::ES384 => A::ES384,
            Self::ES512 => return None,
            Self::EdDSA => A::EdDSA,
        })
    }

    /// The asymmetric key type this algorithm needs (`None` for HMAC).
    fn key_type(self) -> Option<KeyType> {
        match self {
            Self::HS256 | Self::HS384 | Self::HS512 => None,
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                Some(KeyType::Rsa)
            }
            Self::ES256 => Some(KeyType::Ec(Curve::P256)),
            Self::ES384 => Some(KeyType::Ec(Curve::P384)),
            Self::ES512 => Some(KeyType::Ec(Curve::P521)),
            Self::EdDSA => Some(KeyType::Ed25519),
        }
    }

    /// The minimum HMAC secret length in bytes (the hash output size, RFC 7518 section 3.2).
    fn min_secret_len(self) -> usize {
        match self {
            Self::HS384 => 48,
            Self::HS512 => 64,
            _ => 32,
        }
    }
}

impl JwtAlgorithm {
    /// The algorithm a token header names: exactly its registered name (`RS256`, never `rs256`
    /// or ` RS256`), and never `none`.
    pub fn from_header(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|alg| alg.as_str() == name)
    }
}

impl FromStr for JwtAlgorithm {
    type Err = KeyError;

    /// Parses an algorithm name from configuration, ignoring ASCII case and surrounding space.
    /// `none` and unknown names are refused. (A token's header is read with
    /// [`JwtAlgorithm::from_header`], which is exact.)
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Self::ALL.iter().copied().find(|alg| alg.as_str().eq_ignore_ascii_case(name)).ok_or_else(|| {
            // The name may come from an untrusted token header: keep the error message short.
            KeyError::UnsupportedAlgorithm(name.chars().take(32).collect())
        })
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An elliptic curve Portcullis supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            "P-521" => Some(Self::P521),
            _ => None,
        }
    }

    /// Length in bytes of one coordinate (and of the private scalar).
    fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    fn algorithm(self) -> JwtAlgorithm {
        match self {
            Self::P256 => JwtAlgorithm::ES256,
            Self::P384 => JwtAlgorithm::ES384,
            Self::P521 => JwtAlgorithm::ES512,
        }
    }

    fn signing(self) -> &'static EcdsaSigningAlgorithm {
        match self {
            Self::P256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            Self::P384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            Self::P521 => &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
        }
    }

    fn verification(self) -> &'static EcdsaVerificationAlgorithm {
        match self {
            Self::P256 => &sig::ECDSA_P256_SHA256_FIXED,
            Self::P384 => &sig::ECDSA_P384_SHA384_FIXED,
            Self::P521 => &sig::ECDSA_P521_SHA512_FIXED,
        }
    }
}

/// The type of an asymmetric key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    Ec(Curve),
    Ed25519,
}

impl KeyType {
    fn describe(self) -> &'static str {
        match self {
            Self::Rsa => "an RSA key",
            Self::Ec(Curve::P256) => "an EC P-256 key",
            Self::Ec(Curve::P384) => "an EC P-384 key",
            Self::Ec(Curve::P521) => "an EC P-521 key",
            Self::Ed25519 => "an Ed25519 key",
        }
    }
}

/// Checks that a key of type `found` may be used with `alg`.
fn check_key_type(alg: JwtAlgorithm, found: KeyType) -> Result<(), KeyError> {
    match alg.key_type() {
        Some(expected) if expected == found => Ok(()),
        _ => Err(KeyError::AlgorithmMismatch { expected: alg, found: found.describe().to_owned() }),
    }
}

// ---------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------

/// Why a key could not be built, loaded or stored. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The algorithm name is unknown or not allowed (`none`).
    #[error("unsupported JWT algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The HMAC secret is shorter than the hash output of its algorithm.
    #[error("HMAC secret too short: HS256 needs at least 32 bytes, HS384 48 and HS512 64")]
    WeakSecret,
    /// The RSA key is smaller than 2048 bits.
    #[error("RSA key too small: at least 2048 bits are required")]
    WeakKey,
    /// The key material could not be parsed or is inconsistent.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The key does not fit the requested algorithm (or a stored key has another algorithm).
    #[error("key does not fit algorithm {expected}: found {found}")]
    AlgorithmMismatch {
        /// The algorithm that was asked for.
        expected: JwtAlgorithm,
        /// What was found instead: a key type (`"an RSA key"`) or an algorithm name.
        found: String,
    },
    /// A verification-only key was given where a signing key is needed.
    #[error("the key can only verify tokens, not sign them")]
    NotASigningKey,
    /// A well-formed key of a kind Portcullis does not support (encrypted PEM, secp256k1, Ed448, ...).
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// A key store name that is not a plain file name (see `FileKeyStore`).
    #[error("invalid key name {0:?}: use letters, digits, '-', '_' and '.', not starting with '.'")]
    InvalidName(String),
    /// Reading or writing a key store failed.
    #[error("key store I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

impl KeyError {
    fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidKey(message.into())
    }

    /// Maps an aws-lc-rs rejection, turning "too small" into [`KeyError::WeakKey`].
    fn rejected(what: &str, rejected: KeyRejected) -> Self {
        match rejected.description_() {
            "TooSmall" => Self::WeakKey,
            reason => Self::InvalidKey(format!("{what} rejected ({reason})")),
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------------

/// The public half of an asymmetric key, validated.
#[derive(Clone)]
enum PublicParts {
    /// Big-endian modulus and exponent, without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// Affine coordinates, each exactly `curve.coordinate_len()` bytes, and the key parsed once for
    /// verification.
    Ec { curve: Curve, x: Vec<u8>, y: Vec<u8>, verifying: ParsedPublicKey },
    /// The 32-byte public key.
    Ed25519 { x: Vec<u8> },
}

impl PublicParts {
    fn rsa(n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = bit_len(n);
        if bits < MIN_RSA_BITS {
            return Err(KeyError::WeakKey);
        }
        if bits > MAX_RSA_BITS {
            return Err(KeyError::Unsupported(format!("RSA keys larger than {MAX_RSA_BITS} bits")));
        }
        RsaPublicKeyComponents { n, e }
            .as_der()
            .map_err(|_| KeyError::invalid("RSA public key is not valid"))?;
        Ok(Self::Rsa { n: n.to_vec(), e: e.to_vec() })
    }

    /// From an uncompressed SEC1 point (`0x04 || x || y`).
    fn ec(curve: Curve, point: &[u8]) -> Result<Self, KeyError> {
        let len = curve.coordinate_len();
        let coordinates = match point.split_first() {
            Some((0x04, rest)) if rest.len() == 2 * len => rest,
            Some((0x02 | 0x03, _)) => {
                return Err(KeyError::Unsupported("compressed EC public keys".to_owned()));
            }
            _ => return Err(KeyError::invalid(format!("not a {} public point", curve.name()))),
        };
        let verifying = ParsedPublicKey::new(curve.verification(), point)
            .map_err(|_| KeyError::invalid(format!("not a point on {}", curve.name())))?;
        let (x, y) = coordinates.split_at(len);
        Ok(Self::Ec { curve, x: x.to_vec(), y: y.to_vec(), verifying })
    }

    fn ed25519(x: &[u8]) -> Result<Self, KeyError> {
        if x.len() != sig::ED25519_PUBLIC_KEY_LEN {
            return Err(KeyError::invalid("an Ed25519 public key has 32 bytes"));
        }
        ParsedPublicKey::new(&sig::ED25519, x)
            .map_err(|_| KeyError::invalid("Ed25519 public key is not valid"))?;
        Ok(Self::Ed25519 { x: x.to_vec() })
    }

    fn decoding_key(&self) -> DecodingKey {
        match self {
            Self::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
            Self::Ec { x, y, .. } => {
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                DecodingKey::from_ec_der(&point)
            }
            Self::Ed25519 { x } => DecodingKey::from_ed_der(x),
        }
    }

    /// The required JWK members (RFC 7638 section 3.2), base64url-encoded.
    fn jwk_members(&self) -> Vec<(&'static str, String)> {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match self {
            Self::Rsa { n, e } => vec![("e", b64(e)), ("kty", "RSA".to_owned()), ("n", b64(n))],
            Self::Ec { curve, x, y, .. } => {
                vec![("crv", curve.name().to_owned()), ("kty", "EC".to_owned()), ("x", b64(x)), ("y", b64(y))]
            }
            Self::Ed25519 { x } => {
                vec![("crv", "Ed25519".to_owned()), ("kty", "OKP".to_owned()), ("x", b64(x))]
            }
        }
    }

    /// The RFC 7638 SHA-256 JWK thumbprint, base64url-encoded.
    fn thumbprint(&self) -> String {
        // Members in lexicographic order, no whitespace. The values are base64url or fixed names,
        // so no JSON escaping is ever needed.
        let body = self
            .jwk_members()
            .into_iter()
            .map(|(name, value)| format!("\"{name}\":\"{value}\""))
            .collect::<Vec<_>>()
            .join(",");
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("{{{body}}}").as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }
}

/// One key: signs (if it holds a private key or an HMAC secret) and verifies tokens of exactly one
/// algorithm.
///
/// `Debug` shows only the `kid`, the algorithm and whether the key can sign.
#[derive(Clone)]
pub struct JwtKey {
    alg: JwtAlgorithm,
    kid: String,
    public: Option<PublicParts>,
    /// The private half (or the HMAC secret); `None` for verification-only keys.
    signer: Option<Signer>,
    decoding: DecodingKey,
    /// For HMAC keys: the prepared key, so verification does no per-token key set-up.
    hmac: Option<aws_lc_rs::hmac::Key>,
}

/// What signs for a [`JwtKey`].
#[derive(Clone)]
enum Signer {
    /// An RSA or Ed25519 key, or an HMAC secret, signing through jsonwebtoken.
    Jsonwebtoken(EncodingKey),
    /// An EC key, parsed once, signing with aws-lc-rs directly (jsonwebtoken has no ES512).
    Ecdsa(Arc<EcdsaKeyPair>),
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("can_sign", &self.can_sign())
            .finish_non_exhaustive()
    }
}

impl JwtKey {
    /// An HMAC key. `alg` must be `HS256`, `HS384` or `HS512`, and the secret at least as long as the
    /// hash output (32, 48 or 64 bytes), else [`KeyError::WeakSecret`]. Use a random secret (see
    /// [`generate_key`]), not a password.
    ///
    /// The default `kid` is derived from the secret by a one-way hash, so it is stable and does not
    /// reveal the secret.
    pub fn hmac(alg: JwtAlgorithm, secret: &[u8]) -> Result<Self, KeyError> {
        if !alg.is_hmac() {
            return Err(KeyError::AlgorithmMismatch { expected: alg, found: "an HMAC secret".to_owned() });
        }
        if secret.len() < alg.min_secret_len() {
            return Err(KeyError::WeakSecret);
        }
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        context.update(HMAC_KID_CONTEXT);
        context.update(secret);
        let kid: String = URL_SAFE_NO_PAD.encode(context.finish().as_ref()).chars().take(16).collect();
        let hmac_alg = match alg {
            JwtAlgorithm::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
            JwtAlgorithm::HS512 => aws_lc_rs::hmac::HMAC_SHA512,
            _ => aws_lc_rs::hmac::HMAC_SHA256,
        };
        Ok(Self {
            alg,
            kid,
            public: None,
            signer: Some(Signer::Jsonwebtoken(EncodingKey::from_secret(secret))),
            decoding: DecodingKey::from_secret(secret),
            hmac: Some(aws_lc_rs::hmac::Key::new(hmac_alg, secret)),
        })
    }

    /// A signing key from a PEM private key:
    ///
    /// - RSA (`RS*`, `PS*`): PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`, at least 2048 bits
    ///   (else [`KeyError::WeakKey`]);
    /// - EC (`ES256` on P-256, `ES384` on P-384, `ES512` on P-521): PKCS#8 `PRIVATE KEY` or SEC1
    ///   `EC PRIVATE KEY` (an `EC PARAMETERS` block before it is skipped);
    /// - Ed25519 (`EdDSA`): PKCS#8 `PRIVATE KEY`.
    ///
    /// The key type must match `alg` (else [`KeyError::AlgorithmMismatch`]). For an HMAC algorithm
    /// the text must be the `PORTCULLIS HMAC SECRET` block of [`GeneratedKey`]. Encrypted keys are
    /// [`KeyError::Unsupported`].
    pub fn from_private_pem(alg: JwtAlgorithm, pem: &[u8]) -> Result<Self, KeyError> {
        let blocks = pem::parse_blocks(pem)?;
        if alg.is_hmac() {
            let block = blocks
                .iter()
                .find(|block| block.label == HMAC_PEM_LABEL)
                .ok_or_else(|| KeyError::invalid(format!("expected a {HMAC_PEM_LABEL} block")))?;
            return Self::hmac(alg, &block.der);
        }
        let mut found_public = false;
        for block in &blocks {
            match block.label.as_str() {
                "PRIVATE KEY" => return Self::from_pkcs8(alg, &block.der),
                "RSA PRIVATE KEY" => {
                    check_key_type(alg, KeyType::Rsa)?;
                    let pair = RsaKeyPair::from_der(&block.der)
                        .map_err(|e| KeyError::rejected("RSA private key", e))?;
                    return Self::from_rsa_pair(alg, &pair);
                }
                "EC PRIVATE KEY" => return Self::from_sec1(alg, &block.der),
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(KeyError::Unsupported("encrypted private keys".to_owned()));
                }
                "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => found_public = true,
                _ => {}
            }
        }
        Err(KeyError::invalid(if found_public {
            "expected a private key, found only a public key"
        } else {
            "no private key PEM block found"
        }))
    }

    /// A verification-only key from a PEM public key: SPKI `PUBLIC KEY` (RSA, EC, Ed25519) or
    /// PKCS#1 `RSA PUBLIC KEY`. The key type must match `alg`; RSA keys need at least 2048 bits.
    pub fn from_public_pem(alg: JwtAlgorithm, pem: &[u8]) -> Result<Self, KeyError> {
        if alg.is_hmac() {
            return Err(KeyError::AlgorithmMismatch { expected: alg, found: "a public key".to_owned() });
        }
        let blocks = pem::parse_blocks(pem)?;
        let mut found_private = false;
        for block in &blocks {
            match block.label.as_str() {
                "PUBLIC KEY" => {
                    let (key_type, key_bits) = der::spki(&block.der)?;
                    check_key_type(alg, key_type)?;
                    let public = match key_type {
                        KeyType::Rsa => rsa_public_from_der(&block.der)?,
                        KeyType::Ec(curve) => PublicParts::ec(curve, key_bits)?,
                        KeyType::Ed25519 => PublicParts::ed25519(key_bits)?,
                    };
                    return Ok(Self::verify_only(alg, public));
                }
                "RSA PUBLIC KEY" => {
                    check_key_type(alg, KeyType::Rsa)?;
                    return Ok(Self::verify_only(alg, rsa_public_from_der(&block.der)?));
                }
                "CERTIFICATE" => {
                    return Err(KeyError::Unsupported("certificates; extract the public key".to_owned()));
                }
                label if label.contains("PRIVATE KEY") => found_private = true,
                _ => {}
            }
        }
        Err(KeyError::invalid(if found_private {
            "expected a public key, found a private key"
        } else {
            "no public key PEM block found"
        }))
    }

    /// A key from a JSON Web Key (RFC 7517).
    ///
    /// - `kty` `RSA` (`n`, `e`), `EC` (`crv` `P-256`/`P-384`/`P-521`, `x`, `y`) and `OKP` (`crv`
    ///   `Ed25519`, `x`) give verification-only keys; with their private members (`d`, and for RSA
    ///   also `p`, `q`, `dp`, `dq`, `qi`) they give signing keys. Multi-prime RSA (`oth`) is
    ///   unsupported.
    /// - `kty` `oct` (`k`) gives an HMAC key (the length rules of [`JwtKey::hmac`] apply).
    ///
    /// The algorithm is `alg` if given, else the JWK's `alg` member; when both are present they
    /// must agree. EC and OKP keys imply their algorithm; RSA and `oct` keys need one of the two.
    /// The key's `kid` is the JWK's `kid` member when present, else the default (thumbprint).
    /// A JWK whose `use` is not `sig` is refused.
    pub fn from_jwk(jwk: &Value, alg: Option<JwtAlgorithm>) -> Result<Self, KeyError> {
        let jwk = jwk.as_object().ok_or_else(|| KeyError::invalid("a JWK must be a JSON object"))?;
        let jwk_alg = match jwk.get("alg") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name.parse::<JwtAlgorithm>()?),
            Some(_) => return Err(KeyError::invalid("JWK member \"alg\" must be a string")),
        };
        let alg = match (alg, jwk_alg) {
            (Some(wanted), Some(stated)) if wanted != stated => {
                return Err(KeyError::AlgorithmMismatch {
                    expected: wanted,
                    found: format!("a JWK for {stated}"),
                });
            }
            (Some(alg), _) | (None, Some(alg)) => Some(alg),
            (None, None) => None,
        };
        match jwk.get("use") {
            None | Some(Value::Null) => {}
            Some(Value::String(usage)) if usage == "sig" => {}
            Some(_) => return Err(KeyError::invalid("the JWK is not meant for signatures (\"use\")")),
        }
        let kty = jwk_str(jwk, "kty")?;
        let key = match kty {
            "RSA" => {
                let alg = alg.ok_or_else(|| {
                    KeyError::invalid("an RSA JWK needs an algorithm (\"alg\" member or argument)")
                })?;
                check_key_type(alg, KeyType::Rsa)?;
                Self::rsa_from_jwk(jwk, alg)?
            }
            "EC" => {
                let crv = jwk_str(jwk, "crv")?;
                let curve = Curve::from_name(crv)
                    .ok_or_else(|| KeyError::Unsupported(format!("EC curve {crv:?}")))?;
                let alg = alg.unwrap_or(curve.algorithm());
                check_key_type(alg, KeyType::Ec(curve))?;
                Self::ec_from_jwk(jwk, alg, curve)?
            }
            "OKP" => {
                let crv = jwk_str(jwk, "crv")?;
                if crv != "Ed25519" {
                    return Err(KeyError::Unsupported(format!("OKP curve {crv:?}")));
                }
                let alg = alg.unwrap_or(JwtAlgorithm::EdDSA);
                check_key_type(alg, KeyType::Ed25519)?;
                let x = jwk_bytes(jwk, "x")?;
                match jwk_opt_bytes(jwk, "d")? {
                    None => Self::verify_only(alg, PublicParts::ed25519(&x)?),
                    Some(seed) => {
                        let pair = Ed25519KeyPair::from_seed_and_public_key(&seed, &x)
                            .map_err(|e| KeyError::rejected("Ed25519 private JWK", e))?;
                        Self::from_ed_pair(alg, &pair)?
                    }
                }
            }
            "oct" => {
                let alg = alg.ok_or_else(|| {
                    KeyError::invalid("an oct JWK needs an algorithm (\"alg\" member or argument)")
                })?;
                if !alg.is_hmac() {
                    return Err(KeyError::AlgorithmMismatch {
                        expected: alg,
                        found: "an HMAC secret".to_owned(),
                    });
                }
                Self::hmac(alg, &jwk_bytes(jwk, "k")?)?
            }
            other => return Err(KeyError::Unsupported(format!("JWK key type {other:?}"))),
        };
        Ok(match jwk.get("kid") {
            Some(Value::String(kid)) if !kid.is_empty() => key.with_kid(kid.as_str()),
            _ => key,
        })
    }

    /// Replaces the key id (the `kid` header of issued tokens and the `kid` of the published JWK).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// The key id. By default the RFC 7638 SHA-256 JWK thumbprint (base64url) for asymmetric keys,
    /// and a 16-character one-way id of the secret for HMAC keys.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key signs and verifies.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.alg
    }

    /// Whether the key can sign (it holds a private key or an HMAC secret).
    pub fn can_sign(&self) -> bool {
        self.signer.is_some()
    }

    /// The public JWK with `kid`, `alg` and `"use": "sig"`; never private members. `None` for HMAC
    /// keys, which are never published.
    pub fn public_jwk(&self) -> Option<Value> {
        let public = self.public.as_ref()?;
        let mut jwk = Map::new();
        for (name, value) in public.jwk_members() {
            jwk.insert(name.to_owned(), Value::String(value));
        }
        jwk.insert("kid".to_owned(), Value::String(self.kid.clone()));
        jwk.insert("alg".to_owned(), Value::String(self.alg.as_str().to_owned()));
        jwk.insert("use".to_owned(), Value::String("sig".to_owned()));
        Some(Value::Object(jwk))
    }

    /// A `jsonwebtoken` signing key (for EC keys, which sign with aws-lc-rs, one made from the
    /// PKCS#8 export), `None` for verification-only keys: for tests that check against jsonwebtoken.
    #[cfg(test)]
    pub(crate) fn encoding_key(&self) -> Option<EncodingKey> {
        match self.signer.as_ref()? {
            Signer::Jsonwebtoken(key) => Some(key.clone()),
            Signer::Ecdsa(pair) => {
                pair.to_pkcs8v1().ok().map(|pkcs8| EncodingKey::from_ec_der(pkcs8.as_ref()))
            }
        }
    }

    /// The base64url signature of `message` (a token's `header.payload`) under this key and its
    /// algorithm. [`KeyError::NotASigningKey`] for a verification-only key. ECDSA signatures are
    /// the fixed-length `r || s` of RFC 7518 section 3.4 (64, 96 and 132 bytes).
    pub(crate) fn sign(&self, message: &[u8]) -> Result<String, KeyError> {
        match &self.signer {
            None => Err(KeyError::NotASigningKey),
            Some(Signer::Ecdsa(pair)) => {
                let signature = pair
                    .sign(&aws_lc_rs::rand::SystemRandom::new(), message)
                    .map_err(|_| KeyError::invalid("ECDSA signing failed"))?;
                Ok(URL_SAFE_NO_PAD.encode(signature.as_ref()))
            }
            Some(Signer::Jsonwebtoken(key)) => {
                if let Some(hmac) = &self.hmac {
                    return Ok(URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(hmac, message).as_ref()));
                }
                let alg = self.alg.to_jsonwebtoken().ok_or_else(|| {
                    KeyError::Unsupported(format!("signing {} through jsonwebtoken", self.alg))
                })?;
                jsonwebtoken::crypto::sign(message, key, alg)
                    .map_err(|e| KeyError::invalid(format!("signing failed ({e})")))
            }
        }
    }

    /// The `jsonwebtoken` verification key.
    #[cfg(test)]
    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// Whether `signature` (the token's third part, base64url) signs `message` (`header.payload`)
    /// under this key and its algorithm. HMAC comparisons are constant-time. (A token's header is
    /// checked first: see [`CompactJws`](crate::CompactJws).)
    pub fn verify_signature(&self, message: &[u8], signature: &str) -> bool {
        if let Some(key) = &self.hmac {
            let mut raw = [0u8; 96];
            return match URL_SAFE_NO_PAD.decode_slice(signature, &mut raw) {
                Ok(len) => {
                    raw.get(..len).is_some_and(|tag| aws_lc_rs::hmac::verify(key, message, tag).is_ok())
                }
                Err(_) => false,
            };
        }
        if let Some(PublicParts::Ec { curve, verifying, .. }) = &self.public {
            // Fixed-length `r || s` (RFC 7518 section 3.4): 132 bytes at most, for P-521.
            let mut raw = [0u8; 144];
            return match URL_SAFE_NO_PAD.decode_slice(signature, &mut raw) {
                Ok(len) => {
                    len == 2 * curve.coordinate_len()
                        && raw.get(..len).is_some_and(|sig| verifying.verify_sig(message, sig).is_ok())
                }
                Err(_) => false,
            };
        }
        // Every algorithm jsonwebtoken lacks (ES512) is an EC one, verified above.
        self.alg.to_jsonwebtoken().is_some_and(|alg| {
            jsonwebtoken::crypto::verify(signature, message, &self.decoding, alg).unwrap_or(false)
        })
    }

    fn verify_only(alg: JwtAlgorithm, public: PublicParts) -> Self {
        Self::with_public(alg, public, None)
    }

    fn with_public(alg: JwtAlgorithm, public: PublicParts, signer: Option<Signer>) -> Self {
        Self {
            alg,
            kid: public.thumbprint(),
            decoding: public.decoding_key(),
            public: Some(public),
            signer,
            hmac: None,
        }
    }

    fn from_pkcs8(alg: JwtAlgorithm, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let key_type = der::pkcs8_key_type(pkcs8)?;
        check_key_type(alg, key_type)?;
        match key_type {
            KeyType::Rsa => {
                let pair =
                    RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| KeyError::rejected("RSA private key", e))?;
                Self::from_rsa_pair(alg, &pair)
            }
            KeyType::Ec(curve) => {
                let pair = EcdsaKeyPair::from_pkcs8(curve.signing(), pkcs8)
                    .map_err(|e| KeyError::rejected("EC private key", e))?;
                Self::from_ec_pair(alg, curve, pair)
            }
            KeyType::Ed25519 => {
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
                    .map_err(|e| KeyError::rejected("Ed25519 private key", e))?;
                Self::from_ed_pair(alg, &pair)
            }
        }
    }

    fn from_sec1(alg: JwtAlgorithm, sec1: &[u8]) -> Result<Self, KeyError> {
        let curve = match (der::sec1_curve(sec1)?, alg.key_type()) {
            (Some(curve), _) | (None, Some(KeyType::Ec(curve))) => curve,
            (None, _) => {
                return Err(KeyError::AlgorithmMismatch { expected: alg, found: "an EC key".to_owned() });
            }
        };
        check_key_type(alg, KeyType::Ec(curve))?;
        let pair = EcdsaKeyPair::from_private_key_der(curve.signing(), sec1)
            .map_err(|e| KeyError::rejected("EC private key", e))?;
        Self::from_ec_pair(alg, curve, pair)
    }

    fn from_rsa_pair(alg: JwtAlgorithm, pair: &RsaKeyPair) -> Result<Self, KeyError> {
        let public_key = pair.public_key();
        let public = PublicParts::rsa(
            public_key.modulus().big_endian_without_leading_zero(),
            public_key.exponent().big_endian_without_leading_zero(),
        )?;
        // jsonwebtoken signs RSA with a PKCS#1 `RSAPrivateKey`: take it out of the PKCS#8 export.
        let pkcs8 = pair.as_der().map_err(|_| KeyError::invalid("RSA private key cannot be exported"))?;
        let pkcs1 = der::pkcs8_private_key(pkcs8.as_ref())?;
        Ok(Self::with_public(alg, public, Some(Signer::Jsonwebtoken(EncodingKey::from_rsa_der(pkcs1)))))
    }

    fn from_ec_pair(alg: JwtAlgorithm, curve: Curve, pair: EcdsaKeyPair) -> Result<Self, KeyError> {
        let public = PublicParts::ec(curve, pair.public_key().as_ref())?;
        Ok(Self::with_public(alg, public, Some(Signer::Ecdsa(Arc::new(pair)))))
    }

    fn from_ed_pair(alg: JwtAlgorithm, pair: &Ed25519KeyPair) -> Result<Self, KeyError> {
        let public = PublicParts::ed25519(pair.public_key().as_ref())?;
        let pkcs8 =
            pair.to_pkcs8v1().map_err(|_| KeyError::invalid("Ed25519 private key cannot be exported"))?;
        Ok(Self::with_public(
            alg,
            public,
            Some(Signer::Jsonwebtoken(EncodingKey::from_ed_der(pkcs8.as_ref()))),
        ))
    }

    fn rsa_from_jwk(jwk: &Map<String, Value>, alg: JwtAlgorithm) -> Result<Self, KeyError> {
        let n = jwk_bytes(jwk, "n")?;
        let e = jwk_bytes(jwk, "e")?;
        let Some(d) = jwk_opt_bytes(jwk, "d")? else {
            return Ok(Self::verify_only(alg, PublicParts::rsa(&n, &e)?));
        };
        if jwk.contains_key("oth") {
            return Err(KeyError::Unsupported("multi-prime RSA keys".to_owned()));
        }
        let crt = |name: &str| {
            jwk_opt_bytes(jwk, name)?.ok_or_else(|| {
                KeyError::Unsupported(format!("RSA private JWK without the CRT parameter {name:?}"))
            })
        };
        let (p, q, dp, dq, qi) = (crt("p")?, crt("q")?, crt("dp")?, crt("dq")?, crt("qi")?);
        // Check the size first, so that a small key is reported as weak rather than invalid.
        PublicParts::rsa(&n, &e)?;
        let components = KeyPairComponents {
            public_key: RsaPublicKeyComponents { n: strip_leading_zeros(&n), e: strip_leading_zeros(&e) },
            d: d.as_slice(),
            p: p.as_slice(),
            q: q.as_slice(),
            dP: dp.as_slice(),
            dQ: dq.as_slice(),
            qInv: qi.as_slice(),
        };
        let pair =
            RsaKeyPair::from_components(&components).map_err(|e| KeyError::rejected("RSA private JWK", e))?;
        Self::from_rsa_pair(alg, &pair)
    }

    fn ec_from_jwk(jwk: &Map<String, Value>, alg: JwtAlgorithm, curve: Curve) -> Result<Self, KeyError> {
        let len = curve.coordinate_len();
        let x = jwk_bytes(jwk, "x")?;
        let y = jwk_bytes(jwk, "y")?;
        if x.len() != len || y.len() != len {
            return Err(KeyError::invalid(format!("{} coordinates have {len} bytes", curve.name())));
        }
        let mut point = Vec::with_capacity(1 + 2 * len);
        point.push(0x04);
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        match jwk_opt_bytes(jwk, "d")? {
            None => Ok(Self::verify_only(alg, PublicParts::ec(curve, &point)?)),
            Some(d) => {
                if d.len() != len {
                    return Err(KeyError::invalid(format!("{} private keys have {len} bytes", curve.name())));
                }
                let pair = EcdsaKeyPair::from_private_key_and_public_key(curve.signing(), &d, &point)
                    .map_err(|e| KeyError::rejected("EC private JWK", e))?;
                Self::from_ec_pair(alg, curve, pair)
            }
        }
    }
}

/// Parses a DER RSA public key (PKCS#1 `RSAPublicKey` or SPKI).
fn rsa_public_from_der(der: &[u8]) -> Result<PublicParts, KeyError> {
    let key = RsaSubjectPublicKey::from_der(der).map_err(|e| KeyError::rejected("RSA public key", e))?;
    PublicParts::rsa(
        key.modulus().big_endian_without_leading_zero(),
        key.exponent().big_endian_without_leading_zero(),
    )
}

fn jwk_str<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, KeyError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| KeyError::invalid(format!("JWK member {name:?} is missing or not a string")))
}

fn jwk_bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, KeyError> {
    jwk_opt_bytes(jwk, name)?.ok_or_else(|| KeyError::invalid(format!("JWK member {name:?} is missing")))
}

fn jwk_opt_bytes(jwk: &Map<String, Value>, name: &str) -> Result<Option<Vec<u8>>, KeyError> {
    match jwk.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map(Some)
            .map_err(|_| KeyError::invalid(format!("JWK member {name:?} is not base64url"))),
        Some(_) => Err(KeyError::invalid(format!("JWK member {name:?} must be a string"))),
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Bit length of a big-endian unsigned integer.
fn bit_len(bytes: &[u8]) -> usize {
    let bytes = strip_leading_zeros(bytes);
    match bytes.first() {
        None => 0,
        Some(first) => bytes.len() * 8 - first.leading_zeros() as usize,
    }
}

// ---------------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------------

/// A freshly generated key in storable form.
///
/// `Debug` redacts `private_pem`.
#[derive(Clone)]
pub struct GeneratedKey {
    /// The algorithm the key is for.
    pub algorithm: JwtAlgorithm,
    /// The private key: PKCS#8 `PRIVATE KEY` PEM, or for HMAC a
    /// `-----BEGIN PORTCULLIS HMAC SECRET-----` block holding the base64 secret.
    pub private_pem: String,
    /// The SPKI `PUBLIC KEY` PEM; `None` for HMAC.
    pub public_pem: Option<String>,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("algorithm", &self.algorithm)
            .field("private_pem", &"[redacted]")
            .field("public_pem", &self.public_pem)
            .finish()
    }
}

impl GeneratedKey {
    /// Parses `private_pem` into a signing key (see [`key_from_private_text`]).
    pub fn to_key(&self) -> Result<JwtKey, KeyError> {
        key_from_private_text(self.algorithm, self.private_pem.as_bytes())
    }
}

/// Generates a key for `alg`: RSA-2048 for `RS*`/`PS*`, P-256 for `ES256`, P-384 for `ES384`,
/// P-521 for `ES512`, Ed25519 for `EdDSA`, and for HMAC a random secret as long as the hash output
/// (32, 48 or 64 bytes). All randomness comes from aws-lc's CSPRNG.
pub fn generate_key(alg: JwtAlgorithm) -> Result<GeneratedKey, KeyError> {
    let failed = |what: &str| KeyError::invalid(format!("{what} key generation failed"));
    let (private_der, label, public_der) = match alg.key_type() {
        None => {
            let mut secret = vec![0_u8; alg.min_secret_len()];
            aws_lc_rs::rand::fill(&mut secret).map_err(|_| failed("HMAC"))?;
            let private_pem = pem::encode(HMAC_PEM_LABEL, &secret);
            secret.fill(0);
            return Ok(GeneratedKey { algorithm: alg, private_pem, public_pem: None });
        }
        Some(KeyType::Rsa) => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| failed("RSA"))?;
            let private = pair.as_der().map_err(|_| failed("RSA"))?;
            let public = pair.public_key().as_der().map_err(|_| failed("RSA"))?;
            (private.as_ref().to_vec(), "PRIVATE KEY", public.as_ref().to_vec())
        }
        Some(KeyType::Ec(curve)) => {
            let pair = EcdsaKeyPair::generate(curve.signing()).map_err(|_| failed("EC"))?;
            let private = pair.to_pkcs8v1().map_err(|_| failed("EC"))?;
            let public = pair.public_key().as_der().map_err(|_| failed("EC"))?;
            (private.as_ref().to_vec(), "PRIVATE KEY", public.as_ref().to_vec())
        }
        Some(KeyType::Ed25519) => {
            let pair = Ed25519KeyPair::generate().map_err(|_| failed("Ed25519"))?;
            let private = pair.to_pkcs8v1().map_err(|_| failed("Ed25519"))?;
            let public = pair.public_key().as_der().map_err(|_| failed("Ed25519"))?;
            (private.as_ref().to_vec(), "PRIVATE KEY", public.as_ref().to_vec())
        }
    };
    let mut private_der = private_der;
    let private_pem = pem::encode(label, &private_der);
    private_der.fill(0);
    Ok(GeneratedKey { algorithm: alg, private_pem, public_pem: Some(pem::encode("PUBLIC KEY", &public_der)) })
}

/// A signing key from its stored text: the `PORTCULLIS HMAC SECRET` block for HMAC algorithms, a
/// PEM private key otherwise (see [`JwtKey::from_private_pem`]). Used by key stores and the server.
pub fn key_from_private_text(alg: JwtAlgorithm, text: &[u8]) -> Result<JwtKey, KeyError> {
    JwtKey::from_private_pem(alg, text)
}

// ---------------------------------------------------------------------------------------------------
// Key sets
// ---------------------------------------------------------------------------------------------------

/// Several keys: one signs, all verify. Rotate by making the new key the signing key and keeping the
/// old one as a verification key until the tokens it signed have expired. A set built by
/// [`KeySet::verification_only`] has no signing key: it verifies another issuer's tokens (a
/// resource server) and issues none.
#[derive(Debug, Clone)]
pub struct KeySet {
    signing: Option<JwtKey>,
    verification: Vec<JwtKey>,
}

impl KeySet {
    /// A set with one key, which signs. Fails with [`KeyError::NotASigningKey`] for a
    /// verification-only key.
    pub fn new(signing: JwtKey) -> Result<Self, KeyError> {
        if !signing.can_sign() {
            return Err(KeyError::NotASigningKey);
        }
        Ok(Self { signing: Some(signing), verification: Vec::new() })
    }

    /// A set that only verifies, with these keys (public keys, or HMAC secrets shared with the
    /// issuer). Fails with [`KeyError::InvalidKey`] when `keys` is empty. A [`JwtService`] over it
    /// refuses to issue.
    ///
    /// [`JwtService`]: crate::JwtService
    pub fn verification_only(keys: impl IntoIterator<Item = JwtKey>) -> Result<Self, KeyError> {
        let mut set = Self { signing: None, verification: Vec::new() };
        for key in keys {
            set = set.with_verification_key(key);
        }
        if set.verification.is_empty() {
            return Err(KeyError::InvalidKey("a key set needs at least one key".to_owned()));
        }
        Ok(set)
    }

    /// Adds a key that only verifies (an older key, or another issuer's public key). A key with the
    /// same `kid` and algorithm as one already in the set is ignored.
    pub fn with_verification_key(mut self, key: JwtKey) -> Self {
        if !self.keys().any(|k| k.kid == key.kid && k.alg == key.alg) {
            self.verification.push(key);
        }
        self
    }

    /// The key new tokens are signed with (`None` for a verification-only set).
    pub fn signing_key(&self) -> Option<&JwtKey> {
        self.signing.as_ref()
    }

    /// All keys, the signing key first.
    pub fn all_keys(&self) -> Vec<&JwtKey> {
        self.keys().collect()
    }

    fn keys(&self) -> impl Iterator<Item = &JwtKey> {
        self.signing.iter().chain(self.verification.iter())
    }

    /// The keys of algorithm `alg` whose `kid` is `kid` (all keys of that algorithm when `kid` is
    /// `None`), the signing key first.
    pub fn find(&self, kid: Option<&str>, alg: JwtAlgorithm) -> Vec<&JwtKey> {
        self.keys().filter(|key| key.alg == alg && kid.is_none_or(|kid| key.kid == kid)).collect()
    }

    /// The keys of algorithm `alg` whose kid is `kid` (all of that algorithm when `kid` is `None`),
    /// without allocating.
    pub(crate) fn matching<'k>(
        &'k self,
        kid: Option<&'k str>,
        alg: JwtAlgorithm,
    ) -> impl Iterator<Item = &'k JwtKey> + 'k {
        // Kept separate from `find` so the hot path does not allocate.
        self.keys().filter(move |key| key.alg == alg && kid.is_none_or(|kid| key.kid == kid))
    }

    /// The JWKS document `{"keys": [...]}` with the public JWK of every asymmetric key. HMAC secrets
    /// are never published.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.keys().filter_map(JwtKey::public_jwk).collect();
        let mut document = Map::new();
        document.insert("keys".to_owned(), Value::Array(keys));
        Value::Object(document)
    }
}

// ---------------------------------------------------------------------------------------------------
// PEM and DER (just what keys need)
// ---------------------------------------------------------------------------------------------------

mod pem {
    use super::{KeyError, STANDARD};
    use base64::Engine as _;

    /// One `-----BEGIN label-----` block, decoded.
    pub(super) struct Block {
        pub(super) label: String,
        pub(super) der: Vec<u8>,
    }

    impl Drop for Block {
        fn drop(&mut self) {
            self.der.fill(0);
        }
    }

    /// All PEM blocks of `input`, in order. Text outside the blocks is ignored.
    pub(super) fn parse_blocks(input: &[u8]) -> Result<Vec<Block>, KeyError> {
        let text = std::str::from_utf8(input).map_err(|_| KeyError::invalid("PEM text is not UTF-8"))?;
        let mut blocks = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("-----BEGIN ") {
            let after_begin = rest.get(start + "-----BEGIN ".len()..).unwrap_or_default();
            let label_end =
                after_begin.find("-----").ok_or_else(|| KeyError::invalid("malformed PEM BEGIN line"))?;
            let label = after_begin.get(..label_end).unwrap_or_default();
            let body_and_rest = after_begin.get(label_end + "-----".len()..).unwrap_or_default();
            let end_marker = format!("-----END {label}-----");
            let body_end = body_and_rest
                .find(&end_marker)
                .ok_or_else(|| KeyError::invalid(format!("PEM block {label:?} has no END line")))?;
            let body = body_and_rest.get(..body_end).unwrap_or_default();
            if body.contains(':') {
                // RFC 1421 headers: "Proc-Type: 4,ENCRYPTED" and friends.
                return Err(KeyError::Unsupported("encrypted (or header-carrying) PEM blocks".to_owned()));
            }
            let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let der = STANDARD
                .decode(base64.as_bytes())
                .map_err(|_| KeyError::invalid(format!("PEM block {label:?} is not valid base64")))?;
            blocks.push(Block { label: label.to_owned(), der });
            rest = body_and_rest.get(body_end + end_marker.len()..).unwrap_or_default();
        }
        if blocks.is_empty() {
            return Err(KeyError::invalid("no PEM block found"));
        }
        Ok(blocks)
    }

    /// A PEM block with 64-character lines and a final newline.
    pub(super) fn encode(label: &str, der: &[u8]) -> String {
        let base64 = STANDARD.encode(der);
        let mut out = String::with_capacity(base64.len() + base64.len() / 64 + 2 * label.len() + 40);
        out.push_str("-----BEGIN ");
        out.push_str(label);
        out.push_str("-----\n");
        let mut remaining = base64.as_str();
        while !remaining.is_empty() {
            let (line, tail) = remaining.split_at(remaining.len().min(64));
            out.push_str(line);
            out.push('\n');
            remaining = tail;
        }
        out.push_str("-----END ");
        out.push_str(label);
        out.push_str("-----\n");
        out
    }
}

mod der {
    use super::{Curve, KeyError, KeyType};

    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const BIT_STRING: u8 = 0x03;
    const OCTET_STRING: u8 = 0x04;
    const OID: u8 = 0x06;
    const CONTEXT_0: u8 = 0xa0;

    // DER-encoded object identifier contents.
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
    const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
    const SECP256K1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x0a];
    const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    const ED448: &[u8] = &[0x2b, 0x65, 0x71];

    fn malformed() -> KeyError {
        KeyError::invalid("malformed DER key structure")
    }

    /// A reader over a sequence of DER TLVs.
    struct Reader<'a>(&'a [u8]);

    impl<'a> Reader<'a> {
        fn is_empty(&self) -> bool {
            self.0.is_empty()
        }

        fn peek_tag(&self) -> Option<u8> {
            self.0.first().copied()
        }

        /// Reads one TLV: (tag, contents).
        fn read(&mut self) -> Result<(u8, &'a [u8]), KeyError> {
            let (&tag, rest) = self.0.split_first().ok_or_else(malformed)?;
            if tag & 0x1f == 0x1f {
                return Err(malformed());
            }
            let (&first, mut rest) = rest.split_first().ok_or_else(malformed)?;
            let len = if first < 0x80 {
                usize::from(first)
            } else {
                let count = usize::from(first & 0x7f);
                if count == 0 || count > 4 {
                    return Err(malformed());
                }
                let (len_bytes, tail) = rest.split_at_checked(count).ok_or_else(malformed)?;
                rest = tail;
                len_bytes.iter().fold(0_usize, |acc, &b| (acc << 8) | usize::from(b))
            };
            let (contents, tail) = rest.split_at_checked(len).ok_or_else(malformed)?;
            self.0 = tail;
            Ok((tag, contents))
        }

        fn take(&mut self, tag: u8) -> Result<&'a [u8], KeyError> {
            match self.read()? {
                (found, contents) if found == tag => Ok(contents),
                _ => Err(malformed()),
            }
        }
    }

    fn curve_from_oid(oid: &[u8]) -> Result<Curve, KeyError> {
        match oid {
            P256 => Ok(Curve::P256),
            P384 => Ok(Curve::P384),
            P521 => Ok(Curve::P521),
            SECP256K1 => Err(KeyError::Unsupported("EC curve secp256k1".to_owned())),
            _ => Err(KeyError::Unsupported("this EC curve".to_owned())),
        }
    }

    /// The key type named by an `AlgorithmIdentifier` (contents of the SEQUENCE).
    fn algorithm_identifier(contents: &[u8]) -> Result<KeyType, KeyError> {
        let mut reader = Reader(contents);
        let oid = reader.take(OID)?;
        match oid {
            RSA_ENCRYPTION => Ok(KeyType::Rsa),
            EC_PUBLIC_KEY => {
                if reader.peek_tag() != Some(OID) {
                    return Err(KeyError::Unsupported("EC keys with explicit curve parameters".to_owned()));
                }
                Ok(KeyType::Ec(curve_from_oid(reader.take(OID)?)?))
            }
            ED25519 => Ok(KeyType::Ed25519),
            RSASSA_PSS => {
                Err(KeyError::Unsupported("RSASSA-PSS-only keys; use an rsaEncryption key".to_owned()))
            }
            ED448 => Err(KeyError::Unsupported("Ed448 keys".to_owned())),
            _ => Err(KeyError::Unsupported("this key type".to_owned())),
        }
    }

    /// The key type of a PKCS#8 `PrivateKeyInfo`.
    pub(super) fn pkcs8_key_type(der: &[u8]) -> Result<KeyType, KeyError> {
        let mut outer = Reader(der);
        let mut info = Reader(outer.take(SEQUENCE)?);
        info.take(INTEGER)?;
        algorithm_identifier(info.take(SEQUENCE)?)
    }

    /// The `privateKey` OCTET STRING contents of a PKCS#8 `PrivateKeyInfo` (for RSA: the PKCS#1
    /// `RSAPrivateKey`).
    pub(super) fn pkcs8_private_key(der: &[u8]) -> Result<&[u8], KeyError> {
        let mut outer = Reader(der);
        let mut info = Reader(outer.take(SEQUENCE)?);
        info.take(INTEGER)?;
        info.take(SEQUENCE)?;
        info.take(OCTET_STRING)
    }

    /// The key type and the `subjectPublicKey` bits of an X.509 `SubjectPublicKeyInfo`.
    pub(super) fn spki(der: &[u8]) -> Result<(KeyType, &[u8]), KeyError> {
        let mut outer = Reader(der);
        let mut info = Reader(outer.take(SEQUENCE)?);
        let key_type = algorithm_identifier(info.take(SEQUENCE)?)?;
        match info.take(BIT_STRING)?.split_first() {
            Some((0, bits)) => Ok((key_type, bits)),
            _ => Err(malformed()),
        }
    }

    /// The curve named in the parameters of a SEC1 `ECPrivateKey`, if present.
    pub(super) fn sec1_curve(der: &[u8]) -> Result<Option<Curve>, KeyError> {
        let mut outer = Reader(der);
        let mut key = Reader(outer.take(SEQUENCE)?);
        key.take(INTEGER)?;
        key.take(OCTET_STRING)?;
        while !key.is_empty() {
            let (tag, contents) = key.read()?;
            if tag == CONTEXT_0 {
                let mut parameters = Reader(contents);
                if parameters.peek_tag() != Some(OID) {
                    return Err(KeyError::Unsupported("EC keys with explicit curve parameters".to_owned()));
                }
                return curve_from_oid(parameters.take(OID)?).map(Some);
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Header, Validation};
    use serde_json::json;

    /// Signs a token with `signer` and verifies it with `verifier`: with [`JwtKey::sign`] and
    /// [`JwtKey::verify_signature`], and for the algorithms jsonwebtoken has (all but ES512), also
    /// ours checked by jsonwebtoken and jsonwebtoken's checked by ours.
    fn sign_and_verify(signer: &JwtKey, verifier: &JwtKey) -> Result<(), String> {
        let alg = signer.algorithm();
        let claims = json!({ "sub": "alice", "exp": 4_000_000_000_u64 });
        let header = json!({ "alg": alg.as_str(), "kid": signer.kid(), "typ": "JWT" });
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = signer.sign(message.as_bytes()).map_err(|e| e.to_string())?;
        if !verifier.verify_signature(message.as_bytes(), &signature) {
            return Err(format!("{alg}: the signature does not verify"));
        }
        let Some(jwt_alg) = alg.to_jsonwebtoken() else {
            return Ok(());
        };
        let validation =
            Validation::new(verifier.algorithm().to_jsonwebtoken().ok_or("no jsonwebtoken alg")?);
        let ours = format!("{message}.{signature}");
        let data = jsonwebtoken::decode::<Value>(&ours, verifier.decoding_key(), &validation)
            .map_err(|e| format!("{alg}: jsonwebtoken refuses our token: {e}"))?;
        assert_eq!(data.claims["sub"], "alice");
        assert_eq!(data.header.kid.as_deref(), Some(signer.kid()));
        let mut header = Header::new(jwt_alg);
        header.kid = Some(signer.kid().to_owned());
        let theirs = jsonwebtoken::encode(&header, &claims, &signer.encoding_key().unwrap())
            .map_err(|e| e.to_string())?;
        let (message, signature) = theirs.rsplit_once('.').unwrap();
        if !verifier.verify_signature(message.as_bytes(), signature) {
            return Err(format!("{alg}: jsonwebtoken's signature does not verify"));
        }
        Ok(())
    }

    fn generate_pair(alg: JwtAlgorithm) -> (GeneratedKey, JwtKey) {
        let generated = generate_key(alg).unwrap();
        let key = generated.to_key().unwrap();
        (generated, key)
    }

    /// RSA-1024, made with `openssl genrsa -traditional 1024` for the weak-key test only.
    const RSA_1024_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----
MIICXQIBAAKBgQC+m8g4lVpHZ4lDeDKXKym2HLk4FNKyFyuXxFOPkWKEvXc+rNoa
3b1yxPtaobPm2L8+27Ab0JuMF9SXr5zgH+cL1cmHP1yWORBSbzROurLLCWUtku+r
crgGkvEn/8YdXn46UJ1q3SyBz6kkhSbYjMow9KDSqvBnWjNZpnBs2mlrbQIDAQAB
AoGAIco4Cl/fqzzdhopuXYIXWONqqlh2qX+WCMeTEKZzUpjL5N57o7ufdBMbhAua
etf9v0TuyV+H06P92g4Vv12odZAqXdd2+h9Qk3iBqoeSVkfEL6vZH/P6tTMJA96g
KQpB3QFXiIFDyTGW2aWbJ2i6dtFnDYub67dkkyzXPITdGEECQQDrvfC9LymxvKIW
UCyRGZ5AeYTIgNCvRPIv8D8fhuUi00nzA+nLjdLWarL3eyTHIJm+6ggGNMtzkp59
qzFcybUJAkEAzvz06MDYfhnaMH+WhdxiXwLaMSQ/ymXgenzmxL80elvZr/Qomomb
r1acSnJu+24bVVCSyvPx2gR99aQEnzagRQJBAIBv+ct4+KRne3/gqodbh8bk7h03
YXs8ex73K80Hd6ujpjSKu0Q1vtsnQt5m70C2WE2VwE1xUi9jgIpDTR+andECQFyT
xvZTSoEcDvqiFjDI4Tadj/lqvR1Jc51VP+G/ozkW28ZW7dIwufEyS7UAeaL7HD6M
Sxt7ADEC0VOMiIStagECQQCmv/dUE2m5Ejr+V7lje9owARGFy4jWJL56m8teq8+A
ByeId8fIuRZ/P7Zjl6qYyIM/YWric2Ncmtb5YtJzEg68
-----END RSA PRIVATE KEY-----
";

    #[test]
    fn algorithm_names() {
        for &alg in JwtAlgorithm::ALL {
            assert_eq!(alg.as_str().parse::<JwtAlgorithm>().unwrap(), alg);
            assert_eq!(alg.to_string().to_lowercase().parse::<JwtAlgorithm>().unwrap(), alg);
            assert_eq!(serde_json::to_value(alg).unwrap(), json!(alg.as_str()));
        }
        assert!(matches!("none".parse::<JwtAlgorithm>(), Err(KeyError::UnsupportedAlgorithm(_))));
        assert!(matches!("NONE".parse::<JwtAlgorithm>(), Err(KeyError::UnsupportedAlgorithm(_))));
        assert!(matches!("ES256K".parse::<JwtAlgorithm>(), Err(KeyError::UnsupportedAlgorithm(_))));
        assert_eq!(JwtAlgorithm::from_header("ES512"), Some(JwtAlgorithm::ES512));
        assert_eq!(JwtAlgorithm::ES512.to_jsonwebtoken(), None, "ES512 never reaches jsonwebtoken");
        assert!(JwtAlgorithm::HS384.is_hmac());
        assert!(!JwtAlgorithm::EdDSA.is_hmac());
    }

    #[test]
    fn every_algorithm_generates_signs_and_verifies() {
        for &alg in JwtAlgorithm::ALL {
            let (generated, key) = generate_pair(alg);
            assert_eq!(key.algorithm(), alg);
            assert!(key.can_sign(), "{alg}");
            sign_and_verify(&key, &key).unwrap_or_else(|e| panic!("{alg}: {e}"));
            if alg.is_hmac() {
                assert!(generated.public_pem.is_none());
                assert!(generated.private_pem.starts_with("-----BEGIN PORTCULLIS HMAC SECRET-----\n"));
                assert!(key.public_jwk().is_none());
            } else {
                assert!(generated.private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{alg}");
                let public_pem = generated.public_pem.as_deref().unwrap();
                assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{alg}");
                let public = JwtKey::from_public_pem(alg, public_pem.as_bytes()).unwrap();
                assert!(!public.can_sign());
                assert!(public.encoding_key().is_none());
                assert_eq!(public.kid(), key.kid(), "{alg}: same thumbprint from both halves");
                sign_and_verify(&key, &public).unwrap_or_else(|e| panic!("{alg}: {e}"));
            }
            // PEM round trip: the same text gives the same key id and a working key.
            let again = key_from_private_text(alg, generated.private_pem.as_bytes()).unwrap();
            assert_eq!(again.kid(), key.kid());
            sign_and_verify(&again, &key).unwrap();
            // Another generated key does not verify this one's tokens.
            let (_, other) = generate_pair(alg);
            assert_ne!(other.kid(), key.kid());
            assert!(sign_and_verify(&key, &other).is_err(), "{alg}");
        }
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let generated = generate_key(JwtAlgorithm::HS256).unwrap();
        let secret_line = generated.private_pem.lines().nth(1).unwrap().to_owned();
        let debug = format!("{generated:?}");
        assert!(!debug.contains(&secret_line));
        assert!(debug.contains("redacted"));
        let key = generated.to_key().unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains(key.kid()) && debug.contains("HS256"), "{debug}");
        assert!(!debug.contains(&secret_line));

        let generated = generate_key(JwtAlgorithm::ES256).unwrap();
        let secret_line = generated.private_pem.lines().nth(1).unwrap().to_owned();
        assert!(!format!("{generated:?}").contains(&secret_line));
        assert!(!format!("{:?}", KeySet::new(generated.to_key().unwrap()).unwrap()).contains(&secret_line));
    }

    #[test]
    fn key_type_must_match_algorithm() {
        let rsa = generate_key(JwtAlgorithm::RS256).unwrap();
        for alg in [JwtAlgorithm::ES256, JwtAlgorithm::EdDSA, JwtAlgorithm::ES384, JwtAlgorithm::ES512] {
            let err = JwtKey::from_private_pem(alg, rsa.private_pem.as_bytes()).unwrap_err();
            assert!(matches!(err, KeyError::AlgorithmMismatch { expected, .. } if expected == alg), "{err}");
            let public = rsa.public_pem.as_deref().unwrap().as_bytes();
            assert!(matches!(JwtKey::from_public_pem(alg, public), Err(KeyError::AlgorithmMismatch { .. })));
        }
        // The same RSA key serves every RSA algorithm.
        for alg in [
            JwtAlgorithm::RS384,
            JwtAlgorithm::RS512,
            JwtAlgorithm::PS256,
            JwtAlgorithm::PS384,
            JwtAlgorithm::PS512,
        ] {
            let key = JwtKey::from_private_pem(alg, rsa.private_pem.as_bytes()).unwrap();
            sign_and_verify(&key, &key).unwrap();
        }
        let p256 = generate_key(JwtAlgorithm::ES256).unwrap();
        let err = JwtKey::from_private_pem(JwtAlgorithm::ES384, p256.private_pem.as_bytes()).unwrap_err();
        assert!(matches!(err, KeyError::AlgorithmMismatch { .. }), "{err}");
        let err = JwtKey::from_private_pem(JwtAlgorithm::RS256, p256.private_pem.as_bytes()).unwrap_err();
        assert!(matches!(err, KeyError::AlgorithmMismatch { .. }), "{err}");
        // Each curve has its one algorithm: P-256 is not ES512, P-521 is not ES256 or ES384.
        let err = JwtKey::from_private_pem(JwtAlgorithm::ES512, p256.private_pem.as_bytes()).unwrap_err();
        assert!(matches!(err, KeyError::AlgorithmMismatch { .. }), "{err}");
        let p521 = generate_key(JwtAlgorithm::ES512).unwrap();
        for alg in [JwtAlgorithm::ES256, JwtAlgorithm::ES384] {
            let err = JwtKey::from_private_pem(alg, p521.private_pem.as_bytes()).unwrap_err();
            assert!(
                matches!(&err, KeyError::AlgorithmMismatch { found, .. } if found == "an EC P-521 key"),
                "{err}"
            );
            let public = p521.public_pem.as_deref().unwrap().as_bytes();
            assert!(matches!(JwtKey::from_public_pem(alg, public), Err(KeyError::AlgorithmMismatch { .. })));
        }
        // HMAC secrets and PEM keys do not mix.
        assert!(JwtKey::from_private_pem(JwtAlgorithm::HS256, rsa.private_pem.as_bytes()).is_err());
        let hmac = generate_key(JwtAlgorithm::HS256).unwrap();
        assert!(JwtKey::from_private_pem(JwtAlgorithm::RS256, hmac.private_pem.as_bytes()).is_err());
        assert!(matches!(
            JwtKey::hmac(JwtAlgorithm::RS256, &[7; 64]),
            Err(KeyError::AlgorithmMismatch { .. })
        ));
        // A public key is not a private key, and the reverse.
        let public = rsa.public_pem.as_deref().unwrap().as_bytes();
        assert!(matches!(
            JwtKey::from_private_pem(JwtAlgorithm::RS256, public),
            Err(KeyError::InvalidKey(_))
        ));
        assert!(matches!(
            JwtKey::from_public_pem(JwtAlgorithm::RS256, rsa.private_pem.as_bytes()),
            Err(KeyError::InvalidKey(_))
        ));
    }

    #[test]
    fn weak_hmac_secrets_are_refused() {
        assert!(matches!(JwtKey::hmac(JwtAlgorithm::HS256, &[1; 31]), Err(KeyError::WeakSecret)));
        assert!(JwtKey::hmac(JwtAlgorithm::HS256, &[1; 32]).is_ok());
        assert!(matches!(JwtKey::hmac(JwtAlgorithm::HS384, &[1; 47]), Err(KeyError::WeakSecret)));
        assert!(JwtKey::hmac(JwtAlgorithm::HS384, &[1; 48]).is_ok());
        assert!(matches!(JwtKey::hmac(JwtAlgorithm::HS512, &[1; 63]), Err(KeyError::WeakSecret)));
        assert!(JwtKey::hmac(JwtAlgorithm::HS512, &[1; 64]).is_ok());
        let weak = pem::encode(HMAC_PEM_LABEL, b"password");
        assert!(matches!(
            key_from_private_text(JwtAlgorithm::HS256, weak.as_bytes()),
            Err(KeyError::WeakSecret)
        ));
    }

    #[test]
    fn hmac_kid_is_stable_and_does_not_reveal_the_secret() {
        let secret = [42_u8; 32];
        let a = JwtKey::hmac(JwtAlgorithm::HS256, &secret).unwrap();
        let b = JwtKey::hmac(JwtAlgorithm::HS256, &secret).unwrap();
        let c = JwtKey::hmac(JwtAlgorithm::HS256, &[43_u8; 32]).unwrap();
        assert_eq!(a.kid(), b.kid());
        assert_ne!(a.kid(), c.kid());
        assert_eq!(a.kid().len(), 16);
        assert!(!a.kid().contains(&URL_SAFE_NO_PAD.encode(&secret[..12])));
        assert_eq!(a.with_kid("hmac-1").kid(), "hmac-1");
    }

    #[test]
    fn rsa_1024_is_refused() {
        let err = JwtKey::from_private_pem(JwtAlgorithm::RS256, RSA_1024_PKCS1.as_bytes()).unwrap_err();
        assert!(matches!(err, KeyError::WeakKey), "{err}");
        // The same key's public half, as a JWK and as PKCS#1 PEM.
        let pkcs1 = &pem::parse_blocks(RSA_1024_PKCS1.as_bytes()).unwrap()[0].der;
        let (n, e) = rsa_private_n_e(pkcs1);
        let jwk = json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode(e)});
        assert!(matches!(JwtKey::from_jwk(&jwk, Some(JwtAlgorithm::RS256)), Err(KeyError::WeakKey)));
    }

    /// n and e of a PKCS#1 RSAPrivateKey (test helper).
    fn rsa_private_n_e(pkcs1: &[u8]) -> (Vec<u8>, Vec<u8>) {
        // SEQUENCE { INTEGER version, INTEGER n, INTEGER e, ... }
        fn tlv(input: &[u8]) -> (&[u8], &[u8]) {
            let len0 = input[1];
            let (len, header) = if len0 < 0x80 {
                (len0 as usize, 2)
            } else {
                let count = (len0 & 0x7f) as usize;
                (input[2..2 + count].iter().fold(0, |acc, &b| (acc << 8) | b as usize), 2 + count)
            };
            (&input[header..header + len], &input[header + len..])
        }
        let (sequence, _) = tlv(pkcs1);
        let (_version, rest) = tlv(sequence);
        let (n, rest) = tlv(rest);
        let (e, _) = tlv(rest);
        (strip_leading_zeros(n).to_vec(), e.to_vec())
    }

    #[test]
    fn pkcs1_and_sec1_private_keys_are_accepted() {
        // PKCS#1 "RSA PRIVATE KEY": the inner key of a generated PKCS#8 key.
        let (generated, key) = generate_pair(JwtAlgorithm::RS256);
        let pkcs8 = &pem::parse_blocks(generated.private_pem.as_bytes()).unwrap()[0].der;
        let pkcs1 = der::pkcs8_private_key(pkcs8).unwrap();
        let pkcs1_pem = pem::encode("RSA PRIVATE KEY", pkcs1);
        let from_pkcs1 = JwtKey::from_private_pem(JwtAlgorithm::RS256, pkcs1_pem.as_bytes()).unwrap();
        assert_eq!(from_pkcs1.kid(), key.kid());
        sign_and_verify(&from_pkcs1, &key).unwrap();
        // "RSA PUBLIC KEY" (PKCS#1): from the SPKI's bit string.
        let spki = &pem::parse_blocks(generated.public_pem.as_deref().unwrap().as_bytes()).unwrap()[0].der;
        let (_, rsa_public) = der::spki(spki).unwrap();
        let rsa_public_pem = pem::encode("RSA PUBLIC KEY", rsa_public);
        let public = JwtKey::from_public_pem(JwtAlgorithm::RS256, rsa_public_pem.as_bytes()).unwrap();
        assert_eq!(public.kid(), key.kid());
        sign_and_verify(&key, &public).unwrap();

        // SEC1 "EC PRIVATE KEY" from openssl, with and without the "EC PARAMETERS" block, and the same
        // key converted to PKCS#8 by `openssl pkcs8 -topk8`.
        let sec1 = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIGG7RIIUSN/NZw0M5duJUnsmwGZO+N8K9TrqCppGlhfCoAoGCCqGSM49
AwEHoUQDQgAEx7h7vQjD2SAyPVosspHznN4RgrryA9Bx9TrgmPiAxzgJVZHDyTg9
z3tbqbfTTKVLmmncgaNQBTt/vsf21yrs5A==
-----END EC PRIVATE KEY-----
";
        let pkcs8 = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYbtEghRI381nDQzl
24lSeybAZk743wr1OuoKmkaWF8KhRANCAATHuHu9CMPZIDI9WiyykfOc3hGCuvID
0HH1OuCY+IDHOAlVkcPJOD3Pe1upt9NMpUuaadyBo1AFO3++x/bXKuzk
-----END PRIVATE KEY-----
";
        let with_params =
            format!("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{sec1}");
        let a = JwtKey::from_private_pem(JwtAlgorithm::ES256, sec1.as_bytes()).unwrap();
        let b = JwtKey::from_private_pem(JwtAlgorithm::ES256, with_params.as_bytes()).unwrap();
        let c = JwtKey::from_private_pem(JwtAlgorithm::ES256, pkcs8.as_bytes()).unwrap();
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.kid(), c.kid());
        sign_and_verify(&a, &c).unwrap();
        sign_and_verify(&c, &b).unwrap();
        assert!(matches!(
            JwtKey::from_private_pem(JwtAlgorithm::ES384, sec1.as_bytes()),
            Err(KeyError::AlgorithmMismatch { .. })
        ));
    }

    #[test]
    fn malformed_and_encrypted_pem_is_refused() {
        for text in ["", "hello", "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n"] {
            assert!(matches!(
                JwtKey::from_private_pem(JwtAlgorithm::ES256, text.as_bytes()),
                Err(KeyError::InvalidKey(_))
            ));
        }
        let truncated = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n";
        assert!(JwtKey::from_private_pem(JwtAlgorithm::ES256, truncated.as_bytes()).is_err());
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(matches!(
            JwtKey::from_private_pem(JwtAlgorithm::RS256, encrypted.as_bytes()),
            Err(KeyError::Unsupported(_))
        ));
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nMAA=\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            JwtKey::from_private_pem(JwtAlgorithm::RS256, legacy.as_bytes()),
            Err(KeyError::Unsupported(_))
        ));
    }

    #[test]
    fn rfc7638_thumbprint() {
        // RFC 7638 section 3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
        });
        let key = JwtKey::from_jwk(&jwk, None).unwrap();
        assert_eq!(key.kid(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(key.algorithm(), JwtAlgorithm::RS256);
        assert!(!key.can_sign());
        let published = key.public_jwk().unwrap();
        assert_eq!(published["n"], jwk["n"]);
        assert_eq!(published["e"], "AQAB");
        assert_eq!(published["kid"], "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(published["use"], "sig");
        // A "kid" member wins over the thumbprint.
        let mut with_kid = jwk.clone();
        with_kid["kid"] = json!("2011-04-29");
        assert_eq!(JwtKey::from_jwk(&with_kid, None).unwrap().kid(), "2011-04-29");
        // Algorithm resolution.
        let mut bare = jwk.clone();
        bare.as_object_mut().unwrap().remove("alg");
        assert!(matches!(JwtKey::from_jwk(&bare, None), Err(KeyError::InvalidKey(_))));
        assert_eq!(
            JwtKey::from_jwk(&bare, Some(JwtAlgorithm::PS256)).unwrap().algorithm(),
            JwtAlgorithm::PS256
        );
        assert!(matches!(
            JwtKey::from_jwk(&jwk, Some(JwtAlgorithm::RS512)),
            Err(KeyError::AlgorithmMismatch { .. })
        ));
        assert!(matches!(
            JwtKey::from_jwk(&jwk, Some(JwtAlgorithm::ES256)),
            Err(KeyError::AlgorithmMismatch { .. })
        ));
        let mut encryption = jwk.clone();
        encryption["use"] = json!("enc");
        assert!(JwtKey::from_jwk(&encryption, None).is_err());
        let mut none = jwk;
        none["alg"] = json!("none");
        assert!(matches!(JwtKey::from_jwk(&none, None), Err(KeyError::UnsupportedAlgorithm(_))));
    }

    /// RFC 7520 (JOSE Cookbook) sections 3.1 and 3.2: a P-521 key.
    const RFC7520_X: &str =
        "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt";
    const RFC7520_Y: &str =
        "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1";
    const RFC7520_D: &str =
        "AAhRON2r9cqXX1hg-RoI6R1tX5p2rUAYdmpHZoC1XNM56KtscrX6zbKipQrCW9CGZH3T4ubpnoTKLDYJ_fF3_rJt";
    /// Its RFC 7638 thumbprint.
    const RFC7520_THUMBPRINT: &str = "dHri3SADZkrush5HU_50AoRhcKFryN-PI6jPBtPL55M";
    /// RFC 7520 section 4.3: an ES512 JWS that key made (another implementation's signature).
    const RFC7520_JWS: &str = "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9.SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvbu9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kvAD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2";
    /// The same key written by OpenSSL (through Python's `cryptography`): SEC1, PKCS#8 and SPKI.
    const RFC7520_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MIHcAgEBBEIACFE43av1ypdfWGD5GgjpHW1fmnatQBh2akdmgLVc0znoq2xytfrN
sqKlCsJb0IZkfdPi5umehMosNgn98Xf+sm2gBwYFK4EEACOhgYkDgYYABABymSyz
rAjs8+XGPe3sDVGowfee8vgvlPPHN79d55hmcerGJf6CV7vQOUZEyqo6r48npFhf
u8rQ8kV2IAheXI9CrQHcppR7zoi8V5BIWsl0JzQrw1+IfYbWWgiTd+JH5guqVeTo
UB4q2lckrFHWkJAIAz68EKyZm51/XMJRnz/h6h2UdQ==
-----END EC PRIVATE KEY-----
";
    const RFC7520_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIHuAgEAMBAGByqGSM49AgEGBSuBBAAjBIHWMIHTAgEBBEIACFE43av1ypdfWGD5
GgjpHW1fmnatQBh2akdmgLVc0znoq2xytfrNsqKlCsJb0IZkfdPi5umehMosNgn9
8Xf+sm2hgYkDgYYABABymSyzrAjs8+XGPe3sDVGowfee8vgvlPPHN79d55hmcerG
Jf6CV7vQOUZEyqo6r48npFhfu8rQ8kV2IAheXI9CrQHcppR7zoi8V5BIWsl0JzQr
w1+IfYbWWgiTd+JH5guqVeToUB4q2lckrFHWkJAIAz68EKyZm51/XMJRnz/h6h2U
dQ==
-----END PRIVATE KEY-----
";
    const RFC7520_SPKI: &str = "-----BEGIN PUBLIC KEY-----
MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQAcpkss6wI7PPlxj3t7A1RqMH3nvL4
L5Tzxze/XeeYZnHqxiX+gle70DlGRMqqOq+PJ6RYX7vK0PJFdiAIXlyPQq0B3KaU
e86IvFeQSFrJdCc0K8NfiH2G1loIk3fiR+YLqlXk6FAeKtpXJKxR1pCQCAM+vBCs
mZudf1zCUZ8/4eodlHU=
-----END PUBLIC KEY-----
";

    #[test]
    fn es512_verifies_the_rfc7520_example_and_reads_p521_keys() {
        let public_jwk = json!({
            "kty": "EC",
            "kid": "bilbo.baggins@hobbiton.example",
            "use": "sig",
            "crv": "P-521",
            "x": RFC7520_X,
            "y": RFC7520_Y,
        });
        let public = JwtKey::from_jwk(&public_jwk, None).unwrap();
        assert_eq!(public.algorithm(), JwtAlgorithm::ES512, "P-521 implies ES512");
        assert_eq!(public.kid(), "bilbo.baggins@hobbiton.example");
        assert!(!public.can_sign());
        let mut bare = public_jwk.clone();
        bare.as_object_mut().unwrap().remove("kid");
        assert_eq!(JwtKey::from_jwk(&bare, None).unwrap().kid(), RFC7520_THUMBPRINT);
        let published = public.public_jwk().unwrap();
        assert_eq!((&published["x"], &published["y"]), (&json!(RFC7520_X), &json!(RFC7520_Y)));
        assert_eq!((&published["crv"], &published["alg"]), (&json!("P-521"), &json!("ES512")));

        // The RFC's signature: 132 bytes of r || s, and only over its own message.
        let (message, signature) = RFC7520_JWS.rsplit_once('.').unwrap();
        let raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert_eq!(raw.len(), 132);
        assert!(public.verify_signature(message.as_bytes(), signature));
        assert!(!public.verify_signature(b"another message", signature));
        for i in [0, 65, 66, 131] {
            let mut tampered = raw.clone();
            tampered[i] ^= 0x01;
            assert!(!public.verify_signature(message.as_bytes(), &URL_SAFE_NO_PAD.encode(&tampered)), "{i}");
        }
        assert!(!public.verify_signature(message.as_bytes(), &URL_SAFE_NO_PAD.encode(&raw[..131])));
        assert!(
            !public.verify_signature(
                message.as_bytes(),
                &URL_SAFE_NO_PAD.encode([raw.as_slice(), &[0]].concat())
            )
        );
        assert!(!public.verify_signature(message.as_bytes(), ""));
        assert!(!public.verify_signature(message.as_bytes(), "not base64!"));
        // The same key under another algorithm verifies nothing.
        assert!(matches!(
            JwtKey::from_jwk(&public_jwk, Some(JwtAlgorithm::ES256)),
            Err(KeyError::AlgorithmMismatch { .. })
        ));

        // The private JWK signs what the public one verifies.
        let mut private_jwk = public_jwk.clone();
        private_jwk["d"] = json!(RFC7520_D);
        let signing = JwtKey::from_jwk(&private_jwk, None).unwrap();
        assert!(signing.can_sign());
        sign_and_verify(&signing, &public).unwrap();

        // PEM: SEC1 (with and without its EC PARAMETERS block), PKCS#8 and SPKI of the same key.
        let with_params = format!(
            "-----BEGIN EC PARAMETERS-----\nBgUrgQQAIw==\n-----END EC PARAMETERS-----\n{RFC7520_SEC1}"
        );
        for pem in [RFC7520_SEC1, with_params.as_str(), RFC7520_PKCS8] {
            let key = JwtKey::from_private_pem(JwtAlgorithm::ES512, pem.as_bytes()).unwrap();
            assert_eq!(key.kid(), RFC7520_THUMBPRINT);
            sign_and_verify(&key, &public).unwrap();
            sign_and_verify(&signing, &key).unwrap();
            assert!(matches!(
                JwtKey::from_private_pem(JwtAlgorithm::ES384, pem.as_bytes()),
                Err(KeyError::AlgorithmMismatch { .. })
            ));
        }
        let spki = JwtKey::from_public_pem(JwtAlgorithm::ES512, RFC7520_SPKI.as_bytes()).unwrap();
        assert_eq!(spki.kid(), RFC7520_THUMBPRINT);
        assert!(spki.verify_signature(message.as_bytes(), signature));
    }

    #[test]
    fn ecdsa_signatures_are_fixed_length_r_and_s() {
        for (alg, len, asn1) in [
            (JwtAlgorithm::ES256, 64, &sig::ECDSA_P256_SHA256_ASN1_SIGNING),
            (JwtAlgorithm::ES384, 96, &sig::ECDSA_P384_SHA384_ASN1_SIGNING),
            (JwtAlgorithm::ES512, 132, &sig::ECDSA_P521_SHA512_ASN1_SIGNING),
        ] {
            let (generated, key) = generate_pair(alg);
            // Every signature has the full length, also when r or s has leading zero bytes.
            for i in 0..16_u8 {
                let signature = key.sign(&[i]).unwrap();
                assert_eq!(URL_SAFE_NO_PAD.decode(&signature).unwrap().len(), len, "{alg}");
                assert!(key.verify_signature(&[i], &signature), "{alg}");
                assert!(!key.verify_signature(&[i, 0], &signature), "{alg}");
            }
            // An ASN.1 (DER) signature of the same key is not a JWS signature.
            let pkcs8 = &pem::parse_blocks(generated.private_pem.as_bytes()).unwrap()[0].der;
            let der_signer = EcdsaKeyPair::from_pkcs8(asn1, pkcs8).unwrap();
            let der = der_signer.sign(&aws_lc_rs::rand::SystemRandom::new(), b"m").unwrap();
            assert!(!key.verify_signature(b"m", &URL_SAFE_NO_PAD.encode(der.as_ref())), "{alg}");
        }
    }

    #[test]
    fn public_jwk_verifies_tokens_of_the_private_key() {
        for alg in [
            JwtAlgorithm::RS256,
            JwtAlgorithm::PS256,
            JwtAlgorithm::PS384,
            JwtAlgorithm::PS512,
            JwtAlgorithm::ES256,
            JwtAlgorithm::ES384,
            JwtAlgorithm::ES512,
            JwtAlgorithm::EdDSA,
        ] {
            let (_, key) = generate_pair(alg);
            let jwk = key.public_jwk().unwrap();
            assert!(jwk.get("d").is_none());
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["kid"], key.kid());
            let public = JwtKey::from_jwk(&jwk, None).unwrap();
            assert_eq!(public.kid(), key.kid());
            assert_eq!(public.algorithm(), alg);
            assert!(!public.can_sign());
            sign_and_verify(&key, &public).unwrap_or_else(|e| panic!("{alg}: {e}"));
            // Without "kid" and "alg" members, the thumbprint is still the kid.
            let mut bare = jwk.clone();
            bare.as_object_mut().unwrap().remove("kid");
            let public = JwtKey::from_jwk(&bare, Some(alg)).unwrap();
            assert_eq!(public.kid(), key.kid());
        }
    }

    #[test]
    fn private_jwks_build_signing_keys() {
        // EC and OKP: private JWKs built from a generated key's components.
        for (alg, curve) in [(JwtAlgorithm::ES256, Curve::P256), (JwtAlgorithm::ES512, Curve::P521)] {
            let ec = generate_key(alg).unwrap().to_key().unwrap();
            let ec_pkcs8 = ec.encoding_key().unwrap().as_bytes().to_vec();
            let pair = EcdsaKeyPair::from_pkcs8(curve.signing(), &ec_pkcs8).unwrap();
            let d = aws_lc_rs::encoding::AsBigEndian::<aws_lc_rs::encoding::EcPrivateKeyBin>::as_be_bytes(
                &pair.private_key(),
            )
            .unwrap();
            assert_eq!(d.as_ref().len(), curve.coordinate_len(), "{alg}");
            let mut jwk = ec.public_jwk().unwrap();
            jwk["d"] = json!(URL_SAFE_NO_PAD.encode(d.as_ref()));
            let signing = JwtKey::from_jwk(&jwk, None).unwrap();
            assert!(signing.can_sign());
            assert_eq!(signing.algorithm(), alg);
            assert_eq!(signing.kid(), ec.kid());
            sign_and_verify(&signing, &ec).unwrap();
            assert!(signing.public_jwk().unwrap().get("d").is_none());
            // A private scalar that does not match the public point is refused.
            jwk["d"] = json!(URL_SAFE_NO_PAD.encode(vec![1_u8; curve.coordinate_len()]));
            assert!(JwtKey::from_jwk(&jwk, None).is_err(), "{alg}");
        }

        let ed = generate_key(JwtAlgorithm::EdDSA).unwrap().to_key().unwrap();
        let ed_pkcs8 = ed.encoding_key().unwrap().as_bytes().to_vec();
        let pair = Ed25519KeyPair::from_pkcs8(&ed_pkcs8).unwrap();
        let seed = aws_lc_rs::encoding::AsBigEndian::<aws_lc_rs::encoding::Curve25519SeedBin>::as_be_bytes(
            &pair.seed().unwrap(),
        )
        .unwrap();
        let mut jwk = ed.public_jwk().unwrap();
        jwk["d"] = json!(URL_SAFE_NO_PAD.encode(seed.as_ref()));
        let signing = JwtKey::from_jwk(&jwk, None).unwrap();
        assert!(signing.can_sign());
        sign_and_verify(&signing, &ed).unwrap();

        // oct: an HMAC key.
        let secret = [9_u8; 48];
        let jwk = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(secret), "alg": "HS384"});
        let hmac = JwtKey::from_jwk(&jwk, None).unwrap();
        assert_eq!(hmac.kid(), JwtKey::hmac(JwtAlgorithm::HS384, &secret).unwrap().kid());
        sign_and_verify(&hmac, &JwtKey::hmac(JwtAlgorithm::HS384, &secret).unwrap()).unwrap();
        let short = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode([9_u8; 16]), "alg": "HS256"});
        assert!(matches!(JwtKey::from_jwk(&short, None), Err(KeyError::WeakSecret)));

        // Unsupported curves and key types.
        assert!(matches!(
            JwtKey::from_jwk(&json!({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}), None),
            Err(KeyError::Unsupported(_))
        ));
        // P-521 coordinates have 66 bytes, not the 65 a leading zero could be stripped to.
        assert!(matches!(
            JwtKey::from_jwk(&json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}), None),
            Err(KeyError::InvalidKey(_))
        ));
        assert!(matches!(
            JwtKey::from_jwk(&json!({"kty": "OKP", "crv": "Ed448", "x": "AA"}), None),
            Err(KeyError::Unsupported(_))
        ));
        // A point that is not on the curve.
        let bad = json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode([1_u8; 32]), "y": URL_SAFE_NO_PAD.encode([2_u8; 32])});
        assert!(matches!(JwtKey::from_jwk(&bad, None), Err(KeyError::InvalidKey(_))));
    }

    #[test]
    fn key_set_finds_keys_and_publishes_only_public_parts() {
        let (_, old) = generate_pair(JwtAlgorithm::ES256);
        let (_, current) = generate_pair(JwtAlgorithm::ES256);
        let hmac = JwtKey::hmac(JwtAlgorithm::HS256, &[5; 32]).unwrap();
        let (_, ed) = generate_pair(JwtAlgorithm::EdDSA);
        let public_only = JwtKey::from_jwk(&ed.public_jwk().unwrap(), None).unwrap();
        assert!(matches!(KeySet::new(public_only.clone()), Err(KeyError::NotASigningKey)));

        let set = KeySet::new(current.clone())
            .unwrap()
            .with_verification_key(old.clone())
            .with_verification_key(hmac.clone())
            .with_verification_key(public_only)
            .with_verification_key(old.clone());
        assert_eq!(set.signing_key().map(JwtKey::kid), Some(current.kid()));
        assert_eq!(set.all_keys().len(), 4, "the duplicate is ignored");
        let all_es256: Vec<&str> = set.find(None, JwtAlgorithm::ES256).iter().map(|k| k.kid()).collect();
        assert_eq!(all_es256, [current.kid(), old.kid()]);
        let found = set.find(Some(old.kid()), JwtAlgorithm::ES256);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kid(), old.kid());
        assert!(set.find(Some(old.kid()), JwtAlgorithm::ES384).is_empty());
        assert!(set.find(Some("unknown"), JwtAlgorithm::ES256).is_empty());
        assert_eq!(set.find(None, JwtAlgorithm::HS256).len(), 1);

        let jwks = set.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 3, "HMAC is never published");
        let text = jwks.to_string();
        assert!(!text.contains(hmac.kid()));
        assert!(!text.contains("\"d\"") && !text.contains("\"k\""), "{text}");
        for key in keys {
            assert_eq!(key["use"], "sig");
            assert!(key["kid"].is_string() && key["alg"].is_string());
        }
    }

    #[test]
    fn pem_encoding_round_trips() {
        let der: Vec<u8> = (0..=255).collect();
        let text = pem::encode("TEST", &der);
        assert!(text.lines().all(|line| line.len() <= 64));
        let blocks = pem::parse_blocks(text.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "TEST");
        assert_eq!(blocks[0].der, der);
        // CRLF line ends and surrounding text are fine.
        let crlf = format!("comment\r\n{}", text.replace('\n', "\r\n"));
        assert_eq!(pem::parse_blocks(crlf.as_bytes()).unwrap()[0].der, der);
    }
}
