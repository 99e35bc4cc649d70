//! Issuing and verifying tokens.

use std::collections::HashSet;
use std::fmt;

use auth_core::{AuthError, SharedClock, TokenRejection, UserId};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use sha2::Digest as _;

use crate::{
    Audience, ClaimRequirement, Claims, CompactJws, JwtAlgorithm, JwtKey, KeyError, KeySet, TokenKind,
};

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
    /// How many verified tokens to remember, by the SHA-256 of the whole token, so that a token
    /// seen again skips the signature check and the parse of its claims (default 10 000; 0 turns
    /// it off). An entry never outlives the token's `exp` (plus the leeway, as verification
    /// allows); the time checks and the kind run on every use, and revocation is the caller's,
    /// also on every use. A lookup costs a SHA-256 and a map read: well under an RS256 or EdDSA
    /// signature, and under an HS256 verification too, whose claims parse dominates.
    pub verified_token_cache: usize,
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
            verified_token_cache: 10_000,
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

    /// Sets how many verified asymmetric tokens to remember (see
    /// [`JwtConfig::verified_token_cache`]; 0 turns the cache off).
    pub fn verified_token_cache(mut self, capacity: usize) -> Self {
        self.verified_token_cache = capacity;
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
    /// Shared by clones (same keys, same configuration).
    verified: std::sync::Arc<VerifiedTokens>,
}

/// Verified tokens by the SHA-256 of the token (see
/// [`JwtConfig::verified_token_cache`]). The key set and the requirements never change for a
/// service, so a token verified once stays verified until it expires.
#[derive(Debug)]
struct VerifiedTokens {
    capacity: usize,
    entries: std::sync::RwLock<auth_core::ExpiringMap<[u8; 32], Claims, i64>>,
}

impl VerifiedTokens {
    fn new(capacity: usize) -> Self {
        Self { capacity, entries: std::sync::RwLock::new(auth_core::ExpiringMap::new(capacity)) }
    }

    fn key(token: &str) -> [u8; 32] {
        sha2::Sha256::digest(token.as_bytes()).into()
    }

    /// The claims of a token verified before, if it is not past `exp` plus the leeway (`deadline`
    /// is now minus the leeway).
    fn get(&self, key: &[u8; 32], deadline: i64) -> Option<Claims> {
        let entries = self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.get(key, deadline).cloned()
    }

    /// Remembers `claims` until their `exp` plus the leeway; a full cache makes room (see
    /// [`auth_core::ExpiringMap`]).
    fn put(&self, key: [u8; 32], claims: &Claims, deadline: i64) {
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.insert(key, claims.clone(), claims.exp.saturating_add(1), deadline);
    }

    fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }
}

impl JwtService {
    /// A service signing with the key set's signing key.
    pub fn new(config: JwtConfig, keys: KeySet, clock: SharedClock) -> Result<Self, KeyError> {
        let accepted = keys.all_keys().iter().map(|k| k.algorithm()).collect();
        let capacity = config.verified_token_cache;
        let verified = std::sync::Arc::new(VerifiedTokens::new(capacity));
        Ok(Self { config, keys, clock, accepted, verified })
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
        // The compact JWS, built here rather than by jsonwebtoken, which has no ES512.
        #[derive(serde::Serialize)]
        struct TokenHeader<'a> {
            alg: &'a str,
            kid: &'a str,
            typ: &'a str,
        }
        let header = TokenHeader { alg: key.algorithm().as_str(), kid: key.kid(), typ: "JWT" };
        let header = serde_json::to_vec(&header).map_err(AuthError::backend)?;
        let payload = serde_json::to_vec(&claims).map_err(AuthError::backend)?;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut token = b64.encode(header);
        token.push('.');
        b64.encode_string(payload, &mut token);
        let signature = key.sign(token.as_bytes()).map_err(AuthError::backend)?;
        token.push('.');
        token.push_str(&signature);
        Ok(IssuedToken { token, claims })
    }

    /// Verifies a token's signature, registered claims, kind and the configured requirements.
    ///
    /// Access tokens go through the verified-token cache; refresh tokens never do: each is
    /// presented once (rotation), so remembering them would only crowd out the access tokens.
    pub fn verify(&self, token: &str, expected: TokenKind) -> Result<Claims, AuthError> {
        let claims = match expected {
            TokenKind::Refresh => self.verify_uncached(token)?,
            _ => self.verify_any_kind(token)?,
        };
        if claims.token_type != expected {
            return Err(reject(TokenRejection::WrongKind));
        }
        Ok(claims)
    }

    /// How many verified tokens the cache holds (see [`JwtConfig::verified_token_cache`]).
    pub fn cached_tokens(&self) -> usize {
        self.verified.len()
    }

    /// Verifies a token of either kind.
    pub fn verify_any_kind(&self, token: &str) -> Result<Claims, AuthError> {
        let key = (self.verified.capacity > 0).then(|| VerifiedTokens::key(token));
        let deadline = || self.clock.unix_seconds().saturating_sub(self.config.leeway.num_seconds());
        if let Some(claims) = key.as_ref().and_then(|key| self.verified.get(key, deadline())) {
            return self.check_claims(claims);
        }
        let claims = self.verify_uncached(token)?;
        if let Some(key) = key
            && claims.token_type == TokenKind::Access
        {
            self.verified.put(key, &claims, deadline());
        }
        Ok(claims)
    }

    /// The full verification: header, algorithm, signature, claims, requirements.
    fn verify_uncached(&self, token: &str) -> Result<Claims, AuthError> {
        let jws = CompactJws::parse(token).map_err(reject)?;
        // Portcullis tokens are typed `JWT` (or untyped): another type (`at+jwt`, a logout
        // token, ...) is another kind of token.
        if !jws.typ_is_one_of(&["JWT"]) {
            return Err(reject(TokenRejection::UnsupportedHeader));
        }
        if !self.accepted.contains(&jws.algorithm()) {
            return Err(reject(TokenRejection::WrongAlgorithm));
        }
        if !self.keys.matching(jws.kid(), jws.algorithm()).any(|key| jws.verify_with(key)) {
            return Err(reject(TokenRejection::BadSignature));
        }
        let payload = jws.payload_bytes().map_err(reject)?;
        let claims: Claims =
            serde_json::from_slice(&payload).map_err(|_| reject(TokenRejection::Malformed))?;
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

fn reject(reason: TokenRejection) -> AuthError {
    AuthError::InvalidToken(reason)
}
