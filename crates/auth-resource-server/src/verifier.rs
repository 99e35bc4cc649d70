//! The verifier: an [`Authenticator`] for the bearer tokens of the configured issuers.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use auth_core::http_support::bearer_token;
use auth_core::{
    AuthError, Authenticator, Authority, CredentialMethod, Principal, SharedClock, SystemClock,
    TokenRejection, UserId,
};
use auth_jwt::{CompactJws, JwtAlgorithm};
use chrono::{DateTime, Utc};
use http::request::Parts;
use serde_json::Value;
use sha2::Digest as _;

use crate::claims::TokenClaims;
use crate::http::HttpFetcher;
use crate::issuer::{Issuer, KeySource};
use crate::jwks::{JwksSettings, KeyCache};
use crate::revocation::{FeedState, spawn_polling};

/// Why a resource server cannot be built. It refuses to start rather than verify loosely.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No issuer is configured.
    #[error("a resource server needs at least one issuer")]
    NoIssuer,
    /// Two issuers have the same `iss`.
    #[error("issuer {0:?} is configured twice")]
    DuplicateIssuer(String),
    /// An issuer has no pinned algorithm.
    #[error("issuer {0:?}: pin its algorithms (they are never taken from the token)")]
    NoAlgorithm(String),
    /// An issuer has no audience and accepts any only with the `danger_` switch.
    #[error("issuer {0:?}: name the accepted audience (or danger_accept_any_audience)")]
    NoAudience(String),
    /// HMAC pinned for keys that are fetched: a JWKS never carries shared secrets.
    #[error("issuer {0:?}: HMAC algorithms need static keys (a JWKS never yields shared secrets)")]
    HmacFromUrl(String),
    /// A static key set without a key of any pinned algorithm.
    #[error("issuer {0:?}: none of its static keys has a pinned algorithm")]
    NoUsableKey(String),
    /// A claim mapping pointer is not an RFC 6901 pointer.
    #[error("issuer {issuer:?}: {pointer:?} is not a JSON pointer (it starts with '/')")]
    InvalidPointer {
        /// The issuer.
        issuer: String,
        /// The pointer.
        pointer: String,
    },
    /// A URL is unusable (not a URL, or plain HTTP to a non-loopback host).
    #[error("issuer {issuer:?}: {reason}")]
    InvalidUrl {
        /// The issuer.
        issuer: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client cannot be built.
    #[error("{0}")]
    Http(String),
}

/// Builds a [`ResourceServer`].
#[derive(Debug, Default)]
pub struct ResourceServerBuilder {
    issuers: Vec<Issuer>,
    clock: Option<SharedClock>,
    jwks: JwksSettings,
    insecure_allow_http: bool,
    token_cache: usize,
}

