//! Fetching and caching an issuer's JWKS.
//!
//! - The key set lives for the response's `Cache-Control: max-age`, held within
//!   [`JwksSettings::min_ttl`] and [`JwksSettings::max_ttl`] (`no-store`/`no-cache` count as the
//!   minimum, no header as [`JwksSettings::default_ttl`]).
//! - It is refreshed in the background before it expires ([`JwksSettings::refresh_ahead`]).
//! - A token naming an unknown `kid` makes one refetch, at most once per
//!   [`JwksSettings::refetch_interval`] however many forged kids arrive.
//! - When the issuer is down, the last good set keeps serving for at most
//!   [`JwksSettings::max_stale`] past its expiry (logged); after that, or with no set ever
//!   fetched, tokens are refused (401), never a 503.
//! - A JWK whose `use`, `alg` or `kty` contradicts the issuer's pinned algorithms is skipped, and
//!   so is every symmetric (`oct`) or private key: a fetched JWKS only ever yields public keys.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use auth_core::SharedClock;
use auth_jwt::{JwtAlgorithm, JwtKey};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::http::{Fetched, HttpFetcher};
use crate::issuer::KeySource;

/// Timing and size rules of JWKS fetching.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JwksSettings {
    /// The shortest a fetched set is trusted before a refresh (default 60 s).
    pub min_ttl: Duration,
    /// The longest (default 24 h).
    pub max_ttl: Duration,
    /// The lifetime when the response has no `Cache-Control: max-age` (default 10 min).
    pub default_ttl: Duration,
    /// How long before expiry the background refresh runs (default 30 s, at most half the TTL).
    pub refresh_ahead: Duration,
    /// At most one fetch per this interval on unknown kids or failures (default 60 s).
    pub refetch_interval: Duration,
    /// How long past its expiry the last good set serves while the issuer is down (default 24 h).
    pub max_stale: Duration,
    /// HTTP timeout of one fetch, connection included (default 5 s).
    pub timeout: Duration,
    /// The largest JWKS or discovery document read (default 256 KiB).
    pub max_document_bytes: usize,
}

