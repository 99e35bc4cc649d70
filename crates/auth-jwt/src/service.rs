//! Issuing and verifying tokens.

use std::collections::HashSet;
use std::fmt;

use auth_core::{AuthError, SharedClock, TokenRejection, UserId};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::Header as JwtHeader;
use serde_json::{Map, Value};

use crate::{Audience, ClaimRequirement, Claims, JwtAlgorithm, JwtKey, KeyError, KeySet, TokenKind};

/// How tokens are issued and verified.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JwtConfig {
    /// `iss` written into tokens and required on verification, when set.
    pub issuer: Option<String>,
    /// `aud` written into tokens and required on verification, when set.
    pub audience: Option<String>,
    /// Access-token lifetime (default 5 minutes).
    pub access_ttl: Duration,
    /// Refresh-token lifetime (default 1 day).
    pub refresh_ttl: Duration,
    /// Clock-skew tolerance for `exp`, `nbf` and `iat` (default 5 s; at most 10 s is advisable).
    pub leeway: Duration,
    /// Extra requirements every verified *access* token must meet. Refresh tokens carry only the
    /// registered claims (never claims mapped from the user, such as a tenant or roles), so they
    /// are not held to these; a refresh instead checks the access token it would mint from the
    /// user's current attributes, and refuses when that token would not meet them.
    pub requirements: Vec<ClaimRequirement>,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            access_ttl: Duration::minutes(5),
            refresh_ttl: Duration::days(1),
            leeway: Duration::seconds(5),
            requirements: Vec::new(),
        }
    }
}

impl JwtConfig {
    /// Sets the issuer.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets the audience.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Sets the access-token lifetime.
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// Sets the refresh-token lifetime.
    pub fn refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// Sets the leeway.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Adds a claim requirement on access tokens (see [`JwtConfig::requirements`]).
    pub fn require(mut self, requirement: ClaimRequirement) -> Self {
        self.requirements.push(requirement);
        self
    }
}

/// A freshly issued token.
#[derive(Clone)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Its claims.
    pub claims: Claims,
}

impl IssuedToken {
    /// When it expires.
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.claims.exp, 0).unwrap_or_default()
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken").field("token", &"<redacted>").field("claims", &self.claims).finish()
    }
}

/// What goes into a token besides the registered claims.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TokenContents {
    /// Grant id (`sid`).
    pub sid: Option<String>,
    /// Credential fingerprint (`cfp`).
    pub cfp: Option<String>,
    /// Authentication methods (`amr`).
    pub amr: Vec<String>,
    /// Authentication time (`auth_time`, Unix seconds).
    pub auth_time: Option<i64>,
    /// Custom claims; reserved names are refused.
    pub extra: Map<String, Value>,
    /// The token id to use (a fresh random one when `None`).
    pub jti: Option<String>,
    /// The latest expiry allowed (Unix seconds), e.g. the end of the grant's absolute lifetime.
    pub not_after: Option<i64>,
}

/// Signs and verifies Portcullis JWTs with a [`KeySet`], reading time from the injected clock.
///
/// Verification never trusts the token header's algorithm: the key is looked up by `kid`, and the
/// header must name exactly that key's configured algorithm. `alg: none`, and an HMAC token checked
/// against a public key, are therefore impossible.
#[derive(Debug, Clone)]
pub struct JwtService {
    config: JwtConfig,
    keys: KeySet,
    clock: SharedClock,
    accepted: HashSet<JwtAlgorithm>,
}

impl JwtService {
    /// A service signing with the key set's signing key.
    pub fn new(config: JwtConfig, keys: KeySet, clock: SharedClock) -> Result<Self, KeyError> {
        let accepted = keys.all_keys().iter().map(|k| k.algorithm()).collect();
        Ok(Self { config, keys, clock, accepted })
    }

    /// The configuration.
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// The keys.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The algorithm tokens are signed with (`None` for a verification-only key set).
    pub fn algorithm(&self) -> Option<JwtAlgorithm> {
        self.keys.signing_key().map(JwtKey::algorithm)
    }