impl ResourceServerBuilder {
    /// Trusts an issuer.
    pub fn issuer(mut self, issuer: Issuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Reads time from this clock (default: the system clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Replaces the JWKS fetching rules.
    pub fn jwks_settings(mut self, settings: JwksSettings) -> Self {
        self.jwks = settings;
        self
    }

    /// Allows plain-HTTP key and revocation URLs to hosts other than loopback. Anyone on the path
    /// can then substitute keys: only for a trusted private network.
    pub fn insecure_allow_http(mut self) -> Self {
        self.insecure_allow_http = true;
        self
    }

    /// Keeps up to `capacity` verified tokens (keyed by a SHA-256 of the token), so a token seen
    /// again skips the signature check; an entry never outlives the token's `exp`, and
    /// revocations are still checked on every use. Off (0) by default.
    pub fn token_cache(mut self, capacity: usize) -> Self {
        self.token_cache = capacity;
        self
    }

    /// Checks the configuration and builds the verifier. Nothing is fetched yet: keys are
    /// fetched at the first token (or by [`ResourceServer::warm_up`]).
    pub fn build(self) -> Result<ResourceServer, ConfigError> {
        if self.issuers.is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        let clock = self.clock.unwrap_or_else(SystemClock::shared);
        let http =
            HttpFetcher::new(self.jwks.timeout, self.jwks.max_document_bytes, self.insecure_allow_http)
                .map_err(ConfigError::Http)?;
        let mut issuers = Vec::new();
        for issuer in self.issuers {
            check_issuer(&issuer, &http)?;
            if issuers.iter().any(|known: &IssuerState| known.config.issuer == issuer.issuer) {
                return Err(ConfigError::DuplicateIssuer(issuer.issuer));
            }
            let keys = Arc::new(KeyCache::new(
                &issuer.issuer,
                issuer.keys.clone(),
                issuer.algorithms.clone(),
                self.jwks.clone(),
                clock.clone(),
                http.clone(),
            ));
            let feed = issuer
                .revocations
                .clone()
                .map(|feed| Arc::new(FeedState::new(feed, clock.clone(), http.clone())));
            let typs = issuer.token_types.clone();
            issuers.push(IssuerState { config: issuer, no_authority: Arc::default(), keys, feed, typs });
        }
        let cache = (self.token_cache > 0).then(|| TokenCache::new(self.token_cache));
        Ok(ResourceServer { inner: Arc::new(Inner { issuers, clock, cache }) })
    }
}

fn check_issuer(issuer: &Issuer, http: &HttpFetcher) -> Result<(), ConfigError> {
    let name = || issuer.issuer.clone();
    if issuer.algorithms.is_empty() {
        return Err(ConfigError::NoAlgorithm(name()));
    }
    if issuer.audiences.is_empty() && !issuer.any_audience {
        return Err(ConfigError::NoAudience(name()));
    }
    match &issuer.keys {
        KeySource::Static(keys) => {
            if !keys.iter().any(|key| issuer.algorithms.contains(&key.algorithm())) {
                return Err(ConfigError::NoUsableKey(name()));
            }
        }
        KeySource::Discovery(_) | KeySource::JwksUrl(_) => {
            if issuer.algorithms.iter().any(|alg| alg.is_hmac()) {
                return Err(ConfigError::HmacFromUrl(name()));
            }
        }
    }
    for url in issuer.urls() {
        http.check_url(url).map_err(|reason| ConfigError::InvalidUrl { issuer: name(), reason })?;
    }
    let mapping = &issuer.mapping;
    for pointer in std::iter::once(&mapping.subject)
        .chain(&mapping.roles)
        .chain(&mapping.permissions)
        .chain(&mapping.tenant)
    {
        if !pointer.starts_with('/') {
            return Err(ConfigError::InvalidPointer { issuer: name(), pointer: pointer.clone() });
        }
    }
    Ok(())
}

#[derive(Debug)]
struct IssuerState {
    config: Issuer,
    /// The authority of every token when the mapping names no roles, permissions or tenant.
    no_authority: Arc<Authority>,
    keys: Arc<KeyCache>,
    feed: Option<Arc<FeedState>>,
    typs: Vec<String>,
}

#[derive(Debug)]
struct Inner {
    issuers: Vec<IssuerState>,
    clock: SharedClock,
    cache: Option<TokenCache>,
}

/// Verifies the access tokens of other issuers (any OpenID provider, or a Portcullis server) from
/// their keys, with no database: an [`Authenticator`] for `Authorization: Bearer`, so the adapters'
/// `Auth` extractors, `RequireAuthLayer`/`RequireAuth`, guards and `FirstPresented` chains use it
/// unchanged.
///
/// A token is accepted when its `iss` is a configured issuer, its header names one of that
/// issuer's pinned algorithms with a key of the issuer's (by `kid`), the signature verifies, `exp`
/// is present and not past (with the leeway), `nbf`/`iat` are not in the future, `aud` names an
/// accepted audience, the claim requirements hold, and (with a revocation feed) it is not revoked.
/// Every refusal is 401 `invalid_token`; a revocation feed failing for longer than its bound is
/// 503.
///
/// ```
/// use auth_core::{Authenticator, CredentialMethod};
/// use auth_jwt::{JwtAlgorithm, JwtKey};
/// use auth_resource_server::{Issuer, ResourceServer};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let key = JwtKey::hmac(JwtAlgorithm::HS256, &[9u8; 32]).unwrap();
/// let verifier = ResourceServer::builder()
///     .issuer(Issuer::static_keys("https://issuer.example.com", [key]).audience("api"))
///     .build()
///     .unwrap();
/// let (parts, _) = http::Request::new(()).into_parts();
/// assert!(verifier.authenticate(&parts).await.unwrap().is_none(), "no bearer token: not presented");
/// assert!(verifier.verify("not.a.token").await.is_err());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ResourceServer {
    inner: Arc<Inner>,
}

/// The background work of a [`ResourceServer`]: key refreshes before expiry and revocation polls.
/// Stops when dropped.
#[derive(Debug)]
pub struct BackgroundTasks {
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

impl ResourceServer {
    /// A builder.
    pub fn builder() -> ResourceServerBuilder {
        ResourceServerBuilder::default()
    }

