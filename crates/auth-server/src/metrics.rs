//! `GET /metrics`: the server's figures in the Prometheus text format (OpenMetrics), served on
//! `PORTCULLIS_METRICS_BIND`, apart from the API.
//!
//! What is counted where:
//! - every API request, by method, route and status, with its latency (the HTTP layer of either
//!   adapter: [`ServerMetrics::observe_request`]); rate-limit blocks are the 429s, also counted
//!   on their own;
//! - sign-ins by outcome and method, reuse detections and the other security events, from the
//!   audit log ([`CountingAuditStore`] counts each event as it is recorded);
//! - at each scrape: the age of the revocation list (how far behind the database it may be), the
//!   database pool, the password hasher's queue, the caches (entries, hit ratios) and SQLite's
//!   group commit of refreshes.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use portcullis::core::audit::{AuditEvent, AuditQuery, AuditStore};
use portcullis::core::{AuthError, async_trait};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sea_orm::DatabaseConnection;

use crate::app::ServerAuth;

/// The labels of a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

/// The labels of a request's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// The labels of an audit event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    kind: String,
    flow: String,
    method: String,
}

/// A label with one name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NameLabel {
    name: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~4 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

/// The server's metrics and the registry they are encoded from.
pub struct ServerMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    rate_limited: Family<RouteLabels, Counter>,
    events: Family<EventLabels, Counter>,
    revocation_age: FloatGauge,
    pool: Family<NameLabel, Gauge>,
    hasher: Family<NameLabel, Gauge>,
    cache_entries: Family<NameLabel, Gauge>,
    cache_hit_ratio: Family<NameLabel, FloatGauge>,
    group_commit: Family<NameLabel, Gauge>,
    hasher_wait: FloatGauge,
    grants: std::sync::OnceLock<portcullis::sea_orm::SeaOrmGrantStore>,
}

impl std::fmt::Debug for ServerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerMetrics").finish_non_exhaustive()
    }
}

impl Default for ServerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerMetrics {
    /// Every metric, registered under the `portcullis_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("portcullis");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "API requests by method, route and status", requests.clone());
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "API request latency by method and route",
            latency.clone(),
        );
        let rate_limited = Family::<RouteLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit (429) by route",
            rate_limited.clone(),
        );
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "audit_events",
            "Security events by kind (sign_in_succeeded, sign_in_failed, refresh_reuse_detected, ...), flow and method",
            events.clone(),
        );
        let revocation_age = FloatGauge::default();
        registry.register(
            "revocation_sync_age_seconds",
            "Seconds since the revocation list last matched the database (the revocation-sync lag)",
            revocation_age.clone(),
        );
        let pool = Family::<NameLabel, Gauge>::default();
        registry.register("db_pool_connections", "Database pool connections (open, idle, max)", pool.clone());
        let hasher = Family::<NameLabel, Gauge>::default();
        registry.register(
            "password_hasher",
            "The argon2 hasher: running, waiting (queue depth), max_running, max_waiting",
            hasher.clone(),
        );
        let cache_entries = Family::<NameLabel, Gauge>::default();
        registry.register("cache_entries", "Entries of each in-process cache", cache_entries.clone());
        let cache_hit_ratio = Family::<NameLabel, FloatGauge>::default();
        registry.register(
            "cache_hit_ratio",
            "Hits / lookups of each credential cache since start",
            cache_hit_ratio.clone(),
        );
        let group_commit = Family::<NameLabel, Gauge>::default();
        registry.register(
            "refresh_group_commit",
            "SQLite's group commit of refresh-token rotations: groups and rotations committed",
            group_commit.clone(),
        );
        let hasher_wait = FloatGauge::default();
        registry.register(
            "password_hasher_wait_seconds",
            "Seconds requests spent waiting for a hasher slot since start (with password_hasher{name=\"waits\"})",
            hasher_wait.clone(),
        );
        Self {
            hasher_wait,
            grants: std::sync::OnceLock::new(),
            registry,
            requests,
            latency,
            rate_limited,
            events,
            revocation_age,
            pool,
            hasher,
            cache_entries,
            cache_hit_ratio,
            group_commit,
        }
    }

    /// Reports the group commit of this grant store (the server's) at each scrape.
    pub fn watch_grants(&self, grants: portcullis::sea_orm::SeaOrmGrantStore) {
        let _ = self.grants.set(grants);
    }

    /// Counts one API request (`path` is reduced to its route: ids become `{id}`).
    pub fn observe_request(&self, method: &str, path: &str, status: u16, took: Duration) {
        let route = route_of(path);
        let method = method.to_owned();
        if status == 429 {
            self.rate_limited
                .get_or_create(&RouteLabels { method: method.clone(), route: route.clone() })
                .inc();
        }
        self.latency
            .get_or_create(&RouteLabels { method: method.clone(), route: route.clone() })
            .observe(took.as_secs_f64());
        self.requests.get_or_create(&RequestLabels { method, route, status }).inc();
    }

    /// Counts one audit event.
    /// `flow` is the event's `flow` detail (mobile, web, session, token...), `method` its `amr`
    /// (the methods a sign-in used: `pwd`, `pwd otp`, ...) or, for a failure, its `reason`.
    pub fn observe_event(&self, event: &AuditEvent) {
        let detail = |key: &str| {
            event.detail.get(key).and_then(|v| v.as_str()).map(|v| v.chars().take(32).collect::<String>())
        };
        let labels = EventLabels {
            kind: event.kind.as_str().to_owned(),
            flow: detail("flow").unwrap_or_default(),
            method: detail("amr").or_else(|| detail("reason")).unwrap_or_default(),
        };
        self.events.get_or_create(&labels).inc();
    }

    /// Reads the figures that are sampled, then encodes everything.
    pub fn render(&self, auth: &ServerAuth, db: &DatabaseConnection) -> String {
        if let Some(ago) = auth.revocations_synced_ago() {
            self.revocation_age.set(ago.as_secs_f64());
        }
        self.sample_pool(db);
        let hasher = auth.accounts().hasher().stats();
        let set = |family: &Family<NameLabel, Gauge>, name: &str, value: usize| {
            family
                .get_or_create(&NameLabel { name: name.to_owned() })
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        set(&self.hasher, "running", hasher.running);
        set(&self.hasher, "waiting", hasher.waiting);
        set(&self.hasher, "max_running", hasher.max_running);
        set(&self.hasher, "max_waiting", hasher.max_waiting);
        set(&self.hasher, "waits", usize::try_from(hasher.waits).unwrap_or(usize::MAX));
        self.hasher_wait.set(hasher.waited.as_secs_f64());
        let kinds = ["opaque_tokens", "api_keys", "sessions"];
        for (name, stats) in kinds.into_iter().zip(auth.credential_cache_stats()) {
            set(&self.cache_entries, name, stats.entries);
            let lookups = stats.hits.saturating_add(stats.misses);
            let ratio = if lookups == 0 { 0.0 } else { stats.hits as f64 / lookups as f64 };
            self.cache_hit_ratio.get_or_create(&NameLabel { name: name.to_owned() }).set(ratio);
        }
        set(&self.cache_entries, "users", auth.cached_users());
        set(&self.cache_entries, "verified_tokens", auth.jwt().map_or(0, |jwt| jwt.cached_tokens()));
        if let Some(stats) = self.grants.get().map(portcullis::sea_orm::SeaOrmGrantStore::group_commit_stats)
        {
            set(&self.group_commit, "groups", usize::try_from(stats.groups).unwrap_or(usize::MAX));
            set(&self.group_commit, "rotations", usize::try_from(stats.rotations).unwrap_or(usize::MAX));
        }
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }

    fn sample_pool(&self, db: &DatabaseConnection) {
        let (open, idle, max) = match db.get_database_backend() {
            sea_orm::DbBackend::Sqlite => {
                let pool = db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle(), pool.options().get_max_connections())
            }
            sea_orm::DbBackend::Postgres => {
                let pool = db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle(), pool.options().get_max_connections())
            }
            _ => return,
        };
        let set = |name: &str, value: u64| {
            self.pool
                .get_or_create(&NameLabel { name: name.to_owned() })
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        set("open", u64::from(open));
        set("idle", idle as u64);
        set("max", u64::from(max));
    }
}