    /// The JWKS document of the public verification keys.
    pub fn jwks(&self) -> Value {
        self.keys.jwks()
    }

    /// Issues a token of `kind` for `subject`.
    pub fn issue(
        &self,
        kind: TokenKind,
        subject: &UserId,
        contents: TokenContents,
    ) -> Result<IssuedToken, AuthError> {
        if let Some(reserved) = contents.extra.keys().find(|k| crate::RESERVED_CLAIMS.contains(&k.as_str())) {
            return Err(AuthError::backend(KeyError::InvalidKey(format!(
                "custom claim `{reserved}` would overwrite a registered claim"
            ))));
        }
        let now = self.clock.unix_seconds();
        let ttl = match kind {
            TokenKind::Access => self.config.access_ttl,
            TokenKind::Refresh => self.config.refresh_ttl,
        };
        let claims = Claims {
            sub: subject.to_string(),
            iat: now,
            nbf: now,
            exp: contents.not_after.map_or(now.saturating_add(ttl.num_seconds()), |cap| {
                cap.min(now.saturating_add(ttl.num_seconds()))
            }),
            jti: contents.jti.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
            token_type: kind,
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone().map(Audience::One),
            sid: contents.sid,
            cfp: contents.cfp,
            amr: contents.amr,
            auth_time: contents.auth_time,
            extra: contents.extra,
        };
        let key = self.keys.signing_key().ok_or_else(|| AuthError::backend(KeyError::NotASigningKey))?;
        let encoding = key.encoding_key().ok_or_else(|| AuthError::backend(KeyError::NotASigningKey))?;
        let mut header = JwtHeader::new(key.algorithm().to_jsonwebtoken());
        header.kid = Some(key.kid().to_owned());
        let token = jsonwebtoken::encode(&header, &claims, encoding).map_err(AuthError::backend)?;
        Ok(IssuedToken { token, claims })
    }

    /// Verifies a token's signature, registered claims, kind and the configured requirements.
    pub fn verify(&self, token: &str, expected: TokenKind) -> Result<Claims, AuthError> {
        let claims = self.verify_any_kind(token)?;
        if claims.token_type != expected {
            return Err(reject(TokenRejection::WrongKind));
        }
        Ok(claims)
    }

    /// Verifies a token of either kind.
    pub fn verify_any_kind(&self, token: &str) -> Result<Claims, AuthError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(reject(TokenRejection::Malformed));
        };
        let header_bytes = decode_part(header_b64)?;
        let header: Header<'_> =
            serde_json::from_slice(&header_bytes).map_err(|_| reject(TokenRejection::Malformed))?;
        header.check()?;
        if !no_duplicate_members(&header_bytes) {
            return Err(reject(TokenRejection::UnsupportedHeader));
        }
        let alg = JwtAlgorithm::from_header(&header.alg).ok_or(reject(TokenRejection::WrongAlgorithm))?;
        if !self.accepted.contains(&alg) {
            return Err(reject(TokenRejection::WrongAlgorithm));
        }
        let message = token.get(..header_b64.len() + 1 + payload_b64.len()).unwrap_or_default();
        let verified = self
            .keys
            .matching(header.kid.as_deref(), alg)
            .any(|key| key.verify_signature(message.as_bytes(), signature));
        if !verified {
            return Err(reject(TokenRejection::BadSignature));
        }
        let payload = decode_part(payload_b64)?;
        let claims: Claims =
            serde_json::from_slice(&payload).map_err(|_| reject(TokenRejection::Malformed))?;
        if !no_duplicate_members(&payload) {
            // `{"sub": "alice", "sub": "bob"}`: which one a parser keeps is not defined.
            return Err(reject(TokenRejection::Malformed));
        }
        if claims.token_type == TokenKind::Access && !self.config.requirements.is_empty() {
            let raw: Map<String, Value> =
                serde_json::from_slice(&payload).map_err(|_| reject(TokenRejection::Malformed))?;
            if !self.meets_requirements(&raw) {
                return Err(reject(TokenRejection::ClaimRequirement));
            }
        }
        self.check_claims(claims)
    }

    /// Whether a claim set meets every [`JwtConfig::requirements`] (for an issuer that checks the
    /// access token it is about to mint, as a refresh does).
    pub fn meets_requirements(&self, claims: &Map<String, Value>) -> bool {
        self.config.requirements.iter().all(|r| r.is_satisfied_by(claims))
    }

    fn check_claims(&self, claims: Claims) -> Result<Claims, AuthError> {
        let now = self.clock.unix_seconds();
        let leeway = self.config.leeway.num_seconds();
        if now > claims.exp.saturating_add(leeway) {
            return Err(reject(TokenRejection::Expired));
        }
        if claims.nbf > now.saturating_add(leeway) || claims.iat > now.saturating_add(leeway) {
            return Err(reject(TokenRejection::NotYetValid));
        }
        if let Some(issuer) = &self.config.issuer
            && claims.iss.as_deref() != Some(issuer.as_str())
        {
            return Err(reject(TokenRejection::WrongIssuer));
        }
        if let Some(audience) = &self.config.audience
            && !claims.aud.as_ref().is_some_and(|aud| aud.contains(audience))
        {
            return Err(reject(TokenRejection::WrongAudience));
        }
        Ok(claims)
    }
}