    /// Fetches every issuer's keys (and revocation snapshot) now, so the first request does not
    /// wait for them. Returns the issuers whose keys could not be fetched (they are retried later).
    pub async fn warm_up(&self) -> Vec<String> {
        let mut failed = Vec::new();
        for issuer in &self.inner.issuers {
            let keys = issuer.keys.lookup(None, first_alg(&issuer.config)).await;
            if keys.is_empty() {
                failed.push(issuer.config.issuer.clone());
            }
            if let Some(feed) = &issuer.feed {
                feed.poll().await;
            }
        }
        failed
    }

    /// Starts the background work: each issuer's keys are refreshed before they expire, and each
    /// revocation feed is polled at its interval. Call inside a tokio runtime; keep the returned
    /// value alive as long as the verifier serves.
    pub fn spawn_background(&self) -> BackgroundTasks {
        let feeds: Vec<Arc<FeedState>> = self.inner.issuers.iter().filter_map(|i| i.feed.clone()).collect();
        let mut handles = spawn_polling(feeds);
        let caches: Vec<(Arc<KeyCache>, JwtAlgorithm)> =
            self.inner.issuers.iter().map(|i| (i.keys.clone(), first_alg(&i.config))).collect();
        handles.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(5));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                for (cache, alg) in &caches {
                    if cache.is_due() {
                        cache.lookup(None, *alg).await;
                    }
                }
            }
        }));
        BackgroundTasks { handles }
    }

    /// How many key documents (discovery and JWKS) were fetched for `issuer` so far.
    pub fn fetch_count(&self, issuer: &str) -> u64 {
        self.inner.issuers.iter().find(|i| i.config.issuer == issuer).map_or(0, |i| i.keys.fetch_count())
    }

    /// Polls every revocation feed once now.
    pub async fn poll_revocations(&self) {
        for feed in self.inner.issuers.iter().filter_map(|i| i.feed.as_ref()) {
            feed.poll().await;
        }
    }

    /// Verifies a token and maps it to a principal.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let now = self.inner.clock.now();
        let cache_key = self.inner.cache.as_ref().map(|_| TokenCache::key(token));
        if let (Some(cache), Some(key)) = (&self.inner.cache, &cache_key)
            && let Some((principal, issuer, issued_at)) = cache.get(key, now)
        {
            let issuer = self.inner.issuers.get(issuer).ok_or(reject(TokenRejection::WrongIssuer))?;
            check_revocation(issuer, &principal, issued_at).await?;
            return Ok(principal);
        }
        let jws = CompactJws::parse(token).map_err(reject)?;
        // Unverified until the signature is checked: `iss` only picks the issuer whose keys must
        // verify it.
        let payload = jws.payload_json().map_err(reject)?;
        let claims = TokenClaims::parse(&payload).ok_or(reject(TokenRejection::Malformed))?;
        let iss =
            claims.rest.get("iss").and_then(Value::as_str).ok_or(reject(TokenRejection::WrongIssuer))?;
        let (index, issuer) = self
            .inner
            .issuers
            .iter()
            .enumerate()
            .find(|(_, i)| i.config.issuer == iss)
            .ok_or(reject(TokenRejection::WrongIssuer))?;
        if !jws.typ_is_one_of(&issuer.typs) {
            return Err(reject(TokenRejection::UnsupportedHeader));
        }
        let alg = jws.algorithm();
        if !issuer.config.algorithms.contains(&alg) {
            return Err(reject(TokenRejection::WrongAlgorithm));
        }
        let keys = issuer.keys.lookup(jws.kid(), alg).await;
        let verified = keys
            .iter()
            .filter(|key| key.algorithm() == alg && jws.kid().is_none_or(|kid| key.kid() == kid))
            .any(|key| jws.verify_with(key));
        if !verified {
            return Err(reject(TokenRejection::BadSignature));
        }
        let exp = check_time(&claims, &issuer.config, now)?;
        check_audience(&claims, &issuer.config)?;
        if !issuer.config.requirements.iter().all(|r| claims.satisfies(r)) {
            return Err(reject(TokenRejection::ClaimRequirement));
        }
        let (principal, issued_at) = map_principal(claims, issuer, exp)?;
        check_revocation(issuer, &principal, issued_at).await?;
        if let (Some(cache), Some(key)) = (&self.inner.cache, cache_key) {
            cache.put(key, &principal, index, issued_at, exp, now);
        }
        Ok(principal)
    }
}