impl Default for JwksSettings {
    fn default() -> Self {
        Self {
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            default_ttl: Duration::from_secs(600),
            refresh_ahead: Duration::from_secs(30),
            refetch_interval: Duration::from_secs(60),
            max_stale: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(5),
            max_document_bytes: 256 * 1024,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    keys: Arc<Vec<JwtKey>>,
    /// When the current keys were fetched (`None`: never).
    fetched_at: Option<DateTime<Utc>>,
    /// When they should be replaced.
    expires_at: Option<DateTime<Utc>>,
    /// Fetch attempts so far: a caller that asked before an attempt finished uses its outcome.
    generation: u64,
    /// When the last attempt failed (retries wait the refetch interval).
    failed_at: Option<DateTime<Utc>>,
    /// When an unknown kid last caused a fetch.
    unknown_kid_at: Option<DateTime<Utc>>,
    /// The JWKS URL found by discovery.
    jwks_url: Option<String>,
}

/// The keys of one issuer: static, or fetched and cached.
#[derive(Debug)]
pub(crate) struct KeyCache {
    issuer: String,
    source: KeySource,
    pinned: Vec<JwtAlgorithm>,
    settings: JwksSettings,
    clock: SharedClock,
    http: HttpFetcher,
    state: RwLock<State>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
    /// A background refresh is scheduled or running.
    refreshing: AtomicBool,
    fetches: AtomicU64,
}

/// Why a fetch is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// No set, a stale one, or one due for refresh.
    Due,
    /// A token names a kid the set lacks.
    UnknownKid,
}

impl KeyCache {
    pub(crate) fn new(
        issuer: &str,
        source: KeySource,
        pinned: Vec<JwtAlgorithm>,
        settings: JwksSettings,
        clock: SharedClock,
        http: HttpFetcher,
    ) -> Self {
        let mut state = State::default();
        if let KeySource::Static(keys) = &source {
            state.keys = Arc::new(keys.iter().filter(|k| pinned.contains(&k.algorithm())).cloned().collect());
        }
        Self {
            issuer: issuer.to_owned(),
            source,
            pinned,
            settings,
            clock,
            http,
            state: RwLock::new(state),
            fetching: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
            fetches: AtomicU64::new(0),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_static(&self) -> bool {
        matches!(self.source, KeySource::Static(_))
    }

    /// How many fetches were attempted (JWKS and discovery documents).
    pub(crate) fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The issuer's keys, to be searched for one of `alg` naming `kid`: fetched first when
    /// none was ever fetched or the set is stale beyond the bound, refreshed in the background
    /// when due, and refetched (within the interval's limit) when no key of `alg` has `kid`.
    /// Empty when nothing usable is known.
    pub(crate) async fn lookup(self: &Arc<Self>, kid: Option<&str>, alg: JwtAlgorithm) -> Arc<Vec<JwtKey>> {
        if self.is_static() {
            return self.read().keys.clone();
        }
        let now = self.clock.now();
        let (usable, due, mut generation) = {
            let state = self.read();
            let usable =
                state.expires_at.is_some_and(|expires| now <= expires + self.settings.max_stale_chrono());
            let due = state.expires_at.is_none_or(|expires| now >= expires - self.refresh_ahead(&state));
            (usable, due, state.generation)
        };
        if !usable {
            // Never fetched, or stale beyond the bound: fetch now (failures retried once per
            // interval).
            self.fetch_if_allowed(Reason::Due, generation).await;
            generation = self.read().generation;
        } else if due {
            self.refresh_in_background();
        }
        let keys = self.usable_keys();
        let has = |keys: &[JwtKey]| {
            keys.iter().any(|key| key.algorithm() == alg && kid.is_none_or(|kid| key.kid() == kid))
        };
        if has(&keys) || kid.is_none() {
            return keys;
        }
        // An unknown kid: the issuer may have rotated a key in.
        if self.fetch_if_allowed(Reason::UnknownKid, generation).await {
            return self.usable_keys();
        }
        keys
    }

    /// The current keys, or none when they are stale beyond the bound.
    fn usable_keys(&self) -> Arc<Vec<JwtKey>> {
        let now = self.clock.now();
        let state = self.read();
        if state.expires_at.is_some_and(|expires| now <= expires + self.settings.max_stale_chrono()) {
            state.keys.clone()
        } else {
            Arc::default()
        }
    }

    fn refresh_ahead(&self, state: &State) -> chrono::Duration {
        let ahead = chrono::Duration::from_std(self.settings.refresh_ahead).unwrap_or_default();
        match (state.fetched_at, state.expires_at) {
            (Some(fetched), Some(expires)) => ahead.min((expires - fetched) / 2),
            _ => ahead,
        }
    }

    /// Whether the keys are due for their refresh (background task).
    pub(crate) fn is_due(&self) -> bool {
        if self.is_static() {
            return false;
        }
        let now = self.clock.now();
        let state = self.read();
        state.expires_at.is_none_or(|expires| now >= expires - self.refresh_ahead(&state))
    }

    fn refresh_in_background(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.refreshing.store(false, Ordering::Release);
            return;
        };
        let cache = Arc::clone(self);
        let generation = self.read().generation;
        runtime.spawn(async move {
            cache.fetch_if_allowed(Reason::Due, generation).await;
            cache.refreshing.store(false, Ordering::Release);
        });
    }

    /// Fetches the key set for `reason`, unless an attempt finished since the caller read
    /// `generation` (concurrent callers wait for the one fetch and use its outcome), a failure is
    /// younger than the refetch interval, or (for an unknown kid) an unknown kid already caused a
    /// fetch within the interval. Returns whether the set may have changed.
    pub(crate) async fn fetch_if_allowed(&self, reason: Reason, generation: u64) -> bool {
        if self.is_static() {
            return false;
        }
        let _one = self.fetching.lock().await;
        let now = self.clock.now();
        let interval = chrono::Duration::from_std(self.settings.refetch_interval).unwrap_or_default();
        {
            let mut state = self.write();
            if state.generation != generation {
                return true;
            }
            let within = |at: Option<DateTime<Utc>>| at.is_some_and(|at| now < at + interval);
            if within(state.failed_at) || (reason == Reason::UnknownKid && within(state.unknown_kid_at)) {
                return false;
            }
            if reason == Reason::UnknownKid {
                state.unknown_kid_at = Some(now);
            }
        }
        let outcome = self.fetch().await;
        let mut state = self.write();
        state.generation += 1;
        match outcome {
            Ok((keys, ttl)) => {
                let now = self.clock.now();
                state.keys = Arc::new(keys);
                state.fetched_at = Some(now);
                state.failed_at = None;
                state.expires_at = Some(now + chrono::Duration::from_std(ttl).unwrap_or_default());
                true
            }
            Err(error) => {
                state.failed_at = Some(self.clock.now());
                match state.expires_at {
                    Some(expires) => tracing::warn!(
                        issuer = %self.issuer, %error, expired_at = %expires,
                        "JWKS fetch failed; serving the last good key set (bounded by max_stale)"
                    ),
                    None => tracing::warn!(
                        issuer = %self.issuer, %error,
                        "JWKS fetch failed and no key set was ever fetched: its tokens are refused"
                    ),
                }
                false
            }
        }
    }

    async fn fetch(&self) -> Result<(Vec<JwtKey>, Duration), String> {
        let url = match &self.source {
            KeySource::Static(_) => return Err("static keys are never fetched".to_owned()),
            KeySource::JwksUrl(url) => url.clone(),
            KeySource::Discovery(discovery) => {
                let known = self.read().jwks_url.clone();
                match known {
                    Some(url) => url,
                    None => {
                        let url = self.discover(discovery).await?;
                        self.write().jwks_url = Some(url.clone());
                        url
                    }
                }
            }
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let Fetched { body, max_age } = self.http.get_json(&url, None).await?;
        let keys = self.keys_of(&body)?;
        let ttl = match max_age {
            Some(age) => age.clamp(self.settings.min_ttl, self.settings.max_ttl),
            None => self.settings.default_ttl.clamp(self.settings.min_ttl, self.settings.max_ttl),
        };
        tracing::debug!(issuer = %self.issuer, keys = keys.len(), ttl_s = ttl.as_secs(), "JWKS fetched");
        Ok((keys, ttl))
    }

    async fn discover(&self, url: &str) -> Result<String, String> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let Fetched { body, .. } = self.http.get_json(url, None).await?;
        let issuer = body.get("issuer").and_then(Value::as_str);
        if issuer != Some(self.issuer.as_str()) {
            // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer exactly.
            return Err(format!("the discovery document names issuer {issuer:?}, not {:?}", self.issuer));
        }
        let jwks_uri = body
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| "the discovery document has no jwks_uri".to_owned())?;
        self.http.check_url(jwks_uri)?;
        Ok(jwks_uri.to_owned())
    }