/// The header members verification reads. `alg` and `kid` find the key (the algorithm must be
/// the key's, exactly); the members an attacker could use to point at another key (`jku`, `jwk`,
/// `x5u`, `x5c`, `x5t`) are never read; and what would change how the token is to be understood is
/// refused: any critical extension (`crit`: none is understood here, RFC 7515 §4.1.11), an
/// unencoded payload (`b64: false`, RFC 7797), a nested token (`cty`), and a `typ` other than `JWT`
/// (case-insensitive, or absent): Portcullis tokens are typed `JWT`, and another type (`at+jwt`, a
/// logout token, ...) is another kind of token.
#[derive(serde::Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    kid: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    typ: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    b64: Option<Value>,
    #[serde(default)]
    cty: Option<serde::de::IgnoredAny>,
}

/// A member's value, `Some` whenever the member is present (`null` included).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    <Value as serde::Deserialize>::deserialize(deserializer).map(Some)
}

impl Header<'_> {
    fn check(&self) -> Result<(), AuthError> {
        let typ_ok = self.typ.as_deref().is_none_or(|typ| typ.eq_ignore_ascii_case("JWT"));
        let b64_ok = self.b64.as_ref().is_none_or(|b64| *b64 == Value::Bool(true));
        if typ_ok && b64_ok && self.crit.is_none() && self.cty.is_none() {
            Ok(())
        } else {
            Err(reject(TokenRejection::UnsupportedHeader))
        }
    }
}

/// Whether no JSON object in `json` names a member twice (RFC 7515 §4 and RFC 7519 §4: a
/// duplicate must be rejected, since parsers disagree on which one counts). `json` is valid JSON
/// (it was parsed already).
fn no_duplicate_members(json: &[u8]) -> bool {
    use serde::de::{Deserializer as _, MapAccess, SeqAccess, Visitor};

    struct Unique;

    impl<'de> serde::de::DeserializeSeed<'de> for Unique {
        type Value = ();

        fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Unique {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("JSON without duplicate members")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen: Vec<std::borrow::Cow<'de, str>> = Vec::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if seen.contains(&key) {
                    return Err(serde::de::Error::custom("duplicate member"));
                }
                seen.push(key);
                map.next_value_seed(Unique)?;
            }
            Ok(())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Unique)?.is_some() {}
            Ok(())
        }

        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }

    let mut deserializer = serde_json::Deserializer::from_slice(json);
    deserializer.deserialize_any(Unique).is_ok()
}

fn decode_part(part: &str) -> Result<Vec<u8>, AuthError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| reject(TokenRejection::Malformed))
}

fn reject(reason: TokenRejection) -> AuthError {
    AuthError::InvalidToken(reason)
}