fn first_alg(issuer: &Issuer) -> JwtAlgorithm {
    issuer.algorithms.first().copied().unwrap_or(JwtAlgorithm::RS256)
}

#[async_trait]
impl Authenticator for ResourceServer {
    async fn authenticate(&self, parts: &Parts) -> Result<Option<Principal>, AuthError> {
        match bearer_token(&parts.headers) {
            None => Ok(None),
            Some(Err(error)) => Err(error),
            Some(Ok(token)) => self.verify(token).await.map(Some),
        }
    }
}

fn reject(reason: TokenRejection) -> AuthError {
    AuthError::InvalidToken(reason)
}

/// A time claim: a number of seconds (a fraction is cut); any other type is malformed.
fn seconds(claims: &TokenClaims, name: &str) -> Result<Option<i64>, AuthError> {
    match claims.registered(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or(reject(TokenRejection::Malformed)),
        Some(_) => Err(reject(TokenRejection::Malformed)),
    }
}

/// Checks `exp` (required), `nbf` and `iat`; returns `exp`.
fn check_time(claims: &TokenClaims, issuer: &Issuer, now: DateTime<Utc>) -> Result<i64, AuthError> {
    let now = now.timestamp();
    let leeway = i64::try_from(issuer.leeway.as_secs()).unwrap_or(i64::MAX);
    let exp = seconds(claims, "exp")?.ok_or(reject(TokenRejection::Malformed))?;
    // RFC 7519 §4.1.4: the current time must be before `exp`.
    if now >= exp.saturating_add(leeway) {
        return Err(reject(TokenRejection::Expired));
    }
    for name in ["nbf", "iat"] {
        if seconds(claims, name)?.is_some_and(|at| at > now.saturating_add(leeway)) {
            return Err(reject(TokenRejection::NotYetValid));
        }
    }
    Ok(exp)
}

fn check_audience(claims: &TokenClaims, issuer: &Issuer) -> Result<(), AuthError> {
    if issuer.any_audience {
        return Ok(());
    }
    let accepted = |aud: &Value| aud.as_str().is_some_and(|aud| issuer.audiences.iter().any(|a| a == aud));
    let ok = match claims.rest.get("aud") {
        Some(Value::Array(all)) => all.iter().any(accepted),
        Some(one) => accepted(one),
        None => false,
    };
    if ok { Ok(()) } else { Err(reject(TokenRejection::WrongAudience)) }
}