    /// The usable keys of a JWKS document, each bound to one pinned algorithm.
    fn keys_of(&self, document: &Value) -> Result<Vec<JwtKey>, String> {
        let jwks = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| "the JWKS has no \"keys\" array".to_owned())?;
        let mut keys = Vec::new();
        for jwk in jwks {
            keys.extend(usable_keys(jwk, &self.pinned, &self.issuer));
        }
        Ok(keys)
    }
}

/// The keys one JWK gives under the pinned algorithms: none when its `use` is not `sig`, its `alg`
/// is not pinned, its `kty` fits no pinned algorithm, or it is symmetric or private.
fn usable_keys(jwk: &Value, pinned: &[JwtAlgorithm], issuer: &str) -> Vec<JwtKey> {
    let skip = |why: &str| {
        tracing::debug!(issuer, kid = ?jwk.get("kid"), why, "JWK skipped");
        Vec::new()
    };
    let Some(object) = jwk.as_object() else { return skip("not an object") };
    match object.get("use").and_then(Value::as_str) {
        None | Some("sig") => {}
        Some(_) => return skip("not a signature key"),
    }
    if object.contains_key("d") || object.get("kty").and_then(Value::as_str) == Some("oct") {
        return skip("a private or symmetric key");
    }
    let candidates: Vec<JwtAlgorithm> = match object.get("alg").and_then(Value::as_str) {
        Some(name) => match JwtAlgorithm::from_header(name) {
            Some(alg) if pinned.contains(&alg) => vec![alg],
            _ => return skip("its alg is not accepted from this issuer"),
        },
        None => pinned.iter().copied().filter(|alg| !alg.is_hmac()).collect(),
    };
    // `from_jwk` refuses a key type that does not fit the algorithm (an RSA key for ES256, ...).
    candidates.into_iter().filter_map(|alg| JwtKey::from_jwk(jwk, Some(alg)).ok()).collect()
}

trait MaxStale {
    fn max_stale_chrono(&self) -> chrono::Duration;
}

impl MaxStale for JwksSettings {
    fn max_stale_chrono(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.max_stale).unwrap_or(chrono::Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rsa_jwk() -> Value {
        let key = auth_jwt::generate_key(JwtAlgorithm::RS256).unwrap().to_key().unwrap();
        key.public_jwk().unwrap()
    }

    #[test]
    fn a_jwk_contradicting_the_pinned_algorithms_gives_no_key() {
        let mut jwk = rsa_jwk();
        assert_eq!(usable_keys(&jwk, &[JwtAlgorithm::RS256], "i").len(), 1);
        assert!(usable_keys(&jwk, &[JwtAlgorithm::ES256], "i").is_empty(), "alg RS256 is not pinned");
        jwk.as_object_mut().unwrap().remove("alg");
        let both = usable_keys(&jwk, &[JwtAlgorithm::RS256, JwtAlgorithm::PS256, JwtAlgorithm::ES256], "i");
        let algs: Vec<_> = both.iter().map(JwtKey::algorithm).collect();
        assert_eq!(algs, [JwtAlgorithm::RS256, JwtAlgorithm::PS256], "an RSA key never becomes an EC key");
        assert!(usable_keys(&jwk, &[JwtAlgorithm::ES256], "i").is_empty(), "kty RSA fits no pinned alg");
        jwk["use"] = json!("enc");
        assert!(usable_keys(&jwk, &[JwtAlgorithm::RS256], "i").is_empty(), "use enc");
        let oct = json!({"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI", "alg": "HS256"});
        assert!(usable_keys(&oct, &[JwtAlgorithm::HS256], "i").is_empty(), "no shared secret from a JWKS");
    }
}