/// The route of a path: segments that look like identifiers (digits, UUIDs, long hex or token
/// strings) become `{id}`, so that the label set stays small; a path of more than six segments
/// is `other`.
pub fn route_of(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.len() > 6 {
        return "other".to_owned();
    }
    let mut route = String::with_capacity(path.len());
    for segment in segments {
        route.push('/');
        let looks_like_id = segment.len() > 24
            || segment.chars().all(|c| c.is_ascii_digit())
            || (segment.len() >= 16 && segment.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
        if looks_like_id {
            route.push_str("{id}");
        } else {
            route.push_str(segment);
        }
    }
    if route.is_empty() {
        route.push('/');
    }
    route
}

/// An [`AuditStore`] that counts each event in [`ServerMetrics`] and keeps it in the store it wraps.
#[derive(Debug)]
pub struct CountingAuditStore {
    inner: Arc<dyn AuditStore>,
    metrics: Arc<ServerMetrics>,
}

impl CountingAuditStore {
    /// Counts into `metrics`, stores into `inner`.
    pub fn new(inner: Arc<dyn AuditStore>, metrics: Arc<ServerMetrics>) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait]
impl AuditStore for CountingAuditStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuthError> {
        self.metrics.observe_event(event);
        self.inner.record(event).await
    }

    async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, AuthError> {
        self.inner.list(query).await
    }

    async fn delete_before(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64, AuthError> {
        self.inner.delete_before(before).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_keep_their_shape_and_lose_their_ids() {
        assert_eq!(route_of("/api/auth/mobile/token-refresh"), "/api/auth/mobile/token-refresh");
        assert_eq!(
            route_of("/api/auth/sessions/0190b6a4-7d2e-7c3a-9a51-2b1f4c0d9e77"),
            "/api/auth/sessions/{id}"
        );
        assert_eq!(route_of("/api/auth/api-keys/12345"), "/api/auth/api-keys/{id}");
        assert_eq!(route_of("/"), "/");
        assert_eq!(route_of("/a/b/c/d/e/f/g"), "other");
    }
}