/// The value at an RFC 6901 pointer into the claims, without building a `Value` around them.
fn at<'c>(claims: &'c TokenClaims, pointer: &str) -> Option<&'c Value> {
    let mut tokens = pointer.strip_prefix('/')?.split('/');
    let mut value = claims.get(unescape(tokens.next()?).as_ref())?;
    for token in tokens {
        value = match value {
            Value::Object(map) => map.get(unescape(token).as_ref())?,
            Value::Array(items) => items.get(unescape(token).parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

/// A pointer token with `~1` and `~0` unescaped.
fn unescape(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains('~') { token.replace("~1", "/").replace("~0", "~").into() } else { token.into() }
}

/// Strings at a pointer: an array of strings, or one space-separated string.
fn strings_at(claims: &TokenClaims, pointer: &str) -> Vec<String> {
    match at(claims, pointer) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// The principal of a verified token, and its `iat` (for revocation checks). The claims mapped
/// into the principal's own fields (`sub`, `exp`, `nbf`, `iat`, `jti`, `sid`, `auth_time`, `amr`)
/// are not repeated in [`Principal::claims`]; every other claim is there.
fn map_principal(
    mut claims: TokenClaims,
    issuer: &IssuerState,
    exp: i64,
) -> Result<(Principal, Option<i64>), AuthError> {
    let config = &issuer.config;
    let mapping = &config.mapping;
    let subject = match at(&claims, &mapping.subject) {
        Some(Value::String(subject)) if !subject.is_empty() => subject.clone(),
        _ => return Err(reject(TokenRejection::Malformed)),
    };
    let method = if config.portcullis { CredentialMethod::Jwt } else { CredentialMethod::ExternalJwt };
    let mut principal = Principal::new(UserId::new(subject), method);
    principal.scopes = match (claims.rest.contains_key("scope"), claims.rest.contains_key("scp")) {
        (true, _) => strings_at(&claims, "/scope"),
        (false, true) => strings_at(&claims, "/scp"),
        (false, false) => Vec::new(),
    };
    principal.amr = strings_at(&claims, "/amr");
    principal.authority =
        if mapping.roles.is_none() && mapping.permissions.is_none() && mapping.tenant.is_none() {
            issuer.no_authority.clone()
        } else {
            let mut authority = Authority::new();
            if let Some(pointer) = &mapping.roles {
                for role in strings_at(&claims, pointer) {
                    authority = authority.role(role);
                }
            }
            if let Some(pointer) = &mapping.permissions {
                for permission in strings_at(&claims, pointer) {
                    authority = authority.permission(permission);
                }
            }
            if let Some(pointer) = &mapping.tenant {
                authority.tenant = at(&claims, pointer).and_then(Value::as_str).map(str::to_owned);
            }
            Arc::new(authority)
        };
    let string = |value: Option<Value>| match value {
        Some(Value::String(text)) => Some(text),
        _ => None,
    };
    let time = |value: Option<&Value>| value.and_then(Value::as_i64);
    principal.auth_time = time(claims.registered("auth_time")).and_then(|t| DateTime::from_timestamp(t, 0));
    principal.expires_at = DateTime::from_timestamp(exp, 0);
    let issued_at = time(claims.registered("iat"));
    principal.grant_id = string(claims.take("sid"));
    principal.credential_id = string(claims.take("jti"));
    if mapping.subject != "/sub"
        && let Some(sub) = claims.take("sub")
    {
        claims.rest.insert("sub".to_owned(), sub);
    }
    claims.rest.remove("amr");
    principal.claims = claims.rest;
    Ok((principal, issued_at))
}

async fn check_revocation(
    issuer: &IssuerState,
    principal: &Principal,
    issued_at: Option<i64>,
) -> Result<(), AuthError> {
    let Some(feed) = &issuer.feed else { return Ok(()) };
    if !feed.ensure_fresh().await {
        return Err(AuthError::Unavailable { retry_after_seconds: 1 });
    }
    let issued_at = issued_at.and_then(|t| DateTime::from_timestamp(t, 0)).unwrap_or_default();
    if feed.is_revoked(principal.grant_id.as_deref(), &principal.user_id, issued_at) {
        return Err(reject(TokenRejection::Revoked));
    }
    Ok(())
}

/// Verified tokens by the SHA-256 of the token, each kept until its `exp`.
#[derive(Debug)]
struct TokenCache {
    entries: RwLock<auth_core::ExpiringMap<[u8; 32], Cached, i64>>,
}

#[derive(Debug)]
struct Cached {
    principal: Principal,
    issuer: usize,
    issued_at: Option<i64>,
}

impl TokenCache {
    fn new(capacity: usize) -> Self {
        Self { entries: RwLock::new(auth_core::ExpiringMap::new(capacity)) }
    }

    fn key(token: &str) -> [u8; 32] {
        sha2::Sha256::digest(token.as_bytes()).into()
    }

    fn get(&self, key: &[u8; 32], now: DateTime<Utc>) -> Option<(Principal, usize, Option<i64>)> {
        let entries = self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        // No leeway: an entry never outlives `exp`.
        entries.get(key, now.timestamp()).map(|c| (c.principal.clone(), c.issuer, c.issued_at))
    }

    fn put(
        &self,
        key: [u8; 32],
        principal: &Principal,
        issuer: usize,
        issued_at: Option<i64>,
        exp: i64,
        now: DateTime<Utc>,
    ) {
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let cached = Cached { principal: principal.clone(), issuer, issued_at };
        entries.insert(key, cached, exp, now.timestamp());
    }
}
